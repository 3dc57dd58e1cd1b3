"""The audit history as a hash chain, so a rewrite is detected even by someone who got past the triggers.

The database refuses to update or delete audit events, but the role that owns
the tables can switch its triggers off.  Each event therefore carries a
SHA-256 over its own content and the previous event's hash: changing,
removing or reordering any event breaks every link after it, and
`isap audit verify` names the first event that no longer matches.  Rewriting
the whole tail to match is detected against the chain head printed in every
checkpoint assurance report.

The hash is computed as the row is inserted, in the inserting transaction, by
an ORM hook, so no code path can add an unchained event through the model.
Writers are serialised on the chain's head: on PostgreSQL by a transaction
advisory lock taken before the head is read (two writers reading the same head
would fork the chain); SQLite serialises writers already.  An event is never
dated before the one it follows (the database refuses it, migration
0007_audit_anchoring): a machine whose clock is behind records the previous
event's time instead.

A decision's event carries a seal of the decision and its ratings
(`decision_record`), so `verify` also finds a decision or rating changed,
added or removed after it was recorded; a panel member's rating, given before
any decision, carries its own seal (`rating_record`) in the event that recorded
it.  What the chain alone cannot show, a
rewrite with every later hash recomputed, is shown against the signed anchors
of `audit_anchors`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Iterable

from sqlalchemy import event, select, text
from sqlalchemy.engine import Connection, Engine

from isap.review.wording import count
from isap.store.models import AUDIT_CHAIN_GENESIS, AuditEvent, Decision, Rating, decision_record, rating_record

# pg_advisory_xact_lock key: any fixed 64-bit number that no other part of isap uses ("ISAP" + chain)
_PG_LOCK_KEY = 0x49534150_0001
_HEAD = "isap_audit_chain_head"  # the hash of the last event this transaction added, in Connection.info
_BATCH = 5000


def _chain_head(connection: Connection) -> tuple[str, dt.datetime | None]:
    """The hash and time the next event follows; on PostgreSQL the lock on the head is held until commit."""
    head = connection.info.get(_HEAD)
    if head is not None:
        return head
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    last = connection.execute(select(AuditEvent.hash, AuditEvent.at).order_by(AuditEvent.id.desc()).limit(1)).first()
    return (last.hash, _aware(last.at)) if last else (AUDIT_CHAIN_GENESIS, None)


def _aware(at: dt.datetime) -> dt.datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=dt.timezone.utc)


@event.listens_for(AuditEvent, "before_insert")
def _link(_mapper, connection: Connection, target: AuditEvent) -> None:
    prev, prev_at = _chain_head(connection)
    if prev_at is not None and _aware(target.at) < prev_at:
        target.at = prev_at  # this machine's clock is behind the one that recorded the previous event
    target.prev_hash = prev
    target.hash = target.chain_digest(prev)
    connection.info[_HEAD] = (target.hash, _aware(target.at))


def _forget_head(connection: Connection, *_args) -> None:
    # after commit the head is in the table; after a rollback it is whatever the table says again
    connection.info.pop(_HEAD, None)


for _name in ("commit", "rollback", "rollback_savepoint"):
    event.listen(Engine, _name, _forget_head)


@dataclass(frozen=True)
class KnownHead:
    """A head known from outside the database (an anchor, a report): the chain must still hold it."""

    hash: str
    event_id: int | None  # its place, when known (an anchor's); None: anywhere in the chain
    label: str  # how the summary names it: "the anchor of 2026-12-06T02:00:00+00:00 (line 3)"


@dataclass(frozen=True)
class Verification:
    """The outcome of walking the chain: how many events matched, the head, and the first break if any."""

    verified: int
    head: str
    broken_at: int | None = None  # the id of the first event that does not match
    why: str = ""
    problems: tuple[str, ...] = ()  # known heads not held, records that do not match their events
    head_id: int = 0
    known_heads: int = 0  # how many heads from outside were checked

    @property
    def ok(self) -> bool:
        return self.broken_at is None and not self.problems

    def summary(self) -> str:
        if self.broken_at is not None:
            return (f"event {self.broken_at} does not match: {self.why} "
                    f"({count(self.verified, 'event')} before it verified)")
        if self.problems:
            more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
            return f"{self.problems[0]}{more}"
        held = f", holding {count(self.known_heads, 'known head')}" if self.known_heads else ""
        return f"{count(self.verified, 'event')} verified{held}, head {self.head}"


@dataclass
class _Walk:
    count: int = 0
    prev: str = AUDIT_CHAIN_GENESIS
    last_id: int = 0
    by_id: dict[int, str] = field(default_factory=dict)  # the hash at each place a known head names
    ids_of: dict[str, int] = field(default_factory=dict)  # where each known hash is
    records: dict[int, str] = field(default_factory=dict)  # decision id -> the seal its event carries
    rating_records: dict[int, str] = field(default_factory=dict)  # a panel member's rating id -> its event's seal
    odd: list[str] = field(default_factory=list)  # seals that name no decision, or one sealed twice


def verify(connection: Connection, known: Iterable[KnownHead] = ()) -> Verification:
    """Walk the whole chain in id order, in bounded batches; stop at the first event that does not match.

    Then every head in `known` must be in the chain (at its place, when it
    names one), and every decision and rating must match the seal its event
    carries.
    """
    known = list(known)
    wanted_ids = {k.event_id for k in known if k.event_id is not None}
    wanted_hashes = {k.hash for k in known}
    w = _Walk()
    table = AuditEvent.__table__
    first = True  # the first batch from the lowest id, whatever it is (an id below 1 was not given by isap)
    while True:
        q = select(table) if first else select(table).where(table.c.id > w.last_id)
        rows = connection.execute(q.order_by(table.c.id).limit(_BATCH)).all()
        first = False
        if not rows:
            break
        for row in rows:
            e = AuditEvent(**row._mapping)
            if not e.hash:
                return Verification(w.count, w.prev, e.id, "it has no hash (it was not added through isap)")
            if e.prev_hash != w.prev:
                return Verification(w.count, w.prev, e.id,
                                    "its link to the previous event is wrong (an event before it was removed, "
                                    "added or rewritten)")
            if e.chain_digest(w.prev) != e.hash:
                return Verification(w.count, w.prev, e.id, "its content was changed after it was recorded")
            if e.id in wanted_ids:
                w.by_id[e.id] = e.hash
            if e.hash in wanted_hashes:
                w.ids_of[e.hash] = e.id
            if e.record is not None:
                kind, _, rest = e.record.partition(":")
                number = rest.partition(":")[0]
                sealed = {"decision": w.records, "rating": w.rating_records}.get(kind)
                if sealed is None or not number.isdigit() or int(number) in sealed:
                    w.odd.append(f"event {e.id} carries a seal isap did not write")
                else:
                    sealed[int(number)] = e.record
            w.prev = e.hash
            w.count += 1
            w.last_id = e.id
    problems = [*_unheld(known, w), *w.odd, *_unsealed(connection, w.records, w.rating_records)]
    return Verification(w.count, w.prev, problems=tuple(problems), head_id=w.last_id, known_heads=len(known))


def _unheld(known: list[KnownHead], w: _Walk) -> list[str]:
    out = []
    for k in known:
        if k.event_id is None:
            if k.hash not in w.ids_of:
                out.append(f"{k.label}, head {k.hash}, is not in the history: events up to it were changed or "
                           "removed")
        elif k.event_id > w.last_id:
            out.append(f"{k.label} names event {k.event_id} but the history ends at event {w.last_id}: "
                       "events were removed")
        elif w.by_id.get(k.event_id) != k.hash:
            out.append(f"{k.label}: event {k.event_id} no longer has the anchored hash {k.hash}: it or an event "
                       "before it was changed, removed or inserted, and the chain recomputed")
    return out


def _unsealed(connection: Connection, records: dict[int, str], rating_records: dict[int, str]) -> list[str]:
    """Decisions and ratings that do not match the seal their decision's event carries, and panel members'
    ratings that do not match the seal of their own event."""
    out = []
    own_seals = []  # listed after the decisions' problems, which say more
    ratings: dict[int, list[Rating]] = {}
    for row in connection.execute(select(Rating.__table__).order_by(Rating.__table__.c.id)):
        r = Rating(**row._mapping)
        ratings.setdefault(row.review_id, []).append(r)
        own = rating_records.pop(r.id, None)
        if own is not None and rating_record(r) != own:
            own_seals.append(f"rating {r.id} was changed after it was recorded")
    own_seals += [f"rating {i} was removed after it was recorded" for i in sorted(rating_records)]
    decided_reviews = set()
    for row in connection.execute(select(Decision.__table__).order_by(Decision.__table__.c.id)):
        d = Decision(**row._mapping)
        decided_reviews.add(d.review_id)
        sealed = records.pop(d.id, None)
        if sealed is None:
            out.append(f"decision {d.id} has no event that recorded it: it was added outside isap")
        elif decision_record(d, ratings.get(d.review_id, [])) != sealed:
            out.append(f"decision {d.id} or its ratings were changed after they were recorded")
    out += [f"decision {i} was removed after it was recorded" for i in sorted(records)]
    out += [f"rating {r.id} belongs to no recorded decision" for review_id, rs in ratings.items()
            if review_id not in decided_reviews for r in rs if r.rated_by is None]
    return out + own_seals


def head(connection: Connection) -> tuple[int, str]:
    """The id and hash of the last event recorded (what a report prints), without walking the chain."""
    last = connection.execute(select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)).first()
    return (last.id, last.hash) if last else (0, AUDIT_CHAIN_GENESIS)

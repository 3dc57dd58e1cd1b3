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
would fork the chain); SQLite serialises writers already.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import event, select, text
from sqlalchemy.engine import Connection, Engine

from isap.store.models import AUDIT_CHAIN_GENESIS, AuditEvent

# pg_advisory_xact_lock key: any fixed 64-bit number that no other part of isap uses ("ISAP" + chain)
_PG_LOCK_KEY = 0x49534150_0001
_HEAD = "isap_audit_chain_head"  # the hash of the last event this transaction added, in Connection.info
_BATCH = 5000


def _chain_head(connection: Connection) -> str:
    """The hash the next event links to; on PostgreSQL the lock on the head is held until commit."""
    head = connection.info.get(_HEAD)
    if head is not None:
        return head
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    last = connection.execute(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)).scalar()
    return last or AUDIT_CHAIN_GENESIS


@event.listens_for(AuditEvent, "before_insert")
def _link(_mapper, connection: Connection, target: AuditEvent) -> None:
    prev = _chain_head(connection)
    target.prev_hash = prev
    target.hash = target.chain_digest(prev)
    connection.info[_HEAD] = target.hash


def _forget_head(connection: Connection, *_args) -> None:
    # after commit the head is in the table; after a rollback it is whatever the table says again
    connection.info.pop(_HEAD, None)


for _name in ("commit", "rollback", "rollback_savepoint"):
    event.listen(Engine, _name, _forget_head)


@dataclass(frozen=True)
class Verification:
    """The outcome of walking the chain: how many events matched, the head, and the first break if any."""

    verified: int
    head: str
    broken_at: int | None = None  # the id of the first event that does not match
    why: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_at is None

    def summary(self) -> str:
        if self.ok:
            return f"{self.verified} events verified, head {self.head}"
        return f"event {self.broken_at} does not match: {self.why} ({self.verified} events before it verified)"


def verify(connection: Connection) -> Verification:
    """Walk the whole chain in id order, in bounded batches; stop at the first event that does not match."""
    prev = AUDIT_CHAIN_GENESIS
    count = 0
    last_id = 0
    while True:
        table = AuditEvent.__table__
        rows = connection.execute(select(table).where(table.c.id > last_id).order_by(table.c.id)
                                  .limit(_BATCH)).all()
        if not rows:
            return Verification(count, prev)
        for row in rows:
            e = AuditEvent(**row._mapping)
            if not e.hash:
                return Verification(count, prev, e.id, "it has no hash (it was not added through isap)")
            if e.prev_hash != prev:
                return Verification(count, prev, e.id,
                                    "its link to the previous event is wrong (an event before it was removed, "
                                    "added or rewritten)")
            if e.chain_digest(prev) != e.hash:
                return Verification(count, prev, e.id, "its content was changed after it was recorded")
            prev = e.hash
            count += 1
            last_id = e.id


def head(connection: Connection) -> str:
    """The hash of the last event recorded (what a report prints), without walking the chain."""
    return connection.execute(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)).scalar() \
        or AUDIT_CHAIN_GENESIS

"""The unit of work every command and query of the review runs in: the seam between the service and the store.

One transaction per call (`_run`): it either happens whole or changes nothing, and database
failures become a clear StoreError.  Here too are the guards every command applies before it
changes anything: who the actor is, whether they may see the proposal, and whether the state
machine (`lifecycle`) allows the action; the concurrency check (`_bump`); and the audit history
and the outbox every change appends to, in the same transaction.

The questions the state machine's commands ask of the store are methods here (`_user`,
`_proposal`, `_facts`, `_latest`, `_open_review`, …), not queries written in the commands, so a
unit of work that keeps its rows in memory can stand in for this one (`tests/fake_unit_of_work.py`)
and those commands run without a database; a new command asks its questions the same way.
What the service's callers see (errors, inputs and results, words) lives in `errors`, `types`
and `wording`, which import no database.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Callable, Iterable

from sqlalchemy import false, func, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session, select

from isap.policy import Policy
from isap.review import lifecycle, notices
from isap.review.errors import Conflict, Forbidden, NotFound, Refused, WorkflowError
from isap.review.events import AuditKind, NotificationKind, NotificationStatus
from isap.review.lifecycle import (
    Action,
    Actor,
    ConditionStatus,
    Item,
    ProposalFacts,
    QueryStatus,
    QueryStep,
    Role,
    State,
    WaiverStatus,
)
from isap.review.records import finding_fingerprint
from isap.review.types import NAME_SEPARATOR, proposal_name
from isap.review.wording import person_words, readable_size
from isap.store.db import check_schema, get_engine, store_error
from isap.store.models import (
    Acknowledgement,
    AuditEvent,
    Condition,
    Declaration,
    EvidenceDocument,
    FindingRecord,
    Notification,
    Organisation,
    PlannedSubmission,
    Proposal,
    ProposedDecision,
    Query,
    QueryMessage,
    Rating,
    Review,
    SubmissionVersion,
    UnassignedUpload,
    User,
    Waiver,
    utcnow,
)
from isap.store.originals import Originals, configured_originals
from isap.text import has_controls

DEFAULT_BASE_URL = "http://localhost:8501"  # the dashboard on this machine, when no address is set


class UnitOfWork:
    def __init__(self, engine: Engine | None = None, files: Originals | None = None, policy: Policy | None = None,
                 check_schema_version: bool = True, base_url: str | None = None):
        self.engine = engine or get_engine()
        # the originals: in this database unless the installation chose another store (ISAP_ORIGINALS)
        self.files = files if files is not None else configured_originals(self.engine)
        self.policy = policy or Policy()
        # where people open a proposal (the dashboard's address), for the links in notifications
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        # what "now" is for everything recorded; demonstration data sets it to build a history over weeks
        self.clock: Callable[[], dt.datetime] = utcnow
        if check_schema_version:
            check_schema(self.engine)

    # ------------------------------------------------------------------ plumbing
    def _session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def _run(self, fn, *args, **kwargs):
        """One transaction; database failures become a clear StoreError."""
        try:
            with self._session() as s:
                with s.begin():
                    return fn(s, *args, **kwargs)
        except WorkflowError:
            raise
        except IntegrityError:
            raise Conflict("this was changed by someone else at the same moment; reload and try again") from None
        except SQLAlchemyError as exc:
            # StoreBusy when the driver's error code says a retry may succeed (busy, deadlock, lost connection)
            raise store_error(exc) from None

    def checking_owner(self, actor: str) -> str | tuple[str, str]:
        """Who takes turns for the checking children when `actor` (already authenticated) sends a file:
        (organisation code, user name) where the account has an organisation, so that one organisation's
        users share one share of the children (docs/decisions/0058-a-reserve-checking-child.md); else the
        user name.  Read from the account, never from what the sender says."""
        def run(s: Session) -> str | tuple[str, str]:
            code = s.exec(select(Organisation.code).join(User, User.organisation_id == Organisation.id)
                          .where(User.username == actor)).first()
            return (code, actor) if code else actor
        return self._run(run)

    @classmethod
    def _user(cls, s: Session, username: str) -> User:
        """The account of someone acting: a disabled account acts no more, through any entry point (the
        command line's `--as` included), as its sessions and tokens end."""
        user = cls._account(s, username)
        if user.disabled_at is not None:
            raise Forbidden(f"{username}'s account is disabled")
        return user

    @staticmethod
    def _account(s: Session, username: str) -> User:
        """An account, disabled or not: the one an administrator acts on."""
        # no account's name has a control character, and PostgreSQL cannot even compare text holding a NUL
        user = None if has_controls(username) else s.exec(select(User).where(User.username == username)).first()
        if user is None:
            raise NotFound(f"unknown user {username!r}")
        return user

    @staticmethod
    def _role(user: User, *roles: Role) -> None:
        if user.role not in roles:
            raise Forbidden(f"{user.username} is a {user.role}; this needs a {' or '.join(roles)}")

    @staticmethod
    def _actor(user: User, p: Proposal | None = None) -> Actor:
        owns = (user.role == Role.COMMISSIONER and p is not None and user.organisation_id == p.organisation_id)
        body = lifecycle.Body(user.body) if user.body in lifecycle.Body._value2member_map_ else None
        return Actor(user.username, Role(user.role), owns, body)

    @staticmethod
    def _open_review(s: Session, p: Proposal) -> Review | None:
        """The review of the proposal's current checkpoint that has no decision yet, while it is in review."""
        if p.state != State.IN_REVIEW:
            return None
        return s.exec(select(Review).where(Review.proposal_id == p.id, Review.decided_at.is_(None))
                      .order_by(Review.id.desc())).first()

    @staticmethod
    def _pending(s: Session, review: Review | None) -> ProposedDecision | None:
        """The decision proposed in `review` that waits for countersignature, if one does."""
        if review is None:
            return None
        return s.exec(select(ProposedDecision).where(ProposedDecision.review_id == review.id,
                                                     ProposedDecision.closed_as.is_(None))
                      .order_by(ProposedDecision.id.desc())).first()

    @staticmethod
    def _current_ratings(s: Session, review: Review) -> dict[str, Rating]:
        """The rating that counts for each domain of a review: the last one given."""
        out: dict[str, Rating] = {}
        for r in s.exec(select(Rating).where(Rating.review_id == review.id).order_by(Rating.id)):
            out[r.domain] = r
        return out

    @staticmethod
    def _ratings(s: Session, review: Review) -> list[Rating]:
        """Every rating given in a review, superseded ones too, in the order they were given."""
        return list(s.exec(select(Rating).where(Rating.review_id == review.id).order_by(Rating.id)))

    @staticmethod
    def _declarations(s: Session, p: Proposal) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
        """Who has declared no conflict of interest in `p`, who has declared one (a conflict stands), and who has
        declared no conflict at its current checkpoint."""
        declared: set[str] = set()
        conflicted: set[str] = set()
        here: set[str] = set()
        for username, conflict, checkpoint in s.exec(
                select(User.username, Declaration.conflict, Declaration.checkpoint)
                .join(User, User.id == Declaration.user_id)
                .where(Declaration.proposal_id == p.id).order_by(Declaration.id)):
            (conflicted if conflict else declared).add(username)
            if not conflict and checkpoint == p.checkpoint:
                here.add(username)
        return frozenset(declared - conflicted), frozenset(conflicted), frozenset(here - conflicted)

    def _facts(self, s: Session, p: Proposal) -> ProposalFacts:
        """What the state machine's guards need to know about `p`, read in the caller's transaction."""
        latest = self._latest(s, p)
        unanswered = 0
        if latest is not None and latest.warnings:
            unanswered = s.exec(select(func.count(FindingRecord.id)).where(
                FindingRecord.version_id == latest.id, FindingRecord.severity == "warning",
                ~FindingRecord.id.in_(select(Acknowledgement.finding_id)))).one()
        # conditions are numbered within their proposal (1, 2, …), in the order they were set
        open_conditions = [(n, cp) for n, (status, cp) in enumerate(s.exec(
            select(Condition.status, Condition.checkpoint).where(Condition.proposal_id == p.id)
            .order_by(Condition.id)), start=1) if status == ConditionStatus.OPEN]
        plans_to_agree = self._plans_to_agree(s, p)
        # queries and waivers are numbered within their proposal too
        queries = list(enumerate(s.exec(select(Query.status).where(Query.proposal_id == p.id).order_by(Query.id)),
                                 start=1))
        review = self._open_review(s, p)
        pending = self._pending(s, review)
        lead = s.get(User, review.reviewer_id) if review is not None else None
        proposer = s.get(User, pending.proposed_by) if pending is not None else None
        declared, conflicted, declared_here = self._declarations(s, p)
        return ProposalFacts(
            reference=p.reference, state=State(p.state), checkpoint=p.checkpoint,
            latest_version=latest.number if latest else None, latest_checkpoint=latest.checkpoint if latest else None,
            latest_errors=latest.errors if latest else 0, latest_warnings=latest.warnings if latest else 0,
            unanswered_warnings=unanswered, open_conditions=tuple(c for c, _ in open_conditions),
            open_earlier_conditions=tuple(c for c, cp in open_conditions if cp < p.checkpoint),
            plans_to_agree=plans_to_agree,
            queries_awaiting_answer=tuple(n for n, st in queries if st == QueryStatus.AWAITING_ANSWER),
            queries_answered=tuple(n for n, st in queries if st == QueryStatus.ANSWERED),
            **self._waiver_facts(s, p, latest),
            lead=lead.username if lead else None, proposed_by=proposer.username if proposer else None,
            lead_name=person_words(lead) if lead else None, proposer_name=person_words(proposer) if proposer else None,
            proposer_body=self._actor(proposer).body if proposer else None,
            other_body_needed=p.checkpoint in self.policy.countersign_other_body,
            declared=declared, conflicted=conflicted, declared_here=declared_here,
            **self._evidence_facts(s, p, latest))

    def _evidence_facts(self, s: Session, p: Proposal, latest: SubmissionVersion | None) -> dict[str, tuple]:
        """The submit guard's evidence facts (docs/workflow.md, "Evidence"): none before the policy's
        `evidence_guard_from_checkpoint`."""
        import json

        from isap.review.evidence_references import unnamed

        if p.checkpoint < self.policy.evidence_guard_from_checkpoint:
            return {}
        e = EvidenceDocument
        documents = list(s.exec(select(e.reference_key, e.kind, e.checkpoint).where(e.proposal_id == p.id)))
        references = json.loads(latest.evidence_references or "[]") if latest is not None else []
        here = {kind for _, kind, cp in documents if cp == p.checkpoint}
        return {"unnamed_evidence": unnamed(references, [key for key, _, _ in documents]),
                "missing_evidence": tuple(k for k in self.policy.required_evidence(p.checkpoint) if k not in here)}

    def _waiver_facts(self, s: Session, p: Proposal, latest: SubmissionVersion | None) -> dict[str, Any]:
        """The waiver guards' facts: the errors of the latest version waived, still waivable and awaiting a ruling,
        and the requests waiting for one, by waiver number."""
        asked = self._waivers(s, p)
        numbered = {w.id: n for n, w in enumerate(asked, start=1)}
        requested = tuple(n for n, w in enumerate(asked, start=1) if w.status == WaiverStatus.REQUESTED)
        waived = waivable = 0
        awaiting: set[int] = set()  # the requests that name an error of the latest version
        if latest is not None and latest.errors:
            waivers = self._waivers_at(s, p, p.checkpoint)
            for f in self._errors(s, latest):
                w = waivers.get(finding_fingerprint(f))
                waived += w is not None and w.status == WaiverStatus.GRANTED
                waivable += w is None and f.rule_id not in lifecycle.NEVER_WAIVED
                if w is not None and w.status == WaiverStatus.REQUESTED:
                    awaiting.add(numbered[w.id])
        return {"waived_errors": waived, "waivable_errors": waivable, "requested_waivers": requested,
                "errors_awaiting_waiver": tuple(sorted(awaiting))}

    @staticmethod
    def _plans_to_agree(s: Session, p: Proposal) -> tuple[int, ...]:
        """The checkpoints whose planned date waits for a reviewer's agreement (proposed, or changed since)."""
        return tuple(s.exec(select(PlannedSubmission.checkpoint).where(
            PlannedSubmission.proposal_id == p.id,
            PlannedSubmission.agreed_date.is_(None)
            | (PlannedSubmission.agreed_date != PlannedSubmission.planned_date))
            .order_by(PlannedSubmission.checkpoint)))

    @staticmethod
    def _plan(s: Session, p: Proposal, checkpoint: int) -> PlannedSubmission | None:
        """The date planned for one checkpoint's submission, if one was."""
        return s.exec(select(PlannedSubmission).where(PlannedSubmission.proposal_id == p.id,
                                                      PlannedSubmission.checkpoint == checkpoint)).first()

    @staticmethod
    def _compare_and_set_plan(s: Session, row: PlannedSubmission, **values: Any) -> None:
        """Change a plan only if nobody changed it since it was read."""
        res = s.execute(update(PlannedSubmission).where(
            PlannedSubmission.id == row.id, PlannedSubmission.planned_date == row.planned_date,
            (PlannedSubmission.agreed_date.is_(None) if row.agreed_date is None
             else PlannedSubmission.agreed_date == row.agreed_date)).values(**values))
        if res.rowcount != 1:
            raise Conflict("this planned date was changed by someone else since you loaded it; reload and try again")
        for k, v in values.items():
            setattr(row, k, v)

    @staticmethod
    def _waivers(s: Session, p: Proposal) -> list[Waiver]:
        """The proposal's waiver requests, numbered 1, 2, … in the order they were asked for."""
        return list(s.exec(select(Waiver).where(Waiver.proposal_id == p.id).order_by(Waiver.id)))

    @staticmethod
    def _errors(s: Session, version: SubmissionVersion) -> list[FindingRecord]:
        return list(s.exec(select(FindingRecord).where(FindingRecord.version_id == version.id,
                                                       FindingRecord.severity == "error")))

    @staticmethod
    def _waivers_at(s: Session, p: Proposal, checkpoint: int | None) -> dict[str, Waiver]:
        """The waivers that stand at `checkpoint`, by fingerprint: a granted one before one still asked for
        (a refused waiver stands for nothing, and the finding may be asked about again)."""
        out: dict[str, Waiver] = {}
        for w in s.exec(select(Waiver).where(Waiver.proposal_id == p.id, Waiver.checkpoint == checkpoint,
                                             Waiver.status != WaiverStatus.REFUSED).order_by(Waiver.id)):
            if w.fingerprint not in out or w.status == WaiverStatus.GRANTED:
                out[w.fingerprint] = w
        return out

    def _commissioner_wait(self, s: Session, p: Proposal, today: dt.date) -> int:
        """Working days of the current wait for a decision in which every open query waited for the
        commissioner: counted apart from the review target (docs/workflow.md, "Queries and waivers")."""
        from isap.policy import working_days

        if p.state != State.IN_REVIEW:
            return 0
        messages = list(s.exec(select(QueryMessage.query_id, QueryMessage.at, QueryMessage.step)
                               .join(Query, Query.id == QueryMessage.query_id)
                               .where(Query.proposal_id == p.id).order_by(QueryMessage.id)))
        if not messages:
            return 0
        end = dt.datetime.combine(today, dt.time(), dt.timezone.utc)
        spans = lifecycle.waiting_on_commissioner([(q, _utc(at), QueryStep(step)) for q, at, step in messages],
                                                  _utc(p.state_since), max(end, _utc(p.state_since)))
        if not spans:
            return 0
        calendar = self.policy.working_days_calendar
        return int(working_days.count([a.date() for a, _ in spans], [b.date() for _, b in spans], calendar).sum())

    def _guard(self, s: Session, action: Action, user: User, p: Proposal, item: Item | None = None) -> ProposalFacts:
        """Refuse `action` unless the state machine allows it now; the facts it was decided on otherwise."""
        facts = self._facts(s, p)
        refused = lifecycle.refusal(action, facts, self._actor(user, p), item)
        if refused is not None:
            raise (Forbidden if refused.forbidden else Refused)(refused.reason)
        return facts

    def _may_ever(self, action: Action, user: User) -> None:
        """Refuse a role that may never do `action` (before there is a proposal to ask about)."""
        refused = lifecycle.role_refusal(action, self._actor(user))
        if refused is not None:
            raise Forbidden(refused.reason)

    def _proposal(self, s: Session, user: User, name: str) -> Proposal:
        """The proposal `name` names, among those `user` may see
        (docs/decisions/0022-proposal-names.md).

        A name is a reference (`ISAP-2026-014`), a reference with its lead commissioner's code
        (`QUA/ISAP-2026-014`), or a proposal's number (`#12`).  A commissioner's names are read within
        their own organisation, so another organisation's proposal with the same reference is never found,
        and never mentioned; a reviewer whose reference names proposals of several organisations is asked
        to say which.
        """
        name = (name or "").strip() if isinstance(name, str) else ""
        if has_controls(name):  # no proposal is named so, and PostgreSQL cannot compare text holding a NUL
            raise NotFound(f"no proposal {name!r} that you can see")
        q = (select(Proposal, Organisation.code)
             .join(Organisation, Organisation.id == Proposal.organisation_id))
        number = name[1:] if name.startswith("#") else ""
        if number.isascii() and number.isdigit() and len(number) < 18:
            q = q.where(Proposal.id == int(number))
        elif NAME_SEPARATOR in name:
            code, _, reference = name.partition(NAME_SEPARATOR)
            q = q.where(Organisation.code == code.strip(), Proposal.reference == reference.strip())
        else:
            q = q.where(Proposal.reference == name)
        if user.role == Role.COMMISSIONER:
            q = q.where(Proposal.organisation_id == user.organisation_id)
        elif user.role not in (Role.REVIEWER, Role.ADMIN, Role.SYSTEM):
            q = q.where(false())
        found = list(s.exec(q.order_by(Organisation.code).limit(10)))
        if not found:
            # the same answer whether it does not exist or is another organisation's
            raise NotFound(f"no proposal {name} that you can see")
        if len(found) > 1:
            names = " or ".join(proposal_name(code, p.reference) for p, code in found)
            raise NotFound(f"{name} is the reference of proposals of {len(found)} organisations: name one with its "
                           f"lead commissioner's code, as {names}")
        return found[0][0]

    @staticmethod
    def _shared_references(s: Session, user: User) -> set[str]:
        """The references `user` sees under more than one organisation: only these need the code to name them.
        A commissioner sees one organisation's, so none of theirs is ever shared."""
        if user.role == Role.COMMISSIONER:
            return set()
        q = (select(Proposal.reference).group_by(Proposal.reference)
             .having(func.count(func.distinct(Proposal.organisation_id)) > 1))
        return set(s.exec(q))

    @staticmethod
    def _code(s: Session, p: Proposal) -> str:
        org = s.get(Organisation, p.organisation_id)
        return org.code if org else ""

    @staticmethod
    def _may_see(user: User, p: Proposal) -> bool:
        if user.role in (Role.REVIEWER, Role.ADMIN, Role.SYSTEM):
            return True
        return user.role == Role.COMMISSIONER and user.organisation_id == p.organisation_id

    def _audit(self, s: Session, p: Proposal | None, action: AuditKind, actor: str, from_state: str | None = None,
               to_state: str | None = None, reason: str | None = None, checkpoint: int | None = None,
               record: str | None = None) -> None:
        """Append to the history; `checkpoint` is the one the event belongs to (default: the proposal's now);
        `record` the seal of a record the event made (`decision_record`)."""
        if checkpoint is None and p is not None:
            checkpoint = p.checkpoint
        s.add(AuditEvent(proposal_id=p.id if p else None, action=action, actor=actor, from_state=from_state,
                         to_state=to_state, checkpoint=checkpoint, reason=reason, at=self.clock(), record=record))

    # ------------------------------------------------------------------ the outbox
    def _notify(self, s: Session, kind: NotificationKind, key: str, recipients: Iterable[str | None],
                notice: notices.Notice, p: Proposal | None = None, checkpoint: int | None = None,
                attachment: str | None = None, contact: str | None = None) -> bool:
        """Queue one message in the caller's transaction, so it exists exactly when the event does.

        `key` names the event: a second message for the same event is not queued
        (False).  `contact` says which of the recipients is the proposal's contact,
        an address that came from a workbook: it is sent the message only where
        the policy sends mail (`mail_domains`).  A message with nobody to send it
        to is kept, as failed with the reason, so administrators see who was not told.
        """
        if self._already_queued(s, key):
            return False
        import uuid

        to, refused = self._recipients(recipients, contact)
        row = Notification(key=key, kind=kind, proposal_reference=p.reference if p else None,
                           proposal_id=p.id if p else None, checkpoint=checkpoint,
                           recipients="\n".join(to), subject=notices._line(notice.subject, 250), body=notice.body,
                           attachment=attachment, message_id=f"<{uuid.uuid4().hex}@isap>")
        if not to:
            row.status = NotificationStatus.FAILED
            row.last_error = ("nobody to send it to: " + ("; ".join(refused) if refused else
                                                          "no e-mail address is recorded for them"))[:2000]
        s.add(row)
        return True

    @staticmethod
    def _already_queued(s: Session, key: str) -> bool:
        """Whether a message for the event `key` names is already in the outbox."""
        return s.exec(select(Notification.id).where(Notification.key == key)).first() is not None

    def _recipients(self, recipients: Iterable[str | None], contact: str | None = None) -> tuple[list[str], list[str]]:
        """The addresses a message goes to, in order, each once and in its normal form (`contact`, one of
        `recipients`, only where the policy sends it mail), and, in words, each address it does not go to and why."""
        from isap.policy.addresses import AddressRefused, mail_address
        from isap.workbook.values import quote

        to: list[str] = []
        refused: list[str] = []
        for a in recipients:
            if not a:
                continue
            if contact is not None and a == contact:
                refusal = self.policy.mail_refusal(a)
                if refusal is not None:
                    refused.append(f"the contact {quote(a)}: {refusal}")
                    continue
            try:
                address = mail_address(a)
            except AddressRefused as exc:
                refused.append(f"{quote(a)} is not a plain e-mail address ({exc})")
                continue
            if address.casefold() not in {t.casefold() for t in to}:
                to.append(address)
        return to, refused

    def _link(self, p: Proposal) -> str:
        """The link in a message to the proposal's own organisation: its reference names it there."""
        return notices.link(self.base_url, p.reference)

    def _reviewers_link(self, s: Session, p: Proposal) -> str:
        """The link in a message to reviewers, who see every organisation's proposals: with the lead
        commissioner's code when another organisation has a proposal with the same reference."""
        shared = s.exec(select(Proposal.id).where(Proposal.reference == p.reference,
                                                  Proposal.id != p.id)).first() is not None
        return notices.link(self.base_url, proposal_name(self._code(s, p), p.reference) if shared else p.reference)

    @staticmethod
    def _mailable(users: Iterable[User | None]) -> list[str]:
        """The addresses of `users` that get mail about proposals: a disabled account gets none."""
        return [u.email for u in users if u is not None and u.email and u.disabled_at is None]

    @staticmethod
    def _reviewer_addresses(s: Session) -> list[str]:
        return UnitOfWork._mailable(s.exec(select(User).where(User.role.in_(tuple(lifecycle.REVIEWERS)))
                                           .order_by(User.id)))

    @staticmethod
    def _other_reviewer_addresses(s: Session, user: User) -> list[str]:
        """The addresses of every reviewer but `user`: who may countersign what `user` proposes."""
        return UnitOfWork._mailable(s.exec(select(User).where(User.role.in_(tuple(lifecycle.REVIEWERS)),
                                                              User.id != user.id).order_by(User.id)))

    @staticmethod
    def _commissioner_addresses(s: Session, p: Proposal) -> list[str]:
        return UnitOfWork._mailable(s.exec(select(User).where(User.organisation_id == p.organisation_id,
                                                              User.role == Role.COMMISSIONER).order_by(User.id)))

    def _bump(self, s: Session, p: Proposal, expected_version: int | None, **changes: Any) -> None:
        """Apply changes only if nobody else changed the proposal since it was loaded."""
        seen = p.version if expected_version is None else expected_version
        now = self.clock()
        values = {"version": seen + 1, "updated_at": now, **changes}
        if "state" in changes and changes["state"] != p.state:
            values["state_since"] = now
        res = s.execute(update(Proposal).where(Proposal.id == p.id, Proposal.version == seen).values(**values))
        if res.rowcount != 1:
            raise Conflict(f"{p.reference} was changed by someone else since you loaded it; reload and try again")
        for k, v in values.items():
            setattr(p, k, v)

    def _transition(self, s: Session, p: Proposal, actor: User, action: AuditKind, to_state: State,
                    expected_version: int | None, reason: str | None = None, **changes: Any) -> None:
        from_state = p.state
        self._bump(s, p, expected_version, state=to_state, **changes)
        self._audit(s, p, action, actor.username, from_state, to_state, reason)

    # ------------------------------------------------------------------ storage quotas
    def _within_storage_quotas(self, s: Session, org: Organisation | None, size: int, p: Proposal | None = None,
                               files: int = 1, document: bool = False) -> None:
        """Refuse keeping `size` more bytes past the proposal's or the organisation's storage quota (policy).

        Versions, evidence documents and kept uploads are never removed by isap, so without a
        bound one proposal could fill the disk with 20 MB versions or 25 MB documents.  What is
        counted is what the store records (`size`), whether or not identical bytes share a file.
        `document` says the bytes are an evidence document, so the refusal names what was refused.
        """
        what = "this document" if document else "this upload" if files == 1 else f"these {files} uploads"
        if p is not None:
            count, used, documents, document_bytes = self._proposal_bytes(s, p)
            used, most = int(used) + int(document_bytes), self.policy.max_proposal_bytes
            if used + size > most:
                kept = f"{count} version(s)" + (f" and {documents} evidence document(s)" if documents else "")
                raise Refused(f"{p.reference} already keeps {kept} ({readable_size(used)}); {what} of "
                              f"{readable_size(size)} would pass the proposal's storage quota of "
                              f"{readable_size(most)} (policy max_proposal_bytes), so it was not kept. "
                              "Ask an administrator to raise the quota")
        if org is not None:
            used = self._organisation_bytes(s, org.id)
            most = self.policy.max_organisation_bytes
            if used + size > most:
                raise Refused(f"{org.name} ({org.code}) already keeps {readable_size(used)}; {what} of "
                              f"{readable_size(size)} would pass the organisation's storage quota of "
                              f"{readable_size(most)} (policy max_organisation_bytes), so nothing was kept. "
                              "Ask an administrator to raise the quota")

    @staticmethod
    def _proposal_bytes(s: Session, p: Proposal) -> tuple[int, int, int, int]:
        """What one proposal keeps: its versions and their bytes, its evidence documents and theirs."""
        versions, version_bytes = s.exec(select(func.count(SubmissionVersion.id),
                                                func.coalesce(func.sum(SubmissionVersion.size), 0))
                                         .where(SubmissionVersion.proposal_id == p.id)).one()
        documents, document_bytes = s.exec(select(func.count(EvidenceDocument.id),
                                                  func.coalesce(func.sum(EvidenceDocument.size), 0))
                                           .where(EvidenceDocument.proposal_id == p.id)).one()
        return versions, version_bytes, documents, document_bytes

    @staticmethod
    def _unassigned_kept(s: Session, user: User) -> tuple[int, int]:
        """How many uploads, and how many bytes, `user`'s organisation keeps unassigned (administrators without
        one share a count)."""
        q = (select(func.count(UnassignedUpload.id), func.coalesce(func.sum(UnassignedUpload.size), 0))
             .join(User, User.id == UnassignedUpload.uploaded_by))
        q = q.where(User.organisation_id == user.organisation_id if user.organisation_id is not None
                    else User.organisation_id.is_(None))
        return s.exec(q).one()

    @staticmethod
    def _organisation_bytes(s: Session, org_id: int) -> int:
        """What one organisation keeps: the versions and evidence documents of its proposals and the uploads its
        people left unassigned."""
        versions = s.exec(select(func.coalesce(func.sum(SubmissionVersion.size), 0))
                          .join(Proposal, Proposal.id == SubmissionVersion.proposal_id)
                          .where(Proposal.organisation_id == org_id)).one()
        documents = s.exec(select(func.coalesce(func.sum(EvidenceDocument.size), 0))
                           .join(Proposal, Proposal.id == EvidenceDocument.proposal_id)
                           .where(Proposal.organisation_id == org_id)).one()
        unassigned = s.exec(select(func.coalesce(func.sum(UnassignedUpload.size), 0))
                            .join(User, User.id == UnassignedUpload.uploaded_by)
                            .where(User.organisation_id == org_id)).one()
        return int(versions) + int(documents) + int(unassigned)

    @staticmethod
    def _warnings(s: Session, version: SubmissionVersion, rule_id: str) -> list[FindingRecord]:
        """The warnings of rule `rule_id` in `version`, in the order they were found."""
        return list(s.exec(select(FindingRecord).where(FindingRecord.version_id == version.id,
                                                       FindingRecord.rule_id == rule_id,
                                                       FindingRecord.severity == "warning").order_by(FindingRecord.id)))

    @staticmethod
    def _acknowledged(s: Session, finding: FindingRecord) -> bool:
        """Whether a warning has its explanatory note."""
        return s.exec(select(Acknowledgement.id).where(Acknowledgement.finding_id == finding.id)).first() is not None

    @staticmethod
    def _organisation_coded(s: Session, code: str | None) -> Organisation | None:
        return s.exec(select(Organisation).where(Organisation.code == code)).first()

    @staticmethod
    def _proposal_of(s: Session, org: Organisation, reference: str) -> Proposal | None:
        """The organisation's proposal with this reference (a reference is unique only within one organisation)."""
        return s.exec(select(Proposal).where(Proposal.organisation_id == org.id,
                                             Proposal.reference == reference)).first()

    @staticmethod
    def _version_with(s: Session, p: Proposal, sha256: str) -> SubmissionVersion | None:
        """The proposal's version with exactly these bytes, if it has one."""
        return s.exec(select(SubmissionVersion).where(SubmissionVersion.proposal_id == p.id,
                                                      SubmissionVersion.sha256 == sha256)).first()

    @staticmethod
    def _last_version_number(s: Session, p: Proposal) -> int:
        """The number of the proposal's latest version; 0 before its first."""
        return s.exec(select(func.max(SubmissionVersion.number))
                      .where(SubmissionVersion.proposal_id == p.id)).one() or 0

    @staticmethod
    def _latest(s: Session, p: Proposal) -> SubmissionVersion | None:
        return s.exec(select(SubmissionVersion).where(SubmissionVersion.proposal_id == p.id)
                      .order_by(SubmissionVersion.number.desc())).first()


def _utc(at: dt.datetime) -> dt.datetime:
    """A stored time as an aware UTC time (SQLite gives naive UTC back, PostgreSQL aware)."""
    return at if at.tzinfo is not None else at.replace(tzinfo=dt.timezone.utc)



"""The review's commands over rows kept in memory: the state machine's commands run in milliseconds, no database.

The service reads and writes through its unit of work (`isap.review.unit_of_work.UnitOfWork`): the session a
command is handed adds, gets and flushes rows, and every other question those commands ask of the store is a
method of the unit of work (`_user`, `_proposal`, `_facts`, `_latest`, `_open_review`, `_bump`, …).
`FakeUnitOfWork` answers those methods from lists of rows, and `FakeService` puts it under the real
commands, so a test of a command's behaviour (who may do what, the audit trail, the outbox, optimistic
concurrency) runs the command's own code without a database.

What it covers: uploads with the checker's report given (`checked`: a new proposal, a new version, the
same bytes again, the storage quotas); the proposal's journey through submit, withdraw, take, return,
declare, comment, rate, propose, countersign and send back; acknowledging warnings; the panel's queries
(raise, answer without documents, follow up, resolve); waivers (request, grant, refuse); and planned
submission dates (plan, change, agree).  Evidence documents and uploads kept unassigned are not kept here
(their facts are empty): those commands still read the store in their bodies, and their tests need the real
one.
`tests/test_fake_unit_of_work.py` runs one journey against the real store and this fake and compares the facts
the guards saw at each step, so the fake cannot drift from the store it stands in for.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from typing import Any, Callable

from isap.policy import Policy
from isap.review import lifecycle
from isap.review.errors import Conflict, NotFound
from isap.review.evidence_references import unnamed
from isap.review.lifecycle import (
    ConditionStatus,
    ProposalFacts,
    QueryStatus,
    QueryStep,
    Role,
    State,
    WaiverStatus,
)
from isap.review.notices import link
from isap.review.service import Service
from isap.review.types import NAME_SEPARATOR, SYSTEM_USER, UploadResult, proposal_name
from isap.review.unit_of_work import DEFAULT_BASE_URL, UnitOfWork
from isap.review.wording import person_words
from isap.rules.engine import CheckReport
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
)
from isap.workbook.findings import Finding

START = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.timezone.utc)  # a Monday morning


def checked(reference: str, findings: list[dict] = (), *, code: str = "QUA", checkpoint: int = 1,
            title: str = "A proposal", contact: str | None = None, evidence_references: list[str] = ()) -> CheckReport:
    """What the checker reports of a workbook naming `reference` of the organisation `code`: `findings` as
    `Finding.to_dict` gives them (rule_id, severity, sheet, cell, …), `evidence_references` the documents it names.
    An upload given it keeps it as the report of the bytes uploaded, as a report from the checking workers is."""
    return CheckReport(file="proposal.xlsx", sha256=None, template_version="test", checkpoint=checkpoint, policy={},
                       findings=[Finding.from_dict({"domain": "governance", "source": "test", "message": "", **f})
                                 for f in findings],
                       proposal_reference=reference, lead_commissioner_code=code, title=title, contact_email=contact,
                       evidence_references=list(evidence_references))


class Rows:
    """What a command's session does with rows, over lists: add, add_all, flush (ids, as the database gives
    them), get by id.  Anything else a command asks of a session is a query the fake does not answer."""

    def __init__(self) -> None:
        self.tables: dict[type, list] = {}
        self._ids = itertools.count(1)

    def add(self, row: Any) -> None:
        table = self.tables.setdefault(type(row), [])
        if not any(r is row for r in table):
            table.append(row)

    def add_all(self, rows) -> None:
        for row in rows:
            self.add(row)

    def flush(self) -> None:
        for table in self.tables.values():
            for row in table:
                if getattr(row, "id", 0) is None:
                    row.id = next(self._ids)

    def get(self, model: type, row_id: int | None) -> Any:
        return next((r for r in self.all(model) if r.id == row_id), None)

    def all(self, model: type, **where: Any) -> list:
        """The rows of `model` whose fields equal `where`, in the order they were added (the order of ids)."""
        return [r for r in self.tables.get(model, []) if all(getattr(r, k) == v for k, v in where.items())]

    def snapshot(self) -> Callable[[], None]:
        """What undoes every change made from now on: a command that raises leaves the rows as they were."""
        tables = {model: list(rows) for model, rows in self.tables.items()}
        values = [(row, dict(row.__dict__)) for rows in self.tables.values() for row in rows]

        def undo() -> None:
            self.tables = tables
            for row, saved in values:
                row.__dict__.clear()
                row.__dict__.update(saved)
        return undo


class Originals:
    """The originals' store in memory: the bytes of every version kept, by SHA-256."""

    def __init__(self) -> None:
        self.kept: dict[str, bytes] = {}

    def put(self, data: bytes, session: Any = None) -> str:
        import hashlib

        sha = hashlib.sha256(data).hexdigest()
        self.kept[sha] = data
        return sha

    def get(self, sha256: str) -> bytes:
        return self.kept[sha256]

    def has(self, sha256: str) -> bool:
        return sha256 in self.kept


class FakeUnitOfWork(UnitOfWork):
    """The unit of work over `Rows`: each call is whole or changes nothing, as a transaction is."""

    def __init__(self, policy: Policy | None = None, base_url: str | None = None):
        # no engine, no originals, no schema to check
        self.engine = None
        self.files = Originals()
        self.policy = policy or Policy()
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.now = START
        self.clock = lambda: self.now
        self.rows = Rows()
        self._uploads = 0  # what makes each seeded version's bytes its own

    # ------------------------------------------------------------------ the transaction
    def _run(self, fn, *args, **kwargs):
        undo, kept = self.rows.snapshot(), dict(self.files.kept)
        try:
            result = fn(self.rows, *args, **kwargs)
            self.rows.flush()
            return result
        except BaseException:
            undo()
            self.files.kept = kept
            raise

    # ------------------------------------------------------------------ what the store is asked
    # (`_user`, the account of someone acting, is the unit of work's own: it refuses a disabled account found here)
    @staticmethod
    def _account(s: Rows, username: str) -> User:
        user = next(iter(s.all(User, username=username)), None)
        if user is None:
            raise NotFound(f"unknown user {username!r}")
        return user

    def _proposal(self, s: Rows, user: User, name: str) -> Proposal:
        name = (name or "").strip() if isinstance(name, str) else ""
        code, _, reference = name.rpartition(NAME_SEPARATOR)
        found = [p for p in s.all(Proposal, reference=reference.strip())
                 if (not code or self._code(s, p) == code.strip())
                 and (user.role != Role.COMMISSIONER or p.organisation_id == user.organisation_id)
                 and user.role in (Role.COMMISSIONER, Role.REVIEWER, Role.ADMIN, Role.SYSTEM)]
        if not found:
            raise NotFound(f"no proposal {name} that you can see")
        if len(found) > 1:
            names = " or ".join(proposal_name(self._code(s, p), p.reference) for p in found)
            raise NotFound(f"{name} is the reference of proposals of {len(found)} organisations: name one with its "
                           f"lead commissioner's code, as {names}")
        return found[0]

    @staticmethod
    def _code(s: Rows, p: Proposal) -> str:
        org = s.get(Organisation, p.organisation_id)
        return org.code if org else ""

    @staticmethod
    def _organisation_coded(s: Rows, code: str | None) -> Organisation | None:
        return next(iter(s.all(Organisation, code=code)), None)

    @staticmethod
    def _proposal_of(s: Rows, org: Organisation, reference: str) -> Proposal | None:
        return next(iter(s.all(Proposal, organisation_id=org.id, reference=reference)), None)

    @staticmethod
    def _version_with(s: Rows, p: Proposal, sha256: str) -> SubmissionVersion | None:
        return next(iter(s.all(SubmissionVersion, proposal_id=p.id, sha256=sha256)), None)

    def _last_version_number(self, s: Rows, p: Proposal) -> int:
        latest = self._latest(s, p)
        return latest.number if latest is not None else 0

    @staticmethod
    def _proposal_bytes(s: Rows, p: Proposal) -> tuple[int, int, int, int]:
        versions = s.all(SubmissionVersion, proposal_id=p.id)
        documents = s.all(EvidenceDocument, proposal_id=p.id)
        return len(versions), sum(v.size for v in versions), len(documents), sum(d.size for d in documents)

    @staticmethod
    def _organisation_bytes(s: Rows, org_id: int) -> int:
        proposals = {p.id for p in s.all(Proposal, organisation_id=org_id)}
        people = {u.id for u in s.all(User, organisation_id=org_id)}
        return (sum(v.size for v in s.all(SubmissionVersion) if v.proposal_id in proposals)
                + sum(d.size for d in s.all(EvidenceDocument) if d.proposal_id in proposals)
                + sum(u.size for u in s.all(UnassignedUpload) if u.uploaded_by in people))

    @staticmethod
    def _unassigned_kept(s: Rows, user: User) -> tuple[int, int]:
        people = {u.id for u in s.all(User, organisation_id=user.organisation_id)}
        kept = [u for u in s.all(UnassignedUpload) if u.uploaded_by in people]
        return len(kept), sum(u.size for u in kept)

    @staticmethod
    def _system_user(s: Rows) -> User:
        user = next(iter(s.all(User, username=SYSTEM_USER)), None)
        if user is None:
            user = User(username=SYSTEM_USER, role=Role.SYSTEM)
            s.add(user)
            s.flush()
        return user

    @staticmethod
    def _latest(s: Rows, p: Proposal) -> SubmissionVersion | None:
        return max(s.all(SubmissionVersion, proposal_id=p.id), key=lambda v: v.number, default=None)

    @staticmethod
    def _warnings(s: Rows, version: SubmissionVersion, rule_id: str) -> list[FindingRecord]:
        return s.all(FindingRecord, version_id=version.id, rule_id=rule_id, severity="warning")

    @staticmethod
    def _acknowledged(s: Rows, finding: FindingRecord) -> bool:
        return bool(s.all(Acknowledgement, finding_id=finding.id))

    @staticmethod
    def _open_review(s: Rows, p: Proposal) -> Review | None:
        if p.state != State.IN_REVIEW:
            return None
        return next(reversed(s.all(Review, proposal_id=p.id, decided_at=None)), None)

    @staticmethod
    def _pending(s: Rows, review: Review | None) -> ProposedDecision | None:
        if review is None:
            return None
        return next(reversed(s.all(ProposedDecision, review_id=review.id, closed_as=None)), None)

    @staticmethod
    def _ratings(s: Rows, review: Review) -> list[Rating]:
        return s.all(Rating, review_id=review.id)

    def _current_ratings(self, s: Rows, review: Review) -> dict[str, Rating]:
        return {r.domain: r for r in self._ratings(s, review)}

    @staticmethod
    def _declarations(s: Rows, p: Proposal) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
        rows = s.all(Declaration, proposal_id=p.id)
        declared = {s.get(User, d.user_id).username for d in rows if not d.conflict}
        conflicted = {s.get(User, d.user_id).username for d in rows if d.conflict}
        here = {s.get(User, d.user_id).username for d in rows if not d.conflict and d.checkpoint == p.checkpoint}
        return frozenset(declared - conflicted), frozenset(conflicted), frozenset(here - conflicted)

    @staticmethod
    def _reviewer_addresses(s: Rows) -> list[str]:
        return [u.email for u in s.all(User) if u.role in lifecycle.REVIEWERS and u.email and u.disabled_at is None]

    @staticmethod
    def _other_reviewer_addresses(s: Rows, user: User) -> list[str]:
        return [u.email for u in s.all(User)
                if u.role in lifecycle.REVIEWERS and u.id != user.id and u.email and u.disabled_at is None]

    @staticmethod
    def _commissioner_addresses(s: Rows, p: Proposal) -> list[str]:
        return [u.email for u in s.all(User, organisation_id=p.organisation_id, role=Role.COMMISSIONER)
                if u.email and u.disabled_at is None]

    def _reviewers_link(self, s: Rows, p: Proposal) -> str:
        shared = any(o.id != p.id for o in s.all(Proposal, reference=p.reference))
        return link(self.base_url, proposal_name(self._code(s, p), p.reference) if shared else p.reference)

    @staticmethod
    def _query(s: Rows, p: Proposal, number: int) -> Query | None:
        queries = s.all(Query, proposal_id=p.id)
        return queries[number - 1] if number <= len(queries) else None

    @staticmethod
    def _last_answerer(s: Rows, q: Query) -> str | None:
        answers = s.all(QueryMessage, query_id=q.id, step=QueryStep.ANSWER)
        user = s.get(User, answers[-1].author_id) if answers else None
        return user.username if user is not None else None

    @staticmethod
    def _query_number(s: Rows, p: Proposal, query_id: int) -> int:
        return [q.id for q in s.all(Query, proposal_id=p.id)].index(query_id) + 1

    @staticmethod
    def _last_review(s: Rows, p: Proposal) -> Review | None:
        return next(reversed(s.all(Review, proposal_id=p.id)), None)

    @staticmethod
    def _users(s: Rows, ids: list[int]) -> list[User]:
        return [u for u in s.all(User) if u.id in ids]

    @staticmethod
    def _finding(s: Rows, version: SubmissionVersion, finding_id: int) -> FindingRecord | None:
        return next(iter(s.all(FindingRecord, id=finding_id, version_id=version.id)), None)

    @staticmethod
    def _waivers(s: Rows, p: Proposal) -> list[Waiver]:
        return s.all(Waiver, proposal_id=p.id)

    @staticmethod
    def _errors(s: Rows, version: SubmissionVersion) -> list[FindingRecord]:
        return s.all(FindingRecord, version_id=version.id, severity="error")

    @staticmethod
    def _waivers_at(s: Rows, p: Proposal, checkpoint: int | None) -> dict[str, Waiver]:
        out: dict[str, Waiver] = {}
        for w in s.all(Waiver, proposal_id=p.id, checkpoint=checkpoint):
            if w.status != WaiverStatus.REFUSED and (w.fingerprint not in out or w.status == WaiverStatus.GRANTED):
                out[w.fingerprint] = w
        return out

    @staticmethod
    def _plans_to_agree(s: Rows, p: Proposal) -> tuple[int, ...]:
        return tuple(sorted(r.checkpoint for r in s.all(PlannedSubmission, proposal_id=p.id)
                            if r.agreed_date is None or r.agreed_date != r.planned_date))

    @staticmethod
    def _plan(s: Rows, p: Proposal, checkpoint: int) -> PlannedSubmission | None:
        return next(iter(s.all(PlannedSubmission, proposal_id=p.id, checkpoint=checkpoint)), None)

    @staticmethod
    def _compare_and_set_plan(s: Rows, row: PlannedSubmission, **values: Any) -> None:
        # one command at a time: nobody can have changed the row since the command read it
        for k, v in values.items():
            setattr(row, k, v)

    @staticmethod
    def _already_queued(s: Rows, key: str) -> bool:
        return bool(s.all(Notification, key=key))

    def _bump(self, s: Rows, p: Proposal, expected_version: int | None, **changes: Any) -> None:
        # the rows are the proposal itself: someone else's change is a version other than the one loaded
        seen = p.version if expected_version is None else expected_version
        if p.version != seen:
            raise Conflict(f"{p.reference} was changed by someone else since you loaded it; reload and try again")
        now = self.clock()
        values = {"version": seen + 1, "updated_at": now, **changes}
        if "state" in changes and changes["state"] != p.state:
            values["state_since"] = now
        for k, v in values.items():
            setattr(p, k, v)

    def _facts(self, s: Rows, p: Proposal) -> ProposalFacts:
        """The guards' facts from the rows, field by field as `UnitOfWork._facts` reads them from the store."""
        latest = self._latest(s, p)
        findings = s.all(FindingRecord, version_id=latest.id) if latest is not None else []
        answered = {a.finding_id for a in s.all(Acknowledgement)}
        conditions = [(n, c) for n, c in enumerate(s.all(Condition, proposal_id=p.id), start=1)
                      if c.status == ConditionStatus.OPEN]
        queries = list(enumerate((q.status for q in s.all(Query, proposal_id=p.id)), start=1))
        review = self._open_review(s, p)
        pending = self._pending(s, review)
        lead = s.get(User, review.reviewer_id) if review is not None else None
        proposer = s.get(User, pending.proposed_by) if pending is not None else None
        declared, conflicted, declared_here = self._declarations(s, p)
        evidence: dict[str, tuple] = {}
        if p.checkpoint >= self.policy.evidence_guard_from_checkpoint:
            documents = s.all(EvidenceDocument, proposal_id=p.id)
            references = json.loads(latest.evidence_references or "[]") if latest is not None else []
            here = {d.kind for d in documents if d.checkpoint == p.checkpoint}
            evidence = {"unnamed_evidence": unnamed(references, [d.reference_key for d in documents]),
                        "missing_evidence": tuple(k for k in self.policy.required_evidence(p.checkpoint)
                                                  if k not in here)}
        return ProposalFacts(
            reference=p.reference, state=State(p.state), checkpoint=p.checkpoint,
            latest_version=latest.number if latest else None, latest_checkpoint=latest.checkpoint if latest else None,
            latest_errors=latest.errors if latest else 0, latest_warnings=latest.warnings if latest else 0,
            unanswered_warnings=sum(f.severity == "warning" and f.id not in answered for f in findings),
            open_conditions=tuple(n for n, _ in conditions),
            open_earlier_conditions=tuple(n for n, c in conditions if c.checkpoint < p.checkpoint),
            plans_to_agree=self._plans_to_agree(s, p),
            queries_awaiting_answer=tuple(n for n, st in queries if st == QueryStatus.AWAITING_ANSWER),
            queries_answered=tuple(n for n, st in queries if st == QueryStatus.ANSWERED),
            **self._waiver_facts(s, p, latest),
            lead=lead.username if lead else None, proposed_by=proposer.username if proposer else None,
            lead_name=person_words(lead) if lead else None, proposer_name=person_words(proposer) if proposer else None,
            proposer_body=self._actor(proposer).body if proposer else None,
            other_body_needed=p.checkpoint in self.policy.countersign_other_body,
            declared=declared, conflicted=conflicted, declared_here=declared_here, **evidence)

    # ------------------------------------------------------------------ what a test starts from
    def seed_organisation(self, code: str, name: str) -> Organisation:
        org = Organisation(code=code, name=name)
        self._run(lambda s: s.add(org))
        return org

    def seed_user(self, username: str, role: str, organisation: str | None = None, *, email: str | None = None,
                  body: str | None = None, display_name: str | None = None, job_title: str | None = None) -> User:
        def run(s: Rows) -> User:
            org = next(iter(s.all(Organisation, code=organisation)), None) if organisation else None
            user = User(username=username, role=role, organisation_id=org.id if org else None, email=email,
                        body=body, display_name=display_name, job_title=job_title)
            s.add(user)
            return user
        return self._run(run)

    def seed_version(self, username: str, reference: str, findings: list[dict] = (), **report: Any) -> UploadResult:
        """Upload a version of `reference` that the checker found `findings` in, through the service's own
        `upload` (`checked` says what else the report may hold).  Each call's bytes differ, so each keeps a new
        version."""
        self._uploads += 1
        return self.upload(username, f"v{self._uploads}.xlsx", f"version {self._uploads}".encode(),
                           checked(reference, findings, **report))

    # ------------------------------------------------------------------ what a test reads back
    def history(self, reference: str) -> list[tuple[str, str, str | None]]:
        """The proposal's audit trail: (kind, actor, state it moved to)."""
        p = next(iter(self.rows.all(Proposal, reference=reference)))
        return [(e.action, e.actor, e.to_state) for e in self.rows.all(AuditEvent, proposal_id=p.id)]

    def outbox(self) -> list[Notification]:
        return self.rows.all(Notification)

    def facts(self, reference: str) -> ProposalFacts:
        p = next(iter(self.rows.all(Proposal, reference=reference)))
        return self._facts(self.rows, p)


class FakeService(FakeUnitOfWork, Service):
    """The review service's commands over the fake unit of work."""

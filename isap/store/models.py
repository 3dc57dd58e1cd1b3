"""The system of record: SQLModel tables for proposals, versions, findings and the review.

Everything a reviewer relies on later is kept here: every uploaded version
(with its SHA-256 and the findings as run, catalogue version and policy
values), every acknowledgement, rating, comment, condition and decision, and
an append-only audit history that the database itself refuses to change.
Times are stored as UTC.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Optional

from sqlalchemy import Column, Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Organisation(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    code: str = Field(index=True, unique=True, max_length=12)
    name: str = Field(max_length=200)
    # which of NHS England's seven regions oversees it (`isap.review.regions.Region`); set by administrators
    region: Optional[str] = Field(default=None, max_length=40, index=True)


class User(SQLModel, table=True):
    __tablename__ = "app_user"
    id: Optional[int] = Field(default=None, primary_key=True)
    username: str = Field(index=True, unique=True, max_length=80)
    role: str = Field(max_length=20)  # commissioner | reviewer | admin | system
    organisation_id: Optional[int] = Field(default=None, foreign_key="organisation.id")
    password_hash: Optional[str] = Field(default=None, sa_column=Column(Text))
    email: Optional[str] = Field(default=None, max_length=200)
    created_at: dt.datetime = Field(default_factory=utcnow)
    # set while an administrator has disabled the account: it signs in nowhere, and its sessions end
    disabled_at: Optional[dt.datetime] = None
    # how letters and reports name a reviewer (never by user name), and the national body they work for
    display_name: Optional[str] = Field(default=None, max_length=120)
    job_title: Optional[str] = Field(default=None, max_length=120)
    body: Optional[str] = Field(default=None, max_length=30)  # nhs_england | nhs_improvement


class Proposal(SQLModel, table=True):
    """A proposal is named by its lead commissioner's organisation and its reference together: two
    organisations may use the same reference, and neither ever learns of the other
    (docs/decisions/0022-proposal-names.md)."""

    __table_args__ = (Index("uq_proposal_organisation_reference", "organisation_id", "reference", unique=True),)
    id: Optional[int] = Field(default=None, primary_key=True)
    reference: str = Field(index=True, max_length=20)
    title: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    organisation_id: int = Field(foreign_key="organisation.id", index=True)
    provider_type: Optional[str] = Field(default=None, max_length=60)
    # the Cover's key figures as last uploaded, for the national view (docs/workflow.md, "Calendar")
    provider_name: Optional[str] = Field(default=None, max_length=200)
    integration_model: Optional[str] = Field(default=None, max_length=40)
    annual_contract_value_gbp: Optional[float] = None
    wpap_annual_value_gbp: Optional[float] = None
    population_registered: Optional[int] = None
    # the Cover's contact e-mail address as last uploaded: who is told what happens to the proposal
    contact_email: Optional[str] = Field(default=None, max_length=254)
    checkpoint: int = Field(default=1)
    state: str = Field(default="draft", index=True, max_length=30)
    state_since: dt.datetime = Field(default_factory=utcnow)
    version: int = Field(default=1)  # optimistic concurrency
    created_at: dt.datetime = Field(default_factory=utcnow)
    updated_at: dt.datetime = Field(default_factory=utcnow)


class SubmissionVersion(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("proposal_id", "sha256", name="uq_version_proposal_sha"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    proposal_id: int = Field(foreign_key="proposal.id", index=True)
    number: int
    sha256: str = Field(max_length=64, index=True)
    filename: str = Field(max_length=255)
    size: int
    uploaded_by: int = Field(foreign_key="app_user.id")
    uploaded_at: dt.datetime = Field(default_factory=utcnow)
    checkpoint: Optional[int] = None
    errors: int = 0
    warnings: int = 0
    infos: int = 0
    catalogue_version: str = Field(max_length=60)
    policy_json: str = Field(sa_column=Column(Text, nullable=False))
    report_json: str = Field(sa_column=Column(Text, nullable=False))
    # the Transparency sheet's evidence_reference values (a JSON list): what the submit guard matches against the
    # proposal's evidence documents; null for versions kept before evidence documents were
    evidence_references: Optional[str] = Field(default=None, sa_column=Column(Text))


class UnassignedUpload(SQLModel, table=True):
    """A file too broken to name its proposal: kept byte for byte and reported, never lost."""

    id: Optional[int] = Field(default=None, primary_key=True)
    sha256: str = Field(max_length=64, index=True)
    filename: str = Field(max_length=255)
    size: int
    uploaded_by: int = Field(foreign_key="app_user.id")
    uploaded_at: dt.datetime = Field(default_factory=utcnow)
    report_json: str = Field(sa_column=Column(Text, nullable=False))


class FindingRecord(SQLModel, table=True):
    __tablename__ = "finding"
    id: Optional[int] = Field(default=None, primary_key=True)
    version_id: int = Field(foreign_key="submissionversion.id", index=True)
    rule_id: str = Field(max_length=10, index=True)
    severity: str = Field(max_length=10)
    domain: str = Field(max_length=20)
    sheet: Optional[str] = Field(default=None, max_length=100)
    row: Optional[int] = None
    column: Optional[str] = Field(default=None, max_length=100)
    cell: Optional[str] = Field(default=None, max_length=12)
    message: str = Field(sa_column=Column(Text, nullable=False))
    source: str = Field(sa_column=Column(Text, nullable=False))


class Acknowledgement(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    finding_id: int = Field(foreign_key="finding.id", index=True, unique=True)
    note: str = Field(sa_column=Column(Text, nullable=False))
    by: int = Field(foreign_key="app_user.id")
    at: dt.datetime = Field(default_factory=utcnow)


class Review(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    proposal_id: int = Field(foreign_key="proposal.id", index=True)
    version_id: int = Field(foreign_key="submissionversion.id")
    checkpoint: int
    reviewer_id: int = Field(foreign_key="app_user.id")
    started_at: dt.datetime = Field(default_factory=utcnow)
    decided_at: Optional[dt.datetime] = None


class Rating(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    review_id: int = Field(foreign_key="review.id", index=True)
    domain: str = Field(max_length=20)
    rating: str = Field(max_length=10)  # green | amber | red
    # the panel member who rated the domain, and when (none on ratings recorded before the panel)
    # (an app_user id; a plain column, as ADD COLUMN keeps the table's insert-only triggers)
    rated_by: Optional[int] = None
    rated_at: Optional[dt.datetime] = None


class Decision(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    review_id: int = Field(foreign_key="review.id", unique=True)
    proposal_id: int = Field(foreign_key="proposal.id", index=True)
    checkpoint: int
    outcome: str = Field(max_length=30)
    rationale: str = Field(sa_column=Column(Text, nullable=False))
    by: int = Field(foreign_key="app_user.id")  # who proposed it
    at: dt.datetime = Field(default_factory=utcnow)  # when it took effect
    # the second reviewer whose countersignature made it take effect (none on decisions before the panel)
    countersigned_by: Optional[int] = None  # an app_user id (a plain column, as for Rating.rated_by)


class Declaration(SQLModel, table=True):
    """A reviewer's declaration of interests in one proposal: none, or a conflict with a named organisation.

    Only ever added: a later declaration replaces an earlier "none", and a declared conflict stands.
    """

    id: Optional[int] = Field(default=None, primary_key=True)
    proposal_id: int = Field(foreign_key="proposal.id", index=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    checkpoint: int
    conflict: bool = False
    organisation: Optional[str] = Field(default=None, max_length=200)  # who the conflict is with
    note: Optional[str] = Field(default=None, sa_column=Column(Text))
    at: dt.datetime = Field(default_factory=utcnow)


class ProposedDecision(SQLModel, table=True):
    """A checkpoint decision the lead reviewer proposed, until a second reviewer countersigns it (then it becomes
    the `Decision`) or sends it back with a note."""

    __tablename__ = "proposed_decision"
    id: Optional[int] = Field(default=None, primary_key=True)
    review_id: int = Field(foreign_key="review.id", index=True)
    proposal_id: int = Field(foreign_key="proposal.id", index=True)
    checkpoint: int
    outcome: str = Field(max_length=30)
    rationale: str = Field(sa_column=Column(Text, nullable=False))
    conditions_json: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    proposed_by: int = Field(foreign_key="app_user.id")
    proposed_at: dt.datetime = Field(default_factory=utcnow)
    closed_as: Optional[str] = Field(default=None, max_length=20)  # countersigned | sent_back
    closed_by: Optional[int] = Field(default=None, foreign_key="app_user.id")
    closed_at: Optional[dt.datetime] = None
    note: Optional[str] = Field(default=None, sa_column=Column(Text))  # why it was sent back


class Comment(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    proposal_id: int = Field(foreign_key="proposal.id", index=True)
    checkpoint: int
    author_id: int = Field(foreign_key="app_user.id")
    text: str = Field(sa_column=Column(Text, nullable=False))
    at: dt.datetime = Field(default_factory=utcnow)


class Condition(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    proposal_id: int = Field(foreign_key="proposal.id", index=True)
    review_id: int = Field(foreign_key="review.id")
    checkpoint: int
    text: str = Field(sa_column=Column(Text, nullable=False))
    owner: str = Field(max_length=200)
    due_date: dt.date
    status: str = Field(default="open", max_length=20)  # open | discharged | carried_forward
    response: Optional[str] = Field(default=None, sa_column=Column(Text))
    closed_by: Optional[int] = Field(default=None, foreign_key="app_user.id")
    closed_at: Optional[dt.datetime] = None
    closing_note: Optional[str] = Field(default=None, sa_column=Column(Text))


class PlannedSubmission(SQLModel, table=True):
    """When a proposal's submission for one checkpoint is planned: proposed by its commissioner, agreed by a reviewer.

    `planned_date` is the date last proposed; `agreed_date` the date a reviewer agreed, which lateness and
    slippage count against once there is one (a proposed change does not move it until it is agreed).  Every
    change is also an event of the audit history, with its reason, so this row holds only the present.
    """

    __tablename__ = "planned_submission"
    __table_args__ = (UniqueConstraint("proposal_id", "checkpoint", name="uq_planned_submission_checkpoint"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    proposal_id: int = Field(foreign_key="proposal.id", index=True)
    checkpoint: int
    planned_date: dt.date
    proposed_by: int = Field(foreign_key="app_user.id")
    proposed_at: dt.datetime = Field(default_factory=utcnow)
    agreed_date: Optional[dt.date] = None
    agreed_by: Optional[int] = Field(default=None, foreign_key="app_user.id")
    agreed_at: Optional[dt.datetime] = None


class AuditEvent(SQLModel, table=True):
    """Append-only: the application never updates or deletes a row, and triggers refuse it.

    Each row also carries a SHA-256 over its own content and the previous
    row's hash (`isap.review.audit_chain`), so a rewrite by anyone who gets
    past the triggers is still detected by `isap audit verify`.
    """

    id: Optional[int] = Field(default=None, primary_key=True)
    proposal_id: Optional[int] = Field(default=None, foreign_key="proposal.id", index=True)
    action: str = Field(max_length=40)
    actor: str = Field(max_length=80)
    from_state: Optional[str] = Field(default=None, max_length=30)
    to_state: Optional[str] = Field(default=None, max_length=30)
    checkpoint: Optional[int] = None
    reason: Optional[str] = Field(default=None, sa_column=Column(Text))
    at: dt.datetime = Field(default_factory=utcnow, index=True)
    prev_hash: Optional[str] = Field(default=None, max_length=64)
    hash: Optional[str] = Field(default=None, max_length=64, index=True)
    # the record this event made, sealed: "decision:<id>:<sha256 of the decision and its ratings>"
    record: Optional[str] = Field(default=None, max_length=120)

    def chain_digest(self, prev_hash: str) -> str:
        """SHA-256 over this row's canonical content and the previous row's hash.

        Canonical: a JSON array in a fixed order, UTF-8, no spaces, the time
        in UTC to the microsecond; the row's id is not part of it (it is given
        by the database after the hash is computed), its place is fixed by
        `prev_hash`.  `record` is appended only when there is one, so events
        recorded before it existed keep their hashes.
        """
        content = [AUDIT_CHAIN_FORMAT, prev_hash, self.proposal_id, self.action, self.actor, self.from_state,
                   self.to_state, self.checkpoint, self.reason, utc_text(self.at)]
        if self.record is not None:
            content.append(self.record)
        return _sha256_json(content)


AUDIT_CHAIN_FORMAT = "isap-audit-1"
AUDIT_CHAIN_GENESIS = "0" * 64  # the previous hash of the first event
DECISION_RECORD_FORMAT = "isap-decision-1"


def utc_text(at: dt.datetime) -> str:
    """A stored time as canonical text: UTC to the microsecond (SQLite gives naive UTC back, PostgreSQL aware;
    SQLite read without the model gives text)."""
    if isinstance(at, str):
        at = dt.datetime.fromisoformat(at)
    at = at if at.tzinfo is not None else at.replace(tzinfo=dt.timezone.utc)
    return at.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _sha256_json(content: list) -> str:
    return hashlib.sha256(json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()).hexdigest()


def decision_record(decision: "Decision", ratings: list["Rating"]) -> str:
    """The seal an audit event carries for a decision: its id and a SHA-256 over the decision and its ratings.

    The ratings are taken in domain order with their own ids, so a rating
    changed, added or removed changes the seal as surely as a rationale
    rewritten.
    """
    content = [DECISION_RECORD_FORMAT, decision.id, decision.review_id, decision.proposal_id, decision.checkpoint,
               decision.outcome, decision.rationale, decision.by, utc_text(decision.at),
               [_rating_content(r) for r in sorted(ratings, key=lambda r: (r.domain, r.id))]]
    if decision.countersigned_by is not None:  # appended only when there is one, so earlier seals still hold
        content.append(decision.countersigned_by)
    return f"decision:{decision.id}:{_sha256_json(content)}"


def _rating_content(r: "Rating") -> list:
    content = [r.id, r.review_id, r.domain, r.rating]
    if r.rated_by is not None:  # who rated it, and when, on ratings of the panel
        content += [r.rated_by, utc_text(r.rated_at) if r.rated_at is not None else None]
    return content


def rating_record(rating: "Rating") -> str:
    """The seal a panel member's rating carries in its own event, before any decision covers it."""
    return f"rating:{rating.id}:{_sha256_json([RATING_RECORD_FORMAT, *_rating_content(rating)])}"


RATING_RECORD_FORMAT = "isap-rating-1"


class SignInSession(SQLModel, table=True):
    """A dashboard sign-in: only the SHA-256 of its random token is kept, so a copy of the table signs no one in."""

    id: Optional[int] = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, index=True, unique=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    created_at: dt.datetime = Field(default_factory=utcnow)
    last_seen_at: dt.datetime = Field(default_factory=utcnow)
    expires_at: dt.datetime
    ended_at: Optional[dt.datetime] = None
    ended_reason: Optional[str] = Field(default=None, max_length=40)


class ApiToken(SQLModel, table=True):
    """A personal API token: another system or a CI job acting as one person through the HTTP API.

    Only the SHA-256 of its secret is kept (as for sessions), so a copy of the table acts as nobody.  A token
    acts until it expires or is revoked, and never for an account that is disabled.
    """

    __tablename__ = "api_token"
    id: Optional[int] = Field(default=None, primary_key=True)
    secret_hash: str = Field(max_length=64, index=True, unique=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    name: str = Field(max_length=80)
    created_at: dt.datetime = Field(default_factory=utcnow)
    expires_at: dt.datetime
    last_used_at: Optional[dt.datetime] = None
    revoked_at: Optional[dt.datetime] = None
    revoked_reason: Optional[str] = Field(default=None, max_length=40)  # revoked | account_disabled


class SignInAttempt(SQLModel, table=True):
    """Every sign-in by user name and password: failed, refused (locked out), succeeded, or an unlock.

    The user name is kept as typed (cut to 80 characters), whether or not an account has it.
    """

    # the lockout reads a name's attempts that count (not those refused while it was locked out, which someone
    # hammering a name adds by the hundred a second) from this index, so it costs the same however many there are
    __table_args__ = (Index("ix_signinattempt_username_outcome_at", "username", "outcome", "at"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    username: str = Field(max_length=80, index=True)
    outcome: str = Field(max_length=20)  # failed | refused | succeeded | unlocked
    at: dt.datetime = Field(default_factory=utcnow, index=True)


class Notification(SQLModel, table=True):
    """The outbox: a message owed to someone, written in the same transaction as the event that causes it.

    Written rows are delivered later (`isap notify send`, the notification
    flow); `key` names the event, so the same event never queues two messages,
    and `message_id` is fixed when the row is written, so a message sent again
    after a crash carries the same Message-ID and a mail server can drop the copy.
    """

    id: Optional[int] = Field(default=None, primary_key=True)
    key: str = Field(max_length=200, unique=True)
    kind: str = Field(max_length=40, index=True)
    proposal_reference: Optional[str] = Field(default=None, max_length=20, index=True)
    # the proposal itself: its reference alone may name proposals of several organisations
    proposal_id: Optional[int] = Field(default=None, foreign_key="proposal.id", index=True)
    checkpoint: Optional[int] = None
    recipients: str = Field(sa_column=Column(Text, nullable=False))  # one address a line
    subject: str = Field(sa_column=Column(Text, nullable=False))
    body: str = Field(sa_column=Column(Text, nullable=False))
    attachment: Optional[str] = Field(default=None, max_length=40)  # "decision_letter", rendered at delivery
    message_id: str = Field(max_length=200)
    status: str = Field(default="pending", max_length=10, index=True)  # pending | sending | sent | failed
    attempts: int = 0
    last_error: Optional[str] = Field(default=None, sa_column=Column(Text))
    created_at: dt.datetime = Field(default_factory=utcnow)
    next_attempt_at: dt.datetime = Field(default_factory=utcnow)
    claimed_at: Optional[dt.datetime] = None
    sent_at: Optional[dt.datetime] = None


class Original(SQLModel, table=True):
    """An original upload, byte for byte, under its SHA-256: the default store of originals.

    Kept in the database every machine already reaches, so no worker needs a
    shared disk and a database backup is a complete backup (docs/deployment.md).
    Rows are only ever added: the same bytes are kept once however often they
    are uploaded.
    """

    sha256: str = Field(primary_key=True, max_length=64)
    size: int
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: dt.datetime = Field(default_factory=utcnow)


class StagedUpload(SQLModel, table=True):
    """An upload an authenticated entry point has handed over for assurance, until it is checked and kept.

    The bytes and who sent them live here, in the store every machine shares;
    a flow run is given only `run_key`, an unguessable token, so a run created
    by hand can neither choose whom it acts as nor make a worker read a file.
    Every upload of one flow run shares its `run_key`; the files of an inbox
    batch share a `batch_key` and keep their file-name order in `seq`.  The
    bytes are dropped once the upload is finished; the outcome stays for the
    person waiting for it.
    """

    __tablename__ = "staged_upload"
    id: str = Field(primary_key=True, max_length=64)
    run_key: str = Field(index=True, max_length=64)
    batch_key: Optional[str] = Field(default=None, index=True, max_length=64)
    seq: int = 0
    user_id: int = Field(foreign_key="app_user.id")
    filename: str = Field(max_length=255)
    sha256: str = Field(max_length=64)
    size: int
    data: Optional[bytes] = Field(default=None, sa_column=Column(LargeBinary))
    # staged -> checked -> done | failed
    state: str = Field(default="staged", max_length=10, index=True)
    reference: Optional[str] = Field(default=None, max_length=20)
    report_json: Optional[str] = Field(default=None, sa_column=Column(Text))
    result_json: Optional[str] = Field(default=None, sa_column=Column(Text))
    outcome: Optional[str] = Field(default=None, sa_column=Column(Text))
    refusal: Optional[str] = Field(default=None, max_length=20)  # the guard's kind when a guard refused it
    attempts: int = 0
    lease_until: Optional[dt.datetime] = None
    created_at: dt.datetime = Field(default_factory=utcnow, index=True)
    finished_at: Optional[dt.datetime] = None


class Query(SQLModel, table=True):
    """A question the panel puts to the commissioner while it reviews (docs/workflow.md, "Queries and waivers").

    What it is about is kept as the reviewer saw it: a finding (its rule, place and fingerprint, so the finding
    can be found again in any version), a field or cell of the workbook, or the proposal as a whole.  Its words,
    the answers and the follow-ups are the messages of its thread (`QueryMessage`).
    """

    __tablename__ = "review_query"
    id: Optional[int] = Field(default=None, primary_key=True)
    proposal_id: int = Field(foreign_key="proposal.id", index=True)
    checkpoint: int
    subject: str = Field(max_length=20)  # finding | cell | proposal
    about: Optional[str] = Field(default=None, max_length=200)  # "REL011 at Partners C5", "Cover C7"
    fingerprint: Optional[str] = Field(default=None, max_length=64)
    due_date: Optional[dt.date] = None
    status: str = Field(default="awaiting_answer", max_length=20)  # awaiting_answer | answered | resolved
    raised_by: int = Field(foreign_key="app_user.id")
    raised_at: dt.datetime = Field(default_factory=utcnow)


class QueryMessage(SQLModel, table=True):
    """One message of a query's thread: the question, an answer, a follow-up or the resolution, in order.

    An answer is where documents the commissioner gives in support belong: they name the message by its id.
    """

    __tablename__ = "query_message"
    id: Optional[int] = Field(default=None, primary_key=True)
    query_id: int = Field(foreign_key="review_query.id", index=True)
    step: str = Field(max_length=20)  # question | answer | follow_up | resolution
    author_id: int = Field(foreign_key="app_user.id")
    text: str = Field(sa_column=Column(Text, nullable=False))
    at: dt.datetime = Field(default_factory=utcnow)


class Waiver(SQLModel, table=True):
    """A commissioner's request that one error finding not block, and the reviewer's answer.

    Granted, it covers every finding with the same `fingerprint` at the same checkpoint, in later versions too
    (`isap.workbook.findings.fingerprint`).  The finding's rule, place and message are kept as asked about, so
    the request reads the same once the version that raised it is no longer the latest.
    """

    id: Optional[int] = Field(default=None, primary_key=True)
    proposal_id: int = Field(foreign_key="proposal.id", index=True)
    checkpoint: int
    fingerprint: str = Field(max_length=64, index=True)
    rule_id: str = Field(max_length=10)
    place: str = Field(max_length=200)
    message: str = Field(sa_column=Column(Text, nullable=False))
    version_number: int  # the version whose finding it was asked about
    reason: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default="requested", max_length=20)  # requested | granted | refused
    requested_by: int = Field(foreign_key="app_user.id")
    requested_at: dt.datetime = Field(default_factory=utcnow)
    ruled_by: Optional[int] = Field(default=None, foreign_key="app_user.id")
    ruled_at: Optional[dt.datetime] = None
    ruling: Optional[str] = Field(default=None, sa_column=Column(Text))


class EvidenceDocument(SQLModel, table=True):
    """A document attached to a proposal for a checkpoint (docs/workflow.md, "Evidence").

    Its bytes are kept in the store of originals under `sha256`, like a workbook's.  `reference` is what the
    workbook's evidence_reference values name; `reference_key` is it in the form references are compared in
    (case and runs of spaces ignored), unique within the proposal.
    """

    __tablename__ = "evidence_document"
    __table_args__ = (UniqueConstraint("proposal_id", "reference_key", name="uq_evidence_document_reference"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    proposal_id: int = Field(foreign_key="proposal.id", index=True)
    checkpoint: int
    kind: str = Field(max_length=40)  # isap.policy.evidence.EvidenceKind
    title: str = Field(max_length=200)
    reference: str = Field(max_length=120)
    reference_key: str = Field(max_length=120)
    filename: str = Field(max_length=255)
    document_type: str = Field(max_length=10)  # isap.workbook.documents.DocumentType
    size: int
    sha256: str = Field(max_length=64, index=True)
    attached_by: int = Field(foreign_key="app_user.id")
    attached_at: dt.datetime = Field(default_factory=utcnow)


class QueryDocument(SQLModel, table=True):
    """An evidence document an answer to a query gives in support (docs/decisions/0053-documents-with-answers.md):
    one named from those already attached, or one attached with the answer."""

    __tablename__ = "query_document"
    message_id: int = Field(foreign_key="query_message.id", primary_key=True)
    document_id: int = Field(foreign_key="evidence_document.id", primary_key=True)

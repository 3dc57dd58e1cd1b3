"""The ISAP review workflow: the service layer every interface goes through.

The CLI, the dashboard and the pipeline call these methods and nothing else,
so the rules of workflow.md hold whoever acts: the state machine and its
guards, organisation scoping (a commissioner never sees or touches another
organisation's proposal), optimistic concurrency (the second of two people
acting at once is refused, never silently applied), and the append-only
audit history.  Every method is one transaction: it either happens whole or
changes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from sqlalchemy import func, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session, select

from isap.policy import Policy
from isap.review import audit_chain, lifecycle, notices, sessions
from isap.review.lifecycle import (
    Action,
    Actor,
    ConditionFacts,
    ConditionStatus,
    Outcome,
    ProposalFacts,
    Role,
    State,
    WarningFacts,
)
from isap.store.db import StoreBusy, StoreError, check_schema, get_engine, store_error
from isap.store.files import FileStore, FileStoreError, default_store
from isap.store.models import (
    Acknowledgement,
    AuditEvent,
    Comment,
    Condition,
    Decision,
    FindingRecord,
    Notification,
    Organisation,
    Proposal,
    Rating,
    Review,
    SignInAttempt,
    SignInSession,
    SubmissionVersion,
    UnassignedUpload,
    User,
    utcnow,
)

SYSTEM_USER = "isap"
PEOPLE = (Role.COMMISSIONER, Role.REVIEWER, Role.ADMIN)  # the roles an account may be given
# The domains and ratings as plain values, in the order forms and reports show them.
DOMAINS = tuple(d.value for d in lifecycle.AssuranceDomain)
RATINGS = tuple(r.value for r in lifecycle.Rating)
DEFAULT_BASE_URL = "http://localhost:8501"  # the dashboard on this machine, when no address is set
DUE_SOON_WORKING_DAYS = 5  # a condition's owner and the contact are told this many working days ahead


class WorkflowError(Exception):
    """An action that cannot be done; the message is for the person who tried."""


class NotFound(WorkflowError):
    pass


class Forbidden(WorkflowError):
    pass


class Refused(WorkflowError):
    """A guard of the workflow refused the transition; nothing was changed."""


class Conflict(WorkflowError):
    """Someone else changed the proposal since it was loaded."""


class SignInRefused(WorkflowError):
    """A sign-in that did not succeed: wrong details, or a user name locked out after too many failures."""


class SessionEnded(WorkflowError):
    """A session token that no longer signs anyone in; the message says why, in a few words."""


@dataclass
class ConditionInput:
    text: str
    owner: str
    due_date: dt.date

    @classmethod
    def parse(cls, spec: str) -> "ConditionInput":
        """`TEXT|OWNER|YYYY-MM-DD`."""
        parts = spec.split("|")
        if len(parts) != 3 or not parts[0].strip() or not parts[1].strip():
            raise WorkflowError(f"a condition must be TEXT|OWNER|YYYY-MM-DD, got {spec!r}")
        try:
            due = dt.date.fromisoformat(parts[2].strip())
        except ValueError:
            raise WorkflowError(f"the condition's due date {parts[2].strip()!r} is not a date YYYY-MM-DD") from None
        return cls(parts[0].strip(), parts[1].strip(), due)


@dataclass
class UploadResult:
    reference: str | None
    version: int | None
    created_proposal: bool
    duplicate: bool
    errors: int
    warnings: int
    sha256: str | None
    report: dict = field(default_factory=dict)
    kept_as: str | None = None  # "unassigned" when the file could not name its proposal
    message: str = ""
    retitled: tuple[str, str] | None = None  # (old, new) when this version changed the proposal's title


class Service:
    def __init__(self, engine: Engine | None = None, files: FileStore | None = None, policy: Policy | None = None,
                 check_schema_version: bool = True, base_url: str | None = None):
        self.engine = engine or get_engine()
        self.files = files or default_store()
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

    @staticmethod
    def _user(s: Session, username: str) -> User:
        user = s.exec(select(User).where(User.username == username)).first()
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
        return Actor(user.username, Role(user.role), owns)

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
        return ProposalFacts(
            reference=p.reference, state=State(p.state), checkpoint=p.checkpoint,
            latest_version=latest.number if latest else None, latest_checkpoint=latest.checkpoint if latest else None,
            latest_errors=latest.errors if latest else 0, latest_warnings=latest.warnings if latest else 0,
            unanswered_warnings=unanswered, open_conditions=tuple(c for c, _ in open_conditions),
            open_earlier_conditions=tuple(c for c, cp in open_conditions if cp < p.checkpoint))

    def _guard(self, s: Session, action: Action, user: User, p: Proposal,
               item: ConditionFacts | WarningFacts | None = None) -> ProposalFacts:
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

    def _proposal(self, s: Session, user: User, reference: str) -> Proposal:
        p = s.exec(select(Proposal).where(Proposal.reference == reference)).first()
        if p is None or not self._may_see(user, p):
            # the same answer whether it does not exist or is another organisation's
            raise NotFound(f"no proposal {reference} that you can see")
        return p

    @staticmethod
    def _may_see(user: User, p: Proposal) -> bool:
        if user.role in (Role.REVIEWER, Role.ADMIN, Role.SYSTEM):
            return True
        return user.role == Role.COMMISSIONER and user.organisation_id == p.organisation_id

    def _audit(self, s: Session, p: Proposal | None, action: str, actor: str, from_state: str | None = None,
               to_state: str | None = None, reason: str | None = None, checkpoint: int | None = None) -> None:
        """Append to the history; `checkpoint` is the one the event belongs to (default: the proposal's now)."""
        if checkpoint is None and p is not None:
            checkpoint = p.checkpoint
        s.add(AuditEvent(proposal_id=p.id if p else None, action=action, actor=actor, from_state=from_state,
                         to_state=to_state, checkpoint=checkpoint, reason=reason, at=self.clock()))

    # ------------------------------------------------------------------ the outbox
    @staticmethod
    def _notify(s: Session, kind: str, key: str, recipients: Iterable[str | None], notice: notices.Notice,
                p: Proposal | None = None, checkpoint: int | None = None, attachment: str | None = None) -> bool:
        """Queue one message in the caller's transaction, so it exists exactly when the event does.

        `key` names the event: a second message for the same event is not queued
        (False).  A message with nobody to send it to is kept, as failed with the
        reason, so administrators see who was not told.
        """
        if s.exec(select(Notification.id).where(Notification.key == key)).first() is not None:
            return False
        import uuid

        to = list(dict.fromkeys(a.strip() for a in recipients if a and notices.is_address(a.strip())))
        row = Notification(key=key, kind=kind, proposal_reference=p.reference if p else None, checkpoint=checkpoint,
                           recipients="\n".join(to), subject=notices._line(notice.subject, 250), body=notice.body,
                           attachment=attachment, message_id=f"<{uuid.uuid4().hex}@isap>")
        if not to:
            row.status, row.last_error = "failed", "nobody to send it to: no e-mail address is recorded for them"
        s.add(row)
        return True

    def _link(self, p: Proposal) -> str:
        return notices.link(self.base_url, p.reference)

    @staticmethod
    def _reviewer_addresses(s: Session) -> list[str]:
        return [u.email for u in s.exec(select(User).where(User.role.in_(tuple(lifecycle.REVIEWERS)))
                                        .order_by(User.id)) if u.email]

    @staticmethod
    def _commissioner_addresses(s: Session, p: Proposal) -> list[str]:
        return [u.email for u in s.exec(select(User).where(User.organisation_id == p.organisation_id,
                                                           User.role == Role.COMMISSIONER).order_by(User.id))
                if u.email]

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

    def _transition(self, s: Session, p: Proposal, actor: User, action: str, to_state: State,
                    expected_version: int | None, reason: str | None = None, **changes: Any) -> None:
        from_state = p.state
        self._bump(s, p, expected_version, state=to_state, **changes)
        self._audit(s, p, action, actor.username, from_state, to_state, reason)

    @staticmethod
    def _latest(s: Session, p: Proposal) -> SubmissionVersion | None:
        return s.exec(select(SubmissionVersion).where(SubmissionVersion.proposal_id == p.id)
                      .order_by(SubmissionVersion.number.desc())).first()

    # ------------------------------------------------------------------ administration
    def add_organisation(self, code: str, name: str, actor: str | None = None) -> Organisation:
        def run(s: Session) -> Organisation:
            if actor is not None:
                self._role(self._user(s, actor), Role.ADMIN)
            code_u = code.strip().upper()
            if not code_u or not name.strip():
                raise WorkflowError("an organisation needs a code and a name")
            if s.exec(select(Organisation).where(Organisation.code == code_u)).first():
                raise Refused(f"organisation {code_u} already exists")
            org = Organisation(code=code_u, name=name.strip())
            s.add(org)
            s.flush()
            self._audit(s, None, "org_added", actor or "admin-cli", reason=f"{code_u} {name.strip()}")
            return org
        return self._run(run)

    def add_user(self, username: str, role: str, org_code: str | None = None, password: str | None = None,
                 email: str | None = None, actor: str | None = None) -> User:
        if role not in PEOPLE:
            raise WorkflowError(f"role must be one of {', '.join(PEOPLE)}, not {role!r}")
        if role == Role.COMMISSIONER and not org_code:
            raise WorkflowError("a commissioner needs an organisation (--org CODE)")

        def run(s: Session) -> User:
            if actor is not None:
                self._role(self._user(s, actor), Role.ADMIN)
            name = username.strip()
            if not name or name == SYSTEM_USER:
                raise WorkflowError(f"{username!r} cannot be used as a user name")
            if s.exec(select(User).where(User.username == name)).first():
                raise Refused(f"user {name} already exists")
            org_id = None
            if org_code:
                org = s.exec(select(Organisation).where(Organisation.code == org_code.strip().upper())).first()
                if org is None:
                    raise NotFound(f"unknown organisation {org_code}")
                org_id = org.id
            from isap.review.passwords import hash_password

            user = User(username=name, role=role, organisation_id=org_id, email=email,
                        password_hash=hash_password(password) if password else None)
            s.add(user)
            s.flush()
            self._audit(s, None, "user_added", actor or "admin-cli", reason=f"{name} ({role})")
            return user
        return self._run(run)

    def set_password(self, username: str, password: str) -> None:
        from isap.review.passwords import hash_password

        def run(s: Session) -> None:
            user = self._user(s, username)
            user.password_hash = hash_password(password)
            s.add(user)
        self._run(run)

    def has_user(self, username: str) -> bool:
        with self._session() as s:
            return s.exec(select(User).where(User.username == username)).first() is not None

    def user(self, username: str) -> User:
        return self._run(lambda s: self._user(s, username))

    def authenticate(self, username: str, password: str) -> User | None:
        """The account these details sign in, or None; throttled and recorded as `sign_in` is.

        Raises SignInRefused while the user name is locked out."""
        try:
            return self._check_password(username, password)[0]
        except SignInRefused as exc:
            if str(exc) == sessions.WRONG:
                return None
            raise

    def sign_in(self, username: str, password: str) -> tuple[User, str]:
        """Sign in with a local account: the account and a new session's token (kept by the browser only).

        Raises SignInRefused, in the same words whether or not the name has an
        account, for wrong details and while the name is locked out.
        """
        user, attempt_id = self._check_password(username, password)
        if user is None:
            raise SignInRefused(sessions.WRONG)
        token = sessions.new_token()

        def run(s: Session) -> None:
            now = utcnow()
            s.add(SignInSession(token_hash=sessions.token_hash(token), user_id=user.id, created_at=now,
                                last_seen_at=now, expires_at=sessions.expiry(now, self.policy)))
        self._run(run)
        return user, token

    def _check_password(self, username: str, password: str) -> tuple[User | None, int]:
        """Check a user name and password under the lockout; the attempt is recorded before the password is
        checked (as a failure until it succeeds), so guesses sent at once cannot slip past the count."""
        from isap.review.passwords import verify_password, verify_unknown

        name = sessions.recorded_name(username or "")

        def begin(s: Session) -> tuple[int, User | None]:
            if s.bind.dialect.name == "postgresql":  # one check-and-record at a time per name
                s.execute(text("SELECT pg_advisory_xact_lock(hashtext(:n))"), {"n": "isap-sign-in:" + name})
            now = utcnow()
            since = now - sessions.lookback(self.policy)
            attempts = s.exec(select(SignInAttempt.at, SignInAttempt.outcome)
                              .where(SignInAttempt.username == name, SignInAttempt.at >= since)
                              .order_by(SignInAttempt.at, SignInAttempt.id)).all()
            until = sessions.locked_until(attempts, now, self.policy)
            outcome = sessions.REFUSED if until is not None else sessions.FAILED
            attempt = SignInAttempt(username=name, outcome=outcome, at=now)
            s.add(attempt)
            s.flush()
            if until is not None:
                return -1, until
            # looked up by the name as typed: the cut one recorded could belong to someone else
            user = s.exec(select(User).where(User.username == (username or "").strip())).first()
            return attempt.id, user

        attempt_id, found = self._run(begin)
        if attempt_id == -1:
            raise SignInRefused(sessions.LOCKED.format(until=found.strftime("%H:%M")))
        if found is None or not found.password_hash or found.role == Role.SYSTEM:
            verify_unknown(password)
            raise SignInRefused(sessions.WRONG)
        if not verify_password(found.password_hash, password):
            raise SignInRefused(sessions.WRONG)

        def succeeded(s: Session) -> None:
            s.execute(update(SignInAttempt).where(SignInAttempt.id == attempt_id)
                      .values(outcome=sessions.SUCCEEDED))
        self._run(succeeded)
        return found, attempt_id

    def session_user(self, token: str) -> User:
        """The account a session token signs in; SessionEnded (with a short reason) when it no longer does.

        Each use counts as activity for the idle timeout.
        """
        def run(s: Session) -> User | str:
            row = s.exec(select(SignInSession).where(SignInSession.token_hash == sessions.token_hash(token))).first()
            if row is None:
                return "unknown"
            now = utcnow()
            state = sessions.session_state(row.created_at, row.last_seen_at, row.expires_at, row.ended_reason, now,
                                           self.policy)
            if not state.valid:
                if row.ended_reason is None:
                    row.ended_at, row.ended_reason = now, state.reason
                    s.add(row)
                return state.reason
            if now - row.last_seen_at > dt.timedelta(seconds=30):  # not a write on every page run
                row.last_seen_at = now
                s.add(row)
            return s.get(User, row.user_id)
        found = self._run(run)
        if isinstance(found, str):
            raise SessionEnded(sessions.ENDED_REASONS[found])
        return found

    def sign_out(self, token: str) -> None:
        """End a session on the server: the token signs no one in again, in any tab or browser."""
        def run(s: Session) -> None:
            s.execute(update(SignInSession).where(SignInSession.token_hash == sessions.token_hash(token),
                                                  SignInSession.ended_at.is_(None))
                      .values(ended_at=utcnow(), ended_reason="signed_out"))
        self._run(run)

    def unlock(self, username: str, actor: str | None = None) -> None:
        """Let a locked-out user name sign in again at once (an administrator's action)."""
        name = sessions.recorded_name(username)

        def run(s: Session) -> None:
            if actor is not None:
                self._role(self._user(s, actor), Role.ADMIN)
            s.add(SignInAttempt(username=name, outcome=sessions.UNLOCKED))
            self._audit(s, None, "sign_in_unlocked", actor or "admin-cli", reason=name)
        self._run(run)

    def sign_in_attempts(self, actor: str, limit: int = 200) -> list[dict]:
        """The latest failed and refused sign-ins, newest first (administrators only)."""
        def run(s: Session) -> list[dict]:
            self._role(self._user(s, actor), Role.ADMIN)
            q = (select(SignInAttempt).where(SignInAttempt.outcome.in_((sessions.FAILED, sessions.REFUSED)))
                 .order_by(SignInAttempt.id.desc()).limit(limit))
            return [{"at": _iso(a.at), "username": a.username, "outcome": a.outcome} for a in s.exec(q)]
        return self._run(run)

    # ------------------------------------------------------------------ the audit chain
    def verify_audit(self, actor: str | None = None) -> audit_chain.Verification:
        """Walk the audit chain; the outcome is itself recorded in the history (what administrators see)."""
        def check(s: Session) -> audit_chain.Verification:
            if actor is not None:
                self._role(self._user(s, actor), Role.ADMIN)
            return audit_chain.verify(s.connection())
        result = self._run(check)

        def record(s: Session) -> None:
            self._audit(s, None, "audit_verified" if result.ok else "audit_chain_broken", actor or SYSTEM_USER,
                        reason=result.summary())
        self._run(record)
        return result

    def audit_head(self) -> str:
        """The hash of the latest audit event: printed in reports so a later rewrite can be shown."""
        return self._run(lambda s: audit_chain.head(s.connection()))

    def last_audit_verification(self, actor: str) -> dict | None:
        def run(s: Session) -> dict | None:
            self._role(self._user(s, actor), Role.ADMIN)
            e = s.exec(select(AuditEvent).where(AuditEvent.action.in_(("audit_verified", "audit_chain_broken")))
                       .order_by(AuditEvent.id.desc())).first()
            return None if e is None else {"at": _iso(e.at), "ok": e.action == "audit_verified",
                                           "summary": e.reason, "by": e.actor}
        return self._run(run)

    def identify(self, email: str | None, email_verified: bool | None = None) -> User:
        """The account a single sign-on identity belongs to, matched on its e-mail address.

        Roles and organisations stay in isap (an identity provider only proves
        who someone is), so an identity signs in only when exactly one account
        carries its address, and never when the provider says the address is
        unverified.
        """
        address = (email or "").strip().lower()
        if not address:
            raise Forbidden("your identity provider did not share an e-mail address, so no ISAP account matches it")
        if email_verified is False:
            raise Forbidden(f"your identity provider has not verified {address}")

        def run(s: Session) -> User:
            users = s.exec(select(User).where(func.lower(User.email) == address, User.role != Role.SYSTEM)).all()
            if not users:
                raise Forbidden(f"{address} has no ISAP account: ask an ISAP administrator to add you")
            if len(users) > 1:
                raise Forbidden(f"{address} belongs to more than one ISAP account: ask an ISAP administrator")
            return users[0]
        return self._run(run)

    def _system_user(self, s: Session) -> User:
        user = s.exec(select(User).where(User.username == SYSTEM_USER)).first()
        if user is None:
            user = User(username=SYSTEM_USER, role=Role.SYSTEM)
            s.add(user)
            s.flush()
        return user

    # ------------------------------------------------------------------ upload
    def upload(self, actor: str, filename: str, data: bytes, report: Any = None) -> UploadResult:
        """Check a workbook and keep it: a new proposal, a new version, or (identical bytes) nothing new."""
        import hashlib

        from isap.rules.engine import check_bytes

        sha = hashlib.sha256(data).hexdigest()
        report = report if report is not None else check_bytes(data, filename, self.policy)
        report.file = Path(filename).name
        report_dict = report.to_dict()
        unassigned = report.proposal_reference is None or report.lead_commissioner_code is None
        if unassigned:  # refused before anything is stored
            self._run(lambda s: self._within_quota(s, self._user(s, actor), len(data)))

        def keep_bytes() -> None:
            # Only once every guard has let the upload through, so a refused upload leaves nothing behind;
            # inside the transaction, so the record never exists without its bytes.
            try:
                self.files.put(data)
            except FileStoreError as exc:
                raise StoreError(str(exc)) from None

        def run(s: Session) -> UploadResult:
            user = self._user(s, actor)
            self._may_ever(Action.UPLOAD, user)
            ref = report.proposal_reference
            code = report.lead_commissioner_code
            summary = report.summary
            contact = getattr(report, "contact_email", None)
            contact = contact.strip() if isinstance(contact, str) and notices.is_address(contact.strip()) else None
            if unassigned:
                self._within_quota(s, user, len(data))  # again, in the transaction that keeps it
                keep_bytes()
                kept = UnassignedUpload(sha256=sha, filename=Path(filename).name[:255], size=len(data),
                                        uploaded_by=user.id, report_json=json.dumps(report_dict))
                s.add(kept)
                s.flush()
                self._audit(s, None, "upload_unassigned", user.username,
                            reason=f"{Path(filename).name}: kept as unassigned upload {kept.id}")
                return UploadResult(None, None, False, False, summary["error"], summary["warning"], sha,
                                    report_dict, kept_as=f"unassigned upload {kept.id}",
                                    message="The file does not name its proposal (a valid proposal_reference and "
                                            "lead_commissioner_code on the Cover); it is kept, and its findings are "
                                            "below.")
            org = s.exec(select(Organisation).where(Organisation.code == code)).first()
            if user.role == Role.COMMISSIONER:
                mine = s.get(Organisation, user.organisation_id)
                if mine is None or mine.code != code:
                    raise Forbidden(f"the workbook's lead_commissioner_code is {code}, not your organisation's "
                                    f"({mine.code if mine else 'none'})")
            if org is None:
                raise NotFound(f"unknown organisation {code}: an administrator must add it first")
            p = s.exec(select(Proposal).where(Proposal.reference == ref)).first()
            created = False
            if p is None:
                title = report_dict.get("title") or ""
                now = self.clock()
                p = Proposal(reference=ref, title=title, organisation_id=org.id, checkpoint=1, state=State.DRAFT,
                             contact_email=contact, state_since=now, created_at=now, updated_at=now)
                s.add(p)
                s.flush()
                created = True
                self._audit(s, p, "proposal_created", user.username, None, State.DRAFT)
            elif p.organisation_id != org.id or not self._may_see(user, p):
                raise Forbidden(f"{ref} belongs to another organisation")
            existing = s.exec(select(SubmissionVersion).where(SubmissionVersion.proposal_id == p.id,
                                                              SubmissionVersion.sha256 == sha)).first()
            if existing is not None:
                return UploadResult(ref, existing.number, False, True, existing.errors, existing.warnings, sha,
                                    report_dict, message=f"Identical to version {existing.number}: nothing new kept.")
            self._guard(s, Action.UPLOAD, user, p)
            keep_bytes()
            number = (s.exec(select(func.max(SubmissionVersion.number))
                             .where(SubmissionVersion.proposal_id == p.id)).one() or 0) + 1
            v = SubmissionVersion(proposal_id=p.id, number=number, uploaded_at=self.clock(),
                                  sha256=sha, filename=Path(filename).name[:255],
                                  size=len(data), uploaded_by=user.id, checkpoint=report.checkpoint,
                                  errors=summary["error"], warnings=summary["warning"], infos=summary["info"],
                                  catalogue_version=report.catalogue_version, policy_json=json.dumps(report.policy),
                                  report_json=json.dumps(report_dict))
            s.add(v)
            s.flush()
            s.add_all(_finding_record(v.id, f) for f in report.findings)
            changes: dict[str, Any] = {}
            if report.provider_type and report.provider_type != p.provider_type:
                changes["provider_type"] = report.provider_type
            retitled_from = None
            if report.title and report.title != p.title:
                changes["title"] = report.title
                retitled_from = p.title
            if contact and contact != p.contact_email:
                changes["contact_email"] = contact
            self._bump(s, p, None, **changes)
            self._audit(s, p, "version_uploaded", user.username, reason=f"version {number} ({Path(filename).name})")
            if retitled_from is not None:
                self._audit(s, p, "title_changed", user.username,
                            reason=f"version {number} changed the title from “{retitled_from}” to “{report.title}”")
            system = self._system_user(s)
            self._audit(s, p, "checked", system.username,
                        reason=f"version {number}: {summary['error']} error(s), {summary['warning']} warning(s)")
            self._notify(s, "version_checked", f"checked:{p.reference}:v{number}", [p.contact_email],
                         notices.version_checked(p.reference, p.title, number, summary["error"], summary["warning"],
                                                 self._link(p)), p, p.checkpoint)
            mismatch = ("" if report.checkpoint == p.checkpoint
                        else lifecycle.checkpoint_mismatch(ref, number, report.checkpoint, p.checkpoint))
            return UploadResult(ref, number, created, False, summary["error"], summary["warning"], sha, report_dict,
                                message=mismatch,
                                retitled=None if created or retitled_from is None else (retitled_from, report.title))
        return self._run(run)

    def _within_quota(self, s: Session, user: User, size: int) -> None:
        """Refuse an upload that would be kept unassigned past its organisation's quota (policy).

        Refused files and files that cannot name their proposal are kept byte
        for byte, so without a bound anyone could fill the disk with them.  The
        quota is per organisation (administrators without one share a quota);
        what is already kept is never touched.
        """
        q = (select(func.count(UnassignedUpload.id), func.coalesce(func.sum(UnassignedUpload.size), 0))
             .join(User, User.id == UnassignedUpload.uploaded_by))
        q = q.where(User.organisation_id == user.organisation_id if user.organisation_id is not None
                    else User.organisation_id.is_(None))
        count, used = s.exec(q).one()
        most, most_bytes = self.policy.max_kept_unassigned_uploads, self.policy.max_kept_unassigned_bytes
        if count >= most or used + size > most_bytes:
            raise Refused(f"your organisation already keeps {count} upload(s) that were refused or could not name "
                          f"their proposal ({_size(used)}); the policy allows at most {most} uploads and "
                          f"{_size(most_bytes)}, so this file was not kept. Upload a workbook that names its "
                          "proposal on the Cover, or ask an administrator to clear the unassigned uploads")

    # ------------------------------------------------------------------ commissioner actions
    def acknowledge(self, actor: str, reference: str, rule_id: str, note: str, cell: str | None = None,
                    expected_version: int | None = None, finding_id: int | None = None,
                    sheet: str | None = None) -> int:
        """Give one warning of the latest version its explanatory note; returns the finding's id.

        Every warning can be named: by `finding_id` (as `show` lists it), or by
        its rule narrowed by `cell` (`-` for the occurrence that has no cell)
        and `sheet`.  A name that fits several warnings is refused with the way
        to name each of them.
        """
        if not note or not note.strip():
            raise WorkflowError("an acknowledgement needs an explanatory note")

        def run(s: Session) -> int:
            user = self._user(s, actor)
            p = self._proposal(s, user, reference)
            self._guard(s, Action.ACKNOWLEDGE, user, p)
            latest = self._latest(s, p)
            q = select(FindingRecord).where(FindingRecord.version_id == latest.id, FindingRecord.rule_id == rule_id,
                                            FindingRecord.severity == "warning").order_by(FindingRecord.id)
            found = list(s.exec(q))
            wanted = []
            if finding_id is not None:
                found = [f for f in found if f.id == finding_id]
                wanted.append(f"number {finding_id}")
            if cell is not None and cell.strip():
                no_cell = cell.strip() == "-"
                found = [f for f in found if (not f.cell if no_cell else (f.cell or "") == cell.strip().upper())]
                wanted.append("without a cell" if no_cell else f"at {cell.strip().upper()}")
            if sheet is not None and sheet.strip():
                found = [f for f in found if (f.sheet or "").casefold() == sheet.strip().casefold()]
                wanted.append(f"on sheet {sheet.strip()}")
            if not found:
                raise NotFound(f"version {latest.number} of {reference} has no {rule_id} warning"
                               + (" " + " ".join(wanted) if wanted else ""))
            if len(found) > 1:
                ways = "; ".join(f"--finding {f.id} ({_place(f)})" for f in found)
                raise WorkflowError(f"{rule_id} is raised {len(found)} times: say which with {ways}")
            f = found[0]
            answered = s.exec(select(Acknowledgement).where(Acknowledgement.finding_id == f.id)).first() is not None
            self._guard(s, Action.ACKNOWLEDGE, user, p, WarningFacts(rule_id, answered))
            s.add(Acknowledgement(finding_id=f.id, note=note.strip(), by=user.id, at=self.clock()))
            self._bump(s, p, expected_version)
            self._audit(s, p, "warning_acknowledged", user.username,
                        reason=f"{rule_id} {_place(f)}: {note.strip()}")
            return f.id
        return self._run(run)

    def submit(self, actor: str, reference: str, expected_version: int | None = None) -> None:
        def run(s: Session) -> None:
            user = self._user(s, actor)
            p = self._proposal(s, user, reference)
            facts = self._guard(s, Action.SUBMIT, user, p)
            self._transition(s, p, user, Action.SUBMIT, lifecycle.TABLE[Action.SUBMIT].to_state, expected_version,
                             reason=f"version {facts.latest_version} for checkpoint {p.checkpoint}")
            org = s.get(Organisation, p.organisation_id)
            self._notify(s, "submitted", f"submitted:{p.reference}:{p.version}", self._reviewer_addresses(s),
                         notices.submitted(p.reference, p.title, org.name if org else "", facts.latest_version,
                                           p.checkpoint, self.policy.review_target_working_days, self._link(p)),
                         p, p.checkpoint)
        self._run(run)

    def withdraw(self, actor: str, reference: str, reason: str | None = None,
                 expected_version: int | None = None) -> None:
        def run(s: Session) -> None:
            user = self._user(s, actor)
            p = self._proposal(s, user, reference)
            self._guard(s, Action.WITHDRAW, user, p)
            self._transition(s, p, user, Action.WITHDRAW, lifecycle.TABLE[Action.WITHDRAW].to_state,
                             expected_version, reason=reason)
        self._run(run)

    def answer_condition(self, actor: str, reference: str, condition_id: int, response: str) -> None:
        if not response.strip():
            raise WorkflowError("an answer needs some text")

        def run(s: Session) -> None:
            user = self._user(s, actor)
            p = self._proposal(s, user, reference)
            c = self._guarded_condition(s, Action.ANSWER_CONDITION, user, p, condition_id)
            c.response = response.strip()
            s.add(c)
            self._bump(s, p, None)
            self._audit(s, p, "condition_answered", user.username,
                        reason=f"condition {condition_id}: {response.strip()}")
        self._run(run)

    # ------------------------------------------------------------------ reviewer actions
    def _allowed(self, s: Session, action: Action, actor: str, reference: str) -> tuple[User, Proposal]:
        """The acting user and the proposal, once the state machine allows `action`; its reason otherwise."""
        user = self._user(s, actor)
        p = self._proposal(s, user, reference)
        self._guard(s, action, user, p)
        return user, p

    def take(self, actor: str, reference: str, expected_version: int | None = None) -> None:
        def run(s: Session) -> None:
            user, p = self._allowed(s, Action.TAKE, actor, reference)
            latest = self._latest(s, p)
            s.add(Review(proposal_id=p.id, version_id=latest.id, checkpoint=p.checkpoint, reviewer_id=user.id,
                         started_at=self.clock()))
            self._transition(s, p, user, Action.TAKE, lifecycle.TABLE[Action.TAKE].to_state, expected_version)
            self._notify(s, "taken_into_review", f"taken:{p.reference}:{p.version}", [p.contact_email],
                         notices.taken(p.reference, p.title, p.checkpoint, user.username, self._link(p)),
                         p, p.checkpoint)
        self._run(run)

    def return_submission(self, actor: str, reference: str, reason: str,
                          expected_version: int | None = None) -> None:
        if not reason or not reason.strip():
            raise WorkflowError("returning a submission needs a reason")

        def run(s: Session) -> None:
            user, p = self._allowed(s, Action.RETURN, actor, reference)
            self._transition(s, p, user, Action.RETURN, lifecycle.TABLE[Action.RETURN].to_state, expected_version,
                             reason=reason.strip())
        self._run(run)

    def comment(self, actor: str, reference: str, text: str) -> None:
        if not text or not text.strip():
            raise WorkflowError("a comment needs some text")

        def run(s: Session) -> None:
            user, p = self._allowed(s, Action.COMMENT, actor, reference)
            s.add(Comment(proposal_id=p.id, checkpoint=p.checkpoint, author_id=user.id, text=text.strip(),
                          at=self.clock()))
            self._bump(s, p, None)
            self._audit(s, p, "comment", user.username, reason=text.strip())
        self._run(run)

    def decide(self, actor: str, reference: str, outcome: str, ratings: dict[str, str], rationale: str,
               conditions: Iterable[ConditionInput] = (), expected_version: int | None = None) -> None:
        conditions = list(conditions)
        if outcome not in tuple(Outcome):
            raise WorkflowError(f"outcome must be one of {', '.join(Outcome)}, not {outcome!r}")
        outcome = Outcome(outcome)
        unknown = [d for d in ratings if d not in DOMAINS]
        bad = [f"{d}={r}" for d, r in ratings.items() if r not in RATINGS]
        if unknown:
            raise WorkflowError(f"unknown assurance domain(s): {', '.join(unknown)} (use {', '.join(DOMAINS)})")
        if bad:
            raise WorkflowError(f"ratings must be green, amber or red: {', '.join(bad)}")
        incomplete = lifecycle.decision_refusal(outcome, ratings, rationale, len(conditions))
        if incomplete is not None:
            raise Refused(incomplete.reason)

        def run(s: Session) -> None:
            user, p = self._allowed(s, Action.DECIDE, actor, reference)
            review = s.exec(select(Review).where(Review.proposal_id == p.id, Review.decided_at.is_(None))
                            .order_by(Review.id.desc())).first()
            if review is None:
                # another reviewer's decision landed between reading the proposal and reading its review
                raise Conflict(f"{reference} was changed by someone else since you loaded it; reload and try again")
            review.decided_at = self.clock()
            s.add(review)
            s.add_all(Rating(review_id=review.id, domain=d, rating=ratings[d]) for d in DOMAINS)
            s.add(Decision(review_id=review.id, proposal_id=p.id, checkpoint=p.checkpoint, outcome=outcome,
                           rationale=rationale.strip(), by=user.id, at=self.clock()))
            for c in conditions:
                s.add(Condition(proposal_id=p.id, review_id=review.id, checkpoint=p.checkpoint, text=c.text,
                                owner=c.owner, due_date=c.due_date))
            decided_at = p.checkpoint  # the decision and its conditions belong to the checkpoint decided
            from_state = p.state
            to_state, checkpoint = lifecycle.outcome_effect(outcome, decided_at)
            changes = {"checkpoint": checkpoint} if checkpoint != decided_at else {}
            ratings_text = ", ".join(f"{d}={ratings[d]}" for d in DOMAINS)
            self._bump(s, p, expected_version, state=to_state, **changes)
            self._audit(s, p, f"{Action.DECIDE}:{outcome}", user.username, from_state, to_state,
                        f"{rationale.strip()} [{ratings_text}]", checkpoint=decided_at)
            for c in conditions:
                self._audit(s, p, "condition_raised", user.username,
                            reason=f"{c.text} (owner {c.owner}, due {c.due_date.isoformat()})", checkpoint=decided_at)
            notice = notices.decided(p.reference, p.title, decided_at, outcome, rationale.strip(),
                                     [(c.text, c.owner, c.due_date) for c in conditions], self._link(p))
            self._notify(s, "decision_recorded", f"decided:{p.reference}:review{review.id}",
                         [p.contact_email, *self._commissioner_addresses(s, p)], notice, p, decided_at,
                         attachment="decision_letter")
        self._run(run)

    def _guarded_condition(self, s: Session, action: Action, user: User, p: Proposal, condition_id: int) -> Condition:
        """The proposal's condition number `condition_id` (1, 2, … within the proposal), once the state machine
        allows `action` on it."""
        c = None
        if isinstance(condition_id, int) and condition_id >= 1:
            c = s.exec(select(Condition).where(Condition.proposal_id == p.id).order_by(Condition.id)
                       .offset(condition_id - 1).limit(1)).first()
        self._guard(s, action, user, p, ConditionFacts(condition_id, ConditionStatus(c.status)) if c else None)
        if c is None:
            raise NotFound(f"{p.reference} has no condition {condition_id}")
        return c

    def discharge(self, actor: str, reference: str, condition_id: int, note: str, carry_forward: bool = False) -> None:
        if not note or not note.strip():
            raise WorkflowError("discharging a condition needs a note")

        def run(s: Session) -> None:
            user = self._user(s, actor)
            p = self._proposal(s, user, reference)
            action = Action.CARRY_FORWARD_CONDITION if carry_forward else Action.DISCHARGE_CONDITION
            c = self._guarded_condition(s, action, user, p, condition_id)
            c.status = ConditionStatus.CARRIED_FORWARD if carry_forward else ConditionStatus.DISCHARGED
            c.closed_by, c.closed_at, c.closing_note = user.id, self.clock(), note.strip()
            s.add(c)
            self._bump(s, p, None)
            self._audit(s, p, "condition_carried_forward" if carry_forward else "condition_discharged",
                        user.username, reason=f"condition {condition_id}: {note.strip()}")
        self._run(run)

    # ------------------------------------------------------------------ reading
    @staticmethod
    def _scoped(q, user: User, doing: str):
        """A query over proposals narrowed to those `user` may see: a commissioner their organisation's,
        a reviewer all; anyone else may not ask."""
        if user.role == Role.COMMISSIONER:
            return q.where(Proposal.organisation_id == user.organisation_id)
        if user.role not in lifecycle.REVIEWERS:
            raise Forbidden(f"{user.username} cannot {doing}")
        return q

    def list_proposals(self, actor: str, state: str | None = None) -> list[dict]:
        if state is not None and state not in tuple(State):
            raise WorkflowError(f"state must be one of {', '.join(State)}")

        def run(s: Session) -> list[dict]:
            user = self._user(s, actor)
            latest = (select(SubmissionVersion.proposal_id, func.max(SubmissionVersion.number).label("n"))
                      .group_by(SubmissionVersion.proposal_id).subquery())
            # plain columns, not ORM objects: the reviewer's list holds every proposal in England
            q = (select(Proposal.reference, Proposal.title, Organisation.code, Organisation.name,
                        Proposal.provider_type, Proposal.checkpoint, Proposal.state, Proposal.state_since,
                        Proposal.version, latest.c.n, Proposal.updated_at)
                 .join(Organisation, Organisation.id == Proposal.organisation_id)
                 .outerjoin(latest, latest.c.proposal_id == Proposal.id))
            q = self._scoped(q, user, "list proposals")
            if state:
                q = q.where(Proposal.state == state)
            keys = ("reference", "title", "commissioner", "commissioner_name", "provider_type", "checkpoint",
                    "state", "state_since", "version", "latest_version", "updated_at")
            out = []
            for row in s.execute(q.order_by(Proposal.reference)):
                d = dict(zip(keys, row))
                d["state_since"] = _iso(d["state_since"])
                d["updated_at"] = _iso(d["updated_at"])
                out.append(d)
            return out
        return self._run(run)

    def review_queue(self, actor: str, today: dt.date | None = None) -> list[dict]:
        """The reviewer's pipeline: every visible proposal with its waiting time against the policy target."""
        import numpy as np

        from isap.policy import working_days

        rows = self.list_proposals(actor)
        if not rows:
            return rows
        today = np.datetime64(today or dt.date.today(), "D")
        since = np.array([r["state_since"][:10] for r in rows], dtype="datetime64[D]")
        days = (today - since).astype(int)
        working = working_days.count(since, today, self.policy.working_days_calendar)
        target = self.policy.review_target_working_days
        for r, d, w in zip(rows, days.tolist(), working.tolist()):
            r["days_in_state"] = d
            r["working_days_in_state"] = w
            r["overdue"] = lifecycle.waiting_for_review(r["state"]) and w > target
        return rows

    @staticmethod
    def _summary(p: Proposal, org: Organisation, latest_version: int | None) -> dict:
        return {
            "reference": p.reference, "title": p.title, "commissioner": org.code, "commissioner_name": org.name,
            "provider_type": p.provider_type, "checkpoint": p.checkpoint, "state": p.state,
            "state_since": p.state_since.isoformat(), "version": p.version, "latest_version": latest_version,
            "updated_at": p.updated_at.isoformat(),
        }

    def proposal_facts(self, actor: str, reference: str) -> tuple[ProposalFacts, Actor]:
        """What the state machine knows about a proposal and the person looking at it (for pages and tests)."""
        def run(s: Session) -> tuple[ProposalFacts, Actor]:
            user = self._user(s, actor)
            p = self._proposal(s, user, reference)
            return self._facts(s, p), self._actor(user, p)
        return self._run(run)

    def allowed_actions(self, actor: str, reference: str) -> list[lifecycle.ActionOption]:
        return lifecycle.allowed_actions(*self.proposal_facts(actor, reference))

    def next_step(self, actor: str, reference: str) -> str:
        return lifecycle.next_step(*self.proposal_facts(actor, reference))

    def show(self, actor: str, reference: str) -> dict:
        def run(s: Session) -> dict:
            user = self._user(s, actor)
            p = self._proposal(s, user, reference)
            facts, who = self._facts(s, p), self._actor(user, p)
            org = s.get(Organisation, p.organisation_id)
            users = {u.id: u.username for u in s.exec(select(User))}
            versions = list(s.exec(select(SubmissionVersion).where(SubmissionVersion.proposal_id == p.id)
                                   .order_by(SubmissionVersion.number)))
            out = self._summary(p, org, versions[-1].number if versions else None)
            # what the state machine says, so a page renders it and decides nothing
            out["next_step"] = lifecycle.next_step(facts, who)
            out["actions"] = [{"action": o.action.value, "allowed": o.allowed, "reason": o.reason}
                              for o in lifecycle.allowed_actions(facts, who)]
            out["versions"] = [{
                "number": v.number, "sha256": v.sha256, "filename": v.filename, "size": v.size,
                "checkpoint": v.checkpoint, "errors": v.errors, "warnings": v.warnings,
                "uploaded_by": users.get(v.uploaded_by), "uploaded_at": v.uploaded_at.isoformat(),
                "catalogue_version": v.catalogue_version, "policy": json.loads(v.policy_json),
            } for v in versions]
            findings = []
            if versions:
                acks = {a.finding_id: a for a in s.exec(
                    select(Acknowledgement).join(FindingRecord, FindingRecord.id == Acknowledgement.finding_id)
                    .where(FindingRecord.version_id == versions[-1].id))}
                for f in s.exec(select(FindingRecord).where(FindingRecord.version_id == versions[-1].id)
                                .order_by(FindingRecord.id)):
                    d = {k: getattr(f, k) for k in ("id", "rule_id", "severity", "domain", "sheet", "row", "column",
                                                    "cell", "message", "source")}
                    a = acks.get(f.id)
                    d["acknowledged"] = ({"note": a.note, "by": users.get(a.by), "at": a.at.isoformat()}
                                         if a else None)
                    findings.append(d)
            out["findings"] = findings
            out["conditions"] = [{
                "id": number, "checkpoint": c.checkpoint, "text": c.text, "owner": c.owner,
                "due_date": c.due_date.isoformat(), "status": c.status, "response": c.response,
                "closing_note": c.closing_note,
            } for number, c in enumerate(s.exec(select(Condition).where(Condition.proposal_id == p.id)
                                                .order_by(Condition.id)), start=1)]
            reviews = []
            for r in s.exec(select(Review).where(Review.proposal_id == p.id).order_by(Review.id)):
                dec = s.exec(select(Decision).where(Decision.review_id == r.id)).first()
                reviews.append({
                    "checkpoint": r.checkpoint, "reviewer": users.get(r.reviewer_id),
                    "version": next((v.number for v in versions if v.id == r.version_id), None),
                    "started_at": r.started_at.isoformat(),
                    "ratings": {x.domain: x.rating for x in s.exec(select(Rating).where(Rating.review_id == r.id))},
                    "decision": ({"outcome": dec.outcome, "rationale": dec.rationale, "by": users.get(dec.by),
                                  "at": dec.at.isoformat()} if dec else None),
                })
            out["reviews"] = reviews
            out["comments"] = [{"author": users.get(c.author_id), "checkpoint": c.checkpoint, "text": c.text,
                                "at": c.at.isoformat()}
                               for c in s.exec(select(Comment).where(Comment.proposal_id == p.id).order_by(Comment.id))]
            out["history"] = [{"action": e.action, "actor": e.actor, "from_state": e.from_state,
                               "to_state": e.to_state, "checkpoint": e.checkpoint, "at": e.at.isoformat(),
                               "reason": e.reason}
                              for e in s.exec(select(AuditEvent).where(AuditEvent.proposal_id == p.id)
                                              .order_by(AuditEvent.id))]
            return out
        return self._run(run)

    def states_over_time(self, actor: str) -> list[dict]:
        """How many visible proposals were in each state at the end of each day (from the audit history)."""
        def run(s: Session) -> list[dict]:
            user = self._user(s, actor)
            q = (select(AuditEvent.proposal_id, AuditEvent.at, AuditEvent.to_state)
                 .join(Proposal, Proposal.id == AuditEvent.proposal_id)
                 .where(AuditEvent.to_state.is_not(None)).order_by(AuditEvent.at, AuditEvent.id))
            q = self._scoped(q, user, "see the review queue")
            current: dict[int, str] = {}
            counts: dict[str, int] = {}
            by_day: dict[str, dict[str, int]] = {}
            for pid, at, to_state in s.execute(q):
                before = current.get(pid)
                if before is not None:
                    counts[before] -= 1
                current[pid] = to_state
                counts[to_state] = counts.get(to_state, 0) + 1
                by_day[_iso(at)[:10]] = dict(counts)
            return [{"day": d, **c} for d, c in sorted(by_day.items())]
        return self._run(run)

    def alert_administrators(self, key: str, subject: str, body: str) -> dict | None:
        """Queue a message about the system itself to every administrator (once per `key`); what was queued."""
        def run(s: Session) -> dict | None:
            admins = [u.email for u in s.exec(select(User).where(User.role == Role.ADMIN))]
            if self._notify(s, "administrator_alert", key, admins, notices.Notice(subject, body)):
                return {"kind": "administrator_alert", "key": key, "reference": None, "subject": subject}
            return None
        return self._run(run)

    def sha_known(self, sha256: str) -> bool:
        """Whether these exact bytes were assured already (as a version or an unassigned upload)."""
        def run(s: Session) -> bool:
            return bool(s.exec(select(SubmissionVersion.id).where(SubmissionVersion.sha256 == sha256)).first()
                        or s.exec(select(UnassignedUpload.id).where(UnassignedUpload.sha256 == sha256)).first())
        return self._run(run)

    def _due(self, s: Session, today: dt.date) -> list[dict]:
        """The time-based notifications owed on `today`, each with the key that makes it once only."""
        from isap.policy import working_days

        calendar = self.policy.working_days_calendar
        target = self.policy.review_target_working_days
        out = []
        reviewers = self._reviewer_addresses(s)
        for p in s.exec(select(Proposal).where(Proposal.state.in_(tuple(lifecycle.WAITING_FOR_REVIEW)))
                        .order_by(Proposal.reference)):
            since = p.state_since.date()
            waited = working_days.working_days_between(since, today, calendar)
            if waited > target:
                # once per wait: a proposal returned and submitted again waits afresh
                out.append({"kind": "review", "key": p.reference, "proposal": p, "to": reviewers,
                            "outbox_key": f"review-overdue:{p.reference}:{p.state}:{p.state_since.isoformat()}",
                            "notice": notices.review_overdue(p.reference, p.title, State(p.state), since, waited,
                                                             target, self._link(p))})
        soon = working_days.add_working_days(today, DUE_SOON_WORKING_DAYS, calendar)
        for c, p in s.exec(select(Condition, Proposal).join(Proposal, Proposal.id == Condition.proposal_id)
                           .where(Condition.status == ConditionStatus.OPEN, Condition.due_date <= soon)
                           .order_by(Condition.id)):
            to = [c.owner, p.contact_email]
            if lifecycle.condition_overdue(c.due_date, c.status, today):
                out.append({"kind": "condition", "key": f"{p.reference}-{c.id}", "proposal": p, "to": to,
                            "outbox_key": f"condition-overdue:{c.id}",
                            "notice": notices.condition_overdue(p.reference, p.title, c.text, c.owner, c.due_date,
                                                                self._link(p))})
            else:
                left = working_days.working_days_between(today, c.due_date, calendar)
                out.append({"kind": "condition_due", "key": f"{p.reference}-{c.id}", "proposal": p, "to": to,
                            "outbox_key": f"condition-due:{c.id}",
                            "notice": notices.condition_due(p.reference, p.title, c.text, c.owner, c.due_date,
                                                            left, self._link(p))})
        return out

    def overdue(self, today: dt.date) -> list[dict]:
        """Reviews waiting past the policy target, open conditions past their due date, and conditions due
        within five working days, as plain rows (kind, key, recipients, subject, body); nothing is written."""
        def run(s: Session) -> list[dict]:
            return [{"kind": d["kind"], "key": d["key"], "to": [a for a in d["to"] if notices.is_address(a)],
                     "subject": d["notice"].subject, "body": d["notice"].body} for d in self._due(s, today)]
        return self._run(run)

    def remind(self, today: dt.date) -> list[dict]:
        """Queue the reminders owed on `today` (the daily step); each is queued once, whenever it runs again.
        Returns the ones queued now."""
        def run(s: Session) -> list[dict]:
            queued = []
            for d in self._due(s, today):
                kind = {"review": "review_overdue", "condition": "condition_overdue",
                        "condition_due": "condition_due_soon"}[d["kind"]]
                p = d["proposal"]
                if self._notify(s, kind, d["outbox_key"], d["to"], d["notice"], p, p.checkpoint):
                    queued.append({"kind": kind, "key": d["outbox_key"], "reference": p.reference,
                                   "subject": d["notice"].subject})
            return queued
        return self._run(run)

    # ------------------------------------------------------------------ delivering the outbox
    def claim_notifications(self, limit: int = 50, lease_seconds: float = 300.0,
                            now: dt.datetime | None = None) -> list[dict]:
        """Claim up to `limit` messages that are due for sending, each for this caller alone.

        A message is due when it is pending and its next attempt has come, or
        when it was claimed more than `lease_seconds` ago and never marked (its
        sender died): that one may already have reached the server, so it is sent
        again with the same Message-ID.  Each claim is a compare-and-set on the
        row, so two senders never claim the same message.
        """
        now = now or utcnow()
        stale = now - dt.timedelta(seconds=lease_seconds)

        def run(s: Session) -> list[dict]:
            q = (select(Notification.id, Notification.status).where(
                ((Notification.status == "pending") & (Notification.next_attempt_at <= now))
                | ((Notification.status == "sending") & (Notification.claimed_at <= stale)))
                 .order_by(Notification.id).limit(limit))
            claimed = []
            for nid, status in list(s.execute(q)):
                res = s.execute(update(Notification).where(Notification.id == nid, Notification.status == status)
                                .values(status="sending", claimed_at=now, attempts=Notification.attempts + 1))
                if res.rowcount == 1:
                    claimed.append(nid)
            rows = s.exec(select(Notification).where(Notification.id.in_(claimed)).order_by(Notification.id))
            return [_notification_row(n) for n in rows]
        return self._run(run)

    def notification_sent(self, notification_id: int) -> bool:
        """Mark a claimed message sent (once: False when it was not being sent)."""
        def run(s: Session) -> bool:
            res = s.execute(update(Notification).where(Notification.id == notification_id,
                                                       Notification.status == "sending")
                            .values(status="sent", sent_at=utcnow(), last_error=None))
            return res.rowcount == 1
        return self._run(run)

    def notification_failed(self, notification_id: int, reason: str, retry_at: dt.datetime | None) -> None:
        """A claimed message that did not go: pending again from `retry_at`, or failed for good (None)."""
        def run(s: Session) -> None:
            values: dict[str, Any] = {"last_error": reason[:2000]}
            if retry_at is None:
                values["status"] = "failed"
            else:
                values.update(status="pending", next_attempt_at=retry_at)
            s.execute(update(Notification).where(Notification.id == notification_id,
                                                 Notification.status == "sending").values(**values))
        self._run(run)

    def outbox(self, actor: str, status: str | None = None, limit: int = 500) -> list[dict]:
        """The outbox for administrators: the newest messages first, with their state and the last failure."""
        def run(s: Session) -> list[dict]:
            self._role(self._user(s, actor), Role.ADMIN)
            q = select(Notification).order_by(Notification.id.desc()).limit(limit)
            if status:
                q = q.where(Notification.status == status)
            return [_notification_row(n) for n in s.exec(q)]
        return self._run(run)

    def outbox_counts(self) -> dict[str, int]:
        """How many messages are in each state (pending, sending, sent, failed)."""
        def run(s: Session) -> dict[str, int]:
            counts = dict.fromkeys(("pending", "sending", "sent", "failed"), 0)
            for status, n in s.execute(select(Notification.status, func.count(Notification.id))
                                       .group_by(Notification.status)):
                counts[status] = n
            return counts
        return self._run(run)

    def version_findings(self, actor: str, reference: str, number: int) -> list[dict]:
        def run(s: Session) -> list[dict]:
            user = self._user(s, actor)
            p = self._proposal(s, user, reference)
            v = s.exec(select(SubmissionVersion).where(SubmissionVersion.proposal_id == p.id,
                                                       SubmissionVersion.number == number)).first()
            if v is None:
                raise NotFound(f"{reference} has no version {number}")
            return [{k: getattr(f, k) for k in ("rule_id", "severity", "domain", "sheet", "row", "column", "cell",
                                                "message", "source")}
                    for f in s.exec(select(FindingRecord).where(FindingRecord.version_id == v.id)
                                    .order_by(FindingRecord.id))]
        return self._run(run)

    def version_bytes(self, actor: str, reference: str, number: int) -> tuple[str, bytes]:
        def run(s: Session) -> tuple[str, str]:
            user = self._user(s, actor)
            p = self._proposal(s, user, reference)
            v = s.exec(select(SubmissionVersion).where(SubmissionVersion.proposal_id == p.id,
                                                       SubmissionVersion.number == number)).first()
            if v is None:
                raise NotFound(f"{reference} has no version {number}")
            return v.filename, v.sha256
        name, sha = self._run(run)
        try:
            return name, self.files.get(sha)
        except FileStoreError as exc:
            raise StoreError(str(exc)) from None


def _notification_row(n: Notification) -> dict:
    return {"id": n.id, "key": n.key, "kind": n.kind, "reference": n.proposal_reference, "checkpoint": n.checkpoint,
            "recipients": [a for a in n.recipients.split("\n") if a], "subject": n.subject, "body": n.body,
            "attachment": n.attachment, "message_id": n.message_id, "status": n.status, "attempts": n.attempts,
            "last_error": n.last_error, "created_at": _iso(n.created_at),
            "sent_at": _iso(n.sent_at) if n.sent_at else None}


def _size(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB" if n >= 1024 * 1024 else f"{n / 1024:.0f} KB"


def _place(f: FindingRecord) -> str:
    """Where a finding is, in words: its sheet and cell, or that it has no cell."""
    where = f.sheet or "the workbook"
    return f"{where} {f.cell}" if f.cell else f"{where}, no cell"


def _iso(value) -> str:
    """ISO text for a stored time (SQLite gives text or naive datetimes back, PostgreSQL aware ones)."""
    if isinstance(value, str):
        return value.replace(" ", "T")
    return value.isoformat()


def _finding_record(version_id: int, finding: Any) -> FindingRecord:
    """A listed finding as stored: a sheet or column name is workbook text of any length (an unknown
    sheet or column), cut to what the store keeps."""
    d = finding.to_dict()
    for name in ("sheet", "column"):
        if d[name] is not None and len(d[name]) > 100:
            d[name] = d[name][:99] + "…"
    return FindingRecord(version_id=version_id, **d)


def diff_findings(old: list[dict], new: list[dict]) -> dict[str, list[dict]]:
    """What changed between two versions' findings, keyed by rule and place."""
    def key(f: dict) -> tuple:
        return (f["rule_id"], f["sheet"], f["cell"], f["column"], f["message"])

    old_keys, new_keys = {key(f) for f in old}, {key(f) for f in new}
    return {"fixed": [f for f in old if key(f) not in new_keys],
            "new": [f for f in new if key(f) not in old_keys],
            "unchanged": [f for f in new if key(f) in old_keys]}


__all__ = [
    "StoreBusy",
    "StoreError",
    "diff_findings",
    "Service",
    "WorkflowError",
    "NotFound",
    "Forbidden",
    "Refused",
    "Conflict",
    "SignInRefused",
    "SessionEnded",
    "ConditionInput",
    "UploadResult",
    "IntegrityError",
]

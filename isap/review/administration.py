"""Administration: organisations, accounts, passwords and sign-in.
"""

from __future__ import annotations

import datetime as dt
from typing import Iterable

from sqlalchemy import func, text, update
from sqlmodel import Session, select

from isap.review import audit_anchors, audit_chain, notices, sessions, tokens, wording
from isap.review.capabilities import Capability, capabilities_of
from isap.review.errors import Forbidden, NotFound, Refused, SessionEnded, SignInRefused, WorkflowError
from isap.review.events import AuditKind, NotificationKind
from isap.review.lifecycle import (
    Role,
)
from isap.review.types import PEOPLE, SYSTEM_USER
from isap.review.unit_of_work import UnitOfWork
from isap.review.wording import iso_time
from isap.store.models import (
    AuditEvent,
    Organisation,
    Proposal,
    SignInAttempt,
    SignInSession,
    User,
)

DEMO_MARK = "demo_data_loaded"  # the audit event that marks a store as made by demo data


class Administration(UnitOfWork):
    # ------------------------------------------------------------------ administration
    def add_organisation(self, code: str, name: str, actor: str | None = None) -> Organisation:
        from isap.review.limits import TextKind, checked_text

        def run(s: Session) -> Organisation:
            if actor is not None:
                self._role(self._user(s, actor), Role.ADMIN)
            code_u = checked_text(TextKind.ORGANISATION_CODE, code).upper()
            org_name = checked_text(TextKind.ORGANISATION_NAME, name)
            if not code_u or not org_name:
                raise WorkflowError("an organisation needs a code and a name")
            if s.exec(select(Organisation).where(Organisation.code == code_u)).first():
                raise Refused(f"organisation {code_u} already exists")
            org = Organisation(code=code_u, name=org_name)
            s.add(org)
            s.flush()
            self._audit(s, None, AuditKind.ORGANISATION_ADDED, actor or "admin-cli", reason=f"{code_u} {org_name}")
            return org
        return self._run(run)

    def add_user(self, username: str, role: str, org_code: str | None = None, password: str | None = None,
                 email: str | None = None, actor: str | None = None, display_name: str | None = None,
                 job_title: str | None = None, body: str | None = None) -> User:
        details = _person_details(display_name, job_title, body)
        if role not in PEOPLE:
            raise WorkflowError(f"role must be one of {', '.join(PEOPLE)}, not {role!r}")
        if role == Role.COMMISSIONER and not org_code:
            raise WorkflowError("a commissioner needs an organisation (--org CODE)")
        email = _account_address(email)
        if password is not None:
            from isap.review.passwords import password_refusal

            if (why := password_refusal(password, self.policy)) is not None:
                raise WorkflowError(why)

        def run(s: Session) -> User:
            if actor is not None:
                self._role(self._user(s, actor), Role.ADMIN)
            name = username.strip()
            if not name or name == SYSTEM_USER or sessions.has_control_characters(name):
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
                        password_hash=hash_password(password, self.policy) if password else None,
                        **{k: v for k, v in details.items() if v is not None})
            s.add(user)
            s.flush()
            self._audit(s, None, AuditKind.USER_ADDED, actor or "admin-cli", reason=f"{name} ({role})")
            return user
        return self._run(run)

    def set_user_details(self, username: str, display_name: str | None = None, job_title: str | None = None,
                         body: str | None = None, actor: str | None = None) -> User:
        """Set how letters and reports name an account (display name, job title) and the national body a
        reviewer works for; a value left as None is kept, "" clears it (administrators only)."""
        details = _person_details(display_name, job_title, body)

        def run(s: Session) -> User:
            if actor is not None:
                self._role(self._user(s, actor), Role.ADMIN)
            user = self._account(s, username)
            if user.role == Role.SYSTEM:
                raise Refused(f"{username} is the automated checks' own account")
            changed = []
            for k, v in details.items():
                if v is not None and (v or None) != getattr(user, k):
                    setattr(user, k, v or None)
                    changed.append(f"{k.replace('_', ' ')} {v!r}" if v else f"{k.replace('_', ' ')} cleared")
            if changed:
                s.add(user)
                self._audit(s, None, AuditKind.USER_DETAILS_SET, actor or "admin-cli",
                            reason=f"{user.username}: {'; '.join(changed)}")
            return user
        return self._run(run)

    def set_password(self, username: str, password: str, actor: str | None = None,
                     except_token: str | None = None) -> int:
        """Give an account a new password, end every other session it has and revoke its API tokens: whoever knew
        the old one is signed out everywhere.  `except_token` keeps the session of an administrator changing their
        own.  Returns how many sessions were ended."""
        from isap.review.passwords import hash_password, password_refusal

        if (why := password_refusal(password, self.policy)) is not None:
            raise WorkflowError(why)
        new_hash = hash_password(password, self.policy)  # before the transaction: it takes a moment, and holds nothing

        def run(s: Session) -> int:
            if actor is not None:
                self._role(self._user(s, actor), Role.ADMIN)
            user = self._account(s, username)
            if user.role == Role.SYSTEM:
                raise Refused(f"{user.username} is the system's own account: it never signs in")
            user.password_hash = new_hash
            s.add(user)
            ended = self._end_sessions(s, user, "password_changed", except_token)
            # a token made with the old password may be in the hands of whoever knew it: it stops too
            tokens.revoke_tokens_of(s, user, self.clock(), reason="password_changed")
            self._audit(s, None, AuditKind.PASSWORD_SET, actor or "admin-cli", reason=user.username)
            return ended
        return self._run(run)

    def has_user(self, username: str) -> bool:
        if sessions.has_control_characters(username):  # no account has such a name
            return False
        with self._session() as s:
            return s.exec(select(User).where(User.username == username)).first() is not None

    def user(self, username: str) -> User:
        return self._run(lambda s: self._account(s, username))

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
        checked_hash = user.password_hash

        def run(s: Session) -> bool:
            # The password was checked in a transaction of its own (argon2 takes a moment, and holds no lock): the
            # session is made only if it is still the account's and the account still signs in.  A reset landing
            # in between had ended every session but this one, made after it (found by a fresh attack).  The
            # account's row is locked first, so a reset either commits before this reads it or waits for it.
            if s.bind.dialect.name == "sqlite":
                s.connection().exec_driver_sql("BEGIN IMMEDIATE")
            current = s.exec(select(User).where(User.id == user.id).with_for_update()).first()
            if current is None or current.password_hash != checked_hash or current.disabled_at is not None:
                return False
            now = self.clock()
            s.add(SignInSession(token_hash=sessions.token_hash(token), user_id=user.id, created_at=now,
                                last_seen_at=now, expires_at=sessions.expiry(now, self.policy)))
            return True
        if not self._run(run):
            raise SignInRefused(sessions.WRONG)
        return user, token

    def _check_password(self, username: str, password: str) -> tuple[User | None, int]:
        """Check a user name and password under the lockout; the attempt is recorded before the password is
        checked (as a failure until it succeeds), so guesses sent at once cannot slip past the count."""
        from isap.review.passwords import verify_password, verify_unknown

        name = sessions.recorded_name(username or "")

        def begin(s: Session) -> tuple[int, User | None]:
            if s.bind.dialect.name == "postgresql":  # one check-and-record at a time per name
                s.execute(text("SELECT pg_advisory_xact_lock(hashtext(:n))"), {"n": "isap-sign-in:" + name})
            elif s.bind.dialect.name == "sqlite":  # the write lock from the first read: else guesses sent at once
                # all read the same count before any of them is recorded
                s.connection().exec_driver_sql("BEGIN IMMEDIATE")
            now = self.clock()
            since = now - sessions.lookback(self.policy)
            # (the attempts refused while the name was locked out neither count nor extend the lockout, and are
            # left out: someone hammering a name adds them by the hundred a second, and reading them all held the
            # store's write lock for seconds, every other sign-in and upload waiting behind it)
            attempts = s.exec(select(SignInAttempt.at, SignInAttempt.outcome)
                              .where(SignInAttempt.username == name,
                                     SignInAttempt.outcome.in_(sessions.COUNTED_OUTCOMES),
                                     SignInAttempt.at >= since)
                              .order_by(SignInAttempt.at, SignInAttempt.id)).all()
            until = sessions.locked_until(attempts, now, self.policy)
            outcome = sessions.REFUSED if until is not None else sessions.FAILED
            attempt = SignInAttempt(username=name, outcome=outcome, at=now)
            s.add(attempt)
            s.flush()
            if until is not None:
                return -1, until
            # looked up by the name as typed: the cut one recorded could belong to someone else
            typed = (username or "").strip()
            if sessions.has_control_characters(typed):  # no account has such a name
                return attempt.id, None
            user = s.exec(select(User).where(User.username == typed)).first()
            return attempt.id, user

        attempt_id, found = self._run(begin)
        if attempt_id == -1:
            raise SignInRefused(sessions.LOCKED.format(until=wording.when(found)))
        if found is None or not found.password_hash or found.role == Role.SYSTEM or found.disabled_at is not None:
            # a disabled account costs the same check and gets the same words: nobody learns it exists
            verify_unknown(password, self.policy)
            raise SignInRefused(sessions.WRONG)
        if not verify_password(found.password_hash, password):
            raise SignInRefused(sessions.WRONG)

        def succeeded(s: Session) -> None:
            s.execute(update(SignInAttempt).where(SignInAttempt.id == attempt_id)
                      .values(outcome=sessions.SUCCEEDED))
        self._run(succeeded)
        return found, attempt_id

    def capabilities(self, actor: str | None) -> frozenset[Capability]:
        """What `actor` may use beyond one proposal's workflow (`isap.review.capabilities`): the pages a dashboard
        offers them follow from it.  Nothing for an unknown or disabled account."""
        def run(s: Session) -> frozenset[Capability]:
            user = s.exec(select(User).where(User.username == actor)).first() if actor else None
            if user is None or user.disabled_at is not None:
                return frozenset()
            return capabilities_of(user.role)
        return self._run(run)

    def can(self, actor: str | None, capability: Capability) -> bool:
        """Whether `actor` may use `capability`: asked by a page instead of comparing role names."""
        return capability in self.capabilities(actor)

    def session_user(self, token: str) -> User:
        """The account a session token signs in; SessionEnded (with a short reason) when it no longer does.

        Each use counts as activity for the idle timeout.
        """
        def run(s: Session) -> User | str:
            row = s.exec(select(SignInSession).where(SignInSession.token_hash == sessions.token_hash(token))).first()
            if row is None:
                return "unknown"
            now = self.clock()
            state = sessions.session_state(row.created_at, row.last_seen_at, row.expires_at, row.ended_reason, now,
                                           self.policy)
            user = s.get(User, row.user_id)
            if state.valid and (user is None or user.disabled_at is not None):
                state = sessions.SessionState(False, "disabled")  # ends at the account's next action
            if not state.valid:
                if row.ended_reason is None:
                    row.ended_at, row.ended_reason = now, state.reason
                    s.add(row)
                return state.reason
            if now - row.last_seen_at > dt.timedelta(seconds=30):  # not a write on every page run
                row.last_seen_at = now
                s.add(row)
            return user
        found = self._run(run)
        if isinstance(found, str):
            raise SessionEnded(sessions.ENDED_REASONS[found])
        return found

    def sign_out(self, token: str) -> None:
        """End a session on the server: the token signs no one in again, in any tab or browser."""
        def run(s: Session) -> None:
            s.execute(update(SignInSession).where(SignInSession.token_hash == sessions.token_hash(token),
                                                  SignInSession.ended_at.is_(None))
                      .values(ended_at=self.clock(), ended_reason="signed_out"))
        self._run(run)

    def unlock(self, username: str, actor: str | None = None) -> None:
        """Let a locked-out user name sign in again at once (an administrator's action)."""
        name = sessions.recorded_name(username)

        def run(s: Session) -> None:
            if actor is not None:
                self._role(self._user(s, actor), Role.ADMIN)
            s.add(SignInAttempt(username=name, outcome=sessions.UNLOCKED, at=self.clock()))
            self._audit(s, None, AuditKind.SIGN_IN_UNLOCKED, actor or "admin-cli", reason=name)
        self._run(run)

    def sign_in_attempts(self, actor: str, limit: int = 200) -> list[dict]:
        """The latest failed and refused sign-ins, newest first (administrators only)."""
        def run(s: Session) -> list[dict]:
            self._role(self._user(s, actor), Role.ADMIN)
            q = (select(SignInAttempt).where(SignInAttempt.outcome.in_((sessions.FAILED, sessions.REFUSED)))
                 .order_by(SignInAttempt.id.desc()).limit(limit))
            return [{"at": iso_time(a.at), "username": a.username, "outcome": a.outcome} for a in s.exec(q)]
        return self._run(run)

    def sign_in_failures_by_name(self, actor: str, hours: int = 24, limit: int = 50) -> list[dict]:
        """Failed and refused sign-ins of the last `hours`, summed by user name: names that are accounts first,
        then by how many (administrators only).  A flood of sign-ins under made-up names pushes guesses at a real
        account out of the latest attempts, never out of this."""
        from sqlalchemy import case, func

        def run(s: Session) -> list[dict]:
            self._role(self._user(s, actor), Role.ADMIN)
            since = self.clock() - dt.timedelta(hours=hours)
            account = func.max(case((User.id.is_not(None), 1), else_=0))
            failed = func.sum(case((SignInAttempt.outcome == sessions.FAILED, 1), else_=0))
            refused = func.sum(case((SignInAttempt.outcome == sessions.REFUSED, 1), else_=0))
            q = (select(SignInAttempt.username, account, failed, refused, func.max(SignInAttempt.at))
                 .join(User, User.username == SignInAttempt.username, isouter=True)
                 .where(SignInAttempt.outcome.in_((sessions.FAILED, sessions.REFUSED)), SignInAttempt.at >= since)
                 .group_by(SignInAttempt.username)
                 .order_by(account.desc(), (failed + refused).desc(), SignInAttempt.username).limit(limit))
            return [{"username": name, "account": bool(is_account), "failed": int(f), "refused": int(r),
                     "last": iso_time(last)} for name, is_account, f, r, last in s.exec(q)]
        return self._run(run)

    # ------------------------------------------------------------------ access an administrator can take away
    def disable_user(self, username: str, actor: str | None = None) -> int:
        """Stop an account signing in anywhere, and end its sessions now; returns how many were ended.

        Nobody disables themselves (an administrator would lock the door from the
        inside) or the system's own account (it records what the system does)."""
        def run(s: Session) -> int:
            if actor is not None:
                self._role(self._user(s, actor), Role.ADMIN)
            if username == SYSTEM_USER:  # whether or not it has recorded anything yet
                raise Refused(f"{SYSTEM_USER} is the system's own account and cannot be disabled")
            user = self._account(s, username)
            if user.role == Role.SYSTEM:
                raise Refused(f"{user.username} is the system's own account and cannot be disabled")
            if actor is not None and user.username == actor:
                raise Refused("you cannot disable yourself: ask another administrator")
            if user.disabled_at is None:
                user.disabled_at = self.clock()
                s.add(user)
            ended = self._end_sessions(s, user, "disabled")
            # its API tokens stop for good: enabling the account again does not bring them back
            tokens.revoke_tokens_of(s, user, self.clock())
            self._audit(s, None, AuditKind.USER_DISABLED, actor or "admin-cli", reason=user.username)
            return ended
        return self._run(run)

    def enable_user(self, username: str, actor: str | None = None) -> None:
        """Let a disabled account sign in again (its ended sessions stay ended)."""
        def run(s: Session) -> None:
            if actor is not None:
                self._role(self._user(s, actor), Role.ADMIN)
            user = self._account(s, username)
            user.disabled_at = None
            s.add(user)
            self._audit(s, None, AuditKind.USER_ENABLED, actor or "admin-cli", reason=user.username)
        self._run(run)

    def end_sessions(self, username: str, actor: str | None = None) -> int:
        """End every sign-in session of an account now (it may sign in again); returns how many were ended.  Its
        API tokens stay: disabling it or setting its password revokes those."""
        def run(s: Session) -> int:
            if actor is not None:
                self._role(self._user(s, actor), Role.ADMIN)
            user = self._account(s, username)
            ended = self._end_sessions(s, user, "ended_by_administrator")
            self._audit(s, None, AuditKind.SESSIONS_ENDED, actor or "admin-cli", reason=f"{user.username} ({ended})")
            return ended
        return self._run(run)

    def users(self, actor: str | None = None) -> list[dict]:
        """Every account people sign in with: role, organisation, enabled or disabled, when it last signed in with
        a password, and how many of its sessions are open now (administrators only)."""
        def run(s: Session) -> list[dict]:
            if actor is not None:
                self._role(self._user(s, actor), Role.ADMIN)
            now = self.clock()
            codes = {o.id: o.code for o in s.exec(select(Organisation))}
            last = dict(s.exec(select(SignInAttempt.username, func.max(SignInAttempt.at))
                               .where(SignInAttempt.outcome == sessions.SUCCEEDED)
                               .group_by(SignInAttempt.username)).all())
            open_now = dict(s.exec(select(SignInSession.user_id, func.count(SignInSession.id))
                                   .where(*self._open_sessions(now)).group_by(SignInSession.user_id)).all())
            return [{"username": u.username, "role": u.role, "organisation": codes.get(u.organisation_id),
                     "email": u.email, "display_name": u.display_name, "job_title": u.job_title, "body": u.body,
                     "state": "enabled" if u.disabled_at is None else "disabled",
                     "disabled_at": iso_time(u.disabled_at) if u.disabled_at is not None else None,
                     "last_sign_in": iso_time(last[u.username]) if last.get(u.username) is not None else None,
                     "open_sessions": int(open_now.get(u.id, 0))}
                    for u in s.exec(select(User).where(User.role != Role.SYSTEM).order_by(User.username))]
        return self._run(run)

    def _open_sessions(self, now: dt.datetime) -> tuple:
        """The conditions of a session that still signs someone in at `now` (as `sessions.session_state` has it)."""
        return (SignInSession.ended_at.is_(None), SignInSession.expires_at > now,
                SignInSession.last_seen_at >= now - dt.timedelta(minutes=self.policy.session_idle_minutes))

    def _end_sessions(self, s: Session, user: User, reason: str, except_token: str | None = None) -> int:
        """End `user`'s open sessions with `reason` (a key of sessions.ENDED_REASONS), but the one of
        `except_token`; how many were ended."""
        now = self.clock()
        kept = sessions.token_hash(except_token) if except_token else None
        q = update(SignInSession).where(SignInSession.user_id == user.id, *self._open_sessions(now))
        if kept is not None:
            q = q.where(SignInSession.token_hash != kept)
        return s.execute(q.values(ended_at=now, ended_reason=reason)).rowcount

    # ------------------------------------------------------------------ the audit chain
    def verify_audit(self, actor: str | None = None,
                     known: Iterable[audit_chain.KnownHead] = ()) -> audit_chain.Verification:
        """Walk the audit chain, holding it to the heads in `known` (anchors, heads printed on reports); the
        outcome is itself recorded in the history (what administrators see)."""
        def check(s: Session) -> audit_chain.Verification:
            if actor is not None:
                self._role(self._user(s, actor), Role.ADMIN)
            return audit_chain.verify(s.connection(), known)
        result = self._run(check)

        def record(s: Session) -> None:
            kind = AuditKind.AUDIT_VERIFIED if result.ok else AuditKind.AUDIT_CHAIN_BROKEN
            self._audit(s, None, kind, actor or SYSTEM_USER, reason=result.summary())
        self._run(record)
        return result

    def audit_head(self) -> str:
        """The hash of the latest audit event: printed in reports so a later rewrite can be shown."""
        return self._run(lambda s: audit_chain.head(s.connection()))[1]

    def anchor_audit(self, why: str, mail: bool = False) -> audit_anchors.Anchor | None:
        """Sign the chain's head now and append the anchor to the anchors file; with `mail`, also queue it to
        the addresses `ISAP_AUDIT_ANCHOR_TO` names.  None when no signing key is configured
        (`ISAP_AUDIT_KEY`); an AnchorError when the key or the file cannot be used."""
        key = audit_anchors.configured_signing_key()
        if key is None:
            return None
        event_id, head = self._run(lambda s: audit_chain.head(s.connection()))
        anchor = audit_anchors.sign(key, event_id, head, why, self.clock())
        audit_anchors.append(anchor)
        to = audit_anchors.anchor_recipients()
        if mail and to:
            subject = f"ISAP audit anchor: event {event_id}, {anchor.at}"
            body = ("The ISAP audit history's head, signed. Keep this message: `isap audit verify --anchors FILE` "
                    "with this line in FILE shows whether anything up to this event was changed or removed.\n\n"
                    f"{anchor.line()}\n")
            self._run(lambda s: self._notify(s, NotificationKind.AUDIT_ANCHOR, f"audit-anchor:{event_id}:{head}", to,
                                             notices.Notice(subject, body)))
        return anchor

    def last_audit_verification(self, actor: str) -> dict | None:
        def run(s: Session) -> dict | None:
            self._role(self._user(s, actor), Role.ADMIN)
            verifications = (AuditKind.AUDIT_VERIFIED, AuditKind.AUDIT_CHAIN_BROKEN)
            e = s.exec(select(AuditEvent).where(AuditEvent.action.in_(verifications))
                       .order_by(AuditEvent.id.desc())).first()
            return None if e is None else {"at": iso_time(e.at), "ok": e.action == AuditKind.AUDIT_VERIFIED,
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
        if sessions.has_control_characters(address):  # no account has such an address
            raise Forbidden(f"{address!r} has no ISAP account: ask an ISAP administrator to add you")
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
            if users[0].disabled_at is not None:
                raise Forbidden(f"the ISAP account for {address} is disabled: ask an ISAP administrator")
            return users[0]
        return self._run(run)

    # ------------------------------------------------------------------ demonstration data
    def claim_for_demo(self) -> bool:
        """Whether demo data may be loaded here: True for an empty store (now marked as the demo's), False for a
        store demo data made; Refused for a store holding anything else, so demo accounts with published
        passwords never join real ones."""
        def run(s: Session) -> bool:
            if s.exec(select(AuditEvent.id).where(AuditEvent.action == DEMO_MARK)).first() is not None:
                return False
            users = s.exec(select(func.count(User.id)).where(User.role != Role.SYSTEM)).one()
            orgs = s.exec(select(func.count(Organisation.id))).one()
            proposals = s.exec(select(func.count(Proposal.id))).one()
            if users or orgs or proposals:
                raise Refused(f"this store holds data not made by demo data ({users} account(s), {orgs} "
                              f"organisation(s), {proposals} proposal(s)): demo data goes only into an empty store "
                              "or one demo data made. Point ISAP_DATABASE_URL or ISAP_DATA_DIR at an empty one")
            self._audit(s, None, DEMO_MARK, SYSTEM_USER, reason="demonstration data, with published passwords")
            return True
        return self._run(run)

    def _system_user(self, s: Session) -> User:
        user = s.exec(select(User).where(User.username == SYSTEM_USER)).first()
        if user is None:
            user = User(username=SYSTEM_USER, role=Role.SYSTEM)
            s.add(user)
            s.flush()
        return user


def _account_address(email: str | None) -> str | None:
    """An account's address in its normal form (None when none is given); refused, saying why, unless it is one
    plain e-mail address: every message to the account is sent to it."""
    from isap.policy.addresses import AddressRefused, mail_address

    if email is None or not email.strip():
        return None
    try:
        return mail_address(email)
    except AddressRefused as exc:
        raise WorkflowError(f"{email!r} is not an e-mail address isap can send to: {exc}") from None


def _person_details(display_name: str | None, job_title: str | None, body: str | None) -> dict[str, str | None]:
    """A display name, job title and body as kept ("" clears one, None leaves it); a clear error otherwise."""
    from isap.review.lifecycle import Body
    from isap.review.limits import TextKind, checked_text

    out: dict[str, str | None] = {
        "display_name": None if display_name is None else checked_text(TextKind.PERSON_DETAIL, display_name),
        "job_title": None if job_title is None else checked_text(TextKind.PERSON_DETAIL, job_title)}
    if body is None:
        out["body"] = None
    else:
        wanted = body.strip().lower().replace(" ", "_").replace("-", "_")
        by_label = {b.label.lower().replace(" ", "_"): b.value for b in Body}
        if wanted and wanted not in Body._value2member_map_ and wanted not in by_label:
            raise WorkflowError(f"body must be {' or '.join(b.label for b in Body)} ({', '.join(Body)}), "
                                f"not {body!r}")
        out["body"] = by_label.get(wanted, wanted)
    return out

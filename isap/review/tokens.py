"""Personal API tokens: how another system, or a CI job, acts as one person through the HTTP API.

A token is a random secret its owner is shown once; the store keeps only its
SHA-256.  A fast hash is enough here, unlike for passwords: the secret is 256
random bits, so there is nothing to guess from a copied table, and a fast,
unsalted hash lets a request's token be found by an index lookup.  A token
acts exactly as its owner (same role, same organisation, same refusals), until
it expires (the policy's `api_token_days`) or is revoked; a disabled account's
tokens are revoked with it and never act again, even once it is enabled.
Creating and revoking a token are in the audit history.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import update
from sqlmodel import Session, select

from isap.review.errors import NotFound, Refused, WorkflowError
from isap.review.events import AuditKind
from isap.review.lifecycle import Role
from isap.review.types import SYSTEM_USER
from isap.review.unit_of_work import UnitOfWork
from isap.review.wording import iso_time
from isap.store.models import ApiToken, Organisation, User

SECRET_PREFIX = "isap_"  # so that secret scanners and people can tell an isap token when they see one
SECRET_BYTES = 32
MAX_NAME = 80
LAST_USED_EVERY = dt.timedelta(seconds=30)  # how stale "last used" may be: not a write on every request


class TokenRefused(WorkflowError):
    """A token that does not act for anyone (now); `reason` is a key of REASONS, the message says it in words."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


REASONS = {
    "unknown": "This API token is not known: check that it was copied whole, or create a new one.",
    "expired": "This API token expired on {date}: create a new one.",
    "revoked": "This API token was revoked: create a new one.",
    "account_disabled": "The account this API token acts for is disabled: ask an ISAP administrator.",
}
# Why a token was revoked other than by its holder, in the words its next use is answered with
REVOKED_BECAUSE = {
    "account_disabled": "This API token was revoked when its account was disabled: create a new one.",
    "password_changed": "This API token was revoked when its account's password was changed: create a new one.",
}


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(SECRET_BYTES)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "replace")).hexdigest()


def token_state(row: ApiToken, now: dt.datetime) -> str:
    """active, expired or revoked."""
    if row.revoked_at is not None:
        return "revoked"
    return "expired" if now >= _aware(row.expires_at) else "active"


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.timezone.utc)


class Tokens(UnitOfWork):
    def create_token(self, actor: str, name: str, days: int | None = None) -> tuple[dict, str]:
        """A new token for `actor` (who acts through it): its row, and the secret, which is never shown again.

        `days` may shorten the policy's `api_token_days`, never lengthen it."""
        name = (name or "").strip()
        if not name or len(name) > MAX_NAME or any(not c.isprintable() for c in name):
            raise WorkflowError(f"a token needs a name of 1 to {MAX_NAME} printable characters, such as ci")
        most = self.policy.api_token_days
        if days is not None and not 1 <= days <= most:
            raise WorkflowError(f"a token lasts 1 to {most} days (the policy's api_token_days), not {days}")
        secret = new_secret()

        def run(s: Session) -> dict:
            user = self._acting(s, actor)
            now = self.clock()
            live = s.exec(select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.name == name,
                                                 ApiToken.revoked_at.is_(None))).all()
            if any(token_state(t, now) == "active" for t in live):
                raise Refused(f"you already have a token named {name}: revoke it first, or choose another name")
            row = ApiToken(secret_hash=secret_hash(secret), user_id=user.id, name=name, created_at=now,
                           expires_at=now + dt.timedelta(days=days or most))
            s.add(row)
            s.flush()
            self._audit(s, None, AuditKind.API_TOKEN_CREATED, user.username, reason=f"token {row.id} {name}")
            return _row(row, user.username, now)
        return self._run(run), secret

    def tokens(self, actor: str) -> list[dict]:
        """`actor`'s tokens, newest first; an administrator sees everyone's."""
        def run(s: Session) -> list[dict]:
            user = self._acting(s, actor)
            q = select(ApiToken, User.username).join(User, User.id == ApiToken.user_id)
            if user.role != Role.ADMIN:
                q = q.where(ApiToken.user_id == user.id)
            now = self.clock()
            return [_row(t, owner, now) for t, owner in s.exec(q.order_by(ApiToken.id.desc()))]
        return self._run(run)

    def revoke_token(self, actor: str, token_id: int) -> dict:
        """Revoke one of `actor`'s tokens (an administrator may revoke anyone's): it never acts again."""
        def run(s: Session) -> dict:
            user = self._acting(s, actor)
            row = s.get(ApiToken, token_id) if isinstance(token_id, int) else None
            if row is None or (row.user_id != user.id and user.role != Role.ADMIN):
                raise NotFound(f"no token {token_id} of yours")  # the same words for another person's
            owner = s.get(User, row.user_id)
            if row.revoked_at is not None:
                raise Refused(f"token {token_id} ({row.name}) is already revoked")
            now = self.clock()
            row.revoked_at, row.revoked_reason = now, "revoked"
            s.add(row)
            self._audit(s, None, AuditKind.API_TOKEN_REVOKED, user.username,
                        reason=f"token {row.id} {row.name} of {owner.username}")
            return _row(row, owner.username, now)
        return self._run(run)

    def token_user(self, secret: str) -> tuple[str, int]:
        """The user name a token acts for, and the token's id; TokenRefused (with its reason) when it acts for
        nobody now.  Each use is recorded as the token's last use (to the half minute)."""
        def run(s: Session) -> tuple[str, int] | TokenRefused:
            row = s.exec(select(ApiToken).where(ApiToken.secret_hash == secret_hash(secret or ""))).first()
            if row is None:
                return TokenRefused("unknown", REASONS["unknown"])
            now = self.clock()
            state = token_state(row, now)
            user = s.get(User, row.user_id)
            if state == "revoked":
                if row.revoked_reason == "account_disabled" and (user is None or user.disabled_at is not None):
                    return TokenRefused("account_disabled", REASONS["account_disabled"])
                # revoked for good, whatever happened to the account since: say why it was revoked
                return TokenRefused("revoked", REVOKED_BECAUSE.get(row.revoked_reason or "", REASONS["revoked"]))
            if state == "expired":
                return TokenRefused("expired", REASONS["expired"].format(date=_aware(row.expires_at).date()))
            if user is None or user.disabled_at is not None:
                return TokenRefused("account_disabled", REASONS["account_disabled"])
            if row.last_used_at is None or now - _aware(row.last_used_at) >= LAST_USED_EVERY:
                row.last_used_at = now
                s.add(row)
            return user.username, row.id
        found = self._run(run)
        if isinstance(found, TokenRefused):
            raise found
        return found

    def account(self, actor: str) -> dict:
        """Whom `actor` is: user name, role and organisation's code (what a token's holder may ask of it)."""
        def run(s: Session) -> dict:
            user = self._user(s, actor)
            org = s.get(Organisation, user.organisation_id) if user.organisation_id else None
            return {"username": user.username, "role": user.role, "organisation": org.code if org else None}
        return self._run(run)

    def _acting(self, s: Session, actor: str) -> User:
        user = self._user(s, actor)
        if user.role == Role.SYSTEM or user.username == SYSTEM_USER:
            raise Refused(f"{user.username} is the system's own account: it has no tokens")
        if user.disabled_at is not None:
            raise Refused(f"{user.username} is disabled: a disabled account has no tokens")
        return user


def revoke_tokens_of(s: Session, user: User, now: dt.datetime, reason: str = "account_disabled") -> int:
    """Revoke every token of `user` because the account was disabled or its password changed (`reason`, a key
    of `REVOKED_BECAUSE`), in the caller's transaction."""
    return s.execute(update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
                     .values(revoked_at=now, revoked_reason=reason)).rowcount


def _row(t: ApiToken, owner: str, now: dt.datetime) -> dict:
    return {"id": t.id, "name": t.name, "user": owner, "state": token_state(t, now),
            "created_at": iso_time(t.created_at), "expires_at": iso_time(t.expires_at),
            "last_used_at": iso_time(t.last_used_at) if t.last_used_at else None,
            "revoked_at": iso_time(t.revoked_at) if t.revoked_at else None}

"""Sign-in that stays and resists guessing: session tokens and the lockout of a guessed user name.

A session is a random token the browser keeps in a cookie; the server keeps
only its SHA-256, so the table of sessions cannot sign anyone in.  A session
ends when it is signed out, at its absolute expiry, or after an idle spell
(policy values).

Guessing is slowed per user name, not per account: after
`sign_in_max_failures` consecutive failures within the failure window, the
name is refused for the lockout period whether or not an account has it, in
the same words, and a name without an account is checked against a dummy
hash so that both take the same time.  The rules here are plain functions of
the recorded attempts, so they can be tested without a clock.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import Iterable

from isap.policy import Policy

TOKEN_BYTES = 32
COOKIE_NAME = "isap_session"
MAX_NAME = 80  # user names as recorded: longer ones are cut, so a hostile name cannot fill the table



class SignInOutcome(StrEnum):
    """What became of one sign-in (`SignInAttempt.outcome`); the values are the strings the store holds."""

    FAILED = "failed"
    REFUSED = "refused"
    SUCCEEDED = "succeeded"
    UNLOCKED = "unlocked"

    @property
    def label(self) -> str:
        return SIGN_IN_LABELS[self]


SIGN_IN_LABELS = {
    SignInOutcome.FAILED: "Wrong user name or password",
    SignInOutcome.REFUSED: "Refused: sign-in paused after too many failures",
    SignInOutcome.SUCCEEDED: "Signed in",
    SignInOutcome.UNLOCKED: "Unlocked by an administrator",
}
FAILED, REFUSED, SUCCEEDED, UNLOCKED = SignInOutcome
# the outcomes `locked_until` reads: a refused attempt neither counts nor extends a lockout
COUNTED_OUTCOMES = (FAILED, SUCCEEDED, UNLOCKED)

WRONG = "That user name and password do not match an account."
# The same words whether or not the name has an account.
LOCKED = ("Too many failed sign-ins for this user name. Sign-in for it is paused until {until}; "
          "an administrator can unlock it sooner.")

ENDED_REASONS = {
    "signed_out": "You signed out. Sign in again to continue.",
    "expired": "Your sign-in expired. Sign in again to continue.",
    "idle": "You were signed out after a period without activity. Sign in again to continue.",
    "unknown": "Your sign-in is no longer valid. Sign in again to continue.",
    "disabled": "Your account has been disabled. Ask an ISAP administrator if you need to use ISAP again.",
    "password_changed": "Your password was changed, so you were signed out. Sign in again with the new one.",
    "ended_by_administrator": "An administrator ended your sign-in. Sign in again to continue.",
}


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def recorded_name(username: str) -> str:
    # a control character (a NUL, which PostgreSQL cannot keep in text; a terminal escape) is recorded as the
    # replacement character: the attempt is kept, and shown as a name nobody has
    return "".join("\ufffd" if control(c) else c for c in username.strip())[:MAX_NAME]


def control(c: str) -> bool:
    return unicodedata.category(c) == "Cc"


def has_control_characters(text: str) -> bool:
    """No account's name or address has one, so text with one is refused before it reaches the database."""
    return any(control(c) for c in text)


def locked_until(attempts: Iterable[tuple[dt.datetime, str]], now: dt.datetime, policy: Policy) -> dt.datetime | None:
    """When the lockout of a user name ends, if it is locked out `now`; None if it may try.

    `attempts` are (time, outcome) for the name, oldest first, covering at
    least the failure window plus the lockout before `now`.  A success or an
    administrator's unlock starts the count afresh; refused attempts neither
    count nor extend the lockout, so a locked name comes free on time however
    hard it is tried.
    """
    window = dt.timedelta(minutes=policy.sign_in_failure_window_minutes)
    lockout = dt.timedelta(minutes=policy.sign_in_lockout_minutes)
    until: dt.datetime | None = None
    run: list[dt.datetime] = []
    for at, outcome in attempts:
        if outcome in (SUCCEEDED, UNLOCKED):
            until, run = None, []
            continue
        if outcome != FAILED or (until is not None and at < until):
            continue
        run = [t for t in run if at - t <= window] + [at]
        if len(run) >= policy.sign_in_max_failures:
            until, run = at + lockout, []
    return until if until is not None and now < until else None


def lookback(policy: Policy) -> dt.timedelta:
    """How far back the attempts `locked_until` needs reach."""
    return dt.timedelta(minutes=policy.sign_in_failure_window_minutes + policy.sign_in_lockout_minutes)


@dataclass(frozen=True)
class SessionState:
    """Whether a stored session still signs its holder in, and if not, why (a key of ENDED_REASONS)."""

    valid: bool
    reason: str = ""


def session_state(created_at: dt.datetime, last_seen_at: dt.datetime, expires_at: dt.datetime,
                  ended_reason: str | None, now: dt.datetime, policy: Policy) -> SessionState:
    if ended_reason:
        return SessionState(False, ended_reason if ended_reason in ENDED_REASONS else "unknown")
    if now >= expires_at:
        return SessionState(False, "expired")
    if now - last_seen_at > dt.timedelta(minutes=policy.session_idle_minutes):
        return SessionState(False, "idle")
    return SessionState(True)


def expiry(now: dt.datetime, policy: Policy) -> dt.datetime:
    return now + dt.timedelta(hours=policy.session_absolute_hours)

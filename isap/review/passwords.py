"""Password hashing for local accounts (argon2id); passwords are never stored or logged in clear.

The cost of a new hash is policy (`password_hash_*`, by default argon2's RFC
9106 low-memory profile); a stored hash carries its own parameters, so any
hash verifies whatever the policy says now.  Each check at the default cost
takes 64 MiB of memory for a moment, by design: so a burst of sign-ins (a
script sending guesses for many names) would take as many times that at
once.  A process therefore runs only PASSWORD_CHECKS_AT_ONCE checks at a time;
the others wait their turn, which slows a burst down instead of exhausting the
machine's memory.
"""

from __future__ import annotations

import functools
import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from isap.policy import Policy

PASSWORD_CHECKS_AT_ONCE = 2  # 128 MiB at most for checking passwords, whatever arrives together
_CHECKING = threading.BoundedSemaphore(PASSWORD_CHECKS_AT_ONCE)
_DEFAULT = Policy()


@functools.lru_cache(maxsize=8)
def _hasher(time_cost: int, memory_kib: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)


def _hasher_for(policy: Policy | None) -> PasswordHasher:
    p = policy or _DEFAULT
    return _hasher(p.password_hash_time_cost, p.password_hash_memory_kib, p.password_hash_parallelism)


def password_refusal(password: str, policy: Policy | None = None) -> str | None:
    """Why `password` may not be an account's new password, or None: it is empty, or shorter than the policy's
    minimum (docs/decisions/0046-password-length.md)."""
    if not password:
        return "a password cannot be empty"
    least = (policy or _DEFAULT).min_password_length
    if len(password) < least:
        return (f"a password needs at least {least} characters (policy min_password_length); "
                "three random words make a long one that is easy to remember")
    return None


def hash_password(password: str, policy: Policy | None = None) -> str:
    if not password:
        raise ValueError("a password cannot be empty")
    return _hasher_for(policy).hash(password)


# verifies any hash at the cost it was made with (a hash names its own parameters)
_HASHER = _hasher_for(None)


def verify_password(stored_hash: str, password: str) -> bool:
    with _CHECKING:
        try:
            return _HASHER.verify(stored_hash, password)
        except (VerificationError, InvalidHashError):
            return False


_DUMMY: dict[PasswordHasher, str] = {}
_DUMMY_LOCK = threading.Lock()


def verify_unknown(password: str, policy: Policy | None = None) -> bool:
    """Spend the time a real check takes, for a user name without an account; always False.

    Without it an unknown name is refused in a millisecond and a known one in
    half a second, which tells anyone which accounts exist.  The dummy hash is
    made at the policy's cost, the cost of the accounts' hashes.
    """
    hasher = _hasher_for(policy)
    with _DUMMY_LOCK:  # made once per cost, at the cost of a check
        if hasher not in _DUMMY:
            with _CHECKING:
                _DUMMY[hasher] = hasher.hash("isap: no account has this name")
    verify_password(_DUMMY[hasher], password or " ")
    return False

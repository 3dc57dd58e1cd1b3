"""Password hashing for local accounts (argon2id); passwords are never stored or logged in clear.

Each check takes 64 MiB of memory for a moment, by design: so a burst of
sign-ins (a script sending guesses for many names) would take as many times
that at once.  A process therefore runs only PASSWORD_CHECKS_AT_ONCE checks at
a time; the others wait their turn, which slows a burst down instead of
exhausting the machine's memory.
"""

from __future__ import annotations

import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()
PASSWORD_CHECKS_AT_ONCE = 2  # 128 MiB at most for checking passwords, whatever arrives together
_CHECKING = threading.BoundedSemaphore(PASSWORD_CHECKS_AT_ONCE)


def hash_password(password: str) -> str:
    if not password:
        raise ValueError("a password cannot be empty")
    return _HASHER.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    with _CHECKING:
        try:
            return _HASHER.verify(stored_hash, password)
        except (VerificationError, InvalidHashError):
            return False


_DUMMY: list[str] = []


def verify_unknown(password: str) -> bool:
    """Spend the time a real check takes, for a user name without an account; always False.

    Without it an unknown name is refused in a millisecond and a known one in
    half a second, which tells anyone which accounts exist.
    """
    if not _DUMMY:
        with _CHECKING:  # made once, at the cost of a check
            if not _DUMMY:
                _DUMMY.append(_HASHER.hash("isap: no account has this name"))
    verify_password(_DUMMY[0], password or " ")
    return False

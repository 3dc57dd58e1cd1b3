"""Password hashing for local accounts (argon2id); passwords are never stored or logged in clear."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()


def hash_password(password: str) -> str:
    if not password:
        raise ValueError("a password cannot be empty")
    return _HASHER.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
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
        _DUMMY.append(_HASHER.hash("isap: no account has this name"))
    verify_password(_DUMMY[0], password or " ")
    return False

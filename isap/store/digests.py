"""What every store of originals shares: the one error they raise and the form of the names they keep bytes under.

A module of its own so that each store (`isap.store.originals`, `isap.store.s3`)
imports it and none imports another: `configured_originals` chooses the S3
store only when it is configured, and the S3 store must not import its chooser.
"""

from __future__ import annotations

import re

_SHA = re.compile(r"^[0-9a-f]{64}$")


class OriginalsError(RuntimeError):
    """An original that cannot be kept or read; the message says which and why."""


def checked_digest(sha256: str) -> str:
    """`sha256` when it is a SHA-256 digest in lower-case hex (never a path), else OriginalsError."""
    if not isinstance(sha256, str) or not _SHA.match(sha256):
        raise OriginalsError("not a SHA-256 digest")
    return sha256

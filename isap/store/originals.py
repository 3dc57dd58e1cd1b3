"""Where original uploads are kept, byte for byte, under their SHA-256: one interface, chosen by one setting.

Every machine (the dashboard, the CLI, each worker) must reach every original,
and a backup must hold them all, so by default they live in the database
itself (`DatabaseOriginals`).  A deployment that prefers an object store sets
`ISAP_ORIGINALS=s3://bucket/prefix` (`S3Originals`, any S3-compatible
service).  The file store of earlier releases (`isap.store.files`) is read only
by `isap store migrate`, which moves its originals here (docs/deployment.md).
"""

from __future__ import annotations

import hashlib
import os
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from isap.store.digests import OriginalsError, checked_digest
from isap.store.models import Original, utcnow

__all__ = ["DatabaseOriginals", "Originals", "OriginalsError", "checked_digest", "configured_originals",
           "originals_setting"]

ORIGINALS_ENV = "ISAP_ORIGINALS"


class Originals(Protocol):
    """What the review needs of a store of originals."""

    def put(self, data: bytes, session: Session | None = None) -> str:
        """Keep `data` (once, however often it is put); its SHA-256.  With `session`, where the store can, in
        that transaction, so the record of an upload never exists without its bytes."""

    def get(self, sha256: str) -> bytes:
        """The bytes kept under `sha256`; OriginalsError when there are none or they cannot be read."""

    def has(self, sha256: str) -> bool:
        """Whether bytes are kept under `sha256`."""

    def describe(self) -> str:
        """Where the originals are, in a few words, with no secret in them."""


class DatabaseOriginals:
    """Originals in the `original` table of isap's own database (the default)."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def put(self, data: bytes, session: Session | None = None) -> str:
        sha = hashlib.sha256(data).hexdigest()
        try:
            if session is not None:
                self._insert(session, sha, data)
            else:
                with Session(self.engine) as s, s.begin():
                    self._insert(s, sha, data)
        except SQLAlchemyError as exc:
            if session is not None:
                raise  # the caller's transaction decides (a busy database is retried there)
            raise OriginalsError(f"cannot keep the original: {type(exc).__name__}") from None
        return sha

    @staticmethod
    def _insert(s: Session, sha: str, data: bytes) -> None:
        dialect = s.get_bind().dialect.name
        values = {"sha256": sha, "size": len(data), "data": data, "created_at": utcnow()}
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        elif dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:  # pragma: no cover - isap runs on SQLite and PostgreSQL
            if s.get(Original, sha) is None:
                s.add(Original(**values))
            return
        # two people keeping the same bytes at once: the second insert is simply nothing new
        s.execute(insert(Original).values(**values).on_conflict_do_nothing(index_elements=["sha256"]))

    def get(self, sha256: str) -> bytes:
        checked_digest(sha256)
        try:
            with Session(self.engine) as s:
                data = s.execute(select(Original.data).where(Original.sha256 == sha256)).scalar()
        except SQLAlchemyError as exc:
            raise OriginalsError(f"the original {sha256[:12]}… cannot be read: {type(exc).__name__}") from None
        if data is None:
            raise OriginalsError(f"the original {sha256[:12]}… is not in the store")
        return bytes(data)

    def has(self, sha256: str) -> bool:
        checked_digest(sha256)
        with Session(self.engine) as s:
            return s.execute(select(Original.sha256).where(Original.sha256 == sha256)).first() is not None

    def describe(self) -> str:
        return "the database"


def originals_setting() -> str:
    """ISAP_ORIGINALS: `database` (the default) or `s3://bucket[/prefix]`."""
    return os.environ.get(ORIGINALS_ENV, "").strip() or "database"


def configured_originals(engine: Engine) -> Originals:
    """The store of originals this installation is set to use (ISAP_ORIGINALS)."""
    setting = originals_setting()
    if setting == "database":
        return DatabaseOriginals(engine)
    if setting.startswith("s3://"):
        from isap.store.s3 import S3Originals

        return S3Originals.from_url(setting)
    raise OriginalsError(f"{ORIGINALS_ENV}={setting!r}: use `database` or s3://bucket/prefix")

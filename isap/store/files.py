"""The content-addressed file store of original uploads, as earlier releases kept them on one machine's disk.

Originals now live where every machine reaches them (`isap.store.originals`);
this store is read by `isap store migrate`, which moves them there, and it
serves tests that need a store outside the database.  Every file is kept byte
for byte under its SHA-256.  File names never come from
the uploader (no path traversal is possible), and writes are atomic (a
temporary file renamed into place), so a crash cannot leave half a file.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from isap.private import private_dir
from isap.store.originals import OriginalsError

_SHA = re.compile(r"^[0-9a-f]{64}$")
FileStoreError = OriginalsError


class FileStore:
    def __init__(self, root: Path):
        self.root = Path(root)

    def path_for(self, sha256: str) -> Path:
        if not _SHA.match(sha256):
            raise FileStoreError("not a SHA-256 digest")
        return self.root / sha256[:2] / sha256

    def put(self, data: bytes, session=None) -> str:
        sha = hashlib.sha256(data).hexdigest()
        target = self.path_for(sha)
        if target.exists():
            return sha
        try:
            private_dir(target.parent)  # mkstemp makes the file itself 0600
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except OSError as exc:
            raise FileStoreError(f"cannot store the file: {exc.strerror or exc}") from None
        return sha

    def get(self, sha256: str) -> bytes:
        try:
            return self.path_for(sha256).read_bytes()
        except OSError as exc:
            raise FileStoreError(f"the stored file {sha256[:12]}… cannot be read: {exc.strerror or exc}") from None


    def has(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    def describe(self) -> str:
        return f"files under {self.root}"


def default_store() -> FileStore:
    from isap.store.db import data_dir

    return FileStore(data_dir() / "files")


@dataclass
class Moving:
    """What `move_originals` did, digest by digest."""

    moved: list[str] = field(default_factory=list)
    already_there: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # in the database, not in the folder
    corrupt: list[str] = field(default_factory=list)  # in the folder, but not the bytes their name promises
    unreadable: list[str] = field(default_factory=list)  # in the folder, but cannot be read

    @property
    def complete(self) -> bool:
        """Whether every original the database refers to is now in the store."""
        return not (self.missing or self.corrupt or self.unreadable)


def referenced_originals(engine) -> list[str]:
    """Every SHA-256 the database refers to: each version's and each unassigned upload's original."""
    from sqlalchemy import select, union
    from sqlalchemy.orm import Session

    from isap.store.models import SubmissionVersion, UnassignedUpload

    with Session(engine) as s:
        q = union(select(SubmissionVersion.sha256), select(UnassignedUpload.sha256))
        return sorted(s.execute(q).scalars())


def move_originals(digests: list[str], source: FileStore, target) -> Moving:
    """Copy the originals named by `digests` from the file store `source` into `target` (an `Originals`).

    Each file's bytes are checked against their name before they are kept, and
    what `target` already has is left alone, so running it again after a fault
    carries on where it stopped.  Nothing in `source` is deleted: the operator
    removes the folder once satisfied.  A store that refuses to keep an
    original stops the move (OriginalsError, saying how far it got): every
    further original would be refused the same way.
    """
    done = Moving()
    for sha in digests:
        if target.has(sha):
            done.already_there.append(sha)
            continue
        try:
            data = source.path_for(sha).read_bytes()
        except FileNotFoundError:
            done.missing.append(sha)
            continue
        except (OSError, OriginalsError):
            done.unreadable.append(sha)
            continue
        if hashlib.sha256(data).hexdigest() != sha:
            done.corrupt.append(sha)
            continue
        try:
            target.put(data)
        except OriginalsError as exc:
            raise OriginalsError(f"{exc} ({len(done.moved)} original(s) moved before it; run the move again to "
                                 "carry on)") from None
        done.moved.append(sha)
    return done

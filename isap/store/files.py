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
from pathlib import Path

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
            target.parent.mkdir(parents=True, exist_ok=True)
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

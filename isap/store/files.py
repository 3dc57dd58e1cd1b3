"""The content-addressed file store of original uploads.

Every uploaded file is kept byte for byte under its SHA-256, so a version can
always be downloaded exactly as it was submitted.  File names never come from
the uploader (no path traversal is possible), and writes are atomic (a
temporary file renamed into place), so a crash cannot leave half a file.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

_SHA = re.compile(r"^[0-9a-f]{64}$")


class FileStoreError(RuntimeError):
    pass


class FileStore:
    def __init__(self, root: Path):
        self.root = Path(root)

    def path_for(self, sha256: str) -> Path:
        if not _SHA.match(sha256):
            raise FileStoreError("not a SHA-256 digest")
        return self.root / sha256[:2] / sha256

    def put(self, data: bytes) -> str:
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


def default_store() -> FileStore:
    from isap.store.db import data_dir

    return FileStore(data_dir() / "files")

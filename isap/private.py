"""Files and folders isap writes that hold personal or proposal data: readable by isap's own account only.

The database, the originals, the outbox's messages and the documents the
command line writes hold names, addresses and proposals.  Under a common umask
(022) a new file is readable by every account on the machine; these helpers
create files as 0600 and folders as 0700 whatever the umask, and tighten one
isap made earlier that others could read.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

FILE_MODE = 0o600
FOLDER_MODE = 0o700


def private_dir(path: Path) -> Path:
    """Make `path` (and any missing parents) a folder; one this call creates is 0700."""
    path = Path(path)
    missing = []
    p = path
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    path.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    for made in missing:  # mkdir's parents get the umask's mode, not `mode`
        try:
            os.chmod(made, FOLDER_MODE)
        except OSError:
            pass
    return path


def make_private(path: Path) -> None:
    """Take group and other access away from an existing file of isap's (one made before this rule)."""
    try:
        mode = os.stat(path).st_mode
        if mode & 0o077:
            os.chmod(path, mode & 0o700)
    except OSError:
        pass


def create_private_file(path: Path) -> None:
    """Create `path` empty with mode 0600 if it does not exist; make an existing one private."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        make_private(path)


def write_private(path: Path, data: str | bytes, replace: bool = True) -> None:
    """Write `data` to `path` with mode 0600, whole or not at all.

    Without `replace`, an existing `path` is never touched (FileExistsError), and
    the file is opened with O_EXCL so that no file or link that appeared since it
    was looked for is written through.
    """
    path = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if not replace:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(raw)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".isap-")  # mkstemp's mode is 0600
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

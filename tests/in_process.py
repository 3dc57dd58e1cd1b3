"""`isap` run in the test's own process, answering as a finished `python -m isap.cli` does.

A new Python for each command spends a second or more of processor time importing the stack before it reads its
arguments (several on a loaded machine), and most tests of a command need only its exit status and what it
printed. Those tests call `isap` here. The few that prove what only a real process shows (the entry point's
one-line message for any failure, a policy found from the working directory the process starts in, a child that
outlives its parent) still start one.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path


def isap(*args: str, env: Mapping[str, str | None] | None = None, cwd: Path | str | None = None,
         input: str | None = None) -> subprocess.CompletedProcess:
    """Run `isap ARGS` in this process with `env` laid over this process's environment (None unsets a name) and,
    given `cwd`, in that working directory; the environment and directory are this process's again afterwards,
    whatever the command set.

    An exception the command does not turn into a message is raised here, so the test fails with its traceback:
    a real process would have printed it as an "unexpected failure" line."""
    from typer.testing import CliRunner

    from isap.cli import app
    from isap.workbook import isolation

    environ = dict(os.environ)  # what a command sets for the processes it starts ends with it, as with a process
    # A command that checks files chooses a child forked from its own one-shot process (`isolation.use_fork`).
    # That choice is the command's, as its process would be: this process has threads (polars'), and a child
    # forked from it would wait out its time limit at its first query.
    checking = isolation._CONTEXT
    try:
        with contextlib.chdir(cwd) if cwd is not None else contextlib.nullcontext():
            r = CliRunner().invoke(app, list(map(str, args)), env=dict(env or {}), input=input)
    finally:
        if os.environ != environ:
            os.environ.clear()
            os.environ.update(environ)
        if isolation._CONTEXT != checking:
            isolation.shutdown()  # the command's forked child ends with it
            isolation._CONTEXT = checking
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception
    return subprocess.CompletedProcess(["isap", *args], r.exit_code, r.stdout, r.stderr)

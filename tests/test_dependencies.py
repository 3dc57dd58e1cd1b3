"""The installed versions are the locked ones, and the locked ones work together.

Prefect 3.8.8's scheduler fails every pass on SQLAlchemy 2.1 ("Can't evaluate
bulk DML statement"), creating no scheduled run and saying so only in the
server's log; and a lock file that no longer matches the environment the tests
ran in vouches for nothing.  Both are caught here, before a deployment is.
"""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent


def locked() -> dict[str, list[str]]:
    """Every `name==version` of requirements.lock (a name may be locked per Python version, behind a marker)."""
    pins: dict[str, list[str]] = {}
    for line in (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines():
        m = re.match(r"([A-Za-z0-9._-]+)==([^\s;]+)", line)
        if m:
            pins.setdefault(re.sub(r"[-_.]+", "-", m[1]).lower(), []).append(m[2])
    return pins


def test_sqlalchemy_is_one_prefects_scheduler_works_with():
    assert Version(version("sqlalchemy")) < Version("2.1")


def test_the_lock_names_the_versions_installed():
    pins = locked()
    for name in ("prefect", "sqlalchemy", "fastapi"):
        assert version(name) in pins.get(name, []), (
            f"{name} {version(name)} is installed but requirements.lock has {pins.get(name)}: "
            "run scripts/lock.sh and scripts/setup.sh")

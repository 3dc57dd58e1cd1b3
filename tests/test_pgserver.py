"""The tests' own PostgreSQL server dies with the test run, however the run ends (a killed CI job included)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from tests.pgserver import _bindir

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.e2e  # kills a process

HOLDER = """
import sys, time
from tests.pgserver import restartable_server
with restartable_server() as (url, restart):
    restart(0.1)  # a restarted server is the run's child too
    print(url, flush=True)
    time.sleep(600)
"""


def test_a_killed_run_leaves_no_postgresql_server_behind():
    if _bindir() is None:
        pytest.skip("PostgreSQL is not installed here")
    holder = subprocess.Popen([sys.executable, "-c", HOLDER], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        url = holder.stdout.readline().strip()
        assert url.startswith("postgresql"), url
        port = url.rsplit(":", 1)[1].split("/")[0]
        servers = [p for p in psutil.process_iter(["cmdline"])
                   if "postgres" in " ".join(p.info["cmdline"] or []) and port in (p.info["cmdline"] or [])]
        assert servers, "the server is not running"
        os.kill(holder.pid, signal.SIGKILL)  # no clean-up code runs
        holder.wait()
        gone, alive = psutil.wait_procs(servers, timeout=15)
        assert not alive, [p.pid for p in alive]
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()

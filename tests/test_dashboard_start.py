"""`isap dashboard` gives its address only once the address answers, and its own Prefect server starts at a
lower priority than the pages, so the first person to open the address is not kept waiting by either."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request

import psutil
import pytest

from isap.orchestration.processes import BACKGROUND_NICENESS, die_with_parent, free_port

pytestmark = pytest.mark.e2e  # a real Streamlit server and a real Prefect server


def test_the_address_is_given_once_it_answers_and_prefect_yields_the_processor(tmp_path):
    env = {**os.environ, "ISAP_DATA_DIR": str(tmp_path / "data")}
    env.pop("ISAP_DATABASE_URL", None)
    env.pop("PREFECT_API_URL", None)
    subprocess.run([sys.executable, "-m", "isap.cli", "db", "upgrade"], env=env, check=True, capture_output=True)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "isap.cli", "dashboard", "--port", str(port), "--host",
                             "127.0.0.1"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=die_with_parent())
    try:
        seen = []
        deadline = time.monotonic() + 180
        for line in proc.stdout:
            seen.append(line)
            if line.startswith("Dashboard: http://"):
                # the moment the address is given, it answers
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=5) as answer:
                    assert answer.status == 200
                break
            assert time.monotonic() < deadline, seen
        else:
            pytest.fail("no address was given: " + "".join(seen))
        prefect = [p for p in psutil.Process(proc.pid).children(recursive=True)
                   if "prefect" in " ".join(p.cmdline()) and "server" in p.cmdline()]
        assert prefect and all(p.nice() == BACKGROUND_NICENESS for p in prefect)
        pages = [p for p in psutil.Process(proc.pid).children() if "streamlit" in " ".join(p.cmdline())]
        assert pages and all(p.nice() == 0 for p in pages)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

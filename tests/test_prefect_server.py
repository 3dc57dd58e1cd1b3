"""Scale-out as far as one machine allows: a real Prefect server and a worker process on loopback.

The deployments come from the project's own prefect.yaml (`prefect deploy --all`),
the worker is started with `isap worker`, and a deployment run of
`assure_inbox` is submitted through the Prefect API; the results are then read
back from isap's database.  Every process runs with its own PREFECT_HOME and
ISAP_DATA_DIR, so nothing touches the user's settings.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from isap.orchestration.processes import die_with_parent
from tests.inboxes import mixed_inbox

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    # A session of its own so the server's and the worker's children are stopped with them, and a
    # parent-death signal so they go even if pytest itself is killed.
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True, preexec_fn=die_with_parent())


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


def wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the Prefect server exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"the Prefect server did not answer {url} within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def run(args: list[str], env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    r = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{' '.join(args)} exited {r.returncode}:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory):
    base = tmp_path_factory.mktemp("prefect-server")
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PREFECT_", "ISAP_")) or k == "ISAP_TEST_RUN"}  # the run's mark stays
    env.update({"PREFECT_HOME": str(base / "home"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "PREFECT_SERVER_UI_ENABLED": "false", "PREFECT_TELEMETRY_ENABLE_RESOURCE_METRICS": "false",
                "PREFECT_LOGGING_LEVEL": "INFO"})
    log = base / "server.log"
    server = start([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                    "--port", str(port)], env, log)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/api/health", server, log)
        env["PREFECT_API_URL"] = f"http://127.0.0.1:{port}/api"
        yield env, base
    finally:
        stop(server)


def test_deployment_run_of_assure_inbox_on_a_worker(prefect_server):
    env, base = prefect_server
    data = base / "isap-data"
    env = {**env, "ISAP_DATA_DIR": str(data), "ISAP_HOME": str(ROOT)}
    isap = [sys.executable, "-m", "isap.cli"]
    run([*isap, "db", "upgrade"], env)
    run([*isap, "org", "add", "QUA", "Black Country ICB"], env)
    run([*isap, "user", "add", "alice", "--role", "commissioner", "--org", "QUA", "--password", "pw-alice"], env)

    inbox = mixed_inbox(base / "inbox")

    run([sys.executable, "-m", "prefect", "work-pool", "create", "isap", "--type", "process"], env)
    deployed = run([sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all"], env)
    for name in ("assure_submission/assure-submission", "assure_inbox/assure-inbox",
                 "review_reminders/review-reminders"):
        assert name in deployed.stdout

    worker_log = base / "worker.log"
    worker = start([*isap, "worker", "--pool", "isap"], env, worker_log)
    try:
        started = time.monotonic()
        r = subprocess.run([sys.executable, "-m", "prefect", "deployment", "run", "assure_inbox/assure-inbox",
                            "--param", f"directory={inbox}", "--param", "actor=alice",
                            "--watch", "--watch-timeout", "300"],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=330)
        elapsed = time.monotonic() - started
        assert r.returncode == 0, f"{r.stdout[-3000:]}\n{r.stderr[-2000:]}\nworker:\n{worker_log.read_text()[-3000:]}"
        assert "Completed" in r.stdout
    finally:
        stop(worker)

    # The worker ran the flow in its own process: the results are in isap's database.
    engine = create_engine(f"sqlite:///{data / 'isap.db'}")
    with engine.connect() as conn:
        rows = dict(conn.execute(text(
            "SELECT p.reference, v.errors FROM submissionversion v JOIN proposal p ON p.id = v.proposal_id")).all())
        unassigned = conn.execute(text("SELECT filename FROM unassignedupload")).scalars().all()
    engine.dispose()
    assert rows == {"ISAP-2026-011": 0, "ISAP-2026-012": 1}
    assert unassigned == ["broken.xlsx"]
    log = worker_log.read_text()
    assert "assuring 3 workbook(s)" in log and "sandwell.xlsx: has errors" in log
    print(f"deployment run of assure_inbox on a worker: {elapsed:.1f} s")

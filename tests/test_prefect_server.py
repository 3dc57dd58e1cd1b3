"""Scale-out as far as one machine allows: a real Prefect server, `isap deploy` and `isap worker` on loopback.

The server runs as in production: with its scheduler, and asking every client
for a credential (PREFECT_SERVER_API_AUTH_STRING; the clients present it as
PREFECT_API_AUTH_STRING).  `isap deploy` registers the deployments from a
folder that is not the checkout, so nothing depends on where the source is;
`isap worker` serves them.  A run of `deliver_notifications` that the schedule
created must complete within a minute of deploying; and a worker stopped by a
service manager (one SIGTERM) must be gone, with everything it started, within
10 s.  Every process runs with its own PREFECT_HOME and ISAP_DATA_DIR, so
nothing touches the user's settings.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

from isap.orchestration.processes import auth_headers, die_with_parent
from tests.cluster import stop
from tests.conftest import seed_prefect_home

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
ISAP = [sys.executable, "-m", "isap.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args: list[str], env: dict, log: Path, cwd: Path) -> subprocess.Popen:
    # A session of its own so the server's and the worker's children are stopped with them, and a
    # parent-death signal so they go even if pytest itself is killed.
    return subprocess.Popen(args, cwd=cwd, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True, preexec_fn=die_with_parent())


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


def run(args: list[str], env: dict, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    r = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{' '.join(args)} exited {r.returncode}:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


def api(env: dict, path: str, body: dict) -> list | dict:
    request = urllib.request.Request(env["PREFECT_API_URL"] + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json",
                                              **auth_headers(env["PREFECT_API_AUTH_STRING"])})
    with urllib.request.urlopen(request, timeout=10) as r:
        return json.loads(r.read())


def workers(env: dict, pool: str) -> list:
    try:
        return api(env, f"/work_pools/{pool}/workers/filter", {})
    except urllib.error.HTTPError as exc:
        if exc.code == 404:  # the worker has not created its pool yet
            return []
        raise


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory):
    """A Prefect server with its scheduler, asking for a credential; yields the clients' environment."""
    base = tmp_path_factory.mktemp("prefect-server")
    port = free_port()
    auth = f"isap:{secrets.token_urlsafe(32)}"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PREFECT_", "ISAP_")) or k == "ISAP_TEST_RUN"}  # the run's mark stays
    env.update({"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_SERVER_UI_ENABLED": "false",
                "PREFECT_TELEMETRY_ENABLE_RESOURCE_METRICS": "false", "PREFECT_LOGGING_LEVEL": "INFO"})
    server_home = seed_prefect_home(base / "server-home")  # its database migrated already
    server_env = {**env, "PREFECT_HOME": str(server_home), "PREFECT_SERVER_API_AUTH_STRING": auth,
                  # the scheduler looks for deployments to schedule every 2 s instead of every 60 s
                  "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "2"}
    log = base / "server.log"
    server = start([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                    "--port", str(port)], server_env, log, base)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/api/health", server, log)
        env.update({"PREFECT_API_URL": f"http://127.0.0.1:{port}/api", "PREFECT_API_AUTH_STRING": auth})
        yield env, base, log
    finally:
        stop(server)


def client_env(env: dict, base: Path, name: str) -> dict:
    """A client of its own: its own Prefect home, the shared isap data folder."""
    return {**env, "PREFECT_HOME": str(base / f"{name}-home"), "ISAP_DATA_DIR": str(base / "isap-data")}


def test_a_scheduled_delivery_is_run_by_a_worker_within_a_minute_of_deploying(prefect_server, tmp_path):
    env, base, server_log = prefect_server
    elsewhere = tmp_path / "not-the-checkout"  # where `isap deploy` and the worker run: no source tree here
    elsewhere.mkdir()
    run([*ISAP, "db", "upgrade"], client_env(env, base, "cli"), elsewhere)

    started = time.monotonic()
    deployed = run([*ISAP, "deploy", "--pool", "p", "--notifications-every", "10"], client_env(env, base, "cli"),
                   elsewhere)
    for name in ("assure_submission/assure-submission", "review_reminders/review-reminders",
                 "deliver_notifications/deliver-notifications"):
        assert f"Deployed {name} in work pool p" in deployed.stdout
    registered = {d["name"]: d for d in api(env, "/deployments/filter", {})}
    for d in registered.values():
        assert d["entrypoint"].startswith("isap.orchestration.flows.") and not d["path"], d
        assert d["work_pool_name"] == "p"
    assert [s["schedule"].get("interval") for s in registered["deliver-notifications"]["schedules"]] == [10.0]
    assert [s["schedule"].get("cron") for s in registered["review-reminders"]["schedules"]] == ["0 7 * * *"]
    assert registered["assure-submission"]["schedules"] == []

    worker_log = tmp_path / "worker.log"
    worker = start([*ISAP, "worker", "--pool", "p"], client_env(env, base, "worker"), worker_log, elsewhere)
    try:
        deliveries = registered["deliver-notifications"]["id"]
        completed = []
        while time.monotonic() - started < 60 and not completed:
            if worker.poll() is not None:
                pytest.fail(f"the worker exited ({worker.returncode}):\n{worker_log.read_text()[-3000:]}")
            runs = api(env, "/flow_runs/filter", {"deployments": {"id": {"any_": [deliveries]}}})
            completed = [r for r in runs if r["state_type"] == "COMPLETED" and r["auto_scheduled"]]
            time.sleep(1)
        elapsed = time.monotonic() - started
        assert completed, (f"no scheduled delivery completed within 60 s of deploying; runs: "
                           f"{[(r['name'], r['state_name'], r['auto_scheduled']) for r in runs]}\n"
                           f"worker:\n{worker_log.read_text()[-3000:]}\nserver:\n{server_log.read_text()[-2000:]}")
    finally:
        stop(worker)
    print(f"a scheduled delivery completed {elapsed:.1f} s after `isap deploy` started")


def test_a_worker_stopped_by_one_sigterm_is_gone_with_its_children_within_10_s(prefect_server, tmp_path):
    env, base, _ = prefect_server
    log = tmp_path / "worker.log"
    worker = start([*ISAP, "worker", "--pool", "stopping", "--limit", "1"], client_env(env, base, "stopping"), log,
                   tmp_path)
    try:
        # Idle: it has registered with the server and is polling its pool.
        deadline = time.monotonic() + 120
        while not workers(env, "stopping"):
            if worker.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the worker did not start ({worker.poll()}):\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        root = psutil.Process(worker.pid)
        procs = [root, *root.children(recursive=True)]
        assert any("worker" in " ".join(p.cmdline()) and "prefect" in " ".join(p.cmdline()) for p in procs[1:])

        stopped = time.monotonic()
        worker.send_signal(signal.SIGTERM)  # to `isap worker` alone, as a service manager does
        worker.wait(timeout=10)
        _, alive = psutil.wait_procs(procs, timeout=max(0.0, 10 - (time.monotonic() - stopped)))
        took = time.monotonic() - stopped
        assert not alive, f"still running {took:.1f} s after SIGTERM: {[p.cmdline() for p in alive]}"
    finally:
        stop(worker)
    print(f"a worker stopped by SIGTERM was gone in {took:.1f} s")

"""The production shape on one host, honestly: machines that share nothing but the network.

PostgreSQL for isap and for Prefect's own server; a Prefect server that requires
its auth string; two `isap worker`s, each in a mount namespace of its own
(`unshare -m`) with an empty tmpfs over machine A's folders and the other
worker's, with its own data directory, HOME and PREFECT_HOME.  Machine A (this
test) runs `isap ingest` over a folder only it can see: the files cross to the
workers through the store, never as paths.  One worker machine dies (every
process in its namespace is SIGKILLed) mid-batch; the batch still completes,
every original downloads on machine A with the right SHA-256, and the audit
chain verifies.  A run created by hand, without the auth string or with forged
parameters, can neither act as anyone nor make a worker read a file.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from isap.orchestration.processes import die_with_parent, free_port
from sample_submissions.proposals import clean, write

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow

QUIET = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_SERVER_UI_ENABLED": "false",
         "PREFECT_LOGGING_LEVEL": "WARNING", "PREFECT_TELEMETRY_ENABLE_RESOURCE_METRICS": "false",
         "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120", "NO_COLOR": "1"}
FILES = 40


def _can_unshare() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-m", "--propagation", "private", "true"], capture_output=True).returncode == 0


def _mount_namespace(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/mnt")
    except OSError:
        return None


def kill_machine(namespace: str) -> int:
    """SIGKILL every process in one mount namespace (a machine that dies outright); how many."""
    killed = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit() and _mount_namespace(int(entry)) == namespace:
            try:
                os.kill(int(entry), signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
    return killed


def start(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(args, cwd=log.parent, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True, preexec_fn=die_with_parent())


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)


def http(url: str, body: dict | None = None, auth: str | None = None) -> tuple[int, bytes]:
    import base64

    request = urllib.request.Request(url, data=json.dumps(body or {}).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture
def cluster(tmp_path, postgres_server):
    """A Prefect server with auth on PostgreSQL, isap's database, and the folders of three machines."""
    if not _can_unshare():
        pytest.skip("needs root and unshare for mount namespaces (CI runs as root)")
    from tests.pgserver import create_database

    suffix = secrets.token_hex(4)
    isap_url = create_database(postgres_server, f"isap_{suffix}")
    prefect_url = create_database(postgres_server, f"prefect_{suffix}").replace("postgresql+psycopg",
                                                                                 "postgresql+asyncpg")
    machines = {name: tmp_path / name for name in ("A", "W1", "W2", "S")}
    for folder in machines.values():
        for sub in ("home", "prefect", "data"):
            (folder / sub).mkdir(parents=True)
    auth = "isap:" + secrets.token_urlsafe(24)
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "ISAP_"))}
    server_env = {**base, **QUIET, "HOME": str(machines["S"] / "home"),
                  "PREFECT_HOME": str(machines["S"] / "prefect"),
                  "PREFECT_API_DATABASE_CONNECTION_URL": prefect_url,
                  "PREFECT_SERVER_API_AUTH_STRING": auth}
    server = start([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                   server_env, machines["S"] / "server.log")

    def machine_env(name: str) -> dict:
        return {**base, **QUIET, "HOME": str(machines[name] / "home"), "PREFECT_HOME": str(machines[name] / "prefect"),
                "ISAP_DATA_DIR": str(machines[name] / "data"), "ISAP_DATABASE_URL": isap_url,
                "PREFECT_API_URL": api, "PREFECT_API_AUTH_STRING": auth}

    procs = [server]
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert server.poll() is None, (machines["S"] / "server.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(api + "/health", timeout=2):
                    break
            except (OSError, urllib.error.HTTPError):
                time.sleep(0.5)
        else:
            pytest.fail("the Prefect server did not start: " + (machines["S"] / "server.log").read_text()[-3000:])
        yield {"machines": machines, "env": machine_env, "api": api, "auth": auth, "isap_url": isap_url,
               "procs": procs}
    finally:
        for proc in reversed(procs):
            stop(proc)


def isap(*args: str, env: dict, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "isap.cli", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


def start_worker(cluster, name: str, hidden: list[Path]) -> subprocess.Popen:
    """`isap worker` on a machine of its own: a mount namespace where the other machines' folders are empty."""
    mounts = " && ".join(f"mount -t tmpfs none {folder}" for folder in hidden)
    command = f"{mounts} && exec {sys.executable} -m isap.cli worker --pool isap --limit 1"
    folder = cluster["machines"][name]
    env = {**cluster["env"](name), "PREFECT_LOGGING_LEVEL": "INFO"}  # its log says which runs it took
    proc = start(["unshare", "-m", "--propagation", "private", "sh", "-c", command], env, folder / "worker.log")
    cluster["procs"].append(proc)
    return proc


def test_a_batch_from_one_machine_is_shared_by_two_workers_that_see_none_of_its_files(cluster):
    machines, env_of = cluster["machines"], cluster["env"]
    a = env_of("A")
    assert isap("db", "upgrade", env=a, cwd=machines["A"]).returncode == 0
    for args in (("org", "add", "QUA", "NHS Black Country ICB"),
                 ("user", "add", "alice", "--role", "commissioner", "--org", "QUA")):
        done = isap(*args, env=a, cwd=machines["A"])
        assert done.returncode == 0, done.stderr

    # The server refuses whoever lacks its auth string, whatever they ask.
    status, _ = http(cluster["api"] + "/deployments/filter", {})
    assert status == 401
    status, _ = http(cluster["api"] + "/deployments/filter", {}, auth=cluster["auth"])
    assert status == 200

    deployed = isap("deploy", "--pool", "isap", env=a, cwd=machines["A"] / "home")  # no checkout needed
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    workers = {name: start_worker(cluster, name, [machines["A"], machines[other]])
               for name, other in (("W1", "W2"), ("W2", "W1"))}

    # The files exist only on machine A; a few are later versions of one proposal, kept in name order.
    inbox = machines["A"] / "inbox"
    inbox.mkdir()
    expected: dict[str, str] = {}
    for i in range(FILES):
        if i < 4:
            proposal = clean(1, reference="ISAP-2026-200")
            proposal["Cover"]["proposal_title"] = f"Revision {i}"
        else:
            proposal = clean(1, reference=f"ISAP-2026-{300 + i}")
        path = write(proposal, inbox / f"f{i:02d}.xlsx")
        expected[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()

    ingest = subprocess.Popen([sys.executable, "-m", "isap.cli", "ingest", str(inbox), "--as", "alice", "-f", "json"],
                              env=a, cwd=machines["A"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              preexec_fn=die_with_parent())
    cluster["procs"].append(ingest)

    # Machine W2 dies outright once the batch is under way on both machines.
    from sqlalchemy import create_engine, text

    engine = create_engine(cluster["isap_url"])

    def finished() -> int:
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM staged_upload WHERE state IN ('done', 'failed')")).scalar()

    namespace = _mount_namespace(workers["W2"].pid)
    deadline = time.monotonic() + 300
    while finished() < 6 and time.monotonic() < deadline and ingest.poll() is None:
        time.sleep(0.5)
    took_runs = (machines["W2"] / "worker.log").read_text(errors="replace")
    assert "ubmitting flow run" in took_runs or "ubmitted flow run" in took_runs, took_runs[-2000:]
    assert kill_machine(namespace) >= 1

    out, err = ingest.communicate(timeout=900)
    assert ingest.returncode == 0, out[-3000:] + err[-3000:]
    rows = json.loads(out)
    assert [r["file"] for r in rows] == sorted(expected)
    assert not [r for r in rows if r["outcome"].startswith(("failed", "refused"))], rows
    assert [r["version"] for r in rows[:4]] == [1, 2, 3, 4]  # one proposal's files kept in name order

    # Both machines took runs of the batch (machine W1's log names runs too).
    assert "flow run" in (machines["W1"] / "worker.log").read_text(errors="replace")

    # Every original downloads on machine A, byte for byte.
    for row in rows[3:6]:
        out_file = machines["A"] / f"download-{row['file']}"
        got = isap("download", row["reference"], "--version", str(row["version"]), "--out", str(out_file),
                   "--as", "alice", env=a, cwd=machines["A"])
        assert got.returncode == 0, got.stderr
        assert hashlib.sha256(out_file.read_bytes()).hexdigest() == expected[row["file"]]
    with engine.connect() as conn:
        kept = {r[0] for r in conn.execute(text("SELECT sha256 FROM original"))}
        versions = conn.execute(text("SELECT count(*) FROM submissionversion")).scalar()
    assert set(expected.values()) <= kept and versions == FILES
    verified = isap("audit", "verify", env=a, cwd=machines["A"])
    assert verified.returncode == 0, verified.stdout + verified.stderr

    # A run created by hand with forged parameters: no identity, no path is taken from it.
    status, body = http(cluster["api"] + "/deployments/filter",
                        {"deployments": {"name": {"any_": ["assure-submission"]}}}, auth=cluster["auth"])
    [deployment] = json.loads(body)
    forged = {"actor": "alice", "filename": "x.xlsx", "path": "/etc/passwd"}
    status, _ = http(cluster["api"] + f"/deployments/{deployment['id']}/create_flow_run", {"parameters": forged})
    assert status == 401  # without the auth string: refused outright
    status, _ = http(cluster["api"] + f"/deployments/{deployment['id']}/create_flow_run", {"parameters": forged},
                     auth=cluster["auth"])
    assert status >= 400  # with it, parameters the flow does not take are refused by its schema
    status, body = http(cluster["api"] + f"/deployments/{deployment['id']}/create_flow_run",
                        {"parameters": {"staging": "/etc/passwd"}}, auth=cluster["auth"])
    assert status in (200, 201), body
    run_id = json.loads(body)["id"]
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        status, body = http(cluster["api"] + "/flow_runs/filter",
                            {"flow_runs": {"id": {"any_": [run_id]}}}, auth=cluster["auth"])
        state = json.loads(body)[0]["state"]["type"]
        if state in ("COMPLETED", "FAILED", "CRASHED"):
            break
        time.sleep(1)
    assert state == "COMPLETED"
    passwd = hashlib.sha256(Path("/etc/passwd").read_bytes()).hexdigest()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM submissionversion")).scalar() == FILES
        assert conn.execute(text("SELECT count(*) FROM original WHERE sha256 = :s"), {"s": passwd}).scalar() == 0
    # Prefect's records of every run hold the run key alone: no user names, no file names.
    status, body = http(cluster["api"] + "/flow_runs/filter", {"limit": 200}, auth=cluster["auth"])
    for run in json.loads(body):
        assert set(run["parameters"]) <= {"staging", "limit", "today", "grace_seconds"}, run["parameters"]
        assert "alice" not in json.dumps(run["parameters"]) and ".xlsx" not in json.dumps(run["parameters"])
    engine.dispose()

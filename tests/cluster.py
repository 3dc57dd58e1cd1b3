"""Machines that share nothing but the network, on one host: for the multi-machine test and its benchmark.

PostgreSQL for isap and for Prefect's own server; a Prefect server that requires
its auth string; `isap worker`s, each in a mount namespace of its own (`unshare
-m`) with an empty tmpfs over the other machines' folders, with its own data
directory, HOME and PREFECT_HOME.  Needs root (CI runs as root).
"""

from __future__ import annotations

import contextlib
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

from isap.orchestration.processes import die_with_parent, free_port

QUIET = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_SERVER_UI_ENABLED": "false",
         "PREFECT_LOGGING_LEVEL": "WARNING", "PREFECT_TELEMETRY_ENABLE_RESOURCE_METRICS": "false",
         "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120", "NO_COLOR": "1"}


def can_unshare() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-m", "--propagation", "private", "true"], capture_output=True).returncode == 0


def mount_namespace(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/mnt")
    except OSError:
        return None


def kill_machine(namespace: str) -> int:
    """SIGKILL every process in one mount namespace (a machine that dies outright); how many."""
    killed = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit() and mount_namespace(int(entry)) == namespace:
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
    """End a process and its group: SIGTERM, then SIGKILL after 20 s.  A process that leads no group of its own
    (started without a new session) is signalled alone, rather than not at all."""
    if proc.poll() is not None:
        return

    def signal_it(sig: int) -> None:
        try:
            if os.getpgid(proc.pid) == proc.pid:
                os.killpg(proc.pid, sig)
            else:
                proc.send_signal(sig)
        except ProcessLookupError:
            pass

    signal_it(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        signal_it(signal.SIGKILL)
        proc.wait(timeout=10)


def stop_all(procs: list[subprocess.Popen]) -> None:
    """Stop every process, the last started first; one that will not stop does not spare the others."""
    failures = []
    for proc in reversed(procs):
        try:
            stop(proc)
        except Exception as exc:  # noqa: BLE001 - reported once every other process has been stopped
            failures.append(exc)
    if failures:
        raise failures[0]


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


@contextlib.contextmanager
def cluster(tmp_path: Path, postgres_server: str):
    """A Prefect server with auth on PostgreSQL, isap's database, and the folders of the machines."""
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
            if server.poll() is not None:
                raise RuntimeError((machines["S"] / "server.log").read_text()[-3000:])
            try:
                with urllib.request.urlopen(api + "/health", timeout=2):
                    break
            except (OSError, urllib.error.HTTPError):
                time.sleep(0.5)
        else:
            raise RuntimeError("the Prefect server did not start: "
                               + (machines["S"] / "server.log").read_text()[-3000:])
        yield {"machines": machines, "env": machine_env, "api": api, "auth": auth, "isap_url": isap_url,
               "procs": procs}
    finally:
        stop_all(procs)


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



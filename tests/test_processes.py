"""Nothing `isap` starts outlives it: the dashboard's Streamlit and Prefect servers, the batch's Prefect server.

Each test starts the real command, records its whole process tree and the
ports the tree listens on, stops the command the way people and machines do
(SIGTERM from a service manager, Ctrl-C, SIGKILL from the out-of-memory
killer), then checks that every recorded process has gone and every port is
closed.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from tests.conftest import seed_prefect_home
from tests.inboxes import one_proposal_inbox

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.skipif(not sys.platform.startswith("linux"),
                                                   reason="parent-death signals are Linux's")]
ISAP = [sys.executable, "-m", "isap.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fresh_env(tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_") and k != "ISAP_DATABASE_URL"}
    env["ISAP_DATA_DIR"] = str(tmp_path / "data")
    seed_prefect_home(tmp_path / "data" / "prefect")  # where `isap` keeps Prefect's database: migrated already
    subprocess.run([*ISAP, "db", "upgrade"], env=env, check=True, capture_output=True)
    return env


def tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def listening_ports(procs: list[psutil.Process]) -> set[int]:
    ports = set()
    for p in procs:
        try:
            conns = p.net_connections(kind="inet") if hasattr(p, "net_connections") else p.connections(kind="inet")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        ports |= {c.laddr.port for c in conns if c.status == psutil.CONN_LISTEN}
    return ports


def answers(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def is_prefect_server(p: psutil.Process) -> bool:
    try:
        cmd = " ".join(p.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
    return "uvicorn" in cmd or "prefect server" in cmd or "prefect.server" in cmd


def wait_for(predicate, timeout: float, what: str, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    pytest.fail(f"{what} within {timeout:.0f} s" + (f":\n{log.read_text()[-3000:]}" if log else ""))


def survivors(procs: list[psutil.Process], ports: set[int], timeout: float) -> tuple[list[str], list[int]]:
    """What is still alive (by process identity, not just pid) and which ports still answer, after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [p for p in procs if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        open_ports = sorted(port for port in ports if answers(port))
        if (not alive and not open_ports) or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    described = []
    for p in alive:
        try:
            described.append(f"{p.pid} {' '.join(p.cmdline())[:160]}")
        except psutil.Error:
            pass
        try:
            p.kill()  # do not leave them running for the rest of the session
        except psutil.Error:
            pass
    return described, open_ports


def visit(url: str) -> None:
    """Open the dashboard once in a real browser (Debian's Chromium), when there is one."""
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(chromium):
        return
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            page.goto(url)
            expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=60_000)
        finally:
            browser.close()


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stopping_the_dashboard_stops_streamlit_and_prefect(tmp_path, stop_signal):
    env = fresh_env(tmp_path)
    port = free_port()
    log = tmp_path / "dashboard.log"
    proc = subprocess.Popen([*ISAP, "dashboard", "--port", str(port), "--host", "127.0.0.1"], env=env,
                            stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        def healthy():
            if proc.poll() is not None:
                pytest.fail(f"the dashboard exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                    return r.status == 200
            except OSError:
                return False

        wait_for(healthy, 90, "the dashboard did not answer", log)
        visit(f"http://127.0.0.1:{port}")  # someone opens it, so the app itself runs and starts what it needs
        # A Prefect API runs for the dashboard's uploads; wait until it listens (a busy machine takes a
        # minute or more), so that stopping it is tested too.  Every process seen on the way is recorded.
        seen: dict[int, psutil.Process] = {}
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            seen.update({p.pid: p for p in tree(proc.pid)})
            if listening_ports([p for p in seen.values() if is_prefect_server(p)]):
                break
            time.sleep(0.5)
        procs = list(seen.values())
        ports = listening_ports(procs)
        assert any(is_prefect_server(p) for p in procs), "no Prefect API was started for the dashboard"
        assert port in ports and len(ports) >= 2, [" ".join(p.cmdline()) for p in procs]

        proc.send_signal(stop_signal)
        proc.wait(timeout=30)
        alive, open_ports = survivors(procs, ports, timeout=15)
        assert alive == [] and open_ports == [], f"still running: {alive}; still answering: {open_ports}"
    finally:
        if proc.poll() is None:
            for p in reversed(tree(proc.pid)):
                p.kill()
            proc.wait()


def test_a_batch_without_a_prefect_server_starts_none_and_a_killed_one_leaves_nothing(tmp_path):
    """With no Prefect server configured, `isap ingest` checks at once, in-process: it starts no Prefect server
    of its own (it used to wait 10-60 s for one), and when it is killed its checking children go with it."""
    env = fresh_env(tmp_path)
    subprocess.run([*ISAP, "org", "add", "QUA", "NHS Black Country ICB"], env=env, check=True, capture_output=True)
    subprocess.run([*ISAP, "user", "add", "alice", "--role", "commissioner", "--org", "QUA"], env=env, check=True,
                   capture_output=True)
    inbox = tmp_path / "inbox"
    one_proposal_inbox(inbox, 20)  # long enough to be caught checking
    log = tmp_path / "ingest.log"
    proc = subprocess.Popen([*ISAP, "ingest", str(inbox), "--as", "alice"], env=env, stdout=log.open("wb"),
                            stderr=subprocess.STDOUT)
    try:
        seen: dict[int, psutil.Process] = {}

        def checking():
            if proc.poll() is not None:
                pytest.fail(f"isap ingest finished before it started checking:\n{log.read_text()[-3000:]}")
            seen.update({p.pid: p for p in tree(proc.pid)})
            return [p for p in seen.values() if p.pid != proc.pid] or None

        wait_for(checking, 120, "isap ingest started no checking child", log)
        assert not any(is_prefect_server(p) for p in seen.values())
        proc.kill()
        proc.wait(timeout=10)
        alive, _ = survivors(list(seen.values()), set(), timeout=10)
        assert alive == [], f"still running: {alive}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

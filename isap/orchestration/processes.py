"""Child processes that die with the `isap` command that started them.

`isap dashboard` runs Streamlit as a child, and `isap dashboard` and `isap
ingest` need a Prefect API for their flows.  Left to themselves these outlive
an `isap` that is stopped (SIGTERM from a service manager, Ctrl-C) or killed
(SIGKILL, the out-of-memory killer) and keep answering on their ports, holding
the database and the port for the next start.

So every child is started through `Children`:

- it asks the kernel to SIGKILL it when its parent dies (Linux
  `PR_SET_PDEATHSIG`); that is the only thing that still works when the parent
  itself is SIGKILLed;
- the parent stops it (SIGTERM, then SIGKILL after a grace period) when it
  leaves its `with` block, whether it returns, fails, or receives SIGTERM,
  SIGHUP or SIGINT.

Prefect's own temporary ("ephemeral") server is started by Prefect from
whichever thread first needs the API, with no way to pass a parent-death
signal, and is stopped only by an `atexit` hook, which SIGTERM and SIGKILL
skip.  Instead, `prefect_server` runs the documented `prefect server start` as
one such child and points `PREFECT_API_URL` at it, so Prefect never starts a
server of its own.  See docs/decisions/0007-processes-die-with-parent.md.

That server listens on loopback, where every local user and every process on
the machine can reach it, and Prefect's API runs whatever a deployment names.
So it is started with a credential made for this run only
(`PREFECT_SERVER_API_AUTH_STRING`), which this process and its children
present (`PREFECT_API_AUTH_STRING`); nothing else can use it.
"""

from __future__ import annotations

import base64
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from typing import Sequence

PR_SET_PDEATHSIG = 1
MANAGED_API_ENV = "ISAP_PREFECT_MANAGED"  # set when PREFECT_API_URL names a server an `isap` parent runs
AUTH_USER = "isap"


def die_with_parent(niceness: int = 0):
    """A `preexec_fn` that makes the child receive SIGKILL when its parent dies (Linux; elsewhere None).

    The kernel sends the signal when the *thread* that started the child ends,
    so `Children` only starts processes from the main thread.  With `niceness`,
    the child also yields the processor to this process's other work (a
    background server starting beside the page a person waits for).
    """
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)  # loaded before the fork: nothing is imported in the child
    parent = os.getpid()

    def preexec() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the request took effect
            os.kill(os.getpid(), signal.SIGKILL)
        if niceness:
            os.nice(niceness)

    return preexec


class Stopped(SystemExit):
    """Raised in the main thread when a stop signal arrives, so `with` blocks unwind and children are stopped."""

    def __init__(self, signum: int):
        super().__init__(128 + signum)
        self.signum = signum


class Children:
    """The child processes of this `isap` command; all are stopped when the `with` block ends."""

    def __init__(self, grace: float = 10.0):
        self.grace = grace
        self.procs: list[subprocess.Popen] = []
        self.groups: set[int] = set()  # children that lead a process group of their own
        self._previous: dict[int, object] = {}

    def start(self, args: Sequence[str], group: bool = False, niceness: int = 0, **popen_kwargs) -> subprocess.Popen:
        """Start a child; with `group`, in a session of its own, so that what it starts in turn (a worker's
        flow runs) is stopped with it, and a terminal's Ctrl-C reaches only this process, which stops it.
        With `niceness`, the child runs at that lower priority (see `die_with_parent`)."""
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("child processes are started from the main thread (the parent-death signal "
                               "is tied to the thread that starts them)")
        if group:
            popen_kwargs["start_new_session"] = True
        proc = subprocess.Popen(list(args), preexec_fn=die_with_parent(niceness), **popen_kwargs)
        self.procs.append(proc)
        if group:
            self.groups.add(proc.pid)
        return proc

    def stop(self) -> None:
        """SIGTERM every child still running, wait for the grace period, then SIGKILL what is left."""
        alive = [p for p in self.procs if p.poll() is None]
        for p in alive:
            try:
                p.terminate()
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + self.grace
        for p in alive:
            try:
                p.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        # What a group's leader started and did not stop in time goes with it (its pid stays reserved for
        # the group until the group is empty, so this reaches no stranger).
        for pid in self.groups:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def _on_signal(self, signum, frame) -> None:
        raise Stopped(signum)

    def __enter__(self) -> "Children":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGHUP):
                self._previous[sig] = signal.signal(sig, self._on_signal)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        # A second signal while stopping must not interrupt the stopping.
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            try:
                signal.signal(sig, signal.SIG_IGN)
            except ValueError:  # not the main thread
                pass
        try:
            self.stop()
        finally:
            for sig, handler in self._previous.items():
                signal.signal(sig, handler)
            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGINT, signal.default_int_handler)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


BACKGROUND_NICENESS = 10  # a server started beside a page someone waits for gives the processor to that page


def prefect_server(children: Children, env: dict | None = None, background: bool = False) -> str:
    """Start a Prefect API server on loopback as a managed child; returns its API URL (not yet waited for).

    The server refuses any request without a credential made here, now; it is
    set as PREFECT_API_AUTH_STRING in this process's environment, with
    PREFECT_API_URL (and MANAGED_API_ENV), so Prefect imported afterwards, and
    every child started afterwards, use this server and present it, instead of
    starting a temporary server of their own.
    """
    port = free_port()
    auth = f"{AUTH_USER}:{secrets.token_urlsafe(32)}"
    server_env = dict(os.environ if env is None else env)
    server_env.pop("PREFECT_API_URL", None)
    # An API key would be sent instead of the credential and refused (401).
    server_env.pop("PREFECT_API_KEY", None)
    server_env["PREFECT_SERVER_API_AUTH_STRING"] = auth
    # isap's flows use no Prefect blocks: registering Prefect's own block types (and hashing them to learn whether
    # they changed) was a quarter of every start's processor time, about 2 s, for a catalogue nothing here reads
    server_env.setdefault("PREFECT_SERVER_REGISTER_BLOCKS_ON_START", "false")
    server_env.setdefault("PREFECT_SERVER_MEMOIZE_BLOCK_AUTO_REGISTRATION", "false")
    children.start([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port),
                    "--no-scheduler", "--no-late-runs"],
                   niceness=BACKGROUND_NICENESS if background else 0, env=server_env,
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/api"
    os.environ["PREFECT_API_URL"] = url
    os.environ["PREFECT_API_AUTH_STRING"] = auth
    os.environ.pop("PREFECT_API_KEY", None)
    os.environ[MANAGED_API_ENV] = "1"
    return url


def auth_headers(auth: str | None = None) -> dict[str, str]:
    """The HTTP header that presents a Prefect API credential (`user:password`; default PREFECT_API_AUTH_STRING)."""
    auth = os.environ.get("PREFECT_API_AUTH_STRING") if auth is None else auth
    if not auth:
        return {}
    return {"Authorization": "Basic " + base64.b64encode(auth.encode("utf-8")).decode("ascii")}


def wait_for_api(url: str, timeout: float, proc: subprocess.Popen | None = None) -> bool:
    """Poll the Prefect API's health until it answers (True) or the time is up or the server has exited (False).

    The credential goes with the request: Prefect 3.8.8 lets health checks
    through without one, but an API behind a proxy that checks it, or a later
    Prefect, may not.
    """
    return wait_for_health(url.rstrip("/") + "/health", timeout, proc, auth_headers())


def wait_for_health(health_url: str, timeout: float, proc: subprocess.Popen | None = None,
                    headers: dict[str, str] | None = None) -> bool:
    """Poll a server's health address until it answers 200 (True), or the time is up or `proc` has exited
    (False): Prefect's API, or the dashboard's pages."""
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(health_url, headers=headers or {})
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(request, timeout=2) as r:
                if r.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def startup_timeout() -> float:
    try:
        return float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90"))
    except ValueError:
        return 90.0


def flush_prefect(timeout: float = 10.0) -> None:
    """Send Prefect's queued logs and events to the API before the server this process runs is stopped.

    Prefect flushes them itself at interpreter exit, which is after the server
    has gone; without this the last log lines of a batch are lost with an
    "Error logging to API" message.  Only call once Prefect has been imported.
    """
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        try:
            worker.drain_all(timeout=timeout)
        except Exception:  # noqa: BLE001 - losing a log line must not fail the batch
            pass

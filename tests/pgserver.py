"""A temporary PostgreSQL server on loopback, for tests and benchmarks (Debian's postgresql)."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    pass


def _bindir() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(candidates[-1]).parent if candidates else None


@contextlib.contextmanager
def temporary_server():
    url = os.environ.get("ISAP_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    with restartable_server() as (url, _restart):
        yield url


@contextlib.contextmanager
def restartable_server():
    """A temporary server of one's own, and a function that stops it for some seconds and starts it again."""
    bindir = _bindir()
    if bindir is None:
        raise PostgresUnavailable("PostgreSQL is not installed here (CI installs Debian's postgresql)")
    base = Path(tempfile.mkdtemp(prefix="isap-pg-"))
    data = base / "data"
    as_root = os.geteuid() == 0
    runner = ["runuser", "-u", "postgres", "--"] if as_root else []
    if as_root:
        shutil.chown(base, "postgres")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    try:
        subprocess.run(runner + [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                                 "--no-sync", "-E", "UTF8"], check=True, capture_output=True)
        server = [_start(bindir, data, base, port, as_root)]
    except (subprocess.CalledProcessError, OSError, PostgresUnavailable) as exc:
        shutil.rmtree(base, ignore_errors=True)
        raise PostgresUnavailable(f"could not start PostgreSQL: {exc}") from None

    def restart(down_seconds: float) -> None:
        _stop(server[0], signal.SIGINT)  # a fast shutdown, as an operator's restart does
        time.sleep(down_seconds)  # the outage itself, as long as a real restart takes
        server[0] = _start(bindir, data, base, port, as_root)

    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", restart
    finally:
        _stop(server[0], signal.SIGQUIT)  # an immediate shutdown: the data is thrown away
        shutil.rmtree(base, ignore_errors=True)


def _start(bindir: Path, data: Path, base: Path, port: int, as_root: bool) -> subprocess.Popen:
    """The postmaster as a child of this process, not a daemon (as `pg_ctl start` makes it): it gets SIGKILL
    when this process dies, however it dies, so a test run that is killed leaves no server behind."""
    from isap.orchestration.processes import die_with_parent

    log = open(base / "log", "ab")  # noqa: SIM115 (the server writes to it while it runs)
    proc = subprocess.Popen(
        [str(bindir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(base),
         "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log, close_fds=True,
        # the death signal is set after the user changes, which would clear it
        user="postgres" if as_root else None, group="postgres" if as_root else None, extra_groups=[] if as_root
        else None, preexec_fn=die_with_parent())
    log.close()
    deadline = time.monotonic() + 60
    while not _accepts(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            _stop(proc, signal.SIGQUIT)
            raise PostgresUnavailable(f"PostgreSQL did not start: see {base / 'log'}")
        time.sleep(0.05)
    return proc


def _accepts(port: int) -> bool:
    """Whether the server answers a connection (the database is ready, not only the port open)."""
    import psycopg

    try:
        psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", connect_timeout=2).close()
    except psycopg.OperationalError:
        return False
    return True


def _stop(proc: subprocess.Popen, how: signal.Signals) -> None:
    if proc.poll() is None:
        proc.send_signal(how)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def create_database(server_url: str, name: str, template: str | None = None) -> str:
    """A new database on the server (a copy of `template`, when given: nobody may be connected to it); its URL."""
    import psycopg

    with psycopg.connect(server_url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
    return server_url.rsplit("/", 1)[0] + "/" + name

"""A temporary PostgreSQL server on loopback, for tests and benchmarks (Debian's postgresql)."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
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
        subprocess.run(runner + [str(bindir / "pg_ctl"), "-D", str(data), "-w", "-l", str(base / "log"), "-o",
                                 f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                       check=True, capture_output=True)
    except (subprocess.CalledProcessError, OSError) as exc:
        shutil.rmtree(base, ignore_errors=True)
        raise PostgresUnavailable(f"could not start PostgreSQL: {exc}") from None
    pg_ctl = runner + [str(bindir / "pg_ctl"), "-D", str(data), "-w", "-l", str(base / "log")]

    def restart(down_seconds: float) -> None:
        subprocess.run(pg_ctl + ["-m", "fast", "stop"], check=True, capture_output=True)
        import time

        time.sleep(down_seconds)  # the outage itself, as long as a real restart takes
        subprocess.run(pg_ctl + ["-o", f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                       check=True, capture_output=True)

    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", restart
    finally:
        subprocess.run(runner + [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def create_database(server_url: str, name: str, template: str | None = None) -> str:
    """A new database on the server (a copy of `template`, when given: nobody may be connected to it); its URL."""
    import psycopg

    with psycopg.connect(server_url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
    return server_url.rsplit("/", 1)[0] + "/" + name

"""Faults: the database disappears, the process is killed, the file store is read-only, hostile names."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from isap.store.db import StoreError
from isap.store.files import FileStore, FileStoreError
from sample_submissions.proposals import clean, write
from tests.conftest import seed_prefect_home

pytestmark = pytest.mark.e2e  # processes are killed from outside

REF = "ISAP-2026-014"


def test_database_disappears_mid_upload_nothing_half_written_retry_succeeds(service, db_url, tmp_path,
                                                                            monkeypatch):
    if not db_url.startswith("postgresql"):
        pytest.skip("losing the server mid-transaction is a client/server fault")
    from isap.review.service import Service

    data = write(clean(1, reference=REF), tmp_path / "a.xlsx").read_bytes()
    real_audit = Service._audit
    state = {"killed": False}

    def audit_then_lose_the_connection(self, s, p, action, *args, **kwargs):
        real_audit(self, s, p, action, *args, **kwargs)
        if action == "version_uploaded" and not state["killed"]:
            state["killed"] = True
            s.flush()
            s.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))

    monkeypatch.setattr(Service, "_audit", audit_then_lose_the_connection)
    with pytest.raises(StoreError, match="database"):
        service.upload("alice", "a.xlsx", data)
    monkeypatch.setattr(Service, "_audit", real_audit)
    with service.engine.connect() as conn:
        for table in ("proposal", "submissionversion", "finding"):
            assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 0, table
    result = service.upload("alice", "a.xlsx", data)
    assert (result.reference, result.version) == (REF, 1)


def test_read_only_file_store_fails_cleanly(service, tmp_path):
    service.files = FileStore(Path("/proc/isap-file-store"))  # not writable, even by root
    data = write(clean(1, reference=REF), tmp_path / "a.xlsx").read_bytes()
    with pytest.raises(StoreError, match="cannot store the file"):
        service.upload("alice", "a.xlsx", data)
    assert service.list_proposals("alice") == []


def test_uploaded_names_cannot_escape_the_file_store(service, tmp_path):
    data = write(clean(1, reference=REF), tmp_path / "a.xlsx").read_bytes()
    r = service.upload("alice", "../../../../tmp/evil.xlsx", data)
    shown = service.show("alice", REF)
    assert shown["versions"][0]["filename"] == "evil.xlsx"
    stored = service.files.path_for(r.sha256)
    assert stored.resolve().is_relative_to(service.files.root.resolve())
    for bad in ("../etc/passwd", "a" * 64 + "/..", "/etc/passwd"):
        with pytest.raises(FileStoreError):
            service.files.path_for(bad)


def test_killed_ingest_completes_on_rerun_without_duplicates(tmp_path):
    prefect_home = seed_prefect_home(tmp_path / "prefect")  # its database migrated already
    env = {**os.environ, "ISAP_DATA_DIR": str(tmp_path / "data"), "PREFECT_HOME": str(prefect_home),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_SERVER_UI_ENABLED": "false",
           "PREFECT_LOGGING_LEVEL": "WARNING", "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90"}
    env.pop("ISAP_DATABASE_URL", None)
    env.pop("PREFECT_API_URL", None)

    def isap(*args, **kw):
        return subprocess.run([sys.executable, "-m", "isap.cli", *args], env=env, capture_output=True, text=True,
                              **kw)

    assert isap("db", "upgrade").returncode == 0
    assert isap("org", "add", "QUA", "Black Country ICB").returncode == 0
    assert isap("user", "add", "alice", "--role", "commissioner", "--org", "QUA").returncode == 0
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    n = 16
    for i in range(n):
        write(clean(1, reference=f"ISAP-2026-{100 + i:03d}"), inbox / f"p{i:02d}.xlsx")
    proc = subprocess.Popen([sys.executable, "-m", "isap.cli", "ingest", str(inbox), "--as", "alice"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    db = tmp_path / "data" / "isap.db"
    import sqlite3

    deadline = time.monotonic() + 120
    done = 0
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with sqlite3.connect(db, timeout=1) as conn:
                done = conn.execute("SELECT count(*) FROM submissionversion").fetchone()[0]
        except sqlite3.Error:
            done = 0
        if done >= 2:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert done < n, "the batch finished before it could be interrupted"
    r = isap("ingest", str(inbox), "--as", "alice", "--format", "json", timeout=300)
    assert r.returncode == 0, r.stderr
    import json

    rows = json.loads(r.stdout)
    assert len(rows) == n
    assert sum(1 for x in rows if x["outcome"] == "already assured") >= 2
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM submissionversion").fetchone()[0] == n
        assert conn.execute("SELECT count(*) FROM (SELECT sha256 FROM submissionversion GROUP BY sha256 "
                            "HAVING count(*) > 1)").fetchone()[0] == 0


def test_a_database_restart_mid_batch_loses_nothing(tmp_path, monkeypatch):
    """PostgreSQL stops for 5 s in the middle of a batch: every file is kept once, none is failed, and nobody
    reruns anything (lost connections are retried by their type for the policy's transient_retry_seconds)."""
    import threading

    from isap.orchestration import dispatch
    from isap.review.service import Service
    from isap.store.db import engine_for, upgrade
    from tests.inboxes import BUSY_REFERENCE, one_proposal_inbox
    from tests.pgserver import PostgresUnavailable, create_database, restartable_server

    try:
        server = restartable_server()
        url, restart = server.__enter__()
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))
    try:
        db = create_database(url, "restart_mid_batch")
        upgrade(db)
        monkeypatch.delenv("PREFECT_API_URL", raising=False)
        svc = Service(engine_for(db))
        svc.add_organisation("QUA", "NHS Black Country ICB")
        svc.add_user("alice", "commissioner", "QUA")
        inbox = tmp_path / "inbox"
        names = one_proposal_inbox(inbox, 6)
        for i in range(10):
            write(clean(1, reference=f"ISAP-2026-{500 + i}"), inbox / f"z{i:02d}.xlsx")
        keys, ids = dispatch.stage_batch(svc, "alice", sorted(inbox.iterdir()))
        batch = threading.Thread(target=dispatch._assure_concurrently, args=(svc, keys))
        batch.start()
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if sum(o.finished for o in svc.staged_outcomes("alice", ids)) >= 3:
                break
            time.sleep(0.1)
        assert sum(o.finished for o in svc.staged_outcomes("alice", ids)) < len(ids), "finished before the restart"
        restart(5.0)
        batch.join(timeout=600)
        assert not batch.is_alive()
        rows = dispatch.batch_rows(svc, "alice", ids)
        assert [r["outcome"] for r in rows if r["outcome"].startswith(("failed", "refused"))] == []
        assert [v["filename"] for v in svc.show("alice", BUSY_REFERENCE)["versions"]] == sorted(names)
        with svc.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM submissionversion")).scalar() == 16
            assert conn.execute(text("SELECT count(*) FROM (SELECT sha256 FROM submissionversion "
                                     "GROUP BY sha256 HAVING count(*) > 1) d")).scalar() == 0
        svc.engine.dispose()
    finally:
        server.__exit__(None, None, None)

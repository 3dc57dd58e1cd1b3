"""The audit history as a hash chain: the rewrites an attacker would try are refused or detected."""

from __future__ import annotations

import subprocess
import threading

import pytest
from sqlalchemy import text

from tests.in_process import isap


def _cli(db_url: str, tmp_path, *args: str) -> subprocess.CompletedProcess:
    return isap(*args, env={"ISAP_DATABASE_URL": db_url, "ISAP_DATA_DIR": str(tmp_path / "data")})


def _events(service) -> int:
    with service.engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM auditevent")).scalar()


def test_every_event_is_chained_and_verifies(service, db_url, tmp_path):
    service.add_organisation("QWU", "NHS Coventry and Warwickshire ICB")
    n = _events(service)
    with service.engine.connect() as conn:
        rows = conn.execute(text("SELECT prev_hash, hash FROM auditevent ORDER BY id")).all()
    assert rows[0][0] == "0" * 64
    assert all(later[0] == earlier[1] for earlier, later in zip(rows, rows[1:]))
    assert len({h for _, h in rows}) == len(rows)
    r = _cli(db_url, tmp_path, "audit", "verify")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"{n} events verified, head {rows[-1][1]}"
    # the verification is itself recorded, on the chain, and the chain still holds
    last = service.last_audit_verification("ada")
    assert last["ok"] and last["summary"].startswith(f"{n} events verified")
    assert service.verify_audit().ok


def test_sqlite_insert_or_replace_cannot_rewrite_an_event(tmp_path):
    from isap.review.service import Service
    from isap.store.db import engine_for, upgrade
    from isap.store.files import FileStore

    url = f"sqlite:///{tmp_path / 'isap.db'}"
    upgrade(url)
    svc = Service(engine_for(url), FileStore(tmp_path / "files"))
    svc.add_organisation("QUA", "NHS Black Country ICB")
    with svc.engine.connect() as conn:
        first = conn.execute(text("SELECT * FROM auditevent ORDER BY id LIMIT 1")).mappings().one()
    with pytest.raises(Exception, match="append-only"):
        with svc.engine.begin() as conn:
            conn.execute(text("INSERT OR REPLACE INTO auditevent (id, proposal_id, action, actor, at, prev_hash, hash) "
                              "VALUES (:id, NULL, :action, 'mallory', :at, :prev, :hash)"),
                         {"id": first["id"], "action": first["action"], "at": first["at"],
                          "prev": first["prev_hash"], "hash": first["hash"]})
    with svc.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM auditevent WHERE actor = 'mallory'")).scalar() == 0
    r = _cli(url, tmp_path, "audit", "verify")
    assert r.returncode == 0, r.stderr


def test_owner_tampering_past_the_triggers_is_detected(service, db_url, tmp_path):
    """The owning role switches the trigger off, rewrites an actor and switches it back: verify names the event."""
    service.add_organisation("QWU", "NHS Coventry and Warwickshire ICB")
    with service.engine.begin() as conn:
        victim = conn.execute(text("SELECT id FROM auditevent ORDER BY id LIMIT 1 OFFSET 2")).scalar()
        if conn.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE auditevent DISABLE TRIGGER auditevent_append_only"))
            conn.execute(text("UPDATE auditevent SET actor = 'mallory' WHERE id = :i"), {"i": victim})
            conn.execute(text("ALTER TABLE auditevent ENABLE TRIGGER auditevent_append_only"))
        else:
            conn.execute(text("DROP TRIGGER auditevent_no_update"))
            conn.execute(text("UPDATE auditevent SET actor = 'mallory' WHERE id = :i"), {"i": victim})
    r = _cli(db_url, tmp_path, "audit", "verify")
    assert r.returncode == 1
    assert f"event {victim} does not match" in r.stderr and "content was changed" in r.stderr
    assert service.last_audit_verification("ada")["ok"] is False


def test_a_removed_event_is_detected(service, db_url, tmp_path):
    service.add_organisation("QWU", "NHS Coventry and Warwickshire ICB")
    with service.engine.begin() as conn:
        ids = conn.execute(text("SELECT id FROM auditevent ORDER BY id")).scalars().all()
        if conn.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE auditevent DISABLE TRIGGER auditevent_append_only"))
        else:
            conn.execute(text("DROP TRIGGER auditevent_no_delete"))
        conn.execute(text("DELETE FROM auditevent WHERE id = :i"), {"i": ids[1]})
    r = _cli(db_url, tmp_path, "audit", "verify")
    assert r.returncode == 1
    assert f"event {ids[2]} does not match" in r.stderr and "link to the previous event" in r.stderr


def test_events_recorded_before_the_chain_are_chained_by_the_upgrade(tmp_path):
    from alembic import command

    from isap.review.service import Service
    from isap.store.db import alembic_config, engine_for
    from isap.store.files import FileStore

    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(alembic_config(url), "0001")
    with engine_for(url).begin() as conn:
        for i in range(3):
            conn.execute(text("INSERT INTO auditevent (action, actor, reason, at) "
                              "VALUES ('org_added', 'admin-cli', :r, '2026-01-0' || :d || ' 10:00:00.000000')"),
                         {"r": f"Q{i} ü €", "d": str(i + 1)})
    command.upgrade(alembic_config(url), "head")
    svc = Service(engine_for(url), FileStore(tmp_path / "files"))
    svc.add_organisation("QUA", "NHS Black Country ICB")
    result = svc.verify_audit()
    assert result.ok and result.verified == 4
    # the append-only triggers survived the upgrade
    with pytest.raises(Exception, match="append-only"):
        with svc.engine.begin() as conn:
            conn.execute(text("UPDATE auditevent SET actor = 'mallory'"))


def test_concurrent_writers_do_not_fork_the_chain(service):
    """Writers in parallel (threads, each its own connection): one chain, every event linked once."""
    errors = []

    def add(i: int) -> None:
        for j in range(8):
            try:
                service.add_organisation(f"T{i}{j}", f"Trust {i}-{j}")
            except Exception as exc:  # noqa: BLE001 - a busy SQLite may refuse; the chain must still hold
                errors.append(exc)

    threads = [threading.Thread(target=add, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result = service.verify_audit()
    assert result.ok, result.summary()
    with service.engine.connect() as conn:
        prevs = conn.execute(text("SELECT prev_hash FROM auditevent")).scalars().all()
    assert len(prevs) == len(set(prevs))  # no two events claim the same predecessor
    assert len(errors) < 32


def test_each_assurance_report_prints_the_chain_head_when_it_was_made(service, tmp_path):
    from isap.outputs.assurance_report import render_report
    from tests.test_workflow import book, proposal

    res = service.upload("alice", "a.xlsx", book(tmp_path, proposal(1)))
    head = service.audit_head()
    html = render_report(service, "rita", res.reference, 1)
    assert head != "0" * 64 and head in html
    service.comment("rita", res.reference, "later")
    assert service.audit_head() != head and service.audit_head() in render_report(service, "rita", res.reference, 1)


def test_the_daily_reminders_verify_the_chain_and_alert_administrators(service, tmp_path, monkeypatch):
    from isap.orchestration.steps import reminders

    monkeypatch.setenv("ISAP_OUTBOX", str(tmp_path / "outbox"))
    service.add_user("ann", "admin", email="ann@isap.example")
    assert reminders(service) == []
    assert service.last_audit_verification("ada")["ok"]
    with service.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE auditevent DISABLE TRIGGER auditevent_append_only"))
        else:
            conn.execute(text("DROP TRIGGER auditevent_no_update"))
        conn.execute(text("UPDATE auditevent SET reason = 'nothing happened' WHERE action = 'user_added'"))
    queued = reminders(service)
    assert [q["kind"] for q in queued] == ["administrator_alert"]
    assert reminders(service) == []  # once a day, however often the step runs
    from isap.orchestration.notifications import deliver

    deliver(service)  # no SMTP host set: the .eml folder
    [eml] = (tmp_path / "outbox").glob("audit-chain-broken-*.eml")
    mail = eml.read_text()
    assert "ann@isap.example" in mail and "audit history was changed" in mail and "does not match" in mail
    assert service.last_audit_verification("ada")["ok"] is False


def test_the_upgrade_can_be_undone_and_done_again(tmp_path):
    from alembic import command

    from isap.store.db import alembic_config, engine_for

    url = f"sqlite:///{tmp_path / 'round.db'}"
    command.upgrade(alembic_config(url), "head")
    command.downgrade(alembic_config(url), "0001")
    with engine_for(url).connect() as conn:
        names = {r[0] for r in conn.execute(text("SELECT name FROM sqlite_master"))}
    assert "signinsession" not in names and "auditevent_no_replace" not in names
    assert {"auditevent_no_update", "auditevent_no_delete"} <= names
    command.upgrade(alembic_config(url), "head")

"""PostgreSQL least privilege: migrations as the owning role, the application as a role that can only read
and add to the audit history, and cannot switch off, drop or rewrite what guards it."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest
from sqlalchemy import create_engine, text

ATTACKS = {
    "disable the trigger": "ALTER TABLE auditevent DISABLE TRIGGER auditevent_append_only",
    "disable every trigger": "ALTER TABLE auditevent DISABLE TRIGGER ALL",
    "drop the trigger": "DROP TRIGGER auditevent_append_only ON auditevent",
    "drop the truncate trigger": "DROP TRIGGER auditevent_no_truncate ON auditevent",
    "replace its function": "CREATE OR REPLACE FUNCTION isap_audit_refuse() RETURNS trigger LANGUAGE plpgsql "
                            "AS $$ BEGIN RETURN OLD; END $$",
    "add a trigger of its own": "CREATE TRIGGER t BEFORE INSERT ON auditevent FOR EACH ROW "
                                "EXECUTE FUNCTION isap_audit_refuse()",
    "skip triggers as a replica": "SET session_replication_role = replica",
    "update history": "UPDATE auditevent SET actor = 'mallory'",
    "delete history": "DELETE FROM auditevent",
    "truncate history": "TRUNCATE auditevent",
    "rewrite by upsert": "INSERT INTO auditevent (id, action, actor, at) VALUES (1, 'x', 'mallory', now()) "
                         "ON CONFLICT (id) DO UPDATE SET actor = 'mallory'",
    "rename the table": "ALTER TABLE auditevent RENAME TO auditevent_old",
    "create a table": "CREATE TABLE auditevent_shadow (id int)",
    "move the schema version": "UPDATE alembic_version SET version_num = '0001'",
    "rewrite a decision": "UPDATE decision SET rationale = 'Approved without reservation.'",
    "rewrite a rating": "UPDATE rating SET rating = 'green'",
    "delete a decision": "DELETE FROM decision",
    "truncate the ratings": "TRUNCATE rating",
    "switch the decisions' triggers off": "ALTER TABLE decision DISABLE TRIGGER USER",
    "hide a declared conflict": "DELETE FROM declaration",
    "rewrite a declaration": "UPDATE declaration SET conflict = false",
    "truncate the declarations": "TRUNCATE declaration",
}


@pytest.fixture
def roles(postgres_server, tmp_path):
    import psycopg

    name = "lp_" + uuid.uuid4().hex[:10]
    owner, app = f"{name}_owner", f"{name}_app"
    with psycopg.connect(postgres_server.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {owner} LOGIN")
        conn.execute(f"CREATE ROLE {app} LOGIN")
        conn.execute(f"CREATE DATABASE {name} OWNER {owner}")
    base = postgres_server.rsplit("/", 1)[0]
    owner_url = base.replace("//postgres@", f"//{owner}@") + "/" + name
    app_url = base.replace("//postgres@", f"//{app}@") + "/" + name
    env = {**os.environ, "ISAP_DATABASE_URL": owner_url, "ISAP_DATA_DIR": str(tmp_path / "data")}
    r = subprocess.run([sys.executable, "-m", "isap.cli", "db", "upgrade", "--app-role", app], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert f"{app} may read and add to it" in r.stdout
    return owner_url, app_url


def test_the_application_role_works_but_cannot_touch_what_guards_history(roles, tmp_path):
    from isap.review.service import Service
    from isap.store.db import engine_for
    from isap.store.files import FileStore

    _, app_url = roles
    svc = Service(engine_for(app_url), FileStore(tmp_path / "files"))
    svc.add_organisation("QUA", "NHS Black Country ICB")
    svc.add_user("alice", "commissioner", "QUA", password="correct horse")
    _, token = svc.sign_in("alice", "correct horse")
    svc.sign_out(token)
    before = svc.verify_audit()
    assert before.ok and before.verified >= 2
    engine = create_engine(app_url.replace("postgresql+psycopg", "postgresql+psycopg"))
    refused = {}
    for what, sql in ATTACKS.items():
        try:
            with engine.begin() as conn:
                conn.execute(text(sql))
        except Exception as exc:  # noqa: BLE001 - each attack must fail; how is recorded below
            refused[what] = str(getattr(exc, "orig", exc)).splitlines()[0]
    engine.dispose()
    assert set(refused) == set(ATTACKS), f"not refused: {set(ATTACKS) - set(refused)}"
    assert all("permission denied" in why or "must be owner" in why for why in refused.values()), refused
    after = svc.verify_audit()
    assert after.ok and after.verified == before.verified + 1


def test_the_owner_cannot_be_the_application_role(roles, tmp_path):
    owner_url, _ = roles
    owner = owner_url.split("//", 1)[1].split("@", 1)[0]
    env = {**os.environ, "ISAP_DATABASE_URL": owner_url, "ISAP_DATA_DIR": str(tmp_path / "data")}
    r = subprocess.run([sys.executable, "-m", "isap.cli", "db", "upgrade", "--app-role", owner], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "owns the tables" in r.stderr


def test_the_application_role_cannot_add_an_event_out_of_order(roles, tmp_path):
    """A correctly chained event with any actor is still refused when it is dated before the last event, or
    takes an id of its own choosing (one far ahead would break the verification of every later event)."""
    import datetime as dt

    from isap.review.service import Service
    from isap.store.db import engine_for
    from isap.store.files import FileStore
    from isap.store.models import AuditEvent

    _, app_url = roles
    svc = Service(engine_for(app_url), FileStore(tmp_path / "files"))
    svc.add_organisation("QUA", "NHS Black Country ICB")
    engine = create_engine(app_url)
    with engine.connect() as conn:
        last = conn.execute(text("SELECT id, hash, at FROM auditevent ORDER BY id DESC LIMIT 1")).mappings().one()

    def insert(event_id: int, at: dt.datetime) -> str:
        e = AuditEvent(action="decide:approved", actor="rita", reason="backdated", at=at)
        e.prev_hash, e.hash = last["hash"], e.chain_digest(last["hash"])
        try:
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO auditevent (id, action, actor, reason, at, prev_hash, hash) "
                                  "VALUES (:i, :a, :r0, :r, :t, :p, :h)"),
                             {"i": event_id, "a": e.action, "r0": e.actor, "r": e.reason, "t": at,
                              "p": e.prev_hash, "h": e.hash})
        except Exception as exc:  # noqa: BLE001 - the refusal's words are asserted below
            return str(getattr(exc, "orig", exc)).splitlines()[0]
        return "accepted"

    assert "dated before the one it follows" in insert(last["id"] + 1, last["at"] - dt.timedelta(days=30))
    assert "takes the next id" in insert(2_000_000_000, last["at"] + dt.timedelta(seconds=1))
    engine.dispose()
    svc.add_organisation("QHM", "NHS North East and North Cumbria ICB")
    assert svc.verify_audit().ok

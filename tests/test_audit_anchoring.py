"""A history even the database owner cannot quietly rewrite: signed anchors outside the database, events kept in
order by the database itself, and decisions and ratings that are insert-only and sealed by their events."""

from __future__ import annotations

import json
import stat
import subprocess

import pytest
from sqlalchemy import text

from tests.in_process import isap
from tests.panel import decide, take
from tests.test_workflow import RATINGS, REF, book, proposal


def _cli(db_url: str, tmp_path, *args: str, **env_extra: str) -> subprocess.CompletedProcess:
    return isap(*args, env={"ISAP_DATABASE_URL": db_url, "ISAP_DATA_DIR": str(tmp_path / "data"), **env_extra})


@pytest.fixture
def audit_key(tmp_path, monkeypatch):
    """A signing key made by `isap audit keygen`, configured as the dashboard and workers would have it."""
    key = tmp_path / "keys" / "audit.pem"
    key.parent.mkdir()
    r = isap("audit", "keygen", str(key))
    assert r.returncode == 0, r.stderr
    monkeypatch.setenv("ISAP_AUDIT_KEY", str(key))
    monkeypatch.setenv("ISAP_AUDIT_ANCHORS", str(tmp_path / "anchors.jsonl"))
    return key


def _decided(service, tmp_path) -> None:
    service.upload("alice", "a.xlsx", book(tmp_path, proposal(1)))
    service.submit("alice", REF)
    take(service, "rita", REF)
    decide(service, "rita", REF, "approved", RATINGS, "A sound strategic case.")


def _owner(conn, table: str, on: bool) -> None:
    """What the owning role can do: switch a table's triggers off (PostgreSQL) or drop them (SQLite)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"ALTER TABLE {table} {'ENABLE' if on else 'DISABLE'} TRIGGER USER"))
    elif not on:
        for name in conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t"),
                                 {"t": table}).scalars().all():
            conn.execute(text(f"DROP TRIGGER {name}"))


def _recompute_chain(conn) -> None:
    """The owner's rewrite made consistent: every hash recomputed from the first event on."""
    from isap.store.models import AUDIT_CHAIN_GENESIS, AuditEvent

    prev = AUDIT_CHAIN_GENESIS
    for row in conn.execute(text("SELECT * FROM auditevent ORDER BY id")).mappings().all():
        e = AuditEvent(**row)
        if isinstance(e.at, str):
            import datetime as dt

            e.at = dt.datetime.fromisoformat(e.at)
        digest = e.chain_digest(prev)
        conn.execute(text("UPDATE auditevent SET prev_hash = :p, hash = :h WHERE id = :i"),
                     {"p": prev, "h": digest, "i": e.id})
        prev = digest


# ---------------------------------------------------------------------- the database keeps the history in order
def test_the_database_refuses_an_event_with_a_chosen_id_or_an_earlier_time(service):
    with service.engine.connect() as conn:
        last = conn.execute(text("SELECT id, hash, at FROM auditevent ORDER BY id DESC LIMIT 1")).mappings().one()

    def attempt(event_id, at_sql: str, prev: str) -> str:
        try:
            with service.engine.begin() as conn:
                conn.execute(text("INSERT INTO auditevent (id, action, actor, at, prev_hash, hash) "
                                  f"VALUES ({event_id}, 'decide:approved', 'mallory', {at_sql}, :p, :h)"),
                             {"p": prev, "h": "f" * 64})
        except Exception as exc:  # noqa: BLE001 - the refusal's words are asserted below
            return str(getattr(exc, "orig", exc))
        return "accepted"

    far = "'2099-01-01 00:00:00'"
    earlier = "'2000-01-01 00:00:00'"
    assert "takes the next id" in attempt(2_000_000_000, far, last["hash"])
    assert "takes the next id" in attempt(last["id"] + 2, far, last["hash"])
    assert "takes the next id" in attempt(-1, far, last["hash"])
    assert "dated before the one it follows" in attempt(last["id"] + 1, earlier, last["hash"])
    assert "dated before the one it follows" in attempt("NULL", earlier, last["hash"])
    assert "must link to the last event" in attempt(last["id"] + 1, far, "0" * 64)
    assert service.verify_audit().ok
    # the application's own events still go in, even from a machine whose clock is behind
    import datetime as dt

    service.clock = lambda: dt.datetime(2001, 1, 1, tzinfo=dt.timezone.utc)
    service.add_organisation("QWU", "NHS Coventry and Warwickshire ICB")
    with service.engine.connect() as conn:
        ats = conn.execute(text("SELECT at FROM auditevent ORDER BY id DESC LIMIT 2")).scalars().all()
    assert ats[0] == ats[1]  # recorded at the previous event's time, not before it
    assert service.verify_audit().ok


# ---------------------------------------------------------------------- decisions and ratings
def test_decisions_and_ratings_cannot_be_changed_or_removed(service, tmp_path):
    _decided(service, tmp_path)
    # a row put in place of a kept one: SQLite's REPLACE removes the row it clashes with without firing its
    # delete triggers; PostgreSQL's ON CONFLICT DO UPDATE is an update
    if service.engine.dialect.name == "sqlite":
        replacing = ("INSERT OR REPLACE INTO decision SELECT * FROM decision",
                     "INSERT OR REPLACE INTO rating SELECT * FROM rating")
    else:
        replacing = ("INSERT INTO decision SELECT * FROM decision ON CONFLICT (id) DO UPDATE SET rationale = 'x'",
                     "INSERT INTO rating SELECT * FROM rating ON CONFLICT (id) DO UPDATE SET rating = 'green'")
    for sql in ("UPDATE decision SET rationale = 'Approved without reservation.'",
                "UPDATE rating SET rating = 'green'", "DELETE FROM rating", "DELETE FROM decision", *replacing):
        with pytest.raises(Exception, match="kept as recorded"):
            with service.engine.begin() as conn:
                conn.execute(text(sql))
    assert service.verify_audit().ok


def test_declarations_of_interests_cannot_be_changed_or_removed(service, tmp_path):
    """Found by a fresh attack: deleting a reviewer's declared conflict (the guards read the rows) let them declare
    no conflict and rate the proposal; declarations are only ever added, so they are kept as the history is."""
    from tests.panel import second_reviewer

    service.upload("alice", "w.xlsx", book(tmp_path, proposal(1), "w.xlsx"))
    service.submit("alice", REF)
    second_reviewer(service)
    service.declare("nina", REF, "Midlands Partnership NHS FT", "My spouse sits on its board.")
    if service.engine.dialect.name == "sqlite":
        replacing = "INSERT OR REPLACE INTO declaration SELECT * FROM declaration"
    else:
        replacing = "INSERT INTO declaration SELECT * FROM declaration ON CONFLICT (id) DO UPDATE SET conflict = false"
    for sql in ("UPDATE declaration SET conflict = false", "DELETE FROM declaration", replacing):
        with pytest.raises(Exception, match="declarations of interests are kept as declared"):
            with service.engine.begin() as conn:
                conn.execute(text(sql))
    assert service.proposal_facts("ada", REF)[0].conflicted == frozenset({"nina"})


def test_an_owner_edit_of_a_decision_or_a_rating_fails_verification(service, tmp_path, db_url):
    _decided(service, tmp_path)
    with service.engine.begin() as conn:
        _owner(conn, "decision", on=False)
        conn.execute(text("UPDATE decision SET rationale = 'Approved without reservation.'"))
        _owner(conn, "decision", on=True)
    r = _cli(db_url, tmp_path, "audit", "verify")
    assert r.returncode == 1
    assert "decision 1 or its ratings were changed after they were recorded" in r.stderr

    with service.engine.begin() as conn:
        _owner(conn, "rating", on=False)
        conn.execute(text("DELETE FROM rating WHERE domain = 'transparency'"))
        _owner(conn, "rating", on=True)
    assert "decision 1 or its ratings were changed" in service.verify_audit().summary()


def test_a_decision_added_outside_isap_fails_verification(service, tmp_path):
    _decided(service, tmp_path)
    with service.engine.begin() as conn:
        conn.execute(text("INSERT INTO review (proposal_id, version_id, checkpoint, reviewer_id, started_at) "
                          "SELECT proposal_id, version_id, checkpoint, reviewer_id, started_at FROM review"))
        review = conn.execute(text("SELECT max(id) FROM review")).scalar()
        conn.execute(text('INSERT INTO decision (review_id, proposal_id, checkpoint, outcome, rationale, "by", at) '
                          "SELECT :r, proposal_id, checkpoint, 'approved', 'backdated', \"by\", at FROM decision"),
                     {"r": review})
    result = service.verify_audit()
    assert not result.ok and "decision 2 has no event that recorded it" in result.summary()


def test_a_chained_event_with_a_seal_isap_did_not_write_fails_verification(service, db_url, tmp_path):
    """Whoever holds the application role can add a correctly chained event; a seal in it that names no
    decision is reported, not a crash."""
    from isap.store.models import AuditEvent

    with service.engine.connect() as conn:
        last = conn.execute(text("SELECT id, hash, at FROM auditevent ORDER BY id DESC LIMIT 1")).mappings().one()
    import datetime as dt

    at = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=5)
    e = AuditEvent(action="decide:approved", actor="rita", at=at, record="decision:x:0")
    e.prev_hash, e.hash = last["hash"], e.chain_digest(last["hash"])
    with service.engine.begin() as conn:
        stored = at if conn.dialect.name == "postgresql" else at.strftime("%Y-%m-%d %H:%M:%S.%f")  # as isap stores it
        conn.execute(text("INSERT INTO auditevent (action, actor, at, prev_hash, hash, record) "
                          "VALUES (:a, :r0, :t, :p, :h, :s)"),
                     {"a": e.action, "r0": e.actor, "t": stored, "p": e.prev_hash, "h": e.hash, "s": e.record})
    r = _cli(db_url, tmp_path, "audit", "verify")
    assert r.returncode == 1 and f"event {last['id'] + 1} carries a seal isap did not write" in r.stderr


# ---------------------------------------------------------------------- anchors outside the database
def test_keygen_writes_a_private_key_only_its_owner_reads_and_never_replaces_one(tmp_path):
    key = tmp_path / "audit.pem"
    r = isap("audit", "keygen", str(key))
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and b"PRIVATE KEY" in key.read_bytes()
    assert b"PUBLIC KEY" in (tmp_path / "audit.pem.pub").read_bytes()
    again = isap("audit", "keygen", str(key))
    assert again.returncode == 2 and "never replaces a key" in again.stderr and "Traceback" not in again.stderr


def test_an_owner_rewrite_with_the_chain_recomputed_is_caught_by_anchors_and_known_heads(
        service, tmp_path, db_url, audit_key):
    _decided(service, tmp_path)
    anchors = tmp_path / "anchors.jsonl"
    r = _cli(db_url, tmp_path, "audit", "anchor", "--why", "before the rewrite", ISAP_AUDIT_KEY=str(audit_key),
             ISAP_AUDIT_ANCHORS=str(anchors))
    assert r.returncode == 0, r.stderr
    anchored = json.loads(r.stdout)
    service.comment("rita", REF, "Later events are covered by the chain from the anchor on.")
    ok = _cli(db_url, tmp_path, "audit", "verify", "--anchors", str(anchors), "--expect-head", anchored["head"],
              ISAP_AUDIT_KEY=str(audit_key))
    assert ok.returncode == 0, ok.stderr
    assert "holding 2 known heads" in ok.stdout

    # the owner rewrites the decision (rationale, ratings, actor) and its event, and recomputes every hash
    import datetime as dt

    from isap.store.models import Decision, Rating, decision_record, rating_record

    with service.engine.begin() as conn:
        for table in ("auditevent", "decision", "rating"):
            _owner(conn, table, on=False)
        conn.execute(text("UPDATE decision SET rationale = 'Approved without reservation.'"))
        conn.execute(text("UPDATE rating SET rating = 'green'"))
        d = Decision(**conn.execute(text("SELECT * FROM decision")).mappings().one())
        if isinstance(d.at, str):
            d.at = dt.datetime.fromisoformat(d.at)
        ratings = [Rating(**r) for r in conn.execute(text("SELECT * FROM rating")).mappings()]
        conn.execute(text("UPDATE auditevent SET actor = 'ada', reason = 'Approved without reservation.', "
                          "record = :r WHERE record LIKE 'decision:%'"), {"r": decision_record(d, ratings)})
        for r in ratings:  # and the seal each rating carries in the event that recorded it
            if isinstance(r.rated_at, str):
                r.rated_at = dt.datetime.fromisoformat(r.rated_at)
            conn.execute(text("UPDATE auditevent SET record = :r WHERE record LIKE :which"),
                         {"r": rating_record(r), "which": f"rating:{r.id}:%"})
        _recompute_chain(conn)
        for table in ("auditevent", "decision", "rating"):
            _owner(conn, table, on=True)

    plain = _cli(db_url, tmp_path, "audit", "verify")
    assert plain.returncode == 0, plain.stderr  # consistent with itself: the chain alone cannot tell
    caught = _cli(db_url, tmp_path, "audit", "verify", "--anchors", str(anchors), ISAP_AUDIT_KEY=str(audit_key))
    assert caught.returncode == 1
    assert f"event {anchored['event_id']} no longer has the anchored hash" in caught.stderr
    assert "before the rewrite, line 1" in caught.stderr
    expected = _cli(db_url, tmp_path, "audit", "verify", "--expect-head", anchored["head"])
    assert expected.returncode == 1 and "is not in the history" in expected.stderr


def test_removing_the_last_events_is_caught_by_anchors(service, tmp_path, db_url, audit_key):
    for i in range(3):
        service.add_organisation(f"Q{i}X", f"Trust {i}")
    anchor = service.anchor_audit("after three organisations")
    assert anchor is not None
    with service.engine.begin() as conn:
        _owner(conn, "auditevent", on=False)
        conn.execute(text("DELETE FROM auditevent WHERE id > :i"), {"i": anchor.event_id - 3})
        _owner(conn, "auditevent", on=True)
    caught = _cli(db_url, tmp_path, "audit", "verify", "--anchors", str(tmp_path / "anchors.jsonl"))
    assert caught.returncode == 1
    assert (f"names event {anchor.event_id} but the history ends at event {anchor.event_id - 3}: events were "
            "removed") in caught.stderr
    assert _cli(db_url, tmp_path, "audit", "verify").returncode == 0  # the chain alone cannot tell


def test_an_altered_or_foreign_anchor_is_refused(service, tmp_path, db_url, audit_key):
    from isap.review import audit_anchors

    anchor = service.anchor_audit("genuine")
    anchors = tmp_path / "anchors.jsonl"
    forged = dict(json.loads(anchor.line()), head="a" * 64)
    anchors.write_text(anchor.line() + "\n" + json.dumps(forged) + "\n")
    r = _cli(db_url, tmp_path, "audit", "verify", "--anchors", str(anchors))
    assert r.returncode == 1 and "the anchor on line 2 of" in r.stderr and "not signed by the audit key" in r.stderr

    other = tmp_path / "other.pem"
    audit_anchors.generate_key(other)
    r = _cli(db_url, tmp_path, "audit", "verify", "--anchors", str(anchors), "--public-key", f"{other}.pub")
    assert r.returncode == 1 and "the anchors on lines 1 and 2 of" in r.stderr

    anchors.write_text("not an anchor\n")
    r = _cli(db_url, tmp_path, "audit", "verify", "--anchors", str(anchors))
    assert r.returncode == 2 and "line 1, is not an anchor" in r.stderr and "Traceback" not in r.stderr
    r = _cli(db_url, tmp_path, "audit", "verify", "--anchors", str(tmp_path / "missing.jsonl"))
    assert r.returncode == 2 and "cannot read the anchors file" in r.stderr
    r = _cli(db_url, tmp_path, "audit", "verify", "--expect-head", "not-a-head")
    assert r.returncode == 2 and "64 hex digits" in r.stderr
    r = _cli(db_url, tmp_path, "audit", "verify", "--anchors", str(anchors), ISAP_AUDIT_KEY="")
    assert r.returncode == 2 and "no key to check anchors with" in r.stderr


def test_reports_and_letters_carry_the_signed_head_and_keep_the_anchor(service, tmp_path, db_url, audit_key):
    from isap.outputs.assurance_report import render_report
    from isap.outputs.letters import render_letter_pdf

    _decided(service, tmp_path)
    html = render_report(service, "rita", REF, 1)
    [line] = (tmp_path / "anchors.jsonl").read_text().splitlines()
    anchor = json.loads(line)
    assert anchor["head"] in html and anchor["signature"] in html and anchor["key_id"] in html
    assert f"event {anchor['event_id']}" in html and "assurance report ISAP-2026-014 checkpoint 1" == anchor["why"]
    render_letter_pdf(service, "rita", REF, 1)
    assert len((tmp_path / "anchors.jsonl").read_text().splitlines()) == 2
    r = _cli(db_url, tmp_path, "audit", "verify", "--anchors", str(tmp_path / "anchors.jsonl"))
    assert r.returncode == 0, r.stderr


def test_the_daily_step_anchors_a_chain_that_holds_and_mails_the_anchor(service, tmp_path, monkeypatch, audit_key):
    from isap.orchestration.steps import reminders

    monkeypatch.setenv("ISAP_OUTBOX", str(tmp_path / "outbox"))
    monkeypatch.setenv("ISAP_AUDIT_ANCHOR_TO", "archive@isap.example")
    import datetime as dt

    assert reminders(service, dt.date(2026, 12, 7)) == []
    [line] = (tmp_path / "anchors.jsonl").read_text().splitlines()
    assert json.loads(line)["why"] == "daily 2026-12-07"
    from isap.orchestration.notifications import deliver

    deliver(service)
    [eml] = (tmp_path / "outbox").glob("*.eml")
    import email
    import email.policy

    mail = email.message_from_string(eml.read_text(), policy=email.policy.default)
    body = next(part for part in mail.walk() if part.get_content_type() == "text/plain").get_content()
    assert "archive@isap.example" in mail["To"] and line in body
    # a broken chain is never signed
    with service.engine.begin() as conn:
        _owner(conn, "auditevent", on=False)
        conn.execute(text("UPDATE auditevent SET reason = 'nothing happened' WHERE action = 'user_added'"))
        _owner(conn, "auditevent", on=True)
    reminders(service, dt.date(2026, 12, 8))
    assert len((tmp_path / "anchors.jsonl").read_text().splitlines()) == 1


def test_decisions_recorded_before_seals_are_sealed_by_the_upgrade(tmp_path):
    import sqlite3

    from alembic import command

    from isap.review.service import Service
    from isap.store.db import alembic_config, engine_for
    from isap.store.files import FileStore

    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(alembic_config(url), "0005_access")
    raw = sqlite3.connect(tmp_path / "old.db")  # foreign keys off: only the decision, its ratings and proposal matter
    raw.execute("INSERT INTO organisation (id, code, name) VALUES (1, 'QUA', 'NHS Black Country ICB')")
    raw.execute("INSERT INTO proposal (id, reference, title, organisation_id, checkpoint, state, state_since, "
                "version, created_at, updated_at) VALUES (1, 'ISAP-2026-001', 'A', 1, 2, 'draft', "
                "'2026-11-01 10:00:00', 2, '2026-11-01 10:00:00', '2026-11-01 10:00:00')")
    raw.execute('INSERT INTO decision (id, review_id, proposal_id, checkpoint, outcome, rationale, "by", at) '

                "VALUES (1, 1, 1, 1, 'approved', 'Sound.', 1, '2026-11-01 10:00:00.000000')")
    raw.executemany("INSERT INTO rating (review_id, domain, rating) VALUES (1, ?, ?)", RATINGS.items())
    raw.commit()
    raw.close()
    command.upgrade(alembic_config(url), "head")
    svc = Service(engine_for(url), FileStore(tmp_path / "files"))
    assert svc.verify_audit().ok
    with svc.engine.connect() as conn:
        assert conn.execute(text("SELECT action FROM auditevent WHERE record LIKE 'decision:1:%'")).scalar() == \
            "decision_sealed"
    with pytest.raises(Exception, match="would no longer verify"):
        command.downgrade(alembic_config(url), "0005_access")


def test_the_demo_history_runs_forward_over_weeks(tmp_path, demo_sqlite):
    """The demonstration data is recorded in the order it happened, so its history keeps its weeks (an event
    dated before the one it follows would be recorded at that one's time). The demo is the session's, loaded
    into a fresh store (conftest.demo_sqlite)."""
    import datetime as dt

    from isap.review.service import Service
    from isap.store.db import engine_for
    from tests.conftest import copy_sqlite

    svc = Service(engine_for(copy_sqlite(demo_sqlite, tmp_path / "demo.db")))
    with svc.engine.connect() as conn:
        ats = [dt.datetime.fromisoformat(a) for a in
               conn.execute(text("SELECT at FROM auditevent ORDER BY id")).scalars()]
    assert ats == sorted(ats) and ats[-1] - ats[0] > dt.timedelta(days=59)
    assert len({a.date() for a in ats}) >= 10
    assert svc.verify_audit().ok

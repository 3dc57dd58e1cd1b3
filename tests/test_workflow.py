"""The ISAP workflow on SQLite and on a real PostgreSQL server: journey, guards, scoping, history."""

from __future__ import annotations

import copy
import os
import threading

import pytest
from sqlalchemy import text

from isap.review.service import ConditionInput, Conflict, Forbidden, NotFound, Refused, WorkflowError
from sample_submissions.proposals import clean, write
from tests.evidence_helpers import attach_required
from tests.panel import decide, second_reviewer, take

REF = "ISAP-2026-014"
RATINGS = {"capitalisation": "green", "transparency": "amber", "service_scope": "green",
           "relationships": "green", "governance": "green"}


def book(tmp_path, p, name="w.xlsx") -> bytes:
    return write(p, tmp_path / name).read_bytes()


def proposal(cp, **kw):
    return clean(cp, kw.pop("model", "Partially integrated"), kw.pop("provider_type", "NHS trust"), REF)


def history(service, actor="rita"):
    return [(h["action"], h["from_state"], h["to_state"]) for h in service.show(actor, REF)["history"]
            if h["to_state"]]


def test_journey_from_upload_to_assured(service, tmp_path):
    # checkpoint 1: an error first, then a warning to acknowledge
    bad = proposal(1)
    bad["Cover"]["wpap_annual_value_gbp"] = 1
    r = service.upload("alice", "v1.xlsx", book(tmp_path, bad, "v1.xlsx"))
    assert (r.reference, r.version, r.created_proposal, r.errors) == (REF, 1, True, 1)
    with pytest.raises(Refused, match="error finding"):
        service.submit("alice", REF)
    warn = proposal(1)
    warn["Partners"] = [x for x in warn["Partners"] if x["partner_type"] != "Voluntary sector"]  # REL011
    r = service.upload("alice", "v2.xlsx", book(tmp_path, warn, "v2.xlsx"))
    assert (r.version, r.errors, r.warnings) == (2, 0, 1)
    with pytest.raises(Refused, match="without an explanatory note"):
        service.submit("alice", REF)
    service.acknowledge("alice", REF, "REL011", "The CVS joins through the alliance board from year 2.")
    service.submit("alice", REF)
    take(service, "rita", REF)
    decide(service, "rita", REF, "returned", RATINGS, "Engagement evidence is thin: add the LMC minutes.")
    assert service.show("alice", REF)["state"] == "returned"
    r = service.upload("alice", "v3.xlsx", book(tmp_path, proposal(1), "v3.xlsx"))
    assert r.version == 3 and r.warnings == 0
    service.submit("alice", REF)
    take(service, "rita", REF)
    decide(service, "rita", REF, "approved_with_conditions", RATINGS, "A sound strategic case.",
                   [ConditionInput("Publish the engagement report", "ICB programme director",
                                   __import__("datetime").date(2027, 1, 31))])
    shown = service.show("alice", REF)
    assert (shown["state"], shown["checkpoint"]) == ("draft", 2)
    [cond] = shown["conditions"]
    # checkpoint 2: the open condition blocks submission until a reviewer discharges it
    service.upload("alice", "v4.xlsx", book(tmp_path, proposal(2), "v4.xlsx"))
    with pytest.raises(Refused, match="still open"):
        service.submit("alice", REF)
    service.answer_condition("alice", REF, cond["id"], "Published on the ICB website, 12 January.")
    service.discharge("rita", REF, cond["id"], "Seen and checked.")
    with pytest.raises(Refused, match="checkpoint 2 needs evidence documents"):
        service.submit("alice", REF)
    attach_required(service, "alice", REF)
    service.submit("alice", REF)
    take(service, "rita", REF)
    decide(service, "rita", REF, "approved", RATINGS, "Preferred bidder meets the standards.")
    # checkpoint 3
    service.upload("alice", "v5.xlsx", book(tmp_path, proposal(3), "v5.xlsx"))
    attach_required(service, "alice", REF)
    service.submit("alice", REF)
    take(service, "rita", REF)
    decide(service, "rita", REF, "approved", RATINGS, "Ready to mobilise.")
    final = service.show("rita", REF)
    assert final["state"] == "assured"
    assert [v["number"] for v in final["versions"]] == [1, 2, 3, 4, 5]
    assert history(service) == [
        ("proposal_created", None, "draft"),
        ("submit", "draft", "submitted"), ("take", "submitted", "in_review"),
        ("decide:returned", "in_review", "returned"),
        ("submit", "returned", "submitted"), ("take", "submitted", "in_review"),
        ("decide:approved_with_conditions", "in_review", "draft"),
        ("submit", "draft", "submitted"), ("take", "submitted", "in_review"), ("decide:approved", "in_review", "draft"),
        ("submit", "draft", "submitted"), ("take", "submitted", "in_review"),
        ("decide:approved", "in_review", "assured"),
    ]
    actions = [h["action"] for h in final["history"]]
    assert {"warning_acknowledged", "condition_raised", "condition_answered", "condition_discharged",
            "checked"} <= set(actions)
    assert all(h["actor"] == "isap" for h in final["history"] if h["action"] == "checked")
    with pytest.raises(Refused):
        service.withdraw("alice", REF)  # terminal


def test_a_new_proposal_takes_its_title_without_a_title_change(service, tmp_path):
    """The first version names the proposal; only a later version that names it differently changes its title."""
    service.upload("alice", "a.xlsx", book(tmp_path, proposal(1)))
    first = service.show("alice", REF)
    assert first["title"] and not [h for h in first["history"] if h["action"] == "title_changed"]
    renamed = proposal(1)
    renamed["Cover"]["proposal_title"] = "Renamed integrated care provider"
    service.upload("alice", "b.xlsx", book(tmp_path, renamed, "b.xlsx"))
    changes = [h["reason"] for h in service.show("alice", REF)["history"] if h["action"] == "title_changed"]
    assert changes == [f"version 2 changed the title from “{first['title']}” to “Renamed integrated care provider”"]


def test_identical_bytes_make_no_new_version(service, tmp_path):
    data = book(tmp_path, proposal(1))
    first = service.upload("alice", "a.xlsx", data)
    again = service.upload("alice", "copy.xlsx", data)
    assert (again.duplicate, again.version) == (True, first.version)
    assert len(service.show("alice", REF)["versions"]) == 1


def test_reuploading_an_earlier_version_says_the_later_one_is_still_the_latest(service, tmp_path):
    """Identical bytes make no new version (docs/workflow.md), so a commissioner who uploads version 1's file again
    after version 2 is told that version 2 is still the latest, not only that the file matches version 1."""
    first = book(tmp_path, proposal(1), "v1.xlsx")
    changed = proposal(1)
    changed["Cover"]["wpap_annual_value_gbp"] = 10
    second = book(tmp_path, changed, "v2.xlsx")  # kept: a workbook written again carries a new timestamp
    service.upload("alice", "v1.xlsx", first)
    service.upload("alice", "v2.xlsx", second)
    again = service.upload("alice", "v1-again.xlsx", first)
    assert (again.duplicate, again.version, again.latest_version) == (True, 1, 2)
    assert again.repeats_earlier_version
    assert again.message == (f"{REF} is identical to version 1, an earlier version: nothing new was kept, and "
                             "version 2 is still the latest.")
    latest = service.upload("alice", "v2-again.xlsx", second)
    assert (latest.duplicate, latest.version, latest.latest_version) == (True, 2, 2)
    assert not latest.repeats_earlier_version and latest.message == "Identical to version 2: nothing new kept."
    assert not latest.needs_a_second_look
    assert len(service.show("alice", REF)["versions"]) == 2


def test_an_earlier_file_again_on_a_closed_proposal_says_it_is_closed(service, tmp_path):
    """Identical bytes still make no new version, but the answer does not read as if work could go on."""
    from isap.review.lifecycle import NOT_YOUR_TURN, State

    first = book(tmp_path, proposal(1), "v1.xlsx")
    service.upload("alice", "v1.xlsx", first)
    service.withdraw("alice", REF, reason="merged into another proposal")
    again = service.upload("alice", "v1-again.xlsx", first)
    assert (again.duplicate, again.version, again.latest_version) == (True, 1, 1)
    assert again.message == (f"Identical to version 1: nothing new kept. {REF} is withdrawn; only a draft or "
                             f"returned proposal can be given a new version. {NOT_YOUR_TURN[State.WITHDRAWN]}")
    assert again.takes_no_new_version and again.needs_a_second_look
    assert len(service.show("alice", REF)["versions"]) == 1


def test_broken_file_is_kept_not_lost(service, tmp_path):
    r = service.upload("alice", "scan.xlsx", b"%PDF-1.7 not a workbook")
    assert r.reference is None and r.kept_as and r.errors == 1
    assert service.files.get(r.sha256) == b"%PDF-1.7 not a workbook"


def test_a_file_that_cannot_be_checked_says_why_first(service, tmp_path):
    """Its headline leads with what stops it being checked (the file-level finding), not with the proposal it
    does not name; a workbook that can be read but names no proposal keeps the naming message."""
    r = service.upload("alice", "notes.xlsx", b"name,value\nx,1\n" * 20)
    [finding] = [f for f in r.report["findings"] if f["rule_id"] == "WB001"]
    assert r.message == f"This file cannot be checked: {finding['message']} It is kept, and its findings are below."
    assert "plain text" in r.message
    unnamed = proposal(1)
    unnamed["Cover"]["proposal_reference"] = ""
    r = service.upload("alice", "unnamed.xlsx", book(tmp_path, unnamed))
    assert r.reference is None and r.message.startswith("The file does not name its proposal")


def test_original_bytes_are_kept_and_downloadable(service, tmp_path):
    data = book(tmp_path, proposal(1))
    service.upload("alice", "a.xlsx", data)
    name, got = service.version_bytes("alice", REF, 1)
    assert (name, got) == ("a.xlsx", data)


def test_commissioner_scoping(service, tmp_path):
    service.upload("alice", "a.xlsx", book(tmp_path, proposal(1)))
    for action in (lambda: service.show("otto", REF), lambda: service.submit("otto", REF),
                   lambda: service.withdraw("otto", REF), lambda: service.version_bytes("otto", REF, 1),
                   lambda: service.acknowledge("otto", REF, "REL011", "x"), lambda: service.comment("otto", REF, "hi")):
        with pytest.raises(NotFound, match="that you can see"):
            action()
    assert service.list_proposals("otto") == []
    assert [p["reference"] for p in service.list_proposals("rita")] == [REF]
    # the proposal page's choice of proposal is scoped the same way
    assert service.proposal_choices("otto") == []
    assert service.proposal_choices("alice") == service.proposal_choices("rita") == [
        (REF, service.show("rita", REF)["title"])]
    # otto cannot upload a workbook that names another organisation as lead commissioner
    with pytest.raises(Forbidden, match="not your organisation"):
        service.upload("otto", "b.xlsx", book(tmp_path, proposal(1), "b.xlsx"))


def test_roles(service, tmp_path):
    service.upload("alice", "a.xlsx", book(tmp_path, proposal(1)))
    service.submit("alice", REF)
    with pytest.raises(Forbidden):
        take(service, "alice", REF)
    take(service, "rita", REF)
    with pytest.raises(Forbidden):
        decide(service, "alice", REF, "approved", RATINGS, "self-approval")
    with pytest.raises(Forbidden):
        service.upload("rita", "a.xlsx", book(tmp_path, proposal(1), "r.xlsx"))
    with pytest.raises(NotFound, match="unknown user"):
        service.submit("mallory", REF)


@pytest.mark.parametrize("ratings,rationale,outcome,conditions,match", [
    ({k: v for k, v in RATINGS.items() if k != "governance"}, "ok", "approved", [], "missing: Governance$"),
    ({**RATINGS, "governance": "purple"}, "ok", "approved", [], "green, amber or red"),
    (RATINGS, "  ", "approved", [], "rationale"),
    (RATINGS, "ok", "approved_with_conditions", [], "^Approved with conditions needs at least one condition"),
    (RATINGS, "", "halted", [], "rationale"),
    (RATINGS, "ok", "approved", [ConditionInput("x", "y", __import__("datetime").date(2027, 1, 1))],
     "only with the outcome Approved with conditions$"),
])
def test_decide_guards_change_nothing(service, tmp_path, ratings, rationale, outcome, conditions, match):
    service.upload("alice", "a.xlsx", book(tmp_path, proposal(1)))
    service.submit("alice", REF)
    take(service, "rita", REF)
    before = service.show("rita", REF)
    with pytest.raises(WorkflowError, match=match):
        decide(service, "rita", REF, outcome, ratings, rationale, conditions)
    after = service.show("rita", REF)
    assert after == before


def test_halted_is_terminal(service, tmp_path):
    service.upload("alice", "a.xlsx", book(tmp_path, proposal(1)))
    service.submit("alice", REF)
    take(service, "rita", REF)
    decide(service, "rita", REF, "halted", RATINGS, "Not affordable.")
    assert service.show("alice", REF)["state"] == "halted"
    with pytest.raises(Refused):
        service.upload("alice", "b.xlsx", book(tmp_path, proposal(1, provider_type="NHS foundation trust"), "b.xlsx"))


def test_refused_paths(service, tmp_path):
    with pytest.raises(NotFound):
        service.submit("alice", "ISAP-2099-001")
    service.upload("alice", "a.xlsx", book(tmp_path, proposal(2), "cp2.xlsx"))
    with pytest.raises(Refused, match="is for checkpoint 2"):
        service.submit("alice", REF)
    with pytest.raises(Refused, match="only a submitted proposal"):
        take(service, "rita", REF)
    with pytest.raises(Refused, match="only a proposal in review"):
        decide(service, "rita", REF, "approved", RATINGS, "x")
    service.upload("alice", "b.xlsx", book(tmp_path, proposal(1), "cp1.xlsx"))
    service.submit("alice", REF)
    with pytest.raises(Refused, match="draft or returned"):
        service.upload("alice", "c.xlsx", book(tmp_path, proposal(1, provider_type="NHS foundation trust"), "c.xlsx"))
    with pytest.raises(Refused, match="draft or returned"):
        service.submit("alice", REF)
    service.declare("rita", REF)  # (a reviewer declares before returning a submission too)
    service.return_submission("rita", REF, "Please add the LMC minutes.")
    assert service.show("alice", REF)["state"] == "returned"
    service.withdraw("alice", REF, "Merged into ISAP-2026-020")
    assert service.show("alice", REF)["state"] == "withdrawn"


def test_refused_transition_is_not_recorded(service, tmp_path):
    service.upload("alice", "a.xlsx", book(tmp_path, proposal(2)))
    before = service.show("alice", REF)
    with pytest.raises(Refused):
        service.submit("alice", REF)
    assert service.show("alice", REF)["history"] == before["history"]
    assert service.show("alice", REF)["version"] == before["version"]


def test_stale_version_is_a_conflict(service, tmp_path):
    service.upload("alice", "a.xlsx", book(tmp_path, proposal(1)))
    seen = service.show("alice", REF)["version"]
    service.comment("rita", REF, "Looks promising.")  # someone else acts
    with pytest.raises(Conflict, match="changed by someone else"):
        service.submit("alice", REF, expected_version=seen)
    assert service.show("alice", REF)["state"] == "draft"


def test_two_concurrent_sessions_second_is_refused(service, tmp_path):
    service.upload("alice", "a.xlsx", book(tmp_path, proposal(1)))
    service.submit("alice", REF)
    seen = service.show("rita", REF)["version"]
    service.add_user("rob", "reviewer")
    barrier = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def act(user):
        barrier.wait()
        try:
            take(service, user, REF, expected_version=seen)
            outcomes[user] = "ok"
        except Conflict as exc:
            outcomes[user] = exc
        except Refused as exc:  # the loser may also see the new state first
            outcomes[user] = exc

    threads = [threading.Thread(target=act, args=(u,)) for u in ("rita", "rob")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(type(v).__name__ if not isinstance(v, str) else v for v in outcomes.values())[0] in (
        "Conflict", "Refused")
    assert list(outcomes.values()).count("ok") == 1
    takes = [h for h in service.show("rita", REF)["history"] if h["action"] == "take"]
    assert len(takes) == 1


def test_audit_rows_cannot_be_updated_or_deleted(service, tmp_path):
    service.upload("alice", "a.xlsx", book(tmp_path, proposal(1)))
    with service.engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM auditevent")).scalar()
        assert n > 0
    for sql in ("UPDATE auditevent SET actor = 'mallory'", "DELETE FROM auditevent"):
        with pytest.raises(Exception, match="append-only"):
            with service.engine.begin() as conn:
                conn.execute(text(sql))
    with service.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM auditevent")).scalar() == n
        assert conn.execute(text("SELECT count(*) FROM auditevent WHERE actor = 'mallory'")).scalar() == 0


def test_passwords_are_hashed(service):
    with service.engine.connect() as conn:
        stored = conn.execute(text("SELECT password_hash FROM app_user WHERE username = 'alice'")).scalar()
    assert stored.startswith("$argon2") and "correct horse" not in stored
    assert service.authenticate("alice", "correct horse").username == "alice"
    assert service.authenticate("alice", "wrong") is None


def test_wrong_schema_version_and_unreachable_database(tmp_path):
    from isap.review.service import Service
    from isap.store.db import StoreError, engine_for

    with pytest.raises(StoreError, match="isap db upgrade"):
        Service(engine_for(f"sqlite:///{tmp_path / 'empty.db'}"))
    with pytest.raises(StoreError, match="cannot reach the database"):
        Service(engine_for("postgresql+psycopg://nobody@127.0.0.1:1/none"))


def test_cli_errors_are_one_line(tmp_path):
    """A failing command prints one line and no traceback: what only a real process shows, so the failures run as
    processes; the commands that set the store up run in this one (tests/in_process.py)."""
    import json
    import subprocess
    import sys

    from tests.in_process import isap as isap_here

    env = {**os.environ, "ISAP_DATA_DIR": str(tmp_path / "data")}
    env.pop("ISAP_DATABASE_URL", None)
    here = {"ISAP_DATA_DIR": str(tmp_path / "data"), "ISAP_DATABASE_URL": None}

    def isap(*args):
        return subprocess.run([sys.executable, "-m", "isap.cli", *args], capture_output=True, text=True, env=env)

    r = isap("list", "--as", "alice")
    assert r.returncode == 1 and "isap db upgrade" in r.stderr and "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1
    assert isap_here("db", "upgrade", env=here).returncode == 0
    assert isap_here("org", "add", "QUA", "Black Country ICB", env=here).returncode == 0
    assert isap_here("user", "add", "alice", "--role", "commissioner", "--org", "QUA", env=here).returncode == 0
    r = isap("submit", "ISAP-2026-001", "--as", "alice")
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "no proposal" in r.stderr
    r = isap("review", "propose", "ISAP-2026-001", "--outcome", "approved", "--condition", "x|y|31/01/2027",
             "--as", "alice")
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "not a date" in r.stderr
    path = write(copy.deepcopy(clean(1, reference="ISAP-2026-001")), tmp_path / "w.xlsx")
    r = isap_here("upload", str(path), "--as", "alice", "--format", "json", env=here)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["version"] == 1
    r = isap_here("show", "ISAP-2026-001", "--as", "alice", "--format", "json", env=here)
    shown = json.loads(r.stdout)
    assert {"reference", "state", "checkpoint", "versions", "conditions", "history"} <= set(shown)
    assert set(shown["versions"][0]) >= {"number", "sha256", "errors", "warnings"}
    assert set(shown["history"][0]) >= {"action", "actor", "from_state", "to_state", "at", "reason"}


def test_states_over_time_follows_the_history(service, tmp_path):
    service.upload("alice", "a.xlsx", book(tmp_path, proposal(1)))
    service.submit("alice", REF)
    [today] = service.states_over_time("rita")
    assert today["submitted"] == 1 and today.get("draft", 0) == 0
    assert service.states_over_time("otto") == []


def test_single_sign_on_identity_maps_to_exactly_one_account(service):
    from isap.review.service import Forbidden

    service.add_user("carol", "commissioner", "QUA", email="Carol.Jones@nhs.net")
    assert service.identify("carol.jones@NHS.net", True).username == "carol"
    assert service.identify(" carol.jones@nhs.net ", None).username == "carol"  # no verification claim at all
    with pytest.raises(Forbidden, match="not verified"):
        service.identify("carol.jones@nhs.net", False)
    with pytest.raises(Forbidden, match="has no ISAP account"):
        service.identify("mallory@example.org", True)
    with pytest.raises(Forbidden, match="did not share an e-mail"):
        service.identify(None, True)
    service.add_user("carol2", "reviewer", email="carol.jones@nhs.net")
    with pytest.raises(Forbidden, match="more than one ISAP account"):
        service.identify("carol.jones@nhs.net", True)


@pytest.mark.parametrize("content, message", [
    ("[auth]\nclient_id = 'x'\n", "redirect_uri, cookie_secret"),
    ("not toml = = =", "cannot read"),
    ("[other]\n", "needs an [auth] section"),
])
def test_dashboard_refuses_an_unusable_secrets_file(tmp_path, content, message, migrated_sqlite):
    import subprocess
    import sys

    from tests.conftest import migrated_data_dir

    secrets = tmp_path / "secrets.toml"
    secrets.write_text(content)
    env = {**os.environ, "ISAP_DATA_DIR": str(migrated_data_dir(migrated_sqlite, tmp_path / "data"))}
    env.pop("ISAP_DATABASE_URL", None)
    r = subprocess.run([sys.executable, "-m", "isap.cli", "dashboard", "--secrets", str(secrets)],
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr


def _in_review(service, tmp_path):
    service.upload("alice", "a.xlsx", book(tmp_path, proposal(1)))
    service.submit("alice", REF)
    take(service, "rita", REF)
    service.add_user("rob", "reviewer", body="nhs_improvement")


def test_concurrent_countersignatures_the_loser_is_told_someone_else_changed_it(service, tmp_path):
    """Two second reviewers countersign the same proposed decision at once: the loser gets a clean Conflict.

    The interleaving is made certain with the database's own statement hook: rob's transaction pauses just
    before its first write until nina's countersignature is committed.
    """
    from sqlalchemy import event

    _in_review(service, tmp_path)
    service.propose("rita", REF, "approved", RATINGS, "A sound strategic case.")
    second_reviewer(service)
    for reviewer in ("nina", "rob"):
        service.declare(reviewer, REF)
    nina_done, rob_waiting = threading.Event(), threading.Event()
    rob = threading.local()

    def pause(conn, cursor, statement, params, context, executemany):
        if getattr(rob, "active", False) and statement.lstrip().upper().startswith(("UPDATE", "INSERT")):
            rob.active = False
            rob_waiting.set()
            assert nina_done.wait(30)

    event.listen(service.engine, "before_cursor_execute", pause)
    outcome: dict[str, object] = {}

    def rob_countersigns():
        rob.active = True
        try:
            service.countersign("rob", REF)
            outcome["rob"] = "ok"
        except Exception as exc:  # noqa: BLE001 - the test looks at exactly what the loser got
            outcome["rob"] = exc

    try:
        t = threading.Thread(target=rob_countersigns)
        t.start()
        assert rob_waiting.wait(30)
        service.countersign("nina", REF)
        nina_done.set()
        t.join(60)
    finally:
        event.remove(service.engine, "before_cursor_execute", pause)
    assert isinstance(outcome["rob"], Conflict), repr(outcome["rob"])
    assert "changed by someone else" in str(outcome["rob"])
    shown = service.show("rita", REF)
    assert (shown["state"], shown["checkpoint"]) == ("draft", 2)
    assert [h["action"] for h in shown["history"] if h["action"].startswith("decide")] == ["decide:approved"]
    assert shown["reviews"][-1]["decision"]["countersigned_by_user"] == "nina"


def test_concurrent_countersignatures_in_two_processes(db_url, tmp_path):
    """Two `isap review countersign` processes at once: one countersigns, the other gets the clean refusal."""
    import subprocess
    import sys

    from isap.review.service import Service
    from isap.store.db import engine_for
    from isap.store.files import FileStore

    service = Service(engine_for(db_url), FileStore(tmp_path / "files"))
    service.add_organisation("QUA", "NHS Black Country ICB")
    service.add_user("alice", "commissioner", "QUA")
    service.add_user("rita", "reviewer", body="nhs_england")
    service.add_user("rob", "reviewer", body="nhs_improvement")
    second_reviewer(service)
    env = {**os.environ, "ISAP_DATABASE_URL": db_url, "ISAP_DATA_DIR": str(tmp_path / "data")}
    for attempt in range(2):
        ref = f"ISAP-2026-0{20 + attempt}"
        service.upload("alice", f"{ref}.xlsx", book(tmp_path, clean(1, reference=ref), f"{ref}.xlsx"))
        service.submit("alice", ref)
        take(service, "rita", ref)
        service.propose("rita", ref, "approved", RATINGS, "Both second reviewers at once.")
        for reviewer in ("nina", "rob"):
            service.declare(reviewer, ref)
        procs = [subprocess.Popen([sys.executable, "-m", "isap.cli", "review", "countersign", ref, "--as", who],
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for who in ("nina", "rob")]
        results = [(p.wait(120), *p.communicate()) for p in procs]
        codes = sorted(r[0] for r in results)
        errors = [r[2] for r in results if r[0]]
        assert codes == [0, 1], results
        assert "unexpected failure" not in errors[0] and "Traceback" not in errors[0], errors
        assert ("changed by someone else" in errors[0] or "only a proposal in review can be countersigned"
                in errors[0] or "no proposed decision" in errors[0]), errors
        decisions = [h for h in service.show("rita", ref)["history"] if h["action"].startswith("decide")]
        assert len(decisions) == 1


# ---------------------------------------------------------------------- retryable database failures

def test_a_busy_sqlite_database_is_retryable_by_its_error_code(tmp_path):
    """Another process holds the write lock: the driver's SQLITE_BUSY makes StoreBusy, which the pipeline retries."""
    import sqlite3

    from sqlalchemy import event
    from sqlmodel import create_engine

    from isap.orchestration import steps
    from isap.review.service import Service
    from isap.store.db import StoreBusy, _sqlite_pragmas, upgrade
    from isap.store.files import FileStore

    url = f"sqlite:///{tmp_path / 'isap.db'}"
    upgrade(url)
    engine = create_engine(url, connect_args={"check_same_thread": False})
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "connect", lambda conn, _r: conn.execute("PRAGMA busy_timeout=100"))
    service = Service(engine, FileStore(tmp_path / "files"))
    service.add_organisation("QUA", "NHS Black Country ICB")
    service.add_user("alice", "commissioner", "QUA")
    data = book(tmp_path, proposal(1))
    holder = sqlite3.connect(tmp_path / "isap.db")
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreBusy):
            service.add_organisation("QHM", "North East ICB")
        with pytest.raises(steps.TransientError):
            steps.persist_version(service, "alice", "a.xlsx", data, steps.check_workbook(service, "a", data))
    finally:
        holder.rollback()
        holder.close()
    assert service.upload("alice", "a.xlsx", data).version == 1


def test_a_message_that_mentions_locking_is_not_what_makes_a_failure_retryable(tmp_path):
    """A failure whose message says 'locked' (a trigger calling a function that does not exist) is not retried."""
    from sqlalchemy import text

    from isap.orchestration import steps
    from isap.review.service import Service
    from isap.store.db import StoreBusy, StoreError, engine_for, upgrade
    from isap.store.files import FileStore

    url = f"sqlite:///{tmp_path / 'isap.db'}"
    upgrade(url)
    service = Service(engine_for(url), FileStore(tmp_path / "files"))
    service.add_organisation("QUA", "NHS Black Country ICB")
    service.add_user("alice", "commissioner", "QUA")
    with service.engine.begin() as conn:
        conn.execute(text("CREATE TRIGGER no_versions BEFORE INSERT ON submissionversion "
                          "BEGIN SELECT database_is_locked(); END"))
    data = book(tmp_path, proposal(1))
    report = steps.check_workbook(service, "a.xlsx", data)
    with pytest.raises(StoreError, match="locked") as caught:
        steps.persist_version(service, "alice", "a.xlsx", data, report)
    assert not isinstance(caught.value, (StoreBusy, steps.TransientError))


def test_postgresql_failures_are_classified_by_sqlstate(postgres_server):
    """Real serialisation failure, deadlock, lock timeout and terminated connection: retryable; a raised
    exception whose text says 'locked': not."""
    import uuid

    from sqlalchemy import create_engine
    from sqlalchemy.exc import DBAPIError

    from isap.store.db import retryable
    from tests.pgserver import create_database

    url = create_database(postgres_server, "t_" + uuid.uuid4().hex[:12])
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (id int primary key, n int)"))
        conn.execute(text("INSERT INTO t VALUES (1, 0), (2, 0)"))

    def failure(fn) -> DBAPIError:
        with pytest.raises(DBAPIError) as caught:
            fn()
        return caught.value

    a, b = engine.connect(), engine.connect()
    try:
        # 40001 serialization_failure
        a.execute(text("BEGIN ISOLATION LEVEL REPEATABLE READ"))
        a.execute(text("SELECT n FROM t WHERE id = 1"))
        b.execute(text("UPDATE t SET n = n + 1 WHERE id = 1"))
        b.commit()
        exc = failure(lambda: a.execute(text("UPDATE t SET n = n + 1 WHERE id = 1")))
        assert exc.orig.sqlstate == "40001" and retryable(exc)
        a.rollback()
        # 55P03 lock_not_available
        b.execute(text("SELECT * FROM t WHERE id = 1 FOR UPDATE"))
        a.execute(text("SET lock_timeout = '50ms'"))
        exc = failure(lambda: a.execute(text("SELECT * FROM t WHERE id = 1 FOR UPDATE")))
        assert exc.orig.sqlstate == "55P03" and retryable(exc)
        a.rollback()
        b.rollback()
        # 40P01 deadlock_detected
        a.execute(text("SET deadlock_timeout = '50ms'"))
        a.execute(text("UPDATE t SET n = 0 WHERE id = 1"))
        b.execute(text("UPDATE t SET n = 0 WHERE id = 2"))
        waiting = threading.Thread(target=lambda: _quietly(lambda: b.execute(text("UPDATE t SET n = 0 WHERE id = 1"))))
        waiting.start()
        exc = failure(lambda: a.execute(text("UPDATE t SET n = 0 WHERE id = 2")))
        waiting.join(30)
        assert exc.orig.sqlstate == "40P01" and retryable(exc)
        a.rollback()
        b.rollback()
        # P0001 raise_exception, whatever its words say
        exc = failure(lambda: a.execute(text("DO $$ BEGIN RAISE EXCEPTION 'database is locked'; END $$")))
        assert "locked" in str(exc) and not retryable(exc)
        a.rollback()
        # 57P01 admin_shutdown: the server ends the session
        pid = a.execute(text("SELECT pg_backend_pid()")).scalar()
        a.commit()
        b.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        b.commit()
        exc = failure(lambda: a.execute(text("SELECT 1")))
        assert retryable(exc)
    finally:
        for c in (a, b):
            _quietly(c.close)
        engine.dispose()
    unreachable = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 2})
    exc = failure(lambda: unreachable.connect())
    assert retryable(exc)


def _quietly(fn):
    try:
        fn()
    except Exception:  # noqa: BLE001 - the other side of an induced failure
        pass


# ---------------------------------------------------------------------- every warning can be answered

def _three_wb006(service, tmp_path) -> None:
    """WB006 three times: an unknown column (a cell) and two unknown sheets (no cell)."""
    from sample_submissions.proposals import Layout

    layout = Layout(extra_sheets={"Notes": [["hello"]], "Scratch": [["x"]]},
                    extra_columns={"Partners": {"notes": ["a"]}})
    data = write(proposal(1), tmp_path / "w.xlsx", layout).read_bytes()
    r = service.upload("alice", "w.xlsx", data)
    assert (r.errors, r.warnings) == (0, 3)


def test_every_warning_can_be_acknowledged_even_without_a_cell(service, tmp_path):
    _three_wb006(service, tmp_path)
    with pytest.raises(WorkflowError, match="raised 3 times") as caught:
        service.acknowledge("alice", REF, "WB006", "Our working notes.")
    ids = {f["sheet"]: f["id"] for f in service.show("alice", REF)["findings"]}
    for sheet, fid in ids.items():
        assert f"--finding {fid} ({sheet}" in str(caught.value)
    with pytest.raises(WorkflowError, match="raised 2 times"):
        service.acknowledge("alice", REF, "WB006", "Our working notes.", cell="-")
    service.acknowledge("alice", REF, "WB006", "A notes column for our own use.", cell="N1")
    service.acknowledge("alice", REF, "WB006", "Working notes, ignored by ISAP.", cell="-", sheet="notes")
    with pytest.raises(NotFound, match="number 999"):
        service.acknowledge("alice", REF, "WB006", "x", finding_id=999)
    service.acknowledge("alice", REF, "WB006", "Scratch space.", finding_id=ids["Scratch"])
    with pytest.raises(Refused, match="already acknowledged"):
        service.acknowledge("alice", REF, "WB006", "again", finding_id=ids["Scratch"])
    service.submit("alice", REF)
    assert service.show("alice", REF)["state"] == "submitted"
    reasons = [h["reason"] for h in service.show("alice", REF)["history"] if h["action"] == "warning_acknowledged"]
    assert reasons == [
        "WB006 Partners N1: A notes column for our own use.",
        "WB006 Notes (the sheet as a whole): Working notes, ignored by ISAP.",
        "WB006 Scratch (the sheet as a whole): Scratch space.",
    ]


def test_the_cli_acknowledges_a_warning_without_a_cell(tmp_path):
    import json

    from sample_submissions.proposals import Layout
    from tests import in_process

    def isap(*args):
        return in_process.isap(*args, cwd=tmp_path, env={"ISAP_DATA_DIR": str(tmp_path / "data"),
                                                         "ISAP_DATABASE_URL": None, "ISAP_POLICY": None})

    assert isap("db", "upgrade").returncode == 0
    assert isap("org", "add", "QUA", "Black Country ICB").returncode == 0
    assert isap("user", "add", "alice", "--role", "commissioner", "--org", "QUA").returncode == 0
    layout = Layout(extra_sheets={"Notes": [["hello"]]}, extra_columns={"Partners": {"notes": ["a"]}})
    path = write(proposal(1), tmp_path / "w.xlsx", layout)
    assert isap("upload", str(path), "--as", "alice").returncode == 0
    r = isap("acknowledge", REF, "WB006", "--note", "Notes.", "--as", "alice")
    assert r.returncode == 1 and "raised 2 times" in r.stderr and "--finding" in r.stderr
    r = isap("acknowledge", REF, "WB006", "--cell", "-", "--note", "Our working notes.", "--as", "alice")
    assert r.returncode == 0, r.stderr
    shown = json.loads(isap("show", REF, "--as", "alice", "-f", "json").stdout)
    [left] = [f for f in shown["findings"] if not f["acknowledged"]]
    assert left["cell"] == "N1"
    r = isap("acknowledge", REF, "wb006", "--finding", str(left["id"]), "--note", "Our column.", "--as", "alice")
    assert r.returncode == 0, r.stderr
    assert isap("submit", REF, "--as", "alice").returncode == 0


def test_the_dashboard_acknowledges_every_warning_even_without_a_cell(prefect_harness, tmp_path, monkeypatch):
    """AppTest: each pending warning's own form acknowledges exactly that warning, cell or no cell."""
    from pathlib import Path

    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from isap.review.service import Service
    from isap.store.db import upgrade

    monkeypatch.setenv("ISAP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("ISAP_DATABASE_URL", raising=False)
    monkeypatch.delenv("ISAP_POLICY", raising=False)
    monkeypatch.chdir(tmp_path)
    upgrade()
    service = Service()
    service.add_organisation("QUA", "NHS Black Country ICB")
    service.add_user("alice", "commissioner", "QUA", password="alice-pass")
    _three_wb006(service, tmp_path)
    st.cache_resource.clear()
    try:
        at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "dashboards" / "app.py"),
                               default_timeout=90)
        at.run()
        at.text_input(key="username").input("alice")
        at.text_input(key="password").input("alice-pass")
        at.button[0].click()
        at.run()
        at.switch_page("views/proposal.py")
        at.run()
        for n in range(3):
            at.text_area(key="ack-note-0").input(f"Explained {n}.")
            next(b for b in at.button if b.label == "Acknowledge").click()
            at.run()
            assert not at.exception, at.exception
            assert not [e.value for e in at.error], [e.value for e in at.error]
        assert not [b for b in at.button if b.label == "Acknowledge"]
        next(b for b in at.button if b.label.startswith("Submit for checkpoint")).click()
        at.run()
    finally:
        st.cache_resource.clear()
    shown = service.show("alice", REF)
    assert all(f["acknowledged"] for f in shown["findings"])
    assert shown["state"] == "submitted"


def test_the_checkpoint_mismatch_reads_the_same_on_the_cli_and_in_the_service(tmp_path):
    """One wording (lifecycle.checkpoint_mismatch) for `isap submit`, `isap show` and the dashboard's Submit."""
    from isap.review.lifecycle import Action, checkpoint_mismatch
    from tests import in_process

    def isap(*args):
        return in_process.isap(*args, cwd=tmp_path, env={"ISAP_DATA_DIR": str(tmp_path / "data"),
                                                         "ISAP_DATABASE_URL": None, "ISAP_POLICY": None})

    assert isap("db", "upgrade").returncode == 0
    assert isap("org", "add", "QUA", "Black Country ICB").returncode == 0
    assert isap("user", "add", "alice", "--role", "commissioner", "--org", "QUA").returncode == 0
    path = write(proposal(2), tmp_path / "cp2.xlsx")
    assert isap("upload", str(path), "--as", "alice").returncode == 0
    words = checkpoint_mismatch(REF, 1, 2, 1)
    r = isap("upload", str(write(proposal(2, provider_type="NHS foundation trust"), tmp_path / "again.xlsx")),
             "--as", "alice")
    assert r.returncode == 0 and checkpoint_mismatch(REF, 2, 2, 1) in r.stdout, r.stdout  # said at once
    words = checkpoint_mismatch(REF, 2, 2, 1)
    r = isap("submit", REF, "--as", "alice")
    assert r.returncode == 1 and r.stderr.strip().endswith(words), r.stderr
    assert words in isap("show", REF, "--as", "alice").stdout
    from isap.review.service import Service
    from isap.store.db import engine_for
    from isap.store.files import FileStore

    svc = Service(engine_for(f"sqlite:///{tmp_path / 'data' / 'isap.db'}"), FileStore(tmp_path / "data" / "files"))
    [submit] = [o for o in svc.allowed_actions("alice", REF) if o.action is Action.SUBMIT]
    assert submit.reason == words

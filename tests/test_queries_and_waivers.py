"""Queries and waivers (docs/workflow.md) on SQLite and on a real PostgreSQL server: the journeys, every guard's
refusal, the history, the outbox, and the days waiting for the commissioner counted apart from the target."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from isap.review.service import Forbidden, NotFound, Refused, WorkflowError
from sample_submissions.proposals import clean, write
from tests.panel import decide, second_reviewer, take

REF = "ISAP-2026-014"
RATINGS = {"capitalisation": "green", "transparency": "amber", "service_scope": "green",
           "relationships": "green", "governance": "green"}


def book(tmp_path, cp=1, errors=False, name="w.xlsx") -> bytes:
    p = clean(cp, "Partially integrated", "NHS trust", REF)
    if errors:
        p["Cover"]["wpap_annual_value_gbp"] = 1
    return write(p, tmp_path / name).read_bytes()


def in_review(service, tmp_path):
    service.upload("alice", "v1.xlsx", book(tmp_path))
    service.submit("alice", REF)
    take(service, "rita", REF)


def events(service, *kinds):
    return [(h["action"], h["actor"], h["reason"]) for h in service.show("rita", REF)["history"]
            if h["action"] in kinds]


def outbox(service, kind):
    return [n for n in service.outbox("ada", limit=500) if n["kind"] == kind]


def with_emails(service):
    from sqlmodel import Session, select

    from isap.store.models import User

    with Session(service.engine) as s:
        for u in s.exec(select(User)):
            u.email = f"{u.username}@example.nhs.uk"
            s.add(u)
        s.commit()


# ---------------------------------------------------------------------- queries

def test_a_query_thread_from_question_to_resolution_blocks_the_decision_until_resolved(service, tmp_path):
    with_emails(service)
    in_review(service, tmp_path)
    n = service.raise_query("rita", REF, "Which board approved the value?\x1b[31m", place="Cover C7",
                            due_date=dt.date(2099, 1, 31))
    assert n == 1
    with pytest.raises(Refused, match="^query 1 is still open: resolve it before deciding$"):
        service.propose("rita", REF, "approved", RATINGS, "Sound.")
    service.answer_query("alice", REF, 1, "The ICB board, on 3 March.")
    service.follow_up_query("rita", REF, 1, "Please give the minute number.")
    service.answer_query("alice", REF, 1, "Minute 24/117.")
    service.resolve_query("rita", REF, 1, "Seen in the minutes.")
    [q] = service.show("alice", REF)["queries"]
    assert (q["subject"], q["about"], q["due_date"], q["status"]) == ("cell", "Cover C7", "2099-01-31", "resolved")
    assert [(m["step"], m["author"], m["text"]) for m in q["thread"]] == [
        ("question", "rita", "Which board approved the value?[31m"),  # the escape is taken out
        ("answer", "alice", "The ICB board, on 3 March."),
        ("follow_up", "rita", "Please give the minute number."),
        ("answer", "alice", "Minute 24/117."),
        ("resolution", "rita", "Seen in the minutes.")]
    assert [k for k, _, _ in events(service, "query_raised", "query_answered", "query_followed_up",
                                    "query_resolved")] == ["query_raised", "query_answered", "query_followed_up",
                                                           "query_answered", "query_resolved"]
    # every step tells the other side
    contact = service.show("alice", REF)["contact"]["address"]
    assert [n["recipients"] for n in outbox(service, "query_raised")] == [[contact, "alice@example.nhs.uk"]]
    assert [n["recipients"] for n in outbox(service, "query_answered")] == [["rita@example.nhs.uk"]] * 2
    assert len(outbox(service, "query_followed_up")) == 1 and len(outbox(service, "query_resolved")) == 1
    decide(service, "rita", REF, "approved", RATINGS, "Sound.")


def test_a_query_raised_after_the_decision_was_proposed_stops_its_countersignature(service, tmp_path):
    """An open query blocks countersigning as it blocks proposing (docs/workflow.md, "The review panel"): the
    second reviewer may still send the decision back."""
    from tests.panel import declared, second_reviewer

    in_review(service, tmp_path)
    service.propose("rita", REF, "approved", RATINGS, "Sound.")
    declared(service, second_reviewer(service), REF)
    service.raise_query("rita", REF, "Which board approved the value?")
    with pytest.raises(Refused, match="^query 1 is still open: resolve it before countersigning$"):
        service.countersign("nina", REF)
    shown = service.show("alice", REF)
    assert (shown["state"], shown["panel"]["waiting_for_countersignature"]) == ("in_review", True)
    assert shown["next_step"].startswith("In review with the joint panel of NHS England and NHS Improvement. Before "
                                         "it can be decided: you must answer query 1.")
    service.answer_query("alice", REF, 1, "The ICB board, on 3 March.")
    service.resolve_query("rita", REF, 1, "Seen.")
    service.countersign("nina", REF)
    assert service.show("alice", REF)["state"] == "draft"


def test_a_query_names_a_finding_of_the_latest_version_or_the_proposal(service, tmp_path):
    service.upload("alice", "v1.xlsx", book(tmp_path))
    p = clean(1, "Partially integrated", "NHS trust", REF)
    p["Partners"] = [x for x in p["Partners"] if x["partner_type"] != "Voluntary sector"]  # REL011
    service.upload("alice", "v2.xlsx", write(p, tmp_path / "v2.xlsx").read_bytes())
    warning = service.show("alice", REF)["findings"][0]
    service.acknowledge("alice", REF, "REL011", "From year 2.")
    service.submit("alice", REF)
    take(service, "rita", REF)
    assert service.raise_query("rita", REF, "Why not now?", finding_id=warning["id"]) == 1
    assert service.raise_query("rita", REF, "Is the board content?") == 2
    first, second = service.show("rita", REF)["queries"]
    assert first["subject"] == "finding" and first["about"].startswith("REL011 at Partners")
    assert first["fingerprint"] == warning["fingerprint"]
    assert (second["subject"], second["about"]) == ("proposal", None)
    with pytest.raises(NotFound, match="has no finding 999999"):
        service.raise_query("rita", REF, "?", finding_id=999_999)
    with pytest.raises(WorkflowError, match="not both"):
        service.raise_query("rita", REF, "?", finding_id=warning["id"], place="Cover C7")


def test_every_query_guard_refuses_and_changes_nothing(service, tmp_path):
    service.upload("alice", "v1.xlsx", book(tmp_path))
    with pytest.raises(Refused, match="is a draft; only a proposal in review can be queried"):
        service.raise_query("rita", REF, "Too early?")
    service.submit("alice", REF)
    take(service, "rita", REF)
    with pytest.raises(Forbidden, match="only reviewers and administrators may raise a query"):
        service.raise_query("alice", REF, "May I?")
    with pytest.raises(Refused, match="has no open query"):
        service.answer_query("alice", REF, 1, "Nothing asked.")
    with pytest.raises(WorkflowError, match="has passed"):
        service.raise_query("rita", REF, "Late?", due_date=dt.date(2000, 1, 1))
    with pytest.raises(WorkflowError, match="at most 4,000"):
        service.raise_query("rita", REF, "q" * 4_001)
    service.raise_query("rita", REF, "Which board?")
    before = service.show("rita", REF)
    with pytest.raises(NotFound):
        service.answer_query("otto", REF, 1, "Not my organisation's.")
    with pytest.raises(Forbidden, match="only commissioners and administrators may answer a query"):
        service.answer_query("rita", REF, 1, "Answering myself.")
    with pytest.raises(Refused, match="has been answered since it was asked"):
        service.follow_up_query("rita", REF, 1, "And?")
    with pytest.raises(NotFound, match="has no query 7"):
        service.resolve_query("rita", REF, 7, "No such query.")
    service.answer_query("alice", REF, 1, "The ICB board.")
    with pytest.raises(Refused, match="no query of ISAP-2026-014 waits for an answer"):
        service.answer_query("alice", REF, 1, "Again.")
    with pytest.raises(WorkflowError, match="needs a note"):
        service.resolve_query("rita", REF, 1, "  ")
    service.resolve_query("rita", REF, 1, "Fine.")
    with pytest.raises(Refused, match="has no open query"):
        service.resolve_query("rita", REF, 1, "Twice.")
    after = service.show("rita", REF)
    assert len(after["history"]) == len(before["history"]) + 2


def test_days_waiting_for_the_commissioner_do_not_count_against_the_review_target(service, tmp_path):
    """Taken on Monday 2 November 2026; a query waits for the commissioner from Tuesday 3 to Tuesday 10 (five
    working days); on Monday 16 the review has waited ten working days, five of them counted."""
    def at(day, hour=10):
        return lambda: dt.datetime(2026, 11, day, hour, tzinfo=dt.timezone.utc)

    service.clock = at(2)
    in_review(service, tmp_path)
    service.clock = at(3)
    service.raise_query("rita", REF, "Which board?")
    service.clock = at(10)
    service.answer_query("alice", REF, 1, "The ICB board.")
    service.clock = at(11)
    service.resolve_query("rita", REF, 1, "Seen.")
    [row] = service.review_queue("rita", today=dt.date(2026, 11, 16))
    assert (row["working_days_in_state"], row["waiting_on_commissioner"], row["working_days_counted"]) == (10, 5, 5)
    # overdue only once the counted days pass the target: 20 working days counted is 5 December + 5 days waited
    assert not service.review_queue("rita", today=dt.date(2026, 12, 7))[0]["overdue"]
    assert service.review_queue("rita", today=dt.date(2026, 12, 8))[0]["overdue"]
    assert not service.overdue(dt.date(2026, 12, 7)) and service.overdue(dt.date(2026, 12, 8))


def test_an_open_query_still_waiting_counts_apart_up_to_today(service, tmp_path):
    service.clock = lambda: dt.datetime(2026, 11, 2, 9, tzinfo=dt.timezone.utc)
    in_review(service, tmp_path)
    service.raise_query("rita", REF, "Which board?")
    [row] = service.review_queue("rita", today=dt.date(2026, 11, 9))
    assert (row["working_days_in_state"], row["waiting_on_commissioner"], row["working_days_counted"]) == (5, 5, 0)
    # the proposal's timeline and the national view say the same
    timeline = service.timeline("rita", REF, today=dt.date(2026, 11, 9))
    assert timeline["waiting_for_commissioner_working_days"] == 5
    [national] = service.national_view("rita", today=dt.date(2026, 11, 9))
    assert national["open_queries"] == 1
    service.answer_query("alice", REF, 1, "The ICB board.")
    service.resolve_query("rita", REF, 1, "Seen.")
    assert service.national_view("rita", today=dt.date(2026, 11, 9))[0]["open_queries"] == 0


# ---------------------------------------------------------------------- waivers

def test_a_granted_waiver_lets_the_version_be_submitted_and_follows_the_finding_into_later_versions(
        service, tmp_path):
    with_emails(service)
    service.upload("alice", "v1.xlsx", book(tmp_path, errors=True))
    errors = [f for f in service.show("alice", REF)["findings"] if f["severity"] == "error"]
    assert errors
    with pytest.raises(Refused, match="error finding"):
        service.submit("alice", REF)
    numbers = [service.request_waiver("alice", REF, f["id"], "A phased start: the value is sound.") for f in errors]
    assert [n["recipients"] for n in outbox(service, "waiver_requested")] == [["rita@example.nhs.uk",
                                                                               "ada@example.nhs.uk"]] * len(errors)
    for n in numbers:
        service.grant_waiver("rita", REF, n, "Seen the phasing plan.")
    shown = service.show("alice", REF)
    waived = [f for f in shown["findings"] if f["waived"]]
    assert len(waived) == len(errors)
    assert (waived[0]["waiver"]["ruled_by"], waived[0]["waiver"]["ruling"]) == ("rita", "Seen the phasing plan.")
    assert "Ready to submit" in shown["next_step"]
    # the same error in a later version of the same checkpoint is still waived
    service.upload("alice", "v2.xlsx", book(tmp_path, errors=True, name="v2.xlsx") + b"")
    again = book(tmp_path, errors=True, name="v3.xlsx")
    service.upload("alice", "v3.xlsx", again)
    assert all(f["waived"] for f in service.show("alice", REF)["findings"] if f["severity"] == "error")
    service.submit("alice", REF)
    assert [k for k, _, _ in events(service, "waiver_requested", "waiver_granted")] == \
        ["waiver_requested"] * len(errors) + ["waiver_granted"] * len(errors)
    assert len(outbox(service, "waiver_granted")) == len(errors)


def test_a_waiver_holds_only_at_its_checkpoint(service, tmp_path):
    service.upload("alice", "v1.xlsx", book(tmp_path, errors=True))
    for f in [f for f in service.show("alice", REF)["findings"] if f["severity"] == "error"]:
        service.grant_waiver("rita", REF, service.request_waiver("alice", REF, f["id"], "Sound."), "Agreed.")
    service.submit("alice", REF)
    take(service, "rita", REF)
    decide(service, "rita", REF, "approved", RATINGS, "Sound.")
    service.upload("alice", "v2.xlsx", book(tmp_path, cp=2, errors=True, name="v2.xlsx"))
    with pytest.raises(Refused, match="error finding"):
        service.submit("alice", REF)


def test_every_waiver_guard_refuses_and_changes_nothing(service, tmp_path):
    service.upload("alice", "v1.xlsx", book(tmp_path, errors=True))
    error = next(f for f in service.show("alice", REF)["findings"] if f["severity"] == "error")
    with pytest.raises(Forbidden, match="only commissioners and administrators may ask for a waiver"):
        service.request_waiver("rita", REF, error["id"], "Please.")
    with pytest.raises(NotFound):
        service.request_waiver("otto", REF, error["id"], "Please.")
    with pytest.raises(WorkflowError, match="needs a reason"):
        service.request_waiver("alice", REF, error["id"], " ")
    with pytest.raises(Refused, match="no waiver request waiting for an answer"):
        service.grant_waiver("rita", REF, 1, "Nothing asked.")
    n = service.request_waiver("alice", REF, error["id"], "Sound.")
    before = service.show("rita", REF)
    with pytest.raises(Refused, match="has no error finding that can be waived"):  # its only error is asked about
        service.request_waiver("alice", REF, error["id"], "Again.")
    with pytest.raises(Forbidden, match="only reviewers and administrators may grant a waiver"):
        service.grant_waiver("alice", REF, n, "Granting my own.")
    with pytest.raises(NotFound, match="has no waiver 9"):
        service.refuse_waiver("rita", REF, 9, "No such waiver.")
    assert service.show("rita", REF)["history"] == before["history"]
    service.refuse_waiver("rita", REF, n, "The threshold fits this case.")
    with pytest.raises(Refused, match="no waiver request waiting for an answer"):
        service.grant_waiver("rita", REF, n, "Changed my mind.")
    assert service.show("alice", REF)["waivers"][0]["status"] == "refused"
    # refused, the finding may be asked about again, with a better reason
    assert service.request_waiver("alice", REF, error["id"], "The board's paper explains it.") == 2


def test_whoever_asked_for_a_waiver_never_answers_it(service, tmp_path):
    """Found by a fresh attack: an administrator asked for a waiver of an error and granted it herself, so one
    person cleared a blocking error alone."""
    service.upload("alice", "v1.xlsx", book(tmp_path, errors=True))
    error = next(f for f in service.show("alice", REF)["findings"] if f["severity"] == "error")
    n = service.request_waiver("ada", REF, error["id"], "A phased start: the value is sound.")
    before = service.show("rita", REF)
    for answer in (service.grant_waiver, service.refuse_waiver):
        with pytest.raises(Forbidden, match=f"waiver {n} was asked for by ada: another reviewer answers it"):
            answer("ada", REF, n, "Agreed.")
    assert service.show("rita", REF)["history"] == before["history"]
    service.grant_waiver("rita", REF, n, "Agreed: the board's paper explains it.")
    assert service.show("alice", REF)["waivers"][0]["status"] == "granted"


def test_a_reviewer_with_a_declared_conflict_neither_answers_waivers_nor_resolves_queries(service, tmp_path):
    """A waiver clears a blocking error and a resolved query lets the decision go ahead: a reviewer who declared
    a conflict of interest takes no part in either."""
    service.upload("alice", "v1.xlsx", book(tmp_path))
    service.submit("alice", REF)
    second_reviewer(service)
    service.declare("nina", REF, "Midlands Partnership NHS FT", "My spouse sits on its board.")
    service.declare("rita", REF)
    service.return_submission("rita", REF, "Please add the population.")
    p = clean(1, "Partially integrated", "NHS trust", REF)
    p["Cover"]["population_registered"] = -5
    service.upload("alice", "v2.xlsx", write(p, tmp_path / "v2.xlsx").read_bytes())
    error = next(f for f in service.show("alice", REF)["findings"] if f["severity"] == "error")
    n = service.request_waiver("alice", REF, error["id"], "Sound.")
    for answer in (service.grant_waiver, service.refuse_waiver):
        with pytest.raises(Forbidden, match="declared a conflict of interest in ISAP-2026-014, so may not .* answer "
                                            "its waivers"):
            answer("nina", REF, n, "Agreed.")
    service.grant_waiver("rita", REF, n, "Agreed.")
    service.submit("alice", REF)
    take(service, "rita", REF)
    q = service.raise_query("rita", REF, "Which board approved the value?")
    with pytest.raises(Forbidden, match="resolve its queries"):
        service.resolve_query("nina", REF, q, "Settled.")


def test_a_waiver_request_waiting_is_the_reviewers_next_step_not_a_fix(service, tmp_path):
    """Asked for, a waiver waits for a reviewer: the commissioner is not told to fix what they asked to waive."""
    service.upload("alice", "v1.xlsx", book(tmp_path, errors=True))
    errors = [f for f in service.show("alice", REF)["findings"] if f["severity"] == "error"]
    for f in errors:
        service.request_waiver("alice", REF, f["id"], "A phased start: the value is sound.")
    numbers = [str(n) for n in range(1, len(errors) + 1)]
    asked = f"waiver {numbers[0]}" if len(numbers) == 1 else f"waivers {', '.join(numbers[:-1])} and {numbers[-1]}"
    assert service.show("alice", REF)["next_step"] == (
        f"Before it can be submitted for checkpoint 1: a reviewer must grant or refuse {asked}.")
    assert service.show("rita", REF)["next_step"] == (
        f"Before it can be submitted for checkpoint 1: you must grant or refuse {asked}.")
    with pytest.raises(Refused) as refused:
        service.submit("alice", REF)
    assert str(refused.value) == f"{asked} {'is' if len(numbers) == 1 else 'are'} waiting for a reviewer's answer"
    with pytest.raises(Refused, match=f"no error finding that can be waived: {asked} (is|are) waiting for a reviewer"):
        service.request_waiver("alice", REF, errors[0]["id"], "Again.")


def test_a_warning_is_not_waived(service, tmp_path):
    p = clean(1, "Partially integrated", "NHS trust", REF)
    p["Partners"] = [x for x in p["Partners"] if x["partner_type"] != "Voluntary sector"]  # REL011
    service.upload("alice", "v1.xlsx", write(p, tmp_path / "v1.xlsx").read_bytes())
    warning = service.show("alice", REF)["findings"][0]
    with pytest.raises(Refused, match="has no error finding that can be waived"):
        service.request_waiver("alice", REF, warning["id"], "Please.")


# ---------------------------------------------------------------------- the command line

@pytest.fixture
def cli(db_url, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from isap.cli import app

    monkeypatch.setenv("ISAP_DATABASE_URL", db_url)
    monkeypatch.setenv("ISAP_DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


def test_the_command_line_raises_answers_and_resolves_queries_and_shows_waivers(service, cli, tmp_path):
    service.upload("alice", "v1.xlsx", book(tmp_path, errors=True))
    error = next(f for f in service.show("alice", REF)["findings"] if f["severity"] == "error")
    r = cli("waiver", "request", REF, "--finding", str(error["id"]), "--reason", "A phased start.", "--as", "alice")
    assert r.exit_code == 0 and "Asked for waiver 1" in r.output, r.output
    r = cli("waiver", "grant", REF, "1", "--reason", "Seen the \x1b[2J plan.", "--as", "rita")
    assert r.exit_code == 0, r.output
    r = cli("waiver", "refuse", REF, "1", "--reason", "No.", "--as", "rita")
    assert (r.exit_code, r.output.strip()) == (1, "isap: ISAP-2026-014 has no waiver request waiting for an answer")
    shown = cli("show", REF, "--as", "alice").output
    assert f"#{error['id']} error   {error['rule_id']}" in shown and "[waived by rita: Seen the [2J plan.]" in shown
    service.submit("alice", REF)
    take(service, "rita", REF)
    r = cli("query", "raise", REF, "Which board?", "--cell", "Cover C7", "--due", "not-a-date", "--as", "rita")
    assert (r.exit_code, r.output.strip()) == (1, "isap: the due date 'not-a-date' is not a date YYYY-MM-DD")
    assert cli("query", "raise", REF, "Which board?", "--cell", "Cover C7", "--as", "rita").exit_code == 0
    r = cli("query", "answer", REF, "1", "The ICB board.", "--as", "rita")
    assert r.exit_code == 1 and "only commissioners and administrators may answer a query" in r.output
    assert cli("query", "answer", REF, "1", "The ICB board.", "--as", "alice").exit_code == 0
    assert cli("query", "follow-up", REF, "1", "Which meeting?", "--as", "rita").exit_code == 0
    assert cli("query", "answer", REF, "1", "3 March.", "--as", "alice").exit_code == 0
    assert cli("query", "resolve", REF, "1", "--note", "Seen.", "--as", "rita").exit_code == 0
    shown = cli("show", REF, "--as", "rita").output
    assert "#1 cp1 resolved — on Cover C7" in shown
    assert shown.index("(question): Which board?") < shown.index("(answer): The ICB board.") \
        < shown.index("(follow-up): Which meeting?") < shown.index("(resolution): Seen.")


def test_the_demo_shows_an_open_query_and_a_granted_waiver(migrated_sqlite, tmp_path):
    from isap import demo
    from isap.review.service import Service
    from isap.store.db import engine_for
    from isap.store.files import FileStore
    from tests.conftest import cheap_hashing_policy, copy_sqlite

    svc = Service(engine_for(copy_sqlite(migrated_sqlite, tmp_path / "demo.db")), FileStore(tmp_path / "files"),
                  cheap_hashing_policy())
    assert demo.load(svc)
    queried = svc.show("rita", "ISAP-2026-021")
    assert [q["status"] for q in queried["queries"]] == ["awaiting_answer"]
    assert "the commissioner must answer query 1" in queried["next_step"]
    waived = svc.show("alice", "ISAP-2026-013")
    assert [w["status"] for w in waived["waivers"]] == ["granted"]
    assert sum(f["waived"] for f in waived["findings"]) == 1
    history = svc.show("rita", "ISAP-2026-013")["history"]
    assert [h["at"] for h in history] == sorted(h["at"] for h in history)  # recorded in the order it happened


def test_the_mail_names_people_by_their_names_not_their_user_names(service, tmp_path):
    """A query, its answer and resolution, a waiver asked for and granted, a proposal taken into review: every
    message names the person by display name and job title (alice has none, so by the only name she has)."""
    service.upload("alice", "v1.xlsx", book(tmp_path, errors=True))
    error = next(f for f in service.show("alice", REF)["findings"] if f["severity"] == "error")
    n = service.request_waiver("alice", REF, error["id"], "A phased start.")
    service.grant_waiver("rita", REF, n, "Sound.")
    service.submit("alice", REF)
    take(service, "rita", REF)
    service.raise_query("rita", REF, "Which board?")
    service.answer_query("alice", REF, 1, "The ICB board.")
    service.follow_up_query("rita", REF, 1, "Which meeting?")
    service.answer_query("alice", REF, 1, "3 March.")
    service.resolve_query("rita", REF, 1, "Seen.")
    kinds = ("waiver_requested", "waiver_granted", "taken_into_review", "query_raised", "query_answered",
             "query_followed_up", "query_resolved")
    for kind in kinds:
        [*mail] = outbox(service, kind)
        assert mail, kind
        for m in mail:
            assert not re.search(r"\brita\b", m["subject"] + m["body"]), (kind, m["body"])
    assert "Rita Shah, Senior Assurance Lead" in outbox(service, "query_raised")[0]["body"]

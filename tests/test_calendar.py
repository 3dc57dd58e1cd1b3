"""The checkpoint calendar (docs/workflow.md, "Calendar"): planned dates proposed and agreed, changes with their reasons
in the history, slippage in working days across England's bank holidays, the late mark, the reminders through the
outbox, the timeline, organisations' regions, and the national view's rows, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest

from sample_submissions.proposals import clean, write
from tests.panel import decide, take

REF = "ISAP-2026-014"
RATINGS = {"capitalisation": "green", "transparency": "amber", "service_scope": "green", "relationships": "red",
           "governance": "green"}
CONTACT = "icp.programme@nhs.net"  # the sample workbook's Cover contact
D = dt.date


def at(day: dt.date, hour: int = 10) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.timezone.utc)


def uploaded(svc, tmp_path, reference: str = REF, checkpoint: int = 1):
    data = write(clean(checkpoint, reference=reference), tmp_path / f"{reference}-{checkpoint}.xlsx").read_bytes()
    return svc.upload("alice", f"{reference}.xlsx", data)


# ---------------------------------------------------------------------- slippage, a pure count
@pytest.mark.parametrize(("planned", "reached", "working_days"), [
    (D(2027, 1, 4), D(2027, 1, 4), 0),  # on the day
    (D(2027, 1, 4), D(2027, 1, 5), 1),  # a Monday's date met on the Tuesday
    (D(2027, 1, 8), D(2027, 1, 11), 1),  # a Friday's date met on the Monday after
    # Christmas 2026: Friday 25 December, Boxing Day's substitute Monday 28 December, New Year's Day Friday 1 January
    (D(2026, 12, 24), D(2027, 1, 4), 4),
    (D(2026, 12, 24), D(2026, 12, 28), 0),
    # Easter 2027: Good Friday 26 March, Easter Monday 29 March
    (D(2027, 3, 25), D(2027, 3, 31), 2),
    (D(2027, 3, 25), D(2027, 3, 29), 0),
    (D(2027, 3, 25), D(2027, 3, 20), 0),  # early is no slippage
])
def test_slippage_counts_working_days_after_the_date_across_bank_holidays(planned, reached, working_days):
    from isap.review.calendar import slippage

    assert int(slippage(planned, reached, "GB-ENG")) == working_days


def test_a_plan_is_late_once_its_day_passes_without_a_submission():
    from isap.review.calendar import plan_statuses

    plans = [(1, D(2026, 12, 24), None), (2, D(2027, 6, 1), D(2027, 5, 28))]
    [first, second] = plan_statuses(plans, {}, D(2026, 12, 24), "GB-ENG")
    assert not first.late and first.slippage == 0
    [first, second] = plan_statuses(plans, {}, D(2026, 12, 25), "GB-ENG")
    assert first.late and first.slippage == 0  # the day has passed; Christmas Day is no working day
    [first, second] = plan_statuses(plans, {}, D(2027, 1, 4), "GB-ENG")
    assert first.late and first.slippage == 4 and not second.late
    assert second.counted == D(2027, 5, 28) and second.awaiting_agreement
    [first, _] = plan_statuses(plans, {1: D(2026, 12, 29)}, D(2027, 1, 4), "GB-ENG")
    assert not first.late and first.slippage == 1 and first.submitted == D(2026, 12, 29)
    [first, _] = plan_statuses(plans, {}, D(2027, 1, 4), "GB-ENG", closed=True)
    assert not first.late


# ---------------------------------------------------------------------- planning and agreeing
def test_the_commissioner_plans_a_reviewer_agrees_and_a_change_needs_a_reason(service, tmp_path):
    from isap.review.service import Forbidden, NotFound, Refused, WorkflowError

    uploaded(service, tmp_path)
    assert service.plan_submission("alice", REF, 1, D(2027, 1, 7)) == {"checkpoint": 1, "planned": "2027-01-07",
                                                                       "agreed": None}
    offered = {a["action"]: a["allowed"] for a in service.show("rita", REF)["actions"]}
    assert offered["agree_plan"] is True
    with pytest.raises(Forbidden, match="only reviewers and administrators may agree"):
        service.agree_plan("alice", REF, 1)
    with pytest.raises(Forbidden, match="only commissioners and administrators may plan"):
        service.plan_submission("rita", REF, 1, D(2027, 1, 8))
    with pytest.raises(NotFound):  # another organisation's proposal reads as unknown
        service.plan_submission("otto", REF, 1, D(2027, 1, 8))
    assert service.agree_plan("rita", REF, 1)["agreed"] == "2027-01-07"
    with pytest.raises(Refused, match="has no planned submission date waiting to be agreed"):
        service.agree_plan("rita", REF, 1)
    with pytest.raises(WorkflowError, match="a change of an agreed date needs a reason"):
        service.plan_submission("alice", REF, 1, D(2027, 2, 1))
    with pytest.raises(WorkflowError, match="the checkpoint must be 1 to 3"):
        service.plan_submission("alice", REF, 4, D(2027, 2, 1))
    moved = service.plan_submission("alice", REF, 1, D(2027, 2, 1), reason="The board meets later.")
    assert moved == {"checkpoint": 1, "planned": "2027-02-01", "agreed": "2027-01-07"}
    history = [(h["action"], h["actor"], h["reason"]) for h in service.show("ada", REF)["history"]
               if h["action"] in ("plan_submission", "agree_plan")]
    assert history == [
        ("plan_submission", "alice", "checkpoint 1 planned for 7 Jan 2027"),
        ("agree_plan", "rita", "checkpoint 1 agreed for 7 Jan 2027"),
        ("plan_submission", "alice",
         "checkpoint 1 planned for 1 Feb 2027 (was 7 Jan 2027; agreed 7 Jan 2027): The board meets later."),
    ]


def test_late_counts_against_the_agreed_date_until_a_new_one_is_agreed(service, tmp_path):
    uploaded(service, tmp_path)
    service.plan_submission("alice", REF, 1, D(2026, 12, 24))
    service.agree_plan("rita", REF, 1)
    service.plan_submission("alice", REF, 1, D(2027, 1, 20), reason="Waiting for the board.")
    [row] = service.review_queue("rita", today=D(2027, 1, 4))
    assert row["late"] is True
    [national] = service.national_view("rita", today=D(2027, 1, 4))
    assert (national["late"], national["slippage_working_days"], national["next_planned_date"],
            national["next_planned_agreed"]) == (True, 4, "2026-12-24", True)  # the date counted is the agreed one
    service.agree_plan("rita", REF, 1)
    [row] = service.review_queue("rita", today=D(2027, 1, 4))
    assert row["late"] is False
    assert service.national_view("rita", today=D(2027, 1, 4))[0]["slippage_working_days"] == 0


def test_a_submission_ends_the_lateness_and_fixes_the_slippage(service, tmp_path):
    uploaded(service, tmp_path)
    service.plan_submission("alice", REF, 1, D(2027, 3, 25))
    service.agree_plan("rita", REF, 1)
    assert service.review_queue("rita", today=D(2027, 3, 31))[0]["late"] is True
    service.clock = lambda: at(D(2027, 3, 31))  # submitted on Wednesday 31 March, after Easter
    service.submit("alice", REF)
    assert service.review_queue("rita", today=D(2027, 4, 20))[0]["late"] is False
    timeline = service.timeline("alice", REF, today=D(2027, 4, 20))
    first = timeline["checkpoints"][0]
    assert (first["planned"], first["agreed"], first["submitted"], first["slippage_working_days"], first["late"]) \
        == ("2027-03-25", "2027-03-25", "2027-03-31", 2, False)


def test_a_closed_proposal_is_never_late(service, tmp_path):
    uploaded(service, tmp_path)
    service.plan_submission("alice", REF, 1, D(2026, 12, 24))
    service.withdraw("alice", REF, "No longer pursued.")
    assert service.review_queue("rita", today=D(2027, 1, 4))[0]["late"] is False
    assert service.national_view("ada", today=D(2027, 1, 4))[0]["late"] is False


# ---------------------------------------------------------------------- reminders through the outbox
def test_the_commissioner_is_reminded_before_the_date_and_when_it_passes(service, tmp_path):
    from isap.orchestration.steps import reminders

    service.add_user("carol", "commissioner", "QUA", email="carol@blackcountry.nhs.uk")
    uploaded(service, tmp_path)
    # Wednesday 16 December 2026 is 10 working days before Monday 4 January 2027: Christmas week has four, the week
    # after three (Christmas Day, Boxing Day's substitute Monday and New Year's Day are bank holidays)
    service.plan_submission("alice", REF, 1, D(2027, 1, 4))
    assert reminders(service, D(2026, 12, 15)) == []
    [soon] = reminders(service, D(2026, 12, 16))
    assert soon["kind"] == "submission_due_soon" and reminders(service, D(2026, 12, 21)) == []
    assert reminders(service, D(2027, 1, 4)) == []  # the day itself: reminded already
    [late] = reminders(service, D(2027, 1, 5))
    assert late["kind"] == "submission_late" and reminders(service, D(2027, 1, 6)) == []
    rows = {r["kind"]: r for r in service.outbox("ada")}
    assert rows["submission_due_soon"]["recipients"] == ["carol@blackcountry.nhs.uk", CONTACT]
    assert "in 10 working days" in rows["submission_due_soon"]["subject"]
    assert "Monday 4 January 2027" in rows["submission_late"]["body"]
    # a new date, agreed, is reminded afresh; a submission made stops the reminders
    service.plan_submission("alice", REF, 1, D(2027, 1, 8), reason="Board moved.")
    service.agree_plan("rita", REF, 1)
    assert [r["kind"] for r in reminders(service, D(2027, 1, 6))] == ["submission_due_soon"]
    service.clock = lambda: at(D(2027, 1, 7))
    service.submit("alice", REF)
    assert reminders(service, D(2027, 1, 11)) == []


# ---------------------------------------------------------------------- regions and the national view
def test_administrators_set_an_organisations_region(service):
    from isap.review.service import Forbidden, NotFound, WorkflowError

    org = service.set_region("qua", "Midlands", actor="ada")
    assert org.region == "midlands"
    assert service.set_region("QHM", "north_east_and_yorkshire").region == "north_east_and_yorkshire"
    with pytest.raises(WorkflowError, match="not one of NHS England's regions: East of England, London"):
        service.set_region("QUA", "Wessex", actor="ada")
    with pytest.raises(Forbidden):
        service.set_region("QUA", "London", actor="rita")
    with pytest.raises(NotFound):
        service.set_region("XYZ", "London", actor="ada")
    assert {o["code"]: o["region"] for o in service.organisations()} == {"QUA": "midlands",
                                                                         "QHM": "north_east_and_yorkshire"}


def test_the_national_view_has_every_proposal_with_its_figures_decision_and_plan(service, tmp_path):
    from isap.review.service import ConditionInput, Forbidden

    service.set_region("QUA", "midlands")
    uploaded(service, tmp_path)
    uploaded(service, tmp_path, "ISAP-2026-015")
    service.submit("alice", REF)
    take(service, "rita", REF)
    decide(service, "rita", REF, "approved_with_conditions", RATINGS, "Sound.",
           [ConditionInput("Publish the register", "gov@blackcountry.nhs.uk", D(2027, 3, 1))])
    service.plan_submission("alice", REF, 2, D(2027, 6, 1))
    with pytest.raises(Forbidden):
        service.national_view("alice")
    rows = {r["reference"]: r for r in service.national_view("rita", today=D(2027, 1, 4))}
    assert set(rows) == {REF, "ISAP-2026-015"}
    row = rows[REF]
    expected = {
        "commissioner": "QUA", "commissioner_name": "NHS Black Country ICB", "region": "midlands",
        "provider": "Dudley Integrated Health and Care", "provider_type": "NHS trust",
        "integration_model": "Partially integrated", "checkpoint": 2, "state": "draft",
        "last_decision": "approved_with_conditions", "rating_capitalisation": "green",
        "rating_relationships": "red", "open_conditions": 1, "open_queries": 0,
        "next_planned_checkpoint": 2, "next_planned_date": "2027-06-01", "next_planned_agreed": False,
        "slippage_working_days": 0, "late": False,
    }
    assert {k: row[k] for k in expected} == expected
    assert row["annual_contract_value_gbp"] > row["wpap_annual_value_gbp"] > 0 and row["population_registered"] > 0
    other = rows["ISAP-2026-015"]
    assert (other["last_decision"], other["rating_governance"], other["next_planned_date"], other["late"]) \
        == (None, None, None, False)


def test_the_national_view_reads_a_few_statements_however_many_proposals_there_are(service, tmp_path):
    """Set-based: the rows for 10,000 proposals come from as many statements as for one (docs/performance.md)."""
    from sqlalchemy import event

    from isap.review.service import ConditionInput

    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    def statements_for_the_view() -> int:
        statements.clear()
        event.listen(service.engine, "before_cursor_execute", count)
        try:
            service.national_view("rita", today=D(2027, 1, 4))
        finally:
            event.remove(service.engine, "before_cursor_execute", count)
        return len([s for s in statements if s.lstrip().upper().startswith("SELECT")])

    uploaded(service, tmp_path)
    one = statements_for_the_view()
    for n in range(15, 19):
        uploaded(service, tmp_path, f"ISAP-2026-0{n}")
        service.plan_submission("alice", f"ISAP-2026-0{n}", 1, D(2026, 12, 1))
    service.submit("alice", REF)
    take(service, "rita", REF)
    decide(service, "rita", REF, "approved_with_conditions", RATINGS, "Sound.",
           [ConditionInput("Publish the register", "gov@blackcountry.nhs.uk", D(2027, 3, 1))])
    assert statements_for_the_view() == one <= 3  # the account, the rows, the references shared by two


def test_the_timeline_shows_planned_against_actual_decisions_conditions_and_time_in_each_state(service, tmp_path):
    from isap.review.service import ConditionInput

    # (the history's times only move forward, so the story is told after the fixture's own events)
    service.clock = lambda: at(D(2027, 3, 1))
    uploaded(service, tmp_path)
    service.plan_submission("alice", REF, 1, D(2027, 3, 18))
    service.clock = lambda: at(D(2027, 3, 22))  # a Monday: two working days late
    service.submit("alice", REF)
    service.clock = lambda: at(D(2027, 3, 23))
    take(service, "rita", REF)
    service.clock = lambda: at(D(2027, 4, 6))
    decide(service, "rita", REF, "approved_with_conditions", RATINGS, "Sound.",
           [ConditionInput("Publish the register", "gov@blackcountry.nhs.uk", D(2027, 4, 8))])
    t = service.timeline("rita", REF, today=D(2027, 4, 12))
    first, second, _ = t["checkpoints"]
    assert (first["planned"], first["submitted"], first["slippage_working_days"]) == ("2027-03-18", "2027-03-22", 2)
    assert first["decisions"] == [{"outcome": "approved_with_conditions", "on": "2027-04-06"}]
    assert first["conditions"] == [{"number": 1, "due": "2027-04-08", "status": "open", "overdue": True}]
    assert second["planned"] is None and second["late"] is False
    assert [(s["state"], s["from"], s["working_days"]) for s in t["states"]] == [
        ("draft", "2027-03-01", 15), ("submitted", "2027-03-22", 1),
        # 23 March to 6 April: 8 working days (Good Friday and Easter Monday out)
        ("in_review", "2027-03-23", 8), ("draft", "2027-04-06", 4)]
    assert t["working_days_in_state"] == {"draft": 19, "submitted": 1, "in_review": 8}
    assert t["waiting_for_commissioner_working_days"] == 0  # no query was raised


def blank_figures(svc) -> None:
    """The proposals as a release before the national view kept them: none of the Cover's key figures."""
    from sqlalchemy import update

    from isap.review.calendar import NATIONAL_FIGURES
    from isap.store.models import Proposal

    with svc.engine.begin() as conn:
        conn.execute(update(Proposal).values(**dict.fromkeys(NATIONAL_FIGURES)))


def test_refresh_fills_the_figures_of_proposals_kept_before_the_national_view_from_their_latest_original(
        service, tmp_path):
    from isap.review.service import Forbidden

    uploaded(service, tmp_path)
    renamed = clean(1, reference=REF)
    renamed["Cover"]["provider_name"] = "Dudley Health and Care Partnership"
    service.upload("alice", "v2.xlsx", write(renamed, tmp_path / "v2.xlsx").read_bytes())
    blank = clean(1, reference="ISAP-2026-015")
    for name in ("provider_name", "integration_model", "annual_contract_value_gbp", "wpap_annual_value_gbp",
                 "population_registered"):
        blank["Cover"][name] = None
    service.upload("alice", "blank.xlsx", write(blank, tmp_path / "blank.xlsx").read_bytes())
    lost = uploaded(service, tmp_path, "ISAP-2026-016")
    service.files.path_for(lost.sha256).unlink()
    blank_figures(service)
    assert {r["provider"] for r in service.national_view("rita")} == {None}
    with pytest.raises(Forbidden):
        service.refresh_national_figures("rita")

    done = service.refresh_national_figures("ada")
    assert (done.filled, done.blank) == (["QUA/ISAP-2026-014"], ["QUA/ISAP-2026-015"])
    assert [name for name, _ in done.unread] == ["QUA/ISAP-2026-016"] and "cannot be read" in done.unread[0][1]
    assert not done.complete
    row = {r["reference"]: r for r in service.national_view("rita")}[REF]
    assert (row["provider"], row["integration_model"]) == ("Dudley Health and Care Partnership", "Partially integrated")
    assert row["annual_contract_value_gbp"] > row["wpap_annual_value_gbp"] > 0 and row["population_registered"] > 0
    # again: what was filled is not read again, what could not be read is tried again
    again = service.refresh_national_figures("ada")
    assert (again.filled, again.blank, [n for n, _ in again.unread]) == ([], ["QUA/ISAP-2026-015"],
                                                                         ["QUA/ISAP-2026-016"])


# ---------------------------------------------------------------------- the command line
def test_the_command_line_sets_regions_and_plans_dates(tmp_path, monkeypatch, migrated_sqlite):
    from typer.testing import CliRunner

    from isap.cli import app
    from tests.conftest import copy_sqlite

    url = copy_sqlite(migrated_sqlite, tmp_path / "isap.db")
    monkeypatch.setenv("ISAP_DATABASE_URL", url)
    monkeypatch.setenv("ISAP_DATA_DIR", str(tmp_path / "data"))
    run = CliRunner().invoke
    for args in (["org", "add", "QUA", "NHS Black Country ICB"], ["user", "add", "alice", "--role", "commissioner",
                                                                    "--org", "QUA"],
                 ["user", "add", "rita", "--role", "reviewer"]):
        assert run(app, args).exit_code == 0
    r = run(app, ["org", "set-region", "QUA", "north west"])
    assert r.exit_code == 0 and r.stdout.strip() == "QUA NHS Black Country ICB is in North West"
    r = run(app, ["org", "set-region", "QUA", "Wessex"])
    assert r.exit_code == 1 and "not one of NHS England's regions" in r.stderr and "Traceback" not in r.output
    assert run(app, ["org", "list"]).stdout.strip() == "QUA    NHS Black Country ICB (North West)"
    path = write(clean(1, reference=REF), tmp_path / "p.xlsx")
    assert run(app, ["upload", str(path), "--as", "alice"]).exit_code in (0, 1)
    r = run(app, ["plan", "set", REF, "1", "2027-01-07", "--as", "alice"])
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == f"{REF}: checkpoint 1 planned for 2027-01-07; waiting for a reviewer's agreement"
    assert run(app, ["plan", "agree", REF, "1", "--as", "rita"]).stdout.strip() \
        == f"{REF}: checkpoint 1 agreed for 2027-01-07"
    r = run(app, ["plan", "set", REF, "1", "2027-02-01", "--as", "alice"])
    assert r.exit_code == 1 and "a change of an agreed date needs a reason" in r.stderr
    r = run(app, ["plan", "set", REF, "1", "7 January", "--as", "alice"])
    assert r.exit_code == 2 and "is not a date YYYY-MM-DD" in r.stderr


def test_a_planned_date_is_a_working_day_within_ten_years(service, tmp_path):
    """A submission is planned for a working day: a weekend or bank holiday is refused with the next working day
    named, and a date more than ten years ahead (a mistyped year) is refused; a date already passed is kept, as a
    plan that has slipped (docs/decisions/0050-planned-dates.md)."""
    from isap.review.service import WorkflowError

    uploaded(service, tmp_path)
    service.clock = lambda: at(D(2026, 12, 7))
    with pytest.raises(WorkflowError, match="Saturday 9 Jan 2027 is not a working day.*Monday 11 Jan 2027"):
        service.plan_submission("alice", REF, 1, D(2027, 1, 9))
    with pytest.raises(WorkflowError, match="Friday 25 Dec 2026 is not a working day.*Tuesday 29 Dec 2026"):
        service.plan_submission("alice", REF, 1, D(2026, 12, 25))
    with pytest.raises(WorkflowError, match="more than ten years ahead"):
        service.plan_submission("alice", REF, 1, D(2037, 1, 9))
    assert service.plan_submission("alice", REF, 1, D(2026, 11, 30))["planned"] == "2026-11-30"
    assert service.timeline("alice", REF, today=D(2026, 12, 7))["late"]

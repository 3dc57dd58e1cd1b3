# ruff: noqa: F811 - demo_env is a fixture, imported by name and taken as a parameter
"""The people's journeys on the dashboard, through Streamlit's AppTest on the demo data: what a commissioner and
a reviewer need at each step (the decision letter, the explanatory notes, the queue of work waiting, the next
step after a decision, every missing part of a decision at once), and what an administrator is asked before
taking access away."""

from __future__ import annotations

import datetime as dt

from tests.panel import take
from tests.test_dashboard import demo_env, linked, read, signed_in, texts  # noqa: F401 - demo_env is a fixture

RATINGS = dict.fromkeys(("capitalisation", "transparency", "service_scope", "relationships", "governance"), "green")


def links(at) -> dict[str, str]:
    """The page's link buttons (downloads go through them), by label."""
    return {e.proto.label: e.proto.url for e in at.get("link_button")}


def button(at, label: str):
    return next(b for b in at.button if b.label == label)


# ---------------------------------------------------------------------------- the decision letter (item 2)
def test_the_commissioner_downloads_her_decision_letter_on_the_proposal_page(demo_env):
    """ISAP-2026-012 was decided at checkpoint 1: the letter, addressed to alice's organisation, is hers to
    download from the proposal page; the assurance report stays with the reviewers."""
    at = linked(signed_in("alice", "alice-demo"), ref="ISAP-2026-012")
    offered = links(at)
    assert "Download the checkpoint 1 decision letter (PDF)" in offered, sorted(offered)
    assert offered["Download the checkpoint 1 decision letter (PDF)"].startswith("/download/")
    assert not [label for label in offered if "assurance report" in label], sorted(offered)
    # the commissioner cannot read the letter of a proposal she may not see: the page never offers one
    other = linked(signed_in("otto", "otto-demo"), ref="ISAP-2026-012")
    assert not [label for label in links(other) if "letter" in label]


def test_the_commissioner_may_read_decision_letters_and_the_service_agrees():
    from isap.review.capabilities import CAPABILITIES, Capability
    from isap.review.lifecycle import Role

    assert Capability.READ_DECISION_LETTERS in CAPABILITIES[Role.COMMISSIONER]
    assert Capability.READ_DECISION_LETTERS in CAPABILITIES[Role.REVIEWER]
    assert Capability.READ_ASSURANCE_REPORTS not in CAPABILITIES[Role.COMMISSIONER]


# ---------------------------------------------------------------------------- after a decision (items 6 and 11)
def decided_by_the_panel(at, ref: str, outcome: str = "approved"):
    """rita, on her page `at`, declares, takes `ref` and proposes the decision; nina countersigns it on hers, which
    is returned."""
    button(at, "Declare").click()
    at.run()
    button(at, "Take into review").click()
    at.run()
    for dom in RATINGS:
        at.selectbox(key=f"rating-{dom}").set_value("green")
    at.selectbox(key="outcome").set_value(outcome)
    at.text_area(key="rationale").input("Meets the strategic case.")
    button(at, "Propose decision").click()
    at.run()
    assert not at.exception, at.exception
    nina = linked(signed_in("nina", "nina-demo"), ref=ref, tab="Review")
    button(nina, "Declare").click()
    nina.run()
    button(nina, "Countersign the decision").click()
    nina.run()
    assert not nina.exception, nina.exception
    return nina


def test_after_a_decision_the_reviewer_is_offered_the_letter_the_report_and_what_happens_now(demo_env):
    at = decided_by_the_panel(linked(signed_in("rita", "rita-demo"), ref="ISAP-2026-011", tab="Review"),
                              "ISAP-2026-011")
    shown = texts(at)
    assert "ISAP-2026-011 is back with NHS Black Country Integrated Care Board for checkpoint 2." in shown, shown
    offered = links(at)
    assert {"Download the checkpoint 1 decision letter (PDF)",
            "Download the checkpoint 1 assurance report (PDF)"} <= set(offered), sorted(offered)


def test_after_a_decision_the_commissioners_banner_says_the_outcome_and_when(demo_env):
    from isap.review.service import Service

    [review] = [r for r in Service().show("alice", "ISAP-2026-012")["reviews"] if r["checkpoint"] == 1]
    day = dt.datetime.fromisoformat(review["decision"]["at"]).date()
    at = linked(signed_in("alice", "alice-demo"), ref="ISAP-2026-012")
    said = f"Checkpoint 1: approved with 1 condition, on {day.day} {day:%b %Y}."
    assert any(said in read(str(e.value)) for e in at.success), [e.value for e in at.success]
    # and, beside it, what checkpoint 2 needs
    assert "checkpoint 2" in read(at.info[0].value)


# ---------------------------------------------------------------------------- explanatory notes (item 3)
def test_the_reviewer_reads_the_explanatory_note_with_its_finding_and_beside_the_decision_form(demo_env):
    from isap.review.service import Service

    svc, ref = Service(), "ISAP-2026-012"
    svc.discharge("rita", ref, 1, "Seen the published report.")
    [warning] = [f for f in svc.show("alice", ref)["findings"] if f["severity"] == "warning"]
    note = "Start-up costs are met by the ICB's transformation fund, outside this contract."
    svc.acknowledge("alice", ref, warning["rule_id"], note, finding_id=warning["id"])
    svc.submit("alice", ref)
    take(svc, "rita", ref)
    at = linked(signed_in("rita", "rita-demo"), ref=ref, tab="Review")
    # in the findings table, the note is the column right after the finding it answers
    table = next(t.value for t in at.dataframe if "Explanatory note or waiver" in t.value.columns)
    columns = list(table.columns)
    assert columns.index("Explanatory note or waiver") == columns.index("Finding") + 1, columns
    assert note in " ".join(table["Explanatory note or waiver"]) and "Alice Morgan" in " ".join(
        table["Explanatory note or waiver"])
    # and in words, with the finding, beside the decision form
    [notes] = [e for e in at.expander if e.label == "Explanatory notes from the commissioner (1)"]
    shown = read(" ".join(m.value for m in notes.markdown))
    assert warning["rule_id"] in shown and note in shown and warning["message"] in shown


# ---------------------------------------------------------------------------- the review queue (item 4)
def test_the_review_queue_lists_the_work_waiting_overdue_then_oldest_with_its_reviewer(demo_env, tmp_path):
    from isap.review.service import Service
    from sample_submissions.proposals import clean, write

    svc = Service()  # a new submission, waiting 0 days, goes above the drafts that have waited longer
    svc.upload("alice", "new.xlsx", write(clean(1, reference="ISAP-2026-044"), tmp_path / "n.xlsx").read_bytes())
    svc.submit("alice", "ISAP-2026-044")
    at = signed_in("rita", "rita-demo")
    # the demo's late draft is shown too, marked; without it, the work waiting for review alone
    assert "LATE" in at.dataframe[0].value.set_index("Reference").loc["ISAP-2026-013", "Late"]
    at.toggle(key="f_late").set_value(False)
    at.run()
    table = at.dataframe[0].value
    assert list(table["Reference"]) == ["ISAP-2026-011", "ISAP-2026-021", "ISAP-2026-022", "ISAP-2026-044"], table
    assert set(table["State"]) == {"Submitted", "In review"}
    # people by their names, organisations by theirs
    rita = "Rita Shah, Senior Assurance Lead"
    assert dict(zip(table["Reference"], table["Reviewer"])) == {"ISAP-2026-011": "", "ISAP-2026-021": rita,
                                                                "ISAP-2026-022": rita, "ISAP-2026-044": ""}
    assert "QUA" not in set(table["Commissioner"]) and "NHS Black Country Integrated Care Board" in set(
        table["Commissioner"])
    # the review panel: the demo's proposed decision waiting for a second reviewer
    assert dict(zip(table["Reference"], table["Review panel"]))["ISAP-2026-022"] == \
        f"Waiting for countersignature (proposed by {rita})"
    # mine: what I have taken
    at.toggle(key="f_mine").set_value(True)
    at.run()
    assert list(at.dataframe[0].value["Reference"]) == ["ISAP-2026-021", "ISAP-2026-022"]
    at.toggle(key="f_mine").set_value(False)
    # other states behind the filter
    at.multiselect(key="f_state").select("draft")
    at.run()
    assert {"ISAP-2026-012", "ISAP-2026-013"} <= set(at.dataframe[0].value["Reference"])


def test_a_draft_whose_waiver_request_waits_for_a_reviewer_is_in_the_queue_by_default(demo_env, tmp_path):
    """A commissioner who has asked for a waiver cannot submit until a reviewer answers it: the draft is the
    reviewers' work, so the queue lists it with the work waiting for review, and says what is asked."""
    from isap.review.service import Service
    from sample_submissions.proposals import clean, write

    svc = Service()
    p = clean(1, reference="ISAP-2026-045")
    p["Cover"]["wpap_annual_value_gbp"] = 1  # an error finding alice asks to have waived
    svc.upload("alice", "w.xlsx", write(p, tmp_path / "w.xlsx").read_bytes())
    [error, *_] = [f for f in svc.show("alice", "ISAP-2026-045")["findings"] if f["severity"] == "error"]
    svc.request_waiver("alice", "ISAP-2026-045", error["id"], "A phased start in year one.")
    at = signed_in("rita", "rita-demo")
    at.toggle(key="f_late").set_value(False)
    at.run()
    table = at.dataframe[0].value.set_index("Reference")
    assert table.loc["ISAP-2026-045", "State"] == "Draft", table
    assert table.loc["ISAP-2026-045", "Review panel"] == "Waiver 1 to grant or refuse"
    assert "ISAP-2026-012" not in table.index  # a draft with nothing asked of the reviewers stays behind the filter
    n = svc.show("rita", "ISAP-2026-045")["waivers"][0]["id"]
    svc.grant_waiver("rita", "ISAP-2026-045", n, "The phasing plan is sound.")
    at.run()
    assert "ISAP-2026-045" not in set(at.dataframe[0].value["Reference"])


# ---------------------------------------------------------------------------- every missing part at once (item 7)
def test_the_decision_form_lists_every_missing_part_at_the_top_with_links_to_the_fields(demo_env):
    from isap.review.service import Service

    Service().resolve_query("rita", "ISAP-2026-021", 1, "Answered by telephone.")  # the demo's open query
    at = linked(signed_in("rita", "rita-demo"), ref="ISAP-2026-021", tab="Review")
    at.selectbox(key="rating-capitalisation").set_value("green")
    button(at, "Propose decision").click()
    at.run()
    assert Service().show("rita", "ISAP-2026-021")["state"] == "in_review"
    [summary] = [e for e in at.error if "There is a problem" in e.value]
    said = read(summary.value)
    for part, anchor in (("Choose the outcome", "#decision-outcome"),
                         ("Rate Transparency, Service scope, Relationships, Governance", "#decision-ratings"),
                         ("Give the rationale", "#decision-rationale")):
        assert f"[{part}]({anchor})" in said, said
    # the outcome with conditions but none given: the conditions are named too, with the rest
    at.selectbox(key="outcome").set_value("approved_with_conditions")
    button(at, "Propose decision").click()
    at.run()
    [summary] = [e for e in at.error if "There is a problem" in e.value]
    assert "](#decision-conditions)" in summary.value and "](#decision-rationale)" in summary.value
    assert "](#decision-outcome)" not in summary.value


# ---------------------------------------------------------------------------- answers and closing notes (item 12)
def test_an_answer_sent_leaves_an_empty_box_and_a_closing_note_is_shown(demo_env):
    at = linked(signed_in("alice", "alice-demo"), ref="ISAP-2026-012", tab="Conditions")
    at.text_area(key="answer-text-1").input("The report is published on the ICB's website.")
    button(at, "Send answer").click()
    at.run()
    assert not at.exception, at.exception
    assert at.text_area(key="answer-text-1").value == ""
    assert "Answer: The report is published on the ICB's website." in texts(at)
    rita = linked(signed_in("rita", "rita-demo"), ref="ISAP-2026-012", tab="Conditions")
    rita.text_input(key="close-note-1").input("Seen the published report.")
    button(rita, "Discharge").click()
    rita.run()
    assert "Seen the published report." in texts(rita)
    assert "Seen the published report." in texts(linked(signed_in("alice", "alice-demo"), ref="ISAP-2026-012",
                                                        tab="Conditions"))


def test_a_version_with_answered_warnings_is_ready_but_not_called_clean():
    from isap.review.lifecycle import Actor, ProposalFacts, Role, State, next_step

    alice = Actor("alice", Role.COMMISSIONER, owns=True)
    warned = ProposalFacts("ISAP-2026-014", State.DRAFT, 1, latest_version=2, latest_checkpoint=1,
                           latest_warnings=1, unanswered_warnings=0)
    said = next_step(warned, alice)
    assert said.startswith("Ready to submit: version 2") and "clean" not in said, said
    clean = ProposalFacts("ISAP-2026-014", State.DRAFT, 1, latest_version=2, latest_checkpoint=1)
    assert next_step(clean, alice) == "Ready to submit: version 2 is clean for checkpoint 1."


def test_a_version_whose_errors_are_waived_is_ready_but_not_called_clean():
    from isap.review.lifecycle import Actor, ProposalFacts, Role, State, next_step

    alice = Actor("alice", Role.COMMISSIONER, owns=True)
    waived = ProposalFacts("ISAP-2026-014", State.DRAFT, 2, latest_version=3, latest_checkpoint=2,
                           latest_errors=1, waived_errors=1)
    assert next_step(waived, alice) == \
        "Ready to submit: version 3 has no error finding left to fix (1 waived) for checkpoint 2."
    both = ProposalFacts("ISAP-2026-014", State.DRAFT, 2, latest_version=3, latest_checkpoint=2,
                         latest_errors=2, waived_errors=2, latest_warnings=1)
    assert next_step(both, alice) == ("Ready to submit: version 3 has no error finding left to fix (2 waived), "
                                      "and its warnings are answered, for checkpoint 2.")


# ---------------------------------------------------------------------------- a query sent leaves empty boxes
def test_a_query_raised_leaves_empty_boxes_so_it_is_not_raised_twice(demo_env):
    at = linked(signed_in("rita", "rita-demo"), ref="ISAP-2026-021", tab="Queries")
    at.radio(key="query-subject").set_value("cell")
    at.text_input(key="query-place").input("Cover B19")
    at.text_area(key="query-text").input("Which paper went to the board that approved this?")
    button(at, "Raise query").click()
    at.run()
    assert not at.exception, at.exception
    assert (at.text_area(key="query-text").value, at.text_input(key="query-place").value) == ("", "")


# ---------------------------------------------------------------------------- the Users page asks first
def users_page(who: str = "alice"):
    at = signed_in("ada", "ada-demo")
    at.switch_page("views/users.py")
    at.run()
    at.selectbox(key="users_pick").select(who)
    at.run()
    assert not at.exception, at.exception
    return at


def successes(at) -> list[str]:
    return [read(str(e.value)) for e in at.success]


def test_disabling_and_enabling_an_account_say_what_they_do_and_ask_first(demo_env):
    from isap.review.service import Service

    alice = signed_in("alice", "alice-demo")  # one session open
    at = users_page("alice")
    assert "signed out at their next action" in texts(at)
    button(at, "Disable").click()  # the box not ticked: nothing happens, and the page says why
    at.run()
    assert any("Nothing was disabled: tick the box to confirm." in read(e.value) for e in at.error), at.error
    assert {u["username"]: u["state"] for u in Service().users("ada")}["alice"] == "enabled"
    at.checkbox(key="users_disable_sure").check()
    button(at, "Disable").click()
    at.run()
    assert not at.exception, at.exception
    assert "alice is disabled; 1 session ended." in successes(at), successes(at)
    alice.run()
    assert "disabled" in texts(alice)
    # and enabling asks too
    at.selectbox(key="users_pick").select("alice")
    at.run()
    button(at, "Enable").click()
    at.run()
    assert any("Nothing was enabled" in read(e.value) for e in at.error), at.error
    assert {u["username"]: u["state"] for u in Service().users("ada")}["alice"] == "disabled"
    at.checkbox(key="users_enable_sure").check()
    button(at, "Enable").click()
    at.run()
    assert "alice may sign in again." in successes(at), successes(at)
    assert {u["username"]: u["state"] for u in Service().users("ada")}["alice"] == "enabled"


def test_ending_the_sessions_of_someone_with_none_open_says_so(demo_env):
    at = users_page("nina")  # nina has not signed in
    button(at, "End sessions").click()
    at.run()
    assert not at.exception, at.exception
    assert successes(at) == ["nina had no open sessions."], successes(at)
    signed_in("nina", "nina-demo")
    at.selectbox(key="users_pick").select("nina")
    at.run()
    button(at, "End sessions").click()
    at.run()
    assert successes(at) == ["1 session of nina ended."], successes(at)


# ---------------------------------------------------------------------------- a finding read whole
def test_a_long_finding_gets_rows_tall_enough_to_read_it_whole():
    """A row of the findings table shows three lines; a finding longer than that makes every row of its table as
    tall as it needs (the width is checked in Chromium, tests/test_dashboard_journeys_e2e.py)."""
    from streamlit.testing.v1 import AppTest

    from dashboards.widgets import LINE_HEIGHT, WRAPPING_ROW

    def page():
        from dashboards.widgets import findings_view

        def finding(domain: str, words: int) -> dict:
            return {"severity": "error", "rule_id": "CAP010", "sheet": "Cover", "cell": "B18", "row": 18,
                    "domain": domain, "message": " ".join(["contract"] * words)}

        findings_view([finding("capitalisation", 10), finding("governance", 10), finding("governance", 60)], key="f")

    at = AppTest.from_function(page).run()
    assert not at.exception, at.exception
    heights = {e.proto.row_height for e in at.dataframe}
    # 60 words of 9 characters: 540 characters, eleven lines of about 50, shown as ten (then it scrolls)
    assert min(heights) == WRAPPING_ROW and max(heights) >= 10 * LINE_HEIGHT, heights

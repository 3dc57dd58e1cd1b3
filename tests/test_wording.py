"""One formatting layer: dates, times, counts, states, decisions and history in words, wherever they are shown.

The unit tests hold the layer (`isap.review.wording`) to its words; the others read what people get (the
assurance report as HTML and PDF, the decision letter through pdftotext, a mail body, the history page and
its CSV, the Security page) and grep it for the codes and formats that used to leak: ISO timestamps,
snake_case codes, "(s)" plurals, `[domain=rating]` and "no cell".
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import shutil
import subprocess

import pytest

from isap.review import wording
from sample_submissions.proposals import clean, write
from tests.panel import decide, take
from tests.test_dashboard import demo_env  # noqa: F401 - a fixture

ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
PLURAL_S = re.compile(r"\w\(s\)")
OLD_RATINGS = re.compile(r"\[\w+=\w+")
# a code of the store: a state, outcome, event or domain with its underscore
CODE = re.compile(r"\b(?:in_review|approved_with_conditions|service_scope|carried_forward|decide:\w+|"
                  r"version_uploaded|proposal_created|warning_acknowledged|condition_raised)\b")
RATINGS = {"capitalisation": "green", "transparency": "amber", "service_scope": "green",
           "relationships": "red", "governance": "green"}


def leaks(text: str) -> list[str]:
    """What in `text` reads as a code or a machine's format rather than words."""
    found = []
    for name, pattern in (("ISO time", ISO_TIME), ("ISO date", ISO_DATE), ("(s)", PLURAL_S),
                          ("[domain=rating]", OLD_RATINGS), ("code", CODE)):
        found += [f"{name}: {m.group()}" for m in pattern.finditer(text)]
    if "no cell" in text:
        found.append("no cell")
    if " UTC" in text:
        found.append("UTC")
    return found


# ---------------------------------------------------------------------- the layer


def test_dates_and_times_read_one_way_in_uk_time():
    assert wording.day("2026-12-06") == "6 Dec 2026"
    assert wording.day(dt.date(2027, 1, 7)) == "7 Jan 2027"
    assert wording.long_day("2027-01-07") == "7 January 2027"
    assert wording.long_day(dt.date(2027, 1, 7), weekday=True) == "Thursday 7 January 2027"
    # stored times are UTC: winter is GMT, summer is BST
    assert wording.when("2026-12-06T14:05:00") == "6 Dec 2026, 14:05"
    assert wording.when("2026-07-06T14:05:00+00:00") == "6 Jul 2026, 15:05"
    assert wording.when(dt.datetime(2026, 7, 6, 23, 30, tzinfo=dt.timezone.utc)) == "7 Jul 2026, 00:30"
    assert wording.day("2026-07-06T23:30:00") == "7 Jul 2026"  # a stored time's day is its UK day
    assert wording.when(None) == wording.day("") == ""


def test_counts_are_singular_or_plural_never_s_in_brackets():
    assert wording.count(1, "condition") == "1 condition"
    assert wording.count(2, "condition") == "2 conditions"
    assert wording.count(0, "warning") == "0 warnings"
    assert wording.count(1200, "finding") == "1,200 findings"
    assert wording.count(2, "person", "people") == "2 people"
    assert wording.working_days(1) == "1 working day" and wording.working_days(5) == "5 working days"
    assert wording.errors_and_warnings(1, 0) == "1 error, 0 warnings"


def test_states_transitions_and_outcomes_are_their_enums_labels():
    from isap.review.lifecycle import Outcome, State

    assert wording.transition("in_review", "draft") == "In review → Draft"
    assert wording.transition(None, State.DRAFT) == "Draft"
    assert wording.transition("draft", None) == ""
    assert wording.state("in_review") == State.IN_REVIEW.label
    assert wording.outcome("approved_with_conditions") == Outcome.APPROVED_WITH_CONDITIONS.label
    assert wording.decision_words("halted") == "Halted: do not proceed"
    assert wording.code("carried_forward") == "Carried forward" and wording.code("amber") == "Amber"
    assert wording.code("anything else") == "anything else" and wording.code(None) == ""
    assert wording.checkpoint(2) == "checkpoint 2 (preferred bidder)"


def test_a_decision_and_its_ratings_read_as_words():
    assert wording.ratings(RATINGS) == ("capitalisation green, transparency amber, service scope green, "
                                        "relationships red, governance green")
    assert wording.decision("approved_with_conditions", RATINGS).startswith(
        "Decision: approved with conditions; ratings: capitalisation green, transparency amber")


def test_places_say_where_without_no_cell():
    assert wording.place("Cover", "B22") == "Cover B22"
    assert wording.place("Partners", None) == "Partners (the sheet as a whole)"
    assert wording.place(None, None) == "the workbook as a whole"


def test_history_rows_recorded_in_older_forms_read_as_words():
    """The audit history is never rewritten: rows written before the words are read into them."""
    row = {"action": "decide:approved_with_conditions", "actor": "rita", "from_state": "in_review",
           "to_state": "draft", "checkpoint": 1, "at": "2026-12-06T14:05:00",
           "reason": "Sound case. [capitalisation=green, transparency=amber, service_scope=green, "
                     "relationships=red, governance=green]"}
    shown = wording.history_row(row)
    assert shown == {"when": "6 Dec 2026, 14:05", "who": "rita", "what": "Decision recorded: Approved with conditions",
                     "change": "In review → Draft", "checkpoint": "1",
                     "details": "Sound case. (ratings: capitalisation green, transparency amber, service scope "
                                "green, relationships red, governance green)"}
    assert wording.details("checked", "version 2: 1 error(s), 3 warning(s)") == "version 2: 1 error, 3 warnings"
    assert wording.details("warning_acknowledged", "WB006 Notes, no cell: ours") == (
        "WB006 Notes (the sheet as a whole): ours")
    assert wording.details("condition_raised", "Sign terms (owner ICB lead, due 2027-03-31)") == (
        "Sign terms (owner ICB lead, due 31 Mar 2027)")
    # words a person typed are theirs: a date in a comment stays as written
    assert wording.details("comment", "see the plan of 2027-03-31") == "see the plan of 2027-03-31"


def test_the_dashboard_labels_are_the_layers():
    from dashboards import labels

    assert labels.when("2026-12-06T14:05:00") == wording.when("2026-12-06T14:05:00")
    assert labels.day("2026-12-06") == wording.day("2026-12-06")
    assert labels.code("in_review") == wording.code("in_review")


# ---------------------------------------------------------------------- what people get


@pytest.fixture
def decided(service, tmp_path):
    """A proposal approved with a condition at checkpoint 1, with a warning answered on a sheet as a whole."""
    from isap.review.service import ConditionInput

    ref = "ISAP-2026-014"
    p = clean(1, reference=ref)
    p["Partners"] = [x for x in p["Partners"] if x["partner_type"] != "Voluntary sector"]
    service.upload("alice", "v1.xlsx", write(p, tmp_path / "v1.xlsx").read_bytes())
    service.acknowledge("alice", ref, "REL011", "CVS joins via the alliance board.")
    service.submit("alice", ref)
    take(service, "rita", ref)
    decide(service, "rita", ref, "approved_with_conditions", RATINGS, "Sound case; relationships need work.",
           [ConditionInput("Sign heads of terms with all practices", "ICB primary care lead", dt.date(2027, 3, 31))])
    return service, ref


def _without_policy(text: str) -> str:
    """The report names the policy values by the names a policy file gives them: those stay machine names."""
    return text.split("Policy values used")[0]


def test_the_assurance_report_is_in_words(decided):
    from isap.outputs.assurance_report import render_report

    service, ref = decided
    html = _without_policy(render_report(service, "rita", ref, 1))
    text = re.sub(r"<[^>]+>", " ", html)
    assert leaks(text) == [], leaks(text)
    assert "Submitted → In review" in html and "Draft → Submitted" in html
    assert "Approved with conditions" in html and "31 Mar 2027" in html
    assert "capitalisation green, transparency amber" in html


needs_poppler = pytest.mark.skipif(not shutil.which("pdftotext"), reason="needs Debian's poppler-utils")


def _pdf_words(data: bytes, tmp_path) -> str:
    path = tmp_path / "doc.pdf"
    path.write_bytes(data)
    out = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True, text=True)
    return " ".join(out.stdout.split())


@needs_poppler
def test_the_report_pdf_and_the_letter_are_in_words(decided, tmp_path):
    from isap.outputs.letters import render_letter_pdf, render_report_pdf

    service, ref = decided
    report = _without_policy(_pdf_words(render_report_pdf(service, "rita", ref, 1), tmp_path))
    assert leaks(report) == [], leaks(report)
    assert "Submitted → In review" in report and "31 Mar 2027" in report
    letter = _pdf_words(render_letter_pdf(service, "rita", ref, 1), tmp_path)
    assert leaks(letter) == [], leaks(letter)
    assert "31 March 2027" in letter and re.search(r"Decision took effect on \d+ \w{3} \d{4}, \d\d:\d\d", letter)


def test_the_mail_is_in_words(decided):
    from isap.review import notices

    service, ref = decided
    bodies = [n["subject"] + "\n" + n["body"] for n in service.outbox("ada")]
    assert bodies
    for body in bodies:
        assert leaks(body) == [], (leaks(body), body)
    one = notices.version_checked(ref, "Dudley", 2, 1, 1, "https://isap.example")
    assert "1 error, 1 warning" in one.subject and leaks(one.subject + one.body) == []
    due = notices.condition_due(ref, "Dudley", "Sign", "ICB lead", dt.date(2027, 1, 7), 1, "https://isap.example")
    assert "in 1 working day" in due.subject and "Thursday 7 January 2027" in due.body


def test_the_history_and_its_csv_are_in_words(decided):
    from isap.outputs.exports import history_csv

    service, ref = decided
    history = service.show("alice", ref)["history"]
    rows = list(csv.DictReader(io.StringIO(history_csv(history))))
    assert list(rows[0]) == list(wording.HISTORY_HEADINGS.values())
    text = "\n".join(" | ".join(r.values()) for r in rows)
    assert leaks(text) == [], leaks(text)
    decision = next(r for r in rows if r["What"].startswith("Decision recorded"))
    assert decision["Change of state"] == "In review → Draft"
    assert "ratings: capitalisation green" in decision["Details"]


def test_the_history_page_and_the_security_page_are_in_words(demo_env):  # noqa: F811
    from tests.test_dashboard import signed_in, texts

    at = signed_in("alice", "alice-demo")
    at.switch_page("views/proposal.py")
    at.run()
    at.selectbox(key="proposal_pick").select("ISAP-2026-012")
    at.run()
    assert not at.exception, at.exception
    history = at.dataframe[-1].value
    assert list(history.columns) == list(wording.HISTORY_HEADINGS.values())
    text = "\n".join(" | ".join(str(v) for v in row) for row in history.itertuples(index=False))
    assert leaks(text) == [], leaks(text)
    assert "In review → Draft" in set(history["Change of state"])
    assert leaks(texts(at)) == [], leaks(texts(at))

    signed_in("alice", "wrong")  # one failed sign-in for the Security page to list
    at = signed_in("ada", "ada-demo")
    at.switch_page("views/security.py")
    at.run()
    next(b for b in at.button if b.label == "Verify now").click()
    at.run()
    assert not at.exception, at.exception
    shown = texts(at)
    assert leaks(shown) == [], leaks(shown)
    by_name, attempts = at.dataframe[0].value, at.dataframe[1].value
    assert list(by_name.columns) == ["User name", "An account", "Failed", "Refused while paused", "Last"]
    assert leaks("\n".join(" | ".join(str(v) for v in row) for row in by_name.itertuples(index=False))) == []
    assert list(attempts.columns) == ["When", "User name", "What happened"]
    text = "\n".join(" | ".join(str(v) for v in row) for row in attempts.itertuples(index=False))
    assert leaks(text) == [] and "failed" not in set(attempts["What happened"]), text

"""Dashboard actions at 10,000 proposals: the server time of the run that performs each one (AppTest).

Streamlit reruns the whole page for every click and form submit, and after an
action the page reruns once more (`st.rerun`) to show its result; the time of
one action is therefore the time of `AppTest.run()` after the click, which
covers the action's run, the service call and that rerun.  The page is open
on the right proposal and tab before the clock starts, as it is for the person
who clicks.

Every repeat acts on a fresh proposal brought into the right state through the
service (`Service`) beforehand, and every action is checked afterwards in the
database and on the page (its success message), so a run that did nothing
cannot pass.  Targets: every action under 1 s; taking into review, recording a
decision and discharging a condition under 0.5 s.  An upload (checked in a
limited child process, possibly through a Prefect flow) is reported on its own
row.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

APP = str(Path(__file__).resolve().parents[1] / "dashboards" / "app.py")
ORGANISATION = "Q00"  # alice's organisation in `benchmarks.store.populate`
PASSWORD = "bench-password"
RATINGS = {d: "green" for d in ("capitalisation", "transparency", "service_scope", "relationships", "governance")}
_serial = itertools.count(1)


def repeats() -> int:
    return int(os.environ.get("ISAP_BENCH_ACTION_REPEATS", "5"))


# ---------------------------------------------------------------------------- proposals in the right state
def _workbook(ref: str, warning: bool = False) -> bytes:
    """A clean checkpoint-1 workbook of alice's organisation; with one warning to acknowledge if asked."""
    import tempfile

    from sample_submissions.proposals import clean, write

    p = clean(1, reference=ref)
    p["Cover"]["lead_commissioner_code"] = ORGANISATION
    if warning:
        p["Cover"]["extension_years"] = 2  # SCP003: the term with its extension is more than ten years
    with tempfile.TemporaryDirectory() as d:
        return write(p, Path(d) / f"{ref}.xlsx").read_bytes()


def _new_reference() -> str:
    return f"ISAP-2100-{next(_serial):03d}"


def drafted(svc, warning: bool = False) -> str:
    ref = _new_reference()
    result = svc.upload("alice", f"{ref}.xlsx", _workbook(ref, warning))
    assert result.version == 1 and result.errors == 0 and bool(result.warnings) == warning, result
    return ref


def submitted(svc) -> str:
    ref = drafted(svc)
    svc.submit("alice", ref)
    return ref


def declared(svc) -> str:
    """Submitted, and rita has declared no conflict of interest (the review panel's first step)."""
    ref = submitted(svc)
    svc.declare("rita", ref)
    return ref


def in_review(svc) -> str:
    ref = declared(svc)
    svc.take("rita", ref)
    return ref


def proposed(svc) -> str:
    """In review, rita's decision waiting for nina's countersignature; nina has declared."""
    from isap.review.service import ConditionInput

    ref = in_review(svc)
    svc.propose("rita", ref, "approved_with_conditions", RATINGS, "A clear case for change.",
                [ConditionInput("Publish the engagement report", "ICB director", dt.date.today() + dt.timedelta(30))])
    svc.declare("nina", ref)
    return ref


def with_condition(svc) -> str:
    ref = proposed(svc)
    svc.countersign("nina", ref)
    return ref


# ---------------------------------------------------------------------------- the page, and what is done on it
def signed_in(token: str):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["session_token"] = token
    return at


def opened(token: str, ref: str, tab: str):
    """The proposal page, open on `ref` and `tab` as a link opens it."""
    at = signed_in(token)
    at.run()
    at.switch_page("views/proposal.py")
    at.run()
    at.query_params["ref"] = ref
    at.query_params["tab"] = tab
    at.run()
    healthy(at)
    assert any(h.value.replace("\\", "") == ref for h in at.header), ref
    return at


def healthy(at) -> None:
    assert not at.exception, at.exception
    assert not any("Something went wrong" in str(e.value) for e in at.error), [e.value for e in at.error]


def button(at, label: str):
    [b] = [b for b in at.button if b.label == label]
    assert not b.disabled, (label, b.help)
    return b


def shown(at) -> str:
    """The page's toasts and messages, escapes resolved."""
    parts = [t.value for t in at.toast] + [m.value for m in (*at.success, *at.info, *at.warning, *at.error)]
    return " ".join(str(p) for p in parts).replace("\\", "")


def do_submit(at, ref):
    at.button(key="submit").click()


def do_acknowledge(at, ref):
    at.text_area(key="ack-note-0").input("Start-up costs are met by the parent trust.")
    button(at, "Acknowledge").click()


def do_comment(at, ref):
    at.text_area(key="comment-text").input("Please confirm the partners' signatures.")
    button(at, "Add comment").click()


def do_withdraw(at, ref):
    at.button(key="withdraw").click()


def do_answer(at, ref):
    at.text_area(key="answer-text-1").input("The report is published on the ICB's website.")
    button(at, "Send answer").click()


def do_take(at, ref):
    button(at, "Take into review").click()


def do_return(at, ref):
    # the return form's reason has no key: found by its label
    [reason] = [t for t in at.text_input if t.label == "Reason to return without a decision"]
    reason.input("The finance sheet is for another proposal.")
    button(at, "Return to commissioner").click()


def do_decide(at, ref):
    for domain, rating in RATINGS.items():
        at.selectbox(key=f"rating-{domain}").select(rating)
    at.selectbox(key="outcome").select("approved_with_conditions")
    at.text_area(key="rationale").input("A clear case for change with strong GP support.")
    # st.data_editor takes its edits from its widget state, as the browser sends them
    at.session_state["conditions"] = {"edited_rows": {}, "deleted_rows": [], "added_rows": [
        {"text": "Publish the engagement report", "owner": "ICB director of strategy",
         "due": (dt.date.today() + dt.timedelta(days=60)).isoformat()}]}
    button(at, "Propose decision").click()


def do_countersign(at, ref):
    button(at, "Countersign the decision").click()


def do_discharge(at, ref):
    at.text_input(key="close-note-1").input("Report published.")
    button(at, "Discharge").click()


def do_carry_forward(at, ref):
    at.text_input(key="close-note-1").input("Due at the next checkpoint.")
    button(at, "Carry forward").click()


# (state checks) each takes the service, the reference and the page after the action
def state_is(state: str, words: str, checkpoint: int | None = None):
    def check(svc, ref, at):
        d = svc.show("rita", ref)
        assert d["state"] == state, (ref, d["state"])
        if checkpoint is not None:
            assert d["checkpoint"] == checkpoint, (ref, d["checkpoint"])
        assert words.format(ref=ref) in shown(at), (words, shown(at))
        return d
    return check


def acknowledged(svc, ref, at):
    [w] = [f for f in svc.show("alice", ref)["findings"] if f["severity"] == "warning"]
    assert w["acknowledged"] and w["acknowledged"]["by"] == "alice", w
    assert f"{w['rule_id']} acknowledged." in shown(at), shown(at)


def commented(author):
    def check(svc, ref, at):
        assert [c["author"] for c in svc.show("rita", ref)["comments"]] == [author]
        assert "Comment added." in shown(at), shown(at)
    return check


def proposed_decision(svc, ref, at):
    d = state_is("in_review", "Decision proposed", checkpoint=1)(svc, ref, at)
    assert d["panel"]["waiting_for_countersignature"], d["panel"]


def decided(svc, ref, at):
    d = state_is("draft", "Countersigned: the decision has taken effect.", checkpoint=2)(svc, ref, at)
    [review] = d["reviews"]
    assert review["decision"]["outcome"] == "approved_with_conditions", review
    [c] = d["conditions"]
    assert (c["text"], c["status"]) == ("Publish the engagement report", "open"), c


def condition(status: str, answered: bool = False):
    def check(svc, ref, at):
        [c] = svc.show("rita", ref)["conditions"]
        if answered:
            assert c["response"] and c["status"] == "open", c
            assert "Answer sent." in shown(at), shown(at)
        else:
            assert c["status"] == status and c["closing_note"], c
            assert f"Condition 1 {status.replace('_', ' ')}." in shown(at), shown(at)
    return check


@dataclass(frozen=True)
class ActionCase:
    what: str
    who: str
    tab: str
    target: float
    prepare: Callable  # (service) -> reference of a fresh proposal in the right state
    perform: Callable  # (page, reference): fill in and click; the next run performs the action
    happened: Callable  # (service, reference, page after the action): asserts it was done


ACTIONS = [
    ActionCase("submit a proposal", "alice", "Findings", 1.0, drafted, do_submit,
               state_is("submitted", "{ref} submitted.")),
    ActionCase("acknowledge a warning", "alice", "Findings", 1.0, lambda svc: drafted(svc, warning=True),
               do_acknowledge, acknowledged),
    ActionCase("comment (commissioner)", "alice", "Review", 1.0, drafted, do_comment, commented("alice")),
    ActionCase("answer a condition", "alice", "Conditions", 1.0, with_condition, do_answer,
               condition("open", answered=True)),
    ActionCase("withdraw a proposal", "alice", "Findings", 1.0, drafted, do_withdraw,
               state_is("withdrawn", "{ref} withdrawn.")),
    ActionCase("take into review", "rita", "Review", 0.5, declared, do_take,
               state_is("in_review", "Taken into review.")),
    ActionCase("propose a decision, approved with a condition", "rita", "Review", 0.5, in_review, do_decide,
               proposed_decision),
    ActionCase("countersign a decision", "nina", "Review", 0.5, proposed, do_countersign, decided),
    ActionCase("discharge a condition", "rita", "Conditions", 0.5, with_condition, do_discharge,
               condition("discharged")),
    ActionCase("carry a condition forward", "rita", "Conditions", 1.0, with_condition, do_carry_forward,
               condition("carried_forward")),
    ActionCase("return to the commissioner", "rita", "Review", 1.0, submitted, do_return,
               state_is("returned", "Returned.")),
    ActionCase("comment (reviewer)", "rita", "Review", 1.0, in_review, do_comment, commented("rita")),
]


def action_time(svc, tokens: dict[str, str], case: ActionCase, repeat: int) -> dict:
    times = []
    for _ in range(repeat):
        ref = case.prepare(svc)
        at = opened(tokens[case.who], ref, case.tab)
        case.perform(at, ref)
        t = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - t)
        healthy(at)
        case.happened(svc, ref, at)
    return _row(f"{case.what} ({case.who})", case.target, times)


def upload_time(svc, tokens: dict[str, str], repeat: int, through_prefect: bool = True) -> dict:
    """The upload page's check of a typical workbook: the file arrives, is checked and kept, the result shown.

    `through_prefect=False` times the same page with Prefect unreachable, when the page runs the flow's steps
    itself: the difference is what the flow costs."""
    from isap.orchestration import dispatch

    times, as_flow = [], []
    reach = dispatch.orchestration_problem
    if not through_prefect:
        dispatch.orchestration_problem = lambda wait=True: "unreachable for this measurement"
    try:
        for _ in range(repeat):
            ref = _new_reference()
            data = _workbook(ref)
            at = signed_in(tokens["alice"])
            at.run()
            at.switch_page("views/upload.py")
            at.run()
            healthy(at)
            at.file_uploader(key="uploader").set_value(
                (f"{ref}.xlsx", data, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))
            t = time.perf_counter()
            at.run()
            times.append(time.perf_counter() - t)
            healthy(at)
            assert f"{ref} saved as version 1: 0 error(s), 0 warning(s)." in shown(at), shown(at)
            assert svc.show("alice", ref)["versions"][0]["number"] == 1
            as_flow.append(at.session_state["last_upload"][1])
    finally:
        dispatch.orchestration_problem = reach
    assert all(as_flow) if through_prefect else not any(as_flow), as_flow
    how = "through the Prefect flow" if through_prefect else "Prefect unreachable: the flow's steps in-process"
    row = _row(f"upload and check a typical workbook (alice; the check runs in a limited child process; {how})",
               1.0, times)
    row["note"] = ("reported apart: Prefect's bookkeeping of a flow run and its four task runs" if through_prefect
                   else "reported apart: what the page and the check cost without the flow")
    return row


def _row(what: str, target: float, times: list[float]) -> dict:
    median, best = statistics.median(times), min(times)
    return {"benchmark": f"dashboard action at 10,000 proposals: {what}, AppTest run incl. its rerun",
            "reference": f"target {target:g} s", "reference_s": target, "measured_s": round(median, 3),
            "ratio": round(median / target, 2), "median_s": round(median, 3), "best_s": round(best, 3),
            "best_ratio": round(best / target, 2), "repeats": len(times)}


def bench_actions(repeat: int | None = None) -> list[dict]:
    """Every action, on the database `benchmarks.store` populated (call within its set-up)."""
    from isap.review.service import Service

    repeat = repeat or repeats()
    svc = Service()
    tokens = {who: svc.sign_in(who, PASSWORD)[1] for who in ("alice", "rita", "nina")}
    # one untimed action first: the first action in a process imports what later ones find imported
    warm = ACTIONS[0]
    action_time(svc, tokens, warm, 1)
    rows = [action_time(svc, tokens, case, repeat) for case in ACTIONS]
    rows.append(upload_time(svc, tokens, repeat))
    rows.append(upload_time(svc, tokens, repeat, through_prefect=False))
    return rows

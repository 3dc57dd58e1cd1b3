"""One proposal, as the signed-in person may see it: its findings, versions, conditions, queries, review and
history.

The proposal is named by the page's address (`/proposal?ref=…&tab=…`), so a
link opens it and its tab.  Each tab is a function of this module; the
buttons come from what the state machine offers (`Offer`), never from the
person's role.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from dashboards import labels
from dashboards.evidence_tab import documents_for_an_answer, evidence_tab
from dashboards.render import fmt, md, plain
from dashboards.resources import service
from dashboards.session import me
from dashboards.widgets import (
    REF,
    TAB,
    XLSX,
    Offer,
    act,
    findings_view,
    focus_message,
    guarded,
    kind_error,
    offer_download,
    table,
    wrapping_table,
)
from isap.review import wording
from isap.review.capabilities import Capability
from isap.review.lifecycle import (
    CONFLICT_ARISEN,
    LAST_CHECKPOINT,
    NEVER_WAIVED,
    Action,
    AssuranceDomain,
    ConditionStatus,
    Outcome,
    QueryStatus,
    QueryStep,
    Rating,
    State,
    WaiverStatus,
    after_decision,
    condition_due_soon,
    condition_overdue,
    decision_gaps,
    decision_summary,
    outcome_effect,
)
from isap.review.limits import TextKind
from isap.review.service import ConditionInput, Service, WorkflowError, diff_findings

PICK = "proposal_pick"
TAB_NAMES = ("Findings", "Versions", "Evidence", "Conditions", "Queries", "Review", "Timeline", "History")
RATED = (Rating.RED, Rating.AMBER, Rating.GREEN)
PLANNED_CHECKPOINTS = list(range(1, LAST_CHECKPOINT + 1))


def pick_proposal(choices: list[tuple[str, str]]) -> str | None:
    """The proposal the page is about: chosen from the list, or named by the link (`/proposal?ref=…`).

    The choice is bound to the address bar, so the URL always names the
    proposal shown and can be shared.  A link to a proposal the person may not
    see gets the same words as a link to one that does not exist.
    """
    if not choices:
        st.info("There are no proposals yet.")
        return None
    refs = [ref for ref, _ in choices]
    titles = dict(choices)
    asked = st.query_params.get(REF)
    if asked and asked not in titles:
        st.error(fmt("There is no proposal {} that you can see. Choose one from the list below.", plain(asked, 40)))
        st.session_state[PICK] = None
    elif asked and st.session_state.get(PICK) != asked:
        st.session_state[PICK] = asked  # the link decides, also when the page is already open
    elif not asked and PICK not in st.session_state:
        # no link: the proposal last worked on, or the first
        last = st.session_state.get("current_ref")
        st.session_state[PICK] = last if last in titles else refs[0]

    def follow() -> None:  # the address bar follows the choice; a new proposal opens on its first tab
        st.query_params.pop(TAB, None)
        st.session_state.pop(TAB, None)
        if st.session_state.get(PICK):
            st.query_params[REF] = st.session_state[PICK]

    ref = st.selectbox("Proposal", refs, index=None, key=PICK, on_change=follow, placeholder="Choose a proposal",
                       format_func=lambda r: plain(f"{r} — {titles.get(r) or ''}", 200))
    if ref is not None:
        st.session_state["current_ref"] = ref
        if st.query_params.get(REF) != ref:
            st.query_params[REF] = ref
    return ref


def proposal_link(ref: str) -> str:
    """The proposal's whole address as this browser reaches the dashboard (behind a proxy too), to copy and share;
    the path alone where the browser's address is unknown."""
    from urllib.parse import quote

    path = f"/proposal?{REF}={quote(ref)}"
    here = st.context.url  # the page's address, without its query
    if not here:
        return path
    root = here.rstrip("/")
    if root.endswith("/proposal"):
        root = root[: -len("/proposal")]
    return root + path



def latest_decision(d: dict) -> dict | None:
    """The review of the latest checkpoint decided, if any."""
    return next((r for r in reversed(d["reviews"]) if r["decision"]), None)


def decision_words(d: dict, review: dict) -> str:
    """ "Checkpoint 1: approved with 1 condition, on 6 Dec 2026.", and, while the proposal stands where that
    decision put it, what happens now ("… is back with … for checkpoint 2.")."""
    dec, cp = review["decision"], review["checkpoint"]
    conditions = sum(1 for c in d["conditions"] if c["checkpoint"] == cp)
    said = f"{decision_summary(Outcome(dec['outcome']), cp, conditions)}, on {labels.day(dec['at'])}."
    if State(d["state"]) not in (State.SUBMITTED, State.IN_REVIEW):
        said += " " + after_decision(State(d["state"]), d["checkpoint"], d["name"],
                                     d.get("commissioner_name") or d["commissioner"])
    return said  # plain text: the page shows it through `md`


def decision_documents(svc: Service, user: dict, d: dict, cp: int, place: str, reports: bool = True) -> None:
    """The checkpoint's decision letter, to everyone who may read letters (the commissioner it is addressed to,
    the reviewers), and, with `reports`, its assurance report to those who may read reports."""
    from isap.outputs.letters import FontsMissing, font_dir, render_letter_pdf, render_report_pdf

    ref, name = d["name"], plain(d["reference"])
    letters = svc.can(user["username"], Capability.READ_DECISION_LETTERS)
    reports = reports and svc.can(user["username"], Capability.READ_ASSURANCE_REPORTS)
    if not (letters or reports):
        return
    try:
        font_dir()
    except FontsMissing as exc:
        st.warning(fmt("PDF downloads are not available here: {}", exc))
        return
    c1, c2 = st.columns(2)
    with c1:
        if letters:
            offer_download(user, fmt("Download the checkpoint {} decision letter (PDF)", cp),
                           lambda username: render_letter_pdf(svc, username, ref, cp),
                           f"{name}-checkpoint-{cp}-decision-letter.pdf", "application/pdf", f"letter-{place}")
    with c2:
        if reports:
            offer_download(user, fmt("Download the checkpoint {} assurance report (PDF)", cp),
                           lambda username: render_report_pdf(svc, username, ref, cp),
                           f"{name}-checkpoint-{cp}-assurance.pdf", "application/pdf", f"report-{place}")


def proposal_page() -> None:
    user = me()
    svc = service()
    heading = st.empty()  # the page's one h1, first on the page: the proposal's reference once one is chosen
    ref = pick_proposal(svc.proposal_choices(user["username"]))
    if ref is None:
        heading.title("Proposal")
        return
    d = svc.show(user["username"], ref)
    heading.title(md(d["reference"]))
    st.caption(md(d["title"]))
    # the lead commissioner by the organisation's name, which people know it by (a metric would cut a name of
    # this length short), with its code after it
    st.caption(fmt("Lead commissioner: {} ({})", d.get("commissioner_name") or d["commissioner"], d["commissioner"]))
    c1, c2, c3 = st.columns(3)
    c1.metric("State", md(labels.code(d["state"])))
    c2.metric("Checkpoint", md(d["checkpoint"]))
    c3.metric("Versions", len(d["versions"]))
    contact = d["contact"]
    # where the proposal's messages and decision letters go, and, beside it, the last change of it
    if contact["address"]:
        st.caption(fmt("Contact: {}", contact["address"]))
    else:
        st.caption("Contact: none that isap sends mail to (see the latest version's findings)")
    if contact["change"]:
        st.caption(fmt("The contact changed on {}: {}.", labels.day(contact["changed_at"]), contact["change"]))
    decided = latest_decision(d)
    if decided is not None:
        st.success(md(decision_words(d, decided)))
    st.info(md(d["next_step"]))
    if decided is not None:
        decision_documents(svc, user, d, decided["checkpoint"], "top", reports=False)
    # shown as code: copied exactly (no mark-up, nothing inserted to stop it becoming a link), with a copy button
    st.caption("Link to this proposal, to copy and share:")
    st.code(proposal_link(ref), language=None, wrap_lines=True)
    asked_tab = st.query_params.get(TAB)
    if asked_tab in TAB_NAMES and st.session_state.get(TAB) != asked_tab:
        st.session_state[TAB] = asked_tab

    def follow_tab() -> None:
        # (a run that did not draw the tabs leaves no state for them: the address then keeps its tab as it was)
        chosen = st.session_state.get(TAB)
        if chosen in TAB_NAMES:
            st.query_params[TAB] = chosen

    tabs = st.tabs(list(TAB_NAMES), key=TAB, on_change=follow_tab)
    for place, tab in zip(tabs, TABS.values()):
        with place:
            tab(svc, user, d)


def findings_tab(svc: Service, user: dict, d: dict) -> None:
    """The latest version's findings; a commissioner answers warnings, submits or withdraws here."""
    ref, offer = d["name"], Offer(d)
    latest = d["versions"][-1]["number"] if d["versions"] else None
    if latest:
        st.subheader(fmt("Version {}", latest))
    findings_view(d["findings"], "latest")
    if offer.allowed(Action.ACKNOWLEDGE):
        pending = [f for f in d["findings"] if f["severity"] == "warning" and not f["acknowledged"]]
        st.subheader("Acknowledge warnings")
        for i, f in enumerate(pending):
            with st.form(f"ack-{i}"):
                st.markdown(fmt("**{}** {}: {}", f["rule_id"], wording.place(f["sheet"], f["cell"]), f["message"]))
                note = st.text_area("Explanatory note", key=f"ack-note-{i}", max_chars=TextKind.NOTE.max_chars)
                if st.form_submit_button("Acknowledge"):
                    act(svc.acknowledge, user["username"], ref, f["rule_id"], note, finding_id=f["id"],
                        success=f"{f['rule_id']} acknowledged.")
    waivers_section(svc, user, d, offer)
    if offer.listed(Action.SUBMIT):
        if st.button(fmt("Submit for checkpoint {}", d["checkpoint"]), type="primary", key="submit",
                     **offer.disabled(Action.SUBMIT)):
            act(svc.submit, user["username"], ref, expected_version=d["version"], success=f"{ref} submitted.")
        offer.explain(Action.SUBMIT)
    if offer.listed(Action.WITHDRAW):
        withdraw_form(svc, user, d, offer)


def waivers_section(svc: Service, user: dict, d: dict, offer: Offer) -> None:
    """Waivers: every one asked for, by whom and why and how it was answered; the commissioner asks for one on an
    error finding, a reviewer grants or refuses a request (docs/workflow.md, "Queries and waivers")."""
    ref = d["name"]
    if d.get("waivers"):
        st.subheader("Waivers")
        for w in d["waivers"]:
            st.markdown(fmt("**Waiver {}** (checkpoint {}, {}) of {} at {}: {}", w["id"], w["checkpoint"],
                            WaiverStatus(w["status"]).label.lower(), w["rule_id"], w["place"], w["message"]))
            st.caption(fmt("Asked for by {} on {}: {}", w["requested_by_name"], labels.day(w["requested_at"]),
                           w["reason"]))
            if w["ruled_by"]:
                st.caption(fmt("{} by {} on {}: {}", WaiverStatus(w["status"]).label, w["ruled_by_name"],
                               labels.day(w["ruled_at"]), w["ruling"]))
            if w["status"] == WaiverStatus.REQUESTED and offer.listed(Action.GRANT_WAIVER):
                with st.form(f"rule-waiver-{w['id']}"):
                    why = st.text_area("Reason for granting or refusing", key=f"ruling-{w['id']}",
                                       max_chars=TextKind.WAIVER_RULING.max_chars)
                    grant, refuse = st.columns(2)
                    if grant.form_submit_button("Grant waiver", key=f"grant-{w['id']}",
                                                **offer.disabled(Action.GRANT_WAIVER)):
                        act(svc.grant_waiver, user["username"], ref, w["id"], why,
                            success=f"Waiver {w['id']} granted.")
                    if refuse.form_submit_button("Refuse waiver", key=f"refuse-{w['id']}",
                                                 **offer.disabled(Action.REFUSE_WAIVER)):
                        act(svc.refuse_waiver, user["username"], ref, w["id"], why,
                            success=f"Waiver {w['id']} refused.")
    if offer.listed(Action.REQUEST_WAIVER):
        open_errors = [f for f in d["findings"] if f["severity"] == "error" and not f.get("waiver")
                       and f["rule_id"] not in NEVER_WAIVED]
        if open_errors:
            with st.expander("Ask for a waiver of an error finding"):
                st.caption("A waiver is for an unusual but sound case the rule does not fit. Granted, the finding "
                           "no longer stops a submission at this checkpoint, in later versions too, while it stays "
                           "the same finding.")
                with st.form("request-waiver"):
                    choice = st.selectbox("Error finding", [f["id"] for f in open_errors], key="waiver-finding",
                                          format_func=lambda i: plain(next(
                                              f"{f['rule_id']} {f['sheet'] or ''} {f['cell'] or ''}: {f['message']}"
                                              for f in open_errors if f["id"] == i), 200))
                    why = st.text_area("Why it should be waived", key="waiver-reason",
                                       max_chars=TextKind.WAIVER_REASON.max_chars)
                    if st.form_submit_button("Ask for the waiver", **offer.disabled(Action.REQUEST_WAIVER)):
                        act(svc.request_waiver, user["username"], ref, choice, why, success="Waiver asked for.",
                            clear=("waiver-reason",))  # a request sent leaves an empty box
        offer.explain(Action.REQUEST_WAIVER)


def queries_tab(svc: Service, user: dict, d: dict) -> None:
    """Each query's thread in the order written; a reviewer raises, follows up and resolves, the commissioner
    answers.  Days waiting for the commissioner's answers are shown apart from the review target."""
    ref, offer = d["name"], Offer(d)
    if d.get("waiting_on_commissioner"):
        st.caption(fmt("{} of this review waited for the commissioner's answers; they do not count against the "
                       "review target.", wording.working_days(d["waiting_on_commissioner"])))
    if not d.get("queries"):
        st.markdown("No queries.")
    for q in d.get("queries", []):
        about = q["about"] or "the proposal as a whole"
        due = fmt(", answer by {}", labels.day(q["due_date"])) if q["due_date"] else ""
        st.markdown(fmt("**Query {}** (checkpoint {}) on {}{}: {}", q["id"], q["checkpoint"], about, due,
                        QueryStatus(q["status"]).label.lower()))
        for m in q["thread"]:
            st.caption(fmt("{} — {}, {}", QueryStep(m["step"]).label, m["author_name"], labels.when(m["at"])))
            st.text(plain(m["text"], 10_000))
            if m.get("documents"):
                st.caption(fmt("Documents: {}", ", ".join(map(wording.document_named, m["documents"]))))
        if q["status"] == QueryStatus.AWAITING_ANSWER and offer.listed(Action.ANSWER_QUERY):
            with st.form(f"answer-query-{q['id']}"):
                text = st.text_area("Your answer", key=f"query-answer-{q['id']}",
                                    max_chars=TextKind.QUERY_ANSWER.max_chars)
                named, attachments = documents_for_an_answer(d.get("evidence", []), f"query-{q['id']}")
                if st.form_submit_button("Send answer", **offer.disabled(Action.ANSWER_QUERY)):
                    new = attachments()
                    if isinstance(new, str) and new:
                        st.error(md(new))
                    else:
                        act(svc.answer_query, user["username"], ref, q["id"], text, documents=named,
                            attachments=new or [], success="Answer sent.",
                            clear=(f"query-answer-{q['id']}",))  # an answer sent leaves an empty box
        if q["status"] != QueryStatus.RESOLVED and offer.listed(Action.RESOLVE_QUERY):
            with st.form(f"close-query-{q['id']}"):
                text = st.text_area("Follow-up question, or note resolving the query", key=f"query-note-{q['id']}",
                                    max_chars=TextKind.QUERY.max_chars)
                follow, resolve = st.columns(2)
                if q["status"] == QueryStatus.ANSWERED and follow.form_submit_button(
                        "Follow up", key=f"follow-{q['id']}", **offer.disabled(Action.FOLLOW_UP_QUERY)):
                    act(svc.follow_up_query, user["username"], ref, q["id"], text,
                        success=f"Query {q['id']} followed up.", clear=(f"query-note-{q['id']}",))
                if resolve.form_submit_button("Resolve", key=f"resolve-{q['id']}",
                                              **offer.disabled(Action.RESOLVE_QUERY)):
                    act(svc.resolve_query, user["username"], ref, q["id"], text, success=f"Query {q['id']} resolved.",
                        clear=(f"query-note-{q['id']}",))
        st.divider()
    if offer.listed(Action.RAISE_QUERY):
        st.subheader("Raise a query")
        with st.form("raise-query"):
            subjects = {"proposal": "The proposal as a whole", "finding": "A finding of the latest version",
                        "cell": "A field or cell"}
            subject = st.radio("About", list(subjects), format_func=subjects.get, key="query-subject",
                               horizontal=True)
            finding = st.selectbox("Finding (when about a finding)", [f["id"] for f in d["findings"]], index=None,
                                   key="query-finding", format_func=lambda i: plain(next(
                                       f"{f['rule_id']} {f['sheet'] or ''} {f['cell'] or ''}: {f['message']}"
                                       for f in d["findings"] if f["id"] == i), 200))
            place = st.text_input("Field or cell (when about one), such as Cover C7", key="query-place",
                                  max_chars=TextKind.QUERY_PLACE.max_chars)
            text = st.text_area("Query", key="query-text", max_chars=TextKind.QUERY.max_chars)
            due = st.date_input("Answer by (optional)", value=None, key="query-due", format="DD/MM/YYYY")
            if st.form_submit_button("Raise query", **offer.disabled(Action.RAISE_QUERY)):
                if subject == "finding" and finding is None:
                    st.error("Nothing was raised: choose the finding the query is about.")
                    focus_message()  # refused here, as the service's refusals are: the focus goes to why
                elif subject == "cell" and not place.strip():
                    st.error("Nothing was raised: name the field or cell the query is about.")
                    focus_message()  # refused here, as the service's refusals are: the focus goes to why
                else:
                    act(svc.raise_query, user["username"], ref, text,
                        finding_id=finding if subject == "finding" else None,
                        place=place if subject == "cell" else None, due_date=due, success="Query raised.",
                        clear=("query-text", "query-place"))  # a query sent leaves empty boxes, not a second one


def withdraw_form(svc: Service, user: dict, d: dict, offer: Offer) -> None:
    """Withdrawing cannot be undone, so it sits apart from Submit, folded, and asks for a reason (kept in the
    history) and a confirmation before anything happens; what is missing is said all at once."""
    ref = d["name"]
    st.divider()
    with st.expander("Withdraw this proposal"):
        st.markdown(fmt("Withdrawing ends the assurance of {}: it cannot be submitted or reopened afterwards.", ref))
        with st.form("withdraw", clear_on_submit=False):
            reason = st.text_area("Reason for withdrawing (kept in the proposal's history)", key="withdraw-reason",
                                  max_chars=TextKind.REASON.max_chars)
            sure = st.checkbox(fmt("I understand that {} cannot be reopened once withdrawn", ref),
                               key="withdraw-sure")
            if st.form_submit_button("Withdraw proposal", **offer.disabled(Action.WITHDRAW)):
                missing = [text for text, given in (("give the reason for withdrawing", bool(reason.strip())),
                                                    ("confirm that it cannot be reopened", sure)) if not given]
                if missing:
                    st.error(fmt("Nothing was withdrawn: {}.", " and ".join(missing)))
                    focus_message()  # refused here, as the service's refusals are: the focus goes to why
                else:
                    act(svc.withdraw, user["username"], ref, reason=reason, expected_version=d["version"],
                        success=f"{ref} withdrawn.")
        offer.explain(Action.WITHDRAW)


def versions_tab(svc: Service, user: dict, d: dict) -> None:
    """Every version uploaded, two of them compared finding by finding, and any one downloaded as it was."""
    ref = d["name"]
    if d["versions"]:
        shown, config = labels.table(pd.DataFrame(d["versions"]), ["number", "checkpoint", "errors", "warnings",
                                                                   "filename", "uploaded_by_name", "uploaded_at",
                                                                   "sha256"], times=("uploaded_at",))
        table(shown, hide_index=True, width="stretch", column_config=config)
        numbers = [v["number"] for v in d["versions"]]
        if len(numbers) > 1:
            c1, c2 = st.columns(2)
            a = c1.selectbox("Compare version", numbers, index=len(numbers) - 2,
                             key=f"compare-a-{ref}-{numbers[-1]}")
            b = c2.selectbox("with version", numbers, index=len(numbers) - 1, key=f"compare-b-{ref}-{numbers[-1]}")
            diff = diff_findings(svc.version_findings(user["username"], ref, a),
                                 svc.version_findings(user["username"], ref, b))
            st.markdown(fmt("Fixed: {} · New: {} · Unchanged: {}", len(diff["fixed"]), len(diff["new"]),
                            len(diff["unchanged"])))
            for label in ("fixed", "new"):
                if diff[label]:
                    st.caption(md(label.capitalize()))
                    shown, config = labels.table(pd.DataFrame(diff[label]),
                                                 ["rule_id", "severity", "sheet", "cell", "message"])
                    wrapping_table(shown, config, fit=labels.COLUMNS["message"])
        # keyed by proposal and latest version, so a choice made elsewhere never outlives a new version
        number = st.selectbox("Download version", numbers, index=len(numbers) - 1,
                              key=f"dl-version-{ref}-{numbers[-1]}")
        name = next(v["filename"] for v in d["versions"] if v["number"] == number)

        def original(username: str, number: int = number) -> bytes:  # read on click, as the person
            return svc.version_bytes(username, ref, number)[1]

        offer_download(user, "Download the original workbook", original, plain(name), XLSX, "original")


def conditions_tab(svc: Service, user: dict, d: dict) -> None:
    """The conditions of the decisions, due dates marked; answered by the commissioner, closed by a reviewer."""
    ref, offer = d["name"], Offer(d)
    if not d["conditions"]:
        st.markdown("No conditions.")
    for c in d["conditions"]:
        due = dt.date.fromisoformat(c["due_date"])
        overdue = condition_overdue(due, c["status"], dt.date.today())
        soon = condition_due_soon(due, c["status"], dt.date.today(), svc.policy)
        st.markdown(fmt("**Condition {}** (checkpoint {}, {}{}) {} — owner {}, due {}", c["id"], c["checkpoint"],
                        labels.code(c["status"]).lower(),
                        ", overdue" if overdue else ", due soon" if soon else "", c["text"], c["owner"],
                        labels.day(c["due_date"])))
        if c["response"]:
            st.caption(fmt("Answer: {}", c["response"]))
        if c.get("closing_note"):
            # the reviewer's note on what they did, in a sentence (not "Discharged note")
            carried = c["status"] == ConditionStatus.CARRIED_FORWARD
            st.caption(fmt("Note on {}: {}", "carrying it forward" if carried else "discharging it",
                           c["closing_note"]))
        if c["status"] != "open":
            continue  # closed conditions offer nothing more
        if offer.listed(Action.ANSWER_CONDITION):
            with st.form(f"answer-{c['id']}"):
                text = st.text_area("Your answer", key=f"answer-text-{c['id']}",
                                    max_chars=TextKind.ANSWER.max_chars)
                if st.form_submit_button("Send answer", **offer.disabled(Action.ANSWER_CONDITION)):
                    act(svc.answer_condition, user["username"], ref, c["id"], text, success="Answer sent.",
                        clear=(f"answer-text-{c['id']}",))  # an answer sent leaves an empty box
        closing = [a for a in (Action.DISCHARGE_CONDITION, Action.CARRY_FORWARD_CONDITION) if offer.listed(a)]
        if closing:
            with st.form(f"close-{c['id']}"):
                note = st.text_input("Note", key=f"close-note-{c['id']}",
                                     max_chars=TextKind.CLOSING_NOTE.max_chars)
                # A form sends its inputs only when submitted, so a choice inside it could not relabel its
                # button beforehand: each way of closing is its own button, and the click is the choice.
                places = st.columns(len(closing))
                clicked = [a for a, place in zip(closing, places)
                           if place.form_submit_button(
                               "Discharge" if a is Action.DISCHARGE_CONDITION else "Carry forward",
                               key=f"{a.value}-{c['id']}", **offer.disabled(a))]
                if clicked:
                    carry = clicked[0] is Action.CARRY_FORWARD_CONDITION
                    act(svc.discharge, user["username"], ref, c["id"], note, carry_forward=carry,
                        success=f"Condition {c['id']} {'carried forward' if carry else 'discharged'}.")


def timeline_tab(svc: Service, user: dict, d: dict) -> None:
    """Planned against actual for every checkpoint, its decisions and conditions due, and the time in each state;
    the commissioner proposes dates and a reviewer agrees them (docs/workflow.md, "Calendar")."""
    ref, offer = d["name"], Offer(d)
    t = svc.timeline(user["username"], ref)
    if t["late"]:
        st.warning("Late: a planned submission date has passed without a submission.")
    table(pd.DataFrame([{
        "Checkpoint": c["checkpoint"], "Planned": labels.day(c["planned"]), "Agreed": labels.day(c["agreed"]),
        "Submitted": labels.day(c["submitted"]),
        "Slippage (working days)": "" if c["slippage_working_days"] is None else str(c["slippage_working_days"]),
        "Late": "⚠ LATE" if c["late"] else "",
        "Decisions": "; ".join(f"{labels.code(x['outcome'])} ({labels.day(x['on'])})" for x in c["decisions"]),
        "Conditions due": "; ".join(f"{x['number']}: {labels.day(x['due'])} ({labels.code(x['status']).lower()}"
                                    + (", overdue)" if x["overdue"] else ")") for x in c["conditions"]),
    } for c in t["checkpoints"]]), hide_index=True, width="stretch")
    st.subheader("Time in each state")
    table(pd.DataFrame([{"State": labels.code(s["state"]), "From": labels.day(s["from"]),
                                "To": labels.day(s["to"]) or "now", "Working days": s["working_days"]}
                               for s in t["states"]]), hide_index=True, width="stretch")
    waiting = t["waiting_for_commissioner_working_days"]
    if waiting:
        st.caption(fmt("Of the current review, waiting for the commissioner's answers to queries: {}.",
                       wording.working_days(waiting)))
    if offer.listed(Action.PLAN_SUBMISSION):
        with st.form("plan-date"):
            # Streamlit knows a keyed widget by its key alone and takes `index` only when it first makes it: a key
            # of the proposal and its checkpoint starts the box at this proposal's checkpoint, not at the one of the
            # proposal shown before
            where = plan_key(d)
            cp = st.selectbox("Checkpoint", PLANNED_CHECKPOINTS,
                              index=PLANNED_CHECKPOINTS.index(d["checkpoint"])
                              if d["checkpoint"] in PLANNED_CHECKPOINTS else 0, key=f"plan-cp:{where}")
            day = st.date_input("Planned submission date", key=f"plan-day:{where}", format="DD/MM/YYYY")
            reason = st.text_input("Reason (needed to change an agreed date)", key=f"plan-reason:{where}",
                                   max_chars=TextKind.REASON.max_chars)
            if st.form_submit_button("Propose date", **offer.disabled(Action.PLAN_SUBMISSION)):
                act(svc.plan_submission, user["username"], ref, cp, day, reason or None,
                    success="Date proposed: a reviewer agrees it.")
    if offer.listed(Action.AGREE_PLAN):
        for c in t["checkpoints"]:
            if c["planned"] and c["awaiting_agreement"] and st.button(
                    fmt("Agree checkpoint {}: {}", c["checkpoint"], labels.day(c["planned"])),
                    key=f"agree-{c['checkpoint']}", **offer.disabled(Action.AGREE_PLAN)):
                act(svc.agree_plan, user["username"], ref, c["checkpoint"], success="Date agreed.")


def plan_key(d: dict) -> str:
    """What the planning form's widgets are keyed by: the proposal (by its name, unique across organisations) and its
    current checkpoint."""
    return f"{d['name']}:{d['checkpoint']}"


def history_tab(svc: Service, user: dict, d: dict) -> None:
    """Everything that happened to the proposal, downloadable; the assurance report and decision letter."""
    ref = d["name"]
    if d["history"]:
        # in words (isap.review.wording), the same as the assurance report's audit trail and the CSV
        history = pd.DataFrame([{"at": w["when"], "actor": w["who"], "action": w["what"], "change": w["change"],
                                 "checkpoint": w["checkpoint"], "reason": w["details"]}
                                for w in (wording.history_row(dict(h, actor=h.get("actor_name") or h["actor"]))
                                          for h in d["history"])])
        shown, config = labels.table(history, ["at", "actor", "action", "change", "checkpoint", "reason"])
        wrapping_table(shown, config)
        from isap.outputs.exports import history_csv

        def history_file(username: str) -> bytes:  # the history as the person may read it at the click
            return history_csv(svc.show(username, ref)["history"]).encode()

        offer_download(user, "Download the history (CSV)", history_file, f"{plain(d['reference'])}-history.csv",
                       "text/csv", "history")
    if svc.can(user["username"], Capability.READ_ASSURANCE_REPORTS):
        from isap.outputs.assurance_report import render_report

        cp = st.selectbox("Assurance report for checkpoint", sorted({h["checkpoint"] for h in d["history"]
                                                                     if h["checkpoint"]}), key="report_cp")
        if cp:
            try:
                html = render_report(svc, user["username"], ref, cp)
            except WorkflowError as exc:
                kind_error(exc)
            else:
                offer_download(user, "Download the assurance report (HTML, printable)",
                               lambda _username, html=html: html.encode(),
                               f"{plain(d['reference'])}-checkpoint-{cp}-assurance.html", "text/html",
                               "report-html")
                from isap.outputs.letters import FontsMissing, font_dir, render_letter_pdf, render_report_pdf

                try:
                    font_dir()
                except FontsMissing as exc:
                    st.warning(fmt("PDF downloads are not available here: {}", exc))
                else:
                    # made on click, not on every rerun of the page
                    offer_download(user, "Download the assurance report (PDF)",
                                   lambda username: render_report_pdf(svc, username, ref, cp),
                                   f"{plain(d['reference'])}-checkpoint-{cp}-assurance.pdf", "application/pdf",
                                   "report-pdf")
                    if any(r["checkpoint"] == cp and r["decision"] for r in d["reviews"]):
                        offer_download(user, "Download the decision letter (PDF)",
                                       lambda username: render_letter_pdf(svc, username, ref, cp),
                                       f"{plain(d['reference'])}-checkpoint-{cp}-decision-letter.pdf",
                                       "application/pdf", "letter")


def review_tab(svc: Service, user: dict, d: dict) -> None:
    for r in d["reviews"]:
        dec = r["decision"]
        st.markdown(fmt("**Checkpoint {}**, version {}, lead reviewer {}: {}", r["checkpoint"], r["version"],
                        r.get("lead") or r["reviewer"], labels.code(dec["outcome"]) if dec else "in progress"))
        if r["ratings"]:
            # each rating as a badge in its colour; the words say it too, for anyone who cannot see colour
            template = " ".join(":" + labels.RATING_COLOURS.get(v, "gray") + "-badge[{}: {}]"
                                for v in r["ratings"].values())
            st.markdown(fmt(template, *[w for k, v in r["ratings"].items()
                                        for w in (labels.domain(k), labels.code(v))]))
            rated_by = r.get("rated_by") or {}
            st.caption(fmt("Rated by: {}", "; ".join(f"{labels.domain(k)}: {rated_by.get(k, '')}"
                                                     for k in r["ratings"])))
        if dec:
            if dec.get("countersigned_by"):
                st.caption(fmt("Proposed by {} and countersigned by {}.", dec["proposed_by"],
                               dec["countersigned_by"]))
            st.caption(md(dec["rationale"]))
    panel_section(d)
    for c in d["comments"]:
        st.markdown(fmt("> {}  \n— {}, {}", c["text"], c["author_name"], labels.when(c["at"])))
    panel_actions(svc, user, d)
    ref = d["name"]
    offer = Offer(d)
    decided = latest_decision(d)
    if decided is not None and State(d["state"]) not in (State.SUBMITTED, State.IN_REVIEW):
        st.subheader("What happens now")
        st.markdown(md(decision_words(d, decided)))
        decision_documents(svc, user, d, decided["checkpoint"], "review")
    explanatory_notes(d["findings"])
    if offer.listed(Action.TAKE) or offer.listed(Action.RETURN):
        c1, c2 = st.columns(2)
        if offer.listed(Action.TAKE):
            if c1.button("Take into review", type="primary", **offer.disabled(Action.TAKE)):
                act(svc.take, user["username"], ref, expected_version=d["version"], success="Taken into review.")
            offer.explain(Action.TAKE, c1)
        if offer.listed(Action.RETURN):
            with c2.form("return"):
                reason = st.text_input("Reason to return without a decision",
                                       max_chars=TextKind.REASON.max_chars)
                if st.form_submit_button("Return to commissioner", **offer.disabled(Action.RETURN)):
                    act(svc.return_submission, user["username"], ref, reason, expected_version=d["version"],
                        success="Returned.")
    if offer.listed(Action.DECIDE):
        decision_form(svc, user, d, offer)
    if offer.listed(Action.COMMENT):
        with st.form("comment"):
            text = st.text_area("Comment", key="comment-text", max_chars=TextKind.COMMENT.max_chars)
            if st.form_submit_button("Add comment", **offer.disabled(Action.COMMENT)):
                act(svc.comment, user["username"], ref, text, success="Comment added.")


def explanatory_notes(findings: list[dict]) -> None:
    """The commissioner's notes on the warnings, each with the finding it answers, in words that wrap: beside
    the decision form, where the reviewer weighs them, rather than at the far end of the findings table."""
    noted = [f for f in findings if f.get("acknowledged")]
    if not noted:
        return
    with st.expander(fmt("Explanatory notes from the commissioner ({})", len(noted)), expanded=True):
        for f in noted:
            where = " ".join(str(x) for x in (f["sheet"], f["cell"]) if x)
            st.markdown(fmt("**{}** {}: {}  \nNote: “{}” ({})", f["rule_id"], where, f["message"],
                            f["acknowledged"]["note"], f["acknowledged"]["by_name"]))


# the decision form's parts, as the error summary links to them (the anchors' ids, before each part)
ANCHORS = {"outcome": "decision-outcome", "ratings": "decision-ratings", "rationale": "decision-rationale",
           "conditions": "decision-conditions"}


def anchor(part: str) -> None:
    """A place in the page the error summary's link for `part` goes to (a constant id, nothing from outside)."""
    st.html(f'<span id="{ANCHORS[part]}"></span>')


def decision_form(svc: Service, user: dict, d: dict, offer: Offer) -> None:
    """The lead reviewer's proposed checkpoint decision, which takes effect at a second reviewer's countersignature
    (docs/workflow.md, "The review panel").  A proposal that lacks anything records nothing, and the summary at the
    top of the form lists every missing part at once, each linking to its field, as the GOV.UK error summary does;
    a domain a panel member has rated already needs no rating here."""
    ref = d["name"]
    rated = current_ratings(d)
    with st.form("decide"):
        st.subheader(fmt("Checkpoint {} decision", d["checkpoint"]))
        summary = st.empty()  # filled after the button, above the fields
        anchor("ratings")
        cols = st.columns(len(AssuranceDomain))
        ratings = {dom.value: cols[i].selectbox(md(dom.label), tuple(r.value for r in RATED), index=None,
                                                key=f"rating-{dom.value}", placeholder="Rate",
                                                format_func=labels.code)
                   for i, dom in enumerate(AssuranceDomain)}
        # no default: the reviewer chooses the outcome every time
        anchor("outcome")
        outcome = st.selectbox("Outcome", tuple(o.value for o in Outcome), index=None, key="outcome",
                               format_func=labels.code, placeholder="Choose the outcome")
        anchor("rationale")
        rationale = st.text_area("Rationale", key="rationale", max_chars=TextKind.RATIONALE.max_chars)
        anchor("conditions")
        st.markdown("**Conditions** (only with the outcome Approved with conditions)")
        st.caption("Type in the last row to add a condition. By keyboard: Tab into the table, move with the arrow "
                   "keys, press Enter to type in a cell, Enter again to keep it; the due date opens a date "
                   "picker.")
        conditions = st.data_editor(
            pd.DataFrame({"text": pd.Series(dtype="str"), "owner": pd.Series(dtype="str"),
                          "due": pd.Series(dtype="datetime64[ns]")}),
            num_rows="dynamic", hide_index=True, width="stretch", key="conditions", placeholder="",
            alt="Conditions of the decision: one row each, with the condition, its owner and its due date",
            column_config={
                "text": st.column_config.TextColumn("Condition", width="large",
                                                    max_chars=TextKind.CONDITION.max_chars),
                "owner": st.column_config.TextColumn("Owner", width="medium",
                                                     max_chars=TextKind.CONDITION_OWNER.max_chars),
                "due": st.column_config.DateColumn("Due date", format="D MMM YYYY",
                                                   min_value=dt.date.today()),
            })
        st.caption("A domain a panel member has rated needs no rating here; a rating here replaces theirs. The "
                   "decision takes effect when a second reviewer countersigns it.")
        if not st.form_submit_button("Propose decision", type="primary", **offer.disabled(Action.DECIDE)):
            return
        conds = condition_inputs(conditions)
        given = {k: v for k, v in ratings.items() if v}
        todo = decision_form_problems(Outcome(outcome) if outcome else None, {**rated, **given}, rationale, conds)
        if todo:
            with summary.container():  # the summary has the keyboard's focus, so its links are the next Tab away
                st.error(fmt(error_summary(todo), *(words for _, words in todo)))
                focus_message()
            return
        act(svc.propose, user["username"], ref, outcome, given, rationale, conds, expected_version=d["version"],
            success="Decision proposed: it waits for a second reviewer's countersignature.")


def current_ratings(d: dict) -> dict[str, str]:
    """The ratings the panel has given so far in the review of the current checkpoint, by domain."""
    review = d["reviews"][-1] if d["reviews"] else None
    if review is None or review["decision"] or review["checkpoint"] != d["checkpoint"]:
        return {}
    return dict(review["ratings"])


def error_summary(todo: list[tuple[str, str]]) -> str:
    """The GOV.UK error summary's Markdown template: a heading, then each missing part as a link to its field
    (the anchors are constants; the words go in through `fmt`)."""
    return "**There is a problem**\n\n" + "\n".join(f"- [{{}}](#{ANCHORS[part]})" for part, _ in todo)


def panel_section(d: dict) -> None:
    """The review panel: who leads, who declared what, and the decision that waits for countersignature."""
    panel = d.get("panel") or {}
    declarations = panel.get("declarations") or []
    if not (declarations or panel.get("proposed") or panel.get("lead")):
        return
    st.subheader("Review panel")
    if panel.get("lead"):
        st.markdown(fmt("Lead reviewer: {}", panel.get("lead_name") or panel["lead"]))
    for x in declarations:
        body = labels.code(x["body"]) if x.get("body") else "no body recorded"
        if x["conflict"]:
            st.markdown(fmt("- {} ({}): declared a conflict of interest with {}, so takes no part. {}", x["name"],
                            body, x["organisation"], x["note"] or ""))
        else:
            st.markdown(fmt("- {} ({}): no conflict of interest declared, {}", x["name"], body,
                            labels.when(x["at"])))
    for p in panel.get("proposed") or []:
        if p["status"] == "waiting":
            st.info(fmt("Waiting for countersignature: {} proposed {}. {}", p["proposer"], labels.code(p["outcome"]),
                        p["rationale"]))
            for n, c in enumerate(p["conditions"], start=1):
                st.markdown(fmt("{}. {} (owner {}, due {})", n, c["text"], c["owner"], labels.day(c["due_date"])))
        elif p["status"] == "sent_back":
            st.caption(fmt("Sent back by {}: {} (the proposal was {})", p["closed_by"] or "", p["note"] or "",
                           labels.code(p["outcome"])))


def panel_actions(svc: Service, user: dict, d: dict) -> None:
    """Declare interests, rate a domain, countersign or send back: as the state machine offers them to this
    person; what waits for someone else is said in words, not shown as a button."""
    ref, offer = d["name"], Offer(d)
    if offer.listed(Action.DECLARE):
        # after declaring no conflict, only a conflict that has arisen since is left to declare
        conflict_only = offer.label(Action.DECLARE) == CONFLICT_ARISEN
        with st.form("declare"):
            if conflict_only:
                st.markdown(fmt("**{}**", CONFLICT_ARISEN))
                conflict = "I have a conflict of interest"
            else:
                st.markdown("**Declare your interests in this proposal**")
                conflict = st.radio("Declaration", ("I have no conflict of interest",
                                                    "I have a conflict of interest"), key="declare-kind")
            organisation = st.text_input("The organisation the conflict is with", key="declare-org",
                                         max_chars=TextKind.CONFLICT_WITH.max_chars)
            note = st.text_area("What the conflict is", key="declare-note",
                                max_chars=TextKind.DECLARATION.max_chars)
            if st.form_submit_button("Declare the conflict" if conflict_only else "Declare",
                                     **offer.disabled(Action.DECLARE)):
                has_conflict = conflict.endswith("a conflict of interest")
                act(svc.declare, user["username"], ref, organisation if has_conflict else None,
                    note if has_conflict else None, conflict=has_conflict, success="Declaration recorded.")
        offer.explain(Action.DECLARE)
    if offer.listed(Action.RATE):
        with st.form("rate"):
            st.markdown("**Rate a domain** (your name goes on the rating)")
            c1, c2 = st.columns(2)
            domain = c1.selectbox("Domain", tuple(dom.value for dom in AssuranceDomain), key="rate-domain",
                                  format_func=labels.domain)
            # no default, as in the decision form: a rating is the reviewer's judgement, never a starting Red
            rating = c2.selectbox("Rating", tuple(r.value for r in RATED), index=None, key="rate-rating",
                                  placeholder="Choose a rating", format_func=labels.code)
            if st.form_submit_button("Rate", **offer.disabled(Action.RATE)):
                if rating is None:
                    st.error("Nothing was rated: choose the rating.")
                    focus_message()
                else:
                    act(svc.rate, user["username"], ref, domain, rating, success="Rating recorded.")
        offer.explain(Action.RATE)
    if offer.listed(Action.COUNTERSIGN) or offer.listed(Action.SEND_BACK):
        c1, c2 = st.columns(2)
        if offer.listed(Action.COUNTERSIGN):
            if c1.button("Countersign the decision", type="primary", **offer.disabled(Action.COUNTERSIGN)):
                act(svc.countersign, user["username"], ref, expected_version=d["version"],
                    success="Countersigned: the decision has taken effect. " + after_countersignature(d))
            offer.explain(Action.COUNTERSIGN, c1)
        if offer.listed(Action.SEND_BACK):
            with c2.form("send-back"):
                note = st.text_area("Note to the lead reviewer", key="send-back-note",
                                    max_chars=TextKind.SEND_BACK_NOTE.max_chars)
                if st.form_submit_button("Send the decision back", **offer.disabled(Action.SEND_BACK)):
                    act(svc.send_back, user["username"], ref, note, expected_version=d["version"],
                        success="Sent back to the lead reviewer.")
    for words in offer.waiting(Action.TAKE, Action.RATE, Action.DECIDE, Action.COUNTERSIGN, Action.SEND_BACK):
        st.info(md(words))


def after_countersignature(d: dict) -> str:
    """What happens now, once the decision waiting for countersignature takes effect."""
    waiting = next((p for p in (d.get("panel") or {}).get("proposed") or [] if p["status"] == "waiting"), None)
    if waiting is None:
        return ""
    state, cp = outcome_effect(Outcome(waiting["outcome"]), d["checkpoint"])
    return after_decision(state, cp, d["name"], d.get("commissioner_name") or d["commissioner"])


def condition_inputs(table: pd.DataFrame) -> list[ConditionInput] | str:
    """The conditions typed into the decision's table, or what is missing from one of them, in words."""
    out = []
    for i, row in enumerate(table.itertuples(index=False), start=1):
        text = "" if pd.isna(row.text) else str(row.text).strip()
        owner = "" if pd.isna(row.owner) else str(row.owner).strip()
        due = None if pd.isna(row.due) else pd.Timestamp(row.due).date()
        if not (text or owner or due):
            continue  # an empty row the table editor left behind
        lacking = [what for what, there in (("its text", text), ("an owner", owner), ("a due date", due))
                   if not there]
        if lacking:
            return f"Condition {i} needs {wording.listing(lacking)}."
        out.append(ConditionInput(text, owner, due))
    return out


def decision_form_problems(outcome: Outcome | None, ratings: dict[str, str], rationale: str | None,
                           conds: list[ConditionInput] | str) -> list[tuple[str, str]]:
    """Every part the decision form lacks, as (field, words), for its error summary.  A condition half typed
    is a condition all the same: the summary then asks for what it lacks, not for "at least one condition"."""
    typed = 1 if isinstance(conds, str) else len(conds)
    todo = [(g.part, g.todo) for g in decision_gaps(outcome, ratings, rationale, typed)]
    if isinstance(conds, str):
        todo.append(("conditions", conds))
    return todo


# The proposal page's tabs, in order, and where each workflow action's control is: a tab of this page, or the
# title of another page.  Every action of the state machine's table has one (tests/test_guards.py checks it
# against the enum and the tab's code).
TABS = dict(zip(TAB_NAMES, (findings_tab, versions_tab, evidence_tab, conditions_tab, queries_tab, review_tab,
                            timeline_tab, history_tab), strict=True))
CONTROLS: dict[Action, str] = {
    Action.UPLOAD: "Upload", Action.ACKNOWLEDGE: "Findings", Action.SUBMIT: "Findings", Action.WITHDRAW: "Findings",
    Action.REQUEST_WAIVER: "Findings", Action.GRANT_WAIVER: "Findings", Action.REFUSE_WAIVER: "Findings",
    Action.ATTACH_EVIDENCE: "Evidence", Action.ANSWER_CONDITION: "Conditions",
    Action.DISCHARGE_CONDITION: "Conditions", Action.CARRY_FORWARD_CONDITION: "Conditions",
    Action.RAISE_QUERY: "Queries", Action.ANSWER_QUERY: "Queries", Action.FOLLOW_UP_QUERY: "Queries",
    Action.RESOLVE_QUERY: "Queries", Action.COMMENT: "Review", Action.TAKE: "Review", Action.RETURN: "Review",
    Action.DECIDE: "Review", Action.DECLARE: "Review", Action.RATE: "Review", Action.COUNTERSIGN: "Review",
    Action.SEND_BACK: "Review", Action.PLAN_SUBMISSION: "Timeline", Action.AGREE_PLAN: "Timeline",
}


if __name__ == "__main__":  # Streamlit runs a page's file as a script; imported, it only defines the page
    guarded(proposal_page)()

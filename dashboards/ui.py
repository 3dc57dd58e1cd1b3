"""The dashboard's views: each page function renders what the service layer returns.

Pages render what the service layer returns and
send every action back through it: roles, organisation scoping and the
workflow's guards are enforced there, not here, so a commissioner never sees
another organisation's proposal whatever they type into the URL.

Everything that came from a workbook or a person is shown inert: through
`dashboards.render` (escaped Markdown) or elements that do not interpret
Markdown (dataframe cells, selectbox options).  Every page runs inside
`guarded`, so an unexpected failure is a short message on the page and a
traceback in the server's log, never a traceback in someone's browser.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
import math
import uuid
from typing import Callable

import pandas as pd
import streamlit as st

from dashboards import labels
from dashboards.render import fmt, md, plain
from isap.review.lifecycle import Action, AssuranceDomain, Outcome, Rating, State, condition_due_soon, condition_overdue
from isap.review.service import ConditionInput, Service, StoreError, WorkflowError, diff_findings
from isap.rules.registry import all_rules
from isap.rules.sources import readable

PICK = "proposal_pick"
REF, TAB = "ref", "tab"  # the query parameters of a proposal's link: /proposal?ref=ISAP-2026-014&tab=Conditions
TAB_NAMES = ("Findings", "Versions", "Conditions", "Review", "History")
RATED = (Rating.RED, Rating.AMBER, Rating.GREEN)
# Streamlit's tables wrap long text only in rows taller than 4rem (64 px), so a row of 76 px shows three
# lines of text instead of cutting it mid-word; selecting a cell still shows all of it.
WRAPPING_ROW = 76
# Streamlit's own height for a table is ten rows of its default 35 px: about four and a half rows of
# WRAPPING_ROW.  Ours show up to ten whole rows (the header is one default row high; 3 px of borders).
SHOWN_ROWS, HEADER_ROW, TABLE_BORDERS = 10, 35, 3
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
MIB = 1024 * 1024
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
log = logging.getLogger("isap.dashboard")


def guarded(page):
    """Run a page; an unexpected failure becomes a short, plain message here and a full traceback in the log.

    Streamlit's own control flow (`st.rerun`, `st.stop`) passes through: it is
    a BaseException, not an Exception.
    """
    @functools.wraps(page)
    def run(*args, **kwargs):
        try:
            return page(*args, **kwargs)
        except Exception:  # noqa: BLE001 - the boundary of a page: nothing unexpected reaches the browser
            incident = uuid.uuid4().hex[:8]
            log.exception("dashboard page %s failed (incident %s)", getattr(page, "__name__", "?"), incident)
            st.error(fmt("Something went wrong on this page, and it has been logged (reference {}). "
                         "Nothing you saved is lost: reload the page, or try again later.", incident))
    return run


@st.cache_resource
def service() -> Service:
    from isap.composition import service as wired

    return wired()


@st.cache_resource
def start_orchestration():
    """Start Prefect once per dashboard process, in the background, so the first upload need not wait for it."""
    import gc
    import threading

    from isap.orchestration.dispatch import warm_orchestration

    def warm() -> None:
        warm_orchestration()
        # What is loaded by now lives as long as the process: Python's collector need not walk it again
        # (a full collection drops from about 0.15 s to next to nothing).
        gc.freeze()

    thread = threading.Thread(target=warm, name="isap-prefect-warm-up", daemon=True)
    thread.start()
    return thread


@st.cache_resource
def checking_modules() -> tuple[str, ...]:
    """The modules the children that check uploads import once: read from the installed rules' entry points once
    per process, not on every page run (scanning the entry points costs tens of milliseconds)."""
    from isap.rules.engine import checking_modules as installed

    return installed()


def kind_error(exc: Exception) -> None:
    """Refused actions in plain, kind words."""
    from isap.review.service import Conflict

    if isinstance(exc, Conflict):
        st.warning("Someone else changed this proposal while you were looking at it. "
                   "The page has the latest now; please check and try again.")
    else:
        st.error(fmt("That could not be done: {}", exc))


def act(fn, *args, success: str, **kwargs) -> bool:
    try:
        fn(*args, **kwargs)
    except (WorkflowError, StoreError) as exc:
        kind_error(exc)
        return False
    st.session_state["flash"] = success
    st.rerun()
    return True


def single_sign_on() -> bool:
    """True when OpenID Connect is configured (an [auth] section in Streamlit's secrets)."""
    try:
        return "auth" in st.secrets
    except Exception:  # noqa: BLE001 - no secrets file, or an unreadable one: local accounts only
        return False


def me() -> dict | None:
    if not single_sign_on():
        from dashboards import session

        return session.current()  # a local sign-in: the server-side session in the browser's cookie
    user = st.session_state.get("user")
    if user is None and st.user.get("is_logged_in"):
        # Who someone is comes from the identity provider; what they may do comes from isap's account.
        try:
            account = service().identify(st.user.get("email"), st.user.get("email_verified"))
        except WorkflowError as exc:
            st.session_state["sign_in_refused"] = str(exc)
            return None
        user = {"username": account.username, "role": account.role, "sso": True}
        st.session_state["user"] = user
    return user


# ---------------------------------------------------------------------------- sign-in
def sign_in_page() -> None:
    st.title("ISAP assurance")
    st.markdown("Sign in to check and submit ICP proposals, or to review them.")
    if single_sign_on():
        refused = st.session_state.get("sign_in_refused")
        if refused and st.user.get("is_logged_in"):
            st.error(fmt("You are signed in with your organisation's account, but cannot use ISAP yet: {}.", refused))
            if st.button("Sign out"):
                st.session_state.pop("sign_in_refused", None)
                st.logout()
            return
        if st.button("Sign in with your organisation's account", type="primary"):
            st.login()
        return
    with st.form("sign_in"):
        # named for what they hold, so browsers and password managers fill them (WCAG 2.2, 1.3.5)
        username = st.text_input("User name", key="username", autocomplete="username")
        password = st.text_input("Password", type="password", key="password", autocomplete="current-password")
        submitted = st.form_submit_button("Sign in")
    from dashboards import session
    from isap.review.service import SignInRefused

    if submitted:
        try:
            user, token = service().sign_in(username.strip(), password)
        except SignInRefused as exc:
            st.error(md(str(exc)))
        else:
            session.start(user, token)
            st.rerun()
    elif session.ended_reason():
        st.info(md(session.ended_reason()))


def sign_out() -> None:
    user = st.session_state.get("user")
    if user and user.get("sso"):
        st.session_state.pop("user", None)
        st.logout()  # the browser goes to the identity provider's sign-out; a rerun here could race it
        st.stop()
    from dashboards import session

    session.sign_out()
    st.rerun()


# ---------------------------------------------------------------------------- shared views
def findings_view(findings: list[dict], key: str) -> None:
    if not findings:
        st.success("No findings: the workbook meets every rule checked.")
        return
    frame = pd.DataFrame(findings)
    if "acknowledged" in frame:
        # A dataframe cell shows text as it is; the note is flattened so that it is shown, not a dict.
        frame["acknowledged"] = [plain(f"{a.get('note', '')} ({a.get('by', '')})") if isinstance(a, dict) else ""
                                 for a in frame["acknowledged"]]
    frame["order"] = frame["severity"].map(SEVERITY_ORDER)
    if "source" in frame:
        frame["source"] = frame["source"].map(readable)
    findings_chart(frame)
    for domain, group in sorted(frame.groupby("domain"), key=lambda g: g[1]["order"].min()):
        errors = int((group["severity"] == "error").sum())
        warnings = int((group["severity"] == "warning").sum())
        with st.expander(fmt("{}: {} error(s), {} warning(s)", labels.domain(domain), errors, warnings),
                         expanded=errors > 0):
            ordered = group.sort_values(["order", "sheet", "row"]).copy()
            ordered["severity"] = ordered["severity"].map(lambda v: labels.SEVERITIES.get(v, v))
            shown, config = labels.table(ordered, ["severity", "rule_id", "sheet", "cell", "message", "source",
                                                   "acknowledged"])
            wrapping_table(shown, config, key=f"{key}-{domain}")


SEVERITY_COLOURS = {"Errors": "#d5281b", "Warnings": "#ffb81c"}  # NHS red and warm yellow, with a legend


def findings_chart(frame: pd.DataFrame) -> None:
    """Findings per domain, errors and warnings stacked in their own colours, with a legend."""
    import altair as alt

    counts = (frame.assign(Domain=frame["domain"].map(labels.domain),
                           Severity=frame["severity"].map({"error": "Errors", "warning": "Warnings"}))
              .dropna(subset=["Severity"]).groupby(["Domain", "Severity"]).size().reset_index(name="Findings"))
    if counts.empty:
        return
    chart = alt.Chart(counts).mark_bar().encode(
        x=alt.X("Domain:N", axis=alt.Axis(labelAngle=0, labelLimit=200)),
        y=alt.Y("Findings:Q", axis=alt.Axis(tickMinStep=1, format="d")),
        color=alt.Color("Severity:N", scale=alt.Scale(domain=list(SEVERITY_COLOURS),
                                                      range=list(SEVERITY_COLOURS.values())),
                        legend=alt.Legend(orient="top", title=None)),
        tooltip=["Domain", "Severity", "Findings"],
    ).properties(height=220)
    st.altair_chart(chart, width="stretch")


class Offer:
    """The workflow actions the state machine offers the signed-in person on one proposal (from `Service.show`).

    A page asks this, never the proposal's state or the person's role: an
    action that is not listed is not shown; one listed but not allowed yet is
    shown disabled, with the reason as its help and a caption beside it.
    """

    def __init__(self, shown: dict):
        self._options = {Action(o["action"]): o for o in shown.get("actions", [])}

    def listed(self, action: Action) -> bool:
        return action in self._options

    def allowed(self, action: Action) -> bool:
        return bool(self._options.get(action, {}).get("allowed"))

    def reason(self, action: Action) -> str | None:
        return self._options.get(action, {}).get("reason")

    def disabled(self, action: Action) -> dict:
        """Keyword arguments for the action's button: disabled with its reason when not allowed yet."""
        if self.allowed(action):
            return {"disabled": False}
        return {"disabled": True, "help": md(self.reason(action))}

    def explain(self, action: Action, where=st) -> None:
        """Say why a listed action cannot be done yet."""
        if self.listed(action) and not self.allowed(action):
            where.caption(fmt("{}: {}", action.label, self.reason(action)))


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


def open_proposal(ref: str, tab: str | None = None) -> None:
    """Go to a proposal's page; the address bar then reads `/proposal?ref=…` (and `&tab=…`)."""
    params = {REF: ref} | ({TAB: tab} if tab else {})
    st.switch_page("views/proposal.py", query_params=params)


def table_height(rows: int) -> int:
    """The height in pixels of a table of `rows` wrapping rows: all of them, up to SHOWN_ROWS, then it scrolls."""
    return HEADER_ROW + max(1, min(rows, SHOWN_ROWS)) * WRAPPING_ROW + TABLE_BORDERS


def wrapping_table(shown: pd.DataFrame, config: dict, **kwargs):
    """A table of labelled columns whose rows wrap long text, as tall as up to ten of those rows."""
    return st.dataframe(shown, hide_index=True, width="stretch", column_config=config, row_height=WRAPPING_ROW,
                        height=table_height(len(shown)), **kwargs)


def row_opens_caption() -> None:
    """Tell people how a row opens its proposal, by mouse and by keyboard (Shift+Space is the table's own key)."""
    st.caption("Select a row to open its proposal: click the box at the start of the row, or, by keyboard, Tab into "
               "the table, move to the row with the arrow keys and press Shift+Space.")


def opened_row(event, frame: pd.DataFrame) -> str | None:
    """The reference of the row someone selected in a table, if they selected one."""
    rows = getattr(getattr(event, "selection", None), "rows", None) or []
    return str(frame.iloc[rows[0]]["name"]) if rows else None


def proposal_page() -> None:
    user = me()
    svc = service()
    ref = pick_proposal(svc.proposal_choices(user["username"]))
    if ref is None:
        return
    d = svc.show(user["username"], ref)
    st.header(md(d["reference"]))
    st.caption(md(d["title"]))
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("State", md(labels.code(d["state"])))
    c2.metric("Checkpoint", md(d["checkpoint"]))
    c3.metric("Versions", len(d["versions"]))
    # the organisation's code fits the metric; its name, which people know it by, goes in the metric's help
    c4.metric("Lead commissioner", md(d["commissioner"]), help=md(d.get("commissioner_name") or d["commissioner"]))
    contact = d["contact"]
    # where the proposal's messages and decision letters go, and, beside it, the last change of it
    if contact["address"]:
        st.caption(fmt("Contact: {}", contact["address"]))
    else:
        st.caption("Contact: none that isap sends mail to (see the latest version's findings)")
    if contact["change"]:
        st.caption(fmt("The contact changed on {}: {}.", labels.day(contact["changed_at"]), contact["change"]))
    offer = Offer(d)
    st.info(md(d["next_step"]))
    # shown as code: copied exactly (no mark-up, nothing inserted to stop it becoming a link), with a copy button
    st.caption("Link to this proposal, to copy and share:")
    st.code(proposal_link(ref), language=None, wrap_lines=True)
    asked_tab = st.query_params.get(TAB)
    if asked_tab in TAB_NAMES and st.session_state.get(TAB) != asked_tab:
        st.session_state[TAB] = asked_tab

    def follow_tab() -> None:
        st.query_params[TAB] = st.session_state[TAB]

    tabs = st.tabs(["Findings", "Versions", "Conditions", "Review", "History"], key=TAB, on_change=follow_tab)
    with tabs[0]:
        latest = d["versions"][-1]["number"] if d["versions"] else None
        if latest:
            st.subheader(fmt("Version {}", latest))
        findings_view(d["findings"], "latest")
        if offer.allowed(Action.ACKNOWLEDGE):
            pending = [f for f in d["findings"] if f["severity"] == "warning" and not f["acknowledged"]]
            st.subheader("Acknowledge warnings")
            for i, f in enumerate(pending):
                with st.form(f"ack-{i}"):
                    st.markdown(fmt("**{}** {} {}: {}", f["rule_id"], f["sheet"] or "", f["cell"] or "",
                                    f["message"]))
                    note = st.text_area("Explanatory note", key=f"ack-note-{i}")
                    if st.form_submit_button("Acknowledge"):
                        act(svc.acknowledge, user["username"], ref, f["rule_id"], note, finding_id=f["id"],
                            success=f"{f['rule_id']} acknowledged.")
        c1, c2 = st.columns(2)
        if offer.listed(Action.SUBMIT):
            if c1.button(fmt("Submit for checkpoint {}", d["checkpoint"]), type="primary", key="submit",
                         **offer.disabled(Action.SUBMIT)):
                act(svc.submit, user["username"], ref, expected_version=d["version"], success=f"{ref} submitted.")
            offer.explain(Action.SUBMIT, c1)
        if offer.listed(Action.WITHDRAW):
            if c2.button("Withdraw proposal", key="withdraw", **offer.disabled(Action.WITHDRAW)):
                act(svc.withdraw, user["username"], ref, expected_version=d["version"], success=f"{ref} withdrawn.")
            offer.explain(Action.WITHDRAW, c2)
    with tabs[1]:
        if d["versions"]:
            shown, config = labels.table(pd.DataFrame(d["versions"]), ["number", "checkpoint", "errors", "warnings",
                                                                       "filename", "uploaded_by", "uploaded_at",
                                                                       "sha256"], times=("uploaded_at",))
            st.dataframe(shown, hide_index=True, width="stretch", column_config=config)
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
                        wrapping_table(shown, config)
            # keyed by proposal and latest version, so a choice made elsewhere never outlives a new version
            number = st.selectbox("Download version", numbers, index=len(numbers) - 1,
                                  key=f"dl-version-{ref}-{numbers[-1]}")
            name = next(v["filename"] for v in d["versions"] if v["number"] == number)

            def original(username: str, number: int = number) -> bytes:  # read on click, as the person
                return svc.version_bytes(username, ref, number)[1]

            offer_download(user, "Download the original workbook", original, plain(name), XLSX, "original")
    with tabs[2]:
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
            if c["status"] != "open":
                continue  # closed conditions offer nothing more
            if offer.listed(Action.ANSWER_CONDITION):
                with st.form(f"answer-{c['id']}"):
                    text = st.text_area("Your answer", key=f"answer-text-{c['id']}")
                    if st.form_submit_button("Send answer", **offer.disabled(Action.ANSWER_CONDITION)):
                        act(svc.answer_condition, user["username"], ref, c["id"], text, success="Answer sent.")
            closing = [a for a in (Action.DISCHARGE_CONDITION, Action.CARRY_FORWARD_CONDITION) if offer.listed(a)]
            if closing:
                with st.form(f"close-{c['id']}"):
                    note = st.text_input("Note", key=f"close-note-{c['id']}")
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
    with tabs[3]:
        review_tab(svc, user, d)
    with tabs[4]:
        if d["history"]:
            cols = ["at", "actor", "action", "from_state", "to_state", "reason"]
            history = pd.DataFrame(d["history"])
            history["action"] = history["action"].map(labels.event)
            shown, config = labels.table(history, cols, codes=("from_state", "to_state"), times=("at",))
            wrapping_table(shown, config)
            from isap.outputs.exports import to_csv

            def history_csv(username: str) -> bytes:  # the history as the person may read it at the click
                return to_csv(svc.show(username, ref)["history"], cols).encode()

            offer_download(user, "Download the history (CSV)", history_csv, f"{plain(d['reference'])}-history.csv",
                           "text/csv", "history")
        if user["role"] in ("reviewer", "admin"):
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
        st.markdown(fmt("**Checkpoint {}**, version {}, reviewer {}: {}", r["checkpoint"], r["version"],
                        r["reviewer"], labels.code(dec["outcome"]) if dec else "in progress"))
        if r["ratings"]:
            # each rating as a badge in its colour; the words say it too, for anyone who cannot see colour
            template = " ".join(":" + labels.RATING_COLOURS.get(v, "gray") + "-badge[{}: {}]"
                                for v in r["ratings"].values())
            st.markdown(fmt(template, *[w for k, v in r["ratings"].items()
                                        for w in (labels.domain(k), labels.code(v))]))
        if dec:
            st.caption(md(dec["rationale"]))
    for c in d["comments"]:
        st.markdown(fmt("> {}  \n— {}, {}", c["text"], c["author"], labels.when(c["at"])))
    ref = d["name"]
    offer = Offer(d)
    if offer.listed(Action.TAKE) or offer.listed(Action.RETURN):
        c1, c2 = st.columns(2)
        if offer.listed(Action.TAKE):
            if c1.button("Take into review", type="primary", **offer.disabled(Action.TAKE)):
                act(svc.take, user["username"], ref, expected_version=d["version"], success="Taken into review.")
            offer.explain(Action.TAKE, c1)
        if offer.listed(Action.RETURN):
            with c2.form("return"):
                reason = st.text_input("Reason to return without a decision")
                if st.form_submit_button("Return to commissioner", **offer.disabled(Action.RETURN)):
                    act(svc.return_submission, user["username"], ref, reason, expected_version=d["version"],
                        success="Returned.")
    if offer.listed(Action.DECIDE):
        with st.form("decide"):
            st.subheader(fmt("Checkpoint {} decision", d["checkpoint"]))
            cols = st.columns(len(AssuranceDomain))
            ratings = {dom.value: cols[i].selectbox(md(dom.label), tuple(r.value for r in RATED), index=None,
                                                    key=f"rating-{dom.value}", placeholder="Rate",
                                                    format_func=labels.code)
                       for i, dom in enumerate(AssuranceDomain)}
            # no default: the reviewer chooses the outcome every time
            outcome = st.selectbox("Outcome", tuple(o.value for o in Outcome), index=None, key="outcome",
                                   format_func=labels.code, placeholder="Choose the outcome")
            rationale = st.text_area("Rationale", key="rationale")
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
                    "text": st.column_config.TextColumn("Condition", width="large", max_chars=2000),
                    "owner": st.column_config.TextColumn("Owner", width="medium", max_chars=200),
                    "due": st.column_config.DateColumn("Due date", format="D MMM YYYY",
                                                       min_value=dt.date.today()),
                })
            if st.form_submit_button("Record decision", type="primary", **offer.disabled(Action.DECIDE)):
                conds = condition_inputs(conditions)
                if outcome is None:
                    st.error("Choose the outcome of the decision.")
                elif isinstance(conds, str):
                    st.error(md(conds))
                else:
                    act(svc.decide, user["username"], ref, outcome, {k: v for k, v in ratings.items() if v},
                        rationale, conds, expected_version=d["version"], success="Decision recorded.")
    if offer.listed(Action.COMMENT):
        with st.form("comment"):
            text = st.text_area("Comment", key="comment-text")
            if st.form_submit_button("Add comment", **offer.disabled(Action.COMMENT)):
                act(svc.comment, user["username"], ref, text, success="Comment added.")


def condition_inputs(table: pd.DataFrame) -> list[ConditionInput] | str:
    """The conditions typed into the decision's table, or what is missing from one of them, in words."""
    out = []
    for i, row in enumerate(table.itertuples(index=False), start=1):
        text = "" if pd.isna(row.text) else str(row.text).strip()
        owner = "" if pd.isna(row.owner) else str(row.owner).strip()
        due = None if pd.isna(row.due) else pd.Timestamp(row.due).date()
        if not (text or owner or due):
            continue  # an empty row the table editor left behind
        if not (text and owner and due):
            return f"Condition {i} needs its text, an owner and a due date."
        out.append(ConditionInput(text, owner, due))
    return out


# ---------------------------------------------------------------------------- commissioner pages
def my_proposals_page() -> None:
    user = me()
    st.title("My proposals")
    rows = service().list_proposals(user["username"])
    if not rows:
        st.info("No proposals yet: download the template, fill it in and upload it.")
        return
    frame = pd.DataFrame(rows)
    frame["next step"] = [service().next_step(user["username"], r["name"]) for r in rows]
    # reference, state and the next step first: what matters is on screen at 1280 px
    shown, config = labels.table(frame, ["reference", "state", "next step", "title", "checkpoint", "latest_version"],
                                 codes=("state",))
    row_opens_caption()
    event = wrapping_table(shown, config, on_select="rerun", selection_mode="single-row", key="mine-table")
    if (ref := opened_row(event, frame)) is not None:
        open_proposal(ref)


def upload_limit_mb(max_file_bytes: int) -> int:
    """Streamlit's upload limit (whole megabytes) that lets every file the policy accepts through."""
    return max(1, math.ceil(max_file_bytes / MIB))


def upload_page() -> None:
    from isap.orchestration.dispatch import assure_dashboard_upload, checking_queue_text

    user = me()
    svc = service()
    limit = svc.policy.max_file_bytes
    st.title("Upload a workbook")
    st.markdown("Drop your ICP proposal workbook here. It is checked at once; you can upload new versions until it "
                "is clean, then submit it from the proposal page.")
    file = st.file_uploader(fmt("Workbook (.xlsx), at most {}", size_text(limit)), type=["xlsx"], key="uploader",
                            max_upload_size=upload_limit_mb(limit))
    if file is None:
        return
    data = file.getvalue()
    if len(data) > limit:
        st.error(fmt("{} is {}, larger than the {} a workbook may be. Nothing was kept; please upload a smaller "
                     "file.", plain(file.name), size_text(len(data)), size_text(limit)))
        return
    # Told apart by content, never by name and size: a changed file of the same name and size is a new upload.
    marker = hashlib.sha256(data).hexdigest()
    if st.session_state.get("last_upload_marker") != marker:
        try:
            with st.spinner(checking_queue_text(user["username"], svc.policy)):
                upload = assure_dashboard_upload(svc, user["username"], file.name, data)
        except (WorkflowError, StoreError) as exc:
            st.session_state.pop("last_upload_marker", None)
            kind_error(exc)
            return
        st.session_state["last_upload_marker"] = marker
        st.session_state["last_upload"] = upload
    upload = st.session_state["last_upload"]
    if upload.queued:
        queued_upload(upload, user["username"], file.name)
        return
    upload_outcome(upload, data, file.name)


def queued_upload(upload, username: str, filename: str) -> None:
    """An upload a worker has not finished yet: say so, and show the result here as soon as it lands."""
    from isap.orchestration.dispatch import dashboard_upload_result

    st.info(fmt("{} is saved and queued for checking: many uploads are being checked just now. Its findings "
                "will show here as soon as they are ready; you can also leave this page and find the version on "
                "the proposal later.", plain(filename)))

    @st.fragment(run_every=2.0)
    def wait_for_it() -> None:
        try:
            result = dashboard_upload_result(service(), username, upload.staged_id)
        except (WorkflowError, StoreError) as exc:
            kind_error(exc)
            return
        if result is not None:
            upload.result = result
            st.rerun()
        st.caption("Still waiting for a checker…")

    wait_for_it()


def upload_outcome(upload, data: bytes, filename: str) -> None:
    result, as_flow = upload.result, upload.as_flow
    if not as_flow:
        # said in a commissioner's words: nothing for them to do (the log says what happened, for operators)
        st.caption("Checked at once, without waiting for the background service (it is starting up or not "
                   "answering). Your upload is saved, and the result is the same.")
    if result.reference:
        st.session_state["current_ref"] = uploaded_name(result)
        if result.message and not result.duplicate:
            # the checkpoint mismatch, at once and first, in the words the CLI and the notification use
            st.error(md(result.message[:1].upper() + result.message[1:]))
        what = ("is identical to version" if result.duplicate else "saved as version")
        # coloured by outcome: errors red, warnings amber, clean green
        shown = st.error if result.errors else st.warning if result.warnings else st.success
        if result.needs_a_second_look:
            # the file of an earlier version again, or a proposal closed to new versions: not "fixed", however clean
            st.warning(md(result.message))
        else:
            shown(fmt("{} {} {}: {} error(s), {} warning(s).", result.reference, what, result.version,
                      result.errors, result.warnings))
        if result.retitled is not None:
            st.info(fmt("This version changed the proposal's title from “{}” to “{}”.", *result.retitled))
        if st.button(fmt("Open {}", result.reference), key="open-uploaded"):
            open_proposal(uploaded_name(result))
    else:
        st.error(md(result.message))
    findings_view(result.report.get("findings", []), "upload")
    if result.report.get("findings") and result.errors + result.warnings:
        annotated_download(data, result.report, filename)


def annotated_download(data: bytes, report: dict, filename: str) -> None:
    """Offer the workbook with its findings marked; a workbook the annotation cannot read gets a plain message.

    The annotation reads the uploaded bytes again, in a limited child as the
    check does (never in this server process), so any failure there is this
    download's, never the page's.
    """
    from isap.outputs.annotated_copy import AnnotateError, annotate_bytes
    from isap.rules.engine import CheckReport

    try:
        annotated = annotate_bytes(data, CheckReport.from_dict(report), service().policy)
    except Exception as exc:  # noqa: BLE001 - hostile bytes may fail in any parser; the check's result stands
        if isinstance(exc, AnnotateError):  # expected: a file the check could not assess (not an alarm)
            log.info("no annotated copy of %r: %s", plain(filename), exc)
        else:
            log.warning("annotating %r failed", plain(filename), exc_info=True)
        st.caption("A copy of your workbook with the findings marked cannot be made for this file; the findings "
                   "above are complete.")
        return
    if annotated:
        offer_download(me(), "Download your workbook with the findings marked", lambda _username: annotated,
                       plain(filename).rsplit(".", 1)[0] + "-findings.xlsx", XLSX, "annotated")


def uploaded_name(result) -> str:
    """How the uploader names the proposal just uploaded: its reference within a commissioner's organisation,
    with the lead commissioner's code for an administrator, who sees every organisation's."""
    user = me() or {}
    if user.get("role") == "commissioner" or not result.organisation:
        return result.reference
    from isap.review.service import proposal_name

    return proposal_name(result.organisation, result.reference)


def offer_download(user: dict | None, label: str, make: Callable[[str], bytes], file_name: str, mime: str,
                   key: str) -> None:
    """A download of proposal data, served by the dashboard's own route to this signed-in person only.

    Not `st.download_button`: Streamlit serves its files to anyone with the
    address (see dashboards/downloads.py).  `make` is given the account's user
    name when the link is followed, and reads through the service as that account.
    """
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    from dashboards import downloads, session

    sso = bool(user and user.get("sso"))
    credential = st.context.cookies.get(downloads.SSO_COOKIE) if sso else session.token()
    ctx = get_script_run_ctx()
    if user is None or not credential or ctx is None:
        st.caption(fmt("{}: sign in again to download.", label))
        return
    url = downloads.make_offer((ctx.session_id, key), credential, user["username"], sso, make, file_name, mime)
    st.link_button(label, url)


def size_text(size: int) -> str:
    return f"{size / MIB:.1f} MB" if size >= MIB else f"{size / 1024:.0f} KB"


def template_page() -> None:
    from isap.workbook.blank_template import template_bytes

    st.title("Template")
    st.markdown("The ISAP-WB 1.0 workbook: every sheet, drop-down lists, notes on each column.")
    st.download_button("Download the blank template", template_bytes(), file_name="ISAP-WB-1.0-template.xlsx",
                       mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


# ---------------------------------------------------------------------------- reviewer pages
def review_queue_page() -> None:
    user = me()
    svc = service()
    st.title("Review queue")
    rows = svc.review_queue(user["username"])
    if not rows:
        st.info("There are no proposals yet.")
        return
    frame = pd.DataFrame(rows)
    frame["reference"] = frame["name"]  # with the lead commissioner's code where two organisations share it
    c = st.columns(4)
    c[0].metric("Waiting to be taken", int((frame["state"] == State.SUBMITTED).sum()))
    c[1].metric("In review", int((frame["state"] == State.IN_REVIEW).sum()))
    c[2].metric("Overdue", int(frame["overdue"].sum()))
    c[3].metric("Assured", int((frame["state"] == State.ASSURED).sum()))
    st.bar_chart(frame.groupby(["checkpoint", "state"]).size().unstack(fill_value=0).rename(columns=labels.code),
                 height=220,
                 x_label="Checkpoint", y_label="Proposals")
    f1, f2, f3, f4 = st.columns(4)
    states = f1.multiselect("State", [s for s in State if s in set(frame["state"])], key="f_state",
                            format_func=labels.code)
    cps = f2.multiselect("Checkpoint", sorted(frame["checkpoint"].unique()), key="f_cp")
    orgs = f3.multiselect("Commissioner", sorted(frame["commissioner"].unique()), key="f_org")
    ptypes = f4.multiselect("Provider type", sorted(frame["provider_type"].dropna().unique()), key="f_ptype",
                            format_func=plain)
    max_age = st.slider("Waiting at most (working days)", 0, max(60, int(frame["working_days_in_state"].max())),
                        max(60, int(frame["working_days_in_state"].max())), key="f_age")
    view = frame
    for col, chosen in (("state", states), ("checkpoint", cps), ("commissioner", orgs), ("provider_type", ptypes)):
        if chosen:
            view = view[view[col].isin(chosen)]
    view = view[view["working_days_in_state"] <= max_age]
    target = svc.policy.review_target_working_days
    st.caption(fmt("Policy target: {} working days in review. Overdue reviews come first, marked OVERDUE.", target))
    # Overdue rows first and marked: a Styler would highlight too, but costs seconds at 10,000 rows.
    ordered = view.sort_values(["overdue", "working_days_in_state"], ascending=False, kind="stable").copy()
    ordered["overdue"] = ordered["overdue"].map({True: "⚠ OVERDUE", False: ""})
    # the key columns first, so state, waiting time and overdue are on screen without scrolling sideways
    shown, config = labels.table(ordered, ["reference", "state", "working_days_in_state", "overdue", "checkpoint",
                                           "title", "commissioner", "provider_type"], codes=("state",))
    row_opens_caption()
    event = wrapping_table(shown, config, on_select="rerun", selection_mode="single-row", key="queue-table")
    if (ref := opened_row(event, ordered)) is not None:
        open_proposal(ref)
    st.subheader("Proposals by state over time")
    history = svc.states_over_time(user["username"])
    if history:
        states_chart(history)
    st.subheader("Working days waiting for review")
    waiting_chart(view, target)


def states_chart(history: list[dict]) -> None:
    """How many proposals were in each state at the end of each day, from the history."""
    import altair as alt

    frame = pd.DataFrame(history).set_index("day").fillna(0)
    frame = frame.rename(columns=labels.code).reset_index().melt("day", var_name="State", value_name="Proposals")
    frame["Day"] = pd.to_datetime(frame["day"])
    chart = alt.Chart(frame).mark_line(point=True, interpolate="step-after").encode(
        x=alt.X("Day:T", axis=alt.Axis(format="%d %b", title=None)),
        y=alt.Y("Proposals:Q", axis=alt.Axis(tickMinStep=1, format="d")),
        color=alt.Color("State:N", legend=alt.Legend(orient="top", title=None)),
        tooltip=[alt.Tooltip("Day:T", format="%d %b %Y"), "State", "Proposals"],
    ).properties(height=240)
    st.altair_chart(chart, width="stretch")


def waiting_chart(view: pd.DataFrame, target: int) -> None:
    """Working days each proposal has waited for review, against the policy target (the dashed line)."""
    import altair as alt

    waiting = view[view["state"].isin([State.SUBMITTED, State.IN_REVIEW])]
    if waiting.empty:
        st.caption("No proposal is waiting for review.")
        return
    waiting = waiting.nlargest(40, "working_days_in_state")  # the longest waits; the table lists every one
    frame = pd.DataFrame({"Proposal": waiting["name"], "Working days": waiting["working_days_in_state"],
                          "Waiting": [("Overdue" if o else "Within target") for o in waiting["overdue"]]})
    bars = alt.Chart(frame).mark_bar().encode(
        y=alt.Y("Proposal:N", sort="-x", title=None, axis=alt.Axis(labelLimit=200)),
        x=alt.X("Working days:Q", axis=alt.Axis(tickMinStep=1, format="d")),
        color=alt.Color("Waiting:N", scale=alt.Scale(domain=["Within target", "Overdue"],
                                                     range=["#005eb8", "#d5281b"]),
                        legend=alt.Legend(orient="top", title=None)),
        tooltip=["Proposal", "Working days", "Waiting"],
    )
    rule = alt.Chart(pd.DataFrame({"Target": [target]})).mark_rule(strokeDash=[6, 4], color="#212b32").encode(
        x="Target:Q", tooltip=["Target"])
    st.altair_chart((bars + rule).properties(height=max(120, 28 * len(frame))), width="stretch")
    st.caption(fmt("The dashed line is the policy target of {} working days.", target))


def rules_page() -> None:
    st.title("Rule catalogue")
    st.markdown("Every rule the pre-submission check applies, from the rule registry.")
    frame = pd.DataFrame([dict(r.to_dict(), source=readable(r.source)) for r in all_rules()])
    # "All domains" is a real option, not a placeholder: Streamlit's placeholder grey fails WCAG AA contrast
    domain = st.selectbox("Domain", [None, *sorted(frame["domain"].unique())], key="rules_domain",
                          format_func=lambda d: "All domains" if d is None else labels.domain(d))
    if domain is not None:
        frame = frame[frame["domain"] == domain]
    ordered = frame.assign(severity=frame["severity"].map(lambda v: labels.SEVERITIES.get(v, v)))
    shown, config = labels.table(ordered, ["id", "severity", "when", "domain", "summary", "points_at", "source"],
                                 domains=("domain",))
    wrapping_table(shown, config)
    for r in frame.itertuples():
        with st.expander(fmt("{} — {}", r.id, r.summary)):
            st.markdown(md(r.explanation))
            st.caption(fmt("Source: {}", r.source))



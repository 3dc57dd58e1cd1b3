"""What several pages show the same way: findings, tables, refused actions, downloads, links to a proposal.

Every page runs inside `guarded`, so an unexpected failure is a short message
on the page and a traceback in the server's log, never a traceback in
someone's browser.  Everything that came from a workbook or a person is shown
inert: through `dashboards.render` (escaped Markdown) or elements that do not
interpret Markdown (dataframe cells, selectbox options).
"""

from __future__ import annotations

import functools
import logging
import math
import uuid
from typing import Callable

import pandas as pd
import streamlit as st

from dashboards import labels
from dashboards.render import fmt, md, plain
from isap.review import wording
from isap.review.lifecycle import Action
from isap.review.service import StoreError, WorkflowError
from isap.rules.sources import readable
from isap.text import visible_marks

REF, TAB = "ref", "tab"  # the query parameters of a proposal's link: /proposal?ref=ISAP-2026-014&tab=Conditions
# Streamlit's tables wrap long text only in rows taller than 4rem (64 px), so a row of 76 px shows three
# lines of text instead of cutting it mid-word; selecting a cell still shows all of it.
WRAPPING_ROW = 76
# Streamlit's own height for a table is ten rows of its default 35 px: about four and a half rows of
# WRAPPING_ROW.  Ours show up to ten whole rows (the header is one default row high; 3 px of borders).
SHOWN_ROWS, HEADER_ROW, TABLE_BORDERS = 10, 35, 3
# A finding is read whole: its column ("large", 400 px) ends inside the table at 1280 px (labels.PIXELS keeps the
# columns before it narrow), and its rows are as tall as the longest finding needs, up to MOST_LINES lines.  About
# 50 characters go on a line of that column once words wrap early; a line is 20 px, and a row has 16 px of padding
# (three lines: WRAPPING_ROW).
LINE_CHARACTERS, LINE_HEIGHT, ROW_PADDING, MOST_LINES = 50, 20, 16, 10
NARROW_LINE_CHARACTERS = 22  # on a line of the 200 px column beside a finding (its note or waiver)
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


# Streamlit has no way to move the keyboard's focus (streamlit/streamlit#3899), and after a run the browser leaves
# it on the page's body: this script moves it to the message drawn just before it (an alert: the result of an
# action, or a form's error summary), so the keyboard and a screen reader start from what happened.  It carries
# nothing but a run number, new each time, so that Streamlit draws it afresh and the browser runs it again.
FOCUS_SCRIPT = """<script data-focus-message="{run}">
(() => {{
  const here = document.currentScript && document.currentScript.closest('[data-testid="stElementContainer"]');
  let before = here && here.previousElementSibling;
  const alert = '[data-testid="stAlertContainer"]';  // role "alert" for errors and warnings, "status" for the rest
  while (before && !before.querySelector(alert)) before = before.previousElementSibling;
  const message = before && before.querySelector(alert);
  if (message) {{ message.setAttribute('tabindex', '-1'); message.focus(); }}
}})();
</script>"""
FOCUS_RUNS = "focus_message_runs"


def focus_message() -> None:
    """Move the keyboard's focus to the message just drawn before this call (see FOCUS_SCRIPT)."""
    run = st.session_state.get(FOCUS_RUNS, 0) + 1
    st.session_state[FOCUS_RUNS] = run
    st.html(FOCUS_SCRIPT.format(run=int(run)), unsafe_allow_javascript=True)


def result_message(text: str) -> None:
    """What an action did, at the top of the page it returned to, with the keyboard's focus on it."""
    st.success(md(text))
    focus_message()


def kind_error(exc: Exception) -> None:
    """Refused actions in plain, kind words, with the keyboard's focus on them."""
    from isap.review.service import Conflict

    if isinstance(exc, Conflict):
        st.warning("Someone else changed this proposal while you were looking at it. "
                   "The page has the latest now; please check and try again.")
    else:
        st.error(fmt("That could not be done: {}", exc))
    focus_message()


CLEAR = "clear_after_success"  # the text boxes to empty on the next run, once what they held was sent


def act(fn, *args, success: str | Callable[[object], str], clear: tuple[str, ...] = (), **kwargs) -> bool:
    """Do a workflow action through the service; on success say so and empty the `clear` text boxes (what they
    held was sent); on a refusal say why, and keep what was typed.  `success` is the message, or makes it from
    what the service returned (how many sessions ended, say)."""
    try:
        done = fn(*args, **kwargs)
    except (WorkflowError, StoreError) as exc:
        kind_error(exc)
        return False
    st.session_state["flash"] = success(done) if callable(success) else success
    st.session_state[CLEAR] = list(clear)
    st.rerun()
    return True



def clear_sent_text() -> None:
    """Empty the text boxes whose text an action sent (`act(..., clear=…)`), before they are drawn again: a
    widget's value may be set only before the widget is made in a run."""
    for key in st.session_state.pop(CLEAR, ()):
        st.session_state[key] = ""


# ---------------------------------------------------------------------------- shared views
def findings_view(findings: list[dict], key: str) -> None:
    if not findings:
        st.success("No findings: the workbook meets every rule checked.")
        return
    frame = pd.DataFrame(findings)
    # What the commissioner said of a finding, beside it: a note answers a warning, a waiver an error, so one
    # column holds either and the finding, its place and that column end inside the table at 1366 px.  A
    # dataframe cell shows text as it is: each is flattened to words, not shown as a dict.
    notes = [plain(f"{a.get('note', '')} ({a.get('by_name') or a.get('by', '')})") if isinstance(a, dict) else ""
             for a in frame.get("acknowledged", [None] * len(frame))]
    waivers = [plain(f"Waived by {w.get('ruled_by_name') or w.get('ruled_by', '')}: {w.get('ruling', '')}")
               if isinstance(w, dict) and w.get("status") == "granted" else
               plain(f"Waiver {w.get('id')} asked for") if isinstance(w, dict) else ""
               for w in frame.get("waiver", [None] * len(frame))]
    frame["note_or_waiver"] = [" ".join(x for x in pair if x) for pair in zip(notes, waivers)]
    frame["where"] = [wording.place(s, c) for s, c in zip(frame["sheet"], frame["cell"])]
    frame["order"] = frame["severity"].map(SEVERITY_ORDER)
    if "source" in frame:
        frame["source"] = frame["source"].map(readable)
    findings_chart(frame)
    for domain, group in sorted(frame.groupby("domain"), key=lambda g: g[1]["order"].min()):
        errors = int((group["severity"] == "error").sum())
        warnings = int((group["severity"] == "warning").sum())
        with st.expander(fmt("{}: {}", labels.domain(domain), wording.errors_and_warnings(errors, warnings)),
                         expanded=errors > 0):
            ordered = group.sort_values(["order", "sheet", "row"]).copy()
            ordered["severity"] = ordered["severity"].map(lambda v: labels.SEVERITIES.get(v, v))
            # a commissioner's note beside the finding it answers, not beyond the source at the table's far end
            shown, config = labels.table(ordered, ["severity", "rule_id", "where", "message", "note_or_waiver",
                                                   "source"])
            wrapping_table(shown, config, fit=labels.COLUMNS["message"], key=f"{key}-{domain}",
                           fit_narrow=labels.COLUMNS["note_or_waiver"])


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
    shown disabled, with the reason as its help and a caption beside it.  An
    action that is someone else's to do here is not listed: `waiting` gives
    whom it waits for, in words.
    """

    def __init__(self, shown: dict):
        self._options = {Action(o["action"]): o for o in shown.get("actions", [])}

    def listed(self, action: Action) -> bool:
        return action in self._options and self._options[action].get("yours", True)

    def label(self, action: Action) -> str:
        """What this person's control for the action is called."""
        return self._options.get(action, {}).get("label") or action.label

    def waiting(self, *actions: Action) -> list[str]:
        """Whom the actions that are others' to do here wait for, each said once, in the order asked."""
        said: list[str] = []
        for action in actions:
            words = self._options.get(action, {}).get("waiting")
            if words and words not in said:
                said.append(words)
        return said

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



def open_proposal(ref: str, tab: str | None = None) -> None:
    """Go to a proposal's page; the address bar then reads `/proposal?ref=…` (and `&tab=…`)."""
    params = {REF: ref} | ({TAB: tab} if tab else {})
    st.switch_page("views/proposal.py", query_params=params)


def table_height(rows: int, row_height: int = WRAPPING_ROW) -> int:
    """The height in pixels of a table of `rows` wrapping rows: all of them, up to SHOWN_ROWS, then it scrolls."""
    return HEADER_ROW + max(1, min(rows, SHOWN_ROWS)) * row_height + TABLE_BORDERS


def row_height(texts, line_characters: int = LINE_CHARACTERS) -> int:
    """The height of a row that shows the longest of `texts` whole (see LINE_CHARACTERS), never less than
    WRAPPING_ROW."""
    lines = max((math.ceil(len(str(text)) / line_characters) for text in texts), default=1)
    return max(3, min(lines, MOST_LINES)) * LINE_HEIGHT + ROW_PADDING


def wrapping_table(shown: pd.DataFrame, config: dict, fit: str | None = None, fit_narrow: str | None = None,
                   **kwargs):
    """A table of labelled columns whose rows wrap long text, as tall as up to ten of those rows; with `fit`, the
    rows are as tall as that column's longest text needs, and with `fit_narrow` as tall as that narrower
    (labels.PIXELS) column's needs too."""
    height = row_height(shown[fit]) if fit in shown else WRAPPING_ROW
    if fit_narrow in shown:
        height = max(height, row_height(shown[fit_narrow], NARROW_LINE_CHARACTERS))
    return table(shown, hide_index=True, width="stretch", column_config=config, row_height=height,
                 height=table_height(len(shown), height), **kwargs)


def table(frame: pd.DataFrame, **kwargs):
    """`st.dataframe` of `frame`, every text in it shown as the text it is: a bidirectional control (a right-to-left
    override in a title, a file name, a user name) as its code point, so it cannot make the text around it read
    as something it is not.  Pages show every table through here."""
    return st.dataframe(frame.map(lambda v: visible_marks(v) if isinstance(v, str) else v), **kwargs)


def row_opens_caption() -> None:
    """Tell people how a row opens its proposal, by mouse and by keyboard (Shift+Space is the table's own key)."""
    st.caption("Select a row to open its proposal: click the box at the start of the row, or, by keyboard, Tab into "
               "the table, move to the row with the arrow keys and press Shift+Space.")


def opened_row(event, frame: pd.DataFrame) -> str | None:
    """The reference of the row someone selected in a table, if they selected one."""
    rows = getattr(getattr(event, "selection", None), "rows", None) or []
    return str(frame.iloc[rows[0]]["name"]) if rows else None



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



"""The words a reader sees for the product's codes: states, outcomes, roles, events, domains, columns, dates, times.

The store and the state machine keep codes (`in_review`,
`approved_with_conditions`, `service_scope`); people read words.  Every
label here is taken from the enum that defines the code (the state
machine's `State.label`, `Outcome.label`, the history's `AuditKind.label`, …), so a new state or outcome
cannot be shown as a code, and no word is written twice.  Times are stored
in UTC and shown in UK time, the way people write them ("23 Nov 2026,
14:05").  Nothing here is ever "None": a missing value is an empty cell.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

from isap.review.events import event_label
from isap.review.lifecycle import (
    AssuranceDomain,
    Body,
    ConditionStatus,
    Outcome,
    Rating,
    Role,
    State,
)
from isap.workbook.findings import Domain, Severity

try:
    UK = ZoneInfo("Europe/London")
except ZoneInfoNotFoundError:  # a system without a time zone database: UTC, and the label says so
    UK = dt.timezone.utc

SEVERITIES = {s.value: s.value.capitalize() for s in Severity}
DOMAINS = {d.value: (AssuranceDomain(d.value).label if d.value in AssuranceDomain.__members__.values()
                     else d.value.replace("_", " ").capitalize()) for d in Domain}
CODES: dict[str, str] = {
    **{s.value: s.label for s in State},
    **{o.value: o.label for o in Outcome},
    **{r.value: r.label for r in Role},
    **{c.value: c.value.replace("_", " ").capitalize() for c in ConditionStatus},
    **{r.value: r.value.capitalize() for r in Rating},
    **{b.value: b.label for b in Body},
}
RATING_COLOURS = {"green": "green", "amber": "orange", "red": "red"}  # Streamlit's colour names, for badges
# column headers, one table for every page
COLUMNS: dict[str, str] = {
    "reference": "Reference", "title": "Title", "commissioner": "Commissioner",
    "commissioner_name": "Commissioner", "provider_type": "Provider type", "checkpoint": "Checkpoint",
    "state": "State", "latest_version": "Latest version", "next step": "Next step",
    "working_days_in_state": "Working days waiting", "days_in_state": "Days waiting", "overdue": "Overdue",
    "severity": "Severity", "rule_id": "Rule", "sheet": "Sheet", "cell": "Cell", "message": "Finding",
    "source": "Source", "acknowledged": "Explanatory note", "domain": "Domain", "number": "Version",
    "errors": "Errors", "warnings": "Warnings", "filename": "File", "uploaded_by": "Uploaded by",
    "uploaded_at": "Uploaded", "sha256": "SHA-256", "at": "When", "actor": "Who", "action": "What",
    "from_state": "From", "to_state": "To", "reason": "Details", "id": "Rule", "when": "Checkpoints",
    "summary": "Summary", "points_at": "Points at", "panel": "Review panel",
}
WIDE = {"title", "message", "next step", "reason", "summary", "source", "acknowledged"}
# wide enough for their text, no wider
PIXELS = {"reference": 120, "rule_id": 80, "id": 80, "at": 140, "actor": 90, "action": 170, "from_state": 90,
          "to_state": 90, "working_days_in_state": 160, "overdue": 110, "state": 110}
NARROW = {"checkpoint", "latest_version", "severity", "cell", "errors", "warnings", "number", "overdue",
          "working_days_in_state", "days_in_state", "rule_id", "id", "state", "when"}


def code(value: object) -> str:
    """The word for a code (a state, outcome, role, status or rating); other text as it is; nothing as ""."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    text = str(getattr(value, "value", value))
    return CODES.get(text, text)


def event(value: object) -> str:
    """The words for a history event (`AuditKind.label`)."""
    return event_label(value)


def domain(value: object) -> str:
    text = "" if value is None else str(getattr(value, "value", value))
    return DOMAINS.get(text, text.replace("_", " ").capitalize())


def when(value: object) -> str:
    """A stored time as people read it, in UK time: "23 Nov 2026, 14:05"; nothing as ""."""
    if value is None or value == "":
        return ""
    t = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)  # the store keeps UTC
    t = t.astimezone(UK)
    return f"{t.day} {t:%b %Y, %H:%M}"


def day(value: object) -> str:
    """A date as people read it: "7 Jan 2027"."""
    if value is None or value == "":
        return ""
    d = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])
    return f"{d.day} {d:%b %Y}"


def table(frame: pd.DataFrame, columns: list[str], *, codes: tuple[str, ...] = (), times: tuple[str, ...] = (),
          domains: tuple[str, ...] = ()) -> tuple[pd.DataFrame, dict]:
    """The columns to show, in words, with no "None", and the column settings that make long text wrap.

    Returns the frame with its column headers in words and the
    `column_config` for `st.dataframe`: wide text columns are "large", counts
    and codes "small", so the key columns fit at 1280 px.
    """
    import streamlit as st

    shown = frame[[c for c in columns if c in frame]].copy()
    for c in shown:
        if c in codes:
            shown[c] = shown[c].map(code)
        elif c in times:
            shown[c] = shown[c].map(when)
        elif c in domains:
            shown[c] = shown[c].map(domain)
    shown = shown.astype(object).where(shown.notna(), "")
    config = {}
    for c in shown:
        label = COLUMNS.get(c, c.replace("_", " ").capitalize())
        width = PIXELS.get(c) or ("large" if c in WIDE else "small" if c in NARROW else "medium")
        config[label] = st.column_config.Column(
            label, width=width, help="Select a cell to read all of its text." if c in WIDE else None)
    return shown.rename(columns={c: COLUMNS.get(c, c.replace("_", " ").capitalize()) for c in shown}), config

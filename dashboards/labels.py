"""The words a reader sees on the pages: column headers, widths, and the domain's values through one layer.

The store and the state machine keep codes (`in_review`,
`approved_with_conditions`, `service_scope`); people read words.  States,
outcomes, events, dates and times are said by `isap.review.wording`, the one
layer the reports, letters and mail use too, so a page and a letter never put
the same value in two ways.  This module adds what only pages need: column
headers and widths, and the table that puts them together.  Nothing here is
ever "None": a missing value is an empty cell.
"""

from __future__ import annotations

import pandas as pd

from isap.review import wording
from isap.review.lifecycle import AssuranceDomain
from isap.workbook.findings import Domain, Severity

UK = wording.LOCAL_TIME
SEVERITIES = {s.value: s.value.capitalize() for s in Severity}
DOMAINS = {d.value: (AssuranceDomain(d.value).label if d.value in AssuranceDomain.__members__.values()
                     else d.value.replace("_", " ").capitalize()) for d in Domain}
CODES = wording.CODES
RATING_COLOURS = {"green": "green", "amber": "orange", "red": "red"}  # Streamlit's colour names, for badges
# column headers, one table for every page
COLUMNS: dict[str, str] = {
    "reference": "Reference", "title": "Title", "commissioner": "Commissioner",
    "commissioner_name": "Commissioner", "provider_type": "Provider type", "checkpoint": "Checkpoint",
    "state": "State", "latest_version": "Latest version", "next step": "Next step",
    "working_days_in_state": "Working days waiting", "days_in_state": "Days waiting", "overdue": "Overdue",
    "severity": "Severity", "rule_id": "Rule", "sheet": "Sheet", "cell": "Cell", "message": "Finding",
    "source": "Source", "acknowledged": "Explanatory note",
    "note_or_waiver": "Explanatory note or waiver",
    "where": "Where", "waived": "Waived", "domain": "Domain", "number": "Version",
    "errors": "Errors", "warnings": "Warnings", "filename": "File", "uploaded_by": "Uploaded by",
    "uploaded_by_name": "Uploaded by",
    "uploaded_at": "Uploaded", "sha256": "SHA-256", "at": "When", "actor": "Who", "action": "What",
    "from_state": "From", "to_state": "To", "change": wording.HISTORY_HEADINGS["change"], "reason": "Details",
    "id": "Rule", "when": "Checkpoints",
    "summary": "Summary", "points_at": "Points at", "reviewer": "Reviewer", "reviewer_name": "Reviewer",
    "panel": "Review panel",
    # the national view
    "name": "Proposal", "region": "Region", "provider": "Provider", "integration_model": "Integration model",
    "annual_contract_value_gbp": "Contract value (£ a year)", "wpap_annual_value_gbp": "WPAP (£ a year)",
    "population_registered": "Registered population", "last_decision": "Last decision",
    **{f"rating_{d.value}": d.label for d in AssuranceDomain}, "open_conditions": "Open conditions",
    "open_queries": "Open queries", "next_planned_date": "Next planned submission",
    "slippage_working_days": "Slippage (working days)", "late": "Late",
}
WIDE = {"title", "message", "next step", "reason", "summary", "source", "acknowledged", "waived", "note_or_waiver"}
# wide enough for their text, no wider (a sheet's name among them, so that a finding ends inside its table)
PIXELS = {"reference": 120, "rule_id": 80, "id": 80, "at": 140, "actor": 160, "action": 170, "change": 170,
          "from_state": 90, "to_state": 90, "working_days_in_state": 160, "overdue": 110, "state": 110,
          "reviewer": 100, "sheet": 110, "where": 110, "note_or_waiver": 200}
# the column that names each row stays in view while the table scrolls sideways: moving the keyboard's focus
# along a row (Tab goes cell by cell) never hides which proposal the row is
PINNED = {"reference", "name"}
NARROW = {"checkpoint", "latest_version", "severity", "cell", "errors", "warnings", "number", "overdue",
          "working_days_in_state", "days_in_state", "rule_id", "id", "state", "when"}


def code(value: object) -> str:
    """The word for a code (a state, outcome, role, status or rating); other text as it is; nothing as ""."""
    return "" if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)) else wording.code(value)


def event(value: object) -> str:
    """The words for a history event (`AuditKind.label`)."""
    return wording.event(value)


def domain(value: object) -> str:
    return wording.domain(value)


when = wording.when  # "23 Nov 2026, 14:05", in UK time
day = wording.day  # "7 Jan 2027"


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
            label, width=width, help="Select a cell to read all of its text." if c in WIDE else None,
            pinned=True if c in PINNED else None)
    return shown.rename(columns={c: COLUMNS.get(c, c.replace("_", " ").capitalize()) for c in shown}), config

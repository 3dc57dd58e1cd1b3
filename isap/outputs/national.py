"""The national view's export: every proposal's row as CSV or as an Excel workbook.

National teams take the table into their own spreadsheets, so what a
commissioner typed (a title, a provider's name) reaches Excel.  Nothing in it
may run as a formula (CWE-1236): the workbook writes every text as a text cell,
which no spreadsheet evaluates, so it reads back exactly as typed; CSV has no
cell types, so there text that starts like a formula gets a leading apostrophe
(`isap.outputs.exports.neutralise`).  The workbook is written by openpyxl, with
the header row frozen and each column as wide as its content needs.
"""

from __future__ import annotations

import io
from typing import Iterable

from isap.outputs.exports import neutralise
from isap.review.lifecycle import AssuranceDomain, Outcome, State
from isap.review.regions import Region

# (key of a row of `Service.national_view`, the column's heading)
COLUMNS: tuple[tuple[str, str], ...] = (
    ("name", "Proposal"),
    ("title", "Title"),
    ("commissioner", "Lead commissioner code"),
    ("commissioner_name", "Lead commissioner"),
    ("region", "Region"),
    ("provider", "Provider"),
    ("provider_type", "Provider type"),
    ("integration_model", "Integration model"),
    ("annual_contract_value_gbp", "Annual contract value (£)"),
    ("wpap_annual_value_gbp", "WPAP (£ a year)"),
    ("population_registered", "Registered population"),
    ("checkpoint", "Checkpoint"),
    ("state", "State"),
    ("last_decision", "Last decision"),
    ("last_decision_on", "Decided on"),
    *((f"rating_{d.value}", f"Rating: {d.label.lower()}") for d in AssuranceDomain),
    ("open_conditions", "Open conditions"),
    ("open_queries", "Open queries"),
    ("next_planned_checkpoint", "Next planned checkpoint"),
    ("next_planned_date", "Next planned submission"),
    ("next_planned_agreed", "Date agreed"),
    ("slippage_working_days", "Slippage (working days)"),
    ("late", "Late"),
)
_WORDS = {"region": lambda v: Region(v).label, "state": lambda v: State(v).label,
          "last_decision": lambda v: Outcome(v).label, "next_planned_agreed": lambda v: "Yes" if v else "No",
          "late": lambda v: "Late" if v else ""}
# columns a spreadsheet should sort and add up as dates and numbers, with the format each is shown in
_DATES = {"last_decision_on", "next_planned_date"}
_COUNTS = {"annual_contract_value_gbp", "wpap_annual_value_gbp", "population_registered"}
DATE_FORMAT, COUNT_FORMAT = "d mmm yyyy", "#,##0"
MAX_WIDTH = 60  # characters: a long title wraps in the cell rather than widening the sheet


def readable(row: dict) -> list:
    """A row's values in column order, codes as their words (a code this version does not know, as it is)."""
    out = []
    for key, _ in COLUMNS:
        value = row.get(key)
        if value is not None and key in _WORDS:
            try:
                value = _WORDS[key](value)
            except ValueError:
                pass
        out.append(value)
    return out


def to_csv(rows: Iterable[dict]) -> str:
    import csv

    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([heading for _, heading in COLUMNS])
    for row in rows:
        writer.writerow(["" if v is None else neutralise(v) for v in readable(row)])
    return buf.getvalue()


def to_xlsx(rows: Iterable[dict]) -> bytes:
    """The rows as a one-sheet workbook: text cells for every text, the header frozen, widths fitted."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("National view")
    ws.freeze_panes = "A2"
    values = [readable(r) for r in rows]
    widths = [len(heading) for _, heading in COLUMNS]
    for line in values:
        for i, v in enumerate(line):
            if v is not None:
                widths[i] = max(widths[i], min(MAX_WIDTH, len(str(v))))
    for i, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width + 2
    bold = Font(bold=True)
    ws.append([_text_cell(ws, heading, WriteOnlyCell, bold) for _, heading in COLUMNS])
    keys = [key for key, _ in COLUMNS]
    for line in values:
        ws.append([_cell(ws, key, v, WriteOnlyCell) for key, v in zip(keys, line)])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _cell(ws, key: str, value, cell_type):
    """A value's cell: a date column's ISO text as a date cell, money and people as numbers with separators,
    any other text as text."""
    import datetime as dt

    if key in _DATES and isinstance(value, str):
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            return _text_cell(ws, value, cell_type)
        cell = cell_type(ws, value=day)
        cell.number_format = DATE_FORMAT
        return cell
    if isinstance(value, str):
        return _text_cell(ws, value, cell_type)
    if key in _COUNTS and isinstance(value, (int, float)):
        cell = cell_type(ws, value=value)
        cell.number_format = COUNT_FORMAT
        return cell
    return value


def _text_cell(ws, text: str, cell_type, font=None):
    """A cell that holds `text` as text, whatever it starts with: openpyxl would take "=…" for a formula."""
    cell = cell_type(ws, value=text)
    cell.data_type = "s"
    if font is not None:
        cell.font = font
    return cell


# the media type of each kind of export, for the dashboard's downloads
MEDIA_TYPES = {"csv": "text/csv", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def export(rows: Iterable[dict], kind: str) -> bytes:
    """The rows as the file people download: CSV in UTF-8 with a byte-order mark (so Excel reads "£" right), or
    the workbook.  The dashboard's page and `isap national` both write this."""
    if kind == "csv":
        return to_csv(rows).encode("utf-8-sig")
    if kind == "xlsx":
        return to_xlsx(rows)
    raise ValueError(f"an export is csv or xlsx, not {kind!r}")

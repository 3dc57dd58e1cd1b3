"""Table sheets read as Arrow columns and typed with polars give the rules exactly what typing
python-calamine's rows gives them: the same typed values (of the same Python types), the same rows,
the same findings with the same texts (docs/decisions/0030-native-typing.md).

The rows path (`SheetReader(native_from_cells=None)`) is the oracle: generated workbooks, with columns of one
kind (the native path) and of mixed kinds, odd headers and empty rows (the paths it hands back to the
rows), are parsed both ways and checked by every rule.
"""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from isap.policy import Policy
from isap.rules.registry import all_rules
from isap.workbook.parse import SheetColumns, SheetReader, matched_sheets, parse
from isap.workbook.safety import inspect
from isap.workbook.template import SHEETS, SheetKind, ValueType
from sample_submissions.proposals import clean, write

TABLES = [s for s in SHEETS if s.kind is SheetKind.TABLE]

TEXTS = ["Yes", "no", " y ", "N", "abc", "  ", "", "£1,250,000", "1,250", "-£5", "12", "+7", "3.5",
         "2026-04-01", "2026-02-30", "#N/A", " #REF! ", "P-000001", "p-000002", "SVC-000001", "qua",
         "x@nhs.net", "Community health", "community HEALTH", "GP practice", "Subcontracted", "Direct",
         "\u00a0padded\u2003", "\u0085separated\u2028", "ünïcödé", "1e20"]
NUMBERS = [0.0, 1.0, 2.0, 3.0, -4.0, 5000.0, 1250000.0, 2.5, 0.1, -0.0, 1e15, 9.99e14, 123456789012345.0, 1e300]
DATES = [dt.date(2026, 4, 1), dt.date(1999, 12, 31), dt.datetime(2026, 4, 1, 0, 0), dt.datetime(2026, 4, 1, 13, 30),
         dt.date(1900, 3, 1), dt.datetime(1900, 1, 15, 6, 0), dt.time(9, 30)]

cell = st.one_of(st.none(), st.sampled_from(TEXTS), st.sampled_from(NUMBERS), st.booleans(), st.sampled_from(DATES),
                 st.integers(-10, 10_000).map(float))


def _column(kind: str, clean_values: list, n: int):
    """A column's cells: mostly the kinds one column of a real workbook holds, sometimes anything."""
    if kind == "clean":
        return st.just([clean_values[i % len(clean_values)] if clean_values else None for i in range(n)])
    if kind == "numbers":
        return st.lists(st.one_of(st.none(), st.sampled_from(NUMBERS), st.integers(0, 50).map(float)),
                        min_size=n, max_size=n)
    if kind == "repeated text":
        return st.lists(st.sampled_from(TEXTS[:8]) | st.none(), min_size=n, max_size=n)
    if kind == "text":
        return st.lists(st.sampled_from(TEXTS) | st.none(), min_size=n, max_size=n)
    if kind == "booleans":
        return st.lists(st.booleans() | st.none(), min_size=n, max_size=n)
    if kind == "dates":
        return st.lists(st.sampled_from(DATES[:5]) | st.none(), min_size=n, max_size=n)
    return st.lists(cell, min_size=n, max_size=n)


KINDS = ["clean", "clean", "numbers", "repeated text", "text", "booleans", "dates", "mixed"]


@st.composite
def sheet_contents(draw, spec, clean_rows: list[dict]):
    n = draw(st.integers(0, 14))
    names = list(spec.column_names)
    header: list = list(names)
    layout = draw(st.sampled_from(["template", "template", "template", "shuffled", "odd header", "offset"]))
    if layout == "shuffled":
        header = draw(st.permutations(names))
    elif layout == "odd header":
        i = draw(st.integers(0, len(header) - 1))
        header[i] = draw(st.sampled_from([None, "", "unknown column", header[(i + 1) % len(header)],
                                          header[i].upper().replace("_", " "), 5.0, f"{header[i]}_1"]))
    columns = []
    for name in header:
        col = spec.column(name) if name in spec.column_names else None
        values = [r.get(name) for r in clean_rows] if col is not None else []
        kind = draw(st.sampled_from(KINDS))
        if col is not None and col.type is ValueType.DATE and kind == "clean":
            values = [v for v in values if v is not None] or values
        columns.append(draw(_column(kind, values, n)))
    rows = [list(r) for r in zip(*columns)] if columns and n else []
    blank = draw(st.lists(st.integers(0, max(n - 1, 0)), max_size=2)) if n else []
    for i in blank:
        rows[i] = [None] * len(header)
    return layout, header, rows


@st.composite
def workbooks(draw):
    p = clean(draw(st.sampled_from([1, 2, 3])))
    tables = {}
    for spec in TABLES:
        if draw(st.integers(0, 4)) == 0:
            continue  # left as the clean sample writes it
        tables[spec.name] = draw(sheet_contents(spec, p[spec.name]))
    return p, tables


def _write(p: dict, tables: dict, path) -> None:
    wb = Workbook(write_only=True)
    for spec in SHEETS:
        ws = wb.create_sheet(spec.name)
        if spec.kind is SheetKind.KEY_VALUE:
            ws.append(["field", "value"])
            for k, v in p[spec.name].items():
                ws.append([k, v])
            continue
        layout, header, rows = tables.get(spec.name) or (
            "template", list(spec.column_names), [[r.get(c) for c in spec.column_names] for r in p[spec.name]])
        if layout == "offset":  # the table starts on row 2: python-calamine's rows keep the empty row 1
            ws.append([])
        ws.append(header)
        for row in rows:
            ws.append(row)
    wb.save(path)


def _typed(table) -> dict:
    """A table as the rules see it, values with their Python types (1 == 1.0 == True otherwise)."""
    return {"columns": {k: [(type(v).__name__, v) for v in c] for k, c in table.columns.items()},
            "letters": dict(table.letters), "rows": table.excel_rows, "repeated": table.repeated}


def _both_ways(path):
    policy = Policy()
    inspection = inspect(path, policy)
    out = []
    for native in (False, True):
        reader = SheetReader(native_from_cells=0 if native else None)  # native: every table sheet it can
        wb = parse(inspection, None, policy.max_findings_per_rule, reader=reader)
        findings = list(wb.structural_findings)
        for rule in all_rules():
            if rule.applies_at(wb.checkpoint):
                findings.extend(rule.check(wb, policy))
        sheets = {s.name: _typed(wb.sheet(s.name)) for s in TABLES}
        out.append((wb, findings, sheets))
    return out


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                                  HealthCheck.function_scoped_fixture])
@given(workbooks())
def test_native_typing_gives_the_rules_what_typing_the_rows_gives(tmp_path, generated):
    p, tables = generated
    path = tmp_path / "generated.xlsx"
    _write(p, tables, path)
    (rows_wb, rows_findings, rows_sheets), (native_wb, native_findings, native_sheets) = _both_ways(path)
    for spec in TABLES:
        assert native_sheets[spec.name] == rows_sheets[spec.name], spec.name
    assert [(f.rule_id, f.sheet, f.row, f.column, f.cell, f.message) for f in native_findings] == \
        [(f.rule_id, f.sheet, f.row, f.column, f.cell, f.message) for f in rows_findings]
    assert native_findings == rows_findings
    assert native_wb.checkpoint == rows_wb.checkpoint


def test_a_well_written_workbook_s_tables_are_read_as_columns(tmp_path):
    """The native path is the one taken for a workbook as people fill the template (not silently
    handed back to the rows every time); by default only for large sheets, where it pays."""
    path = write(clean(2), tmp_path / "clean.xlsx")
    inspection = inspect(path, Policy())
    default = SheetReader()
    try:
        scan = matched_sheets(inspection.sheets)["Services"]
        default.start(inspection.reading_data or inspection.data, inspection.date1904, scan)
        assert isinstance(default.rows(scan.name), list)  # a typical sheet: a few dozen cells
    finally:
        default.close()
    reader = SheetReader(native_from_cells=0)
    try:
        matched = matched_sheets(inspection.sheets)
        for spec in TABLES:
            reader.start(inspection.reading_data or inspection.data, inspection.date1904, matched[spec.name])
        kinds = {spec.name: type(reader.rows(matched[spec.name].name)) for spec in TABLES}
    finally:
        reader.close()
    assert kinds == {spec.name: SheetColumns for spec in TABLES}


def test_a_sheet_the_columns_cannot_show_exactly_is_read_as_rows(tmp_path):
    """A column of numbers and text together, a header that repeats a column, and a time of day are
    each read as python-calamine's rows, and typed as before."""
    p = clean(2)
    services = p["Services"]
    tables = {
        "Services": ("template", list(TABLES[0].column_names),
                     [[("12" if i == 0 and c == "annual_value_gbp" else r.get(c)) for c in TABLES[0].column_names]
                      for i, r in enumerate(services)]),
    }
    path = tmp_path / "mixed.xlsx"
    _write(p, tables, path)
    inspection = inspect(path, Policy())
    reader = SheetReader(native_from_cells=0)
    try:
        scan = matched_sheets(inspection.sheets)["Services"]
        reader.start(inspection.reading_data or inspection.data, inspection.date1904, scan)
        assert isinstance(reader.rows(scan.name), list)
    finally:
        reader.close()
    (_, rows_findings, rows_sheets), (_, native_findings, native_sheets) = _both_ways(path)
    assert native_findings == rows_findings and native_sheets == rows_sheets

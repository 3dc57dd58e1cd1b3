"""The safety scan measures a well-written sheet a row at a time, and measures every sheet as the exact parse does.

A sheet as spreadsheet programs write it is measured by one pattern per row (every cell of the row spelled
canonically, each naming the row's own number, none beyond the columns already seen); anything else in a
chunk sends that chunk to the pattern per cell, and anything odd there to the exact parse.  These tests hold
the three to the same extent, rows and shared-string cells, on shapes that cross chunk boundaries."""

from __future__ import annotations

import io
import zipfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from isap.policy import Policy
from isap.workbook import safety
from isap.workbook.safety import SheetScan, _Budget, _scan_cells, _scan_sheet
from tests.hostile import sheet_xml

pytestmark = pytest.mark.unit

PART = "xl/worksheets/sheet1.xml"


def _package(xml: bytes) -> tuple[bytes, zipfile.ZipInfo]:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(PART, xml)
    data = out.getvalue()
    return data, zipfile.ZipFile(io.BytesIO(data)).getinfo(PART)


def _measures(xml: bytes) -> tuple[SheetScan, SheetScan]:
    """The scan's measure of a sheet (fast where it can) and the exact parse's."""
    data, info = _package(xml)
    policy = Policy()
    fast = SheetScan("Services", PART, True)
    _scan_sheet(data, info, fast, _Budget(60), [0], policy, frozenset())
    exact = SheetScan("Services", PART, True)
    _scan_cells(data, info, exact, _Budget(60), policy)
    return fast, exact


def _extent(scan: SheetScan) -> tuple[int, int, int, int]:
    return scan.max_row, scan.max_col, scan.rows_with_values, scan.shared_cells


def _row(n: int, cells: str) -> str:
    return f'<row r="{n}" spans="1:10">{cells}</row>'


def _cells(n: int, columns: str = "ABCDEFGHIJ") -> str:
    return "".join(f'<c r="{c}{n}" t="inlineStr"><is><t>Service {n} {c}</t></is></c>' if i % 2 else
                   f'<c r="{c}{n}" t="n"><v>{n * 7 + i}</v></c>' for i, c in enumerate(columns))


def _rows(first: int, last: int) -> str:
    return "".join(_row(n, _cells(n)) for n in range(first, last + 1))


class _Counting:
    """The per-cell pattern, counting the chunks it is run over."""

    def __init__(self, pattern):
        self.pattern = pattern
        self.chunks = 0

    def findall(self, buf):
        self.chunks += 1
        return self.pattern.findall(buf)


def test_a_well_written_sheet_is_measured_a_row_at_a_time(monkeypatch):
    """8,000 rows of ten cells (about 1 MB, in chunks of 64 KiB): only the first chunk, which shows the
    columns, is matched cell by cell; the rest row by row, to the same extent as the exact parse."""
    per_cell = _Counting(safety._CANON_VALUE)
    monkeypatch.setattr(safety, "_CANON_VALUE", per_cell)
    monkeypatch.setattr(safety, "CHUNK", 1 << 16)
    xml = sheet_xml(_rows(1, 8_000))
    assert len(xml) > 10 * safety.CHUNK
    fast, exact = _measures(xml)
    assert not fast.needs_cell_scan
    assert _extent(fast) == _extent(exact) == (8_000, 10, 8_000, 0)
    assert per_cell.chunks <= 1


_LATE = 2_000  # a row well past the first chunk (of 64 KiB)


@pytest.mark.parametrize("late", [
    # a column wider than any before it, only late in the sheet
    _row(_LATE, _cells(_LATE, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") + f'<c r="AB{_LATE}"><v>1</v></c>'),
    # a cell naming a row other than its own
    _row(_LATE, f'<c r="A{_LATE}"><v>1</v></c><c r="B99999"><v>2</v></c>'),
    # rows without cells, self-closed, out of order and repeated
    _row(_LATE, "") + f'<row r="{_LATE + 1}"/>' + _row(9, _cells(9)) + _row(3, _cells(3)),
    # cells that are only formatted, or formulas, or errors
    _row(_LATE, f'<c r="A{_LATE}" s="3"/><c r="K{_LATE}" s="3"/><c r="B{_LATE}"><v>1</v></c>'),
    _row(_LATE, f'<c r="L{_LATE}"><f>1+1</f><v>2</v></c>'),
    _row(_LATE, f'<c r="A{_LATE}" t="e"><v>#N/A</v></c>'),
    # shared-string cells, and a row left open across the next rows
    _row(_LATE, f'<c r="A{_LATE}" t="s"><v>0</v></c><c r="B{_LATE}" t="s"><v>1</v></c>'),
    f'<row r="{_LATE}"><c r="A{_LATE}"><v>1</v></c>' + _rows(_LATE + 1, _LATE + 2) + "</row>",
    # a cell or a row spelled otherwise
    _row(_LATE, f'<c  r="A{_LATE}"><v>1</v></c>'),
    f'<row  r="{_LATE}"><c r="A{_LATE}"><v>1</v></c></row>',
    _row(_LATE, f'<c r="a{_LATE}"><v>1</v></c>'),
    _row(_LATE, f'<c r="A0{_LATE}"><v>1</v></c>'),
    f'<row r="{_LATE}" s="2"><c r="M{_LATE}"><v>1</v></c><foo/></row>',
], ids=["wider-column", "other-row", "rows-without-cells", "formatted-cells", "formula", "error", "shared",
        "nested-rows", "two-spaces-cell", "two-spaces-row", "lower-case", "leading-zero", "other-element"])
def test_late_rows_of_every_shape_are_measured_as_the_exact_parse_measures_them(monkeypatch, late):
    """A shape the row pattern does not take, met after the columns are known, is measured otherwise, to
    the same extent as the exact parse (or by it), never skipped."""
    monkeypatch.setattr(safety, "CHUNK", 1 << 16)
    xml = sheet_xml(_rows(1, _LATE - 1) + late + _rows(_LATE + 5, _LATE + 1_000))
    fast, exact = _measures(xml)
    if not fast.needs_cell_scan:
        assert _extent(fast) == _extent(exact)


_COLUMNS = ["A", "B", "C", "J", "Z", "AA", "AB", "BA", "ZZ", "AAA"]


@st.composite
def _sheets(draw):
    rows = []
    for _ in range(draw(st.integers(1, 40))):
        n = draw(st.integers(1, 60))
        r = draw(st.sampled_from([f' r="{n}"', f' r="{n}"', f' r="{n}" spans="1:3"', "", f' r="0{n}"']))
        cells = []
        for _ in range(draw(st.integers(0, 6))):
            col = draw(st.sampled_from(_COLUMNS))
            at = draw(st.sampled_from([n, n, n, draw(st.integers(1, 80))]))
            cells.append(draw(st.sampled_from([
                f'<c r="{col}{at}"><v>{at}</v></c>',
                f'<c r="{col}{at}" t="n"><v>1.5</v></c>',
                f'<c r="{col}{at}" s="2" t="s"><v>0</v></c>',
                f'<c r="{col}{at}" t="inlineStr"><is><t>x y</t></is></c>',
                f'<c r="{col}{at}" s="4"/>',
                f'<c r="{col}{at}"><v></v></c>',
                f'<c r="{col}{at}"><f>1</f></c>',
                "<c><v>3</v></c>",
            ])))
        rows.append(f"<row{r}>{''.join(cells)}</row>" if cells or draw(st.booleans()) else f"<row{r}/>")
    return sheet_xml("".join(rows))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(xml=_sheets(), chunk=st.sampled_from([64, 256, 1024]))
def test_the_fast_measure_agrees_with_the_exact_parse_across_chunk_boundaries(monkeypatch, xml, chunk):
    """Generated sheets in chunks of a few hundred bytes, so that rows and cells fall across chunk boundaries
    and the row pattern meets every shape after the columns are known."""
    monkeypatch.setattr(safety, "CHUNK", chunk)
    try:
        fast, exact = _measures(xml)
    except safety.FileRefused:
        return  # (a reference outside the sheet: refused the same either way, by the exact parse at the latest)
    if not fast.needs_cell_scan:
        assert _extent(fast) == _extent(exact)

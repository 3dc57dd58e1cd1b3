"""Property: whatever a workbook holds, the checker answers (never raises, never hangs)."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile

import openpyxl
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from openpyxl.utils.exceptions import IllegalCharacterError

from isap.rules.engine import check_file
from isap.workbook.template import ERROR_LITERALS, SHEETS
from sample_submissions.proposals import clean, write

pytestmark = pytest.mark.integration  # the sandbox: whatever a workbook holds

BASES: dict[str, bytes] = {}


def base(tmp_path_factory, name: str) -> bytes:
    if name not in BASES:
        builders = {"cp1": lambda: clean(1), "cp2_fully": lambda: clean(2, "Fully integrated", "GP federation"),
                    "cp3": lambda: clean(3, "Fully integrated", "Social enterprise")}
        path = tmp_path_factory.mktemp("bases") / f"{name}.xlsx"
        BASES[name] = write(builders[name](), path).read_bytes()
    return BASES[name]


cell_values = st.one_of(
    st.none(), st.text(max_size=40), st.integers(-10**12, 10**12), st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(), st.dates(min_value=dt.date(1900, 3, 1), max_value=dt.date(2100, 1, 1)),
    st.sampled_from(sorted(ERROR_LITERALS)), st.sampled_from(["=1/0", "=A1+1", "=SUM(", "£1,2,3", "Yes", "n",
                                                              "2027-02-30", "ISAP-2026-999", "P-001", "SVC-001"]),
)
mutation = st.one_of(
    st.tuples(st.just("set"), st.sampled_from([s.name for s in SHEETS]), st.integers(1, 30), st.integers(1, 15),
              cell_values),
    st.tuples(st.just("delete_rows"), st.sampled_from([s.name for s in SHEETS]), st.integers(1, 20),
              st.integers(1, 5)),
    st.tuples(st.just("duplicate_row"), st.sampled_from([s.name for s in SHEETS]), st.integers(2, 12)),
    st.tuples(st.just("rename_sheet"), st.sampled_from([s.name for s in SHEETS]), st.text(min_size=1, max_size=20)),
    st.tuples(st.just("rename_header"), st.sampled_from([s.name for s in SHEETS]), st.integers(1, 13),
              st.text(max_size=20)),
)


def apply(data: bytes, mutations) -> bytes:
    wb = openpyxl.load_workbook(io.BytesIO(data))
    for m in mutations:
        kind, sheet = m[0], m[1]
        if sheet not in wb.sheetnames:
            continue
        ws = wb[sheet]
        if kind == "set":
            try:
                ws.cell(row=m[2], column=m[3]).value = m[4]
            except (ValueError, TypeError, IllegalCharacterError):
                pass  # openpyxl refuses control characters: not a workbook anyone can make
        elif kind == "delete_rows":
            ws.delete_rows(m[2], m[3])
        elif kind == "duplicate_row":
            values = [c.value for c in ws[m[2]]]
            ws.append(values)
        elif kind == "rename_sheet":
            title = "".join(ch for ch in m[2] if ch not in "[]:*?/\\'")[:31].strip()
            if title and title not in wb.sheetnames:
                ws.title = title
        elif kind == "rename_header":
            try:
                ws.cell(row=1, column=m[2]).value = m[3] or None
            except (ValueError, TypeError, IllegalCharacterError):
                pass
    out = io.BytesIO()
    try:
        wb.save(out)
    except (ValueError, TypeError, AttributeError, IllegalCharacterError):
        reject()  # openpyxl cannot write it (control characters): not a workbook anyone can make
    return out.getvalue()


def assert_answers(path) -> None:
    report = check_file(path)  # bounded by the per-file budget of the isolated check; speed is benchmarked
    as_json = json.loads(json.dumps(report.to_dict()))
    assert as_json["summary"] == report.summary
    assert report.exit_code in (0, 1, 2)
    for f in as_json["findings"]:
        assert f["rule_id"] and f["message"] and f["source"]
        assert f["severity"] in ("error", "warning", "info")
    if report.exit_code == 2:
        assert all(f.rule_id in ("WB001", "WB002", "WB003") for f in report.findings)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(which=st.sampled_from(["cp1", "cp2_fully", "cp3"]), mutations=st.lists(mutation, min_size=1, max_size=8))
def test_mutated_workbooks_always_get_an_answer(tmp_path_factory, tmp_path, which, mutations):
    data = apply(base(tmp_path_factory, which), mutations)
    path = tmp_path / "mutated.xlsx"
    path.write_bytes(data)
    assert_answers(path)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(which=st.sampled_from(["cp1", "cp2_fully"]), position=st.floats(0, 1), junk=st.binary(min_size=1, max_size=64),
       overwrite=st.booleans())
def test_random_bytes_inside_the_zip_always_get_an_answer(tmp_path_factory, tmp_path, which, position, junk,
                                                          overwrite):
    data = bytearray(base(tmp_path_factory, which))
    at = int(position * (len(data) - 1))
    if overwrite:
        data[at:at + len(junk)] = junk
    else:
        data[at:at] = junk
    path = tmp_path / "corrupt.xlsx"
    path.write_bytes(bytes(data))
    assert_answers(path)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(which=st.sampled_from(["cp1", "cp3"]), part_index=st.integers(0, 30), junk=st.binary(max_size=200))
def test_random_part_content_always_gets_an_answer(tmp_path_factory, tmp_path, which, part_index, junk):
    src = base(tmp_path_factory, which)
    with zipfile.ZipFile(io.BytesIO(src)) as z:
        names = z.namelist()
        target = names[part_index % len(names)]
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as o:
            for n in names:
                o.writestr(n, junk if n == target else z.read(n))
    path = tmp_path / "part.xlsx"
    path.write_bytes(out.getvalue())
    assert_answers(path)
    _ = pytest


# ------------------------------------------------------------------ the extent scan reads what the reader reads

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def _letters(n: int) -> str:
    out = ""
    while n:
        n, rem = divmod(n - 1, 26)
        out = chr(65 + rem) + out
    return out


def _sheet_cells(xml: bytes) -> list[tuple[int, list[tuple[int, dict, list]]]]:
    """(row, [(column, attributes, children)]) of a sheet as openpyxl wrote it."""
    from xml.etree import ElementTree as ET

    from isap.workbook.safety import parse_ref

    rows = []
    for row in ET.fromstring(xml).iter(f"{{{_MAIN}}}row"):
        cells = []
        for c in row:
            r, col = parse_ref(c.get("r"), need_column=True)
            attrs = {k: v for k, v in c.attrib.items() if k != "r"}
            children = [(ch.tag.rsplit("}", 1)[-1], "".join(ch.itertext())) for ch in c]
            cells.append((col, attrs, children))
        rows.append((int(row.get("r")), cells))
    return rows


def _respell(rows, rnd, flags) -> bytes:
    """The same cells written in another spelling a reader accepts."""
    from xml.sax.saxutils import escape, quoteattr

    def ws() -> str:
        return rnd.choice([" ", "\n", "\t", "\r\n ", "  "]) if flags["whitespace"] else " "

    def name(local: str) -> str:
        return ("x:" + local) if flags["prefix"] and rnd.random() < 0.6 else local

    def start(qname: str, attrs: list[tuple[str, str]], close: str = ">") -> str:
        if flags["order"]:
            rnd.shuffle(attrs)
        body = "".join(ws() + k + "=" + quoteattr(v) for k, v in attrs)
        return f"<{qname}{body}{ws() if flags['whitespace'] and rnd.random() < 0.3 else ''}{close}"

    def ref(col: int, row: int) -> str:
        zeros = "0" * rnd.randint(1, 3) if flags["zeros"] and rnd.random() < 0.5 else ""
        text = _letters(col) + zeros + str(row)
        return text.lower() if flags["lower"] and rnd.random() < 0.5 else text

    def noise() -> str:
        if not flags["comments"] or rnd.random() > 0.2:
            return ""
        return rnd.choice(['<!-- <c r="XFD1048576"><v>1</v></c> -->', '<![CDATA[<c r="XFD1"><v>1</v></c>]]>'])

    out = [f'<worksheet xmlns="{_MAIN}" xmlns:x="{_MAIN}"><sheetData>']
    prev_row = 0
    for row_no, cells in rows:
        r_attrs = []
        if not (flags["no_r"] and row_no == prev_row + 1 and rnd.random() < 0.5):
            zeros = "0" * rnd.randint(1, 3) if flags["zeros"] and rnd.random() < 0.5 else ""
            r_attrs.append(("r", zeros + str(row_no)))
        if flags["slash"] and rnd.random() < 0.3:
            r_attrs.append(("ph", "a/b>c"))
        row_name = name("row")
        out.append(start(row_name, r_attrs))
        prev_col = 0
        for col, attrs, children in cells:
            if flags["formatted"] and rnd.random() < 0.1:  # only formatted: not part of the extent
                out.append(start(name("c"), [("r", ref(rnd.randint(col + 1, col + 40), row_no)), ("s", "0")], "/>"))
                prev_col = -1  # the next cell cannot leave out its reference
            c_attrs = list(attrs.items())
            if not (flags["no_r"] and col == prev_col + 1 and rnd.random() < 0.5):
                c_attrs.append(("r", ref(col, row_no)))
            if flags["slash"] and rnd.random() < 0.3:
                c_attrs.append(("ph", "1/>2"))
            inner = ""
            for local, text in children:
                q = name(local)
                if local == "is":
                    t = name("t")
                    inner += f"<{q}><{t}>{escape(text)}</{t}></{q}>"
                else:
                    inner += f"<{q}>{escape(text)}</{q}>"
            c_name = name("c")
            out.append(f"{start(c_name, c_attrs)}{inner}</{c_name}>{noise()}")
            prev_col = col
        out.append(f"</{row_name}>")
        prev_row = row_no
    out.append("</sheetData></worksheet>")
    return "".join(out).encode()


_FLAGS = ("whitespace", "prefix", "order", "zeros", "lower", "no_r", "slash", "comments", "formatted")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(which=st.sampled_from(["cp1", "cp2_fully", "cp3"]), sheet_index=st.integers(0, 7),
       flags=st.fixed_dictionaries({f: st.booleans() for f in _FLAGS}), seed=st.integers(0, 2**32 - 1))
def test_scan_extent_equals_the_readers_whatever_the_spelling(tmp_path_factory, tmp_path, which, sheet_index,
                                                               flags, seed):
    import random

    from python_calamine import CalamineWorkbook

    from isap.policy import Policy
    from isap.workbook.safety import inspect
    from tests.hostile import rezip

    data = base(tmp_path_factory, which)
    part = f"xl/worksheets/sheet{sheet_index + 1}.xml"
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        rows = _sheet_cells(z.read(part))
    respelt = rezip(data, replace={part: _respell(rows, random.Random(seed), flags)})
    path = tmp_path / f"respelt_{seed}.xlsx"
    path.write_bytes(respelt)
    scan = inspect(path, Policy()).sheets[sheet_index]
    sheet = CalamineWorkbook.from_filelike(io.BytesIO(respelt)).get_sheet_by_name(scan.name)
    values = sheet.to_python(skip_empty_area=False)
    filled = sum(1 for row in values if any(v != "" for v in row))
    if values:
        end_row, end_col = sheet.end
        assert (scan.max_row, scan.max_col) == (end_row + 1, end_col + 1)
    else:
        assert (scan.max_row, scan.max_col) == (0, 0)
    assert scan.rows_with_values == filled
    # and the same spelling, read through the whole check, gives the original's findings
    assert [f.to_dict() for f in check_file(path).findings] == \
        [f.to_dict() for f in check_file(_original(tmp_path, which, data)).findings]


def _original(tmp_path, which, data):
    p = tmp_path / f"original_{which}.xlsx"
    if not p.exists():
        p.write_bytes(data)
    return p

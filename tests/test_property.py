"""Property: whatever a workbook holds, the checker answers (never raises, never hangs)."""

from __future__ import annotations

import datetime as dt
import io
import json
import time
import zipfile

import openpyxl
from openpyxl.utils.exceptions import IllegalCharacterError
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from isap.checker import check_file
from isap.template import ERROR_LITERALS, SHEETS
from sample_submissions.generate import clean, write

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
    start = time.monotonic()
    report = check_file(path)
    elapsed = time.monotonic() - start
    assert elapsed < 10, f"took {elapsed:.1f}s"
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

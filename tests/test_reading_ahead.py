"""Reading during the safety scan changes nothing but time.

The reader starts on a worksheet as soon as the scan has measured it (`inspect(on_ready=...)`).
What a file is refused for, what the reader reads and what the report says must be exactly what
they are when the scan ends before anything is read.
"""

from __future__ import annotations

import io
import zipfile

import pytest

from isap.policy import Policy
from isap.rules import engine
from isap.workbook import parse as parsing
from isap.workbook.safety import FileRefused, inspect
from sample_submissions.proposals import clean, write
from tests.hostile import add_sheet, build_all, engagement_part, rezip, sheet_xml

pytestmark = pytest.mark.integration  # the sandbox's safety scan


def _outcome(path, on_ready=None):
    try:
        inspection = inspect(path, Policy(), on_ready=on_ready)
    except FileRefused as refused:
        return [(f.rule_id, f.message) for f in refused.findings]
    return [(s.name, s.max_row, s.max_col, s.rows_with_values, dict(s.special)) for s in inspection.sheets]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    return build_all(tmp_path_factory.mktemp("hostile"))


def test_every_hostile_file_is_refused_for_the_same_reason_when_read_ahead(hostile):
    for name, (path, _rule) in hostile.items():
        reader = parsing.SheetReader()
        try:
            assert _outcome(path, reader.ahead) == _outcome(path), name
        finally:
            reader.close()


def test_a_fault_in_a_later_part_is_still_found_after_earlier_faults_in_zip_order(tmp_path):
    """Parts other than worksheets are looked at first when reading ahead; a worksheet fault that
    comes earlier in the zip is still the one reported."""
    base = write(clean(2), tmp_path / "base.xlsx").read_bytes()
    eng = engagement_part(base)
    outside = sheet_xml('<row r="1"><c r="XFE1"><v>1</v></c></row>')  # a column past XFD: WB001
    doctype = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "e">]><x/>'  # a DTD: WB001 too, other words
    data = rezip(base, replace={eng: outside}, add={"zz/late.xml": doctype})
    path = tmp_path / "two_faults.xlsx"
    path.write_bytes(data)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = z.namelist()
    assert names.index(eng) < names.index("zz/late.xml")
    reader = parsing.SheetReader()
    try:
        assert _outcome(path, reader.ahead) == _outcome(path)
    finally:
        reader.close()
    assert "outside the sheet" in _outcome(path)[0][1] or "cell reference" in _outcome(path)[0][1]


@pytest.mark.parametrize("extra", ["Notes", "services"])  # a sheet not in the template; one repeating Services
def test_only_the_sheets_the_parser_reads_are_read_ahead(tmp_path, extra):
    base = write(clean(2), tmp_path / "base.xlsx").read_bytes()
    rows = "".join(f'<row r="{r}"><c r="A{r}"><v>{r}</v></c></row>' for r in range(1, 50))
    path = tmp_path / "extra.xlsx"
    path.write_bytes(add_sheet(base, extra, "worksheet", sheet_xml(rows), first=False))
    reader = parsing.SheetReader()
    try:
        inspection = inspect(path, Policy(), on_ready=reader.ahead)
        started = set(reader._futures)
    finally:
        reader.close()
    assert extra in {s.name for s in inspection.sheets}
    assert started, "nothing was read ahead"
    assert started <= {"Cover", "Services", "Finance", "Safeguards", "Transparency", "Partners", "Engagement"}


def test_the_report_is_the_same_however_the_sheets_were_read(tmp_path, monkeypatch):
    p = clean(2)
    p["Services"][0]["category"] = "Dentistry"
    p["Partners"][1]["partner_code"] = "not a code"
    path = write(p, tmp_path / "faulty.xlsx")
    ahead = engine.check_file_in_process(path)
    monkeypatch.setattr(parsing.SheetReader, "ahead", lambda self, *a: None)  # nothing read during the scan
    after = engine.check_file_in_process(path)
    assert [f.to_dict() for f in ahead.findings] == [f.to_dict() for f in after.findings]
    assert {f.rule_id for f in after.findings} >= {"SCH003", "SCH005"}


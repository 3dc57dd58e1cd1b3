"""Reading and typing exactly as docs/workbook.md says: names, types, provenance, edge cases."""

from __future__ import annotations

import datetime as dt
import shutil

import openpyxl
import pytest

from isap.policy import Policy
from isap.rules.engine import check_file
from isap.workbook.model import FAILED
from isap.workbook.parse import parse
from isap.workbook.safety import inspect
from isap.workbook.values import Bad, to_date, to_integer, to_money, to_yesno
from sample_submissions.proposals import Layout, clean, write
from tests.conftest import findings_of


def parsed(tmp_path, proposal, layout=None, checkpoint=None):
    p = write(proposal, tmp_path / "p.xlsx", layout)
    return parse(inspect(p, Policy()), checkpoint)


@pytest.mark.parametrize("text,value", [
    ("1250000", 1250000.0), ("£1,250,000", 1250000.0), ("1250000.00", 1250000.0), ("-500", -500.0),
    ("- £ 500", -500.0), ("+£12.5", 12.5), ("£ 1,000", 1000.0), (3.5, 3.5), (7.0, 7.0),
])
def test_money_accepts(text, value):
    assert to_money(text) == value


@pytest.mark.parametrize("text", ["12m", "GBP 100", "(500)", "1 000", "1,00", "£-500", True, dt.date(2026, 1, 1)])
def test_money_refuses(text):
    out = to_money(text)
    assert isinstance(out, Bad) and out.rule_id == "SCH002"


@pytest.mark.parametrize("v,out", [(3.0, 3), ("-1", -1), ("+3", 3), (" 12 ", 12)])
def test_integer_accepts(v, out):
    assert to_integer(v) == out


@pytest.mark.parametrize("v", ["1,000", "3.0", 2.5, True, "three"])
def test_integer_refuses(v):
    assert isinstance(to_integer(v), Bad)


@pytest.mark.parametrize("v,out", [("Yes", True), ("n", False), ("Y", True), ("NO", False), (True, True)])
def test_yesno_accepts(v, out):
    assert to_yesno(v) is out


@pytest.mark.parametrize("v", ["TRUE", "FALSE", 1.0, 0.0, "yep"])
def test_yesno_refuses(v):
    assert isinstance(to_yesno(v), Bad)


def test_date_text_and_plain_number(tmp_path):
    assert to_date("2027-04-01") == dt.date(2027, 4, 1)
    assert isinstance(to_date("2027-02-30"), Bad)
    assert isinstance(to_date("01/04/2027"), Bad)
    assert isinstance(to_date(46000.0), Bad)


def test_header_and_sheet_names_match_loosely(tmp_path):
    p = clean(2)
    layout = Layout(rename_sheets={"Services": " services "},
                    headers={"Services": {"annual_value_gbp": "Annual value GBP", "service_id": "SERVICE ID"}})
    wb = parsed(tmp_path, p, layout)
    assert wb.structural_findings == ()
    assert wb.services.column("annual_value_gbp")[0] == 60_000_000.0
    assert wb.services.cell("annual_value_gbp", 0) == "F2"


def test_column_order_is_free_and_provenance_points_at_the_real_cell(tmp_path):
    p = clean(2)
    path = write(p, tmp_path / "p.xlsx")
    wb = openpyxl.load_workbook(path)
    ws = wb["Finance"]
    ws.move_range("A1:A11", cols=12)  # contract_year moves to column M
    wb.save(path)
    model = parse(inspect(path, Policy()))
    assert model.finance.letters["contract_year"] == "M"
    assert model.finance.cell("contract_year", 2) == "M4"
    assert model.finance.row(2)["contract_year"] == 3


def test_text_numbers_dates_and_codes_are_normalised(tmp_path):
    p = clean(2)
    p["Cover"]["annual_contract_value_gbp"] = "£133,000,000"
    p["Cover"]["contract_start_date"] = "2027-04-01"
    p["Cover"]["lead_commissioner_code"] = "qua"
    p["Cover"]["template_version"] = 1
    p["Partners"][0]["supports_proposal"] = "y"
    p["Services"][0]["category"] = "community HEALTH"
    wb = parsed(tmp_path, p)
    assert wb.structural_findings == ()
    assert wb.cover["annual_contract_value_gbp"] == 133_000_000.0
    assert wb.cover["contract_start_date"] == dt.date(2027, 4, 1)
    assert wb.cover["lead_commissioner_code"] == "QUA"
    assert wb.template_version == "1.0"
    assert wb.partners.column("supports_proposal")[0] is True
    assert wb.services.column("category")[0] == "Community health"


def test_proposal_reference_is_case_sensitive(run_check):
    p = clean(2)
    p["Cover"]["proposal_reference"] = "isap-2026-014"
    assert findings_of(run_check(p)) == [("SCH005", "Cover", "B3")]


def test_boolean_and_number_where_choice_expected(run_check):
    p = clean(2)
    p["Services"][0]["category"] = True
    p["Cover"]["checkpoint"] = 4
    r = run_check(p)
    assert ("SCH003", "Services", "C2") in findings_of(r)
    assert ("SCH004", "Cover", "B5") in findings_of(r)
    assert r.checkpoint is None  # invalid Cover checkpoint, no override


def test_checkpoint_override_decides_requirements(run_check):
    p = clean(1)
    p["Cover"]["provider_name"] = None
    assert findings_of(run_check(p)) == []
    r = run_check(p, checkpoint=2)
    assert r.checkpoint == 2
    assert ("SCH001", "Cover", "B8") in findings_of(r)


def test_empty_rows_are_ignored_and_row_numbers_are_excel_rows(tmp_path):
    p = clean(2)
    path = write(p, tmp_path / "p.xlsx")
    wb = openpyxl.load_workbook(path)
    ws = wb["Engagement"]
    ws.insert_rows(3, amount=2)  # two empty rows between E-001 and E-002
    ws["H4"] = "a note in an unknown column only"  # not a template column: still an empty row
    wb.save(path)
    model = parse(inspect(path, Policy()))
    assert model.engagement.excel_rows[:2] == (2, 5)
    assert len(model.engagement) == 4


def test_key_value_field_twice_uses_first_and_unknown_field_warns(tmp_path, run_check):
    p = clean(2)
    r = run_check(p, Layout(kv_extra_rows={"Safeguards": [("guarantor_type", "Parent organisation"),
                                                          ("board_minutes", "see annex")]}))
    assert findings_of(r) == [("WB005", "Safeguards", "B6"), ("WB006", "Safeguards", "B7")]


def test_missing_key_value_field_is_wb005_without_cell(run_check):
    r = run_check(clean(2), Layout(drop_columns={"Cover": ("submission_date",)}))
    assert ("WB005", "Cover", None) in findings_of(r)
    f = next(f for f in r.findings if f.rule_id == "WB005")
    assert f.column == "submission_date" and f.row is None


def test_checkpoint_two_fields_may_be_absent_at_checkpoint_one(run_check):
    r = run_check(clean(1), Layout(drop_columns={"Cover": ("provider_name", "provider_code", "provider_type",
                                                           "provider_board_approval_date"),
                                                 "Safeguards": ("guarantor_type", "no_other_business")}))
    assert findings_of(r) == []


def test_conditional_column_needed_only_when_a_row_needs_it(run_check):
    # no Subcontracted service: subcontractor_id may be absent
    p = clean(2)
    p["Services"][2].update(delivery="Direct", subcontractor_id=None)
    p["Partners"] = [x for x in p["Partners"] if x["partner_id"] != "P-010"]
    r = run_check(p, Layout(drop_columns={"Services": ("subcontractor_id",)}), select=("WB", "SCH"))
    assert findings_of(r) == []
    # with one: WB005
    r = run_check(clean(2), Layout(drop_columns={"Services": ("subcontractor_id",)}), select=("WB", "SCH"))
    assert findings_of(r) == [("WB005", "Services", None)]


def test_conditional_requirements_by_relationship_and_guarantor(run_check):
    p = clean(2, provider_type="GP federation")
    p["Partners"][4]["commissioner_approved"] = None  # Subcontract partner P-010
    p["Safeguards"]["guarantor_name"] = None
    r = run_check(p, select=("SCH",))
    assert findings_of(r) == [("SCH001", "Safeguards", "B3"), ("SCH001", "Partners", "K6")]


def test_error_literal_text_is_wb008_and_nothing_more(run_check):
    p = clean(2)
    p["Services"][0]["start_year"] = "#N/A"  # typed as text
    r = run_check(p, select=("WB", "SCH"))
    assert findings_of(r) == [("WB008", "Services", "G2")]


def test_failed_value_is_marked_failed_in_the_model(tmp_path):
    p = clean(2)
    p["Finance"][0]["net_assets_gbp"] = "lots"
    wb = parsed(tmp_path, p)
    assert wb.finance.column("net_assets_gbp")[0] is FAILED
    assert wb.finance.column("net_assets_gbp")[1] == 14_500_000.0


def test_negative_money_is_sch004_not_sch002(run_check):
    p = clean(2)
    p["Finance"][0]["guarantee_gbp"] = "-£5"
    assert findings_of(run_check(p, select=("SCH",))) == [("SCH004", "Finance", "H2")]


def test_dates_in_1904_workbooks(tmp_path):
    p = clean(2)
    path = write(p, tmp_path / "p.xlsx")
    wb = openpyxl.load_workbook(path)
    wb.epoch = openpyxl.utils.datetime.CALENDAR_MAC_1904
    wb.save(path)
    model = parse(inspect(path, Policy()))
    assert model.cover["submission_date"] == dt.date(2026, 11, 2)


def test_duplicate_template_sheet_and_column(run_check):
    p = clean(2)
    r = run_check(p, Layout(extra_sheets={" Engagement": [["engagement_id"]]},
                            extra_columns={"Finance": {"Guarantee GBP": [1, 2]}}), select=("WB",))
    assert findings_of(r) == [("WB006", "Finance", "J1"), ("WB006", " Engagement", None)]


def test_a_repeated_sheet_names_the_one_read_and_says_it_is_hidden(tmp_path):
    """Found by a fresh attack: a very hidden "Finance" before the visible "FINANCE " was the one read, and the
    warning did not say so; the first is still the one read (the template's rule), and the warning says which."""
    import openpyxl

    from isap.rules.engine import check_file

    path = write(clean(2), tmp_path / "p.xlsx")
    wb = openpyxl.load_workbook(path)
    wb.copy_worksheet(wb["Engagement"]).title = "ENGAGEMENT "
    wb["Engagement"].sheet_state = "veryHidden"
    wb.save(path)
    messages = [f.message for f in check_file(path).findings if f.rule_id == "WB006"]
    assert messages == ["Sheet 'ENGAGEMENT ' repeats the Engagement sheet; only the first one, 'Engagement', very "
                        "hidden (Excel's menus cannot show it), is read."]


@pytest.mark.parametrize("rows", [1, 4_000], ids=["read-by-rows", "read-by-columns"])
def test_a_date_cell_past_the_year_9999_is_sch002_on_either_reading_path(tmp_path, rows):
    """Found by a fresh attack: a serial of 2,958,466 (the year 10000) in a date cell of a table sheet read by
    columns (20,000 cells or more) ended the check as an isap defect; read by rows it was SCH002."""
    import openpyxl

    from isap.rules.engine import check_file

    p = clean(2)
    p["Engagement"] = [dict(p["Engagement"][0], engagement_id=f"E-{i:05d}") for i in range(rows)]
    path = write(p, tmp_path / "p.xlsx")
    wb = openpyxl.load_workbook(path)
    wb["Engagement"]["B2"].value = 2_958_466
    wb["Engagement"]["B2"].number_format = "yyyy-mm-dd"
    wb.save(path)
    report = check_file(path)
    assert report.exit_code == 1
    assert ("SCH002", "B2") in [(f.rule_id, f.cell) for f in report.findings if f.sheet == "Engagement"]


def test_excel_style_workbook_reads_like_openpyxl(tmp_path):
    """Shared strings, styles, a date number format and data validation, as Excel writes them."""
    from tests.excel_like import excel_style_copy

    p = clean(2)
    plain = write(p, tmp_path / "plain.xlsx")
    excel = excel_style_copy(plain, tmp_path / "excel.xlsx")
    a = parse(inspect(plain, Policy()))
    b = parse(inspect(excel, Policy()))
    for spec_name in ("Services", "Finance", "Transparency", "Partners", "Engagement"):
        assert dict(a.sheet(spec_name).columns) == dict(b.sheet(spec_name).columns)
    assert dict(a.cover.values) == dict(b.cover.values)
    assert check_file(excel).findings == []


# ------------------------------------------------------------------ reading what real programs write

def _rewrite_part(path, part, fn):
    import io
    import zipfile

    from tests.hostile import rezip

    data = path.read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        text = z.read(part).decode()
    path.write_bytes(rezip(data, replace={part: fn(text).encode()}))


def _engagement_with_inherited_date_style(tmp_path, how: str, date1904: bool = False):
    """The Engagement sheet's date cells (column B) without a style of their own, their date format
    given by the column (as Gnumeric writes it) or by each row's custom format."""
    import re

    p = clean(2)
    path = write(p, tmp_path / f"{how}.xlsx")
    if date1904:
        wb = openpyxl.load_workbook(path)
        wb.epoch = openpyxl.utils.datetime.CALENDAR_MAC_1904
        wb.save(path)
    part = "xl/worksheets/sheet8.xml"

    def edit(xml: str) -> str:
        date_style = re.search(r'<c r="B2" s="([0-9]+)"', xml).group(1)
        xml = re.sub(r'<c r="(B[0-9]+)" s="[0-9]+"', r'<c r="\1"', xml)
        if how == "column":
            xml = xml.replace("<sheetData>", f'<cols><col min="2" max="2" width="12" style="{date_style}"/></cols>'
                                             "<sheetData>", 1)
        else:  # the row's format applies to every cell of the row without a style of its own
            xml = re.sub(r'<row r="([2-9])"', rf'<row r="\1" s="{date_style}" customFormat="1"', xml)
            xml = re.sub(r'<c r="(E[0-9]+)" t="n">', r'<c r="\1" s="0" t="n">', xml)
        return xml

    _rewrite_part(path, part, edit)
    return p, path


@pytest.mark.parametrize("how", ["column", "row"])
@pytest.mark.parametrize("date1904", [False, True])
def test_cells_take_their_row_or_column_date_style(tmp_path, how, date1904):
    p, path = _engagement_with_inherited_date_style(tmp_path, how, date1904)
    model = parse(inspect(path, Policy()))
    assert model.structural_findings == ()
    expected = [row["engagement_date"] for row in p["Engagement"]]
    assert list(model.engagement.column("engagement_date")) == expected
    assert check_file(path).findings == []


def test_a_cell_with_its_own_style_keeps_it_under_a_date_column(tmp_path):
    import re

    p, path = _engagement_with_inherited_date_style(tmp_path, "column")
    # E (participants) gets the date column style too; its cells keep their own style "0": numbers
    _rewrite_part(path, "xl/worksheets/sheet8.xml",
                  lambda x: re.sub(r'<c r="(E[0-9]+)" t="n">', r'<c r="\1" s="0" t="n">',
                                   x.replace('max="2"', 'max="5"')))
    model = parse(inspect(path, Policy()))
    assert list(model.engagement.column("participants")) == [r["participants"] for r in p["Engagement"]]


def test_a_row_without_custom_format_does_not_lend_its_style(tmp_path):
    import re

    p, path = _engagement_with_inherited_date_style(tmp_path, "row")
    _rewrite_part(path, "xl/worksheets/sheet8.xml", lambda x: x.replace(' customFormat="1"', ""))
    r = check_file(path)
    assert {(f.rule_id, f.column) for f in r.findings} == {("SCH002", "engagement_date")}
    assert re.search("holds the number", r.findings[0].message)


def test_workbook_part_named_by_package_relationships(tmp_path):
    import io
    import zipfile

    from tests.hostile import rezip

    p = clean(2)
    original = write(p, tmp_path / "original.xlsx")
    data = original.read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    parts["xl/book.xml"] = parts.pop("xl/workbook.xml")
    parts["xl/_rels/book.xml.rels"] = parts.pop("xl/_rels/workbook.xml.rels")
    parts["_rels/.rels"] = parts["_rels/.rels"].replace(b'Target="xl/workbook.xml"', b'Target="/xl/book.xml"')
    parts["[Content_Types].xml"] = parts["[Content_Types].xml"].replace(b"/xl/workbook.xml", b"/xl/book.xml")
    moved = tmp_path / "moved.xlsx"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for n, content in parts.items():
            z.writestr(n, content)
    moved.write_bytes(out.getvalue())
    # a workbook with findings, so that the comparison means something
    p["Services"][0]["service_id"] = "bad"
    bad = write(p, tmp_path / "bad.xlsx")
    with zipfile.ZipFile(bad) as z:
        bad_sheet = {n: z.read(n) for n in z.namelist() if n.startswith("xl/worksheets/")}
    moved_bad = tmp_path / "moved_bad.xlsx"
    moved_bad.write_bytes(rezip(moved.read_bytes(), replace=bad_sheet))
    assert check_file(moved).findings == check_file(original).findings == []
    assert [f.to_dict() for f in check_file(moved_bad).findings] == [f.to_dict() for f in check_file(bad).findings]
    assert check_file(moved_bad).findings


def test_two_parts_whose_names_differ_only_in_case_are_refused(tmp_path):
    from tests.hostile import rezip, sheet_xml, valid_bytes

    data = rezip(valid_bytes(tmp_path), add={"xl/worksheets/SHEET8.xml": sheet_xml("")})
    path = tmp_path / "case.xlsx"
    path.write_bytes(data)
    assert [f.rule_id for f in check_file(path).findings] == ["WB001"]


@pytest.mark.parametrize("value,shown", [(123, "123"), (1.5, "1.5"), (dt.date(2026, 3, 1), "2026-03-01"),
                                         (True, "TRUE"), (False, "FALSE")])
def test_text_column_reads_numbers_dates_and_booleans_as_text(tmp_path, value, shown):
    p = clean(2)
    p["Services"][0]["service_name"] = value
    wb = parsed(tmp_path, p)
    assert wb.structural_findings == ()
    assert wb.services.column("service_name")[0] == shown


def test_text_then_checked_like_any_other(run_check):
    p = clean(2)
    p["Services"][0]["commissioner_code"] = 12  # an ODS code column: "12" is too short
    p["Engagement"][0]["summary"] = dt.date(2026, 3, 1)
    r = run_check(p, select=("SCH",))
    assert findings_of(r) == [("SCH005", "Services", "D2")]
    assert "'12'" in r.findings[0].message


def test_invalid_guarantor_type_is_not_a_cascade(run_check):
    p = clean(2)
    p["Safeguards"]["guarantor_type"] = "Bank"
    p["Safeguards"]["guarantor_name"] = None
    r = run_check(p, select=("SCH",))
    assert findings_of(r) == [("SCH003", "Safeguards", "B2")]


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.skipif(shutil.which("ssconvert") is None, reason="Gnumeric (ssconvert) is not installed")
def test_gnumeric_date_column_without_cell_styles(tmp_path):
    """Gnumeric leaves out a cell's style when it equals its column's: the dates must stay dates."""
    import subprocess
    import zipfile

    p = clean(2)
    path = write(p, tmp_path / "a.xlsx")
    wb = openpyxl.load_workbook(path)
    ws = wb["Engagement"]
    ws.column_dimensions["B"].number_format = "yyyy-mm-dd"
    for (cell,) in ws.iter_rows(min_col=2, max_col=2, min_row=2):
        cell.number_format = "yyyy-mm-dd"
    wb.save(tmp_path / "b.xlsx")
    out = tmp_path / "gnumeric.xlsx"
    subprocess.run(["ssconvert", "--export-type=Gnumeric_Excel:xlsx2", str(tmp_path / "b.xlsx"), str(out)],
                   check=True, capture_output=True, timeout=120, start_new_session=True)
    with zipfile.ZipFile(out) as z:
        assert b'<c r="B2">' in z.read("xl/worksheets/sheet8.xml")  # what makes this case: no style of its own
    model = parse(inspect(out, Policy()))
    assert list(model.engagement.column("engagement_date")) == [r["engagement_date"] for r in p["Engagement"]]
    assert check_file(out).findings == []


# ------------------------------------------------------------------ numbers too large to type

@pytest.mark.parametrize("convert,text", [
    (to_integer, "9" * 5_000),            # past Python's limit on digits turned into an int
    (to_integer, "-" + "1" * 4_301),
    (to_integer, "1" * 16),               # more digits than the template holds
    (to_money, "9" * 400),                # float() of this is infinity
    (to_money, "£" + "9" * 400 + ".50"),
    (to_money, "-£" + "9,999" * 100),
    (to_money, "1" * 16),
    (to_money, float("inf")),
    (to_money, float("-inf")),
    (to_money, float("nan")),
    (to_money, 1e300),
    (to_integer, float("inf")),
    (to_integer, 1e300),
])
def test_numbers_too_large_to_hold_are_a_typing_fault_with_a_short_message(convert, text):
    out = convert(text)
    assert isinstance(out, Bad) and out.rule_id == "SCH002", out
    assert len(out.message) < 250, out.message
    assert "found inf" not in out.message and "nan" not in out.message, out.message


@pytest.mark.parametrize("convert,text,value", [
    (to_integer, "9" * 15, 10**15 - 1), (to_money, "£" + "999," * 4 + "999.99", 999_999_999_999_999.99),
    (to_money, -(1e15 - 1), -(1e15 - 1)),
])
def test_numbers_up_to_fifteen_digits_still_read(convert, text, value):
    assert convert(text) == value


def test_huge_numbers_in_a_workbook_are_findings_not_a_defect(run_check):
    p = clean(2)
    p["Services"][0]["start_year"] = "9" * 5_000
    p["Services"][1]["annual_value_gbp"] = "£" + "9" * 400
    p["Cover"]["population_registered"] = "1" * 4_400
    report = run_check(p)
    assert report.exit_code == 1, [(f.rule_id, f.message[:80]) for f in report.findings]
    sch002 = {(f.sheet, f.column) for f in report.findings if f.rule_id == "SCH002"}
    assert {("Services", "start_year"), ("Services", "annual_value_gbp"), ("Cover", "population_registered")} <= sch002
    for f in report.findings:
        assert len(f.message) < 400 and "£inf" not in f.message, (f.rule_id, f.message[:200])


def test_the_rows_a_column_takes_out_are_held_one_byte_a_row_and_answer_as_a_set():
    """A column of 87,000 wrong cells kept its rows as a set of Python numbers, some 7 MB a column, all held
    until its sheet was validated (docs/performance.md, "Distinct shared text")."""
    from isap.workbook.parse import _Rows

    rows = _Rows(10, [1, 3])
    rows.update(_Rows(10, [3, 7]))  # the union of two columns' rows
    rows.update([0])
    rows.add(9)
    assert list(rows) == [0, 1, 3, 7, 9] and len(rows) == 5 and bool(rows)
    assert 7 in rows and 2 not in rows and -1 not in rows and 10 not in rows and "3" not in rows
    assert not _Rows(4) and list(_Rows(0)) == []


def test_a_sheet_the_reader_panics_on_is_wb001_not_an_isap_defect():
    """calamine panics (pyo3's PanicException, which is not an Exception) on a sheet whose cells span more than
    it can hold, as a cell at XFD1048576 does: should a sheet it panics on reach it, the check says the sheet
    cannot be read (WB001) rather than ending as an isap defect (exit 3)."""
    from isap.workbook.parse import SheetReader
    from isap.workbook.safety import (
        _READING_CONTENT_TYPES,
        _READING_ROOT_RELS,
        NS_MAIN,
        NS_PKG_REL,
        NS_REL,
        FileRefused,
        SheetScan,
        _written_entry,
        _zip_of,
    )

    parts = {
        "[Content_Types].xml": _READING_CONTENT_TYPES,
        "_rels/.rels": _READING_ROOT_RELS,
        "xl/workbook.xml": f'<workbook xmlns="{NS_MAIN}" xmlns:r="{NS_REL}"><sheets>'
                           '<sheet name="isap0" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": f'<Relationships xmlns="{NS_PKG_REL}"><Relationship Id="rId1" '
                                      f'Type="{NS_REL}/worksheet" Target="worksheets/isap0.xml"/></Relationships>',
        "xl/worksheets/isap0.xml": f'<worksheet xmlns="{NS_MAIN}"><sheetData><row r="1048576">'
                                   '<c r="XFD1048576"><v>1</v></c></row></sheetData></worksheet>',
    }
    data = _zip_of([_written_entry(name, text.encode()) for name, text in parts.items()])
    reader = SheetReader()
    # (a table: a sheet of fields is read row by row, which this sheet does not make calamine panic on)
    scan = SheetScan("Services", "xl/worksheets/sheet3.xml", True, max_row=1, max_col=1, read_name="isap0")
    try:
        reader.start(data, False, scan)
        with pytest.raises(FileRefused) as refused:
            reader.rows("Services")
    finally:
        reader.close()
    [finding] = refused.value.findings
    assert finding.rule_id == "WB001"
    assert "sheet 'Services' (part xl/worksheets/sheet3.xml) cannot be read" in finding.message


@pytest.mark.parametrize("columns", ["CDEFGHIJKLMN", "Z"])
def test_text_beside_the_fields_of_a_field_sheet_changes_nothing_read(tmp_path, columns):
    """A field sheet is read in its first two columns, the field's name and its value: text beside them
    (1.4 million cells within every limit took the check past 300 MB, found by a fresh attack) is not held, and
    what is read is what was read before."""
    from tests.hostile import text_beside_fields, valid_bytes

    base = tmp_path / "base.xlsx"
    base.write_bytes(valid_bytes(tmp_path))
    beside = tmp_path / "beside.xlsx"
    beside.write_bytes(text_beside_fields(base.read_bytes(), rows=300, columns=columns))
    policy = Policy()
    read, read_beside = parse(inspect(base, policy)), parse(inspect(beside, policy))
    assert read_beside.cover.values == read.cover.values and read.cover.values
    assert findings_of(check_file(beside)) == findings_of(check_file(base))


def test_a_field_sheet_moved_one_column_right_is_read_as_before(tmp_path):
    """Columns are given from a sheet's first used one: a field sheet whose names are in column B and values in
    column C has no names where they are read (column A), as before; it is not read as if moved back."""
    from tests.hostile import valid_bytes

    path = tmp_path / "moved.xlsx"
    path.write_bytes(valid_bytes(tmp_path))
    wb = openpyxl.load_workbook(path)
    wb["Cover"].insert_cols(1)
    wb.save(path)
    cover = parse(inspect(path, Policy())).cover
    assert cover.values and all(v is FAILED for v in cover.values.values())

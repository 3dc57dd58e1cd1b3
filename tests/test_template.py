"""The blank template: every sheet, header and aid of the spec, and it reads back cleanly."""

from __future__ import annotations

import openpyxl
import pytest

from isap.rules.engine import check_file
from isap.workbook.template import COMMITMENT_CODES, SHEETS, SheetKind, ValueType


def test_blank_template_reads_back_with_no_workbook_findings(template_path):
    report = check_file(template_path)
    assert report.exit_code == 1  # content not filled in yet
    assert report.template_version == "1.0"
    assert not [f for f in report.findings if f.rule_id.startswith("WB")]
    # only content not yet filled in: required values, and rules that need rows
    assert {f.rule_id for f in report.findings} == {"SCH001", "SCP001", "TRN003", "REL001", "REL011"}
    # the blank Cover asks for its always-required fields, not for checkpoint-2 ones
    cover = {f.column for f in report.findings if f.sheet == "Cover"}
    assert "proposal_reference" in cover and "provider_name" not in cover


def test_template_has_every_sheet_header_and_aid(template_path):
    wb = openpyxl.load_workbook(template_path)
    assert wb.sheetnames[0] == "Instructions"
    for spec in SHEETS:
        ws = wb[spec.name]
        assert ws.freeze_panes == "A2"
        validated = " ".join(str(dv.sqref) for dv in ws.data_validations.dataValidation)
        if spec.kind is SheetKind.TABLE:
            headers = [c.value for c in ws[1]]
            assert headers == list(spec.column_names)
            for i, col in enumerate(spec.columns):
                cell = ws.cell(1, i + 1)
                assert cell.comment is not None and col.name in cell.comment.text or cell.comment.text
                letter = cell.column_letter
                if col.type in (ValueType.CHOICE, ValueType.YESNO):
                    assert f"{letter}2:{letter}" in validated, (spec.name, col.name)
                if col.type is ValueType.DATE:
                    assert ws.column_dimensions[letter].number_format == "yyyy-mm-dd"
                if col.type is ValueType.MONEY:
                    assert "£" in ws.column_dimensions[letter].number_format
        else:
            fields = [ws.cell(r, 1).value for r in range(2, 2 + len(spec.columns))]
            assert fields == list(spec.column_names)
            for r, col in enumerate(spec.columns, start=2):
                assert ws.cell(r, 1).comment is not None
                if col.type in (ValueType.CHOICE, ValueType.YESNO):
                    assert f"B{r}" in validated.split(), (spec.name, col.name)
    codes = [wb["Transparency"].cell(r, 1).value for r in range(2, 12)]
    assert codes == list(COMMITMENT_CODES)
    assert wb["Cover"]["B2"].value == "1.0"


def test_the_blank_template_is_the_same_bytes_every_time(tmp_path):
    """The template `isap template` writes and the dashboard offers depends on its content only: its
    document dates and zip entry times are the fixed document date, not the moment it was made."""
    import zipfile

    from isap.workbook.blank_template import template_bytes, write_template
    from isap.workbook.reproducible import DOCUMENT_DATE

    write_template(tmp_path / "a.xlsx")
    assert (tmp_path / "a.xlsx").read_bytes() == template_bytes() == template_bytes()
    wb = openpyxl.load_workbook(tmp_path / "a.xlsx")
    assert wb.properties.created == wb.properties.modified == DOCUMENT_DATE
    with zipfile.ZipFile(tmp_path / "a.xlsx") as z:
        assert {i.date_time for i in z.infolist()} == {DOCUMENT_DATE.timetuple()[:6]}


# ------------------------------------------------------------------------------ the example

def _example(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "example.xlsx"
    done = subprocess.run([sys.executable, "-m", "isap.cli", "template", "--example", str(out)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return out


def _aids(ws):
    """What the template gives a sheet beside its values: widths, notes, drop-downs, frozen rows."""
    widths = {k: d.width for k, d in ws.column_dimensions.items() if d.customWidth}
    formats = {k: d.number_format for k, d in ws.column_dimensions.items() if d.number_format != "General"}
    notes = {c.coordinate: c.comment.text for row in ws.iter_rows() for c in row if c.comment is not None}
    validations = sorted((str(dv.sqref), dv.formula1, dv.promptTitle) for dv in ws.data_validations.dataValidation)
    return widths, formats, notes, validations, ws.freeze_panes


def test_the_example_is_the_template_filled_in(tmp_path, template_path):
    """`isap template --example` keeps every aid of the blank template: column widths, notes, drop-downs,
    frozen header rows and the date and money formats of the cells it fills."""
    import datetime as dt

    from isap.workbook.blank_template import DATE_FORMAT, MONEY_FORMAT

    example = openpyxl.load_workbook(_example(tmp_path))
    blank = openpyxl.load_workbook(template_path)
    assert example.sheetnames == blank.sheetnames
    for spec in SHEETS:
        assert _aids(example[spec.name]) == _aids(blank[spec.name]), spec.name
        ws = example[spec.name]
        for row in ws.iter_rows(min_row=2):
            for c in row:
                if isinstance(c.value, (dt.date, dt.datetime)):
                    assert c.number_format == DATE_FORMAT, (spec.name, c.coordinate)
        if spec.kind is SheetKind.TABLE:
            for ci, col in enumerate(spec.columns, start=1):
                if col.type is ValueType.MONEY and ws.cell(2, ci).value is not None:
                    assert ws.cell(2, ci).number_format == MONEY_FORMAT, (spec.name, col.name)
    assert example["Instructions"]["A1"].value == blank["Instructions"]["A1"].value


@pytest.mark.e2e  # LibreOffice prints the example
def test_libreoffice_shows_the_example_s_dates_not_hashes(tmp_path):
    """Printed by a real spreadsheet program, every date of the example shows in full: its columns are
    wide enough (a date in a column too narrow prints as ###)."""
    import shutil
    import subprocess

    soffice = shutil.which("soffice")
    if soffice is None or shutil.which("pdftotext") is None:
        pytest.skip("LibreOffice (soffice) and poppler's pdftotext are needed")
    example = _example(tmp_path)
    subprocess.run([soffice, f"-env:UserInstallation=file://{tmp_path / 'profile'}", "--headless", "--calc",
                    "--convert-to", "pdf", "--outdir", str(tmp_path / "pdf"), str(example)],
                   capture_output=True, timeout=180, check=True)
    text = subprocess.run(["pdftotext", "-layout", str(tmp_path / "pdf" / "example.pdf"), "-"],
                          capture_output=True, text=True, timeout=60, check=True).stdout
    assert "###" not in text
    assert "2027-04-01" in text and "2026-03-12" in text  # the contract start and an engagement date

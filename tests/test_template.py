"""The blank template: every sheet, header and aid of the spec, and it reads back cleanly."""

from __future__ import annotations

import openpyxl

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

"""The rules of reading a workbook: WB001–WB010 (the file and its sheets) and SCH001–SCH006 (values).

The reader finds these faults itself while it inspects the file (WB001–WB003 and WB010, before any
parsing) and while it parses it into the model (WB004–WB009, SCH001–SCH006); it builds every such finding
through the rule defined here.  The registry lists these rules beside the domain rules of
`checks`, so they share one catalogue entry, selection (`--select`/`--ignore`) and documentation;
their check returns the findings the reader already made.
"""

from __future__ import annotations

from typing import Iterable

from isap.workbook.findings import ALL_CHECKPOINTS, Domain, Finding, Rule, Severity
from isap.workbook.model import ParsedWorkbook


def _made_by_reader(rule_id: str):
    def check(wb: ParsedWorkbook, policy: object) -> Iterable[Finding]:
        return [f for f in wb.structural_findings if f.rule_id == rule_id]

    check.__name__ = f"check_{rule_id.lower()}"
    check.__doc__ = f"{rule_id}: reported by the reader while the workbook is inspected and parsed."
    return check


_FILE = "ISAP-WB 1.0 §1, §4"
_WB = [
    ("WB001", Severity.ERROR, "The file is not a readable .xlsx workbook.", "file",
     "Not a zip, corrupt or truncated, a legacy .xls, an .ods or CSV, an encrypted (password-protected) "
     "workbook, an XML part declaring a DTD or entities, a part the reader needs (the workbook, a worksheet, "
     "shared strings, styles) that is not well-formed XML in whatever encoding, a part stored as a symbolic "
     "link, a Strict Open XML workbook (save it as an Excel Workbook), or a path that does not exist. The "
     "finding names the part. Nothing else is checked: fix the file and check it again."),
    ("WB002", Severity.ERROR, "The workbook contains macros.", "file",
     "Judged by content and relationships, never by the file extension: a VBA project however its part is "
     "named (xl/vbaProject.bin, a part whose content type is a VBA project's, or the target of a vbaProject "
     "relationship), an Excel 4 macro sheet, or a macro-enabled content type. The finding names the VBA "
     "project's part. Save the workbook as an Excel Workbook (.xlsx)."),
    ("WB003", Severity.ERROR, "The workbook exceeds a safety limit.", "file",
     "Policy limits: file size, total uncompressed size (from the zip directory and from the bytes actually "
     "inflated), any part's compression ratio, rows holding a value or formula in any sheet, the area a "
     "sheet's values span, and the time to assess one file. Rows that are only formatted do not count."),
    ("WB004", Severity.ERROR, "A required sheet is missing.", "sheet",
     "All seven template sheets (Cover, Services, Finance, Safeguards, Transparency, Partners, Engagement) "
     "are required at every checkpoint. Names match case-insensitively, trimmed, with _ and space alike."),
    ("WB005", Severity.ERROR, "A required column or field is missing, or a field is given twice.",
     "sheet, column / field",
     "An always-required column must be present; a conditionally required column must be present when at "
     "least one row needs a value in it at the effective checkpoint. A required key/value field that is "
     "absent is reported with row and cell empty; a field given twice is reported at the second and the "
     "first value is used."),
    ("WB006", Severity.WARNING, "An unknown sheet or column is present.", "sheet, column",
     "Sheets and columns that are not part of the template are ignored, as is a second sheet or column "
     "matching one already read. Instructions and Findings sheets are known and ignored."),
    ("WB007", Severity.ERROR, "template_version is not a supported version.", "Cover B-cell",
     "This engine reads template ISAP-WB 1.0. A number 1 (Excel's rendering of a typed 1.0) reads as 1.0."),
    ("WB008", Severity.ERROR, "A cell holds an Excel error value.", "cell",
     "#REF!, #DIV/0!, #N/A, #VALUE!, #NAME?, #NULL!, #NUM! (stored as an error or typed as text) in a "
     "template column or field. The cell gets no further schema finding and rules needing it are skipped."),
    ("WB009", Severity.WARNING, "A formula cell has no cached value.", "cell",
     "Formulas are read through the value Excel last calculated. A formula never calculated (for example "
     "written by a script) counts as empty; rules needing it are skipped."),
    ("WB010", Severity.WARNING, "The workbook links to an external file or embeds an object.", "file",
     "An external link part (to another workbook, a UNC path or a web address), an embedded OLE object or an "
     "ActiveX control: opening the original in a spreadsheet program may reach the linked file or run the "
     "object, so reviewers are told first. One finding per link or object, in the order of the package, naming "
     "the link's target or the object's type; the workbook is still assessed. A formula that reaches outside "
     "once calculated (WEBSERVICE, IMAGE, RTD, HYPERLINK, a DDE link, a reference into another workbook) is one "
     "finding a sheet, naming the first and where it is."),
]
_SCH = [
    ("SCH001", "A required value is missing.",
     "Including conditional requirements: from checkpoint 2 (provider and safeguard fields), for GP "
     "practices (gp_contract_type, registered_list_size, supports_proposal), for Subcontract partners "
     "(commissioner_approved, direct_agreement), for Subcontracted services (subcontractor_id) and when a "
     "guarantor is named (guarantor_name)."),
    ("SCH002", "A value has the wrong type.",
     "Whole numbers, amounts in pounds (1250000, £1,250,000, -500), dates (a date cell or YYYY-MM-DD text) "
     "and Yes/No (Yes, No, Y, N in any case, or an Excel boolean) are accepted; anything else is reported."),
    ("SCH003", "A choice value is not one of the allowed values.",
     "Choices match case-insensitively; the finding lists the allowed values."),
    ("SCH004", "A number is out of its range.",
     "For example a negative amount where the amount must be at least 0, or checkpoint 4."),
    ("SCH005", "A code, reference, identifier or email address does not match its format.",
     "ODS codes (3–6 letters or digits), GP practice codes (a letter and five digits), proposal references "
     "(ISAP-YYYY-NNN), SVC-/P-/E- identifiers, email addresses."),
    ("SCH006", "An identifier that must be unique is repeated.",
     "Every repeat after the first is reported; the first occurrence is used by the rules."),
]


READING_RULES: dict[str, Rule] = {}
for _id, _sev, _summary, _points, _expl in _WB:
    READING_RULES[_id] = Rule(_id, _sev, Domain.WORKBOOK, ALL_CHECKPOINTS, _summary, _FILE, _expl,
                              _made_by_reader(_id), _points, source_by_section=True)
for _id, _summary, _expl in _SCH:
    READING_RULES[_id] = Rule(_id, Severity.ERROR, Domain.SCHEMA, ALL_CHECKPOINTS, _summary, "ISAP-WB 1.0 §2, §4",
                              _expl, _made_by_reader(_id), "cell", source_by_section=True)


def reading_finding(rule_id: str, sheet: str | None, row: int | None, column: str | None, cell: str | None,
                    message: str) -> Finding:
    """A finding of the reader, built by its rule."""
    return READING_RULES[rule_id].finding(sheet=sheet, row=row, column=column, cell=cell, message=message)

"""Writing the blank ISAP-WB 1.0 template from the template definition.

The commissioner's starting point: every sheet and header, a note on each
header saying what goes there, drop-down lists on every choice and yes/no
column, date and money formats, frozen header rows, an Instructions sheet,
and the Transparency sheet with its ten commitment codes already listed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.datavalidation import DataValidation

from isap.workbook.reproducible import save_reproducibly, workbook_bytes
from isap.workbook.template import (
    SHEETS,
    TEMPLATE_VERSION,
    Column,
    SheetKind,
    SheetSpec,
    ValueType,
    column_letter,
)

DATE_FORMAT = "yyyy-mm-dd"
MONEY_FORMAT = '"£"#,##0.00;-"£"#,##0.00'
HEADER_FILL = PatternFill("solid", fgColor="005EB8")  # NHS blue
HEADER_FONT = Font(bold=True, color="FFFFFF")
LAST_ROW = 5000  # drop-downs and formats cover this many rows

INSTRUCTIONS = [
    "ICP proposal workbook — template ISAP-WB 1.0",
    "",
    "Fill in one workbook per proposal and checkpoint. Keep the sheet names and column headers as they are.",
    "Cover and Safeguards: one field per row; type each value in column B.",
    "Other sheets: one row per item, starting on row 2. Leave unused rows empty.",
    "Choices and Yes/No: pick from the drop-down list in the cell.",
    "Amounts are in pounds (e.g. 1250000 or £1,250,000). Dates: a date cell or YYYY-MM-DD.",
    "Hover over a header (or a Cover/Safeguards field name) to see what it needs.",
    "Check the workbook before you submit it:  isap check your-workbook.xlsx",
    "Fields marked 'checkpoint ≥ 2' are needed from checkpoint 2 (preferred bidder) onwards.",
]


def shown_label(col: Column) -> str:
    """The field's label as the template shows it, at the head of its note and its drop-down."""
    return col.label[:1].upper() + col.label[1:]


def _note(col: Column) -> str:
    # the label first: it is the name every finding about this field uses
    parts = [shown_label(col), col.description or col.name, f"Type: {col.type.value}."]
    if col.choices:
        parts.append("Allowed: " + ", ".join(col.choices) + ".")
    if col.format is not None:
        parts.append(f"Format: {col.format.value}.")
    rng = col.range_text()
    if rng:
        parts.append(f"Must be {rng}.")
    parts.append(f"Required: {col.required_text}.")
    return "\n".join(parts)


def _validation(col: Column) -> DataValidation | None:
    if col.type is ValueType.CHOICE:
        items = ",".join(col.choices)
    elif col.type is ValueType.YESNO:
        items = "Yes,No"
    else:
        return None
    dv = DataValidation(type="list", formula1=f'"{items}"', allow_blank=True, showDropDown=False)
    dv.error = f"Choose one of: {items.replace(',', ', ')}"
    dv.errorTitle = shown_label(col)  # Excel shows at most 32 characters of a title
    dv.prompt = col.description
    dv.promptTitle = shown_label(col)
    return dv


def _number_format(col: Column) -> str | None:
    return {ValueType.DATE: DATE_FORMAT, ValueType.MONEY: MONEY_FORMAT}.get(col.type)


def _table(ws, spec: SheetSpec) -> None:
    for ci, col in enumerate(spec.columns, start=1):
        cell = ws.cell(row=1, column=ci, value=col.name)
        cell.fill, cell.font = HEADER_FILL, HEADER_FONT
        cell.comment = Comment(_note(col), "ISAP-WB 1.0", width=320, height=180)
        letter = column_letter(ci - 1)
        ws.column_dimensions[letter].width = max(14, len(col.name) + 4)
        fmt = _number_format(col)
        if fmt:
            ws.column_dimensions[letter].number_format = fmt
        dv = _validation(col)
        if dv is not None:
            ws.add_data_validation(dv)
            dv.add(f"{letter}2:{letter}{LAST_ROW}")
    for r, preset in enumerate(spec.preset_rows, start=2):
        for ci, value in enumerate(preset, start=1):
            ws.cell(row=r, column=ci, value=value)
    ws.freeze_panes = "A2"


def _key_value(ws, spec: SheetSpec) -> None:
    for ci, title in enumerate(("field", "value"), start=1):
        cell = ws.cell(row=1, column=ci, value=title)
        cell.fill, cell.font = HEADER_FILL, HEADER_FONT
    ws.column_dimensions["A"].width = 36
    ws.column_dimensions["B"].width = 40
    for r, col in enumerate(spec.columns, start=2):
        name = ws.cell(row=r, column=1, value=col.name)
        name.comment = Comment(_note(col), "ISAP-WB 1.0", width=320, height=180)
        value = ws.cell(row=r, column=2)
        fmt = _number_format(col)
        if fmt:
            value.number_format = fmt
        if col.name == "template_version":
            value.value = TEMPLATE_VERSION
            value.number_format = "@"
        dv = _validation(col)
        if dv is not None:
            ws.add_data_validation(dv)
            dv.add(f"B{r}")
    ws.freeze_panes = "A2"


def build_template() -> Workbook:
    wb = Workbook()
    ins = wb.active
    ins.title = "Instructions"
    for r, line in enumerate(INSTRUCTIONS, start=1):
        ins.cell(row=r, column=1, value=line).alignment = Alignment(wrap_text=False)
    ins["A1"].font = Font(bold=True, size=14)
    ins.column_dimensions["A"].width = 110
    for spec in SHEETS:
        ws = wb.create_sheet(spec.name)
        if spec.kind is SheetKind.TABLE:
            _table(ws, spec)
        else:
            _key_value(ws, spec)
    return wb


def filled_template(values: Mapping[str, Mapping[str, object] | Sequence[Mapping[str, object]]]) -> Workbook:
    """The template filled in with `values`: per sheet, a key/value sheet's `{field: value}` or a table's
    rows of `{column: value}`.  Everything the blank template gives (widths, notes, drop-downs, frozen
    header rows) stays, and each date or amount is written in the template's format, so an example
    reads as a commissioner's own filled-in template would, dates included."""
    wb = build_template()
    for spec in SHEETS:
        ws = wb[spec.name]
        given = values.get(spec.name)
        if given is None:
            continue
        if spec.kind is SheetKind.KEY_VALUE:
            assert isinstance(given, Mapping)
            for r, col in enumerate(spec.columns, start=2):
                if col.name in given and col.name != "template_version":
                    ws.cell(row=r, column=2, value=given[col.name])
            continue
        for r in range(2, len(spec.preset_rows) + 2):  # the preset rows are replaced by the given ones
            for ci in range(1, len(spec.columns) + 1):
                ws.cell(row=r, column=ci).value = None
        for r, row in enumerate(given, start=2):
            for ci, col in enumerate(spec.columns, start=1):
                value = row.get(col.name)
                if value is None:
                    continue
                cell = ws.cell(row=r, column=ci, value=value)
                fmt = _number_format(col)
                if fmt:
                    cell.number_format = fmt
    return wb


def write_filled_template(values, out: str | Path) -> Path:
    return save_reproducibly(filled_template(values), out)


def template_bytes() -> bytes:
    """The blank template's bytes: the same on every call (see isap.workbook.reproducible)."""
    return workbook_bytes(build_template())


def write_template(out: str | Path) -> None:
    save_reproducibly(build_template(), out)

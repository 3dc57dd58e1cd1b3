"""The annotated feedback workbook: the commissioner's own file, marked where it is at fault.

Their data and formatting are left as they are; each cell at fault gets a
red (error) or amber (warning) fill and a comment with the rule, message and
source (the document by title, publisher and year), and a `Findings` sheet
lists every finding with a link to its cell (findings with no cell, such as a
missing sheet, are listed too).  A finding a reviewer has waived for the proposal's checkpoint is
marked grey, and its comment and its row say who waived it and why.  Reading
the annotated copy back gives the same findings: the engine knows and
ignores the Findings sheet.
"""

from __future__ import annotations

from openpyxl import load_workbook
from openpyxl.cell.cell import TYPE_STRING
from openpyxl.comments import Comment
from openpyxl.styles import Font, PatternFill
from openpyxl.worksheet.hyperlink import Hyperlink

from isap.outputs.exports import FORMULA_START
from isap.rules.engine import CheckReport
from isap.rules.sources import readable
from isap.workbook.template import normalise_name

ERROR_FILL = PatternFill("solid", fgColor="F4B6B6")
WARNING_FILL = PatternFill("solid", fgColor="FFE08A")
WAIVED_FILL = PatternFill("solid", fgColor="D9D9D9")
FINDINGS_SHEET = "Findings"


class AnnotateError(RuntimeError):
    pass


def annotated_copy(data: bytes, report: CheckReport, policy=None,
                   waived: dict[str, str] | None = None) -> tuple[bytes, int]:
    """The annotated copy of a workbook held in memory, and how many cells were marked.

    Making it parses the uploaded bytes again (openpyxl reads the whole
    workbook), so it runs in a limited child like the check itself, never in
    the process that serves other people; a child that runs out of a limit
    is an `AnnotateError` like any other reason the copy cannot be made.  `waived` names the waived findings
    by fingerprint, each with who waived it and why."""
    from isap.policy import Policy
    from isap.workbook import isolation

    if report.refused:
        raise _not_assessed(report)
    outcome = isolation.run(_annotate_in_child, (data, report, waived or {}),
                            isolation.Limits.from_policy(policy or Policy()))
    if isinstance(outcome, isolation.Failure):
        raise AnnotateError(f"the annotated copy could not be made within the safety limits ({outcome.detail})")
    made, payload, marked = outcome
    if not made:
        raise AnnotateError(payload)
    return payload, marked


def annotate_bytes(data: bytes, report: CheckReport, policy=None, waived: dict[str, str] | None = None) -> bytes:
    """The annotated copy of a workbook held in memory (for downloads), made in a limited child."""
    return annotated_copy(data, report, policy, waived)[0]


def _annotate_in_child(data: bytes, report: CheckReport, waived: dict[str, str]) -> tuple[bool, bytes | str, int]:
    import io

    out = io.BytesIO()
    try:
        marked = annotate(io.BytesIO(data), report, out, waived)
    except AnnotateError as exc:
        return False, str(exc), 0
    return True, out.getvalue(), marked


def _not_assessed(report: CheckReport) -> AnnotateError:
    return AnnotateError("the workbook could not be assessed, so it cannot be annotated: "
                         + "; ".join(f.message for f in report.findings))


def sheet_reference(title: str, cell: str) -> str:
    """`'Sheet name'!A1`, quoted as Excel requires (an apostrophe in the name is doubled), whatever
    the name holds: the name is workbook text."""
    return "'" + title.replace("'", "''") + "'!" + cell


def _text(ws, row: int, column: int, value: str | None):
    """A cell holding workbook text as a string, never a formula: openpyxl would take text starting
    with `=` for one.  Text that starts like a formula also gets Excel's quote prefix, so that editing
    the cell in Excel keeps it text (CWE-1236)."""
    c = ws.cell(row=row, column=column)
    if value is None:
        return c
    c.value = value
    c.data_type = TYPE_STRING
    if value.startswith(FORMULA_START):
        c.quotePrefix = True
    return c


def annotate(source, report: CheckReport, out, waived: dict[str, str] | None = None) -> int:
    """Write the annotated copy; returns how many cells were marked.

    Raises `AnnotateError`, with a one-line reason, for anything that stops the copy being made (a
    part openpyxl cannot read, an unwritable destination): annotation is an extra, and its failure is
    reported apart from the check."""
    if report.refused:
        raise _not_assessed(report)
    try:
        # the file has passed the safety checks already
        wb = load_workbook(source)
    except Exception as exc:  # noqa: BLE001 - any part openpyxl cannot read, however it fails
        raise AnnotateError(f"a part of the workbook could not be read for the annotated copy "
                            f"({type(exc).__name__}); the check itself is complete") from None
    marked = _mark(wb, report, waived or {})
    try:
        wb.save(out)
    except OSError as exc:
        raise AnnotateError(f"cannot write {out}: {exc.strerror or exc}") from None
    except Exception as exc:  # noqa: BLE001
        raise AnnotateError(f"the annotated copy could not be written ({type(exc).__name__})") from None
    return marked


def _mark(wb, report: CheckReport, waived: dict[str, str]) -> int:
    for name in list(wb.sheetnames):
        if normalise_name(name) == normalise_name(FINDINGS_SHEET):
            del wb[name]
    by_norm = {}
    for ws in wb.worksheets:
        by_norm.setdefault(normalise_name(ws.title), ws)
    grouped: dict[tuple[str, str], list] = {}
    for f in report.findings:
        if f.sheet and f.cell:
            grouped.setdefault((f.sheet, f.cell), []).append(f)
    marked = 0
    for (sheet, cell), findings in grouped.items():
        ws = by_norm.get(normalise_name(sheet))
        if ws is None:
            continue
        c = ws[cell]
        standing = [f for f in findings if f.fingerprint not in waived]
        worst = "error" if any(f.severity.value == "error" for f in standing) else "warning"
        c.fill = WAIVED_FILL if not standing else ERROR_FILL if worst == "error" else WARNING_FILL
        text = "\n\n".join(f"{f.rule_id} ({f.severity.value}): {f.message}\nSource: {readable(f.source)}"
                           + (f"\nWAIVED: {waived[f.fingerprint]}" if f.fingerprint in waived else "")
                           for f in findings)
        c.comment = Comment(text, "ISAP check", width=360, height=min(480, 110 + 90 * len(findings)))
        marked += 1
    fs = wb.create_sheet(FINDINGS_SHEET, 0)
    headers = ["severity", "rule_id", "sheet", "cell", "message", "source", "go to"] + (["waived"] if waived else [])
    fs.append(headers)
    for c in fs[1]:
        c.font = Font(bold=True)
    for row, f in enumerate(report.findings, start=2):
        for column, value in enumerate((f.severity.value, f.rule_id, f.sheet, f.cell, f.message,
                                                       readable(f.source)), 1):
            _text(fs, row, column, value)
        ws = by_norm.get(normalise_name(f.sheet)) if f.sheet else None
        if ws is not None:
            target = sheet_reference(ws.title, f.cell or "A1")
            link = _text(fs, row, 7, f"{ws.title}!{f.cell or 'A1'}")
            link.hyperlink = Hyperlink(ref=link.coordinate, location=target, display=link.value)
            link.font = Font(color="0563C1", underline="single")
        if f.fingerprint in waived:
            _text(fs, row, 8, waived[f.fingerprint])
    fs.freeze_panes = "A2"
    for col, width in zip("ABCDEFGH", (10, 9, 14, 8, 90, 60, 22, 60)):
        fs.column_dimensions[col].width = width
    return marked

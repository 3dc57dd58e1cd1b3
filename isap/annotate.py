"""The annotated feedback workbook: the commissioner's own file, marked where it is at fault.

Their data and formatting are left as they are; each cell at fault gets a
red (error) or amber (warning) fill and a comment with the rule, message and
source, and a `Findings` sheet lists every finding with a link to its cell
(findings with no cell, such as a missing sheet, are listed too).  Reading
the annotated copy back gives the same findings: the engine knows and
ignores the Findings sheet.
"""

from __future__ import annotations

from openpyxl import load_workbook
from openpyxl.comments import Comment
from openpyxl.styles import Font, PatternFill

from isap.checker import Report
from isap.exports import neutralise
from isap.template import normalise_name

ERROR_FILL = PatternFill("solid", fgColor="F4B6B6")
WARNING_FILL = PatternFill("solid", fgColor="FFE08A")
FINDINGS_SHEET = "Findings"


class AnnotateError(RuntimeError):
    pass


def annotate_bytes(data: bytes, report: Report) -> bytes:
    """The annotated copy of a workbook held in memory (for downloads)."""
    import io

    out = io.BytesIO()
    annotate(io.BytesIO(data), report, out)
    return out.getvalue()


def annotate(source, report: Report, out) -> int:
    """Write the annotated copy; returns how many cells were marked."""
    if report.refused:
        raise AnnotateError("the workbook could not be assessed, so it cannot be annotated: "
                            + "; ".join(f.message for f in report.findings))
    wb = load_workbook(source)  # the file has passed the safety checks already
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
        worst = "error" if any(f.severity.value == "error" for f in findings) else "warning"
        c.fill = ERROR_FILL if worst == "error" else WARNING_FILL
        text = "\n\n".join(f"{f.rule_id} ({f.severity.value}): {f.message}\nSource: {f.source}" for f in findings)
        c.comment = Comment(text, "ISAP check", width=360, height=min(400, 90 + 70 * len(findings)))
        marked += 1
    fs = wb.create_sheet(FINDINGS_SHEET, 0)
    headers = ["severity", "rule_id", "sheet", "cell", "message", "source", "go to"]
    fs.append(headers)
    for c in fs[1]:
        c.font = Font(bold=True)
    for f in report.findings:
        fs.append([neutralise(v) for v in (f.severity.value, f.rule_id, f.sheet, f.cell, f.message, f.source)]
                  + [None])
        row = fs.max_row
        ws = by_norm.get(normalise_name(f.sheet)) if f.sheet else None
        if ws is not None:
            link = fs.cell(row=row, column=7, value=f"{ws.title}!{f.cell or 'A1'}")
            link.hyperlink = f"#'{ws.title}'!{f.cell or 'A1'}"
            link.font = Font(color="0563C1", underline="single")
    fs.freeze_panes = "A2"
    for col, width in zip("ABCDEFG", (10, 9, 14, 8, 90, 36, 22)):
        fs.column_dimensions[col].width = width
    wb.save(out)
    return marked

"""Small helpers the domain checks share (reading the model, wording messages)."""

from __future__ import annotations

from isap.rules.sources import DOCUMENTS
from isap.workbook.model import FAILED, ParsedWorkbook, Row, Table

# Rules cite the seed documents by file name (what the JSON report keeps); the titles people read
# are in the one document catalogue, `isap.rules.sources`.
SEEDS = {name[:3]: name for name in DOCUMENTS}


def src(*refs: str) -> str:
    """`src("002 §34", "002 §35", "001 §97c")` → `002_….txt §34, §35; 001_….txt §97c`."""
    grouped: dict[str, list[str]] = {}
    for ref in refs:
        seed, _, para = ref.partition(" ")
        grouped.setdefault(SEEDS[seed], []).append(para)
    return "; ".join(f"{name} {', '.join(paras)}" for name, paras in grouped.items())


def ok(*values: object) -> bool:
    """Every value is present and passed its own checks."""
    for v in values:
        if v is None or v is FAILED:
            return False
    return True


def any_failed(table: Table, column: str, rows=None) -> bool:
    col = table.column(column)
    idx = range(len(col)) if rows is None else rows
    return any(col[i] is FAILED for i in idx)


def year_label(row: Row) -> str:
    y = row["contract_year"]
    return f"Year {y}" if ok(y) else f"Row {row.excel_row}"


def engaged(wb: ParsedWorkbook, audience: str, by) -> bool | None:
    """True if an event with the audience is dated on or before `by`; None when a failed row could be one."""
    e = wb.engagement
    unknown = False
    for a, d in zip(e.column("audience"), e.column("engagement_date")):
        if a == audience and ok(d) and d <= by:
            return True
        if (a is FAILED and (d is FAILED or (ok(d) and d <= by))) or (a == audience and d is FAILED):
            unknown = True
    return None if unknown else False

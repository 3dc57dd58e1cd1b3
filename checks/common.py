"""Small helpers the domain checks share (reading the model, wording messages)."""

from __future__ import annotations

from isap.workbook.model import FAILED, ParsedWorkbook, Row, Table

SEEDS = {
    "000": "000_d2c44084dfb7e1c7.txt",
    "001": "001_fe4937a85331cf2d.txt",
    "002": "002_beafc3e198b0dad1.txt",
    "003": "003_22a63f7275332d78.txt",
}


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

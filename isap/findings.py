"""The finding: one problem, pointing at the exact place in the workbook.

Everything the engine reports is a `Finding`; this module also fixes the order
findings are listed in (template sheet order, then row, rule and column), so
the text report, JSON, annotated copy and dashboard all agree.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum

from isap.template import SHEET_ORDER, SHEETS_BY_NAME


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class Domain(str, Enum):
    WORKBOOK = "workbook"
    SCHEMA = "schema"
    CAPITALISATION = "capitalisation"
    TRANSPARENCY = "transparency"
    SERVICE_SCOPE = "service_scope"
    RELATIONSHIPS = "relationships"
    GOVERNANCE = "governance"


@dataclass(frozen=True, slots=True)
class Finding:
    rule_id: str
    severity: Severity
    domain: Domain
    sheet: str | None
    row: int | None
    column: str | None
    cell: str | None
    message: str
    source: str

    def to_dict(self) -> dict:
        d = asdict(self)
        d["severity"] = self.severity.value
        d["domain"] = self.domain.value
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Finding":
        return cls(
            rule_id=d["rule_id"],
            severity=Severity(d["severity"]),
            domain=Domain(d["domain"]),
            sheet=d.get("sheet"),
            row=d.get("row"),
            column=d.get("column"),
            cell=d.get("cell"),
            message=d["message"],
            source=d["source"],
        )


def sort_findings(findings: list[Finding], unknown_sheet_order: dict[str, int] | None = None) -> list[Finding]:
    """File-level findings first; then template sheets in template order; then unknown
    sheets in workbook order; within a sheet row null first, then row, rule_id, column order."""
    unknown = unknown_sheet_order or {}

    def key(f: Finding):
        if f.sheet is None:
            sheet_key = (0, 0)
        elif f.sheet in SHEET_ORDER:
            sheet_key = (1, SHEET_ORDER[f.sheet])
        else:
            sheet_key = (2, unknown.get(f.sheet, 10**9))
        spec = SHEETS_BY_NAME.get(f.sheet) if f.sheet else None
        col_names = spec.column_names if spec else ()
        col_key = col_names.index(f.column) if f.column in col_names else len(col_names)
        return (sheet_key, f.row is not None, f.row or 0, f.rule_id, col_key, f.column or "", f.cell or "")

    return sorted(findings, key=key)

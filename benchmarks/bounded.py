"""Bounded output: a workbook with a hundred thousand rows of faults, checked, stored and shown.

Every cell of every `Services` row is invalid (ten columns, a fault of its own
in each), so an unbounded checker lists about a million findings.  The
benchmark checks that the check, the stored version and the proposal page stay
small and fast however many faults a file holds (workbook.md §4 "Output").
The workbook is generated here (about 3.4 MB), never committed.
"""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook

from isap.template import SHEETS, SheetKind
from sample_submissions.generate import clean

OUT = Path(__file__).resolve().parent / "out"

# one fault per Services column: a bad (and repeated) identifier, a missing name, choices that do
# not exist, a bad ODS code, text where a number belongs, a non-answer and a bad partner id
BAD_SERVICE_ROW = {
    "service_id": "service one",
    "service_name": None,
    "category": "Dentistry",
    "commissioner_code": "not a code",
    "funding_source": "Lottery",
    "annual_value_gbp": "about a million",
    "start_year": "soon",
    "anticipated_extension": "maybe",
    "delivery": "By post",
    "subcontractor_id": "partner ten",
}


def many_findings_workbook(rows: int = 99_999, path: Path | None = None) -> Path:
    """The proposal of `clean(2)` with `rows` Services rows under the header (100,000 rows in all,
    the row limit), each with ten invalid cells."""
    path = path or OUT / f"many_findings_{rows}.xlsx"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    p = clean(2)
    wb = Workbook(write_only=True)
    for spec in SHEETS:
        ws = wb.create_sheet(spec.name)
        if spec.kind is SheetKind.KEY_VALUE:
            ws.append(["field", "value"])
            for k, v in p[spec.name].items():
                ws.append([k, v])
        elif spec.name == "Services":
            ws.append(list(spec.column_names))
            bad = [BAD_SERVICE_ROW[c] for c in spec.column_names]
            for _ in range(rows):
                ws.append(bad)
        else:
            ws.append(list(spec.column_names))
            for row in p[spec.name]:
                ws.append([row.get(c) for c in spec.column_names])
    tmp = path.with_suffix(".tmp")
    wb.save(tmp)
    tmp.rename(path)
    return path


if __name__ == "__main__":
    print(many_findings_workbook())

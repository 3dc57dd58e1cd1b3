"""Generated stress workbooks for the benchmarks (cached under benchmarks/out/)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from openpyxl import Workbook

from isap.workbook.template import SHEETS, SheetKind
from sample_submissions.proposals import clean

OUT = Path(__file__).resolve().parent / "out"


def stress_workbook(services: int = 50_000, partners: int = 20_000, engagement: int = 20_000,
                    path: Path | None = None) -> Path:
    path = path or OUT / f"stress_{services}_{partners}_{engagement}.xlsx"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    p = clean(2)
    base_services = p["Services"]
    base_partners = p["Partners"]
    base_engagement = p["Engagement"]
    p["Services"] = []
    for i in range(services):
        row = dict(base_services[i % len(base_services)])
        row["service_id"] = f"SVC-{i + 1:06d}"
        if row["delivery"] == "Subcontracted":
            row["subcontractor_id"] = "P-000010"
        p["Services"].append(row)
    p["Partners"] = []
    for i in range(partners):
        row = dict(base_partners[i % len(base_partners)])
        row["partner_id"] = f"P-{i + 1:06d}" if i != 4 else "P-000010"
        p["Partners"].append(row)
    p["Engagement"] = []
    for i in range(engagement):
        row = dict(base_engagement[i % len(base_engagement)])
        row["engagement_id"] = f"E-{i + 1:06d}"
        p["Engagement"].append(row)
    return write_fast(p, path)


def write_fast(p: dict, path: Path, rows: dict | None = None) -> Path:
    """Write a proposal with openpyxl's write-only mode (large workbooks in seconds), atomically.

    `rows` may give a table sheet's data rows as lists in template column order instead of the
    proposal's own."""
    wb = Workbook(write_only=True)
    for spec in SHEETS:
        ws = wb.create_sheet(spec.name)
        if spec.kind is SheetKind.KEY_VALUE:
            ws.append(["field", "value"])
            for k, v in p[spec.name].items():
                ws.append([k, v])
        else:
            ws.append(list(spec.column_names))
            given = (rows or {}).get(spec.name)
            for row in given if given is not None else ([r.get(c) for c in spec.column_names] for r in p[spec.name]):
                ws.append(row)
    tmp = path.with_suffix(".tmp")
    wb.save(tmp)
    tmp.rename(path)
    return path


if __name__ == "__main__":
    print(stress_workbook())
    _ = dt

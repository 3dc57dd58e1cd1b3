"""Bounded output: a workbook with a hundred thousand rows of faults, checked, stored and shown.

Every cell of every `Services` row is invalid (ten columns, a fault of its own
in each), so an unbounded checker lists about a million findings.  The
benchmark checks that the check, the stored version and the proposal page stay
small and fast however many faults a file holds (docs/workbook.md §4 "Output").
The workbook is generated here (about 3.4 MB), never committed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from benchmarks.stress import write_fast
from isap.workbook.template import SHEETS_BY_NAME
from sample_submissions.proposals import clean

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
    bad = [BAD_SERVICE_ROW[c] for c in SHEETS_BY_NAME["Services"].column_names]
    return write_fast(clean(2), path, rows={"Services": (bad for _ in range(rows))})


ROOT = Path(__file__).resolve().parent.parent

# Run in a child so that its peak resident memory is this step's own.  The check runs in this
# process (`check_file_in_process`, the work the isolated child does), so its CPU time and peak
# memory are measured here rather than in a grandchild of the isolation's forkserver; CPU time
# rather than wall time, since the machine may be shared.
_CHECK = textwrap.dedent("""
    import json, resource, sys, time
    from isap.rules.engine import check_file_in_process
    from isap.outputs.formats import to_json
    t0, c0 = time.perf_counter(), time.process_time()
    report = check_file_in_process(sys.argv[1])
    out = to_json([report])
    t1, c1 = time.perf_counter(), time.process_time()
    print(json.dumps({"seconds": t1 - t0, "cpu_s": c1 - c0, "json_bytes": len(out.encode()),
                      "listed": len(report.findings), "summary": report.summary,
                      "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
""")
_CALAMINE = textwrap.dedent("""
    import json, resource, sys, time
    import python_calamine
    t0, c0 = time.perf_counter(), time.process_time()
    book = python_calamine.CalamineWorkbook.from_path(sys.argv[1])
    for name in book.sheet_names:
        book.get_sheet_by_name(name).to_python(skip_empty_area=False)
    print(json.dumps({"seconds": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
                      "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
""")
_UPLOAD = textwrap.dedent("""
    import json, resource, sys, time
    from pathlib import Path
    from isap.review.service import Service
    svc = Service()
    data = Path(sys.argv[1]).read_bytes()
    t0 = time.perf_counter()
    result = svc.upload("alice", "many.xlsx", data)
    t1 = time.perf_counter()
    shows = []
    for _ in range(3):
        t = time.perf_counter()
        shown = svc.show("alice", result.reference)
        shows.append(time.perf_counter() - t)
    print(json.dumps({"seconds": t1 - t0, "reference": result.reference, "show_s": min(shows),
                      "shown_findings": len(shown["findings"]), "errors": result.errors,
                      "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
""")


def _child(code: str, *args: str, env: dict | None = None) -> dict:
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT,
                          check=True, env=env)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _isap(env: dict, *args: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "isap.cli", *args], capture_output=True, cwd=ROOT, check=True, env=env)
    return time.perf_counter() - t0


def bench_bounded(rows: int = 99_999) -> list[dict]:
    """Check, upload and show the many-findings workbook; the references are a raw read of the same
    file and `isap show` of the same database before the upload."""
    path = many_findings_workbook(rows)
    cal = min((_child(_CALAMINE, str(path)) for _ in range(2)), key=lambda r: r["cpu_s"])
    chk = _child(_CHECK, str(path))
    out = []
    label = f"{rows + 1:,} rows × 10 invalid cells ({path.stat().st_size / 1e6:.1f} MB)"
    out.append({"benchmark": f"isap check --format json, {label}", "reference": "python-calamine raw read",
                "reference_cpu_s": round(cal["cpu_s"], 3), "measured_cpu_s": round(chk["cpu_s"], 3),
                "ratio": round(chk["cpu_s"] / cal["cpu_s"], 2), "measured_wall_s": round(chk["seconds"], 3),
                "peak_mb": round(chk["peak_mb"]),
                "reference_peak_mb": round(cal["peak_mb"]), "json_mb": round(chk["json_bytes"] / 1e6, 2),
                "findings_listed": chk["listed"], "findings_counted": sum(chk["summary"].values()),
                "target": "< 10 s CPU, < 500 MB"})
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, ISAP_DATA_DIR=tmp)
        env.pop("ISAP_DATABASE_URL", None)
        _isap(env, "db", "upgrade")
        _isap(env, "org", "add", "QUA", "NHS Black Country ICB")
        _isap(env, "user", "add", "alice", "--role", "commissioner", "--org", "QUA", "--password", "bench-only")
        # a small clean version first, so that `isap show` has a reference of the same proposal
        from sample_submissions.proposals import clean, write

        small = write(clean(2), Path(tmp) / "clean.xlsx")
        _isap(env, "upload", str(small), "--as", "alice")
        ref_show = min(_isap(env, "show", "ISAP-2026-014", "--as", "alice") for _ in range(3))
        db = Path(tmp) / "isap.db"
        before = db.stat().st_size
        up = _child(_UPLOAD, str(path), env=env)
        growth = db.stat().st_size - before
        shown = min(_isap(env, "show", "ISAP-2026-014", "--as", "alice") for _ in range(3))
        listed = min(_isap(env, "list", "--as", "alice") for _ in range(3))
    out.append({"benchmark": "isap upload, same file, SQLite", "reference": "", "measured_s": round(up["seconds"], 3),
                "peak_mb": round(up["peak_mb"]), "db_growth_mb": round(growth / 1e6, 2),
                "errors_counted": up["errors"], "target": "< 5 MB database growth"})
    out.append({"benchmark": f"proposal page data (Service.show, {up['shown_findings']:,} findings listed)",
                "reference": "", "measured_s": round(up["show_s"], 3), "target": "< 2 s"})
    out.append({"benchmark": "isap show of that proposal (cold CLI process)",
                "reference": "isap show of the same proposal with one clean version", "reference_s": round(ref_show, 3),
                "measured_s": round(shown, 3), "ratio": round(shown / ref_show, 2),
                "isap_list_same_run_s": round(listed, 3), "target": "< 2 s"})
    return out


if __name__ == "__main__":
    for row in bench_bounded():
        print(row)

"""The benchmark suite: one command, inputs generated, a table of figures and ratios.

    .venv/bin/python -m benchmarks.run [--only check,store,...]

Every figure is reported against a reference measured in the same run on the
same machine (python-calamine's raw read of the same file, a plain loop,
...), so the ratios hold on machines of different speed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_PROBE = textwrap.dedent("""
    import json, resource, sys, time
    kind, path = sys.argv[1], sys.argv[2]
    t0 = time.perf_counter()
    if kind == "calamine":
        import python_calamine
        book = python_calamine.CalamineWorkbook.from_path(path)
        cells = 0
        for name in book.sheet_names:
            rows = book.get_sheet_by_name(name).to_python(skip_empty_area=False)
            cells += sum(len(r) for r in rows)
        t1 = time.perf_counter()
        out = {"cells": cells}
    else:
        # the check itself; the isolation around it is measured in benchmarks/isolation.py
        from isap.rules.engine import check_file_in_process as check_file
        import isap.workbook.parse
        from isap.rules.registry import all_rules
        all_rules()
        t_import = time.perf_counter()
        first = check_file(path)  # the first file in a fresh process also pays one-time set-up
        t_first = time.perf_counter()
        if len(sys.argv) > 3:
            check_file(sys.argv[3])  # warm-up on a different workbook, then the steady state
        t_warm = time.perf_counter()
        report = check_file(path)
        t1 = time.perf_counter()
        out = {"findings": len(report.findings), "exit": report.exit_code, "import_s": t_import - t0,
               "first_file_s": t_first - t_import, "check_only_s": t1 - t_warm}
    out["seconds"] = t1 - t0
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))
""")


def _probe(kind: str, path: Path, warmup: Path | None = None) -> dict:
    args = [sys.executable, "-c", _PROBE, kind, str(path)] + ([str(warmup)] if warmup else [])
    proc = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_check(repeat: int = 3) -> list[dict]:
    from benchmarks.stress import stress_workbook
    from sample_submissions.proposals import clean, write

    typical = ROOT / "benchmarks" / "out" / "typical.xlsx"
    typical.parent.mkdir(parents=True, exist_ok=True)
    write(clean(2), typical)
    warmup = ROOT / "benchmarks" / "out" / "warmup.xlsx"
    write(clean(1, reference="ISAP-2026-001"), warmup)
    rows = []
    for label, path in (("typical (clean cp2 sample)", typical), ("stress (50k/20k/20k rows)", stress_workbook())):
        cal = min((_probe("calamine", path) for _ in range(repeat)), key=lambda r: r["seconds"])
        chk = min((_probe("check", path, warmup) for _ in range(repeat)), key=lambda r: r["check_only_s"])
        rows.append({
            "benchmark": f"isap check, {label}",
            "reference": "python-calamine raw read of every sheet",
            "reference_s": round(cal["seconds"], 3),
            "measured_s": round(chk["check_only_s"], 3),
            "ratio": round(chk["check_only_s"] / cal["seconds"], 2),
            "first_file_s": round(chk["first_file_s"], 3),
            "first_file_ratio": round(chk["first_file_s"] / cal["seconds"], 2),
            "cold_cli_s": round(chk["import_s"] + chk["first_file_s"], 3),
            "peak_mb": round(chk["peak_mb"]),
            "reference_peak_mb": round(cal["peak_mb"]),
            "file_mb": round(path.stat().st_size / 1e6, 1),
        })
    return rows


def _store(name):
    def run():
        from benchmarks import store

        return getattr(store, name)()
    return run


def bench_bounded() -> list[dict]:
    from benchmarks.bounded import bench_bounded as run

    return run()


def _chain():
    from benchmarks.audit_chain import bench_chain

    return bench_chain()


def _sign_in():
    from benchmarks.sign_in import bench_sign_in

    return bench_sign_in()


def _isolation():
    from benchmarks.isolation import bench_isolation

    return bench_isolation()


BENCHES = {"check": bench_check, "queries": _store("bench_queries"), "ingest": _store("bench_ingest"),
           "dashboard": _store("bench_dashboard"), "dashboard_actions": _store("bench_dashboard_actions"),
           "bounded": bench_bounded, "isolation": _isolation, "chain": _chain, "sign_in": _sign_in}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # "dashboard" runs the actions too, on the database it populates; "dashboard_actions" runs them alone
    default = ",".join(name for name in BENCHES if name != "dashboard_actions")
    ap.add_argument("--only", default=default, help="comma-separated: " + ", ".join(BENCHES))
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = ap.parse_args(argv)
    results = []
    for name in args.only.split(","):
        results.extend(BENCHES[name.strip()]())
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    cols = ["benchmark", "reference", "reference_s", "measured_s", "ratio"]
    extra = sorted({k for r in results for k in r} - set(cols))
    print("| " + " | ".join(cols + extra) + " |")
    print("|" + "---|" * (len(cols) + len(extra)))
    for r in results:
        print("| " + " | ".join(str(r.get(c, "")) for c in cols + extra) + " |")


if __name__ == "__main__":
    main()

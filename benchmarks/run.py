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
        from isap.rules.engine import check_file_in_process as check_file, prepare
        prepare()  # the parser, its schemas and the rules
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


# The reference of the cold benchmarks: a bare Python process reading every sheet of the workbook
# with python-calamine, as the check's own reader does (interpreter start and import included).
_CALAMINE_COLD = textwrap.dedent("""
    import sys
    from python_calamine import CalamineWorkbook
    book = CalamineWorkbook.from_path(sys.argv[1])
    for name in book.sheet_names:
        book.get_sheet_by_name(name).to_python(skip_empty_area=False)
""")

# Runs one command and reports its wall time, the processor time (user and system) of it and its children,
# and their peak resident memory (the isolated child where `isap check` does its work), in a process of its
# own.  On a shared machine the processor time holds better than the wall time: other work takes the cores
# away from both commands, not processor time.
_TIMED = textwrap.dedent("""
    import json, resource, subprocess, sys, time
    t0 = time.perf_counter()
    done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seconds = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak = usage.ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_mb": peak,
                      "exit": done.returncode,
                      "stderr": done.stderr.decode(errors="replace")[-2000:]}))
""")


def _timed(args: list[str]) -> dict:
    proc = subprocess.run([sys.executable, "-c", _TIMED, *args], capture_output=True, text=True, cwd=ROOT, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _compiled() -> None:
    """Bytecode for the environment and the project, as an installation has it (pip compiles what it
    installs): a cold process then measures importing, not compiling.  (Where
    PYTHONDONTWRITEBYTECODE is set, nothing else would write it.)"""
    import compileall
    import sysconfig

    for where in (sysconfig.get_paths()["purelib"], *(str(ROOT / p) for p in ("isap", "checks", "sample_submissions"))):
        compileall.compile_dir(where, quiet=2, workers=0)


def _cold_pair(path: Path, repeat: int) -> tuple[list[dict], list[dict]]:
    """`isap check PATH` and the python-calamine reference, each run `repeat` times as cold
    processes, alternated so that load on the machine falls on both alike."""
    isap = str(Path(sys.executable).with_name("isap"))
    ref, chk = [], []
    for _ in range(repeat):
        ref.append(_timed([sys.executable, "-c", _CALAMINE_COLD, str(path)]))
        chk.append(_timed([isap, "check", str(path)]))
        if chk[-1]["exit"] not in (0, 1):
            raise RuntimeError(f"isap check {path} failed: {chk[-1]['stderr']}")
    return ref, chk


def bench_check(repeat: int = 3, cold_repeat: int = 5) -> list[dict]:
    import statistics

    from benchmarks.stress import stress_workbook
    from sample_submissions.proposals import clean, write

    _compiled()
    typical = ROOT / "benchmarks" / "out" / "typical.xlsx"
    typical.parent.mkdir(parents=True, exist_ok=True)
    write(clean(2), typical)
    warmup = ROOT / "benchmarks" / "out" / "warmup.xlsx"
    write(clean(1, reference="ISAP-2026-001"), warmup)
    stress = stress_workbook()
    rows = []
    # what people wait for: the whole command, from a cold start, against a cold raw read
    for label, path in (("typical clean workbook", typical), ("stress workbook (50k/20k/20k rows)", stress)):
        ref, chk = _cold_pair(path, cold_repeat)
        ref_s = statistics.median(r["seconds"] for r in ref)
        chk_s = statistics.median(r["seconds"] for r in chk)
        ref_cpu = statistics.median(r["cpu_s"] for r in ref)
        chk_cpu = statistics.median(r["cpu_s"] for r in chk)
        rows.append({
            "benchmark": f"cold `isap check`, {label}, median of {cold_repeat}",
            "reference": "cold python-calamine read of every sheet, median",
            "reference_s": round(ref_s, 3),
            "measured_s": round(chk_s, 3),
            "ratio": round(chk_s / ref_s, 2),
            # processor time of the command and its child against the reference's, median of each
            "reference_cpu_s": round(ref_cpu, 3),
            "measured_cpu_s": round(chk_cpu, 3),
            "cpu_ratio": round(chk_cpu / ref_cpu, 2),
            "peak_mb": round(max(r["peak_mb"] for r in chk)),
            "reference_peak_mb": round(max(r["peak_mb"] for r in ref)),
            "file_mb": round(path.stat().st_size / 1e6, 1),
        })
    # the check itself, imports done, in-process (what a warm worker or the dashboard's child pays)
    for label, path in (("typical (clean cp2 sample)", typical), ("stress (50k/20k/20k rows)", stress)):
        cal = min((_probe("calamine", path) for _ in range(repeat)), key=lambda r: r["seconds"])
        chk = min((_probe("check", path, warmup) for _ in range(repeat)), key=lambda r: r["check_only_s"])
        rows.append({
            "benchmark": f"isap check in-process, {label}, steady state",
            "reference": "python-calamine raw read of every sheet",
            "reference_s": round(cal["seconds"], 3),
            "measured_s": round(chk["check_only_s"], 3),
            "ratio": round(chk["check_only_s"] / cal["seconds"], 2),
            "first_file_s": round(chk["first_file_s"], 3),
            "first_file_ratio": round(chk["first_file_s"] / cal["seconds"], 2),
            "peak_mb": round(chk["peak_mb"]),
            "reference_peak_mb": round(cal["peak_mb"]),
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


def _upload_e2e():
    from benchmarks.upload_e2e import bench_upload_e2e

    _compiled()  # the dashboard's processes import as an installation would, not compile
    return bench_upload_e2e()


def _isolation():
    from benchmarks.isolation import bench_isolation

    return bench_isolation()


def _hostile_cost():
    from benchmarks.hostile_cost import bench_hostile_cost

    return bench_hostile_cost()


def _first_page():
    from benchmarks.first_page import bench_first_page

    _compiled()  # the dashboard's processes import as an installation would, not compile
    return bench_first_page()


def _newcomer():
    from benchmarks.newcomer import bench_newcomer

    return bench_newcomer()


def _national():
    from benchmarks.national import bench_national

    return bench_national()


def _workers():
    from benchmarks.workers import bench_workers

    return bench_workers()


BENCHES = {"check": bench_check, "queries": _store("bench_queries"), "ingest": _store("bench_ingest"),
           "dashboard": _store("bench_dashboard"), "dashboard_actions": _store("bench_dashboard_actions"),
           "bounded": bench_bounded, "isolation": _isolation, "chain": _chain, "sign_in": _sign_in,
           "upload_e2e": _upload_e2e, "workers": _workers, "hostile_cost": _hostile_cost, "newcomer": _newcomer,
           "first_page": _first_page, "national": _national}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # "dashboard" runs the actions too, on the database it populates; "dashboard_actions" runs them alone
    # "workers" starts a cluster of machines in mount namespaces (root only): asked for by name
    default = ",".join(name for name in BENCHES if name not in ("dashboard_actions", "workers"))
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

"""What checking in a limited child process costs, against checking in-process in the same run.

- warm pool: a long-running process (dashboard, worker) with its warm pool checks a typical
  workbook through a child; the reference is the same check in-process, alternated with it.
- cold CLI: `isap check` (forks one child) against a fresh interpreter doing the same check
  in-process, both from a cold start.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_WARM = textwrap.dedent("""
    import json, statistics, sys, time
    from isap.rules import engine
    from isap.workbook import isolation
    path, warmup, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3])
    isolation.warm_up()
    for _ in range(2):  # both paths warm (imports, caches, children) on another workbook
        engine.check_file_in_process(warmup)
        engine.check_file(warmup)
    inproc, isolated, upload = [], [], []
    data = open(path, "rb").read()
    for _ in range(repeat):
        t0 = time.perf_counter(); a = engine.check_file_in_process(path); t1 = time.perf_counter()
        b = engine.check_file(path); t2 = time.perf_counter()
        engine.check_bytes(data, "typical.xlsx"); t3 = time.perf_counter()
        assert a.findings == b.findings
        inproc.append(t1 - t0); isolated.append(t2 - t1); upload.append(t3 - t2)
    print(json.dumps({"inproc": statistics.median(inproc), "isolated": statistics.median(isolated),
                      "upload": statistics.median(upload)}))
    isolation.shutdown()
""")

_COLD_REFERENCE = "import sys; from isap.rules.engine import check_file_in_process; check_file_in_process(sys.argv[1])"


def _cold(args: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(args, cwd=ROOT, capture_output=True, check=False)
    return time.perf_counter() - t0


def bench_isolation(repeat: int = 15, cold_repeat: int = 5) -> list[dict]:
    from sample_submissions.proposals import clean, write

    out = ROOT / "benchmarks" / "out"
    out.mkdir(parents=True, exist_ok=True)
    typical = write(clean(2), out / "typical.xlsx")
    warmup = write(clean(1, reference="ISAP-2026-001"), out / "warmup.xlsx")
    proc = subprocess.run([sys.executable, "-c", _WARM, str(typical), str(warmup), str(repeat)], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    warm = json.loads(proc.stdout.strip().splitlines()[-1])
    ref, cli = [], []
    for _ in range(cold_repeat):  # alternated, so load on the machine falls on both alike
        ref.append(_cold([sys.executable, "-c", _COLD_REFERENCE, str(typical)]))
        cli.append(_cold([sys.executable, "-m", "isap.cli", "check", "--format", "json", str(typical)]))
    return [
        {"benchmark": "check of a typical workbook in a warm child (dashboard, workers)",
         "reference": "the same check in-process (median)",
         "reference_s": round(warm["inproc"], 3), "measured_s": round(warm["isolated"], 3),
         "ratio": round(warm["isolated"] / warm["inproc"], 2),
         "added_ms": round((warm["isolated"] - warm["inproc"]) * 1000, 1),
         "upload_path_s": round(warm["upload"], 3)},
        {"benchmark": "cold `isap check` of a typical workbook (forked child)",
         "reference": "cold interpreter checking in-process (min)",
         "reference_s": round(min(ref), 3), "measured_s": round(min(cli), 3),
         "ratio": round(min(cli) / min(ref), 2),
         "added_ms": round((min(cli) - min(ref)) * 1000, 1),
         "median_reference_s": round(statistics.median(ref), 3), "median_measured_s": round(statistics.median(cli), 3)},
    ]

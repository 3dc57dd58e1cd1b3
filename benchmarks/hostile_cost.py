"""The costliest files within the size limits that are known, against a typical check, in one run.

Each file is checked in a fresh child (`check_file_in_process`, the work the isolated child does);
the kernel counts that child's processor time and peak resident memory.  Ratios are against the
typical workbook measured in the same run (docs/performance.md).  The files are generated here.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

_CHILD = textwrap.dedent("""
    import json, sys
    from isap.rules.engine import check_file_in_process
    r = check_file_in_process(sys.argv[1])
    print(json.dumps(sorted({f.rule_id for f in r.findings})))
""")
_PROBE = textwrap.dedent("""
    import json, resource, subprocess, sys
    p = subprocess.run([sys.executable, "-c", sys.argv[2], sys.argv[1]], capture_output=True, text=True)
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({"rules": p.stdout.strip(), "cpu": use.ru_utime + use.ru_stime, "peak_mb": use.ru_maxrss / 1024}))
""")


def _cost(path: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", _PROBE, str(path), _CHILD], capture_output=True, text=True)
    return json.loads(out.stdout)


def _largest_typed(t: Path) -> bytes:
    """Not hostile to the scan: every row well written, one finding per service, Partners at the row limit
    and Services as long as the workbook's area limit then allows (policy max_cells_per_workbook: 1,400,000
    cells; Partners spans 13 columns, Services 10).  What the reader and the rules cost for the largest
    workbook the limits let through."""
    from benchmarks.stress import write_fast
    from sample_submissions.proposals import clean, gp, service

    p = clean(2)
    partners, services = 99_997, 9_950  # (1 + 99,997) × 13 + (1 + 9,950) × 10 and the other sheets' ~250
    p["Partners"] = [gp(f"P-{i:06d}", f"M{i:05d}", f"Practice {i}", 5000, "Subcontract", "Signed")
                     for i in range(partners)]
    p["Services"] = [service(f"SVC-{i:06d}", f"Service {i}", "Primary medical services", 1000.0,
                             delivery="Subcontracted", sub=f"P-{i:06d}") for i in range(services)]
    return write_fast(p, t / "largest.xlsx").read_bytes()


def bench_hostile_cost() -> list[dict]:
    from sample_submissions.proposals import clean, write
    from tests.hostile import junk_elements, many_shared_strings, text_beside_fields, valid_bytes, wide_rows_without_r

    rows = []
    with tempfile.TemporaryDirectory(prefix="isap-bench-hostile-") as tmp:
        t = Path(tmp)
        typical = write(clean(2), t / "typical.xlsx")
        base = valid_bytes(t)
        files = {
            "wide rows without r (2 × 300 × 16,000)": wide_rows_without_r(base),
            "20 million junk elements": junk_elements(base),
            "1.99 million junk elements (just under max_irregular_tags)": junk_elements(base, 1_990_000),
            "2 million shared strings": many_shared_strings(base),
            "1 million shared strings (the limit)": many_shared_strings(base, 1_000_000),
            "1.2 million cells of CJK text beside the Cover's fields": text_beside_fields(base),
            "the largest the limits allow (Partners 99,997 rows, Services 9,950), every service a finding":
                _largest_typed(t),
        }
        ref = _cost(typical)
        for name, data in files.items():
            path = t / "hostile.xlsx"
            path.write_bytes(data)
            got = _cost(path)
            rows.append({"benchmark": f"hostile cost: {name}", "reference": "typical check",
                         "reference_s": round(ref["cpu"], 2), "measured_s": round(got["cpu"], 2),
                         "ratio": round(got["cpu"] / max(ref["cpu"], 1e-3), 1), "file_mb": round(len(data) / 1e6, 1),
                         "peak_mb": round(got["peak_mb"]), "typical_peak_mb": round(ref["peak_mb"]),
                         "rules": got["rules"]})
    return rows

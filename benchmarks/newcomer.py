"""What a newcomer waits for on a fresh installation: a small `isap ingest`, and a cold `isap check` where
bytecode cannot be written.

Both are whole commands in fresh processes, as a person runs them, each against a reference measured in the
same run and alternated with it, so load on the machine falls on both alike:

- `isap ingest` of three workbooks on the embedded default (no Prefect server configured) against
  `isap check` of the same three files: the ingest keeps what it checks (a database, the originals, the
  history), but must not wait for anything to start first.  Target ≤ 5×.
- a cold `isap check` of a typical workbook with PYTHONDONTWRITEBYTECODE=1, as in many containers and CI
  images, against a cold python-calamine read of the same file under the same setting.  Nothing is compiled
  for it here: the installation (scripts/setup.sh) is what must have left bytecode behind.  Target ≤ 12×.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.run import _CALAMINE_COLD, _timed

ISAP = str(Path(sys.executable).with_name("isap"))
INGEST_TARGET = 5.0
NO_BYTECODE_TARGET = 12.0


def _with_env(env: dict, args: list[str]) -> dict:
    """`_timed` under these environment variables (the probe passes its own environment on)."""
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        return _timed(args)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def bench_small_ingest(repeat: int = 5) -> list[dict]:
    from sample_submissions.proposals import clean, write

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        inbox = tmp / "inbox"
        inbox.mkdir()
        files = [write(clean(1 + n % 2, reference=f"ISAP-2026-{500 + n}"), inbox / f"p{n}.xlsx") for n in range(3)]
        base = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API", "ISAP_DATABASE_URL"))}
        checks, ingests = [], []
        for n in range(repeat):
            env = {**base, "ISAP_DATA_DIR": str(tmp / f"data{n}")}
            for args in (["db", "upgrade"], ["org", "add", "QUA", "NHS Black Country ICB"],
                         ["user", "add", "alice", "--role", "commissioner", "--org", "QUA"]):
                subprocess.run([ISAP, *args], env=env, check=True, capture_output=True)
            checks.append(_with_env(env, [ISAP, "check", *map(str, files)]))
            ingests.append(_with_env(env, [ISAP, "ingest", str(inbox), "--as", "alice"]))
            if ingests[-1]["exit"] != 0:
                raise RuntimeError(f"isap ingest failed: {ingests[-1]['stderr']}")
    ref = statistics.median(r["seconds"] for r in checks)
    got = statistics.median(r["seconds"] for r in ingests)
    return [{"benchmark": f"cold `isap ingest` of 3 workbooks, embedded default, median of {repeat}",
             "reference": "cold `isap check` of the same 3 files, median", "reference_s": round(ref, 3),
             "measured_s": round(got, 3), "ratio": round(got / ref, 2), "target": f"≤ {INGEST_TARGET:g}×",
             "peak_mb": round(max(r["peak_mb"] for r in ingests))}]


def bench_cold_without_bytecode_writes(repeat: int = 10) -> list[dict]:
    from sample_submissions.proposals import clean, write

    with tempfile.TemporaryDirectory() as d:
        typical = write(clean(2), Path(d) / "typical.xlsx")
        env = {"PYTHONDONTWRITEBYTECODE": "1"}
        ref, chk = [], []
        for _ in range(repeat):
            ref.append(_with_env(env, [sys.executable, "-c", _CALAMINE_COLD, str(typical)]))
            chk.append(_with_env(env, [ISAP, "check", str(typical)]))
    ref_s = statistics.median(r["seconds"] for r in ref)
    chk_s = statistics.median(r["seconds"] for r in chk)
    return [{"benchmark": f"cold `isap check`, typical workbook, PYTHONDONTWRITEBYTECODE=1, median of {repeat} "
                          "(bytecode as scripts/setup.sh left it)",
             "reference": "cold python-calamine read of every sheet, same setting, median",
             "reference_s": round(ref_s, 3), "measured_s": round(chk_s, 3), "ratio": round(chk_s / ref_s, 2),
             "target": f"≤ {NO_BYTECODE_TARGET:g}×"}]


def bench_newcomer() -> list[dict]:
    return bench_small_ingest() + bench_cold_without_bytecode_writes()

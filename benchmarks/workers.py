"""Scale-out across machines: one batch on one worker against two, and what a run costs before it starts.

Runs the production shape on this host (`tests/cluster.py`): PostgreSQL for isap
and for Prefect's server with its auth string, `isap deploy`, and workers each in
a mount namespace of its own with `--limit 1`.  Needs root, as the multi-machine
test does.  Figures:

- a batch of N typical workbooks (ISAP_BENCH_WORKERS_FILES, default 200) on one
  worker against the same batch size on two, in the same run (the ratio is the
  speed-up; 1.7 is the goal on two cores);
- the time from an upload's staging to its run starting on a warm worker
  (Prefect's polling and the worker's process start), against the check itself;
- a dashboard upload through a worker against the same upload in-process.
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

from benchmarks.store import _best
from sample_submissions.proposals import clean, write

_UPLOAD = textwrap.dedent("""
    import json, sys, time
    from isap.composition import service
    from isap.orchestration import steps
    from isap.orchestration.dispatch import assure_dashboard_upload
    svc = service()
    warm = open(sys.argv[2], "rb").read()
    steps.check_workbook(svc, "w.xlsx", warm)  # a dashboard's checking child is warm
    data = open(sys.argv[1], "rb").read()
    t = time.perf_counter()
    if sys.argv[3] == "worker":
        upload = assure_dashboard_upload(svc, "alice", "u.xlsx", data)
        queued = upload.queued
    else:  # the same steps in the dashboard's own process
        steps.assure_in_process(svc, "alice", "u.xlsx", data)
        queued = False
    print(json.dumps({"seconds": time.perf_counter() - t, "queued": queued}))
""")


def _inbox(folder: Path, n: int, first: int) -> Path:
    folder.mkdir(parents=True)
    for i in range(n):
        write(clean(1, reference=f"ISAP-2026-{first + i:03d}"), folder / f"p{i:04d}.xlsx")
    return folder


def bench_workers(n: int | None = None) -> list[dict]:
    from tests.cluster import can_unshare, cluster, isap, start_worker, stop
    from tests.pgserver import temporary_server

    n = n or int(os.environ.get("ISAP_BENCH_WORKERS_FILES", "200"))
    if not 1 <= n <= 400:
        raise SystemExit("ISAP_BENCH_WORKERS_FILES must be from 1 to 400")
    if not can_unshare():
        raise SystemExit("the workers benchmark needs root and unshare (mount namespaces)")
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp, temporary_server() as pg, cluster(Path(tmp), pg) as c:
        machines, a = c["machines"], c["env"]("A")
        for args in (("db", "upgrade"), ("org", "add", "QUA", "NHS Black Country ICB"),
                     ("user", "add", "alice", "--role", "commissioner", "--org", "QUA"),
                     ("deploy", "--pool", "isap")):
            done = isap(*args, env=a, cwd=machines["A"])
            assert done.returncode == 0, done.stdout + done.stderr

        def ingest(folder: Path) -> float:
            t = time.perf_counter()
            done = isap("ingest", str(folder), "--as", "alice", "-f", "json", env=a, cwd=machines["A"],
                        timeout=3600)
            seconds = time.perf_counter() - t
            assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
            assert all(r["version"] == 1 for r in json.loads(done.stdout))
            return seconds

        one = start_worker(c, "W1", [machines["A"], machines["W2"]])
        ingest(_inbox(machines["A"] / "warm", 2, 10))  # the worker's first process and Prefect warm up
        t_one = ingest(_inbox(machines["A"] / "one", n, 100))
        two = start_worker(c, "W2", [machines["A"], machines["W1"]])
        ingest(_inbox(machines["A"] / "warm2", 2, 20))
        t_two = ingest(_inbox(machines["A"] / "two", n, 500))
        rows.append({"benchmark": f"batch of {n} workbooks on 2 workers (--limit 1 each)",
                     "reference": "the same on 1 worker", "reference_s": round(t_one, 1),
                     "measured_s": round(t_two, 1), "ratio": round(t_two / t_one, 2),
                     "speed_up": round(t_one / t_two, 2)})

        # staging to run start, on a warm worker: the run's start time against the staged row's
        book = write(clean(1, reference="ISAP-2026-950"), machines["A"] / "single.xlsx")
        t = time.perf_counter()
        done = isap("upload", str(book), "--as", "alice", env=a, cwd=machines["A"])
        t_upload = time.perf_counter() - t
        assert done.returncode == 0, done.stderr
        start_lag = _start_lag(c)
        check = subprocess.run([sys.executable, "-m", "isap.cli", "check", str(book)], env=a, capture_output=True)
        t_check = _best(lambda: subprocess.run([sys.executable, "-m", "isap.cli", "check", str(book)], env=a,
                                                capture_output=True))
        assert check.returncode in (0, 1)
        rows.append({"benchmark": "an upload's staging to its run starting on a warm worker",
                     "reference": "isap check of the same workbook", "reference_s": round(t_check, 2),
                     "measured_s": round(start_lag, 2), "ratio": round(start_lag / t_check, 1),
                     "whole_cli_upload_s": round(t_upload, 2)})

        # a dashboard upload through a worker, against the same steps in-process
        warm = write(clean(1, reference="ISAP-2026-953"), machines["A"] / "d0.xlsx")
        through = _dashboard_upload(a, write(clean(1, reference="ISAP-2026-951"), machines["A"] / "d1.xlsx"), warm,
                                    "worker")
        local = _dashboard_upload(a, write(clean(1, reference="ISAP-2026-952"), machines["A"] / "d2.xlsx"), warm,
                                  "in-process")
        rows.append({"benchmark": "a dashboard upload through a worker", "reference": "the same in-process",
                     "reference_s": round(local["seconds"], 2), "measured_s": round(through["seconds"], 2),
                     "ratio": round(through["seconds"] / local["seconds"], 1), "queued": through["queued"]})
        stop(two)
        stop(one)
    return rows


def _dashboard_upload(env: dict, book: Path, warm: Path, where: str) -> dict:
    done = subprocess.run([sys.executable, "-c", _UPLOAD, str(book), str(warm), where], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _start_lag(c) -> float:
    """Seconds from the last staged upload to the start of the flow run that took it up."""
    import datetime as dt

    from sqlalchemy import create_engine, text

    from tests.cluster import http

    engine = create_engine(c["isap_url"])
    with engine.connect() as conn:
        staged_at = conn.execute(text("SELECT max(created_at) FROM staged_upload")).scalar()
    engine.dispose()
    if staged_at.tzinfo is None:
        staged_at = staged_at.replace(tzinfo=dt.timezone.utc)
    status, body = http(c["api"] + "/flow_runs/filter",
                        {"sort": "START_TIME_DESC", "limit": 1,
                         "flows": {"name": {"any_": ["assure_submission"]}}}, auth=c["auth"])
    [run] = json.loads(body)
    started = dt.datetime.fromisoformat(run["start_time"])
    return (started - staged_at).total_seconds()

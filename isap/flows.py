"""Prefect flows: every upload assured by a flow, inbox batches, daily reminders.

The tasks wrap the plain steps of `isap.pipeline`, so the same code runs
in-process on a laptop, in Prefect's ephemeral mode, or on a Prefect server
with workers on many machines (see prefect.yaml and docs/deployment.md).
Transient failures (database busy, file store unavailable) are retried with
backoff; a workbook that fails its checks is a result, not a failure.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import time
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.tasks import exponential_backoff

from isap import pipeline
from isap.workflow import Service, WorkflowError

RETRY_DELAYS = exponential_backoff(backoff_factor=1)


def batch_task_runner(spec: str | None = None):
    """The task runner ISAP_TASK_RUNNER asks for (see `pipeline.batch_runner_setting`).

    Chosen when this module is imported, so a deployment run on a worker uses
    the worker's setting, and `isap ingest` uses the caller's.
    """
    kind, value = pipeline.batch_runner_setting(spec)
    if kind == "threads":
        return ThreadPoolTaskRunner(max_workers=value)
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError:
        raise ValueError("ISAP_TASK_RUNNER asks for Dask: install isap[dask] (prefect-dask)") from None
    if kind == "dask-address":
        return DaskTaskRunner(address=value)
    # One thread per worker process: checking is CPU-bound Python, so processes give the parallelism.
    return DaskTaskRunner(cluster_class=_local_cluster,
                          cluster_kwargs={"n_workers": value, "threads_per_worker": 1,
                                          "processes": True, "dashboard_address": None})


def _local_cluster(**kwargs):
    """A local Dask cluster whose worker processes report to this flow run's Prefect API.

    Worker processes inherit the environment when they start.  With no Prefect
    server configured, the flow runs against Prefect's temporary server, whose
    address is nowhere in the environment: without it each worker would start a
    temporary server of its own (20 s each) and report its task runs there.
    """
    from distributed import LocalCluster
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    if ctx is None or os.environ.get("PREFECT_API_URL"):
        return LocalCluster(**kwargs)
    os.environ["PREFECT_API_URL"] = str(ctx.client.api_url)
    try:
        return LocalCluster(**kwargs)
    finally:
        del os.environ["PREFECT_API_URL"]


def _transient(task_, task_run, state) -> bool:
    try:
        state.result()
    except pipeline.TransientError:
        return True
    except Exception:  # noqa: BLE001 - anything else is not worth retrying
        return False
    return False


def _service() -> Service:
    return Service()


@task(retries=3, retry_delay_seconds=RETRY_DELAYS, retry_condition_fn=_transient)
def store_original(path: str) -> str:
    return pipeline.store_original(_service(), Path(path).read_bytes())


@task
def check_workbook(path: str, filename: str):
    return pipeline.check_workbook(_service(), filename, Path(path).read_bytes())


@task(retries=3, retry_delay_seconds=RETRY_DELAYS, retry_condition_fn=_transient)
def persist_version(actor: str, filename: str, path: str, report):
    return pipeline.persist_version(_service(), actor, filename, Path(path).read_bytes(), report)


@task(retries=2, retry_delay_seconds=RETRY_DELAYS)
def notify(result, contact: str | None):
    return pipeline.notify(_service(), result, contact)


@flow(name="assure_submission")
def assure_submission(actor: str, filename: str, path: str):
    """Keep the original, check it, persist the version and findings, notify."""
    store_original(path)
    report = check_workbook(path, filename)
    result = persist_version(actor, filename, path, report)
    notify(result, pipeline.report_contact(report))
    return result


def assure_one(actor: str, path: str, attempts: int = 3) -> dict:
    """One inbox file, independently: any failure is this file's outcome, never the batch's.

    Transient failures (database busy, file store unavailable) are retried here,
    per file, with backoff, so a retry never re-runs the other files of a chunk.
    """
    name = Path(path).name
    for attempt in range(attempts):
        try:
            return _assure_one(actor, path, name)
        except pipeline.TransientError as exc:
            if attempt == attempts - 1:
                return _row(name, f"failed: {exc} (tried {attempts} times)")
            time.sleep(2 ** attempt)
        except Exception as exc:  # noqa: BLE001 - one bad file never stops the batch
            return _row(name, f"failed: {type(exc).__name__}: {exc}")
    raise AssertionError("unreachable")


def _row(name: str, outcome: str, r=None) -> dict:
    return {"file": name, "reference": r and r.reference, "version": r and r.version,
            "errors": r and r.errors, "warnings": r and r.warnings, "outcome": outcome}


def _assure_one(actor: str, path: str, name: str) -> dict:
    service = _service()
    data = Path(path).read_bytes()
    if service.sha_known(hashlib.sha256(data).hexdigest()):
        return _row(name, "already assured")
    try:
        r = pipeline.assure_in_process(service, actor, name, data)
    except WorkflowError as exc:
        return _row(name, f"refused: {exc}")
    if r.duplicate:
        return _row(name, "already assured", r)
    return _row(name, "kept, not assessable" if r.reference is None else ("clean" if not r.errors else "has errors"), r)


@task
def assure_files(actor: str, paths: list[str]) -> list[dict]:
    """A chunk of inbox files, one after another, each independently."""
    return [assure_one(actor, p) for p in paths]


def chunk_size(files: int, concurrency: int) -> int:
    """Files per task: one each for small batches; for large ones about four tasks per worker, at most 25 files.

    Each task run costs tens of milliseconds of Prefect bookkeeping, as much as
    checking a typical workbook, so a task per file would double a large batch's time.
    """
    return max(1, min(25, files // (4 * max(1, concurrency))))


@flow(name="assure_inbox", task_runner=batch_task_runner())
def assure_inbox(directory: str, actor: str) -> list[dict]:
    """Every .xlsx in a folder, concurrently; files already assured are skipped."""
    logger = get_run_logger()
    files = sorted(str(p) for p in Path(directory).iterdir() if p.suffix.lower() == ".xlsx" and p.is_file())
    _, value = pipeline.batch_runner_setting()
    size = chunk_size(len(files), value if isinstance(value, int) else 8)
    chunks = [files[i:i + size] for i in range(0, len(files), size)]
    logger.info("assuring %d workbook(s) from %s in %d task(s)", len(files), directory, len(chunks))
    futures = [assure_files.submit(actor, chunk) for chunk in chunks]
    rows = []
    for chunk, fut in zip(chunks, futures):
        try:
            done = fut.result()
        except Exception as exc:  # noqa: BLE001 - one bad chunk never stops the batch
            done = [_row(Path(f).name, f"failed: {type(exc).__name__}: {exc}") for f in chunk]
        for row in done:
            rows.append(row)
            logger.info("%d/%d %s: %s", len(rows), len(files), row["file"], row["outcome"])
    return rows


@flow(name="review_reminders")
def review_reminders(today: str | None = None) -> list[str]:
    """Daily: reminders for reviews past the policy target and conditions past their due date."""
    day = dt.date.fromisoformat(today) if today else None
    return [str(p) for p in pipeline.reminders(_service(), day)]

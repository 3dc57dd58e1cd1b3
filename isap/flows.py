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
    return DaskTaskRunner(cluster_kwargs={"n_workers": value, "threads_per_worker": 1,
                                          "processes": True, "dashboard_address": None})


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


@task(retries=2, retry_delay_seconds=RETRY_DELAYS, retry_condition_fn=_transient)
def assure_file(actor: str, path: str) -> dict:
    """One inbox file, independently: any failure is this file's outcome, never the batch's."""
    service = _service()
    data = Path(path).read_bytes()
    name = Path(path).name
    if service.sha_known(hashlib.sha256(data).hexdigest()):
        return {"file": name, "reference": None, "version": None, "errors": None, "warnings": None,
                "outcome": "already assured"}
    try:
        r = pipeline.assure_in_process(service, actor, name, data)
    except WorkflowError as exc:
        return {"file": name, "reference": None, "version": None, "errors": None, "warnings": None,
                "outcome": f"refused: {exc}"}
    outcome = "kept, not assessable" if r.reference is None else ("clean" if not r.errors else "has errors")
    if r.duplicate:
        outcome = "already assured"
    return {"file": name, "reference": r.reference, "version": r.version, "errors": r.errors,
            "warnings": r.warnings, "outcome": outcome}


@flow(name="assure_inbox", task_runner=batch_task_runner())
def assure_inbox(directory: str, actor: str) -> list[dict]:
    """Every .xlsx in a folder, concurrently; files already assured are skipped."""
    logger = get_run_logger()
    files = sorted(str(p) for p in Path(directory).iterdir() if p.suffix.lower() == ".xlsx" and p.is_file())
    logger.info("assuring %d workbook(s) from %s", len(files), directory)
    futures = [assure_file.submit(actor, f) for f in files]
    rows = []
    for f, fut in zip(files, futures):
        try:
            rows.append(fut.result())
        except Exception as exc:  # noqa: BLE001 - one bad file never stops the batch
            rows.append({"file": Path(f).name, "reference": None, "version": None, "errors": None,
                         "warnings": None, "outcome": f"failed: {type(exc).__name__}: {exc}"})
        logger.info("%d/%d %s: %s", len(rows), len(files), rows[-1]["file"], rows[-1]["outcome"])
    return rows


@flow(name="review_reminders")
def review_reminders(today: str | None = None) -> list[str]:
    """Daily: reminders for reviews past the policy target and conditions past their due date."""
    day = dt.date.fromisoformat(today) if today else None
    return [str(p) for p in pipeline.reminders(_service(), day)]

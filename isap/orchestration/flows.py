"""Prefect flows: every upload assured by a flow run, inbox batches, resuming what a dead run left, reminders.

The tasks wrap the plain steps of `isap.orchestration.steps`, so the same code runs
in-process on a laptop, against a Prefect server, or as deployment runs on
workers on many machines (`isap deploy`, docs/deployment.md).  A flow that
assures uploads takes only a run key: the uploads themselves are staged in the
shared store by the entry point that authenticated their sender.  Transient
failures (database busy or restarting) are retried for the policy's
`transient_retry_seconds`; a workbook that fails its checks is a result, not a
failure.  Every flow builds its service through `isap.composition`, so it
applies the same policy as the CLI and the dashboard.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.tasks import exponential_backoff

from isap import composition
from isap.orchestration import notifications, steps
from isap.policy import Policy
from isap.review.service import Service, StoreBusy
from isap.review.wording import count

RETRY_DELAYS = exponential_backoff(backoff_factor=1)


def batch_task_runner(spec: str | None = None):
    """The task runner ISAP_TASK_RUNNER asks for (see `steps.batch_runner_setting`).

    Chosen when this module is imported, so a deployment run on a worker uses
    the worker's setting, and `isap ingest` uses the caller's.
    """
    kind, value = steps.batch_runner_setting(spec)
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


def _service() -> Service:
    """The wired service of this process (policy, database and file store from the composition root)."""
    return composition.service()


class UploadsNotFinished(RuntimeError):
    """Some staged uploads of a run could not be finished: the run ends Failed (and is retried) instead of
    Completed.  It names them by staged id only: flow runs carry no file names (docs/deployment.md)."""


@task(cache_policy=NO_CACHE, persist_result=False)
def assure_staged_uploads(staging: str, policy: Policy | None = None) -> dict:
    """Check and keep one run's staged uploads against `policy` (read once by the flow, so every file of a batch
    is checked against the same thresholds wherever its task runs); counts only (no names, no content)."""
    service = _service()
    outcome = steps.assure_staged(service, staging, policy or composition.load_policy())
    # failed for good in this attempt or an earlier one (a retried run must not end Completed over them)
    failed = list(dict.fromkeys(outcome.failed_ids + service.failed_in_run(staging)))
    if failed:
        raise UploadsNotFinished(f"{count(len(failed), 'staged upload')} not finished: "
                                 + ", ".join(f"{i[:8]}…" for i in failed))
    return outcome.as_dict()


@task(cache_policy=NO_CACHE, persist_result=False)
def notify() -> dict:
    return steps.notify(_service())


@flow(name="assure_submission", retries=2, retry_delay_seconds=10, persist_result=False)
async def assure_submission(staging: str) -> dict:
    """Check and keep the uploads staged under `staging` (an unguessable run key), then send what they queued.

    The run key is the run's only parameter: who sent each upload, its name
    and its bytes are read from the store (`isap.review.staging`), so a run
    created by hand can neither act as someone nor make a worker read a file,
    and Prefect's records hold no names and no content.  A run that fails or
    dies is taken up again from the staged rows (by its retries, by whoever
    waits for it, or by `resume_staged`); nothing is kept twice.

    Asynchronous for one reason: when a flow run ends, Prefect's synchronous flow engine waits for the run's
    heartbeat thread, which sleeps in one-second steps (Prefect 3.8: about 0.9 s of every upload), while its
    asynchronous engine lets that thread stop by itself (see docs/performance.md).
    """
    try:
        return assure_staged_uploads(staging)
    finally:
        notify()


def run_assure_submission(staging: str) -> dict:
    """The `assure_submission` flow, run in this process from synchronous code (the CLI, a dashboard page)."""
    return asyncio.run(assure_submission(staging=staging))


@flow(name="assure_inbox", task_runner=batch_task_runner(), persist_result=False)
def assure_inbox(runs: list[str]) -> dict:
    """An inbox batch in this process: each run key's staged uploads as one task, run concurrently.

    Used where no deployment is configured; with one, `isap ingest` makes each
    run key a deployment run of `assure_submission` instead, so workers share
    the batch.  The files of one proposal are kept in file-name order however
    the tasks interleave (`steps.assure_staged`).
    """
    logger = get_run_logger()
    policy = composition.load_policy()
    futures = [assure_staged_uploads.submit(key, policy) for key in runs]
    totals = {"kept": 0, "refused": 0, "failed": 0, "already_finished": 0}
    problems = []
    for fut in futures:
        try:
            for k, v in fut.result().items():
                totals[k] += v
        except Exception as exc:  # noqa: BLE001 - one run's failure never stops the batch
            problems.append(str(exc))
    logger.info("inbox batch: %(kept)d kept, %(refused)d refused, %(failed)d failed", totals)
    notify()
    if problems:
        raise UploadsNotFinished("; ".join(problems))
    return totals


@flow(name="resume_staged", persist_result=False)
def resume_staged(grace_seconds: float = 120.0) -> int:
    """Take up staged uploads nobody is working on any more (a worker or its run died): each such run key gets a
    new run, on a worker where a deployment is configured, else here.  Returns how many were taken up."""
    from isap.orchestration.workers import resume_abandoned

    taken = resume_abandoned(_service(), grace_seconds)
    if taken:
        get_run_logger().info("resumed %s of staged uploads", count(taken, "abandoned run"))
    return taken


@flow(name="review_reminders")
def review_reminders(today: str | None = None) -> list[str]:
    """Daily: queue reminders for reviews past the policy target and conditions due soon or overdue, then send.
    Returns the outbox keys of the reminders queued now."""
    day = dt.date.fromisoformat(today) if today else None
    queued = [r["key"] for r in steps.reminders(_service(), day)]
    notify()
    return queued


def _delivery_transient(task_, task_run, state) -> bool:
    try:
        state.result()
    except StoreBusy:
        return True
    except Exception:  # noqa: BLE001 - anything else is not worth retrying
        return False
    return False


@task(retries=3, retry_delay_seconds=RETRY_DELAYS, retry_condition_fn=_delivery_transient, cache_policy=NO_CACHE)
def delivery_pass(limit: int) -> dict:
    return notifications.deliver(_service(), limit=limit)


@flow(name="deliver_notifications")
def deliver_notifications(limit: int = 200) -> dict:
    """Send what the outbox holds: each message claimed, sent and marked once; a refusal worth retrying is
    retried with growing pauses (kept on the row), a busy database by the task's retries."""
    counts = delivery_pass(limit)
    get_run_logger().info("notifications: %(sent)d sent, %(retry)d to retry, %(failed)d failed", counts)
    return counts

"""Prefect flows: every upload assured by a flow, inbox batches, daily reminders.

The tasks wrap the plain steps of `isap.orchestration.steps`, so the same code runs
in-process on a laptop, in Prefect's ephemeral mode, or on a Prefect server
with workers on many machines (see prefect.yaml and docs/deployment.md).
Transient failures (database busy, file store unavailable) are retried with
backoff; a workbook that fails its checks is a result, not a failure.  An
inbox batch checks its files concurrently but keeps the files for one proposal
one after another, in file-name order, so a batch never conflicts with itself.
Every flow builds its service through `isap.composition`, so it applies the
same policy as the CLI and the dashboard.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
import time
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.tasks import exponential_backoff

from isap import composition
from isap.orchestration import notifications, steps
from isap.policy import Policy
from isap.review.service import Service, StoreBusy, WorkflowError

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


def _transient(task_, task_run, state) -> bool:
    try:
        state.result()
    except steps.TransientError:
        return True
    except Exception:  # noqa: BLE001 - anything else is not worth retrying
        return False
    return False


def _service() -> Service:
    """The wired service of this process (policy, database and file store from the composition root)."""
    return composition.service()


@task(retries=3, retry_delay_seconds=RETRY_DELAYS, retry_condition_fn=_transient)
def store_original(path: str) -> str:
    return steps.store_original(_service(), Path(path).read_bytes())


@task
def check_workbook(path: str, filename: str):
    return steps.check_workbook(_service(), filename, Path(path).read_bytes())


@task(retries=3, retry_delay_seconds=RETRY_DELAYS, retry_condition_fn=_transient)
def persist_version(actor: str, filename: str, path: str, report):
    return steps.persist_version(_service(), actor, filename, Path(path).read_bytes(), report)


@task(cache_policy=NO_CACHE)
def notify() -> dict:
    return steps.notify(_service())


@flow(name="assure_submission")
async def assure_submission(actor: str, filename: str, path: str):
    """Keep the original, check it, persist the version and findings (which queues its notification), send.

    Asynchronous for one reason: when a flow run ends, Prefect's synchronous flow engine waits for the run's
    heartbeat thread, which sleeps in one-second steps (Prefect 3.8: about 0.9 s of every upload), while its
    asynchronous engine lets that thread stop by itself.  The heartbeat stays on, so a run whose process dies
    is still marked crashed.  The steps are ordinary task runs, one after another (see docs/performance.md).
    """
    store_original(path)
    report = check_workbook(path, filename)
    result = persist_version(actor, filename, path, report)
    notify()
    return result


def run_assure_submission(actor: str, filename: str, path: str):
    """The `assure_submission` flow, run from synchronous code (the CLI, a dashboard page); its result."""
    return asyncio.run(assure_submission(actor=actor, filename=filename, path=path))


def _row(name: str, outcome: str, r=None) -> dict:
    return {"file": name, "reference": r and r.reference, "version": r and r.version,
            "errors": r and r.errors, "warnings": r and r.warnings, "outcome": outcome}


def _retrying(fn, name: str, attempts: int):
    """fn() with transient failures (database busy, file store unavailable) retried with backoff, per file."""
    for attempt in range(attempts):
        try:
            return fn()
        except (steps.TransientError, StoreBusy) as exc:
            if attempt == attempts - 1:
                return _row(name, f"failed: {exc} (tried {attempts} times)")
            time.sleep(2 ** attempt)
    raise AssertionError("unreachable")


def check_one(path: str, policy: Policy | None = None, attempts: int = 3) -> dict:
    """Read and check one inbox file; nothing is written.  A row when there is nothing more to do."""
    name = Path(path).name

    def run() -> dict:
        data = Path(path).read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        if _service().sha_known(sha):
            return _row(name, "already assured")
        report = steps.check_workbook(_service(), name, data, policy)
        return {"file": name, "path": path, "sha256": sha, "report": report,
                "reference": getattr(report, "proposal_reference", None)}

    try:
        return _retrying(run, name, attempts)
    except Exception as exc:  # noqa: BLE001 - one bad file never stops the batch
        return _row(name, f"failed: {type(exc).__name__}: {exc}")


def persist_one(actor: str, item: dict, policy: Policy | None = None, attempts: int = 3) -> dict:
    """Keep one checked inbox file as a version (or an unassigned upload); its notification is queued with it.

    A guard's refusal is this file's outcome; conflicts with people outside the
    batch are retried inside `steps.persist_version`, transient failures here.
    """
    name = item["file"]

    def run() -> dict:
        data = Path(item["path"]).read_bytes()
        report = item["report"]
        if hashlib.sha256(data).hexdigest() != item["sha256"]:
            report = steps.check_workbook(_service(), name, data, policy)  # replaced since it was checked
        try:
            r = steps.persist_version(_service(), actor, name, data, report)
        except WorkflowError as exc:
            return _row(name, f"refused: {exc}")
        if r.duplicate:
            return _row(name, "already assured", r)
        return _row(name, "kept, not assessable" if r.reference is None else
                    ("clean" if not r.errors else "has errors"), r)

    try:
        return _retrying(run, name, attempts)
    except Exception as exc:  # noqa: BLE001 - one bad file never stops the batch
        return _row(name, f"failed: {type(exc).__name__}: {exc}")


@task(cache_policy=NO_CACHE)
def check_files(paths: list[str], policy: Policy) -> list[dict]:
    """A chunk of inbox files checked, one after another; checking writes nothing, so chunks run in parallel."""
    return [check_one(p, policy) for p in paths]


@task(cache_policy=NO_CACHE)
def persist_files(actor: str, groups: list[list[dict]], policy: Policy) -> list[dict]:
    """Groups of checked files, each group the files for one proposal, kept one after another in name order."""
    return [persist_one(actor, item, policy) for group in groups for item in group]


def chunk_size(files: int, concurrency: int) -> int:
    """Files per task: one each for small batches; for large ones about four tasks per worker, at most 25 files.

    Each task run costs tens of milliseconds of Prefect bookkeeping, as much as
    checking a typical workbook, so a task per file would double a large batch's time.
    """
    return max(1, min(25, files // (4 * max(1, concurrency))))


def proposal_groups(items: list[dict]) -> list[list[dict]]:
    """Checked files grouped by the proposal they name, each group in file-name order.

    Versions of one proposal are kept one after another, in name order, so the
    files of a batch never race each other for the same proposal.  Files that
    name no proposal are grouped by their bytes (identical copies are kept once).
    """
    groups: dict[tuple, list[dict]] = {}
    for item in sorted(items, key=lambda i: i["file"]):
        key = ("proposal", item["reference"]) if item["reference"] else ("bytes", item["sha256"])
        groups.setdefault(key, []).append(item)
    return sorted(groups.values(), key=lambda g: g[0]["file"])


def pack(groups: list[list[dict]], size: int) -> list[list[list[dict]]]:
    """Whole groups into tasks of about `size` files (a group is never split across tasks)."""
    tasks: list[list[list[dict]]] = []
    files = size
    for group in groups:
        if files >= size:
            tasks.append([])
            files = 0
        tasks[-1].append(group)
        files += len(group)
    return tasks


@flow(name="assure_inbox", task_runner=batch_task_runner())
def assure_inbox(directory: str, actor: str) -> list[dict]:
    """Every .xlsx in a folder: checked concurrently, then kept, each proposal's files in name order.

    Files already assured are skipped.  The policy is read once, here, and
    handed to every check, so every file of a batch is checked against the
    same thresholds wherever its task runs.
    """
    logger = get_run_logger()
    policy = composition.load_policy()
    files = sorted(str(p) for p in Path(directory).iterdir() if p.suffix.lower() == ".xlsx" and p.is_file())
    _, value = steps.batch_runner_setting()
    size = chunk_size(len(files), value if isinstance(value, int) else 8)
    chunks = [files[i:i + size] for i in range(0, len(files), size)]
    logger.info("assuring %d workbook(s) from %s in %d task(s)", len(files), directory, len(chunks))
    done: dict[str, dict] = {}
    checked: list[dict] = []
    for chunk, fut in zip(chunks, [check_files.submit(chunk, policy) for chunk in chunks]):
        try:
            results = fut.result()
        except Exception as exc:  # noqa: BLE001 - one bad chunk never stops the batch
            results = [_row(Path(f).name, f"failed: {type(exc).__name__}: {exc}") for f in chunk]
        for item in results:
            if "report" in item:
                checked.append(item)
            else:
                done[item["file"]] = item
    tasks = pack(proposal_groups(checked), size)
    for groups, fut in zip(tasks, [persist_files.submit(actor, groups, policy) for groups in tasks]):
        try:
            results = fut.result()
        except Exception as exc:  # noqa: BLE001 - one bad chunk never stops the batch
            results = [_row(i["file"], f"failed: {type(exc).__name__}: {exc}") for g in groups for i in g]
        for row in results:
            done[row["file"]] = row
    rows = [done[Path(f).name] for f in files]
    for n, row in enumerate(rows, start=1):
        logger.info("%d/%d %s: %s", n, len(rows), row["file"], row["outcome"])
    notify()
    return rows


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

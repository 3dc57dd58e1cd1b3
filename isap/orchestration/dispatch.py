"""Where an upload is assured: on a worker, through a flow in this process, or by the steps in this process.

Every upload is first staged in the shared store by the entry point that
authenticated its sender (`Service.stage_uploads`); what runs it gets only the
run key.  Then:

- with a Prefect server configured (PREFECT_API_URL) that has the
  `assure-submission` deployment (`isap deploy`), each run key becomes a
  deployment run that a worker takes: checking happens on the workers.  A
  batch is one run per few files, so every worker shares it.  Whoever waits
  for the runs starts again any run that died, and a run whose work all
  finished is never left Crashed;
- with a server but no deployment, the flow runs in this process against it;
- with none, command-line uploads and batches run the same steps in this
  process (they answer at once instead of waiting for a temporary server), and
  the dashboard uses the Prefect server it runs beside it once that answers.

An upload is never lost to an orchestration outage: it stays staged, and
`resume_staged` (scheduled) or the next waiter takes it up.  Nothing here
imports Prefect at module level.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from isap.composition import data_dir
from isap.orchestration import steps
from isap.orchestration.steps import staged_result
from isap.orchestration.workers import (
    NotFinished,
    deployment_configured,
    prefect_server_configured,
    submit_runs,
    wait_for_runs,
)
from isap.review.service import Service, UploadResult
from isap.review.staging import describe, new_key

log = logging.getLogger(__name__)


def _run_here(service: Service, keys: list[str]) -> None:
    """Run staged uploads in this process: through the flow against a configured server, else the steps."""
    if prefect_server_configured():
        from isap.orchestration.flows import run_assure_submission

        for key in keys:
            try:
                run_assure_submission(key)
            except Exception as exc:  # noqa: BLE001 - the staged rows say what was finished
                log.warning("a run of staged uploads failed: %s", exc)
        return
    for key in keys:
        steps.assure_staged(service, key)
    steps.notify(service)


# How long the command line waits for workers before it says its uploads are queued (never a hang when no
# worker is running); what is queued is checked when a worker is free, nothing is lost.
CLI_WAIT_SECONDS = {"upload": 600.0, "batch": 3600.0}


def assure(service: Service, actor: str, filename: str, data: bytes) -> UploadResult:
    """Assure one upload (the CLI): on a worker when a deployment is configured, else in this process."""
    keys, ids = service.stage_uploads(actor, [(filename, data)])
    if deployment_configured():
        wait_for_runs(service, submit_runs(service, keys), deadline=time.monotonic() + CLI_WAIT_SECONDS["upload"])
    else:
        _run_here(service, keys)
    return _finished_result(service, actor, ids[0])


def _finished_result(service: Service, actor: str, staged_id: str) -> UploadResult:
    [done] = service.staged_outcomes(actor, [staged_id])
    if not done.finished:
        raise NotFinished("the upload is staged but was not checked in time (no worker free, or the store out of "
                          "reach); it will be checked when a worker is free, and nothing is lost")
    return staged_result(service, actor, staged_id)


# ---------------------------------------------------------------------------- inbox batches
def files_per_run(files: int) -> int:
    """Files per run of a batch: one each for small batches, so every worker shares them; for large ones about
    eight runs, at most ten files each (each run pays for a process start on a worker)."""
    return max(1, min(10, math.ceil(files / 8)))


def stage_batch(service: Service, actor: str, paths: list[Path],
                per_run: int | None = None) -> tuple[list[str], list[str]]:
    """Stage the files of an inbox batch in file-name order, one transaction per run (a batch is never all in
    memory); (run keys, staged ids)."""
    paths = sorted(paths, key=lambda p: p.name)
    per_run = per_run or files_per_run(len(paths))
    batch = new_key()
    keys: list[str] = []
    ids: list[str] = []
    for start in range(0, len(paths), per_run):
        chunk = paths[start:start + per_run]
        k, i = service.stage_uploads(actor, [(p.name, p.read_bytes()) for p in chunk], per_run=per_run,
                                     batch_key=batch, first_seq=start)
        keys += k
        ids += i
    return keys, ids


def ingest(service: Service, actor: str, paths: list[Path]) -> list[dict]:
    """An inbox batch: every file staged by this process (the machine that has the folder), in file-name order,
    then assured on workers (a deployment) or here; one row per file."""
    keys, ids = stage_batch(service, actor, paths)
    if deployment_configured():
        wait_for_runs(service, submit_runs(service, keys), deadline=time.monotonic() + CLI_WAIT_SECONDS["batch"])
    elif prefect_server_configured():
        from isap.orchestration.flows import assure_inbox

        try:
            assure_inbox(runs=keys)
        except Exception as exc:  # noqa: BLE001 - the staged rows say what was finished
            log.warning("the inbox batch's flow failed: %s", exc)
    else:
        _assure_concurrently(service, keys)
    return batch_rows(service, actor, ids)


def _assure_concurrently(service: Service, keys: list[str]) -> None:
    """The runs of a batch in this process, a few at a time (each file is checked in a child process)."""
    from concurrent.futures import ThreadPoolExecutor

    _, threads = steps.batch_runner_setting()
    with ThreadPoolExecutor(max_workers=threads if isinstance(threads, int) else 2) as pool:
        for fut in [pool.submit(steps.assure_staged, service, key) for key in keys]:
            try:
                fut.result()
            except Exception as exc:  # noqa: BLE001 - the staged rows say what was finished
                log.warning("a run of staged uploads failed: %s", exc)
    steps.notify(service)


def batch_rows(service: Service, actor: str, ids: list[str]) -> list[dict]:
    """One row per staged file of a batch, in its order: what became of it."""
    rows = []
    for done in service.staged_outcomes(actor, ids):
        r = done.result
        outcome = (done.outcome or describe(r)) if done.finished and (done.outcome or r) else \
            "failed: not finished (it stays staged and is taken up again)"
        rows.append({"file": done.filename, "reference": r and r.reference, "version": r and r.version,
                     "errors": r and r.errors, "warnings": r and r.warnings, "outcome": outcome})
    return rows


def orchestration_defaults(quiet: bool = True) -> None:
    """Local settings for Prefect's ephemeral mode, unless a Prefect server is configured.

    Must run before Prefect is imported (its settings are read once).  Keeps
    Prefect's own database beside isap's data rather than in the user's home,
    allows for a slow first start (database set-up on a busy machine), and keeps
    Prefect's logs out of the dashboard's console (`quiet`) while `isap ingest`
    shows its progress.
    """
    if prefect_server_configured():
        return
    os.environ.setdefault("PREFECT_HOME", str(data_dir() / "prefect"))
    settings = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_SERVER_UI_ENABLED": "false",
                "PREFECT_TELEMETRY_ENABLE_RESOURCE_METRICS": "false",
                "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90"}
    if quiet:
        settings["PREFECT_LOGGING_LEVEL"] = "WARNING"
    for key, value in settings.items():
        os.environ.setdefault(key, value)


# Prefect's own console format (prefect/logging/logging.yml): Prefect replaces the root logger's handlers
# with one in this format when it first loads, so a process that logs before that uses it too.
LOG_FORMAT, LOG_TIME = "%(asctime)s.%(msecs)03d | %(levelname)-7s | %(name)s - %(message)s", "%H:%M:%S"


def log_like_prefect() -> None:
    """Log as Prefect will once it has loaded: warnings from every library, notes from isap too.

    For a long-running process (the dashboard) whose first log lines may come before Prefect loads; a
    process whose logging is already set up (a test run) is left alone, but for isap's notes."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(LOG_FORMAT, LOG_TIME))
        root.addHandler(handler)
        root.setLevel(logging.WARNING)
    logging.getLogger("isap").setLevel(logging.INFO)


_orchestration_lock = threading.Lock()


STILL_STARTING = "Prefect is still starting"


def orchestration_problem(wait: bool = True) -> str | None:
    """Reach the Prefect API (starting the ephemeral server on first use); None when it answers.

    A caller that must not wait (`wait=False`: an upload while Prefect is still
    starting) is told so at once instead.  Where this process starts Prefect's
    temporary server, callers are serialised, so two never race to start two;
    a server at a known address (configured, or run by the `isap` parent) is
    simply asked.
    """
    if _api_address_known():
        return _reach_orchestration(wait)
    if not _orchestration_lock.acquire(blocking=wait):
        return STILL_STARTING
    try:
        return _reach_orchestration(wait)
    finally:
        _orchestration_lock.release()


def _api_address_known() -> bool:
    """Whether Prefect's API has an address (configured, run by the `isap` parent, or a harness's server)."""
    if os.environ.get("PREFECT_API_URL"):
        return True
    from prefect.settings import get_current_settings

    return bool(get_current_settings().api.url)


_waited_for_managed_api = False


def _reach_orchestration(wait: bool) -> str | None:
    global _waited_for_managed_api
    from isap.orchestration.processes import MANAGED_API_ENV, startup_timeout, wait_for_api

    if os.environ.get(MANAGED_API_ENV) and not _waited_for_managed_api:
        # The `isap` parent started this API moments ago: the first caller that may wait gives it the time
        # Prefect gives its own temporary server; later callers find out at once if it has gone.
        answered = wait_for_api(os.environ["PREFECT_API_URL"], startup_timeout() if wait else 0.1)
        if not answered and not wait:
            return STILL_STARTING
        _waited_for_managed_api = True
    try:
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            failure = client.api_healthcheck()
    except Exception as exc:  # noqa: BLE001 - any failure to reach Prefect means: run the steps directly
        return f"{type(exc).__name__}: {exc}"
    return None if failure is None else f"{type(failure).__name__}: {failure}"


def warm_orchestration() -> None:
    """Reach Prefect (starting it if need be) and load the flow and its engines.

    The dashboard runs this in the background when it starts, so that its first upload through the flow
    does not pay for importing the flow engine (uploads before Prefect answers are checked in-process).
    """
    # Imported once Prefect answers, not while its server starts: on two cores, the server's start and
    # these imports would otherwise both slow the pages and the uploads of the first seconds.
    if orchestration_problem() is None:
        import prefect.flow_engine  # noqa: F401
        import prefect.task_engine  # noqa: F401

        import isap.orchestration.flows  # noqa: F401


@dataclass
class DashboardUpload:
    """What the upload page shows: the result once it is there, or that the upload is queued for a worker."""

    staged_id: str
    result: UploadResult | None
    as_flow: bool  # checked through a flow run (False: in the dashboard's own process, orchestration unreachable)

    @property
    def queued(self) -> bool:
        return self.result is None


def assure_dashboard_upload(service: Service, actor: str, filename: str, data: bytes) -> DashboardUpload:
    """A dashboard upload: staged, then checked on a worker, through a flow here, or by the steps here.

    With a deployment, the page waits for the worker for the policy's
    `upload_wait_seconds`; past that it says the upload is queued and shows the
    result when it lands (`dashboard_upload_result`), never hanging.  Without
    one, the flow runs here once the dashboard's own Prefect server answers; an
    upload never waits for it to start (six to eleven seconds after the
    dashboard starts, on two cores): the same steps run in-process, and the
    page says so (docs/decisions/0006-orchestration.md).
    """
    keys, ids = service.stage_uploads(actor, [(filename, data)])
    if deployment_configured():
        deadline = time.monotonic() + service.policy.upload_wait_seconds
        done = wait_for_runs(service, submit_runs(service, keys), deadline=deadline)
        return DashboardUpload(ids[0], _finished_result(service, actor, ids[0]) if done else None, True)
    problem = orchestration_problem(wait=False)
    if problem is None:
        from isap.orchestration.flows import run_assure_submission

        try:
            run_assure_submission(keys[0])
        except Exception as exc:  # noqa: BLE001 - the staged row says whether it was finished
            log.warning("the upload's flow failed: %s", exc)
        return DashboardUpload(ids[0], _finished_result(service, actor, ids[0]), True)
    log.warning("Prefect is unreachable (%s); assuring an upload in-process", problem)
    steps.assure_staged(service, keys[0])
    steps.notify(service)
    return DashboardUpload(ids[0], _finished_result(service, actor, ids[0]), False)


def checking_queue_text(owner: str | tuple[str, str], policy) -> str:
    """What an uploader is told while their file waits to be checked in this process: how many checks are
    under way, how many go before theirs (users take turns; `owner` is `Service.checking_owner`'s), and how
    long it may wait at most."""
    from isap.workbook.isolation import queue_for

    running, before = queue_for(owner)
    if not running:
        return "Checking the workbook…"
    return (f"Checking the workbook… ({running} check{'s' if running != 1 else ''} under way, {before} waiting before "
            f"yours; uploaders take turns, and a file waits at most {policy.check_wait_seconds:g} s for its turn.)")


def assure_api_upload(service: Service, actor: str, filename: str, data: bytes) -> DashboardUpload:
    """An upload through the HTTP API: staged and checked as the dashboard's are, with the same bounded wait.

    With a deployment it waits for a worker for the policy's `upload_wait_seconds`, then answers that the
    upload is queued (`dashboard_upload_result` finds it later); with a Prefect server (configured, or the
    one `isap dashboard` runs beside the API) the flow runs here; with neither, the same steps run here at
    once, as `isap upload` does: the API never starts a temporary Prefect server of its own.
    """
    if prefect_server_configured():  # a deployment needs a server: the dashboard's path decides which
        return assure_dashboard_upload(service, actor, filename, data)
    keys, ids = service.stage_uploads(actor, [(filename, data)])
    steps.assure_staged(service, keys[0])
    steps.notify(service)
    return DashboardUpload(ids[0], _finished_result(service, actor, ids[0]), False)


def dashboard_upload_result(service: Service, actor: str, staged_id: str) -> UploadResult | None:
    """The result of a queued upload once a worker has finished it (None while it waits); a refusal is raised."""
    [done] = service.staged_outcomes(actor, [staged_id])
    if not done.finished:
        return None
    return staged_result(service, actor, staged_id)

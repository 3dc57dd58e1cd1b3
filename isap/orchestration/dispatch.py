"""Where an upload is assured: through a Prefect flow, or in this process.

Command-line uploads (`assure`) go through the flow on a Prefect server when one is configured
(PREFECT_API_URL) and run in-process otherwise, so a laptop upload answers in a second or two
instead of waiting for Prefect's temporary server.  Dashboard uploads (`assure_dashboard_upload`)
go through the flow: the dashboard is a long-running process, so it starts Prefect once, in the
background, when it starts.  While Prefect is still starting, or if it cannot be reached, the same
steps (`isap.orchestration.steps`) run in-process: an upload neither waits for orchestration nor
is lost to it.  Nothing here imports Prefect at module level.
"""

from __future__ import annotations

import logging
import os
import threading

from isap.composition import data_dir
from isap.orchestration.steps import assure_in_process, stage
from isap.review.service import Service, UploadResult

log = logging.getLogger(__name__)


def prefect_server_configured() -> bool:
    return bool(os.environ.get("PREFECT_API_URL"))


def assure(service: Service, actor: str, filename: str, data: bytes) -> UploadResult:
    """Assure one upload: through the Prefect flow on a configured server, else in-process."""
    if prefect_server_configured():
        from isap.orchestration.flows import run_assure_submission

        with stage(data) as staged:
            return run_assure_submission(actor=actor, filename=filename, path=str(staged))
    return assure_in_process(service, actor, filename, data)


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


def assure_dashboard_upload(service: Service, actor: str, filename: str, data: bytes) -> tuple[UploadResult, bool]:
    """A dashboard upload through the `assure_submission` flow; (result, ran_as_flow).

    If Prefect cannot be reached the same steps run in-process, so an upload is
    never lost to an orchestration outage; the page says so.  Nor does an upload
    wait for Prefect to start (six to eleven seconds after the dashboard starts,
    on two cores): the commissioner's findings do not depend on it, and the
    upload is kept in the proposal's history either way (docs/decisions.md).
    """
    problem = orchestration_problem(wait=False)
    if problem is None:
        from isap.orchestration.flows import run_assure_submission

        with stage(data) as staged:
            return run_assure_submission(actor=actor, filename=filename, path=str(staged)), True
    log.warning("Prefect is unreachable (%s); assuring %s in-process", problem, filename)
    return assure_in_process(service, actor, filename, data), False

"""Where an upload is assured: through a Prefect flow, or in this process.

Command-line uploads (`assure`) go through the flow on a Prefect server when one is configured
(PREFECT_API_URL) and run in-process otherwise, so a laptop upload answers in a second or two
instead of waiting for Prefect's temporary server.  Dashboard uploads (`assure_dashboard_upload`)
always go through the flow: the dashboard is a long-running process, so it starts Prefect once, in
the background, when it starts.  If Prefect cannot be reached the same steps
(`isap.orchestration.steps`) run in-process.  Nothing here imports Prefect at module level.
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
        from isap.orchestration.flows import assure_submission

        with stage(data) as staged:
            return assure_submission(actor=actor, filename=filename, path=str(staged))
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


_orchestration_lock = threading.Lock()


def orchestration_problem() -> str | None:
    """Reach the Prefect API (starting the ephemeral server on first use); None when it answers.

    Serialised: an upload that arrives while the dashboard's background warm-up
    is still starting Prefect's temporary server waits for it rather than
    racing it to start a second one.
    """
    with _orchestration_lock:
        return _reach_orchestration()


_waited_for_managed_api = False


def _reach_orchestration() -> str | None:
    global _waited_for_managed_api
    from isap.orchestration.processes import MANAGED_API_ENV, startup_timeout, wait_for_api

    if os.environ.get(MANAGED_API_ENV) and not _waited_for_managed_api:
        # The `isap` parent started this API moments ago: the first caller gives it the time Prefect gives
        # its own temporary server; later callers find out at once if it has gone.
        wait_for_api(os.environ["PREFECT_API_URL"], startup_timeout())
        _waited_for_managed_api = True
    try:
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            failure = client.api_healthcheck()
    except Exception as exc:  # noqa: BLE001 - any failure to reach Prefect means: run the steps directly
        return f"{type(exc).__name__}: {exc}"
    return None if failure is None else f"{type(failure).__name__}: {failure}"


def assure_dashboard_upload(service: Service, actor: str, filename: str, data: bytes) -> tuple[UploadResult, bool]:
    """A dashboard upload through the `assure_submission` flow; (result, ran_as_flow).

    If Prefect cannot be reached the same steps run in-process, so an upload is
    never lost to an orchestration outage; the page says so.
    """
    problem = orchestration_problem()
    if problem is None:
        from isap.orchestration.flows import assure_submission

        with stage(data) as staged:
            return assure_submission(actor=actor, filename=filename, path=str(staged)), True
    log.warning("Prefect is unreachable (%s); assuring %s in-process", problem, filename)
    return assure_in_process(service, actor, filename, data), False

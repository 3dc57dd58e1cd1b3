"""Runs on workers: submitting staged uploads as deployment runs, waiting for them, and taking up dead ones.

Used by whoever hands uploads to the workers (`isap.orchestration.dispatch`) and
by the scheduled `resume_staged` flow; it never imports the flows themselves,
only Prefect's client, and only when called.  The staged rows, not the runs'
states, say what is finished (docs/deployment.md, "Uploads, staged").
"""

from __future__ import annotations

import logging
import os
import time
from typing import Callable, Iterable

from isap.orchestration import steps
from isap.review.service import Service, StoreError

log = logging.getLogger(__name__)


def prefect_server_configured() -> bool:
    return bool(os.environ.get("PREFECT_API_URL"))


DEPLOYMENT = "assure_submission/assure-submission"
RESUME_ATTEMPTS = 3  # new runs a waiter gives one run key whose run died, before it says so
CLAIM_SECONDS = 600.0  # a new run's uploads are not taken up again while it waits this long for a worker
# While a run waits its turn in the queue, whoever waits for it keeps its claim alive, renewing it this often: a
# batch's last runs may wait longer than the claim behind the others on a busy pool, and are not dead for that.
QUEUED_RENEWAL_SECONDS = CLAIM_SECONDS / 4
# Once a worker has taken a run up (Pending or Running), its flow must start renewing the lease within this long.
# The long claim above covers only the wait in the queue: a worker machine lost between taking a run up and its
# flow's first renewal would otherwise leave the run Pending, and its uploads claimed, for the whole claim.
TAKEN_UP_SECONDS = 120.0


class NotFinished(StoreError):
    """Uploads that are staged but could not be finished now; they stay staged and are taken up again."""


def deployment_configured() -> bool:
    """Whether uploads go to workers: a configured Prefect server (not one this process runs) that has the
    `assure-submission` deployment."""
    from isap.orchestration.processes import MANAGED_API_ENV

    if not prefect_server_configured() or os.environ.get(MANAGED_API_ENV):
        return False
    try:
        from prefect.client.orchestration import get_client
        from prefect.exceptions import ObjectNotFound

        with get_client(sync_client=True) as client:
            try:
                client.read_deployment_by_name(DEPLOYMENT)
            except ObjectNotFound:
                return False
    except Exception as exc:  # noqa: BLE001 - an unreachable server: run here instead, never lose the upload
        log.warning("cannot reach Prefect to find the %s deployment (%s): assuring here", DEPLOYMENT, exc)
        return False
    return True


def submit_runs(service: Service, keys: Iterable[str]) -> dict[str, str]:
    """A deployment run of `assure_submission` for each run key (its only parameter); {key: flow run id}.

    Each key's uploads are claimed for its run until a worker takes it up (CLAIM_SECONDS), so the resume
    pass does not start a second run for uploads that are only waiting their turn."""
    from prefect.deployments import run_deployment

    runs = {}
    for key in keys:
        service.renew_lease(key, CLAIM_SECONDS)
        runs[key] = str(run_deployment(DEPLOYMENT, parameters={"staging": key}, timeout=0, as_subflow=False).id)
    return runs


TERMINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")


def wait_for_runs(service: Service, runs: dict[str, str], deadline: float | None = None,
                  clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                  poll: float = 0.5) -> bool:
    """Wait until every run key's staged uploads are finished (True), or until `deadline` (False).

    The staged rows say what is finished, not the runs' states: a run that
    ended (failed, crashed, cancelled) with uploads unfinished gets a new run
    for the same key, up to RESUME_ATTEMPTS times, and a run that crashed after
    finishing all its work is marked Completed, so nobody reruns a batch by hand.
    A run still waiting in the queue is never taken for dead, however long it
    waits: the waiter keeps its claim alive (QUEUED_RENEWAL_SECONDS).
    """
    from prefect.client.orchestration import get_client
    from prefect.states import Completed, Crashed

    runs = dict(runs)
    attempts = {key: 0 for key in runs}
    settled: set[str] = set()
    taken_up: set[str] = set()  # run ids seen Pending or Running, whose claim was cut to TAKEN_UP_SECONDS
    claimed_at = {key: clock() for key in runs}  # when this waiter last renewed a queued run's claim
    with get_client(sync_client=True) as client:
        while True:
            unfinished = service.run_progress(list(runs))
            lapsed = set(service.lapsed_leases(list(unfinished))) if unfinished else set()
            for key, run_id in runs.items():
                if key in settled:
                    continue
                state = client.read_flow_run(run_id).state
                kind = state.type.value if state is not None else "PENDING"
                if key not in unfinished:
                    if kind == "CRASHED":  # it died after its work was done: say so, rather than Crashed
                        client.set_flow_run_state(run_id, Completed(message="its uploads were all finished"),
                                                  force=True)
                    if kind in TERMINAL:
                        settled.add(key)
                    continue
                queued = kind == "SCHEDULED"  # Late too: waiting for a worker, not lost
                if queued and clock() - claimed_at[key] >= QUEUED_RENEWAL_SECONDS:
                    claimed_at[key] = clock()
                    service.renew_lease(key, CLAIM_SECONDS)
                if kind in ("PENDING", "RUNNING") and run_id not in taken_up:
                    taken_up.add(run_id)
                    service.renew_lease(key, TAKEN_UP_SECONDS)
                dead = kind in TERMINAL or (key in lapsed and not queued)
                if dead and attempts[key] < RESUME_ATTEMPTS:
                    attempts[key] += 1
                    log.warning("a run of staged uploads %s with work left: starting it again (%d/%d)",
                                f"ended {kind.lower()}" if kind in TERMINAL else "stopped answering",
                                attempts[key], RESUME_ATTEMPTS)
                    if kind not in TERMINAL:  # its process is gone: the run will never end by itself
                        client.set_flow_run_state(run_id, Crashed(message="its process stopped renewing its "
                                                                          "lease; a new run took its uploads up"),
                                                  force=True)
                    runs[key] = submit_runs(service, [key])[key]
                    claimed_at[key] = clock()
                elif dead:
                    settled.add(key)  # given up here; `resume_staged` takes it up later
            if not unfinished or all(k in settled for k in unfinished):
                return not unfinished
            if deadline is not None and clock() >= deadline:
                return False
            sleep(poll)


def resume_abandoned(service: Service, grace_seconds: float = 120.0) -> int:
    """Start again every run of staged uploads nobody is working on; how many.  Old finished records go too."""
    import datetime as dt

    keys = service.abandoned_runs(grace_seconds=grace_seconds)
    deployed = deployment_configured()
    for key in keys:
        if deployed:
            submit_runs(service, [key])
        else:
            steps.assure_staged(service, key)
    if keys and not deployed:
        steps.notify(service)
    service.forget_finished_staging(dt.timedelta(days=7))
    return len(keys)



"""isap's flows as deployments on a Prefect server: which flows, on which schedules, registered by `isap deploy`.

Each deployment names its flow by module path (`isap.orchestration.flows.
deliver_notifications`), not by a file in a checkout: a worker imports the flow
from the isap installed in its own environment, and neither the machine that
registers the deployments nor the workers need the source tree or a path
agreed between them.  The price is that every worker must run the isap version
the deployments were registered from (a flow's parameters are recorded then):
deploy again after upgrading.

The table is here, in code, rather than in a `prefect.yaml`, so it is checked
like code (tests register it on a real server) and the schedules cannot drift
from the flows they run.  Prefect and the flows are imported only when
deploying: `isap` commands that do not deploy never load them.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

NOTIFICATIONS_EVERY = 300  # seconds between deliveries of the outbox


class DeployFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class Deployment:
    """One deployment: the flow (its name in isap.orchestration.flows) and when Prefect's scheduler runs it."""

    flow: str
    name: str
    cron: str | None = None
    timezone: str | None = None
    every: float | None = None  # seconds


def deployments(notifications_every: float = NOTIFICATIONS_EVERY) -> tuple[Deployment, ...]:
    return (
        # run on demand, for each upload staged for a worker
        Deployment("assure_submission", "assure-submission"),
        # before the working day, in the time the targets are set in (British summer time included)
        Deployment("review_reminders", "review-reminders", cron="0 7 * * *", timezone="Europe/London"),
        Deployment("deliver_notifications", "deliver-notifications", every=notifications_every),
        # uploads staged while no worker took them are picked up again
        Deployment("resume_staged", "resume-staged", every=120),
    )


def _schedules(d: Deployment) -> list:
    from prefect.schedules import Cron, Interval

    # A slug names the schedule, so deploying again replaces it instead of adding a second one.
    if d.cron is not None:
        return [Cron(d.cron, timezone=d.timezone, slug=f"{d.name}-schedule")]
    if d.every is not None:
        return [Interval(d.every, slug=f"{d.name}-schedule")]
    return []


def ensure_process_pool(pool: str) -> bool:
    """Create the work pool as a process pool unless it exists; True when it was created."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
    from prefect.workers.process import ProcessWorker

    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(pool)
            return False
        except ObjectNotFound:
            pass
        try:
            client.create_work_pool(WorkPoolCreate(
                name=pool, type=ProcessWorker.type,
                base_job_template=ProcessWorker.get_default_base_job_template()))
        except ObjectAlreadyExists:  # another `isap deploy` created it meanwhile
            return False
        return True


def deploy(pool: str, notifications_every: float = NOTIFICATIONS_EVERY) -> tuple[list[str], list[str]]:
    """Register every deployment with the Prefect server in PREFECT_API_URL, in work pool `pool`.

    Returns the deployments registered ("flow/deployment") and the flows left
    out because isap.orchestration.flows does not define them (an older isap).
    """
    from prefect import deploy as prefect_deploy
    from prefect.deployments.runner import EntrypointType

    from isap.orchestration import flows

    ensure_process_pool(pool)
    runner_deployments, names, missing = [], [], []
    for d in deployments(notifications_every):
        flow = getattr(flows, d.flow, None)
        if flow is None:
            missing.append(d.flow)
            continue
        runner_deployments.append(flow.to_deployment(name=d.name, entrypoint_type=EntrypointType.MODULE_PATH,
                                                     schedules=_schedules(d)))
        names.append(f"{flow.name}/{d.name}")
    # No image and nothing to build or push: a process worker imports the flows from its own environment.
    # Prefect prints its progress on the console; the caller says what was registered.
    ids = prefect_deploy(*runner_deployments, work_pool_name=pool, build=False, push=False,
                         print_next_steps_message=False, ignore_warnings=True)
    sys.stdout.flush()
    if len(ids) != len(runner_deployments):  # Prefect reports each failure in its table and carries on
        raise DeployFailed(f"{len(runner_deployments) - len(ids)} of {len(runner_deployments)} deployments "
                           "were not registered (see Prefect's table above)")
    return names, missing

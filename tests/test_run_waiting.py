"""Waiting for runs on workers: a run a worker took up and then lost is started again within a short grace,
not after the long claim that covers only a run's wait in the queue.

A worker machine that dies between taking a run up (Pending) and its flow's first lease renewal leaves the
run Pending for ever.  Its uploads were claimed for `CLAIM_SECONDS` when submitted, so a waiter that only
watched the lease sat out that whole claim first (an `isap ingest` once waited over 15 minutes for it).
"""

from __future__ import annotations

import datetime as dt

import pytest

from sample_submissions.proposals import clean, write

pytestmark = pytest.mark.integration


@pytest.fixture
def assure_deployment(prefect_harness):
    """The `assure-submission` deployment on the session's Prefect server, with no worker to run it."""
    from prefect.client.orchestration import get_client

    from isap.orchestration.workers import DEPLOYMENT

    flow_name, name = DEPLOYMENT.split("/")
    with get_client(sync_client=True) as client:
        flow_id = client.create_flow_from_name(flow_name)
        deployment_id = client.create_deployment(flow_id=flow_id, name=name)
        try:
            yield client
        finally:
            client.delete_deployment(deployment_id)


def one_run_with_a_clock(service, tmp_path):
    """One upload staged and submitted as a run; a sleep that moves the service's clock, and the seconds slept."""
    from isap.orchestration import workers

    now = [dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.timezone.utc)]
    service.clock = lambda: now[0]
    keys, _ = service.stage_uploads("alice", [("a.xlsx", write(clean(1), tmp_path / "a.xlsx").read_bytes())])
    [key] = keys
    elapsed = [0.0]

    def sleep(seconds: float) -> None:
        elapsed[0] += seconds
        now[0] += dt.timedelta(seconds=seconds)

    return key, workers.submit_runs(service, keys), sleep, elapsed


def test_a_run_taken_up_by_a_worker_that_died_before_starting_is_run_again_within_the_grace(
        service, assure_deployment, monkeypatch, tmp_path):
    from prefect.states import Pending

    from isap.orchestration import workers

    client = assure_deployment
    key, runs, sleep, elapsed = one_run_with_a_clock(service, tmp_path)
    first = runs[key]
    # A worker takes the run up, then its machine dies before the flow renews the lease.
    client.set_flow_run_state(first, Pending(), force=True)

    submitted: list[str] = []
    real_submit = workers.submit_runs
    monkeypatch.setattr(workers, "submit_runs", lambda svc, ks: submitted.extend(ks) or real_submit(svc, ks))
    limit = workers.CLAIM_SECONDS / 2
    finished = workers.wait_for_runs(service, runs, deadline=limit, clock=lambda: elapsed[0], sleep=sleep, poll=5.0)

    assert submitted == [key], "the lost run was not started again before half the claim had passed"
    state = client.read_flow_run(first).state
    assert state.type.value == "CRASHED" and "lease" in state.message
    assert not finished  # it went on waiting for the new run, which no worker takes here, until the deadline


def test_a_run_that_waits_its_turn_in_the_queue_longer_than_the_claim_is_never_restarted(
        service, assure_deployment, monkeypatch, tmp_path):
    """A batch of eight runs on one worker: the last waits in the queue for many minutes.  A waiter that took
    the lapse of its claim for a death sent it to the back of the queue again, over and over (an `isap ingest`
    of 40 files on a loaded machine never finished)."""
    from isap.orchestration import workers

    client = assure_deployment
    key, runs, sleep, elapsed = one_run_with_a_clock(service, tmp_path)

    submitted: list[str] = []
    monkeypatch.setattr(workers, "submit_runs", lambda svc, ks: submitted.extend(ks) or {})
    limit = workers.CLAIM_SECONDS * 3
    finished = workers.wait_for_runs(service, runs, deadline=limit, clock=lambda: elapsed[0], sleep=sleep, poll=5.0)

    assert not finished and elapsed[0] >= limit
    assert submitted == [], "a run still waiting in the queue was started again"
    assert client.read_flow_run(runs[key]).state.type.value == "SCHEDULED"
    # The waiter kept the claim alive while it watched, so the scheduled resume does not take the uploads up.
    assert key not in service.abandoned_runs(grace_seconds=120.0)

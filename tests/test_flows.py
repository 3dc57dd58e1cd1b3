"""Prefect orchestration: flows under a real (temporary) Prefect server, steps as plain functions."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from sample_submissions.proposals import clean, write
from tests.inboxes import BUSY_REFERENCE, busy_inbox, mixed_inbox, one_proposal_inbox
from tests.panel import decide, take


@pytest.fixture
def env(tmp_path, monkeypatch, migrated_sqlite):
    """An upgraded embedded database with two organisations, used through the environment like the flows do."""
    from isap.review.service import Service
    from tests.conftest import migrated_data_dir

    monkeypatch.setenv("ISAP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("ISAP_DATABASE_URL", raising=False)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    migrated_data_dir(migrated_sqlite, tmp_path / "data")
    svc = Service()
    svc.add_organisation("QUA", "Black Country ICB")
    svc.add_organisation("QHM", "North East ICB")
    svc.add_user("alice", "commissioner", "QUA")
    svc.add_user("rita", "reviewer", email="rita@england.nhs.uk")
    return svc


def stage_one(service, actor: str, path: Path) -> tuple[str, str]:
    keys, ids = service.stage_uploads(actor, [(path.name, path.read_bytes())])
    return keys[0], ids[0]


def run_inbox(service, inbox: Path, actor: str = "alice", flow=None) -> list[dict]:
    """An inbox batch as `isap ingest` runs it without a deployment: staged here, then the flow in this process."""
    from isap.orchestration.dispatch import batch_rows, stage_batch
    from isap.orchestration.flows import assure_inbox

    keys, ids = stage_batch(service, actor, [p for p in inbox.iterdir() if p.suffix == ".xlsx"])
    (flow or assure_inbox)(runs=keys)
    return batch_rows(service, actor, ids)


def test_assure_submission_flow(prefect_harness, env, tmp_path):
    from isap.orchestration.flows import run_assure_submission
    from isap.orchestration.steps import staged_result

    path = write(clean(1, reference="ISAP-2026-011"), tmp_path / "a.xlsx")
    key, staged = stage_one(env, "alice", path)
    counts = run_assure_submission(key)
    assert counts == {"kept": 1, "refused": 0, "failed": 0, "already_finished": 0}
    result = staged_result(env, "alice", staged)
    assert (result.reference, result.version, result.errors) == ("ISAP-2026-011", 1, 0)
    assert env.files.get(result.sha256) == path.read_bytes()
    [eml] = list((tmp_path / "data" / "outbox").glob("*.eml"))
    content = eml.read_text()
    assert "To: icp.programme@nhs.net" in content and "ISAP-2026-011 version 1" in content
    again_key, again_id = stage_one(env, "alice", path)
    run_assure_submission(again_key)
    assert staged_result(env, "alice", again_id).duplicate
    assert len(env.show("alice", "ISAP-2026-011")["versions"]) == 1
    # the same key again finds nothing left to do: nothing is kept twice
    assert run_assure_submission(key) == {"kept": 0, "refused": 0, "failed": 0, "already_finished": 0}
    # Prefect records the run and its steps as task runs, each completed; the run key is all Prefect holds.
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName, FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = [run for run in client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["assure_submission"])), limit=200)
            if run.parameters.get("staging") in (key, again_key)]  # the session's server holds other tests' runs
        assert len(runs) == 3 and all(run.state.is_completed() for run in runs)
        assert all(set(run.parameters) == {"staging"} for run in runs)
        # the server records a task run's states from the events the run sends, after the flow has returned: a
        # task run read at once may have no state yet (seen once in a clean-clone run), so it is read until each has
        deadline = time.monotonic() + 60
        while True:
            tasks = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[runs[0].id])))
            if all(t.state is not None for t in tasks) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert sorted(t.name.rsplit("-", 1)[0] for t in tasks) == ["assure_staged_uploads", "notify"]
    assert all(t.state.is_completed() for t in tasks)
    assert all("a.xlsx" not in str(run.parameters) and "alice" not in str(run.parameters) for run in runs)


def test_a_run_with_a_failed_upload_ends_failed_through_its_retries_naming_no_file(prefect_harness, env, tmp_path,
                                                                                  monkeypatch):
    import asyncio

    from isap.orchestration import steps
    from isap.orchestration.flows import UploadsNotFinished, assure_submission

    def broken(*args, **kwargs):
        raise RuntimeError("a defect while checking")

    monkeypatch.setattr(steps, "check_workbook", broken)
    key, staged = stage_one(env, "alice", write(clean(1, reference="ISAP-2026-011"), tmp_path / "a.xlsx"))
    flow = assure_submission.with_options(retries=2, retry_delay_seconds=0)
    state = asyncio.run(flow(staging=key, return_state=True))
    assert state.is_failed()  # the retries find the failed upload again: never Completed
    with pytest.raises(UploadsNotFinished) as failure:
        state.result()
    assert staged[:8] in str(failure.value) and "a.xlsx" not in str(failure.value)
    [done] = env.staged_outcomes("alice", [staged])
    assert done.state == "failed" and "a defect while checking" in done.outcome


def test_a_run_key_nobody_staged_does_nothing(prefect_harness, env, tmp_path):
    """A run created by hand with a made-up key finds nothing to act on: no identity, no path is taken from it."""
    from isap.orchestration.flows import run_assure_submission

    assert run_assure_submission("/etc/passwd") == {"kept": 0, "refused": 0, "failed": 0, "already_finished": 0}
    with env.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM submissionversion")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM unassignedupload")).scalar() == 0


def test_assure_inbox_flow_each_file_independently_and_skips_assured(prefect_harness, env, tmp_path):
    inbox = mixed_inbox(tmp_path / "inbox")
    other = clean(1, reference="ISAP-2026-013")
    other["Cover"]["lead_commissioner_code"] = "QHM"
    write(other, inbox / "other-org.xlsx")
    (inbox / "notes.txt").write_text("ignored")
    rows = {r["file"]: r for r in run_inbox(env, inbox)}
    assert set(rows) == {"dudley.xlsx", "sandwell.xlsx", "broken.xlsx", "other-org.xlsx"}
    assert rows["dudley.xlsx"]["outcome"] == "clean" and rows["dudley.xlsx"]["version"] == 1
    assert rows["sandwell.xlsx"]["outcome"] == "has errors" and rows["sandwell.xlsx"]["errors"] == 1
    assert rows["broken.xlsx"]["outcome"] == "kept, not assessable"
    assert rows["other-org.xlsx"]["outcome"].startswith("refused")
    again = {r["file"]: r["outcome"] for r in run_inbox(env, inbox)}
    assert again["dudley.xlsx"] == again["sandwell.xlsx"] == again["broken.xlsx"] == "already assured"
    with env.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM submissionversion")).scalar() == 2
        assert conn.execute(text("SELECT count(*) FROM unassignedupload")).scalar() == 1


def test_review_reminders_flow(prefect_harness, env, tmp_path):
    from isap.orchestration.flows import review_reminders
    from isap.review.service import ConditionInput

    env.upload("alice", "a.xlsx", write(clean(1, reference="ISAP-2026-011"), tmp_path / "a.xlsx").read_bytes())
    env.submit("alice", "ISAP-2026-011")
    env.upload("alice", "b.xlsx", write(clean(1, reference="ISAP-2026-012"), tmp_path / "b.xlsx").read_bytes())
    env.submit("alice", "ISAP-2026-012")
    take(env, "rita", "ISAP-2026-012")
    ratings = dict.fromkeys(("capitalisation", "transparency", "service_scope", "relationships", "governance"),
                            "green")
    decide(env, "rita", "ISAP-2026-012", "approved_with_conditions", ratings, "ok",
               [ConditionInput("Publish the report", "ICB", dt.date.today() + dt.timedelta(days=30))])
    later = (dt.date.today() + dt.timedelta(days=60)).isoformat()
    written = review_reminders(today=later)
    assert len(written) == 2 and any(k.startswith("review-overdue:ISAP-2026-011:") for k in written)
    assert any(k.startswith("condition-overdue:") for k in written)
    # queued and sent in the same run: written to the offline outbox folder
    review = next((tmp_path / "data" / "outbox").glob("review-overdue_ISAP-2026-011_*.eml")).read_text()
    assert "To: rita@england.nhs.uk" in review
    condition = next((tmp_path / "data" / "outbox").glob("condition-overdue_*.eml")).read_text()
    assert "To: icp.programme@nhs.net" in condition and "Publish the report" in condition
    assert review_reminders(today=later) == []  # the same day twice queues nothing new
    assert review_reminders(today=dt.date.today().isoformat()) == []


def test_transient_failure_is_retried(prefect_harness, env, tmp_path, monkeypatch):
    from isap.orchestration import steps
    from isap.orchestration.flows import run_assure_submission

    calls = {"n": 0}
    real = steps.persist_version

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise steps.TransientError("database is locked")
        return real(*args, **kwargs)

    monkeypatch.setattr(steps, "persist_version", flaky)
    path = write(clean(1, reference="ISAP-2026-011"), tmp_path / "a.xlsx")
    key, staged = stage_one(env, "alice", path)
    run_assure_submission(key)
    assert calls["n"] == 2 and steps.staged_result(env, "alice", staged).version == 1


def test_steps_are_plain_functions(env, tmp_path):
    from isap.orchestration import steps

    data = write(clean(1, reference="ISAP-2026-011"), tmp_path / "a.xlsx").read_bytes()
    result = steps.assure_in_process(env, "alice", "a.xlsx", data)
    assert result.version == 1 and result.reference == "ISAP-2026-011"


def test_plain_check_never_imports_prefect(tmp_path):
    path = write(clean(1), tmp_path / "a.xlsx")
    code = ("import sys; from isap.cli import app\n"
            "try:\n    app(['check', sys.argv[1]])\nexcept SystemExit:\n    pass\n"
            "print('PREFECT' if any(m == 'prefect' or m.startswith('prefect.') for m in sys.modules) else 'CLEAN')")
    r = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True)
    assert r.stdout.strip().splitlines()[-1] == "CLEAN", r.stdout + r.stderr


def test_cli_upload_without_a_server_runs_in_process_without_prefect(env, tmp_path):
    path = write(clean(1, reference="ISAP-2026-011"), tmp_path / "a.xlsx")
    environ = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys\nfrom isap.cli import main\nsys.argv=['isap','upload',"
            f"{str(path)!r},'--as','alice']\ncode = 0\ntry:\n    main()\nexcept SystemExit as e:\n    code = e.code\n"
            "print(sorted(m for m in sys.modules if m=='prefect'))\nsys.exit(code)",
        ],
        capture_output=True,
        text=True,
        env=environ,
    )
    assert r.returncode == 0, r.stderr
    assert "ISAP-2026-011 version 1" in r.stdout
    assert r.stdout.strip().splitlines()[-1] == "[]"  # Prefect was never imported, let alone its server started


@pytest.mark.e2e  # a local Dask cluster of worker processes: tens of seconds to start
def test_inbox_batch_on_a_dask_cluster(prefect_harness, env, tmp_path):
    """ISAP_TASK_RUNNER=dask:N spreads a batch over a local Dask cluster of worker processes."""
    from prefect_dask import DaskTaskRunner

    from isap.orchestration.flows import assure_inbox, batch_task_runner

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for i in range(3):
        write(clean(1, reference=f"ISAP-2026-02{i}"), inbox / f"d{i}.xlsx")
    (inbox / "broken.xlsx").write_bytes(b"PK\x03\x04 truncated")
    runner = batch_task_runner("dask:2")
    assert isinstance(runner, DaskTaskRunner)
    rows = {r["file"]: r for r in run_inbox(env, inbox, flow=assure_inbox.with_options(task_runner=runner))}
    assert {f: r["outcome"] for f, r in rows.items()} == {
        "d0.xlsx": "clean", "d1.xlsx": "clean", "d2.xlsx": "clean", "broken.xlsx": "kept, not assessable"}
    assert {p["reference"] for p in env.list_proposals("alice")} == {"ISAP-2026-020", "ISAP-2026-021", "ISAP-2026-022"}


CORES = max(1, min(4, os.cpu_count() or 1))


@pytest.mark.parametrize("spec, expected", [
    ("", ("threads", CORES)), ("threads", ("threads", CORES)), ("threads:8", ("threads", 8)),
    ("dask", ("dask", 2)), ("dask:3", ("dask", 3)), ("tcp://10.0.0.5:8786", ("dask-address", "tcp://10.0.0.5:8786")),
])
def test_batch_runner_setting(spec, expected):
    from isap.orchestration.steps import batch_runner_setting

    assert batch_runner_setting(spec) == expected


@pytest.mark.parametrize("spec", ["ray", "threads:0", "dask:x", "threads:-1", "dask:100000"])
def test_batch_runner_setting_refuses_nonsense(spec, env, tmp_path):
    from isap.orchestration.steps import batch_runner_setting

    with pytest.raises(ValueError, match="ISAP_TASK_RUNNER"):
        batch_runner_setting(spec)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    r = subprocess.run([sys.executable, "-m", "isap.cli", "ingest", str(inbox), "--as", "alice"],
                       capture_output=True, text=True, env={**os.environ, "ISAP_TASK_RUNNER": spec})
    assert r.returncode == 2 and "ISAP_TASK_RUNNER" in r.stderr and "Traceback" not in r.stderr


def test_dashboard_upload_runs_as_a_flow_and_is_never_lost_without_prefect(prefect_harness, env, tmp_path):
    import socket
    import time

    from prefect.settings import PREFECT_API_URL, temporary_settings

    from isap.orchestration.dispatch import assure_dashboard_upload

    data = write(clean(1, reference="ISAP-2026-011"), tmp_path / "a.xlsx").read_bytes()
    upload = assure_dashboard_upload(env, "alice", "a.xlsx", data)
    assert upload.as_flow and (upload.result.reference, upload.result.version) == ("ISAP-2026-011", 1)

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    data = write(clean(1, reference="ISAP-2026-012"), tmp_path / "b.xlsx").read_bytes()
    started = time.monotonic()
    with temporary_settings({PREFECT_API_URL: f"http://127.0.0.1:{dead}/api"}):
        upload = assure_dashboard_upload(env, "alice", "b.xlsx", data)
    assert not upload.as_flow and (upload.result.reference, upload.result.version, upload.result.errors) == (
        "ISAP-2026-012", 1, 0)
    assert time.monotonic() - started < 120  # it falls back instead of hanging (a guard, not a speed target)
    assert {p["reference"] for p in env.list_proposals("alice")} == {"ISAP-2026-011", "ISAP-2026-012"}


def test_a_dashboard_upload_never_waits_for_prefect_to_start(prefect_harness, env, tmp_path, monkeypatch):
    """While the Prefect API the `isap dashboard` parent runs is still starting, an upload is checked and kept at
    once, in-process, rather than waiting for it; once the API answers, uploads run as flows."""
    import socket
    import threading

    from isap.orchestration import dispatch
    from isap.orchestration.processes import MANAGED_API_ENV

    with socket.socket() as s:  # the parent's API, not listening yet
        s.bind(("127.0.0.1", 0))
        starting = f"http://127.0.0.1:{s.getsockname()[1]}/api"
    monkeypatch.setattr(dispatch, "_waited_for_managed_api", False)
    data = write(clean(1, reference="ISAP-2026-011"), tmp_path / "a.xlsx").read_bytes()
    done: list = []
    with monkeypatch.context() as m:
        m.setenv("PREFECT_API_URL", starting)
        m.setenv(MANAGED_API_ENV, "1")
        m.setenv("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "600")  # what a waiting caller would allow
        upload = threading.Thread(target=lambda: done.append(
            dispatch.assure_dashboard_upload(env, "alice", "a.xlsx", data)), daemon=True)
        upload.start()
        upload.join(timeout=60)  # a guard against hanging, not a speed target
        assert not upload.is_alive(), "the upload waited for Prefect to start"
    [upload] = done
    assert not upload.as_flow and (upload.result.reference, upload.result.version, upload.result.errors) == (
        "ISAP-2026-011", 1, 0)
    assert dispatch._waited_for_managed_api is False  # the next caller still gives the API its time to start
    data = write(clean(1, reference="ISAP-2026-012"), tmp_path / "b.xlsx").read_bytes()
    upload = dispatch.assure_dashboard_upload(env, "alice", "b.xlsx", data)
    assert upload.as_flow and (upload.result.reference, upload.result.version) == ("ISAP-2026-012", 1)


@pytest.mark.parametrize("files, size", [(0, 1), (3, 1), (8, 1), (9, 2), (40, 5), (200, 10), (10_000, 10)])
def test_small_batches_are_a_run_per_file_large_ones_a_run_per_few(files, size):
    from isap.orchestration.dispatch import files_per_run

    assert files_per_run(files) == size


def test_a_busy_store_is_ridden_out_for_the_policys_time_then_the_file_is_left_for_later(env, tmp_path,
                                                                                          monkeypatch):
    """Plain functions, no Prefect, an injected clock: a store out of reach is retried while the policy allows;
    a file that still cannot be kept is left staged (not failed for good), and the next attempt keeps it."""
    from isap.orchestration import steps
    from isap.review.service import StoreBusy

    now = {"t": 0.0}
    real = steps.persist_version
    out = {"until": 20.0}

    def unreachable(service, actor, name, data, report, **kw):
        if now["t"] < out["until"]:
            raise StoreBusy("the database is restarting")
        return real(service, actor, name, data, report, **kw)

    def sleep(seconds):
        now["t"] += seconds

    monkeypatch.setattr(steps, "persist_version", unreachable)
    monkeypatch.setattr(steps.time, "monotonic", lambda: now["t"])
    key, staged = stage_one(env, "alice", write(clean(1, reference="ISAP-2026-011"), tmp_path / "a.xlsx"))
    outcome = steps.assure_staged(env, key, sleep=sleep)  # 20 s out of reach, within the default 30 s
    assert outcome.kept == 1 and 20.0 <= now["t"] < 30.0
    assert steps.staged_result(env, "alice", staged).version == 1

    out["until"] = now["t"] + 1000.0  # far longer than the policy rides out
    key, staged = stage_one(env, "alice", write(clean(1, reference="ISAP-2026-012"), tmp_path / "b.xlsx"))
    outcome = steps.assure_staged(env, key, sleep=sleep)
    assert (outcome.kept, outcome.failed, outcome.failed_ids) == (0, 1, [staged])
    [left] = env.staged_outcomes("alice", [staged])
    assert left.state == "checked" and not left.finished  # checked once; kept by the next attempt
    out["until"] = 0.0
    assert steps.assure_staged(env, key, sleep=sleep).kept == 1
    assert steps.staged_result(env, "alice", staged).version == 1


def test_a_lost_connection_is_worth_retrying_by_its_type():
    from sqlalchemy.exc import PendingRollbackError

    from isap.store.db import retryable

    assert retryable(PendingRollbackError("Can't reconnect until invalid transaction is rolled back"))


def test_a_run_that_dies_mid_batch_is_resumed_and_keeps_nothing_twice(env, tmp_path, monkeypatch):
    """The process running a batch dies after keeping some files: once its lease runs out, the resume pass
    finishes the rest from the staged rows, in file-name order, and keeps no file twice."""
    import datetime as dt

    from isap.orchestration import dispatch, steps, workers

    inbox = tmp_path / "inbox"
    names = one_proposal_inbox(inbox, 4)
    keys, ids = dispatch.stage_batch(env, "alice", list(inbox.iterdir()), per_run=4)
    real = steps.persist_version
    kept = {"n": 0}

    class Killed(BaseException):
        """What kill -9 looks like from inside: nothing after it runs."""

    def dies_after_two(*args, **kwargs):
        if kept["n"] == 2:
            raise Killed()
        kept["n"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(steps, "persist_version", dies_after_two)
    with pytest.raises(Killed):
        steps.assure_staged(env, keys[0])
    monkeypatch.setattr(steps, "persist_version", real)
    assert [o.state for o in env.staged_outcomes("alice", ids)] == ["done", "done", "checked", "checked"]
    assert workers.resume_abandoned(env) == 0  # its lease has not run out: it may still be working
    later = env.clock() + dt.timedelta(seconds=steps.lease_seconds(env.policy) + 1)
    monkeypatch.setattr(env, "clock", lambda: later)
    assert workers.resume_abandoned(env) == 1
    assert [o.state for o in env.staged_outcomes("alice", ids)] == ["done"] * 4
    assert _versions(env, BUSY_REFERENCE) == list(enumerate(sorted(names), start=1))


def test_a_dead_runs_uploads_are_taken_up_once_the_lease_the_policy_sets_has_run_out(env, tmp_path, monkeypatch):
    """The lease a run holds its uploads by is the policy's `run_lease_seconds`: a run that died under a 7 s lease
    is taken up 8 s after it died, where the default lease (30 s) would still hold its uploads."""
    from isap.orchestration import dispatch, steps, workers
    from isap.policy import Policy

    inbox = tmp_path / "inbox"
    one_proposal_inbox(inbox, 2)
    keys, ids = dispatch.stage_batch(env, "alice", list(inbox.iterdir()), per_run=2)
    took_up = env.clock()

    class Killed(BaseException):
        """What kill -9 looks like from inside: nothing after it runs."""

    def dies(*args, **kwargs):
        raise Killed()

    real = steps.persist_version
    monkeypatch.setattr(steps, "persist_version", dies)
    with pytest.raises(Killed):
        steps.assure_staged(env, keys[0], policy=Policy(run_lease_seconds=7))
    died = env.clock()  # (its last renewal came before this: each reaches 7 s past the moment it was made)
    monkeypatch.setattr(steps, "persist_version", real)
    monkeypatch.setattr(env, "clock", lambda: took_up + dt.timedelta(seconds=6))
    assert workers.resume_abandoned(env) == 0  # its lease has not run out: it may still be working
    monkeypatch.setattr(env, "clock", lambda: died + dt.timedelta(seconds=8))
    assert workers.resume_abandoned(env) == 1
    assert [o.state for o in env.staged_outcomes("alice", ids)] == ["done", "done"]


def _first_run_lost(env, tmp_path, monkeypatch, count: int = 4, per_run: int = 2):
    """A batch of one proposal's revisions whose first run was taken up by a machine that then died before it
    checked anything; (run keys, staged ids, names, when its lease ran out)."""
    from isap.orchestration import dispatch, steps

    inbox = tmp_path / "inbox"
    names = one_proposal_inbox(inbox, count)
    keys, ids = dispatch.stage_batch(env, "alice", list(inbox.iterdir()), per_run=per_run)
    env.staged_for_run(keys[0], steps.lease_seconds(env.policy))  # taken up, then the machine died
    return keys, ids, names, env.clock() + dt.timedelta(seconds=steps.lease_seconds(env.policy) + 1)


def test_a_later_run_takes_up_an_earlier_run_of_its_batch_that_waits_in_the_queue_behind_it(env, tmp_path,
                                                                                            monkeypatch):
    """Two workers share a batch; one dies while checking the first run.  Whoever waits for the runs gives that
    run a new one, which waits in the queue behind the batch's later runs, and the only worker left takes a later
    run whose files must be kept after the first run's (versions follow file names).  Waiting for them held that
    worker for the batch-order limit, file after file, while the run it waited for stood behind it in the queue:
    a batch of 40 did not finish in 15 minutes.  The later run checks and keeps the earlier files itself."""
    from isap.orchestration import steps, workers

    keys, ids, names, lapsed = _first_run_lost(env, tmp_path, monkeypatch)
    monkeypatch.setattr(env, "clock", lambda: lapsed)
    env.renew_lease(keys[0], workers.CLAIM_SECONDS)  # its new run, claimed while it waits for a worker
    slept: list[float] = []
    steps.assure_staged(env, keys[1], sleep=slept.append)
    assert sum(slept) < steps.lease_seconds(env.policy), f"waited {sum(slept):.0f} s for a run nobody works on"
    assert [o.state for o in env.staged_outcomes("alice", ids)] == ["done"] * 4
    assert _versions(env, BUSY_REFERENCE) == list(enumerate(sorted(names), start=1))
    # the queued run, when its turn comes, finds nothing left to do
    assert steps.assure_staged(env, keys[0]).as_dict() == {"kept": 0, "refused": 0, "failed": 0,
                                                           "already_finished": 0}


def test_a_later_run_waits_while_the_earlier_run_of_its_batch_is_worked_on_and_takes_it_up_once_it_stops(
        env, tmp_path, monkeypatch):
    """While the earlier run's machine renews its lease, the later run waits (its files must be kept after the
    earlier ones, and checking them twice would waste a checking child); once the lease runs out, it takes the
    earlier run up itself."""
    from isap.orchestration import steps

    keys, ids, names, lapsed = _first_run_lost(env, tmp_path, monkeypatch)
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 3:  # the earlier run's machine stops renewing its lease
            monkeypatch.setattr(env, "clock", lambda: lapsed)

    steps.assure_staged(env, keys[1], sleep=sleep)
    assert len(slept) >= 3, "it did not wait while the earlier run was worked on"
    assert [o.state for o in env.staged_outcomes("alice", ids)] == ["done"] * 4
    assert _versions(env, BUSY_REFERENCE) == list(enumerate(sorted(names), start=1))


def test_an_upload_finished_by_another_run_is_not_kept_again(env, tmp_path):
    from isap.orchestration import steps
    from isap.review.staging import AlreadyFinished

    path = write(clean(1, reference="ISAP-2026-011"), tmp_path / "a.xlsx")
    key, staged = stage_one(env, "alice", path)
    report = steps.check_workbook(env, "a.xlsx", path.read_bytes())
    env.upload("alice", "a.xlsx", path.read_bytes(), report=report, staged_id=staged)
    p = clean(1, reference="ISAP-2026-011")
    p["Cover"]["proposal_title"] = "Changed meanwhile"
    other = write(p, tmp_path / "b.xlsx").read_bytes()
    with pytest.raises(AlreadyFinished):  # a second run of the same staged upload, even with other bytes
        env.upload("alice", "b.xlsx", other, report=steps.check_workbook(env, "b.xlsx", other), staged_id=staged)
    assert len(env.show("alice", "ISAP-2026-011")["versions"]) == 1


def test_someone_elses_staged_upload_is_not_found(env, tmp_path):
    from isap.review.service import NotFound

    env.add_user("amir", "commissioner", "QUA")
    _, staged = stage_one(env, "alice", write(clean(1), tmp_path / "a.xlsx"))
    with pytest.raises(NotFound):
        env.staged_outcomes("amir", [staged])


def test_an_upload_that_loses_a_race_with_someone_outside_the_batch_is_retried(env, tmp_path, monkeypatch):
    """Someone else changes the proposal between the upload reading and writing it: the upload runs again."""
    from isap.orchestration import steps
    from isap.review.service import Conflict, Service

    env.upload("alice", "a.xlsx", write(clean(1, reference="ISAP-2026-011"), tmp_path / "a.xlsx").read_bytes())
    real = Service.upload
    raced = {"n": 0}

    def upload(self, *args, **kwargs):
        if raced["n"] < 2:  # a reviewer comments at just the wrong moment, twice
            raced["n"] += 1
            self.comment("rita", "ISAP-2026-011", f"comment {raced['n']}")
            raise Conflict("ISAP-2026-011 was changed by someone else since you loaded it; reload and try again")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Service, "upload", upload)
    p = clean(1, reference="ISAP-2026-011")
    p["Cover"]["proposal_title"] = "Revised"
    data = write(p, tmp_path / "b.xlsx").read_bytes()
    result = steps.persist_version(env, "alice", "b.xlsx", data, steps.check_workbook(env, "b.xlsx", data))
    assert (result.version, raced["n"]) == (2, 2)
    with pytest.raises(steps.TransientError, match="tried 2 times"):
        raced["n"] = 0
        steps.persist_version(env, "alice", "b.xlsx", data, None, attempts=2)


def _versions(service, reference):
    return [(v["number"], v["filename"]) for v in service.show("alice", reference)["versions"]]


def _stored_files(service) -> set[str]:
    with service.engine.connect() as conn:
        return {r[0] for r in conn.execute(text("SELECT sha256 FROM original"))}


def _recorded_shas(service) -> set[str]:
    with service.engine.connect() as conn:
        return ({r[0] for r in conn.execute(text("SELECT sha256 FROM submissionversion"))}
                | {r[0] for r in conn.execute(text("SELECT sha256 FROM unassignedupload"))})


@pytest.mark.parametrize("runner", ["threads:4", pytest.param("dask:2", marks=pytest.mark.e2e)])  # a Dask cluster
def test_a_batch_never_refuses_its_own_files(prefect_harness, env, tmp_path, runner):
    """Fifty revisions of one proposal become fifty versions in file-name order, whatever runs them."""
    import time

    from isap.orchestration.flows import assure_inbox, batch_task_runner

    inbox = tmp_path / "inbox"
    names = one_proposal_inbox(inbox, 50)
    flow = assure_inbox.with_options(task_runner=batch_task_runner(runner))
    started = time.monotonic()
    rows = run_inbox(env, inbox, flow=flow)
    print(f"{runner}: 50 revisions of one proposal in {time.monotonic() - started:.1f} s")
    outcomes = [r["outcome"] for r in rows]
    assert not [o for o in outcomes if o.startswith(("refused", "failed"))], outcomes
    assert _versions(env, BUSY_REFERENCE) == list(enumerate(names, start=1))
    assert [r["version"] for r in sorted(rows, key=lambda r: r["file"])] == list(range(1, 51))
    assert _stored_files(env) == _recorded_shas(env)
    again = run_inbox(env, inbox, flow=flow)
    assert {r["outcome"] for r in again} == {"already assured"}
    assert len(_versions(env, BUSY_REFERENCE)) == 50


def test_a_busy_inbox_refuses_none_of_its_own_files(prefect_harness, env, tmp_path):
    """84 mixed workbooks, most for one proposal: nothing refused, nothing left unrecorded, nothing added twice."""
    from isap.orchestration.flows import assure_inbox, batch_task_runner

    inbox = busy_inbox(tmp_path / "inbox", 84)
    flow = assure_inbox.with_options(task_runner=batch_task_runner("threads:4"))
    rows = {r["file"]: r for r in run_inbox(env, inbox, flow=flow)}
    assert len(rows) == 84
    assert not [(f, r["outcome"]) for f, r in rows.items() if r["outcome"].startswith(("refused", "failed"))]
    dudley = sorted(f for f in rows if f.startswith("dudley-"))
    assert _versions(env, BUSY_REFERENCE) == list(enumerate(dudley, start=1))
    assert rows["zz-copy-of-dudley-001.xlsx"]["outcome"] == "already assured"
    assert rows["broken.xlsx"]["outcome"] == "kept, not assessable"
    assert _stored_files(env) == _recorded_shas(env)
    with env.engine.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM submissionversion")).scalar()
    assert before == len(dudley) + 6 + 2
    again = run_inbox(env, inbox, flow=flow)
    assert {r["outcome"] for r in again} == {"already assured"}
    with env.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM submissionversion")).scalar() == before


def test_the_dashboards_log_reads_the_same_before_and_after_prefect_loads(tmp_path):
    """The dashboard logs before Prefect has loaded (an upload checked in-process while it starts) and after
    (Prefect then configures logging): every line of isap's in the one format, isap's own notes included,
    other libraries' chatter not."""
    import re

    script = (
        "import logging\n"
        "from isap.orchestration.dispatch import log_like_prefect, orchestration_defaults\n"
        "orchestration_defaults()\n"
        "log_like_prefect()\n"
        "log = logging.getLogger('isap.dashboard')\n"
        "log.warning('before, a warning'); log.info('before, a note')\n"
        "logging.getLogger('httpx').info('chatter before')\n"
        "import prefect.main  # configures logging\n"
        "log.warning('after, a warning'); log.info('after, a note')\n"
        "logging.getLogger('httpx').info('chatter after')\n"
    )
    env = {**os.environ, "ISAP_DATA_DIR": str(tmp_path), "NO_COLOR": "1", "PREFECT_HOME": str(tmp_path / "p")}
    env.pop("PREFECT_API_URL", None)
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    shape = re.compile(r"\d\d:\d\d:\d\d\.\d{3} \| (WARNING|INFO   ) \| isap\.dashboard - (.+)")
    said = [shape.fullmatch(line) for line in lines]
    assert all(said), lines
    assert [m.group(2) for m in said] == ["before, a warning", "before, a note", "after, a warning",
                                          "after, a note"], lines


class _Records(__import__("logging").Handler):
    """Every log record of isap and Prefect while installed (Prefect's loggers do not all reach the root)."""

    def __init__(self):
        super().__init__(level=0)
        self.records = []

    def emit(self, record):
        if not any(r is record for r in self.records):  # a record reaching two of the loggers is one record
            self.records.append(record)


def test_a_refusal_is_an_info_line_and_a_defect_keeps_its_traceback(prefect_harness, env, tmp_path, monkeypatch):
    """A guard's refusal (here another organisation's reference) is a routine outcome: one INFO line naming
    the staged upload and the kind of refusal, nothing at ERROR and no traceback.  A defect still logs its
    traceback."""
    import asyncio
    import logging

    from isap.orchestration import steps
    from isap.orchestration.flows import assure_submission, run_assure_submission

    other = clean(1, reference="ISAP-2026-013")
    other["Cover"]["lead_commissioner_code"] = "QHM"
    key, staged = stage_one(env, "alice", write(other, tmp_path / "other-org.xlsx"))
    handler = _Records()
    loggers = [logging.getLogger(), logging.getLogger("prefect"), logging.getLogger("isap")]
    for lg in loggers:
        lg.addHandler(handler)
    previous = logging.getLogger("isap").level
    logging.getLogger("isap").setLevel(logging.INFO)
    try:
        assert run_assure_submission(key)["refused"] == 1
        refused = list(handler.records)
        handler.records.clear()

        def broken(*args, **kwargs):
            raise RuntimeError("a defect while checking")

        monkeypatch.setattr(steps, "check_workbook", broken)
        key2, _ = stage_one(env, "alice", write(clean(1, reference="ISAP-2026-011"), tmp_path / "a.xlsx"))
        state = asyncio.run(assure_submission.with_options(retries=0)(staging=key2, return_state=True))
        assert state.is_failed()
        defect = list(handler.records)
    finally:
        for lg in loggers:
            lg.removeHandler(handler)
        logging.getLogger("isap").setLevel(previous)
    assert not [r.getMessage() for r in refused if r.levelno >= logging.WARNING], \
        [(r.levelname, r.getMessage()[:200]) for r in refused if r.levelno >= logging.WARNING]
    assert not [r for r in refused if r.exc_info]
    [line] = [r for r in refused if r.name.startswith("isap") and "refused" in r.getMessage()]
    assert line.levelno == logging.INFO and staged[:8] in line.getMessage() and "Forbidden" in line.getMessage()
    assert "other-org" not in line.getMessage()
    assert any(r.exc_info and r.levelno >= logging.ERROR and "a defect while checking" in str(r.exc_info[1])
               for r in defect)

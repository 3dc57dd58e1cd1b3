"""The assurance steps as plain functions: check, keep, notify, remind.

Check the workbook, keep the original with its version and findings (or as an unassigned upload,
within the organisation's quota), send the notifications the service queued in the outbox.
`isap.orchestration.flows` wraps exactly these steps as Prefect tasks, and
`isap.orchestration.dispatch` runs them in-process when no flow can run.  Nothing here imports Prefect.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
import time
from dataclasses import dataclass, field

from isap.policy import LONGEST_RUN_LEASE_SECONDS, Policy
from isap.review.service import Conflict, Service, StoreBusy, UploadResult, WorkflowError
from isap.review.staging import AlreadyFinished, StagedState

log = logging.getLogger(__name__)




class TransientError(RuntimeError):
    """A failure worth retrying (database busy, file store unavailable)."""


def batch_runner_setting(spec: str | None = None) -> tuple[str, int | str]:
    """How inbox batches run concurrently, from ISAP_TASK_RUNNER.

    `threads` or `threads:N` (default: as many threads as cores, at most 4,
    in the flow's process; checking is CPU-bound Python, so more threads than
    cores only contend for the interpreter lock);
    `dask` or `dask:N` (a local Dask cluster of N worker processes, default 2);
    `tcp://host:port` (an existing Dask scheduler, for batches across machines).
    Parsed here, without Prefect, so the CLI can refuse a bad value before
    starting anything.
    """
    raw = (os.environ.get("ISAP_TASK_RUNNER", "") if spec is None else spec).strip()
    threads = max(1, min(4, os.cpu_count() or 1))
    if not raw:
        return ("threads", threads)
    if raw.startswith(("tcp://", "tls://")):
        return ("dask-address", raw)
    kind, _, count = raw.partition(":")
    defaults = {"threads": threads, "dask": 2}
    if kind not in defaults:
        raise ValueError(f"ISAP_TASK_RUNNER={raw!r}: use threads[:N], dask[:N] or tcp://host:port")
    if not count:
        return (kind, defaults[kind])
    if not count.isdigit() or not 1 <= int(count) <= 256:
        raise ValueError(f"ISAP_TASK_RUNNER={raw!r}: N must be a whole number from 1 to 256")
    return (kind, int(count))


# ---------------------------------------------------------------------------- steps
def check_workbook(service: Service, filename: str, data: bytes, policy=None, owner: str | tuple[str, str] = ""):
    """The findings for one workbook, against `policy` (default: the service's); `owner`, who uploaded it
    (with their organisation: `StagedItem.checking_owner`), takes turns with other uploaders for the
    checking children."""
    from isap.rules.engine import check_bytes

    return check_bytes(data, filename, policy or service.policy, owner=owner)


CONFLICT_ATTEMPTS = 6


def persist_version(service: Service, actor: str, filename: str, data: bytes, report,
                    attempts: int = CONFLICT_ATTEMPTS, staged_id: str | None = None) -> UploadResult:
    """Keep the version and its findings (finishing its staged upload, if any, in the same transaction).

    An upload is an append: if someone else changed the proposal between this
    upload reading it and writing it (optimistic concurrency), the upload is
    simply run again on the new state, with growing, jittered pauses.  Only
    when it keeps losing does the caller see a TransientError (and retry later);
    a guard that refuses the upload (Refused, Forbidden, NotFound) is final.
    """
    for attempt in range(attempts):
        try:
            return service.upload(actor, filename, data, report=report, staged_id=staged_id)
        except AlreadyFinished:
            raise
        except Conflict as exc:
            if attempt == attempts - 1:
                raise TransientError(f"{exc} (tried {attempts} times)") from None
            time.sleep(min(2.0, 0.05 * 2 ** attempt) * (0.5 + random.random()))
        except StoreBusy as exc:
            raise TransientError(str(exc)) from None
    raise AssertionError("unreachable")


def notify(service: Service) -> dict:
    """Send what the outbox holds (one delivery pass); the messages themselves were queued by the service in
    the transaction of the event, so a failure here delays them and loses none."""
    from isap.orchestration import notifications

    try:
        return notifications.deliver(service)
    except (StoreBusy, ValueError) as exc:
        # the rows stay pending for the next pass (the notification flow, `isap notify send`)
        log.warning("the outbox was not delivered now: %s", exc)
        return {"sent": 0, "retry": 0, "failed": 0}


def ride_out(fn, seconds: float, sleep=time.sleep, clock=None):
    """fn(), retried while the store is busy or out of reach (a database restart), for up to `seconds`.

    Transient failures are told apart by type (StoreBusy, which the store decides by the driver's error
    type and code, and TransientError), never by message; anything else is final at once.
    """
    clock = clock or time.monotonic
    deadline = clock() + seconds
    pause = 0.25
    while True:
        try:
            return fn()
        except (StoreBusy, TransientError) as exc:
            if clock() + pause > deadline:
                raise TransientError(f"{exc} (for {seconds:.0f} s)") from None
            log.info("the store is busy or out of reach (%s); trying again in %.1f s", exc, pause)
            sleep(pause)
            pause = min(4.0, pause * 2)


def lease_seconds(policy=None) -> float:
    """How long a run's staged uploads stay its own without a renewal (the policy's `run_lease_seconds`): a run
    whose process died (kill -9, a lost machine) is taken up again by someone else this long after its last sign
    of life."""
    return (policy or Policy()).run_lease_seconds


class LeaseKeeper:
    """Renews a run's lease in the background while it works, so a run that is alive (however long one file
    takes) keeps its uploads, and a run that died loses them within one lease."""

    def __init__(self, service: Service, run_key: str, seconds: float):
        import threading

        self.service, self.run_key, self.seconds = service, run_key, seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="isap-lease", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.seconds / 3):
            try:
                self.service.renew_lease(self.run_key, self.seconds)
            except Exception as exc:  # noqa: BLE001 - a missed renewal is retried on the next beat
                log.info("the lease of a run was not renewed now: %s", exc)

    def __enter__(self) -> "LeaseKeeper":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


# the fields of a check report that `CheckReport.to_dict` leaves out and keeping a version needs
_COVER = ("proposal_reference", "lead_commissioner_code", "title", "provider_type", "contact_email",
          "catalogue_version", "provider_name", "integration_model", "annual_contract_value_gbp",
          "wpap_annual_value_gbp", "population_registered", "evidence_references")


def report_state(report) -> dict:
    """A check report as kept between checking and keeping a staged upload (possibly on another machine)."""
    return {**report.to_dict(), **{k: getattr(report, k) for k in _COVER}}


def report_from_state(state: dict):
    from isap.rules.engine import CheckReport

    report = CheckReport.from_dict(state)
    for k in _COVER:
        if k in state:
            setattr(report, k, state[k])
    return report


@dataclass
class RunOutcome:
    """What one run did with its staged uploads: counts only (no names, no content), safe to show in Prefect."""

    kept: int = 0
    refused: int = 0
    failed: int = 0
    already_finished: int = 0
    failed_ids: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"kept": self.kept, "refused": self.refused, "failed": self.failed,
                "already_finished": self.already_finished}


MAX_ATTEMPTS = 5  # runs that may take up one staged upload before it is failed


def assure_staged(service: Service, run_key: str, policy=None, sleep=time.sleep) -> RunOutcome:
    """Check and keep the uploads staged under `run_key`, from wherever an earlier attempt stopped.

    First every file of the run is checked (checking writes nothing but its
    findings on the staged row, so it never waits for anyone); then each is kept
    in order.  A file of an inbox batch waits while an earlier file of the same
    batch may still become a version of the same proposal, so versions follow
    file names.  Keeping a file and finishing its staged row are one transaction:
    a run resumed after a crash never keeps a file twice.  A guard's refusal is
    the file's outcome; a store out of reach is retried for the policy's
    `transient_retry_seconds`, after which the file is left for the next attempt.
    """
    policy = policy or service.policy
    patience = policy.transient_retry_seconds
    lease = lease_seconds(policy)
    outcome = RunOutcome()
    items = ride_out(lambda: service.staged_for_run(run_key, lease), patience, sleep)
    for item in [i for i in items if i.attempts > MAX_ATTEMPTS]:
        # a file that ends every run that takes it up (its process killed each time) stops here, said plainly
        _fail(service, item, f"failed: not finished after {MAX_ATTEMPTS} attempts (each ended before it was "
                             "kept)", outcome, patience, sleep)
    items = [i for i in items if i.attempts <= MAX_ATTEMPTS]
    if not items:
        return outcome
    with LeaseKeeper(service, run_key, lease):
        _assure_items(service, run_key, items, policy, outcome, sleep)
    return outcome


def _assure_items(service: Service, run_key: str, items, policy, outcome: RunOutcome, sleep) -> None:
    from isap.rules.engine import CheckingBusy

    patience = policy.transient_retry_seconds
    checked = []
    for item in items:
        if item.state == StagedState.CHECKED and item.report is not None:
            checked.append((item, report_from_state(item.report)))
            continue
        if item.data is None:  # nothing to check: finished meanwhile by another attempt
            continue
        if item.batch_key is not None and ride_out(lambda: service.already_assured(item.sha256, item.actor),
                                                   patience, sleep):
            if ride_out(lambda: service.finish_staged(item.id, StagedState.DONE, "already assured"), patience,
                        sleep):
                outcome.kept += 1
            continue
        try:
            report = check_workbook(service, item.filename, item.data, policy, owner=item.checking_owner)
        except CheckingBusy as exc:  # not checked at all: its sender is told why, in plain words
            _fail(service, item, f"failed: {exc}", outcome, patience, sleep)
            continue
        except Exception as exc:  # noqa: BLE001 - a defect checking one file never stops the others
            log.exception("staged upload %s… could not be checked", item.id[:8])
            _fail(service, item, f"failed: {type(exc).__name__}: {exc}", outcome, patience, sleep)
            continue
        state = report_state(report)
        ride_out(lambda: service.record_check(item.id, state, report.proposal_reference), patience, sleep)
        checked.append((item, report))
    for item, report in checked:
        if item.data is None:
            continue
        _wait_for_earlier(service, item, report.proposal_reference, policy, sleep)
        try:
            ride_out(lambda: persist_version(service, item.actor, item.filename, item.data, report,
                                             staged_id=item.id), patience, sleep)
            outcome.kept += 1
        except AlreadyFinished:
            outcome.already_finished += 1
        except WorkflowError as exc:
            # a guard's refusal (another organisation's reference, a closed proposal) is the file's
            # outcome, not a fault of the run: one INFO line, no traceback, and the run ends Completed
            said, kind = f"refused: {exc}", type(exc).__name__
            log.info("staged upload %s… refused (%s)", item.id[:8], kind)
            if ride_out(lambda: service.finish_staged(item.id, StagedState.DONE, said, refusal=kind), patience,
                        sleep):
                outcome.refused += 1
        except TransientError as exc:
            # left unfinished: the run's retry, or the resume pass, takes it up again from here
            log.warning("staged upload %s… not kept now: %s", item.id[:8], exc)
            outcome.failed += 1
            outcome.failed_ids.append(item.id)
        except Exception as exc:  # noqa: BLE001 - one bad file never stops the others; its row says why
            log.exception("staged upload %s… failed", item.id[:8])
            _fail(service, item, f"failed: {type(exc).__name__}: {exc}", outcome, patience, sleep)


def _fail(service: Service, item, said: str, outcome: RunOutcome, patience: float, sleep) -> None:
    """Finish a staged upload as failed for good, with the reason its sender is shown."""
    ride_out(lambda: service.finish_staged(item.id, StagedState.FAILED, said), patience, sleep)
    outcome.failed += 1
    outcome.failed_ids.append(item.id)


def _wait_for_earlier(service: Service, item, reference: str | None, policy, sleep) -> None:
    if item.batch_key is None:
        return
    waited = 0.0
    while ride_out(lambda: service.waits_for_earlier(item, reference), policy.transient_retry_seconds, sleep):
        # An earlier run nobody works on (its machine died, and its new run waits in the queue, perhaps behind
        # this one on the only worker left) is taken up here: waiting for it could wait for this run itself.
        # (a run at work, on any machine, renews a lease no longer than the longest a policy may set)
        orphans = ride_out(lambda: service.earlier_runs_nobody_works_on(item, LONGEST_RUN_LEASE_SECONDS),
                           policy.transient_retry_seconds, sleep)
        if orphans:
            log.info("staged upload %s… takes up an earlier run of its batch that nobody is working on",
                     item.id[:8])
            assure_staged(service, orphans[0], policy, sleep)
            continue
        if waited >= policy.batch_order_wait_seconds:
            log.warning("staged upload %s… kept without waiting longer for an earlier file of its proposal",
                        item.id[:8])
            return
        sleep(0.2)
        waited += 0.2


def assure_in_process(service: Service, actor: str, filename: str, data: bytes) -> UploadResult:
    """Stage one upload and assure it in this process (no orchestration reachable); its result."""
    keys, ids = service.stage_uploads(actor, [(filename, data)])
    assure_staged(service, keys[0])
    notify(service)
    return staged_result(service, actor, ids[0])


def staged_result(service: Service, actor: str, staged_id: str) -> UploadResult:
    """The result of a finished staged upload; a guard's refusal is raised as it was (Forbidden, Refused, …)."""
    [done] = service.staged_outcomes(actor, [staged_id])
    done.raise_refusal()
    if done.result is None:
        raise WorkflowError(done.outcome or "the upload was not finished: try again")
    return done.result


# ---------------------------------------------------------------------------- reminders
def reminders(service: Service, today: dt.date | None = None) -> list[dict]:
    """The daily step: verify the audit chain (an alert to administrators when it is broken), then queue the
    day's reminders in the outbox (reviews past the policy target, conditions due within five working days or
    past their date).  Each message is queued once however often this runs; returns those queued now."""
    today = today or dt.date.today()
    queued = []
    alert = verify_audit_chain(service, today)
    if alert is not None:
        queued.append(alert)
    return queued + service.remind(today)


def verify_audit_chain(service: Service, today: dt.date) -> dict | None:
    """Walk the audit chain (the result is recorded in the history); queue an alert to administrators when it
    is broken, once a day.  A chain that holds is anchored: its head signed with the audit key, kept in the
    anchors file and mailed to `ISAP_AUDIT_ANCHOR_TO` (a broken chain is never signed)."""
    result = service.verify_audit()
    if result.ok:
        try:
            service.anchor_audit(f"daily {today.isoformat()}", mail=True)
        except WorkflowError as exc:  # the audit key or the anchors file cannot be used
            return service.alert_administrators(
                f"audit-anchor-failed-{today.isoformat()}", "ISAP: the daily audit anchor was not taken",
                f"The audit history verified, but its head could not be signed and kept:\n\n  {exc}\n\n"
                "Until this is put right, a rewrite of the history with every hash recomputed is detected only "
                "against anchors and reports made before today.")
        return None
    return service.alert_administrators(
        f"audit-chain-broken-{today.isoformat()}",
        "ISAP: the audit history was changed",
        "The daily verification of the audit history's hash chain failed:\n\n"
        f"  {result.summary()}\n\n"
        "Someone changed, removed or inserted audit events outside isap. Compare the chain heads printed on "
        "recent checkpoint assurance reports, and run `isap audit verify`.")

"""The assurance steps as plain functions: check, keep, notify, remind.

Check the workbook, keep the original with its version and findings (or as an unassigned upload,
within the organisation's quota), send the notifications the service queued in the outbox.
`isap.orchestration.flows` wraps exactly these steps as Prefect tasks, and
`isap.orchestration.dispatch` runs them in-process when no flow can run.  Nothing here imports Prefect.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Iterator

from isap.composition import data_dir
from isap.review.service import Conflict, Service, StoreBusy, UploadResult

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
def store_original(service: Service, data: bytes) -> str:
    """Name the original (its SHA-256); `Service.upload` keeps it once the upload is admitted.

    Keeping it here, before the check, would store a file that the
    organisation's quota then refuses; the staged copy the flow reads stays
    until the upload is kept, so nothing is lost in between.
    """
    return hashlib.sha256(data).hexdigest()


def check_workbook(service: Service, filename: str, data: bytes, policy=None):
    """The findings for one workbook, against `policy` (default: the service's)."""
    from isap.rules.engine import check_bytes

    return check_bytes(data, filename, policy or service.policy)


CONFLICT_ATTEMPTS = 6


def persist_version(service: Service, actor: str, filename: str, data: bytes, report,
                    attempts: int = CONFLICT_ATTEMPTS) -> UploadResult:
    """Keep the version and its findings.

    An upload is an append: if someone else changed the proposal between this
    upload reading it and writing it (optimistic concurrency), the upload is
    simply run again on the new state, with growing, jittered pauses.  Only
    when it keeps losing does the caller see a TransientError (and retry later);
    a guard that refuses the upload (Refused, Forbidden, NotFound) is final.
    """
    for attempt in range(attempts):
        try:
            return service.upload(actor, filename, data, report=report)
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


def assure_in_process(service: Service, actor: str, filename: str, data: bytes) -> UploadResult:
    report = check_workbook(service, filename, data)
    result = persist_version(service, actor, filename, data, report)
    notify(service)
    return result


@contextlib.contextmanager
def stage(data: bytes) -> Iterator[Path]:
    """An upload where a flow's tasks can read it (the shared data directory), for as long as the flow runs.

    A spool, not a store: the file store keeps the bytes once the upload is
    admitted, and the staged copy is removed when the flow has finished, kept
    or refused, so no upload stays on disk twice.  Each upload gets its own
    name, so two people uploading the same bytes at once never remove each
    other's copy.
    """
    sha = hashlib.sha256(data).hexdigest()
    folder = data_dir() / "incoming"
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=folder, prefix=f"{sha[:16]}-", suffix=".xlsx")
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        yield path
    finally:
        path.unlink(missing_ok=True)


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
    is broken, once a day."""
    result = service.verify_audit()
    if result.ok:
        return None
    return service.alert_administrators(
        f"audit-chain-broken-{today.isoformat()}",
        "ISAP: the audit history was changed",
        "The daily verification of the audit history's hash chain failed:\n\n"
        f"  {result.summary()}\n\n"
        "Someone changed, removed or inserted audit events outside isap. Compare the chain heads printed on "
        "recent checkpoint assurance reports, and run `isap audit verify`.")

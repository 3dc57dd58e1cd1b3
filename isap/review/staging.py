"""Uploads handed over for assurance: staged by an entry point that knows who sent them, finished by a flow run.

An entry point that has authenticated someone (a dashboard session, the CLI on
the operator's own machine) stages the upload here, in the store every machine
shares: the bytes and who sent them.  The flow run that assures it is given
only the run key, an unguessable token, and reads the rest from here, so a run
created by hand with forged parameters can neither choose whom it acts as nor
make a worker read a file (docs/deployment.md).  Each staged upload records how
far it got (staged, checked, done or failed), so a run that dies is resumed
from where it stopped and no upload is kept twice: the upload and its staged
row are finished in one transaction.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Iterable

from sqlalchemy import func, or_, update
from sqlmodel import Session, select

from isap.review.errors import NotFound, WorkflowError
from isap.review.lifecycle import Action, Role
from isap.review.records import stored_name
from isap.review.types import UploadResult
from isap.review.unit_of_work import UnitOfWork
from isap.review.wording import count
from isap.store.models import Organisation, Proposal, StagedUpload, SubmissionVersion, UnassignedUpload, User


class StagedState:
    STAGED = "staged"  # handed over, not yet checked
    CHECKED = "checked"  # checked; the findings wait to be kept
    DONE = "done"  # kept (or found already kept, or refused by a guard): the outcome says which
    FAILED = "failed"  # could not be finished; the outcome says why

    FINAL = (DONE, FAILED)


def new_key() -> str:
    """An unguessable token (256 bits), safe to show in Prefect as a run's only parameter."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class StagedItem:
    """A staged upload as the flow run that assures it sees it."""

    id: str
    run_key: str
    batch_key: str | None
    seq: int
    actor: str
    filename: str
    sha256: str
    data: bytes | None
    state: str
    reference: str | None
    report: dict | None
    attempts: int
    organisation: str | None = None  # the code of the sender's organisation, where the account has one

    @property
    def checking_owner(self) -> str | tuple[str, str]:
        """Who takes turns for the checking children with this file: the sender, within their organisation."""
        return (self.organisation, self.actor) if self.organisation else self.actor


@dataclass(frozen=True)
class StagedOutcome:
    """How far a staged upload got, for the person who sent it."""

    id: str
    filename: str
    state: str
    outcome: str | None
    result: UploadResult | None
    refusal: str | None = None  # the kind of WorkflowError a guard refused it with

    @property
    def finished(self) -> bool:
        return self.state in StagedState.FINAL

    def raise_refusal(self) -> None:
        """Raise the guard's refusal as the WorkflowError it was (Forbidden, Refused, NotFound), if it was refused."""
        if self.refusal is None:
            return
        from isap.review import errors

        kind = getattr(errors, self.refusal, None)
        if not (isinstance(kind, type) and issubclass(kind, WorkflowError)):
            kind = WorkflowError
        raise kind((self.outcome or "").removeprefix("refused: "))


def result_json(result: UploadResult) -> str:
    return json.dumps(dataclasses.asdict(result))


def result_from_json(text: str | None) -> UploadResult | None:
    if not text:
        return None
    d = json.loads(text)
    if d.get("retitled") is not None:
        d["retitled"] = tuple(d["retitled"])
    return UploadResult(**d)


class Staging(UnitOfWork):
    # ------------------------------------------------------------------ entry points
    def stage_uploads(self, actor: str, files: Iterable[tuple[str, bytes]], per_run: int = 1,
                      batch_key: str | None = None, first_seq: int = 0) -> tuple[list[str], list[str]]:
        """Stage uploads sent by `actor` (already authenticated by the caller); (run keys, staged ids).

        `per_run` uploads share a run key (one flow run each).  Uploads staged with
        one `batch_key` are one inbox batch, numbered from `first_seq` in the
        order given (file-name order): its versions of one proposal are kept in
        that order.
        """
        files = list(files)
        now = self.clock()

        def run(s: Session) -> tuple[list[str], list[str]]:
            user = self._user(s, actor)
            self._may_ever(Action.UPLOAD, user)
            if user.organisation_id is not None:  # refused now, not after the bytes have been carried to a worker
                self._within_storage_quotas(s, s.get(Organisation, user.organisation_id),
                                            sum(len(d) for _, d in files), files=len(files))
            keys: list[str] = []
            ids: list[str] = []
            for n, (filename, data) in enumerate(files):
                seq = first_seq + n
                if n % max(1, per_run) == 0:
                    keys.append(new_key())
                row = StagedUpload(id=new_key(), run_key=keys[-1], batch_key=batch_key, seq=seq, user_id=user.id,
                                   filename=stored_name(filename), sha256=hashlib.sha256(data).hexdigest(),
                                   size=len(data), data=data, created_at=now)
                s.add(row)
                ids.append(row.id)
            return keys, ids
        return self._run(run)

    def staged_outcomes(self, actor: str, ids: list[str]) -> list[StagedOutcome]:
        """The outcome of uploads `actor` staged, in the order asked; another person's staged uploads are not found."""
        def run(s: Session) -> list[StagedOutcome]:
            user = self._user(s, actor)
            rows = {r.id: r for r in s.exec(select(StagedUpload).where(StagedUpload.id.in_(ids),
                                                                        StagedUpload.user_id == user.id))}
            missing = [i for i in ids if i not in rows]
            if missing:
                raise NotFound("no such staged upload of yours")
            return [StagedOutcome(r.id, r.filename, r.state, r.outcome, result_from_json(r.result_json), r.refusal)
                    for r in (rows[i] for i in ids)]
        return self._run(run)

    # ------------------------------------------------------------------ the flow run's side
    def staged_for_run(self, run_key: str, lease_seconds: float) -> list[StagedItem]:
        """The unfinished uploads of one run, in order, leased to the caller for `lease_seconds`.

        An unknown key is simply nothing to do: a run created by hand learns nothing."""
        now = self.clock()

        def run(s: Session) -> list[StagedItem]:
            rows = list(s.exec(select(StagedUpload, User.username, Organisation.code)
                               .join(User, User.id == StagedUpload.user_id)
                               .outerjoin(Organisation, Organisation.id == User.organisation_id)
                               .where(StagedUpload.run_key == run_key,
                                      StagedUpload.state.not_in(StagedState.FINAL))
                               .order_by(StagedUpload.seq)))
            if rows:
                s.execute(update(StagedUpload).where(StagedUpload.run_key == run_key,
                                                     StagedUpload.state.not_in(StagedState.FINAL))
                          .values(lease_until=now + dt.timedelta(seconds=lease_seconds),
                                  attempts=StagedUpload.attempts + 1))
            return [StagedItem(r.id, r.run_key, r.batch_key, r.seq, username, r.filename, r.sha256,
                               bytes(r.data) if r.data is not None else None, r.state, r.reference,
                               json.loads(r.report_json) if r.report_json else None, r.attempts + 1, code)
                    for r, username, code in rows]
        return self._run(run)

    def record_check(self, staged_id: str, report: dict, reference: str | None) -> None:
        def run(s: Session) -> None:
            s.execute(update(StagedUpload).where(StagedUpload.id == staged_id,
                                                 StagedUpload.state == StagedState.STAGED)
                      .values(state=StagedState.CHECKED, report_json=json.dumps(report),
                              reference=(reference or None) and reference[:20]))
        self._run(run)

    def finish_staged(self, staged_id: str, state: str, outcome: str, result: UploadResult | None = None,
                      refusal: str | None = None) -> bool:
        """Record a staged upload's end (when it was not kept through `upload`); False if it had already ended."""
        def run(s: Session) -> bool:
            return finish_in(s, staged_id, state, outcome, result, self.clock(), refusal)
        return self._run(run)

    def renew_lease(self, run_key: str, seconds: float) -> None:
        """Keep a run's unfinished uploads leased (its process is alive and working) for `seconds` more."""
        until = self.clock() + dt.timedelta(seconds=seconds)

        def run(s: Session) -> None:
            s.execute(update(StagedUpload).where(StagedUpload.run_key == run_key,
                                                 StagedUpload.state.not_in(StagedState.FINAL))
                      .values(lease_until=until))
        self._run(run)

    def already_assured(self, sha256: str, actor: str) -> bool:
        """Whether `actor`'s organisation already keeps these exact bytes: a version of one of its proposals,
        or an upload kept unassigned for one of its people.

        Only what `actor` may see counts, so "already assured" never tells a commissioner that another
        organisation has the file; a reviewer or administrator sees every proposal.
        """
        def run(s: Session) -> bool:
            user = self._user(s, actor)
            version = select(SubmissionVersion.id).where(SubmissionVersion.sha256 == sha256)
            if user.role == Role.COMMISSIONER:
                version = (version.join(Proposal, Proposal.id == SubmissionVersion.proposal_id)
                           .where(Proposal.organisation_id == user.organisation_id))
            mine = User.organisation_id == user.organisation_id if user.organisation_id is not None \
                else User.organisation_id.is_(None)
            unassigned = s.exec(select(UnassignedUpload.id).join(User, User.id == UnassignedUpload.uploaded_by)
                                .where(UnassignedUpload.sha256 == sha256, mine)).first()
            return bool(s.exec(version).first() or unassigned)
        return self._run(run)

    def waits_for_earlier(self, item: StagedItem, reference: str | None) -> bool:
        """Whether an earlier file of the same batch may still become a version of the same proposal.

        Versions of one proposal are kept in the batch's file-name order: a file
        waits while an earlier one is unchecked, or checked for the same proposal
        and not yet kept.  The earliest unfinished file never waits, so a batch
        always moves on.
        """
        if item.batch_key is None:
            return False

        def run(s: Session) -> bool:
            same = StagedUpload.reference == reference if reference else StagedUpload.sha256 == item.sha256
            q = select(func.count(StagedUpload.id)).where(
                StagedUpload.batch_key == item.batch_key, StagedUpload.seq < item.seq,
                or_(StagedUpload.state == StagedState.STAGED, (StagedUpload.state == StagedState.CHECKED) & same))
            return bool(s.exec(q).one())
        return self._run(run)

    def earlier_runs_nobody_works_on(self, item: StagedItem, working_lease_seconds: float) -> list[str]:
        """The other runs of `item`'s batch holding an unchecked file before it that no process is working on
        now, earliest first: never taken up, its lease run out, or only claimed for a run that waits in the queue.

        A process at work renews its run's lease to at most `working_lease_seconds` ahead; a claim for a
        queued run reaches further (minutes).  Twice the working lease allows for the clocks of two machines."""
        if item.batch_key is None:
            return []
        now = self.clock()
        working = now + dt.timedelta(seconds=2 * working_lease_seconds)

        def run(s: Session) -> list[str]:
            q = (select(StagedUpload.run_key)
                 .where(StagedUpload.batch_key == item.batch_key, StagedUpload.seq < item.seq,
                        StagedUpload.run_key != item.run_key, StagedUpload.state == StagedState.STAGED,
                        or_(StagedUpload.lease_until.is_(None), StagedUpload.lease_until < now,
                            StagedUpload.lease_until > working))
                 .group_by(StagedUpload.run_key).order_by(func.min(StagedUpload.seq)))
            return list(s.exec(q))
        return self._run(run)

    def abandoned_runs(self, now: dt.datetime | None = None, grace_seconds: float = 60.0) -> list[str]:
        """Run keys with unfinished uploads nobody is working on: their lease has run out (the run's process
        died), or they were never leased within `grace_seconds` (the run was never started)."""
        now = now or self.clock()

        def run(s: Session) -> list[str]:
            q = select(StagedUpload.run_key).where(
                StagedUpload.state.not_in(StagedState.FINAL),
                or_(StagedUpload.lease_until < now,
                    StagedUpload.lease_until.is_(None)
                    & (StagedUpload.created_at < now - dt.timedelta(seconds=grace_seconds)))
            ).distinct()
            return sorted(s.exec(q))
        return self._run(run)

    def lapsed_leases(self, run_keys: list[str]) -> list[str]:
        """Those of `run_keys` whose run took up its uploads and then stopped renewing its lease (it died)."""
        now = self.clock()

        def run(s: Session) -> list[str]:
            q = select(StagedUpload.run_key).where(StagedUpload.run_key.in_(run_keys),
                                                   StagedUpload.state.not_in(StagedState.FINAL),
                                                   StagedUpload.lease_until < now).distinct()
            return sorted(s.exec(q))
        return self._run(run)

    def failed_in_run(self, run_key: str) -> list[str]:
        """The staged ids of a run's uploads that failed for good (a run that had any never ends Completed)."""
        def run(s: Session) -> list[str]:
            return list(s.exec(select(StagedUpload.id).where(StagedUpload.run_key == run_key,
                                                             StagedUpload.state == StagedState.FAILED)
                               .order_by(StagedUpload.seq)))
        return self._run(run)

    def run_progress(self, run_keys: list[str]) -> dict[str, int]:
        """How many uploads of these runs are unfinished, by run key (finished runs are absent)."""
        def run(s: Session) -> dict[str, int]:
            q = (select(StagedUpload.run_key, func.count(StagedUpload.id))
                 .where(StagedUpload.run_key.in_(run_keys), StagedUpload.state.not_in(StagedState.FINAL))
                 .group_by(StagedUpload.run_key))
            return dict(s.exec(q).all())
        return self._run(run)

    def forget_finished_staging(self, older_than: dt.timedelta) -> int:
        """Remove the records of staged uploads finished longer ago than `older_than`; how many."""
        cutoff = self.clock() - older_than

        def run(s: Session) -> int:
            from sqlalchemy import delete

            return s.execute(delete(StagedUpload).where(StagedUpload.state.in_(StagedState.FINAL),
                                                        StagedUpload.finished_at < cutoff)).rowcount
        return self._run(run)


class AlreadyFinished(WorkflowError):
    """The staged upload was finished by another run meanwhile: this run's work is rolled back, not kept twice."""


def finish_in(s: Session, staged_id: str, state: str, outcome: str, result: UploadResult | None,
              now: dt.datetime, refusal: str | None = None) -> bool:
    """Record a staged upload's end in the caller's transaction; False if it had already ended."""
    res = s.execute(update(StagedUpload).where(StagedUpload.id == staged_id,
                                               StagedUpload.state.not_in(StagedState.FINAL))
                    .values(state=state, outcome=outcome, data=None, lease_until=None, refusal=refusal,
                            result_json=result_json(result) if result is not None else None, finished_at=now))
    return res.rowcount == 1


def describe(result: UploadResult) -> str:
    """The outcome of a kept upload in the words `isap ingest` prints."""
    if result.duplicate:
        return "already assured"
    if result.reference is None:
        return "kept, not assessable"
    if result.errors:
        return "has errors"
    # a file with warnings is not clean: they need an explanatory note before it can be submitted
    return count(result.warnings, "warning") if result.warnings else "clean"


__all__ = ["AlreadyFinished", "Staging", "StagedItem", "StagedOutcome", "StagedState", "describe", "finish_in",
           "new_key", "result_from_json", "result_json"]

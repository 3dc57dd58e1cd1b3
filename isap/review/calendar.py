"""The checkpoint calendar: planned submission dates, lateness and slippage, and each proposal's timeline.

ISAP runs over years (one procurement took about three), so reviewers and
commissioners agree when each checkpoint's submission is due and follow how
far it slips (docs/workflow.md, "Calendar").  A commissioner proposes a date
per checkpoint, a reviewer agrees it; lateness and slippage count against the
agreed date once there is one, so a date moved without agreement moves
nothing (docs/decisions/0042-checkpoint-calendar.md).  Every change is an event
of the audit history with its reason.

Slippage is counted in working days, with England's bank holidays, by the one
vectorised counter (`isap.policy.working_days`), so the national view counts
10,000 proposals in one call.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, select

from isap.review import lifecycle, wording
from isap.review.errors import NotFound, WorkflowError
from isap.review.events import AuditKind
from isap.review.lifecycle import LAST_CHECKPOINT, Action, ConditionStatus, PlanFacts, QueryStatus, Role, State
from isap.review.limits import TextKind, checked_text
from isap.review.regions import Region
from isap.review.unit_of_work import UnitOfWork
from isap.store.models import (
    AuditEvent,
    Condition,
    Decision,
    Organisation,
    PlannedSubmission,
    Proposal,
    Query,
    Rating,
    User,
)

ENGLAND = ZoneInfo("Europe/London")


def _username(s: Session, user_id: int | None) -> str | None:
    user = s.get(User, user_id) if user_id is not None else None
    return user.username if user is not None else None


def local_day(at: dt.datetime) -> dt.date:
    """The day in England of a stored time (SQLite gives naive UTC back, PostgreSQL aware times)."""
    at = at if at.tzinfo is not None else at.replace(tzinfo=dt.timezone.utc)
    return at.astimezone(ENGLAND).date()


@dataclass(frozen=True)
class PlanStatus:
    """Where one checkpoint's planned submission stands on a given day."""

    checkpoint: int
    planned: dt.date  # the date last proposed
    agreed: dt.date | None  # the date a reviewer agreed, if any
    submitted: dt.date | None  # the first submission for this checkpoint, if made
    slippage: int  # working days after the counted date, up to the submission (or today, while late)
    late: bool  # the counted date has passed without a submission

    @property
    def counted(self) -> dt.date:
        """The date lateness and slippage count against: the agreed one once there is one."""
        return self.agreed or self.planned

    @property
    def awaiting_agreement(self) -> bool:
        return self.agreed != self.planned


def slippage(counted, reached, calendar: str):
    """Working days after each counted date up to and including the day it was reached (submitted, or today):
    planned for a Monday and submitted on the Tuesday is one.  Vectorised; 0 where it was reached in time."""
    import numpy as np

    from isap.policy import working_days

    a = np.asarray(counted, dtype="datetime64[D]") + 1
    b = np.asarray(reached, dtype="datetime64[D]") + 1
    return working_days.count(a, b, calendar)


def plan_statuses(plans: list[tuple[int, dt.date, dt.date | None]], submitted: dict[int, dt.date],
                  today: dt.date, calendar: str, closed: bool = False) -> list[PlanStatus]:
    """The status of each (checkpoint, planned, agreed) plan of one proposal, given its first submission per
    checkpoint; a closed proposal (assured, halted, withdrawn) is late no more."""
    if not plans:
        return []
    reached = [submitted.get(cp) or today for cp, _, _ in plans]
    slips = slippage([agreed or planned for _, planned, agreed in plans], reached, calendar).tolist()
    return [PlanStatus(cp, planned, agreed, submitted.get(cp), slip,
                       not closed and submitted.get(cp) is None and (agreed or planned) < today)
            for (cp, planned, agreed), slip in zip(plans, slips)]


PLAN_YEARS_AHEAD = 10  # an ICP contract runs up to ten years; a plan further ahead is a mistyped year


class Calendar(UnitOfWork):
    # ------------------------------------------------------------------ planning
    def plan_submission(self, actor: str, reference: str, checkpoint: int, planned: dt.date,
                        reason: str | None = None) -> dict:
        """Propose the date a checkpoint's submission is planned for; a change of an agreed date needs a reason.

        The date proposed waits for a reviewer's agreement (`agree_plan`); until then the agreed date, if there is
        one, is still the one lateness counts against."""
        if not isinstance(planned, dt.date) or isinstance(planned, dt.datetime):
            raise WorkflowError("a planned date must be a date YYYY-MM-DD")
        if not isinstance(checkpoint, int) or not 1 <= checkpoint <= LAST_CHECKPOINT:
            raise WorkflowError(f"the checkpoint must be 1 to {LAST_CHECKPOINT}, not {checkpoint!r}")
        reason = checked_text(TextKind.REASON, reason)
        self._check_planned_day(planned)

        def run(s: Session) -> dict:
            user = self._user(s, actor)
            p = self._proposal(s, user, reference)
            self._guard(s, Action.PLAN_SUBMISSION, user, p)
            row = self._plan(s, p, checkpoint)
            now = self.clock()
            if row is None:
                row = PlannedSubmission(proposal_id=p.id, checkpoint=checkpoint, planned_date=planned,
                                        proposed_by=user.id, proposed_at=now)
                s.add(row)
                words = f"checkpoint {checkpoint} planned for {wording.day(planned)}"
            else:
                if row.planned_date == planned:
                    return self._plan_row(row)
                if row.agreed_date is not None and planned != row.agreed_date and not reason:
                    raise WorkflowError(f"checkpoint {checkpoint}'s date {wording.day(row.agreed_date)} was agreed: "
                                        "a change of an agreed date needs a reason")
                words = (f"checkpoint {checkpoint} planned for {wording.day(planned)} "
                         f"(was {wording.day(row.planned_date)}"
                         + (f"; agreed {wording.day(row.agreed_date)}" if row.agreed_date else "") + ")")
                self._compare_and_set_plan(s, row, planned_date=planned, proposed_by=user.id, proposed_at=now)
            s.flush()
            self._audit(s, p, AuditKind.SUBMISSION_PLANNED, user.username, reason=words + (f": {reason}" if reason
                                                                                           else ""),
                        checkpoint=checkpoint)
            return self._plan_row(row)
        return self._run(run)

    def _check_planned_day(self, planned: dt.date) -> None:
        """A submission is planned for a working day, within ten years (docs/decisions/0050-planned-dates.md).

        A date already passed is kept: a proposal that joins isap late records the plan it has missed."""
        from isap.policy import working_days

        calendar = self.policy.working_days_calendar
        today = local_day(self.clock())
        if (planned.year, planned.month, planned.day) > (today.year + PLAN_YEARS_AHEAD, today.month, today.day):
            raise WorkflowError(f"{wording.day(planned)} is more than ten years ahead: check the year")
        if not working_days.is_working_day(planned, calendar):
            following = working_days.add_working_days(planned, 0, calendar)
            raise WorkflowError(f"{planned:%A} {wording.day(planned)} is not a working day: plan the submission "
                                f"for a working day, such as {following:%A} {wording.day(following)}")

    def agree_plan(self, actor: str, reference: str, checkpoint: int) -> dict:
        """A reviewer agrees the date proposed for a checkpoint's submission: it becomes the one counted."""
        def run(s: Session) -> dict:
            user = self._user(s, actor)
            p = self._proposal(s, user, reference)
            row = self._plan(s, p, checkpoint)
            self._guard(s, Action.AGREE_PLAN, user, p,
                        PlanFacts(checkpoint, waiting=row is not None and row.agreed_date != row.planned_date,
                                  proposed_by=_username(s, row.proposed_by) if row is not None else None))
            before = row.agreed_date
            self._compare_and_set_plan(s, row, agreed_date=row.planned_date, agreed_by=user.id, agreed_at=self.clock())
            self._audit(s, p, AuditKind.PLAN_AGREED, user.username, checkpoint=checkpoint,
                        reason=f"checkpoint {checkpoint} agreed for {wording.day(row.planned_date)}"
                        + (f" (was {wording.day(before)})" if before else ""))
            return self._plan_row(row)
        return self._run(run)

    @staticmethod
    def _plan_row(row: PlannedSubmission) -> dict:
        return {"checkpoint": row.checkpoint, "planned": row.planned_date.isoformat(),
                "agreed": row.agreed_date.isoformat() if row.agreed_date else None}

    # ------------------------------------------------------------------ regions
    def set_region(self, code: str, region: str | Region, actor: str | None = None) -> Organisation:
        """Say which of NHS England's regions oversees an organisation (administrators)."""
        try:
            chosen = region if isinstance(region, Region) else Region.parse(region)
        except ValueError as exc:
            raise WorkflowError(str(exc)) from None

        def run(s: Session) -> Organisation:
            if actor is not None:
                self._role(self._user(s, actor), Role.ADMIN)
            org = s.exec(select(Organisation).where(Organisation.code == str(code).strip().upper())).first()
            if org is None:
                raise NotFound(f"unknown organisation {code}")
            before = org.region
            org.region = chosen.value
            s.add(org)
            self._audit(s, None, AuditKind.REGION_SET, actor or "admin-cli",
                        reason=f"{org.code}: {chosen.label}" + (f" (was {Region(before).label})"
                                                                if before in Region._value2member_map_ else ""))
            return org
        return self._run(run)

    def organisations(self, actor: str | None = None) -> list[dict]:
        """Every organisation with its region, by code (for administrators' pages and the command line)."""
        def run(s: Session) -> list[dict]:
            if actor is not None:
                self._role(self._user(s, actor), Role.ADMIN)
            return [{"code": o.code, "name": o.name, "region": o.region}
                    for o in s.exec(select(Organisation).order_by(Organisation.code))]
        return self._run(run)

    # ------------------------------------------------------------------ reading
    @staticmethod
    def _first_submissions(s: Session, proposal_ids=None) -> dict[int, dict[int, dt.date]]:
        """The day in England of each proposal's first submission for each checkpoint, from the history."""
        q = (select(AuditEvent.proposal_id, AuditEvent.checkpoint, func.min(AuditEvent.at))
             .where(AuditEvent.action == AuditKind.SUBMITTED).group_by(AuditEvent.proposal_id, AuditEvent.checkpoint))
        if proposal_ids is not None:
            q = q.where(AuditEvent.proposal_id.in_(proposal_ids))
        out: dict[int, dict[int, dt.date]] = {}
        for pid, cp, at in s.execute(q):
            if isinstance(at, str):
                at = dt.datetime.fromisoformat(at)
            out.setdefault(pid, {})[cp] = local_day(at)
        return out

    @staticmethod
    def _plans(s: Session, proposal_ids=None) -> dict[int, list[tuple[int, dt.date, dt.date | None]]]:
        q = select(PlannedSubmission.proposal_id, PlannedSubmission.checkpoint, PlannedSubmission.planned_date,
                   PlannedSubmission.agreed_date).order_by(PlannedSubmission.proposal_id, PlannedSubmission.checkpoint)
        if proposal_ids is not None:
            q = q.where(PlannedSubmission.proposal_id.in_(proposal_ids))
        out: dict[int, list] = {}
        for pid, cp, planned, agreed in s.execute(q):
            out.setdefault(pid, []).append((cp, planned, agreed))
        return out

    def _statuses(self, s: Session, p: Proposal, today: dt.date) -> list[PlanStatus]:
        return plan_statuses(self._plans(s, [p.id]).get(p.id, []), self._first_submissions(s, [p.id]).get(p.id, {}),
                             today, self.policy.working_days_calendar, State(p.state).terminal)

    def _waiting_for_commissioner(self, s: Session, p: Proposal, today: dt.date) -> int | None:
        """Working days the current review has waited for its commissioner to answer reviewers' queries, shown
        apart from the time in each state (docs/workflow.md, "Queries and waivers")."""
        return self._commissioner_wait(s, p, today)

    def timeline(self, actor: str, reference: str, today: dt.date | None = None) -> dict:
        """A proposal's timeline: planned against actual for every checkpoint, its decisions and the conditions
        due, and the working days it spent in each state."""
        from isap.policy import working_days

        today = today or dt.date.today()
        calendar = self.policy.working_days_calendar

        def run(s: Session) -> dict:
            user = self._user(s, actor)
            p = self._proposal(s, user, reference)
            statuses = {st.checkpoint: st for st in self._statuses(s, p, today)}
            submitted = self._first_submissions(s, [p.id]).get(p.id, {})
            decisions: dict[int, list[dict]] = {}
            for d in s.exec(select(Decision).where(Decision.proposal_id == p.id).order_by(Decision.id)):
                decisions.setdefault(d.checkpoint, []).append({"outcome": d.outcome, "on": local_day(d.at).isoformat()})
            conditions: dict[int, list[dict]] = {}
            for n, c in enumerate(s.exec(select(Condition).where(Condition.proposal_id == p.id)
                                         .order_by(Condition.id)), start=1):
                conditions.setdefault(c.checkpoint, []).append({
                    "number": n, "due": c.due_date.isoformat(), "status": c.status,
                    "overdue": lifecycle.condition_overdue(c.due_date, c.status, today)})
            checkpoints = []
            for cp in range(1, LAST_CHECKPOINT + 1):
                st = statuses.get(cp)
                checkpoints.append({
                    "checkpoint": cp, "planned": st.planned.isoformat() if st else None,
                    "agreed": st.agreed.isoformat() if st and st.agreed else None,
                    "awaiting_agreement": bool(st and st.awaiting_agreement),
                    "submitted": submitted[cp].isoformat() if cp in submitted else None,
                    "slippage_working_days": st.slippage if st else None, "late": bool(st and st.late),
                    "decisions": decisions.get(cp, []), "conditions": conditions.get(cp, [])})
            # time in each state: from each change of state in the history to the next (or today)
            changes = [(local_day(at if not isinstance(at, str) else dt.datetime.fromisoformat(at)), state)
                       for at, state in s.execute(select(AuditEvent.at, AuditEvent.to_state)
                                                  .where(AuditEvent.proposal_id == p.id,
                                                         AuditEvent.to_state.is_not(None))
                                                  .order_by(AuditEvent.id))]
            spans = []
            for (start, state), end in zip(changes, [c[0] for c in changes[1:]] + [None]):
                spans.append({"state": state, "from": start.isoformat(), "to": end.isoformat() if end else None,
                              "working_days": working_days.working_days_between(start, end or today, calendar)})
            in_state: dict[str, int] = {}
            for span in spans:
                in_state[span["state"]] = in_state.get(span["state"], 0) + span["working_days"]
            return {"reference": p.reference, "checkpoints": checkpoints, "states": spans,
                    "working_days_in_state": in_state, "late": any(st.late for st in statuses.values()),
                    "waiting_for_commissioner_working_days": self._waiting_for_commissioner(s, p, today)}
        return self._run(run)

    # ------------------------------------------------------------------ the national view
    def national_view(self, actor: str, today: dt.date | None = None, region: str | None = None,
                      state: str | None = None, checkpoint: int | None = None, model: str | None = None,
                      late: bool | None = None) -> list[dict]:
        """Every proposal in England in one table, for reviewers and administrators (docs/dashboard.md,
        "National view"): lead commissioner and region, provider, key figures, checkpoint and state, the last
        decision with its ratings, open conditions and queries, the next planned date and its slippage.  Each
        filter given keeps only the rows that match it."""
        try:
            region = Region.parse(region).value if region is not None else None
        except ValueError as exc:
            raise WorkflowError(str(exc)) from None
        if state is not None and state not in tuple(State):
            raise WorkflowError(f"state must be one of {', '.join(State)}")
        rows = self._national_rows(actor, today)
        wanted = {"region": region, "state": state, "checkpoint": checkpoint, "integration_model": model, "late": late}
        wanted = {k: v for k, v in wanted.items() if v is not None}
        return [r for r in rows if all(r[k] == v for k, v in wanted.items())] if wanted else rows

    def _national_rows(self, actor: str, today: dt.date | None) -> list[dict]:
        """The rows, read in one statement: the last decision's ratings, the open conditions and queries and the next
        planned submission are each a grouped subquery joined to the proposals, so the database does the work once for
        all of them (10,000 proposals stay within a small multiple of the review queue's time; docs/performance.md).
        Only the slippage, a count of working days, is made here, for all rows in one vectorised call."""
        import numpy as np
        from sqlalchemy import case

        from isap.review.types import DOMAINS, proposal_name

        today = today or dt.date.today()
        calendar = self.policy.working_days_calendar

        def run(s: Session) -> list[dict]:
            user = self._user(s, actor)
            self._role(user, Role.REVIEWER, Role.ADMIN)
            last = (select(Decision.proposal_id, func.max(Decision.id).label("did"))
                    .group_by(Decision.proposal_id).subquery())
            # the ratings of each review, one column a domain
            rated = (select(Rating.review_id, *(func.max(case((Rating.domain == d, Rating.rating))).label(d)
                                                for d in DOMAINS))
                     .group_by(Rating.review_id).subquery())
            conditions = (select(Condition.proposal_id, func.count(Condition.id).label("n"))
                          .where(Condition.status == ConditionStatus.OPEN).group_by(Condition.proposal_id).subquery())
            # reviewers' queries not resolved (with the commissioner or with the panel)
            queries = (select(Query.proposal_id, func.count(Query.id).label("n"))
                       .where(Query.status != QueryStatus.RESOLVED).group_by(Query.proposal_id).subquery())
            # the next planned submission: the first plan, from the current checkpoint on, not yet submitted for
            submitted = (select(AuditEvent.id).where(AuditEvent.proposal_id == PlannedSubmission.proposal_id,
                                                     AuditEvent.checkpoint == PlannedSubmission.checkpoint,
                                                     AuditEvent.action == AuditKind.SUBMITTED).exists())
            ahead = (select(PlannedSubmission.proposal_id, PlannedSubmission.checkpoint,
                            PlannedSubmission.planned_date, PlannedSubmission.agreed_date,
                            func.row_number().over(partition_by=PlannedSubmission.proposal_id,
                                                   order_by=PlannedSubmission.checkpoint).label("nth"))
                     .join(Proposal, Proposal.id == PlannedSubmission.proposal_id)
                     .where(PlannedSubmission.checkpoint >= Proposal.checkpoint, ~submitted).subquery())
            q = (select(Proposal.id, Proposal.reference, Proposal.title, Organisation.code, Organisation.name,
                        Organisation.region, Proposal.provider_name, Proposal.provider_type,
                        Proposal.integration_model, Proposal.annual_contract_value_gbp,
                        Proposal.wpap_annual_value_gbp, Proposal.population_registered, Proposal.checkpoint,
                        Proposal.state, Decision.outcome, Decision.at, conditions.c.n, ahead.c.checkpoint,
                        ahead.c.planned_date, ahead.c.agreed_date, queries.c.n, *(rated.c[d] for d in DOMAINS))
                 .join(Organisation, Organisation.id == Proposal.organisation_id)
                 .outerjoin(last, last.c.proposal_id == Proposal.id)
                 .outerjoin(Decision, Decision.id == last.c.did)
                 .outerjoin(rated, rated.c.review_id == Decision.review_id)
                 .outerjoin(conditions, conditions.c.proposal_id == Proposal.id)
                 .outerjoin(queries, queries.c.proposal_id == Proposal.id)
                 .outerjoin(ahead, (ahead.c.proposal_id == Proposal.id) & (ahead.c.nth == 1))
                 .order_by(Proposal.reference, Organisation.code))
            rows = s.execute(q).all()
            shared = self._shared_references(s, user)
            terminal = {st.value for st in State if st.terminal}
            counted = np.array([r[19] or r[18] or today for r in rows], dtype="datetime64[D]")
            slips = slippage(counted, np.full(len(rows), np.datetime64(today, "D")), calendar).tolist() if rows else []
            out = []
            for r, slip in zip(rows, slips):
                (pid, ref, title, code, org_name, region, provider, ptype, model, acv, wpap, population, cp, state,
                 outcome, decided_at, n_open, next_cp, planned, agreed, n_queries) = r[:21]
                due = (agreed or planned) if planned is not None and state not in terminal else None
                plan_late = due is not None and due < today
                out.append({
                    "name": proposal_name(code, ref) if ref in shared else ref, "reference": ref, "title": title,
                    "commissioner": code, "commissioner_name": org_name,
                    "region": region, "provider": provider, "provider_type": ptype, "integration_model": model,
                    "annual_contract_value_gbp": acv, "wpap_annual_value_gbp": wpap,
                    "population_registered": population, "checkpoint": cp, "state": state,
                    "last_decision": outcome, "last_decision_on": local_day(decided_at).isoformat()
                    if decided_at is not None and not isinstance(decided_at, str) else
                    (decided_at[:10] if decided_at else None),
                    **dict(zip((f"rating_{d}" for d in DOMAINS), r[21:])),
                    "open_conditions": n_open or 0, "open_queries": n_queries or 0,
                    "next_planned_checkpoint": next_cp if due else None,
                    "next_planned_date": due.isoformat() if due else None,
                    # whether the date shown (the one counted) was agreed: a change still waiting for agreement
                    # leaves the agreed date counted, and agreed
                    "next_planned_agreed": agreed is not None if due else None,
                    "slippage_working_days": int(slip) if plan_late else 0,
                    "late": plan_late,
                })
            return out
        return self._run(run)

    def refresh_national_figures(self, actor: str | None = None) -> "FiguresRefresh":
        """Fill the Cover's key figures of proposals that have none, from their latest version's original.

        Proposals uploaded before the national view kept the figures show none until their next version; their
        originals are kept, so each is read again here through the same isolated check as an upload
        (`check_bytes`: untrusted bytes are parsed only in a limited child), and the figures found are written
        where the proposal still has none and no newer version has come meanwhile.  Running it again reads only
        what is still blank, so it is safe to repeat (docs/deployment.md, upgrade notes).  Administrators only."""
        import hashlib

        from sqlalchemy import update

        from isap.review.types import proposal_name
        from isap.rules.engine import CheckingBusy, check_bytes
        from isap.store.models import SubmissionVersion
        from isap.store.originals import OriginalsError
        from isap.text import without_controls

        blank = [getattr(Proposal, f).is_(None) for f in NATIONAL_FIGURES]

        def to_read(s: Session) -> list:
            if actor is not None:
                self._role(self._user(s, actor), Role.ADMIN)
            latest = (select(SubmissionVersion.proposal_id, func.max(SubmissionVersion.number).label("number"))
                      .group_by(SubmissionVersion.proposal_id).subquery())
            return s.execute(
                select(Proposal.id, Proposal.reference, Organisation.code, SubmissionVersion.number,
                       SubmissionVersion.sha256, SubmissionVersion.filename)
                .join(Organisation, Organisation.id == Proposal.organisation_id)
                .join(latest, latest.c.proposal_id == Proposal.id)
                .join(SubmissionVersion, (SubmissionVersion.proposal_id == Proposal.id)
                      & (SubmissionVersion.number == latest.c.number))
                .where(*blank).order_by(Organisation.code, Proposal.reference)).all()

        done = FiguresRefresh()
        for pid, ref, code, number, sha, filename in self._run(to_read):
            name = proposal_name(code, ref)
            try:
                data = self.files.get(sha)
            except OriginalsError as exc:
                done.unread.append((name, str(exc)))
                continue
            if hashlib.sha256(data).hexdigest() != sha:
                done.unread.append((name, f"the original {sha[:12]}… is corrupt: its bytes do not match their "
                                          "SHA-256"))
                continue
            try:
                report = check_bytes(data, filename, self.policy)
            except CheckingBusy:
                done.unread.append((name, "no checking child was free: run it again later"))
                continue
            figures = {f: getattr(report, f, None) for f in NATIONAL_FIGURES}
            for f in ("provider_name", "integration_model"):  # as an upload keeps them (Commands.upload)
                if isinstance(figures[f], str):
                    figures[f] = without_controls(figures[f]).strip() or None
            figures = {f: v for f, v in figures.items() if v is not None}
            if not figures:
                done.blank.append(name)
                continue

            def fill(s: Session, pid=pid, number=number, figures=figures) -> int:
                newer = (select(SubmissionVersion.id).where(SubmissionVersion.proposal_id == pid,
                                                            SubmissionVersion.number > number).exists())
                return s.execute(update(Proposal).where(Proposal.id == pid, *blank, ~newer)
                                 .values(**figures)).rowcount
            if self._run(fill):
                done.filled.append(name)
        return done


# the Cover's key figures a proposal keeps from its latest version, for the national view
NATIONAL_FIGURES = ("provider_name", "integration_model", "annual_contract_value_gbp", "wpap_annual_value_gbp",
                    "population_registered")


@dataclass
class FiguresRefresh:
    """What `Calendar.refresh_national_figures` did, by proposal name."""

    filled: list[str] = field(default_factory=list)  # the figures of its latest version are now kept
    blank: list[str] = field(default_factory=list)  # its latest version gives none of them
    unread: list[tuple[str, str]] = field(default_factory=list)  # (name, why): the original could not be read now

    @property
    def complete(self) -> bool:
        return not self.unread


def late_proposals(s: Session, today: dt.date) -> set[tuple[str, str]]:
    """(organisation code, reference) of every proposal, not closed, with a counted planned date before `today`
    and no submission for that checkpoint: one query, for the review queue's mark."""
    counted = func.coalesce(PlannedSubmission.agreed_date, PlannedSubmission.planned_date)
    submitted = (select(AuditEvent.id).where(AuditEvent.proposal_id == PlannedSubmission.proposal_id,
                                             AuditEvent.checkpoint == PlannedSubmission.checkpoint,
                                             AuditEvent.action == AuditKind.SUBMITTED).exists())
    q = (select(Organisation.code, Proposal.reference).select_from(PlannedSubmission)
         .join(Proposal, Proposal.id == PlannedSubmission.proposal_id)
         .join(Organisation, Organisation.id == Proposal.organisation_id)
         .where(counted < today, ~submitted, Proposal.state.in_(tuple(lifecycle.NON_TERMINAL))).distinct())
    return {(code, ref) for code, ref in s.execute(q)}

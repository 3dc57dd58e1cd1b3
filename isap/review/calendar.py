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
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, select

from isap.review import lifecycle, wording
from isap.review.events import AuditKind
from isap.review.lifecycle import LAST_CHECKPOINT, Action, ConditionStatus, QueryStatus, Role, State
from isap.review.limits import TextKind, checked_text
from isap.review.regions import Region
from isap.review.unit_of_work import (
    Conflict,
    NotFound,
    Refused,
    UnitOfWork,
    WorkflowError,
)
from isap.store.models import (
    AuditEvent,
    Condition,
    Decision,
    Organisation,
    PlannedSubmission,
    Proposal,
    Query,
    Rating,
)

ENGLAND = ZoneInfo("Europe/London")


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

        def run(s: Session) -> dict:
            user = self._user(s, actor)
            p = self._proposal(s, user, reference)
            self._guard(s, Action.PLAN_SUBMISSION, user, p)
            row = s.exec(select(PlannedSubmission).where(PlannedSubmission.proposal_id == p.id,
                                                         PlannedSubmission.checkpoint == checkpoint)).first()
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
                self._compare_and_set(s, row, planned_date=planned, proposed_by=user.id, proposed_at=now)
            s.flush()
            self._audit(s, p, AuditKind.SUBMISSION_PLANNED, user.username, reason=words + (f": {reason}" if reason
                                                                                           else ""),
                        checkpoint=checkpoint)
            return self._plan_row(row)
        return self._run(run)

    def agree_plan(self, actor: str, reference: str, checkpoint: int) -> dict:
        """A reviewer agrees the date proposed for a checkpoint's submission: it becomes the one counted."""
        def run(s: Session) -> dict:
            user = self._user(s, actor)
            p = self._proposal(s, user, reference)
            self._guard(s, Action.AGREE_PLAN, user, p)
            row = s.exec(select(PlannedSubmission).where(PlannedSubmission.proposal_id == p.id,
                                                         PlannedSubmission.checkpoint == checkpoint)).first()
            if row is None or row.agreed_date == row.planned_date:
                raise Refused(f"{p.reference} has no planned date for checkpoint {checkpoint} waiting to be agreed")
            before = row.agreed_date
            self._compare_and_set(s, row, agreed_date=row.planned_date, agreed_by=user.id, agreed_at=self.clock())
            self._audit(s, p, AuditKind.PLAN_AGREED, user.username, checkpoint=checkpoint,
                        reason=f"checkpoint {checkpoint} agreed for {wording.day(row.planned_date)}"
                        + (f" (was {wording.day(before)})" if before else ""))
            return self._plan_row(row)
        return self._run(run)

    @staticmethod
    def _compare_and_set(s: Session, row: PlannedSubmission, **values) -> None:
        """Change a plan only if nobody changed it since it was read."""
        from sqlalchemy import update

        res = s.execute(update(PlannedSubmission).where(
            PlannedSubmission.id == row.id, PlannedSubmission.planned_date == row.planned_date,
            (PlannedSubmission.agreed_date.is_(None) if row.agreed_date is None
             else PlannedSubmission.agreed_date == row.agreed_date)).values(**values))
        if res.rowcount != 1:
            raise Conflict("this planned date was changed by someone else since you loaded it; reload and try again")
        for k, v in values.items():
            setattr(row, k, v)

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

    def organisations(self) -> list[dict]:
        """Every organisation with its region, by code (for administrators' pages and the command line)."""
        def run(s: Session) -> list[dict]:
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
        return [r for r in rows if all(r[k] == v for k, v in wanted.items())]

    def _national_rows(self, actor: str, today: dt.date | None) -> list[dict]:
        import numpy as np

        from isap.review.unit_of_work import DOMAINS, proposal_name

        today = today or dt.date.today()
        calendar = self.policy.working_days_calendar

        def run(s: Session) -> list[dict]:
            user = self._user(s, actor)
            self._role(user, Role.REVIEWER, Role.ADMIN)
            last = (select(Decision.proposal_id, func.max(Decision.id).label("did"))
                    .group_by(Decision.proposal_id).subquery())
            q = (select(Proposal.id, Proposal.reference, Proposal.title, Organisation.code, Organisation.name,
                        Organisation.region, Proposal.provider_name, Proposal.provider_type,
                        Proposal.integration_model, Proposal.annual_contract_value_gbp,
                        Proposal.wpap_annual_value_gbp, Proposal.population_registered, Proposal.checkpoint,
                        Proposal.state, Decision.outcome, Decision.at, Decision.review_id)
                 .join(Organisation, Organisation.id == Proposal.organisation_id)
                 .outerjoin(last, last.c.proposal_id == Proposal.id)
                 .outerjoin(Decision, Decision.id == last.c.did)
                 .order_by(Proposal.reference, Organisation.code))
            rows = list(s.execute(q))
            ratings: dict[int, dict[str, str]] = {}
            for review_id, domain, rating in s.execute(
                    select(Rating.review_id, Rating.domain, Rating.rating)
                    .join(Decision, Decision.review_id == Rating.review_id).join(last, last.c.did == Decision.id)):
                ratings.setdefault(review_id, {})[domain] = rating
            open_conditions = dict(s.execute(select(Condition.proposal_id, func.count(Condition.id))
                                             .where(Condition.status == ConditionStatus.OPEN)
                                             .group_by(Condition.proposal_id)).all())
            open_queries = self._open_queries_by_proposal(s)
            plans = self._plans(s)
            submissions = self._first_submissions(s)
            shared = self._shared_references(s, user)
            # the next planned submission of each proposal: its first plan from the current checkpoint on that has
            # no submission yet
            nexts: list[tuple[int, dt.date, dt.date | None] | None] = []
            for r in rows:
                pid, cp_now = r[0], r[12]
                done = submissions.get(pid, {})
                nexts.append(next(((cp, planned, agreed) for cp, planned, agreed in plans.get(pid, ())
                                   if cp >= cp_now and cp not in done), None))
            counted = np.array([(n[2] or n[1]) if n else today for n in nexts], dtype="datetime64[D]")
            slips = slippage(counted, np.full(len(rows), np.datetime64(today, "D")), calendar).tolist() if rows else []
            out = []
            for r, n, slip in zip(rows, nexts, slips):
                (pid, ref, title, code, org_name, region, provider, ptype, model, acv, wpap, population, cp, state,
                 outcome, decided_at, review_id) = r
                closed = State(state).terminal
                plan_late = n is not None and not closed and (n[2] or n[1]) < today
                row = {
                    "name": proposal_name(code, ref) if ref in shared else ref, "reference": ref, "title": title,
                    "commissioner": code, "commissioner_name": org_name,
                    "region": region, "provider": provider, "provider_type": ptype, "integration_model": model,
                    "annual_contract_value_gbp": acv, "wpap_annual_value_gbp": wpap,
                    "population_registered": population, "checkpoint": cp, "state": state,
                    "last_decision": outcome, "last_decision_on": local_day(decided_at).isoformat()
                    if decided_at is not None and not isinstance(decided_at, str) else
                    (decided_at[:10] if decided_at else None),
                    **{f"rating_{d}": ratings.get(review_id, {}).get(d) if review_id else None for d in DOMAINS},
                    "open_conditions": open_conditions.get(pid, 0), "open_queries": open_queries.get(pid, 0),
                    "next_planned_checkpoint": n[0] if n and not closed else None,
                    "next_planned_date": (n[2] or n[1]).isoformat() if n and not closed else None,
                    "next_planned_agreed": bool(n and n[2] == n[1]) if n and not closed else None,
                    "slippage_working_days": int(slip) if plan_late else 0,
                    "late": plan_late,
                }
                out.append(row)
            return out
        return self._run(run)

    def _open_queries_by_proposal(self, s: Session) -> dict[int, int]:
        """Open reviewers' queries (with the commissioner or with the panel) per proposal id."""
        q = (select(Query.proposal_id, func.count(Query.id))
             .where(Query.status != QueryStatus.RESOLVED).group_by(Query.proposal_id))
        return {pid: n for pid, n in s.exec(q)}


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

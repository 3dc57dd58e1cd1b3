"""The outbox seen from the review: reminders owed each day, alerts, and the rows delivery claims and marks.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, update
from sqlmodel import Session, select

from isap.review import lifecycle, notices
from isap.review.events import AuditKind, NotificationKind, NotificationStatus
from isap.review.lifecycle import (
    ConditionStatus,
    Role,
    State,
)
from isap.review.unit_of_work import UnitOfWork
from isap.review.wording import iso_time
from isap.store.models import (
    AuditEvent,
    Condition,
    Notification,
    PlannedSubmission,
    Proposal,
    User,
    utcnow,
)


class Notifications(UnitOfWork):
    def alert_administrators(self, key: str, subject: str, body: str) -> dict | None:
        """Queue a message about the system itself to every administrator (once per `key`); what was queued."""
        def run(s: Session) -> dict | None:
            admins = self._mailable(s.exec(select(User).where(User.role == Role.ADMIN)))
            if self._notify(s, NotificationKind.ADMINISTRATOR_ALERT, key, admins, notices.Notice(subject, body)):
                return {"kind": NotificationKind.ADMINISTRATOR_ALERT, "key": key, "reference": None, "subject": subject}
            return None
        return self._run(run)

    def _due(self, s: Session, today: dt.date) -> list[dict]:
        """The time-based notifications owed on `today`, each with the key that makes it once only."""
        from isap.policy import working_days

        calendar = self.policy.working_days_calendar
        target = self.policy.review_target_working_days
        out = []
        reviewers = self._reviewer_addresses(s)
        for p in s.exec(select(Proposal).where(Proposal.state.in_(tuple(lifecycle.WAITING_FOR_REVIEW)))
                        .order_by(Proposal.reference)):
            since = p.state_since.date()
            # days in which every open query waited for the commissioner do not count against the target
            waited = working_days.working_days_between(since, today, calendar) - self._commissioner_wait(s, p, today)
            if waited > target:
                # once per wait: a proposal returned and submitted again waits afresh
                out.append({"kind": NotificationKind.REVIEW_OVERDUE, "key": p.reference, "proposal": p,
                            "to": reviewers, "contact": None,
                            "outbox_key": (f"review-overdue:{p.reference}:{p.state}:{p.state_since.isoformat()}"
                                           f":proposal{p.id}"),
                            "notice": notices.review_overdue(p.reference, p.title, State(p.state), since, waited,
                                                             target, self._reviewers_link(s, p))})
        soon = working_days.add_working_days(today, self.policy.condition_due_soon_working_days, calendar)
        for c, p in s.exec(select(Condition, Proposal).join(Proposal, Proposal.id == Condition.proposal_id)
                           .where(Condition.status == ConditionStatus.OPEN, Condition.due_date <= soon)
                           .order_by(Condition.id)):
            to = [c.owner, p.contact_email]
            if lifecycle.condition_overdue(c.due_date, c.status, today):
                out.append({"kind": NotificationKind.CONDITION_OVERDUE, "key": f"{p.reference}-{c.id}",
                            "proposal": p, "to": to,
                            "contact": p.contact_email,
                            "outbox_key": f"condition-overdue:{c.id}",
                            "notice": notices.condition_overdue(p.reference, p.title, c.text, c.owner, c.due_date,
                                                                self._link(p))})
            else:
                left = working_days.working_days_between(today, c.due_date, calendar)
                out.append({"kind": NotificationKind.CONDITION_DUE_SOON, "key": f"{p.reference}-{c.id}",
                            "proposal": p, "to": to,
                            "contact": p.contact_email,
                            "outbox_key": f"condition-due:{c.id}",
                            "notice": notices.condition_due(p.reference, p.title, c.text, c.owner, c.due_date,
                                                            left, self._link(p))})
        out.extend(self._submissions_due(s, today))
        return out

    def _submissions_due(self, s: Session, today: dt.date) -> list[dict]:
        """Planned submissions due within the policy's `submission_reminder_working_days`, and those passed without
        a submission (docs/workflow.md, "Calendar"): each once per planned date, so a date moved is reminded
        afresh."""
        from isap.policy import working_days
        calendar = self.policy.working_days_calendar
        soon = working_days.add_working_days(today, self.policy.submission_reminder_working_days, calendar)
        counted = func.coalesce(PlannedSubmission.agreed_date, PlannedSubmission.planned_date)
        submitted = (select(AuditEvent.id).where(AuditEvent.proposal_id == PlannedSubmission.proposal_id,
                                                 AuditEvent.checkpoint == PlannedSubmission.checkpoint,
                                                 AuditEvent.action == AuditKind.SUBMITTED).exists())
        out = []
        for plan, p in s.exec(select(PlannedSubmission, Proposal)
                              .join(Proposal, Proposal.id == PlannedSubmission.proposal_id)
                              .where(counted <= soon, ~submitted, PlannedSubmission.checkpoint >= Proposal.checkpoint,
                                     Proposal.state.in_(tuple(lifecycle.NON_TERMINAL)))
                              .order_by(PlannedSubmission.id)):
            day = plan.agreed_date or plan.planned_date
            to = [*self._commissioner_addresses(s, p), p.contact_email]
            if day < today:
                out.append({"kind": NotificationKind.SUBMISSION_LATE, "key": f"{p.reference}-cp{plan.checkpoint}",
                            "proposal": p, "to": to, "contact": p.contact_email,
                            "outbox_key": f"submission-late:{plan.id}:{day.isoformat()}",
                            "notice": notices.submission_late(p.reference, p.title, plan.checkpoint, day,
                                                              self._link(p))})
            else:
                left = working_days.working_days_between(today, day, calendar)
                out.append({"kind": NotificationKind.SUBMISSION_DUE_SOON, "key": f"{p.reference}-cp{plan.checkpoint}",
                            "proposal": p, "to": to, "contact": p.contact_email,
                            "outbox_key": f"submission-due:{plan.id}:{day.isoformat()}",
                            "notice": notices.submission_due(p.reference, p.title, plan.checkpoint, day, left,
                                                             self._link(p))})
        return out

    def overdue(self, today: dt.date) -> list[dict]:
        """Reviews waiting past the policy target, open conditions past their due date, and conditions due
        within the policy's `condition_due_soon_working_days`, as plain rows (kind, key, recipients, subject,
        body); nothing is written."""
        def run(s: Session) -> list[dict]:
            return [{"kind": d["kind"], "key": d["key"], "to": self._recipients(d["to"], d["contact"])[0],
                     "subject": d["notice"].subject, "body": d["notice"].body} for d in self._due(s, today)]
        return self._run(run)

    def remind(self, today: dt.date) -> list[dict]:
        """Queue the reminders owed on `today` (the daily step); each is queued once, whenever it runs again.
        Returns the ones queued now."""
        def run(s: Session) -> list[dict]:
            queued = []
            for d in self._due(s, today):
                kind = d["kind"]
                p = d["proposal"]
                if self._notify(s, kind, d["outbox_key"], d["to"], d["notice"], p, p.checkpoint,
                                contact=d["contact"]):
                    queued.append({"kind": kind, "key": d["outbox_key"], "reference": p.reference,
                                   "subject": d["notice"].subject})
            return queued
        return self._run(run)

    # ------------------------------------------------------------------ delivering the outbox
    def claim_notifications(self, limit: int = 50, lease_seconds: float = 300.0,
                            now: dt.datetime | None = None) -> list[dict]:
        """Claim up to `limit` messages that are due for sending, each for this caller alone.

        A message is due when it is pending and its next attempt has come, or
        when it was claimed more than `lease_seconds` ago and never marked (its
        sender died): that one may already have reached the server, so it is sent
        again with the same Message-ID.  Each claim is a compare-and-set on the
        row, so two senders never claim the same message.
        """
        now = now or utcnow()
        stale = now - dt.timedelta(seconds=lease_seconds)

        def run(s: Session) -> list[dict]:
            q = (select(Notification.id, Notification.status).where(
                ((Notification.status == NotificationStatus.PENDING) & (Notification.next_attempt_at <= now))
                | ((Notification.status == NotificationStatus.SENDING) & (Notification.claimed_at <= stale)))
                 .order_by(Notification.id).limit(limit))
            claimed = []
            for nid, status in list(s.execute(q)):
                res = s.execute(update(Notification).where(Notification.id == nid, Notification.status == status)
                                .values(status=NotificationStatus.SENDING, claimed_at=now,
                                        attempts=Notification.attempts + 1))
                if res.rowcount == 1:
                    claimed.append(nid)
            rows = s.exec(select(Notification).where(Notification.id.in_(claimed)).order_by(Notification.id))
            return [notification_row(n) for n in rows]
        return self._run(run)

    def notification_sent(self, notification_id: int, note: str | None = None) -> bool:
        """Mark a claimed message sent (once: False when it was not being sent); `note` says who it did not reach
        (a recipient the server refused), for administrators."""
        def run(s: Session) -> bool:
            res = s.execute(update(Notification).where(Notification.id == notification_id,
                                                       Notification.status == NotificationStatus.SENDING)
                            .values(status=NotificationStatus.SENT, sent_at=utcnow(),
                                    last_error=note[:2000] if note else None))
            return res.rowcount == 1
        return self._run(run)

    def notification_failed(self, notification_id: int, reason: str, retry_at: dt.datetime | None) -> None:
        """A claimed message that did not go: pending again from `retry_at`, or failed for good (None)."""
        def run(s: Session) -> None:
            values: dict[str, Any] = {"last_error": reason[:2000]}
            if retry_at is None:
                values["status"] = NotificationStatus.FAILED
            else:
                values.update(status=NotificationStatus.PENDING, next_attempt_at=retry_at)
            s.execute(update(Notification).where(Notification.id == notification_id,
                                                 Notification.status == NotificationStatus.SENDING).values(**values))
        self._run(run)

    def outbox(self, actor: str, status: str | None = None, limit: int = 500) -> list[dict]:
        """The outbox for administrators: the newest messages first, with their state and the last failure."""
        def run(s: Session) -> list[dict]:
            self._role(self._user(s, actor), Role.ADMIN)
            q = select(Notification).order_by(Notification.id.desc()).limit(limit)
            if status:
                q = q.where(Notification.status == status)
            return [notification_row(n) for n in s.exec(q)]
        return self._run(run)

    def outbox_counts(self) -> dict[str, int]:
        """How many messages are in each state (pending, sending, sent, failed)."""
        def run(s: Session) -> dict[str, int]:
            counts = dict.fromkeys((s.value for s in NotificationStatus), 0)
            for status, n in s.execute(select(Notification.status, func.count(Notification.id))
                                       .group_by(Notification.status)):
                counts[status] = n
            return counts
        return self._run(run)


def notification_row(n: Notification) -> dict:
    return {"id": n.id, "key": n.key, "kind": n.kind, "reference": n.proposal_reference,
            "proposal_id": n.proposal_id, "checkpoint": n.checkpoint,
            "recipients": [a for a in n.recipients.split("\n") if a], "subject": n.subject, "body": n.body,
            "attachment": n.attachment, "message_id": n.message_id, "status": n.status, "attempts": n.attempts,
            "last_error": n.last_error, "created_at": iso_time(n.created_at),
            "sent_at": iso_time(n.sent_at) if n.sent_at else None}

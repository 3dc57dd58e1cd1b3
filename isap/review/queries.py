"""What people ask of the review: read models for lists, the review queue, a proposal and its history.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

from sqlalchemy import func
from sqlmodel import Session, select

from isap.review import lifecycle
from isap.review.errors import Forbidden, NotFound, WorkflowError
from isap.review.events import AuditKind
from isap.review.evidence import evidence_rows
from isap.review.lifecycle import (
    Actor,
    ProposalFacts,
    Role,
    State,
)
from isap.review.records import finding_fingerprint
from isap.review.types import proposal_name
from isap.review.unit_of_work import UnitOfWork
from isap.review.wording import iso_time, person_words
from isap.store.db import StoreError
from isap.store.models import (
    Acknowledgement,
    AuditEvent,
    Comment,
    Condition,
    Decision,
    Declaration,
    EvidenceDocument,
    FindingRecord,
    Organisation,
    Proposal,
    ProposedDecision,
    Query,
    QueryDocument,
    QueryMessage,
    Review,
    SubmissionVersion,
    UnassignedUpload,
    User,
    Waiver,
)
from isap.store.originals import OriginalsError


class Queries(UnitOfWork):
    # ------------------------------------------------------------------ reading
    @staticmethod
    def _scoped(q, user: User, doing: str):
        """A query over proposals narrowed to those `user` may see: a commissioner their organisation's,
        a reviewer all; anyone else may not ask."""
        if user.role == Role.COMMISSIONER:
            return q.where(Proposal.organisation_id == user.organisation_id)
        if user.role not in lifecycle.REVIEWERS:
            raise Forbidden(f"{user.username} cannot {doing}")
        return q

    def list_proposals(self, actor: str, state: str | None = None) -> list[dict]:
        if state is not None and state not in tuple(State):
            raise WorkflowError(f"state must be one of {', '.join(State)}")

        def run(s: Session) -> list[dict]:
            user = self._user(s, actor)
            latest = (select(SubmissionVersion.proposal_id, func.max(SubmissionVersion.number).label("n"))
                      .group_by(SubmissionVersion.proposal_id).subquery())
            # plain columns, not ORM objects: the reviewer's list holds every proposal in England
            q = (select(Proposal.reference, Proposal.title, Organisation.code, Organisation.name,
                        Proposal.provider_type, Proposal.checkpoint, Proposal.state, Proposal.state_since,
                        Proposal.version, latest.c.n, Proposal.updated_at)
                 .join(Organisation, Organisation.id == Proposal.organisation_id)
                 .outerjoin(latest, latest.c.proposal_id == Proposal.id))
            q = self._scoped(q, user, "list proposals")
            if state:
                q = q.where(Proposal.state == state)
            keys = ("reference", "title", "commissioner", "commissioner_name", "provider_type", "checkpoint",
                    "state", "state_since", "version", "latest_version", "updated_at")
            out = []
            shared = self._shared_references(s, user)
            for row in s.execute(q.order_by(Proposal.reference, Organisation.code)):
                d = dict(zip(keys, row))
                d["name"] = proposal_name(d["commissioner"], d["reference"]) if d["reference"] in shared \
                    else d["reference"]
                d["state_since"] = iso_time(d["state_since"])
                d["updated_at"] = iso_time(d["updated_at"])
                out.append(d)
            return out
        return self._run(run)

    def proposal_choices(self, actor: str) -> list[tuple[str, str]]:
        """(name, title) of every proposal `actor` may see, by reference: what a page needs to offer a
        choice of proposal, without the rest of `list_proposals` (a reviewer's choice is every proposal in
        England, and a page asks on every run).  The name is the reference, with the lead commissioner's
        code before it when the actor sees that reference under more than one organisation."""
        def run(s: Session) -> list[tuple[str, str]]:
            user = self._user(s, actor)
            q = self._scoped(select(Proposal.reference, Proposal.title, Organisation.code)
                             .join(Organisation, Organisation.id == Proposal.organisation_id), user, "list proposals")
            shared = self._shared_references(s, user)
            return [(proposal_name(code, ref) if ref in shared else ref, title)
                    for ref, title, code in s.execute(q.order_by(Proposal.reference, Organisation.code))]
        return self._run(run)

    def review_queue(self, actor: str, today: dt.date | None = None) -> list[dict]:
        """The reviewer's pipeline: every visible proposal with its waiting time against the policy target, and
        the reviewer who has it while it is in review, and whether it is late against its planned submission
        dates."""
        import numpy as np

        from isap.policy import working_days
        from isap.review.calendar import late_proposals

        rows = self.list_proposals(actor)
        if not rows:
            return rows
        day = today or dt.date.today()
        late = self._run(late_proposals, day)
        reviewers = self._reviewers(actor)
        today = np.datetime64(day, "D")
        since = np.array([r["state_since"][:10] for r in rows], dtype="datetime64[D]")
        days = (today - since).astype(int)
        working = working_days.count(since, today, self.policy.working_days_calendar)
        target = self.policy.review_target_working_days
        waits = self._run(lambda s: self._commissioner_waits(s, today.astype(dt.date)))
        panel = self._run(self._queue_panel)
        asked = self._run(self._waivers_asked)
        for r, d, w in zip(rows, days.tolist(), working.tolist()):
            r["days_in_state"] = d
            r["working_days_in_state"] = w
            # days in which every open query waited for the commissioner do not count against the target
            r["waiting_on_commissioner"] = waits.get((r["commissioner"], r["reference"]), 0)
            r["working_days_counted"] = w - r["waiting_on_commissioner"]
            r["overdue"] = lifecycle.waiting_for_review(r["state"]) and r["working_days_counted"] > target
            # a planned submission has passed without one (docs/workflow.md, "Calendar")
            r["late"] = (r["commissioner"], r["reference"]) in late
            r["reviewer"], r["reviewer_name"] = reviewers.get((r["reference"], r["commissioner"]), (None, None))
            # the review panel: a proposed decision waiting for a second reviewer (the lead is the reviewer above)
            proposer = panel.get((r["commissioner"], r["reference"]))
            r["waiting_for_countersignature"] = proposer is not None
            r["panel"] = f"Waiting for countersignature (proposed by {proposer})" if proposer else ""
            # a waiver request waiting for an answer: the commissioner cannot submit until a reviewer gives one
            numbers = asked.get((r["commissioner"], r["reference"]), ())
            r["waivers_asked"] = len(numbers)
            if numbers and not proposer:
                r["panel"] = f"{lifecycle.waivers_named(numbers).capitalize()} to grant or refuse"
        return rows

    @staticmethod
    def _waivers_asked(s: Session) -> dict[tuple[str, str], tuple[int, ...]]:
        """(code, reference) → the numbers of the waiver requests no reviewer has answered, of every proposal
        that has one (a waiver's number counts the proposal's waivers in the order they were asked for)."""
        waiting = select(Waiver.proposal_id).where(Waiver.status == lifecycle.WaiverStatus.REQUESTED)
        q = (select(Organisation.code, Proposal.reference, Waiver.status)
             .join(Proposal, Proposal.id == Waiver.proposal_id)
             .join(Organisation, Organisation.id == Proposal.organisation_id)
             .where(Waiver.proposal_id.in_(waiting)).order_by(Waiver.proposal_id, Waiver.id))
        out: dict[tuple[str, str], list[int]] = {}
        counted: dict[tuple[str, str], int] = {}
        for code, ref, status in s.execute(q):
            n = counted[(code, ref)] = counted.get((code, ref), 0) + 1
            if status == lifecycle.WaiverStatus.REQUESTED:
                out.setdefault((code, ref), []).append(n)
        return {k: tuple(v) for k, v in out.items()}

    def _commissioner_waits(self, s: Session, today: dt.date) -> dict[tuple[str, str], int]:
        """(code, reference) → working days waiting for the commissioner's answers, of every proposal in review
        that has a query."""
        q = (select(Proposal, Organisation.code).join(Organisation, Organisation.id == Proposal.organisation_id)
             .where(Proposal.state == State.IN_REVIEW, Proposal.id.in_(select(Query.proposal_id))))
        return {(code, p.reference): self._commissioner_wait(s, p, today) for p, code in s.exec(q)}


    def _reviewers(self, actor: str) -> dict[tuple[str, str], tuple[str, str]]:
        """Who has each proposal in review, by (reference, organisation code): the reviewer of its open review, by
        user name and as people are named."""
        def run(s: Session) -> dict[tuple[str, str], tuple[str, str]]:
            user = self._user(s, actor)
            latest = (select(Review.proposal_id, func.max(Review.id).label("review_id"))
                      .group_by(Review.proposal_id).subquery())
            q = (select(Proposal.reference, Organisation.code, User)
                 .join(Organisation, Organisation.id == Proposal.organisation_id)
                 .join(latest, latest.c.proposal_id == Proposal.id)
                 .join(Review, Review.id == latest.c.review_id)
                 .join(User, User.id == Review.reviewer_id)
                 .where(Proposal.state == State.IN_REVIEW))
            q = self._scoped(q, user, "see the review queue")
            return {(ref, code): (u.username, person_words(u)) for ref, code, u in s.execute(q)}
        return self._run(run)

    @staticmethod
    def _queue_panel(s: Session) -> dict[tuple[str, str], str]:
        """For each proposal in review whose proposed decision waits for countersignature: who proposed it."""
        q = (select(Organisation.code, Proposal.reference, User)
             .join(Organisation, Organisation.id == Proposal.organisation_id)
             .join(Review, (Review.proposal_id == Proposal.id) & Review.decided_at.is_(None))
             .join(ProposedDecision, (ProposedDecision.review_id == Review.id) & ProposedDecision.closed_as.is_(None))
             .join(User, User.id == ProposedDecision.proposed_by)
             .where(Proposal.state == State.IN_REVIEW))
        return {(code, ref): person_words(proposer) for code, ref, proposer in s.execute(q)}

    @staticmethod
    def _summary(p: Proposal, org: Organisation, latest_version: int | None) -> dict:
        return {
            "reference": p.reference, "title": p.title, "commissioner": org.code, "commissioner_name": org.name,
            "provider_type": p.provider_type, "checkpoint": p.checkpoint, "state": p.state,
            "state_since": p.state_since.isoformat(), "version": p.version, "latest_version": latest_version,
            "updated_at": p.updated_at.isoformat(),
        }

    def proposal_facts(self, actor: str, reference: str) -> tuple[ProposalFacts, Actor]:
        """What the state machine knows about a proposal and the person looking at it (for pages and tests)."""
        def run(s: Session) -> tuple[ProposalFacts, Actor]:
            user = self._user(s, actor)
            p = self._proposal(s, user, reference)
            return self._facts(s, p), self._actor(user, p)
        return self._run(run)

    def allowed_actions(self, actor: str, reference: str) -> list[lifecycle.ActionOption]:
        return lifecycle.allowed_actions(*self.proposal_facts(actor, reference))

    def next_step(self, actor: str, reference: str) -> str:
        return lifecycle.next_step(*self.proposal_facts(actor, reference))

    def show(self, actor: str, reference: str) -> dict:
        def run(s: Session) -> dict:
            user = self._user(s, actor)
            p = self._proposal(s, user, reference)
            facts, who = self._facts(s, p), self._actor(user, p)
            org = s.get(Organisation, p.organisation_id)
            people = {u.id: u for u in s.exec(select(User))}
            users = {i: u.username for i, u in people.items()}  # who did what, for the record and the tools
            names = {i: person_words(u) for i, u in people.items()}  # and as a page or a letter names them
            versions = list(s.exec(select(SubmissionVersion).where(SubmissionVersion.proposal_id == p.id)
                                   .order_by(SubmissionVersion.number)))
            out = self._summary(p, org, versions[-1].number if versions else None)
            # how this person names it: the reference, with the code when they see it under several organisations
            shared = user.role != Role.COMMISSIONER and s.exec(select(Proposal.id).where(
                Proposal.reference == p.reference, Proposal.id != p.id)).first() is not None
            out["name"] = proposal_name(org.code, p.reference) if shared else p.reference
            # what the state machine says, so a page renders it and decides nothing
            out["next_step"] = lifecycle.next_step(facts, who)
            out["actions"] = [{"action": o.action.value, "allowed": o.allowed, "reason": o.reason, "yours": o.yours,
                               "waiting": o.waiting, "label": o.label}
                              for o in lifecycle.allowed_actions(facts, who)]
            out["versions"] = [{
                "number": v.number, "sha256": v.sha256, "filename": v.filename, "size": v.size,
                "checkpoint": v.checkpoint, "errors": v.errors, "warnings": v.warnings,
                "uploaded_by": users.get(v.uploaded_by),
                "uploaded_by_name": names.get(v.uploaded_by), "uploaded_at": v.uploaded_at.isoformat(),
                "catalogue_version": v.catalogue_version, "policy": json.loads(v.policy_json),
            } for v in versions]
            findings = []
            by_id = {w.id: self._waiver_row(n, w, users, names) for n, w in enumerate(s.exec(
                select(Waiver).where(Waiver.proposal_id == p.id).order_by(Waiver.id)), start=1)}
            if versions:
                # the waivers that stand at the latest version's checkpoint, on the findings they cover
                standing = self._waivers_at(s, p, versions[-1].checkpoint)
                acks = {a.finding_id: a for a in s.exec(
                    select(Acknowledgement).join(FindingRecord, FindingRecord.id == Acknowledgement.finding_id)
                    .where(FindingRecord.version_id == versions[-1].id))}
                for f in s.exec(select(FindingRecord).where(FindingRecord.version_id == versions[-1].id)
                                .order_by(FindingRecord.id)):
                    d = {k: getattr(f, k) for k in ("id", "rule_id", "severity", "domain", "sheet", "row", "column",
                                                    "cell", "message", "source")}
                    a = acks.get(f.id)
                    d["acknowledged"] = ({"note": a.note, "by": users.get(a.by), "by_name": names.get(a.by),
                                          "at": a.at.isoformat()}
                                         if a else None)
                    d["fingerprint"] = finding_fingerprint(f)
                    w = standing.get(d["fingerprint"])
                    d["waiver"] = by_id[w.id] if w is not None else None
                    d["waived"] = bool(w is not None and w.status == lifecycle.WaiverStatus.GRANTED)
                    findings.append(d)
            out["findings"] = findings
            out["waivers"] = list(by_id.values())
            out["queries"] = self._query_rows(s, p, users, names)
            out["evidence"] = evidence_rows(s, p)
            if p.state in lifecycle.WAITING_FOR_REVIEW:
                out["waiting_on_commissioner"] = self._commissioner_wait(s, p, self.clock().date())
            out["conditions"] = [{
                "id": number, "checkpoint": c.checkpoint, "text": c.text, "owner": c.owner,
                "due_date": c.due_date.isoformat(), "status": c.status, "response": c.response,
                "closing_note": c.closing_note,
            } for number, c in enumerate(s.exec(select(Condition).where(Condition.proposal_id == p.id)
                                                .order_by(Condition.id)), start=1)]
            reviews = []
            for r in s.exec(select(Review).where(Review.proposal_id == p.id).order_by(Review.id)):
                dec = s.exec(select(Decision).where(Decision.review_id == r.id)).first()
                current = self._current_ratings(s, r)
                reviews.append({
                    "checkpoint": r.checkpoint, "reviewer": users.get(r.reviewer_id),
                    "lead": person_words(people.get(r.reviewer_id)),
                    "version": next((v.number for v in versions if v.id == r.version_id), None),
                    "started_at": r.started_at.isoformat(),
                    "ratings": {d: x.rating for d, x in current.items()},
                    # who rated each domain (the lead, when the rating came with the decision before the panel)
                    "rated_by": {d: person_words(people.get(x.rated_by if x.rated_by is not None else
                                                            r.reviewer_id)) for d, x in current.items()},
                    "rated_by_user": {d: users.get(x.rated_by) for d, x in current.items()},
                    "decision": ({"outcome": dec.outcome, "rationale": dec.rationale, "by": users.get(dec.by),
                                  "at": dec.at.isoformat(), "proposed_by": person_words(people.get(dec.by)),
                                  "countersigned_by": (person_words(people.get(dec.countersigned_by))
                                                       if dec.countersigned_by is not None else None),
                                  "countersigned_by_user": users.get(dec.countersigned_by)}
                                 if dec else None),
                })
            out["reviews"] = reviews
            out["panel"] = self._panel(s, p, facts, people)
            out["comments"] = [{"author": users.get(c.author_id),
                                "author_name": names.get(c.author_id), "checkpoint": c.checkpoint, "text": c.text,
                                "at": c.at.isoformat()}
                               for c in s.exec(select(Comment).where(Comment.proposal_id == p.id).order_by(Comment.id))]
            by_username = {u.username: names[i] for i, u in people.items()}
            out["history"] = [{"action": e.action, "actor": e.actor, "actor_name": by_username.get(e.actor, e.actor),
                               "from_state": e.from_state,
                               "to_state": e.to_state, "checkpoint": e.checkpoint, "at": e.at.isoformat(),
                               "reason": e.reason}
                              for e in s.exec(select(AuditEvent).where(AuditEvent.proposal_id == p.id)
                                              .order_by(AuditEvent.id))]
            # where the proposal's messages go, and the last change of it, so the page can show them side by side
            change = next((h for h in reversed(out["history"]) if h["action"] == AuditKind.CONTACT_CHANGED), None)
            out["contact"] = {"address": p.contact_email, "change": change["reason"] if change else None,
                              "changed_at": change["at"] if change else None}
            return out
        return self._run(run)

    @staticmethod
    def _waiver_row(number: int, w: Waiver, users: dict[int, str], names: dict[int, str]) -> dict:
        return {"id": number, "checkpoint": w.checkpoint, "rule_id": w.rule_id, "place": w.place,
                "message": w.message, "version": w.version_number, "fingerprint": w.fingerprint,
                "status": w.status, "reason": w.reason, "requested_by": users.get(w.requested_by),
                "requested_by_name": names.get(w.requested_by),
                "requested_at": iso_time(w.requested_at), "ruled_by": users.get(w.ruled_by) if w.ruled_by else None,
                "ruled_by_name": names.get(w.ruled_by) if w.ruled_by else None,
                "ruled_at": iso_time(w.ruled_at) if w.ruled_at else None, "ruling": w.ruling}

    @staticmethod
    def _query_rows(s: Session, p: Proposal, users: dict[int, str], names: dict[int, str]) -> list[dict]:
        """Every query of the proposal with its thread in the order written."""
        queries = list(s.exec(select(Query).where(Query.proposal_id == p.id).order_by(Query.id)))
        thread: dict[int, list[dict]] = {q.id: [] for q in queries}
        if queries:
            # the documents each answer gave in support, oldest first
            given: dict[int, list[dict]] = {}
            for link, doc in s.exec(select(QueryDocument, EvidenceDocument)
                                    .join(EvidenceDocument, EvidenceDocument.id == QueryDocument.document_id)
                                    .join(QueryMessage, QueryMessage.id == QueryDocument.message_id)
                                    .where(QueryMessage.query_id.in_(list(thread)))
                                    .order_by(QueryDocument.message_id, EvidenceDocument.id)):
                given.setdefault(link.message_id, []).append(
                    {"reference": doc.reference, "title": doc.title, "filename": doc.filename, "sha256": doc.sha256})
            for m in s.exec(select(QueryMessage).where(QueryMessage.query_id.in_(list(thread)))
                            .order_by(QueryMessage.id)):
                thread[m.query_id].append({"step": m.step, "message_id": m.id, "author": users.get(m.author_id),
                                           "author_name": names.get(m.author_id),
                                           "text": m.text, "at": iso_time(m.at), "documents": given.get(m.id, [])})
        return [{"id": n, "checkpoint": q.checkpoint, "subject": q.subject, "about": q.about,
                 "fingerprint": q.fingerprint, "due_date": q.due_date.isoformat() if q.due_date else None,
                 "status": q.status, "raised_by": users.get(q.raised_by),
                 "raised_by_name": names.get(q.raised_by), "raised_at": iso_time(q.raised_at),
                 "thread": thread[q.id]} for n, q in enumerate(queries, start=1)]

    def _panel(self, s: Session, p: Proposal, facts: ProposalFacts, people: dict[int, User]) -> dict:
        """The review panel of a proposal: who declared what, who leads, and the decision waiting for a
        countersignature (with the ones sent back before it)."""
        declarations = [{"reviewer": people[d.user_id].username, "name": person_words(people[d.user_id]),
                         "body": people[d.user_id].body, "conflict": d.conflict, "organisation": d.organisation,
                         "note": d.note, "checkpoint": d.checkpoint, "at": d.at.isoformat()}
                        for d in s.exec(select(Declaration).where(Declaration.proposal_id == p.id)
                                        .order_by(Declaration.id))]
        review = self._open_review(s, p)
        proposed = []
        if review is not None:
            for d in s.exec(select(ProposedDecision).where(ProposedDecision.review_id == review.id)
                            .order_by(ProposedDecision.id)):
                proposed.append({
                    "outcome": d.outcome, "rationale": d.rationale,
                    "conditions": [{"text": t, "owner": o, "due_date": due} for t, o, due in
                                   json.loads(d.conditions_json)],
                    "proposed_by": people[d.proposed_by].username, "proposer": person_words(people[d.proposed_by]),
                    "proposed_at": d.proposed_at.isoformat(), "status": d.closed_as or "waiting",
                    "closed_by": people[d.closed_by].username if d.closed_by in people else None,
                    "note": d.note})
        lead = next((u for u in people.values() if u.username == facts.lead), None) if facts.lead else None
        return {"lead": facts.lead, "lead_name": person_words(lead) if lead else facts.lead,
                "declarations": declarations, "proposed": proposed,
                "waiting_for_countersignature": facts.proposed_by is not None,
                "other_body_needed": facts.other_body_needed}

    def states_over_time(self, actor: str) -> list[dict]:
        """How many visible proposals were in each state at the end of each day (from the audit history)."""
        def run(s: Session) -> list[dict]:
            user = self._user(s, actor)
            q = (select(AuditEvent.proposal_id, AuditEvent.at, AuditEvent.to_state)
                 .join(Proposal, Proposal.id == AuditEvent.proposal_id)
                 .where(AuditEvent.to_state.is_not(None)).order_by(AuditEvent.at, AuditEvent.id))
            q = self._scoped(q, user, "see the review queue")
            current: dict[int, str] = {}
            counts: dict[str, int] = {}
            by_day: dict[str, dict[str, int]] = {}
            for pid, at, to_state in s.execute(q):
                before = current.get(pid)
                if before is not None:
                    counts[before] -= 1
                current[pid] = to_state
                counts[to_state] = counts.get(to_state, 0) + 1
                by_day[iso_time(at)[:10]] = dict(counts)
            return [{"day": d, **c} for d, c in sorted(by_day.items())]
        return self._run(run)

    def sha_known(self, sha256: str) -> bool:
        """Whether these exact bytes were assured already (as a version or an unassigned upload)."""
        def run(s: Session) -> bool:
            return bool(s.exec(select(SubmissionVersion.id).where(SubmissionVersion.sha256 == sha256)).first()
                        or s.exec(select(UnassignedUpload.id).where(UnassignedUpload.sha256 == sha256)).first())
        return self._run(run)

    def version_findings(self, actor: str, reference: str, number: int) -> list[dict]:
        def run(s: Session) -> list[dict]:
            user = self._user(s, actor)
            p = self._proposal(s, user, reference)
            v = s.exec(select(SubmissionVersion).where(SubmissionVersion.proposal_id == p.id,
                                                       SubmissionVersion.number == number)).first()
            if v is None:
                raise NotFound(f"{reference} has no version {number}")
            return [{**{k: getattr(f, k) for k in ("rule_id", "severity", "domain", "sheet", "row", "column", "cell",
                                                   "message", "source")}, "fingerprint": finding_fingerprint(f)}
                    for f in s.exec(select(FindingRecord).where(FindingRecord.version_id == v.id)
                                    .order_by(FindingRecord.id))]
        return self._run(run)

    def version_bytes(self, actor: str, reference: str, number: int) -> tuple[str, bytes]:
        def run(s: Session) -> tuple[str, str]:
            user = self._user(s, actor)
            p = self._proposal(s, user, reference)
            v = s.exec(select(SubmissionVersion).where(SubmissionVersion.proposal_id == p.id,
                                                       SubmissionVersion.number == number)).first()
            if v is None:
                raise NotFound(f"{reference} has no version {number}")
            return v.filename, v.sha256
        name, sha = self._run(run)
        try:
            data = self.files.get(sha)
        except OriginalsError as exc:
            raise StoreError(str(exc)) from None
        # whichever store kept them, the bytes handed out are the ones the version recorded
        if hashlib.sha256(data).hexdigest() != sha:
            raise StoreError(f"the original {sha[:12]}… is corrupt: its bytes do not match their SHA-256")
        return name, data

"""Queries and waivers: the two conversations between the panel and the commissioner (docs/workflow.md).

A query is the panel's question while it reviews, on a finding, a field or cell, or the proposal; the
commissioner answers, and the panel resolves it or follows it up, as one thread kept in order.  A waiver is the
commissioner's request that an error finding not block, which a reviewer grants or refuses.  Every step is one
transaction that checks the state machine's guards (`lifecycle`), records an audit event and queues a message
to the other side in the outbox.  Numbers name queries and waivers within their proposal (1, 2, …), as the
CLI and the pages show them.
"""

from __future__ import annotations

import datetime as dt
from typing import Sequence

from sqlmodel import Session, select

from isap.review import notices
from isap.review.errors import NotFound, WorkflowError
from isap.review.events import AuditKind, NotificationKind
from isap.review.evidence import EvidenceInput, checked_words, judged, kept, named
from isap.review.lifecycle import (
    Action,
    FindingFacts,
    QueryFacts,
    QueryStatus,
    QueryStep,
    QuerySubject,
    WaiverFacts,
    WaiverStatus,
)
from isap.review.limits import TextKind, checked_text
from isap.review.records import finding_fingerprint
from isap.review.unit_of_work import UnitOfWork
from isap.review.wording import finding_place, person_words
from isap.store.models import (
    FindingRecord,
    Proposal,
    Query,
    QueryDocument,
    QueryMessage,
    Review,
    SubmissionVersion,
    User,
    Waiver,
)


class QueriesAndWaivers(UnitOfWork):
    # ------------------------------------------------------------------ queries
    def raise_query(self, actor: str, reference: str, text: str, finding_id: int | None = None,
                    place: str | None = None, due_date: dt.date | None = None) -> int:
        """Put a query to the commissioner: on a finding of the latest version (`finding_id`, as `show` lists
        it), on a field or cell (`place`, such as "Cover C7"), or, with neither, on the proposal; its number."""
        text = checked_text(TextKind.QUERY, text)
        if not text:
            raise WorkflowError("a query needs some text")
        place = checked_text(TextKind.QUERY_PLACE, place) or None
        if finding_id is not None and place is not None:
            raise WorkflowError("a query is about one thing: a finding or a field or cell, not both")
        if due_date is not None and not isinstance(due_date, dt.date):
            raise WorkflowError("a query's due date must be a date YYYY-MM-DD")

        def run(s: Session) -> int:
            user = self._user(s, actor)
            p = self._proposal(s, user, reference)
            self._guard(s, Action.RAISE_QUERY, user, p)
            if due_date is not None and due_date < self.clock().date():
                raise WorkflowError(f"the due date {due_date.isoformat()} has passed; give a later one or none")
            subject, about, print_ = QuerySubject.PROPOSAL, None, None
            if finding_id is not None:
                f = self._latest_finding(s, p, finding_id)
                subject, about, print_ = QuerySubject.FINDING, f"{f.rule_id} at {finding_place(f)}"[:200], \
                    finding_fingerprint(f)
            elif place is not None:
                subject, about = QuerySubject.CELL, place
            now = self.clock()
            q = Query(proposal_id=p.id, checkpoint=p.checkpoint, subject=subject, about=about, fingerprint=print_,
                      due_date=due_date, status=QueryStatus.AWAITING_ANSWER, raised_by=user.id, raised_at=now)
            s.add(q)
            s.flush()
            s.add(QueryMessage(query_id=q.id, step=QueryStep.QUESTION, author_id=user.id, text=text, at=now))
            number = self._query_number(s, p, q.id)
            self._bump(s, p, None)
            words = _about_words(subject, about)
            due = f", due {due_date.isoformat()}" if due_date else ""
            self._audit(s, p, AuditKind.QUERY_RAISED, user.username, reason=f"query {number} on {words}{due}: {text}")
            self._notify(s, NotificationKind.QUERY_RAISED, f"query-raised:{q.id}",
                         [p.contact_email, *self._commissioner_addresses(s, p)],
                         notices.query_raised(p.reference, p.title, number, words, text, due_date, person_words(user),
                                              self._link(p)), p, p.checkpoint, contact=p.contact_email)
            return number
        return self._run(run)

    def answer_query(self, actor: str, reference: str, number: int, text: str,
                     documents: Sequence[str] = (), attachments: Sequence[EvidenceInput] = ()) -> None:
        """The commissioner's answer to a query that waits for one; it goes back to the panel.  It may give documents
        in support (docs/decisions/0053-documents-with-answers.md): `documents` names attached ones by their short
        id (the start of their SHA-256), `attachments` are new ones, judged as any evidence document is and kept
        for the proposal's checkpoint.  Nothing is kept unless everything is."""
        text = checked_text(TextKind.QUERY_ANSWER, text)
        if not text:
            raise WorkflowError("an answer needs some text")
        for item in attachments:
            checked_words(item.kind, item.title, item.reference)
        if attachments:
            # who may answer, before any document is judged (a refused person's file is never parsed)
            self._run(lambda s: self._guarded_query(s, Action.ANSWER_QUERY, self._user(s, actor),
                                                    self._proposal(s, self._user(s, actor), reference), number))
        judged_documents = [judged(self, item, actor) for item in attachments]

        def run(s: Session) -> None:
            user = self._user(s, actor)
            p = self._proposal(s, user, reference)
            q = self._guarded_query(s, Action.ANSWER_QUERY, user, p, number)
            given = named(s, p, list(documents)) if documents else []
            given += [kept(self, s, user, p, p.checkpoint, doc) for doc in judged_documents]
            m = self._query_step(s, p, q, user, QueryStep.ANSWER, QueryStatus.ANSWERED, text)
            for doc in given:
                s.add(QueryDocument(message_id=m.id, document_id=doc.id))
            with_documents = (f" (with {', '.join(f'“{d.reference}”' for d in given)})" if given else "")
            self._audit(s, p, AuditKind.QUERY_ANSWERED, user.username,
                        reason=f"query {number}{with_documents}: {text}")
            self._notify(s, NotificationKind.QUERY_ANSWERED, f"query-answered:{m.id}", self._panel_addresses(s, p, q),
                         notices.query_answered(p.reference, p.title, number, text, person_words(user),
                                                self._reviewers_link(s, p)), p, p.checkpoint)
        self._run(run)

    def follow_up_query(self, actor: str, reference: str, number: int, text: str) -> None:
        """The panel asks again on an answered query; it waits for the commissioner once more."""
        text = checked_text(TextKind.QUERY, text)
        if not text:
            raise WorkflowError("a follow-up needs some text")

        def run(s: Session) -> None:
            user = self._user(s, actor)
            p = self._proposal(s, user, reference)
            q = self._guarded_query(s, Action.FOLLOW_UP_QUERY, user, p, number)
            m = self._query_step(s, p, q, user, QueryStep.FOLLOW_UP, QueryStatus.AWAITING_ANSWER, text)
            self._audit(s, p, AuditKind.QUERY_FOLLOWED_UP, user.username, reason=f"query {number}: {text}")
            self._notify(s, NotificationKind.QUERY_FOLLOWED_UP, f"query-followed-up:{m.id}",
                         [p.contact_email, *self._commissioner_addresses(s, p)],
                         notices.query_raised(p.reference, p.title, number, _about_words(q.subject, q.about), text,
                                              q.due_date, person_words(user), self._link(p), follow_up=True),
                         p, p.checkpoint, contact=p.contact_email)
        self._run(run)

    def resolve_query(self, actor: str, reference: str, number: int, note: str) -> None:
        """The panel closes an open query, saying why."""
        note = checked_text(TextKind.CLOSING_NOTE, note)
        if not note:
            raise WorkflowError("resolving a query needs a note")

        def run(s: Session) -> None:
            user = self._user(s, actor)
            p = self._proposal(s, user, reference)
            q = self._guarded_query(s, Action.RESOLVE_QUERY, user, p, number)
            m = self._query_step(s, p, q, user, QueryStep.RESOLUTION, QueryStatus.RESOLVED, note)
            self._audit(s, p, AuditKind.QUERY_RESOLVED, user.username, reason=f"query {number}: {note}")
            self._notify(s, NotificationKind.QUERY_RESOLVED, f"query-resolved:{m.id}",
                         [p.contact_email, *self._commissioner_addresses(s, p)],
                         notices.query_resolved(p.reference, p.title, number, note, person_words(user), self._link(p)),
                         p, p.checkpoint, contact=p.contact_email)
        self._run(run)

    def _guarded_query(self, s: Session, action: Action, user: User, p: Proposal, number: int) -> Query:
        """The proposal's query `number`, once the state machine allows `action` on it."""
        q = self._query(s, p, number) if isinstance(number, int) and number >= 1 else None
        self._guard(s, action, user, p, QueryFacts(number, QueryStatus(q.status), self._last_answerer(s, q))
                    if q else None)
        if q is None:
            raise NotFound(f"{p.reference} has no query {number}")
        return q

    def _query_step(self, s: Session, p: Proposal, q: Query, user: User, step: QueryStep, status: QueryStatus,
                    text: str) -> QueryMessage:
        m = QueryMessage(query_id=q.id, step=step, author_id=user.id, text=text, at=self.clock())
        s.add(m)
        q.status = status
        s.add(q)
        s.flush()
        self._bump(s, p, None)  # two people acting on one query at once: the second is refused
        return m

    @staticmethod
    def _last_answerer(s: Session, q: Query) -> str | None:
        """Who gave the query's latest answer, if it has one."""
        return s.exec(select(User.username).join(QueryMessage, QueryMessage.author_id == User.id)
                      .where(QueryMessage.query_id == q.id, QueryMessage.step == QueryStep.ANSWER)
                      .order_by(QueryMessage.id.desc()).limit(1)).first()

    @staticmethod
    def _query(s: Session, p: Proposal, number: int) -> Query | None:
        """The proposal's query `number` (1, 2, … in the order they were raised), if it has one."""
        return s.exec(select(Query).where(Query.proposal_id == p.id).order_by(Query.id)
                      .offset(number - 1).limit(1)).first()

    @staticmethod
    def _query_number(s: Session, p: Proposal, query_id: int) -> int:
        ids = list(s.exec(select(Query.id).where(Query.proposal_id == p.id).order_by(Query.id)))
        return ids.index(query_id) + 1

    def _panel_addresses(self, s: Session, p: Proposal, q: Query) -> list[str]:
        """Who on the panel hears of an answer: whoever raised the query and the reviewer who took the review;
        every reviewer when neither has an address."""
        ids = [q.raised_by]
        review = self._last_review(s, p)
        if review is not None:
            ids.append(review.reviewer_id)
        found = self._mailable(self._users(s, ids))
        return found or self._reviewer_addresses(s)

    @staticmethod
    def _last_review(s: Session, p: Proposal) -> Review | None:
        """The proposal's latest review, decided or not."""
        return s.exec(select(Review).where(Review.proposal_id == p.id).order_by(Review.id.desc())).first()

    @staticmethod
    def _users(s: Session, ids: list[int]) -> list[User]:
        """The accounts with these ids, in the order they were made."""
        return list(s.exec(select(User).where(User.id.in_(ids)).order_by(User.id)))

    @staticmethod
    def _finding(s: Session, version: SubmissionVersion, finding_id: int) -> FindingRecord | None:
        """The finding `finding_id` of `version`, if it is one of that version's."""
        return s.exec(select(FindingRecord).where(FindingRecord.id == finding_id,
                                                  FindingRecord.version_id == version.id)).first()

    def _latest_finding(self, s: Session, p: Proposal, finding_id: int) -> FindingRecord:
        latest = self._latest(s, p)
        f = None if latest is None or not isinstance(finding_id, int) else self._finding(s, latest, finding_id)
        if f is None:
            which = f"version {latest.number}" if latest is not None else "its latest version"
            raise NotFound(f"{which} of {p.reference} has no finding {finding_id} (`show` lists them)")
        return f

    # ------------------------------------------------------------------ waivers
    def request_waiver(self, actor: str, reference: str, finding_id: int, reason: str) -> int:
        """Ask that one error finding of the latest version (`finding_id`, as `show` lists it) not block the
        proposal at its checkpoint; the waiver's number."""
        reason = checked_text(TextKind.WAIVER_REASON, reason)
        if not reason:
            raise WorkflowError("a waiver request needs a reason")

        def run(s: Session) -> int:
            user = self._user(s, actor)
            p = self._proposal(s, user, reference)
            self._guard(s, Action.REQUEST_WAIVER, user, p)
            f = self._latest_finding(s, p, finding_id)
            print_ = finding_fingerprint(f)
            existing = self._waivers_at(s, p, p.checkpoint).get(print_)
            self._guard(s, Action.REQUEST_WAIVER, user, p,
                        FindingFacts(f.rule_id, f.severity, WaiverStatus(existing.status) if existing else None))
            latest = self._latest(s, p)
            w = Waiver(proposal_id=p.id, checkpoint=p.checkpoint, fingerprint=print_, rule_id=f.rule_id,
                       place=finding_place(f)[:200], message=f.message, version_number=latest.number, reason=reason,
                       status=WaiverStatus.REQUESTED, requested_by=user.id, requested_at=self.clock())
            s.add(w)
            s.flush()
            number = self._waiver_number(s, p, w.id)
            self._bump(s, p, None)
            self._audit(s, p, AuditKind.WAIVER_REQUESTED, user.username,
                        reason=f"waiver {number} of {f.rule_id} at {w.place}: {reason}")
            self._notify(s, NotificationKind.WAIVER_REQUESTED, f"waiver-requested:{w.id}", self._reviewer_addresses(s),
                         notices.waiver_requested(p.reference, p.title, number, f.rule_id, w.place, reason,
                                                  person_words(user), self._reviewers_link(s, p)), p, p.checkpoint)
            return number
        return self._run(run)

    def rule_on_waiver(self, actor: str, reference: str, number: int, grant: bool, reason: str) -> None:
        """Grant or refuse waiver request `number`, with a reason."""
        reason = checked_text(TextKind.WAIVER_RULING, reason)
        if not reason:
            raise WorkflowError(f"{'granting' if grant else 'refusing'} a waiver needs a reason")

        def run(s: Session) -> None:
            user = self._user(s, actor)
            p = self._proposal(s, user, reference)
            action = Action.GRANT_WAIVER if grant else Action.REFUSE_WAIVER
            waivers = self._waivers(s, p) if isinstance(number, int) and number >= 1 else []
            w = waivers[number - 1] if len(waivers) >= number >= 1 else None
            asker = s.get(User, w.requested_by) if w else None
            self._guard(s, action, user, p, WaiverFacts(number, WaiverStatus(w.status),
                                                        asker.username if asker else "") if w else None)
            if w is None:
                raise NotFound(f"{p.reference} has no waiver {number}")
            w.status = WaiverStatus.GRANTED if grant else WaiverStatus.REFUSED
            w.ruled_by, w.ruled_at, w.ruling = user.id, self.clock(), reason
            s.add(w)
            self._bump(s, p, None)
            self._audit(s, p, AuditKind.WAIVER_GRANTED if grant else AuditKind.WAIVER_REFUSED, user.username,
                        reason=f"waiver {number} of {w.rule_id} at {w.place}: {reason}", checkpoint=w.checkpoint)
            kind = NotificationKind.WAIVER_GRANTED if grant else NotificationKind.WAIVER_REFUSED
            self._notify(s, kind, f"waiver-ruled:{w.id}", [p.contact_email, *self._commissioner_addresses(s, p)],
                         notices.waiver_ruled(p.reference, p.title, number, w.rule_id, w.place, grant, reason,
                                              person_words(user), w.checkpoint, self._link(p)),
                         p, w.checkpoint, contact=p.contact_email)
        self._run(run)

    def grant_waiver(self, actor: str, reference: str, number: int, reason: str) -> None:
        self.rule_on_waiver(actor, reference, number, True, reason)

    def refuse_waiver(self, actor: str, reference: str, number: int, reason: str) -> None:
        self.rule_on_waiver(actor, reference, number, False, reason)

    def _waiver_number(self, s: Session, p: Proposal, waiver_id: int) -> int:
        return [w.id for w in self._waivers(s, p)].index(waiver_id) + 1


def _about_words(subject: str, about: str | None) -> str:
    if subject == QuerySubject.PROPOSAL or not about:
        return "the proposal as a whole"
    return f"the finding {about}" if subject == QuerySubject.FINDING else about

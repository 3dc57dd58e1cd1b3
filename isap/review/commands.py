"""The commands of the review: each checks its guards and changes the proposal in one unit of work.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Iterable

from sqlmodel import Session, select

from isap.review import lifecycle, notices, staging, wording
from isap.review.calendar import NATIONAL_FIGURES
from isap.review.errors import Conflict, Forbidden, NotFound, Refused, WorkflowError
from isap.review.events import AuditKind, NotificationKind
from isap.review.lifecycle import (
    Action,
    ConditionFacts,
    ConditionStatus,
    Outcome,
    Role,
    State,
    WarningFacts,
)
from isap.review.limits import TextKind, checked_text
from isap.review.records import finding_record, stored_name
from isap.review.types import DOMAINS, RATINGS, ConditionInput, UploadResult
from isap.review.unit_of_work import UnitOfWork
from isap.review.wording import finding_place, person_words, readable_size
from isap.store.db import StoreError
from isap.store.models import (
    Acknowledgement,
    Comment,
    Condition,
    Decision,
    Declaration,
    Organisation,
    Proposal,
    ProposedDecision,
    Rating,
    Review,
    SubmissionVersion,
    UnassignedUpload,
    User,
    decision_record,
    rating_record,
)
from isap.store.originals import OriginalsError
from isap.text import without_controls


class Commands(UnitOfWork):
    # ------------------------------------------------------------------ upload
    def upload(self, actor: str, filename: str, data: bytes, report: Any = None,
               staged_id: str | None = None) -> UploadResult:
        """Check a workbook and keep it: a new proposal, a new version, or (identical bytes) nothing new.

        With `staged_id`, that staged upload is finished in the same transaction (`isap.review.staging`): if
        another run finished it meanwhile, nothing is kept and AlreadyFinished is raised."""
        import hashlib

        from isap.rules.engine import check_bytes

        sha = hashlib.sha256(data).hexdigest()
        report = report if report is not None else check_bytes(data, filename, self.policy)
        report.file = stored_name(filename)
        # text from the workbook that the proposal keeps, without characters the store cannot hold (a NUL)
        for name in ("title", "provider_type", "provider_name", "integration_model"):
            if isinstance(getattr(report, name, None), str):
                setattr(report, name, without_controls(getattr(report, name)).strip() or None)
        report_dict = report.to_dict()
        unassigned = report.proposal_reference is None or report.lead_commissioner_code is None
        if unassigned:  # refused before anything is stored
            self._run(lambda s: self._within_quota(s, self._user(s, actor), len(data)))

        def keep_bytes(s: Session) -> None:
            # Only once every guard has let the upload through, so a refused upload leaves nothing behind;
            # inside the transaction, so the record never exists without its bytes.
            try:
                self.files.put(data, s)
            except OriginalsError as exc:
                raise StoreError(str(exc)) from None

        def run(s: Session) -> UploadResult:
            user = self._user(s, actor)
            self._may_ever(Action.UPLOAD, user)
            ref = report.proposal_reference
            code = report.lead_commissioner_code
            summary = report.summary
            contact = _contact_of(report, self.policy)
            if unassigned:
                self._within_quota(s, user, len(data))  # again, in the transaction that keeps it
                self._within_storage_quotas(s, s.get(Organisation, user.organisation_id)
                                            if user.organisation_id is not None else None, len(data))
                keep_bytes(s)
                kept = UnassignedUpload(sha256=sha, filename=stored_name(filename), size=len(data),
                                        uploaded_by=user.id, report_json=json.dumps(report_dict))
                s.add(kept)
                s.flush()
                self._audit(s, None, AuditKind.UPLOAD_UNASSIGNED, user.username,
                            reason=f"{report.file}: kept as unassigned upload {kept.id}")
                return UploadResult(None, None, False, False, summary["error"], summary["warning"], sha,
                                    report_dict, kept_as=f"unassigned upload {kept.id}",
                                    message=_unassigned_message(report))
            org = self._organisation_coded(s, code)
            if user.role == Role.COMMISSIONER:
                mine = s.get(Organisation, user.organisation_id)
                if mine is None or mine.code != code:
                    raise Forbidden(f"the workbook's lead_commissioner_code is {code}, not your organisation's "
                                    f"({mine.code if mine else 'none'})")
            if org is None:
                raise NotFound(f"unknown organisation {code}: an administrator must add it first")
            # a reference is unique within its organisation: another organisation's proposal with the same
            # reference is a different proposal, never found here and never mentioned
            p = self._proposal_of(s, org, ref)
            created = False
            if p is None:
                title = report.title or ""  # the first version names it: no title change to record
                now = self.clock()
                p = Proposal(reference=ref, title=title, organisation_id=org.id, checkpoint=1, state=State.DRAFT,
                             contact_email=contact, state_since=now, created_at=now, updated_at=now)
                s.add(p)
                s.flush()
                created = True
                self._audit(s, p, AuditKind.PROPOSAL_CREATED, user.username, None, State.DRAFT)
            existing = self._version_with(s, p, sha)
            latest = self._last_version_number(s, p)
            if existing is not None:
                result = UploadResult(ref, existing.number, False, True, existing.errors, existing.warnings, sha,
                                      report_dict, message=f"Identical to version {existing.number}: nothing new kept.",
                                      latest_version=latest, organisation=org.code)
                if result.repeats_earlier_version:
                    result.message = (f"{ref} is identical to version {existing.number}, an earlier version: nothing "
                                      f"new was kept, and version {latest} is still the latest.")
                # nothing was asked of the proposal, but the answer must not read as if work on it could go on
                closed = lifecycle.refusal(Action.UPLOAD, self._facts(s, p), self._actor(user, p))
                if closed is not None and not closed.forbidden:
                    result.message += f" {closed.reason}"
                    result.takes_no_new_version = True
                return result
            self._guard(s, Action.UPLOAD, user, p)
            self._within_storage_quotas(s, org, len(data), p)
            keep_bytes(s)
            number = latest + 1
            v = SubmissionVersion(proposal_id=p.id, number=number, uploaded_at=self.clock(),
                                  sha256=sha, filename=stored_name(filename),
                                  size=len(data), uploaded_by=user.id, checkpoint=report.checkpoint,
                                  errors=summary["error"], warnings=summary["warning"], infos=summary["info"],
                                  catalogue_version=report.catalogue_version, policy_json=json.dumps(report.policy),
                                  report_json=json.dumps(report_dict),
                                  evidence_references=json.dumps(list(getattr(report, "evidence_references", []))))
            s.add(v)
            s.flush()
            s.add_all(finding_record(v.id, f) for f in report.findings)
            changes: dict[str, Any] = {}
            if report.provider_type and report.provider_type != p.provider_type:
                changes["provider_type"] = report.provider_type
            # the key figures of the latest version, for the national view (a blank leaves the one before)
            for name in NATIONAL_FIGURES:
                value = getattr(report, name, None)
                if value is not None and value != getattr(p, name):
                    changes[name] = value
            retitled_from = None
            if report.title and report.title != p.title:
                changes["title"] = report.title
                retitled_from = p.title
            previous_contact = p.contact_email
            # the same mailbox in another case is no change (mail systems treat it as one)
            recontacted = contact is not None and (previous_contact or "").casefold() != contact.casefold()
            if recontacted:
                changes["contact_email"] = contact
            self._bump(s, p, None, **changes)
            self._audit(s, p, AuditKind.VERSION_UPLOADED, user.username,
                        reason=f"version {number} ({report.file})")
            if retitled_from is not None:
                self._audit(s, p, AuditKind.TITLE_CHANGED, user.username,
                            reason=f"version {number} changed the title from “{retitled_from}” to “{report.title}”")
            if recontacted:
                # the next decision letter, with the reviewer's reasons, goes to the new contact: the change is
                # on the record, and the contact before is told (where isap sends it mail)
                self._audit(s, p, AuditKind.CONTACT_CHANGED, user.username,
                            reason=notices.contact_change_words(number, previous_contact, contact))
                if previous_contact:
                    self._notify(s, NotificationKind.CONTACT_CHANGED,
                                 f"contact-changed:{p.reference}:v{number}:proposal{p.id}",
                                 [previous_contact],
                                 notices.contact_changed(p.reference, p.title, number, person_words(user),
                                                         previous_contact, contact, self._link(p)),
                                 p, p.checkpoint, contact=previous_contact)
            system = self._system_user(s)
            self._audit(s, p, AuditKind.CHECKED, system.username,
                        reason=f"version {number}: {wording.errors_and_warnings(summary['error'], summary['warning'])}")
            self._notify(s, NotificationKind.VERSION_CHECKED, f"checked:{p.reference}:v{number}:proposal{p.id}",
                         [p.contact_email],
                         notices.version_checked(p.reference, p.title, number, summary["error"], summary["warning"],
                                                 self._link(p)), p, p.checkpoint, contact=p.contact_email)
            mismatch = ("" if report.checkpoint == p.checkpoint
                        else lifecycle.checkpoint_mismatch(ref, number, report.checkpoint, p.checkpoint))
            return UploadResult(ref, number, created, False, summary["error"], summary["warning"], sha, report_dict,
                                message=mismatch,
                                retitled=None if created or retitled_from is None else (retitled_from, report.title),
                                latest_version=number, organisation=org.code)
        def run_and_finish(s: Session) -> UploadResult:
            result = run(s)
            if staged_id is not None and not staging.finish_in(s, staged_id, staging.StagedState.DONE,
                                                               staging.describe(result), result, self.clock()):
                raise staging.AlreadyFinished("this upload was finished by another run")
            return result
        return self._run(run_and_finish)

    def _within_quota(self, s: Session, user: User, size: int) -> None:
        """Refuse an upload that would be kept unassigned past its organisation's quota (policy).

        Refused files and files that cannot name their proposal are kept byte
        for byte, so without a bound anyone could fill the disk with them.  The
        quota is per organisation (administrators without one share a quota);
        what is already kept is never touched.
        """
        count, used = self._unassigned_kept(s, user)
        most, most_bytes = self.policy.max_kept_unassigned_uploads, self.policy.max_kept_unassigned_bytes
        if count >= most or used + size > most_bytes:
            raise Refused(f"your organisation already keeps {count} upload(s) that were refused or could not name "
                          f"their proposal ({readable_size(used)}); the policy allows at most {most} uploads and "
                          f"{readable_size(most_bytes)}, so this file was not kept. Upload a workbook that names its "
                          "proposal on the Cover, or ask an administrator to clear the unassigned uploads")

    # ------------------------------------------------------------------ commissioner actions
    def acknowledge(self, actor: str, reference: str, rule_id: str, note: str, cell: str | None = None,
                    expected_version: int | None = None, finding_id: int | None = None,
                    sheet: str | None = None) -> int:
        """Give one warning of the latest version its explanatory note; returns the finding's id.

        Every warning can be named: by `finding_id` (as `show` lists it), or by
        its rule narrowed by `cell` (`-` for the occurrence that has no cell)
        and `sheet`.  A name that fits several warnings is refused with the way
        to name each of them.
        """
        note = checked_text(TextKind.NOTE, note)
        if not note:
            raise WorkflowError("an acknowledgement needs an explanatory note")

        def run(s: Session) -> int:
            user = self._user(s, actor)
            p = self._proposal(s, user, reference)
            self._guard(s, Action.ACKNOWLEDGE, user, p)
            latest = self._latest(s, p)
            found = self._warnings(s, latest, rule_id)
            wanted = []
            if finding_id is not None:
                found = [f for f in found if f.id == finding_id]
                wanted.append(f"number {finding_id}")
            if cell is not None and cell.strip():
                no_cell = cell.strip() == "-"
                found = [f for f in found if (not f.cell if no_cell else (f.cell or "") == cell.strip().upper())]
                wanted.append("without a cell" if no_cell else f"at {cell.strip().upper()}")
            if sheet is not None and sheet.strip():
                found = [f for f in found if (f.sheet or "").casefold() == sheet.strip().casefold()]
                wanted.append(f"on sheet {sheet.strip()}")
            if not found:
                raise NotFound(f"version {latest.number} of {reference} has no {rule_id} warning"
                               + (" " + " ".join(wanted) if wanted else ""))
            if len(found) > 1:
                ways = "; ".join(f"--finding {f.id} ({finding_place(f)})" for f in found)
                raise WorkflowError(f"{rule_id} is raised {len(found)} times: say which with {ways}")
            f = found[0]
            answered = self._acknowledged(s, f)
            self._guard(s, Action.ACKNOWLEDGE, user, p, WarningFacts(rule_id, answered))
            s.add(Acknowledgement(finding_id=f.id, note=note, by=user.id, at=self.clock()))
            self._bump(s, p, expected_version)
            self._audit(s, p, AuditKind.WARNING_ACKNOWLEDGED, user.username,
                        reason=f"{rule_id} {finding_place(f)}: {note.strip()}")
            return f.id
        return self._run(run)

    def submit(self, actor: str, reference: str, expected_version: int | None = None) -> None:
        def run(s: Session) -> None:
            user = self._user(s, actor)
            p = self._proposal(s, user, reference)
            facts = self._guard(s, Action.SUBMIT, user, p)
            self._transition(s, p, user, AuditKind.SUBMITTED, lifecycle.TABLE[Action.SUBMIT].to_state, expected_version,
                             reason=f"version {facts.latest_version} for checkpoint {p.checkpoint}")
            org = s.get(Organisation, p.organisation_id)
            self._notify(s, NotificationKind.SUBMITTED, f"submitted:{p.reference}:{p.version}:proposal{p.id}",
                         self._reviewer_addresses(s),
                         notices.submitted(p.reference, p.title, org.name if org else "", facts.latest_version,
                                           p.checkpoint, self.policy.review_target_working_days,
                                           self._reviewers_link(s, p)),
                         p, p.checkpoint)
        self._run(run)

    def withdraw(self, actor: str, reference: str, reason: str | None = None,
                 expected_version: int | None = None) -> None:
        reason = checked_text(TextKind.REASON, reason) or None

        def run(s: Session) -> None:
            user = self._user(s, actor)
            p = self._proposal(s, user, reference)
            self._guard(s, Action.WITHDRAW, user, p)
            self._transition(s, p, user, AuditKind.WITHDRAWN, lifecycle.TABLE[Action.WITHDRAW].to_state,
                             expected_version, reason=reason)
        self._run(run)

    def answer_condition(self, actor: str, reference: str, condition_id: int, response: str) -> None:
        response = checked_text(TextKind.ANSWER, response)
        if not response:
            raise WorkflowError("an answer needs some text")

        def run(s: Session) -> None:
            user = self._user(s, actor)
            p = self._proposal(s, user, reference)
            c = self._guarded_condition(s, Action.ANSWER_CONDITION, user, p, condition_id)
            c.response = response
            s.add(c)
            self._bump(s, p, None)
            self._audit(s, p, AuditKind.CONDITION_ANSWERED, user.username,
                        reason=f"condition {condition_id}: {response.strip()}")
        self._run(run)

    # ------------------------------------------------------------------ reviewer actions
    def _allowed(self, s: Session, action: Action, actor: str, reference: str) -> tuple[User, Proposal]:
        """The acting user and the proposal, once the state machine allows `action`; its reason otherwise."""
        user = self._user(s, actor)
        p = self._proposal(s, user, reference)
        self._guard(s, action, user, p)
        return user, p

    def take(self, actor: str, reference: str, expected_version: int | None = None) -> None:
        def run(s: Session) -> None:
            user, p = self._allowed(s, Action.TAKE, actor, reference)
            latest = self._latest(s, p)
            s.add(Review(proposal_id=p.id, version_id=latest.id, checkpoint=p.checkpoint, reviewer_id=user.id,
                         started_at=self.clock()))
            self._transition(s, p, user, AuditKind.TAKEN, lifecycle.TABLE[Action.TAKE].to_state, expected_version)
            self._notify(s, NotificationKind.TAKEN_INTO_REVIEW, f"taken:{p.reference}:{p.version}:proposal{p.id}",
                         [p.contact_email],
                         notices.taken(p.reference, p.title, p.checkpoint, person_words(user), self._link(p)),
                         p, p.checkpoint, contact=p.contact_email)
        self._run(run)

    def return_submission(self, actor: str, reference: str, reason: str,
                          expected_version: int | None = None) -> None:
        reason = checked_text(TextKind.REASON, reason)
        if not reason:
            raise WorkflowError("returning a submission needs a reason")

        def run(s: Session) -> None:
            user, p = self._allowed(s, Action.RETURN, actor, reference)
            self._transition(s, p, user, AuditKind.RETURNED, lifecycle.TABLE[Action.RETURN].to_state, expected_version,
                             reason=reason.strip())
        self._run(run)

    def comment(self, actor: str, reference: str, text: str) -> None:
        text = checked_text(TextKind.COMMENT, text)
        if not text:
            raise WorkflowError("a comment needs some text")

        def run(s: Session) -> None:
            user, p = self._allowed(s, Action.COMMENT, actor, reference)
            s.add(Comment(proposal_id=p.id, checkpoint=p.checkpoint, author_id=user.id, text=text,
                          at=self.clock()))
            self._bump(s, p, None)
            self._audit(s, p, AuditKind.COMMENTED, user.username, reason=text.strip())
        self._run(run)

    # ------------------------------------------------------------------ the review panel
    def declare(self, actor: str, reference: str, conflict_with: str | None = None, note: str | None = None,
                conflict: bool | None = None) -> bool:
        """Record a reviewer's declaration of interests in a proposal: none, or a conflict with a named
        organisation and a note (`conflict_with`).  Returns whether a conflict was declared."""
        conflict_with = checked_text(TextKind.CONFLICT_WITH, conflict_with) or None
        note = checked_text(TextKind.DECLARATION, note) or None
        conflict = bool(conflict_with) if conflict is None else conflict
        if conflict and not conflict_with:
            raise WorkflowError("a declared conflict of interest names the organisation it is with")
        if conflict and not note:
            raise WorkflowError("a declared conflict of interest needs a note saying what it is")

        def run(s: Session) -> bool:
            user = self._user(s, actor)
            p = self._proposal(s, user, reference)
            self._guard(s, Action.DECLARE, user, p, lifecycle.DeclarationFacts(conflict))
            s.add(Declaration(proposal_id=p.id, user_id=user.id, checkpoint=p.checkpoint, conflict=conflict,
                              organisation=conflict_with, note=note, at=self.clock()))
            # not a change of the proposal: one reviewer declaring does not make another's page out of date
            if conflict:
                self._audit(s, p, AuditKind.CONFLICT_DECLARED, user.username, reason=f"with {conflict_with}: {note}")
            else:
                self._audit(s, p, AuditKind.INTERESTS_DECLARED, user.username, reason=note)
            return conflict
        return self._run(run)

    def rate(self, actor: str, reference: str, domain: str, rating: str) -> None:
        """A panel member's rating of one assurance domain, with their name on it; a later rating of the same
        domain replaces it (both are kept)."""
        domain, rating = _domain_and_rating(domain, rating)

        def run(s: Session) -> None:
            user, p = self._allowed(s, Action.RATE, actor, reference)
            self._rated(s, p, user, {domain: rating})
            self._bump(s, p, None)
        self._run(run)

    def _rated(self, s: Session, p: Proposal, user: User, ratings: dict[str, str]) -> None:
        """Keep ratings of the open review by `user`, each sealed in the event that records it."""
        review = self._open_review(s, p)
        if review is None:
            raise Conflict(f"{p.reference} was changed by someone else since you loaded it; reload and try again")
        for d in DOMAINS:
            if d not in ratings:
                continue
            r = Rating(review_id=review.id, domain=d, rating=ratings[d], rated_by=user.id, rated_at=self.clock())
            s.add(r)
            s.flush()  # its id, which the seal covers
            self._audit(s, p, AuditKind.DOMAIN_RATED, user.username,
                        reason=f"{lifecycle.AssuranceDomain(d).label}: {ratings[d]}", record=rating_record(r))

    def propose(self, actor: str, reference: str, outcome: str, ratings: dict[str, str], rationale: str,
                conditions: Iterable[ConditionInput] = (), expected_version: int | None = None) -> None:
        """The lead reviewer's proposed checkpoint decision: it takes effect only at a second reviewer's
        countersignature.  `ratings` may rate any domain (replacing the panel's rating of it); every domain must
        be rated, here or before."""
        rationale = checked_text(TextKind.RATIONALE, rationale)
        conditions = [ConditionInput(checked_text(TextKind.CONDITION, c.text),
                                     checked_text(TextKind.CONDITION_OWNER, c.owner), c.due_date) for c in conditions]
        if outcome not in tuple(Outcome):
            raise WorkflowError(f"outcome must be one of {', '.join(Outcome)}, not {outcome!r}")
        outcome = Outcome(outcome)
        unknown = [d for d in ratings if d not in DOMAINS]
        bad = [f"{d}={r}" for d, r in ratings.items() if r not in RATINGS]
        if unknown:
            raise WorkflowError(f"unknown assurance domain(s): {', '.join(unknown)} (use {', '.join(DOMAINS)})")
        if bad:
            raise WorkflowError(f"ratings must be green, amber or red: {', '.join(bad)}")

        def run(s: Session) -> None:
            user, p = self._allowed(s, Action.DECIDE, actor, reference)
            review = self._open_review(s, p)
            if review is None:
                raise Conflict(f"{reference} was changed by someone else since you loaded it; reload and try again")
            rated = {d: r.rating for d, r in self._current_ratings(s, review).items()}
            incomplete = lifecycle.decision_refusal(outcome, {**rated, **ratings}, rationale, len(conditions))
            if incomplete is not None:
                raise Refused(incomplete.reason)
            self._rated(s, p, user, {d: r for d, r in ratings.items() if rated.get(d) != r})
            s.add(ProposedDecision(review_id=review.id, proposal_id=p.id, checkpoint=p.checkpoint, outcome=outcome,
                                   rationale=rationale, proposed_by=user.id, proposed_at=self.clock(),
                                   conditions_json=json.dumps([[c.text, c.owner, c.due_date.isoformat()]
                                                               for c in conditions])))
            self._bump(s, p, expected_version)
            self._audit(s, p, AuditKind.DECISION_PROPOSED, user.username,
                        reason=f"{outcome.label}: {rationale.strip()}")
            others = self._other_reviewer_addresses(s, user)
            self._notify(s, NotificationKind.DECISION_PROPOSED, f"proposed:{p.reference}:{p.version}:proposal{p.id}",
                         others, notices.decision_proposed(p.reference, p.title, p.checkpoint, outcome,
                                                           person_words(user), self._reviewers_link(s, p)),
                         p, p.checkpoint)
        self._run(run)

    def countersign(self, actor: str, reference: str, expected_version: int | None = None) -> None:
        """A second reviewer's countersignature: the proposed decision takes effect, with its conditions, the
        state change, the letter and the notifications."""
        def run(s: Session) -> None:
            user, p = self._allowed(s, Action.COUNTERSIGN, actor, reference)
            review = self._open_review(s, p)
            pending = self._pending(s, review)
            if review is None or pending is None:
                raise Conflict(f"{reference} was changed by someone else since you loaded it; reload and try again")
            now = self.clock()
            outcome = Outcome(pending.outcome)
            conditions = [ConditionInput(t, o, dt.date.fromisoformat(d)) for t, o, d in json.loads(
                pending.conditions_json)]
            review.decided_at = now
            pending.closed_as, pending.closed_by, pending.closed_at = "countersigned", user.id, now
            s.add_all([review, pending])
            current = self._current_ratings(s, review)
            decision = Decision(review_id=review.id, proposal_id=p.id, checkpoint=p.checkpoint, outcome=outcome,
                                rationale=pending.rationale, by=pending.proposed_by, at=now,
                                countersigned_by=user.id)
            s.add(decision)
            s.flush()  # its id, which the seal on the decision's event covers
            all_ratings = self._ratings(s, review)
            for c in conditions:
                s.add(Condition(proposal_id=p.id, review_id=review.id, checkpoint=p.checkpoint, text=c.text,
                                owner=c.owner, due_date=c.due_date))
            decided_at = p.checkpoint  # the decision and its conditions belong to the checkpoint decided
            from_state = p.state
            to_state, checkpoint = lifecycle.outcome_effect(outcome, decided_at)
            changes = {"checkpoint": checkpoint} if checkpoint != decided_at else {}
            proposer = s.get(User, pending.proposed_by)
            self._bump(s, p, expected_version, state=to_state, **changes)
            self._audit(s, p, AuditKind.decided(outcome), user.username, from_state, to_state,
                        wording.decision_details(pending.rationale.strip(),
                                                 {d: current[d].rating for d in DOMAINS if d in current})
                        + f" (proposed by {proposer.username if proposer else '?'}, countersigned by {user.username})",
                        checkpoint=decided_at, record=decision_record(decision, all_ratings))
            for c in conditions:
                self._audit(s, p, AuditKind.CONDITION_RAISED, user.username,
                            reason=f"{c.text} (owner {c.owner}, due {wording.day(c.due_date)})", checkpoint=decided_at)
            notice = notices.decided(p.reference, p.title, decided_at, outcome, pending.rationale,
                                     [(c.text, c.owner, c.due_date) for c in conditions], self._link(p),
                                     panel=(person_words(proposer), person_words(user)))
            self._notify(s, NotificationKind.DECISION_RECORDED, f"decided:{p.reference}:review{review.id}",
                         [p.contact_email, *self._commissioner_addresses(s, p)], notice, p, decided_at,
                         attachment="decision_letter", contact=p.contact_email)
            # the lead who proposed it learns it has taken effect, and from whom
            self._notify(s, NotificationKind.DECISION_COUNTERSIGNED, f"countersigned:{p.reference}:review{review.id}",
                         self._mailable([proposer]),
                         notices.decision_countersigned(p.reference, p.title, decided_at, outcome, person_words(user),
                                                        self._reviewers_link(s, p)), p, decided_at)
        self._run(run)

    def send_back(self, actor: str, reference: str, note: str, expected_version: int | None = None) -> None:
        """A second reviewer sends the proposed decision back to the lead with a note; the proposal stays in
        review, and nothing of the proposed decision takes effect."""
        note = checked_text(TextKind.SEND_BACK_NOTE, note)
        if not note:
            raise WorkflowError("sending a decision back needs a note for the lead reviewer")

        def run(s: Session) -> None:
            user, p = self._allowed(s, Action.SEND_BACK, actor, reference)
            pending = self._pending(s, self._open_review(s, p))
            if pending is None:
                raise Conflict(f"{reference} was changed by someone else since you loaded it; reload and try again")
            pending.closed_as, pending.closed_by, pending.closed_at, pending.note = (
                "sent_back", user.id, self.clock(), note)
            s.add(pending)
            self._bump(s, p, expected_version)
            self._audit(s, p, AuditKind.DECISION_SENT_BACK, user.username, reason=note)
            proposer = s.get(User, pending.proposed_by)
            self._notify(s, NotificationKind.DECISION_SENT_BACK, f"sent-back:{p.reference}:{p.version}:proposal{p.id}",
                         self._mailable([proposer]),
                         notices.decision_sent_back(p.reference, p.title, p.checkpoint, person_words(user), note,
                                                    self._reviewers_link(s, p)), p, p.checkpoint)
        self._run(run)

    def _guarded_condition(self, s: Session, action: Action, user: User, p: Proposal, condition_id: int) -> Condition:
        """The proposal's condition number `condition_id` (1, 2, … within the proposal), once the state machine
        allows `action` on it."""
        c = None
        if isinstance(condition_id, int) and condition_id >= 1:
            c = s.exec(select(Condition).where(Condition.proposal_id == p.id).order_by(Condition.id)
                       .offset(condition_id - 1).limit(1)).first()
        self._guard(s, action, user, p, ConditionFacts(condition_id, ConditionStatus(c.status)) if c else None)
        if c is None:
            raise NotFound(f"{p.reference} has no condition {condition_id}")
        return c

    def discharge(self, actor: str, reference: str, condition_id: int, note: str, carry_forward: bool = False) -> None:
        note = checked_text(TextKind.CLOSING_NOTE, note)
        if not note:
            raise WorkflowError("discharging a condition needs a note")

        def run(s: Session) -> None:
            user = self._user(s, actor)
            p = self._proposal(s, user, reference)
            action = Action.CARRY_FORWARD_CONDITION if carry_forward else Action.DISCHARGE_CONDITION
            c = self._guarded_condition(s, action, user, p, condition_id)
            c.status = ConditionStatus.CARRIED_FORWARD if carry_forward else ConditionStatus.DISCHARGED
            c.closed_by, c.closed_at, c.closing_note = user.id, self.clock(), note
            s.add(c)
            self._bump(s, p, None)
            self._audit(s, p, AuditKind.CONDITION_CARRIED_FORWARD if carry_forward else AuditKind.CONDITION_DISCHARGED,
                        user.username, reason=f"condition {condition_id}: {note.strip()}")
        self._run(run)


def _domain_and_rating(domain: str, rating: str) -> tuple[str, str]:
    """A domain and rating as typed ("Service scope", "Green") in their stored form; a clear error otherwise."""
    d = (domain or "").strip().lower().replace(" ", "_")
    r = (rating or "").strip().lower()
    if d not in DOMAINS:
        raise WorkflowError(f"unknown assurance domain {domain!r} (use {', '.join(DOMAINS)})")
    if r not in RATINGS:
        raise WorkflowError(f"a rating must be green, amber or red, not {rating!r}")
    return d, r


def _contact_of(report: Any, policy: Any) -> str | None:
    """The workbook's contact_email in its normal form, if isap sends it mail: an address the policy refuses
    (GOV004 on the version) never becomes the proposal's contact."""
    from isap.policy.addresses import mail_address

    contact = getattr(report, "contact_email", None)
    if not isinstance(contact, str) or not policy.sends_mail_to(contact):
        return None
    return mail_address(contact)


def _unassigned_message(report: Any) -> str:
    """The headline of an upload that names no proposal: what stops the file being checked comes first, when
    something does (a plain-text file, a damaged workbook), since that is what the commissioner must fix."""
    from isap.rules.engine import FILE_LEVEL

    refusal = next((f for f in report.findings if f.rule_id in FILE_LEVEL), None)
    if refusal is not None:
        return f"This file cannot be checked: {refusal.message} It is kept, and its findings are below."
    return ("The file does not name its proposal (a valid proposal_reference and lead_commissioner_code on the "
            "Cover); it is kept, and its findings are below.")

"""The review state machine of docs/workflow.md, as one table.

Every rule of the workflow that decides *whether* something may happen lives
here: the states, who may act, the transitions and their guards.  The
service applies a command only after `refusal()` says nothing stands in its
way; the dashboard offers exactly the actions `allowed_actions()` lists and
shows the banner `next_step()` gives; the CLI prints the same refusal text.
Nothing here touches the database: guards are pure functions of a
`ProposalFacts` snapshot that the service reads inside the command's own
transaction, so what a page offers and what the service does cannot drift.

The enums' values are the strings the store has always held, so the
database needs no migration.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from isap.policy.evidence import EvidenceKind
from isap.review.evidence_references import grouped

if TYPE_CHECKING:
    from isap.policy import Policy


class State(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    IN_REVIEW = "in_review"
    RETURNED = "returned"
    ASSURED = "assured"
    HALTED = "halted"
    WITHDRAWN = "withdrawn"

    @property
    def label(self) -> str:
        return STATE_LABELS[self]

    @property
    def terminal(self) -> bool:
        return self in TERMINAL

    @property
    def phrase(self) -> str:
        """The state after "ISAP-2026-014 is …"."""
        return "a draft" if self is State.DRAFT else self.label.lower()


class Role(StrEnum):
    COMMISSIONER = "commissioner"
    REVIEWER = "reviewer"
    ADMIN = "admin"
    SYSTEM = "system"  # the automated checks' own account

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]


class Outcome(StrEnum):
    """What a reviewer decides at a checkpoint; not a state (see `outcome_effect`)."""

    APPROVED = "approved"
    APPROVED_WITH_CONDITIONS = "approved_with_conditions"
    RETURNED = "returned"
    HALTED = "halted"

    @property
    def label(self) -> str:
        return OUTCOME_LABELS[self]


class Action(StrEnum):
    UPLOAD = "upload"
    ACKNOWLEDGE = "acknowledge"
    SUBMIT = "submit"
    WITHDRAW = "withdraw"
    ANSWER_CONDITION = "answer_condition"
    COMMENT = "comment"
    TAKE = "take"
    RETURN = "return"
    DECIDE = "decide"
    DISCHARGE_CONDITION = "discharge_condition"
    CARRY_FORWARD_CONDITION = "carry_forward_condition"
    PLAN_SUBMISSION = "plan_submission"
    AGREE_PLAN = "agree_plan"
    # queries and waivers (docs/workflow.md, "Queries and waivers")
    RAISE_QUERY = "raise_query"
    ANSWER_QUERY = "answer_query"
    FOLLOW_UP_QUERY = "follow_up_query"
    RESOLVE_QUERY = "resolve_query"
    REQUEST_WAIVER = "request_waiver"
    GRANT_WAIVER = "grant_waiver"
    REFUSE_WAIVER = "refuse_waiver"
    # the review panel (docs/workflow.md "The review panel")
    DECLARE = "declare"
    RATE = "rate"
    COUNTERSIGN = "countersign"
    SEND_BACK = "send_back"
    ATTACH_EVIDENCE = "attach_evidence"  # docs/workflow.md, "Evidence"

    @property
    def label(self) -> str:
        return ACTION_LABELS[self]


class Body(StrEnum):
    """The national body a reviewer works for: ISAP is run jointly by the two."""

    NHS_ENGLAND = "nhs_england"
    NHS_IMPROVEMENT = "nhs_improvement"

    @property
    def label(self) -> str:
        return BODY_LABELS[self]


class Rating(StrEnum):
    GREEN = "green"
    AMBER = "amber"
    RED = "red"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class AssuranceDomain(StrEnum):
    CAPITALISATION = "capitalisation"
    TRANSPARENCY = "transparency"
    SERVICE_SCOPE = "service_scope"
    RELATIONSHIPS = "relationships"
    GOVERNANCE = "governance"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


class ConditionStatus(StrEnum):
    OPEN = "open"
    DISCHARGED = "discharged"
    CARRIED_FORWARD = "carried_forward"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


class QueryStatus(StrEnum):
    """Where a query is: with the commissioner, with the panel, or closed."""

    AWAITING_ANSWER = "awaiting_answer"
    ANSWERED = "answered"
    RESOLVED = "resolved"

    @property
    def label(self) -> str:
        return QUERY_STATUS_LABELS[self]

    @property
    def open(self) -> bool:
        return self is not QueryStatus.RESOLVED


class QuerySubject(StrEnum):
    """What a query is about: one finding, one field or cell of the workbook, or the proposal as a whole."""

    FINDING = "finding"
    CELL = "cell"
    PROPOSAL = "proposal"

    @property
    def label(self) -> str:
        return QUERY_SUBJECT_LABELS[self]


class QueryStep(StrEnum):
    """One message of a query's thread, in the order written."""

    QUESTION = "question"
    ANSWER = "answer"
    FOLLOW_UP = "follow_up"
    RESOLUTION = "resolution"

    @property
    def label(self) -> str:
        return QUERY_STEP_LABELS[self]


class WaiverStatus(StrEnum):
    REQUESTED = "requested"
    GRANTED = "granted"
    REFUSED = "refused"

    @property
    def label(self) -> str:
        return WAIVER_STATUS_LABELS[self]


TERMINAL = frozenset({State.ASSURED, State.HALTED, State.WITHDRAWN})
NON_TERMINAL = frozenset(State) - TERMINAL
ANY_STATE = frozenset(State)
PREPARING = frozenset({State.DRAFT, State.RETURNED})  # the commissioner's turn: versions, notes, submission
WAITING_FOR_REVIEW = frozenset({State.SUBMITTED, State.IN_REVIEW})  # the reviewers' turn: the policy target runs
LAST_CHECKPOINT = 3

# What a commissioner can do when it is not their turn to change a proposal (after the reason why).
NOT_YOUR_TURN = {
    State.SUBMITTED: "It waits for a reviewer now: to change it first, ask a reviewer to return it to you (they can "
                     "until it is taken into review).",
    State.IN_REVIEW: "A reviewer is deciding on it now: once the decision returns it to you, or approves it for the "
                     "next checkpoint, it is yours to change again.",
    State.ASSURED: "It has passed its last checkpoint, so it is complete: nothing more is added to it.",
    State.HALTED: "A checkpoint decision halted it, so it is closed: to propose again, upload a workbook with a new "
                  "proposal_reference on its Cover sheet.",
    State.WITHDRAWN: "It is closed: to propose again, upload a workbook with a new proposal_reference on its Cover "
                     "sheet.",
}
STATE_LABELS = {
    State.DRAFT: "Draft", State.SUBMITTED: "Submitted", State.IN_REVIEW: "In review",
    State.RETURNED: "Returned", State.ASSURED: "Assured", State.HALTED: "Halted", State.WITHDRAWN: "Withdrawn",
}
BODY_LABELS = {Body.NHS_ENGLAND: "NHS England", Body.NHS_IMPROVEMENT: "NHS Improvement"}
ROLE_LABELS = {
    Role.COMMISSIONER: "Commissioner", Role.REVIEWER: "Reviewer (NHS England or NHS Improvement)",
    Role.ADMIN: "Administrator", Role.SYSTEM: "Automated check",
}
_ROLE_PLURALS = {Role.COMMISSIONER: "commissioners", Role.REVIEWER: "reviewers", Role.ADMIN: "administrators",
                 Role.SYSTEM: "automated checks"}
OUTCOME_LABELS = {
    Outcome.APPROVED: "Approved", Outcome.APPROVED_WITH_CONDITIONS: "Approved with conditions",
    Outcome.RETURNED: "Returned", Outcome.HALTED: "Halted",
}
ACTION_LABELS = {
    Action.UPLOAD: "Upload a version", Action.ACKNOWLEDGE: "Answer a warning", Action.SUBMIT: "Submit",
    Action.WITHDRAW: "Withdraw", Action.ANSWER_CONDITION: "Answer a condition", Action.COMMENT: "Comment",
    Action.TAKE: "Take into review", Action.RETURN: "Return without a decision", Action.DECIDE: "Propose the decision",
    Action.DISCHARGE_CONDITION: "Discharge a condition", Action.CARRY_FORWARD_CONDITION: "Carry a condition forward",
    Action.PLAN_SUBMISSION: "Plan a submission date", Action.AGREE_PLAN: "Agree a planned date",
    Action.RAISE_QUERY: "Raise a query", Action.ANSWER_QUERY: "Answer a query",
    Action.FOLLOW_UP_QUERY: "Follow up a query", Action.RESOLVE_QUERY: "Resolve a query",
    Action.REQUEST_WAIVER: "Ask for a waiver", Action.GRANT_WAIVER: "Grant a waiver",
    Action.REFUSE_WAIVER: "Refuse a waiver",
    Action.DECLARE: "Declare interests", Action.RATE: "Rate a domain", Action.COUNTERSIGN: "Countersign the decision",
    Action.SEND_BACK: "Send the decision back",
    Action.REFUSE_WAIVER: "Refuse a waiver", Action.ATTACH_EVIDENCE: "Attach an evidence document",
}
QUERY_STATUS_LABELS = {QueryStatus.AWAITING_ANSWER: "Waiting for the commissioner's answer",
                       QueryStatus.ANSWERED: "Answered: waiting for the panel", QueryStatus.RESOLVED: "Resolved"}
QUERY_SUBJECT_LABELS = {QuerySubject.FINDING: "A finding", QuerySubject.CELL: "A field or cell",
                        QuerySubject.PROPOSAL: "The proposal"}
QUERY_STEP_LABELS = {QueryStep.QUESTION: "Query", QueryStep.ANSWER: "Answer", QueryStep.FOLLOW_UP: "Follow-up",
                     QueryStep.RESOLUTION: "Resolved"}
WAIVER_STATUS_LABELS = {WaiverStatus.REQUESTED: "Requested", WaiverStatus.GRANTED: "Granted",
                        WaiverStatus.REFUSED: "Refused"}
# The reader's own refusals of a file (unreadable, macros, past a safety limit) are never waived: nothing was read.
NEVER_WAIVED = frozenset({"WB001", "WB002", "WB003"})

REVIEWERS = frozenset({Role.REVIEWER, Role.ADMIN})
OWNERS = frozenset({Role.COMMISSIONER, Role.ADMIN})  # a commissioner only for their own organisation
EVERYONE = frozenset({Role.COMMISSIONER, Role.REVIEWER, Role.ADMIN})


def outcome_effect(outcome: Outcome, checkpoint: int) -> tuple[State, int]:
    """The state and checkpoint a decision leads to."""
    if outcome in (Outcome.APPROVED, Outcome.APPROVED_WITH_CONDITIONS):
        if checkpoint >= LAST_CHECKPOINT:
            return State.ASSURED, checkpoint
        return State.DRAFT, checkpoint + 1
    if outcome is Outcome.RETURNED:
        return State.RETURNED, checkpoint
    return State.HALTED, checkpoint


@dataclass(frozen=True)
class ProposalFacts:
    """What the guards need to know about one proposal, read in one transaction."""

    reference: str
    state: State
    checkpoint: int
    latest_version: int | None = None
    latest_checkpoint: int | None = None
    latest_errors: int = 0
    latest_warnings: int = 0
    unanswered_warnings: int = 0
    open_conditions: tuple[int, ...] = ()  # condition numbers, as the CLI and the pages name them
    open_earlier_conditions: tuple[int, ...] = ()  # open conditions from checkpoints before the current one
    plans_to_agree: tuple[int, ...] = ()  # checkpoints whose planned submission date waits for a reviewer's agreement
    # queries (numbered within the proposal) by where they are, and waivers
    queries_awaiting_answer: tuple[int, ...] = ()
    queries_answered: tuple[int, ...] = ()
    waived_errors: int = 0  # error findings of the latest version a granted waiver covers at this checkpoint
    waivable_errors: int = 0  # error findings of the latest version a commissioner may still ask to waive
    requested_waivers: tuple[int, ...] = ()  # waiver requests no reviewer has answered yet
    # the requests among them that name an error finding of the latest version: the reviewers' turn, not a fix
    errors_awaiting_waiver: tuple[int, ...] = ()
    # the review panel, for the review of the current checkpoint
    lead: str | None = None  # who took it into review
    proposed_by: str | None = None  # whose proposed decision waits for countersignature, if one does
    # how the words name them (`wording.person_words`): the user names above decide who may act, these say who
    lead_name: str | None = None
    proposer_name: str | None = None
    proposer_body: Body | None = None
    other_body_needed: bool = False  # the countersigner must be of the other body (policy countersign_other_body)
    declared: frozenset[str] = frozenset()  # reviewers who declared no conflict of interest
    conflicted: frozenset[str] = frozenset()  # reviewers who declared a conflict of interest
    declared_here: frozenset[str] = frozenset()  # reviewers who declared no conflict at the current checkpoint
    # evidence (docs/workflow.md, "Evidence"): the latest version's evidence_reference values that name no attached
    # document, and the kinds the policy requires at this checkpoint that no document attached for it has
    unnamed_evidence: tuple[str, ...] = ()
    missing_evidence: tuple[EvidenceKind, ...] = ()

    @property
    def leading(self) -> str | None:
        """Who leads the review now: whoever took it, unless they have since declared a conflict of interest (then
        no one does, and any other panel member proposes the decision)."""
        return self.lead if self.lead not in self.conflicted else None

    @property
    def lead_words(self) -> str | None:
        """The lead reviewer as the words name them: by name and job title where the store has them."""
        return self.lead_name or self.lead

    @property
    def proposer_words(self) -> str | None:
        """Who proposed the decision waiting for countersignature, as the words name them."""
        return self.proposer_name or self.proposed_by

    @property
    def open_queries(self) -> tuple[int, ...]:
        return tuple(sorted(self.queries_awaiting_answer + self.queries_answered))

    @property
    def blocking_errors(self) -> int:
        """The error findings of the latest version that stop a submission: those no waiver covers."""
        return max(self.latest_errors - self.waived_errors, 0)


@dataclass(frozen=True)
class Actor:
    username: str
    role: Role
    owns: bool  # a commissioner of the proposal's organisation (False for everyone else)
    body: Body | None = None  # a reviewer's national body


@dataclass(frozen=True)
class ConditionFacts:
    """The one condition a condition action names."""

    number: int
    status: ConditionStatus


@dataclass(frozen=True)
class WarningFacts:
    """The one warning an acknowledgement names."""

    rule_id: str
    acknowledged: bool


@dataclass(frozen=True)
class QueryFacts:
    """The one query a query action names."""

    number: int
    status: QueryStatus
    answered_by: str | None = None  # who gave its latest answer, if any


@dataclass(frozen=True)
class FindingFacts:
    """The one finding a waiver request names, and any waiver it already has at this checkpoint."""

    rule_id: str
    severity: str
    waiver: WaiverStatus | None = None


@dataclass(frozen=True)
class WaiverFacts:
    """The one waiver request a grant or refusal names."""

    number: int
    status: WaiverStatus
    requested_by: str = ""  # who asked for it (a user name): they never answer it themselves


@dataclass(frozen=True)
class PlanFacts:
    """The one checkpoint an agreement of a planned date names, and whether a date proposed for it waits."""

    checkpoint: int
    waiting: bool
    proposed_by: str | None = None  # who proposed the date waiting


@dataclass(frozen=True)
class EvidenceFacts:
    """The checkpoint an evidence document is attached for."""

    checkpoint: int


@dataclass(frozen=True)
class DeclarationFacts:
    """What a declaration of interests declares: a conflict, or none."""

    conflict: bool


Item = (ConditionFacts | WarningFacts | QueryFacts | FindingFacts | WaiverFacts | PlanFacts | EvidenceFacts
        | DeclarationFacts)


@dataclass(frozen=True)
class Refusal:
    """Why an action may not be done now.  `forbidden`: it is not this person's to do (their role, their
    organisation or their part on the review panel), as opposed to not yet or no longer possible."""

    reason: str
    forbidden: bool = False
    waiting: str | None = None  # when forbidden here: whom the action waits for, as a page says it

    def __str__(self) -> str:
        return self.reason


# A guard: why the action may not be done now (given the facts, the person and the item named), or None.
Guard = Callable[[Action, "ProposalFacts", "Actor", "Item | None"], "Refusal | None"]

# A reviewer who has declared no conflict has only a conflict left to declare: one that has arisen since.
CONFLICT_ARISEN = "Declare a conflict that has arisen"


@dataclass(frozen=True)
class ActionOption:
    """One action a page may show: `yours` when it is this person's to do (allowed now or not yet, with the
    reason), otherwise someone else's here, shown as `waiting` (whom it waits for) instead of a control."""

    action: Action
    allowed: bool
    reason: str | None  # why not, in plain words, when not allowed
    yours: bool = True
    waiting: str | None = None
    label: str = ""  # what this person's control is called (the action's label, unless it differs for them)


@dataclass(frozen=True)
class Blocker:
    """One thing that stops a submission: who must act, the refusal's words and the banner's."""

    who: frozenset[Role]
    reason: str
    task: str


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _listed(words: list[str], last: str = "and") -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + f" {last} " + words[-1]


def _numbers(ns: tuple[int, ...]) -> str:
    return _listed([str(n) for n in ns])


def waivers_named(ns: tuple[int, ...]) -> str:
    """"waiver 2", "waivers 1 and 3": the requests by their numbers on the proposal."""
    return f"waiver {ns[0]}" if len(ns) == 1 else f"waivers {_numbers(ns)}"


def role_refusal(action: Action, actor: Actor) -> Refusal | None:
    """Whether the actor's role may ever do the action (no proposal needed: an upload may create one)."""
    t = TABLE[action]
    if actor.role in t.roles:
        return None
    who = " and ".join(_ROLE_PLURALS[r] for r in Role if r in t.roles)
    article = "an" if actor.role.value[0] in "aeiou" else "a"
    return Refusal(f"{actor.username} is {article} {actor.role.value}: only {who} may {t.may}", forbidden=True)


def refusal(action: Action, facts: ProposalFacts, actor: Actor, item: Item | None = None) -> Refusal | None:
    """Why `actor` may not do `action` to this proposal now, or None when nothing stands in the way.

    The role, the organisation and the state come first, then the guards the action's row of `TABLE` lists, in
    their order; the first that refuses gives the reason.  `item` is the condition, warning, query, finding,
    waiver, plan or evidence checkpoint the action names, when it names one; without it the question is whether
    the action could be done to any.
    """
    t = TABLE[action]
    if (r := role_refusal(action, actor)) is not None:
        return r
    if t.owner_only and actor.role is Role.COMMISSIONER and not actor.owns:
        return Refusal(f"only the lead commissioner's organisation may do this to {facts.reference}", forbidden=True)
    if facts.state not in t.from_states:
        why = f"{facts.reference} is {facts.state.phrase}; only {_describe(t.from_states)} can be {t.done}"
        if t.from_states == PREPARING and actor.role is Role.COMMISSIONER and facts.state in NOT_YOUR_TURN:
            return Refusal(f"{why}. {NOT_YOUR_TURN[facts.state]}")  # and what the commissioner can do now
        return Refusal(why)
    for guard in t.guards:
        if (r := guard(action, facts, actor, item)) is not None:
            return r
    return None


# ---------------------------------------------------------------------- the guards
# Each guard is a pure function of (action, facts, actor, item) that returns a refusal or None; a row of TABLE
# lists the guards of its action in the order they are asked.  A guard that says an action is not this person's
# to do (forbidden) also says, in `waiting`, whom it waits for, so a page shows those words instead of a button.

def nothing_blocks_submission(action: Action, facts: ProposalFacts, actor: Actor, item: Item | None) -> Refusal | None:
    """The latest version is for this checkpoint, clean or answered, with its evidence, and no earlier condition
    is open: every blocker, in order, as the next step lists them (fixing one should not reveal another)."""
    blockers = submit_blockers(facts)
    return Refusal("; ".join(b.reason for b in blockers)) if blockers else None


def warning_unanswered(action: Action, facts: ProposalFacts, actor: Actor, item: Item | None) -> Refusal | None:
    """A warning of the latest version is acknowledged once, with an explanatory note."""
    warning = item if isinstance(item, WarningFacts) else None
    if facts.latest_version is None:
        return Refusal(f"{facts.reference} has no version yet")
    if warning is not None:
        return Refusal(f"that {warning.rule_id} warning is already acknowledged") if warning.acknowledged else None
    if facts.latest_warnings == 0:
        return Refusal(f"version {facts.latest_version} of {facts.reference} has no warnings")
    if facts.unanswered_warnings == 0:
        return Refusal(f"every warning of version {facts.latest_version} is already acknowledged")
    return None


def plan_waits_for_agreement(action: Action, facts: ProposalFacts, actor: Actor, item: Item | None) -> Refusal | None:
    """A reviewer agrees a planned submission date only while one waits for agreement: the proposal's first, then
    the named checkpoint's."""
    if not facts.plans_to_agree:
        return Refusal(f"{facts.reference} has no planned submission date waiting to be agreed")
    if isinstance(item, PlanFacts) and not item.waiting:
        return Refusal(f"{facts.reference} has no planned date for checkpoint {item.checkpoint} waiting to be agreed")
    return None


def own_plan_not_agreed(action: Action, facts: ProposalFacts, actor: Actor, item: Item | None) -> Refusal | None:
    """A date is agreed by someone other than whoever proposed it (an administrator may do both, not on one date)."""
    if isinstance(item, PlanFacts) and item.proposed_by == actor.username:
        return Refusal(f"checkpoint {item.checkpoint}'s date was proposed by {actor.username}: another reviewer "
                       "agrees it", forbidden=True)
    return None


def evidence_not_for_a_later_checkpoint(action: Action, facts: ProposalFacts, actor: Actor,
                                        item: Item | None) -> Refusal | None:
    """Evidence supports the checkpoint the proposal is at or an earlier one, never one not yet reached."""
    if isinstance(item, EvidenceFacts) and item.checkpoint > facts.checkpoint:
        return Refusal(f"{facts.reference} is at checkpoint {facts.checkpoint}: a document is attached for it or an "
                       "earlier checkpoint, not a later one")
    return None


def condition_open(action: Action, facts: ProposalFacts, actor: Actor, item: Item | None) -> Refusal | None:
    """A condition is answered, discharged or carried forward only while it is open."""
    if isinstance(item, ConditionFacts):
        if item.status is not ConditionStatus.OPEN:
            return Refusal(f"condition {item.number} is already {item.status.value.replace('_', ' ')}")
    elif not facts.open_conditions:
        return Refusal(f"{facts.reference} has no open condition")
    return None


def query_in_turn(action: Action, facts: ProposalFacts, actor: Actor, item: Item | None) -> Refusal | None:
    """A query is answered while it waits for the commissioner, followed up once answered, resolved while open.

    What the proposal allows comes first, then the one query named, so the reason does not depend on which
    query someone happened to name."""
    query = item if isinstance(item, QueryFacts) else None
    if not facts.open_queries:
        return Refusal(f"{facts.reference} has no open query")
    if action is Action.ANSWER_QUERY and not facts.queries_awaiting_answer:
        return Refusal(f"no query of {facts.reference} waits for an answer")
    if action is Action.FOLLOW_UP_QUERY and not facts.queries_answered:
        return Refusal(f"no query of {facts.reference} has been answered since it was asked")
    if query is not None:
        if query.status is QueryStatus.RESOLVED:
            return Refusal(f"query {query.number} is already resolved")
        if action is Action.ANSWER_QUERY and query.status is not QueryStatus.AWAITING_ANSWER:
            return Refusal(f"query {query.number} is already answered: the panel follows it up or resolves it")
        if action is Action.FOLLOW_UP_QUERY and query.status is not QueryStatus.ANSWERED:
            return Refusal(f"query {query.number} still waits for the commissioner's answer")
    return None


def own_answer_not_resolved(action: Action, facts: ProposalFacts, actor: Actor, item: Item | None) -> Refusal | None:
    """A query is resolved by someone other than whoever last answered it: an administrator may answer for the
    commissioner, but one person would then clear what stops the decision alone (as with waivers)."""
    if isinstance(item, QueryFacts) and item.answered_by == actor.username:
        return Refusal(f"query {item.number} was last answered by {actor.username}: another reviewer resolves it",
                       forbidden=True)
    return None


def error_waivable(action: Action, facts: ProposalFacts, actor: Actor, item: Item | None) -> Refusal | None:
    """A waiver is asked for on one error finding of the latest version, never on the reader's refusals, and once
    per finding and checkpoint."""
    finding = item if isinstance(item, FindingFacts) else None
    if facts.latest_version is None:
        return Refusal(f"{facts.reference} has no version yet")
    if facts.waivable_errors == 0:
        waiting = facts.errors_awaiting_waiver
        still = (f": {waivers_named(waiting)} {'is' if len(waiting) == 1 else 'are'} waiting for a reviewer's answer"
                 if waiting else "")
        return Refusal(f"version {facts.latest_version} of {facts.reference} has no error finding that can be "
                       f"waived{still}")
    if finding is not None:
        if finding.severity != "error":
            return Refusal(f"only an error finding can be waived; that {finding.rule_id} finding is a "
                           f"{finding.severity}")
        if finding.rule_id in NEVER_WAIVED:
            return Refusal(f"{finding.rule_id} is never waived: the file itself could not be read safely")
        if finding.waiver is WaiverStatus.GRANTED:
            return Refusal(f"that {finding.rule_id} finding is already waived at checkpoint {facts.checkpoint}")
        if finding.waiver is WaiverStatus.REQUESTED:
            return Refusal(f"a waiver of that {finding.rule_id} finding is already asked for")
    return None


def waiver_requested(action: Action, facts: ProposalFacts, actor: Actor, item: Item | None) -> Refusal | None:
    """A waiver is granted or refused only while its request waits for an answer: the proposal's first, then the
    one request named (as for queries)."""
    if not facts.requested_waivers:
        return Refusal(f"{facts.reference} has no waiver request waiting for an answer")
    if isinstance(item, WaiverFacts) and item.status is not WaiverStatus.REQUESTED:
        return Refusal(f"waiver {item.number} is already {item.status.value}")
    if isinstance(item, WaiverFacts) and item.requested_by == actor.username:
        # (an administrator may both ask and answer; one person would then clear a blocking error alone)
        return Refusal(f"waiver {item.number} was asked for by {actor.username}: another reviewer answers it",
                       forbidden=True)
    return None


# the review panel (docs/workflow.md "The review panel")

def conflict_stands(action: Action, facts: ProposalFacts, actor: Actor, item: Item | None) -> Refusal | None:
    """A declared conflict of interest stands for the proposal: nothing is declared after it."""
    if actor.username in facts.conflicted:
        return Refusal(f"{actor.username} has declared a conflict of interest in {facts.reference}; it stands for "
                       "the proposal")
    return None


def no_conflict_once(action: Action, facts: ProposalFacts, actor: Actor, item: Item | None) -> Refusal | None:
    """No conflict is declared once a checkpoint: after it only a conflict that has arisen since may be declared
    (a repeat would say nothing new, and would stand in the history as if it did)."""
    if isinstance(item, DeclarationFacts) and not item.conflict and actor.username in facts.declared_here:
        return Refusal(f"{actor.username} has already declared no conflict of interest in {facts.reference} at "
                       f"checkpoint {facts.checkpoint}: only a conflict that has arisen since may be declared")
    return None


def conflict_bars(action: Action, facts: ProposalFacts, actor: Actor, item: Item | None) -> Refusal | None:
    """A reviewer who declared a conflict of interest takes no part: others on the panel review the proposal."""
    if actor.username in facts.conflicted:
        return Refusal(f"{actor.username} has declared a conflict of interest in {facts.reference}, so may not take "
                       "it into review or return it, rate it, propose or countersign its decision, raise, follow up "
                       "or resolve its queries, answer its waivers, discharge its conditions or agree its dates",
                       forbidden=True,
                       waiting="You have declared a conflict of interest: others on the panel review it.")
    return None


def interests_declared(action: Action, facts: ProposalFacts, actor: Actor, item: Item | None) -> Refusal | None:
    """A reviewer declares their interests (none, or a conflict) before they take part."""
    if actor.username not in facts.declared:
        return Refusal(f"declare your interests in {facts.reference} first (none, or a conflict): a reviewer "
                       f"declares before they {TABLE[action].may.replace(' a proposal', ' it')}")
    return None


def ratings_stand_while_proposed(action: Action, facts: ProposalFacts, actor: Actor,
                                 item: Item | None) -> Refusal | None:
    """The ratings a proposed decision was made on stand until it is countersigned or sent back."""
    if facts.proposed_by is not None:
        return Refusal(f"the decision {facts.proposer_words} proposed on {facts.reference} waits for countersignature: "
                       "the ratings stand until it is countersigned or sent back")
    return None


def lead_proposes(action: Action, facts: ProposalFacts, actor: Actor, item: Item | None) -> Refusal | None:
    """Only the lead reviewer, who took the proposal into review, proposes its decision; a lead who has since
    declared a conflict of interest leads no more, and any other panel member proposes (found by a fresh attack:
    the proposal was frozen in review)."""
    if facts.leading is not None and actor.username != facts.leading:
        return Refusal(f"{facts.lead_words} leads the review of {facts.reference}: only the lead proposes the "
                       "decision (any panel member may rate a domain, and a second reviewer countersigns)",
                       forbidden=True, waiting=f"{facts.lead_words} leads the review and proposes the decision.")
    return None


def nothing_proposed_yet(action: Action, facts: ProposalFacts, actor: Actor, item: Item | None) -> Refusal | None:
    """One proposed decision waits at a time."""
    if facts.proposed_by is not None:
        return Refusal(f"a decision {facts.proposer_words} proposed on {facts.reference} already waits for "
                       "countersignature")
    return None


def proposer_still_on_the_panel(action: Action, facts: ProposalFacts, actor: Actor,
                                item: Item | None) -> Refusal | None:
    """A decision whose proposer has since declared a conflict of interest is never countersigned: it is sent back,
    and another panel member proposes (the conflict stands for the proposal, found by a fresh attack)."""
    if facts.proposed_by is not None and facts.proposed_by in facts.conflicted:
        return Refusal(f"{facts.proposer_words}, who proposed the decision on {facts.reference}, has since declared a "
                       "conflict of interest: send it back, and another panel member proposes it")
    return None


def proposer_of_a_body(action: Action, facts: ProposalFacts, actor: Actor, item: Item | None) -> Refusal | None:
    """Where the second reviewer must be of the other body, the proposer has a body: otherwise either body's
    reviewer would do (found by a fresh attack)."""
    if facts.other_body_needed and actor.body is None:
        return Refusal(f"at checkpoint {facts.checkpoint} the decision is proposed and countersigned by reviewers of "
                       f"{_listed([b.label for b in Body])}, one each (policy countersign_other_body): "
                       f"{actor.username} has no body recorded (isap user set {actor.username} --body …)",
                       forbidden=True)
    return None


def decision_proposed(action: Action, facts: ProposalFacts, actor: Actor, item: Item | None) -> Refusal | None:
    """A decision is countersigned or sent back only once the lead has proposed it."""
    if facts.proposed_by is None:
        return Refusal(f"no proposed decision on {facts.reference} waits for countersignature")
    return None


def own_proposal_not_countersigned(action: Action, facts: ProposalFacts, actor: Actor,
                                   item: Item | None) -> Refusal | None:
    """A second reviewer countersigns or sends back: never the proposer, nor the lead."""
    me = actor.username
    if facts.proposed_by is None and me == facts.lead:
        # nothing proposed yet: still never the lead's to countersign, and nothing waits for anyone
        return Refusal(f"{me} leads the review of {facts.reference}: once they propose its decision, a second "
                       f"reviewer must {'countersign it' if action is Action.COUNTERSIGN else 'send it back'}",
                       forbidden=True)
    if me in (facts.proposed_by, facts.lead):
        return Refusal(f"{me} proposed the decision on {facts.reference}: a second reviewer must "
                       f"{'countersign it' if action is Action.COUNTERSIGN else 'send it back'}", forbidden=True,
                       waiting=_countersigner_wanted(facts))
    return None


def other_body_countersigns(action: Action, facts: ProposalFacts, actor: Actor, item: Item | None) -> Refusal | None:
    """At the checkpoints the policy names (countersign_other_body), the second reviewer is of the other body."""
    if facts.other_body_needed and (actor.body is None or actor.body == facts.proposer_body):
        mine = actor.body.label if actor.body else "no body recorded"
        return Refusal(f"at checkpoint {facts.checkpoint} the second reviewer must be from {_other_body(facts)} "
                       f"(policy countersign_other_body); {actor.username} is {mine}", forbidden=True,
                       waiting=_countersigner_wanted(facts))
    return None


def no_open_query(action: Action, facts: ProposalFacts, actor: Actor, item: Item | None) -> Refusal | None:
    """An open query stops the decision being proposed or countersigned (docs/workflow.md, "The review panel")."""
    if not facts.open_queries:
        return None
    doing = "deciding" if action is Action.DECIDE else "countersigning"
    them = "it" if len(facts.open_queries) == 1 else "them"
    return Refusal(_open_queries_words(facts.open_queries) + f": resolve {them} before {doing}")


def _other_body(facts: ProposalFacts) -> str:
    return ("the other body" if facts.proposer_body is None
            else next(b for b in Body if b != facts.proposer_body).label)


def _countersigner_wanted(facts: ProposalFacts) -> str:
    who = f"a reviewer of {_other_body(facts)}" if facts.other_body_needed else "a second reviewer"
    return f"Waiting for {who} to countersign the proposed decision or send it back."


def _open_queries_words(ns: tuple[int, ...]) -> str:
    return f"query {ns[0]} is still open" if len(ns) == 1 else f"queries {_numbers(ns)} are still open"


PANEL = (conflict_bars, interests_declared)  # what a reviewer needs before taking part at all
# the lead is never the second reviewer, whether or not a decision is proposed yet, so that is asked first
SECOND_REVIEWER = (*PANEL, own_proposal_not_countersigned, decision_proposed, other_body_countersigns)


@dataclass(frozen=True)
class Transition:
    """One row of the table: from which states, by whom, to which state (None: the state stays), and the guards
    that must let it through, by name."""

    action: Action
    from_states: frozenset[State]
    roles: frozenset[Role]
    to_state: State | None
    may: str  # "only reviewers may …": what the action is, in words
    done: str  # "only a submitted proposal can be …"
    owner_only: bool = False  # commissioners act only on their own organisation's proposals
    guards: tuple[Guard, ...] = ()  # asked in order once role, organisation and state allow the action


TABLE: dict[Action, Transition] = {t.action: t for t in (
    Transition(Action.UPLOAD, PREPARING, OWNERS, None, "upload a version", "given a new version", owner_only=True),
    Transition(Action.ACKNOWLEDGE, PREPARING, OWNERS, None, "answer a warning",
               "given explanatory notes", owner_only=True, guards=(warning_unanswered,)),
    Transition(Action.SUBMIT, PREPARING, OWNERS, State.SUBMITTED, "submit a proposal", "submitted",
               owner_only=True, guards=(nothing_blocks_submission,)),
    Transition(Action.WITHDRAW, NON_TERMINAL, OWNERS, State.WITHDRAWN, "withdraw a proposal", "withdrawn",
               owner_only=True),
    Transition(Action.ANSWER_CONDITION, ANY_STATE, OWNERS, None, "answer a condition", "answered",
               owner_only=True, guards=(condition_open,)),
    Transition(Action.COMMENT, ANY_STATE, EVERYONE, None, "comment", "commented on", owner_only=True),
    Transition(Action.TAKE, frozenset({State.SUBMITTED}), REVIEWERS, State.IN_REVIEW,
               "take a proposal into review", "taken into review", guards=PANEL),
    Transition(Action.RETURN, frozenset({State.SUBMITTED}), REVIEWERS, State.RETURNED,
               "return a submission without a decision", "returned without a decision", guards=PANEL),
    Transition(Action.DECIDE, frozenset({State.IN_REVIEW}), REVIEWERS, None,  # proposed: the state stays
               "propose a checkpoint decision", "decided",
               guards=(conflict_bars, lead_proposes, interests_declared, proposer_of_a_body, nothing_proposed_yet,
                       no_open_query)),
    # (a condition outlives its checkpoint, when a reviewer may no longer declare: a declared conflict bars them)
    Transition(Action.DISCHARGE_CONDITION, ANY_STATE, REVIEWERS, None, "discharge a condition", "discharged",
               guards=(conflict_bars, condition_open)),
    Transition(Action.CARRY_FORWARD_CONDITION, ANY_STATE, REVIEWERS, None, "carry a condition forward",
               "carried forward", guards=(conflict_bars, condition_open)),
    # the checkpoint calendar: the commissioner proposes when each checkpoint will be submitted, a reviewer agrees
    Transition(Action.PLAN_SUBMISSION, NON_TERMINAL, OWNERS, None, "plan a submission date", "given planned dates",
               owner_only=True),
    Transition(Action.AGREE_PLAN, NON_TERMINAL, REVIEWERS, None, "agree a planned submission date",
               "given agreed dates", guards=(conflict_bars, plan_waits_for_agreement, own_plan_not_agreed)),
    # queries and waivers: a query lives while the panel reviews; a waiver is asked for while the commissioner
    # prepares the version (its errors are what block), and answered whenever the proposal is still open
    Transition(Action.RAISE_QUERY, frozenset({State.IN_REVIEW}), REVIEWERS, None, "raise a query", "queried",
               guards=PANEL),
    Transition(Action.ANSWER_QUERY, frozenset({State.IN_REVIEW}), OWNERS, None, "answer a query",
               "given answers to queries", owner_only=True, guards=(query_in_turn,)),
    Transition(Action.FOLLOW_UP_QUERY, frozenset({State.IN_REVIEW}), REVIEWERS, None, "follow up a query",
               "given follow-ups to queries", guards=(*PANEL, query_in_turn)),
    Transition(Action.RESOLVE_QUERY, frozenset({State.IN_REVIEW}), REVIEWERS, None, "resolve a query",
               "given resolutions of queries", guards=(*PANEL, query_in_turn, own_answer_not_resolved)),
    Transition(Action.REQUEST_WAIVER, PREPARING, OWNERS, None, "ask for a waiver", "given waiver requests",
               owner_only=True, guards=(error_waivable,)),
    Transition(Action.GRANT_WAIVER, NON_TERMINAL, REVIEWERS, None, "grant a waiver", "granted waivers",
               guards=(conflict_bars, waiver_requested)),
    Transition(Action.REFUSE_WAIVER, NON_TERMINAL, REVIEWERS, None, "refuse a waiver", "refused waivers",
               guards=(conflict_bars, waiver_requested)),
    # The review panel: a declaration of interests before taking, rating, proposing or countersigning; a proposed
    # decision takes effect only at a second reviewer's countersignature (the outcome decides: outcome_effect).
    Transition(Action.DECLARE, WAITING_FOR_REVIEW, REVIEWERS, None, "declare interests in a proposal",
               "declared on", guards=(conflict_stands, no_conflict_once)),
    Transition(Action.RATE, frozenset({State.IN_REVIEW}), REVIEWERS, None, "rate an assurance domain", "rated",
               guards=(*PANEL, ratings_stand_while_proposed)),
    Transition(Action.COUNTERSIGN, frozenset({State.IN_REVIEW}), REVIEWERS, None,
               "countersign a checkpoint decision", "countersigned",
               guards=(*SECOND_REVIEWER, proposer_still_on_the_panel, no_open_query)),
    Transition(Action.SEND_BACK, frozenset({State.IN_REVIEW}), REVIEWERS, None,
               "send a proposed decision back", "sent back", guards=SECOND_REVIEWER),
    # evidence documents are attached while the commissioner prepares the submission they support
    Transition(Action.ATTACH_EVIDENCE, PREPARING, OWNERS, None, "attach an evidence document",
               "given evidence documents", owner_only=True,
               guards=(evidence_not_for_a_later_checkpoint,)),
)}


def _describe(states: frozenset[State]) -> str:
    """The states an action needs, as "a draft or returned proposal", "a proposal in review"."""
    if states == NON_TERMINAL:
        return "a proposal that is not " + _listed([s.label.lower() for s in State if s in TERMINAL], "or")
    before = [s.label.lower() for s in State if s in states and s is not State.IN_REVIEW]
    parts = [f"a {_listed(before, 'or')} proposal"] if before else []
    if State.IN_REVIEW in states:
        parts.append("a proposal in review")
    return " or ".join(parts)


def submit_blockers(facts: ProposalFacts) -> list[Blocker]:
    """Everything that stops the latest version being submitted for the proposal's checkpoint, first first."""
    out: list[Blocker] = []
    commissioner, reviewer = frozenset({Role.COMMISSIONER}), frozenset({Role.REVIEWER})
    v, cp = facts.latest_version, facts.checkpoint
    if v is None:
        out.append(Blocker(commissioner, f"{facts.reference} has no version to submit: upload a workbook first",
                           f"upload the workbook for checkpoint {cp}"))
    elif facts.latest_checkpoint != cp:
        text = checkpoint_mismatch(facts.reference, v, facts.latest_checkpoint, cp)
        out.append(Blocker(commissioner, text, f"upload a version for checkpoint {cp} ({text})"))
    else:
        asked = facts.errors_awaiting_waiver
        to_fix = facts.blocking_errors - len(asked)
        if to_fix > 0:
            n = _plural(to_fix, "error finding")
            them = "it" if to_fix == 1 else "them"
            waived = f" (and {facts.waived_errors} waived)" if facts.waived_errors else ""
            unasked = " not asked to be waived" if asked else ""
            # fixing is the rule; a case the rule does not fit, unusual but sound, may ask for a waiver instead
            # (docs/workflow.md, "Queries and waivers"), and whoever is stopped should learn that here
            may_ask = facts.waivable_errors > 0
            out.append(Blocker(commissioner, f"version {v} has {n}{unasked}{waived}: fix {them} and upload a new "
                                             "version" + (", or, where the case is unusual but sound, ask for a "
                                                          "waiver" if may_ask else ""),
                               f"fix the {n} of version {v}{unasked} and upload a new version"
                               + (", or ask for a waiver where the case is unusual but sound" if may_ask else "")))
        if asked:
            which = waivers_named(asked)
            out.append(Blocker(reviewer, f"{which} {'is' if len(asked) == 1 else 'are'} waiting for a reviewer's "
                                         "answer", f"grant or refuse {which}"))
        if facts.unanswered_warnings:
            n = _plural(facts.unanswered_warnings, "warning")
            each = "it" if facts.unanswered_warnings == 1 else "each one"
            out.append(Blocker(commissioner, f"version {v} has {n} without an explanatory note: acknowledge {each}",
                               f"answer the {n} of version {v} with an explanatory note"))
        if facts.unnamed_evidence:
            # references one document would answer are one group, with that document's reference, so ten clauses
            # of a schedule read as one (docs/decisions/0044-evidence-references-grouped.md)
            groups = grouped(facts.unnamed_evidence)
            names = _listed([f"“{members[0]}”" if len(members) == 1 else
                             f"“{members[0]}” to “{members[-1]}” ({len(members)} references)"
                             for _, members in groups])
            covers = "; ".join(f"one document referenced “{stem}” covers all {len(members)}"
                               for stem, members in groups if stem is not None)
            covers = f" ({covers})" if covers else ""
            refs = "evidence_reference " if len(facts.unnamed_evidence) == 1 else "evidence_references "
            out.append(Blocker(commissioner, f"no evidence document is attached for the {refs}{names} of version "
                                             f"{v}: attach each with that reference{covers}",
                               f"attach the evidence documents the {refs}{names} name{covers}"
                               if len(facts.unnamed_evidence) > 1 else
                               f"attach the evidence document the {refs}{names} names"))
    if facts.missing_evidence:
        kinds = _listed([k.label for k in facts.missing_evidence])
        out.append(Blocker(commissioner, f"checkpoint {cp} needs evidence documents that are not attached for it: "
                                         f"{kinds}", f"attach for checkpoint {cp}: {kinds}"))
    if cp >= 2 and facts.open_earlier_conditions:
        ids = facts.open_earlier_conditions
        which = f"condition {ids[0]}" if len(ids) == 1 else f"conditions {_numbers(ids)}"
        verb, it = ("is", "it") if len(ids) == 1 else ("are", "them")
        out.append(Blocker(reviewer, f"{which} from an earlier checkpoint {verb} still open: a reviewer must "
                                     f"discharge {it} or carry {it} forward",
                           f"discharge or carry forward {which} from an earlier checkpoint"))
    return out


@dataclass(frozen=True)
class DecisionGap:
    """One part a checkpoint decision lacks: the part of the form (`outcome`, `ratings`, `rationale`,
    `conditions`), what to do about it in the words of an error summary, and the service's refusal."""

    part: str
    todo: str
    reason: str


def decision_gaps(outcome: Outcome | None, ratings: dict[str, str], rationale: str | None,
                  conditions: int) -> list[DecisionGap]:
    """Every part a checkpoint decision lacks, in the form's order: an outcome, a rating per assurance domain,
    a rationale, and conditions exactly when the outcome is approved with conditions.  A form shows them all
    at once; the service refuses with the first."""
    gaps = []
    if outcome is None:
        gaps.append(DecisionGap("outcome", "Choose the outcome", "a decision needs an outcome"))
    missing = [d.label for d in AssuranceDomain if d not in ratings]
    if missing:
        gaps.append(DecisionGap("ratings", f"Rate {', '.join(missing)}",
                                f"a decision needs a rating for every domain; missing: {', '.join(missing)}"))
    if not rationale or not rationale.strip():
        gaps.append(DecisionGap("rationale", "Give the rationale", "a decision needs a rationale"))
    with_conditions = Outcome.APPROVED_WITH_CONDITIONS
    if outcome is with_conditions and not conditions:
        gaps.append(DecisionGap("conditions", "Add at least one condition, with its owner and due date",
                                f"{with_conditions.label} needs at least one condition (text, owner, due date)"))
    if conditions and outcome is not None and outcome is not with_conditions:
        gaps.append(DecisionGap("conditions", f"Remove the conditions, or choose {with_conditions.label}",
                                f"conditions are set only with the outcome {with_conditions.label}"))
    return gaps


def decision_refusal(outcome: Outcome, ratings: dict[str, str], rationale: str | None,
                     conditions: int) -> Refusal | None:
    """What a checkpoint decision lacks first (`decision_gaps` lists every part)."""
    gaps = decision_gaps(outcome, ratings, rationale, conditions)
    return Refusal(gaps[0].reason) if gaps else None


def decision_summary(outcome: Outcome, checkpoint: int, conditions: int) -> str:
    """A recorded decision in a sentence's words: "Checkpoint 1: approved with 1 condition"."""
    if outcome is Outcome.APPROVED_WITH_CONDITIONS and conditions:
        words = f"approved with {conditions} condition{'' if conditions == 1 else 's'}"
    else:
        words = outcome.label.lower()
    return f"Checkpoint {checkpoint}: {words}"


def after_decision(state: State, checkpoint: int, name: str, organisation: str) -> str:
    """Where a proposal stands once a decision has taken effect, and with whom: what happens now."""
    if state is State.DRAFT:
        return f"{name} is back with {organisation} for checkpoint {checkpoint}."
    if state is State.RETURNED:
        return f"{name} is back with {organisation} to revise and submit again for checkpoint {checkpoint}."
    if state is State.ASSURED:
        return f"{name} is assured: {organisation} may proceed."
    if state is State.HALTED:
        return f"{name} is halted: {organisation} must not proceed with it."
    return f"{name} is {state.label.lower()} at checkpoint {checkpoint}."


def checkpoint_mismatch(reference: str, version: int, version_checkpoint: int | None, proposal_checkpoint: int) -> str:
    """The one wording for a version whose checkpoint is not the proposal's (CLI, dashboard, notification)."""
    which = f"checkpoint {version_checkpoint}" if version_checkpoint else "no valid checkpoint"
    return (f"version {version} is for {which}, but {reference} is at checkpoint {proposal_checkpoint}: "
            f"set checkpoint to {proposal_checkpoint} on the Cover sheet and upload it again")


def allowed_actions(facts: ProposalFacts, actor: Actor) -> list[ActionOption]:
    """The actions a page offers this actor on this proposal: allowed, or not yet possible with the reason.

    Actions the actor's role or organisation can never take, and actions the
    proposal's state rules out, are left out; an action the state admits but
    something else blocks (errors, unanswered warnings, an open condition) is
    listed as not allowed, with its reason, so a page shows it disabled.  One
    a guard says is not this person's to do here (the lead's countersignature
    of their own proposal) is listed as not theirs, with whom it waits for.
    """
    out = []
    for action, t in TABLE.items():
        if actor.role not in t.roles or facts.state not in t.from_states:
            continue
        if t.owner_only and actor.role is Role.COMMISSIONER and not actor.owns:
            continue
        r = refusal(action, facts, actor)
        theirs = r is not None and r.forbidden
        label = (CONFLICT_ARISEN if action is Action.DECLARE and actor.username in facts.declared
                 else action.label)
        out.append(ActionOption(action, r is None, None if r is None else r.reason, yours=not theirs,
                                waiting=r.waiting if theirs else None, label=label))
    return out


def next_step(facts: ProposalFacts, actor: Actor) -> str:
    """What the proposal is waiting for and who must act, in plain words, for the person looking at it."""
    cp = facts.checkpoint

    def who(roles: frozenset[Role]) -> str:
        if actor.role in roles or (actor.role is Role.ADMIN and roles & REVIEWERS):
            return "you"
        return "the commissioner" if Role.COMMISSIONER in roles else "a reviewer"

    if facts.state in PREPARING:
        blockers = submit_blockers(facts)
        if not blockers:
            # "clean" only when nothing at all was found; answered warnings and waived errors are not blockers, but
            # they are there
            if facts.waived_errors:
                state_of = f"has no error finding left to fix ({facts.waived_errors} waived)" + (
                    ", and its warnings are answered," if facts.latest_warnings else "")
            else:
                state_of = ("is clean" if not facts.latest_warnings
                            else "has no errors, and its warnings are answered")
            if actor.role in OWNERS:
                return f"Ready to submit: version {facts.latest_version} {state_of} for checkpoint {cp}."
            return f"Waiting for the commissioner to submit version {facts.latest_version} for checkpoint {cp}."
        steps = "; ".join(f"{who(b.who)} must {b.task}" for b in blockers)
        prefix = "Returned to the commissioner. " if facts.state is State.RETURNED else ""
        return f"{prefix}Before it can be submitted for checkpoint {cp}: {steps}."
    if facts.state is State.SUBMITTED:
        if actor.role not in REVIEWERS:
            return "Submitted: waiting for a reviewer to take it into review."
        return ("Take it into review." if actor.username in facts.declared
                else "Declare your interests, then take it into review.")
    if facts.state is State.IN_REVIEW:
        return _in_review_step(facts, actor)
    ending = {State.ASSURED: "Assured: nothing more to do", State.HALTED: "Halted: do not proceed",
              State.WITHDRAWN: "Withdrawn: nothing more to do"}[facts.state]
    if facts.open_conditions:
        ids = facts.open_conditions
        which = f"condition {ids[0]} is" if len(ids) == 1 else f"conditions {_numbers(ids)} are"
        return f"{ending}, but {which} still open."
    return ending + "."


def _in_review_step(facts: ProposalFacts, actor: Actor) -> str:
    """In review: whose turn each open query is first (an open query stops proposing and countersigning the
    decision), then whose turn it is on the review panel."""
    reviewer = actor.role in REVIEWERS
    if not facts.open_queries:
        return _panel_step(facts, actor)
    parts = []
    if facts.queries_awaiting_answer:
        ns = facts.queries_awaiting_answer
        which = f"query {ns[0]}" if len(ns) == 1 else f"queries {_numbers(ns)}"
        parts.append(f"{'you' if actor.role is Role.COMMISSIONER else 'the commissioner'} "
                     f"must answer {which}")
    if facts.queries_answered:
        ns = facts.queries_answered
        which = f"query {ns[0]}" if len(ns) == 1 else f"queries {_numbers(ns)}"
        parts.append(f"{'you' if reviewer else 'the panel'} must resolve or follow up {which}")
    queries = f"{IN_REVIEW_WORDS} Before it can be decided: {'; '.join(parts)}."
    if not reviewer:  # the panel's part, for a commissioner, only when a proposed decision waits
        return queries if facts.proposed_by is None else f"{queries} {_proposed_words(facts)}"
    return f"{queries} Then: {_lower_first(_panel_step(facts, actor))}"


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[:1].isupper() and not text[1:2].isupper() else text


def waiting_on_commissioner(steps: list[tuple[int, dt.datetime, QueryStep]], start: dt.datetime,
                            end: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
    """The spans between `start` and `end` in which every open query waited for the commissioner's answer.

    `steps` are the messages of a proposal's queries as (query, time, step); a question or a follow-up puts a
    query with the commissioner, an answer with the panel, a resolution closes it.  These spans are counted apart
    from the review target (docs/workflow.md, "Queries and waivers").
    """
    where: dict[int, QueryStatus] = {}
    spans: list[tuple[dt.datetime, dt.datetime]] = []
    opened: dt.datetime | None = None
    for query, at, step in sorted(steps, key=lambda x: x[1]):
        where[query] = {QueryStep.QUESTION: QueryStatus.AWAITING_ANSWER, QueryStep.FOLLOW_UP:
                        QueryStatus.AWAITING_ANSWER, QueryStep.ANSWER: QueryStatus.ANSWERED,
                        QueryStep.RESOLUTION: QueryStatus.RESOLVED}[step]
        open_ = [s for s in where.values() if s.open]
        waiting = bool(open_) and all(s is QueryStatus.AWAITING_ANSWER for s in open_)
        if waiting and opened is None:
            opened = at
        elif not waiting and opened is not None:
            spans.append((opened, at))
            opened = None
    if opened is not None:
        spans.append((opened, end))
    return [(max(a, start), min(b, end)) for a, b in spans if min(b, end) > max(a, start)]


IN_REVIEW_WORDS = "In review with the joint panel of NHS England and NHS Improvement."


def _second_words(facts: ProposalFacts) -> str:
    return "countersignature by a second reviewer" + (" from the other body" if facts.other_body_needed else "")


def _proposed_words(facts: ProposalFacts) -> str:
    return f"A proposed decision waits for {_second_words(facts)}."


def _panel_step(facts: ProposalFacts, actor: Actor) -> str:
    """Whose turn it is in review: the lead's to rate and propose, a second reviewer's to countersign."""
    second = _second_words(facts)
    if actor.role not in REVIEWERS:
        return IN_REVIEW_WORDS if facts.proposed_by is None else f"{IN_REVIEW_WORDS} {_proposed_words(facts)}"
    me = actor.username
    if me in facts.conflicted:
        return "You have declared a conflict of interest: others on the panel review it."
    if facts.proposed_by is not None:
        if me in (facts.proposed_by, facts.lead):
            return f"Your proposed decision waits for {second}."
        if facts.proposed_by in facts.conflicted:
            first = "" if me in facts.declared else " (declare your interests first)"
            return (f"{facts.proposer_words} proposed a decision but has since declared a conflict of interest: send "
                    f"it back{first}, and another panel member proposes it.")
        # the panel's guards of a countersignature (an open query is the banner's first part, above)
        if not any(guard(Action.COUNTERSIGN, facts, actor, None) for guard in SECOND_REVIEWER):
            return f"{facts.proposer_words} proposed a decision: countersign it, or send it back with a note."
        if me not in facts.declared:
            return f"{facts.proposer_words} proposed a decision: declare your interests to countersign it."
        return f"{facts.proposer_words} proposed a decision: it waits for {second}."
    if me == facts.lead:
        return "Rate the five assurance domains and propose the decision; a second reviewer countersigns it."
    if facts.lead is not None and facts.leading is None:  # the lead has declared a conflict: others carry it on
        return "The lead reviewer has declared a conflict of interest: " + (
            "rate the five assurance domains and propose the decision; a second reviewer countersigns it."
            if me in facts.declared else "declare your interests to rate the domains and propose the decision.")
    lead = facts.lead_words or "the lead reviewer"
    if me not in facts.declared:
        return f"{lead} leads the review: declare your interests to rate a domain or countersign."
    return f"{lead} leads the review: rate a domain, or wait for the proposed decision to countersign it."


def condition_overdue(due: dt.date, status: str, today: dt.date) -> bool:
    """An open condition past its due date (the dashboard's marking and the reminders' rule)."""
    return status == ConditionStatus.OPEN and due < today


def condition_due_soon(due: dt.date, status: str, today: dt.date, policy: "Policy") -> bool:
    """An open condition, not yet overdue, due within the policy's `condition_due_soon_working_days`: the
    dashboard's marking and the reminders' rule, so the two cannot differ."""
    from isap.policy import working_days

    if status != ConditionStatus.OPEN or due < today:
        return False
    soon = working_days.add_working_days(today, policy.condition_due_soon_working_days,
                                         policy.working_days_calendar)
    return due <= soon


def waiting_for_review(state: str) -> bool:
    """Whether the review target's clock runs for a proposal in this state."""
    return state in WAITING_FOR_REVIEW

"""The review state machine: its guards and banner as pure functions, and a walk of every (state, role, action)
that checks the service refuses exactly what the table refuses, with the table's words.

The walk runs every scenario on SQLite; on PostgreSQL, where it proves the
same table through another database, it runs one scenario of each state.
Every state must have a scenario, or a test says which has none."""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from dataclasses import replace

import pytest

from isap.review.lifecycle import (
    TABLE,
    Action,
    ActionOption,
    Actor,
    Body,
    ConditionFacts,
    ConditionStatus,
    DeclarationFacts,
    FindingFacts,
    Outcome,
    ProposalFacts,
    QueryFacts,
    QueryStatus,
    Role,
    State,
    WaiverFacts,
    WaiverStatus,
    WarningFacts,
    allowed_actions,
    checkpoint_mismatch,
    condition_overdue,
    next_step,
    outcome_effect,
    refusal,
)
from sample_submissions.evidence import sample_pdf
from tests.evidence_helpers import attach_required

REF = "ISAP-2026-014"
ALICE = Actor("alice", Role.COMMISSIONER, owns=True)
OTTO = Actor("otto", Role.COMMISSIONER, owns=False)
RITA = Actor("rita", Role.REVIEWER, owns=False)
ADA = Actor("ada", Role.ADMIN, owns=False)
CLEAN = ProposalFacts(REF, State.DRAFT, 1, latest_version=1, latest_checkpoint=1)


def options(facts, actor) -> dict[Action, ActionOption]:
    return {o.action: o for o in allowed_actions(facts, actor)}


# ---------------------------------------------------------------------- refusal

def test_a_clean_draft_can_be_submitted_by_its_commissioner_only():
    assert refusal(Action.SUBMIT, CLEAN, ALICE) is None
    assert refusal(Action.SUBMIT, CLEAN, ADA) is None
    r = refusal(Action.SUBMIT, CLEAN, RITA)
    assert r.forbidden and r.reason == "rita is a reviewer: only commissioners and administrators may submit a proposal"
    r = refusal(Action.SUBMIT, CLEAN, OTTO)
    assert r.forbidden and "lead commissioner's organisation" in r.reason


@pytest.mark.parametrize("facts, words", [
    (ProposalFacts(REF, State.DRAFT, 1), "ISAP-2026-014 has no version to submit: upload a workbook first"),
    (ProposalFacts(REF, State.DRAFT, 1, 2, 2),
     "version 2 is for checkpoint 2, but ISAP-2026-014 is at checkpoint 1: set checkpoint to 1 on the Cover sheet "
     "and upload it again"),
    (ProposalFacts(REF, State.DRAFT, 1, 2, None),
     "version 2 is for no valid checkpoint, but ISAP-2026-014 is at checkpoint 1"),
    (ProposalFacts(REF, State.RETURNED, 1, 3, 1, latest_errors=2),
     "version 3 has 2 error findings: fix them and upload a new version"),
    (ProposalFacts(REF, State.DRAFT, 1, 3, 1, latest_errors=1, latest_warnings=4, unanswered_warnings=4),
     "version 3 has 1 error finding: fix it"),
    (ProposalFacts(REF, State.DRAFT, 1, 3, 1, latest_warnings=2, unanswered_warnings=1),
     "version 3 has 1 warning without an explanatory note: acknowledge it"),
    (ProposalFacts(REF, State.DRAFT, 2, 4, 2, open_conditions=(7,), open_earlier_conditions=(7,)),
     "condition 7 from an earlier checkpoint is still open: a reviewer must discharge it or carry it forward"),
    (ProposalFacts(REF, State.DRAFT, 3, 4, 3, open_conditions=(7, 9, 12), open_earlier_conditions=(7, 9)),
     "conditions 7 and 9 from an earlier checkpoint are still open"),
    (ProposalFacts(REF, State.SUBMITTED, 1, 1, 1),
     "ISAP-2026-014 is submitted; only a draft or returned proposal can be submitted"),
])
def test_each_submit_blocker_is_refused_with_its_reason(facts, words):
    r = refusal(Action.SUBMIT, facts, ALICE)
    assert r is not None and not r.forbidden and words in r.reason


def test_a_refused_submission_names_every_blocker_in_order():
    """As the proposal's next step does: fixing the first and trying again should not reveal a second."""
    facts = ProposalFacts(REF, State.DRAFT, 2, 4, 2, latest_errors=4, latest_warnings=3, unanswered_warnings=2,
                          open_conditions=(1,), open_earlier_conditions=(1,))
    assert refusal(Action.SUBMIT, facts, ALICE).reason == (
        "version 4 has 4 error findings: fix them and upload a new version; version 4 has 2 warnings without an "
        "explanatory note: acknowledge each one; condition 1 from an earlier checkpoint is still open: a reviewer "
        "must discharge it or carry it forward")


def test_an_error_that_could_be_waived_says_a_waiver_can_be_asked_for():
    """Fixing is the rule; an unusual but sound case may ask for a waiver instead, and the refusal and the next
    step say so wherever an error that can still be waived blocks the submission."""
    facts = ProposalFacts(REF, State.DRAFT, 1, 2, 1, latest_errors=2, waivable_errors=2)
    assert refusal(Action.SUBMIT, facts, ALICE).reason == (
        "version 2 has 2 error findings: fix them and upload a new version, or, where the case is unusual but "
        "sound, ask for a waiver")
    assert next_step(facts, ALICE) == (
        "Before it can be submitted for checkpoint 1: you must fix the 2 error findings of version 2 and upload a "
        "new version, or ask for a waiver where the case is unusual but sound.")
    # never where nothing can be waived (the reader's refusals, or a request already made of each)
    assert "waiver" not in refusal(Action.SUBMIT, replace(facts, waivable_errors=0), ALICE).reason


def test_references_one_document_would_cover_are_refused_as_one_group():
    """Ten clauses of one schedule read as one group, with the one reference that would cover them all
    (docs/decisions/0044-evidence-references-grouped.md); a reference alone is named as it is."""
    clauses = tuple(f"schedule 7 clause {n}" for n in range(1, 11))
    facts = ProposalFacts(REF, State.DRAFT, 2, 2, 2, unnamed_evidence=("Board minutes 3 March", *clauses))
    assert refusal(Action.SUBMIT, facts, ALICE).reason == (
        "no evidence document is attached for the evidence_references “Board minutes 3 March” and “schedule 7 "
        "clause 1” to “schedule 7 clause 10” (10 references) of version 2: attach each with that reference (one "
        "document referenced “schedule 7” covers all 10)")
    assert next_step(facts, ALICE) == (
        "Before it can be submitted for checkpoint 2: you must attach the evidence documents the "
        "evidence_references “Board minutes 3 March” and “schedule 7 clause 1” to “schedule 7 clause 10” (10 "
        "references) name (one document referenced “schedule 7” covers all 10).")
    # what a group says covers it does, by the rule that matches references to documents (decision 0051)
    from isap.review.evidence_references import grouped, names, reference_key
    refs = [*clauses, "ICP contract schedule 7, clause 3", "ICP contract schedule 7, clause 4", "Contract §4",
            "Contract § 5", "schedule 70"]
    groups = grouped(refs)
    assert [(stem, len(members)) for stem, members in groups] == [
        ("schedule 7", 10), ("ICP contract schedule 7", 2), ("Contract", 2), (None, 1)]
    assert all(names(m, reference_key(stem)) for stem, members in groups if stem for m in members)
    alone = ProposalFacts(REF, State.DRAFT, 2, 2, 2, unnamed_evidence=("ICP contract schedule 7, clause 3",))
    assert refusal(Action.SUBMIT, alone, ALICE).reason == (
        "no evidence document is attached for the evidence_reference “ICP contract schedule 7, clause 3” of version "
        "2: attach each with that reference")


def test_a_condition_of_the_current_checkpoint_does_not_block_submission():
    facts = ProposalFacts(REF, State.DRAFT, 2, 4, 2, open_conditions=(7,), open_earlier_conditions=())
    assert refusal(Action.SUBMIT, facts, ALICE) is None


def test_state_guards_name_the_states_the_action_needs():
    in_review = ProposalFacts(REF, State.IN_REVIEW, 1, 1, 1)
    assert refusal(Action.TAKE, in_review, RITA).reason == \
        "ISAP-2026-014 is in review; only a submitted proposal can be taken into review"
    assert refusal(Action.DECIDE, CLEAN, RITA).reason == \
        "ISAP-2026-014 is a draft; only a proposal in review can be decided"
    assured = ProposalFacts(REF, State.ASSURED, 3, 5, 3)
    assert refusal(Action.WITHDRAW, assured, ALICE).reason == \
        "ISAP-2026-014 is assured; only a proposal that is not assured, halted or withdrawn can be withdrawn"
    assert refusal(Action.UPLOAD, in_review, ALICE).reason.startswith(
        "ISAP-2026-014 is in review; only a draft or returned proposal can be given a new version. ")
    assert refusal(Action.COMMENT, assured, RITA) is None


@pytest.mark.parametrize("action", [Action.UPLOAD, Action.ACKNOWLEDGE, Action.SUBMIT])
@pytest.mark.parametrize("state, advice", [
    (State.SUBMITTED, "It waits for a reviewer now: to change it first, ask a reviewer to return it to you (they can "
                      "until it is taken into review)."),
    (State.IN_REVIEW, "A reviewer is deciding on it now: once the decision returns it to you, or approves it for the "
                      "next checkpoint, it is yours to change again."),
    (State.ASSURED, "It has passed its last checkpoint, so it is complete: nothing more is added to it."),
    (State.HALTED, "A checkpoint decision halted it, so it is closed: to propose again, upload a workbook with a new "
                   "proposal_reference on its Cover sheet."),
    (State.WITHDRAWN, "It is closed: to propose again, upload a workbook with a new proposal_reference on its Cover "
                      "sheet."),
])
def test_a_commissioner_refused_outside_their_turn_is_told_what_they_can_do(action, state, advice):
    """Not only why (the state), but what now: wait, ask for it back, or nothing more (a closed proposal)."""
    r = refusal(action, ProposalFacts(REF, state, 3, 5, 3), ALICE)
    assert r is not None and not r.forbidden
    assert r.reason.startswith(f"{REF} is {state.phrase}; only a draft or returned proposal can be ")
    assert r.reason.endswith(". " + advice)


def test_the_advice_is_what_the_table_allows():
    """A reviewer can return a submitted proposal (so asking for it back is real advice), but not one in review
    (so there it is the decision that gives it back)."""
    assert refusal(Action.RETURN, ProposalFacts(REF, State.SUBMITTED, 1, 1, 1, declared=frozenset({"rita"})),
                   RITA) is None
    assert refusal(Action.RETURN, ProposalFacts(REF, State.IN_REVIEW, 1, 1, 1), RITA) is not None
    assert refusal(Action.DECIDE, ProposalFacts(REF, State.IN_REVIEW, 1, 1, 1, lead="rita",
                                                declared=frozenset({"rita"})), RITA) is None


def test_in_their_turn_or_for_others_no_advice_is_added():
    assert refusal(Action.UPLOAD, CLEAN, ALICE) is None
    in_review = ProposalFacts(REF, State.IN_REVIEW, 1, 1, 1)
    # a reviewer's own refusals say only why: the advice is the commissioner's
    assert refusal(Action.TAKE, in_review, RITA).reason == \
        "ISAP-2026-014 is in review; only a submitted proposal can be taken into review"


def test_condition_and_warning_guards():
    facts = ProposalFacts(REF, State.DRAFT, 2, 4, 2, latest_warnings=1, open_conditions=(3,))
    assert refusal(Action.DISCHARGE_CONDITION, facts, RITA) is None
    assert refusal(Action.DISCHARGE_CONDITION, facts, RITA, ConditionFacts(2, ConditionStatus.DISCHARGED)).reason \
        == "condition 2 is already discharged"
    assert refusal(Action.CARRY_FORWARD_CONDITION, facts, ALICE).forbidden
    assert refusal(Action.ANSWER_CONDITION, CLEAN, ALICE).reason == "ISAP-2026-014 has no open condition"
    assert refusal(Action.ACKNOWLEDGE, facts, ALICE).reason == "every warning of version 4 is already acknowledged"
    assert refusal(Action.ACKNOWLEDGE, CLEAN, ALICE).reason == "version 1 of ISAP-2026-014 has no warnings"
    waiting = ProposalFacts(REF, State.DRAFT, 1, 1, 1, latest_warnings=2, unanswered_warnings=1)
    assert refusal(Action.ACKNOWLEDGE, waiting, ALICE) is None
    assert refusal(Action.ACKNOWLEDGE, waiting, ALICE, WarningFacts("REL011", True)).reason == \
        "that REL011 warning is already acknowledged"


def test_the_checkpoint_mismatch_has_one_wording():
    facts = ProposalFacts(REF, State.DRAFT, 1, 1, 2)
    assert refusal(Action.SUBMIT, facts, ALICE).reason == checkpoint_mismatch(REF, 1, 2, 1)
    assert checkpoint_mismatch(REF, 1, 2, 1) in next_step(facts, ALICE)


def test_outcomes_are_not_states_and_lead_where_the_spec_says():
    assert outcome_effect(Outcome.APPROVED, 1) == (State.DRAFT, 2)
    assert outcome_effect(Outcome.APPROVED_WITH_CONDITIONS, 2) == (State.DRAFT, 3)
    assert outcome_effect(Outcome.APPROVED_WITH_CONDITIONS, 3) == (State.ASSURED, 3)
    assert outcome_effect(Outcome.RETURNED, 2) == (State.RETURNED, 2)
    assert outcome_effect(Outcome.HALTED, 1) == (State.HALTED, 1)


def test_condition_overdue_is_one_rule():
    import datetime as dt

    today = dt.date(2026, 11, 23)
    assert condition_overdue(dt.date(2026, 11, 22), "open", today)
    assert not condition_overdue(dt.date(2026, 11, 23), "open", today)
    assert not condition_overdue(dt.date(2026, 1, 1), "discharged", today)


# ---------------------------------------------------------------------- the review panel

ENGLAND = Actor("rita", Role.REVIEWER, False, Body.NHS_ENGLAND)
IMPROVEMENT = Actor("nina", Role.REVIEWER, False, Body.NHS_IMPROVEMENT)
ALSO_ENGLAND = Actor("carl", Role.REVIEWER, False, Body.NHS_ENGLAND)
EVERYONE_DECLARED = frozenset({"rita", "nina", "carl", "ada"})


def in_review(**kw) -> ProposalFacts:
    return ProposalFacts(REF, State.IN_REVIEW, 2, 1, 2, lead="rita", **{"declared": EVERYONE_DECLARED, **kw})


def test_a_reviewer_declares_before_taking_rating_proposing_or_countersigning():
    undeclared = in_review(declared=frozenset(), proposed_by="rita", proposer_body=Body.NHS_ENGLAND)
    for action in (Action.RATE, Action.COUNTERSIGN, Action.SEND_BACK):
        r = refusal(action, undeclared, IMPROVEMENT)
        assert r is not None and not r.forbidden and r.reason.startswith("declare your interests in ISAP-2026-014")
    submitted = ProposalFacts(REF, State.SUBMITTED, 1, 1, 1)
    assert "declare your interests" in refusal(Action.TAKE, submitted, ENGLAND).reason
    assert refusal(Action.DECLARE, submitted, ENGLAND) is None
    assert refusal(Action.DECLARE, submitted, ALICE).forbidden  # commissioners declare nothing


def test_a_declared_conflict_bars_the_reviewer_and_stands():
    facts = in_review(conflicted=frozenset({"nina"}), proposed_by="rita", proposer_body=Body.NHS_ENGLAND)
    for action in (Action.RATE, Action.COUNTERSIGN, Action.SEND_BACK):
        r = refusal(action, facts, IMPROVEMENT)
        assert r.forbidden and "declared a conflict of interest" in r.reason
    assert "it stands" in refusal(Action.DECLARE, facts, IMPROVEMENT).reason
    assert next_step(facts, IMPROVEMENT).startswith("You have declared a conflict of interest")


def test_after_a_declaration_of_no_conflict_only_a_conflict_may_be_declared():
    facts = ProposalFacts(REF, State.SUBMITTED, 1, 1, 1, declared=frozenset({"nina"}),
                          declared_here=frozenset({"nina"}))
    r = refusal(Action.DECLARE, facts, IMPROVEMENT, DeclarationFacts(conflict=False))
    assert r is not None and not r.forbidden and "already declared no conflict of interest" in r.reason
    assert refusal(Action.DECLARE, facts, IMPROVEMENT, DeclarationFacts(conflict=True)) is None
    assert refusal(Action.DECLARE, facts, ENGLAND, DeclarationFacts(conflict=False)) is None  # rita has not
    earlier = ProposalFacts(REF, State.SUBMITTED, 2, 1, 2, declared=frozenset({"nina"}))  # at checkpoint 1 only
    assert refusal(Action.DECLARE, earlier, IMPROVEMENT, DeclarationFacts(conflict=False)) is None


def test_only_the_lead_proposes_and_only_once_at_a_time():
    assert refusal(Action.DECIDE, in_review(), ENGLAND) is None
    r = refusal(Action.DECIDE, in_review(), IMPROVEMENT)
    assert r.forbidden and r.reason.startswith("rita leads the review")
    waiting = in_review(proposed_by="rita", proposer_body=Body.NHS_ENGLAND)
    assert "already waits for countersignature" in refusal(Action.DECIDE, waiting, ENGLAND).reason
    assert "waits for countersignature: the ratings stand" in refusal(Action.RATE, waiting, IMPROVEMENT).reason
    assert refusal(Action.RATE, in_review(), IMPROVEMENT) is None  # any panel member rates before that


def test_a_second_reviewer_of_the_other_body_countersigns_where_policy_says():
    nothing = in_review()
    assert "no proposed decision" in refusal(Action.COUNTERSIGN, nothing, IMPROVEMENT).reason
    waiting = in_review(proposed_by="rita", proposer_body=Body.NHS_ENGLAND, other_body_needed=True)
    assert refusal(Action.COUNTERSIGN, waiting, IMPROVEMENT) is None
    assert refusal(Action.SEND_BACK, waiting, IMPROVEMENT) is None
    own = refusal(Action.COUNTERSIGN, waiting, ENGLAND)
    assert own.forbidden and "a second reviewer must countersign it" in own.reason
    same_body = refusal(Action.COUNTERSIGN, waiting, ALSO_ENGLAND)
    assert same_body.forbidden and "must be from NHS Improvement (policy countersign_other_body)" in same_body.reason
    assert "no body recorded" in refusal(Action.COUNTERSIGN, waiting, ADA).reason
    anyone = in_review(proposed_by="rita", proposer_body=Body.NHS_ENGLAND, other_body_needed=False)
    assert refusal(Action.COUNTERSIGN, anyone, ALSO_ENGLAND) is None
    assert refusal(Action.COUNTERSIGN, anyone, ADA) is None


def test_the_next_step_says_whose_turn_it_is_on_the_panel():
    waiting = in_review(proposed_by="rita", proposer_body=Body.NHS_ENGLAND, other_body_needed=True)
    assert next_step(waiting, ENGLAND) == ("Your proposed decision waits for countersignature by a second reviewer "
                                           "from the other body.")
    assert next_step(waiting, IMPROVEMENT).startswith("rita proposed a decision: countersign it, or send it back")
    assert next_step(waiting, ALICE).startswith("In review with the joint panel of NHS England and NHS Improvement. "
                                                "A proposed decision waits for countersignature")
    assert next_step(in_review(), ENGLAND).startswith("Rate the five assurance domains and propose the decision")
    assert next_step(in_review(declared=frozenset({"rita"})), IMPROVEMENT).startswith(
        "rita leads the review: declare your interests")


# ---------------------------------------------------------------------- allowed actions and the next step

def test_allowed_actions_leave_out_other_roles_and_other_states():
    errors = ProposalFacts(REF, State.DRAFT, 1, 2, 1, latest_errors=3)
    mine = options(errors, ALICE)
    assert set(mine) == {Action.UPLOAD, Action.ACKNOWLEDGE, Action.SUBMIT, Action.WITHDRAW,
                         Action.ANSWER_CONDITION, Action.COMMENT, Action.PLAN_SUBMISSION,
                         Action.REQUEST_WAIVER, Action.ATTACH_EVIDENCE}
    assert not mine[Action.SUBMIT].allowed and "3 error findings" in mine[Action.SUBMIT].reason
    assert mine[Action.UPLOAD].allowed and mine[Action.WITHDRAW].allowed
    theirs = options(errors, RITA)
    assert set(theirs) == {Action.COMMENT, Action.DISCHARGE_CONDITION, Action.CARRY_FORWARD_CONDITION,
                           Action.AGREE_PLAN, Action.GRANT_WAIVER, Action.REFUSE_WAIVER}
    assert not theirs[Action.DISCHARGE_CONDITION].allowed
    assert not theirs[Action.AGREE_PLAN].allowed  # nothing planned waits for agreement
    assert options(errors, OTTO) == {}  # another organisation's proposal offers nothing
    submitted = options(ProposalFacts(REF, State.SUBMITTED, 1, 2, 1, declared=frozenset({"rita"})), RITA)
    assert submitted[Action.TAKE].allowed and submitted[Action.RETURN].allowed and Action.DECIDE not in submitted


def test_allowed_actions_agree_with_refusal_for_every_state_and_role():
    for state in State:
        facts = ProposalFacts(REF, state, 2, 3, 2, latest_warnings=1, unanswered_warnings=1,
                              open_conditions=(4,), open_earlier_conditions=(4,))
        for actor in (ALICE, OTTO, RITA, ADA):
            listed = options(facts, actor)
            for action in Action:
                r = refusal(action, facts, actor)
                if action in listed:
                    assert listed[action].allowed == (r is None)
                    assert listed[action].reason == (None if r is None else r.reason)
                else:  # left out only when the role, the organisation or the state rules it out
                    assert r is not None and (r.forbidden or state not in TABLE[action].from_states)


def test_next_step_has_words_for_every_state_and_person():
    """Total over State × person × what is open: a state added without its words is named here, not met as a
    KeyError on somebody's page."""
    missing = []
    for state in State:
        for facts in (ProposalFacts(REF, state, 1, 1, 1),
                      ProposalFacts(REF, state, 2, 3, 2, latest_errors=1, latest_warnings=1, unanswered_warnings=1,
                                    open_conditions=(4,), open_earlier_conditions=(4,))):
            for actor in (ALICE, OTTO, RITA, ADA):
                try:
                    words = next_step(facts, actor)
                except Exception as exc:  # noqa: BLE001 - what is missing is the finding
                    missing.append(f"{state.value} for {actor.role.value}: {type(exc).__name__} {exc}")
                    continue
                if not (isinstance(words, str) and words.strip() and words.rstrip().endswith(".")):
                    missing.append(f"{state.value} for {actor.role.value}: {words!r}")
    assert not missing, "next_step has no words for: " + "; ".join(sorted(set(missing)))


def test_next_step_for_the_sandwell_case_names_the_reviewer_and_the_condition():
    """ISAP-2026-012: a clean version at checkpoint 2, but condition 1 from checkpoint 1 is still open."""
    facts = ProposalFacts("ISAP-2026-012", State.DRAFT, 2, 3, 2, open_conditions=(1,), open_earlier_conditions=(1,))
    for actor in (ALICE, RITA):
        banner = next_step(facts, actor)
        assert "discharge or carry forward condition 1" in banner, banner
        assert "Upload a clean workbook" not in banner
    assert "a reviewer must discharge or carry forward condition 1" in next_step(facts, ALICE)
    assert "you must discharge or carry forward condition 1" in next_step(facts, RITA)
    submit = options(facts, ALICE)[Action.SUBMIT]
    assert not submit.allowed
    assert submit.reason == ("condition 1 from an earlier checkpoint is still open: a reviewer must discharge it or "
                             "carry it forward")


@pytest.mark.parametrize("facts, words", [
    (ProposalFacts(REF, State.DRAFT, 1, 2, 1, latest_errors=5), "the commissioner must fix the 5 error findings"),
    (ProposalFacts(REF, State.DRAFT, 1, 2, 1, latest_warnings=2, unanswered_warnings=2),
     "the commissioner must answer the 2 warnings of version 2 with an explanatory note"),
    (ProposalFacts(REF, State.DRAFT, 1, 1, 2), "upload a version for checkpoint 1 (version 1 is for checkpoint 2"),
    (ProposalFacts(REF, State.DRAFT, 1), "the commissioner must upload the workbook for checkpoint 1"),
    (ProposalFacts(REF, State.RETURNED, 1, 2, 1, latest_errors=1), "Returned to the commissioner."),
    (ProposalFacts(REF, State.DRAFT, 1, 2, 1), "Waiting for the commissioner to submit version 2"),
    (ProposalFacts(REF, State.SUBMITTED, 1, 2, 1), "Declare your interests, then take it into review."),
    (ProposalFacts(REF, State.SUBMITTED, 1, 2, 1, declared=frozenset({"rita"})), "Take it into review."),
    (ProposalFacts(REF, State.IN_REVIEW, 1, 2, 1, lead="rita"), "propose the decision"),
    (ProposalFacts(REF, State.ASSURED, 3, 5, 3, open_conditions=(8,)), "Assured: nothing more to do, but condition 8"),
])
def test_next_step_says_what_blocks_and_who_must_act(facts, words):
    assert words in next_step(facts, RITA), next_step(facts, RITA)


def test_next_step_speaks_to_the_commissioner_as_you():
    facts = ProposalFacts(REF, State.DRAFT, 2, 2, 2, latest_errors=1, open_earlier_conditions=(3,),
                          open_conditions=(3,))
    banner = next_step(facts, ALICE)
    assert banner.startswith("Before it can be submitted for checkpoint 2: you must fix the 1 error finding")
    assert "a reviewer must discharge or carry forward condition 3" in banner
    assert next_step(CLEAN, ALICE).startswith("Ready to submit: version 1")


# ---------------------------------------------------------------------- the walk: service and table agree

RATINGS = {"capitalisation": "green", "transparency": "amber", "service_scope": "green",
           "relationships": "green", "governance": "green"}
# in the walk rita (the lead) is of NHS England and nina, the second reviewer, of NHS Improvement
PEOPLE = {"alice": ALICE, "otto": OTTO, "rita": Actor("rita", Role.REVIEWER, False, Body.NHS_ENGLAND),
          "nina": Actor("nina", Role.REVIEWER, False, Body.NHS_IMPROVEMENT), "ada": ADA}
EVIDENCE_PDF = sample_pdf("A paper")


class Builder:
    """Drives a proposal through the real service; workbooks are checked once and their reports reused."""

    def __init__(self, tmp):
        from isap.rules.engine import check_bytes
        from sample_submissions.proposals import clean, write

        def report(cp, edit=None):
            p = copy.deepcopy(clean(cp, "Partially integrated", "NHS trust", REF))
            if edit:
                edit(p)
            data = write(p, tmp / f"w{uuid.uuid4().hex}.xlsx").read_bytes()
            return check_bytes(data, "w.xlsx")

        def errors(p):
            p["Cover"]["wpap_annual_value_gbp"] = 1

        def warning(p):
            p["Partners"] = [x for x in p["Partners"] if x["partner_type"] != "Voluntary sector"]  # REL011

        self.reports = {1: report(1), 2: report(2), 3: report(3), "errors": report(1, errors),
                        "warning": report(1, warning)}
        assert self.reports["errors"].summary["error"] and not self.reports["warning"].summary["error"]
        assert self.reports["warning"].summary["warning"] == 1
        self.reports["errors_cp2"] = report(2, errors)
        for cp in (1, 2, 3):
            assert self.reports[cp].summary == {**self.reports[cp].summary, "error": 0, "warning": 0}

    def upload(self, svc, actor, kind):
        return svc.upload(actor, f"{kind}.xlsx", uuid.uuid4().bytes, copy.deepcopy(self.reports[kind]))

    def through(self, svc, outcome, conditions=()):
        attach_required(svc, "alice", REF)
        svc.submit("alice", REF)
        self.taken(svc)
        svc.propose("rita", REF, outcome, RATINGS, "Walk.", list(conditions))
        svc.declare("nina", REF)
        svc.countersign("nina", REF)

    @staticmethod
    def taken(svc):
        svc.declare("rita", REF)
        svc.take("rita", REF)

    def build(self, svc, name):
        import datetime as dt

        from isap.review.service import ConditionInput

        cond = [ConditionInput("Publish the engagement report", "ICB director", dt.date(2030, 1, 31))]
        first = {"draft_errors": "errors", "draft_warning": "warning", "draft_mismatch": 2,
                 "draft_waiver_asked": "errors", "draft_waived": "errors"}.get(name, 1)
        self.upload(svc, "alice", first)
        if name in ("draft_clean", "draft_errors", "draft_warning", "draft_mismatch"):
            return
        if name in ("draft_waiver_asked", "draft_waived"):
            error = next(f for f in svc.show("alice", REF)["findings"] if f["severity"] == "error")
            number = svc.request_waiver("alice", REF, error["id"], "An unusual but sound case.")
            if name == "draft_waived":
                svc.grant_waiver("rita", REF, number, "Sound: the figure is a phased start.")
            return
        if name in ("in_review_query_asked", "in_review_query_answered", "in_review_proposed_query"):
            svc.submit("alice", REF)
            self.taken(svc)
            if name == "in_review_proposed_query":  # a query raised after the proposal stops its countersignature
                svc.propose("rita", REF, "approved", RATINGS, "Walk.")
                svc.declare("nina", REF)
            number = svc.raise_query("rita", REF, "Which board approved the figure?")
            if name == "in_review_query_answered":
                svc.answer_query("alice", REF, number, "The ICB board, 3 March.")
            return
        if name in ("submitted", "submitted_conflict", "in_review", "in_review_proposed", "returned", "halted"):
            svc.submit("alice", REF)
            if name == "returned":
                svc.declare("rita", REF)
                svc.return_submission("rita", REF, "Add the LMC minutes.")
            elif name == "submitted_conflict":  # rita may take it; nina may not
                svc.declare("rita", REF)
                svc.declare("nina", REF, "Midlands Partnership NHS FT", "A former employer of mine bids.")
            elif name != "submitted":
                self.taken(svc)
                if name == "in_review_proposed":  # waiting for nina's countersignature; she has declared
                    svc.propose("rita", REF, "approved", RATINGS, "Walk.")
                    svc.declare("nina", REF)
                if name == "halted":
                    svc.propose("rita", REF, "halted", RATINGS, "Not affordable.")
                    svc.declare("nina", REF)
                    svc.countersign("nina", REF)
            return
        if name in ("draft_cp2_condition", "withdrawn"):
            self.through(svc, "approved_with_conditions", cond)
            self.upload(svc, "alice", 2)
            if name == "withdrawn":
                svc.withdraw("alice", REF, "Merged into another proposal.")
            return
        assert name == "assured"
        self.through(svc, "approved")
        self.upload(svc, "alice", 2)
        self.through(svc, "approved")
        self.upload(svc, "alice", 3)
        self.through(svc, "approved_with_conditions", cond)  # assured, with a condition still open


SCENARIOS = {"draft_clean": State.DRAFT, "draft_errors": State.DRAFT, "draft_warning": State.DRAFT,
             "draft_mismatch": State.DRAFT, "draft_cp2_condition": State.DRAFT, "submitted": State.SUBMITTED,
             "submitted_conflict": State.SUBMITTED, "in_review": State.IN_REVIEW,
             "in_review_proposed": State.IN_REVIEW, "returned": State.RETURNED, "assured": State.ASSURED,
             "halted": State.HALTED, "withdrawn": State.WITHDRAWN,
             # queries and waivers: each guard is met and refused at least once
             "draft_waiver_asked": State.DRAFT, "draft_waived": State.DRAFT,
             "in_review_query_asked": State.IN_REVIEW, "in_review_query_answered": State.IN_REVIEW,
             "in_review_proposed_query": State.IN_REVIEW}


def states_without_a_scenario(scenarios: dict[str, State]) -> list[State]:
    return [state for state in State if state not in scenarios.values()]


def one_scenario_per_state(scenarios: dict[str, State]) -> dict[str, State]:
    """The first scenario of each state, in the table's order of scenarios."""
    firsts: dict[State, str] = {}
    for name, state in scenarios.items():
        firsts.setdefault(state, name)
    return {name: state for state, name in firsts.items()}


def test_every_state_of_the_lifecycle_has_a_scenario():
    missing = states_without_a_scenario(SCENARIOS)
    assert not missing, "no scenario of the walk leaves a proposal " + ", ".join(s.phrase for s in missing)


def test_a_state_without_a_scenario_is_named():
    fewer = {name: state for name, state in SCENARIOS.items() if state is not State.HALTED}
    assert states_without_a_scenario(fewer) == [State.HALTED]


def test_postgresql_walks_each_state_once():
    per_state = one_scenario_per_state(SCENARIOS)
    assert sorted(per_state.values()) == sorted(State) and set(per_state) <= set(SCENARIOS)


# Every scenario on SQLite; one scenario of each state on PostgreSQL, where what the walk proves beyond SQLite is
# that the store reads the same facts.  The guards of queries, waivers and the panel are each refused and met on
# both databases by their own tests (tests/test_queries_and_waivers.py, tests/test_panel.py); walking their
# scenarios on PostgreSQL too took 750 of the 1,625 tests there, and half the file's time.
WALKED = {"sqlite": SCENARIOS, "postgresql": one_scenario_per_state(SCENARIOS)}


def _service(url, files):
    from isap.review.service import Service
    from isap.store.db import engine_for
    from isap.store.files import FileStore

    return Service(engine_for(url), FileStore(files))


@pytest.fixture(scope="module")
def walk_builder(tmp_path_factory):
    return Builder(tmp_path_factory.mktemp("walk-books"))


@pytest.fixture(scope="module")
def walk_world(request, tmp_path_factory, walk_builder, migrated_sqlite):
    """One database per scenario of this kind of database (`request.param`), built once through the service from
    the session's migrated template; each triple works on a copy of it (SQLite's backup, or PostgreSQL's
    CREATE DATABASE … TEMPLATE)."""
    from tests.conftest import copy_sqlite
    from tests.pgserver import create_database

    tmp = tmp_path_factory.mktemp("walk")
    files = tmp / "files"
    builder = walk_builder
    server = request.getfixturevalue("postgres_server") if request.param == "postgresql" else None
    template = None if server is None else request.getfixturevalue("migrated_postgres").rsplit("/", 1)[1]
    made = {}
    for name, state in WALKED[request.param].items():
        if server is None:
            url = copy_sqlite(migrated_sqlite, tmp / f"{name}.db")
        else:
            url = create_database(server, f"walk_{name}_{uuid.uuid4().hex[:8]}", template)
        svc = _service(url, files)
        svc.add_organisation("QUA", "NHS Black Country ICB")
        svc.add_organisation("QHM", "NHS North East and North Cumbria ICB")
        svc.add_user("alice", "commissioner", "QUA")
        svc.add_user("otto", "commissioner", "QHM")
        svc.add_user("rita", "reviewer", body="nhs_england")
        svc.add_user("nina", "reviewer", body="nhs_improvement")
        svc.add_user("ada", "admin")
        builder.build(svc, name)
        assert svc.show("ada", REF)["state"] == state, name
        svc.engine.dispose()
        made[name] = url
    # the copy walked now: {scenario, url, shown, facts}; kept from triple to triple while refusals leave it
    # as it was (see `walk`)
    world = builder, made, files, server, {}
    yield world
    _let_go(world, changed=True)


def _copy(world, scenario) -> str:
    """A fresh copy of the scenario's database; its URL (on SQLite, the module's one walked file, restored for each
    scenario so that one engine serves them all: conftest.restore_sqlite)."""
    from tests.conftest import restore_sqlite

    _, made, files, server, _ = world
    src = made[scenario]
    if server is None:
        return restore_sqlite(src, files.parent / "walked.db")
    import psycopg

    name = "walk_" + uuid.uuid4().hex[:12]
    with psycopg.connect(server.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {src.rsplit('/', 1)[1]}")
    return server.rsplit("/", 1)[0] + "/" + name


def _drop(world, url) -> None:
    from isap.store.db import engine_for

    engine_for(url).dispose()  # no connection may be left to the database dropped, or to the file restored
    server = world[3]
    if server is not None:
        import psycopg

        with psycopg.connect(server.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]}")


def _walked_copy(world, scenario):
    """The copy of the scenario's database to walk one triple on, with what the administrator sees of it.

    A refused action changes nothing (each triple checks it), so the copy a refusal leaves is walked again by the
    next triple of the same scenario, and what was seen of it is seen again; only an action that went through, or
    a refusal after which anything the administrator sees differs, makes the next triple start from a new copy.
    Most triples are refusals: a copy and two reads of the proposal each were most of the walk's time."""
    held = world[4]
    if held.get("scenario") != scenario:
        if held:
            held["watch"].close()
            _drop(world, held["url"])
            held.clear()
        url = _copy(world, scenario)
        svc = _service(url, world[2])
        shown = svc.show("ada", REF)
        facts, _ = svc.proposal_facts("ada", REF)
        held.update(scenario=scenario, url=url, shown=shown, facts=facts, offered={}, watch=_Watch(url))
    return held


class _Watch:
    """A connection of the test's own that tells whether anything may have been committed to the walked copy since
    it was last asked, so that a refusal that left every table as it was is known without reading the whole
    proposal again (most triples are refusals).

    - SQLite: `PRAGMA data_version` changes if and only if another connection (the service's) has committed a
      change to the file since this connection last read it.
    - PostgreSQL: `pg_current_wal_insert_lsn()`, where the server writes its log next. A transaction that changes a
      row of a logged table writes the change and its commit to the log before the commit returns, so the position
      moves; when it has not moved, nothing was committed anywhere on the server. It also moves for writes this
      triple did not make (another test's database on the same server, the server's own upkeep): then the proposal
      is read again, as it always was before."""

    def __init__(self, url: str):
        if url.startswith("sqlite:///"):
            import sqlite3

            self._connection = sqlite3.connect(url.removeprefix("sqlite:///"))
            self._ask = "PRAGMA data_version"
        else:
            import psycopg
            from sqlalchemy.engine import make_url

            address = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
            self._connection = psycopg.connect(address, autocommit=True)
            self._ask = "SELECT pg_current_wal_insert_lsn()::text"
        self._last = self._now()

    def _now(self):
        return self._connection.execute(self._ask).fetchone()[0]

    def committed_since_last_asked(self) -> bool:
        now = self._now()
        changed, self._last = now != self._last, now
        return changed

    def close(self) -> None:
        self._connection.close()


def _committed_since_last_asked(held) -> bool:
    """Whether anything may have been committed to the walked copy since this was last asked."""
    return held["watch"].committed_since_last_asked()


def _let_go(world, changed: bool) -> None:
    """After a triple: the copy is walked again only if nothing changed."""
    held = world[4]
    if changed and held:
        held["watch"].close()  # (before the copy is dropped: PostgreSQL drops no database a connection holds)
        _drop(world, held["url"])
        held.clear()


def _call(svc, builder, action, user, shown):
    """Do `action` as `user` the way the CLI and the dashboard do; returns the item it names, for the table."""
    warnings = [f for f in shown["findings"] if f["severity"] == "warning"]
    warning = next((f for f in warnings if not f["acknowledged"]), warnings[0] if warnings else None)
    conds = shown["conditions"]
    cond = next((c for c in conds if c["status"] == "open"), conds[0] if conds else None)
    cid = cond["id"] if cond else 999_999
    queries = shown["queries"]
    query = next((q for q in queries if q["status"] != "resolved"), queries[0] if queries else None)
    qid = query["id"] if query else 999_999
    errors = [f for f in shown["findings"] if f["severity"] == "error"]
    finding = errors[0] if errors else (shown["findings"][0] if shown["findings"] else None)
    waivers = shown["waivers"]
    waiver = next((w for w in waivers if w["status"] == "requested"), waivers[0] if waivers else None)
    wid = waiver["id"] if waiver else 999_999
    calls = {
        Action.UPLOAD: lambda: builder.upload(svc, user, shown["checkpoint"]),
        Action.ACKNOWLEDGE: lambda: svc.acknowledge(user, REF, warning["rule_id"] if warning else "REL011",
                                                    "Explained.", finding_id=warning["id"] if warning else None),
        Action.SUBMIT: lambda: svc.submit(user, REF),
        Action.WITHDRAW: lambda: svc.withdraw(user, REF, "Walk."),
        Action.ANSWER_CONDITION: lambda: svc.answer_condition(user, REF, cid, "Done."),
        Action.COMMENT: lambda: svc.comment(user, REF, "A comment."),
        Action.TAKE: lambda: svc.take(user, REF),
        Action.RETURN: lambda: svc.return_submission(user, REF, "Add the minutes."),
        Action.DECIDE: lambda: svc.propose(user, REF, "approved", RATINGS, "Walk."),
        Action.DECLARE: lambda: svc.declare(user, REF),
        Action.RATE: lambda: svc.rate(user, REF, "governance", "amber"),
        Action.COUNTERSIGN: lambda: svc.countersign(user, REF),
        Action.SEND_BACK: lambda: svc.send_back(user, REF, "Say why transparency is amber."),
        Action.DISCHARGE_CONDITION: lambda: svc.discharge(user, REF, cid, "Seen."),
        Action.CARRY_FORWARD_CONDITION: lambda: svc.discharge(user, REF, cid, "Next time.", carry_forward=True),
        Action.PLAN_SUBMISSION: lambda: svc.plan_submission(user, REF, shown["checkpoint"], dt.date(2027, 6, 1)),
        Action.AGREE_PLAN: lambda: svc.agree_plan(user, REF, shown["checkpoint"]),
        Action.RAISE_QUERY: lambda: svc.raise_query(user, REF, "Which board approved it?"),
        Action.ANSWER_QUERY: lambda: svc.answer_query(user, REF, qid, "The ICB board."),
        Action.FOLLOW_UP_QUERY: lambda: svc.follow_up_query(user, REF, qid, "Send the minutes."),
        Action.RESOLVE_QUERY: lambda: svc.resolve_query(user, REF, qid, "Seen."),
        Action.REQUEST_WAIVER: lambda: svc.request_waiver(user, REF, finding["id"] if finding else 999_999,
                                                          "Unusual but sound."),
        Action.GRANT_WAIVER: lambda: svc.grant_waiver(user, REF, wid, "Sound."),
        Action.REFUSE_WAIVER: lambda: svc.refuse_waiver(user, REF, wid, "Not sound."),
        Action.ATTACH_EVIDENCE: lambda: svc.attach_evidence(user, REF, "paper.pdf", EVIDENCE_PDF, "other",
                                                            "A paper", f"Walk paper {uuid.uuid4().hex}"),
    }
    item = None
    if action is Action.DECLARE:  # as `isap declare REF` does: no conflict
        item = DeclarationFacts(conflict=False)
    if action is Action.ACKNOWLEDGE and warning:
        item = WarningFacts(warning["rule_id"], bool(warning["acknowledged"]))
    if action in (Action.ANSWER_CONDITION, Action.DISCHARGE_CONDITION, Action.CARRY_FORWARD_CONDITION) and cond:
        item = ConditionFacts(cond["id"], ConditionStatus(cond["status"]))
    if action in (Action.ANSWER_QUERY, Action.FOLLOW_UP_QUERY, Action.RESOLVE_QUERY) and query:
        item = QueryFacts(query["id"], QueryStatus(query["status"]))
    if action is Action.REQUEST_WAIVER and finding:
        standing = finding.get("waiver")
        item = FindingFacts(finding["rule_id"], finding["severity"],
                            WaiverStatus(standing["status"]) if standing else None)
    if action in (Action.GRANT_WAIVER, Action.REFUSE_WAIVER) and waiver:
        item = WaiverFacts(waiver["id"], WaiverStatus(waiver["status"]))
    return calls[action], item


# The database is one parameter of its own per test function, so each kind's world is built once for the module
# (a parameter shared with the scenario would build a world for every test).
@pytest.mark.parametrize("action", list(Action), ids=str)
@pytest.mark.parametrize("user", list(PEOPLE))
@pytest.mark.parametrize("scenario", list(WALKED["sqlite"]))
@pytest.mark.parametrize("walk_world", ["sqlite"], indirect=True)
def test_the_service_refuses_exactly_what_the_table_refuses(walk_world, scenario, user, action):
    walk(walk_world, scenario, user, action)


@pytest.mark.parametrize("action", list(Action), ids=str)
@pytest.mark.parametrize("user", list(PEOPLE))
@pytest.mark.parametrize("scenario", list(WALKED["postgresql"]))
@pytest.mark.parametrize("walk_world", ["postgresql"], indirect=True)
def test_postgresql_refuses_exactly_what_the_table_refuses(walk_world, scenario, user, action):
    walk(walk_world, scenario, user, action)


def walk(walk_world, scenario, user, action):
    """Do one action as one person on a copy of one scenario's database: the service refuses exactly what the table
    refuses, in the table's words, and changes nothing when it does."""
    from isap.review.service import Forbidden, NotFound, Refused

    builder, _, files, _, _ = walk_world
    held = _walked_copy(walk_world, scenario)
    svc = _service(held["url"], files)
    shown, facts = held["shown"], held["facts"]
    changed = True
    try:
        assert facts.state is SCENARIOS[scenario]
        actor = PEOPLE[user]
        call, item = _call(svc, builder, action, user, shown)
        expected = any_item = refusal(action, facts, actor)
        if expected is None and item is not None:
            expected = refusal(action, facts, actor, item)
        if user != "otto":  # what the dashboard offers is what the table says, of the action on any item
            if user not in held["offered"]:
                # (the actions a page shows, as `show` gives them, without the rest of the page: most of the walk's
                # time was whole pages read for their actions)
                held["offered"][user] = {o.action: o for o in svc.allowed_actions(user, REF)}
            offered = held["offered"][user]
            if action in offered:
                assert offered[action].allowed == (any_item is None), offered[action]
        if expected is None:
            call()
            after = svc.show("ada", REF)
            to_state = TABLE[action].to_state
            if action is Action.COUNTERSIGN:  # the proposed decision (approved) takes effect
                to_state = outcome_effect(Outcome.APPROVED, facts.checkpoint)[0]
            assert after["state"] == (to_state or facts.state)
            assert len(after["history"]) > len(shown["history"])
            return
        _committed_since_last_asked(held)
        with pytest.raises((Forbidden, Refused, NotFound)) as caught:
            call()
        if user == "otto":  # another organisation's proposal looks exactly like an unknown one
            assert expected.forbidden
            assert isinstance(caught.value, NotFound) or (action is Action.UPLOAD
                                                          and isinstance(caught.value, Forbidden))
        else:
            assert type(caught.value) is (Forbidden if expected.forbidden else Refused), caught.value
            assert str(caught.value) == expected.reason
        if not _committed_since_last_asked(held):
            changed = False  # not a row of any table was written: the copy is as it was shown
            return
        after = svc.show("ada", REF)
        assert (after["history"], after["version"]) == (shown["history"], shown["version"])
        changed = after != shown
    finally:
        _let_go(walk_world, changed)


# ---------------------------------------------------------------------- queries and waivers

def test_an_open_query_stops_the_decision_and_the_banner_says_whose_turn_it_is():
    facts = ProposalFacts(REF, State.IN_REVIEW, 1, 1, 1, queries_awaiting_answer=(1,), queries_answered=(2, 3),
                          lead="rita", declared=frozenset({"rita", "nina"}))
    assert refusal(Action.DECIDE, facts, RITA).reason == \
        "queries 1, 2 and 3 are still open: resolve them before deciding"
    assert next_step(facts, ALICE) == ("In review with the joint panel of NHS England and NHS Improvement. Before it "
                                       "can be decided: you must answer query 1; the panel must resolve or follow up "
                                       "queries 2 and 3.")
    # the queries first, then the panel's step
    assert next_step(facts, RITA) == ("In review with the joint panel of NHS England and NHS Improvement. Before it "
                                      "can be decided: the commissioner must answer query 1; you must resolve or "
                                      "follow up queries 2 and 3. Then: rate the five assurance domains and propose "
                                      "the decision; a second reviewer countersigns it.")
    assert refusal(Action.FOLLOW_UP_QUERY, facts, RITA, QueryFacts(1, QueryStatus.AWAITING_ANSWER)).reason == \
        "query 1 still waits for the commissioner's answer"
    assert refusal(Action.ANSWER_QUERY, facts, ALICE, QueryFacts(2, QueryStatus.ANSWERED)).reason.startswith(
        "query 2 is already answered")


def test_an_open_query_stops_the_countersignature_of_a_decision_proposed_before_it():
    facts = ProposalFacts(REF, State.IN_REVIEW, 1, 1, 1, queries_awaiting_answer=(1,), lead="rita",
                          proposed_by="rita", declared=frozenset({"rita", "nina"}))
    nina = Actor("nina", Role.REVIEWER, False, Body.NHS_IMPROVEMENT)
    assert refusal(Action.COUNTERSIGN, facts, nina).reason == "query 1 is still open: resolve it before countersigning"
    assert refusal(Action.SEND_BACK, facts, nina) is None  # sending it back stays open to the second reviewer
    assert next_step(facts, ALICE) == ("In review with the joint panel of NHS England and NHS Improvement. Before it "
                                       "can be decided: you must answer query 1. A proposed decision waits for "
                                       "countersignature by a second reviewer.")
    assert next_step(facts, nina).endswith("the commissioner must answer query 1. Then: rita proposed a decision: "
                                           "countersign it, or send it back with a note.")


@pytest.mark.parametrize("finding, words", [
    (FindingFacts("REL011", "warning"), "only an error finding can be waived; that REL011 finding is a warning"),
    (FindingFacts("WB002", "error"), "WB002 is never waived: the file itself could not be read safely"),
    (FindingFacts("CAP004", "error", WaiverStatus.GRANTED), "that CAP004 finding is already waived at checkpoint 1"),
    (FindingFacts("CAP004", "error", WaiverStatus.REQUESTED), "a waiver of that CAP004 finding is already asked for"),
])
def test_waiver_requests_are_refused_for_what_cannot_be_waived(finding, words):
    facts = ProposalFacts(REF, State.DRAFT, 1, 2, 1, latest_errors=2, waivable_errors=1)
    assert refusal(Action.REQUEST_WAIVER, facts, ALICE, finding).reason == words
    assert refusal(Action.REQUEST_WAIVER, facts, ALICE, FindingFacts("CAP004", "error")) is None


def test_waived_errors_do_not_block_a_submission():
    facts = ProposalFacts(REF, State.DRAFT, 1, 2, 1, latest_errors=3, waived_errors=2)
    assert refusal(Action.SUBMIT, facts, ALICE).reason == \
        "version 2 has 1 error finding (and 2 waived): fix it and upload a new version"
    assert refusal(Action.SUBMIT, ProposalFacts(REF, State.DRAFT, 1, 2, 1, latest_errors=2, waived_errors=2),
                   ALICE) is None
    assert refusal(Action.GRANT_WAIVER, facts, RITA, WaiverFacts(1, WaiverStatus.GRANTED)).reason == \
        "ISAP-2026-014 has no waiver request waiting for an answer"


def test_only_spans_in_which_every_open_query_waits_for_the_commissioner_are_counted_apart():
    import datetime as dt

    from isap.review.lifecycle import QueryStep, waiting_on_commissioner

    def t(day):
        return dt.datetime(2026, 11, day, tzinfo=dt.timezone.utc)

    steps = [(1, t(3), QueryStep.QUESTION), (2, t(4), QueryStep.QUESTION), (1, t(5), QueryStep.ANSWER),
             (2, t(9), QueryStep.ANSWER), (1, t(10), QueryStep.FOLLOW_UP), (1, t(12), QueryStep.RESOLUTION),
             (2, t(13), QueryStep.RESOLUTION)]
    # 3–5 both wait; 5–9 query 1 waits for the panel; 10–12 query 1 waits again, but query 2 waits for the panel
    assert waiting_on_commissioner(steps, t(1), t(20)) == [(t(3), t(5))]
    assert waiting_on_commissioner(steps, t(4), t(20)) == [(t(4), t(5))]
    assert waiting_on_commissioner([(1, t(3), QueryStep.QUESTION)], t(1), t(6)) == [(t(3), t(6))]

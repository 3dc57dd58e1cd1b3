"""The state machine's commands of the review service, run over rows in memory (`tests/fake_unit_of_work.py`).

Each test runs a command's own code (its guards, its audit trail, its outbox, its concurrency check) in
milliseconds, with no database: the proposal's journey from a first upload to a decision, the panel's
queries, and what each refusal leaves behind (nothing).  What the store adds (transactions under load,
PostgreSQL, the audit chain's hashes) stays with the integration tests.
"""

from __future__ import annotations

import dataclasses

import pytest

from isap.review.errors import Conflict, Forbidden, NotFound, Refused, WorkflowError
from isap.review.events import AuditKind, NotificationKind
from isap.review.lifecycle import State
from isap.review.types import ConditionInput
from isap.store.models import AuditEvent, FindingRecord, Proposal
from tests.fake_unit_of_work import FakeService, checked

pytestmark = pytest.mark.unit

REF = "ISAP-2026-014"
GREEN = {"capitalisation": "green", "governance": "green", "relationships": "green", "service_scope": "green",
         "transparency": "green"}
WARNING = {"rule_id": "GOV003", "severity": "warning", "sheet": "Cover", "cell": "C9", "message": "a warning"}
ERROR = {"rule_id": "CAP001", "severity": "error", "sheet": "Finance", "cell": "D4", "message": "an error"}


@pytest.fixture
def svc() -> FakeService:
    svc = FakeService()
    svc.seed_organisation("QUA", "NHS Black Country ICB")
    svc.seed_organisation("QHM", "NHS North East and North Cumbria ICB")
    svc.seed_user("alice", "commissioner", "QUA", email="alice@qua.nhs.uk")
    svc.seed_user("otto", "commissioner", "QHM", email="otto@qhm.nhs.uk")
    svc.seed_user("rita", "reviewer", email="rita@england.nhs.uk", body="nhs_england", display_name="Rita Shah")
    svc.seed_user("nina", "reviewer", email="nina@improvement.nhs.uk", body="nhs_improvement",
                  display_name="Nina Okafor")
    return svc


def state(svc: FakeService) -> State:
    return svc.facts(REF).state


def in_review(svc: FakeService) -> None:
    svc.seed_version("alice", REF)
    svc.submit("alice", REF)
    svc.declare("rita", REF)
    svc.take("rita", REF)


def test_a_clean_draft_is_submitted_and_the_reviewers_are_told(svc):
    svc.seed_version("alice", REF)
    svc.submit("alice", REF)
    assert state(svc) == State.SUBMITTED
    assert svc.history(REF)[-1] == (AuditKind.SUBMITTED, "alice", State.SUBMITTED)
    told = svc.outbox()[-1]
    assert told.kind == NotificationKind.SUBMITTED
    assert told.recipients.split("\n") == ["rita@england.nhs.uk", "nina@improvement.nhs.uk"]


def test_a_refused_submission_changes_nothing(svc):
    svc.seed_version("alice", REF, [ERROR])
    before = (svc.facts(REF), svc.history(REF), svc.outbox())
    with pytest.raises(Refused, match="error"):
        svc.submit("alice", REF)
    assert (svc.facts(REF), svc.history(REF), svc.outbox()) == before


def test_a_warning_without_its_note_blocks_submission_until_it_is_acknowledged(svc):
    svc.seed_version("alice", REF, [WARNING])
    with pytest.raises(Refused, match="warning"):
        svc.submit("alice", REF)
    svc.acknowledge("alice", REF, "GOV003", "explained in the business case")
    svc.submit("alice", REF)
    assert state(svc) == State.SUBMITTED


def test_only_the_proposals_own_commissioner_submits_it(svc):
    svc.seed_version("alice", REF)
    with pytest.raises(NotFound):  # another organisation's proposal is never found, nor mentioned
        svc.submit("otto", REF)
    with pytest.raises(Forbidden):
        svc.submit("rita", REF)
    assert state(svc) == State.DRAFT


def test_an_action_on_a_proposal_changed_since_it_was_loaded_is_a_conflict(svc):
    svc.seed_version("alice", REF)
    [loaded] = svc.rows.all(Proposal, reference=REF)
    version = loaded.version
    svc.seed_version("alice", REF)  # someone uploads again meanwhile
    with pytest.raises(Conflict, match="changed by someone else"):
        svc.submit("alice", REF, expected_version=version)
    assert state(svc) == State.DRAFT


def test_a_reviewer_declares_before_taking_a_proposal_into_review(svc):
    svc.seed_version("alice", REF)
    svc.submit("alice", REF)
    with pytest.raises(Refused, match="declare"):
        svc.take("rita", REF)
    svc.declare("rita", REF)
    svc.take("rita", REF)
    facts = svc.facts(REF)
    assert (facts.state, facts.lead) == (State.IN_REVIEW, "rita")
    assert svc.outbox()[-1].kind == NotificationKind.TAKEN_INTO_REVIEW


def test_a_submission_returned_before_review_goes_back_to_its_commissioner(svc):
    svc.seed_version("alice", REF)
    svc.submit("alice", REF)
    svc.declare("rita", REF)
    svc.return_submission("rita", REF, "the finance sheet is incomplete")
    assert state(svc) == State.RETURNED
    svc.seed_version("alice", REF)  # a returned proposal takes a new version
    svc.submit("alice", REF)
    assert state(svc) == State.SUBMITTED


def test_a_proposed_decision_takes_effect_only_when_a_second_reviewer_countersigns_it(svc):
    in_review(svc)
    svc.propose("rita", REF, "approved", GREEN, "meets every criterion")
    assert svc.facts(REF).proposed_by == "rita" and state(svc) == State.IN_REVIEW
    with pytest.raises(Forbidden):  # never the lead's own countersignature
        svc.countersign("rita", REF)
    with pytest.raises(Refused, match="declare"):
        svc.countersign("nina", REF)
    svc.declare("nina", REF)
    svc.countersign("nina", REF)
    facts = svc.facts(REF)
    assert (facts.state, facts.checkpoint, facts.lead, facts.proposed_by) == (State.DRAFT, 2, None, None)
    kinds = [k for k, _, _ in svc.history(REF)]
    assert kinds[-1] == AuditKind.decided("approved")
    letter = next(n for n in svc.outbox() if n.kind == NotificationKind.DECISION_RECORDED)
    assert letter.attachment == "decision_letter" and "alice@qua.nhs.uk" in letter.recipients


def test_conditions_of_a_countersigned_decision_stay_open_into_the_next_checkpoint(svc):
    import datetime as dt

    in_review(svc)
    condition = ConditionInput("publish the mobilisation plan", "alice", dt.date(2027, 1, 29))
    svc.propose("rita", REF, "approved_with_conditions", GREEN, "approved, with one condition", [condition])
    svc.declare("nina", REF)
    svc.countersign("nina", REF)
    facts = svc.facts(REF)
    assert (facts.checkpoint, facts.open_conditions, facts.open_earlier_conditions) == (2, (1,), (1,))


def test_a_decision_sent_back_leaves_the_proposal_in_review_for_the_lead_to_propose_again(svc):
    in_review(svc)
    svc.propose("rita", REF, "approved", GREEN, "meets every criterion")
    svc.declare("nina", REF)
    svc.send_back("nina", REF, "the rationale does not mention the finance risk")
    facts = svc.facts(REF)
    assert (facts.state, facts.proposed_by) == (State.IN_REVIEW, None)
    assert svc.outbox()[-1].kind == NotificationKind.DECISION_SENT_BACK
    svc.propose("rita", REF, "returned", {}, "the finance risk needs a plan")
    svc.countersign("nina", REF)
    assert state(svc) == State.RETURNED


def test_a_withdrawn_proposal_takes_no_further_action(svc):
    svc.seed_version("alice", REF)
    svc.withdraw("alice", REF, "the service is no longer being procured")
    assert state(svc) == State.WITHDRAWN
    with pytest.raises(Refused):
        svc.submit("alice", REF)


def test_a_query_waits_for_the_commissioner_and_an_open_query_holds_the_decision(svc):
    in_review(svc)
    assert svc.raise_query("rita", REF, "Which partner holds the pooled budget?", place="Finance D4") == 1
    assert svc.facts(REF).queries_awaiting_answer == (1,)
    assert svc.outbox()[-1].kind == NotificationKind.QUERY_RAISED
    with pytest.raises(Refused, match="query 1"):
        svc.propose("rita", REF, "approved", GREEN, "meets every criterion")
    with pytest.raises(Forbidden):  # the commissioner answers, not the panel
        svc.answer_query("rita", REF, 1, "the ICB")
    svc.answer_query("alice", REF, 1, "The ICB holds it under a section 75 agreement.")
    assert svc.facts(REF).queries_answered == (1,)
    svc.follow_up_query("rita", REF, 1, "Please attach the agreement.")
    assert svc.facts(REF).queries_awaiting_answer == (1,)
    svc.resolve_query("rita", REF, 1, "Seen at the panel meeting.")
    assert svc.facts(REF).open_queries == ()
    svc.propose("rita", REF, "approved", GREEN, "meets every criterion")


def test_a_query_on_a_finding_names_it_and_an_unknown_finding_is_not_found(svc):
    svc.seed_version("alice", REF, [WARNING])
    svc.acknowledge("alice", REF, "GOV003", "explained in the business case")
    svc.submit("alice", REF)
    svc.declare("rita", REF)
    svc.take("rita", REF)
    [warning] = svc.rows.all(FindingRecord, rule_id="GOV003")
    with pytest.raises(NotFound, match="no finding 999"):
        svc.raise_query("rita", REF, "What does this mean?", finding_id=999)
    svc.raise_query("rita", REF, "What does this mean?", finding_id=warning.id)
    assert svc.history(REF)[-1][0] == AuditKind.QUERY_RAISED
    assert "GOV003 at Cover C9" in svc.rows.all(AuditEvent)[-1].reason


def test_a_first_upload_makes_the_proposal_and_its_contact_is_told_what_the_checker_found(svc):
    result = svc.seed_version("alice", REF, [WARNING], contact="lead@qua.nhs.uk")
    assert (result.reference, result.version, result.created_proposal, result.warnings) == (REF, 1, True, 1)
    assert [k for k, _, _ in svc.history(REF)] == [AuditKind.PROPOSAL_CREATED, AuditKind.VERSION_UPLOADED,
                                                   AuditKind.CHECKED]
    told = svc.outbox()[-1]
    assert (told.kind, told.recipients) == (NotificationKind.VERSION_CHECKED, "lead@qua.nhs.uk")
    assert svc.facts(REF).unanswered_warnings == 1


def test_the_same_bytes_again_keep_nothing_new(svc):
    svc.upload("alice", "v1.xlsx", b"the same bytes", checked(REF))
    before = (svc.history(REF), svc.outbox(), dict(svc.files.kept))
    again = svc.upload("alice", "v1 again.xlsx", b"the same bytes", checked(REF))
    assert (again.duplicate, again.version, again.created_proposal) == (True, 1, False)
    assert (svc.history(REF), svc.outbox(), dict(svc.files.kept)) == before


def test_a_new_title_is_on_the_record(svc):
    svc.seed_version("alice", REF, title="Integrated care in Dudley")
    result = svc.seed_version("alice", REF, title="Integrated care in Dudley and Walsall")
    assert result.retitled == ("Integrated care in Dudley", "Integrated care in Dudley and Walsall")
    assert svc.history(REF)[-2][0] == AuditKind.TITLE_CHANGED


def test_a_workbook_of_another_organisation_or_of_none_is_refused(svc):
    with pytest.raises(Forbidden, match="not your organisation's"):
        svc.seed_version("alice", REF, code="QHM")
    svc.seed_user("ada", "admin")
    with pytest.raises(NotFound, match="unknown organisation XYZ"):
        svc.seed_version("ada", REF, code="XYZ")
    assert svc.rows.all(Proposal) == []


def test_a_proposal_under_review_takes_no_new_version(svc):
    svc.seed_version("alice", REF)
    svc.submit("alice", REF)
    with pytest.raises(Refused):
        svc.seed_version("alice", REF)
    assert svc.facts(REF).latest_version == 1


def test_a_version_past_the_proposals_storage_quota_is_not_kept(svc):
    svc.policy = dataclasses.replace(svc.policy, max_proposal_bytes=20)
    svc.upload("alice", "v1.xlsx", b"twelve bytes", checked(REF))
    before = (svc.history(REF), dict(svc.files.kept))
    with pytest.raises(Refused, match="storage quota"):
        svc.upload("alice", "v2.xlsx", b"twelve more!", checked(REF))
    assert (svc.history(REF), dict(svc.files.kept)) == before


# ---------------------------------------------------------------------- waivers

def error_id(svc: FakeService) -> int:
    return next(f.id for f in svc.rows.all(FindingRecord) if f.severity == "error")


def test_a_granted_waiver_lets_the_draft_be_submitted_and_the_reviewers_and_commissioner_are_told(svc):
    svc.seed_version("alice", REF, [ERROR])
    number = svc.request_waiver("alice", REF, error_id(svc), "A phased start, agreed by the ICB board.")
    assert number == 1 and svc.facts(REF).requested_waivers == (1,)
    assert svc.outbox()[-1].kind == NotificationKind.WAIVER_REQUESTED
    svc.grant_waiver("rita", REF, 1, "Sound: the minute shows the phasing.")
    assert svc.facts(REF).waived_errors == 1 and svc.facts(REF).requested_waivers == ()
    assert svc.history(REF)[-1][:2] == (AuditKind.WAIVER_GRANTED, "rita")
    assert svc.outbox()[-1].kind == NotificationKind.WAIVER_GRANTED
    svc.submit("alice", REF)
    assert state(svc) == State.SUBMITTED


def test_a_refused_waiver_leaves_the_error_blocking_and_may_be_asked_for_again(svc):
    svc.seed_version("alice", REF, [ERROR])
    svc.request_waiver("alice", REF, error_id(svc), "A phased start.")
    svc.refuse_waiver("nina", REF, 1, "Not shown by the board minute.")
    with pytest.raises(Refused, match="error"):
        svc.submit("alice", REF)
    assert svc.request_waiver("alice", REF, error_id(svc), "The minute is now attached.") == 2


@pytest.mark.parametrize("who, how, refusal", [
    ("rita", lambda svc: svc.request_waiver("rita", REF, error_id(svc), "For them."), Forbidden),
    ("alice", lambda svc: svc.grant_waiver("alice", REF, 1, "Granted by myself."), Forbidden),
    ("otto", lambda svc: svc.grant_waiver("otto", REF, 1, "Another organisation's."), NotFound),
    ("nina", lambda svc: svc.refuse_waiver("nina", REF, 2, "No such waiver."), NotFound),
    ("alice", lambda svc: svc.request_waiver("alice", REF, error_id(svc), "Asked again."), Refused),
])
def test_a_waiver_refused_to_whoever_may_not_ask_or_rule_changes_nothing(svc, who, how, refusal):
    svc.seed_version("alice", REF, [ERROR])
    svc.request_waiver("alice", REF, error_id(svc), "A phased start.")
    before = (svc.facts(REF), svc.history(REF), svc.outbox())
    with pytest.raises(refusal):
        how(svc)
    assert (svc.facts(REF), svc.history(REF), svc.outbox()) == before


# ---------------------------------------------------------------------------- planned submission dates
def test_a_planned_date_waits_for_a_reviewers_agreement_and_a_change_of_it_waits_again(svc):
    import datetime as dt

    svc.seed_version("alice", REF)
    assert svc.plan_submission("alice", REF, 2, dt.date(2027, 3, 1)) == {"checkpoint": 2, "planned": "2027-03-01",
                                                                         "agreed": None}
    assert svc.facts(REF).plans_to_agree == (2,)
    assert svc.agree_plan("rita", REF, 2)["agreed"] == "2027-03-01"
    assert svc.facts(REF).plans_to_agree == ()
    svc.plan_submission("alice", REF, 2, dt.date(2027, 3, 8), "The ICB board meets a week later.")
    assert svc.facts(REF).plans_to_agree == (2,)  # the agreed date still counts until the new one is agreed
    assert [e[:2] for e in svc.history(REF)[-3:]] == [(AuditKind.SUBMISSION_PLANNED, "alice"),
                                                      (AuditKind.PLAN_AGREED, "rita"),
                                                      (AuditKind.SUBMISSION_PLANNED, "alice")]
    [event] = svc.rows.all(AuditEvent, action=AuditKind.SUBMISSION_PLANNED)[-1:]
    assert event.reason == ("checkpoint 2 planned for 8 Mar 2027 (was 1 Mar 2027; agreed 1 Mar 2027): "
                            "The ICB board meets a week later.")


@pytest.mark.parametrize("who, how, refusal", [
    ("a reviewer plans", lambda s, d: s.plan_submission("rita", REF, 2, d(2027, 3, 1)), Forbidden),
    ("another organisation plans", lambda s, d: s.plan_submission("otto", REF, 2, d(2027, 3, 1)), NotFound),
    ("a Saturday", lambda s, d: s.plan_submission("alice", REF, 2, d(2027, 3, 6)), WorkflowError),
    ("the commissioner agrees", lambda s, d: s.agree_plan("alice", REF, 2), Forbidden),
    ("nothing waits at checkpoint 3", lambda s, d: s.agree_plan("rita", REF, 3), Refused),
    ("an agreed date changed without a reason", lambda s, d: s.plan_submission("alice", REF, 1, d(2027, 3, 8)),
     WorkflowError),
])
def test_a_plan_refused_changes_nothing(svc, who, how, refusal):
    import datetime as dt

    svc.seed_version("alice", REF)
    svc.plan_submission("alice", REF, 1, dt.date(2027, 3, 1))
    svc.agree_plan("rita", REF, 1)
    svc.plan_submission("alice", REF, 2, dt.date(2027, 6, 7))
    before = (svc.facts(REF), svc.history(REF), svc.outbox())
    with pytest.raises(refusal):
        how(svc, dt.date)
    assert (svc.facts(REF), svc.history(REF), svc.outbox()) == before

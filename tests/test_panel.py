"""The review panel on SQLite and PostgreSQL (docs/workflow.md "The review panel"): every guard refuses with its
reason and changes nothing; ratings carry their rater's name and are sealed; a decision takes effect only at a
second reviewer's countersignature; letters and reports name the panel by name and job title."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from isap.review.service import ConditionInput, Forbidden, Refused, WorkflowError
from sample_submissions.proposals import clean, write
from tests.evidence_helpers import attach_required
from tests.panel import second_reviewer

REF = "ISAP-2026-014"
RATINGS = {"capitalisation": "green", "transparency": "amber", "service_scope": "green",
           "relationships": "green", "governance": "green"}


def submitted(service, tmp_path, checkpoint=1):
    service.upload("alice", "w.xlsx", write(clean(checkpoint, reference=REF), tmp_path / "w.xlsx").read_bytes())
    service.submit("alice", REF)
    second_reviewer(service)
    service.add_user("carl", "reviewer", display_name="Carl Evans", job_title="Assurance Manager", body="nhs_england")


def in_review(service, tmp_path, **kw):
    submitted(service, tmp_path, **kw)
    service.declare("rita", REF)
    service.take("rita", REF)


def unchanged(service, action):
    """Run `action`; whatever it raises, the proposal and its history are as they were."""
    before = service.show("ada", REF)
    with pytest.raises(WorkflowError) as caught:
        action()
    after = service.show("ada", REF)
    assert (after["version"], after["history"], after["state"]) == (before["version"], before["history"],
                                                                    before["state"])
    return caught.value


def test_taking_rating_proposing_and_countersigning_need_a_declaration_first(service, tmp_path):
    submitted(service, tmp_path)
    err = unchanged(service, lambda: service.take("rita", REF))
    assert isinstance(err, Refused) and "declare your interests in ISAP-2026-014 first" in str(err)
    service.declare("rita", REF)
    service.take("rita", REF)
    err = unchanged(service, lambda: service.rate("nina", REF, "governance", "green"))
    assert "declare your interests" in str(err)
    service.propose("rita", REF, "approved", RATINGS, "Sound.")
    err = unchanged(service, lambda: service.countersign("nina", REF))
    assert isinstance(err, Refused) and "declare your interests" in str(err)
    err = unchanged(service, lambda: service.send_back("nina", REF, "Look again."))
    assert "declare your interests" in str(err)


def test_a_declared_conflict_bars_the_reviewer(service, tmp_path):
    in_review(service, tmp_path)
    assert service.declare("nina", REF, "Midlands Partnership NHS FT", "My spouse sits on its board.") is True
    err = unchanged(service, lambda: service.rate("nina", REF, "governance", "green"))
    assert isinstance(err, Forbidden) and "declared a conflict of interest" in str(err)
    service.propose("rita", REF, "approved", RATINGS, "Sound.")
    for action in (lambda: service.countersign("nina", REF), lambda: service.send_back("nina", REF, "No.")):
        err = unchanged(service, action)
        assert isinstance(err, Forbidden) and "declared a conflict of interest" in str(err)
    err = unchanged(service, lambda: service.declare("nina", REF))  # a conflict stands
    assert "it stands" in str(err)
    history = [h["action"] for h in service.show("rita", REF)["history"]]
    assert "conflict_declared" in history


def test_no_conflict_is_declared_once_and_then_only_a_conflict_that_has_arisen(service, tmp_path, db_url):
    from tests.in_process import isap

    submitted(service, tmp_path)
    service.declare("nina", REF)
    err = unchanged(service, lambda: service.declare("nina", REF))
    assert isinstance(err, Refused) and str(err) == (
        "nina has already declared no conflict of interest in ISAP-2026-014 at checkpoint 1: only a conflict "
        "that has arisen since may be declared")
    r = isap("declare", REF, "--as", "nina", env={"ISAP_DATABASE_URL": db_url, "ISAP_DATA_DIR": str(tmp_path / "d")})
    assert (r.returncode, r.stderr.strip()) == (1, f"isap: {err}")
    assert service.declare("nina", REF, "Midlands Partnership NHS FT", "My spouse joined its board.") is True


def test_a_declared_conflict_needs_the_organisation_and_a_note(service, tmp_path):
    submitted(service, tmp_path)
    with pytest.raises(WorkflowError, match="a note saying what it is"):
        service.declare("nina", REF, "Midlands Partnership NHS FT")
    with pytest.raises(WorkflowError, match="names the organisation"):
        service.declare("nina", REF, None, "Something.", conflict=True)
    assert service.proposal_facts("ada", REF)[0].conflicted == frozenset()


def test_only_the_lead_proposes_and_commissioners_declare_nothing(service, tmp_path):
    in_review(service, tmp_path)
    service.declare("nina", REF)
    err = unchanged(service, lambda: service.propose("nina", REF, "approved", RATINGS, "Sound."))
    assert isinstance(err, Forbidden) and "Rita Shah, Senior Assurance Lead leads the review" in str(err)
    err = unchanged(service, lambda: service.declare("alice", REF))
    assert isinstance(err, Forbidden)


def test_a_proposed_decision_takes_effect_only_at_the_countersignature(service, tmp_path):
    in_review(service, tmp_path)
    service.propose("rita", REF, "approved_with_conditions", RATINGS, "Sound.",
                    [ConditionInput("Publish the engagement report", "ICB director", dt.date(2027, 1, 31))])
    shown = service.show("alice", REF)
    assert (shown["state"], shown["checkpoint"], shown["conditions"]) == ("in_review", 1, [])
    kinds = [n["kind"] for n in service.outbox("ada")]
    assert "decision_proposed" in kinds and "decision_recorded" not in kinds  # no letter before it takes effect
    err = unchanged(service, lambda: service.countersign("rita", REF))
    assert isinstance(err, Forbidden) and "a second reviewer must countersign it" in str(err)
    err = unchanged(service, lambda: service.propose("rita", REF, "approved", RATINGS, "Again."))
    assert "already waits for countersignature" in str(err)
    service.declare("nina", REF)
    err = unchanged(service, lambda: service.rate("nina", REF, "governance", "red"))
    assert "the ratings stand" in str(err)
    service.countersign("nina", REF)
    shown = service.show("alice", REF)
    assert (shown["state"], shown["checkpoint"], len(shown["conditions"])) == ("draft", 2, 1)
    assert "decision_recorded" in [n["kind"] for n in service.outbox("ada")]
    decision = shown["reviews"][-1]["decision"]
    assert (decision["proposed_by"], decision["countersigned_by"]) == (
        "Rita Shah, Senior Assurance Lead", "Nina Okafor, Deputy Director of Assurance")
    # the lead who proposed it is told it has taken effect, by whom
    [told] = [n for n in service.outbox("ada") if n["kind"] == "decision_countersigned"]
    assert told["subject"] == f"{REF}: your proposed decision was countersigned"
    assert "Nina Okafor, Deputy Director of Assurance has countersigned the decision you proposed" in told["body"]
    assert service.verify_audit().ok


def test_the_countersigner_may_send_it_back_with_a_note(service, tmp_path):
    in_review(service, tmp_path)
    service.propose("rita", REF, "approved", RATINGS, "Sound.")
    service.declare("nina", REF)
    err = unchanged(service, lambda: service.send_back("nina", REF, "  "))
    assert "needs a note" in str(err)
    service.send_back("nina", REF, "Transparency is amber: say why.")
    shown = service.show("rita", REF)
    assert shown["state"] == "in_review" and not shown["panel"]["waiting_for_countersignature"]
    assert shown["panel"]["proposed"][-1]["note"] == "Transparency is amber: say why."
    err = unchanged(service, lambda: service.countersign("nina", REF))
    assert "no proposed decision" in str(err)
    service.propose("rita", REF, "approved", {}, "Sound; transparency amber until the register is published.")
    service.countersign("nina", REF)
    assert service.show("rita", REF)["state"] == "draft"


def test_at_checkpoint_two_the_countersigner_is_of_the_other_body(service, tmp_path):
    in_review(service, tmp_path)
    service.propose("rita", REF, "approved", RATINGS, "Sound.")
    service.declare("carl", REF)  # NHS England, as rita: at checkpoint 1 any second reviewer may countersign
    service.countersign("carl", REF)
    service.upload("alice", "w2.xlsx", write(clean(2, reference=REF), tmp_path / "w2.xlsx").read_bytes())
    attach_required(service, "alice", REF)
    service.submit("alice", REF)
    service.take("rita", REF)  # declared once for the proposal
    service.propose("rita", REF, "approved", RATINGS, "Sound.")
    err = unchanged(service, lambda: service.countersign("carl", REF))
    assert isinstance(err, Forbidden) and "must be from NHS Improvement (policy countersign_other_body)" in str(err)
    err = unchanged(service, lambda: service.countersign("ada", REF))  # an administrator with no body recorded
    assert isinstance(err, Refused) and "declare your interests" in str(err)
    service.declare("ada", REF)
    err = unchanged(service, lambda: service.countersign("ada", REF))
    assert "no body recorded" in str(err)
    service.declare("nina", REF)
    service.countersign("nina", REF)
    assert service.show("rita", REF)["checkpoint"] == 3


def test_any_panel_member_rates_a_domain_with_their_name_on_it(service, tmp_path):
    in_review(service, tmp_path)
    service.declare("nina", REF)
    service.rate("nina", REF, "Capitalisation", "Amber")
    with pytest.raises(WorkflowError, match="unknown assurance domain"):
        service.rate("nina", REF, "finance", "amber")
    err = unchanged(service, lambda: service.propose("rita", REF, "approved", {"transparency": "green"}, "Sound."))
    assert "missing: Service scope, Relationships, Governance" in str(err)
    service.propose("rita", REF, "approved", {d: r for d, r in RATINGS.items() if d != "capitalisation"}, "Sound.")
    service.declare("carl", REF)
    service.countersign("carl", REF)
    review = service.show("rita", REF)["reviews"][-1]
    assert review["ratings"]["capitalisation"] == "amber"
    assert review["rated_by"]["capitalisation"] == "Nina Okafor, Deputy Director of Assurance"
    assert review["rated_by"]["governance"] == "Rita Shah, Senior Assurance Lead"
    assert service.verify_audit().ok


def test_a_rating_changed_after_it_was_recorded_is_found(service, tmp_path):
    from sqlalchemy import text

    in_review(service, tmp_path)
    service.declare("nina", REF)
    service.rate("nina", REF, "governance", "red")
    with service.engine.begin() as c:  # past the application: its insert-only triggers off, as an owner could
        if service.engine.dialect.name == "sqlite":
            c.execute(text("DROP TRIGGER rating_no_update"))
        else:
            c.execute(text("ALTER TABLE rating DISABLE TRIGGER rating_insert_only"))
        c.execute(text("UPDATE rating SET rating = 'green'"))
    problems = service.verify_audit().problems
    assert any("was changed after it was recorded" in p for p in problems), problems


def test_users_have_a_display_name_job_title_and_body(service):
    service.set_user_details("rita", job_title="Head of Assurance", body="NHS Improvement")
    rita = next(u for u in service.users() if u["username"] == "rita")
    assert (rita["display_name"], rita["job_title"], rita["body"]) == ("Rita Shah", "Head of Assurance",
                                                                      "nhs_improvement")
    with pytest.raises(WorkflowError, match="body must be NHS England or NHS Improvement"):
        service.set_user_details("rita", body="Monitor")
    with pytest.raises(Forbidden):
        service.set_user_details("rita", display_name="R", actor="alice")


def test_the_panels_words_name_the_lead_and_the_proposer_by_name_not_by_user_name(service, tmp_path):
    """What a reviewer reads on the proposal page about whose turn it is names people as the pages do
    (`person_words`): "Rita Shah, Senior Assurance Lead proposed a decision", never "rita proposed a decision"."""
    in_review(service, tmp_path)
    service.declare("nina", REF)
    rita = "Rita Shah, Senior Assurance Lead"
    before = {a["action"]: a for a in service.show("nina", REF)["actions"]}
    assert before["decide"]["waiting"] == f"{rita} leads the review and proposes the decision."
    assert service.next_step("carl", REF).startswith(f"{rita} leads the review: declare your interests")
    service.propose("rita", REF, "approved", RATINGS, "Sound.")
    assert service.next_step("nina", REF) == f"{rita} proposed a decision: countersign it, or send it back with a note."
    shown = {a["action"]: a for a in service.show("nina", REF)["actions"]}
    assert shown["rate"]["reason"].startswith(f"the decision {rita} proposed on {REF} waits for countersignature")
    assert "rita " not in service.next_step("carl", REF)


def test_a_reviewer_with_a_declared_conflict_takes_no_part_in_conditions_plans_queries_or_returns(service, tmp_path):
    """Found by a fresh attack: a reviewer who had declared a conflict discharged the condition a countersigned
    decision set (so the next submission was no longer blocked), raised queries that stopped the countersignature,
    and returned a submission; a reviewer who had declared nothing returned one too."""
    from tests.panel import decide

    submitted(service, tmp_path)
    service.declare("carl", REF, "Midlands Partnership NHS FT", "I sit on its board.")
    barred = "declared a conflict of interest in ISAP-2026-014"
    for action in (lambda: service.return_submission("carl", REF, "Bounce."),
                   lambda: service.return_submission("nina", REF, "Bounce.")):
        err = unchanged(service, action)
        assert (barred if "carl" in str(err) else "declare your interests in ISAP-2026-014 first") in str(err)
    service.plan_submission("alice", REF, 2, dt.date(2027, 3, 1))
    err = unchanged(service, lambda: service.agree_plan("carl", REF, 2))
    assert isinstance(err, Forbidden) and barred in str(err)
    service.declare("rita", REF)
    service.take("rita", REF)
    err = unchanged(service, lambda: service.raise_query("carl", REF, "Stalling question"))
    assert isinstance(err, Forbidden) and barred in str(err)
    q = service.raise_query("rita", REF, "Which board approved the value?")
    service.answer_query("alice", REF, q, "The ICB board, 15 September.")
    err = unchanged(service, lambda: service.follow_up_query("carl", REF, q, "Again?"))
    assert isinstance(err, Forbidden) and barred in str(err)
    service.resolve_query("rita", REF, q, "Seen.")
    decide(service, "rita", REF, "approved_with_conditions", RATINGS, "Sound.",
           [ConditionInput("Publish the engagement report", "ICB director", dt.date(2027, 1, 31))])
    [cond] = service.show("alice", REF)["conditions"]
    for carry_forward in (False, True):
        err = unchanged(service, lambda: service.discharge("carl", REF, cond["id"], "Seen.", carry_forward))
        assert isinstance(err, Forbidden) and barred in str(err)
    assert service.show("alice", REF)["conditions"][0]["status"] == "open"
    service.discharge("rita", REF, cond["id"], "Seen and checked.")


def test_whoever_answered_a_query_never_resolves_it_nor_agrees_a_date_they_planned(service, tmp_path):
    """Found by a fresh attack: an administrator answered a query on the commissioner's behalf and resolved it
    herself, so one person cleared what stopped the decision alone (as a waiver's asker may not answer it)."""
    in_review(service, tmp_path)
    q = service.raise_query("rita", REF, "Which board approved the value?")
    service.answer_query("ada", REF, q, "Answered on their behalf.")
    service.declare("ada", REF)  # (so that only the answer stands in her way)
    err = unchanged(service, lambda: service.resolve_query("ada", REF, q, "Fine."))
    assert isinstance(err, Forbidden) and str(err) == (
        f"query {q} was last answered by ada: another reviewer resolves it")
    service.resolve_query("rita", REF, q, "Seen.")
    service.plan_submission("ada", REF, 2, dt.date(2027, 3, 1))
    err = unchanged(service, lambda: service.agree_plan("ada", REF, 2))
    assert isinstance(err, Forbidden) and str(err) == (
        "checkpoint 2's date was proposed by ada: another reviewer agrees it")
    service.agree_plan("rita", REF, 2)


def test_a_lead_who_declares_a_conflict_leads_no_more_and_their_proposal_is_not_countersigned(service, tmp_path):
    """Found by a fresh attack: a lead who declared a conflict after taking the proposal froze it (only the lead
    proposes, and they no longer may), and one who declared it after proposing had the decision countersigned
    all the same.  A conflicted lead leads no more: another panel member proposes; a proposal of theirs waiting is
    sent back, never countersigned."""
    in_review(service, tmp_path)
    service.propose("rita", REF, "approved", RATINGS, "Sound.")
    service.declare("rita", REF, "Midlands Partnership NHS FT", "My spouse has just joined its board.")
    service.declare("nina", REF)
    err = unchanged(service, lambda: service.countersign("nina", REF))
    assert isinstance(err, Refused) and str(err) == (
        "Rita Shah, Senior Assurance Lead, who proposed the decision on ISAP-2026-014, has since declared a conflict "
        "of interest: send it back, and another panel member proposes it")
    assert service.show("nina", REF)["next_step"].endswith(
        "Rita Shah, Senior Assurance Lead proposed a decision but has since declared a conflict of interest: send it "
        "back, and another panel member proposes it.")
    service.send_back("nina", REF, "Rita has declared a conflict.")
    assert service.show("nina", REF)["next_step"].endswith(
        "The lead reviewer has declared a conflict of interest: rate the five assurance domains and propose the "
        "decision; a second reviewer countersigns it.")
    service.propose("nina", REF, "approved", RATINGS, "Sound, on the panel's own reading.")
    service.declare("carl", REF)
    service.countersign("carl", REF)
    decision = service.show("alice", REF)["reviews"][-1]["decision"]
    assert (decision["proposed_by"], decision["countersigned_by"]) == (
        "Nina Okafor, Deputy Director of Assurance", "Carl Evans, Assurance Manager")


def test_where_the_other_body_countersigns_the_proposer_has_a_body(service, tmp_path):
    """Found by a fresh attack: with the proposer's body not recorded (an administrator), a reviewer of either
    body countersigned at a checkpoint where the second reviewer must be of the other body."""
    service.policy = dataclasses.replace(service.policy, countersign_other_body=(1, 2, 3))
    submitted(service, tmp_path)
    service.declare("ada", REF)
    service.take("ada", REF)
    err = unchanged(service, lambda: service.propose("ada", REF, "approved", RATINGS, "Sound."))
    assert isinstance(err, Forbidden) and str(err) == (
        "at checkpoint 1 the decision is proposed and countersigned by reviewers of NHS England and NHS "
        "Improvement, one each (policy countersign_other_body): ada has no body recorded (isap user set ada "
        "--body …)")
    service.set_user_details("ada", body="nhs_england")
    service.propose("ada", REF, "approved", RATINGS, "Sound.")
    service.declare("rita", REF)
    assert "must be from NHS Improvement" in str(unchanged(service, lambda: service.countersign("rita", REF)))
    service.declare("nina", REF)
    service.countersign("nina", REF)

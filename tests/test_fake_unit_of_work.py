"""The fake unit of work answers as the store does: one journey, run against both, step by step.

`tests/test_review_commands.py` tests the state machine's commands over the fake (`tests/fake_unit_of_work.py`);
those tests mean something only while the fake's answers are the store's.  Here the same journey runs on the
real service (SQLite) and on the fake: after each step, the facts the guards read and the events the step
recorded must be the same, and each refusal must be the same refusal.
"""

from __future__ import annotations

import copy
import datetime as dt

import pytest

from isap.review.errors import WorkflowError
from isap.review.types import ConditionInput
from isap.rules.engine import check_bytes
from sample_submissions.proposals import clean, write
from tests.fake_unit_of_work import FakeService
from tests.panel import second_reviewer

pytestmark = pytest.mark.integration

REF = "ISAP-2026-014"
RATINGS = {"capitalisation": "green", "transparency": "amber", "service_scope": "green",
           "relationships": "green", "governance": "green"}
CONDITION = ConditionInput("Publish the engagement report", "ICB programme director", dt.date(2027, 1, 31))

# the journey: who does what, with a refusal on the way at most turns the table takes
STEPS = [
    ("alice", "submit", ()),  # refused: a warning without its note
    ("alice", "acknowledge", ("REL011", "The CVS joins through the alliance board from year 2.")),
    ("rita", "submit", ()),  # refused: not a reviewer's to do
    ("alice", "submit", ()),
    ("rita", "take", ()),  # refused: no declaration yet
    ("rita", "declare", ()),
    ("rita", "take", ()),
    ("rita", "raise_query", ("Which partner holds the pooled budget?", None, "Finance D4")),
    ("rita", "propose", ("approved", RATINGS, "A sound strategic case.")),  # refused: query 1 is open
    ("rita", "answer_query", (1, "The ICB.")),  # refused: the commissioner answers
    ("alice", "answer_query", (1, "The ICB, under a section 75 agreement.")),
    ("rita", "follow_up_query", (1, "Please attach the agreement.")),
    ("alice", "answer_query", (1, "It is schedule 4 of the contract.")),
    ("rita", "resolve_query", (1, "Seen at the panel meeting.")),
    ("rita", "propose", ("approved_with_conditions", RATINGS, "A sound strategic case.", [CONDITION])),
    ("rita", "countersign", ()),  # refused: never the lead's own
    ("nina", "declare", ()),
    ("nina", "send_back", ("Say how the condition will be checked.",)),
    ("rita", "propose", ("approved_with_conditions", RATINGS, "A sound strategic case; checked in March.",
                         [CONDITION])),
    ("nina", "countersign", ()),
    ("alice", "submit", ()),  # refused: checkpoint 2 needs a version
]


def facts(svc, reference: str = REF):
    return svc.proposal_facts("rita", reference)[0]


def step(svc, actor: str, command: str, args: tuple) -> str | None:
    """Do one step; the refusal's kind and words, if it was refused."""
    try:
        getattr(svc, command)(actor, REF, *args)
    except WorkflowError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def events(svc) -> list[tuple]:
    """The proposal's history as both keep it: what happened, who did it, the state it led to."""
    if isinstance(svc, FakeService):
        return svc.history(REF)
    return [(h["action"], h["actor"], h["to_state"]) for h in svc.show("rita", REF)["history"]]


def fake_with_the_panel() -> FakeService:
    """The fake with the people the store's `service` has for these journeys: alice, and the panel of two."""
    fake = FakeService()
    fake.seed_organisation("QUA", "NHS Black Country ICB")
    fake.seed_user("alice", "commissioner", "QUA")
    fake.seed_user("rita", "reviewer", body="nhs_england", display_name="Rita Shah", job_title="Senior Assurance Lead")
    fake.seed_user("nina", "reviewer", body="nhs_improvement", display_name="Nina Okafor",
                   job_title="Deputy Director of Assurance")
    return fake


def test_the_fake_answers_every_step_of_a_journey_as_the_store_does(service, tmp_path):
    warned = clean(1, "Partially integrated", "NHS trust", REF)
    warned["Partners"] = [x for x in warned["Partners"] if x["partner_type"] != "Voluntary sector"]  # REL011
    data = write(warned, tmp_path / "v1.xlsx").read_bytes()
    report = check_bytes(data, "v1.xlsx", service.policy)
    service.upload("alice", "v1.xlsx", data, copy.deepcopy(report))
    second_reviewer(service)

    fake = fake_with_the_panel()
    fake.upload("alice", "v1.xlsx", data, copy.deepcopy(report))
    assert facts(fake) == facts(service)
    assert events(fake) == events(service)

    refusals = 0
    for actor, command, args in STEPS:
        real_before, fake_before = len(events(service)), len(events(fake))
        refused = step(service, actor, command, args)
        assert step(fake, actor, command, args) == refused, (actor, command)
        refusals += refused is not None
        assert facts(fake) == facts(service), (actor, command)
        assert events(fake)[fake_before:] == events(service)[real_before:], (actor, command)
    assert refusals == 7


def first_error(svc) -> int:
    """The id of the latest version's first error, as each keeps it (the ids are each store's own)."""
    if isinstance(svc, FakeService):
        from isap.store.models import FindingRecord, SubmissionVersion

        latest = svc.rows.all(SubmissionVersion)[-1]
        return svc.rows.all(FindingRecord, version_id=latest.id, severity="error")[0].id
    return next(f["id"] for f in svc.show("alice", REF)["findings"] if f["severity"] == "error")


WAIVER_STEPS = [
    ("alice", "submit", ()),  # refused: an error stands
    ("rita", "request_waiver", (first_error, "A phased start.")),  # refused: the commissioner asks
    ("alice", "request_waiver", (first_error, "The figure is a phased start, agreed with the ICB board.")),
    ("alice", "request_waiver", (first_error, "Asked again.")),  # refused: asked for already
    ("alice", "grant_waiver", (1, "Granted by myself.")),  # refused: a reviewer rules
    ("rita", "grant_waiver", (1, "Sound: the board minute shows the phasing.")),
    ("rita", "refuse_waiver", (1, "On second thoughts.")),  # refused: ruled already
    ("nina", "refuse_waiver", (2, "No such waiver.")),  # refused: there is none
]


def test_the_fake_answers_waivers_as_the_store_does(service, tmp_path):
    book = clean(1, "Partially integrated", "NHS trust", REF)
    book["Cover"]["wpap_annual_value_gbp"] = 1  # an error a waiver may be asked for
    data = write(book, tmp_path / "v1.xlsx").read_bytes()
    report = check_bytes(data, "v1.xlsx", service.policy)
    assert report.summary["error"] >= 1
    service.upload("alice", "v1.xlsx", data, copy.deepcopy(report))
    second_reviewer(service)

    fake = fake_with_the_panel()
    fake.upload("alice", "v1.xlsx", data, copy.deepcopy(report))
    assert facts(fake) == facts(service)

    refusals = 0
    for actor, command, args in WAIVER_STEPS:
        real_before, fake_before = len(events(service)), len(events(fake))
        refused = step(service, actor, command, tuple(a(service) if callable(a) else a for a in args))
        assert step(fake, actor, command, tuple(a(fake) if callable(a) else a for a in args)) == refused, \
            (actor, command, refused)
        refusals += refused is not None
        assert facts(fake) == facts(service), (actor, command)
        assert events(fake)[fake_before:] == events(service)[real_before:], (actor, command)
    assert refusals == 6
    assert facts(fake).waived_errors == 1


PLAN_STEPS = [
    ("rita", "agree_plan", (2,)),  # refused: nothing is planned
    ("rita", "plan_submission", (2, dt.date(2027, 3, 1))),  # refused: the commissioner plans
    ("alice", "plan_submission", (2, dt.date(2027, 3, 6))),  # refused: a Saturday
    ("alice", "plan_submission", (2, dt.date(2027, 3, 1))),
    ("alice", "agree_plan", (2,)),  # refused: a reviewer agrees
    ("rita", "agree_plan", (2,)),
    ("rita", "agree_plan", (2,)),  # refused: nothing waits for agreement
    ("alice", "plan_submission", (2, dt.date(2027, 3, 8))),  # refused: an agreed date changes with a reason
    ("alice", "plan_submission", (2, dt.date(2027, 3, 8), "The ICB board meets a week later.")),
    ("alice", "plan_submission", (2, dt.date(2027, 3, 8))),  # the same date again: nothing changes
    ("nina", "agree_plan", (2,)),
]


def test_the_fake_answers_planned_dates_as_the_store_does(service, tmp_path):
    data = write(clean(1, "Partially integrated", "NHS trust", REF), tmp_path / "v1.xlsx").read_bytes()
    report = check_bytes(data, "v1.xlsx", service.policy)
    service.upload("alice", "v1.xlsx", data, copy.deepcopy(report))
    second_reviewer(service)

    fake = fake_with_the_panel()
    fake.upload("alice", "v1.xlsx", data, copy.deepcopy(report))
    refusals = []
    for actor, command, args in PLAN_STEPS:
        real_before, fake_before = len(events(service)), len(events(fake))
        refused = step(service, actor, command, args)
        assert step(fake, actor, command, args) == refused, (actor, command, refused)
        refusals.append(refused)
        assert facts(fake) == facts(service), (actor, command)
        assert events(fake)[fake_before:] == events(service)[real_before:], (actor, command)
    assert sum(r is not None for r in refusals) == 6, refusals
    assert facts(fake).plans_to_agree == ()

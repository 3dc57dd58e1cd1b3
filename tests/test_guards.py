"""The guards of the transition table, and every workflow action's two front doors.

Who may do an action, and when, is decided once: by the guard functions each
row of `TABLE` lists (isap/review/lifecycle.py).  `refusal` runs them and
`allowed_actions` asks `refusal`, so what a page offers and what the service
refuses cannot differ.  An action the table has is reachable from the command
line and from the dashboard, or a test here names it."""

from __future__ import annotations

import ast
import inspect
import textwrap

import typer

from isap.review.lifecycle import (
    CONFLICT_ARISEN,
    TABLE,
    Action,
    Actor,
    Body,
    EvidenceFacts,
    PlanFacts,
    ProposalFacts,
    Role,
    State,
    allowed_actions,
    refusal,
)

REF = "ISAP-2026-014"
RITA = Actor("rita", Role.REVIEWER, owns=False, body=Body.NHS_ENGLAND)
CARL = Actor("carl", Role.REVIEWER, owns=False, body=Body.NHS_ENGLAND)
NINA = Actor("nina", Role.REVIEWER, owns=False, body=Body.NHS_IMPROVEMENT)
ALICE = Actor("alice", Role.COMMISSIONER, owns=True)


def options(facts, actor):
    return {o.action: o for o in allowed_actions(facts, actor)}


def proposed(checkpoint: int) -> ProposalFacts:
    """In review at `checkpoint`: rita (NHS England) leads and has proposed; everyone named has declared none."""
    return ProposalFacts(REF, State.IN_REVIEW, checkpoint, 1, checkpoint, lead="rita", proposed_by="rita",
                         proposer_body=Body.NHS_ENGLAND, other_body_needed=checkpoint >= 2,
                         declared=frozenset({"rita", "carl", "nina"}))


# ---------------------------------------------------------------------- the guards are the table's

def test_every_row_lists_its_guards_as_named_functions_that_say_why():
    for action, t in TABLE.items():
        for guard in t.guards:
            assert inspect.isfunction(guard) and guard.__name__ != "<lambda>", (action, guard)
            assert (guard.__doc__ or "").strip(), f"the guard {guard.__name__} of {action.value} has no docstring"


def test_the_panel_guards_are_listed_on_the_rows_they_guard():
    names = {a: [g.__name__ for g in TABLE[a].guards] for a in Action}
    assert "own_proposal_not_countersigned" in names[Action.COUNTERSIGN]
    assert "other_body_countersigns" in names[Action.COUNTERSIGN] and "other_body_countersigns" in names[
        Action.SEND_BACK]
    assert "no_open_query" in names[Action.DECIDE] and "no_open_query" in names[Action.COUNTERSIGN]
    assert "no_open_query" not in names[Action.SEND_BACK]  # sending back stays open while a query is
    assert "conflict_bars" in names[Action.TAKE] and "conflict_stands" in names[Action.DECLARE]


def test_a_plan_is_agreed_only_for_a_checkpoint_whose_date_waits():
    facts = ProposalFacts(REF, State.DRAFT, 1, 1, 1, plans_to_agree=(2,))
    assert refusal(Action.AGREE_PLAN, facts, RITA, PlanFacts(2, waiting=True)) is None
    assert refusal(Action.AGREE_PLAN, facts, RITA, PlanFacts(1, waiting=False)).reason == \
        f"{REF} has no planned date for checkpoint 1 waiting to be agreed"


def test_evidence_is_attached_for_this_or_an_earlier_checkpoint_only():
    facts = ProposalFacts(REF, State.DRAFT, 2, 1, 2)
    assert refusal(Action.ATTACH_EVIDENCE, facts, ALICE, EvidenceFacts(1)) is None
    assert refusal(Action.ATTACH_EVIDENCE, facts, ALICE, EvidenceFacts(3)).reason == (
        f"{REF} is at checkpoint 2: a document is attached for it or an earlier checkpoint, not a later one")


# ---------------------------------------------------------------------- what a page offers each person

def test_the_lead_is_not_offered_the_countersignature_and_is_told_who_it_waits_for():
    mine = options(proposed(2), RITA)
    for action in (Action.COUNTERSIGN, Action.SEND_BACK):
        assert not mine[action].yours and not mine[action].allowed
        assert mine[action].waiting == ("Waiting for a reviewer of NHS Improvement to countersign the proposed "
                                        "decision or send it back.")
    # a reviewer of the proposer's own body may not countersign at checkpoint 2 either, and is told the same
    assert options(proposed(2), CARL)[Action.COUNTERSIGN].waiting == mine[Action.COUNTERSIGN].waiting
    assert options(proposed(2), NINA)[Action.COUNTERSIGN].yours and options(proposed(2), NINA)[
        Action.COUNTERSIGN].allowed
    # at checkpoint 1 any second reviewer countersigns
    assert options(proposed(1), RITA)[Action.COUNTERSIGN].waiting == (
        "Waiting for a second reviewer to countersign the proposed decision or send it back.")


def test_the_lead_is_offered_no_countersignature_before_proposing_either():
    """Before any decision is proposed the lead is still never its countersigner: nothing to countersign is
    not "not yet" for them, and a disabled Countersign button beside the decision form misled them."""
    facts = ProposalFacts(REF, State.IN_REVIEW, 2, 1, 2, lead="rita", declared=frozenset({"rita", "nina"}),
                          other_body_needed=True)
    mine = options(facts, RITA)
    for action in (Action.COUNTERSIGN, Action.SEND_BACK):
        assert not mine[action].yours and not mine[action].allowed, action
        assert mine[action].waiting is None  # nothing waits for anyone yet: nothing to say
        assert "leads the review" in refusal(action, facts, RITA).reason
    # a second reviewer is told why it is not yet possible, as before
    nina = options(facts, NINA)[Action.COUNTERSIGN]
    assert nina.yours and not nina.allowed and "no proposed decision" in nina.reason


def test_a_reviewer_who_has_not_declared_is_not_offered_the_leads_decision_form():
    """nina, before declaring, was shown the whole decision form, disabled, though rita leads: whatever she
    declares, proposing the decision is never hers."""
    facts = ProposalFacts(REF, State.IN_REVIEW, 1, 1, 1, lead="rita", declared=frozenset({"rita"}))
    decide = options(facts, NINA)[Action.DECIDE]
    assert not decide.yours and decide.waiting == "rita leads the review and proposes the decision."
    assert options(facts, NINA)[Action.DECLARE].allowed  # what she can do now is declare


def test_what_is_not_yet_possible_stays_the_persons_own_with_its_reason():
    facts = ProposalFacts(REF, State.IN_REVIEW, 1, 1, 1, lead="rita", declared=frozenset({"rita"}))
    nina = options(facts, NINA)
    assert nina[Action.RATE].yours and not nina[Action.RATE].allowed  # she has not declared yet: hers to do
    assert nina[Action.RATE].waiting is None and "declare your interests" in nina[Action.RATE].reason
    declared = options(ProposalFacts(REF, State.IN_REVIEW, 1, 1, 1, lead="rita",
                                     declared=frozenset({"rita", "nina"})), NINA)
    assert not declared[Action.DECIDE].yours  # the lead proposes
    assert declared[Action.DECIDE].waiting == "rita leads the review and proposes the decision."


def test_a_reviewer_who_declared_none_is_offered_only_a_conflict_that_has_arisen():
    facts = proposed(1)
    assert options(facts, NINA)[Action.DECLARE].label == CONFLICT_ARISEN == "Declare a conflict that has arisen"
    undeclared = ProposalFacts(REF, State.IN_REVIEW, 1, 1, 1, lead="rita", declared=frozenset({"rita"}))
    assert options(undeclared, NINA)[Action.DECLARE].label == Action.DECLARE.label


# ---------------------------------------------------------------------- every action has a command and a control

def _cli_commands() -> set[str]:
    from isap.cli import app

    found: set[str] = set()

    def walk(command, path: tuple[str, ...]) -> None:
        if getattr(command, "commands", None):  # a group of commands
            for name, sub in command.commands.items():
                walk(sub, (*path, name))
        else:
            found.add(" ".join(path))
    walk(typer.main.get_command(app), ())
    return found


def test_every_action_has_a_command_of_the_command_line():
    from isap.cli import ACTION_COMMANDS

    commands = _cli_commands()
    missing = [a.value for a in Action if a not in ACTION_COMMANDS]
    assert not missing, "no `isap` command is named for the action(s): " + ", ".join(missing)
    unknown = [f"{a.value} -> isap {c}" for a, c in ACTION_COMMANDS.items() if c not in commands]
    assert not unknown, "these actions name commands the `isap` command does not have: " + ", ".join(unknown)


def _reached(fn) -> set[str]:
    """The `Action.X` names a function uses, with those of the functions of its own module it calls, and theirs."""
    seen, names, todo = set(), set(), [fn]
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        for node in ast.walk(ast.parse(textwrap.dedent(inspect.getsource(f)))):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "Action":
                names.add(node.attr)
            if isinstance(node, ast.Name):
                called = f.__globals__.get(node.id)
                if inspect.isfunction(called) and called.__module__ == f.__module__:
                    todo.append(called)
    return names


def test_every_action_has_a_control_on_the_dashboard():
    from dashboards.navigation import PAGES
    from dashboards.views import proposal

    missing = [a.value for a in Action if a not in proposal.CONTROLS]
    assert not missing, "no dashboard control is named for the action(s): " + ", ".join(missing)
    pages = {p.title for p in PAGES}
    wrong = []
    for action, where in proposal.CONTROLS.items():
        if where in proposal.TABS:
            if action.name not in _reached(proposal.TABS[where]):
                wrong.append(f"{action.value}: the {where} tab offers no control for it")
        elif where not in pages:
            wrong.append(f"{action.value}: {where!r} is neither a tab of the proposal page nor a page")
    assert not wrong, "; ".join(wrong)

"""The review panel as tests drive it: a reviewer declares before taking a proposal, and a checkpoint decision
is proposed by the lead and countersigned by a second reviewer of the other body (docs/workflow.md)."""

from __future__ import annotations

from isap.review.service import Refused, WorkflowError

SECOND = "nina"  # the second reviewer, of NHS Improvement


def second_reviewer(svc, username: str = SECOND) -> str:
    """The second reviewer's account, added the first time it is needed."""
    try:
        svc.add_user(username, "reviewer", display_name="Nina Okafor", job_title="Deputy Director of Assurance",
                     body="nhs_improvement", email=f"{username}@improvement.nhs.uk")
    except Refused:
        pass  # already there
    return username


def declared(svc, reviewer: str, reference: str) -> None:
    """`reviewer` has declared no interests in the proposal (once); a declaration refused is left to the action
    that follows it to refuse in its own words."""
    facts, _ = svc.proposal_facts(reviewer, reference) if _may_see(svc, reviewer, reference) else (None, None)
    if facts is not None and reviewer in facts.declared:
        return
    try:
        svc.declare(reviewer, reference)
    except WorkflowError:
        pass


def _may_see(svc, reviewer: str, reference: str) -> bool:
    try:
        svc.proposal_facts(reviewer, reference)
    except WorkflowError:
        return False
    return True


def take(svc, reviewer: str, reference: str, *args, **kwargs) -> None:
    """`reviewer` declares no interests and takes the proposal into review."""
    declared(svc, reviewer, reference)
    svc.take(reviewer, reference, *args, **kwargs)


def decide(svc, lead: str, reference: str, outcome: str, ratings: dict, rationale: str, conditions=(),
           countersigner: str = SECOND, **kwargs) -> None:
    """The lead proposes the decision and the second reviewer countersigns it, so it takes effect."""
    if countersigner == SECOND:
        second_reviewer(svc)
    svc.propose(lead, reference, outcome, ratings, rationale, conditions, **kwargs)
    declared(svc, countersigner, reference)
    svc.countersign(countersigner, reference)


def countersign_from_the_command_line(data_dir, reference: str, countersigner: str = SECOND) -> None:
    """The second reviewer declares and countersigns with `isap`, on the store a dashboard under test uses."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "ISAP_DATA_DIR": str(data_dir)}
    env.pop("ISAP_DATABASE_URL", None)
    for args in (["declare", reference], ["review", "countersign", reference]):
        subprocess.run([sys.executable, "-m", "isap.cli", *args, "--as", countersigner], env=env, check=True,
                       capture_output=True, timeout=120)

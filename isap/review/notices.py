"""What each notification says, in words a commissioner understands.

The outbox rows the service writes carry a subject and a plain-text body made
here, so every interface (CLI, dashboard, flows) tells people the same thing in
the same words: no internal state names, the checkpoint by its number and name,
and the link to the proposal's page on the dashboard.  Text that came from a
workbook or a person (titles, rationales, conditions) is only ever placed in
plain text, clipped, and kept out of headers' line breaks.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from urllib.parse import quote

from isap.review.lifecycle import Outcome, State

CHECKPOINT_NAMES = {1: "strategic case", 2: "preferred bidder", 3: "mobilisation"}
OUTCOME_WORDS = {
    Outcome.APPROVED: "Approved",
    Outcome.APPROVED_WITH_CONDITIONS: "Approved with conditions",
    Outcome.RETURNED: "Returned for further work",
    Outcome.HALTED: "Halted: do not proceed",
}
WAITING_WORDS = {State.SUBMITTED: "waiting for a reviewer to take it", State.IN_REVIEW: "in review"}
SUBJECT_TITLE = 80  # characters of a title shown in a subject line
BODY_TEXT = 2000  # characters of any one submitted text shown in a body


@dataclass(frozen=True)
class Notice:
    subject: str
    body: str


def link(base_url: str, reference: str) -> str:
    return f"{base_url.rstrip('/')}/proposal?ref={quote(reference, safe='-')}"


def _line(value: str | None, limit: int) -> str:
    """Text for one line: control characters (line breaks included) become spaces, then it is clipped."""
    text = "".join(ch if ch >= " " and ch != "\x7f" else " " for ch in (value or "")[: limit + 1]).strip()
    return text if len(text) <= limit else text[:limit].rstrip() + "…"


def _text(value: str | None) -> str:
    text = "".join(ch if ch in "\n\t" or (ch >= " " and ch != "\x7f") else " " for ch in (value or "")[: BODY_TEXT + 1])
    return text if len(text) <= BODY_TEXT else text[:BODY_TEXT].rstrip() + " … (cut: see the dashboard)"


def checkpoint_words(cp: int) -> str:
    name = CHECKPOINT_NAMES.get(cp)
    return f"checkpoint {cp} ({name})" if name else f"checkpoint {cp}"


def named(reference: str, title: str | None) -> str:
    title = _line(title, SUBJECT_TITLE)
    return f"{reference} ({title})" if title else reference


def _date(day: dt.date) -> str:
    return f"{day:%A} {day.day} {day:%B %Y}"


def _footer(url: str) -> str:
    return (f"\n\nOpen the proposal: {url}\n\n"
            "This message was sent by the NHS England Integrated Support and Assurance Process (ISAP) service. "
            "Please do not reply to it: use the link above.\n")


def version_checked(reference: str, title: str | None, number: int, errors: int, warnings: int,
                    url: str) -> Notice:
    if errors:
        next_step = (f"It has {errors} error(s). Errors must be put right, and a corrected version uploaded, "
                     "before the proposal can be submitted for review.")
    elif warnings:
        next_step = (f"It has no errors and {warnings} warning(s). Each warning needs a short explanatory note "
                     "on the dashboard before the proposal can be submitted for review.")
    else:
        next_step = "It has no errors or warnings: it can be submitted for review."
    return Notice(
        f"{reference} version {number} checked: {errors} error(s), {warnings} warning(s)",
        f"Version {number} of {named(reference, title)} has been checked against the ISAP workbook rules.\n\n"
        f"{next_step}" + _footer(url))


def contact_change_words(number: int, previous: str | None, contact: str) -> str:
    """The change of a proposal's contact, as its history records it (both addresses are plain addresses)."""
    if previous:
        return f"version {number} changed the contact from {previous} to {contact}"
    return f"version {number} gave the contact {contact} (there was none before)"


def contact_changed(reference: str, title: str | None, number: int, uploader: str, previous: str, contact: str,
                    url: str) -> Notice:
    """To the contact a new version replaced: the next messages, decision letters among them, go elsewhere."""
    return Notice(
        f"{reference}: the contact for this proposal has changed",
        f"Version {number} of {named(reference, title)}, uploaded by {_line(uploader, 80)}, names {contact} as the "
        f"contact for the proposal in place of {previous}.\n\n"
        "You will no longer be sent messages about this proposal: they, and the decision letters, go to the new "
        "contact. If you did not expect this change, tell your organisation's ISAP lead or your NHS England "
        "reviewer." + _footer(url))


def submitted(reference: str, title: str | None, organisation: str, number: int | None, checkpoint: int,
              target_days: int, url: str) -> Notice:
    return Notice(
        f"{reference} submitted for review at {checkpoint_words(checkpoint)}",
        f"{_line(organisation, 200)} has submitted {named(reference, title)}"
        + (f" (version {number})" if number else "")
        + f" for review at {checkpoint_words(checkpoint)}.\n\n"
        f"It is waiting for a reviewer to take it into review. The target is a decision within {target_days} "
        "working days of submission." + _footer(url))


def taken(reference: str, title: str | None, checkpoint: int, reviewer: str, url: str) -> Notice:
    return Notice(
        f"{reference} is being reviewed",
        f"NHS England has started reviewing {named(reference, title)} at {checkpoint_words(checkpoint)}. "
        f"The reviewer is {_line(reviewer, 80)}.\n\n"
        "You will be told when the decision is recorded; the reviewer may comment on the dashboard in the "
        "meantime." + _footer(url))


def decided(reference: str, title: str | None, checkpoint: int, outcome: Outcome, rationale: str,
            conditions: list[tuple[str, str, dt.date]], url: str, panel: tuple[str, str] | None = None) -> Notice:
    """`panel`: who proposed the decision and who countersigned it, each as name and job title."""
    words = OUTCOME_WORDS[outcome]
    lines = [f"NHS England and NHS Improvement have recorded their decision on {named(reference, title)} at "
             f"{checkpoint_words(checkpoint)}:", "", f"    {words}", "", "Reasons:", _text(rationale)]
    if panel is not None:
        lines += ["", f"Proposed by {_line(panel[0], 300)} and countersigned by {_line(panel[1], 300)}."]
    if conditions:
        lines += ["", "Conditions:"]
        lines += [f"  {n}. {_text(text)} (owner: {_line(owner, 200)}; due {_date(due)})"
                  for n, (text, owner, due) in enumerate(conditions, start=1)]
    lines += ["", "The decision letter is attached as a PDF for your records."]
    return Notice(f"{reference}: decision at {checkpoint_words(checkpoint)}: {words}",
                  "\n".join(lines) + _footer(url))


def decision_proposed(reference: str, title: str | None, checkpoint: int, outcome: Outcome, proposer: str,
                      url: str) -> Notice:
    return Notice(
        f"{reference}: a proposed decision waits for countersignature",
        f"{_line(proposer, 300)} has proposed the decision on {named(reference, title)} at "
        f"{checkpoint_words(checkpoint)}: {OUTCOME_WORDS[outcome]}.\n\n"
        "It takes effect only when a second reviewer countersigns it; the second reviewer may instead send it back "
        "with a note. Declare your interests in the proposal first." + _footer(url))


def decision_sent_back(reference: str, title: str | None, checkpoint: int, by: str, note: str, url: str) -> Notice:
    return Notice(
        f"{reference}: your proposed decision was sent back",
        f"{_line(by, 300)} has sent back the decision you proposed on {named(reference, title)} at "
        f"{checkpoint_words(checkpoint)}, with this note:\n\n{_text(note)}\n\n"
        "The proposal stays in review: propose the decision again when you are ready." + _footer(url))


def condition_due(reference: str, title: str | None, text: str, owner: str, due: dt.date, working_days: int,
                  url: str) -> Notice:
    when = "today" if working_days == 0 else f"in {working_days} working day(s)"
    return Notice(
        f"{reference}: a condition is due {when} ({_date(due)})",
        f"A condition of {named(reference, title)} is due on {_date(due)}, {when}:\n\n"
        f"    {_text(text)}\n\nOwner: {_line(owner, 200)}\n\n"
        "Please give your answer on the dashboard before then, so the reviewer can discharge it."
        + _footer(url))


def condition_overdue(reference: str, title: str | None, text: str, owner: str, due: dt.date, url: str) -> Notice:
    return Notice(
        f"{reference}: a condition is overdue (it was due on {_date(due)})",
        f"A condition of {named(reference, title)} was due on {_date(due)} and is still open:\n\n"
        f"    {_text(text)}\n\nOwner: {_line(owner, 200)}\n\n"
        "Please give your answer on the dashboard, or talk to your NHS England reviewer." + _footer(url))


def review_overdue(reference: str, title: str | None, state: State, since: dt.date, waited: int, target: int,
                   url: str) -> Notice:
    return Notice(
        f"{reference} has waited {waited} working days for its review decision",
        f"{named(reference, title)} has been {WAITING_WORDS.get(state, 'waiting')} since {_date(since)}: "
        f"{waited} working days, more than the {target}-working-day target for a review decision." + _footer(url))

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

from isap.review import wording
from isap.review.lifecycle import Outcome, State
from isap.review.wording import count, errors_and_warnings, working_days

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
    return wording.checkpoint(cp)


def named(reference: str, title: str | None) -> str:
    title = _line(title, SUBJECT_TITLE)
    return f"{reference} ({title})" if title else reference


def _date(day: dt.date) -> str:
    return wording.long_day(day, weekday=True)


def _footer(url: str) -> str:
    return (f"\n\nOpen the proposal: {url}\n\n"
            "This message was sent by the NHS England Integrated Support and Assurance Process (ISAP) service. "
            "Please do not reply to it: use the link above.\n")


def version_checked(reference: str, title: str | None, number: int, errors: int, warnings: int,
                    url: str) -> Notice:
    if errors:
        next_step = (f"It has {count(errors, 'error')}. Errors must be put right, and a corrected version uploaded, "
                     "before the proposal can be submitted for review.")
    elif warnings:
        next_step = (f"It has no errors and {count(warnings, 'warning')}. Each warning needs a short explanatory note "
                     "on the dashboard before the proposal can be submitted for review.")
    else:
        next_step = "It has no errors or warnings: it can be submitted for review."
    return Notice(
        f"{reference} version {number} checked: {errors_and_warnings(errors, warnings)}",
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
    words = wording.decision_words(outcome)
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
        f"{checkpoint_words(checkpoint)}: {wording.decision_words(outcome)}.\n\n"
        "It takes effect only when a second reviewer countersigns it; the second reviewer may instead send it back "
        "with a note. Declare your interests in the proposal first." + _footer(url))


def decision_countersigned(reference: str, title: str | None, checkpoint: int, outcome: Outcome, by: str,
                           url: str) -> Notice:
    return Notice(
        f"{reference}: your proposed decision was countersigned",
        f"{_line(by, 300)} has countersigned the decision you proposed on {named(reference, title)} at "
        f"{checkpoint_words(checkpoint)}: {wording.decision_words(outcome)}.\n\n"
        "It has taken effect, and the decision letter has gone to the commissioner." + _footer(url))


def decision_sent_back(reference: str, title: str | None, checkpoint: int, by: str, note: str, url: str) -> Notice:
    return Notice(
        f"{reference}: your proposed decision was sent back",
        f"{_line(by, 300)} has sent back the decision you proposed on {named(reference, title)} at "
        f"{checkpoint_words(checkpoint)}, with this note:\n\n{_text(note)}\n\n"
        "The proposal stays in review: propose the decision again when you are ready." + _footer(url))


def condition_due(reference: str, title: str | None, text: str, owner: str, due: dt.date, left: int,
                  url: str) -> Notice:
    when = "today" if left == 0 else f"in {working_days(left)}"
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
        f"{reference} has waited {working_days(waited)} for its review decision",
        f"{named(reference, title)} has been {WAITING_WORDS.get(state, 'waiting')} since {_date(since)}: "
        f"{working_days(waited)}, more than the {target}-working-day target for a review decision." + _footer(url))


def submission_due(reference: str, title: str | None, checkpoint: int, planned: dt.date, days_left: int,
                   url: str) -> Notice:
    when = "today" if days_left == 0 else f"in {working_days(days_left)}"
    return Notice(
        f"{reference}: the submission for {checkpoint_words(checkpoint)} is planned {when} ({_date(planned)})",
        f"The submission of {named(reference, title)} for {checkpoint_words(checkpoint)} is planned for "
        f"{_date(planned)}, {when}.\n\nIf that date will not be met, propose a new one on the dashboard with the "
        "reason, so your NHS England reviewer can agree it." + _footer(url))


def submission_late(reference: str, title: str | None, checkpoint: int, planned: dt.date, url: str) -> Notice:
    return Notice(
        f"{reference}: the submission for {checkpoint_words(checkpoint)} planned for {_date(planned)} has not "
        "been made",
        f"The submission of {named(reference, title)} for {checkpoint_words(checkpoint)} was planned for "
        f"{_date(planned)} and has not been made, so the proposal is late.\n\nPlease submit it, or propose a new "
        "date on the dashboard with the reason, so your NHS England reviewer can agree it." + _footer(url))


def query_raised(reference: str, title: str | None, number: int, about: str, text: str, due: dt.date | None,
                 reviewer: str, url: str, follow_up: bool = False) -> Notice:
    """To the commissioner: the panel asks something, first or again, and waits for the answer."""
    asked = "followed up" if follow_up else "raised"
    when = f"\n\nPlease answer by {_date(due)}." if due else ""
    return Notice(
        f"{reference}: query {number} {asked} by NHS England",
        f"{_line(reviewer, 80)} has {asked} query {number} on {named(reference, title)}, about "
        f"{_line(about, 200)}:\n\n{_text(text)}{when}\n\n"
        "Please answer it on the dashboard. While a query waits for your answer the review's working days are "
        "not counted against its target, and no decision can be recorded until every query is resolved."
        + _footer(url))


def query_answered(reference: str, title: str | None, number: int, text: str, commissioner: str,
                   url: str) -> Notice:
    """To the panel: the commissioner has answered; the query is theirs to resolve or follow up."""
    return Notice(
        f"{reference}: query {number} answered",
        f"{_line(commissioner, 80)} has answered query {number} on {named(reference, title)}:\n\n{_text(text)}\n\n"
        "Resolve the query, or follow it up, on the dashboard." + _footer(url))


def query_resolved(reference: str, title: str | None, number: int, note: str, reviewer: str, url: str) -> Notice:
    return Notice(
        f"{reference}: query {number} resolved",
        f"{_line(reviewer, 80)} has resolved query {number} on {named(reference, title)}:\n\n{_text(note)}\n\n"
        "Nothing more is needed on this query." + _footer(url))


def waiver_requested(reference: str, title: str | None, number: int, rule_id: str, place: str, reason: str,
                     commissioner: str, url: str) -> Notice:
    """To reviewers: a commissioner asks that an error finding not block the proposal."""
    return Notice(
        f"{reference}: waiver of {_line(rule_id, 10)} asked for",
        f"{_line(commissioner, 80)} asks for waiver {number} of the {_line(rule_id, 10)} error at "
        f"{_line(place, 200)} on {named(reference, title)}, because:\n\n{_text(reason)}\n\n"
        "Grant or refuse it, with a reason, on the dashboard." + _footer(url))


def waiver_ruled(reference: str, title: str | None, number: int, rule_id: str, place: str, granted: bool,
                 ruling: str, reviewer: str, checkpoint: int, url: str) -> Notice:
    """To the commissioner: the answer to their waiver request."""
    verb = "granted" if granted else "refused"
    effect = (f"The finding no longer stops a submission at {checkpoint_words(checkpoint)}, in this version or a "
              "later one, while it stays the same finding." if granted else
              "The finding still stops a submission: put it right and upload a new version.")
    return Notice(
        f"{reference}: waiver {number} of {_line(rule_id, 10)} {verb}",
        f"{_line(reviewer, 80)} has {verb} waiver {number} of the {_line(rule_id, 10)} error at "
        f"{_line(place, 200)} on {named(reference, title)}:\n\n{_text(ruling)}\n\n{effect}" + _footer(url))

"""The domain's values in the words people read: dates, times, counts, states, decisions, history, places.

The store keeps codes and UTC (`in_review`, `decide:approved_with_conditions`,
`2026-12-06T14:05:00`); a commissioner reads "In review", "Decision recorded:
Approved with conditions" and "6 Dec 2026, 14:05".  The dashboard's pages, the
assurance report and decision letter, the mail and the history's CSV all say
them through this one module, so a value reads the same wherever it is shown
and no page invents a fourth date format or a "(s)" plural.  Every label comes
from the enum that defines the code (`State.label`, `Outcome.label`,
`AuditKind.label`, …): nothing here spells a state or an outcome again.

It lives in the review layer because the mail is composed there
(`isap.review.notices`) and the enums are there; the outputs, the
orchestration and the front doors sit above it.  It imports only the standard
library and the enums, so a command that prints one date stays fast.

History rows recorded before this module (their details written as
`[capitalisation=green, …]`, `1 error(s)`, `due 2026-12-06`, `Cover, no cell`)
are part of the hash-chained audit history and are never rewritten: `details`
reads those forms into the same words as rows recorded since.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Iterable, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from isap.review.events import AuditKind, event_label
from isap.review.lifecycle import (
    BODY_LABELS,
    Action,
    AssuranceDomain,
    Body,
    ConditionStatus,
    Outcome,
    Rating,
    Role,
    State,
)

if TYPE_CHECKING:  # read by attribute only: wording needs no store to say a person's or a finding's words
    from isap.store.models import FindingRecord, User

try:
    # NHS England's service runs in England: people read its times on the clock on their wall
    LOCAL_TIME: dt.tzinfo = ZoneInfo("Europe/London")
except ZoneInfoNotFoundError:  # a system without a time zone database: UTC, and `when` says so
    LOCAL_TIME = dt.timezone.utc

CHECKPOINT_NAMES = {1: "strategic case", 2: "preferred bidder", 3: "mobilisation"}
# an outcome as a decision letter and its mail announce it: the label and what it means for the proposal
DECISION_WORDS = {
    Outcome.APPROVED: Outcome.APPROVED.label,
    Outcome.APPROVED_WITH_CONDITIONS: Outcome.APPROVED_WITH_CONDITIONS.label,
    Outcome.RETURNED: f"{Outcome.RETURNED.label} for further work",
    Outcome.HALTED: f"{Outcome.HALTED.label}: do not proceed",
}
_LABELLED = (State, Outcome, Role, Rating, ConditionStatus, Body)
CODES: dict[str, str] = {}
for _enum in reversed(_LABELLED):  # where two vocabularies share a code (returned, halted), the state's word wins
    CODES.update({m.value: m.label for m in _enum})


# ------------------------------------------------------------------------------------------------ dates and times

def _date(value: object) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return _moment(value).date()
    if isinstance(value, dt.date):
        return value
    text = str(value)
    return _moment(text).date() if len(text) > 10 else dt.date.fromisoformat(text)


def _moment(value: object) -> dt.datetime:
    t = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)  # the store keeps UTC
    return t.astimezone(LOCAL_TIME)


def day(value: object) -> str:
    """A date as pages, tables and reports show it: "6 Dec 2026" (a stored time: its day in UK time); nothing
    as ""."""
    d = _date(value)
    return f"{d.day} {d:%b %Y}" if d else ""


def long_day(value: object, weekday: bool = False) -> str:
    """A date as a letter or a message writes it: "6 December 2026", or "Sunday 6 December 2026"."""
    d = _date(value)
    if d is None:
        return ""
    return (f"{d:%A} " if weekday else "") + f"{d.day} {d:%B %Y}"


def when(value: object) -> str:
    """A stored time in UK time: "6 Dec 2026, 14:05" (naive times are UTC, as the store keeps them); nothing
    as ""."""
    if value is None or value == "":
        return ""
    t = _moment(value)
    return f"{t.day} {t:%b %Y, %H:%M}" + (" UTC" if LOCAL_TIME is dt.timezone.utc else "")


# ------------------------------------------------------------------------------------------------ numbers

def count(n: int, singular: str, plural: str | None = None) -> str:
    """A number and its noun: "1 condition", "2 conditions", "1,200 findings" (never "condition(s)")."""
    return f"{n:,} {singular if n == 1 else (plural or singular + 's')}"


def working_days(n: int) -> str:
    return count(n, "working day")


def errors_and_warnings(errors: int, warnings: int) -> str:
    """"1 error, 2 warnings"."""
    return f"{count(errors, 'error')}, {count(warnings, 'warning')}"


def size(n: int) -> str:
    """A stored size: "812 bytes", "24 KB", "1.2 MB" (1 KB is 1,024 bytes, as the policy's limits count)."""
    if n < 1024:
        return count(n, "byte")
    return f"{n / 1024:.0f} KB" if n < 1024 * 1024 else f"{n / (1024 * 1024):.1f} MB"


def listing(items: Iterable[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1] if items else ""


# ------------------------------------------------------------------------------------------------ vocabularies

def code(value: object) -> str:
    """The word for a code of any vocabulary (a state, outcome, role, rating, condition status); other
    text as it is; nothing as ""."""
    if value is None or (isinstance(value, float) and value != value):  # NaN, from a table's empty cell
        return ""
    text = str(getattr(value, "value", value))
    return CODES.get(text, text)


def state(value: object) -> str:
    text = "" if value is None else str(getattr(value, "value", value))
    return State(text).label if text in State._value2member_map_ else code(text)


def outcome(value: object) -> str:
    text = "" if value is None else str(getattr(value, "value", value))
    return Outcome(text).label if text in Outcome._value2member_map_ else code(text)


def decision_words(value: object) -> str:
    """An outcome as the letter and the mail announce it: "Returned for further work"."""
    text = "" if value is None else str(getattr(value, "value", value))
    return DECISION_WORDS[Outcome(text)] if text in Outcome._value2member_map_ else code(text)


def domain(value: object) -> str:
    """An assurance domain (or a finding's domain) as a heading: "Service scope"."""
    text = "" if value is None else str(getattr(value, "value", value))
    if text in AssuranceDomain._value2member_map_:
        return AssuranceDomain(text).label
    return text.replace("_", " ").capitalize()


def transition(from_state: object, to_state: object) -> str:
    """A change of state: "In review → Draft"; a proposal's first state alone; no change as ""."""
    if not to_state:
        return ""
    return f"{state(from_state)} → {state(to_state)}" if from_state else state(to_state)


def checkpoint(number: int | None) -> str:
    """"checkpoint 1 (strategic case)"."""
    name = CHECKPOINT_NAMES.get(number) if number is not None else None
    return f"checkpoint {number} ({name})" if name else f"checkpoint {number}"


def ratings(rated: Mapping[str, object]) -> str:
    """Domain ratings in the order of the domains: "capitalisation green, service scope amber, …"."""
    order = [d.value for d in AssuranceDomain if d.value in rated] + [d for d in rated
                                                                     if d not in AssuranceDomain._value2member_map_]
    return ", ".join(f"{domain(d).lower()} {code(rated[d]).lower()}" for d in order)


def decision(outcome_value: object, rated: Mapping[str, object]) -> str:
    """"Decision: approved with conditions; ratings: capitalisation green, …"."""
    return f"Decision: {outcome(outcome_value).lower()}; ratings: {ratings(rated)}"


def place(sheet: str | None, cell: str | None) -> str:
    """Where a finding is: "Cover B22"; a sheet as a whole; the workbook as a whole (never "no cell")."""
    if sheet and cell:
        return f"{sheet} {cell}"
    if sheet:
        return f"{sheet} (the sheet as a whole)"
    return f"cell {cell}" if cell else "the workbook as a whole"


# ------------------------------------------------------------------------------------------------ the history

def event(value: object) -> str:
    """The words for a history event: "Decision recorded: Approved with conditions" (`AuditKind.label`)."""
    return event_label(value)


_OLD_RATINGS = re.compile(r"\s*\[((?:[a-z_]+=[a-z]+)(?:,\s*[a-z_]+=[a-z]+)*)\]\s*$")
_OLD_PLURAL = re.compile(r"\b(\d[\d,]*) ([a-z]+)\(s\)")
_OLD_NO_CELL = re.compile(r"(\S+), no cell\b")
_ISO_DATE = re.compile(r"\b(\d{4}-\d{2}-\d{2})(?![T\d:])\b")


def decision_details(rationale: str, rated: Mapping[str, object]) -> str:
    """What the history records of a decision: its reasons, then the ratings in words."""
    return f"{rationale.strip()} (ratings: {ratings(rated)})"


def details(kind: object, reason: str | None) -> str:
    """A history row's details in words, whether recorded now or in the forms older versions wrote."""
    if not reason:
        return ""
    text = str(reason)
    found = _OLD_RATINGS.search(text)
    if found and str(kind).startswith(f"{Action.DECIDE.value}:"):
        rated = dict(pair.strip().split("=", 1) for pair in found.group(1).split(","))
        text = decision_details(text[: found.start()], rated)
    text = _OLD_PLURAL.sub(lambda m: count(int(m.group(1).replace(",", "")), m.group(2)), text)
    text = _OLD_NO_CELL.sub(lambda m: place(m.group(1), None), text)
    if str(kind) == AuditKind.CONDITION_RAISED:  # the condition's due date, as older versions wrote it
        text = _ISO_DATE.sub(lambda m: day(m.group(1)), text)
    return text


def history_row(row: Mapping[str, object]) -> dict[str, str]:
    """One event of a proposal's history (`Service.show()["history"]`) as people read it."""
    return {
        "when": when(row.get("at")),
        "who": str(row.get("actor") or ""),
        "what": event(row.get("action")),
        "change": transition(row.get("from_state"), row.get("to_state")),
        "checkpoint": "" if row.get("checkpoint") is None else str(row.get("checkpoint")),
        "details": details(row.get("action"), row.get("reason")),  # type: ignore[arg-type]
    }


# how much of a SHA-256 a listing shows: enough to tell documents apart and to find one in the history, which
# holds the whole digest
SHA256_SHOWN = 12


def evidence(row: Mapping[str, object]) -> dict[str, str]:
    """One evidence document (`Service.show()["evidence"]`) as reports, letters and listings show it: its title,
    kind, file name, size, the start of its SHA-256, and who attached it (by name) and when.  The title and file
    name are the text people typed or their computer gave: each output escapes them as its medium needs."""
    return {
        "checkpoint": str(row.get("checkpoint") or ""),
        "title": str(row.get("title") or ""),
        "kind": str(row.get("kind_label") or ""),
        "filename": str(row.get("filename") or ""),
        "size": size(int(row.get("size") or 0)),  # type: ignore[call-overload]
        "sha256": f"{str(row.get('sha256') or '')[:SHA256_SHOWN]}…",
        "attached_by": str(row.get("attached_by_name") or row.get("attached_by") or ""),
        "attached_on": when(row.get("attached_at")),
    }


def document_named(row: Mapping[str, object]) -> str:
    """A document as a query's answer gives it: its title and short id, "Resident survey (3f2a9c01b7de…)"."""
    return f"{row.get('title') or ''} ({str(row.get('sha256') or '')[:SHA256_SHOWN]}…)"


HISTORY_HEADINGS = {"when": "When", "who": "Who", "what": "What", "change": "Change of state",
                    "checkpoint": "Checkpoint", "details": "Details"}


# ------------------------------------------------------------------------- people, findings, sizes and times in rows
# the service's commands and read models say these in their messages and rows; they read a stored row's fields
# by name, so this module still needs no store

def role_words(role: str, body: str | None = None) -> str:
    """Someone's role as the sidebar says it: a reviewer as a reviewer of their body ("NHS England reviewer"),
    as the review panel names them, rather than the role's general label; any other role by its label."""
    if role == Role.REVIEWER.value and body in BODY_LABELS:
        return f"{BODY_LABELS[body]} reviewer"
    return "Reviewer" if role == Role.REVIEWER.value else code(role)


def person_words(user: User | None) -> str:
    """How pages, letters, reports and messages name a person: their display name and job title, not their user
    name, which is a sign-in detail.  Without a display name, a reviewer is named by the body they work for (a
    letter never names a reviewer by account), the automated checks as such, and a commissioner or administrator
    by their user name, the only name the store has for them (as `evidence.attacher_words` does)."""
    if user is None:
        return "a reviewer"
    body = BODY_LABELS.get(user.body) if user.body else None
    unnamed = {Role.COMMISSIONER.value: user.username, Role.ADMIN.value: user.username,
               Role.SYSTEM.value: "the automated checks"}.get(
        user.role, f"a reviewer of {body}" if body else "a reviewer")
    name = user.display_name or unnamed
    return f"{name}, {user.job_title}" if user.job_title else name


def finding_place(f: FindingRecord) -> str:
    """Where a finding is, in words: its sheet and cell, or the sheet or workbook as a whole."""
    return place(f.sheet, f.cell)


def readable_size(n: int) -> str:
    """A size in the refusals of the storage quotas: whole KB, or MB to one place (`size`, which the listings use,
    says bytes under 1 KB)."""
    return f"{n / (1024 * 1024):.1f} MB" if n >= 1024 * 1024 else f"{n / 1024:.0f} KB"


def iso_time(value) -> str:
    """ISO text for a stored time (SQLite gives text or naive datetimes back, PostgreSQL aware ones)."""
    if isinstance(value, str):
        return value.replace(" ", "T")
    return value.isoformat()


def diff_findings(old: list[dict], new: list[dict]) -> dict[str, list[dict]]:
    """What changed between two versions' findings, keyed by rule and place."""
    def key(f: dict) -> tuple:
        return (f["rule_id"], f["sheet"], f["cell"], f["column"], f["message"])

    old_keys, new_keys = {key(f) for f in old}, {key(f) for f in new}
    return {"fixed": [f for f in old if key(f) not in new_keys],
            "new": [f for f in new if key(f) not in old_keys],
            "unchanged": [f for f in new if key(f) in old_keys]}

"""The free text people type into the review, each kind with its largest length.

Notes, answers, rationales, comments, reasons and conditions are stored,
copied into the history, printed in reports and letters and sent in mail, so
one unbounded note (20 MB was once accepted) becomes a report of tens of
megabytes.  Each kind has a maximum here, the one place the service enforces
and the dashboard's text areas show (docs/dashboard.md, "Limits"); the
maxima are not policy, because the report layouts are made for them.
Control characters are taken out before the length is counted (`isap.text`).
"""

from __future__ import annotations

from enum import StrEnum

from isap.review.errors import WorkflowError
from isap.review.evidence_references import REFERENCE_LIMIT
from isap.text import without_controls


class TextKind(StrEnum):
    NOTE = "note"
    ANSWER = "answer"
    RATIONALE = "rationale"
    COMMENT = "comment"
    REASON = "reason"
    CONDITION = "condition"
    CONDITION_OWNER = "condition_owner"
    CLOSING_NOTE = "closing_note"
    QUERY = "query"
    QUERY_ANSWER = "query_answer"
    QUERY_PLACE = "query_place"
    WAIVER_REASON = "waiver_reason"
    WAIVER_RULING = "waiver_ruling"
    DECLARATION = "declaration"
    CONFLICT_WITH = "conflict_with"
    SEND_BACK_NOTE = "send_back_note"
    PERSON_DETAIL = "person_detail"
    EVIDENCE_TITLE = "evidence_title"
    EVIDENCE_REFERENCE = "evidence_reference"
    ORGANISATION_CODE = "organisation_code"
    ORGANISATION_NAME = "organisation_name"

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def max_chars(self) -> int:
        return _MAX_CHARS[self]

    @property
    def has_lines(self) -> bool:
        """Whether the text may run over several lines (a condition's owner is one line)."""
        return self not in (TextKind.CONDITION_OWNER, TextKind.QUERY_PLACE, TextKind.CONFLICT_WITH,
                            TextKind.PERSON_DETAIL, TextKind.EVIDENCE_TITLE, TextKind.EVIDENCE_REFERENCE,
                            TextKind.ORGANISATION_CODE, TextKind.ORGANISATION_NAME)


_LABELS = {
    TextKind.NOTE: "acknowledgement note",
    TextKind.ANSWER: "answer to a condition",
    TextKind.RATIONALE: "decision rationale",
    TextKind.COMMENT: "comment",
    TextKind.REASON: "reason",
    TextKind.CONDITION: "condition",
    TextKind.CONDITION_OWNER: "condition's owner",
    TextKind.CLOSING_NOTE: "note closing a condition",
    TextKind.QUERY: "query",
    TextKind.QUERY_ANSWER: "answer to a query",
    TextKind.QUERY_PLACE: "field or cell a query is about",
    TextKind.WAIVER_REASON: "reason for the waiver",
    TextKind.WAIVER_RULING: "reason for granting or refusing the waiver",
    TextKind.DECLARATION: "note of a declaration of interests",
    TextKind.CONFLICT_WITH: "organisation a conflict of interest is with",
    TextKind.SEND_BACK_NOTE: "note sending a decision back",
    TextKind.PERSON_DETAIL: "display name or job title",
    TextKind.EVIDENCE_TITLE: "evidence document's title",
    TextKind.EVIDENCE_REFERENCE: "evidence document's reference",
    TextKind.ORGANISATION_CODE: "organisation's code",
    TextKind.ORGANISATION_NAME: "organisation's name",
}

_MAX_CHARS = {
    TextKind.NOTE: 4_000,
    TextKind.ANSWER: 8_000,
    TextKind.RATIONALE: 8_000,
    TextKind.COMMENT: 4_000,
    TextKind.REASON: 2_000,
    TextKind.CONDITION: 2_000,
    TextKind.CONDITION_OWNER: 200,
    TextKind.CLOSING_NOTE: 4_000,
    TextKind.QUERY: 4_000,
    TextKind.QUERY_ANSWER: 8_000,
    TextKind.QUERY_PLACE: 100,
    TextKind.WAIVER_REASON: 4_000,
    TextKind.WAIVER_RULING: 4_000,
    TextKind.DECLARATION: 2_000,
    TextKind.CONFLICT_WITH: 200,
    TextKind.SEND_BACK_NOTE: 4_000,
    TextKind.PERSON_DETAIL: 120,
    TextKind.EVIDENCE_TITLE: 200,
    TextKind.EVIDENCE_REFERENCE: REFERENCE_LIMIT,
    TextKind.ORGANISATION_CODE: 16,  # (an ODS code is 3 to 6 characters)
    TextKind.ORGANISATION_NAME: 200,
}


class TextTooLong(WorkflowError):
    """A free text longer than its kind's maximum; nothing was changed."""


def checked_text(kind: TextKind, text: str | None) -> str:
    """`text` as it is kept: without control characters, stripped; TextTooLong past `kind`'s maximum."""
    cleaned = without_controls(text or "", lines=kind.has_lines).strip()
    if len(cleaned) > kind.max_chars:
        raise TextTooLong(f"the {kind.label} is {len(cleaned):,} characters long; at most {kind.max_chars:,} "
                          "are kept. Shorten it, or attach the detail to the workbook")
    return cleaned


__all__ = ["TextKind", "TextTooLong", "checked_text"]

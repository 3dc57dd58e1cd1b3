"""The plain values and shapes that cross the review service's boundary.

What a caller hands a command (a condition to set) and what a command hands back (the result of an
upload), and the few values every part of the review shares: the system's own user name, the roles an
account may be given, the domains and ratings in the order forms show them, and how a proposal is
named across organisations.  None of it needs the store, so a front door may import it cheaply.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from isap.review import lifecycle
from isap.review.errors import WorkflowError
from isap.review.lifecycle import Role

SYSTEM_USER = "isap"
PEOPLE = (Role.COMMISSIONER, Role.REVIEWER, Role.ADMIN)  # the roles an account may be given
# The domains and ratings as plain values, in the order forms and reports show them.
DOMAINS = tuple(d.value for d in lifecycle.AssuranceDomain)
RATINGS = tuple(r.value for r in lifecycle.Rating)
NAME_SEPARATOR = "/"  # between a lead commissioner's code and a reference: QUA/ISAP-2026-014


def proposal_name(code: str, reference: str) -> str:
    """The name of a proposal that no other organisation's can share: its lead commissioner's code and its
    reference (a reference is unique only within one organisation)."""
    return f"{code}{NAME_SEPARATOR}{reference}"


@dataclass
class ConditionInput:
    text: str
    owner: str
    due_date: dt.date

    @classmethod
    def parse(cls, spec: str) -> "ConditionInput":
        """`TEXT|OWNER|YYYY-MM-DD`."""
        parts = spec.split("|")
        if len(parts) != 3 or not parts[0].strip() or not parts[1].strip():
            raise WorkflowError(f"a condition must be TEXT|OWNER|YYYY-MM-DD, got {spec!r}")
        try:
            due = dt.date.fromisoformat(parts[2].strip())
        except ValueError:
            raise WorkflowError(f"the condition's due date {parts[2].strip()!r} is not a date YYYY-MM-DD") from None
        return cls(parts[0].strip(), parts[1].strip(), due)


@dataclass
class UploadResult:
    reference: str | None
    version: int | None
    created_proposal: bool
    duplicate: bool
    errors: int
    warnings: int
    sha256: str | None
    report: dict = field(default_factory=dict)
    kept_as: str | None = None  # "unassigned" when the file could not name its proposal
    message: str = ""
    retitled: tuple[str, str] | None = None  # (old, new) when this version changed the proposal's title
    latest_version: int | None = None  # the proposal's latest version once this upload is done
    takes_no_new_version: bool = False  # a duplicate for a proposal that is not the commissioner's to change now
    organisation: str | None = None  # the lead commissioner's code: with the reference, the proposal's name

    @property
    def repeats_earlier_version(self) -> bool:
        """The bytes of a version that is no longer the latest: nothing new was kept, and it is not current."""
        return self.duplicate and self.latest_version not in (None, self.version)

    @property
    def needs_a_second_look(self) -> bool:
        """A duplicate whose answer is more than "the same again": an earlier version, or a proposal that takes no
        new version now; its message says which."""
        return self.repeats_earlier_version or self.takes_no_new_version

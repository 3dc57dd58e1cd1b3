"""How a workbook's evidence_reference names an evidence document (docs/decisions/0051-evidence-references.md).

The Transparency sheet's evidence_reference is "document name, section or URL": "ICP contract schedule 7,
clause 3" names the document whose reference is "ICP contract schedule 7".  So a reference names a document
when, ignoring case and runs of spaces, it is the document's reference, or begins with it and goes on after a
character that is neither a letter nor a digit (", clause 3", " §4", " p. 12").  Pure functions: the guards'
facts (`unit_of_work`) and the evidence service use the same rule.

A refusal that lists the references no document answers groups those one document would answer: ten clauses of
"schedule 7" read as one group, with the reference that covers them (docs/decisions/0044-evidence-references-
grouped.md).
"""

from __future__ import annotations

import re
from typing import Iterable

REFERENCE_LIMIT = 120  # characters of a document's reference (TextKind.EVIDENCE_REFERENCE); a longer one is never named


def reference_key(text: str) -> str:
    """A reference in the form references are compared in: runs of spaces as one, no case."""
    return " ".join(str(text).split()).casefold()


def names(reference: str, document_key: str) -> bool:
    """Whether a workbook's `reference` names the document whose reference has `document_key`."""
    key = reference_key(reference)
    if not document_key or not key.startswith(document_key):
        return False
    rest = key[len(document_key):]
    return not rest or not rest[0].isalnum()


def unnamed(references: Iterable[str], document_keys: Iterable[str]) -> tuple[str, ...]:
    """The references (each once, in order) that name no document."""
    keys = [k for k in document_keys if k]
    out: dict[str, str] = {}
    for r in references:
        if reference_key(r) not in out and not any(names(r, k) for k in keys):
            out[reference_key(r)] = " ".join(r.split())
    return tuple(out.values())


# the last section a reference cites, after the document it is in: ", clause 3", " section 4.2", " §4", " p. 12"
_LAST_SECTION = re.compile(r"^(?P<document>.*?\w)[\s,;:]+(?:clause|section|paragraph|para\.?|part|page|pp?\.|"
                           r"annex|appendix|article|item|chapter|table|figure)\s*[\w.()-]+\s*$|"
                           r"^(?P<before>.*?\w)[\s,;:]*§\s*[\w.()-]+\s*$", re.IGNORECASE)


def document_part(reference: str) -> str | None:
    """What `reference` cites a section of, when it ends in one: "schedule 7" of "schedule 7 clause 3"; None
    for a reference that names no section.  A document with that reference would answer it (`names`)."""
    m = _LAST_SECTION.match(" ".join(str(reference).split()))
    return (m.group("document") or m.group("before")) if m else None


def grouped(references: Iterable[str]) -> list[tuple[str | None, tuple[str, ...]]]:
    """The references in order of first appearance, those citing sections of the same document together: each
    group with the reference one document would need to answer all of it, a reference alone with None."""
    refs = list(references)
    parts = [document_part(r) for r in refs]
    count: dict[str, int] = {}
    for part in parts:
        if part:
            count[reference_key(part)] = count.get(reference_key(part), 0) + 1
    out: list[tuple[str | None, tuple[str, ...]]] = []
    at: dict[str, int] = {}
    for r, part in zip(refs, parts):
        key = reference_key(part) if part else None
        if key is None or count[key] < 2:
            out.append((None, (r,)))
        elif key in at:
            stem, members = out[at[key]]
            out[at[key]] = (stem, members + (r,))
        else:
            at[key] = len(out)
            out.append((part, (r,)))
    return out

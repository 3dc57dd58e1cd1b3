"""How a workbook's evidence_reference names an evidence document (docs/decisions/0051-evidence-references.md).

The Transparency sheet's evidence_reference is "document name, section or URL": "ICP contract schedule 7,
clause 3" names the document whose reference is "ICP contract schedule 7".  So a reference names a document
when, ignoring case and runs of spaces, it is the document's reference, or begins with it and goes on after a
character that is neither a letter nor a digit (", clause 3", " §4", " p. 12").  Pure functions: the guards'
facts (`unit_of_work`) and the evidence service use the same rule.
"""

from __future__ import annotations

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

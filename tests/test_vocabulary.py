"""Every vocabulary is one enum with its labels: the history's events, the outbox's kinds and states.

The store keeps the codes; pages, reports, letters and mail show the labels,
all taken from the enum.  The code writes the enum's members, never a string
that a label table might not know.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _vocabularies():
    from isap.review.events import AuditKind, NotificationKind, NotificationStatus

    return (AuditKind, NotificationKind, NotificationStatus)


@pytest.mark.parametrize("vocabulary", _vocabularies(), ids=lambda v: v.__name__)
def test_every_code_has_one_label(vocabulary):
    labels = [member.label for member in vocabulary]
    assert all(label and label[0].isupper() for label in labels)
    assert len(set(labels)) == len(labels), "two codes read the same"


def test_every_outcome_has_its_decision_event():
    from isap.review.events import AuditKind
    from isap.review.lifecycle import Outcome

    for outcome in Outcome:
        kind = AuditKind.decided(outcome)
        assert kind.value == f"decide:{outcome.value}" and outcome.label in kind.label


def _calls(folder: str, method: str):
    for path in sorted((ROOT / folder).rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == method):
                yield path.relative_to(ROOT), node


@pytest.mark.parametrize(("method", "position"), [("_audit", 2), ("_notify", 1), ("_transition", 3)])
def test_the_review_writes_kinds_as_enum_members(method, position):
    """A kind written as a string literal could be one no label table knows; a member cannot."""
    from isap.review.events import AuditKind, NotificationKind

    vocabulary = AuditKind if method != "_notify" else NotificationKind
    seen = 0
    for path, call in _calls("isap", method):
        if len(call.args) <= position:
            continue
        seen += 1
        kind = call.args[position]
        assert not any(isinstance(n, (ast.Constant, ast.JoinedStr)) for n in ast.walk(kind)), (
            f"{path}:{call.lineno}: {method} is given {ast.unparse(kind)}, not a member of {vocabulary.__name__}")
    assert seen


def test_pages_show_the_enums_labels():
    from dashboards import labels
    from isap.review.events import AuditKind
    from isap.review.lifecycle import Outcome

    assert labels.event("version_uploaded") == AuditKind.VERSION_UPLOADED.label
    assert labels.event("decide:approved_with_conditions") == AuditKind.decided(
        Outcome.APPROVED_WITH_CONDITIONS).label
    assert labels.event("submit") == AuditKind.SUBMITTED.label


def test_an_unknown_code_from_an_older_store_reads_as_words():
    from isap.review.events import event_label

    assert event_label("something_old") == "Something old"

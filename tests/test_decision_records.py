"""The decision records in docs/decisions/ are indexed, numbered once each and have a status.

A record that the index omits is a decision nobody will find; two records with one number make
"see 0007" ambiguous; a record without a status cannot say whether it still holds.  The index is
made from the records, so `python -m tests.test_decision_records` rewrites it after a change.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

RECORDS = Path(__file__).resolve().parent.parent / "docs" / "decisions"
INDEX = RECORDS / "README.md"
NAME = re.compile(r"^(\d{4})-[a-z0-9-]+\.md$")
STATUS = re.compile(r"^Status: (accepted|superseded by (\d{4}))$", re.M)
DATE = re.compile(r"^Date: (\d{4}-\d{2}-\d{2})", re.M)
HEADER = """# Decision records

Each file here records one choice the contract leaves open, where isap does what a commissioner or
reviewer would expect; each choice has a test. A record gives its status, date, context, the decision
and its consequences. How to add one is in CONTRIBUTING.md; changes of behaviour are listed in
CHANGELOG.md. This index is made from the records (`python -m tests.test_decision_records`).

| Record | Title | Status | Date |
|---|---|---|---|
"""


def records() -> list[Path]:
    return sorted(p for p in RECORDS.glob("*.md") if p.name != "README.md")


def row(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    title = re.match(r"# \d{4}\. (.+)", text).group(1)
    return (f"| [{path.name[:4]}]({path.name}) | {title} | {STATUS.search(text).group(1)} | "
            f"{DATE.search(text).group(1)} |")


def index() -> str:
    return HEADER + "".join(row(p) + "\n" for p in records())


def test_every_record_is_named_and_numbered_once():
    numbers = [NAME.match(p.name) and NAME.match(p.name).group(1) for p in records()]
    assert None not in numbers, "a record's file name must be NNNN-short-title.md"
    assert len(numbers) == len(set(numbers)), "two records share a number"


@pytest.mark.parametrize("path", records(), ids=lambda p: p.name)
def test_every_record_has_title_status_date_and_sections(path):
    text = path.read_text(encoding="utf-8")
    assert text.startswith(f"# {path.name[:4]}. "), "the title starts with the record's number"
    status = STATUS.search(text)
    assert status, "Status: accepted, or Status: superseded by NNNN"
    if status.group(2):
        assert any(p.name.startswith(status.group(2)) for p in records()), "superseded by a record that exists"
    assert DATE.search(text)
    for section in ("## Context", "## Decision", "## Consequences"):
        assert section in text


def test_the_index_lists_every_record():
    assert INDEX.read_text(encoding="utf-8") == index(), "run: python -m tests.test_decision_records"


if __name__ == "__main__":
    INDEX.write_text(index(), encoding="utf-8")

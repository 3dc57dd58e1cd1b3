"""What the review keeps of what it is given: a finding's row, a file's stored name, a finding's fingerprint.

Workbook text and file names are untrusted and of any length; the store keeps them without control
characters and cut to its columns.  One place does it, so every command keeps them the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from isap.store.models import FindingRecord
from isap.text import has_controls, without_controls
from isap.workbook.findings import fingerprint


def finding_fingerprint(f: FindingRecord) -> str:
    """A stored finding's fingerprint: what a waiver names (`isap.workbook.findings.fingerprint`)."""
    return fingerprint(f.rule_id, f.sheet, f.cell, f.column, f.message)


def stored_name(filename: str) -> str:
    """A file's name as the store keeps it: the last part of the path, without control characters, cut."""
    return without_controls(Path(filename).name)[:255]


def finding_record(version_id: int, finding: Any) -> FindingRecord:
    """A listed finding as stored: a sheet or column name is workbook text of any length (an unknown
    sheet or column), cut to what the store keeps."""
    d = finding.to_dict()
    for name in ("sheet", "column", "cell", "message"):  # a NUL from the workbook cannot be stored
        if isinstance(d[name], str) and has_controls(d[name]):
            d[name] = without_controls(d[name], lines=name == "message")
    for name in ("sheet", "column"):
        if d[name] is not None and len(d[name]) > 100:
            d[name] = d[name][:99] + "…"
    return FindingRecord(version_id=version_id, **d)

"""Rendering reports for people and for machines.

Text for the commissioner at a terminal (grouped by sheet, errors named in
plain words, each source named by its document's title), and JSON exactly as
docs/workbook.md §3 specifies for CI: each source by file name for a machine to follow, and
beside it the document's title and the paragraph, so that a CI view can show what every other
output shows.  Every format states the policy values used.
"""

from __future__ import annotations

import json
from itertools import groupby
from typing import Sequence

from isap.review.wording import errors_and_warnings
from isap.rules.engine import CheckReport
from isap.rules.sources import readable, title_and_paragraphs


def to_json(reports: Sequence[CheckReport]) -> str:
    if len(reports) == 1:
        return json.dumps(_json_one(reports[0]), indent=2, ensure_ascii=False)
    return json.dumps([_json_one(r) for r in reports], indent=2, ensure_ascii=False)


def _json_one(r: CheckReport) -> dict:
    """The report as docs/workbook.md §3 gives it; each finding's `source` (file name and paragraph) is
    followed by `source_title` and `source_paragraph`."""
    out = r.to_dict()
    findings = []
    for f in out["findings"]:
        title, paragraph = title_and_paragraphs(f["source"])
        shown = {}
        for key, value in f.items():
            shown[key] = value
            if key == "source":
                shown["source_title"], shown["source_paragraph"] = title, paragraph
        findings.append(shown)
    out["findings"] = findings
    return out


def to_text(reports: Sequence[CheckReport]) -> str:
    return "\n".join(_text_one(r) for r in reports)


def _text_one(r: CheckReport) -> str:
    lines = [f"{r.file}"]
    meta = []
    if r.proposal_reference:
        meta.append(f"proposal {r.proposal_reference}")
    meta.append(f"checkpoint {r.checkpoint if r.checkpoint is not None else 'unknown'}")
    if r.template_version:
        meta.append(f"template {r.template_version}")
    if r.sha256:
        meta.append(f"sha256 {r.sha256[:12]}…")
    lines.append("  " + " · ".join(meta))
    if not r.findings:
        lines.append("  No findings: the workbook meets every rule checked.")
    for sheet, group in groupby(r.findings, key=lambda f: f.sheet):
        lines.append("")
        lines.append(f"  {sheet}" if sheet else "  File")
        for f in group:
            where = f.cell or (f"column {f.column}" if f.column else "")
            where = f"{where:<8}" if where else " " * 8
            lines.append(f"    {where} {f.severity.value.upper():<7} {f.rule_id:<6} {f.message}")
            if f.source:
                lines.append(f"{'':<28}Source: {readable(f.source)}")
    s = r.summary
    lines.append("")
    if r.refused:
        lines.append("  The file could not be assessed.")
    lines.append(f"  {errors_and_warnings(s['error'], s['warning'])}.")
    lines.append("  Policy: " + ", ".join(f"{k}={v}" for k, v in r.policy.items()))
    return "\n".join(lines) + "\n"

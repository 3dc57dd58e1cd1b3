"""The pre-submission check: one file in, one `Report` out, never an exception.

It runs the stages in order (file safety, parsing into the model, every
registered rule that applies at the effective checkpoint) and turns any
unexpected failure into a WB001 finding for that file, so a batch of files is
always fully reported.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from isap.findings import Finding, Severity, cap_findings
from isap.policy import Policy
from isap.registry import CATALOGUE_VERSION, all_rules, selected
from isap.safety import Refused, file_finding, inspect

log = logging.getLogger(__name__)
FILE_LEVEL = frozenset({"WB001", "WB002", "WB003"})


@dataclass
class Report:
    """One file's result.  `findings` is what is listed (at most `max_findings_per_rule` of one rule on
    one sheet, then a note); `unlisted` is, per severity, how many more findings the summary counts."""

    file: str
    sha256: str | None
    template_version: str | None
    checkpoint: int | None
    policy: dict
    findings: list[Finding] = field(default_factory=list)
    catalogue_version: str = CATALOGUE_VERSION
    proposal_reference: str | None = None
    lead_commissioner_code: str | None = None
    title: str | None = None
    provider_type: str | None = None
    contact_email: str | None = None
    unlisted: dict[str, int] = field(default_factory=dict)

    @property
    def summary(self) -> dict[str, int]:
        """Every finding, listed or not (workbook.md §4 "Output")."""
        counts = {s.value: self.unlisted.get(s.value, 0) for s in Severity}
        for f in self.findings:
            counts[f.severity.value] += 1
        return counts

    @property
    def refused(self) -> bool:
        return any(f.rule_id in FILE_LEVEL for f in self.findings)

    @property
    def exit_code(self) -> int:
        if self.refused:
            return 2
        return 1 if any(f.severity is Severity.ERROR for f in self.findings) else 0

    @classmethod
    def from_dict(cls, d: dict) -> "Report":
        report = cls(d["file"], d.get("sha256"), d.get("template_version"), d.get("checkpoint"),
                     d.get("policy", {}), [Finding.from_dict(f) for f in d.get("findings", [])])
        listed = report.summary
        total = d.get("summary") or {}
        report.unlisted = {k: max(0, int(total.get(k, n)) - n) for k, n in listed.items()}
        return report

    def to_dict(self) -> dict:
        return {
            "file": self.file,
            "sha256": self.sha256,
            "template_version": self.template_version,
            "checkpoint": self.checkpoint,
            "policy": dict(self.policy),
            "findings": [f.to_dict() for f in self.findings],
            "summary": self.summary,
        }


def check_file(path: str | Path, policy: Policy | None = None, checkpoint: int | None = None,
               select: Iterable[str] = (), ignore: Iterable[str] = ()) -> Report:
    policy = policy or Policy()
    report = Report(str(path), None, None, None, policy.values())
    try:
        inspection = inspect(path, policy)
    except Refused as refused:
        report.findings = refused.findings
        report.sha256 = _sha_if_readable(path, policy)
        return report
    except Exception as exc:  # noqa: BLE001 - any failure on one file is a finding, not a crash
        log.debug("unexpected failure inspecting %s", path, exc_info=True)
        report.findings = [file_finding("WB001", f"The workbook could not be read ({type(exc).__name__}).")]
        report.sha256 = _sha_if_readable(path, policy)
        return report
    report.sha256 = inspection.sha256
    try:
        from isap.parse import parse  # pandas/pandera load only when a file gets this far

        wb = parse(inspection, checkpoint)
        report.template_version = wb.template_version
        report.checkpoint = wb.checkpoint
        ref = wb.cover["proposal_reference"]
        report.proposal_reference = ref if isinstance(ref, str) else None
        code = wb.cover["lead_commissioner_code"]
        report.lead_commissioner_code = code if isinstance(code, str) else None
        title, ptype = wb.cover["proposal_title"], wb.cover["provider_type"]
        report.title = title if isinstance(title, str) else None
        report.provider_type = ptype if isinstance(ptype, str) else None
        email = wb.cover["contact_email"]
        report.contact_email = email if isinstance(email, str) else None
        findings: list[Finding] = []
        for rule in selected(all_rules(), select, ignore):
            if rule.applies_at(wb.checkpoint):
                findings.extend(rule.check(wb, policy))
        report.findings, report.unlisted = cap_findings(findings, policy.max_findings_per_rule,
                                                        dict(wb.unknown_sheets))
    except Refused as refused:
        report.findings = refused.findings
        report.template_version = report.checkpoint = None
    except Exception as exc:  # noqa: BLE001
        log.debug("unexpected failure checking %s", path, exc_info=True)
        report.findings = [file_finding("WB001", f"The workbook could not be read ({type(exc).__name__}).")]
        report.template_version = report.checkpoint = None
    return report


def check_bytes(data: bytes, filename: str, policy: Policy | None = None) -> Report:
    """Check an upload held in memory; the report names the upload's own file name."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "upload.xlsx"
        path.write_bytes(data)
        report = check_file(path, policy)
    report.file = Path(filename).name
    return report


def _sha_if_readable(path: str | Path, policy: Policy) -> str | None:
    import hashlib

    try:
        p = Path(path)
        if not p.is_file():
            return None
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()
    except OSError:
        return None

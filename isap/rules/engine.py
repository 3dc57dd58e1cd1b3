"""The pre-submission check: one file in, one `CheckReport` out, never an exception.

It runs the stages in order (file safety, parsing into the model, every
registered rule that applies at the effective checkpoint) in a child process
with hard limits, so a file that crashes a reader or exhausts a limit is a
WB001/WB003 finding for that file and never takes the caller down.  A failure
inside isap itself (a rule or the reader raising where the file is not at
fault) is reported as such, exit status 3, with the other rules' findings
still listed, so a batch of files is always fully reported.
"""

from __future__ import annotations

import gc
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from isap.policy import Policy
from isap.rules.registry import CATALOGUE_VERSION, ENTRY_POINT_GROUP, all_rules, selected
from isap.text import without_controls
from isap.workbook.findings import Domain, Finding, Severity, cap_findings
from isap.workbook.safety import FileRefused, file_finding, inspect
from isap.workbook.values import clip

log = logging.getLogger(__name__)


def checking_modules() -> tuple[str, ...]:
    """The modules a child that checks workbooks runs: worth importing once in a forkserver."""
    from importlib.metadata import entry_points

    # email_validator: GOV004 checks the contact's address with it, and its patterns take ~50 ms to build
    return ("isap.rules.engine", "email_validator", *sorted(ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)))


def prepare() -> None:
    """Import everything a check runs (the parser, its schemas and every rule module), so that a
    child started ahead of its first file pays no import time then."""
    import email_validator  # noqa: F401  (GOV004's address check: its patterns take ~50 ms to build)
    import fastexcel  # noqa: F401  (the table sheets' reader, imported by the reading thread otherwise)

    import isap.workbook.parse  # noqa: F401
    import isap.workbook.schemas  # noqa: F401

    all_rules()


TITLE_LIMIT = 300  # characters of a proposal title kept; a real title is far shorter
EMAIL_LIMIT = 254  # the longest address mail systems accept (RFC 5321)
FILE_LEVEL = frozenset({"WB001", "WB002", "WB003"})


@dataclass
class CheckReport:
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
    # the Cover's key figures the national view shows (kept on the proposal with each version)
    provider_name: str | None = None
    integration_model: str | None = None
    annual_contract_value_gbp: float | None = None
    wpap_annual_value_gbp: float | None = None
    population_registered: int | None = None
    # the Transparency sheet's evidence_reference values, each once: what attached evidence documents must answer
    evidence_references: list[str] = field(default_factory=list)
    unlisted: dict[str, int] = field(default_factory=dict)

    @property
    def summary(self) -> dict[str, int]:
        """Every finding, listed or not (docs/workbook.md §4 "Output")."""
        counts = {s.value: self.unlisted.get(s.value, 0) for s in Severity}
        for f in self.findings:
            counts[f.severity.value] += 1
        return counts

    @property
    def refused(self) -> bool:
        return any(f.rule_id in FILE_LEVEL for f in self.findings)

    @property
    def exit_code(self) -> int:
        """3 isap itself failed, 2 not assessable, 1 errors, 0 none (the spec's exit status of one file)."""
        if any(f.rule_id == ENGINE_DEFECT for f in self.findings):
            return 3
        if self.refused:
            return 2
        return 1 if any(f.severity is Severity.ERROR for f in self.findings) else 0

    @classmethod
    def from_dict(cls, d: dict) -> "CheckReport":
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


class CheckingBusy(Exception):
    """No checking child was free for this file within the policy's `check_wait_seconds`: it was not
    checked at all (nothing is wrong with it), and its sender is to be told so."""


def check_file(path: str | Path, policy: Policy | None = None, checkpoint: int | None = None,
               select: Iterable[str] = (), ignore: Iterable[str] = (),
               owner: str | tuple[str, str] = "") -> CheckReport:
    """Check one file in a child process with hard limits (see `isap.workbook.isolation`).

    What happens in the child cannot reach the caller: a crash, a kill or an exhausted limit is a
    WB001 or WB003 finding for this file.  `owner` (who submitted the file) takes turns for the
    children with other owners; `CheckingBusy` when its turn does not come within the policy's
    `check_wait_seconds`."""
    from isap.workbook import isolation

    policy = policy or Policy()
    limits = isolation.Limits.from_policy(policy)
    outcome = isolation.run(_check_in_child, (str(path), policy, checkpoint, tuple(select), tuple(ignore)), limits,
                            owner)
    if isinstance(outcome, isolation.Failure) and outcome.kind == "busy":
        raise CheckingBusy(f"Not checked: every checker stayed busy with other uploads for "
                           f"{policy.check_wait_seconds:g} seconds. Nothing is wrong with the file; please upload it "
                           "again in a few minutes.")
    if isinstance(outcome, isolation.Failure):
        return _failed_child(path, policy, outcome)
    report, defects = outcome
    for defect in defects:
        log.error("%s", defect)
    report.file = str(path)
    return report


def check_file_in_process(path: str | Path, policy: Policy | None = None, checkpoint: int | None = None,
                          select: Iterable[str] = (), ignore: Iterable[str] = ()) -> CheckReport:
    """The check itself, in this process: what the isolated child runs. Only for trusted callers
    (the child, tests): a file that crashes a reader takes this process with it."""
    report, defects = _check(path, policy, checkpoint, select, ignore)
    for defect in defects:
        log.error("%s", defect)
    return report


def _check_in_child(path: str, policy: Policy, checkpoint: int | None, select: tuple, ignore: tuple):
    # The child returns its defects' tracebacks as text so the parent, whose logging is configured,
    # logs them; the child's own standard error is not seen by anyone.
    return _check(path, policy, checkpoint, select, ignore)


def _check(path: str | Path, policy: Policy | None, checkpoint: int | None, select: Iterable[str],
           ignore: Iterable[str]) -> tuple[CheckReport, list[str]]:
    # A large workbook is a million cell values alive at once, and the cyclic garbage collector would
    # walk them all again and again as they are made (about a fifth of a large check), though a check
    # makes next to no cyclic garbage: it runs with the collector paused, which catches up afterwards.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _check_file(path, policy, checkpoint, select, ignore)
    finally:
        if collecting:
            gc.enable()


def _check_file(path: str | Path, policy: Policy | None, checkpoint: int | None, select: Iterable[str],
                ignore: Iterable[str]) -> tuple[CheckReport, list[str]]:
    policy = policy or Policy()
    report = CheckReport(str(path), None, None, None, policy.values())
    defects: list[str] = []
    from isap.workbook.parse import SheetReader

    # the reader starts on each worksheet as soon as the safety scan has passed it (see `inspect`)
    reader = SheetReader()
    try:
        return _assess(path, policy, checkpoint, select, ignore, report, defects, reader)
    finally:
        reader.close()


def _assess(path: str | Path, policy: Policy, checkpoint: int | None, select: Iterable[str], ignore: Iterable[str],
            report: CheckReport, defects: list[str], reader) -> tuple[CheckReport, list[str]]:
    try:
        inspection = inspect(path, policy, on_ready=reader.ahead)
    except FileRefused as refused:
        report.findings = refused.findings
        report.sha256 = _sha_if_readable(path, policy)
        return report, defects
    except MemoryError:
        report.findings = [_memory_finding(policy)]
        report.sha256 = _sha_if_readable(path, policy)
        return report, defects
    except Exception:  # noqa: BLE001 - a file's faults are FileRefused; anything else is isap's own defect
        defects.append(_defect_log("the safety scan", path))
        report.findings = [_defect_finding("the safety scan")]
        report.sha256 = _sha_if_readable(path, policy)
        return report, defects
    report.sha256 = inspection.sha256
    try:
        from isap.workbook.parse import parse

        wb = parse(inspection, checkpoint, policy.max_findings_per_rule, reader=reader)
    except FileRefused as refused:
        report.findings = refused.findings
        return report, defects
    except MemoryError:
        report.findings = [_memory_finding(policy)]
        return report, defects
    except Exception:  # noqa: BLE001
        defects.append(_defect_log("reading the workbook", path))
        report.findings = [_defect_finding("reading the workbook")]
        return report, defects
    # Cover text echoed into every report (and stored with every version) is bounded like messages:
    # a cell can hold megabytes.
    report.template_version = clip(wb.template_version) if wb.template_version is not None else None
    report.checkpoint = wb.checkpoint
    ref = wb.cover["proposal_reference"]
    report.proposal_reference = ref if isinstance(ref, str) else None
    code = wb.cover["lead_commissioner_code"]
    report.lead_commissioner_code = code if isinstance(code, str) else None
    title, ptype = wb.cover["proposal_title"], wb.cover["provider_type"]
    report.title = clip(title, TITLE_LIMIT) if isinstance(title, str) else None
    report.provider_type = ptype if isinstance(ptype, str) else None
    provider = wb.cover["provider_name"]
    report.provider_name = clip(provider, 199) if isinstance(provider, str) else None
    model = wb.cover["integration_model"]
    report.integration_model = model if isinstance(model, str) and len(model) <= 40 else None
    report.annual_contract_value_gbp = _figure(wb.cover["annual_contract_value_gbp"])
    report.wpap_annual_value_gbp = _figure(wb.cover["wpap_annual_value_gbp"])
    population = _figure(wb.cover["population_registered"])
    report.population_registered = int(population) if population is not None and population.is_integer() \
        and abs(population) < 2**31 else None
    email = wb.cover["contact_email"]
    # an address longer than any mail system accepts cannot be written to: no contact rather than a cut one
    report.contact_email = email if isinstance(email, str) and len(email) <= EMAIL_LIMIT else None
    report.evidence_references = _evidence_references(wb)
    findings: list[Finding] = []
    for rule in selected(all_rules(), select, ignore):
        if not rule.applies_at(wb.checkpoint):
            continue
        # Each rule on its own: one defective rule must not hide what the others found.
        try:
            findings.extend(list(rule.check(wb, policy)))
        except MemoryError:
            report.template_version = report.checkpoint = None
            report.findings = [_memory_finding(policy)]
            return report, defects
        except Exception:  # noqa: BLE001
            defects.append(_defect_log(f"rule {rule.id}", path))
            findings.append(_defect_finding(f"rule {rule.id}"))
    report.findings, report.unlisted = cap_findings(findings, policy.max_findings_per_rule, dict(wb.unknown_sheets))
    return report, defects


EVIDENCE_REFERENCES_KEPT = 500  # distinct references kept per version; a real sheet has a dozen


def _evidence_references(wb) -> list[str]:
    """The Transparency sheet's evidence_reference texts, each once, in order (docs/workflow.md, "Evidence")."""
    column = wb.transparency.columns.get("evidence_reference", ()) if wb.transparency.present else ()
    out: dict[str, str] = {}
    for value in column:
        if isinstance(value, str) and value.strip() and len(out) < EVIDENCE_REFERENCES_KEPT:
            text = clip(without_controls(" ".join(value.split())), 300)
            out.setdefault(text.casefold(), text)
    return list(out.values())


def _figure(value) -> float | None:
    """A Cover number as the national view keeps it: a finite number, or nothing (text, a date, a blank)."""
    import math

    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


# Not a catalogue rule: the finding that says isap itself failed (exit status 3).
ENGINE_DEFECT = "ISAP"
SECTION_OUTPUT = "ISAP-WB 1.0 §4"


def _defect_finding(stage: str) -> Finding:
    return Finding(ENGINE_DEFECT, Severity.ERROR, Domain.WORKBOOK, None, None, None, None,
                   f"isap itself failed while running {stage}: this is a defect in isap, not a fault in the "
                   "workbook. The findings of the checks that did run are listed; please report this to the "
                   "isap team.", SECTION_OUTPUT)


def _defect_log(stage: str, path: str | Path) -> str:
    import traceback

    return f"isap defect in {stage} while checking {path}:\n{traceback.format_exc()}"


def _memory_finding(policy: Policy) -> Finding:
    return file_finding("WB003", f"The workbook could not be assessed: it needed more than the "
                                 f"{policy.max_memory_bytes / 1048576:,.0f} MiB of memory allowed (policy "
                                 "max_memory_bytes).")


_FAILURE_RULE = {"memory": "WB003", "cpu": "WB003", "time": "WB003"}
_FAILURE_POLICY = {"memory": "max_memory_bytes", "cpu": "max_cpu_seconds", "time": "max_seconds_per_file"}


def _failed_child(path: str | Path, policy: Policy, failure) -> CheckReport:
    """The report of a file whose isolated check returned nothing: a finding for that file."""
    report = CheckReport(str(path), _sha_if_readable(path, policy), None, None, policy.values())
    if failure.kind in ("error", "unavailable"):  # raised outside its own guards, or no child could run it
        log.error("isap defect: the isolated check of %s failed:\n%s", path, failure.detail)
        report.findings = [_defect_finding("the isolated check")]
    elif failure.kind in _FAILURE_RULE:
        report.findings = [file_finding(_FAILURE_RULE[failure.kind], f"The workbook could not be assessed within "
                                        f"the limits: {failure.detail} (policy {_FAILURE_POLICY[failure.kind]}).")]
    else:
        report.findings = [file_finding("WB001", f"The workbook could not be read: {failure.detail}.")]
    return report


def worst_status(statuses: Iterable[int]) -> int:
    """With several files the worst status wins: 3 over 2 over 1 over 0."""
    return max(statuses, default=0)


def check_bytes(data: bytes, filename: str, policy: Policy | None = None, checkpoint: int | None = None,
                owner: str | tuple[str, str] = "") -> CheckReport:
    """Check an upload held in memory (isolated, as `check_file`); the report names the upload's own file name."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="isap-upload-") as tmp:
        path = Path(tmp) / "upload.xlsx"
        path.write_bytes(data)
        report = check_file(path, policy, checkpoint, owner=owner)
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

"""Exports people open elsewhere: JUnit XML and Markdown reports, and safe spreadsheet text.

People read these, so a finding's source is named by its document's title, publisher and year
(`isap.rules.sources`), not by the file name the JSON report keeps.

Text that came from a submission can reach Excel again (the annotated
workbook, CSV downloads); anything that starts like a formula is written so
that it cannot execute (CWE-1236).
"""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from typing import Iterable, Sequence

from isap.outputs.inert_markdown import inert_markdown
from isap.review.wording import HISTORY_HEADINGS, count, errors_and_warnings, history_row
from isap.rules.engine import CheckReport
from isap.rules.registry import all_rules
from isap.rules.sources import readable
from isap.workbook.findings import Severity, unlisted_by

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> object:
    """Text starting like a formula gets a leading apostrophe; numbers (negative ones too) are untouched."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def to_csv(rows: Iterable[dict], columns: Sequence[str]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([neutralise(row.get(c)) for c in columns])
    return buf.getvalue()


def history_csv(history: Iterable[dict]) -> str:
    """A proposal's history (`Service.show()["history"]`) as people read it, one event a row: when in UK time,
    who, what, the change of state and the details in words (`isap.review.wording`)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(HISTORY_HEADINGS.values())
    for row in history:
        shown = history_row(row)
        writer.writerow([neutralise(shown[k]) for k in HISTORY_HEADINGS])
    return buf.getvalue()


def to_junit(reports: Sequence[CheckReport], fail_on: Severity = Severity.ERROR) -> str:
    """One test suite per file; one test case per rule; a failure for each rule with a finding that makes
    the exit status non-zero: an error, or with `fail_on` warning also a warning (`isap check --fail-on`).
    A CI view then shows red exactly when the check failed."""
    failing = {Severity.ERROR} | ({Severity.WARNING} if fail_on is Severity.WARNING else set())
    suites = ET.Element("testsuites", name="isap check")
    rules = all_rules()
    total_tests = total_failures = total_errors = 0
    for r in reports:
        suite = ET.SubElement(suites, "testsuite", name=r.file)
        tests = failures = errors = 0
        if r.refused:
            case = ET.SubElement(suite, "testcase", classname=r.file, name="file")
            err = ET.SubElement(case, "error", message=r.findings[0].message, type=r.findings[0].rule_id)
            err.text = "\n".join([f"{f.rule_id}: {f.message}" for f in r.findings] + _sources(r.findings))
            tests, errors = 1, 1
        else:
            by_rule: dict[str, list] = {}
            for f in r.findings:
                by_rule.setdefault(f.rule_id, []).append(f)
            for rule in rules:
                if rule.id in ("WB001", "WB002", "WB003") or not rule.applies_at(r.checkpoint):
                    continue
                tests += 1
                case = ET.SubElement(suite, "testcase", classname=r.file, name=f"{rule.id} {rule.summary}")
                found = by_rule.get(rule.id, [])
                # a "N more" note is listed as a line of its own and counts as the findings it stands for
                more = {id(f): n for f in found if (n := unlisted_by(f)) is not None}
                errs = [f for f in found if f.severity in failing]
                listed = [f for f in errs if id(f) not in more]
                counted = len(listed) + sum(more.get(id(f), 0) for f in errs)
                lines = [f"{f.sheet or 'file'}{'!' + f.cell if f.cell else ''}: {f.message}" for f in found]
                lines += _sources(found)
                if errs:
                    failures += 1
                    shown = count(counted, "finding") + (f", {len(listed):,} listed" if counted > len(listed) else "")
                    first = (listed or errs)[0]
                    fail = ET.SubElement(case, "failure", message=f"{shown}: {first.message}",
                                         type=rule.severity.value)
                    fail.text = "\n".join(lines)
                elif found:
                    ET.SubElement(case, "system-out").text = "\n".join(lines)
        suite.set("tests", str(tests))
        suite.set("failures", str(failures))
        suite.set("errors", str(errors))
        suite.set("skipped", "0")
        total_tests, total_failures, total_errors = (
            total_tests + tests,
            total_failures + failures,
            total_errors + errors,
        )
    suites.set("tests", str(total_tests))
    suites.set("failures", str(total_failures))
    suites.set("errors", str(total_errors))
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def _sources(findings) -> list[str]:
    """One `Source:` line for each document and paragraphs the findings cite, in order of first citation."""
    return [f"Source: {readable(s)}" for s in dict.fromkeys(f.source for f in findings if f.source)]


def md_text(text: object) -> str:
    """Text from a workbook or a person, shown literally in Markdown (never interpreted)."""
    return inert_markdown(text, one_line=True)


def to_markdown(reports: Sequence[CheckReport]) -> str:
    out = []
    for r in reports:
        s = r.summary
        status = "not assessable" if r.refused else ("errors" if s["error"] else "ready to submit")
        out.append(f"### {md_text(r.file)} — {status}\n")
        out.append(
            f"{errors_and_warnings(s['error'], s['warning'])}; checkpoint {md_text(r.checkpoint or 'unknown')}; "
            f"template {md_text(r.template_version or 'unknown')}.\n"
        )
        if r.findings:
            out.append("| severity | rule | sheet | cell | message | source |")
            out.append("|---|---|---|---|---|---|")
            for f in r.findings:
                out.append(f"| {f.severity.value} | {md_text(f.rule_id)} | {md_text(f.sheet or '')} | "
                           f"{md_text(f.cell or '')} | {md_text(f.message)} | {md_text(readable(f.source))} |")
            out.append("")
        out.append("<details><summary>Policy values used</summary>\n\n"
                   + "\n".join(f"- `{k}` = {md_text(v)}" for k, v in r.policy.items()) + "\n</details>\n")
    return "\n".join(out)

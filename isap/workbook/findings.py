"""The finding: one problem, pointing at the exact place in the workbook.

Everything the engine reports is a `Finding`; this module also fixes the order
findings are listed in (template sheet order, then row, rule and column), so
the text report, JSON, annotated copy and dashboard all agree.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import re
from collections import Counter
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Callable, Iterable

from isap.workbook.template import SHEET_ORDER, SHEETS_BY_NAME, section_for


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class Domain(str, Enum):
    WORKBOOK = "workbook"
    SCHEMA = "schema"
    CAPITALISATION = "capitalisation"
    TRANSPARENCY = "transparency"
    SERVICE_SCOPE = "service_scope"
    RELATIONSHIPS = "relationships"
    GOVERNANCE = "governance"


@dataclass(frozen=True, slots=True)
class Finding:
    rule_id: str
    severity: Severity
    domain: Domain
    sheet: str | None
    row: int | None
    column: str | None
    cell: str | None
    message: str
    source: str

    def to_dict(self) -> dict:
        d = asdict(self)
        d["severity"] = self.severity.value
        d["domain"] = self.domain.value
        return d

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.rule_id, self.sheet, self.cell, self.column, self.message)

    @classmethod
    def from_dict(cls, d: dict) -> "Finding":
        return cls(
            rule_id=d["rule_id"],
            severity=Severity(d["severity"]),
            domain=Domain(d["domain"]),
            sheet=d.get("sheet"),
            row=d.get("row"),
            column=d.get("column"),
            cell=d.get("cell"),
            message=d["message"],
            source=d["source"],
        )


def fingerprint(rule_id: str, sheet: str | None, cell: str | None, column: str | None, message: str) -> str:
    """What makes a finding the same finding in another version: its rule, its place and its words.

    The same identity the comparison of two versions uses (a finding is "unchanged" when all five agree), so a
    waiver granted on a finding follows it into later versions exactly while the comparison calls it unchanged;
    a changed value changes the message, and so needs a waiver of its own (docs/decisions/0040-waivers.md).
    """
    text = json.dumps([rule_id, sheet, cell, column, message], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


ALL_CHECKPOINTS = frozenset({1, 2, 3})
FROM_CP2 = frozenset({2, 3})

CheckFn = Callable[..., Iterable[Finding]]


@dataclass(frozen=True)
class Rule:
    """One rule of the catalogue: what it says and the check that finds it.

    Every finding is built by its rule (`Rule.finding`), so a finding's severity, domain and source
    are always its registered rule's.  Rules of the reader (WB, SCH) cite the template section of the
    sheet they point at (`source_by_section`); their catalogue `source` lists the sections."""

    id: str
    severity: Severity
    domain: Domain
    checkpoints: frozenset[int]
    summary: str
    source: str
    explanation: str
    check: CheckFn
    points_at: str = ""
    source_by_section: bool = False

    @property
    def when(self) -> str:
        return "all" if self.checkpoints == ALL_CHECKPOINTS else "cp ≥ 2" if self.checkpoints == FROM_CP2 else \
            ", ".join(str(c) for c in sorted(self.checkpoints))

    def applies_at(self, checkpoint: int | None) -> bool:
        """Rules for all checkpoints always run; the others need a valid checkpoint they list."""
        if self.checkpoints == ALL_CHECKPOINTS:
            return True
        return checkpoint is not None and checkpoint in self.checkpoints

    def source_at(self, sheet: str | None) -> str:
        """The source a finding of this rule on `sheet` cites."""
        return section_for(sheet) if self.source_by_section else self.source

    def finding(self, *, sheet: str | None, row: int | None = None, column: str | None = None,
                cell: str | None = None, message: str) -> Finding:
        """This rule's finding at a place.  Keywords only: five places in a row are easy to swap
        unseen.  Checks place findings through the model instead (`Row.finding`,
        `KeyValueSheet.finding`, `Table.finding`), which knows each value's row and cell."""
        return Finding(self.id, self.severity, self.domain, sheet, row, column, cell, message, self.source_at(sheet))

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "severity": self.severity.value,
            "domain": self.domain.value,
            "checkpoints": sorted(self.checkpoints),
            "when": self.when,
            "summary": self.summary,
            "points_at": self.points_at,
            "source": self.source,
            "explanation": self.explanation,
        }


_SEVERITY_RANK = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
# column order within each template sheet, for sorting
_COLUMN_ORDER = {name: {c: i for i, c in enumerate(spec.column_names)} for name, spec in SHEETS_BY_NAME.items()}


def _place_key(f: Finding) -> tuple:
    """Order within one sheet: row null first, then row, rule_id, column order."""
    order = _COLUMN_ORDER.get(f.sheet, {}) if f.sheet else {}
    col_key = order.get(f.column, len(order)) if f.column is not None else len(order)
    return (f.row is not None, f.row or 0, f.rule_id, col_key, f.column or "", f.cell or "")


def sort_findings(findings: list[Finding], unknown_sheet_order: dict[str, int] | None = None) -> list[Finding]:
    """File-level findings first; then template sheets in template order; then unknown
    sheets in workbook order; within a sheet row null first, then row, rule_id, column order."""
    unknown = unknown_sheet_order or {}

    def key(f: Finding):
        if f.sheet is None:
            sheet_key = (0, 0)
        elif f.sheet in SHEET_ORDER:
            sheet_key = (1, SHEET_ORDER[f.sheet])
        else:
            sheet_key = (2, unknown.get(f.sheet, 10**9))
        return (sheet_key, _place_key(f))

    return sorted(findings, key=key)


@dataclass(frozen=True, slots=True)
class Unlisted(Finding):
    """Stands for `count` findings of one rule on one sheet that were counted but never built, because
    `limit` findings of that rule on that sheet that come before them in report order were already kept.

    Only `cap_findings` reads it: it turns the counts into the one "N more" finding.  Its severity,
    domain and source are those of the findings it stands for."""

    count: int = 0


class FindingCollector:
    """Findings of one parse, keeping at most `limit` of one rule on one sheet: the first ones in report
    order (`_place_key`).  The rest are only counted, so a sheet with a million faults costs a million
    counts, not a million worded findings.  `limit=None` keeps everything.

    A group holds at most twice the limit: past that it is sorted and cut back to the limit, and what is
    cut can never come back, since `limit` findings before it are kept.  Whole columns go through
    `add_column`, which builds only the first `limit` of a column, since findings of one rule in one
    column are in report order when their rows ascend."""

    def __init__(self, limit: int | None = None):
        self.limit = limit
        self._groups: dict[tuple[str, str | None], list[Finding]] = {}
        self._dropped: dict[tuple[str, str | None, Severity], tuple[int, Finding]] = {}

    def add(self, finding: Finding) -> None:
        key = (finding.rule_id, finding.sheet)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = []
        group.append(finding)
        if self.limit is not None and len(group) > 2 * self.limit:
            self._prune(key, group)

    def add_column(self, rule_id: str, sheet: str | None, rows, build) -> None:
        """`len(rows)` findings of one rule in one column, `rows` ascending; `build(i)` makes the
        finding of `rows[i]`, and is called only for the ones that can still be listed."""
        n = len(rows)
        if n == 0:
            return
        keep = n if self.limit is None else min(n, self.limit)
        for i in range(keep):
            self.add(build(i))
        if keep < n:
            self._drop((rule_id, sheet), n - keep, build(keep))

    def _drop(self, key: tuple[str, str | None], n: int, example: Finding) -> None:
        full = (*key, example.severity)
        count, first = self._dropped.get(full, (0, example))
        self._dropped[full] = (count + n, first)

    def _prune(self, key: tuple[str, str | None], group: list[Finding]) -> None:
        group.sort(key=_place_key)
        for f in group[self.limit:]:
            self._drop(key, 1, f)
        del group[self.limit:]

    def findings(self) -> list[Finding]:
        """The kept findings, group by group, then one `Unlisted` per rule, sheet and severity that
        dropped some (in a parse, a rule has one severity)."""
        if self.limit is not None:
            for key, group in self._groups.items():
                if len(group) > self.limit:
                    self._prune(key, group)
        out = [f for group in self._groups.values() for f in group]
        for (rule_id, sheet, _), (count, ex) in self._dropped.items():
            out.append(Unlisted(rule_id, ex.severity, ex.domain, sheet, None, None, None, "", ex.source, count))
        return out


def cap_findings(findings: Iterable[Finding], limit: int,
                 unknown_sheet_order: dict[str, int] | None = None) -> tuple[list[Finding], dict[str, int]]:
    """At most `limit` findings of one rule on one sheet, in report order (docs/workbook.md §4 "Output").

    Past the limit, the first `limit` findings (in report order) are listed and one more finding of the
    same rule, severity and sheet, with row, column and cell null, says how many more there were.
    Returns the listed findings, sorted, and per severity how many findings the summary counts beyond
    the listed ones: a note counts as one of the findings it stands for, so the summary is
    `len(listed)` plus these, per severity.
    """
    groups: dict[tuple[str, str | None], list[Finding]] = {}
    counted: dict[tuple[str, str | None], list[Unlisted]] = {}  # findings a bounded parse only counted
    for f in findings:
        key = (f.rule_id, f.sheet)
        group = groups.get(key)
        if group is None:
            group = groups[key] = []
        if f.__class__ is Unlisted:
            counted.setdefault(key, []).append(f)
        else:
            group.append(f)
    unlisted = {s.value: 0 for s in Severity}
    listed: list[Finding] = []
    for (rule_id, sheet), group in groups.items():
        only_counted = counted.get((rule_id, sheet), [])
        hidden = sum(u.count for u in only_counted)
        if len(group) + hidden <= limit:
            listed.extend(group)
            continue
        first = _first(group, limit) if len(group) > limit else group
        kept = set(map(id, first))
        rest = [f for f in group if id(f) not in kept]
        listed.extend(first)
        severity = min({f.severity for f in rest} | {u.severity for u in only_counted},
                       key=_SEVERITY_RANK.__getitem__)
        n = len(rest) + hidden
        like = rest[0] if rest else only_counted[0]
        where = "in the file" if sheet is None else "on this sheet"
        listed.append(Finding(
            rule_id, severity, like.domain, sheet, None, None, None,
            f"{n:,} more {rule_id} finding{'s' if n != 1 else ''} {where} {'are' if n != 1 else 'is'} not "
            f"listed: at most {limit:,} of one rule on one sheet are listed (policy max_findings_per_rule). "
            "Fix the ones above and check again.",
            like.source))
        for value, count in Counter(f.severity.value for f in rest).items():
            unlisted[value] += count
        for u in only_counted:
            unlisted[u.severity.value] += u.count
        unlisted[severity.value] -= 1  # the note itself is listed and counted
    return sort_findings(listed, unknown_sheet_order), unlisted


_NOTE = re.compile(
    r"([0-9][0-9,]*) more ([A-Z]+[0-9]+) findings? (?:in the file|on this sheet) (?:are|is) not listed: "
)


def unlisted_by(f: Finding) -> int | None:
    """How many findings a "N more" note of `cap_findings` stands for; None for any other finding.
    Read from the note itself, so it holds for findings read back from JSON or the store too."""
    if f.row is not None or f.column is not None or f.cell is not None:
        return None
    m = _NOTE.match(f.message)
    if m is None or m.group(2) != f.rule_id:
        return None
    return int(m.group(1).replace(",", ""))


def _first(group: list[Finding], limit: int) -> list[Finding]:
    """The first `limit` findings of one rule on one sheet in report order, without sorting them all:
    only findings on rows up to the `limit`-th smallest row can be among them."""
    rows = [-1 if f.row is None else f.row for f in group]
    bound = heapq.nsmallest(limit, rows)[-1]
    candidates = [f for f, r in zip(group, rows) if r <= bound]
    candidates.sort(key=_place_key)
    return candidates[:limit]

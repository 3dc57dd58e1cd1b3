"""The rule registry: every assurance rule, registered once under its catalogue ID.

`isap rules`, `docs/rules.md`, the dashboard's rule page and the checker all
read this registry, so a rule's severity, checkpoints, source and wording are
written in exactly one place.  Registration refuses a duplicate ID or an
incomplete rule when the module is imported, so a half-written rule can never
ship.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable

from isap.findings import Domain, Finding, Severity

CATALOGUE_VERSION = "ISAP-WB 1.0 rules 2026.11"
ALL_CHECKPOINTS = frozenset({1, 2, 3})
FROM_CP2 = frozenset({2, 3})
_ID = re.compile(r"^(WB|SCH|CAP|TRN|SCP|REL|GOV)[0-9]{3}$")

CheckFn = Callable[..., Iterable[Finding]]


class RegistryError(RuntimeError):
    pass


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    domain: Domain
    checkpoints: frozenset[int]
    summary: str
    source: str
    explanation: str
    check: CheckFn
    points_at: str = ""

    @property
    def when(self) -> str:
        return "all" if self.checkpoints == ALL_CHECKPOINTS else "cp ≥ 2" if self.checkpoints == FROM_CP2 else \
            ", ".join(str(c) for c in sorted(self.checkpoints))

    def applies_at(self, checkpoint: int | None) -> bool:
        """Rules for all checkpoints always run; the others need a valid checkpoint they list."""
        if self.checkpoints == ALL_CHECKPOINTS:
            return True
        return checkpoint is not None and checkpoint in self.checkpoints

    def finding(self, sheet: str | None, row: int | None, column: str | None, cell: str | None,
                message: str) -> Finding:
        return Finding(self.id, self.severity, self.domain, sheet, row, column, cell, message, self.source)

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


_RULES: dict[str, Rule] = {}


def register(id: str, *, severity: Severity, domain: Domain, checkpoints: frozenset[int], summary: str,
             source: str, explanation: str, points_at: str = "") -> Callable[[CheckFn], CheckFn]:
    """Register a check function under its rule ID."""

    def deco(fn: CheckFn) -> CheckFn:
        if not _ID.match(id):
            raise RegistryError(f"rule id {id!r} does not follow the catalogue's pattern")
        if id in _RULES:
            raise RegistryError(f"rule {id} is registered twice")
        missing = [k for k, v in (("summary", summary), ("source", source), ("explanation", explanation)) if not v]
        if missing or not checkpoints or not checkpoints <= ALL_CHECKPOINTS:
            raise RegistryError(f"rule {id} is incomplete: {', '.join(missing) or 'checkpoints'}")
        rule = Rule(id, severity, domain, frozenset(checkpoints), summary, source, explanation, fn, points_at)
        _RULES[id] = rule
        fn.rule = rule  # type: ignore[attr-defined]
        return fn

    return deco


def _load() -> None:
    import checks  # noqa: F401  (registers every rule)


def all_rules() -> list[Rule]:
    _load()
    return sorted(_RULES.values(), key=_order)


def get(rule_id: str) -> Rule:
    _load()
    return _RULES[rule_id]


_DOMAIN_ORDER = {d: i for i, d in enumerate(Domain)}


def _order(rule: Rule):
    return (_DOMAIN_ORDER[rule.domain], rule.id)


def selected(rules: Iterable[Rule], select: Iterable[str] = (), ignore: Iterable[str] = ()) -> list[Rule]:
    """flake8-style selection by ID prefix (`CAP`, `CAP00`, `REL010`)."""
    sel = tuple(s.strip().upper() for s in select if s.strip())
    ign = tuple(s.strip().upper() for s in ignore if s.strip())
    return [r for r in rules if (not sel or r.id.startswith(sel)) and not (ign and r.id.startswith(ign))]

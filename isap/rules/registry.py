"""The rule registry: every assurance rule, once, under its catalogue ID.

`isap rules`, `docs/rules.md`, the dashboard's rule page and the engine all read the registry, so
a rule's severity, checkpoints, source and wording are written in exactly one place.

The registry is handed its rules; it never imports them.  The reader's own rules (WB, SCH) come
from the workbook layer below; the domain rules come from the modules named in the `isap.rules`
entry-point group (`pyproject.toml`: one module per package of `checks/`), the way flake8 finds
its plugins.  A module's rules are the functions it decorated with `assurance_rule`.  A duplicate
ID, an ID off the catalogue's pattern or an incomplete rule is refused when the registry is built,
so a half-written rule can never ship; an installation with no domain rules at all is refused too,
since it would pass every workbook.
"""

from __future__ import annotations

import re
import threading
from importlib.metadata import entry_points
from types import ModuleType
from typing import Callable, Iterable

from isap.workbook.findings import ALL_CHECKPOINTS, FROM_CP2, CheckFn, Domain, Rule, Severity
from isap.workbook.reading_rules import READING_RULES

__all__ = ["ALL_CHECKPOINTS", "FROM_CP2", "CATALOGUE_VERSION", "ENTRY_POINT_GROUP", "Registry", "RegistryError",
           "Rule", "all_rules", "assurance_rule", "installed", "rules_in", "selected"]

CATALOGUE_VERSION = "ISAP-WB 1.0 rules 2026.11"
ENTRY_POINT_GROUP = "isap.rules"
_ID = re.compile(r"^(WB|SCH|CAP|TRN|SCP|REL|GOV)[0-9]{3}$")


class RegistryError(RuntimeError):
    pass


def assurance_rule(id: str, *, severity: Severity, domain: Domain, checkpoints: frozenset[int], summary: str,
                   source: str, explanation: str, points_at: str = "") -> Callable[[CheckFn], CheckFn]:
    """Declare the decorated check function as the check of rule `id`; its `.rule` is the Rule."""

    def deco(fn: CheckFn) -> CheckFn:
        fn.rule = Rule(id, severity, domain, frozenset(checkpoints), summary, source,  # type: ignore[attr-defined]
                       explanation, fn, points_at)
        return fn

    return deco


def rules_in(module: ModuleType) -> list[Rule]:
    """The rules a module declared: its functions decorated with `assurance_rule`, in definition order."""
    return [fn.rule for fn in vars(module).values()
            if callable(fn) and isinstance(getattr(fn, "rule", None), Rule) and fn.rule.check is fn]


class Registry:
    """The rules in force, by ID, in catalogue order (domain, then ID)."""

    def __init__(self, rules: Iterable[Rule] = ()):
        self._rules: dict[str, Rule] = {}
        self.extend(rules)

    def extend(self, rules: Iterable[Rule]) -> None:
        for rule in rules:
            _validate(rule)
            if rule.id in self._rules:
                raise RegistryError(f"rule {rule.id} is registered twice")
            self._rules[rule.id] = rule

    def remove(self, rule_id: str) -> None:
        self._rules.pop(rule_id, None)

    def all(self) -> list[Rule]:
        return sorted(self._rules.values(), key=_order)

    def __getitem__(self, rule_id: str) -> Rule:
        return self._rules[rule_id]

    def __contains__(self, rule_id: object) -> bool:
        return rule_id in self._rules


def _validate(rule: Rule) -> None:
    if not _ID.match(rule.id):
        raise RegistryError(f"rule id {rule.id!r} does not follow the catalogue's pattern")
    missing = [k for k in ("summary", "source", "explanation") if not getattr(rule, k)]
    if missing or not rule.checkpoints or not rule.checkpoints <= ALL_CHECKPOINTS:
        raise RegistryError(f"rule {rule.id} is incomplete: {', '.join(missing) or 'checkpoints'}")


_INSTALLED: Registry | None = None
_LOCK = threading.Lock()


def installed() -> Registry:
    """The registry of this installation: the reader's rules and every module of the entry-point group."""
    global _INSTALLED
    with _LOCK:
        if _INSTALLED is None:
            registry = Registry(READING_RULES.values())
            found = sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)
            if not found:
                raise RegistryError(f"no assurance rules are installed (entry-point group {ENTRY_POINT_GROUP!r}); "
                                    "install isap with `pip install -e .`")
            for ep in found:
                registry.extend(rules_in(ep.load()))
            _INSTALLED = registry
        return _INSTALLED


def all_rules() -> list[Rule]:
    return installed().all()


_DOMAIN_ORDER = {d: i for i, d in enumerate(Domain)}


def _order(rule: Rule):
    return (_DOMAIN_ORDER[rule.domain], rule.id)


def selected(rules: Iterable[Rule], select: Iterable[str] = (), ignore: Iterable[str] = ()) -> list[Rule]:
    """flake8-style selection by ID prefix (`CAP`, `CAP00`, `REL010`)."""
    sel = tuple(s.strip().upper() for s in select if s.strip())
    ign = tuple(s.strip().upper() for s in ignore if s.strip())
    return [r for r in rules if (not sel or r.id.startswith(sel)) and not (ign and r.id.startswith(ign))]

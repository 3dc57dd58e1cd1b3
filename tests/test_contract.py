"""The rule registry keeps the product contract: rule IDs, severities, domains and checkpoints.

The contract's rule table lives in the spec beside the project (`../shared/spec/rules.md`), which a
clean clone does not have; `tests/contract/rules.yml` mirrors it inside the repository.  The
registry is always tested against the mirror; the mirror is tested against the spec wherever the
spec is present, so the copy cannot drift unnoticed.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from isap.rules.registry import all_rules

MIRROR = Path(__file__).resolve().parent / "contract" / "rules.yml"
SPEC = Path(__file__).resolve().parents[2] / "shared" / "spec" / "rules.md"
WHEN = {"all": [1, 2, 3], "cp ≥ 2": [2, 3]}


def mirror() -> dict[str, dict]:
    return yaml.safe_load(MIRROR.read_text(encoding="utf-8"))["rules"]


def spec_table(text: str) -> dict[str, dict]:
    """The rule rows of rules.md: `| ID | severity | [when |] …`, under `## … (domain `name`)` headings.
    A table without a `when` column (the schema rules) applies at every checkpoint."""
    rules, domain = {}, None
    for line in text.splitlines():
        heading = re.match(r"^## .*\(domain `(\w+)`\)", line)
        if heading:
            domain = heading.group(1)
            continue
        row = re.match(r"^\| ((?:WB|SCH|CAP|TRN|SCP|REL|GOV)\d{3}) \| (\w+) \|(?: (all|cp ≥ 2) \|)?", line)
        if row:
            assert row.group(1) not in rules, f"{row.group(1)} twice in the spec"
            rules[row.group(1)] = {"severity": row.group(2), "domain": domain,
                                   "checkpoints": WHEN[row.group(3) or "all"]}
    return rules


def registry() -> dict[str, dict]:
    return {r.id: {"severity": r.severity.value, "domain": r.domain.value, "checkpoints": sorted(r.checkpoints)}
            for r in all_rules()}


def test_registry_matches_the_contract_mirror():
    assert registry() == mirror()


@pytest.mark.skipif(not SPEC.exists(), reason="the product spec is not beside this working copy (../shared)")
def test_contract_mirror_matches_the_spec():
    assert mirror() == spec_table(SPEC.read_text(encoding="utf-8"))


def test_spec_table_reader_reads_rows_domains_and_checkpoints():
    text = ("## Capitalisation (domain `capitalisation`)\n| id | sev | when |\n|---|---|---|\n"
            "| CAP001 | error | cp ≥ 2 | a year has no row |\n| CAP010 | error | all | x |\n"
            "## Schema (domain `schema`) — field-level\n| SCH001 | error | a required value is missing |\n")
    assert spec_table(text) == {
        "CAP001": {"severity": "error", "domain": "capitalisation", "checkpoints": [2, 3]},
        "CAP010": {"severity": "error", "domain": "capitalisation", "checkpoints": [1, 2, 3]},
        "SCH001": {"severity": "error", "domain": "schema", "checkpoints": [1, 2, 3]},
    }

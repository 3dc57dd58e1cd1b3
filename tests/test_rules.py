"""What the rule cases do not cover: the wording of findings, rule selection, the generated catalogue.

Every rule's failing and passing cases — boundaries, checkpoint skips, statutory exemptions and
no-cascade cases — are data in sample_submissions/rule_cases/ run by tests/test_rule_cases.py;
the registry is held to the contract by tests/test_contract.py.
"""

from __future__ import annotations

from pathlib import Path

from sample_submissions.proposals import clean
from tests.conftest import findings_of


def fin(p, year):
    return next(r for r in p["Finance"] if r["contract_year"] == year)


def test_message_names_the_values(run_check):
    p = clean(2)
    fin(p, 6).update(net_assets_gbp=1_200_000, minimum_assets_gbp=2_000_000)
    [f] = run_check(p).findings
    assert f.message == "Year 6: net assets £1,200,000 are below the committed minimum £2,000,000."
    assert f.source == "002_beafc3e198b0dad1.txt §34" and f.severity.value == "error"
    assert f.to_dict()["domain"] == "capitalisation"


def test_cap001_messages_name_each_missing_year_in_order(run_check):
    p = clean(2)
    p["Finance"] = [r for r in p["Finance"] if r["contract_year"] not in (3, 9)]
    got = run_check(p)
    assert [f.message.split(" of ")[0] for f in got.findings] == ["Contract year 3", "Contract year 9"]


def test_select_and_ignore_by_prefix(run_check):
    p = clean(2)
    p["Cover"]["wpap_annual_value_gbp"] = 1
    fin(p, 1)["startup_costs_gbp"] = 0
    assert {r for r, _, _ in findings_of(run_check(p, select=("CAP01",)))} == {"CAP010", "CAP011"}


def test_docs_catalogue_is_generated_from_the_registry():
    from isap.rules.catalogue import render

    docs = Path(__file__).resolve().parents[1] / "docs" / "rules.md"
    assert docs.read_text(encoding="utf-8") == render("markdown"), "run: isap rules --format markdown > docs/rules.md"

"""What the rule cases do not cover: the wording of findings, rule selection, the generated catalogue.

Every rule's failing and passing cases — boundaries, checkpoint skips, statutory exemptions and
no-cascade cases — are data in sample_submissions/rule_cases/ run by tests/test_rule_cases.py;
the registry is held to the contract by tests/test_contract.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

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


# ---------------------------------------------------------------------- grammar guard

# "a" before these vowel letters is right: the word starts with a consonant sound
_A_BEFORE_VOWEL = ("uni", "use", "usu", "uti", "one", "once", "eu")
# "an" before these is right: the h is silent
_AN_BEFORE_H = ("hour", "honest", "honour", "heir")
# an initialism read letter by letter starts with a vowel sound when its first letter is one of these
_VOWEL_SOUND_LETTERS = set("AEFHILMNORSX")
_ARTICLE = re.compile(r"\b([Aa]n?) ([A-Za-z][\w-]*)")
_REPEATED = re.compile(r"\b([A-Za-z]+) \1\b", re.IGNORECASE)


def grammar_errors(text: str) -> list[str]:
    """Wrong indefinite articles ("a integration", "an GP", "a NHS trust") and repeated words ("the the").

    An initialism (NHS, GP, APMS) is judged by how its first letter is read, so "an NHS trust" and
    "a GP practice" pass; words like "unique" and "one" that start with a consonant sound take "a"."""
    errors = []
    for m in _ARTICLE.finditer(text):
        article, word = m.group(1).lower(), m.group(2)
        letters = word.split("-")[0].split("_")[0]
        if 2 <= len(letters) <= 5 and letters.isupper():  # longer capitals are codes read as words
            vowel_sound = letters[0] in _VOWEL_SOUND_LETTERS
        else:
            low = word.lower()
            vowel_sound = (low[0] in "aeiou" and not low.startswith(_A_BEFORE_VOWEL)) or low.startswith(_AN_BEFORE_H)
        if vowel_sound != (article == "an"):
            errors.append(m.group(0))
    errors += [m.group(0) for m in _REPEATED.finditer(text)]
    return errors


def test_grammar_guard_catches_what_it_should_and_not_more():
    assert grammar_errors("X has a integration agreement and a NHS trust.") == ["a integration", "a NHS"]
    assert grammar_errors("An GP practice, an unique id, the the end.") == ["An GP", "an unique", "the the"]
    assert grammar_errors("A unique identifier, an NHS trust, a GP practice, an APMS contract, a one-off, "
                          "an hour, a Subcontract partner, an SVC- identifier, a URL, an allowed value, "
                          "a HEALTHWATCH row.") == []


def test_catalogue_summaries_and_explanations_read_as_english():
    from isap.rules.registry import all_rules

    for r in all_rules():
        for part in (r.summary, r.explanation, r.points_at):
            assert grammar_errors(part) == [], (r.id, part)
        assert r.summary[:1].isupper() or "_" in r.summary.split()[0], (r.id, r.summary)
        assert r.summary.endswith(".") and r.explanation.endswith((".", ")")), r.id


def test_messages_read_as_english_whatever_type_they_name(run_check):
    """Messages that name a provider or partner type read right for every type, not only the sample's."""
    from isap.workbook.template import PARTNER_TYPES, PROVIDER_TYPES, STATUTORY_PROVIDER_TYPES

    seen = set()
    for ptype in sorted(set(PROVIDER_TYPES) - STATUTORY_PROVIDER_TYPES):
        p = clean(2, provider_type=ptype)
        p["Safeguards"]["guarantor_type"] = "None"
        p["Safeguards"]["no_other_business"] = "No"
        p["Safeguards"]["distributions_restricted"] = "No"
        fin(p, 2)["guarantee_gbp"] = 0
        findings = run_check(p).findings
        seen |= {f.rule_id for f in findings}
        for f in findings:
            assert grammar_errors(f.message) == [], f.message
    for ptype in PARTNER_TYPES:
        p = clean(2, model="Fully integrated")
        p["Partners"][0].update(partner_type=ptype, supports_proposal="No")
        for f in run_check(p).findings:
            seen.add(f.rule_id)
            assert grammar_errors(f.message) == [], f.message
    assert {"CAP007", "CAP008", "CAP009", "REL004", "REL002"} <= seen


def test_a_sheet_of_an_unknown_kind_is_named_once_as_not_a_worksheet(tmp_path):
    from isap.rules.engine import check_file
    from sample_submissions.proposals import write
    from tests.hostile import add_sheet

    data = write(clean(2), tmp_path / "clean.xlsx").read_bytes()
    path = tmp_path / "odd.xlsx"
    path.write_bytes(add_sheet(data, "Odd", "oddsheet", b"<oddsheet/>"))
    [f] = check_file(path).findings
    assert (f.rule_id, f.message) == ("WB006", "Sheet 'Odd' is not a worksheet and is ignored.")


@pytest.mark.parametrize("seconds, words", [(1, "1 second."), (0.5, "0.5 seconds."), (60, "60 seconds.")])
def test_the_time_limit_is_worded_in_seconds_singular_or_plural(seconds, words):
    from isap.workbook.safety import FileRefused, _Budget

    budget = _Budget(seconds)
    budget.deadline = float("-inf")  # already past
    with pytest.raises(FileRefused) as refused:
        budget.check()
    assert refused.value.findings[0].message.endswith(f"within the time limit of {words}")


# ---------------------------------------------------------------------- GOV004: where notifications go

@pytest.mark.parametrize("email, warned", [
    ("someone@nhs.net", False),
    ("a@trust.nhs.uk", False),
    ("A@Trust.NHS.UK", False),
    ("a@gmail.com", True),
    ("x@evil-nhs.net", True),  # ends with the letters of nhs.net, but is neither it nor a subdomain of it
    ("x@nhs.net.example.com", True),
])
def test_gov004_warns_of_a_contact_isap_does_not_mail(run_check, email, warned):
    report = run_check(_with_contact(email), select=("GOV004",))
    assert findings_of(report) == ([("GOV004", "Cover", "B22")] if warned else [])
    if warned:
        assert report.findings[0].message == (
            f"No notification will reach {email!r}: isap sends mail only to addresses at nhs.net and nhs.uk "
            "(policy mail_domains), subdomains included.")


@pytest.mark.parametrize("email, why", [
    ("group:victim@nhs.net", "invalid characters before the @-sign: ':'"),
    ("icp.lead\x7f@nhs.net", "U+007F"),
    ("icp.lead@nhs.net.", "cannot end with a period"),
    ("icp.lead%evil.example@nhs.net", "'%' before the @-sign, which some mail servers read as a route"),
])
def test_gov004_warns_of_a_contact_that_is_no_plain_address(run_check, email, why):
    """The template's format (SCH005) is loose by the contract; an address it lets through that is not one
    isap would send to is still sent nothing, and GOV004 says why."""
    report = run_check(_with_contact(email), select=("GOV004", "SCH005"))
    assert findings_of(report) == [("GOV004", "Cover", "B22")]
    message = report.findings[0].message
    assert message.startswith(f"No notification will reach {email!r}: it is not a plain e-mail address (")
    assert why in message


def _with_contact(email):
    p = clean(2)
    p["Cover"]["contact_email"] = email
    return p


@pytest.mark.parametrize("email", [None, "icp programme team", "@"])
def test_gov004_leaves_an_empty_or_malformed_contact_to_the_schema_rules(run_check, email):
    assert [f.rule_id for f in run_check(_with_contact(email)).findings if f.rule_id.startswith("GOV")] == []


def test_gov004_follows_policy_mail_domains(run_check):
    from isap.policy import Policy

    policy = Policy(mail_domains=["example.org"])
    assert findings_of(run_check(_with_contact("team@example.org"), policy=policy, select=("GOV004",))) == []
    assert findings_of(run_check(_with_contact("team@dept.example.org"), policy=policy, select=("GOV004",))) == []
    [f] = run_check(_with_contact("someone@nhs.net"), policy=policy, select=("GOV004",)).findings
    assert f.message.endswith("isap sends mail only to addresses at example.org (policy mail_domains), "
                              "subdomains included.")


@pytest.mark.parametrize("domains", [["NHS.net"], ["nhs..net"], [""], ["nhs.net "], ["-nhs.net"], "nhs.net"])
def test_policy_mail_domains_are_lower_case_domain_names(domains):
    from isap.policy import Policy

    with pytest.raises(ValueError, match="mail_domains"):
        Policy(mail_domains=domains)


def test_policy_mail_domains_from_a_policy_file(tmp_path, monkeypatch):
    from isap.composition import load_policy

    monkeypatch.delenv("ISAP_POLICY", raising=False)
    (tmp_path / "isap-policy.toml").write_text('[policy]\nmail_domains = ["example.org", "nhs.net"]\n')
    policy = load_policy(cwd=tmp_path)
    assert policy.mail_domains == ("example.org", "nhs.net")
    assert policy.values()["mail_domains"] == ["example.org", "nhs.net"]


def test_the_policy_is_found_in_one_place_only():
    """The composition root finds the policy file; the policy object has no lookup of its own to differ from it."""
    from isap.policy import Policy

    assert not hasattr(Policy, "load")


# ---------------------------------------------------------------------- one way to make a finding


def _positional_finding_calls(root: Path) -> list[str]:
    """`.finding(` calls that place a finding by position: a rule's own `finding` takes only keywords,
    and the model's helpers (`row.finding`, `wb.cover.finding`, `wb.partners.finding`) take the rule
    and then only keywords, so a swapped column and cell can never pass unseen."""
    import ast

    out = []
    for path in sorted(root.rglob("*.py")):
        if ".venv" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "finding"):
                continue
            receiver = node.func.value
            of_a_rule = (isinstance(receiver, ast.Name) and receiver.id == "rule") or \
                        (isinstance(receiver, ast.Attribute) and receiver.attr == "rule")
            allowed = 0 if of_a_rule else 1
            starred = any(isinstance(a, ast.Starred) for a in node.args) or \
                any(k.arg is None for k in node.keywords)
            if len(node.args) > allowed or starred:
                out.append(f"{path.relative_to(root.parent)}:{node.lineno}")
    return out


def test_no_finding_is_placed_by_position():
    root = Path(__file__).resolve().parents[1]
    calls = [c for d in ("checks", "isap", "tests") for c in _positional_finding_calls(root / d)]
    assert calls == []


def test_the_positional_check_can_fail(tmp_path):
    (tmp_path / "checks").mkdir()
    (tmp_path / "checks" / "x.py").write_text(
        'rule.finding(sheet="Cover", message="m")\n'
        'row.finding(rule, column="c", message="m")\n'
        'cap001.rule.finding("Finance", None, None, None, "m")\n'
        'row.finding(rule, "c", "m")\n'
        'rule.finding(**where, message="m")\n')
    assert _positional_finding_calls(tmp_path / "checks") == ["checks/x.py:3", "checks/x.py:4", "checks/x.py:5"]


def test_a_rule_refuses_a_finding_placed_by_position():
    from isap.rules.registry import installed

    rule = installed()["GOV001"]
    finding = rule.finding  # called by name, so the check above does not count it
    with pytest.raises(TypeError):
        finding("Cover", 3, "commissioner_board_approval_date", "B3", "x")


def test_the_model_places_a_finding_at_its_row_field_or_sheet():
    """A row knows its sheet, Excel row and the cell of each column; a key/value sheet knows each
    field's row and B cell; a table places a finding on the sheet as a whole."""
    from isap.rules.registry import installed
    from isap.workbook.model import KeyValueSheet, Table
    from isap.workbook.template import COVER, PARTNERS

    rule = installed()["REL002"]
    partners = Table(PARTNERS, True, {"supports_proposal": (True, False)}, {"supports_proposal": "H"}, (2, 5))
    f = partners.row(1).finding(rule, column="supports_proposal", message="m")
    assert (f.rule_id, f.sheet, f.row, f.column, f.cell, f.message) == \
        ("REL002", "Partners", 5, "supports_proposal", "H5", "m")
    assert f == rule.finding(sheet="Partners", row=5, column="supports_proposal", cell="H5", message="m")
    f = partners.finding(rule, message="m")
    assert (f.sheet, f.row, f.column, f.cell) == ("Partners", None, None, None)
    cover = KeyValueSheet(COVER, True, {"integration_model": "Full"}, {"integration_model": 7})
    f = cover.finding(rule, field="integration_model", message="m")
    assert (f.sheet, f.row, f.column, f.cell) == ("Cover", 7, "integration_model", "B7")
    f = cover.finding(rule, field="population_registered", message="m")  # an absent field: no row, no cell
    assert (f.sheet, f.row, f.column, f.cell) == ("Cover", None, "population_registered", None)
    finding = partners.row(0).finding
    with pytest.raises(TypeError):
        finding(rule, "supports_proposal", "m")

"""The one runner of the rule cases in sample_submissions/rule_cases/, and the rules it holds them to.

Every case is built with `sample_submissions.proposals.write` and checked in-process with
`isap.rules.engine.check_file`.  A case asserts the WHOLE findings list — every (rule, sheet, row,
column, cell), in the report's order — not only its own rule's findings: a case that raised its
rule plus a stray finding of another rule, or lost a finding to a cascade, fails.  Messages are not
compared (they are worded elsewhere and may change).

The meta-tests keep the cases honest: every registered rule has a case file, a failing case and a
real passing case (one that edits its base); case names agree with what they expect; cases name
only registered rules; and every finding a case or a sample produces carries its registered rule's
severity, domain and source.
"""

from __future__ import annotations

import copy

import pytest
from openpyxl import load_workbook

from isap.rules.engine import check_file
from isap.rules.registry import all_rules
from isap.workbook.template import SHEETS_BY_NAME, SheetKind
from sample_submissions.cases import (
    CaseError,
    all_cases,
    case_files,
    column_letter,
    load_file,
    written_columns,
    written_fields,
)
from sample_submissions.generate import samples
from sample_submissions.proposals import BASES, Layout

CASES = all_cases()
RULES = {r.id: r for r in all_rules()}


def _param(case):
    marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
    return pytest.param(case, id=case.id, marks=marks)


@pytest.fixture(scope="session")
def checked(tmp_path_factory):
    """Check each case's workbook once per session, whichever tests ask for it: id → (path, CheckReport)."""
    out = tmp_path_factory.mktemp("rule-cases")
    cache: dict[str, tuple] = {}

    def run(case):
        if case.id not in cache:
            path = case.write(out / f"{case.id}.xlsx")
            cache[case.id] = (path, check_file(path, case.policy_object(), case.checkpoint))
        return cache[case.id]

    return run


def got(report) -> list[tuple]:
    return [(f.rule_id, f.sheet, f.row, f.column, f.cell) for f in report.findings]


# ---------------------------------------------------------------------- the runner


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_case_reports_exactly_its_expected_findings(checked, case):
    _, report = checked(case)
    assert got(report) == case.expected()


POINTED = [c for c in CASES if any({"where", "field", "header"} & set(e) for e in c.expect)]


@pytest.mark.parametrize("case", POINTED, ids=lambda c: c.id)
def test_expected_cells_point_at_what_the_case_names(checked, case):
    """The runner's A1 resolution agrees with the written file: the cell's header (table) or its
    column A (key/value) is the column or field the case names."""
    path, _ = checked(case)
    wb = load_workbook(path)
    renamed = case.layout.get("rename_sheets", {})
    for rule, sheet, row, column, cell in case.expected():
        if cell is None or sheet not in SHEETS_BY_NAME:
            continue
        ws = wb[renamed.get(sheet, sheet)]
        letters = cell.rstrip("0123456789")
        if SHEETS_BY_NAME[sheet].kind is SheetKind.KEY_VALUE:
            assert letters == "B" and ws[f"A{row}"].value == column, (rule, cell)
        else:
            headers = dict(written_columns(sheet, case.layout))
            assert ws[f"{letters}1"].value == headers.get(column, column), (rule, cell)


# ---------------------------------------------------------------------- coverage


def test_every_registered_rule_has_a_case_file_and_every_file_a_registered_rule():
    assert {p.stem for p in case_files()} == set(RULES)


@pytest.mark.parametrize("rule_id", sorted(RULES))
def test_rule_has_a_failing_and_a_real_passing_case(rule_id):
    cases = [c for c in CASES if c.rule == rule_id and not c.xfail]
    assert any(c.failing for c in cases), f"{rule_id} has no failing case"
    assert any(not c.failing for c in cases), f"{rule_id} has no passing case"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_case_name_says_what_it_expects(case):
    own = [e for e in case.expect if e["rule"] == case.rule]
    if case.failing:
        assert own, f"{case.id} is named fail_ but expects no {case.rule} finding"
    else:
        assert not own, f"{case.id} is named pass_ but expects a {case.rule} finding"


def changes_its_base(case) -> bool:
    return (case.proposal() != case.base_proposal() or case.layout_object() not in (None, Layout())
            or bool(case.package))


@pytest.mark.parametrize("case", [c for c in CASES if not c.failing], ids=lambda c: c.id)
def test_passing_case_edits_its_base(case):
    """A passing case on the unchanged clean sample proves nothing about the rule's line."""
    assert changes_its_base(case), f"{case.id} does not change its base"


def test_an_edit_that_restates_the_base_is_no_change(tmp_path):
    [same, moved] = load_file(_case_file(tmp_path, "CAP002", {
        "pass_same": {"base": "clean_cp2", "edits": [
            {"sheet": "Finance", "where": {"contract_year": 6}, "set": {"minimum_assets_gbp": 10_000_000}}]},
        "pass_moved": {"base": "clean_cp2", "layout": {"headers": {"Finance": {"net_assets_gbp": "Net assets"}}}},
    }))
    assert not changes_its_base(same) and changes_its_base(moved)


def test_cases_name_only_registered_rules():
    named = {e["rule"] for c in CASES for e in c.expect} | {c.rule for c in CASES}
    assert named - set(RULES) == set()


@pytest.mark.parametrize("name", list(BASES))
def test_base_is_clean(tmp_path, name):
    from sample_submissions.proposals import write

    report = check_file(write(BASES[name](), tmp_path / f"{name}.xlsx"))
    assert got(report) == []


# ---------------------------------------------------------------------- findings come from the registry


def _disagreements(findings, *fields: str) -> list[str]:
    """Findings whose fields differ from what their registered rule builds at that place."""
    out = []
    for f in findings:
        rule = RULES[f.rule_id]
        built = rule.finding(sheet=f.sheet, row=f.row, column=f.column, cell=f.cell, message=f.message)
        mine, registered = [getattr(f, k) for k in fields], [getattr(built, k) for k in fields]
        if mine != registered:
            out.append(f"{f.rule_id} at {f.sheet}!{f.cell}: {mine} but registered {registered}")
    return out


@pytest.fixture(scope="module")
def every_finding(checked, samples_dir):
    """Every finding of every case and every published sample (WB and SCH included)."""
    findings = [f for c in CASES for f in checked(c)[1].findings]
    findings += [f for s in samples() for f in check_file(samples_dir / f"{s.name}.xlsx").findings]
    assert {f.rule_id for f in findings} == set(RULES)  # every rule is represented
    return findings


def test_every_finding_carries_its_registered_severity_domain_and_source(every_finding):
    assert _disagreements(every_finding, "severity", "domain", "source") == []


def test_reader_findings_cite_the_template_section_of_their_sheet(every_finding):
    """docs/workbook.md §4: a WB/SCH finding's source names the template section of its sheet."""
    from isap.workbook.template import SECTION_FILE, SHEETS_BY_NAME

    reader = [f for f in every_finding if f.rule_id.startswith(("WB", "SCH"))]
    assert {f.source for f in reader if f.sheet is None} == {SECTION_FILE}
    for f in reader:
        if f.sheet in SHEETS_BY_NAME:
            assert f.source == f"ISAP-WB 1.0 §{SHEETS_BY_NAME[f.sheet].section}", f


def test_every_finding_cites_a_known_document(every_finding):
    """People see a source by title (isap.rules.sources): no finding may cite a document it cannot name."""
    from isap.rules.sources import unknown_documents

    assert sorted({(f.rule_id, f.source) for f in every_finding if unknown_documents(f.source)}) == []


def test_every_message_reads_as_english(every_finding):
    """No wrong article ("has a integration agreement"), no repeated word, and each message is a sentence."""
    from tests.test_rules import grammar_errors

    bad = sorted({(f.rule_id, f.message) for f in every_finding
                  if grammar_errors(f.message) or not f.message.endswith(".")})
    assert bad == []


def test_a_finding_a_rule_did_not_build_is_caught():
    """The check above can fail: a finding with another rule's severity or source disagrees."""
    import dataclasses

    f = RULES["GOV001"].finding(sheet="Cover", row=3, column="commissioner_board_approval_date", cell="B3",
                                message="x")
    assert _disagreements([f], "severity", "domain", "source") == []
    assert _disagreements([dataclasses.replace(f, source="ISAP-WB 1.0 §1")], "source")
    assert _disagreements([dataclasses.replace(f, rule_id="WB006")], "severity", "domain")


# ---------------------------------------------------------------------- the case format refuses nonsense


def _case_file(tmp_path, rule, body: dict):
    import yaml

    p = tmp_path / f"{rule}.yml"
    p.write_text(yaml.safe_dump({"rule": rule, **body}, sort_keys=False), encoding="utf-8")
    return p


@pytest.mark.parametrize("body,message", [
    ({"fail_x": {"base": "clean_cp9"}}, "unknown base"),
    ({"oops": {"base": "clean_cp2"}}, "fail_… or pass_…"),
    ({"fail_x": {"base": "clean_cp2", "edit": []}}, "unknown keys"),
    ({"fail_x": {"base": "clean_cp2", "edits": [{"sheet": "Finanse", "set": {"x": 1}}]}}, "not a template sheet"),
])
def test_loader_refuses_a_malformed_case(tmp_path, body, message):
    with pytest.raises(CaseError, match=message):
        load_file(_case_file(tmp_path, "CAP002", body))


@pytest.mark.parametrize("edit,message", [
    ({"sheet": "Finance", "where": {"contract_year": 99}, "set": {"net_assets_gbp": 1}}, "no Finance row"),
    ({"sheet": "Finance", "where": {"contract_year": 6}, "set": {"net_assets": 1}}, "no column net_assets"),
    ({"sheet": "Cover", "set": {"checkpoint_number": 1}}, "no field checkpoint_number"),
])
def test_an_edit_that_matches_nothing_is_an_error_not_a_vacuous_case(tmp_path, edit, message):
    [case] = load_file(_case_file(tmp_path, "CAP002", {"pass_x": {"base": "clean_cp2", "edits": [edit]}}))
    with pytest.raises(CaseError, match=message):
        case.proposal()


def test_an_expected_row_key_must_name_one_row(tmp_path):
    [case] = load_file(_case_file(tmp_path, "CAP002", {"fail_x": {
        "base": "clean_cp2", "expect": [{"rule": "CAP002", "sheet": "Partners", "column": "partner_id",
                                         "where": {"partner_type": "GP practice"}}]}}))
    with pytest.raises(CaseError, match="names one row"):
        case.expected()


def test_cells_follow_the_layout():
    """Dropping a column moves every later column's cells left; an extra column goes after the template's."""
    [case] = [c for c in CASES if c.id == "CAP002-fail_net_assets_below_minimum"]
    assert case.expected()[0][4] == "D7"
    moved = copy.copy(case)
    moved.layout = {"drop_columns": {"Finance": ["planned_income_gbp"]}}
    assert moved.expected()[0][4] == "C7"
    assert column_letter(0) == "A" and column_letter(25) == "Z" and column_letter(26) == "AA"
    cover = written_fields(case.proposal(), "Cover", {"kv_extra_rows": {"Cover": [["contact_email", "x@y.z"]]}})
    assert cover[0] == "template_version" and cover[-1] == "contact_email" and len(cover) == 22


"""Findings a commissioner can act on, and outputs automation can trust.

A schema finding names the field by the label the template shows and says what to enter, with the
sheet and cell (docs/workbook.md §3, "Schema findings say what to enter"); the text report, the JSON
report and the annotated copy carry the same words.  A JUnit report counts as failures exactly the findings that
make the exit status non-zero, and the JSON report names each source by title as well as by file.
"""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET

import openpyxl
import pytest

from isap.workbook.template import SHEETS
from sample_submissions.proposals import clean, write
from tests.in_process import isap


def _cli(*args) -> subprocess.CompletedProcess:
    return isap(*args)


def _one(report, rule_id: str, column: str):
    [f] = [f for f in report.findings if f.rule_id == rule_id and f.column == column]
    return f


def test_every_template_column_has_a_label_the_template_shows(template_path):
    wb = openpyxl.load_workbook(template_path)
    for spec in SHEETS:
        ws = wb[spec.name]
        titles = {dv.promptTitle for dv in ws.data_validations.dataValidation}
        for i, col in enumerate(spec.columns):
            assert col.label and "_" not in col.label and len(col.label) <= 32, (spec.name, col.name)
            cell = ws.cell(1, i + 1) if spec.kind.value == "table" else ws.cell(i + 2, 1)
            # the note on the header (or field name) opens with the label
            assert cell.comment.text.splitlines()[0] == col.label[0].upper() + col.label[1:], (spec.name, col.name)
            if col.choices or col.type.value == "yes/no":
                assert col.label[0].upper() + col.label[1:] in titles, (spec.name, col.name)


def test_a_missing_value_says_what_to_enter_and_where(run_check):
    p = clean(1)
    p["Cover"]["contact_email"] = None
    f = _one(run_check(p), "SCH001", "contact_email")
    assert f.message == "Enter the contact e-mail address (Cover, B22)."


def test_a_conditional_requirement_gives_its_reason_in_words(run_check):
    p = clean(2)
    p["Services"][0].update(delivery="Subcontracted", subcontractor_id=None)
    f = _one(run_check(p), "SCH001", "subcontractor_id")
    assert f.message == (f"Enter the subcontractor's identifier (Services, {f.cell}): it is needed "
                         "because the delivery is Subcontracted.")
    p = clean(2)
    p["Cover"]["provider_name"] = None
    f = _one(run_check(p), "SCH001", "provider_name")
    assert f.message == ("Enter the provider's name (Cover, B8): it is needed from checkpoint 2, and this "
                         "workbook is for checkpoint 2.")


def test_an_amount_out_of_range_says_what_to_enter(run_check):
    p = clean(1)
    p["Cover"]["annual_contract_value_gbp"] = -133_000_000
    f = _one(run_check(p), "SCH004", "annual_contract_value_gbp")
    assert f.message == ("Enter the annual contract value as an amount of more than £0 (Cover, B17): "
                         "-£133,000,000 is out of range.")


def test_a_date_that_is_not_a_date_names_its_field(run_check):
    p = clean(1)
    p["Cover"]["contract_start_date"] = "1st April 2027"
    f = _one(run_check(p), "SCH002", "contract_start_date")
    assert f.message == ("Enter the contract start date as a date cell or as text such as 2027-04-01 "
                         "(Cover, B12): '1st April 2027' is not a date.")


def test_other_schema_findings_name_the_label_and_the_cell(run_check):
    p = clean(2)
    p["Cover"]["provider_type"] = "NHS Trusts"
    p["Cover"]["lead_commissioner_code"] = "05C!"
    p["Partners"][0]["registered_list_size"] = "11,200"
    p["Services"][1]["service_id"] = p["Services"][0]["service_id"]
    p["Safeguards"]["no_other_business"] = "maybe"
    report = run_check(p)
    messages = {(f.rule_id, f.column): f.message for f in report.findings if f.rule_id.startswith("SCH")}
    assert messages[("SCH003", "provider_type")].startswith(
        "Choose the provider type from the drop-down list (Cover, B10): 'NHS Trusts' is not one of NHS foundation "
        "trust, NHS trust,")
    assert messages[("SCH005", "lead_commissioner_code")] == (
        "Enter the lead commissioner's ODS code in the form 3 to 6 letters or digits, e.g. 05C (Cover, B7): "
        "'05C!' is not in that form.")
    assert messages[("SCH002", "registered_list_size")].startswith("Enter the registered list size as a whole number")
    assert messages[("SCH006", "service_id")] == (
        "Give this row its own service identifier (Services, A3): 'SVC-001' is already used on row 2.")
    assert messages[("SCH002", "no_other_business")] == (
        "Enter Yes or No for no other business (Safeguards, B4): 'maybe' is neither.")
    for message in messages.values():
        assert "_" not in message.split("(")[0], message  # no column name before the place


def test_text_report_json_and_annotated_copy_use_the_same_words(tmp_path):
    p = clean(1)
    p["Cover"]["contact_email"] = None
    path = write(p, tmp_path / "p.xlsx")
    words = "Enter the contact e-mail address (Cover, B22)."
    assert words in _cli("check", str(path)).stdout
    out = json.loads(_cli("check", str(path), "--format", "json").stdout)
    assert words in [f["message"] for f in out["findings"]]
    annotated = tmp_path / "annotated.xlsx"
    _cli("check", str(path), "--annotate", str(annotated))
    assert words in openpyxl.load_workbook(annotated)["Cover"]["B22"].comment.text


# ------------------------------------------------------------------------- JUnit and the exit status

@pytest.mark.parametrize("fail_on,failures", [("warning", 1), ("error", 0)])
def test_junit_fails_exactly_what_makes_the_exit_status_non_zero(tmp_path, fail_on, failures):
    p = clean(1)  # the example proposal without its voluntary sector partner: one REL011 warning
    p["Partners"] = [x for x in p["Partners"] if x["partner_type"] != "Voluntary sector"]
    path = write(p, tmp_path / "w.xlsx")
    done = _cli("check", str(path), "--format", "junit", "--fail-on", fail_on)
    root = ET.fromstring(done.stdout)
    assert done.returncode == (1 if failures else 0)
    assert root.get("failures") == str(failures)
    failed = [c.get("name").split()[0] for c in root.iter("testcase") if c.find("failure") is not None]
    assert failed == (["REL011"] if failures else [])
    if failures:
        assert root.find("testsuite").get("failures") == "1"
        assert root.find(".//failure").get("type") == "warning"


# ------------------------------------------------------------------------------- JSON sources

def test_json_names_the_source_by_title_and_paragraph_and_keeps_the_file_name(tmp_path):
    p = clean(2)
    p["Finance"][5].update(net_assets_gbp=1_200_000, minimum_assets_gbp=2_000_000)
    p["Cover"]["contact_email"] = None
    path = write(p, tmp_path / "w.xlsx")
    out = json.loads(_cli("check", str(path), "--format", "json").stdout)
    by_rule = {f["rule_id"]: f for f in out["findings"]}
    cap = by_rule["CAP002"]
    assert cap["source"] == "002_beafc3e198b0dad1.txt §34"
    assert cap["source_title"] == ("Contracting arrangements for integrated care providers — response to "
                                   "consultation (NHS England, 2019)")
    assert cap["source_paragraph"] == "§34"
    sch = by_rule["SCH001"]
    assert (sch["source"], sch["source_title"], sch["source_paragraph"]) == (
        "ISAP-WB 1.0 §2.1", "ICP proposal workbook template (ISAP-WB 1.0)", "§2.1")

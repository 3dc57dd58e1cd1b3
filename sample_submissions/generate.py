"""Generate the example ICP proposal workbooks in this folder.

    python -m sample_submissions.generate [OUT_DIR]

Clean proposals at each checkpoint (both integration models, statutory and
non-statutory providers) and invalid ones, each built to show particular
findings.  `expected.json` lists, for every sample, the exact findings
(rule, sheet, cell) `isap check` must report; the tests hold the checker to
it.  The builders are also used by the tests to make workbooks of their own.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from openpyxl import Workbook

from isap.template import SHEETS, SheetKind

HERE = Path(__file__).resolve().parent
D = dt.date

Proposal = dict[str, Any]


def gp(pid: str, code: str, name: str, size: int, relationship: str, status: str, contract: str = "GMS",
       participation: str | None = None, notified: dt.date | None = None) -> dict:
    return {
        "partner_id": pid, "partner_name": name, "partner_code": code, "partner_type": "GP practice",
        "relationship": relationship, "agreement_status": status, "gp_contract_type": contract,
        "registered_list_size": size, "supports_proposal": "Yes", "gp_participation": participation,
        "commissioner_approved": None, "direct_agreement": None, "patient_notification_date": notified,
    }


def partner(pid: str, code: str, name: str, ptype: str, relationship: str, status: str = "Signed", **kw) -> dict:
    row = {
        "partner_id": pid, "partner_name": name, "partner_code": code, "partner_type": ptype,
        "relationship": relationship, "agreement_status": status, "gp_contract_type": None,
        "registered_list_size": None, "supports_proposal": None, "gp_participation": None,
        "commissioner_approved": None, "direct_agreement": None, "patient_notification_date": None,
    }
    row.update(kw)
    return row


def service(sid: str, name: str, category: str, value: float, start: int = 1, funding: str = "NHS",
            commissioner: str = "QUA", delivery: str = "Direct", sub: str | None = None) -> dict:
    return {
        "service_id": sid, "service_name": name, "category": category, "commissioner_code": commissioner,
        "funding_source": funding, "annual_value_gbp": value, "start_year": start,
        "anticipated_extension": "Yes" if start > 1 else "No", "delivery": delivery, "subcontractor_id": sub,
    }


def clean(checkpoint: int = 2, model: str = "Partially integrated", provider_type: str = "NHS trust",
          reference: str = "ISAP-2026-014", term: int = 10) -> Proposal:
    """A proposal that meets every rule at `checkpoint`."""
    fully = model == "Fully integrated"
    statutory = provider_type in ("NHS foundation trust", "NHS trust", "Local authority")
    status = {1: "In negotiation", 2: "Heads of terms agreed", 3: "Signed"}[checkpoint]
    rel = "Suspended contract" if fully else "Integration agreement"
    start = D(2027, 4, 1)
    gps = [
        gp("P-001", "M87001", "Bean Road Medical Practice", 11_200, rel, status, "GMS",
           "Employed" if fully else None, D(2027, 1, 10) if fully else None),
        gp("P-002", "M87002", "Netherton Health Centre", 9_800, rel, status, "PMS",
           "Subcontractor" if fully else None, D(2027, 1, 10) if fully else None),
        gp("P-003", "M87003", "Kingswinford Surgery", 14_500, "Integration agreement", status, "GMS"),
        gp("P-004", "M87004", "Stourbridge Family Practice", 12_500, "Integration agreement", status, "APMS"),
    ]
    services = [
        service("SVC-001", "Community nursing and therapies", "Community health", 60_000_000),
        service("SVC-002", "Adult community mental health", "Mental health", 45_000_000),
        service("SVC-003", "Urgent treatment centre", "Urgent care", 20_000_000, delivery="Subcontracted",
                sub="P-010"),
        service("SVC-004", "Public health nursing 0-19", "Public health", 8_000_000, funding="Local authority",
                commissioner="LA027"),
        service("SVC-005", "Frailty and intermediate care expansion", "Community health", 5_000_000, start=3),
    ]
    if fully:
        services.append(service("SVC-006", "Primary medical services", "Primary medical services", 40_000_000))
    acv = float(sum(s["annual_value_gbp"] for s in services if s["start_year"] == 1))
    population = sum(p["registered_list_size"] for p in gps if p["relationship"] in
                     ("Integration agreement", "Suspended contract"))
    finance = []
    for year in range(1, term + 1):
        finance.append({
            "contract_year": year, "planned_income_gbp": acv, "planned_expenditure_gbp": acv - 1_000_000,
            "net_assets_gbp": 14_000_000 + year * 250_000, "minimum_assets_gbp": 10_000_000,
            "working_capital_gbp": 15_000_000, "contingency_reserve_gbp": 2_500_000,
            "guarantee_gbp": 0 if statutory else 5_000_000,
            "startup_costs_gbp": 1_750_000 if year == 1 else 0,
        })
    cover = {
        "template_version": "1.0",
        "proposal_reference": reference,
        "proposal_title": "Dudley integrated care provider for community, mental health and primary care",
        "checkpoint": checkpoint,
        "lead_commissioner_name": "NHS Black Country Integrated Care Board",
        "lead_commissioner_code": "QUA",
        "provider_name": "Dudley Integrated Health and Care",
        "provider_code": "RYK",
        "provider_type": provider_type,
        "integration_model": model,
        "contract_start_date": start,
        "contract_term_years": term,
        "extension_years": 0,
        "population_registered": population,
        "population_resident": 321_000,
        "annual_contract_value_gbp": acv,
        "wpap_annual_value_gbp": round(acv * 0.8),
        "commissioner_board_approval_date": D(2026, 9, 15),
        "provider_board_approval_date": D(2026, 10, 1),
        "submission_date": D(2026, 11, 2),
        "contact_email": "icp.programme@nhs.net",
    }
    safeguards = ({"guarantor_type": "None", "guarantor_name": None} if statutory else
                  {"guarantor_type": "Parent organisation", "guarantor_name": "Black Country Health Partnership"})
    safeguards.update({"no_other_business": "Yes", "distributions_restricted": "Yes"})
    freq = {"BOARD_MEETINGS_PUBLIC": "Per meeting", "PUBLISH_PERFORMANCE": "Quarterly", "PUBLISH_FINANCE": "Annually"}
    transparency = [
        {"commitment_code": code, "committed": "Yes", "frequency": freq.get(code, "Ongoing"),
         "evidence_reference": f"ICP contract schedule 7, clause {i + 1}"}
        for i, code in enumerate([
            "BOARD_MEETINGS_PUBLIC", "PUBLISH_PERFORMANCE", "PUBLISH_FINANCE", "HEALTHWATCH", "OPEN_BOOK", "FOI",
            "COMPLAINTS", "DUTY_OF_CANDOUR", "CONFLICTS_OF_INTEREST", "PUBLIC_INVOLVEMENT"])
    ]
    partners = gps + [
        partner("P-010", "NTV01", "Black Country Urgent Care Ltd", "Independent sector", "Subcontract",
                commissioner_approved="Yes", direct_agreement="Yes"),
        partner("P-020", "LA027", "Dudley Metropolitan Borough Council", "Local authority", "Section 75 agreement"),
        partner("P-030", "HW027", "Healthwatch Dudley", "Healthwatch", "Engagement only"),
        partner("P-040", "VS027", "Dudley Council for Voluntary Service", "Voluntary sector", "Alliance agreement"),
    ]
    engagement = [
        {"engagement_id": "E-001", "engagement_date": D(2026, 3, 12), "audience": "Patients and public",
         "method": "Public meeting", "participants": 140, "summary": "Case for change and proposed scope"},
        {"engagement_id": "E-002", "engagement_date": D(2026, 4, 20), "audience": "GP practices",
         "method": "LMC meeting", "participants": 38, "summary": "Integration agreement options"},
        {"engagement_id": "E-003", "engagement_date": D(2026, 6, 2), "audience": "Staff",
         "method": "Staff briefings", "participants": 410, "summary": "Transfer and employment questions"},
        {"engagement_id": "E-004", "engagement_date": D(2026, 7, 8), "audience": "Healthwatch",
         "method": "Survey", "participants": 1_250, "summary": "Access and continuity of care"},
    ]
    return {"Cover": cover, "Services": services, "Finance": finance, "Safeguards": safeguards,
            "Transparency": transparency, "Partners": partners, "Engagement": engagement}


@dataclass
class Layout:
    """How the workbook departs from the template's layout (for invalid samples)."""

    drop_sheets: tuple[str, ...] = ()
    drop_columns: dict[str, tuple[str, ...]] = field(default_factory=dict)
    rename_sheets: dict[str, str] = field(default_factory=dict)
    headers: dict[str, dict[str, str]] = field(default_factory=dict)  # sheet → template column → header text
    extra_sheets: dict[str, list[list]] = field(default_factory=dict)
    extra_columns: dict[str, dict[str, list]] = field(default_factory=dict)  # sheet → header → values
    kv_extra_rows: dict[str, list[tuple]] = field(default_factory=dict)  # sheet → (field, value) rows appended
    instructions: bool = True


def write(p: Proposal, path: str | Path, layout: Layout | None = None) -> Path:
    """Write a proposal as an ISAP-WB 1.0 workbook with openpyxl (dates as date cells)."""
    layout = layout or Layout()
    wb = Workbook()
    first = wb.active
    if layout.instructions:
        first.title = "Instructions"
        first["A1"] = "ICP proposal workbook — template ISAP-WB 1.0"
    else:
        wb.remove(first)
    for spec in SHEETS:
        if spec.name in layout.drop_sheets:
            continue
        ws = wb.create_sheet(layout.rename_sheets.get(spec.name, spec.name))
        dropped = set(layout.drop_columns.get(spec.name, ()))
        if spec.kind is SheetKind.KEY_VALUE:
            ws.append(["field", "value"])
            for name, value in p[spec.name].items():
                if name in dropped:
                    continue
                ws.append([name, value])
            for extra in layout.kv_extra_rows.get(spec.name, []):
                ws.append(list(extra))
            for c in ws["B"]:
                if isinstance(c.value, dt.date):
                    c.number_format = "yyyy-mm-dd"
            continue
        names = [c for c in spec.column_names if c not in dropped]
        header_text = layout.headers.get(spec.name, {})
        extra = layout.extra_columns.get(spec.name, {})
        ws.append([header_text.get(n, n) for n in names] + list(extra))
        for i, row in enumerate(p[spec.name]):
            ws.append([row.get(n) for n in names] + [vals[i] if i < len(vals) else None for vals in extra.values()])
        for row in ws.iter_rows(min_row=2):
            for c in row:
                if isinstance(c.value, dt.date):
                    c.number_format = "yyyy-mm-dd"
    for name, rows in layout.extra_sheets.items():
        ws = wb.create_sheet(name)
        for r in rows:
            ws.append(r)
    wb.save(path)
    return Path(path)


@dataclass
class Sample:
    name: str
    description: str
    build: Callable[[], Proposal]
    expected: list[tuple[str, str | None, str | None]]  # (rule_id, sheet, cell)
    layout: Layout | None = None
    checkpoint: int | None = None  # the checkpoint the sample is meant to be checked at (Cover's)


def _with(base: Callable[[], Proposal], change: Callable[[Proposal], None]) -> Callable[[], Proposal]:
    def build() -> Proposal:
        p = copy.deepcopy(base())
        change(p)
        return p
    return build


def _set(sheet: str, index: int | None, column: str, value) -> Callable[[Proposal], None]:
    def change(p: Proposal) -> None:
        if index is None:
            p[sheet][column] = value
        else:
            p[sheet][index][column] = value
    return change


def _all(*changes: Callable[[Proposal], None]) -> Callable[[Proposal], None]:
    def change(p: Proposal) -> None:
        for c in changes:
            c(p)
    return change


# ----------------------------------------------------------------------------- samples
# Cover rows: template_version B2, proposal_reference B3, … (field order of the template)
COVER_CELL = {name: f"B{i + 2}" for i, name in enumerate(SHEETS[0].column_names)}
CP2 = lambda: clean(2)  # noqa: E731

CLEAN: list[Sample] = [
    Sample("clean_cp1_partially_integrated_nhs_trust",
           "Strategic case, partially integrated, an NHS trust as prospective provider.",
           lambda: clean(1, "Partially integrated", "NHS trust", "ISAP-2026-011"), []),
    Sample("clean_cp2_fully_integrated_gp_federation",
           "Preferred bidder, fully integrated (suspended GMS/PMS contracts), a GP federation: every "
           "non-statutory safeguard in place.",
           lambda: clean(2, "Fully integrated", "GP federation", "ISAP-2026-012"), []),
    Sample("clean_cp2_partially_integrated_foundation_trust",
           "Preferred bidder, partially integrated, an NHS foundation trust (statutory: no guarantee needed).",
           lambda: clean(2, "Partially integrated", "NHS foundation trust", "ISAP-2026-013"), []),
    Sample("clean_cp3_fully_integrated_social_enterprise",
           "Mobilisation, fully integrated, a social enterprise: GP agreements signed.",
           lambda: clean(3, "Fully integrated", "Social enterprise", "ISAP-2026-014"), []),
]

INVALID: list[Sample] = [
    Sample("wb004_missing_sheet", "The Engagement sheet was deleted.", CP2,
           [("WB004", "Engagement", None)],
           Layout(drop_sheets=("Engagement",))),
    Sample("wb005_missing_column_and_repeated_field",
           "Services has no delivery column; Cover gives contact_email twice.", CP2,
           [("WB005", "Cover", "B23"), ("WB005", "Services", None)],
           Layout(drop_columns={"Services": ("delivery", "subcontractor_id")},
                  kv_extra_rows={"Cover": [("contact_email", "someone.else@nhs.net")]})),
    Sample("wb006_unknown_sheet_and_column", "A notes sheet and a notes column the template does not have.",
           CP2, [("WB006", "Services", "K1"), ("WB006", "Notes", None)],
           Layout(extra_sheets={"Notes": [["Draft notes"]]},
                  extra_columns={"Services": {"Notes": ["check value"]}})),
    Sample("wb007_unsupported_version", "template_version says 2.0.",
           _with(CP2, _set("Cover", None, "template_version", "2.0")),
           [("WB007", "Cover", COVER_CELL["template_version"])]),
    Sample("wb008_error_value", "A #REF! error in a service's annual value.",
           _with(CP2, _set("Services", 1, "annual_value_gbp", "#REF!")),
           [("WB008", "Services", "F3")]),
    Sample("wb009_formula_without_value", "Year 2 net assets are a formula Excel never calculated.",
           _with(CP2, _set("Finance", 1, "net_assets_gbp", "=D2*1.02")),
           [("WB009", "Finance", "D3")]),
    Sample("sch001_required_value_missing", "No provider name at checkpoint 2; a GP practice without a contract type.",
           _with(CP2, _all(_set("Cover", None, "provider_name", None), _set("Partners", 1, "gp_contract_type", None))),
           [("SCH001", "Cover", COVER_CELL["provider_name"]), ("SCH001", "Partners", "G3")]),
    Sample("sch002_wrong_type", "A start date typed as text in words; a list size with a comma.",
           _with(CP2, _all(_set("Cover", None, "contract_start_date", "1st April 2027"),
                           _set("Partners", 0, "registered_list_size", "11,200"))),
           [("SCH002", "Cover", COVER_CELL["contract_start_date"]), ("SCH002", "Partners", "H2")]),
    Sample("sch003_not_an_allowed_choice", "A service category that is not in the list.",
           _with(CP2, _set("Services", 0, "category", "Community services")),
           [("SCH003", "Services", "C2")]),
    Sample("sch004_out_of_range", "A negative working capital and checkpoint 4.",
           _with(CP2, _all(_set("Finance", 2, "working_capital_gbp", -15_000_000))),
           [("SCH004", "Finance", "F4")]),
    Sample("sch005_bad_format", "A malformed proposal reference and a GP practice code.",
           _with(CP2, _all(_set("Cover", None, "proposal_reference", "ISAP-26-14"),
                           _set("Partners", 2, "partner_code", "87003"))),
           [("SCH005", "Cover", COVER_CELL["proposal_reference"]), ("SCH005", "Partners", "C4")]),
    Sample("sch006_repeated_identifier", "Two services with the same identifier.",
           _with(CP2, _set("Services", 4, "service_id", "SVC-001")),
           [("SCH006", "Services", "A6")]),
]


NONSTAT = lambda: clean(2, provider_type="GP federation")  # noqa: E731
FULLY = lambda: clean(2, "Fully integrated", "GP federation")  # noqa: E731


def _drop(sheet: str, key: str, value) -> Callable[[Proposal], None]:
    def change(p: Proposal) -> None:
        p[sheet] = [r for r in p[sheet] if r[key] != value]
    return change


def _update(sheet: str, key: str, value, **fields) -> Callable[[Proposal], None]:
    def change(p: Proposal) -> None:
        for r in p[sheet]:
            if r[key] == value:
                r.update(fields)
    return change


def _add_pms_from_year2(p: Proposal) -> None:
    p["Services"].append(service("SVC-006", "GP extended access hubs", "Primary medical services", 3_000_000, start=2))


RULE_SAMPLES: list[Sample] = [
    # capitalisation
    Sample("cap001_missing_finance_year", "No financial plan for contract year 7.",
           _with(CP2, _drop("Finance", "contract_year", 7)), [("CAP001", "Finance", None)]),
    Sample("cap002_net_assets_below_minimum", "Year 6 net assets fall below the committed minimum.",
           _with(CP2, _update("Finance", "contract_year", 6, net_assets_gbp=9_000_000)), [("CAP002", "Finance", "D7")]),
    Sample("cap003_no_minimum_assets", "Year 2 commits no minimum level of assets.",
           _with(CP2, _update("Finance", "contract_year", 2, minimum_assets_gbp=0)), [("CAP003", "Finance", "E3")]),
    Sample("cap004_working_capital_short", "Year-1 working capital is less than a month of contract value.",
           _with(CP2, _update("Finance", "contract_year", 1, working_capital_gbp=10_000_000)),
           [("CAP004", "Finance", "F2")]),
    Sample("cap005_no_resilience", "A statutory provider with no contingency reserve in year 4.",
           _with(CP2, _update("Finance", "contract_year", 4, contingency_reserve_gbp=0)), [("CAP005", "Finance", "G5")]),
    Sample("cap006_deficit_not_covered", "A £3m deficit in year 3 against £2.5m of reserve.",
           _with(CP2, _update("Finance", "contract_year", 3, planned_expenditure_gbp=136_000_000)),
           [("CAP006", "Finance", "C4")]),
    Sample("cap007_no_guarantee_non_statutory", "A GP federation names no guarantor and has no guarantee in year 2.",
           _with(NONSTAT, _all(_set("Safeguards", None, "guarantor_type", "None"),
                               _set("Safeguards", None, "guarantor_name", None),
                               _update("Finance", "contract_year", 2, guarantee_gbp=0))),
           [("CAP007", "Finance", "H3"), ("CAP007", "Safeguards", "B2")]),
    Sample("cap008_other_business", "A GP federation may carry on other business.",
           _with(NONSTAT, _set("Safeguards", None, "no_other_business", "No")), [("CAP008", "Safeguards", "B4")]),
    Sample("cap009_distributions_unrestricted", "A GP federation may distribute funds freely.",
           _with(NONSTAT, _set("Safeguards", None, "distributions_restricted", "No")), [("CAP009", "Safeguards", "B5")]),
    Sample("cap010_wpap_not_majority", "The WPAP is exactly half the contract value.",
           _with(CP2, _set("Cover", None, "wpap_annual_value_gbp", 66_500_000)),
           [("CAP010", "Cover", COVER_CELL["wpap_annual_value_gbp"])]),
    Sample("cap011_no_startup_costs", "No start-up costs planned in year 1.",
           _with(CP2, _update("Finance", "contract_year", 1, startup_costs_gbp=0)), [("CAP011", "Finance", "I2")]),
    # transparency
    Sample("trn001_commitment_missing", "The FOI commitment is not listed.",
           _with(CP2, _drop("Transparency", "commitment_code", "FOI")), [("TRN001", "Transparency", None)]),
    Sample("trn002_commitment_not_made", "No commitment on complaints.",
           _with(CP2, _update("Transparency", "commitment_code", "COMPLAINTS", committed="No")),
           [("TRN002", "Transparency", "B8")]),
    Sample("trn003_no_publication_frequency", "Financial information published, but how often?",
           _with(CP2, _update("Transparency", "commitment_code", "PUBLISH_FINANCE", frequency=None)),
           [("TRN003", "Transparency", "C4")]),
    Sample("trn004_healthwatch_not_a_partner", "Healthwatch committed but Healthwatch is not a partner.",
           _with(CP2, _drop("Partners", "partner_id", "P-030")), [("TRN004", "Transparency", "B5")]),
    Sample("trn005_no_evidence", "Open book accounting committed with no evidence reference.",
           _with(CP2, _update("Transparency", "commitment_code", "OPEN_BOOK", evidence_reference=None)),
           [("TRN005", "Transparency", "D6")]),
    Sample("trn006_no_public_engagement", "Public involvement committed but the public were never engaged.",
           _with(CP2, _update("Engagement", "engagement_id", "E-001", audience="Staff")),
           [("TRN006", "Transparency", "B11")]),
    # service scope
    Sample("scp001_no_services", "The Services sheet has its headers and nothing else.",
           _with(CP2, lambda p: p.update(Services=[])), [("SCP001", "Services", None)]),
    Sample("scp002_term_over_ten_years", "A twelve-year term.", lambda: clean(2, term=12),
           [("SCP002", "Cover", COVER_CELL["contract_term_years"]), ("SCP003", "Cover", COVER_CELL["extension_years"])]),
    Sample("scp003_extension_beyond_ten_years", "Ten years plus a two-year extension.",
           _with(CP2, _set("Cover", None, "extension_years", 2)), [("SCP003", "Cover", COVER_CELL["extension_years"])]),
    Sample("scp004_primary_care_in_partial_model", "A partially integrated ICP with primary medical services.",
           _with(CP2, _add_pms_from_year2), [("SCP004", "Services", "C7")]),
    Sample("scp005_service_after_term", "A service due to start in year 11 of 10.",
           _with(CP2, _update("Services", "service_id", "SVC-005", start_year=11)), [("SCP005", "Services", "G6")]),
    Sample("scp006_extension_flag_wrong", "A year-1 service marked as an anticipated extension.",
           _with(CP2, _update("Services", "service_id", "SVC-002", anticipated_extension="Yes")),
           [("SCP006", "Services", "H3")]),
    Sample("scp007_scope_does_not_add_up", "Year-1 services come to £1m more than the contract value.",
           _with(CP2, _update("Services", "service_id", "SVC-001", annual_value_gbp=61_000_000)),
           [("SCP007", "Cover", COVER_CELL["annual_contract_value_gbp"])]),
    Sample("scp008_public_health_nhs_funded", "Public health nursing funded by the NHS.",
           _with(CP2, _update("Services", "service_id", "SVC-004", funding_source="NHS")), [("SCP008", "Services", "E5")]),
    Sample("scp009_no_local_authority_partner", "Council-funded services but the council is not a partner.",
           _with(CP2, _drop("Partners", "partner_id", "P-020")), [("SCP009", "Services", "E5")]),
    Sample("scp010_population_mismatch", "Registered population far from the practices' list sizes.",
           _with(CP2, _set("Cover", None, "population_registered", 40_000)),
           [("SCP010", "Cover", COVER_CELL["population_registered"])]),
    # relationships
    Sample("rel001_no_gp_support", "No practice supports the proposal.",
           _with(CP2, _update("Partners", "partner_type", "GP practice", supports_proposal="No")),
           [("REL001", "Partners", None), ("REL002", "Partners", "I2"), ("REL002", "Partners", "I3"),
            ("REL002", "Partners", "I4"), ("REL002", "Partners", "I5")]),
    Sample("rel002_participating_practice_opposed", "A practice with an integration agreement opposes the proposal.",
           _with(CP2, _update("Partners", "partner_id", "P-003", supports_proposal="No")), [("REL002", "Partners", "I4")]),
    Sample("rel003_suspension_in_partial_model", "A practice suspends its contract in a partially integrated ICP.",
           _with(CP2, _update("Partners", "partner_id", "P-001", relationship="Suspended contract",
                              gp_participation="Employed", patient_notification_date=D(2027, 1, 10))),
           [("REL003", "Partners", "E2")]),
    Sample("rel004_apms_suspended", "An APMS contract cannot be suspended.",
           _with(FULLY, _update("Partners", "partner_id", "P-002", gp_contract_type="APMS")), [("REL004", "Partners", "G3")]),
    Sample("rel005_gp_participation_missing", "A suspending practice does not say how its GPs take part.",
           _with(FULLY, _update("Partners", "partner_id", "P-001", gp_participation=None)), [("REL005", "Partners", "J2")]),
    Sample("rel006_agreement_not_far_enough", "At checkpoint 2 a practice's agreement is still in negotiation.",
           _with(CP2, _update("Partners", "partner_id", "P-003", agreement_status="In negotiation")),
           [("REL006", "Partners", "F4")]),
    Sample("rel007_patients_told_too_late", "Patients are told on the day the contract starts.",
           _with(FULLY, _update("Partners", "partner_id", "P-002", patient_notification_date=D(2027, 4, 1))),
           [("REL007", "Partners", "M3")]),
    Sample("rel008_unknown_subcontractor", "A subcontracted service names a partner that is not listed.",
           _with(CP2, _update("Services", "service_id", "SVC-003", subcontractor_id="P-099")),
           [("REL008", "Services", "J4")]),
    Sample("rel009_subcontract_not_approved", "The commissioner has not approved the subcontract.",
           _with(CP2, _update("Partners", "partner_id", "P-010", commissioner_approved="No")),
           [("REL009", "Partners", "K6")]),
    Sample("rel010_material_subcontract_no_direct_agreement", "A £20m subcontract with no direct agreement.",
           _with(CP2, _update("Partners", "partner_id", "P-010", direct_agreement="No")), [("REL010", "Partners", "L6")]),
    Sample("rel011_no_voluntary_sector", "No voluntary sector partner.",
           _with(CP2, _drop("Partners", "partner_id", "P-040")), [("REL011", "Partners", None)]),
    Sample("rel012_no_gp_engagement", "The only GP engagement is after submission.",
           _with(CP2, _update("Engagement", "engagement_id", "E-002", engagement_date=D(2026, 12, 1))),
           [("REL012", "Engagement", None)]),
    # governance
    Sample("gov001_commissioner_board_after_submission", "The commissioner's board approved the day after.",
           _with(CP2, _set("Cover", None, "commissioner_board_approval_date", D(2026, 11, 3))),
           [("GOV001", "Cover", COVER_CELL["commissioner_board_approval_date"])]),
    Sample("gov002_provider_board_after_submission", "The provider's board approves after submission.",
           _with(CP2, _set("Cover", None, "provider_board_approval_date", D(2026, 11, 5))),
           [("GOV002", "Cover", COVER_CELL["provider_board_approval_date"])]),
    Sample("gov003_contract_starts_before_assurance", "The contract starts on the submission date.",
           _with(CP2, _set("Cover", None, "contract_start_date", D(2026, 11, 2))),
           [("GOV003", "Cover", COVER_CELL["contract_start_date"])]),
]

ALL: list[Sample] = CLEAN + INVALID + RULE_SAMPLES


def generate(out: Path = HERE) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    manifest = {}
    for s in ALL:
        path = write(s.build(), out / f"{s.name}.xlsx", s.layout)
        written.append(path)
        manifest[s.name] = {
            "description": s.description,
            "expected": [{"rule_id": r, "sheet": sh, "cell": c} for r, sh, c in s.expected],
        }
    (out / "expected.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE
    for p in generate(target):
        print(p)

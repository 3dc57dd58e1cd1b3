"""The example proposals every sample and rule case starts from, and the writer that makes workbooks of them.

`clean(...)` builds a proposal that meets every rule at its checkpoint; `write(...)` writes a
proposal (optionally laid out differently: sheets dropped or renamed, columns moved) as a workbook
the way a spreadsheet program would; `BASES` names the clean proposals the rule cases of
`rule_cases/` start from.  The tests use the same builders to make workbooks of their own.
"""


from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from openpyxl import Workbook

from isap.workbook.reproducible import save_reproducibly
from isap.workbook.template import SHEETS, SheetKind

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
    return save_reproducibly(wb, path)


# ----------------------------------------------------------------------------- bases
# The named clean proposals every rule case starts from (sample_submissions/rule_cases/*.yml).
# Each meets every rule at its own checkpoint; the first four are also published as samples.
BASES: dict[str, Callable[[], Proposal]] = {
    "clean_cp1_partially_integrated_nhs_trust":
        lambda: clean(1, "Partially integrated", "NHS trust", "ISAP-2026-011"),
    "clean_cp2_fully_integrated_gp_federation":
        lambda: clean(2, "Fully integrated", "GP federation", "ISAP-2026-012"),
    "clean_cp2_partially_integrated_foundation_trust":
        lambda: clean(2, "Partially integrated", "NHS foundation trust", "ISAP-2026-013"),
    "clean_cp3_fully_integrated_social_enterprise":
        lambda: clean(3, "Fully integrated", "Social enterprise", "ISAP-2026-014"),
    # checkpoint 2, partially integrated, an NHS trust (statutory): the base of most cases
    "clean_cp2": lambda: clean(2),
    # checkpoint 2, partially integrated, a GP federation (non-statutory: every safeguard applies)
    "clean_cp2_gp_federation": lambda: clean(2, provider_type="GP federation"),
    # checkpoint 2, fully integrated (suspended GMS/PMS contracts), a GP federation
    "clean_cp2_fully_integrated": lambda: clean(2, "Fully integrated", "GP federation"),
    # checkpoint 2, partially integrated, a local authority (statutory)
    "clean_cp2_local_authority": lambda: clean(2, provider_type="Local authority"),
}


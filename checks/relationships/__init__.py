"""Relationship rules (REL): general practice, subcontractors, partners, engagement.

GP participation is voluntary and proposals cannot proceed without general
practice's support (001 §4, §82); integration agreements and suspension
(001 §85–§88); patients told when their practice fully integrates (001 §40,
002 §106); commissioner approval of subcontracts and direct agreements
(002 §45); the voluntary sector (002 §74); engagement before proposals
(001 §24, §39).
"""

from __future__ import annotations

from typing import Iterable

from checks.common import engaged, ok, src
from isap.policy import Policy
from isap.rules.registry import ALL_CHECKPOINTS, FROM_CP2, assurance_rule
from isap.workbook.findings import Domain, Finding, Severity
from isap.workbook.model import FAILED, ParsedWorkbook, Row
from isap.workbook.template import AGREEMENT_STATUSES
from isap.workbook.values import clip, money

REL = Domain.RELATIONSHIPS
GP = "GP practice"
SUSPENDED = "Suspended contract"
PARTICIPATING = ("Integration agreement", SUSPENDED)
# how a message names a participating relationship, article included
HAS = {"Integration agreement": "has an integration agreement", SUSPENDED: "has a suspended contract"}
SUBCONTRACT = "Subcontract"


def _service(row: Row) -> str:
    return clip(str(row["service_id"] or "The service"))


def _name(row: Row) -> str:
    return clip(str(row["partner_name"] or row["partner_id"] or f"The partner on row {row.excel_row}"))


@assurance_rule("REL001", severity=Severity.ERROR, domain=REL, checkpoints=ALL_CHECKPOINTS,
          summary="No GP practice supports the proposal.", source=src("001 §4", "001 §82"),
          points_at="Partners sheet",
          explanation="Proposals cannot proceed without general practice's support: at least one GP practice "
                      "partner must answer Yes to supports_proposal. Skipped when a partner whose type or answer "
                      "failed its own check could be that practice.")
def rel001(wb: ParsedWorkbook, policy: Policy) -> Iterable[Finding]:
    p = wb.partners
    if not p.present:
        return
    for ptype, sup in zip(p.column("partner_type"), p.column("supports_proposal")):
        if ptype == GP and sup is True:
            return
        if (ptype is FAILED and sup in (True, FAILED, None)) or (ptype == GP and sup is FAILED):
            return
    yield wb.partners.finding(rel001.rule,
                              message="No GP practice supports the proposal: general practice's support is needed to "
                                      "proceed.")


@assurance_rule("REL002", severity=Severity.ERROR, domain=REL, checkpoints=ALL_CHECKPOINTS,
          summary="A participating GP practice does not support the proposal.", source=src("001 §4", "001 §82"),
          points_at="supports_proposal cell",
          explanation="A GP practice with an Integration agreement or Suspended contract must answer Yes to "
                      "supports_proposal: participation is voluntary.")
def rel002(wb: ParsedWorkbook, policy: Policy) -> Iterable[Finding]:
    for row in wb.partners.where("supports_proposal", False):
        if row["partner_type"] == GP and row["relationship"] in PARTICIPATING:
            yield row.finding(rel002.rule, column="supports_proposal",
                              message=f"{_name(row)} {HAS[row['relationship']]} but does not support the "
                                      "proposal.")


@assurance_rule(
    "REL003",
    severity=Severity.ERROR,
    domain=REL,
    checkpoints=ALL_CHECKPOINTS,
    summary="Suspended contracts disagree with the integration model.",
    source=src("001 §4", "001 §85", "001 §88"),
    points_at="the partner's relationship cell / Cover integration_model cell",
    explanation="Partially integrated: no partner may have relationship Suspended contract (one finding "
    "each). Fully integrated: at least one must (one finding at integration_model; skipped when "
    "a relationship failed its own check).",
)
def rel003(wb: ParsedWorkbook, policy: Policy) -> Iterable[Finding]:
    model = wb.cover["integration_model"]
    p = wb.partners
    if not ok(model) or not p.present:
        return
    rels = p.column("relationship")
    if model == "Fully integrated":
        if SUSPENDED not in rels and FAILED not in rels:
            yield wb.cover.finding(rel003.rule, field="integration_model",
                                   message="The proposal is fully integrated but no practice suspends its GMS/PMS "
                                           "contract (no partner has relationship Suspended contract).")
    else:
        for row in p.where("relationship", SUSPENDED):
            yield row.finding(rel003.rule, column="relationship",
                              message=f"{_name(row)} suspends its contract, but the proposal is partially "
                                      "integrated.")


@assurance_rule("REL004", severity=Severity.ERROR, domain=REL, checkpoints=ALL_CHECKPOINTS,
          summary="A suspended contract is not a GP practice's GMS or PMS contract.", source=src("001 §85", "001 §88"),
          points_at="partner_type or gp_contract_type cell",
          explanation="Only GMS and PMS contracts of GP practices can be suspended. Points at partner_type when "
                      "the partner is not a GP practice, otherwise at gp_contract_type — never both.")
def rel004(wb: ParsedWorkbook, policy: Policy) -> Iterable[Finding]:
    for row in wb.partners.where("relationship", SUSPENDED):
        ptype, contract = row["partner_type"], row["gp_contract_type"]
        if ok(ptype) and ptype != GP:
            yield row.finding(rel004.rule, column="partner_type",
                              message=f"{_name(row)} is a partner of type {ptype}: only a GP practice's "
                                      "contract can be suspended.")
        elif ptype == GP and ok(contract) and contract not in ("GMS", "PMS"):
            yield row.finding(rel004.rule, column="gp_contract_type",
                              message=f"{_name(row)} holds an {contract} contract: only GMS and PMS contracts can be "
                                      "suspended.")


@assurance_rule("REL005", severity=Severity.ERROR, domain=REL, checkpoints=ALL_CHECKPOINTS,
          summary="A suspended-contract practice does not say how its GPs take part.", source=src("001 §85", "001 §87"),
          points_at="gp_participation cell",
          explanation="Every Suspended contract partner needs gp_participation (Employed or Subcontractor). This "
                      "rule reports the empty value; no SCH001 is added.")
def rel005(wb: ParsedWorkbook, policy: Policy) -> Iterable[Finding]:
    for row in wb.partners.where("relationship", SUSPENDED):
        if row["gp_participation"] is None:
            yield row.finding(rel005.rule, column="gp_participation",
                              message=f"{_name(row)} suspends its contract but does not say how its GPs take part "
                                      "(Employed or Subcontractor).")


@assurance_rule("REL006", severity=Severity.ERROR, domain=REL, checkpoints=FROM_CP2,
          summary="A participating GP practice's agreement is not far enough along.", source=src("001 §85", "001 §86"),
          points_at="agreement_status cell",
          explanation="At checkpoint 2, GP practices with an Integration agreement or Suspended contract need "
                      "Heads of terms agreed or Signed; at checkpoint 3, Signed.")
def rel006(wb: ParsedWorkbook, policy: Policy) -> Iterable[Finding]:
    need = "Signed" if wb.checkpoint == 3 else "Heads of terms agreed"
    floor = AGREEMENT_STATUSES.index(need)
    for row in wb.partners.where("relationship", *PARTICIPATING):
        status = row["agreement_status"]
        if row["partner_type"] == GP and ok(status) \
                and AGREEMENT_STATUSES.index(status) < floor:
            yield row.finding(rel006.rule, column="agreement_status",
                              message=f"{_name(row)}'s agreement is at '{status}'; checkpoint {wb.checkpoint} needs "
                                      f"'{need}'{' or better' if need != 'Signed' else ''}.")


@assurance_rule("REL007", severity=Severity.ERROR, domain=REL, checkpoints=FROM_CP2,
          summary="Patients of a suspended-contract practice are not told before the contract starts.",
          source=src("001 §40", "002 §106"), points_at="patient_notification_date cell",
          explanation="Every Suspended contract partner needs a patient_notification_date before "
                      "contract_start_date. This rule reports a missing date; no SCH001 is added.")
def rel007(wb: ParsedWorkbook, policy: Policy) -> Iterable[Finding]:
    start = wb.cover["contract_start_date"]
    for row in wb.partners.where("relationship", SUSPENDED):
        told = row["patient_notification_date"]
        if told is None:
            msg = f"{_name(row)} suspends its contract but no date is given for telling its registered patients."
        elif ok(told, start) and told >= start:
            msg = (f"{_name(row)}'s patients are told on {told.isoformat()}, not before the contract starts on "
                   f"{start.isoformat()}.")
        else:
            continue
        yield row.finding(rel007.rule, column="patient_notification_date", message=msg)


def _partners_by_id(wb: ParsedWorkbook) -> dict[str, Row]:
    """Partners by identifier; rows repeated under SCH006 are left out."""
    out: dict[str, Row] = {}
    p = wb.partners
    for i, pid in enumerate(p.column("partner_id")):
        if pid is not None and pid is not FAILED and i not in p.repeated and pid not in out:
            out[pid] = p.row(i)
    return out


@assurance_rule("REL008", severity=Severity.ERROR, domain=REL, checkpoints=ALL_CHECKPOINTS,
          summary="A subcontracted service names no subcontract partner.", source=src("002 §45"),
          points_at="subcontractor_id cell",
          explanation="A Subcontracted service's subcontractor_id must name a Partners row whose relationship is "
                      "Subcontract. Skipped when a partner identifier or the named partner's relationship failed "
                      "its own check.")
def rel008(wb: ParsedWorkbook, policy: Policy) -> Iterable[Finding]:
    p = wb.partners
    if not p.present or FAILED in p.column("partner_id"):
        return
    partners = _partners_by_id(wb)
    for row in wb.services.where("delivery", "Subcontracted"):
        sub = row["subcontractor_id"]
        if not ok(sub):
            continue
        target = partners.get(sub)
        if target is None:
            msg = f"{_service(row)} is subcontracted to {clip(str(sub))}, which is not listed in Partners."
        elif target["relationship"] is FAILED or target["relationship"] == SUBCONTRACT:
            continue
        else:
            msg = (f"{_service(row)} is subcontracted to {clip(str(sub))}, whose relationship is "
                   f"{target['relationship']}, not Subcontract.")
        yield row.finding(rel008.rule, column="subcontractor_id", message=msg)


@assurance_rule("REL009", severity=Severity.ERROR, domain=REL, checkpoints=FROM_CP2,
          summary="A subcontract is not approved by the commissioner.", source=src("002 §45"),
          points_at="commissioner_approved cell",
          explanation="From checkpoint 2, every Subcontract partner needs the commissioner's prior approval.")
def rel009(wb: ParsedWorkbook, policy: Policy) -> Iterable[Finding]:
    for row in wb.partners.where("commissioner_approved", False):
        if row["relationship"] == SUBCONTRACT:
            yield row.finding(rel009.rule, column="commissioner_approved",
                              message=f"The subcontract with {_name(row)} has not been approved by the commissioner.")


@assurance_rule("REL010", severity=Severity.WARNING, domain=REL, checkpoints=FROM_CP2,
          summary="A material subcontract has no direct agreement with the commissioner.", source=src("002 §45"),
          points_at="direct_agreement cell",
          explanation="A Subcontract partner whose subcontracted services add up to at least policy "
                      "material_subcontract_fraction (10 %) of annual_contract_value_gbp should have a direct "
                      "agreement. Fires when the known total already reaches the threshold; otherwise skipped "
                      "when a value is unknown.")
def rel010(wb: ParsedWorkbook, policy: Policy) -> Iterable[Finding]:
    acv = wb.cover["annual_contract_value_gbp"]
    if not ok(acv):
        return
    threshold = policy.material_subcontract_fraction * acv
    totals: dict[str, float] = {}
    for delivery, sub, value in zip(wb.services.column("delivery"), wb.services.column("subcontractor_id"),
                                    wb.services.column("annual_value_gbp")):
        if delivery == "Subcontracted" and ok(sub, value):
            totals[sub] = totals.get(sub, 0.0) + value
    for pid, row in _partners_by_id(wb).items():
        if row["relationship"] != SUBCONTRACT or row["direct_agreement"] is not False:
            continue
        total = totals.get(pid, 0.0)
        if total >= threshold:
            yield row.finding(rel010.rule, column="direct_agreement",
                              message=f"{_name(row)} delivers {money(total)} of subcontracted services, at least "
                                      f"{policy.material_subcontract_fraction:.0%} of the contract value "
                                      f"({money(threshold)}), but has no direct agreement with the commissioner.")


@assurance_rule("REL011", severity=Severity.WARNING, domain=REL, checkpoints=ALL_CHECKPOINTS,
          summary="No voluntary sector partner.", source=src("002 §74"), points_at="Partners sheet",
          explanation="The voluntary sector should be involved: a proposal with no partner of type Voluntary "
                      "sector needs a reviewer's look. Skipped when a partner's type failed its own check.")
def rel011(wb: ParsedWorkbook, policy: Policy) -> Iterable[Finding]:
    p = wb.partners
    if not p.present:
        return
    types = p.column("partner_type")
    if "Voluntary sector" not in types and FAILED not in types:
        yield wb.partners.finding(rel011.rule, message="No voluntary sector organisation is a partner.")


@assurance_rule("REL012", severity=Severity.ERROR, domain=REL, checkpoints=ALL_CHECKPOINTS,
          summary="No engagement with GP practices before submission.", source=src("001 §24", "001 §39"),
          points_at="Engagement sheet",
          explanation="Engagement needs an event with audience GP practices dated on or before submission_date. "
                      "Skipped when an event whose audience or date failed its own check could be it.")
def rel012(wb: ParsedWorkbook, policy: Policy) -> Iterable[Finding]:
    sub = wb.cover["submission_date"]
    if not ok(sub) or not wb.engagement.present:
        return
    if engaged(wb, "GP practices", sub) is False:
        yield wb.engagement.finding(rel012.rule,
                                    message="No engagement with GP practices is recorded on or before the submission "
                                            f"date {sub.isoformat()}.")

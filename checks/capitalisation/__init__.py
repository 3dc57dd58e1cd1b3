"""Capitalisation rules (CAP): capital, financial standing and security of the provider.

"Stringent capitalisation and financial standing and security requirements"
(002 §35), the safeguards for non-statutory providers (002 §34) and the three
areas of capital (001 §97): start-up, working capital, resilience.
"""

from __future__ import annotations

from typing import Iterable

from checks.common import ok, src, year_label
from isap.policy import Policy
from isap.rules.registry import ALL_CHECKPOINTS, FROM_CP2, assurance_rule
from isap.workbook.findings import Domain, Finding, Severity
from isap.workbook.model import FAILED, ParsedWorkbook
from isap.workbook.values import money

CAP = Domain.CAPITALISATION
MAX_YEARS = 1000


def _year1(wb: ParsedWorkbook):
    for row in wb.finance.rows():
        if row["contract_year"] == 1 and not row.repeated:
            return row
    return None


@assurance_rule("CAP001", severity=Severity.ERROR, domain=CAP, checkpoints=FROM_CP2,
          summary="A contract year has no Finance row.", source=src("002 §35"), points_at="Finance sheet",
          explanation="Every contract year from 1 to contract_term_years needs a financial plan row; one finding "
                      "per missing year (at most 1,000 years are enumerated). Skipped when any contract_year "
                      "failed its own check (a repeat does not count).")
def cap001(wb: ParsedWorkbook, policy: Policy) -> Iterable[Finding]:
    rule = cap001.rule
    term = wb.cover["contract_term_years"]
    fin = wb.finance
    if not ok(term) or not fin.present or any(v is FAILED for v in fin.column("contract_year")):
        return
    years = {v for v in fin.column("contract_year") if ok(v)}
    for y in range(1, min(term, MAX_YEARS) + 1):
        if y not in years:
            yield wb.finance.finding(rule, message=f"Contract year {y} of {term} has no row in Finance: "
                                                   "add its financial plan.")


@assurance_rule("CAP002", severity=Severity.ERROR, domain=CAP, checkpoints=FROM_CP2,
          summary="Net assets are below the committed minimum level of assets.", source=src("002 §34"),
          points_at="Finance net_assets_gbp cell",
          explanation="In each year, net_assets_gbp must be at least minimum_assets_gbp: the provider must "
                      "maintain the minimum level of assets it commits to.")
def cap002(wb: ParsedWorkbook, policy: Policy) -> Iterable[Finding]:
    for row in wb.finance.rows():
        net, floor = row["net_assets_gbp"], row["minimum_assets_gbp"]
        if ok(net, floor) and net < floor:
            yield row.finding(cap002.rule, column="net_assets_gbp",
                              message=f"{year_label(row)}: net assets {money(net)} are below the committed minimum "
                                      f"{money(floor)}.")


@assurance_rule("CAP003", severity=Severity.ERROR, domain=CAP, checkpoints=FROM_CP2,
          summary="No minimum level of assets is committed (minimum_assets_gbp is 0).", source=src("002 §34"),
          points_at="Finance minimum_assets_gbp cell",
          explanation="A minimum level of assets is one of the safeguards: it cannot be zero in any year.")
def cap003(wb: ParsedWorkbook, policy: Policy) -> Iterable[Finding]:
    for row in wb.finance.rows():
        floor = row["minimum_assets_gbp"]
        if ok(floor) and floor == 0:
            yield row.finding(cap003.rule, column="minimum_assets_gbp",
                              message=f"{year_label(row)}: no minimum level of assets is committed (£0).")


@assurance_rule("CAP004", severity=Severity.ERROR, domain=CAP, checkpoints=FROM_CP2,
          summary="Year-1 working capital is below one monthly instalment of the contract value.",
          source=src("001 §28", "001 §97b"), points_at="Finance working_capital_gbp cell, year 1",
          explanation="Year-1 working_capital_gbp must be at least annual_contract_value_gbp × "
                      "policy working_capital_months ÷ 12 (default one month): the WPAP is paid in monthly "
                      "instalments and the provider must carry the cash cycle.")
def cap004(wb: ParsedWorkbook, policy: Policy) -> Iterable[Finding]:
    acv = wb.cover["annual_contract_value_gbp"]
    row = _year1(wb)
    if row is None or not ok(acv):
        return
    wc = row["working_capital_gbp"]
    need = acv * policy.working_capital_months / 12
    if ok(wc) and wc < need:
        months = policy.working_capital_months
        yield row.finding(cap004.rule, column="working_capital_gbp",
                          message=f"Year 1: working capital {money(wc)} is below {money(need)}, "
                                  f"{months:g} month{'s' if months != 1 else ''} of the contract value "
                                  f"{money(acv)}.")


@assurance_rule("CAP005", severity=Severity.ERROR, domain=CAP, checkpoints=FROM_CP2,
          summary="No resilience to down-side risk: contingency reserve and guarantee are both 0.",
          source=src("001 §97c"), points_at="Finance contingency_reserve_gbp cell",
          explanation="In each year, contingency_reserve_gbp + guarantee_gbp must be more than 0.")
def cap005(wb: ParsedWorkbook, policy: Policy) -> Iterable[Finding]:
    for row in wb.finance.rows():
        c, g = row["contingency_reserve_gbp"], row["guarantee_gbp"]
        if ok(c, g) and c + g == 0:
            yield row.finding(cap005.rule, column="contingency_reserve_gbp",
                              message=f"{year_label(row)}: no contingency reserve and no guarantee: there is no "
                                      "cover for down-side risk.")


@assurance_rule("CAP006", severity=Severity.ERROR, domain=CAP, checkpoints=FROM_CP2,
          summary="A planned deficit exceeds the contingency reserve and guarantee.", source=src("001 §97c"),
          points_at="Finance planned_expenditure_gbp cell",
          explanation="Where planned income − expenditure is negative, the deficit must be covered by "
                      "contingency_reserve_gbp + guarantee_gbp (a deficit exactly covered is acceptable).")
def cap006(wb: ParsedWorkbook, policy: Policy) -> Iterable[Finding]:
    for row in wb.finance.rows():
        inc, exp, c, g = (row["planned_income_gbp"], row["planned_expenditure_gbp"], row["contingency_reserve_gbp"],
                          row["guarantee_gbp"])
        if not ok(inc, exp, c, g):
            continue
        deficit = exp - inc
        if deficit > 0 and deficit > c + g:
            yield row.finding(cap006.rule, column="planned_expenditure_gbp",
                              message=f"{year_label(row)}: the planned deficit {money(deficit)} exceeds the "
                                      f"contingency reserve and guarantee {money(c + g)}.")


@assurance_rule("CAP007", severity=Severity.ERROR, domain=CAP, checkpoints=FROM_CP2,
          summary="A non-statutory provider has no guarantee from a parent or third party.",
          source=src("002 §34"), points_at="Safeguards guarantor_type cell / Finance guarantee_gbp cell",
          explanation="Non-statutory providers only: guarantor_type None is one finding, and each year with "
                      "guarantee_gbp 0 is one finding. Statutory providers (NHS trusts, foundation trusts, local "
                      "authorities) are exempt.")
def cap007(wb: ParsedWorkbook, policy: Policy) -> Iterable[Finding]:
    if wb.provider_statutory is not False:
        return
    ptype = wb.cover["provider_type"]
    sg = wb.safeguards
    if sg["guarantor_type"] == "None":
        yield sg.finding(cap007.rule, field="guarantor_type",
                         message=f"The provider ({ptype}, non-statutory) names no guarantor: a parent or "
                                 "third-party guarantee is required.")
    for row in wb.finance.rows():
        g = row["guarantee_gbp"]
        if ok(g) and g == 0:
            yield row.finding(cap007.rule, column="guarantee_gbp",
                              message=f"{year_label(row)}: no guarantee is available (£0); a non-statutory "
                                      f"provider ({ptype}) needs one every year.")


def _safeguard_answer(rule, wb: ParsedWorkbook, field: str, what: str) -> Iterable[Finding]:
    if wb.provider_statutory is not False:
        return
    sg = wb.safeguards
    if sg[field] is False:
        yield sg.finding(rule, field=field,
                         message=f"The provider ({wb.cover['provider_type']}, non-statutory) answers No to "
                                 f"{field}: {what}")


@assurance_rule("CAP008", severity=Severity.ERROR, domain=CAP, checkpoints=FROM_CP2,
          summary="A non-statutory provider may carry on other business.", source=src("002 §34"),
          points_at="Safeguards no_other_business cell",
          explanation="Non-statutory providers must carry on no business other than that the contract requires.")
def cap008(wb: ParsedWorkbook, policy: Policy) -> Iterable[Finding]:
    yield from _safeguard_answer(cap008.rule, wb, "no_other_business",
                                 "it must carry on no business other than that the contract requires.")


@assurance_rule("CAP009", severity=Severity.ERROR, domain=CAP, checkpoints=FROM_CP2,
          summary="A non-statutory provider may distribute funds without conditions.", source=src("002 §34"),
          points_at="Safeguards distributions_restricted cell",
          explanation="Non-statutory providers must not distribute funds unless quality standards and financial "
                      "conditions are met.")
def cap009(wb: ParsedWorkbook, policy: Policy) -> Iterable[Finding]:
    yield from _safeguard_answer(cap009.rule, wb, "distributions_restricted",
                                 "distributions must be prohibited unless quality and financial conditions are met.")


@assurance_rule("CAP010", severity=Severity.ERROR, domain=CAP, checkpoints=ALL_CHECKPOINTS,
          summary="The WPAP is not the majority of the contract value, or exceeds it.", source=src("001 §28"),
          points_at="Cover wpap_annual_value_gbp cell",
          explanation="wpap_annual_value_gbp must be more than half of annual_contract_value_gbp and not more "
                      "than it. Exactly half is a finding; exactly equal is not.")
def cap010(wb: ParsedWorkbook, policy: Policy) -> Iterable[Finding]:
    wpap, acv = wb.cover["wpap_annual_value_gbp"], wb.cover["annual_contract_value_gbp"]
    if not ok(wpap, acv):
        return
    if wpap > acv:
        yield wb.cover.finding(cap010.rule, field="wpap_annual_value_gbp",
                               message=f"The WPAP {money(wpap)} is more than the whole contract value {money(acv)}.")
    elif wpap * 2 <= acv:
        yield wb.cover.finding(cap010.rule, field="wpap_annual_value_gbp",
                               message=f"The WPAP {money(wpap)} is not more than half of the contract value "
                                       f"{money(acv)}: it must be the majority of the funding "
                                       f"(more than {money(acv / 2)}).")


@assurance_rule("CAP011", severity=Severity.WARNING, domain=CAP, checkpoints=FROM_CP2,
          summary="No start-up costs are planned in year 1.", source=src("001 §97a"),
          points_at="Finance startup_costs_gbp cell, year 1",
          explanation="Start-up capital is one of the three areas of capital; year-1 startup_costs_gbp of 0 "
                      "needs a reviewer's look.")
def cap011(wb: ParsedWorkbook, policy: Policy) -> Iterable[Finding]:
    row = _year1(wb)
    if row is None:
        return
    s = row["startup_costs_gbp"]
    if ok(s) and s == 0:
        yield row.finding(cap011.rule, column="startup_costs_gbp",
                          message="Year 1: no start-up costs are planned (£0).")

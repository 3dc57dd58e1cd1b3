"""Service scope rules (SCP): what the ICP contract covers, for how long, for whom.

Scope and anticipated extensions are assured through ISAP (002 §85); terms of
up to ten years (002 §86, 001 §99); partially integrated ICPs exclude
essential primary medical services, fully integrated ones include them
(001 §4); local authority services (002 §72, §121–122); population (002 §72).
"""

from __future__ import annotations

from typing import Iterable

from checks.common import ok, src
from isap.policy import Policy
from isap.rules.registry import ALL_CHECKPOINTS, assurance_rule
from isap.workbook.findings import Domain, Finding, Severity
from isap.workbook.model import FAILED, ParsedWorkbook
from isap.workbook.values import clip, money

SCP = Domain.SERVICE_SCOPE
PMS = "Primary medical services"
MAX_TERM = 10
PARTICIPATING = ("Integration agreement", "Suspended contract")
# how a message names a local authority service, article included
LA_SERVICE = {"Public health": "a public health service", "Adult social care": "an adult social care service"}


def _years(n: int) -> str:
    return f"{n} year{'' if n == 1 else 's'}"


def _services_rows(wb: ParsedWorkbook) -> bool:
    """Services is present and has rows (an empty sheet gives SCP001 only)."""
    return wb.services.present and len(wb.services) > 0


@assurance_rule("SCP001", severity=Severity.ERROR, domain=SCP, checkpoints=ALL_CHECKPOINTS,
          summary="Services lists no service.", source=src("002 §85"), points_at="Services sheet",
          explanation="The scope must list at least one service line. An empty Services sheet gives this "
                      "finding only: the other scope rules need services to look at.")
def scp001(wb: ParsedWorkbook, policy: Policy) -> Iterable[Finding]:
    if wb.services.present and len(wb.services) == 0:
        yield wb.services.finding(scp001.rule, message="Services lists no service: add the services in scope.")


@assurance_rule("SCP002", severity=Severity.ERROR, domain=SCP, checkpoints=ALL_CHECKPOINTS,
          summary="The contract term is more than ten years.", source=src("002 §86", "001 §99"),
          points_at="Cover contract_term_years cell",
          explanation="ICP contracts run for up to ten years.")
def scp002(wb: ParsedWorkbook, policy: Policy) -> Iterable[Finding]:
    term = wb.cover["contract_term_years"]
    if ok(term) and term > MAX_TERM:
        yield wb.cover.finding(scp002.rule, field="contract_term_years",
                               message=f"The contract term of {term} years is more than the {MAX_TERM}-year maximum.")


@assurance_rule("SCP003", severity=Severity.WARNING, domain=SCP, checkpoints=ALL_CHECKPOINTS,
          summary="The term with its optional extension is more than ten years.", source=src("002 §86", "001 §99"),
          points_at="Cover extension_years cell",
          explanation="contract_term_years + extension_years more than 10 needs a reviewer's look; it is reported "
                      "beside SCP002 when the term alone is too long.")
def scp003(wb: ParsedWorkbook, policy: Policy) -> Iterable[Finding]:
    term, ext = wb.cover["contract_term_years"], wb.cover["extension_years"]
    if ok(term, ext) and term + ext > MAX_TERM:
        yield wb.cover.finding(scp003.rule, field="extension_years",
                               message=f"The term of {_years(term)} with no extension is more than {MAX_TERM} years."
                                       if ext == 0 else
                                       f"The term of {_years(term)} with the {ext}-year extension comes to "
                                       f"{_years(term + ext)}, more than {MAX_TERM}.")


@assurance_rule("SCP004", severity=Severity.ERROR, domain=SCP, checkpoints=ALL_CHECKPOINTS,
          summary="Primary medical services disagree with the integration model.", source=src("001 §4"),
          points_at="Cover integration_model cell / the service's category cell",
          explanation="Fully integrated: at least one service of category Primary medical services (one "
                      "finding at integration_model; skipped when a category failed its own check). Partially "
                      "integrated: no such service (one finding per service, at its category).")
def scp004(wb: ParsedWorkbook, policy: Policy) -> Iterable[Finding]:
    model = wb.cover["integration_model"]
    if not ok(model) or not _services_rows(wb):
        return
    cats = wb.services.column("category")
    if model == "Fully integrated":
        if PMS not in cats and FAILED not in cats:
            yield wb.cover.finding(scp004.rule, field="integration_model",
                                   message="The proposal is fully integrated but no service of category Primary "
                                           "medical services is in scope.")
    else:
        for row in wb.services.where("category", PMS):
            yield row.finding(scp004.rule, column="category",
                              message=f"{clip(str(row['service_id'] or 'This service'))} is in category Primary "
                                      "medical services, which a partially integrated ICP excludes.")


@assurance_rule("SCP005", severity=Severity.ERROR, domain=SCP, checkpoints=ALL_CHECKPOINTS,
          summary="A service starts after the contract ends.", source=src("002 §85"), points_at="start_year cell",
          explanation="A service's start_year must not be after contract_term_years.")
def scp005(wb: ParsedWorkbook, policy: Policy) -> Iterable[Finding]:
    term = wb.cover["contract_term_years"]
    if not ok(term):
        return
    starts = wb.services.column("start_year")
    for i in [i for i, s in enumerate(starts) if s.__class__ is int and s > term]:
        row, start = wb.services.row(i), starts[i]
        yield row.finding(scp005.rule, column="start_year",
                          message=f"Start year {start} is after the {term}-year contract term.")


@assurance_rule("SCP006", severity=Severity.ERROR, domain=SCP, checkpoints=ALL_CHECKPOINTS,
          summary="anticipated_extension disagrees with start_year.", source=src("002 §85"),
          points_at="anticipated_extension cell",
          explanation="A service that starts in year 1 is not an anticipated extension (Yes with start_year 1); "
                      "one that starts later is (No with start_year more than 1).")
def scp006(wb: ParsedWorkbook, policy: Policy) -> Iterable[Finding]:
    col_ext, col_start = wb.services.column("anticipated_extension"), wb.services.column("start_year")
    for i in [i for i, (e, s) in enumerate(zip(col_ext, col_start))
              if (e is True and s == 1) or (e is False and s.__class__ is int and s > 1)]:
        row, ext, start = wb.services.row(i), col_ext[i], col_start[i]
        if ext is True and start == 1:
            msg = "is marked as an anticipated extension but starts in year 1."
        elif ext is False and start > 1:
            msg = f"starts in year {start} but is not marked as an anticipated extension."
        else:
            continue
        yield row.finding(scp006.rule, column="anticipated_extension",
                          message=f"{clip(str(row['service_id'] or 'The service'))} {msg}")


@assurance_rule("SCP007", severity=Severity.ERROR, domain=SCP, checkpoints=ALL_CHECKPOINTS,
          summary="Year-1 services do not add up to the contract value.", source=src("002 §85"),
          points_at="Cover annual_contract_value_gbp cell",
          explanation="The services with start_year 1 must add up to annual_contract_value_gbp within the policy "
                      "tolerance: the larger of scope_tolerance_gbp (£1,000) and scope_tolerance_fraction (0.5 %) "
                      "of the contract value; a finding needs a difference strictly greater. Skipped when a value "
                      "it would add failed its own check.")
def scp007(wb: ParsedWorkbook, policy: Policy) -> Iterable[Finding]:
    acv = wb.cover["annual_contract_value_gbp"]
    if not ok(acv) or not _services_rows(wb):
        return
    total = 0.0
    for start, value in zip(wb.services.column("start_year"), wb.services.column("annual_value_gbp")):
        if start is FAILED or start is None or (start == 1 and not ok(value)):
            return
        if start == 1:
            total += value
    tolerance = max(policy.scope_tolerance_gbp, policy.scope_tolerance_fraction * acv)
    diff = abs(total - acv)
    if diff > tolerance:
        yield wb.cover.finding(scp007.rule, field="annual_contract_value_gbp",
                               message=f"Services in scope from year 1 add up to {money(total)}, but the contract "
                                       f"value is {money(acv)}: a difference of {money(diff)}, more than the tolerance "
                                       f"{money(tolerance)}.")


@assurance_rule("SCP008", severity=Severity.ERROR, domain=SCP, checkpoints=ALL_CHECKPOINTS,
          summary="A public health or adult social care service is not funded by the local authority.",
          source=src("002 §72", "002 §121", "002 §122"), points_at="funding_source cell",
          explanation="Public health and adult social care are local authority services: their funding_source "
                      "must be Local authority.")
def scp008(wb: ParsedWorkbook, policy: Policy) -> Iterable[Finding]:
    for row in wb.services.where("category", "Public health", "Adult social care"):
        cat, fund = row["category"], row["funding_source"]
        if ok(fund) and fund != "Local authority":
            yield row.finding(scp008.rule, column="funding_source",
                              message=f"{clip(str(row['service_id'] or 'The service'))} is {LA_SERVICE[cat]} but "
                                      f"its funding source is {fund}: it must be funded by the local authority.")


@assurance_rule("SCP009", severity=Severity.ERROR, domain=SCP, checkpoints=ALL_CHECKPOINTS,
          summary="Local authority services are in scope but no local authority is a partner.",
          source=src("002 §72", "002 §121", "002 §122"), points_at="the first such service's funding_source cell",
          explanation="When a service is funded by the local authority, Partners needs a Local authority with a "
                      "relationship other than Engagement only (e.g. a Section 75 agreement).")
def scp009(wb: ParsedWorkbook, policy: Policy) -> Iterable[Finding]:
    first = next(wb.services.where("funding_source", "Local authority"), None)
    p = wb.partners
    if first is None or not p.present:
        return
    unknown = False
    for ptype, rel in zip(p.column("partner_type"), p.column("relationship")):
        if ptype == "Local authority" and ok(rel) and rel != "Engagement only":
            return
        if (ptype is FAILED and rel is not None and rel != "Engagement only") or (
                ptype == "Local authority" and rel is FAILED):
            unknown = True
    if not unknown:
        yield first.finding(scp009.rule, column="funding_source",
                            message="Local authority-funded services are in scope, but no local authority is a "
                                    "partner beyond engagement (e.g. under a Section 75 agreement).")


@assurance_rule("SCP010", severity=Severity.WARNING, domain=SCP, checkpoints=ALL_CHECKPOINTS,
          summary="Participating practices' list sizes differ from the registered population.",
          source=src("002 §72"), points_at="Cover population_registered cell",
          explanation="The list sizes of GP practices with an Integration agreement or Suspended contract should "
                      "add up to population_registered within policy population_tolerance_fraction (5 %) of it "
                      "(a population of 0: any non-zero sum is a finding). Skipped when a value it would add "
                      "failed its own check.")
def scp010(wb: ParsedWorkbook, policy: Policy) -> Iterable[Finding]:
    pop = wb.cover["population_registered"]
    p = wb.partners
    if not ok(pop) or not p.present:
        return
    total = 0
    for ptype, rel, size in zip(p.column("partner_type"), p.column("relationship"),
                                p.column("registered_list_size")):
        if ptype is FAILED or rel is FAILED:
            if ptype in ("GP practice", FAILED) and rel in (*PARTICIPATING, FAILED):
                return
            continue
        if ptype == "GP practice" and rel in PARTICIPATING:
            if not ok(size):
                return
            total += size
    diff = abs(total - pop)
    if diff > policy.population_tolerance_fraction * pop:
        yield wb.cover.finding(scp010.rule, field="population_registered",
                               message=f"Participating practices' list sizes add up to {total:,}, but the registered "
                                       f"population is {pop:,}: a difference of {diff:,}, more than "
                                       f"the {policy.population_tolerance_fraction:.0%} tolerance.")

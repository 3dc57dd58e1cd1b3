"""Transparency rules (TRN): the ten commitments an ICP contract carries.

Board meetings in public, publication of performance and finance, Healthwatch
(002 §35, §99, §137); open book accounting (002 §97, §100); FOI (002 §137);
complaints and duty of candour (002 §143); conflicts of interest (002 §151,
001 §58); public involvement (002 §138).
"""

from __future__ import annotations

from typing import Iterable

from checks.common import any_failed, engaged, ok, src
from isap.policy import Policy
from isap.rules.registry import ALL_CHECKPOINTS, FROM_CP2, assurance_rule
from isap.workbook.findings import Domain, Finding, Severity
from isap.workbook.model import FAILED, ParsedWorkbook, Row
from isap.workbook.template import COMMITMENT_CODES

TRN = Domain.TRANSPARENCY
PUBLISHED = ("BOARD_MEETINGS_PUBLIC", "PUBLISH_PERFORMANCE", "PUBLISH_FINANCE")
SOURCE = src("002 §35", "002 §97", "002 §99", "002 §100", "002 §137", "002 §138", "002 §143", "002 §151", "001 §58")


def _commitments(wb: ParsedWorkbook) -> dict[str, Row]:
    """Each valid commitment code's row (repeats under SCH006 are left out)."""
    out: dict[str, Row] = {}
    for row in wb.transparency.rows():
        code = row["commitment_code"]
        if ok(code) and not row.repeated:
            out.setdefault(code, row)
    return out


@assurance_rule("TRN001", severity=Severity.ERROR, domain=TRN, checkpoints=ALL_CHECKPOINTS,
          summary="A transparency commitment code has no row.", source=SOURCE, points_at="Transparency sheet",
          explanation="All ten commitment codes must be listed (one finding per missing code). Skipped when any "
                      "commitment_code failed its own check.")
def trn001(wb: ParsedWorkbook, policy: Policy) -> Iterable[Finding]:
    t = wb.transparency
    if not t.present or any(v is FAILED for v in t.column("commitment_code")):
        return
    have = _commitments(wb)
    for code in COMMITMENT_CODES:
        if code not in have:
            yield wb.transparency.finding(trn001.rule,
                                          message=f"The commitment {code} has no row: list it and say whether the "
                                                  "provider commits to it.")


@assurance_rule("TRN002", severity=Severity.ERROR, domain=TRN, checkpoints=ALL_CHECKPOINTS,
          summary="A transparency commitment is not made (committed is No).", source=SOURCE,
          points_at="committed cell",
          explanation="Every one of the ten commitments must be made; one finding per code answered No.")
def trn002(wb: ParsedWorkbook, policy: Policy) -> Iterable[Finding]:
    for code, row in _commitments(wb).items():
        if row["committed"] is False:
            yield row.finding(trn002.rule, column="committed",
                              message=f"{code} is not committed to: the contract must carry this commitment.")


@assurance_rule("TRN003", severity=Severity.ERROR, domain=TRN, checkpoints=ALL_CHECKPOINTS,
          summary="Board meetings, performance or finance publication has no frequency.",
          source=src("002 §35", "002 §99", "002 §137"),
          points_at="frequency cell",
          explanation="BOARD_MEETINGS_PUBLIC, PUBLISH_PERFORMANCE and PUBLISH_FINANCE need a frequency, whether "
                      "or not they are committed.")
def trn003(wb: ParsedWorkbook, policy: Policy) -> Iterable[Finding]:
    for code, row in _commitments(wb).items():
        if code in PUBLISHED and row["frequency"] is None:
            yield row.finding(trn003.rule, column="frequency",
                              message=f"{code} has no frequency: say how often (e.g. Quarterly).")


@assurance_rule("TRN004", severity=Severity.ERROR, domain=TRN, checkpoints=ALL_CHECKPOINTS,
          summary="Healthwatch is committed but no Healthwatch partner is listed.", source=src("002 §99", "002 §137"),
          points_at="HEALTHWATCH committed cell",
          explanation="A HEALTHWATCH commitment needs a Partners row of type Healthwatch. Skipped when a partner "
                      "whose type failed its own check could be it.")
def trn004(wb: ParsedWorkbook, policy: Policy) -> Iterable[Finding]:
    row = _commitments(wb).get("HEALTHWATCH")
    p = wb.partners
    if row is None or row["committed"] is not True or not p.present or any_failed(p, "partner_type"):
        return
    if "Healthwatch" not in p.column("partner_type"):
        yield row.finding(trn004.rule, column="committed",
                          message="HEALTHWATCH is committed but Partners lists no Healthwatch organisation.")


@assurance_rule(
    "TRN005",
    severity=Severity.ERROR,
    domain=TRN,
    checkpoints=FROM_CP2,
    summary="A committed commitment has no evidence reference.",
    source=SOURCE,
    points_at="evidence_reference cell",
    explanation="From checkpoint 2, every committed commitment must say where it is written down "
    "(document, section or URL).",
)
def trn005(wb: ParsedWorkbook, policy: Policy) -> Iterable[Finding]:
    for code, row in _commitments(wb).items():
        if row["committed"] is True and row["evidence_reference"] is None:
            yield row.finding(trn005.rule, column="evidence_reference",
                              message=f"{code} is committed but has no evidence reference: name the document, "
                                      "section or URL where it is written down.")


@assurance_rule("TRN006", severity=Severity.WARNING, domain=TRN, checkpoints=ALL_CHECKPOINTS,
          summary="Public involvement is committed but no engagement with patients and public is recorded.",
          source=src("002 §138", "001 §24"), points_at="PUBLIC_INVOLVEMENT committed cell",
          explanation="A PUBLIC_INVOLVEMENT commitment needs an Engagement event with audience Patients and "
                      "public dated on or before submission_date.")
def trn006(wb: ParsedWorkbook, policy: Policy) -> Iterable[Finding]:
    row = _commitments(wb).get("PUBLIC_INVOLVEMENT")
    sub = wb.cover["submission_date"]
    if row is None or row["committed"] is not True or not ok(sub) or not wb.engagement.present:
        return
    if engaged(wb, "Patients and public", sub) is False:
        yield row.finding(trn006.rule, column="committed",
                          message=f"PUBLIC_INVOLVEMENT is committed but Engagement records no event with patients "
                                  f"and the public on or before the submission date {sub.isoformat()}.")

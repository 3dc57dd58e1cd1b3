"""Governance rules (GOV): the boards are the first line of assurance (002 §93)."""

from __future__ import annotations

from typing import Iterable

from checks.common import ok, src
from isap.policy import Policy
from isap.rules.registry import ALL_CHECKPOINTS, FROM_CP2, assurance_rule
from isap.workbook.findings import Domain, Finding, Severity
from isap.workbook.model import ParsedWorkbook
from isap.workbook.values import quote

GOV = Domain.GOVERNANCE


def _cover(rule, wb: ParsedWorkbook, field: str, message: str) -> Finding:
    return wb.cover.finding(rule, field=field, message=message)


@assurance_rule("GOV001", severity=Severity.ERROR, domain=GOV, checkpoints=ALL_CHECKPOINTS,
          summary="The commissioner's board approved after the submission date.", source=src("002 §93"),
          points_at="Cover commissioner_board_approval_date cell",
          explanation="The commissioner's governing body must approve the proposal on or before submission_date.")
def gov001(wb: ParsedWorkbook, policy: Policy) -> Iterable[Finding]:
    approved, sub = wb.cover["commissioner_board_approval_date"], wb.cover["submission_date"]
    if ok(approved, sub) and approved > sub:
        yield _cover(gov001.rule, wb, "commissioner_board_approval_date",
                     f"The commissioner's board approval ({approved.isoformat()}) is after the submission date "
                     f"({sub.isoformat()}).")


@assurance_rule("GOV002", severity=Severity.ERROR, domain=GOV, checkpoints=FROM_CP2,
          summary="The provider's board approved after the submission date.", source=src("002 §93"),
          points_at="Cover provider_board_approval_date cell",
          explanation="From checkpoint 2, the provider's board must approve the proposal on or before "
                      "submission_date.")
def gov002(wb: ParsedWorkbook, policy: Policy) -> Iterable[Finding]:
    approved, sub = wb.cover["provider_board_approval_date"], wb.cover["submission_date"]
    if ok(approved, sub) and approved > sub:
        yield _cover(gov002.rule, wb, "provider_board_approval_date",
                     f"The provider's board approval ({approved.isoformat()}) is after the submission date "
                     f"({sub.isoformat()}).")


@assurance_rule("GOV003", severity=Severity.ERROR, domain=GOV, checkpoints=ALL_CHECKPOINTS,
          summary="The contract starts on or before the submission date.", source=src("002 §93", "000 §1.11"),
          points_at="Cover contract_start_date cell",
          explanation="Assurance comes before services start: contract_start_date must be after submission_date.")
def gov003(wb: ParsedWorkbook, policy: Policy) -> Iterable[Finding]:
    start, sub = wb.cover["contract_start_date"], wb.cover["submission_date"]
    if ok(start, sub) and start <= sub:
        yield _cover(gov003.rule, wb, "contract_start_date",
                     f"The contract starts on {start.isoformat()}, not after the submission date {sub.isoformat()}.")


@assurance_rule("GOV004", severity=Severity.WARNING, domain=GOV, checkpoints=ALL_CHECKPOINTS,
          summary="contact_email is at a domain isap does not send mail to.", source="ISAP-WB 1.0 §2.1",
          points_at="Cover contact_email cell",
          explanation="Notifications about the proposal go to contact_email only when it is one plain e-mail "
                      "address (as email-validator accepts it: no group name, display name, list or control "
                      "character) whose domain is one of policy mail_domains (default nhs.net and nhs.uk), or a "
                      "subdomain of one. An empty value or one that does not match the template's format for an "
                      "address is SCH001 or SCH005, not this.")
def gov004(wb: ParsedWorkbook, policy: Policy) -> Iterable[Finding]:
    email = wb.cover["contact_email"]
    if not ok(email) or not isinstance(email, str) or "@" not in email:
        return
    refusal = policy.mail_refusal(email)
    if refusal is not None:
        yield _cover(gov004.rule, wb, "contact_email", f"No notification will reach {quote(email)}: {refusal}.")

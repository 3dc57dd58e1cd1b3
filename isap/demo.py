"""Demo data for a first look at the dashboard: organisations, users and sample proposals.

Loaded by the README's first command (`isap demo load`, idempotent), only into
an empty store or one demo data made.  The
demo passwords are printed and documented; they are for a local look around,
never for a real deployment.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

from isap.review.regions import Region
from isap.review.service import ConditionInput, Service

DEMO_USERS = [
    ("alice", "commissioner", "QUA", "alice-demo"),
    ("otto", "commissioner", "QHM", "otto-demo"),
    ("rita", "reviewer", None, "rita-demo"),
    ("nina", "reviewer", None, "nina-demo"),
    ("ada", "admin", None, "ada-demo"),
]
# how letters and reports name the demo's people, and the body each reviewer works for (the review panel)
DEMO_DETAILS = {
    "alice": ("Alice Morgan", "Director of Strategy", None),
    "otto": ("Otto Reid", "Head of Contracting", None),
    "rita": ("Rita Shah", "Senior Assurance Lead", "nhs_england"),
    "nina": ("Nina Okafor", "Deputy Director of Assurance", "nhs_improvement"),
    "ada": ("Ada Lewis", "ISAP Service Administrator", None),
}
RATINGS = {"capitalisation": "green", "transparency": "amber", "service_scope": "green",
           "relationships": "green", "governance": "green"}


def load(service: Service) -> bool:
    """Create the demo data unless it is there already; True when it was created now.

    Only into an empty store, or one demo data made (loading again adds
    nothing): a store holding anything else is refused (Refused), since the
    demo's administrator has a published password."""
    # The demo is recorded over the past weeks, through the real commands, so the review queue shows waiting
    # times, an overdue review and a history over time; the clock is the service's own again afterwards.
    # Everything is recorded in the order it happened: the history never goes back in time.
    real_clock = service.clock
    now = real_clock()

    def days_ago(days: float) -> None:
        service.clock = lambda: now - dt.timedelta(days=days)

    try:
        days_ago(61)  # the store is marked as the demo's at the start of its history, which only goes forward
        if not service.claim_for_demo() and service.has_user("alice"):
            return False
        service.add_organisation("QUA", "NHS Black Country Integrated Care Board")
        service.add_organisation("QHM", "NHS North East and North Cumbria Integrated Care Board")
        service.add_organisation("X24", "NHS England")
        for name, role, org, password in DEMO_USERS:
            display_name, job_title, body = DEMO_DETAILS[name]
            service.add_user(name, role, org, password=password, email=f"{name}@isap.example",
                             display_name=display_name, job_title=job_title, body=body)
        # the national view filters by region (NHS England itself, not a commissioner, has none)
        service.set_region("QUA", Region.MIDLANDS, actor="ada")
        service.set_region("QHM", Region.NORTH_EAST_AND_YORKSHIRE, actor="ada")
        _record(service, days_ago, dt.date.today())
    finally:
        service.clock = real_clock
    return True


def _record(service: Service, days_ago, today: dt.date) -> None:
    """The proposals' stories, with planned submission dates (docs/workflow.md, "Calendar"): ISAP-2026-012's first
    checkpoint agreed and met a little late and its second proposed, ISAP-2026-021's next one agreed, and
    ISAP-2026-013's passed without a submission, so the national view and the Timeline tab show each kind; the
    review panel's two steps, ISAP-2026-012 countersigned and ISAP-2026-022 waiting for its countersignature."""
    from isap.policy import working_days
    from sample_submissions.evidence import sample_pdf
    from sample_submissions.proposals import clean, write

    with tempfile.TemporaryDirectory() as tmp:
        def put(user: str, p: dict, name: str):
            return service.upload(user, name, write(p, Path(tmp) / name).read_bytes())

        def working(day: dt.date) -> dt.date:  # a plan is for a working day, whatever day the demo is loaded on
            return working_days.add_working_days(day, 0, service.policy.working_days_calendar)

        def evidence(user: str, ref: str, kind: str, title: str, reference: str) -> None:
            """A small PDF attached as evidence (docs/workflow.md, "Evidence")."""
            service.attach_evidence(user, ref, reference.lower().replace(" ", "-") + ".pdf",
                                    sample_pdf(title, f"{title} for {ref}: an example document."), kind, title,
                                    reference)

        def titled(p: dict, title: str) -> dict:
            p["Cover"]["proposal_title"] = title
            return p

        # ISAP-2026-012: approved at checkpoint 1 with a condition due soon; checkpoint 2 in preparation
        days_ago(60)
        put("alice", titled(clean(1, "Fully integrated", "GP federation", "ISAP-2026-012"),
                            "Sandwell fully integrated primary and community care"), "sandwell-cp1.xlsx")
        service.plan_submission("alice", "ISAP-2026-012", 1, working(today - dt.timedelta(days=57)))
        days_ago(58)
        service.agree_plan("rita", "ISAP-2026-012", 1)
        evidence("alice", "ISAP-2026-012", "commissioner_board_paper", "ICB board paper, September 2026",
                 "ICB board paper 2026-09")
        evidence("alice", "ISAP-2026-012", "engagement_report", "Sandwell engagement report", "Engagement report 2026")
        days_ago(55)
        service.submit("alice", "ISAP-2026-012")
        days_ago(50)
        service.declare("rita", "ISAP-2026-012")
        service.take("rita", "ISAP-2026-012")
        days_ago(42)
        service.declare("nina", "ISAP-2026-012")
        service.rate("nina", "ISAP-2026-012", "capitalisation", "green")
        days_ago(41)
        service.propose("rita", "ISAP-2026-012", "approved_with_conditions",
                        {d: r for d, r in RATINGS.items() if d != "capitalisation"},
                        "A clear case for change with strong GP support.",
                        [ConditionInput("Publish the public engagement report", "ICB director of strategy",
                                        dt.date.today() + dt.timedelta(days=6))])
        days_ago(40)
        service.countersign("nina", "ISAP-2026-012")
        # ISAP-2026-011: a strategic case waiting for a reviewer for five weeks: overdue
        days_ago(38)
        put("alice", titled(clean(1, reference="ISAP-2026-011"), "Dudley integrated care provider"),
            "dudley-cp1.xlsx")
        evidence("alice", "ISAP-2026-011", "commissioner_board_paper", "Dudley ICB board paper",
                 "Dudley board paper 2026-08")
        days_ago(35)
        service.submit("alice", "ISAP-2026-011")
        # ISAP-2026-021: another organisation's proposal, in review
        other = titled(clean(1, reference="ISAP-2026-021"), "Tyneside integrated care provider")
        other["Cover"].update(lead_commissioner_code="QHM",
                              lead_commissioner_name="NHS North East and North Cumbria ICB")
        days_ago(16)
        put("otto", other, "tyneside-cp1.xlsx")
        evidence("otto", "ISAP-2026-021", "advisers_report", "Advisers' conclusions on the alliance",
                 "Advisers report 2026")
        service.submit("otto", "ISAP-2026-021")
        days_ago(9)
        service.declare("rita", "ISAP-2026-021")
        service.take("rita", "ISAP-2026-021")
        service.plan_submission("otto", "ISAP-2026-021", 2, working(today + dt.timedelta(weeks=8)))
        service.agree_plan("rita", "ISAP-2026-021", 2)
        # ISAP-2026-022: another of the same organisation's proposals, in review: its decision is proposed below
        gateshead = titled(clean(1, reference="ISAP-2026-022"), "Gateshead community services alliance")
        gateshead["Cover"].update(lead_commissioner_code="QHM",
                                  lead_commissioner_name="NHS North East and North Cumbria ICB")
        days_ago(8)
        put("otto", gateshead, "gateshead-cp1.xlsx")
        service.submit("otto", "ISAP-2026-022")
        # ISAP-2026-021: a query on the proposal, waiting for the commissioner's answer
        days_ago(5)
        service.raise_query("rita", "ISAP-2026-021", "Which board meeting approved the alliance agreement, and "
                            "when?", due_date=service.clock().date() + dt.timedelta(days=12))
        # ISAP-2026-013: a first upload with errors to fix
        days_ago(4)
        bad = titled(clean(1, "Partially integrated", "NHS foundation trust", "ISAP-2026-013"),
                     "Walsall community and mental health ICP")
        bad["Cover"]["wpap_annual_value_gbp"] = 10_000_000
        bad["Services"][1]["category"] = "Community services"
        put("alice", bad, "walsall-cp1.xlsx")
        evidence("alice", "ISAP-2026-013", "equality_analysis", "Walsall equality analysis", "Equality analysis 2026")
        # two working days before today, whatever day the demo is loaded on: late by two working days
        service.plan_submission("alice", "ISAP-2026-013", 1,
                                working_days.add_working_days(today, -2, service.policy.working_days_calendar))
        # ISAP-2026-013: the commissioner asks for a waiver of its first error, and a reviewer grants it
        days_ago(3.5)
        error = next(f for f in service.show("alice", "ISAP-2026-013")["findings"] if f["severity"] == "error")
        waiver = service.request_waiver("alice", "ISAP-2026-013", error["id"],
                                        "The value is set by the national contract for this year only.")
        days_ago(3)
        service.grant_waiver("rita", "ISAP-2026-013", waiver,
                             "Seen the national contract letter: the figure is sound for year one.")
        service.agree_plan("rita", "ISAP-2026-013", 1)  # and the date passes without a submission
        days_ago(2.5)
        service.declare("rita", "ISAP-2026-022")
        service.take("rita", "ISAP-2026-022")
        # ISAP-2026-012 at checkpoint 2: a warning to acknowledge
        cp2 = titled(clean(2, "Fully integrated", "GP federation", "ISAP-2026-012"),
                     "Sandwell fully integrated primary and community care")
        cp2["Finance"][0]["startup_costs_gbp"] = 0
        days_ago(2)
        put("alice", cp2, "sandwell-cp2.xlsx")
        # what checkpoint 2 needs: the contract its evidence_reference values cite and the policy's kinds
        evidence("alice", "ISAP-2026-012", "integration_agreement", "ICP contract (draft)", "ICP contract schedule 7")
        evidence("alice", "ISAP-2026-012", "provider_board_paper", "Federation board paper",
                 "Federation board paper 2026-10")
        evidence("alice", "ISAP-2026-012", "commissioner_board_paper", "ICB board paper, November 2026",
                 "ICB board paper 2026-11")
        evidence("alice", "ISAP-2026-012", "engagement_report", "Engagement report, second round",
                 "Engagement report 2026-11")
        evidence("alice", "ISAP-2026-012", "financial_model", "Financial model", "Financial model 2026-11")
        # for a reviewer to agree
        service.plan_submission("alice", "ISAP-2026-012", 2, working(today + dt.timedelta(weeks=6)))
        days_ago(1)
        service.comment("rita", "ISAP-2026-021", "Please confirm the voluntary sector alliance terms.")
        # ISAP-2026-022: rita's proposed decision waits for a second reviewer's countersignature (nina's turn);
        # ISAP-2026-021's open query would stop a decision there, so the demo shows both cases apart
        service.propose("rita", "ISAP-2026-022", "approved", RATINGS,
                        "A sound strategic case with the alliance partners' signed terms.")

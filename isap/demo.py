"""Demo data for a first look at the dashboard: organisations, users and sample proposals.

Loaded by the README's first command (`isap demo load`, idempotent).  The
demo passwords are printed and documented; they are for a local look around,
never for a real deployment.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

from isap.review.service import ConditionInput, Service

DEMO_USERS = [
    ("alice", "commissioner", "QUA", "alice-demo"),
    ("otto", "commissioner", "QHM", "otto-demo"),
    ("rita", "reviewer", None, "rita-demo"),
    ("ada", "admin", None, "ada-demo"),
]
RATINGS = {"capitalisation": "green", "transparency": "amber", "service_scope": "green",
           "relationships": "green", "governance": "green"}


def load(service: Service) -> bool:
    """Create the demo data unless it is there already; True when it was created now."""
    if service.has_user("alice"):
        return False
    from sample_submissions.proposals import clean, write

    service.add_organisation("QUA", "NHS Black Country Integrated Care Board")
    service.add_organisation("QHM", "NHS North East and North Cumbria Integrated Care Board")
    service.add_organisation("X24", "NHS England")
    for name, role, org, password in DEMO_USERS:
        service.add_user(name, role, org, password=password, email=f"{name}@isap.example")

    with tempfile.TemporaryDirectory() as tmp:
        def put(user: str, p: dict, name: str):
            return service.upload(user, name, write(p, Path(tmp) / name).read_bytes())

        def titled(p: dict, title: str) -> dict:
            p["Cover"]["proposal_title"] = title
            return p

        # ISAP-2026-011: a strategic case waiting for a reviewer
        put("alice", titled(clean(1, reference="ISAP-2026-011"), "Dudley integrated care provider"),
            "dudley-cp1.xlsx")
        service.submit("alice", "ISAP-2026-011")
        # ISAP-2026-012: approved at checkpoint 1 with a condition; checkpoint 2 in preparation
        put("alice", titled(clean(1, "Fully integrated", "GP federation", "ISAP-2026-012"),
                            "Sandwell fully integrated primary and community care"), "sandwell-cp1.xlsx")
        service.submit("alice", "ISAP-2026-012")
        service.take("rita", "ISAP-2026-012")
        service.decide("rita", "ISAP-2026-012", "approved_with_conditions", RATINGS,
                       "A clear case for change with strong GP support.",
                       [ConditionInput("Publish the public engagement report", "ICB director of strategy",
                                       dt.date.today() + dt.timedelta(days=45))])
        cp2 = titled(clean(2, "Fully integrated", "GP federation", "ISAP-2026-012"),
                     "Sandwell fully integrated primary and community care")
        cp2["Finance"][0]["startup_costs_gbp"] = 0  # a warning to acknowledge
        put("alice", cp2, "sandwell-cp2.xlsx")
        # ISAP-2026-013: a first upload with errors to fix
        bad = titled(clean(1, "Partially integrated", "NHS foundation trust", "ISAP-2026-013"),
                     "Walsall community and mental health ICP")
        bad["Cover"]["wpap_annual_value_gbp"] = 10_000_000
        bad["Services"][1]["category"] = "Community services"
        put("alice", bad, "walsall-cp1.xlsx")
        # ISAP-2026-021: another organisation's proposal, in review
        other = titled(clean(1, reference="ISAP-2026-021"), "Tyneside integrated care provider")
        other["Cover"].update(lead_commissioner_code="QHM",
                              lead_commissioner_name="NHS North East and North Cumbria ICB")
        put("otto", other, "tyneside-cp1.xlsx")
        service.submit("otto", "ISAP-2026-021")
        service.take("rita", "ISAP-2026-021")
        service.comment("rita", "ISAP-2026-021", "Please confirm the voluntary sector alliance terms.")
    return True

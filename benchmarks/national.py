"""The national view at 10,000 proposals, timed against the review queue in the same run (see benchmarks/run.py).

    .venv/bin/python -m benchmarks.national            # SQLite and PostgreSQL
    .venv/bin/python -m benchmarks.run --only national

The store is the queue benchmark's (`benchmarks.store.populate`: 10,000 proposals in 40 organisations)
with what the national view reads besides: a region for each organisation, the Cover's key figures, a
planned submission date for every proposal (a third of them passed), a submission in the history for
half, and a decision with five ratings and a condition for a fifth.  The ratio is the national view's
best time over the review queue's on the same database, so it holds across machines better than either
time does; on SQLite, `cpu_ratio` is the same ratio of this process's processor time, which holds on a
busy machine too.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

from sqlalchemy import insert, update


def enrich(url: str) -> None:
    """What the national view reads beyond the queue's data (set-up, not measured)."""
    from isap.review.events import AuditKind
    from isap.review.regions import Region
    from isap.store.db import engine_for
    from isap.store.models import (
        AuditEvent,
        Condition,
        Decision,
        Organisation,
        PlannedSubmission,
        Proposal,
        Rating,
        Review,
        SubmissionVersion,
        User,
    )

    engine = engine_for(url)
    today = dt.date.today()
    now = dt.datetime.now(dt.timezone.utc)
    regions = list(Region)
    with engine.begin() as conn:
        for i, (oid,) in enumerate(conn.execute(Organisation.__table__.select().with_only_columns(Organisation.id))):
            conn.execute(update(Organisation).where(Organisation.id == oid).values(region=regions[i % 7].value))
        conn.execute(update(Proposal).values(provider_name="Integrated Health and Care", integration_model=
                                             "Partially integrated", annual_contract_value_gbp=95_500_000.0,
                                             wpap_annual_value_gbp=76_400_000.0, population_registered=412_000))
        uid = conn.execute(User.__table__.select().with_only_columns(User.id).where(User.username == "rita")).scalar()
        proposals = list(conn.execute(Proposal.__table__.select().with_only_columns(Proposal.id, Proposal.checkpoint)))
        versions = {pid: vid for pid, vid in conn.execute(SubmissionVersion.__table__.select().with_only_columns(
            SubmissionVersion.proposal_id, SubmissionVersion.id))}
        conn.execute(insert(PlannedSubmission), [
            {"proposal_id": pid, "checkpoint": cp, "planned_date": today + dt.timedelta(days=(i % 3 - 1) * 30),
             "agreed_date": today + dt.timedelta(days=(i % 3 - 1) * 30) if i % 2 else None, "proposed_by": uid,
             "proposed_at": now} for i, (pid, cp) in enumerate(proposals)])
        decided = [(pid, cp) for i, (pid, cp) in enumerate(proposals) if i % 5 == 0]
        conn.execute(insert(Review), [{"proposal_id": pid, "version_id": versions[pid], "checkpoint": cp,
                                       "reviewer_id": uid, "started_at": now} for pid, cp in decided])
        reviews = {pid: rid for pid, rid in conn.execute(Review.__table__.select().with_only_columns(
            Review.proposal_id, Review.id))}
        conn.execute(insert(Decision), [{"review_id": reviews[pid], "proposal_id": pid, "checkpoint": cp,
                                         "outcome": "approved_with_conditions", "rationale": "Sound.", "by": uid,
                                         "at": now} for pid, cp in decided])
        conn.execute(insert(Rating), [{"review_id": reviews[pid], "domain": d, "rating": r}
                                      for pid, _ in decided for d, r in zip(
                                          ("capitalisation", "transparency", "service_scope", "relationships",
                                           "governance"), ("green", "amber", "green", "red", "green"))])
        conn.execute(insert(Condition), [{"proposal_id": pid, "review_id": reviews[pid], "checkpoint": cp,
                                          "text": "Publish the register", "owner": "gov@nhs.net",
                                          "due_date": today, "status": "open"} for pid, cp in decided])
    # a submission in the history for half the proposals, through the ORM so each event joins the chain of hashes
    from sqlmodel import Session

    with Session(engine) as s, s.begin():
        s.add_all(AuditEvent(proposal_id=pid, action=AuditKind.SUBMITTED, actor="alice", from_state="draft",
                             to_state="submitted", checkpoint=cp, at=now + dt.timedelta(seconds=1))
                  for i, (pid, cp) in enumerate(proposals) if i % 2 == 0)


def bench_national() -> list[dict]:
    from benchmarks.store import _best, populate
    from isap.review.service import Service
    from isap.store.db import engine_for
    from tests.timing import cpu_best

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        targets = [("SQLite", f"sqlite:///{Path(tmp) / 'bench.db'}")]
        pg = None
        try:
            from tests.pgserver import PostgresUnavailable, create_database, temporary_server

            pg = temporary_server()
            server = pg.__enter__()
            targets.append(("PostgreSQL", create_database(server, "bench_national")))
        except (ImportError, PostgresUnavailable) as exc:  # pragma: no cover - reported in the table
            rows.append({"benchmark": "national view, PostgreSQL", "note": f"skipped: {exc}"})
        try:
            for label, url in targets:
                populate(url)
                enrich(url)
                svc = Service(engine_for(url))
                assert len(svc.national_view("rita")) == 10_000
                t_queue = _best(lambda: svc.review_queue("rita"))
                t_national = _best(lambda: svc.national_view("rita"))
                row = {"benchmark": f"national view (reviewer, all 10,000), {label}",
                       "reference": "review queue, same run", "reference_s": round(t_queue, 3),
                       "measured_s": round(t_national, 3), "ratio": round(t_national / t_queue, 2)}
                if label == "SQLite":
                    # SQLite works in this process, so its processor time is the whole of both, and holds on a
                    # machine others are using better than the time on the clock does
                    row["cpu_ratio"] = round(cpu_best(lambda: svc.national_view("rita"), repeat=5)
                                             / cpu_best(lambda: svc.review_queue("rita"), repeat=5), 2)
                rows.append(row)
        finally:
            if pg is not None:
                pg.__exit__(None, None, None)
    return rows


if __name__ == "__main__":
    for row in bench_national():
        print(row)

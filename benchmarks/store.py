"""Store, ingest and dashboard benchmarks (see benchmarks/run.py)."""

from __future__ import annotations

import datetime as dt
import os
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert

N_PROPOSALS = 10_000
FINDINGS_PER_VERSION = 10


def populate(url: str, n: int = N_PROPOSALS) -> None:
    """10,000 proposals, one version each, 100,000 findings: bulk-inserted (this is set-up, not measured)."""
    from isap.review.service import Service
    from isap.store.db import engine_for, upgrade
    from isap.store.models import FindingRecord, Organisation, Proposal, SubmissionVersion, User

    upgrade(url)
    engine = engine_for(url)
    svc = Service(engine)
    for i in range(40):
        svc.add_organisation(f"Q{i:02d}", f"Integrated care board {i}")
    svc.add_user("rita", "reviewer", body="nhs_england")
    svc.add_user("nina", "reviewer", body="nhs_improvement")  # the review panel's second reviewer
    svc.add_user("alice", "commissioner", "Q00")
    now = dt.datetime.now(dt.timezone.utc)
    states = ["draft", "submitted", "in_review", "returned", "assured", "withdrawn"]
    with engine.begin() as conn:
        org_ids = [r[0] for r in conn.execute(Organisation.__table__.select().with_only_columns(Organisation.id))]
        uid = conn.execute(User.__table__.select().with_only_columns(User.id).where(User.username == "alice")).scalar()
        conn.execute(insert(Proposal), [
            {"reference": f"ISAP-{2000 + i // 1000:04d}-{i % 1000:03d}", "title": f"Proposal {i}",
             "organisation_id": org_ids[i % len(org_ids)], "provider_type": "NHS trust", "checkpoint": 1 + i % 3,
             "state": states[i % len(states)], "state_since": now - dt.timedelta(days=i % 90), "version": 1,
             "created_at": now, "updated_at": now} for i in range(n)])
        pids = [r[0] for r in conn.execute(Proposal.__table__.select().with_only_columns(Proposal.id))]
        conn.execute(insert(SubmissionVersion), [
            {"proposal_id": pid, "number": 1, "sha256": f"{pid:064x}", "filename": "w.xlsx", "size": 1000,
             "uploaded_by": uid, "uploaded_at": now, "checkpoint": 1, "errors": 1, "warnings": 1, "infos": 0,
             "catalogue_version": "bench", "policy_json": "{}", "report_json": "{}"} for pid in pids])
        vids = [r[0] for r in conn.execute(SubmissionVersion.__table__.select()
                                           .with_only_columns(SubmissionVersion.id))]
        rows = [{"version_id": vid, "rule_id": "CAP002", "severity": "error", "domain": "capitalisation",
                 "sheet": "Finance", "row": 2 + k, "column": "net_assets_gbp", "cell": f"D{2 + k}",
                 "message": "Year 1: net assets are below the committed minimum.", "source": "002 §34"}
                for vid in vids for k in range(FINDINGS_PER_VERSION)]
        for i in range(0, len(rows), 20_000):
            conn.execute(insert(FindingRecord), rows[i:i + 20_000])


def _best(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def bench_queries() -> list[dict]:
    from isap.review.service import Service
    from isap.store.db import engine_for

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        targets = [("SQLite", f"sqlite:///{Path(tmp) / 'bench.db'}")]
        pg = None
        try:
            from tests.pgserver import PostgresUnavailable, create_database, temporary_server

            pg = temporary_server()
            server = pg.__enter__()
            targets.append(("PostgreSQL", create_database(server, "bench")))
        except (ImportError, PostgresUnavailable) as exc:  # pragma: no cover - reported in the table
            rows.append({"benchmark": "PostgreSQL queries", "reference": "", "measured_s": "", "ratio": "",
                         "note": f"skipped: {exc}"})
        try:
            for label, url in targets:
                populate(url)
                svc = Service(engine_for(url))
                t_list = _best(lambda: svc.list_proposals("rita"))
                t_pipe = _best(lambda: svc.review_queue("rita"))
                t_scoped = _best(lambda: svc.list_proposals("alice"))
                for what, t in (("isap list (reviewer, all 10,000)", t_list),
                                ("pipeline view data (reviewer)", t_pipe),
                                ("isap list (one commissioner, 250)", t_scoped)):
                    rows.append({"benchmark": f"{what}, {label}", "reference": "target 0.300 s",
                                 "reference_s": 0.3, "measured_s": round(t, 3), "ratio": round(t / 0.3, 2)})
        finally:
            if pg is not None:
                pg.__exit__(None, None, None)
    return rows


def bench_ingest(n: int | None = None) -> list[dict]:
    """`assure_inbox` over n generated workbooks (default 500, ISAP_BENCH_INGEST_FILES) against a plain loop
    calling the same steps on the same files, each into a fresh database; then the same batch on a local
    Dask cluster of two worker processes."""
    from sample_submissions.proposals import clean, write

    n = n or int(os.environ.get("ISAP_BENCH_INGEST_FILES", "500"))
    if not 1 <= n <= 899:  # references ISAP-2026-100 … ISAP-2026-998
        raise SystemExit("ISAP_BENCH_INGEST_FILES must be from 1 to 899")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        inbox, warm = tmp / "inbox", tmp / "warm"
        inbox.mkdir()
        warm.mkdir()
        for i in range(n):
            write(clean(1 + i % 3, reference=f"ISAP-2026-{100 + i:03d}"), inbox / f"p{i:04d}.xlsx")
        write(clean(1, reference="ISAP-2026-001"), warm / "w.xlsx")
        os.environ.update({"PREFECT_HOME": str(tmp / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                           "PREFECT_LOGGING_LEVEL": "ERROR", "PREFECT_SERVER_UI_ENABLED": "false",
                           "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90"})

        def fresh(name: str):
            from isap.review.service import Service
            from isap.store.db import upgrade

            os.environ["ISAP_DATA_DIR"] = str(tmp / name)
            os.environ.pop("ISAP_DATABASE_URL", None)
            upgrade()
            svc = Service()
            svc.add_organisation("QUA", "Black Country ICB")
            svc.add_user("alice", "commissioner", "QUA")
            return svc

        from isap.orchestration import steps

        svc = fresh("loop")
        t = time.perf_counter()
        for f in sorted(inbox.iterdir()):
            steps.assure_in_process(svc, "alice", f.name, f.read_bytes())
        t_loop = time.perf_counter() - t

        from isap.orchestration.flows import assure_inbox, batch_task_runner

        def row(label: str, seconds: float) -> dict:
            return {"benchmark": f"ingest {n} workbooks, {label}", "reference": "plain loop over the same steps",
                    "reference_s": round(t_loop, 3), "measured_s": round(seconds, 3),
                    "ratio": round(seconds / t_loop, 2), "workbooks_per_s": round(n / seconds, 1),
                    "loop_workbooks_per_s": round(n / t_loop, 1)}

        threads = steps.batch_runner_setting("")[1]
        from isap.orchestration.dispatch import batch_rows, stage_batch

        def batch(svc, flow, folder: Path) -> list[dict]:
            keys, ids = stage_batch(svc, "alice", list(folder.iterdir()))
            flow(runs=keys)
            return batch_rows(svc, "alice", ids)

        for name, spec, label in (("threads", "", f"assure_inbox flow, {threads} threads (default)"),
                                  ("dask", "dask:2", "assure_inbox flow, Dask cluster of 2 processes")):
            os.environ["ISAP_TASK_RUNNER"] = spec
            flow = assure_inbox.with_options(task_runner=batch_task_runner(spec))
            batch(fresh(f"warmup-{name}"), flow, warm)  # Prefect's temporary server starts once
            svc = fresh(f"flow-{name}")
            t = time.perf_counter()
            out = batch(svc, flow, inbox)
            seconds = time.perf_counter() - t
            assert sum(1 for r in out if r["version"] == 1) == n, out[:3]
            rows.append(row(label, seconds))
        os.environ.pop("ISAP_TASK_RUNNER", None)
    return rows


def bench_dashboard(pages: bool = True, actions: bool = True) -> list[dict]:
    """Every dashboard page rendered by Streamlit (AppTest) over 10,000 proposals, against its target; then every
    action done on those pages (benchmarks/dashboard_actions.py), on the same database."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from isap.review.service import Service

    app = str(Path(__file__).resolve().parents[1] / "dashboards" / "app.py")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["ISAP_DATA_DIR"] = tmp
        os.environ.pop("ISAP_DATABASE_URL", None)
        from isap.store.db import database_url

        populate(database_url())
        svc = Service()
        for who in ("rita", "nina", "alice"):
            svc.set_password(who, PASSWORD)
        st.cache_resource.clear()
        # A dashboard process starts Prefect once, in the background; let that finish before timing pages.
        warm = AppTest.from_file(app, default_timeout=120)
        warm.session_state["session_token"] = svc.sign_in("rita", PASSWORD)[1]
        warm.run()
        from dashboards import resources

        resources.start_orchestration().join(180)
        rows = [_page_time(app, *case) for case in DASHBOARD_PAGES] if pages else []
        if actions:
            from benchmarks.dashboard_actions import bench_actions

            rows += bench_actions()
        return rows


def bench_dashboard_actions() -> list[dict]:
    return bench_dashboard(pages=False)


PASSWORD = "bench-password"
# (who, role, page, query, target in seconds, what): the first page after sign-in has 2 s, every other page 1 s
DASHBOARD_PAGES = [
    ("rita", "reviewer", None, {}, 2.0, "review queue, first page after sign-in"),
    ("rita", "reviewer", "views/proposal.py", {"ref": "ISAP-2004-321"}, 1.0, "proposal page by its link"),
    ("rita", "reviewer", "views/proposal.py", {"ref": "ISAP-2004-321", "tab": "History"}, 1.0,
     "proposal page, History tab"),
    ("rita", "reviewer", "views/rules.py", {}, 1.0, "rule catalogue"),
    ("alice", "commissioner", None, {}, 2.0, "My proposals (250), first page after sign-in"),
    ("alice", "commissioner", "views/proposal.py", {"ref": "ISAP-2000-040"}, 1.0, "commissioner's proposal page"),
    ("alice", "commissioner", "views/upload.py", {}, 1.0, "upload page"),
    ("alice", "commissioner", "views/template.py", {}, 1.0, "template page"),
]


def _page_time(app: str, who: str, role: str, page: str | None, query: dict, target: float, what: str,
               repeat: int = 3) -> dict:
    """Server time of one rerun of a page (AppTest), best of `repeat`, as a ratio to its target.

    The first page after sign-in is timed from the sign-in form's submit: checking the password, starting the
    session and the rerun that draws the page.  Other pages are opened in a session signed in beforehand."""
    from streamlit.testing.v1 import AppTest

    from isap.review.service import Service

    times = []
    for _ in range(repeat):
        at = AppTest.from_file(app, default_timeout=120)
        if page is None:
            at.run()
            at.text_input(key="username").input(who)
            at.text_input(key="password").input(PASSWORD)
            next(b for b in at.button if b.label == "Sign in").click()
            t = time.perf_counter()
            at.run()
        else:
            at.session_state["session_token"] = Service().sign_in(who, PASSWORD)[1]
            at.run()
            at.switch_page(page)
            at.run()
            for k, v in query.items():
                at.query_params[k] = v
            t = time.perf_counter()
            at.run()
        times.append(time.perf_counter() - t)
        assert not at.exception, at.exception
        assert not any("Something went wrong" in str(e.value) for e in at.error)
        assert at.session_state["user"] == {"username": who, "role": role}, "not signed in"
        assert not any(t.value == "ISAP assurance" for t in at.title), "still on the sign-in page"
        if query.get("ref"):
            assert any(h.value.replace("\\", "") == query["ref"] for h in at.header), query
    best = min(times)
    return {"benchmark": f"dashboard at 10,000 proposals: {what} ({who}, AppTest run)",
            "reference": f"target {target:g} s", "reference_s": target, "measured_s": round(best, 3),
            "ratio": round(best / target, 2), "median_s": round(statistics.median(times), 3)}

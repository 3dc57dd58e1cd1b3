"""One assurance policy everywhere: every way into isap applies the same isap-policy.toml.

The policy file here changes outcomes: `working_capital_months = 100` turns a
clean checkpoint-2 workbook's pass into a CAP004 error, and
`review_target_working_days = 1` makes a review that has waited a few working
days overdue.  Each path is run once with the file where that path looks for
it and shows the changed outcome.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sample_submissions.proposals import clean, write
from tests import in_process

ROOT = Path(__file__).resolve().parents[1]
POLICY = "[policy]\nworking_capital_months = 100\nreview_target_working_days = 1\n"


@pytest.fixture
def env(tmp_path, monkeypatch, migrated_sqlite):
    """An upgraded embedded database reached through the environment, and a policy file in its own folder."""
    from isap.review.service import Service
    from tests.conftest import migrated_data_dir

    monkeypatch.setenv("ISAP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("ISAP_DATABASE_URL", raising=False)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv("ISAP_POLICY", raising=False)
    monkeypatch.chdir(tmp_path)
    migrated_data_dir(migrated_sqlite, tmp_path / "data")
    svc = Service()
    svc.add_organisation("QUA", "Black Country ICB")
    svc.add_user("alice", "commissioner", "QUA")
    svc.add_user("rita", "reviewer", email="rita@england.nhs.uk")
    (tmp_path / "policy").mkdir()
    (tmp_path / "policy" / "isap-policy.toml").write_text(POLICY)
    return svc


def cp2(tmp_path: Path, reference: str = "ISAP-2026-011", name: str = "a.xlsx") -> Path:
    return write(clean(2, reference=reference), tmp_path / name)


def isap(*args: str, cwd: Path, extra: dict | None = None) -> subprocess.CompletedProcess:
    """`isap ARGS` run in this process, in the working directory `cwd` (tests.in_process)."""
    return in_process.isap(*args, cwd=cwd, env=extra)


def isap_process(*args: str, cwd: Path, extra: dict | None = None) -> subprocess.CompletedProcess:
    """`isap ARGS` as a process of its own started in `cwd`: the policy found where a real command starts."""
    environ = {**os.environ, "PYTHONPATH": str(ROOT), **(extra or {})}
    return subprocess.run([sys.executable, "-m", "isap.cli", *args], cwd=cwd, env=environ, capture_output=True,
                          text=True, timeout=300)


def cap004(service, reference: str = "ISAP-2026-011") -> list[str]:
    return [f["rule_id"] for f in service.show("alice", reference)["findings"] if f["rule_id"] == "CAP004"]


def prefect_url() -> str:
    from prefect.settings import PREFECT_API_URL

    return str(PREFECT_API_URL.value())


# ---------------------------------------------------------------------- the command line

@pytest.mark.parametrize("where", ["working directory", "--policy", "ISAP_POLICY"])
def test_cli_upload_in_process_applies_the_policy(env, tmp_path, where):
    book = cp2(tmp_path)
    folder = tmp_path / "policy"
    if where == "working directory":
        r = isap_process("upload", str(book), "--as", "alice", "-f", "json", cwd=folder)
    elif where == "--policy":
        r = isap("upload", str(book), "--as", "alice", "-f", "json", "--policy", str(folder / "isap-policy.toml"),
                 cwd=tmp_path)
    else:
        r = isap("upload", str(book), "--as", "alice", "-f", "json", cwd=tmp_path,
                 extra={"ISAP_POLICY": str(folder / "isap-policy.toml")})
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["errors"] == 1
    assert cap004(env) == ["CAP004"]
    assert env.show("alice", "ISAP-2026-011")["versions"][0]["policy"]["working_capital_months"] == 100


def test_without_a_policy_file_the_defaults_apply(env, tmp_path):
    r = isap("upload", str(cp2(tmp_path)), "--as", "alice", "-f", "json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["errors"] == 0 and cap004(env) == []


def test_cli_upload_through_the_flow_applies_the_policy(prefect_harness, env, tmp_path):
    """With a Prefect server configured, `isap upload` runs the assure_submission flow: same policy."""
    r = isap("upload", str(cp2(tmp_path)), "--as", "alice", "-f", "json", cwd=tmp_path / "policy",
             extra={"PREFECT_API_URL": prefect_url(), "PREFECT_LOGGING_LEVEL": "WARNING"})
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["errors"] == 1 and cap004(env) == ["CAP004"]
    runs = _flow_runs("assure_submission")
    assert runs, "the upload did not run as a flow"


def _flow_runs(name: str) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    with get_client(sync_client=True) as client:
        return client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[name])))


def test_cli_ingest_applies_the_policy(prefect_harness, env, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    cp2(inbox, "ISAP-2026-011", "a.xlsx")
    cp2(inbox, "ISAP-2026-012", "b.xlsx")
    r = isap("ingest", str(inbox), "--as", "alice", "-f", "json", cwd=tmp_path,
             extra={"PREFECT_API_URL": prefect_url(), "ISAP_POLICY": str(tmp_path / "policy" / "isap-policy.toml")})
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [(x["file"], x["outcome"], x["errors"]) for x in rows] == [("a.xlsx", "has errors", 1),
                                                                      ("b.xlsx", "has errors", 1)]
    assert cap004(env, "ISAP-2026-012") == ["CAP004"]


def _submitted_days_ago(service, tmp_path, working_days_ago: int) -> dt.date:
    """A proposal submitted now; the day on which it will have waited `working_days_ago` working days."""
    import numpy as np

    service.upload("alice", "c.xlsx", write(clean(1, reference="ISAP-2026-013"), tmp_path / "c.xlsx").read_bytes())
    service.submit("alice", "ISAP-2026-013")
    return np.busday_offset(np.datetime64(dt.date.today(), "D"), working_days_ago, roll="forward").astype(dt.date)


def test_cli_reminders_apply_the_policy(env, tmp_path):
    day = _submitted_days_ago(env, tmp_path, 4).isoformat()
    assert isap("reminders", "--today", day, cwd=tmp_path).stdout.strip() == "Wrote 0 reminders"
    r = isap("reminders", "--today", day, cwd=tmp_path / "policy")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "Wrote 1 reminder"
    sent = isap("notify", "send", cwd=tmp_path)
    assert sent.returncode == 0, sent.stderr
    [eml] = (tmp_path / "data" / "outbox").glob("review-overdue_ISAP-2026-013_*.eml")
    assert "has waited 4 working days" in eml.read_text()


@pytest.mark.parametrize("content, message, command", [
    ("working_capital_months = 'lots'", "working_capital_months", ("upload", "{book}")),
    ("not toml = = =", "not valid TOML", ("ingest", "{inbox}")),
    (None, "cannot read policy file", ("reminders",)),
    ("[policy]\nunknown_threshold = 3", "unknown_threshold", ("list",)),
])
def test_a_bad_policy_file_is_a_clear_message_and_exit_2(env, tmp_path, content, message, command):
    policy = tmp_path / "bad.toml"
    if content is not None:
        policy.write_text(content)
    inbox = tmp_path / "inbox"
    inbox.mkdir(exist_ok=True)
    args = [a.format(book=cp2(tmp_path), inbox=inbox) for a in command]
    if command[0] != "reminders":
        args += ["--as", "alice"]
    r = isap(*args, cwd=tmp_path, extra={"ISAP_POLICY": str(policy)})
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert message in r.stderr and "bad.toml" in r.stderr and "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1


def test_a_worker_refuses_a_bad_policy_before_serving(env, tmp_path):
    (tmp_path / "bad.toml").write_text("review_target_working_days = 0")
    r = isap("worker", "--policy", str(tmp_path / "bad.toml"), cwd=tmp_path,
             extra={"PREFECT_API_URL": "http://127.0.0.1:9/api"})
    assert r.returncode == 2 and "review_target_working_days" in r.stderr and "Traceback" not in r.stderr


# ---------------------------------------------------------------------- the flows, run directly

def test_flows_run_directly_apply_the_policy(prefect_harness, env, tmp_path, monkeypatch):
    """As on a Prefect worker: no command line, the policy named by ISAP_POLICY."""
    from isap.orchestration.flows import review_reminders, run_assure_submission
    from isap.orchestration.steps import staged_result
    from tests.test_flows import run_inbox

    monkeypatch.setenv("ISAP_POLICY", str(tmp_path / "policy" / "isap-policy.toml"))
    book = cp2(tmp_path)
    [key], [staged] = env.stage_uploads("alice", [("a.xlsx", book.read_bytes())])
    run_assure_submission(key)
    assert staged_result(env, "alice", staged).errors == 1 and cap004(env) == ["CAP004"]
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    cp2(inbox, "ISAP-2026-012", "b.xlsx")
    [row] = run_inbox(env, inbox)
    assert (row["outcome"], row["errors"]) == ("has errors", 1)
    day = _submitted_days_ago(env, tmp_path, 4)
    [reminder] = review_reminders(today=day.isoformat())
    assert reminder.startswith("review-overdue:ISAP-2026-013:")
    monkeypatch.delenv("ISAP_POLICY")
    assert review_reminders(today=(day + dt.timedelta(days=1)).isoformat()) == []


@pytest.mark.e2e  # a local Dask cluster of worker processes: tens of seconds to start
def test_an_inbox_batch_on_dask_workers_applies_the_policy(prefect_harness, env, tmp_path, monkeypatch):
    """Dask worker processes check the files: the flow hands them the policy it read."""
    from isap.orchestration.flows import assure_inbox, batch_task_runner
    from tests.test_flows import run_inbox

    monkeypatch.chdir(tmp_path / "policy")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for n in range(2):
        cp2(inbox, f"ISAP-2026-02{n}", f"d{n}.xlsx")
    rows = run_inbox(env, inbox, flow=assure_inbox.with_options(task_runner=batch_task_runner("dask:2")))
    assert [(r["outcome"], r["errors"]) for r in rows] == [("has errors", 1)] * 2


# ---------------------------------------------------------------------- the dashboard

def test_the_dashboards_service_comes_from_the_composition_root(env, tmp_path, monkeypatch):
    import streamlit as st

    from dashboards import resources

    st.cache_resource.clear()
    try:
        assert resources.service().policy.working_capital_months == 1.0
        st.cache_resource.clear()
        monkeypatch.setenv("ISAP_POLICY", str(tmp_path / "policy" / "isap-policy.toml"))
        assert resources.service().policy.working_capital_months == 100
    finally:
        st.cache_resource.clear()


def test_a_dashboard_upload_applies_the_policy(prefect_harness, env, tmp_path, monkeypatch):
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    monkeypatch.chdir(tmp_path / "policy")
    env.set_password("alice", "alice-demo")
    st.cache_resource.clear()
    try:
        at = AppTest.from_file(str(ROOT / "dashboards" / "app.py"), default_timeout=90)
        at.run()
        at.text_input(key="username").input("alice")
        at.text_input(key="password").input("alice-demo")
        at.button[0].click()
        at.run()
        at.switch_page("views/upload.py")
        at.run()
        data = cp2(tmp_path, "ISAP-2026-031", "upload.xlsx").read_bytes()
        at.file_uploader(key="uploader").set_value(
            ("upload.xlsx", data, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))
        at.run()
        assert not at.exception, at.exception
    finally:
        st.cache_resource.clear()
    assert cap004(env, "ISAP-2026-031") == ["CAP004"]


def test_a_bad_policy_file_on_the_dashboard_is_a_message_not_a_traceback(env, tmp_path, monkeypatch):
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    (tmp_path / "bad.toml").write_text("max_file_bytes = -1")
    monkeypatch.setenv("ISAP_POLICY", str(tmp_path / "bad.toml"))
    st.cache_resource.clear()
    try:
        at = AppTest.from_file(str(ROOT / "dashboards" / "app.py"), default_timeout=60)
        at.run()
    finally:
        st.cache_resource.clear()
    assert not at.exception
    shown = [e.value.replace("\\", "") for e in at.error]  # the message is escaped Markdown (dashboards.render)
    assert any("policy cannot be used" in e and "max_file_bytes" in e for e in shown), shown

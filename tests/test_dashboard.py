"""The dashboard through Streamlit's AppTest, on a real database with the demo data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

APP = str(Path(__file__).resolve().parents[1] / "dashboards" / "app.py")


@pytest.fixture
def demo_env(tmp_path, monkeypatch, prefect_harness):
    import streamlit as st

    from isap.demo import load
    from isap.store.db import upgrade
    from isap.workflow import Service

    monkeypatch.setenv("ISAP_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("ISAP_DATABASE_URL", raising=False)
    upgrade()
    load(Service())
    st.cache_resource.clear()
    yield tmp_path
    st.cache_resource.clear()


def signed_in(username: str, password: str):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.text_input(key="username").input(username)
    at.text_input(key="password").input(password)
    at.button[0].click()
    at.run()
    assert not at.exception, at.exception
    return at


def texts(at) -> str:
    parts = [m.value for m in at.markdown] + [m.value for m in at.title] + [m.value for m in at.header]
    parts += [str(m.value) for m in at.info] + [str(m.value) for m in at.success] + [str(m.value) for m in at.error]
    parts += [str(m.value) for m in at.caption] + [str(m.value) for m in at.warning]
    return "\n".join(str(p) for p in parts)


def test_wrong_password_is_refused_kindly(demo_env):
    at = signed_in("alice", "nope")
    assert "do not match" in texts(at)


def test_commissioner_sees_only_own_proposals(demo_env):
    at = signed_in("alice", "alice-demo")
    assert "My proposals" in texts(at)
    refs = set(at.dataframe[0].value["reference"])
    assert refs == {"ISAP-2026-011", "ISAP-2026-012", "ISAP-2026-013"}
    at2 = signed_in("otto", "otto-demo")
    assert set(at2.dataframe[0].value["reference"]) == {"ISAP-2026-021"}


def test_commissioner_uploads_and_sees_findings(demo_env, tmp_path):
    from sample_submissions.generate import clean, write

    at = signed_in("alice", "alice-demo")
    at.switch_page("views/upload.py")
    at.run()
    p = clean(1, reference="ISAP-2026-013", provider_type="NHS foundation trust")
    p["Cover"]["wpap_annual_value_gbp"] = 10
    data = write(p, tmp_path / "walsall-v2.xlsx").read_bytes()
    at.file_uploader(key="uploader").set_value(
        ("walsall-v2.xlsx", data, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))
    at.run()
    assert not at.exception, at.exception
    out = texts(at)
    assert "ISAP-2026-013 saved as version 2: 1 error(s)" in out
    tables = [t.value for t in at.dataframe]
    assert any("CAP010" in set(t.get("rule_id", [])) for t in tables)
    assert "could not be reached" not in out
    # The upload ran as an assure_submission flow run, visible in Prefect.
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["assure_submission"])))
    assert any(r.parameters.get("filename") == "walsall-v2.xlsx" and r.state.is_completed() for r in runs)


def test_commissioner_cannot_upload_for_another_organisation(demo_env, tmp_path):
    from sample_submissions.generate import clean, write

    at = signed_in("otto", "otto-demo")
    at.switch_page("views/upload.py")
    at.run()
    data = write(clean(1, reference="ISAP-2026-099"), tmp_path / "x.xlsx").read_bytes()
    at.file_uploader(key="uploader").set_value(("x.xlsx", data, "application/octet-stream"))
    at.run()
    assert "not your organisation" in texts(at)


def test_reviewer_pipeline_and_rules(demo_env):
    at = signed_in("rita", "rita-demo")
    assert "Pipeline" in texts(at)
    table = at.dataframe[0].value
    assert set(table["reference"]) == {"ISAP-2026-011", "ISAP-2026-012", "ISAP-2026-013", "ISAP-2026-021"}
    at.switch_page("views/rules.py")
    at.run()
    rules = at.dataframe[0].value
    assert {"CAP001", "REL012", "WB001"} <= set(rules["id"])


def test_reviewer_takes_and_decides_through_the_page(demo_env):
    from isap.workflow import Service

    at = signed_in("rita", "rita-demo")
    at.switch_page("views/proposal.py")
    at.run()
    at.selectbox(key="proposal_pick").select("ISAP-2026-011")
    at.run()
    next(b for b in at.button if b.label == "Take into review").click()
    at.run()
    assert Service().show("rita", "ISAP-2026-011")["state"] == "in_review"
    for dom in ("capitalisation", "transparency", "service_scope", "relationships", "governance"):
        at.selectbox(key=f"rating-{dom}").select("green")
    at.selectbox(key="outcome").select("approved")
    at.text_area(key="rationale").input("Meets the strategic case.")
    next(b for b in at.button if b.label == "Record decision").click()
    at.run()
    assert not at.exception, at.exception
    shown = Service().show("rita", "ISAP-2026-011")
    assert (shown["state"], shown["checkpoint"]) == ("draft", 2)


def test_decision_without_ratings_is_refused_with_the_reason(demo_env):
    at = signed_in("rita", "rita-demo")
    at.switch_page("views/proposal.py")
    at.run()
    at.selectbox(key="proposal_pick").select("ISAP-2026-021")
    at.run()
    at.text_area(key="rationale").input("Too early.")
    next(b for b in at.button if b.label == "Record decision").click()
    at.run()
    assert "missing: capitalisation" in texts(at)
    _ = os

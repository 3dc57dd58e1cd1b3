"""The dashboard through Streamlit's AppTest, on a real database with the demo data."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.panel import decide, take
from tests.test_dashboard_e2e import IN_PROCESS as IN_PROCESS_CAPTION

APP = str(Path(__file__).resolve().parents[1] / "dashboards" / "app.py")


@pytest.fixture
def demo_env(tmp_path, monkeypatch, prefect_harness, demo_sqlite):
    """The embedded store of ISAP_DATA_DIR holding the demo data: this test's own copy of the session's."""
    import streamlit as st

    from tests.conftest import copy_sqlite

    monkeypatch.setenv("ISAP_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("ISAP_DATABASE_URL", raising=False)
    copy_sqlite(demo_sqlite, tmp_path / "isap.db")
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
    return read("\n".join(str(p) for p in parts))


def read(markdown: str) -> str:
    """What a reader sees of Markdown source built by dashboards.render: escapes resolved, word joiners gone."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown).replace("\u2060", "")


def test_wrong_password_is_refused_kindly(demo_env):
    at = signed_in("alice", "nope")
    assert "do not match" in texts(at)


def test_commissioner_sees_only_own_proposals(demo_env):
    at = signed_in("alice", "alice-demo")
    assert "My proposals" in texts(at)
    refs = set(at.dataframe[0].value["Reference"])
    assert refs == {"ISAP-2026-011", "ISAP-2026-012", "ISAP-2026-013"}
    at2 = signed_in("otto", "otto-demo")
    assert set(at2.dataframe[0].value["Reference"]) == {"ISAP-2026-021", "ISAP-2026-022"}


def on_upload_page(username: str = "alice", password: str = "alice-demo"):
    at = signed_in(username, password)
    at.switch_page("views/upload.py")
    at.run()
    return at


def test_an_upload_while_orchestration_starts_is_kept_and_says_so_plainly(demo_env, tmp_path, monkeypatch):
    """Before Prefect answers, an upload is checked in-process: saved, the same result, and one plain line that
    says so in a commissioner's words (no orchestrators, nothing to do)."""
    from isap.orchestration import dispatch
    from sample_submissions.proposals import clean, write

    monkeypatch.setattr(dispatch, "orchestration_problem", lambda wait=True: dispatch.STILL_STARTING)
    at = on_upload_page()
    upload(at, "new.xlsx", write(clean(1, reference="ISAP-2026-040"), tmp_path / "new.xlsx").read_bytes())
    out = texts(at)
    assert "ISAP-2026-040 saved as version 1: 0 errors, 0 warnings." in out
    [caption] = [read(c.value) for c in at.caption if IN_PROCESS_CAPTION in read(c.value)]
    assert caption == ("Checked at once, without waiting for the background service (it is starting up or not "
                       "answering). Your upload is saved, and the result is the same.")
    assert at.session_state["last_upload"].as_flow is False


def test_a_file_that_cannot_be_annotated_is_no_alarm_in_the_log(demo_env, monkeypatch):
    """A text file named .xlsx: the page says no marked copy can be made; the log notes it without a traceback,
    since it is an expected outcome, not a fault of the dashboard."""
    import logging

    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):  # on the dashboard's own logger: Prefect's logging set-up replaces the root's
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("isap.dashboard")
    keep = Keep()
    logger.addHandler(keep)
    monkeypatch.setattr(logger, "level", logging.INFO)
    try:
        at = on_upload_page()
        upload(at, "notes.xlsx", b"name,value\nx,1\n" * 20, "text/csv")
    finally:
        logger.removeHandler(keep)
    assert any("cannot be made for this file" in read(c.value) for c in at.caption)
    mine = [r for r in records if "notes.xlsx" in r.getMessage()]
    assert mine and all(r.levelno < logging.WARNING and r.exc_info is None for r in mine), \
        [(r.levelname, r.getMessage()) for r in mine]


def test_the_file_of_an_earlier_version_again_is_not_shown_as_clean(demo_env, tmp_path):
    """Version 1 clean, version 2 with an error, then version 1's file again: no new version, and the page says
    version 2 is still the latest, in amber, rather than a green "identical to version 1: 0 errors"."""
    from sample_submissions.proposals import clean, write

    first = write(clean(1, reference="ISAP-2026-041"), tmp_path / "v1.xlsx").read_bytes()
    broken = clean(1, reference="ISAP-2026-041")
    broken["Cover"]["wpap_annual_value_gbp"] = 10
    second = write(broken, tmp_path / "v2.xlsx").read_bytes()
    at = on_upload_page()
    for name, data in (("v1.xlsx", first), ("v2.xlsx", second), ("v1-again.xlsx", first)):
        upload(at, name, data)
    said = ("ISAP-2026-041 is identical to version 1, an earlier version: nothing new was kept, and version 2 is "
            "still the latest.")
    assert [read(w.value) for w in at.warning] == [said]
    assert not [s for s in at.success if "ISAP-2026-041" in read(s.value)]


def test_commissioner_uploads_and_sees_findings(demo_env, tmp_path):
    from sample_submissions.proposals import clean, write

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
    assert "ISAP-2026-013 saved as version 2: 1 error," in out
    # coloured by outcome: a version with errors is red, never a green "saved"
    assert any("saved as version 2: 1 error," in read(e.value) for e in at.error)
    assert not any("saved as version" in read(s.value) for s in at.success)
    tables = [t.value for t in at.dataframe]
    assert any("CAP010" in set(t.get("Rule", [])) for t in tables)
    # CAP010 cites 001 §28: shown by the document's title, not the seed file name
    cap010 = next(t for t in tables if "CAP010" in set(t.get("Rule", [])))
    assert set(cap010["Source"]) == {"GP participation in an Integrated Care Provider: ICP Contract Package "
                                     "(NHS England and NHS Improvement, 2019) §28"}
    assert IN_PROCESS_CAPTION not in out
    # The upload ran as an assure_submission flow run, visible in Prefect, which holds its run key and no name.
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName
    from sqlalchemy import text

    from isap.composition import service

    with service().engine.connect() as conn:
        key = conn.execute(text("SELECT run_key FROM staged_upload WHERE id = :i"),
                           {"i": at.session_state["last_upload"].staged_id}).scalar()
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["assure_submission"])))
    assert any(r.parameters == {"staging": key} and r.state.is_completed() for r in runs)
    assert not any("walsall" in str(r.parameters) or "alice" in str(r.parameters) for r in runs)


def test_commissioner_cannot_upload_for_another_organisation(demo_env, tmp_path):
    from sample_submissions.proposals import clean, write

    at = signed_in("otto", "otto-demo")
    at.switch_page("views/upload.py")
    at.run()
    data = write(clean(1, reference="ISAP-2026-099"), tmp_path / "x.xlsx").read_bytes()
    at.file_uploader(key="uploader").set_value(("x.xlsx", data, "application/octet-stream"))
    at.run()
    assert "not your organisation" in texts(at)


def test_reviewer_pipeline_and_rules(demo_env):
    at = signed_in("rita", "rita-demo")
    assert "Review queue" in texts(at)
    table = at.dataframe[0].value
    # the work waiting by default: submitted and in review, and what is late against its planned submission
    assert set(table["Reference"]) == {"ISAP-2026-011", "ISAP-2026-021", "ISAP-2026-022", "ISAP-2026-013"}
    # plain words, key columns first, the demo's overdue review first and marked
    assert list(table.columns[:6]) == ["Reference", "State", "Working days waiting", "Overdue", "Late", "Reviewer"]
    assert table.iloc[0]["Reference"] == "ISAP-2026-011" and "OVERDUE" in table.iloc[0]["Overdue"]
    assert set(table["State"]) == {"Submitted", "In review", "Draft"}
    assert "LATE" in table.set_index("Reference").loc["ISAP-2026-013", "Late"]
    at.toggle(key="f_late").set_value(False)
    at.run()
    assert set(at.dataframe[0].value["Reference"]) == {"ISAP-2026-011", "ISAP-2026-021", "ISAP-2026-022"}
    at.switch_page("views/rules.py")
    at.run()
    rules = at.dataframe[0].value
    assert {"CAP001", "REL012", "WB001"} <= set(rules["Rule"])
    assert "service_scope" not in set(rules["Domain"]) and "Service scope" in set(rules["Domain"])
    # sources by document title, never by seed file name
    sources = dict(zip(rules["Rule"], rules["Source"]))
    assert sources["CAP002"].startswith("Contracting arrangements for integrated care providers")
    assert not any(".txt" in s for s in sources.values())


def test_a_reviewer_pair_decides_through_the_pages(demo_env):
    """rita declares, takes and proposes; the decision waits in nina's queue; nina declares and countersigns."""
    from isap.review.service import Service

    at = signed_in("rita", "rita-demo")
    at.switch_page("views/proposal.py")
    at.run()
    at.selectbox(key="proposal_pick").select("ISAP-2026-011")
    at.run()
    take = next(b for b in at.button if b.label == "Take into review")
    assert take.disabled  # a declaration of interests comes first
    next(b for b in at.button if b.label == "Declare").click()
    at.run()
    next(b for b in at.button if b.label == "Take into review").click()
    at.run()
    assert Service().show("rita", "ISAP-2026-011")["state"] == "in_review"
    assert at.selectbox(key="outcome").value is None  # no default outcome
    for dom in ("capitalisation", "transparency", "service_scope", "relationships", "governance"):
        assert at.selectbox(key=f"rating-{dom}").options == ["Red", "Amber", "Green"]
        at.selectbox(key=f"rating-{dom}").set_value("green")
    at.selectbox(key="outcome").set_value("approved")
    at.text_area(key="rationale").input("Meets the strategic case.")
    next(b for b in at.button if b.label == "Propose decision").click()
    at.run()
    assert not at.exception, at.exception
    shown = Service().show("rita", "ISAP-2026-011")
    assert shown["state"] == "in_review" and shown["panel"]["waiting_for_countersignature"]
    assert "Waiting for countersignature: Rita Shah, Senior Assurance Lead proposed Approved" in texts(at)
    assert "Lead reviewer: Rita Shah, Senior Assurance Lead" in texts(at)  # named as letters name reviewers

    nina = signed_in("nina", "nina-demo")
    nina.switch_page("views/review_queue.py")
    nina.run()
    assert not nina.exception, nina.exception
    assert "Waiting for countersignature" in [h.value for h in nina.subheader]
    assert any("ISAP-2026-011" in read(link.label) for link in nina.page_link)
    nina.switch_page("views/proposal.py")
    nina.run()
    nina.selectbox(key="proposal_pick").select("ISAP-2026-011")
    nina.run()
    assert next(b for b in nina.button if b.label == "Countersign the decision").disabled  # not declared yet
    next(b for b in nina.button if b.label == "Declare").click()
    nina.run()
    next(b for b in nina.button if b.label == "Countersign the decision").click()
    nina.run()
    assert not nina.exception, nina.exception
    shown = Service().show("rita", "ISAP-2026-011")
    assert (shown["state"], shown["checkpoint"]) == ("draft", 2)
    assert shown["reviews"][-1]["decision"]["countersigned_by"] == "Nina Okafor, Deputy Director of Assurance"


def test_the_proposal_page_shows_the_contact_and_how_it_changed(demo_env, tmp_path):
    from isap.review.service import Service
    from sample_submissions.proposals import clean, write

    svc, ref = Service(), "ISAP-2026-098"
    for n, contact in enumerate(("icp.programme@nhs.net", "new.lead@nhs.net"), start=1):
        p = clean(1, reference=ref)
        p["Cover"]["contact_email"] = contact
        p["Cover"]["proposal_title"] = f"Dudley integrated care provider, revision {n}"
        svc.upload("alice", f"v{n}.xlsx", write(p, tmp_path / f"v{n}.xlsx").read_bytes())
    at = signed_in("rita", "rita-demo")
    at.switch_page("views/proposal.py")
    at.run()
    at.selectbox(key="proposal_pick").select(ref)
    at.run()
    assert not at.exception, at.exception
    shown = texts(at)
    assert "Contact: new.lead@nhs.net" in shown
    assert "version 2 changed the contact from icp.programme@nhs.net to new.lead@nhs.net" in shown
    history = at.dataframe[-1].value
    assert "Contact changed" in set(history["What"])


def test_decision_without_ratings_is_refused_with_the_reason(demo_env):
    from isap.review.service import Service
    from tests.panel import take

    take(Service(), "rita", "ISAP-2026-011")
    at = signed_in("rita", "rita-demo")
    at.switch_page("views/proposal.py")
    at.run()
    at.selectbox(key="proposal_pick").select("ISAP-2026-011")
    at.run()
    at.text_area(key="rationale").input("Too early.")
    next(b for b in at.button if b.label == "Propose decision").click()
    at.run()
    assert "[Choose the outcome](#decision-outcome)" in texts(at)
    at.selectbox(key="outcome").set_value("halted")
    next(b for b in at.button if b.label == "Propose decision").click()
    at.run()
    assert "Rate Capitalisation, Transparency, Service scope" in texts(at)
    _ = os


# ---------------------------------------------------------------------------- inert text
HOSTILE = "![x](http://127.0.0.1:9/beacon) [click](https://evil.example) <img src=x> www.evil.example a@evil.example"


def test_md_escapes_every_markdown_and_html_construct():
    from markdown_it import MarkdownIt

    from dashboards.render import fmt, md

    parser = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    for raw in (HOSTILE, "**bold** _it_ `code` ~~s~~ :red[x] $x^2$ # h\n- item\n1. one\n> quote\n    code\n---",
                "<script>alert(1)</script>", "&lt;b&gt;", "javascript:alert(1)", "\\![x](y)"):
        html = parser.render(md(raw))
        assert "<a" not in html and "<img" not in html and "<script" not in html, (raw, html)
        for tag in ("<strong", "<em", "<code", "<h1", "<li", "<blockquote", "<pre", "<hr", "<s>", "<del"):
            assert tag not in html, (raw, tag, html)
    # GitHub-flavoured linkifiers match bare URLs, www. names and e-mail addresses in text after escapes are
    # resolved: none of those patterns may survive.
    unescaped = re.sub(r"\\\\(.)", r"\\1", md(HOSTILE))
    assert "http" in unescaped and not re.search(r"(?i)https?://|www\\.|@\\w", unescaped), unescaped
    # What a reader sees is the text itself (the word joiner is invisible).
    shown = MarkdownIt("commonmark").render(md("a_b*c* [l](u) 1.5 50%")).replace("\u2060", "")
    assert "a_b*c* [l](u) 1.5 50%" in shown
    assert fmt("**{}** said {t}", "a*b", t="[x](y)") == "**a\\*b** said \\[x\\]\\(y\\)"
    assert md("x" * 5000).endswith("…") and len(md("x" * 5000)) < 2100
    assert md(None) == ""


def test_every_table_shows_bidirectional_controls_as_code_points():
    """A right-to-left override in a proposal's title reordered the text around it in the dashboard's tables (My
    proposals, the review queue, file names, outbox subjects, sign-in names): every table goes through
    `widgets.table`, which shows each control as its code point, as the report, the PDFs and the mail do."""
    import ast

    import pandas as pd

    import dashboards.widgets as widgets
    from dashboards.render import plain

    shown = []
    real = widgets.st.dataframe
    try:
        widgets.st.dataframe = lambda frame, **kw: shown.append(frame)
        widgets.table(pd.DataFrame([{"Title": "Dudley \u202eredivorp\u202c care", "Rows": 3}]))
    finally:
        widgets.st.dataframe = real
    assert shown[0].iloc[0].to_dict() == {"Title": "Dudley ⟨U+202E⟩redivorp⟨U+202C⟩ care", "Rows": 3}
    assert plain("a \u2066b\u2069") == "a ⟨U+2066⟩b⟨U+2069⟩"
    direct = []
    for path in sorted(Path(APP).parent.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "dataframe":
                direct.append(f"{path.name}:{node.lineno}")
    assert len(direct) == 1 and direct[0].startswith("widgets.py:"), direct


def test_no_page_interpolates_text_into_markdown():
    """Every string that reaches a Markdown-interpreting call is a literal or built by render.fmt/md."""
    import ast

    interpreting = {"markdown", "write", "caption", "info", "success", "warning", "error", "toast", "expander",
                    "metric", "header", "subheader", "title", "tabs", "button", "form_submit_button",
                    "download_button", "text_area", "text_input", "selectbox", "multiselect", "checkbox", "slider",
                    "spinner"}
    root = Path(APP).parent
    bad = []

    constants: set[str] = set()  # the module's own names bound to inert values (TAB_NAMES = ("Findings", …))

    def inert(arg) -> bool:
        if isinstance(arg, ast.Constant):
            return True
        if isinstance(arg, ast.Name):
            return arg.id in constants
        if isinstance(arg, (ast.List, ast.Tuple)):
            return all(inert(e) for e in arg.elts)
        if isinstance(arg, ast.IfExp):
            return inert(arg.body) and inert(arg.orelse)
        if isinstance(arg, ast.Call):
            name = arg.func.id if isinstance(arg.func, ast.Name) else getattr(arg.func, "attr", "")
            return name in ("fmt", "md", "int", "len") or (name in ("list", "tuple") and len(arg.args) == 1
                                                          and not arg.keywords and inert(arg.args[0]))
        return False

    for path in sorted(root.rglob("*.py")):
        if path.name == "render.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        constants.clear()
        bound = [(t.id, n.value) for n in tree.body if isinstance(n, ast.Assign) for t in n.targets
                 if isinstance(t, ast.Name)]
        names = [name for name, _ in bound]
        constants.update(name for name, value in bound if names.count(name) == 1 and inert(value))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in interpreting):
                continue
            if isinstance(node.func.value, ast.Name) and node.func.value.id in ("log", "logger", "logging"):
                continue
            for arg in list(node.args[:2 if node.func.attr == "metric" else 1]) + \
                    [k.value for k in node.keywords if k.arg in ("label", "body", "value")]:
                if not inert(arg):
                    bad.append(f"{path.name}:{node.lineno} {node.func.attr}")
    assert not bad, "outside text may reach Markdown unescaped (use render.fmt): " + ", ".join(bad)


@pytest.fixture
def hostile_proposal(demo_env, tmp_path):
    """A proposal whose title, comments, condition, answer and rationale are all hostile Markdown."""
    from isap.review.service import ConditionInput, Service
    from sample_submissions.proposals import clean, write

    svc = Service()
    p = clean(1, reference="ISAP-2026-077")
    p["Cover"]["proposal_title"] = "T " + HOSTILE
    svc.upload("alice", "evil ![f](http://127.0.0.1:9/f).xlsx", write(p, tmp_path / "h.xlsx").read_bytes())
    svc.comment("alice", "ISAP-2026-077", "C " + HOSTILE)
    svc.submit("alice", "ISAP-2026-077")
    take(svc, "rita", "ISAP-2026-077")
    ratings = dict.fromkeys(("capitalisation", "transparency", "service_scope", "relationships", "governance"),
                            "green")
    import datetime as dt

    decide(svc, "rita", "ISAP-2026-077", "approved_with_conditions", ratings, "R " + HOSTILE,
               [ConditionInput("K " + HOSTILE, "O [o](http://evil.example)", dt.date(2030, 1, 1))])
    cond = svc.show("alice", "ISAP-2026-077")["conditions"][0]["id"]
    svc.answer_condition("alice", "ISAP-2026-077", cond, "A " + HOSTILE)
    return "ISAP-2026-077"


def rendered_strings(at) -> list[str]:
    """Every string of the page that Streamlit may interpret as Markdown."""
    out = [str(e.value) for kind in ("markdown", "caption", "info", "success", "warning", "error", "title",
                                     "header", "subheader", "toast") for e in getattr(at, kind)]
    out += [e.label for e in at.expander] + [e.label for e in at.button] + [e.label for e in at.tabs]
    out += [str(x) for m in at.metric for x in (m.label, m.value)]
    return out


@pytest.mark.parametrize("who", [("rita", "rita-demo"), ("alice", "alice-demo")])
def test_hostile_text_is_shown_escaped_on_the_proposal_page(hostile_proposal, who):
    from dashboards.render import md

    at = signed_in(*who)
    at.switch_page("views/proposal.py")
    at.run()
    at.selectbox(key="proposal_pick").select(hostile_proposal)
    at.run()
    assert not at.exception, at.exception
    shown = rendered_strings(at)
    joined = "\n".join(shown)
    unescaped = re.findall(r"(?<!\\)(?:\]\(|<img|!\[)", joined)
    assert not unescaped, unescaped
    for prefix in ("T ", "C ", "R ", "K ", "A "):
        assert md(prefix + HOSTILE) in joined, prefix


# ---------------------------------------------------------------------------- uploads and failures
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def rezip(data: bytes, replace: dict[str, bytes] | None = None) -> bytes:
    """The same workbook with its parts stored uncompressed (so equal-length edits keep the size), some replaced."""
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            body = (replace or {}).get(info.filename, src.read(info.filename))
            dst.writestr(zipfile.ZipInfo(info.filename, date_time=(2026, 1, 1, 0, 0, 0)), body)
    return out.getvalue()


def workbook(tmp_path, title: str, errors: bool = False) -> bytes:
    from sample_submissions.proposals import clean, write

    p = clean(1, reference="ISAP-2026-013", provider_type="NHS foundation trust")
    p["Cover"]["proposal_title"] = title
    if errors:
        p["Cover"]["wpap_annual_value_gbp"] = 10
    return rezip(write(p, tmp_path / "w.xlsx").read_bytes())


def upload(at, name: str, data: bytes, kind: str = XLSX):
    """Drop a file on the upload page and let the page run, as the browser does; the page's texts."""
    at.file_uploader(key="uploader").set_value((name, data, kind))
    at.run()
    assert not at.exception, at.exception
    return texts(at)


def no_traceback(out: str) -> None:
    for leak in ("Traceback", 'File "/', "site-packages", "Error:", ".py"):
        assert leak not in out, (leak, out)


def test_changed_content_of_the_same_name_and_size_is_a_new_upload(demo_env, tmp_path):
    from isap.review.service import Service

    first, second = workbook(tmp_path, "Walsall title AAAA"), workbook(tmp_path, "Walsall title BBBB")
    assert len(first) == len(second) and first != second
    at = signed_in("alice", "alice-demo")
    at.switch_page("views/upload.py")
    at.run()
    assert "saved as version 2" in upload(at, "walsall.xlsx", first)
    assert "saved as version 3" in upload(at, "walsall.xlsx", second)
    versions = Service().show("alice", "ISAP-2026-013")["versions"]
    assert [v["number"] for v in versions] == [1, 2, 3]
    assert Service().show("alice", "ISAP-2026-013")["title"] == "Walsall title BBBB"


def test_upload_larger_than_the_policy_allows_is_refused_clearly(demo_env, tmp_path, monkeypatch):
    import hashlib

    import streamlit as st

    from isap.review.service import Service

    monkeypatch.chdir(tmp_path)
    (tmp_path / "isap-policy.toml").write_text("[policy]\nmax_file_bytes = 4096\n", encoding="utf-8")
    st.cache_resource.clear()
    data = workbook(tmp_path, "Too big")
    assert len(data) > 4096
    at = signed_in("alice", "alice-demo")
    at.switch_page("views/upload.py")
    at.run()
    out = upload(at, "big.xlsx", data)
    assert "larger than the 4 KB a workbook may be" in out and "Nothing was kept" in out
    assert not Service().sha_known(hashlib.sha256(data).hexdigest())


def test_workbook_with_unreadable_core_properties_shows_no_traceback(demo_env, tmp_path):
    data = workbook(tmp_path, "Broken properties", errors=True)
    data = rezip(data, {"docProps/core.xml": b"<<< this is not XML"})
    at = signed_in("alice", "alice-demo")
    at.switch_page("views/upload.py")
    at.run()
    out = upload(at, "broken-core.xlsx", data)
    no_traceback(out)
    assert re.search(r"\d+ errors?,", out)


def test_an_unexpected_failure_is_a_plain_message(demo_env, monkeypatch):
    from isap.review.service import Service

    def broken(self, *args, **kwargs):
        raise RuntimeError("secret detail at /srv/isap/internal.py line 12")

    monkeypatch.setattr(Service, "list_proposals", broken)
    at = signed_in("alice", "alice-demo")
    assert not at.exception, at.exception
    out = texts(at)
    assert "Something went wrong on this page" in out
    assert "secret detail" not in out
    no_traceback(out)


# ---------------------------------------------------------------------------- the state machine decides
def proposal(at, ref: str):
    at.switch_page("views/proposal.py")
    at.run()
    at.selectbox(key="proposal_pick").select(ref)
    at.run()
    assert not at.exception, at.exception
    return at


def test_submit_is_disabled_with_the_reason_when_the_latest_version_has_errors(demo_env):
    from isap.review.lifecycle import Action
    from isap.review.service import Service

    at = proposal(signed_in("alice", "alice-demo"), "ISAP-2026-013")
    [submit] = [b for b in at.button if b.label.startswith("Submit for checkpoint")]
    [option] = [o for o in Service().allowed_actions("alice", "ISAP-2026-013") if o.action is Action.SUBMIT]
    assert not option.allowed and "error finding" in option.reason
    assert submit.disabled and read(submit.help) == option.reason
    assert f"Submit: {option.reason}" in texts(at)
    # the banner says what blocks and who must act
    # (the demo's reviewer has waived one of its two errors)
    assert "you must fix the 1 error finding of version 1" in read(at.info[0].value)
    withdraw = next(b for b in at.button if b.label == "Withdraw proposal")
    assert not withdraw.disabled


def test_withdrawing_asks_for_a_reason_and_a_confirmation_apart_from_submit(demo_env):
    """Withdrawing cannot be undone: the button is folded away from Submit, and nothing happens until a reason
    (kept in the history) is given and the permanence confirmed; both missing parts are said at once."""
    from isap.review.events import AuditKind
    from isap.review.service import Service

    at = proposal(signed_in("alice", "alice-demo"), "ISAP-2026-013")
    [fold] = [e for e in at.expander if e.label == "Withdraw this proposal"]
    assert any(b.label == "Withdraw proposal" for b in fold.button)  # inside the fold, not beside Submit
    next(b for b in at.button if b.label == "Withdraw proposal").click()
    at.run()
    assert Service().show("alice", "ISAP-2026-013")["state"] != "withdrawn"
    assert "Nothing was withdrawn: give the reason for withdrawing and confirm that it cannot be reopened." in \
        [read(e.value) for e in at.error]
    at.text_area(key="withdraw-reason").input("The two ICBs will submit one joint proposal instead.")
    at.checkbox(key="withdraw-sure").check()
    next(b for b in at.button if b.label == "Withdraw proposal").click()
    at.run()
    d = Service().show("alice", "ISAP-2026-013")
    assert d["state"] == "withdrawn"
    reason = "The two ICBs will submit one joint proposal instead."
    assert any(h["action"] == AuditKind.WITHDRAWN and h["reason"] == reason for h in d["history"]), d["history"]


def test_the_sandwell_banner_names_the_reviewer_and_the_open_condition(demo_env):
    from isap.review.service import Service

    [cond] = Service().show("rita", "ISAP-2026-012")["conditions"]
    at = proposal(signed_in("alice", "alice-demo"), "ISAP-2026-012")
    banner = read(at.info[0].value)
    assert f"a reviewer must discharge or carry forward condition {cond['id']}" in banner, banner
    assert "Upload a clean workbook" not in banner
    at = proposal(signed_in("rita", "rita-demo"), "ISAP-2026-012")
    assert f"you must discharge or carry forward condition {cond['id']}" in read(at.info[0].value)
    assert any(b.label == "Discharge" for b in at.button)


@pytest.mark.parametrize("button, status", [("Discharge", "discharged"), ("Carry forward", "carried_forward")])
def test_a_reviewer_closes_a_condition_either_way_with_one_click(demo_env, button, status):
    # A form sends its inputs only when it is submitted, so a choice inside it cannot relabel its button first:
    # each way of closing the condition is its own button, and the click is the choice.
    from isap.review.service import Service

    at = linked(signed_in("rita", "rita-demo"), ref="ISAP-2026-012", tab="Conditions")
    at.text_input(key="close-note-1").input("Seen the published report.")
    [clicked] = [b for b in at.button if b.label == button]
    clicked.click()
    at.run()
    assert not at.exception, at.exception
    [cond] = Service().show("rita", "ISAP-2026-012")["conditions"]
    assert (cond["status"], cond["closing_note"]) == (status, "Seen the published report.")
    assert any(read(t.value) == f"Condition 1 {status.replace('_', ' ')}." for t in at.success), at.success
    # and everyone reads the note as a note on what was done, not as a "Discharged note"
    at = linked(signed_in("alice", "alice-demo"), ref="ISAP-2026-012", tab="Conditions")
    said = {"discharged": "Note on discharging it", "carried_forward": "Note on carrying it forward"}[status]
    assert f"{said}: Seen the published report." in [read(c.value) for c in at.caption], texts(at)


@pytest.mark.parametrize("ref", ["ISAP-2026-011", "ISAP-2026-012", "ISAP-2026-013", "ISAP-2026-021",
                                 "ISAP-2026-022"])
def test_a_reviewer_never_sees_commissioner_buttons(demo_env, ref):
    at = proposal(signed_in("rita", "rita-demo"), ref)
    labels = {b.label for b in at.button}
    assert not {lab for lab in labels if lab.startswith("Submit for checkpoint")}
    assert not labels & {"Withdraw proposal", "Acknowledge", "Send answer"}, labels
    # (ISAP-2026-021 and ISAP-2026-022 are another organisation's)
    commissioner = proposal(signed_in("alice", "alice-demo"), ref) if ref.startswith("ISAP-2026-01") else None
    if commissioner is not None:
        theirs = {b.label for b in commissioner.button}
        assert not theirs & {"Take into review", "Return to commissioner", "Propose decision",
                             "Countersign the decision", "Discharge"}, theirs


def test_an_upload_for_another_checkpoint_says_so_at_once_in_the_clis_words(demo_env, tmp_path):
    from isap.review.lifecycle import checkpoint_mismatch
    from sample_submissions.proposals import clean, write

    at = signed_in("alice", "alice-demo")
    at.switch_page("views/upload.py")
    at.run()
    data = write(clean(2, reference="ISAP-2026-013", provider_type="NHS foundation trust"),
                 tmp_path / "walsall-cp2.xlsx").read_bytes()
    upload(at, "walsall-cp2.xlsx", data)
    words = checkpoint_mismatch("ISAP-2026-013", 2, 2, 1)
    # at once: the first message on the page, in red, before the result
    assert read(at.error[0].value).startswith(words[0].upper() + words[1:]), [e.value for e in at.error]
    # one message says both what happened to the file and why it cannot go further: a red box above an amber
    # "saved as version 2" left people unsure whether the upload had worked at all
    assert len(at.error) == 1 and not at.warning, ([e.value for e in at.error], [w.value for w in at.warning])
    assert "The file is kept as version 2 of ISAP-2026-013" in read(at.error[0].value), at.error[0].value
    # and nothing green says it is fine: the version cannot be submitted as it is
    assert not [s.value for s in at.success], [s.value for s in at.success]
    assert any("cannot be submitted" in read(i.value) for i in at.info), [i.value for i in at.info]


def test_an_upload_to_a_submitted_proposal_says_why_and_what_to_do(demo_env, tmp_path):
    from isap.review.lifecycle import NOT_YOUR_TURN, State
    from sample_submissions.proposals import clean, write

    at = signed_in("alice", "alice-demo")
    at.switch_page("views/upload.py")
    at.run()
    changed = clean(1, reference="ISAP-2026-011")  # the demo's submitted proposal, waiting for a reviewer
    changed["Cover"]["proposal_title"] = "Dudley integrated care provider, revised"
    out = upload(at, "dudley-v2.xlsx", write(changed, tmp_path / "dudley-v2.xlsx").read_bytes())
    refused = " ".join(read(e.value) for e in at.error)
    assert "ISAP-2026-011 is submitted; only a draft or returned proposal can be given a new version" in refused
    assert NOT_YOUR_TURN[State.SUBMITTED] in refused, refused
    assert "saved as version" not in out


# ---------------------------------------------------------------------------- links
def linked(at, **params):
    """Open the proposal page as a link would: /proposal?ref=…&tab=…"""
    at.switch_page("views/proposal.py")
    at.run()
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, at.exception
    return at


def test_a_link_opens_the_proposal_and_its_tab_and_the_address_follows(demo_env):
    at = linked(signed_in("rita", "rita-demo"), ref="ISAP-2026-012", tab="Conditions")
    assert at.selectbox(key="proposal_pick").value == "ISAP-2026-012"
    assert at.session_state["tab"] == "Conditions"
    assert "Link to this proposal, to copy and share:" in texts(at)
    assert "/proposal?ref=ISAP-2026-012" in [c.value for c in at.code]  # AppTest has no browser address
    at.selectbox(key="proposal_pick").select("ISAP-2026-011")
    at.run()
    assert dict(at.query_params) == {"ref": "ISAP-2026-011"}  # the address bar follows; the new one opens at its start
    # Download version defaults to the latest
    at = linked(at, ref="ISAP-2026-012", tab="Versions")
    [download] = [b for b in at.selectbox if b.label == "Download version"]
    assert (download.options, download.value) == (["1", "2"], 2)


def test_a_link_to_another_organisations_proposal_reads_as_an_unknown_one(demo_env):
    def shown(ref):
        at = linked(signed_in("otto", "otto-demo"), ref=ref)
        assert at.selectbox(key="proposal_pick").value is None
        return texts(at).replace(ref, "REF")

    theirs, unknown = shown("ISAP-2026-012"), shown("ISAP-2026-999")
    assert "There is no proposal REF that you can see" in theirs
    assert theirs == unknown
    assert "Sandwell" not in theirs


# ---------------------------------------------------------------------------- plain words
def test_codes_times_and_gaps_are_shown_in_plain_words():
    import datetime as dt

    import pandas as pd

    from dashboards import labels
    from isap.review.lifecycle import Outcome, Role, State

    assert [labels.code(s) for s in State] == [s.label for s in State]
    assert labels.code("approved_with_conditions") == Outcome.APPROVED_WITH_CONDITIONS.label
    assert Outcome.APPROVED_WITH_CONDITIONS.label == "Approved with conditions"
    assert labels.code("reviewer") == Role.REVIEWER.label
    assert labels.domain("service_scope") == "Service scope"
    assert labels.event("decide:approved") != "decide:approved"
    # UK time: GMT in winter, BST in summer
    assert labels.when("2026-11-23T14:05:09.876683+00:00") == "23 Nov 2026, 14:05"
    assert labels.when(dt.datetime(2026, 7, 1, 9, 30)) == "1 Jul 2026, 10:30"
    assert labels.day("2027-01-07") == "7 Jan 2027"
    assert labels.when(None) == labels.code(None) == ""
    shown, config = labels.table(pd.DataFrame([{"reference": "R", "state": "in_review", "title": None,
                                                "at": "2026-11-23T02:40:00.876683+00:00"}]),
                                 ["reference", "state", "title", "at"], codes=("state",), times=("at",))
    assert list(shown.columns) == ["Reference", "State", "Title", "When"]
    assert shown.iloc[0].tolist() == ["R", "In review", "", "23 Nov 2026, 02:40"]
    assert "None" not in shown.to_string()


def test_conditions_typed_into_the_table_editor():
    import datetime as dt

    import pandas as pd

    from dashboards.views.proposal import condition_inputs

    due = dt.date(2027, 3, 1)
    table = pd.DataFrame({"text": ["Publish the report", None], "owner": ["ICB director", None],
                          "due": [pd.Timestamp(due), pd.NaT]})
    [c] = condition_inputs(table)
    assert (c.text, c.owner, c.due_date) == ("Publish the report", "ICB director", due)
    missing = pd.DataFrame({"text": ["Publish"], "owner": [""], "due": [pd.Timestamp(due)]})
    assert condition_inputs(missing) == "Condition 1 needs an owner."  # what it lacks, not all three
    undated = pd.DataFrame({"text": ["Publish"], "owner": [None], "due": [pd.NaT]})
    assert condition_inputs(undated) == "Condition 1 needs an owner and a due date."


def test_a_half_typed_condition_is_asked_for_what_it_lacks_not_for_a_condition():
    """The summary said "Add at least one condition" and "Condition 1 needs …" at once, which contradict."""
    import pandas as pd

    from dashboards.views.proposal import condition_inputs, decision_form_problems
    from isap.review.lifecycle import AssuranceDomain, Outcome

    rated = {d.value: "green" for d in AssuranceDomain}
    half = condition_inputs(pd.DataFrame({"text": ["Publish the register"], "owner": ["ICB director"],
                                          "due": [pd.NaT]}))
    assert decision_form_problems(Outcome.APPROVED_WITH_CONDITIONS, rated, "Sound.", half) == [
        ("conditions", "Condition 1 needs a due date.")]
    assert [part for part, _ in decision_form_problems(Outcome.APPROVED_WITH_CONDITIONS, rated, "Sound.", [])] == [
        "conditions"]  # none typed: at least one is asked for


def test_demo_history_shows_an_overdue_review_a_condition_due_soon_and_states_over_time(demo_env):
    import datetime as dt

    from isap.review.service import Service

    svc = Service()
    overdue = [r["reference"] for r in svc.review_queue("rita") if r["overdue"]]
    assert overdue == ["ISAP-2026-011"]
    [cond] = svc.show("rita", "ISAP-2026-012")["conditions"]
    assert cond["id"] == 1  # numbered within its proposal
    assert 0 <= (dt.date.fromisoformat(cond["due_date"]) - dt.date.today()).days <= 14
    days = svc.states_over_time("rita")
    assert len(days) >= 5 and days[0]["day"] < days[-1]["day"]
    at = linked(signed_in("alice", "alice-demo"), ref="ISAP-2026-012", tab="Conditions")
    assert "due soon" in texts(at)


def test_an_upload_that_changes_the_title_says_so_and_the_history_records_it(demo_env, tmp_path):
    from isap.review.service import Service
    from sample_submissions.proposals import clean, write

    at = signed_in("alice", "alice-demo")
    at.switch_page("views/upload.py")
    at.run()
    p = clean(1, reference="ISAP-2026-013", provider_type="NHS foundation trust")
    p["Cover"]["proposal_title"] = "Walsall ICP, renamed"
    upload(at, "walsall-renamed.xlsx", write(p, tmp_path / "walsall-renamed.xlsx").read_bytes())
    assert "changed the proposal's title from “Walsall community and mental health ICP” to “Walsall ICP, renamed”" \
        in texts(at)
    history = Service().show("alice", "ISAP-2026-013")["history"]
    assert any(h["action"] == "title_changed" and "Walsall ICP, renamed" in h["reason"] for h in history)


def test_the_national_view_lists_filters_and_exports_every_proposal(demo_env):
    from isap.review.service import Service

    svc = Service()
    rows = {r["reference"]: r for r in svc.national_view("rita")}
    # the demo's regions and planned dates: one passed without a submission, one agreed, one waiting for agreement
    assert (rows["ISAP-2026-013"]["late"], rows["ISAP-2026-013"]["slippage_working_days"]) == (True, 2)
    assert (rows["ISAP-2026-021"]["next_planned_agreed"], rows["ISAP-2026-021"]["late"]) == (True, False)
    assert (rows["ISAP-2026-012"]["next_planned_agreed"], rows["ISAP-2026-012"]["late"]) == (False, False)
    at = signed_in("rita", "rita-demo")
    at.switch_page("views/national.py")
    at.run()
    assert not at.exception, at.exception
    frame = at.dataframe[0].value
    assert len(frame) == len(svc.list_proposals("rita"))
    assert {"Proposal", "Region", "Provider", "Contract value (£ a year)", "Last decision", "Late",
            "Slippage (working days)"} <= set(frame.columns)
    assert {"Midlands", "North East and Yorkshire"} <= set(frame["Region"]) and "⚠ LATE" in set(frame["Late"])
    at.selectbox(key="n_late").set_value("Late")
    at.run()
    assert list(at.dataframe[0].value["Proposal"]) == ["ISAP-2026-013"]
    assert {b.label for b in at.get("link_button")} >= {"Download CSV", "Download Excel"}
    assert "Where the pipeline stands" in [h.value for h in at.subheader]


def test_the_timeline_tab_plans_a_date_that_a_reviewer_agrees(demo_env):
    import datetime as dt

    from isap.review.service import Service

    ref = Service().list_proposals("alice", "draft")[0]["reference"]
    at = signed_in("alice", "alice-demo")
    at.switch_page("views/proposal.py")
    at.run()
    at.selectbox(key="proposal_pick").select(ref)
    at.run()
    cp = Service().show("alice", ref)["checkpoint"]
    # the box starts at the proposal's checkpoint, not at that of the proposal the page showed first
    assert cp > 1 and at.selectbox(key=f"plan-cp:{ref}:{cp}").value == cp
    at.date_input(key=f"plan-day:{ref}:{cp}").set_value(dt.date(2027, 3, 25))
    next(b for b in at.button if b.label == "Propose date").click()
    at.run()
    assert not at.exception, at.exception
    assert Service().timeline("alice", ref)["checkpoints"][cp - 1]["planned"] == "2027-03-25"
    at = signed_in("rita", "rita-demo")
    at.switch_page("views/proposal.py")
    at.run()
    at.selectbox(key="proposal_pick").select(ref)
    at.run()
    assert "Propose date" not in [b.label for b in at.button]
    next(b for b in at.button if b.label.startswith(f"Agree checkpoint {cp}")).click()
    at.run()
    assert not at.exception, at.exception
    assert Service().timeline("rita", ref)["checkpoints"][cp - 1]["agreed"] == "2027-03-25"


def test_the_commissioner_answers_a_query_and_the_reviewer_resolves_it_on_the_queries_tab(demo_env):
    """The demo's query on ISAP-2026-021 waits for its commissioner; the thread reads in order on the page, and
    the decision is offered, disabled with the reason, until the query is resolved."""
    from isap.review.service import Service

    at = proposal(signed_in("rita", "rita-demo"), "ISAP-2026-021")
    decide = next(b for b in at.button if b.label == "Propose decision")
    assert decide.disabled and read(decide.help) == "query 1 is still open: resolve it before deciding"

    otto = at = linked(signed_in("otto", "otto-demo"), ref="ISAP-2026-021", tab="Queries")
    assert "the proposal as a whole" in texts(at) and "Which board meeting approved" in " ".join(
        t.value for t in at.text)
    at.text_area(key="query-answer-1").input("The alliance board, on 3 March.")
    next(b for b in at.button if b.label == "Send answer").click()
    at.run()
    assert not at.exception, at.exception
    assert Service().show("rita", "ISAP-2026-021")["queries"][0]["status"] == "answered"
    at = linked(signed_in("rita", "rita-demo"), ref="ISAP-2026-021", tab="Queries")
    assert [t.value for t in at.text][-2:] == ["Which board meeting approved the alliance agreement, and when?",
                                               "The alliance board, on 3 March."]
    # people are named by their display names, never their user names
    thread = [read(c.value) for c in at.caption if c.value.startswith(("Query —", "Answer —"))]
    assert thread[0].startswith("Query — Rita Shah,") and thread[1].startswith("Answer — Otto Reid,"), thread
    at.text_area(key="query-note-1").input("Which minute?")
    next(b for b in at.button if b.label == "Follow up").click()
    at.run()
    assert not at.exception, at.exception
    assert at.text_area(key="query-note-1").value == ""  # a follow-up sent leaves an empty box
    otto.run()  # the follow-up asks again: the answer box is back, empty, not holding the first answer
    assert not otto.exception, otto.exception
    assert otto.text_area(key="query-answer-1").value == ""
    otto.text_area(key="query-answer-1").input("Minute 12.")
    next(b for b in otto.button if b.label == "Send answer").click()
    otto.run()
    assert not otto.exception, otto.exception
    at = linked(signed_in("rita", "rita-demo"), ref="ISAP-2026-021", tab="Queries")
    at.text_area(key="query-note-1").input("Seen in the minutes.")
    next(b for b in at.button if b.label == "Resolve").click()
    at.run()
    assert not at.exception, at.exception
    assert Service().show("rita", "ISAP-2026-021")["queries"][0]["status"] == "resolved"
    assert any(read(t.value) == "Query 1 resolved." for t in at.success), at.success


def test_a_waiver_is_asked_for_and_refused_through_the_findings_tab(demo_env):
    """ISAP-2026-013: the demo's granted waiver shows on its finding; the commissioner asks for a waiver of the
    other error and the reviewer refuses it, with a reason."""
    from isap.review.service import Service

    alice = at = proposal(signed_in("alice", "alice-demo"), "ISAP-2026-013")
    assert "Waived by Rita Shah" in " ".join(str(df.value.to_dict()) for df in at.dataframe)
    # the lead commissioner by the organisation's name, which people know it by, not its code
    assert "Lead commissioner: NHS Black Country Integrated Care Board (QUA)" in texts(at)
    assert "QUA" not in [m.value for m in at.metric]
    # an error blocks the submission: fixing it is the rule, and a waiver the way for an unusual but sound case
    assert "or ask for a waiver where the case is unusual but sound" in texts(at)
    at.text_area(key="waiver-reason").input("The category follows the national mapping.")
    next(b for b in at.button if b.label == "Ask for the waiver").click()
    at.run()
    assert not at.exception, at.exception
    shown = texts(at)
    assert "Asked for by Alice Morgan" in shown and "Granted by Rita Shah" in shown and "by rita" not in shown
    assert [w["status"] for w in Service().show("rita", "ISAP-2026-013")["waivers"]] == ["granted", "requested"]
    at = proposal(signed_in("rita", "rita-demo"), "ISAP-2026-013")
    at.text_area(key="ruling-2").input("The mapping does not apply to community services.")
    next(b for b in at.button if b.label == "Refuse waiver").click()
    at.run()
    assert not at.exception, at.exception
    waiver = Service().show("alice", "ISAP-2026-013")["waivers"][1]
    assert (waiver["status"], waiver["ruled_by"]) == ("refused", "rita")
    alice.run()  # refused, the finding may be asked about again: the box is back, empty, not the first reason
    assert not alice.exception, alice.exception
    assert alice.text_area(key="waiver-reason").value == ""


def test_a_waiver_request_sent_leaves_an_empty_box_for_the_next(demo_env, tmp_path):
    """Two error findings: once the first is asked about, the form stays for the second, its box empty."""
    from isap.review.service import Service
    from sample_submissions.proposals import clean, write

    bad = clean(1, "Partially integrated", "NHS foundation trust", "ISAP-2026-045")
    bad["Cover"]["wpap_annual_value_gbp"] = 10_000_000
    bad["Services"][1]["category"] = "Community services"
    Service().upload("alice", "w.xlsx", write(bad, tmp_path / "w.xlsx").read_bytes())
    at = proposal(signed_in("alice", "alice-demo"), "ISAP-2026-045")
    at.text_area(key="waiver-reason").input("The category follows the national mapping.")
    next(b for b in at.button if b.label == "Ask for the waiver").click()
    at.run()
    assert not at.exception, at.exception
    assert [w["status"] for w in Service().show("alice", "ISAP-2026-045")["waivers"]] == ["requested"]
    assert at.text_area(key="waiver-reason").value == ""


def test_an_answer_on_the_queries_tab_names_an_attached_document_and_attaches_a_new_one(demo_env):
    """ISAP-2026-021's query waits for otto: the answer names the demo's advisers' report by its short id and
    attaches a survey; the thread then lists both under the answer."""
    from isap.policy.evidence import EvidenceKind
    from isap.review.service import Service
    from sample_submissions.evidence import sample_pdf

    [report] = Service().evidence_list("otto", "ISAP-2026-021")
    at = linked(signed_in("otto", "otto-demo"), ref="ISAP-2026-021", tab="Queries")
    at.text_area(key="query-answer-1").input("The alliance board, on 3 March: see the papers.")
    at.multiselect(key="query-1-named").set_value([report["sha256"][:12]])
    at.file_uploader(key="query-1-file").set_value(("survey.pdf", sample_pdf("Survey"), "application/pdf"))
    at.selectbox(key="query-1-kind").set_value(EvidenceKind.ENGAGEMENT_REPORT)
    at.text_input(key="query-1-title").input("Resident survey")
    at.text_input(key="query-1-reference").input("Resident survey 2026")
    next(b for b in at.button if b.label == "Send answer").click()
    at.run()
    assert not at.exception, at.exception
    answer = Service().show("rita", "ISAP-2026-021")["queries"][0]["thread"][1]
    assert [x["reference"] for x in answer["documents"]] == [report["reference"], "Resident survey 2026"]
    at = linked(signed_in("rita", "rita-demo"), ref="ISAP-2026-021", tab="Queries")
    assert f"Documents: {report['title']} ({report['sha256'][:12]}…), Resident survey (" in texts(at)


def test_the_evidence_tab_lists_documents_by_checkpoint_and_the_commissioner_attaches_one(demo_env):
    """ISAP-2026-012: the demo's documents of checkpoints 1 and 2, with who attached each; the commissioner attaches
    the financial model through the form (judged in the checking child); a reviewer is offered no form."""
    from isap.policy.evidence import EvidenceKind
    from isap.review.service import Service
    from sample_submissions.evidence import sample_xlsx

    at = linked(signed_in("alice", "alice-demo"), ref="ISAP-2026-012", tab="Evidence")
    shown = texts(at) + "\n".join(h.value for h in at.subheader)
    assert "Checkpoint 1" in shown and "Checkpoint 2" in shown
    assert "ICP contract (draft)" in read(shown) and "attached by Alice Morgan, Director of Strategy" in read(shown)
    at.file_uploader(key="evidence-file").set_value(("model.xlsx", sample_xlsx(), "application/octet-stream"))
    at.selectbox(key="evidence-kind").set_value(EvidenceKind.FINANCIAL_MODEL)
    at.text_input(key="evidence-title").input("Financial model 2027-2037")
    at.text_input(key="evidence-reference").input("Financial model v3-1")
    at.selectbox(key="evidence-checkpoint").set_value(2)
    next(b for b in at.button if b.label == "Attach").click()
    at.run()
    assert not at.exception, at.exception
    assert "Attached “Financial model v3-1”." in [read(t.value) for t in at.success]  # escaped once, not twice
    # attached, the title and reference boxes are empty for the next document, not ready to attach it twice
    assert (at.text_input(key="evidence-title").value, at.text_input(key="evidence-reference").value) == ("", "")
    kept = [e for e in Service().evidence_list("rita", "ISAP-2026-012") if e["reference"] == "Financial model v3-1"]
    assert [(e["kind"], e["checkpoint"], e["type"], e["attached_by"]) for e in kept] == [
        ("financial_model", 2, "xlsx", "alice")]
    at = linked(signed_in("rita", "rita-demo"), ref="ISAP-2026-012", tab="Evidence")
    assert "Financial model 2027-2037" in read(texts(at))
    assert not any(b.label == "Attach" for b in at.button)


def test_a_document_attached_without_its_kind_chosen_is_refused_not_filed_as_a_board_paper(demo_env):
    """The kind has no default, in the Evidence tab and in a query's answer alike: a financial model attached
    without a choice was filed as a "Commissioner board paper", the first kind, and the decision letter listed it
    so.  Unchosen, nothing is attached and the page says what is missing; the boxes keep their text."""
    from isap.review.service import Service
    from sample_submissions.evidence import sample_pdf

    before = len(Service().evidence_list("alice", "ISAP-2026-012"))
    at = linked(signed_in("alice", "alice-demo"), ref="ISAP-2026-012", tab="Evidence")
    assert at.selectbox(key="evidence-kind").value is None
    at.file_uploader(key="evidence-file").set_value(("model.pdf", sample_pdf("Model"), "application/pdf"))
    at.text_input(key="evidence-title").input("Financial model, December 2026")
    at.text_input(key="evidence-reference").input("Financial model 2026-12")
    next(b for b in at.button if b.label == "Attach").click()
    at.run()
    assert not at.exception, at.exception
    assert "Nothing was attached: choose the document's kind." in [read(e.value) for e in at.error]
    assert len(Service().evidence_list("alice", "ISAP-2026-012")) == before
    assert at.text_input(key="evidence-title").value == "Financial model, December 2026"

    at = linked(signed_in("otto", "otto-demo"), ref="ISAP-2026-021", tab="Queries")
    assert at.selectbox(key="query-1-kind").value is None
    at.text_area(key="query-answer-1").input("The survey is attached.")
    at.file_uploader(key="query-1-file").set_value(("survey.pdf", sample_pdf("Survey"), "application/pdf"))
    at.text_input(key="query-1-title").input("Resident survey")
    at.text_input(key="query-1-reference").input("Resident survey 2026")
    next(b for b in at.button if b.label == "Send answer").click()
    at.run()
    assert not at.exception, at.exception
    assert "Nothing was sent: choose the new document's kind." in [read(e.value) for e in at.error]
    assert Service().show("otto", "ISAP-2026-021")["queries"][0]["status"] == "awaiting_answer"


def test_the_days_waited_for_the_commissioners_answers_are_counted_in_words(demo_env):
    """ISAP-2026-021's query has waited for otto for days: the Queries tab counts them as every page counts,
    "4 working days", never "4 working day(s)"."""
    import re

    at = linked(signed_in("rita", "rita-demo"), ref="ISAP-2026-021", tab="Queries")
    [said] = [read(c.value) for c in at.caption if "of this review waited for the commissioner" in read(c.value)]
    assert re.match(r"^\d+ working days? of this review waited for the commissioner's answers", said), said
    assert "(s)" not in said


def test_every_date_a_person_picks_is_typed_day_first(demo_env):
    """The query's "Answer by" is typed as the planned submission date is, day first (23/11/2026), never as
    yyyy/mm/dd beside dates said "23 Nov 2026"."""
    at = linked(signed_in("rita", "rita-demo"), ref="ISAP-2026-021", tab="Queries")
    assert at.date_input(key="query-due").proto.format == "DD/MM/YYYY"
    at = linked(signed_in("alice", "alice-demo"), ref="ISAP-2026-013", tab="Timeline")
    assert {d.proto.format for d in at.date_input} == {"DD/MM/YYYY"}


def test_the_lead_is_shown_only_their_own_actions_and_whom_the_decision_waits_for(demo_env):
    """ISAP-2026-022: rita proposed its decision, so a second reviewer countersigns or sends it back, never she:
    she sees no button for either, only whom it waits for."""
    at = linked(signed_in("rita", "rita-demo"), ref="ISAP-2026-022", tab="Review")
    shown = {b.label for b in at.button}
    assert not shown & {"Countersign the decision", "Send the decision back"}, shown
    assert "Waiting for a second reviewer to countersign the proposed decision or send it back." in texts(at)


def test_a_reviewer_who_declared_no_conflict_is_offered_only_a_conflict_that_has_arisen(demo_env):
    from isap.review.service import Service

    at = linked(signed_in("rita", "rita-demo"), ref="ISAP-2026-022", tab="Review")
    assert "Declare a conflict that has arisen" in texts(at)
    assert not [r for r in at.radio if r.key == "declare-kind"]  # no second "no conflict" to choose
    at.text_input(key="declare-org").input("Gateshead Health NHS FT")
    at.text_area(key="declare-note").input("My brother joined its board this month.")
    next(b for b in at.button if b.label == "Declare the conflict").click()
    at.run()
    assert not at.exception, at.exception
    assert Service().proposal_facts("ada", "ISAP-2026-022")[0].conflicted == frozenset({"rita"})


def test_a_decision_waiting_for_countersignature_gives_its_conditions_due_dates_in_words(demo_env):
    """The conditions of a proposed decision are dated as everywhere else on the page ("31 Jan 2027"), never in
    the store's ISO form."""
    import datetime as dt

    from isap.demo import RATINGS
    from isap.review.service import Service
    from isap.review.types import ConditionInput

    svc = Service()
    take(svc, "rita", "ISAP-2026-011")
    svc.propose("rita", "ISAP-2026-011", "approved_with_conditions", RATINGS, "A clear case for change",
                [ConditionInput("Publish the engagement report", "ICB director", dt.date(2027, 1, 31))])
    at = linked(signed_in("nina", "nina-demo"), ref="ISAP-2026-011", tab="Review")
    shown = texts(at)
    assert "1. Publish the engagement report (owner ICB director, due 31 Jan 2027)" in shown, shown
    assert "2027-01-31" not in shown


def test_rating_a_domain_starts_from_no_rating_and_records_nothing_until_one_is_chosen(demo_env):
    """A rating is the reviewer's judgement, as the outcome is: the box does not start at Red, and Rate with no
    rating chosen records nothing and says so."""
    from isap.review.service import Service

    svc = Service()
    take(svc, "rita", "ISAP-2026-011")
    at = linked(signed_in("rita", "rita-demo"), ref="ISAP-2026-011", tab="Review")
    assert at.selectbox(key="rate-rating").value is None
    next(b for b in at.button if b.label == "Rate").click()
    at.run()
    assert not at.exception, at.exception
    assert "Nothing was rated: choose the rating." in [read(e.value) for e in at.error]
    [review] = svc.show("rita", "ISAP-2026-011")["reviews"]
    assert not review["ratings"], review["ratings"]
    at.selectbox(key="rate-rating").set_value("amber")
    next(b for b in at.button if b.label == "Rate").click()
    at.run()
    assert "Rating recorded." in [read(s.value) for s in at.success]
    [review] = svc.show("rita", "ISAP-2026-011")["reviews"]
    assert review["ratings"] == {"capitalisation": "amber"}, review["ratings"]


def test_a_warning_on_a_sheet_as_a_whole_is_placed_in_words_where_it_is_answered(demo_env):
    """The warning to answer says where it is as the findings and the report do: "Partners (the sheet as a
    whole)", never "Partners :" with an empty cell."""
    from pathlib import Path

    from isap.review.service import Service

    rel011 = Path(__file__).resolve().parents[1] / "sample_submissions" / "rel011_no_voluntary_sector.xlsx"
    Service().upload("alice", rel011.name, rel011.read_bytes())
    at = proposal(signed_in("alice", "alice-demo"), "ISAP-2026-014")
    headings = [read(m.value) for m in at.markdown if "REL011" in m.value]
    assert "**REL011** Partners (the sheet as a whole): No voluntary sector organisation is a partner." in \
        headings, headings

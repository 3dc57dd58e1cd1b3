"""The decision letter and the assurance report as PDF, read back with poppler's pdftotext."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import shutil
import subprocess

import pytest

from sample_submissions.proposals import clean, write
from tests.in_process import isap
from tests.panel import decide as decide_jointly
from tests.panel import take

needs_poppler = pytest.mark.skipif(not shutil.which("pdftotext") or not shutil.which("pdftoppm"),
                                   reason="needs Debian's poppler-utils (pdftotext, pdftoppm)")
pytestmark = [pytest.mark.e2e, needs_poppler]  # Chromium prints the PDFs

REF = "ISAP-2026-031"
TITLE = "Dudley Integrated Care Provider — £1.2bn over 10 years"
HOSTILE = "**Bold** <b>tag</b> [link](http://evil.example) {nb} =SUM(A1) &amp; _x_"
RATINGS = {"capitalisation": "green", "transparency": "amber", "service_scope": "green",
           "relationships": "red", "governance": "amber"}
RATIONALE = "Sound case for change within the £1.2bn envelope; relationships with practices need work."


def pdf_text(data: bytes, tmp_path, layout: bool = True) -> str:
    path = tmp_path / "doc.pdf"
    path.write_bytes(data)
    args = ["pdftotext", "-enc", "UTF-8"] + (["-layout"] if layout else []) + [str(path), "-"]
    return subprocess.run(args, capture_output=True, check=True, text=True).stdout


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def sqlite_service(migrated_sqlite, tmp_path):
    """A service on a copy of the session's migrated SQLite template, its passwords hashed at the tests' cost."""
    from isap.review.service import Service
    from isap.store.db import engine_for
    from isap.store.files import FileStore
    from tests.conftest import cheap_hashing_policy, copy_sqlite

    url = copy_sqlite(migrated_sqlite, tmp_path / "isap.db")
    svc = Service(engine_for(url), FileStore(tmp_path / "files"), cheap_hashing_policy())
    svc.add_organisation("QUA", "NHS Black Country ICB")
    svc.add_organisation("QHM", "NHS North East and North Cumbria ICB")
    svc.add_user("alice", "commissioner", "QUA")
    svc.add_user("otto", "commissioner", "QHM")
    svc.add_user("rita", "reviewer", display_name="Rita Shah", job_title="Senior Assurance Lead", body="nhs_england")
    return svc, url


def decided(svc, tmp_path, title=TITLE, outcome="approved_with_conditions", decide=True):
    from isap.review.service import ConditionInput

    p = clean(1, reference=REF)
    p["Partners"] = [x for x in p["Partners"] if x["partner_type"] != "Voluntary sector"]
    p["Cover"]["proposal_title"] = title
    svc.upload("alice", "v1.xlsx", write(p, tmp_path / "v1.xlsx").read_bytes())
    svc.acknowledge("alice", REF, "REL011", "CVS joins via the alliance board.")
    svc.submit("alice", REF)
    take(svc, "rita", REF)
    if decide:
        conditions = [ConditionInput("Sign heads of terms with all practices", "ICB primary care lead",
                                     dt.date(2027, 3, 31)),
                      ConditionInput("Publish the engagement summary (Łódź and Zürich residents too)",
                                     "ICB director of strategy", dt.date(2027, 1, 29))]
        decide_jointly(svc, "rita", REF, outcome, RATINGS, RATIONALE,
                   conditions if outcome == "approved_with_conditions" else [])
    return svc


def test_letter_carries_the_decision(sqlite_service, tmp_path):
    from isap.outputs.letters import render_letter_pdf

    svc, _ = sqlite_service
    decided(svc, tmp_path)
    data = render_letter_pdf(svc, "rita", REF, 1)
    assert data.startswith(b"%PDF-")
    text = pdf_text(data, tmp_path)
    words = flat(pdf_text(data, tmp_path, layout=False))  # reading order, so wrapped cells read whole
    for fact in ("NHS England", "NHS Black Country ICB", "QUA", f"{REF}/CP1", REF, TITLE,
                 "checkpoint 1 (strategic case)", "Decision: Approved with conditions", RATIONALE,
                 "Sign heads of terms with all practices", "ICB primary care lead", "31 March 2027",
                 "Publish the engagement summary (Łódź and Zürich residents too)", "29 January 2027",
                 "checkpoint 2 (preferred bidder)", "Yours sincerely",
                 "Rita Shah, Senior Assurance Lead, who proposed the decision",
                 "Nina Okafor, Deputy Director of Assurance, who countersigned it", "Page 1 of 1"):
        assert fact in words, fact
    assert "£1.2bn" in words and "—" in words
    # each domain with its own rating, on one line of the table
    lines = text.splitlines()
    for domain, rating in RATINGS.items():
        name = domain.replace("_", " ").capitalize()
        row = next(line for line in lines if line.strip().startswith(name))
        assert row.split()[-1] == rating.capitalize(), row
    version = svc.show("rita", REF)["versions"][0]
    assert version["sha256"] in words.replace(" ", "")  # the workbook assessed, wrapped or not


def test_letter_for_a_halted_proposal_says_so_plainly(sqlite_service, tmp_path):
    from isap.outputs.letters import render_letter_pdf

    svc, _ = sqlite_service
    decided(svc, tmp_path, outcome="halted")
    words = flat(pdf_text(render_letter_pdf(svc, "rita", REF, 1), tmp_path, layout=False))
    assert "Decision: Halted: do not proceed" in words and "must not proceed" in words
    assert "This decision carries no conditions." in words


def test_hostile_title_is_printed_literally(sqlite_service, tmp_path):
    from isap.outputs.letters import render_letter_pdf, render_report_pdf

    svc, _ = sqlite_service
    decided(svc, tmp_path, title=HOSTILE)
    for render in (render_letter_pdf, render_report_pdf):
        words = flat(pdf_text(render(svc, "rita", REF, 1), tmp_path, layout=False))
        assert HOSTILE in words, render.__name__


def test_no_letter_without_a_decision_and_scoping_holds(sqlite_service, tmp_path):
    from isap.outputs.letters import render_letter_pdf
    from isap.review.service import NotFound

    svc, _ = sqlite_service
    decided(svc, tmp_path, decide=False)
    with pytest.raises(NotFound, match="no decision recorded at checkpoint 1"):
        render_letter_pdf(svc, "rita", REF, 1)
    decide_jointly(svc, "rita", REF, "approved", RATINGS, RATIONALE, [])
    assert render_letter_pdf(svc, "alice", REF, 1).startswith(b"%PDF-")  # the commissioner's own
    with pytest.raises(NotFound):
        render_letter_pdf(svc, "otto", REF, 1)  # another organisation's


def test_report_pdf_has_every_section_of_the_html(sqlite_service, tmp_path):
    from isap.outputs.assurance_report import render_report
    from isap.outputs.letters import render_report_pdf

    svc, _ = sqlite_service
    decided(svc, tmp_path)
    html = render_report(svc, "rita", REF, 1)
    words = flat(pdf_text(render_report_pdf(svc, "rita", REF, 1), tmp_path, layout=False))
    sections = re.findall(r"<h2>([^<{]+)", html)
    assert len(sections) >= 6
    for section in sections:
        assert " ".join(section.split()) in words, section
    version = svc.show("rita", REF)["versions"][0]
    for fact in (REF, TITLE, "REL011", "CVS joins via the alliance board.", "Approved with conditions", RATIONALE,
                 "Sign heads of terms with all practices", "ICB primary care lead", "31 Mar 2027",
                 "Submitted → In review", "working_capital_months", "England bank holidays", "GB-ENG"):
        assert fact in words, fact
    assert version["sha256"] in words.replace(" ", "")
    for rating in ("Green", "Amber", "Red"):
        assert rating in words


def test_letter_page_one_renders(sqlite_service, tmp_path):
    from isap.outputs.letters import render_letter_pdf

    svc, _ = sqlite_service
    decided(svc, tmp_path)
    pdf = tmp_path / "letter.pdf"
    pdf.write_bytes(render_letter_pdf(svc, "rita", REF, 1))
    subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page")],
                   check=True, capture_output=True)
    png = tmp_path / "page-1.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    with Image.open(png) as im:
        width, height = im.size
        assert abs(width - 661) <= 1 and abs(height - 935) <= 1  # A4 (210 x 297 mm) at 80 dpi
        colours = im.convert("RGB").getcolors(1_000_000)
    assert any(c == (0, 94, 184) for _, c in colours)  # the NHS blue of the heading is drawn


def test_cli_report_pdf_and_letter(sqlite_service, tmp_path):
    svc, url = sqlite_service
    decided(svc, tmp_path)
    def run(*args):
        return isap(*args, "--as", "rita", env={"ISAP_DATABASE_URL": url})

    r = run("report", REF, "--checkpoint", "1", "--out", str(tmp_path / "r.pdf"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF-") and "(PDF)" in r.stdout
    r = run("report", REF, "--checkpoint", "1", "--out", str(tmp_path / "r.out"), "--format", "pdf")
    assert r.returncode == 0 and (tmp_path / "r.out").read_bytes().startswith(b"%PDF-")
    r = run("report", REF, "--checkpoint", "1", "--out", str(tmp_path / "r.html"))
    assert r.returncode == 0 and "<h1>" in (tmp_path / "r.html").read_text()
    r = run("letter", REF, "--checkpoint", "1", "--out", str(tmp_path / "l.pdf"))
    assert r.returncode == 0, r.stderr
    assert "Approved with conditions" in flat(pdf_text((tmp_path / "l.pdf").read_bytes(), tmp_path))
    r = run("letter", REF, "--checkpoint", "2", "--out", str(tmp_path / "l2.pdf"))
    # nothing has happened at checkpoint 2 yet (the decision belongs to checkpoint 1)
    assert r.returncode == 1 and "nothing recorded at checkpoint 2" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "l2.pdf").exists()
    r = run("letter", REF, "--checkpoint", "1", "--out", str(tmp_path / "missing" / "l.pdf"))
    assert r.returncode == 1 and "cannot write" in r.stderr and "Traceback" not in r.stderr


def test_huge_text_is_bounded_and_still_prints(sqlite_service, tmp_path):
    from isap.outputs.letters import render_letter_pdf, render_report_pdf
    from isap.review.limits import TextKind
    from isap.review.service import ConditionInput

    svc, _ = sqlite_service
    decided(svc, tmp_path, decide=False)
    # the longest texts the service keeps (isap/review/limits.py), each past what one cell of the PDF shows
    unbroken = "W" * TextKind.CONDITION.max_chars  # one "word" taller than a page in a narrow column
    rationale = ("Because " + "very " * TextKind.RATIONALE.max_chars)[:TextKind.RATIONALE.max_chars - 7] + " sound."
    decide_jointly(svc, "rita", REF, "approved_with_conditions", RATINGS, rationale,
               [ConditionInput(unbroken, "line " * (TextKind.CONDITION_OWNER.max_chars // 5), dt.date(2027, 1, 29))])
    for render in (render_letter_pdf, render_report_pdf):
        path = tmp_path / "big.pdf"
        path.write_bytes(render(svc, "rita", REF, 1))
        info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
        pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
        assert pages <= 8, (render.__name__, pages)
        words = flat(pdf_text(path.read_bytes(), tmp_path, layout=False))
        assert "[cut]" in words and "Because very very" in words


@pytest.mark.slow
def test_dashboard_downloads_the_letter_in_a_real_browser(tmp_path):
    """The PDF links make their file when followed: the signed-in browser gets the real letter."""
    from urllib.parse import urljoin

    from tests.test_dashboard_e2e import CHROMIUM, choose, dashboard, launch, settle, sign_in

    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed")
    import psutil
    from playwright.sync_api import expect, sync_playwright

    from tests.panel import countersign_from_the_command_line

    data_dir = tmp_path / "data"  # where `dashboard` keeps its store
    started = []
    with dashboard(tmp_path) as url, sync_playwright() as pw:
        port = url.rsplit(":", 1)[1]
        # `isap dashboard` runs Streamlit as its child; stopping the command leaves the child to us
        started = [p for p in psutil.process_iter(["cmdline"])
                   if "streamlit" in " ".join(p.info["cmdline"] or []) and port in (p.info["cmdline"] or [])]
        browser = launch(pw)
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        sign_in(page, url, "rita", "rita-demo")
        page.get_by_role("link", name="Proposal", exact=True).click()
        page.get_by_label("Proposal", exact=True).click()
        page.get_by_role("option", name=re.compile("^ISAP-2026-011")).click()
        expect(page.get_by_role("heading", name="ISAP-2026-011")).to_be_visible(timeout=30_000)
        page.get_by_role("tab", name="Review").click()
        page.get_by_role("button", name="Declare").click()
        expect(page.get_by_text("Declaration recorded.")).to_be_visible(timeout=30_000)
        page.get_by_role("tab", name="Review").click()
        page.get_by_role("button", name="Take into review").click()
        expect(page.get_by_text("Checkpoint 1 decision")).to_be_visible(timeout=30_000)
        page.get_by_role("tab", name="Review").click()
        for domain in ("Capitalisation", "Transparency", "Service scope", "Relationships", "Governance"):
            choose(page, domain, "Amber")
        choose(page, "Outcome", "Approved")
        page.get_by_label("Rationale").fill("Meets the strategic case within the £40m envelope.")
        page.get_by_role("button", name="Propose decision").click()
        expect(page.get_by_text("Decision proposed")).to_be_visible(timeout=30_000)
        countersign_from_the_command_line(data_dir, "ISAP-2026-011")
        # open the proposal again in the same session (a reload would start a new one), now decided
        page.get_by_role("link", name="Proposal", exact=True).click()
        expect(page.get_by_role("heading", name="ISAP-2026-011")).to_be_visible(timeout=30_000)
        page.get_by_role("tab", name="History").click()
        settle(page)
        files = {}
        for label in ("Download the decision letter (PDF)", "Download the assurance report (PDF)"):
            # a download is a link to the dashboard's own route, answered only with this browser's session
            href = page.get_by_role("link", name=label).get_attribute("href")
            got = page.context.request.get(urljoin(url + "/", href), timeout=60_000)
            assert got.status == 200, got.status
            name = re.search(r'filename="?([^";]+)', got.headers["content-disposition"]).group(1)
            files[label] = tmp_path / name
            files[label].write_bytes(got.body())
        browser.close()
    for proc in started:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.terminate()
    psutil.wait_procs(started, timeout=20)
    letter = files["Download the decision letter (PDF)"]
    assert letter.name == "ISAP-2026-011-checkpoint-1-decision-letter.pdf"
    words = flat(pdf_text(letter.read_bytes(), tmp_path, layout=False))
    assert "ISAP-2026-011" in words and "Decision: Approved" in words and "£40m envelope" in words
    report = flat(pdf_text(files["Download the assurance report (PDF)"].read_bytes(), tmp_path, layout=False))
    assert "checkpoint 1 assurance report" in report and "Audit trail for checkpoint 1" in report


def test_report_and_letter_show_waived_findings_and_the_query_thread(sqlite_service, tmp_path):
    """Waived findings read as waived, by whom and why, in the report (HTML and PDF) and the letter lists the
    waivers; the report gives each query's thread in order."""
    from isap.outputs.assurance_report import render_report
    from isap.outputs.letters import render_letter_pdf, render_report_pdf

    svc, _ = sqlite_service
    p = clean(1, reference=REF)
    p["Cover"]["wpap_annual_value_gbp"] = 1
    svc.upload("alice", "v1.xlsx", write(p, tmp_path / "v1.xlsx").read_bytes())
    errors = [f for f in svc.show("alice", REF)["findings"] if f["severity"] == "error"]
    for f in errors:
        n = svc.request_waiver("alice", REF, f["id"], "A phased start in year one.")
        svc.grant_waiver("rita", REF, n, "The phasing plan is sound.")
    svc.submit("alice", REF)
    take(svc, "rita", REF)
    svc.raise_query("rita", REF, "Which board approved the phasing?", place="Cover C7")
    svc.answer_query("alice", REF, 1, "The ICB board on 3 March.")
    svc.resolve_query("rita", REF, 1, "Seen in the minutes.")
    decide_jointly(svc, "rita", REF, "approved", RATINGS, RATIONALE)
    html = render_report(svc, "rita", REF, 1)
    # people by their names, not their user names (alice has no display name: hers is the only name there is)
    assert "<strong>Waived</strong> by Rita Shah, Senior Assurance Lead: The phasing plan is sound." in html
    assert "<td>Rita Shah, Senior Assurance Lead</td>" in html
    assert html.index("Which board approved the phasing?") < html.index("The ICB board on 3 March.") \
        < html.index("Seen in the minutes.")
    # (the audit trail quotes the history as it was recorded, by account)
    assert not re.search(r"\brita\b", html.split("Audit trail")[0])
    report = flat(pdf_text(render_report_pdf(svc, "rita", REF, 1), tmp_path, layout=False))
    for fact in ("Waived by Rita Shah, Senior Assurance Lead: The phasing plan is sound.",
                 "Query 1, on Cover C7: Resolved",
                 "The ICB board on 3 March."):
        assert fact in report, fact
    assert not re.search(r"\brita\b", report.split("Audit trail")[0])
    letter = flat(pdf_text(render_letter_pdf(svc, "alice", REF, 1), tmp_path, layout=False))
    assert "Waivers" in letter and errors[0]["rule_id"] in letter
    assert "Rita Shah, Senior Assurance Lead: The phasing plan is sound." in letter
    assert not re.search(r"\brita\b", letter)

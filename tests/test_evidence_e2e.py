"""The proposal page's Evidence tab in Chromium (docs/workflow.md, "Evidence"): a commissioner attaches a PDF and
sees it listed, a file that is no document by its content is refused in words, and a reviewer downloads the PDF
byte for byte through the dashboard's own signed-in route."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urljoin

import pytest

from sample_submissions.evidence import sample_pdf
from tests.test_dashboard_e2e import choose, launch, server, settle, sign_in  # noqa: F401 - server is a fixture

pytestmark = pytest.mark.e2e
REF = "ISAP-2026-013"  # the demo's draft of alice's organisation, at checkpoint 1


def open_evidence_tab(page, reference: str) -> None:
    from playwright.sync_api import expect

    page.get_by_role("link", name="Proposal", exact=True).click()
    page.get_by_label("Proposal", exact=True).click()
    page.get_by_role("option", name=re.compile(f"^{reference}")).click()
    expect(page.get_by_role("heading", name=reference)).to_be_visible(timeout=30_000)
    page.get_by_role("tab", name="Evidence").click()
    settle(page)


def attach(page, file: Path, title: str, reference: str, kind: str = "Engagement report") -> None:
    page.locator("input[type=file]").set_input_files(str(file))
    choose(page, "Kind", kind)  # no default: the kind is always chosen
    page.get_by_label("Title", exact=True).fill(title)
    page.get_by_label(re.compile("^Reference")).fill(reference)
    page.get_by_role("button", name="Attach").click()


def test_a_commissioner_attaches_a_pdf_a_reviewer_downloads_it_and_a_non_document_is_refused(server, tmp_path):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    shots = Path(os.environ.get("ISAP_SCREENSHOTS_DIR") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    paper = tmp_path / "walsall engagement summary.pdf"
    paper.write_bytes(sample_pdf("Walsall engagement summary", "What residents told us, October 2026."))
    image = tmp_path / "site plan.pdf"  # a PNG, whatever its name says
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    with sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        sign_in(page, server, "alice", "alice-demo")
        open_evidence_tab(page, REF)
        expect(page.get_by_text("Walsall equality analysis")).to_be_visible()  # the demo's document

        attach(page, paper, "Walsall engagement summary", "Engagement summary 2026-10")
        expect(page.get_by_text("Attached “Engagement summary 2026-10”.")).to_be_visible(timeout=60_000)
        expect(page.get_by_text("Walsall engagement summary —")).to_be_visible()
        expect(page.get_by_role("link", name="Download walsall engagement summary.pdf")).to_be_visible()

        attach(page, image, "Site plan", "Site plan 2026")
        expect(page.get_by_text("site plan.pdf was not attached: the document is not a PDF, a Word document "
                                "(.docx) or an Excel workbook (.xlsx) (judged by its content, not its name)")
               ).to_be_visible(timeout=60_000)
        expect(page.get_by_text("Site plan —")).to_have_count(0)
        settle(page)
        page.screenshot(path=shots / "proposal-evidence.png", full_page=True)
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_label("User name")).to_be_visible(timeout=30_000)

        sign_in(page, server, "rita", "rita-demo")
        open_evidence_tab(page, REF)
        expect(page.get_by_text("Attach a document")).to_have_count(0)  # a reviewer attaches nothing
        href = page.get_by_role("link", name="Download walsall engagement summary.pdf").get_attribute("href")
        got = page.context.request.get(urljoin(server + "/", href), timeout=60_000)
        status, headers, body = got.status, got.headers, got.body()
        browser.close()
    assert status == 200, status
    assert headers["content-type"].startswith("application/pdf")
    assert headers["content-disposition"].startswith("attachment")
    assert body == paper.read_bytes()

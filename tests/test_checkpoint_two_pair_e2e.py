"""Checkpoint 2 played through in Chromium at 1366 × 900 by a commissioner and a review panel of two, as people
use the dashboard: alice uploads a checkpoint 2 workbook with one error for the demo's ISAP-2026-012 (which passed
checkpoint 1), attaches the financial model and asks for a waiver of the error; rita (NHS England) grants the
waiver and discharges the open condition from checkpoint 1, so alice can submit; rita takes the submission into
review and raises a query; alice answers it with a document; rita resolves it and proposes the decision; nina
(NHS Improvement) countersigns it; both are offered the decision letter, and it names both reviewers.  After each
step the test reads what the person acting sees (docs/workflow.md, "The review panel", "Queries and waivers")."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urljoin

import pytest

from sample_submissions.evidence import sample_pdf
from sample_submissions.proposals import clean, write
from tests.test_dashboard_e2e import choose, launch, server, settle, sign_in  # noqa: F401 - server is a fixture

pytestmark = pytest.mark.e2e
REF = "ISAP-2026-012"  # the demo's draft at checkpoint 2, approved at checkpoint 1 with one open condition
PLAY_THROUGH = {"width": 1366, "height": 900}


def checkpoint_two_with_one_error(path: Path) -> Path:
    """The demo proposal's checkpoint 2 workbook, with year 6's net assets below the committed minimum (CAP002)."""
    p = clean(2, "Fully integrated", "GP federation", REF)
    p["Cover"]["proposal_title"] = "Sandwell fully integrated primary and community care"
    next(row for row in p["Finance"] if row["contract_year"] == 6)["net_assets_gbp"] = 9_000_000
    return write(p, path)


def open_tab(page, url: str, tab: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{url}/proposal?ref={REF}&tab={tab}")
    expect(page.get_by_role("heading", name=REF, level=1)).to_be_visible(timeout=30_000)
    settle(page)


def sign_out(page) -> None:
    from playwright.sync_api import expect

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("User name")).to_be_visible(timeout=30_000)


def letter(page, url: str) -> bytes:
    """The checkpoint 2 decision letter, fetched through the link the proposal page offers this person."""
    from playwright.sync_api import expect

    open_tab(page, url, "Findings")
    link = page.get_by_role("link", name="Download the checkpoint 2 decision letter (PDF)")
    expect(link).to_be_visible()
    got = page.context.request.get(urljoin(url + "/", link.get_attribute("href")), timeout=60_000)
    assert got.status == 200, got.status
    assert got.headers["content-type"].startswith("application/pdf")
    return got.body()


def test_a_commissioner_and_a_review_panel_of_two_play_checkpoint_two_through(server, tmp_path):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    workbook = checkpoint_two_with_one_error(tmp_path / "sandwell-cp2-v2.xlsx")
    model = tmp_path / "financial model.pdf"
    model.write_bytes(sample_pdf("Financial model, December 2026", "Year 6 net assets and the guarantee."))
    guarantee = tmp_path / "guarantee.pdf"
    guarantee.write_bytes(sample_pdf("Parent company guarantee", "The parent company guarantees year 6."))
    with sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page(viewport=PLAY_THROUGH, locale="en-GB")

        # alice: the checkpoint 2 workbook, checked at once: one error
        sign_in(page, server, "alice", "alice-demo")
        page.get_by_role("link", name="Upload", exact=True).click()
        settle(page)
        page.locator("input[type=file]").set_input_files(str(workbook))
        expect(page.get_by_text(f"{REF} saved as version 3: 1 error, 0 warnings.")).to_be_visible(timeout=120_000)

        # the evidence: the financial model, of its own kind
        open_tab(page, server, "Evidence")
        page.locator("input[type=file]").set_input_files(str(model))
        choose(page, "Kind", "Financial model")
        page.get_by_label("Title", exact=True).fill("Financial model, December 2026")
        page.get_by_label(re.compile("^Reference")).fill("Financial model 2026-12")
        page.get_by_role("button", name="Attach").click()
        expect(page.get_by_text("Attached “Financial model 2026-12”.")).to_be_visible(timeout=60_000)
        expect(page.get_by_text("Financial model, December 2026 — Financial model")).to_be_visible()

        # a waiver of the error, asked for: the banner says a reviewer must answer it
        open_tab(page, server, "Findings")
        page.get_by_text("Ask for a waiver of an error finding").click()
        choose(page, "Error finding", "CAP002 Finance D7: Year 6: net assets £9,000,000 are below the committed "
                                      "minimum £10,000,000.")
        page.get_by_label("Why it should be waived").fill("A parent company guarantee covers year 6.")
        page.get_by_role("button", name="Ask for the waiver").click()
        expect(page.get_by_text("Waiver asked for.")).to_be_visible(timeout=30_000)
        expect(page.get_by_text("a reviewer must grant or refuse waiver 1")).to_be_visible()
        expect(page.get_by_role("button", name="Submit for checkpoint 2")).to_be_disabled()
        sign_out(page)

        # rita: the waiver granted and checkpoint 1's condition discharged, while the proposal is a draft
        sign_in(page, server, "rita", "rita-demo")
        open_tab(page, server, "Findings")
        page.get_by_label("Reason for granting or refusing").fill("The guarantee is in the financial model.")
        page.get_by_role("button", name="Grant waiver").click()
        expect(page.get_by_text("Waiver 1 granted.")).to_be_visible(timeout=30_000)
        expect(page.get_by_text(re.compile(r"^Waiver 1 \(checkpoint 2, granted\) of CAP002"))).to_be_visible()
        expect(page.get_by_text("Granted by Rita Shah, Senior Assurance Lead on")).to_be_visible()
        open_tab(page, server, "Conditions")
        page.get_by_label("Note", exact=True).fill("Engagement report published on the ICB's website.")
        page.get_by_role("button", name="Discharge").click()
        expect(page.get_by_text("Condition 1 discharged.")).to_be_visible(timeout=30_000)
        expect(page.get_by_text("Waiting for the commissioner to submit version 3 for checkpoint 2.")
               ).to_be_visible()
        sign_out(page)

        # alice submits
        sign_in(page, server, "alice", "alice-demo")
        open_tab(page, server, "Findings")
        expect(page.get_by_text("Granted by Rita Shah, Senior Assurance Lead on")).to_be_visible()
        page.get_by_role("button", name="Submit for checkpoint 2").click()
        expect(page.get_by_text(f"{REF} submitted.")).to_be_visible(timeout=30_000)
        expect(page.get_by_text("Submitted: waiting for a reviewer to take it into review.")).to_be_visible()
        sign_out(page)

        # rita (declared at checkpoint 1, which holds) takes it into review and raises a query
        sign_in(page, server, "rita", "rita-demo")
        open_tab(page, server, "Review")
        page.get_by_role("button", name="Take into review").click()
        expect(page.get_by_text("Taken into review.")).to_be_visible(timeout=30_000)
        open_tab(page, server, "Queries")
        page.get_by_label("Query", exact=True).fill("Please send the signed parent company guarantee.")
        page.get_by_role("button", name="Raise query").click()
        expect(page.get_by_text("Query raised.")).to_be_visible(timeout=30_000)
        expect(page.get_by_text("the commissioner must answer query 1")).to_be_visible()
        sign_out(page)

        # alice answers it, with the guarantee as a new document
        sign_in(page, server, "alice", "alice-demo")
        open_tab(page, server, "Queries")
        expect(page.get_by_text("Please send the signed parent company guarantee.")).to_be_visible()
        page.get_by_label("Your answer").fill("The signed guarantee is attached.")
        page.locator("input[type=file]").set_input_files(str(guarantee))
        choose(page, "Its kind", "Financial model")
        page.get_by_label("Its title").fill("Parent company guarantee")
        page.get_by_label("Its reference").fill("Guarantee 2026-12")
        page.get_by_role("button", name="Send answer").click()
        expect(page.get_by_text("Answer sent.")).to_be_visible(timeout=60_000)
        open_tab(page, server, "Queries")
        expect(page.get_by_text(re.compile(r"^Query 1 \(checkpoint 2\) .*: answered"))).to_be_visible()
        expect(page.get_by_text(re.compile(r"^Answer — Alice Morgan, Director of Strategy, "))).to_be_visible()
        expect(page.get_by_text(re.compile(r"^Documents: Parent company guarantee"))).to_be_visible()
        sign_out(page)

        # rita resolves the query, rates the five domains and proposes the decision
        sign_in(page, server, "rita", "rita-demo")
        open_tab(page, server, "Queries")
        page.get_by_label("Follow-up question, or note resolving the query").fill("Guarantee seen.")
        page.get_by_role("button", name="Resolve").click()
        expect(page.get_by_text("Query 1 resolved.")).to_be_visible(timeout=30_000)
        open_tab(page, server, "Review")
        for domain in ("Capitalisation", "Transparency", "Service scope", "Relationships", "Governance"):
            choose(page, domain, "Green")
        choose(page, "Outcome", "Approved")
        page.get_by_label("Rationale").fill("The guarantee covers the year 6 shortfall.")
        page.get_by_role("button", name="Propose decision").click()
        expect(page.get_by_text("Decision proposed: it waits for a second reviewer's countersignature.")
               ).to_be_visible(timeout=30_000)
        sign_out(page)

        # nina countersigns: the decision takes effect
        sign_in(page, server, "nina", "nina-demo")
        expect(page.get_by_text("Nina Okafor, NHS Improvement reviewer")).to_be_visible()
        open_tab(page, server, "Review")
        # the banner names the proposer as the page does, never by user name
        expect(page.get_by_text("Rita Shah, Senior Assurance Lead proposed a decision: countersign it, or send it "
                                "back with a note.")).to_be_visible()
        expect(page.get_by_text(re.compile("^Waiting for countersignature: Rita Shah, Senior Assurance Lead "
                                           "proposed"))).to_be_visible()
        page.get_by_role("button", name="Countersign the decision").click()
        expect(page.get_by_text(re.compile("^Countersigned: the decision has taken effect."))).to_be_visible(
            timeout=30_000)
        expect(page.get_by_text("Checkpoint 2: approved, on").first).to_be_visible()
        open_tab(page, server, "History")
        csv = page.get_by_role("link", name="Download the history (CSV)").get_attribute("href")
        history = page.context.request.get(urljoin(server + "/", csv), timeout=60_000).text()
        assert "Decision recorded: Approved" in history, history[-2000:]
        open_tab(page, server, "Review")
        expect(page.get_by_text("Proposed by Rita Shah, Senior Assurance Lead and countersigned by Nina Okafor, "
                                "Deputy Director of Assurance.").last).to_be_visible()
        for_nina = letter(page, server)
        sign_out(page)

        # alice reads the letter too
        sign_in(page, server, "alice", "alice-demo")
        for_alice = letter(page, server)
        browser.close()
    for pdf in (for_nina, for_alice):
        words = text_of(pdf, tmp_path)
        assert "Decision: Approved" in words
        assert "Rita Shah, Senior Assurance Lead, who proposed the decision" in words
        assert "Nina Okafor, Deputy Director of Assurance, who countersigned it" in words


def text_of(pdf: bytes, tmp_path: Path) -> str:
    """The letter's words as poppler's pdftotext reads them, lines joined."""
    import subprocess

    path = tmp_path / "letter.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    return " ".join(out.split())

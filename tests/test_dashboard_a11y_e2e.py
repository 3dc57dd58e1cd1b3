"""Accessibility in a real browser (Playwright driving Debian's Chromium): each page has its own title and one
h1, an unknown address is a real "Page not found" page with links, a table's key column stays in view whatever
cell has the keyboard focus, and a commissioner's whole journey works with the keyboard alone; axe-core finds
nothing serious or critical on any page seen."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from tests.test_dashboard_e2e import (  # noqa: F401 - server is a fixture
    accessible,
    choose_file_by_keyboard,
    focused,
    intercept_file_choosers,
    launch,
    serious,
    server,
    settle,
    shared_server,
    sign_in,
    tab_to,
)

SUFFIX = " – ISAP assurance"


def h1s(page) -> list[str]:
    return page.locator("h1").all_inner_texts()


def streamlit_dialog(page) -> int:
    """Streamlit's own "Page not found" pop-up (a dialog over the landing page), which isap replaces."""
    return page.get_by_role("dialog").count()


def test_every_page_has_its_own_title_and_one_h1_and_axe_finds_nothing_serious(shared_server):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    from dashboards.navigation import offered
    from isap.review.capabilities import CAPABILITIES
    from isap.review.lifecycle import Role

    found: list = []
    titles: dict[str, str] = {}
    with sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page(viewport={"width": 1280, "height": 800}, locale="en-GB")
        page.goto(shared_server)
        expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=150_000)  # a cold start
        settle(page)
        assert page.title() == "Sign in" + SUFFIX and len(h1s(page)) == 1
        for who, role in (("alice", Role.COMMISSIONER), ("ada", Role.ADMIN)):
            sign_in(page, shared_server, who, f"{who}-demo")
            # every page at its own address, the landing page's too (it is also at the root)
            for entry in offered(CAPABILITIES[role]):
                page.goto(f"{shared_server}/{entry.url_path}")
                expect(page.get_by_text(f"Signed in as {who}")).to_be_visible(timeout=30_000)
                settle(page)
                assert streamlit_dialog(page) == 0, f"/{entry.url_path} opened Streamlit's 'Page not found'"
                assert page.title() == entry.title + SUFFIX, (entry.url_path, page.title())
                assert len(h1s(page)) == 1, (entry.url_path, h1s(page))
                titles[page.title()] = entry.url_path
                accessible(page, f"{who}: /{entry.url_path}", found)
            page.get_by_role("button", name="Sign out").click()
            expect(page.get_by_label("User name")).to_be_visible(timeout=30_000)
        # a proposal's page is headed by its reference, its only h1
        sign_in(page, shared_server, "alice", "alice-demo")
        page.goto(f"{shared_server}/proposal?ref=ISAP-2026-013")
        expect(page.get_by_role("heading", name="ISAP-2026-013", level=1)).to_be_visible(timeout=30_000)
        settle(page)
        assert h1s(page) == ["ISAP-2026-013"], h1s(page)
        # the expanders are named by their words alone, never by the icon's ligature ("keyboard_arrow_right")
        names = [n.get("name", {}).get("value", "") for n in
                 page.context.new_cdp_session(page).send("Accessibility.getFullAXTree")["nodes"]
                 if n.get("role", {}).get("value") == "DisclosureTriangle"]
        assert names and not [n for n in names if "keyboard_arrow" in n or "arrow_" in n], names
        accessible(page, "alice: proposal ISAP-2026-013", found)
        browser.close()
    assert len(titles) == len(set(titles.values())), titles  # one title per page, none shared
    assert not serious(found), json.dumps(serious(found), indent=1)


def test_an_unknown_address_says_page_not_found_with_links_to_the_persons_pages(shared_server, tmp_path):  # noqa: F811
    """The page's screenshot goes to ISAP_SCREENSHOTS_DIR, for docs/dashboard.md."""
    from playwright.sync_api import expect, sync_playwright

    shots = Path(os.environ.get("ISAP_SCREENSHOTS_DIR") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    found: list = []
    with sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page(viewport={"width": 1280, "height": 800}, locale="en-GB")
        # signed out, an unknown address asks for the sign-in, like every other address
        page.goto(f"{shared_server}/admin")
        expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=150_000)
        settle(page)
        assert streamlit_dialog(page) == 0
        sign_in(page, shared_server, "alice", "alice-demo")
        # /users is an administrator's page, /admin no page at all: to alice both are "Page not found"
        for path in ("users", "admin"):
            page.goto(f"{shared_server}/{path}")
            expect(page.get_by_role("heading", name="Page not found", level=1)).to_be_visible(timeout=30_000)
            settle(page)
            assert streamlit_dialog(page) == 0
            assert page.title() == "Page not found" + SUFFIX and h1s(page) == ["Page not found"]
            main = page.locator("[data-testid='stMain']")
            expect(main.get_by_text(f"/{path}")).to_be_visible()
            for title in ("My proposals", "Upload", "Proposal", "Template", "Rule catalogue", "API tokens"):
                expect(main.get_by_role("link", name=title, exact=True)).to_be_visible()
            expect(main.get_by_role("link", name="Users")).to_have_count(0)
            accessible(page, f"alice: /{path}", found)
        page.screenshot(path=shots / "not-found.png")
        # a link there goes where it says
        page.locator("[data-testid='stMain']").get_by_role("link", name="Rule catalogue").click()
        expect(page.get_by_role("heading", name="Rule catalogue", level=1)).to_be_visible(timeout=30_000)
        browser.close()
    assert not serious(found), json.dumps(serious(found), indent=1)


def test_the_reference_stays_in_view_wherever_the_keyboard_is_in_the_queue(shared_server):  # noqa: F811
    """Tab moves from cell to cell in a table; at the far end of the queue's row the reference is still shown."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page(viewport={"width": 1366, "height": 900}, locale="en-GB")
        sign_in(page, shared_server, "rita", "rita-demo")
        tab_to(page, r"^CANVAS\|\|data-grid-canvas\|")
        for _ in range(9):
            page.keyboard.press("Tab")
        page.wait_for_timeout(500)
        at = focused(page)
        # the table draws only what is in view; its hidden copy for screen readers holds just those cells
        shown = page.locator('[data-testid="stDataFrame"]').last.locator("canvas table")
        headings = shown.locator("th").all_inner_texts()
        references = shown.locator("td", has_text=re.compile(r"^ISAP-\d{4}-\d{3}$")).count()
        browser.close()
    assert at.startswith("TD|") and not re.search(r"\|ISAP-\d{4}-\d{3}$", at), at  # far along the row
    assert "Reference" in headings and references >= 2, (headings, references)


def test_a_commissioners_journey_by_keyboard_alone(server, tmp_path):  # noqa: F811
    """alice signs in, opens a proposal from her list, uploads its fixed version and submits it: Tab, arrows,
    Enter, Shift+Space and typing only (the browser's own file chooser is answered by the test)."""
    from playwright.sync_api import expect, sync_playwright

    from sample_submissions.proposals import clean, write

    fixed = write(clean(1, "Partially integrated", "NHS foundation trust", "ISAP-2026-013"), tmp_path / "fixed.xlsx")
    found: list = []
    with sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page(viewport={"width": 1280, "height": 800}, locale="en-GB")
        choosers = intercept_file_choosers(page)
        page.goto(server)
        expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=150_000)
        tab_to(page, r"^INPUT\|User name\|")
        page.keyboard.type("alice")
        tab_to(page, r"^INPUT\|Password\|")
        page.keyboard.type("alice-demo")
        page.keyboard.press("Enter")
        expect(page.get_by_text("Signed in as alice")).to_be_visible(timeout=30_000)
        accessible(page, "keyboard: my proposals", found)
        # the list: Tab into the table, down the reference column to the proposal, Shift+Space opens it
        tab_to(page, r"^CANVAS\|\|data-grid-canvas\|")
        for _ in range(10):
            page.keyboard.press("ArrowDown")
            page.wait_for_timeout(200)
            if focused(page).endswith("|ISAP-2026-013"):
                break
        assert focused(page).endswith("|ISAP-2026-013"), focused(page)
        page.keyboard.press("Shift+Space")
        expect(page.get_by_role("heading", name="ISAP-2026-013", level=1)).to_be_visible(timeout=30_000)
        expect(page.get_by_role("button", name=re.compile("^Submit for checkpoint 1"))).to_be_disabled()
        accessible(page, "keyboard: proposal with errors", found)
        # the Upload page from the navigation, the fixed workbook through the uploader's button
        tab_to(page, r"^A\|[^|]*\|[^|]*\|Upload$")
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name="Upload a workbook", level=1)).to_be_visible(timeout=30_000)
        choose_file_by_keyboard(page, choosers, r"^BUTTON\|[^|]*\|stBaseButton-secondary\|(upload\s*)?Upload$", fixed)
        expect(page.get_by_text("ISAP-2026-013 saved as version 2: 0 errors, 0 warnings")).to_be_visible(
            timeout=90_000)
        accessible(page, "keyboard: upload", found)
        tab_to(page, r"^BUTTON\|\|[^|]*\|Open ISAP-2026-013$")
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name="ISAP-2026-013", level=1)).to_be_visible(timeout=30_000)
        tab_to(page, r"^BUTTON\|\|[^|]*\|Submit for checkpoint 1$")
        page.keyboard.press("Enter")
        expect(page.get_by_text("ISAP-2026-013 submitted.")).to_be_visible(timeout=30_000)
        accessible(page, "keyboard: submitted", found)
        browser.close()
    assert not serious(found), json.dumps(serious(found), indent=1)


def test_every_control_the_keyboard_reaches_shows_a_focus_ring_that_can_be_seen(shared_server):  # noqa: F811
    """Sidebar links, the queue's switches and its buttons: each focus stop draws an outline at least 2 px wide in
    a colour far from the page's white (a pale grey background, 1.1:1, was all some showed)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page(viewport={"width": 1280, "height": 800}, locale="en-GB")
        sign_in(page, shared_server, "rita", "rita-demo")
        settle(page)
        faint: list[str] = []
        seen = 0
        for _ in range(25):
            page.keyboard.press("Tab")
            ring = page.evaluate("""() => { const e = document.activeElement;
                if (!e || e === document.body || e.tagName === 'CANVAS' || e.closest('[data-testid="stDataFrame"]'))
                    return null;  // the table's cells draw their own focus
                // the control drawn around the focused element: itself, or the choice box it types into
                const c = (e.getAttribute('role') === 'combobox' && e.closest('[role="group"]')) || e;
                const s = getComputedStyle(c);
                return [e.tagName + '|' + (e.getAttribute('aria-label') || (e.innerText || '').trim().slice(0, 30)),
                        s.outlineStyle, parseFloat(s.outlineWidth), s.outlineColor, s.boxShadow]; }""")
            if ring is None:
                continue
            seen += 1
            name, style, width, colour, shadow = ring
            drawn = (style not in ("none", "") and width >= 2 and colour not in ("rgba(0, 0, 0, 0)",)) \
                or (shadow not in ("none", "") and "rgb(11, 12, 12)" in shadow)
            if not drawn:
                faint.append(f"{name}: outline {style} {width}px {colour}; shadow {shadow}")
        browser.close()
    assert seen >= 5, seen
    assert not faint, faint

"""A sign-in that stays, in a real browser: reload and a new tab keep alice signed in, signing out ends the
session in every tab, and the sixth wrong guess for otto is refused even with the right password."""

from __future__ import annotations

import os

import pytest

from tests.test_dashboard_e2e import CHROMIUM, launch, settle, sign_in

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One dashboard for both tests: each signs in as a person of its own (alice; otto, whose name is locked out),
    so neither sees what the other did."""
    from tests.test_dashboard_e2e import dashboard

    with dashboard(tmp_path_factory.mktemp("dashboard")) as url:
        yield url


def test_reload_and_new_tab_stay_signed_in_and_sign_out_ends_every_tab(server):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = launch(pw)
        try:
            context = browser.new_context()
            first = context.new_page()
            sign_in(first, server, "alice", "alice-demo")
            settle(first)
            cookies = {c["name"]: c for c in context.cookies()}
            assert "isap_session" in cookies and cookies["isap_session"]["sameSite"] == "Strict"
            first.reload()
            expect(first.get_by_text("Signed in as alice")).to_be_visible(timeout=30_000)
            second = context.new_page()
            second.goto(server + "/upload")  # a link straight to a page
            expect(second.get_by_text("Signed in as alice")).to_be_visible(timeout=30_000)
            settle(second)
            first.get_by_role("button", name="Sign out").click()
            expect(first.get_by_role("button", name="Sign in")).to_be_visible(timeout=30_000)
            expect(first.get_by_text("You signed out")).to_be_visible(timeout=30_000)
            # the other tab is signed out at its next run, and so is a reload with the old cookie
            second.get_by_role("link", name="My proposals").click()
            expect(second.get_by_role("button", name="Sign in")).to_be_visible(timeout=30_000)
            second.reload()
            expect(second.get_by_role("button", name="Sign in")).to_be_visible(timeout=30_000)
            expect(second.get_by_text("Signed in as alice")).to_have_count(0)
        finally:
            browser.close()


def test_the_sixth_guess_is_refused_even_when_right(server):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = launch(pw)
        try:
            page = browser.new_page()
            page.goto(server)
            for i in range(5):
                page.get_by_label("User name").fill("otto")
                page.get_by_role("textbox", name="Password").fill(f"guess {i}")
                page.get_by_role("button", name="Sign in").click()
                expect(page.get_by_text("do not match an account")).to_be_visible(timeout=30_000)
                settle(page)
            page.get_by_label("User name").fill("otto")
            page.get_by_role("textbox", name="Password").fill("otto-demo")
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_text("Too many failed sign-ins")).to_be_visible(timeout=30_000)
            expect(page.get_by_text("Signed in as otto")).to_have_count(0)
        finally:
            browser.close()

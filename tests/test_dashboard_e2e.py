"""End to end: the real dashboard server in a real browser (Playwright driving Debian's Chromium)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from isap.processes import die_with_parent

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def dashboard(tmp_path: Path, port: int | None = None, extra: tuple[str, ...] = ()):
    """`isap dashboard` on a fresh embedded database with the demo data, as a newcomer would start it."""
    env = {**os.environ, "ISAP_DATA_DIR": str(tmp_path / "data")}
    env.pop("ISAP_DATABASE_URL", None)
    for args in (["db", "upgrade"], ["demo", "load"]):
        subprocess.run([sys.executable, "-m", "isap.cli", *args], env=env, check=True, capture_output=True)
    port = port or free_port()
    log = tmp_path / "dashboard.log"
    proc = subprocess.Popen([sys.executable, "-m", "isap.cli", "dashboard", "--port", str(port), "--host",
                             "127.0.0.1", *extra], env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            preexec_fn=die_with_parent())  # gone even if pytest itself is killed
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=2).status == 200:
                break
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail(f"the dashboard did not start:\n{log.read_text()[-3000:]}")
    if proc.poll() is not None:
        pytest.fail(f"the dashboard exited:\n{log.read_text()[-3000:]}")
    try:
        yield url
    finally:
        proc.terminate()  # `isap dashboard` stops its Streamlit and Prefect children before it exits
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def server(tmp_path):
    with dashboard(tmp_path) as url:
        yield url


def launch(pw):
    return pw.chromium.launch(executable_path=CHROMIUM, args=[
        "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"])


def sign_in(page, url: str, username: str, password: str) -> None:
    from playwright.sync_api import expect

    page.goto(url)
    page.get_by_label("User name").fill(username)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text(f"Signed in as {username}")).to_be_visible(timeout=30_000)


def settle(page) -> None:
    """Wait until Streamlit has finished the current run, so what is checked or photographed is complete."""
    from playwright.sync_api import expect

    page.wait_for_timeout(500)
    expect(page.locator('[data-testid="stStatusWidget"]')).to_have_count(0, timeout=60_000)
    expect(page.locator('[data-testid="stSkeleton"]')).to_have_count(0, timeout=60_000)


def choose(page, label: str, option: str) -> None:
    """Pick an option of a Streamlit selectbox by its label."""
    page.get_by_label(label, exact=True).click()
    page.get_by_role("option", name=option, exact=True).click()


def test_commissioner_uploads_fixes_and_submits_then_reviewer_decides(server, tmp_path):
    """The whole round trip in a real browser; screenshots of each main page go to ISAP_SCREENSHOTS_DIR."""
    from playwright.sync_api import expect, sync_playwright

    from sample_submissions.generate import clean, write

    shots = Path(os.environ.get("ISAP_SCREENSHOTS_DIR") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    broken = clean(1, reference="ISAP-2026-030")
    broken["Cover"]["wpap_annual_value_gbp"] = 10
    first = write(broken, tmp_path / "walsall-v1.xlsx")
    fixed = write(clean(1, reference="ISAP-2026-030"), tmp_path / "walsall-v2.xlsx")
    with sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server)
        expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=30_000)
        settle(page)
        page.screenshot(path=shots / "sign-in.png")

        # Commissioner: own proposals only, an upload with findings, a clean version, submit.
        sign_in(page, server, "alice", "alice-demo")
        table = page.locator('[data-testid="stDataFrame"]').first
        expect(table).to_be_visible(timeout=30_000)
        expect(page.get_by_text("ISAP-2026-021")).to_have_count(0)  # another organisation's proposal
        settle(page)
        page.screenshot(path=shots / "my-proposals.png", full_page=True)
        page.get_by_role("link", name="Upload").click()
        page.locator("input[type=file]").set_input_files(str(first))
        expect(page.get_by_text("ISAP-2026-030 saved as version 1: 1 error(s)")).to_be_visible(timeout=150_000)
        expect(page.locator('[data-testid="stDataFrame"] td', has_text="CAP010").first).to_be_attached()
        expect(page.get_by_text("could not be reached")).to_have_count(0)  # it ran as a Prefect flow
        settle(page)
        page.screenshot(path=shots / "upload-findings.png", full_page=True)
        page.locator("input[type=file]").set_input_files(str(fixed))
        expect(page.get_by_text("ISAP-2026-030 saved as version 2: 0 error(s)")).to_be_visible(timeout=60_000)
        page.get_by_role("link", name="Proposal", exact=True).click()
        expect(page.get_by_role("heading", name="ISAP-2026-030")).to_be_visible(timeout=30_000)
        page.get_by_role("button", name="Submit for checkpoint 1").click()
        expect(page.get_by_text("submitted").first).to_be_visible(timeout=30_000)
        settle(page)
        page.screenshot(path=shots / "proposal-commissioner.png", full_page=True)
        page.get_by_role("button", name="Sign out").click()

        # Reviewer: the pipeline, then take the proposal into review and record a decision.
        sign_in(page, server, "rita", "rita-demo")
        expect(page.get_by_text("ISAP-2026-030").first).to_be_attached(timeout=30_000)
        settle(page)
        page.screenshot(path=shots / "pipeline.png", full_page=True)
        page.get_by_role("link", name="Proposal", exact=True).click()
        page.get_by_label("Proposal", exact=True).click()
        page.get_by_role("option", name=re.compile("^ISAP-2026-030")).click()
        expect(page.get_by_role("heading", name="ISAP-2026-030")).to_be_visible(timeout=30_000)
        page.get_by_role("tab", name="Review").click()
        page.get_by_role("button", name="Take into review").click()
        expect(page.get_by_text("Checkpoint 1 decision")).to_be_visible(timeout=30_000)
        page.get_by_role("tab", name="Review").click()
        for domain in ("Capitalisation", "Transparency", "Service scope", "Relationships", "Governance"):
            choose(page, domain, "green")
        choose(page, "Outcome", "approved")
        page.get_by_label("Rationale").fill("Meets every checkpoint 1 expectation.")
        settle(page)
        page.screenshot(path=shots / "decision-form.png", full_page=True)
        page.get_by_role("button", name="Record decision").click()
        expect(page.get_by_text("Decision recorded.")).to_be_visible(timeout=30_000)
        page.get_by_role("tab", name="History").click()
        settle(page)
        page.screenshot(path=shots / "proposal-history.png", full_page=True)
        page.get_by_role("link", name="Rule catalogue").click()
        expect(page.locator('[data-testid="stDataFrame"]').first).to_be_visible(timeout=30_000)
        settle(page)
        page.screenshot(path=shots / "rules.png", full_page=True)
        browser.close()

    # What the browser did is what the database holds.
    engine = create_engine(f"sqlite:///{tmp_path / 'data' / 'isap.db'}")
    with engine.connect() as conn:
        state = conn.execute(text("SELECT state FROM proposal WHERE reference = 'ISAP-2026-030'")).scalar()
        outcome = conn.execute(text(
            "SELECT d.outcome FROM decision d JOIN review r ON r.id = d.review_id JOIN proposal p "
            "ON p.id = r.proposal_id WHERE p.reference = 'ISAP-2026-030'")).scalar()
    engine.dispose()
    assert outcome == "approved" and state != "submitted"


def test_single_sign_on_with_an_openid_provider(tmp_path):
    """With [auth] configured, people sign in at their identity provider; isap's account decides what they may do."""
    from oidc_provider_mock import User, run_server_in_thread
    from playwright.sync_api import expect, sync_playwright

    claims = [User(sub="alice-sso", claims={"email": "Alice@isap.example", "email_verified": True}),
              User(sub="mallory", claims={"email": "mallory@elsewhere.example", "email_verified": True})]
    with run_server_in_thread(user_claims=claims) as provider:
        port = free_port()
        secrets = tmp_path / "secrets.toml"
        secrets.write_text(
            "[auth]\n"
            f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
            'cookie_secret = "a-long-random-test-cookie-secret-0123456789"\n'
            'client_id = "isap-dashboard"\n'
            'client_secret = "isap-dashboard-secret"\n'
            f'server_metadata_url = "http://127.0.0.1:{provider.server_port}/.well-known/openid-configuration"\n')
        with dashboard(tmp_path, port, ("--secrets", str(secrets))) as url, sync_playwright() as pw:
            browser = launch(pw)
            page = browser.new_page()
            page.goto(url)
            expect(page.get_by_role("button", name="Sign in with your organisation's account")).to_be_visible(
                timeout=30_000)
            expect(page.get_by_label("User name")).to_have_count(0)  # local passwords are off with single sign-on
            page.get_by_role("button", name="Sign in with your organisation's account").click()
            page.get_by_placeholder("sub").fill("alice-sso")
            page.get_by_role("button", name="Authorize").click()
            expect(page.get_by_text("Signed in as alice")).to_be_visible(timeout=30_000)
            expect(page.locator('[data-testid="stDataFrame"]').first).to_be_visible(timeout=30_000)
            expect(page.get_by_text("ISAP-2026-011")).to_be_attached()
            expect(page.get_by_text("ISAP-2026-021")).to_have_count(0)  # another organisation's proposal
            settle(page)
            page.get_by_role("button", name="Sign out").click()
            # Signing out ends the session at the identity provider too (RP-initiated logout).
            page.wait_for_url(re.compile(r".*/end_session.*"), timeout=30_000)
            page.get_by_role("button", name="End session").click()
            expect(page.get_by_role("button", name="Sign in with your organisation's account")).to_be_visible(
                timeout=30_000)

            # A real identity without an ISAP account is told so, kindly, and sees nothing.
            page.get_by_role("button", name="Sign in with your organisation's account").click()
            page.get_by_placeholder("sub").fill("mallory")
            page.get_by_role("button", name="Authorize").click()
            expect(page.get_by_text("mallory@elsewhere.example has no ISAP account")).to_be_visible(timeout=30_000)
            expect(page.locator('[data-testid="stDataFrame"]')).to_have_count(0)
            browser.close()

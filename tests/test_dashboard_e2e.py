"""End to end: the real dashboard server in a real browser (Playwright driving Debian's Chromium)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed")


@pytest.fixture
def server(tmp_path):
    env = {**os.environ, "ISAP_DATA_DIR": str(tmp_path)}
    env.pop("ISAP_DATABASE_URL", None)
    for args in (["db", "upgrade"], ["demo", "load"]):
        subprocess.run([sys.executable, "-m", "isap.cli", *args], env=env, check=True, capture_output=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "isap.cli", "dashboard", "--port", str(port), "--host",
                             "127.0.0.1"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=2).status == 200:
                break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("the dashboard did not start")
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def test_sign_in_and_see_own_proposals_then_upload(server, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    from sample_submissions.generate import clean, write

    workbook = write(clean(1, reference="ISAP-2026-030"), tmp_path / "new.xlsx")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        page = browser.new_page()
        page.goto(server)
        page.get_by_label("User name").fill("alice")
        page.get_by_role("textbox", name="Password").fill("alice-demo")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_text("My proposals").first).to_be_visible(timeout=30_000)
        table = page.locator('[data-testid="stDataFrame"]').first
        expect(table).to_be_visible(timeout=30_000)
        page.get_by_role("link", name="Upload").click()
        page.locator("input[type=file]").set_input_files(str(workbook))
        expect(page.get_by_text("ISAP-2026-030 saved as version 1")).to_be_visible(timeout=30_000)
        browser.close()

"""The review queue's chart of waiting times as a reviewer sees it, in Chromium: one bar per proposal waiting,
each of a readable height, and the target line across them (AppTest cannot see a chart drawn)."""

from __future__ import annotations

import io

from tests.test_dashboard_e2e import launch, server, settle, sign_in  # noqa: F401 - server is a fixture

OVERDUE_RED, WITHIN_BLUE, TARGET_INK = (0xD5, 0x28, 0x1B), (0x00, 0x5E, 0xB8), (0x21, 0x2B, 0x32)


def rows_with(image, colour: tuple[int, int, int], tolerance: int = 12) -> int:
    """How many pixel rows of the image hold the colour somewhere."""
    width, height = image.size
    pixels = image.load()
    return sum(1 for y in range(height)
               if any(all(abs(a - b) <= tolerance for a, b in zip(pixels[x, y][:3], colour)) for x in range(width)))


def test_the_waiting_chart_draws_one_readable_bar_per_proposal_and_the_target_line(server):  # noqa: F811
    from PIL import Image
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        sign_in(page, server, "rita", "rita-demo")
        settle(page)
        chart = page.locator('[data-testid="stVegaLiteChart"]').last
        chart.scroll_into_view_if_needed()
        settle(page)
        page.wait_for_timeout(1000)  # Vega draws after the element arrives
        shot = Image.open(io.BytesIO(chart.screenshot())).convert("RGB")
        browser.close()
    # the demo's proposals waiting: ISAP-2026-011 overdue (red), ISAP-2026-021 and ISAP-2026-022 within the target
    # (blue)
    assert rows_with(shot, OVERDUE_RED) >= 15, "the overdue bar has no height"
    assert rows_with(shot, WITHIN_BLUE) >= 15, "the bar within the target has no height"
    assert rows_with(shot, TARGET_INK, tolerance=20) >= 40, "the target line does not cross the bars"

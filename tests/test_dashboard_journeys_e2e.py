"""What AppTest cannot see, in Chromium at the sizes people use: the review queue's chart of waiting times (one bar
per proposal waiting, each of a readable height, and the target line across them); where the keyboard's focus goes
after an action and after a decision with parts missing, and where the error summary's links land; the queue's
filters read in full and its table above the fold; a finding read whole in its table."""

from __future__ import annotations

import io

from dashboards.widgets import HEADER_ROW, WRAPPING_ROW
from tests.test_dashboard_e2e import launch, server, settle, shared_server, sign_in  # noqa: F401 - server is a fixture

OVERDUE_RED, WITHIN_BLUE, TARGET_INK = (0xD5, 0x28, 0x1B), (0x00, 0x5E, 0xB8), (0x21, 0x2B, 0x32)


def rows_with(image, colour: tuple[int, int, int], tolerance: int = 12) -> int:
    """How many pixel rows of the image hold the colour somewhere."""
    width, height = image.size
    pixels = image.load()
    return sum(1 for y in range(height)
               if any(all(abs(a - b) <= tolerance for a, b in zip(pixels[x, y][:3], colour)) for x in range(width)))


def test_the_waiting_chart_draws_one_readable_bar_per_proposal_and_the_target_line(shared_server):  # noqa: F811
    from PIL import Image
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        sign_in(page, shared_server, "rita", "rita-demo")
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


LAPTOP = {"width": 1280, "height": 800}  # the smallest screen the journeys were walked at
# the focused element's role and text; a status or an alert is a message (Streamlit's alerts: role "alert" for
# errors and warnings, "status" for the rest)
FOCUSED = """() => { const e = document.activeElement;
    return [e.tagName, e.getAttribute('role') || '', (e.innerText || '').trim()]; }"""


def press(page, name: str) -> None:
    """Move the keyboard's focus to a button and press Enter, as someone on a keyboard does."""
    page.get_by_role("button", name=name, exact=True).focus()
    page.keyboard.press("Enter")


def test_the_focus_goes_to_what_an_action_did_and_to_the_error_summary_whose_links_land_below_the_top_bar(
        server):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page(viewport=LAPTOP, locale="en-GB")
        sign_in(page, server, "rita", "rita-demo")
        page.goto(f"{server}/proposal?ref=ISAP-2026-011&tab=Review")
        expect(page.get_by_role("heading", name="ISAP-2026-011", level=1)).to_be_visible(timeout=30_000)
        settle(page)
        # after an action, the focus is on what it did, not on the page's body
        press(page, "Declare")
        expect(page.get_by_text("Declaration recorded.")).to_be_visible(timeout=30_000)
        settle(page)
        assert page.evaluate(FOCUSED) == ["DIV", "status", "Declaration recorded."]
        page.get_by_role("tab", name="Review").click()
        press(page, "Take into review")
        expect(page.get_by_text("Taken into review.")).to_be_visible(timeout=30_000)
        settle(page)
        assert page.evaluate(FOCUSED) == ["DIV", "status", "Taken into review."]
        # a decision with nothing chosen: the focus is on the summary of what is missing, twice running
        page.get_by_role("tab", name="Review").click()
        for _ in range(2):
            press(page, "Propose decision")
            expect(page.get_by_text("There is a problem")).to_be_visible(timeout=30_000)
            # the second time, the summary is on the page before the run the press starts (a loaded machine read
            # the focus still on the button, that run not yet begun): the run has drawn its summary when the
            # focus leaves the button for it
            page.wait_for_function("() => document.activeElement.getAttribute('role') === 'alert'", timeout=30_000)
            settle(page)
            tag, role, said = page.evaluate(FOCUSED)
            assert (tag, role) == ("DIV", "alert") and said.startswith("There is a problem"), (tag, role, said)
        # its first link is the next Tab away, and lands the field below Streamlit's top bar, not under it
        page.keyboard.press("Tab")
        assert page.evaluate(FOCUSED)[:3] == ["A", "", "Choose the outcome"]
        page.keyboard.press("Enter")
        page.wait_for_function("() => location.hash === '#decision-outcome'")  # the link scrolls as it goes
        top_bar = page.locator('[data-testid="stHeader"]').bounding_box()
        outcome = page.get_by_label("Outcome", exact=True).bounding_box()
        browser.close()
    assert outcome["y"] >= top_bar["y"] + top_bar["height"] and outcome["y"] + outcome["height"] <= LAPTOP["height"], \
        (top_bar, outcome)



def test_a_withdrawal_refused_for_what_is_missing_takes_the_focus_as_every_refusal_does(shared_server):  # noqa: F811
    """A form that refuses on the page (no reason, no tick) says so in a message that takes the keyboard's focus,
    as an action the service refuses does: a keyboard user and a screen reader start from what went wrong."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page(viewport=LAPTOP, locale="en-GB")
        sign_in(page, shared_server, "alice", "alice-demo")
        page.goto(f"{shared_server}/proposal?ref=ISAP-2026-013")
        expect(page.get_by_role("heading", name="ISAP-2026-013", level=1)).to_be_visible(timeout=30_000)
        settle(page)
        page.locator("summary", has_text="Withdraw this proposal").focus()
        page.keyboard.press("Enter")  # the fold opens
        press(page, "Withdraw proposal")
        said = "Nothing was withdrawn: give the reason for withdrawing and confirm that it cannot be reopened."
        expect(page.get_by_text(said)).to_be_visible(timeout=30_000)
        settle(page)
        focused = page.evaluate(FOCUSED)
        browser.close()
    assert focused == ["DIV", "alert", said], focused

def test_the_queue_reads_its_states_in_full_and_its_table_starts_above_the_fold(shared_server):  # noqa: F811
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page(viewport=LAPTOP, locale="en-GB")
        sign_in(page, shared_server, "rita", "rita-demo")
        settle(page)
        # each chosen state's chip ends inside the box ("In review", never "In re…"), and the field to type in
        # beside them is a target of 24 px at least (WCAG 2.2, 2.5.8)
        chips, typing = page.evaluate("""() => { const box = document.querySelector(
                '.react-aria-ComboBox [data-testid="stMultiSelectTagsContainer"]');
            const edge = box.getBoundingClientRect().right;
            return [[...box.querySelectorAll('[data-tag]')].map(t => [t.innerText.trim(),
                t.getBoundingClientRect().right <= edge + 0.5]),
                box.querySelector('input[role="combobox"]').getBoundingClientRect().width]; }""")
        table = page.locator('[data-testid="stDataFrame"]').first.bounding_box()
        browser.close()
    assert chips == [["Submitted", True], ["In review", True]], chips
    assert typing >= 24, typing
    # the table's heading and its first row are on the first screen
    assert table["y"] + HEADER_ROW + WRAPPING_ROW <= LAPTOP["height"], table


def column_edges(image) -> list[int]:
    """Where a table's columns end, from a picture of its header row: the thin lines drawn the whole height of it."""
    pixels = image.load()
    background = pixels[image.size[0] // 2, 3]
    return [x for x in range(image.size[0]) if all(pixels[x, y] != background for y in range(3, HEADER_ROW - 5))]


def test_a_finding_ends_inside_its_table_at_1280_pixels(shared_server):  # noqa: F811
    from PIL import Image
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page(viewport=LAPTOP, locale="en-GB")
        sign_in(page, shared_server, "alice", "alice-demo")
        page.goto(f"{shared_server}/proposal?ref=ISAP-2026-013")
        expect(page.get_by_role("heading", name="ISAP-2026-013", level=1)).to_be_visible(timeout=30_000)
        settle(page)
        table = page.locator('[data-testid="stDataFrame"]').first
        # the grid draws (and copies for screen readers) only what is in view: the findings may start below the fold
        table.scroll_into_view_if_needed()
        expect(table.locator("canvas table th").first).to_have_text("Severity", timeout=30_000)
        headings = table.locator("canvas table th").all_inner_texts()
        shot = Image.open(io.BytesIO(table.locator('[data-testid="data-grid-canvas"]').screenshot())).convert("RGB")
        browser.close()
    # the table's copy for screen readers holds the columns wholly in view; and the lines after Severity, Rule,
    # Sheet, Cell and Finding are all drawn: the finding's column ends inside the table
    assert headings[:4] == ["Severity", "Rule", "Where", "Finding"], headings
    assert len(column_edges(shot)) >= 4, (column_edges(shot), shot.size)


PLAY_THROUGH = {"width": 1366, "height": 900}  # the screen the reviewer pair's play-through was walked at


def test_a_finding_its_note_and_its_waiver_are_read_whole_at_1366_pixels(shared_server):  # noqa: F811
    """The key text of a finding is where it is, the finding, and the commissioner's note on it or its waiver:
    their columns end inside the table at 1366 px, before the source, which is the one to scroll to."""
    from PIL import Image
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page(viewport=PLAY_THROUGH, locale="en-GB")
        sign_in(page, shared_server, "alice", "alice-demo")
        page.goto(f"{shared_server}/proposal?ref=ISAP-2026-013")
        expect(page.get_by_role("heading", name="ISAP-2026-013", level=1)).to_be_visible(timeout=30_000)
        settle(page)
        table = page.locator('[data-testid="stDataFrame"]').first
        table.scroll_into_view_if_needed()
        expect(table.locator("canvas table th").first).to_have_text("Severity", timeout=30_000)
        headings = table.locator("canvas table th").all_inner_texts()
        table.screenshot(path="/tmp/fix28-findings-1366.png")
        shot = Image.open(io.BytesIO(table.locator('[data-testid="data-grid-canvas"]').screenshot())).convert("RGB")
        browser.close()
    # the screen readers' copy holds the columns wholly in view, and their lines are drawn
    assert headings[:5] == ["Severity", "Rule", "Where", "Finding", "Explanatory note or waiver"], headings
    assert len(column_edges(shot)) >= 5, (column_edges(shot), shot.size)

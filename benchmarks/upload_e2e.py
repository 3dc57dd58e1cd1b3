"""A dashboard upload as a commissioner sees it, in a real browser (`--only upload_e2e`).

`isap dashboard` is started as a newcomer starts it (a fresh embedded database with the demo data, its own
Prefect server and Streamlit as children); Chromium, driven by Playwright, signs in as alice, opens the
upload page and drops a typical workbook.  Each upload is timed from the drop (the file handed to the
page's file input) to the result on the page ("… saved as version 1: 0 error(s), 0 warning(s).", with
the findings table below it).  Timed on their own: the first upload after the dashboard has started,
as soon as alice has signed in (checked in-process if Prefect is still starting), and the first
that runs as a Prefect flow once its API answers; then WARM uploads of different workbooks, one
after another, each a new proposal, every one a flow run.  Reported against the targets (3 s for
a first upload, 1 s for the median of warm ones).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

WARM = 5
FIRST_TARGET_S = 3.0
WARM_TARGET_S = 1.0


def _drop_to_findings(page, path: Path, reference: str) -> tuple[float, bool]:
    """Seconds from the drop to the result on the page, and whether the upload ran as a Prefect flow."""
    from playwright.sync_api import expect

    shown = f"{reference} saved as version 1: 0 error(s), 0 warning(s)."
    start = time.perf_counter()
    page.locator("input[type=file]").set_input_files(str(path))
    # checked on every frame the browser draws: Playwright's own waiting polls at up to 0.5 s apart
    page.wait_for_function("text => document.body.innerText.includes(text)", arg=shown, polling="raf",
                           timeout=180_000)
    took = time.perf_counter() - start
    expect(page.get_by_text(shown)).to_be_visible()
    from tests.test_dashboard_e2e import IN_PROCESS

    return took, page.get_by_text(IN_PROCESS).count() == 0


def bench_upload_e2e(warm: int = WARM) -> list[dict]:
    import os

    from tests.test_dashboard_e2e import CHROMIUM, dashboard, launch, settle, sign_in, wait_for_prefect

    if not os.path.exists(CHROMIUM):
        return [{"benchmark": "dashboard upload in Chromium, drop to findings",
                 "reference": "not measured: Debian's chromium is not installed (see .ci/run)"}]
    from playwright.sync_api import sync_playwright

    from sample_submissions.proposals import clean, write

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        books = [write(clean(1, reference=f"ISAP-2026-{700 + n}"), tmp / f"upload-{n}.xlsx")
                 for n in range(warm + 2)]
        started = time.perf_counter()
        with dashboard(tmp) as url, sync_playwright() as pw:
            serving = time.perf_counter() - started
            browser = launch(pw)
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            sign_in(page, url, "alice", "alice-demo")
            page.get_by_role("link", name="Upload").click()
            page.locator("input[type=file]").wait_for(state="attached")
            ready = time.perf_counter() - started
            first, first_as_flow = _drop_to_findings(page, books[0], "ISAP-2026-700")
            settle(page)
            wait_for_prefect(tmp)
            prefect_ready = time.perf_counter() - started
            first_flow, as_flow = _drop_to_findings(page, books[1], "ISAP-2026-701")
            assert as_flow, "Prefect's API answered, yet the upload was checked in-process"
            times = []
            for n in range(2, warm + 2):
                settle(page)
                took, as_flow = _drop_to_findings(page, books[n], f"ISAP-2026-{700 + n}")
                assert as_flow, "a warm upload was checked in-process"
                times.append(took)
            browser.close()
    median = statistics.median(times)
    common = {"start_to_serving_s": round(serving, 2), "start_to_upload_page_s": round(ready, 2),
              "start_to_prefect_ready_s": round(prefect_ready, 2)}
    first_how = "as a Prefect flow" if first_as_flow else "checked in-process: Prefect was still starting"
    return [
        {**common, "benchmark": "dashboard upload in Chromium, drop to findings: the first after `isap dashboard` "
                                f"starts, as soon as alice has signed in ({first_how})",
         "reference": f"target {FIRST_TARGET_S:g} s", "reference_s": FIRST_TARGET_S, "measured_s": round(first, 3),
         "ratio": round(first / FIRST_TARGET_S, 2)},
        {**common, "benchmark": "dashboard upload in Chromium, drop to findings: the first as a Prefect flow, "
                                "once Prefect's API answers",
         "reference": f"target {FIRST_TARGET_S:g} s", "reference_s": FIRST_TARGET_S,
         "measured_s": round(first_flow, 3), "ratio": round(first_flow / FIRST_TARGET_S, 2)},
        {**common, "benchmark": f"dashboard upload in Chromium, drop to findings: median of {warm} warm uploads "
                                "(Prefect flow runs)",
         "reference": f"target {WARM_TARGET_S:g} s", "reference_s": WARM_TARGET_S, "measured_s": round(median, 3),
         "ratio": round(median / WARM_TARGET_S, 2), "best_s": round(min(times), 3),
         "worst_s": round(max(times), 3)},
    ]

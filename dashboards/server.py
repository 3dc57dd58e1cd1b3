"""The dashboard as served: Streamlit's pages (`app.py`) and the downloads route beside them.

`isap dashboard` runs this file.  Streamlit would serve every download from
its `/media` route to anyone with the address; the dashboard's own route
serves proposal data only to the signed-in person it was offered to
(`dashboards/downloads.py`).  The pages are the same ones `app.py` defines.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from isap.orchestration.dispatch import log_like_prefect, orchestration_defaults

orchestration_defaults()  # before anything imports Prefect
log_like_prefect()

# What the first page run needs is imported here, while the server starts and before it answers, so the first
# person to open the address gets the sign-in form without waiting for these imports (docs/performance.md).
import dashboards.resources  # noqa: E402,F401
import dashboards.session  # noqa: E402,F401
import dashboards.views.sign_in  # noqa: E402,F401
import dashboards.widgets  # noqa: E402,F401
import isap.review.service  # noqa: E402,F401
from dashboards.downloads import routes  # noqa: E402

app = st.App(Path(__file__).with_name("app.py"), routes=routes())

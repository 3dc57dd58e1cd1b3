"""The dashboard as served: Streamlit's pages (`app.py`) and the downloads route beside them.

`isap dashboard` runs this file.  Streamlit would serve every download from
its `/media` route to anyone with the address; the dashboard's own route
serves proposal data only to the signed-in person it was offered to
(`dashboards/downloads.py`).  The pages are the same ones `app.py` defines.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboards.downloads import routes

app = st.App(Path(__file__).with_name("app.py"), routes=routes())

"""What a dashboard process makes once and shares among every page and every visitor: the service, Prefect.

Streamlit runs a page's script again on every interaction; building the
service (policy, database engine) or starting Prefect on each run would cost
seconds, so each is made once per server process (`st.cache_resource`).
"""

from __future__ import annotations

import streamlit as st

from isap.review.service import Service


@st.cache_resource
def service() -> Service:
    from isap.composition import service as wired

    return wired()


@st.cache_resource
def start_orchestration():
    """Start Prefect once per dashboard process, in the background, so the first upload need not wait for it."""
    import gc
    import threading

    from isap.orchestration.dispatch import warm_orchestration

    def warm() -> None:
        warm_orchestration()
        # What is loaded by now lives as long as the process: Python's collector need not walk it again
        # (a full collection drops from about 0.15 s to next to nothing).
        gc.freeze()

    thread = threading.Thread(target=warm, name="isap-prefect-warm-up", daemon=True)
    thread.start()
    return thread


@st.cache_resource
def checking_modules() -> tuple[str, ...]:
    """The modules the children that check uploads import once: read from the installed rules' entry points once
    per process, not on every page run (scanning the entry points costs tens of milliseconds)."""
    from isap.rules.engine import checking_modules as installed

    return installed()


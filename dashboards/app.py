"""The ISAP dashboard: commissioners upload and fix, reviewers follow every proposal.

Run with `isap dashboard`.  This file is the router: it signs people in and
offers the pages the service says they may use (the table is
`dashboards/navigation.py`).  Every page renders what the service
layer returns and sends every action back through it, where roles,
organisation scoping and the workflow's guards are enforced; so a
commissioner never sees another organisation's proposal, whatever they type.
"""

from __future__ import annotations

import streamlit as st

from isap.orchestration.dispatch import log_like_prefect, orchestration_defaults

orchestration_defaults()  # before anything imports Prefect
log_like_prefect()  # one log format, before Prefect has loaded and after

from dashboards import resources, session  # noqa: E402
from dashboards.navigation import SIGN_IN, deep_link_paths, offered  # noqa: E402
from dashboards.render import fmt, md  # noqa: E402
from dashboards.views.sign_in import sign_in_page  # noqa: E402
from dashboards.widgets import clear_sent_text, guarded  # noqa: E402
from isap.policy import PolicyError  # noqa: E402
from isap.review.service import StoreError  # noqa: E402
from isap.workbook.isolation import warm_up  # noqa: E402


@guarded
def main() -> None:
    st.set_page_config(page_title="ISAP assurance", layout="wide")
    try:
        resources.service()
    except StoreError as exc:
        st.error(fmt("The database is not ready: {}", exc))
        st.stop()
    except PolicyError as exc:
        st.error(fmt("The assurance policy cannot be used: {}", exc))
        st.stop()
    try:
        show_pages()
    finally:
        # Prefect and the children that check uploads, started once per server process, after the page has gone
        # to the browser: started before it, their imports held up the first person's sign-in form.
        resources.start_orchestration()
        warm_up(background=True, preload=resources.checking_modules())


def show_pages() -> None:
    user = session.me()
    if user is None:
        # Every page's address shows the sign-in page while signed out, so a shared link never ends in "Page not
        # found"; signed in, the same address (query included) is the page the link names.
        st.navigation([st.Page(SIGN_IN.script, title=SIGN_IN.title, url_path=SIGN_IN.url_path, default=True)]
                      + [st.Page(guarded(sign_in_page), title=SIGN_IN.title, url_path=path, visibility="hidden")
                         for path in deep_link_paths()], position="hidden").run()
        return
    clear_sent_text()
    flash = st.session_state.pop("flash", None)
    if flash:
        st.toast(md(flash))
    with st.sidebar:
        st.markdown(fmt("Signed in as **{}** ({})", user["username"], user["role"]))
        if st.button("Sign out"):
            session.sign_out()
    # the pages are those the service says this account may use, in the navigation table's order
    pages = offered(resources.service().capabilities(user["username"]))
    if not pages:
        st.error("This account may not use the dashboard: ask an ISAP administrator.")
        return
    st.navigation([st.Page(page.script, title=page.title, url_path=page.url_path, default=n == 0)
                   for n, page in enumerate(pages)]).run()


main()

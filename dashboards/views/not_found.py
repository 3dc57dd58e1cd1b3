"""An address that names no page the signed-in person may use: a page that says so, with links to theirs.

Streamlit's own answer to an unknown address is a pop-up over the landing page, which leaves people on a page
they did not ask for without a heading that says why.  An administrator's page asked for by someone else gets
the same words as an address that names no page at all.
"""

from __future__ import annotations

import streamlit as st

from dashboards.render import fmt, plain


def not_found_page(asked: str, pages: list) -> None:
    """`pages` are the `st.Page`s the person is offered, in the navigation's order."""
    st.title("Page not found")
    st.markdown(fmt("There is no page at /{} that you can open. If you typed the address, check it; if you "
                    "followed a link, it may be out of date.", plain(asked, 80)))
    st.markdown("Your pages:")
    for page in pages:
        st.page_link(page)

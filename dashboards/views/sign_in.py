"""Signing in: with a local account's name and password, or with the organisation's account (OpenID Connect).

Every address of the dashboard shows this page while no one is signed in, so a
shared link never ends in "Page not found".
"""

from __future__ import annotations

import streamlit as st

from dashboards.render import fmt, md
from dashboards.resources import service
from dashboards.session import single_sign_on
from dashboards.widgets import guarded


def sign_in_page() -> None:
    st.title("ISAP assurance")
    st.markdown("Sign in to check and submit ICP proposals, or to review them.")
    if single_sign_on():
        refused = st.session_state.get("sign_in_refused")
        if refused and st.user.get("is_logged_in"):
            st.error(fmt("You are signed in with your organisation's account, but cannot use ISAP yet: {}.", refused))
            if st.button("Sign out"):
                st.session_state.pop("sign_in_refused", None)
                st.logout()
            return
        if st.button("Sign in with your organisation's account", type="primary"):
            st.login()
        return
    with st.form("sign_in"):
        # named for what they hold, so browsers and password managers fill them (WCAG 2.2, 1.3.5)
        username = st.text_input("User name", key="username", autocomplete="username")
        password = st.text_input("Password", type="password", key="password", autocomplete="current-password")
        submitted = st.form_submit_button("Sign in")
    from dashboards import session
    from isap.review.service import SignInRefused

    if submitted:
        try:
            user, token = service().sign_in(username.strip(), password)
        except SignInRefused as exc:
            st.error(md(str(exc)))
        else:
            session.start(user, token)
            st.rerun()
    elif session.ended_reason():
        st.info(md(session.ended_reason()))


if __name__ == "__main__":  # Streamlit runs a page's file as a script; imported, it only defines the page
    guarded(sign_in_page)()

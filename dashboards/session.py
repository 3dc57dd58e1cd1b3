"""Keeping a local sign-in across reloads, new tabs and links: the session cookie.

Streamlit forgets its session state on every reload and in every new tab, so
a local sign-in is a server-side session (`Service.sign_in`) whose random
token the browser keeps in a cookie.  Streamlit reads cookies
(`st.context.cookies`, from the request that opened the page) but has no API
to set one, so the cookie is written and removed by a one-line script that
`st.html` runs in the page; the script carries nothing but the token, whose
alphabet is checked first (see docs/decisions.md).  The cookie is only a
bearer of the token: every page run asks the service whether the session
still signs someone in, so signing out in one tab ends it in all of them.
"""

from __future__ import annotations

import re

import streamlit as st

from isap.review.service import SessionEnded
from isap.review.sessions import COOKIE_NAME

_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,100}")
_USER, _TOKEN_KEY, _ENDED, _DEAD = "user", "session_token", "session_ended", "session_dead_cookie"


def _service():
    # the composition root's service, the one dashboards.ui caches too (built once per process either way)
    from isap.composition import service

    return service()


def _script(value: str, max_age: int) -> None:
    st.html(f"<script>document.cookie = '{COOKIE_NAME}={value}; path=/; max-age={max_age}; samesite=strict'"
            " + (location.protocol === 'https:' ? '; secure' : '');</script>", unsafe_allow_javascript=True)


def start(account, token: str) -> None:
    """Remember a new session in this tab and, from the next run on, in the browser's cookie."""
    st.session_state[_USER] = {"username": account.username, "role": account.role}
    st.session_state[_TOKEN_KEY] = token
    st.session_state["session_cookie_pending"] = token
    st.session_state.pop(_ENDED, None)


def current() -> dict | None:
    """The signed-in local user, from this tab's session or the browser's cookie; None with the reason kept
    (see `ended_reason`) when the session has ended."""
    pending = st.session_state.pop("session_cookie_pending", None)
    if pending and _TOKEN.fullmatch(pending):
        _script(pending, int(_service().policy.session_absolute_hours * 3600))
    if st.session_state.pop("session_forget_cookie", False):
        _script("", 0)
    token = st.session_state.get(_TOKEN_KEY)
    if token is None:
        cookie = st.context.cookies.get(COOKIE_NAME)
        if isinstance(cookie, str) and cookie != st.session_state.get(_DEAD) and _TOKEN.fullmatch(cookie):
            token = cookie
    if token is None:
        return None
    try:
        account = _service().session_user(token)
    except SessionEnded as exc:
        end_here(str(exc), token)
        st.session_state.pop("session_forget_cookie", None)
        _script("", 0)
        return None
    user = {"username": account.username, "role": account.role}
    st.session_state[_USER] = user
    st.session_state[_TOKEN_KEY] = token
    return user


def end_here(reason: str, token: str | None) -> None:
    """Forget the session in this tab and the browser, keeping the short reason for the sign-in page."""
    st.session_state.pop(_USER, None)
    st.session_state.pop(_TOKEN_KEY, None)
    st.session_state[_ENDED] = reason
    st.session_state[_DEAD] = token
    st.session_state["session_forget_cookie"] = True


def sign_out() -> None:
    """End the session on the server (every tab with it is signed out), then here."""
    token = st.session_state.get(_TOKEN_KEY)
    if token:
        _service().sign_out(token)
    end_here("You signed out.", token)


def token() -> str | None:
    """This tab's session token: an administrator setting their own password keeps this session."""
    return st.session_state.get(_TOKEN_KEY)


def ended_reason() -> str | None:
    return st.session_state.get(_ENDED)


def security_page(user: dict) -> None:
    """Administrators: the last verification of the audit chain, and failed and refused sign-ins."""
    import pandas as pd

    from dashboards.render import fmt

    svc = _service()
    st.title("Security")
    st.subheader("Audit history")
    last = svc.last_audit_verification(user["username"])
    if last is None:
        st.info("The audit history has not been verified yet. The daily reminders verify it; so does "
                "`isap audit verify`.")
    elif last["ok"]:
        st.success(fmt("Verified {} UTC: {}", last["at"][:16].replace("T", " "), last["summary"]))
    else:
        st.error(fmt("The audit history was changed (found {} UTC): {}", last["at"][:16].replace("T", " "),
                     last["summary"]))
    if st.button("Verify now"):
        svc.verify_audit(user["username"])
        st.rerun()
    st.subheader("Failed and refused sign-ins")
    attempts = svc.sign_in_attempts(user["username"])
    if not attempts:
        st.info("No failed sign-ins.")
        return
    window = format(svc.policy.sign_in_failure_window_minutes, "g")
    st.caption(fmt("The latest {}, newest first. A user name is paused after {} failures within {} minutes; "
                   "`isap user unlock NAME` lifts it at once.", len(attempts), svc.policy.sign_in_max_failures,
                   window))
    # a dataframe shows each user name as the text it is (a name typed by anyone is never Markdown)
    st.dataframe(pd.DataFrame(attempts)[["at", "username", "outcome"]], hide_index=True, width="stretch")

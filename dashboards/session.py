"""Keeping a local sign-in across reloads, new tabs and links: the session cookie.

Streamlit forgets its session state on every reload and in every new tab, so
a local sign-in is a server-side session (`Service.sign_in`) whose random
token the browser keeps in a cookie.  Streamlit reads cookies
(`st.context.cookies`, from the request that opened the page) but has no API
to set one, so the cookie is written and removed by a one-line script that
`st.html` runs in the page; the script carries nothing but the token, whose
alphabet is checked first (see docs/decisions/0018-sign-in-and-passwords.md).  The cookie is only a
bearer of the token: every page run asks the service whether the session
still signs someone in, so signing out in one tab ends it in all of them.

`me` is who is signed in, by either way of signing in (this session, or the
organisation's account through OpenID Connect); `sign_out` ends either.
"""

from __future__ import annotations

import re

import streamlit as st

from dashboards import resources
from isap.review.service import SessionEnded, WorkflowError
from isap.review.sessions import COOKIE_NAME

_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,100}")
_USER, _TOKEN_KEY, _ENDED, _DEAD = "user", "session_token", "session_ended", "session_dead_cookie"


def _service():
    # the composition root's service, the one dashboards.resources caches too (built once per process either way)
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
    user = {"username": account.username, "role": account.role, "display_name": account.display_name,
            "body": account.body}
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


def _sign_out_here() -> None:
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


def single_sign_on() -> bool:
    """True when OpenID Connect is configured (an [auth] section in Streamlit's secrets)."""
    try:
        return "auth" in st.secrets
    except Exception:  # noqa: BLE001 - no secrets file, or an unreadable one: local accounts only
        return False


def me() -> dict | None:
    if not single_sign_on():
        return current()  # a local sign-in: the server-side session in the browser's cookie
    if not st.user.get("is_logged_in"):
        st.session_state.pop("user", None)
        return None
    # Who someone is comes from the identity provider; what they may do comes from isap's account, asked on
    # every run as a local session is: an account disabled meanwhile acts no more from its next action.
    try:
        account = resources.service().identify(st.user.get("email"), st.user.get("email_verified"))
    except WorkflowError as exc:
        st.session_state.pop("user", None)
        st.session_state["sign_in_refused"] = str(exc)
        return None
    user = {"username": account.username, "role": account.role, "display_name": account.display_name,
            "body": account.body, "sso": True}
    st.session_state["user"] = user
    return user


def sign_out() -> None:
    user = st.session_state.get("user")
    if user and user.get("sso"):
        st.session_state.pop("user", None)
        st.logout()  # the browser goes to the identity provider's sign-out; a rerun here could race it
        st.stop()
    _sign_out_here()
    st.rerun()


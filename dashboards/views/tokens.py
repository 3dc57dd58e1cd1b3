"""Personal API tokens: what another system or a CI job uses to act as you through the HTTP API (docs/api.md).

Everyone may make tokens for themselves; the secret is shown once, on the run
that made it, and never again (only its hash is kept), so the page keeps it in
no state that outlives that run.  Revoking is offered for live tokens only,
and the service decides whose tokens a person may see and revoke (an
administrator: everyone's).  Names are shown as plain table cells or escaped
text.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboards import session
from dashboards.render import fmt, plain
from dashboards.resources import service
from dashboards.widgets import act, guarded, kind_error, table
from isap.review import wording
from isap.review.service import StoreError, WorkflowError

STATE_WORDS = {"active": "Active", "expired": "Expired", "revoked": "Revoked"}


def tokens_page() -> None:
    user = session.me()
    if user is None:
        return
    svc = service()
    me = user["username"]
    st.title("API tokens")
    st.caption(fmt("A token lets another system or a CI job act as you through the HTTP API: it sees and may do "
                   "exactly what you may. It lasts {} days at most, and its secret is shown only once. The command "
                   "line does the same: `isap token create`, `list` and `revoke`.", svc.policy.api_token_days))
    with st.form("tokens_create", clear_on_submit=True):
        name = st.text_input("Name", key="tokens_name", placeholder="What it is for, such as ci", max_chars=80)
        if st.form_submit_button("Create token"):
            try:
                row, secret = svc.create_token(me, name)
            except (WorkflowError, StoreError) as exc:
                kind_error(exc)
            else:
                st.success(fmt("Token {} ({}) is made. Copy its secret now: it is shown only this once.",
                               row["id"], row["name"]))
                st.code(secret, language=None)
    try:
        rows = svc.tokens(me)
    except (WorkflowError, StoreError) as exc:
        kind_error(exc)
        return
    if not rows:
        st.info("You have no API tokens.")
        return
    table(pd.DataFrame([{
        "Number": r["id"], "Name": plain(r["name"]), "User": plain(r["user"]),
        "State": STATE_WORDS.get(r["state"], plain(r["state"])), "Expires": wording.day(r["expires_at"]),
        "Last used": wording.when(r["last_used_at"]) or "never",
    } for r in rows]), hide_index=True, width="stretch")
    live = {r["id"]: r for r in rows if r["state"] == "active"}
    if not live:
        return
    picked = st.selectbox("Token", list(live), index=None, key="tokens_pick",
                          format_func=lambda i: f"{i}: {plain(live[i]['name'])} ({plain(live[i]['user'])})",
                          placeholder="Choose a token to revoke")
    if picked is not None and st.button("Revoke", key="tokens_revoke"):
        act(svc.revoke_token, me, picked, success=f"Token {picked} is revoked; it never acts again.")


if __name__ == "__main__":  # Streamlit runs a page's file as a script; imported, it only defines the page
    guarded(tokens_page)()

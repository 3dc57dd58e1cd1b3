"""Administrators' view of the accounts: who may sign in, with which role, and who is signed in now.

Access that can be given can be taken away: here an administrator disables an
account (it signs in nowhere, and its sessions end), enables it again, ends
someone's sessions, or sets a new password (which ends every other session of
that account).  The service decides who may do this: every call carries the
administrator's name, and it refuses anyone else.  Everything shown is plain
table cells, selectbox options or escaped text; a password is typed into a
password field and never shown.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboards import session
from dashboards.render import fmt, md, plain
from dashboards.resources import service
from dashboards.widgets import act, focus_message, guarded, table
from isap.review import wording
from isap.review.capabilities import Capability
from isap.review.lifecycle import BODY_LABELS
from isap.review.limits import TextKind
from isap.review.regions import Region
from isap.review.service import Forbidden

STATE_WORDS = {"enabled": "Enabled", "disabled": "Disabled"}
PICK = "users_pick"
ORG_PICK = "org_pick"
BODY_WORDS = {b.value: label for b, label in BODY_LABELS.items()}


def users_page() -> None:
    user = session.me()
    if user is None:
        return
    svc = service()
    me = user["username"]
    st.title("Users")
    try:
        rows = svc.users(me)
    except Forbidden:
        st.error("Only administrators can manage users.")
        return
    st.caption("A disabled account signs in nowhere, and its sessions end: each is signed out at its next action. "
               "A new password ends every other session of the account. The command line does the same: "
               "`isap user disable`, `enable`, `set-password`, `list` and `sessions end`.")
    table(pd.DataFrame([{
        "User": plain(r["username"]),
        "Role": plain(wording.code(r["role"])),
        "Organisation": plain(r["organisation"] or ""),
        "Name and job title": plain(", ".join(x for x in (r.get("display_name"), r.get("job_title")) if x)),
        "Body": BODY_WORDS.get(r.get("body") or "", ""),
        "State": STATE_WORDS.get(r["state"], plain(r["state"])),
        "Last sign-in": wording.when(r["last_sign_in"]) or "never",
        "Open sessions": r["open_sessions"],
    } for r in rows]), hide_index=True, width="stretch",
        # the account's name stays in view while the table scrolls sideways, as a proposal's reference does
        column_config={"User": st.column_config.Column("User", pinned=True)})
    access(svc, me, rows)
    if svc.can(me, Capability.SET_REGIONS):
        regions(svc, me)


def access(svc, me: str, rows: list[dict]) -> None:
    """One account's access: enable or disable it, end its sessions, set its password."""
    listed = {r["username"]: r for r in rows}
    picked = st.selectbox("User", list(listed), index=None, key=PICK, format_func=plain,
                          placeholder="Choose a user to change their access")
    if picked is None:
        return
    row = listed[picked]
    st.subheader(fmt("{} ({}, {})", picked, wording.code(row["role"]),
                     STATE_WORDS.get(row["state"], row["state"]).lower()))
    first, second = st.columns(2)
    with first:
        if row["state"] == "disabled":
            confirmed(picked, "Enable", "users_enable", "enabled",
                      "Enabling {} lets them sign in again; sessions that ended stay ended.",
                      "I understand that {} may sign in again",
                      lambda: act(svc.enable_user, picked, actor=me, success=f"{plain(picked)} may sign in again."))
        else:
            confirmed(picked, "Disable", "users_disable", "disabled",
                      "Disabling {} stops them signing in anywhere, and ends each of their open sessions: they are "
                      "signed out at their next action.",
                      "I understand that {} is signed out at their next action",
                      lambda: act(svc.disable_user, picked, actor=me,
                                  success=lambda ended: f"{plain(picked)} is disabled; {sessions_ended(ended)}."))
    if second.button("End sessions", key="users_end_sessions"):
        act(svc.end_sessions, picked, actor=me, success=lambda ended: (
            f"{wording.count(ended, 'session')} of {plain(picked)} ended." if ended else
            f"{plain(picked)} had no open sessions."))
    # the fields start from the chosen user's values (Streamlit keeps a keyed widget's value, and reads `index`
    # only when it first makes it, so each is set when another user is chosen)
    if st.session_state.get("users_details_of") != picked:
        st.session_state["users_details_of"] = picked
        st.session_state["users_display_name"] = row.get("display_name") or ""
        st.session_state["users_job_title"] = row.get("job_title") or ""
        st.session_state["users_body"] = row.get("body") or ""
    with st.form("users_details"):
        st.markdown("**How letters and reports name them**")
        name = st.text_input("Display name", key="users_display_name", max_chars=TextKind.PERSON_DETAIL.max_chars)
        title = st.text_input("Job title", key="users_job_title", max_chars=TextKind.PERSON_DETAIL.max_chars)
        bodies = ["", *BODY_WORDS]
        body = st.selectbox("Body (reviewers)", bodies, key="users_body",
                            format_func=lambda b: BODY_WORDS.get(b, "None"))
        if st.form_submit_button("Save name, job title and body"):
            act(svc.set_user_details, picked, name, title, body, actor=me,
                success=f"Saved the name, job title and body of {plain(picked)}.")
    with st.form("users_password", clear_on_submit=True):
        new = st.text_input("Set a new password", type="password", key="users_new_password",
                            autocomplete="new-password")
        if st.form_submit_button("Set password"):
            # the sessions the service ended (an administrator setting their own keeps this one, uncounted)
            act(svc.set_password, picked, new, actor=me, except_token=session.token(),
                success=lambda ended: f"{plain(picked)} has a new password; {sessions_ended(ended)}.")


def confirmed(picked: str, verb: str, key: str, done: str, what: str, understood: str, then) -> None:
    """An action on the account `picked` that asks first, as withdrawing a proposal does: what it does, a box to
    tick, and the button; nothing is `done` until the box is ticked.  `what` and `understood` are the product's
    own words, with `{}` where the account's name goes."""
    with st.form(key):
        st.markdown(fmt(what, picked))
        sure = st.checkbox(fmt(understood, picked), key=f"{key}_sure")
        if st.form_submit_button(md(verb)):
            if sure:
                then()
            else:
                st.error(fmt("Nothing was {}: tick the box to confirm.", done))
                focus_message()


def sessions_ended(count: int) -> str:
    """How many sessions an action ended, in words (the service counts them): none is said as none."""
    return f"{wording.count(count, 'session')} ended" if count else "they had no open sessions"


def regions(svc, me: str) -> None:
    """Which of NHS England's seven regions oversees each organisation: the national view filters by it.  The
    command line does the same (`isap org set-region`)."""
    st.subheader("Organisations' regions")
    orgs = svc.organisations(me)
    table(pd.DataFrame([{"Code": plain(o["code"]), "Organisation": plain(o["name"]),
                                "Region": region_label(o["region"])} for o in orgs]),
                 hide_index=True, width="stretch")
    listed = {o["code"]: o for o in orgs}
    code = st.selectbox("Organisation", list(listed), index=None, key=ORG_PICK,
                        format_func=lambda c: plain(f"{c} {listed[c]['name']}"),
                        placeholder="Choose an organisation to set its region")
    if code is None:
        return
    now = listed[code]["region"]
    # keyed by the organisation, so the box starts at this organisation's region (Streamlit keeps a keyed
    # widget's value and reads `index` only when it first makes it)
    region = st.selectbox("Region", list(Region), key=f"org_region:{code}", format_func=lambda r: r.label,
                          index=list(Region).index(Region(now)) if now in Region._value2member_map_ else None,
                          placeholder="Choose its region")
    if st.button("Set region", key="org_set_region", disabled=region is None or region.value == now):
        act(svc.set_region, code, region, actor=me, success=f"{plain(code)} is in {region.label}.")


def region_label(value: str | None) -> str:
    return Region(value).label if value in Region._value2member_map_ else "No region yet"


if __name__ == "__main__":  # Streamlit runs a page's file as a script; imported, it only defines the page
    guarded(users_page)()

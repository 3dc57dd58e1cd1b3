"""Administrators: the last verification of the audit chain, and failed and refused sign-ins.

The service refuses both to anyone but an administrator; everything shown is
escaped text or table cells (a user name typed by anyone is never Markdown).
"""

from __future__ import annotations

import streamlit as st

from dashboards.render import fmt
from dashboards.resources import service
from dashboards.session import me
from dashboards.widgets import guarded, table
from isap.review import wording
from isap.review.sessions import SignInOutcome


def security_page(user: dict) -> None:
    """Administrators: the last verification of the audit chain, and failed and refused sign-ins."""
    import pandas as pd

    svc = service()
    st.title("Security")
    st.subheader("Audit history")
    last = svc.last_audit_verification(user["username"])
    if last is None:
        st.info("The audit history has not been verified yet. The daily reminders verify it; so does "
                "`isap audit verify`.")
    elif last["ok"]:
        st.success(fmt("Verified {}: {}", wording.when(last["at"]), wording.details(None, last["summary"])))
    else:
        st.error(fmt("The audit history was changed (found {}): {}", wording.when(last["at"]),
                     wording.details(None, last["summary"])))
    if st.button("Verify now"):
        svc.verify_audit(user["username"])
        st.rerun()
    st.subheader("Failed and refused sign-ins")
    attempts = svc.sign_in_attempts(user["username"])
    if not attempts:
        st.info("No failed sign-ins.")
        return
    by_name = svc.sign_in_failures_by_name(user["username"])
    if by_name:
        st.caption(fmt("In the last day, by user name: names that are accounts first, then the most tried (at most "
                       "{}).", len(by_name)))
        table(pd.DataFrame([{"User name": n["username"], "An account": "yes" if n["account"] else "no",
                             "Failed": n["failed"], "Refused while paused": n["refused"],
                             "Last": wording.when(n["last"])} for n in by_name]),
              hide_index=True, width="stretch")
    window = format(svc.policy.sign_in_failure_window_minutes, "g")
    st.caption(fmt("The latest {}, newest first. A user name is paused after {} failures within {} minutes; "
                   "`isap user unlock NAME` lifts it at once.", len(attempts), svc.policy.sign_in_max_failures,
                   window))
    # a dataframe shows each user name as the text it is (a name typed by anyone is never Markdown)
    table(pd.DataFrame([{"When": wording.when(a["at"]), "User name": a["username"],
                                "What happened": sign_in_outcome(a["outcome"])} for a in attempts]),
                 hide_index=True, width="stretch")


def sign_in_outcome(code: str) -> str:
    """A sign-in's outcome in words; one this version does not know, as it is."""
    return SignInOutcome(code).label if code in SignInOutcome._value2member_map_ else code


if __name__ == "__main__":  # Streamlit runs a page's file as a script; imported, it only defines the page
    guarded(lambda: security_page(me()))()

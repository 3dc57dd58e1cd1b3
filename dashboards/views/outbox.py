"""Administrators' view of the outbox: which notifications are waiting, sent, or failed and why.

Every notification is queued by the service with the event that causes it and
sent later by the delivery flow, so this is where an administrator sees that a
commissioner was told, or why they were not (a mail server's refusal, no
address recorded).  Everything shown is plain table cells or fixed words;
subjects and reasons are never rendered as Markdown.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboards.render import md, plain
from dashboards.resources import service
from dashboards.session import me
from dashboards.widgets import guarded
from isap.review.capabilities import Capability

KIND_WORDS = {
    "version_checked": "Version checked", "submitted": "Submitted", "taken_into_review": "Taken into review",
    "decision_recorded": "Decision recorded", "condition_due_soon": "Condition due soon",
    "condition_overdue": "Condition overdue", "review_overdue": "Review overdue",
}
STATUS_WORDS = {"pending": "Waiting to be sent", "sending": "Being sent", "sent": "Sent", "failed": "Failed"}


def outbox_page() -> None:
    user = me()
    svc = service()
    if user is None or not svc.can(user["username"], Capability.READ_OUTBOX):
        st.error("Only administrators can see the outbox.")
        return
    st.title("Outbox")
    st.caption("Notifications are queued with the event that causes them and sent by the delivery flow "
               "(`isap notify send`). A message waiting to be sent after a refusal is tried again later.")
    counts = svc.outbox_counts()
    cols = st.columns(4)
    for col, status in zip(cols, ("pending", "sending", "sent", "failed")):
        col.metric(md(STATUS_WORDS[status]), int(counts.get(status, 0)))
    choice = st.selectbox("Show", ["All", *STATUS_WORDS.values()], key="outbox_status")
    status = next((k for k, v in STATUS_WORDS.items() if v == choice), None)
    rows = svc.outbox(user["username"], status)
    if not rows:
        st.info("No notifications to show.")
        return
    frame = pd.DataFrame([{
        "Queued": r["created_at"][:16].replace("T", " "),
        "Event": KIND_WORDS.get(r["kind"], plain(r["kind"])),
        "Proposal": r["reference"] or "",
        "To": plain(", ".join(r["recipients"]), 300),
        "Subject": plain(r["subject"], 200),
        "Status": STATUS_WORDS.get(r["status"], plain(r["status"])),
        "Attempts": r["attempts"],
        "Sent": (r["sent_at"] or "")[:16].replace("T", " "),
        "Reason": plain(r["last_error"] or "", 500),
    } for r in rows])
    st.dataframe(frame, hide_index=True, width="stretch")
    failed = frame[frame["Status"] == STATUS_WORDS["failed"]]
    if len(failed):
        st.subheader("Failed, with the reason")
        st.dataframe(failed[["Queued", "Event", "Proposal", "To", "Reason"]], hide_index=True, width="stretch")



if __name__ == "__main__":  # Streamlit runs a page's file as a script; imported, it only defines the page
    guarded(outbox_page)()

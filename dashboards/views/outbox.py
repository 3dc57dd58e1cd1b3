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
from dashboards.widgets import guarded, table
from isap.review import wording
from isap.review.capabilities import Capability
from isap.review.events import NotificationStatus, notification_label, status_label


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
    for col, status in zip(cols, NotificationStatus):
        col.metric(md(status.label), int(counts.get(status, 0)))
    choice = st.selectbox("Show", ["All", *(s.label for s in NotificationStatus)], key="outbox_status")
    status = next((s.value for s in NotificationStatus if s.label == choice), None)
    rows = svc.outbox(user["username"], status)
    if not rows:
        st.info("No notifications to show.")
        return
    frame = pd.DataFrame([{
        "Queued": wording.when(r["created_at"]),
        "Event": plain(notification_label(r["kind"])),
        "Proposal": r["reference"] or "",
        "To": plain(", ".join(r["recipients"]), 300),
        "Subject": plain(r["subject"], 200),
        "Status": plain(status_label(r["status"])),
        "Attempts": r["attempts"],
        "Sent": wording.when(r["sent_at"]),
        "Reason": plain(r["last_error"] or "", 500),
    } for r in rows])
    table(frame, hide_index=True, width="stretch")
    failed = frame[frame["Status"] == NotificationStatus.FAILED.label]
    if len(failed):
        st.subheader("Failed, with the reason")
        table(failed[["Queued", "Event", "Proposal", "To", "Reason"]], hide_index=True, width="stretch")



if __name__ == "__main__":  # Streamlit runs a page's file as a script; imported, it only defines the page
    guarded(outbox_page)()

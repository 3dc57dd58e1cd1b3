"""Commissioners: their organisation's proposals, each with the next step, a row opening its page."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboards import labels
from dashboards.resources import service
from dashboards.session import me
from dashboards.widgets import guarded, open_proposal, opened_row, row_opens_caption, wrapping_table


def my_proposals_page() -> None:
    user = me()
    st.title("My proposals")
    rows = service().list_proposals(user["username"])
    if not rows:
        st.info("No proposals yet: download the template, fill it in and upload it.")
        return
    frame = pd.DataFrame(rows)
    frame["next step"] = [service().next_step(user["username"], r["name"]) for r in rows]
    # reference, state and the next step first: what matters is on screen at 1280 px
    shown, config = labels.table(frame, ["reference", "state", "next step", "title", "checkpoint", "latest_version"],
                                 codes=("state",))
    row_opens_caption()
    event = wrapping_table(shown, config, on_select="rerun", selection_mode="single-row", key="mine-table")
    if (ref := opened_row(event, frame)) is not None:
        open_proposal(ref)


if __name__ == "__main__":  # Streamlit runs a page's file as a script; imported, it only defines the page
    guarded(my_proposals_page)()

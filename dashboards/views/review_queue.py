"""Reviewers: every proposal waiting, overdue reviews first, with filters and charts of the queue over time."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboards import labels
from dashboards.render import fmt, plain
from dashboards.resources import service
from dashboards.session import me
from dashboards.widgets import REF, TAB, guarded, open_proposal, opened_row, row_opens_caption, wrapping_table
from isap.review.lifecycle import State


def review_queue_page() -> None:
    user = me()
    svc = service()
    st.title("Review queue")
    rows = svc.review_queue(user["username"])
    if not rows:
        st.info("There are no proposals yet.")
        return
    frame = pd.DataFrame(rows)
    frame["reference"] = frame["name"]  # with the lead commissioner's code where two organisations share it
    c = st.columns(5)
    c[0].metric("Waiting to be taken", int((frame["state"] == State.SUBMITTED).sum()))
    c[1].metric("In review", int((frame["state"] == State.IN_REVIEW).sum()))
    c[2].metric("Waiting for countersignature", int(frame["waiting_for_countersignature"].sum()))
    c[3].metric("Overdue", int(frame["overdue"].sum()))
    c[4].metric("Assured", int((frame["state"] == State.ASSURED).sum()))
    countersign_list(frame)
    st.bar_chart(frame.groupby(["checkpoint", "state"]).size().unstack(fill_value=0).rename(columns=labels.code),
                 height=220,
                 x_label="Checkpoint", y_label="Proposals")
    f1, f2, f3, f4 = st.columns(4)
    states = f1.multiselect("State", [s for s in State if s in set(frame["state"])], key="f_state",
                            format_func=labels.code)
    cps = f2.multiselect("Checkpoint", sorted(frame["checkpoint"].unique()), key="f_cp")
    orgs = f3.multiselect("Commissioner", sorted(frame["commissioner"].unique()), key="f_org")
    ptypes = f4.multiselect("Provider type", sorted(frame["provider_type"].dropna().unique()), key="f_ptype",
                            format_func=plain)
    max_age = st.slider("Waiting at most (working days)", 0, max(60, int(frame["working_days_in_state"].max())),
                        max(60, int(frame["working_days_in_state"].max())), key="f_age")
    view = frame
    for col, chosen in (("state", states), ("checkpoint", cps), ("commissioner", orgs), ("provider_type", ptypes)):
        if chosen:
            view = view[view[col].isin(chosen)]
    view = view[view["working_days_in_state"] <= max_age]
    target = svc.policy.review_target_working_days
    st.caption(fmt("Policy target: {} working days in review. Overdue reviews come first, marked OVERDUE.", target))
    # Overdue rows first and marked: a Styler would highlight too, but costs seconds at 10,000 rows.
    ordered = view.sort_values(["overdue", "working_days_in_state"], ascending=False, kind="stable").copy()
    ordered["overdue"] = ordered["overdue"].map({True: "⚠ OVERDUE", False: ""})
    # the key columns first, so state, waiting time and overdue are on screen without scrolling sideways
    shown, config = labels.table(ordered, ["reference", "state", "working_days_in_state", "overdue", "panel",
                                           "checkpoint", "title", "commissioner", "provider_type"], codes=("state",))
    row_opens_caption()
    event = wrapping_table(shown, config, on_select="rerun", selection_mode="single-row", key="queue-table")
    if (ref := opened_row(event, ordered)) is not None:
        open_proposal(ref)
    st.subheader("Proposals by state over time")
    history = svc.states_over_time(user["username"])
    if history:
        states_chart(history)
    st.subheader("Working days waiting for review")
    waiting_chart(view, target)


def countersign_list(frame: pd.DataFrame) -> None:
    """The proposed decisions that wait for a second reviewer's countersignature, each a link to its Review tab."""
    waiting = frame[frame["waiting_for_countersignature"]]
    if waiting.empty:
        return
    st.subheader("Waiting for countersignature")
    for row in waiting.itertuples():
        st.page_link("views/proposal.py", label=fmt("{}: {}. {}", plain(row.reference, 40), plain(row.title, 80),
                                                     plain(row.panel, 120)),
                     query_params={REF: row.reference, TAB: "Review"})


def states_chart(history: list[dict]) -> None:
    """How many proposals were in each state at the end of each day, from the history."""
    import altair as alt

    frame = pd.DataFrame(history).set_index("day").fillna(0)
    frame = frame.rename(columns=labels.code).reset_index().melt("day", var_name="State", value_name="Proposals")
    frame["Day"] = pd.to_datetime(frame["day"])
    chart = alt.Chart(frame).mark_line(point=True, interpolate="step-after").encode(
        x=alt.X("Day:T", axis=alt.Axis(format="%d %b", title=None)),
        y=alt.Y("Proposals:Q", axis=alt.Axis(tickMinStep=1, format="d")),
        color=alt.Color("State:N", legend=alt.Legend(orient="top", title=None)),
        tooltip=[alt.Tooltip("Day:T", format="%d %b %Y"), "State", "Proposals"],
    ).properties(height=240)
    st.altair_chart(chart, width="stretch")


def waiting_chart(view: pd.DataFrame, target: int) -> None:
    """Working days each proposal has waited for review, against the policy target (the dashed line)."""
    import altair as alt

    waiting = view[view["state"].isin([State.SUBMITTED, State.IN_REVIEW])]
    if waiting.empty:
        st.caption("No proposal is waiting for review.")
        return
    waiting = waiting.nlargest(40, "working_days_in_state")  # the longest waits; the table lists every one
    frame = pd.DataFrame({"Proposal": waiting["name"], "Working days": waiting["working_days_in_state"],
                          "Waiting": [("Overdue" if o else "Within target") for o in waiting["overdue"]]})
    bars = alt.Chart(frame).mark_bar().encode(
        y=alt.Y("Proposal:N", sort="-x", title=None, axis=alt.Axis(labelLimit=200)),
        x=alt.X("Working days:Q", axis=alt.Axis(tickMinStep=1, format="d")),
        color=alt.Color("Waiting:N", scale=alt.Scale(domain=["Within target", "Overdue"],
                                                     range=["#005eb8", "#d5281b"]),
                        legend=alt.Legend(orient="top", title=None)),
        tooltip=["Proposal", "Working days", "Waiting"],
    )
    rule = alt.Chart(pd.DataFrame({"Target": [target]})).mark_rule(strokeDash=[6, 4], color="#212b32").encode(
        x="Target:Q", tooltip=["Target"])
    st.altair_chart((bars + rule).properties(height=max(120, 28 * len(frame))), width="stretch")
    st.caption(fmt("The dashed line is the policy target of {} working days.", target))


if __name__ == "__main__":  # Streamlit runs a page's file as a script; imported, it only defines the page
    guarded(review_queue_page)()

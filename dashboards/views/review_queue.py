"""Reviewers: the work waiting for review, overdue first then the oldest, with who has each and the proposed
decisions waiting for a second reviewer's countersignature and the drafts whose waiver requests wait for an answer;
every other proposal a filter away; charts of the queue over time and of the waits against the target."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboards import labels
from dashboards.render import fmt, plain
from dashboards.resources import service
from dashboards.session import me
from dashboards.widgets import REF, TAB, guarded, open_proposal, opened_row, row_opens_caption, wrapping_table
from isap.review.lifecycle import State

WAITING = (State.SUBMITTED, State.IN_REVIEW)  # the queue's work: shown unless other states are chosen
WAITING_BARS = 40  # the chart shows the longest waits; the table above lists every proposal
BAR_STEP = 28  # pixels per proposal in the chart of waiting times


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
    c = st.columns(6)
    c[0].metric("Waiting to be taken", int((frame["state"] == State.SUBMITTED).sum()))
    c[1].metric("In review", int((frame["state"] == State.IN_REVIEW).sum()))
    c[2].metric("To countersign", int(frame["waiting_for_countersignature"].sum()),
                help="Proposed decisions waiting for a second reviewer's countersignature")
    c[3].metric("Overdue", int(frame["overdue"].sum()))
    c[4].metric("Late", int(frame["late"].sum()))
    c[5].metric("Assured", int((frame["state"] == State.ASSURED).sum()))
    countersign_list(frame)
    # By default the work waiting: what waits to be taken and what is in review; other states are a choice away.
    # The state box is the widest, so that both of those states read in full ("In review", not "In re…") with room
    # left to type in it (24 px at least, WCAG's target size); the charts follow the table, which starts above the
    # fold at 1280 × 800.
    f1, f2, f3, f4 = st.columns([2, 1, 1, 1])
    present = [s for s in State if s in set(frame["state"])]
    states = f1.multiselect("State", present, default=[s for s in WAITING if s in present], key="f_state",
                            format_func=labels.code, placeholder="Every state")
    cps = f2.multiselect("Checkpoint", sorted(frame["checkpoint"].unique()), key="f_cp")
    orgs = f3.multiselect("Commissioner", sorted(frame["commissioner_name"].unique()), key="f_org", format_func=plain)
    ptypes = f4.multiselect("Provider type", sorted(frame["provider_type"].dropna().unique()), key="f_ptype",
                            format_func=plain)
    longest = max(60, int(frame["working_days_in_state"].max()))
    g1, g2 = st.columns([3, 1])
    max_age = g1.slider("Waiting at most (working days)", 0, longest, longest, key="f_age")
    mine = g2.toggle("Only those I have in review", key="f_mine")
    # late proposals (a planned submission passed without one) are the reviewer's to chase, whatever their state
    late_too = g2.toggle("Late proposals too", value=True, key="f_late")
    view = frame
    if states:
        # a draft whose waiver request waits for an answer is the reviewers' work too: its commissioner cannot
        # submit until one of them grants or refuses it
        view = view[view["state"].isin(states) | (view["late"] & late_too) | (view["waivers_asked"] > 0)]
    for col, chosen in (("checkpoint", cps), ("commissioner_name", orgs), ("provider_type", ptypes)):
        if chosen:
            view = view[view[col].isin(chosen)]
    view = view[view["working_days_in_state"] <= max_age]
    if mine:
        view = view[view["reviewer"] == user["username"]]
    target = svc.policy.review_target_working_days
    st.caption(fmt("Policy target: {} working days in review. Overdue reviews come first, marked OVERDUE, then "
                   "the longest waiting.", target))
    # Overdue rows first and marked, then the oldest: a Styler would highlight too, but costs seconds at 10,000 rows.
    ordered = view.sort_values(["overdue", "working_days_in_state"], ascending=False, kind="stable").copy()
    ordered["overdue"] = ordered["overdue"].map({True: "⚠ OVERDUE", False: ""})
    # late: a planned submission date has passed without a submission (docs/workflow.md, "Calendar")
    ordered["late"] = ordered["late"].map({True: "⚠ LATE", False: ""})
    # the key columns first, so state, waiting time, overdue, lateness, who has it and whether its proposed
    # decision waits for countersignature are on screen
    shown, config = labels.table(ordered, ["reference", "state", "working_days_in_state", "overdue", "late",
                                           "reviewer_name", "panel", "checkpoint", "title", "commissioner_name",
                                           "provider_type"], codes=("state",))
    row_opens_caption()
    event = wrapping_table(shown, config, on_select="rerun", selection_mode="single-row", key="queue-table")
    if ordered.empty:
        st.caption("Nothing matches the filters.")
    if (ref := opened_row(event, ordered)) is not None:
        open_proposal(ref)
    st.subheader("Proposals by checkpoint and state")
    st.bar_chart(frame.groupby(["checkpoint", "state"]).size().unstack(fill_value=0).rename(columns=labels.code),
                 height=220, x_label="Checkpoint", y_label="Proposals")
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
    """One bar per proposal waiting for review, as long as the working days it has waited, and the policy
    target as a dashed line across them, labelled.

    Each bar has its own band of BAR_STEP pixels, so the chart grows with the proposals rather than squeezing
    them into a fixed height; the target line is drawn on the bars' own data (`alt.datum`), so the two layers
    share one y scale and the line spans every bar.
    """
    import altair as alt

    waiting = view[view["state"].isin([State.SUBMITTED, State.IN_REVIEW])]
    if waiting.empty:
        st.caption("No proposal is waiting for review.")
        return
    waiting = waiting.nlargest(WAITING_BARS, "working_days_in_state")  # the longest waits; the table lists all
    frame = pd.DataFrame({"Proposal": waiting["name"].astype(str).to_list(),
                          "Working days": waiting["working_days_in_state"].astype(int).to_list(),
                          "Waiting": ["Overdue" if o else "Within target" for o in waiting["overdue"]]})
    longest = max(int(frame["Working days"].max()), target)
    x = alt.X("Working days:Q", title="Working days waiting", scale=alt.Scale(domain=[0, longest + 1]),
              axis=alt.Axis(tickMinStep=1, format="d"))
    bars = alt.Chart(frame).mark_bar().encode(
        y=alt.Y("Proposal:N", sort="-x", title=None, axis=alt.Axis(labelLimit=200)),
        x=x,
        color=alt.Color("Waiting:N", scale=alt.Scale(domain=["Within target", "Overdue"],
                                                     range=["#005eb8", "#d5281b"]),
                        legend=alt.Legend(orient="top", title=None)),
        tooltip=["Proposal", "Working days", "Waiting"],
    )
    # the line and its label are named for screen readers too (axe: an SVG mark group needs its text)
    said = f"Target: {target} working days"
    line = alt.Chart(frame).mark_rule(strokeDash=[6, 4], color="#212b32", size=2, description=said).encode(
        x=alt.datum(target), tooltip=alt.value(said))
    words = alt.Chart(frame).mark_text(align="left", dx=4, dy=-6, color="#212b32", description=said).encode(
        x=alt.datum(target), y=alt.value(0), text=alt.datum(said))
    st.altair_chart(alt.layer(bars, line, words).properties(height=alt.Step(BAR_STEP)), width="stretch")
    st.caption(fmt("The dashed line is the policy target of {} working days.", target))


if __name__ == "__main__":  # Streamlit runs a page's file as a script; imported, it only defines the page
    guarded(review_queue_page)()

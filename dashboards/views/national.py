"""Reviewers and administrators: every ICP procurement in England in one table, with filters, charts and exports.

National teams ask where the pipeline stands, where the money is, which
proposals slip and how decided proposals were rated; this page answers from
one service query (`Service.national_view`), filters it in memory, and offers
the rows as CSV and as an Excel workbook through the dashboard's own download
route (docs/dashboard.md, "National view").
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboards import labels
from dashboards.render import fmt, plain
from dashboards.resources import service
from dashboards.session import me
from dashboards.widgets import guarded, offer_download, open_proposal, opened_row, row_opens_caption, wrapping_table
from isap.review.lifecycle import AssuranceDomain, State
from isap.review.regions import Region

CSV = "text/csv"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
LATENESS = {"Late": True, "Not late": False}


def national_page() -> None:
    user = me()
    svc = service()
    st.title("National view")
    rows = svc.national_view(user["username"])
    if not rows:
        st.info("There are no proposals yet.")
        return
    frame = pd.DataFrame(rows)
    f1, f2, f3, f4, f5 = st.columns(5)
    regions = f1.multiselect("Region", list(Region), key="n_region", format_func=lambda r: r.label)
    states = f2.multiselect("State", [s for s in State if s in set(frame["state"])], key="n_state",
                            format_func=labels.code)
    cps = f3.multiselect("Checkpoint", sorted(frame["checkpoint"].unique()), key="n_cp")
    models = f4.multiselect("Integration model", sorted(frame["integration_model"].dropna().unique()), key="n_model",
                            format_func=plain)
    lateness = f5.selectbox("Lateness", list(LATENESS), index=None, key="n_late", placeholder="Any")
    view = frame
    for col, chosen in (("region", [r.value for r in regions]), ("state", states), ("checkpoint", cps),
                        ("integration_model", models)):
        if chosen:
            view = view[view[col].isin(chosen)]
    if lateness is not None:
        view = view[view["late"] == LATENESS[lateness]]
    c = st.columns(4)
    c[0].metric("Proposals", len(view))
    c[1].metric("Late", int(view["late"].sum()))
    total = float(view["annual_contract_value_gbp"].fillna(0).sum())
    c[2].metric("Annual contract value", fmt("£{}m", f"{total / 1e6:,.1f}"))
    c[3].metric("Open conditions", int(view["open_conditions"].sum()))
    shown = view.copy()
    shown["region"] = shown["region"].map(lambda v: Region(v).label if v in Region._value2member_map_ else "")
    shown["late"] = shown["late"].map({True: "⚠ LATE", False: ""})
    for d in AssuranceDomain:
        shown[f"rating_{d.value}"] = shown[f"rating_{d.value}"].map(labels.code)
    table, config = labels.table(shown, [
        "name", "state", "checkpoint", "late", "slippage_working_days", "next_planned_date", "title", "commissioner",
        "region", "provider", "provider_type", "integration_model", "annual_contract_value_gbp",
        "wpap_annual_value_gbp", "population_registered", "last_decision",
        *(f"rating_{d.value}" for d in AssuranceDomain), "open_conditions", "open_queries"],
        codes=("state", "last_decision"))
    row_opens_caption()
    event = wrapping_table(table, config, on_select="rerun", selection_mode="single-row", key="national-table")
    if (ref := opened_row(event, view)) is not None:
        open_proposal(ref)
    chosen = {"region": [r.value for r in regions] or None, "states": states or None, "cps": cps or None,
              "models": models or None, "late": LATENESS[lateness] if lateness else None}
    e1, e2 = st.columns(2)
    with e1:
        offer_download(user, "Download CSV", lambda who: _export(who, chosen, "csv"), "national-view.csv", CSV,
                       "national-csv")
    with e2:
        offer_download(user, "Download Excel", lambda who: _export(who, chosen, "xlsx"), "national-view.xlsx", XLSX,
                       "national-xlsx")
    charts(view)


def _export(who: str, chosen: dict, kind: str) -> bytes:
    """The rows with the page's filters, read again as the account following the link."""
    from isap.outputs import national

    rows = service().national_view(who)
    keep = [r for r in rows
            if (chosen["region"] is None or r["region"] in chosen["region"])
            and (chosen["states"] is None or r["state"] in chosen["states"])
            and (chosen["cps"] is None or r["checkpoint"] in chosen["cps"])
            and (chosen["models"] is None or r["integration_model"] in chosen["models"])
            and (chosen["late"] is None or r["late"] == chosen["late"])]
    return national.export(keep, kind)


def charts(view: pd.DataFrame) -> None:
    """The four questions people ask of the pipeline, each a chart of the rows shown."""
    import altair as alt

    st.subheader("Where the pipeline stands")
    stages = view.assign(State=view["state"].map(labels.code), Checkpoint=view["checkpoint"].astype(str))
    st.altair_chart(alt.Chart(stages).mark_bar().encode(
        x=alt.X("Checkpoint:N", title="Checkpoint"), y=alt.Y("count():Q", title="Proposals"),
        color=alt.Color("State:N", legend=alt.Legend(orient="top", title=None)),
        tooltip=["Checkpoint", "State", "count()"]).properties(height=240), width="stretch")
    st.subheader("Contract value by state")
    value = (stages.groupby("State", as_index=False)["annual_contract_value_gbp"].sum()
             .rename(columns={"annual_contract_value_gbp": "Annual contract value (£)"}))
    st.altair_chart(alt.Chart(value).mark_bar().encode(
        y=alt.Y("State:N", sort="-x", title=None), x=alt.X("Annual contract value (£):Q", axis=alt.Axis(format="~s")),
        tooltip=["State", alt.Tooltip("Annual contract value (£):Q", format=",.0f")]).properties(height=200),
        width="stretch")
    st.subheader("Slippage by proposal")
    slipping = view[view["slippage_working_days"] > 0].nlargest(40, "slippage_working_days")
    if slipping.empty:
        st.caption("No proposal has slipped past a planned submission date.")
    else:
        frame = pd.DataFrame({"Proposal": slipping["name"], "Working days": slipping["slippage_working_days"]})
        st.altair_chart(alt.Chart(frame).mark_bar(color="#d5281b").encode(
            y=alt.Y("Proposal:N", sort="-x", title=None, axis=alt.Axis(labelLimit=200)),
            x=alt.X("Working days:Q", axis=alt.Axis(tickMinStep=1, format="d")),
            tooltip=["Proposal", "Working days"]).properties(height=max(120, 28 * len(frame))), width="stretch")
    st.subheader("Ratings by domain across decided proposals")
    decided = view[view["last_decision"].notna()]
    ratings = decided.melt(value_vars=[f"rating_{d.value}" for d in AssuranceDomain], var_name="Domain",
                           value_name="Rating").dropna()
    if ratings.empty:
        st.caption("No proposal has a decision yet.")
        return
    ratings["Domain"] = ratings["Domain"].str.removeprefix("rating_").map(labels.domain)
    ratings["Rating"] = ratings["Rating"].map(labels.code)
    st.altair_chart(alt.Chart(ratings).mark_bar().encode(
        # every domain named: a band of its own, and no label dropped for overlapping its neighbour
        y=alt.Y("Domain:N", title=None, axis=alt.Axis(labelOverlap=False, labelLimit=240)),
        x=alt.X("count():Q", title="Decided proposals", stack="normalize"),
        color=alt.Color("Rating:N", scale=alt.Scale(domain=["Green", "Amber", "Red"],
                                                    range=["#007f3b", "#ffb81c", "#d5281b"]),
                        legend=alt.Legend(orient="top", title=None)),
        tooltip=["Domain", "Rating", "count()"]).properties(height=alt.Step(36)), width="stretch")


if __name__ == "__main__":  # Streamlit runs a page's file as a script; imported, it only defines the page
    guarded(national_page)()

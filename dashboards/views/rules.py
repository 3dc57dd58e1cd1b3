"""Everyone: the catalogue of every rule the pre-submission check applies, from the rule registry."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboards import labels
from dashboards.render import fmt, md
from dashboards.widgets import guarded, wrapping_table
from isap.rules.registry import all_rules
from isap.rules.sources import readable


def rules_page() -> None:
    st.title("Rule catalogue")
    st.markdown("Every rule the pre-submission check applies, from the rule registry.")
    frame = pd.DataFrame([dict(r.to_dict(), source=readable(r.source)) for r in all_rules()])
    # "All domains" is a real option, not a placeholder: Streamlit's placeholder grey fails WCAG AA contrast
    domain = st.selectbox("Domain", [None, *sorted(frame["domain"].unique())], key="rules_domain",
                          format_func=lambda d: "All domains" if d is None else labels.domain(d))
    if domain is not None:
        frame = frame[frame["domain"] == domain]
    ordered = frame.assign(severity=frame["severity"].map(lambda v: labels.SEVERITIES.get(v, v)))
    shown, config = labels.table(ordered, ["id", "severity", "when", "domain", "summary", "points_at", "source"],
                                 domains=("domain",))
    wrapping_table(shown, config)
    for r in frame.itertuples():
        with st.expander(fmt("{} — {}", r.id, r.summary)):
            st.markdown(md(r.explanation))
            st.caption(fmt("Source: {}", r.source))


if __name__ == "__main__":  # Streamlit runs a page's file as a script; imported, it only defines the page
    guarded(rules_page)()

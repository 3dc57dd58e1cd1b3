"""Commissioners: the blank ISAP-WB 1.0 workbook to fill in."""

from __future__ import annotations

import streamlit as st

from dashboards.widgets import guarded


def template_page() -> None:
    from isap.workbook.blank_template import template_bytes

    st.title("Template")
    st.markdown("The ISAP-WB 1.0 workbook: every sheet, drop-down lists, notes on each column.")
    st.download_button("Download the blank template", template_bytes(), file_name="ISAP-WB-1.0-template.xlsx",
                       mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


if __name__ == "__main__":  # Streamlit runs a page's file as a script; imported, it only defines the page
    guarded(template_page)()

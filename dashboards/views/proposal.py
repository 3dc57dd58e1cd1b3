from dashboards import ui

ui.proposal_page()

from dashboards import ui

ui.my_proposals_page()

from dashboards import ui

ui.rules_page()

from dashboards import ui

ui.sign_in_page()

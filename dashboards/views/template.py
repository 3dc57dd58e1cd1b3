from dashboards import ui

ui.template_page()

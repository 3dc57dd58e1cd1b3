from dashboards import ui

ui.upload_page()

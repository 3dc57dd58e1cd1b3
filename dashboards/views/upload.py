from dashboards import ui

ui.guarded(ui.upload_page)()

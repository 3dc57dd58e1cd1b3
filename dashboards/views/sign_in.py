from dashboards import ui

ui.guarded(ui.sign_in_page)()

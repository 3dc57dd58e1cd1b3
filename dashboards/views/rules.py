from dashboards import ui

ui.guarded(ui.rules_page)()

from dashboards import ui

ui.guarded(ui.template_page)()

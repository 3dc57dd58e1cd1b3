from dashboards import ui

ui.guarded(ui.pipeline_page)()

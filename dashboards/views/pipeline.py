from dashboards import ui

ui.pipeline_page()

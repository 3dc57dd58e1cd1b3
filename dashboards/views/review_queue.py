from dashboards import ui

ui.guarded(ui.review_queue_page)()

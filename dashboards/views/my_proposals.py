from dashboards import ui

ui.guarded(ui.my_proposals_page)()

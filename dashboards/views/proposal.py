from dashboards import ui

ui.guarded(ui.proposal_page)()

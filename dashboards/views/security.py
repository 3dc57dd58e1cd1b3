from dashboards import session, ui

ui.guarded(lambda: session.security_page(ui.me()))()

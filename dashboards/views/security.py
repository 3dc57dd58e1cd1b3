from dashboards import session, ui

ui.guarded(session.security_page)()

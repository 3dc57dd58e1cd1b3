"""The ISAP dashboard: commissioners upload and fix, reviewers follow every proposal.

Run with `isap dashboard`.  This file is the router: it signs people in and
offers the pages the service says they may use (the table is
`dashboards/navigation.py`).  Every page renders what the service
layer returns and sends every action back through it, where roles,
organisation scoping and the workflow's guards are enforced; so a
commissioner never sees another organisation's proposal, whatever they type.
"""

from __future__ import annotations

import streamlit as st

from isap.orchestration.dispatch import log_like_prefect, orchestration_defaults

orchestration_defaults()  # before anything imports Prefect
log_like_prefect()  # one log format, before Prefect has loaded and after

from dashboards import resources, session  # noqa: E402
from dashboards.navigation import (  # noqa: E402
    NOT_FOUND,
    SIGN_IN,
    SITE,
    browser_title,
    deep_link_paths,
    offered,
    unknown_address,
)
from dashboards.render import fmt  # noqa: E402
from dashboards.views.sign_in import sign_in_page  # noqa: E402
from dashboards.widgets import clear_sent_text, guarded, result_message  # noqa: E402
from isap.policy import PolicyError  # noqa: E402
from isap.review import wording  # noqa: E402
from isap.review.service import StoreError  # noqa: E402
from isap.workbook.isolation import warm_up  # noqa: E402

# Where the keyboard is, drawn for everyone who moves by keyboard: Streamlit's own styles take the outline away from
# links, switches and buttons and leave a pale grey background (about 1.1:1 against the page), which nobody can
# follow.  A black ring 3 px wide, set off from the control, reads on white and on the sidebar's grey alike.
# A choice box is ringed whole rather than the text field inside it, and a chart's toolbar, shown only under the
# mouse, is shown while the keyboard is on one of its buttons.  What a link or the focus scrolls to (the decision
# form's parts, a message) stops below Streamlit's top bar (3.75rem), not under it; and the element that only holds
# the script moving the focus (`widgets.focus_message`) takes no room.
FOCUS_STYLE = """<style>
*:focus-visible, [data-testid="stSidebarNavLink"]:focus, [role="switch"]:focus-visible,
.react-aria-ComboBox [role="group"][data-focus-visible="true"] {
  outline: 3px solid #0b0c0c !important; outline-offset: 2px !important;
}
.react-aria-ComboBox [role="group"] [role="combobox"]:focus-visible { outline: none !important; }
[data-testid="stElementToolbar"]:focus-within { opacity: 1 !important; }
[id^="decision-"], [data-testid="stAlertContainer"] { scroll-margin-top: 5rem; }
[data-testid="stElementContainer"]:has(script[data-focus-message]) { display: none; }
</style>"""


@guarded
def main() -> None:
    st.set_page_config(page_title=SITE, layout="wide")  # each page's own title is set once it is known
    st.html(FOCUS_STYLE)
    try:
        resources.service()
    except StoreError as exc:
        st.error(fmt("The database is not ready: {}", exc))
        st.stop()
    except PolicyError as exc:
        st.error(fmt("The assurance policy cannot be used: {}", exc))
        st.stop()
    try:
        show_pages()
    finally:
        # Prefect and the children that check uploads, started once per server process, after the page has gone
        # to the browser: started before it, their imports held up the first person's sign-in form.
        resources.start_orchestration()
        warm_up(background=True, preload=resources.checking_modules(),
                reserve=resources.service().policy.check_reserve_children)


def asked_address() -> str:
    """The address the browser asked for, below the dashboard's root ("" for the root itself), as Streamlit
    matches it against the pages' addresses."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return (ctx.pages_manager.intended_page_name or "") if ctx is not None else ""


def show_pages() -> None:
    user = session.me()
    asked = asked_address()
    if user is None:
        # Every page's address shows the sign-in page while signed out, so a shared link never ends in "Page not
        # found"; signed in, the same address (query included) is the page the link names.  An address that names
        # no page asks for the sign-in too, and says "Page not found" once someone is signed in.
        paths = deep_link_paths()
        paths += (asked,) if unknown_address(asked, (*paths, SIGN_IN.url_path)) else ()
        run(st.navigation([st.Page(SIGN_IN.script, title=SIGN_IN.title, url_path=SIGN_IN.url_path, default=True)]
                          + [st.Page(guarded(sign_in_page), title=SIGN_IN.title, url_path=path, visibility="hidden")
                             for path in paths], position="hidden"))
        return
    clear_sent_text()
    flash = st.session_state.pop("flash", None)
    if flash:  # what the last action did, first on the page and focused (a toast would vanish with the focus)
        result_message(flash)
    with st.sidebar:
        # the name typed to sign in, then the person and the role in words ("Administrator"; a reviewer's body)
        who = ", ".join(x for x in (user.get("display_name"), wording.role_words(user["role"], user.get("body")))
                        if x)
        st.markdown(fmt("Signed in as **{}** ({})", user["username"], who))
        if st.button("Sign out"):
            session.sign_out()
    # the pages are those the service says this account may use, in the navigation table's order
    pages = offered(resources.service().capabilities(user["username"]))
    if not pages:
        st.error("This account may not use the dashboard: ask an ISAP administrator.")
        return
    landing = pages[0]
    shown = [st.Page(page.script, title=page.title, url_path=page.url_path if n else f"{page.url_path}-landing",
                     default=n == 0) for n, page in enumerate(pages)]
    # Streamlit serves the landing page at the root only: its own address, and the sign-in page's (where the
    # browser may still be once someone has signed in), open it too, rather than Streamlit's "Page not found"
    hidden = [st.Page(landing.script, title=landing.title, url_path=path, visibility="hidden")
              for path in (landing.url_path, SIGN_IN.url_path)]
    if unknown_address(asked, [page.url_path for page in pages] + [SIGN_IN.url_path]):
        from dashboards.views.not_found import not_found_page

        hidden.append(st.Page(guarded(lambda: not_found_page(asked, shown)), title=NOT_FOUND.title, url_path=asked,
                              visibility="hidden"))
    run(st.navigation(shown + hidden))


def run(page) -> None:
    """Run the page navigation chose, under its own title."""
    st.set_page_config(page_title=browser_title(page.title))
    page.run()

main()

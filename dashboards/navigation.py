"""Which pages the dashboard offers, to whom, and at which address: one table.

Each row names a page's module in `dashboards/views/`, its title, its address
and the capability a person needs to see it (`isap.review.capabilities`).
The pages a signed-in person is offered are the rows whose capability the
service grants them, in the table's order, the first being where they land;
while no one is signed in, every row's address shows the sign-in page, so a
shared link never ends in "Page not found".  Nothing here compares roles.

No Streamlit here: `dashboards/app.py` turns rows into `st.Page`s, and a test
reads the table without starting a page.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from isap.review.capabilities import Capability


@dataclass(frozen=True)
class PageEntry:
    view: str  # the page's module in dashboards/views/
    title: str
    url_path: str
    needs: Capability | None  # None: the sign-in page, for anyone

    @property
    def script(self) -> str:
        """The page's file, relative to dashboards/app.py, as Streamlit names it."""
        return f"views/{self.view}.py"


SIGN_IN = PageEntry("sign_in", "Sign in", "sign-in", None)
# shown at an address that names no page the person may use; its address is the one asked for
NOT_FOUND = PageEntry("not_found", "Page not found", "", None)
SITE = "ISAP assurance"
PAGES: tuple[PageEntry, ...] = (
    PageEntry("my_proposals", "My proposals", "mine", Capability.PREPARE_PROPOSALS),
    PageEntry("review_queue", "Review queue", "queue", Capability.REVIEW_PROPOSALS),
    PageEntry("national", "National view", "national", Capability.SEE_NATIONAL_VIEW),
    PageEntry("upload", "Upload", "upload", Capability.PREPARE_PROPOSALS),
    PageEntry("proposal", "Proposal", "proposal", Capability.READ_PROPOSALS),
    PageEntry("template", "Template", "template", Capability.PREPARE_PROPOSALS),
    PageEntry("rules", "Rule catalogue", "rules", Capability.READ_RULES),
    PageEntry("security", "Security", "security", Capability.SEE_SECURITY),
    PageEntry("outbox", "Outbox", "outbox", Capability.READ_OUTBOX),
    PageEntry("users", "Users", "users", Capability.MANAGE_USERS),
    PageEntry("tokens", "API tokens", "tokens", Capability.KEEP_API_TOKENS),
)


def offered(granted: Collection[Capability]) -> list[PageEntry]:
    """The pages for someone granted `granted`, in the table's order; the first is where they land."""
    return [page for page in PAGES if page.needs in granted]


def browser_title(page_title: str) -> str:
    """The browser's title for a page: the page first, so tabs and screen readers tell pages apart (WCAG 2.4.2)."""
    return f"{page_title} – {SITE}"


def unknown_address(asked: str | None, known: Collection[str]) -> bool:
    """Whether the address a browser asked for names no page among `known` (the root names the landing page).

    Only a single path segment can be answered with a page of its own: Streamlit's pages have one-segment
    addresses, and a deeper one never reaches a page.
    """
    return bool(asked) and "/" not in asked and asked not in known


def deep_link_paths() -> tuple[str, ...]:
    """Every page's address: while signed out, each of them shows the sign-in page."""
    return tuple(page.url_path for page in PAGES)

"""The dashboard's pages come from one table: every page has a row, every row a page, and who sees which
follows from the capabilities the service grants, which agree with what the service refuses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dashboards.navigation import NOT_FOUND, PAGES, SIGN_IN, deep_link_paths, offered
from isap.review.capabilities import CAPABILITIES, Capability
from isap.review.lifecycle import REVIEWERS, Role

ROOT = Path(__file__).resolve().parents[1]
VIEWS = ROOT / "dashboards" / "views"


def test_every_page_module_has_a_row_in_the_navigation_table():
    rows = {page.view for page in PAGES} | {SIGN_IN.view, NOT_FOUND.view}
    modules = {p.stem for p in VIEWS.glob("*.py") if p.stem != "__init__"}
    missing = sorted(modules - rows)
    assert not missing, f"dashboards/views has pages with no row in PAGES of dashboards/navigation.py: {missing}"
    assert sorted(rows - modules) == [], "rows of PAGES with no module in dashboards/views"


def test_addresses_and_titles_are_each_used_once():
    pages = (SIGN_IN, *PAGES)
    for field in ("url_path", "title"):
        values = [getattr(p, field) for p in PAGES]
        assert len(values) == len(set(values)), field
    assert len({p.url_path for p in pages}) == len(pages)
    assert deep_link_paths() == tuple(p.url_path for p in PAGES)


@pytest.mark.parametrize(("role", "pages"), [
    (Role.COMMISSIONER, ["mine", "upload", "proposal", "template", "rules", "tokens"]),
    (Role.REVIEWER, ["queue", "national", "proposal", "rules", "tokens"]),
    (Role.ADMIN, ["queue", "national", "proposal", "rules", "security", "outbox", "users", "tokens"]),
    (Role.SYSTEM, []),
])
def test_each_role_is_offered_its_pages_in_order_landing_on_the_first(role, pages):
    assert [p.url_path for p in offered(CAPABILITIES[role])] == pages


def test_no_page_compares_role_names():
    """Pages ask the service (`can`, `capabilities`) what someone may use; a role's name appears in none."""
    found = []
    for path in sorted((ROOT / "dashboards").rglob("*.py")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if re.search(r"""\[["']role["']\]\s*(==|!=|in\b|not in\b)|get\(["']role["']\)\s*(==|!=|in\b)""", line):
                found.append(f"{path.relative_to(ROOT)}:{n}")
    assert not found, found


# ---------------------------------------------------------------------- the service agrees with the table
def _refused(call) -> bool:
    from isap.review.service import Forbidden

    try:
        call()
    except Forbidden:
        return True
    return False


ENFORCED = {  # a capability, and a service call that needs it
    Capability.SEE_SECURITY: lambda svc, who: svc.sign_in_attempts(who),
    Capability.READ_OUTBOX: lambda svc, who: svc.outbox(who),
    Capability.MANAGE_USERS: lambda svc, who: svc.users(who),
    Capability.SEE_NATIONAL_VIEW: lambda svc, who: svc.national_view(who),
    Capability.SET_REGIONS: lambda svc, who: svc.organisations(who),
}


@pytest.mark.parametrize("who", ["alice", "rita", "ada"])
def test_the_service_grants_what_the_table_says_and_refuses_the_rest(service, who):
    granted = service.capabilities(who)
    role = next(u["role"] for u in service.users("ada") if u["username"] == who)
    assert granted == CAPABILITIES[Role(role)]
    for capability, call in ENFORCED.items():
        assert service.can(who, capability) == (capability in granted)
        assert _refused(lambda: call(service, who)) == (capability not in granted), (who, capability)
    # reviewing is what the state machine lets reviewers do (take, return, decide)
    assert (Capability.REVIEW_PROPOSALS in granted) == (Role(role) in REVIEWERS)


def test_an_unknown_or_disabled_account_may_use_nothing(service):
    assert service.capabilities("nobody") == frozenset() and service.capabilities(None) == frozenset()
    service.disable_user("rita", actor="ada")
    assert service.capabilities("rita") == frozenset()
    assert not service.can("rita", Capability.READ_RULES)


# ---------------------------------------------------------------------- the documented way to add a page
@pytest.mark.parametrize("path", ["A new rule", "A new column of the template", "A new workflow state",
                                  "A new guard", "A new dashboard page"])
def test_the_architecture_documents_each_change_path_as_it_is(path):
    """Every file and name a "Where a change goes" paragraph of docs/architecture.md points at exists."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    paragraph = re.search(rf"\*\*{path}\*\*[^:]*:(.*?)(?:\n\n|\Z)", text, re.S).group(1)
    named = re.findall(r"`([^`]+)`", paragraph)
    files = [n for n in named if "/" in n and " " not in n and not n.startswith(".venv")]
    assert files, paragraph
    if path == "A new dashboard page":
        assert {"dashboards/views/", "dashboards/navigation.py", "dashboards/widgets.py",
                "isap/review/capabilities.py"} <= set(files), files
    for f in files:
        if "<" in f:  # a pattern such as rule_cases/<ID>.yml: its folder exists
            f = f.rsplit("/", 1)[0]
        assert (ROOT / f).exists(), f"docs/architecture.md names {f}, which does not exist"
    sources = "\n".join(f.read_text(encoding="utf-8") for d in ("dashboards", "isap", "tests", "checks")
                        for f in (ROOT / d).rglob("*.py"))
    for name in named:
        owner, _, member = name.rpartition(".")
        if not re.fullmatch(r"[A-Za-z_]\w*", member) or (owner and not re.fullmatch(r"[A-Z]\w*", owner)):
            continue  # a path, a snippet of code or a module's name, not a name the code defines
        if member in ("py", "md", "yml", "toml"):
            continue
        assert re.search(rf"^\s*(class |def )?{member}\b\s*[:=(]", sources, re.M), \
            f"docs/architecture.md names {name}, which the code does not define"


def test_the_dashboards_guide_lists_every_page_with_its_address():
    guide = (ROOT / "docs" / "dashboard.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| ([^|]+?) \| `/([^`]+)` \|", guide, re.M)
    assert rows == [(p.title, p.url_path) for p in PAGES]


# ---------------------------------------------------------------------- addresses that name no page
def test_an_address_is_unknown_when_it_names_none_of_the_pages_offered():
    from dashboards.navigation import unknown_address

    known = [p.url_path for p in offered(CAPABILITIES[Role.COMMISSIONER])]
    assert not unknown_address("", known) and not unknown_address(None, known)  # the root: the landing page
    assert not unknown_address("mine", known) and not unknown_address("upload", known)
    assert unknown_address("users", known)  # an administrator's page, to a commissioner
    assert unknown_address("admin", known)
    assert not unknown_address("admin/users", known)  # deeper addresses never reach a page


def test_streamlit_still_says_which_address_was_asked_for():
    """dashboards/app.py reads the page name Streamlit matches (an internal attribute): an upgrade that renames it
    fails here, before unknown addresses fall back to Streamlit's own pop-up."""
    from streamlit.runtime.pages_manager import PagesManager

    assert isinstance(getattr(PagesManager, "intended_page_name", None), property)

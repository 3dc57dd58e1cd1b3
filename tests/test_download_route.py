"""The dashboard's download route refuses in words that fit who asks: someone signed in who follows a link made
for another person's page is not told to sign in.  Whether an offer exists is never told apart."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.unit


@pytest.fixture
def client():
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

    from dashboards import downloads

    with TestClient(Starlette(routes=downloads.routes())) as c:
        yield c


def test_a_browser_with_no_sign_in_is_told_to_sign_in(client):
    got = client.get("/download/no-such-offer")
    assert got.status_code == 403 and got.text.startswith("Sign in to ISAP")


@pytest.mark.parametrize("cookie", ["isap_session", "_streamlit_user"])
def test_a_signed_in_browser_with_someone_elses_link_is_told_whose_it_is_not_to_sign_in(client, cookie):
    from dashboards import downloads
    from isap.review.sessions import COOKIE_NAME

    name = COOKIE_NAME if cookie == "isap_session" else downloads.SSO_COOKIE
    made = downloads.make_offer(("tab", "letter"), "rita's credential", "rita", False, lambda user: b"%PDF",
                                "letter.pdf", "application/pdf")
    for path in (made, "/download/no-such-offer"):  # the same words whether or not the offer exists
        client.cookies.set(name, "otto's credential")
        got = client.get(path)
        client.cookies.clear()
        assert got.status_code == 403
        assert "Sign in" not in got.text and "made for" in got.text and "page that offers it" in got.text

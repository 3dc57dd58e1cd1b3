"""Other organisations stay invisible: a reference is unique within its lead commissioner's organisation.

Two organisations may use the same reference; neither is ever told the other has it, neither can take
it from the other, and "already assured" counts only what the asker may see.  Reviewers, who see every
organisation's proposals, name a shared reference with its code (QUA/ISAP-2026-014) or by number.
"""

from __future__ import annotations

import hashlib
import uuid

import pytest
from sqlalchemy import text

from isap.review.service import NotFound
from sample_submissions.proposals import clean, write
from tests.panel import take

REF = "ISAP-2026-014"


def book(tmp_path, code="QUA", reference=REF, title=None, name=None) -> bytes:
    p = clean(1, "Partially integrated", "NHS trust", reference)
    p["Cover"]["lead_commissioner_code"] = code
    if title:
        p["Cover"]["proposal_title"] = title
    return write(p, tmp_path / (name or f"{code}-{reference}.xlsx")).read_bytes()


def test_another_organisations_reference_is_simply_a_proposal_of_ones_own(service, tmp_path):
    service.upload("alice", "a.xlsx", book(tmp_path, "QUA", title="Black Country ICP"))
    r = service.upload("otto", "o.xlsx", book(tmp_path, "QHM", title="North East ICP"))
    assert (r.reference, r.version, r.created_proposal) == (REF, 1, True)
    assert "another organisation" not in r.message and "QUA" not in r.message
    # each commissioner sees their own proposal under the bare reference, and nothing of the other's
    assert service.show("alice", REF)["title"] == "Black Country ICP"
    assert service.show("otto", REF)["title"] == "North East ICP"
    assert service.show("otto", REF)["name"] == REF
    assert [p["name"] for p in service.list_proposals("otto")] == [REF]
    assert service.proposal_choices("alice") == [(REF, "Black Country ICP")]
    service.submit("otto", REF)
    assert service.show("alice", REF)["state"] == "draft"
    # naming the other organisation's proposal outright finds nothing, in the words used for one that never was
    with pytest.raises(NotFound, match=f"^no proposal QUA/{REF} that you can see$"):
        service.show("otto", f"QUA/{REF}")
    # a reviewer sees both, each named with its lead commissioner's code, and is asked which a bare name means
    assert service.proposal_choices("rita") == [(f"QHM/{REF}", "North East ICP"), (f"QUA/{REF}", "Black Country ICP")]
    assert [p["name"] for p in service.list_proposals("rita")] == [f"QHM/{REF}", f"QUA/{REF}"]
    with pytest.raises(NotFound, match=f"name one with its lead commissioner's code, as QHM/{REF} or QUA/{REF}"):
        service.show("rita", REF)
    shown = service.show("rita", f"QHM/{REF}")
    assert (shown["title"], shown["state"], shown["name"]) == ("North East ICP", "submitted", f"QHM/{REF}")
    take(service, "rita", f"QHM/{REF}")
    assert service.show("otto", REF)["state"] == "in_review"


def test_taking_a_reference_first_never_blocks_its_rightful_owner(service, tmp_path):
    claimed = "ISAP-2026-777"
    service.upload("otto", "o.xlsx", book(tmp_path, "QHM", claimed))
    r = service.upload("alice", "a.xlsx", book(tmp_path, "QUA", claimed))
    assert (r.reference, r.created_proposal, r.version) == (claimed, True, 1)
    assert [v["number"] for v in service.show("alice", claimed)["versions"]] == [1]
    assert [v["number"] for v in service.show("otto", claimed)["versions"]] == [1]


def test_a_proposal_is_named_by_its_number_too(service, tmp_path):
    service.upload("alice", "a.xlsx", book(tmp_path, "QUA"))
    service.upload("otto", "o.xlsx", book(tmp_path, "QHM"))
    with service._session() as s:
        ids = dict(s.execute(text("SELECT o.code, p.id FROM proposal p JOIN organisation o "
                                  "ON o.id = p.organisation_id")).all())
    assert service.show("rita", f"#{ids['QHM']}")["commissioner"] == "QHM"
    assert service.show("alice", f"#{ids['QUA']}")["commissioner"] == "QUA"
    with pytest.raises(NotFound, match=f"^no proposal #{ids['QUA']} that you can see$"):
        service.show("otto", f"#{ids['QUA']}")


def test_already_assured_counts_only_what_the_asker_may_see(service, tmp_path):
    data = book(tmp_path, "QUA")
    sha = hashlib.sha256(data).hexdigest()
    service.upload("ada", "a.xlsx", data)  # an administrator keeps it for the Black Country ICB
    assert service.already_assured(sha, "alice")  # the organisation's own proposal has it
    assert service.already_assured(sha, "ada")
    assert not service.already_assured(sha, "otto")  # another organisation's file is not "already assured"


def test_the_outbox_keeps_each_organisations_messages(service, tmp_path):
    service.upload("alice", "a.xlsx", book(tmp_path, "QUA"))
    service.upload("otto", "o.xlsx", book(tmp_path, "QHM"))
    service.submit("alice", REF)
    service.submit("otto", REF)
    rows = [n for n in service.outbox("ada") if n["kind"] == "submitted"]
    assert len(rows) == 2 and len({n["proposal_id"] for n in rows}) == 2
    # reviewers' links name the proposal meant; each is one the reviewer can open
    for n in rows:
        link = next(w for w in n["body"].split() if "/proposal?ref=" in w)
        name = link.split("ref=", 1)[1].replace("%2F", "/")
        assert service.show("rita", name)["name"] == name


def _add_proposal(conn, org_code: str, reference: str) -> None:
    conn.execute(text("INSERT INTO organisation (code, name) VALUES (:c, :c)"), {"c": org_code})
    conn.execute(text("INSERT INTO proposal (reference, title, organisation_id, checkpoint, state, state_since, "
                      "version, created_at, updated_at) SELECT :r, 'T', id, 1, 'draft', :t, 1, :t, :t "
                      "FROM organisation WHERE code = :c"),
                 {"r": reference, "c": org_code, "t": "2026-12-01 09:00:00"})


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_the_upgrade_keeps_existing_proposals_and_lets_organisations_share_a_reference(kind, tmp_path, request):
    from alembic import command

    from isap.store.db import alembic_config, engine_for

    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'up.db'}"
    else:
        from tests.pgserver import create_database

        url = create_database(request.getfixturevalue("postgres_server"), "t_" + uuid.uuid4().hex[:12])
    command.upgrade(alembic_config(url), "0005_access")
    engine = engine_for(url)
    with engine.begin() as conn:
        _add_proposal(conn, "QUA", REF)
        conn.execute(text("INSERT INTO notification (key, kind, proposal_reference, recipients, subject, body, "
                          "message_id, status, attempts, created_at, next_attempt_at) VALUES ('k', 'submitted', "
                          ":r, '', 's', 'b', '<m@isap>', 'pending', 0, :t, :t)"),
                     {"r": REF, "t": "2026-12-01 09:00:00"})
    engine.dispose()
    command.upgrade(alembic_config(url), "head")
    engine = engine_for(url)
    with engine.begin() as conn:
        pid = conn.execute(text("SELECT id FROM proposal WHERE reference = :r"), {"r": REF}).scalar_one()
        assert conn.execute(text("SELECT proposal_id FROM notification")).scalar_one() == pid
        _add_proposal(conn, "QHM", REF)  # the same reference in another organisation
        assert conn.execute(text("SELECT count(*) FROM proposal WHERE reference = :r"), {"r": REF}).scalar_one() == 2
    with pytest.raises(Exception, match="(?i)unique"):  # still once within one organisation
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO proposal (reference, title, organisation_id, checkpoint, state, "
                              "state_since, version, created_at, updated_at) SELECT :r, 'T', organisation_id, 1, "
                              "'draft', state_since, 1, created_at, updated_at FROM proposal WHERE id = :p"),
                         {"r": REF, "p": pid})
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM proposal WHERE organisation_id = "
                          "(SELECT id FROM organisation WHERE code = 'QHM')"))
    engine.dispose()
    command.downgrade(alembic_config(url), "0005_access")
    command.upgrade(alembic_config(url), "head")


@pytest.mark.e2e  # `isap dashboard` and Chromium
def test_a_download_is_served_only_with_the_session_of_the_person_it_was_offered_to(tmp_path):
    """In a real browser against `isap dashboard`: the original's link answers alice's signed-in browser,
    and refuses a client with no cookie, another signed-in person, and alice's cookie once she signs out."""
    import os
    import urllib.error
    import urllib.request
    from urllib.parse import urljoin

    from tests.test_dashboard_e2e import CHROMIUM, dashboard, launch, settle, sign_in

    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed")
    from playwright.sync_api import sync_playwright

    from isap.review.sessions import COOKIE_NAME

    def status(url: str, cookie: str | None = None) -> int:
        request = urllib.request.Request(url, headers={"Cookie": f"{COOKIE_NAME}={cookie}"} if cookie else {})
        try:
            return urllib.request.urlopen(request, timeout=30).status
        except urllib.error.HTTPError as exc:
            return exc.code

    with dashboard(tmp_path) as server, sync_playwright() as pw:
        browser = launch(pw)
        alice = browser.new_context()
        page = alice.new_page()
        sign_in(page, server, "alice", "alice-demo")
        page.goto(f"{server}/proposal?ref=ISAP-2026-011&tab=Versions")
        settle(page)
        link = page.get_by_role("link", name="Download the original workbook")
        url = urljoin(server, link.get_attribute("href"))
        assert "/media/" not in url
        token = next(c["value"] for c in alice.cookies() if c["name"] == COOKIE_NAME)
        got = alice.request.get(url)
        assert got.status == 200 and got.body()[:2] == b"PK"  # the workbook itself, to the signed-in owner
        assert "attachment" in got.headers["content-disposition"]
        assert status(url) == 403  # no cookie
        otto = browser.new_context()
        sign_in(otto.new_page(), server, "otto", "otto-demo")
        other = next(c["value"] for c in otto.cookies() if c["name"] == COOKIE_NAME)
        assert status(url, other) == 403  # someone else's session
        assert status(url.rsplit("/", 1)[0] + "/" + "x" * 43, token) == 403  # an offer that never was
        assert status(url, token) == 200
        page.get_by_role("button", name="Sign out").click()
        settle(page)
        assert status(url, token) == 403  # the session has ended
        browser.close()

"""Personal API tokens: shown once, kept as a hash, expiring, revocable, and gone with a disabled account.

On both databases: the token table comes from its migration like every other.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from sqlalchemy import text

from isap.policy import Policy
from isap.review.service import NotFound, Refused, TokenRefused, WorkflowError
from tests.test_dashboard import demo_env  # noqa: F401 - a fixture


def _history(service) -> list[tuple]:
    with service.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text("SELECT action, actor, reason FROM auditevent "
                                                    "WHERE action LIKE 'api_token%' ORDER BY id"))]


def test_a_token_is_shown_once_and_kept_only_as_its_hash(service):
    row, secret = service.create_token("alice", "ci")
    assert secret.startswith("isap_") and len(secret) >= 45
    assert service.token_user(secret) == ("alice", row["id"])
    with service.engine.connect() as conn:
        dumped = " ".join(str(v) for r in conn.execute(text("SELECT * FROM api_token")) for v in r)
    assert secret not in dumped and secret[5:] not in dumped
    assert hashlib.sha256(secret.encode()).hexdigest() in dumped
    listed = service.tokens("alice")
    assert [(t["id"], t["name"], t["user"], t["state"]) for t in listed] == [(row["id"], "ci", "alice", "active")]
    assert secret not in repr(listed)
    assert _history(service) == [("api_token_created", "alice", f"token {row['id']} ci")]


def test_a_token_expires_after_the_policys_days(service):
    created = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.timezone.utc)
    service.clock = lambda: created
    row, secret = service.create_token("alice", "ci")
    assert row["expires_at"].startswith("2027-03-01")  # 90 days
    service.clock = lambda: created + dt.timedelta(days=90) - dt.timedelta(seconds=1)
    assert service.token_user(secret)[0] == "alice"
    service.clock = lambda: created + dt.timedelta(days=90)
    with pytest.raises(TokenRefused, match="expired on 2027-03-01") as refused:
        service.token_user(secret)
    assert refused.value.reason == "expired"
    assert service.tokens("alice")[0]["state"] == "expired"
    # a shorter life may be asked for, never a longer one
    assert service.create_token("alice", "short", days=7)[0]["expires_at"].startswith("2027-03-08")
    with pytest.raises(WorkflowError, match="1 to 90 days"):
        service.create_token("alice", "long", days=91)


def test_a_revoked_token_never_acts_again_and_only_its_owner_or_an_administrator_revokes_it(service):
    row, secret = service.create_token("alice", "ci")
    with pytest.raises(NotFound, match=f"^no token {row['id']} of yours$"):
        service.revoke_token("otto", row["id"])
    with pytest.raises(NotFound, match="^no token 999 of yours$"):  # the same words for one that does not exist
        service.revoke_token("otto", 999)
    assert service.revoke_token("alice", row["id"])["state"] == "revoked"
    with pytest.raises(TokenRefused, match="revoked") as refused:
        service.token_user(secret)
    assert refused.value.reason == "revoked"
    with pytest.raises(Refused, match="already revoked"):
        service.revoke_token("alice", row["id"])
    other, _ = service.create_token("otto", "reports")
    assert service.revoke_token("ada", other["id"])["user"] == "otto"
    assert {t["user"] for t in service.tokens("ada")} == {"alice", "otto"}  # an administrator sees everyone's
    assert [t["user"] for t in service.tokens("otto")] == ["otto"]
    assert [a for a, _, _ in _history(service)] == ["api_token_created", "api_token_revoked",
                                                    "api_token_created", "api_token_revoked"]


def test_a_disabled_accounts_tokens_stop_for_good(service):
    _, secret = service.create_token("alice", "ci")
    service.disable_user("alice")
    with pytest.raises(TokenRefused, match="disabled") as refused:
        service.token_user(secret)
    assert refused.value.reason == "account_disabled"
    service.enable_user("alice")
    # enabling the account does not bring its tokens back, and the answer says the token was revoked, and why
    with pytest.raises(TokenRefused, match="revoked when its account was disabled") as refused:
        service.token_user(secret)
    assert refused.value.reason == "revoked"
    assert service.tokens("alice")[0]["state"] == "revoked"


def test_a_password_change_revokes_the_accounts_tokens(service):
    """Whoever knew the old password may hold a token made with it: a new password stops every token."""
    _, secret = service.create_token("alice", "ci")
    assert service.token_user(secret)[0] == "alice"
    service.set_password("alice", "a-new-password-for-alice", actor="ada")
    with pytest.raises(TokenRefused, match="revoked when its account's password was changed") as refused:
        service.token_user(secret)
    assert refused.value.reason == "revoked"
    _, fresh = service.create_token("alice", "ci-again")
    assert service.token_user(fresh)[0] == "alice"  # a token made after the change acts


def test_an_unknown_token_and_two_live_tokens_of_one_name(service):
    with pytest.raises(TokenRefused, match="not known") as refused:
        service.token_user("isap_" + "x" * 43)
    assert refused.value.reason == "unknown"
    service.create_token("alice", "ci")
    with pytest.raises(Refused, match="already have a token named ci"):
        service.create_token("alice", "ci")
    with pytest.raises(WorkflowError, match="a token needs a name"):
        service.create_token("alice", "  ")
    with pytest.raises(NotFound, match="unknown user"):
        service.create_token("nobody", "ci")


def test_last_use_is_recorded_to_the_half_minute(service):
    start = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.timezone.utc)
    service.clock = lambda: start
    _, secret = service.create_token("alice", "ci")
    assert service.tokens("alice")[0]["last_used_at"] is None
    service.clock = lambda: start + dt.timedelta(minutes=5)
    service.token_user(secret)
    assert service.tokens("alice")[0]["last_used_at"].startswith("2026-12-01T09:05")
    service.clock = lambda: start + dt.timedelta(minutes=5, seconds=10)
    service.token_user(secret)  # within the half minute: not written again
    assert service.tokens("alice")[0]["last_used_at"].startswith("2026-12-01T09:05:00")


def test_the_policy_names_the_days_and_the_rate():
    assert (Policy().api_token_days, Policy().api_requests_per_minute) == (90, 60)


# ---------------------------------------------------------------------- the command line
@pytest.fixture
def cli(db_url, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from isap.cli import app

    monkeypatch.setenv("ISAP_DATABASE_URL", db_url)
    monkeypatch.setenv("ISAP_DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(app, list(args))
    return run


def test_the_command_line_creates_lists_and_revokes(service, cli):
    import json

    r = cli("token", "create", "--name", "ci", "--as", "alice")
    assert r.exit_code == 0, r.output
    secret = r.stdout.strip()
    assert secret.startswith("isap_") and "\n" not in secret  # alone on stdout, for `TOKEN=$(isap token create …)`
    assert "only time it is shown" in r.stderr
    assert service.token_user(secret)[0] == "alice"
    r = cli("token", "list", "--as", "alice", "--format", "json")
    assert r.exit_code == 0 and secret not in r.output
    [listed] = json.loads(r.stdout)
    r = cli("token", "revoke", str(listed["id"]), "--as", "otto")
    assert r.exit_code == 1 and r.stderr.strip() == f"isap: no token {listed['id']} of yours"
    r = cli("token", "revoke", str(listed["id"]), "--as", "alice")
    assert r.exit_code == 0 and "Revoked token" in r.stdout
    r = cli("token", "list", "--as", "alice")
    assert "revoked" in r.stdout and secret not in r.stdout


# ---------------------------------------------------------------------- the dashboard's API tokens page
def test_the_api_tokens_page_shows_a_secret_once_and_revokes(demo_env):  # noqa: F811
    from isap.review.service import Service
    from tests.test_dashboard import signed_in, texts

    at = signed_in("alice", "alice-demo")
    at.switch_page("views/tokens.py")
    at.run()
    assert not at.exception, at.exception
    assert "You have no API tokens" in texts(at)
    at.text_input(key="tokens_name").input("ci")
    next(b for b in at.button if b.label == "Create token").click()
    at.run()
    assert not at.exception, at.exception
    [secret] = [c.value for c in at.code]
    assert Service().token_user(secret)[0] == "alice"
    assert "shown only this once" in texts(at)
    frame = at.dataframe[0].value
    assert (frame.iloc[0]["Name"], frame.iloc[0]["State"]) == ("ci", "Active")
    at.run()  # the next run: the secret is gone for good
    assert [c.value for c in at.code] == [] and secret not in texts(at)
    at.selectbox(key="tokens_pick").select(int(frame.iloc[0]["Number"]))
    at.run()
    next(b for b in at.button if b.label == "Revoke").click()
    at.run()
    assert not at.exception, at.exception
    assert at.dataframe[0].value.iloc[0]["State"] == "Revoked"
    with pytest.raises(TokenRefused):
        Service().token_user(secret)
    # another person's page lists none of alice's tokens
    otto = signed_in("otto", "otto-demo")
    otto.switch_page("views/tokens.py")
    otto.run()
    assert "You have no API tokens" in texts(otto)

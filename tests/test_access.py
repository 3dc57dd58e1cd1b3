"""Access that can be taken away, and sign-in under pressure: the findings of "Trust, second pass", reproduced.

An administrator disables and enables accounts, sets passwords and ends sessions (the service, the command line
and the Users page), and every one of those is in the audit history; a disabled account signs in nowhere and its
sessions end at its next action.  Guesses sent at once on SQLite are counted as strictly as on PostgreSQL, no more
than a few password checks run at once, and a name with control characters is an ordinary refusal.
"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text

from isap.review import passwords, sessions
from tests.test_dashboard import demo_env, read, signed_in, texts  # noqa: F401 - demo_env is a fixture


def _history(service) -> list[dict]:
    with service.engine.connect() as conn:
        return [dict(r) for r in conn.execute(text("SELECT action, actor, reason FROM auditevent ORDER BY id"))
                .mappings()]


def _listed(service, name: str) -> dict:
    return next(u for u in service.users(actor="ada") if u["username"] == name)


# ---------------------------------------------------------------------- the service
def test_a_disabled_account_signs_in_nowhere_and_its_sessions_end(service):
    from isap.review.service import Forbidden, SessionEnded, SignInRefused

    _, token = service.sign_in("alice", "correct horse")
    _, other = service.sign_in("alice", "correct horse")
    service.disable_user("alice", actor="ada")
    with pytest.raises(SessionEnded, match="disabled"):
        service.session_user(token)
    with pytest.raises(SessionEnded, match="disabled"):
        service.session_user(other)
    # the same words as a wrong password, and the attempt is recorded all the same
    with pytest.raises(SignInRefused) as refused:
        service.sign_in("alice", "correct horse")
    assert str(refused.value) == sessions.WRONG
    assert service.authenticate("alice", "correct horse") is None
    assert [a["outcome"] for a in service.sign_in_attempts("ada") if a["username"] == "alice"] == ["failed"] * 2
    assert _listed(service, "alice")["state"] == "disabled"
    assert _listed(service, "alice")["open_sessions"] == 0

    service.enable_user("alice", actor="ada")
    assert _listed(service, "alice")["state"] == "enabled"
    _, token = service.sign_in("alice", "correct horse")
    assert service.session_user(token).username == "alice"
    with pytest.raises(SessionEnded, match="disabled"):
        service.session_user(other)  # enabling again brings no ended session back
    actions = [(h["action"], h["actor"], h["reason"]) for h in _history(service)]
    assert ("user_disabled", "ada", "alice") in actions and ("user_enabled", "ada", "alice") in actions

    with pytest.raises(Forbidden):
        service.disable_user("alice", actor="rita")
    with pytest.raises(Forbidden):
        service.enable_user("alice", actor="alice")


def test_nobody_disables_themselves_or_the_system(service):
    from isap.review.service import SYSTEM_USER, NotFound, Refused

    with pytest.raises(Refused, match="yourself"):
        service.disable_user("ada", actor="ada")
    service.verify_audit()  # the system user exists from the first thing it records
    with pytest.raises(Refused, match="cannot be disabled"):
        service.disable_user(SYSTEM_USER, actor="ada")
    with pytest.raises(Refused, match="cannot be disabled"):
        service.disable_user(SYSTEM_USER)
    with pytest.raises(NotFound):
        service.disable_user("nobody", actor="ada")
    assert _listed(service, "ada")["state"] == "enabled"


def test_single_sign_on_refuses_a_disabled_account(service):
    from isap.review.service import Forbidden

    service.add_user("carol", "reviewer", email="carol.jones@nhs.net")
    assert service.identify("carol.jones@nhs.net", True).username == "carol"
    service.disable_user("carol")
    with pytest.raises(Forbidden, match="disabled"):
        service.identify("carol.jones@nhs.net", True)


def test_a_new_password_ends_every_other_session(service):
    from isap.review.service import Forbidden, SessionEnded, SignInRefused

    _, first = service.sign_in("alice", "correct horse")
    _, second = service.sign_in("alice", "correct horse")
    service.set_password("alice", "battery staple", actor="ada")
    for token in (first, second):
        with pytest.raises(SessionEnded, match="password was changed"):
            service.session_user(token)
    with pytest.raises(SignInRefused):
        service.sign_in("alice", "correct horse")
    assert service.sign_in("alice", "battery staple")[0].username == "alice"

    # an administrator changing their own keeps the session they are using
    service.set_password("ada", "first of ada")
    _, here = service.sign_in("ada", "first of ada")
    _, elsewhere = service.sign_in("ada", "first of ada")
    service.set_password("ada", "second of ada", actor="ada", except_token=here)
    assert service.session_user(here).username == "ada"
    with pytest.raises(SessionEnded):
        service.session_user(elsewhere)
    assert [h["reason"] for h in _history(service) if h["action"] == "password_set"] == ["alice", "ada", "ada"]

    with pytest.raises(Forbidden):
        service.set_password("alice", "by a reviewer", actor="rita")
    with pytest.raises(Exception, match="empty"):
        service.set_password("alice", "", actor="ada")


def test_a_password_shorter_than_the_policy_minimum_is_refused_and_changes_nothing(service):
    """A five-character password was accepted from the Users page and the command line alike."""
    from isap.review.service import WorkflowError

    for short in ("short", "seven77", "  abc  "):
        with pytest.raises(WorkflowError, match="at least 8 characters"):
            service.set_password("alice", short, actor="ada")
        with pytest.raises(WorkflowError, match="at least 8 characters"):
            service.add_user(f"new-{len(short)}", "reviewer", password=short)
    assert service.sign_in("alice", "correct horse")[0].username == "alice"  # unchanged
    assert not [h for h in _history(service) if h["action"] == "password_set"]
    service.set_password("alice", "eight888", actor="ada")  # the minimum itself is enough
    assert service.sign_in("alice", "eight888")[0].username == "alice"


def test_an_administrator_ends_someones_sessions(service):
    from isap.review.service import Forbidden, SessionEnded

    _, token = service.sign_in("alice", "correct horse")
    assert _listed(service, "alice")["open_sessions"] == 1
    assert service.end_sessions("alice", actor="ada") == 1
    with pytest.raises(SessionEnded, match="administrator ended"):
        service.session_user(token)
    assert _listed(service, "alice")["open_sessions"] == 0
    assert service.sign_in("alice", "correct horse")[0].username == "alice"  # only the sessions, not the account
    assert ("sessions_ended", "ada", "alice (1)") in [(h["action"], h["actor"], h["reason"]) for h in _history(service)]
    with pytest.raises(Forbidden):
        service.end_sessions("alice", actor="otto")


def test_the_list_of_users_says_who_may_do_what(service):
    import datetime as dt

    from isap.review.service import Forbidden

    service.clock = lambda: dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.timezone.utc)
    service.sign_in("alice", "correct horse")
    listed = {u["username"]: u for u in service.users(actor="ada")}
    assert set(listed) >= {"alice", "otto", "rita", "ada"}
    assert (listed["alice"]["role"], listed["alice"]["organisation"], listed["alice"]["state"]) == \
        ("commissioner", "QUA", "enabled")
    assert listed["alice"]["last_sign_in"].startswith("2026-11-23T09:00") and listed["alice"]["open_sessions"] == 1
    assert listed["rita"]["organisation"] is None and listed["rita"]["last_sign_in"] is None
    assert listed["rita"]["open_sessions"] == 0
    assert "isap" not in listed  # the system is not an account anyone manages
    with pytest.raises(Forbidden):
        service.users(actor="alice")


# ---------------------------------------------------------------------- sign-in under pressure
def test_guesses_sent_at_once_get_no_more_password_checks_than_the_limit(service, monkeypatch):
    """Twenty wrong passwords for one name at the same moment: the check and the record of each attempt are one
    step, so no more than `sign_in_max_failures` of them reach a password check (SQLite and PostgreSQL alike)."""
    from isap.review.service import SignInRefused

    real, checks, lock = passwords.verify_password, [], threading.Lock()

    def counted(stored_hash: str, password: str) -> bool:
        with lock:
            checks.append(1)
        return real(stored_hash, password)

    monkeypatch.setattr(passwords, "verify_password", counted)
    start, said = threading.Barrier(20), []

    def guess(i: int) -> None:
        start.wait()
        try:
            service.sign_in("alice", f"guess {i}")
        except SignInRefused as exc:
            said.append(str(exc))

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(said) == 20
    assert len(checks) <= service.policy.sign_in_max_failures, len(checks)
    assert said.count(sessions.WRONG) == len(checks)


def test_no_more_than_a_few_password_checks_run_at_once(monkeypatch):
    """Each check takes 64 MiB for a moment: however many sign-ins arrive together, a process runs only
    PASSWORD_CHECKS_AT_ONCE of them at a time (the rest wait their turn)."""
    real, running, most, lock = passwords._HASHER, [0], [0], threading.Lock()

    class Watched:
        def __getattr__(self, name):
            return getattr(real, name)

        def verify(self, stored_hash, password):
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
            try:
                time.sleep(0.05)
                return real.verify(stored_hash, password)
            finally:
                with lock:
                    running[0] -= 1

    stored = real.hash("a password")
    passwords.verify_unknown("warm")  # the dummy hash exists before the checks are watched
    monkeypatch.setattr(passwords, "_HASHER", Watched())
    start = threading.Barrier(12)

    def check(i: int) -> None:
        start.wait()
        if i % 2:
            passwords.verify_password(stored, "wrong")
        else:
            passwords.verify_unknown("wrong")

    threads = [threading.Thread(target=check, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert 1 <= most[0] <= passwords.PASSWORD_CHECKS_AT_ONCE


@pytest.mark.parametrize("name", ["alice\x00", "\x00", "al\x00ice", "alice\x1b[2J", "ali\u0085ce"])
def test_a_name_with_control_characters_is_an_ordinary_refusal(service, name):
    from isap.review.service import Forbidden, SignInRefused

    with pytest.raises(SignInRefused) as refused:
        service.sign_in(name, "correct horse")
    assert str(refused.value) == sessions.WRONG
    assert service.authenticate(name, "wrong") is None
    with pytest.raises(Forbidden, match="no ISAP account"):
        service.identify("alice\x00@isap.example", True)
    assert service.sign_in_attempts("ada")  # recorded, under a name the database can keep
    service.unlock(name, actor="ada")


def test_a_name_with_control_characters_cannot_be_given_to_an_account(service):
    from isap.review.service import WorkflowError

    with pytest.raises(WorkflowError, match="cannot be used"):
        service.add_user("eve\x00", "reviewer")


# ---------------------------------------------------------------------- the command line
@pytest.fixture
def cli(db_url, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from isap.cli import app

    monkeypatch.setenv("ISAP_DATABASE_URL", db_url)
    monkeypatch.setenv("ISAP_DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()

    def run(*args: str, input: str | None = None):
        return runner.invoke(app, list(args), input=input)
    return run


def test_the_command_line_disables_enables_and_lists(service, cli):
    import json

    from isap.review.service import SessionEnded, SignInRefused

    _, token = service.sign_in("alice", "correct horse")
    r = cli("user", "disable", "alice")
    assert r.exit_code == 0 and "Disabled alice" in r.output, r.output
    with pytest.raises(SessionEnded):
        service.session_user(token)
    with pytest.raises(SignInRefused):
        service.sign_in("alice", "correct horse")
    r = cli("user", "list", "--format", "json")
    assert r.exit_code == 0, r.output
    alice = next(u for u in json.loads(r.output) if u["username"] == "alice")
    assert alice["state"] == "disabled" and alice["organisation"] == "QUA"
    r = cli("user", "list")
    assert r.exit_code == 0 and "alice" in r.output and "disabled" in r.output
    r = cli("user", "enable", "alice")
    assert r.exit_code == 0 and "Enabled alice" in r.output, r.output
    assert service.sign_in("alice", "correct horse")[0].username == "alice"
    assert [h["actor"] for h in _history(service) if h["action"] in ("user_disabled", "user_enabled")] == \
        ["admin-cli", "admin-cli"]


def test_a_disabled_account_acts_through_no_command(service, cli, tmp_path):
    """A disabled commissioner still acknowledged and uploaded through the command line's `--as`, recorded as
    their own actions: an account whose access was taken away acts through no entry point."""
    from isap.review.service import Forbidden
    from sample_submissions.proposals import clean, write

    data = write(clean(1, reference="ISAP-2026-014"), tmp_path / "v1.xlsx").read_bytes()
    service.upload("alice", "v1.xlsx", data)
    service.disable_user("alice", actor="ada")
    with pytest.raises(Forbidden, match="alice's account is disabled"):
        service.submit("alice", "ISAP-2026-014")
    with pytest.raises(Forbidden, match="alice's account is disabled"):
        service.show("alice", "ISAP-2026-014")
    r = cli("submit", "ISAP-2026-014", "--as", "alice")
    assert r.exit_code != 0 and "alice's account is disabled" in r.output, r.output
    assert "Traceback" not in r.output
    assert service.show("ada", "ISAP-2026-014")["state"] == "draft"
    # the administrator still acts on the account: it is listed, and enabled again
    assert _listed(service, "alice")["state"] == "disabled"
    service.enable_user("alice", actor="ada")
    service.submit("alice", "ISAP-2026-014")
    assert service.show("alice", "ISAP-2026-014")["state"] == "submitted"


def test_the_command_line_ends_sessions_and_sets_a_password_from_stdin(service, cli):
    from isap.review.service import SessionEnded

    _, token = service.sign_in("alice", "correct horse")
    r = cli("user", "sessions", "end", "alice")
    assert r.exit_code == 0 and "Ended 1 session" in r.output, r.output
    with pytest.raises(SessionEnded):
        service.session_user(token)
    _, token = service.sign_in("alice", "correct horse")
    r = cli("user", "set-password", "alice", input="battery staple\n")
    assert r.exit_code == 0 and "Set a new password for alice" in r.output, r.output
    assert "battery staple" not in r.output
    with pytest.raises(SessionEnded):
        service.session_user(token)
    assert service.sign_in("alice", "battery staple")[0].username == "alice"


def test_the_command_line_asks_twice_at_a_terminal(service, cli, monkeypatch):
    import isap.cli

    monkeypatch.setattr(isap.cli, "_stdin_is_terminal", lambda: True)
    r = cli("user", "set-password", "alice", input="one thing\nanother\n")
    assert r.exit_code != 0 and "do not match" in r.output
    r = cli("user", "set-password", "alice", input="battery staple\nbattery staple\n")
    assert r.exit_code == 0, r.output
    assert "battery staple" not in r.output
    assert service.sign_in("alice", "battery staple")[0].username == "alice"


@pytest.mark.parametrize("args, input, said", [
    (("user", "set-password", "alice"), "\n", "empty"),
    (("user", "set-password", "alice"), "", "empty"),
    (("user", "set-password", "nobody"), "a password\n", "unknown user"),
    (("user", "set-password", "alice"), "short\n", "at least 8 characters"),
    (("user", "disable", "isap"), None, "cannot be disabled"),
    (("user", "disable", "nobody"), None, "unknown user"),
    (("user", "enable", "nobody"), None, "unknown user"),
    (("user", "sessions", "end", "nobody"), None, "unknown user"),
])
def test_the_command_line_refuses_in_one_line(service, cli, args, input, said):
    service.verify_audit()  # the system user exists
    r = cli(*args, input=input)
    assert r.exit_code == 1, r.output
    assert said in r.output and "Traceback" not in r.output
    assert len([line for line in r.output.splitlines() if line.strip()]) == 1, r.output


def test_a_password_is_never_an_argument(cli):
    r = cli("user", "set-password", "alice", "battery staple")
    assert r.exit_code == 2


# ---------------------------------------------------------------------- the Users page
def test_administrators_manage_users_on_the_users_page(demo_env):  # noqa: F811
    alice = signed_in("alice", "alice-demo")
    at = signed_in("ada", "ada-demo")
    at.switch_page("views/users.py")
    at.run()
    assert not at.exception, at.exception
    assert "Users" in texts(at)
    frame = at.dataframe[0].value
    row = frame[frame["User"] == "alice"].iloc[0]
    assert (row["Role"], row["Organisation"], row["State"], row["Open sessions"]) == \
        ("Commissioner", "QUA", "Enabled", 1)
    at.selectbox(key="users_pick").select("alice")
    at.run()
    at.checkbox(key="users_disable_sure").check()
    next(b for b in at.button if b.label == "Disable").click()
    at.run()
    assert not at.exception, at.exception
    frame = at.dataframe[0].value
    row = frame[frame["User"] == "alice"].iloc[0]
    assert (row["State"], row["Open sessions"]) == ("Disabled", 0)
    alice.run()  # alice's next action: her session has ended, and the sign-in page says why
    assert "disabled" in texts(alice)
    assert "do not match" in texts(signed_in("alice", "alice-demo"))

    at.selectbox(key="users_pick").select("alice")
    at.run()
    at.checkbox(key="users_enable_sure").check()
    next(b for b in at.button if b.label == "Enable").click()
    at.run()
    at.selectbox(key="users_pick").select("alice")
    at.run()
    at.text_input(key="users_new_password").input("battery staple")
    next(b for b in at.button if b.label == "Set password").click()
    at.run()
    assert not at.exception, at.exception
    again = signed_in("alice", "battery staple")
    assert "My proposals" in texts(again)

    at.selectbox(key="users_pick").select("alice")
    at.run()
    next(b for b in at.button if b.label == "End sessions").click()
    at.run()
    again.run()
    assert "administrator ended" in texts(again)


def test_administrators_set_an_organisations_region_on_the_users_page(demo_env):  # noqa: F811
    from isap.review.regions import Region
    from isap.review.service import Service

    at = signed_in("ada", "ada-demo")
    at.switch_page("views/users.py")
    at.run()
    assert not at.exception, at.exception
    regions = next(d.value for d in at.dataframe if "Region" in d.value.columns)
    assert dict(zip(regions["Code"], regions["Region"])) == {
        "QHM": "North East and Yorkshire", "QUA": "Midlands", "X24": "No region yet"}
    # the region box starts at the organisation's own region, whichever was chosen before
    for code, region in (("QUA", Region.MIDLANDS), ("QHM", Region.NORTH_EAST_AND_YORKSHIRE), ("X24", None)):
        at.selectbox(key="org_pick").select(code)
        at.run()
        assert at.selectbox(key=f"org_region:{code}").value == region
    at.selectbox(key="org_pick").select("QHM")
    at.run()
    at.selectbox(key="org_region:QHM").select(Region.NORTH_WEST)
    at.run()
    next(b for b in at.button if b.label == "Set region").click()
    at.run()
    assert not at.exception, at.exception
    assert any(t.value.startswith("QHM is in North West") for t in at.success)
    assert {o["code"]: o["region"] for o in Service().organisations()}["QHM"] == "north_west"
    with Service().engine.connect() as conn:  # on the record, by the administrator who set it
        actor, reason = conn.execute(text("SELECT actor, reason FROM auditevent WHERE action = 'org_region_set' "
                                          "ORDER BY id DESC LIMIT 1")).one()
    assert (actor, reason) == ("ada", "QHM: North West (was North East and Yorkshire)")


def test_administrators_set_a_reviewers_name_job_title_and_body_on_the_users_page(demo_env):  # noqa: F811
    from isap.review.service import Service

    at = signed_in("ada", "ada-demo")
    at.switch_page("views/users.py")
    at.run()
    assert not at.exception, at.exception
    frame = next(d.value for d in at.dataframe if "Body" in d.value.columns)
    row = frame[frame["User"] == "nina"].iloc[0]
    assert (row["Name and job title"], row["Body"]) == ("Nina Okafor, Deputy Director of Assurance",
                                                        "NHS Improvement")
    # each box starts at the chosen user's own value, whoever was chosen before
    at.selectbox(key="users_pick").select("nina")
    at.run()
    assert at.selectbox(key="users_body").value == "nhs_improvement"
    at.selectbox(key="users_pick").select("rita")
    at.run()
    assert (at.text_input(key="users_job_title").value, at.selectbox(key="users_body").value) == (
        "Senior Assurance Lead", "nhs_england")
    at.text_input(key="users_job_title").input("Head of Assurance")
    at.selectbox(key="users_body").set_value("nhs_improvement")
    next(b for b in at.button if b.label == "Save name, job title and body").click()
    at.run()
    assert not at.exception, at.exception
    rita = next(u for u in Service().users("ada") if u["username"] == "rita")
    assert (rita["display_name"], rita["job_title"], rita["body"]) == ("Rita Shah", "Head of Assurance",
                                                                      "nhs_improvement")


def test_the_users_page_is_only_for_administrators(demo_env):  # noqa: F811
    """A reviewer's navigation has no Users page (the service refuses them its list and its actions as well)."""
    rita = signed_in("rita", "rita-demo")
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        rita.switch_page("views/users.py")


def test_the_users_page_says_roles_in_words_and_how_many_sessions_a_new_password_ended(demo_env):  # noqa: F811
    """The role is said as the Role column says it ("Commissioner", never the code "admin"), in the sidebar too;
    a new password set for someone else ends their sessions, all of them, and the page says how many; the User
    column stays in view while the table scrolls sideways."""
    import json

    signed_in("alice", "alice-demo")  # one open session of alice's
    at = signed_in("ada", "ada-demo")
    at.switch_page("views/users.py")
    at.run()
    assert not at.exception, at.exception
    assert [read(m.value) for m in at.sidebar.markdown if m.value.startswith("Signed in as")] == \
        ["Signed in as **ada** (Ada Lewis, Administrator)"]
    columns = json.loads(at.dataframe[0].proto.columns)
    assert columns["User"].get("pinned") is True, columns.get("User")
    at.selectbox(key="users_pick").select("alice")
    at.run()
    assert "alice (Commissioner, enabled)" in [read(s.value) for s in at.subheader]
    at.text_input(key="users_new_password").input("battery staple")
    next(b for b in at.button if b.label == "Set password").click()
    at.run()
    assert not at.exception, at.exception
    assert [read(s.value) for s in at.success] == ["alice has a new password; 1 session ended."]
    at.selectbox(key="users_pick").select("alice")
    at.run()
    at.text_input(key="users_new_password").input("battery staple 2")
    next(b for b in at.button if b.label == "Set password").click()
    at.run()
    assert [read(s.value) for s in at.success] == ["alice has a new password; they had no open sessions."]


def test_a_reviewer_is_signed_in_as_a_reviewer_of_their_body(demo_env):  # noqa: F811
    """The sidebar says which body a reviewer works for, as the review panel does ("NHS England reviewer"), not
    the role's general label, whose own brackets doubled the sidebar's ("…(NHS England or NHS Improvement))")."""
    for name, words in (("rita", "Rita Shah, NHS England reviewer"), ("nina", "Nina Okafor, NHS Improvement reviewer"),
                        ("alice", "Alice Morgan, Commissioner")):
        at = signed_in(name, f"{name}-demo")
        assert [read(m.value) for m in at.sidebar.markdown if m.value.startswith("Signed in as")] == \
            [f"Signed in as **{name}** ({words})"]

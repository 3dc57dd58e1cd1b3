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

from isap.review import passwords, sessions


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



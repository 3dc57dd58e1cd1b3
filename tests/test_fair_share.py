"""No one uploader can stall everyone's checks: the pool's children are shared out owner by owner."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from isap.policy import Policy
from isap.rules import engine
from isap.workbook import isolation
from isap.workbook.isolation import FairShare
from sample_submissions.proposals import clean, write
from tests.hostile import junk_elements, valid_bytes


def test_an_owner_never_holds_every_child_and_a_newcomer_is_served_first():
    shares = FairShare(2)
    assert shares.acquire("alice", 0)
    assert not shares.acquire("alice", 0)  # the second child is left for someone else
    assert shares.acquire("bob", 0)
    assert shares.ahead_of("carol") == (2, 0)
    shares.release("alice")
    assert shares.acquire("alice", 0)


def test_a_free_child_goes_to_the_waiting_owner_holding_fewest_then_served_least_recently():
    shares = FairShare(3)  # two children per owner at most
    assert shares.acquire("alice", 0) and shares.acquire("alice", 0) and shares.acquire("bob", 0)
    order: list[str] = []
    waiters = {o: threading.Thread(target=lambda o=o: shares.acquire(o) and order.append(o)) for o in ("alice", "bob")}
    for t in waiters.values():
        t.start()
    while len(shares._waiting) < 2:  # both are queued (threads: there is no clock to inject)
        time.sleep(0.001)
    assert shares.ahead_of("alice") == (3, 2)  # bob, who holds fewer, and alice's own waiting file
    assert shares.ahead_of("carol") == (3, 0)  # holding nothing, carol would be served first
    shares.release("bob")
    waiters["bob"].join(5)
    assert order == ["bob"]  # alice waited first, but holds her share
    shares.release("alice")
    waiters["alice"].join(5)
    assert order == ["bob", "alice"]
    shares.release("alice")
    shares.release("bob")
    assert shares.acquire("carol", 0) and shares.acquire("bob", 0)
    assert not shares.acquire("dave", 0)  # all three children are held


def test_a_run_that_waits_past_its_limit_is_busy_and_never_started():
    shares = FairShare(1)
    assert shares.acquire("alice", 0)
    assert not shares.acquire("bob", 0.01)
    assert shares._waiting == []


def test_an_owner_of_an_organisation_holding_nothing_gets_a_reserve_child_when_every_child_is_held():
    """Two users take both children; a third, whose organisation holds none, is served at once by one
    child more than the pool's, and nobody after that (the reserve is one child)."""
    shares = FairShare(2, reserve=1)
    assert shares.acquire("mallory", 0) and shares.acquire("mallory2", 0)
    assert shares.acquire("alice", 0)  # the reserve
    assert shares.ahead_of("bob") == (3, 0)
    assert not shares.acquire("bob", 0)  # the reserve is in use too
    shares.release("alice")
    assert shares.acquire("bob", 0)  # the reserve is free again
    shares.release("mallory")
    shares.release("bob")
    assert shares.acquire("carol", 0) and shares.acquire("dave", 0)  # a child and the reserve again
    assert not shares.acquire("eve", 0)  # never a fourth


def test_the_reserve_is_never_for_an_owner_who_already_holds_a_child():
    shares = FairShare(2, reserve=1)
    assert shares.acquire("mallory", 0) and shares.acquire("alice", 0)
    assert not shares.acquire("mallory", 0)  # holds one already: no reserve for her, and her share is one
    assert not shares.acquire("alice", 0)


def test_users_of_one_organisation_share_its_share_and_its_claim_on_the_reserve():
    """(organisation, user) owners: while another organisation holds the child mallory's left, her colleagues
    are not newcomers to the reserve; an organisation holding none is served by it at once."""
    shares = FairShare(2, reserve=1)
    assert shares.acquire(("RXX", "mallory"), 0)
    assert shares.acquire(("QUA", "alice"), 0)  # the child left for others
    assert not shares.acquire(("RXX", "mallory2"), 0)  # the reserve is not for an organisation holding one
    assert not shares.acquire(("RXX", "mallory3"), 0)
    assert shares.acquire(("QHM", "otto"), 0)  # but is for one holding none
    assert shares.ahead_of(("QUA", "bob")) == (3, 0)
    assert not shares.acquire(("QUA", "bob"), 0)


def test_a_user_holding_nothing_takes_a_free_child_while_a_colleague_holds_the_organisations_share():
    """A colleague's slow file held up a user of the same organisation for the whole of it (up to a minute)
    while a child stood free.  Someone holding nothing takes a free child of the pool even when their
    organisation holds its share, since the reserve stays free for anyone else; the reserve itself is never
    theirs while their organisation holds a child, and without a reserve the share holds as before."""
    shares = FairShare(2, reserve=1)
    assert shares.acquire(("RXX", "mallory"), 0)
    assert shares.ahead_of(("RXX", "alice")) == (1, 0)
    assert shares.acquire(("RXX", "alice"), 0)  # the free child
    assert not shares.acquire(("RXX", "mallory2"), 0)  # not the reserve: the organisation holds children
    assert not shares.acquire(("RXX", "mallory"), 0)
    assert shares.acquire(("QUA", "otto"), 0)  # the reserve, for an organisation holding none
    without_reserve = FairShare(2)
    assert without_reserve.acquire(("RXX", "mallory"), 0)
    assert not without_reserve.acquire(("RXX", "alice"), 0)  # the last child is left for someone else


def test_within_an_organisation_its_users_take_turns():
    shares = FairShare(3)  # an organisation holds two children at most
    assert shares.acquire(("RXX", "mallory"), 0) and shares.acquire(("RXX", "mallory"), 0)
    assert not shares.acquire(("RXX", "mallory2"), 0)  # the organisation holds its two
    order: list[str] = []
    waiters = [threading.Thread(target=lambda u=u: shares.acquire(("RXX", u)) and order.append(u))
               for u in ("mallory", "mallory2")]
    for n, t in enumerate(waiters, 1):
        t.start()
        deadline = time.monotonic() + 5
        while len(shares._waiting) < n and time.monotonic() < deadline:  # queued in this order
            time.sleep(0.001)
    assert len(shares._waiting) == 2
    assert shares.acquire(("QUA", "alice"), 0)  # the child left for another organisation
    shares.release(("QUA", "alice"))
    assert order == []  # the organisation holds its two
    shares.release(("RXX", "mallory"))
    waiters[1].join(5)
    assert order == ["mallory2"]  # waited second, but holds none of the organisation's two
    shares.release(("RXX", "mallory"))
    waiters[0].join(5)
    assert order == ["mallory2", "mallory"]


@pytest.fixture
def shared_pool(monkeypatch):
    """The process's own pool as the dashboard runs it: two warm children from a forkserver, and the reserve."""
    isolation.shutdown()
    monkeypatch.setattr(isolation, "_CONTEXT", "forkserver")
    monkeypatch.setattr(isolation, "_WORKERS", 2)
    monkeypatch.setattr(isolation, "_RESERVE", 1)
    monkeypatch.setattr(isolation, "_SHARES", None)
    isolation._pool().warm()
    yield
    isolation.shutdown()


@pytest.mark.e2e  # slow hostile checks in real children, timed as a person waits
def test_four_slow_hostile_checks_by_one_user_do_not_hold_up_anothers_clean_check(shared_pool, tmp_path: Path):
    """One user's four workbooks that each cost the scan its whole processor budget, then another user's
    clean workbook, through the same two children: the clean one is checked within 15 s (alone it takes
    one or two), because it never waits behind more than the one child that user holds."""
    slow = tmp_path / "slow.xlsx"
    slow.write_bytes(junk_elements(valid_bytes(tmp_path), 1_990_000))
    typical = write(clean(2), tmp_path / "typical.xlsx")
    policy = Policy()
    results: dict[str, object] = {}

    def check(name: str, path: Path, owner: str) -> None:
        start = time.monotonic()
        results[name] = (engine.check_file(path, policy, owner=owner), time.monotonic() - start)

    hostile = [threading.Thread(target=check, args=(f"slow{n}", slow, "alice")) for n in range(4)]
    for t in hostile:
        t.start()
    while isolation.queue_for("bob")[0] == 0:  # alice's first check has a child
        time.sleep(0.01)
    check("clean", typical, "bob")
    for t in hostile:
        t.join(600)
    report, took = results["clean"]
    assert report.findings == [] and report.exit_code == 0
    assert took < 15, f"the clean check took {took:.1f} s behind four slow ones"
    assert all(isinstance(results[f"slow{n}"][0], engine.CheckReport) for n in range(4))


def test_a_check_whose_turn_does_not_come_in_time_is_busy_with_a_plain_message(shared_pool, monkeypatch, tmp_path):
    typical = write(clean(2), tmp_path / "typical.xlsx")
    shares = isolation._shares()
    for n in range(shares.slots + shares.reserve):
        assert shares.acquire(f"someone else {n}", 0)
    with pytest.raises(engine.CheckingBusy, match="Nothing is wrong with the file"):
        engine.check_file(typical, Policy(check_wait_seconds=0.05), owner="bob")


def test_an_upload_whose_check_never_got_a_turn_fails_with_the_plain_message(service, shared_pool, tmp_path):
    """Its sender is told, not left waiting in silence; the wait is the policy's."""
    from isap.orchestration import steps

    typical = write(clean(1, reference="ISAP-2026-011"), tmp_path / "a.xlsx")
    keys, ids = service.stage_uploads("alice", [(typical.name, typical.read_bytes())])
    shares = isolation._shares()
    for n in range(shares.slots + shares.reserve):
        assert shares.acquire(f"someone else {n}", 0)
    outcome = steps.assure_staged(service, keys[0], policy=Policy(check_wait_seconds=0.05))
    assert outcome.failed == 1 and outcome.kept == 0
    [done] = service.staged_outcomes("alice", ids)
    assert done.finished and "Nothing is wrong with the file" in done.outcome


@pytest.mark.e2e  # slow hostile checks in real children, timed as a person waits
def test_two_slow_hostile_checks_by_two_users_do_not_hold_up_a_third_users_clean_check(shared_pool, tmp_path: Path):
    """Two users each send a workbook that costs the scan its whole processor budget, filling both
    children; a third user's clean workbook, sent while they run, is checked within 15 s (alone it takes
    one or two) by the reserve child, not after one of the slow ones ends."""
    slow = tmp_path / "slow.xlsx"
    slow.write_bytes(junk_elements(valid_bytes(tmp_path), 1_990_000))
    typical = write(clean(2), tmp_path / "typical.xlsx")
    policy = Policy()
    results: dict[str, object] = {}

    def check(name: str, path: Path, owner: str) -> None:
        start = time.monotonic()
        results[name] = (engine.check_file(path, policy, owner=owner), time.monotonic() - start)

    hostile = [threading.Thread(target=check, args=(user, slow, user)) for user in ("mallory", "mallory2")]
    for t in hostile:
        t.start()
    while isolation.queue_for("alice")[0] < 2:  # both slow checks have a child
        time.sleep(0.01)
    check("clean", typical, "alice")
    for t in hostile:
        t.join(600)
    report, took = results["clean"]
    assert report.findings == [] and report.exit_code == 0
    assert took < 15, f"the clean check took {took:.1f} s behind two slow ones"
    assert all(isinstance(results[u][0], engine.CheckReport) for u in ("mallory", "mallory2"))


def test_an_uploader_takes_turns_within_their_organisation_as_their_account_says(service, tmp_path):
    """The owner the dashboard, the API and the flows pass is read from the account: the organisation
    with the user, or the user alone for an account without one."""
    assert service.checking_owner("alice") == ("QUA", "alice")
    assert service.checking_owner("otto") == ("QHM", "otto")
    assert service.checking_owner("rita") == "rita"  # a reviewer: no organisation
    typical = write(clean(1, reference="ISAP-2026-012"), tmp_path / "a.xlsx")
    keys, _ = service.stage_uploads("alice", [(typical.name, typical.read_bytes())])
    [item] = service.staged_for_run(keys[0], 60)
    assert item.checking_owner == ("QUA", "alice")

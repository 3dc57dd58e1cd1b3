"""Working days leave out England's bank holidays: hand-worked across Christmas 2026 and Easter 2027."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from isap.policy import Policy, PolicyError
from isap.policy import working_days as wd

D = dt.date


def test_christmas_2026_by_hand():
    # Wed 23 Dec 2026 up to Mon 4 Jan 2027: 23, 24 Dec work; Fri 25 Christmas Day; 26-27 weekend;
    # Mon 28 Boxing Day (substitute); 29, 30, 31 work; Fri 1 Jan New Year's Day; 2-3 weekend.
    assert wd.working_days_between(D(2026, 12, 23), D(2027, 1, 4)) == 5
    assert int(np.busday_count(D(2026, 12, 23), D(2027, 1, 4))) == 8  # what plain Monday-to-Friday said
    assert wd.holidays_between(D(2026, 12, 23), D(2027, 1, 4)) == [D(2026, 12, 25), D(2026, 12, 26),
                                                                  D(2026, 12, 28), D(2027, 1, 1)]
    assert not wd.is_working_day(D(2026, 12, 25)) and not wd.is_working_day(D(2026, 12, 28))
    assert wd.is_working_day(D(2026, 12, 29))


def test_easter_2027_by_hand():
    # Thu 25 Mar 2027 up to Thu 1 Apr: 25 works; Good Friday 26; 27-28 weekend; Easter Monday 29; 30, 31 work.
    assert wd.working_days_between(D(2027, 3, 25), D(2027, 4, 1)) == 3
    assert wd.holidays_between(D(2027, 3, 1), D(2027, 4, 30)) == [D(2027, 3, 26), D(2027, 3, 29)]


def test_adding_working_days():
    assert wd.add_working_days(D(2026, 12, 24), 5) == D(2027, 1, 5)  # 29, 30, 31 Dec, 4, 5 Jan
    assert wd.add_working_days(D(2026, 12, 25), 0) == D(2026, 12, 29)  # a bank holiday rolls forward
    assert wd.add_working_days(D(2027, 3, 25), 1) == D(2027, 3, 30)
    assert wd.add_working_days(D(2027, 3, 30), -1) == D(2027, 3, 25)
    assert wd.add_working_days(D(2027, 1, 4), -1) == D(2026, 12, 31)


def test_counting_edges_and_vectors():
    assert wd.working_days_between(D(2027, 1, 4), D(2027, 1, 4)) == 0
    assert wd.working_days_between(D(2027, 1, 5), D(2027, 1, 4)) == 0  # never negative
    assert wd.working_days_between(D(2026, 12, 24), D(2026, 12, 29)) == 1  # only the 24th
    starts = np.array(["2026-12-23", "2027-03-25", "2027-04-01", "1999-12-24"], dtype="datetime64[D]")
    ends = np.array(["2027-01-04", "2027-04-01", "2027-03-25", "2000-01-04"], dtype="datetime64[D]")
    # 1999-2000, outside the span built at first: substitute days Mon 27 and Tue 28 Dec, the millennium
    # holiday Fri 31 Dec and Mon 3 Jan leave 24, 29 and 30 Dec
    assert wd.count(starts, ends).tolist() == [5, 3, 0, 3]
    assert wd.count(np.array([], dtype="datetime64[D]"), np.datetime64("2027-01-04")).tolist() == []


def test_other_calendars_and_description():
    # Scotland keeps Good Friday but not Easter Monday, and adds 2 January (on Mon 4 Jan in 2027)
    assert wd.working_days_between(D(2027, 3, 25), D(2027, 4, 1), "GB-SCT") == 4
    assert wd.working_days_between(D(2027, 1, 4), D(2027, 1, 6), "GB-SCT") == 1
    assert wd.working_days_between(D(2027, 1, 4), D(2027, 1, 6)) == 2
    text = wd.describe()
    assert "England" in text and "GB-ENG" in text and "holidays " in text
    with pytest.raises(wd.CalendarError, match="XX"):
        wd.parse_calendar("XX")


def test_policy_records_and_validates_the_calendar(tmp_path):
    assert Policy().working_days_calendar == "GB-ENG"
    assert Policy().values()["working_days_calendar"] == "GB-ENG"  # so every report lists it
    good = tmp_path / "wales.toml"
    good.write_text('[policy]\nworking_days_calendar = "GB-WLS"\n')
    assert Policy.from_toml(good).working_days_calendar == "GB-WLS"
    for bad, reason in (("GB-XYZ", "unknown subdivision"), ("england", "working_days_calendar"),
                        ("ZZ", "unknown country")):
        path = tmp_path / "bad.toml"
        path.write_text(f'[policy]\nworking_days_calendar = "{bad}"\n')
        with pytest.raises(PolicyError, match=reason):
            Policy.from_toml(Path(path))


@pytest.fixture
def waiting(service, tmp_path):
    """A proposal submitted on Thu 3 Dec 2026 and still waiting for review."""
    from sqlalchemy import update
    from sqlmodel import Session

    from isap.store.models import Proposal
    from sample_submissions.proposals import clean, write

    ref = "ISAP-2026-021"
    p = clean(1, reference=ref)
    p["Partners"] = [x for x in p["Partners"] if x["partner_type"] != "Voluntary sector"]
    service.upload("alice", "v1.xlsx", write(p, tmp_path / "v1.xlsx").read_bytes())
    service.acknowledge("alice", ref, "REL011", "CVS joins via the alliance board.")
    service.submit("alice", ref)
    with Session(service.engine) as s:
        s.exec(update(Proposal).where(Proposal.reference == ref)
               .values(state_since=dt.datetime(2026, 12, 3, 9, 30, tzinfo=dt.timezone.utc)))
        s.commit()
    return service, ref


def test_overdue_only_once_the_bank_holidays_are_counted_out(waiting):
    service, ref = waiting
    assert service.policy.review_target_working_days == 20
    # 3 Dec 2026 up to Mon 4 Jan 2027: 22 weekdays, less 25 and 28 Dec and 1 Jan = 19 working days
    row = next(r for r in service.review_queue("rita", today=D(2027, 1, 4)) if r["reference"] == ref)
    assert row["working_days_in_state"] == 19 and row["days_in_state"] == 32
    assert row["overdue"] is False  # plain Monday-to-Friday would have said 22, overdue
    assert not [o for o in service.overdue(D(2027, 1, 4)) if o["kind"] == "review_overdue"]
    # two working days later it has waited 21 working days: overdue
    row = next(r for r in service.review_queue("rita", today=D(2027, 1, 6)) if r["reference"] == ref)
    assert row["working_days_in_state"] == 21 and row["overdue"] is True
    late = [o for o in service.overdue(D(2027, 1, 6)) if o["kind"] == "review_overdue"]
    assert [o["key"] for o in late] == [ref] and "21 working days" in late[0]["subject"]

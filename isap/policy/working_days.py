"""Working days as NHS England counts them: Monday to Friday, less England's bank holidays.

The review target ("20 working days in review"), the overdue flags, the ages
on the pipeline and "due in 5 working days" all count working days.  Counting
Christmas Day or Easter Monday as a working day makes a review look overdue
when it is not, so every count goes through this module, which takes the
bank holidays from the `holidays` library (kept up to date with each year's
proclamations, such as a one-off coronation or jubilee holiday) rather than
from a list someone has to remember to edit.

Speed: the pipeline counts 10,000 proposals at once, so the holidays become
a numpy business-day calendar built once per process and calendar (for a
generous span of years, widened on demand), and counting is one vectorised
`numpy.busday_count` call.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass

import numpy as np

DEFAULT_CALENDAR = "GB-ENG"
# A span that covers every proposal the service will see without rebuilding;
# dates outside it widen the calendar (and rebuild it once).
_FIRST_YEAR, _LAST_YEAR_AHEAD = 2015, 10

_NAMES = {"GB-ENG": "England bank holidays", "GB-WLS": "Wales bank holidays",
          "GB-SCT": "Scotland bank holidays", "GB-NIR": "Northern Ireland bank holidays"}


class CalendarError(ValueError):
    """A calendar name the holidays library does not know; the message says why."""


def parse_calendar(name: str) -> tuple[str, str | None]:
    """Split "GB-ENG" into ("GB", "ENG"), checking both against the holidays library."""
    import holidays

    country, _, subdiv = name.partition("-")
    supported = holidays.list_supported_countries()
    if country not in supported:
        raise CalendarError(f"unknown country {country!r} in working-days calendar {name!r} "
                            "(use an ISO 3166 code such as GB-ENG)")
    if subdiv and subdiv not in supported[country]:
        raise CalendarError(f"unknown subdivision {subdiv!r} of {country} in working-days calendar {name!r} "
                            f"(known: {', '.join(supported[country])})")
    return country, subdiv or None


def describe(name: str = DEFAULT_CALENDAR) -> str:
    """How reports name the calendar, with the library version that supplied the dates."""
    from importlib.metadata import version

    label = _NAMES.get(name, f"public holidays of {name}")
    return f"Monday to Friday less {label} (holidays {version('holidays')}, {name})"


@dataclass(frozen=True)
class _Calendar:
    first: int
    last: int
    busdaycal: np.busdaycalendar
    dates: tuple[dt.date, ...]


_lock = threading.Lock()
_built: dict[str, _Calendar] = {}


def _build(name: str, first: int, last: int) -> _Calendar:
    import holidays

    country, subdiv = parse_calendar(name)
    found = holidays.country_holidays(country, subdiv=subdiv, years=range(first, last + 1))
    dates = tuple(sorted(found))
    return _Calendar(first, last, np.busdaycalendar(holidays=np.array(dates, dtype="datetime64[D]")), dates)


def _calendar(name: str, first_year: int, last_year: int) -> _Calendar:
    cal = _built.get(name)
    if cal is not None and cal.first <= first_year and last_year <= cal.last:
        return cal
    with _lock:
        cal = _built.get(name)
        if cal is None or not (cal.first <= first_year and last_year <= cal.last):
            first = min(first_year, _FIRST_YEAR, cal.first if cal else _FIRST_YEAR)
            last = max(last_year, dt.date.today().year + _LAST_YEAR_AHEAD, cal.last if cal else 0)
            cal = _built[name] = _build(name, first, last)
    return cal


def _years(*arrays: np.ndarray) -> tuple[int, int]:
    lo = min(int(a.min().astype("datetime64[Y]").astype(int)) for a in arrays) + 1970
    hi = max(int(a.max().astype("datetime64[Y]").astype(int)) for a in arrays) + 1970
    return lo, hi


def holidays_between(first: dt.date, last: dt.date, calendar: str = DEFAULT_CALENDAR) -> list[dt.date]:
    """The bank holidays from `first` to `last`, both included."""
    cal = _calendar(calendar, first.year, last.year)
    return [d for d in cal.dates if first <= d <= last]


def count(starts, ends, calendar: str = DEFAULT_CALENDAR) -> np.ndarray:
    """Working days from each start (included) to its end (not included); 0 where end <= start.

    This is how long something has waited: started on a Friday and looked at
    on the Monday after, it has waited one working day.  Vectorised: `starts`
    and `ends` are anything numpy turns into day dates (broadcast together).
    """
    a = np.asarray(starts, dtype="datetime64[D]")
    b = np.asarray(ends, dtype="datetime64[D]")
    if a.size == 0 or b.size == 0:
        return np.zeros(np.broadcast(a, b).shape, dtype=int)
    cal = _calendar(calendar, *_years(a, b))
    return np.where(a < b, np.busday_count(np.minimum(a, b), b, busdaycal=cal.busdaycal), 0)


def working_days_between(start: dt.date, end: dt.date, calendar: str = DEFAULT_CALENDAR) -> int:
    """Working days from `start` (included) to `end` (not included); 0 if `end` is not after `start`."""
    return int(count(start, end, calendar))


def add_working_days(start: dt.date, n: int, calendar: str = DEFAULT_CALENDAR) -> dt.date:
    """The date `n` working days after `start` (before it, for negative `n`).

    Five working days after Christmas Eve 2026 is 5 January 2027.  A start on
    a weekend or bank holiday first moves to the next working day (the
    previous one, counting backwards).
    """
    day = np.datetime64(start, "D")
    # a generous year span for the offset: n working days never need more than ~n/200 + 1 years
    span = abs(int(n)) // 200 + 1
    cal = _calendar(calendar, start.year - span, start.year + span)
    return np.busday_offset(day, int(n), roll="forward" if n >= 0 else "backward",
                            busdaycal=cal.busdaycal).astype(dt.date)


def is_working_day(day: dt.date, calendar: str = DEFAULT_CALENDAR) -> bool:
    cal = _calendar(calendar, day.year, day.year)
    return bool(np.is_busday(np.datetime64(day, "D"), busdaycal=cal.busdaycal))

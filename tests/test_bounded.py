"""Hostile sizes: patterns in linear time, quoted text cut short, findings capped per rule and sheet.

Nothing here asserts a wall-clock threshold: pattern timings are compared
with a linear-time reference scan of the same input, measured in the same
test.
"""

from __future__ import annotations

import re
import time

import pytest

from isap.template import FORMAT_PATTERNS, Format
from isap import values

# ------------------------------------------------------------------ linear-time patterns

# Every pattern applied to workbook text (cell values after trimming).
WORKBOOK_TEXT_PATTERNS = {
    **{f"format:{fmt.name}": p for fmt, p in FORMAT_PATTERNS.items()},
    "integer": values._INT_TEXT,
    "money": values._MONEY_TEXT,
    "date": values._DATE_TEXT,
}

_ALPHABET = ["a", "A", "0", "9", ".", "@", " ", "\t", "-", "+", "£", ",", "S", "x", "ISAP-", "SVC-", "1,000",
             "a@", "@.", "£ ", "+ "]
_FAMILIES = (
    [lambda n, c=c: (c * (n // len(c) + 1))[:n] for c in _ALPHABET]
    + [lambda n, c=c, end=end: (c * (n // len(c) + 1))[:n] + end for c in _ALPHABET for end in ("!", "@", " x")]
    + [lambda n, c=c, d=d: d + (c * (n // len(c) + 1))[:n] + d + "!" for c in _ALPHABET
       for d in ("@", ".", " ", "£", "0", ",")]
    + [
        lambda n: "a@" + "." * n,                      # the reported case
        lambda n: "a@" + "." * n + "@",
        lambda n: "a@" + "." * n + " ",
        lambda n: "a@" + "b." * (n // 2) + "@",
        lambda n: "+" + " " * n + "x",                 # sign, spaces, no £, no digits
        lambda n: "-" + " " * (n // 2) + "£" + " " * (n // 2) + "x",
        lambda n: "1" + ",000" * (n // 4) + "x",
        lambda n: "1" * n + ".",
        lambda n: "1" * (n // 2) + "." + "1" * (n // 2) + "x",
    ]
)
# Timings below this are timer noise, not a measurement.
_FLOOR = 20e-6


def _best(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


@pytest.mark.parametrize("name", sorted(WORKBOOK_TEXT_PATTERNS))
def test_patterns_on_workbook_text_run_in_linear_time(name):
    """Each pattern on adversarial inputs of 1,000, 10,000 and 100,000 characters: the time on an input
    ten times longer is measured against ten times the time on the shorter one (the linear-size
    reference).  A linear pattern grows about 10x per step, a quadratic one about 100x; the check at
    10,000 characters stops a quadratic pattern long before it would run for minutes at 100,000."""
    pattern = WORKBOOK_TEXT_PATTERNS[name]
    for family in _FAMILIES:
        before = None
        for n in (1_000, 10_000, 100_000):
            s = family(n)
            took = _best(lambda: pattern.match(s))
            if before is not None:
                growth = took / max(before, _FLOOR)
                assert growth < 35, (f"{name} ({pattern.pattern!r}) is {growth:.0f}x slower on "
                                     f"{s[:12]!r}…{s[-6:]!r} at {len(s):,} characters than at a tenth of "
                                     "the length: not linear")
            before = took


def _email_spec(s: str) -> bool:
    """workbook.md §4: exactly one @, a . somewhere after it, no white space."""
    return s.count("@") == 1 and "." in s.split("@", 1)[1] and not any(c.isspace() for c in s)


@pytest.mark.parametrize("text", [
    "a@b.c", "icp.programme@nhs.net", "a@.", "@.", "a@b.", "a.b@c", "a.b@c.d.e", "a@@b.c", "a@b@c.d",
    "a b@c.d", "a@b .c", "a@b\u00a0.c", "a@b.c\n", "ab.c", "a@bc", "", "@", ".@", "a@b\t.c", "é@ü.ß",
    "a@" + "." * 1000, "a@" + "." * 1000 + "@",
])
def test_email_pattern_is_exactly_the_spec(text):
    assert bool(FORMAT_PATTERNS[Format.EMAIL].match(text)) is _email_spec(text)


def test_email_pattern_agrees_with_the_spec_on_random_text():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=400, deadline=None)
    @given(st.text(alphabet=st.sampled_from(list("ab.@ \t\u00a0\n1-")), max_size=20))
    def check(text):
        assert bool(FORMAT_PATTERNS[Format.EMAIL].match(text)) is _email_spec(text)

    check()


@pytest.mark.parametrize("text,amount", [
    ("£1,250,000", 1_250_000.0), ("1250000.00", 1_250_000.0), ("- £ 500", -500.0), ("+  12", 12.0),
    ("£  1,000.5", 1000.5), ("-£1", -1.0),
])
def test_money_text_still_reads(text, amount):
    assert values.to_money(text) == amount


@pytest.mark.parametrize("text", ["12m", "GBP 100", "(500)", "1 000", "1,00", "£-5", "+ x", "££1", "1,0000"])
def test_money_text_still_refused(text):
    assert isinstance(values.to_money(text), values.Bad)

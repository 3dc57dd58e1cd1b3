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


# ------------------------------------------------------------------ quoting cell text

def test_quote_and_describe_cut_text_at_100_characters():
    assert values.quote("x" * 100) == repr("x" * 100)
    assert values.quote("x" * 101) == repr("x" * 100 + "…")
    assert values.describe("y" * 10_000_000) == repr("y" * 100 + "…")
    assert values.describe(" short ") == repr(" short ")
    assert values.describe(1.0) == "1" and values.describe(True) == "TRUE"
    assert values.clip("z" * 5000) == "z" * 100 + "…"
    assert values.clip("short") == "short"


LONG = 32_767  # characters: the most a cell holds in Excel (openpyxl cuts longer text to it)


def test_no_finding_echoes_a_long_cell_whole(run_check):
    """Every place a message embeds workbook text: choices, codes, identifiers, names, unknown
    fields, columns and sheets, the template version."""
    from sample_submissions.generate import Layout, clean

    p = clean(2)
    p["Cover"]["template_version"] = "v" * LONG                  # WB007
    p["Cover"]["provider_type"] = "t" * LONG                     # SCH003
    p["Cover"]["contact_email"] = "a@@" + "." * LONG              # SCH005
    p["Services"][0]["category"] = "c" * LONG                    # SCH003
    p["Services"][1]["annual_value_gbp"] = "x£" + "9" * LONG     # SCH002
    p["Services"][2]["service_id"] = "SVC-" + "1" * LONG         # a valid id, quoted by SCP and REL rules
    p["Services"][2]["subcontractor_id"] = "P-" + "7" * LONG     # REL008: not in Partners
    p["Partners"][0]["partner_name"] = "n" * LONG
    p["Partners"][0]["supports_proposal"] = "No"                 # REL002 names the partner
    p["Partners"][1]["partner_id"] = "P-" + "2" * LONG
    p["Partners"][1]["partner_name"] = None
    p["Partners"][1]["registered_list_size"] = "s" * LONG        # SCH002
    layout = Layout(kv_extra_rows={"Cover": [("f" * LONG, "x")]},            # WB006 unknown field
                    extra_columns={"Services": {"h" * LONG: ["x"]}},          # WB006 unknown column
                    extra_sheets={"S" * 300: [["x"]]})                        # WB006 unknown sheet
    report = run_check(p, layout)
    rules = {f.rule_id for f in report.findings}
    assert {"WB006", "WB007", "SCH002", "SCH003", "SCH005", "REL008"} <= rules, sorted(rules)
    for f in report.findings:
        assert len(f.message) < 400, (f.rule_id, f.message[:200])
        assert f.column is None or len(f.column) <= 101, (f.rule_id, f.column[:50])
    long_quoted = [f for f in report.findings if "…" in f.message]
    assert len(long_quoted) >= 8, [(f.rule_id, f.message[:120]) for f in report.findings]

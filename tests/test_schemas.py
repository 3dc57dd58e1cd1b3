"""The schemas run as pandera runs them, and polars' regular expressions match as Python's do.

`schemas.validate` puts every test of a sheet's pandera schema into one polars query.  These
properties hold it to pandera itself: on any frame, each check gives the failing rows that
pandera's own check backend gives for it, and a column that may not be empty fails where pandera's
nullable setting says.  The format patterns are written for Python's `re` in the template and
run by polars (Rust's regex): they must accept exactly the same texts.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from isap.workbook import schemas
from isap.workbook.template import FORMAT_PATTERNS, SHEETS, Format, Need, ValueType
from isap.workbook.values import to_text

# texts near every format: the characters the patterns name, white space of every kind Python and
# Rust disagree on (U+001C-U+001F are white space to Python only), and letters and digits outside ASCII
ALPHABET = "APSVCEMQ0123456789-@.abcz_ \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u2028\u3000٣Ａé"
texts = st.text(alphabet=ALPHABET, max_size=24)
edges = st.sampled_from(["ISAP-2026-014", "SVC-001", "P-000010", "E-12345", "05C", "M87001", "a@b.c", "a@@b.c",
                         "name@organisation.nhs.uk", "a@b", "@b.c", "a@.c", "a b@c.d", "a\x1cb@c.d", "SVC-00١",
                         "p-001", "QUA", "ABCDEFG", "m87001"])


@pytest.mark.parametrize("fmt", list(Format))
@given(text=st.one_of(texts, edges))
@settings(max_examples=300, deadline=None)
def test_polars_accepts_exactly_the_texts_python_accepts(fmt, text):
    # a text reaches the check as `to_text` leaves it: stripped (and upper-cased for codes)
    value = to_text(text)
    if value is None:
        return
    for candidate in (value, value.upper()):
        expected = FORMAT_PATTERNS[fmt].match(candidate) is not None
        got = pl.Series([candidate]).str.contains(schemas.polars_pattern(fmt)).item()
        assert got == expected, (fmt, candidate)


def _value(col):
    """Typed values of a column's type, near its choices, formats and bounds, or empty."""
    if col.type in (ValueType.MONEY, ValueType.INTEGER):
        bounds = [b for b in (col.minimum, col.maximum) if b is not None]
        near = [b + d for b in bounds for d in (-1, 0, 1)]
        numbers = st.one_of(st.sampled_from(near or [0]).map(int), st.integers(-5, 5), st.integers(-10**14, 10**14))
        return st.one_of(st.none(), numbers.map(float) if col.type is ValueType.MONEY else numbers)
    if col.type is ValueType.DATE:
        return st.one_of(st.none(), st.dates(dt.date(2000, 1, 1), dt.date(2040, 1, 1)))
    if col.type is ValueType.YESNO:
        return st.one_of(st.none(), st.booleans())
    known = list(col.choices) + ["GP practice", "Subcontract", "Suspended contract", "None", "Yes", "Dentistry"]
    return st.one_of(st.none(), st.sampled_from(known), edges, texts.map(lambda t: t.strip() or None))


@st.composite
def frames(draw):
    sheet = draw(st.sampled_from(SHEETS))
    names = draw(st.lists(st.sampled_from(sheet.column_names), min_size=1, unique=True))
    rows = draw(st.integers(1, 12))
    columns = {n: draw(st.lists(_value(sheet.column(n)), min_size=rows, max_size=rows)) for n in names}
    return sheet, draw(st.sampled_from([None, 1, 2, 3])), schemas.frame_for(sheet, columns)


def _by_pandera(sheet, frame: pl.DataFrame, checkpoint) -> dict[tuple[str, str], list[int]]:
    """What pandera's own check backend finds, check by check."""
    schema = schemas.schema_for(sheet, checkpoint, frozenset(frame.columns))
    out: dict[tuple[str, str], set[int]] = {}

    def add(rule_id, column, ok: pl.Series):
        failing = ok.not_().arg_true().to_list()
        if failing:
            out.setdefault((rule_id, column), set()).update(failing)

    lazy = frame.lazy()
    for name, column in schema.columns.items():
        if not column.nullable:
            filled = frame[name].is_not_null()
            if frame[name].dtype.is_float():
                filled = filled & frame[name].is_not_nan()
            add("SCH001", name, filled)
        for check in column.checks:
            add(*check.name.split("|", 1), check(lazy, name).check_output.collect().to_series())
    for check in schema.checks:
        add(*check.name.split("|", 1), check(lazy).check_output.collect().to_series())
    return {k: sorted(v) for k, v in out.items()}


def _by_the_template(sheet, frame: pl.DataFrame, checkpoint) -> dict[tuple[str, str], list[int]]:
    """The schema's rules worked out value by value in plain Python, from the template alone (as the
    schemas on pandas frames applied them before)."""
    cols = {name: frame[name].to_list() for name in frame.columns}
    n = frame.height
    out: dict[tuple[str, str], set[int]] = {}

    def fail(rule_id, column, i):
        out.setdefault((rule_id, column), set()).add(i)

    for col in sheet.columns:
        if col.name not in cols:
            continue
        values = cols[col.name]
        required = col.need is Need.ALWAYS or (col.need is Need.CP2 and checkpoint is not None and checkpoint >= 2)
        seen = set()
        for i, v in enumerate(values):
            if v is None:
                if required:
                    fail("SCH001", col.name, i)
                continue
            if col.type is ValueType.CHOICE and v not in col.choices:
                fail("SCH003", col.name, i)
            if col.format is not None and col.name != schemas.PARTNER_CODE and not FORMAT_PATTERNS[col.format].match(v):
                fail("SCH005", col.name, i)
            lo, hi = col.minimum, col.maximum
            if (lo is not None and not (v > lo if col.minimum_exclusive else v >= lo)) or (hi is not None and v > hi):
                fail("SCH004", col.name, i)
            if col.unique:
                if v in seen:
                    fail("SCH006", col.name, i)
                seen.add(v)
        if col.need is Need.WHEN and col.when.column in cols:
            when = col.when
            dep = sheet.column(when.column) if when.column in sheet.column_names else None
            allowed = (when.equals,) if isinstance(when.equals, str) else when.equals
            for i in range(n):
                cond = cols[when.column][i]
                holds = (cond is not None and cond not in allowed) if when.negate else cond in allowed
                if dep is not None and dep.choices and cond not in dep.choices:
                    holds = False
                if holds and values[i] is None:
                    fail("SCH001", col.name, i)
    if sheet.name == "Partners" and schemas.PARTNER_CODE in cols:
        for i, code in enumerate(cols[schemas.PARTNER_CODE]):
            if code is None:
                continue
            gp = "partner_type" in cols and cols["partner_type"][i] == "GP practice"
            fmt = Format.GP_PRACTICE if gp else Format.ODS
            if not FORMAT_PATTERNS[fmt].match(code):
                fail("SCH005", schemas.PARTNER_CODE, i)
    return {k: sorted(v) for k, v in out.items()}


def test_one_query_fails_the_rows_pandera_fails_and_the_template_says():
    """On any frame, the one query fails exactly the rows pandera's own checks fail, and exactly those the
    template's rules give worked out value by value.  One property for both comparisons, so each generated
    frame is built and checked once; and the cases are not all clean: each kind of schema failure occurs among
    the few hundred."""
    seen: set[str] = set()

    @given(frames())
    @settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    def agree(case):
        sheet, checkpoint, frame = case
        found = schemas.validate(sheet, frame, checkpoint)
        assert found == _by_pandera(sheet, frame, checkpoint)
        assert found == _by_the_template(sheet, frame, checkpoint)
        seen.update(rule for rule, _ in found)

    agree()
    assert {"SCH001", "SCH003", "SCH004", "SCH005", "SCH006"} <= seen

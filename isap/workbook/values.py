"""Typing raw cell values as the template says (docs/workbook.md §1 and §4 "Values").

Commissioners type `£1,250,000`, `y`, `2026-04-01` or let Excel store a
number; these functions turn what the reader saw into one Python value of the
column's type, or a `Bad` saying which schema rule it breaks and why.  They
run once per cell on the hot path of every check, so the common cases come
first and nothing is allocated that is not needed.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from decimal import Decimal
from typing import Callable, NamedTuple

from isap.workbook.template import ERROR_LITERALS, Column, ValueType


class Bad(NamedTuple):
    """A value the template cannot take.  `message` says what is wrong with it; for a schema fault,
    `instruction` says what to enter instead, with `{field}` standing for the field's label (the typer
    does not know which field it types), and the reader words the finding from both
    (`isap.workbook.parse`)."""

    rule_id: str  # SCH002 / SCH003 / WB008
    message: str
    instruction: str = ""


_INT_TEXT = re.compile(r"^[+-]?[0-9]+$")
# spaces after the sign, then optionally £ and its own spaces: two adjacent runs of spaces
# (` *(£?) *`) would make a failing match try every split of a long run (quadratic time)
_MONEY_TEXT = re.compile(r"^([+-]?) *(£ *)?([0-9]+|[0-9]{1,3}(?:,[0-9]{3})+)(\.[0-9]+)?$")
_DATE_TEXT = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_YES = frozenset({"yes", "y"})
_NO = frozenset({"no", "n"})


QUOTE_LIMIT = 100  # characters of a cell's text a message quotes (docs/workbook.md §4 "Values")


def clip(text: str, limit: int = QUOTE_LIMIT) -> str:
    """Workbook text cut to `limit` characters, then `…`: a cell can hold megabytes."""
    return text if len(text) <= limit else text[:limit] + "…"


def quote(text: str) -> str:
    """Workbook text quoted in a message: at most 100 of its characters, then `…`."""
    return repr(clip(text))


def describe(v: object) -> str:
    """How a raw value is quoted back to the commissioner."""
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (dt.datetime, dt.date)):
        return v.isoformat()[:10]
    return quote(v) if isinstance(v, str) else clip(str(v))


def is_empty(v: object) -> bool:
    return v is None or v == "" or (isinstance(v, str) and not v.strip())


def to_text(v: object) -> object:
    """Any cell reads as text (§4 "Values"): a number as its plain digits, a date as YYYY-MM-DD,
    a boolean as TRUE/FALSE.  The text is then checked like any other; never SCH002."""
    if isinstance(v, str):
        s = v.strip()
        return s or None
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, float):
        if v.is_integer():
            return str(int(v))
        # the shortest digits that round-trip, written out without an exponent
        return format(Decimal(repr(v)), "f") if math.isfinite(v) else repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, dt.datetime):
        return v.date().isoformat() if v.time() == dt.time() else v.isoformat(sep=" ")
    if isinstance(v, (dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, dt.timedelta):
        return str(v)
    return None if v is None else str(v).strip() or None


_EPOCH_1900 = dt.datetime(1899, 12, 30)
_EPOCH_1904 = dt.datetime(1904, 1, 1)


def excel_date(serial: float, date1904: bool = False) -> object:
    """The date (or date and time) an Excel serial number stands for, in the workbook's date system.
    Serials before 1 March 1900 allow for Excel's phantom 29 February 1900, as Excel shows them."""
    if date1904:
        base = _EPOCH_1904
    else:
        base = _EPOCH_1900 if serial >= 61 else _EPOCH_1900 + dt.timedelta(days=1)
    try:
        when = base + dt.timedelta(days=serial)
    except (OverflowError, ValueError):
        return serial  # not a date any calendar shows: left a number (SCH002 where a date is expected)
    return when.date() if when.time() == dt.time() else when


# The largest magnitude a number in the workbook may have: 15 digits before the decimal point, as many
# as Excel keeps and as float64 holds exactly.  Past it a number is not one the template can hold
# (SCH002), which also keeps Python's limit on digits turned into an int and float overflow out of
# typing (docs/decisions/0012-untrusted-text.md "Numbers too large to hold").
NUMBER_LIMIT = 1e15
_MAX_DIGITS = 15


WHOLE_NUMBER = "Enter {field} as a whole number"
AMOUNT = "Enter {field} as an amount in pounds, such as 1250000 or £1,250,000"
DATE = "Enter {field} as a date cell or as text such as 2027-04-01"
YES_OR_NO = "Enter Yes or No for {label}"


def _too_large(instruction: str, v: object) -> Bad:
    if isinstance(v, float) and not math.isfinite(v):
        found = "the cell holds a value that is not a finite number"
    elif isinstance(v, str):
        found = f"{describe(v)} has more than {_MAX_DIGITS} digits before the decimal point, more than the " \
                "template can hold"
    else:
        found = f"the number has more than {_MAX_DIGITS} digits before the decimal point, more than the " \
                "template can hold"
    return Bad("SCH002", found, instruction)


def _digits(text: str) -> str:
    """The significant digits of a run of digits (leading zeros dropped, never empty)."""
    return text.lstrip("0") or "0"


def to_integer(v: object) -> object:
    if isinstance(v, float):
        if not -NUMBER_LIMIT < v < NUMBER_LIMIT:
            return _too_large(WHOLE_NUMBER, v)
        if v.is_integer():
            return int(v)
        return Bad("SCH002", f"{describe(v)} is not a whole number", WHOLE_NUMBER)
    if isinstance(v, bool):
        return Bad("SCH002", f"{describe(v)} is not a whole number", WHOLE_NUMBER)
    if isinstance(v, int):
        return v if -NUMBER_LIMIT < v < NUMBER_LIMIT else _too_large(WHOLE_NUMBER, v)
    if isinstance(v, str):
        s = v.strip()
        if not s:
            return None
        if _INT_TEXT.match(s):
            sign = s[0] if s[0] in "+-" else ""
            digits = _digits(s[len(sign):])
            if len(digits) > _MAX_DIGITS:
                return _too_large(WHOLE_NUMBER, v)
            return int(sign + digits)
    return Bad("SCH002", f"{describe(v)} is not a whole number", WHOLE_NUMBER)


def to_money(v: object) -> object:
    if isinstance(v, float):
        return v if -NUMBER_LIMIT < v < NUMBER_LIMIT else _too_large(AMOUNT, v)
    if isinstance(v, bool):
        return Bad("SCH002", f"{describe(v)} is not an amount in pounds", AMOUNT)
    if isinstance(v, int):
        return float(v) if -NUMBER_LIMIT < v < NUMBER_LIMIT else _too_large(AMOUNT, v)
    if isinstance(v, str):
        s = v.strip()
        if not s:
            return None
        m = _MONEY_TEXT.match(s)
        if m:
            sign, _, digits, decimals = m.groups()
            if len(_digits(digits.replace(",", ""))) > _MAX_DIGITS:
                return _too_large(AMOUNT, v)
            amount = float(digits.replace(",", "") + (decimals or ""))
            return -amount if sign == "-" else amount
    return Bad("SCH002", f"{describe(v)} is not an amount in pounds", AMOUNT)


def to_date(v: object) -> object:
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    if isinstance(v, str):
        s = v.strip()
        if not s:
            return None
        if _DATE_TEXT.match(s):
            try:
                return dt.date.fromisoformat(s)
            except ValueError:
                return Bad("SCH002", f"{quote(s)} is not a real date", DATE)
    if isinstance(v, float) and not isinstance(v, bool):
        return Bad("SCH002", f"the cell holds the number {describe(v)}; format the cell as a date",
                   DATE)
    return Bad("SCH002", f"{describe(v)} is not a date", DATE)


def to_yesno(v: object) -> object:
    if isinstance(v, bool):
        return v
    if isinstance(v, str):
        s = v.strip().lower()
        if not s:
            return None
        if s in _YES:
            return True
        if s in _NO:
            return False
    return Bad("SCH002", f"{describe(v)} is neither", YES_OR_NO)


def to_choice(v: object) -> object:
    """Text only; whether it is an allowed value is the schema's check (SCH003)."""
    if isinstance(v, str):
        s = v.strip()
        return s or None
    return Bad("SCH003", describe(v))  # the reader lists the allowed values


CONVERTERS: dict[ValueType, Callable[[object], object]] = {
    ValueType.TEXT: to_text,
    ValueType.INTEGER: to_integer,
    ValueType.MONEY: to_money,
    ValueType.DATE: to_date,
    ValueType.YESNO: to_yesno,
    ValueType.CHOICE: to_choice,
}


def converter_for(column: Column) -> Callable[[object], object]:
    """The cell typer for a column: error literals first, then the column's type.

    Numbers take a fast path, and text results are memoised per column: choice,
    yes/no and code columns repeat a handful of values across thousands of rows.
    """
    base = CONVERTERS[column.type]
    canonical = {c.casefold(): c for c in column.choices}
    is_choice = column.type is ValueType.CHOICE
    numeric = column.type in (ValueType.MONEY, ValueType.INTEGER)
    memo: dict[str, object] = {}

    def convert_text(v: str) -> object:
        s = v.strip()
        if not s:
            return None
        if s in ERROR_LITERALS:
            return Bad("WB008", f"The cell holds the Excel error value {s}.")
        out = base(v)
        if is_choice and out.__class__ is str:
            out = canonical.get(out.casefold(), out)
        return out

    def convert(v: object) -> object:
        cls = v.__class__
        if cls is str:
            if v == "":
                return None
            out = memo.get(v, memo)
            if out is memo:
                out = convert_text(v)
                if len(memo) < 4096:
                    memo[v] = out
            return out
        if cls is float and numeric and -NUMBER_LIMIT < v < NUMBER_LIMIT:
            if column.type is ValueType.MONEY:
                return v
            return int(v) if v.is_integer() else base(v)
        if v is None:
            return None
        return base(v)

    return convert


def type_column(column: Column, raw) -> tuple[list, bool]:
    """Type a whole column; returns the values and whether any may be `Bad`.

    Whole columns of one kind take C-level paths; low-cardinality columns
    (choices, yes/no, codes) convert each distinct value once.  Numbers never
    share the distinct-value map with booleans (True == 1.0 in Python).
    """
    kinds = set(map(type, raw))
    t = column.type
    # (never NaN or infinite)
    if kinds <= {float} and (not raw or not any(map(math.isnan, raw)) and -NUMBER_LIMIT < min(raw)
                             and max(raw) < NUMBER_LIMIT):
        if t is ValueType.MONEY:
            return list(raw), False
        if t is ValueType.INTEGER and all(map(float.is_integer, raw)):
            return list(map(int, raw)), False
    if t is ValueType.TEXT and kinds <= {str}:
        # what `to_text` makes of each: the stripped text, None for blank, WB008 for an error literal
        stripped = list(map(str.strip, raw))
        if ERROR_LITERALS.isdisjoint(stripped):
            return [s or None for s in stripped], False
    conv = converter_for(column)
    if float not in kinds and int not in kinds:
        distinct = set(raw)
        if len(distinct) * 4 < len(raw):
            mapping = {v: conv(v) for v in distinct}
            return list(map(mapping.__getitem__, raw)), any(x.__class__ is Bad for x in mapping.values())
    return list(map(conv, raw)), True


def template_version_text(v: object) -> object:
    """`template_version` as text; a number (Excel turns a typed 1.0 into 1) reads as `1.0`."""
    if isinstance(v, float) and not isinstance(v, bool):
        return f"{int(v)}.0" if v.is_integer() else repr(v)
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v}.0"
    return to_text(v)


def money(x: float) -> str:
    """£1,200,000 / -£500 / £1,250.50, for messages."""
    sign = "-" if x < 0 else ""
    x = abs(x)
    if float(x).is_integer():
        return f"{sign}£{int(x):,}"
    return f"{sign}£{x:,.2f}"


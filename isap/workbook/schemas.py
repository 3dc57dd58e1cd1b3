"""Pandera schemas, one per template sheet, over values that are already typed.

Cells are typed by `isap.workbook.values` first (keeping their provenance), so pandera
never coerces and a bad value cannot hide the real violations beside it in
the same column.  The schemas then check, column by column, what is left:
required values (including conditional requirements by checkpoint,
provider type or relationship), allowed choices, formats, ranges and
uniqueness.  Every check is named `SCHnnn|column` so that its failures map
back to findings without guessing.

The frames are polars frames and the schemas pandera's polars schemas: polars
builds and checks the columns in native code, and importing it costs a fraction
of what pandas costs, which is most of what a person waits for in `isap check`
(docs/performance.md).  Nothing on the check path imports pandas; see
`_pandera_polars` for how pandera is kept from doing so.
"""

from __future__ import annotations

import importlib.abc
import sys
from functools import lru_cache

import polars as pl

from isap.workbook.template import (
    FORMAT_PATTERNS,
    Column,
    Format,
    Need,
    SheetSpec,
    ValueType,
)

PARTNER_CODE = "partner_code"  # (parse.PARTNER_CODE: the parser words its findings without importing this)


class _Absent(importlib.abc.MetaPathFinder):
    """Makes the named top-level packages look uninstalled while pandera loads."""

    def __init__(self, names: frozenset[str]):
        self.names = names

    def find_spec(self, fullname, path=None, target=None):
        if fullname in self.names:
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


# What pandera would import for features the check does not use: pandas and numpy (its pandas API
# and the routing of pandas frames) and hypothesis (its data-synthesis strategies).
_UNUSED = ("pandas", "numpy", "hypothesis")


class _WithoutUnusedPackages:
    """While active, the packages pandera could use but the check does not look uninstalled, in a
    process that has not loaded them (where importing them would cost nothing, they are left
    alone)."""

    def __enter__(self):
        self.absent = _Absent(frozenset(n for n in _UNUSED if n not in sys.modules))
        if self.absent.names:
            sys.meta_path.insert(0, self.absent)
        return self

    def __exit__(self, *exc):
        if self.absent.names:
            sys.meta_path.remove(self.absent)


def _pandera_polars():
    """`pandera.polars`, loaded without pandas and numpy.

    pandera's package `__init__` imports pandas and numpy whenever they are installed (for its
    deprecated top-level pandas API).  This project installs pandas for the
    dashboard, so a plain `import pandera.polars` would cost the check path about a second of
    pandas it never uses.  pandera is written to work without them (a polars-only installation),
    so while it loads pandas and numpy are made to look uninstalled.  Nothing here validates pandas
    frames, so pandera's pandas API and routing are not needed in this process.
    """
    with _WithoutUnusedPackages():
        import pandera.polars

    return pandera.polars


pa = _pandera_polars()


# ------------------------------------------------------------------------------------ formats

# Python's `\s` (str.isspace) also matches the four information separators U+001C–U+001F, which the
# Unicode White_Space property that polars' `\s` follows leaves out: the classes are spelled out.
_PY_SPACE = r"\s\x1c-\x1f"


def polars_pattern(fmt: Format) -> str:
    """The template's pattern for `fmt` in polars' (Rust) regex dialect, matching exactly the same
    texts as `FORMAT_PATTERNS[fmt].match` does in Python.  Texts reach the check stripped, so
    Python's `$` (end, or before a final newline) is the end of the text; possessive quantifiers,
    which Rust lacks, only keep Python's matching linear and match the same texts here, since each
    class excludes the character that follows it; Rust's regex is linear anyway."""
    pattern = FORMAT_PATTERNS[fmt].pattern
    out = pattern.replace(r"\s", _PY_SPACE).replace("*+", "*").replace(r"\Z", r"\z")
    if out.endswith("$"):
        out = out[:-1] + r"\z"
    return out


# ------------------------------------------------------------------------------------- checks

class _Test:
    """A check's test as one polars expression, true where a row passes.

    pandera runs it like any check function (`__call__`, given pandera's `PolarsData`); `validate`
    puts the expressions of every check of a sheet into one polars query instead, which gives the
    same masks (tests/test_schemas.py) without paying pandera's per-check set-up, several
    milliseconds a sheet, on every sheet of every check."""

    def __init__(self, name: str, expression_of):
        self.__name__ = name  # pandera names the check's function after it
        self._expression_of = expression_of

    def expression(self, key: str | None, columns) -> pl.Expr:
        """The test over column `key` (None for a test across columns) of a frame with `columns`."""
        return self._expression_of(key, columns)

    def __call__(self, data) -> pl.LazyFrame:
        lazyframe = data.lazyframe
        key = None if data.key == "*" else data.key
        return lazyframe.select(self.expression(key, lazyframe.collect_schema()))


def _check(test, rule_id: str, column: str) -> pa.Check:
    """A column check whose `test(column expression)` is true where a value passes.  An empty
    value always passes (`ignore_na`): emptiness is the nullable setting's concern."""

    def expression(key, columns) -> pl.Expr:
        c = pl.col(key)
        return c.is_null() | test(c)

    return pa.Check(_Test("isap_column_check", expression), name=f"{rule_id}|{column}", ignore_na=True)


def _range_check(col: Column) -> pa.Check | None:
    lo, hi, excl = col.minimum, col.maximum, col.minimum_exclusive
    if lo is None and hi is None:
        return None

    def in_range(c: pl.Expr) -> pl.Expr:
        ok = pl.lit(True)
        if lo is not None:
            ok = ok & ((c > lo) if excl else (c >= lo))
        if hi is not None:
            ok = ok & (c <= hi)
        return ok

    return _check(in_range, "SCH004", col.name)


def _column_checks(col: Column) -> list[pa.Check]:
    checks: list[pa.Check] = []
    if col.type is ValueType.CHOICE:
        allowed = list(col.choices)
        checks.append(_check(lambda c: c.is_in(allowed), "SCH003", col.name))
    if col.format is not None and col.name != PARTNER_CODE:
        pattern = polars_pattern(col.format)
        checks.append(_check(lambda c: c.str.contains(pattern), "SCH005", col.name))
    rng = _range_check(col)
    if rng is not None:
        checks.append(rng)
    if col.unique:
        checks.append(_check(lambda c: c.is_first_distinct(), "SCH006", col.name))
    return checks


def _is_in(columns, name: str, values: list[str]) -> pl.Expr:
    """Where column `name` holds one of `values`: never where it is empty or not text."""
    if columns.get(name) != pl.String:
        return pl.lit(False)
    return pl.col(name).is_in(values).fill_null(False)


def _required_when(col: Column, sheet: SheetSpec) -> pa.Check:
    when = col.when
    assert when is not None
    dep = sheet.column(when.column) if when.column in sheet.column_names else None
    # the requirement is not enforced where the value it depends on fails its own check (no cascade)
    valid = list(dep.choices) if dep is not None and dep.choices else None
    allowed = [when.equals] if isinstance(when.equals, str) else list(when.equals)

    def expression(key, columns) -> pl.Expr:
        if when.column not in columns:
            return pl.lit(True, dtype=pl.Boolean)
        cond = pl.col(when.column)
        holds = (cond.is_not_null() & ~_is_in(columns, when.column, allowed)) if when.negate \
            else _is_in(columns, when.column, allowed)
        if valid is not None:
            holds = holds & _is_in(columns, when.column, valid)
        return ~(holds & pl.col(col.name).is_null())

    return pa.Check(_Test("isap_required_when", expression), name=f"SCH001|{col.name}")


def _partner_code_format(key, columns) -> pl.Expr:
    codes = pl.col(PARTNER_CODE)
    present = codes.is_not_null()
    gp = (pl.col("partner_type").eq("GP practice").fill_null(False) if columns.get("partner_type") == pl.String
          else pl.lit(False))
    as_text = codes.fill_null("")
    ods_ok = as_text.str.contains(polars_pattern(Format.ODS))
    gp_ok = as_text.str.contains(polars_pattern(Format.GP_PRACTICE))
    return ~present | (gp & gp_ok) | (~gp & ods_ok)


@lru_cache(maxsize=64)
def schema_for(sheet: SheetSpec, checkpoint: int | None, present: frozenset[str]) -> pa.DataFrameSchema:
    """The schema of a sheet at a checkpoint, for the template columns present in the workbook."""
    columns: dict[str, pa.Column] = {}
    wide: list[pa.Check] = []
    for col in sheet.columns:
        if col.name not in present:
            continue
        if col.need is Need.ALWAYS:
            nullable = False
        elif col.need is Need.CP2:
            nullable = not (checkpoint is not None and checkpoint >= 2)
        else:
            nullable = True
        columns[col.name] = pa.Column(
            _DTYPES[col.type], nullable=nullable, checks=_column_checks(col), required=True, coerce=False,
            name=col.name,
        )
        if col.need is Need.WHEN:
            wide.append(_required_when(col, sheet))
    if PARTNER_CODE in present and sheet.name == "Partners":
        wide.append(pa.Check(_Test("isap_partner_code_format", _partner_code_format), name=f"SCH005|{PARTNER_CODE}"))
    return pa.DataFrameSchema(columns, checks=wide, name=sheet.name, strict=False, coerce=False)


def tests_of(schema: pa.DataFrameSchema, columns) -> list[tuple[str, str, pl.Expr]]:
    """Every test of the schema over a frame with `columns`, as `(rule_id, column, expression true
    where a row passes)`, in the schema's order: a column that may not be empty (pandera's nullable
    setting, which counts NaN as empty), then each column's checks, then the checks across columns.
    An empty value passes a check that ignores them, as in pandera's own check backend."""
    out: list[tuple[str, str, pl.Expr]] = []
    for name, column in schema.columns.items():
        if not column.nullable:
            filled = pl.col(name).is_not_null()
            if columns[name].is_float():
                filled = filled & pl.col(name).is_not_nan()
            out.append(("SCH001", name, filled))
        for check in column.checks:
            out.append((*check.name.split("|", 1), _passing(check, check._check_fn.expression(name, columns))))
    for check in schema.checks:
        out.append((*check.name.split("|", 1), _passing(check, check._check_fn.expression(None, columns))))
    return out


def _passing(check: pa.Check, expression: pl.Expr) -> pl.Expr:
    return (expression | expression.is_null()) if check.ignore_na else expression.fill_null(False)


def validate(sheet: SheetSpec, frame: pl.DataFrame, checkpoint: int | None) -> dict[tuple[str, str], list[int]]:
    """Every schema failure of the frame, as the ascending row positions that fail each rule on each
    column: `{(rule_id, column): positions}`.

    The schema's tests run together, in one polars query over the frame, and each yields a boolean
    column; the failing positions are read from it by polars.  Nothing is built per failing cell
    here, so a column of a hundred thousand faults costs one mask, and the caller words only the
    ones it lists.  (pandera's own lazy report would build a failure-case row per failing cell.)
    A test that cannot run raises: a defect of ours, never the commissioner's fault.
    """
    out: dict[tuple[str, str], list[int]] = {}
    if frame.height == 0 or frame.width == 0:
        return out
    schema = schema_for(sheet, checkpoint, frozenset(frame.columns))
    tests = tests_of(schema, frame.schema)
    if not tests:
        return out
    masks = frame.select([expression.alias(str(i)) for i, (_, _, expression) in enumerate(tests)])
    for (rule_id, column), mask in zip(((r, c) for r, c, _ in tests), masks.iter_columns()):
        if mask.all():
            continue
        positions = mask.not_().arg_true().to_list()
        key = (rule_id, column)
        out[key] = sorted(set(out[key]).union(positions)) if key in out else positions
    return out


# How each template type is held for validation: one polars type per column, so a value of another
# type (a defect of the typing step) fails loudly instead of being coerced.
_DTYPES = {
    ValueType.MONEY: pl.Float64,
    ValueType.INTEGER: pl.Int64,
    ValueType.TEXT: pl.String,
    ValueType.CHOICE: pl.String,
    ValueType.DATE: pl.Date,
    ValueType.YESNO: pl.Boolean,
}


def frame_for(sheet: SheetSpec, columns: dict[str, list]) -> pl.DataFrame:
    """A frame of typed values for validation, one column per template column given (null for an
    empty or failed value)."""
    return pl.DataFrame([pl.Series(name, values, dtype=_DTYPES[sheet.column(name).type], strict=True)
                         for name, values in columns.items()])

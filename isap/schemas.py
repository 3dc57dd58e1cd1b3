"""Pandera schemas, one per template sheet, over values that are already typed.

Cells are typed by `isap.values` first (keeping their provenance), so pandera
never coerces and a bad value cannot hide the real violations beside it in
the same column.  The schemas then check, lazily and all at once, what is
left: required values (including conditional requirements by checkpoint,
provider type or relationship), allowed choices, formats, ranges and
uniqueness.  Every check is named `SCHnnn|column` so that its failures map
back to findings without guessing.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from isap.template import (
    FORMAT_PATTERNS,
    Column,
    Format,
    Need,
    SheetSpec,
    ValueType,
)

PARTNER_CODE = "partner_code"


@dataclass(frozen=True)
class SchemaFailure:
    rule_id: str
    column: str
    position: int  # row position in the frame


def _check(fn, rule_id: str, column: str, **kw) -> pa.Check:
    return pa.Check(fn, name=f"{rule_id}|{column}", ignore_na=True, **kw)


def _range_check(col: Column) -> pa.Check | None:
    lo, hi, excl = col.minimum, col.maximum, col.minimum_exclusive
    if lo is None and hi is None:
        return None

    def isap_range_check(s: pd.Series) -> pd.Series:
        ok = pd.Series(True, index=s.index)
        if lo is not None:
            ok &= (s > lo) if excl else (s >= lo)
        if hi is not None:
            ok &= s <= hi
        return ok

    return _check(isap_range_check, "SCH004", col.name)


def _column_checks(col: Column) -> list[pa.Check]:
    checks: list[pa.Check] = []
    if col.type is ValueType.CHOICE:
        allowed = frozenset(col.choices)
        checks.append(_check(lambda s: s.isin(allowed), "SCH003", col.name))
    if col.format is not None and col.name != PARTNER_CODE:
        pattern = FORMAT_PATTERNS[col.format].pattern
        checks.append(_check(lambda s: s.str.match(pattern), "SCH005", col.name))
    rng = _range_check(col)
    if rng is not None:
        checks.append(rng)
    if col.unique:
        checks.append(_check(lambda s: ~s.duplicated(keep="first"), "SCH006", col.name))
    return checks


def _required_when(col: Column, sheet: SheetSpec):
    when = col.when
    assert when is not None
    dep = sheet.column(when.column) if when.column in sheet.column_names else None
    # the requirement is not enforced where the value it depends on fails its own check (no cascade)
    valid = list(dep.choices) if dep is not None and dep.choices else None

    def isap_required_when(df: pd.DataFrame) -> pd.Series:
        if when.column not in df:
            return pd.Series(True, index=df.index)
        allowed = [when.equals] if isinstance(when.equals, str) else list(when.equals)
        cond = df[when.column]
        holds = (cond.notna() & ~cond.isin(allowed)) if when.negate else cond.isin(allowed)
        if valid is not None:
            holds &= cond.isin(valid)
        return ~(holds & df[col.name].isna())

    return pa.Check(isap_required_when, name=f"SCH001|{col.name}")


def _partner_code_format(df: pd.DataFrame) -> pd.Series:
    codes = df[PARTNER_CODE]
    present = codes.notna()
    gp = df["partner_type"].eq("GP practice") if "partner_type" in df else pd.Series(False, index=df.index)
    as_text = codes.where(present, "")
    ods_ok = as_text.str.match(FORMAT_PATTERNS[Format.ODS].pattern)
    gp_ok = as_text.str.match(FORMAT_PATTERNS[Format.GP_PRACTICE].pattern)
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
            None, nullable=nullable, checks=_column_checks(col), required=True, coerce=False,
            name=col.name,
        )
        if col.need is Need.WHEN:
            wide.append(_required_when(col, sheet))
    if PARTNER_CODE in present and sheet.name == "Partners":
        wide.append(pa.Check(_partner_code_format, name=f"SCH005|{PARTNER_CODE}"))
    return pa.DataFrameSchema(columns, checks=wide, name=sheet.name, strict=False, coerce=False)


def validate(sheet: SheetSpec, frame: pd.DataFrame, checkpoint: int | None) -> list[SchemaFailure]:
    """Every schema failure of the frame, at once (lazy validation)."""
    if frame.empty:
        return []
    schema = schema_for(sheet, checkpoint, frozenset(frame.columns))
    try:
        schema.validate(frame, lazy=True)
    except SchemaErrors as exc:
        return _failures(exc.failure_cases)
    return []


def _failures(cases: pd.DataFrame) -> list[SchemaFailure]:
    out: dict[tuple[str, str, int], SchemaFailure] = {}
    for check, column, index, case in zip(cases["check"], cases["column"], cases["index"],
                                          cases["failure_case"]):
        if index is None or pd.isna(index):
            # a check that could not run is a defect of ours, never the commissioner's fault
            raise RuntimeError(f"schema check {check} on {column} could not run: {case}")
        check = str(check)
        if check == "not_nullable":
            rule_id, target = "SCH001", str(column)
        elif "|" in check:
            rule_id, target = check.split("|", 1)
        else:  # a failure no check of ours names: schema-level problem, reported on the column
            rule_id, target = "SCH002", str(column)
        key = (rule_id, target, int(index))
        out.setdefault(key, SchemaFailure(rule_id, target, int(index)))
    return list(out.values())


def frame_for(sheet: SheetSpec, columns: dict[str, list]) -> pd.DataFrame:
    """A frame of typed values for validation: numbers as float64 (NaN for empty or failed),
    everything else as objects (None for empty or failed)."""
    data = {}
    for name, values in columns.items():
        col = sheet.column(name)
        if col.type in (ValueType.MONEY, ValueType.INTEGER):
            data[name] = pd.Series([float("nan") if v is None else v for v in values], dtype="float64")
        else:
            data[name] = pd.Series(values, dtype=object)
    return pd.DataFrame(data)

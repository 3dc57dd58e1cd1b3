"""Pandera schemas, one per template sheet, over values that are already typed.

Cells are typed by `isap.workbook.values` first (keeping their provenance), so pandera
never coerces and a bad value cannot hide the real violations beside it in
the same column.  The schemas then check, column by column, what is left:
required values (including conditional requirements by checkpoint,
provider type or relationship), allowed choices, formats, ranges and
uniqueness.  Every check is named `SCHnnn|column` so that its failures map
back to findings without guessing.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
import pandera.pandas as pa

from isap.workbook.template import (
    FORMAT_PATTERNS,
    Column,
    Format,
    Need,
    SheetSpec,
    ValueType,
)

PARTNER_CODE = "partner_code"


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


def validate(sheet: SheetSpec, frame: pd.DataFrame, checkpoint: int | None) -> dict[tuple[str, str], np.ndarray]:
    """Every schema failure of the frame, as the ascending row positions that fail each rule on each
    column: `{(rule_id, column): positions}`.

    Each of the schema's checks runs once over its whole column (or the frame, for checks across
    columns) and yields a boolean mask; failures are counted from the masks with numpy.  Nothing is
    built per failing cell here, so a column of a hundred thousand faults costs one mask, and the
    caller words only the ones it lists.  (pandera's own lazy report would build a row of its
    failure-case frame per failing cell.)
    """
    out: dict[tuple[str, str], np.ndarray] = {}
    if frame.empty:
        return out

    def add(rule_id: str, column: str, positions: np.ndarray) -> None:
        if positions.size:
            key = (rule_id, column)
            out[key] = np.union1d(out[key], positions) if key in out else positions

    schema = schema_for(sheet, checkpoint, frozenset(frame.columns))
    for name, column in schema.columns.items():
        series = frame[name]
        if not column.nullable:
            add("SCH001", name, np.flatnonzero(series.isna().to_numpy()))
        for check in column.checks:
            rule_id, target = check.name.split("|", 1)
            add(rule_id, target, _failing(check, series))
    for check in schema.checks:
        rule_id, target = check.name.split("|", 1)
        add(rule_id, target, _failing(check, frame))
    return out


def _failing(check: pa.Check, data) -> np.ndarray:
    """The positions where a pandera check fails (an empty value passes a check that ignores them).
    A check that cannot run raises: a defect of ours, never the commissioner's fault."""
    result = check(data).check_output
    if isinstance(result, pd.DataFrame):
        result = result.all(axis=1)
    ok = result.to_numpy(dtype=bool, na_value=False)
    # the frame has a range index, so index labels are positions; a check ignoring empty values
    # returns its result over the non-empty ones only
    return np.asarray(result.index[~ok], dtype=np.int64)


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

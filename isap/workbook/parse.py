"""Parse an inspected workbook once into the typed model, with WB004–WB010 and SCH findings.

The order matters and is the no-cascade principle in practice: the Cover is
typed first (its checkpoint decides what is required), then each sheet's
layout is matched (missing sheets and columns, unknown ones), then each cell
is typed, then the sheet's pandera schema runs over the typed values.  Every
input that fails one of these steps is marked `FAILED` in the model, so the
assurance rules that need it are skipped instead of piling on.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from itertools import compress
from types import MappingProxyType
from typing import NamedTuple

from python_calamine import CalamineError, CalamineWorkbook

from isap.workbook.findings import Finding, FindingCollector
from isap.workbook.model import FAILED, KeyValueSheet, ParsedWorkbook, Table
from isap.workbook.reading_rules import reading_finding
from isap.workbook.safety import FileRefused, Inspection, SheetScan, SpecialCell, wb001
from isap.workbook.template import (
    COVER,
    FORMAT_EXAMPLES,
    IGNORED_SHEETS,
    SHEETS,
    SHEETS_BY_NAME,
    SUPPORTED_VERSIONS,
    UPPERCASED_FORMATS,
    Column,
    Format,
    Need,
    SheetKind,
    SheetSpec,
    ValueType,
    column_letter,
    normalise_name,
)
from isap.workbook.values import (
    NUMBER_LIMIT,
    Bad,
    clip,
    converter_for,
    describe,
    excel_date,
    is_empty,
    money,
    quote,
    template_version_text,
    type_column,
)

PARTNER_CODE = "partner_code"  # its format depends on the partner's type (see schemas)
_TEMPLATE_BY_NORM = {normalise_name(s.name): s for s in SHEETS}
_IGNORED_NORM = {normalise_name(n) for n in IGNORED_SHEETS}
_KINDS = {"chartsheet": "a chart sheet", "dialogsheet": "a dialog sheet"}
# how a sheet that is not shown is named where it matters which of two sheets is read
_STATE_WORDS = {"hidden": "hidden", "veryHidden": "very hidden (Excel's menus cannot show it)"}


def _finding(rule_id: str, sheet: str | None, row: int | None, column: str | None, cell: str | None,
             message: str) -> Finding:
    return reading_finding(rule_id, sheet, row, column, cell, message)


class _Rows:
    """Positions among a sheet's `n` rows, one byte a row.  A column whose every cell is wrong marks
    every row: as a set of Python numbers that was some 7 MB a column of 87,000 rows, and a sheet's
    columns held theirs together while it was typed and validated; as bytes it is 87 kB."""

    __slots__ = ("_marks",)

    def __init__(self, n: int, rows: Iterable[int] = ()):
        self._marks = bytearray(n)
        self.update(rows)

    def add(self, i: int) -> None:
        self._marks[i] = 1

    def update(self, rows: Iterable[int]) -> None:
        if isinstance(rows, _Rows) and len(rows._marks) == len(self._marks):
            # (each byte 0 or 1: their union is the bytes' or, done on two numbers of n bytes each)
            n = len(self._marks)
            self._marks[:] = (int.from_bytes(self._marks, "little") | int.from_bytes(rows._marks, "little")
                              ).to_bytes(n, "little")
            return
        marks = self._marks
        for i in rows:
            marks[i] = 1

    def __contains__(self, i: object) -> bool:
        return i.__class__ is int and 0 <= i < len(self._marks) and self._marks[i] != 0

    def __iter__(self) -> Iterator[int]:
        return compress(range(len(self._marks)), self._marks)

    def __len__(self) -> int:
        return len(self._marks) - self._marks.count(0)


class _Sifted(NamedTuple):
    """What `_Builder._sift` took out of a typed column: the rows whose value the template cannot take,
    and per rule how many rows and the findings worded for them (as many as can be listed)."""

    rows: _Rows
    findings: tuple


_NOTHING_SIFTED = _Sifted(_Rows(0), ())


class _Builder:
    def __init__(self, inspection: Inspection, checkpoint_override: int | None, limit: int | None):
        self.inspection = inspection
        self.override = checkpoint_override
        # every finding of the parse goes through here: at most `limit` of one rule on one sheet are
        # built, the rest only counted
        self.findings = FindingCollector(limit)
        self.checkpoint: int | None = checkpoint_override

    def add(self, *args) -> None:
        self.findings.add(_finding(*args))

    def add_column(self, rule_id: str, sheet: str, rows, build) -> None:
        """Findings of one rule in one column, rows ascending; `build(i)` words the i-th."""
        self.findings.add_column(rule_id, sheet, rows, build)

    # ---------------------------------------------------------------- sheets
    def match_sheets(self) -> tuple[dict[str, SheetScan], dict[str, int]]:
        matched = matched_sheets(self.inspection.sheets)
        unknown: dict[str, int] = {}
        for order, scan in enumerate(self.inspection.sheets):
            norm = normalise_name(scan.name)
            # a sheet name is workbook text: findings carry it cut as messages quote it, and the order
            # of unknown sheets is kept under that same name so their findings sort in workbook order
            shown = clip(scan.name)
            spec = _TEMPLATE_BY_NORM.get(norm)
            if not scan.is_worksheet:
                # only worksheets are sheets of the workbook, whatever the name of anything else
                if spec is None and norm not in _IGNORED_NORM:
                    unknown.setdefault(shown, order)
                kind = _KINDS.get(scan.kind)
                self.add("WB006", shown, None, None, None,
                         f"Sheet {quote(scan.name)} is {kind}, not a worksheet, and is ignored." if kind
                         else f"Sheet {quote(scan.name)} is not a worksheet and is ignored.")
                continue
            if norm in _IGNORED_NORM or (spec is not None and matched[spec.name] is scan):
                continue
            unknown.setdefault(shown, order)
            if spec is not None:
                read = matched[spec.name]
                hidden = f", {_STATE_WORDS[read.state]}," if read.state in _STATE_WORDS else ""
                self.add("WB006", shown, None, None, None,
                         f"Sheet {quote(scan.name)} repeats the {spec.name} sheet; only the first one, "
                         f"{quote(read.name)}{hidden} is read.")
            else:
                self.add("WB006", shown, None, None, None,
                         f"Sheet {quote(scan.name)} is not part of template ISAP-WB 1.0 and is ignored.")
        for spec in SHEETS:
            if spec.name not in matched:
                self.add("WB004", spec.name, None, None, None,
                         f"The required sheet {spec.name!r} is missing.")
        return matched, unknown

    # ------------------------------------------------------------ key/value
    def key_value(self, spec: SheetSpec, rows: list[list] | None, special: dict) -> KeyValueSheet:
        if rows is None:
            return KeyValueSheet(spec, False, MappingProxyType({}), MappingProxyType({}))
        by_norm = {normalise_name(c.name): c for c in spec.columns}
        raw: dict[str, object] = {}
        where: dict[str, int] = {}
        failed: set[str] = set()
        for r0 in range(1, len(rows)):
            row = rows[r0]
            key = row[0] if row else ""
            if is_empty(key):
                continue
            excel_row = r0 + 1
            col = by_norm.get(normalise_name(key))
            if col is None:
                label = str(key).strip()
                self.add("WB006", spec.name, excel_row, clip(label), f"B{excel_row}",
                         f"Field {quote(label)} is not part of the {spec.name} sheet and is ignored.")
                continue
            if col.name in where:
                self.add("WB005", spec.name, excel_row, col.name, f"B{excel_row}",
                         f"Field {col.name} is given twice (first on row {where[col.name]}); the first value is used.")
                continue
            where[col.name] = excel_row
            sp = special.get((r0, 1))
            if sp is not None:
                self._special(sp, spec.name, excel_row, col.name, f"B{excel_row}")
                failed.add(col.name)
                continue
            raw[col.name] = row[1] if len(row) > 1 else ""

        values: dict[str, object] = {}
        for name, v in raw.items():
            col = spec.column(name)
            typed = template_version_text(v) if name == "template_version" and not is_empty(v) else \
                converter_for(col)(v)
            if isinstance(typed, Bad):
                self.add(typed.rule_id, spec.name, where[name], name, f"B{where[name]}",
                         typing_message(col, spec.name, f"B{where[name]}", typed))
                failed.add(name)
                continue
            if isinstance(typed, str) and col.format in UPPERCASED_FORMATS:
                typed = typed.upper()
            values[name] = typed

        if spec is COVER:
            cp = values.get("checkpoint")
            if self.override is None:
                self.checkpoint = cp if isinstance(cp, int) and 1 <= cp <= 3 else None

        # required fields that are absent
        for col in spec.columns:
            if col.name in where or not self._field_required(col, values):
                continue
            self.add("WB005", spec.name, None, col.name, None,
                     f"The required field {col.name} is missing from the {spec.name} sheet"
                     f"{self._need_suffix(col)}.")
            failed.add(col.name)

        present = {k: values.get(k) for k in where if k not in failed}
        bad = self._schema(spec, {k: [v] for k, v in present.items()}, [0],
                           lambda name, pos: where[name], lambda name, pos: f"B{where[name]}")
        failed |= {name for name, _ in bad}
        final = {k: (FAILED if k in failed else values.get(k)) for k in where}
        for k in failed:
            final[k] = FAILED
        if spec is COVER and "template_version" not in failed:
            tv = final.get("template_version")
            if isinstance(tv, str) and tv not in SUPPORTED_VERSIONS:
                self.add("WB007", spec.name, where["template_version"], "template_version",
                         f"B{where['template_version']}",
                         f"Template version {quote(tv)} is not supported: use the ISAP-WB 1.0 template.")
        return KeyValueSheet(spec, True, MappingProxyType(final), MappingProxyType(where))

    def _field_required(self, col: Column, values: dict) -> bool:
        if col.need is Need.ALWAYS:
            return True
        if col.need is Need.CP2:
            return self.checkpoint is not None and self.checkpoint >= 2
        if col.need is Need.WHEN and col.when is not None:
            return _condition_holds(self._spec_of(col), col, values.get(col.when.column))
        return False

    @staticmethod
    def _spec_of(col: Column) -> SheetSpec | None:
        return next((s for s in SHEETS if any(c is col for c in s.columns)), None)

    def _need_suffix(self, col: Column) -> str:
        if col.need is Need.CP2:
            return f" (required from checkpoint 2; this submission is for checkpoint {self.checkpoint})"
        if col.need is Need.WHEN and col.when is not None:
            return f" ({col.when.text})"
        return ""

    # ---------------------------------------------------------------- tables
    def table(self, spec: SheetSpec, rows: "list[list] | SheetColumns | None", special: dict) -> Table:
        if rows is None:
            cols = {c.name: () for c in spec.columns}
            return Table(spec, False, MappingProxyType(cols), MappingProxyType({}), ())
        if isinstance(rows, SheetColumns):
            # read as Arrow columns, each typed there (see `SheetColumns`); the reader has made sure the
            # header holds only template columns, once each, so it adds no finding
            index = dict(rows.index)
            n = rows.height
            typed_cols: dict[str, list] = {}
            sifted: dict[str, _Sifted] = {}
            for name, ci in index.items():
                typed_cols[name], sifted[name] = self._sift(spec, name, ci, n, *rows.typed(ci, spec.column(name)),
                                                            special)
            rows.release()
        else:
            index, n, typed_cols, sifted = self._typed_rows(spec, rows, special)
        return self._table(spec, index, n, typed_cols, sifted, special)

    def _sift(self, spec: SheetSpec, name: str, ci: int, n: int, typed: list, maybe_bad: bool,
              special: dict) -> "tuple[list, _Sifted]":
        """`typed` with each value the template cannot take (`Bad`) taken out, as soon as the column is
        typed: a `Bad` words its value, so a sheet of a million wrong cells held as `Bad`s until every
        column was typed took hundreds of megabytes.  The findings that can still be listed are worded
        now and added later, in report order (`_table`); a cell the scan found an error value or an
        uncalculated formula in is left to `_table`, which reports that instead."""
        if not maybe_bad:
            return typed, _NOTHING_SIFTED
        at_special = {r0 - 1 for (r0, c) in special if c == ci and 1 <= r0 <= n}
        bad_at = [i for i, t in enumerate(typed) if t.__class__ is Bad and i not in at_special]
        if not bad_at:
            return typed, _NOTHING_SIFTED
        by_rule: dict[str, list[int]] = {}
        for i in bad_at:
            by_rule.setdefault(typed[i].rule_id, []).append(i)
        letter = column_letter(ci)
        limit = self.findings.limit
        worded = []
        for rule_id, at in by_rule.items():
            build = self._typing_finding(spec.name, name, letter, typed, at)
            # `add_column` words the first `limit` and one more, the example of those left unlisted, and
            # counts the rest: only their number is kept
            worded.append((rule_id, len(at), [build(k) for k in range(len(at) if limit is None else
                                                                      min(len(at), limit + 1))]))
        del by_rule
        for i in bad_at:
            typed[i] = None
        return typed, _Sifted(_Rows(n, bad_at), tuple(worded))

    def _typed_rows(self, spec: SheetSpec, rows: list[list], special: dict) -> \
            tuple[dict[str, int], int, dict[str, list], "dict[str, _Sifted]"]:
        """The header matched and every template column typed, from the rows python-calamine gives."""
        header = rows[0] if rows else []
        by_norm = {normalise_name(c.name): c for c in spec.columns}
        index: dict[str, int] = {}
        for ci, h in enumerate(header):
            if is_empty(h):
                continue
            col = by_norm.get(normalise_name(h))
            label = str(h).strip()
            if col is None:
                self.add("WB006", spec.name, 1, clip(label), f"{column_letter(ci)}1",
                         f"Column {quote(label)} is not part of the {spec.name} sheet and is ignored.")
            elif col.name in index:
                self.add("WB006", spec.name, 1, col.name, f"{column_letter(ci)}1",
                         f"Column {col.name} appears twice; only the first (column "
                         f"{column_letter(index[col.name])}) is read.")
            else:
                index[col.name] = ci
        n = len(rows) - 1 if rows else 0
        # column-wise, then the rows are let go: the typed columns keep only the values they use
        sheet_columns: list = list(zip(*rows[1:])) if n > 0 else []
        rows.clear()
        blank = ("",) * n
        typed_cols: dict[str, list] = {}
        sifted: dict[str, _Sifted] = {}
        for name, ci in index.items():
            raw = sheet_columns[ci] if ci < len(sheet_columns) else blank
            if ci < len(sheet_columns):
                sheet_columns[ci] = None
            typed_cols[name], sifted[name] = self._sift(spec, name, ci, n, *type_column(spec.column(name), raw),
                                                        special)
            del raw
        del sheet_columns
        return index, n, typed_cols, sifted

    def _table(self, spec: SheetSpec, index: dict[str, int], n: int, typed_cols: dict[str, list],
               sifted: "dict[str, _Sifted]", special: dict) -> Table:
        # cells calamine cannot show (errors, uncalculated formulas) come from the safety scan
        by_ci = {ci: name for name, ci in index.items()}
        failed_rows: dict[str, _Rows] = {name: _Rows(n) for name in index}
        forced: set[int] = set()
        for (r0, ci), sp in sorted(special.items()):
            name = by_ci.get(ci)
            if name is None or r0 < 1 or r0 > n:
                continue
            self._special(sp, spec.name, r0 + 1, name, f"{column_letter(ci)}{r0 + 1}")
            typed_cols[name][r0 - 1] = None
            failed_rows[name].add(r0 - 1)
            if sp.kind == "error":
                forced.add(r0 - 1)
        # a row is data when some template column holds a value (or a type error, or an error value)
        if typed_cols and any(t.count(None) == len(sifted[name].rows) for name, t in typed_cols.items()):
            data: "range | list[int]" = range(n)
        else:
            wrong = _Rows(n, forced)
            for name in typed_cols:
                wrong.update(sifted[name].rows)
            data = [i for i, vals in enumerate(zip(*typed_cols.values()))
                    if i in wrong or any(v is not None for v in vals)] if typed_cols else []
        contiguous = len(data) == n
        columns: dict[str, list] = {}
        failed: dict[str, _Rows] = {}
        position = None if contiguous else {row_i: pos for pos, row_i in enumerate(data)}
        for name, typed in typed_cols.items():
            for rule_id, count, worded in sifted[name].findings:
                self.add_column(rule_id, spec.name, range(count), worded.__getitem__)
            failed_rows[name].update(sifted[name].rows)
            sifted[name] = _NOTHING_SIFTED  # (its rows are the column's failed rows now)
            if spec.column(name).format in UPPERCASED_FORMATS:
                # codes repeat: each distinct one is upper-cased once
                upper = {t: t.upper() for t in set(typed) if t.__class__ is str}
                typed = list(map(upper.get, typed, typed))
            if contiguous:
                columns[name] = typed
                failed[name] = failed_rows[name]
            else:
                columns[name] = [typed[i] for i in data]
                failed[name] = _Rows(len(data), (position[i] for i in failed_rows[name] if i in position))
        excel_rows = tuple(range(2, n + 2)) if contiguous else tuple(i + 2 for i in data)
        typed_cols.clear()  # `columns` holds what is kept of them

        # missing columns
        for col in spec.columns:
            if col.name in index:
                continue
            if self._column_needed(col, columns):
                self.add("WB005", spec.name, None, col.name, None,
                         f"The required column {col.name} is missing from the {spec.name} sheet"
                         f"{self._column_need_suffix(col)}.")
                columns_fail = True
            else:
                columns_fail = False
            columns[col.name] = [FAILED if columns_fail else None] * len(data)

        letters = {n: column_letter(ci) for n, ci in index.items()}
        present = {n: columns[n] for n in index}
        bad = self._schema(spec, present, range(len(data)),
                           lambda name, pos: excel_rows[pos],
                           lambda name, pos: f"{letters[name]}{excel_rows[pos]}", skip=failed)
        repeated: set[int] = set()
        for name, positions in bad:
            failed.setdefault(name, _Rows(len(data))).update(positions)
        for _name, positions in self._repeats:
            repeated.update(positions)
        del present
        final: dict[str, tuple] = {}
        for name in list(columns):
            # one column at a time, each list let go once it is a tuple: a large sheet is held once, not twice
            vals = columns.pop(name)
            fp = failed.get(name)
            if fp:
                for i in fp:
                    vals[i] = FAILED
            final[name] = tuple(vals)
            del vals
        return Table(spec, True, MappingProxyType(final), MappingProxyType(letters), excel_rows,
                     frozenset(repeated))

    def _column_needed(self, col: Column, columns: dict[str, list]) -> bool:
        if col.need is Need.ALWAYS:
            return True
        if col.need is Need.CP2:
            return self.checkpoint is not None and self.checkpoint >= 2
        if col.when is None:
            return False
        if col.need is Need.OPTIONAL and col.rule_need_cp2 and not (self.checkpoint and self.checkpoint >= 2):
            return False
        cond = columns.get(col.when.column)
        spec = self._spec_of(col)
        return bool(cond) and any(_condition_holds(spec, col, v) for v in cond)

    def _column_need_suffix(self, col: Column) -> str:
        if col.when is not None and col.need is not Need.ALWAYS:
            return f": at least one row needs it ({col.when.text})"
        return ""

    @staticmethod
    def _typing_finding(sheet: str, name: str, letter: str, typed: list, at: list[int]):
        col = SHEETS_BY_NAME[sheet].column(name)

        def build(k: int) -> Finding:
            i = at[k]
            t = typed[i]
            cell = f"{letter}{i + 2}"
            return _finding(t.rule_id, sheet, i + 2, name, cell, typing_message(col, sheet, cell, t))

        return build

    # ---------------------------------------------------------------- schema
    _repeats: list[tuple[str, list[int]]]

    def _schema(self, spec: SheetSpec, present: dict[str, list], positions: Sequence[int], row_of, cell_of,
                skip: dict[str, _Rows] | None = None) -> list[tuple[str, list[int]]]:
        """Run the sheet's schema; add SCH findings; return, per column, the positions that failed."""
        self._repeats = []
        self._first_seen: dict[str, dict] = {}
        if not positions or not present:
            return []
        # (imported here rather than with this module: a file refused by the scan never needs it)
        from isap.workbook import schemas

        frame = schemas.frame_for(spec, present)
        failures = schemas.validate(spec, frame, self.checkpoint)
        failed: list[tuple[str, list[int]]] = []
        already = skip or {}
        for (rule_id, name), at in failures.items():
            if name not in present:
                continue
            done = already.get(name)
            if done:  # a cell that failed its typing has its finding already
                at = [i for i in at if i not in done]
            if not at:
                continue
            self.add_column(rule_id, spec.name, at, self._schema_finding(spec, rule_id, name, at, present,
                                                                         row_of, cell_of))
            if rule_id == "SCH006":
                self._repeats.append((name, at))
            else:
                failed.append((name, at))
        return failed

    def _schema_finding(self, spec: SheetSpec, rule_id: str, name: str, at: list[int], present, row_of,
                        cell_of):
        col = spec.column(name)

        def build(k: int) -> Finding:
            pos = at[k]
            cell = cell_of(name, pos)
            msg = self._schema_message(spec, col, rule_id, present[name][pos], present, pos, row_of, cell)
            return _finding(rule_id, spec.name, row_of(name, pos), name, cell, msg)

        return build

    def _schema_message(self, spec, col: Column, rule_id: str, value, present, pos, row_of, cell: str) -> str:
        """What to enter, where, and what is wrong now, in the words of the template's label
        (docs/workbook.md §3, "Schema findings say what to enter")."""
        name = col.name
        where = f"({spec.name}, {cell})"
        field = f"the {col.label}"
        if rule_id == "SCH001":
            reason = ""
            if col.need is Need.CP2:
                reason = (f": it is needed from checkpoint 2, and this workbook is for checkpoint "
                          f"{self.checkpoint}")
            elif col.need is Need.WHEN and col.when is not None:
                reason = f": it is needed because {_reason(spec, col, present, pos)}"
            return f"Enter {field} {where}{reason}."
        if rule_id == "SCH003":
            return choice_message(col, spec.name, cell, describe(value))
        if rule_id == "SCH004":
            shown = money(value) if col.type is ValueType.MONEY else describe(value)
            return f"Enter {field} as {_range_words(col)} {where}: {shown} is out of range."
        if rule_id == "SCH005":
            fmt = col.format
            if name == PARTNER_CODE and present.get("partner_type", [None] * (pos + 1))[pos] == "GP practice":
                fmt = Format.GP_PRACTICE
            return f"Enter {field} in the form {FORMAT_EXAMPLES[fmt]} {where}: {describe(value)} is not in that form."
        if rule_id == "SCH006":
            seen = self._first_seen.get(name)
            if seen is None:  # once per column, not once per repeat
                seen = self._first_seen[name] = {}
                for i, v in enumerate(present[name]):
                    seen.setdefault(v, i)
            first = seen[value]
            return (f"Give this row its own {col.label} {where}: {describe(value)} is already used on row "
                    f"{row_of(name, first)}.")
        return f"Enter a valid {col.label} {where}: {describe(value)} is not valid."

    def _special(self, sp: SpecialCell, sheet: str, row: int, column: str, cell: str) -> None:
        if sp.kind == "error":
            self.add("WB008", sheet, row, column, cell, f"The cell holds the Excel error value {sp.literal}.")
        else:
            self.add("WB009", sheet, row, column, cell,
                     "The cell holds a formula with no calculated value: open the workbook in Excel, "
                     "let it calculate and save it again, or type the value.")


# ------------------------------------------------------------------------------------ wording
# Every schema finding says what to enter, in the words of the field's label, then where (sheet and
# cell, as Excel names them), then what is there now: "Enter the contact e-mail address (Cover, B22)."

def typing_message(col: Column, sheet: str, cell: str, bad: Bad) -> str:
    """The message of a value its column's type cannot take (SCH002, SCH003; WB008 as the typer words it)."""
    if bad.rule_id == "SCH003":
        return choice_message(col, sheet, cell, bad.message)
    if not bad.instruction:
        return bad.message
    instruction = bad.instruction.format(field=f"the {col.label}", label=col.label)
    return f"{instruction} ({sheet}, {cell}): {bad.message}."


def choice_message(col: Column, sheet: str, cell: str, shown: str) -> str:
    return (f"Choose the {col.label} from the drop-down list ({sheet}, {cell}): {shown} is not one of "
            f"{', '.join(col.choices)}.")


def _range_words(col: Column) -> str:
    """`an amount of more than £0`, `a whole number from 1 to 3`, `a whole number of at least 0`."""
    amount = col.type is ValueType.MONEY

    def shown(x: float) -> str:
        return money(x) if amount else f"{x:g}"

    what = "an amount" if amount else "a whole number"
    lo, hi = col.minimum, col.maximum
    if lo is not None and hi is not None and not col.minimum_exclusive:
        return f"{what} from {shown(lo)} to {shown(hi)}"
    parts = []
    if lo is not None:
        parts.append(("more than " if col.minimum_exclusive else "at least ") + shown(lo))
    if hi is not None:
        parts.append("at most " + shown(hi))
    return f"{what} of {' and '.join(parts)}"


def _reason(spec: SheetSpec, col: Column, present: dict, pos: int) -> str:
    """Why a conditional value is needed on this row, from the value it depends on."""
    when = col.when
    depends = spec.column(when.column)
    value = present.get(when.column, [None] * (pos + 1))[pos]
    if isinstance(value, bool):
        value = "Yes" if value else "No"
    return f"the {depends.label} is {value}"


def matched_sheets(sheets: list[SheetScan]) -> dict[str, SheetScan]:
    """The worksheet read for each template sheet: the first, in workbook order, whose name is the
    template sheet's (in any case or spacing)."""
    matched: dict[str, SheetScan] = {}
    for scan in sheets:
        norm = normalise_name(scan.name)
        spec = _TEMPLATE_BY_NORM.get(norm)
        if scan.is_worksheet and norm not in _IGNORED_NORM and spec is not None and spec.name not in matched:
            matched[spec.name] = scan
    return matched


def _condition_holds(spec: SheetSpec | None, col: Column, value: object) -> bool:
    """Whether a conditional requirement applies: never when the value it depends on failed its own
    check (an invalid choice is SCH003 alone, with no cascade onto the columns it would require)."""
    when = col.when
    if when is None:
        return False
    if spec is not None and when.column in spec.column_names:
        dep = spec.column(when.column)
        if dep.choices and value not in dep.choices:
            return False
    return when.holds(value)


# ------------------------------------------------------------------------- native reading
# A table sheet is read by fastexcel (calamine, as the rows below, but into Arrow columns, with no Python
# object per cell) and its columns are typed with polars where the whole column is of one kind.  What
# the rules see is the same as typing python-calamine's rows (`_Builder._typed_rows`): a sheet whose
# cells this path cannot show exactly as python-calamine would is read as rows instead (`SheetReader`),
# and a column of mixed or doubtful values is typed by `type_column` from its values as python-calamine
# gives them.  docs/decisions/0030-native-typing.md; tests/test_native_typing.py holds the two equal.

# Serials before 1 March 1900 are read by python-calamine as times of day or around Excel's phantom
# 29 February 1900; fastexcel reads them otherwise, so such a sheet is read as rows.
_FIRST_PLAIN_DATE = dt.datetime(1900, 3, 1)


def _python_values(series) -> list:
    """A column's values as python-calamine gives them: an empty cell is "", a date at midnight a date."""
    import polars as pl

    dtype = series.dtype
    if dtype == pl.String:
        return series.fill_null("").to_list()
    if dtype == pl.Datetime:  # (the reader took the column only if every value is a date at midnight)
        if not _dates_python_holds(series):
            return _dates_and_serials(series)
        series = series.dt.date()
    values = series.to_list()
    return [("" if v is None else v) for v in values] if series.null_count() else values


def _dates_python_holds(series) -> bool:
    """Whether every date of a date column is one Python holds (years 1 to 9999): a serial of 2,958,466 or more
    in a date-formatted cell is the year 10000 to the column reader, and an isap defect when made a date."""
    years = series.dt.year()
    return years.null_count() == len(years) or (years.min() >= 1 and years.max() <= 9999)


def _dates_and_serials(series) -> list:
    """A date column's values as python-calamine gives them when some lie past Python's dates: each date a date,
    each of those the serial number it stands for (which the date column then refuses, as on the row path)."""
    import datetime as dt

    import polars as pl

    years = series.dt.year()
    held = (years >= 1) & (years <= 9999)
    dates = pl.select(pl.when(held).then(series).otherwise(None).dt.date()).to_series().to_list()
    serials = ((series - dt.datetime(1899, 12, 30)).dt.total_milliseconds() / 86_400_000).to_list()
    return ["" if serial is None else date if date is not None else serial for date, serial in zip(dates, serials)]


class SheetColumns:
    """A table sheet as fastexcel read it: the Excel column (0-based) of each template column, the
    number of rows under the header, and each column's values as an Arrow-backed polars Series."""

    __slots__ = ("index", "height", "_series")

    def __init__(self, index: dict[str, int], height: int, series: dict[int, object]):
        self.index = index
        self.height = height
        self._series = series

    def typed(self, ci: int, column: Column) -> tuple[list, bool]:
        """Column `ci` typed as `column`: what `type_column` makes of python-calamine's values, and whether
        any may be `Bad`.  Whole columns of numbers, booleans or dates are typed by polars."""
        import polars as pl

        # each column is typed once: its Arrow buffers go as soon as it is, not with the whole sheet
        series = self._series.pop(ci, None)
        if series is None or series.null_count() == len(series):
            return [None] * self.height, False
        dtype, t = series.dtype, column.type
        if dtype == pl.Float64 and t in (ValueType.MONEY, ValueType.INTEGER):
            # in range and never NaN (an empty cell is null, and typed None, as "" is)
            if not series.is_nan().any() and series.abs().max() < NUMBER_LIMIT:
                if t is ValueType.MONEY:
                    return series.to_list(), False
                if (series == series.floor()).all():
                    return series.cast(pl.Int64).to_list(), False
        elif dtype == pl.Boolean and t is ValueType.YESNO:
            return series.to_list(), False
        elif dtype == pl.Datetime and t is ValueType.DATE and _dates_python_holds(series):
            return series.dt.date().to_list(), False
        elif dtype == pl.String:
            # choices, yes/no and codes repeat a handful of values: each distinct one is typed once, and
            # each cell is its distinct value's number, found by polars (no Python text per cell)
            distinct = series.drop_nulls().unique(maintain_order=True)
            if len(distinct) * 4 < self.height:
                conv = converter_for(column)
                typed = [conv(v) for v in distinct.to_list()]
                typed.append(None)  # an empty cell, as "" is typed
                codes = series.cast(pl.Enum(distinct)).to_physical().cast(pl.UInt32).fill_null(len(distinct))
                return list(map(typed.__getitem__, codes.to_list())), any(x.__class__ is Bad for x in typed)
        return type_column(column, _python_values(series))

    def release(self) -> None:
        self._series = {}


def _load_sheet(book, name: str, spec: SheetSpec):
    """`name`'s cells as fastexcel loads them, header in row 1, each column's type taken from all its rows;
    of its columns only those whose header names a template column are made into Arrow columns."""
    template = {normalise_name(c.name) for c in spec.columns}
    return book.load_sheet(name, header_row=0, schema_sample_rows=None, dtype_coercion="strict",
                           use_columns=lambda info: normalise_name(info.name) in template)


def _sheet_columns(sheet, spec: SheetSpec, scan: SheetScan) -> SheetColumns | None:
    """The loaded `sheet`'s table as Arrow columns, or None where python-calamine's rows must be read instead:
    a header that is not row 1 or that holds anything but template columns, once each (those make
    findings the rows' header words); values fastexcel gives otherwise than python-calamine (integers,
    durations, times, serials before March 1900, dates with a time of day in a column of another type);
    or a column of several kinds of values (fastexcel's strict typing refuses it)."""
    import polars as pl

    if sheet.total_height != scan.max_row - 1:
        return None
    by_norm = {normalise_name(c.name): c for c in spec.columns}
    index: dict[str, int] = {}
    for info in sheet.available_columns():
        if info.column_name_from == "generated":  # an empty header cell: not read
            continue
        col = by_norm.get(normalise_name(info.name))
        if col is None or col.name in index:
            return None
        index[col.name] = info.absolute_index
    position = {info.absolute_index: i for i, info in enumerate(sheet.selected_columns)}
    if not index:
        return SheetColumns(index, sheet.height, {})
    frame = sheet.to_polars()
    series: dict[int, object] = {}
    for name, ci in index.items():
        s = frame.to_series(position[ci])
        if s.dtype == pl.Datetime:
            if s.null_count() < len(s) and s.min() < _FIRST_PLAIN_DATE:
                return None
            if spec.column(name).type is not ValueType.DATE and not (s.dt.time() == dt.time()).all():
                return None
        elif s.dtype not in (pl.String, pl.Float64, pl.Boolean, pl.Null):
            return None
        series[ci] = s
    return SheetColumns(index, sheet.height, series)


# A table sheet of this many cells or more is read as columns: below it, opening a second reader on the
# package and a polars operation per column cost more than typing the rows (a typical workbook's largest
# sheet has about a hundred cells; read as columns its check took 37 ms of processor time against 21 ms).
NATIVE_FROM_CELLS = 20_000

# A sheet of this many cells frees enough memory, once read or typed, to be worth handing back (see
# `give_back_memory`); a typical workbook's sheets are far smaller.
_LARGE_SHEET_CELLS = 200_000
# the columns of a field sheet that are read: the field's name and its value
_FIELD_COLUMNS = 2
_malloc_trim: list = []


def give_back_memory() -> None:
    """Hand the C heap's free pages back to the system (glibc's `malloc_trim`).  Reading a large sheet
    frees a hundred megabytes or so in small pieces across the reading threads' heaps; without this they
    stay counted against the check's memory limit while the next sheet is read."""
    if not _malloc_trim:
        import ctypes
        import ctypes.util

        try:
            _malloc_trim.append(ctypes.CDLL(ctypes.util.find_library("c") or None).malloc_trim)
        except (OSError, AttributeError):  # not glibc: nothing to do
            _malloc_trim.append(None)
    if _malloc_trim[0] is not None:
        _malloc_trim[0](0)


# A workbook with more cells than this is read on two threads (see SheetReader).
_TWO_READERS_FROM_CELLS = 100_000
# ... unless its two largest sheets together hold this many: reading a large sheet holds its cells twice
# over (calamine's and the columns made of them), and a second lane holds a second copy of the shared
# strings, so the largest workbook the limits allow (two sheets of 100,000 rows) read on two lanes went
# past 300 MB (300-318 MB), and read on one lane stays under it (278-284 MB).  The stress workbook's two
# largest hold 760,000 cells and keep both lanes (docs/performance.md).
_ONE_LANE_FROM_CELLS = 1_000_000
# ... or its shared strings part is this large: each lane's workbook holds a copy of it (a 1,000,000-entry part
# no cell named, read on two lanes, took 408-432 MB)
_ONE_LANE_FROM_SHARED_BYTES = 8 << 20


class SheetReader:
    """Reads the wanted worksheets with calamine on background threads.

    calamine releases the interpreter lock while it parses a sheet, so while it reads some sheets
    the caller scans, types and validates others.  While the safety scan runs, each sheet it has
    measured can be read ahead (`ahead`, which `inspect` calls as its `on_ready`), one at a time:
    the scan keeps one core busy and a read the other, so the first large sheet is read while the
    scan looks at the next ones.  Once the scan is over (`start`), a large workbook is read on two
    threads, each with a workbook of its own (one workbook cannot read two sheets at once), the
    sheets shared between them by size: on a second core, the largest sheet is read while the
    others are, instead of before them.  Nothing reaches calamine before the scan has passed it,
    so nothing can exhaust memory.
    """

    def __init__(self, native_from_cells: int | None = NATIVE_FROM_CELLS):
        # table sheets of at least this many cells are read as Arrow columns where they can be
        # (`SheetColumns`); None reads every sheet as python-calamine's rows (what the tests hold the
        # native path to)
        self._native_from = native_from_cells
        self._data: bytes | None = None
        self._date1904 = False
        self._books: list = [None, None]
        self._fast_books: list = [None, None]  # fastexcel's, for table sheets
        self._results: dict[str, object] = {}  # each sheet's rows or columns, until the parser takes them
        self._pools: list[ThreadPoolExecutor | None] = [None, None]
        self._queued = [0, 0]
        self._futures: dict[str, Future] = {}
        self._lanes: dict[str, int] = {}
        self._parts: dict[str, str] = {}  # sheet name → its part, to name it when it cannot be read
        self._reading_ahead: Future | None = None
        self._wanted: set[int] | None = None
        self._large_lane: int | None = None  # the lane that read a large sheet ahead, if one did
        # Whether every sheet is read on one lane (see _ONE_LANE_FROM_CELLS), which `parse` decides.
        self.one_lane = False
        self._all_started = False

    def ahead(self, data: bytes, date1904: bool, scan: SheetScan, sheets: list[SheetScan]) -> None:
        """During the scan: read `scan`'s sheet now, if the parser will read it (of `sheets`, the
        workbook's, see `matched_sheets`) and no other sheet is being read ahead; if one is, it
        waits for `start`, after the scan."""
        if self._wanted is None:
            self._wanted = {id(s) for s in matched_sheets(sheets).values()}
        if id(scan) not in self._wanted:
            return
        if self._reading_ahead is None or self._reading_ahead.done():
            idle = [lane for lane, pool in enumerate(self._pools) if not any(
                not f.done() for n, f in self._futures.items() if self._lanes.get(n) == lane)]
            self._reading_ahead = self._submit(data, date1904, scan, idle[0] if idle else 0)

    def start(self, data: bytes, date1904: bool, scan: SheetScan) -> None:
        """Read `scan`'s sheet from the package `data` (once; a sheet already started is left be)."""
        if scan.name in self._futures:
            return
        size = scan.max_row * scan.max_col
        if self.one_lane:
            lane = self._large_lane if self._large_lane is not None else 0
        elif sum(self._queued) + size <= _TWO_READERS_FROM_CELLS:
            lane = 0
        else:
            lane = self._queued.index(min(self._queued))
        self._submit(data, date1904, scan, lane)

    def _submit(self, data: bytes, date1904: bool, scan: SheetScan, lane: int) -> Future:
        self._data, self._date1904 = data, date1904
        self._queued[lane] += scan.max_row * scan.max_col
        if scan.max_row * scan.max_col >= _LARGE_SHEET_CELLS:
            self._large_lane = lane
        self._lanes[scan.name] = lane
        self._parts[scan.name] = scan.part
        if self._pools[lane] is None:
            self._pools[lane] = ThreadPoolExecutor(max_workers=1, thread_name_prefix="isap-read")
        future = self._futures[scan.name] = self._pools[lane].submit(self._read, lane, scan)
        return future

    def _read(self, lane: int, scan: SheetScan) -> None:
        self._results[scan.name] = self._read_sheet(lane, scan)
        if self._all_started and self._lane_done(lane, but=scan.name):
            self._books[lane] = self._fast_books[lane] = None  # (see `_let_go_of_idle_books`)
            give_back_memory()
        elif scan.max_row * scan.max_col >= _LARGE_SHEET_CELLS:
            give_back_memory()

    def _lane_done(self, lane: int, but: str | None = None) -> bool:
        return all(f.done() for n, f in list(self._futures.items()) if self._lanes.get(n) == lane and n != but)

    def _read_sheet(self, lane: int, scan: SheetScan) -> "list[list] | SheetColumns":
        if scan.max_row == 0:
            return []
        spec = _TEMPLATE_BY_NORM.get(normalise_name(scan.name))
        if (self._native_from is not None and scan.max_row * scan.max_col >= self._native_from
                and spec is not None and spec.kind is SheetKind.TABLE and not scan.inherited_dates):
            try:
                columns = self._read_columns(lane, scan, spec)
            except Exception:  # noqa: BLE001 - whatever fastexcel cannot read, python-calamine reads or refuses
                columns = None
            except BaseException as exc:  # a Rust panic reaches Python as pyo3's PanicException
                if type(exc).__name__ != "PanicException":
                    raise
                columns = None
            if columns is not None:
                return columns
        if self._books[lane] is None:  # opened on its reading thread, used only there
            self._fast_books[lane] = None  # (one open workbook a lane: see `_read_columns`)
            self._books[lane] = CalamineWorkbook.from_filelike(io.BytesIO(self._data))
        sheet = self._books[lane].get_sheet_by_name(scan.read_name or scan.name)
        if spec is not None and spec.kind is SheetKind.KEY_VALUE:
            # A field sheet is read in its first two columns only, the field's name and its value: held whole, the
            # rest of a sheet within the limits (text in 1.4 million cells beside them) took the check past 300 MB,
            # and nothing reads it.  (Rows are given from the first; columns from the sheet's first used one.)
            skip = min((sheet.start or (0, 0))[1], _FIELD_COLUMNS)
            rows = [[""] * skip + row[:_FIELD_COLUMNS - skip] for row in sheet.iter_rows()]
        else:
            rows = sheet.to_python(skip_empty_area=False)
        # a number without a style of its own under its row's or column's date format is a date;
        # calamine only looks at the cell's own style
        for r0, c0 in scan.inherited_dates:
            if r0 < len(rows) and c0 < len(rows[r0]) and rows[r0][c0].__class__ is float:
                rows[r0][c0] = excel_date(rows[r0][c0], self._date1904)
        return rows

    def _read_columns(self, lane: int, scan: SheetScan, spec: SheetSpec) -> SheetColumns | None:
        if self._fast_books[lane] is None:
            import fastexcel

            # An open workbook holds all the package's shared strings, so a lane keeps one open at a time:
            # the cost is opening it again if a later sheet needs the other reader.
            if self._books[lane] is not None:
                self._books[lane] = None
                give_back_memory()

            # (its notes, such as a column of empty cells read as text, are not the commissioner's business)
            logging.getLogger("fastexcel").setLevel(logging.ERROR)
            self._fast_books[lane] = fastexcel.read_excel(self._data)
        sheet = _load_sheet(self._fast_books[lane], scan.read_name or scan.name, spec)
        if scan.max_row * scan.max_col >= _LARGE_SHEET_CELLS:
            # The loaded sheet holds its cells itself: the open workbook, and every shared string in it, is
            # let go before the cells are made into columns, so the three are never held together (a
            # million distinct entries are some 80 MB open, the cells of a large sheet over 100 MB).  A
            # later sheet of the lane opens it again; the lane reads its large sheets last (`parse`).
            self._fast_books[lane] = None
            give_back_memory()
        return _sheet_columns(sheet, spec, scan)

    def all_started(self) -> None:
        """Every sheet the parser wants has been started: a lane with nothing left to read can let its
        workbooks go once its last sheet is handed over."""
        self._all_started = True

    def _let_go_of_idle_books(self) -> None:
        # A workbook open in calamine or fastexcel holds every shared string of the package (a million
        # distinct entries are a hundred megabytes or so) for as long as it is open; once its lane has read
        # all it will read, the typing of the sheets no longer needs them.
        released = False
        for lane in (0, 1):
            if (self._books[lane] is not None or self._fast_books[lane] is not None) and self._lane_done(lane):
                self._books[lane] = self._fast_books[lane] = None
                released = True
        if released:
            give_back_memory()

    def future(self, name: str) -> Future:
        return self._futures[name]

    def rows(self, name: str) -> "list[list] | SheetColumns":
        """The sheet as read, handed over once: the reader keeps no hold on it."""
        try:
            self._futures[name].result()
            rows = self._results.pop(name)
            if self._all_started:
                self._let_go_of_idle_books()
            return rows
        except (CalamineError, ValueError, OSError, KeyError) as exc:
            raise self._unreadable(name, exc) from None
        except BaseException as exc:  # a Rust panic reaches Python as pyo3's PanicException
            if type(exc).__name__ != "PanicException":
                raise
            raise self._unreadable(name, exc) from None

    def _unreadable(self, name: str, exc: BaseException) -> FileRefused:
        part = self._parts.get(name)
        return wb001(f"The workbook is corrupt: its sheet {clip(name)!r}{f' (part {part})' if part else ''} "
                     f"cannot be read ({type(exc).__name__}).")

    def close(self) -> None:
        for pool in self._pools:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)


def parse(inspection: Inspection, checkpoint_override: int | None = None,
          max_findings_per_rule: int | None = None, reader: SheetReader | None = None) -> ParsedWorkbook:
    """The typed model and the reader's findings.  With `max_findings_per_rule`, at most that many
    findings of one rule on one sheet are built (the first in report order); the others are counted in
    an `Unlisted` finding, which `cap_findings` turns into the report's "N more" note.  `reader` is one
    the scan may already have started sheets on (see `inspect`'s `on_ready`); it is closed here."""
    b = _Builder(inspection, checkpoint_override, max_findings_per_rule)
    # WB010, found by the safety scan in package order, is reported with the reader's other findings
    for finding in inspection.outside_content:
        b.findings.add(finding)
    matched, unknown = b.match_sheets()
    reader = reader or SheetReader()
    reader.one_lane = (sum(sorted((s.max_row * s.max_col for s in matched.values()), reverse=True)[:2])
                       >= _ONE_LANE_FROM_CELLS or inspection.shared_strings_bytes >= _ONE_LANE_FROM_SHARED_BYTES)
    built: dict[str, object] = {}
    try:
        data = inspection.reading_data or inspection.data
        starting = [matched[spec.name] for spec in SHEETS if spec.name in matched]
        if reader.one_lane:
            # smallest first: the small sheets' reader, holding every shared string, is let go before the
            # large sheets are read, instead of being opened again while their columns are held
            starting.sort(key=lambda scan: scan.max_row * scan.max_col)
        for scan in starting:
            reader.start(data, inspection.date1904, scan)
        reader.all_started()
        if reader.one_lane:
            # A workbook this large is read on one lane, and typed only once all of it has been read, the
            # Cover included: the lane lets go of its open workbook, and every shared string it holds,
            # before the typing starts (read while typing, the distinct texts of the largest workbook the
            # limits allow were held twice, past 300 MB; the Cover's query run beside the large sheet's
            # read cost 45-50 MB more, docs/performance.md).
            wait([reader.future(scan.name) for scan in starting])
        # Cover first: its checkpoint decides what is required.  The other sheets depend on nothing
        # but the checkpoint, so each is built as soon as it has been read, in whatever order the
        # reads end; what a sheet adds to the report does not depend on when it was built.
        built[COVER.name] = _build(b, COVER, matched, reader)
        faults: dict[str, Exception] = {}
        waiting = {}
        for spec in SHEETS[1:]:
            if spec.name in matched:
                waiting[reader.future(matched[spec.name].name)] = spec
            else:
                built[spec.name] = _build(b, spec, matched, reader)
        while waiting:
            done, _ = wait(waiting, return_when=FIRST_COMPLETED)
            ready = {waiting[f].name for f in done}
            for spec in [s for s in SHEETS if s.name in ready]:
                try:
                    built[spec.name] = _build(b, spec, matched, reader)
                except Exception as fault:  # noqa: BLE001 - raised below, in template order
                    faults[spec.name] = fault
            for f in done:
                del waiting[f]
        # as if built in template order: the first sheet that failed decides
        for spec in SHEETS:
            if spec.name in faults:
                raise faults[spec.name]
    finally:
        reader.close()
    cover = built["Cover"]
    tv = cover["template_version"]
    return ParsedWorkbook(
        cover=cover,
        services=built["Services"],
        finance=built["Finance"],
        safeguards=built["Safeguards"],
        transparency=built["Transparency"],
        partners=built["Partners"],
        engagement=built["Engagement"],
        checkpoint=b.checkpoint,
        template_version=tv if isinstance(tv, str) else None,
        structural_findings=tuple(b.findings.findings()),
        unknown_sheets=MappingProxyType(unknown),
    )


def _build(b: _Builder, spec: SheetSpec, matched: dict[str, SheetScan], reader: SheetReader):
    scan = matched.get(spec.name)
    rows, special = (reader.rows(scan.name), scan.special) if scan else (None, {})
    if spec.kind is SheetKind.KEY_VALUE:
        return b.key_value(spec, rows, special)
    table = b.table(spec, rows, special)
    del rows
    if scan is not None and scan.max_row * scan.max_col >= _LARGE_SHEET_CELLS:
        give_back_memory()  # what typing it used and let go
    return table


__all__ = ["SheetReader", "parse"]

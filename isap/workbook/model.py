"""The typed, immutable workbook model that every assurance rule reads.

A workbook is parsed once into this model; rules never see openpyxl or
calamine.  Each value is already typed (int, float pounds, date, bool, text,
canonical choice) and remembers where it came from: the sheet, the Excel row,
the template column and the A1 cell, so a finding can point at it.

Values are stored column-wise (one tuple per column) rather than as one
object per cell: a stress workbook holds close to a million cells and the
check must stay within a few times the raw read.

A value that failed its own check (WB008/WB009, SCH001–SCH006 except a
repeat) is `FAILED`; an empty value is `None`.  Rules skip `FAILED` inputs,
which is how "no cascade" is kept: one bad input gives one finding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Iterator, Mapping

from isap.workbook.findings import Finding, Rule
from isap.workbook.template import (
    COVER,
    ENGAGEMENT,
    FINANCE,
    PARTNERS,
    SAFEGUARDS,
    SERVICES,
    STATUTORY_PROVIDER_TYPES,
    TRANSPARENCY,
    SheetSpec,
)


class _Failed:
    """The value of an input that failed its own check."""

    _instance: "_Failed | None" = None

    def __new__(cls) -> "_Failed":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "FAILED"

    def __bool__(self) -> bool:
        return False


FAILED = _Failed()


@dataclass(frozen=True)
class Provenance:
    sheet: str
    row: int | None
    column: str | None
    cell: str | None


@dataclass(frozen=True, eq=False)
class KeyValueSheet:
    """`Cover` or `Safeguards`: one value per field, each at its B cell."""

    spec: SheetSpec
    present: bool
    values: Mapping[str, object]
    rows: Mapping[str, int]  # field → Excel row of the field (first occurrence)

    def __getitem__(self, name: str) -> object:
        return self.values.get(name, None if self.present else FAILED)

    def cell(self, name: str) -> str | None:
        row = self.rows.get(name)
        return f"B{row}" if row is not None else None

    def row(self, name: str) -> int | None:
        return self.rows.get(name)

    def where(self, name: str) -> Provenance:
        return Provenance(self.spec.name, self.row(name), name, self.cell(name))

    def finding(self, rule: Rule, *, field: str, message: str) -> Finding:
        """`rule`'s finding at `field`'s B cell (row and cell empty when the field is absent)."""
        return rule.finding(sheet=self.spec.name, row=self.row(field), column=field, cell=self.cell(field),
                            message=message)


@dataclass(frozen=True, eq=False)
class Table:
    """A tabular sheet, stored column-wise, with each row's Excel row number."""

    spec: SheetSpec
    present: bool
    columns: Mapping[str, tuple]
    letters: Mapping[str, str]  # template column → Excel column letter (present columns only)
    excel_rows: tuple[int, ...]
    repeated: frozenset[int] = field(default_factory=frozenset)  # row positions repeated under SCH006

    @property
    def name(self) -> str:
        return self.spec.name

    def __len__(self) -> int:
        return len(self.excel_rows)

    def column(self, name: str) -> tuple:
        return self.columns[name]

    def cell(self, name: str, position: int) -> str | None:
        letter = self.letters.get(name)
        return f"{letter}{self.excel_rows[position]}" if letter else None

    def rows(self) -> Iterator["Row"]:
        for i in range(len(self.excel_rows)):
            yield Row(self, i)

    def where(self, column: str, *values: object) -> Iterator["Row"]:
        """Rows whose `column` holds one of `values` (a column-wise scan; rows are built only for matches)."""
        col = self.columns[column]
        if len(values) == 1:
            v0 = values[0]
            hits = [i for i, v in enumerate(col) if v == v0 and v is not FAILED]
        else:
            wanted = set(values)
            hits = [i for i, v in enumerate(col) if v is not FAILED and v in wanted]
        for i in hits:
            yield Row(self, i)

    def row(self, position: int) -> "Row":
        return Row(self, position)

    def finding(self, rule: Rule, *, message: str) -> Finding:
        """`rule`'s finding about the sheet as a whole (a row that is missing, not one that is wrong)."""
        return rule.finding(sheet=self.name, message=message)


class Row:
    """A view of one table row; values are read from the table's columns."""

    __slots__ = ("table", "position")

    def __init__(self, table: Table, position: int):
        self.table = table
        self.position = position

    def __getitem__(self, name: str) -> object:
        return self.table.columns[name][self.position]

    @property
    def excel_row(self) -> int:
        return self.table.excel_rows[self.position]

    @property
    def repeated(self) -> bool:
        return self.position in self.table.repeated

    def cell(self, name: str) -> str | None:
        return self.table.cell(name, self.position)

    def where(self, name: str) -> Provenance:
        return Provenance(self.table.name, self.excel_row, name, self.cell(name))

    def finding(self, rule: Rule, *, column: str, message: str) -> Finding:
        """`rule`'s finding at this row's cell of `column`."""
        return rule.finding(sheet=self.table.name, row=self.excel_row, column=column, cell=self.cell(column),
                            message=message)


@dataclass(frozen=True, eq=False)
class ParsedWorkbook:
    """Everything the rules may read about one submitted workbook."""

    cover: KeyValueSheet
    services: Table
    finance: Table
    safeguards: KeyValueSheet
    transparency: Table
    partners: Table
    engagement: Table
    checkpoint: int | None  # the effective checkpoint (override, else a valid Cover value)
    template_version: str | None
    structural_findings: tuple[Finding, ...] = ()  # WB004–WB010 and SCH001–SCH006
    unknown_sheets: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def provider_statutory(self) -> bool | None:
        """True/False for a valid provider_type; None when unknown (missing or failed)."""
        t = self.cover["provider_type"]
        if not isinstance(t, str):
            return None
        return t in STATUTORY_PROVIDER_TYPES

    def sheet(self, name: str) -> Table | KeyValueSheet:
        return {
            COVER.name: self.cover,
            SERVICES.name: self.services,
            FINANCE.name: self.finance,
            SAFEGUARDS.name: self.safeguards,
            TRANSPARENCY.name: self.transparency,
            PARTNERS.name: self.partners,
            ENGAGEMENT.name: self.engagement,
        }[name]

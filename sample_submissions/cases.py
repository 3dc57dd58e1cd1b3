"""Rule cases as data: one YAML file per rule in `rule_cases/`, read here.

Each case starts from a named clean proposal (`proposals.BASES`), edits it by
sheet, column and row key (never by A1 reference), and lists the findings the
checker must report, each pointing at a column and a row key.  This module
turns a case into a workbook (with `proposals.write`) and its expected findings
into the exact (rule, sheet, row, column, cell) the report must hold, counting
rows and columns the way `write` lays them out.  So inserting a column in the
template, or a row in a base proposal, moves every expected cell with it.

The first failing case of every file is also that rule's user-facing sample
workbook (see `generate.samples()`), so a rule's failing example is written
once.  The format is described in `docs/rules-howto.md`.
"""

from __future__ import annotations

import copy
import io
import zipfile
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from isap.workbook.template import SHEETS_BY_NAME, SheetKind

CASES_DIR = Path(__file__).resolve().parent / "rule_cases"

# One prefix order for files and samples: the catalogue's domains in template order.
DOMAIN_PREFIXES = ("WB", "SCH", "CAP", "TRN", "SCP", "REL", "GOV")

CASE_KEYS = {"description", "base", "edits", "layout", "package", "checkpoint", "policy", "expect", "xfail"}
EDIT_KEYS = {"sheet", "where", "set", "drop", "add", "like", "reverse"}
EXPECT_KEYS = {"rule", "sheet", "column", "where", "field", "occurrence", "header"}
LAYOUT_KEYS = {"drop_sheets", "drop_columns", "rename_sheets", "headers", "extra_sheets", "extra_columns",
               "kv_extra_rows", "instructions"}


class CaseError(ValueError):
    """A case file that cannot mean what it says (unknown sheet, a row key matching nothing, …)."""


Expected = tuple[str, "str | None", "int | None", "str | None", "str | None"]  # rule, sheet, row, column, cell


def column_letter(index: int) -> str:
    """0 → A, 25 → Z, 26 → AA."""
    letters = ""
    n = index + 1
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


@dataclass
class Case:
    rule: str
    name: str
    path: Path
    description: str = ""
    base: str = ""
    edits: list[dict] = field(default_factory=list)
    layout: dict = field(default_factory=dict)
    package: dict = field(default_factory=dict)
    checkpoint: int | None = None
    policy: dict = field(default_factory=dict)
    expect: list[dict] = field(default_factory=list)
    # A case the checker does not meet yet: the reason, naming the spec it departs from.  The runner
    # marks it xfail(strict=True), so fixing the checker turns it into a failure until this is removed.
    xfail: str | None = None

    @property
    def id(self) -> str:
        return f"{self.rule}-{self.name}"

    @property
    def failing(self) -> bool:
        return self.name.startswith("fail_")

    @property
    def sample_name(self) -> str:
        """The sample workbook this case is published as (if it is its file's first failing case)."""
        return f"{self.rule.lower()}_{self.name.removeprefix('fail_')}"

    # ------------------------------------------------------------------ building

    def base_proposal(self) -> dict:
        from sample_submissions.proposals import BASES

        return BASES[self.base]()

    def proposal(self) -> dict:
        p = copy.deepcopy(self.base_proposal())
        for edit in self.edits:
            _apply(p, edit, self)
        return p

    def layout_object(self):
        from sample_submissions.proposals import Layout

        if not self.layout:
            return None
        lay = self.layout
        return Layout(
            drop_sheets=tuple(lay.get("drop_sheets", ())),
            drop_columns={k: tuple(v) for k, v in lay.get("drop_columns", {}).items()},
            rename_sheets=dict(lay.get("rename_sheets", {})),
            headers={k: dict(v) for k, v in lay.get("headers", {}).items()},
            extra_sheets={k: [list(r) for r in v] for k, v in lay.get("extra_sheets", {}).items()},
            extra_columns={k: {h: list(vals) for h, vals in v.items()}
                           for k, v in lay.get("extra_columns", {}).items()},
            kv_extra_rows={k: [tuple(r) for r in v] for k, v in lay.get("kv_extra_rows", {}).items()},
            instructions=lay.get("instructions", True),
        )

    def policy_object(self):
        from isap.policy import Policy

        return Policy(**self.policy)

    def write(self, path: str | Path) -> Path:
        """The case's workbook: the edited base written by `proposals.write`, then any package edits."""
        from sample_submissions.proposals import write

        path = write(self.proposal(), path, self.layout_object())
        if self.package:
            _edit_package(Path(path), self.package)
        return Path(path)

    # ------------------------------------------------------------------ expectations

    def expected(self) -> list[Expected]:
        """The findings the report must hold, in the report's order, cells resolved through the layout."""
        p = self.proposal()
        return [_resolve(p, self.layout, e, self) for e in self.expect]

    def expected_rule_sheet_cell(self) -> list[tuple[str, str | None, str | None]]:
        return [(r, s, c) for r, s, _, _, c in self.expected()]


# ---------------------------------------------------------------------- loading


def load_file(path: Path) -> list[Case]:
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or "rule" not in data:
        raise CaseError(f"{path.name}: a case file starts with `rule: <ID>`")
    rule = data.pop("rule")
    if path.stem != rule:
        raise CaseError(f"{path.name}: names rule {rule}; the file must be called {rule}.yml")
    cases = []
    for name, body in data.items():
        if not name.startswith(("fail_", "pass_")):
            raise CaseError(f"{path.name}: case {name!r} must be named fail_… or pass_…")
        if not isinstance(body, dict):
            raise CaseError(f"{path.name}: case {name} is not a mapping")
        unknown = set(body) - CASE_KEYS
        if unknown:
            raise CaseError(f"{path.name}: case {name} has unknown keys {sorted(unknown)}")
        if "base" not in body:
            raise CaseError(f"{path.name}: case {name} names no base proposal")
        case = Case(rule=rule, name=name, path=path, **body)
        case.edits = case.edits or []
        case.expect = case.expect or []
        case.layout = case.layout or {}
        case.policy = case.policy or {}
        case.package = case.package or {}
        _validate(case)
        cases.append(case)
    return cases


def _order(path: Path):
    stem = path.stem
    prefix = stem.rstrip("0123456789")
    return (DOMAIN_PREFIXES.index(prefix) if prefix in DOMAIN_PREFIXES else len(DOMAIN_PREFIXES), stem)


@cache
def case_files() -> tuple[Path, ...]:
    return tuple(sorted(CASES_DIR.glob("*.yml"), key=_order))


@cache
def all_cases() -> tuple[Case, ...]:
    return tuple(c for path in case_files() for c in load_file(path))


def _validate(case: Case) -> None:
    from sample_submissions.proposals import BASES

    where = f"{case.path.name}: case {case.name}"
    if case.base not in BASES:
        raise CaseError(f"{where}: unknown base {case.base!r} (one of {', '.join(BASES)})")
    for e in case.edits:
        if not isinstance(e, dict) or set(e) - EDIT_KEYS or "sheet" not in e:
            raise CaseError(f"{where}: an edit needs a sheet and only {sorted(EDIT_KEYS)}: {e!r}")
        _spec(e["sheet"], where)
    if set(case.layout) - LAYOUT_KEYS:
        raise CaseError(f"{where}: unknown layout keys {sorted(set(case.layout) - LAYOUT_KEYS)}")
    if set(case.package) - {"add"}:
        raise CaseError(f"{where}: package edits are `add: {{part name: text}}` only")
    for e in case.expect:
        if not isinstance(e, dict) or set(e) - EXPECT_KEYS or "rule" not in e:
            raise CaseError(f"{where}: an expected finding needs a rule and only {sorted(EXPECT_KEYS)}: {e!r}")


def _spec(sheet: str, where: str):
    spec = SHEETS_BY_NAME.get(sheet)
    if spec is None:
        raise CaseError(f"{where}: {sheet!r} is not a template sheet")
    return spec


# ---------------------------------------------------------------------- edits


def _matches(row: dict, key: dict) -> bool:
    return all(row.get(k) == v for k, v in key.items())


def _rows(p: dict, sheet: str, key: dict, where: str, exactly_one: bool = False) -> list[int]:
    idx = [i for i, r in enumerate(p[sheet]) if _matches(r, key)]
    if not idx:
        raise CaseError(f"{where}: no {sheet} row has {key}")
    if exactly_one and len(idx) > 1:
        raise CaseError(f"{where}: {len(idx)} {sheet} rows have {key}; give a key that names one row")
    return idx


def _check_columns(spec, names, where: str) -> None:
    unknown = [n for n in names if n not in spec.column_names]
    if unknown:
        raise CaseError(f"{where}: {spec.name} has no {'field' if spec.kind is SheetKind.KEY_VALUE else 'column'} "
                        f"{', '.join(unknown)} in the template (use `layout` for columns the template lacks)")


def _apply(p: dict, edit: dict, case: Case) -> None:
    where = f"{case.path.name}: case {case.name}"
    spec = _spec(edit["sheet"], where)
    sheet = spec.name
    if spec.kind is SheetKind.KEY_VALUE:
        if set(edit) - {"sheet", "set"}:
            raise CaseError(f"{where}: a key/value sheet takes `set` only: {edit!r}")
        _check_columns(spec, edit["set"], where)
        p[sheet].update(edit["set"])
        return
    if "drop" in edit:
        drop = edit["drop"]
        if drop == "all":
            p[sheet] = []
        else:
            gone = set(_rows(p, sheet, drop, where))
            p[sheet] = [r for i, r in enumerate(p[sheet]) if i not in gone]
    if "add" in edit:
        template = {c: None for c in spec.column_names}
        if "like" in edit:
            [i] = _rows(p, sheet, edit["like"], where, exactly_one=True)
            template = copy.deepcopy(p[sheet][i])
        _check_columns(spec, edit["add"], where)
        p[sheet].append({**template, **edit["add"]})
    if "set" in edit:
        _check_columns(spec, edit["set"], where)
        targets = _rows(p, sheet, edit["where"], where) if "where" in edit else range(len(p[sheet]))
        for i in targets:
            p[sheet][i].update(edit["set"])
    if edit.get("reverse"):
        p[sheet].reverse()
    if not {"drop", "add", "set", "reverse"} & set(edit):
        raise CaseError(f"{where}: the edit changes nothing: {edit!r}")


def _edit_package(path: Path, package: dict) -> None:
    """Add parts to the written zip package (for the file-level rules a cell edit cannot reach)."""
    data = path.read_bytes()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))
        for name, text in package.get("add", {}).items():
            dst.writestr(name, str(text).encode("utf-8"))
    path.write_bytes(out.getvalue())


# ---------------------------------------------------------------------- resolving cells


def written_columns(sheet: str, layout: dict) -> list[tuple[str, str]]:
    """(column name, header text) of a table sheet in the order `write` puts them."""
    spec = SHEETS_BY_NAME[sheet]
    dropped = set(layout.get("drop_columns", {}).get(sheet, ()))
    headers = layout.get("headers", {}).get(sheet, {})
    cols = [(c, headers.get(c, c)) for c in spec.column_names if c not in dropped]
    return cols + [(h, h) for h in layout.get("extra_columns", {}).get(sheet, {})]


def written_fields(p: dict, sheet: str, layout: dict) -> list[str]:
    """Field names of a key/value sheet, one per written row from row 2, in the order `write` puts them."""
    dropped = set(layout.get("drop_columns", {}).get(sheet, ()))
    names = [n for n in p[sheet] if n not in dropped]
    return names + [str(r[0]) for r in layout.get("kv_extra_rows", {}).get(sheet, [])]


def _resolve(p: dict, layout: dict, e: dict, case: Case) -> Expected:
    where = f"{case.path.name}: case {case.name}"
    rule, sheet = e["rule"], e.get("sheet")
    spec = SHEETS_BY_NAME.get(sheet) if sheet else None
    if "field" in e:
        if spec is None or spec.kind is not SheetKind.KEY_VALUE:
            raise CaseError(f"{where}: `field` is for the key/value sheets: {e!r}")
        names = written_fields(p, sheet, layout)
        rows = [i + 2 for i, n in enumerate(names) if n == e["field"]]
        n = e.get("occurrence", 1)
        if len(rows) < n:
            raise CaseError(f"{where}: {sheet} has no occurrence {n} of field {e['field']!r}")
        return rule, sheet, rows[n - 1], e["field"], f"B{rows[n - 1]}"
    if "header" in e:
        cols = [h for _, h in written_columns(sheet, layout)]
        if e["header"] not in cols:
            raise CaseError(f"{where}: {sheet} has no header {e['header']!r}")
        return rule, sheet, 1, e["header"], f"{column_letter(cols.index(e['header']))}1"
    if "where" in e:
        if spec is None or "column" not in e:
            raise CaseError(f"{where}: a row key needs a template sheet and a column: {e!r}")
        [i] = _rows(p, sheet, e["where"], where, exactly_one=True)
        names = [c for c, _ in written_columns(sheet, layout)]
        if e["column"] not in names:
            raise CaseError(f"{where}: {sheet} column {e['column']!r} is not written")
        row = i + 2
        return rule, sheet, row, e["column"], f"{column_letter(names.index(e['column']))}{row}"
    # a finding about a whole sheet (row and cell null), or a missing column / field (column set)
    return rule, sheet, None, e.get("column"), None

"""Every sample workbook, saved again by real spreadsheet programs, gives the same findings.

LibreOffice Calc and Gnumeric write the same content differently from openpyxl: shared strings
instead of inline strings, booleans as formulas, cells without a style of their own under a
column's date format, other attribute orders.  A commissioner's workbook has passed through one
of them as often as through Excel, so the check must not depend on how the XML is spelled.
Where a program legitimately changes the content, the difference is named here explicitly.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from isap.rules.engine import check_file

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SOFFICE = shutil.which("soffice")
SSCONVERT = shutil.which("ssconvert")

# What a program changes on purpose: sample name → (findings of the original that disappear,
# findings that appear), as (rule_id, sheet, cell).
CHANGES: dict[str, dict[str, tuple[set, set]]] = {
    # A formula saved without a cached value (WB009) is calculated when the program opens the
    # workbook; the calculated value is then checked like any typed value.
    "libreoffice": {
        "wb009_formula_without_value": ({("WB009", "Finance", "D3")}, set()),
    },
    "gnumeric": {
        "wb009_formula_without_value": ({("WB009", "Finance", "D3")}, set()),
    },
}


def _findings(path: Path) -> set[tuple]:
    return {(f.rule_id, f.sheet, f.cell) for f in check_file(path).findings}


def _run(cmd: list[str], timeout: int) -> None:
    subprocess.run(cmd, check=True, capture_output=True, timeout=timeout, start_new_session=True,
                   env={**os.environ, "HOME": os.environ.get("HOME", "/tmp")})


@pytest.fixture(scope="module")
def originals(samples_dir) -> list[Path]:
    return sorted(samples_dir.glob("*.xlsx"))


def _compare(program: str, originals: list[Path], converted_dir: Path) -> None:
    mismatches = {}
    for original in originals:
        converted = converted_dir / original.name
        assert converted.exists(), f"{program} did not write {original.name}"
        gone, new = CHANGES[program].get(original.stem, (set(), set()))
        want = (_findings(original) - gone) | new
        got = _findings(converted)
        if got != want:
            mismatches[original.stem] = {"missing": sorted(want - got), "unexpected": sorted(got - want)}
    assert not mismatches, mismatches


@pytest.mark.skipif(SOFFICE is None, reason="LibreOffice (soffice) is not installed")
def test_libreoffice_round_trip_gives_the_same_findings(originals, tmp_path):
    out = tmp_path / "libreoffice"
    profile = tmp_path / "profile"
    _run([SOFFICE, f"-env:UserInstallation=file://{profile}", "--headless", "--calc", "--convert-to",
          "xlsx:Calc MS Excel 2007 XML", "--outdir", str(out), *map(str, originals)], timeout=600)
    _compare("libreoffice", originals, out)


@pytest.mark.skipif(SSCONVERT is None, reason="Gnumeric (ssconvert) is not installed")
def test_gnumeric_round_trip_gives_the_same_findings(originals, tmp_path):
    out = tmp_path / "gnumeric"
    out.mkdir()
    for original in originals:
        _run([SSCONVERT, "--export-type=Gnumeric_Excel:xlsx2", str(original), str(out / original.name)], timeout=120)
    _compare("gnumeric", originals, out)

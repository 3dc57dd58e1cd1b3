"""A real spreadsheet program opens the national view's workbook: the text typed into a proposal comes out as the text
it is, not as the result of a formula, and every other value reads back as openpyxl reads it."""

from __future__ import annotations

import csv
import shutil
import subprocess

import pytest

from isap.outputs.national import COLUMNS, to_xlsx
from tests.test_national_export import HOSTILE, ROW


def test_libreoffice_reads_the_national_view_back_identically(tmp_path):
    soffice = shutil.which("soffice")
    if soffice is None:
        pytest.skip("LibreOffice (soffice) is not installed")
    book = tmp_path / "national.xlsx"
    book.write_bytes(to_xlsx([ROW, {**ROW, "name": "ISAP-2026-015", "title": "@SUM(1+1)*cmd|' /C calc'!A0"}]))
    subprocess.run([soffice, f"-env:UserInstallation=file://{tmp_path / 'profile'}", "--headless", "--calc",
                    "--convert-to", "csv:Text - txt - csv (StarCalc):44,34,76", "--outdir", str(tmp_path / "csv"),
                    str(book)], capture_output=True, timeout=180, check=True)
    rows = list(csv.reader((tmp_path / "csv" / "national.csv").open(encoding="utf-8")))
    assert rows[0] == [h for _, h in COLUMNS]
    assert rows[1][1] == HOSTILE and rows[2][1] == "@SUM(1+1)*cmd|' /C calc'!A0"
    line = dict(zip(rows[0], rows[1]))
    assert (line["Provider"], line["Region"], line["Annual contract value (£)"], line["Registered population"]) \
        == ("+44 Health", "Midlands", "95,500,000", "412,000")  # numbers, shown with their separators
    assert (line["Decided on"], line["Next planned submission"]) == ("5 Jan 2027", "1 Jun 2027")  # date cells

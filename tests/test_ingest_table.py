"""What `isap ingest` prints for a folder: one row per file, in words that match what was found, whole names."""

from __future__ import annotations

from isap.cli import ingest_table
from isap.review.staging import describe
from isap.review.types import UploadResult


def result(errors: int, warnings: int, **kw) -> UploadResult:
    return UploadResult(reference="ISAP-2026-011", version=1, created_proposal=True, duplicate=False, errors=errors,
                        warnings=warnings, sha256="0" * 64, **kw)


def test_a_file_with_warnings_is_not_called_clean():
    assert describe(result(0, 0)) == "clean"
    assert describe(result(0, 1)) == "1 warning"
    assert describe(result(0, 3)) == "3 warnings"
    assert describe(result(2, 1)) == "has errors"


def test_the_table_never_cuts_a_file_name():
    long = "Black Country ICB - integrated care provider proposal - checkpoint 1 (final, v3).xlsx"
    rows = [{"file": long, "reference": "ISAP-2026-011", "version": 1, "errors": 0, "warnings": 1,
             "outcome": "1 warning"},
            {"file": "a.xlsx", "reference": None, "version": None, "errors": None, "warnings": None,
             "outcome": "refused: not a workbook"}]
    lines = ingest_table(rows).splitlines()
    assert long in lines[1] and lines[1].rstrip().endswith("1 warning")
    # the columns line up under their headings whatever the names' lengths
    assert lines[0].index("reference") == lines[1].index("ISAP-2026-011") == lines[2].index("-")
    assert lines[0].index("outcome") == lines[1].index("1 warning") == lines[2].index("refused")

"""A folder of workbooks as commissioners send them: one clean, one with an error, one broken."""

from __future__ import annotations

from pathlib import Path

from sample_submissions.generate import clean, write


def mixed_inbox(folder: Path) -> Path:
    """dudley.xlsx (clean, ISAP-2026-011), sandwell.xlsx (one error, ISAP-2026-012), broken.xlsx (not a workbook)."""
    folder.mkdir(parents=True, exist_ok=True)
    write(clean(1, reference="ISAP-2026-011"), folder / "dudley.xlsx")
    bad = clean(1, reference="ISAP-2026-012")
    bad["Cover"]["wpap_annual_value_gbp"] = 1  # CAP010: the WPAP must be more than half the contract value
    write(bad, folder / "sandwell.xlsx")
    (folder / "broken.xlsx").write_bytes(b"PK\x03\x04 truncated, not really a workbook")
    return folder

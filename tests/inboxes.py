"""Folders of workbooks as commissioners send them."""

from __future__ import annotations

from pathlib import Path

from sample_submissions.proposals import clean, write

BUSY_REFERENCE = "ISAP-2026-014"


def mixed_inbox(folder: Path) -> Path:
    """dudley.xlsx (clean, ISAP-2026-011), sandwell.xlsx (one error, ISAP-2026-012), broken.xlsx (not a workbook)."""
    folder.mkdir(parents=True, exist_ok=True)
    write(clean(1, reference="ISAP-2026-011"), folder / "dudley.xlsx")
    bad = clean(1, reference="ISAP-2026-012")
    bad["Cover"]["wpap_annual_value_gbp"] = 1  # CAP010: the WPAP must be more than half the contract value
    write(bad, folder / "sandwell.xlsx")
    (folder / "broken.xlsx").write_bytes(b"PK\x03\x04 truncated, not really a workbook")
    return folder


def revision(n: int, reference: str = BUSY_REFERENCE) -> dict:
    """A clean checkpoint-1 workbook whose title says which revision it is, so each revision's bytes differ."""
    p = clean(1, reference=reference)
    p["Cover"]["proposal_title"] = f"Dudley integrated care provider, revision {n:03d}"
    return p


def one_proposal_inbox(folder: Path, count: int = 50) -> list[str]:
    """`count` distinct revisions of one proposal, named so that name order is revision order."""
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for n in range(1, count + 1):
        name = f"dudley-{n:03d}.xlsx"
        write(revision(n), folder / name)
        names.append(name)
    return names


def busy_inbox(folder: Path, count: int = 84) -> Path:
    """`count` workbooks, most of them revisions of one proposal, as a programme office sends a month's work.

    Besides the revisions: the mixed inbox's three (a clean one for another
    proposal, one with an error, a broken file), revisions of a second
    proposal, a revision with an error, and an exact copy of one revision under
    another name (identical bytes make no new version).
    """
    mixed_inbox(folder)
    others = 6
    revisions = count - 3 - others - 2
    one_proposal_inbox(folder, revisions)
    for n in range(1, others + 1):
        write(revision(n, "ISAP-2026-015"), folder / f"walsall-{n:03d}.xlsx")
    bad = revision(revisions + 1)
    bad["Cover"]["wpap_annual_value_gbp"] = 1  # CAP010
    write(bad, folder / f"dudley-{revisions + 1:03d}-draft.xlsx")
    (folder / "zz-copy-of-dudley-001.xlsx").write_bytes((folder / "dudley-001.xlsx").read_bytes())
    assert len(list(folder.glob("*.xlsx"))) == count
    return folder

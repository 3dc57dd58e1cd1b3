"""`isap national`: the national view's export from the command line, and the refresh of the key figures of
proposals kept before the view had them (docs/cli.md, docs/deployment.md's upgrade notes)."""

from __future__ import annotations

import csv
import io

import pytest

from sample_submissions.proposals import clean, write

REF = "ISAP-2026-014"
HOSTILE = "@SUM(1+9)*cmd|' /C calc'!A0"  # a formula to a spreadsheet unless kept as text


@pytest.fixture
def cli(tmp_path, monkeypatch, migrated_sqlite):
    from typer.testing import CliRunner

    from isap.cli import app
    from tests.conftest import copy_sqlite

    monkeypatch.setenv("ISAP_DATABASE_URL", copy_sqlite(migrated_sqlite, tmp_path / "isap.db"))
    monkeypatch.setenv("ISAP_DATA_DIR", str(tmp_path / "data"))
    run = CliRunner().invoke

    def invoke(*args: str):
        return run(app, list(args))
    for args in (("org", "add", "QUA", "NHS Black Country ICB"), ("org", "set-region", "QUA", "midlands"),
                 ("user", "add", "alice", "--role", "commissioner", "--org", "QUA"),
                 ("user", "add", "rita", "--role", "reviewer"), ("user", "add", "ada", "--role", "admin")):
        assert invoke(*args).exit_code == 0
    for ref, title in ((REF, HOSTILE), ("ISAP-2026-015", "Walsall ICP")):
        p = clean(1, reference=ref)
        p["Cover"]["proposal_title"] = title
        assert invoke("upload", str(write(p, tmp_path / f"{ref}.xlsx")), "--as", "alice").exit_code in (0, 1)
    return invoke


def test_a_reviewer_exports_the_national_view_as_an_excel_workbook_or_csv(cli, tmp_path):
    from openpyxl import load_workbook

    r = cli("national", "--out", str(tmp_path / "n.xlsx"), "--as", "rita")
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == f"Wrote the national view to {tmp_path / 'n.xlsx'}: 2 proposal(s), XLSX"
    ws = load_workbook(tmp_path / "n.xlsx")["National view"]
    rows = [dict(zip([c.value for c in ws[1]], [c.value for c in line])) for line in ws.iter_rows(min_row=2)]
    assert [(r["Proposal"], r["Region"], r["Provider"]) for r in rows] == [
        (REF, "Midlands", "Dudley Integrated Health and Care"),
        ("ISAP-2026-015", "Midlands", "Dudley Integrated Health and Care")]
    assert rows[0]["Title"] == HOSTILE and ws["B2"].data_type == "s"  # text, never a formula
    r = cli("national", "--format", "csv", "--out", str(tmp_path / "n.txt"), "--state", "draft", "--as", "ada")
    assert r.exit_code == 0, r.output
    text = (tmp_path / "n.txt").read_bytes()
    assert text.startswith(b"\xef\xbb\xbf")  # as the page's download: UTF-8 that Excel recognises
    lines = list(csv.DictReader(io.StringIO(text.decode("utf-8-sig"))))
    assert [line["Title"] for line in lines] == ["'" + HOSTILE, "Walsall ICP"]
    r = cli("national", "--out", str(tmp_path / "late.csv"), "--late", "--as", "rita")
    assert r.exit_code == 0 and "0 proposal(s), CSV" in r.stdout


@pytest.mark.parametrize(("args", "code", "words"), [
    (("national", "--out", "x.csv", "--as", "alice"), 1, "alice is a commissioner; this needs a reviewer or admin"),
    (("national", "--out", "x.csv", "--region", "Wessex", "--as", "rita"), 1, "not one of NHS England's regions"),
    (("national", "--out", "x.csv", "--state", "lost", "--as", "rita"), 1, "state must be one of"),
    (("national", "--out", "x.csv"), 2, "isap national needs --out FILE and --as NAME"),
    (("national", "--as", "rita"), 2, "isap national needs --out FILE and --as NAME"),
    (("national", "--out", "x.pdf", "--format", "pdf", "--as", "rita"), 2, "'pdf' is not one of"),
])
def test_a_refused_export_is_one_clear_line_and_writes_nothing(cli, tmp_path, monkeypatch, args, code, words):
    monkeypatch.chdir(tmp_path)
    r = cli(*args)
    assert r.exit_code == code and words in r.stderr and "Traceback" not in r.output
    assert not any(tmp_path.glob("x.*"))


def test_refresh_fills_the_figures_of_proposals_uploaded_before_the_view_kept_them(cli, tmp_path):
    from sqlalchemy import text

    from isap.composition import wire
    from tests.test_calendar import blank_figures

    svc = wire(None).service
    blank_figures(svc)
    r = cli("national", "refresh")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == [
        "Key figures filled for 2 proposal(s); 0 whose latest version gives none; 0 not read now",
        f"  filled: QUA/{REF}", "  filled: QUA/ISAP-2026-015"]
    assert {row["provider"] for row in svc.national_view("rita")} == {"Dudley Integrated Health and Care"}
    assert cli("national", "refresh").stdout.splitlines() == [
        "Key figures filled for 0 proposal(s); 0 whose latest version gives none; 0 not read now"]
    # an original that cannot be read: said, the rest filled, exit 1 to run it again
    blank_figures(svc)
    sha = svc.show("rita", REF)["versions"][0]["sha256"]
    with svc.engine.begin() as conn:  # the default store of originals is the database
        conn.execute(text("DELETE FROM original WHERE sha256 = :sha"), {"sha": sha})
    r = cli("national", "refresh")
    assert r.exit_code == 1 and f"  not read: QUA/{REF}: the original {sha[:12]}… is not in the store" in r.stderr
    assert "  filled: QUA/ISAP-2026-015" in r.stdout and "Traceback" not in r.output

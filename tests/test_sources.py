"""Sources are named for people by title, publisher and year; machines keep the file name.

Every source a registered rule cites resolves to a document in the one catalogue
(`isap.rules.sources`); each output a person reads shows the title and no file name, while the
JSON report and `Finding.source` keep the file name exactly (docs/workbook.md §3).
"""

from __future__ import annotations

import json
import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import openpyxl
import pytest

from isap.rules.registry import all_rules
from isap.rules.sources import DOCUMENTS, cited, readable, unknown_documents
from isap.workbook.template import SHEETS, section_for
from sample_submissions.proposals import Layout, clean, write
from tests.in_process import isap

SEEDS_DIR = Path(__file__).resolve().parents[2] / "shared" / "seeds"
CAP002_TITLE = "Contracting arrangements for integrated care providers — response to consultation (NHS England, 2019)"
CAP002_FILE = "002_beafc3e198b0dad1.txt §34"
# a seed file name as rules cite it: three digits, an underscore, sixteen hex digits
RAW_NAME = re.compile(r"\d{3}_[0-9a-f]{16}\.txt")


def test_every_source_a_rule_cites_is_a_known_document():
    sources = {r.source for r in all_rules()}
    # WB/SCH findings cite the section of the sheet they point at
    sources |= {section_for(s.name) for s in SHEETS} | {section_for(None), section_for("Not a template sheet")}
    for source in sources:
        assert cited(source), source
        assert unknown_documents(source) == [], source
        shown = readable(source)
        assert not RAW_NAME.search(shown) and "ISAP-WB 1.0 §" not in shown, shown


def test_readable_names_each_document_and_keeps_the_paragraphs():
    assert readable(CAP002_FILE) == f"{CAP002_TITLE} §34"
    assert readable("002_beafc3e198b0dad1.txt §34, §35; 001_fe4937a85331cf2d.txt §97c") == (
        f"{CAP002_TITLE} §34, §35; GP participation in an Integrated Care Provider: ICP Contract Package "
        "(NHS England and NHS Improvement, 2019) §97c")
    assert readable("ISAP-WB 1.0 §2.3") == "ICP proposal workbook template (ISAP-WB 1.0) §2.3"
    # a name the catalogue does not know is shown as it is, never dropped
    assert readable("999_0000000000000000.txt §1") == "999_0000000000000000.txt §1"
    assert unknown_documents("999_0000000000000000.txt §1; ISAP-WB 9.9 §1") == [
        "999_0000000000000000.txt", "ISAP-WB 9.9"]
    assert readable("") == "" and readable(None) == ""


def test_rules_cite_seeds_by_file_name():
    """The checks still write file names (what the JSON keeps), taken from the one catalogue."""
    from checks.common import SEEDS, src

    assert set(SEEDS.values()) == set(DOCUMENTS)
    assert src("002 §34", "002 §35", "001 §97c") == "002_beafc3e198b0dad1.txt §34, §35; 001_fe4937a85331cf2d.txt §97c"


@pytest.mark.skipif(not SEEDS_DIR.exists(), reason="the seed documents are not beside this working copy")
def test_catalogue_titles_are_the_documents_own():
    """Each catalogued file exists among the seeds and carries the title and year given for it."""
    def words(text: str) -> str:
        return " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower()).split())

    for name, doc in DOCUMENTS.items():
        text = words((SEEDS_DIR / name).read_text(encoding="utf-8")[:6000])
        # the catalogue's separators (colon, dash) stand for line breaks or dashes on the title page
        for part in re.split(r": | — ", doc.title):
            assert words(part) in text, (name, part)
        assert str(doc.year) in text, (name, doc.year)


# ---------------------------------------------------------------------- every output a person reads

@pytest.fixture(scope="module")
def faulty(tmp_path_factory):
    """CAP002 at Finance D7 (a seed document) and WB004 (a template section)."""
    from isap.rules.engine import check_file

    tmp = tmp_path_factory.mktemp("sources")
    p = clean(2)
    p["Finance"][5].update(net_assets_gbp=1_200_000, minimum_assets_gbp=2_000_000)
    path = write(p, tmp / "faulty.xlsx", Layout(drop_sheets=("Engagement",)))
    report = check_file(path)
    assert {f.rule_id for f in report.findings} == {"CAP002", "WB004"}
    return path, report


def _cli(*args) -> subprocess.CompletedProcess:
    return isap(*args)


def test_json_report_and_finding_keep_the_file_name(faulty):
    path, report = faulty
    cap002 = next(f for f in report.findings if f.rule_id == "CAP002")
    assert cap002.source == CAP002_FILE and cap002.to_dict()["source"] == CAP002_FILE
    out = json.loads(_cli("check", str(path), "--format", "json").stdout)
    assert {f["rule_id"]: f["source"] for f in out["findings"]} == {"CAP002": CAP002_FILE, "WB004": "ISAP-WB 1.0 §2.7"}


def test_text_report_names_the_document(faulty):
    path, _ = faulty
    out = _cli("check", str(path)).stdout
    assert f"Source: {CAP002_TITLE} §34" in out
    assert "Source: ICP proposal workbook template (ISAP-WB 1.0) §2.7" in out
    assert not RAW_NAME.search(out) and "[ISAP-WB" not in out


def test_markdown_export_names_the_document(faulty):
    from isap.outputs.exports import to_markdown
    from tests.test_reports import _render

    html = _render(to_markdown([faulty[1]]))
    assert "<th>source</th>" in html
    assert f"<td>{CAP002_TITLE} §34</td>" in html
    assert not RAW_NAME.search(html)


def test_junit_export_names_the_document(faulty):
    from isap.outputs.exports import to_junit

    root = ET.fromstring(to_junit([faulty[1]]))
    text = "\n".join(f.text or "" for f in root.iter("failure"))
    assert f"Source: {CAP002_TITLE} §34" in text
    assert "Source: ICP proposal workbook template (ISAP-WB 1.0) §2.7" in text
    assert not RAW_NAME.search(ET.tostring(root, encoding="unicode"))


def test_annotated_workbook_names_the_document(faulty, tmp_path):
    from isap.outputs.annotated_copy import annotate

    path, report = faulty
    out = tmp_path / "annotated.xlsx"
    annotate(path, report, out)
    wb = openpyxl.load_workbook(out)
    assert f"Source: {CAP002_TITLE} §34" in wb["Finance"]["D7"].comment.text
    sources = [row[5] for row in wb["Findings"].iter_rows(min_row=2, values_only=True)]
    assert f"{CAP002_TITLE} §34" in sources
    assert not any(RAW_NAME.search(s) for s in sources)


def test_rule_catalogue_text_and_markdown_name_documents_and_json_keeps_files():
    from isap.rules.catalogue import render

    for fmt in ("text", "markdown"):
        shown = render(fmt)
        assert f"{CAP002_TITLE} §34" in shown, fmt
        assert not RAW_NAME.search(shown), fmt
    rules = {r["id"]: r for r in json.loads(render("json"))["rules"]}
    assert rules["CAP002"]["source"] == CAP002_FILE

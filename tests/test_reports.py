"""Reports people use: annotated workbook, CI formats, assurance report, injection-safe exports."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import openpyxl
import pytest

from isap.outputs.annotated_copy import ERROR_FILL, WARNING_FILL, annotate
from isap.outputs.exports import neutralise, to_csv, to_junit, to_markdown
from isap.rules.engine import check_file
from isap.rules.sources import readable
from sample_submissions.proposals import Layout, clean, write
from tests.panel import decide, take

PAYLOADS = ["=HYPERLINK(\"http://evil.example\",\"x\")", "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0",
            "@SUM(1+1)*cmd|' /C calc'!A0", "\t=1+1", "\r=1+1"]


def faulty(tmp_path):
    p = clean(2)
    p["Finance"][5].update(net_assets_gbp=1_200_000, minimum_assets_gbp=2_000_000)  # CAP002 at D7
    p["Finance"][0]["startup_costs_gbp"] = 0  # CAP011 warning at I2
    return write(p, tmp_path / "faulty.xlsx", Layout(drop_sheets=("Engagement",)))  # WB004: no cell


def test_annotated_copy_marks_cells_and_lists_every_finding(tmp_path):
    src = faulty(tmp_path)
    report = check_file(src)
    assert {(f.rule_id, f.cell) for f in report.findings} == {("WB004", None), ("CAP002", "D7"), ("CAP011", "I2")}
    out = tmp_path / "annotated.xlsx"
    assert annotate(src, report, out) == 2
    wb = openpyxl.load_workbook(out)
    fin = wb["Finance"]
    assert fin["D7"].fill.fgColor.rgb.endswith(ERROR_FILL.fgColor.rgb[-6:])
    assert fin["I2"].fill.fgColor.rgb.endswith(WARNING_FILL.fgColor.rgb[-6:])
    assert "CAP002" in fin["D7"].comment.text and readable("002_beafc3e198b0dad1.txt §34") in fin["D7"].comment.text
    assert fin["D7"].value == 1_200_000 and fin["E7"].comment is None  # data untouched, only faults marked
    sheet = wb["Findings"]
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert [(r[1], r[2], r[3]) for r in rows] == [(f.rule_id, f.sheet, f.cell) for f in report.findings]
    link = next(c for c in sheet["G"][1:] if c.value and "D7" in c.value)
    assert link.hyperlink.location == "'Finance'!D7" or "#'Finance'!D7" in (link.hyperlink.target or
                                                                          link.hyperlink.location or "")
    # reading the annotated copy back gives the same findings
    again = check_file(out)
    assert [(f.rule_id, f.sheet, f.cell) for f in again.findings] == [(f.rule_id, f.sheet, f.cell)
                                                                     for f in report.findings]


def test_annotate_cli_and_refused_file(tmp_path):
    src = faulty(tmp_path)
    out = tmp_path / "a.xlsx"
    r = subprocess.run([sys.executable, "-m", "isap.cli", "check", str(src), "--annotate", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 1 and out.exists() and "2 cells marked" in r.stderr
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"not a workbook")
    r = subprocess.run([sys.executable, "-m", "isap.cli", "check", str(bad), "--annotate", str(tmp_path / "b.xlsx")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "cannot annotate" in r.stderr and "Traceback" not in r.stderr


def test_junit_shape(tmp_path):
    reports = [check_file(faulty(tmp_path)), check_file(write(clean(1), tmp_path / "ok.xlsx"))]
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"")
    reports.append(check_file(bad))
    root = ET.fromstring(to_junit(reports))
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert len(suites) == 3
    total = 0
    for suite in suites:
        cases = suite.findall("testcase")
        assert int(suite.get("tests")) == len(cases) and suite.get("name")
        fails = [c for c in cases if c.find("failure") is not None]
        errors = [c for c in cases if c.find("error") is not None]
        assert int(suite.get("failures")) == len(fails) and int(suite.get("errors")) == len(errors)
        for c in cases:
            assert c.get("classname") and c.get("name")
        total += len(cases)
    assert int(root.get("tests")) == total
    first = suites[0]
    failed = {c.get("name").split()[0] for c in first.findall("testcase") if c.find("failure") is not None}
    assert failed == {"WB004", "CAP002"}  # errors fail; the CAP011 warning does not
    warned = [c for c in first.findall("testcase") if c.get("name").startswith("CAP011")]
    assert (
        "startup" in "".join(warned[0].find("system-out").itertext()).lower()
        or warned[0].find("system-out") is not None
    )
    assert suites[2].find("testcase/error").get("type") == "WB001"


def test_markdown_and_fail_on(tmp_path):
    src = faulty(tmp_path)
    md = to_markdown([check_file(src)])
    assert "| error | CAP002 | Finance | D7 |" in md and "working_capital_months" in md
    only_warning = clean(2)
    only_warning["Finance"][0]["startup_costs_gbp"] = 0
    path = write(only_warning, tmp_path / "warn.xlsx")
    run = lambda *a: subprocess.run([sys.executable, "-m", "isap.cli", "check", str(path), *a],  # noqa: E731
                                    capture_output=True, text=True)
    assert run().returncode == 0
    assert run("--fail-on", "warning").returncode == 1
    assert run("--format", "markdown").stdout.startswith("### ")


def test_neutralise():
    for p in PAYLOADS:
        assert neutralise(p).startswith("'")
    assert neutralise(-5) == -5 and neutralise("Community health") == "Community health"
    import csv
    import io

    rows = list(csv.reader(io.StringIO(to_csv([{"a": p} for p in PAYLOADS], ["a"]))))[1:]
    assert [r[0] for r in rows] == ["'" + p for p in PAYLOADS]


def test_injection_payloads_in_text_fields_come_out_inert(tmp_path):
    p = clean(2)
    p["Cover"]["proposal_title"] = PAYLOADS[0]
    p["Services"][0]["service_name"] = PAYLOADS[1]
    p["Services"][1]["category"] = PAYLOADS[3]  # not an allowed choice: quoted in a finding's message
    p["Partners"][0]["partner_name"] = PAYLOADS[2]
    p["Engagement"][0]["summary"] = PAYLOADS[0]
    p["Safeguards"]["guarantor_name"] = PAYLOADS[1]
    src = write(p, tmp_path / "payload.xlsx")
    report = check_file(src)
    out = tmp_path / "annotated.xlsx"
    annotate(src, report, out)
    wb = openpyxl.load_workbook(out)
    for row in wb["Findings"].iter_rows(min_row=2):
        for c in row:
            assert c.data_type != "f", c.value
            assert not (isinstance(c.value, str) and c.value.startswith(("=", "+", "-", "@", "\t", "\r")))
    # the commissioner's own cells are untouched (they are their data), and still text
    assert wb["Services"]["B2"].data_type == "s"


# REL011 (no voluntary sector partner) cites 002 §74
REL011_SOURCE = ("Contracting arrangements for integrated care providers — response to consultation "
                 "(NHS England, 2019) §74")


@pytest.fixture
def reviewed(service, tmp_path):
    import datetime as dt

    from isap.review.service import ConditionInput

    ref = "ISAP-2026-014"
    p = clean(1, reference=ref)
    p["Partners"] = [x for x in p["Partners"] if x["partner_type"] != "Voluntary sector"]
    p["Cover"]["proposal_title"] = "<script>alert(1)</script> Dudley ICP"
    service.upload("alice", "v1.xlsx", write(p, tmp_path / "v1.xlsx").read_bytes())
    service.acknowledge("alice", ref, "REL011", "CVS joins via the alliance board.")
    service.submit("alice", ref)
    take(service, "rita", ref)
    decide(service, "rita", ref, "approved_with_conditions",
                   {"capitalisation": "green", "transparency": "amber", "service_scope": "green",
                    "relationships": "red", "governance": "green"}, "Sound case; relationships need work.",
                   [ConditionInput("Sign heads of terms with all practices", "ICB primary care lead",
                                   dt.date(2027, 3, 31))])
    return service, ref


def test_assurance_report_has_every_part(reviewed, db_url):
    from isap.outputs.assurance_report import render_report

    service, ref = reviewed
    html = render_report(service, "rita", ref, 1)
    version = service.show("rita", ref)["versions"][0]
    for part in (ref, version["sha256"], "Findings by domain", "REL011", "CVS joins via the alliance board.",
                 "rating-red", "Approved with conditions", "Sound case; relationships need work.",
                 "Sign heads of terms with all practices", "ICB primary care lead", "31 Mar 2027",
                 "Audit trail for checkpoint 1", "Submitted → In review", "@media print", "working_capital_months",
                 "Monday to Friday less England bank holidays", "GB-ENG", REL011_SOURCE):
        assert part in html, part
    assert "002_beafc3e198b0dad1.txt" not in html  # sources by title, not by file name
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    from isap.review.service import NotFound

    with pytest.raises(NotFound):
        render_report(service, "otto", ref, 1)


def test_report_cli(reviewed, db_url, tmp_path, monkeypatch):
    service, ref = reviewed
    if not db_url.startswith("sqlite"):
        pytest.skip("the CLI test uses the embedded database")
    env = {**__import__("os").environ, "ISAP_DATABASE_URL": db_url}
    out = tmp_path / "r.html"
    r = subprocess.run([sys.executable, "-m", "isap.cli", "report", ref, "--checkpoint", "1", "--out", str(out),
                        "--as", "rita"], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert ref in out.read_text()
    _ = json


def test_assurance_report_pdf_matches_the_html(reviewed, db_url, tmp_path):
    import shutil

    from isap.outputs.letters import render_report_pdf

    if not shutil.which("pdftotext"):
        pytest.skip("needs Debian's poppler-utils (pdftotext)")
    service, ref = reviewed
    path = tmp_path / "r.pdf"
    path.write_bytes(render_report_pdf(service, "rita", ref, 1))
    text = " ".join(subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, text=True,
                                   check=True).stdout.split())
    for part in (
        ref,
        "<script>alert(1)</script> Dudley ICP",
        "Findings by domain",
        "REL011",
        "CVS joins via the alliance board.",
        "Approved with conditions",
        "Sound case; relationships need work.",
        "Sign heads of terms with all practices",
        "ICB primary care lead",
        "31 Mar 2027",
        "Audit trail for checkpoint 1",
        "Submitted → In review",
        "working_capital_months",
        "GB-ENG",
        REL011_SOURCE,
    ):
        assert part in text, part
    assert "002_beafc3e198b0dad1.txt" not in text


# ------------------------------------------------------------------ hostile text in exports

HOSTILE = [
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "[click](javascript:alert(1))",
    "![x](http://evil.example/pixel.png)", "<javascript:alert(1)>", "<http://evil.example>",
    "`code` | broken | table |", "**bold** _em_ # heading", "[ref]: javascript:alert(1)",
    "&lt;script&gt;alert(1)&lt;/script&gt;", "<a href='javascript:alert(1)'>x</a>", "line\nbreak | x",
    "\\<script>alert(1)\\</script>", "<details open ontoggle=alert(1)>",
]


def _render(md: str) -> str:
    """Render as a permissive Markdown viewer would: raw HTML allowed, tables on."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": True}).enable("table").render(md)


def _assert_inert(html: str) -> None:
    from html.parser import HTMLParser

    allowed = {"h3", "p", "table", "thead", "tbody", "tr", "th", "td", "code", "details", "summary", "ul", "li",
               "strong", "em"}

    class Tags(HTMLParser):
        def __init__(self):
            super().__init__()
            self.bad = []

        def handle_starttag(self, tag, attrs):
            if tag not in allowed or any(k not in ("style",) for k, _ in attrs):
                self.bad.append((tag, attrs))

    parser = Tags()
    parser.feed(html)
    assert parser.bad == [], parser.bad
    for needle in ("<a", "<img", "<script"):
        assert needle not in html.lower(), (needle, html[html.lower().find(needle) - 80:][:200])
    # `javascript:` may be shown as the text it is, but never inside a tag (a link or a source)
    assert not re.search(r"<[^>]*javascript:", html, re.I)


def test_markdown_export_keeps_workbook_text_inert(tmp_path):
    from isap.rules.engine import CheckReport
    from isap.workbook.findings import Domain, Finding, Severity

    findings = [Finding("WB006", Severity.WARNING, Domain.WORKBOOK, text, 1, text, "A1",
                        f"Sheet {text} is not part of template ISAP-WB 1.0: {text}", "ISAP-WB 1.0 §2")
                for text in HOSTILE]
    report = CheckReport(HOSTILE[2] + ".xlsx", "0" * 64, HOSTILE[0], 2, {"max_findings_per_rule": 500}, findings)
    md = to_markdown([report])
    html = _render(md)
    _assert_inert(html)
    # the text is still all there, shown as text: one table row per finding
    assert html.count("<tr>") == len(HOSTILE) + 1
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_markdown_export_of_a_hostile_workbook(tmp_path):
    p = clean(2)
    p["Cover"]["proposal_title"] = HOSTILE[3]
    p["Cover"]["template_version"] = HOSTILE[0]                 # WB007 quotes it
    p["Services"][0]["category"] = HOSTILE[2]                   # SCH003 quotes it
    p["Services"][1]["category"] = HOSTILE[6]
    p["Partners"][0]["partner_name"] = HOSTILE[1]
    p["Partners"][0]["supports_proposal"] = "No"                # REL002 names the partner
    layout = Layout(extra_sheets={"<img src=x onerror=1>": [["x"]], "`tick` |pipe| <b>": [["x"]]},
                    kv_extra_rows={"Cover": [(HOSTILE[4], "x")]})
    src = write(p, tmp_path / "hostile.xlsx", layout)
    out = subprocess.run([sys.executable, "-m", "isap.cli", "check", str(src), "--format", "markdown"],
                         capture_output=True, text=True)
    assert out.returncode == 1, out.stderr
    assert "WB007" in out.stdout and "SCH003" in out.stdout and "REL002" in out.stdout
    _assert_inert(_render(out.stdout))


# ------------------------------------------------------------------ annotated workbook: text stays text

def test_annotated_copy_writes_workbook_text_as_strings_and_quotes_sheet_names(tmp_path):
    from openpyxl.cell.cell import TYPE_STRING

    hostile_sheet = "=WEBSERVICE(Cover!B4)&Cover"
    quoted_sheet = "O'Brien's =1+1"
    p = clean(2)
    p["Partners"][0]["partner_name"] = PAYLOADS[2]           # REL002's message starts with "-2+3+cmd|…"
    p["Partners"][0]["supports_proposal"] = "No"
    p["Partners"][1]["partner_name"] = PAYLOADS[1]           # "+" first
    p["Partners"][1]["supports_proposal"] = "No"
    p["Finance"][5].update(net_assets_gbp=-1_200_000, minimum_assets_gbp=2_000_000)  # CAP002: a real negative
    layout = Layout(extra_sheets={hostile_sheet: [["x"]], quoted_sheet: [["y"]], "-1": [["z"]]})
    src = write(p, tmp_path / "hostile.xlsx", layout)
    report = check_file(src)
    assert {"REL002", "WB006", "CAP002"} <= {f.rule_id for f in report.findings}
    out = tmp_path / "annotated.xlsx"
    annotate(src, report, out)
    wb = openpyxl.load_workbook(out)
    sheet = wb["Findings"]
    assert sheet.max_row == len(report.findings) + 1
    for row, f in zip(sheet.iter_rows(min_row=2), report.findings):
        for c in row:
            assert c.data_type != "f" and (c.value is None or c.data_type == TYPE_STRING), (c.coordinate, c.value)
        # every text exactly as found, no apostrophe or other change
        assert [c.value for c in row[:6]] == [f.severity.value, f.rule_id, f.sheet, f.cell, f.message,
                                              readable(f.source)]
    messages = [c.value for c in sheet["E"][1:]]
    assert any(m.startswith(PAYLOADS[2]) for m in messages) and any(m.startswith(PAYLOADS[1]) for m in messages)
    links = {c.value: c.hyperlink for c in sheet["G"][1:] if c.value}
    for name in (hostile_sheet, quoted_sheet, "-1"):
        (text, link), = [(t, h) for t, h in links.items() if t.startswith(name + "!")]
        assert link.location == "'" + name.replace("'", "''") + "'!A1", link.location
    assert wb["Finance"]["D7"].value == -1_200_000 and wb["Finance"]["D7"].data_type == "n"
    # what LibreOffice or Excel would read back: the link cells hold no formula in the file itself
    import zipfile

    with zipfile.ZipFile(out) as z:
        findings_part = z.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in findings_part and "<f " not in findings_part


def test_annotation_that_cannot_read_a_part_does_not_change_the_exit_status(tmp_path):
    from tests.hostile import rezip

    src = write(clean(2), tmp_path / "clean.xlsx")
    broken = tmp_path / "broken-props.xlsx"
    broken.write_bytes(rezip(src.read_bytes(), replace={"docProps/core.xml": b"this is not XML <<<"}))
    plain = subprocess.run([sys.executable, "-m", "isap.cli", "check", str(broken)], capture_output=True, text=True)
    out = tmp_path / "annotated.xlsx"
    r = subprocess.run([sys.executable, "-m", "isap.cli", "check", str(broken), "--annotate", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == plain.returncode == 0, (plain.stderr, r.stderr)
    assert r.stdout == plain.stdout
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("isap: cannot annotate:") and "Traceback" not in r.stderr
    assert not out.exists()


@pytest.mark.e2e  # LibreOffice opens the annotated copy
def test_libreoffice_reads_the_annotated_text_as_text(tmp_path):
    """A real spreadsheet program opens the annotated copy: the hostile sheet name and message come out
    as the text they are, not as the results of formulas."""
    import csv
    import shutil

    soffice = shutil.which("soffice")
    if soffice is None:
        pytest.skip("LibreOffice (soffice) is not installed")
    hostile_sheet = "=WEBSERVICE(Cover!B4)&Cover"
    p = clean(2)
    p["Partners"][0]["partner_name"] = PAYLOADS[2]
    p["Partners"][0]["supports_proposal"] = "No"
    src = write(p, tmp_path / "hostile.xlsx", Layout(extra_sheets={hostile_sheet: [["x"]]}))
    out = tmp_path / "annotated.xlsx"
    annotate(src, check_file(src), out)
    subprocess.run([soffice, f"-env:UserInstallation=file://{tmp_path / 'profile'}", "--headless", "--calc",
                    "--convert-to", "csv:Text - txt - csv (StarCalc):44,34,76", "--outdir", str(tmp_path / "csv"),
                    str(out)], capture_output=True, timeout=180, check=True)
    rows = list(csv.reader((tmp_path / "csv" / "annotated.csv").open(encoding="utf-8")))
    assert rows[0] == ["severity", "rule_id", "sheet", "cell", "message", "source", "go to"]
    by_rule = {r[1]: r for r in rows[1:]}
    assert by_rule["WB006"][2] == hostile_sheet and by_rule["WB006"][6] == hostile_sheet + "!A1"
    assert by_rule["REL002"][4].startswith(PAYLOADS[2])


def test_the_reports_audit_trail_names_events_in_words(reviewed, db_url):
    """The report and the letter show the history's events by their labels, as the dashboard does."""
    from isap.outputs.assurance_report import render_report, report_context
    from isap.review.events import AuditKind

    service, ref = reviewed
    html = render_report(service, "rita", ref, 1)
    decided = AuditKind.decided("approved_with_conditions")
    assert decided.label in html and f">{decided.value}<" not in html
    assert [h["event"] for h in report_context(service, "rita", ref, 1)["history"]][:2] == [
        AuditKind.PROPOSAL_CREATED.label, AuditKind.VERSION_UPLOADED.label]


def test_annotated_copy_marks_a_waived_finding_as_waived_by_whom_and_why(tmp_path):
    src = faulty(tmp_path)
    report = check_file(src)
    cap002 = next(f for f in report.findings if f.rule_id == "CAP002")
    out = tmp_path / "annotated.xlsx"
    annotate(src, report, out, {cap002.fingerprint: "by rita: the assets are held by the parent trust"})
    wb = openpyxl.load_workbook(out)
    d7 = wb["Finance"]["D7"]
    assert d7.fill.fgColor.rgb.endswith("D9D9D9")  # grey: it no longer blocks
    assert "WAIVED: by rita: the assets are held by the parent trust" in d7.comment.text
    assert wb["Finance"]["I2"].fill.fgColor.rgb.endswith(WARNING_FILL.fgColor.rgb[-6:])
    rows = {r[1]: r for r in wb["Findings"].iter_rows(min_row=2, values_only=True)}
    assert rows["CAP002"][7] == "by rita: the assets are held by the parent trust" and rows["CAP011"][7] is None
    assert wb["Findings"]["H1"].value == "waived"

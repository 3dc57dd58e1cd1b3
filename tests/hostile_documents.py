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

"""Evidence documents: decide whether an uploaded document may be kept (docs/workflow.md, "Evidence").

A document is as hostile as a workbook, and is opened later by reviewers in a
PDF viewer, Word or Excel, so it is judged by its content, never by its name:
only a PDF, a Word document (.docx) or an Excel workbook (.xlsx) is accepted.
Refused are macro-bearing Office files, encrypted files (an encrypted Office
document is an OLE compound file holding an `EncryptedPackage`; an encrypted
PDF has `/Encrypt`), PDFs with JavaScript, launch actions or embedded files,
zip bombs (the workbook scan's limits: `max_uncompressed_bytes`,
`max_compression_ratio`), and anything over `max_evidence_bytes`.

`inspect_document` does the parsing (pypdf for a PDF, the zip directory and
`[Content_Types].xml` for Office files) and runs ONLY in the limited child
that checks workbooks (`check_document`, through `isap.workbook.isolation`):
a document that crashes a parser or exhausts a limit is refused with the
limit named, and the process that serves carries on.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, replace
from enum import StrEnum

from isap.policy import Policy
from isap.workbook.safety import (
    CT_VBA_PROJECT,
    OLE_MAGIC,
    FileRefused,
    _check_one_archive,
    _content_types,
    part_nodes,
)

# Objects of a PDF walked at most: a real report has a few thousand; a file built to exhaust the walk is refused.
MAX_PDF_OBJECTS = 500_000
# Bytes the PDF's object streams may inflate to, in all: a real report's are a few hundred kilobytes.
MAX_PDF_INFLATED_OBJECTS = 32 << 20
_CHUNK = 1 << 20
_MAIN_TYPES = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml": "docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml": "xlsx",
}
# names in a PDF that make a viewer run code, start a program or carry another file
_ACTIVE = {"/JavaScript": "JavaScript", "/JS": "JavaScript", "/Launch": "a launch action (it starts a program)",
           "/EmbeddedFile": "an embedded file", "/EmbeddedFiles": "an embedded file",
           "/EF": "an embedded file", "/FileAttachment": "an embedded file", "/RichMedia": "embedded media (Flash)"}


class DocumentType(StrEnum):
    PDF = "pdf"
    DOCX = "docx"
    XLSX = "xlsx"

    @property
    def label(self) -> str:
        return DOCUMENT_TYPE_LABELS[self]

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self]


DOCUMENT_TYPE_LABELS = {DocumentType.PDF: "PDF", DocumentType.DOCX: "Word document (.docx)",
                        DocumentType.XLSX: "Excel workbook (.xlsx)"}
MEDIA_TYPES = {
    DocumentType.PDF: "application/pdf",
    DocumentType.DOCX: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    DocumentType.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
ACCEPTED = "a PDF, a Word document (.docx) or an Excel workbook (.xlsx)"


@dataclass(frozen=True)
class DocumentVerdict:
    """What the inspection found: the document's type, or the one reason it is refused (plain words)."""

    type: DocumentType | None
    refusal: str | None = None

    @property
    def accepted(self) -> bool:
        return self.refusal is None


class _Refused(Exception):
    pass


def size_refusal(size: int, policy: Policy) -> str | None:
    """The size limit, checked before anything is parsed (or sent to the child)."""
    if size > policy.max_evidence_bytes:
        return (f"the document is {size:,} bytes, over the limit of {policy.max_evidence_bytes:,} bytes "
                "(policy max_evidence_bytes)")
    if size == 0:
        return "the document is empty"
    return None


def inspect_document(data: bytes, policy: Policy) -> DocumentVerdict:
    """Judge `data` by its content.  Parses untrusted bytes: only for the limited child (`check_document`) and
    tests."""
    try:
        too_big = size_refusal(len(data), policy)
        if too_big:
            raise _Refused(too_big)
        if data.startswith(b"%PDF-"):
            _inspect_pdf(data)
            return DocumentVerdict(DocumentType.PDF)
        if data.startswith(OLE_MAGIC):
            if "EncryptedPackage".encode("utf-16-le") in data:
                raise _Refused("the document is encrypted (password-protected): remove the password and attach "
                               "it again")
            raise _Refused("the document is a legacy Office file (.doc or .xls), which can carry macros unseen: "
                           f"save it as {ACCEPTED}")
        if data.startswith(b"PK\x03\x04"):
            return DocumentVerdict(_inspect_office(data, policy))
        raise _Refused(f"the document is not {ACCEPTED} (judged by its content, not its name)")
    except _Refused as refused:
        return DocumentVerdict(None, str(refused))
    except MemoryError:
        return DocumentVerdict(None, "the document needed more memory than a document may use "
                                     "(policy max_memory_bytes)")


def _inspect_office(data: bytes, policy: Policy) -> DocumentType:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, NotImplementedError):
        raise _Refused("the document is a damaged zip archive: it cannot be read") from None
    try:  # one archive, every byte accounted for: a second one could hide from this check (decision record 0057)
        _check_one_archive(data, zf.start_dir, infos)
    except FileRefused:
        raise _Refused("the document is a damaged zip archive (it holds bytes that belong to none of its parts, "
                       "or a second archive): save it again and attach it") from None
    if any(i.flag_bits & 0x1 for i in infos):
        raise _Refused("the document is encrypted (password-protected): remove the password and attach it again")
    declared_total = sum(i.file_size for i in infos)
    if declared_total > policy.max_uncompressed_bytes:
        raise _Refused(f"the document's parts would inflate to {declared_total:,} bytes, over the limit of "
                       f"{policy.max_uncompressed_bytes:,} bytes (a possible zip bomb)")
    for i in infos:
        ratio = i.file_size / i.compress_size if i.compress_size else (float("inf") if i.file_size else 0)
        if ratio > policy.max_compression_ratio:
            raise _Refused(f"part {i.filename[:60]} of the document is compressed {ratio:,.0f} to 1, over the limit "
                           f"of {policy.max_compression_ratio:g} to 1 (a possible zip bomb)")
    # Inflate every part, counting what comes out: a directory that lies about sizes is caught here
    # (zipfile stops each part at its declared size and checks its CRC).
    total = 0
    parts: dict[str, bytes] = {}
    for i in infos:
        try:
            with zf.open(i) as fh:
                keep = i.filename == "[Content_Types].xml"
                kept = bytearray()
                while chunk := fh.read(_CHUNK):
                    total += len(chunk)
                    if total > policy.max_uncompressed_bytes:
                        raise _Refused(f"the document's parts inflate to more than "
                                       f"{policy.max_uncompressed_bytes:,} bytes (a possible zip bomb)")
                    if keep:
                        kept += chunk
                if keep:
                    parts[i.filename] = bytes(kept)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError):
            raise _Refused(f"the document is damaged: part {i.filename[:60]} cannot be read") from None
    if "[Content_Types].xml" not in parts:
        raise _Refused(f"the document is a zip archive, not {ACCEPTED}")
    if part_nodes(parts["[Content_Types].xml"]) > policy.max_part_nodes:  # parsed whole: a tree of millions
        raise _Refused(f"the document's content types hold more than {policy.max_part_nodes:,} XML tags and "
                       "attributes (policy max_part_nodes); no office program writes so many")
    declared, by_extension = _content_types(parts["[Content_Types].xml"])
    names = [i.filename.lower() for i in infos]
    types = " ".join([*declared.values(), *by_extension.values(), parts["[Content_Types].xml"].decode("latin-1")
                      .lower()])
    if (any(n.rsplit("/", 1)[-1] == "vbaproject.bin" for n in names) or CT_VBA_PROJECT in types
            or "macroenabled" in types or "vbaproject" in types):
        raise _Refused("the document contains macros (a VBA project): save it without macros, as "
                       f"{ACCEPTED}")
    found = {kind for ctype, kind in _MAIN_TYPES.items() if ctype in declared.values()}
    if len(found) != 1:
        raise _Refused(f"the document is an Office file of another kind, not {ACCEPTED}")
    return DocumentType(found.pop())


def _inspect_pdf(data: bytes) -> None:
    from pypdf import PdfReader, apply_configuration
    from pypdf.errors import LimitReachedError, PyPdfError

    limit = MAX_PDF_INFLATED_OBJECTS + 1  # (one stream over the limit stops as soon as it is over)
    try:
        with apply_configuration(zlib_maximum_output_length=limit, lzw_maximum_output_length=limit,
                                 run_length_maximum_output_length=limit, brotli_maximum_output_length=limit,
                                 array_based_stream_maximum_output_length=limit):
            reader = PdfReader(io.BytesIO(data), strict=False)
            if reader.is_encrypted or "/Encrypt" in reader.trailer:
                raise _Refused("the PDF is encrypted (password-protected): remove the password and attach it again")
            _inflate_object_streams(reader)
            found = _active_content(reader.trailer)
        if found:
            raise _Refused(f"the PDF contains {found}, which a viewer could run or open: save it again without "
                           "it (printing to PDF removes it)")
        if len(reader.pages) < 1:
            raise _Refused("the PDF has no pages")
    except _Refused:
        raise
    except LimitReachedError:
        raise _inflated_too_much() from None
    except (PyPdfError, ValueError, TypeError, KeyError, AttributeError, IndexError, RecursionError,
            UnicodeError, OSError, AssertionError):
        raise _Refused("the PDF is damaged: it cannot be read") from None


def _inflated_too_much() -> _Refused:
    return _Refused(f"the PDF's compressed objects inflate to more than {MAX_PDF_INFLATED_OBJECTS:,} bytes, too "
                    "much to check safely: save it again (printing to PDF writes it plainly)")


def _inflate_object_streams(reader) -> None:
    """Inflate each object stream of the PDF once, within `MAX_PDF_INFLATED_OBJECTS` in all.

    Reading one object kept in an object stream inflates the whole stream, and pypdf keeps it; the walk for
    active content reads every object, so each stream's cost is paid here first, counted, and kept for it.
    (pypdf limits one stream, not their sum: a fresh attack named one object in each of five streams of 70 MB,
    and a 348 KB file took 25.7 s of processor time and 454 MB before it was accepted.)"""
    from pypdf.generic import StreamObject

    inflated = 0
    for number in sorted({stream for stream, _ in reader.xref_objStm.values()}):
        stream = reader.get_object(number)
        if isinstance(stream, StreamObject):
            inflated += len(stream.get_data())
            if inflated > MAX_PDF_INFLATED_OBJECTS:
                raise _inflated_too_much()


def _active_content(trailer) -> str | None:
    """What active content the PDF's object graph (from its trailer, as a viewer reads it) holds, in words."""
    from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject, StreamObject

    seen: set[tuple[int, int]] = set()
    stack = [trailer]
    walked = 0
    while stack:
        obj = stack.pop()
        if isinstance(obj, IndirectObject):
            key = (obj.idnum, obj.generation)
            if key in seen:
                continue
            seen.add(key)
            obj = obj.get_object()
        walked += 1
        if walked > MAX_PDF_OBJECTS:
            raise _Refused(f"the PDF holds more than {MAX_PDF_OBJECTS:,} objects, too many to check safely")
        if isinstance(obj, (DictionaryObject, StreamObject)):
            for name, value in obj.items():
                if name in _ACTIVE:
                    return _ACTIVE[name]
                if name == "/S" and isinstance(value, NameObject) and value in _ACTIVE:
                    return _ACTIVE[value]
                if name in ("/Type", "/Subtype") and isinstance(value, NameObject) and value in _ACTIVE:
                    return _ACTIVE[value]
                if name == "/Parent":
                    continue  # the page tree is walked from its root
                stack.append(value)
        elif isinstance(obj, ArrayObject):
            stack.extend(obj)
    return None


def check_document(data: bytes, policy: Policy, owner: str | tuple[str, str] = "") -> DocumentVerdict:
    """Judge a document in the limited child that checks workbooks, under the same limits; this process
    never parses it.  A child that crashes or runs out of a limit is a refusal naming the limit."""
    from isap.workbook import isolation

    too_big = size_refusal(len(data), policy)
    if too_big:
        return DocumentVerdict(None, too_big)
    # A document is checked within a smaller processor budget than a workbook: reading one is light, and a PDF
    # can be built to make its reader work on little (a chain of cross-reference streams, each inflating to
    # tens of megabytes, cost 3.8 s from 1.2 MB), so the budget bounds what no limit of the reader's does.
    limits = replace(isolation.Limits.from_policy(policy),
                                 cpu_seconds=min(policy.max_cpu_seconds, policy.max_evidence_cpu_seconds))
    outcome = isolation.run(inspect_document, (data, policy), limits, owner)
    if isinstance(outcome, isolation.Failure):
        if outcome.kind == "busy":
            return DocumentVerdict(None, "not checked: every checker stayed busy; nothing is wrong with the "
                                         "document, please attach it again in a few minutes")
        if outcome.kind in ("time", "cpu", "memory"):
            return DocumentVerdict(None, f"the document could not be checked within the limits: {outcome.detail}")
        return DocumentVerdict(None, "the document could not be read: the checker stopped on it")
    return outcome

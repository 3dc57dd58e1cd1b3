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
import logging
import re
import zipfile
from collections import Counter
from dataclasses import dataclass, field, replace
from enum import StrEnum
from xml.parsers import expat

from isap.policy import Policy
from isap.workbook.safety import (
    _WHOLE_PART_LIMIT,
    CT_VBA_PROJECT,
    OLE_MAGIC,
    REL_VBA_PROJECT,
    FileRefused,
    RelationshipsReader,
    RelationshipUses,
    _check_one_archive,
    _check_part_names,
    _content_types,
    _shown,
    internal_targets,
    part_nodes,
    source_part,
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
# Names in a PDF that make a viewer run code, start a program, carry another file or open one elsewhere.  A
# name anywhere in the document counts, as a key or as a value, however it is reached (an action's type kept in
# an object of its own, a form field reached only through a widget's /Parent): a fresh attack got JavaScript
# and a launch action past a walk that looked only at keys and at names written in place.
_ACTIVE = {"/JavaScript": "JavaScript", "/JS": "JavaScript", "/OnInstantiate": "JavaScript (in a 3D model)",
           "/XFA": "an XFA form (which can hold scripts)", "/Launch": "a launch action (it starts a program)",
           "/EmbeddedFile": "an embedded file", "/EmbeddedFiles": "an embedded file",
           "/EF": "an embedded file", "/FileAttachment": "an embedded file", "/RichMedia": "embedded media (Flash)",
           "/GoToR": "a link that opens another file", "/GoToE": "a link that opens an embedded file",
           "/ImportData": "an action that imports data from another file",
           "/SubmitForm": "a form action that sends the form elsewhere",
           "/Rendition": "a media action", "/Movie": "a media action", "/Sound": "a media action"}
# keys whose text names a file or address: one on another computer (a file URL, a UNC path) is refused, as some
# viewers send the reader's Windows sign-in to it
_FILE_KEYS = frozenset({"/URI", "/F", "/UF", "/DOS", "/Unix", "/Mac"})
_OTHER_COMPUTER = ("file:", "\\\\", "//", "smb:")
_WEB_LINKS = ("http://", "https://", "mailto:")


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
                                     "(policy max_evidence_memory_bytes)")


def _inspect_office(data: bytes, policy: Policy) -> DocumentType:
    zf, infos, found_in = _office_parts(data, policy)
    _refuse_active_office_content(zf, infos, found_in, policy, embedded_in=None)  # a macro-enabled type first
    declared, _ = _content_types(found_in.content_types)
    found = {kind for ctype, kind in _MAIN_TYPES.items() if ctype in declared.values()}
    if len(found) != 1:
        raise _Refused(f"the document is an Office file of another kind, not {ACCEPTED}")
    return DocumentType(found.pop())


def _office_parts(data: bytes, policy: Policy, embedded_in: str | None = None):
    """The package's zip archive and directory, and the parts kept to judge it (the content types and the
    relationships, by name), once every part has been inflated within the zip-bomb limits; also refused here
    are a damaged or second archive, encryption, and a part holding an OLE compound file (which can carry
    macros unseen), or a field that starts a program (DDE)."""
    where = f" of the embedded document {embedded_in[:60]}" if embedded_in else ""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, NotImplementedError):
        raise _Refused(f"the document{where} is a damaged zip archive: it cannot be read") from None
    try:  # one archive, every byte accounted for: a second one could hide from this check (decision record 0057)
        _check_one_archive(data, zf.start_dir, infos)
    except FileRefused:
        raise _Refused(f"the document{where} is a damaged zip archive (it holds bytes that belong to none of its "
                       "parts, or a second archive): save it again and attach it") from None
    try:  # one plain name a part, each once: readers disagree on which of two copies of a name they read
        _check_part_names(infos)
    except FileRefused as refused:
        why = refused.findings[0].message.removeprefix("The workbook is corrupt: ").rstrip(".")
        raise _Refused(f"the document{where} is damaged ({why}): save it again and attach it") from None
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
    parts: dict[str, object] = {}
    found = _Found()
    for i in infos:
        lower = i.filename.lower()
        rels = "/_rels/" in f"/{lower}" and lower.endswith(".rels")
        if rels and i.file_size > _WHOLE_PART_LIMIT:
            raise _Refused(f"part {i.filename[:60]} of the document is {i.file_size:,} bytes, over the limit of "
                           f"{_WHOLE_PART_LIMIT:,} for its kind")
        reader = RelationshipsReader(i.filename) if rels else None
        fields = _FieldCodes(i.filename) if _read_for_fields(lower) else None
        try:
            with zf.open(i) as fh:
                keep = i.filename == "[Content_Types].xml"
                kept = bytearray()
                first = True
                while chunk := fh.read(_CHUNK):
                    total += len(chunk)
                    if total > policy.max_uncompressed_bytes:
                        raise _Refused(f"the document's parts inflate to more than "
                                       f"{policy.max_uncompressed_bytes:,} bytes (a possible zip bomb)")
                    if first and chunk.startswith(OLE_MAGIC):
                        found.ole_parts.append(i.filename)
                    first = False
                    if keep:
                        kept += chunk
                    if reader is not None:
                        reader.feed(chunk)
                    if fields is not None:
                        fields.feed(chunk)
                if reader is not None:
                    reader.feed(b"", final=True)
                    found.relationships[i.filename] = reader.found
                    if reader.hyperlinks:
                        found.hyperlinks[i.filename] = reader.hyperlinks
                if fields is not None:
                    fields.feed(b"", final=True)
                    found.field = found.field or fields.found
                    found.link = found.link or fields.link
                if keep:
                    parts[i.filename] = bytes(kept)
        except FileRefused as refused:
            if any(f.rule_id == "WB003" for f in refused.findings):
                raise _Refused(f"part {i.filename[:60]} of the document names more macros, embedded objects or "
                               "outside files than are read") from None
            raise _Refused(f"the document is damaged: its part {i.filename[:60]} is not well-formed XML") from None
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError):
            raise _Refused(f"the document is damaged: part {i.filename[:60]} cannot be read") from None
    if "[Content_Types].xml" not in parts:
        raise _Refused(f"the document{where} is a zip archive, not an Office document")
    if part_nodes(parts["[Content_Types].xml"]) > policy.max_part_nodes:  # parsed whole: a tree of millions
        raise _Refused(f"the document's content types hold more than {policy.max_part_nodes:,} XML tags and "
                       "attributes (policy max_part_nodes); no office program writes so many")
    found.content_types = parts["[Content_Types].xml"]
    return zf, infos, found


@dataclass
class _Found:
    """What an Office package holds that decides whether it may be kept: its content types, the relationships
    that can name a macro, an object or an outside file (by relationships part), the parts that are OLE compound
    files, and whether a field starts a program."""

    content_types: bytes = b""
    relationships: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)
    hyperlinks: dict[str, dict[str, str]] = field(default_factory=dict)  # outside ones, by relationships part
    ole_parts: list[str] = field(default_factory=list)
    field: str = ""  # the first field that starts a program or fetches another file, by its name
    link: str = ""  # the target of the first HYPERLINK field that is not a web or mail address


def _active(what: str) -> str:
    return (f"the document contains {what}: Word and Excel could run it or reach another file through it; save it "
            f"again without it, as {ACCEPTED}")


def _refuse_active_office_content(zf: zipfile.ZipFile, infos, found: _Found, policy: Policy,
                                  embedded_in: str | None) -> None:
    """Refuse what makes Word or Excel run code, or reach another file, when the document is opened (decision
    record 0060): macros (a VBA project, a macro-enabled type, an Excel 4 macro sheet), an ActiveX control, an
    OLE object (embedded or linked), a link to another workbook, a relationship to any outside file other
    than a hyperlink (a remote template, a linked picture), and, within an embedded Office document, the same
    again.  The proposal workbook's scan only reports links and objects (WB010, a warning to reviewers); an
    evidence document has no findings to carry a warning, so it is refused."""
    declared, by_extension = _content_types(found.content_types)
    names = [i.filename.lower() for i in infos]
    types = " ".join([*declared.values(), *by_extension.values(), found.content_types.decode("latin-1").lower()])
    relationships = found.relationships
    kinds = [(kind.strip().lower(), target, mode) for rels in relationships.values() for kind, target, mode in rels]
    if (any(n.rsplit("/", 1)[-1] == "vbaproject.bin" for n in names) or CT_VBA_PROJECT in types
            or "macroenabled" in types or "vbaproject" in types
            or any(kind.endswith(REL_VBA_PROJECT) for kind, _, _ in kinds)):
        raise _Refused(f"the document contains macros (a VBA project): save it without macros, as {ACCEPTED}")
    if ("macrosheet" in types or any(n.startswith("xl/macrosheets/") for n in names)
            or any(kind.endswith(("/xlmacrosheet", "/xlintlmacrosheet")) for kind, _, _ in kinds)):
        raise _Refused(f"the document contains macros (an Excel 4 macro sheet): save it without macros, as "
                       f"{ACCEPTED}")
    if ("activex" in types or any("/activex/" in f"/{n}" for n in names)
            or any(kind.endswith("/control") for kind, _, _ in kinds)):
        raise _Refused(_active("an ActiveX control"))
    if found.ole_parts:
        raise _Refused(_active(f"an embedded OLE object (part {found.ole_parts[0][:60]}), which can carry macros "
                               "unseen"))
    if ("externallink" in types or any(n.startswith("xl/externallinks/") for n in names)
            or any(kind.endswith("/externallink") for kind, _, _ in kinds)):
        raise _Refused(_active("a link to another workbook"))
    if ("spreadsheetml.connections" in types or "xl/connections.xml" in names
            or any(kind.endswith("/connections") for kind, _, _ in kinds)):
        raise _Refused(_active("data connections (they fetch data from another file or server)"))
    if ("webextension" in types or any(n.rsplit("/", 2)[-2:-1] == ["webextensions"] for n in names)
            or any(kind.endswith(("/webextensiontaskpanes", "/webextension")) for kind, _, _ in kinds)):
        raise _Refused(_active("an Office add-in (it loads a web page as the document opens)"))
    if any(kind.endswith("/afchunk") for kind, _, _ in kinds):
        raise _Refused(_active("an imported document (altChunk), which Word merges in, unchecked, as it opens"))
    for kind, target, mode in kinds:
        if mode == "External" and kind.endswith("/attachedtemplate"):
            raise _Refused(f"the document is attached to a template kept outside it ({_shown(target)}), which Word "
                           "fetches, and may run, when the document opens: attach it as a PDF, or remove the "
                           "template in Word (Developer, Document Template) and save it again")
        if mode == "External":
            raise _Refused(_active(f"a link to the outside file {_shown(target)}"))
        if kind.endswith("/oleobject"):
            raise _Refused(_active("an embedded OLE object"))
    if "wordprocessingml" in types or "ms-word" in types:
        field, link = _fields_elsewhere(zf, infos)
        found.field, found.link = found.field or field, found.link or link
    if found.field:
        raise _Refused(_active(f"a field that starts a program or fetches another file ({found.field})"))
    if found.link:
        raise _not_web_link(found.link)
    _refuse_outside_hyperlinks(zf, infos, found.hyperlinks)
    for part in sorted(internal_targets(relationships, ("/package",))):
        info = next((i for i in infos if i.filename.lower() == part), None)
        if info is None:  # (Word would look for it otherwise than here: what it would open cannot be judged)
            raise _Refused(f"the document names an embedded object it does not hold ({part[:60]}): save it again and "
                           "attach it")
        if embedded_in is not None:
            raise _Refused(_active(f"a document embedded in an embedded document ({part[:60]})"))
        inner = zf.read(info)  # (inflated once already, within the limits)
        if not inner.startswith(b"PK\x03\x04"):
            raise _Refused(_active(f"an embedded object that is not an Office document ({part[:60]})"))
        inner_zf, inner_infos, inner_found = _office_parts(inner, policy, embedded_in=part)
        _refuse_active_office_content(inner_zf, inner_infos, inner_found, policy, embedded_in=part)




def _read_for_fields(lower: str) -> bool:
    """Whether a part (its name, lower case) is read for fields as the package is first inflated: where Word keeps
    its parts.  Word finds them by relationship and type, not by name, so in a Word document every other part is
    read for them too (`_fields_elsewhere`; found by a fresh attack: a DDE field in `doc/document.xml`, or in
    settings kept as `parts/s.xml`, was accepted)."""
    return lower.endswith(".xml") and lower.startswith("word/")


def _fields_elsewhere(zf: zipfile.ZipFile, infos) -> tuple[str, str]:
    """The first field that starts a program or fetches another file, and the first HYPERLINK field's target that
    is not a web or mail address (see `_FieldCodes`), in the parts of a Word document kept elsewhere than where
    Word keeps its parts; "" for none.  Relationships and content types are
    not read (they hold no fields); a part that is not XML stops its reader at its first bytes."""
    for i in infos:
        lower = i.filename.lower()
        if i.is_dir() or _read_for_fields(lower) or lower == "[content_types].xml" or (
                "/_rels/" in f"/{lower}" and lower.endswith(".rels")):
            continue
        fields = _FieldCodes(i.filename)
        with zf.open(i) as fh:  # (inflated once already, within the limits)
            while (chunk := fh.read(_CHUNK)) and not fields.broken:
                fields.feed(chunk)
        fields.feed(b"", final=True)
        if fields.found or fields.link:
            return fields.found, fields.link
    return "", ""


def _refuse_outside_hyperlinks(zf: zipfile.ZipFile, infos, hyperlinks: dict[str, dict[str, str]]) -> None:
    """Refuse a document that uses a relationship typed as a hyperlink to an outside target otherwise than as a
    hyperlink (a picture fetched from a file share as the document opens): what uses it decides, not its type;
    and, as in a PDF, a hyperlink that is not a web or mail address (Word hands any other to the system when it
    is clicked: a file share sends the reader's sign-in, `ms-msdt:` ran a program)."""
    by_lower = {i.filename.lower(): i for i in reversed(infos) if not i.is_dir()}
    for rels, watched in hyperlinks.items():
        owner = source_part(rels)
        info = by_lower.get(owner.lower()) if owner else None
        if info is None:
            continue
        uses = RelationshipUses(info.filename, watched)
        with zf.open(info) as fh:  # (inflated once already, within the limits)
            while (chunk := fh.read(_CHUNK)) and not uses.unreadable:
                uses.feed(chunk)
        uses.feed(b"", final=True)
        if uses.unreadable:
            raise _Refused(f"the document is damaged: its part {info.filename[:60]} is not well-formed XML, so how "
                           "it uses its links cannot be seen")
        if uses.used:
            raise _Refused(_active(f"a link to the outside file {_shown(watched[next(iter(uses.used))])}"))
    for watched in hyperlinks.values():
        for target in watched.values():
            if not _web_link(target):
                raise _not_web_link(target)


def _attribute(attrs: dict[str, str], local: str) -> str:
    """An attribute by its local name, whatever its namespace."""
    return next((v for k, v in attrs.items() if k.rpartition(" ")[2] == local), "")


# fields that start a program (DDE), run a command or macro when double-clicked (MACROBUTTON), send their text to
# the printer as printer instructions (PRINT), or fetch another file or picture as the document opens or updates
_REACHING_FIELD = re.compile(r"^\s*(DDEAUTO|DDE|MACROBUTTON|PRINT|INCLUDETEXT|INCLUDEPICTURE|INCLUDE|IMPORT|LINK|"
                             r"DATABASE|RD)\b", re.IGNORECASE)


# a HYPERLINK field, whose target is written in its code (Word follows it when clicked, as a relationship's)
_HYPERLINK_FIELD = re.compile(r"^\s*HYPERLINK\b(.*)$", re.IGNORECASE | re.DOTALL)
_FIELD_ARGUMENT = re.compile(r'"([^"]*)"|(\S+)')
_SWITCHES_WITH_ARGUMENT = frozenset({"\\l", "\\o", "\\t"})


def _hyperlink_field_target(arguments: str) -> str | None:
    """The target a HYPERLINK field's arguments name (its first argument that is not a switch or a switch's own:
    `\\l` a place within the document, `\\o` a tip, `\\t` a frame), or None when it names only a place within."""
    skip = False
    for quoted, bare in _FIELD_ARGUMENT.findall(arguments):
        if skip:
            skip = False
            continue
        if not quoted and bare.startswith("\\"):
            skip = bare.lower() in _SWITCHES_WITH_ARGUMENT
            continue
        return quoted or bare
    return None


def _web_link(target: str) -> bool:
    """Whether a link's target is a web or mail address (`http:`, `https:`, `mailto:`), however spaced."""
    return re.sub(r"[\x00-\x20]", "", target).lower().startswith(_WEB_LINKS)


def _not_web_link(target: str) -> _Refused:
    return _Refused(f"the document contains a link that is not a web or mail address ({_shown(target)}): remove it, "
                    "or attach the document as a PDF whose links are web addresses")


class _FieldCodes:
    """Reads a Word part as it is inflated, and notes a field that starts a program (DDE, DDEAUTO) or fetches
    another file or picture (INCLUDETEXT, INCLUDEPICTURE, IMPORT, LINK, DATABASE, RD), and a field whose kind
    is itself computed by a field nested at the start of its code (`{ {QUOTE 68 68 69 …} … }`, a published way
    of hiding a DDE field).  A field's code is the text of its `instrText` runs joined, as Word joins them
    however they are split, up to its `separate` or `end`; a simple field's is its `instr`.  A part that is not
    well-formed XML is left to Word to refuse."""

    def __init__(self, name: str):
        self.name = name
        self._parser = expat.ParserCreate(namespace_separator=" ")
        self._parser.StartElementHandler = self._start
        self._parser.EndElementHandler = self._end
        self._parser.CharacterDataHandler = self._text
        self._parser.StartDoctypeDeclHandler = self._declaration
        self._in_text = 0
        self._fields: list[list[str]] = []  # the code read so far of each complex field whose code is open
        self._loose: list[str] = []  # code text outside any field (Word would not run it; read all the same)
        self.broken = False
        self.found = ""  # the name of the first field whose code starts a program or fetches another file
        self.link = ""  # the target of the first HYPERLINK field that is not a web or mail address

    def feed(self, chunk: bytes, final: bool = False) -> None:
        if self.broken:
            return
        try:
            self._parser.Parse(chunk, final)
        except (expat.ExpatError, LookupError):
            self.broken = True
        if final:
            while self._fields:
                self._field("".join(self._fields.pop()))
            self._field("".join(self._loose))

    # Elements and attributes go by their local names, whatever their namespace: a document in the Strict
    # namespace had its fields read by Word and missed here.
    def _start(self, name: str, attrs: dict[str, str]) -> None:
        local = name.rpartition(" ")[2]
        if local == "instrText":
            self._in_text += 1
        elif local == "fldSimple":
            self._nested()
            self._field(_attribute(attrs, "instr"))
        elif local == "fldChar":
            kind = _attribute(attrs, "fldCharType")
            if kind == "begin":
                self._nested()
                self._fields.append([])
            elif kind in ("separate", "end") and self._fields:
                self._field("".join(self._fields.pop()))
        elif local == "mailMerge" and not self.found:
            self.found = "a mail merge from a data source"

    def _nested(self) -> None:
        """A field starts: within a field's code that has no words yet, it computes that field's kind."""
        if self._fields and not "".join(self._fields[-1]).strip() and not self.found:
            self.found = "its kind computed by another field, as hidden DDE fields are written"

    def _end(self, name: str) -> None:
        if name.rpartition(" ")[2] == "instrText":
            self._in_text -= 1

    def _text(self, text: str) -> None:
        if self._in_text:
            code = self._fields[-1] if self._fields else self._loose
            if not code:  # white space before a code's first word names nothing: not kept, so it cannot push the
                text = text.lstrip()  # word past what is kept (5,000 spaces hid a DDEAUTO: found by a fresh attack)
                if not text:
                    return
            if sum(map(len, code)) < 4096:  # the start of a field's code is what names it
                code.append(text)

    def _field(self, code: str) -> None:
        reaching = _REACHING_FIELD.match(code)
        if reaching and not self.found:
            self.found = reaching.group(1).upper()
        link = _HYPERLINK_FIELD.match(code)
        if link and not self.link:
            target = _hyperlink_field_target(link.group(1))
            if target is not None and not _web_link(target):
                self.link = target

    def _declaration(self, *_) -> None:
        self.broken = True


def _inspect_pdf(data: bytes) -> None:
    from pypdf import PdfReader, apply_configuration
    from pypdf.errors import LimitReachedError, PyPdfError

    limit = MAX_PDF_INFLATED_OBJECTS + 1  # (one stream over the limit stops as soon as it is over)
    try:
        with apply_configuration(zlib_maximum_output_length=limit, lzw_maximum_output_length=limit,
                                 run_length_maximum_output_length=limit, brotli_maximum_output_length=limit,
                                 array_based_stream_maximum_output_length=limit):
            with _ReadingNotes() as notes:
                reader = PdfReader(io.BytesIO(data), strict=False)
                if reader.is_encrypted or "/Encrypt" in reader.trailer:
                    raise _Refused("the PDF is encrypted (password-protected): remove the password and attach it "
                                   "again")
                _inflate_object_streams(reader)
                found = _active_content(reader.trailer)
                pages = len(reader.pages)
        if notes.keys:
            raise _Refused(f"the PDF names a key twice in one dictionary ({_shown(notes.keys[0])}), which PDF "
                           "viewers read differently (one the first, another the last): save it again (printing to "
                           "PDF writes it plainly)")
        if (twice := notes.defined_twice(data)) is not None:
            raise _Refused(f"the PDF defines object {twice} twice and its cross-reference table does not say which "
                           "is meant, which PDF viewers read differently (one the first, another the last): save it "
                           "again (printing to PDF writes it plainly)")
        if found:
            raise _Refused(f"the PDF contains {found}, which a viewer could run or open: save it again without "
                           "it (printing to PDF removes it)")
        if pages < 1:
            raise _Refused("the PDF has no pages")
    except _Refused:
        raise
    except LimitReachedError as limit_reached:
        if "decompressing" in str(limit_reached):  # (pypdf's words for a stream that inflates past its limit)
            raise _inflated_too_much() from None
        raise _Refused("the PDF holds more than a reader may safely read (a stream, array or dictionary over the "
                       "limits of the PDF reader): save it again (printing to PDF writes it plainly)") from None
    except (PyPdfError, ValueError, TypeError, KeyError, AttributeError, IndexError, RecursionError,
            UnicodeError, OSError, AssertionError):
        raise _Refused("the PDF is damaged: it cannot be read") from None


# an object's definition, as pypdf searches for one: its number and generation
_OBJECT_HEADER = re.compile(rb"(?<![0-9])([0-9]+)\s+([0-9]+)\s+obj\b")


class _ReadingNotes(logging.Handler):
    """What pypdf chose, as it read, where other readers choose otherwise, heard from its log (it says so nowhere
    else; found by fresh attacks):
    - `keys`: the keys given twice in one dictionary: pypdf keeps the first value, poppler the last, so a harmless
      first `/OpenAction`, `/S` or `/Names` hid a script or a launch action from the walk;
    - `repaired`: the objects a cross-reference entry pointed at wrongly, which pypdf then found by searching the
      file for their first definition, where poppler takes the last: a web link defined first hid a script."""

    _SOURCE = "pypdf"

    def __init__(self):
        super().__init__(logging.WARNING)
        self.keys: list[str] = []
        self.repaired: set[tuple[int, int]] = set()
        self._log = logging.getLogger(self._SOURCE)

    def emit(self, record: logging.LogRecord) -> None:
        message, values = str(record.msg), record.args
        if not isinstance(values, dict):
            return
        if message.startswith("Multiple definitions in dictionary"):
            self.keys.append(str(values.get("key", "")))
        elif message.startswith("Object") and message.endswith(("ref repaired", "found")):
            self.repaired.add((int(values.get("idnum", -1)), int(values.get("generation", -1))))

    def defined_twice(self, data: bytes) -> int | None:
        """The first object pypdf found by searching that the file defines more than once, if any."""
        if not self.repaired:
            return None
        # (every definition counted in one pass: a file whose every object is repaired is read once, not once each)
        # (as numbers: `004 0 obj` is object 4 to poppler)
        defined = Counter((int(number), int(generation)) for number, generation in _OBJECT_HEADER.findall(data))
        return next((number for number, generation in sorted(self.repaired) if defined[(number, generation)] > 1),
                    None)

    def __enter__(self) -> "_ReadingNotes":
        self._level = self._log.level
        self._log.setLevel(logging.WARNING)  # (heard whatever the level the application gives pypdf's log)
        self._log.addHandler(self)
        return self

    def __exit__(self, *exc) -> None:
        self._log.removeHandler(self)
        self._log.setLevel(self._level)


def _inflated_too_much() -> _Refused:
    return _Refused(f"the PDF's compressed parts inflate to more than {MAX_PDF_INFLATED_OBJECTS:,} bytes, too "
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
        if isinstance(obj, NameObject):
            if obj in _ACTIVE:
                return _ACTIVE[obj]
        elif isinstance(obj, (DictionaryObject, StreamObject)):
            for name, value in obj.items():
                if name in _ACTIVE:
                    return _ACTIVE[name]
                if name in _ACTION_KEYS:
                    refused = _refused_action(value, every=name == "/AA")
                    if refused:
                        return refused
                if name in _FILE_KEYS:
                    target = value.get_object() if isinstance(value, IndirectObject) else value
                    if isinstance(target, bytes):
                        target = target.decode("latin-1")
                    if isinstance(target, str) and target.strip().lower().startswith(_OTHER_COMPUTER):
                        return f"a link to a file on another computer ({_shown(str(target))})"
                    if (name == "/URI" and isinstance(target, str)
                            and not _web_link(target)):
                        # a viewer hands any other scheme to the system (ms-msdt:, search-ms: with a share in it)
                        return f"a link that is not a web or mail address ({_shown(str(target))})"
                stack.append(value)
        elif isinstance(obj, ArrayObject):
            stack.extend(obj)
    return None


# Where a PDF names an action (a link's, the document's on opening, an event's, the one that follows another), and
# the only kinds of action accepted: moving within the document, a web link, a viewer's own command, and showing,
# hiding or resetting what the document holds.  Any other kind, named or not, is refused: a list of the harmful
# ones was outrun twice by kinds it did not name (an article action opening another file, a media action).
_ACTION_KEYS = frozenset({"/A", "/OpenAction", "/AA", "/Next"})
_ACTION_WORDS = {"/Thread": "an article action that opens another file"}  # (a /Thread that is no action is harmless)
_PLAIN_ACTIONS = frozenset({"/GoTo", "/URI", "/Named", "/ResetForm", "/Hide", "/SetOCGState", "/Trans",
                            "/GoTo3DView"})


def _refused_action(value, every: bool = False, depth: int = 0) -> str | None:
    """Words for the first action `value` names that is not of a plain kind, or None.  `every`: `value` maps
    events to actions (`/AA`).  An action's `/Next` is followed, a few deep (the walk reaches the rest)."""
    from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject

    value = value.get_object() if isinstance(value, IndirectObject) else value
    if depth > 8:
        return None
    if every and isinstance(value, DictionaryObject):
        return next((r for v in value.values() if (r := _refused_action(v, depth=depth + 1))), None)
    if isinstance(value, ArrayObject):  # (an action's /Next may list several)
        return next((r for v in value if (r := _refused_action(v, depth=depth + 1))), None)
    if not isinstance(value, DictionaryObject) or "/S" not in value:
        return None  # a destination (/A of a link may be one), or no action at all
    kind = value["/S"].get_object() if isinstance(value["/S"], IndirectObject) else value["/S"]
    if not isinstance(kind, NameObject) or kind not in _PLAIN_ACTIONS:
        return _ACTIVE.get(kind) or _ACTION_WORDS.get(kind) or (
            f"an action of a kind a viewer may use to run or open something ({_shown(str(kind))})")
    return _refused_action(value["/Next"], depth=depth + 1) if "/Next" in value else None


def check_document(data: bytes, policy: Policy, owner: str | tuple[str, str] = "") -> DocumentVerdict:
    """Judge a document in the limited child that checks workbooks, under the same limits; this process
    never parses it.  A child that crashes or runs out of a limit is a refusal naming the limit."""
    from isap.workbook import isolation

    too_big = size_refusal(len(data), policy)
    if too_big:
        return DocumentVerdict(None, too_big)
    # A document is checked within a smaller processor budget than a workbook, and may add only so much memory
    # to its child: reading one is light, and a PDF can be built to make its reader work on little (a chain of
    # cross-reference streams, each inflating to tens of megabytes, cost 3.8 s from 1.2 MB; one object of
    # millions of empty arrays, 880 MB from 24 MB), so the budgets bound what no limit of the reader's does.
    limits = replace(isolation.Limits.from_policy(policy),
                     cpu_seconds=min(policy.max_cpu_seconds, policy.max_evidence_cpu_seconds),
                     memory_growth_bytes=policy.max_evidence_memory_bytes)
    outcome = isolation.run(inspect_document, (data, policy), limits, owner)
    if isinstance(outcome, isolation.Failure):
        if outcome.kind == "busy":
            return DocumentVerdict(None, "not checked: every checker stayed busy; nothing is wrong with the "
                                         "document, please attach it again in a few minutes")
        if outcome.kind in ("time", "cpu", "memory"):
            return DocumentVerdict(None, f"the document could not be checked within the limits: {outcome.detail}")
        return DocumentVerdict(None, "the document could not be read: the checker stopped on it")
    return outcome

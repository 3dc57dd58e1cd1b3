"""File safety: decide whether an uploaded file may be parsed at all.

Every upload is treated as hostile.  Before any XML parser or spreadsheet
library sees the file, this module looks at the bytes and the zip container
itself: size, type, encryption, macros, declared and *actually inflated*
sizes, compression ratios, DTDs and entities, and the real extent of every
sheet (a two-cell sheet spanning A1:XFD1048576 would make a dense reader
allocate hundreds of gigabytes).  Parts are inflated here with zlib, capped
at the size the zip directory declares, so a lying directory is caught too.

The result is either WB001–WB003 findings (the file is not assessed further)
or an `Inspection` that the reader can trust.  An inspection also carries WB010:
what the package links to outside itself or embeds (external link parts, OLE
objects, ActiveX controls).  Those do not stop the assessment, but whoever
opens the original in a spreadsheet program may make it reach out to a server
or run the object, so reviewers are told first, from this same bounded scan.
"""

from __future__ import annotations

import codecs
import functools
import hashlib
import io
import math
import re
import stat
import struct
import time
import zipfile
import zlib
from array import array
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Callable
from urllib.parse import unquote
from xml.etree.ElementTree import ParseError
from xml.parsers import expat

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as safe_fromstring
from defusedxml.ElementTree import iterparse as safe_iterparse

from isap.policy import Policy
from isap.workbook.findings import Finding
from isap.workbook.reading_rules import reading_finding
from isap.workbook.values import clip

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
CHUNK = 1 << 20
# DTDs and entity declarations in UTF-8 and in UTF-16 (either byte order).
_MARKERS = tuple(
    m.encode(enc) for m in ("<!DOCTYPE", "<!ENTITY") for enc in ("utf-8", "utf-16-le", "utf-16-be")
)
_MARKER_TAIL = max(len(m) for m in _MARKERS)
_XML_SUFFIXES = (".xml", ".rels", ".vml")
# The canonical spelling of a cell that holds a value, as Excel, openpyxl, LibreOffice and
# Gnumeric write it: `r` first, then `s`, then `t`, one child read by the reader as a value.
# Groups: column letters, row number.  A cell matched here is exactly a cell calamine reads.
_CANON_VALUE = re.compile(
    rb'<c r="([A-Z]{1,3})([1-9][0-9]{0,6})"(?: s="[0-9]{1,9}")?(?: t="str"><v>[^<&][^<]*</v>|'
    rb' t="inlineStr"><is><t(?: xml:space="preserve")?>[^<]*</t></is>| t="s"><v>[0-9]{1,10}</v>|'
    rb'(?: t="(?:n|d|inlineStr)")?><v>[0-9.+\-:TZ]{1,64}(?:[eE](?:\+?[0-9]{1,2}|-[0-9]{1,3}))?</v>|'
    rb' t="b"><v>[01]</v>)</c>')
# (the reader reads a value other than a formula's text only up to its first character reference: `1&#48;` is 1
# to it, 10 to a parser; so an `&` is canonical only in a formula's text, `t="str"`.  And it keeps a value it
# cannot read as a number, or any `t="d"` value, as a text: other values are canonical only when shaped as a
# number, a shared string's number, a boolean or an ISO date, so that a text there is counted, exactly)
# (the reader ignores a <v> in an inline string cell: such a cell is left to the exact parse; an inline text is
# canonical only in a cell typed as one, since spreadsheet programs show any other such cell empty)
# (a number of at most 64 characters and an exponent of at most two digits, or three below zero: none past the
# largest number the reader holds; a yes or no only as 0 or 1, the reader taking any other value as yes,
# LibreOffice `true` as no.  Any other is measured exactly, and refused there if the reader would misread it)
# What the reader takes as a number and no spreadsheet program writes as one:
_NOT_A_NUMBER = re.compile(r"[+-]?(?:inf|infinity|nan)", re.IGNORECASE)
_INLINE_V = b'"inlineStr"><v>'
# ... and of a cell that is only formatted (self-closing: the reader sees nothing).
# (an empty group: findall then lists one shared empty bytes object per match, nothing to allocate)
_CANON_EMPTY = re.compile(
    rb'<c r="[A-Z]{1,3}[1-9][0-9]{0,6}"(?: s="[0-9]{1,9}")?(?: t="(?:n|s|b|str|d|inlineStr)")? ?/>()')
# A row as spreadsheet programs write it, measured whole: its `r` first, then one or more canonical value
# cells, each naming the row's own number (the backreference) in a column no later than those already seen
# (`_COLUMNS_SEEN`, filled in per sheet by `_rows_within`).  Group 1: the row's number.  The second
# alternative finds what such rows do not explain: a cell or row tag of any other spelling or place, a
# `<rowBreaks`, an end tag of a row with no start (group 2 is then not empty).
# (the possessive repeat keeps no state per cell; a row's attributes cannot run past its tag)
# Its cells' texts are at most `CELL_TEXT_CHARS` bytes: a row with a longer one is measured cell by cell, where
# `_LONG_TEXT` finds whether it holds more characters than Excel allows.
# Its cells are `_CANON_VALUE`'s but for an inline string cell holding a `<v>` (which the reader ignores):
# such a cell is not matched, so the row is measured cell by cell, where `_INLINE_V` sends it to the exact parse.
_CANON_ROW = (rb'<(?:row r="([1-9][0-9]{0,6})"(?: [^<>/]*)?>(?:<c r="_COLUMNS_SEEN\1"(?: s="[0-9]{1,9}")?'
              rb'(?: t="inlineStr"><is><t(?: xml:space="preserve")?>[^<]{0,32767}</t></is>|'
              rb' t="str"><v>[^<&][^<]{0,32766}</v>| t="s"><v>[0-9]{1,10}</v>|'
              rb'(?: t="(?:n|d)")?><v>[0-9.+\-:TZ]{1,64}(?:[eE](?:\+?[0-9]{1,2}|-[0-9]{1,3}))?</v>|'
              rb' t="b"><v>[01]</v>)</c>)++</row>|'
              rb'(c[\s/>]|row|/row>))')
_CANON_ROWS = re.compile(_CANON_ROW.replace(b"_COLUMNS_SEEN", b"[A-Z]{1,3}"))
# Cell start tags the canonical patterns do not cover: the chunk is then measured exactly.
_ODD_CELL_TAG = re.compile(rb"<c[>/\t\n\r]")
_PREFIXED_CELL = re.compile(rb"<[^\s<>/]*:c[\s/>]")
# Formula or error cells need the exact parse (their values are not what the reader shows);
# comments, CDATA and processing instructions could hide or fake a tag from a byte pattern.
_CUSTOM_ROW = (b'customFormat="1"', b'customFormat="true"')
# the values of a yes-or-no attribute spreadsheet programs write (LibreOffice reads `on`, `t` or any number but 0
# as yes, isap only these: another is WB001)
_PLAIN_BOOLEANS = frozenset({"0", "1", "true", "false"})
_PLAIN_CUSTOM_ROW = (*_CUSTOM_ROW, b'customFormat="0"', b'customFormat="false"')
# A row with a custom format (its style then applies to its cells without a style of their own),
# and a number cell without a style of its own: groups are row numbers.
_CANON_CUSTOM_ROW = re.compile(
    rb'<row r="([1-9][0-9]{0,6})"(?: spans="[0-9:]{1,20}")? s="([0-9]{1,9})" customFormat="(?:1|true)"[^<>]{0,2000}>')
_CANON_NUMBER_NO_STYLE = re.compile(rb'<c r="[A-Z]{1,3}([1-9][0-9]{0,6})"(?: t="n")?><v>')
# (no "<" in the attribute run: each match attempt then ends at the next tag, never rescanning
# the same bytes from every "<col" of a run of unclosed ones)
_COL_STYLE = re.compile(rb'<col\b[^<>]{0,2000}?\bstyle="([0-9]{1,9})"')
# A cell or row reference as the reader accepts it: letters in either case, digits with any
# leading zeros.  Anything else, or a position outside Excel's grid, is refused (WB001).
# (never starting inside a run of letters, so a search cannot rescan the run from each of its letters)
_REF = re.compile(r"(?<![A-Za-z])([A-Za-z]*)([0-9]+)")
MAX_ROW = 1_048_576
MAX_COL = 16_384
_SAFE_PART = re.compile(r"[A-Za-z0-9_\-.\[\]/ %~@+=,;'()!$&]+")

NS_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
NS_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
NS_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
# Strict Open XML (ECMA-376 Part 1, Strict) moves every markup namespace and relationship type here.
NS_STRICT = "http://purl.oclc.org/ooxml/"
CT_VBA_PROJECT = "application/vnd.ms-office.vbaproject"
REL_VBA_PROJECT = "/vbaproject"  # the end of the relationship type, compared in lower case
# The start of a worksheet part the fast path reads: an optional UTF-8 byte-order mark, an optional XML
# declaration, then the unprefixed root.  Anything else before the root is left to the exact parse.
_ROOT_START = re.compile(rb"(?:\xef\xbb\xbf)?(?:<\?xml\s[^<>]*\?>)?\s*<worksheet[\s>]")
_ROOT_END = b"</worksheet>"
# a default namespace declaration: the fast path takes a part whose unprefixed elements are all of the spreadsheet
# namespace (the reader reads by local names, spreadsheet programs skip another namespace's)
_DEFAULT_NAMESPACE = re.compile(rb"""xmlns\s*=\s*(["'])(.*?)\1""", re.DOTALL)
_MAIN_NS_BYTES = NS_MAIN.encode()
_SELF_CLOSED_ROW = re.compile(rb"<row(?:\s[^<>]*)?/>")
# How far into a part its encoding is looked for: the byte-order mark and the whole XML declaration.
_HEAD = 4096
_DECLARATION = re.compile(rb"<\?xml\s[^<>]*?\?>")
_DECLARED_ENCODING = re.compile(rb"""\sencoding\s*=\s*(?:"([^"]*)"|'([^']*)')""")
# Excel's own maximum for the text of one cell ("Total number of characters that a cell can contain",
# Excel specifications and limits): no spreadsheet program writes a longer one, and one far longer is
# a small file that fills gigabytes once read.
CELL_TEXT_CHARS = 32_767
# The text a canonical cell gives the reader as a string: an inline string's, or a formula's text result.
_CELL_TEXT = re.compile(rb'(?:<is><t(?: xml:space="preserve")?>|t="str"><v>)([^<]*)<')
# ... and the same with the cell's reference, looked for only when a chunk holds a text longer than Excel allows.
# (the length in a lookahead: a pattern needing thousands of bytes would skip short input untried, and a
# test of its linear time could not tell)
_LONG_CELL_TEXT = re.compile(rb'<c r="([A-Z]{1,3}[1-9][0-9]{0,6})"[^<>]*>(?:<is><t[^<>]*>|<v>)(?=[^<]{%d})'
                             rb'([^<]*)<' % (CELL_TEXT_CHARS + 1))
_LONG_TEXT = re.compile(rb">(?=[^<]{%d})" % CELL_TEXT_CHARS)  # a text as long, in bytes, as a cell's may be
# The tags around an inline string's text, as spreadsheet programs write them: never text, which holds no "<".
_INLINE_OPEN = b'"inlineStr"><is><t>'
_INLINE_CLOSE = b"</t></is></c>"
_CONTINUATION = bytes(range(0x80, 0xC0))  # UTF-8 bytes that continue a character
_ENTITY = re.compile(rb"&[^;&<]*;")
# the lead bytes of a character above U+FFFF, each looked for on its own (a search for one byte is memchr-fast)
_ABOVE_BMP_LEADS = (b"\xf0", b"\xf1", b"\xf2", b"\xf3", b"\xf4")
_ABOVE_LATIN1 = re.compile(rb"[\xc4-\xef]")  # a character from U+0100 to U+FFFF


class FileRefused(Exception):
    """The file cannot be assessed; carries its WB001–WB003 findings."""

    def __init__(self, findings: list[Finding]):
        super().__init__("; ".join(f.message for f in findings))
        self.findings = findings


def file_finding(rule_id: str, message: str) -> Finding:
    """A finding about the whole file (sheet, row, column and cell null), built by its rule."""
    return reading_finding(rule_id, None, None, None, None, message)


def wb001(message: str) -> FileRefused:
    return FileRefused([file_finding("WB001", message)])


@dataclass(frozen=True, slots=True)
class SpecialCell:
    """A cell whose value calamine cannot show: an error value or a formula with no cached value.  One instance
    stands for every cell of a kind and literal (`_scan_cells`): 1.8 million error cells, one object each, held
    630 MB."""

    kind: str  # "error" | "no_cached_value"
    literal: str = ""


_NO_CACHED_VALUE = SpecialCell("no_cached_value")


@dataclass
class SheetScan:
    name: str
    part: str
    is_worksheet: bool
    state: str = "visible"
    kind: str = "worksheet"  # worksheet | chartsheet | dialogsheet | macrosheet | other
    max_row: int = 0  # 1-based extent of cells that hold a value or a formula
    max_col: int = 0
    rows_with_values: int = 0
    needs_cell_scan: bool = False
    special: dict[tuple[int, int], SpecialCell] = field(default_factory=dict)  # (row0, col0)
    # cells with no style of their own whose row's or column's style is a date format (row0, col0)
    inherited_dates: set[tuple[int, int]] = field(default_factory=set)
    read_name: str = ""  # the name under which the reader finds this very sheet in `Inspection.reading_data`
    tags: int = 0  # "<" in a part the exact parse measures: what measuring it tag by tag will cost (0 if measured fast)
    shared_cells: int = 0  # cells typed as shared strings (t="s"), at most: each becomes a copy of its entry's text
    # the bytes the reader's strings take for the sheet's own text (inline strings, formula text results),
    # at most: 1, 2 or 4 a character, as Python holds a text by its widest character (see `_held_bytes`);
    # counted cell by cell when `text_counted`, else a bound from the sheet's bytes (see `_scan_sheet`)
    text_bytes: int = 0
    text_counted: bool = False
    # the value cells the reader reads, each time a reference is repeated: a row naming A7 10,000 times is one
    # cell of the sheet's area, 10,000 cells to the reader (10.5 million from a 9 MB file)
    cells: int = 0
    # WB010: the first formula found reaching outside the workbook, (what, where), and how many more did
    reach: tuple[str, str] | None = None
    more_reaches: int = 0


@dataclass
class Inspection:
    path: str
    data: bytes
    sha256: str
    sheets: list[SheetScan]
    date1904: bool = False
    # the package as the reader is given it: a copy of the measured parts' stored bytes in one plain
    # zip archive, or the same sheets rewritten so that each is found under a name no other part shares
    # (see `_reading_package`)
    reading_data: bytes = b""
    # WB010, one per external link part or embedded object, in package order (see `_outside_content`)
    outside_content: list[Finding] = field(default_factory=list)
    # the shared strings part's size, inflated: each reader that opens the workbook holds a copy of it
    shared_strings_bytes: int = 0


class _Budget:
    """The scan's time: wall-clock seconds for the whole file, and processor seconds of the scan itself.

    Processor time is the scanning thread's own (`time.thread_time`): the reader may already be
    reading measured sheets on other threads, and a loaded machine stretches the wall clock, not it."""

    def __init__(self, seconds: float, cpu_seconds: float = math.inf):
        self.deadline = time.monotonic() + seconds
        self.seconds = seconds
        self.cpu_seconds = cpu_seconds
        self.cpu_deadline = time.thread_time() + cpu_seconds

    def check(self) -> None:
        if time.monotonic() > self.deadline:
            raise FileRefused([file_finding(
                "WB003", f"The workbook could not be assessed within the time limit of {self.seconds:g} "
                         f"second{'' if self.seconds == 1 else 's'}.")])
        if time.thread_time() > self.cpu_deadline:
            raise FileRefused([file_finding(
                "WB003", f"The workbook could not be measured within the {self.cpu_seconds:g} seconds of processor "
                         "time the safety scan may use (policy max_scan_cpu_seconds).")])


def read_file(path: str | Path, policy: Policy) -> tuple[bytes, str]:
    """The file's bytes and SHA-256, with the size limit checked before it is opened."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise wb001(f"The file {str(path)!r} does not exist.") from None
    except OSError as exc:
        raise wb001(f"The file {str(path)!r} cannot be read: {exc.strerror or exc}.") from None
    if not p.is_file():
        raise wb001(f"{str(path)!r} is not a file.")
    if st.st_size > policy.max_file_bytes:
        raise FileRefused([file_finding(
            "WB003",
            f"The file is {st.st_size:,} bytes, over the limit of {policy.max_file_bytes:,} bytes.")])
    try:
        with open(p, "rb") as fh:
            data = fh.read(policy.max_file_bytes + 1)
    except OSError as exc:
        raise wb001(f"The file {str(path)!r} cannot be read: {exc.strerror or exc}.") from None
    if len(data) > policy.max_file_bytes:  # grew while we looked
        raise FileRefused([file_finding("WB003", f"The file is over the limit of {policy.max_file_bytes:,} bytes.")])
    return data, hashlib.sha256(data).hexdigest()


def _describe_non_zip(data: bytes) -> str:
    if not data:
        return "The file is empty: it is not an Excel workbook (.xlsx)."
    if data.startswith(OLE_MAGIC):
        return ("The file is a legacy Excel (.xls) file or a password-protected (encrypted) workbook. "
                "Remove the password and save it as an Excel Workbook (.xlsx).")
    if data.startswith(b"%PDF"):
        return "The file is a PDF document, not an Excel workbook (.xlsx)."
    if data.startswith(b"PK"):
        return "The file is a corrupt or truncated zip archive, not a readable Excel workbook (.xlsx)."
    head = data[:4096]
    if b"\x00" not in head:
        return ("The file is plain text (for example CSV), not an Excel workbook (.xlsx). "
                "Open it in Excel and save it as an Excel Workbook (.xlsx).")
    return "The file is not an Excel workbook (.xlsx): it is not a zip archive."


def _inflate(data: bytes, info: zipfile.ZipInfo, budget: _Budget, total: list[int], policy: Policy):
    """Yield the part's inflated bytes in chunks, never more than the directory declares."""
    if info.flag_bits & 0x1:
        raise wb001(f"The workbook is encrypted (part {info.filename} is password-protected).")
    off = info.header_offset
    if off < 0 or off + 30 > len(data):
        raise wb001("The workbook is corrupt: a part lies outside the file.")
    sig, _, _, method = struct.unpack("<IHHH", data[off:off + 10])
    if sig != 0x04034B50:
        raise wb001("The workbook is corrupt: a part's local header is damaged.")
    if method != info.compress_type:  # the readers inflate as the directory says: two parts in one
        raise wb001(f"The workbook is corrupt: the zip directory and the local header of part {info.filename[:60]} "
                    "disagree on how it is compressed.")
    raw = _stored_bytes(data, info)
    declared = info.file_size
    produced = 0
    crc = 0
    if method == zipfile.ZIP_STORED:
        chunks = (bytes(raw[i:i + CHUNK]) for i in range(0, len(raw), CHUNK))
    elif method == zipfile.ZIP_DEFLATED:
        chunks = _deflate_chunks(raw, declared)
    else:
        raise wb001(f"The workbook uses an unsupported compression method ({method}) in part {info.filename}.")
    for chunk in chunks:
        produced += len(chunk)
        total[0] += len(chunk)
        if produced > declared:
            raise FileRefused(
                [
                    file_finding(
                        "WB003",
                        f"Part {info.filename} inflates to more than the {declared:,} bytes its zip directory "
                        "declares.",
                    )
                ]
            )
        if total[0] > policy.max_uncompressed_bytes:
            raise FileRefused(
                [
                    file_finding(
                        "WB003",
                        f"The workbook's parts inflate to more than {policy.max_uncompressed_bytes:,} bytes in total.",
                    )
                ]
            )
        crc = zlib.crc32(chunk, crc)
        budget.check()
        yield chunk
    if produced != declared or crc != info.CRC:
        raise wb001(f"The workbook is corrupt: part {info.filename} does not match its checksum.")


def _stored_bytes(data: bytes, info: zipfile.ZipInfo) -> memoryview:
    """A part's bytes as stored in the file (compressed or not), after its local header."""
    nlen, xlen = struct.unpack_from("<HH", data, info.header_offset + 26)
    start = info.header_offset + 30 + nlen + xlen
    end = start + info.compress_size
    if end > len(data):
        raise wb001("The workbook is truncated: a part ends beyond the end of the file.")
    return memoryview(data)[start:end]


def _deflate_chunks(raw: memoryview, declared: int):
    d = zlib.decompressobj(-15)
    pos = 0
    try:
        while pos < len(raw) or d.unconsumed_tail:
            src = d.unconsumed_tail or bytes(raw[pos:pos + CHUNK])
            if not d.unconsumed_tail:
                pos += CHUNK
            out = d.decompress(src, CHUNK)
            if out:
                yield out
            if d.eof:
                break
            if not out and pos >= len(raw) and not d.unconsumed_tail:
                break
        rest = d.flush()
        if rest:
            yield rest
    except zlib.error:
        raise wb001("The workbook is corrupt: a compressed part cannot be decompressed.") from None


# No spreadsheet program writes a tag of more than a few kilobytes, and a cell's text is at most 32,767
# characters (under 300 KB however it is escaped).  A part with half a megabyte and more of bytes and no ">"
# holds one tag of many thousands of attributes, which an XML parser (the scan's, and the reader's) holds
# whole with each attribute: 40 MiB of them on a shared strings root took 430 MB and was assessed.
_TAG_STRETCH = 1 << 19


def _tags_bounded(chunks, name: str):
    """An XML part's chunks as they come, refused (WB003) once a stretch of the part of `_TAG_STRETCH` bytes,
    aligned to it, holds no ">": so no tag longer than twice that reaches a parser."""
    carry = b""
    for chunk in chunks:
        buf = carry + chunk if carry else chunk
        whole = len(buf) - len(buf) % _TAG_STRETCH
        for at in range(0, whole, _TAG_STRETCH):
            if buf.find(b">", at, at + _TAG_STRETCH) < 0:
                raise FileRefused([file_finding(
                    "WB003", f"Part {name[:60]} holds {_TAG_STRETCH:,} bytes and more with no end of a tag: a tag "
                             "of many thousands of attributes, or text longer than a cell may hold, which no "
                             "spreadsheet program writes.")])
        carry = buf[whole:]
        yield chunk


_END_RECORD = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_END_RECORD = b"PK\x06\x06"
_ZIP64_EXTRA = 0x0001
_UTF8_NAME = 0x800  # the general purpose flag saying a part's name is UTF-8
_DESCRIPTOR_SIZES = (12, 16, 20, 24)  # a data descriptor: with or without its signature, 32- or 64-bit sizes
# Extra fields that make other zip readers read a part otherwise than Python's zipfile, which knows only zip64's:
# the readers' Rust library takes a part's name from an Info-ZIP Unicode Path field (two parts swapping names had
# the scan measure one sheet while the reader read another), its method from an AES field.
_EXTRA_FIELDS_READ_OTHERWISE = {0x7075: "a Unicode Path", 0x6375: "a Unicode Comment", 0x9901: "an AES encryption",
                                0x0017: "a strong encryption"}


def _extra_field_ids(extra: bytes):
    """The ids of the fields of a zip header's extra field (a malformed one is found by the readers)."""
    at = 0
    while at + 4 <= len(extra):
        kind, length = struct.unpack_from("<HH", extra, at)
        yield kind
        at += 4 + length


def _one_archive_refusal(why: str) -> FileRefused:
    return wb001(f"The workbook is corrupt: {why}. No spreadsheet program writes such a file; open the original in "
                 "Excel and save it again.")


def _check_one_archive(data: bytes, start_dir: int, infos: list[zipfile.ZipInfo]) -> None:
    """The file is one zip archive, laid out as zip writers lay one out: its parts one after another from its
    first byte, then their directory, then the end record, which ends the file.

    Zip readers find the archive from its end record and disagree about a file that holds two: Python's takes
    the last end record in the file's final 64 KiB whatever its comment length says, the readers' (Rust's)
    passes over one whose comment runs past the end of the file to an earlier one.  A file laid out so held a
    clean archive for the scan and another, never measured, for the reader (a 344 MB sheet, a VBA project)."""
    end = data.rfind(_END_RECORD, max(0, len(data) - 22 - 0xFFFF))
    if end < 0 or end + 22 > len(data):
        raise _one_archive_refusal("its zip archive has no end record")
    (comment,) = struct.unpack_from("<H", data, end + 20)
    if end + 22 + comment != len(data):
        raise _one_archive_refusal("its zip archive's end record does not end the file")
    covered = 0  # the bytes from the file's start that the parts seen so far account for
    descriptor = False
    for info in sorted(infos, key=lambda i: i.header_offset):
        gap = info.header_offset - covered
        if gap != 0 and not (descriptor and gap in _DESCRIPTOR_SIZES):
            raise _one_archive_refusal("its zip archive holds bytes that belong to no part, or parts that overlap")
        if info.header_offset + 30 > len(data):
            raise _one_archive_refusal("a part lies outside the file")
        name_length, extra_length = struct.unpack_from("<HH", data, info.header_offset + 26)
        local_extra = data[info.header_offset + 30 + name_length:info.header_offset + 30 + name_length + extra_length]
        if not info.flag_bits & _UTF8_NAME and not info.orig_filename.isascii():
            # (Python's zipfile reads such a name as code page 437, the Rust library as UTF-8 where it can)
            raise _one_archive_refusal(f"the name of its part {info.filename[:60]!r} is not plain ASCII and is not "
                                       "marked as UTF-8, so zip readers read it differently")
        central, local = list(_extra_field_ids(info.extra)), list(_extra_field_ids(local_extra))
        if len(set(central)) < len(central) or len(set(local)) < len(local):
            raise _one_archive_refusal(f"its part {info.filename[:60]} carries one extra field twice")
        if _ZIP64_EXTRA in central:  # (no size or offset in a file within the limits needs one)
            raise _one_archive_refusal(f"its part {info.filename[:60]} carries a zip64 extra field in the zip "
                                       "directory, which zip readers apply differently")
        for kind in (*central, *local):
            if kind in _EXTRA_FIELDS_READ_OTHERWISE:
                raise _one_archive_refusal(f"its part {info.filename[:60]} carries "
                                           f"{_EXTRA_FIELDS_READ_OTHERWISE[kind]} extra field, which zip readers "
                                           "read differently")
        covered = info.header_offset + 30 + name_length + extra_length + info.compress_size
        descriptor = bool(info.flag_bits & 0x08)
    gap = start_dir - covered
    if gap != 0 and not (descriptor and gap in _DESCRIPTOR_SIZES):
        raise _one_archive_refusal("its zip archive holds bytes between its parts and their directory")
    # Where the directory is, and how many parts it lists, as the end record (or the zip64 end record its
    # locator points to) says: Python's zipfile finds the directory from its size, other readers from its
    # offset and read as many parts as the count says, so all three must describe the one directory.
    if data[end - 20:end - 16] == _ZIP64_LOCATOR:
        (record_at,) = struct.unpack_from("<Q", data, end - 12)
        if data[record_at:record_at + 4] != _ZIP64_END_RECORD or record_at + 56 > end - 20:
            raise _one_archive_refusal("its zip64 end record is not where its locator says")
        (record_size,) = struct.unpack_from("<Q", data, record_at + 4)
        if record_at + 12 + record_size != end - 20:
            raise _one_archive_refusal("its zip64 end record does not end where its locator begins")
        count, directory_size, directory_at = struct.unpack_from("<QQQ", data, record_at + 32)
        directory_end = record_at
    else:
        count, directory_size, directory_at = struct.unpack_from("<HII", data, end + 10)
        directory_end = end
    if directory_at != start_dir or start_dir + directory_size != directory_end or count != len(infos):
        raise _one_archive_refusal("its zip archive's directory is not the one its end record describes")


def _read_small(data: bytes, info: zipfile.ZipInfo, budget: _Budget, total: list[int], policy: Policy) -> bytes:
    """A part read whole (content types, relationships, the workbook part, the styles part) to be parsed whole.

    Its tags and attributes are counted first: a tree of millions of elements or attributes, nested or side
    by side, fills hundreds of megabytes from a part of 10 MiB, and such a part is refused before it is parsed."""
    out = b"".join(_inflate(data, info, budget, total, policy))
    _check_markers(out, info.filename)
    nodes = part_nodes(out)
    if nodes > policy.max_part_nodes:
        raise FileRefused([file_finding(
            "WB003", f"Part {info.filename[:60]} holds {nodes:,} XML tags and attributes, over the "
                     f"{policy.max_part_nodes:,} the safety scan reads whole in one part (policy max_part_nodes). "
                     "If it is the styles part, the workbook holds tens of thousands of cell formats: remove the "
                     "unused ones (in Excel, Inquire's Clean Excess Cell Formatting) and upload it again.")])
    return out


def part_nodes(xml: bytes) -> int:
    """The tags and attributes of an XML part, at most: each "<" and each "=" (in UTF-16 or UTF-32 too, where each
    is a byte of its own; other text only adds to the count)."""
    return xml.count(b"<") + xml.count(b"=")


def _check_markers(buf: bytes, name: str) -> None:
    if b"!" not in buf:  # every marker holds a "!" in each encoding; memchr-fast where there is none
        return
    for m in _MARKERS:
        if m in buf:
            raise wb001(
                f"The workbook's XML part {name} declares a DTD or entities, which are refused for safety "
                "(entity expansion or external entities).")


def _parse_xml(buf: bytes, name: str):
    try:
        return safe_fromstring(buf)
    except (ParseError, DefusedXmlException, ValueError, LookupError):  # LookupError: an unknown encoding
        raise _not_well_formed(name) from None


def _not_well_formed(name: str, why: str = "") -> FileRefused:
    return wb001(f"The workbook is corrupt: its XML part {name} is not well-formed XML{f' ({why})' if why else ''} "
                 "and cannot be read.")


# The encodings an XML part is read in: the XML parser's own (expat's), which Python's codecs read alike.
_READ_ENCODINGS = frozenset({"utf-8", "ascii", "utf-16", "utf-16-le", "utf-16-be", "iso8859-1", "latin-1"})


def _codec(head: bytes, name: str) -> str:
    """The encoding of an XML part, from its first bytes, as the XML parser decides it (XML 1.0 appendix F):
    a byte-order mark, else the pattern of the first characters, else the declaration; "utf-8" for UTF-8
    and ASCII.  The name is Python's, for reading the part again as UTF-8 (see `_transcoded`); an encoding
    Python does not know is returned as written, and the XML parser then refuses the part."""
    for mark, codec in ((b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"),
                        (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"),
                        (b"<\x00\x00\x00", "utf-32-le"), (b"\x00\x00\x00<", "utf-32-be"),
                        (b"<\x00", "utf-16-le"), (b"\x00<", "utf-16-be")):
        if head.startswith(mark):
            return codec
    marked = head.startswith(b"\xef\xbb\xbf")  # a UTF-8 byte-order mark
    if marked:
        head = head[3:]
    if not head.startswith(b"<?xml"):
        return "utf-8"
    declaration = _DECLARATION.match(head)
    if declaration is None:
        if len(head) >= _HEAD - 3:  # no spreadsheet program writes a declaration this long
            raise _not_well_formed(name, f"its XML declaration is longer than {_HEAD:,} bytes")
        return "utf-8"  # an unfinished declaration: the XML parser says what is wrong with it
    declared = _DECLARED_ENCODING.search(declaration.group(0))
    if declared is None:
        return "utf-8"
    written = (declared.group(1) if declared.group(1) is not None else declared.group(2)).decode("ascii", "replace")
    try:
        codec = codecs.lookup(written).name
    except LookupError:
        return written
    if codec not in _READ_ENCODINGS:
        # The parser reads some encodings Python's codecs read otherwise: under "raw_unicode_escape" it took
        # "\u003c" as six characters of text, the copy made for the reader as "<", so the reader read cells and
        # entries the scan never saw (2.3 GB from a 28 KB file).  Only the XML parser's own encodings are read.
        raise wb001(f"The workbook is corrupt: its XML part {name} is written in the encoding {written[:40]!r}, "
                    "which no spreadsheet program writes. Open the original in Excel and save it again.")
    if marked and codec not in ("utf-8", "ascii"):  # (the parser takes the mark and reads the declared encoding)
        raise wb001(f"The workbook is corrupt: its XML part {name} starts with a UTF-8 byte-order mark but declares "
                    f"the encoding {written[:40]!r}. Open the original in Excel and save it again.")
    return "utf-8" if codec in ("utf-8", "ascii") else codec


class _WellFormed:
    """Feeds a part's bytes, as they are inflated, to an XML parser that only tells whether they are
    well-formed (no tree is built), in the encoding the part declares."""

    def __init__(self, name: str):
        self.name = name
        self._parser = expat.ParserCreate()

    def feed(self, chunk: bytes, final: bool = False) -> None:
        try:
            self._parser.Parse(chunk, final)
        except expat.ExpatError as exc:
            raise _not_well_formed(self.name, f"{expat.ErrorString(exc.code)}, line {exc.lineno}") from None
        except LookupError:
            raise _not_well_formed(self.name, "an unknown encoding") from None


class _SharedStringsShape(_WellFormed):
    """Feeds the shared strings part to an XML parser that finds its entries as the reader does (each `si`
    element outside another, whatever its prefix or place), and where each begins and ends in the part.

    The scan had found entries by a byte pattern, which a `<si>` inside a comment or processing instruction
    also matched: every entry's number then named another one for the reader, and cells counted as copying
    nothing copied 32,000 characters each (2 GB).  What no spreadsheet program writes in shared strings, and
    what would let the reader read an entry otherwise than it is counted here, is WB001: a comment, a
    processing instruction, a CDATA section, an entry inside an entry, an element inside a text."""

    def __init__(self, name: str, max_entries: int, codec: str = "utf-8", max_elements: int = 4_000_000):
        super().__init__(name)
        self.max_elements = max_elements
        self._elements = 0
        p = self._parser = expat.ParserCreate(namespace_separator=" ")
        # Each entry's bytes are weighted as Python holds its text, by its widest character: one character
        # above U+FFFF makes it 4 bytes a character (one emoji in a 32,000-byte entry named by 1,040 cells held
        # 133 MB counted as 33 MB), one above U+00FF 2.  A part in UTF-16 or ISO-8859-1 counts 2 throughout.
        self._weight_of_part = 1 if codec == "utf-8" else 2
        self._weight = 1  # the open entry's, so far
        self._chunk = b""  # the bytes being parsed, which start at `_base` in the part
        self._base = 0
        self._plain = True  # whether `_chunk` holds no character that weighs
        p.StartElementHandler, p.EndElementHandler = self._start, self._end
        self._text_tail = ""  # the end of the open text element's characters so far (an escape may be split)
        p.CommentHandler = lambda data: self._refuse("a comment")
        p.ProcessingInstructionHandler = lambda target, data: self._refuse("a processing instruction")
        p.StartCdataSectionHandler = lambda: self._refuse("a CDATA section")
        self.max_entries = max_entries
        # each entry's text bytes, at most: from its start tag's end to its end tag (its whole element for an
        # empty one, counted as 0); each cell that names an entry becomes a copy of its text when read
        self.lengths = array("I")
        self.long: dict[int, tuple[int, int]] = {}  # where each entry longer than a cell may be lies in the part
        self._entry_at = 0  # where the open entry's start tag begins
        self._open: list[str] = []  # the local names of the open elements
        self.declared = ""  # the entries the part says it holds (`uniqueCount`), as written
        self._entry_depth = 0  # the depth of the open entry, 0 when none is open

    def feed(self, chunk: bytes, final: bool = False) -> None:
        self._chunk = chunk
        self._plain = self._weight_of_part > 1 or _WEIGHTY.search(chunk) is None
        # the text is looked at only in chunks that may hold an escape (an `_`, or a reference that may be one)
        self._parser.CharacterDataHandler = self._text if b"_" in chunk or b"&" in chunk or self._text_tail else None
        super().feed(chunk, final)
        if self._entry_depth and not self._plain:  # an entry left open: what of it this chunk held
            self._weight = max(self._weight, _text_weight(chunk, max(self._entry_at - self._base, 0), len(chunk)))
        self._base += len(chunk)

    def _refuse(self, what: str):
        raise _odd_shared_strings(self.name, f"holds {what}, which no spreadsheet program writes there")

    def _text(self, text: str) -> None:
        if "_" not in text and not self._text_tail:
            return
        seen = self._text_tail + text
        if _PRINTABLE_ESCAPE.search(seen):
            raise _escaped_character(seen, f"its shared strings part {self.name[:60]}")
        self._text_tail = seen[-6:] if "_" in seen[-6:] else ""

    def _start(self, name: str, attrs) -> None:
        local = name.rpartition(" ")[2]
        self._text_tail = ""
        if self._open and self._open[-1] == "t":
            self._refuse("an element inside a text")
        # The reader parses the whole part each time it opens the workbook, and may open it several times:
        # 12 million empty elements inside entries no cell named held a checker for 17 s.
        if local not in _SHARED_STRINGS_ELEMENTS:
            self._refuse(f"an element named {clip(local)!r}")
        if name.rpartition(" ")[0] != NS_MAIN:
            # the reader reads elements by their local names, spreadsheet programs skip another namespace's: an
            # `<x:t>` after an entry's text was part of it to isap only (found by a fresh attack)
            self._refuse("an element of another namespace")
        self._elements += 1
        if self._elements > self.max_elements:
            raise FileRefused([file_finding(
                "WB003", f"The workbook's shared strings part holds more than {self.max_elements:,} XML elements, "
                         "over the safety limit (policy max_shared_strings_elements).")])
        if not self._open:
            self.declared = attrs.get("uniqueCount", "")
        self._open.append(local)
        if local == "si":
            if self._entry_depth:
                self._refuse("an entry inside an entry")
            self._entry_depth = len(self._open)
            self._entry_at = self._parser.CurrentByteIndex
            self._weight = self._weight_of_part
            self.lengths.append(0)
            if len(self.lengths) > self.max_entries:
                raise FileRefused([file_finding(
                    "WB003", f"The workbook's shared strings part holds more than {self.max_entries:,} entries, "
                             "over the safety limit (policy max_shared_strings).")])

    def _end(self, name: str) -> None:
        self._text_tail = ""
        if len(self._open) == self._entry_depth:
            self._entry_depth = 0
            at = self._parser.CurrentByteIndex
            length = max(0, min(at - self._entry_at - _ENTRY_START_TAG, 2**32 - 1))
            weight = self._weight
            if not self._plain:
                weight = max(weight, _text_weight(self._chunk, max(self._entry_at - self._base, 0), at - self._base))
            self.lengths[-1] = min(length * weight, 2**32 - 1)
            if length > CELL_TEXT_CHARS:
                self.long[len(self.lengths) - 1] = (self._entry_at, at)
        self._open.pop()


# The elements of a shared strings part as spreadsheet programs write them: entries of text or of runs, each run
# with its font properties, phonetic runs and properties, and extensions.
_SHARED_STRINGS_ELEMENTS = frozenset({
    "sst", "si", "t", "r", "rPr", "rPh", "phoneticPr", "rFont", "charset", "family", "b", "i", "strike", "outline",
    "shadow", "condense", "extend", "color", "sz", "u", "vertAlign", "scheme", "extLst", "ext"})

# UTF-8 bytes (or a character reference) that make Python hold a text at more than a byte a character: a lead
# byte of a character above U+00FF, of one above U+FFFF, and a reference, which may be either.
_WEIGHTY = re.compile(rb"[\xc4-\xf4]|&#")
_WEIGHT_4 = re.compile(rb"[\xf0-\xf4]|&#")
_WEIGHT_2 = re.compile(rb"[\xc4-\xef]")


def _text_weight(buf: bytes, lo: int, hi: int) -> int:
    """The bytes a character of the text in `buf[lo:hi]` takes as Python holds it, at most (see `_held_bytes`)."""
    return 4 if _WEIGHT_4.search(buf, lo, hi) else 2 if _WEIGHT_2.search(buf, lo, hi) else 1


def _odd_shared_strings(name: str, why: str) -> FileRefused:
    return wb001(f"The workbook is corrupt: its shared strings part {name} {why}. Open the original in Excel and "
                 "save it again.")


def _transcoded(chunks, codec: str):
    """A well-formed part's chunks again in UTF-8, its XML declaration saying so: the reader reads only UTF-8.
    (`_codec` found the declaration within the first bytes, so it is whole in the first text decoded.)"""
    decoder = codecs.getincrementaldecoder(codec)()
    head = ""  # the text before the declaration has been replaced
    for chunk in chunks:
        try:
            text = decoder.decode(chunk)
        except UnicodeDecodeError as exc:  # the XML parser pairs half a surrogate with whatever follows it
            raise wb001(f"The workbook is corrupt: a part in {codec} holds characters that are not valid "
                        f"{codec} ({exc.reason}). Open the original in Excel and save it again.") from None
        if head is not None:
            head += text
            if len(head) < _HEAD:
                continue
            text, head = _utf8_declaration(head), None
        yield text.encode("utf-8")
    try:
        text = decoder.decode(b"", True)
    except UnicodeDecodeError as exc:
        raise wb001(f"The workbook is corrupt: a part in {codec} ends inside a character ({exc.reason}). Open the "
                    "original in Excel and save it again.") from None
    yield (_utf8_declaration(head + text) if head is not None else text).encode("utf-8")


def _utf8_declaration(text: str) -> str:
    return re.sub(r"^\ufeff?(?:<\?xml\s[^<>]*?\?>)?", '<?xml version="1.0" encoding="UTF-8"?>', text, count=1)


def _peek(data: bytes, info: zipfile.ZipInfo) -> bytes:
    """The first bytes of a part (at most `_HEAD`), inflated from a bounded slice of its data; b"" when they
    cannot be had (the scan then reports the part itself)."""
    off = info.header_offset
    if info.flag_bits & 0x1 or off < 0 or off + 30 > len(data):
        return b""
    nlen, xlen = struct.unpack("<HH", data[off + 26:off + 30])
    start = off + 30 + nlen + xlen
    raw = data[start:min(start + info.compress_size, start + 64 * _HEAD, len(data))]
    if info.compress_type == zipfile.ZIP_STORED:
        return raw[:_HEAD]
    try:
        return zlib.decompressobj(-15).decompress(raw, _HEAD)
    except zlib.error:
        return b""


def _norm_target(target: str, base: str = "xl/") -> str:
    """The part a relationship's target names, from the folder `base`: a target is a URI, percent-decoded as
    spreadsheet programs decode it (`my%20connections.xml` names `my connections.xml`: matched as written, data
    connections so named went unreported)."""
    target = unquote(target)
    if target.startswith("/"):
        path = target.lstrip("/")
    else:
        path = base + target
    parts: list[str] = []
    for seg in path.split("/"):
        if seg == "..":
            if parts:
                parts.pop()
        elif seg not in ("", "."):
            parts.append(seg)
    return "/".join(parts)


def col_number(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + (ord(ch) - 64)
    return n


def col_letters(number: int) -> str:
    """The letters of a column, 1-based: 1 is "A", 28 is "AB" (the inverse of `col_number`)."""
    letters = ""
    while number > 0:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _columns_up_to(number: int) -> bytes:
    """A pattern of the column letters from A to the `number`th column and none beyond: the shorter spellings,
    then, letter by letter, those of the same length that are no later."""
    last = col_letters(number).encode()
    either = [b"[A-Z]{1,%d}" % (len(last) - 1)] if len(last) > 1 else []
    for i, letter in enumerate(last):
        tail = len(last) - 1 - i
        if not tail:
            either.append(last[:i] + b"[A-%c]" % letter)
        elif letter > ord("A"):
            either.append(last[:i] + b"[A-%c][A-Z]{%d}" % (letter - 1, tail))
    return b"(?:" + b"|".join(either) + b")"


# (a few widths are kept compiled: a process checks file after file, and a hostile one may widen every chunk;
# compiling one takes about 0.35 ms)
@functools.lru_cache(maxsize=64)
def _rows_within(columns: int) -> re.Pattern[bytes]:
    """`_CANON_ROW` for cells no later than the `columns`th column."""
    return re.compile(_CANON_ROW.replace(b"_COLUMNS_SEEN", _columns_up_to(columns)))


def parse_ref(text: str, *, need_column: bool) -> tuple[int, int]:
    """(row, column), 1-based, of a cell or row reference, as the reader reads it (letters in any
    case, leading zeros); column 0 when a row reference has no letters.  A reference the reader
    would reject, or one outside Excel's grid, is WB001: no spreadsheet program writes one."""
    m = _REF.fullmatch(text)
    digits = m.group(2).lstrip("0") if m else ""
    letters = m.group(1).upper() if m else ""
    if (m is None or not digits or len(digits) > 7 or len(letters) > 3
            or (need_column and not letters)):
        raise wb001(f"The workbook is corrupt: {text[:20]!r} is not a valid cell reference.")
    row = int(digits)
    col = col_number(letters) if letters else 0
    if row > MAX_ROW or col > MAX_COL:
        raise wb001(f"The workbook is corrupt: cell reference {text[:20]!r} lies outside the sheet.")
    return row, col


_REL_OFFICE_DOCUMENT = "/officeDocument"
_MACRO_SHEET_TYPES = ("/xlMacrosheet", "/xlIntlMacrosheet")


def inspect(path: str | Path, policy: Policy,
            on_ready: Callable[[bytes, bool, SheetScan, list[SheetScan]], None] | None = None) -> Inspection:
    """Check the file before parsing; raise `FileRefused` with WB001–WB003 findings.  A file that passes
    carries its WB010 findings in `outside_content`.

    `on_ready(data, date1904, scan, sheets)`, if given, is called for each worksheet that may be read before
    the scan ends (`data` being the package the reader is given, see `_reading_package`): every other part has
    passed, and the worksheet has been measured within the limits.  The file may still be
    refused afterwards (for a fault in a later worksheet); what was read then goes unused."""
    budget = _Budget(policy.max_seconds_per_file, policy.max_scan_cpu_seconds)
    data, sha = read_file(path, policy)
    if data.startswith(OLE_MAGIC) or not data.startswith(b"PK"):
        raise wb001(_describe_non_zip(data))
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    # (NotImplementedError: a directory record asking for a zip version Python's zipfile does not read)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, struct.error,
            NotImplementedError):
        raise wb001(
            _describe_non_zip(data)
            if not data.startswith(b"PK")
            else "The file is a corrupt or truncated zip archive, not a readable Excel workbook (.xlsx)."
        ) from None
    _check_one_archive(data, zf.start_dir, infos)
    names = {i.filename: i for i in infos}
    for i in infos:
        if i.flag_bits & 0x1:
            raise wb001("The workbook is password-protected (encrypted). Remove the password and save it again.")
    mt = names.get("mimetype")
    try:
        is_ods = mt is not None and mt.file_size < 200 and b"opendocument" in zf.read("mimetype")
    except (zipfile.BadZipFile, OSError, ValueError, zlib.error, NotImplementedError):
        is_ods = False
    if is_ods:
        raise wb001("The file is an OpenDocument spreadsheet (.ods), not an Excel workbook (.xlsx).")
    if "[Content_Types].xml" not in names:
        raise wb001("The file is a zip archive but not an Excel workbook (.xlsx): it has no [Content_Types].xml.")
    _check_part_names(infos)

    problems: list[Finding] = []
    total_declared = sum(i.file_size for i in infos)
    if total_declared > policy.max_uncompressed_bytes:
        problems.append(file_finding(
            "WB003",
            f"The workbook's parts would inflate to {total_declared:,} bytes, over the limit of "
            f"{policy.max_uncompressed_bytes:,} bytes."))
    for i in infos:
        if i.file_size == 0:
            continue
        ratio = i.file_size / i.compress_size if i.compress_size else float("inf")
        if ratio > policy.max_compression_ratio:
            problems.append(file_finding(
                "WB003",
                f"Part {i.filename} is compressed {ratio:,.0f} to 1, over the limit of "
                f"{policy.max_compression_ratio:g} to 1 (a possible zip bomb)."))
    total = [0]
    ct_info = names["[Content_Types].xml"]
    # What the content types declare decides WB002 and WB010: one too large to read, or not well-formed, is
    # refused rather than read as declaring nothing (a fresh attack hid an external link, an OLE object and a
    # VBA project kept outside their usual folders behind 10 MiB of comments there).
    if ct_info.file_size > _WHOLE_PART_LIMIT:
        raise _too_large_part("[Content_Types].xml", ct_info.file_size)
    content_types = _read_small(data, ct_info, budget, total, policy)
    declared, by_extension = _content_types(content_types, strict=True)
    # (the declared types as parsed, in whatever encoding; the raw bytes as well, should they not parse)
    ct_text = " ".join((content_types.lower().decode("latin-1"), *declared.values(), *by_extension.values()))
    relationships, hyperlinks = _package_relationships(data, infos, budget, policy)
    vba = _vba_project(infos, declared, by_extension, relationships)
    if vba is not None or "macroenabled" in ct_text or "vbaproject" in ct_text:
        problems.insert(0, file_finding(
            "WB002",
            f"The workbook contains macros (a VBA project{f', part {vba}' if vba else ''}). Macro-enabled "
            "workbooks are refused: save it as an Excel Workbook (.xlsx) without macros."))
    elif "macrosheet" in ct_text:
        problems.insert(0, _macro_sheet_finding())
    if problems:
        raise FileRefused(problems)

    small = {}

    def read_part(name: str) -> bytes:
        if name not in small:
            info = names[name]
            if info.file_size > _WHOLE_PART_LIMIT:
                raise _too_large_part(name, info.file_size)
            small[name] = _read_small(data, info, budget, total, policy)
        return small[name]

    if "_rels/.rels" not in names:
        raise wb001("The file is an Office document but not an Excel workbook (.xlsx): it has no workbook part.")
    wb_part = _office_document(read_part("_rels/.rels"))
    if wb_part is None or wb_part not in names:
        raise wb001("The file is an Office document but not an Excel workbook (.xlsx): it has no workbook part.")
    wb_dir, wb_file = wb_part.rsplit("/", 1) if "/" in wb_part else ("", wb_part)
    wb_base = wb_dir + "/" if wb_dir else ""
    rels_part = f"{wb_base}_rels/{wb_file}.rels"
    wb_xml = read_part(wb_part)
    rels_xml = read_part(rels_part) if rels_part in names else b""
    sheets, date1904, targets, reaching_names = _sheet_list(wb_xml, rels_xml, wb_base, wb_part)
    if len(sheets) > policy.max_sheets:
        raise FileRefused([file_finding(
            "WB003", f"The workbook has {len(sheets):,} sheets, over the safety limit of {policy.max_sheets:,} "
                     "(policy max_sheets).")])
    if any(s.kind == "macrosheet" for s in sheets):
        raise FileRefused([_macro_sheet_finding()])
    # The readers read the shared strings and styles by their usual names in the workbook part's folder,
    # whatever the relationships say.  A part the relationships name elsewhere reaches them under the usual
    # name in a copy (`_reading_package`), so that part is the one read; when they name none, the part under
    # the usual name is read all the same, so it is measured as a named one would be: its entries counted,
    # the text its cells copy bounded, the styles within their limit.
    for kind, usual in _USUAL_PARTS:
        if kind not in targets and wb_base + usual in names:
            targets[kind] = wb_base + usual
    styles_part = targets.get("styles")
    date_styles = _date_styles(read_part(styles_part), styles_part) if styles_part in names else frozenset()
    by_part = _worksheet_parts(sheets, {"[Content_Types].xml", "_rels/.rels", wb_part, rels_part, *targets.values()})
    # The parts the reader reads besides the worksheets: each must be well-formed XML.
    needed = {p for p in targets.values() if p in names}
    # Parts in an encoding other than UTF-8 are read through a UTF-8 copy (see `_reading_package`).
    transcode = {}
    for part in ("_rels/.rels", wb_part, rels_part, *sorted(needed), *by_part):
        codec = _codec(_peek(data, names[part]), part) if part in names else "utf-8"
        if codec != "utf-8":
            transcode[part] = codec

    # With `on_ready`, every part but the worksheets is looked at first, so that each worksheet can be
    # handed to the reader as soon as it is measured, while the others still are.  A fault found in
    # a part that way is raised in that part's turn, so what a file is refused for stays the same.
    # What the reader is given (`_reading_package`) is made now, so that it may read ahead, unless a part
    # must be put in UTF-8 first: the scan measures it before it is inflated again for the reader.
    # (a sheet with no part is refused in its turn below, so the copy waits for it)
    early = on_ready is not None and not transcode and all(s.part in names for s in sheets if s.is_worksheet)
    reading = _reading_package(sheets, data, date1904, names, targets, transcode, budget, policy) if early else None
    looked_at: set[str] = set()
    faults: dict[str, FileRefused] = {}
    entry_bytes = [array("I")]  # each shared string entry's text bytes, at most, once its part is looked at
    longest = [0]  # the largest of them

    long_entry: list[_LongEntry] = []  # a shared string longer than a cell may hold, refused once sheets are measured

    def shared_strings(info: zipfile.ZipInfo) -> None:
        nonlocal early
        try:
            entry_bytes[0] = _check_shared_strings(data, info, budget, total, policy,
                                                   transcode.get(info.filename, "utf-8"))
        except _LongEntry as long:
            long_entry.append(long)
            early = False  # the file will be refused: nothing is read ahead
        longest[0] = max(entry_bytes[0], default=0)
    if early:
        for i in infos:
            if i.filename in small or i.is_dir() or i.filename in by_part:
                continue
            try:
                if i.filename == targets.get("sharedStrings"):
                    shared_strings(i)
                else:
                    _check_part(data, i, budget, total, policy, well_formed=i.filename in needed)
            except FileRefused as fault:
                faults[i.filename] = fault
                early = False  # the file will be refused: nothing is read ahead
                break
            looked_at.add(i.filename)

    shared_cells = own_text = area = 0
    for i in infos:
        if i.filename in small or i.is_dir():
            continue
        if i.filename in faults:
            raise faults[i.filename]
        if i.filename in looked_at:
            continue
        scan = by_part.get(i.filename)
        if scan is not None:
            _scan_sheet(data, i, scan, budget, total, policy, date_styles, transcode.get(i.filename, "utf-8"))
            # (running sums over the worksheets measured so far, the others adding nothing yet: summing
            # every sheet again after each made a workbook of thousands of sheets cost seconds)
            shared_cells += scan.shared_cells
            own_text += scan.text_bytes
            area += max(scan.max_row * scan.max_col, scan.cells)
            if early and shared_cells * longest[0] + own_text > policy.max_shared_text_bytes:
                early = False  # the text its cells copy is counted exactly first: nothing more is read ahead
            if early and not scan.needs_cell_scan and _within_limits(scan, policy) \
                    and area <= policy.max_cells_per_workbook:
                on_ready(reading, date1904, scan, sheets)
        elif i.filename == targets.get("sharedStrings"):
            shared_strings(i)
        else:
            _check_part(data, i, budget, total, policy, well_formed=i.filename in needed)
    if long_entry:
        raise _long_entry_refusal(data, names, sheets, long_entry[0], budget, policy)
    _check_irregular_cost(sheets, policy)
    if _own_text(sheets) > policy.max_shared_text_bytes:  # before the sheets left to the exact parse are parsed
        _count_own_text(data, names, sheets, budget, policy)
    for s in sheets:
        if not s.is_worksheet:
            continue
        if s.part not in names:
            raise wb001(f"The workbook is corrupt: sheet {s.name!r} has no data part.")
        if s.needs_cell_scan:
            _check_plain_values(data, names[s.part], s, budget, policy)
            _scan_cells(data, names[s.part], s, budget, policy, date_styles)
        if s.rows_with_values > policy.max_rows_per_sheet:
            raise FileRefused([file_finding(
                "WB003",
                f"Sheet {s.name!r} has more than {policy.max_rows_per_sheet:,} rows holding values, "
                "over the safety limit.")])
        if s.cells > s.max_row * s.max_col:
            # (a cell reference named twice: the reader holds each, the area counts it once)
            raise wb001(f"The workbook is corrupt: sheet {clip(s.name)!r} names {s.cells - s.max_row * s.max_col:,} "
                        "or more of its cells twice or more. Open the original in Excel and save it again.")
        if s.max_row * s.max_col > policy.max_cells_per_sheet:  # (the same limits as _within_limits)
            raise FileRefused([file_finding(
                "WB003",
                f"Sheet {s.name!r} spans {s.max_row:,} rows × {s.max_col:,} columns, over the safety limit of "
                f"{policy.max_cells_per_sheet:,} cells.")])
    if (area := _workbook_area(sheets)) > policy.max_cells_per_workbook:
        raise FileRefused([file_finding(
            "WB003",
            f"The workbook's sheets together span {area:,} cells (rows × columns of each sheet's values), over the "
            f"safety limit of {policy.max_cells_per_workbook:,} cells (policy max_cells_per_workbook).")])
    _check_unnamed_entries(len(entry_bytes[0]), sheets)
    _check_shared_text(data, names, entry_bytes[0], longest[0], sheets, budget, policy)
    inspection = Inspection(str(path), data, sha, sheets, date1904)
    shared = targets.get("sharedStrings")
    inspection.shared_strings_bytes = names[shared].file_size if shared in names else 0
    inspection.outside_content = _outside_content(data, infos, content_types, relationships, hyperlinks, budget,
                                                policy) + reaching_names + [
        _formula_reach_finding(*s.reach, s.more_reaches) for s in sheets if s.reach is not None]
    inspection.reading_data = reading or _reading_package(sheets, data, date1904, names, targets, transcode, budget,
                                                          policy)
    return inspection


# WB010: what a package links to or embeds, known by its content type or by where Excel puts it.
_CT_EXTERNAL_LINK = "application/vnd.openxmlformats-officedocument.spreadsheetml.externallink+xml"
_CT_OLE_OBJECT = "application/vnd.openxmlformats-officedocument.oleobject"
_CT_ACTIVEX = "application/vnd.ms-office.activex+xml"
_CT_CONNECTIONS = "application/vnd.openxmlformats-officedocument.spreadsheetml.connections+xml"
# A part read only to name what WB010 reports (a link's relationships, a control's class) is small when a
# spreadsheet program writes it; a larger one is reported without the name rather than read.
_NAMING_PART_LIMIT = 1 << 20
# Parts read whole (content types, relationships, the workbook part, the styles part) are at most this large.
_WHOLE_PART_LIMIT = 10 * CHUNK
# What an embedded file is, by its extension, when it is an Office document embedded whole.
_EMBEDDED_KINDS = {
    "doc": "a Word document", "docx": "a Word document", "docm": "a Word document",
    "xls": "an Excel workbook", "xlsx": "an Excel workbook", "xlsm": "an Excel workbook", "xlsb": "an Excel workbook",
    "ppt": "a PowerPoint presentation", "pptx": "a PowerPoint presentation", "pptm": "a PowerPoint presentation",
    "sldx": "a PowerPoint slide", "pdf": "a PDF document",
}


def _outside_content(data: bytes, infos: list[zipfile.ZipInfo], content_types: bytes,
                     relationships: dict[str, list[tuple[str, str, str]]], hyperlinks: dict[str, dict[str, str]],
                     budget: _Budget, policy: Policy) -> list[Finding]:
    """WB010 findings, one per external link part, OLE object or ActiveX control, in package order.

    Every part has already passed the scan; the few read again here to name a link's target or a
    control's class are read within their own small limit, and a part that cannot be read that way
    is still reported, only without its name."""
    names = {i.filename: i for i in infos}
    by_lower = {i.filename.lower(): i for i in reversed(infos) if not i.is_dir()}
    declared, by_extension = _content_types(content_types)
    # Excel finds an embedded object by the relationship that names it, wherever the part is kept and whatever
    # content type it is declared with (a fresh attack kept a Word document at xl/media/ under its own type,
    # and an OLE object as an .emf image): each part an object relationship names is one.  So it is of a control,
    # data connections and an external link (found by a fresh attack: a link kept as an image went unreported).
    embedded = internal_targets(relationships, _REL_EMBEDDED_OBJECTS)
    controls = internal_targets(relationships, ("/control",))
    connections = internal_targets(relationships, ("/connections",))
    links = internal_targets(relationships, ("/externallink",))
    found: list[Finding] = []
    for info in infos:
        name = info.filename
        lower = name.lower()
        if info.is_dir():
            continue
        if "/_rels/" in f"/{lower}":
            # a linked (not embedded) OLE object has no part: only its sheet's relationship names the file; so
            # does a linked picture (Excel fetches it as the workbook opens) or any other outside target but a
            # hyperlink (a link part's own target is named with the link, below)
            for kind, target, mode in relationships.get(name, ()):
                if mode != "External" or kind.lower().endswith("/externallinkpath"):
                    continue
                what = "an OLE object" if kind.endswith(_REL_OLE_OBJECT) else (
                    "a picture" if kind.lower().endswith("/image") else "a part")
                found.append(file_finding(
                    "WB010", f"The workbook links {what} to the external file {_shown(target)} "
                             f"(part {name}): opening the original may make it reach that file."))
            owner = source_part(name)
            if name in hyperlinks and owner is not None:
                found += _hyperlinks_used(data, owner, by_lower.get(owner.lower()), hyperlinks[name], budget, policy)
            continue
        ext = lower.rsplit(".", 1)[-1] if "." in lower.rsplit("/", 1)[-1] else ""
        ctype = declared.get(lower, by_extension.get(ext, ""))
        if ctype == _CT_EXTERNAL_LINK or (lower.startswith("xl/externallinks/") and ext == "xml") or lower in links:
            target = _link_target(data, name, names, relationships, budget, policy)
            what = (f"the external file {_shown(target)}" if target
                    else "an external file that the link part does not name")
            found.append(file_finding("WB010", f"The workbook links to {what} (part {name}): opening the original "
                                               "may make it reach that file."))
        elif (ctype == _CT_OLE_OBJECT or lower.startswith("xl/embeddings/") or lower in embedded
              or _peek(data, info).startswith(OLE_MAGIC)):
            kind = _EMBEDDED_KINDS.get(ext)
            found.append(file_finding("WB010", f"The workbook embeds an OLE object ({f'{kind}, ' if kind else ''}"
                                               f"part {name}): opening the original may run it or open what it "
                                               "holds."))
        elif ctype == _CT_CONNECTIONS or lower == "xl/connections.xml" or lower in connections:
            found.append(file_finding("WB010", f"The workbook holds data connections (part {name}): opening the "
                                               "original may make it fetch data from another file or server."))
        elif ctype == _CT_ACTIVEX or (lower.startswith("xl/activex/") and ext == "xml") or lower in controls:
            classid = _activex_class(data, names[name], budget, policy)
            found.append(file_finding("WB010", "The workbook holds an ActiveX control ("
                                               f"{f'class {_shown(classid)}, ' if classid else ''}part {name}): "
                                               "opening the original may run it."))
    return found


def _content_types(content_types: bytes, strict: bool = False) -> tuple[dict[str, str], dict[str, str]]:
    """The package's declared content types: by part name (lower case, no leading "/") and by extension.

    `strict`: a part that is not well-formed XML is WB001; otherwise it declares nothing (an evidence
    document whose main type then cannot be found is refused for that)."""
    declared: dict[str, str] = {}
    by_extension: dict[str, str] = {}
    try:
        root = _parse_xml(content_types, "[Content_Types].xml") if content_types or strict else None
    except FileRefused:
        if strict:
            raise
        root = None
    for el in root.iter() if root is not None else ():
        tag = _local(el.tag)
        ctype = el.get("ContentType", "").strip().lower()
        if tag == "Override":
            declared.setdefault(unquote(el.get("PartName", "")).lstrip("/").lower(), ctype)  # (a URI, as a target)
        elif tag == "Default":
            by_extension.setdefault(el.get("Extension", "").lower(), ctype)
    return declared, by_extension


def _too_large_part(name: str, size: int) -> FileRefused:
    return FileRefused([file_finding("WB003", f"Part {name} is {size:,} bytes, over the safety limit for its kind.")])


def internal_targets(relationships: dict[str, list[tuple[str, str, str]]], kinds: tuple[str, ...]) -> set[str]:
    """The parts (lower case) that relationships of the given kinds (ends of their types, lower case) name
    inside the package."""
    return {_norm_target(target, rels.rsplit("_rels/", 1)[0]).lower()
            for rels, found in relationships.items() for kind, target, mode in found
            if mode != "External" and target and kind.strip().lower().endswith(kinds)}


def _package_relationships(data: bytes, infos: list[zipfile.ZipInfo], budget: _Budget, policy: Policy
                           ) -> tuple[dict[str, list[tuple[str, str, str]]], dict[str, dict[str, str]]]:
    """The relationships of every relationships part of the package, by part name, each part read once: those
    that can name a macro, an object or an outside file, and, apart, the hyperlinks to outside targets (by id)
    of the parts that have any."""
    readers = {info.filename: _relationships(data, info, budget, policy) for info in infos
               if not info.is_dir() and "/_rels/" in f"/{info.filename.lower()}"
               and info.filename.lower().endswith(".rels")}
    found = {name: reader.found for name, reader in readers.items()}
    hyperlinks = {name: reader.hyperlinks for name, reader in readers.items() if reader.hyperlinks}
    kept = sum(len(rels) for rels in found.values())
    if kept > _MAX_KEPT_RELATIONSHIPS:
        raise FileRefused([file_finding(
            "WB003", f"The workbook's relationships name {kept:,} macros, embedded objects or outside files, over "
                     f"the {_MAX_KEPT_RELATIONSHIPS:,} the safety scan reads.")])
    return found, hyperlinks


def _relationships(data: bytes, info: zipfile.ZipInfo, budget: _Budget, policy: Policy) -> "RelationshipsReader":
    """The relationships of a relationships part, read as it is inflated (see `RelationshipsReader`).

    What these name decides WB002 (a VBA project under another name) and WB010 (a linked OLE object), so a
    part is never skipped: one over the limit of parts read whole is WB003, one that is not well-formed XML
    is WB001.  (Parts over 1 MiB had been skipped, and a fresh attack padded a sheet's relationships with
    comments to link an OLE object to a file on another server unreported.)  Only the three attributes are
    kept, and only of the relationships that can name a macro, an embedded object or an outside file, so memory
    stays small whatever the part holds."""
    if info.file_size > _WHOLE_PART_LIMIT:
        raise _too_large_part(info.filename, info.file_size)
    reader = RelationshipsReader(info.filename)
    # (its bytes were counted towards the total on the first pass)
    for chunk in _tags_bounded(_inflate(data, info, budget, [0], policy), info.filename):
        reader.feed(chunk)
    reader.feed(b"", final=True)
    return reader


class RelationshipsReader(_WellFormed):
    """Reads a relationships part as it is inflated, keeping (type, target, target mode) of each relationship
    that can name a macro, an embedded object or an outside file (every one to an outside target but a
    hyperlink), at most `_MAX_KEPT_RELATIONSHIPS`; a DTD, entities or XML that is not well-formed is WB001.

    A hyperlink to an outside target is kept apart (`hyperlinks`, its target by its id): a hyperlink is followed
    only when clicked, but a relationship is used by its id whatever its type, and a picture that names its file
    through one typed as a hyperlink is fetched as the document opens (found by a fresh attack), so what uses
    each is looked at (`RelationshipUses`)."""

    def __init__(self, name: str):
        super().__init__(name)
        self.found: list[tuple[str, str, str]] = []
        self.hyperlinks: dict[str, str] = {}
        self._tail = b""
        self._parser = expat.ParserCreate(namespace_separator=" ")
        self._parser.StartElementHandler = self._start
        self._parser.StartDoctypeDeclHandler = self._declaration
        self._parser.EntityDeclHandler = self._declaration

    def feed(self, chunk: bytes, final: bool = False) -> None:
        _check_markers(self._tail + chunk, self.name)  # (before the parser sees a declaration)
        self._tail = chunk[-_MARKER_TAIL:]
        super().feed(chunk, final)

    def _start(self, name: str, attrs: dict[str, str]) -> None:
        if name != _RELATIONSHIP_ELEMENT:
            return
        kind, mode = attrs.get("Type", ""), attrs.get("TargetMode", "")
        lower = kind.strip().lower()
        if mode == "External" and lower.endswith("/hyperlink"):
            self.hyperlinks.setdefault(attrs.get("Id", ""), attrs.get("Target", "")[:_SHOWN_TARGET])
            if len(self.hyperlinks) > _MAX_OUTSIDE_HYPERLINKS:
                raise FileRefused([file_finding(
                    "WB003", f"Part {self.name[:60]} names more than {_MAX_OUTSIDE_HYPERLINKS:,} hyperlinks, over "
                             "what the safety scan reads.")])
        elif lower.endswith(_KEPT_RELATIONSHIPS) or mode == "External":
            self.found.append((kind, attrs.get("Target", ""), mode))
            if len(self.found) > _MAX_KEPT_RELATIONSHIPS:
                raise FileRefused([file_finding(
                    "WB003", f"Part {self.name[:60]} names more than {_MAX_KEPT_RELATIONSHIPS:,} macros, "
                             "embedded objects or outside files, over what the safety scan reads.")])

    def _declaration(self, *_) -> None:
        raise _not_well_formed(self.name, "a document type declaration")


class RelationshipUses:
    """Reads a part as it is inflated and notes each use of the relationships given (by id, those typed as
    hyperlinks to outside targets) other than as a hyperlink: by any attribute of a namespace (`r:link`,
    `r:embed`, `r:id`, VML's `o:relid`: a relationship is only ever named so) but the `id` of a hyperlink
    element.  `used`: each relationship so used, by id, with the local name of the first element using it.
    A part that is not well-formed XML, or declares a DTD, is `unreadable`: how it uses its links is not known."""

    def __init__(self, name: str, watched: dict[str, str]):
        self.name = name
        self.watched = watched
        self._ids = watched.keys()
        self.used: dict[str, str] = {}
        self.unreadable = False
        self._parser = expat.ParserCreate(namespace_separator=" ")
        self._parser.ordered_attributes = True  # (a flat list: cheaper than a dictionary for every element)
        self._parser.StartElementHandler = self._start
        self._parser.StartDoctypeDeclHandler = self._declaration
        self._parser.EntityDeclHandler = self._declaration

    def feed(self, chunk: bytes, final: bool = False) -> None:
        if self.unreadable:
            return
        try:
            self._parser.Parse(chunk, final)
        except (expat.ExpatError, LookupError, _Declared):
            self.unreadable = True

    def _start(self, name: str, attrs: list[str]) -> None:
        if self._ids.isdisjoint(attrs):  # (most elements: one pass in C over their names and values)
            return
        for i in range(0, len(attrs), 2):
            if attrs[i + 1] in self.watched and " " in attrs[i]:
                local = name.rpartition(" ")[2]
                if local in _HYPERLINK_ELEMENTS and attrs[i].rpartition(" ")[2] == "id":
                    continue
                if len(self.used) < _MAX_USES_NAMED:  # (one is enough to warn; a hundred are plenty to name)
                    self.used.setdefault(attrs[i + 1], local)

    def _declaration(self, *_) -> None:
        raise _Declared


class _Declared(Exception):
    """A DTD in a part read for its uses of relationships."""


# the elements that use a relationship (by their `id`) as a hyperlink: a cell's, a shape's, Word's
_HYPERLINK_ELEMENTS = frozenset({"hyperlink", "hlinkClick", "hlinkHover", "hlinkMouseOver"})
# the elements that show a picture a relationship names
_PICTURE_ELEMENTS = frozenset({"blip", "imagedata", "picture", "fill", "imageData"})
# outside hyperlinks read from one relationships part, and how much of each target is kept to be named
_MAX_OUTSIDE_HYPERLINKS = 100_000
# uses of them named, at most, in one part
_MAX_USES_NAMED = 100
_SHOWN_TARGET = 300


def source_part(rels: str) -> str | None:
    """The part whose relationships a relationships part holds (`xl/_rels/workbook.xml.rels`: `xl/workbook.xml`);
    None for the package's own (`_rels/.rels`)."""
    folder, _, file = rels.rpartition("/")
    owner = folder.rpartition("_rels")[0] + file.removesuffix(".rels")
    return owner or None


def _hyperlinks_used(data: bytes, name: str, info: zipfile.ZipInfo | None, hyperlinks: dict[str, str],
                     budget: _Budget, policy: Policy) -> list[Finding]:
    """WB010 for each outside hyperlink a part uses otherwise than as a hyperlink (see `RelationshipUses`)."""
    if info is None:
        return []
    uses = RelationshipUses(info.filename, hyperlinks)
    # (its bytes were counted towards the total on the first pass)
    for chunk in _tags_bounded(_inflate(data, info, budget, [0], policy), info.filename):
        uses.feed(chunk)
        if uses.unreadable:
            break
    uses.feed(b"", final=True)
    if uses.unreadable:
        first = next(iter(hyperlinks.values()))
        return [file_finding("WB010", f"The workbook links to the external file {_shown(first)} from part {name}, "
                                      "which cannot be read to see how it uses the link: opening the original may "
                                      "make it reach that file.")]
    return [file_finding("WB010", f"The workbook links {'a picture' if element in _PICTURE_ELEMENTS else 'content'} "
                                  f"to the external file {_shown(hyperlinks[rel])} (part {name}, through a "
                                  "relationship typed as a hyperlink): opening the original may make it reach that "
                                  "file.")
            for rel, element in uses.used.items()]


def _naming_part(data: bytes, info: zipfile.ZipInfo | None, budget: _Budget, policy: Policy):
    """The parsed XML of a small part read to name what WB010 reports, or None."""
    if info is None or info.file_size > _NAMING_PART_LIMIT:
        return None
    try:
        # (its bytes were counted towards the total on the first pass)
        return _parse_xml(b"".join(_inflate(data, info, budget, [0], policy)), info.filename)
    except FileRefused as refused:
        if any(f.rule_id == "WB003" for f in refused.findings):
            raise  # out of time: the file is refused as any other would be
        return None


_REL_OLE_OBJECT = "/oleObject"
# relationships that embed an object: an OLE object, or an Office document embedded whole ("package")
_REL_EMBEDDED_OBJECTS = ("/oleobject", "/package")
# relationships kept from a relationships part (with every one to an outside target but hyperlinks), and how
# many in all: a real workbook has a handful
_KEPT_RELATIONSHIPS = (REL_VBA_PROJECT, *_REL_EMBEDDED_OBJECTS, "/control", "/xlmacrosheet", "/xlintlmacrosheet",
                       "/connections", "/externallink", "/afchunk", "/webextensiontaskpanes", "/webextension")
_RELATIONSHIP_ELEMENT = f"{NS_PKG_REL} Relationship"
_MAX_KEPT_RELATIONSHIPS = 10_000


def _link_target(data: bytes, part: str, names: dict[str, zipfile.ZipInfo],
                 relationships: dict[str, list[tuple[str, str, str]]], budget: _Budget, policy: Policy) -> str:
    """What an external link part points at: its relationship's external target (a path, a UNC path or
    a URL, as written), else the DDE service and topic it names; "" when it names none."""
    folder, _, file = part.rpartition("/")
    rels = relationships.get(f"{folder}/_rels/{file}.rels" if folder else f"_rels/{file}.rels")
    if rels is not None:
        targets = [(kind, target) for kind, target, mode in rels if mode == "External" and target]
        # the linked workbook's path first; any other external target (an OLE link's file) otherwise
        targets.sort(key=lambda rel: not rel[0].endswith("/externalLinkPath"))
        if targets:
            return targets[0][1]
    link = _naming_part(data, names.get(part), budget, policy)
    for el in link.iter() if link is not None else ():
        if _local(el.tag) == "ddeLink":
            return " ".join(x for x in (el.get("ddeService", ""), el.get("ddeTopic", "")) if x)
    return ""


def _activex_class(data: bytes, info: zipfile.ZipInfo, budget: _Budget, policy: Policy) -> str:
    """The class ID an ActiveX control part declares (its `classid`), or ""."""
    root = _naming_part(data, info, budget, policy)
    if root is None:
        return ""
    return next((v for k, v in root.attrib.items() if _local(k) == "classid"), "")


def _shown(text: str) -> str:
    """Package text named in a message: as written (a UNC path keeps its single backslashes), quoted, at most
    100 characters, with characters that do not print (line breaks, controls) shown as "?"."""
    return "'" + "".join(ch if ch.isprintable() else "?" for ch in clip(text.strip())) + "'"


def _vba_project(infos: list[zipfile.ZipInfo], declared: dict[str, str], by_extension: dict[str, str],
                 relationships: dict[str, list[tuple[str, str, str]]]) -> str | None:
    """The part holding a VBA project, however it is named: `vbaProject.bin` anywhere, a part whose content
    type is a VBA project's, or the target of a `vbaProject` relationship of any relationships part."""
    for info in infos:
        lower = info.filename.lower()
        ext = lower.rsplit(".", 1)[-1] if "." in lower.rsplit("/", 1)[-1] else ""
        if (lower.rsplit("/", 1)[-1] == "vbaproject.bin"
                or declared.get(lower, by_extension.get(ext, "")) == CT_VBA_PROJECT):
            return info.filename
    for rels, found in relationships.items():
        for kind, target, mode in found:
            if kind.strip().lower().endswith(REL_VBA_PROJECT) and mode != "External":
                # the source part's folder: "xl/_rels/workbook.xml.rels" describes "xl/workbook.xml"
                folder = rels.rsplit("_rels/", 1)[0]
                return _norm_target(target, folder) if target else rels
    return None


def _macro_sheet_finding() -> Finding:
    return file_finding(
        "WB002",
        "The workbook contains an Excel 4 macro sheet. Workbooks with macros are refused: "
        "delete the macro sheet and save it as an Excel Workbook (.xlsx).")


def _check_part_names(infos: list[zipfile.ZipInfo]) -> None:
    """Each part has one plain name.  Readers look parts up case-insensitively and do not resolve
    `..`, so two names that differ only in case, or a name with `..`, could make the reader open a
    part other than the one measured here; no spreadsheet program writes either."""
    seen: set[str] = set()
    for i in infos:
        name = i.filename
        if (not name or name.startswith("/") or "\\" in name or "//" in name
                or any(seg in (".", "..") for seg in name.split("/"))):
            raise wb001(f"The workbook is corrupt: it holds a part with an invalid name ({name[:60]!r}).")
        if stat.S_ISLNK(i.external_attr >> 16):
            raise wb001(f"The workbook is corrupt: its part {name[:60]} is stored as a symbolic link, not as "
                        "content; no spreadsheet program writes one.")
        key = name.lower()
        if key in seen:
            raise wb001(f"The workbook is corrupt: it holds two parts named {name[:60]!r}.")
        seen.add(key)


def _office_document(rels_xml: bytes) -> str | None:
    root = _parse_xml(rels_xml, "_rels/.rels")
    for rel in root.iter(f"{{{NS_PKG_REL}}}Relationship"):
        if rel.get("Type", "").endswith(_REL_OFFICE_DOCUMENT) and rel.get("TargetMode") != "External":
            if rel.get("Type", "").startswith(NS_STRICT):
                raise _strict_open_xml()
            return _norm_target(rel.get("Target", ""), "")
    return None


def _strict_open_xml() -> FileRefused:
    return wb001('The file is a Strict Open XML spreadsheet, which cannot be read. Open it in Excel and save it '
                 'again with "Save As", choosing "Excel Workbook (.xlsx)", not "Strict Open XML Spreadsheet".')


# The parts besides the worksheets that the readers read, by kind of relationship, and the names they read
# them by in the workbook part's folder (python-calamine and fastexcel alike, whatever the relationships name).
_USUAL_PARTS = (("sharedStrings", "sharedStrings.xml"), ("styles", "styles.xml"))


def _sheet_list(wb_xml: bytes, rels_xml: bytes, base: str, wb_part: str
                ) -> tuple[list[SheetScan], bool, dict[str, str], list[Finding]]:
    """The sheets of workbook.xml in order, the 1904 date system flag, the parts the workbook's
    relationships name for shared strings and styles, and WB010 for the first defined name whose
    formula reaches outside the workbook."""
    root = _parse_xml(wb_xml, wb_part)
    if root.tag.startswith("{" + NS_STRICT):
        raise _strict_open_xml()
    rel_targets: dict[str, tuple[str, str]] = {}
    parts: dict[str, str] = {}
    if rels_xml:
        rels = _parse_xml(rels_xml, "the workbook's relationships")
        for rel in rels.iter(f"{{{NS_PKG_REL}}}Relationship"):
            target, typ = rel.get("Target", ""), rel.get("Type", "")
            rel_targets[rel.get("Id", "")] = (target, typ)
            kind = typ.rsplit("/", 1)[-1]
            if kind in ("sharedStrings", "styles") and kind not in parts and target:
                parts[kind] = _norm_target(target, base)
    out: list[SheetScan] = []
    # The sheets and the date system are read where spreadsheet programs read them, and only there: the list of
    # sheets and the workbook's properties, children of the workbook element, each once, all of the spreadsheet
    # namespace (the reader is given what is read here; a `sheet` found anywhere by its local name could be one
    # that spreadsheet programs never show).
    if not root.tag.startswith(_MAIN_TAG):
        raise wb001("The workbook is corrupt: its workbook part is of another namespace than a spreadsheet's. Open "
                    "the original in Excel and save it again.")
    lists = [child for child in root if child.tag == f"{_MAIN_TAG}sheets"]
    properties = [child for child in root if child.tag == f"{_MAIN_TAG}workbookPr"]
    if len(lists) > 1 or len(properties) > 1:
        raise wb001("The workbook is corrupt: its workbook part lists its sheets, or says its date system, twice, "
                    "which no spreadsheet program writes. Open the original in Excel and save it again.")
    said = properties[0].get("date1904") if properties else None
    if said is not None and said not in _PLAIN_BOOLEANS:
        # LibreOffice and Gnumeric read `on` as the 1904 system: every date checked was four years before the one
        # shown (found by a fresh attack)
        raise wb001(f"The workbook is corrupt: its workbook part says its date system as {clip(said)!r}, which no "
                    "spreadsheet program writes (they write 1, 0, true or false). Open the original in Excel and "
                    "save it again.")
    date1904 = said in ("1", "true")
    for el in lists[0] if lists else ():
        if el.tag != f"{_MAIN_TAG}sheet":
            raise wb001("The workbook is corrupt: its workbook part holds an element of another namespace in its "
                        "sheets, which no spreadsheet program writes. Open the original in Excel and save it "
                        "again.")
        name = el.get("name", "")
        rid = el.get(f"{{{NS_REL}}}id", "")
        target, typ = rel_targets.get(rid, ("", ""))
        if typ.endswith(_MACRO_SHEET_TYPES):
            kind = "macrosheet"
        else:
            kind = typ.rsplit("/", 1)[-1] if typ.rsplit("/", 1)[-1] in ("worksheet", "chartsheet", "dialogsheet") \
                else "other"
        out.append(SheetScan(
            name=name,
            part=_norm_target(target, base) if target else "",
            is_worksheet=kind == "worksheet",
            state=el.get("state", "visible"),
            kind=kind,
        ))
    reaching = [(what, el.get("name", "")) for names in root if names.tag == f"{_MAIN_TAG}definedNames"
                for el in names if el.text and (what := _formula_reach(el.text)) is not None]
    found = [_formula_reach_finding(reaching[0][0], f"the defined name {clip(reaching[0][1])!r}", len(reaching) - 1)
             ] if reaching else []
    return out, date1904, parts, found


def _check_part(data: bytes, info: zipfile.ZipInfo, budget: _Budget, total: list[int], policy: Policy,
                well_formed: bool = False) -> None:
    """A part that is not a worksheet: inflated within its limits, and refused if it is XML that
    declares a DTD or entities, or, when the reader needs it (`well_formed`), if it is not well-formed XML."""
    is_xml = info.filename.lower().endswith(_XML_SUFFIXES)
    tail = b""
    check = _WellFormed(info.filename) if well_formed else None
    chunks = _inflate(data, info, budget, total, policy)
    for chunk in _tags_bounded(chunks, info.filename) if is_xml or well_formed else chunks:
        if is_xml or check is not None:
            _check_markers(tail + chunk, info.filename)  # before the parser sees a declaration
            tail = chunk[-_MARKER_TAIL:]
        if check is not None:
            check.feed(chunk)
    if check is not None:
        check.feed(b"", final=True)


def _check_irregular_cost(sheets: list[SheetScan], policy: Policy) -> None:
    """WB003 at once when the worksheets the fast path could not measure hold more tags than the exact
    parse measures within the scan's processor time: refused in a second rather than after grinding."""
    irregular = [s for s in sheets if s.is_worksheet and s.needs_cell_scan]
    tags = sum(s.tags for s in irregular)
    if tags > policy.max_irregular_tags:
        many = len(irregular) > 1
        named = ", ".join(repr(clip(s.name)) for s in irregular[:3]) + (" and others" if len(irregular) > 3 else "")
        raise FileRefused([file_finding(
            "WB003",
            f"Sheet{'s' if many else ''} {named} {'are' if many else 'is'} not written the way spreadsheet programs "
            f"write cells and hold{'' if many else 's'} {tags:,} XML tags, over the {policy.max_irregular_tags:,} the "
            "safety scan can measure one by one (policy max_irregular_tags). Open the workbook in Excel and save it "
            "again.")])


def _check_shared_strings(data: bytes, info: zipfile.ZipInfo, budget: _Budget, total: list[int],
                          policy: Policy, codec: str = "utf-8") -> "array[int]":
    """The shared strings part, counted rather than kept: the reader holds every entry in memory (about
    60 bytes each besides the text), so millions of them are refused before it is given the file.
    Returns each entry's text bytes, at most (from its start to the next entry's, less the tags an entry
    needs): each cell that names an entry becomes a copy of its text when read (`_check_shared_text`)."""
    if info.file_size > policy.max_shared_strings_bytes:
        raise FileRefused([file_finding(
            "WB003", f"The workbook's shared strings part is {info.file_size:,} bytes uncompressed, over the limit of "
                     f"{policy.max_shared_strings_bytes:,} bytes (policy max_shared_strings_bytes).")])
    shape = _SharedStringsShape(info.filename, policy.max_shared_strings, codec,  # not well-formed XML is WB001
                                policy.max_shared_strings_elements)
    tail = b""
    for chunk in _tags_bounded(_inflate(data, info, budget, total, policy), info.filename):
        _check_markers(tail + chunk, info.filename)
        shape.feed(chunk)
        tail = chunk[-_MARKER_TAIL:]
    shape.feed(b"", final=True)
    lengths = shape.lengths
    # the reader makes room for as many entries as the part says it holds, before reading one
    declared = shape.declared.strip()
    if declared.isascii() and declared.isdigit() and (len(declared) > 12 or int(declared) > len(lengths)):
        raise _odd_shared_strings(info.filename, f"says it holds {shape.declared.strip()[:20]} entries but holds "
                                                 f"{len(lengths):,}")
    if shape.long:  # (an entry's bytes bound its characters: only entries long enough are counted)
        _check_long_entries(data, info, shape.long, budget, policy)
    return lengths


def _check_long_entries(data: bytes, info: zipfile.ZipInfo, where: dict[int, tuple[int, int]], budget: _Budget,
                        policy: Policy) -> None:
    """WB003 for the first shared string entry holding more characters than a cell can in Excel; only the
    entries whose bytes could hold that many (`where`: entry → where it lies in the part) are read again, one at
    a time."""
    long = sorted(where)
    k = 0
    held: list[bytes] = []
    offset = 0
    for chunk in _inflate(data, info, budget, [0], policy):
        while k < len(long):
            i = long[k]
            lo, hi = where[i]
            if lo >= offset + len(chunk):
                break
            held.append(chunk[max(lo - offset, 0):hi - offset])
            if hi > offset + len(chunk):
                break
            chars, whole = _entry_chars(b"".join(held))
            held = []
            if chars > CELL_TEXT_CHARS:
                raise _LongEntry(i, chars if whole else None)
            k += 1
        offset += len(chunk)


# The text a reader reads of an entry: that of its `<t>` elements (plain, in rich-text runs, or phonetic, which is
# counted too: more than a cell shows, never less). An empty one holds nothing to count.
_ENTRY_TEXT = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?t(?:\s[^>]*)?>([^<]+)</(?:[A-Za-z_][\w.-]*:)?t>")


def _entry_chars(entry: bytes) -> tuple[int, bool]:
    """The characters of a shared string entry's text, counted where they lie (stripping its tags into a new text
    made millions of pieces of an entry of millions of empty elements, and took gigabytes), and whether that is
    all of them: counting stops once past what a cell can hold."""
    chars = 0
    for text in _ENTRY_TEXT.finditer(entry):
        chars += _chars(text.group(1))
        if chars > CELL_TEXT_CHARS:
            return chars, text.end() == len(entry) or not _ENTRY_TEXT.search(entry, text.end())
    return chars, True


class _LongEntry(Exception):
    """A shared string entry (numbered from 0) of more characters than a cell can hold: refused once the
    worksheets are measured, naming the first cell that shows it."""

    def __init__(self, entry: int, chars: int | None):
        super().__init__(entry, chars)
        self.entry, self.chars = entry, chars  # None: more than a cell can hold, not all counted


def _long_entry_refusal(data: bytes, names: dict[str, zipfile.ZipInfo], sheets: list[SheetScan], long: _LongEntry,
                        budget: _Budget, policy: Policy) -> FileRefused:
    """WB003 for a shared string entry longer than Excel allows, naming the first cell, written as spreadsheet
    programs write one, that names it (else the entry alone: the reader holds it all the same)."""
    cell = re.compile(rb'<c r="([A-Z]{1,3}[1-9][0-9]{0,6})"(?: s="[0-9]{1,9}")? t="s"><v>0*%d</v>' % long.entry)
    where = f"Shared string entry {long.entry + 1:,} of the workbook"
    for s in sheets:
        if not (s.is_worksheet and s.part in names):
            continue
        carry = b""
        for chunk in _inflate(data, names[s.part], budget, [0], policy):
            found = cell.search(carry + chunk)
            if found:
                where = f"Cell {found.group(1).decode()} of sheet {clip(s.name)!r}"
                break
            carry = chunk[-64:]
        if found:
            break
    return FileRefused([file_finding(
        "WB003", f"{where} holds {_held_words(long.chars)} a cell can hold in Excel. Shorten it, or put the text "
                 "in a document attached as evidence.")])


_ENTRY_START_TAG = len(b"<si>")  # what every entry spends on tags before its end tag, besides its text


# A canonical cell that names a shared string by its number (see `_CANON_VALUE`), and the number, its leading
# zeros left out.  A number of more than ten digits names no entry (there are at most millions), nor does a
# value that is not digits: such cells are not matched, and copy nothing.
_SHARED_VALUE = re.compile(
    rb'<c r="[A-Z]{1,3}[1-9][0-9]{0,6}"(?: s="[0-9]{1,9}")? t="s"><v>0*([0-9]{1,10})</v></c>')
# The most digits of an entry's number worth reading (Python refuses to read an integer of thousands).
_ENTRY_DIGITS = 10


def _own_text(sheets: list[SheetScan]) -> int:
    """The bytes the worksheets' own text (inline strings, formula text results) takes once read, as measured."""
    return sum(s.text_bytes for s in sheets if s.is_worksheet)


def _count_own_text(data: bytes, names: dict[str, zipfile.ZipInfo], sheets: list[SheetScan], budget: _Budget,
                    policy: Policy) -> None:
    """Each worksheet's own text counted cell by cell where the scan kept only a bound of it; WB003 as soon as
    the text counted passes `max_shared_text_bytes`."""
    for s in sheets:
        if s.is_worksheet and not s.text_counted and s.part in names:
            counted = sum(x.text_bytes for x in sheets if x.is_worksheet and x.text_counted)
            s.text_bytes = _own_text_of(data, names[s.part], budget, policy, counted) - counted if s.text_bytes else 0
            s.text_counted = True
    if _own_text(sheets) > policy.max_shared_text_bytes:  # (a sheet the exact parse counted, and no part of it)
        raise _shared_text_refusal(policy)


def _own_text_of(data: bytes, info: zipfile.ZipInfo, budget: _Budget, policy: Policy, counted: int) -> int:
    """`counted` plus the bytes the text of a sheet's canonical inline string and formula text cells takes once
    read (`_held_bytes`, cell by cell); WB003 as soon as that passes the limit.  (Only a sheet measured by its
    canonical cells is counted so: the exact parse counts its own.)"""
    limit = policy.max_shared_text_bytes
    for buf, cut in _whole_cells(data, info, budget, policy):
        texts = _CELL_TEXT.findall(buf, 0, cut)
        counted += sum(map(len, texts)) if _widest(buf) == 1 else sum(map(_held_bytes, texts))
        if counted > limit:
            raise _shared_text_refusal(policy)
    return counted


def _whole_cells(data: bytes, info: zipfile.ZipInfo, budget: _Budget, policy: Policy):
    """A canonical sheet's inflated chunks, each with the part before the cell it ends inside carried into the
    next: (text, where its last whole cell ends)."""
    carry = b""
    for chunk in _inflate(data, info, budget, [0], policy):
        buf = carry + chunk
        cut = buf.rfind(b"</c>") + 4 if b"</c>" in buf else 0
        carry = buf[cut:]
        if len(carry) > 8 * CHUNK:  # (the first pass measured it cell by cell: never so here)
            carry = carry[-8 * CHUNK:]
        yield buf, cut


def _check_unnamed_entries(entries: int, sheets: list[SheetScan]) -> None:
    """WB003 when the shared strings part holds many more entries than cells name a shared string.

    Spreadsheet programs write only the entries cells name.  Entries no cell names escape the limit on the text
    cells copy, yet the reader parses and holds every one each time it opens the workbook: a part of 1,000,000
    unnamed entries took a check to 408-432 MB, and one of runs packed with elements to 17 s."""
    named = sum(s.shared_cells for s in sheets if s.is_worksheet)
    if entries > named + named // 10 + _UNNAMED_ENTRIES_ALLOWED:
        raise FileRefused([file_finding(
            "WB003", f"The workbook's shared strings part holds {entries:,} entries but only {named:,} cells name "
                     "one: no spreadsheet program keeps so many that no cell uses. Open the original in Excel and "
                     "save it again.")])


# entries of the shared strings part no cell names, at most, beyond a tenth of those named (some writers keep a
# few after cells are cleared)
_UNNAMED_ENTRIES_ALLOWED = 1000


def _may_copy(sheets: list[SheetScan], longest: int) -> int:
    """The most text the worksheets' shared-string cells could copy: each cell times the longest entry."""
    return sum(s.shared_cells for s in sheets if s.is_worksheet) * longest


def _check_shared_text(data: bytes, names: dict[str, zipfile.ZipInfo], lengths: "array[int]", longest: int,
                       sheets: list[SheetScan], budget: _Budget, policy: Policy) -> None:
    """WB003 when the cells' text once read, their own and what those naming shared strings copy, passes
    `max_shared_text_bytes`.

    The reader makes each cell naming a shared string a copy of its entry's text: a few long entries named by
    millions of cells are a small file that fills gigabytes once read.  The cells counted times the longest entry
    bounds it cheaply; only above the limit are the entries' lengths and each cell's entry counted exactly,
    stopping as soon as the limit is passed.  The sheets' own text (`SheetScan.text_bytes`) counts from the start."""
    limit = policy.max_shared_text_bytes
    if _own_text(sheets) + _may_copy(sheets, longest) <= limit:
        return
    _count_own_text(data, names, sheets, budget, policy)
    copied = _own_text(sheets)
    if copied + _may_copy(sheets, longest) <= limit:
        return
    for s in sheets:
        if s.is_worksheet and s.shared_cells and s.part in names:
            copied = _shared_text_of(data, names[s.part], s, lengths, budget, policy, copied)


def _copied_entry(value: str, lengths: "array[int]") -> int:
    """The text bytes a shared-string cell whose value is `value` copies when read: the entry it names, and the
    first entry where the reader cannot read the value as a number (which it reads as 0)."""
    def entry(i: int) -> int:
        return lengths[i] if 0 <= i < len(lengths) else 0

    def number(text: str) -> int:
        digits = text.lstrip("0") or "0"
        return int(digits) if len(digits) <= _ENTRY_DIGITS else -1

    if value.isascii() and value.isdigit():
        return entry(number(value))
    stripped = value.strip()
    return max(entry(0), entry(number(stripped)) if stripped.isascii() and stripped.isdigit() else 0)


def _shared_text_refusal(policy: Policy) -> FileRefused:
    return FileRefused([file_finding(
        "WB003", f"The workbook's cells hold more than {policy.max_shared_text_bytes:,} bytes of text once read "
                 "(their inline text and each copy of a shared string, a shared string's formatting counted with "
                 "its text), over the safety limit (policy max_shared_text_bytes).")])


def _shared_text_of(data: bytes, info: zipfile.ZipInfo, scan: SheetScan, lengths: list[int], budget: _Budget,
                    policy: Policy, copied: int) -> int:
    """`copied` plus the text the sheet's shared-string cells copy; WB003 as soon as that passes the limit.

    A sheet the first pass measured by its canonical cells (every cell spelled as spreadsheet programs
    write it) is read again by the same pattern; any other is parsed."""
    limit = policy.max_shared_text_bytes
    if not scan.needs_cell_scan:
        n_entries = len(lengths)
        first = lengths[0] if n_entries else 0
        for buf, cut in _whole_cells(data, info, budget, policy):
            named = list(map(int, _SHARED_VALUE.findall(buf, 0, cut)))
            if named and max(named) < n_entries:  # (as a well-written sheet's are: summed without a Python loop)
                copied += sum(map(lengths.__getitem__, named))
            else:
                copied += sum(lengths[i] for i in named if i < n_entries)
            # a shared-string cell whose value is not an entry's number is read as the first entry (the reader
            # takes what it cannot read as a number as 0): counted as copying nothing, 60,000 such cells naming a
            # 32,000-character entry filled 2 GB
            copied += (buf.count(b't="s"><v>', 0, cut) - len(named)) * first
            if copied > limit:
                raise _shared_text_refusal(policy)
        return copied
    n = 0
    try:
        for _, el in safe_iterparse(_ChunkStream(_inflate(data, info, budget, [0], policy)), events=("end",),
                                    forbid_dtd=True):
            tag = _local(el.tag)
            if tag == "c":
                if el.get("t") == "s":
                    for child in el:
                        if _local(child.tag) == "v":
                            copied += _copied_entry(child.text or "", lengths)
                    n += 1
                    if copied > limit:
                        raise _shared_text_refusal(policy)
                    if not n % 65536:
                        budget.check()
                el.clear()
            elif tag == "row":
                el.clear()
    except (ParseError, DefusedXmlException, ValueError, LookupError):
        raise _not_well_formed(f"{info.filename} (sheet {clip(scan.name)!r})") from None
    return copied


def _workbook_area(sheets: list[SheetScan]) -> int:
    """The cells the worksheets' values span together, as far as the scan has measured them: a reader holds
    a sheet's whole rectangle at once, and what it has typed of the others beside it."""
    return sum(s.max_row * s.max_col for s in sheets if s.is_worksheet)


def _worksheet_parts(sheets: list[SheetScan], others: set[str]) -> dict[str, SheetScan]:
    """Each worksheet's part, which must be its own: measured as a worksheet, a part that is also another
    sheet's, the workbook part, a relationships part, the content types, the shared strings or the styles
    would be read by the reader as that as well, never measured so (a sheet naming the shared strings part
    let its entries' limits go unchecked)."""
    by_part: dict[str, SheetScan] = {}
    for s in sheets:
        if not s.is_worksheet:
            continue
        if s.part in by_part or s.part in others:
            raise wb001(f"The workbook is corrupt: sheet {clip(s.name)!r} names part {s.part[:60]}, which is also "
                        f"{'another sheet' if s.part in by_part else 'another part of the workbook'}. No "
                        "spreadsheet program writes such a file; open the original in Excel and save it again.")
        by_part[s.part] = s
    return by_part


def _within_limits(scan: SheetScan, policy: Policy) -> bool:
    return scan.rows_with_values <= policy.max_rows_per_sheet and max(scan.max_row * scan.max_col, scan.cells) <= \
        policy.max_cells_per_sheet


def _reading_package(sheets: list[SheetScan], data: bytes, date1904: bool, names: dict[str, zipfile.ZipInfo],
                     targets: dict[str, str], transcode: dict[str, str], budget: _Budget, policy: Policy) -> bytes:
    """The bytes the reader is given, so that it reads exactly the parts measured here, as measured here.

    The scan reads a file with Python's zipfile and its own XML parsing; the reader with a Rust zip library
    and quick-xml, and the two have read one file differently in every way tried: which end record, which
    directory, a name from an extra field, a name's encoding, sizes from zip64 fields (decision record 0057),
    then which attribute names a sheet's relationship, which element is a relationship, and a sheet whose
    part was also the shared strings or styles.  Each way let the reader read a part, or a part as a sheet,
    that the scan never measured so.  So the reader is never given the file, nor its workbook part or
    relationships: it is given a new zip archive of one way to read, written here (decision record 0059):

    - a workbook part, relationships and content types of isap's own, listing only the worksheets the scan
      measured, under names of isap's own (each worksheet's `read_name`), and its date system;
    - the worksheets, and the shared strings and styles parts as the scan found them (`targets`; calamine
      reads those two by their usual names in the workbook part's folder, so that is where they go), each
      part's stored bytes copied as they are: nothing is inflated or compressed again.  A part in another
      encoding than UTF-8 (`transcode`, part → codec; well-formed, or the scan would have refused it) is
      copied in UTF-8, compressed again, since calamine reads only UTF-8.

    Every record has its name in UTF-8, marked so, and no extra field, comment, data descriptor or zip64
    record.  The stdlib's zipfile writes only what it compresses itself, hence `_zip_of`."""
    worksheets = [s for s in sheets if s.is_worksheet]
    listed = "".join(f'<sheet name="isap{n}" sheetId="{n + 1}" r:id="rId{n + 1}"/>' for n in range(len(worksheets)))
    workbook_pr = '<workbookPr date1904="1"/>' if date1904 else ""
    relationships = "".join(f'<Relationship Id="rId{n + 1}" Type="{NS_REL}/worksheet" '
                            f'Target="worksheets/isap{n}.xml"/>' for n in range(len(worksheets)))
    entries = [
        _written_entry("[Content_Types].xml", _READING_CONTENT_TYPES.encode()),
        _written_entry("_rels/.rels", _READING_ROOT_RELS.encode()),
        _written_entry("xl/workbook.xml", f'<workbook xmlns="{NS_MAIN}" xmlns:r="{NS_REL}">{workbook_pr}'
                                          f"<sheets>{listed}</sheets></workbook>".encode()),
        _written_entry("xl/_rels/workbook.xml.rels",
                       f'<Relationships xmlns="{NS_PKG_REL}">{relationships}</Relationships>'.encode()),
    ]
    total = [0]

    def copied(name: str, part: str) -> tuple:
        if part in transcode:
            return _transcoded_entry(name, data, names[part], transcode[part], budget, total, policy)
        return _stored_entry(name, data, names[part])

    for kind, usual in _USUAL_PARTS:
        if targets.get(kind) in names:
            entries.append(copied(f"xl/{usual}", targets[kind]))
    for n, s in enumerate(worksheets):
        s.read_name = f"isap{n}"
        entries.append(copied(f"xl/worksheets/isap{n}.xml", s.part))
    return _zip_of(entries)


def _written_entry(name: str, content: bytes) -> tuple:
    """A part isap writes, stored uncompressed: (name, method, checksum, stored bytes, size)."""
    return name, zipfile.ZIP_STORED, zlib.crc32(content), content, len(content)


def _stored_entry(name: str, data: bytes, info: zipfile.ZipInfo) -> tuple:
    """A measured part, its stored bytes as they are (the scan verified their checksum as it inflated them)."""
    return name, info.compress_type, info.CRC, _stored_bytes(data, info), info.file_size


def _transcoded_entry(name: str, data: bytes, info: zipfile.ZipInfo, codec: str, budget: _Budget, total: list[int],
                      policy: Policy) -> tuple:
    """A measured part in another encoding, in UTF-8 and compressed again."""
    packer = zlib.compressobj(1, zlib.DEFLATED, -15)
    packed: list[bytes] = []
    crc = size = 0
    for chunk in _transcoded(_inflate(data, info, budget, total, policy), codec):
        crc, size = zlib.crc32(chunk, crc), size + len(chunk)
        packed.append(packer.compress(chunk))
    packed.append(packer.flush())
    return name, zipfile.ZIP_DEFLATED, crc, b"".join(packed), size


def _zip_of(entries: list[tuple]) -> bytes:
    """A zip archive of `entries` (name, method, checksum, stored bytes, size), one way to read: each name in
    UTF-8 and marked so, no extra field, comment, data descriptor or zip64 record.  The layout is the zip
    format's (APPNOTE 4.3.7 local header, 4.3.12 directory record, 4.3.16 end record)."""
    out = bytearray()
    directory = bytearray()
    for name, method, crc, stored, size in entries:
        raw_name = name.encode("utf-8")
        if len(entries) > 0xFFFF or len(stored) > 0xFFFFFFFF or size > 0xFFFFFFFF:  # (the limits forbid it)
            raise _too_large_to_copy()
        fields = struct.pack("<HHHHIIIH", _UTF8_NAME, method, 0, 0x21, crc, len(stored), size, len(raw_name))
        directory += b"PK\x01\x02" + struct.pack("<HH", 20, 20) + fields
        directory += struct.pack("<HHHHII", 0, 0, 0, 0, 0, len(out)) + raw_name
        out += b"PK\x03\x04" + struct.pack("<H", 20) + fields + struct.pack("<H", 0) + raw_name
        out += stored
    end = _END_RECORD + struct.pack("<HHHHIIH", 0, 0, len(entries), len(entries), len(directory), len(out), 0)
    return bytes(out + directory + end)


def _too_large_to_copy() -> FileRefused:
    return FileRefused([file_finding("WB003", "The workbook's sheets are too large to be read within the safety "
                                              "limits.")])


_READING_CONTENT_TYPES = (
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/></Types>')
_READING_ROOT_RELS = (
    f'<Relationships xmlns="{NS_PKG_REL}"><Relationship Id="rId1" '
    f'Type="{NS_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>')


def _number(text: str) -> int | None:
    """A number as an attribute of a style or column writes one (ASCII digits, at most nine), else None:
    `isdigit` also takes digits `int` refuses (superscripts, other scripts) and runs `int` will not read."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 9 else None


def _date_styles(styles_xml: bytes, name: str) -> frozenset[int]:
    """Indexes of the cell formats (`cellXfs`) whose number format is a date, as the reader decides.
    The reader needs the styles part: one that is not well-formed is WB001."""
    root = _parse_xml(styles_xml, name)
    custom: dict[int, str] = {}
    xfs: list[int] = []
    for el in root.iter():  # (number and cell formats as the reader takes them: only those in their lists)
        tag = el.tag.rsplit("}", 1)[-1]
        if tag in ("numFmts", "cellXfs") and any(not e.tag.startswith(_MAIN_TAG) for e in (el, *el)):
            # the reader takes formats by their local names, spreadsheet programs skip another namespace's: one
            # more cell format to the reader shifts every later one, and with it which cells are dates
            raise wb001("The workbook is corrupt: its styles part holds an element of another namespace among its "
                        "number or cell formats, which no spreadsheet program writes. Open the original in Excel "
                        "and save it again.")
        if tag == "numFmts":
            for fmt in el:
                fid = fmt.get("numFmtId", "")
                if fmt.tag.rsplit("}", 1)[-1] == "numFmt" and _number(fid) is not None:
                    code = fmt.get("formatCode", "")
                    if len(code) > _LONGEST_FORMAT_CODE:
                        # Excel writes at most 255 characters; the reader tests a format's code for every cell
                        # format using it, and 140,000 formats of one 2 MB code held a checker for minutes
                        raise wb001(f"The workbook is corrupt: its styles part holds a number format of "
                                    f"{len(code):,} characters; spreadsheet programs write at most 255. Open "
                                    "the original in Excel and save it again.")
                    custom[_number(fid)] = code
        elif tag == "cellXfs":
            for xf in el:  # (an element of another name is no cell format: counted, it shifts every later one)
                if xf.tag.rsplit("}", 1)[-1] == "xf":
                    xfs.append(_number(xf.get("numFmtId", "0")) or 0)
    for fid in {fid for fid in xfs if fid not in custom and fid in _DISPUTED_BUILT_IN_FORMATS}:
        # East Asian and Thai dates: dates to the reader and to some spreadsheet programs, numbers to others
        raise wb001(f"The workbook is corrupt: its styles part names the built-in number format {fid}, which some "
                    "spreadsheet programs show as a date and others as a number. Open the original in Excel and "
                    "save it again with a date or number format of its own.")
    for fid in set(xfs) & custom.keys():
        if _shown_otherwise(custom[fid]):
            raise wb001(f"The workbook is corrupt: its styles part holds a number format ({clip(custom[fid])!r}) that "
                        "shows some numbers as dates and others not, or shows a date the reader does not read as "
                        "one. Open the original in Excel and save it again with a plain date or number format.")
    dates = {fid for fid, code in custom.items() if _is_date_format(code)}  # each format once, not once a cell
    out = set()
    for i, fid in enumerate(xfs):
        if fid in custom:
            if fid in dates:
                out.add(i)
        elif 14 <= fid <= 22 or fid in (45, 47):
            out.add(i)
    return frozenset(out)


# The longest number format code read: Excel writes at most 255 characters (a little room for other writers).
_LONGEST_FORMAT_CODE = 1000


# built-in number formats read differently: 27–36 and 50–58 (East Asian dates) are dates to the reader, 71–81
# (Thai dates) to LibreOffice, and the others between them to neither or to some
_DISPUTED_BUILT_IN_FORMATS = frozenset({*range(23, 37), *range(50, 82)})


def _format_sections(code: str) -> list[str]:
    """A number format code's sections (positive, negative, zero, text, or as their conditions pick), split at
    each `;` that is not quoted, escaped or in brackets (`_FORMAT_LITERALS`)."""
    masked = _FORMAT_LITERALS.sub(lambda literal: " " * len(literal.group(0)), code)
    cuts = [i for i, ch in enumerate(masked) if ch == ";"]
    return [code[a + 1:b] for a, b in zip([-1, *cuts], [*cuts, len(code)])]


def _shown_otherwise(code: str) -> bool:
    """Whether spreadsheet programs may show a number under this format as a date where the reader, which judges
    a format by its first section, does not, or the other way (found by a fresh attack: `[<0]0;yyyy-mm-dd` showed
    10 as 1900-01-09, read as 10): its sections for numbers do not agree, or one holds an era's year (`e`, `g`),
    a date to LibreOffice and Gnumeric only.  A text section (`@`) and an empty one show no number."""
    kinds = set()
    for section in _format_sections(code)[:3]:
        bare = _bare_format(section)
        if not bare.strip() or "@" in bare:
            continue
        if _ERA.search(bare):
            return True
        kinds.add(_is_date_format(section))
    return len(kinds) > 1


def _bare_format(section: str) -> str:
    """A format section without its quoted text, escaped characters, bracketed parts and the word General."""
    return _FORMAT_LITERALS.sub("", section)


_FORMAT_LITERALS = re.compile(r'"[^"]*"?|\\.|[_*].|\[[^\]]*\]?|(?i:general)')
# an era's year, or its name: not the `E` or `e` of a scientific format (`0.00E+00`)
_ERA = re.compile(r"[gG]|e(?![+-])")


def _is_date_format(code: str) -> bool:
    """A number format code that shows a date or time (the reader's own test, durations aside)."""
    escaped = quoted = ap = False
    brackets = 0
    for ch in code:
        if escaped:
            escaped = False
        elif ch in "_\\*":
            escaped = True
        elif quoted:
            quoted = ch != '"'
        elif ch == '"':
            quoted = True
        elif ch == ";":
            return False
        elif ch == "[":
            brackets += 1
        elif ch == "]":
            brackets = max(0, brackets - 1)
        elif brackets:
            continue
        elif ap and ch in "pmPM/":
            return True
        elif ch in "aA":
            ap = True
        elif ch in "dmhysDMHYS":
            return True
    return False


def _scan_sheet(data: bytes, info: zipfile.ZipInfo, scan: SheetScan, budget: _Budget,
                total: list[int], policy: Policy, date_styles: frozenset[int], codec: str = "utf-8") -> None:
    """Extent and row count of a worksheet, from its bytes.

    The fast path reads cells spelled exactly as spreadsheet programs write them, and is taken
    for a chunk only when every cell tag in it (counted whatever its spelling) matched that
    canonical spelling: then the cells it saw are exactly the cells the reader reads.  Anything
    else (another attribute order, line breaks in tags, prefixes, lower case, leading zeros,
    cells without `r`, comments, formulas, error values, styles inherited from rows or columns)
    sends the sheet to the exact streaming parse, `_scan_cells`.

    Once the cells of a chunk have shown the sheet's columns, the next chunks are measured a row at a
    time (`_rows_within`): a chunk whose every cell and row tag lies in a whole canonical row, each cell
    naming its row's number in a column already seen, adds those rows and nothing else, which is what
    the pattern per cell would find, for one match per row instead of one object per cell.  A chunk
    with anything else in it is measured cell by cell, as before.

    The exact parse also proves the part well-formed XML; the fast path, which parses nothing, takes a
    part only when it is UTF-8 (as declared and as its bytes decode), begins with the worksheet's root
    and ends with its end tag: a part in another encoding, truncated, or not XML at all is parsed
    exactly, and refused there (WB001) unless it is well-formed.  A part that passes the fast path and
    still mismatches a tag among canonical cells is refused by the reader's own XML parser.
    """
    rows: set[bytes] = set()
    cols: set[bytes] = set()
    first = True
    carry = b""
    tail = b""
    fast = codec == "utf-8"
    at_start = True
    end = b""  # the last bytes of the part, for its end tag
    utf8 = codecs.getincrementaldecoder("utf-8")()
    open_rows = [0]
    shared = [0]
    text = [0]
    cells = [0]  # the value cells measured, one for each the reader reads (a reference repeated counts each time)
    widest = [0]  # the latest column of the cells measured one by one (the row pattern takes none beyond it)
    limit = policy.max_rows_per_sheet

    def measure(buf: bytes, first: bool) -> bool:
        # single-byte tests first: memchr-fast, and these bytes are rare in canonical sheets
        if b"!" in buf and b"<!" in buf:
            return False
        if (b"_" in buf or b"&" in buf) and _PRINTABLE_ESCAPE_BYTES.search(buf):  # (single bytes: memchr-fast)
            return False  # (an escaped character: measured, and refused, exactly)
        if (b"<f" in buf or b":f" in buf) and _FORMULA_TAG_BYTES.search(buf) and _MIGHT_REACH_BYTES.search(buf):
            return False  # (a formula that may reach outside the workbook: measured, and named for WB010, exactly)
        if b"customFormat" in buf and buf.count(b"customFormat") != sum(map(buf.count, _PLAIN_CUSTOM_ROW)):
            return False  # (a row's format said otherwise than plainly: measured, and refused, exactly)
        if b"xmlns" in buf and any(m.group(2) != _MAIN_NS_BYTES for m in _DEFAULT_NAMESPACE.finditer(buf)):
            return False  # unprefixed elements of another namespace somewhere: measured exactly
        if b"?" in buf and buf.find(b"<?", 1 if first else 0) != -1:
            return False
        if b":" in buf and b":c" in buf and _PREFIXED_CELL.search(buf):
            return False
        if date_styles:
            if b"<col" in buf and any(int(x) in date_styles for x in _COL_STYLE.findall(buf)):
                return False  # numbers without a style of their own may be dates: measured exactly
            # a row's custom format matters only to numbers without a style of their own
            n_custom = sum(buf.count(m) for m in _CUSTOM_ROW) if b"customFormat" in buf else 0
            if n_custom:
                bare = _CANON_NUMBER_NO_STYLE.findall(buf)
                if bare:
                    custom = _CANON_CUSTOM_ROW.findall(buf)
                    if len(custom) != n_custom:
                        return False
                    if not {r for r, st in custom if int(st) in date_styles}.isdisjoint(bare):
                        return False
        if not open_rows[0] and widest[0]:
            # whole canonical rows within the columns already seen: one match per row, nothing per cell
            found = _rows_within(widest[0]).findall(buf)
            if not any(map(_second, found)):
                rows.update(map(_first, found))
                cells[0] += buf.count(b"<c ")  # (every cell tag here is a canonical value cell)
                shared[0] += buf.count(b't="s"')
                return True
        if _INLINE_V in buf:
            return False
        found = _CANON_VALUE.findall(buf)
        # every cell start tag, whatever its spelling, begins "<c" followed by white space, "/" or ">"
        if len(found) != buf.count(b"<c"):  # some "<c…" tag is not a canonical value cell: look closer
            if _ODD_CELL_TAG.search(buf):
                return False
            if len(found) + len(_CANON_EMPTY.findall(buf)) != buf.count(b"<c "):
                return False
        # rows opened and closed in turn, none nested and none left open (the cells were matched whole);
        # `<rowBreaks`, after the sheet data and rare, then counts as a row left open: parsed exactly
        opened = buf.count(b"<row") - buf.count(b"</row>")
        if opened:  # (a self-closed row, rare, is counted exactly)
            opened -= len(_SELF_CLOSED_ROW.findall(buf))
        open_rows[0] += opened
        if not 0 <= open_rows[0] <= 1:
            return False
        if _LONG_TEXT.search(buf):  # (a row pattern takes no cell with a text this long)
            for m in _LONG_CELL_TEXT.finditer(buf):
                if (chars := _chars(m.group(2))) > CELL_TEXT_CHARS:
                    raise _cell_too_long(scan, m.group(1).decode(), chars)
        rows.update(map(_second, found))
        cells[0] += len(found)
        seen = len(cols)
        cols.update(map(_first, found))
        if len(cols) != seen:
            widest[0] = max(map(col_number, map(bytes.decode, cols)))
        shared[0] += buf.count(b't="s"')  # (text that merely looks like it only counts more: a safe bound)
        return True

    def count_text(buf: bytes) -> None:
        # (only chunks holding inline strings or formula text take this: spreadsheet programs write shared strings)
        if b"<is>" not in buf and b't="str"' not in buf:
            return
        # The chunk's bytes but for the tags around each inline string's text: a bound on its text for two counts
        # of a long needle (about 1 ms a MB; 2.2-3.7 times the text of the template's sheets as openpyxl writes them).
        # `_own_text_of` counts the cells' text exactly, only should the bounds of all the sheets pass the limit.
        text[0] += (len(buf) - len(_INLINE_OPEN) * buf.count(_INLINE_OPEN) - len(_INLINE_CLOSE)
                    * buf.count(_INLINE_CLOSE)) * _widest(buf)

    def measured(chunk: bytes) -> bool:
        """The chunk measured on the fast path (cut after its last complete row or cell, the rest carried to
        the next); False as soon as anything in it needs the exact parse."""
        nonlocal at_start, end, carry, first
        if at_start:
            at_start = False
            if not _ROOT_START.match(chunk):  # not XML, a prefixed root, or anything before it: parse exactly
                return False
        try:
            if not chunk.isascii() or utf8.getstate()[0]:  # (ASCII, most of a sheet, is UTF-8 as it is)
                utf8.decode(chunk)  # (the text is dropped at once)
        except UnicodeDecodeError:
            return False
        end = (end[-len(_ROOT_END) - 64:] if len(chunk) < len(_ROOT_END) + 64 else b"") + chunk[-len(_ROOT_END) - 64:]
        buf = carry + chunk
        # cut after the last complete row, so that the rows can be measured whole, else after the last complete
        # cell: no cell is split between two chunks
        end_row = buf.rfind(b"</row>")
        end_c = buf.rfind(b"</c>") if end_row < 0 else -1
        cut = end_row + 6 if end_row >= 0 else end_c + 4 if end_c >= 0 else 0
        carry = buf[cut:]
        buf = buf[:cut]
        if len(carry) > 8 * CHUNK:
            return False
        if buf:
            if not measure(buf, first):
                return False
            count_text(buf)
            first = False
        return True

    # Tags ("<") are counted only in what the exact parse will measure (`_check_irregular_cost`): from the
    # chunk where the fast path ends on, and, if chunks before it were measured fast, in the whole part again.
    passed = 0  # chunks measured on the fast path
    for chunk in _tags_bounded(_inflate(data, info, budget, total, policy), info.filename):
        _check_markers(chunk, info.filename)
        _check_markers(tail + chunk[:_MARKER_TAIL], info.filename)  # a marker split across chunks
        tail = chunk[-_MARKER_TAIL:]
        if fast and not measured(chunk):
            fast = False
        if not fast:
            scan.tags += chunk.count(b"<")
            continue
        passed += 1
        if len(rows) > limit:
            scan.rows_with_values = len(rows)
            return
    if fast and carry:
        if measure(carry, first):
            count_text(carry)
        else:
            fast = False
    # empty, truncated, a row left open, or more after the root
    if fast and (at_start or open_rows[0] or not end.rstrip().endswith(_ROOT_END)):
        fast = False
    if fast:
        try:
            utf8.decode(b"", True)
        except UnicodeDecodeError:  # ends within a character
            fast = False
    if fast:
        scan.rows_with_values = len(rows)
        scan.cells = cells[0]
        scan.shared_cells = shared[0]
        scan.text_bytes = text[0]
        scan.max_row = max(map(int, rows)) if rows else 0
        scan.max_col = max((col_number(c.decode()) for c in cols), default=0)
        if scan.max_row > MAX_ROW or scan.max_col > MAX_COL:
            raise wb001(f"The workbook is corrupt: sheet {scan.name!r} has a cell outside the sheet.")
    else:
        scan.needs_cell_scan = True
        if passed:  # (this part's size was already checked against the totals)
            scan.tags = sum(chunk.count(b"<") for chunk in _inflate(data, info, budget, [0], policy))


_first = itemgetter(0)
_second = itemgetter(1)


def _chars(text: bytes) -> int:
    """The characters of a cell's UTF-8 XML text, as read: an escaped character (`&amp;`, `&#x1F600;`) is one."""
    n = len(text.translate(None, _CONTINUATION))
    if b"&" in text:
        n -= sum(map(len, _ENTITY.findall(text))) - len(_ENTITY.findall(text))
    return n


def _widest(text: bytes) -> int:
    """The bytes a character of UTF-8 XML text may take as a Python string: 4 when one is above U+FFFF (or a
    numeric reference may name one), 2 when one is above U+00FF, else 1."""
    if b"&" in text and b"&#" in text:  # a numeric reference may name a character above U+FFFF ("&": memchr-fast)
        return 4
    if text.isascii():
        return 1
    return 4 if any(lead in text for lead in _ABOVE_BMP_LEADS) else 2 if _ABOVE_LATIN1.search(text) else 1


def _held_bytes(text: bytes) -> int:
    """The bytes a cell's UTF-8 XML text takes, at most, as a Python string: each character 4 bytes when one is
    above U+FFFF, 2 when one is above U+00FF, else 1 (an escaped character counts as its reference is long)."""
    if text.isascii() and b"&" not in text:
        return len(text)
    return len(text.translate(None, _CONTINUATION)) * _widest(text)


def _width(text: str) -> int:
    """The bytes a character of the text takes as a Python string: that of its widest character."""
    if text.isascii():
        return 1
    widest = max(text)
    return 4 if widest > "\uffff" else 2 if widest > "\xff" else 1


def _held_words(chars: int | None) -> str:
    """How much text a cell holds, against Excel's limit (`chars`, when all of them were counted)."""
    return (f"{chars:,} characters of text, over the {CELL_TEXT_CHARS:,}" if chars is not None
            else f"more than {CELL_TEXT_CHARS:,} characters of text, more than")


def _cell_too_long(scan: SheetScan, cell: str, chars: int | None = None) -> FileRefused:
    """WB003 for a cell of more characters than Excel allows (`chars`, when the scan counted them all)."""
    return FileRefused([file_finding(
        "WB003", f"Cell {cell} of sheet {clip(scan.name)!r} holds {_held_words(chars)} a cell can hold in Excel. "
                 "Shorten it, or put the text in a document attached as evidence.")])


def _cell_name(pos: tuple[int, int]) -> str:
    """A cell's reference from its (row0, col0)."""
    return f"{col_letters(pos[1] + 1)}{pos[0] + 1}"


class _LongText(Exception):
    """A run of text between two tags longer than any cell may hold, found before the XML parser holds it."""


def _detach(parent, el) -> None:
    # a row or cell already measured is dropped from the tree, so a million of them cost nothing
    if parent is not None and len(parent) and parent[-1] is el:
        del parent[-1]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


# Elements an inline string (`<is>`) may not hold at any depth: the reader would end the string early, or read
# them as the cell's value.
_NOT_IN_INLINE_TEXT = frozenset({"is", "v", "f", "c"})
# A character written as Office's escape `_xHHHH_`: the reader decodes every one, LibreOffice only control characters,
# Gnumeric none, so an escaped printable character (`ISAP-2026-01_x0034_`) is read otherwise than it is shown
# (found by a fresh attack); a control character (`_x000D_`, as Excel writes a line break) shows as nothing alike.
_PRINTABLE_ESCAPE = re.compile(r"_x(?!00[01][0-9A-Fa-f]_)[0-9A-Fa-f]{4}_")
_PRINTABLE_ESCAPE_BYTES = re.compile(rb"_x(?!00[01][0-9A-Fa-f]_)[0-9A-Fa-f]{4}_|&#(?:95|x5[Ff]);")


def _escaped_character(text: str, where: str) -> FileRefused:
    found = _PRINTABLE_ESCAPE.search(text)
    return wb001(f"The workbook is corrupt: {where} holds an escaped character ({found.group(0) if found else ''!r}),"
                 " which spreadsheet programs show otherwise than they read it. Open the original in Excel and save "
                 "it again.")
_MAIN_TAG = "{" + NS_MAIN + "}"


def _in_extension(open_elements: list) -> bool:
    """Whether the element last opened lies within an extension list (`extLst`), where another namespace's
    elements are written (and read by no reader of values)."""
    return any(_local(e.tag) == "extLst" for e in open_elements[:-1])


# WB010 for formulas: what a formula reaches outside the workbook by, once the original is opened and calculated.
# Functions that fetch a web address or send data out (WEBSERVICE, IMAGE, STOCKHISTORY, COPILOT, PY), start or reach
# a program (RTD, DDE, CALL, REGISTER, EXEC) or follow a link (HYPERLINK), whatever prefixes name them (Excel's
# `_xlfn.` and `_xlws.`, in any number, `COM.MICROSOFT.`, another program's own: found by a fresh attack).
_REACHING_FUNCTION = re.compile(
    r"(?<![A-Za-z0-9_])(?:[A-Za-z_][A-Za-z0-9_]*\.)*"
    r"(WEBSERVICE|IMAGE|STOCKHISTORY|COPILOT|PY|RTD|HYPERLINK|DDE|CALL|REGISTER\.ID|REGISTER|EXEC)\s*\(",
    re.IGNORECASE)
_FORMULA_LITERAL = re.compile(r'"(?:[^"]|"")*"')  # a text literal ("" is a quote within it)
_QUOTED_SHEET = re.compile(r"'(?:[^']|'')*'")  # a quoted sheet name, which may hold a path: '\\srv\[Book.xlsx]S'
_OTHER_WORKBOOK = re.compile(r"\[[^\[\]]*\.[A-Za-z][A-Za-z0-9]{1,4}\]")  # a workbook in brackets: [Budget.xlsx]
# The elements holding a formula's text: a cell's, a conditional format's, a validation's.
_FORMULA_ELEMENTS = frozenset({"f", "formula", "formula1", "formula2"})
# A chunk the fast path measures is left to the exact parse when a formula element in it might reach outside: one
# with a call, a bar or a bracket anywhere in the chunk (read by bytes, so a character reference, which could spell
# any of them, counts as might).  A list of choices (`"Yes,No"`), as validations mostly hold, stays on the fast path.
_FORMULA_TAG_BYTES = re.compile(rb"<(?:[^\s<>/!?:]+:)?f(?:ormula[12]?)?[\s>]")
_MIGHT_REACH_BYTES = re.compile(rb"[(|\[]|&#")
# where a formula outside the sheet's data belongs, by its parent's name
_FORMULA_HOLDERS = {"conditionalFormatting": "the conditional format", "dataValidation": "the validation"}


def _formula_reach(text: str) -> str | None:
    """What a formula reaches outside the workbook by, as WB010 names it, or None.  Text literals reach nothing
    (`IF(A1="WEBSERVICE(x)",…)`); a bar outside them and quoted sheet names is a DDE link (`cmd|' /C calc'!A0`), a
    bracketed file name a reference into another workbook."""
    if "(" not in text and "|" not in text and "[" not in text:
        return None
    bare = _FORMULA_LITERAL.sub('""', text) if '"' in text else text
    found = _REACHING_FUNCTION.search(bare)
    if found:
        return found.group(1).upper()
    if "|" in (_QUOTED_SHEET.sub("''", bare) if "'" in bare else bare):
        return "a DDE link"
    if _OTHER_WORKBOOK.search(bare):
        return "another workbook"
    return None


def _note_reach(scan: SheetScan, text: str, cell: tuple[int, int] | None, open_elements: list) -> None:
    """Keeps on `scan` the first formula reaching outside the workbook, and counts the others (see `_formula_reach`).
    `cell` is the position of the cell whose formula it is; otherwise the formula belongs to the nearest open
    conditional format or validation, named by the cells it applies to."""
    what = _formula_reach(text)
    if what is None:
        return
    if scan.reach is not None:
        scan.more_reaches += 1
        return
    if cell is not None:
        where = f"cell {_cell_name(cell)} of sheet {clip(scan.name)!r}"
    else:
        holder = next((e for e in reversed(open_elements) if _local(e.tag) in _FORMULA_HOLDERS), None)
        cells = holder.get("sqref", "") if holder is not None else ""
        where = (f"{_FORMULA_HOLDERS[_local(holder.tag)]}{f' of {clip(cells)}' if cells else ''} on sheet "
                 f"{clip(scan.name)!r}") if holder is not None else f"sheet {clip(scan.name)!r}"
    scan.reach = (what, where)


def _formula_reach_finding(what: str, where: str, others: int = 0) -> Finding:
    more = f"; {others:,} other formula{'s' if others != 1 else ''} there reach{'' if others != 1 else 'es'} " \
           "outside too" if others else ""
    return file_finding("WB010", f"The workbook has a formula calling {what} ({where}{more}): opening the original "
                                 "and calculating it may make it reach a web address, a file or another program.")
# A value the reader reads as a number (Rust's `f64` parse; anything else it keeps as a text).
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _not_a_number(text: str) -> bool:
    """Whether a number cell's value is NaN, an infinity, or a number past the largest the reader holds."""
    return bool(_NOT_A_NUMBER.fullmatch(text)) or (_NUMBER.fullmatch(text) is not None and math.isinf(float(text)))
# A value (`<v>`, any prefix) holding a character or entity reference, a comment, a CDATA section or a
# processing instruction: group 1 is the first of them.
_MARKUP_IN_VALUE = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?v(?:\s[^<>]*)?>[^<&]*(&|<[!?])")
_CELL_TYPE_STR = re.compile(rb"""\st\s*=\s*(?:"str"|'str')""")
_VALUE_CONTEXT = 1 << 20  # how far before a value its cell's start tag may be (a formula's text is at most 200 KB)


# A cell's XML: its levels below the cell, and its elements (an inline text of many formatted runs has a few each)
_CELL_DEPTH = 8
_CELL_ELEMENTS = 20_000


def _column_styles(col_styles: list[tuple[int, int, int]], scan: SheetScan
                   ) -> tuple[list[int], list[tuple[int, int, int]]]:
    """The date-styled column ranges in order of their first column, and those first columns, for a search by
    halves (a search of every range for every cell took a minute with 300,000 ranges).  Ranges that overlap,
    which no spreadsheet program writes, are WB001: the reader would take the first, the order lost here."""
    ordered = sorted(col_styles)
    for (_, hi, _), (lo, _, _) in zip(ordered, ordered[1:]):
        if lo <= hi:
            raise wb001(f"The workbook is corrupt: sheet {clip(scan.name)!r} describes a column twice. Open the "
                        "original in Excel and save it again.")
    return [lo for lo, _, _ in ordered], ordered


def _column_style(starts: list[int], ranges: list[tuple[int, int, int]], column: int) -> int | None:
    """The style of the range holding `column`, or None."""
    import bisect

    i = bisect.bisect_right(starts, column) - 1
    return ranges[i][2] if i >= 0 and ranges[i][1] >= column else None


def _check_plain_values(data: bytes, info: zipfile.ZipInfo, scan: SheetScan, budget: _Budget, policy: Policy) -> None:
    """WB001 for a cell value the reader reads otherwise than a parser: it reads a number's, a shared string's
    number, a boolean's or an error's `<v>` only up to its first character reference, comment, CDATA section or
    processing instruction (`1&#48;` is entry 1 to it, 10 to the scan: 60,000 cells so copied a 32,000-character
    entry each, 2 GB).  No spreadsheet program writes one there; a formula's text (`t="str"`), which the reader
    reads whole, may hold `&amp;`.
    Only a sheet left to the exact parse is read for it: the canonical patterns take no such value."""
    carry = b""
    for chunk in _inflate(data, info, budget, [0], policy):
        buf = carry + chunk
        if b"&" in chunk or b"<!" in chunk or b"<?" in chunk:
            for m in _MARKUP_IN_VALUE.finditer(buf):
                if m.end() <= len(carry):  # (seen with the chunk before)
                    continue
                if _in_formula_text(buf, m.start()):  # (read whole, as a text, by the reader too)
                    continue
                raise wb001(f"The workbook is corrupt: a cell value of sheet {clip(scan.name)!r} holds "
                            f"{'a character reference' if m.group(1) == b'&' else 'XML markup'}, which no "
                            "spreadsheet program writes there and which programs read differently. Open the original "
                            "in Excel and save it again.")
        carry = buf[-_VALUE_CONTEXT:]


def _in_formula_text(buf: bytes, value_at: int) -> bool:
    """Whether the value starting at `value_at` belongs to a cell typed as a formula's text (`t="str"`)."""
    at = value_at
    while True:  # the last cell start tag before the value: "<c" or "<x:c" then white space, ">" or "/"
        at = max(buf.rfind(b"<c", 0, at), buf.rfind(b":c", 0, at))
        if at < 0:
            return False
        if buf[at + 2:at + 3] in (b" ", b"\t", b"\n", b"\r", b">", b"/"):
            break
    end = buf.find(b">", at)
    return end > 0 and _CELL_TYPE_STR.search(buf, at, end) is not None


def _scan_cells(data: bytes, info: zipfile.ZipInfo, scan: SheetScan, budget: _Budget, policy: Policy,
                date_styles: frozenset[int] = frozenset()) -> None:
    """The exact measure of one worksheet, by a streaming parse that follows the reader's rules.

    Only the first `sheetData` is read.  A row's `r` sets the current row; a row without one
    follows the one before.  A cell's `r` sets its position (and the current column); a cell
    without one takes the next column of the current row.  A cell holds a value when its last
    child is `<is>`, or a `<v>` that is not empty (any `<v>` for text and date types, none for
    inline strings); a formula counts too, as the template says.  Also collects error values,
    formulas with no cached value, and cells that take a date format from their row or column.
    """
    # this part's size was already checked against the totals on the first pass
    # (a text between two tags is let run a little past a cell's limit: the tag's own name counts in the run,
    # and the cell's text is measured exactly when it ends)
    stream = _ChunkStream(_inflate(data, info, budget, [0], policy), longest_text=CELL_TEXT_CHARS + 1024)
    rows: set[int] = set()
    max_row = max_col = 0
    row0 = col0 = 0
    in_data = False
    col_styles: list[tuple[int, int, int]] = []  # (min, max, style) of <col> elements with a date style
    col_starts: list[int] = []  # their first columns, in order, once the sheet data starts
    columns_described = 0  # <col> elements
    row_style: int | None = None  # the style of the current row when it has a custom format
    pos = (0, 0)
    sheet_data = None
    after = False  # past the sheet data: the rest is only parsed, to the end, to be sure it is well-formed
    outside: list = []  # the open elements outside the sheet data, each dropped once read
    special: dict[tuple[int, int], SpecialCell] = {}
    kinds: dict[str, SpecialCell] = {}  # each error literal's one instance
    inherited: set[tuple[int, int]] = set()
    open_elements: list = []
    shared_cells = 0
    text_bytes = 0
    in_cell = False
    cells = 0
    cell_depth = 0
    cell_elements = 0  # the elements of the open cell so far
    cell_chars = 0  # the characters of the open cell's text elements so far
    cell_width = 1  # the bytes a character of them takes as a Python string (see `_width`)
    try:
        for event, el in safe_iterparse(stream, events=("start", "end"), forbid_dtd=True):
            tag = _local(el.tag)
            # An element that has ended is dropped from its parent at once, unless it is a row or a cell
            # (dropped below, once measured) or belongs to a cell (read when the cell ends): elements
            # the reader ignores, by the million, then cost no memory.
            if event == "start":
                open_elements.append(el)
            else:
                open_elements.pop()
                if tag in _FORMULA_ELEMENTS and el.text:
                    _note_reach(scan, el.text, pos if in_cell else None, open_elements)
                if tag not in ("row", "c", "sheetData") and open_elements and _local(open_elements[-1].tag) != "c":
                    _detach(open_elements[-1], el)
            if not in_data:
                if event == "start":
                    if len(open_elements) == 1 and not el.tag.startswith(_MAIN_TAG):
                        raise wb001(f"The workbook is corrupt: sheet {clip(scan.name)!r} is not a worksheet of the "
                                    "spreadsheet namespace (its data is of another namespace), which no spreadsheet "
                                    "program reads. Open the original in Excel and save it again.")
                    if tag == "sheetData" and not after and not el.tag.startswith(_MAIN_TAG):
                        raise wb001(f"The workbook is corrupt: sheet {clip(scan.name)!r} holds its data in an "
                                    "element of another namespace, which no spreadsheet program writes. Open the "
                                    "original in Excel and save it again.")
                    if tag == "sheetData" and not after:
                        in_data = True
                        sheet_data = el
                        col_starts, col_styles = _column_styles(col_styles, scan)
                    else:
                        outside.append(el)
                    continue
                if tag == "col" and not after:
                    columns_described += 1
                    if columns_described > MAX_COL:
                        raise wb001(f"The workbook is corrupt: sheet {clip(scan.name)!r} describes more than "
                                    f"{MAX_COL:,} columns. Open the original in Excel and save it again.")
                if tag == "col" and date_styles and not after:
                    style, lo, hi = el.get("style", ""), el.get("min", ""), el.get("max", "")
                    if _number(style) in date_styles and _number(lo) is not None and _number(hi) is not None:
                        col_styles.append((_number(lo), _number(hi), _number(style)))
                if outside and outside[-1] is el:
                    outside.pop()
                el.clear()
                if outside:
                    _detach(outside[-1], el)
                continue
            if event == "start":
                if not el.tag.startswith(_MAIN_TAG) and not _in_extension(open_elements):
                    # The reader reads a sheet's elements by their local names; spreadsheet programs skip those of
                    # another namespace: a text run, a cell or a row of another namespace was read by isap only,
                    # and hid an error (found by a fresh attack).
                    raise wb001(f"The workbook is corrupt: sheet {clip(scan.name)!r} holds an element of another "
                                f"namespace ({clip(tag)!r}) in its data, which no spreadsheet program writes. Open "
                                "the original in Excel and save it again.")
                if in_cell:
                    # A cell is a formula, a value or an inline text of runs: a few levels and elements.  Each
                    # element of an open cell is held until the cell ends, and some checks look at all of them:
                    # 990,000 nested elements in one cell took 1.18 GB, and nested formulas 60 s.
                    cell_elements += 1
                    if len(open_elements) - cell_depth > _CELL_DEPTH or cell_elements > _CELL_ELEMENTS:
                        raise wb001(f"The workbook is corrupt: cell {_cell_name(pos)} of sheet {clip(scan.name)!r} "
                                    f"holds more than {_CELL_DEPTH} levels or {_CELL_ELEMENTS:,} elements of XML, "
                                    "which no spreadsheet program writes. Open the original in Excel and save it "
                                    "again.")
                if in_cell and len(open_elements) > 1 and _local(open_elements[-2].tag) in ("t", "v"):
                    # the reader reads the text on both sides of it; no spreadsheet program writes one
                    raise wb001(f"The workbook is corrupt: cell {_cell_name(pos)} of sheet {clip(scan.name)!r} "
                                "holds an XML element inside its text. Open the original in Excel and save it "
                                "again.")
                if in_cell and tag in _NOT_IN_INLINE_TEXT and any(
                        _local(e.tag) == "is" for e in open_elements[cell_depth:-1]):
                    # the reader ends an inline string at the first end tag named `is` and then reads what
                    # follows as the cell's value: `<is><is/><v>1</v></is>` in a `t="s"` cell was a copy of shared
                    # string 1 to it, one character of text to the scan (60,000 such cells: 2 GB, assessed)
                    raise wb001(f"The workbook is corrupt: cell {_cell_name(pos)} of sheet {clip(scan.name)!r} "
                                f"holds an element named {tag!r} inside its inline text. Open the original in "
                                "Excel and save it again.")
                if tag == "row":
                    r = el.get("r")
                    if r is not None:
                        row0 = parse_ref(r, need_column=False)[0] - 1
                    said = el.get("customFormat")
                    if said is not None and said not in _PLAIN_BOOLEANS:
                        # LibreOffice reads `on` or any number but 0 as yes: only what spreadsheet programs write is
                        # read, so whether the row's format makes its cells dates is read alike
                        raise wb001(f"The workbook is corrupt: sheet {clip(scan.name)!r} says whether its row "
                                    f"{row0 + 1}'s format applies as {clip(said)!r}, which no spreadsheet program "
                                    "writes (they write 1, 0, true or false). Open the original in Excel and save it "
                                    "again.")
                    custom = said in ("1", "true")
                    s = el.get("s", "0")
                    row_style = (_number(s) or 0) if custom else None
                elif tag == "c":
                    r = el.get("r")
                    if r is not None:
                        row_no, col_no = parse_ref(r, need_column=True)
                        pos = (row_no - 1, col_no - 1)
                        col0 = col_no - 1
                    else:
                        pos = (row0, col0)
                    in_cell, cell_chars, cell_width, cell_elements = True, 0, 1, 0
                    cell_depth = len(open_elements)  # the cell's children are open_elements[cell_depth:]
                continue
            if in_cell and tag in ("t", "v"):
                # each piece of a cell's text as it ends: a cell of many runs is refused as soon as it is too long
                piece = el.text or ""
                if "_x" in piece and _PRINTABLE_ESCAPE.search(piece):
                    raise _escaped_character(piece, f"cell {_cell_name(pos)} of sheet {clip(scan.name)!r}")
                cell_chars += len(piece)
                if piece and not piece.isascii():
                    cell_width = max(cell_width, _width(piece))
                if cell_chars > CELL_TEXT_CHARS:
                    raise _cell_too_long(scan, _cell_name(pos), cell_chars)
                continue
            if tag == "sheetData":
                in_data, after = False, True
                el.clear()
                if outside:
                    _detach(outside[-1], el)
                continue
            if tag == "row":
                row0 += 1
                col0 = 0
                row_style = None
                el.clear()
                _detach(sheet_data, el)
                continue
            if tag != "c":
                continue
            in_cell = False
            col0 += 1
            t = el.get("t")
            has_f = has_v = False
            v_text = ""
            last = ""
            cell_ns = el.tag.rpartition("}")[0]
            valued = False
            for child in el:
                ctag = _local(child.tag)
                # The reader takes a cell's values by their local names, the last one winning; a spreadsheet
                # program drops an element of a namespace the sheet marks ignorable, and shows the first: a
                # `<v>7</v><q:v>1</q:v>` was 7 to LibreOffice and 1 to isap, hiding an error.
                foreign = child.tag.rpartition("}")[0] != cell_ns
                if foreign or (ctag in ("v", "is") and valued):
                    what = "an element of another namespace" if foreign else "two values"
                    raise wb001(f"The workbook is corrupt: cell {_cell_name(pos)} of sheet {scan.name!r} holds "
                                f"{what}, which no spreadsheet program writes. Open the original in Excel and save "
                                "it again.")
                if ctag == "f" and valued:
                    # the reader drops a value its formula follows (a whole row of services unseen by isap)
                    raise wb001(f"The workbook is corrupt: cell {_cell_name(pos)} of sheet {scan.name!r} holds its "
                                "formula after its value, which no spreadsheet program writes. Open the original in "
                                "Excel and save it again.")
                valued = valued or ctag in ("v", "is")
                if ctag == "f":
                    has_f = True
                elif ctag == "v":
                    has_v = True
                    v_text = child.text or ""
                last = ctag
            if last == "is" and t != "inlineStr":
                # the reader reads an inline text whatever the cell's type; a spreadsheet program shows the cell
                # empty (a required value read as 60,000,000 was blank to the reviewer)
                raise wb001(f"The workbook is corrupt: cell {_cell_name(pos)} of sheet {scan.name!r} holds an inline "
                            "text but is not typed as one, so spreadsheet programs show it empty. Open the original "
                            "in Excel and save it again.")
            if t == "s" and v_text and not (v_text.isascii() and v_text.isdigit() and len(v_text) <= _ENTRY_DIGITS):
                # the reader takes a shared string's number only as plain digits, and any other spelling as entry 0;
                # spreadsheet programs read `+1`, `1.0` or `1e0` as entry 1 (an amount shown as £9,000,000 was
                # £15,500,000 to isap, hiding an error)
                raise wb001(f"The workbook is corrupt: cell {_cell_name(pos)} of sheet {scan.name!r} names a shared "
                            f"string as {clip(v_text)!r}, which no spreadsheet program writes. Open the original in "
                            "Excel and save it again.")
            if t == "b" and has_v and v_text not in ("0", "1"):
                # the reader takes any value but "0" as yes; LibreOffice took `true` as no (a practice's "does not
                # support the proposal" hidden)
                raise wb001(f"The workbook is corrupt: cell {_cell_name(pos)} of sheet {scan.name!r} holds "
                            f"{clip(v_text)!r} as a yes or no, which no spreadsheet program writes (they write 1 or "
                            "0). Open the original in Excel and save it again.")
            if has_v and t in (None, "n") and _not_a_number(v_text.strip()):
                # the reader takes NaN and infinities as numbers (NaN in a date cell was 30 December 1899), and a
                # number past the largest it holds as an infinity (which stopped it); no spreadsheet program writes
                # one
                raise wb001(f"The workbook is corrupt: cell {_cell_name(pos)} of sheet {scan.name!r} holds "
                            f"{clip(v_text.strip())!r} as a number, which no spreadsheet program writes. Open the "
                            "original in Excel and save it again.")
            if last == "is":
                read = True
            elif last == "v":
                read = bool(v_text) if t in (None, "n", "s", "b", "e") else t not in ("inlineStr", "is")
            else:
                read = False
            if pos[0] >= MAX_ROW or pos[1] >= MAX_COL:
                raise wb001("The workbook is corrupt: a cell lies outside the sheet.")
            if last == "is" or (t == "str" and last == "v"):  # (the reader reads an `<is>` whatever `t` says)
                text_bytes += cell_chars * cell_width
            elif last == "v" and (t == "d" or (t in (None, "n") and not _NUMBER.fullmatch(v_text))):
                # the reader keeps such a value as a text: 8,000 cells of 32,000 characters as `t="d"` were 256 MB
                text_bytes += cell_chars * cell_width
            elif t == "s" and read:
                shared_cells += 1
            marked = None
            if t == "e" and (has_v or has_f):  # (a bare `<c t="e"/>` holds nothing, to the reader too)
                literal = v_text.strip()[:64] or "#N/A"
                marked = kinds.get(literal) or kinds.setdefault(literal, SpecialCell("error", literal))
            elif has_f and (not has_v or (not v_text and t not in ("str", "inlineStr"))):
                # an empty <v/> is a cached empty string only when typed as a string (t="str");
                # untyped it is what writers such as openpyxl leave for a formula never calculated
                marked = _NO_CACHED_VALUE
            if marked is not None:
                special[pos] = marked
                if len(special) > policy.max_special_cells:
                    raise FileRefused([file_finding(
                        "WB003", f"Sheet {clip(scan.name)!r} holds more than {policy.max_special_cells:,} cells "
                                 "showing an error or a formula with no value, over the safety limit (policy "
                                 "max_special_cells).")])
            if read or has_f:
                cells += 1
                row_no, col_no = pos[0] + 1, pos[1] + 1
                rows.add(row_no)
                if row_no > max_row:
                    max_row = row_no
                if col_no > max_col:
                    max_col = col_no
                if len(rows) > policy.max_rows_per_sheet:
                    break
                if (read and last == "v" and t in (None, "n") and el.get("s") is None
                        and (row_style is not None or col_styles)):
                    style = row_style if row_style is not None else _column_style(col_starts, col_styles, col_no)
                    if style is not None and style in date_styles:
                        inherited.add(pos)
            el.clear()
            _detach(sheet_data, el)
    except (ParseError, DefusedXmlException, ValueError, LookupError) as exc:  # LookupError: an unknown encoding
        why = str(exc).split(":", 1)[0] if isinstance(exc, ParseError) else "an unknown encoding" if isinstance(
            exc, LookupError) else ""
        raise _not_well_formed(f"{info.filename} (sheet {clip(scan.name)!r})", why) from None
    except _LongText:
        if in_cell:
            raise _cell_too_long(scan, _cell_name(pos)) from None
        raise FileRefused([file_finding(
            "WB003", f"Sheet {clip(scan.name)!r} holds a text of more than {CELL_TEXT_CHARS:,} characters, the most a "
                     "cell can hold in Excel; no spreadsheet program writes one.")]) from None
    scan.text_bytes = text_bytes
    scan.text_counted = True
    scan.special = special
    scan.inherited_dates = inherited
    scan.shared_cells = shared_cells
    scan.cells = cells
    scan.rows_with_values = len(rows)
    scan.max_row = max_row
    scan.max_col = max_col


class _ChunkStream(io.RawIOBase):
    """A file-like view of a chunk generator, for the streaming XML parser."""

    def __init__(self, chunks, longest_text: int = 0):
        self._chunks = iter(chunks)
        self._buf = b""
        # With `longest_text`, `_LongText` is raised as soon as the characters since the last "<" pass it:
        # the parser then never holds a text far longer than any cell may.
        self._longest = longest_text
        self._run = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self._buf) < n:
            try:
                self._buf += next(self._chunks)
            except StopIteration:
                break
        if n < 0:
            out, self._buf = self._buf, b""
        else:
            out, self._buf = self._buf[:n], self._buf[n:]
        if self._longest and out:
            cut = out.rfind(b"<")
            self._run = (self._run if cut < 0 else 0) + _chars(out[cut + 1:])
            if self._run > self._longest:
                raise _LongText
        return out

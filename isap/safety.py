"""File safety: decide whether an uploaded file may be parsed at all.

Every upload is treated as hostile.  Before any XML parser or spreadsheet
library sees the file, this module looks at the bytes and the zip container
itself: size, type, encryption, macros, declared and *actually inflated*
sizes, compression ratios, DTDs and entities, and the real extent of every
sheet (a two-cell sheet spanning A1:XFD1048576 would make a dense reader
allocate hundreds of gigabytes).  Parts are inflated here with zlib, capped
at the size the zip directory declares, so a lying directory is caught too.

The result is either WB001–WB003 findings (the file is not assessed further)
or an `Inspection` that the reader can trust.
"""

from __future__ import annotations

import hashlib
import io
import re
import struct
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as safe_fromstring
from defusedxml.ElementTree import iterparse as safe_iterparse

from isap.findings import Domain, Finding, Severity
from isap.policy import Policy
from isap.template import SECTION_FILE

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
CHUNK = 1 << 20
# DTDs and entity declarations in UTF-8 and in UTF-16 (either byte order).
_MARKERS = tuple(
    m.encode(enc) for m in ("<!DOCTYPE", "<!ENTITY") for enc in ("utf-8", "utf-16-le", "utf-16-be")
)
_MARKER_TAIL = max(len(m) for m in _MARKERS)
_XML_SUFFIXES = (".xml", ".rels", ".vml")
# A cell with content (not self-closing), as Excel and most writers emit it: the row number.
_CELL_ROW = re.compile(rb'<c r="[A-Z]{1,3}([0-9]{1,7})"[^>/]*>')
_WIDE_CELL = re.compile(rb'<c r="([A-Z]{2,3})[0-9]{1,7}"[^>/]*>')
# Formula or error cells, and namespace-prefixed cells: plain substring tests (memchr-fast);
# a false positive only sends the sheet down the slower, exact path.
_FORMULA_OR_ERROR = (b"<f", b't="e"')
_ROOT_TAG = re.compile(rb"<([A-Za-z_][\w.\-]*:)?worksheet[\s>]")
_REF = re.compile(r"^([A-Z]{1,3})([0-9]{1,7})$")

NS_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
NS_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
NS_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"


class Refused(Exception):
    """The file cannot be assessed; carries its WB001–WB003 findings."""

    def __init__(self, findings: list[Finding]):
        super().__init__("; ".join(f.message for f in findings))
        self.findings = findings


def file_finding(rule_id: str, message: str) -> Finding:
    return Finding(rule_id, Severity.ERROR, Domain.WORKBOOK, None, None, None, None, message, SECTION_FILE)


def wb001(message: str) -> Refused:
    return Refused([file_finding("WB001", message)])


@dataclass(frozen=True)
class SpecialCell:
    """A cell whose value calamine cannot show: an error value or a formula with no cached value."""

    kind: str  # "error" | "no_cached_value"
    literal: str = ""


@dataclass
class SheetScan:
    name: str
    part: str
    is_worksheet: bool
    state: str = "visible"
    max_row: int = 0  # 1-based extent of cells that hold something
    max_col: int = 0
    rows_with_values: int = 0
    needs_cell_scan: bool = False
    special: dict[tuple[int, int], SpecialCell] = field(default_factory=dict)  # (row0, col0)


@dataclass
class Inspection:
    path: str
    data: bytes
    sha256: str
    sheets: list[SheetScan]


class _Budget:
    def __init__(self, seconds: float):
        self.deadline = time.monotonic() + seconds
        self.seconds = seconds

    def check(self) -> None:
        if time.monotonic() > self.deadline:
            raise Refused([file_finding(
                "WB003", f"The workbook could not be assessed within the time limit of {self.seconds:g} seconds.")])


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
        raise Refused([file_finding(
            "WB003",
            f"The file is {st.st_size:,} bytes, over the limit of {policy.max_file_bytes:,} bytes.")])
    try:
        with open(p, "rb") as fh:
            data = fh.read(policy.max_file_bytes + 1)
    except OSError as exc:
        raise wb001(f"The file {str(path)!r} cannot be read: {exc.strerror or exc}.") from None
    if len(data) > policy.max_file_bytes:  # grew while we looked
        raise Refused([file_finding("WB003", f"The file is over the limit of {policy.max_file_bytes:,} bytes.")])
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
    sig, _, _, method, _, _, _, _, _, nlen, xlen = struct.unpack("<IHHHHHIIIHH", data[off:off + 30])
    if sig != 0x04034B50:
        raise wb001("The workbook is corrupt: a part's local header is damaged.")
    start = off + 30 + nlen + xlen
    end = start + info.compress_size
    if end > len(data):
        raise wb001("The workbook is truncated: a part ends beyond the end of the file.")
    raw = memoryview(data)[start:end]
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
            raise Refused([file_finding(
                "WB003", f"Part {info.filename} inflates to more than the {declared:,} bytes its zip directory declares.")])
        if total[0] > policy.max_uncompressed_bytes:
            raise Refused([file_finding(
                "WB003", f"The workbook's parts inflate to more than {policy.max_uncompressed_bytes:,} bytes in total.")])
        crc = zlib.crc32(chunk, crc)
        budget.check()
        yield chunk
    if produced != declared or crc != info.CRC:
        raise wb001(f"The workbook is corrupt: part {info.filename} does not match its checksum.")


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


def _read_small(data: bytes, info: zipfile.ZipInfo, budget: _Budget, total: list[int], policy: Policy) -> bytes:
    out = b"".join(_inflate(data, info, budget, total, policy))
    _check_markers(out, info.filename)
    return out


def _check_markers(buf: bytes, name: str) -> None:
    for m in _MARKERS:
        if m in buf:
            raise wb001(
                f"The workbook's XML part {name} declares a DTD or entities, which are refused for safety "
                "(entity expansion or external entities).")


def _parse_xml(buf: bytes, name: str):
    try:
        return safe_fromstring(buf)
    except (ParseError, DefusedXmlException, ValueError):
        raise wb001(f"The workbook is corrupt: its XML part {name} cannot be read.") from None


def _norm_target(target: str, base: str = "xl/") -> str:
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


def inspect(path: str | Path, policy: Policy) -> Inspection:
    """Check the file before parsing; raise `Refused` with WB001–WB003 findings."""
    budget = _Budget(policy.max_seconds_per_file)
    data, sha = read_file(path, policy)
    if data.startswith(OLE_MAGIC) or not data.startswith(b"PK"):
        raise wb001(_describe_non_zip(data))
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, struct.error):
        raise wb001(_describe_non_zip(data) if not data.startswith(b"PK")
                    else "The file is a corrupt or truncated zip archive, not a readable Excel workbook (.xlsx).") from None
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
    if "xl/workbook.xml" not in names:
        raise wb001("The file is an Office document but not an Excel workbook (.xlsx): it has no workbook part.")

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
    macro = [n for n in names if n.rsplit("/", 1)[-1].lower() == "vbaproject.bin"]
    total = [0]
    ct_info = names["[Content_Types].xml"]
    # a plausible [Content_Types].xml is small; a huge one is already WB003 and is not inflated
    content_types = _read_small(data, ct_info, budget, total, policy) if ct_info.file_size <= 10 * CHUNK else b""
    if macro or b"macroenabled" in content_types.lower() or b"vbaproject" in content_types.lower():
        problems.insert(0, file_finding(
            "WB002",
            "The workbook contains macros (a VBA project). Macro-enabled workbooks are refused: "
            "save it as an Excel Workbook (.xlsx) without macros."))
    if problems:
        raise Refused(problems)

    wb_xml = _read_small(data, names["xl/workbook.xml"], budget, total, policy)
    rels_info = names.get("xl/_rels/workbook.xml.rels")
    rels_xml = _read_small(data, rels_info, budget, total, policy) if rels_info else b""
    sheets = _sheet_list(wb_xml, rels_xml)
    by_part = {s.part: s for s in sheets}

    for i in infos:
        if i.filename in ("[Content_Types].xml", "xl/workbook.xml", "xl/_rels/workbook.xml.rels"):
            continue
        if i.is_dir():
            continue
        scan = by_part.get(i.filename)
        is_xml = i.filename.lower().endswith(_XML_SUFFIXES)
        if scan is not None and scan.is_worksheet:
            _scan_sheet(data, i, scan, budget, total, policy)
        else:
            tail = b""
            for chunk in _inflate(data, i, budget, total, policy):
                if is_xml:
                    _check_markers(tail + chunk, i.filename)
                    tail = chunk[-_MARKER_TAIL:]
    for s in sheets:
        if s.is_worksheet and s.part not in names:
            raise wb001(f"The workbook is corrupt: sheet {s.name!r} has no data part.")
        if s.needs_cell_scan:
            _scan_cells(data, names[s.part], s, budget, policy)
        if s.rows_with_values > policy.max_rows_per_sheet:
            raise Refused([file_finding(
                "WB003",
                f"Sheet {s.name!r} has more than {policy.max_rows_per_sheet:,} rows holding values, "
                "over the safety limit.")])
        if s.max_row * s.max_col > policy.max_cells_per_sheet:
            raise Refused([file_finding(
                "WB003",
                f"Sheet {s.name!r} spans {s.max_row:,} rows × {s.max_col:,} columns, over the safety limit of "
                f"{policy.max_cells_per_sheet:,} cells.")])
    return Inspection(str(path), data, sha, sheets)


def _sheet_list(wb_xml: bytes, rels_xml: bytes) -> list[SheetScan]:
    root = _parse_xml(wb_xml, "xl/workbook.xml")
    targets: dict[str, tuple[str, str]] = {}
    if rels_xml:
        rels = _parse_xml(rels_xml, "xl/_rels/workbook.xml.rels")
        for rel in rels.iter(f"{{{NS_PKG_REL}}}Relationship"):
            targets[rel.get("Id", "")] = (rel.get("Target", ""), rel.get("Type", ""))
    out: list[SheetScan] = []
    for el in root.iter():
        if el.tag.rsplit("}", 1)[-1] != "sheet":
            continue
        name = el.get("name", "")
        rid = el.get(f"{{{NS_REL}}}id", "")
        target, typ = targets.get(rid, ("", ""))
        out.append(SheetScan(
            name=name,
            part=_norm_target(target) if target else "",
            is_worksheet=typ.endswith("/worksheet"),
            state=el.get("state", "visible"),
        ))
    return out


def _scan_sheet(data: bytes, info: zipfile.ZipInfo, scan: SheetScan, budget: _Budget,
                total: list[int], policy: Policy) -> None:
    """Extent and row count of a worksheet, from its bytes, without an XML parser.

    The fast path reads the `<c r="A1" …>` tags Excel and most writers emit; a
    sheet written differently (no `r`, namespace prefixes) is measured by a
    streaming parse instead.
    """
    rows: set[bytes] = set()
    wide: set[bytes] = set()
    first = True
    carry = b""
    tail = b""
    fast = True
    limit = policy.max_rows_per_sheet
    for chunk in _inflate(data, info, budget, total, policy):
        _check_markers(chunk, info.filename)
        _check_markers(tail + chunk[:_MARKER_TAIL], info.filename)  # a marker split across chunks
        tail = chunk[-_MARKER_TAIL:]
        if not fast:
            continue
        buf = carry + chunk
        cut = buf.rfind(b">") + 1
        carry = buf[cut:]
        buf = buf[:cut]
        if not scan.needs_cell_scan and any(m in buf for m in _FORMULA_OR_ERROR):  # noqa: SIM102
            scan.needs_cell_scan = True
        if first:
            first = False
            root = _ROOT_TAG.search(buf)
            if root is None or root.group(1):  # namespace-prefixed elements: parse exactly instead
                fast = False
                continue
        if buf.count(b'<c r="') != buf.count(b"<c ") or b"<c>" in buf:
            fast = False
            continue
        rows.update(_CELL_ROW.findall(buf))
        wide.update(_WIDE_CELL.findall(buf))
        if len(rows) > limit:
            scan.rows_with_values = len(rows)
            return
    if fast:
        scan.rows_with_values = len(rows)
        scan.max_row = max(map(int, rows)) if rows else 0
        # without a column past Z, 26 is a safe upper bound for the extent check
        scan.max_col = max((col_number(c.decode()) for c in wide), default=26 if rows else 0)
    else:
        _scan_cells(data, info, scan, budget, policy)
        scan.needs_cell_scan = False


def _scan_cells(data: bytes, info: zipfile.ZipInfo, scan: SheetScan, budget: _Budget, policy: Policy) -> None:
    """Streaming parse of one worksheet: error cells, formulas with no cached value and,
    where the fast path could not run, the sheet's extent."""
    # this part's size was already checked against the totals on the first pass
    stream = _ChunkStream(_inflate(data, info, budget, [0], policy))
    rows: set[int] = set()
    max_row = max_col = 0
    cur_row = 0
    cur_col = 0
    measure = scan.max_row == 0 and scan.rows_with_values == 0
    try:
        for event, el in safe_iterparse(stream, events=("start", "end"), forbid_dtd=True):
            tag = el.tag.rsplit("}", 1)[-1]
            if event == "start":
                if tag == "row":
                    r = el.get("r")
                    cur_row = int(r) if r and r.isdigit() else cur_row + 1
                    cur_col = 0
                continue
            if tag == "c":
                ref = el.get("r")
                m = _REF.match(ref) if ref else None
                if m:
                    cur_col = col_number(m.group(1))
                    row_no = int(m.group(2))
                else:
                    cur_col += 1
                    row_no = cur_row
                has_f = has_v = False
                v_text = ""
                has_content = False
                for child in el:
                    ctag = child.tag.rsplit("}", 1)[-1]
                    if ctag == "f":
                        has_f = True
                        has_content = True
                    elif ctag == "v":
                        has_v = True
                        v_text = child.text or ""
                        has_content = True
                    elif ctag == "is":
                        has_content = True
                key = (row_no - 1, cur_col - 1)
                if el.get("t") == "e":
                    scan.special[key] = SpecialCell("error", v_text.strip() or "#N/A")
                elif has_f and (not has_v or (not v_text and el.get("t") not in ("str", "inlineStr"))):
                    # an empty <v/> is a cached empty string only when typed as a string (t="str");
                    # untyped it is what writers such as openpyxl leave for a formula never calculated
                    scan.special[key] = SpecialCell("no_cached_value")
                if has_content and measure:
                    rows.add(row_no)
                    max_row = max(max_row, row_no)
                    max_col = max(max_col, cur_col)
                    if len(rows) > policy.max_rows_per_sheet:
                        break
                el.clear()
            elif tag == "row":
                el.clear()
    except (ParseError, DefusedXmlException, ValueError):
        raise wb001(f"The workbook is corrupt: sheet {scan.name!r} cannot be read.") from None
    if measure:
        scan.rows_with_values = len(rows)
        scan.max_row = max_row
        scan.max_col = max_col


class _ChunkStream(io.RawIOBase):
    """A file-like view of a chunk generator, for the streaming XML parser."""

    def __init__(self, chunks):
        self._chunks = iter(chunks)
        self._buf = b""

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
        return out

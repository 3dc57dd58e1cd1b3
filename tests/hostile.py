"""Builders of hostile and odd files, for the safety tests and the property test."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from sample_submissions.generate import clean, write

SHEET_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'


def valid_bytes(tmp: Path) -> bytes:
    return write(clean(2), tmp / "base.xlsx").read_bytes()


def rezip(data: bytes, replace: dict[str, bytes] | None = None, add: dict[str, bytes] | None = None,
          compression=zipfile.ZIP_DEFLATED) -> bytes:
    replace = replace or {}
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", compression) as dst:
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
    out: dict[str, tuple[Path, str]] = {}
    for name, (data, rule) in files.items():
        p = tmp / f"{name}.xlsx"
        p.write_bytes(data)
        out[name] = (p, rule)
    return out


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

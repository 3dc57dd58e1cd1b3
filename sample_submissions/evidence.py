"""Example evidence documents: a small PDF, Word document and Excel workbook made on the spot.

The demo attaches them and the tests use them, so neither needs binary files in the repository.  Each is a
real document of its type (fpdf2 writes the PDF, openpyxl the workbook); the Word document is the smallest
package Word opens, written as Word writes its parts.
"""

from __future__ import annotations

import io
import zipfile


def sample_pdf(title: str = "Evidence", body: str = "An example evidence document.") -> bytes:
    import datetime as dt

    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_creation_date(dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))  # the same bytes every time
    pdf.add_page()
    pdf.set_font("Helvetica", size=14)
    pdf.cell(text=title.encode("latin-1", "replace").decode("latin-1"))
    pdf.ln(10)
    pdf.set_font("Helvetica", size=11)
    pdf.multi_cell(0, 6, text=body.encode("latin-1", "replace").decode("latin-1"))
    return bytes(pdf.output())


_DOCX_PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.'
        'wordprocessingml.document.main+xml"/></Types>'),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
        'officeDocument" Target="word/document.xml"/></Relationships>'),
}


def sample_docx(text: str = "An example evidence document.", extra: dict[str, bytes] | None = None,
                content_types: str | None = None) -> bytes:
    """A Word document holding `text`; `extra` parts and other `content_types` make variants for tests."""
    from xml.sax.saxutils import escape

    document = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
                f'<w:p><w:r><w:t>{escape(text)}</w:t></w:r></w:p></w:body></w:document>')
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, part in _DOCX_PARTS.items():
            zf.writestr(name, content_types if content_types and name == "[Content_Types].xml" else part)
        zf.writestr("word/document.xml", document)
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return buf.getvalue()


def sample_xlsx(rows: list[list[object]] | None = None) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "Model"
    for row in rows or [["Year", "Income (£)", "Expenditure (£)"], [2027, 1_000_000, 950_000]]:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()

"""Saving a workbook so that the same content always gives the same bytes.

openpyxl stamps the moment of saving twice: in the document properties
(`docProps/core.xml`, created and modified) and in every zip entry's time.
A generated file (the blank template, the published samples) would then
change on every run although nothing in it did, and a committed copy could
not be compared with a fresh one.  Here both stamps are one fixed date, and
the entries keep openpyxl's own order, so the bytes depend on the content only.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path

from openpyxl import Workbook
from openpyxl.writer.excel import ExcelWriter

# The document date of every generated workbook: fixed, so it says nothing about when a file was made.
DOCUMENT_DATE = dt.datetime(2026, 1, 1)
_ENTRY_MODE = 0o644 << 16  # the Unix permissions a zip entry records: the same whoever generates it


def workbook_bytes(wb: Workbook, when: dt.datetime = DOCUMENT_DATE) -> bytes:
    """The .xlsx bytes of `wb`, created and modified at `when`, every zip entry dated `when`."""
    wb.properties.created = when
    wb.properties.modified = when
    raw = io.BytesIO()
    # ExcelWriter rather than Workbook.save, which sets `modified` to the moment of saving
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        ExcelWriter(wb, archive).save()
    out = io.BytesIO()
    with zipfile.ZipFile(raw) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for entry in src.infolist():
            fixed = zipfile.ZipInfo(entry.filename, date_time=when.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = _ENTRY_MODE
            dst.writestr(fixed, src.read(entry))
    return out.getvalue()


def save_reproducibly(wb: Workbook, path: str | Path, when: dt.datetime = DOCUMENT_DATE) -> Path:
    """Write `wb` to `path` as `workbook_bytes` makes it."""
    Path(path).write_bytes(workbook_bytes(wb, when))
    return Path(path)

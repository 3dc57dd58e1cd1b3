"""Make a copy of a workbook that looks the way Excel writes it.

Excel's files differ from openpyxl's: built-in date formats chosen by locale
(numFmtId 14), data validation, `mc:Ignorable` namespaces and `spans` /
`x14ac:dyDescent` attributes on rows, an XML declaration with standalone.
The reader must not care.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from pathlib import Path

import openpyxl
from openpyxl.worksheet.datavalidation import DataValidation

MC = ('xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" mc:Ignorable="x14ac xr xr2 xr3" '
      'xmlns:x14ac="http://schemas.microsoft.com/office/spreadsheetml/2009/9/ac" ')


def excel_style_copy(src: Path, dst: Path) -> Path:
    wb = openpyxl.load_workbook(src)
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                if isinstance(c.value, (dt.date, dt.datetime)):
                    c.number_format = "mm-dd-yy"  # built-in id 14: Excel's short date
        dv = DataValidation(type="list", formula1='"Yes,No"', allow_blank=True)
        ws.add_data_validation(dv)
        dv.add("B2:B100")
    tmp = io.BytesIO()
    wb.save(tmp)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(tmp.getvalue())) as z, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as o:
        for info in z.infolist():
            data = z.read(info.filename)
            if info.filename.startswith("xl/worksheets/sheet"):
                text = data.decode()
                text = text.replace("<worksheet ", "<worksheet " + MC, 1)
                text = re.sub(r'<row r="(\d+)"', r'<row r="\1" spans="1:13" x14ac:dyDescent="0.25"', text)
                if not text.startswith("<?xml"):
                    text = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n' + text
                data = text.encode()
            o.writestr(info.filename, data)
    dst.write_bytes(out.getvalue())
    return dst

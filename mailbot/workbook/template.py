"""The canonical weekly report workbook that mailbot hands out: blank, pre-filled with districts, or with figures.

Pure and deterministic: the same arguments give the same bytes (fixed timestamps inside the ZIP), so a reminder
re-sent after a crash attaches an identical file. Columns come from ``headers``, the definition the parser reads
with, so what mailbot hands out is what it reads best.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from openpyxl import Workbook
from openpyxl.cell.cell import Cell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from mailbot.districts import by_code
from mailbot.weeks import Week
from mailbot.workbook.guard import text_cell
from mailbot.workbook.headers import COLUMNS, DSP_LABEL, FIGURE_KEYS, TITLE, WEEK_ENDING_LABEL

HeaderLanguage = Literal["en", "hi", "both"]

SHEET_TITLE = "JSK weekly report"
HEADER_ROW = 5  # title, DSP, week ending, a blank row, then the header
_WIDTHS = {"district": 24, "lgd_code": 10, "remarks": 36}
_FIGURE_WIDTH = {"en": 16, "hi": 20, "both": 24}
_ZIP_TIME = (2020, 1, 1, 0, 0, 0)


def report_workbook(
    dsp_name: str,
    week: Week,
    lgd_codes: Sequence[int],
    figures: Mapping[int, Mapping[str, int | str]] | None = None,
    headers: HeaderLanguage = "both",
) -> bytes:
    """The report workbook for ``dsp_name`` and ``week``: one row per LGD code (KeyError for an unknown code),
    figures (``FIGURES`` keys and "remarks") filled in where given."""
    figures = figures or {}
    book = Workbook()
    ws = book.active
    assert ws is not None  # noqa: S101 - a new Workbook always has one sheet
    ws.title = SHEET_TITLE
    last_column = get_column_letter(len(COLUMNS))

    ws["A1"] = TITLE
    ws["A1"].font = Font(bold=True, size=14)
    ws.merge_cells(f"A1:{last_column}1")
    ws["A2"] = DSP_LABEL
    text_cell(ws["B2"], dsp_name)
    ws["A3"] = WEEK_ENDING_LABEL
    ws["B3"] = week.sunday
    ws["B3"].number_format = "DD/MM/YYYY"
    ws["B3"].alignment = Alignment(horizontal="left")
    for cell in (ws["A2"], ws["A3"], ws["B2"], ws["B3"]):
        cell.font = Font(bold=True)
    for label in (ws["A2"], ws["A3"]):
        # Two languages do not fit the district column's width: wrap onto two lines rather than be cut off.
        label.alignment = Alignment(wrap_text=True, vertical="center")
    ws["B3"].alignment = Alignment(horizontal="left", vertical="center")
    ws["B2"].alignment = Alignment(vertical="center")
    ws.row_dimensions[2].height = ws.row_dimensions[3].height = 32

    fill = PatternFill("solid", fgColor="DDEBF7")
    for index, column in enumerate(COLUMNS, start=1):
        label = {"en": column.en, "hi": column.hi, "both": column.both}[headers]
        cell = ws.cell(HEADER_ROW, index, label)
        cell.font = Font(bold=True)
        cell.fill = fill
        cell.alignment = Alignment(wrap_text=True, vertical="center", horizontal="center")
        width = _WIDTHS.get(column.key, _FIGURE_WIDTH[headers])
        ws.column_dimensions[get_column_letter(index)].width = width
    ws.row_dimensions[HEADER_ROW].height = 48 if headers == "both" else 32

    keys = [c.key for c in COLUMNS]
    for offset, code in enumerate(lgd_codes):
        row = HEADER_ROW + 1 + offset
        district = by_code(code)
        ws.cell(row, keys.index("district") + 1, district.name_en)
        ws.cell(row, keys.index("lgd_code") + 1, district.lgd_code)
        given = figures.get(code, {})
        for key in (*FIGURE_KEYS, "remarks"):
            if key in given:
                _put(ws.cell(row, keys.index(key) + 1), given[key])

    last_row = HEADER_ROW + max(len(lgd_codes), 1)
    first_figure, last_figure = keys.index(FIGURE_KEYS[0]) + 1, keys.index(FIGURE_KEYS[-1]) + 1
    validation = DataValidation(
        type="whole",
        operator="greaterThanOrEqual",
        formula1="0",
        allow_blank=True,
        showErrorMessage=True,
        errorTitle="Whole number / पूर्ण संख्या",
        error="Enter a whole number, 0 or more / 0 या अधिक की पूर्ण संख्या लिखें",
    )
    validation.add(f"{get_column_letter(first_figure)}{HEADER_ROW + 1}:{get_column_letter(last_figure)}{last_row}")
    ws.add_data_validation(validation)
    ws.freeze_panes = ws.cell(HEADER_ROW + 1, 2)  # header row and district column stay in view
    # Printed (some offices check a print-out before sending): every column on one landscape page width.
    ws.page_setup.orientation = "landscape"
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    return save_workbook(book, datetime.combine(week.sunday, datetime.min.time()))


def _put(cell: Cell, value: Any) -> None:
    if isinstance(value, str):
        text_cell(cell, value)
    else:
        cell.value = value


def save_workbook(book: Workbook, when: datetime) -> bytes:
    """The workbook's bytes with ``when`` as its created/modified time and fixed ZIP timestamps: reproducible."""
    book.properties.creator = "CEG mailbot"
    book.properties.created = when
    buffer = io.BytesIO()
    book.save(buffer)
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    out = io.BytesIO()
    with zipfile.ZipFile(buffer) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                # openpyxl stamps "modified" with the clock on save.
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>" + stamp.encode(), data)
            target.writestr(zipfile.ZipInfo(info.filename, _ZIP_TIME), data, zipfile.ZIP_DEFLATED)
    return out.getvalue()

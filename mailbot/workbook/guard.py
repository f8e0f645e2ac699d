"""Writing outside text into a spreadsheet cell safely: one guard for every workbook mailbot writes (the report
template handed to DSPs, CEG's summary)."""

from __future__ import annotations

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell

# What makes Excel or LibreOffice read a typed value as a formula (CSV/formula injection): the usual four, and a
# tab or carriage return ahead of one, which some programs skip.
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def safe_text(value: str) -> str:
    """Drop the characters an .xlsx cannot hold (control characters): openpyxl refuses the whole cell otherwise."""
    return str(ILLEGAL_CHARACTERS_RE.sub("", value))


def text_cell(cell: Cell, text: str) -> None:
    """Write outside text so it stays text: never a formula, never a refused cell.

    openpyxl stores any string starting with '=' as a formula; forcing the string type keeps it text, and Excel's
    quote prefix keeps a formula lead text when someone edits the cell later. The lead is judged on the text as
    stored: a control character stripped first must not hide a leading '='.
    """
    cell.value = safe_text(text)
    cell.data_type = "s"
    if cell.value.startswith(FORMULA_LEADS):
        cell.quotePrefix = True

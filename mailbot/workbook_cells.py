"""Cell values as people type them -> whole numbers and dates.

Pure. Numbers arrive as ints, whole floats (12.0), or text: " 42 ", "1,23,456" (Indian grouping), "१२३"
(Devanagari digits). Dates arrive as datetimes, Excel serials in General format, or day-first text.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, timedelta
from typing import Any, Literal

from openpyxl.utils import get_column_letter

from mailbot.headers import plain

CellError = Literal["not_a_number", "negative_value", "fractional_value"]

_DIGITS = str.maketrans("०१२३४५६७८९", "0123456789")
_SPACES = re.compile(r"[\s\u00a0\u202f\u2009]+")
# Western (1,234,567) or Indian (12,34,567) grouping, or none at all.
_GROUPED = re.compile(r"^[+-]?\d{1,3}(?:,\d{2})*,\d{3}(?:\.\d+)?$|^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_PLAIN = re.compile(r"^[+-]?\d+(?:\.\d+)?$")
_EMPTY_MARKS = frozenset({"", "-", "--", "–", "—", "na", "n/a", "nil"})

EXCEL_EPOCH = date(1899, 12, 30)  # serial 1 = 1900-01-01, counting Excel's phantom 29 Feb 1900
_SERIAL_RANGE = (36526, 73051)  # 2000-01-01 .. 2099-12-31: a number outside is not a report date

_MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9,
    "oct": 10, "nov": 11, "dec": 12, "जनवरी": 1, "फरवरी": 2, "मार्च": 3, "अप्रैल": 4, "मई": 5, "जून": 6,
    "जुलाई": 7, "अगस्त": 8, "सितम्बर": 9, "सितंबर": 9, "अक्टूबर": 10, "नवम्बर": 11, "नवंबर": 11,
    "दिसम्बर": 12, "दिसंबर": 12,
}
_NUMERIC_DATE = re.compile(r"(?<!\d)(\d{1,2})\s*[/.\-]\s*(\d{1,2})\s*[/.\-]\s*(\d{4}|\d{2})(?!\d)")
_ISO_DATE = re.compile(r"(?<!\d)(\d{4})-(\d{1,2})-(\d{1,2})(?!\d)")
_NAMED_DATE = re.compile(r"(?<!\d)(\d{1,2})(?:st|nd|rd|th)?[\s\-/.,]*([^\s\d\-/.,]+)[\s\-/.,]*(\d{4}|\d{2})(?!\d)")


def address(row: int, column: int) -> str:
    """A1-style address from 1-based row and column."""
    return f"{get_column_letter(column)}{row}"


def is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def parse_count(value: Any) -> int | CellError | None:
    """A count of centres: int, None for an empty cell or a dash, or the kind of error."""
    if isinstance(value, bool | datetime | date):
        return "not_a_number"
    if value is None:
        return None
    if isinstance(value, int):  # before float(): a huge int would overflow it
        return "negative_value" if value < 0 else value
    if isinstance(value, float):
        number = value
    else:
        text = _SPACES.sub("", str(value).translate(_DIGITS))
        if text.casefold() in _EMPTY_MARKS:
            return None
        if _GROUPED.match(text):
            text = text.replace(",", "")
        if not _PLAIN.match(text):
            return "not_a_number"
        number = float(text)
    return _whole(number)


def _whole(number: float) -> int | CellError:
    if not math.isfinite(number):
        return "not_a_number"
    if not number.is_integer():
        return "fractional_value"
    return "negative_value" if number < 0 else int(number)


def parse_date(value: Any) -> date | None:
    """A date from a real date, an Excel serial, or day-first text; None when it is not one."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.translate(_DIGITS).strip()
        return _serial(int(text)) if text.isdigit() else _date_in_text(text)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _serial(value)
    return None


def _serial(value: float) -> date | None:
    """An Excel serial in General format stays a number; only a plausible report date counts."""
    if _SERIAL_RANGE[0] <= value <= _SERIAL_RANGE[1]:
        return EXCEL_EPOCH + timedelta(days=int(value))
    return None


def _date_in_text(text: str) -> date | None:
    for pattern, order in ((_ISO_DATE, "ymd"), (_NUMERIC_DATE, "dmy")):
        match = pattern.search(text)
        if match:
            parts = dict(zip(order, (int(g) for g in match.groups()), strict=True))
            return _date(parts["y"], parts["m"], parts["d"])
    for match in _NAMED_DATE.finditer(text):
        name = plain(match.group(2))
        month = _MONTHS.get(name) or (_MONTHS.get(name[:3]) if name.isascii() else None)
        if month:
            return _date(int(match.group(3)), month, int(match.group(1)))
    return None


def _date(year: int, month: int, day: int) -> date | None:
    if year < 100:
        year += 2000
    try:
        return date(year, month, day)
    except ValueError:
        return None

"""Cell values as people type them -> whole numbers and dates.

Pure. Numbers arrive as ints, whole floats (12.0), or text: " 42 ", "1,23,456" (Indian grouping), "1 234 567",
"१२३" (Devanagari digits). Nothing is guessed: separators inside digits are read only as correct thousands grouping
("3 1" and "1.000" are questions for the DSP), and no count above MAX_COUNT comes out.
Dates arrive as datetimes, Excel serials in General format, or day-first text.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, timedelta
from typing import Any, Literal

from openpyxl.utils import get_column_letter

from mailbot.workbook.headers import plain

CellError = Literal["not_a_number", "negative_value", "fractional_value", "ambiguous_number", "count_above_bound"]

# The most JSKs one district can plausibly report. U.P. has about 59,000 gram panchayats and the target has been one
# or two JSKs per panchayat, so the whole state's target is near 1.2 lakh: a million in one district is a typo, a
# pasted code or an Excel overflow (1E+19), never a count. The bound also keeps every stored figure far inside
# SQLite's 64-bit integers, which 1E+19 overflowed, losing the whole report.
MAX_COUNT = 1_000_000

_DIGITS = str.maketrans("०१२३४५६७८९", "0123456789")
# The spaces people type between digit groups: space, no-break space, narrow no-break space (French-style Excel),
# thin space. Tabs and newlines inside a number are not grouping.
_GROUP_SPACES = " \u00a0\u202f\u2009"
_SIGN = r"(?P<sign>[+-]?)"
_WHOLE = re.compile(rf"^{_SIGN}(?P<digits>\d+)(?:\.(?P<decimals>\d+))?$")
# Correct thousands grouping only, one separator throughout: Western 1,234,567 / 1 234 567 (any of the spaces
# above), or Indian 12,34,567 with commas. A decimal part after a grouped number is unambiguous (the grouping shows
# the dot is a decimal point): "1,234.0" is 1234.
_WESTERN = re.compile(
    rf"^{_SIGN}(?P<digits>\d{{1,3}}(?P<sep>[,{_GROUP_SPACES}])\d{{3}}(?:(?P=sep)\d{{3}})*)"
    r"(?:\.(?P<decimals>\d+))?$"
)
_INDIAN = re.compile(rf"^{_SIGN}(?P<digits>\d{{1,2}}(?:,\d{{2}})*,\d{{2}},\d{{3}})(?:\.(?P<decimals>\d+))?$")
_SCIENTIFIC = re.compile(r"^[+-]?\d+(?:[.,]\d+)?[eE][+-]?\d+$")
# Digits with separators that are no thousands grouping: "3 1", "12 34", "1.000", "1,23", "1,2345", "1.234.567".
_SEPARATED = re.compile(rf"^[+-]?\d+(?:[.,{_GROUP_SPACES}]+\d+)+$")
# What clerks type for "nothing": a dash, "NA", "nil", "शून्य" ("zero", but also "nil"). Not a number, and for a
# required figure not to be read as 0 either: the problem quotes it (``placeholder``).
_PLACEHOLDERS = frozenset({"-", "--", "–", "—", "na", "n/a", "n.a.", "n.a", "nil", "none", "शून्य"})

EXCEL_EPOCH = date(1899, 12, 30)  # serial 1 = 1900-01-01, counting Excel's phantom 29 Feb 1900
# Serials of 2000-01-01 and 2100-01-01, the upper one excluded: a number outside is not a report date.
_SERIAL_RANGE = (36526, 73051)

_MONTHS = {
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "apr": 4,
    "may": 5,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "sep": 9,
    "sept": 9,
    "oct": 10,
    "nov": 11,
    "dec": 12,
    "जनवरी": 1,
    "फरवरी": 2,
    "मार्च": 3,
    "अप्रैल": 4,
    "मई": 5,
    "जून": 6,
    "जुलाई": 7,
    "अगस्त": 8,
    "सितम्बर": 9,
    "सितंबर": 9,
    "अक्टूबर": 10,
    "नवम्बर": 11,
    "नवंबर": 11,
    "दिसम्बर": 12,
    "दिसंबर": 12,
}
_NUMERIC_DATE = re.compile(r"(?<!\d)(\d{1,2})\s*[/.\-]\s*(\d{1,2})\s*[/.\-]\s*(\d{4}|\d{2})(?!\d)")
_ISO_DATE = re.compile(r"(?<!\d)(\d{4})-(\d{1,2})-(\d{1,2})(?!\d)")
_NAMED_DATE = re.compile(r"(?<!\d)(\d{1,2})(?:st|nd|rd|th)?[\s\-/.,]*([^\s\d\-/.,]+)[\s\-/.,]*(\d{4}|\d{2})(?!\d)")


def address(row: int, column: int) -> str:
    """A1-style address from 1-based row and column."""
    return f"{get_column_letter(column)}{row}"


def is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def placeholder(value: Any) -> str | None:
    """The text of a cell that holds a "nothing" mark (``-``, ``NA``, ``nil``, ``शून्य``), else None."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    return text if text.casefold() in _PLACEHOLDERS else None


def parse_count(value: Any) -> int | CellError | None:
    """A count of centres, 0..MAX_COUNT; None for an empty cell or a "nothing" mark (see ``placeholder``); or
    the kind of error. Never a guess: digits are read only when their separators are correct thousands grouping."""
    if isinstance(value, bool | datetime | date):
        return "not_a_number"
    if value is None:
        return None
    if isinstance(value, int):  # before float(): a huge int would overflow it
        return _bounded(value)
    if isinstance(value, float):
        return _whole(value)
    text = str(value).translate(_DIGITS).strip(" \t\r\n" + _GROUP_SPACES)
    if not text or text.casefold() in _PLACEHOLDERS:
        return None
    return _count_in_text(text)


def _count_in_text(text: str) -> int | CellError:
    match = _WHOLE.match(text) or _WESTERN.match(text) or _INDIAN.match(text)
    if match is None:
        if _SCIENTIFIC.match(text):  # Excel's display of a number too wide for its column, pasted as text
            number = float(text.replace(",", "."))
            return "count_above_bound" if abs(number) > MAX_COUNT else "not_a_number"
        return "ambiguous_number" if _SEPARATED.match(text) else "not_a_number"
    digits, decimals = re.sub(r"\D", "", match["digits"]), match["decimals"]
    if decimals is not None and match.re is _WHOLE and len(decimals) == 3:
        return "ambiguous_number"  # "1.000": one, or a thousand written with a dot?
    if decimals is not None and decimals.strip("0"):
        return "fractional_value"
    if len(digits.lstrip("0")) > len(str(MAX_COUNT)):  # before int(): 5,000 digits would raise, not be a count
        return "negative_value" if match["sign"] == "-" else "count_above_bound"
    number = int(digits)
    return _bounded(-number if match["sign"] == "-" else number)


def readings(text: str) -> tuple[str, str]:
    """Two ways an ``ambiguous_number`` can be read, for the question put to the DSP: all its digits as one number
    ("3 1" -> "31", "1.000" -> "1000"), or only what precedes the first separator ("3", "1")."""
    text = text.translate(_DIGITS).strip()
    whole = re.match(r"[+-]?\d+", text)
    return re.sub(r"[^\d+-]", "", text), whole.group(0) if whole else text


def _bounded(number: int) -> int | CellError:
    if number < 0:
        return "negative_value"
    return "count_above_bound" if number > MAX_COUNT else number


def _whole(number: float) -> int | CellError:
    if not math.isfinite(number):
        return "not_a_number"
    if not number.is_integer():
        return "fractional_value"
    return _bounded(int(number))  # 1E+19 is a whole float: the bound, not the store, refuses it


def parse_date(value: Any) -> date | None:
    """A date from a real date, an Excel serial, or day-first text; None when it is not one."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.translate(_DIGITS).strip()
        # isdecimal, not isdigit: "²" is a digit that int() refuses.
        return _serial(int(text)) if text.isdecimal() else _date_in_text(text)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _serial(value)
    return None


def _serial(value: float) -> date | None:
    """An Excel serial in General format stays a number; only a plausible report date counts."""
    if _SERIAL_RANGE[0] <= value < _SERIAL_RANGE[1]:
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

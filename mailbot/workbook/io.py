"""Spreadsheet bytes -> plain grids of cell values, safely.

Pure. The format is told by the bytes, never by the file name: ZIP with ``[Content_Types].xml`` is xlsx/xlsm
(openpyxl), a CFB container is either an encrypted OOXML package or a legacy BIFF .xls (msoffcrypto tells which;
xlrd reads .xls). Before openpyxl sees a ZIP its declared sizes are checked (zip bombs); rows and columns read per
sheet are capped. Anything a library raises on hostile input becomes :class:`Refused`, so one bad attachment never
stops the caller.
"""

from __future__ import annotations

import io
import logging
import struct
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import msoffcrypto
import openpyxl
import xlrd

log = logging.getLogger(__name__)

MAX_ROWS = 5_000  # a report has about 80 rows; a 1,048,576-row sheet takes a minute even in read-only mode
MAX_COLS = 60
MAX_COLS_DECLARED = 256  # every BIFF sheet may declare all 256 columns (Excel does for formatted rows)
MAX_SHEETS = 30  # sheets after these are not read
MAX_UNCOMPRESSED = 100 * 1024 * 1024  # total declared size of the ZIP members
MAX_RATIO = 100  # a member larger than RATIO_FLOOR expanding more than this is a bomb, not a spreadsheet
RATIO_FLOOR = 10 * 1024 * 1024

ZIP_MAGIC = b"PK\x03\x04"
CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_BIFF5_BOOK = "Book\0".encode("utf-16-le")  # Excel 95's stream name, as stored in a CFB directory entry

Kind = Literal["xlsx", "xls"]
OfficeKind = Literal["xlsx", "xls", "encrypted"]


class Refused(Exception):
    """Raised when the bytes cannot be read as a workbook; carries the problem code and both messages."""

    def __init__(self, code: str, message: str, message_hi: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.message_hi = message_hi


@dataclass(frozen=True)
class Sheet:
    name: str
    visible: bool
    rows: tuple[tuple[Any, ...], ...]  # rows[0] is sheet row 1; values: None, str, int, float, bool, datetime
    truncated: bool  # more than MAX_ROWS rows: the rest was not read


@dataclass(frozen=True)
class Book:
    kind: Kind
    sheets: tuple[Sheet, ...]


_UNREADABLE_HI = "फ़ाइल खोली नहीं जा सकी (खराब या अधूरी है)। कृपया एक्सेल में खोलकर .xlsx के रूप में सहेजें और दोबारा भेजें।"


def _unreadable(detail: str) -> Refused:
    return Refused(
        "unreadable",
        f"The file could not be read ({detail}). Please open it in Excel, save it as .xlsx and send it again.",
        _UNREADABLE_HI,
    )


def is_office_file(head: bytes) -> bool:
    """Whether bytes start like an Office file (a ZIP package or a CFB container: xlsx, xls, Outlook .msg)."""
    return head.startswith((ZIP_MAGIC, CFB_MAGIC))


def spreadsheet_kind(data: bytes) -> OfficeKind | None:
    """What the bytes are: xlsx/xlsm, legacy xls, a password-protected workbook, or None (not a workbook).

    The one place that tells: ``message`` sorts attachments by it, ``load`` refuses a protected workbook by it."""
    if data.startswith(ZIP_MAGIC):
        return "xlsx" if _is_ooxml_workbook(data) else None
    if data.startswith(CFB_MAGIC):
        return _cfb_kind(data)
    return None


def _is_ooxml_workbook(data: bytes) -> bool:
    try:
        names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        # Truncated: local headers still carry member names; the workbook reader will report the damage.
        return b"xl/" in data
    return "[Content_Types].xml" in names and any(n.startswith("xl/") for n in names)


def _cfb_kind(data: bytes) -> OfficeKind | None:
    try:
        # msoffcrypto picks by stream name: EncryptionInfo (a protected xlsx), Workbook (BIFF8 xls).
        office = msoffcrypto.OfficeFile(io.BytesIO(data))
    except Exception as exc:  # FileFormatError for Word and other CFB files; OSError and worse for damaged ones
        log.info("msoffcrypto could not classify the CFB file: %s: %s", type(exc).__name__, exc)
        return "xls" if _BIFF5_BOOK in data else None
    kind = getattr(office, "format", "")
    if kind == "ooxml":
        return "encrypted"
    if kind != "xls97":
        return None
    try:
        # A protected .xls keeps its Workbook stream; only its FILEPASS record tells.
        return "encrypted" if office.is_encrypted() else "xls"
    except Exception:  # a damaged BIFF stream: the workbook reader will say so
        return "xls"


def load(content: bytes) -> Book:
    """Read every sheet's first MAX_ROWS x MAX_COLS values; raises Refused for anything that is not a workbook."""
    if not content:
        raise Refused("empty_file", "The file is empty (0 bytes).", "फ़ाइल खाली है (0 बाइट)।")
    if content.startswith(ZIP_MAGIC):
        _check_zip(content)
        return Book("xlsx", _read_xlsx(content))
    if content.startswith(CFB_MAGIC):
        if spreadsheet_kind(content) == "encrypted":
            raise Refused(
                "password_protected",
                "The workbook is password-protected: please send an unprotected file.",
                "एक्सेल फ़ाइल पासवर्ड से सुरक्षित है: कृपया बिना पासवर्ड की फ़ाइल भेजें।",
            )
        return Book("xls", _read_xls(content))  # an .xls, or a container nothing could place: xlrd judges
    raise _not_a_spreadsheet(content)


def _not_a_spreadsheet(content: bytes) -> Refused:
    head = content[:1024].lstrip().lower()
    if head.startswith(b"%pdf"):
        what, what_hi = "a PDF document", "पीडीएफ दस्तावेज"
    elif head.startswith((b"<html", b"<!doctype html", b"<table", b"<?xml")):
        what, what_hi = "a web page (HTML/XML) saved with a spreadsheet name", "वेब पेज (HTML/XML)"
    elif _looks_like_text(content[:4096]):
        what, what_hi = "plain text or CSV", "सादा टेक्स्ट या CSV"
    else:
        what, what_hi = "not a spreadsheet", "स्प्रेडशीट नहीं"
    return Refused(
        "not_a_spreadsheet",
        f"The file is not an Excel workbook ({what}). Please send the report as an .xlsx file.",
        f"यह फ़ाइल एक्सेल फ़ाइल नहीं है ({what_hi})। कृपया रिपोर्ट .xlsx फ़ाइल के रूप में भेजें।",
    )


def _looks_like_text(sample: bytes) -> bool:
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A sample cut inside a multi-byte character is still text.
        return exc.start >= len(sample) - 3 and b"\x00" not in sample
    return b"\x00" not in sample


def _check_zip(content: bytes) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            members = archive.infolist()
            names = {m.filename for m in members}
            mimetype = b""
            if "mimetype" in names:
                with archive.open("mimetype") as member:
                    mimetype = member.read(100)
    except Exception as exc:  # BadZipFile, NotImplementedError (odd versions), struct.error, OSError...
        log.info("unreadable zip: %s: %s", type(exc).__name__, exc)
        raise _unreadable("damaged or incomplete") from None
    if b"opendocument" in mimetype:
        raise Refused(
            "not_a_spreadsheet",
            "The file is an OpenDocument spreadsheet (.ods). Please save it as .xlsx and send it again.",
            "यह OpenDocument (.ods) फ़ाइल है। कृपया इसे .xlsx के रूप में सहेजकर दोबारा भेजें।",
        )
    if "[Content_Types].xml" not in names:
        raise Refused(
            "not_a_spreadsheet",
            "The file is a ZIP archive, not an Excel workbook. Please send the report as an .xlsx file.",
            "यह फ़ाइल ZIP संग्रह है, एक्सेल फ़ाइल नहीं। कृपया रिपोर्ट .xlsx फ़ाइल के रूप में भेजें।",
        )
    total = sum(m.file_size for m in members)
    bomb = total > MAX_UNCOMPRESSED or any(
        m.file_size > RATIO_FLOOR and m.file_size > MAX_RATIO * max(m.compress_size, 1) for m in members
    )
    if bomb:
        raise Refused(
            "too_large",
            f"The workbook would expand to {total // (1024 * 1024)} MB ({total // max(len(content), 1)} times its "
            "size) when opened, far more than a report needs; it was not opened. Please send only the report sheet.",
            "खोलने पर यह फ़ाइल बहुत बड़ी हो जाती है, इसलिए इसे नहीं खोला गया। कृपया केवल रिपोर्ट वाली शीट भेजें।",
        )


@contextmanager
def _quiet() -> Iterator[None]:
    """Library warnings about a sender's file ("unknown extension", "no default style") are logged, not raised,
    whatever the process's warning filters are (pytest turns them into errors)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for warning in caught:
        log.debug("while reading a workbook: %s", warning.message)


def _read_xlsx(content: bytes) -> tuple[Sheet, ...]:
    # From a BytesIO openpyxl does not check the file name's extension (it refuses ".xls" names otherwise).
    # defusedxml, a dependency, makes openpyxl refuse XML entity declarations ("billion laughs").
    try:
        with _quiet():
            book = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
            try:
                return tuple(
                    _grid(
                        ws.title,
                        ws.sheet_state == "visible",
                        ws.iter_rows(min_row=1, max_row=MAX_ROWS + 1, max_col=MAX_COLS, values_only=True),
                    )
                    for ws in book.worksheets[:MAX_SHEETS]
                )
            finally:
                book.close()
    except MemoryError:
        raise
    except Exception as exc:  # hostile input makes openpyxl raise nearly anything (BadZipFile, KeyError, ...)
        log.info("unreadable xlsx: %s: %s", type(exc).__name__, exc)
        raise _unreadable("damaged, or not a valid .xlsx workbook") from None


def _grid(name: str, visible: bool, rows: Any) -> Sheet:
    read: list[tuple[Any, ...]] = []
    for values in rows:
        read.append(tuple(values))
        if len(read) > MAX_ROWS:
            break
    truncated = len(read) > MAX_ROWS
    return Sheet(name, visible, tuple(read[:MAX_ROWS]), truncated)


def formula_cells(content: bytes, sheet: str, last_row: int) -> frozenset[tuple[int, int]]:
    """(row, column), 1-based, of cells in rows 1..last_row holding a formula.

    With data_only a formula without a saved result reads as None, like an empty cell; files written by
    scripts (not Excel) have no saved results. This second, formula-preserving pass tells the two apart.
    """
    try:
        with _quiet():
            book = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=False)
            try:
                found: set[tuple[int, int]] = set()
                for row in book[sheet].iter_rows(min_row=1, max_row=last_row, max_col=MAX_COLS):
                    found.update((c.row, c.column) for c in row if getattr(c, "data_type", None) == "f")
                return frozenset(found)
            finally:
                book.close()
    except Exception as exc:  # the first pass succeeded; failing here only loses the hint
        log.info("formula pass failed: %s: %s", type(exc).__name__, exc)
        return frozenset()


def _read_xls(content: bytes) -> tuple[Sheet, ...]:
    try:
        with _quiet():
            # xlrd prints warnings to stdout unless given a logfile. ragged_rows: rows are not padded to the widest
            # row (one cell at row 65,536, column 256 would otherwise cost 16 million empty cells per sheet);
            # on_demand: one sheet in memory at a time.
            book = xlrd.open_workbook(file_contents=content, logfile=io.StringIO(), on_demand=True, ragged_rows=True)
            try:
                sheets = []
                for i in range(min(book.nsheets, MAX_SHEETS)):
                    _check_xls_dimensions(book, i)
                    sheets.append(_xls_sheet(book.sheet_by_index(i), book.datemode))
                    book.unload_sheet(i)
                return tuple(sheets)
            finally:
                book.release_resources()
    except (Refused, MemoryError):
        raise
    except Exception as exc:  # xlrd raises XLRDError, struct.error, AssertionError, IndexError...
        log.info("unreadable xls: %s: %s", type(exc).__name__, exc)
        raise _unreadable("damaged, or not a valid .xls workbook") from None


_DIMENSIONS = (0x0200, 0x0000)  # BIFF8 / BIFF2-7 record kinds
_EOF = 0x000A
_RECORDS_BEFORE_DIMENSIONS = 2_000  # index, settings, column widths come first; cells only after DIMENSIONS


def _check_xls_dimensions(book: Any, index: int) -> None:
    """Refuse a sheet whose declared size (its DIMENSIONS record) is beyond the rows and columns read, before
    xlrd builds it: a 10 KB file can declare 65,536 x 256 cells on every sheet."""
    mem, pos = book.mem, book._sh_abs_posn[index]  # xlrd keeps sheet offsets nowhere public
    for _ in range(_RECORDS_BEFORE_DIMENSIONS):
        if pos + 4 > len(mem):
            return
        kind, length = struct.unpack_from("<HH", mem, pos)
        body = mem[pos + 4 : pos + 4 + length]
        pos += 4 + length
        if kind == _EOF:
            return
        if kind in _DIMENSIONS:
            if len(body) >= 14:
                _, rows, _, cols = struct.unpack_from("<IIHH", body)
            elif len(body) >= 8:
                _, rows, _, cols = struct.unpack_from("<HHHH", body)
            else:
                return
            if rows > MAX_ROWS or cols > MAX_COLS_DECLARED:
                name = book.sheet_names()[index]
                raise Refused(
                    "too_large",
                    f"Sheet '{name}' declares {rows:,} rows x {cols:,} columns, more than a report can have "
                    f"({MAX_ROWS:,} rows); it was not opened. Please copy the report into the template and send it "
                    "again.",
                    f"शीट '{name}' में {rows:,} पंक्तियाँ x {cols:,} कॉलम घोषित हैं, जो रिपोर्ट की सीमा ({MAX_ROWS:,} "
                    "पंक्तियाँ) से अधिक है; इसे नहीं खोला गया। कृपया रिपोर्ट को निर्धारित प्रारूप (टेम्पलेट) में कॉपी करके "
                    "दोबारा भेजें।",
                )
            return


def _xls_sheet(ws: Any, datemode: int) -> Sheet:
    rows = tuple(
        tuple(_xls_value(ws.cell(r, c), datemode) for c in range(min(ws.row_len(r), MAX_COLS)))
        for r in range(min(ws.nrows, MAX_ROWS))
    )
    return Sheet(ws.name, ws.visibility == 0, rows, ws.nrows > MAX_ROWS)


def _xls_value(cell: Any, datemode: int) -> Any:
    if cell.ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
        return None
    if cell.ctype == xlrd.XL_CELL_DATE:
        try:
            value: datetime = xlrd.xldate.xldate_as_datetime(cell.value, datemode)
            return value
        except (ValueError, OverflowError, xlrd.xldate.XLDateError):
            return cell.value
    if cell.ctype == xlrd.XL_CELL_ERROR:
        return xlrd.error_text_from_code.get(cell.value, "#ERROR")
    if cell.ctype == xlrd.XL_CELL_BOOLEAN:
        return bool(cell.value)
    return cell.value

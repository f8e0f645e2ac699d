"""A DSP's report workbook (bytes) -> the district rows it holds and every problem found, with cell addresses.

Pure, and never raises for bad input: each problem is a :class:`Problem` with a stable code and plain English and
Hindi messages. The steps:

1. ``workbook.io`` reads the bytes (xlsx, legacy xls; refuses encrypted, non-spreadsheet, damaged, bomb files).
2. On every visible sheet the header row is the row among the first 30 naming the most known columns
   (``headers.match_header``); the sheet with the best header is the report.
3. "Week ending" and the DSP's name are read from label cells above the header.
4. Each row below: blank rows, total rows (योग / Total) and notes (text in the district column, no figures) are
   skipped; the district is matched by name or LGD code; figures are checked. Valid rows are returned even when
   other rows have errors; a required column missing, or given twice, gives no rows at all.

Checks that need the roster or last week's report (district assigned to this DSP, cumulative figures falling) are
the service's, not this module's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from mailbot.workbook.cells import address, is_empty, parse_date
from mailbot.workbook.headers import (
    COLUMN_BY_KEY,
    DSP_LABELS,
    OPTIONAL_FIGURES,
    REQUIRED,
    SERIAL,
    WEEK_ENDING_LABELS,
    is_label,
    is_total,
    label_and_value,
    match_header,
    plain,
)
from mailbot.workbook.io import MAX_ROWS, Book, Refused, Sheet, load
from mailbot.workbook.model import FIGURES, Header, ParsedWorkbook, Problem, ReportRow, Severity
from mailbot.workbook.rows import read_rows

HEADER_SCAN_ROWS = 30
MIN_HEADER_COLUMNS = 3  # fewer recognised headers than this is some other table
MAX_PROBLEMS = 200

__all__ = ["FIGURES", "ParsedWorkbook", "Problem", "ReportRow", "Severity", "find_header", "parse_workbook"]


def parse_workbook(content: bytes, filename: str) -> ParsedWorkbook:
    """Read a report workbook; problems are returned, never raised."""
    try:
        book = load(content)
    except Refused as refused:
        problem = Problem("error", refused.code, refused.message, refused.message_hi, filename)
        return ParsedWorkbook(filename, "", "", None, (), (problem,))
    return _Parser(content, filename, book).parse()


def find_header(sheet: Sheet) -> Header | None:
    """The row among the first HEADER_SCAN_ROWS naming the most known columns (the first of equals).

    A row is also read together with the row above it, for the two-row headers offices draw by hand:
    "Rural JSKs" merged over "Target | Opened", with "District" merged down both rows.
    """
    best: Header | None = None
    above: tuple[Any, ...] = ()
    for index, values in enumerate(sheet.rows[:HEADER_SCAN_ROWS]):
        variants: list[tuple[list[str], list[str] | None]] = [(_texts(values), None)]
        if above:
            over = _groups(above, values)
            variants.append((_stacked(over, values), over))
        for labels, groups in variants:
            header = _header(index + 1, labels, groups)
            if len(header.columns) >= MIN_HEADER_COLUMNS and (best is None or len(header.columns) > len(best.columns)):
                best = header
        above = tuple(values)
    return best


def _texts(values: Sequence[Any]) -> list[str]:
    return [value.strip() if isinstance(value, str) else "" for value in values]


def _stacked(groups: Sequence[str], below: Sequence[Any]) -> list[str]:
    """Each column's label under its group heading (``_groups``): a label that is a header on its own stays
    as it is, "Target" under "Rural JSKs" becomes "Rural JSKs Target", and a heading merged down over an
    empty cell is the label itself."""
    bottom = _texts(below)
    bottom += [""] * (len(groups) - len(bottom))
    return [
        label if label and match_header(label) else _under(group, label)
        for group, label in zip(groups, bottom, strict=True)
    ]


def _groups(above: Sequence[Any], below: Sequence[Any]) -> list[str]:
    """The group heading over each column: a heading carries right over empty cells (a merged heading's value
    is in its first cell only) until the next heading or a column empty in both rows."""
    top, bottom = _texts(above), _texts(below)
    width = max(len(top), len(bottom))
    top, bottom = top + [""] * (width - len(top)), bottom + [""] * (width - len(bottom))
    groups: list[str] = []
    group = ""
    for heading, label in zip(top, bottom, strict=True):
        if heading:
            group = heading
        elif not label:
            group = ""
        groups.append(group)
    return groups


def _under(heading: str, label: str) -> str:
    """ "Rural JSKs / ग्रामीण जन सेवा केन्द्र" over "Target / लक्ष्य" -> each heading wording with each label
    wording, as alternatives match_header tries one by one ("Rural JSKs Target / ...")."""
    if not heading or not label:
        return heading or label
    headings = [h.strip() for h in re.split(r"[/\n|]", heading) if h.strip()]
    wordings = [w.strip() for w in re.split(r"[/\n|]", label) if w.strip()]
    return " / ".join(f"{h} {w}" for h in headings for w in wordings)


def _header(row: int, labels: Sequence[str], groups: Sequence[str] | None = None) -> Header:
    found: dict[str, list[int]] = {}
    for column, label in enumerate(labels, start=1):
        key = match_header(label) if label else None
        if key and key != SERIAL:
            found.setdefault(key, []).append(column)
    for key, columns in found.items():
        # Rural | Urban | Total groups, each with "Functional": the total is the figure.
        totals = [c for c in columns if groups and is_total(groups[c - 1])]
        if len(columns) > 1 and len(totals) == 1:
            found[key] = totals
    return Header(
        row,
        {key: columns[0] for key, columns in found.items()},
        {key: tuple(columns) for key, columns in found.items() if len(columns) > 1},
    )


@dataclass
class _Parser:
    content: bytes
    filename: str
    book: Book
    sheet_name: str = ""  # the report sheet, once chosen
    problems: list[Problem] = field(default_factory=list)
    dropped: int = 0

    def add(
        self, severity: Severity, code: str, message: str, message_hi: str, cell: str = "", lgd_code: int | None = None
    ) -> None:
        if len(self.problems) >= MAX_PROBLEMS:
            self.dropped += 1
            return
        self.problems.append(
            Problem(severity, code, message, message_hi, self.filename, self.sheet_name, cell, lgd_code)
        )

    def result(self, rows: tuple[ReportRow, ...] = (), dsp: str = "", week: date | None = None) -> ParsedWorkbook:
        if self.dropped:
            self.problems.append(
                Problem(
                    "warning",
                    "too_many_problems",
                    f"{self.dropped} more problems were found but are not listed; please correct the ones above first.",
                    f"{self.dropped} और समस्याएं मिलीं जो यहां नहीं दिखाई गईं; पहले ऊपर दी गई समस्याएं ठीक करें।",
                    self.filename,
                    self.sheet_name,
                )
            )
        return ParsedWorkbook(self.filename, self.sheet_name, dsp, week, rows, tuple(self.problems))

    def parse(self) -> ParsedWorkbook:
        found = [
            (sheet, header)
            for sheet in self.book.sheets
            if sheet.visible
            for header in [find_header(sheet)]
            if header is not None
        ]
        if not found:
            hidden = [s.name for s in self.book.sheets if not s.visible and find_header(s) is not None]
            self._no_table(hidden)
            return self.result()
        sheet, header = max(found, key=lambda pair: len(pair[1].columns))  # max keeps the first of equals
        self.sheet_name = sheet.name
        others = [s.name for s, h in found if s is not sheet and _looks_complete(h)]
        if others:
            self.add(
                "warning",
                "several_report_sheets",
                f"Several sheets look like reports; sheet '{sheet.name}' was read and "
                f"{_quoted(others)} ignored. Please send one report sheet per file.",
                f"कई शीट रिपोर्ट जैसी हैं; शीट '{sheet.name}' पढ़ी गई और {_quoted(others)} छोड़ दी गई। "
                "कृपया एक फ़ाइल में एक ही रिपोर्ट शीट भेजें।",
            )
        header = self._without_split_figures(header)
        dsp = self._dsp_name(sheet, header)
        week = self._week_ending(sheet, header)
        if sheet.truncated:
            self.add(
                "error",
                "too_many_rows",
                f"Sheet '{sheet.name}' has more than {MAX_ROWS:,} rows; only the first {MAX_ROWS:,} were read. "
                "A report has one row per district: please delete the extra rows.",
                f"शीट '{sheet.name}' में {MAX_ROWS} से अधिक पंक्तियां हैं; केवल पहली {MAX_ROWS} पढ़ी गईं। "
                "रिपोर्ट में प्रत्येक जनपद की एक पंक्ति होती है: कृपया अतिरिक्त पंक्तियां हटाएं।",
            )
        missing = [key for key in REQUIRED if key not in header.columns]
        for key in missing:
            column = COLUMN_BY_KEY[key]
            self.add(
                "error",
                "missing_column",
                f"Required column '{column.en}' ('{column.hi}') not found in the header row {header.row}; "
                "no rows were read.",
                f"शीर्ष पंक्ति {header.row} में अनिवार्य कॉलम '{column.hi}' ('{column.en}') नहीं मिला; कोई पंक्ति नहीं पढ़ी गई।",
                address(header.row, min(header.columns.values())),
            )
        if missing or self._repeated_required(sheet, header):
            return self.result(dsp=dsp, week=week)
        rows = read_rows(self.content, self.book.kind, sheet, header, self.add)
        if not rows and not any(p.severity == "error" for p in self.problems):
            self.add(
                "error",
                "no_rows",
                f"The report table (header in row {header.row}) has no district rows.",
                f"रिपोर्ट तालिका (शीर्ष पंक्ति {header.row}) में किसी जनपद की पंक्ति नहीं है।",
            )
        return self.result(rows, dsp, week)

    def _repeated_required(self, sheet: Sheet, header: Header) -> bool:
        """Whether a required figure is named by several columns (after ``_header`` preferred a Total column), with
        an error naming every header cell. Usually a stale copy kept beside the real column, often hidden. The
        sheet is refused rather than read from one copy: either copy may be this week's, every row needs the
        figure, and a report read from the wrong one would be stored and believed. One deletion fixes it."""
        found = False
        for key in (k for k in REQUIRED if k != "district" and k in header.repeated):
            column = COLUMN_BY_KEY[key]
            values = sheet.rows[header.row - 1]
            cells = [
                (
                    address(header.row, c),
                    " ".join(values[c - 1].split()) if c <= len(values) and isinstance(values[c - 1], str) else "",
                )
                for c in header.repeated[key]
            ]
            listed = ", ".join(f"{cell} ('{text}')" if text else cell for cell, text in cells)
            self.add(
                "error",
                "duplicate_column",
                f"Required column '{column.en}' appears more than once in header row {header.row}: {listed}; "
                "one may be hidden. mailbot cannot tell which holds this week's figures, so no rows were read: "
                "delete the copies that are not this week's and send the file again.",
                f"अनिवार्य कॉलम '{column.hi}' शीर्ष पंक्ति {header.row} में एक से अधिक बार है: {listed}; "
                "इनमें से कोई छिपा (hidden) हो सकता है। यह तय नहीं हो सकता कि इस सप्ताह के आंकड़े किसमें हैं, इसलिए "
                "कोई पंक्ति नहीं पढ़ी गई: जो कॉलम इस सप्ताह का नहीं है उसे हटाकर फ़ाइल फिर से भेजें।",
                cells[0][0],
            )
            found = True
        return found

    def _without_split_figures(self, header: Header) -> Header:
        """An optional figure still in several columns (``_header`` already took a Total column when there is
        one) is given in parts, usually rural and urban under a two-row header. mailbot stores one total per
        district, and adding columns up is a guess: the figure is left out, with a warning that names the
        columns (the required figures are rural/urban already)."""
        split = [key for key in OPTIONAL_FIGURES if key in header.repeated]
        for key in split:
            column = COLUMN_BY_KEY[key]
            cells = ", ".join(address(header.row, c) for c in header.repeated[key])
            self.add(
                "warning",
                "figure_in_parts",
                f"'{column.en}' is given in several columns ({cells}), e.g. for rural and urban centres "
                "separately. Only the total is recorded, so it was not read: add one column with the total.",
                f"'{column.hi}' कई कॉलम ({cells}) में दिया गया है, जैसे ग्रामीण एवं शहरी केन्द्रों के लिए अलग-अलग। "
                "केवल कुल संख्या दर्ज होती है, इसलिए इसे नहीं पढ़ा गया: कुल संख्या का एक कॉलम जोड़ें।",
                address(header.row, header.repeated[key][0]),
            )
        columns = {key: column for key, column in header.columns.items() if key not in split}
        return Header(header.row, columns, header.repeated) if split else header

    def _no_table(self, hidden: list[str]) -> None:
        en = (
            "No sheet has the report's header row (District, Rural JSK target, Rural JSKs opened, "
            "Urban JSK target, Urban JSKs opened)."
        )
        hi = "किसी भी शीट में रिपोर्ट की शीर्ष पंक्ति (जनपद, ग्रामीण लक्ष्य, स्थापित ग्रामीण, शहरी लक्ष्य, स्थापित शहरी) नहीं मिली।"
        if hidden:
            en += f" The hidden sheet {_quoted(hidden)} has one: please unhide it or copy it to a visible sheet."
            hi += f" छिपी हुई शीट {_quoted(hidden)} में है: कृपया उसे दिखाई देने योग्य बनाएं।"
        else:
            en += " Please use the report template."
            hi += " कृपया रिपोर्ट के निर्धारित प्रारूप का प्रयोग करें।"
        self.add("error", "no_report_table", en, hi)

    @staticmethod
    def _labelled(sheet: Sheet, header: Header, labels: frozenset[str]) -> tuple[Any, str] | None:
        """The value beside a label cell above the header: after ':' in the cell, or the next cell to the right."""
        for row_index, values in enumerate(sheet.rows[: header.row - 1], start=1):
            for column, value in enumerate(values, start=1):
                if not isinstance(value, str):
                    continue
                label, after = label_and_value(value)
                if not is_label(label, labels):
                    if ":" not in value and any(plain(value).startswith(f"{text} ") for text in labels):
                        return value, address(row_index, column)  # "Week ending 07/12/2026"
                    continue
                if after:
                    return after, address(row_index, column)
                for right in range(column, len(values)):
                    if not is_empty(values[right]):
                        return values[right], address(row_index, right + 1)
                return None, address(row_index, column + 1)  # empty: the cell beside the label, where it belongs
        return None

    def _dsp_name(self, sheet: Sheet, header: Header) -> str:
        found = self._labelled(sheet, header, DSP_LABELS)
        return "" if found is None or found[0] is None else " ".join(str(found[0]).split())

    def _week_ending(self, sheet: Sheet, header: Header) -> date | None:
        found = self._labelled(sheet, header, WEEK_ENDING_LABELS)
        if found is None:
            self.add(
                "warning",
                "week_ending_missing",
                "No 'Week ending' date found above the table.",
                "तालिका के ऊपर 'सप्ताह समाप्ति तिथि' नहीं मिली।",
            )
            return None
        value, cell = found
        day = parse_date(value)
        if day is None and is_empty(value):
            self.add(
                "warning",
                "week_ending_empty",
                "The 'Week ending' date is empty: fill in the Sunday the week ends, e.g. 22/11/2026.",
                "'सप्ताह समाप्ति तिथि' खाली है: सप्ताह का अन्तिम रविवार भरें, जैसे 22/11/2026।",
                cell,
            )
        elif day is None:
            self.add(
                "warning",
                "week_ending_unreadable",
                f"The 'Week ending' date '{value}' could not be read: write the Sunday the week ends as "
                "DD/MM/YYYY, e.g. 22/11/2026.",
                f"'सप्ताह समाप्ति तिथि' '{value}' पढ़ी नहीं जा सकी: सप्ताह का अन्तिम रविवार DD/MM/YYYY रूप में "
                "लिखें, जैसे 22/11/2026।",
                cell,
            )
        return day


def _looks_complete(header: Header) -> bool:
    return all(key in header.columns for key in REQUIRED)


def _quoted(names: list[str]) -> str:
    return ", ".join(f"'{name}'" for name in names)

"""A DSP's report workbook: reading one (bytes -> rows and problems) and writing the template mailbot hands out.

Other modules import the parser and its model from here; the parts, bottom up:

- ``headers``: the report's columns and labels, one definition shared by the template writer and the parser;
- ``cells``: a cell as people type it -> count, date, placeholder; A1 addresses;
- ``io``: bytes -> plain grids (xlsx, legacy xls; refuses encrypted, non-spreadsheet, damaged, bomb files);
- ``model``: Problem, ReportRow, ParsedWorkbook, Header, FIGURES;
- ``rows``: the rows under the header -> ReportRows, a Problem per bad cell;
- ``parse``: ``parse_workbook``, the whole reading;
- ``template``: the canonical report workbook (blank, pre-filled, with figures);
- ``guard``: the one guard for text written into any workbook cell mailbot writes (template, CEG's summary).
"""

from mailbot.workbook.parse import (
    FIGURES,
    HEADER_SCAN_ROWS,
    MAX_PROBLEMS,
    MIN_HEADER_COLUMNS,
    ParsedWorkbook,
    Problem,
    ReportRow,
    Severity,
    find_header,
    parse_workbook,
)

__all__ = [
    "FIGURES",
    "HEADER_SCAN_ROWS",
    "MAX_PROBLEMS",
    "MIN_HEADER_COLUMNS",
    "ParsedWorkbook",
    "Problem",
    "ReportRow",
    "Severity",
    "find_header",
    "parse_workbook",
]

"""parse_workbook on the quirk fixtures (fixtures/workbooks/) and on shapes too big to commit."""

from __future__ import annotations

import email
import email.message
import email.policy
import io
import random
import zipfile
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from emails import fixture_generator

from mailbot.message import spreadsheet_kind
from mailbot.weeks import Week
from mailbot.workbook import FIGURES, ParsedWorkbook, ReportRow, find_header, parse_workbook
from mailbot.workbook import io as workbook_io
from mailbot.workbook.cells import MAX_COUNT, parse_count, parse_date, placeholder
from mailbot.workbook.headers import COLUMNS, match_header
from mailbot.workbook.io import Sheet
from mailbot.workbook.template import report_workbook, save_workbook

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "fixtures" / "workbooks"


mw = fixture_generator("make_workbooks")
SUNDAY = date(2026, 12, 6)
CANONICAL_ROWS = [(code, 6 + i) for i, code in enumerate(mw.CODES)]


def parse(name: str) -> ParsedWorkbook:
    return parse_workbook((FOLDER / name).read_bytes(), name)


def problems(result: ParsedWorkbook) -> set[tuple[str, str, str]]:
    return {(p.severity, p.code, p.cell) for p in result.problems}


def figures(result: ParsedWorkbook) -> dict[int, dict[str, int | None]]:
    return {row.lgd_code: row.figures() for row in result.rows}


def expected(codes: tuple[int, ...] | list[int], **changes: Mapping[str, int | None]) -> dict[int, dict[str, Any]]:
    """The generator's figures for ``codes``, with per-code changes keyed by the code as a string."""
    table: dict[int, dict[str, Any]] = {code: dict(mw.figures_for(code)) for code in codes}
    for code, change in changes.items():
        table[int(code.lstrip("_"))].update(change)
    return table


# --- files that parse cleanly --------------------------------------------------------------------------------

CLEAN = [
    "canonical_english.xlsx",
    "canonical_hindi_headers.xlsx",
    "bilingual_headers.xlsx",
    "shuffled_columns_extra_columns.xlsx",
    "serial_number_and_total_row.xlsx",
    "hindi_district_names.xlsx",
    "old_district_names.xlsx",
    "misspelled_districts.xlsx",
    "lgd_codes_only.xlsx",
    "district_codes_in_name_column.xlsx",
    "week_ending_as_text.xlsx",
    "week_ending_excel_serial.xlsx",
    "xlsx_named_xls.xls",
    "macro_enabled.xlsm",  # read like any workbook; the macros are never run
]


@pytest.mark.parametrize("name", CLEAN)
def test_clean_fixture_gives_every_district_and_no_problem(name: str) -> None:
    result = parse(name)
    assert result.problems == ()
    assert [(r.lgd_code, r.row) for r in result.rows] == CANONICAL_ROWS
    assert figures(result) == expected(mw.CODES)
    assert result.dsp_name == "CMS Computers Ltd"
    assert result.week_ending == SUNDAY
    assert result.sheet == "JSK weekly report"


def test_merged_title_cells_above_the_header() -> None:
    result = parse("merged_title_cells.xlsx")
    assert result.problems == ()
    assert [(r.lgd_code, r.row) for r in result.rows] == [(c, r + 3) for c, r in CANONICAL_ROWS]
    assert figures(result) == expected(mw.CODES)
    assert (result.dsp_name, result.week_ending) == ("CMS Computers Ltd", SUNDAY)


def test_two_row_header_with_grouped_columns() -> None:
    # "Rural JSKs" merged over "Target | Opened (cumulative)", District and the rest merged down both rows.
    result = parse("two_row_header.xlsx")
    assert result.problems == ()
    assert [(r.lgd_code, r.row) for r in result.rows] == [(c, r + 1) for c, r in CANONICAL_ROWS]
    assert figures(result) == expected(mw.CODES)
    assert (result.dsp_name, result.week_ending) == ("CMS Computers Ltd", SUNDAY)


def test_group_headings_are_read_with_the_labels_below_them() -> None:
    sheet = Sheet(
        "s",
        True,
        (
            ("District", "ग्रामीण जन सेवा केन्द्र", None, "Urban", None, "Functional JSKs"),
            (None, "लक्ष्य", "स्थापित (संचयी)", "Target", "Opened", None),
            ("Agra", 1, 2, 3, 4, 5),
        ),
        False,
    )
    header = find_header(sheet)
    assert header is not None and header.row == 2
    assert header.columns == {
        "district": 1,
        "rural_target": 2,
        "rural_opened": 3,
        "urban_target": 4,
        "urban_opened": 5,
        "functional": 6,
    }


def test_a_figure_given_in_parts_under_a_two_row_header_is_left_out_and_named() -> None:
    # "Functional" and "B2C" under both "Rural JSKs" and "Urban JSKs": one of each would be half the truth.
    book = openpyxl.Workbook()
    ws = book.active
    ws.append(["Week ending: 06/12/2026"])
    ws.append(["District", "Rural JSKs", None, None, None, "Urban JSKs", None, None, None])
    ws.append([None, "Target", "Opened", "Functional", "B2C enabled", "Target", "Opened", "Functional", "B2C enabled"])
    ws.append(["Agra", 100, 80, 70, 10, 20, 16, 14, 5])
    result = parse_workbook(save_workbook(book, mw.SAVED_AT), "split.xlsx")
    [agra] = result.rows
    assert (agra.rural_target, agra.rural_opened, agra.urban_target, agra.urban_opened) == (100, 80, 20, 16)
    assert agra.functional is None and agra.b2c_enabled is None  # not 70 and 10, the rural halves
    assert problems(result) == {("warning", "figure_in_parts", "D3"), ("warning", "figure_in_parts", "E3")}
    [functional] = [p for p in result.problems if p.cell == "D3"]
    assert (
        "given in several columns (D3, H3)" in functional.message
        and "add one column with the total" in functional.message
    )


def test_a_figure_given_in_parts_and_as_a_total_is_read_from_the_total() -> None:
    book = openpyxl.Workbook()
    ws = book.active
    ws.append(["District", "Rural JSKs", None, None, "Urban JSKs", None, None, "Total / कुल"])
    ws.append([None, "Target", "Opened", "Functional", "Target", "Opened", "Functional", "Functional"])
    ws.append(["Agra", 100, 80, 70, 20, 16, 14, 84])
    result = parse_workbook(save_workbook(book, mw.SAVED_AT), "total.xlsx")
    [agra] = result.rows
    assert agra.functional == 84
    assert [p.code for p in result.problems] == ["week_ending_missing"]  # no complaint about the parts


def test_numbers_typed_as_text() -> None:
    result = parse("numbers_as_text_indian_grouping.xlsx")
    assert result.problems == ()
    agra = {
        "rural_target": 123456,
        "rural_opened": 1234,
        "urban_target": 12,
        "urban_opened": 11,
        "functional": 1200,
        "opened_this_week": None,
        "transacting": None,
    }
    assert figures(result) == expected(mw.CODES, _118=agra)


def test_devanagari_digits() -> None:
    result = parse("devanagari_digits.xlsx")
    assert problems(result) == {("error", "ambiguous_number", "D6")}  # "४,७५": 475 or 4?
    assert "'४,७५'" in result.problems[0].message and "is this 475 or 4?" in result.problems[0].message
    assert figures(result) == expected(mw.CODES[1:], _119={"rural_target": 123456})


def test_legacy_xls_with_serial_date_hindi_and_old_names() -> None:
    result = parse("legacy.xls")
    assert result.problems == ()
    assert (result.sheet, result.dsp_name, result.week_ending) == ("Sheet1", "UPDESCO", SUNDAY)
    assert [(r.lgd_code, r.row) for r in result.rows] == CANONICAL_ROWS[:3]
    optional_absent = {"opened_this_week": None, "transacting": None, "b2c_enabled": None}
    assert figures(result) == expected(mw.CODES[:3], _118=optional_absent, _119=optional_absent, _120=optional_absent)
    assert {r.remarks for r in result.rows} == {"old office PC"}


def test_hidden_sheet_ignored_and_second_report_sheet_warned() -> None:
    result = parse("hidden_sheet_and_several_sheets.xlsx")
    assert result.sheet == "Report"
    assert problems(result) == {("warning", "several_report_sheets", "")}
    assert "'Summary'" in result.problems[0].message
    assert figures(result) == expected(mw.CODES)  # not the hidden "Last week" sheet's figures


# --- files with row problems: the valid rows still come back -------------------------------------------------

ROW_PROBLEMS = {
    "ambiguous_akbarpur.xlsx": ({("error", "ambiguous_district", "A8")}, [118, 119, 162, 140]),
    "unknown_district.xlsx": ({("error", "unknown_district", "A9")}, [118, 119, 120, 140]),
    "duplicate_district.xlsx": ({("error", "duplicate_district", "A10")}, [118, 119, 120, 162]),
    "negative_and_non_numeric.xlsx": (
        {
            ("error", "negative_value", "D6"),
            ("error", "not_a_number", "E7"),
            ("error", "fractional_value", "H8"),
            ("error", "missing_value", "F9"),
        },
        [140],
    ),
    "formula_without_cached_value.xlsx": (
        {
            ("error", "formula_without_value", "D6"),
            ("error", "formula_without_value", "H8"),
        },
        [119, 162, 140],
    ),
    "spaced_digits_ambiguous.xlsx": (
        {
            ("error", "ambiguous_number", "G6"),
            ("error", "ambiguous_number", "D7"),
        },
        [120, 162, 140],
    ),
    "dotted_thousands_ambiguous.xlsx": (
        {
            ("error", "ambiguous_number", "C6"),
            ("error", "ambiguous_number", "C7"),
            ("error", "ambiguous_number", "C8"),
        },
        [162, 140],
    ),
    "count_above_bound.xlsx": (
        {
            ("error", "count_above_bound", "C6"),
            ("error", "count_above_bound", "D7"),
            ("error", "count_above_bound", "E8"),
            ("error", "count_above_bound", "H9"),
        },
        [140],
    ),
    "na_in_required_cell.xlsx": (
        {
            ("error", "placeholder_value", "C6"),
            ("error", "placeholder_value", "D7"),
            ("error", "placeholder_value", "E8"),
            ("error", "placeholder_value", "F9"),
        },
        [140],
    ),
    "warnings_opened_exceeds_target.xlsx": (
        {
            ("warning", "opened_exceeds_target", "D6"),
            ("warning", "opened_exceeds_target", "F7"),
            ("warning", "functional_exceeds_opened", "H8"),
            ("warning", "transacting_exceeds_functional", "I9"),
            ("warning", "b2c_exceeds_functional", "J10"),
        },
        list(mw.CODES),
    ),
}


@pytest.mark.parametrize("name", sorted(ROW_PROBLEMS))
def test_row_problems_name_the_cell_and_keep_valid_rows(name: str) -> None:
    result = parse(name)
    want_problems, want_codes = ROW_PROBLEMS[name]
    assert problems(result) == want_problems
    assert [r.lgd_code for r in result.rows] == want_codes
    for problem in result.problems:
        assert (problem.file, problem.sheet) == (name, "JSK weekly report")
        assert problem.message and problem.message_hi


def test_a_repeated_district_says_whether_its_first_row_was_recorded() -> None:
    names = mw.set_names(["Agra", "Aligarh", "Prayagraj", "Lucknow", "Agra"])
    taken = parse_workbook(mw.mutate(names), "dup.xlsx")
    [dup] = [p for p in taken.problems if p.code == "duplicate_district"]
    assert "only row 6 was taken" in dup.message and 118 in [r.lgd_code for r in taken.rows]

    def first_agra_row_broken(ws: Any) -> None:
        names(ws)
        ws.cell(mw.FIRST_ROW, mw.column("rural_target")).value = "approx 500"

    neither = parse_workbook(mw.mutate(first_agra_row_broken), "dup.xlsx")
    [dup] = [p for p in neither.problems if p.code == "duplicate_district"]
    assert 118 not in [r.lgd_code for r in neither.rows]
    assert "only row 6 was taken" not in dup.message
    assert "row 6 had errors, so nothing was recorded for Agra" in dup.message
    assert "कुछ भी दर्ज नहीं हुआ" in dup.message_hi


def test_messages_say_what_is_wrong_in_both_languages() -> None:
    ambiguous = parse("ambiguous_akbarpur.xlsx").problems[0]
    assert "Akbarpur" in ambiguous.message and "Ambedkar Nagar" in ambiguous.message
    assert "Kanpur Dehat" in ambiguous.message and "कानपुर देहात" in ambiguous.message_hi
    unknown = parse("unknown_district.xlsx").problems[0]
    assert unknown.message_hi == "पंक्ति 9: जनपद 'Mumbai' पहचाना नहीं गया।"
    formula = parse("formula_without_cached_value.xlsx").problems[0]
    assert "open and save the file in Excel" in formula.message
    negative = parse("negative_and_non_numeric.xlsx").problems[0]
    assert negative.message.startswith("Row 6 (Agra), Rural JSKs opened (cumulative): -5")


def _at(result: ParsedWorkbook, cell: str) -> tuple[str, str]:
    [problem] = [p for p in result.problems if p.cell == cell]
    return problem.message, problem.message_hi


def test_spaces_inside_digits_are_read_only_as_thousands_grouping() -> None:
    result = parse("spaced_digits_ambiguous.xlsx")
    en, hi = _at(result, "G6")
    assert en.startswith("Row 6 (Agra), Opened this week: '3 1': is this 31 or 3?")
    assert "क्या यह 31 है या 3?" in hi and "'3 1'" in hi
    assert "'4 44': is this 444 or 4?" in _at(result, "D7")[0]
    # Grouped with a space, a no-break space or a narrow no-break space: read, and exactly.
    assert {code: f["rural_target"] for code, f in figures(result).items()} == {120: 1469, 162: 1595, 140: 1529}


def test_dots_and_commas_that_are_no_grouping_are_asked_about() -> None:
    result = parse("dotted_thousands_ambiguous.xlsx")
    assert "'1.000': is this 1000 or 1?" in _at(result, "C6")[0]
    assert "'1,23': is this 123 or 1?" in _at(result, "C7")[0]
    assert "'1,2345': is this 12345 or 1?" in _at(result, "C8")[0]
    assert "क्या यह 1000 है या 1?" in _at(result, "C6")[1]
    assert figures(result) == expected([162, 140], _162={"urban_target": 48}, _140={"rural_target": 1529})


def test_counts_above_the_bound_are_refused_with_the_cell_never_stored() -> None:
    result = parse("count_above_bound.xlsx")
    assert "'1E+19' is more than 1,000,000" in _at(result, "C6")[0]  # a number cell, as Excel shows it
    assert "'1E+19' is more than 1,000,000" in _at(result, "D7")[0]  # the same typed as text
    assert "'1E+20'" in _at(result, "E8")[0]
    assert "'1000001'" in _at(result, "H9")[0] and "1,000,000 से अधिक" in _at(result, "H9")[1]
    assert all(v is None or 0 <= v <= MAX_COUNT for row in result.rows for v in row.figures().values())


def test_a_required_column_given_twice_is_refused_naming_both_header_cells() -> None:
    result = parse("duplicate_required_column.xlsx")
    assert problems(result) == {("error", "duplicate_column", "C5")}
    assert result.rows == ()  # neither the hidden stale copy (C) nor the real one (D) is guessed
    [problem] = result.problems
    assert "'Rural JSK target' appears more than once in header row 5: C5 ('Rural JSK target'), D5" in problem.message
    assert "no rows were read" in problem.message
    assert "C5" in problem.message_hi and "D5" in problem.message_hi
    assert "ग्रामीण जन सेवा केन्द्र लक्ष्य" in problem.message_hi


def test_a_nothing_mark_in_a_required_cell_is_named_not_called_empty() -> None:
    result = parse("na_in_required_cell.xlsx")
    for cell, text in (("C6", "NA"), ("D7", "nil"), ("E8", "-"), ("F9", "शून्य")):
        en, hi = _at(result, cell)
        assert f"the cell holds '{text}'" in en and "write the number, 0 if none" in en and "empty" not in en
        assert f"'{text}'" in hi and "कोई न हो तो 0" in hi
    assert figures(result) == expected([140], _140={"functional": None})  # optional "N/A": not given


def test_missing_required_column_names_it_and_reads_no_rows() -> None:
    result = parse("missing_required_column.xlsx")
    assert problems(result) == {("error", "missing_column", "A5")}
    assert result.rows == ()
    problem = result.problems[0]
    assert "Urban JSK target" in problem.message and "row 5" in problem.message
    assert "शहरी जन सेवा केन्द्र लक्ष्य" in problem.message_hi


# --- files that are not readable reports ---------------------------------------------------------------------

REFUSED = {
    "password_protected.xlsx": "password_protected",
    "csv_named_xlsx.xlsx": "not_a_spreadsheet",
    "ods_named_xlsx.xlsx": "not_a_spreadsheet",
    "pdf_named_xlsx.xlsx": "not_a_spreadsheet",
    "empty.xlsx": "empty_file",
    "truncated.xlsx": "unreadable",
    "zip_bomb.xlsx": "too_large",
    "billion_laughs.xlsx": "unreadable",
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_unreadable_file_gives_one_error_and_no_rows(name: str) -> None:
    result = parse(name)
    assert [(p.severity, p.code, p.file) for p in result.problems] == [("error", REFUSED[name], name)]
    assert result.rows == ()
    assert result.problems[0].message_hi


def test_password_message_asks_for_an_unprotected_file() -> None:
    assert "please send an unprotected file" in parse("password_protected.xlsx").problems[0].message


def test_the_email_side_and_the_reader_agree_on_which_files_are_protected() -> None:
    # One sniffer (workbook.io.spreadsheet_kind): what message.py files as "encrypted" the reader refuses as
    # password-protected, and nothing else.
    files = {p.name: p.read_bytes() for p in sorted(FOLDER.iterdir())}
    files["word_document.doc"] = mw.compound_file(b"\x00" * 600, name="WordDocument")
    disagree = [
        name
        for name, content in files.items()
        if (spreadsheet_kind(content) == "encrypted")
        != ([p.code for p in parse_workbook(content, name).problems] == ["password_protected"])
    ]
    assert disagree == []
    assert spreadsheet_kind(files["password_protected.xlsx"]) == "encrypted"


def test_entity_expansion_is_refused_by_defusedxml() -> None:
    from openpyxl import DEFUSEDXML

    assert DEFUSEDXML, "defusedxml must be installed (and OPENPYXL_DEFUSEDXML not False)"
    result = parse("billion_laughs.xlsx")
    assert result.rows == () and [p.severity for p in result.problems] == ["error"]


def test_declared_size_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workbook_io, "MAX_UNCOMPRESSED", 10_000)
    result = parse("canonical_english.xlsx")
    assert [p.code for p in result.problems] == ["too_large"]


def test_cfb_that_is_not_a_workbook_is_unreadable() -> None:
    word = mw.compound_file(b"\x00" * 600, name="WordDocument")
    garbage_xls = mw.compound_file(b"\x09\x08\x10\x00" + b"\xff" * 700)
    for content in (word, garbage_xls):
        assert [p.code for p in parse_workbook(content, "x.xls").problems] == ["unreadable"]


# --- shapes built in the test --------------------------------------------------------------------------------


def test_200000_row_sheet_is_capped() -> None:
    result = parse_workbook(mw.huge_sheet(200_000), "huge.xlsx")  # its time: benchmarks/bench.py
    assert problems(result) == {("error", "too_many_rows", "")}
    assert [r.lgd_code for r in result.rows] == list(mw.CODES)


def test_problem_list_is_capped() -> None:
    book = openpyxl.load_workbook(io.BytesIO(mw.canonical()))
    ws = book.active
    for _ in range(300):
        ws.append(["Mumbai", None, 1, 1, 1, 1])
    result = parse_workbook(save_workbook(book, mw.SAVED_AT), "r.xlsx")
    codes = [p.code for p in result.problems]
    assert codes.count("unknown_district") == 200
    assert codes[-1] == "too_many_problems" and "100 more problems" in result.problems[-1].message


def _mutated(change: Any) -> ParsedWorkbook:
    return parse_workbook(mw.mutate(change), "r.xlsx")


def test_district_name_and_lgd_code_that_disagree() -> None:
    def change(ws: Any) -> None:
        ws["B6"] = 119  # Aligarh's code on Agra's row

    result = _mutated(change)
    assert ("error", "district_mismatch", "A6") in problems(result)
    assert 118 not in figures(result)


def test_a_row_of_nothing_marks_names_each_cell() -> None:
    def change(ws: Any) -> None:
        for key in ("rural_target", "rural_opened", "urban_target", "urban_opened"):
            ws.cell(mw.FIRST_ROW, mw.column(key)).value = "NA"

    result = _mutated(change)
    assert problems(result) == {("error", "placeholder_value", cell) for cell in ("C6", "D6", "E6", "F6")}


def test_thousands_of_digits_in_a_cell_are_a_problem_not_a_crash() -> None:
    # int() refuses more than 4,300 digits with a ValueError: the reader must never hand it such a string.
    def change(ws: Any) -> None:
        ws["A6"] = "1" * 5000
        ws["B6"] = None
        ws["C7"] = "9" * 5000

    result = _mutated(change)
    assert ("error", "unknown_district", "A6") in problems(result)
    assert ("error", "count_above_bound", "C7") in problems(result)
    assert [r.lgd_code for r in result.rows] == list(mw.CODES[2:])


def test_lgd_code_rescues_an_unrecognised_name() -> None:
    def change(ws: Any) -> None:
        ws["A6"] = "Agr@ District HQ xyz"

    result = _mutated(change)
    assert result.problems == ()
    assert 118 in figures(result)


def test_notes_below_the_table_and_blank_rows_are_skipped() -> None:
    def change(ws: Any) -> None:
        ws.insert_rows(8)  # a blank row inside the table
        ws["A14"] = "Note: figures are provisional"
        ws["A16"] = "Signature / हस्ताक्षर"

    result = _mutated(change)
    assert result.problems == ()
    assert [r.row for r in result.rows] == [6, 7, 9, 10, 11]


def test_prefilled_row_left_empty_is_one_error_per_row() -> None:
    content = report_workbook("CMS", mw.WEEK, [118, 119], {118: mw.figures_for(118)})
    result = parse_workbook(content, "r.xlsx")
    assert problems(result) == {("error", "row_not_filled", "C7")}
    assert [r.lgd_code for r in result.rows] == [118]


def test_missing_week_ending_and_no_table() -> None:
    def change(ws: Any) -> None:
        ws["A3"] = None
        ws["B3"] = None

    assert ("warning", "week_ending_missing", "") in problems(_mutated(change))
    book = openpyxl.Workbook()
    book.active["A1"] = "hello"
    result = parse_workbook(save_workbook(book, mw.SAVED_AT), "r.xlsx")
    assert [p.code for p in result.problems] == ["no_report_table"]


def test_unreadable_week_ending_is_a_warning_with_its_cell() -> None:
    def change(ws: Any) -> None:
        ws["B3"] = "last Sunday"

    result = _mutated(change)
    assert problems(result) == {("warning", "week_ending_unreadable", "B3")}
    assert result.week_ending is None and len(result.rows) == 5


def test_empty_week_ending_points_at_the_cell_to_fill_in() -> None:
    def change(ws: Any) -> None:
        ws["B3"] = None

    result = _mutated(change)
    assert problems(result) == {("warning", "week_ending_empty", "B3")}  # not A3, the label
    [problem] = result.problems
    assert "is empty" in problem.message and "''" not in problem.message and "22/11/2026" in problem.message


def test_report_only_on_a_hidden_sheet_says_so() -> None:
    book = openpyxl.load_workbook(io.BytesIO(mw.canonical()))
    book.active.sheet_state = "hidden"
    book.create_sheet("Blank").sheet_state = "visible"
    book.active = 1
    result = parse_workbook(save_workbook(book, mw.SAVED_AT), "r.xlsx")
    assert [p.code for p in result.problems] == ["no_report_table"]
    assert "hidden" in result.problems[0].message


# --- the pieces ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ("Name of District", "district"),
        ("जिले का नाम", "district"),
        ("District / जनपद", "district"),
        ("District\nजनपद", "district"),
        ("Rural Target", "rural_target"),
        ("Target (Rural)", "rural_target"),
        ("No. of Rural JSK opened", "rural_opened"),
        ("Total Rural CSC established", "rural_opened"),
        ("Rural JSKs opend (cumulative)", "rural_opened"),
        ("स्थापित ग्रामीण जन सेवा केंद्र (संचयी)", "rural_opened"),
        ("Urban CSC target", "urban_target"),
        ("नगरीय लक्ष्य", "urban_target"),
        ("Urban opened", "urban_opened"),
        ("JSKs opened this week", "opened_this_week"),
        ("Functinal JSKs", "functional"),
        ("Transacting CSCs (last 7 days)", "transacting"),
        ("विगत ७ दिवस में लेन-देन करने वाले केन्द्र", "transacting"),
        ("B2C enabled", "b2c_enabled"),
        ("बी२सी सेवाएं देने वाले केन्द्र", "b2c_enabled"),
        ("Remark", "remarks"),
        ("अभ्युक्ति", "remarks"),
        ("LGD Code", "lgd_code"),
        ("S.No.", "serial"),
        ("क्रमांक", "serial"),
        ("Sr. No.", "serial"),
        ("Rural", None),
        ("Target", None),
        ("Block", None),
        ("Contact person", None),
    ],
)
def test_header_wordings(header: str, key: str | None) -> None:
    assert match_header(header) == key


def test_every_template_header_matches_its_own_column() -> None:
    for column in COLUMNS:
        for text in (column.en, column.hi, column.both, *column.synonyms):
            assert match_header(text) == column.key, text


@pytest.mark.parametrize(
    ("value", "want"),
    [
        (12, 12),
        (12.0, 12),
        (" 42 ", 42),
        ("1,23,456", 123456),
        ("1,000,000", 1000000),
        ("१२३", 123),
        ("1,234,567", "count_above_bound"),
        ("१,२३,४५६", 123456),
        ("12.0", 12),
        ("-", None),
        ("", None),
        (None, None),
        ("NA", None),
        (-3, "negative_value"),
        ("-5", "negative_value"),
        (12.5, "fractional_value"),
        ("7.5", "fractional_value"),
        ("abc", "not_a_number"),
        ("1,2,3", "ambiguous_number"),
        ("#DIV/0!", "not_a_number"),
        (True, "not_a_number"),
        (date(2026, 1, 1), "not_a_number"),
        # grouping: only correct thousands grouping, one separator throughout
        ("1 234", 1234),
        ("1\u00a0234", 1234),
        ("1\u202f234", 1234),
        ("12,34,567", "count_above_bound"),
        ("9,99,999", 999999),
        ("1,234.0", 1234),
        ("12.00", 12),
        ("3 1", "ambiguous_number"),
        ("12 34", "ambiguous_number"),
        ("1.000", "ambiguous_number"),
        ("1,23", "ambiguous_number"),
        ("1,2345", "ambiguous_number"),
        ("1.234.567", "ambiguous_number"),
        ("1,234 567", "ambiguous_number"),
        ("12,345,67", "ambiguous_number"),
        ("1\t234", "not_a_number"),
        # the bound, and numbers no store can hold
        (MAX_COUNT, MAX_COUNT),
        (MAX_COUNT + 1, "count_above_bound"),
        (float(MAX_COUNT + 1), "count_above_bound"),
        (10**19, "count_above_bound"),
        (1e19, "count_above_bound"),
        ("1E+19", "count_above_bound"),
        ("1.5e3", "not_a_number"),
        (float("nan"), "not_a_number"),
        (float("inf"), "not_a_number"),
        (float("-inf"), "not_a_number"),
        (-(10**19), "negative_value"),
        # "nothing" marks: no number (a required figure's problem names them, see placeholder())
        ("N/A", None),
        ("nil", None),
        ("--", None),
        ("शून्य", None),
    ],
)
def test_parse_count(value: Any, want: int | str | None) -> None:
    assert parse_count(value) == want


@pytest.mark.parametrize(
    ("value", "want"),
    [
        ("NA", "NA"),
        (" nil ", "nil"),
        ("-", "-"),
        ("शून्य", "शून्य"),
        ("", None),
        ("0", None),
        (0, None),
        ("Nile", None),
    ],
)
def test_placeholder(value: Any, want: str | None) -> None:
    assert placeholder(value) == want


def test_a_report_row_cannot_hold_a_count_the_store_cannot() -> None:
    row: dict[str, Any] = {
        "lgd_code": 118,
        "sheet": "s",
        "row": 6,
        "rural_target": 1,
        "rural_opened": 1,
        "urban_target": 1,
        "urban_opened": 1,
        "opened_this_week": None,
        "functional": None,
        "transacting": None,
        "b2c_enabled": None,
        "remarks": "",
    }
    assert ReportRow(**row).functional is None
    with pytest.raises(ValueError, match="outside"):
        ReportRow(**{**row, "functional": 10**19})


@pytest.mark.parametrize(
    ("value", "want"),
    [
        ("05/12/2026", date(2026, 12, 5)),
        ("05-12-2026", date(2026, 12, 5)),
        ("05.12.2026", date(2026, 12, 5)),
        ("5 Dec 2026", date(2026, 12, 5)),
        ("5th December, 2026", date(2026, 12, 5)),
        ("05-Dec-26", date(2026, 12, 5)),
        ("2026-12-05", date(2026, 12, 5)),
        (46361, date(2026, 12, 5)),
        ("46361", date(2026, 12, 5)),
        ("०६/१२/२०२६", date(2026, 12, 6)),
        ("६ दिसंबर २०२६", date(2026, 12, 6)),
        ("31/02/2026", None),
        ("last Sunday", None),
        (7, None),
    ],
)
def test_parse_date_day_first(value: Any, want: date | None) -> None:
    assert parse_date(value) == want


def test_figures_order_is_the_contract() -> None:
    assert FIGURES == (
        "rural_target",
        "rural_opened",
        "urban_target",
        "urban_opened",
        "opened_this_week",
        "functional",
        "transacting",
        "b2c_enabled",
    )


# --- the committed fixtures are what the generator makes ------------------------------------------------------


def _members(data: bytes) -> dict[str, bytes] | bytes:
    """A ZIP's members uncompressed (another zlib may deflate differently), other files as they are."""
    if not zipfile.is_zipfile(io.BytesIO(data)):
        return data
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def test_committed_fixtures_match_the_generator() -> None:
    assert sorted(p.name for p in FOLDER.iterdir()) == sorted(mw.FIXTURES)
    stale = []
    for name in mw.FIXTURES:
        made, committed = mw.build(name), (FOLDER / name).read_bytes()
        if name in mw.NOT_BYTE_STABLE:
            if parse_workbook(made, name) != parse_workbook(committed, name):
                stale.append(name)
        elif _members(made) != _members(committed):
            stale.append(name)
    assert not stale, f"run `.venv/bin/python fixtures/make_workbooks.py` to regenerate: {stale}"


def test_generator_writes_every_fixture(tmp_path: Path) -> None:
    written = mw.write_all(tmp_path)
    assert sorted(p.name for p in written) == sorted(mw.FIXTURES)
    assert len(written) >= 20


def test_weeks_agree() -> None:
    assert Week(2026, 49) == mw.WEEK and mw.WEEK.sunday == SUNDAY


def test_damaged_bytes_never_raise() -> None:
    rng = random.Random(20261206)
    seeds = [mw.build("canonical_english.xlsx"), mw.build("legacy.xls"), mw.build("formula_without_cached_value.xlsx")]
    for _ in range(300):
        damaged = bytearray(rng.choice(seeds))
        if rng.random() < 0.5:
            for _ in range(rng.randint(1, 20)):
                damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        else:
            del damaged[rng.randrange(len(damaged)) :]
        result = parse_workbook(bytes(damaged), "damaged.xlsx")
        assert all(p.message and p.message_hi for p in result.problems)


# --- through the pipeline: the store never sees a count it cannot hold ---------------------------------------


@pytest.mark.servers
def test_a_1e19_count_is_answered_and_the_other_rows_stored(smtp_sink: Any, make_config: Any, tmp_path: Path) -> None:
    # Before: 1E+19 passed the reader, overflowed SQLite, and the whole report was lost without a reply.
    import sqlite3

    from mailbot.mailbuilder import build_email
    from mailbot.roster import load_roster
    from mailbot.service import Mailbot

    roster_path = ROOT / "fixtures" / "roster" / "roster.xlsx"
    week = Week(2026, 47)
    cms = load_roster(roster_path).districts_of("CMS Computers", week)[:3]
    book = openpyxl.load_workbook(
        io.BytesIO(report_workbook("CMS Computers", week, cms, {c: mw.figures_for(c) for c in cms}))
    )
    book.active.cell(mw.FIRST_ROW, mw.column("rural_target")).value = 1e19  # C6, a number cell
    raw = build_email(
        sender="CMS Computers <reports@cms.example>",
        subject="JSK report",
        attachments=[("report.xlsx", save_workbook(book, mw.SAVED_AT))],
    )
    (tmp_path / "r.eml").write_bytes(raw)
    config = make_config(roster_path)
    bot = Mailbot(config, clock=lambda: datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    try:
        bot.import_file(tmp_path / "r.eml")
    finally:
        bot.close()
    with sqlite3.connect(config.database) as db:
        stored = sorted(code for (code,) in db.execute("select lgd_code from report_row"))
        [(outcome,)] = db.execute("select outcome from ledger").fetchall()
        [(reply,)] = db.execute("select raw from outbox").fetchall()
    assert stored == sorted(cms[1:]) and outcome == "accepted"
    text = email.message_from_bytes(reply, policy=email.policy.default)
    assert isinstance(text, email.message.EmailMessage)
    body = text.get_body(("plain",))
    assert body is not None
    content = body.get_content()
    assert "C6" in content and "'1E+19' is more than 1,000,000" in content

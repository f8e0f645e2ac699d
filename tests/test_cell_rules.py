"""One reading of a typed date and one guard for written text, wherever mailbot reads or writes a spreadsheet.

The roster used to read dates with its own parser (no month names in Hindi or in full, no serial typed as text),
and the report template used its own formula guard (no control-character stripping, fewer formula leads): the same
value meant different things in different files. These pin the shared behaviour."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pytest
from emails import fixture_generator
from openpyxl import Workbook, load_workbook

from mailbot.roster import load_roster
from mailbot.weeks import Week
from mailbot.workbook.cells import parse_date
from mailbot.workbook.guard import text_cell
from mailbot.workbook.template import report_workbook

make_roster = fixture_generator("make_roster")


# --- dates ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("05/12/2026", date(2026, 12, 5)),
        ("5 Dec 2026", date(2026, 12, 5)),
        ("5 December 2026", date(2026, 12, 5)),  # the roster refused a full month name
        ("5 दिसंबर 2026", date(2026, 12, 5)),  # ... and a Hindi one
        ("१ नवम्बर २०२६", date(2026, 11, 1)),
        ("46000", date(2025, 12, 9)),  # an Excel serial that a CSV export wrote as text
        (46000, date(2025, 12, 9)),
        ("2026-12-05 00:00:00", date(2026, 12, 5)),
    ],
)
def test_a_roster_start_date_reads_as_a_report_date_does(tmp_path: Path, typed: object, expected: date) -> None:
    assert parse_date(typed) == expected
    rows = make_roster.example_roster_rows()
    rows["Assignments"] = [rows["Assignments"][0], ["Srei Sahaj", "Agra", typed, None]]
    folder = tmp_path / "roster"
    make_roster.write_csv_folder(folder, rows)
    (assignment,) = load_roster(folder).assignments_for("Srei Sahaj")
    assert assignment.start == expected


def test_a_roster_date_that_is_no_date_is_still_named(tmp_path: Path) -> None:
    rows = make_roster.example_roster_rows()
    rows["Assignments"] = [rows["Assignments"][0], ["Srei Sahaj", "Agra", "soon", None]]
    folder = tmp_path / "roster"
    make_roster.write_csv_folder(folder, rows)
    with pytest.raises(ValueError, match=r"assignments.csv, row 2: start date 'soon' is not a date"):
        load_roster(folder)


@pytest.mark.parametrize(
    ("serial", "expected"),
    [
        (36525, None),  # 1999-12-31: before any report
        (36526, date(2000, 1, 1)),
        (73050, date(2099, 12, 31)),
        (73051, None),  # 2100-01-01: was read as a date by the report parser, refused by the roster
    ],
)
def test_the_excel_serial_range_is_this_century_only(serial: int, expected: date | None) -> None:
    assert parse_date(serial) == expected
    assert parse_date(str(serial)) == expected


@pytest.mark.parametrize("typed", ["²", "1²", "³/4/2026"])
def test_a_superscript_digit_is_not_a_date_and_no_crash(typed: str) -> None:
    assert parse_date(typed) is None


# --- the formula guard -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored", "quoted"),
    [
        ('=HYPERLINK("http://x")', '=HYPERLINK("http://x")', True),
        ("+91 98765", "+91 98765", True),
        ("@SUM(A1)", "@SUM(A1)", True),
        ("\t=1+1", "\t=1+1", True),  # the template let a tab-led formula through
        ("\x01=1+1", "=1+1", True),  # a control character is dropped, and the '=' behind it still guarded
        ("CMS Computers", "CMS Computers", False),
    ],
)
def test_outside_text_stays_text(typed: str, stored: str, quoted: bool) -> None:
    cell = Workbook().active["A1"]
    text_cell(cell, typed)
    assert (cell.value, cell.data_type, bool(cell.quotePrefix)) == (stored, "s", quoted)


def test_a_template_for_a_dsp_name_with_a_control_character_is_written() -> None:
    """A name pasted into the roster with a stray control character crashed `mailbot template` and every
    rejection that attaches a template (openpyxl refuses the cell)."""
    content = report_workbook("CMS\x07 Computers", Week(2026, 47), [118])
    sheet = load_workbook(io.BytesIO(content)).active
    assert sheet is not None
    assert sheet["B2"].value == "CMS Computers"

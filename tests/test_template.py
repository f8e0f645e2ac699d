"""The canonical report workbook: what a DSP sees when they open it, and that mailbot reads it back exactly."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime

import openpyxl
import pytest

from mailbot.districts import all_districts
from mailbot.weeks import Week
from mailbot.workbook import parse_workbook
from mailbot.workbook.headers import COLUMNS, FIGURE_KEYS, match_header
from mailbot.workbook.template import HEADER_ROW, HeaderLanguage, report_workbook

WEEK = Week(2026, 49)
ALL = [d.lgd_code for d in all_districts()]


def figures_for(code: int) -> dict[str, int | str]:
    target = 300 + code
    return {
        "rural_target": target,
        "rural_opened": target - 7,
        "urban_target": 40,
        "urban_opened": code % 40,
        "opened_this_week": code % 5,
        "functional": target - 20,
        "transacting": target - 30,
        "b2c_enabled": code % 50,
        "remarks": f"note {code}",
    }


def sheet(content: bytes) -> openpyxl.worksheet.worksheet.Worksheet:
    return openpyxl.load_workbook(io.BytesIO(content)).active


@pytest.mark.parametrize("headers", ["en", "hi", "both"])
def test_round_trip_all_75_districts(headers: HeaderLanguage) -> None:
    given = {code: figures_for(code) for code in ALL}
    content = report_workbook("CMS Computers Ltd", WEEK, ALL, given, headers)
    result = parse_workbook(content, "report.xlsx")
    assert result.problems == ()
    assert len(result.rows) == 75
    assert (result.dsp_name, result.week_ending) == ("CMS Computers Ltd", WEEK.sunday)
    for row in result.rows:
        want = given[row.lgd_code]
        assert row.figures() == {key: want[key] for key in FIGURE_KEYS}
        assert row.remarks == want["remarks"]


def test_layout_a_dsp_sees() -> None:
    ws = sheet(report_workbook("UPDESCO", WEEK, [162, 118], headers="both"))
    assert ws["A1"].value.startswith("Weekly Jan Seva Kendra progress report / साप्ताहिक")
    assert (ws["A2"].value, ws["B2"].value) == ("DSP / सेवा प्रदाता:", "UPDESCO")
    assert ws["A3"].value == "Week ending / सप्ताह समाप्ति तिथि:"
    assert ws["B3"].value == datetime(2026, 12, 6)  # noqa: DTZ001 - a real (naive) date: the week's Sunday
    assert ws["B3"].number_format == "DD/MM/YYYY"
    header = [ws.cell(HEADER_ROW, c).value for c in range(1, len(COLUMNS) + 1)]
    assert header[0] == "District / जनपद" and header[2] == "Rural JSK target / ग्रामीण जन सेवा केन्द्र लक्ष्य"
    assert [match_header(h) for h in header] == [c.key for c in COLUMNS]
    # districts in the order given, LGD codes filled, figures left for the DSP
    assert [(ws.cell(r, 1).value, ws.cell(r, 2).value, ws.cell(r, 3).value) for r in (6, 7)] == [
        ("Lucknow", 162, None),
        ("Agra", 118, None),
    ]
    assert ws.freeze_panes == "B6"
    rule = ws.data_validations.dataValidation[0]
    assert (rule.type, rule.operator, rule.formula1) == ("whole", "greaterThanOrEqual", "0")
    assert str(rule.sqref) == "C6:J7"
    assert ws.column_dimensions["A"].width > 10


@pytest.mark.parametrize(("headers", "district"), [("en", "District"), ("hi", "जनपद")])
def test_single_language_headers(headers: HeaderLanguage, district: str) -> None:
    ws = sheet(report_workbook("X", WEEK, [118], headers=headers))
    assert ws.cell(HEADER_ROW, 1).value == district


@pytest.mark.parametrize(
    "text", ['=HYPERLINK("http://evil.example","click")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(1)"]
)
def test_outside_text_never_becomes_a_formula(text: str) -> None:
    content = report_workbook(text, WEEK, [118], {118: {"rural_target": 1, "remarks": text}})
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert b"<f>" not in archive.read("xl/worksheets/sheet1.xml")
    ws = sheet(content)
    for cell in (ws["B2"], ws["K6"]):
        assert (cell.value, cell.data_type) == (text, "s")
        assert cell.quotePrefix  # Excel keeps it text even when the cell is edited
    assert parse_workbook(content, "r.xlsx").dsp_name == text


def test_same_arguments_same_bytes() -> None:
    first = report_workbook("CMS", WEEK, [118, 119], {118: {"rural_target": 5}})
    assert first == report_workbook("CMS", WEEK, [118, 119], {118: {"rural_target": 5}})
    assert first != report_workbook("CMS", WEEK + 1, [118, 119], {118: {"rural_target": 5}})


def test_unknown_lgd_code_is_a_programming_error() -> None:
    with pytest.raises(KeyError):
        report_workbook("CMS", WEEK, [999])


def test_the_labels_wrap_instead_of_being_cut_off_and_targets_are_filled() -> None:
    book = report_workbook("CMS", Week(2026, 47), [118, 119], {118: {"rural_target": 140, "urban_target": 35}})
    ws = openpyxl.load_workbook(io.BytesIO(book)).active
    assert ws is not None
    assert str(ws["A3"].value).startswith("Week ending")
    # The bilingual label is wider than the column: it wraps onto a row tall enough for two lines.
    assert ws["A3"].alignment.wrap_text and (ws.row_dimensions[3].height or 0) >= 30
    parsed = parse_workbook(book, "t.xlsx")
    targets = {r.lgd_code: (r.rural_target, r.urban_target) for r in parsed.rows}
    assert targets == {}  # only targets given: not a report until the opened counts are filled in
    assert [c.value for c in ws[HEADER_ROW + 1]][2:5:2] == [140, 35]

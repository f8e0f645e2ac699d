"""CEG's weekly workbook, read back with openpyxl."""

from __future__ import annotations

import io
from datetime import timedelta

import openpyxl
import pytest
from compliance_quarter import AGRA, CALENDAR, FARRUKHABAD, SHREE, SREI, facts, ist, roster
from openpyxl.chart import LineChart

from mailbot.compliance import WeeklyReport, evaluate
from mailbot.summary import QuarantineItem, build_workbook, quarantine_reason
from mailbot.weeks import Week

W47 = Week(2026, 47)
AS_OF = ist(W47.monday + timedelta(days=8), 10)  # Tuesday after W47, summary time

QUARANTINE = [
    QuarantineItem("=cmd|' /C calc'!A0", '=HYPERLINK("http://evil.example","click")', AS_OF, "unknown sender =cmd"),
    QuarantineItem("stranger@example.com", "+91 weekly report", None, "unknown sender stranger@example.com"),
    QuarantineItem("mailer-daemon@nic.in", "@SUM(1+1)\x07 bell", AS_OF, "automated: bounce"),
    QuarantineItem("x@evil.example", '\x01=HYPERLINK("http://evil.example")', AS_OF, "unknown sender x@evil.example"),
]


@pytest.fixture(scope="module")
def report() -> WeeklyReport:
    return evaluate(roster(), facts(), CALENDAR, AS_OF, W47)


@pytest.fixture(scope="module")
def book(report: WeeklyReport) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(build_workbook(report, QUARANTINE, CALENDAR.lag_threshold)))


def test_sheets(book: openpyxl.Workbook) -> None:
    assert book.sheetnames == ["Status", "Progress", "History", "Rates", "Quarantine"]
    for ws in book.worksheets:
        assert ws.freeze_panes is not None
        assert ws.cell(row=2, column=1).font.bold


def test_status_sheet_agrees_with_the_report(book: openpyxl.Workbook, report: WeeklyReport) -> None:
    ws = book["Status"]
    assert [c.value for c in ws[2]][:7] == ["District", "जनपद", "Division", "LGD code", "DSP", "Status", "स्थिति"]
    rows = {(r[3], r[4]): r for r in ws.iter_rows(min_row=3, values_only=True)}
    assert len(rows) == len(report.cells) == 76
    agra_shree = rows[(AGRA, SHREE)]
    assert agra_shree[:7] == ("Agra", "आगरा", "Agra", AGRA, SHREE, "Missing", "अप्राप्त")
    assert agra_shree[9] == 4  # W44..W47 in a row
    farrukhabad = rows[(FARRUKHABAD, SREI)]
    assert farrukhabad[5] == "Missing"
    on_time = rows[(142, SREI)]  # Fatehpur, Saturday 10:00
    assert on_time[5] == "On time"
    assert on_time[7] == ist(W47.monday + timedelta(days=5), 10).replace(tzinfo=None)
    colours = {ws.cell(row=r, column=6).value: ws.cell(row=r, column=6).fill.fgColor.rgb for r in range(3, 79)}
    assert colours["Missing"].endswith("FFC7CE")
    assert colours["On time"].endswith("C6EFCE")


def test_progress_sheet(book: openpyxl.Workbook, report: WeeklyReport) -> None:
    ws = book["Progress"]
    header = [c.value for c in ws[2]]
    rows = {r[3]: dict(zip(header, r, strict=True)) for r in ws.iter_rows(min_row=3, values_only=True)}
    assert len(rows) == 75
    agra = rows[AGRA]
    # W47 is week 7 of the quarter: 77 rural + 10 urban of 120; B2C 10 of 50 functional.
    assert (agra["Opened"], agra["Target"], agra["Gap"], agra["Increase this week"]) == (87, 120, 33, 1)
    assert agra["Achievement"] == pytest.approx(87 / 120)
    assert agra["B2C uptake"] == pytest.approx(0.2)
    assert agra["Lagging"] is None  # not lagging: blank
    assert agra["Not reported by"] == SHREE
    assert agra["Figures from week"] is None  # this week's own figures
    assert rows[119]["Lagging"] == "No increase for 3 weeks"  # Aligarh
    assert rows[121]["Lagging"] == "Below 50% of target"  # Ambedkar Nagar: the configured threshold, in words
    assert ws.cell(row=3, column=14).number_format == "0.0%"
    # Farrukhabad: its only DSP never reported. Blanks, not zeros that read like "nothing opened".
    farrukhabad = rows[FARRUKHABAD]
    assert farrukhabad["Lagging"] == "no report"
    assert (farrukhabad["Target"], farrukhabad["Opened"], farrukhabad["Gap"], farrukhabad["Achievement"]) == (None,) * 4
    assert ws["A1"].value == "JSK progress against target, week 16–22 Nov 2026 (2026-W47)"


def test_lagging_names_the_configured_threshold(report: WeeklyReport) -> None:
    book = openpyxl.load_workbook(io.BytesIO(build_workbook(report, (), lag_threshold=0.4)))
    lagging = {r[3]: r[20] for r in book["Progress"].iter_rows(min_row=3, values_only=True)}
    assert lagging[121] == "Below 40% of target"


def test_titles_give_dates_not_iso_codes(book: openpyxl.Workbook) -> None:
    assert book["Status"]["A1"].value == (
        "JSK weekly report status, week 16–22 Nov 2026 (2026-W47), deadline Mon 23 Nov 2026, 12:00 IST"
    )
    assert book["History"]["A1"].value == (
        "Weekly report status, 28 Sep 2026 to 22 Nov 2026 (2026-W40 to 2026-W47)"
    )


def test_quarantine_reasons_in_words_ceg_reads(book: openpyxl.Workbook) -> None:
    reasons = [r[3] for r in book["Quarantine"].iter_rows(min_row=3, values_only=True)]
    assert reasons[:2] == ["Address not in roster", "Address not in roster"]
    assert quarantine_reason("automated message: Auto-Submitted: auto-replied") == "Automatic reply (out of office)"
    assert quarantine_reason("unknown sender x@y.example") == "Address not in roster"
    assert quarantine_reason("automated message: empty Return-Path (a bounce)") == "Delivery failure notice (bounce)"
    assert quarantine_reason("too large: 30.0 MB (limit 25.0 MB); left unread") == (
        "Too large to open: 30.0 MB (limit 25.0 MB)"
    )


def test_history_sheet_has_conditional_formatting(book: openpyxl.Workbook, report: WeeklyReport) -> None:
    ws = book["History"]
    assert [c.value for c in ws[2]][3:] == [str(w) for w in report.weeks]
    # history_weeks is 12, but nothing was owed before the first assignments (W40).
    assert report.weeks == tuple(Week(2026, n) for n in range(40, 48))
    rules = [rule for cf in ws.conditional_formatting for rule in cf.rules]
    assert {rule.formula[0] for rule in rules} == {'"On time"', '"Late"', '"Missing"', '"Invalid"', '"Pending"'}
    rows = {(r[0], r[1]): r[3:] for r in ws.iter_rows(min_row=3, values_only=True)}
    # Shreetron owes Agra from W44: 4 blank weeks, then 4 missing.
    assert rows[(SHREE, "Agra")] == (None,) * 4 + ("Missing",) * 4
    assert rows[(SREI, "Farrukhabad")] == ("Missing",) * 8
    assert rows[("CMS Computers", "Agra")][2] == "Late"  # W42


def test_rates_sheet_and_chart(book: openpyxl.Workbook, report: WeeklyReport) -> None:
    ws = book["Rates"]
    weekly = list(ws.iter_rows(min_row=3, max_row=2 + len(report.weeks), values_only=True))
    last = weekly[-1]
    assert last[:7] == ("2026-W47", 76, 74, 0, 2, 0, 0)
    assert last[7] == pytest.approx(74 / 76)
    charts = ws._charts
    assert len(charts) == 1
    assert isinstance(charts[0], LineChart)
    values = [c.value for c in ws["A"]]
    assert "Per DSP, week 16–22 Nov 2026 (2026-W47)" in values
    assert "Per division, week 16–22 Nov 2026 (2026-W47)" in values


def test_outside_text_never_becomes_a_formula(book: openpyxl.Workbook) -> None:
    ws = book["Quarantine"]
    rows = list(ws.iter_rows(min_row=3))
    assert rows[0][0].value == "=cmd|' /C calc'!A0"
    assert rows[0][0].data_type == "s"
    assert rows[0][1].value == '=HYPERLINK("http://evil.example","click")'
    assert rows[0][1].data_type == "s"
    assert rows[0][1].quotePrefix
    assert rows[1][1].value == "+91 weekly report"
    assert rows[2][1].value == "@SUM(1+1) bell"  # the control character is dropped: .xlsx cannot hold it
    assert rows[2][1].data_type == "s"
    # A control character in front hides nothing: once it is stripped, the "=" leads and is quoted too.
    assert rows[3][1].value == '=HYPERLINK("http://evil.example")' and rows[3][1].quotePrefix
    assert rows[1][2].value is None


def test_progress_sheet_says_when_figures_are_an_earlier_report() -> None:
    # CMS stops reporting Agra after W45: its W45 figures stand in for W46-W47, labelled with their week.
    stopped = [f for f in facts() if not (f.dsp == "CMS Computers" and f.lgd_code == AGRA and f.week > Week(2026, 45))]
    ws = openpyxl.load_workbook(io.BytesIO(build_workbook(evaluate(roster(), stopped, CALENDAR, AS_OF, W47), (),
                                                          CALENDAR.lag_threshold)))["Progress"]
    header = [c.value for c in ws[2]]
    rows = {r[3]: dict(zip(header, r, strict=True)) for r in ws.iter_rows(min_row=3, values_only=True)}
    assert rows[AGRA]["Figures from week"] == "2026-W45"
    assert rows[AGRA]["Increase this week"] is None

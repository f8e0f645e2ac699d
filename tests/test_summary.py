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
    assert book.sheetnames == ["Map", "Status", "Progress", "History", "Rates", "Quarantine"]
    for ws in book.worksheets[1:]:
        assert ws.freeze_panes is not None
        assert ws.cell(row=2, column=1).font.bold


def test_every_sheet_prints_fitted_to_the_page_width_with_its_headers_on_each_page(book: openpyxl.Workbook) -> None:
    for ws in book.worksheets:
        setup = ws.page_setup
        assert ws.sheet_properties.pageSetUpPr.fitToPage, ws.title
        assert (setup.fitToWidth, int(setup.paperSize)) == (1, 9), ws.title  # 9: A4
        assert setup.orientation == ("portrait" if ws.title == "Map" else "landscape"), ws.title
        assert ws.print_title_rows, ws.title
    for name in ("Status", "Progress", "History", "Quarantine"):
        assert book[name].print_title_rows == "$1:$2"  # the title and the column headers
    # The headers wrap in a row tall enough for them: "Weeks without increase" needs three lines of 10.
    progress = book["Progress"]
    assert progress.row_dimensions[2].height >= 45
    assert all(progress.cell(row=2, column=c).alignment.wrap_text for c in range(1, progress.max_column + 1))


def test_map_sheet_has_the_legend_and_the_map(book: openpyxl.Workbook, report: WeeklyReport) -> None:
    ws = book["Map"]
    legend = {r[1]: (r[0], r[2]) for r in ws.iter_rows(min_row=5, max_row=9, values_only=True)}
    # 75 districts; Agra and Farrukhabad have a DSP that sent nothing: the district shows missing.
    assert legend == {
        "On time": (73, "समय पर"),
        "Late": (0, "विलम्ब से"),
        "Missing": (2, "अप्राप्त"),
        "Invalid": (0, "अमान्य"),
        "Pending": (0, "प्रतीक्षित"),
    }
    assert ws["A2"].value == "Reported: 74 of 76; on time: 74. Status as of Tue 24 Nov 2026, 10:00 IST."
    images = ws._images
    assert len(images) == 1
    data = images[0]._data()
    assert data.startswith(b"\x89PNG") and len(data) < 60_000


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
    # Every district's figures are this week's: no column that would be empty on every row.
    assert not any(h and h.startswith("Figures from") for h in header)
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
    assert book["History"]["A1"].value == ("Weekly report status, 28 Sep 2026 to 22 Nov 2026 (2026-W40 to 2026-W47)")


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
    assert len(charts) == 2 and all(isinstance(c, LineChart) for c in charts)
    statewide, by_dsp = charts
    assert len(statewide.series) == 2  # reporting and on-time rate
    # One line per DSP, from its own column of weekly rates.
    assert len(by_dsp.series) == len(report.week_rates.by_dsp) == 4
    for chart in charts:  # markers: in the first week a line is one point, which only a marker shows
        assert all(s.marker is not None and s.marker.symbol not in (None, "none") for s in chart.series)
    # Both charts sit side by side above a page break, so printing never cuts one in two.
    rows = {c.anchor._from.row for c in charts}
    assert len(rows) == 1
    assert [b.id for b in ws.row_breaks.brk] and ws.row_breaks.brk[0].id > rows.pop() + 15
    values = [c.value for c in ws["A"]]
    assert "Reporting rate per DSP, by week" in values
    top = values.index("Reporting rate per DSP, by week") + 1
    header = [c.value for c in ws[top + 1]]
    assert header[:2] == ["Week", "CMS Computers"]
    shree = header.index(SHREE)
    per_week = {r[0]: r for r in ws.iter_rows(min_row=top + 2, max_row=top + 1 + len(report.weeks), values_only=True)}
    assert per_week["2026-W47"][shree] == 0  # Shreetron sent nothing for Agra
    assert per_week["2026-W40"][shree] is None  # ... and owed nothing before W44
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
    ws = openpyxl.load_workbook(
        io.BytesIO(build_workbook(evaluate(roster(), stopped, CALENDAR, AS_OF, W47), (), CALENDAR.lag_threshold))
    )["Progress"]
    header = [c.value for c in ws[2]]
    rows = {r[3]: dict(zip(header, r, strict=True)) for r in ws.iter_rows(min_row=3, values_only=True)}
    assert rows[AGRA]["Figures from week (last report)"] == "2–8 Nov 2026"
    assert rows[AGRA]["Increase this week"] is None


def test_the_map_draws_every_district_and_ships_its_licence() -> None:
    from importlib import resources

    from PIL import Image

    from mailbot.districts import all_districts
    from mailbot.statemap import MAP_COLOURS, district_codes, district_statuses, map_size, status_map

    assert district_codes() == {d.lgd_code for d in all_districts()}  # the boundaries match the district list
    assert district_statuses([(AGRA, "on_time"), (AGRA, "missing"), (119, "late"), (119, "pending")]) == {
        AGRA: "missing",
        119: "late",
    }  # a district shows its most urgent status
    png = status_map(dict.fromkeys(district_codes(), "late"))
    assert len(png) < 60_000
    with Image.open(io.BytesIO(png)) as img:
        assert img.size == map_size() == (640, 623)
        colours = {img.convert("RGB").getpixel((x, y)) for x in range(0, 640, 7) for y in range(0, 623, 7)}
    amber = tuple(int(MAP_COLOURS["late"][i : i + 2], 16) for i in (1, 3, 5))
    green = tuple(int(MAP_COLOURS["on_time"][i : i + 2], 16) for i in (1, 3, 5))
    assert amber in colours and green not in colours
    notice = resources.files("mailbot").joinpath("data/up_districts.geojson.LICENSE").read_text(encoding="utf-8")
    assert "MIT License" in notice and "Copyright (c) 2017 Hindustan Times" in notice

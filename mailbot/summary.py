"""CEG's weekly summary workbook: data in, .xlsx bytes out (openpyxl).

Sheets: Map (the week's figures and the districts coloured by status), Status (every expected district x DSP
pair of the week), Progress (per district, against target), History (pairs x weeks, coloured by conditional
formatting so a re-sorted sheet keeps its colours), Rates (statewide and per DSP per week, each with a native
line chart, then per DSP and per division for the week), Quarantine (mail nobody answered).

Every sheet prints landscape, fitted to the page width, with its title and header rows on each page.

Text that came from outside (subjects, addresses, reasons) is stored as a string with Excel's quote prefix, so
a subject like ``=HYPERLINK(...)`` is shown, never evaluated.
"""

from __future__ import annotations

import io
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from openpyxl import Workbook
from openpyxl.chart import LineChart, Reference
from openpyxl.drawing.image import Image as SheetImage
from openpyxl.formatting.rule import CellIsRule
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.pagebreak import Break
from openpyxl.worksheet.worksheet import Worksheet

from mailbot.compliance import Rate, WeeklyReport
from mailbot.districts import by_code
from mailbot.outcomes import ReasonCode, earlier_reason_code
from mailbot.progress import Progress
from mailbot.statemap import MAP_COLOURS, district_statuses, status_map
from mailbot.wording import day_text, week_dates, when_text
from mailbot.workbook.guard import text_cell

STATUS_COLOURS = {
    "on_time": "#c6efce",  # green
    "late": "#ffeb9c",  # amber
    "missing": "#ffc7ce",  # red
    "invalid": "#e4dfec",  # purple
    "pending": "#d9d9d9",  # grey
}
STATUS_LABELS = {
    "on_time": ("On time", "समय पर"),
    "late": ("Late", "विलम्ब से"),
    "missing": ("Missing", "अप्राप्त"),
    "invalid": ("Invalid", "अमान्य"),
    "pending": ("Pending", "प्रतीक्षित"),
}
_HEADER_FILL = PatternFill("solid", fgColor="1F4E78")
_HEADER_FONT = Font(bold=True, color="FFFFFF")
_PERCENT = "0.0%"
_WHEN = "yyyy-mm-dd hh:mm"
RATES_WIDTHS = (26, 9, 9, 9, 9, 9, 9, 12, 12, 12, 12, 12)
CHART_ROWS = 17  # rows of the default height an 8 cm chart covers, and a little space


@dataclass(frozen=True)
class QuarantineItem:
    """A message nobody answered: unknown sender, automated mail, poison message."""

    sender: str
    subject: str
    received: datetime | None  # aware
    reason: str  # the ledger's, for people
    code: ReasonCode | None = None  # the ledger's reason code (None: read ``reason``, as stored before codes)


@dataclass(frozen=True)
class DistrictReply:
    """A reply from a district office (a roster DEGS address), kept for CEG: mailbot never answers it."""

    lgd_codes: tuple[int, ...]  # the districts whose office uses the sender address
    sender: str
    subject: str
    received: datetime | None  # aware
    answers: str  # the escalation or alert of ours it answers ('' when it named none we sent)


# Why a message went unanswered, in words CEG reads, by the ledger's reason code.
_QUARANTINE_WORDS: dict[ReasonCode, str] = {
    ReasonCode.AUTO_REPLY: "Automatic reply (out of office)",
    ReasonCode.MAILING_LIST: "Mailing list or newsletter",
    ReasonCode.BULK_MAIL: "Bulk or mailing-list mail",
    ReasonCode.BOUNCE: "Delivery failure notice (bounce)",
    ReasonCode.DELIVERY_REPORT: "Delivery or read receipt",
    ReasonCode.AUTOMATED: "Automatic message (not answered)",
    ReasonCode.UNKNOWN_SENDER: "Address not in roster",
    ReasonCode.NO_SENDER: "No sender address",
    ReasonCode.NOT_AN_EMAIL: "Not a readable email",
    ReasonCode.FAILED_REPEATEDLY: "Could not be processed (see the mailbot log)",
}


def quarantine_reason(reason: str, code: ReasonCode | None = None) -> str:
    """Why a message went unanswered, in words CEG reads (``unknown_sender`` -> ``Address not in roster``), from
    its reason code; without one (a row stored before codes), the code its reason text means. Other codes show the
    ledger's reason itself, capitalised; a message too large shows its sizes."""
    code = code if code is not None else earlier_reason_code(reason)
    if code is not None and code in _QUARANTINE_WORDS:
        return _QUARANTINE_WORDS[code]
    if code == ReasonCode.TOO_LARGE:
        return "Too large to open: " + reason.removeprefix("too large: ").replace("; left unread", "")
    return reason[:1].upper() + reason[1:]


def _fill(status: str) -> PatternFill:
    colour = STATUS_COLOURS[status].lstrip("#").upper()
    return PatternFill("solid", fgColor=colour, bgColor=colour)


def _put(ws: Worksheet, row: int, col: int, value: Any, number_format: str | None = None) -> None:
    cell = ws.cell(row=row, column=col)
    if isinstance(value, str):
        text_cell(cell, value)
    else:
        cell.value = value
    if number_format:
        cell.number_format = number_format


def _table(
    ws: Worksheet,
    top: int,
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    formats: dict[int, str] | None = None,
) -> int:
    """Headers at row ``top``, rows below; returns the last row written."""
    for col, header in enumerate(headers, start=1):
        _put(ws, top, col, header)
        cell = ws.cell(row=top, column=col)
        cell.fill = _HEADER_FILL
        cell.font = _HEADER_FONT
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for r, values in enumerate(rows, start=top + 1):
        for col, value in enumerate(values, start=1):
            _put(ws, r, col, value, (formats or {}).get(col))
    return top + len(rows)


def _header_height(ws: Worksheet, row: int, headers: Sequence[str], widths: Sequence[float]) -> None:
    """Tall enough for the longest wrapped header: Excel does not grow a row for wrapped text by itself."""
    lines = max((math.ceil(len(h) / max(w - 2, 1)) for h, w in zip(headers, widths, strict=False)), default=1)
    ws.row_dimensions[row].height = 15 * max(lines, 1) + 2


def _wrap_rows(ws: Worksheet, top: int, count: int, columns: Sequence[int], widths: Sequence[float]) -> None:
    """Wrap the text of ``columns`` and make each row tall enough for it (neither Excel nor LibreOffice grows a
    row written with a wrapped cell by itself)."""
    for r in range(top, top + count):
        lines = 1
        for col in columns:
            cell = ws.cell(row=r, column=col)
            cell.alignment = Alignment(wrap_text=True, vertical="top")
            lines = max(lines, math.ceil(len(str(cell.value or "")) / max(widths[col - 1] - 2, 1)))
        if lines > 1:
            ws.row_dimensions[r].height = 15 * lines
            for cell in ws[r]:  # the row's figures line up with the first line of the wrapped text
                cell.alignment = Alignment(wrap_text=cell.alignment.wrap_text, vertical="top")


def _print_setup(ws: Worksheet, title_rows: str = "1:2") -> None:
    """Landscape A4, as wide as the page, as many pages down as it takes, the title and headers on every page."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = title_rows
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.page_margins.top = ws.page_margins.bottom = 0.5
    ws.oddFooter.center.text = "&A, page &P of &N"


def _title(ws: Worksheet, text: str) -> None:
    _put(ws, 1, 1, text)
    ws.cell(row=1, column=1).font = Font(bold=True, size=13)


def _widths(ws: Worksheet, widths: Sequence[float]) -> None:
    for col, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(col)].width = width


def _local(moment: datetime | None, tz: tzinfo | None) -> datetime | None:
    """Excel has no time zones: show the calendar's local time."""
    return None if moment is None else moment.astimezone(tz).replace(tzinfo=None)


def _district(lgd_code: int) -> list[Any]:
    d = by_code(lgd_code)
    return [d.name_en, d.name_hi, d.division, lgd_code]


def _week_title(report: WeeklyReport) -> str:
    """``week 16–22 Nov 2026 (2026-W47)``."""
    return f"week {week_dates(report.week)} ({report.week})"


def _status_sheet(ws: Worksheet, report: WeeklyReport) -> None:
    tz = report.deadline.tzinfo
    _title(ws, f"JSK weekly report status, {_week_title(report)}, deadline {when_text(report.deadline, short=True)}")
    headers = [
        "District",
        "जनपद",
        "Division",
        "LGD code",
        "DSP",
        "Status",
        "स्थिति",
        "First valid receipt",
        "Rejected rows",
        "Weeks missing in a row",
    ]
    cells = sorted(report.cells, key=lambda c: (by_code(c.lgd_code).name_en, c.dsp))
    rows = [
        [
            *_district(c.lgd_code),
            c.dsp,
            *STATUS_LABELS[c.status],
            _local(c.received_at, tz),
            c.rejected,
            report.missing_streaks.get((c.dsp, c.lgd_code), 0),
        ]
        for c in cells
    ]
    last = _table(ws, 2, headers, rows, {8: _WHEN})
    for r, c in enumerate(cells, start=3):
        for col in (6, 7):
            ws.cell(row=r, column=col).fill = _fill(c.status)
    ws.freeze_panes = "B3"
    ws.auto_filter.ref = f"A2:J{max(last, 2)}"
    widths = [20, 18, 13, 8, 18, 10, 11, 17, 10, 10]
    _widths(ws, widths)
    _header_height(ws, 2, headers, widths)
    _print_setup(ws)


def _lag_text(p: Progress, lag_threshold: float) -> str:
    """Why a district lags, in words: ``Below 50% of target; No increase for 3 weeks``, or ``no report``."""
    if not p.has_figures:
        return "no report"
    words = []
    if "below_threshold" in p.lag_reasons:
        words.append(f"Below {lag_threshold:.0%} of target")
    if "no_progress" in p.lag_reasons:
        words.append(f"No increase for {p.stalled_weeks} weeks")
    return "; ".join(words)


def _progress_row(p: Progress, lag_threshold: float, carried_column: bool) -> list[Any]:
    figures: list[Any] = [
        p.rural_target,
        p.rural_opened,
        p.rural_achievement,
        p.urban_target,
        p.urban_opened,
        p.urban_achievement,
        p.target,
        p.opened,
        p.achievement,
        p.increase,
        p.gap,
        p.functional,
        p.b2c_enabled,
        p.b2c_uptake,
        p.stalled_weeks,
    ]
    if not p.has_figures:  # nobody reported: blanks, not zeros that read like a report of nothing opened
        figures = [None] * len(figures)
    # A DSP's last figures stand in for the weeks it skipped: say from when, so nobody reads them as this week's.
    carried = [week_dates(p.figures_week) if p.carried_forward and p.figures_week else None] if carried_column else []
    return [
        *_district(p.lgd_code),
        ", ".join(p.dsps),
        *figures,
        _lag_text(p, lag_threshold),
        ", ".join(p.unreported),
        *carried,
    ]


def _progress_sheet(ws: Worksheet, report: WeeklyReport, lag_threshold: float) -> None:
    _title(ws, f"JSK progress against target, {_week_title(report)}")
    headers = [
        "District",
        "जनपद",
        "Division",
        "LGD code",
        "DSPs",
        "Rural target",
        "Rural opened",
        "Rural %",
        "Urban target",
        "Urban opened",
        "Urban %",
        "Target",
        "Opened",
        "Achievement",
        "Increase this week",
        "Gap",
        "Functional",
        "B2C enabled",
        "B2C uptake",
        "Weeks without increase",
        "Lagging",
        "Not reported by",
    ]
    progress = sorted(report.progress, key=lambda p: by_code(p.lgd_code).name_en)
    # Only when a DSP skipped a week are a district's figures older than the week: otherwise the column would be
    # empty on every row (it always was in a DSP's first weeks), so it is there only when it says something.
    carried_column = any(p.carried_forward for p in progress)
    if carried_column:
        headers.append("Figures from week (last report)")
    rows = [_progress_row(p, lag_threshold, carried_column) for p in progress]
    _table(ws, 2, headers, rows, {8: _PERCENT, 11: _PERCENT, 14: _PERCENT, 19: _PERCENT})
    lag_fill = _fill("missing")
    for r, p in enumerate(progress, start=3):
        if p.lagging:
            ws.cell(row=r, column=21).fill = lag_fill

    ws.freeze_panes = "B3"
    widths = [18, 16, 11, 7, 18, *([10] * 8), 12, 10, 10, 11, 10, 10, 10, 24, 16, 16]
    _widths(ws, widths)
    _header_height(ws, 2, headers, widths)
    _wrap_rows(ws, 3, len(rows), (5, 21, 22), widths)  # DSP lists and reasons wrap rather than hide
    _print_setup(ws)


def _history_sheet(ws: Worksheet, report: WeeklyReport) -> None:
    oldest, newest = report.weeks[0], report.weeks[-1]
    _title(ws, f"Weekly report status, {day_text(oldest.monday)} to {day_text(newest.sunday)} ({oldest} to {newest})")
    headers = ["DSP", "District", "जनपद", *(str(w) for w in report.weeks)]
    pairs = sorted(report.history, key=lambda p: (p[0], by_code(p[1]).name_en))
    rows = [
        [
            dsp,
            by_code(lgd).name_en,
            by_code(lgd).name_hi,
            *(STATUS_LABELS[s][0] if s else "" for s in report.history[(dsp, lgd)]),
        ]
        for dsp, lgd in pairs
    ]
    last = _table(ws, 2, headers, rows)
    if rows:
        area = f"D3:{get_column_letter(3 + len(report.weeks))}{last}"
        for status, (label, _) in STATUS_LABELS.items():
            fill = _fill(status)
            ws.conditional_formatting.add(area, CellIsRule(operator="equal", formula=[f'"{label}"'], fill=fill))
    ws.freeze_panes = "D3"
    widths = [18, 20, 18, *([9] * len(report.weeks))]
    _widths(ws, widths)
    _print_setup(ws)


def _rate_row(name: str, rate: Rate) -> list[Any]:
    return [
        name,
        rate.expected,
        rate.on_time,
        rate.late,
        rate.missing,
        rate.invalid,
        rate.pending,
        rate.reporting_rate,
        rate.on_time_rate,
    ]


def _line_chart(title: str, y_title: str) -> LineChart:
    chart = LineChart()
    chart.title = title
    chart.y_axis.title = y_title
    chart.y_axis.number_format = "0%"
    chart.y_axis.scaling.min = 0
    chart.y_axis.scaling.max = 1
    chart.x_axis.title = "Week"
    chart.x_axis.delete = False  # newer Excel hides axes unless told
    chart.y_axis.delete = False
    chart.height, chart.width = 8, 13.5  # two side by side fill a landscape page
    return chart


def _markers(chart: LineChart) -> None:
    """A marker on every point: in the first week the line is one point, which a plain line does not show."""
    symbols = ("circle", "square", "triangle", "diamond", "x", "star", "plus")
    for i, series in enumerate(chart.series):
        series.marker.symbol = symbols[i % len(symbols)]
        series.marker.size = 7
        series.smooth = False


def _rates_sheet(ws: Worksheet, report: WeeklyReport) -> None:
    _title(ws, "Reporting rates (DHIS2: reporting = reported / expected; on time = by the deadline / expected)")
    headers = [
        "Week",
        "Expected",
        "On time",
        "Late",
        "Missing",
        "Invalid",
        "Pending",
        "Reporting rate",
        "On-time rate",
    ]
    formats = {8: _PERCENT, 9: _PERCENT}
    rows = [_rate_row(str(w.week), w.statewide) for w in report.rates]
    last = _table(ws, 2, headers, rows, formats)
    statewide = _line_chart("Statewide rates", "Reports / expected")
    statewide.add_data(Reference(ws, min_col=8, max_col=9, min_row=2, max_row=last), titles_from_data=True)
    statewide.set_categories(Reference(ws, min_col=1, min_row=3, max_row=last))
    _markers(statewide)
    # The charts side by side under the weekly table, then a page break: fitting the sheet to the page width
    # keeps them whole, and a page break never cuts one in two. Page 2 per DSP, page 3 per division.
    ws.add_chart(statewide, f"A{last + 2}")
    charts_end = last + 2 + CHART_ROWS
    ws.row_breaks.append(Break(id=charts_end))

    # Per DSP, week by week: one column per DSP, so the chart gets one line per DSP.
    top = charts_end + 1
    _put(ws, top, 1, "Reporting rate per DSP, by week")
    ws.cell(row=top, column=1).font = Font(bold=True)
    dsps = sorted({name for w in report.rates for name in w.by_dsp})
    per_dsp = [
        [str(w.week), *(w.by_dsp[name].reporting_rate if name in w.by_dsp else None for name in dsps)]
        for w in report.rates
    ]
    last = _table(ws, top + 1, ["Week", *dsps], per_dsp, dict.fromkeys(range(2, len(dsps) + 2), _PERCENT))
    _header_height(ws, top + 1, ["Week", *dsps], RATES_WIDTHS)  # DSP names wrap in the narrow columns
    by_dsp = _line_chart("Reporting rate per DSP", "Reported / expected")
    if dsps:
        by_dsp.add_data(
            Reference(ws, min_col=2, max_col=1 + len(dsps), min_row=top + 1, max_row=last), titles_from_data=True
        )
        by_dsp.set_categories(Reference(ws, min_col=1, min_row=top + 2, max_row=last))
        _markers(by_dsp)
    ws.add_chart(by_dsp, f"F{top - CHART_ROWS - 1}")

    top = last + 2
    _put(ws, top, 1, f"Per DSP, {_week_title(report)}")
    ws.cell(row=top, column=1).font = Font(bold=True)
    dsp_rows = [_rate_row(name, r) for name, r in report.week_rates.by_dsp.items()]
    last = _table(ws, top + 1, ["DSP", *headers[1:]], dsp_rows, formats)
    ws.row_breaks.append(Break(id=last + 1))  # the divisions on a page of their own, with their title
    top = last + 2
    _put(ws, top, 1, f"Per division, {_week_title(report)}")
    ws.cell(row=top, column=1).font = Font(bold=True)
    division_rows = [_rate_row(name, r) for name, r in report.week_rates.by_division.items()]
    last = _table(ws, top + 1, ["Division", *headers[1:]], division_rows, formats)
    ws.freeze_panes = "B3"
    _widths(ws, RATES_WIDTHS)
    _header_height(ws, 2, headers, RATES_WIDTHS)
    _print_setup(ws, "1:1")


def _map_sheet(ws: Worksheet, report: WeeklyReport) -> None:
    """The first sheet: the week's figures, a legend with counts, and the districts coloured by status."""
    _title(ws, f"JSK weekly reports, {_week_title(report)}: the districts by status")
    rate = report.week_rates.statewide
    _put(
        ws,
        2,
        1,
        f"Reported: {rate.reported} of {rate.expected}; on time: {rate.on_time}. "
        f"Status as of {when_text(report.as_of.astimezone(report.deadline.tzinfo), short=True)}.",
    )
    statuses = district_statuses((c.lgd_code, c.status) for c in report.cells)
    counts = Counter(statuses.values())
    _table(ws, 4, ["Districts", "Status", "स्थिति"], [[counts.get(s, 0), *STATUS_LABELS[s]] for s in MAP_COLOURS], {})
    for r, status in enumerate(MAP_COLOURS, start=5):
        colour = MAP_COLOURS[status].lstrip("#").upper()
        ws.cell(row=r, column=1).fill = PatternFill("solid", fgColor=colour, bgColor=colour)
        ws.cell(row=r, column=1).font = Font(bold=True, color="FFFFFF")
        ws.cell(row=r, column=1).alignment = Alignment(horizontal="center")
    _put(ws, 11, 1, "Late: striped; missing: diagonal stripes; invalid: cross-hatched.")
    _put(ws, 12, 1, "A district with several DSPs shows the worst of their statuses.")
    image = SheetImage(io.BytesIO(status_map(statuses)))
    ws.add_image(image, "A14")
    _widths(ws, [12, 14, 14])
    _print_setup(ws, "1:1")
    ws.page_setup.orientation = "portrait"  # the map is about square: it reads best upright


def _quarantine_sheet(ws: Worksheet, report: WeeklyReport, items: Sequence[QuarantineItem]) -> None:
    _title(ws, "Unknown senders and quarantined messages (not answered; check and forward by hand if genuine)")
    tz = report.deadline.tzinfo
    rows = [[i.sender, i.subject, _local(i.received, tz), quarantine_reason(i.reason, i.code)] for i in items]
    _table(ws, 2, ["Sender", "Subject", "Received", "Reason"], rows, {3: _WHEN})
    ws.freeze_panes = "A3"
    widths = [34, 50, 17, 40]
    _widths(ws, widths)
    _wrap_rows(ws, 3, len(rows), (1, 2, 4), widths)
    _print_setup(ws)


def _district_replies_sheet(ws: Worksheet, report: WeeklyReport, items: Sequence[DistrictReply]) -> None:
    _title(ws, "Replies from district offices (DEGS): read them; mailbot does not answer")
    tz = report.deadline.tzinfo
    rows = [
        [
            ", ".join(by_code(c).name_en for c in i.lgd_codes),
            i.sender,
            i.subject,
            _local(i.received, tz),
            i.answers or "(no earlier email of ours named)",
        ]
        for i in items
    ]
    _table(ws, 2, ["District", "Sender", "Subject", "Received", "Answers"], rows, {4: _WHEN})
    ws.freeze_panes = "A3"
    widths = [18, 30, 40, 17, 44]
    _widths(ws, widths)
    _wrap_rows(ws, 3, len(rows), (1, 2, 3, 5), widths)
    _print_setup(ws)


def build_workbook(
    report: WeeklyReport,
    quarantine: Sequence[QuarantineItem],
    lag_threshold: float,
    district_replies: Sequence[DistrictReply] = (),
) -> bytes:
    """CEG's workbook for ``report.week``; ``quarantine`` lists the week's unanswered messages;
    ``lag_threshold`` (``calendar.lag_threshold``) names the threshold in the Lagging column."""
    wb = Workbook()
    wb.properties.creator = "mailbot"
    wb.properties.created = _local(report.as_of, UTC)  # not the wall clock: the evaluation moment
    first = wb.active
    assert first is not None  # noqa: S101 - a new Workbook always has one sheet
    first.title = "Map"
    _map_sheet(first, report)
    _status_sheet(wb.create_sheet("Status"), report)
    _progress_sheet(wb.create_sheet("Progress"), report, lag_threshold)
    _history_sheet(wb.create_sheet("History"), report)
    _rates_sheet(wb.create_sheet("Rates"), report)
    _quarantine_sheet(wb.create_sheet("Quarantine"), report, quarantine)
    if district_replies:
        _district_replies_sheet(wb.create_sheet("District replies"), report, district_replies)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()

"""CEG's weekly summary workbook: data in, .xlsx bytes out (openpyxl).

Sheets: Status (every expected district x DSP pair of the week), Progress (per district, against target),
History (pairs x weeks, coloured by conditional formatting so a re-sorted sheet keeps its colours), Rates
(statewide per week with a native line chart, then per DSP and per division for the week), Quarantine (mail
nobody answered).

Text that came from outside (subjects, addresses, reasons) is stored as a string with Excel's quote prefix, so
a subject like ``=HYPERLINK(...)`` is shown, never evaluated.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.chart import LineChart, Reference
from openpyxl.formatting.rule import CellIsRule
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from mailbot.compliance import Rate, WeeklyReport
from mailbot.districts import by_code
from mailbot.progress import Progress
from mailbot.wording import day_text, week_dates, when_text

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


@dataclass(frozen=True)
class QuarantineItem:
    """A message nobody answered: unknown sender, automated mail, poison message."""

    sender: str
    subject: str
    received: datetime | None  # aware
    reason: str


# The ledger's reason (kept as it is there) -> what CEG reads in the Quarantine sheet. First match wins.
_QUARANTINE_REASONS: tuple[tuple[str, str], ...] = (
    ("automated message: Auto-Submitted: auto-replied", "Automatic reply (out of office)"),
    ("automated message: X-Autoreply", "Automatic reply (out of office)"),
    ("automated message: X-Autorespond", "Automatic reply (out of office)"),
    ("automated message: Precedence: auto_reply", "Automatic reply (out of office)"),
    ("automated message: automatic reply subject", "Automatic reply (out of office)"),
    ("automated message: List-", "Mailing list or newsletter"),
    ("automated message: Precedence:", "Bulk or mailing-list mail"),
    ("automated message: empty Return-Path", "Delivery failure notice (bounce)"),
    ("automated message: sent by", "Delivery failure notice (bounce)"),
    ("automated message: delivery or read report", "Delivery or read receipt"),
    ("automated message:", "Automatic message (not answered)"),
    ("unknown sender", "Address not in roster"),
    ("no sender address", "No sender address"),
    ("not an email", "Not a readable email"),
    ("failed repeatedly", "Could not be processed (see the mailbot log)"),
)


def quarantine_reason(reason: str) -> str:
    """Why a message went unanswered, in words CEG reads (``unknown sender x@y`` -> ``Address not in roster``)."""
    for prefix, words in _QUARANTINE_REASONS:
        if reason.startswith(prefix):
            return words
    if reason.startswith("too large: "):
        return "Too large to open: " + reason.removeprefix("too large: ").replace("; left unread", "")
    return reason[:1].upper() + reason[1:]


def _fill(status: str) -> PatternFill:
    colour = STATUS_COLOURS[status].lstrip("#").upper()
    return PatternFill("solid", fgColor=colour, bgColor=colour)


def safe_text(value: str) -> str:
    """Drop characters an .xlsx cannot hold (control characters); the formula guard is in ``_put``."""
    return str(ILLEGAL_CHARACTERS_RE.sub("", value))


def _put(ws: Worksheet, row: int, col: int, value: Any, number_format: str | None = None) -> None:
    cell = ws.cell(row=row, column=col)
    if isinstance(value, str):
        text = safe_text(value)
        cell.value = text
        # openpyxl makes any string starting with "=" a formula; force text and show it as typed. Judged on the
        # text as stored: a control character stripped above must not hide a leading "=".
        cell.data_type = "s"
        if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
            cell.quotePrefix = True
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
    _widths(ws, [22, 20, 14, 9, 26, 11, 12, 17, 9, 11])


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


def _progress_row(p: Progress, lag_threshold: float) -> list[Any]:
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
    carried = str(p.figures_week) if p.carried_forward else None
    return [*_district(p.lgd_code), ", ".join(p.dsps), *figures, _lag_text(p, lag_threshold), ", ".join(p.unreported),
            carried]


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
        "Figures from week",
    ]
    progress = sorted(report.progress, key=lambda p: by_code(p.lgd_code).name_en)
    rows = [_progress_row(p, lag_threshold) for p in progress]
    _table(ws, 2, headers, rows, {8: _PERCENT, 11: _PERCENT, 14: _PERCENT, 19: _PERCENT})
    lag_fill = _fill("missing")
    for r, p in enumerate(progress, start=3):
        if p.lagging:
            ws.cell(row=r, column=21).fill = lag_fill
    ws.freeze_panes = "B3"
    _widths(ws, [22, 20, 14, 9, 26, *([10] * 15), 10, 24, 20, 12])


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
            ws.conditional_formatting.add(
                area, CellIsRule(operator="equal", formula=[f'"{label}"'], fill=fill)
            )
    ws.freeze_panes = "D3"
    _widths(ws, [26, 22, 20, *([10] * len(report.weeks))])


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


def _rates_sheet(ws: Worksheet, report: WeeklyReport) -> None:
    _title(
        ws, "Reporting rates (DHIS2: reporting = reported / expected; on time = by the deadline / expected)"
    )
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

    chart = LineChart()
    chart.title = "Statewide reporting rate"
    chart.y_axis.title = "Reported / expected"
    chart.y_axis.number_format = "0%"
    chart.y_axis.scaling.min = 0
    chart.y_axis.scaling.max = 1
    chart.x_axis.title = "Week"
    chart.x_axis.delete = False  # newer Excel hides axes unless told
    chart.y_axis.delete = False
    chart.add_data(Reference(ws, min_col=8, max_col=9, min_row=2, max_row=last), titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=1, min_row=3, max_row=last))
    chart.height, chart.width = 8, 16
    ws.add_chart(chart, "K2")

    top = last + 2
    _put(ws, top, 1, f"Per DSP, {_week_title(report)}")
    ws.cell(row=top, column=1).font = Font(bold=True)
    dsp_rows = [_rate_row(name, r) for name, r in report.week_rates.by_dsp.items()]
    last = _table(ws, top + 1, ["DSP", *headers[1:]], dsp_rows, formats)
    top = last + 2
    _put(ws, top, 1, f"Per division, {_week_title(report)}")
    ws.cell(row=top, column=1).font = Font(bold=True)
    division_rows = [_rate_row(name, r) for name, r in report.week_rates.by_division.items()]
    _table(ws, top + 1, ["Division", *headers[1:]], division_rows, formats)
    ws.freeze_panes = "B3"
    _widths(ws, [26, 9, 9, 9, 9, 9, 9, 12, 12])


def _quarantine_sheet(ws: Worksheet, report: WeeklyReport, items: Sequence[QuarantineItem]) -> None:
    _title(
        ws, "Unknown senders and quarantined messages (not answered; check and forward by hand if genuine)"
    )
    tz = report.deadline.tzinfo
    rows = [[i.sender, i.subject, _local(i.received, tz), quarantine_reason(i.reason)] for i in items]
    _table(ws, 2, ["Sender", "Subject", "Received", "Reason"], rows, {3: _WHEN})
    ws.freeze_panes = "A3"
    _widths(ws, [34, 50, 17, 50])


def build_workbook(
    report: WeeklyReport, quarantine: Sequence[QuarantineItem], lag_threshold: float
) -> bytes:
    """CEG's workbook for ``report.week``; ``quarantine`` lists the week's unanswered messages;
    ``lag_threshold`` (``calendar.lag_threshold``) names the threshold in the Lagging column."""
    wb = Workbook()
    wb.properties.creator = "mailbot"
    wb.properties.created = _local(report.as_of, UTC)  # not the wall clock: the evaluation moment
    status = wb.active
    assert status is not None  # noqa: S101 - a new Workbook always has one sheet
    status.title = "Status"
    _status_sheet(status, report)
    _progress_sheet(wb.create_sheet("Progress"), report, lag_threshold)
    _history_sheet(wb.create_sheet("History"), report)
    _rates_sheet(wb.create_sheet("Rates"), report)
    _quarantine_sheet(wb.create_sheet("Quarantine"), report, quarantine)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()

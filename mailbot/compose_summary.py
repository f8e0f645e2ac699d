"""What CEG reads in its weekly summary: the week at a glance (figures with the change against last week, the
DSPs in trouble and why, the map's legend), per-DSP reporting over the last weeks, then the details and the
district offices' replies. ``compose.Composer`` renders it. Pure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from mailbot.compliance import Rate, Status, WeeklyReport
from mailbot.compose_views import district_line, district_lines, pct, progress_line, rate_line, status_fields, whole_pct
from mailbot.districts import by_code
from mailbot.statemap import MAP_COLOURS, PATTERNS, district_statuses, map_size, worst
from mailbot.summary import STATUS_COLOURS, STATUS_LABELS, DistrictReply, QuarantineItem, quarantine_reason
from mailbot.weeks import Week
from mailbot.wording import names, week_dates, when_text

UNANSWERED_LISTED = 10  # unanswered messages listed in CEG's summary email; the workbook lists them all
DSP_WEEKS = 12  # weeks of per-DSP reporting in CEG's summary email
MAP_DISPLAY_WIDTH = 380  # px: the map's cell beside the legend in a 640 px email; phones shrink it to fit
_PATTERN_WORDS = {"": "plain", "lines": "striped", "diagonal": "diagonal stripes", "crosshatch": "cross-hatched"}
_TROUBLE_ORDER = ("missing", "invalid", "late", "pending")


def _display_size(size: tuple[int, int], width: int = MAP_DISPLAY_WIDTH) -> tuple[int, int]:
    """The <img> tag's width and height: clients that ignore CSS (Outlook) draw the picture at this size."""
    return width, round(size[1] * width / size[0])


def _lower_first(text: str) -> str:
    """A reason continuing a sentence: ``Shreetron: all 16 — the file could not be read``."""
    return text[:1].lower() + text[1:]


def _previous_rates(report: WeeklyReport) -> tuple[Week, Rate] | None:
    """Last week's statewide rate, when anything was expected then (none in the first week)."""
    if len(report.rates) < 2 or not report.rates[-2].statewide.expected:
        return None
    return report.rates[-2].week, report.rates[-2].statewide


def _points(now: float | None, before: float | None) -> str:
    if now is None or before is None:
        return ""
    diff = round((now - before) * 100)
    return f"{diff:+d}" if diff else "±0"


def _change(now: Rate, before: Rate | None) -> dict[str, str]:
    """Percentage points against last week, signed (``+5``, ``-3``, ``±0``); empty strings in the first week."""
    if before is None:
        return {"reporting": "", "on_time": ""}
    return {
        "reporting": _points(now.reporting_rate, before.reporting_rate),
        "on_time": _points(now.on_time_rate, before.on_time_rate),
    }


def _trouble(report: WeeklyReport, rejections: Mapping[str, str]) -> list[dict[str, Any]]:
    """The DSPs with a district not on time, grouped by what went wrong (missing, invalid, late, pending), each
    with its districts and, for invalid ones, why the report was refused."""
    groups: dict[str, dict[str, list[int]]] = {s: {} for s in _TROUBLE_ORDER}
    for c in report.cells:
        if c.status in groups:
            groups[c.status].setdefault(c.dsp, []).append(c.lgd_code)
    owed = Counter(c.dsp for c in report.cells)
    out: list[dict[str, Any]] = []
    for status in _TROUBLE_ORDER:
        if not groups[status]:
            continue
        en, hi = STATUS_LABELS[status]
        dsps: list[dict[str, Any]] = []
        for dsp, codes in sorted(groups[status].items(), key=lambda item: (-len(item[1]), item[0])):
            lines = district_lines(codes)
            streak = max(report.missing_streaks.get((dsp, code), 0) for code in codes)
            dsps.append(
                {
                    "dsp": dsp,
                    "count": len(codes),
                    "all": len(codes) == owed[dsp],
                    "owed": owed[dsp],
                    "districts_en": names([d.name_en for d in lines]),
                    "districts_hi": names([d.name_hi for d in lines], "hi"),
                    "streak": streak if status in ("missing", "invalid") else 0,
                    "reason": _lower_first(rejections.get(dsp, "")) if status == "invalid" else "",
                }
            )
        out.append(
            {
                "status": status,
                "en": en,
                "hi": hi,
                "colour": STATUS_COLOURS[status],
                "map_colour": MAP_COLOURS[status],
                "count": sum(d["count"] for d in dsps),
                "dsps": dsps,
            }
        )
    return out


def _dsp_weeks(report: WeeklyReport) -> list[dict[str, Any]]:
    """Per DSP, its last weeks (oldest first): the share of its districts reported, coloured by the worst status
    of the week; a blank cell where nothing was owed."""
    weeks = report.weeks[-DSP_WEEKS:]
    offset = len(report.weeks) - len(weeks)
    by_dsp: dict[str, list[list[Status]]] = {}
    for (dsp, _), history in report.history.items():
        per_week = by_dsp.setdefault(dsp, [[] for _ in weeks])
        for i, owed in enumerate(history[offset:]):
            if owed is not None:
                per_week[i].append(owed)
    rows = []
    for dsp in sorted(by_dsp):
        cells = []
        for week, statuses in zip(weeks, by_dsp[dsp], strict=True):
            if not statuses:
                cells.append({"week": week_dates(week, year=False), "text": "", "colour": "#ffffff", "status": ""})
                continue
            rate = Rate.of(statuses)
            status = worst(statuses)
            cells.append(
                {
                    "week": week_dates(week, year=False),
                    "text": whole_pct(rate.reporting_rate).rstrip("%"),
                    "colour": STATUS_COLOURS[status],
                    "status": STATUS_LABELS[status][0],
                }
            )
        rate_now = report.week_rates.by_dsp.get(dsp, Rate())
        rows.append(
            {
                "dsp": dsp,
                "reported": rate_now.reported,
                "expected": rate_now.expected,
                "reporting": whole_pct(rate_now.reporting_rate),
                "cells": cells,
            }
        )
    return rows


def summary_vars(
    report: WeeklyReport, unanswered: Sequence[QuarantineItem], rejections: Mapping[str, str]
) -> dict[str, Any]:
    """The week at a glance first (figures with the change, who is in trouble and why, the map), details after."""
    rates = report.week_rates
    tz = report.deadline.tzinfo
    outstanding = [
        district_line(
            c.lgd_code,
            dsp=c.dsp,
            streak=report.missing_streaks.get((c.dsp, c.lgd_code), 0),
            **status_fields(c.status),
        )
        for c in report.cells
        if c.status not in ("on_time", "late")
    ]
    outstanding.sort(key=lambda d: (d.name_en, d.dsp))
    lagging = sorted((progress_line(p) for p in report.progress if p.lagging), key=lambda p: p.district.name_en)
    map_statuses = district_statuses((c.lgd_code, c.status) for c in report.cells)
    counts = Counter(map_statuses.values())
    previous = _previous_rates(report)
    return {
        "as_of": when_text(report.as_of.astimezone(tz)),
        "as_of_hi": when_text(report.as_of.astimezone(tz), "hi"),
        "week_short": week_dates(report.week, year=False),
        "statewide": rate_line("Uttar Pradesh", rates.statewide),
        "reporting_whole": whole_pct(rates.statewide.reporting_rate),
        "on_time_whole": whole_pct(rates.statewide.on_time_rate),
        "change": _change(rates.statewide, previous[1] if previous else None),
        "previous_week_en": week_dates(previous[0], year=False) if previous else "",
        "previous_week_hi": week_dates(previous[0], "hi", year=False) if previous else "",
        "trouble": _trouble(report, rejections),
        "map_statuses": map_statuses,
        "map_cid": "",  # set by notification(), which attaches the picture
        "map_size": _display_size(map_size()),
        "legend": [
            {
                "status": s,
                "en": STATUS_LABELS[s][0],
                "hi": STATUS_LABELS[s][1],
                "colour": MAP_COLOURS[s],
                "pattern": _PATTERN_WORDS[PATTERNS[s]],
                "count": counts.get(s, 0),
            }
            for s in MAP_COLOURS
            if counts.get(s, 0) or s != "pending"
        ],
        "dsp_weeks": _dsp_weeks(report),
        "dsp_rates": [rate_line(name, r) for name, r in rates.by_dsp.items()],
        "division_rates": [rate_line(name, r) for name, r in rates.by_division.items()],
        "trend": [(w.week, pct(w.statewide.reporting_rate)) for w in report.rates],
        "outstanding": outstanding,
        "lagging": lagging,
        "quarantined": len(unanswered),
        # The first few, so CEG sees at a glance whether a DSP wrote from an address not in the roster.
        "unanswered": [
            {
                "sender": q.sender or "(no sender)",
                "subject": q.subject or "(no subject)",
                "received": when_text(q.received.astimezone(tz), short=True) if q.received else "",
                "reason": quarantine_reason(q.reason, q.code),
            }
            for q in unanswered[:UNANSWERED_LISTED]
        ],
    }


def replies_vars(report: WeeklyReport, replies: Sequence[DistrictReply], withheld: int) -> dict[str, Any]:
    """District offices' answers (CEG reads them: mailbot does not) and the rejections not sent."""
    tz = report.deadline.tzinfo
    return {
        "district_replies": [
            {
                "district": names([by_code(c).name_en for c in r.lgd_codes]),
                "district_hi": names([by_code(c).name_hi for c in r.lgd_codes], "hi"),
                "sender": r.sender,
                "subject": r.subject or "(no subject)",
                "received": when_text(r.received.astimezone(tz), short=True) if r.received else "",
                "answers": r.answers,
            }
            for r in replies
        ],
        "withheld": withheld,
    }

"""Dates, weeks and counts in the words a DSP's office, a DEGS officer or a CEG clerk reads, in English and
Hindi: ``16–22 Nov 2026`` / ``16–22 नवम्बर 2026``, ``सोमवार, 23 नवम्बर 2026, दोपहर 12:00 बजे``, ``14 जनपदों``.

Pure; the one place these are made. Email templates use them as filters (see compose), the summary workbook
calls them directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Literal

from mailbot.weeks import Week

__all__ = ["Lang", "day_text", "names", "plural", "week_dates", "weeks_dates", "when_text"]

_HI_WEEKDAYS = ("सोमवार", "मंगलवार", "बुधवार", "गुरुवार", "शुक्रवार", "शनिवार", "रविवार")

Lang = Literal["en", "hi"]
_MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS_HI = (
    "जनवरी",
    "फ़रवरी",
    "मार्च",
    "अप्रैल",
    "मई",
    "जून",
    "जुलाई",
    "अगस्त",
    "सितम्बर",
    "अक्टूबर",
    "नवम्बर",
    "दिसम्बर",
)


def _month(d: date, lang: Lang) -> str:
    return (_MONTHS_HI if lang == "hi" else _MONTHS_EN)[d.month - 1]


def day_text(d: date, lang: Lang = "en", *, year: bool = True) -> str:
    """``23 Nov 2026`` / ``23 नवम्बर 2026``."""
    return f"{d.day} {_month(d, lang)}" + (f" {d.year}" if year else "")


def week_dates(week: Week | str, lang: Lang = "en", *, year: bool = True) -> str:
    """A reporting week as its dates: ``16–22 Nov 2026``, ``30 Nov – 6 Dec 2026``, ``28 Dec 2026 – 3 Jan 2027``
    (Hindi month names with ``lang="hi"``). Accepts a Week or its ISO name."""
    if isinstance(week, str):
        week = Week.parse(week)
    first, last = week.monday, week.sunday
    end = day_text(last, lang, year=year)
    if first.year != last.year:
        return f"{day_text(first, lang)} – {end}"
    if first.month != last.month:
        return f"{day_text(first, lang, year=False)} – {end}"
    return f"{first.day}–{end}"


def weeks_dates(weeks: Sequence[Week | str], lang: Lang = "en") -> str:
    """Several weeks, oldest first, each year said once: ``26 Oct – 1 Nov; 2–8 Nov 2026``."""
    parsed = [Week.parse(w) if isinstance(w, str) else w for w in weeks]
    parts = []
    for i, week in enumerate(parsed):
        last = i == len(parsed) - 1
        year = last or week.monday.year != week.sunday.year or parsed[i + 1].sunday.year != week.sunday.year
        parts.append(week_dates(week, lang, year=year))
    return "; ".join(parts)


def _hi_time(moment: datetime) -> str:
    """``दोपहर 12:00 बजे``: the 12-hour clock with the part of the day, as Hindi letters give the time."""
    hour = moment.hour
    part = "सुबह" if 4 <= hour < 12 else "दोपहर" if 12 <= hour < 16 else "शाम" if 16 <= hour < 19 else "रात"
    return f"{part} {hour % 12 or 12}:{moment.minute:02d} बजे"


def when_text(moment: datetime, lang: Lang = "en", *, short: bool = False, year: bool = True) -> str:
    """A moment in the reader's words. EN ``Monday 23 November 2026, 12:00 IST`` (short: ``Mon 23 Nov 2026,
    12:00 IST``); HI ``सोमवार, 23 नवम्बर 2026, दोपहर 12:00 बजे``. ``year=False`` drops the year (subjects)."""
    if lang == "hi":
        return f"{_HI_WEEKDAYS[moment.weekday()]}, {day_text(moment.date(), 'hi', year=year)}, {_hi_time(moment)}"
    if short:
        return f"{moment:%a} {day_text(moment.date(), year=year)}, {moment:%H:%M %Z}"
    return f"{moment:%A} {moment.day} {moment:%B}{f' {moment.year}' if year else ''}, {moment:%H:%M %Z}"


def plural(n: int, one: str, many: str) -> str:
    """``1 district`` / ``14 districts``; ``1 जनपद`` / ``14 जनपदों`` (the oblique plural: a postposition
    follows in every template)."""
    return f"{n} {one if n == 1 else many}"


def names(items: Sequence[str], lang: Lang = "en") -> str:
    """``A``, ``A and B``, ``A, B and C`` (``एवं`` in Hindi)."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {'एवं' if lang == 'hi' else 'and'} {items[-1]}"

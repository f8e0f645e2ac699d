"""Reporting weeks: Monday to Sunday, named like ISO weeks (``2026-W48``).

Pure: every function takes the moment it reasons about; nothing reads the clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_WEEK_RE = re.compile(r"^\s*(\d{4})-?W(\d{1,2})\s*$", re.IGNORECASE)


@dataclass(frozen=True, order=True)
class Week:
    """An ISO week. Ordering and hashing follow (year, number)."""

    year: int
    number: int

    def __post_init__(self) -> None:
        # date.fromisocalendar validates the week number for the year (52 or 53 weeks).
        date.fromisocalendar(self.year, self.number, 1)

    @classmethod
    def parse(cls, text: str) -> Week:
        """``2026-W48`` or ``2026W48``; raises ValueError naming the text otherwise."""
        match = _WEEK_RE.match(text)
        if not match:
            raise ValueError(f"not a week: {text!r} (expected YYYY-Www, e.g. 2026-W48)")
        try:
            return cls(int(match.group(1)), int(match.group(2)))
        except ValueError:
            raise ValueError(f"no such week: {text!r}") from None

    @classmethod
    def containing(cls, day: date) -> Week:
        iso = day.isocalendar()
        return cls(iso.year, iso.week)

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.number, 1)

    @property
    def sunday(self) -> date:
        return date.fromisocalendar(self.year, self.number, 7)

    def __add__(self, weeks: int) -> Week:
        return Week.containing(self.monday + timedelta(weeks=weeks))

    def __sub__(self, weeks: int) -> Week:
        return self + (-weeks)

    def weeks_until(self, other: Week) -> int:
        """How many weeks from self to other (negative when other is earlier)."""
        return (other.monday - self.monday).days // 7

    def __str__(self) -> str:
        return f"{self.year}-W{self.number:02d}"


def week_range(first: Week, last: Week) -> list[Week]:
    """Every week from first to last inclusive."""
    return [first + i for i in range(first.weeks_until(last) + 1)]


def last_completed_week(now: datetime, tz: ZoneInfo) -> Week:
    """The most recent week whose Sunday has ended at ``now`` in ``tz``."""
    return Week.containing(now.astimezone(tz).date()) - 1


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def deadline(week: Week, weekday: int, at: time, tz: ZoneInfo) -> datetime:
    """The report deadline for ``week``: the first ``weekday`` (0 = Monday) after the week ends, at ``at`` in ``tz``.

    The week ends on Sunday, so a Monday deadline is the next day.
    """
    days_after_sunday = weekday + 1
    day = week.sunday + timedelta(days=days_after_sunday)
    return datetime.combine(day, at, tzinfo=tz)

"""The types compliance, the ladder and progress share: report facts, statuses, rates, district progress, the
weekly picture, and ``EvaluationLike``, what the ladder and progress read of an evaluation.

The bottom of the three: it imports none of them, and compliance imports ladder and progress, so their import
graph has no cycle and needs neither a type-checking-only import nor a callback. ``compliance.Evaluation``
implements ``EvaluationLike``. Every name is also importable from where it was defined before (compliance,
progress).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from mailbot.roster import Roster
from mailbot.settings import CalendarSettings
from mailbot.weeks import Week, week_range

Status = Literal["on_time", "late", "missing", "invalid", "pending"]
STATUSES: tuple[Status, ...] = ("on_time", "late", "missing", "invalid", "pending")
OUTSTANDING: frozenset[Status] = frozenset({"missing", "invalid"})


@dataclass(frozen=True)
class ReportFact:
    """One stored report row for (DSP, district, week), valid or rejected.

    A rejection that names no district (no readable sheet, say) should be passed as one invalid fact per
    district the DSP was expected to report that week (``Roster.districts_of``).
    """

    dsp: str
    lgd_code: int
    week: Week
    received_at: datetime  # aware
    valid: bool
    figures: Mapping[str, int | None]  # workbook.FIGURES keys; empty for rejected rows


@dataclass(frozen=True)
class StatusCell:
    week: Week
    dsp: str
    lgd_code: int
    status: Status
    received_at: datetime | None  # the first valid receipt: it decides timeliness
    rejected: int  # how many rejected rows arrived for this pair and week (so far)


@dataclass(frozen=True)
class Rate:
    expected: int = 0
    on_time: int = 0
    late: int = 0
    missing: int = 0
    invalid: int = 0
    pending: int = 0

    @property
    def reported(self) -> int:
        return self.on_time + self.late

    @property
    def reporting_rate(self) -> float | None:
        return self.reported / self.expected if self.expected else None

    @property
    def on_time_rate(self) -> float | None:
        return self.on_time / self.expected if self.expected else None

    @classmethod
    def of(cls, statuses: Iterable[Status]) -> Rate:
        counts = Counter(statuses)
        return cls(sum(counts.values()), *(counts[s] for s in STATUSES))


@dataclass(frozen=True)
class WeekRates:
    week: Week
    statewide: Rate
    by_dsp: Mapping[str, Rate]  # sorted by DSP name
    by_division: Mapping[str, Rate]  # sorted by division; only divisions with something expected


LagReason = Literal["below_threshold", "no_progress"]


@dataclass(frozen=True)
class Progress:
    week: Week
    lgd_code: int
    dsps: tuple[str, ...]  # DSPs assigned to the district this week
    unreported: tuple[str, ...]  # of those, DSPs with no valid report up to this week
    rural_target: int
    rural_opened: int
    urban_target: int
    urban_opened: int
    functional: int | None  # None: no DSP gave the (optional) figure
    b2c_enabled: int | None
    increase: int | None  # opened minus the previous week's; None unless this week was reported (see figures_week)
    stalled_weeks: int  # weeks since a reporting DSP's own count last rose (the longest; up to no_progress_weeks)
    lag_reasons: tuple[LagReason, ...]
    figures_week: Week | None = None  # the oldest report the figures come from; before ``week``: carried forward
    stalled_dsps: tuple[str, ...] = ()  # with "no_progress": the DSPs whose own count has not risen

    @property
    def carried_forward(self) -> bool:
        return self.figures_week is not None and self.figures_week < self.week

    @property
    def target(self) -> int:
        return self.rural_target + self.urban_target

    @property
    def opened(self) -> int:
        return self.rural_opened + self.urban_opened

    @property
    def has_figures(self) -> bool:
        return len(self.unreported) < len(self.dsps)

    @property
    def achievement(self) -> float | None:
        return self.opened / self.target if self.target else None

    @property
    def rural_achievement(self) -> float | None:
        return self.rural_opened / self.rural_target if self.rural_target else None

    @property
    def urban_achievement(self) -> float | None:
        return self.urban_opened / self.urban_target if self.urban_target else None

    @property
    def gap(self) -> int:
        return max(self.target - self.opened, 0)

    @property
    def b2c_uptake(self) -> float | None:
        """Share of functional centres offering B2C services."""
        if self.functional and self.b2c_enabled is not None:
            return self.b2c_enabled / self.functional
        return None

    @property
    def lagging(self) -> bool:
        return bool(self.lag_reasons)


@dataclass(frozen=True)
class WeeklyReport:
    week: Week
    as_of: datetime
    deadline: datetime
    cells: tuple[StatusCell, ...]  # the week's expected pairs, by (DSP, LGD code)
    progress: tuple[Progress, ...]  # per district, by LGD code
    weeks: tuple[Week, ...]  # the history, oldest first, ending with ``week``
    history: Mapping[tuple[str, int], tuple[Status | None, ...]]  # (DSP, LGD) -> status per week; None: not expected
    rates: tuple[WeekRates, ...]  # aligned with ``weeks``
    missing_streaks: Mapping[tuple[str, int], int]  # consecutive outstanding weeks ending at ``week``

    @property
    def week_rates(self) -> WeekRates:
        return self.rates[-1]


class EvaluationLike(Protocol):
    """What the ladder, progress and the weekly picture read of an evaluation (facts indexed, statuses
    memoised, everything as of ``now``); ``compliance.Evaluation`` is the implementation."""

    @property
    def roster(self) -> Roster: ...
    @property
    def calendar(self) -> CalendarSettings: ...
    @property
    def now(self) -> datetime: ...
    @property
    def current_week(self) -> Week: ...
    @property
    def first_week(self) -> Week: ...  # the oldest week the ladder looks at

    def deadline(self, week: Week) -> datetime: ...
    def expected(self, week: Week) -> tuple[tuple[str, int], ...]: ...  # (DSP, LGD code), sorted
    def status(self, week: Week, dsp: str, lgd_code: int) -> StatusCell: ...
    def cells(self, week: Week) -> tuple[StatusCell, ...]: ...
    def cell_map(self, week: Week) -> Mapping[tuple[str, int], StatusCell]: ...  # cells(week) by (DSP, LGD code)
    def rates(self, week: Week) -> WeekRates: ...
    def missing_weeks(self, dsp: str, lgd_code: int, upto: Week | None = None) -> tuple[Week, ...]: ...
    def missing_streak(self, dsp: str, lgd_code: int, upto: Week) -> int: ...
    def reports_until(self, dsp: str, lgd_code: int, week: Week) -> list[ReportFact]: ...
    def latest_report(self, dsp: str, lgd_code: int, week: Week) -> ReportFact | None: ...
    def progress(self, week: Week) -> tuple[Progress, ...]: ...
    def dsps_of(self, lgd_code: int, week: Week) -> tuple[str, ...]: ...


def weekly_report(ev: EvaluationLike, week: Week) -> WeeklyReport:
    """The picture of ``week`` as of ``ev.now`` (CEG's summary, `mailbot status`), with its history."""
    starts = [a.start for a in ev.roster.assignments]
    oldest = week - (ev.calendar.history_weeks - 1)
    if starts:
        oldest = max(oldest, min(Week.containing(min(starts)), week))
    if ev.calendar.first_week:
        oldest = max(oldest, min(ev.calendar.first_week, week))
    weeks = tuple(week_range(oldest, week))
    pairs = sorted({pair for w in weeks for pair in ev.expected(w)})
    maps = [ev.cell_map(w) for w in weeks]
    history = {pair: tuple(c.status if (c := m.get(pair)) else None for m in maps) for pair in pairs}
    cells = ev.cells(week)
    return WeeklyReport(
        week=week,
        as_of=ev.now,
        deadline=ev.deadline(week),
        cells=cells,
        progress=ev.progress(week),
        weeks=weeks,
        history=history,
        rates=tuple(ev.rates(w) for w in weeks),
        missing_streaks={(c.dsp, c.lgd_code): ev.missing_streak(c.dsp, c.lgd_code, week) for c in cells},
    )

"""Weekly compliance: who reported for which district, the rates, and the emails now due.

Pure: (roster, report facts, calendar, now) in; statuses, rates, progress and notifications out. Nothing reads
the clock and facts received after ``now`` are ignored, so ``mailbot check --now`` previews any moment
truthfully.

Definitions (DHIS2's, see shared/reference/domain.md):

- expected for a week = the (DSP, district) pairs of ``Roster.expected(week)``;
- a pair's status: ``on_time`` (its first valid receipt was at or before the deadline), ``late`` (first valid
  receipt after it), ``invalid`` (deadline passed, only rejected rows arrived), ``missing`` (deadline passed,
  nothing arrived), ``pending`` (deadline not passed, nothing valid yet). A pair counts once however often it
  was re-sent; the *first* valid receipt decides timeliness (DHIS2 "timely"), so a correction sent after the
  deadline does not make an on-time report late. Pass superseded rows too (the store keeps them) to get this
  right; figures come from the latest one;
- reporting rate = (on_time + late) / expected; on-time rate = on_time / expected; ``None`` when nothing is
  expected;
- "outstanding" = missing or invalid: the DSP has not reported for the district. Escalations, the missing-week
  lists and the consecutive-missing count all use it, since a rejected report is not a report.

The look-back window: missing weeks are counted, and notifications considered, only from ``first_week`` on:
the last ``calendar.history_weeks`` weeks before the current one, never before the earliest assignment start
and never before ``calendar.first_week`` (the week reporting through mailbot began). A new install thus
chases nobody for the weeks before it existed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime

from mailbot.districts import by_code
from mailbot.evaluation import (
    OUTSTANDING,
    STATUSES,
    Rate,
    ReportFact,
    Status,
    StatusCell,
    WeeklyReport,
    WeekRates,
    weekly_report,
)
from mailbot.ladder import Notification, ladder_due
from mailbot.progress import Progress, TotalsMemo, district_progress
from mailbot.roster import Roster
from mailbot.settings import CalendarSettings
from mailbot.weeks import Week, deadline, week_range


def latest_closed_week(calendar: CalendarSettings, now: datetime) -> Week:
    """The newest week whose deadline has passed at ``now`` (the deadline moment itself is still in time)."""
    week = Week.containing(now.astimezone(calendar.timezone).date())
    while deadline(week, calendar.deadline_weekday, calendar.deadline_time, calendar.timezone) >= now:
        week = week - 1
    return week


def first_week(roster: Roster, calendar: CalendarSettings, now: datetime) -> Week:
    """The oldest week the ladder looks at (see the module docstring)."""
    current = Week.containing(now.astimezone(calendar.timezone).date())
    oldest = current - calendar.history_weeks
    starts = [a.start for a in roster.assignments]
    first = max(oldest, Week.containing(min(starts))) if starts else current
    return max(first, calendar.first_week) if calendar.first_week else first


class Evaluation:
    """Facts indexed once, statuses memoised; everything as of ``now``."""

    def __init__(self, roster: Roster, facts: Iterable[ReportFact], calendar: CalendarSettings, now: datetime) -> None:
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        self.roster = roster
        self.calendar = calendar
        self.now = now
        self.current_week = Week.containing(now.astimezone(calendar.timezone).date())
        self.first_week = first_week(roster, calendar, now)
        self._facts: dict[tuple[str, int, Week], list[ReportFact]] = defaultdict(list)
        # (dsp, lgd) -> valid facts, for the latest figures as of a week
        self._valid: dict[tuple[str, int], list[ReportFact]] = defaultdict(list)
        self._names: dict[str, str] = {}
        for fact in facts:
            if fact.received_at <= now:
                dsp = self._name(fact.dsp)
                self._facts[(dsp, fact.lgd_code, fact.week)].append(fact)
                if fact.valid:
                    self._valid[(dsp, fact.lgd_code)].append(fact)
        for rows in self._valid.values():
            rows.sort(key=lambda f: (f.week, f.received_at))
        self._expected: dict[Week, tuple[tuple[str, int], ...]] = {}
        self._cells: dict[tuple[Week, str, int], StatusCell] = {}
        self._progress: dict[Week, tuple[Progress, ...]] = {}
        self._dsps_of: dict[Week, dict[int, tuple[str, ...]]] = {}
        self._totals: TotalsMemo = {}  # progress.py's per-district sums, each wanted for two weeks

    # --- statuses -------------------------------------------------------------------------------------------

    def deadline(self, week: Week) -> datetime:
        cal = self.calendar
        return deadline(week, cal.deadline_weekday, cal.deadline_time, cal.timezone)

    def _name(self, dsp: str) -> str:
        """The roster's spelling of a DSP name (the roster matches names ignoring case and spacing)."""
        if dsp not in self._names:
            try:
                self._names[dsp] = self.roster.dsp(dsp).name
            except KeyError:
                self._names[dsp] = dsp  # not on the roster (any more): never expected, so never counted
        return self._names[dsp]

    def expected(self, week: Week) -> tuple[tuple[str, int], ...]:
        if week not in self._expected:
            pairs = {(self._name(dsp), lgd) for dsp, lgd in self.roster.expected(week)}
            self._expected[week] = tuple(sorted(pairs))
        return self._expected[week]

    def status(self, week: Week, dsp: str, lgd_code: int) -> StatusCell:
        key = (week, dsp, lgd_code)
        if key not in self._cells:
            self._cells[key] = self._status(week, dsp, lgd_code)
        return self._cells[key]

    def _status(self, week: Week, dsp: str, lgd_code: int) -> StatusCell:
        facts = self._facts.get((dsp, lgd_code, week), [])
        first_valid = min((f.received_at for f in facts if f.valid), default=None)
        rejected = sum(not f.valid for f in facts)
        due = self.deadline(week)
        status: Status
        if first_valid is not None:
            status = "on_time" if first_valid <= due else "late"
        elif self.now <= due:
            status = "pending"  # the deadline moment itself still counts as in time
        else:
            status = "invalid" if rejected else "missing"
        return StatusCell(week, dsp, lgd_code, status, first_valid, rejected)

    def cells(self, week: Week) -> tuple[StatusCell, ...]:
        """Every expected pair of the week, sorted by (DSP, LGD code)."""
        return tuple(self.status(week, dsp, lgd) for dsp, lgd in self.expected(week))

    def rates(self, week: Week) -> WeekRates:
        cells = self.cells(week)
        by_dsp: dict[str, list[Status]] = defaultdict(list)
        by_division: dict[str, list[Status]] = defaultdict(list)
        for cell in cells:
            by_dsp[cell.dsp].append(cell.status)
            by_division[by_code(cell.lgd_code).division].append(cell.status)
        return WeekRates(
            week,
            Rate.of(c.status for c in cells),
            {name: Rate.of(by_dsp[name]) for name in sorted(by_dsp)},
            {name: Rate.of(by_division[name]) for name in sorted(by_division)},
        )

    def missing_weeks(self, dsp: str, lgd_code: int, upto: Week | None = None) -> tuple[Week, ...]:
        """Every outstanding week of the pair from ``first_week`` to ``upto`` (default: the latest week past
        its deadline), oldest first."""
        last = upto if upto is not None else self.latest_closed_week()
        return tuple(
            week
            for week in week_range(self.first_week, last)
            if (dsp, lgd_code) in self.expected(week) and self.status(week, dsp, lgd_code).status in OUTSTANDING
        )

    def missing_streak(self, dsp: str, lgd_code: int, upto: Week) -> int:
        """Consecutive outstanding weeks ending at ``upto`` (0 when ``upto`` is not outstanding)."""
        streak = 0
        week = upto
        while week >= self.first_week and (dsp, lgd_code) in self.expected(week):
            if self.status(week, dsp, lgd_code).status not in OUTSTANDING:
                break
            streak += 1
            week = week - 1
        return streak

    def latest_closed_week(self) -> Week:
        """The newest week whose deadline has passed at ``now``."""
        return latest_closed_week(self.calendar, self.now)

    # --- progress -------------------------------------------------------------------------------------------

    def reports_until(self, dsp: str, lgd_code: int, week: Week) -> list[ReportFact]:
        """The pair's valid reports for ``week`` or earlier, one per week (its latest correction), oldest first."""
        by_week: dict[Week, ReportFact] = {}
        for fact in self._valid.get((dsp, lgd_code), ()):
            if fact.week > week:
                break
            by_week[fact.week] = fact
        return list(by_week.values())

    def latest_report(self, dsp: str, lgd_code: int, week: Week) -> ReportFact | None:
        """The pair's latest valid report for ``week`` or earlier (None: never reported)."""
        reports = self.reports_until(dsp, lgd_code, week)
        return reports[-1] if reports else None

    def progress(self, week: Week) -> tuple[Progress, ...]:
        """Per district expected in ``week``, sorted by LGD code."""
        if week not in self._progress:
            lgds = sorted({lgd for _, lgd in self.expected(week)})
            self._progress[week] = tuple(district_progress(self, lgd, week, self._totals) for lgd in lgds)
        return self._progress[week]

    def dsps_of(self, lgd_code: int, week: Week) -> tuple[str, ...]:
        """The DSPs that owe ``lgd_code`` a report for ``week``, sorted."""
        if week not in self._dsps_of:
            by_lgd: dict[int, list[str]] = defaultdict(list)
            for dsp, lgd in self.expected(week):
                by_lgd[lgd].append(dsp)
            self._dsps_of[week] = {lgd: tuple(dsps) for lgd, dsps in by_lgd.items()}
        return self._dsps_of[week].get(lgd_code, ())


# --- the weekly picture (CEG's summary, `mailbot status`) ---------------------------------------------------


def evaluate(
    roster: Roster,
    facts: Iterable[ReportFact],
    calendar: CalendarSettings,
    now: datetime,
    week: Week | None = None,
) -> WeeklyReport:
    """The picture of ``week`` (default: the newest week past its deadline, as the README promises; a week
    whose deadline is ahead would show every district "pending", which says nothing) as of ``now``, with up to
    ``calendar.history_weeks`` weeks of history (never before the earliest assignment). On a new install that
    week may come before ``calendar.first_week``: `status` says that nobody was asked for it."""
    ev = Evaluation(roster, facts, calendar, now)
    return weekly_report(ev, week if week is not None else ev.latest_closed_week())


def due_notifications(
    roster: Roster,
    facts: Iterable[ReportFact],
    calendar: CalendarSettings,
    now: datetime,
    ceg_addresses: Sequence[str],
) -> list[Notification]:
    """Everything on the escalation ladder due at ``now`` and still relevant (see ``mailbot.ladder``)."""
    return ladder_due(Evaluation(roster, facts, calendar, now), ceg_addresses)


__all__ = [
    "OUTSTANDING",
    "STATUSES",
    "Evaluation",
    "Notification",
    "Rate",
    "ReportFact",
    "Status",
    "StatusCell",
    "WeekRates",
    "WeeklyReport",
    "due_notifications",
    "evaluate",
    "first_week",
    "latest_closed_week",
    "weekly_report",
]

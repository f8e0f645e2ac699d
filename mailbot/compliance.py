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
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime

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
        # week -> (dsp, lgd) -> facts: a week's statuses are judged together, hashing the Week once (a year of
        # history is ~20,000 facts and as many statuses: issue 11)
        self._facts: dict[Week, dict[tuple[str, int], list[ReportFact]]] = {}
        # (dsp, lgd) -> valid facts, for the latest figures as of a week
        self._valid: dict[tuple[str, int], list[ReportFact]] = defaultdict(list)
        self._names: dict[str, str] = {}
        names = self._names
        last: Week | None = None
        bucket: dict[tuple[str, int], list[ReportFact]] = {}
        for fact in facts:
            if fact.received_at <= now:
                dsp = names[fact.dsp] if fact.dsp in names else self._name(fact.dsp)
                if fact.week is not last:  # facts come grouped by week, often as the very same Week object
                    last = fact.week
                    bucket = self._facts.setdefault(last, {})
                pair = (dsp, fact.lgd_code)
                if pair in bucket:
                    bucket[pair].append(fact)
                else:
                    bucket[pair] = [fact]
                if fact.valid:
                    self._valid[(dsp, fact.lgd_code)].append(fact)
        for rows in self._valid.values():
            rows.sort(key=lambda f: (f.week.year, f.week.number, f.received_at))  # ints: Week's own < is slow
        self._expected: dict[Week, tuple[tuple[str, int], ...]] = {}
        self._expected_set: dict[Week, frozenset[tuple[str, int]]] = {}  # `pair in expected(week)` in O(1)
        self._deadlines: dict[Week, datetime] = {}
        self._week_cells: dict[Week, tuple[StatusCell, ...]] = {}
        self._cell_maps: dict[Week, dict[tuple[str, int], StatusCell]] = {}  # the expected pairs, judged together
        self._rates: dict[Week, WeekRates] = {}
        self._until: dict[tuple[str, int, Week], list[ReportFact]] = {}
        self._cells: dict[tuple[Week, str, int], StatusCell] = {}  # pairs judged alone
        self._progress: dict[Week, tuple[Progress, ...]] = {}
        self._dsps_of: dict[Week, dict[int, tuple[str, ...]]] = {}
        self._totals: TotalsMemo = {}  # progress.py's per-district sums, each wanted for two weeks

    # --- statuses -------------------------------------------------------------------------------------------

    def deadline(self, week: Week) -> datetime:
        if week not in self._deadlines:
            cal = self.calendar
            self._deadlines[week] = deadline(week, cal.deadline_weekday, cal.deadline_time, cal.timezone)
        return self._deadlines[week]

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
            owed = self.roster.expected(week)
            names = {dsp: self._name(dsp) for dsp in {dsp for dsp, _ in owed}}  # a few DSPs, many districts
            pairs = {(names[dsp], lgd) for dsp, lgd in owed}
            self._expected[week] = tuple(sorted(pairs))
            self._expected_set[week] = frozenset(pairs)
        return self._expected[week]

    def is_expected(self, week: Week, dsp: str, lgd_code: int) -> bool:
        if week not in self._expected_set:
            self.expected(week)
        return (dsp, lgd_code) in self._expected_set[week]

    def status(self, week: Week, dsp: str, lgd_code: int) -> StatusCell:
        week_cells = self._cell_maps.get(week)
        if week_cells is not None and (dsp, lgd_code) in week_cells:
            return week_cells[(dsp, lgd_code)]
        # Judged alone until the whole week is asked for: a check follows a few pairs back through the year.
        key = (week, dsp, lgd_code)
        if key not in self._cells:
            self._cells[key] = self._status(
                week, dsp, lgd_code, self._facts.get(week, {}).get((dsp, lgd_code), ()), self.deadline(week)
            )
        return self._cells[key]

    def _status(self, week: Week, dsp: str, lgd_code: int, facts: Iterable[ReportFact], due: datetime) -> StatusCell:
        first_valid: datetime | None = None
        rejected = 0
        for f in facts:
            if not f.valid:
                rejected += 1
            elif first_valid is None or f.received_at < first_valid:
                first_valid = f.received_at
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
        if week not in self._week_cells:
            self._week_cells[week] = tuple(self.cell_map(week).values())
        return self._week_cells[week]

    def cell_map(self, week: Week) -> Mapping[tuple[str, int], StatusCell]:
        """``cells(week)`` by (DSP, LGD code), in the same order."""
        cells = self._cell_maps.get(week)
        if cells is None:
            # In UTC, as the store gives receipt times: two times in one zone compare without a UTC offset look-up.
            facts, due = self._facts.get(week, {}), self.deadline(week).astimezone(UTC)
            nothing: Status = "pending" if self.now <= due else "missing"  # a pair without any fact
            cells = self._cell_maps[week] = {}
            for dsp, lgd in self.expected(week):
                found = facts.get((dsp, lgd))
                if found is None:
                    cells[(dsp, lgd)] = StatusCell(week, dsp, lgd, nothing, None, 0)
                elif len(found) == 1 and found[0].valid:  # the usual case: one report, judged inline
                    at = found[0].received_at
                    cells[(dsp, lgd)] = StatusCell(week, dsp, lgd, "on_time" if at <= due else "late", at, 0)
                else:
                    cells[(dsp, lgd)] = self._status(week, dsp, lgd, found, due)
        return cells

    def rates(self, week: Week) -> WeekRates:
        if week not in self._rates:
            self._rates[week] = self._rates_of(week)
        return self._rates[week]

    def _rates_of(self, week: Week) -> WeekRates:
        cells = self.cells(week)
        by_dsp: dict[str, list[Status]] = defaultdict(list)
        by_division: dict[str, list[Status]] = defaultdict(list)
        divisions: dict[int, str] = {}
        for cell in cells:
            by_dsp[cell.dsp].append(cell.status)
            if cell.lgd_code not in divisions:
                divisions[cell.lgd_code] = by_code(cell.lgd_code).division
            by_division[divisions[cell.lgd_code]].append(cell.status)
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
            if self.is_expected(week, dsp, lgd_code) and self.status(week, dsp, lgd_code).status in OUTSTANDING
        )

    def missing_streak(self, dsp: str, lgd_code: int, upto: Week) -> int:
        """Consecutive outstanding weeks ending at ``upto`` (0 when ``upto`` is not outstanding)."""
        streak = 0
        week = upto
        while week >= self.first_week and self.is_expected(week, dsp, lgd_code):
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
        key = (dsp, lgd_code, week)
        if key not in self._until:  # progress asks for the same pair and week several times
            by_week: dict[Week, ReportFact] = {}
            limit = (week.year, week.number)
            for fact in self._valid.get((dsp, lgd_code), ()):
                if (fact.week.year, fact.week.number) > limit:
                    break
                by_week[fact.week] = fact
            self._until[key] = list(by_week.values())
        return list(self._until[key])

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

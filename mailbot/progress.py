"""Progress per district: centres opened against target, the week's increase, B2C uptake, the lag flag.

A district's figures for week W are the sum, over the DSPs assigned to it in W, of each DSP's latest valid
report for W or an earlier week: a DSP that skipped a week carries its last figures forward, and
``figures_week`` says how old the oldest of them is. DSPs that have never reported are listed in
``unreported`` and add nothing.

Lagging (CEG's instruction: the DEGS acts against the DSP and informs CEG) when achievement (opened / target)
is below ``calendar.lag_threshold``, or when a DSP's own count of centres opened has not risen for
``calendar.no_progress_weeks`` weeks, judged at its report for the week, while the district is still short of
the target. A DSP that did not report the week is not judged on figures it did not send (it is escalated for
the missing report), and cannot hide another DSP of the district that did report and stalled; the district's
``increase`` is unknown for a week whose figures were carried forward. A district with no figures at all is not
judged here: missing reports are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mailbot.evaluation import EvaluationLike as Evaluation
from mailbot.evaluation import LagReason, Progress
from mailbot.weeks import Week

__all__ = ["LagReason", "Progress", "TotalsMemo", "district_progress"]


@dataclass(frozen=True)
class _Totals:
    rural_target: int = 0
    rural_opened: int = 0
    urban_target: int = 0
    urban_opened: int = 0
    functional: int | None = None
    b2c_enabled: int | None = None
    as_of: Week | None = None  # the oldest report week summed

    @property
    def opened(self) -> int:
        return self.rural_opened + self.urban_opened


# (LGD code, week) -> the district's summed figures and its DSPs without any: one per Evaluation (each sum is
# wanted for its own week and for the next week's increase).
TotalsMemo = dict[tuple[int, Week], tuple[_Totals | None, tuple[str, ...]]]


def _add(a: int | None, b: int | None) -> int | None:
    return a if b is None else b if a is None else a + b


def _totals(ev: Evaluation, lgd_code: int, week: Week, memo: TotalsMemo) -> tuple[_Totals | None, tuple[str, ...]]:
    """The district's summed figures for ``week`` (None when no DSP has any) and the DSPs without figures."""
    key = (lgd_code, week)
    if key not in memo:
        memo[key] = _sum(ev, lgd_code, week)
    return memo[key]


def _sum(ev: Evaluation, lgd_code: int, week: Week) -> tuple[_Totals | None, tuple[str, ...]]:
    total: _Totals | None = None
    unreported: list[str] = []
    for dsp in ev.dsps_of(lgd_code, week):
        report = ev.latest_report(dsp, lgd_code, week)
        if report is None:
            unreported.append(dsp)
            continue
        figures = report.figures
        t = total or _Totals()
        total = _Totals(
            t.rural_target + _int(figures, "rural_target"),
            t.rural_opened + _int(figures, "rural_opened"),
            t.urban_target + _int(figures, "urban_target"),
            t.urban_opened + _int(figures, "urban_opened"),
            _add(t.functional, figures.get("functional")),
            _add(t.b2c_enabled, figures.get("b2c_enabled")),
            report.week if t.as_of is None else min(t.as_of, report.week),
        )
    return total, tuple(unreported)


def _int(figures: Mapping[str, int | None], key: str) -> int:
    return figures.get(key) or 0


def _increase(ev: Evaluation, lgd_code: int, week: Week, memo: TotalsMemo) -> int | None:
    """Opened in ``week`` minus the previous week's, when every figure of ``week`` was reported for it (a DSP
    that never reported adds nothing to either week)."""
    now, _ = _totals(ev, lgd_code, week, memo)
    before, _ = _totals(ev, lgd_code, week - 1, memo)
    if now is None or before is None or now.as_of != week:
        return None
    return now.opened - before.opened


def _stalled_weeks(ev: Evaluation, dsp: str, lgd_code: int, week: Week) -> int | None:
    """Weeks since the DSP's count of centres opened in the district last reached a new high, judged at its
    report for ``week``. None when it did not report that week (a missing report, escalated as such); 0 when
    it has met its own target (nothing left to open). Weeks it skipped count as time without an increase, and
    a dip and recovery is no rise, so neither restarts the count."""
    reports = ev.reports_until(dsp, lgd_code, week)
    if not reports or reports[-1].week != week:
        return None
    latest = reports[-1].figures
    if _opened(latest) >= _int(latest, "rural_target") + _int(latest, "urban_target"):
        return 0
    best, risen = _opened(reports[0].figures), reports[0].week  # a first report is the start, not a rise
    for report in reports[1:]:
        if _opened(report.figures) > best:
            best, risen = _opened(report.figures), report.week
    return risen.weeks_until(week)


def _opened(figures: Mapping[str, int | None]) -> int:
    return _int(figures, "rural_opened") + _int(figures, "urban_opened")


def district_progress(ev: Evaluation, lgd_code: int, week: Week, memo: TotalsMemo) -> Progress:
    """``memo`` holds the sums already made for this ``ev`` (compliance.Evaluation keeps one)."""
    cal = ev.calendar
    totals, unreported = _totals(ev, lgd_code, week, memo)
    t = totals or _Totals()
    increase = _increase(ev, lgd_code, week, memo)
    # Judged per DSP, on its own reports: one DSP that stops reporting must not hide another that stalls, and
    # one that has met its own target must not be blamed for the district.
    stalls = {dsp: s for dsp in ev.dsps_of(lgd_code, week) if (s := _stalled_weeks(ev, dsp, lgd_code, week))}
    stalled = min(max(stalls.values(), default=0), cal.no_progress_weeks)
    target = t.rural_target + t.urban_target
    reasons: list[LagReason] = []
    if totals is not None and target:
        if t.opened / target < cal.lag_threshold:
            reasons.append("below_threshold")
        if stalled >= cal.no_progress_weeks and t.opened < target:
            reasons.append("no_progress")
    stalled_dsps = tuple(d for d, s in stalls.items() if s >= cal.no_progress_weeks) if "no_progress" in reasons else ()
    return Progress(
        week=week,
        lgd_code=lgd_code,
        dsps=ev.dsps_of(lgd_code, week),
        unreported=unreported,
        rural_target=t.rural_target,
        rural_opened=t.rural_opened,
        urban_target=t.urban_target,
        urban_opened=t.urban_opened,
        functional=t.functional,
        b2c_enabled=t.b2c_enabled,
        increase=increase,
        stalled_weeks=stalled,
        lag_reasons=tuple(reasons),
        figures_week=t.as_of,
        stalled_dsps=stalled_dsps,
    )

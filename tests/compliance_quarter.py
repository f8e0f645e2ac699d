"""A simulated quarter for the compliance, compose and summary tests: 13 weeks (2026-W40 to 2026-W52), four DSPs
covering all 75 districts, and reports that arrive on time, late, never, corrected and invalid.

all_districts() is sorted by English name; the DSPs take 25 each in that order:

- CMS Computers (0-24, Agra .. Etawah): Sunday 18:00, after the reminder; in W42 late, Monday 15:00.
  Two contact addresses. Aligarh's opened count stops growing after W43 (no progress from W46);
  Ambedkar Nagar stays below half its target until W50 (achievement exactly 0.5 in W50: not lagging).
- Srei Sahaj (25-49, Farrukhabad .. Maharajganj): Saturday 10:00, before the reminder; never for Farrukhabad,
  whose DEGS has no address on the roster.
- UPDESCO (50-74, Mahoba .. Varanasi): Monday 09:00, before the deadline. Mahoba: only a rejected report in W40;
  in W41 a rejected one at 10:00, then a valid one at 11:00. Mainpuri: a correction every Tuesday (after the
  deadline) that changes its figures but not its timeliness.
- Shreetron: also Agra from W44 (Monday 26 Oct 2026), never reports; no contact address (its sender is used).

The calendar is the default: deadline Monday 12:00 IST, reminder a day before, escalation two days after,
action alert after two weeks out, summary Tuesday 10:00.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from mailbot.compliance import Notification, ReportFact
from mailbot.config import CalendarSettings
from mailbot.districts import all_districts
from mailbot.roster import Assignment, Dsp, Roster
from mailbot.weeks import Week, week_range

IST = ZoneInfo("Asia/Kolkata")
CALENDAR = CalendarSettings()
FIRST = Week(2026, 40)
LAST = Week(2026, 52)
WEEKS = week_range(FIRST, LAST)
CEG = ("jsk@ceg.up.gov.in", "monitor@ceg.up.gov.in")

CMS, SREI, UPD, SHREE = "CMS Computers", "Srei Sahaj", "UPDESCO", "Shreetron"
DISTRICTS = all_districts()
CMS_LGDS = tuple(d.lgd_code for d in DISTRICTS[:25])
SREI_LGDS = tuple(d.lgd_code for d in DISTRICTS[25:50])
UPD_LGDS = tuple(d.lgd_code for d in DISTRICTS[50:])
AGRA, ALIGARH, AMBEDKAR_NAGAR = 118, 119, 121  # CMS
FARRUKHABAD = 141  # Srei Sahaj, never reports, no DEGS address
MAHOBA, MAINPURI = 165, 166  # UPDESCO
SHREE_FROM = Week(2026, 44)


C = TypeVar("C")


def context_of(note: Notification, kind: type[C]) -> C:
    """The notification's context as the dataclass its kind builds; fails the test if it is another one."""
    context = note.context
    assert isinstance(context, kind), f"{note.key}: {type(context).__name__}, not {kind.__name__}"
    return context


def ist(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=IST)


def roster() -> Roster:
    start = FIRST.monday
    dsps = (
        Dsp(CMS, frozenset({"reports@cms.example"}), ("reports@cms.example", "ops@cms.example")),
        Dsp(SREI, frozenset({"jsk@srei.example"}), ("jsk@srei.example",)),
        Dsp(UPD, frozenset({"upd.jsk@gmail.com"}), ("upd.jsk@gmail.com",)),
        Dsp(SHREE, frozenset({"mis@shreetron.example"}), ()),
    )
    assignments = [Assignment(CMS, lgd, start, None) for lgd in CMS_LGDS]
    assignments += [Assignment(SREI, lgd, start, None) for lgd in SREI_LGDS]
    assignments += [Assignment(UPD, lgd, start, None) for lgd in UPD_LGDS]
    assignments.append(Assignment(SHREE, AGRA, SHREE_FROM.monday, None))
    degs = {d.lgd_code: (f"degs{d.lgd_code}@up.gov.in",) for d in DISTRICTS if d.lgd_code != FARRUKHABAD}
    return Roster(dsps, tuple(assignments), degs)


def figures(lgd: int, i: int, bump: int = 0) -> dict[str, int | None]:
    """Week ``i`` (0 = W40) figures: target 100 rural + 20 urban; 70 + i rural opened, 10 urban."""
    rural = 70 + i
    if lgd == ALIGARH:
        rural = 60 + 2 * min(i, 3)  # grows to W43, then stalls
    if lgd == AMBEDKAR_NAGAR:
        rural = 40 + i  # (50 + i) / 120 < 0.5 until i = 10 (W50)
    return {
        "rural_target": 100,
        "rural_opened": rural + bump,
        "urban_target": 20,
        "urban_opened": 10,
        "opened_this_week": 1,
        "functional": 50,
        "transacting": 40,
        "b2c_enabled": 10,
    }


def facts() -> list[ReportFact]:
    out: list[ReportFact] = []
    for i, week in enumerate(WEEKS):
        sat, sun, mon, tue = (week.monday + timedelta(days=d) for d in (5, 6, 7, 8))
        for lgd in CMS_LGDS:
            at = ist(mon, 15) if week == Week(2026, 42) else ist(sun, 18)
            out.append(ReportFact(CMS, lgd, week, at, True, figures(lgd, i)))
        for lgd in SREI_LGDS:
            if lgd != FARRUKHABAD:
                out.append(ReportFact(SREI, lgd, week, ist(sat, 10), True, figures(lgd, i)))
        for lgd in UPD_LGDS:
            if lgd == MAHOBA and i <= 1:
                out.append(ReportFact(UPD, lgd, week, ist(mon, 10), False, {}))
                if i == 1:
                    out.append(ReportFact(UPD, lgd, week, ist(mon, 11), True, figures(lgd, i)))
                continue
            out.append(ReportFact(UPD, lgd, week, ist(mon, 9), True, figures(lgd, i)))
            if lgd == MAINPURI:
                out.append(ReportFact(UPD, lgd, week, ist(tue, 15), True, figures(lgd, i, bump=5)))
    return out

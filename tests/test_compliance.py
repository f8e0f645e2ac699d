"""Compliance over a simulated quarter (see compliance_quarter.py for who reports when)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from compliance_quarter import (
    AGRA,
    ALIGARH,
    AMBEDKAR_NAGAR,
    CALENDAR,
    CEG,
    CMS,
    FARRUKHABAD,
    FIRST,
    LAST,
    MAHOBA,
    MAINPURI,
    SHREE,
    SREI,
    UPD,
    WEEKS,
    context_of,
    facts,
    ist,
    roster,
)

from mailbot.compliance import Evaluation, Notification, Rate, ReportFact, due_notifications, evaluate
from mailbot.ladder import (
    ActionContext,
    EscalationContext,
    OverdueContext,
    ReminderContext,
    SummaryContext,
    merge_moment,
)
from mailbot.weeks import Week, week_range

W46, W47 = Week(2026, 46), Week(2026, 47)
# W47 runs Monday 16 to Sunday 22 November 2026; its deadline is Monday 23 November, 12:00 IST.
SUN, MON, TUE, WED = (W47.monday + timedelta(days=d) for d in (6, 7, 8, 9))
DEGS_AGRA = "degs118@up.gov.in"


def due(now: datetime, extra: list[ReportFact] | None = None) -> list[Notification]:
    return due_notifications(roster(), facts() + (extra or []), CALENDAR, now, CEG)


def items(notes: list[Notification]) -> set[tuple[str, str, str]]:
    """(kind, week, DSP or district) of each notification, recipients folded."""
    return {(n.kind, str(n.week), n.key.split("/")[2]) for n in notes}


def of_week(notes: list[Notification], week: Week) -> list[Notification]:
    return [n for n in notes if n.week == week]


# What W46 still has in flight during W47's steps, by window (see mailbot.ladder).
W46_ESCALATIONS = {("escalation", "2026-W46", str(FARRUKHABAD)), ("escalation", "2026-W46", str(AGRA))}
W46_ALERTS = {("action_alert", "2026-W46", str(lgd)) for lgd in (FARRUKHABAD, AGRA, ALIGARH, AMBEDKAR_NAGAR)}
# Each DSP whose district office is asked to act against it is warned, once a week, about all such districts.
W46_WARNINGS = {("dsp_warning", "2026-W46", dsp) for dsp in (SREI, SHREE, CMS)}
W46_OVERDUE = {("overdue", "2026-W46", SREI), ("overdue", "2026-W46", SHREE)}
W46_SUMMARY = {("summary", "2026-W46", "statewide")}


def test_statuses_on_time_late_missing_invalid_pending() -> None:
    ev = Evaluation(roster(), facts(), CALENDAR, ist(WED, 12))
    w40, w41, w42 = FIRST, FIRST + 1, FIRST + 2
    assert ev.status(w40, UPD, MAHOBA).status == "invalid"
    assert ev.status(w40, UPD, MAHOBA).rejected == 1
    assert ev.status(w41, UPD, MAHOBA).status == "on_time"  # rejected at 10:00, corrected at 11:00
    assert ev.status(w42, CMS, AGRA).status == "late"
    assert ev.status(w40, SREI, FARRUKHABAD).status == "missing"
    # The Tuesday correction does not make Mainpuri late: the first valid receipt decides.
    assert ev.status(W46, UPD, MAINPURI).status == "on_time"
    assert ev.status(W46, UPD, MAINPURI).received_at == ist(W46.monday + timedelta(days=7), 9)
    before = Evaluation(roster(), facts(), CALENDAR, ist(SUN, 12))
    assert before.status(W47, CMS, AGRA).status == "pending"
    assert before.status(W47, SREI, FARRUKHABAD).status == "pending"
    assert before.status(W47, SREI, 142).status == "on_time"  # Fatehpur, sent Saturday
    # Shreetron owes Agra only from W44.
    assert (SHREE, AGRA) not in ev.expected(Week(2026, 43))
    assert (SHREE, AGRA) in ev.expected(Week(2026, 44))


def test_a_dsp_that_stops_reporting_is_not_accused_of_stalling_on_carried_figures() -> None:
    # CMS stops reporting Agra after W44: its W44 figures stand in for W45..W47 (labelled as such), but the weeks
    # it did not report have no known increase, so Agra never becomes "no progress" on figures CMS did not send.
    stopped = [f for f in facts() if not (f.dsp == CMS and f.lgd_code == AGRA and f.week > Week(2026, 44))]
    ev = Evaluation(roster(), stopped, CALENDAR, ist(WED, 12))
    for week in (Week(2026, 45), Week(2026, 46), W47):
        agra = {p.lgd_code: p for p in ev.progress(week)}[AGRA]
        assert agra.figures_week == Week(2026, 44) and agra.carried_forward
        assert agra.increase is None and agra.stalled_weeks == 0
        assert "no_progress" not in agra.lag_reasons
    # Reported weeks without an increase still count (Aligarh, above): this is only about unreported weeks.
    aligarh = {p.lgd_code: p for p in ev.progress(W47)}[ALIGARH]
    assert aligarh.figures_week == W47 and not aligarh.carried_forward and aligarh.lag_reasons == ("no_progress",)


def test_a_dsp_that_stalls_is_flagged_though_another_dsp_of_the_district_stopped_reporting() -> None:
    # Agra: CMS reports every week but its count stays at its W44 figure; Shreetron reports W44 once, then stops
    # (its figures are carried forward, so the district's own increase is unknown from W45 on).
    w44 = Week(2026, 44)
    cms_w44 = next(f for f in facts() if f.dsp == CMS and f.lgd_code == AGRA and f.week == w44)
    flat = [
        replace(f, figures=cms_w44.figures) if f.dsp == CMS and f.lgd_code == AGRA and f.week > w44 else f
        for f in facts()
    ]
    shree = ReportFact(
        SHREE,
        AGRA,
        w44,
        cms_w44.received_at,
        True,
        {"rural_target": 10, "rural_opened": 1, "urban_target": 0, "urban_opened": 0},
    )
    ev = Evaluation(roster(), [*flat, shree], CALENDAR, ist(WED, 12))
    agra = {p.lgd_code: p for p in ev.progress(W47)}[AGRA]
    assert agra.increase is None and agra.carried_forward  # Shreetron's W44 figures stand in
    assert agra.stalled_weeks == 3 and "no_progress" in agra.lag_reasons  # ...but CMS's own stall still shows


def test_a_dsp_at_its_own_target_is_no_stall_and_a_dip_and_recovery_is_no_rise() -> None:
    w44 = Week(2026, 44)
    # Agra: Shreetron has opened all 10 of its own target since W44; CMS keeps growing. Nobody stalls.
    done = [
        ReportFact(
            SHREE,
            AGRA,
            w,
            ist(w.monday + timedelta(days=6), 9),
            True,
            {"rural_target": 10, "rural_opened": 10, "urban_target": 0, "urban_opened": 0},
        )
        for w in week_range(w44, W47)
    ]
    agra = {p.lgd_code: p for p in Evaluation(roster(), [*facts(), *done], CALENDAR, ist(WED, 12)).progress(W47)}[AGRA]
    assert agra.increase and agra.increase > 0 and "no_progress" not in agra.lag_reasons and not agra.stalled_dsps
    # CMS's Agra count dips by one in W45 and comes back in W46: back to where it was is no rise.
    cms_w44 = next(f for f in facts() if f.dsp == CMS and f.lgd_code == AGRA and f.week == w44)
    dip = {**cms_w44.figures, "rural_opened": (cms_w44.figures["rural_opened"] or 0) - 1}
    flat = [
        replace(f, figures=dip if f.week == Week(2026, 45) else cms_w44.figures)
        if f.dsp == CMS and f.lgd_code == AGRA and f.week > w44
        else f
        for f in facts()
    ]
    agra = {p.lgd_code: p for p in Evaluation(roster(), flat, CALENDAR, ist(WED, 12)).progress(W47)}[AGRA]
    assert agra.stalled_weeks == 3 and "no_progress" in agra.lag_reasons
    assert agra.stalled_dsps == (CMS,)  # Shreetron never reported: it is missing, not stalled


def test_skipping_a_week_does_not_restart_the_count_without_an_increase() -> None:
    # Aligarh's count is flat from W43 (see above); without its W45 report the stall still reaches 3 by W47.
    skipped = [f for f in facts() if not (f.lgd_code == ALIGARH and f.week == Week(2026, 45))]
    ev = Evaluation(roster(), skipped, CALENDAR, ist(WED, 12))
    aligarh = {p.lgd_code: p for p in ev.progress(W47)}[ALIGARH]
    assert aligarh.lag_reasons == ("no_progress",) and aligarh.stalled_weeks == 3


def test_the_default_week_is_the_newest_week_past_its_deadline_even_before_the_first_week() -> None:
    # The README's rule: never a week whose deadline is ahead (every district "pending" says nothing). On a new
    # install that week comes before first_week; `status` says nobody was chased for it (tests/test_cli.py).
    started = replace(CALENDAR, first_week=Week(2026, 48))
    assert evaluate(roster(), facts(), started, ist(WED, 12)).week == W47  # W48's deadline is next Monday
    assert evaluate(roster(), facts(), CALENDAR, ist(WED, 12)).week == W47
    assert evaluate(roster(), facts(), CALENDAR, ist(MON, 12)).week == W47 - 1  # the deadline moment is in time


def test_the_deadline_moment_itself_is_in_time() -> None:
    due_at = ist(MON, 12)
    fact = ReportFact(SREI, FARRUKHABAD, W47, due_at, True, {})
    ev = Evaluation(roster(), [*facts(), fact], CALENDAR, due_at + timedelta(hours=1))
    assert ev.status(W47, SREI, FARRUKHABAD).status == "on_time"
    at_deadline = Evaluation(roster(), facts(), CALENDAR, due_at)
    assert at_deadline.status(W47, SREI, FARRUKHABAD).status == "pending"


def test_facts_after_now_are_not_seen() -> None:
    ev = Evaluation(roster(), facts(), CALENDAR, ist(SUN, 17))  # CMS sends at 18:00
    assert ev.status(W47, CMS, AGRA).status == "pending"


def test_rates_per_week_by_hand() -> None:
    calendar = replace(CALENDAR, history_weeks=13)
    report = evaluate(roster(), facts(), calendar, ist(LAST.monday + timedelta(days=9), 12), LAST)
    assert report.weeks == tuple(WEEKS)
    by_week = {str(r.week): r.statewide for r in report.rates}
    # W40: 75 expected; Farrukhabad missing, Mahoba invalid; 73 on time.
    assert by_week["2026-W40"] == Rate(expected=75, on_time=73, missing=1, invalid=1)
    assert by_week["2026-W40"].reporting_rate == pytest.approx(73 / 75)
    # W41: Mahoba corrected in time; only Farrukhabad missing.
    assert by_week["2026-W41"] == Rate(expected=75, on_time=74, missing=1)
    # W42: CMS's 25 late.
    assert by_week["2026-W42"] == Rate(expected=75, on_time=49, late=25, missing=1)
    assert by_week["2026-W42"].reporting_rate == pytest.approx(74 / 75)
    assert by_week["2026-W42"].on_time_rate == pytest.approx(49 / 75)
    assert by_week["2026-W43"] == Rate(expected=75, on_time=74, missing=1)
    # From W44 Shreetron also owes Agra and never sends it.
    for week in WEEKS[4:]:
        assert by_week[str(week)] == Rate(expected=76, on_time=74, missing=2)
        assert by_week[str(week)].reporting_rate == pytest.approx(74 / 76)

    w42 = report.rates[2]
    assert w42.by_dsp[CMS] == Rate(expected=25, late=25)
    assert w42.by_dsp[CMS].reporting_rate == 1.0
    assert w42.by_dsp[CMS].on_time_rate == 0.0
    assert w42.by_dsp[SREI] == Rate(expected=25, on_time=24, missing=1)
    assert w42.by_dsp[UPD] == Rate(expected=25, on_time=25)
    assert SHREE not in w42.by_dsp
    # Kanpur division: Auraiya, Etawah (CMS, late), Farrukhabad (missing), Kannauj, Kanpur Dehat, Kanpur Nagar.
    assert w42.by_division["Kanpur"] == Rate(expected=6, on_time=3, late=2, missing=1)
    assert w42.by_division["Kanpur"].reporting_rate == pytest.approx(5 / 6)
    # Agra division in W52: Agra x2 (Shreetron missing), Firozabad, Mainpuri, Mathura.
    assert report.week_rates.by_division["Agra"] == Rate(expected=5, on_time=4, missing=1)
    assert len(report.week_rates.by_division) == 18
    assert sum(r.expected for r in report.week_rates.by_division.values()) == 76


def test_missing_weeks_and_streaks() -> None:
    ev = Evaluation(roster(), facts(), CALENDAR, ist(WED, 12))
    assert ev.missing_weeks(SREI, FARRUKHABAD) == tuple(WEEKS[:8])  # W40..W47
    assert ev.missing_streak(SREI, FARRUKHABAD, W47) == 8
    assert ev.missing_weeks(SHREE, AGRA) == tuple(WEEKS[4:8])  # W44..W47
    assert ev.missing_streak(SHREE, AGRA, W47) == 4
    assert ev.missing_weeks(UPD, MAHOBA) == (FIRST,)
    assert ev.missing_streak(UPD, MAHOBA, FIRST + 1) == 0
    assert ev.missing_streak(CMS, AGRA, Week(2026, 42)) == 0  # late is reported


def test_progress_by_hand() -> None:
    ev = Evaluation(roster(), facts(), CALENDAR, ist(WED, 12))
    progress = {p.lgd_code: p for p in ev.progress(W47)}  # W47 is week i = 7
    agra = progress[AGRA]
    assert agra.dsps == (CMS, SHREE)
    assert agra.unreported == (SHREE,)
    assert (agra.rural_opened, agra.urban_opened, agra.target) == (77, 10, 120)
    assert agra.achievement == pytest.approx(87 / 120)
    assert agra.increase == 1
    assert agra.gap == 33
    assert agra.b2c_uptake == pytest.approx(10 / 50)
    assert not agra.lagging
    # Aligarh: 66 rural from W43 on, so no increase in W44..W47; lagging from the third such week.
    assert progress[ALIGARH].increase == 0
    assert progress[ALIGARH].stalled_weeks == 3
    assert progress[ALIGARH].lag_reasons == ("no_progress",)
    assert {p.lgd_code: p for p in ev.progress(Week(2026, 45))}[ALIGARH].lag_reasons == ()
    # Ambedkar Nagar: (50 + 7) / 120 below 0.5.
    assert progress[AMBEDKAR_NAGAR].lag_reasons == ("below_threshold",)
    late_ev = Evaluation(roster(), facts(), CALENDAR, ist(LAST.monday + timedelta(days=9), 12))
    w50 = {p.lgd_code: p for p in late_ev.progress(Week(2026, 50))}
    assert w50[AMBEDKAR_NAGAR].achievement == 0.5
    assert not w50[AMBEDKAR_NAGAR].lagging
    # Mainpuri: the Tuesday correction (+5) is the figure in force.
    assert progress[MAINPURI].rural_opened == 82
    # Farrukhabad never reported: no figures, not judged on progress.
    assert not progress[FARRUKHABAD].has_figures
    assert progress[FARRUKHABAD].achievement is None
    assert not progress[FARRUKHABAD].lagging


def test_before_the_reminder_only_last_weeks_steps() -> None:
    notes = due(ist(SUN, 11, 59))
    assert of_week(notes, W47) == []
    assert items(notes) == W46_ESCALATIONS | W46_ALERTS | W46_WARNINGS | W46_OVERDUE | W46_SUMMARY


def test_reminder_the_day_before_the_deadline() -> None:
    notes = due(ist(SUN, 12))
    reminders = [n for n in notes if n.kind == "reminder"]
    assert sorted(n.key for n in reminders) == [
        "reminder/2026-W47/CMS Computers/ops@cms.example",
        "reminder/2026-W47/CMS Computers/reports@cms.example",
        "reminder/2026-W47/Shreetron/mis@shreetron.example",  # no contact address: its sender
        "reminder/2026-W47/Srei Sahaj/jsk@srei.example",
        "reminder/2026-W47/UPDESCO/upd.jsk@gmail.com",
    ]
    by_dsp = {n.dsp: n for n in reminders}
    assert by_dsp[SREI].lgd_codes == (FARRUKHABAD,)  # the other 24 came on Saturday
    assert len(by_dsp[CMS].lgd_codes) == 25
    assert by_dsp[CMS].to == ("reports@cms.example", "ops@cms.example")
    assert by_dsp[CMS].due_at == ist(SUN, 12)
    assert [d.missing_weeks for d in context_of(by_dsp[SREI], ReminderContext).districts] == [tuple(WEEKS[:7])]
    assert items(notes) - items(reminders) == W46_ESCALATIONS | W46_ALERTS | W46_WARNINGS | W46_OVERDUE | W46_SUMMARY


def test_a_district_that_reported_meanwhile_drops_out_and_catch_up_is_kept() -> None:
    # The daemon slept through Sunday noon; at Monday 09:30 the reminder still goes, for what is still pending.
    notes = due(ist(MON, 9, 30))
    reminders = {n.dsp: n for n in notes if n.kind == "reminder"}
    assert set(reminders) == {SREI, SHREE}  # CMS sent Sunday 18:00, UPDESCO Monday 09:00
    assert reminders[SREI].key == "reminder/2026-W47/Srei Sahaj/jsk@srei.example"  # as it would have been
    assert reminders[SREI].due_at == ist(SUN, 12)
    # Farrukhabad sends at 09:45: Srei Sahaj has nothing pending, so no reminder at all.
    sent = ReportFact(SREI, FARRUKHABAD, W47, ist(MON, 9, 45), True, {})
    assert {n.dsp for n in due(ist(MON, 10), [sent]) if n.kind == "reminder"} == {SHREE}


def test_after_the_deadline_only_the_overdue_notice() -> None:
    notes = due(ist(MON, 12, 1))
    assert [n for n in notes if n.kind == "reminder"] == []  # moot: the overdue notice replaces it
    assert items(of_week(notes, W47)) == {("overdue", "2026-W47", SREI), ("overdue", "2026-W47", SHREE)}
    srei = next(n for n in notes if n.kind == "overdue" and n.dsp == SREI)
    assert srei.lgd_codes == (FARRUKHABAD,)
    assert context_of(srei, OverdueContext).districts[0].missing_weeks == tuple(WEEKS[:8])
    # Last week's overdue notice is superseded by this week's; its escalation and summary are still current.
    assert items(of_week(notes, W46)) == W46_ESCALATIONS | W46_ALERTS | W46_WARNINGS | W46_SUMMARY


def test_the_summary_on_tuesday() -> None:
    notes = due(ist(TUE, 10))
    summaries = [n for n in notes if n.kind == "summary"]
    assert sorted(n.key for n in summaries) == [
        "summary/2026-W47/statewide/jsk@ceg.up.gov.in",
        "summary/2026-W47/statewide/monitor@ceg.up.gov.in",
    ]
    report = context_of(summaries[0], SummaryContext).report
    assert report.week == W47
    assert report.week_rates.statewide == Rate(expected=76, on_time=74, missing=2)
    assert {"summary"} == {n.kind for n in due(ist(TUE, 9, 59)) if n.kind == "summary"}
    assert {n.week for n in due(ist(TUE, 9, 59)) if n.kind == "summary"} == {W46}


def test_escalation_two_days_after_the_deadline() -> None:
    notes = due(ist(WED, 12))
    escalations = sorted((n for n in notes if n.kind == "escalation"), key=lambda n: n.key)
    assert [n.key for n in escalations] == [
        f"escalation/2026-W47/{AGRA}/degs118@up.gov.in",
        f"escalation/2026-W47/{FARRUKHABAD}/jsk@ceg.up.gov.in",
        f"escalation/2026-W47/{FARRUKHABAD}/monitor@ceg.up.gov.in",
    ]
    agra = escalations[0]
    # No per-district copy to CEG (its weekly summary lists these districts); the DEGS's reply goes to CEG.
    assert (agra.to, agra.cc) == ((DEGS_AGRA,), ())
    agra_context = context_of(agra, EscalationContext)
    assert agra_context.reply_to == CEG
    assert [(o.dsp, o.missing_weeks) for o in agra_context.dsps] == [(SHREE, tuple(WEEKS[4:8]))]
    farrukhabad = escalations[1]
    assert (farrukhabad.to, farrukhabad.cc) == (CEG, ())  # no DEGS address on the roster
    assert context_of(farrukhabad, EscalationContext).no_degs_address is True
    assert items(of_week(notes, W47)) == {
        ("overdue", "2026-W47", SREI),
        ("overdue", "2026-W47", SHREE),
        ("summary", "2026-W47", "statewide"),
        ("escalation", "2026-W47", str(AGRA)),
        ("escalation", "2026-W47", str(FARRUKHABAD)),
        *(("action_alert", "2026-W47", str(lgd)) for lgd in (FARRUKHABAD, AGRA, ALIGARH, AMBEDKAR_NAGAR)),
        *(("dsp_warning", "2026-W47", dsp) for dsp in (SREI, SHREE, CMS)),
    }
    assert of_week(notes, W46) == []
    assert of_week(due(ist(WED, 11, 59)), W47 - 1) != []


def test_a_degs_gets_one_email_with_the_escalation_and_the_action_alert_due_together() -> None:
    pending = merge_moment(due(ist(WED, 12)))
    to_agra = [n for n in pending if n.recipient == DEGS_AGRA]
    # Agra's DSP Shreetron is out for the 4th week: "not reported" and "action needed" in one email.
    assert [(n.kind, n.key, n.carries) for n in to_agra] == [
        ("escalation", f"escalation/2026-W47/{AGRA}/{DEGS_AGRA}", (f"action_alert/2026-W47/{AGRA}/{DEGS_AGRA}",)),
    ]
    action = context_of(to_agra[0], EscalationContext).action
    assert action is not None
    assert [o.dsp for o in action.dsps] == [SHREE]
    # Aligarh only lags (its reports arrive): its alert goes alone. Nothing is dropped: every key is sent or carried.
    assert [n.kind for n in pending if n.lgd_codes == (ALIGARH,)] == ["action_alert"]
    keys = {n.key for n in pending} | {k for n in pending for k in n.carries}
    assert keys == {n.key for n in due(ist(WED, 12))}
    # Each address gets at most one email about a district at this moment.
    moments = [(n.recipient, n.week, n.lgd_codes) for n in pending if n.kind in ("escalation", "action_alert")]
    assert len(moments) == len(set(moments))
    # Already queued on its own (an earlier check), the alert is not carried again: the escalation goes alone.
    alone = merge_moment([n for n in due(ist(WED, 12)) if n.key != f"action_alert/2026-W47/{AGRA}/{DEGS_AGRA}"])
    agra = next(n for n in alone if n.recipient == DEGS_AGRA)
    assert (agra.kind, agra.carries) == ("escalation", ())
    assert context_of(agra, EscalationContext).action is None


def test_action_alert_after_consecutive_weeks_or_lagging() -> None:
    alerts = {
        n.lgd_codes[0]: context_of(n, ActionContext)
        for n in due(ist(WED, 12))
        if n.kind == "action_alert" and n.week == W47
    }
    assert alerts[FARRUKHABAD].dsps[0].streak == 8
    assert [o.dsp for o in alerts[AGRA].dsps] == [SHREE]
    assert alerts[ALIGARH].dsps == ()
    assert alerts[ALIGARH].progress.lag_reasons == ("no_progress",)
    assert alerts[AMBEDKAR_NAGAR].progress.lag_reasons == ("below_threshold",)
    # Shreetron's first week out (W44) is one week: no alert yet; the second (W45) is two.
    first = due(ist(Week(2026, 44).monday + timedelta(days=9), 12))
    assert ("action_alert", "2026-W44", str(AGRA)) not in items(first)
    second = due(ist(Week(2026, 45).monday + timedelta(days=9), 12))
    assert ("action_alert", "2026-W45", str(AGRA)) in items(second)


def test_a_late_report_makes_escalation_and_alert_moot() -> None:
    late = ReportFact(SREI, FARRUKHABAD, W47, ist(TUE, 9), True, {})
    notes = due(ist(WED, 12), [late])
    assert ("escalation", "2026-W47", str(FARRUKHABAD)) not in items(notes)
    assert ("action_alert", "2026-W47", str(FARRUKHABAD)) not in items(notes)
    assert ("overdue", "2026-W47", SREI) not in items(notes)
    assert ("escalation", "2026-W47", str(AGRA)) in items(notes)


def test_keys_are_stable_across_evaluations() -> None:
    first = due(ist(MON, 13))
    again = due(ist(MON, 13))
    assert [n.key for n in first] == [n.key for n in again]
    assert len({n.key for n in first}) == len(first)
    later = {n.key for n in due(ist(MON, 20))}
    assert {n.key for n in first if n.week == W47} <= later


def test_a_new_recipient_gets_one_copy_and_nobody_else_a_second() -> None:
    before = {n.key for n in due(ist(WED, 12))}
    base = roster()
    extended = replace(base, degs={**base.degs, AGRA: (DEGS_AGRA, "edm.agra@up.gov.in")})
    after = {n.key for n in due_notifications(extended, facts(), CALENDAR, ist(WED, 13), CEG)}
    # Every earlier key is unchanged (the outbox already has them); the new address adds its own keys only.
    assert before <= after
    assert after - before == {
        f"escalation/2026-W47/{AGRA}/edm.agra@up.gov.in",
        f"action_alert/2026-W47/{AGRA}/edm.agra@up.gov.in",
    }


@pytest.mark.slow
def test_a_quarter_of_hourly_checks_sends_each_email_once() -> None:
    """Run the check every hour for the quarter and queue by key, as the service does."""
    r, f = roster(), facts()
    outbox: dict[str, Notification] = {}
    now = ist(FIRST.monday, 0)
    end = ist(LAST.monday + timedelta(days=9), 13)  # W52's escalation is Wednesday 30 December 12:00
    while now <= end:
        for n in due_notifications(r, [x for x in f if x.received_at <= now], CALENDAR, now, CEG):
            outbox.setdefault(n.key, n)
        now += timedelta(hours=1)
    count: dict[str, int] = {}
    for n in outbox.values():
        count[n.kind] = count.get(n.kind, 0) + 1
    # Reminders (Sunday noon, all pending but Srei Sahaj's 24): CMS x2 contacts, Srei, UPDESCO; Shreetron from W44.
    assert count["reminder"] == 13 * 4 + 9 * 1
    # Overdue: Srei (Farrukhabad) every week, UPDESCO in W40 (Mahoba invalid), CMS x2 in W42 (late at 15:00,
    # after the 13:00 check), Shreetron W44..W52.
    assert count["overdue"] == 13 + 1 + 2 + 9
    # Escalations: Farrukhabad to CEG x2 every week (no DEGS address); Mahoba W40 and Agra W44..W52 to the DEGS.
    assert count["escalation"] == 13 * 2 + 1 + 9
    # Action alerts: Farrukhabad W41..W52 (x2), Agra W45..W52, Aligarh W46..W52, Ambedkar Nagar W40..W49.
    assert count["action_alert"] == 12 * 2 + 8 + 7 + 10
    assert count["summary"] == 13 * 2
    # Warnings to the DSPs acted against: Srei W41..W52, Shreetron W45..W52, CMS (Ambedkar Nagar, then Aligarh)
    # W40..W52 x2 contacts: one email a week each, however many districts.
    assert count["dsp_warning"] == 12 + 8 + 13 * 2
    assert set(count) == {"reminder", "overdue", "escalation", "action_alert", "dsp_warning", "summary"}
    # The CMS W42 overdue notice went out although CMS reported two hours later: it was true when queued.
    assert f"overdue/2026-W42/{CMS}/ops@cms.example" in outbox


def test_catch_up_is_limited_to_the_history_window() -> None:
    # Years later with nothing received: only the last history_weeks are named, and only the latest steps are due.
    now = ist(FIRST.monday + timedelta(weeks=200, days=2), 12)
    notes = due_notifications(roster(), [], CALENDAR, now, CEG)
    assert {n.kind for n in notes} == {"overdue", "escalation", "action_alert", "dsp_warning", "summary"}
    latest = Week.containing(now.date()) - 1
    assert {n.week for n in notes} == {latest}
    srei = next(n for n in notes if n.kind == "overdue" and n.dsp == SREI)
    assert len(context_of(srei, OverdueContext).districts[0].missing_weeks) == CALENDAR.history_weeks


def test_reminders_off_and_no_overdue_notice() -> None:
    calendar = replace(CALENDAR, reminder_days_before=0, overdue_notice=False)
    kinds = {n.kind for n in due_notifications(roster(), facts(), calendar, ist(MON, 11), CEG)}
    kinds |= {n.kind for n in due_notifications(roster(), facts(), calendar, ist(MON, 13), CEG)}
    assert "reminder" not in kinds
    assert "overdue" not in kinds


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError, match="aware"):
        Evaluation(roster(), [], CALENDAR, datetime(2026, 11, 23, 12))  # noqa: DTZ001

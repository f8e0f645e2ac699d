"""`mailbot status`: per district and DSP for one week, what arrived, when, from which message, the figures, the
problems, and the compliance picture. ``as_json`` is a stable, documented format (README, "status --json"):
fields may be added, never renamed or removed without a version bump of ``format``.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from mailbot.compliance import Rate, WeeklyReport
from mailbot.districts import by_code
from mailbot.queries import rejected_messages
from mailbot.store import Dsp, Ledger, Problem, ReportRow, Submission
from mailbot.weeks import Week
from mailbot.workbook import FIGURES

FORMAT = 1


def week_status(
    session: Session, report: WeeklyReport, zone: ZoneInfo, first_week: Week | None = None
) -> dict[str, Any]:
    """The week as ``status --json`` shows it; times in ``zone``, the reporting time zone. ``first_week``: the
    week DSPs are held to account from (``calendar.first_week``), named when the week shown is before it."""
    week = str(report.week)
    dsp_ids = {d.name: d.id for d in session.exec(select(Dsp))}
    names = {v: k for k, v in dsp_ids.items()}
    rows = {
        (names.get(r.dsp_id, "?"), r.lgd_code): r
        for r in session.exec(select(ReportRow).where(ReportRow.week == week, col(ReportRow.current)))
    }
    messages = _messages_for(session, rows)
    problems: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for problem, ledger in session.exec(
        select(Problem, Ledger)
        .join(Ledger, col(Problem.ledger_id) == col(Ledger.id))
        .where(Problem.week == week, col(Problem.lgd_code).is_not(None))
    ):
        assert problem.lgd_code is not None  # noqa: S101 - filtered
        problems[(names.get(ledger.dsp_id or -1, "?"), problem.lgd_code)].append(_problem(problem))
    # A whole report rejected (unreadable file, nothing attached) names no district: the DSP's latest such
    # message of the week explains the invalid districts that have no problem of their own.
    latest: dict[str, tuple[int, list[dict[str, Any]]]] = {}  # DSP -> (ledger id, its whole-report errors)
    for ledger, weeks in rejected_messages(session, zone):
        dsp = names.get(ledger.dsp_id or -1, "?")
        if report.week not in weeks or (dsp in latest and latest[dsp][0] > (ledger.id or 0)):
            continue
        whole = [
            _problem(p)
            for p in session.exec(
                select(Problem).where(
                    Problem.ledger_id == ledger.id, Problem.severity == "error", col(Problem.lgd_code).is_(None)
                )
            )
        ]
        if whole:
            latest[dsp] = (ledger.id or 0, whole)
    for dsp, (_, whole) in latest.items():
        for cell in report.cells:
            if cell.dsp == dsp and cell.status == "invalid" and not problems.get((dsp, cell.lgd_code)):
                problems[(dsp, cell.lgd_code)] = list(whole)
    entries = []
    for cell in report.cells:
        district = by_code(cell.lgd_code)
        row = rows.get((cell.dsp, cell.lgd_code))
        entries.append(
            {
                "dsp": cell.dsp,
                "lgd_code": cell.lgd_code,
                "district": district.name_en,
                "district_hi": district.name_hi,
                "division": district.division,
                "status": cell.status,
                # In the reporting time zone, like the deadline it is compared with.
                "received_at": _iso(cell.received_at.astimezone(zone) if cell.received_at else None),
                "missing_weeks": report.missing_streaks.get((cell.dsp, cell.lgd_code), 0),
                "rejected_rows": cell.rejected,
                "message": messages.get(row.submission_id) if row else None,
                "figures": {k: getattr(row, k) for k in FIGURES} | {"remarks": row.remarks} if row else None,
                "problems": problems.get((cell.dsp, cell.lgd_code), []),
            }
        )
    rates = report.week_rates
    return {
        "format": FORMAT,
        "week": week,
        "week_start": report.week.monday.isoformat(),
        "week_end": report.week.sunday.isoformat(),
        "as_of": _iso(report.as_of.astimezone(zone)),
        "deadline": _iso(report.deadline),
        "timezone": str(zone),
        "statewide": _rate(rates.statewide),
        "by_dsp": {name: _rate(r) for name, r in rates.by_dsp.items()},
        "by_division": {name: _rate(r) for name, r in rates.by_division.items()},
        "districts": entries,
        "progress": [_progress(p) for p in report.progress],
        # Added in format 1: the week reporting through mailbot began; a week before it was never chased.
        "first_week": str(first_week) if first_week else None,
    }


def _messages_for(session: Session, rows: dict[tuple[str, int], ReportRow]) -> dict[int, dict[str, Any]]:
    found: dict[int, dict[str, Any]] = {}
    ids = {r.submission_id for r in rows.values()}
    if not ids:
        return found
    for submission, ledger in session.exec(
        select(Submission, Ledger)
        .join(Ledger, col(Submission.ledger_id) == col(Ledger.id))
        .where(col(Submission.id).in_(ids))
    ):
        assert submission.id is not None  # noqa: S101
        found[submission.id] = {
            "ledger_id": ledger.id,
            "message_id": ledger.message_id,
            "uid": ledger.uid if ledger.account != "import" else None,
            "sender": ledger.sender,
            "subject": ledger.subject,
            "attachment": submission.filename,
            "week_source": submission.week_source,
        }
    return found


def _problem(p: Problem) -> dict[str, Any]:
    return {
        "severity": p.severity,
        "code": p.code,
        "message": p.message,
        "message_hi": p.message_hi,
        "file": p.file,
        "sheet": p.sheet,
        "cell": p.cell,
    }


def _rate(rate: Rate) -> dict[str, Any]:
    return {
        "expected": rate.expected,
        "reported": rate.reported,
        "on_time": rate.on_time,
        "late": rate.late,
        "missing": rate.missing,
        "invalid": rate.invalid,
        "pending": rate.pending,
        "reporting_rate": _round(rate.reporting_rate),
        "on_time_rate": _round(rate.on_time_rate),
    }


def _progress(p: Any) -> dict[str, Any]:
    district = by_code(p.lgd_code)
    return {
        "lgd_code": p.lgd_code,
        "district": district.name_en,
        "dsps": list(p.dsps),
        "unreported": list(p.unreported),
        "rural_target": p.rural_target,
        "rural_opened": p.rural_opened,
        "urban_target": p.urban_target,
        "urban_opened": p.urban_opened,
        "achievement": _round(p.achievement),
        "gap": p.gap,
        "increase": p.increase,
        "b2c_uptake": _round(p.b2c_uptake),
        "lagging": p.lagging,
        "lag_reasons": list(p.lag_reasons),
        "figures_week": str(p.figures_week) if p.figures_week else None,
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def table(status: dict[str, Any]) -> str:
    """The human view: one line per (district, DSP), then the rates."""
    deadline = datetime.fromisoformat(status["deadline"])
    lines = [
        f"Week {status['week']} ({status['week_start']} to {status['week_end']}), deadline "
        f"{deadline:%a %d %b %Y %H:%M}; times in {status['timezone']}"
    ]
    first = status.get("first_week")
    if first and status["week"] < first:  # ISO week names sort in time order
        lines.append(
            f"Reporting through mailbot starts with week {first}: nobody was asked or chased for this week "
            f"(`--week {first}` shows that one)"
        )
    lines.append(
        f"{'District':<22} {'LGD':>4}  {'DSP':<34} {'Status':<8} {'Received':<17} {'Rural':>11} {'Urban':>11}  Problems"
    )
    for e in status["districts"]:
        fig = e["figures"]
        rural = f"{fig['rural_opened']}/{fig['rural_target']}" if fig else "-"
        urban = f"{fig['urban_opened']}/{fig['urban_target']}" if fig else "-"
        received = (e["received_at"] or "-")[:16].replace("T", " ")
        lines.append(
            f"{e['district'][:22]:<22} {e['lgd_code']:>4}  {e['dsp'][:34]:<34} {e['status']:<8} "
            f"{received:<17} {rural:>11} {urban:>11}  {len(e['problems']) or ''}"
        )
    s = status["statewide"]
    lines.append("")
    lines.append(
        f"Statewide: {s['reported']}/{s['expected']} reported ({_pct(s['reporting_rate'])}), "
        f"{s['on_time']} on time ({_pct(s['on_time_rate'])}), {s['late']} late, {s['missing']} missing, "
        f"{s['invalid']} invalid, {s['pending']} pending"
    )
    for name, r in status["by_dsp"].items():
        lines.append(f"  {name:<40} {r['reported']:>3}/{r['expected']:<3} reported, {r['on_time']:>3} on time")
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"

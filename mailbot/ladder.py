"""The escalation ladder: which emails are due at ``now``.

Each step for week W, with d(W) its deadline (all offsets from ``CalendarSettings``), is due from a moment and
stays *relevant* until a later step or the next week's same step supersedes it. ``ladder_due`` returns every
step whose window contains ``now`` — that is the catch-up: a reminder the daemon slept through still goes out
at the next check if the deadline has not passed. The service queues each result under ``Notification.key``
and never sends a key twice, so returning the same notification at every check is expected.

| kind         | to (cc)         | relevant from        | until (exclusive)      | lists                   |
|--------------|-----------------|----------------------|------------------------|-------------------------|
| reminder     | DSP contacts    | d(W) - reminder_days | d(W)                   | its pending districts   |
| overdue      | DSP contacts    | d(W)                 | d(W+1)                 | its outstanding ones    |
| escalation   | DEGS            | d(W) + escalate_days | d(W+1) + escalate_days | DSPs outstanding in W   |
| action_alert | DEGS            | d(W) + escalate_days | d(W+1) + escalate_days | K weeks out, or lagging |
| dsp_warning  | DSP contacts    | d(W) + escalate_days | d(W+1) + escalate_days | districts acted against |
| summary      | CEG             | s(W)                 | s(W+1)                 | the whole week          |

s(W) is the first ``summary_weekday`` after W at ``summary_time``. ``reminder_days_before = 0`` means no
reminder (its window is empty); ``overdue_notice = false`` drops the overdue step. Each step lists only what
is still outstanding at ``now``; with nothing left it is not returned (moot). The overdue notice and the
escalation name every week outstanding for the pair since ``Evaluation.first_week``, so a superseded step
loses nothing.

CEG gets no per-district copy of an escalation or alert (its weekly summary lists the same districts); their
``Reply-To`` is CEG, so the DEGS's answer reaches it. A district without a DEGS address goes to CEG instead. An
escalation and an action alert due to one address for one district go as one email (``merge_moment``).

One notification per envelope recipient, keyed ``kind/week/DSP-or-LGD/recipient``: the ``to``/``cc`` tuples
are the visible headers (everyone who gets a copy), ``recipient`` is the one address this copy is delivered
to. A recipient added to the roster later gets their copy once; nobody already served gets a second. A
district without a DEGS address is escalated to CEG alone (``context.no_degs_address``), so it is never
silently dropped; when several are due at one check, CEG gets one email listing them all (``merge_moment``).
A DSP without contact addresses is written to at its sender addresses.

Each kind has its own frozen context dataclass (``ReminderContext`` ... ``SummaryContext``), built here and read
by attribute in ``compose``. Contexts are never stored: the outbox keeps the composed email, not its context.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import cached_property
from typing import Literal, NamedTuple

from mailbot.evaluation import EvaluationLike as Evaluation
from mailbot.evaluation import Progress, WeeklyReport, weekly_report
from mailbot.roster import Dsp
from mailbot.weeks import Week, deadline, week_range

# The operator's auth_failure email is composed by the service directly: it is no ladder step.
Kind = Literal["reminder", "overdue", "escalation", "action_alert", "dsp_warning", "summary"]
_KIND_ORDER: tuple[Kind, ...] = (
    "reminder",
    "overdue",
    "escalation",
    "action_alert",
    "dsp_warning",
    "summary",
)


@dataclass(frozen=True)
class Outstanding:
    """One (DSP, district) the notification is about."""

    dsp: str
    lgd_code: int
    status: str  # its status in the notification's week: pending, missing or invalid
    missing_weeks: tuple[Week, ...]  # every week outstanding for the pair since first_week, oldest first
    streak: int  # consecutive outstanding weeks ending with the notification's week


@dataclass(frozen=True)
class ReminderContext:
    """reminder: the DSP's districts still pending before the deadline."""

    deadline: datetime
    districts: tuple[Outstanding, ...]  # by LGD code


@dataclass(frozen=True)
class OverdueContext:
    """overdue: the DSP's districts missing or invalid once the deadline has passed."""

    deadline: datetime
    districts: tuple[Outstanding, ...]  # by LGD code


@dataclass(frozen=True)
class ActionContext:
    """action_alert: the DEGS is asked to act against a DSP (also carried by an escalation: ``action``)."""

    deadline: datetime
    lgd_code: int
    dsps: tuple[Outstanding, ...]  # only those out for ``threshold`` weeks or more
    threshold: int
    progress: Progress  # its ``lag_reasons`` say whether progress lags
    contacts: Mapping[str, tuple[str, ...]]  # DSP name -> its contact addresses, for the DEGS to write to
    no_degs_address: bool  # sent to CEG instead
    reply_to: tuple[str, ...]  # CEG: the DEGS's answer is for it


@dataclass(frozen=True)
class EscalationContext:
    """escalation: the district's DSPs outstanding for the week."""

    deadline: datetime
    lgd_code: int
    dsps: tuple[Outstanding, ...]
    contacts: Mapping[str, tuple[str, ...]]
    no_degs_address: bool
    reply_to: tuple[str, ...]
    action: ActionContext | None = None  # the district's action alert, when this email carries it (merge_moment)


@dataclass(frozen=True)
class NoDegsContext:
    """escalation or action_alert to CEG about several districts without a DEGS address, due at one check: one
    email listing each district's notice (``merge_moment``)."""

    deadline: datetime
    notices: tuple[EscalationContext | ActionContext, ...]  # one per district, by LGD code
    reply_to: tuple[str, ...]


@dataclass(frozen=True)
class WarnedDistrict:
    """One district whose DEGS is asked to act against the DSP."""

    lgd_code: int
    streak: int  # consecutive weeks out (0: asked because progress lags)
    progress: Progress


@dataclass(frozen=True)
class DspWarningContext:
    """dsp_warning: every district whose DEGS is asked this week to act against the DSP."""

    deadline: datetime
    districts: tuple[WarnedDistrict, ...]
    threshold: int


@dataclass(frozen=True)
class SummaryContext:
    """summary: CEG's week. The WeeklyReport is built on first use: a check that finds the summary queued already
    never composes it, and on a year of history building it was a tenth of the check (issue 11)."""

    deadline: datetime
    build: Callable[[], WeeklyReport] = field(repr=False, compare=False)

    @cached_property
    def report(self) -> WeeklyReport:
        return self.build()


Context = (
    ReminderContext
    | OverdueContext
    | EscalationContext
    | ActionContext
    | NoDegsContext
    | DspWarningContext
    | SummaryContext
)


@dataclass(frozen=True)
class Notification:
    """One email to one recipient; ``context`` is the kind's own dataclass (an escalation or action alert to CEG
    carrying other districts without a DEGS address has a ``NoDegsContext``)."""

    kind: Kind
    key: str
    week: Week
    recipient: str  # the envelope recipient; the key names it
    to: tuple[str, ...]  # visible To header
    cc: tuple[str, ...]  # visible Cc header
    dsp: str | None
    lgd_codes: tuple[int, ...]
    due_at: datetime
    context: Context
    # Keys of other steps this email carries (merge_moment): queued once, they are never sent on their own.
    carries: tuple[str, ...] = ()


# Steps that say a report is *missing* (or, for CEG's summary, state who is missing as fact). Each is held
# while the mailbox has not been read completely since the week's deadline, or not recently: an unread report
# is not a missing one. Reminders say "due", not "missing", and go out regardless. The summary is held rather
# than sent with a caveat: CEG forwards its "missing" column to districts, and the next summary after the
# mailbox recovers carries the same history.
NEEDS_FRESH_READ: frozenset[Kind] = frozenset({"overdue", "escalation", "action_alert", "dsp_warning", "summary"})


def held_because(n: Notification, read_at: datetime | None, now: datetime, max_age: timedelta) -> str | None:
    """Why ``n`` must wait for a fresh read of the mailbox (None: it may go). ``read_at`` is when the last
    complete, successful pass over the mailbox *started*: mail that arrived before it was read."""
    if n.kind not in NEEDS_FRESH_READ:
        return None
    if read_at is None:
        return "the mailbox has never been read completely"
    due = n.context.deadline
    when = read_at.astimezone(due.tzinfo).strftime("%a %d %b %H:%M %Z")
    if read_at <= due:
        return f"the mailbox was last read completely at {when}, not since week {n.week}'s deadline"
    if now - read_at > max_age:
        minutes = (now - read_at).total_seconds() / 60.0
        return (
            f"the mailbox was last read completely at {when}, {minutes:.0f} min before this check "
            f"(allowed {max_age.total_seconds() / 60.0:.0f} min)"
        )
    return None


def ladder_due(ev: Evaluation, ceg_addresses: Sequence[str]) -> list[Notification]:
    ceg = _addresses(ceg_addresses)
    found: list[Notification] = []
    for week in week_range(ev.first_week, ev.current_week):
        found.extend(_dsp_steps(ev, week))
        found.extend(_district_steps(ev, week, ceg))
        found.extend(_summary(ev, week, ceg))
    found.sort(key=lambda n: (n.due_at, _KIND_ORDER.index(n.kind), n.key))
    return found


def _within(ev: Evaluation, start: datetime, end: datetime) -> bool:
    return start <= ev.now < end


def _contacts(dsp: Dsp) -> tuple[str, ...]:
    return dsp.contact_addresses or tuple(sorted(dsp.sender_addresses))


def _addresses(addresses: Sequence[str]) -> tuple[str, ...]:
    """Case-folded, de-duplicated, order kept: the key and the envelope must not differ by case."""
    seen: dict[str, None] = {}
    for address in addresses:
        if address.strip():
            seen.setdefault(address.strip().lower(), None)
    return tuple(seen)


def _fan_out(
    *,
    kind: Kind,
    week: Week,
    about: str,
    to: tuple[str, ...],
    cc: tuple[str, ...],
    dsp: str | None,
    lgd_codes: tuple[int, ...],
    due_at: datetime,
    context: Context,
) -> Iterator[Notification]:
    cc = tuple(a for a in cc if a not in to)
    for recipient in to + cc:
        yield Notification(
            kind,
            f"{kind}/{week}/{about}/{recipient}",
            week,
            recipient,
            to,
            cc,
            dsp,
            lgd_codes,
            due_at,
            context,
        )


def _outstanding(ev: Evaluation, week: Week, dsp: str, lgd: int) -> Outstanding:
    return Outstanding(
        dsp,
        lgd,
        ev.status(week, dsp, lgd).status,
        ev.missing_weeks(dsp, lgd),
        ev.missing_streak(dsp, lgd, week),
    )


def _dsp_steps(ev: Evaluation, week: Week) -> Iterator[Notification]:
    cal = ev.calendar
    due = ev.deadline(week)
    steps: list[tuple[Kind, datetime, set[str], type[ReminderContext | OverdueContext]]] = []
    reminder_at = due - timedelta(days=cal.reminder_days_before)
    if _within(ev, reminder_at, due):
        steps.append(("reminder", reminder_at, {"pending"}, ReminderContext))
    if cal.overdue_notice and _within(ev, due, ev.deadline(week + 1)):
        steps.append(("overdue", due, {"missing", "invalid"}, OverdueContext))
    if not steps:
        return
    by_dsp: dict[str, list[int]] = {}
    for cell in ev.cells(week):
        by_dsp.setdefault(cell.dsp, [])
        by_dsp[cell.dsp].append(cell.lgd_code)
    for name, lgds in by_dsp.items():
        dsp = ev.roster.dsp(name)
        to = _addresses(dsp.contact_addresses or tuple(sorted(dsp.sender_addresses)))
        for kind, due_at, wanted, context_type in steps:
            districts = tuple(
                _outstanding(ev, week, name, lgd) for lgd in lgds if ev.status(week, name, lgd).status in wanted
            )
            if districts:
                context = context_type(due, districts)
                codes = tuple(d.lgd_code for d in districts)
                yield from _fan_out(
                    kind=kind,
                    week=week,
                    about=name,
                    to=to,
                    cc=(),
                    dsp=name,
                    lgd_codes=codes,
                    due_at=due_at,
                    context=context,
                )


def _district_steps(ev: Evaluation, week: Week, ceg: tuple[str, ...]) -> Iterator[Notification]:
    cal = ev.calendar
    due = ev.deadline(week)
    after = timedelta(days=cal.escalate_days_after)
    escalate_at = due + after
    if not _within(ev, escalate_at, ev.deadline(week + 1) + after):
        return
    lgds = sorted({lgd for _, lgd in ev.expected(week)})
    progress = {p.lgd_code: p for p in ev.progress(week)}
    warned: dict[str, list[WarnedDistrict]] = {}  # DSP -> the districts whose DEGS is asked to act against it
    for lgd in lgds:
        out = tuple(
            _outstanding(ev, week, dsp, lgd)
            for dsp in ev.dsps_of(lgd, week)
            if ev.status(week, dsp, lgd).status in ("missing", "invalid")
        )
        degs = _addresses(ev.roster.degs.get(lgd, ()))
        # CEG gets no per-district copy: its weekly summary lists every district and DSP these steps are about
        # (a copy per district was 22 emails in the demo week). A district without a DEGS address still goes to
        # CEG, so it is never silently dropped. Replies go to CEG (Reply-To): the DEGS reports the action taken.
        to, cc = (degs, ()) if degs else (ceg, ())
        # The DEGS follows up with the DSP: give it the addresses to write to.
        contacts = {dsp: _contacts(ev.roster.dsp(dsp)) for dsp in ev.dsps_of(lgd, week)}
        if out:
            escalation = EscalationContext(due, lgd, out, contacts, no_degs_address=not degs, reply_to=ceg)
            yield from _fan_out(
                kind="escalation",
                week=week,
                about=str(lgd),
                to=to,
                cc=cc,
                dsp=None,
                lgd_codes=(lgd,),
                due_at=escalate_at,
                context=escalation,
            )
        long_out = tuple(o for o in out if o.streak >= cal.consecutive_missing_alert)
        if long_out or progress[lgd].lagging:
            for name in acted_against((o.dsp for o in long_out), progress[lgd]):
                streak = next((o.streak for o in long_out if o.dsp == name), 0)
                warned.setdefault(name, []).append(WarnedDistrict(lgd, streak, progress[lgd]))
            alert = ActionContext(
                due,
                lgd,
                long_out,
                cal.consecutive_missing_alert,
                progress[lgd],
                contacts,
                no_degs_address=not degs,
                reply_to=ceg,
            )
            yield from _fan_out(
                kind="action_alert",
                week=week,
                about=str(lgd),
                to=to,
                cc=cc,
                dsp=None,
                lgd_codes=(lgd,),
                due_at=escalate_at,
                context=alert,
            )
    # The DSP hears it from mailbot first, in one email a week listing every such district (not a copy of each
    # district's alert): it can still send the reports or explain before the DEGS acts.
    for name, districts in sorted(warned.items()):
        dsp = ev.roster.dsp(name)
        yield from _fan_out(
            kind="dsp_warning",
            week=week,
            about=name,
            to=_addresses(_contacts(dsp)),
            cc=(),
            dsp=name,
            lgd_codes=tuple(d.lgd_code for d in districts),
            due_at=escalate_at,
            context=DspWarningContext(due, tuple(districts), cal.consecutive_missing_alert),
        )


def acted_against(long_out: Iterable[str], progress: Progress) -> list[str]:
    """Whom a DEGS is asked to act against: the DSPs long out, every DSP of a district far below its target, and
    the DSPs whose own count has stalled (not one that is growing or has met its target)."""
    against = set(long_out) | set(progress.stalled_dsps)
    if "below_threshold" in progress.lag_reasons:
        against |= set(progress.dsps)
    return sorted(against)


class Moment(NamedTuple):
    """Steps that go as one email: due to one address, about the same districts and week."""

    week: Week
    lgd_codes: tuple[int, ...]
    recipient: str


def _moment(n: Notification) -> Moment:
    return Moment(n.week, n.lgd_codes, n.recipient)


def merge_moment(pending: Sequence[Notification]) -> list[Notification]:
    """One email per recipient per moment (``pending``: the steps due at one check, not yet queued). An
    escalation and an action alert due to the same address for the same district and week become one escalation
    email with both sections (``context.action`` is the alert's context) that ``carries`` the alert's key. Then
    CEG's notices about districts without a DEGS address (one per district) become one email: the first carries
    the others' keys, and its ``NoDegsContext`` lists every district. Order is kept."""
    alerts = {_moment(n): n for n in pending if n.kind == "action_alert"}
    escalated = {_moment(n) for n in pending if n.kind == "escalation"}
    merged: list[Notification] = []
    for n in pending:
        moment = _moment(n)
        alert = alerts.get(moment)
        if isinstance(n.context, EscalationContext) and alert and isinstance(alert.context, ActionContext):
            merged.append(replace(n, context=replace(n.context, action=alert.context), carries=(*n.carries, alert.key)))
        elif not (n.kind == "action_alert" and moment in escalated):
            merged.append(n)
    return _merge_without_degs(merged)


def _merge_without_degs(pending: list[Notification]) -> list[Notification]:
    """CEG got one email per district without a DEGS address, each at the same check: one email now lists them
    all. A single such district keeps its own email (addressed as to its DEGS, with the note to CEG)."""
    groups: dict[tuple[Week, str], list[tuple[Notification, EscalationContext | ActionContext]]] = {}
    for n in pending:
        if isinstance(n.context, EscalationContext | ActionContext) and n.context.no_degs_address:
            groups.setdefault((n.week, n.recipient), []).append((n, n.context))
    carriers = {group[0][0].key: group for group in groups.values() if len(group) > 1}
    folded = {n.key for group in carriers.values() for n, _ in group[1:]}
    out: list[Notification] = []
    for n in pending:
        if n.key in folded:
            continue
        group = carriers.get(n.key)
        if group is None:
            out.append(n)
            continue
        notices = tuple(sorted((c for _, c in group), key=lambda c: c.lgd_code))
        carried = tuple(k for other, _ in group[1:] for k in (other.key, *other.carries))
        out.append(
            replace(
                n,
                lgd_codes=tuple(c.lgd_code for c in notices),
                carries=(*n.carries, *carried),
                context=NoDegsContext(n.context.deadline, notices, group[0][1].reply_to),
            )
        )
    return out


def summary_due(ev: Evaluation, week: Week) -> datetime:
    cal = ev.calendar
    return deadline(week, cal.summary_weekday, cal.summary_time, cal.timezone)


def _summary(ev: Evaluation, week: Week, ceg: tuple[str, ...]) -> Iterator[Notification]:
    at = summary_due(ev, week)
    if not ev.expected(week) or not _within(ev, at, summary_due(ev, week + 1)):
        return
    context = SummaryContext(ev.deadline(week), lambda: weekly_report(ev, week))
    yield from _fan_out(
        kind="summary",
        week=week,
        about="statewide",
        to=ceg,
        cc=(),
        dsp=None,
        lgd_codes=(),
        due_at=at,
        context=context,
    )

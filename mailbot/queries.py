"""Reads the store for the compliance core and CEG's summary. Read-only."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, and_, col, or_, select

from mailbot.compliance import ReportFact
from mailbot.districts import by_code
from mailbot.ingest import NOT_FROM_DSP, report_week
from mailbot.outbox import CARRIED
from mailbot.outcomes import ReasonCode
from mailbot.roster import Roster
from mailbot.store import Dsp, KeyValue, Ledger, Outbox, Problem, ReportRow, Submission
from mailbot.summary import DistrictReply, QuarantineItem
from mailbot.weeks import Week
from mailbot.workbook import FIGURES


def report_facts(session: Session, roster: Roster, tz: ZoneInfo) -> list[ReportFact]:
    """Stored reports as the compliance core sees them. Valid: every stored row, superseded ones too (the
    first valid receipt decides timeliness; the latest gives the figures). Invalid: districts named by a
    rejected row, and every district the DSP owed that week when a whole report was rejected."""
    names = {d.id: d.name for d in session.exec(select(Dsp))}
    week_of = _WeekCache()
    moments: dict[str | None, datetime] = {}
    # Plain rows straight from the driver: an ORM object (or even a typed row) per stored row cost most of
    # `check` on a year of history (issue 11). A report's rows share their week and time: each is parsed once.
    sql = f"SELECT dsp_id, lgd_code, week, received_at, {', '.join(FIGURES)} FROM report_row ORDER BY id"  # noqa: S608 - our own column names
    facts = []
    cursor = session.connection().connection.cursor()  # the DB-API cursor: plain tuples
    for row in cursor.execute(sql).fetchall():
        received_at = row[3]
        if received_at not in moments:
            moments[received_at] = _stored_time(received_at)
        facts.append(
            ReportFact(
                names[row[0]],
                row[1],
                week_of[row[2]],
                moments[received_at],
                True,
                dict(zip(FIGURES, row[4:], strict=True)),
            )
        )
    row_problems = session.exec(
        select(Problem, Ledger)
        .join(Ledger, col(Problem.ledger_id) == col(Ledger.id))
        .where(
            Problem.severity == "error",
            col(Problem.lgd_code).is_not(None),
            Problem.week != "",
            col(Ledger.dsp_id).is_not(None),
        )
    ).all()
    for problem, ledger in row_problems:
        assert problem.lgd_code is not None and ledger.dsp_id is not None  # noqa: S101 - filtered above
        facts.append(
            ReportFact(
                names[ledger.dsp_id], problem.lgd_code, week_of[problem.week], _aware(ledger.received_at), False, {}
            )
        )
    for ledger, weeks in rejected_messages(session, tz):
        assert ledger.dsp_id is not None  # noqa: S101 - rejected_messages gives DSPs' messages only
        dsp = names[ledger.dsp_id]
        for week in weeks:
            facts.extend(
                ReportFact(dsp, lgd, week, _aware(ledger.received_at), False, {})
                for lgd in roster.districts_of(dsp, week)
            )
    return facts


def rejected_messages(session: Session, tz: ZoneInfo) -> list[tuple[Ledger, set[Week]]]:
    """DSPs' rejected messages, each with the weeks it was a report for: its sheets' weeks, else the week its
    subject names or the last one completed when it arrived (ingest's rule for a report without a date)."""
    found: dict[int | None, tuple[Ledger, set[Week]]] = {}
    for ledger, week in session.exec(
        select(Ledger, Submission.week)
        .join(Submission, col(Submission.ledger_id) == col(Ledger.id), isouter=True)
        .where(
            Ledger.outcome == "rejected",
            col(Ledger.dsp_id).is_not(None),
            # Stored with a DSP before forged mail was kept out of compliance: still no report. Rows from
            # before reason codes (NULL) are told by their reason's first words, as outcomes.earlier_reason_code.
            or_(
                col(Ledger.reason_code) != ReasonCode.SENDER_NOT_AUTHENTICATED,
                and_(col(Ledger.reason_code).is_(None), ~col(Ledger.reason).startswith(NOT_FROM_DSP)),
            ),
        )
    ):
        _, weeks = found.setdefault(ledger.id, (ledger, set()))
        if week:
            weeks.add(Week.parse(week))
    return [
        (ledger, weeks or {report_week(None, ledger.subject, _aware(ledger.received_at), tz)[0]})
        for ledger, weeks in found.values()
    ]


def replies_withheld(session: Session, start: datetime, end: datetime) -> int:
    """Messages first seen in [start, end) that were due a reply but got none: their address had had
    imap.max_replies_per_address_per_day already (a loop with an autoresponder, or a flood)."""
    return len(
        session.exec(
            select(Ledger.id).where(
                col(Ledger.reply_withheld), col(Ledger.first_seen) >= start, col(Ledger.first_seen) < end
            )
        ).all()
    )


def rejection_reasons(session: Session, week: Week, tz: ZoneInfo) -> dict[str, str]:
    """Why each DSP's report for ``week`` was refused, for CEG's summary: the first error of its latest rejected
    message (first sentence only: the advice is the DSP's), with how many other problems it had."""
    names = {d.id: d.name for d in session.exec(select(Dsp))}
    latest: dict[str, Ledger] = {}
    for ledger, weeks in rejected_messages(session, tz):
        dsp = names[ledger.dsp_id]  # rejected_messages gives DSPs' messages only
        if week in weeks and (dsp not in latest or (ledger.id or 0) > (latest[dsp].id or 0)):
            latest[dsp] = ledger
    reasons = {}
    for dsp, ledger in latest.items():
        errors = session.exec(
            select(Problem).where(Problem.ledger_id == ledger.id, Problem.severity == "error").order_by(col(Problem.id))
        ).all()
        if errors:
            first = errors[0].message.split(". ")[0].rstrip(".")
            reasons[dsp] = first + (f" (+{len(errors) - 1} more)" if len(errors) > 1 else "")
    return reasons


TARGETS = ("rural_target", "urban_target")


def last_targets(session: Session, dsp: str, week: Week) -> dict[int, dict[str, int | str]]:
    """Each district's targets from ``dsp``'s latest report for a week up to ``week``: the pre-filled template
    carries them, so the DSP types only what changed."""
    dsp_id = session.exec(select(Dsp.id).where(Dsp.name == dsp)).first()
    if dsp_id is None:
        return {}
    found: dict[int, dict[str, int | str]] = {}
    for row in session.exec(
        select(ReportRow)
        .where(ReportRow.dsp_id == dsp_id, col(ReportRow.current), ReportRow.week <= str(week))
        .order_by(col(ReportRow.week).desc(), col(ReportRow.id).desc())
    ):
        found.setdefault(row.lgd_code, {k: getattr(row, k) for k in TARGETS})
    return found


def outbox_answered(session: Session, refers_to: tuple[str, ...]) -> Outbox | None:
    """The email of ours that a reply answers: the last of its In-Reply-To/References ids that we sent."""
    if not refers_to:
        return None
    rows = {r.message_id: r for r in session.exec(select(Outbox).where(col(Outbox.message_id).in_(refers_to)))}
    # In-Reply-To comes first and References list oldest first: prefer the direct parent.
    return next((rows[m] for m in refers_to if m in rows), None)


def queued_keys(session: Session, keys: Sequence[str]) -> set[str]:
    """Which of ``keys`` were queued, on their own or carried by another email (``outbox.is_queued`` for many
    keys in two queries a batch: a check on a year of history asks about a hundred keys)."""
    found: set[str] = set()
    for start in range(0, len(keys), 500):  # well under SQLite's limit on bound parameters
        batch = list(keys[start : start + 500])
        found.update(session.exec(select(Outbox.key).where(col(Outbox.key).in_(batch))))
        carried = session.exec(select(KeyValue.key).where(col(KeyValue.key).in_([CARRIED + k for k in batch])))
        found.update(k.removeprefix(CARRIED) for k in carried)
    return found


def summary_window(week: Week, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The mail a summary of ``week`` reports on: what arrived during it or the reporting week after it."""
    start = datetime.combine(week.monday, datetime.min.time(), tzinfo=tz)
    return start, start + timedelta(days=14)


def district_replies_in(session: Session, week: Week, tz: ZoneInfo) -> list[DistrictReply]:
    """Replies from district offices (roster DEGS addresses) in the summary window of ``week``, oldest first,
    each with the escalation or alert of ours it answers when it named one."""
    start, end = summary_window(week, tz)
    found = []
    for ledger, answered in session.exec(
        select(Ledger, Outbox)
        .join(Outbox, col(Ledger.answers_outbox_id) == col(Outbox.id), isouter=True)
        .where(Ledger.outcome == "degs_reply", col(Ledger.first_seen) >= start, col(Ledger.first_seen) < end)
        .order_by(col(Ledger.received_at), col(Ledger.id))
    ):
        codes = tuple(int(c) for c in ledger.degs_lgd.split(",") if c.strip().isdigit())
        answers = ""
        if answered is not None:
            what = answered.kind.replace("_", " ")
            where = f" about {by_code(answered.lgd_code).name_en}" if answered.lgd_code else ""
            answers = (
                f"{what}{where}, week {answered.week}: {answered.subject}"
                if answered.week
                else f"{what}{where}: {answered.subject}"
            )
        found.append(DistrictReply(codes, ledger.sender, ledger.subject, ledger.received_at, answers))
    return found


def quarantined_in(session: Session, week: Week, tz: ZoneInfo) -> list[QuarantineItem]:
    """Messages nobody answered that arrived during ``week`` or the reporting week after it."""
    start, end = summary_window(week, tz)
    rows = session.exec(
        select(Ledger).where(
            col(Ledger.outcome).in_(("ignored", "quarantined")),
            col(Ledger.first_seen) >= start,
            col(Ledger.first_seen) < end,
        )
    ).all()
    return [QuarantineItem(r.sender, r.subject, r.received_at, r.reason, r.code()) for r in rows]


class _WeekCache(dict[str, Week]):
    """Week.parse once per distinct week name: a year of history names 52 weeks in ~20,000 rows."""

    def __missing__(self, text: str) -> Week:
        self[text] = week = Week.parse(text)
        return week


def _stored_time(text: str | None) -> datetime:
    """A time as the store writes it (``UtcDateTime``: naive UTC text), read without the ORM."""
    return _aware(None if text is None else datetime.fromisoformat(text).replace(tzinfo=UTC))


def _aware(value: datetime | None) -> datetime:
    return value if value is not None else datetime.min.replace(tzinfo=UTC)

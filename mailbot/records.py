"""One message into the database: the ledger row, submissions, report rows, problems and the reply, all in the
caller's transaction. Everything here is keyed, so repeating it after a lost acknowledgement changes nothing."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from mailbot import outbox
from mailbot.address import plain_address
from mailbot.compose import Composer, InForce, IngestReply
from mailbot.config import Config
from mailbot.ingest import SheetDecision, decide
from mailbot.message import MessageError, ParsedMessage, parse_message
from mailbot.outcomes import Outcome, ReasonCode
from mailbot.queries import last_targets, outbox_answered
from mailbot.roster import Roster
from mailbot.store import Dsp, Ledger, LedgerKey, Outbox, Problem, ReportRow, Submission
from mailbot.weeks import Week, deadline, last_completed_week
from mailbot.workbook import FIGURES
from mailbot.workbook import Problem as Found

log = logging.getLogger(__name__)

# Outcomes after which a message is filed and never looked at again.
FINAL = frozenset(
    {Outcome.ACCEPTED, Outcome.REJECTED, Outcome.IGNORED, Outcome.DUPLICATE, Outcome.QUARANTINED, Outcome.DEGS_REPLY}
)
REPLY_KINDS = ("acknowledgement", "partial", "rejection")  # compose.ReplyKind: answers to a DSP's email


def record_message(
    session: Session,
    *,
    key: LedgerKey,
    raw: bytes,
    digest: str,
    received_at: datetime,
    now: datetime,
    roster: Roster,
    config: Config,
    composer: Composer,
) -> Ledger:
    ledger = ledger_for(session, key) or Ledger(**key._asdict(), outcome=Outcome.FAILED, first_seen=now)
    ledger.sha256, ledger.size, ledger.received_at, ledger.updated = digest, len(raw), received_at, now
    # ledger.attempts was counted by the caller, committed before parsing (intake.Intake._count_attempt).
    ledger.next_attempt_at = None

    # The same bytes seen before (a UIDVALIDITY reset, a copy into the inbox): file it like the first one.
    original = session.exec(
        select(Ledger).where(
            Ledger.account == key.account,
            Ledger.sha256 == digest,
            col(Ledger.outcome).in_(FINAL - {Outcome.DUPLICATE}),
            col(Ledger.id) != ledger.id if ledger.id is not None else True,
        )
    ).first()
    if original is not None:
        ledger.outcome, ledger.reason_code, ledger.duplicate_of = (
            Outcome.DUPLICATE,
            ReasonCode.SAME_CONTENT,
            original.id,
        )
        ledger.filed_to = original.filed_to
        ledger.sender, ledger.subject, ledger.message_id = original.sender, original.subject, original.message_id
        ledger.dsp_id = original.dsp_id
        ledger.reason = f"same content as message #{original.id} (UID {original.uid}); already handled"
        session.add(ledger)
        session.flush()
        return ledger

    try:
        message = parse_message(raw)
    except MessageError as exc:
        ledger.outcome, ledger.reason_code, ledger.reason = (
            Outcome.IGNORED,
            ReasonCode.NOT_AN_EMAIL,
            f"not an email: {exc}",
        )
        session.add(ledger)
        session.flush()
        return ledger
    ledger.sender, ledger.subject, ledger.message_id = message.sender, message.subject[:500], message.message_id

    dsp_ids = {d.name: d.id for d in session.exec(select(Dsp))}

    figures = [getattr(ReportRow, k) for k in FIGURES]
    connection = session.connection()
    latest: dict[tuple[str, Week], dict[int, Mapping[str, int | None]]] = {}

    def previous(dsp: str, lgd_code: int, week: Week) -> Mapping[str, int | None] | None:
        if (dsp, week) not in latest:
            # One query per DSP and week for all its districts (not one per district), on the index (dsp_id,
            # current, lgd_code, week); a Core query on the connection: no ORM objects, no autoflush (this
            # message's rows are not in the session yet). SQLite gives max()'s row for the bare columns.
            found = connection.execute(
                sa_select(col(ReportRow.lgd_code), func.max(ReportRow.week), *figures)
                .where(col(ReportRow.dsp_id) == dsp_ids[dsp], col(ReportRow.current), col(ReportRow.week) < str(week))
                .group_by(col(ReportRow.lgd_code))
            )
            latest[dsp, week] = {row[0]: dict(zip(FIGURES, row[2:], strict=True)) for row in found}
        return latest[dsp, week].get(lgd_code)

    decision = decide(message, roster, received_at, config.calendar.timezone, previous, config.imap.authserv_id)
    ledger.outcome, ledger.reason_code, ledger.reason = decision.outcome, decision.code, decision.reason[:1000]
    # A message that may not be the DSP's gets no DSP: queries read a DSP's rejected messages as its reports.
    ledger.dsp_id = dsp_ids.get(decision.dsp.name) if decision.dsp and decision.from_dsp else None
    if decision.outcome == Outcome.DEGS_REPLY:
        ledger.degs_lgd = ",".join(str(code) for code in decision.degs_districts)
        answered = outbox_answered(session, message.refers_to)
        ledger.answers_outbox_id = answered.id if answered is not None else None
    session.add(ledger)
    session.flush()
    assert ledger.id is not None  # noqa: S101 - flushed

    for problem in decision.problems:
        session.add(_problem_row(ledger.id, None, "", problem))
    accepted: list[int] = []
    stored = [_record_sheet(session, ledger, sheet, received_at) for sheet in decision.sheets]
    for result in stored:
        accepted.extend(result.accepted)
    with_rows = [r for r in stored if r.accepted]
    if (
        decision.outcome == Outcome.ACCEPTED
        and with_rows
        and all(r.first_seen_in is not None and not r.changed for r in with_rows)
    ):
        # Nothing new: the same report re-sent (or forwarded) while it is in force. The DSP still gets a receipt.
        ledger.outcome, ledger.reason_code = Outcome.DUPLICATE, ReasonCode.SAME_REPORT
        ledger.reason = f"same report as message #{with_rows[0].first_seen_in}; already in force"
        session.add(ledger)

    if decision.answer and decision.dsp is not None:
        weeks = [s.week for s in decision.sheets if s.week is not None]
        _queue_reply(
            session,
            ledger,
            key=f"reply/{ledger.sha256}",
            dsp=decision.dsp.name,
            message=message,
            week=weeks[0] if weeks else None,
            accepted=tuple(accepted),
            problems=decision.all_problems,
            now=now,
            composer=composer,
            roster=roster,
            config=config,
            trusted=decision.from_dsp,
        )
    return ledger


@dataclass(frozen=True)
class _Stored:
    accepted: list[int]  # LGD codes of the rows stored
    first_seen_in: int | None  # the ledger id of the message that brought the same file for the week before
    changed: bool  # the figures in force changed for some district


def _record_sheet(session: Session, ledger: Ledger, sheet: SheetDecision, received_at: datetime) -> _Stored:
    """Store one workbook's rows. The figures in force for (DSP, week, district) are those of the report
    received last (IMAP INTERNALDATE), whatever order the messages are processed in, and even when its file
    came before: a DSP that re-sends its earlier file after a mistaken correction brings the earlier figures
    back. The same file for the same week stays one submission; each email that brings it adds its rows."""
    assert ledger.id is not None and ledger.dsp_id is not None  # noqa: S101 - a DSP's message, flushed
    week = str(sheet.week) if sheet.week else ""
    submission = None
    first_seen_in = None
    if sheet.week is not None:
        submission = session.exec(
            select(Submission).where(
                Submission.dsp_id == ledger.dsp_id,
                Submission.week == week,
                Submission.attachment_sha256 == sheet.attachment.sha256,
            )
        ).first()
        if submission is not None:
            first_seen_in = submission.ledger_id
        else:
            submission = Submission(
                ledger_id=ledger.id,
                dsp_id=ledger.dsp_id,
                week=week,
                week_source=sheet.week_source,
                attachment_sha256=sheet.attachment.sha256,
                filename=sheet.attachment.filename[:300],
                sheet=sheet.sheet,
                received_at=received_at,
                status=sheet.status,
                rows_accepted=len(sheet.rows),
                rows_rejected=sheet.rejected_rows,
            )
            session.add(submission)
            session.flush()
    submission_id = submission.id if submission else None
    if first_seen_in is None:  # a file seen before had its problems stored then
        for problem in sheet.problems:
            session.add(_problem_row(ledger.id, submission_id, week, problem))
    if submission_id is None:
        return _Stored([], None, False)
    changed = False
    # The rows in force for the sheet's districts in one query (one flush), not one per district.
    in_force_of: dict[int, list[ReportRow]] = {}
    codes = sorted({row.lgd_code for row in sheet.rows})
    for start in range(0, len(codes), 500):  # SQLite caps the variables in one statement
        for found in session.exec(
            select(ReportRow).where(
                ReportRow.dsp_id == ledger.dsp_id,
                ReportRow.week == week,
                col(ReportRow.lgd_code).in_(codes[start : start + 500]),
                col(ReportRow.current),
            )
        ):
            in_force_of.setdefault(found.lgd_code, []).append(found)
    added: list[ReportRow] = []
    for row in sheet.rows:
        in_force = in_force_of.get(row.lgd_code, [])
        later = [r for r in in_force if r.received_at is not None and r.received_at > received_at]
        if not later:
            # This report is the latest received: it supersedes the rows in force, which stay as history.
            changed = changed or any(r.submission_id != submission_id for r in in_force) or not in_force
            for older in in_force:
                older.current, older.superseded_by = False, submission_id
                session.add(older)
        stored = ReportRow(
            submission_id=submission_id,
            dsp_id=ledger.dsp_id,
            week=week,
            lgd_code=row.lgd_code,
            received_at=received_at,
            current=not later,
            superseded_by=later[0].submission_id if later else None,
            sheet=row.sheet,
            row=row.row,
            remarks=row.remarks[:1000],
            **{k: getattr(row, k) for k in FIGURES},
        )
        added.append(stored)
        if not later:  # a district twice in one sheet: the second row supersedes the first, as when flushed
            in_force_of[row.lgd_code] = [stored]
    session.add_all(added)
    return _Stored([r.lgd_code for r in sheet.rows], first_seen_in, changed)


def _queue_reply(
    session: Session,
    ledger: Ledger,
    *,
    key: str,
    dsp: str,
    message: ParsedMessage,
    week: Week | None,
    accepted: tuple[int, ...],
    problems: Sequence[Found],
    now: datetime,
    composer: Composer,
    roster: Roster,
    config: Config,
    trusted: bool = True,
) -> None:
    """Answer a DSP's email: a receipt, a partial acceptance or a rejection. ``key`` makes it once only.
    ``trusted``: False when the sender may be forged; the answer then goes to the roster address alone."""
    if outbox.is_queued(session, key):
        return
    to = reply_addresses(message, dsp, roster, trusted)
    if not to:
        return
    # Only rejections are limited: a loop (an autoresponder answering our answers) or a flood of junk is always
    # refused, while a DSP that sends one email per district still gets a receipt for each report it sent.
    over = None if accepted else _over_reply_limit(session, to, now, config.imap.max_replies_per_address_per_day)
    if over:
        ledger.reply_withheld = True
        ledger.reason = (
            f"{ledger.reason}; not answered: {over} already had "
            f"{config.imap.max_replies_per_address_per_day} replies in 24 hours"
        )[:1000]
        session.add(ledger)
        log.warning("UID %s: no reply to %s: daily reply limit reached", ledger.uid, over)
        return
    template: tuple[int, ...] = ()
    still_due: tuple[int, ...] = ()
    if not accepted:
        # Nothing usable arrived: hand them the template, pre-filled with their districts, to start again.
        week = week or last_completed_week(now, config.calendar.timezone)
        template = roster.districts_of(dsp, week)
    in_force: tuple[InForce, ...] = ()
    late = False
    due = None
    if week is not None:
        cal = config.calendar
        due = deadline(week, cal.deadline_weekday, cal.deadline_time, cal.timezone)
    if accepted and week is not None and ledger.dsp_id is not None:
        still_due = _still_due(session, roster, dsp, ledger.dsp_id, week)
        in_force = _in_force(session, ledger, week, accepted, config)
        late = due is not None and _late(session, ledger, week, accepted, due)
    # A refusal, whole or partial, reaches the DSP's other roster contacts too (the sender may be a clerk who
    # left): the refused districts are not counted, and the overdue notice they get next points at these reasons.
    refused = not accepted or any(p.severity == "error" for p in problems)
    cc = _contacts(roster, dsp, to, trusted) if refused else ()
    reply = IngestReply(
        to=to,
        dsp_name=dsp,
        original_subject=message.subject,
        original_message_id=message.message_id,
        week=week,
        accepted=accepted,
        problems=problems,
        template_lgd_codes=template,
        still_due=still_due,
        in_force=in_force,
        cc=cc,
        deadline=due,
        late=late,
        targets=last_targets(session, dsp, week) if template and week is not None else None,
    )
    email_message = composer.ingest_reply(reply, now=now, message_id=composer.new_message_id())
    outbox.queue(
        session,
        key=key,
        kind=reply.kind,
        message=email_message,
        now=now,
        week=str(reply.week or ""),
        dsp=dsp,
        ledger_id=ledger.id,
    )


def reply_addresses(message: ParsedMessage, dsp: str, roster: Roster, trusted: bool = True) -> tuple[str, ...]:
    """Where an answer to ``message`` goes: roster addresses only, each plain. The From address (it matched the
    roster); the Reply-To instead when it is itself one of the same DSP's roster addresses and the sender is
    trusted. A stranger's Reply-To, even in the DSP's domain, is never used: it could name anyone."""
    sender = plain_address(message.sender)
    if sender is None or (found := roster.dsp_for_sender(sender)) is None or found.name != dsp:
        return ()
    reply_to = plain_address(message.reply_to) if trusted and message.reply_to else None
    if reply_to is not None and (other := roster.dsp_for_sender(reply_to)) is not None and other.name == dsp:
        return (reply_to,)
    return (sender,)


def _contacts(roster: Roster, dsp: str, to: Sequence[str], trusted: bool) -> tuple[str, ...]:
    """The DSP's roster contact addresses not already in ``to``, each plain; none when the sender may be forged
    (then only the roster address it claimed hears of it)."""
    if not trusted:
        return ()
    seen = {a.casefold() for a in to}
    found = []
    for address in roster.dsp(dsp).contact_addresses:
        plain = plain_address(address)
        if plain is not None and plain.casefold() not in seen:
            seen.add(plain.casefold())
            found.append(plain)
    return tuple(found)


def _late(session: Session, ledger: Ledger, week: Week, accepted: Sequence[int], due: datetime) -> bool:
    """Whether this email, received after ``due``, is the first valid report of some district it carries (a
    correction of a report that came on time does not make it late: compliance counts the first receipt)."""
    if ledger.received_at is None or ledger.received_at <= due:
        return False
    on_time = set(
        session.exec(
            select(ReportRow.lgd_code).where(
                ReportRow.dsp_id == ledger.dsp_id,
                ReportRow.week == str(week),
                col(ReportRow.received_at) <= due,
                col(ReportRow.lgd_code).in_(accepted),
            )
        )
    )
    return any(code not in on_time for code in accepted)


def _over_reply_limit(session: Session, to: Sequence[str], now: datetime, limit: int) -> str | None:
    """The first of ``to`` that was sent ``limit`` rejections in the last 24 hours, else None."""
    since = now - timedelta(days=1)
    counts: dict[str, int] = {}
    for row in session.exec(
        select(Outbox).where(
            col(Outbox.ledger_id).is_not(None), Outbox.kind == "rejection", col(Outbox.created_at) > since
        )
    ):
        for address in outbox.recipients_of(row):
            counts[address] = counts.get(address, 0) + 1
    return next((a for a in to if counts.get(a, 0) >= limit), None)


def _in_force(
    session: Session, ledger: Ledger, week: Week, accepted: Sequence[int], config: Config
) -> tuple[InForce, ...]:
    """The figures in force for the districts this email reported (its rows are in the session already)."""
    session.flush()
    rows = session.exec(
        select(ReportRow).where(
            ReportRow.dsp_id == ledger.dsp_id,
            ReportRow.week == str(week),
            col(ReportRow.current),
            col(ReportRow.lgd_code).in_(accepted),
        )
    ).all()
    tz = config.calendar.timezone
    return tuple(
        InForce(
            r.lgd_code,
            {k: getattr(r, k) for k in FIGURES},
            r.received_at == ledger.received_at,
            r.received_at.astimezone(tz) if r.received_at else None,
        )
        for r in rows
    )


def _still_due(session: Session, roster: Roster, dsp: str, dsp_id: int, week: Week) -> tuple[int, ...]:
    """The DSP's districts for ``week`` with no accepted row yet, from this message or an earlier one (the rows
    of this message are in the session already)."""
    session.flush()
    reported = set(
        session.exec(
            select(ReportRow.lgd_code).where(
                ReportRow.dsp_id == dsp_id, ReportRow.week == str(week), col(ReportRow.current)
            )
        )
    )
    return tuple(code for code in roster.districts_of(dsp, week) if code not in reported)


def _problem_row(ledger_id: int, submission_id: int | None, week: str, p: Found) -> Problem:
    # Row problems name their district when the parser knew it: compliance counts those districts as invalid.
    return Problem(
        ledger_id=ledger_id,
        submission_id=submission_id,
        week=week,
        lgd_code=p.lgd_code,
        severity=p.severity,
        code=p.code,
        message=p.message,
        message_hi=p.message_hi,
        file=p.file,
        sheet=p.sheet,
        cell=p.cell,
    )


def record_too_large(
    session: Session,
    *,
    key: LedgerKey,
    size: int,
    header: bytes | None,
    received_at: datetime | None,
    now: datetime,
    roster: Roster,
    config: Config,
    composer: Composer,
) -> int:
    """A message too large to read: only its header was fetched. A DSP is told to send the workbook alone."""
    uid = key.uid
    limit = _size(config.imap.max_message_bytes)
    # A row may exist already: a message that failed before the size limit was lowered.
    row = ledger_for(session, key) or Ledger(**key._asdict(), outcome=Outcome.QUARANTINED, first_seen=now)
    row.size, row.outcome, row.updated, row.received_at = size, Outcome.QUARANTINED, now, received_at
    row.reason_code = ReasonCode.TOO_LARGE
    row.reason = f"too large: {_size(size)} (limit {limit}); left unread"
    message = _parse_header(header)
    dsp = roster.dsp_for_sender(message.sender) if message and message.sender else None
    if message is not None and header is not None:
        row.sender, row.subject, row.message_id = message.sender, message.subject[:500], message.message_id
        row.sha256 = "header:" + hashlib.sha256(header).hexdigest()
    session.add(row)
    session.flush()
    assert row.id is not None  # noqa: S101 - flushed
    log.warning("UID %s from %s: %s", uid, row.sender or "-", row.reason)
    if message is None or dsp is None or message.automated:
        return row.id
    problem = Found(
        "error",
        "message_too_large",
        f"The email was {_size(size)}, more than the {limit} mailbot reads, so it was not opened. "
        "Send the weekly report workbook alone (a report is usually under 1 MB).",
        f"ई-मेल {_size(size)} का था, जो {limit} की सीमा से अधिक है, इसलिए खोला नहीं गया। "
        "केवल साप्ताहिक रिपोर्ट की एक्सेल फ़ाइल संलग्न करके दोबारा भेजें।",
    )
    _queue_reply(
        session,
        row,
        key=f"reply/{row.sha256}/{uid}",
        dsp=dsp.name,
        message=message,
        week=None,
        accepted=(),
        problems=(problem,),
        now=now,
        composer=composer,
        roster=roster,
        config=config,
    )
    return row.id


def ledger_for(session: Session, key: LedgerKey) -> Ledger | None:
    """The ledger row for (account, folder, UIDVALIDITY, UID), if the message was seen before."""
    return session.exec(
        select(Ledger).where(
            Ledger.account == key.account,
            Ledger.folder == key.folder,
            Ledger.uidvalidity == key.uidvalidity,
            Ledger.uid == key.uid,
        )
    ).first()


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{max(1, round(n / 1e3))} KB"


def _parse_header(header: bytes | None) -> ParsedMessage | None:
    if header is None:
        return None
    try:
        return parse_message(header)
    except MessageError:
        return None

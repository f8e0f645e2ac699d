"""The outbox: mail is queued in the same transaction as the decision that caused it, then delivered.

Queueing is idempotent on ``key``. Delivery marks a row sent only after the server's 250, and records each
recipient's answer; recipients deferred with 4xx are retried alone, with backoff, up to ``max_attempts``. A crash
between the server's 250 and our commit can resend one message: it carries the same Message-ID, so mail clients
show it once. That is the one duplicate SMTP cannot rule out. (A row's commit overlaps the next email's
transmission, but the server accepts that email only after the commit: still at most one.)
"""

from __future__ import annotations

import copy
import email.policy
import json
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from typing import Protocol

from sqlmodel import Session, select

from mailbot.address import envelope as envelope_from
from mailbot.address import envelope_of, plain_address
from mailbot.backoff import doubling
from mailbot.smtp import SendResult, SmtpAuthError, SmtpError, SmtpTransient
from mailbot.store import KeyValue, Outbox, OutboxRecipient, Store

log = logging.getLogger(__name__)

# Python 3.11.10+/3.12.5+ refuse to write a header whose value would make another line (CVE-2024-6923); older
# ones have check_generated_headers below only.
STRICT_SMTP = (
    email.policy.SMTP.clone(verify_generated_headers=True)
    if hasattr(email.policy.SMTP, "verify_generated_headers")
    else email.policy.SMTP
)
RETRY_BASE = timedelta(minutes=2)
RETRY_CAP = timedelta(hours=6)


class Transport(Protocol):
    # ``ready`` is called after the body is transmitted, before the final "." that has the server accept it.
    def send_raw(
        self, raw: bytes, recipients: Sequence[str], *, ready: Callable[[], None] | None = None
    ) -> SendResult: ...
    def close(self) -> None: ...


@dataclass
class SendReport:
    sent: int = 0
    failed: int = 0
    deferred: int = 0
    waiting: int = 0  # still pending after the pass
    next_attempt_at: datetime | None = None  # the earliest next try among those (the service gives it local time)

    @property
    def attempted(self) -> bool:
        """Whether the pass talked to the server (with nothing due, it never connects)."""
        return self.sent + self.failed + self.deferred > 0

    def __str__(self) -> str:
        text = f"sent {self.sent}, failed {self.failed}, deferred {self.deferred}"
        if self.waiting and self.next_attempt_at is not None:
            text += (
                f"; {self.waiting} waiting to be retried (next at {self.next_attempt_at:%a %d %b %H:%M %Z}; "
                "`mailbot send --retry-waiting` tries them now)"
            )
        return text


def queue(
    session: Session,
    *,
    key: str,
    kind: str,
    message: EmailMessage,
    now: datetime,
    week: str = "",
    dsp: str = "",
    lgd_code: int | None = None,
    ledger_id: int | None = None,
    recipients: Sequence[str] | None = None,
) -> bool:
    """Add ``message`` to the outbox unless ``key`` is already there; True when added. ``recipients`` is the
    envelope (default: To, Cc and Bcc): a ladder copy goes to its one recipient while its headers name all."""
    if session.exec(select(Outbox.id).where(Outbox.key == key)).first() is not None:
        return False
    envelope = envelope_from(recipients) if recipients else envelope_of(message)
    # One address per entry, each plain: a quoted "a;b@x"@y could otherwise turn into several at delivery.
    bad = [a for a in envelope if plain_address(a) != a]
    if bad or not envelope:
        raise ValueError(f"outbox {key}: not plain email addresses: {bad or 'none given'}")
    # Bcc is in the envelope only: the stored bytes are what every recipient receives, so they never name it.
    stored = copy.copy(message)  # ``del`` gives the copy its own header list: the caller's message is untouched
    del stored["Bcc"]
    del stored["Resent-Bcc"]
    raw = stored.as_bytes(policy=STRICT_SMTP)
    check_generated_headers(stored, raw)
    session.add(
        Outbox(
            key=key,
            kind=kind,
            message_id=str(message["Message-ID"]),
            week=week,
            dsp=dsp,
            lgd_code=lgd_code,
            ledger_id=ledger_id,
            recipients=";".join(envelope),
            recipients_json=json.dumps(envelope),
            subject=str(message["Subject"] or ""),
            raw=raw,
            created_at=now,
            next_attempt_at=now,
        )
    )
    return True


def recipients_of(row: Outbox) -> list[str]:
    """The envelope of a row: its JSON list; a row queued before that column existed keeps the ';'-joined text."""
    if row.recipients_json:
        return [str(a) for a in json.loads(row.recipients_json)]
    return [a for a in row.recipients.split(";") if a]


def check_generated_headers(message: EmailMessage, raw: bytes) -> None:
    """Raise ValueError when the bytes carry other header fields than the message was given: a CR or LF in a
    value became a header of its own (CVE-2024-6923; Python 3.11 before 3.11.10 has no verify_generated_headers)."""
    sent = BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
    if [k.lower() for k in sent] != [k.lower() for k in message]:
        raise ValueError(f"message {message['Message-ID']}: a header value would inject header lines; not sent")


# A step sent inside another step's email (one email per recipient per moment) leaves a kv row
# "carried:<its key>" = the key of the email that carried it, so that it counts as queued.
CARRIED = "carried:"


def is_queued(session: Session, key: str) -> bool:
    """Whether ``key`` was queued, on its own or carried by another email (``mark_carried``)."""
    if session.exec(select(Outbox.id).where(Outbox.key == key)).first() is not None:
        return True
    return session.get(KeyValue, CARRIED + key) is not None


def mark_carried(session: Session, key: str, by: str) -> None:
    """Record that the email queued under ``by`` carried step ``key``: ``key`` is never queued on its own."""
    if session.get(KeyValue, CARRIED + key) is None:
        session.add(KeyValue(key=CARRIED + key, value=by))


def deliver(
    store: Store,
    transport: Transport,
    now: datetime,
    max_attempts: int,
    should_stop: Callable[[], bool] = lambda: False,
    *,
    retry_waiting: bool = False,
) -> SendReport:
    """Send every due row (``retry_waiting``: every pending row, also those backing off after a failure).
    Raises SmtpTransient when the server is unreachable and SmtpAuthError when it refuses the login: the pass
    stops there and the rows stay pending."""
    report = SendReport()
    pending = select(Outbox.id).where(Outbox.status == "pending")
    if not retry_waiting:
        pending = pending.where(Outbox.next_attempt_at <= now)  # type: ignore[operator]
    with store.session() as session:
        due = session.exec(pending.order_by(Outbox.id)).all()  # type: ignore[arg-type]
    # One commit per email, after the server's answer (the crash-safety floor). It runs in the background while
    # the next email is transmitted, and that email's final "." waits for it: the server accepts an email only once
    # the one before is recorded, so a crash can still resend at most one (see the module's docstring).
    committer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mailbot-outbox-commit")
    previous: list[Future[None]] = []

    def ready() -> None:  # the previous email's commit is done (its exception raised here)
        while previous:
            previous.pop().result()

    try:
        for outbox_id in due:
            if should_stop():
                break
            assert outbox_id is not None  # noqa: S101 - primary keys are set
            session = Session(store.engine, expire_on_commit=False)
            try:
                _deliver_one(session, transport, outbox_id, now, max_attempts, report, ready)
                ready()  # also when the transport did not call it (nothing was sent, a fake)
            except BaseException:
                session.rollback()
                session.close()
                ready()  # a failed commit of the email before is the error to report first
                raise
            previous.append(committer.submit(_commit, session))
        ready()
    finally:
        committer.shutdown(wait=True)  # a commit under way is finished, not dropped
        _count_waiting(store, now, report)
    return report


def _commit(session: Session) -> None:
    try:
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _count_waiting(store: Store, now: datetime, report: SendReport) -> None:
    """Every row still pending after the pass: backing off after a failure, or not reached (a stopped pass)."""
    with store.session() as session:
        pending = session.exec(select(Outbox.next_attempt_at).where(Outbox.status == "pending")).all()
    report.waiting = len(pending)
    report.next_attempt_at = min((max(t, now) for t in pending if t is not None), default=None)


def _deliver_one(
    session: Session,
    transport: Transport,
    outbox_id: int,
    now: datetime,
    max_attempts: int,
    report: SendReport,
    ready: Callable[[], None],
) -> None:
    """One email's attempt, in ``session``: the caller commits it (SmtpTransient commits the attempt, then raises;
    SmtpAuthError leaves it for the caller to roll back). ``ready`` waits for the previous email's commit."""
    row = session.get(Outbox, outbox_id)
    if row is None or row.status != "pending":
        return
    # Every answer so far, read once: recording and settling use this, not one query (and flush) each.
    # A row never tried has none (answers are recorded with the attempt that got them): no query for it.
    answers = (
        {r.address: r for r in session.exec(select(OutboxRecipient).where(OutboxRecipient.outbox_id == outbox_id))}
        if row.attempts
        else {}
    )
    done = {a for a, r in answers.items() if r.status != "deferred"}
    waiting = [a for a in recipients_of(row) if a not in done]
    if not waiting:  # every recipient already answered: settle the row
        _settle(session, row, now, answers)
        return
    row.attempts += 1
    try:
        # The bytes stored when queued go out as they are: nothing is parsed or regenerated per email.
        result = transport.send_raw(row.raw, waiting, ready=ready)
    except SmtpTransient as exc:
        ready()
        _retry_later(row, now, max_attempts, str(exc))
        session.add(row)
        report.deferred += 1
        session.commit()
        raise
    except SmtpAuthError:
        # The server refused *us* (the login, or our sender: a sending quota), not this message: nothing
        # counts against it (the transaction rolls back), the pass stops, and the operator is told while
        # every email waits.
        raise
    except SmtpError as exc:  # permanent for this message (5xx to all, 552, no recipients)
        log.warning("outbox %s (%s): refused for good: %s", row.key, row.message_id, exc)
        for address, (code, text) in exc.refused.items():
            _record(session, answers, outbox_id, address, "refused", code, text)
        row.status, row.last_error = "failed", str(exc)
        session.add(row)
        report.failed += 1
        return
    for address in result.accepted:
        _record(session, answers, outbox_id, address, "sent", 250, "")
    for address, (code, text) in result.refused.items():
        _record(session, answers, outbox_id, address, "deferred" if 400 <= code < 500 else "refused", code, text)
    if result.retry:
        _retry_later(row, now, max_attempts, f"deferred: {', '.join(result.retry)}")
        report.deferred += 1
    else:
        _settle(session, row, now, answers)
        report.sent += 1 if row.status in ("sent", "partial") else 0
        report.failed += 1 if row.status == "failed" else 0
    session.add(row)
    log.info(
        "outbox %s: %s to %s (refused: %s)",
        row.key,
        row.status,
        ",".join(result.accepted),
        ",".join(result.refused) or "none",
    )


def _settle(session: Session, row: Outbox, now: datetime, answers: dict[str, OutboxRecipient]) -> None:
    sent = [a for a in answers.values() if a.status == "sent"]
    row.status = "sent" if len(sent) == len(answers) else "partial" if sent else "failed"
    row.sent_at = now if sent else None
    row.next_attempt_at = None
    session.add(row)


def _retry_later(row: Outbox, now: datetime, max_attempts: int, error: str) -> None:
    row.last_error = error
    if row.attempts >= max_attempts:
        row.status = "failed"
        row.next_attempt_at = None
        log.error("outbox %s (%s): gave up after %d attempts: %s", row.key, row.message_id, row.attempts, error)
        return
    delay = doubling(row.attempts, RETRY_BASE, RETRY_CAP)
    row.next_attempt_at = now + delay
    log.warning(
        "outbox %s: attempt %d failed (%s); next try at %s",
        row.key,
        row.attempts,
        error,
        row.next_attempt_at.isoformat(),
    )


def _record(
    session: Session,
    answers: dict[str, OutboxRecipient],
    outbox_id: int,
    address: str,
    status: str,
    code: int | None,
    detail: str,
) -> None:
    existing = answers.get(address)
    if existing is None:
        existing = answers[address] = OutboxRecipient(outbox_id=outbox_id, address=address, status=status)
    existing.status, existing.code, existing.detail = status, code, detail[:500]
    session.add(existing)


__all__ = [
    "SendReport",
    "Transport",
    "check_generated_headers",
    "deliver",
    "is_queued",
    "queue",
    "recipients_of",
]

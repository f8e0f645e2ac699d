"""The outbox's delivery rules, on SQLite and a recording transport (``tests/fakes.py``): per-recipient answers,
retries with backoff, a refused login costing nothing, each message sent once. The SMTP adapter's translation of
real server replies into these outcomes is tested against aiosmtpd in test_smtp.py."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from fakes import RecordingTransport
from sqlmodel import select

from mailbot import outbox
from mailbot.address import envelope, envelope_of
from mailbot.smtp import SmtpAuthError, SmtpTransient
from mailbot.store import Outbox, Store

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
DSP, DEGS = "dsp@cms.example", "degs.agra@up.example"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "mailbot.db")


@pytest.fixture
def transport() -> RecordingTransport:
    return RecordingTransport()


def message(key: str, *to: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "CEG mailbot <mailbot@ceg.example>"
    msg["To"] = ", ".join(to)
    msg["Subject"] = f"Reminder {key}"
    msg["Message-ID"] = f"<{key}@mailbot.ceg.example>"
    msg.set_content("Please send this week's report.")
    return msg


def queue(store: Store, key: str, *to: str) -> None:
    with store.session() as session:
        assert outbox.queue(session, key=key, kind="reminder", message=message(key, *to), now=NOW)


def rows(store: Store, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(store.path) as db:
        return db.execute(sql).fetchall()


def test_each_message_is_sent_once_however_often_the_pass_runs(store: Store, transport: RecordingTransport) -> None:
    queue(store, "r1", DSP)
    with store.session() as session:  # queueing the same key again (a second `check`) adds nothing
        assert not outbox.queue(session, key="r1", kind="reminder", message=message("r1", DSP), now=NOW)
    assert outbox.deliver(store, transport, NOW, max_attempts=8).sent == 1
    assert outbox.deliver(store, transport, NOW, max_attempts=8, retry_waiting=True).attempted is False
    assert [s.recipients for s in transport.sent] == [(DSP,)]


def test_a_4xx_for_one_recipient_retries_only_that_recipient(store: Store, transport: RecordingTransport) -> None:
    queue(store, "r1", DSP, DEGS)
    transport.refuse(DEGS, 451, "4.2.1 Mailbox busy, try later")
    report = outbox.deliver(store, transport, NOW, max_attempts=8)
    assert (report.sent, report.deferred, report.waiting) == (0, 1, 1)
    assert report.next_attempt_at == NOW + outbox.RETRY_BASE
    assert [s.recipients for s in transport.sent] == [(DSP,)]
    # Not due yet: nothing is sent again before the backoff ends.
    assert outbox.deliver(store, transport, NOW + timedelta(minutes=1), max_attempts=8).attempted is False
    report = outbox.deliver(store, transport, NOW + outbox.RETRY_BASE, max_attempts=8)
    assert report.sent == 1 and report.waiting == 0
    assert [s.recipients for s in transport.sent] == [(DSP,), (DEGS,)]  # the DSP got it once
    assert rows(store, "select status, attempts from outbox") == [("sent", 2)]
    assert sorted(rows(store, "select address, status, code from outbox_recipient")) == [
        (DEGS, "sent", 250),
        (DSP, "sent", 250),
    ]


def test_a_5xx_for_one_recipient_is_final_for_that_recipient_only(store: Store, transport: RecordingTransport) -> None:
    queue(store, "r1", DSP, DEGS)
    transport.refuse(DEGS, 550, "5.1.1 No such user")
    report = outbox.deliver(store, transport, NOW, max_attempts=8)
    assert (report.sent, report.failed, report.waiting) == (1, 0, 0)
    assert rows(store, "select status from outbox") == [("partial",)]
    assert sorted(rows(store, "select address, status, code from outbox_recipient")) == [
        (DEGS, "refused", 550),
        (DSP, "sent", 250),
    ]
    assert outbox.deliver(store, transport, NOW + timedelta(days=1), max_attempts=8).attempted is False


def test_a_server_in_trouble_backs_off_doubling_and_gives_up_after_max_attempts(
    store: Store, transport: RecordingTransport
) -> None:
    queue(store, "r1", DSP)
    when = NOW
    for attempt in range(1, 4):
        transport.fail_next(SmtpTransient("421 4.3.2 Service not available"))
        with pytest.raises(SmtpTransient):  # the pass stops: the server is in trouble, not this message
            outbox.deliver(store, transport, when, max_attempts=3)
        if attempt < 3:
            with store.session() as session:
                row = session.exec(select(Outbox)).one()
            assert row.next_attempt_at == when + outbox.RETRY_BASE * 2 ** (attempt - 1)  # 2, then 4 minutes
            when = row.next_attempt_at
    assert rows(store, "select status, attempts, next_attempt_at from outbox") == [("failed", 3, None)]
    assert transport.sent == []


def test_a_refused_login_costs_no_attempt_and_leaves_every_message_waiting(
    store: Store, transport: RecordingTransport
) -> None:
    queue(store, "r1", DSP)
    queue(store, "r2", DEGS)
    transport.fail_next(SmtpAuthError("535 5.7.8 Authentication credentials invalid"))
    with pytest.raises(SmtpAuthError):
        outbox.deliver(store, transport, NOW, max_attempts=8)
    assert rows(store, "select status, attempts from outbox order by id") == [("pending", 0), ("pending", 0)]
    assert outbox.deliver(store, transport, NOW, max_attempts=8).sent == 2
    assert [s.recipients for s in transport.sent] == [(DSP,), (DEGS,)]


def test_a_crash_after_the_servers_250_resends_with_the_same_message_id(
    store: Store, transport: RecordingTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one duplicate SMTP cannot rule out (see outbox's docstring): it carries the same Message-ID."""
    queue(store, "r1", DSP)

    def crash(*args: object, **kwargs: object) -> None:
        raise OSError("power cut after the server's 250 (injected)")

    real = outbox._record
    monkeypatch.setattr(outbox, "_record", crash)
    with pytest.raises(OSError, match="power cut"):
        outbox.deliver(store, transport, NOW, max_attempts=8)
    monkeypatch.setattr(outbox, "_record", real)
    assert rows(store, "select status, attempts from outbox") == [("pending", 0)]  # nothing was committed
    assert outbox.deliver(store, transport, NOW, max_attempts=8).sent == 1
    ids = {str(s.message["Message-ID"]) for s in transport.sent}
    assert len(transport.sent) == 2 and ids == {"<r1@mailbot.ceg.example>"}


def test_a_bcc_recipient_is_in_the_envelope_and_never_in_the_stored_bytes(
    store: Store, transport: RecordingTransport
) -> None:
    msg = message("r9", DSP)
    msg["Bcc"] = "audit@ceg.example"
    with store.session() as session:
        assert outbox.queue(session, key="r9", kind="reminder", message=msg, now=NOW)
    [(raw, envelope)] = rows(store, "SELECT raw, recipients_json FROM outbox")
    assert isinstance(raw, bytes)
    assert b"audit@ceg.example" not in raw
    assert envelope == f'["{DSP}", "audit@ceg.example"]'
    assert msg["Bcc"] == "audit@ceg.example"  # the caller's message is untouched
    assert outbox.deliver(store, transport, NOW, max_attempts=8).sent == 1
    assert [s.recipients for s in transport.sent] == [(DSP, "audit@ceg.example")]


def test_one_person_written_two_ways_is_one_envelope_recipient() -> None:
    # The outbox and the SMTP adapter build envelopes by one rule: lower-cased, each address once, in order.
    msg = EmailMessage()
    msg["To"] = "DEGS Agra <DM.Agra@up.nic.in>, dm.agra@up.nic.in"
    msg["Cc"] = "jsk@ceg.example"
    assert envelope_of(msg) == ["dm.agra@up.nic.in", "jsk@ceg.example"]
    assert envelope(["A@X.example", "a@x.example", " b@x.example "]) == ["a@x.example", "b@x.example"]

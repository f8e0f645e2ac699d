"""The SMTP transport against a real aiosmtpd server over sockets (STARTTLS, SMTPS, AUTH, faults)."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import logging
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from servers import HOST, DovecotServer, SmtpSink, TlsFiles, free_port

from mailbot import outbox
from mailbot.config import Config, Security, SmtpSettings
from mailbot.health import health
from mailbot.service import Mailbot
from mailbot.smtp import (
    SendResult,
    SmtpAuthError,
    SmtpError,
    SmtpPermanent,
    SmtpSenderRefused,
    SmtpTransient,
    SmtpTransport,
)
from mailbot.store import Store

pytestmark = pytest.mark.servers

ROOT = Path(__file__).resolve().parent.parent

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
LONG_REFERENCES = " ".join(f"<earlier-report-{n}-0123456789abcdef@dsp.example.net>" for n in range(4))


def stored_reply(to: str = "dsp@example.net", cc: str = "") -> bytes:
    """An outbox row's bytes, as compose + store keep them (pre-generated Message-ID, CRLF)."""
    message = EmailMessage()
    message["From"] = "CEG mailbot <mailbot@ceg.example>"
    message["To"] = to
    if cc:
        message["Cc"] = cc
    message["Subject"] = "साप्ताहिक रिपोर्ट प्राप्त / Weekly report received"
    message["Message-ID"] = "<outbox-42.20240805@ceg.example>"
    message["References"] = LONG_REFERENCES
    message.set_content("धन्यवाद. Thank you for the report.\n")
    message.add_attachment(
        b"PK\x03\x04 not really a workbook", maintype="application", subtype="octet-stream", filename="summary.xlsx"
    )
    return message.as_bytes(policy=email.policy.SMTP)


def query(config: Config, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(config.database) as db:
        return db.execute(sql).fetchall()


def query_store(store: Store, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(store.path) as db:
        return db.execute(sql).fetchall()


def reparse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_send_over_starttls_with_auth_is_byte_faithful(smtp_sink: SmtpSink, smtp_settings: SmtpSettings) -> None:
    raw = stored_reply(cc="degs@example.net")
    with SmtpTransport(smtp_settings) as transport:
        result = transport.send(reparse(raw))

    assert result == SendResult(accepted=("dsp@example.net", "degs@example.net"), refused={})
    [got] = smtp_sink.wait_for(1)
    assert got.raw == raw
    assert got.message["Message-ID"] == "<outbox-42.20240805@ceg.example>"
    assert got.mail_from == "mailbot@ceg.example"
    assert got.rcpt_tos == ("dsp@example.net", "degs@example.net")


def test_long_unfolded_header_and_bare_lf_are_sent_as_stored(smtp_sink: SmtpSink, smtp_settings: SmtpSettings) -> None:
    # The default policy would refold this 150-character line; the stored bytes must go out unchanged.
    long_subject = "Reminder: " + " ".join(["report"] * 23)
    raw = (
        b"From: mailbot@ceg.example\nTo: dsp@example.net\nMessage-ID: <lf-1@ceg.example>\n"
        b"Subject: " + long_subject.encode() + b"\n\nline one\n.line starting with a dot\n"
    )
    assert len(long_subject) > 100
    with SmtpTransport(smtp_settings) as transport:
        transport.send(reparse(raw))
    [got] = smtp_sink.wait_for(1)
    assert got.raw == raw.replace(b"\n", b"\r\n")


def test_bcc_is_delivered_but_not_shown(smtp_sink: SmtpSink, smtp_settings: SmtpSettings) -> None:
    message = reparse(stored_reply())
    message["Bcc"] = "audit@ceg.example"
    with SmtpTransport(smtp_settings) as transport:
        result = transport.send(message)
    assert result.accepted == ("dsp@example.net", "audit@ceg.example")
    [got] = smtp_sink.wait_for(1)
    assert got.rcpt_tos == ("dsp@example.net", "audit@ceg.example")
    assert b"audit@ceg.example" not in got.raw
    assert message["Bcc"] == "audit@ceg.example"  # the caller's message is untouched


def test_stored_bytes_go_out_unparsed_to_the_envelope(smtp_sink: SmtpSink, smtp_settings: SmtpSettings) -> None:
    # The outbox's path: the row's bytes and envelope, nothing parsed or regenerated on the way.
    raw = stored_reply(cc="degs@example.net")
    with SmtpTransport(smtp_settings) as transport:
        result = transport.send_raw(raw, ["dsp@example.net", "audit@ceg.example"])
    assert result == SendResult(accepted=("dsp@example.net", "audit@ceg.example"), refused={})
    [got] = smtp_sink.wait_for(1)
    assert got.raw == raw
    assert got.mail_from == "mailbot@ceg.example"
    assert got.rcpt_tos == ("dsp@example.net", "audit@ceg.example")  # the envelope, not the To/Cc headers


def test_stored_bytes_get_crlf_line_ends_and_keep_a_leading_dot(
    smtp_sink: SmtpSink, smtp_settings: SmtpSettings
) -> None:
    raw = (
        b"From: mailbot@ceg.example\nTo: dsp@example.net\rMessage-ID: <lf-2@ceg.example>\n\n"
        b".\r\n..two dots\n.line starting with a dot"
    )  # a lone "." line would end DATA unless stuffed
    with SmtpTransport(smtp_settings) as transport:
        transport.send_raw(raw, ["dsp@example.net"])
    [got] = smtp_sink.wait_for(1)
    assert got.raw == (
        b"From: mailbot@ceg.example\r\nTo: dsp@example.net\r\nMessage-ID: <lf-2@ceg.example>\r\n\r\n"
        b".\r\n..two dots\r\n.line starting with a dot\r\n"
    )


def test_a_bcc_header_in_stored_bytes_is_never_transmitted(smtp_sink: SmtpSink, smtp_settings: SmtpSettings) -> None:
    stored = stored_reply()
    head, body = stored.split(b"\r\n\r\n", 1)
    raw = (
        head + b"\r\nBCC: audit@ceg.example,\r\n second@ceg.example\r\nResent-Bcc: r@ceg.example\r\n"
        b"X-Note: bcc: stays, it is not a Bcc field\r\n\r\n" + body
    )
    with SmtpTransport(smtp_settings) as transport:
        transport.send_raw(raw, ["dsp@example.net", "audit@ceg.example", "second@ceg.example"])
    [got] = smtp_sink.wait_for(1)
    assert got.rcpt_tos == ("dsp@example.net", "audit@ceg.example", "second@ceg.example")
    assert got.raw == head + b"\r\nX-Note: bcc: stays, it is not a Bcc field\r\n\r\n" + body


def test_the_outbox_delivers_each_row_as_stored(
    smtp_sink: SmtpSink, smtp_settings: SmtpSettings, tmp_path: Path
) -> None:
    store = Store(tmp_path / "mailbot.db")
    message = reparse(stored_reply(cc="degs@example.net"))
    message["Bcc"] = "audit@ceg.example"
    with store.session() as session:
        outbox.queue(session, key="receipt:1", kind="receipt", message=message, now=NOW)
    with SmtpTransport(smtp_settings) as transport:
        assert outbox.deliver(store, transport, NOW, max_attempts=3).sent == 1
    [got] = smtp_sink.wait_for(1)
    [(raw, status)] = query_store(store, "SELECT raw, status FROM outbox")
    assert (got.raw, status) == (raw, "sent")
    assert got.rcpt_tos == ("dsp@example.net", "degs@example.net", "audit@ceg.example")
    assert b"audit@ceg.example" not in got.raw  # queued without the Bcc header, delivered by the envelope


def test_an_email_is_accepted_only_once_the_one_before_is_recorded(
    smtp_sink: SmtpSink, smtp_settings: SmtpSettings, tmp_path: Path
) -> None:
    # Each email's commit runs while the next is transmitted; the next one's final "." waits for it. A commit that
    # fails (here a trigger; a full disk alike) must leave the next email unaccepted: at most one can be resent.
    store = Store(tmp_path / "mailbot.db")
    with store.session() as session:
        for n in (1, 2, 3):
            message = reparse(stored_reply(to=f"dsp{n}@example.net"))
            message.replace_header("Message-ID", f"<outbox-{n}@ceg.example>")
            outbox.queue(session, key=f"r{n}", kind="receipt", message=message, now=NOW)
    with sqlite3.connect(store.path) as db:
        db.execute(
            "CREATE TRIGGER lost BEFORE UPDATE ON outbox WHEN OLD.key = 'r1' "
            "BEGIN SELECT RAISE(ABORT, 'simulated: the record of r1 could not be written'); END"
        )
    with SmtpTransport(smtp_settings) as transport, pytest.raises(Exception, match="simulated"):
        outbox.deliver(store, transport, NOW, max_attempts=3)
    assert [m.rcpt_tos for m in smtp_sink.messages] == [("dsp1@example.net",)]  # r2's body went, its "." not
    assert query_store(store, "SELECT key, status, attempts FROM outbox ORDER BY id") == [
        ("r1", "pending", 0),
        ("r2", "pending", 0),
        ("r3", "pending", 0),
    ]

    with sqlite3.connect(store.path) as db:
        db.execute("DROP TRIGGER lost")
    with SmtpTransport(smtp_settings) as transport:
        assert outbox.deliver(store, transport, NOW, max_attempts=3).sent == 3
    got = smtp_sink.wait_for(4)
    # r1 twice with one Message-ID (the one resend a lost record can cause; mail clients show it once), r2 and r3 once.
    assert [m.message["Message-ID"] for m in got] == [f"<outbox-{n}@ceg.example>" for n in (1, 1, 2, 3)]
    assert [r for (r,) in query_store(store, "SELECT status FROM outbox")] == ["sent"] * 3


def test_connection_is_reused_within_a_pass(smtp_sink: SmtpSink, smtp_settings: SmtpSettings) -> None:
    with SmtpTransport(smtp_settings) as transport:
        for n in range(5):
            transport.send(reparse(stored_reply(to=f"dsp{n}@example.net")))
    assert len(smtp_sink.wait_for(5)) == 5
    assert smtp_sink.connections == 1


def test_connection_closed_while_idle_is_replaced(smtp_sink: SmtpSink, smtp_settings: SmtpSettings) -> None:
    with SmtpTransport(smtp_settings, idle_check_after=0) as transport:
        transport.send(reparse(stored_reply()))
        smtp_sink.restart()  # the server forgets every session, as after its idle timeout
        transport.send(reparse(stored_reply()))
    assert len(smtp_sink.wait_for(2)) == 2


def test_smtps_implicit_tls(tls_files: TlsFiles, smtp_settings: SmtpSettings) -> None:
    with SmtpSink(tls_files, security="ssl", password="s3cret-smtps") as sink:
        settings = dataclasses.replace(smtp_settings, port=sink.port, security="ssl")
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("MAILBOT_TEST_SMTP_PASSWORD", "s3cret-smtps")
            with SmtpTransport(settings) as transport:
                transport.send(reparse(stored_reply()))
        assert len(sink.wait_for(1)) == 1


# --- refusals -------------------------------------------------------------------------------------------------


def test_one_recipient_refused_others_delivered(smtp_sink: SmtpSink, smtp_settings: SmtpSettings) -> None:
    smtp_sink.refuse_recipient("gone@example.net")
    smtp_sink.refuse_recipient("busy@example.net", "450 4.2.1 Mailbox busy")
    message = reparse(stored_reply(to="dsp@example.net, gone@example.net", cc="busy@example.net"))
    with SmtpTransport(smtp_settings) as transport:
        result = transport.send(message)
    assert result.accepted == ("dsp@example.net",)
    assert result.refused == {
        "gone@example.net": (550, "5.1.1 No such user"),
        "busy@example.net": (450, "4.2.1 Mailbox busy"),
    }
    assert result.failed == ("gone@example.net",)
    assert result.retry == ("busy@example.net",)
    [got] = smtp_sink.wait_for(1)
    assert got.rcpt_tos == ("dsp@example.net",)


@pytest.mark.parametrize(
    ("reply", "kind"),
    [("450 4.2.1 Mailbox busy", SmtpTransient), ("550 5.1.1 No such user", SmtpPermanent)],
)
def test_every_recipient_refused(
    smtp_sink: SmtpSink, smtp_settings: SmtpSettings, reply: str, kind: type[SmtpError]
) -> None:
    smtp_sink.refuse_recipient("dsp@example.net", reply)
    with SmtpTransport(smtp_settings) as transport, pytest.raises(kind) as caught:
        transport.send(reparse(stored_reply()))
    assert caught.value.refused == {"dsp@example.net": (int(reply[:3]), reply[4:])}
    assert smtp_sink.messages == []


@pytest.mark.parametrize(
    ("reply", "kind"),
    [("451 4.3.0 Try again later", SmtpTransient), ("552 5.3.4 Message too big", SmtpPermanent)],
)
def test_refusal_at_data(smtp_sink: SmtpSink, smtp_settings: SmtpSettings, reply: str, kind: type[Exception]) -> None:
    smtp_sink.fail_data(reply)
    with SmtpTransport(smtp_settings) as transport:
        with pytest.raises(kind, match=f"{HOST}:{smtp_sink.port}.*{reply[:3]}"):
            transport.send(reparse(stored_reply()))
        transport.send(reparse(stored_reply()))  # the next one goes through
    assert len(smtp_sink.wait_for(1)) == 1


def test_greeting_421_is_transient(smtp_sink: SmtpSink, smtp_settings: SmtpSettings) -> None:
    smtp_sink.fail_greeting()
    transport = SmtpTransport(smtp_settings)
    with pytest.raises(SmtpTransient, match="421"):
        transport.send(reparse(stored_reply()))
    transport.send(reparse(stored_reply()))
    transport.close()
    assert len(smtp_sink.wait_for(1)) == 1


def test_dropped_connection_during_data_is_transient(smtp_sink: SmtpSink, smtp_settings: SmtpSettings) -> None:
    smtp_sink.fail_data(None)
    with SmtpTransport(smtp_settings) as transport:
        with pytest.raises(SmtpTransient):
            transport.send(reparse(stored_reply()))
        transport.send(reparse(stored_reply()))  # reconnects
    assert len(smtp_sink.wait_for(1)) == 1


def test_message_without_recipients_is_permanent(smtp_settings: SmtpSettings) -> None:
    message = reparse(stored_reply())
    del message["To"]
    with pytest.raises(SmtpPermanent, match="no recipients"):
        SmtpTransport(smtp_settings).send(message)


# --- connecting -----------------------------------------------------------------------------------------------


def test_untrusted_certificate_is_refused(smtp_sink: SmtpSink, smtp_settings: SmtpSettings) -> None:
    settings = dataclasses.replace(smtp_settings, ca_file=None)
    with pytest.raises(SmtpTransient, match=rf"{HOST}:{smtp_sink.port}.*certificate not trusted"):
        SmtpTransport(settings).send(reparse(stored_reply()))
    assert smtp_sink.messages == []


def test_wrong_password_is_an_auth_error_without_the_password(
    smtp_sink: SmtpSink,
    smtp_settings: SmtpSettings,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-" + str(smtp_sink.password)
    monkeypatch.setenv("MAILBOT_TEST_SMTP_PASSWORD", wrong)
    with pytest.raises(SmtpAuthError, match="535") as caught:
        SmtpTransport(smtp_settings).send(reparse(stored_reply()))
    error = caught.value
    assert wrong not in str(error) + repr(error) + repr(error.__cause__) + repr(error.__context__)
    assert wrong not in caplog.text


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_hung_server_times_out(smtp_settings: SmtpSettings, silent_server: int, security: Security) -> None:
    settings = dataclasses.replace(smtp_settings, port=silent_server, timeout=1.0, security=security)
    started = time.monotonic()
    with pytest.raises(SmtpTransient, match="timed out"):
        SmtpTransport(settings).send(reparse(stored_reply()))
    assert time.monotonic() - started < 5


def test_nothing_listening_is_transient(smtp_settings: SmtpSettings) -> None:
    settings = dataclasses.replace(smtp_settings, port=free_port())
    with pytest.raises(SmtpTransient, match="refused"):
        SmtpTransport(settings).send(reparse(stored_reply()))


def test_plain_relay_on_loopback_without_auth(tmp_path: Path) -> None:
    with SmtpSink(security="none", username=None) as sink:
        settings = SmtpSettings(
            host=HOST, port=sink.port, from_address="mailbot@ceg.example", secret=None, security="none", timeout=5.0
        )
        with SmtpTransport(settings) as transport:
            transport.send(reparse(stored_reply()))
        assert len(sink.wait_for(1)) == 1


# --- operator mistakes: each named, with what to do -------------------------------------------------------


def test_ssl_on_a_plain_port_says_to_try_starttls(smtp_sink: SmtpSink, smtp_settings: SmtpSettings) -> None:
    settings = dataclasses.replace(smtp_settings, security="ssl")  # the sink speaks plain text, then STARTTLS
    with pytest.raises(SmtpTransient, match=r'does not speak TLS on this port: try security = "starttls"'):
        SmtpTransport(settings).connect()


def test_an_imap_port_is_named_as_imap(smtp_settings: SmtpSettings, dovecot: DovecotServer) -> None:
    settings = dataclasses.replace(smtp_settings, port=dovecot.imap_port)
    with pytest.raises(
        SmtpTransient,
        match=r"no SMTP reply code .*IMAP4rev1.*: this looks like an IMAP server, "
        r"not SMTP: check smtp\.port$",
    ):
        SmtpTransport(settings).connect()


def test_a_refused_login_reads_as_one_plain_sentence(
    smtp_sink: SmtpSink, smtp_settings: SmtpSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAILBOT_TEST_SMTP_PASSWORD", "not-the-password")
    with pytest.raises(SmtpAuthError) as caught:
        SmtpTransport(smtp_settings).connect()
    assert str(caught.value).startswith(
        f"SMTP login refused for {smtp_settings.username} on {HOST}:{smtp_sink.port}: 535 "
    )


@pytest.mark.parametrize(("content", "reason"), [(None, "No such file"), ("not a certificate\n", "cannot use")])
def test_an_unusable_ca_file_is_named(
    smtp_settings: SmtpSettings, tmp_path: Path, content: str | None, reason: str
) -> None:
    ca_file = tmp_path / "ca.pem"
    if content is not None:
        ca_file.write_text(content, encoding="utf-8")
    with pytest.raises(SmtpTransient, match=rf"smtp\.ca_file: cannot use {ca_file}: ") as caught:
        SmtpTransport(dataclasses.replace(smtp_settings, ca_file=ca_file)).connect()
    assert reason in str(caught.value)


@pytest.mark.parametrize("reply", ["550 5.7.1 Daily sending quota exceeded", "554 5.7.1 Sender blocked"])
def test_a_refused_sender_refuses_us_not_the_message(
    smtp_sink: SmtpSink, smtp_settings: SmtpSettings, reply: str
) -> None:
    smtp_sink.refuse_sender(reply)
    with SmtpTransport(smtp_settings) as transport, pytest.raises(SmtpSenderRefused) as caught:
        transport.send(reparse(stored_reply()))
    assert isinstance(caught.value, SmtpAuthError)  # handled like a refused login: every email waits
    assert reply[4:] in str(caught.value) and "mailbot@ceg.example" in str(caught.value)
    smtp_sink.refuse_sender("552 5.3.4 Message size exceeds fixed limit")  # this message, not us
    with SmtpTransport(smtp_settings) as transport, pytest.raises(SmtpPermanent) as too_big:
        transport.send(reparse(stored_reply()))
    assert not isinstance(too_big.value, SmtpAuthError)
    smtp_sink.clear_faults()
    with SmtpTransport(smtp_settings) as transport:
        assert transport.send(reparse(stored_reply())).accepted == ("dsp@example.net",)


def test_a_sending_quota_leaves_every_email_waiting_alerts_the_operator_and_turns_health_red(
    smtp_sink: SmtpSink, make_config: Callable[..., Config]
) -> None:
    config = make_config(ROOT / "fixtures" / "roster" / "roster.xlsx")
    bot = Mailbot(config)
    try:
        bot.alert_operator("one", "first email")
        bot.alert_operator("two", "second email")
        smtp_sink.refuse_sender("550 5.7.1 Daily sending quota exceeded")
        with pytest.raises(SmtpSenderRefused):
            bot.send()
        with pytest.raises(SmtpSenderRefused):
            bot.send()  # the next pass too: still nothing is given up, and the operator is not told twice
        rows = query(config, "select kind, status, attempts from outbox order by id")
        assert rows == [("operator_alert", "pending", 0)] * 3  # the two emails and the alert about the quota
        ok, line = health(config, datetime.now(UTC))
        assert not ok and "Daily sending quota exceeded" in line and "3 waiting" in line, line

        smtp_sink.clear_faults()  # the next day, the quota is reset
        assert bot.send().sent == 3
    finally:
        bot.close()
    # Mail goes again; what health still says is about the mailbox, never polled in this test.
    assert health(config, datetime.now(UTC))[1].startswith("unhealthy: no successful poll recorded yet")
    body = smtp_sink.messages[-1].message.get_body(("plain",))
    assert body is not None and "Daily sending quota exceeded" in body.get_content()

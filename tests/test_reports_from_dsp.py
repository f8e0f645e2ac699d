"""On the real servers: only the DSP's own, latest email counts, and replies reach the roster alone (issues 7, 8)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from emails import body_text
from servers import DovecotServer, ImapAccount, SmtpSink
from test_end_to_end import ROSTER, WEEK, as_dict, districts, mailbot_cli, query, report_email

from mailbot.config import Config

pytestmark = pytest.mark.servers

PASS = "Authentication-Results: mx.ceg.example; dmarc=pass header.from=cms.example\r\n"


def _cms_status(config: Config) -> dict[int, tuple[str, int | None]]:
    status = json.loads(mailbot_cli(config, "status", "--week", str(WEEK), "--json").stdout)
    return {
        d["lgd_code"]: (d["status"], (d.get("figures") or {}).get("rural_opened"))
        for d in status["districts"]
        if d["dsp"] == "CMS Computers"
    }


def test_a_forged_report_changes_nothing_and_is_answered_at_the_roster_address_only(
    dovecot: DovecotServer, imap_account: ImapAccount, smtp_sink: SmtpSink, make_config: Callable[..., Config]
) -> None:
    config = make_config(ROSTER, imap={"authserv_id": "mx.ceg.example"})
    cms = districts("CMS Computers")
    forged = report_email("CMS Computers", "reports@cms.example", cms, opened=99, message_id="<f1@evil.example>")
    forged = forged.replace(b"\r\nSubject:", b"\r\nReply-To: mis@cms.example\r\nSubject:", 1)
    dovecot.seed(imap_account.username, forged)
    mailbot_cli(config, "poll")
    # Not a report: every district is still "missing", not "invalid".
    assert {s for s, _ in _cms_status(config).values()} == {"missing"}
    assert len(dovecot.messages(imap_account.username, "Rejected")) == 1

    genuine = PASS.encode() + report_email("CMS Computers", "reports@cms.example", cms, opened=10)
    dovecot.seed(imap_account.username, genuine)
    mailbot_cli(config, "poll")
    dovecot.seed(imap_account.username, forged.replace(b"<f1@", b"<f2@"))  # a forgery after the genuine report
    mailbot_cli(config, "poll")
    assert set(_cms_status(config).values()) == {("late", 10)}  # the genuine figures stay in force

    mailbot_cli(config, "send")
    assert smtp_sink.wait_for(3)
    assert sorted(r for m in smtp_sink.messages for r in m.rcpt_tos) == ["reports@cms.example"] * 3


def test_two_from_addresses_are_no_report_even_without_authserv_id(
    dovecot: DovecotServer, imap_account: ImapAccount, make_config: Callable[..., Config]
) -> None:
    config = make_config(ROSTER)
    cms = districts("CMS Computers")
    raw = report_email("CMS Computers", "reports@cms.example", cms)
    dovecot.seed(imap_account.username, raw.replace(b"\r\nSubject:", b"\r\nFrom: x@evil.example\r\nSubject:", 1))
    mailbot_cli(config, "poll")
    assert {s for s, _ in _cms_status(config).values()} == {"missing"}
    assert query(config, "select outcome, dsp_id from ledger") == [("rejected", None)]


def a_b_and_a_again() -> tuple[bytes, bytes, bytes]:
    """CMS's report A (10 opened), a mistaken B (77), and A sent again: the same districts each time."""
    cms = districts("CMS Computers")
    a = report_email("CMS Computers", "reports@cms.example", cms, opened=10, message_id="<a1@cms.example>")
    b = report_email("CMS Computers", "reports@cms.example", cms, opened=77, message_id="<b@cms.example>")
    a_again = report_email(
        "CMS Computers", "reports@cms.example", cms, opened=10, subject="Re-sent: A", message_id="<a2@cms.example>"
    )
    return a, b, a_again


def test_the_latest_email_wins_even_when_its_file_came_before_and_read_out_of_order(
    dovecot: DovecotServer, imap_account: ImapAccount, smtp_sink: SmtpSink, make_config: Callable[..., Config]
) -> None:
    config = make_config(ROSTER)
    a, b, a_again = a_b_and_a_again()
    with dovecot.client(imap_account.username) as client:
        client.append("INBOX", a, msg_time=datetime(2026, 11, 23, 4, 0, tzinfo=UTC))
        client.append("INBOX", b, msg_time=datetime(2026, 11, 23, 5, 0, tzinfo=UTC))
    mailbot_cli(config, "poll")
    assert set(_cms_status(config).values()) == {("on_time", 77)}  # the mistaken correction, for now
    with dovecot.client(imap_account.username) as client:
        client.append("INBOX", a_again, msg_time=datetime(2026, 11, 23, 6, 0, tzinfo=UTC))
    mailbot_cli(config, "poll")
    assert set(_cms_status(config).values()) == {("on_time", 10)}
    assert as_dict(query(config, "select message_id, outcome from ledger"), str, str) == {
        "<a1@cms.example>": "accepted",
        "<b@cms.example>": "accepted",
        "<a2@cms.example>": "accepted",
    }
    mailbot_cli(config, "send")
    assert smtp_sink.wait_for(3)
    last = next(m.message for m in smtp_sink.messages if m.message["In-Reply-To"] == "<a2@cms.example>")
    body = body_text(last)
    assert "Figures now in force" in body and "rural opened 10 of 100" in body and "77" not in body


def test_a_backlog_read_out_of_order_still_ends_with_the_latest_email_in_force(
    dovecot: DovecotServer, imap_account: ImapAccount, smtp_sink: SmtpSink, make_config: Callable[..., Config]
) -> None:
    config = make_config(ROSTER)
    a, b, a_again = a_b_and_a_again()
    with dovecot.client(imap_account.username) as client:
        client.append("INBOX", a, msg_time=datetime(2026, 11, 23, 4, 0, tzinfo=UTC))
        client.append("INBOX", a_again, msg_time=datetime(2026, 11, 23, 6, 0, tzinfo=UTC))
    mailbot_cli(config, "poll")
    with dovecot.client(imap_account.username) as client:  # B was received between the two, but is read last
        client.append("INBOX", b, msg_time=datetime(2026, 11, 23, 5, 0, tzinfo=UTC))
    mailbot_cli(config, "poll")
    assert set(_cms_status(config).values()) == {("on_time", 10)}
    mailbot_cli(config, "send")
    assert smtp_sink.wait_for(3)
    late = next(m.message for m in smtp_sink.messages if m.message["In-Reply-To"] == "<b@cms.example>")
    body = body_text(late)
    assert "from a report received later" in body and "rural opened 10 of 100" in body


def test_a_reply_to_naming_strangers_sends_nothing_outside_the_roster(
    dovecot: DovecotServer, imap_account: ImapAccount, smtp_sink: SmtpSink, make_config: Callable[..., Config]
) -> None:
    config = make_config(ROSTER, imap={"authserv_id": "mx.ceg.example"})
    cms = districts("CMS Computers")
    attack = b'Reply-To: "x;v1@evil.example;v2@other.example;"@cms.example\r\n'
    genuine = PASS.encode() + attack + report_email("CMS Computers", "reports@cms.example", cms)
    forged = attack + report_email("CMS Computers", "reports@cms.example", cms, message_id="<forged@cms.example>")
    dovecot.seed(imap_account.username, genuine)
    dovecot.seed(imap_account.username, forged)  # the "not authenticated" rejection must not follow Reply-To either
    mailbot_cli(config, "poll")
    mailbot_cli(config, "send")
    assert smtp_sink.wait_for(2)
    assert sorted(r for m in smtp_sink.messages for r in m.rcpt_tos) == ["reports@cms.example"] * 2
    assert all(m.message["To"] == "reports@cms.example" for m in smtp_sink.messages)

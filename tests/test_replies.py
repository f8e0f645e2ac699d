"""Answers to DSPs' emails: only to plain roster addresses, nothing of a stranger's in our headers, a daily cap."""

from __future__ import annotations

import email
import email.policy
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from servers import SmtpSink
from sqlmodel import select

from mailbot import outbox, queries
from mailbot.config import Config
from mailbot.mailbuilder import build_email
from mailbot.roster import load_roster
from mailbot.service import Mailbot
from mailbot.store import Outbox, Store
from mailbot.weeks import Week
from mailbot.workbook.template import report_workbook

ROOT = Path(__file__).resolve().parent.parent
ROSTER = ROOT / "fixtures" / "roster" / "roster.xlsx"
WEEK = Week(2026, 47)
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
CMS = "CMS Computers"

pytestmark = pytest.mark.servers  # make_config points at the SMTP sink


def _report(headers: tuple[tuple[str, str], ...] = (), message_id: str | None = None) -> bytes:
    codes = load_roster(ROSTER).districts_of(CMS, WEEK)
    figures: dict[int, dict[str, int | str]] = {
        c: {"rural_target": 100, "rural_opened": 10, "urban_target": 20, "urban_opened": 5} for c in codes
    }
    return build_email(
        sender=f"{CMS} <reports@cms.example>",
        subject=f"JSK report {WEEK}",
        headers=headers,
        attachments=[("r.xlsx", report_workbook(CMS, WEEK, codes, figures))],
        message_id=message_id,
    )


def _import(bot: Mailbot, tmp_path: Path, raw: bytes, name: str) -> str:
    path = tmp_path / f"{name}.eml"
    path.write_bytes(raw)
    return bot.import_file(path).outcome


def _replies(config: Config) -> list[tuple[str, EmailMessage]]:
    with sqlite3.connect(config.database) as db:
        rows = db.execute("select recipients_json, raw from outbox order by id").fetchall()
    out = []
    for recipients, raw in rows:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        out.append((recipients, msg))
    return out


def test_a_quoted_reply_to_with_semicolons_gets_no_reply_outside_the_roster(
    smtp_sink: SmtpSink, make_config: Callable[..., Config], tmp_path: Path
) -> None:
    config = make_config(ROSTER)
    bot = Mailbot(config, clock=lambda: NOW)
    raw = _report().replace(
        b"\r\nSubject:", b'\r\nReply-To: "x;v1@evil.example;v2@other.example;"@cms.example\r\nSubject:', 1
    )
    assert _import(bot, tmp_path, raw, "attack") == "accepted"
    [(recipients, msg)] = _replies(config)
    assert recipients == '["reports@cms.example"]'
    assert msg["To"] == "reports@cms.example"
    bot.close()


@pytest.mark.parametrize(
    ("name", "header", "message_id"),
    [
        ("encoded_word_message_id", (), "=?utf-8?q?x=0D=0AReply-To:_v@evil.example?="),
        ("bare_cr_in_message_id", (), "<a\rb@cms.example>"),
        (
            "encoded_crlf_in_reply_to",
            (("Reply-To", "=?utf-8?q?reports@cms.example=0D=0ABcc:_v@evil.example?="),),
            "<ok@cms.example>",
        ),
    ],
)
def test_hostile_header_values_never_reach_ours_and_the_report_is_still_answered(
    smtp_sink: SmtpSink,
    make_config: Callable[..., Config],
    tmp_path: Path,
    name: str,
    header: tuple[tuple[str, str], ...],
    message_id: str,
) -> None:
    config = make_config(ROSTER)
    bot = Mailbot(config, clock=lambda: NOW)
    raw = _report(header, message_id="")
    raw = raw.replace(b"\r\nMIME-Version:", f"\r\nMessage-ID: {message_id}\r\nMIME-Version:".encode(), 1)
    assert _import(bot, tmp_path, raw, name) == "accepted"
    [(recipients, msg)] = _replies(config)
    assert recipients == '["reports@cms.example"]'
    assert "evil" not in str(msg["In-Reply-To"]) and msg["Reply-To"] is None and msg["Bcc"] is None
    if name == "encoded_crlf_in_reply_to":
        assert msg["In-Reply-To"] == "<ok@cms.example>"
    else:
        assert msg["In-Reply-To"] is None
    bot.close()


def test_replies_to_one_address_stop_at_the_daily_limit_and_are_counted(
    smtp_sink: SmtpSink, make_config: Callable[..., Config], tmp_path: Path
) -> None:
    config = make_config(ROSTER, imap={"max_replies_per_address_per_day": 2})
    times = iter([NOW, NOW + timedelta(minutes=1), NOW + timedelta(minutes=2), NOW + timedelta(hours=25)])
    clock = {"now": NOW}
    bot = Mailbot(config, clock=lambda: clock["now"])
    for i, when in enumerate(times):  # an autoresponder answering each rejection, without Auto-Submitted
        clock["now"] = when
        raw = build_email(sender="reports@cms.example", subject=f"Re: Not accepted {i}", message_id=f"<{i}@x.example>")
        assert _import(bot, tmp_path, raw, f"auto{i}") == "rejected"
    assert len(_replies(config)) == 3  # two, then none, then two again a day later
    with bot.store.session() as session:
        assert queries.replies_withheld(session, NOW, NOW + timedelta(days=1)) == 1
    with sqlite3.connect(config.database) as db:
        [(reason,)] = db.execute("select reason from ledger where reply_withheld").fetchall()
    assert "not answered: reports@cms.example already had 2 replies in 24 hours" in reason
    bot.close()


def test_a_dsp_sending_one_report_per_district_gets_a_receipt_for_each_beyond_the_limit(
    smtp_sink: SmtpSink, make_config: Callable[..., Config], tmp_path: Path
) -> None:
    # The limit stops loops and floods of rejections; genuine reports (here 4, limit 2) are always acknowledged.
    config = make_config(ROSTER, imap={"max_replies_per_address_per_day": 2})
    bot = Mailbot(config, clock=lambda: NOW)
    codes = load_roster(ROSTER).districts_of(CMS, WEEK)[:4]
    for i, code in enumerate(codes):
        figures: dict[int, dict[str, int | str]] = {
            code: {"rural_target": 100, "rural_opened": 10 + i, "urban_target": 20, "urban_opened": 5}
        }
        raw = build_email(
            sender=f"{CMS} <reports@cms.example>",
            subject=f"JSK report {WEEK} ({i})",
            attachments=[("r.xlsx", report_workbook(CMS, WEEK, [code], figures))],
            message_id=f"<district{i}@cms.example>",
        )
        assert _import(bot, tmp_path, raw, f"district{i}") == "accepted"
    kinds = [str(msg["X-Mailbot-Kind"]) for _, msg in _replies(config)]
    assert kinds == ["acknowledgement"] * 4
    bot.close()


def test_the_outbox_refuses_an_address_that_is_not_plain_and_reads_old_rows(tmp_path: Path) -> None:
    msg = EmailMessage()
    msg["From"] = "mailbot@ceg.example"
    msg["To"] = '"x;v1@evil.example"@cms.example'
    msg["Subject"] = "s"
    msg["Message-ID"] = "<1@ceg.example>"
    msg.set_content("hi")
    store = Store(tmp_path / "db.sqlite")
    with store.session() as session:
        with pytest.raises(ValueError, match="not plain email addresses"):
            outbox.queue(session, key="k", kind="rejection", message=msg, now=NOW)
        del msg["To"]
        msg["To"] = "reports@cms.example"
        assert outbox.queue(session, key="k", kind="rejection", message=msg, now=NOW)
        session.flush()
        row = session.exec(select(Outbox)).one()
        assert outbox.recipients_of(row) == ["reports@cms.example"]
        row.recipients_json, row.recipients = "", "a@x.example;b@y.example"  # queued by an earlier version
        assert outbox.recipients_of(row) == ["a@x.example", "b@y.example"]
    store.close()


def test_a_header_line_smuggled_into_a_value_is_refused_before_sending() -> None:
    msg = EmailMessage()
    msg["From"] = "mailbot@ceg.example"
    msg["Message-ID"] = "<1@ceg.example>"
    raw = msg.as_bytes(policy=email.policy.SMTP)
    outbox.check_generated_headers(msg, raw)
    with pytest.raises(ValueError, match="inject"):
        outbox.check_generated_headers(msg, raw.replace(b"Message-ID:", b"Bcc: v@evil.example\r\nMessage-ID:"))

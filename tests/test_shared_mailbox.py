"""A mailbox CEG staff also read (``imap.unrelated = "leave"``): their mail stays where it is, unread, and is
never fetched again; reports are read as usual. Real Dovecot."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from servers import DovecotServer, ImapAccount, SmtpSink

from mailbot.config import Config, ConfigError
from mailbot.mailbuilder import build_email
from mailbot.roster import load_roster
from mailbot.service import Mailbot
from mailbot.weeks import Week
from mailbot.workbook.template import report_workbook

ROOT = Path(__file__).resolve().parent.parent
ROSTER = ROOT / "fixtures" / "roster" / "roster.xlsx"
WEEK = Week(2026, 47)
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)

pytestmark = pytest.mark.servers


def cms_report() -> bytes:
    codes = load_roster(ROSTER).districts_of("CMS Computers", WEEK)
    figures = {
        c: {
            "rural_target": 100,
            "rural_opened": 10,
            "urban_target": 20,
            "urban_opened": 5,
            "functional": 12,
            "b2c_enabled": 3,
        }
        for c in codes
    }
    return build_email(
        sender="CMS Computers <reports@cms.example>",
        subject=f"Weekly JSK report {WEEK}",
        attachments=[(f"JSK-{WEEK}.xlsx", report_workbook("CMS Computers", WEEK, codes, figures))],
    )


STAFF = build_email(
    sender="Section officer <so@ceg.example>", subject="Leave application", body="Please approve my leave for Monday."
)
# A stranger with a workbook: not a roster address, so not read either.
STRANGER = build_email(
    sender="someone@unknown.example",
    subject="report",
    attachments=[("r.xlsx", report_workbook("CMS Computers", WEEK, (), {}))],
)


def test_leave_keeps_staff_mail_unread_in_place_and_never_fetches_it_again(
    dovecot: DovecotServer, imap_account: ImapAccount, smtp_sink: SmtpSink, make_config: Callable[..., Config]
) -> None:
    config = make_config(ROSTER, imap={"unrelated": "leave"})
    user = imap_account.username
    dovecot.seed(user, STAFF)
    report_uid = dovecot.seed(user, cms_report())
    dovecot.seed(user, STRANGER, flags=[b"\\Seen"])
    bot = Mailbot(config, clock=lambda: NOW)

    first = bot.poll()
    assert (first.seen, first.accepted, first.left, first.moved) == (3, 1, 2, 1)
    inbox = dovecot.contents(user, "INBOX")
    assert [raw for _, raw, _ in inbox] == [STAFF, STRANGER]  # in place, and nothing else
    assert b"\\Seen" not in inbox[0][2]  # still unread for staff
    assert b"\\Seen" in inbox[1][2]  # and a read one stays read
    assert report_uid not in [uid for uid, _, _ in inbox]
    assert len(dovecot.messages(user, "Processed")) == 1
    assert dovecot.messages(user, "Rejected") == []

    second = bot.poll()
    assert (second.seen, second.left, second.moved) == (0, 0, 0)  # remembered by UID: nothing fetched
    assert [b"\\Seen" in flags for _, _, flags in dovecot.contents(user, "INBOX")] == [False, True]
    bot.close()


def test_move_the_default_files_staff_mail_in_rejected(
    dovecot: DovecotServer, imap_account: ImapAccount, smtp_sink: SmtpSink, make_config: Callable[..., Config]
) -> None:
    config = make_config(ROSTER)
    assert config.imap.unrelated == "move"
    dovecot.seed(imap_account.username, STAFF)
    bot = Mailbot(config, clock=lambda: NOW)
    report = bot.poll()
    assert (report.seen, report.left, report.moved) == (1, 0, 1)
    assert dovecot.messages(imap_account.username, "INBOX") == []
    assert dovecot.messages(imap_account.username, "Rejected") == [STAFF]
    bot.close()


def test_unrelated_accepts_only_leave_or_move(make_config: Callable[..., Config]) -> None:
    with pytest.raises(ConfigError, match=r"imap.unrelated: must be one of move, leave; got 'keep'"):
        make_config(ROSTER, imap={"unrelated": "keep"})

"""A district office (DEGS) answering an escalation: recognised, kept, never answered by mailbot, and listed for CEG
in the next weekly summary with its district and the escalation it answers. Real Dovecot and SMTP servers."""

from __future__ import annotations

import email
import email.policy
import io
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from emails import body_text
from servers import DovecotServer, ImapAccount, SmtpSink
from test_end_to_end import ROSTER, query, read

from mailbot.config import Config
from mailbot.districts import by_code
from mailbot.mailbuilder import build_email
from mailbot.roster import load_roster
from mailbot.service import Mailbot

IST = ZoneInfo("Asia/Kolkata")
WEDNESDAY = datetime(2026, 11, 25, 13, 0, tzinfo=IST)  # W48: W47's escalations are due
NEXT_SUMMARY = datetime(2026, 12, 1, 10, 30, tzinfo=IST)  # Tuesday of W49: W48's summary is due

pytestmark = pytest.mark.servers


def test_a_district_office_reply_is_kept_unanswered_and_listed_in_the_next_summary(
    dovecot: DovecotServer, imap_account: ImapAccount, smtp_sink: SmtpSink, make_config: Callable[..., Config]
) -> None:
    now = [WEDNESDAY]
    bot = Mailbot(make_config(ROSTER, calendar={"first_week": "2026-W47"}), clock=lambda: now[0])
    try:
        read(bot, WEDNESDAY)
        assert bot.check(now=WEDNESDAY).kinds.get("escalation")
        degs = load_roster(ROSTER).degs
        lgd, message_id, subject = next(
            (lgd, mid, subj)
            for lgd, mid, subj in query(
                bot.config,
                "select lgd_code, message_id, subject from outbox where kind = 'escalation' order by lgd_code",
            )
            if degs.get(int(str(lgd)))
        )
        assert isinstance(lgd, int)
        office = degs[lgd][0]
        district = by_code(lgd).name_en
        sent_before = len(query(bot.config, "select id from outbox"))

        reply = build_email(
            sender=f"DEGS {district} <{office.upper()}>",
            subject=f"Re: {subject}",
            body="Notice issued to the DSP today.",
            date=WEDNESDAY + timedelta(days=1),
            headers={"In-Reply-To": str(message_id), "References": f"<older@x.example> {message_id}"},
        )
        stranger = build_email(sender="someone@unknown.example", subject="Hello")
        dovecot.seed(imap_account.username, reply)
        dovecot.seed(imap_account.username, stranger)
        now[0] = WEDNESDAY + timedelta(days=1)
        bot.poll()

        # Kept and filed as handled; the stranger still goes to Rejected.
        assert reply in dovecot.messages(imap_account.username, "Processed")
        assert stranger in dovecot.messages(imap_account.username, "Rejected")
        [(outcome, reason, degs_lgd)] = query(
            bot.config, "select outcome, reason, degs_lgd from ledger where lower(sender) = ?", office
        )
        assert outcome == "degs_reply" and degs_lgd == str(lgd) and district in str(reason)
        # Never answered: nothing new in the outbox but what check() queues later.
        assert len(query(bot.config, "select id from outbox")) == sent_before

        read(bot, NEXT_SUMMARY)
        now[0] = NEXT_SUMMARY
        bot.check(now=NEXT_SUMMARY)
        [(raw,)] = query(bot.config, "select raw from outbox where kind = 'summary' and week = '2026-W48'")
    finally:
        bot.close()
    assert isinstance(raw, bytes)
    summary = email.message_from_bytes(raw, policy=email.policy.default)
    text = body_text(summary)
    html = body_text(summary, "html")
    listed = text.split("Replies from district offices", 1)[1].split("Unanswered messages", 1)
    assert office in listed[0].lower() and district in listed[0] and "answers the escalation" in listed[0]
    assert f"Re: {subject}" in listed[0]
    assert office not in listed[1].lower()  # not among the strangers
    assert "someone@unknown.example" in listed[1]
    assert "Replies from district offices" in html and office in html.lower()
    [xlsx] = [p for p in summary.iter_attachments() if p.get_filename("").endswith(".xlsx")]
    book = openpyxl.load_workbook(io.BytesIO(xlsx.get_content()), read_only=True)
    rows = list(book["District replies"].iter_rows(values_only=True))
    assert any(r[0] == district and str(r[1]).lower() == office and "escalation" in str(r[4]) for r in rows)
    assert not any(office in str(r).lower() for r in book["Quarantine"].iter_rows(values_only=True))

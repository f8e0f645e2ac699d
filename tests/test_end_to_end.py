"""Ingestion end to end, as a user would run it: seed a real Dovecot, run `mailbot poll` and `mailbot send`,
then look at the database, the IMAP folders and the replies that reached the SMTP server."""

from __future__ import annotations

import email
import email.policy
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from conftest import SMTP_PASSWORD_ENV
from emails import body_text
from servers import DovecotServer, ImapAccount, SmtpSink

from mailbot import outbox
from mailbot.config import Config, ImapSettings
from mailbot.mailbox import Mailbox, MailboxUnavailable
from mailbot.mailbuilder import build_email
from mailbot.roster import load_roster
from mailbot.service import MAILBOX_READ, Mailbot
from mailbot.smtp import SmtpAuthError, SmtpTransient
from mailbot.weeks import Week
from mailbot.workbook.template import report_workbook

ROOT = Path(__file__).resolve().parent.parent
ROSTER = ROOT / "fixtures" / "roster" / "roster.xlsx"
EMAILS = ROOT / "fixtures" / "emails"
WEEK = Week(2026, 47)
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
IST = ZoneInfo("Asia/Kolkata")

pytestmark = pytest.mark.servers


def districts(dsp: str) -> tuple[int, ...]:
    return load_roster(ROSTER).districts_of(dsp, WEEK)


def figures(lgd_codes: tuple[int, ...], opened: int = 10) -> dict[int, dict[str, int | str]]:
    return {
        code: {
            "rural_target": 100,
            "rural_opened": opened,
            "urban_target": 20,
            "urban_opened": 5,
            "functional": 12,
            "b2c_enabled": 3,
        }
        for code in lgd_codes
    }


def report_email(
    dsp: str,
    sender: str,
    lgd_codes: tuple[int, ...],
    opened: int = 10,
    subject: str = "",
    message_id: str | None = None,
) -> bytes:
    workbook = report_workbook(dsp, WEEK, lgd_codes, figures(lgd_codes, opened))
    return build_email(
        sender=f"{dsp} <{sender}>",
        subject=subject or f"Weekly JSK report {WEEK}",
        attachments=[(f"JSK-{WEEK}.xlsx", workbook)],
        message_id=message_id,
    )


def mailbot_cli(config: Config, *args: str) -> subprocess.CompletedProcess[str]:
    assert config.source is not None
    done = subprocess.run(
        [sys.executable, "-m", "mailbot", "--config", str(config.source), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
        check=False,
    )
    assert done.returncode == 0, f"mailbot {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done


def query(config: Config, sql: str, *params: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(config.database) as db:
        return db.execute(sql, params).fetchall()


K = TypeVar("K")
V = TypeVar("V")


def as_dict(rows: Sequence[tuple[object, ...]], key: type[K], value: type[V]) -> dict[K, V]:
    """Two-column rows as {first: second}, checking each column's type."""
    out: dict[K, V] = {}
    for first, second in rows:
        assert isinstance(first, key) and isinstance(second, value), (first, second)
        out[first] = second
    return out


def blobs(config: Config, sql: str, *params: object) -> list[bytes]:
    """A one-column query of BLOBs (an outbox email's raw bytes)."""
    rows = [raw for (raw,) in query(config, sql, *params)]
    assert all(isinstance(raw, bytes) for raw in rows), rows
    return [raw for raw in rows if isinstance(raw, bytes)]


def read(bot: Mailbot, moment: datetime) -> None:
    """As if a pass over the (empty) mailbox had just completed: steps saying "missing" may go out."""
    bot.values.set(MAILBOX_READ, moment.isoformat())


def mixed_mailbox(dovecot: DovecotServer, account: ImapAccount) -> dict[str, bytes]:
    cms = districts("CMS Computers")
    mails = {
        "cms": report_email("CMS Computers", "reports@cms.example", cms),
        "srmes_unassigned": report_email("SRMES", "mis@srmes.example", (cms[0],)),
        "unknown_sender": report_email("Nobody", "someone@unknown.example", cms),
        "auto_reply": (EMAILS / "auto_reply_out_of_office.eml").read_bytes(),
        "no_attachment": (EMAILS / "no_attachment.eml").read_bytes(),
        "password_protected": (EMAILS / "password_protected_xlsx.eml").read_bytes(),
        "updesco": report_email("UPDESCO", "jsk@updesco.example", districts("UPDESCO")),
    }
    for raw in mails.values():
        dovecot.seed(account.username, raw)
    return mails


def test_poll_and_send_file_every_message_and_answer_each_dsp_once(
    dovecot: DovecotServer, imap_account: ImapAccount, smtp_sink: SmtpSink, make_config: Callable[..., Config]
) -> None:
    config = make_config(ROSTER)
    mails = mixed_mailbox(dovecot, imap_account)
    cms = districts("CMS Computers")

    out = mailbot_cli(config, "poll").stdout
    assert "seen 7" in out
    mailbot_cli(config, "send")

    # Nothing stays in the inbox, nothing is deleted.
    user = imap_account.username
    assert dovecot.messages(user, "INBOX") == []
    processed, rejected = dovecot.messages(user, "Processed"), dovecot.messages(user, "Rejected")
    assert len(processed) + len(rejected) == len(mails)
    assert mails["cms"] in processed and mails["unknown_sender"] in rejected and mails["auto_reply"] in rejected

    # Every valid district row once, and only CMS's own districts.
    stored = query(
        config,
        "select d.name, r.lgd_code, r.rural_opened from report_row r join dsp d "
        "on d.id = r.dsp_id where r.current order by r.lgd_code",
    )
    cms_rows = [row for row in stored if row[0] == "CMS Computers"]
    assert [r[1] for r in cms_rows] == sorted(cms) and all(r[2] == 10 for r in cms_rows)  # ordered by lgd_code
    assert not [row for row in stored if row[0] == "SRMES"]  # not its district: never stored

    # Replies: one to each known DSP, none to the unknown sender or the auto-reply.
    assert smtp_sink.wait_for(5)
    received = [(m.rcpt_tos, m.message) for m in smtp_sink.messages]
    assert len(received) == 5  # cms, srmes, updesco, no attachment, password-protected: one each
    recipients = sorted(r for rcpts, _ in received for r in rcpts)
    assert "someone@unknown.example" not in recipients
    assert set(recipients) == {
        "reports@cms.example",
        "mis@srmes.example",
        "jsk@updesco.example",
        # a rejection's reasons reach the DSP's other roster contacts too
        "jsk.up@cms.example",
        "pm.up@cms.example",
        "director@srmes.example",
    }
    by_subject = {m["Subject"]: m for _, m in received}
    acks = [m for m in by_subject.values() if m["To"] == "reports@cms.example" and str(WEEK) in m["Subject"]]
    assert acks and all(m["Auto-Submitted"] == "auto-replied" and m["In-Reply-To"] for m in acks)
    srmes = body_text(next(m for rcpts, m in received if "mis@srmes.example" in rcpts))
    assert "not assigned" in srmes, srmes
    rejection = next(m for rcpts, m in received if m["X-Mailbot-Kind"] == "rejection" and "mis@srmes.example" in rcpts)
    [template] = [p for p in rejection.iter_attachments() if p.get_filename("").endswith(".xlsx")]
    assert str(WEEK) in template.get_filename("")  # a fresh template with SRMES's own districts, to start again
    sheet = openpyxl.load_workbook(io.BytesIO(template.get_content()), read_only=True).active
    assert {r[1] for r in sheet.iter_rows(values_only=True) if isinstance(r[1], int)} == set(districts("SRMES"))
    bodies = [body_text(m) for _, m in received]
    assert any("password" in b for b in bodies), "the sender of a protected workbook is told to remove it"
    assert any("No Excel workbook was attached" in b for b in bodies)

    # The ledger has every message, with its outcome.
    outcomes = as_dict(query(config, "select outcome, count(*) from ledger group by outcome"), str, int)
    assert outcomes["ignored"] == 2 and outcomes["accepted"] >= 2 and outcomes["rejected"] >= 2

    # Running again changes nothing: no new rows, no new mail.
    before = query(config, "select count(*) from report_row"), query(config, "select count(*) from outbox")
    count = len(smtp_sink.messages)
    assert "seen 0" in mailbot_cli(config, "poll").stdout
    mailbot_cli(config, "send")
    assert (query(config, "select count(*) from report_row"), query(config, "select count(*) from outbox")) == before
    assert len(smtp_sink.messages) == count


def test_status_json_reports_who_sent_what(
    dovecot: DovecotServer, imap_account: ImapAccount, smtp_sink: SmtpSink, make_config: Callable[..., Config]
) -> None:
    config = make_config(ROSTER)
    cms = districts("CMS Computers")
    dovecot.seed(imap_account.username, report_email("CMS Computers", "reports@cms.example", cms, opened=42))
    locked = (ROOT / "fixtures" / "workbooks" / "password_protected.xlsx").read_bytes()
    dovecot.seed(
        imap_account.username,
        build_email(
            sender="SRMES <mis@srmes.example>", subject=f"JSK report {WEEK}", attachments=[("srmes.xlsx", locked)]
        ),
    )
    mailbot_cli(config, "poll")
    # Dovecot stamps the message with today's date, long after the week's deadline: it counts as late.
    status = json.loads(mailbot_cli(config, "status", "--week", str(WEEK), "--json").stdout)
    assert status["format"] == 1 and status["week"] == str(WEEK)
    mine = [d for d in status["districts"] if d["dsp"] == "CMS Computers"]
    assert {d["lgd_code"] for d in mine} == set(cms)
    assert all(d["figures"]["rural_opened"] == 42 and d["message"]["sender"] == "reports@cms.example" for d in mine)
    assert {d["status"] for d in mine} == {"late"}
    assert all(d["received_at"].endswith("+05:30") for d in mine)  # the reporting time zone, like the deadline
    assert status["timezone"] == "Asia/Kolkata"
    # A whole file refused names no district: its reason still shows against every district it left invalid.
    srmes = [d for d in status["districts"] if d["dsp"] == "SRMES"]
    assert srmes and {d["status"] for d in srmes} == {"invalid"}
    assert all(any("password" in p["message"] for p in d["problems"]) for d in srmes)
    # A later refused email replaces the explanation; the two are not piled up on every district.
    dovecot.seed(imap_account.username, build_email(sender="SRMES <mis@srmes.example>", subject=f"JSK report {WEEK}"))
    mailbot_cli(config, "poll")
    later = json.loads(mailbot_cli(config, "status", "--week", str(WEEK), "--json").stdout)
    for district in (d for d in later["districts"] if d["dsp"] == "SRMES"):
        assert [p["code"] for p in district["problems"]] == ["no_attachment"], district["problems"]
    # ...and a refused workbook with a row error explains its own district, leaving the others theirs.
    first = districts("SRMES")[0]
    dovecot.seed(imap_account.username, report_email("SRMES", "mis@srmes.example", (first,), opened=-5))
    mailbot_cli(config, "poll")
    last = json.loads(mailbot_cli(config, "status", "--week", str(WEEK), "--json").stdout)
    codes = {d["lgd_code"]: [p["code"] for p in d["problems"]] for d in last["districts"] if d["dsp"] == "SRMES"}
    assert codes.pop(first) == ["negative_value"]
    assert codes and all(c == ["no_attachment"] for c in codes.values())
    others = {d["status"] for d in status["districts"] if d["dsp"] not in ("CMS Computers", "SRMES")}
    assert others == {"missing"}
    assert status["by_dsp"]["CMS Computers"]["reporting_rate"] == 1.0
    table = mailbot_cli(config, "status", "--week", str(WEEK)).stdout
    assert "deadline Mon 23 Nov 2026 12:00; times in Asia/Kolkata" in table


def test_same_report_twice_forwarded_and_resent_is_one_submission(
    dovecot: DovecotServer, imap_account: ImapAccount, smtp_sink: SmtpSink, make_config: Callable[..., Config]
) -> None:
    config = make_config(ROSTER)
    cms = districts("CMS Computers")
    first = report_email("CMS Computers", "reports@cms.example", cms, message_id="<a@cms.example>")
    again = report_email(
        "CMS Computers", "reports@cms.example", cms, subject="Fwd: report", message_id="<b@cms.example>"
    )  # other bytes, same attachment
    for raw in (first, again, first):  # the identical bytes twice too
        dovecot.seed(imap_account.username, raw)
    mailbot_cli(config, "poll")
    assert query(config, "select count(*) from submission") == [(1,)]
    # One row in force per district; the forwarded copy's rows record that it arrived (the latest email wins).
    assert query(config, "select count(*) from report_row where current") == [(len(cms),)]
    assert query(config, "select count(*) from report_row") == [(2 * len(cms),)]
    assert as_dict(query(config, "select outcome, count(*) from ledger group by outcome"), str, int) == {
        "accepted": 1,
        "duplicate": 2,
    }
    assert len(dovecot.messages(imap_account.username, "Processed")) == 3  # a re-sent report is a good report
    mailbot_cli(config, "send")
    assert len(smtp_sink.messages) == 2  # a receipt for each email the DSP wrote; none for the raw copy


def test_corrected_report_supersedes_and_keeps_history(
    dovecot: DovecotServer, imap_account: ImapAccount, smtp_sink: SmtpSink, make_config: Callable[..., Config]
) -> None:
    config = make_config(ROSTER)
    cms = districts("CMS Computers")
    dovecot.seed(imap_account.username, report_email("CMS Computers", "reports@cms.example", cms, opened=10))
    mailbot_cli(config, "poll")
    dovecot.seed(imap_account.username, report_email("CMS Computers", "reports@cms.example", cms[:1], opened=11))
    mailbot_cli(config, "poll")
    rows = query(config, "select rural_opened, current from report_row where lgd_code = ? order by id", cms[0])
    assert rows == [(10, 0), (11, 1)]
    assert query(config, "select count(*) from report_row where current") == [(len(cms),)]


class FlakyMove:
    """A real Mailbox whose first ``failures`` MOVEs die like a dropped connection: the crash between the
    database commit and the move."""

    def __init__(self, settings: ImapSettings, failures: int) -> None:
        self.box = Mailbox(settings)
        self.box.open()
        self.failures = failures

    def __getattr__(self, name: str) -> object:
        return getattr(self.box, name)

    def move(self, uid: int, folder: str) -> None:
        if self.failures:
            self.failures -= 1
            raise MailboxUnavailable("connection dropped (injected)")
        self.box.move(uid, folder)


def test_crash_between_commit_and_move_is_finished_by_the_next_pass(
    dovecot: DovecotServer, imap_account: ImapAccount, smtp_sink: SmtpSink, make_config: Callable[..., Config]
) -> None:
    config = make_config(ROSTER)
    cms = districts("CMS Computers")
    dovecot.seed(imap_account.username, report_email("CMS Computers", "reports@cms.example", cms))
    sessions: list[FlakyMove] = []

    def connect(settings: ImapSettings) -> FlakyMove:
        sessions.append(FlakyMove(settings, failures=1 if not sessions else 0))
        return sessions[-1]

    bot = Mailbot(config, clock=lambda: NOW, mailbox_factory=connect)  # type: ignore[arg-type]  # FlakyMove: only what intake calls
    with pytest.raises(MailboxUnavailable):
        bot.poll()
    assert len(dovecot.messages(imap_account.username, "INBOX")) == 1  # committed, not moved
    assert query(config, "select count(*) from submission") == [(1,)]
    bot.poll()
    assert dovecot.messages(imap_account.username, "INBOX") == []
    assert len(dovecot.messages(imap_account.username, "Processed")) == 1
    assert query(config, "select count(*) from submission") == [(1,)]
    assert query(config, "select count(*) from outbox") == [(1,)]
    bot.close()


def test_crash_between_archive_and_commit_leaves_the_message_for_the_next_pass(
    dovecot: DovecotServer,
    imap_account: ImapAccount,
    smtp_sink: SmtpSink,
    make_config: Callable[..., Config],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = make_config(ROSTER)
    cms = districts("CMS Computers")
    raw = report_email("CMS Computers", "reports@cms.example", cms)
    dovecot.seed(imap_account.username, raw)
    from mailbot import intake, records

    real = records.record_message  # what intake calls, before the patch

    def crash(*args: object, **kwargs: object) -> object:
        raise OSError("disk vanished (injected)")

    monkeypatch.setattr(intake, "record_message", crash)
    bot = Mailbot(config, clock=lambda: NOW)
    report = bot.poll()
    assert report.failed == 1
    assert len(dovecot.messages(imap_account.username, "INBOX")) == 1
    assert query(config, "select count(*) from submission") == [(0,)]
    assert list(config.archive_dir.rglob("*.eml.gz")), "archived before the commit"

    monkeypatch.setattr(intake, "record_message", real)
    later = Mailbot(config, clock=lambda: datetime(2026, 11, 23, 10, 0, tzinfo=UTC))  # past the retry backoff
    assert later.poll().accepted == 1
    assert query(config, "select count(*) from submission") == [(1,)]
    assert query(config, "select attempts, outcome from ledger") == [(2, "accepted")]
    bot.close()
    later.close()


def test_uidvalidity_reset_rescans_without_doubling(
    dovecot: DovecotServer, imap_account: ImapAccount, smtp_sink: SmtpSink, make_config: Callable[..., Config]
) -> None:
    config = make_config(ROSTER)
    cms = districts("CMS Computers")
    raw = report_email("CMS Computers", "reports@cms.example", cms)
    dovecot.seed(imap_account.username, raw)
    mailbot_cli(config, "poll")
    # The server loses its UID state (a restore, a migration): the same message is back in the inbox.
    dovecot.seed(imap_account.username, raw)
    dovecot.set_uidvalidity(imap_account.username, 777, "INBOX")
    mailbot_cli(config, "poll")
    assert query(config, "select count(*) from submission") == [(1,)]
    assert query(config, "select outcome, uidvalidity from ledger order by id")[-1] == ("duplicate", 777)
    assert query(config, "select count(*) from outbox") == [(1,)]
    assert dovecot.messages(imap_account.username, "INBOX") == []


def test_recipient_refused_is_recorded_and_others_still_get_mail(
    dovecot: DovecotServer, imap_account: ImapAccount, smtp_sink: SmtpSink, make_config: Callable[..., Config]
) -> None:
    config = make_config(ROSTER)
    bot = Mailbot(config, clock=lambda: NOW)
    assert bot.alert_operator("test", "first")
    assert not bot.alert_operator("test", "second the same day")
    smtp_sink.refuse_recipient("operator@ceg.example", "550 5.1.1 No such user")
    report = bot.send()
    assert report.failed == 1 and report.sent == 0
    assert query(config, "select address, status, code from outbox_recipient") == [
        ("operator@ceg.example", "refused", 550)
    ]
    assert query(config, "select status from outbox") == [("failed",)]
    bot.close()


def test_import_file_runs_the_same_pipeline_once(
    smtp_sink: SmtpSink, make_config: Callable[..., Config], tmp_path: Path
) -> None:
    config = make_config(ROSTER)
    path = tmp_path / "forwarded.eml"
    path.write_bytes(report_email("CMS Computers", "reports@cms.example", districts("CMS Computers")))
    first = mailbot_cli(config, "import", str(path)).stdout
    second = mailbot_cli(config, "import", str(path)).stdout
    assert "accepted" in first and "accepted" in second
    assert query(config, "select count(*) from ledger") == [(1,)]
    assert query(config, "select count(*) from outbox") == [(1,)]
    [raw] = blobs(config, "select raw from outbox")
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["To"] == "reports@cms.example"


def test_a_broken_roster_save_keeps_the_last_good_roster_and_tells_the_operator_once(
    dovecot: DovecotServer,
    imap_account: ImapAccount,
    smtp_sink: SmtpSink,
    make_config: Callable[..., Config],
    tmp_path: Path,
) -> None:
    roster = tmp_path / "roster"
    shutil.copytree(ROOT / "fixtures" / "roster" / "roster_csv", roster)
    config = make_config(roster)
    bot = Mailbot(config, clock=lambda: NOW)
    bot.poll()
    assignments = roster / "assignments.csv"
    assignments.write_text(
        assignments.read_text(encoding="utf-8") + "CMS Computers,Gotham,01/01/2026,\n", encoding="utf-8"
    )
    os.utime(assignments, (1e10, 1e10))  # unmistakably newer than what was loaded
    dovecot.seed(
        imap_account.username, report_email("CMS Computers", "reports@cms.example", districts("CMS Computers"))
    )
    assert bot.poll().accepted == 1  # the reports still flow
    bot.poll()
    alerts = query(config, "select subject from outbox where kind = 'operator_alert'")
    assert len(alerts) == 1 and "roster" in str(alerts[0][0])
    bot.send()
    [alert] = [m.message for m in smtp_sink.messages if m.message["X-Mailbot-Kind"] == "operator_alert"]
    body = body_text(alert)
    assert "Gotham" in body and "assignments.csv" in body
    bot.close()


def test_a_message_too_large_to_read_is_filed_and_its_dsp_told(
    dovecot: DovecotServer, imap_account: ImapAccount, smtp_sink: SmtpSink, make_config: Callable[..., Config]
) -> None:
    config = make_config(ROSTER, imap={"max_message_bytes": 4000})
    raw = report_email("CMS Computers", "reports@cms.example", districts("CMS Computers"))
    assert len(raw) > 4000
    dovecot.seed(imap_account.username, raw)
    dovecot.seed(imap_account.username, report_email("Nobody", "someone@unknown.example", (118,)))
    out = mailbot_cli(config, "poll").stdout
    assert "quarantined 2" in out
    assert len(dovecot.messages(imap_account.username, "Rejected")) == 2  # filed, never deleted
    assert query(config, "select count(*) from submission") == [(0,)]
    mailbot_cli(config, "send")
    [reply] = smtp_sink.messages  # only the DSP hears back
    assert list(reply.rcpt_tos) == ["reports@cms.example", "jsk.up@cms.example", "pm.up@cms.example"]  # roster only
    body = body_text(reply.message)
    assert f"The email was {round(len(raw) / 1e3)} KB, more than the 4 KB mailbot reads" in body
    assert "alone" in body


def test_health_fails_while_mail_waits_undelivered(
    imap_account: ImapAccount, smtp_sink: SmtpSink, make_config: Callable[..., Config]
) -> None:
    config = make_config(ROSTER, schedule={"health_max_age_minutes": 600, "outbox_max_age_minutes": 60})
    bot = Mailbot(config, clock=lambda: NOW)
    bot.poll()  # the heartbeat, at NOW
    bot.alert_operator("test", "something to deliver")
    later = "2026-11-23T11:00:00+00:00"  # two hours on
    done = subprocess.run(
        [sys.executable, "-m", "mailbot", "--config", str(config.source), "health", "--now", later],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 4 and "1 email(s) waiting in the outbox" in done.stdout
    bot.send()
    done = subprocess.run(
        [sys.executable, "-m", "mailbot", "--config", str(config.source), "health", "--now", later],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout
    bot.close()


def test_send_says_what_waits_after_a_failure_and_can_retry_it_now(
    imap_account: ImapAccount, smtp_sink: SmtpSink, make_config: Callable[..., Config]
) -> None:
    config = make_config(ROSTER)
    bot = Mailbot(config)
    try:
        bot.alert_operator("test", "something to deliver")
        smtp_sink.fail_data("451 4.3.0 Try again later")
        with pytest.raises(SmtpTransient):  # the server is in trouble: the pass stops, the message waits
            bot.send()
    finally:
        bot.close()
    # The server is fine again, but the message backs off: a plain `send` must say so, not "sent 0" and nothing.
    out = mailbot_cli(config, "send").stdout
    assert "sent 0" in out and "1 waiting to be retried" in out and "--retry-waiting" in out
    assert " IST;" in out  # the next try in the reporting time zone, like every time mailbot shows
    assert smtp_sink.messages == []
    out = mailbot_cli(config, "send", "--retry-waiting").stdout
    assert "sent 1" in out and "waiting" not in out
    assert [list(m.rcpt_tos) for m in smtp_sink.messages] == [["operator@ceg.example"]]


def test_a_refused_smtp_login_leaves_every_email_waiting(
    imap_account: ImapAccount,
    smtp_sink: SmtpSink,
    make_config: Callable[..., Config],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = make_config(ROSTER)
    bot = Mailbot(config)
    try:
        bot.alert_operator("one", "first email")
        bot.alert_operator("two", "second email")
        monkeypatch.setenv(SMTP_PASSWORD_ENV, "revoked-app-password")
        with pytest.raises(SmtpAuthError):
            bot.send()
        # The password is at fault, not the emails: none is given up on, none loses an attempt; the operator's
        # alert about it waits with them.
        rows = query(config, "select status, attempts from outbox order by id")
        assert rows == [("pending", 0)] * 3
        monkeypatch.setenv(SMTP_PASSWORD_ENV, str(smtp_sink.password))
        assert bot.send().sent == 3
    finally:
        bot.close()
    assert len(smtp_sink.messages) == 3


def test_with_authserv_id_set_a_forged_from_is_not_counted_and_the_real_dsp_is_told(
    dovecot: DovecotServer, imap_account: ImapAccount, smtp_sink: SmtpSink, make_config: Callable[..., Config]
) -> None:
    config = make_config(ROSTER, imap={"authserv_id": "mx.ceg.example"})
    forged, genuine = (EMAILS / "forged_authentication_results.eml"), (EMAILS / "authenticated_report.eml")
    dovecot.seed(imap_account.username, forged.read_bytes())
    dovecot.seed(imap_account.username, genuine.read_bytes())
    # No verdict from our server at all: the message cannot be vouched for either.
    unvouched = report_email("CMS Computers", "reports@cms.example", districts("CMS Computers"))
    dovecot.seed(imap_account.username, unvouched)
    mailbot_cli(config, "poll")
    mailbot_cli(config, "send")

    ledger = query(config, "select outcome, reason from ledger order by uid")
    assert [outcome for outcome, _ in ledger] == ["rejected", "accepted", "rejected"]
    assert "sender not authenticated: spf=fail, dkim=none, dmarc=fail" in str(ledger[0][1])
    assert "no Authentication-Results header from mx.ceg.example" in str(ledger[2][1])
    assert query(config, "select count(*) from submission") == [(1,)]  # only the vouched-for report counts
    assert len(dovecot.messages(imap_account.username, "Rejected")) == 2  # filed, never deleted

    assert smtp_sink.wait_for(3)
    kinds = sorted(m.message["X-Mailbot-Kind"] for m in smtp_sink.messages)
    assert kinds[1:] == ["rejection", "rejection"] and kinds[0] in {"receipt", "partial"}  # the genuine one: a receipt
    # The two that cannot be vouched for answer the roster address alone; the genuine one, if partly refused,
    # reaches the DSP's roster contacts too.
    assert {r for m in smtp_sink.messages if m.message["X-Mailbot-Kind"] == "rejection" for r in m.rcpt_tos} == {
        "reports@cms.example"
    }
    assert {r for m in smtp_sink.messages for r in m.rcpt_tos} <= {
        "reports@cms.example",
        "jsk.up@cms.example",
        "pm.up@cms.example",
    }
    bodies = [body_text(m.message) for m in smtp_sink.messages if m.message["X-Mailbot-Kind"] == "rejection"]
    assert all("could not confirm that this email came from reports@cms.example" in b for b in bodies)


def test_a_new_install_chases_nobody_for_weeks_before_its_first_check(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink, make_config: Callable[..., Config]
) -> None:
    wednesday = datetime(2026, 11, 25, 13, 0, tzinfo=IST)  # W48; W47's deadline (Mon 23 Nov 12:00) has passed
    bot = Mailbot(make_config(ROSTER))
    try:
        preview = bot.check(now=wednesday, dry_run=tmp_path / "preview")
        assert bot.values.get("first_week") is None  # a preview changes nothing
        assert bot.check(now=wednesday).queued == preview.queued == 0  # nothing about W47 or the 11 weeks before
        assert bot.values.get("first_week") == "2026-W48"
        # A week later, W48 is held to account as usual: nobody reported, so its escalations go out.
        read(bot, wednesday + timedelta(days=7))
        bot.check(now=wednesday + timedelta(days=7))
        weeks = {week for (week,) in query(bot.config, "select distinct week from outbox where kind = 'escalation'")}
        assert weeks == {"2026-W48"}
    finally:
        bot.close()

    # Installed on Monday morning, before W47's deadline at noon: W47's whole deadline runs under mailbot.
    monday = datetime(2026, 11, 23, 9, 0, tzinfo=IST)
    bot = Mailbot(make_config(ROSTER, mailbot={"database": str(tmp_path / "monday.db")}))
    try:
        bot.check(now=monday)
        assert bot.values.get("first_week") == "2026-W47"
        read(bot, wednesday)
        bot.check(now=wednesday)
        weeks = {week for (week,) in query(bot.config, "select distinct week from outbox where kind = 'escalation'")}
        assert weeks == {"2026-W47"}
    finally:
        bot.close()

    # An install that chased DSPs before first_week existed (an upgrade) keeps counting from what it chased.
    bot = Mailbot(make_config(ROSTER, mailbot={"database": str(tmp_path / "upgrade.db")}))
    try:
        sent_before = EmailMessage()
        sent_before["To"], sent_before["Subject"] = "x@cms.example", "Overdue: week 2026-W46"
        sent_before.set_content("sent by the version before the upgrade")
        with bot.store.session() as session:
            outbox.queue(
                session,
                key="overdue/2026-W46/CMS Computers/x@cms.example",
                kind="overdue",
                message=sent_before,
                now=NOW,
                week="2026-W46",
                dsp="CMS Computers",
            )
        read(bot, wednesday)
        bot.check(now=wednesday)
        assert bot.values.get("first_week") == "2026-W46"
        # W46's own escalation window has closed; W47's escalations count W46 among the weeks missing.
        bodies = [
            body_text(email.message_from_bytes(raw, policy=email.policy.default))
            for raw in blobs(bot.config, "select raw from outbox where kind = 'escalation'")
        ]
        assert bodies and all("Weeks missing (2)" in body for body in bodies)
    finally:
        bot.close()

    # Set in the config, calendar.first_week reaches back: W47's escalations go out on day one.
    earlier = make_config(
        ROSTER, mailbot={"database": str(tmp_path / "earlier.db")}, calendar={"first_week": "2026-W47"}
    )
    bot = Mailbot(earlier)
    try:
        read(bot, wednesday)
        assert bot.check(now=wednesday).kinds.get("escalation")
        weeks = {week for (week,) in query(earlier, "select distinct week from outbox")}
        assert weeks == {"2026-W47"}
    finally:
        bot.close()


def test_two_different_emails_sharing_a_message_id_are_both_read(
    dovecot: DovecotServer, imap_account: ImapAccount, smtp_sink: SmtpSink, make_config: Callable[..., Config]
) -> None:
    # Some mailers reuse Message-IDs; mailbot tells messages apart by their bytes, never by that header.
    config = make_config(ROSTER)
    same = "<weekly-report@dsp-mailer.example>"
    dovecot.seed(
        imap_account.username,
        report_email("CMS Computers", "reports@cms.example", districts("CMS Computers"), message_id=same),
    )
    dovecot.seed(
        imap_account.username, report_email("UPDESCO", "jsk@updesco.example", districts("UPDESCO"), message_id=same)
    )
    mailbot_cli(config, "poll")
    assert query(config, "select outcome, count(*) from ledger group by outcome") == [("accepted", 2)]
    assert query(config, "select count(*) from submission") == [(2,)]
    mailbot_cli(config, "send")
    assert smtp_sink.wait_for(2)
    assert sorted(r for m in smtp_sink.messages for r in m.rcpt_tos) == ["jsk@updesco.example", "reports@cms.example"]

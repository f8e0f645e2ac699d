"""One message's trouble stays that message's: a budget per attachment, an attempt counted before parsing, a
refused MOVE or a hostile header in the too-large path never stops the pass, `mailbot import` goes on after a
bad file, and values from mail cannot forge log lines."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from emails import fixture_generator
from servers import DovecotServer, ImapAccount, SmtpSink
from test_end_to_end import NOW, ROSTER, districts, query, report_email

from mailbot import intake, records
from mailbot.cli import configure_logging
from mailbot.config import Config
from mailbot.mailbox import Mailbox, MailboxError
from mailbot.sandbox import Sandbox
from mailbot.service import Mailbot

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = ROOT / "fixtures" / "hostile"
CMS = "reports@cms.example"


mh = fixture_generator("make_hostile")


def good_report(subject: str = "") -> bytes:
    return report_email("CMS Computers", CMS, districts("CMS Computers"), subject=subject)


# --- the budget --------------------------------------------------------------------------------------------


def test_padded_xls_is_refused_by_its_declared_size_without_being_built() -> None:
    sandbox = Sandbox()
    try:
        parsed = sandbox.parse(mh.xls_padded(30), "padded.xls")
        assert [p.code for p in parsed.problems] == ["too_large"]
        assert "declares 65,536 rows" in parsed.problems[0].message
        assert sandbox.usage().peak_rss_mb < 200  # was 4.8 GB
    finally:
        sandbox.close()


def test_xls_lying_about_its_size_is_read_ragged_and_cheaply() -> None:
    sandbox = Sandbox()
    try:
        parsed = sandbox.parse(mh.xls_padded(30, declared=(1, 1)), "lying.xls")
        assert [p.code for p in parsed.problems] == ["no_report_table"]
        usage = sandbox.usage()
        assert usage.peak_rss_mb < 200 and usage.cpu_seconds < 10
    finally:
        sandbox.close()


def test_workbook_over_the_cpu_budget_is_a_problem_naming_the_file_and_the_next_one_is_read() -> None:
    sandbox = Sandbox(cpu_seconds=1)
    try:
        parsed = sandbox.parse(mh.xlsx_cpu_heavy(), "heavy.xlsx")
        assert [(p.code, p.file) for p in parsed.problems] == [("too_complex", "heavy.xlsx")]
        assert "heavy.xlsx" in parsed.problems[0].message and "टेम्पलेट" in parsed.problems[0].message_hi
        good = sandbox.parse(mh.report_xlsx(), "good.xlsx")  # a new worker took over
        assert good.problems == () and len(good.rows) == 3
    finally:
        sandbox.close()


# --- per message, on the real servers -----------------------------------------------------------------------

pytestmark_servers = pytest.mark.servers


@pytestmark_servers
def test_oversize_message_with_nested_comments_in_from_is_filed_and_later_mail_read(
    dovecot: DovecotServer, imap_account: ImapAccount, smtp_sink: SmtpSink, make_config: Callable[..., Config]
) -> None:
    config = make_config(ROSTER, imap={"max_message_bytes": 100_000})
    dovecot.seed(imap_account.username, mh.oversize_nested_comments_from())
    dovecot.seed(imap_account.username, good_report())
    bot = Mailbot(config, clock=lambda: NOW)
    report = bot.poll()  # raised RecursionError before: every later poll failed before fetching anything
    assert (report.quarantined, report.accepted) == (1, 1)
    assert dovecot.messages(imap_account.username, "INBOX") == []
    assert len(dovecot.messages(imap_account.username, "Rejected")) == 1
    assert len(dovecot.messages(imap_account.username, "Processed")) == 1
    assert query(config, "select outcome from ledger order by uid") == [("quarantined",), ("accepted",)]
    assert bot.poll().seen == 0  # and the next pass runs
    bot.close()


class _Died(BaseException):
    """Stands for the process ending mid-message (the OOM killer): nothing after it in the pass runs."""


@pytestmark_servers
def test_message_that_kills_the_process_is_counted_first_skipped_for_later_mail_then_quarantined(
    dovecot: DovecotServer,
    imap_account: ImapAccount,
    smtp_sink: SmtpSink,
    make_config: Callable[..., Config],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = make_config(ROSTER, mailbot={"max_attempts": 2})
    killer = good_report(subject="kills the reader")
    dovecot.seed(imap_account.username, killer)
    real = records.record_message  # what intake calls, before the patch

    def dies_on_killer(*args: Any, **kwargs: Any) -> Any:
        if kwargs["raw"] == killer:
            raise _Died
        return real(*args, **kwargs)

    monkeypatch.setattr(intake, "record_message", dies_on_killer)
    now = [NOW]
    bot = Mailbot(config, clock=lambda: now[0])
    with pytest.raises(_Died):
        bot.poll()
    assert query(config, "select attempts, outcome from ledger") == [(1, "failed")]  # committed before parsing

    dovecot.seed(imap_account.username, good_report())  # arrives after the crash
    assert bot.poll().accepted == 1  # the killer waits its backoff; later mail is read
    now[0] += timedelta(hours=1)
    with pytest.raises(_Died):
        bot.poll()
    now[0] += timedelta(days=1)
    report = bot.poll()  # tried max_attempts times: quarantined unread, filed, never parsed again
    assert report.quarantined == 1
    rows = query(config, "select attempts, outcome, reason from ledger order by uid")
    assert rows[0][:2] == (2, "quarantined") and "not read after 2 attempts" in str(rows[0][2])
    assert dovecot.messages(imap_account.username, "INBOX") == []
    assert dovecot.messages(imap_account.username, "Rejected") == [killer]
    bot.close()


class RefusesMove:
    """A real Mailbox whose MOVE of one UID (alone or in a set) the server refuses (a quota, a locked folder)."""

    def __init__(self, settings: Any, refused_uid: int, times: list[int]) -> None:
        self.box = Mailbox(settings)
        self.box.open()
        self.refused_uid, self.times = refused_uid, times

    def __getattr__(self, name: str) -> Any:
        return getattr(self.box, name)

    def move(self, uids: int | list[int], folder: str) -> None:
        every = [uids] if isinstance(uids, int) else list(uids)
        if self.refused_uid in every and self.times[0] > 0:
            # A set with it is refused whole (as a quota does); ``times`` counts the refusals of it alone.
            self.times[0] -= len(every) == 1
            raise MailboxError("NO [OVERQUOTA] Quota exceeded (injected)")
        self.box.move(uids, folder)


@pytestmark_servers
def test_refused_move_does_not_block_later_mail_and_is_retried_next_pass(
    dovecot: DovecotServer, imap_account: ImapAccount, smtp_sink: SmtpSink, make_config: Callable[..., Config]
) -> None:
    config = make_config(ROSTER)
    first = dovecot.seed(imap_account.username, good_report(subject="first"))
    dovecot.seed(imap_account.username, mh.fixture("bare_cr_message_id"))
    dovecot.seed(imap_account.username, mh.fixture("newline_in_cell"))
    times = [1]
    bot = Mailbot(config, clock=lambda: NOW, mailbox_factory=lambda s: RefusesMove(s, first, times))  # type: ignore[arg-type,return-value]  # a Mailbox with MOVE refused
    report = bot.poll()
    assert report.moved == 2
    assert [uid for uid, _, _ in dovecot.contents(imap_account.username, "INBOX")] == [first]
    assert query(config, "select count(*) from ledger where filed_to = ''") == [(1,)]
    decided = query(config, "select id, outcome, attempts from ledger order by id")
    replies = query(config, "select count(*) from outbox")
    report = bot.poll()  # the refused one is filed now; nothing is decided twice
    assert report.moved == 1 and report.seen == 0
    assert dovecot.messages(imap_account.username, "INBOX") == []
    assert query(config, "select id, outcome, attempts from ledger order by id") == decided
    assert query(config, "select count(*) from outbox") == replies
    bot.close()


@pytestmark_servers
def test_import_goes_on_after_a_file_that_fails(
    tmp_path: Path, smtp_sink: SmtpSink, make_config: Callable[..., Config]
) -> None:
    config = make_config(ROSTER)
    bad = tmp_path / "nested_comments.eml"
    bad.write_bytes(mh.nested_comments_from(size=0))
    good = tmp_path / "good.eml"
    good.write_bytes(good_report())
    assert config.source is not None
    done = subprocess.run(
        [sys.executable, "-m", "mailbot", "--config", str(config.source), "import", str(bad), str(good)],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
        check=False,
    )
    assert f"{good}: accepted" in done.stdout, done.stdout + done.stderr
    assert str(bad) in done.stdout  # named, with what happened to it
    assert done.returncode == 1  # one file could not be used


# --- logs ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "forged", ["Agra\n2026-12-03 09:00:00,000 INFO mailbot: accepted", "a\rb", "a\u2028b", "a\x85b", "a\x1b[2Jb"]
)
def test_values_from_mail_cannot_forge_text_log_lines(forged: str, monkeypatch: pytest.MonkeyPatch) -> None:
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))  # restored after the test
    for name in ("imapclient", "apscheduler", ""):  # configure_logging sets these: put them back after
        monkeypatch.setattr(logging.getLogger(name), "level", logging.getLogger(name).level)
        monkeypatch.setattr(logging.getLogger(name), "_cache", {})  # setLevel clears it; so must the restore
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    configure_logging("info", "text")
    logging.getLogger("mailbot.test").info("cell %s read", forged)
    configure_logging("info", "json")
    logging.getLogger("mailbot.test").info("cell %s read", forged)
    lines = stream.getvalue().splitlines()  # splitlines breaks on every separator a reader might honour
    assert len(lines) == 2, lines
    assert "\x1b" not in stream.getvalue()

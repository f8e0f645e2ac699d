"""Crash safety: real `mailbot poll` and `mailbot send` processes SIGKILLed at random moments over ~100 reports,
repeated until everything is through; then nothing is lost, counted twice or sent twice under another Message-ID,
and SQLite's integrity check passes.

Short form here (100 reports, well under a minute); MAILBOT_CRASH_REPORTS=300 for the long one. The randomness
is seeded: the seed is printed, and MAILBOT_CRASH_SEED=<seed> replays a run."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest
from emails import fixture_generator
from servers import DovecotServer, ImapAccount, SmtpSink

from mailbot.config import Config

ROOT = Path(__file__).resolve().parent.parent
ROSTER = ROOT / "fixtures" / "roster" / "roster.xlsx"
MAILBOT = Path(sys.executable).parent / "mailbot"  # the installed console script
KILL_ROUNDS = 10

pytestmark = [pytest.mark.servers, pytest.mark.slow]


def _start(config: Config, command: str) -> subprocess.Popen[bytes]:
    # A session of its own: the kill reaches the workbook sandbox's processes too.
    return subprocess.Popen(
        [str(MAILBOT), "--config", str(config.source), *command.split()],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=os.environ.copy(),
        start_new_session=True,
    )


def _backoff_passed(db: Path) -> None:
    """Time is an input: a message whose attempt was cut short waits RETRY_BASE (5 min) before the next one.
    Instead of waiting, the test says the wait is over, as a later clock would. (Replies cut short are sent with
    ``send --retry-waiting``, the operator's way of saying the same.)"""
    if not db.exists():
        return  # killed before the database was created
    with sqlite3.connect(db) as conn:
        if conn.execute("select count(*) from sqlite_master where name in ('ledger', 'outbox')").fetchone() != (2,):
            return  # killed while creating the tables: mailbot finishes that itself
        conn.execute("update ledger set next_attempt_at = null where outcome = 'failed'")


def test_sigkill_at_random_moments_loses_nothing_and_doubles_nothing(
    dovecot: DovecotServer, imap_account: ImapAccount, smtp_sink: SmtpSink, make_config: Callable[..., Config]
) -> None:
    seed = int(os.environ.get("MAILBOT_CRASH_SEED", random.SystemRandom().randrange(1 << 32)))
    count = int(os.environ.get("MAILBOT_CRASH_REPORTS", "100"))
    print(f"crash test seed {seed} ({count} reports): MAILBOT_CRASH_SEED={seed} replays it")
    rng = random.Random(seed)
    mh = fixture_generator("make_hostile")
    config = make_config(ROSTER, mailbot={"max_attempts": 1000})  # this test is about loss, not quarantine
    reports = [mh._report(i % 100, subject=f"Weekly JSK report #{i}") for i in range(count)]
    dovecot.seed_many(imap_account.username, reports)

    kills = 0
    for round_ in range(KILL_ROUNDS):
        command = "poll" if round_ % 3 != 2 else "send --retry-waiting"
        process = _start(config, command)
        try:
            process.wait(timeout=rng.uniform(0.5, 5.0))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            kills += 1
        _backoff_passed(config.database)
    # Then uninterrupted runs until everything is through.
    for _ in range(3):
        for arguments in (["poll"], ["send", "--retry-waiting"]):
            done = subprocess.run(
                [str(MAILBOT), "--config", str(config.source), *arguments],
                capture_output=True,
                text=True,
                env=os.environ.copy(),
                timeout=240,
                check=False,
            )
            assert done.returncode == 0, done.stderr[-3000:]
        _backoff_passed(config.database)
    print(f"{kills} of {KILL_ROUNDS} runs killed")

    # Nothing lost: every report filed, in the ledger once, stored once, answered.
    assert dovecot.messages(imap_account.username, "INBOX") == []
    assert len(dovecot.messages(imap_account.username, "Processed")) == count
    with sqlite3.connect(config.database) as db:
        assert db.execute("pragma integrity_check").fetchall() == [("ok",)]
        outcomes = db.execute("select outcome, count(*) from ledger group by outcome").fetchall()
        assert outcomes == [("accepted", count)], outcomes
        assert db.execute("select count(distinct message_id) from ledger").fetchone() == (count,)
        assert db.execute("select count(*), count(distinct ledger_id) from submission").fetchone() == (count, count)
        (districts,) = db.execute("select count(*) from report_row where current").fetchone()
        assert districts >= 1  # each report's districts, once, current: the latest report's
        assert db.execute("select count(*) from report_row").fetchone() == (districts * count,)
        assert db.execute("select status, count(*) from outbox group by status").fetchall() == [("sent", count)]

    # Nothing sent twice under a different Message-ID (the same one twice is a resend after a lost reply).
    replies: dict[str, set[str]] = defaultdict(set)
    for received in smtp_sink.messages:
        replies[str(received.message.get("In-Reply-To", ""))].add(str(received.message.get("Message-ID", "")))
    assert len(replies) == count, f"{count - len(replies)} report(s) never answered"
    doubled = {original: ids for original, ids in replies.items() if len(ids) > 1}
    assert doubled == {}

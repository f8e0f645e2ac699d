"""What `mailbot poll` pays at start when there is no mail (issue 11: within 2x of an IMAP login; measured by
benchmarks/startup.py), and that the work it skips is skipped safely: a roster saved since is still read (and a
broken one still stops the pass), and a database from another version is still migrated."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from servers import DovecotServer, ImapAccount, SmtpSink
from test_end_to_end import NOW, ROSTER, districts, report_email

from mailbot.config import Config, load_config
from mailbot.service import Mailbot
from mailbot.store import KeyValue
from mailbot.values import schema_stamp

# What costs several times the IMAP login to import, and a poll that finds no mail has no use for.
HEAVY = ("sqlalchemy", "sqlmodel", "openpyxl", "jinja2", "PIL", "apscheduler", "xlrd", "msoffcrypto", "rapidfuzz")


def poll(config: Config, *python_options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *python_options, "-m", "mailbot", "--config", str(config.source), "poll"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def imported(importtime: str) -> set[str]:
    """The top-level packages named in ``python -X importtime`` output."""
    return {
        line.split("|")[-1].strip().split(".")[0] for line in importtime.splitlines() if line.startswith("import time:")
    }


@pytest.mark.servers
def test_a_poll_that_finds_no_mail_loads_neither_the_database_layer_nor_the_readers(
    imap_account: ImapAccount, smtp_sink: SmtpSink, make_config: Callable[..., Config]
) -> None:
    config = make_config(ROSTER)
    first = poll(config)  # creates the database and reads the roster
    assert first.returncode == 0, first.stderr
    again = poll(config, "-X", "importtime")
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("seen 0: accepted 0")
    loaded = imported(again.stderr)
    assert "imapclient" in loaded  # the check would pass vacuously if -X importtime printed nothing
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


@pytest.mark.servers
def test_an_empty_poll_still_reads_a_roster_saved_since_and_stops_on_a_broken_one(
    imap_account: ImapAccount, smtp_sink: SmtpSink, make_config: Callable[..., Config], tmp_path: Path
) -> None:
    roster = tmp_path / "roster"
    shutil.copytree(ROSTER.parent / "roster_csv", roster)
    config = make_config(roster)
    assert poll(config).returncode == 0
    assignments = roster / "assignments.csv"
    good = assignments.read_text(encoding="utf-8")
    assignments.write_text(good + "CMS Computers,Gotham,01/01/2026,\n", encoding="utf-8")
    broken = poll(config)
    assert broken.returncode == 2, broken.stderr
    assert "assignments.csv" in broken.stderr and "Gotham" in broken.stderr and "Traceback" not in broken.stderr
    assignments.write_text(good, encoding="utf-8")  # fixed: the next poll runs again
    assert poll(config).returncode == 0


@pytest.mark.servers
def test_a_restarted_daemon_reads_the_roster_at_its_first_poll_and_keeps_it_through_a_broken_save(
    dovecot: DovecotServer,
    imap_account: ImapAccount,
    smtp_sink: SmtpSink,
    make_config: Callable[..., Config],
    tmp_path: Path,
) -> None:
    roster = tmp_path / "roster"
    shutil.copytree(ROSTER.parent / "roster_csv", roster)
    config = make_config(roster)
    Mailbot(config, clock=lambda: NOW).close()  # an earlier run made the database
    assert poll(config).returncode == 0  # and a one-shot poll checked this roster
    daemon = Mailbot(config, clock=lambda: NOW)  # not one-shot: as `mailbot run` builds it
    daemon.poll()  # no mail, but the roster is read: the daemon has a last good one from here on
    assignments = roster / "assignments.csv"
    assignments.write_text(
        assignments.read_text(encoding="utf-8") + "CMS Computers,Gotham,01/01/2026,\n", encoding="utf-8"
    )
    os.utime(assignments, (1e10, 1e10))
    dovecot.seed(
        imap_account.username, report_email("CMS Computers", "reports@cms.example", districts("CMS Computers"))
    )
    assert daemon.poll().accepted == 1  # the reports still flow, with the roster read before the broken save
    daemon.close()


def offline_config(folder: Path) -> Config:
    path = folder / "mailbot.toml"
    path.write_text(
        f"""
[mailbot]
database = "{folder / "mailbot.db"}"
archive_dir = "{folder / "archive"}"
[roster]
path = "{ROSTER}"
[imap]
host = "127.0.0.1"
username = "ceg@local.example"
password_env = "MAILBOT_TEST_STARTUP_UNUSED"
[smtp]
host = "127.0.0.1"
from_address = "ceg@local.example"
[ceg]
addresses = ["jsk@ceg.example"]
""",
        encoding="utf-8",
    )
    return load_config(path)


def test_a_database_from_another_version_is_migrated_at_start(tmp_path: Path) -> None:
    config = offline_config(tmp_path)
    Mailbot(config).close()
    with sqlite3.connect(config.database) as connection:
        connection.execute("ALTER TABLE ledger DROP COLUMN degs_lgd")  # as a version before that column left it
        connection.execute("PRAGMA user_version = 7")
    Mailbot(config).close()
    with sqlite3.connect(config.database) as connection:
        assert "degs_lgd" in {row[1] for row in connection.execute("PRAGMA table_info(ledger)")}
        assert connection.execute("PRAGMA user_version").fetchone() == (schema_stamp(),)


def test_a_current_database_is_opened_without_the_database_layer(tmp_path: Path) -> None:
    config = offline_config(tmp_path)
    Mailbot(config).close()  # created and stamped
    code = (
        f"import sys; from mailbot.config import load_config; from mailbot.service import Mailbot\n"
        f"bot = Mailbot(load_config({str(config.source)!r})); bot.values.set('probe', 'yes')\n"
        f"print(bot.values.get('probe'), sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.split() == ["yes", "[]"]
    bot = Mailbot(config)
    with bot.store.session() as session:
        probe = session.get(KeyValue, "probe")
    assert probe is not None and probe.value == "yes"  # the same table the store reads
    bot.close()

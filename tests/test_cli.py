"""The commands an operator types, run as a subprocess against the real test servers."""

from __future__ import annotations

import email
import email.policy
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from servers import DovecotServer, ImapAccount, SmtpSink
from test_end_to_end import ROSTER, WEEK, districts, report_email

from mailbot.compliance import latest_closed_week
from mailbot.config import Config
from mailbot.lock import DatabaseLock
from mailbot.service import Mailbot
from mailbot.weeks import Week

pytestmark = pytest.mark.servers


def cli(config: Config, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mailbot", "--config", str(config.source), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_init_checks_config_roster_and_both_servers(
    imap_account: ImapAccount, smtp_sink: SmtpSink, make_config: Callable[..., Config]
) -> None:
    config = make_config(ROSTER)
    done = cli(config, "init")
    assert done.returncode == 0, done.stderr
    assert "roster:" in done.stdout and "5 DSPs" in done.stdout
    assert "logged in as" in done.stdout and "Processed: missing (will be created)" in done.stdout
    assert "all checks passed" in done.stdout
    assert config.database.exists()
    # No imap.authserv_id: init says plainly that From addresses can be forged, and where to find the id.
    assert "anyone can forge a DSP's From address" in done.stdout and "Authentication-Results" in done.stdout
    # Nothing is chased from before mailbot's first check, and init says so (and how to preview it).
    now = datetime.now(ZoneInfo("Asia/Kolkata"))
    this_week = Week.containing(now.date())
    last_deadline = datetime.combine(this_week.monday, time(12, 0), tzinfo=now.tzinfo)  # last week's, Monday noon
    first = this_week - 1 if now < last_deadline else this_week
    assert (
        f"reporting: DSPs are held to account from week {first} (the oldest week whose deadline is still ahead"
        in done.stdout
    )


def test_init_names_the_districts_whose_escalations_would_reach_ceg_only(
    imap_account: ImapAccount, smtp_sink: SmtpSink, make_config: Callable[..., Config], tmp_path: Path
) -> None:
    roster = tmp_path / "roster"
    shutil.copytree(ROSTER.parent / "roster_csv", roster)
    degs = roster / "degs.csv"
    degs.write_text(
        "".join(
            line
            for line in degs.read_text(encoding="utf-8-sig").splitlines(keepends=True)
            if not line.startswith(("Agra,", "Aligarh,"))
        ),
        encoding="utf-8",
    )
    done = cli(make_config(roster), "init")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        "roster: WARNING: no DEGS address for Agra (118), Aligarh (119): their escalations go to CEG only"
        in done.stdout
    )


def test_init_names_the_server_that_refuses(
    imap_account: ImapAccount,
    smtp_sink: SmtpSink,
    make_config: Callable[..., Config],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = make_config(ROSTER)
    monkeypatch.setenv(imap_account.env_var, "wrong-password")
    done = cli(config, "init")
    assert done.returncode == 1
    assert "wrong-password" not in done.stdout + done.stderr
    assert (
        f"IMAP: FAILED (IMAP login refused for {imap_account.username} on 127.0.0.1:"
        f"{imap_account.server.imaps_port}: [AUTHENTICATIONFAILED]"
    ) in done.stdout
    assert f"SMTP 127.0.0.1:{smtp_sink.port}: connected, logged in as" in done.stdout  # checked all the same


def test_init_reports_a_missing_password_and_still_checks_smtp(
    imap_account: ImapAccount,
    smtp_sink: SmtpSink,
    make_config: Callable[..., Config],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = make_config(ROSTER)
    monkeypatch.delenv(imap_account.env_var)
    done = cli(config, "init")
    assert done.returncode == 2, done.stderr
    assert (
        f"IMAP: FAILED (imap.password_env: environment variable {imap_account.env_var} is not set or empty)"
        in done.stdout.splitlines()
    )
    assert f"SMTP 127.0.0.1:{smtp_sink.port}: connected, logged in as" in done.stdout
    assert done.stderr.splitlines()[-1] == "mailbot: 1 check(s) failed; see above"


def test_a_refused_login_is_one_plain_line(
    imap_account: ImapAccount,
    smtp_sink: SmtpSink,
    make_config: Callable[..., Config],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = make_config(ROSTER)
    monkeypatch.setenv(imap_account.env_var, "wrong-password")
    done = cli(config, "poll")
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        f"mailbot: IMAP login refused for {imap_account.username} on 127.0.0.1:{imap_account.server.imaps_port}: "
        "[AUTHENTICATIONFAILED] Authentication failed: check imap.username and the password in environment "
        f"variable {imap_account.env_var} (imap.password_env)"
    )


def test_a_tls_mode_mismatch_gets_a_hint(
    imap_account: ImapAccount, smtp_sink: SmtpSink, make_config: Callable[..., Config]
) -> None:
    config = make_config(ROSTER, imap={"port": imap_account.server.imap_port})  # security = "ssl" on port 143
    done = cli(config, "poll")
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1].endswith(
        'the server does not speak TLS on this port: try security = "starttls" (ports 143/587) or check the port'
    )
    assert "Traceback" not in done.stderr


def test_a_bad_roster_stops_with_the_row_named(
    imap_account: ImapAccount, smtp_sink: SmtpSink, make_config: Callable[..., Config]
) -> None:
    config = make_config(ROSTER.parent / "bad_roster.xlsx")
    done = cli(config, "poll")
    assert done.returncode == 2
    assert "bad_roster.xlsx" in done.stderr and "row" in done.stderr and "Traceback" not in done.stderr


def test_one_shot_commands_refuse_to_run_beside_the_daemon(
    imap_account: ImapAccount, smtp_sink: SmtpSink, make_config: Callable[..., Config]
) -> None:
    config = make_config(ROSTER)
    Mailbot(config).close()  # the database `mailbot init` made
    with DatabaseLock(config.database):
        done = cli(config, "poll")
        assert done.returncode == 3 and "already running" in done.stderr
        assert cli(config, "status").returncode == 0  # reading is fine


def test_template_summary_and_dry_runs_write_files(
    dovecot: DovecotServer,
    imap_account: ImapAccount,
    smtp_sink: SmtpSink,
    make_config: Callable[..., Config],
    tmp_path: Path,
) -> None:
    config = make_config(ROSTER, calendar={"first_week": str(WEEK)})  # preview W47's ladder from W48
    Mailbot(config).close()  # the database `mailbot init` made
    out = tmp_path / "cms.xlsx"
    done = cli(config, "template", "--dsp", "cms computers", "--week", str(WEEK), "--out", str(out))
    assert done.returncode == 0, done.stderr
    book = openpyxl.load_workbook(out, read_only=True)
    rows = list(book.active.iter_rows(values_only=True))
    book.close()  # read-only mode keeps the file open until closed
    assert {r[1] for r in rows if isinstance(r[1], int)} == set(districts("CMS Computers"))
    assert cli(config, "template", "--dsp", "Nobody Ltd").returncode == 2

    dovecot.seed(
        imap_account.username, report_email("CMS Computers", "reports@cms.example", districts("CMS Computers"))
    )
    assert cli(config, "poll").returncode == 0
    preview = tmp_path / "preview"
    done = cli(config, "send", "--dry-run", str(preview))
    assert done.returncode == 0 and "wrote 1" in done.stdout
    assert smtp_sink.messages == []  # nothing sent
    receipt = email.message_from_bytes(next(preview.glob("*.eml")).read_bytes(), policy=email.policy.default)
    assert receipt["To"] == "reports@cms.example"
    assert "sent 1" in cli(config, "send").stdout  # still pending after the dry run

    ladder = tmp_path / "ladder"
    done = cli(config, "check", "--now", "2026-11-25T13:00+05:30", "--dry-run", str(ladder))
    assert done.returncode == 0 and "escalation" in done.stdout, done.stdout
    assert list(ladder.glob("escalation*.eml"))
    again = cli(config, "check", "--now", "2026-11-25T13:00+05:30", "--dry-run", str(tmp_path / "again"))
    assert again.stdout.split(":")[0].split()[-1] == done.stdout.split(":")[0].split()[-1]  # nothing was queued...
    assert "sent 0" in cli(config, "send").stdout  # ...so there is nothing to send

    path = tmp_path / "summary.xlsx"
    done = cli(config, "summary", "--week", str(WEEK), "--out", str(path))
    assert done.returncode == 0, done.stderr
    assert {"Status", "Progress", "History", "Rates"} <= set(openpyxl.load_workbook(path).sheetnames)


def test_bad_arguments_are_named(
    imap_account: ImapAccount, smtp_sink: SmtpSink, make_config: Callable[..., Config]
) -> None:
    config = make_config(ROSTER)
    done = cli(config, "status", "--week", "2026-47")
    assert done.returncode == 2 and "not a week" in done.stderr
    done = cli(config, "check", "--now", "2026-11-25T13:00")
    assert done.returncode == 2 and "time zone" in done.stderr


def test_check_holds_every_missing_notice_while_the_mailbox_is_unread_and_says_why(
    imap_account: ImapAccount, smtp_sink: SmtpSink, make_config: Callable[..., Config], tmp_path: Path
) -> None:
    # A new install reads its mailbox today, then nothing reads it again: ten days on, past this week's deadline
    # and its escalations, a report that arrived meanwhile may sit unread, so nobody may be told it is missing.
    config = make_config(ROSTER)
    assert cli(config, "poll").returncode == 0
    later = (datetime.now(ZoneInfo("Asia/Kolkata")) + timedelta(days=10)).isoformat(timespec="minutes")
    preview = tmp_path / "preview"
    done = cli(config, "check", "--now", later, "--dry-run", str(preview))
    assert done.returncode == 0, done.stderr
    # The preview, before any real check, covers the weeks the first real check would hold to account (issue 11).
    assert "held " in done.stdout and "escalation" in done.stdout and "overdue" in done.stdout, done.stdout
    assert "the mailbox was last read completely at" in done.stdout
    assert not list(preview.glob("escalation*.eml")) and not list(preview.glob("overdue*.eml"))
    assert cli(config, "health").returncode == 0  # a preview changes nothing

    done = cli(config, "check", "--now", later)
    assert done.returncode == 0 and "held " in done.stdout, done.stdout
    health = cli(config, "health")
    assert health.returncode == 4 and "held back" in health.stdout, health.stdout
    # Read again, and checked: nothing is held any more.
    assert cli(config, "poll").returncode == 0 and cli(config, "check").returncode == 0
    assert cli(config, "health").returncode == 0


def test_status_without_a_week_shows_the_newest_week_past_its_deadline(
    imap_account: ImapAccount, smtp_sink: SmtpSink, make_config: Callable[..., Config]
) -> None:
    config = make_config(ROSTER)
    assert cli(config, "poll").returncode == 0
    now = datetime.now(ZoneInfo("Asia/Kolkata"))
    closed = latest_closed_week(config.calendar, now)
    done = cli(config, "status")
    assert done.returncode == 0, done.stderr
    first_line, second = done.stdout.splitlines()[:2]
    assert first_line.startswith(f"Week {closed} ")  # its deadline has passed, as the README says
    # A new install held nobody to account for that week, and says so rather than leave 76 "missing" unexplained.
    assert second.startswith(f"Reporting through mailbot starts with week {closed + 1}: nobody was asked"), second

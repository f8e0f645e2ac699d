"""``mailbot demo`` end to end: its own servers, a simulated week, and totals that agree with its database.

The database is read with plain sqlite3 and the rules written out here (deadline, on time, late), not with
mailbot's code, so a demo that printed one thing and stored another would fail.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import io
import sqlite3
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pytest
from emails import body_text

from mailbot.demo import DemoResult, run_demo
from mailbot.demo import data as demo_data
from mailbot.districts import all_districts

pytestmark = pytest.mark.slow

DEADLINE_UTC = datetime(2026, 11, 23, 6, 30, tzinfo=UTC)  # Monday 23 November 2026 12:00 IST


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoResult, list[str]]:
    lines: list[str] = []
    result = run_demo(tmp_path_factory.mktemp("demo"), lines.append)
    return result, lines


def rows(database: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(database) as db:
        return db.execute(sql, params).fetchall()


def counts(database: Path, sql: str) -> dict[str, int]:
    return {str(key): int(str(n)) for key, n in rows(database, sql)}


def _utc(text: object) -> datetime:
    return datetime.fromisoformat(str(text)).replace(tzinfo=UTC)


def test_says_where_things_are(demo: tuple[DemoResult, list[str]]) -> None:
    result, lines = demo  # how long the demo takes: benchmarks/bench.py
    text = "\n".join(lines)
    assert str(result.database) in text and str(result.summary) in text
    assert result.config.exists() and result.database.exists()


def test_every_message_was_read_once_and_filed_as_the_ledger_says(demo: tuple[DemoResult, list[str]]) -> None:
    result, lines = demo
    ledger = counts(result.database, "select outcome, count(*) from ledger group by outcome")
    assert sum(ledger.values()) == result.delivered == result.poll["seen"] == len(demo_data.week_of_mail())
    for outcome, count in ledger.items():
        assert result.poll.get(outcome, 0) == count, outcome
    assert result.poll["moved"] == result.delivered
    assert ledger["accepted"] >= 4 and ledger["rejected"] >= 1 and ledger["ignored"] >= 2
    printed = next(line for line in lines if line.startswith("Messages:"))
    for outcome in ("accepted", "rejected", "ignored"):
        assert f"{ledger[outcome]} {outcome}" in printed


def test_emails_sent_match_the_outbox(demo: tuple[DemoResult, list[str]]) -> None:
    result, lines = demo
    sent = counts(result.database, "select kind, count(*) from outbox where status = 'sent' group by kind")
    assert rows(result.database, "select count(*) from outbox where status != 'sent'") == [(0,)]
    assert result.emails == result.sent == sum(sent.values())
    assert result.emails_by_kind == sent
    for kind in ("acknowledgement", "partial", "rejection", "reminder", "overdue", "escalation", "summary"):
        assert sent.get(kind, 0) >= 1, kind
    assert sent["summary"] == 1
    assert f"Emails sent: {result.emails} " in "\n".join(lines)


def test_every_email_sent_is_kept_under_each_of_its_recipients(demo: tuple[DemoResult, list[str]]) -> None:
    result, lines = demo
    recipients = {
        str(mid).strip(): str(to).lower().split(";")
        for mid, to in rows(result.database, "select message_id, recipients from outbox where status = 'sent'")
    }
    saved = sorted((result.workdir / "outgoing").glob("*/*.eml"))
    assert len(saved) == sum(len(to) for to in recipients.values())  # one file per recipient of each envelope
    for path in saved:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert path.parent.name in recipients[str(message["Message-ID"]).strip()], path
    # An escalation goes to a DEGS and, as its own envelope, to CEG: the two copies are told apart by folder.
    escalations = [p for p in saved if p.name.endswith("-escalation.eml")]
    assert len({p.parent.name for p in escalations}) > 1
    assert len({p.name for p in saved}) == result.emails  # NNN is the envelope: unique within the run
    assert f"Every email sent: {result.workdir / 'outgoing'}/<recipient>/" in lines


def test_every_email_read_is_kept_as_it_arrived(demo: tuple[DemoResult, list[str]]) -> None:
    result, lines = demo
    saved = sorted((result.workdir / "incoming").glob("*.eml"))
    assert len(saved) == result.delivered
    digests = {hashlib.sha256(p.read_bytes()).hexdigest() for p in saved}
    assert digests == {str(d) for (d,) in rows(result.database, "select sha256 from ledger")}
    assert saved[0].name == "001-CMS-Computers-on-time-Hindi-file-name.eml"  # arrival order, named by what it is
    assert f"Every email read: {result.workdir / 'incoming'}/" in lines


def test_nobody_answers_the_stranger_or_the_auto_reply(demo: tuple[DemoResult, list[str]]) -> None:
    result, _ = demo
    answered = {str(r[0]).lower() for r in rows(result.database, "select recipients from outbox")}
    everyone = ";".join(answered)
    assert "district.coordinator@gmail.example" not in everyone
    srmes_replies = rows(
        result.database, "select kind from outbox where dsp = 'SRMES' or recipients like '%srmes.upjsk@gmail.example%'"
    )
    assert ("acknowledgement",) in srmes_replies
    auto = rows(result.database, "select outcome from ledger where subject like 'Automatic reply%'")
    assert auto == [("ignored",)]


def test_compliance_table_matches_the_stored_reports(demo: tuple[DemoResult, list[str]]) -> None:
    result, lines = demo
    week = str(demo_data.WEEK)
    first_receipt: dict[tuple[str, int], datetime] = {}
    for dsp, lgd, received in rows(
        result.database,
        """
            select dsp.name, report_row.lgd_code, report_row.received_at from report_row
            join dsp on dsp.id = report_row.dsp_id where report_row.week = ?""",
        week,
    ):
        key = (str(dsp), int(str(lgd)))
        moment = _utc(received)
        first_receipt[key] = min(moment, first_receipt.get(key, moment))
    # The roster the demo wrote (the database keeps no copy of it).
    expected = {(dsp, d.lgd_code) for dsp, ds in demo_data.assignments().items() for d in ds}
    assert len(expected) == len(all_districts()) == result.expected == 75

    counted: Counter[tuple[str, str]] = Counter()
    for pair in expected:
        received = first_receipt.get(pair)
        status = "missing" if received is None else "on_time" if received <= DEADLINE_UTC else "late"
        counted[(pair[0], status)] += 1
    for dsp, per in result.by_dsp.items():
        assert per["on_time"] == counted[(dsp, "on_time")], dsp
        assert per["late"] == counted[(dsp, "late")], dsp
        assert per["missing"] + per["invalid"] == counted[(dsp, "missing")], dsp
    statewide = next(line for line in lines if line.strip().startswith("Statewide"))
    assert statewide.split()[1:] == [
        str(result.expected),
        *(str(result.statuses[s]) for s in ("on_time", "late", "missing", "invalid")),
    ]
    # The story demo_data tells.
    assert result.by_dsp["SRMES"]["late"] == len(demo_data.assignments()["SRMES"])
    assert result.by_dsp["UPDESCO"]["missing"] == 2
    assert result.by_dsp["Srei Sahaj"]["on_time"] == len(demo_data.assignments()["Srei Sahaj"])


def test_summary_workbook_was_written_and_opens(demo: tuple[DemoResult, list[str]]) -> None:
    result, _ = demo
    assert result.summary is not None and result.summary.exists()
    book = openpyxl.load_workbook(io.BytesIO(result.summary.read_bytes()))
    assert len(book.sheetnames) >= 2


def test_a_second_run_starts_afresh_in_the_same_folder(demo: tuple[DemoResult, list[str]]) -> None:
    result, _ = demo
    again = run_demo(result.workdir, lambda _line: None)
    assert (again.poll, again.emails_by_kind, again.statuses) == (result.poll, result.emails_by_kind, result.statuses)


def test_the_command_a_new_user_types_works(tmp_path: Path) -> None:
    """`make demo` runs `mailbot demo`: the installed command, no config, no servers, exit 0."""
    done = subprocess.run(
        [sys.executable, "-m", "mailbot", "demo", "--workdir", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    assert "Compliance 2026-W47" in done.stdout and "Summary workbook:" in done.stdout
    assert (tmp_path / "out" / "mailbot.db").exists()
    assert "Traceback" not in done.stderr


def test_a_folder_holding_a_real_installation_is_refused_and_left_alone(tmp_path: Path) -> None:
    # The demo's file names are a real installation's: `mailbot demo --workdir /var/lib/mailbot` must not wipe it.
    (tmp_path / "archive" / "ab").mkdir(parents=True)
    (tmp_path / "archive" / "ab" / "abcdef.eml.gz").write_bytes(b"every message ever read")
    (tmp_path / "mailbot.db").write_bytes(b"the reports")
    done = subprocess.run(
        [sys.executable, "-m", "mailbot", "demo", "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "not written by `mailbot demo`" in done.stderr and "archive" in done.stderr
    assert "Traceback" not in done.stderr
    assert (tmp_path / "mailbot.db").read_bytes() == b"the reports"
    assert (tmp_path / "archive" / "ab" / "abcdef.eml.gz").exists()


def test_ceg_summary_gives_the_week_on_its_first_lines(demo: tuple[DemoResult, list[str]]) -> None:
    import email
    from email.policy import default

    result, _ = demo
    [eml] = (result.workdir / "outgoing").glob("*/*-summary.eml")
    msg = email.message_from_bytes(eml.read_bytes(), policy=default)
    assert msg["Subject"].startswith("JSK 16–22 Nov: 57/75 reported (76%), 41 on time")
    text = body_text(msg)
    # Shreetron's damaged workbook: refused, and the summary says why (read from the stored rejection).
    assert "- Shreetron: all 16 of its districts — the file could not be read (damaged or incomplete)" in text
    assert "- UPDESCO: Aligarh and Sambhal" in text
    assert [p.get_content_type() for p in msg.walk() if p["Content-ID"]] == ["image/png"]

"""The hostile corpus (fixtures/hostile/, written by fixtures/make_hostile.py) replayed against the real servers:
every attack in one mailbox, a good report after them, `mailbot poll` + `mailbot send` as a user runs them. For
each: where it is filed, whether it is answered and to whom (never outside the roster), and mailbot still polls.

One run (a module fixture) serves every case."""

from __future__ import annotations

import email
import email.policy
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import to_toml
from emails import fixture_generator
from servers import HOST, DovecotServer, SmtpSink, TlsFiles

from mailbot.roster import load_roster

ROOT = Path(__file__).resolve().parent.parent
ROSTER = ROOT / "fixtures" / "roster" / "roster.xlsx"
HOSTILE = ROOT / "fixtures" / "hostile"
CEG = ("jsk@ceg.example", "operator@ceg.example")
FORGED_LINE = "2026-11-23 10:00:00,000 INFO mailbot.intake: UID 1 forged"

pytestmark = pytest.mark.servers


mh = fixture_generator("make_hostile")


def test_committed_corpus_matches_its_generator() -> None:
    committed = {path.stem for path in HOSTILE.glob("*.eml")}
    assert committed == set(mh.FIXTURES)
    for name in mh.FIXTURES:
        assert (HOSTILE / f"{name}.eml").read_bytes() == mh.fixture(name), f"run fixtures/make_hostile.py ({name})"


@dataclass
class Run:
    uids: dict[str, list[int]]  # case -> UIDs seeded for it
    db: Path
    sink: SmtpSink
    logs: str
    second_poll: subprocess.CompletedProcess[str]

    def ledger(self, case: str) -> list[tuple[str, str, str]]:
        with sqlite3.connect(self.db) as db:
            return [
                db.execute(
                    "select outcome, filed_to, reason from ledger where account != 'import' and uid = ?", (uid,)
                ).fetchone()
                for uid in self.uids[case]
            ]

    def replies(self, case: str) -> list[tuple[str, ...]]:
        """The RCPT TOs of every reply to the case's messages, as the SMTP server received them."""
        with sqlite3.connect(self.db) as db:
            ids = [
                row[0]
                for uid in self.uids[case]
                for row in db.execute(
                    "select o.message_id from outbox o join ledger l on o.ledger_id = l.id where l.uid = ?", (uid,)
                )
            ]
        by_id = {m.message.get("Message-ID", ""): m for m in self.sink.messages}
        return [by_id[i].rcpt_tos if i in by_id else ("(not sent)",) for i in ids]

    def reply_bytes(self, case: str) -> list[bytes]:
        with sqlite3.connect(self.db) as db:
            ids = {
                row[0]
                for uid in self.uids[case]
                for row in db.execute(
                    "select o.message_id from outbox o join ledger l on o.ledger_id = l.id where l.uid = ?", (uid,)
                )
            }
        return [m.raw for m in self.sink.messages if m.message.get("Message-ID", "") in ids]

    def problems(self, case: str) -> list[str]:
        with sqlite3.connect(self.db) as db:
            return [
                row[0]
                for uid in self.uids[case]
                for row in db.execute(
                    "select p.code from problem p join ledger l on p.ledger_id = l.id where l.uid = ?", (uid,)
                )
            ]


def _cli(config: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mailbot", "--config", str(config), "--log-format", "text", *args],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        check=False,
    )


@pytest.fixture(scope="module")
def run(dovecot: DovecotServer, tls_files: TlsFiles, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp = tmp_path_factory.mktemp("hostile")
    user, password = dovecot.add_user()
    sink = SmtpSink(tls_files, security="starttls")
    sink.start()
    assert sink.password is not None
    env = {**os.environ, "HOSTILE_IMAP_PW": password, "HOSTILE_SMTP_PW": sink.password}
    config = tmp / "mailbot.toml"
    config.write_text(
        to_toml(
            {
                "mailbot": {"database": str(tmp / "mailbot.db"), "archive_dir": str(tmp / "archive")},
                "roster": {"path": str(ROSTER)},
                "imap": {
                    "host": HOST,
                    "port": dovecot.imaps_port,
                    "security": "ssl",
                    "username": user,
                    "password_env": "HOSTILE_IMAP_PW",
                    "ca_file": str(dovecot.ca_file),
                    "timeout": 30,
                    "max_message_bytes": mh.MAX_MESSAGE_BYTES,
                },
                "smtp": {
                    "host": HOST,
                    "port": sink.port,
                    "security": "starttls",
                    "username": sink.username,
                    "password_env": "HOSTILE_SMTP_PW",
                    "from_address": "mailbot@ceg.example",
                    "ca_file": str(tls_files.cert),
                    "timeout": 30,
                },
                "ceg": {"addresses": [CEG[0]], "operator": CEG[1]},
            }
        ),
        encoding="utf-8",
    )
    uids: dict[str, list[int]] = {}
    for name in mh.FIXTURES:
        uids[name] = [dovecot.seed(user, (HOSTILE / f"{name}.eml").read_bytes())]
    for n in range(1, mh.EXTRA_AUTOREPLIES + 1):  # the loop: the same auto-reply, again and again
        uids["autoresponder_without_headers"].append(dovecot.seed(user, mh.autoresponder_without_headers(n)))
    uids["good_report_after"] = [dovecot.seed(user, mh._report(30, subject="Weekly JSK report"))]
    first = _cli(config, env, "poll")
    sent = _cli(config, env, "send")
    again = _cli(config, env, "poll")
    assert first.returncode == 0, first.stderr[-3000:]
    assert sent.returncode == 0, sent.stderr[-3000:]
    yield Run(uids, tmp / "mailbot.db", sink, first.stderr + sent.stderr, again)
    sink.stop()


def test_the_pass_survives_the_corpus_and_mailbot_still_polls(run: Run, dovecot: DovecotServer) -> None:
    assert run.second_poll.returncode == 0, run.second_poll.stderr[-2000:]
    assert run.ledger("good_report_after") == [("accepted", "Processed", run.ledger("good_report_after")[0][2])]
    with sqlite3.connect(run.db) as db:
        [(kind,)] = db.execute(
            "select o.kind from outbox o join ledger l on o.ledger_id = l.id where l.uid = ?",
            (run.uids["good_report_after"][0],),
        ).fetchall()
    # A receipt to the sender; a partial one (a row refused) to the DSP's roster contacts too.
    contacts = ("jsk.up@cms.example", "pm.up@cms.example") if kind == "partial" else ()
    assert run.replies("good_report_after") == [("reports@cms.example", *contacts)]
    with sqlite3.connect(run.db) as db:
        assert db.execute("select count(*) from ledger where filed_to = ''").fetchone() == (0,)
        assert db.execute("pragma integrity_check").fetchone() == ("ok",)


def test_nothing_is_sent_outside_the_roster(run: Run) -> None:
    roster = load_roster(ROSTER)
    allowed = {a.lower() for d in roster.dsps for a in (*d.sender_addresses, *d.contact_addresses)}
    allowed |= {address.lower() for _, address in roster.degs_addresses_of_dsps()} | set(CEG)
    strangers = {r for m in run.sink.messages for r in m.rcpt_tos if r.lower() not in allowed}
    assert strangers == set()


@dataclass(frozen=True)
class Expected:
    case: str
    outcome: str
    folder: str
    answered: bool
    problem: str = ""


BUDGET = [
    Expected("xls_padded_30_sheets", "rejected", "Rejected", True, "too_large"),
    Expected("xlsx_cpu_heavy", "rejected", "Rejected", True, "too_complex"),
    Expected("oversize_nested_comments_from", "quarantined", "Rejected", False),
]
SENDER = [
    Expected("reply_to_quoted_semicolons", "accepted", "Processed", True),
    Expected("encoded_word_message_id_crlf", "accepted", "Processed", True),
    Expected("bare_cr_message_id", "accepted", "Processed", True),
    Expected("reply_to_encoded_crlf", "accepted", "Processed", True),
]


@pytest.mark.parametrize("expected", BUDGET + SENDER, ids=lambda e: e.case)
def test_each_attack_is_filed_with_a_reason_and_answered_only_to_the_roster(run: Run, expected: Expected) -> None:
    ((outcome, folder, reason),) = run.ledger(expected.case)
    assert (outcome, folder) == (expected.outcome, expected.folder), reason
    assert reason
    replies = run.replies(expected.case)
    # A rejection, whole or partial, goes to CMS's roster contacts too (plain roster addresses): never to anyone
    # else; a receipt to the sender alone.
    cms = ("reports@cms.example", "jsk.up@cms.example", "pm.up@cms.example")
    with sqlite3.connect(run.db) as db:
        kinds = [
            str(k)
            for uid in run.uids[expected.case]
            for (k,) in db.execute(
                "select o.kind from outbox o join ledger l on o.ledger_id = l.id where l.uid = ?", (uid,)
            )
        ]
    refused = expected.outcome == "rejected" or kinds == ["partial"]
    assert replies == ([cms if refused else cms[:1]] if expected.answered else [])
    for raw in run.reply_bytes(expected.case):  # no stranger's address in any header of the reply
        assert b"evil.example" not in raw and b"other.example" not in raw
    if expected.problem:
        assert expected.problem in run.problems(expected.case)


def test_a_newline_in_a_cell_or_a_header_cannot_forge_a_log_line(run: Run) -> None:
    # No log line quotes a cell or a malformed Message-ID today (the formatter itself: tests/test_intake_budget.py),
    # so this guards the whole run's log against lines a message could have written.
    assert run.ledger("newline_in_cell")[0][:2] in {("accepted", "Processed"), ("rejected", "Rejected")}
    assert not any(line.startswith((FORGED_LINE, "Reply-To:")) for line in run.logs.splitlines())


def test_an_autoresponder_gets_a_handful_of_replies_not_one_per_message(run: Run) -> None:
    rows = run.ledger("autoresponder_without_headers")
    assert len(rows) == mh.EXTRA_AUTOREPLIES + 1 and all(folder == "Rejected" for _, folder, _ in rows)
    assert 1 <= len(run.replies("autoresponder_without_headers")) <= 5


def test_reply_headers_carry_nothing_from_a_strangers_message_id(run: Run) -> None:
    for m in run.sink.messages:
        parsed = email.message_from_bytes(m.raw, policy=email.policy.default)
        assert all("evil.example" not in str(value) for value in parsed.values()), parsed.items()


def test_every_seeded_message_left_the_inbox(run: Run, dovecot: DovecotServer) -> None:
    seeded = sum(len(uids) for uids in run.uids.values())
    with sqlite3.connect(run.db) as db:
        filed = db.execute("select count(*) from ledger where filed_to in ('Processed', 'Rejected')").fetchone()
    assert filed == (seeded,)

"""The store upgrades a database written by an earlier version in place, and keeps what it held meaning the same."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col

from mailbot import store
from mailbot.outcomes import Outcome, ReasonCode
from mailbot.queries import quarantined_in
from mailbot.store import Dsp, KeyValue, Ledger, Store, select
from mailbot.summary import quarantine_reason
from mailbot.weeks import Week


def test_a_column_added_later_is_added_to_an_existing_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "mailbot.db"
    old = Store(path)
    with old.session() as session:
        session.add(KeyValue(key="heartbeat", value="2026-11-30T10:00:00+00:00"))
        session.commit()
    old.close()

    monkeypatch.setattr(store, "ADDED_COLUMNS", (("kv", "note", "TEXT NOT NULL DEFAULT ''"),))
    upgraded = Store(path)
    with upgraded.session() as session:
        kept = session.get(KeyValue, "heartbeat")
    assert kept is not None and kept.value == "2026-11-30T10:00:00+00:00"  # old rows kept
    upgraded.close()
    Store(path).close()  # a second start finds the column there and changes nothing

    with sqlite3.connect(path) as connection:
        columns = {row[1] for row in connection.execute("PRAGMA table_info(kv)")}
        assert "note" in columns
        assert connection.execute("SELECT note FROM kv WHERE key = 'heartbeat'").fetchone() == ("",)


# The tables this version changed, as the version before it created them (sqlite_master of a database it wrote).
SCHEMA_BEFORE_REASON_CODES = """
CREATE TABLE dsp (
    id INTEGER NOT NULL, name VARCHAR NOT NULL, sender_addresses VARCHAR NOT NULL,
    contact_addresses VARCHAR NOT NULL, PRIMARY KEY (id), UNIQUE (name));
CREATE TABLE assignment (
    id INTEGER NOT NULL, dsp_id INTEGER NOT NULL, lgd_code INTEGER NOT NULL, start DATE NOT NULL, "end" DATE,
    PRIMARY KEY (id), FOREIGN KEY(dsp_id) REFERENCES dsp (id), FOREIGN KEY(lgd_code) REFERENCES district (lgd_code));
CREATE INDEX ix_assignment_dsp_id ON assignment (dsp_id);
CREATE TABLE ledger (
    id INTEGER NOT NULL, account VARCHAR NOT NULL, folder VARCHAR NOT NULL, uidvalidity INTEGER NOT NULL,
    uid INTEGER NOT NULL, message_id VARCHAR NOT NULL, sha256 VARCHAR NOT NULL, size INTEGER NOT NULL,
    sender VARCHAR NOT NULL, subject VARCHAR NOT NULL, dsp_id INTEGER, outcome VARCHAR NOT NULL,
    reason VARCHAR NOT NULL, attempts INTEGER NOT NULL, last_error VARCHAR NOT NULL, next_attempt_at DATETIME,
    received_at DATETIME, first_seen DATETIME NOT NULL, updated DATETIME NOT NULL, filed_to VARCHAR NOT NULL,
    duplicate_of INTEGER, reply_withheld BOOLEAN NOT NULL, degs_lgd VARCHAR NOT NULL, answers_outbox_id INTEGER,
    PRIMARY KEY (id), UNIQUE (account, folder, uidvalidity, uid), FOREIGN KEY(dsp_id) REFERENCES dsp (id),
    FOREIGN KEY(duplicate_of) REFERENCES ledger (id));
CREATE INDEX ix_ledger_outcome ON ledger (outcome);
"""

# (outcome, reason) as that version stored them, and what CEG's Quarantine sheet said for each.
EARLIER_ROWS = [
    ("ignored", "automated message: Auto-Submitted: auto-replied", "Automatic reply (out of office)"),
    ("ignored", "automated message: List-Id header", "Mailing list or newsletter"),
    ("ignored", "automated message: Precedence: bulk", "Bulk or mailing-list mail"),
    ("ignored", "automated message: sent by postmaster", "Delivery failure notice (bounce)"),
    ("ignored", "automated message: delivery or read report (multipart/report)", "Delivery or read receipt"),
    ("ignored", "automated message: X-Auto-Response-Suppress header", "Automatic message (not answered)"),
    ("ignored", "unknown sender someone@elsewhere.example", "Address not in roster"),
    ("ignored", "no sender address", "No sender address"),
    ("ignored", "not an email: no email headers found", "Not a readable email"),
    ("quarantined", "too large: 30.0 MB (limit 25.0 MB); left unread", "Too large to open: 30.0 MB (limit 25.0 MB)"),
    ("quarantined", "failed repeatedly; see last_error", "Could not be processed (see the mailbot log)"),
    (
        "quarantined",
        "not read after 5 attempts (each failed or stopped mailbot); see last_error",
        "Not read after 5 attempts (each failed or stopped mailbot); see last_error",
    ),
]


def test_a_database_from_before_reason_codes_is_upgraded_and_its_rows_still_classified(tmp_path: Path) -> None:
    path = tmp_path / "mailbot.db"
    with sqlite3.connect(path) as db:
        db.executescript(SCHEMA_BEFORE_REASON_CODES)
        db.execute("INSERT INTO dsp VALUES (1, 'CMS Computers', 'reports@cms.example', 'md@cms.example')")
        db.execute("INSERT INTO assignment VALUES (1, 1, 146, '2026-04-01', NULL)")
        for uid, (outcome, reason, _) in enumerate(EARLIER_ROWS, start=1):
            db.execute(
                "INSERT INTO ledger VALUES (?, 'ceg', 'INBOX', 1000, ?, '', '', 0, ?, ?, NULL, ?, ?, 1, '', "
                "NULL, '2026-11-23 03:00:00', '2026-11-23 03:00:00', '2026-11-23 03:00:00', 'Rejected', "
                "NULL, 0, '', NULL)",
                (uid, uid, "x@elsewhere.example", f"message {uid}", outcome, reason),
            )
    db.close()

    upgraded = Store(path)
    with upgraded.session() as session:
        session.add(Dsp(name="New DSP"))  # the dropped address columns were NOT NULL without a default
    with upgraded.session() as session:
        assert sorted(d.name for d in session.exec(select(Dsp))) == ["CMS Computers", "New DSP"]
        rows = session.exec(select(Ledger).order_by(col(Ledger.uid))).all()
        assert all(r.reason_code is None for r in rows)  # nothing rewritten: derived when read
        items = quarantined_in(session, Week(2026, 47), ZoneInfo("Asia/Kolkata"))
    assert [r.outcome for r in rows] == [Outcome(o) for o, _, _ in EARLIER_ROWS]
    by_subject = {i.subject: quarantine_reason(i.reason, i.code) for i in items}
    assert [by_subject[f"message {uid}"] for uid in range(1, len(EARLIER_ROWS) + 1)] == [w for _, _, w in EARLIER_ROWS]
    assert rows[8].code() == ReasonCode.NOT_AN_EMAIL  # `mailbot import` still exits 1 for it
    upgraded.close()
    Store(path).close()  # a second start finds everything in place

    with sqlite3.connect(path) as db:
        assert {row[1] for row in db.execute("PRAGMA table_info(dsp)")} == {"id", "name"}
        assert "reason_code" in {row[1] for row in db.execute("PRAGMA table_info(ledger)")}
        assert db.execute("SELECT lgd_code FROM assignment").fetchall() == [(146,)]  # left as it was
    db.close()


def test_a_new_database_has_no_copy_of_the_roster(tmp_path: Path) -> None:
    Store(tmp_path / "mailbot.db").close()
    with sqlite3.connect(tmp_path / "mailbot.db") as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert "assignment" not in tables and "ledger" in tables
        assert {row[1] for row in db.execute("PRAGMA table_info(dsp)")} == {"id", "name"}
    db.close()

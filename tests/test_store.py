"""The store upgrades a database written by an earlier version in place."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from mailbot import store
from mailbot.store import Store


def test_a_column_added_later_is_added_to_an_existing_database(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "mailbot.db"
    old = Store(path)
    old.set_value("heartbeat", "2026-11-30T10:00:00+00:00")
    old.close()

    monkeypatch.setattr(store, "ADDED_COLUMNS", (("kv", "note", "TEXT NOT NULL DEFAULT ''"),))
    upgraded = Store(path)
    assert upgraded.get_value("heartbeat") == "2026-11-30T10:00:00+00:00"  # old rows kept
    upgraded.close()
    Store(path).close()  # a second start finds the column there and changes nothing

    with sqlite3.connect(path) as connection:
        columns = {row[1] for row in connection.execute("PRAGMA table_info(kv)")}
        assert "note" in columns
        assert connection.execute("SELECT note FROM kv WHERE key = 'heartbeat'").fetchone() == ("",)

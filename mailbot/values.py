"""The store's small facts (the ``kv`` table: heartbeat, when the mailbox was read, why sending stopped) read and
written with sqlite3 alone, so a command that needs only them, such as a poll that finds no mail, does not load
SQLAlchemy (0.3-0.7 s on this machine, more than the whole IMAP login). Same database, table and durability
(``synchronous=FULL``) as ``store.Store``, which keeps creating and migrating the schema.

The database's ``user_version`` holds a stamp of the ``store.py`` that last created and migrated it; while it
matches, nothing needs checking at start. A database without it (new, or set up by another version) is first
handed to ``prepare`` (which opens ``store.Store``), then stamped.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Mapping
from contextlib import closing
from pathlib import Path

_STORE_SOURCE = Path(__file__).with_name("store.py")


def schema_stamp() -> int:
    """A positive 31-bit number that changes whenever store.py does (0: store.py cannot be read, never current)."""
    try:
        source = _STORE_SOURCE.read_bytes()
    except OSError:
        return 0
    return int.from_bytes(hashlib.sha256(source).digest()[:4], "big") & 0x7FFFFFFF or 1


class Values:
    """``get``/``set`` on the kv table; ``ensure`` first makes sure the schema is this version's."""

    def __init__(self, path: Path, prepare: Callable[[], object]) -> None:
        self.path = path
        self._prepare = prepare
        self._ready = False

    def ensure(self) -> None:
        """Create or migrate the database through ``prepare`` unless this version of store.py already did."""
        if self._ready:
            return
        stamp = schema_stamp()
        if not stamp or not self.path.exists() or self._user_version() != stamp:
            self._prepare()  # store.Store: create_all, added columns and indexes; idempotent
            if stamp:
                with closing(self._connect()) as connection:
                    connection.execute(f"PRAGMA user_version = {stamp:d}")
        self._ready = True

    def get(self, key: str) -> str | None:
        self.ensure()
        with closing(self._connect()) as connection:
            row = connection.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set(self, key: str, value: str) -> None:
        self.set_many({key: value})

    def set_many(self, values: Mapping[str, str]) -> None:
        """All of ``values`` in one transaction (one fsync)."""
        self.ensure()
        with closing(self._connect()) as connection:
            connection.execute("BEGIN IMMEDIATE")
            try:
                connection.executemany(
                    "INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    values.items(),
                )
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def _user_version(self) -> int:
        with closing(self._connect()) as connection:
            return int(connection.execute("PRAGMA user_version").fetchone()[0])

    def _connect(self) -> sqlite3.Connection:
        # One connection per call: the daemon's jobs run on several threads. Autocommit, so a read sees the
        # latest commit of any process; writes say BEGIN themselves.
        connection = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
        connection.execute("PRAGMA synchronous=FULL")
        return connection

"""SQLite storage (SQLModel): the tables, the engine and ``Store.session()``, where transactions are opened (besides
``outbox.deliver``'s own session per email, committed on a background thread, and ``values``' plain sqlite3 for kv).
Other modules write SQL in those sessions (records, intake, outbox, service, queries, status: see
docs/architecture.md, "SQL"); this module owns the schema and its upgrades (``ADDED_COLUMNS``, ``DROPPED_COLUMNS``).

WAL with ``synchronous=FULL`` keeps every acknowledged commit across a crash. A commit can land without the caller
hearing of it, so every write is keyed (ledger, submission and outbox keys are unique) and safe to repeat.
Times are stored as UTC and always come back timezone-aware.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import Column, DateTime, LargeBinary, String, UniqueConstraint, event
from sqlalchemy.engine import Engine
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, Session, SQLModel, create_engine, select

from mailbot.outcomes import Outcome, ReasonCode, earlier_reason_code

SCHEMA_VERSION = 1

E = TypeVar("E", bound=StrEnum)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out; SQLite itself has no time zones."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; pass an aware one")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class EnumText(TypeDecorator[E]):
    """A StrEnum stored as its value (plain VARCHAR: the strings stored before the enum existed), read back as the
    enum; SQLModel's own Enum type would store the member's name instead. ``lenient``: a value this version does
    not know (a newer version's, after a downgrade) reads as None instead of raising."""

    impl = String
    cache_ok = True

    def __init__(self, enum: type[E], *, lenient: bool = False) -> None:
        super().__init__()
        self.enum, self.lenient = enum, lenient

    def process_bind_param(self, value: E | str | None, dialect: Any) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: str | None, dialect: Any) -> E | None:
        if value is None:
            return None
        try:
            return self.enum(value)
        except ValueError:
            if not self.lenient:
                raise
            return None


def _utc(nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UtcDateTime(), nullable=nullable, index=index))


class District(SQLModel, table=True):
    lgd_code: int = Field(primary_key=True)
    name_en: str
    name_hi: str
    division: str


class Dsp(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    # The DSP's addresses and districts are read from the roster file, never from here. Databases written before
    # this version also hold an ``assignment`` table (a copy of the roster's, no longer written or read; left as it
    # is) and two address columns (dropped at start: see DROPPED_COLUMNS).


class LedgerKey(NamedTuple):
    """Where a message was read: the ledger's unique key. ``mailbot import`` uses ("import", "file", 0, a prefix
    of the file's SHA-256 as an integer)."""

    account: str
    folder: str
    uidvalidity: int
    uid: int


class Ledger(SQLModel, table=True):
    """Every message looked at, once per (account, folder, UIDVALIDITY, UID)."""

    __table_args__ = (UniqueConstraint("account", "folder", "uidvalidity", "uid"),)
    id: int | None = Field(default=None, primary_key=True)
    account: str
    folder: str
    uidvalidity: int
    uid: int
    message_id: str = Field(default="", index=True)
    sha256: str = Field(default="", index=True)
    size: int = 0
    sender: str = ""
    subject: str = ""
    dsp_id: int | None = Field(default=None, foreign_key="dsp.id")
    outcome: Outcome = Field(sa_column=Column(EnumText(Outcome), nullable=False, index=True))
    reason: str = ""  # for people: the log, `mailbot import`, CEG's summary (reworded); decide by reason_code
    # None in rows written before the code was stored: ``code()`` derives it from ``reason`` then.
    reason_code: ReasonCode | None = Field(default=None, sa_column=Column(EnumText(ReasonCode, lenient=True)))
    attempts: int = 0
    last_error: str = ""
    next_attempt_at: datetime | None = _utc(nullable=True)
    received_at: datetime | None = _utc(nullable=True)
    first_seen: datetime | None = _utc()
    updated: datetime | None = _utc()
    filed_to: str = ""  # the folder it was moved to; '' while still in the inbox
    duplicate_of: int | None = Field(default=None, foreign_key="ledger.id")
    reply_withheld: bool = False  # a reply was due but its address had its day's share already (see records)
    degs_lgd: str = ""  # outcome degs_reply: the LGD codes (comma-separated) of the district office that wrote
    answers_outbox_id: int | None = None  # outcome degs_reply: the email of ours it answers (In-Reply-To/References)

    def code(self) -> ReasonCode | None:
        """Why it got its outcome: the stored code, or for a row stored before codes, the code its reason means."""
        return self.reason_code if self.reason_code is not None else earlier_reason_code(self.reason)


class Submission(SQLModel, table=True):
    """One attachment from one DSP for one week: the business-level key."""

    __table_args__ = (UniqueConstraint("dsp_id", "week", "attachment_sha256"),)
    id: int | None = Field(default=None, primary_key=True)
    ledger_id: int = Field(foreign_key="ledger.id", index=True)
    dsp_id: int = Field(foreign_key="dsp.id")
    week: str = Field(index=True)
    week_source: str = ""  # sheet | subject | received
    attachment_sha256: str
    filename: str = ""
    sheet: str = ""
    received_at: datetime | None = _utc()
    status: str = ""  # accepted | partial | rejected
    rows_accepted: int = 0
    rows_rejected: int = 0


class ReportRow(SQLModel, table=True):
    """One district's figures from one submission. ``current`` marks the row in force for (DSP, week, district);
    a corrected report clears it on the older row and keeps the older row as history."""

    __tablename__ = "report_row"
    id: int | None = Field(default=None, primary_key=True)
    submission_id: int = Field(foreign_key="submission.id", index=True)
    dsp_id: int = Field(foreign_key="dsp.id")
    week: str = Field(index=True)
    lgd_code: int = Field(foreign_key="district.lgd_code")
    received_at: datetime | None = _utc()
    current: bool = Field(default=True, index=True)
    superseded_by: int | None = Field(default=None, foreign_key="submission.id")
    sheet: str = ""
    row: int = 0
    rural_target: int = 0
    rural_opened: int = 0
    urban_target: int = 0
    urban_opened: int = 0
    opened_this_week: int | None = None
    functional: int | None = None
    transacting: int | None = None
    b2c_enabled: int | None = None
    remarks: str = ""


class Problem(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    ledger_id: int = Field(foreign_key="ledger.id", index=True)
    submission_id: int | None = Field(default=None, foreign_key="submission.id", index=True)
    week: str = ""
    lgd_code: int | None = None  # the district a row problem is about, when known
    severity: str  # error | warning
    code: str
    message: str
    message_hi: str = ""
    file: str = ""
    sheet: str = ""
    cell: str = ""


class Outbox(SQLModel, table=True):
    """Mail to send. ``key`` makes queueing idempotent; the Message-ID is fixed when queued, so a resend after a
    lost acknowledgement carries the same ID and receivers can recognise it."""

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)
    kind: str = Field(index=True)
    message_id: str
    week: str = ""
    dsp: str = ""
    lgd_code: int | None = None
    ledger_id: int | None = Field(default=None, foreign_key="ledger.id")
    recipients: str  # ';'-joined envelope recipients: for people reading the table; delivery reads the list below
    recipients_json: str = ""  # the envelope as a JSON list of plain addresses; '' in rows queued before it existed
    subject: str = ""
    raw: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    status: str = Field(default="pending", index=True)  # pending | sent | partial | failed
    attempts: int = 0
    last_error: str = ""
    created_at: datetime | None = _utc()
    next_attempt_at: datetime | None = _utc(nullable=True)
    sent_at: datetime | None = _utc(nullable=True)


class OutboxRecipient(SQLModel, table=True):
    __tablename__ = "outbox_recipient"
    __table_args__ = (UniqueConstraint("outbox_id", "address"),)
    id: int | None = Field(default=None, primary_key=True)
    outbox_id: int = Field(foreign_key="outbox.id", index=True)
    address: str
    status: str  # sent | refused | deferred
    code: int | None = None
    detail: str = ""


class KeyValue(SQLModel, table=True):
    """Small facts the daemon keeps: heartbeat, last operator alerts, schema version."""

    __tablename__ = "kv"
    key: str = Field(primary_key=True)
    value: str


# Columns added to a table after it first shipped: ``create_all`` makes missing tables but never alters an existing
# one, so a database from an earlier version gets these at start. (table, column, SQLite column definition), in the
# order they were added; a definition must have a default (or allow NULL) so the old rows stay valid.
ADDED_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("outbox", "recipients_json", "VARCHAR NOT NULL DEFAULT ''"),
    ("ledger", "reply_withheld", "BOOLEAN NOT NULL DEFAULT 0"),
    ("ledger", "degs_lgd", "VARCHAR NOT NULL DEFAULT ''"),
    ("ledger", "answers_outbox_id", "INTEGER"),
    ("ledger", "reason_code", "VARCHAR"),  # NULL in older rows: Ledger.code() reads their reason
)

# Columns no longer in the model, dropped at start when an older database has them: (table, column). Each was
# NOT NULL without a default, so an insert that leaves it out would fail. dsp's addresses were a copy of the
# roster's, written and never read.
DROPPED_COLUMNS: tuple[tuple[str, str], ...] = (
    ("dsp", "sender_addresses"),
    ("dsp", "contact_addresses"),
)


# What ingest looks up for each message and district, so a lookup costs the same with 10 or 10,000 earlier
# reports. Created at start on old and new databases alike (IF NOT EXISTS: idempotent).
ADDED_INDEXES: tuple[tuple[str, str, str], ...] = (
    ("ix_report_row_dsp_current_lgd_week", "report_row", "dsp_id, current, lgd_code, week"),
    ("ix_report_row_dsp_week_lgd", "report_row", "dsp_id, week, lgd_code"),
    ("ix_ledger_account_sha256", "ledger", "account, sha256"),
    ("ix_outbox_kind_created", "outbox", "kind, created_at"),
)


def _add_missing_indexes(engine: Engine) -> None:
    with engine.begin() as connection:
        for name, table, columns in ADDED_INDEXES:
            connection.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({columns})")


def _add_missing_columns(engine: Engine) -> None:
    with engine.begin() as connection:
        for table, column, definition in ADDED_COLUMNS:
            present = {row[1] for row in connection.exec_driver_sql(f"PRAGMA table_info({table})")}
            if column not in present:
                connection.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")


def _drop_old_columns(engine: Engine) -> None:
    with engine.begin() as connection:
        for table, column in DROPPED_COLUMNS:
            present = {row[1] for row in connection.exec_driver_sql(f"PRAGMA table_info({table})")}
            if column in present:
                connection.exec_driver_sql(f"ALTER TABLE {table} DROP COLUMN {column}")


def _set_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = create_engine(f"sqlite:///{path}")
        event.listen(self.engine, "connect", _set_pragmas)
        SQLModel.metadata.create_all(self.engine)
        _add_missing_columns(self.engine)
        _drop_old_columns(self.engine)
        _add_missing_indexes(self.engine)
        with self.session() as session:
            if session.get(KeyValue, "schema_version") is None:
                session.add(KeyValue(key="schema_version", value=str(SCHEMA_VERSION)))

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed when the block ends normally, rolled back on any exception."""
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def close(self) -> None:
        self.engine.dispose()


__all__ = [
    "District",
    "Dsp",
    "KeyValue",
    "Ledger",
    "LedgerKey",
    "Outbox",
    "OutboxRecipient",
    "Problem",
    "ReportRow",
    "Store",
    "Submission",
    "select",
]

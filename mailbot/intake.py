"""Messages in: one pass over the mailbox, or one .eml file, each message archived, decided and recorded
exactly once (see README, "Exactly once").

The order is the guarantee: count the attempt (its own committed transaction, so a message that kills the
process is quarantined after ``max_attempts`` instead of read forever) -> archive the raw bytes (fsync'd) -> one
transaction (ledger row, reports, reply) -> only then move the message out of the inbox (a refused MOVE is
tried again next pass). A crash before the commit leaves it for the next pass; a crash
after it leaves a ledger row, so the next pass only moves it. A message that keeps failing is retried with
backoff and quarantined after ``max_attempts``, without holding up the others.
"""

from __future__ import annotations

import gzip
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import suppress
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from sqlmodel import col, select

from mailbot.address import plain_address
from mailbot.archive import Archive, sha256_hex
from mailbot.backoff import doubling
from mailbot.compose import Composer
from mailbot.config import Config
from mailbot.mailbox import FetchedMessage, MailboxError, MailboxUnavailable
from mailbot.message import parse_message
from mailbot.outcomes import Outcome, ReasonCode
from mailbot.pollreport import PollReport  # here before it had a module of its own: importable from both
from mailbot.records import FINAL, ledger_for, record_message, record_too_large
from mailbot.roster import Roster
from mailbot.store import Dsp, Ledger, LedgerKey, Store

log = logging.getLogger(__name__)

IMPORT_ACCOUNT = "import"
RETRY_BASE = timedelta(minutes=5)
RETRY_CAP = timedelta(hours=6)  # reached only when max_attempts is raised past 7


class MailboxLike(Protocol):
    """What a pass needs from ``mailbot.mailbox.Mailbox`` (already open: the factory connects)."""

    def ensure_folders(self, *folders: str) -> list[str]: ...
    def select(self, folder: str) -> int: ...
    def uids(self) -> list[int]: ...
    def sizes(self, uids: Sequence[int]) -> dict[int, int]: ...
    def fetch(self, uids: Sequence[int], sizes: Mapping[int, int] | None = None) -> Iterator[FetchedMessage]: ...
    def header(self, uid: int) -> FetchedMessage | None: ...
    def senders(self, uids: Sequence[int]) -> dict[int, FetchedMessage]: ...
    def move(self, uids: int | Sequence[int], folder: str) -> None: ...
    def close(self) -> None: ...


class Intake:
    """The ingestion pipeline, shared by the mailbox pass and `mailbot import`."""

    def __init__(
        self,
        config: Config,
        store: Store,
        archive: Archive,
        composer: Composer,
        clock: Callable[[], datetime],
        stop: threading.Event,
    ) -> None:
        self.config, self.store, self.archive, self.composer = config, store, archive, composer
        self.clock, self.stop = clock, stop

    def pass_over(
        self,
        box: MailboxLike,
        uidvalidity: int,
        roster: Roster,
        report: PollReport,
        progress: Callable[[int, int], None] | None,
    ) -> None:
        """One pass over the selected folder: file what was decided but not moved, then read what is new."""
        settings, now = self.config.imap, self.clock()
        uids = box.uids()
        known: dict[int, Ledger] = {}
        with self.store.session() as session:
            for start in range(0, len(uids), 500):  # SQLite caps the variables in one statement
                known.update(
                    (row.uid, row)
                    for row in session.exec(
                        select(Ledger).where(
                            Ledger.account == settings.account,
                            Ledger.folder == settings.folder,
                            Ledger.uidvalidity == uidvalidity,
                            col(Ledger.uid).in_(uids[start : start + 500]),
                        )
                    )
                )
        # Decided before but not moved (a crash between commit and move): file them now.
        self._file_all(
            box,
            [
                (uid, row.id, _folder_for(row.outcome, row.filed_to, self.config))
                for uid in uids
                if (row := known.get(uid)) is not None and row.outcome in FINAL and not self.stop.is_set()
            ],
            report,
        )
        todo = [uid for uid in uids if uid not in known or _due_retry(known[uid], now)]
        report.seen = len(todo)
        if todo and settings.unrelated == "leave":
            todo = self._leave_unrelated(box, uidvalidity, todo, roster, report)
        if not todo:
            return
        sizes = box.sizes(todo)
        fetchable = []
        for uid in todo:
            if sizes.get(uid, 0) > settings.max_message_bytes:
                ledger_id = self._too_large_guarded(box, uidvalidity, uid, sizes[uid], roster)
                report.count(Outcome.QUARANTINED)
                if ledger_id is not None:
                    self._file(box, ledger_id, uid, settings.rejected_folder, report)
            else:
                fetchable.append(uid)
        self._read(box, uidvalidity, fetchable, sizes, roster, report, progress)

    def _read(
        self,
        box: MailboxLike,
        uidvalidity: int,
        fetchable: Sequence[int],
        sizes: Mapping[int, int],
        roster: Roster,
        report: PollReport,
        progress: Callable[[int, int], None] | None,
    ) -> None:
        settings = self.config.imap
        # Filed in UID sets once their decisions are committed (one MOVE per folder and batch, not per message).
        decided: list[tuple[int, int | None, str]] = []
        try:
            for done, fetched in enumerate(box.fetch(fetchable, sizes), start=1):
                if self.stop.is_set():
                    log.info("stop requested: leaving %d message(s) for the next pass", len(fetchable) - done + 1)
                    break
                key = LedgerKey(settings.account, settings.folder, uidvalidity, fetched.uid)
                outcome, ledger_id, folder = self.ingest_raw(key, fetched.raw, fetched.internaldate, roster)
                report.count(outcome)
                if folder:
                    decided.append((fetched.uid, ledger_id, folder))
                if len(decided) >= settings.batch_size:
                    self._file_all(box, decided, report)
                    decided = []
                if progress:
                    progress(done, len(fetchable))
        except MailboxUnavailable:
            raise  # the session is gone: the next pass files what was decided
        except BaseException:
            with suppress(MailboxError):  # FETCH refused: what was committed is still filed
                self._file_all(box, decided, report)
            raise
        self._file_all(box, decided, report)

    def ingest_raw(self, key: LedgerKey, raw: bytes, received_at: datetime, roster: Roster) -> tuple[Outcome, int, str]:
        """Archive, decide and record one message; returns (outcome, ledger id, folder to file it in or '')."""
        now = self.clock()
        digest = sha256_hex(raw)
        counted = False
        try:
            # Counted and committed before anything is parsed: a message that kills the process (out of memory,
            # a crash) is not read again and again forever, but quarantined after max_attempts.
            given_up = self._count_attempt(key, digest, len(raw), received_at)
            counted = True
            if given_up is not None:
                return given_up
            self.archive.store(raw)
            with self.store.session() as session:
                ledger = record_message(
                    session,
                    key=key,
                    raw=raw,
                    digest=digest,
                    received_at=received_at,
                    now=now,
                    roster=roster,
                    config=self.config,
                    composer=self.composer,
                )
                dsp = session.get(Dsp, ledger.dsp_id) if ledger.dsp_id else None
            # The reason names the districts' count and the week(s): one line tells the whole story.
            log.info(
                "UID %s message %s from %s (DSP %s): %s: %s",
                key.uid,
                ledger.message_id or "-",
                ledger.sender or "-",
                dsp.name if dsp else "-",
                ledger.outcome,
                ledger.reason,
            )
            assert ledger.id is not None  # noqa: S101 - committed rows have ids
            return ledger.outcome, ledger.id, _folder_for(ledger.outcome, ledger.filed_to, self.config)
        except Exception as exc:  # one bad message must not stop the others
            log.exception("UID %s (sha256 %s): processing failed", key.uid, digest[:12])
            return self._failed(key, digest, len(raw), received_at, exc, counted=counted)

    def _count_attempt(
        self, key: LedgerKey, digest: str, size: int, received_at: datetime
    ) -> tuple[Outcome, int, str] | None:
        """Count this attempt in its own transaction. A message already tried max_attempts times (each failed,
        or the process died while reading it) is quarantined unread: returns its (outcome, id, folder) then."""
        now = self.clock()
        with self.store.session() as session:
            row = ledger_for(session, key) or Ledger(**key._asdict(), outcome=Outcome.FAILED, first_seen=now)
            if row.outcome in FINAL:  # decided already (e.g. an import of the same file): nothing to count
                return None
            row.sha256, row.size, row.received_at, row.updated = digest, size, received_at, now
            if row.attempts >= self.config.max_attempts:
                row.outcome, row.reason_code, row.next_attempt_at = Outcome.QUARANTINED, ReasonCode.NOT_READ, None
                row.reason = f"not read after {row.attempts} attempts (each failed or stopped mailbot); see last_error"
                row.last_error = row.last_error or "mailbot stopped while reading it (killed, out of memory or a crash)"
                session.add(row)
                session.flush()
                assert row.id is not None  # noqa: S101 - flushed rows have ids
                log.error("UID %s quarantined unread after %d attempts: %s", key.uid, row.attempts, row.last_error)
                return row.outcome, row.id, self.config.imap.rejected_folder
            row.attempts += 1
            # Should this attempt never finish, the message waits its backoff while later mail is read.
            row.outcome = Outcome.FAILED
            row.next_attempt_at = now + doubling(row.attempts, RETRY_BASE, RETRY_CAP)
            session.add(row)
        return None

    def _failed(
        self, key: LedgerKey, digest: str, size: int, received_at: datetime, exc: Exception, *, counted: bool
    ) -> tuple[Outcome, int, str]:
        now = self.clock()
        with self.store.session() as session:
            row = ledger_for(session, key) or Ledger(**key._asdict(), outcome=Outcome.FAILED, first_seen=now)
            if row.outcome in FINAL:  # committed after all (the failure came later): keep what was decided
                assert row.id is not None  # noqa: S101
                return row.outcome, row.id, _folder_for(row.outcome, row.filed_to, self.config)
            row.sha256, row.size, row.received_at, row.updated = digest, size, received_at, now
            row.attempts += 0 if counted else 1
            row.last_error = _describe(exc)
            if row.attempts >= self.config.max_attempts:
                row.outcome, row.next_attempt_at = Outcome.QUARANTINED, None
                row.reason_code, row.reason = ReasonCode.FAILED_REPEATEDLY, "failed repeatedly; see last_error"
                log.error("UID %s quarantined after %d attempts: %s", key.uid, row.attempts, row.last_error)
            else:
                row.outcome = Outcome.FAILED
                row.next_attempt_at = now + doubling(row.attempts, RETRY_BASE, RETRY_CAP)
            session.add(row)
            session.flush()
            assert row.id is not None  # noqa: S101 - flushed rows have ids
            folder = self.config.imap.rejected_folder if row.outcome == Outcome.QUARANTINED else ""
            return row.outcome, row.id, folder

    def _too_large(self, uidvalidity: int, uid: int, size: int, header: FetchedMessage | None, roster: Roster) -> int:
        settings = self.config.imap
        with self.store.session() as session:
            return record_too_large(
                session,
                key=LedgerKey(settings.account, settings.folder, uidvalidity, uid),
                size=size,
                header=header.raw if header else None,
                received_at=header.internaldate if header else None,
                now=self.clock(),
                roster=roster,
                config=self.config,
                composer=self.composer,
            )

    def _too_large_guarded(self, box: MailboxLike, uidvalidity: int, uid: int, size: int, roster: Roster) -> int | None:
        """``_too_large``, where anything the header raises (a From with a thousand nested comments) is this
        message's problem: it is still quarantined, without the header's details. None: not even recorded."""
        try:
            return self._too_large(uidvalidity, uid, size, box.header(uid), roster)
        except MailboxUnavailable:
            raise  # the session is gone: the pass cannot go on
        except Exception:
            log.exception("UID %s: too large, and its header could not be read", uid)
        try:
            return self._too_large(uidvalidity, uid, size, None, roster)
        except Exception:
            log.exception("UID %s: too large, and could not be recorded; left in the inbox", uid)
            return None

    def _leave_unrelated(
        self, box: MailboxLike, uidvalidity: int, todo: list[int], roster: Roster, report: PollReport
    ) -> list[int]:
        """A shared mailbox: read only the From header of new mail; what is not from a roster address (a DSP's
        sender or contact, a DEGS) stays where it is, unread, remembered by UID so it is never fetched again.
        Returns the UIDs still to read."""
        settings, now = self.config.imap, self.clock()
        ours = roster_addresses(roster)
        headers = box.senders(todo)
        keep, left = [], []
        for uid in todo:
            header = headers.get(uid)
            if header is None:
                continue  # gone meanwhile (moved by another client)
            sender = _sender_of(header.raw)
            if sender in ours:
                keep.append(uid)
            else:
                left.append((uid, sender, header.internaldate))
        if left:
            with self.store.session() as session:
                for uid, sender, received_at in left:
                    session.add(
                        Ledger(
                            account=settings.account,
                            folder=settings.folder,
                            uidvalidity=uidvalidity,
                            uid=uid,
                            outcome=Outcome.LEFT,
                            first_seen=now,
                            updated=now,
                            received_at=received_at,
                            sender=(sender or "")[:500],
                            reason_code=ReasonCode.NOT_FROM_ROSTER,
                            reason='not from a roster address: left unread in the mailbox (imap.unrelated = "leave")',
                        )
                    )
            report.left += len(left)
            log.info("%d message(s) not from a roster address left unread in %s", len(left), settings.folder)
        return keep

    def _file_all(self, box: MailboxLike, decided: Sequence[tuple[int, int | None, str]], report: PollReport) -> None:
        """File decided messages, one UID set per folder; when the server refuses a set, each message is tried
        alone, so one refused (a quota, a locked folder) is tried again next pass and holds up no other."""
        by_folder: dict[str, list[tuple[int, int | None]]] = {}
        for uid, ledger_id, folder in decided:
            by_folder.setdefault(folder, []).append((uid, ledger_id))
        for folder, items in by_folder.items():
            if len(items) == 1:
                self._file(box, items[0][1], items[0][0], folder, report)
                continue
            try:
                box.move([uid for uid, _ in items], folder)
            except MailboxUnavailable:
                raise  # the session is gone: the next pass files them (their decisions are committed)
            except MailboxError as exc:
                log.info(
                    "%d message(s) could not be filed to %s together (%s); trying one by one", len(items), folder, exc
                )
                for uid, ledger_id in items:
                    self._file(box, ledger_id, uid, folder, report)
                continue
            report.moved += len(items)
            with self.store.session() as session:
                ids = [i for _, i in items if i is not None]
                for row in session.exec(select(Ledger).where(col(Ledger.id).in_(ids))):
                    row.filed_to = folder
                    session.add(row)

    def _file(self, box: MailboxLike, ledger_id: int | None, uid: int, folder: str, report: PollReport) -> None:
        try:
            box.move(uid, folder)
        except MailboxUnavailable:
            raise  # the session is gone: the next pass files it (its decision is committed)
        except MailboxError as exc:
            # Refused for this one message (a quota, a locked folder): the next pass tries again; the others go on.
            log.warning("UID %s: could not be filed to %s (%s); will try again next pass", uid, folder, exc)
            return
        report.moved += 1
        with self.store.session() as session:
            row = session.get(Ledger, ledger_id)
            if row is not None:
                row.filed_to = folder
                session.add(row)

    # --- import --------------------------------------------------------------------------------------------

    def import_file(self, path: Path, roster: Roster) -> Ledger:
        """The poll pipeline on one .eml file (mail forwarded by hand, or an archived .eml.gz). Importing the same
        message twice is a no-op. The received time is the message's Date header (now when it has none)."""
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":  # an archived message (.eml.gz) re-imported
            raw = gzip.decompress(raw)
        digest = sha256_hex(raw)
        key = LedgerKey(IMPORT_ACCOUNT, "file", 0, int(digest[:15], 16))
        with self.store.session() as session:
            existing = ledger_for(session, key)
        if existing is not None and existing.outcome in FINAL:
            return existing
        try:
            sent = parse_message(raw).date
        except Exception:  # not an email, or hostile headers: ingest_raw records why
            sent = None
        self.ingest_raw(key, raw, sent or self.clock(), roster)
        with self.store.session() as session:
            row = ledger_for(session, key)
            assert row is not None  # noqa: S101 - ingest_raw always writes one
            return row


def roster_addresses(roster: Roster) -> frozenset[str]:
    """Every address in the roster: DSPs' senders and contacts, DEGS addresses (case-folded)."""
    found = {a for d in roster.dsps for a in (*d.sender_addresses, *d.contact_addresses)}
    found.update(a for addresses in roster.degs.values() for a in addresses)
    return frozenset(a.casefold() for a in found)


def _sender_of(header: bytes) -> str | None:
    """The plain From address of a header block, or None (none, or not one plain address)."""
    try:
        sender = parse_message(header).sender
    except Exception:  # hostile or broken: not a roster address
        return None
    return plain_address(sender) if sender else None


def _folder_for(outcome: Outcome, filed_to: str, config: Config) -> str:
    if filed_to:
        return filed_to
    good = outcome in (Outcome.ACCEPTED, Outcome.DUPLICATE, Outcome.DEGS_REPLY)  # a re-sent report is a good report
    return config.imap.processed_folder if good else config.imap.rejected_folder


def _describe(exc: BaseException) -> str:
    try:
        return f"{type(exc).__name__}: {exc}"[:1000]
    except Exception:  # an exception whose text itself fails (deep recursion)
        return type(exc).__name__


def _due_retry(row: Ledger, now: datetime) -> bool:
    return row.outcome == Outcome.FAILED and (row.next_attempt_at is None or row.next_attempt_at <= now)

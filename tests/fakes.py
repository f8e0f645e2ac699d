"""In-memory stand-ins for the two I/O seams, for tests of the rules above them (records, intake, outbox).

The adapters themselves (``mailbot.mailbox.Mailbox``, ``mailbot.smtp.SmtpTransport``) are tested against real
Dovecot and aiosmtpd servers; these fakes follow the behaviour those tests pin, so a rule can be tested on SQLite
alone, in milliseconds, with faults injected exactly where the test wants them.

``FakeMailbox`` implements ``mailbot.intake.MailboxLike``: folders of messages with UIDs (ascending, never reused
in a folder), a UIDVALIDITY per folder, RFC822 sizes, MOVE. Faults: ``refuse_move(uid, times)`` (a NO for that
message: a quota, a locked folder -> ``MailboxError``), ``drop_after(n)`` (the connection dies after ``n`` more
messages fetched -> ``MailboxUnavailable``), ``drop_on_move(times)`` (the connection dies on MOVE). One
``FakeMailbox`` is the server *and* the session: ``connect`` returns it, as a ``Mailbot(mailbox_factory=...)``.

``RecordingTransport`` implements ``mailbot.outbox.Transport``: records every accepted message with its envelope.
Faults: ``refuse(address, code, text, times)`` (a per-recipient reply: 4xx deferred, 5xx refused for good),
``fail_next(exc)`` (the whole send raises: ``SmtpTransient``, ``SmtpAuthError``...).
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage

from mailbot.config import ImapSettings, SmtpSettings
from mailbot.mailbox import FetchedMessage, MailboxError, MailboxUnavailable
from mailbot.smtp import SendResult, SmtpError, SmtpPermanent, SmtpTransient

RECEIVED = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)


@dataclass
class Stored:
    uid: int
    raw: bytes
    internaldate: datetime


@dataclass
class Folder:
    uidvalidity: int
    next_uid: int = 1
    messages: dict[int, Stored] = field(default_factory=dict)


class FakeMailbox:
    """A mailbox held in memory; see the module's docstring for the faults it can inject."""

    def __init__(self, *, uidvalidity: int = 1000) -> None:
        self.folders: dict[str, Folder] = {"INBOX": Folder(uidvalidity)}
        self.selected: str | None = None
        self.opened = 0  # sessions opened through connect()
        self.moves: list[tuple[int, str]] = []  # every MOVE the server carried out
        self.fetched: list[int] = []  # every UID whose body was fetched
        self._refused_moves: dict[int, int] = {}
        self._drop_after: int | None = None
        self._drop_on_move = 0

    # --- the test's side: the server ----------------------------------------------------------------------

    def deliver(self, raw: bytes, folder: str = "INBOX", internaldate: datetime = RECEIVED) -> int:
        """Append a message (as the MTA does); returns its UID."""
        box = self.folders.setdefault(folder, Folder(1000 + len(self.folders)))
        uid = box.next_uid
        box.next_uid += 1
        box.messages[uid] = Stored(uid, raw, internaldate)
        return uid

    def messages(self, folder: str = "INBOX") -> list[bytes]:
        box = self.folders.get(folder)
        return [m.raw for _, m in sorted(box.messages.items())] if box else []

    def uids_in(self, folder: str = "INBOX") -> list[int]:
        box = self.folders.get(folder)
        return sorted(box.messages) if box else []

    def set_uidvalidity(self, value: int, folder: str = "INBOX") -> None:
        """The server renumbered the folder (a restore, a migration): every UID in it is new."""
        old = self.folders[folder]
        renumbered = Folder(value)
        for stored in sorted(old.messages.values(), key=lambda m: m.uid):
            uid = renumbered.next_uid
            renumbered.next_uid += 1
            renumbered.messages[uid] = Stored(uid, stored.raw, stored.internaldate)
        self.folders[folder] = renumbered

    def refuse_move(self, uid: int, times: int = 1) -> None:
        self._refused_moves[uid] = times

    def drop_after(self, fetched: int) -> None:
        """The connection breaks once ``fetched`` more messages have been fetched."""
        self._drop_after = fetched

    def drop_on_move(self, times: int = 1) -> None:
        """The next ``times`` MOVEs break the connection: the crash between the commit and the move."""
        self._drop_on_move = times

    def connect(self, settings: ImapSettings) -> FakeMailbox:
        """A ``mailbox_factory`` for ``Mailbot``: a new session on the same server."""
        del settings
        self.opened += 1
        self.selected = None
        return self

    # --- MailboxLike ---------------------------------------------------------------------------------------

    def ensure_folders(self, *folders: str) -> list[str]:
        for name in folders:
            self.folders.setdefault(name, Folder(1000 + len(self.folders)))
        return list(folders)

    def select(self, folder: str) -> int:
        if folder not in self.folders:
            raise MailboxError(f"fake: SELECT {folder}: no such folder")
        self.selected = folder
        return self.folders[folder].uidvalidity

    def uids(self) -> list[int]:
        return sorted(self._box().messages)

    def sizes(self, uids: Sequence[int]) -> dict[int, int]:
        box = self._box()
        return {uid: len(box.messages[uid].raw) for uid in uids if uid in box.messages}

    def fetch(self, uids: Sequence[int], sizes: Mapping[int, int] | None = None) -> Iterator[FetchedMessage]:
        del sizes  # batching is the adapter's concern
        box = self._box()
        for uid in uids:
            if self._drop_after is not None:
                if self._drop_after == 0:
                    self._drop_after = None
                    raise MailboxUnavailable("fake: connection dropped mid-fetch (injected)")
                self._drop_after -= 1
            stored = box.messages.get(uid)
            if stored is None:  # expunged meanwhile: skipped, like the adapter
                continue
            self.fetched.append(uid)
            yield FetchedMessage(uid, stored.raw, stored.internaldate)

    def header(self, uid: int) -> FetchedMessage | None:
        stored = self._box().messages.get(uid)
        if stored is None:
            return None
        head = stored.raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
        return FetchedMessage(uid, head[:65536] + b"\r\n\r\n", stored.internaldate)

    def senders(self, uids: Sequence[int]) -> dict[int, FetchedMessage]:
        """The From header of each message (``imap.unrelated = "leave"`` reads only that first)."""
        found = {}
        for uid in uids:
            stored = self._box().messages.get(uid)
            if stored is not None:
                lines = stored.raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0].splitlines()
                sender = b"".join(line + b"\r\n" for line in lines if line.lower().startswith(b"from:"))
                found[uid] = FetchedMessage(uid, sender + b"\r\n", stored.internaldate)
        return found

    def move(self, uids: int | Sequence[int], folder: str) -> None:
        """One UID MOVE of a set: all or nothing, like the server (a refused UID refuses the whole set)."""
        batch = [uids] if isinstance(uids, int) else list(uids)
        if self._drop_on_move:
            self._drop_on_move -= 1
            raise MailboxUnavailable(f"fake: connection dropped during UID MOVE {batch} (injected)")
        for uid in batch:
            if self._refused_moves.get(uid, 0) > 0:
                self._refused_moves[uid] -= 1
                raise MailboxError(f"fake: UID MOVE {batch} {folder}: NO [OVERQUOTA] Quota exceeded (injected)")
        if folder not in self.folders:
            raise MailboxError(f"fake: UID MOVE {batch} {folder}: NO [TRYCREATE] no such folder")
        box = self._box()
        if any(uid not in box.messages for uid in batch):
            raise MailboxError(f"fake: UID MOVE {batch}: no such message")
        for uid in batch:
            stored = box.messages.pop(uid)
            self.deliver(stored.raw, folder, stored.internaldate)
            self.moves.append((uid, folder))

    def close(self) -> None:
        self.selected = None

    def _box(self) -> Folder:
        if self.selected is None:
            raise MailboxError("fake: no folder selected")
        return self.folders[self.selected]


@dataclass
class Sent:
    message: EmailMessage
    recipients: tuple[str, ...]


class RecordingTransport:
    """An SMTP server that accepts what it is told to, and remembers it; see the module's docstring."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self.attempts = 0  # send() calls, accepted or not
        self.connections = 0  # transports made through connect()
        self.closed = 0
        self._refusals: dict[str, tuple[int, str, int]] = {}  # address -> (code, text, times left)
        self._failures: list[SmtpError] = []

    def refuse(self, address: str, code: int = 550, text: str = "5.1.1 No such user", times: int = 1) -> None:
        """Answer RCPT TO ``address`` with ``code`` the next ``times`` sends that include it."""
        self._refusals[address.lower()] = (code, text, times)

    def fail_next(self, exc: SmtpError) -> None:
        """The next send raises ``exc`` (the server unreachable, the login refused, ...)."""
        self._failures.append(exc)

    def connect(self, settings: SmtpSettings) -> RecordingTransport:
        """A ``transport_factory`` for ``Mailbot``."""
        del settings
        self.connections += 1
        return self

    def to(self, address: str) -> list[EmailMessage]:
        """Every message accepted for ``address``."""
        return [s.message for s in self.sent if address.lower() in s.recipients]

    # --- Transport -----------------------------------------------------------------------------------------

    def send(self, message: EmailMessage, recipients: Sequence[str] | None = None) -> SendResult:
        self.attempts += 1
        if self._failures:
            raise self._failures.pop(0)
        envelope = [a.lower() for a in recipients] if recipients else []
        if not envelope:
            raise SmtpPermanent("fake: no recipients")
        refused: dict[str, tuple[int, str]] = {}
        for address in envelope:
            if address in self._refusals:
                code, text, times = self._refusals[address]
                refused[address] = (code, text)
                if times <= 1:
                    del self._refusals[address]
                else:
                    self._refusals[address] = (code, text, times - 1)
        accepted = tuple(a for a in envelope if a not in refused)
        if not accepted:  # smtplib raises SMTPRecipientsRefused; the adapter translates it thus
            kind = SmtpPermanent if all(c >= 500 for c, _ in refused.values()) else SmtpTransient
            raise kind(f"fake: every recipient refused: {refused}", max(c for c, _ in refused.values()), refused)
        self.sent.append(Sent(message, accepted))
        return SendResult(accepted, refused)

    def send_raw(self, raw: bytes, recipients: Sequence[str], *, ready: Callable[[], None] | None = None) -> SendResult:
        """The outbox's call: the stored bytes, recorded as the message each recipient reads."""
        message = email.message_from_bytes(raw, policy=email.policy.SMTP)
        assert isinstance(message, EmailMessage)
        if ready is not None:
            ready()  # where the real one waits before the final "."
        return self.send(message, recipients)

    def close(self) -> None:
        self.closed += 1

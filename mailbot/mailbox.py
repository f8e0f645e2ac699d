"""IMAP adapter: the only module that talks to the report mailbox.

Errors (each message names host:port, never a secret)::

    MailboxError                 a command was refused or the server's reply was unusable
     +-- MailboxAuthError        login refused: permanent until the operator acts
     +-- MailboxUnavailable      cannot reach the server or the session broke: retry later with a new Mailbox

A missing or failing secret source (environment variable, file, token command) raises ``ConfigError``.

Rules kept here: UIDs only (never \\Seen, never sequence numbers); BODY.PEEK so fetching sets no flag;
nothing from an email ever goes into an IMAP command; a message leaves the inbox only by MOVE or by COPY +
\\Deleted + UID EXPUNGE of those UIDs only (never a plain EXPUNGE: it removes other clients' \\Deleted mail).
"""

from __future__ import annotations

import imaplib
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from imapclient import IMAPClient, SocketTimeout
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError, LoginError

from mailbot.config import ImapSettings
from mailbot.errors import LoginRefused, Unavailable
from mailbot.tls import (
    GREETING_WAIT,
    CaFileUnusable,
    connect_fix,
    login_fix,
    network_reason,
    speaks_tls,
    tls_port_hint,
    verifying_context,
)

log = logging.getLogger(__name__)

DELETED = b"\\Deleted"
# A FETCH batch is also cut at this many bytes (by RFC822.SIZE), so 50 large messages are not held at once.
BATCH_BYTES = 32 * 1024 * 1024
# IDLE is ended (DONE) and the next wait begins with a NOOP at least this often. Both are round trips answered
# within imap.timeout, so a connection that died without a word (a NAT or firewall that forgot it: no FIN, no RST)
# is noticed within this plus imap.timeout (4 + 1 minutes by default) instead of hanging unseen. It also re-issues
# IDLE well within RFC 2177's 30 minutes, after which a server may drop an idle client.
IDLE_RENEW_SECONDS = 4 * 60.0
# How often a waiting IDLE looks at its stop event: SIGTERM must end `mailbot run` within seconds.
IDLE_TICK_SECONDS = 1.0


class MailboxError(Unavailable):
    """Raised when the server refuses a command or answers something unusable."""


class MailboxAuthError(LoginRefused, MailboxError):
    """Raised when the login is refused (password changed, app password or token revoked)."""


class MailboxUnavailable(MailboxError):
    """Raised when the server cannot be reached or the session broke (refused, timeout, TLS, BYE, abort)."""


@dataclass(frozen=True)
class FetchedMessage:
    uid: int
    raw: bytes
    internaldate: datetime  # aware, UTC


class Mailbox:
    """One logged-in IMAP session, as a context manager.

    ``use_move=False`` forces the COPY + UID EXPUNGE path even on servers with MOVE (tests use it).
    After a ``MailboxUnavailable`` the session is dead: leave the ``with`` block and open a new Mailbox.
    """

    def __init__(self, settings: ImapSettings, *, use_move: bool = True) -> None:
        self.settings = settings
        self.use_move = use_move
        self._client: IMAPClient | None = None
        self._namespace: tuple[str, str] | None = None  # (personal prefix, hierarchy delimiter)

    @property
    def where(self) -> str:
        return f"IMAP {self.settings.host}:{self.settings.port}"

    # -- session -----------------------------------------------------------------------------------

    def __enter__(self) -> Mailbox:
        self.open()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def open(self) -> None:
        s = self.settings
        context = _tls_context(s, self.where)
        with self._errors("connect"):
            client = self._connect(context)
        self._client = client
        try:
            with self._errors("connect"):
                # Small commands and replies: without TCP_NODELAY each round trip can wait on Nagle.
                client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                _cap_literals(client, s.max_message_bytes)
                if s.security == "starttls":
                    client.starttls(context)  # a context that verifies: imaplib's own default does not
            client.normalise_times = False  # keep INTERNALDATE's zone: we return aware datetimes
            self._login(client)
        except BaseException:
            self._drop()
            raise
        log.debug("logged in to %s as %s", self.where, s.username)

    def _connect(self, context: ssl.SSLContext) -> IMAPClient:
        s = self.settings
        if s.security == "ssl":
            return IMAPClient(s.host, port=s.port, ssl=True, ssl_context=context, timeout=s.timeout)
        # The greeting is read within imapclient's connect timeout: a short one first, so a port that speaks TLS
        # from the first byte (993) is named in seconds, not after the whole timeout.
        try:
            return IMAPClient(
                s.host, port=s.port, ssl=False, timeout=SocketTimeout(min(GREETING_WAIT, s.timeout), s.timeout)
            )
        except TimeoutError:
            if s.timeout <= GREETING_WAIT:
                raise
            if speaks_tls(s.host, s.port):
                raise MailboxUnavailable(f"{self.where}: connect: {tls_port_hint('imap', '143')}") from None
        # Only slow: wait for it as long as the config allows.
        return IMAPClient(s.host, port=s.port, ssl=False, timeout=s.timeout)

    def _login(self, client: IMAPClient) -> None:
        s = self.settings
        secret = s.secret.reveal()
        try:
            if s.auth == "xoauth2":
                client.oauth2_login(s.username, secret)
            else:
                client.login(s.username, secret)
        except LoginError as exc:
            reason = _scrub(_reason(exc), secret)
            fix = login_fix("imap", s.secret.origin(), s.host, token=s.auth == "xoauth2")
            raise MailboxAuthError(
                f"IMAP login refused for {s.username} on {s.host}:{s.port}: {reason.rstrip('. ')}{fix}"
            ) from None
        except UnicodeEncodeError:
            # The exception object would carry the password itself: do not chain it.
            raise MailboxAuthError(
                f"{self.where}: the password for {s.username} has non-ASCII characters; IMAP LOGIN cannot send them"
            ) from None
        except (IMAPClientError, OSError) as exc:
            self._drop()
            raise MailboxUnavailable(f"{self.where}: login failed: {_scrub(_reason(exc), secret)}") from None

    def close(self) -> None:
        """Log out; errors are ignored (the connection may already be gone)."""
        client, self._client = self._client, None
        if client is not None:
            try:
                client.logout()
            except (IMAPClientError, OSError):
                with suppress(IMAPClientError, OSError):
                    client.shutdown()

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with suppress(IMAPClientError, OSError):
                client.shutdown()

    @property
    def client(self) -> IMAPClient:
        if self._client is None:
            raise MailboxUnavailable(f"{self.where}: not connected (open a new Mailbox)")
        return self._client

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Translate imapclient/imaplib/socket/ssl errors into this module's tree."""
        try:
            yield
        except MailboxError:
            raise
        except IMAPClientAbortError as exc:  # BYE, EOF, broken reply: imaplib's object is unusable now
            self._drop()
            reason = _reason(exc)
            if _SMTP_GREETING in reason:  # imaplib: "unexpected response: b'220 mx.example ESMTP'"
                greeting = reason.split(_SMTP_GREETING, 1)[1].rstrip("'\"")
                raise MailboxUnavailable(
                    f"{self.where}: {action}: the server greeted with '220 {greeting}': this looks like an SMTP "
                    "server, not IMAP: check imap.port"
                ) from exc
            raise MailboxUnavailable(f"{self.where}: {action}: connection lost: {reason}") from exc
        except IMAPClientError as exc:
            if self._client is None:  # refused greeting (e.g. BYE) before a session existed
                raise MailboxUnavailable(f"{self.where}: {action}: {_reason(exc)}") from exc
            raise MailboxError(f"{self.where}: {action}: {_reason(exc)}") from exc
        except (OSError, EOFError) as exc:  # refused, timeout, TLS (incl. untrusted certificate), broken pipe
            self._drop()
            fix = connect_fix(exc, "imap") if action == "connect" else ""
            raise MailboxUnavailable(f"{self.where}: {action}: {_reason(exc)}{fix}") from exc

    # -- reading -----------------------------------------------------------------------------------

    def capabilities(self) -> tuple[str, ...]:
        with self._errors("CAPABILITY"):
            return tuple(c.decode("ascii", "replace") for c in self.client.capabilities())

    def has(self, capability: str) -> bool:
        with self._errors("CAPABILITY"):
            return bool(self.client.has_capability(capability))

    def select(self, folder: str) -> int:
        """Select ``folder`` read-write; returns its UIDVALIDITY (the caller compares it with the ledger)."""
        name = self.server_name(folder)
        with self._errors(f"SELECT {name}"):
            info = self.client.select_folder(name, readonly=False)
        try:
            return int(info[b"UIDVALIDITY"])
        except (KeyError, ValueError, TypeError):
            raise MailboxError(f"{self.where}: SELECT {name}: no UIDVALIDITY in the reply") from None

    def uids(self) -> list[int]:
        """Every UID in the selected folder, ascending (UID SEARCH ALL: flags are not trusted for state)."""
        with self._errors("UID SEARCH"):
            found = self.client.search("ALL")
        return sorted(int(uid) for uid in found)

    def sizes(self, uids: Sequence[int]) -> dict[int, int]:
        """RFC822.SIZE of each UID still present: check before fetching (50 MB costs ~770 MB to parse)."""
        result: dict[int, int] = {}
        for batch in _chunks(list(uids), 500):
            with self._errors("UID FETCH RFC822.SIZE"):
                data = self.client.fetch(batch, ["RFC822.SIZE"])
            for uid, item in data.items():
                size = item.get(b"RFC822.SIZE")
                if isinstance(size, int):
                    result[int(uid)] = size
        return result

    def fetch(self, uids: Sequence[int], sizes: Mapping[int, int] | None = None) -> Iterator[FetchedMessage]:
        """Raw bytes and INTERNALDATE of each UID, in batches of ``batch_size`` (and of ``BATCH_BYTES`` when
        ``sizes`` from :meth:`sizes` is given). UIDs gone meanwhile (moved by another client) are skipped."""
        for batch in _batches(list(uids), self.settings.batch_size, sizes or {}):
            with self._errors("UID FETCH BODY.PEEK[]"):
                data = self.client.fetch(batch, ["BODY.PEEK[]", "INTERNALDATE"])
            for uid in batch:
                item = data.get(uid)
                raw = item.get(b"BODY[]") if item else None
                if item is None or not isinstance(raw, bytes):
                    log.info("%s: UID %s not in the FETCH reply (expunged meanwhile?)", self.where, uid)
                    continue
                yield FetchedMessage(uid, raw, _aware(item.get(b"INTERNALDATE")))

    def header(self, uid: int) -> FetchedMessage | None:
        """Only the header of one message (BODY.PEEK[HEADER], capped at 64 KB): enough to tell who sent a
        message too large to fetch, and to answer them."""
        with self._errors("UID FETCH BODY.PEEK[HEADER]"):
            data = self.client.fetch([uid], ["BODY.PEEK[HEADER]<0.65536>", "INTERNALDATE"])
        item = data.get(uid)
        if not item:
            return None
        raw = next((v for k, v in item.items() if k.startswith(b"BODY[HEADER]") and isinstance(v, bytes)), None)
        return None if raw is None else FetchedMessage(uid, raw, _aware(item.get(b"INTERNALDATE")))

    def senders(self, uids: Sequence[int]) -> dict[int, FetchedMessage]:
        """Only the From header of each UID (BODY.PEEK[HEADER.FIELDS (FROM)]: no flag set, no body read), to
        leave a stranger's mail unread in a shared mailbox. UIDs gone meanwhile are missing from the result."""
        result: dict[int, FetchedMessage] = {}
        for batch in _chunks(list(uids), 500):
            with self._errors("UID FETCH BODY.PEEK[HEADER.FIELDS (FROM)]"):
                data = self.client.fetch(batch, ["BODY.PEEK[HEADER.FIELDS (FROM)]", "INTERNALDATE"])
            for uid, item in data.items():
                raw = next((v for k, v in item.items() if k.startswith(b"BODY[HEADER") and isinstance(v, bytes)), None)
                if raw is not None:
                    result[int(uid)] = FetchedMessage(int(uid), raw, _aware(item.get(b"INTERNALDATE")))
        return result

    # -- folders -----------------------------------------------------------------------------------

    def namespace(self) -> tuple[str, str]:
        """(personal prefix, delimiter), e.g. ("", "/") on Dovecot/Gmail, ("INBOX.", ".") on Courier/Cyrus."""
        if self._namespace is None:
            prefix, delimiter = "", ""
            with self._errors("NAMESPACE"):
                if self.client.has_capability("NAMESPACE"):
                    personal = self.client.namespace().personal
                    if personal:
                        prefix, delimiter = str(personal[0][0]), str(personal[0][1] or "")
                if not delimiter:
                    listed = self.client.list_folders("", "")  # LIST "" "": just the delimiter
                    if listed and listed[0][1]:
                        delimiter = _text(listed[0][1])
            self._namespace = (prefix, delimiter or "/")
        return self._namespace

    def server_name(self, folder: str) -> str:
        """The server's name for a configured folder: "/" becomes the delimiter and the personal prefix is
        added ("Processed" -> "INBOX.Processed" where folders live under INBOX). INBOX is always INBOX."""
        if folder.upper() == "INBOX":
            return "INBOX"
        prefix, delimiter = self.namespace()
        name = folder.replace("/", delimiter)
        if prefix and not name.startswith(prefix):
            name = prefix + name
        return name

    def folders(self) -> list[str]:
        with self._errors("LIST"):
            return sorted(_text(name) for _, _, name in self.client.list_folders())

    def ensure_folders(self, *folders: str) -> list[str]:
        """Create (and subscribe) each folder that does not exist; returns the server names."""
        names = [self.server_name(f) for f in folders]
        existing = set(self.folders())
        for name in names:
            if name in existing or name == "INBOX":
                continue
            with self._errors(f"CREATE {name}"):
                try:
                    self.client.create_folder(name)
                except IMAPClientAbortError:
                    raise
                except IMAPClientError as exc:
                    if "ALREADYEXISTS" not in str(exc).upper():  # another client was quicker: fine
                        raise
                log.info("%s: created folder %s", self.where, name)
                try:
                    self.client.subscribe_folder(name)  # so webmail users see it; optional
                except IMAPClientAbortError:
                    raise
                except IMAPClientError:
                    log.debug("%s: SUBSCRIBE %s refused; ignored", self.where, name)
        return names

    # -- moving ------------------------------------------------------------------------------------

    def move(self, uids: int | Sequence[int], folder: str) -> None:
        """Move messages out of the selected folder, as one UID set per command (``UID MOVE 1:50``, not 50
        commands); their flags go with them (\\Seen is not touched). Refused: none or some of them moved (the
        server decides); the caller tries what is left one by one, so one refusal holds up no other message."""
        name = self.server_name(folder)
        every = [uids] if isinstance(uids, int) else list(uids)
        use_move = self.use_move and self.has("MOVE")
        if not use_move and not self.has("UIDPLUS"):
            # Without UID EXPUNGE the only way out is a plain EXPUNGE, which would also erase other clients'
            # \Deleted mail: refuse rather than risk it.
            raise MailboxError(f"{self.where}: no MOVE and no UIDPLUS; cannot move UID {_uid_set(every)} safely")
        for batch in _chunks(every, 500):
            where = _uid_set(batch)
            if use_move:
                with self._errors(f"UID MOVE {where} {name}"):
                    self.client.move(batch, name)
                continue
            with self._errors(f"UID COPY {where} {name}"):
                self.client.copy(batch, name)
            with self._errors(f"UID STORE {where} +FLAGS \\Deleted"):
                self.client.add_flags(batch, [DELETED], silent=True)
            with self._errors(f"UID EXPUNGE {where}"):
                self.client.uid_expunge(batch)

    # -- waiting for new mail (IMAP IDLE, RFC 2177) ------------------------------------------------

    def wait_for_mail(
        self, stop: threading.Event, *, renew: float = IDLE_RENEW_SECONDS, tick: float = IDLE_TICK_SECONDS
    ) -> bool:
        """Wait in IDLE on the selected folder. True as soon as the server reports new mail (EXISTS); False
        when ``stop`` is set or ``renew`` seconds passed (call again: its NOOP checks the connection, then IDLE
        is re-issued). The answers to DONE and NOOP are awaited within imap.timeout: a connection that died
        silently while idling raises ``MailboxUnavailable`` within ``renew`` + ``tick`` + imap.timeout.

        Only IDLE, DONE and NOOP are sent: nothing from an email goes into a command. A server that ends the
        session while we idle answers BYE instead of an error (a restart does that); that, a closed
        connection and every network error raise ``MailboxUnavailable``.
        """
        client = self.client
        with self._errors("NOOP"):
            # Drains what the server has queued since the last command (IDLE would trip over an EXISTS sent
            # before its "+ idling"), and mail that came in meanwhile counts as new.
            _, responses = client.noop()
        if _new_mail(responses):
            return True
        with self._errors("IDLE"):
            client.idle()
        new = False
        deadline = time.monotonic() + renew
        while not new and not stop.is_set() and time.monotonic() < deadline:
            started = time.monotonic()
            with self._errors("IDLE"):
                responses = client.idle_check(timeout=tick)
            bye = next((r for r in responses if r and r[0] == b"BYE"), None)
            if bye is not None:
                self._drop()
                raise MailboxUnavailable(
                    f"{self.where}: IDLE: the server ended the session: {_text(bye[1] if len(bye) > 1 else b'BYE')}"
                )
            if not responses and time.monotonic() - started < tick / 2:
                # idle_check returns at once with nothing when the socket is readable but at its end: the
                # server closed the connection without a word.
                self._drop()
                raise MailboxUnavailable(f"{self.where}: IDLE: connection closed by the server")
            new = _new_mail(responses)
        with self._errors("IDLE DONE"):
            _, responses = client.idle_done()
        return new or _new_mail(responses)


def check_login(settings: ImapSettings) -> str:
    """A few lines for `mailbot init`: can we log in, what the server offers, which folders exist."""
    with Mailbox(settings) as box:
        caps = set(box.capabilities())
        prefix, delimiter = box.namespace()
        folders = box.folders()
        box.select(settings.folder)
        count = len(box.uids())
        wanted = [box.server_name(f) for f in (settings.processed_folder, settings.rejected_folder)]
    moving = "MOVE" if "MOVE" in caps else "COPY + UID EXPUNGE" if "UIDPLUS" in caps else "NOT POSSIBLE"
    lines = [
        f"{box.where}: logged in as {settings.username} ({settings.security}, {settings.auth})",
        f"moving messages: {moving}",
        f"namespace: prefix {prefix!r}, delimiter {delimiter!r}",
        f"{settings.folder}: {count} messages",
    ]
    for name in wanted:
        lines.append(f"{name}: {'present' if name in folders else 'missing (will be created)'}")
    return "\n".join(lines)


# --- helpers -------------------------------------------------------------------------------------


def _uid_set(uids: Sequence[int]) -> str:
    """For messages: "7", or "7..58 (12 messages)"."""
    if len(uids) == 1:
        return str(uids[0])
    return f"{min(uids)}..{max(uids)} ({len(uids)} messages)"


def _cap_literals(client: IMAPClient, max_message_bytes: int) -> None:
    """Refuse a literal far larger than any message we fetch: a hostile server announcing {99999999999}
    otherwise makes imaplib allocate it (MemoryError). The session is aborted, as for any broken reply."""
    imap: Any = client._imap  # imaplib.IMAP4: its read() receives every literal size the server announces
    limit = max_message_bytes * 2 + 1024 * 1024
    read: Callable[[int], bytes] = imap.read

    def capped_read(size: int) -> bytes:
        if size > limit:
            raise imaplib.IMAP4.abort(f"server announced a {size}-byte literal (limit {limit})")
        return read(size)

    imap.read = capped_read


_SMTP_GREETING = "unexpected response: b'220 "


# OpenSSL's reasons when the other end does not answer a TLS handshake with TLS (a plain-text greeting instead).
def _tls_context(settings: ImapSettings, where: str) -> ssl.SSLContext:
    try:
        return verifying_context(settings.ca_file)
    except CaFileUnusable as exc:
        raise MailboxUnavailable(f"{where}: imap.ca_file: {exc}") from None


def _scrub(text: str, secret: str) -> str:
    # A server echoing the command back must not carry the password into our logs.
    return text.replace(secret, "***") if secret else text


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if reason := network_reason(exc):
        return reason
    text = str(exc) or type(exc).__name__
    if text.startswith("b'") or text.startswith('b"'):
        text = text[2:-1]
    return text


def _new_mail(responses: Sequence[Any]) -> bool:
    """Whether unsolicited responses include ``* n EXISTS`` (a message arrived; EXPUNGE only lowers n)."""
    return any(isinstance(r, tuple) and len(r) >= 2 and r[1] == b"EXISTS" for r in responses)


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _aware(value: object) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    # A server that sends no INTERNALDATE: now is the best we know, and it is only used for display.
    return datetime.now(UTC)


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _batches(uids: list[int], count: int, sizes: Mapping[int, int]) -> Iterator[list[int]]:
    batch: list[int] = []
    total = 0
    for uid in uids:
        size = sizes.get(uid, 0)
        if batch and (len(batch) >= count or total + size > BATCH_BYTES):
            yield batch
            batch, total = [], 0
        batch.append(uid)
        total += size
    if batch:
        yield batch

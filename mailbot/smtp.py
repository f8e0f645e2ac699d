"""SMTP transport: stored message bytes (or an EmailMessage) and an envelope in, per-recipient results out.

Errors (each message names host:port, never a secret)::

    SmtpError                    base
     +-- SmtpTransient           try again later: 421, 4xx, every recipient refused with 4xx, disconnect,
     |                           timeout, connection refused, TLS failure (incl. an untrusted certificate)
     +-- SmtpPermanent           this message will never go: 5xx on MAIL/DATA (e.g. 552), every recipient 5xx
     +-- SmtpAuthError           the login was refused: no message can go until the operator acts
          +-- SmtpSenderRefused  5xx on MAIL FROM (a sending quota, a blocked account): the same, for every message

Some recipients refused while others were accepted is not an error: see ``SendResult.refused``.
"""

from __future__ import annotations

import contextlib
import copy
import email.policy
import email.utils
import logging
import re
import smtplib
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from types import TracebackType

from mailbot.address import envelope as _envelope
from mailbot.address import envelope_of
from mailbot.config import SmtpSettings
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

Refusals = dict[str, tuple[int, str]]  # recipient -> (SMTP code, server's text)


class SmtpError(Unavailable):
    """Raised when a message could not be handed to the server; ``refused`` holds per-recipient replies."""

    def __init__(self, message: str, code: int | None = None, refused: Refusals | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.refused: Refusals = refused or {}


class SmtpTransient(SmtpError):
    """Raised when the server or network failed in a way worth retrying later."""


class SmtpPermanent(SmtpError):
    """Raised when the server refused this message for good (5xx)."""


class SmtpAuthError(LoginRefused, SmtpError):
    """Raised when the server refuses the login (535): the password or app password needs fixing."""


class SmtpSenderRefused(SmtpAuthError):
    """Raised when the server refuses mailbot's sender address with 5xx (other than 552, a message too large):
    a daily sending limit or a blocked account refuses *us*, not the message, so every email waits."""


@dataclass(frozen=True)
class SendResult:
    accepted: tuple[str, ...]
    refused: Refusals = field(default_factory=dict)

    @property
    def retry(self) -> tuple[str, ...]:
        """Recipients refused with 4xx: send to them again later."""
        return tuple(r for r, (code, _) in self.refused.items() if 400 <= code < 500)

    @property
    def failed(self) -> tuple[str, ...]:
        """Recipients refused with 5xx: never retry."""
        return tuple(r for r, (code, _) in self.refused.items() if code >= 500)


class SmtpTransport:
    """Sends messages over one connection, opened on first use and kept for the ``with`` block.

    A connection the server closed while idle is noticed by a NOOP (after ``idle_check_after`` seconds
    without traffic) and replaced. A failure during a send drops the connection: the next send reconnects.
    """

    def __init__(self, settings: SmtpSettings, *, idle_check_after: float = 10.0) -> None:
        self.settings = settings
        self.idle_check_after = idle_check_after
        self._smtp: smtplib.SMTP | None = None
        self._last_used = 0.0

    @property
    def where(self) -> str:
        return f"SMTP {self.settings.host}:{self.settings.port}"

    def __enter__(self) -> SmtpTransport:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- connection ----------------------------------------------------------------------------------------

    def connect(self) -> None:
        """Open, secure and log in (``send`` does this when needed; call it to check settings early)."""
        self.close()
        s = self.settings
        try:
            context = verifying_context(s.ca_file)
        except CaFileUnusable as exc:
            raise SmtpTransient(f"{self.where}: smtp.ca_file: {exc}") from None
        smtp: smtplib.SMTP | None = None
        try:
            if s.security == "ssl":
                smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=context)
            else:
                smtp = self._plain(s.host, s.port)
            # Without TCP_NODELAY every message waits on Nagle's algorithm: ~23 instead of ~580 msg/s.
            if smtp.sock is not None:
                smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            smtp.ehlo()
            if s.security == "starttls":
                # starttls() without a context does not verify the certificate.
                smtp.starttls(context=context)
                smtp.ehlo()
            if s.secret is not None:
                self._login(smtp, s.username, s.secret.reveal())
        except BaseException as exc:
            if smtp is not None:
                _quietly_close(smtp)
            if isinstance(exc, smtplib.SMTPException | OSError):
                raise self._translate(exc, "connect") from exc
            raise
        self._smtp = smtp
        self._last_used = time.monotonic()
        log.debug("connected to %s", self.where)

    def _plain(self, host: str, port: int) -> smtplib.SMTP:
        """A connection for "starttls"/"none": the greeting is awaited briefly first, so a port that speaks TLS
        from the first byte (465) is named in seconds, not after the whole timeout."""
        timeout = self.settings.timeout
        if timeout > GREETING_WAIT:
            try:
                smtp = smtplib.SMTP(host, port, timeout=GREETING_WAIT)
            except (TimeoutError, smtplib.SMTPServerDisconnected) as exc:
                # smtplib turns a timeout reading the greeting into "Connection unexpectedly closed: timed out".
                if not isinstance(exc, TimeoutError) and not isinstance(exc.__context__, TimeoutError):
                    raise
                if speaks_tls(host, port):
                    raise SmtpTransient(f"{self.where}: connect: {tls_port_hint('smtp', '587')}") from None
            else:
                if smtp.sock is not None:
                    smtp.sock.settimeout(timeout)
                smtp.timeout = timeout
                return smtp
        return smtplib.SMTP(host, port, timeout=timeout)  # slow, not TLS: wait as long as the config allows

    def _login(self, smtp: smtplib.SMTP, username: str, password: str) -> None:
        try:
            smtp.login(username, password)
        except smtplib.SMTPAuthenticationError as exc:
            text = _text(exc.smtp_error).replace(password, "***")
            if 400 <= exc.smtp_code < 500:  # 454: temporary authentication failure
                where = f"{self.where}: login deferred"
                raise SmtpTransient(f"{where}: {exc.smtp_code} {text}", exc.smtp_code) from None
            secret = self.settings.secret
            fix = login_fix("smtp", secret.origin(), self.settings.host) if secret is not None else ""
            raise SmtpAuthError(
                f"SMTP login refused for {username} on {self.settings.host}:{self.settings.port}: "
                f"{exc.smtp_code} {text.rstrip('. ')}{fix}",
                exc.smtp_code,
            ) from None
        except smtplib.SMTPNotSupportedError:
            raise SmtpAuthError(f"{self.where}: server offers no AUTH; remove the password setting") from None
        except smtplib.SMTPException as exc:
            if isinstance(exc, smtplib.SMTPResponseException):
                raise
            # "No suitable authentication method found"
            raise SmtpAuthError(f"{self.where}: cannot log in: {exc}") from None

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                _quietly_close(smtp)

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is not None and time.monotonic() - self._last_used >= self.idle_check_after:
            try:
                code, _ = self._smtp.noop()
                alive = code == 250
            except (smtplib.SMTPException, OSError):
                alive = False
            if not alive:
                log.info("%s: idle connection was closed by the server; reconnecting", self.where)
                self.close()
        if self._smtp is None:
            self.connect()
        assert self._smtp is not None  # noqa: S101 - connect() sets it or raises
        return self._smtp

    # -- sending -------------------------------------------------------------------------------------------

    def send(self, message: EmailMessage, recipients: Sequence[str] | None = None) -> SendResult:
        """Send ``message`` to ``recipients`` (default: its To/Cc/Bcc) with the envelope sender ``from_address``.

        The bytes sent are the message's own, generated without refolding headers: a message parsed from stored
        bytes goes out as stored (same Message-ID, same signature-safe headers). Bcc is not transmitted.
        """
        envelope = _envelope(recipients) if recipients is not None else envelope_of(message)
        if not envelope:
            raise SmtpPermanent(f"{self.where}: message {message['Message-ID']} has no recipients")
        international = not "".join([self.settings.from_address, *envelope]).isascii()
        return self.send_raw(_faithful(message, utf8=international).as_bytes(), envelope)

    def send_raw(self, raw: bytes, recipients: Sequence[str], *, ready: Callable[[], None] | None = None) -> SendResult:
        """Send stored message bytes as they are to ``recipients`` (the envelope), from ``from_address``.

        The outbox's path: the bytes were generated once, when queued, so nothing is parsed or regenerated per
        email. Line ends become CRLF (SMTP allows no bare CR or LF), dots are stuffed, and a Bcc or Resent-Bcc
        header, should the bytes carry one, is cut out: the envelope delivers those copies, the headers never name
        them. Non-ASCII envelope addresses need the server's SMTPUTF8, as with smtplib's send_message().

        ``ready`` is called once the body is transmitted, before the final "." that has the server accept it: the
        outbox waits there for the previous email's commit. Should it raise, the connection is dropped without
        the ".", so the server discards this email, and its exception propagates.
        """
        envelope = _envelope(recipients)
        if not envelope:
            raise SmtpPermanent(f"{self.where}: a message with no recipients")
        wire = _without_bcc(_crlf(raw))
        options: tuple[str, ...] = ()
        smtp = self._connection()
        try:
            if not "".join([self.settings.from_address, *envelope]).isascii():
                smtp.ehlo_or_helo_if_needed()
                if not smtp.has_extn("smtputf8"):
                    raise smtplib.SMTPNotSupportedError(
                        "One or more source or delivery addresses require internationalized email support, but "
                        "the server does not advertise the required SMTPUTF8 capability"
                    )
                options = ("SMTPUTF8", "BODY=8BITMIME")
            refused = _sendmail(smtp, self.settings.from_address, envelope, wire, options, ready)
        except _NotReady as not_ready:
            self._smtp = None
            _quietly_close(smtp)  # not QUIT: in DATA that would be text of the message
            raise not_ready.reason from None
        except (smtplib.SMTPException, OSError) as exc:
            # The session state is unknown after a failure: start the next send on a fresh connection.
            self.close()
            raise self._translate(exc, "send") from exc
        self._last_used = time.monotonic()
        refusals = {rcpt: (code, _text(text)) for rcpt, (code, text) in refused.items()}
        accepted = tuple(r for r in envelope if r not in refusals)
        if refusals:
            log.info("%s: %s accepted, refused %s", self.where, accepted, refusals)
        return SendResult(accepted=accepted, refused=refusals)

    def _translate(self, exc: BaseException, action: str) -> SmtpError:  # noqa: PLR0911 - one per kind
        where = f"{self.where}: {action}"
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            refused = {r: (code, _text(text)) for r, (code, text) in exc.recipients.items()}
            summary = "; ".join(f"{r}: {c} {t}" for r, (c, t) in refused.items())
            # Any 4xx among them may still get through later; only an all-5xx refusal is final.
            kind = SmtpPermanent if all(c >= 500 for c, _ in refused.values()) else SmtpTransient
            code = max(c for c, _ in refused.values()) if refused else None
            return kind(f"{where}: every recipient refused: {summary}", code, refused)
        if isinstance(exc, smtplib.SMTPSenderRefused) and exc.smtp_code >= 500 and exc.smtp_code != 552:
            return SmtpSenderRefused(
                f"{where}: the server refuses mail from {self.settings.from_address}: {exc.smtp_code} "
                f"{_text(exc.smtp_error)} (a sending limit, or the account is blocked)",
                exc.smtp_code,
            )
        if isinstance(exc, smtplib.SMTPResponseException):  # connect (421), sender, data, helo refusals
            text = _text(exc.smtp_error)
            if exc.smtp_code == -1 and action == "connect":  # a greeting without a reply code: "* OK ... ready"
                what = "this looks like an IMAP server, not SMTP" if "IMAP" in text.upper() else "not an SMTP server"
                return SmtpTransient(
                    f"{where}: the server's greeting has no SMTP reply code ({text[:80]!r}): {what}: check smtp.port"
                )
            kind = SmtpPermanent if exc.smtp_code >= 500 else SmtpTransient
            return kind(f"{where}: {exc.smtp_code} {text}", exc.smtp_code)
        fix = connect_fix(exc, "smtp") if action == "connect" else ""
        if isinstance(exc, ssl.SSLError) and (reason := network_reason(exc)):  # untrusted, or not TLS at all
            return SmtpTransient(f"{where}: {reason}{fix}")
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            if "STARTTLS" in str(exc).upper():  # STARTTLS stripped or not offered: never send in clear
                return SmtpTransient(f"{where}: server does not offer STARTTLS")
            return SmtpPermanent(f"{where}: {exc}")  # e.g. SMTPUTF8 needed but not offered
        if isinstance(exc, TimeoutError):
            return SmtpTransient(f"{where}: timed out after {self.settings.timeout:g} s{fix}")
        if isinstance(exc, OSError) and (reason := network_reason(exc)):
            return SmtpTransient(f"{where}: {reason}{fix}")  # "Connection refused", without "[Errno 111]"
        if isinstance(exc, smtplib.SMTPServerDisconnected | OSError | smtplib.SMTPException):
            return SmtpTransient(f"{where}: {exc or type(exc).__name__}")
        return SmtpError(f"{where}: {exc}")  # pragma: no cover - every caller passes one of the above


class _NotReady(Exception):
    """Internal: carries what ``ready`` raised out of _sendmail."""

    def __init__(self, reason: BaseException) -> None:
        super().__init__(str(reason))
        self.reason = reason


def _sendmail(
    smtp: smtplib.SMTP,
    sender: str,
    recipients: list[str],
    wire: bytes,
    options: tuple[str, ...],
    ready: Callable[[], None] | None,
) -> dict[str, tuple[int, bytes]]:
    """smtplib's ``sendmail`` (same replies, same exceptions), with ``ready()`` between the body and its final ".".
    Returns the refused recipients as sendmail does."""
    smtp.ehlo_or_helo_if_needed()
    esmtp = [*([f"size={len(wire)}"] if smtp.has_extn("size") else []), *options] if smtp.does_esmtp else []
    code, reply = smtp.mail(sender, esmtp)
    if code != 250:
        _abandon(smtp, code)
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    refused: dict[str, tuple[int, bytes]] = {}
    for recipient in recipients:
        code, reply = smtp.rcpt(recipient)
        if code not in (250, 251):
            refused[recipient] = (code, reply)
        if code == 421:
            smtp.close()
            raise smtplib.SMTPRecipientsRefused(refused)
    if len(refused) == len(recipients):
        _abandon(smtp, 0)
        raise smtplib.SMTPRecipientsRefused(refused)
    smtp.putcmd("data")
    code, reply = smtp.getreply()
    if code != 354:
        _abandon(smtp, code)
        raise smtplib.SMTPDataError(code, reply)
    body = _LEADING_DOT.sub(b"..", wire)
    smtp.send(body if body.endswith(b"\r\n") else body + b"\r\n")
    try:
        if ready is not None:
            ready()
    except BaseException as exc:
        raise _NotReady(exc) from exc
    smtp.send(b".\r\n")
    code, reply = smtp.getreply()
    if code != 250:
        _abandon(smtp, code)
        raise smtplib.SMTPDataError(code, reply)
    return refused


def _abandon(smtp: smtplib.SMTP, code: int) -> None:
    """After a refusal: a 421 closes the session, anything else resets the transaction (as sendmail does)."""
    if code == 421:
        smtp.close()
        return
    with contextlib.suppress(smtplib.SMTPServerDisconnected):
        smtp.rset()


def _faithful(message: EmailMessage, *, utf8: bool = False) -> EmailMessage:
    """A shallow copy without Bcc whose policy writes headers as they are (no refolding) with CRLF line ends.

    With the default policy a long header line read from stored bytes would be refolded, changing the bytes we
    archived. The caller's message is not modified (``del`` replaces the copy's header list, not the shared one).
    """
    policy = message.policy if isinstance(message.policy, email.policy.EmailPolicy) else email.policy.default
    wire = copy.copy(message)
    wire.policy = policy.clone(linesep="\r\n", refold_source="none", utf8=utf8)  # utf8: for SMTPUTF8, as smtplib
    del wire["Bcc"]
    del wire["Resent-Bcc"]
    return wire


_LINE_END = re.compile(rb"\r\n|\n|\r")
_LEADING_DOT = re.compile(rb"^\.", re.MULTILINE)  # RFC 5321 4.5.2 dot-stuffing, as smtplib's data() does
_BCC = re.compile(rb"^(?:resent-)?bcc[ \t]*:.*\r\n(?:[ \t].*\r\n)*", re.IGNORECASE | re.MULTILINE)


def _crlf(raw: bytes) -> bytes:
    """``raw`` with every line ending CRLF (stored bytes already are: then it is three counts, no copy)."""
    pairs = raw.count(b"\r\n")
    if raw.count(b"\n") == pairs and raw.count(b"\r") == pairs:
        return raw
    return _LINE_END.sub(b"\r\n", raw)


def _without_bcc(raw: bytes) -> bytes:
    """CRLF ``raw`` without Bcc/Resent-Bcc header fields (and their folded lines); only the header block is read."""
    end = raw.find(b"\r\n\r\n")
    head = raw[: end + 2] if end >= 0 else raw
    if not _BCC.search(head):
        return raw
    return _BCC.sub(b"", head) + raw[len(head) :]


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _quietly_close(smtp: smtplib.SMTP) -> None:
    with contextlib.suppress(OSError):  # close() of a broken socket
        smtp.close()

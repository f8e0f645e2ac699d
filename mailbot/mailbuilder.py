"""Build real RFC 822 bytes the way DSPs' mail clients do: for tests, fixtures and ``mailbot demo``.

Pure and deterministic: the same arguments give the same bytes (no clock, no random boundary).

    raw = build_email(
        sender="CMS Computers <reports@cms.example>",
        subject="साप्ताहिक रिपोर्ट 2026-W47",
        attachments=[("रिपोर्ट.xlsx", workbook_bytes)],
    )

An attachment is a ``(filename, bytes)`` pair, or a :class:`FilePart` to choose how it is labelled
(RFC 2047 or RFC 2231 filename, inline like Apple Mail, no name at all). ``forwarded=[raw]`` wraps earlier
messages as ``message/rfc822`` parts, as "Forward as attachment" does. Anything else (``Auto-Submitted``,
``Reply-To``, a second ``From``) goes in ``headers``, written in the order given.
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.header import Header
from email.utils import format_datetime, formataddr, parseaddr
from typing import Literal

__all__ = ["DEFAULT_DATE", "IST", "FilePart", "attachment_entity", "build_email", "multipart"]

IST = timezone(timedelta(hours=5, minutes=30), "IST")
# Monday after week 2026-W47 (which ends Sunday 2026-11-22), mid-morning in Lucknow.
DEFAULT_DATE = datetime(2026, 11, 23, 10, 30, tzinfo=IST)

_CRLF = b"\r\n"
_TYPES = {
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".xlsm": "application/vnd.ms-excel.sheet.macroEnabled.12",
    ".xls": "application/vnd.ms-excel",
    ".csv": "text/csv",
    ".ods": "application/vnd.oasis.opendocument.spreadsheet",
    ".dat": "application/ms-tnef",
}


@dataclass(frozen=True)
class FilePart:
    """One attached file and how the sending client labels it.

    filename: None sends no name at all (some scripts and phones do).
    filename_encoding: "rfc2231" (``filename*=utf-8''%E0..``, split into continuations when long;
        Thunderbird, Apple Mail) or "rfc2047" (``filename="=?UTF-8?B?..?="``; Gmail, Outlook).
        ASCII names are sent plainly either way.
    disposition: "attachment", "inline" (Apple Mail) or None (no Content-Disposition header).
    content_type: None guesses from the extension, falling back to application/octet-stream.
    """

    filename: str | None
    content: bytes
    filename_encoding: Literal["rfc2231", "rfc2047"] = "rfc2231"
    disposition: Literal["attachment", "inline"] | None = "attachment"
    content_type: str | None = None


def build_email(
    *,
    sender: str = "reports@cms.example",
    to: str | Sequence[str] = "jsk-reports@ceg.example",
    subject: str = "Weekly JSK report",
    body: str = "Please find the weekly report attached.",
    attachments: Sequence[FilePart | tuple[str, bytes]] = (),
    forwarded: Sequence[bytes] = (),
    date: datetime | str | None = DEFAULT_DATE,
    message_id: str | None = None,
    headers: Mapping[str, str] | Sequence[tuple[str, str]] = (),
) -> bytes:
    """The message as CRLF-terminated bytes.

    date: a datetime (formatted per RFC 5322), a string written verbatim (malformed dates), or None to omit.
    message_id: None derives a stable id from the content; "" omits the header.
    """
    parts = [p if isinstance(p, FilePart) else FilePart(p[0], p[1]) for p in attachments]
    recipients = [to] if isinstance(to, str) else list(to)
    head: list[tuple[str, str]] = [
        ("From", _address(sender)),
        ("To", ", ".join(_address(r) for r in recipients)),
    ]
    head.append(("Subject", _encode_header(subject)))
    if isinstance(date, datetime):
        head.append(("Date", format_datetime(date)))
    elif date is not None:
        head.append(("Date", date))
    extra = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    head.extend((name, _encode_header(value)) for name, value in extra)
    head.append(("MIME-Version", "1.0"))

    text = _text_part(body)
    if not parts and not forwarded:
        body_bytes = text
    else:
        children = [text, *(attachment_entity(p) for p in parts), *(_rfc822_part(m) for m in forwarded)]
        boundary = "=_mailbot_" + hashlib.sha256(b"".join(children)).hexdigest()[:24]
        body_bytes = multipart("mixed", boundary, children)

    if message_id is None:
        digest = hashlib.sha256(repr(head).encode() + body_bytes).hexdigest()[:20]
        message_id = f"<{digest}@mailbuilder.invalid>"
    if message_id:
        head.append(("Message-ID", message_id))
    return _headers(head) + body_bytes


def multipart(subtype: str, boundary: str, children: Sequence[bytes]) -> bytes:
    """A multipart entity (headers + body) from already-built child entities; for hand-made odd fixtures."""
    out = [f'Content-Type: multipart/{subtype}; boundary="{boundary}"'.encode(), b""]
    for child in children:
        out += [b"--" + boundary.encode(), child]
    out += [b"--" + boundary.encode() + b"--", b""]
    return _CRLF.join(out)


def _headers(pairs: Sequence[tuple[str, str]]) -> bytes:
    return b"".join(f"{name}: {value}".encode() + _CRLF for name, value in pairs)


def _address(value: str) -> str:
    if value.isascii():
        return value
    name, addr = parseaddr(value)
    return formataddr((name, addr), charset="utf-8")


def _encode_header(value: str) -> str:
    if value.isascii():
        return value
    return Header(value, "utf-8").encode(linesep="\r\n")


def _base64_lines(data: bytes) -> bytes:
    encoded = base64.b64encode(data)
    return _CRLF.join(encoded[i : i + 76] for i in range(0, len(encoded), 76)) + _CRLF


def _text_part(body: str) -> bytes:
    body = body.replace("\r\n", "\n").replace("\n", "\r\n")
    if body.isascii():
        head = "Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
        return head.encode() + body.encode() + _CRLF
    head = "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    return head.encode() + _base64_lines(body.encode())


def attachment_entity(part: FilePart) -> bytes:
    """One attachment as a MIME entity (headers + base64 body); for hand-made odd fixtures."""
    name = part.filename
    ctype = part.content_type
    if ctype is None:
        ext = "." + name.rsplit(".", 1)[-1].lower() if name and "." in name else ""
        ctype = _TYPES.get(ext) or mimetypes.types_map.get(ext) or "application/octet-stream"
    lines = [f"Content-Type: {ctype}" + (f"; {_param('name', name, part)}" if name else "")]
    if part.disposition:
        lines.append(
            f"Content-Disposition: {part.disposition}" + (f"; {_param('filename', name, part)}" if name else "")
        )
    lines.append("Content-Transfer-Encoding: base64")
    return "\r\n".join(lines).encode() + _CRLF + _CRLF + _base64_lines(part.content)


def _param(key: str, value: str, part: FilePart) -> str:
    if value.isascii():
        return f'{key}="{value}"'
    if part.filename_encoding == "rfc2047":
        # One encoded-word per ~10 characters keeps each word under 75 octets, as Gmail does.
        words = [value[i : i + 10] for i in range(0, len(value), 10)]
        encoded = " ".join("=?UTF-8?B?" + base64.b64encode(w.encode()).decode() + "?=" for w in words)
        return f'{key}="{encoded}"'
    quoted = urllib.parse.quote(value.encode(), safe="")
    # Split on whole %XX escapes into RFC 2231 continuations of at most 60 characters.
    chunks: list[str] = []
    i = 0
    while i < len(quoted):
        end = min(i + 60, len(quoted))
        while end < len(quoted) and "%" in quoted[end - 2 : end]:
            end -= 1
        chunks.append(quoted[i:end])
        i = end
    if len(chunks) == 1:
        return f"{key}*=utf-8''{chunks[0]}"
    first = f"{key}*0*=utf-8''{chunks[0]}"
    return ";\r\n ".join([first, *(f"{key}*{n}*={c}" for n, c in enumerate(chunks[1:], 1))])


def _rfc822_part(raw: bytes) -> bytes:
    head = b"Content-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n"
    return head + raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")

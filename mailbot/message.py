"""Raw RFC 822 bytes -> who sent it, when, and which spreadsheets it carries.

Pure: bytes in, a frozen ParsedMessage out. Spreadsheets are recognised by their bytes, never by name or
Content-Type, because DSPs' mail clients label them every which way (no name, inline, text/plain,
winmail.dat); ``workbook.io.spreadsheet_kind``, which the workbook reader uses too, tells them apart.

The MIME tree is walked with the stdlib's compat32 parser, not mail-parser: compat32 parses 100,000 parts in
about a second (policy.default takes 16 s, mail-parser 4 s), never raises on a malformed header, and keeps the
raw header text so that RFC 2231 names in unknown charsets can be decoded here instead of becoming mojibake.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesHeaderParser, BytesParser
from email.policy import compat32
from email.utils import getaddresses, parsedate_to_datetime
from typing import Literal

from mailbot.workbook.io import is_office_file, spreadsheet_kind

__all__ = [
    "MAX_DEPTH",
    "MAX_PARTS",
    "Attachment",
    "MessageError",
    "ParsedMessage",
    "SpreadsheetKind",
    "is_office_file",
    "msg_id",
    "parse_message",
    "spreadsheet_kind",
]

SpreadsheetKind = Literal["xlsx", "xls", "encrypted", "not_spreadsheet"]

MAX_DEPTH = 50  # a real report is 1-3 levels deep; forwards of forwards add one each
MAX_PARTS = 500  # stop walking a message built to exhaust us
MAX_BOUNDARY_LINES = 10 * MAX_PARTS  # above this, parse only the start (see _cut_boundary_flood)
# Header sizes read at most. A real header is under 1 KB (Authentication-Results and DKIM-Signature a few KB);
# RFC 2047 decoding is quadratic in the number of encoded-words, so a 2 MB Subject would cost minutes of CPU.
MAX_HEADER_FIELD = 16 * 1024  # bytes of one header field, continuation lines included
MAX_HEADER_BLOCK = 256 * 1024  # bytes of a message's (or part's) whole header block
MAX_DECODED = 4096  # characters of a header value given to the RFC 2047 decoder (part headers included)
MAX_MESSAGE_ID = 250  # characters of a Message-ID copied into our In-Reply-To/References
SPREADSHEET_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".csv", ".ods")

_TNEF = b"\x78\x9f\x3e\x22"
_WINMAIL_DEFECT = "Outlook winmail.dat: please send the file as a normal attachment"

_DEFECTS = {
    "NoBoundaryInMultipartDefect": "a multipart section has no boundary: its attachments were not separated",
    "StartBoundaryNotFoundDefect": "a multipart section never starts (its boundary is missing from the body)",
    "CloseBoundaryNotFoundDefect": "the message ends without its closing MIME boundary (it may be truncated)",
    "MultipartInvariantViolationDefect": "a part claims to be multipart but is not",
    "MissingHeaderBodySeparatorDefect": "a part has no blank line between its headers and its content",
    "FirstHeaderLineIsContinuationDefect": "a part's first header line is a continuation line",
    "MisplacedEnvelopeHeaderDefect": "a 'From ' envelope line appears among the headers",
    "MalformedHeaderDefect": "a header line is malformed",
    "InvalidMultipartContentTransferEncodingDefect": "a multipart section has an invalid transfer encoding",
}

_AUTO_SUBJECT = re.compile(
    r"^\s*(automatic reply|auto(matic)?[- ]?reply|autoreply|auto:|out of (the )?office|undeliverable|"
    r"undelivered mail|delivery status notification|delivery has failed|mail delivery failed|"
    r"returned mail|failure notice|अनुपस्थित)",
    re.IGNORECASE,
)


class MessageError(ValueError):
    """Raised when the bytes are not a parseable email at all (empty, or no headers)."""


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    kind: SpreadsheetKind
    sha256: str


@dataclass(frozen=True)
class ParsedMessage:
    message_id: str
    sender: str
    sender_name: str
    reply_to: str
    subject: str
    date: datetime | None
    attachments: tuple[Attachment, ...]
    automated: str | None
    defects: tuple[str, ...]
    authentication_results: tuple[str, ...] = ()  # raw header values, topmost (added last) first
    several_senders: bool = False  # two From headers, or one naming several addresses: the first is ``sender``
    refers_to: tuple[str, ...] = ()  # Message-IDs named by In-Reply-To and References: what it answers


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse one message. Raises MessageError only when ``raw`` is not an email at all."""
    if not raw.strip():
        raise MessageError("empty message")
    defects: list[str] = []
    raw = _cap_headers(raw, defects)
    cut = _cut_boundary_flood(raw)
    if len(cut) < len(raw):
        defects.append(f"the message has more than {MAX_PARTS} parts; the rest were not read")
    try:
        msg = BytesParser(policy=compat32).parsebytes(cut)
    except RecursionError:
        msg = BytesHeaderParser(policy=compat32).parsebytes(cut)
        msg.set_payload("")
        defects.append(f"the message is nested too deeply to read (more than {MAX_DEPTH} levels)")
    if not msg.keys():
        raise MessageError("no email headers found")

    sender, sender_name = _sender(msg, defects)
    attachments = _Walker(defects).walk(msg)
    if len(cut) < len(raw):  # we cut it: of course the closing boundary is missing
        defects = [d for d in defects if d != _DEFECTS["CloseBoundaryNotFoundDefect"]]
    return ParsedMessage(
        message_id=msg_id(_first(msg, "Message-ID")),
        sender=sender,
        sender_name=sender_name,
        reply_to=_reply_to(msg, sender),
        subject=_printable(_decode_words(_first(msg, "Subject"))),
        date=_date(_first(msg, "Date")),
        attachments=attachments,
        automated=_automated(msg, sender),
        defects=tuple(dict.fromkeys(defects)),
        authentication_results=tuple(_all(msg, "Authentication-Results")),
        several_senders=_several_senders(msg),
        refers_to=_refers_to(msg),
    )


def _refers_to(msg: Message) -> tuple[str, ...]:
    """The well-formed Message-IDs in In-Reply-To and References (at most 50: a thread, not a flood)."""
    text = " ".join(_all(msg, "In-Reply-To") + _all(msg, "References"))
    found = (msg_id(m) for m in re.findall(r"<[^<>\s]{1,998}>", text))
    return tuple(dict.fromkeys(m for m in found if m))[:50]


_FIELD_START = re.compile(rb"[!-9;-~]+[ \t]*:")  # a header field's name (printable ASCII but ':'), then ':'


def _cap_headers(raw: bytes, defects: list[str]) -> bytes:
    """``raw`` with each top-level header field cut to MAX_HEADER_FIELD bytes and the block to MAX_HEADER_BLOCK,
    and bare CRs in it made spaces, before the ``email`` package decodes any of it. Linear in the block's size."""
    ends = [at for at in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if at >= 0]
    end = min(ends) if ends else len(raw)
    head = raw[:end]
    if b"\r" in head.replace(b"\r\n", b""):
        # A bare CR would end the header block for the parser, and the report's attachments with it.
        head = re.sub(rb"\r(?!\n)", b" ", head)
        raw = head + raw[end:]
        defects.append("a header contains a bare carriage return (CR); it was read as a space")
    lines = head.split(b"\n")
    if any(line.strip() and not line[:1].isspace() and not _FIELD_START.match(line) for line in lines[1:]):
        # A stray line break inside a header value (some servers store a bare CR as CRLF) would end the header
        # block for the parser, and the report's attachments with it: read the piece as a continuation line.
        head = b"\n".join(
            [
                lines[0],
                *(
                    b" " + line if line.strip() and not line[:1].isspace() and not _FIELD_START.match(line) else line
                    for line in lines[1:]
                ),
            ]
        )
        raw = head + raw[end:]
        defects.append("a header line was broken by a stray line break; it was read as part of the header above")
    if len(head) <= MAX_HEADER_FIELD:
        return raw
    # A field starts at a line that does not begin with white space (a continuation line does).
    starts = [0, *(m.end() for m in re.finditer(rb"\n(?=[^ \t])", head))]
    fields = [head[a:b] for a, b in zip(starts, [*starts[1:], len(head)], strict=True)]
    kept: list[bytes] = []
    size = 0
    for whole in fields:
        field = whole
        if len(whole) > MAX_HEADER_FIELD:
            name = whole.partition(b":")[0][:40].decode("ascii", "replace")
            defects.append(
                f"the {_printable(name)} header is over {MAX_HEADER_FIELD // 1024} KB; only its start was read"
            )
            field = whole[:MAX_HEADER_FIELD].rstrip(b"\r\n") + b"\r\n"
        if size + len(field) > MAX_HEADER_BLOCK:
            defects.append(f"the headers are over {MAX_HEADER_BLOCK // 1024} KB; the rest were not read")
            break
        kept.append(field)
        size += len(field)
    # raw[end:] starts with the line break that ends the last header, then the blank line.
    return b"".join(kept).rstrip(b"\r\n") + raw[end:]


_MSG_ID = re.compile(r"<[\x21-\x3b\x3d\x3f-\x7e]+@[\x21-\x3b\x3d\x3f-\x7e]+>")  # printable ASCII but < > and space


def msg_id(value: str) -> str:
    """The Message-ID when it is one ``<id-left@id-right>`` of printable ASCII (no spaces, controls or encoded
    words, at most MAX_MESSAGE_ID characters), else ''. It goes into our In-Reply-To: nothing else may."""
    value = value.strip()
    if len(value) > MAX_MESSAGE_ID or not _MSG_ID.fullmatch(value) or value.count("@") != 1 or "=?" in value:
        return ""
    return value


def _printable(text: str) -> str:
    """``text`` without control characters (a CR or LF from a decoded header must never reach one of ours)."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def _cut_boundary_flood(raw: bytes) -> bytes:
    """Only the bytes up to the (MAX_BOUNDARY_LINES)th line starting with "--", when there are more.

    The stdlib parses every part before we can count them (100,000 parts: over a second); the parser
    accepts a missing closing boundary, so cutting early is safe and the walk still sees the first parts.
    """
    if raw.count(b"\n--") <= MAX_BOUNDARY_LINES:
        return raw
    at = -1
    for _ in range(MAX_BOUNDARY_LINES):
        at = raw.index(b"\n--", at + 1)
    return raw[: at + 1]


# --- headers ------------------------------------------------------------------------------------------------


def _all(msg: Message, name: str) -> list[str]:
    # raw_items keeps 8-bit header bytes as surrogates; undo that here so raw UTF-8 headers read as UTF-8.
    wanted = name.lower()
    values = [value for key, value in msg.raw_items() if key.lower() == wanted]
    return [re.sub(r"\r?\n(?=[ \t])", "", _unsurrogate(str(v))) for v in values]


def _first(msg: Message, name: str) -> str:
    values = _all(msg, name)
    return values[0] if values else ""


def _unsurrogate(text: str) -> str:
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _decode_words(text: str) -> str:
    """RFC 2047 encoded-words to text; the raw text when they are broken."""
    text = text[:MAX_DECODED]
    try:
        decoded = str(make_header(decode_header(text)))
    except (HeaderParseError, LookupError, ValueError, UnicodeError):
        decoded = text
    return " ".join(decoded.split())


def _address(header_value: str) -> tuple[str, str]:
    """(address, display name) of the first address in a header, or ('', '')."""
    found = _mailboxes(header_value)
    return (found[0][0], _decode_words(found[0][1])) if found else ("", "")


def _mailboxes(header_value: str) -> list[tuple[str, str]]:
    """The (address, raw display name) pairs of a header that are addresses at all: an unquoted comma in a
    display name ("Sharma, Rakesh <r@x>") or a trailing one leaves fragments that name nobody."""
    found = []
    for name, address in getaddresses([header_value]):
        local, at, domain = address.rpartition("@")
        if at and local and domain and not any(c.isspace() for c in address):
            found.append((address.casefold(), name))
    return found


def _sender(msg: Message, defects: list[str]) -> tuple[str, str]:
    froms = _all(msg, "From")
    if len(froms) > 1:
        defects.append("the message has more than one From header; the first was used")
    if not froms:
        return "", ""
    if _several_senders(msg) and len(froms) == 1:
        defects.append("the From header names more than one address; the first was used")
    return _address(froms[0])


def _several_senders(msg: Message) -> bool:
    froms = _all(msg, "From")
    return len(froms) > 1 or (bool(froms) and len({a for a, _ in _mailboxes(froms[0])}) > 1)


def _reply_to(msg: Message, sender: str) -> str:
    address, _ = _address(_first(msg, "Reply-To"))
    # Answering a Reply-To in another domain would let anyone redirect our replies.
    if address and sender and address.rpartition("@")[2] == sender.rpartition("@")[2]:
        return address
    return sender


def _date(text: str) -> datetime | None:
    if not text.strip():
        return None
    try:
        when = parsedate_to_datetime(text)
    except (ValueError, TypeError, IndexError, OverflowError):
        return None
    # "-0000" means "zone unknown" (RFC 5322): the parser returns it naive; UTC is the honest reading.
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _automated(msg: Message, sender: str) -> str | None:
    """Why this message must never be answered, or None. Answering any of these is how mail loops start."""
    return next(_automation_reasons(msg, sender), None)


def _automation_reasons(msg: Message, sender: str) -> Iterator[str]:
    auto_submitted = _first(msg, "Auto-Submitted").strip().lower()
    if auto_submitted and auto_submitted.split(";")[0].strip() != "no":
        yield f"Auto-Submitted: {auto_submitted}"
    for header in ("X-Auto-Response-Suppress", "X-Autoreply", "X-Autorespond", "List-Id", "List-Unsubscribe"):
        if _all(msg, header):
            yield f"{header} header"
    precedence = _first(msg, "Precedence").strip().lower()
    if precedence in {"bulk", "junk", "list", "auto_reply"}:
        yield f"Precedence: {precedence}"
    return_paths = _all(msg, "Return-Path")
    if return_paths and return_paths[0].strip() in {"<>", ""}:
        yield "empty Return-Path (a bounce)"
    local = sender.partition("@")[0]
    if local in {"mailer-daemon", "postmaster"}:
        yield f"sent by {local}"
    if msg.get_content_type() == "multipart/report":
        yield "delivery or read report (multipart/report)"
    subject = _decode_words(_first(msg, "Subject"))
    if _AUTO_SUBJECT.match(subject):
        yield f"automatic reply subject: {subject[:60]}"


# --- the MIME walk ------------------------------------------------------------------------------------------


class _Walker:
    """Walks the tree iteratively (depth and part count capped) and keeps what looks like a spreadsheet."""

    def __init__(self, defects: list[str]) -> None:
        self.defects = defects
        self.found: list[Attachment] = []

    def walk(self, root: Message) -> tuple[Attachment, ...]:
        stack: list[tuple[Message, int]] = [(root, 0)]
        seen = 0
        while stack:
            part, depth = stack.pop()
            seen += 1
            if seen > MAX_PARTS:
                self.defects.append(f"the message has more than {MAX_PARTS} parts; the rest were not read")
                break
            self.defects.extend(_describe(d) for d in part.defects)
            payload = part.get_payload()
            if isinstance(payload, list):  # multipart/* or message/rfc822 (a forwarded message)
                if depth >= MAX_DEPTH:
                    self.defects.append(f"parts nested more than {MAX_DEPTH} levels deep were not read")
                    continue
                stack.extend((child, depth + 1) for child in reversed(payload) if isinstance(child, Message))
            else:
                self._leaf(part, seen)
        return tuple(self.found)

    def _leaf(self, part: Message, index: int) -> None:
        name = _filename(part)
        label = f"'{name}'" if name else f"part {index} ({part.get_content_type()})"
        data = _decode_payload(part)
        if data is None:
            self.defects.append(f"attachment {label} is damaged: its base64 encoding is corrupt")
            return
        if data.startswith(_TNEF) or part.get_content_type() == "application/ms-tnef":
            self._tnef(data)
            return
        self._add(name, data)

    def _add(self, name: str | None, data: bytes) -> None:
        kind: SpreadsheetKind | None = spreadsheet_kind(data)
        if kind is None:
            if not name or not name.lower().endswith(SPREADSHEET_SUFFIXES):
                return
            kind = "not_spreadsheet"
        if not name:
            name = f"attachment-{len(self.found) + 1}.{'xls' if kind == 'xls' else 'xlsx'}"
        self.found.append(Attachment(name, data, kind, hashlib.sha256(data).hexdigest()))

    def _tnef(self, data: bytes) -> None:
        try:
            files = _tnef_files(data)
        except ValueError:
            files = []
        if not files:
            self.defects.append(_WINMAIL_DEFECT)
        for name, content in files:
            self._add(_safe_name(name) or None, content)


def _describe(defect: object) -> str:
    name = type(defect).__name__
    if name in _DEFECTS:
        return _DEFECTS[name]
    words = re.sub(r"(?<!^)(?=[A-Z])", " ", name.removesuffix("Defect")).lower()
    return f"MIME problem: {words}"


def _decode_payload(part: Message) -> bytes | None:
    """The part's decoded bytes; None when its base64 is corrupt (compat32 would silently drop bad bits)."""
    payload = part.get_payload()
    if not isinstance(payload, str):
        return b""
    if str(part.get("Content-Transfer-Encoding", "")).strip().lower() != "base64":
        decoded = part.get_payload(decode=True)
        return decoded if isinstance(decoded, bytes) else b""
    compact = "".join(payload.split())
    if not compact.isascii():
        return None
    compact += "=" * (-len(compact) % 4)  # some scripts drop the padding; the bytes are still all there
    try:
        return base64.b64decode(compact, validate=True)
    except binascii.Error:
        return None


def _filename(part: Message) -> str | None:
    for header, param in (("content-disposition", "filename"), ("content-type", "name")):
        value = part.get_param(param, header=header)
        if isinstance(value, tuple):  # RFC 2231: (charset, language, text as latin-1 octets)
            charset, _, text = value
            name = _decode_octets(text.encode("latin-1", "replace"), charset or "utf-8")
        elif isinstance(value, str):
            name = _decode_words(_unsurrogate(value))
        else:
            continue
        safe = _safe_name(name)
        if safe:
            return safe
    return None


def _decode_octets(octets: bytes, charset: str) -> str:
    # An unknown or wrong charset label is common; UTF-8 is what the bytes nearly always are.
    for candidate in (charset, "utf-8"):
        try:
            return octets.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    return octets.decode("cp1252", "replace")


def _safe_name(name: str) -> str:
    """The last path component, without control characters: names end up in replies and file names."""
    name = re.split(r"[/\\]", name)[-1]
    return "".join(c for c in name if c.isprintable()).strip()[:200]


def _tnef_files(data: bytes) -> list[tuple[str, bytes]]:
    """(title, bytes) of each attachment in an Outlook TNEF stream (MS-OXTNEF); ValueError when broken."""
    if not data.startswith(_TNEF):
        raise ValueError("not TNEF")
    attachments: list[dict[str, bytes]] = []
    pos = 6  # signature, legacy key
    while pos < len(data):
        if pos + 9 > len(data):
            raise ValueError("truncated TNEF attribute")
        attribute, length = struct.unpack_from("<II", data, pos + 1)
        value = data[pos + 9 : pos + 9 + length]
        if len(value) != length:
            raise ValueError("truncated TNEF attribute")
        pos += 9 + length + 2  # level, id, length, value, checksum
        if attribute == 0x00069002:  # attAttachRenddata opens each attachment
            attachments.append({})
        elif attribute in (0x0006800F, 0x00018010) and attachments:
            attachments[-1]["data" if attribute == 0x0006800F else "title"] = value
    files = []
    for item in attachments:
        if "data" in item:
            title = item.get("title", b"").split(b"\0")[0]
            files.append((_decode_octets(title, "utf-8"), item["data"]))
    return files

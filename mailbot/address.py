"""The one check for every email address mailbot accepts: from the roster, the config, a message or a caller.

Pure and dependency-free, so the config loader can use it without importing the roster reader.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from email.message import EmailMessage
from email.utils import getaddresses

__all__ = ["MAX_ADDRESS_LENGTH", "envelope", "envelope_of", "plain_address"]

_EMAIL = re.compile(
    r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z][a-z0-9-]*[a-z0-9]"
)
MAX_ADDRESS_LENGTH = 254  # RFC 5321's limit on a forward path, less the angle brackets


def plain_address(text: str) -> str | None:
    """``text`` case-folded when it is one plain ``local@domain`` (ASCII dot-atom local part, a host name with a
    dot), else None. The one check for every address mailbot accepts from a roster, a message or a caller: no
    quoting, no ';', ',', spaces or control characters, so a stored or joined address can never become two."""
    address = text.strip().casefold()
    if len(address) > MAX_ADDRESS_LENGTH or not _EMAIL.fullmatch(address):
        return None
    return address


def envelope(addresses: Iterable[str]) -> list[str]:
    """An SMTP envelope: each address lower-cased, once, in the order given (the one rule for the outbox and the
    SMTP adapter, so an email is never sent twice to one person written two ways)."""
    return list(dict.fromkeys(a.strip().lower() for a in addresses if a.strip()))


def envelope_of(message: EmailMessage) -> list[str]:
    """The envelope a message's own To, Cc and Bcc name (the fields smtplib's send_message reads)."""
    found = getaddresses([str(v) for name in ("To", "Cc", "Bcc") for v in message.get_all(name, [])])
    return envelope(address for _, address in found)

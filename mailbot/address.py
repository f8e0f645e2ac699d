"""The one check for every email address mailbot accepts: from the roster, the config, a message or a caller.

Pure and dependency-free, so the config loader can use it without importing the roster reader.
"""

from __future__ import annotations

import re

__all__ = ["MAX_ADDRESS_LENGTH", "plain_address"]

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

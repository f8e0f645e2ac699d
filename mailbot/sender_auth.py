"""Did CEG's own mail server vouch for the From address? Pure: header values in, a verdict out.

Anyone can write ``From: reports@dsp.example``. The receiving server checks SPF, DKIM and DMARC and
records the outcome in an ``Authentication-Results`` header (RFC 8601) that it prepends, so the topmost
header carrying *our* server's authserv-id is the one to trust; a sender can add its own copies lower down,
in any server's name, and they are ignored. That topmost header decides whatever it says: if it cannot be
read, nothing below it is trusted instead (fail closed).

A sender passes when the header says ``dmarc=pass`` for the From domain (``header.from``, when given), or
``dkim=pass`` or ``spf=pass`` for the From domain or one under it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import authres

__all__ = ["SenderCheck", "check_sender"]

_COMMENT = re.compile(r"\([^()]*\)")
# Some servers (Zoho) write header.from=<reports@dsp.example>, which RFC 8601 does not allow and authres refuses.
_ANGLED_VALUE = re.compile(r"=\s*<([^<>]*)>")


@dataclass(frozen=True)
class SenderCheck:
    passed: bool
    detail: str  # for the ledger, the log and the DSP: what the server said, or that it said nothing


def check_sender(authentication_results: Sequence[str], authserv_id: str, sender: str) -> SenderCheck:
    """Judge ``sender`` by the first Authentication-Results value (top of the message first) from ``authserv_id``."""
    domain = sender.rpartition("@")[2].lower()
    for value in authentication_results:
        if _authserv_id(value) != authserv_id.lower():
            continue
        try:
            header = authres.AuthenticationResultsHeader.parse_value(_ANGLED_VALUE.sub(r"=\1", value))
        except authres.AuthResError:
            return SenderCheck(False, f"the Authentication-Results header from {authserv_id} could not be read")
        return _judge(header.results, domain)
    return SenderCheck(False, f"no Authentication-Results header from {authserv_id}")


def _authserv_id(value: str) -> str:
    """The id a header is in the name of: its first word, before any ';' (comments dropped), lower case."""
    head = value.partition(";")[0]
    while (bare := _COMMENT.sub(" ", head)) != head:  # comments nest: "(edge (2)) mx.ceg.example"
        head = bare
    words = head.split()
    return words[0].lower() if words else ""


def _judge(results: Sequence[Any], domain: str) -> SenderCheck:
    said: list[str] = []
    for result in results:
        method, verdict = (result.method or "").lower(), (result.result or "").lower()
        said.append(f"{method}={verdict}")
        if verdict != "pass":
            continue
        if method == "dmarc" and _property(result, "header", "from").lower() in ("", domain):
            return SenderCheck(True, "dmarc=pass")
        if method == "dkim" and _aligned(_property(result, "header", "d") or _property(result, "header", "i"), domain):
            return SenderCheck(True, "dkim=pass")
        if method == "spf" and _aligned(_property(result, "smtp", "mailfrom"), domain):
            return SenderCheck(True, "spf=pass")
    if not said:
        return SenderCheck(False, "the mail server checked nothing")
    return SenderCheck(False, ", ".join(said) + f" (nothing passed for {domain})")


def _property(result: Any, ptype: str, name: str) -> str:
    for prop in result.properties:
        if (prop.type or "").lower() == ptype and (prop.name or "").lower() == name:
            return str(prop.value or "").rpartition("@")[2] if name == "from" else str(prop.value or "")
    return ""


def _aligned(identity: str, domain: str) -> bool:
    """``identity`` (a domain, ``@domain`` or ``user@domain``) is ``domain`` or a subdomain of it.

    Not a parent: without the public suffix list a parent may be ``co.in``. A signature by the parent
    organisation still counts through ``dmarc=pass``, which the server judges with that list.
    """
    other = identity.rpartition("@")[2].lower().strip(".")
    return bool(other and domain) and (other == domain or other.endswith("." + domain))

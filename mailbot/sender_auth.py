"""Did CEG's own mail server vouch for the From address? Pure: header values in, a verdict out.

Anyone can write ``From: reports@dsp.example``. The receiving server checks SPF, DKIM and DMARC and
records the outcome in an ``Authentication-Results`` header (RFC 8601) that it prepends, so the topmost
header carrying *our* server's authserv-id is the one to trust; a sender can add its own copy lower down,
or one naming another server, and both are ignored.

A sender passes when that header says ``dmarc=pass``, or ``dkim=pass`` for the From domain, or
``spf=pass`` for the From domain or one under it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import authres

__all__ = ["SenderCheck", "check_sender"]


@dataclass(frozen=True)
class SenderCheck:
    passed: bool
    detail: str  # for the ledger, the log and the DSP: what the server said, or that it said nothing


def check_sender(authentication_results: Sequence[str], authserv_id: str, sender: str) -> SenderCheck:
    """Judge ``sender`` by the first Authentication-Results value (top of the message first) from ``authserv_id``."""
    domain = sender.rpartition("@")[2].lower()
    for value in authentication_results:
        try:
            header = authres.AuthenticationResultsHeader.parse_value(value)
        except authres.AuthResError:
            continue  # unparseable: it cannot be ours (or our server is broken, and then nothing vouches)
        if (header.authserv_id or "").lower() != authserv_id.lower():
            continue
        return _judge(header.results, domain)
    return SenderCheck(False, f"no Authentication-Results header from {authserv_id}")


def _judge(results: Sequence[authres.core.AuthenticationResult], domain: str) -> SenderCheck:
    said: list[str] = []
    for result in results:
        method, verdict = (result.method or "").lower(), (result.result or "").lower()
        said.append(f"{method}={verdict}")
        if verdict != "pass":
            continue
        if method == "dmarc":
            return SenderCheck(True, "dmarc=pass")
        if method == "dkim" and _aligned(_property(result, "header", "d") or _property(result, "header", "i"), domain):
            return SenderCheck(True, "dkim=pass")
        if method == "spf" and _aligned(_property(result, "smtp", "mailfrom"), domain):
            return SenderCheck(True, "spf=pass")
    if not said:
        return SenderCheck(False, "the mail server checked nothing")
    return SenderCheck(False, ", ".join(said) + f" (nothing passed for {domain})")


def _property(result: authres.core.AuthenticationResult, ptype: str, name: str) -> str:
    for prop in result.properties:
        if (prop.type or "").lower() == ptype and (prop.name or "").lower() == name:
            return str(prop.value or "")
    return ""


def _aligned(identity: str, domain: str) -> bool:
    """``identity`` (a domain, ``@domain`` or ``user@domain``) is ``domain`` or a subdomain of it.

    Not a parent: without the public suffix list a parent may be ``co.in``. A signature by the parent
    organisation still counts through ``dmarc=pass``, which the server judges with that list.
    """
    other = identity.rpartition("@")[2].lower().strip(".")
    return bool(other and domain) and (other == domain or other.endswith("." + domain))

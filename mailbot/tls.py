"""TLS as both mail connections use it: a context that verifies, and the operator's words for what goes wrong.

Pure apart from reading the CA file. mailbox.py and smtp.py wrap these reasons in their own error types.
"""

from __future__ import annotations

import ssl
from pathlib import Path

__all__ = ["CaFileUnusable", "network_reason", "verifying_context"]

# OpenSSL's reasons when the other end answers a TLS handshake in plain text: security = "ssl" on a plain port.
_NOT_TLS = frozenset({"WRONG_VERSION_NUMBER", "UNKNOWN_PROTOCOL", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG",
                      "HTTP_REQUEST"})
_NOT_TLS_HINT = ('the server does not speak TLS on this port: try security = "starttls" (ports 143/587) '
                 "or check the port")


class CaFileUnusable(Exception):
    """The configured CA file cannot be read or holds no certificate (it is checked to exist at load time)."""


def verifying_context(ca_file: Path | None) -> ssl.SSLContext:
    """The system's trusted CAs, or only ``ca_file`` for a private server; hostnames and chains verified."""
    try:
        return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    except (OSError, ssl.SSLError) as exc:
        raise CaFileUnusable(f"cannot use {ca_file}: {network_reason(exc) or exc}") from None


def network_reason(exc: BaseException) -> str | None:
    """What went wrong in an operator's words, for the failures both servers share; None for anything else."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted: {exc.verify_message or exc}"
    if isinstance(exc, ssl.SSLError) and exc.reason in _NOT_TLS:
        return f"{exc}: {_NOT_TLS_HINT}"
    if isinstance(exc, OSError) and exc.strerror and not isinstance(exc, ssl.SSLError):
        return exc.strerror  # "Connection refused", without "[Errno 111]"
    return None

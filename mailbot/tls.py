"""TLS as both mail connections use it: a context that verifies, and the operator's words for what goes wrong.

Pure apart from reading the CA file. mailbox.py and smtp.py wrap these reasons in their own error types.
"""

from __future__ import annotations

import errno
import socket
import ssl
from pathlib import Path

from mailbot.errors import FixNeeded

__all__ = [
    "GREETING_WAIT",
    "CaFileUnusable",
    "connect_fix",
    "login_fix",
    "network_reason",
    "speaks_tls",
    "tls_port_hint",
    "verifying_context",
]

# OpenSSL's reasons when the other end answers a TLS handshake in plain text: security = "ssl" on a plain port.
_NOT_TLS = frozenset(
    {"WRONG_VERSION_NUMBER", "UNKNOWN_PROTOCOL", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG", "HTTP_REQUEST"}
)
_NOT_TLS_HINT = (
    'the server does not speak TLS on this port: try security = "starttls" (ports 143/587) or check the port'
)


# A plain-text server (IMAP, SMTP) greets within a second or two of the connection. When it has not after this long,
# the port may speak TLS from the first byte (993, 465) and wait for our handshake as we wait for its greeting: a
# second connection tries a handshake to tell, instead of waiting out the whole timeout to say only "timed out".
GREETING_WAIT = 3.0  # a slower server costs only a probe and a second connection, no failure
_PROBE_SECONDS = 3.0


class CaFileUnusable(FixNeeded):
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


def speaks_tls(host: str, port: int, timeout: float = _PROBE_SECONDS) -> bool:
    """Whether ``host:port`` answers a TLS handshake (a new connection; nothing is sent but the ClientHello).

    Only tells a wrong `security` setting apart from a slow server: the certificate is not checked here, and
    the connection is closed right after the handshake."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=host),
        ):
            return True
    except (OSError, ValueError):
        return False


def tls_port_hint(section: str, plain_ports: str) -> str:
    """The fix for security = "starttls" or "none" on a port that speaks TLS from the first byte."""
    return (
        f"no greeting within {GREETING_WAIT:g} s: this port speaks TLS from the first byte: set "
        f'{section}.security = "ssl" (or keep "starttls" and use port {plain_ports})'
    )


def connect_fix(exc: BaseException, section: str) -> str:
    """What to change in the config when connecting to the ``section`` ("imap"/"smtp") server failed with ``exc``,
    as a clause to append (": check imap.host"); "" when there is nothing to say beyond the reason."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f": if this is the right server, set {section}.ca_file to the certificate of the CA that signed "
            "it (for a self-signed server, its own certificate)"
        )
    if isinstance(exc, socket.gaierror):
        return f": no such host: check {section}.host"
    if isinstance(exc, ConnectionRefusedError):
        return f": nothing listens there: check {section}.port (and {section}.host)"
    if isinstance(exc, TimeoutError):
        return f": check {section}.host and {section}.port, and that no firewall drops the connection"
    if isinstance(exc, OSError) and exc.errno in _UNREACHABLE:
        return f": check {section}.host and this machine's network"
    return ""


_UNREACHABLE = frozenset({errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EHOSTDOWN})


def login_fix(section: str, origin: str, host: str, token: bool = False) -> str:
    """What to change after a refused login, as a clause to append: the key and the password's source, by name."""
    if token:
        return f": check {section}.username and that the access token from {origin} is for that account"
    fix = f": check {section}.username and the password in {origin}"
    if host.lower().rstrip(".").endswith("mgovcloud.in"):
        fix += (
            "; NIC mail with two-factor login needs an app-specific password (made in NIC mail's account "
            "settings), not the account password"
        )
    return fix

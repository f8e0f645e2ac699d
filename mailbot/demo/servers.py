"""Real mail servers inside this process, on loopback, for ``mailbot demo``: nothing to install or configure.

- IMAP: pymap's in-memory ``dict`` backend, built the way
  ``pymap --host H --port P --no-tls dict --demo-user U --demo-password PW`` builds it, on its own asyncio
  loop in a background thread. One user, no TLS (loopback only).
- SMTP: aiosmtpd's Controller with a handler that keeps every message it is given.

Both speak the real protocols, so mailbot's own IMAP and SMTP adapters run unchanged against them.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from argparse import Namespace
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from imapclient import IMAPClient

HOST = "127.0.0.1"
_START_TIMEOUT = 15.0


def free_port(host: str = HOST) -> int:
    """A port nobody listens on now (aiosmtpd cannot take port 0). A race with another process is possible but
    harmless here: the start would fail loudly."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class ImapServer:
    """pymap, in-memory backend, one user; ``with ImapServer(...) as imap:`` starts and stops it."""

    def __init__(self, user: str, password: str, host: str = HOST, port: int | None = None) -> None:
        self.user, self.password, self.host = user, password, host
        self.port = port or free_port(host)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="demo-imap", daemon=True)

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(_START_TIMEOUT):
            raise RuntimeError(f"the demo IMAP server did not start on {self.host}:{self.port}")
        if self._error is not None:
            raise RuntimeError(f"the demo IMAP server failed to start: {self._error}") from self._error

    def stop(self) -> None:
        if self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(_START_TIMEOUT)

    def _run(self) -> None:
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported to start(); a thread has nobody else to tell
            self._error = exc
            self._ready.set()
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        # Imported here: pymap is heavy and only the demo needs it.
        from pymap.backend.dict import DictBackend  # noqa: PLC0415
        from pymap.imap import IMAPService  # noqa: PLC0415
        from pysasl.hashing import Cleartext  # noqa: PLC0415

        self._stop = asyncio.Event()
        # The Namespace pymap's own argparse would produce for the command line in the module docstring.
        args = Namespace(
            host=self.host,
            port=str(self.port),
            debug=False,
            cert=None,
            key=None,
            tls=False,
            inherited_sockets=None,
            proxy_protocol=None,
            passlib_cfg=None,
            demo_data=False,
            demo_user=self.user,
            demo_password=self.password,
        )
        # pymap hashes the password with 500,000 PBKDF2 rounds (~0.1 s per login, and the demo logs in on
        # every simulated hour); a throwaway password on loopback needs none of that.
        backend, config = await DictBackend.init(args, hash_context=Cleartext())
        config.apply_context()
        async with AsyncExitStack() as stack:
            await backend.start(stack)
            await IMAPService(backend, config).start(stack)
            self._ready.set()
            await self._stop.wait()

    def client(self) -> IMAPClient:
        """A logged-in client (TCP_NODELAY: without it each APPEND waits on Nagle's algorithm)."""
        client = IMAPClient(self.host, port=self.port, ssl=False, timeout=30)
        client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.login(self.user, self.password)
        return client

    def append(self, messages: Sequence[tuple[bytes, datetime]], folder: str = "INBOX") -> None:
        """Deliver messages as if each arrived at its datetime (its INTERNALDATE)."""
        client = self.client()
        try:
            for raw, when in messages:
                client.append(folder, raw, msg_time=when)
        finally:
            client.logout()

    def __enter__(self) -> ImapServer:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


@dataclass(frozen=True)
class Received:
    """One message as the SMTP server took it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    content: bytes


class _Keep:
    """aiosmtpd handler: accept everything and keep it."""

    def __init__(self) -> None:
        self.messages: list[Received] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content
        with self._lock:
            self.messages.append(Received(envelope.mail_from, tuple(envelope.rcpt_tos), bytes(content)))
        return "250 OK"


class SmtpSink:
    """aiosmtpd on loopback keeping every message; ``messages`` is what mailbot sent, in order."""

    def __init__(self, host: str = HOST, port: int | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self._handler = _Keep()
        self._controller = Controller(self._handler, hostname=host, port=self.port)

    @property
    def messages(self) -> list[Received]:
        with self._handler._lock:
            return list(self._handler.messages)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> SmtpSink:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

"""Real mail servers for the test suite: a private Dovecot instance and an aiosmtpd sink.

Plain classes (no pytest here) so end-to-end tests and scripts can use them too; ``conftest.py`` wraps them in
fixtures. Facts these rely on are in /work/shared/reference/mail-test-servers.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import email
import email.policy
import logging
import os
import pwd
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from mailbot.config import ImapSettings, Secret, Security

HOST = "127.0.0.1"  # both servers listen here only; the certificate names it (and localhost)
INSTALL_HINT = (
    "Dovecot is needed by the test suite: run `make test` (installs it as root), or "
    "`apt-get update && apt-get install -y --no-install-recommends dovecot-imapd openssl`"
)


def free_port() -> int:
    """A port free right now on 127.0.0.1 (servers here cannot bind port 0 and report it back)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class TlsFiles:
    cert: Path  # also the CA file clients trust: the certificate is self-signed
    key: Path


def make_certificate(directory: Path) -> TlsFiles:
    """A self-signed certificate for localhost and 127.0.0.1 (clients check the name: both in the SAN)."""
    if shutil.which("openssl") is None:
        raise RuntimeError(INSTALL_HINT)
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            _tool("openssl"),
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        stdin=subprocess.DEVNULL,
    )
    return TlsFiles(cert, key)


# --- Dovecot -------------------------------------------------------------------------------------


_CONFIG = """\
# Private test instance written by tests/servers.py; nothing here touches the system Dovecot.
base_dir = {root}/run
state_dir = {root}/state
instance_name = mailbot-test-{imap_port}
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
# imap-login refuses root and mail processes refuse uid 0: the package's users run it, `mail` owns the mail.
default_internal_user = {internal_user}
default_login_user = {login_user}
first_valid_uid = 1
disable_plaintext_auth = no
auth_mechanisms = plain login xoauth2
# Default is 2 s per failed login, and anvil's auth penalty delays the next logins from the IP (2-15 s):
# the tests after a wrong-password test would crawl. The penalty is off when its socket has mode 0.
auth_failure_delay = 0
ssl = yes
ssl_cert = <{root}/tls/cert.pem
ssl_key = <{root}/tls/key.pem
ssl_dh = </usr/share/dovecot/dh.pem
mail_location = maildir:{root}/mail/%u
passdb {{
  driver = passwd-file
  # One file per user: Dovecot re-checks a passwd-file at most once a second, so users added to a shared file
  # within that second would be refused.
  args = scheme=PLAIN username_format=%u {root}/users/%u
}}
userdb {{
  driver = static
  args = uid={mail_user} gid={mail_group} home={root}/mail/%u
}}
namespace inbox {{
  inbox = yes
  prefix = {prefix}
  {separator_line}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
    ssl = yes
  }}
  {chroot_line}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
  {chroot_line}
}}
"""


class DovecotServer:
    """A private Dovecot on 127.0.0.1: plain IMAP (for STARTTLS) and IMAPS ports, users in a passwd-file.

    ``prefix``/``separator`` shape the personal namespace: ``prefix="INBOX.", separator="."`` mimics
    Courier/Cyrus-style servers where every folder lives under INBOX.
    """

    def __init__(
        self,
        root: Path | None = None,
        tls: TlsFiles | None = None,
        prefix: str = "",
        separator: str | None = None,
    ) -> None:
        if not Path(_dovecot_binary()).is_absolute():
            raise RuntimeError(INSTALL_HINT)
        self.root = root or Path(tempfile.mkdtemp(prefix="mailbot-dovecot-"))
        self._own_root = root is None
        # The mail processes run as `mail` and must traverse the root (mkdtemp makes it 0700).
        self.root.chmod(0o711)
        self.imap_port = free_port()
        self.imaps_port = free_port()
        self.tls = _copy_tls(tls, self.root / "tls") if tls else make_certificate(self.root / "tls")
        self.conf = self.root / "dovecot.conf"
        self.users_dir = self.root / "users"
        self.users_dir.mkdir()
        self.users_dir.chmod(0o755)
        self._users: dict[str, str] = {}
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._write_config(prefix, separator)
        self.start_seconds = 0.0
        self.stop_seconds = 0.0

    @property
    def ca_file(self) -> Path:
        return self.tls.cert

    @property
    def log_file(self) -> Path:
        return self.root / "dovecot.log"

    def _write_config(self, prefix: str, separator: str | None) -> None:
        mail_dir = self.root / "mail"
        mail_dir.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            internal, login, mail_user, mail_group, chroot = "dovecot", "dovenull", "mail", "mail", ""
            shutil.chown(mail_dir, "mail", "mail")
        else:  # untested here (CI runs as root): everything runs as the caller, no chroot.
            me = pwd.getpwuid(os.getuid()).pw_name
            internal = login = mail_user = me
            mail_group = str(os.getgid())
            chroot = "chroot ="
        self.conf.write_text(
            _CONFIG.format(
                root=self.root,
                imap_port=self.imap_port,
                imaps_port=self.imaps_port,
                internal_user=internal,
                login_user=login,
                mail_user=mail_user,
                mail_group=mail_group,
                prefix=prefix,
                separator_line=f"separator = {separator}" if separator else "",
                chroot_line=chroot,
            ),
            encoding="utf-8",
        )

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self, timeout: float = 15.0) -> None:
        started = time.monotonic()
        log = self.log_file.open("ab")
        try:
            # -F: the master stays our child, so stop() can wait for it; its own process group lets stop()
            # also end the per-client imap processes that otherwise serve on for 20-30 s after the master.
            # stdin/stdout/stderr redirected: the master keeps inherited pipes open forever.
            self._process = subprocess.Popen(
                [_dovecot_binary(), "-F", "-c", str(self.conf)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        finally:
            log.close()
        self._wait_ready(started + timeout)
        self.start_seconds = time.monotonic() - started

    def _wait_ready(self, deadline: float) -> None:
        # A bare TCP connect is not enough: the listener exists before imap-login can answer.
        while True:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"dovecot exited with {self._process.returncode}:\n{self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.imap_port), timeout=1) as sock:
                    if sock.recv(200).startswith(b"* OK"):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"dovecot did not greet on port {self.imap_port}:\n{self.log_tail()}")
            time.sleep(0.02)

    def stop(self, timeout: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        started = time.monotonic()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout)
        # Children reparented to PID 1 may outlive the master briefly; the ports are free once they are gone.
        deadline = time.monotonic() + timeout
        while _group_alive(process.pid) and time.monotonic() < deadline:
            os.killpg(process.pid, signal.SIGKILL)
            time.sleep(0.01)
        self.stop_seconds = time.monotonic() - started

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def close(self) -> None:
        """Stop and remove every file (the temporary root only if this object made it)."""
        self.stop()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # -- users -------------------------------------------------------------------------------------

    def add_user(self, user: str | None = None, password: str | None = None) -> tuple[str, str]:
        """Add a user with an empty mailbox; returns (username, password)."""
        user = user or f"u{secrets.token_hex(4)}@localhost"
        password = password or secrets.token_urlsafe(12)
        with self._lock:
            if user in self._users:
                raise ValueError(f"user {user} exists")
            self._users[user] = password
            self._write_user(user)
        return user, password

    def set_password(self, user: str, password: str) -> None:
        """Change (revoke) a user's password, as when the operator's app password is withdrawn.

        Returns once Dovecot accepts the new password: it re-reads a passwd-file at most once a second.
        """
        with self._lock:
            self._users[user] = password
            self._write_user(user)
        if not self.running:
            return
        deadline = time.monotonic() + 5
        while True:
            try:
                self.client(user).logout()
                return
            except IMAPClientError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def password(self, user: str) -> str:
        return self._users[user]

    def _write_user(self, user: str) -> None:
        if "/" in user or user.startswith("."):
            raise ValueError(f"unusable test user name {user!r}")
        path = self.users_dir / user
        tmp = path.with_name(f".{user}.tmp")
        tmp.write_text(f"{user}:{{PLAIN}}{self._users[user]}::::::\n", encoding="utf-8")
        tmp.chmod(0o644)  # read by the auth process, which runs as the internal user
        tmp.replace(path)

    # -- mail --------------------------------------------------------------------------------------

    def client(self, user: str) -> IMAPClient:
        """A logged-in plain-text IMAP client for test set-up and inspection (loopback only)."""
        client = IMAPClient(HOST, port=self.imap_port, ssl=False, timeout=10)
        try:
            client.login(user, self._users[user])
        except BaseException:
            client.shutdown()
            raise
        return client

    def seed(self, user: str, raw: bytes, folder: str = "INBOX", flags: Sequence[bytes | str] = ()) -> int:
        """APPEND one message; returns its UID."""
        return self.seed_many(user, [raw], folder, flags)[0]

    def seed_many(
        self, user: str, raws: Iterable[bytes], folder: str = "INBOX", flags: Sequence[bytes | str] = ()
    ) -> list[int]:
        uids: list[int] = []
        with self.client(user) as client:
            for raw in raws:
                response = client.append(folder, raw, flags=tuple(flags))
                # "[APPENDUID <validity> <uid>] Append completed."
                text = response.decode() if isinstance(response, bytes) else str(response)
                uids.append(int(text.split("]")[0].split()[-1]))
        return uids

    def messages(self, user: str, folder: str = "INBOX") -> list[bytes]:
        """The raw bytes of every message in ``folder``, in UID order (read with PEEK: flags unchanged)."""
        return [raw for _, raw, _ in self.contents(user, folder)]

    def contents(self, user: str, folder: str = "INBOX") -> list[tuple[int, bytes, tuple[bytes, ...]]]:
        """(uid, raw bytes, flags) of every message in ``folder``, in UID order."""
        with self.client(user) as client:
            client.select_folder(folder, readonly=True)
            uids = client.search("ALL")
            data = client.fetch(uids, ["BODY.PEEK[]", "FLAGS"]) if uids else {}
        return [(uid, data[uid][b"BODY[]"], tuple(data[uid][b"FLAGS"])) for uid in sorted(data)]

    def folders(self, user: str) -> list[str]:
        with self.client(user) as client:
            return sorted(str(name) for _, _, name in client.list_folders())

    def uidvalidity(self, user: str, folder: str = "INBOX") -> int:
        with self.client(user) as client:
            return int(client.folder_status(folder, ["UIDVALIDITY"])[b"UIDVALIDITY"])

    def set_uidvalidity(self, user: str, value: int, folder: str = "INBOX") -> None:
        """Change UIDVALIDITY (RFC 3501: every UID a client cached is void), as after a server migration."""
        self.doveadm("mailbox", "update", "--uid-validity", str(value), "-u", user, folder)

    def kick(self, user: str) -> None:
        """Disconnect every session of ``user`` (the server stays up)."""
        self.doveadm("kick", user)

    def doveadm(self, *args: str, stdin: bytes = b"") -> str:
        done = subprocess.run(
            [_tool("doveadm"), "-c", str(self.conf), *args],
            input=stdin,
            capture_output=True,
            check=False,
            timeout=30,
        )
        if done.returncode != 0:
            raise RuntimeError(f"doveadm {' '.join(args)} exited {done.returncode}: {done.stderr.decode()}")
        return done.stdout.decode()


@dataclass(frozen=True)
class ImapAccount:
    """A user on a DovecotServer whose password is in the environment variable ``env_var``."""

    username: str
    password: str
    env_var: str
    server: DovecotServer

    @property
    def settings(self) -> ImapSettings:
        return self.settings_for()

    def settings_for(self, security: Security = "ssl", **changes: Any) -> ImapSettings:
        """ImapSettings for this account; ``security`` picks the port ("ssl" IMAPS, else the plain port)."""
        port = self.server.imaps_port if security == "ssl" else self.server.imap_port
        settings = ImapSettings(
            host=HOST,
            port=port,
            username=self.username,
            secret=Secret("imap.password_env", env=self.env_var),
            security=security,
            ca_file=self.server.ca_file,
            timeout=10.0,
        )
        return dataclasses.replace(settings, **changes)


def _copy_tls(tls: TlsFiles, directory: Path) -> TlsFiles:
    directory.mkdir(parents=True, exist_ok=True)
    copy = TlsFiles(directory / "cert.pem", directory / "key.pem")
    shutil.copyfile(tls.cert, copy.cert)
    shutil.copyfile(tls.key, copy.key)
    return copy


def _dovecot_binary() -> str:
    return _tool("dovecot")


def _tool(name: str) -> str:
    # Debian puts dovecot in /usr/sbin, which a non-root PATH may lack.
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin") or name


def _group_alive(pgid: int) -> bool:
    """True while a live (non-zombie) process is left in the group; PID 1 here may not reap orphans."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False


# --- SMTP sink -----------------------------------------------------------------------------------


DROP = "(drop the connection)"  # a DATA "reply" that closes the connection instead


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes  # exactly the bytes after DATA, CRLF line endings, dot-unstuffed
    message: EmailMessage


@dataclass
class _Faults:
    greeting: list[str] = field(default_factory=list)  # replies for the next sessions' greetings
    data: list[str] = field(default_factory=list)  # replies for the next DATA; DROP: close the connection
    recipients: dict[str, str] = field(default_factory=dict)  # address (lower case) -> RCPT reply
    sender: str | None = None  # reply to every MAIL FROM (e.g. a sending quota), until cleared


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        reply = self.sink._faults.sender
        if reply is not None:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        reply = self.sink._faults.recipients.get(address.lower())
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        fault = self.sink._take("data")
        if fault is not None:
            if fault == DROP:
                assert server.transport is not None
                server.transport.abort()  # type: ignore[attr-defined]  # aiosmtpd types it BaseTransport; it is a Transport
                return "421 dropped"  # never reaches the client
            return fault
        raw = envelope.original_content or b""
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.sink._store(Received(str(envelope.mail_from), tuple(envelope.rcpt_tos), raw, message))
        return "250 OK queued"


class _FaultySMTP(SMTP):
    """aiosmtpd's server with one extra fault: a refusing greeting (there is no handler hook for it)."""

    def __init__(self, sink: SmtpSink, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sink = sink

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._sink._sessions.add(self)

    def connection_lost(self, error: Exception | None) -> None:
        self._sink._sessions.discard(self)
        super().connection_lost(error)

    async def _handle_client(self) -> None:
        self._sink.connections += 1
        reply = self._sink._take("greeting")
        if reply is not None:
            await self.push(reply)
            assert self.transport is not None
            self.transport.close()
            return
        await super()._handle_client()


class _SinkController(Controller):
    def __init__(self, sink: SmtpSink, *args: Any, **kwargs: Any) -> None:
        self._sink = sink
        super().__init__(*args, **kwargs)

    def factory(self) -> SMTP:
        return _FaultySMTP(self._sink, self.handler, **self.SMTP_kwargs)


def _quiet_aiosmtpd_deprecation(record: logging.LogRecord) -> bool:
    # aiosmtpd 1.4 itself sets the deprecated Session.login_data on every AUTH and warns about it.
    return "login_data is deprecated" not in record.getMessage()


logging.getLogger("mail.log").addFilter(_quiet_aiosmtpd_deprecation)


class SmtpSink:
    """An aiosmtpd server on 127.0.0.1 that keeps every message and can be told to misbehave.

    ``security``: "starttls" (STARTTLS required before AUTH/MAIL), "ssl" (implicit TLS, SMTPS) or "none".
    With ``username``/``password`` set, only that pair is accepted; AUTH is required with STARTTLS (offered,
    not required, over SMTPS and plain text: aiosmtpd's limitation).
    """

    def __init__(
        self,
        tls: TlsFiles | None = None,
        security: str = "starttls",
        username: str | None = "mailbot@localhost",
        password: str | None = None,
    ) -> None:
        if security != "none" and tls is None:
            raise ValueError("security needs a certificate: pass tls=make_certificate(dir)")
        self.tls = tls
        self.security = security
        self.username = username
        self.password = (password or secrets.token_urlsafe(12)) if username else None
        self.port = free_port()
        self._received: list[Received] = []
        self._faults = _Faults()
        self._cond = threading.Condition()
        self._controller: _SinkController | None = None
        self._sessions: set[SMTP] = set()  # open connections, touched only on the server's event loop
        self.connections = 0  # sessions greeted (or refused) since start()
        self.start_seconds = 0.0
        self.stop_seconds = 0.0

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        started = time.monotonic()
        context = None
        if self.tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self.tls.cert, self.tls.key)
        kwargs: dict[str, Any] = {"hostname": "127.0.0.1", "port": self.port, "ready_timeout": 10}
        if self.security == "starttls":
            kwargs.update(tls_context=context, require_starttls=True)
        elif self.security == "ssl":
            kwargs.update(ssl_context=context)
        if self.username:
            # aiosmtpd counts only STARTTLS as TLS for AUTH, and warns (an error here) when AUTH is required
            # without it: over SMTPS or plain text AUTH is offered and checked, but not required.
            starttls = self.security == "starttls"
            kwargs.update(authenticator=self._authenticate, auth_required=starttls, auth_require_tls=starttls)
        self._controller = _SinkController(self, _Handler(self), **kwargs)
        self._controller.start()
        self.connections = 0  # start() itself connects once, to check the server answers
        self.start_seconds = time.monotonic() - started

    def stop(self) -> None:
        started = time.monotonic()
        if self._controller is not None:
            # Close client connections first: the controller leaves them open, and their sockets would be
            # garbage-collected later with a ResourceWarning (an error in this suite).
            asyncio.run_coroutine_threadsafe(self._close_sessions(), self._controller.loop).result(5)
            self._controller.stop()
            self._controller = None
        self.stop_seconds = time.monotonic() - started

    def restart(self) -> None:
        self.stop()
        self.start()

    async def _close_sessions(self) -> None:
        for session in list(self._sessions):
            if session.transport is not None:
                session.transport.abort()  # type: ignore[attr-defined] # close() would wait for a TLS goodbye the stopped loop never sees
        for _ in range(100):  # until each connection_lost ran
            if not self._sessions:
                break
            await asyncio.sleep(0.01)

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == self.username
            and auth_data.password.decode() == self.password
        )
        return AuthResult(success=ok, handled=False)

    # -- what arrived ------------------------------------------------------------------------------

    def _store(self, received: Received) -> None:
        with self._cond:
            self._received.append(received)
            self._cond.notify_all()

    @property
    def messages(self) -> list[Received]:
        with self._cond:
            return list(self._received)

    def clear(self) -> None:
        with self._cond:
            self._received.clear()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Block until at least ``count`` messages arrived; AssertionError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    got = len(self._received)
                    raise AssertionError(f"SMTP sink: {got} of {count} messages after {timeout} s")
                self._cond.wait(left)
            return list(self._received)

    # -- faults ------------------------------------------------------------------------------------

    def fail_greeting(self, times: int = 1, reply: str = "421 4.3.2 Service not available") -> None:
        """The next ``times`` sessions are refused at the greeting."""
        with self._cond:
            self._faults.greeting.extend([reply] * times)

    def fail_data(self, reply: str | None, times: int = 1) -> None:
        """The next ``times`` DATA commands get ``reply`` (e.g. "451 4.3.0 ...", "552 5.3.4 ..."); ``None``
        closes the connection instead, with no reply (the client cannot tell whether the mail was taken)."""
        with self._cond:
            self._faults.data.extend([DROP if reply is None else reply] * times)

    def refuse_recipient(self, address: str, reply: str = "550 5.1.1 No such user") -> None:
        """RCPT TO ``address`` gets ``reply`` (e.g. "450 4.2.1 Mailbox busy") until clear_faults()."""
        with self._cond:
            self._faults.recipients[address.lower()] = reply

    def refuse_sender(self, reply: str = "550 5.7.1 Daily sending quota exceeded") -> None:
        """Every MAIL FROM gets ``reply`` until clear_faults(): a sending limit or a blocked account."""
        with self._cond:
            self._faults.sender = reply

    def clear_faults(self) -> None:
        with self._cond:
            self._faults = _Faults()

    def _take(self, stage: str) -> str | None:
        with self._cond:
            pending = self._faults.greeting if stage == "greeting" else self._faults.data
            return pending.pop(0) if pending else None

    def __enter__(self) -> SmtpSink:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

"""Fixtures with real mail servers: a private Dovecot (IMAP) and an aiosmtpd sink (SMTP), on 127.0.0.1.

Nothing is mocked: mailbot's adapters talk to these over sockets, with TLS verified against ``tls_ca``.
Dovecot must be installed (``make test`` installs it); if it is missing the fixtures FAIL with the install
command: a skipped server test would be a hidden failure.

Fixtures
--------
``tls_ca -> Path`` (session)
    The CA file clients trust: the self-signed certificate (SAN localhost, 127.0.0.1) both servers present.
``tls_files -> TlsFiles`` (session)
    The certificate and key themselves (``.cert``, ``.key``), for starting extra servers.
``dovecot -> DovecotServer`` (session)
    One Dovecot for the session. Do not stop it; start your own ``DovecotServer(tls=tls_files)`` to test
    outages. Useful methods: ``seed(user, raw, folder="INBOX", flags=()) -> uid``, ``seed_many``,
    ``messages(user, folder) -> list[bytes]``, ``contents(user, folder) -> [(uid, raw, flags)]``,
    ``folders(user)``, ``set_password(user, new)`` (revoke), ``set_uidvalidity(user, value, folder)``,
    ``uidvalidity(user, folder)``, ``kick(user)`` (drop the user's sessions), ``client(user)`` (IMAPClient).
``imap_account -> ImapAccount`` (function)
    A fresh user with an empty INBOX on ``dovecot``: ``.username``, ``.password``, ``.env_var`` (holds the
    password, set with monkeypatch), ``.settings`` (ImapSettings: IMAPS, CA verified, timeout 10 s) and
    ``.settings_for(security="starttls", **changes)`` for other variants.
``own_dovecot -> ImapAccount`` (function)
    The same, on a Dovecot of the test's own (``.server``), started and closed around the test: for tests that
    stop or restart the server, which the session's must not do under the other tests.
``smtp_sink -> SmtpSink`` (function)
    A fresh STARTTLS + AUTH server: ``.messages`` (list of ``Received(mail_from, rcpt_tos, raw, message)``),
    ``.wait_for(n, timeout=10)``, ``.clear()``; faults: ``.fail_greeting(times=1)`` (421),
    ``.fail_data(reply, times=1)`` ("451 ..."/"552 ..."; None drops the connection),
    ``.refuse_recipient(address, reply="550 5.1.1 No such user")``, ``.clear_faults()``, ``.restart()``
    (drops every session), ``.connections`` (sessions opened since start), ``.port``, ``.username``,
    ``.password``. For SMTPS or a plain relay start your own: ``SmtpSink(tls_files, security="ssl")``.
``smtp_settings -> SmtpSettings`` (function)
    Settings for ``smtp_sink`` (STARTTLS, CA verified, AUTH with a password from an env var).
``silent_server -> int`` (function)
    A port on 127.0.0.1 that accepts connections and never says a word: a hung server, for timeouts.
``make_config -> (roster_path, **overrides) -> Config`` (function)
    Writes a real TOML file under ``tmp_path`` pointing at ``imap_account`` and ``smtp_sink`` (passwords only
    through env vars, never in the file) and loads it with ``mailbot.config.load_config``. ``overrides`` are
    TOML sections merged over the defaults: ``make_config(roster, imap={"batch_size": 2},
    calendar={"timezone": "UTC"})``. Database and archive live in ``tmp_path``.
``config_without_servers -> (roster_path, **overrides) -> Config`` (function)
    The same, loaded from a real TOML file, but pointing at no server (IMAP and SMTP on 127.0.0.1 port 1, where
    nothing listens: a stray connection is refused at once), so no Dovecot starts. For tests of the rules above
    the seams, with ``tests/fakes.py`` (``FakeMailbox``, ``RecordingTransport``) as the mailbox and the transport.

Measured here: certificate 0.2 s once per session; Dovecot start ~0.04 s, stop ~5 ms (up to ~1 s right after
sessions ended); sink start/stop ~5 ms. A failed Dovecot login costs ~0.5 s; a changed password is seen
within ~1 s (``set_password`` waits for it).

Helpers for your own servers and accounts:
``from servers import DovecotServer, SmtpSink, Received, ImapAccount``.
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from servers import HOST, INSTALL_HINT, DovecotServer, ImapAccount, SmtpSink, TlsFiles, make_certificate

from mailbot.config import Config, Secret, SmtpSettings, load_config


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    try:
        return make_certificate(tmp_path_factory.mktemp("tls"))
    except (RuntimeError, OSError) as exc:
        pytest.fail(f"cannot make a test certificate ({exc}). {INSTALL_HINT}", pytrace=False)


@pytest.fixture(scope="session")
def tls_ca(tls_files: TlsFiles) -> Path:
    return tls_files.cert


@pytest.fixture(scope="session")
def dovecot(tls_files: TlsFiles) -> Iterator[DovecotServer]:
    try:
        server = DovecotServer(tls=tls_files)
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        server.start()
    except RuntimeError as exc:
        server.close()
        pytest.fail(f"Dovecot did not start: {exc}", pytrace=False)
    yield server
    server.close()


@pytest.fixture
def imap_account(dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch) -> ImapAccount:
    username, password = dovecot.add_user()
    env_var = f"MAILBOT_TEST_IMAP_PASSWORD_{secrets.token_hex(3).upper()}"
    monkeypatch.setenv(env_var, password)
    return ImapAccount(username, password, env_var, dovecot)


@pytest.fixture
def own_dovecot(tls_files: TlsFiles, monkeypatch: pytest.MonkeyPatch) -> Iterator[ImapAccount]:
    server = DovecotServer(tls=tls_files)
    try:
        server.start()
        username, password = server.add_user()
        env_var = f"MAILBOT_TEST_OWN_IMAP_PASSWORD_{secrets.token_hex(3).upper()}"
        monkeypatch.setenv(env_var, password)
        yield ImapAccount(username, password, env_var, server)
    finally:
        server.close()


@pytest.fixture
def smtp_sink(tls_files: TlsFiles) -> Iterator[SmtpSink]:
    sink = SmtpSink(tls_files, security="starttls")
    sink.start()
    yield sink
    sink.stop()


SMTP_PASSWORD_ENV = "MAILBOT_TEST_SMTP_PASSWORD"


@pytest.fixture
def smtp_settings(smtp_sink: SmtpSink, tls_ca: Path, monkeypatch: pytest.MonkeyPatch) -> SmtpSettings:
    assert smtp_sink.password is not None
    monkeypatch.setenv(SMTP_PASSWORD_ENV, smtp_sink.password)
    return SmtpSettings(
        host=HOST,
        port=smtp_sink.port,
        from_address="mailbot@ceg.example",
        secret=Secret("smtp.password_env", env=SMTP_PASSWORD_ENV),
        username=smtp_sink.username or "",
        security="starttls",
        ca_file=tls_ca,
        timeout=10.0,
    )


@pytest.fixture
def make_config(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Config]:
    def make(roster_path: Path, **overrides: Mapping[str, Any]) -> Config:
        assert smtp_sink.password is not None
        monkeypatch.setenv(SMTP_PASSWORD_ENV, smtp_sink.password)
        sections: dict[str, dict[str, Any]] = {
            "mailbot": {"database": str(tmp_path / "mailbot.db"), "archive_dir": str(tmp_path / "archive")},
            "roster": {"path": str(roster_path)},
            "imap": {
                "host": HOST,
                "port": imap_account.server.imaps_port,
                "security": "ssl",
                "username": imap_account.username,
                "password_env": imap_account.env_var,
                "ca_file": str(imap_account.server.ca_file),
                "timeout": 10,
            },
            "smtp": {
                "host": HOST,
                "port": smtp_sink.port,
                "security": "starttls",
                "username": smtp_sink.username,
                "password_env": SMTP_PASSWORD_ENV,
                "from_address": "mailbot@ceg.example",
                "ca_file": str(smtp_sink.tls.cert) if smtp_sink.tls else "",
                "timeout": 10,
            },
            "ceg": {"addresses": ["jsk@ceg.example"], "operator": "operator@ceg.example"},
        }
        return write_config(tmp_path, sections, overrides)

    return make


NO_SERVER_PORT = 1  # tcpmux: nothing listens there on a test machine


@pytest.fixture
def config_without_servers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Config]:
    monkeypatch.setenv("MAILBOT_TEST_NO_SERVER_PASSWORD", "unused")

    def make(roster_path: Path, **overrides: Mapping[str, Any]) -> Config:
        sections: dict[str, dict[str, Any]] = {
            "mailbot": {"database": str(tmp_path / "mailbot.db"), "archive_dir": str(tmp_path / "archive")},
            "roster": {"path": str(roster_path)},
            "imap": {
                "host": HOST,
                "port": NO_SERVER_PORT,
                "username": "ceg",
                "password_env": "MAILBOT_TEST_NO_SERVER_PASSWORD",
                "timeout": 1,
            },
            "smtp": {"host": HOST, "port": NO_SERVER_PORT, "from_address": "mailbot@ceg.example", "timeout": 1},
            "ceg": {"addresses": ["jsk@ceg.example"], "operator": "operator@ceg.example"},
        }
        return write_config(tmp_path, sections, overrides)

    return make


def write_config(
    folder: Path, sections: dict[str, dict[str, Any]], overrides: Mapping[str, Mapping[str, Any]]
) -> Config:
    """``sections`` with ``overrides`` merged over them, written to ``folder/mailbot.toml`` and loaded from there."""
    for name, values in overrides.items():
        sections.setdefault(name, {}).update(values)
    path = folder / "mailbot.toml"
    path.write_text(to_toml(sections), encoding="utf-8")
    return load_config(path)


def to_toml(sections: Mapping[str, Mapping[str, Any]]) -> str:
    """Just enough TOML for config files: tables of strings, numbers, booleans and lists of those."""
    lines: list[str] = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines.extend(f"{key} = {_toml_value(value)}" for key, value in values.items())
        lines.append("")
    return "\n".join(lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path):
        text = str(value).replace("\\", "\\\\").replace('"', '\\"')
        return f'"{text}"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts TCP connections (the kernel does, from the backlog) and never says a word."""
    with socket.socket() as listener:
        listener.bind((HOST, 0))
        listener.listen(8)
        yield int(listener.getsockname()[1])

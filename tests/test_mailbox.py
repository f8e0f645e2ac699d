"""The IMAP adapter against a real Dovecot (and two tiny hostile servers) over sockets."""

from __future__ import annotations

import dataclasses
import email.policy
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from servers import HOST, DovecotServer, ImapAccount, SmtpSink, TlsFiles, free_port

from mailbot.config import ConfigError, Secret, Security
from mailbot.mailbox import (
    FetchedMessage,
    Mailbox,
    MailboxAuthError,
    MailboxError,
    MailboxUnavailable,
    check_login,
)

pytestmark = pytest.mark.servers


def report_email(n: int, body_size: int = 200) -> bytes:
    message = EmailMessage()
    message["From"] = f"DSP {n} <dsp{n}@example.net>"
    message["To"] = "reports@ceg.example"
    message["Subject"] = f"Weekly report {n}"
    message["Message-ID"] = f"<report-{n}@example.net>"
    message.set_content(f"report {n}\n" + "x" * body_size + "\n")
    return message.as_bytes(policy=email.policy.SMTP)  # CRLF: IMAP servers hand messages out that way


# --- connecting ----------------------------------------------------------------------------------


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_login_select_and_fetch_over_verified_tls(imap_account: ImapAccount, security: Security) -> None:
    raw = report_email(1)
    uid = imap_account.server.seed(imap_account.username, raw)

    with Mailbox(imap_account.settings_for(security)) as box:
        validity = box.select("INBOX")
        assert validity == imap_account.server.uidvalidity(imap_account.username)
        assert box.uids() == [uid]
        [fetched] = list(box.fetch([uid]))

    assert fetched.uid == uid
    assert fetched.raw == raw
    assert fetched.internaldate.tzinfo is not None


def test_plain_connection_on_loopback(imap_account: ImapAccount) -> None:
    with Mailbox(imap_account.settings_for("none")) as box:
        assert box.select("INBOX") > 0


def test_xoauth2_token_from_the_configured_command(imap_account: ImapAccount, tmp_path: Path) -> None:
    # Dovecot's XOAUTH2 checks the bearer token against the passdb: the password stands in for a token.
    token_file = tmp_path / "token"
    token_file.write_text(imap_account.password)
    secret = Secret("imap.token_command", command=("cat", str(token_file)))
    settings = imap_account.settings_for("ssl", auth="xoauth2", secret=secret)
    with Mailbox(settings) as box:
        box.select("INBOX")
        assert box.uids() == []


def test_untrusted_certificate_is_refused(imap_account: ImapAccount) -> None:
    # No CA file: the system store does not know the self-signed certificate.
    for security in ("ssl", "starttls"):
        settings = imap_account.settings_for(security, ca_file=None)
        with pytest.raises(MailboxUnavailable, match=rf"{HOST}:{settings.port}.*certificate") as caught:
            Mailbox(settings).open()
        assert imap_account.password not in str(caught.value)


def test_certificate_for_another_name_is_refused(imap_account: ImapAccount) -> None:
    # 127.0.0.2 is loopback too, but the certificate names only localhost and 127.0.0.1.
    settings = imap_account.settings_for("ssl", host="127.0.0.2")
    with pytest.raises(MailboxUnavailable):
        Mailbox(settings).open()


def test_wrong_password_is_an_auth_error_that_shows_no_password(
    imap_account: ImapAccount, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "Wr0ng-pa55word-" + imap_account.password
    monkeypatch.setenv(imap_account.env_var, wrong)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(MailboxAuthError, match=imap_account.username) as caught:
        Mailbox(imap_account.settings_for("starttls")).open()
    error = caught.value
    text = str(error) + repr(error) + repr(error.__cause__) + repr(error.__context__)
    assert wrong not in text
    assert wrong not in caplog.text


def test_no_password_in_debug_logs_after_a_full_session(
    imap_account: ImapAccount, caplog: pytest.LogCaptureFixture
) -> None:
    # imapclient logs every command at DEBUG through an adapter that blanks LOGIN/AUTHENTICATE lines.
    caplog.set_level(logging.DEBUG)
    imap_account.server.seed(imap_account.username, report_email(1))
    for settings in (imap_account.settings, imap_account.settings_for("ssl", auth="xoauth2")):
        with Mailbox(settings) as box:
            box.select("INBOX")
            list(box.fetch(box.uids()))
    assert "LOGIN" in caplog.text or "AUTHENTICATE" in caplog.text  # the log really was captured
    assert imap_account.password not in caplog.text


def test_revoked_password_is_an_auth_error(imap_account: ImapAccount) -> None:
    with Mailbox(imap_account.settings) as box:
        box.select("INBOX")
    imap_account.server.set_password(imap_account.username, "revoked-" + imap_account.password)
    with pytest.raises(MailboxAuthError):
        Mailbox(imap_account.settings).open()


def test_missing_secret_is_a_config_error(imap_account: ImapAccount, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(imap_account.env_var)
    with pytest.raises(ConfigError, match=imap_account.env_var):
        Mailbox(imap_account.settings).open()


# --- reading -------------------------------------------------------------------------------------


def test_fetch_in_batches_returns_exact_bytes_and_sets_no_flag(imap_account: ImapAccount) -> None:
    server, user = imap_account.server, imap_account.username
    raws = [report_email(n, body_size=100 * n) for n in range(7)]
    raws.append(b"From: odd@example.net\nSubject: bare LF and 8-bit \xe0\xa4\x95\n\nbody\n")  # as stored
    uids = server.seed_many(user, raws)
    settings = dataclasses.replace(imap_account.settings, batch_size=3)

    with Mailbox(settings) as box:
        box.select("INBOX")
        assert box.uids() == uids
        sizes = box.sizes(uids)
        fetched = list(box.fetch(uids, sizes))

    assert [m.uid for m in fetched] == uids
    stored = server.contents(user)
    assert [m.raw for m in fetched] == [raw for _, raw, _ in stored]
    assert sizes == {uid: len(raw) for uid, raw, _ in stored}
    assert all(flags == () for _, _, flags in stored)  # BODY.PEEK: still unseen
    assert all(isinstance(m, FetchedMessage) and m.internaldate.tzinfo == UTC for m in fetched)
    assert all(abs((datetime.now(UTC) - m.internaldate).total_seconds()) < 300 for m in fetched)


def test_uids_ignore_seen_and_fetch_skips_vanished_uids(imap_account: ImapAccount) -> None:
    server, user = imap_account.server, imap_account.username
    seen = server.seed(user, report_email(1), flags=[b"\\Seen"])
    unseen = server.seed(user, report_email(2))
    with Mailbox(imap_account.settings) as box:
        box.select("INBOX")
        assert box.uids() == [seen, unseen]
        assert [m.uid for m in box.fetch([seen, unseen + 100])] == [seen]
        assert box.sizes([unseen + 100]) == {}


def test_uidvalidity_change_is_reported(imap_account: ImapAccount) -> None:
    server, user = imap_account.server, imap_account.username
    server.seed(user, report_email(1))
    with Mailbox(imap_account.settings) as box:
        before = box.select("INBOX")
    server.set_uidvalidity(user, before + 1000)
    with Mailbox(imap_account.settings) as box:
        assert box.select("INBOX") == before + 1000


def test_select_of_a_missing_folder_is_a_mailbox_error(imap_account: ImapAccount) -> None:
    with Mailbox(imap_account.settings) as box:
        with pytest.raises(MailboxError, match="NoSuchFolder") as caught:
            box.select("NoSuchFolder")
        assert not isinstance(caught.value, MailboxUnavailable | MailboxAuthError)
        assert box.select("INBOX") > 0  # the session is still usable


# --- folders and moving --------------------------------------------------------------------------


def test_ensure_folders_creates_missing_ones_once(imap_account: ImapAccount) -> None:
    server, user = imap_account.server, imap_account.username
    assert server.folders(user) == ["INBOX"]
    with Mailbox(imap_account.settings) as box:
        assert box.ensure_folders("Processed", "Rejected", "INBOX") == ["Processed", "Rejected", "INBOX"]
        box.ensure_folders("Processed", "Rejected")  # again: no error
    assert server.folders(user) == ["INBOX", "Processed", "Rejected"]


def test_move_leaves_inbox_and_keeps_flags(imap_account: ImapAccount) -> None:
    server, user = imap_account.server, imap_account.username
    keep, move = server.seed_many(user, [report_email(1), report_email(2)])
    with Mailbox(imap_account.settings) as box:
        box.ensure_folders("Processed")
        box.select("INBOX")
        box.move(move, "Processed")
        assert box.uids() == [keep]
    assert server.messages(user, "INBOX") == [report_email(1)]
    [(_, raw, flags)] = server.contents(user, "Processed")
    assert raw == report_email(2)
    assert b"\\Seen" not in flags


def test_copy_expunge_fallback_removes_only_the_moved_uid(imap_account: ImapAccount) -> None:
    server, user = imap_account.server, imap_account.username
    # Another client's message marked \Deleted but not expunged: a plain EXPUNGE would destroy it.
    others, ours = server.seed_many(user, [report_email(1), report_email(2)])
    with server.client(user) as other_client:
        other_client.select_folder("INBOX")
        other_client.add_flags([others], [b"\\Deleted"])

    with Mailbox(imap_account.settings, use_move=False) as box:
        box.ensure_folders("Rejected")
        box.select("INBOX")
        box.move(ours, "Rejected")
        assert box.uids() == [others]

    [(uid, raw, flags)] = server.contents(user, "INBOX")
    assert (uid, raw) == (others, report_email(1))
    assert b"\\Deleted" in flags
    [(_, raw, flags)] = server.contents(user, "Rejected")
    assert raw == report_email(2)
    assert b"\\Deleted" not in flags and b"\\Seen" not in flags


def test_move_to_a_missing_folder_fails_and_keeps_the_message(imap_account: ImapAccount) -> None:
    server, user = imap_account.server, imap_account.username
    uid = server.seed(user, report_email(1))
    for use_move in (True, False):
        with Mailbox(imap_account.settings, use_move=use_move) as box:
            box.select("INBOX")
            with pytest.raises(MailboxError):
                box.move(uid, "NotCreated")
    [(_, _, flags)] = server.contents(user)
    assert flags == ()


@pytest.fixture
def prefixed_dovecot(tls_files: TlsFiles) -> Iterator[DovecotServer]:
    server = DovecotServer(tls=tls_files, prefix="INBOX.", separator=".")
    server.start()
    yield server
    server.close()


def test_folders_go_under_the_personal_namespace_prefix(
    prefixed_dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    user, password = prefixed_dovecot.add_user()
    monkeypatch.setenv("PREFIXED_PW", password)
    account = ImapAccount(user, password, "PREFIXED_PW", prefixed_dovecot)
    uid = prefixed_dovecot.seed(user, report_email(1))
    with Mailbox(account.settings) as box:
        assert box.namespace() == ("INBOX.", ".")
        created = box.ensure_folders("Processed", "Reports/Rejected")
        assert created == ["INBOX.Processed", "INBOX.Reports.Rejected"]
        box.select("INBOX")
        box.move(uid, "Processed")
    assert prefixed_dovecot.messages(user, "INBOX.Processed") == [report_email(1)]
    assert "Processed: present" in check_login(account.settings)


def test_check_login_summarises_the_server(imap_account: ImapAccount) -> None:
    imap_account.server.seed(imap_account.username, report_email(1))
    summary = check_login(imap_account.settings)
    assert "moving messages: MOVE" in summary
    assert "INBOX: 1 messages" in summary
    assert "Processed: missing" in summary
    assert imap_account.password not in summary


# --- outages -------------------------------------------------------------------------------------


@pytest.fixture
def own_dovecot(tls_files: TlsFiles) -> Iterator[DovecotServer]:
    """A private server this test may stop and restart without disturbing the session one."""
    server = DovecotServer(tls=tls_files)
    server.start()
    yield server
    server.close()


def _account(server: DovecotServer, monkeypatch: pytest.MonkeyPatch) -> ImapAccount:
    user, password = server.add_user()
    monkeypatch.setenv("OWN_DOVECOT_PW", password)
    return ImapAccount(user, password, "OWN_DOVECOT_PW", server)


def test_server_stopped_then_restarted(own_dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch) -> None:
    account = _account(own_dovecot, monkeypatch)
    uid = own_dovecot.seed(account.username, report_email(1))
    box = Mailbox(account.settings).__enter__()
    box.select("INBOX")

    own_dovecot.stop()
    with pytest.raises(MailboxUnavailable, match=f"{HOST}:{account.settings.port}"):
        box.uids()
    with pytest.raises(MailboxUnavailable, match="not connected"):  # the dead session is not reused
        box.uids()
    box.__exit__(None, None, None)
    with pytest.raises(MailboxUnavailable, match="refused"):
        Mailbox(account.settings).open()

    own_dovecot.start()
    with Mailbox(account.settings) as again:
        again.select("INBOX")
        assert [m.raw for m in again.fetch([uid])] == [report_email(1)]


def test_session_killed_by_the_server(imap_account: ImapAccount) -> None:
    with Mailbox(imap_account.settings) as box:
        box.select("INBOX")
        imap_account.server.kick(imap_account.username)
        with pytest.raises(MailboxUnavailable):
            box.uids()


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_hung_server_times_out(imap_account: ImapAccount, silent_server: int, security: Security) -> None:
    settings = imap_account.settings_for(security, port=silent_server, timeout=1.0)
    started = time.monotonic()
    with pytest.raises(MailboxUnavailable, match="timed out"):
        Mailbox(settings).open()
    assert time.monotonic() - started < 5


def test_nothing_listening_is_unavailable(imap_account: ImapAccount) -> None:
    settings = imap_account.settings_for("ssl", port=free_port())
    with pytest.raises(MailboxUnavailable, match="refused"):
        Mailbox(settings).open()


HANG_UP = b"\0hang up"


def scripted_imap_server(reply: Callable[[bytes, bytes], bytes]) -> tuple[int, threading.Thread]:
    """A one-connection plain IMAP server: ``reply(tag, command line)`` gives the bytes to answer; an answer
    ending in HANG_UP is sent without it, and the connection dropped."""
    listener = socket.socket()
    listener.bind((HOST, 0))
    listener.listen(1)

    def serve() -> None:
        with listener, listener.accept()[0] as conn, conn.makefile("rb") as lines:
            conn.sendall(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hostile test server\r\n")
            for line in lines:
                tag, _, command = line.partition(b" ")
                answer = reply(tag, command)
                if not answer:
                    return
                conn.sendall(answer.removesuffix(HANG_UP))
                if answer.endswith(HANG_UP):
                    return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return int(listener.getsockname()[1]), thread


def fetch_answers(fetch: bytes) -> Callable[[bytes, bytes], bytes]:
    """A server that lets mailbot log in and select a one-message INBOX, then answers UID FETCH with ``fetch``."""

    def reply(tag: bytes, command: bytes) -> bytes:
        verb = command.split()[0].upper()
        if verb == b"CAPABILITY":
            return b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n" + tag + b" OK done\r\n"
        if verb == b"LOGIN":
            return tag + b" OK logged in\r\n"
        if verb == b"SELECT":
            return b"* 1 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n" + tag + b" OK [READ-WRITE] done\r\n"
        if verb == b"UID":
            return fetch
        return b""

    return reply


def test_huge_literal_announced_by_a_hostile_server(imap_account: ImapAccount) -> None:
    # UID FETCH: claim a 100 GB literal
    port, thread = scripted_imap_server(fetch_answers(b"* 1 FETCH (UID 1 BODY[] {99999999999}\r\nxx"))
    settings = imap_account.settings_for("none", port=port, timeout=5.0)
    with Mailbox(settings) as box:
        assert box.select("INBOX") == 7
        with pytest.raises(MailboxUnavailable, match="99999999999-byte literal"):
            list(box.fetch([1]))
    thread.join(5)


def test_a_connection_dropped_in_the_middle_of_a_fetch_is_unavailable_not_a_half_message(
    imap_account: ImapAccount,
) -> None:
    # 1,000 bytes announced, 100 sent, then the line goes dead
    port, thread = scripted_imap_server(fetch_answers(b"* 1 FETCH (UID 1 BODY[] {1000}\r\n" + b"x" * 100 + HANG_UP))
    settings = imap_account.settings_for("none", port=port, timeout=5.0)
    with Mailbox(settings) as box:
        assert box.select("INBOX") == 7
        with pytest.raises(MailboxUnavailable):
            list(box.fetch([1]))  # nothing half-read is ever handed on to be archived or parsed
    thread.join(5)


# --- operator mistakes: each named, with what to do -------------------------------------------------


def test_a_refused_login_reads_as_one_plain_sentence(
    imap_account: ImapAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(imap_account.env_var, "not-the-password")
    settings = imap_account.settings
    with pytest.raises(MailboxAuthError) as caught:
        Mailbox(settings).open()
    message = str(caught.value)
    assert message.startswith(f"IMAP login refused for {imap_account.username} on {HOST}:{settings.port}: ")
    assert "b'" not in message and "AUTHENTICATIONFAILED" in message
    assert f"{imap_account.username}@" not in message


def test_ssl_on_a_plain_port_says_to_try_starttls(imap_account: ImapAccount) -> None:
    settings = imap_account.settings_for("ssl", port=imap_account.server.imap_port)
    with pytest.raises(MailboxUnavailable, match=r'does not speak TLS on this port: try security = "starttls"'):
        Mailbox(settings).open()


def test_an_smtp_port_is_named_as_smtp(imap_account: ImapAccount, tls_files: TlsFiles) -> None:
    with SmtpSink(tls_files, security="starttls") as sink:
        settings = imap_account.settings_for("none", port=sink.port)
        with pytest.raises(MailboxUnavailable) as caught:
            Mailbox(settings).open()
    message = str(caught.value)
    assert "this looks like an SMTP server, not IMAP: check imap.port" in message
    assert "greeted with '220 " in message and "b'" not in message


@pytest.mark.parametrize(("content", "reason"), [(None, "No such file"), ("not a certificate\n", "cannot use")])
def test_an_unusable_ca_file_is_named(
    imap_account: ImapAccount, tmp_path: Path, content: str | None, reason: str
) -> None:
    ca_file = tmp_path / "ca.pem"
    if content is not None:
        ca_file.write_text(content, encoding="utf-8")
    with pytest.raises(MailboxUnavailable, match=rf"imap\.ca_file: cannot use {ca_file}: .*") as caught:
        Mailbox(imap_account.settings_for("ssl", ca_file=ca_file)).open()
    assert reason in str(caught.value)

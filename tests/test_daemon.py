"""``mailbot run`` as a user runs it: a subprocess against a real Dovecot and a real SMTP server.

Short poll intervals (a fraction of a minute) make the daemon act within a second; the tests wait for what they
expect with deadline-bounded polls of the servers and the daemon's log, never for the clock.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from servers import DovecotServer, ImapAccount, Received, SmtpSink

from mailbot.config import Config
from mailbot.districts import by_code
from mailbot.mailbuilder import build_email
from mailbot.weeks import Week
from mailbot.workbook.template import report_workbook

pytestmark = [pytest.mark.servers, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
WEEK = Week(2026, 47)
DSP = "CMS Computers"
SENDER = "jsk.reports@cms-computers.example"
CONTACT = "up.jsk@cms-computers.example"
DISTRICTS = (118, 119)  # Agra, Aligarh
OPERATOR = "operator@ceg.example"  # conftest's make_config
FAST = {"poll_minutes": 0.01, "send_minutes": 0.01, "check_minutes": 60, "health_max_age_minutes": 10}


def write_roster(folder: Path) -> Path:
    """One DSP, two districts: the daemon's own check() then has little to say besides what we test."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dsps.csv").write_text(f"DSP,Sender addresses,Contact addresses\n{DSP},{SENDER},{CONTACT}\n")
    start = WEEK.monday.strftime("%d/%m/%Y")
    (folder / "assignments.csv").write_text(
        "DSP,District,Start date,End date\n" + "".join(f"{DSP},{code},{start},\n" for code in DISTRICTS)
    )
    (folder / "degs.csv").write_text(
        "District,Addresses\n" + "".join(f"{by_code(c).name_en},edm{c}@degs.example\n" for c in DISTRICTS)
    )
    return folder


def report_mail(tag: str) -> tuple[str, bytes]:
    """(Message-ID, raw) of a valid report; ``tag`` makes the attachment (and so the submission) unique."""
    figures: dict[int, dict[str, int | str]] = {
        code: {"rural_target": 900, "rural_opened": 600, "urban_target": 100, "urban_opened": 50, "remarks": tag}
        for code in DISTRICTS
    }
    workbook = report_workbook(DSP, WEEK, DISTRICTS, figures)
    message_id = f"<{tag}.{secrets.token_hex(4)}@cms-computers.example>"
    raw = build_email(
        sender=f"{DSP} <{SENDER}>",
        subject=f"Weekly JSK report {WEEK}",
        attachments=[(f"report-{tag}.xlsx", workbook)],
        message_id=message_id,
    )
    return message_id, raw


def deliver_to_maildir(server: DovecotServer, user: str, raw: bytes) -> None:
    """What an MTA does while the IMAP server is down: drop the message into the user's Maildir ``new/``."""
    inbox = server.root / "mail" / user
    name = f"{time.time_ns()}.{secrets.token_hex(4)}.mailbot-test"
    tmp = inbox / "tmp" / name
    tmp.write_bytes(raw)
    if os.geteuid() == 0:
        shutil.chown(tmp, "mail", "mail")
    tmp.rename(inbox / "new" / name)


def wait_until(condition: Callable[[], Any], what: str, timeout: float = 30.0, daemon: Daemon | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if daemon is not None and daemon.process.poll() is not None:
            raise AssertionError(
                f"the daemon exited ({daemon.process.returncode}) while waiting for {what}:\n{daemon.log()}"
            )
        if time.monotonic() > deadline:
            tail = daemon.log()[-3000:] if daemon is not None else ""
            raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{tail}")
        time.sleep(0.05)


def replies_to(sink: SmtpSink, message_id: str) -> list[Received]:
    return [m for m in sink.messages if (m.message.get("In-Reply-To") or "").strip() == message_id]


def to_operator(sink: SmtpSink) -> list[Received]:
    return [m for m in sink.messages if OPERATOR in m.rcpt_tos]


def mailbot(config: Config, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mailbot", "--config", str(config.source), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )


class Daemon:
    """``mailbot --config FILE run`` in the background, its output in a file."""

    def __init__(self, config: Config, log_path: Path) -> None:
        self.config = config
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mailbot", "--config", str(config.source), "run"],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def terminate(self, timeout: float = 10.0) -> tuple[int, float]:
        """SIGTERM; (exit status, seconds it took)."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            status = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            raise AssertionError(f"the daemon ignored SIGTERM for {timeout} s:\n{self.log()}") from None
        return status, time.monotonic() - started

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._log.close()


@pytest.fixture
def start_daemon(tmp_path: Path) -> Iterator[Callable[[Config], Daemon]]:
    started: list[Daemon] = []

    def start(config: Config) -> Daemon:
        daemon = Daemon(config, tmp_path / f"daemon-{len(started)}.log")
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.close()


def test_ingests_acknowledges_refuses_a_second_instance_and_stops_on_sigterm(
    tmp_path: Path,
    make_config: Callable[..., Config],
    imap_account: Any,
    smtp_sink: SmtpSink,
    start_daemon: Callable[[Config], Daemon],
) -> None:
    config = make_config(write_roster(tmp_path / "roster"), schedule=FAST)
    before = mailbot(config, "health")
    assert before.returncode != 0, "no poll yet: unhealthy"

    daemon = start_daemon(config)
    message_id, raw = report_mail("first")
    imap_account.server.seed(imap_account.username, raw)
    wait_until(lambda: replies_to(smtp_sink, message_id), "the acknowledgement", daemon=daemon)
    wait_until(lambda: not imap_account.server.messages(imap_account.username), "the inbox to be filed", daemon=daemon)
    assert raw in imap_account.server.messages(imap_account.username, "Processed")

    healthy = mailbot(config, "health")
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr

    second = mailbot(config, "run", timeout=30)
    assert second.returncode != 0
    refusal = second.stdout + second.stderr
    assert str(config.database) in refusal and str(daemon.process.pid) in refusal, refusal

    status, seconds = daemon.terminate()
    assert status == 0, daemon.log()
    assert seconds < 5
    assert "Traceback" not in daemon.log()
    assert daemon.log().count("anyone can forge a DSP's From address") == 1  # said once, at the start

    # The heartbeat is now older than a (tiny) allowed age: unhealthy.
    stale = make_config(write_roster(tmp_path / "roster"), schedule={**FAST, "health_max_age_minutes": 0.0001})
    assert mailbot(stale, "health").returncode != 0


def test_sigterm_while_the_mailbox_server_hangs_exits_promptly_and_loses_nothing(
    tmp_path: Path,
    make_config: Callable[..., Config],
    imap_account: Any,
    smtp_sink: SmtpSink,
    start_daemon: Callable[[Config], Daemon],
) -> None:
    # A server that accepts the connection and never says a word: the poll waits on its 60 s timeout.
    connected = threading.Event()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        held: list[socket.socket] = []

        def accept() -> None:
            with contextlib.suppress(OSError):  # the listener closes at the end of the test
                held.append(listener.accept()[0])
                connected.set()

        threading.Thread(target=accept, daemon=True).start()
        config = make_config(
            write_roster(tmp_path / "roster"), schedule=FAST, imap={"port": listener.getsockname()[1], "timeout": 60}
        )
        daemon = start_daemon(config)
        wait_until(connected.is_set, "the daemon to connect to the silent server", daemon=daemon)

        status, seconds = daemon.terminate(timeout=30)
        for conn in held:
            conn.close()
    assert status == 0, daemon.log()
    assert seconds < 20, f"took {seconds:.1f} s: the 60 s IMAP timeout was waited out"
    assert "stopping without waiting" in daemon.log()
    assert "Traceback" not in daemon.log()
    # The lock went with the process: the next start is not refused.
    after = mailbot(config, "poll", timeout=30)
    assert after.returncode != 3 and "already running" not in after.stderr, after.stderr


def own_config(
    make_config: Callable[..., Config], account: ImapAccount, roster: Path, schedule: Mapping[str, float]
) -> Config:
    """A config reading ``account`` on its own Dovecot (``own_dovecot``) rather than the session's."""
    return make_config(
        roster,
        schedule=schedule,
        imap={
            "port": account.server.imaps_port,
            "username": account.username,
            "password_env": account.env_var,
            "ca_file": str(account.server.ca_file),
        },
    )


def test_survives_a_dovecot_restart_and_reads_what_arrived_meanwhile(
    tmp_path: Path,
    own_dovecot: ImapAccount,
    make_config: Callable[..., Config],
    smtp_sink: SmtpSink,
    start_daemon: Callable[[Config], Daemon],
) -> None:
    server, user = own_dovecot.server, own_dovecot.username  # our own: it goes down in this test
    config = own_config(make_config, own_dovecot, write_roster(tmp_path / "roster"), FAST)
    daemon = start_daemon(config)
    first_id, first = report_mail("before")
    server.seed(user, first)
    wait_until(lambda: replies_to(smtp_sink, first_id), "the first acknowledgement", daemon=daemon)

    server.stop()
    failures = daemon.log().count("unavailable")
    wait_until(
        lambda: daemon.log().count("unavailable") > failures, "a failed poll while Dovecot is down", daemon=daemon
    )
    meanwhile_id, meanwhile = report_mail("meanwhile")
    deliver_to_maildir(server, user, meanwhile)
    server.start()

    wait_until(lambda: replies_to(smtp_sink, meanwhile_id), "the acknowledgement after the restart", daemon=daemon)
    assert meanwhile in server.messages(user, "Processed")
    status, seconds = daemon.terminate()
    assert status == 0 and seconds < 5, daemon.log()


def test_revoked_password_alerts_the_operator_once_while_it_lasts(
    tmp_path: Path,
    make_config: Callable[..., Config],
    imap_account: Any,
    smtp_sink: SmtpSink,
    start_daemon: Callable[[Config], Daemon],
) -> None:
    config = make_config(write_roster(tmp_path / "roster"), schedule=FAST)
    daemon = start_daemon(config)
    message_id, raw = report_mail("ok")
    imap_account.server.seed(imap_account.username, raw)
    wait_until(lambda: replies_to(smtp_sink, message_id), "a successful pass first", daemon=daemon)
    assert to_operator(smtp_sink) == []

    # A different length on purpose: Dovecot notices a rewritten passwd-file by (mtime second, size) only.
    imap_account.server.set_password(imap_account.username, "revoked-" + secrets.token_hex(8))
    wait_until(lambda: to_operator(smtp_sink), "the operator alert", daemon=daemon)
    refused = daemon.log().count("login refused")
    wait_until(lambda: daemon.log().count("login refused") >= refused + 5, "five more refused logins", daemon=daemon)
    alerts = to_operator(smtp_sink)
    assert len(alerts) == 1, [m.message["Subject"] for m in alerts]
    body = alerts[0].message.get_body(("plain",))
    assert body is not None and imap_account.username in body.get_content()
    assert imap_account.password not in daemon.log(), "never a password in the log"

    status, _ = daemon.terminate()
    assert status == 0


SLOW = {"poll_minutes": 60, "send_minutes": 60, "check_minutes": 60, "health_max_age_minutes": 120}
IDLING = "waiting for new mail (IDLE)"


def test_a_report_gets_its_receipt_in_seconds_while_the_daemon_idles(
    tmp_path: Path,
    make_config: Callable[..., Config],
    imap_account: Any,
    smtp_sink: SmtpSink,
    start_daemon: Callable[[Config], Daemon],
) -> None:
    # An hour between polls and sends: only IDLE can make the receipt come in seconds.
    config = make_config(write_roster(tmp_path / "roster"), schedule=SLOW)
    daemon = start_daemon(config)
    wait_until(lambda: IDLING in daemon.log(), "the watcher to enter IDLE", daemon=daemon)
    # The start-up poll and the one after IDLE began: the report below can only be read because of IDLE.
    wait_until(lambda: daemon.log().count("poll done") >= 2, "the start-up polls", daemon=daemon)
    message_id, raw = report_mail("idle")
    appended = time.monotonic()
    imap_account.server.seed(imap_account.username, raw)
    wait_until(lambda: replies_to(smtp_sink, message_id), "the receipt", timeout=10, daemon=daemon)
    latency = time.monotonic() - appended
    assert latency < 10, f"{latency:.1f} s"
    assert "new mail: reading it now" in daemon.log()

    status, seconds = daemon.terminate()
    assert status == 0, daemon.log()
    assert seconds < 5, "IDLE wakes up for SIGTERM"
    assert "Traceback" not in daemon.log()


def test_the_idle_watcher_reconnects_after_a_dovecot_restart(
    tmp_path: Path,
    own_dovecot: ImapAccount,
    make_config: Callable[..., Config],
    smtp_sink: SmtpSink,
    start_daemon: Callable[[Config], Daemon],
) -> None:
    server, user = own_dovecot.server, own_dovecot.username  # our own: it goes down in this test
    config = own_config(make_config, own_dovecot, write_roster(tmp_path / "roster"), SLOW)
    daemon = start_daemon(config)
    wait_until(lambda: IDLING in daemon.log(), "the watcher to enter IDLE", daemon=daemon)

    server.stop()  # idling clients get a BYE
    wait_until(
        lambda: "IDLE on the mailbox" in daemon.log() and "lost" in daemon.log(), "the watcher to notice", daemon=daemon
    )
    server.start()
    wait_until(
        lambda: "waiting for new mail (IDLE) again" in daemon.log(),
        "the watcher to reconnect",
        timeout=30,
        daemon=daemon,
    )

    message_id, raw = report_mail("after-restart")
    server.seed(user, raw)
    wait_until(lambda: replies_to(smtp_sink, message_id), "the receipt after the restart", timeout=10, daemon=daemon)
    assert raw in server.messages(user, "Processed")
    status, seconds = daemon.terminate()
    assert status == 0 and seconds < 5, daemon.log()
    assert "Traceback" not in daemon.log()

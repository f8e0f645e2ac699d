"""IMAP IDLE: ``Mailbox.wait_for_mail`` on a real Dovecot, and the daemon's watcher above it with fakes.

The daemon end to end (a receipt in seconds with an hour-long poll interval, a Dovecot restart during IDLE) is in
tests/test_daemon.py.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
from servers import ImapAccount
from test_scheduler import FakeService, make_test_config

from mailbot import scheduler
from mailbot.config import ImapSettings
from mailbot.mailbox import IDLE_TICK_SECONDS, Mailbox, MailboxUnavailable

RAW = b"From: dsp@example.com\r\nTo: ceg@example.com\r\nSubject: report\r\n\r\nbody\r\n"


def in_thread(target: Any) -> tuple[threading.Thread, list[Any]]:
    """Run ``target`` in a thread; its result or exception lands in the returned list."""
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(target())
        except BaseException as exc:  # handed to the test to assert on
            out.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


@pytest.fixture
def idling(imap_account: ImapAccount) -> Iterator[Mailbox]:
    with Mailbox(imap_account.settings) as box:
        assert box.has("IDLE")
        box.select("INBOX")
        yield box


# --- Mailbox.wait_for_mail on Dovecot ------------------------------------------------------------------------


@pytest.mark.servers
def test_new_mail_wakes_the_wait_within_a_second(idling: Mailbox, imap_account: ImapAccount) -> None:
    stop = threading.Event()
    thread, out = in_thread(lambda: idling.wait_for_mail(stop, renew=60))
    time.sleep(0.3)  # let it enter IDLE: the append must arrive while it idles, not before
    appended = time.monotonic()
    imap_account.server.seed(imap_account.username, RAW)
    thread.join(10)
    assert out == [True]
    assert time.monotonic() - appended < 2.0
    # The session is usable afterwards (DONE was sent): the poll's commands would work on it.
    assert len(idling.uids()) == 1


@pytest.mark.servers
def test_mail_that_came_between_two_waits_is_not_missed(idling: Mailbox, imap_account: ImapAccount) -> None:
    imap_account.server.seed(imap_account.username, RAW)  # after SELECT, before IDLE
    assert idling.wait_for_mail(threading.Event(), renew=5) is True


@pytest.mark.servers
def test_stop_ends_the_wait_within_a_tick_and_renew_reissues_idle(idling: Mailbox) -> None:
    stop = threading.Event()
    thread, out = in_thread(lambda: idling.wait_for_mail(stop, renew=600, tick=0.5))
    time.sleep(0.3)
    stopped = time.monotonic()
    stop.set()
    thread.join(5)
    assert out == [False] and time.monotonic() - stopped < 1.5
    # Nothing arrived: a short renew returns False, and IDLE can be entered again on the same session.
    assert idling.wait_for_mail(threading.Event(), renew=0.5, tick=0.2) is False
    assert idling.wait_for_mail(threading.Event(), renew=0.5, tick=0.2) is False


@pytest.mark.servers
@pytest.mark.slow
def test_a_server_restart_during_idle_raises_unavailable(own_dovecot: ImapAccount) -> None:
    server = own_dovecot.server  # our own: it goes down in this test
    with Mailbox(own_dovecot.settings_for("none")) as box:
        box.select("INBOX")
        thread, out = in_thread(lambda: box.wait_for_mail(threading.Event(), renew=60, tick=0.5))
        time.sleep(0.3)
        server.stop()  # Dovecot says BYE to idling clients rather than just closing
        thread.join(15)
        assert len(out) == 1 and isinstance(out[0], MailboxUnavailable), out
        assert f"127.0.0.1:{server.imap_port}" in str(out[0])


@pytest.mark.servers
def test_a_kicked_session_during_idle_raises_unavailable(idling: Mailbox, imap_account: ImapAccount) -> None:
    thread, out = in_thread(lambda: idling.wait_for_mail(threading.Event(), renew=60, tick=0.5))
    time.sleep(0.3)
    imap_account.server.kick(imap_account.username)
    thread.join(10)
    assert len(out) == 1 and isinstance(out[0], MailboxUnavailable), out


class SilentProxy:
    """A TCP relay to Dovecot that can go silent: ``silence()`` keeps every open connection open but passes nothing
    on either way, as a NAT or firewall that forgot the connection does (no FIN, no RST): the one drop a real server
    cannot show. Connections made after it pass again."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.idling = threading.Event()  # the server's "+ idling" passed
        self._open: list[tuple[socket.socket, socket.socket, threading.Event]] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            silent = threading.Event()
            self._open.append((client, upstream, silent))
            threading.Thread(target=self._pipe, args=(client, upstream, silent), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, silent), daemon=True).start()

    def _pipe(self, source: socket.socket, target: socket.socket, silent: threading.Event) -> None:
        while True:
            try:
                data = source.recv(65536)
                if not data:
                    return
                if silent.is_set():
                    continue  # swallowed: the other end hears nothing
                if b"+ idling" in data:
                    self.idling.set()
                target.sendall(data)
            except OSError:
                return

    def silence(self) -> None:
        for _, _, silent in self._open:
            silent.set()

    def close(self) -> None:
        self.listener.close()
        for client, upstream, _ in self._open:
            client.close()
            upstream.close()


@pytest.fixture
def silent_proxy(imap_account: ImapAccount) -> Iterator[SilentProxy]:
    proxy = SilentProxy(imap_account.server.imap_port)
    yield proxy
    proxy.close()


@pytest.mark.servers
def test_a_silently_dead_connection_is_noticed_and_reestablished_with_the_backoff(
    imap_account: ImapAccount, silent_proxy: SilentProxy
) -> None:
    # Times are inputs: a check every 0.5 s and a 1 s imap.timeout stand for the default 4 min and 60 s.
    settings = imap_account.settings_for("none", port=silent_proxy.port, timeout=1.0)
    stop = threading.Event()
    sessions: list[float] = []
    failures: list[tuple[int, float]] = []

    def delay(failure: int) -> float:
        failures.append((failure, time.monotonic()))
        return 0.0

    def on_new_mail() -> None:
        sessions.append(time.monotonic())
        if len(sessions) == 2:
            stop.set()  # back in IDLE on a new connection: done

    watcher = scheduler.IdleWatcher(settings, stop, on_new_mail=on_new_mail, delay=delay, check_every=0.5)
    watcher.start()
    try:
        assert silent_proxy.idling.wait(10), "the watcher entered IDLE"
        silent_proxy.silence()
        silenced = time.monotonic()
        watcher.join(15)
    finally:
        stop.set()
        watcher.join(5)
    assert [f for f, _ in failures] == [1], "one failure, with the poll's backoff"
    # Noticed within check + tick + timeout (0.5 + 1 + 1 s here; 4 min + 1 s + 60 s by default), with room for load.
    assert failures[0][1] - silenced < 2.5 + 2.0
    assert len(sessions) == 2 and watcher.sessions == 2, "a new connection, and the mail read after it"


def test_a_silent_drop_is_noticed_within_about_five_minutes_by_default(tmp_path: Path) -> None:
    stop = threading.Event()
    box = FakeBox([[False]], stop)
    config = make_test_config(tmp_path)
    run_watcher(box, stop, tmp_path)
    # Each wait ends IDLE for a DONE + NOOP round trip after `renew`; a dead connection fails it within imap.timeout.
    assert box.renews and all(r == box.renews[0] for r in box.renews)
    assert box.renews[0] + IDLE_TICK_SECONDS + config.imap.timeout <= 5 * 60 + 1  # 4 min + 1 s + 60 s
    assert box.renews[0] < 30 * 60, "IDLE is also re-issued within RFC 2177's 30 minutes"


# --- the watcher, with a fake mailbox ------------------------------------------------------------------------


class FakeBox:
    """A scripted IDLE session: ``script`` holds, per connection, an exception to raise on connect or a list of
    wait results (True = new mail); a list runs out into waiting for stop."""

    def __init__(
        self, script: list[Exception | list[bool | Exception]], stop: threading.Event, idle: bool = True
    ) -> None:
        self.script = script
        self.stop = stop
        self.idle = idle
        self.connections = 0
        self.results: list[bool | Exception] = []
        self.renews: list[float] = []  # the renew each wait was given
        self.where = "IMAP fake:143"

    def __call__(self, _settings: ImapSettings) -> FakeBox:
        self.connections += 1
        step: Exception | list[bool | Exception] = self.script.pop(0) if self.script else []
        if isinstance(step, Exception):
            raise step
        self.results = list(step)
        return self

    def __enter__(self) -> FakeBox:
        return self

    def __exit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        pass

    def has(self, capability: str) -> bool:
        return capability != "IDLE" or self.idle

    def select(self, folder: str) -> int:
        return 1

    def wait_for_mail(self, stop: threading.Event, *, renew: float) -> bool:
        self.renews.append(renew)
        if self.results:
            result = self.results.pop(0)
            if isinstance(result, Exception):
                raise result
            return bool(result)
        if not self.script:
            stop.set()  # the script is done: end the watcher
        return False


def run_watcher(
    box: FakeBox, stop: threading.Event, tmp_path: Path
) -> tuple[scheduler.IdleWatcher, list[str], list[int]]:
    triggers: list[str] = []
    delays: list[int] = []

    def delay(failures: int) -> float:
        delays.append(failures)
        return 0.0

    watcher = scheduler.IdleWatcher(
        make_test_config(tmp_path).imap, stop, on_new_mail=lambda: triggers.append("poll"), delay=delay, mailbox=box
    )
    watcher.start()
    watcher.join(10)
    assert not watcher._thread.is_alive()
    return watcher, triggers, delays


def test_a_server_without_idle_leaves_reading_to_the_poll_interval(tmp_path: Path) -> None:
    stop = threading.Event()
    box = FakeBox([[]], stop, idle=False)
    watcher, triggers, delays = run_watcher(box, stop, tmp_path)
    assert watcher.offered is False
    assert triggers == [] and delays == [] and box.connections == 1, "no reconnecting, no extra polls"
    assert not stop.is_set(), "the daemon keeps running on its poll interval"


def test_each_new_mail_and_each_new_session_triggers_a_poll(tmp_path: Path) -> None:
    stop = threading.Event()
    box = FakeBox([[False, True, True]], stop)
    watcher, triggers, _ = run_watcher(box, stop, tmp_path)
    # One for the session (mail may have come before IDLE began), one per EXISTS; a renewal (False) none.
    assert triggers == ["poll"] * 3
    assert watcher.sessions == 1


def test_a_dropped_connection_reconnects_with_the_poll_backoff_and_polls_after(tmp_path: Path) -> None:
    stop = threading.Event()
    down = MailboxUnavailable("IMAP fake:143: IDLE: the server ended the session: Server shutting down.")
    refused = MailboxUnavailable("IMAP fake:143: connect: connection refused")
    box = FakeBox([[down], refused, [True]], stop)
    watcher, triggers, delays = run_watcher(box, stop, tmp_path)
    assert delays == [1, 2], "consecutive failures back off like the poll"
    assert box.connections == 3
    assert watcher.sessions == 2
    assert triggers == ["poll", "poll", "poll"]  # session 1, session 2 (catch up), its new mail


# --- the daemon wiring ---------------------------------------------------------------------------------------


def test_imap_idle_is_on_by_default_and_false_turns_the_watcher_off(tmp_path: Path) -> None:
    on = scheduler.Daemon(make_test_config(tmp_path, idle=None), FakeService(), rng=random.Random(1))
    assert on.config.imap.idle is True and on.watcher is not None
    off = scheduler.Daemon(make_test_config(tmp_path, idle=False), FakeService())
    assert off.watcher is None


def test_new_mail_runs_poll_then_send_even_while_a_poll_runs(tmp_path: Path) -> None:
    """A trigger during the interval poll queues one more pass behind it (one job at a time), not dropped."""
    service = FakeService()
    daemon = scheduler.Daemon(
        make_test_config(tmp_path, poll_minutes=60, send_minutes=60, check_minutes=60), service, rng=random.Random(1)
    )
    release = threading.Event()
    running = threading.Event()
    overlapping: list[bool] = []
    busy = threading.Lock()

    def slow_poll() -> str:
        overlapping.append(not busy.acquire(blocking=False))
        running.set()
        release.wait(5)
        busy.release()
        return "polled"

    service.on_poll = slow_poll
    daemon.scheduler.start(paused=True)
    for job_id in ("send", "check", "summary"):
        daemon.scheduler.pause_job(job_id)  # only the start-up poll and what the triggers add
    daemon.scheduler.resume()
    try:
        assert running.wait(5), "the start-up poll"
        daemon.poll_now()
        daemon.poll_now()  # a second trigger while one waits: covered by the waiting one
        release.set()
        deadline = time.monotonic() + 5
        while service.calls != ["poll", "send", "poll", "send"] and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)  # room for a wrong third pass to show up
    finally:
        daemon.shutdown()
    assert service.calls == ["poll", "send", "poll", "send"]
    assert overlapping and not any(overlapping), "never two jobs at once"


def test_without_idle_the_daemon_keeps_polling_on_its_interval(tmp_path: Path) -> None:
    service = FakeService()
    stop = service.stop
    box = FakeBox([[]], stop, idle=False)
    daemon = scheduler.Daemon(make_test_config(tmp_path, idle=True), service, rng=random.Random(1), idle_mailbox=box)
    daemon.start()
    try:
        assert daemon.watcher is not None
        daemon.watcher.join(5)
        assert daemon.watcher.offered is False
        assert service.polled.wait(5), "the start-up poll"
        poll = daemon.scheduler.get_job("poll")
        assert poll is not None and poll.trigger.interval.total_seconds() == 5 * 60
    finally:
        daemon.shutdown()
    assert box.connections == 1, "asked once, not again and again"

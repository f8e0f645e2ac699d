"""The daemon's logic without mail servers: backoff, job options, each job's errors, lock, signals, health.

A fake service stands in for ``mailbot.service.Mailbot``; jobs are called directly or the scheduler runs
paused, so nothing here waits for the wall clock.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from mailbot import health as health_module
from mailbot import scheduler
from mailbot.config import Config, ConfigError, parse_config
from mailbot.lock import AlreadyRunning, DatabaseLock, lock_path_for
from mailbot.mailbox import MailboxAuthError, MailboxUnavailable
from mailbot.outbox import SendReport
from mailbot.smtp import SmtpAuthError, SmtpError


def make_test_config(tmp_path: Path, idle: bool | None = False, **schedule: Any) -> Config:
    """``idle`` is off unless asked for: these tests have no IMAP server (None: the key left out)."""
    imap: dict[str, Any] = {"host": "127.0.0.1", "username": "ceg", "password_env": "UNUSED", "security": "none"}
    if idle is not None:
        imap["idle"] = idle
    data = {
        "mailbot": {"database": str(tmp_path / "mailbot.db")},
        "roster": {"path": str(tmp_path / "roster.xlsx")},
        "imap": imap,
        "smtp": {"host": "127.0.0.1", "from_address": "mailbot@ceg.example", "security": "none"},
        "ceg": {"addresses": ["jsk@ceg.example"], "operator": "ops@ceg.example"},
        "calendar": {"timezone": "Asia/Kolkata", "summary_weekday": "tuesday", "summary_time": "10:00"},
        "schedule": {
            "poll_minutes": 5,
            "send_minutes": 7,
            "check_minutes": 30,
            "misfire_grace_seconds": 7200,
            **schedule,
        },
    }
    return parse_config(data, tmp_path)


class FakeService:
    """Records calls; each method's behaviour can be replaced by a callable (raise to simulate a fault)."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.calls: list[str] = []
        self.alerts: list[tuple[str, str]] = []
        self.closed = False
        self.on_poll: Callable[[], Any] = lambda: "polled"
        self.on_send: Callable[[], Any] = lambda: "sent"
        self.on_check: Callable[[], Any] = lambda: "checked"
        self.polled = threading.Event()
        self.held = False

    def poll(self, progress: Callable[[int, int], None] | None = None) -> Any:
        self.calls.append("poll")
        try:
            return self.on_poll()
        finally:
            self.polled.set()

    def send(self) -> Any:
        self.calls.append("send")
        return self.on_send()

    def check(self, now: datetime | None = None) -> Any:
        self.calls.append("check")
        return self.on_check()

    def alert_operator(self, problem: str, detail: str) -> bool:
        self.alerts.append((problem, detail))
        return True

    def oldest_unsent(self) -> tuple[int, datetime | None]:
        return 0, None

    def last_successful_poll(self) -> datetime | None:
        return None

    def held_steps(self) -> tuple[datetime, int, str] | None:
        return None

    def sending_refused(self) -> str | None:
        return None

    def holding(self) -> bool:
        return self.held

    def close(self) -> None:
        self.closed = True


def raising(exc: Exception) -> Callable[[], Any]:
    def fail() -> Any:
        raise exc

    return fail


@pytest.fixture
def daemon(tmp_path: Path) -> Any:
    service = FakeService()
    d = scheduler.Daemon(make_test_config(tmp_path), service, rng=random.Random(7))
    d.scheduler.start(paused=True)  # real jobs in the job store, none of them run
    yield d
    d.scheduler.shutdown(wait=False)


# --- backoff ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("failures", range(1, 12))
def test_backoff_stays_within_equal_jitter_bounds(failures: int) -> None:
    base, cap = 5.0, 300.0
    ceiling = min(cap, base * 2 ** (failures - 1))
    values = [scheduler.backoff_delay(failures, base=base, cap=cap, rng=random.Random(s)) for s in range(200)]
    assert all(ceiling / 2 <= v <= ceiling for v in values)
    assert max(values) - min(values) > ceiling / 4, "jitter should spread retries"


def test_backoff_doubles_then_caps_and_survives_huge_counts() -> None:
    def top(n: int) -> float:
        return scheduler.backoff_delay(n, base=5, cap=300, rng=_MaxRandom())

    assert [top(n) for n in range(1, 9)] == [5, 10, 20, 40, 80, 160, 300, 300]
    assert top(10_000) == 300
    assert scheduler.backoff_delay(0, base=5, cap=300) == 0


class _MaxRandom(random.Random):
    def uniform(self, a: float, b: float) -> float:
        return b


# --- job options --------------------------------------------------------------------------------------------


def test_job_options_keep_missed_jobs_and_never_overlap(tmp_path: Path) -> None:
    options = scheduler.job_options(make_test_config(tmp_path).schedule)
    assert options == {"max_instances": 1, "coalesce": True, "misfire_grace_time": 7200}


def test_default_misfire_grace_covers_a_night_asleep(tmp_path: Path) -> None:
    config = parse_config(
        {
            "roster": {"path": "r.xlsx"},
            "imap": {"host": "localhost", "username": "u", "password_env": "X", "security": "none"},
            "smtp": {"host": "localhost", "from_address": "a@b.example", "security": "none"},
            "ceg": {"addresses": ["c@d.example"]},
        },
        tmp_path,
    )
    assert scheduler.job_options(config.schedule)["misfire_grace_time"] >= 3600


def test_jobs_intervals_options_and_timezone(daemon: scheduler.Daemon) -> None:
    jobs = {job.id: job for job in daemon.scheduler.get_jobs()}
    assert set(jobs) == {"poll", "send", "check", "summary"}
    for job in jobs.values():
        assert (job.max_instances, job.coalesce, job.misfire_grace_time) == (1, True, 7200), job.id
    assert isinstance(jobs["poll"].trigger, IntervalTrigger)
    assert jobs["poll"].trigger.interval == timedelta(minutes=5)
    assert jobs["send"].trigger.interval == timedelta(minutes=7)
    assert jobs["check"].trigger.interval == timedelta(minutes=30)
    summary = jobs["summary"].trigger
    assert isinstance(summary, CronTrigger)
    assert str(summary.timezone) == "Asia/Kolkata"
    fields = {f.name: str(f) for f in summary.fields}
    assert (fields["day_of_week"], fields["hour"], fields["minute"]) == ("1", "10", "0")
    assert daemon.scheduler.timezone == ZoneInfo("Asia/Kolkata")
    # One worker: jobs serialise, so they never meet in the database.
    assert daemon.scheduler._executors["default"]._pool._max_workers == 1


def test_poll_and_check_run_at_start(daemon: scheduler.Daemon) -> None:
    now = datetime.now(UTC)
    jobs = {job.id: job for job in daemon.scheduler.get_jobs()}
    assert jobs["poll"].next_run_time <= now + timedelta(seconds=1)
    assert jobs["check"].next_run_time <= now + timedelta(seconds=2)


# --- what each job does with failures -----------------------------------------------------------------------


def test_poll_then_send(daemon: scheduler.Daemon) -> None:
    daemon.poll_job()
    service = daemon.mailbot
    assert isinstance(service, FakeService)
    assert service.calls == ["poll", "send"]


def test_unavailable_mailbox_schedules_an_earlier_retry_then_clears_it(daemon: scheduler.Daemon) -> None:
    service = daemon.mailbot
    assert isinstance(service, FakeService)
    service.on_poll = raising(MailboxUnavailable("connection refused"))
    before = datetime.now(UTC)
    daemon.poll_job()
    retry = daemon.scheduler.get_job("poll-retry")
    assert retry is not None and isinstance(retry.trigger, DateTrigger)
    delay = (retry.next_run_time - before).total_seconds()
    assert 2.5 - 0.5 <= delay <= 5 + 0.5  # first failure: [base/2, base]
    assert service.calls == ["poll", "send"], "queued replies still go out while the mailbox is down"

    for _ in range(8):
        daemon.poll_job()
    retry = daemon.scheduler.get_job("poll-retry")
    assert retry is not None
    left = (retry.next_run_time - datetime.now(UTC)).total_seconds()
    assert left <= 5 * 60 + 1, "capped at the poll interval"
    assert len([j for j in daemon.scheduler.get_jobs() if j.id == "poll-retry"]) == 1

    service.on_poll = lambda: "ok"
    daemon.poll_job()
    assert daemon.scheduler.get_job("poll-retry") is None
    assert service.alerts == []


def test_refused_login_alerts_the_operator_and_does_not_hammer(daemon: scheduler.Daemon) -> None:
    service = daemon.mailbot
    assert isinstance(service, FakeService)
    service.on_poll = raising(MailboxAuthError("AUTHENTICATIONFAILED"))
    daemon.poll_job()
    assert [p for p, _ in service.alerts] == ["imap-auth"]
    assert "ceg@127.0.0.1" in service.alerts[0][1]
    assert daemon.scheduler.get_job("poll-retry") is None
    assert service.calls == ["poll", "send"], "the alert goes out at once"


def test_unreadable_secret_is_treated_like_a_refused_login(
    daemon: scheduler.Daemon, caplog: pytest.LogCaptureFixture
) -> None:
    service = daemon.mailbot
    assert isinstance(service, FakeService)
    service.on_poll = raising(ConfigError("imap.password_env: environment variable X is not set or empty"))
    with caplog.at_level(logging.ERROR, logger="mailbot.scheduler"):
        daemon.poll_job()
    assert [p for p, _ in service.alerts] == ["imap-auth"]
    assert any(r.levelno == logging.ERROR and "cannot log in" in r.getMessage() for r in caplog.records)


def test_mailbox_down_longer_than_the_health_limit_alerts_the_operator(tmp_path: Path) -> None:
    service = FakeService()
    service.on_poll = raising(MailboxUnavailable("connection refused"))
    clock = [1000.0]
    config = make_test_config(tmp_path, health_max_age_minutes=30)
    d = scheduler.Daemon(config, service, monotonic=lambda: clock[0])
    d.scheduler.start(paused=True)
    try:
        d.poll_job()
        clock[0] += 29 * 60
        d.poll_job()
        assert service.alerts == []
        clock[0] += 2 * 60
        d.poll_job()
    finally:
        d.scheduler.shutdown(wait=False)
    assert [p for p, _ in service.alerts] == ["imap-unavailable"]
    assert "31 minutes" in service.alerts[0][1]


def test_unexpected_errors_are_logged_with_traceback_and_swallowed(
    daemon: scheduler.Daemon, caplog: pytest.LogCaptureFixture
) -> None:
    service = daemon.mailbot
    assert isinstance(service, FakeService)
    service.on_poll = raising(RuntimeError("bug in poll"))
    service.on_check = raising(ValueError("bug in check"))
    service.on_send = raising(KeyError("bug in send"))
    with caplog.at_level(logging.ERROR, logger="mailbot.scheduler"):
        daemon.poll_job()
        daemon.check_job()
        daemon.send_job()
    failed = [r for r in caplog.records if r.exc_info]
    assert len(failed) == 5  # poll, its send; check, its send; send
    assert {type(r.exc_info[1]) for r in failed if r.exc_info} == {RuntimeError, ValueError, KeyError}


def test_unreachable_smtp_server_retries_with_backoff(daemon: scheduler.Daemon) -> None:
    service = daemon.mailbot
    assert isinstance(service, FakeService)
    service.on_send = raising(SmtpError("connection refused"))
    daemon.send_job()
    assert daemon.scheduler.get_job("send-retry") is not None
    service.on_send = lambda: "sent"
    daemon.send_job()
    assert daemon.scheduler.get_job("send-retry") is None


def test_a_good_poll_after_held_steps_checks_at_once(daemon: scheduler.Daemon) -> None:
    service = daemon.mailbot
    assert isinstance(service, FakeService)
    daemon.poll_job()
    assert service.calls == ["poll", "send"]
    service.calls.clear()
    service.held = True  # the last check held overdue notices while the mailbox could not be read
    daemon.poll_job()
    assert service.calls == ["poll", "check", "send"]
    service.calls.clear()
    service.on_poll = raising(MailboxAuthError("login refused"))
    daemon.poll_job()  # still unread: nothing to check yet
    assert service.calls == ["poll", "send"]


def test_a_send_pass_with_nothing_due_does_not_claim_the_server_is_back(
    daemon: scheduler.Daemon, caplog: pytest.LogCaptureFixture
) -> None:
    # After a failure the emails back off; the retry minutes later finds none due and never connects.
    service = daemon.mailbot
    assert isinstance(service, FakeService)
    service.on_send = raising(SmtpError("connection refused"))
    daemon.send_job()
    service.on_send = lambda: SendReport(waiting=3)  # nothing due: nothing was sent, nothing connected
    with caplog.at_level(logging.INFO, logger="mailbot.scheduler"):
        daemon.send_job()
    assert not any("reachable again" in r.getMessage() for r in caplog.records)
    service.on_send = lambda: SendReport(sent=3)
    with caplog.at_level(logging.INFO, logger="mailbot.scheduler"):
        daemon.send_job()
    assert any("reachable again" in r.getMessage() for r in caplog.records)
    assert daemon.scheduler.get_job("send-retry") is None


def test_refused_smtp_login_is_logged_without_fast_retries(
    daemon: scheduler.Daemon, caplog: pytest.LogCaptureFixture
) -> None:
    service = daemon.mailbot
    assert isinstance(service, FakeService)
    refused = "SMTP login refused for ceg on smtp.example:465: 535 authentication failed"
    service.on_send = raising(SmtpAuthError(refused))
    with caplog.at_level(logging.ERROR, logger="mailbot.scheduler"):
        daemon.send_job()
    assert daemon.scheduler.get_job("send-retry") is None
    assert any(r.getMessage() == f"{refused}; outgoing mail waits in the outbox" for r in caplog.records)


def test_nothing_runs_once_stopping(daemon: scheduler.Daemon) -> None:
    service = daemon.mailbot
    assert isinstance(service, FakeService)
    service.stop.set()
    daemon.poll_job()
    daemon.check_job()
    daemon.send_job()
    assert service.calls == []


# --- run_daemon: lifetime, lock, signals --------------------------------------------------------------------


def test_run_daemon_stops_on_request_and_releases_everything(tmp_path: Path) -> None:
    config = make_test_config(tmp_path)
    service = FakeService()
    stop = threading.Event()
    result: list[int] = []
    thread = threading.Thread(
        target=lambda: result.append(
            scheduler.run_daemon(config, mailbot_factory=lambda _c: service, install_signal_handlers=False, stop=stop)
        )
    )
    thread.start()
    try:
        assert service.polled.wait(10), "the first poll runs at start"
        with pytest.raises(AlreadyRunning) as refused:
            DatabaseLock(config.database).acquire()
        assert str(config.database) in str(refused.value)
        assert f"PID {os.getpid()}" in str(refused.value)
    finally:
        stop.set()
        thread.join(10)
    assert result == [0]
    assert service.closed and service.stop.is_set()
    with DatabaseLock(config.database):  # released
        pass


def test_second_daemon_on_the_same_database_is_refused(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = make_test_config(tmp_path)
    built: list[FakeService] = []

    def factory(_config: Config) -> FakeService:
        built.append(FakeService())
        return built[-1]

    with DatabaseLock(config.database), caplog.at_level(logging.ERROR, logger="mailbot.scheduler"):
        status = scheduler.run_daemon(config, mailbot_factory=factory, install_signal_handlers=False)
    assert status == scheduler.EXIT_ALREADY_RUNNING
    assert built == [], "refused before touching the database"
    message = caplog.records[-1].getMessage()
    assert str(config.database) in message and f"PID {os.getpid()}" in message


def test_sigterm_finishes_the_job_in_hand_and_returns_zero(tmp_path: Path) -> None:
    config = make_test_config(tmp_path)
    service = FakeService()
    seen_stop_during_poll: list[bool] = []

    def poll_then_get_terminated() -> str:
        os.kill(os.getpid(), signal.SIGTERM)
        # The job in hand keeps going until it checks mailbot.stop (the service does so after each message).
        seen_stop_during_poll.append(service.stop.wait(10))
        return "polled"

    service.on_poll = poll_then_get_terminated
    before = signal.getsignal(signal.SIGTERM)
    status = scheduler.run_daemon(config, mailbot_factory=lambda _c: service)
    assert status == 0
    assert seen_stop_during_poll == [True]
    assert service.calls == ["poll"], "no send or check after the stop request"
    assert service.closed
    assert signal.getsignal(signal.SIGTERM) is before


# --- lock ---------------------------------------------------------------------------------------------------


def test_lock_names_database_and_pid_and_dies_with_its_process(tmp_path: Path) -> None:
    database = tmp_path / "mailbot.db"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, pathlib; from mailbot.lock import DatabaseLock; "
            f"lock = DatabaseLock(pathlib.Path({str(database)!r})); lock.acquire(); print('held', flush=True); "
            "sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        with pytest.raises(AlreadyRunning) as refused:
            DatabaseLock(database).acquire()
        assert refused.value.pid == holder.pid
        assert str(database) in str(refused.value) and f"PID {holder.pid}" in str(refused.value)
    finally:
        holder.kill()  # no clean release: the kernel drops the flock with the process
        holder.wait(10)
        if holder.stdin is not None:
            holder.stdin.close()
        if holder.stdout is not None:
            holder.stdout.close()
    with DatabaseLock(database) as lock:
        assert lock.held
        assert lock_path_for(database).read_text() == f"{os.getpid()}\n"


# --- health -------------------------------------------------------------------------------------------------


NOW = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)


def test_health_judges_the_heartbeat() -> None:
    limit = timedelta(minutes=30)
    assert health_module.judge(None, NOW, limit)[0] is False
    assert health_module.judge(NOW - timedelta(minutes=5), NOW, limit)[0] is True
    ok, message = health_module.judge(NOW - timedelta(minutes=45), NOW, limit)
    assert not ok and "45 min" in message and "30 min" in message
    assert health_module.judge((NOW - timedelta(minutes=5)).replace(tzinfo=None), NOW, limit)[0] is True


def test_health_without_a_database_is_unhealthy(tmp_path: Path) -> None:
    ok, message = health_module.health(make_test_config(tmp_path), NOW)
    assert not ok and "no database" in message


def test_health_asks_the_service_for_the_heartbeat(tmp_path: Path) -> None:
    config = make_test_config(tmp_path, health_max_age_minutes=10)
    config.database.touch()

    class Beat(FakeService):
        def last_successful_poll(self) -> datetime | None:
            return NOW - timedelta(minutes=11)

    beat = Beat()
    ok, message = health_module.health(config, NOW, mailbot_factory=lambda _c: beat)
    assert not ok and "11 min" in message and beat.closed
    ok, _ = health_module.health(config, NOW + timedelta(minutes=-2), mailbot_factory=lambda _c: Beat())
    assert ok


def test_health_fails_when_mail_cannot_be_delivered_for_hours(tmp_path: Path) -> None:
    config = make_test_config(tmp_path, health_max_age_minutes=10)
    config.database.touch()

    class Stuck(FakeService):
        def last_successful_poll(self) -> datetime | None:
            return NOW - timedelta(minutes=1)

        def oldest_unsent(self) -> tuple[int, datetime | None]:
            return 7, NOW - timedelta(hours=4)

    ok, message = health_module.health(config, NOW, mailbot_factory=lambda _c: Stuck())
    assert not ok and "7 email(s) waiting in the outbox" in message and "SMTP" in message


def test_health_fails_while_a_check_holds_missing_notices_back(tmp_path: Path) -> None:
    config = make_test_config(tmp_path, health_max_age_minutes=10)
    config.database.touch()

    class Held(FakeService):
        def last_successful_poll(self) -> datetime | None:
            return NOW - timedelta(minutes=1)  # polling, yet the notices wait (a read that ended too early)

        def held_steps(self) -> tuple[datetime, int, str] | None:
            return NOW - timedelta(minutes=3), 12, "the mailbox has never been read completely"

    ok, message = health_module.health(config, NOW, mailbot_factory=lambda _c: Held())
    assert not ok and "12 email(s)" in message and "never been read completely" in message

"""``mailbot run``: APScheduler wiring around the service's poll / send / check.

Jobs run one at a time on a single worker thread, so they never meet in the database. Every job swallows and
logs its own failures: the daemon stops on SIGTERM/SIGINT (or ``stop``), never because a server misbehaved.

    poll     every schedule.poll_minutes, then send; a failed pass retries sooner (backoff with jitter)
    send     every schedule.send_minutes (replies also go right after each poll and check)
    check    every schedule.check_minutes (catch-up: exact times are unimportant), then send
    summary  at calendar.summary_weekday/summary_time, a check + send so the summary is not up to an hour late
    idle     not a job: a thread waiting in IMAP IDLE on a second connection (imap.idle, where the server offers
             it) runs poll + send as soon as mail arrives; the poll interval stays as the safety net
"""

from __future__ import annotations

import logging
import os
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import FrameType, TracebackType
from typing import Any, Protocol

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from mailbot.backoff import doubling
from mailbot.config import Config, ConfigError, ImapSettings, ScheduleSettings
from mailbot.lock import AlreadyRunning, DatabaseLock
from mailbot.mailbox import IDLE_RENEW_SECONDS, Mailbox, MailboxAuthError, MailboxError, MailboxUnavailable
from mailbot.smtp import SmtpAuthError, SmtpError

log = logging.getLogger(__name__)

RETRY_BASE_SECONDS = 5.0  # first retry in 2.5-5 s, then doubling up to the job's own interval
EXIT_OK = 0
EXIT_ALREADY_RUNNING = 3


class Service(Protocol):
    """What the daemon needs from ``mailbot.service.Mailbot``."""

    stop: threading.Event

    def poll(self, progress: Callable[[int, int], None] | None = None) -> Any: ...
    def send(self) -> Any: ...
    def check(self, now: datetime | None = None) -> Any: ...
    def alert_operator(self, problem: str, detail: str) -> bool: ...
    def holding(self) -> bool: ...
    def close(self) -> None: ...


class IdleMailbox(Protocol):
    """What the IDLE watcher needs from ``mailbot.mailbox.Mailbox``."""

    @property
    def where(self) -> str: ...
    def __enter__(self) -> IdleMailbox: ...
    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...
    def has(self, capability: str) -> bool: ...
    def select(self, folder: str) -> int: ...
    def wait_for_mail(self, stop: threading.Event, *, renew: float) -> bool: ...


def backoff_delay(failures: int, *, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Seconds to wait after ``failures`` consecutive failures (1 = the first).

    Exponential with "equal jitter": uniformly in [d/2, d] where d = min(cap, base * 2**(failures-1)). Half is
    fixed so a retry never comes at once; half is random so restarted peers do not retry in lock-step.
    """
    if failures < 1:
        return 0.0
    ceiling = doubling(failures, base, cap)
    jitter = (rng or random).uniform(0.0, ceiling / 2.0)
    return ceiling / 2.0 + jitter


def job_options(schedule: ScheduleSettings) -> dict[str, Any]:
    """Options every job gets. APScheduler's default misfire grace (1 s) silently drops a job that fell due
    while the machine slept; ours runs it (once, coalesced) when it wakes."""
    return {
        "max_instances": 1,
        "coalesce": True,
        "misfire_grace_time": int(schedule.misfire_grace_seconds),
    }


@dataclass
class _Retry:
    """Consecutive failures of one kind of job, and since when (monotonic) it has been failing."""

    failures: int = 0
    since: float | None = None

    def failed(self, now: float) -> int:
        self.failures += 1
        if self.since is None:
            self.since = now
        return self.failures

    def succeeded(self) -> bool:
        was_failing = self.failures > 0
        self.failures, self.since = 0, None
        return was_failing


class Daemon:
    """The jobs and their error handling; ``run_daemon`` adds the lock, signals and lifetime."""

    def __init__(
        self,
        config: Config,
        mailbot: Service,
        *,
        rng: random.Random | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        idle_mailbox: Callable[[ImapSettings], IdleMailbox] = Mailbox,
    ) -> None:
        self.config = config
        self.mailbot = mailbot
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self.monotonic = monotonic  # measures how long a server has been down; a test passes a fake
        self.scheduler = BackgroundScheduler(
            timezone=config.calendar.timezone,
            executors={"default": ThreadPoolExecutor(max_workers=1)},
            job_defaults=job_options(config.schedule),
        )
        self._poll_retry = _Retry()
        self._send_retry = _Retry()
        # Guards adding/removing retry jobs against shutdown: shutdown holds the scheduler's job store lock
        # while it waits for the running job, so a job adding a retry after that point would deadlock.
        self._jobs_lock = threading.Lock()
        self._closing = False
        self._poll_now_waiting = False
        self._add_jobs()
        self.watcher: IdleWatcher | None = None
        if config.imap.idle:
            self.watcher = IdleWatcher(
                config.imap,
                mailbot.stop,
                on_new_mail=self.poll_now,
                delay=lambda failures: self._delay(failures, _seconds(config.schedule.poll_minutes)),
                mailbox=idle_mailbox,
            )

    # --- wiring ---------------------------------------------------------------------------------------------

    def _add_jobs(self) -> None:
        schedule, calendar = self.config.schedule, self.config.calendar
        tz = calendar.timezone
        now = datetime.now(tz)
        add = self.scheduler.add_job
        add(
            self.poll_job,
            IntervalTrigger(seconds=_seconds(schedule.poll_minutes), timezone=tz),
            id="poll",
            name="poll",
            next_run_time=now,
        )
        add(
            self.send_job, IntervalTrigger(seconds=_seconds(schedule.send_minutes), timezone=tz), id="send", name="send"
        )
        # At start too: a reminder due while the daemon was down goes out now, not an hour later.
        add(
            self.check_job,
            IntervalTrigger(seconds=_seconds(min(schedule.check_minutes, 60.0)), timezone=tz),
            id="check",
            name="check",
            next_run_time=now + timedelta(seconds=1),
        )
        add(
            self.check_job,
            CronTrigger(
                day_of_week=calendar.summary_weekday,
                hour=calendar.summary_time.hour,
                minute=calendar.summary_time.minute,
                timezone=tz,
            ),
            id="summary",
            name="weekly summary check",
        )

    # --- jobs -----------------------------------------------------------------------------------------------

    def poll_job(self) -> None:
        if self.mailbot.stop.is_set():
            return
        interval = _seconds(self.config.schedule.poll_minutes)
        try:
            report = self.mailbot.poll(progress=_progress_logger())
        except (MailboxAuthError, ConfigError) as exc:
            # A refused login or an unreadable secret: retrying sooner would not fix it and may lock the
            # account, so keep the interval and tell the operator (the service sends it at most once a day).
            account = self.config.imap.account
            if not isinstance(exc, MailboxAuthError):  # Mailbot.poll logs a refused login itself
                log.error("cannot log in to the mailbox %s: %s", account, exc)
            self._alert(
                "imap-auth",
                f"mailbot cannot log in to the mailbox {account}: {exc}. "
                "Reports are not being read until the password or app password is fixed.",
            )
        except MailboxUnavailable as exc:
            failures = self._poll_retry.failed(self.monotonic())
            delay = self._delay(failures, interval)
            log.warning(
                "mailbox %s unavailable (failure %d): %s; retrying in %.1f s",
                self.config.imap.account,
                failures,
                exc,
                delay,
            )
            self._schedule_retry("poll-retry", self.poll_job, delay)
            self._alert_if_down_too_long(exc)
        except Exception:
            log.exception("poll failed unexpectedly; the daemon continues")
        else:
            if self._poll_retry.succeeded():
                log.info("mailbox %s reachable again", self.config.imap.account)
                self._cancel_retry("poll-retry")
            log.debug("poll done: %s", report)  # Mailbot.poll logs it at INFO
            if self.mailbot.holding():
                # The last check held steps for want of a fresh read; this pass is one: send what is still due
                # now rather than at the next hourly check (it also sends the replies below).
                log.info("the mailbox has been read again: checking what the last check held")
                self.check_job()
                return
        # The operator alert above, and the replies to what was just ingested, go out now.
        self.send_job()

    def poll_now(self) -> None:
        """Poll (then send) as soon as the worker is free: the IDLE watcher saw new mail.

        Its own job, so a trigger while the interval poll runs waits behind it (the single worker runs one job
        at a time) instead of being dropped as "already running". While one such pass waits, more triggers
        add nothing: it has not read the inbox yet, so it will see their mail too.
        """
        with self._jobs_lock:
            if self._closing or self._poll_now_waiting:
                return
            self._poll_now_waiting = True
            self.scheduler.add_job(
                self._poll_now_job,
                DateTrigger(datetime.now(self.config.calendar.timezone)),
                id="poll-now",
                name="poll (new mail)",
                replace_existing=True,
                max_instances=2,
            )

    def _poll_now_job(self) -> None:
        self._poll_now_waiting = False  # from here on, new mail needs another pass
        self.poll_job()

    def send_job(self) -> None:
        if self.mailbot.stop.is_set():
            return
        interval = _seconds(self.config.schedule.send_minutes)
        try:
            report = self.mailbot.send()
        except SmtpAuthError as exc:
            # Fast retries would not fix a password and may lock the account; mail waits in the outbox.
            log.error("%s; outgoing mail waits in the outbox", exc)  # names the account and the server
        except SmtpError as exc:
            failures = self._send_retry.failed(self.monotonic())
            delay = self._delay(failures, interval)
            log.warning(
                "SMTP server %s:%d unavailable (failure %d): %s; retrying in %.1f s",
                self.config.smtp.host,
                self.config.smtp.port,
                failures,
                exc,
                delay,
            )
            self._schedule_retry("send-retry", self.send_job, delay)
        except Exception:
            log.exception("send failed unexpectedly; the daemon continues")
        else:
            # With nothing due a pass never connects: only one that talked to the server shows it is back.
            if getattr(report, "attempted", True) and self._send_retry.succeeded():
                log.info("SMTP server %s:%d reachable again", self.config.smtp.host, self.config.smtp.port)
                self._cancel_retry("send-retry")
            log.debug("send done: %s", report)

    def check_job(self) -> None:
        if self.mailbot.stop.is_set():
            return
        try:
            report = self.mailbot.check()
        except Exception:
            log.exception("check failed unexpectedly; the daemon continues")
        else:
            log.info("check done: %s", report)
        self.send_job()

    # --- helpers --------------------------------------------------------------------------------------------

    def _delay(self, failures: int, interval: float) -> float:
        return backoff_delay(failures, base=min(RETRY_BASE_SECONDS, interval), cap=interval, rng=self.rng)

    def _alert(self, problem: str, detail: str) -> None:
        try:
            if self.mailbot.alert_operator(problem, detail):
                log.info("operator alert %r queued for %s", problem, self.config.operator_address)
        except Exception:
            log.exception("could not queue the operator alert %r", problem)

    def _alert_if_down_too_long(self, exc: Exception) -> None:
        since = self._poll_retry.since
        limit = self.config.schedule.health_max_age_minutes * 60.0
        down = self.monotonic() - since if since is not None else 0.0
        if since is not None and down >= limit:
            minutes = down / 60.0
            self._alert(
                "imap-unavailable",
                f"The mailbox {self.config.imap.account} has been unreachable "
                f"for {minutes:.0f} minutes (last error: {exc}). mailbot keeps retrying.",
            )

    def _schedule_retry(self, job_id: str, func: Callable[[], None], delay: float) -> None:
        with self._jobs_lock:
            if self._closing:
                return
            run_at = datetime.now(self.config.calendar.timezone) + timedelta(seconds=delay)
            self.scheduler.add_job(func, DateTrigger(run_date=run_at), id=job_id, name=job_id, replace_existing=True)

    def _cancel_retry(self, job_id: str) -> None:
        with self._jobs_lock:
            if self._closing:
                return
            if self.scheduler.get_job(job_id) is not None:
                self.scheduler.remove_job(job_id)

    # --- lifetime -------------------------------------------------------------------------------------------

    def start(self) -> None:
        self.scheduler.start()
        if self.watcher is not None:
            self.watcher.start()

    def shutdown(self) -> None:
        """Let the job in hand finish its current message, then stop; queued jobs return at once."""
        self.mailbot.stop.set()
        with self._jobs_lock:
            self._closing = True
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        if self.watcher is not None:
            # It wakes within IDLE_TICK_SECONDS; one stuck on a hung server is a daemon thread and is left.
            self.watcher.join(IDLE_STOP_WAIT)


IDLE_STOP_WAIT = 3.0  # seconds shutdown waits for the IDLE watcher to log out


class IdleWatcher:
    """A thread on its own IMAP connection, waiting in IDLE on the report folder; ``on_new_mail`` runs when the
    server reports new mail, and after each (re)connection (mail may have come while nobody watched).

    A lost connection (a restart's BYE, a refused or timed-out connect) is re-established after ``delay``
    (the poll's backoff). So is one that died without a word: IDLE is ended and a NOOP sent every
    ``check_every`` seconds, and a connection that does not answer within imap.timeout counts as lost (detected
    within 4 + 1 minutes by default). A server without IDLE ends the watcher: the poll interval alone reads the mail.
    """

    def __init__(
        self,
        settings: ImapSettings,
        stop: threading.Event,
        *,
        on_new_mail: Callable[[], None],
        delay: Callable[[int], float],
        mailbox: Callable[[ImapSettings], IdleMailbox] = Mailbox,
        check_every: float = IDLE_RENEW_SECONDS,
    ) -> None:
        self.settings = settings
        self.check_every = check_every
        self.stop = stop
        self.on_new_mail = on_new_mail
        self.delay = delay
        self.mailbox = mailbox
        self.failures = 0
        self.sessions = 0  # IDLE sessions established
        self.offered: bool | None = None  # whether the server offers IDLE (None: not known yet)
        self._thread = threading.Thread(target=self.run, name="mailbot-idle", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                if not self._session():
                    return
            except MailboxAuthError as exc:
                # The poll job alerts the operator; trying the password faster would only lock the account.
                self._failed(exc, auth=True)
            except (MailboxError, ConfigError) as exc:
                self._failed(exc)
            except Exception as exc:
                log.exception("IDLE watcher failed unexpectedly; it starts again")
                self._failed(exc)

    def _session(self) -> bool:
        """One connection: False when the server has no IDLE (the watcher ends), True when stopping."""
        with self.mailbox(self.settings) as box:
            where = box.where
            self.offered = box.has("IDLE")
            if not self.offered:
                log.info("%s does not offer IDLE: new mail is read at each poll (schedule.poll_minutes)", where)
                return False
            box.select(self.settings.folder)
            if self.failures:
                log.info("%s: waiting for new mail (IDLE) again", where)
            else:
                log.info("%s: waiting for new mail (IDLE); the poll interval stays as a safety net", where)
            self.failures = 0
            self.sessions += 1
            self.on_new_mail()  # whatever came while no IDLE was watching (start-up, an outage)
            while not self.stop.is_set():
                if box.wait_for_mail(self.stop, renew=self.check_every):
                    log.info("%s: new mail: reading it now", where)
                    self.on_new_mail()
        return True

    def _failed(self, exc: Exception, *, auth: bool = False) -> None:
        self.failures += 1
        delay = self.delay(self.failures if not auth else 62)  # a refused login waits the full interval
        log.warning(
            "IDLE on the mailbox %s lost (failure %d): %s; reconnecting in %.1f s",
            self.settings.account,
            self.failures,
            exc,
            delay,
        )
        self.stop.wait(delay)


def run_daemon(
    config: Config,
    *,
    mailbot_factory: Callable[[Config], Service] | None = None,
    install_signal_handlers: bool = True,
    stop: threading.Event | None = None,
    give_up_after: float | None = None,
) -> int:
    """Run until SIGTERM/SIGINT (or ``stop`` is set); return the exit status.

    Returns EXIT_ALREADY_RUNNING, after logging why at ERROR, when another process holds the database lock.
    ``mailbot_factory`` defaults to ``mailbot.service.Mailbot``. Exceptions while building the service (a bad
    roster, an unusable database) propagate: those stop the run loudly.

    ``give_up_after``: seconds to wait for the job in hand once asked to stop. A job still running then is
    waiting on a server that does not answer (finishing a message takes well under a second) and may wait
    out the whole IMAP/SMTP timeout; the process then ends at once with EXIT_OK. That is safe: every step
    is committed before the next starts, so the next start picks up where this one stopped, as after a
    crash. Only for a process of its own (``mailbot run``): it calls ``os._exit``.
    """
    stop = stop or threading.Event()
    lock = DatabaseLock(config.database)
    try:
        lock.acquire()
    except AlreadyRunning as exc:
        log.error("%s", exc)
        return EXIT_ALREADY_RUNNING
    previous: dict[int, Any] = {}
    try:
        if install_signal_handlers:
            previous = _install_signal_handlers(stop)
        if mailbot_factory is None:
            from mailbot.service import Mailbot  # noqa: PLC0415 - the service pulls in everything; only run needs it

            mailbot_factory = Mailbot
        mailbot = mailbot_factory(config)
        try:
            daemon = Daemon(config, mailbot)
            daemon.start()
            schedule = config.schedule
            log.info(
                "mailbot running on %s (lock %s): poll every %g min, send %g, check %g",
                config.database,
                lock.path,
                schedule.poll_minutes,
                schedule.send_minutes,
                schedule.check_minutes,
            )
            try:
                while not stop.wait(1.0):
                    pass
                log.info("stopping: finishing the message in hand")
            finally:
                if not _shut_down(daemon, give_up_after):
                    log.warning(
                        "stopping without waiting: a server has not answered for %s s; the work in hand "
                        "is picked up again at the next start, nothing is lost",
                        give_up_after,
                    )
                    lock.release()
                    logging.shutdown()
                    os._exit(EXIT_OK)
        finally:
            mailbot.close()
        log.info("mailbot stopped")
        return EXIT_OK
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        lock.release()


def _shut_down(daemon: Daemon, give_up_after: float | None) -> bool:
    """``daemon.shutdown()``, waiting at most ``give_up_after`` seconds; False if it is still waiting."""
    if give_up_after is None:
        daemon.shutdown()
        return True
    worker = threading.Thread(target=daemon.shutdown, name="mailbot-shutdown", daemon=True)
    worker.start()
    worker.join(give_up_after)
    return not worker.is_alive()


def _install_signal_handlers(stop: threading.Event) -> dict[int, Any]:
    def handler(signum: int, _frame: FrameType | None) -> None:
        # Only set a flag: the main loop does the shutdown outside the signal handler.
        stop.set()

    previous: dict[int, Any] = {}
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous[signum] = signal.signal(signum, handler)
    return previous


def _seconds(minutes: float) -> float:
    return max(float(minutes) * 60.0, 0.1)


def _progress_logger(every: int = 100) -> Callable[[int, int], None]:
    """A progress line every ``every`` messages on long passes (a first poll over a large backlog)."""

    def progress(done: int, total: int) -> None:
        if total >= every and (done % every == 0 or done == total):
            log.info("poll progress: %d of %d messages", done, total)

    return progress

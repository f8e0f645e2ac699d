"""``mailbot health``: is the daemon doing its job? For monitoring and the systemd timer in contrib/.

Healthy means the heartbeat (the last poll that completed) is younger than schedule.health_max_age_minutes, and
no email has waited in the outbox longer than schedule.outbox_max_age_minutes (replies and reminders that cannot be
delivered are as much a failure as mail that is not read), and the last `check` held back no email that says a
report is missing for want of a fresh read of the mailbox (``ladder.held_because``), unless the mailbox has been
read completely since; and the SMTP server did not refuse mailbot's login or sender on the last send that got
an answer (a sending quota holds every email back, long before one is old).
It reads the database only and logs in nowhere, so it is cheap to run every few minutes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from mailbot.config import Config


class _Heartbeat(Protocol):
    def last_successful_poll(self) -> datetime | None: ...
    def oldest_unsent(self) -> tuple[int, datetime | None]: ...
    def held_steps(self) -> tuple[datetime, int, str] | None: ...
    def sending_refused(self) -> str | None: ...
    def close(self) -> None: ...


def health(
    config: Config, now: datetime, *, mailbot_factory: Callable[[Config], _Heartbeat] | None = None
) -> tuple[bool, str]:
    """(ok, one line for a human or a monitoring system). ``now`` must be timezone-aware."""
    if not config.database.exists():
        return False, f"unhealthy: no database at {config.database}: mailbot has never run with this config"
    if mailbot_factory is None:
        from mailbot.service import Mailbot  # noqa: PLC0415 - keep `import mailbot.health` light

        mailbot_factory = Mailbot
    mailbot = mailbot_factory(config)
    try:
        last = mailbot.last_successful_poll()
        waiting, since = mailbot.oldest_unsent()
        held = mailbot.held_steps()
        refused = mailbot.sending_refused()
    finally:
        mailbot.close()
    if refused is not None:
        return False, f"unhealthy: no email can be sent, {waiting} waiting: {refused}"
    if held is not None:
        at, count, reason = held
        when = at.astimezone(UTC).isoformat(timespec="seconds")
        return False, (
            f"unhealthy: {count} email(s) saying reports are missing held back by the check at {when}, because {reason}"
        )
    ok, message = judge(last, now, timedelta(minutes=config.schedule.health_max_age_minutes))
    limit = timedelta(minutes=config.schedule.outbox_max_age_minutes)
    if ok and since is not None and now - since > limit:
        return False, (
            f"unhealthy: {waiting} email(s) waiting in the outbox, the oldest for {_minutes(now - since)} "
            f"(allowed {_minutes(limit)}): is the SMTP server reachable? See `mailbot send`"
        )
    return ok, message


def judge(last: datetime | None, now: datetime, max_age: timedelta) -> tuple[bool, str]:
    """The pure part: compare the heartbeat with ``now``."""
    limit = _minutes(max_age)
    if last is None:
        return False, f"unhealthy: no successful poll recorded yet (allowed age {limit})"
    if last.tzinfo is None:  # SQLite drops the zone; the store writes UTC
        last = last.replace(tzinfo=UTC)
    age = now - last
    when = last.astimezone(UTC).isoformat(timespec="seconds")
    if age < timedelta(0):
        # The clock went back (or another host's clock): not stale, but worth saying.
        return True, f"ok: last successful poll at {when}, which is {_minutes(-age)} in the future"
    if age > max_age:
        return False, f"unhealthy: last successful poll {_minutes(age)} ago at {when} (allowed {limit})"
    return True, f"ok: last successful poll {_minutes(age)} ago at {when} (allowed {limit})"


def _minutes(delta: timedelta) -> str:
    minutes = delta.total_seconds() / 60.0
    return f"{minutes:.0f} min" if minutes >= 10 else f"{minutes:.1f} min"

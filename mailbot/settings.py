"""The settings the pure core reads (calendar, schedule) and the configuration's error: plain frozen values, no I/O.

``mailbot.config`` builds them from the TOML file and re-exports them; compliance and the ladder import them from
here, so that reading the calendar does not load the secret reader (which runs the IMAP token command).
Each field's default, written once here, is the value a config file that omits the key gets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from mailbot.errors import FixNeeded
from mailbot.weeks import Week

# Replies (receipts, rejections) one address gets in 24 hours at most; more are filed unanswered. An autoresponder
# that ignores Auto-Submitted and answers every rejection stops here instead of looping with us.
MAX_REPLIES_PER_ADDRESS_PER_DAY = 5

Security = Literal["ssl", "starttls", "none"]


class ConfigError(FixNeeded):
    """Raised when the configuration file or a value in it is unusable; the message names the key."""


@dataclass(frozen=True)
class CalendarSettings:
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Kolkata"))
    deadline_weekday: int = 0  # Monday after the week ends
    deadline_time: time = time(12, 0)
    reminder_days_before: int = 1
    overdue_notice: bool = True
    escalate_days_after: int = 2
    consecutive_missing_alert: int = 2
    lag_threshold: float = 0.5  # achievement (opened / target) below this is lagging
    no_progress_weeks: int = 3
    summary_weekday: int = 1  # Tuesday: after escalations went out
    summary_time: time = time(10, 0)
    history_weeks: int = 12
    # The first week DSPs are held to account for: nothing is sent about an earlier week. None: the week of
    # mailbot's first `check` (see Mailbot.calendar), so a new install does not chase months of old reports.
    first_week: Week | None = None


@dataclass(frozen=True)
class ScheduleSettings:
    poll_minutes: float = 5.0
    send_minutes: float = 5.0
    check_minutes: float = 60.0
    misfire_grace_seconds: int = 6 * 3600
    health_max_age_minutes: float = 30.0
    outbox_max_age_minutes: float = 180.0
    # Steps that say "missing" wait while the last complete read of the mailbox is older than this many poll
    # intervals (ladder.held_because): a few missed polls are tolerated, a dead mailbox login is not.
    stale_after_polls: float = 3.0

    @property
    def mailbox_max_age(self) -> timedelta:
        return timedelta(minutes=self.poll_minutes * self.stale_after_polls)

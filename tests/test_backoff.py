"""One doubling rule for every retry: the daemon's jobs, a message that failed, an email the server deferred."""

from __future__ import annotations

from datetime import timedelta

from mailbot import intake, outbox
from mailbot.backoff import doubling


def test_each_failure_doubles_the_wait_up_to_the_cap() -> None:
    waits = [doubling(n, timedelta(minutes=5), timedelta(hours=6)) for n in range(1, 10)]
    assert [w // timedelta(minutes=5) for w in waits] == [1, 2, 4, 8, 16, 32, 64, 72, 72]
    assert [doubling(n, 5.0, 60.0) for n in (0, 1, 2, 3, 4, 5)] == [5.0, 5.0, 10.0, 20.0, 40.0, 60.0]


def test_a_message_failing_many_times_is_retried_within_hours_not_years() -> None:
    # Before, a message's retry doubled without a cap: with max_attempts raised to 40 its next try was set
    # 5 min x 2**39 later, past what a date holds. Now every retry comes within the cap, however many attempts.
    assert doubling(40, intake.RETRY_BASE, intake.RETRY_CAP) == timedelta(hours=6)
    assert doubling(1_000, outbox.RETRY_BASE, outbox.RETRY_CAP) == timedelta(hours=6)

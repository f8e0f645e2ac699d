"""How long to wait before trying again: one doubling rule for the daemon's jobs (``scheduler``), a message that
failed to process (``intake``) and an email the server deferred (``outbox``)."""

from __future__ import annotations

from datetime import timedelta
from typing import TypeVar

Span = TypeVar("Span", float, timedelta)

# 2**30 x 5 minutes is about 10,000 years: past every cap, still within what timedelta holds.
_MAX_DOUBLINGS = 30


def doubling(attempts: int, base: Span, cap: Span) -> Span:
    """``base`` after the first failed attempt, twice that after the second, and so on, never more than ``cap``."""
    return min(base * (1 << min(max(attempts, 1) - 1, _MAX_DOUBLINGS)), cap)

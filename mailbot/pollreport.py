"""What one pass over the mailbox did, counted by outcome. On its own (imports nothing) so that a poll that finds
no mail can report without loading the ingestion pipeline (``intake``, which defines the pass)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class PollReport:
    seen: int = 0
    accepted: int = 0
    rejected: int = 0
    ignored: int = 0
    duplicate: int = 0
    failed: int = 0
    quarantined: int = 0
    degs_reply: int = 0  # replies from district offices, kept for CEG's summary
    moved: int = 0
    left: int = 0  # imap.unrelated = "leave": not from a roster address, left unread where it is

    def count(self, outcome: str) -> None:  # an outcomes.Outcome (a str) names its counter
        setattr(self, outcome, getattr(self, outcome) + 1)

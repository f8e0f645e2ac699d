"""What became of a message, as the ledger stores it: an outcome, and a reason code beside the English reason.

The reason text is for people (the log, ``mailbot import``, CEG's summary); what the program decides from it (the
words in CEG's Quarantine sheet, ``import``'s exit status) reads the code, so rewording a reason changes nothing
else. Both are StrEnums: the values stored are these strings, the same the ledger held before the enums existed.
"""

from __future__ import annotations

import re
from enum import StrEnum


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    IGNORED = "ignored"
    DUPLICATE = "duplicate"
    DEGS_REPLY = "degs_reply"  # a district office's answer, listed for CEG, never answered
    LEFT = "left"  # imap.unrelated = "leave": not from a roster address, left unread where it is
    FAILED = "failed"  # will be tried again
    QUARANTINED = "quarantined"  # given up (poison, too large, too many attempts)


class ReasonCode(StrEnum):
    """Why a message got its outcome; stable identifiers (stored in ``ledger.reason_code``): never reword one."""

    # accepted, duplicate
    ROWS_ACCEPTED = "rows_accepted"
    SAME_CONTENT = "same_content"  # the same bytes were handled before (another UID, a copy)
    SAME_REPORT = "same_report"  # the same report again while it is in force
    # rejected
    NOTHING_ACCEPTED = "nothing_accepted"
    NO_ATTACHMENT = "no_attachment"
    NO_READABLE_SPREADSHEET = "no_readable_spreadsheet"
    SENDER_NOT_AUTHENTICATED = "sender_not_authenticated"
    # degs_reply
    DEGS_REPLY = "degs_reply"
    # ignored: automated mail (never answered: answering is how mail loops start), by kind
    AUTO_REPLY = "auto_reply"
    MAILING_LIST = "mailing_list"
    BULK_MAIL = "bulk_mail"
    BOUNCE = "bounce"
    DELIVERY_REPORT = "delivery_report"
    AUTOMATED = "automated"
    # ignored: not a DSP's email
    NO_SENDER = "no_sender"
    UNKNOWN_SENDER = "unknown_sender"
    NOT_AN_EMAIL = "not_an_email"
    # left
    NOT_FROM_ROSTER = "not_from_roster"
    # quarantined
    TOO_LARGE = "too_large"
    FAILED_REPEATEDLY = "failed_repeatedly"
    NOT_READ = "not_read"  # given up unread: each attempt failed or stopped mailbot


# Why message.py found a message automated (``ParsedMessage.automated``: the header that said so) -> its kind.
# First match wins.
_AUTOMATION: tuple[tuple[str, ReasonCode], ...] = (
    ("Auto-Submitted: auto-replied", ReasonCode.AUTO_REPLY),
    ("X-Autoreply", ReasonCode.AUTO_REPLY),
    ("X-Autorespond", ReasonCode.AUTO_REPLY),
    ("Precedence: auto_reply", ReasonCode.AUTO_REPLY),
    ("automatic reply subject", ReasonCode.AUTO_REPLY),
    ("List-", ReasonCode.MAILING_LIST),
    ("Precedence:", ReasonCode.BULK_MAIL),
    ("empty Return-Path", ReasonCode.BOUNCE),
    ("sent by", ReasonCode.BOUNCE),
    ("delivery or read report", ReasonCode.DELIVERY_REPORT),
)


def automation_code(automated: str) -> ReasonCode:
    """The kind of an automated message from what ``message.parse_message`` says made it one."""
    return next((code for prefix, code in _AUTOMATION if automated.startswith(prefix)), ReasonCode.AUTOMATED)


AUTOMATED_PREFIX = "automated message: "  # the reason of an automated message: this, then ParsedMessage.automated

# Reasons as mailbot wrote them before the code was stored (ledger rows with reason_code NULL) -> their code.
_EARLIER_REASONS: tuple[tuple[str, ReasonCode], ...] = (
    ("same content as message #", ReasonCode.SAME_CONTENT),
    ("same report as message #", ReasonCode.SAME_REPORT),
    ("nothing accepted: ", ReasonCode.NOTHING_ACCEPTED),
    ("no spreadsheet attached", ReasonCode.NO_ATTACHMENT),
    ("no readable spreadsheet", ReasonCode.NO_READABLE_SPREADSHEET),
    ("sender not authenticated", ReasonCode.SENDER_NOT_AUTHENTICATED),
    ("reply from the district office", ReasonCode.DEGS_REPLY),
    ("no sender address", ReasonCode.NO_SENDER),
    ("unknown sender", ReasonCode.UNKNOWN_SENDER),
    ("not an email", ReasonCode.NOT_AN_EMAIL),
    ("not from a roster address", ReasonCode.NOT_FROM_ROSTER),
    ("too large: ", ReasonCode.TOO_LARGE),
    ("failed repeatedly", ReasonCode.FAILED_REPEATEDLY),
    ("not read after ", ReasonCode.NOT_READ),
)
_ROWS_ACCEPTED = re.compile(r"\d+ district row\(s\) accepted")


def earlier_reason_code(reason: str) -> ReasonCode | None:
    """The code of a reason recorded before codes were stored, from its text: the one place that reads the English
    (the wording those versions wrote is fixed, so this table is too). None: no code (a ``failed`` row's empty
    reason, or text no version wrote)."""
    if reason.startswith(AUTOMATED_PREFIX.rstrip()):
        return automation_code(reason.removeprefix(AUTOMATED_PREFIX))
    if _ROWS_ACCEPTED.match(reason):
        return ReasonCode.ROWS_ACCEPTED
    return next((code for prefix, code in _EARLIER_REASONS if reason.startswith(prefix)), None)

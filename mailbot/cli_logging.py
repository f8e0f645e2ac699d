"""How mailbot's log lines look: one line per record, as text or JSON, with what strangers wrote (subjects, file
names, cells) unable to start or rewrite a line. ``configure_logging`` is the only place logging is set up."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import datetime
from typing import Any

# Line breaks and terminal controls a sender could put into a logged value (a subject, a file name, a cell):
# C0 and C1 controls, DEL, the Unicode line/paragraph separators and the bidirectional overrides.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def escape_controls(text: str) -> str:
    """``text`` with every character that could start a new log line or rewrite one shown as an escape."""
    return _UNSAFE.sub(
        lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}", text
    )


class TextFormatter(logging.Formatter):
    """One line per record: controls in the message (its values come from strangers' mail) are escaped, so a
    newline in a subject or a workbook cell cannot forge a log line. A traceback, ours, keeps its lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape_controls(record.message)
        return super().formatMessage(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log collectors."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        # json.dumps escapes C0 controls; U+2028/2029 and C1's NEL split lines for some readers (str.splitlines).
        return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(entry, ensure_ascii=False))


def configure_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # imapclient logs protocol lines at DEBUG; keep them out even at our DEBUG (they can carry addresses).
    logging.getLogger("imapclient").setLevel(logging.WARNING)
    # APScheduler says "Running job ..." at INFO every few minutes: noise in a log read for months.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)

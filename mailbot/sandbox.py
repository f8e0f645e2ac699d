"""Workbooks are parsed in a child process with a budget, so a hostile attachment costs at most ~10 s of CPU
and ~512 MB of memory and becomes a Problem for that file, never a stalled or killed mailbot.

One long-lived worker (started from a fork server, so it holds no database handle or lock of ours) parses one
attachment at a time: a fork per attachment would cost more than the whole parse of a normal report. Its
address space is capped with RLIMIT_AS at start; before each file its CPU limit is set to what it used so far
plus the budget (SIGXCPU then ends the file), and the parent waits at most a wall-clock limit. A worker that
breaks, runs out of time or memory is killed and a new one started for the next attachment.
"""

from __future__ import annotations

import logging
import multiprocessing
import resource
import signal
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

from mailbot.workbook import ParsedWorkbook, Problem, parse_workbook

log = logging.getLogger(__name__)

CPU_SECONDS = 10
WALL_SECONDS = 30.0  # the machine may be busy: the CPU limit is the budget, this only catches a stuck child
MEMORY_BYTES = 512 * 1024 * 1024


class _OverBudget(BaseException):
    """Raised by SIGXCPU; a BaseException, so the readers' ``except Exception`` cannot swallow it."""


@dataclass(frozen=True)
class Usage:
    """What the worker has used in all (CPU seconds, peak resident MB): for the benchmark."""

    cpu_seconds: float
    peak_rss_mb: float


def _on_xcpu(signum: int, frame: FrameType | None) -> None:
    raise _OverBudget("cpu")


def _serve(conn: Connection, memory_bytes: int, cpu_seconds: int) -> None:
    """The worker's loop: (content, filename) in, ("ok", ParsedWorkbook) / ("budget", what) / ("error", exc) out."""
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    signal.signal(signal.SIGXCPU, _on_xcpu)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        if request is None:
            conn.send(("usage", _usage(), _usage()))
            continue
        content, filename = request
        used = _cpu_used()
        # The soft limit rises with each file; the hard one stays unlimited so it can.
        resource.setrlimit(resource.RLIMIT_CPU, (int(used) + cpu_seconds + 1, resource.RLIM_INFINITY))
        reply: tuple[str, Any]
        try:
            reply = ("ok", parse_workbook(content, filename))
        except _OverBudget:
            reply = ("budget", "time")
        except MemoryError:
            reply = ("budget", "memory")
        except Exception as exc:  # a bug in the parser: the caller's per-message guard handles it
            reply = ("error", exc)
        finally:
            resource.setrlimit(resource.RLIMIT_CPU, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        try:
            conn.send((*reply, _usage()))
        except Exception:  # an exception that cannot be pickled
            conn.send(("error", RuntimeError(repr(reply[1])[:1000]), _usage()))
        if reply[0] == "budget":
            return  # a fresh worker for the next file: memory may be fragmented, state half-built


def _cpu_used() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _usage() -> Usage:
    return Usage(_cpu_used(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


class Sandbox:
    """A budgeted workbook parser; thread-safe (one file at a time)."""

    def __init__(
        self, cpu_seconds: int = CPU_SECONDS, memory_bytes: int = MEMORY_BYTES, wall_seconds: float = WALL_SECONDS
    ) -> None:
        self.cpu_seconds, self.memory_bytes, self.wall_seconds = cpu_seconds, memory_bytes, wall_seconds
        self._lock = threading.Lock()
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self.last_usage: Usage | None = None  # the worker's totals after the last file (None: it was killed)

    def parse(self, content: bytes, filename: str) -> ParsedWorkbook:
        """``parse_workbook`` within the budget; over it, a ParsedWorkbook carrying one 'too_complex' Problem."""
        with self._lock:
            conn = self._worker()
            try:
                conn.send((content, filename))
                ready = conn.poll(self.wall_seconds)
                kind, value, self.last_usage = conn.recv() if ready else ("budget", "wall time", None)
            except (EOFError, OSError):  # the worker died: killed by SIGXCPU, the kernel, or a crash
                kind, value, self.last_usage = "budget", "the reader stopped", None
            if kind != "ok":
                self._stop()
        if kind == "ok":
            assert isinstance(value, ParsedWorkbook)  # noqa: S101 - what the worker sends
            return value
        if kind == "error":
            raise value if isinstance(value, BaseException) else RuntimeError(str(value))
        log.warning(
            "%s: over the parsing budget (%s; %d s CPU, %d MB): refused",
            filename,
            value,
            self.cpu_seconds,
            self.memory_bytes // (1024 * 1024),
        )
        return ParsedWorkbook(filename, "", "", None, (), (too_complex(filename),))

    def usage(self) -> Usage:
        """The current worker's CPU and peak memory (starting one if none runs)."""
        with self._lock:
            conn = self._worker()
            conn.send(None)
            kind, value, _ = conn.recv()
            assert kind == "usage" and isinstance(value, Usage)  # noqa: S101
            return value

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _worker(self) -> Connection:
        if self._process is not None and self._process.is_alive() and self._conn is not None:
            return self._conn
        self._stop()
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["mailbot.workbook"])
        parent, child = context.Pipe()
        process = context.Process(
            target=_serve, args=(child, self.memory_bytes, self.cpu_seconds), name="mailbot-workbook", daemon=True
        )
        process.start()
        child.close()
        self._process, self._conn = process, parent
        return parent

    def _stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._process is not None:
            self._process.kill()
            self._process.join(5)
            self._process.close()
        self._process, self._conn = None, None


def too_complex(filename: str) -> Problem:
    return Problem(
        "error",
        "too_complex",
        f"The file '{filename}' is too large or too complex to read (it needs more than {CPU_SECONDS} seconds or "
        f"{MEMORY_BYTES // (1024 * 1024)} MB). Please copy the report into the template (one sheet, only the report's "
        "rows) and send it again.",
        f"फ़ाइल '{filename}' पढ़ने के लिए बहुत बड़ी या जटिल है ({CPU_SECONDS} सेकंड या "
        f"{MEMORY_BYTES // (1024 * 1024)} MB से अधिक लगता है)। कृपया रिपोर्ट को निर्धारित प्रारूप (टेम्पलेट) में "
        "(एक शीट, केवल रिपोर्ट की पंक्तियाँ) कॉपी करके दोबारा भेजें।",
        filename,
    )


_shared = Sandbox()


def parse_workbook_budgeted(content: bytes, filename: str) -> ParsedWorkbook:
    """``parse_workbook`` in the process-wide sandbox: what ingestion uses."""
    return _shared.parse(content, filename)

"""One daemon per database: an exclusive ``flock`` on ``<database>.lock`` holding the owner's PID.

The kernel releases a ``flock`` when its process dies, however it dies (kill -9, OOM), so a stale lock
file never blocks a restart: only a live holder does. The file itself is never deleted: unlinking a lock
file lets a third process lock a fresh inode while the second still holds the old one.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from mailbot.errors import Busy


class AlreadyRunning(Busy, RuntimeError):
    """Raised when another live process holds the database lock; the message names the database and PID."""

    def __init__(self, database: Path, lock_path: Path, pid: int | None) -> None:
        holder = f"PID {pid}" if pid is not None else "a process whose PID could not be read"
        super().__init__(
            f"another mailbot is already running on the database {database} ({holder} holds {lock_path}); "
            "stop it first, or point this one at another database"
        )
        self.database = database
        self.lock_path = lock_path
        self.pid = pid


def lock_path_for(database: Path) -> Path:
    return database.with_name(database.name + ".lock")


class DatabaseLock:
    """``with DatabaseLock(db):`` holds the lock for the block; ``acquire`` raises AlreadyRunning if taken."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self.path = lock_path_for(database)
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # O_CLOEXEC (the default for os.open): a token command we spawn must not inherit and outlive the lock.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            raise AlreadyRunning(self.database, self.path, pid) from None
        except BaseException:
            os.close(fd)
            raise
        # The PID is for people and for AlreadyRunning's message, not for the lock: no fsync (after a crash it
        # would name a dead process anyway, and the kernel has already released the flock).
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        # Empty it so a reader never takes a dead PID for the holder; closing drops the flock.
        os.ftruncate(fd, 0)
        os.close(fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> DatabaseLock:
        self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None

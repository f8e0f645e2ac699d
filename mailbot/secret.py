"""Where a secret comes from (an environment variable, a file, or a command that prints an XOAUTH2 token), and
reading it when needed.

The one configuration module that does I/O (it may run the operator's token command), kept apart so that the
settings the pure core reads (``mailbot.settings``) load no process library. The value never appears in a
repr, log or exception; a bad source fails with a ConfigError naming the config key.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from mailbot.settings import ConfigError


@dataclass(frozen=True)
class Secret:
    """Where a secret comes from. ``repr`` shows the source, never the value."""

    key: str  # the config key that named it, for error messages
    env: str | None = None
    file: Path | None = None
    command: tuple[str, ...] | None = None

    def reveal(self) -> str:
        if self.env is not None:
            value = os.environ.get(self.env)
            if not value:
                raise ConfigError(f"{self.key}: environment variable {self.env} is not set or empty")
            return value
        if self.file is not None:
            try:
                value = self.file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"{self.key}: cannot read secret file {self.file}: {exc.strerror}") from None
            if not value:
                raise ConfigError(f"{self.key}: secret file {self.file} is empty")
            return value
        if self.command is not None:
            try:
                done = subprocess.run(self.command, capture_output=True, text=True, timeout=60, check=False)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise ConfigError(f"{self.key}: token command {self.command[0]!r} failed: {exc}") from None
            if done.returncode != 0 or not done.stdout.strip():
                # stderr may hold the token or a password prompt: report only the exit status.
                raise ConfigError(f"{self.key}: token command {self.command[0]!r} exited {done.returncode}")
            return done.stdout.strip()
        raise ConfigError(f"{self.key}: no secret source")  # pragma: no cover - constructor prevents this

    def check(self) -> None:
        """Raise ConfigError naming the key when the secret cannot be had; the value is read and dropped.

        A token command is only looked up, not run: it may be slow, ask a remote service, or be rate-limited,
        and the first poll runs it moments later anyway (a failure there is logged and alerted)."""
        if self.command is not None:
            if shutil.which(self.command[0]) is None:
                raise ConfigError(f"{self.key}: token command {self.command[0]!r} not found or not executable")
            return
        self.reveal()

    def origin(self) -> str:
        """Where the secret came from, for an error message that must name the fix but never the value."""
        if self.env is not None:
            return f"environment variable {self.env} ({self.key})"
        if self.file is not None:
            return f"file {self.file} ({self.key})"
        return f"the output of {self.command[0] if self.command else 'the token command'} ({self.key})"

    def __repr__(self) -> str:
        source = f"env={self.env}" if self.env else f"file={self.file}" if self.file else "command"
        return f"Secret({self.key}, {source})"

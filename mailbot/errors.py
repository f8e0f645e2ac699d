"""One root for the errors an operator acts on, each carrying the exit status `mailbot` ends a command with.

Every module raises its own class (ConfigError, RosterError, MailboxError, SmtpError, ...), derived from one of the
kinds below, so the CLI maps a class to its exit status and its wording without listing the classes. Imports
nothing: the pure core may derive from it.

Exit status: 0 done; 1 a server or the data could not be reached (retry later), or `import` could not use a file;
2 bad configuration, roster or arguments (fix them); 3 another `mailbot run` holds the database; 4 `health` found
the daemon stale.
"""

from __future__ import annotations

from typing import ClassVar

EXIT_UNAVAILABLE = 1
EXIT_CONFIG = 2
EXIT_RUNNING = 3
EXIT_STALE = 4


class MailbotError(Exception):
    """An error a command reports in one line (never a traceback) and ends with ``exit_status``."""

    exit_status: ClassVar[int] = EXIT_UNAVAILABLE
    headline: ClassVar[str] = ""  # what the CLI says before the message ("" when the message says it all)


class FixNeeded(MailbotError):
    """The configuration, the roster, a file or an argument is wrong: the message names what to fix."""

    exit_status = EXIT_CONFIG


class Unavailable(MailbotError):
    """A server could not be reached or refused a command: trying again later may work."""

    exit_status = EXIT_UNAVAILABLE
    headline = "server unavailable: "


class LoginRefused(MailbotError):
    """A server refused mailbot's login or sender: the message names the credentials to fix. Derived from
    first, before ``Unavailable``, so its empty headline wins."""

    exit_status = EXIT_UNAVAILABLE
    headline = ""


class Busy(MailbotError):
    """Another process holds what the command needs (the daemon's database lock)."""

    exit_status = EXIT_RUNNING

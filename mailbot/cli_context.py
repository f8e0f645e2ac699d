"""What every `mailbot` command shares: the Context (config and logging options, the config loaded once), the global
options a command also takes after its name, argument parsing, and ``mailbot_for``, which opens the service and
turns an error an operator can fix into one line and its exit status (``errors.MailbotError.exit_status``)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from mailbot.cli_logging import configure_logging
from mailbot.config import Config, load_config
from mailbot.errors import EXIT_CONFIG, MailbotError
from mailbot.weeks import Week

if TYPE_CHECKING:
    from mailbot.service import Mailbot


class Context:
    def __init__(self, config_path: str | None, log_level: str | None, log_format: str) -> None:
        self.config_path = config_path
        self.log_level = log_level
        self.log_format = log_format
        self._config: Config | None = None

    @property
    def loaded_config(self) -> Config | None:
        """The config if it has been loaded (it may be what failed)."""
        return self._config

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path)
            configure_logging(self.log_level or self._config.log_level, self.log_format)
        return self._config


def fail(message: str, code: int) -> NoReturn:
    click.echo(f"mailbot: {message}", err=True)
    sys.exit(code)


@contextmanager
def mailbot_for(ctx: Context, exclusive: bool = False, reading: bool = False) -> Iterator[Mailbot]:
    """Open the service, turning the errors an operator can fix into one clear line and an exit status.

    ``exclusive``: the command changes the mailbox or the outbox, so it must not run beside `mailbot run`
    (two pollers would race for the same messages); it takes the daemon's lock or refuses.
    ``reading``: the command only reads the database, so a missing one is a wrong path, not a new install:
    refuse rather than create an empty database and report from it."""
    from mailbot.lock import DatabaseLock  # noqa: PLC0415 - imported when used: see cli's docstring
    from mailbot.service import Mailbot  # noqa: PLC0415

    lock = None
    try:
        config = ctx.config
        if reading and not config.database.exists():
            fail(
                f"no database at {config.database}: run `mailbot init` first "
                f"(or check mailbot.database in {config.source})",
                EXIT_CONFIG,
            )
        if problem := unwritable(config):
            fail(problem, EXIT_CONFIG)
        if exclusive:
            lock = DatabaseLock(config.database)
            lock.acquire()
        bot = Mailbot(config, one_shot=True)
    except MailbotError as exc:
        if lock is not None:
            lock.release()
        fail(explain(exc, ctx.loaded_config), exc.exit_status)  # the config itself may be the error
    try:
        yield bot
    except MailbotError as exc:
        fail(explain(exc, bot.config), exc.exit_status)
    finally:
        bot.close()
        if lock is not None:
            lock.release()


def explain(exc: MailbotError, config: Config | None) -> str:
    """The one line (or two) an operator reads for ``exc``: its class's headline and message, a roster error with
    where to fix it, a held lock with what to do instead. A refused login names the username and password keys
    and the password's source itself."""
    from mailbot.lock import AlreadyRunning  # noqa: PLC0415 - imported when used: see cli's docstring
    from mailbot.roster import RosterError  # noqa: PLC0415 - on the error path only

    if isinstance(exc, RosterError) and config is not None:
        return _roster_fix(exc, config)
    if isinstance(exc, AlreadyRunning):
        return f"{exc}. The daemon already polls, sends and checks; `mailbot status` shows what it did."
    return f"{exc.headline}{exc}"


def _roster_fix(exc: Exception, config: Config) -> str:
    """A roster error with what to change: the roster.path key when there is no roster there, else the file."""
    if not config.roster.exists():
        return (
            f"roster.path: {config.roster}: no such file or folder: copy CEG's roster there or set roster.path "
            f"in {config.source} (an .xlsx workbook, or a folder of dsps.csv, assignments.csv and degs.csv; "
            "fixtures/roster/ has an example)"
        )
    return f"{exc}\nfix the rows named above in {config.roster}, save it, and run the command again"


def unwritable(config: Config) -> str | None:
    """Why mailbot cannot keep its state where the config says (database, archive), naming the path, its owner
    and the fix; None when it can. Checked before anything is opened: SQLite and mkdir would otherwise fail deep
    inside with a traceback that names neither the key nor the user."""
    import getpass  # noqa: PLC0415
    import os  # noqa: PLC0415

    user = getpass.getuser()
    for key, folder, file in (
        ("mailbot.database", config.database.parent, config.database),
        ("mailbot.archive_dir", config.archive_dir, None),
    ):
        elsewhere = f"or point {key} in {config.source} elsewhere"
        # SQLite keeps its -wal, -shm and lock files beside the database: its folder must be writable too.
        if folder.is_dir():
            for path in (folder, file):
                if path is None:
                    continue
                wanted = os.R_OK | os.W_OK | (os.X_OK if path is folder else 0)
                if path.exists() and not os.access(path, wanted):
                    return (
                        f"{key}: cannot write {path}: it belongs to {_owner(path)}, and user {user} may not "
                        f"write it (point {key} in {config.source} at a folder {user} owns, or as root: "
                        f"chown -R {user} {folder})"
                    )
            continue
        blocker = folder
        while not blocker.exists() and blocker != blocker.parent:
            blocker = blocker.parent
        if not blocker.is_dir():
            return f"{key}: cannot create {folder}: {blocker} is a file, not a folder (point {key} elsewhere)"
        if not os.access(blocker, os.W_OK | os.X_OK):
            return (
                f"{key}: cannot create {folder}: {blocker} belongs to {_owner(blocker)}, and user {user} may not "
                f"write in it (as root: install -d -o {user} -m 0750 {folder}; {elsewhere})"
            )
    return None


def _owner(path: Path) -> str:
    try:
        return path.owner()
    except (KeyError, OSError):  # a UID without a name (a container's), or it vanished
        try:
            return f"UID {path.stat().st_uid}"
        except OSError:
            return "an unknown user"


def write_file(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        reason = f"no such folder {path.parent}" if isinstance(exc, FileNotFoundError) else exc.strerror or str(exc)
        fail(f"cannot write {path}: {reason}", EXIT_CONFIG)


def parse_week(value: str | None) -> Week | None:
    if not value:
        return None
    try:
        return Week.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def parse_moment(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"not an ISO-8601 moment: {value!r} (e.g. 2026-11-30T09:00+05:30)") from None
    if moment.tzinfo is None:
        raise click.BadParameter(f"{value!r} has no time zone; add one, e.g. +05:30")
    return moment


LOG_LEVELS = click.Choice(["debug", "info", "warning", "error"], case_sensitive=False)


pass_ctx = click.make_pass_decorator(Context)


def _after_command(attribute: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    """Callback for a global option given after the command: it overrides the one given before."""

    def store(click_ctx: click.Context, param: click.Parameter, value: Any) -> None:
        if value is None:
            return
        ctx = click_ctx.find_object(Context)
        if ctx is None:  # pragma: no cover - the group always makes one
            return
        setattr(ctx, attribute, value)
        if attribute != "config_path":
            configure_logging(ctx.log_level or "info", ctx.log_format)

    return store


def global_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``mailbot status --config FILE`` works as ``mailbot --config FILE status`` does (people type it both ways)."""
    for option in (
        click.option(
            "--log-format",
            type=click.Choice(["text", "json"]),
            expose_value=False,
            callback=_after_command("log_format"),
            help="Same as `mailbot --log-format`.",
        ),
        click.option(
            "--log-level",
            type=LOG_LEVELS,
            expose_value=False,
            callback=_after_command("log_level"),
            help="Same as `mailbot --log-level`.",
        ),
        click.option(
            "--config",
            metavar="FILE",
            expose_value=False,
            callback=_after_command("config_path"),
            help="Same as `mailbot --config FILE` (default: $MAILBOT_CONFIG).",
        ),
    ):
        command = option(command)
    return command

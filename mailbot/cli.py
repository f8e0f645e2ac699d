"""The `mailbot` command. The only place that configures logging or exits.

Exit status: 0 done; 1 a server or the data could not be reached (retry later), or `import` could not use a file;
2 bad configuration, roster or arguments (fix them); 3 another `mailbot run` holds the database; 4 `health` found
the daemon stale.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

import click

from mailbot import __version__
from mailbot.config import Config, ConfigError, load_config
from mailbot.weeks import Week

log = logging.getLogger("mailbot")

EXIT_UNAVAILABLE = 1
EXIT_CONFIG = 2
EXIT_RUNNING = 3
EXIT_STALE = 4
SHUTDOWN_GRACE_SECONDS = 8.0  # SIGTERM: how long the job in hand may take before mailbot stops without it


# Line breaks and terminal controls a sender could put into a logged value (a subject, a file name, a cell):
# C0 and C1 controls, DEL, the Unicode line/paragraph separators and the bidirectional overrides.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def escape_controls(text: str) -> str:
    """``text`` with every character that could start a new log line or rewrite one shown as an escape."""
    return _UNSAFE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}",
                       text)


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


class Context:
    def __init__(self, config_path: str | None, log_level: str | None, log_format: str) -> None:
        self.config_path = config_path
        self.log_level = log_level
        self.log_format = log_format
        self._config: Config | None = None

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
def mailbot_for(ctx: Context, exclusive: bool = False, reading: bool = False) -> Iterator[Any]:
    """Open the service, turning the errors an operator can fix into one clear line and an exit status.

    ``exclusive``: the command changes the mailbox or the outbox, so it must not run beside `mailbot run`
    (two pollers would race for the same messages); it takes the daemon's lock or refuses.
    ``reading``: the command only reads the database, so a missing one is a wrong path, not a new install:
    refuse rather than create an empty database and report from it."""
    from mailbot.lock import AlreadyRunning, DatabaseLock  # noqa: PLC0415 - keep --help fast
    from mailbot.mailbox import MailboxAuthError, MailboxError  # noqa: PLC0415
    from mailbot.roster import RosterError  # noqa: PLC0415
    from mailbot.service import Mailbot  # noqa: PLC0415
    from mailbot.smtp import SmtpAuthError, SmtpError  # noqa: PLC0415

    lock = None
    try:
        config = ctx.config
        if reading and not config.database.exists():
            fail(f"no database at {config.database}: run `mailbot init` first "
                 f"(or check mailbot.database in {config.source})", EXIT_CONFIG)
        if problem := _unwritable(config):
            fail(problem, EXIT_CONFIG)
        if exclusive:
            lock = DatabaseLock(config.database)
            lock.acquire()
        bot = Mailbot(config)
    except AlreadyRunning as exc:
        fail(f"{exc}. The daemon already polls, sends and checks; `mailbot status` shows what it did.",
             EXIT_RUNNING)
    except (ConfigError, RosterError) as exc:
        if lock is not None:
            lock.release()
        fail(_roster_fix(exc, ctx.config) if isinstance(exc, RosterError) else str(exc), EXIT_CONFIG)
    try:
        yield bot
    except ConfigError as exc:
        fail(str(exc), EXIT_CONFIG)
    except RosterError as exc:
        fail(_roster_fix(exc, bot.config), EXIT_CONFIG)
    except (MailboxAuthError, SmtpAuthError) as exc:
        fail(str(exc), EXIT_UNAVAILABLE)  # it names the username and password keys and the password's source
    except (MailboxError, SmtpError) as exc:
        fail(f"server unavailable: {exc}", EXIT_UNAVAILABLE)
    finally:
        bot.close()
        if lock is not None:
            lock.release()


def _roster_fix(exc: Exception, config: Config) -> str:
    """A roster error with what to change: the roster.path key when there is no roster there, else the file."""
    if not config.roster.exists():
        return (f"roster.path: {config.roster}: no such file or folder: copy CEG's roster there or set roster.path "
                f"in {config.source} (an .xlsx workbook, or a folder of dsps.csv, assignments.csv and degs.csv; "
                "fixtures/roster/ has an example)")
    return f"{exc}\nfix the rows named above in {config.roster}, save it, and run the command again"


def _unwritable(config: Config) -> str | None:
    """Why mailbot cannot keep its state where the config says (database, archive), naming the path, its owner
    and the fix; None when it can. Checked before anything is opened: SQLite and mkdir would otherwise fail deep
    inside with a traceback that names neither the key nor the user."""
    import getpass  # noqa: PLC0415
    import os  # noqa: PLC0415

    user = getpass.getuser()
    for key, folder, file in (("mailbot.database", config.database.parent, config.database),
                              ("mailbot.archive_dir", config.archive_dir, None)):
        elsewhere = f"or point {key} in {config.source} elsewhere"
        # SQLite keeps its -wal, -shm and lock files beside the database: its folder must be writable too.
        if folder.is_dir():
            for path in (folder, file):
                if path is None:
                    continue
                wanted = os.R_OK | os.W_OK | (os.X_OK if path is folder else 0)
                if path.exists() and not os.access(path, wanted):
                    return (f"{key}: cannot write {path}: it belongs to {_owner(path)}, and user {user} may not "
                            f"write it (point {key} in {config.source} at a folder {user} owns, or as root: "
                            f"chown -R {user} {folder})")
            continue
        blocker = folder
        while not blocker.exists() and blocker != blocker.parent:
            blocker = blocker.parent
        if not blocker.is_dir():
            return f"{key}: cannot create {folder}: {blocker} is a file, not a folder (point {key} elsewhere)"
        if not os.access(blocker, os.W_OK | os.X_OK):
            return (f"{key}: cannot create {folder}: {blocker} belongs to {_owner(blocker)}, and user {user} may not "
                    f"write in it (as root: install -d -o {user} -m 0750 {folder}; {elsewhere})")
    return None


def _owner(path: Path) -> str:
    try:
        return path.owner()
    except (KeyError, OSError):  # a UID without a name (a container's), or it vanished
        try:
            return f"UID {path.stat().st_uid}"
        except OSError:
            return "an unknown user"


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        reason = f"no such folder {path.parent}" if isinstance(exc, FileNotFoundError) else exc.strerror or str(exc)
        fail(f"cannot write {path}: {reason}", EXIT_CONFIG)


def _week(value: str | None) -> Week | None:
    if not value:
        return None
    try:
        return Week.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _moment(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"not an ISO-8601 moment: {value!r} (e.g. 2026-11-30T09:00+05:30)") from None
    if moment.tzinfo is None:
        raise click.BadParameter(f"{value!r} has no time zone; add one, e.g. +05:30")
    return moment


_LOG_LEVELS = click.Choice(["debug", "info", "warning", "error"], case_sensitive=False)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mailbot")
@click.option("--config", "config_path", envvar="MAILBOT_CONFIG", metavar="FILE",
              help="Configuration file (default: $MAILBOT_CONFIG).")
@click.option("--log-level", type=_LOG_LEVELS, help="Overrides mailbot.log_level from the config.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def main(click_ctx: click.Context, config_path: str | None, log_level: str | None, log_format: str) -> None:
    """mailbot: reads DSPs' weekly JSK reports from CEG's mailbox and runs the reporting loop.

    --config, --log-level and --log-format may also be given after the command."""
    click_ctx.obj = Context(config_path, log_level, log_format)
    configure_logging(log_level or "info", log_format)


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
        click.option("--log-format", type=click.Choice(["text", "json"]), expose_value=False,
                     callback=_after_command("log_format"), help="Same as `mailbot --log-format`."),
        click.option("--log-level", type=_LOG_LEVELS, expose_value=False, callback=_after_command("log_level"),
                     help="Same as `mailbot --log-level`."),
        click.option("--config", metavar="FILE", expose_value=False, callback=_after_command("config_path"),
                     help="Same as `mailbot --config FILE` (default: $MAILBOT_CONFIG)."),
    ):
        command = option(command)
    return command


@main.command()
@global_options
@pass_ctx
def poll(ctx: Context) -> None:
    """One pass over the mailbox: ingest new reports, queue replies, file the messages."""
    with mailbot_for(ctx, exclusive=True) as bot:
        report = _with_progress(bot.poll)
        click.echo(f"seen {report.seen}: accepted {report.accepted}, rejected {report.rejected}, ignored "
                   f"{report.ignored}, duplicate {report.duplicate}, failed {report.failed}, quarantined "
                   f"{report.quarantined}; moved {report.moved}"
                   + (f"; left unread {report.left}" if report.left else ""))


def _with_progress(poll_fn: Callable[..., Any]) -> Any:
    """A progress bar on a terminal for a long first pass over a backlog; silent otherwise."""
    if not sys.stderr.isatty():
        return poll_fn()
    bar: Any = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None and total >= 20:
            bar = click.progressbar(length=total, label="ingesting", file=sys.stderr)
            bar.__enter__()
        if bar is not None:
            bar.update(1)

    try:
        return poll_fn(progress)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)


@main.command()
@click.option("--dry-run", "dry_run", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Write the pending messages as .eml files into DIR; send nothing, mark nothing sent.")
@click.option("--retry-waiting", is_flag=True,
              help="Also try the messages waiting after a failed attempt now (after fixing the SMTP server).")
@global_options
@pass_ctx
def send(ctx: Context, dry_run: Path | None, retry_waiting: bool) -> None:
    """Deliver the outbox over SMTP."""
    with mailbot_for(ctx, exclusive=dry_run is None) as bot:
        if dry_run is not None:
            click.echo(f"wrote {bot.pending_mail(dry_run)} message(s) to {dry_run}")
            return
        report = bot.send(retry_waiting=retry_waiting)
        click.echo(str(report))


@main.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@global_options
@pass_ctx
def import_(ctx: Context, files: tuple[Path, ...]) -> None:
    """Run the ingestion pipeline on .eml files (mail forwarded by hand). Importing a file twice is harmless.

    Exits 1 when any file could not be used (not an email, or processing failed)."""
    unusable = 0
    with mailbot_for(ctx, exclusive=True) as bot:
        for path in files:
            mistake = _not_an_email(path)
            if mistake:
                unusable += 1
                click.echo(f"{path}: not imported: {mistake}")
                continue
            try:
                row = bot.import_file(path)
            except Exception as exc:  # one file's problem: the files after it are still imported
                log.exception("%s: import failed", path)
                unusable += 1
                click.echo(f"{path}: not imported: {type(exc).__name__} (see the log)")
                continue
            if row.outcome in {"failed", "quarantined"}:
                unusable += 1
                detail = row.reason or row.last_error or "no reason recorded"
                click.echo(f"{path}: {row.outcome}: {detail} (see the log; import it again once fixed)")
                continue
            if row.outcome == "ignored" and row.reason.startswith("not an email"):
                unusable += 1
            click.echo(f"{path}: {row.outcome}: {row.reason}" if row.reason else f"{path}: {row.outcome}")
    if unusable:
        fail(f"{unusable} of {len(files)} file(s) could not be imported; see above", EXIT_UNAVAILABLE)


def _not_an_email(path: Path) -> str:
    """Why ``path`` is clearly not an .eml file (a clerk's likely mix-ups), or "" when it may be one."""
    from mailbot.message import is_office_file  # noqa: PLC0415

    try:
        with path.open("rb") as file:
            head = file.read(8)
    except OSError as exc:
        return f"cannot read it: {exc.strerror or exc}"
    if not is_office_file(head):
        return ""
    if path.suffix.lower() == ".msg":
        return ("this is an Outlook .msg file, not an .eml: forward the email to the report mailbox instead, or "
                "save it as .eml (Thunderbird: Save As; Outlook on the web: Download)")
    return "this is a spreadsheet, not an email: save the DSP's email as .eml (in Outlook/Thunderbird: Save As)"


@main.command()
@click.option("--week", help="Week as YYYY-Www (default: the newest week past its deadline).")
@click.option("--now", "now_text", metavar="ISO-8601", help="Evaluate as of this moment.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (format in the README).")
@global_options
@pass_ctx
def status(ctx: Context, week: str | None, now_text: str | None, as_json: bool) -> None:
    """Per district and DSP: received or not, when, from which message, the figures, the problems."""
    from mailbot.status import table  # noqa: PLC0415

    chosen, moment = _week(week), _moment(now_text)  # a mistyped argument is named before anything else
    with mailbot_for(ctx, reading=True) as bot:
        result = bot.status(chosen, moment)
        click.echo(json.dumps(result, ensure_ascii=False, indent=2) if as_json else table(result))


@main.command()
@click.option("--now", "now_text", metavar="ISO-8601", help="Evaluate as of this moment (default: now).")
@click.option("--dry-run", "dry_run", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Write what is due as .eml files into DIR; queue nothing.")
@global_options
@pass_ctx
def check(ctx: Context, now_text: str | None, dry_run: Path | None) -> None:
    """Queue every reminder, escalation and summary due up to now (catching up on any missed)."""
    with mailbot_for(ctx, exclusive=dry_run is None) as bot:
        report = bot.check(_moment(now_text), dry_run=dry_run)
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(report.kinds.items())) or "nothing due"
        verb = f"wrote to {dry_run}" if dry_run else "queued"
        click.echo(f"{verb} {report.queued}: {kinds}")
        if report.held:
            held = ", ".join(f"{k} {v}" for k, v in sorted(Counter(h.kind for h in report.held).items()))
            click.echo(f"held {len(report.held)}: {held}: {report.hold_reason}")
            for step in report.held:
                other = f": {step.reason}" if step.reason != report.hold_reason else ""
                click.echo(f"  held {step.kind} for week {step.week} to {step.recipient}{other}")


@main.command()
@click.option("--week", help="Week as YYYY-Www (default: the newest week past its deadline).")
@click.option("--now", "now_text", metavar="ISO-8601", help="Evaluate as of this moment.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Where to write the .xlsx (default: JSK-weekly-summary-<week>.xlsx in the current folder).")
@global_options
@pass_ctx
def summary(ctx: Context, week: str | None, now_text: str | None, out: Path | None) -> None:
    """Write CEG's compliance summary workbook for a week (into the current folder unless --out says otherwise)."""
    wanted, moment = _week(week), _moment(now_text)
    with mailbot_for(ctx, reading=True) as bot:
        chosen, data = bot.summary_workbook(wanted, moment)
        path = out or Path(f"JSK-weekly-summary-{chosen}.xlsx")
        _write(path, data)
        click.echo(f"wrote {path} (week {chosen})")


@main.command()
@click.option("--dsp", "dsp_name", required=True, help="The DSP's name as in the roster.")
@click.option("--week", help="Week as YYYY-Www (default: the last completed week).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Where to write the .xlsx (default: JSK-report-<DSP>-<week>.xlsx in the current folder).")
@global_options
@pass_ctx
def template(ctx: Context, dsp_name: str, week: str | None, out: Path | None) -> None:
    """The blank report workbook for a DSP, pre-filled with its districts (into the current folder unless --out
    says otherwise)."""
    from mailbot.weeks import last_completed_week  # noqa: PLC0415
    from mailbot.workbook.template import report_workbook  # noqa: PLC0415

    wanted = _week(week)
    with mailbot_for(ctx, reading=True) as bot:
        roster = bot.roster()
        try:
            dsp = roster.dsp(dsp_name)
        except KeyError:
            names = ", ".join(d.name for d in roster.dsps)
            fail(f"no DSP named {dsp_name!r} in the roster; known: {names}", EXIT_CONFIG)
        chosen = wanted or last_completed_week(bot.clock(), ctx.config.calendar.timezone)
        lgd_codes = roster.districts_of(dsp.name, chosen)
        path = out or Path(f"JSK-report-{_slug(dsp.name)}-{chosen}.xlsx")
        _write(path, report_workbook(dsp.name, chosen, lgd_codes))
        click.echo(f"wrote {path}: {len(lgd_codes)} district(s) for {dsp.name}, week {chosen}")


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text).strip("-")


FORGERY_WARNING = (
    "imap.authserv_id is not set, so anyone can forge a DSP's From address and send a report in its name. "
    "To find the id, open a report a DSP sent (show the original / raw headers) and read its topmost "
    "Authentication-Results header: the id is its first word, e.g. 'Authentication-Results: mx.ceg.example; "
    "dmarc=pass ...' gives authserv_id = \"mx.ceg.example\". Set it in the [imap] section of the config.")


@main.command()
@global_options
@pass_ctx
def run(ctx: Context) -> None:
    """The daemon: poll, send, check and summarise on schedule until SIGTERM."""
    from mailbot.roster import RosterError, load_roster  # noqa: PLC0415
    from mailbot.scheduler import run_daemon  # noqa: PLC0415

    try:
        config = ctx.config
    except ConfigError as exc:
        fail(str(exc), EXIT_CONFIG)
    try:
        # A missing password or a broken roster stops the start loudly, not every poll quietly. A token command
        # is only looked up here, not run (see Secret.check): the first poll runs it.
        for secret in (config.imap.secret, config.smtp.secret):
            if secret is not None:
                secret.check()
        load_roster(config.roster)
    except ConfigError as exc:
        fail(f"{config.source}: {exc}", EXIT_CONFIG)
    except RosterError as exc:
        fail(_roster_fix(exc, config), EXIT_CONFIG)
    if problem := _unwritable(config):
        fail(problem, EXIT_CONFIG)
    if not config.imap.authserv_id:
        click.echo(f"mailbot: WARNING: {FORGERY_WARNING}", err=True)
    sys.exit(run_daemon(config, give_up_after=SHUTDOWN_GRACE_SECONDS))


@main.command()
@click.option("--now", "now_text", metavar="ISO-8601", help="Judge as of this moment.")
@global_options
@pass_ctx
def health(ctx: Context, now_text: str | None) -> None:
    """For monitoring: exit 0 when mail is being read and delivered, 4 otherwise (2: bad configuration).

    Unhealthy (4) when there is no database, when the last successful poll is older than
    schedule.health_max_age_minutes, when an email has waited in the outbox longer than
    schedule.outbox_max_age_minutes, when the SMTP server refused the login or the sender, or when the
    last check held notices back because the mailbox was not read recently."""
    from mailbot.health import health as judge  # noqa: PLC0415
    from mailbot.service import utc_now  # noqa: PLC0415

    try:
        config = ctx.config
        if problem := _unwritable(config):  # reading a WAL database writes its -shm file beside it
            fail(problem, EXIT_CONFIG)
        ok, message = judge(config, _moment(now_text) or utc_now())
    except ConfigError as exc:
        fail(str(exc), EXIT_CONFIG)
    click.echo(message)
    sys.exit(0 if ok else EXIT_STALE)


@main.command()
@global_options
@pass_ctx
def init(ctx: Context) -> None:
    """Create the database and check the config, the roster and both servers: the first thing to run.

    Exits 2 when a password source is missing, the roster is missing or broken, or the database or archive folder
    cannot be written (the message names the key, file or folder to fix), 1 when a server could not be reached or
    refused the login."""
    from mailbot.districts import by_code  # noqa: PLC0415
    from mailbot.mailbox import MailboxError, check_login  # noqa: PLC0415
    from mailbot.service import FIRST_WEEK  # noqa: PLC0415
    from mailbot.smtp import SmtpError, SmtpTransport  # noqa: PLC0415

    problems = 0
    config_problems = 0
    with mailbot_for(ctx) as bot:
        config = bot.config
        click.echo(f"config: {config.source} OK")
        click.echo(f"database: {config.database} (created or up to date)")
        roster = bot.roster()
        click.echo(f"roster: {config.roster}: {len(roster.dsps)} DSPs, {len(roster.assignments)} assignments, "
                   f"DEGS addresses for {len(roster.degs)} districts")
        if without := roster.districts_without_degs():
            named = ", ".join(f"{by_code(code).name_en} ({code})" for code in without)
            click.echo(f"roster: WARNING: no DEGS address for {named}: their escalations go to CEG only")
        first = bot.calendar().first_week
        source = ("calendar.first_week" if config.calendar.first_week
                  else "the first `mailbot check` stored it" if bot.store.get_value(FIRST_WEEK) else
                  "the oldest week whose deadline is still ahead; the first `mailbot check` stores it; preview with "
                  "`mailbot check --dry-run DIR`")
        click.echo(f"reporting: DSPs are held to account from week {first} ({source})")
        if not config.imap.authserv_id:
            click.echo(f"IMAP: WARNING: {FORGERY_WARNING}")
        # Each server is checked even when the other fails: the operator fixes both in one round.
        try:
            click.echo(check_login(config.imap))
        except (MailboxError, ConfigError) as exc:
            problems += 1
            config_problems += isinstance(exc, ConfigError)
            click.echo(f"IMAP: FAILED ({exc})")
        transport = SmtpTransport(config.smtp)
        try:
            transport.connect()
            click.echo(f"{transport.where}: connected"
                       + (f", logged in as {config.smtp.username}" if config.smtp.secret else ""))
        except (SmtpError, ConfigError) as exc:
            problems += 1
            config_problems += isinstance(exc, ConfigError)
            click.echo(f"SMTP: FAILED ({exc})")
        finally:
            transport.close()
    if problems:
        fail(f"{problems} check(s) failed; see above", EXIT_CONFIG if config_problems else EXIT_UNAVAILABLE)
    click.echo("all checks passed")


@main.command()
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=Path("demo-output"),
              show_default=True, help="Where the demo writes its config, database and summary workbook.")
def demo(workdir: Path) -> None:
    """A whole reporting week on local servers, with no configuration: see what mailbot does."""
    from mailbot.demo import WorkdirInUse, run_demo  # noqa: PLC0415

    configure_logging("warning", "text")
    try:
        run_demo(workdir, click.echo)
    except WorkdirInUse as exc:
        fail(str(exc), EXIT_CONFIG)


if __name__ == "__main__":  # pragma: no cover
    main()

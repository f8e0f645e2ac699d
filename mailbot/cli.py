"""The `mailbot` command. The only place that configures logging or exits.

Exit status: 0 done; 1 a server or the data could not be reached (retry later); 2 bad configuration, roster or
arguments (fix them); 3 another `mailbot run` holds the database; 4 `health` found the daemon stale.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

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
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
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


def fail(message: str, code: int) -> None:
    click.echo(f"mailbot: {message}", err=True)
    sys.exit(code)


@contextmanager
def mailbot_for(ctx: Context, exclusive: bool = False) -> Iterator[Any]:
    """Open the service, turning the errors an operator can fix into one clear line and an exit status.

    ``exclusive``: the command changes the mailbox or the outbox, so it must not run beside `mailbot run`
    (two pollers would race for the same messages); it takes the daemon's lock or refuses."""
    from mailbot.lock import AlreadyRunning, DatabaseLock  # noqa: PLC0415 - keep --help fast
    from mailbot.mailbox import MailboxAuthError, MailboxError  # noqa: PLC0415
    from mailbot.roster import RosterError  # noqa: PLC0415
    from mailbot.service import Mailbot  # noqa: PLC0415
    from mailbot.smtp import SmtpAuthError, SmtpError  # noqa: PLC0415

    lock = None
    try:
        config = ctx.config
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
        fail(str(exc), EXIT_CONFIG)
    try:
        yield bot
    except (ConfigError, RosterError) as exc:
        fail(str(exc), EXIT_CONFIG)
    except (MailboxAuthError, SmtpAuthError) as exc:
        fail(f"login refused: {exc}", EXIT_UNAVAILABLE)
    except (MailboxError, SmtpError) as exc:
        fail(f"server unavailable: {exc}", EXIT_UNAVAILABLE)
    finally:
        bot.close()
        if lock is not None:
            lock.release()


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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mailbot")
@click.option("--config", "config_path", envvar="MAILBOT_CONFIG", metavar="FILE",
              help="Configuration file (default: $MAILBOT_CONFIG).")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
              help="Overrides mailbot.log_level from the config.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def main(click_ctx: click.Context, config_path: str | None, log_level: str | None, log_format: str) -> None:
    """mailbot: reads DSPs' weekly JSK reports from CEG's mailbox and runs the reporting loop."""
    click_ctx.obj = Context(config_path, log_level, log_format)
    configure_logging(log_level or "info", log_format)


pass_ctx = click.make_pass_decorator(Context)


@main.command()
@pass_ctx
def poll(ctx: Context) -> None:
    """One pass over the mailbox: ingest new reports, queue replies, file the messages."""
    with mailbot_for(ctx, exclusive=True) as bot:
        report = _with_progress(bot.poll)
        click.echo(f"seen {report.seen}: accepted {report.accepted}, rejected {report.rejected}, ignored "
                   f"{report.ignored}, duplicate {report.duplicate}, failed {report.failed}, quarantined "
                   f"{report.quarantined}; moved {report.moved}")


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
@pass_ctx
def import_(ctx: Context, files: tuple[Path, ...]) -> None:
    """Run the ingestion pipeline on .eml files (mail forwarded by hand). Importing a file twice is harmless."""
    with mailbot_for(ctx, exclusive=True) as bot:
        for path in files:
            row = bot.import_file(path)
            click.echo(f"{path}: {row.outcome}: {row.reason}")


@main.command()
@click.option("--week", help="Week as YYYY-Www (default: the newest week past its deadline).")
@click.option("--now", "now_text", metavar="ISO-8601", help="Evaluate as of this moment.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (format in the README).")
@pass_ctx
def status(ctx: Context, week: str | None, now_text: str | None, as_json: bool) -> None:
    """Per district and DSP: received or not, when, from which message, the figures, the problems."""
    from mailbot.status import table  # noqa: PLC0415

    with mailbot_for(ctx) as bot:
        result = bot.status(_week(week), _moment(now_text))
        click.echo(json.dumps(result, ensure_ascii=False, indent=2) if as_json else table(result))


@main.command()
@click.option("--now", "now_text", metavar="ISO-8601", help="Evaluate as of this moment (default: now).")
@click.option("--dry-run", "dry_run", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Write what is due as .eml files into DIR; queue nothing.")
@pass_ctx
def check(ctx: Context, now_text: str | None, dry_run: Path | None) -> None:
    """Queue every reminder, escalation and summary due up to now (catching up on any missed)."""
    with mailbot_for(ctx, exclusive=dry_run is None) as bot:
        report = bot.check(_moment(now_text), dry_run=dry_run)
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(report.kinds.items())) or "nothing due"
        verb = f"wrote to {dry_run}" if dry_run else "queued"
        click.echo(f"{verb} {report.queued}: {kinds}")


@main.command()
@click.option("--week", help="Week as YYYY-Www (default: the newest week past its deadline).")
@click.option("--now", "now_text", metavar="ISO-8601", help="Evaluate as of this moment.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Where to write the .xlsx.")
@pass_ctx
def summary(ctx: Context, week: str | None, now_text: str | None, out: Path | None) -> None:
    """Write CEG's compliance summary workbook for a week."""
    with mailbot_for(ctx) as bot:
        chosen, data = bot.summary_workbook(_week(week), _moment(now_text))
        path = out or Path(f"JSK-weekly-summary-{chosen}.xlsx")
        path.write_bytes(data)
        click.echo(f"wrote {path} (week {chosen})")


@main.command()
@click.option("--dsp", "dsp_name", required=True, help="The DSP's name as in the roster.")
@click.option("--week", help="Week as YYYY-Www (default: the last completed week).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Where to write the .xlsx.")
@pass_ctx
def template(ctx: Context, dsp_name: str, week: str | None, out: Path | None) -> None:
    """The blank report workbook for a DSP, pre-filled with its districts."""
    from mailbot.template import report_workbook  # noqa: PLC0415
    from mailbot.weeks import last_completed_week  # noqa: PLC0415

    with mailbot_for(ctx) as bot:
        roster = bot.roster()
        try:
            dsp = roster.dsp(dsp_name)
        except KeyError:
            names = ", ".join(d.name for d in roster.dsps)
            fail(f"no DSP named {dsp_name!r} in the roster; known: {names}", EXIT_CONFIG)
        chosen = _week(week) or last_completed_week(bot.clock(), ctx.config.calendar.timezone)
        lgd_codes = roster.districts_of(dsp.name, chosen)
        path = out or Path(f"JSK-report-{_slug(dsp.name)}-{chosen}.xlsx")
        path.write_bytes(report_workbook(dsp.name, chosen, lgd_codes))
        click.echo(f"wrote {path}: {len(lgd_codes)} district(s) for {dsp.name}, week {chosen}")


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text).strip("-")


@main.command()
@pass_ctx
def run(ctx: Context) -> None:
    """The daemon: poll, send, check and summarise on schedule until SIGTERM."""
    from mailbot.roster import RosterError, load_roster  # noqa: PLC0415
    from mailbot.scheduler import run_daemon  # noqa: PLC0415

    try:
        config = ctx.config
        load_roster(config.roster)  # a broken roster stops the start loudly, not every poll quietly
        sys.exit(run_daemon(config, give_up_after=SHUTDOWN_GRACE_SECONDS))
    except (ConfigError, RosterError) as exc:
        fail(str(exc), EXIT_CONFIG)


@main.command()
@click.option("--now", "now_text", metavar="ISO-8601", help="Judge as of this moment.")
@pass_ctx
def health(ctx: Context, now_text: str | None) -> None:
    """Exit 0 when the last successful poll is recent enough, 4 otherwise (for monitoring)."""
    from mailbot.health import health as judge  # noqa: PLC0415
    from mailbot.service import utc_now  # noqa: PLC0415

    try:
        ok, message = judge(ctx.config, _moment(now_text) or utc_now())
    except ConfigError as exc:
        fail(str(exc), EXIT_CONFIG)
    click.echo(message)
    sys.exit(0 if ok else EXIT_STALE)


@main.command()
@pass_ctx
def init(ctx: Context) -> None:
    """Create the database and check the config, the roster and both servers: the first thing to run."""
    from mailbot.mailbox import MailboxError, check_login  # noqa: PLC0415
    from mailbot.smtp import SmtpError, SmtpTransport  # noqa: PLC0415

    problems = 0
    with mailbot_for(ctx) as bot:
        config = bot.config
        click.echo(f"config: {config.source} OK")
        click.echo(f"database: {config.database} (created or up to date)")
        roster = bot.roster()
        click.echo(f"roster: {config.roster}: {len(roster.dsps)} DSPs, {len(roster.assignments)} assignments, "
                   f"DEGS addresses for {len(roster.degs)} districts")
        try:
            click.echo(check_login(config.imap))
        except MailboxError as exc:
            problems += 1
            click.echo(f"IMAP: FAILED: {exc}")
        transport = SmtpTransport(config.smtp)
        try:
            transport.connect()
            click.echo(f"{transport.where}: connected"
                       + (f", logged in as {config.smtp.username}" if config.smtp.secret else ""))
        except SmtpError as exc:
            problems += 1
            click.echo(f"SMTP: FAILED: {exc}")
        finally:
            transport.close()
    if problems:
        fail(f"{problems} check(s) failed; see above", EXIT_UNAVAILABLE)
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

"""The `mailbot` command group and the commands that act: poll, send, import, check, run, health, init, demo.

``cli_report`` holds the commands that only read and print (status, summary, template), ``cli_context`` what
every command shares (the Context, global options, ``mailbot_for``, ``fail``), ``cli_logging`` the log format.
Commands end through ``cli_context.fail`` or ``sys.exit`` with their exit status; the one other exit is
``scheduler.run_daemon``'s ``os._exit`` when a job outlives SIGTERM's grace period.

Exit status: 0 done; 1 a server or the data could not be reached (retry later), or `import` could not use a file;
2 bad configuration, roster or arguments (fix them); 3 another `mailbot run` holds the database; 4 `health` found
the daemon stale. An error an operator can fix derives from ``errors.MailbotError`` and carries its status.

Each command imports what it uses when it runs: `mailbot poll` on an empty mailbox must cost little more than
the IMAP login (issue 11), so neither these modules nor ``service`` load the database layer, the workbook readers
or the templates at import.
"""

from __future__ import annotations

import logging
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mailbot import __version__
from mailbot.cli_context import (
    LOG_LEVELS,
    Context,
    explain,
    fail,
    global_options,
    mailbot_for,
    parse_moment,
    pass_ctx,
    unwritable,
)
from mailbot.cli_logging import configure_logging
from mailbot.cli_report import status, summary, template
from mailbot.errors import EXIT_CONFIG, EXIT_RUNNING, EXIT_STALE, EXIT_UNAVAILABLE, MailbotError
from mailbot.outcomes import Outcome, ReasonCode

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar

    from mailbot.pollreport import PollReport

log = logging.getLogger("mailbot")

__all__ = ["EXIT_CONFIG", "EXIT_RUNNING", "EXIT_STALE", "EXIT_UNAVAILABLE", "configure_logging", "main"]
SHUTDOWN_GRACE_SECONDS = 8.0  # SIGTERM: how long the job in hand may take before mailbot stops without it


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mailbot")
@click.option(
    "--config",
    "config_path",
    envvar="MAILBOT_CONFIG",
    metavar="FILE",
    help="Configuration file (default: $MAILBOT_CONFIG).",
)
@click.option("--log-level", type=LOG_LEVELS, help="Overrides mailbot.log_level from the config.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def main(click_ctx: click.Context, config_path: str | None, log_level: str | None, log_format: str) -> None:
    """mailbot: reads DSPs' weekly JSK reports from CEG's mailbox and runs the reporting loop.

    --config, --log-level and --log-format may also be given after the command."""
    click_ctx.obj = Context(config_path, log_level, log_format)
    configure_logging(log_level or "info", log_format)


for _command in (status, summary, template):  # cli_report: the commands that only read and print
    main.add_command(_command)


@main.command()
@global_options
@pass_ctx
def poll(ctx: Context) -> None:
    """One pass over the mailbox: ingest new reports, queue replies, file the messages."""
    with mailbot_for(ctx, exclusive=True) as bot:
        report = _with_progress(bot.poll)
        click.echo(
            f"seen {report.seen}: accepted {report.accepted}, rejected {report.rejected}, ignored "
            f"{report.ignored}, duplicate {report.duplicate}, failed {report.failed}, quarantined "
            f"{report.quarantined}; moved {report.moved}" + (f"; left unread {report.left}" if report.left else "")
        )


def _with_progress(poll_fn: Callable[[Callable[[int, int], None] | None], PollReport]) -> PollReport:
    """A progress bar on a terminal for a long first pass over a backlog; silent otherwise."""
    if not sys.stderr.isatty():
        return poll_fn(None)
    bar: ProgressBar[int] | None = None

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
@click.option(
    "--dry-run",
    "dry_run",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Write the pending messages as .eml files into DIR; send nothing, mark nothing sent.",
)
@click.option(
    "--retry-waiting",
    is_flag=True,
    help="Also try the messages waiting after a failed attempt now (after fixing the SMTP server).",
)
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
            if row.outcome == Outcome.IGNORED and row.code() == ReasonCode.NOT_AN_EMAIL:
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
        return (
            "this is an Outlook .msg file, not an .eml: forward the email to the report mailbox instead, or "
            "save it as .eml (Thunderbird: Save As; Outlook on the web: Download)"
        )
    return "this is a spreadsheet, not an email: save the DSP's email as .eml (in Outlook/Thunderbird: Save As)"


@main.command()
@click.option("--now", "now_text", metavar="ISO-8601", help="Evaluate as of this moment (default: now).")
@click.option(
    "--dry-run",
    "dry_run",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Write what is due as .eml files into DIR; queue nothing.",
)
@global_options
@pass_ctx
def check(ctx: Context, now_text: str | None, dry_run: Path | None) -> None:
    """Queue every reminder, escalation and summary due up to now (catching up on any missed)."""
    with mailbot_for(ctx, exclusive=dry_run is None) as bot:
        report = bot.check(parse_moment(now_text), dry_run=dry_run)
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(report.kinds.items())) or "nothing due"
        verb = f"wrote to {dry_run}" if dry_run else "queued"
        click.echo(f"{verb} {report.queued}: {kinds}")
        if report.held:
            held = ", ".join(f"{k} {v}" for k, v in sorted(Counter(h.kind for h in report.held).items()))
            click.echo(f"held {len(report.held)}: {held}: {report.hold_reason}")
            for step in report.held:
                other = f": {step.reason}" if step.reason != report.hold_reason else ""
                click.echo(f"  held {step.kind} for week {step.week} to {step.recipient}{other}")


FORGERY_WARNING = (
    "imap.authserv_id is not set, so anyone can forge a DSP's From address and send a report in its name. "
    "To find the id, open a report a DSP sent (show the original / raw headers) and read its topmost "
    "Authentication-Results header: the id is its first word, e.g. 'Authentication-Results: mx.ceg.example; "
    'dmarc=pass ...\' gives authserv_id = "mx.ceg.example". Set it in the [imap] section of the config.'
)


@main.command()
@global_options
@pass_ctx
def run(ctx: Context) -> None:
    """The daemon: poll, send, check and summarise on schedule until SIGTERM."""
    from mailbot.roster import load_roster  # noqa: PLC0415
    from mailbot.scheduler import run_daemon  # noqa: PLC0415

    try:
        config = ctx.config
    except MailbotError as exc:
        fail(explain(exc, None), exc.exit_status)
    # A missing password or a broken roster stops the start loudly, not every poll quietly. A token command
    # is only looked up here, not run (see Secret.check): the first poll runs it.
    try:
        for secret in (config.imap.secret, config.smtp.secret):
            if secret is not None:
                secret.check()
    except MailbotError as exc:
        fail(f"{config.source}: {explain(exc, config)}", exc.exit_status)
    try:
        load_roster(config.roster)
    except MailbotError as exc:
        fail(explain(exc, config), exc.exit_status)
    if problem := unwritable(config):
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
        if problem := unwritable(config):  # reading a WAL database writes its -shm file beside it
            fail(problem, EXIT_CONFIG)
        ok, message = judge(config, parse_moment(now_text) or utc_now())
    except MailbotError as exc:
        fail(explain(exc, ctx.loaded_config), exc.exit_status)
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
    from mailbot.mailbox import check_login  # noqa: PLC0415
    from mailbot.service import FIRST_WEEK  # noqa: PLC0415
    from mailbot.smtp import SmtpTransport  # noqa: PLC0415

    problems = 0
    config_problems = 0
    with mailbot_for(ctx) as bot:
        config = bot.config
        click.echo(f"config: {config.source} OK")
        click.echo(f"database: {config.database} (created or up to date)")  # by Mailbot(config)
        roster = bot.roster()
        click.echo(
            f"roster: {config.roster}: {len(roster.dsps)} DSPs, {len(roster.assignments)} assignments, "
            f"DEGS addresses for {len(roster.degs)} districts"
        )
        if without := roster.districts_without_degs():
            named = ", ".join(f"{by_code(code).name_en} ({code})" for code in without)
            click.echo(f"roster: WARNING: no DEGS address for {named}: their escalations go to CEG only")
        first = bot.calendar().first_week
        source = (
            "calendar.first_week"
            if config.calendar.first_week
            else "the first `mailbot check` stored it"
            if bot.values.get(FIRST_WEEK)
            else "the oldest week whose deadline is still ahead; the first `mailbot check` stores it; preview with "
            "`mailbot check --dry-run DIR`"
        )
        click.echo(f"reporting: DSPs are held to account from week {first} ({source})")
        if not config.imap.authserv_id:
            click.echo(f"IMAP: WARNING: {FORGERY_WARNING}")
        # Each server is checked even when the other fails: the operator fixes both in one round.
        try:
            click.echo(check_login(config.imap))
        except MailbotError as exc:
            problems += 1
            config_problems += exc.exit_status == EXIT_CONFIG
            click.echo(f"IMAP: FAILED ({exc})")
        transport = SmtpTransport(config.smtp)
        try:
            transport.connect()
            click.echo(
                f"{transport.where}: connected"
                + (f", logged in as {config.smtp.username}" if config.smtp.secret else "")
            )
        except MailbotError as exc:
            problems += 1
            config_problems += exc.exit_status == EXIT_CONFIG
            click.echo(f"SMTP: FAILED ({exc})")
        finally:
            transport.close()
    if problems:
        fail(f"{problems} check(s) failed; see above", EXIT_CONFIG if config_problems else EXIT_UNAVAILABLE)
    click.echo("all checks passed")


@main.command()
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-output"),
    show_default=True,
    help="Where the demo writes its config, database and summary workbook.",
)
def demo(workdir: Path) -> None:
    """A whole reporting week on local servers, with no configuration: see what mailbot does."""
    from mailbot.demo import run_demo  # noqa: PLC0415

    configure_logging("warning", "text")
    try:
        run_demo(workdir, click.echo)
    except MailbotError as exc:  # the workdir holds something that is not an earlier demo's
        fail(explain(exc, None), exc.exit_status)


if __name__ == "__main__":  # pragma: no cover
    main()

"""The commands that read the database and print or write what they find: `status`, `summary` and `template`. They
change nothing, so they run beside the daemon. ``cli`` adds them to the `mailbot` group."""

from __future__ import annotations

import json
from pathlib import Path

import click

from mailbot.cli_context import (
    Context,
    fail,
    global_options,
    mailbot_for,
    parse_moment,
    parse_week,
    pass_ctx,
    write_file,
)
from mailbot.errors import EXIT_CONFIG


@click.command()
@click.option("--week", help="Week as YYYY-Www (default: the newest week past its deadline).")
@click.option("--now", "now_text", metavar="ISO-8601", help="Evaluate as of this moment.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (format in the README).")
@global_options
@pass_ctx
def status(ctx: Context, week: str | None, now_text: str | None, as_json: bool) -> None:
    """Per district and DSP: received or not, when, from which message, the figures, the problems."""
    from mailbot.status import table  # noqa: PLC0415

    chosen, moment = parse_week(week), parse_moment(now_text)  # a mistyped argument is named before anything else
    with mailbot_for(ctx, reading=True) as bot:
        result = bot.status(chosen, moment)
        click.echo(json.dumps(result, ensure_ascii=False, indent=2) if as_json else table(result))


@click.command()
@click.option("--week", help="Week as YYYY-Www (default: the newest week past its deadline).")
@click.option("--now", "now_text", metavar="ISO-8601", help="Evaluate as of this moment.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Where to write the .xlsx (default: JSK-weekly-summary-<week>.xlsx in the current folder).",
)
@global_options
@pass_ctx
def summary(ctx: Context, week: str | None, now_text: str | None, out: Path | None) -> None:
    """Write CEG's compliance summary workbook for a week (into the current folder unless --out says otherwise)."""
    wanted, moment = parse_week(week), parse_moment(now_text)
    with mailbot_for(ctx, reading=True) as bot:
        chosen, data = bot.summary_workbook(wanted, moment)
        path = out or Path(f"JSK-weekly-summary-{chosen}.xlsx")
        write_file(path, data)
        click.echo(f"wrote {path} (week {chosen})")


@click.command()
@click.option("--dsp", "dsp_name", required=True, help="The DSP's name as in the roster.")
@click.option("--week", help="Week as YYYY-Www (default: the last completed week).")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Where to write the .xlsx (default: JSK-report-<DSP>-<week>.xlsx in the current folder).",
)
@global_options
@pass_ctx
def template(ctx: Context, dsp_name: str, week: str | None, out: Path | None) -> None:
    """The blank report workbook for a DSP, pre-filled with its districts (into the current folder unless --out
    says otherwise)."""
    from mailbot.weeks import last_completed_week  # noqa: PLC0415
    from mailbot.workbook.template import report_workbook  # noqa: PLC0415

    wanted = parse_week(week)
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
        write_file(path, report_workbook(dsp.name, chosen, lgd_codes))
        click.echo(f"wrote {path}: {len(lgd_codes)} district(s) for {dsp.name}, week {chosen}")


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text).strip("-")

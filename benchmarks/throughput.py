"""Ingest and send speed beside their floors, on a private Dovecot and SMTP sink (issue 11). Run: `make bench`.

Prints, in one run, each measure next to the least the machine can do for the same work:
  first poll of N reports      vs  raw UID FETCH BODY.PEEK[] + parsing the same workbooks + one fsync each  (<= 3x)
  20 new reports, big history  vs  the same 20 on a database with 10 reports                        (ratio <= 1.2)
  send of the queued replies   vs  an smtplib loop over one connection                                    (<= 2x)
  a poll that finds nothing    vs  interpreter + imports + IMAP login                                     (<= 2x)
N is 300 (a few minutes); MAILBOT_BENCH_REPORTS=1000 for the issue's figure. Exits 1 when a target is missed.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import smtplib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from common import dovecot_imap, verdict, write_config  # noqa: E402
from servers import DovecotServer, SmtpSink, make_certificate  # noqa: E402

from mailbot.config import Config, load_config  # noqa: E402
from mailbot.mailbuilder import build_email  # noqa: E402
from mailbot.message import parse_message  # noqa: E402
from mailbot.roster import load_roster  # noqa: E402
from mailbot.service import Mailbot  # noqa: E402
from mailbot.store import Outbox, select  # noqa: E402
from mailbot.weeks import Week  # noqa: E402
from mailbot.workbook import parse_workbook  # noqa: E402
from mailbot.workbook.template import report_workbook  # noqa: E402

ROSTER = ROOT / "fixtures" / "roster" / "roster.xlsx"
FIGURES = ("rural_target", "rural_opened", "urban_target", "urban_opened", "functional", "b2c_enabled")


def reports(count: int, salt: int) -> list[bytes]:
    """``count`` distinct report emails (~29 KB each, 6-75 district rows) from the roster's DSPs."""
    roster = load_roster(ROSTER)
    out: list[bytes] = []
    i = 0
    while len(out) < count:
        dsp = roster.dsps[i % len(roster.dsps)]
        week = Week(2026, 1 + (i // len(roster.dsps)) % 47)
        codes = roster.districts_of(dsp.name, week)
        i += 1
        if not codes:
            continue
        codes = codes[: 6 + (i * 7) % 70]
        figures = {c: {k: 100 + (i + salt + n) % 50 for n, k in enumerate(FIGURES)} for c in codes}
        for c in codes:
            figures[c]["rural_opened"] = min(figures[c]["rural_opened"], figures[c]["rural_target"])
            figures[c]["urban_opened"] = min(figures[c]["urban_opened"], figures[c]["urban_target"])
        book = report_workbook(dsp.name, week, codes, figures)
        sender = sorted(dsp.sender_addresses)[0]
        out.append(
            build_email(
                sender=f"{dsp.name} <{sender}>",
                subject=f"Weekly JSK report {week}",
                attachments=[(f"JSK-{week}.xlsx", book)],
                message_id=f"<bench-{salt}-{i}@bench.example>",
            )
        )
    return out


def config_for(workdir: Path, dovecot: DovecotServer, user: str, env: str, sink: SmtpSink) -> Config:
    return load_config(
        write_config(
            workdir,
            ROSTER,
            dovecot_imap(dovecot.imaps_port, dovecot.ca_file, user, env),
            {"port": sink.port, "security": "none"},
        )
    )


def account(dovecot: DovecotServer) -> tuple[str, str]:
    user, password = dovecot.add_user()
    env = f"MAILBOT_BENCH_{user.upper().replace('-', '_')}"
    os.environ[env] = password
    return user, env


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def floor_ingest(dovecot: DovecotServer, user: str, workdir: Path) -> float:
    """Raw fetch of the inbox in 50s, the fastest parse of each workbook (in-process) and one fsync each."""
    started = time.perf_counter()
    with dovecot.client(user) as client:
        client.select_folder("INBOX", readonly=True)
        uids = client.search("ALL")
        raws = []
        for start in range(0, len(uids), 50):
            data = client.fetch(uids[start : start + 50], ["BODY.PEEK[]", "INTERNALDATE"])
            raws.extend(item[b"BODY[]"] for item in data.values())
    target = workdir / "floor.bin"
    with target.open("wb") as out:
        for raw in raws:
            message = parse_message(raw)
            for part in message.attachments:
                parse_workbook(part.content, part.filename)
            out.write(raw[:64])
            out.flush()
            os.fsync(out.fileno())
    return time.perf_counter() - started


def installed_env(cache: Path) -> dict[str, str]:
    """Run the CLI as an installed mailbot runs: from bytecode compiled once, not from source each run (this
    machine sets PYTHONDONTWRITEBYTECODE, which made every module compile on every start)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(cache)
    return env


def run_timed(args: list[str], env: dict[str, str]) -> float:
    took, done = timed(lambda: subprocess.run(args, capture_output=True, text=True, check=False, env=env))
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    return took


def empty_poll_against_floor(
    config: Config, dovecot: DovecotServer, user: str, env_name: str, cache: Path, rounds: int = 5
) -> tuple[float, float]:
    """Median of ``rounds`` alternating runs of `mailbot poll` (nothing new) and of its floor: the interpreter,
    imapclient and an IMAP login + select + search + logout on the same server."""
    env = installed_env(cache)
    code = (
        "import os, ssl; from imapclient import IMAPClient\n"
        f"c = IMAPClient('127.0.0.1', port={dovecot.imaps_port}, ssl=True, "
        f"ssl_context=ssl.create_default_context(cafile={str(dovecot.ca_file)!r}))\n"
        f"c.login({user!r}, os.environ[{env_name!r}]); c.select_folder('INBOX'); c.search('ALL'); c.logout()"
    )
    poll = [sys.executable, "-m", "mailbot", "--config", str(config.source or ""), "poll"]
    floor = [sys.executable, "-c", code]
    run_timed(poll, env), run_timed(floor, env)  # compile the bytecode once, as pip does at install
    polls, floors = [], []
    for _ in range(rounds):
        polls.append(run_timed(poll, env))
        floors.append(run_timed(floor, env))
    return statistics.median(polls), statistics.median(floors)


def smtplib_floor(sink: SmtpSink, raws: list[bytes]) -> float:
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", sink.port) as smtp:
        for raw in raws:
            smtp.sendmail("mailbot@ceg.example", ["x@dsp.example"], raw)
    return time.perf_counter() - started


def main() -> int:  # noqa: PLR0915 - one run, in the order it prints
    count = int(os.environ.get("MAILBOT_BENCH_REPORTS", "300"))
    results: list[bool] = []
    with tempfile.TemporaryDirectory(prefix="mailbot-bench-") as tmp:
        root = Path(tmp)
        tls = make_certificate(root / "tls")
        dovecot = DovecotServer(tls=tls)
        sink = SmtpSink(None, security="none", username=None)
        dovecot.start()
        sink.start()
        try:
            print(f"building {count} report emails...", flush=True)
            backlog = reports(count, salt=1)
            print(f"  {sum(map(len, backlog)) / len(backlog) / 1000:.0f} KB each on average", flush=True)

            # --- first poll of the backlog vs its floor
            user, env = account(dovecot)
            dovecot.seed_many(user, backlog)
            floor = floor_ingest(dovecot, user, root)
            big = root / "big"
            big.mkdir()
            config = config_for(big, dovecot, user, env, sink)
            bot = Mailbot(config)
            if "--profile" in sys.argv:  # where the first poll's time goes
                profiler = cProfile.Profile()
                took, report = timed(lambda: profiler.runcall(bot.poll))
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)
            else:
                took, report = timed(bot.poll)
            if report.accepted + report.duplicate != count:
                raise RuntimeError(f"not every report was accepted: {report}")
            results.append(verdict(f"first poll of {count} reports", took, floor, 3, "raw fetch + parse + fsync each"))

            # --- 20 new reports on 10 earlier vs on the backlog
            small_user, small_env = account(dovecot)
            small = root / "small"
            small.mkdir()
            small_config = config_for(small, dovecot, small_user, small_env, sink)
            small_bot = Mailbot(small_config)
            dovecot.seed_many(small_user, reports(10, salt=2))
            small_bot.poll()
            fresh = reports(20, salt=3)
            dovecot.seed_many(small_user, fresh)
            few = timed(small_bot.poll)[0]
            dovecot.seed_many(user, fresh)
            many = timed(bot.poll)[0]
            results.append(verdict(f"20 new reports after {count}", many, few, 1.2, "the same after 10"))

            # --- send the queued replies vs smtplib over one connection
            with bot.store.session() as session:
                raws = [row.raw for row in session.exec(select(Outbox).where(Outbox.status == "pending"))]
            floor = smtplib_floor(sink, raws)
            if "--profile-send" in sys.argv:
                profiler = cProfile.Profile()
                took, sent = timed(lambda: profiler.runcall(bot.send))
                pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
            else:
                took, sent = timed(bot.send)
            results.append(verdict(f"send {sent.sent} replies", took, floor, 2, "smtplib loop, one connection"))

            # --- a poll that finds nothing vs interpreter + imports + login
            took, floor = empty_poll_against_floor(config, dovecot, user, env, root / "pycache")
            results.append(
                verdict(f"poll that finds nothing, {count} in history", took, floor, 2, "python + imapclient + login")
            )
        finally:
            sink.stop()
            dovecot.close()
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())

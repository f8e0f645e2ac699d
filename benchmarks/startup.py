"""A `mailbot poll` that finds nothing, beside its floor, in one run (issue 11). Run: `make bench`.

The floor is the least any IMAP poller pays: a fresh interpreter that imports imapclient, logs in over TLS to the
same private Dovecot, selects and searches the inbox and logs out. The target is `mailbot poll` (a fresh
`python -m mailbot` on a database that has already ingested a few reports, with an empty inbox) within 2x of it.
Both are run alternately ROUNDS times and compared by their medians (the machine is shared: one run is noise).
`--importtime` also prints the slowest imports of the poll. Exits 1 when the target is missed.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from common import dovecot_imap, write_config  # noqa: E402
from servers import DovecotServer, make_certificate  # noqa: E402

from mailbot.mailbuilder import build_email  # noqa: E402
from mailbot.roster import load_roster  # noqa: E402
from mailbot.weeks import Week  # noqa: E402
from mailbot.workbook.template import report_workbook  # noqa: E402

ROSTER = ROOT / "fixtures" / "roster" / "roster.xlsx"

ROUNDS = int(os.environ.get("MAILBOT_BENCH_ROUNDS", "9"))
ENV: dict[str, str] = {}
TARGET = 2.0


def reports(count: int) -> list[bytes]:
    """``count`` blank report emails from the roster's first DSP, one week each."""
    dsp = load_roster(ROSTER).dsps[0]
    sender = sorted(dsp.sender_addresses)[0]
    return [
        build_email(
            sender=f"{dsp.name} <{sender}>",
            subject=f"Weekly JSK report {Week(2026, n)}",
            attachments=[(f"JSK-{Week(2026, n)}.xlsx", report_workbook(dsp.name, Week(2026, n), [118]))],
            message_id=f"<startup-{n}@bench.example>",
        )
        for n in range(1, count + 1)
    ]


def mailbot_config(folder: Path, dovecot: DovecotServer, user: str, env: str) -> Path:
    return write_config(folder, ROSTER, dovecot_imap(dovecot.imaps_port, dovecot.ca_file, user, env))


def floor_code(dovecot: DovecotServer, user: str, env: str) -> str:
    return (
        "import os, ssl; from imapclient import IMAPClient\n"
        f"c = IMAPClient('127.0.0.1', port={dovecot.imaps_port}, ssl=True, "
        f"ssl_context=ssl.create_default_context(cafile={str(dovecot.ca_file)!r}))\n"
        f"c.login({user!r}, os.environ[{env!r}]); c.select_folder('INBOX'); c.search('ALL'); c.logout()"
    )


def bytecode_env(cache: Path) -> dict[str, str]:
    """The environment of an installed mailbot: modules load from bytecode compiled once (pip does it at install),
    not from source each run (as with PYTHONDONTWRITEBYTECODE set). The cache goes into ``cache``, not the tree."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(cache)
    return env


def timed_run(args: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, check=False, env=ENV)
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{args[1:4]} exited {done.returncode}:\n{done.stderr}")
    return took


def slowest_imports(args: list[str], count: int = 15) -> str:
    """The costliest imports of one run, as ``python -X importtime`` counts them (cumulative), two levels deep."""
    done = subprocess.run(
        [args[0], "-X", "importtime", *args[1:]], capture_output=True, text=True, check=False, env=ENV
    )
    rows = []
    for text in done.stderr.splitlines():
        parts = text.removeprefix("import time:").split("|")
        name = parts[-1]
        if len(parts) == 3 and parts[1].strip().isdigit() and len(name) - len(name.lstrip()) <= 3:
            rows.append((int(parts[1]), name.strip()))
    rows.sort(reverse=True)
    return "\n".join(f"  {us / 1000:7.1f} ms  {name}" for us, name in rows[:count])


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="mailbot-startup-") as tmp:
        root = Path(tmp)
        dovecot = DovecotServer(tls=make_certificate(root / "tls"))
        dovecot.start()
        try:
            user, password = dovecot.add_user()
            env = "MAILBOT_BENCH_STARTUP_PASSWORD"
            os.environ[env] = password
            ENV.update(bytecode_env(root / "pycache"))
            dovecot.seed_many(user, reports(5))
            poll = [sys.executable, "-m", "mailbot", "--config", str(mailbot_config(root, dovecot, user, env)), "poll"]
            floor = [sys.executable, "-c", floor_code(dovecot, user, env)]
            timed_run(poll)  # ingests the five reports: the database exists and the inbox is empty from here on
            timed_run(floor)  # and the page cache is warm for both
            polls, floors = [], []
            for _ in range(ROUNDS):
                floors.append(timed_run(floor))
                polls.append(timed_run(poll))
            if "--importtime" in sys.argv:
                print("slowest imports of `mailbot poll` (cumulative, top level):")
                print(slowest_imports(poll))
        finally:
            dovecot.close()
    took, least = statistics.median(polls), statistics.median(floors)
    ratio = took / least
    ok = ratio <= TARGET
    print(
        f"{'ok  ' if ok else 'FAIL'} {'poll that finds nothing (CLI)':<36} {took:8.2f} s  vs "
        f"{'python + imapclient + login + search':<40} {least:7.2f} s  = {ratio:5.2f}x (target <= {TARGET}x; "
        f"medians of {ROUNDS}: poll {min(polls):.2f}-{max(polls):.2f} s, "
        f"floor {min(floors):.2f}-{max(floors):.2f} s)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

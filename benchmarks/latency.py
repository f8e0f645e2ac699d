"""Receipt latency: a report APPENDed to the mailbox -> its receipt at the SMTP server. Run: `make bench`.

`mailbot run` with IDLE and an hour between polls and sends, against a private Dovecot and an aiosmtpd sink
(tests/servers.py), so only IDLE can make the receipt come in seconds. Printed beside its target and its floor:
the same report read and answered by hand, `mailbot poll` then `mailbot send` started the moment it is appended
(two interpreter starts, two logins: a cron job every minute at best, minus the minute), and the same two
calls in one warm process (the least any reader of the mailbox could take).

Target: every receipt within 10 s (without IDLE: up to poll_minutes, 5 minutes by default, plus processing).
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from conftest import to_toml  # noqa: E402
from servers import DovecotServer, SmtpSink, make_certificate  # noqa: E402
from test_daemon import replies_to, report_mail, write_roster  # noqa: E402

from mailbot.config import load_config  # noqa: E402
from mailbot.service import Mailbot  # noqa: E402

TARGET_SECONDS = 10.0
REPORTS = 5
# Names of environment variables, not secrets: the passwords are made up per run.
PASSWORD_ENV = "MAILBOT_BENCH_IMAP_PASSWORD"  # noqa: S105
SMTP_PASSWORD_ENV = "MAILBOT_BENCH_SMTP_PASSWORD"  # noqa: S105


def wait_for(condition: Callable[[], object], what: str, timeout: float, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-2000:] if log else ""
            raise SystemExit(f"timed out after {timeout} s waiting for {what}\n{tail}")
        time.sleep(0.02)


def write_config(folder: Path, server: DovecotServer, user: str, sink: SmtpSink) -> Path:
    assert sink.tls is not None and sink.password is not None  # noqa: S101 - a starttls sink has both
    sections = {
        "mailbot": {"database": str(folder / "mailbot.db"), "archive_dir": str(folder / "archive")},
        "roster": {"path": str(write_roster(folder / "roster"))},
        "imap": {
            "host": "127.0.0.1",
            "port": server.imaps_port,
            "security": "ssl",
            "username": user,
            "password_env": PASSWORD_ENV,
            "ca_file": str(server.ca_file),
            "timeout": 10,
            "idle": True,
        },
        "smtp": {
            "host": "127.0.0.1",
            "port": sink.port,
            "security": "starttls",
            "username": sink.username,
            "password_env": SMTP_PASSWORD_ENV,
            "from_address": "mailbot@ceg.example",
            "ca_file": str(sink.tls.cert),
            "timeout": 10,
        },
        "ceg": {"addresses": ["jsk@ceg.example"], "operator": "operator@ceg.example"},
        "schedule": {"poll_minutes": 60, "send_minutes": 60, "check_minutes": 60},
    }
    path = folder / "mailbot.toml"
    path.write_text(to_toml(sections), encoding="utf-8")
    return path


def mailbot(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "mailbot", "--config", str(config), *args]


def latency(server: DovecotServer, user: str, sink: SmtpSink, tag: str, after_append: Callable[[], None]) -> float:
    message_id, raw = report_mail(tag)
    started = time.perf_counter()
    server.seed(user, raw)
    after_append()
    wait_for(lambda: replies_to(sink, message_id), f"the receipt for {tag}", 60)
    return time.perf_counter() - started


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="mailbot-latency-") as tmp:
        folder = Path(tmp)
        server = DovecotServer(tls=make_certificate(folder / "tls"))
        sink = SmtpSink(server.tls, security="starttls")
        server.start()
        sink.start()
        daemon: subprocess.Popen[bytes] | None = None
        try:
            user, password = server.add_user()
            assert sink.password is not None  # noqa: S101
            os.environ[PASSWORD_ENV], os.environ[SMTP_PASSWORD_ENV] = password, sink.password
            config = write_config(folder, server, user, sink)
            log = folder / "daemon.log"
            with log.open("ab") as out:
                daemon = subprocess.Popen(
                    mailbot(config, "run"), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT
                )
            wait_for(lambda: log.read_text(errors="replace").count("poll done") >= 2, "the daemon to idle", 60, log)
            with_idle = [latency(server, user, sink, f"idle-{n}", lambda: None) for n in range(REPORTS)]
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(15)
            daemon = None

            def by_hand() -> None:
                for command in ("poll", "send"):
                    subprocess.run(mailbot(config, command), capture_output=True, check=True, cwd=ROOT, timeout=60)

            floor = [latency(server, user, sink, f"hand-{n}", by_hand) for n in range(3)]
            service = Mailbot(load_config(config))
            try:

                def in_process() -> None:
                    service.poll()
                    service.send()

                floor_in_process = [latency(server, user, sink, f"inproc-{n}", in_process) for n in range(3)]
            finally:
                service.close()
        finally:
            if daemon is not None:
                daemon.kill()
                daemon.wait(10)
            sink.stop()
            server.close()
    worst = max(with_idle)
    ok = worst <= TARGET_SECONDS
    median = statistics.median(with_idle)
    print(
        f"{'ok  ' if ok else 'FAIL'} receipt latency, IDLE, poll 60 min   median {median:6.2f} s, "
        f"max {worst:6.2f} s of {REPORTS}  (target <= {TARGET_SECONDS:.0f} s; floor: poll + send by hand "
        f"{statistics.median(floor):.2f} s, in one process {statistics.median(floor_in_process):.2f} s; "
        "without IDLE up to the poll interval)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""``mailbot demo``: a whole reporting week in well under a minute, with nothing installed or configured.

An IMAP server (pymap, in memory) and an SMTP server (aiosmtpd) start in this process on loopback; a real config
file and roster are written to the work folder; the week's mail (``mailbot.demo.data``) is delivered to the inbox at its
simulated arrival times while a fake clock steps through the days. At each step the production jobs run exactly
as the daemon runs them: ``Mailbot.poll``, ``send``, ``check``, ``send``. Only the servers and the clock are local.
"""

from __future__ import annotations

import email
import email.policy
import re
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields, is_dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from mailbot.compliance import evaluate
from mailbot.config import Config, load_config
from mailbot.demo import data as demo_data
from mailbot.demo.servers import ImapServer, Received, SmtpSink
from mailbot.errors import FixNeeded
from mailbot.store import Outbox, Store, select

STEP = timedelta(hours=1)
POLL_LAG = timedelta(minutes=3)  # the daemon polls every few minutes: mail is read shortly after it arrives
_KIND_LABELS = {
    "acknowledgement": "acknowledgement",
    "partial": "partial acceptance",
    "rejection": "rejection",
    "reminder": "reminder",
    "overdue": "overdue notice",
    "escalation": "escalation to DEGS",
    "action_alert": "action alert to DEGS",
    "dsp_warning": "warning to DSP",
    "summary": "weekly summary to CEG",
    "operator_alert": "operator alert",
}
_STATUSES = ("on_time", "late", "missing", "invalid", "pending")
_OUTCOMES = ("accepted", "rejected", "ignored", "duplicate", "quarantined", "failed")
# Files a previous demo run left; removed so each run starts from an empty database and mailbox.
_DEMO_MARK = re.compile(r"# Written by `mailbot demo`")
_OURS = (
    "mailbot.db",
    "mailbot.db-wal",
    "mailbot.db-shm",
    "mailbot.db.lock",
    "mailbot.toml",
    "imap-password",
    "archive",
    "roster",
    "incoming",
    "outgoing",
    "sent",
)  # sent: where earlier versions kept outgoing mail


@dataclass(frozen=True)
class DemoResult:
    """What the demo did, from the jobs' own reports and the SMTP server: a test compares it with the database."""

    workdir: Path
    config: Path
    database: Path
    summary: Path | None  # the summary workbook CEG received, saved from its email
    week: str
    delivered: int  # messages put in the inbox
    poll: Mapping[str, int]  # PollReport counts summed over every pass
    sent: int  # SendReport.sent summed
    emails: int  # messages the SMTP server received
    emails_by_kind: Mapping[str, int]  # outbox kind -> messages received
    statuses: Mapping[str, int]  # the week's (DSP, district) pairs by status, as of the end
    expected: int
    by_dsp: Mapping[str, Mapping[str, int]]  # DSP -> status -> count
    seconds: float


class FakeClock:
    """The time the service sees; the demo moves it forward step by step."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now.astimezone(UTC)


def run_demo(workdir: Path, echo: Callable[[str], None]) -> DemoResult:
    """Run the simulated week in ``workdir`` (its previous demo files are replaced), narrating through ``echo``."""
    started = time.monotonic()
    workdir = workdir.resolve()
    _clear(workdir)
    arrivals = demo_data.week_of_mail()
    with ImapServer(demo_data.CEG_MAILBOX, "demo-password") as imap, SmtpSink() as smtp:
        config = _write_config(workdir, imap, smtp)
        _introduce(config, imap, smtp, echo)
        totals = _simulate(config, imap, smtp, arrivals, echo)
        emails = smtp.messages
    store = Store(config.database)
    try:
        kinds = _kinds(store, emails)
    finally:
        store.close()
    incoming_dir = _save_incoming(workdir / "incoming", arrivals)
    sent_dir = _save_emails(workdir / "outgoing", emails, kinds)
    statuses: Counter[str] = Counter()
    for per in totals.by_dsp.values():
        statuses.update(per)
    result = DemoResult(
        workdir=workdir,
        config=config.source or workdir / "mailbot.toml",
        database=config.database,
        summary=_save_summary(workdir, demo_data.WEEK, emails, kinds),
        week=str(demo_data.WEEK),
        delivered=len(arrivals),
        poll=dict(totals.poll),
        sent=totals.sent,
        emails=len(emails),
        emails_by_kind=dict(Counter(kinds.get(_message_id(e), "other") for e in emails)),
        statuses={s: statuses.get(s, 0) for s in _STATUSES},
        expected=sum(statuses.values()),
        by_dsp=totals.by_dsp,
        seconds=time.monotonic() - started,
    )
    _print_summary(result, incoming_dir, sent_dir, emails, kinds, echo)
    return result


@dataclass
class _Totals:
    poll: Counter[str]
    sent: int
    by_dsp: dict[str, dict[str, int]]


def _simulate(
    config: Config, imap: ImapServer, smtp: SmtpSink, arrivals: list[demo_data.Arrival], echo: Callable[[str], None]
) -> _Totals:
    """Step the clock through the days; at each step deliver what has arrived and run the daemon's jobs."""
    from mailbot.service import Mailbot  # noqa: PLC0415 - the service pulls in everything; import when used

    tz = demo_data.IST
    clock = FakeClock(demo_data.simulation_start())
    mailbot = Mailbot(config, clock=clock)
    store = Store(config.database)  # to name the kind of each email sent, from the outbox
    totals = _Totals(Counter(), 0, {})
    pending = list(arrivals)
    seen_emails = 0
    try:
        for tick in _ticks(demo_data.simulation_start(), demo_data.simulation_end(), arrivals):
            clock.now = tick
            due = [a for a in pending if a.at <= tick]
            pending = [a for a in pending if a.at > tick]
            if due:
                imap.append([(a.raw, a.at) for a in due])
                for a in due:
                    echo(f"{_when(a.at, tz)}  arrived   {a.label}")
            # The daemon's jobs, in the daemon's order: poll then send; check then send.
            counts = _counts(mailbot.poll())
            totals.poll.update(counts)
            totals.sent += mailbot.send().sent
            mailbot.check(tick)
            totals.sent += mailbot.send().sent
            outcome = _describe_poll(counts)
            if outcome:
                echo(f"{_when(tick, tz)}  read      {outcome}")
            new = smtp.messages[seen_emails:]
            seen_emails += len(new)
            for line in _describe_sent(new, _kinds(store, new)):
                echo(f"{_when(tick, tz)}  sent      {line}" if line[0] != " " else line)
        report = evaluate(mailbot.roster(), mailbot.facts(), config.calendar, clock(), demo_data.WEEK)
    finally:
        mailbot.close()
        store.close()
    for cell in report.cells:
        per = totals.by_dsp.setdefault(cell.dsp, dict.fromkeys(_STATUSES, 0))
        per[cell.status] += 1
    totals.by_dsp = dict(sorted(totals.by_dsp.items()))
    return totals


def _introduce(config: Config, imap: ImapServer, smtp: SmtpSink, echo: Callable[[str], None]) -> None:
    week = demo_data.WEEK
    shares = demo_data.assignments()
    deadline = datetime.combine(
        week.sunday + timedelta(days=1), config.calendar.deadline_time, tzinfo=config.calendar.timezone
    )
    echo(
        f"mailbot demo: the reporting week {week} (Mon {week.monday:%d %b} - Sun {week.sunday:%d %b %Y}), "
        f"reports due {_when(deadline, demo_data.IST)} IST"
    )
    echo(f"  IMAP server  pymap, in memory  {imap.host}:{imap.port}  mailbox {demo_data.CEG_MAILBOX}")
    echo(f"  SMTP server  aiosmtpd          {smtp.host}:{smtp.port}")
    echo(f"  config       {config.source}")
    echo(f"  roster       {config.roster}/  ({len(shares)} DSPs, {sum(len(d) for d in shares.values())} districts)")
    for dsp, story in demo_data.expected_story().items():
        echo(f"    {dsp:<14} {story}")
    echo("")


# --- set-up -----------------------------------------------------------------------------------------------


class WorkdirInUse(FixNeeded):
    """Raised when the demo's folder holds a database or archive the demo did not write."""


def _clear(workdir: Path) -> None:
    """Remove what an earlier demo left, after making sure an earlier demo left it: the names are those of
    a real installation, whose database and archive must never be deleted by a demo pointed at its folder."""
    workdir.mkdir(parents=True, exist_ok=True)
    present = [name for name in _OURS if (workdir / name).exists()]
    if present and not _DEMO_MARK.match(_first_line(workdir / "mailbot.toml")):
        raise WorkdirInUse(
            f"{workdir} holds {', '.join(present)}, not written by `mailbot demo`: the demo would delete them. "
            "Choose a new or empty folder with --workdir."
        )
    for name in _OURS:
        path = workdir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    for old in workdir.glob("summary-*.xlsx"):
        old.unlink()


def _first_line(path: Path) -> str:
    try:
        with path.open(encoding="utf-8", errors="replace") as file:
            return file.readline()
    except OSError:
        return ""


def _write_config(workdir: Path, imap: ImapServer, smtp: SmtpSink) -> Config:
    password = workdir / "imap-password"
    password.write_text(imap.password + "\n", encoding="utf-8")
    password.chmod(0o600)
    demo_data.write_roster(workdir / "roster")
    path = workdir / "mailbot.toml"
    path.write_text(
        f"""# Written by `mailbot demo`. The servers it names lived only while the demo ran; the database stays:
#   mailbot --config {path} status --week {demo_data.WEEK}
[mailbot]
database = "mailbot.db"
archive_dir = "archive"

[roster]
path = "roster"

[imap]
host = "{imap.host}"
port = {imap.port}
security = "none"  # allowed only because the server is on this machine
username = "{imap.user}"
password_file = "{password}"

[smtp]
host = "{smtp.host}"
port = {smtp.port}
security = "none"
from_address = "{demo_data.CEG_MAILBOX}"
from_name = "CEG Jan Seva Kendra reports"

[ceg]
addresses = {_toml_list(demo_data.CEG_STAFF)}
operator = "{demo_data.OPERATOR}"

[calendar]
timezone = "Asia/Kolkata"
""",
        encoding="utf-8",
    )
    return load_config(path)  # the production loader: the demo's config is checked like any other


def _toml_list(items: Iterable[str]) -> str:
    return "[" + ", ".join(f'"{i}"' for i in items) + "]"


def _ticks(start: datetime, end: datetime, arrivals: Iterable[demo_data.Arrival]) -> list[datetime]:
    """Every hour, plus a poll shortly after each arrival."""
    moments = set()
    moment = start
    while moment <= end:
        moments.add(moment)
        moment += STEP
    moments.update(a.at + POLL_LAG for a in arrivals if a.at + POLL_LAG <= end)
    return sorted(moments)


# --- reading what happened ----------------------------------------------------------------------------------


def _counts(report: Any) -> dict[str, int]:
    if is_dataclass(report) and not isinstance(report, type):
        return {
            f.name: int(getattr(report, f.name)) for f in fields(report) if isinstance(getattr(report, f.name), int)
        }
    return {}


def _describe_poll(counts: Mapping[str, int]) -> str:
    parts = [f"{counts[k]} {k}" for k in _OUTCOMES if counts.get(k)]
    return ", ".join(parts)


def _message_id(received: Received) -> str:
    return _parse(received).get("Message-ID", "").strip()


def _parse(received: Received) -> EmailMessage:
    message = email.message_from_bytes(received.content, policy=email.policy.default)
    assert isinstance(message, EmailMessage)  # noqa: S101 - the default policy makes EmailMessage
    return message


def _kinds(store: Store, emails: Iterable[Received]) -> dict[str, str]:
    """Message-ID -> outbox kind, for the emails given."""
    ids = {_message_id(e) for e in emails}
    if not ids:
        return {}
    with store.session() as session:
        rows = session.exec(select(Outbox.message_id, Outbox.kind)).all()
    return {mid.strip(): kind for mid, kind in rows if mid.strip() in ids}


def _describe_sent(new: list[Received], kinds: Mapping[str, str]) -> list[str]:
    grouped: dict[str, list[Received]] = {}
    for received in new:
        grouped.setdefault(kinds.get(_message_id(received), "other"), []).append(received)
    lines = []
    for kind, group in grouped.items():
        label = _KIND_LABELS.get(kind, kind)
        first = _parse(group[0])
        to = ", ".join(sorted({r for g in group for r in g.rcpt_tos}))
        if len(to) > 70:
            to = to[:67] + "..."
        count = f"{len(group)} x " if len(group) > 1 else ""
        lines.append(f"{count}{label} -> {to}")
        lines.append(f'{"":>28}"{_english(first.get("Subject", ""))}"')
    return lines


# --- output ---------------------------------------------------------------------------------------------------


def _save_incoming(folder: Path, arrivals: list[demo_data.Arrival]) -> Path:
    """Every email the DSPs (and strangers) sent, as it arrived: NNN-<what it is>.eml, in arrival order."""
    folder.mkdir(parents=True, exist_ok=True)
    for number, arrival in enumerate(sorted(arrivals, key=lambda a: a.at), 1):
        (folder / f"{number:03d}-{_slug(arrival.label)}.eml").write_bytes(arrival.raw)
    return folder


def _save_emails(folder: Path, emails: list[Received], kinds: Mapping[str, str]) -> Path:
    """Every envelope the SMTP server took, filed under each of its recipients: <recipient>/NNN-<kind>.eml (NNN
    is the order sent). The same email to a DEGS and, separately, to CEG is then two recipients' copies, not
    two files that look like duplicates."""
    folder.mkdir(parents=True, exist_ok=True)
    for number, received in enumerate(emails, 1):
        kind = kinds.get(_message_id(received), "other")
        for recipient in received.rcpt_tos:
            mailbox = folder / _slug(recipient.lower(), keep="@.")
            mailbox.mkdir(exist_ok=True)
            (mailbox / f"{number:03d}-{kind}.eml").write_bytes(received.content)
    return folder


def _slug(text: str, keep: str = "") -> str:
    """A file name from free text: letters, digits and ``keep``; runs of anything else become one dash."""
    slug = "".join(c if c.isascii() and (c.isalnum() or c in keep) else "-" for c in text)
    slug = re.sub(r"-{2,}", "-", slug).strip("-.")
    if len(slug) > 60:  # a long label: cut at a word
        slug = slug[:60].rsplit("-", 1)[0]
    return slug or "email"


def _save_summary(workdir: Path, week: Any, emails: list[Received], kinds: Mapping[str, str]) -> Path | None:
    for received in reversed(emails):
        if kinds.get(_message_id(received)) != "summary":
            continue
        for part in _parse(received).iter_attachments():
            name = part.get_filename() or ""
            if name.lower().endswith(".xlsx"):
                payload = part.get_payload(decode=True)
                if isinstance(payload, bytes):
                    path = workdir / f"summary-{week}.xlsx"
                    path.write_bytes(payload)
                    return path
    return None


def _print_summary(
    result: DemoResult,
    incoming_dir: Path,
    sent_dir: Path,
    emails: list[Received],
    kinds: Mapping[str, str],
    echo: Callable[[str], None],
) -> None:
    poll = result.poll
    echo("")
    echo(
        f"Messages: {result.delivered} delivered to the inbox, {poll.get('seen', 0)} read: "
        + ", ".join(f"{poll.get(k, 0)} {k}" for k in _OUTCOMES)
    )
    echo(
        f"Emails sent: {result.emails}  ("
        + ", ".join(f"{n} {_KIND_LABELS.get(k, k)}" for k, n in sorted(result.emails_by_kind.items()))
        + ")"
    )
    for kind in ("acknowledgement", "partial", "rejection", "reminder", "overdue", "escalation", "summary"):
        example = next((e for e in emails if kinds.get(_message_id(e)) == kind), None)
        if example is not None:
            echo(f'  {_KIND_LABELS[kind]:<22} "{_english(_parse(example).get("Subject", ""))}"')
    echo("")
    echo(f"Compliance {result.week} (as of the end of the simulation)")
    header = f"  {'DSP':<16}{'expected':>9}{'on time':>9}{'late':>6}{'missing':>9}{'invalid':>9}"
    echo(header)
    for dsp, per in result.by_dsp.items():
        echo(
            f"  {dsp:<16}{sum(per.values()):>9}{per['on_time']:>9}{per['late']:>6}{per['missing']:>9}"
            f"{per['invalid']:>9}"
        )
    s = result.statuses
    echo(f"  {'Statewide':<16}{result.expected:>9}{s['on_time']:>9}{s['late']:>6}{s['missing']:>9}{s['invalid']:>9}")
    if result.expected:
        reported = s["on_time"] + s["late"]
        echo(f"  reporting rate {reported / result.expected:.0%}, on time {s['on_time'] / result.expected:.0%}")
    echo("")
    echo(f"Summary workbook: {result.summary or '(no summary was sent)'}")
    echo(f"Every email read: {incoming_dir}/")
    echo(f"Every email sent: {sent_dir}/<recipient>/")
    echo(f"Database:         {result.database}")
    echo(f"  try: {_command()} --config {result.config} status --week {result.week}")
    echo(
        f"Simulated {demo_data.simulation_start():%a %d %b %H:%M} to {demo_data.simulation_end():%a %d %b %H:%M}"
        f" IST in {result.seconds:.1f} s"
    )


def _english(subject: str) -> str:
    """The English half of a bilingual subject ("English / हिन्दी ..."), which fits on a terminal line."""
    text = " ".join(str(subject).split())
    english = text.split(" / ")[0]
    return english if len(english) <= 100 else english[:97] + "..."


def _when(moment: datetime, tz: Any) -> str:
    return moment.astimezone(tz).strftime("%a %d %b %H:%M")


def _command() -> str:
    """How to call mailbot from here: the bare name when it is on PATH, else the venv's script (``make demo``)."""
    script = Path(sys.executable).parent / "mailbot"
    if shutil.which("mailbot") == str(script) or not script.exists():
        return "mailbot"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)

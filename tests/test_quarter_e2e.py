"""A simulated quarter through the real service: reports arrive as emails, `check` runs at the moments the
ladder cares about, `send` delivers through a real SMTP server (aiosmtpd), and what arrives is parsed back.

The reports are those of ``compliance_quarter`` (on time, late, never, corrected, invalid), so the emails that
arrive must be exactly the hand-counted ones of the pure test, each once, each to its one recipient."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from itertools import groupby
from pathlib import Path

import openpyxl
import pytest
from compliance_quarter import CEG, DISTRICTS, FIRST, LAST, WEEKS, ist, roster
from compliance_quarter import facts as quarter_facts
from servers import SmtpSink

from mailbot.config import Config
from mailbot.mailbuilder import build_email
from mailbot.service import MAILBOX_READ, Mailbot
from mailbot.weeks import Week
from mailbot.workbook.template import report_workbook

pytestmark = [pytest.mark.servers, pytest.mark.slow]


def write_roster(folder: Path) -> Path:
    """compliance_quarter's roster as the CSV folder CEG would keep."""
    r = roster()
    folder.mkdir()
    with (folder / "dsps.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["DSP", "Sender addresses", "Contact addresses"])
        for dsp in r.dsps:
            w.writerow(
                [
                    dsp.name,
                    ";".join(sorted(dsp.sender_addresses)),
                    ";".join(
                        a
                        for a in dsp.contact_addresses
                        if a not in dsp.sender_addresses or len(dsp.contact_addresses) > 1
                    ),
                ]
            )
    with (folder / "assignments.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["DSP", "District", "Start date", "End date"])
        for a in r.assignments:
            w.writerow([a.dsp, a.lgd_code, a.start.strftime("%d/%m/%Y"), ""])
    with (folder / "degs.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["District", "Addresses"])
        for lgd, addresses in sorted(r.degs.items()):
            w.writerow([lgd, ";".join(addresses)])
    return folder


def report_emails() -> list[tuple[datetime, bytes]]:
    """One email per (DSP, week, moment) of the quarter's facts; an invalid fact becomes a negative count."""
    r = roster()
    senders = {d.name: sorted(d.sender_addresses)[0] for d in r.dsps}
    out = []
    key = lambda f: (f.received_at, f.dsp, f.week)  # noqa: E731
    for (at, dsp, week), group in groupby(sorted(quarter_facts(), key=key), key=key):
        facts = list(group)
        figures: dict[int, dict[str, int | str]] = {}
        for fact in facts:
            values: dict[str, int | str] = {k: v for k, v in fact.figures.items() if v is not None}
            figures[fact.lgd_code] = (
                values
                if fact.valid
                else {"rural_target": 100, "rural_opened": -5, "urban_target": 20, "urban_opened": 1}
            )
        workbook = report_workbook(dsp, week, sorted(figures), figures)
        out.append(
            (
                at,
                build_email(
                    sender=f"{dsp} <{senders[dsp]}>",
                    subject=f"JSK weekly report {week}",
                    attachments=[(f"report-{week}.xlsx", workbook)],
                    date=at,
                    message_id=f"<{dsp[:4]}-{week}-{at:%d%H%M}@dsp.example>",
                ),
            )
        )
    return out


def checkpoints() -> list[datetime]:
    """Just after each step of each week comes due: reminder, overdue, summary, escalation/alert."""
    moments = []
    for week in WEEKS:
        sun = week.sunday
        moments += [
            ist(sun, 12, 30),
            ist(sun + timedelta(days=1), 12, 30),
            ist(sun + timedelta(days=2), 10, 30),
            ist(sun + timedelta(days=3), 12, 30),
        ]
    return moments


def test_a_quarter_sends_exactly_the_right_emails_once(
    smtp_sink: SmtpSink, make_config: Callable[..., Config], tmp_path: Path
) -> None:
    config = make_config(write_roster(tmp_path / "roster"), ceg={"addresses": list(CEG)})
    emails = report_emails()
    clock = [ist(FIRST.monday, 0)]
    bot = Mailbot(config, clock=lambda: clock[0])
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for number, moment in enumerate(checkpoints()):
        while emails and emails[0][0] <= moment:
            at, raw = emails.pop(0)
            clock[0] = at
            path = inbox / f"{number}-{at:%Y%m%d%H%M}.eml"
            path.write_bytes(raw)
            assert bot.import_file(path).outcome in ("accepted", "rejected")
        clock[0] = moment
        bot.values.set(MAILBOX_READ, moment.isoformat())  # imported by hand: as if the mailbox was just read
        bot.check(moment)
        bot.check(moment)  # a second check at the same moment queues nothing more
        bot.send()
    receipts = [m for m in smtp_sink.messages if m.message["Auto-Submitted"] == "auto-replied"]
    ladder = [m for m in smtp_sink.messages if m.message["Auto-Submitted"] == "auto-generated"]

    # Each ladder email went to exactly one envelope recipient, and no (kind, week, subject, recipient) twice.
    assert all(len(m.rcpt_tos) == 1 for m in ladder)
    delivered = Counter((m.message["Subject"], m.rcpt_tos[0]) for m in ladder)
    assert max(delivered.values()) == 1
    assert len({m.message["Message-ID"] for m in smtp_sink.messages}) == len(smtp_sink.messages)

    # The same totals as the hand count of the pure quarter test (tests/test_compliance.py), less the action
    # alerts carried by the escalation due to the same address at the same moment (Farrukhabad W41..W52 to CEG
    # x2, Agra W45..W52): one email with both sections.
    kinds = Counter(m.message["X-Mailbot-Kind"] for m in ladder)
    carried = 12 * 2 + 8
    assert kinds == {
        "reminder": 13 * 4 + 9,
        "overdue": 13 + 1 + 2 + 9,
        "escalation": 13 * 2 + 1 + 9,
        "action_alert": 12 * 2 + 8 + 7 + 10 - carried,
        "dsp_warning": 12 + 8 + 13 * 2,
        "summary": 13 * 2,
    }
    assert (
        sum(
            1
            for m in ladder
            if m.message["X-Mailbot-Kind"] == "escalation" and m.message["Subject"].startswith("Action needed")
        )
        == carried
    )
    # One email per recipient per moment (a check), and CEG gets two a week: the summary and the one notice for
    # the district without a DEGS address (no copy per district).
    per_moment = Counter((m.rcpt_tos[0], m.message["Date"]) for m in ladder)
    assert max(per_moment.values()) == 1
    per_week = Counter(
        (m.rcpt_tos[0], parsedate_to_datetime(m.message["Date"]).isocalendar()[:2])
        for m in ladder
        if m.rcpt_tos[0] in CEG
    )
    assert set(per_week.values()) == {2}
    assert all(
        m.message["Reply-To"] == ", ".join(CEG)
        for m in ladder
        if m.message["X-Mailbot-Kind"] in ("escalation", "action_alert")
    )
    # Every report got a receipt or a rejection, to its sender.
    assert len(receipts) == len(report_emails())

    # Reminders carry the pre-filled template listing only the DSP's pending districts.
    reminder = next(
        m.message
        for m in ladder
        if m.message["X-Mailbot-Kind"] == "reminder" and list(m.rcpt_tos) == ["mis@shreetron.example"]
    )
    attachment = next(p for p in reminder.iter_attachments() if p.get_filename("").endswith(".xlsx"))
    sheet = openpyxl.load_workbook(io.BytesIO(attachment.get_content()), read_only=True).active
    names = [row[0] for row in sheet.iter_rows(min_row=6, values_only=True) if row[0]]
    assert names == ["Agra"]

    # CEG's workbook for a week agrees with the database as `status` reads it.
    week = Week(2026, 46)
    summary = next(
        m.message for m in ladder if m.message["X-Mailbot-Kind"] == "summary" and str(week) in m.message["Subject"]
    )
    book = next(p for p in summary.iter_attachments() if p.get_filename("").endswith(".xlsx"))
    wb = openpyxl.load_workbook(io.BytesIO(book.get_content()))
    status = bot.status(week, ist(LAST.sunday, 23))
    statuses = Counter(d["status"] for d in status["districts"])
    cells = [str(c.value).casefold() for row in wb["Status"].iter_rows() for c in row if isinstance(c.value, str)]
    labels = {"on_time": "on time", "late": "late", "missing": "missing", "invalid": "invalid"}
    for key, count in statuses.items():
        assert sum(1 for c in cells if c == labels[key]) == count, key
    assert statuses["on_time"] + statuses["late"] == status["statewide"]["reported"]
    assert len(status["districts"]) == len(DISTRICTS) + 1  # Agra has two DSPs from W44
    bot.close()

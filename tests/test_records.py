"""What records.py puts in a DSP's receipt: the districts still due for the week, across messages."""

from __future__ import annotations

import email
import email.policy
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from emails import body_text
from servers import SmtpSink

from mailbot.config import Config
from mailbot.districts import by_code
from mailbot.mailbuilder import build_email
from mailbot.roster import load_roster
from mailbot.service import Mailbot
from mailbot.weeks import Week
from mailbot.workbook.template import report_workbook

ROOT = Path(__file__).resolve().parent.parent
ROSTER = ROOT / "fixtures" / "roster" / "roster.xlsx"
WEEK = Week(2026, 47)
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
CMS = "CMS Computers"

pytestmark = pytest.mark.servers  # make_config points at the SMTP sink


def report(tmp_path: Path, name: str, lgd_codes: tuple[int, ...]) -> Path:
    figures: dict[int, dict[str, int | str]] = {
        code: {"rural_target": 100, "rural_opened": 10, "urban_target": 20, "urban_opened": 5} for code in lgd_codes
    }
    raw = build_email(
        sender=f"{CMS} <reports@cms.example>",
        subject=f"JSK report {name}",
        attachments=[(f"{name}.xlsx", report_workbook(CMS, WEEK, lgd_codes, figures))],
    )
    path = tmp_path / f"{name}.eml"
    path.write_bytes(raw)
    return path


def last_reply(config: Config) -> str:
    with sqlite3.connect(config.database) as db:
        [(raw,)] = db.execute("select raw from outbox order by id desc limit 1").fetchall()
    return body_text(email.message_from_bytes(raw, policy=email.policy.default))


def test_receipt_lists_the_districts_still_due_counting_earlier_messages(
    smtp_sink: SmtpSink, make_config: Callable[..., Config], tmp_path: Path
) -> None:
    config = make_config(ROSTER)
    bot = Mailbot(config, clock=lambda: NOW)
    cms = sorted(load_roster(ROSTER).districts_of(CMS, WEEK), key=lambda c: by_code(c).name_en)
    assert len(cms) >= 3

    bot.import_file(report(tmp_path, "first", tuple(cms[:1])))
    text = last_reply(config)
    rest = ", ".join(by_code(c).name_en for c in cms[1:])
    assert f"Not in this file, still due for week 16–22 Nov 2026: {rest}." in text
    assert "इस फ़ाइल में नहीं, अभी भी अपेक्षित" in text

    # The second file covers all but the last district; the first one came earlier and is not due any more.
    bot.import_file(report(tmp_path, "second", tuple(cms[1:-1])))
    text = last_reply(config)
    assert f"still due for week 16–22 Nov 2026: {by_code(cms[-1]).name_en}." in text
    assert f"अभी भी अपेक्षित (सप्ताह 16–22 नवम्बर 2026): {by_code(cms[-1]).name_hi}।" in text

    bot.import_file(report(tmp_path, "third", tuple(cms[-1:])))
    text = last_reply(config)
    assert "still due" not in text and "अभी भी अपेक्षित" not in text
    bot.close()


def test_a_late_receipt_says_so_and_a_refusal_reaches_the_contacts_too(
    smtp_sink: SmtpSink, make_config: Callable[..., Config], tmp_path: Path
) -> None:
    config = make_config(ROSTER)
    bot = Mailbot(config, clock=lambda: NOW)
    cms = load_roster(ROSTER).districts_of(CMS, WEEK)
    # DEFAULT_DATE (Mon 23 Nov 10:30 IST) is before the noon deadline: on time.
    bot.import_file(report(tmp_path, "on-time", cms[:1]))
    assert "counts as late" not in last_reply(config)
    # The same district corrected after the deadline: its first report came on time, so not late either.
    figures: dict[int, dict[str, int | str]] = {
        c: {"rural_target": 100, "rural_opened": 11, "urban_target": 20, "urban_opened": 5} for c in cms[:2]
    }
    late = build_email(
        sender=f"{CMS} <reports@cms.example>",
        subject="JSK report late",
        date=datetime(2026, 11, 23, 14, 0, tzinfo=UTC),
        attachments=[("late.xlsx", report_workbook(CMS, WEEK, cms[:2], figures))],
    )
    (tmp_path / "late.eml").write_bytes(late)
    bot.import_file(tmp_path / "late.eml")
    text = last_reply(config)  # the second district is new, after the deadline: late
    assert "Received after the deadline (Monday 23 November 2026, 12:00 IST): this report counts as late." in text

    refused = build_email(sender=f"{CMS} <reports@cms.example>", subject="JSK report, nothing attached")
    (tmp_path / "refused.eml").write_bytes(refused)
    bot.import_file(tmp_path / "refused.eml")
    with sqlite3.connect(config.database) as db:
        [(kind, recipients)] = db.execute("select kind, recipients_json from outbox order by id desc limit 1")
    # The sender, and the DSP's other roster contacts (plain addresses), so the reasons reach someone who acts.
    assert kind == "rejection"
    assert recipients == '["reports@cms.example", "jsk.up@cms.example", "pm.up@cms.example"]'
    bot.close()


def test_a_rejections_template_carries_each_districts_last_targets(
    smtp_sink: SmtpSink, make_config: Callable[..., Config], tmp_path: Path
) -> None:
    import io

    import openpyxl

    config = make_config(ROSTER)
    bot = Mailbot(config, clock=lambda: NOW)
    cms = load_roster(ROSTER).districts_of(CMS, WEEK)
    earlier = {cms[0]: {"rural_target": 140, "rural_opened": 10, "urban_target": 35, "urban_opened": 5}}
    raw = build_email(
        sender=f"{CMS} <reports@cms.example>",
        subject="JSK report W46",
        attachments=[("w46.xlsx", report_workbook(CMS, Week(2026, 46), cms[:1], earlier))],
    )
    (tmp_path / "w46.eml").write_bytes(raw)
    bot.import_file(tmp_path / "w46.eml")
    (tmp_path / "bad.eml").write_bytes(build_email(sender=f"{CMS} <reports@cms.example>", subject="JSK W47"))
    bot.import_file(tmp_path / "bad.eml")
    bot.close()
    with sqlite3.connect(config.database) as db:
        [(raw_reply,)] = db.execute("select raw from outbox where kind = 'rejection'").fetchall()
    msg = email.message_from_bytes(raw_reply, policy=email.policy.default)
    assert isinstance(msg, email.message.EmailMessage)
    [part] = list(msg.iter_attachments())
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    sheet = openpyxl.load_workbook(io.BytesIO(payload)).active
    assert sheet is not None
    rows = {r[1]: r for r in sheet.iter_rows(min_row=6, values_only=True)}
    header = [c.value for c in sheet[5]]
    rural, urban = (
        next(i for i, h in enumerate(header) if str(h).startswith(p)) for p in ("Rural JSK target", "Urban JSK target")
    )
    assert (rows[cms[0]][rural], rows[cms[0]][urban]) == (140, 35)  # from its W46 report
    assert all(rows[c][rural] is None for c in cms[1:])  # never reported: left for the DSP


def test_a_reminders_template_carries_the_last_targets(
    smtp_sink: SmtpSink, make_config: Callable[..., Config], tmp_path: Path
) -> None:
    import io

    import openpyxl

    config = make_config(ROSTER, calendar={"first_week": "2026-W47"})
    bot = Mailbot(config, clock=lambda: NOW)
    cms = load_roster(ROSTER).districts_of(CMS, WEEK)
    bot.import_file(report(tmp_path, "w47", cms[:1]))  # targets 100 / 20
    # W48's reminders: any moment between its reminder and its deadline.
    for day in range(26, 31):
        bot.check(now=datetime(2026, 11, day, 6, 0, tzinfo=UTC))
    bot.close()
    with sqlite3.connect(config.database) as db:
        found = db.execute(
            "select raw from outbox where kind = 'reminder' and week = '2026-W48' and dsp = ?", (CMS,)
        ).fetchall()
    assert found
    msg = email.message_from_bytes(found[0][0], policy=email.policy.default)
    assert isinstance(msg, email.message.EmailMessage)
    [part] = list(msg.iter_attachments())
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    sheet = openpyxl.load_workbook(io.BytesIO(payload)).active
    assert sheet is not None
    rows = {r[1]: r for r in sheet.iter_rows(min_row=6, values_only=True)}
    assert (rows[cms[0]][2], rows[cms[0]][4]) == (100, 20)

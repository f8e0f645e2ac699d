"""A partial receipt (some districts accepted, others refused) reaches the DSP's roster contacts, as a rejection
does: the refused districts are not counted, and whoever acts for the DSP must learn why."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from servers import SmtpSink

from mailbot.config import Config
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


def last_outbox(config: Config) -> tuple[str, str]:
    with sqlite3.connect(config.database) as db:
        [(kind, recipients)] = db.execute("select kind, recipients_json from outbox order by id desc limit 1")
    return str(kind), str(recipients)


def test_a_partial_receipt_reaches_the_contacts_and_a_full_receipt_does_not(
    smtp_sink: SmtpSink, make_config: Callable[..., Config], tmp_path: Path
) -> None:
    config = make_config(ROSTER)
    bot = Mailbot(config, clock=lambda: NOW)
    good, bad = load_roster(ROSTER).districts_of(CMS, WEEK)[:2]
    figures: dict[int, dict[str, int | str]] = {
        good: {"rural_target": 100, "rural_opened": 10, "urban_target": 20, "urban_opened": 5},
        bad: {"rural_target": 100, "rural_opened": 10, "urban_target": 20, "urban_opened": -4},  # refused row
    }
    raw = build_email(
        sender=f"{CMS} <reports@cms.example>",
        subject="JSK report, one row wrong",
        attachments=[("partial.xlsx", report_workbook(CMS, WEEK, (good, bad), figures))],
    )
    (tmp_path / "partial.eml").write_bytes(raw)
    bot.import_file(tmp_path / "partial.eml")
    # The sender, and the DSP's other roster contacts (plain addresses), as a rejection's.
    assert last_outbox(config) == ("partial", '["reports@cms.example", "jsk.up@cms.example", "pm.up@cms.example"]')

    figures[bad]["urban_opened"] = 4
    raw = build_email(
        sender=f"{CMS} <reports@cms.example>",
        subject="JSK report, corrected",
        attachments=[("fixed.xlsx", report_workbook(CMS, WEEK, (good, bad), figures))],
    )
    (tmp_path / "fixed.eml").write_bytes(raw)
    bot.import_file(tmp_path / "fixed.eml")
    assert last_outbox(config) == ("acknowledgement", '["reports@cms.example"]')  # nothing refused: the sender only
    bot.close()

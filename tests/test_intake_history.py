"""The batched look-ups of ingest give what the per-district ones gave: a cumulative figure that fell is compared
with the latest earlier week in force for that district, whichever DSP's other weeks or districts are stored."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
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
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
CMS = "CMS Computers"

pytestmark = pytest.mark.servers  # make_config points at the SMTP sink


def report(tmp_path: Path, week: Week, codes: tuple[int, ...], opened: int, name: str) -> Path:
    figures: dict[int, dict[str, int | str]] = {
        c: {"rural_target": 100, "rural_opened": opened, "urban_target": 20, "urban_opened": 5} for c in codes
    }
    raw = build_email(
        sender=f"{CMS} <reports@cms.example>",
        subject=f"JSK report {week}",
        attachments=[(f"{name}.xlsx", report_workbook(CMS, week, codes, figures))],
    )
    path = tmp_path / f"{name}.eml"
    path.write_bytes(raw)
    return path


def test_a_fall_is_measured_against_the_latest_earlier_week_of_each_district(
    smtp_sink: SmtpSink, make_config: Callable[..., Config], tmp_path: Path
) -> None:
    config = make_config(ROSTER)
    bot = Mailbot(config, clock=lambda: NOW)
    codes = load_roster(ROSTER).districts_of(CMS, Week(2026, 47))[:2]
    bot.import_file(report(tmp_path, Week(2026, 44), codes, 80, "w44"))
    bot.import_file(report(tmp_path, Week(2026, 45), codes[:1], 60, "w45"))  # the first district only
    bot.import_file(report(tmp_path, Week(2026, 47), codes, 50, "w47"))
    with sqlite3.connect(config.database) as db:
        found = [
            m
            for (m,) in db.execute(
                "select message from problem where code = 'cumulative_decreased' and week = '2026-W47'"
            )
        ]
    names = [by_code(c).name_en for c in codes]
    assert sorted(found) == sorted(
        [
            f"Row 6 ({names[0]}): rural JSKs opened fell from 60 to 50; it is a cumulative "
            "count and should not go down. Please check.",  # week 45, not 44
            f"Row 7 ({names[1]}): rural JSKs opened fell from 80 to 50; it is a cumulative "
            "count and should not go down. Please check.",
        ]
    )  # week 44: its latest
    bot.close()

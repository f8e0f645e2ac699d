"""Every config default is written twice today: once on the dataclasses in ``mailbot.config`` and once in
``parse_config``. The compliance and ladder tests build ``CalendarSettings()`` (the dataclass copy) while production
reads a TOML file (the parser's copy), so the two must agree: a minimal file, with only the required keys, parses
to exactly the dataclass defaults, section by section. No server is needed.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from mailbot.config import (
    CalendarSettings,
    Config,
    ImapSettings,
    ScheduleSettings,
    Secret,
    SmtpSettings,
    parse_config,
)

BASE = Path("/srv/mailbot")
MINIMAL: dict[str, Any] = {
    "roster": {"path": "roster.xlsx"},
    "imap": {"host": "imap.ceg.example", "username": "jsk", "password_env": "MAILBOT_IMAP_PASSWORD"},
    "smtp": {"host": "smtp.ceg.example", "from_address": "mailbot@ceg.example"},
    "ceg": {"addresses": ["jsk@ceg.example"]},
}


@pytest.fixture(scope="module")
def minimal() -> Config:
    return parse_config(MINIMAL, BASE)


def _differences(parsed: object, expected: object, *, types: bool = False) -> dict[str, tuple[object, object]]:
    """Field name -> (parsed, dataclass default) for each field that differs by value (``types``: or by type:
    5 == 5.0 in Python, yet "every 5 minutes" and "every 5.0 minutes" are different text)."""
    found: dict[str, tuple[object, object]] = {}
    for f in dataclasses.fields(parsed):  # type: ignore[arg-type]  # a settings dataclass, typed object to take any
        got, want = getattr(parsed, f.name), getattr(expected, f.name)
        if got != want or (types and type(got) is not type(want)):
            found[f.name] = (got, want)
    return found


def test_minimal_imap_section_equals_the_dataclass_defaults(minimal: Config) -> None:
    expected = ImapSettings(host="imap.ceg.example", port=993, username="jsk",
                            secret=Secret("imap.password_env", env="MAILBOT_IMAP_PASSWORD"))
    assert _differences(minimal.imap, expected) == {}


def test_minimal_smtp_section_equals_the_dataclass_defaults(minimal: Config) -> None:
    expected = SmtpSettings(host="smtp.ceg.example", port=465, from_address="mailbot@ceg.example", secret=None)
    assert _differences(minimal.smtp, expected) == {}


def test_minimal_calendar_section_equals_the_dataclass_defaults(minimal: Config) -> None:
    assert _differences(minimal.calendar, CalendarSettings()) == {}


def test_minimal_schedule_section_equals_the_dataclass_defaults(minimal: Config) -> None:
    assert _differences(minimal.schedule, ScheduleSettings()) == {}


def test_minimal_schedule_section_has_the_dataclass_default_types(minimal: Config) -> None:
    assert _differences(minimal.schedule, ScheduleSettings(), types=True) == {}


@pytest.mark.parametrize("section", ["imap", "smtp", "calendar"])
def test_other_sections_have_the_dataclass_default_types(minimal: Config, section: str) -> None:
    expected = {"imap": dataclasses.replace(minimal.imap, **_defaults(ImapSettings)),
                "smtp": dataclasses.replace(minimal.smtp, **_defaults(SmtpSettings)),
                "calendar": CalendarSettings()}[section]
    assert _differences(getattr(minimal, section), expected, types=True) == {}


def _defaults(cls: type) -> dict[str, Any]:
    """The declared default of each field that has one (a default value, not a factory)."""
    return {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}


def test_minimal_top_level_equals_the_dataclass_defaults(minimal: Config) -> None:
    expected = Config(
        database=BASE / "mailbot.db", archive_dir=BASE / "archive", roster=BASE / "roster.xlsx",
        imap=minimal.imap, smtp=minimal.smtp, ceg_addresses=("jsk@ceg.example",),
        operator_address="jsk@ceg.example")  # the operator defaults to the first CEG address
    assert _differences(minimal, expected) == {}

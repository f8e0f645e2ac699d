"""Each config default is written once, on the dataclass field (``mailbot.settings``, ``mailbot.config``), and
``parse_config`` leaves it there when the file omits the key. The compliance and ladder tests build
``CalendarSettings()`` while production reads a TOML file, so these tests hold the two together: a minimal file,
with only the required keys, parses to exactly the dataclass defaults, section by section, and a file that spells
every default out parses to the same. No server is needed.
"""

from __future__ import annotations

import dataclasses
from datetime import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from mailbot.config import (
    CalendarSettings,
    Config,
    ImapSettings,
    ScheduleSettings,
    Secret,
    SmtpSettings,
    load_config,
    parse_config,
)
from mailbot.weeks import WEEKDAYS

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
    expected = ImapSettings(
        host="imap.ceg.example",
        port=993,
        username="jsk",
        secret=Secret("imap.password_env", env="MAILBOT_IMAP_PASSWORD"),
    )
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
    expected = {
        "imap": dataclasses.replace(minimal.imap, **_defaults(ImapSettings)),
        "smtp": dataclasses.replace(minimal.smtp, **_defaults(SmtpSettings)),
        "calendar": CalendarSettings(),
    }[section]
    assert _differences(getattr(minimal, section), expected, types=True) == {}


def _defaults(cls: type) -> dict[str, Any]:
    """The declared default of each field that has one (a default value, not a factory)."""
    return {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}


def test_minimal_top_level_equals_the_dataclass_defaults(minimal: Config) -> None:
    expected = Config(
        database=BASE / "mailbot.db",
        archive_dir=BASE / "archive",
        roster=BASE / "roster.xlsx",
        imap=minimal.imap,
        smtp=minimal.smtp,
        ceg_addresses=("jsk@ceg.example",),
        operator_address="jsk@ceg.example",
    )  # the operator defaults to the first CEG address
    assert _differences(minimal, expected) == {}


def _as_toml(value: object, name: str) -> object:
    """A default as an operator would write it in the file."""
    if isinstance(value, ZoneInfo):
        return value.key
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if name.endswith("_weekday") and isinstance(value, int):
        return WEEKDAYS[value]
    return "" if value is None else value  # an empty path or week means "none"


@pytest.mark.parametrize(
    ("section", "settings"),
    [("imap", ImapSettings), ("smtp", SmtpSettings), ("calendar", CalendarSettings), ("schedule", ScheduleSettings)],
)
def test_every_default_can_be_written_out_under_its_own_key(minimal: Config, section: str, settings: type) -> None:
    """Each field with a default is a key of its section (none unknown), and writing the default out gives the
    same settings as leaving the key out."""
    spelled = {f.name: _as_toml(value, f.name) for f, value in _field_defaults(settings)}
    data = {**MINIMAL, section: {**MINIMAL.get(section, {}), **spelled}}
    assert spelled and getattr(parse_config(data, BASE), section) == getattr(minimal, section)


def _field_defaults(cls: type) -> list[tuple[dataclasses.Field[Any], object]]:
    found: list[tuple[dataclasses.Field[Any], object]] = []
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            found.append((f, f.default))
        elif f.default_factory is not dataclasses.MISSING:
            found.append((f, f.default_factory()))
    return found


def test_the_documented_example_states_the_defaults() -> None:
    """config.example.toml writes out most defaults for the operator to read: each must be the real one. Only the
    site's own values (hosts, logins, addresses, the sender's display name) differ."""
    example = load_config(Path(__file__).resolve().parent.parent / "config.example.toml")
    site_specific = {"username", "from_name"}
    for parsed, settings in ((example.imap, ImapSettings), (example.smtp, SmtpSettings)):
        defaults: dict[str, Any] = {f.name: v for f, v in _field_defaults(settings) if f.name not in site_specific}
        assert _differences(parsed, dataclasses.replace(parsed, **defaults), types=True) == {}
    assert _differences(example.calendar, CalendarSettings(), types=True) == {}
    assert _differences(example.schedule, ScheduleSettings(), types=True) == {}
    for name in ("log_level", "max_attempts"):
        assert getattr(example, name) == _default(Config, name)


def _default(cls: type, name: str) -> object:
    return next(value for f, value in _field_defaults(cls) if f.name == name)

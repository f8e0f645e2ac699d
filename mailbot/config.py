"""Configuration: one TOML file -> frozen, validated objects.

Secrets are never in the file: it names an environment variable, a file, or (for XOAUTH2) a command that prints an
access token. Secrets are read only when needed (``Secret.reveal`` at connect time; ``Secret.check`` when `mailbot run`
starts), so a bad secret source fails with a message naming the key, and the value itself never appears in a repr,
log or exception. Files the config names (CA files, the templates folder) must exist when it is loaded.

Each default is written once, on the dataclass field: a key the file omits gets the field's default. The settings the
pure core reads (calendar, schedule) and ConfigError live in ``mailbot.settings``, and ``Secret`` (which may run a
command) in ``mailbot.secret``, so that the pure core loads no process library; all are importable from here too.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import os
import shlex
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mailbot.address import plain_address
from mailbot.secret import Secret
from mailbot.settings import (
    MAX_REPLIES_PER_ADDRESS_PER_DAY,
    CalendarSettings,
    ConfigError,
    ScheduleSettings,
    Security,
)
from mailbot.weeks import WEEKDAYS, Week

__all__ = [
    "MAX_REPLIES_PER_ADDRESS_PER_DAY",
    "CalendarSettings",
    "Config",
    "ConfigError",
    "ImapSettings",
    "ScheduleSettings",
    "Secret",
    "Security",
    "SmtpSettings",
    "load_config",
    "parse_config",
]


@dataclass(frozen=True)
class ImapSettings:
    host: str
    port: int
    username: str
    secret: Secret
    security: Security = "ssl"
    auth: Literal["password", "xoauth2"] = "password"
    ca_file: Path | None = None
    timeout: float = 60.0
    folder: str = "INBOX"
    processed_folder: str = "Processed"
    rejected_folder: str = "Rejected"
    batch_size: int = 50
    max_message_bytes: int = 25 * 1024 * 1024
    authserv_id: str = ""  # when set: trust a From address only if this server's Authentication-Results vouch for it
    max_replies_per_address_per_day: int = MAX_REPLIES_PER_ADDRESS_PER_DAY
    idle: bool = True  # wait in IMAP IDLE for new mail (receipts in seconds) where the server offers it
    # "move": a dedicated mailbox, everything is filed. "leave": a shared one, mail not from a roster address is
    # left where it is, unread, and never fetched again.
    unrelated: Literal["leave", "move"] = "move"

    @property
    def account(self) -> str:
        """Identifies the mailbox in the ledger: the same UID in another account is another message."""
        return f"{self.username}@{self.host}"


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    from_address: str
    secret: Secret | None  # None: no AUTH (a local relay)
    username: str = ""
    from_name: str = "CEG mailbot"
    security: Security = "ssl"
    ca_file: Path | None = None
    timeout: float = 60.0
    max_attempts: int = 8


@dataclass(frozen=True)
class Config:
    database: Path
    archive_dir: Path
    roster: Path
    imap: ImapSettings
    smtp: SmtpSettings
    ceg_addresses: tuple[str, ...]
    operator_address: str
    calendar: CalendarSettings = field(default_factory=CalendarSettings)
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    templates_dir: Path | None = None  # CEG's edited email templates; built-ins otherwise
    log_level: str = "INFO"
    max_attempts: int = 5  # a message failing transiently this often is quarantined
    source: Path | None = None  # the file this came from


# --- loading -------------------------------------------------------------------------------------------------


class _Section:
    """Reads one TOML table, remembering the dotted key for error messages and refusing unknown keys.

    ``settings`` is the dataclass the table fills: a key it omits gets that field's declared default
    (``default``), so each default is written once, on the dataclass."""

    def __init__(self, data: Mapping[str, Any], name: str, settings: type | None = None) -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(f"{name}: expected a table, e.g. [{name}]")
        self.data = data
        self.name = name
        self.used: set[str] = set()
        self.fields = {f.name: f for f in dataclasses.fields(settings)} if settings else {}

    def default(self, key: str) -> Any:
        """The settings dataclass's default for field ``key``; ``...`` when it has none (the key is required)."""
        f = self.fields.get(key)
        if f is None:
            return ...
        if f.default is not dataclasses.MISSING:
            return f.default
        if f.default_factory is not dataclasses.MISSING:
            return f.default_factory()
        return ...

    def key(self, key: str) -> str:
        return f"{self.name}.{key}" if self.name else key

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ..., required: bool = False) -> Any:
        """The value of ``key``, checked against ``kind``; when absent, ``default`` (``...``: the field's own)."""
        self.used.add(key)
        if key not in self.data:
            if default is ...:
                default = self.default(key)
            if required or default is ...:
                raise ConfigError(f"{self.key(key)}: missing (required){self.misspelling_hint(key)}")
            return default
        value = self.data[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        # TOML integers are acceptable where a float is asked for; bools are not numbers here.
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) and bool not in kinds:
            raise ConfigError(f"{self.key(key)}: expected {_kind_name(kinds)}, got {value!r}")
        if not isinstance(value, kinds):
            raise ConfigError(f"{self.key(key)}: expected {_kind_name(kinds)}, got {value!r}")
        return value

    def misspelling_hint(self, *wanted: str) -> str:
        """ "; is imap.pasword_env a misspelling of it?" when a key given here looks like one of ``wanted``."""
        given = [k for k in self.data if isinstance(k, str) and k not in wanted]
        for key in wanted:
            near = difflib.get_close_matches(key, given, n=1)
            if near:
                return f"; is {self.key(near[0])} a misspelling of it?"
        return ""

    def positive(self, key: str) -> Any:
        """A number greater than 0: a float where the field's default is one, else a whole number."""
        default = self.default(key)
        value = self.get(key, (int, float) if isinstance(default, float) else int, default)
        if value <= 0:
            raise ConfigError(f"{self.key(key)}: must be greater than 0, got {value!r}")
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: str | None = None) -> str:
        value: str = self.get(key, str, self.default(key) if default is None else default)
        if value.lower() not in choices:
            raise ConfigError(f"{self.key(key)}: must be one of {', '.join(choices)}; got {value!r}")
        return value.lower()

    def sub(self, key: str, settings: type | None = None) -> _Section:
        self.used.add(key)
        return _Section(self.data.get(key, {}), self.key(key), settings)

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            # Every key this section reads has been asked for by now: a near one is the likely intent
            # (a misspelt optional key such as lag_treshold is otherwise only "unknown").
            near = difflib.get_close_matches(str(unknown[0]), sorted(self.used - set(self.data)), n=1)
            hint = (
                f"; did you mean {self.key(near[0])}?" if near else " (check the spelling against config.example.toml)"
            )
            raise ConfigError(f"{self.key(unknown[0])}: unknown key{hint}")


def _kind_name(kinds: tuple[type, ...]) -> str:
    names = {str: "a string", int: "a whole number", float: "a number", bool: "true or false", list: "a list"}
    if int in kinds and float in kinds:  # every whole number is a number: say it once
        kinds = tuple(k for k in kinds if k is not int)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _path(section: _Section, key: str, base: Path, default: str | None = None) -> Path | None:
    value = section.get(key, str, default)
    if value is None or value == "":
        return None
    return _relative_to(base, value)


def _relative_to(base: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def _existing(section: _Section, key: str, base: Path, folder: bool = False) -> Path | None:
    """An optional path that must exist now (a CA file, the templates folder): a typo is named at load time,
    not as a traceback at the first connection."""
    path = _path(section, key, base, "")
    if path is None:
        return None
    if folder and not path.is_dir():
        what = "not a folder" if path.exists() else "no such folder"
        raise ConfigError(f"{section.key(key)}: {path}: {what}")
    if not folder and not path.is_file():
        what = "a folder, not a file" if path.is_dir() else "no such file"
        raise ConfigError(f"{section.key(key)}: {path}: {what}")
    return path


def _port(section: _Section, default: int) -> int:
    port: int = section.get("port", int, default)
    if not 1 <= port <= 65535:
        raise ConfigError(f"{section.key('port')}: must be a port number from 1 to 65535, got {port!r}")
    return port


_SECRET_KEYS = ("password_env", "password_file", "token_command")


def _secret(section: _Section, base: Path, required: bool, allow_command: bool = False) -> Secret | None:
    sources = {k: section.get(k, str, None) for k in ("password_env", "password_file")}
    command = section.get("token_command", (str, list), None) if allow_command else None
    given = [k for k, v in sources.items() if v] + (["token_command"] if command else [])
    if len(given) > 1:
        raise ConfigError(f"{section.key(given[1])}: give only one of password_env, password_file, token_command")
    if "password" in section.data:
        raise ConfigError(
            f"{section.key('password')}: passwords are never kept in the config file; "
            "use password_env (an environment variable) or password_file"
        )
    if not given:
        if required:
            raise ConfigError(
                f"{section.key('password_env')}: missing; name the environment variable or "
                f"password_file that holds the password{section.misspelling_hint(*_SECRET_KEYS)}"
            )
        return None
    if sources["password_env"]:
        return Secret(section.key("password_env"), env=sources["password_env"])
    if sources["password_file"]:
        # Relative to the config file, like every other path: the daemon's working folder is elsewhere.
        return Secret(section.key("password_file"), file=_relative_to(base, sources["password_file"]))
    argv = tuple(shlex.split(command)) if isinstance(command, str) else tuple(str(a) for a in command or ())
    if not argv:
        raise ConfigError(f"{section.key('token_command')}: empty command")
    return Secret(section.key("token_command"), command=argv)


def _security(section: _Section, host: str) -> Security:
    security = section.choice("security", ("ssl", "starttls", "none"))
    if security == "none" and not _is_loopback(host):
        raise ConfigError(
            f"{section.key('security')}: 'none' (no TLS) is allowed only for a server on this machine; "
            f"{host!r} is not a loopback address"
        )
    return security  # type: ignore[return-value]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _time(section: _Section, key: str) -> time:
    value = section.get(key, str, None)
    if value is None:
        default: time = section.default(key)
        return default
    try:
        return time.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"{section.key(key)}: expected a time like 12:00, got {value!r}") from None


def _weekday(section: _Section, key: str) -> int:
    return WEEKDAYS.index(section.choice(key, WEEKDAYS, WEEKDAYS[section.default(key)]))


def _week(section: _Section, key: str) -> Week | None:
    text = section.get(key, str, "").strip()
    try:
        return Week.parse(text) if text else None
    except ValueError as exc:
        raise ConfigError(f"{section.key(key)}: {exc}") from None


def _address(section: _Section, key: str, value: str) -> str:
    plain = plain_address(value)
    if plain is None or value.strip() != value:
        raise ConfigError(f"{section.key(key)}: not an email address (a plain name@domain): {value!r}")
    return plain


def parse_config(data: Mapping[str, Any], base: Path, source: Path | None = None) -> Config:
    """Build a Config from parsed TOML; relative paths are taken from ``base`` (the config file's folder)."""
    top = _Section(data, "")
    _known_sections(data)
    main = top.sub("mailbot", Config)
    database = _path(main, "database", base, "mailbot.db")
    archive_dir = _path(main, "archive_dir", base, "archive")
    templates_dir = _existing(main, "templates_dir", base, folder=True)
    log_level = main.choice("log_level", ("debug", "info", "warning", "error")).upper()
    max_attempts = main.positive("max_attempts")
    main.finish()

    roster_section = top.sub("roster")
    roster = _path(roster_section, "path", base, None)
    if roster is None:
        raise ConfigError("roster.path: missing (required): the roster workbook or CSV folder CEG keeps")
    roster_section.finish()

    imap = _imap(top.sub("imap", ImapSettings), base)
    smtp = _smtp(top.sub("smtp", SmtpSettings), base)

    ceg = top.sub("ceg")
    addresses = ceg.get("addresses", list, required=True)
    if not addresses or not all(isinstance(a, str) for a in addresses):
        raise ConfigError('ceg.addresses: expected a list of email addresses, e.g. ["jsk@ceg.up.gov.in"]')
    ceg_addresses = tuple(_address(ceg, "addresses", a) for a in addresses)
    operator = _address(ceg, "operator", ceg.get("operator", str, ceg_addresses[0]))
    ceg.finish()

    cal = top.sub("calendar", CalendarSettings)
    tz_name = cal.get("timezone", str, cal.default("timezone").key)
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"calendar.timezone: unknown time zone {tz_name!r} (e.g. Asia/Kolkata)") from None
    lag = cal.get("lag_threshold", float)
    if not 0 < lag <= 1:
        raise ConfigError(f"calendar.lag_threshold: must be a fraction between 0 and 1, got {lag!r}")
    calendar = CalendarSettings(
        timezone=tz,
        deadline_weekday=_weekday(cal, "deadline_weekday"),
        deadline_time=_time(cal, "deadline_time"),
        reminder_days_before=_non_negative(cal, "reminder_days_before"),
        overdue_notice=cal.get("overdue_notice", bool),
        escalate_days_after=_non_negative(cal, "escalate_days_after"),
        consecutive_missing_alert=cal.positive("consecutive_missing_alert"),
        lag_threshold=lag,
        no_progress_weeks=cal.positive("no_progress_weeks"),
        summary_weekday=_weekday(cal, "summary_weekday"),
        summary_time=_time(cal, "summary_time"),
        history_weeks=cal.positive("history_weeks"),
        first_week=_week(cal, "first_week"),
    )
    cal.finish()

    sched = top.sub("schedule", ScheduleSettings)
    schedule = ScheduleSettings(
        poll_minutes=sched.positive("poll_minutes"),
        send_minutes=sched.positive("send_minutes"),
        check_minutes=min(sched.positive("check_minutes"), 60.0),
        misfire_grace_seconds=sched.positive("misfire_grace_seconds"),
        health_max_age_minutes=sched.positive("health_max_age_minutes"),
        outbox_max_age_minutes=sched.positive("outbox_max_age_minutes"),
        stale_after_polls=sched.positive("stale_after_polls"),
    )
    sched.finish()
    top.finish()

    assert database is not None and archive_dir is not None  # noqa: S101 - defaults above make these non-None
    return Config(
        database=database,
        archive_dir=archive_dir,
        roster=roster,
        imap=imap,
        smtp=smtp,
        ceg_addresses=ceg_addresses,
        operator_address=operator,
        calendar=calendar,
        schedule=schedule,
        templates_dir=templates_dir,
        log_level=log_level,
        max_attempts=max_attempts,
        source=source,
    )


def _imap(imap_section: _Section, base: Path) -> ImapSettings:
    imap_host = imap_section.get("host", str, required=True)
    imap_auth = imap_section.choice("auth", ("password", "xoauth2"))
    imap_security = _security(imap_section, imap_host)
    if imap_auth != "xoauth2" and "token_command" in imap_section.data:
        raise ConfigError(
            'imap.token_command: only used with auth = "xoauth2"; for a password use '
            'password_env or password_file, or set auth = "xoauth2"'
        )
    imap = ImapSettings(
        host=imap_host,
        port=_port(imap_section, 993 if imap_security == "ssl" else 143),
        username=imap_section.get("username", str, required=True),
        secret=_secret(imap_section, base, required=True, allow_command=True),  # type: ignore[arg-type]
        security=imap_security,
        auth=imap_auth,  # type: ignore[arg-type]
        ca_file=_existing(imap_section, "ca_file", base),
        timeout=imap_section.positive("timeout"),
        folder=imap_section.get("folder", str),
        processed_folder=imap_section.get("processed_folder", str),
        rejected_folder=imap_section.get("rejected_folder", str),
        batch_size=imap_section.positive("batch_size"),
        max_message_bytes=imap_section.positive("max_message_bytes"),
        authserv_id=imap_section.get("authserv_id", str).strip(),
        max_replies_per_address_per_day=imap_section.positive("max_replies_per_address_per_day"),
        idle=imap_section.get("idle", bool),
        unrelated=imap_section.choice("unrelated", ("move", "leave")),  # type: ignore[arg-type]
    )
    imap_section.finish()
    return imap


def _smtp(smtp_section: _Section, base: Path) -> SmtpSettings:
    smtp_host = smtp_section.get("host", str, required=True)
    smtp_security = _security(smtp_section, smtp_host)
    smtp = SmtpSettings(
        host=smtp_host,
        port=_port(smtp_section, {"ssl": 465, "starttls": 587, "none": 25}[smtp_security]),
        username=smtp_section.get("username", str),
        secret=_secret(smtp_section, base, required=False),
        from_address=_address(smtp_section, "from_address", smtp_section.get("from_address", str, required=True)),
        from_name=smtp_section.get("from_name", str),
        security=smtp_security,
        ca_file=_existing(smtp_section, "ca_file", base),
        timeout=smtp_section.positive("timeout"),
        max_attempts=smtp_section.positive("max_attempts"),
    )
    if smtp.secret is not None and not smtp.username:
        raise ConfigError("smtp.username: missing; a password source is given, so the login name is needed")
    smtp_section.finish()
    return smtp


_SECTIONS = ("mailbot", "roster", "imap", "smtp", "ceg", "calendar", "schedule")


def _known_sections(data: Mapping[str, Any]) -> None:
    """A misspelt table header ([smpt]) is named first: otherwise the real table seems to be missing."""
    for name, value in data.items():
        if name in _SECTIONS:
            continue
        if not isinstance(value, Mapping):
            raise ConfigError(f"{name}: unknown key outside any section; keys go under a header such as [mailbot]")
        near = difflib.get_close_matches(str(name), _SECTIONS, n=1)
        hint = f"; is it a misspelling of {near[0]!r}?" if near else f" (known: {', '.join(_SECTIONS)})"
        raise ConfigError(f"unknown section {name!r}{hint}")


def _non_negative(section: _Section, key: str) -> int:
    value: int = section.get(key, int)
    if value < 0:
        raise ConfigError(f"{section.key(key)}: must be 0 or more, got {value!r}")
    return value


def load_config(path: Path | str | None = None) -> Config:
    """Load from ``path``, else ``$MAILBOT_CONFIG``; raises ConfigError naming the file or key."""
    chosen = path or os.environ.get("MAILBOT_CONFIG")
    if not chosen:
        raise ConfigError("no configuration: pass --config FILE or set MAILBOT_CONFIG (see config.example.toml)")
    file = Path(chosen).expanduser()
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{file}: configuration file not found") from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None
    try:
        return parse_config(data, file.resolve().parent, source=file)
    except ConfigError as exc:
        raise ConfigError(f"{file}: {exc}") from None

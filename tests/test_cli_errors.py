"""What an operator sees when the command line, the config or a file is wrong: one line naming the key or file
and what to do, the documented exit status, never a traceback. In process (click's CliRunner); no servers."""

from __future__ import annotations

import getpass
import hashlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mailbot.cli import EXIT_CONFIG, EXIT_STALE, EXIT_UNAVAILABLE, main
from mailbot.config import load_config
from mailbot.service import Mailbot

ROOT = Path(__file__).resolve().parent.parent
ROSTER = ROOT / "fixtures" / "roster" / "roster.xlsx"
WORKBOOK = ROOT / "fixtures" / "workbooks" / "canonical_english.xlsx"
PASSWORD_ENV = "MAILBOT_TEST_CLI_IMAP_PW"

CONFIG = f"""
[mailbot]
database = "state/mailbot.db"
archive_dir = "state/archive"
[roster]
path = "{ROSTER}"
[imap]
host = "127.0.0.1"
port = 1143
security = "none"
username = "ceg@local.example"
password_env = "{PASSWORD_ENV}"
[smtp]
host = "127.0.0.1"
port = 1025
security = "none"
from_address = "ceg@local.example"
[ceg]
addresses = ["jsk@ceg.example"]
"""


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("MAILBOT_CONFIG", raising=False)
    monkeypatch.setenv(PASSWORD_ENV, "pw")
    # The CLI configures logging for the whole process: put it back for the tests that run after these.
    loggers = [logging.getLogger(name) for name in ("", "imapclient", "apscheduler")]
    saved = [(logger.handlers[:], logger.level) for logger in loggers]
    yield
    for logger, (handlers, level) in zip(loggers, saved, strict=True):
        logger.handlers[:] = handlers
        logger.setLevel(level)


def write_config(folder: Path, text: str = CONFIG) -> Path:
    path = folder / "mailbot.toml"
    path.write_text(text, encoding="utf-8")
    return path


def with_database(folder: Path, text: str = CONFIG) -> Path:
    path = write_config(folder, text)
    (folder / "state").mkdir(exist_ok=True)
    Mailbot(load_config(path)).close()  # what `mailbot init` leaves behind
    return path


def invoke(*args: str | Path, logged_traceback: bool = False) -> Result:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert logged_traceback or "Traceback" not in result.output, result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exc_info
    return result


# --- #3, #14, #16: the config names the key; exit 2 before anything else ---------------------------------------


@pytest.mark.parametrize("command", ["init", "poll", "run", "status", "health"])
def test_a_missing_ca_file_is_named_at_load(tmp_path: Path, command: str) -> None:
    text = CONFIG.replace('security = "none"', 'security = "none"\nca_file = "/nonexistent/ca.pem"', 1)
    path = write_config(tmp_path, text)
    result = invoke("--config", path, command)
    assert result.exit_code == EXIT_CONFIG
    assert result.stderr == f"mailbot: {path}: imap.ca_file: /nonexistent/ca.pem: no such file\n"


# --- #11 (operator path): a state folder mailbot may not write is named with its owner and the fix, exit 2 ------


@pytest.fixture
def locked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A folder this user may not write in. The tests run as root, for whom chmod changes nothing: the
    permission check itself (os.access) is what refuses here, for this folder only."""
    folder = tmp_path / "locked"
    folder.mkdir()
    real_access = os.access

    def access(path: object, mode: int, *args: object, **kwargs: object) -> bool:
        if Path(str(path)) == folder and mode & os.W_OK:
            return False
        return real_access(path, mode, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "access", access)
    return folder


@pytest.mark.parametrize("command", ["init", "poll", "run"])
def test_an_unwritable_state_folder_is_named_with_its_owner_and_the_fix(
    tmp_path: Path, locked: Path, command: str, daemon_calls: list[object]
) -> None:
    path = write_config(tmp_path, CONFIG.replace('"state/mailbot.db"', '"locked/state/mailbot.db"'))
    result = invoke("--config", path, command)
    assert result.exit_code == EXIT_CONFIG and daemon_calls == []
    user = getpass.getuser()
    assert result.stderr == (
        f"mailbot: mailbot.database: cannot create {locked / 'state'}: {locked} belongs to {locked.owner()}, and "
        f"user {user} may not write in it (as root: install -d -o {user} -m 0750 {locked / 'state'}; or point "
        f"mailbot.database in {path} elsewhere)\n")
    assert not (locked / "state").exists()


def test_an_unwritable_archive_folder_is_named(tmp_path: Path, locked: Path) -> None:
    path = write_config(tmp_path, CONFIG.replace('"state/archive"', '"locked"'))
    result = invoke("--config", path, "init")
    assert result.exit_code == EXIT_CONFIG
    user = getpass.getuser()
    assert result.stderr == (
        f"mailbot: mailbot.archive_dir: cannot write {locked}: it belongs to {locked.owner()}, and user {user} may "
        f"not write it (as root: chown -R {user} {locked}; or point mailbot.archive_dir in {path} elsewhere)\n")


def test_a_file_where_the_state_folder_should_be_is_named(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    (tmp_path / "state").write_text("not a folder", encoding="utf-8")
    result = invoke("--config", path, "init")
    assert result.exit_code == EXIT_CONFIG
    assert result.stderr == (f"mailbot: mailbot.database: cannot create {tmp_path / 'state'}: {tmp_path / 'state'} "
                             "is a file, not a folder (point mailbot.database elsewhere)\n")


# --- #6: `run` will not start without its passwords ---------------------------------------------------------------


@pytest.fixture
def daemon_calls(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Stands in for the daemon: a `run` that gets past its start checks returns at once instead of running."""
    calls: list[object] = []

    def run_daemon(config: object, **_: object) -> int:
        calls.append(config)
        return 0

    monkeypatch.setattr("mailbot.scheduler.run_daemon", run_daemon)
    return calls


def test_run_starts_when_the_passwords_are_there(tmp_path: Path, daemon_calls: list[object]) -> None:
    result = invoke("--config", write_config(tmp_path), "run")
    assert result.exit_code == 0 and len(daemon_calls) == 1


def test_run_refuses_to_start_when_a_password_variable_is_unset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, daemon_calls: list[object]
) -> None:
    path = write_config(tmp_path)
    monkeypatch.setenv(PASSWORD_ENV, "")
    result = invoke("--config", path, "run")
    assert result.exit_code == EXIT_CONFIG and daemon_calls == []
    assert result.stderr == (f"mailbot: {path}: imap.password_env: environment variable {PASSWORD_ENV} is not set "
                             "or empty\n")


def test_run_refuses_to_start_when_the_smtp_password_file_is_missing(
    tmp_path: Path, daemon_calls: list[object]
) -> None:
    text = CONFIG.replace('from_address = "ceg@local.example"',
                          'from_address = "ceg@local.example"\nusername = "ceg"\npassword_file = "smtp.pw"')
    path = write_config(tmp_path, text)
    result = invoke("--config", path, "run")
    assert result.exit_code == EXIT_CONFIG and daemon_calls == []
    assert f"{path}: smtp.password_file: cannot read secret file {tmp_path / 'smtp.pw'}" in result.stderr


def test_run_refuses_to_start_when_the_token_command_does_not_exist(
    tmp_path: Path, daemon_calls: list[object]
) -> None:
    text = CONFIG.replace(f'password_env = "{PASSWORD_ENV}"',
                          'auth = "xoauth2"\ntoken_command = ["/opt/nowhere/get-token", "--account", "ceg"]')
    result = invoke("--config", write_config(tmp_path, text), "run")
    assert result.exit_code == EXIT_CONFIG and daemon_calls == []
    assert "imap.token_command: token command '/opt/nowhere/get-token' not found" in result.stderr


# --- #11: reading commands do not make an empty database at a mistyped path -----------------------------------


@pytest.mark.parametrize("args", [["status"], ["summary"], ["template", "--dsp", "CMS Computers"]])
def test_reading_commands_refuse_a_missing_database(tmp_path: Path, args: list[str]) -> None:
    path = write_config(tmp_path)
    result = invoke("--config", path, *args)
    assert result.exit_code == EXIT_CONFIG
    assert result.stderr == (f"mailbot: no database at {tmp_path / 'state' / 'mailbot.db'}: run `mailbot init` "
                             f"first (or check mailbot.database in {path})\n")
    assert not (tmp_path / "state").exists()  # not even the folder


def test_a_bad_week_is_named_before_the_database_is_looked_for(tmp_path: Path) -> None:
    result = invoke("--config", write_config(tmp_path), "status", "--week", "2026-47")
    assert result.exit_code == EXIT_CONFIG and "not a week" in result.stderr


# --- #8: --out into a folder that does not exist -----------------------------------------------------------------


@pytest.mark.parametrize("args", [["summary", "--week", "2026-W47"],
                                  ["template", "--dsp", "CMS Computers", "--week", "2026-W47"]])
def test_out_into_a_missing_folder_is_named(tmp_path: Path, args: list[str]) -> None:
    path = with_database(tmp_path)
    out = tmp_path / "no" / "such" / "s.xlsx"
    result = invoke("--config", path, *args, "--out", out)
    assert result.exit_code == EXIT_CONFIG
    assert result.stderr.splitlines()[-1] == f"mailbot: cannot write {out}: no such folder {out.parent}"


def test_default_output_places_are_in_the_help() -> None:
    def squeezed(command: str) -> str:  # click wraps the help text, even inside a file name
        return "".join(invoke(command, "--help").output.split())

    assert "default:JSK-weekly-summary-<week>.xlsxinthecurrentfolder" in squeezed("summary")
    assert "default:JSK-report-<DSP>-<week>.xlsxinthecurrentfolder" in squeezed("template")


# --- #9: import says why a file is no use and exits 1 -------------------------------------------------------------


def test_import_of_a_spreadsheet_says_to_save_the_email(tmp_path: Path) -> None:
    path = with_database(tmp_path)
    legacy = tmp_path / "report.xls"
    legacy.write_bytes(bytes.fromhex("D0CF11E0A1B11AE1") + b"\0" * 504)
    result = invoke("--config", path, "import", WORKBOOK, legacy)
    assert result.exit_code == EXIT_UNAVAILABLE
    for file in (WORKBOOK, legacy):
        assert (f"{file}: not imported: this is a spreadsheet, not an email: save the DSP's email as .eml "
                "(in Outlook/Thunderbird: Save As)") in result.stdout
    assert "2 of 2 file(s) could not be imported" in result.stderr


def test_import_of_an_outlook_msg_says_what_it_is(tmp_path: Path) -> None:
    path = with_database(tmp_path)
    msg = tmp_path / "report.msg"
    msg.write_bytes(bytes.fromhex("D0CF11E0A1B11AE1") + b"\0" * 504)
    result = invoke("--config", path, "import", msg)
    assert result.exit_code == EXIT_UNAVAILABLE
    assert "this is an Outlook .msg file, not an .eml" in result.stdout


def test_import_of_text_that_is_not_an_email_exits_1(tmp_path: Path) -> None:
    path = with_database(tmp_path)
    notes = tmp_path / "notes.eml"
    notes.write_text("just some notes\n", encoding="utf-8")
    result = invoke("--config", path, "import", notes)
    assert result.exit_code == EXIT_UNAVAILABLE
    assert f"{notes}: ignored: not an email" in result.stdout


def test_a_failed_import_shows_its_reason_and_exits_1(tmp_path: Path) -> None:
    path = with_database(tmp_path)
    report = ROOT / "fixtures" / "emails" / "auto_reply_out_of_office.eml"
    # A file where this message's archive sub-folder should be: the archive folder itself is fine (`import`
    # checks that first), so the failure comes from processing the message.
    fan_out = tmp_path / "state" / "archive" / hashlib.sha256(report.read_bytes()).hexdigest()[:2]
    fan_out.parent.mkdir(parents=True)
    fan_out.write_text("a file where the archive folder should be\n", encoding="utf-8")
    result = invoke("--config", path, "import", report, logged_traceback=True)  # the service logs it for a bug
    assert result.exit_code == EXIT_UNAVAILABLE
    line = next(line for line in result.stdout.splitlines() if line.startswith(f"{report}: "))
    assert line.startswith(f"{report}: failed: ") and "Error" in line, line  # never an empty reason
    assert not line.rstrip().endswith("failed:")


# --- #19: global options after the command ------------------------------------------------------------------------


def test_config_may_follow_the_command(tmp_path: Path) -> None:
    path = with_database(tmp_path)
    result = invoke("status", "--config", path, "--week", "2026-W47")
    assert result.exit_code == 0, result.output
    assert "2026-W47" in result.stdout


def test_log_options_may_follow_the_command(tmp_path: Path) -> None:
    path = with_database(tmp_path)
    notes = tmp_path / "notes.eml"
    notes.write_text("just some notes\n", encoding="utf-8")
    quiet = invoke("--log-level", "error", "--config", path, "import", notes)
    assert "INFO" not in quiet.stderr
    more = tmp_path / "more-notes.eml"
    more.write_text("more notes\n", encoding="utf-8")
    loud = invoke("--log-level", "error", "import", "--config", path, "--log-level", "info", "--log-format", "json",
                  more)
    assert '"level": "INFO"' in loud.stderr


# --- #18: health's help tells both reasons and the real exit status -----------------------------------------------


def test_health_help_names_both_checks_and_exit_4(tmp_path: Path) -> None:
    text = " ".join(invoke("health", "--help").output.split())
    assert "4 otherwise" in text and "health_max_age_minutes" in text and "outbox_max_age_minutes" in text
    result = invoke("health", "--config", write_config(tmp_path))
    assert result.exit_code == EXIT_STALE and "no database" in result.stdout
    assert os.environ.get("MAILBOT_CONFIG") is None

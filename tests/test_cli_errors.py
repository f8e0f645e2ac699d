"""What an operator sees when the command line, the config or a file is wrong: one line naming the key or file
and what to do, the documented exit status, never a traceback. In process (click's CliRunner); the `init`
checks at the end use the real test servers."""

from __future__ import annotations

import getpass
import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from servers import ImapAccount, SmtpSink, TlsFiles, free_port

from mailbot.cli import EXIT_CONFIG, EXIT_RUNNING, EXIT_STALE, EXIT_UNAVAILABLE, main
from mailbot.config import Config, ConfigError, load_config
from mailbot.lock import AlreadyRunning
from mailbot.mailbox import MailboxAuthError, MailboxError, MailboxUnavailable
from mailbot.service import Mailbot
from mailbot.smtp import SmtpError, SmtpSenderRefused
from mailbot.tls import login_fix

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
        return real_access(path, mode, *args, **kwargs)  # type: ignore[arg-type]  # os.access's own arguments, passed on

    monkeypatch.setattr(os, "access", access)
    return folder


@pytest.mark.parametrize("command", ["init", "poll", "run", "health"])
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
        f"mailbot.database in {path} elsewhere)\n"
    )
    assert not (locked / "state").exists()


def test_an_unwritable_archive_folder_is_named(tmp_path: Path, locked: Path) -> None:
    path = write_config(tmp_path, CONFIG.replace('"state/archive"', '"locked"'))
    result = invoke("--config", path, "init")
    assert result.exit_code == EXIT_CONFIG
    user = getpass.getuser()
    assert result.stderr == (
        f"mailbot: mailbot.archive_dir: cannot write {locked}: it belongs to {locked.owner()}, and user {user} may "
        f"not write it (point mailbot.archive_dir in {path} at a folder {user} owns, or as root: chown -R {user} "
        f"{locked})\n"
    )


def test_a_file_where_the_state_folder_should_be_is_named(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    (tmp_path / "state").write_text("not a folder", encoding="utf-8")
    result = invoke("--config", path, "init")
    assert result.exit_code == EXIT_CONFIG
    assert result.stderr == (
        f"mailbot: mailbot.database: cannot create {tmp_path / 'state'}: {tmp_path / 'state'} "
        "is a file, not a folder (point mailbot.database elsewhere)\n"
    )


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
    assert result.stderr == (
        f"mailbot: {path}: imap.password_env: environment variable {PASSWORD_ENV} is not set or empty\n"
    )


def test_run_refuses_to_start_when_the_smtp_password_file_is_missing(
    tmp_path: Path, daemon_calls: list[object]
) -> None:
    text = CONFIG.replace(
        'from_address = "ceg@local.example"',
        'from_address = "ceg@local.example"\nusername = "ceg"\npassword_file = "smtp.pw"',
    )
    path = write_config(tmp_path, text)
    result = invoke("--config", path, "run")
    assert result.exit_code == EXIT_CONFIG and daemon_calls == []
    assert f"{path}: smtp.password_file: cannot read secret file {tmp_path / 'smtp.pw'}" in result.stderr


def test_run_refuses_to_start_when_the_token_command_does_not_exist(tmp_path: Path, daemon_calls: list[object]) -> None:
    text = CONFIG.replace(
        f'password_env = "{PASSWORD_ENV}"',
        'auth = "xoauth2"\ntoken_command = ["/opt/nowhere/get-token", "--account", "ceg"]',
    )
    result = invoke("--config", write_config(tmp_path, text), "run")
    assert result.exit_code == EXIT_CONFIG and daemon_calls == []
    assert "imap.token_command: token command '/opt/nowhere/get-token' not found" in result.stderr


# --- #11: reading commands do not make an empty database at a mistyped path -----------------------------------


@pytest.mark.parametrize("args", [["status"], ["summary"], ["template", "--dsp", "CMS Computers"]])
def test_reading_commands_refuse_a_missing_database(tmp_path: Path, args: list[str]) -> None:
    path = write_config(tmp_path)
    result = invoke("--config", path, *args)
    assert result.exit_code == EXIT_CONFIG
    assert result.stderr == (
        f"mailbot: no database at {tmp_path / 'state' / 'mailbot.db'}: run `mailbot init` "
        f"first (or check mailbot.database in {path})\n"
    )
    assert not (tmp_path / "state").exists()  # not even the folder


def test_a_bad_week_is_named_before_the_database_is_looked_for(tmp_path: Path) -> None:
    result = invoke("--config", write_config(tmp_path), "status", "--week", "2026-47")
    assert result.exit_code == EXIT_CONFIG and "not a week" in result.stderr


# --- issue 10: one error root; the CLI maps each kind to its status and wording without listing classes ---------


def _failing_poll(error: Exception) -> Callable[..., object]:
    def poll(self: Mailbot, progress: object = None) -> object:
        raise error

    return poll


@pytest.mark.parametrize(
    ("error", "status", "said"),
    [
        (
            MailboxError("imap.example:993: SELECT INBOX: NO"),
            EXIT_UNAVAILABLE,
            "server unavailable: imap.example:993: SELECT INBOX: NO",
        ),
        (
            MailboxUnavailable("imap.example:993: connect: timed out"),
            EXIT_UNAVAILABLE,
            "server unavailable: imap.example:993: connect: timed out",
        ),
        (MailboxAuthError("IMAP login refused for ceg"), EXIT_UNAVAILABLE, "IMAP login refused for ceg"),
        (
            SmtpError("smtp.example:587: connect: refused"),
            EXIT_UNAVAILABLE,
            "server unavailable: smtp.example:587: connect: refused",
        ),
        (SmtpSenderRefused("the server refuses the sender"), EXIT_UNAVAILABLE, "the server refuses the sender"),
        (ConfigError("imap.password_env: not set"), EXIT_CONFIG, "imap.password_env: not set"),
        (
            AlreadyRunning(Path("/db"), Path("/db.lock"), 42),
            EXIT_RUNNING,
            "another mailbot is already running on the database /db (PID 42 holds /db.lock); stop it first, or point "
            "this one at another database. The daemon already polls, sends and checks; `mailbot status` shows what it "
            "did.",
        ),
    ],
)
def test_each_kind_of_error_ends_a_command_with_its_documented_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: Exception, status: int, said: str
) -> None:
    path = with_database(tmp_path)
    monkeypatch.setattr(Mailbot, "poll", _failing_poll(error))
    result = invoke("--config", path, "poll")
    assert result.exit_code == status
    assert result.stderr == f"mailbot: {said}\n"


# --- #8: --out into a folder that does not exist -----------------------------------------------------------------


@pytest.mark.parametrize(
    "args", [["summary", "--week", "2026-W47"], ["template", "--dsp", "CMS Computers", "--week", "2026-W47"]]
)
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
        assert (
            f"{file}: not imported: this is a spreadsheet, not an email: save the DSP's email as .eml "
            "(in Outlook/Thunderbird: Save As)"
        ) in result.stdout
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
    loud = invoke(
        "--log-level", "error", "import", "--config", path, "--log-level", "info", "--log-format", "json", more
    )
    assert '"level": "INFO"' in loud.stderr


# --- #18: health's help tells both reasons and the real exit status -----------------------------------------------


def test_health_help_names_both_checks_and_exit_4(tmp_path: Path) -> None:
    text = " ".join(invoke("health", "--help").output.split())
    assert "4 otherwise" in text and "health_max_age_minutes" in text and "outbox_max_age_minutes" in text
    result = invoke("health", "--config", write_config(tmp_path))
    assert result.exit_code == EXIT_STALE and "no database" in result.stdout
    assert os.environ.get("MAILBOT_CONFIG") is None


# --- #11 (operator path): every `mailbot init` failure names what to change --------------------------------------
# Against the real test servers (Dovecot, aiosmtpd): the messages come from what those servers really answer.

BAD_ROSTER = ROOT / "fixtures" / "roster" / "bad_roster.xlsx"


def init(config: Config) -> Result:
    assert config.source is not None, "make_config writes the config to a file"
    return invoke("--config", config.source, "init")


def failed_line(result: Result, server: str) -> str:
    return next(line for line in result.stdout.splitlines() if line.startswith(f"{server}: FAILED"))


@pytest.mark.servers
def test_init_with_a_wrong_imap_password_names_its_variable(
    imap_account: ImapAccount, make_config: Callable[..., Config], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = make_config(ROSTER)
    monkeypatch.setenv(imap_account.env_var, "wrong-password")
    result = init(config)
    assert result.exit_code == EXIT_UNAVAILABLE
    assert "wrong-password" not in result.output
    assert failed_line(result, "IMAP") == (
        f"IMAP: FAILED (IMAP login refused for {imap_account.username} on 127.0.0.1:"
        f"{imap_account.server.imaps_port}: [AUTHENTICATIONFAILED] Authentication failed: check imap.username and "
        f"the password in environment variable {imap_account.env_var} (imap.password_env))"
    )


@pytest.mark.servers
def test_init_with_a_wrong_smtp_password_names_its_file(
    imap_account: ImapAccount, smtp_sink: SmtpSink, make_config: Callable[..., Config], tmp_path: Path
) -> None:
    secret = tmp_path / "smtp-password"
    secret.write_text("wrong-password\n", encoding="utf-8")
    config = make_config(ROSTER, smtp={"password_env": "", "password_file": str(secret)})
    result = init(config)
    assert result.exit_code == EXIT_UNAVAILABLE
    assert "wrong-password" not in result.output
    line = failed_line(result, "SMTP")
    assert line.startswith(
        f"SMTP: FAILED (SMTP login refused for {smtp_sink.username} on 127.0.0.1:{smtp_sink.port}: 535 "
    )
    assert line.endswith(f": check smtp.username and the password in file {secret} (smtp.password_file))")


def test_a_refused_login_at_nic_mail_names_app_specific_passwords() -> None:
    origin = "environment variable MAILBOT_IMAP_PASSWORD (imap.password_env)"
    assert "app-specific password" in login_fix("imap", origin, "imap.mgovcloud.in")
    assert "app-specific password" in login_fix("smtp", origin, "SMTP.MGOVCLOUD.IN.")
    assert "app-specific" not in login_fix("imap", origin, "imap.example.org")


@pytest.mark.servers
def test_init_with_a_port_where_nothing_listens_names_the_port(
    imap_account: ImapAccount, make_config: Callable[..., Config]
) -> None:
    port = free_port()
    result = init(make_config(ROSTER, imap={"port": port}))
    assert result.exit_code == EXIT_UNAVAILABLE
    assert failed_line(result, "IMAP") == (
        f"IMAP: FAILED (IMAP 127.0.0.1:{port}: connect: Connection refused: "
        "nothing listens there: check imap.port (and imap.host))"
    )


@pytest.mark.servers
def test_init_with_a_host_that_does_not_exist_names_the_host(
    imap_account: ImapAccount, make_config: Callable[..., Config]
) -> None:
    result = init(make_config(ROSTER, smtp={"host": "no-such-host.invalid"}))
    assert result.exit_code == EXIT_UNAVAILABLE
    line = failed_line(result, "SMTP")
    assert line.startswith("SMTP: FAILED (SMTP no-such-host.invalid:") and line.endswith(
        ": no such host: check smtp.host)"
    )


@pytest.mark.servers
def test_init_with_an_untrusted_certificate_names_ca_file(
    imap_account: ImapAccount, make_config: Callable[..., Config]
) -> None:
    result = init(make_config(ROSTER, imap={"ca_file": ""}))  # the test server's certificate is self-signed
    assert result.exit_code == EXIT_UNAVAILABLE
    line = failed_line(result, "IMAP")
    assert "TLS certificate not trusted" in line
    assert line.endswith(
        ": if this is the right server, set imap.ca_file to the certificate of the CA that signed "
        "it (for a self-signed server, its own certificate))"
    )


@pytest.mark.servers
def test_starttls_on_the_imaps_port_is_named_in_seconds(
    imap_account: ImapAccount, make_config: Callable[..., Config]
) -> None:
    config = make_config(ROSTER, imap={"security": "starttls", "port": imap_account.server.imaps_port, "timeout": 60})
    started = time.monotonic()
    result = init(config)
    elapsed = time.monotonic() - started
    assert result.exit_code == EXIT_UNAVAILABLE
    assert failed_line(result, "IMAP") == (
        f"IMAP: FAILED (IMAP 127.0.0.1:{imap_account.server.imaps_port}: connect: no greeting within 3 s: this "
        'port speaks TLS from the first byte: set imap.security = "ssl" (or keep "starttls" and use port 143))'
    )
    assert elapsed < 15, elapsed  # not the 60 s timeout


@pytest.mark.servers
def test_starttls_on_the_smtps_port_is_named_in_seconds(
    imap_account: ImapAccount, make_config: Callable[..., Config], tls_files: TlsFiles
) -> None:
    smtps = SmtpSink(tls_files, security="ssl")
    smtps.start()
    try:
        config = make_config(ROSTER, smtp={"port": smtps.port, "timeout": 60})  # security = "starttls"
        started = time.monotonic()
        result = init(config)
        elapsed = time.monotonic() - started
    finally:
        smtps.stop()
    assert result.exit_code == EXIT_UNAVAILABLE
    assert failed_line(result, "SMTP") == (
        f"SMTP: FAILED (SMTP 127.0.0.1:{smtps.port}: connect: no greeting within 3 s: this port speaks TLS from "
        'the first byte: set smtp.security = "ssl" (or keep "starttls" and use port 587))'
    )
    assert elapsed < 15, elapsed


def test_init_without_a_roster_names_roster_path(tmp_path: Path) -> None:
    path = write_config(tmp_path, CONFIG.replace(str(ROSTER), str(tmp_path / "roster.xlsx")))
    result = invoke("--config", path, "init")
    assert result.exit_code == EXIT_CONFIG
    assert result.stderr.splitlines()[-1] == (
        f"mailbot: roster.path: {tmp_path / 'roster.xlsx'}: no such file or folder: copy CEG's roster there or set "
        f"roster.path in {path} (an .xlsx workbook, or a folder of dsps.csv, assignments.csv and degs.csv; "
        "fixtures/roster/ has an example)"
    )


def test_init_with_a_broken_roster_names_the_rows_and_the_file(tmp_path: Path) -> None:
    path = write_config(tmp_path, CONFIG.replace(str(ROSTER), str(BAD_ROSTER)))
    result = invoke("--config", path, "init")
    assert result.exit_code == EXIT_CONFIG
    lines = result.stderr.splitlines()
    assert "bad_roster.xlsx, sheet Assignments, row 4: unknown district 'Allahabd' (did you mean Prayagraj?)" in lines
    assert lines[-1] == f"fix the rows named above in {BAD_ROSTER}, save it, and run the command again"

"""The configuration file: what an operator gets wrong, and the message that tells them which key."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mailbot.config import ConfigError, Secret, load_config

ROOT = Path(__file__).resolve().parent.parent

MINIMAL = """
[roster]
path = "roster.xlsx"
[imap]
host = "imap.example.org"
username = "jsk@ceg.example"
password_env = "TEST_IMAP_PW"
[smtp]
host = "smtp.example.org"
from_address = "jsk@ceg.example"
[ceg]
addresses = ["ceg@ceg.example"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def error_for(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    return str(caught.value)


def test_the_documented_example_loads_with_its_defaults() -> None:
    config = load_config(ROOT / "config.example.toml")
    assert config.imap.host == "imap.mgovcloud.in" and config.imap.port == 993 and config.imap.security == "ssl"
    assert config.smtp.port == 465 and config.calendar.deadline_weekday == 0
    assert config.database == ROOT / "mailbot.db"  # relative to the file, not the working directory
    assert "MAILBOT_IMAP_PASSWORD" in repr(config.imap.secret)


def test_minimal_config_fills_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    assert config.operator_address == "ceg@ceg.example"
    assert config.imap.processed_folder == "Processed" and config.imap.timeout == 60
    assert config.roster == tmp_path / "roster.xlsx"


@pytest.mark.parametrize(
    ("change", "names"),
    [
        (("[imap]\nhost", "[imap]\nhots"), "imap.host: missing (required); is imap.hots a misspelling"),
        (
            ("[ceg]", '[calendar]\ntimezon = "UTC"\n[ceg]'),
            "calendar.timezon: unknown key; did you mean calendar.timezone?",
        ),
        # A misspelt optional key has a default, so only the unknown-key check sees it: it names the intent too.
        (
            ("[ceg]", "[calendar]\nlag_treshold = 0.4\n[ceg]"),
            "calendar.lag_treshold: unknown key; did you mean calendar.lag_threshold?",
        ),
        (
            ("[ceg]", "[schedule]\npoll_minute = 2\n[ceg]"),
            "schedule.poll_minute: unknown key; did you mean schedule.poll_minutes?",
        ),
        (
            ("[ceg]", "[schedule]\nfrobnicate = 2\n[ceg]"),
            "schedule.frobnicate: unknown key (check the spelling against config.example.toml)",
        ),
        (('username = "jsk@ceg.example"\n', ""), "imap.username: missing"),
        (
            ('[smtp]\nhost = "smtp.example.org"', '[smtp]\nhost = "smtp.example.org"\nport = "465"'),
            "smtp.port: expected a whole number",
        ),
        (('password_env = "TEST_IMAP_PW"', 'password = "hunter2"'), "imap.password: passwords are never kept"),
        (('host = "imap.example.org"', 'host = "imap.example.org"\nsecurity = "none"'), "imap.security: 'none'"),
        (('addresses = ["ceg@ceg.example"]', 'addresses = ["not an address"]'), "ceg.addresses: not an email"),
        (("[ceg]", '[calendar]\ntimezone = "India/Lucknow"\n[ceg]'), "calendar.timezone: unknown time zone"),
        (("[ceg]", '[calendar]\ndeadline_time = "noon"\n[ceg]'), "calendar.deadline_time: expected a time"),
        (("[ceg]", "[calendar]\nlag_threshold = 50\n[ceg]"), "calendar.lag_threshold: must be a fraction"),
        (("[ceg]", "[schedule]\npoll_minutes = 0\n[ceg]"), "schedule.poll_minutes: must be greater than 0"),
        (('[roster]\npath = "roster.xlsx"', "[roster]"), "roster.path: missing"),
        (
            ('host = "imap.example.org"', 'host = "imap.example.org"\nauthserv_id = ["mx"]'),
            "imap.authserv_id: expected",
        ),
    ],
)
def test_a_bad_value_is_named_by_its_key(tmp_path: Path, change: tuple[str, str], names: str) -> None:
    assert change[0] in MINIMAL
    message = error_for(tmp_path, MINIMAL.replace(change[0], change[1], 1))
    assert names in message
    assert str(tmp_path / "config.toml") in message  # and the file


def test_a_password_never_appears_in_errors_or_reprs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret_file = tmp_path / "imap.pw"
    secret_file.write_text("s3cret-app-password\n", encoding="utf-8")
    config = load_config(
        write(tmp_path, MINIMAL.replace('password_env = "TEST_IMAP_PW"', f'password_file = "{secret_file}"'))
    )
    assert config.imap.secret.reveal() == "s3cret-app-password"
    assert "s3cret" not in repr(config) and "s3cret" not in repr(config.imap)


def test_secret_sources_fail_with_the_key_at_connect_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_IMAP_PW", raising=False)
    config = load_config(write(tmp_path, MINIMAL))  # loading does not need the secret yet
    with pytest.raises(ConfigError, match=r"imap.password_env: environment variable TEST_IMAP_PW is not set"):
        config.imap.secret.reveal()
    monkeypatch.setenv("TEST_IMAP_PW", "pw")
    assert config.imap.secret.reveal() == "pw"


def test_an_oauth_token_comes_from_the_configured_command(tmp_path: Path) -> None:
    command = f'token_command = ["{sys.executable}", "-c", "print(\\"tok-123\\")"]'
    text = MINIMAL.replace('password_env = "TEST_IMAP_PW"', f'auth = "xoauth2"\n{command}')
    config = load_config(write(tmp_path, text))
    assert config.imap.auth == "xoauth2" and config.imap.secret.reveal() == "tok-123"
    failing = text.replace('print(\\"tok-123\\")', "import sys; sys.stderr.write('tok-secret'); sys.exit(3)")
    broken = load_config(write(tmp_path, failing))
    with pytest.raises(ConfigError) as caught:
        broken.imap.secret.reveal()
    assert "exited 3" in str(caught.value) and "tok-secret" not in str(caught.value)


def test_config_path_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILBOT_CONFIG", str(write(tmp_path, MINIMAL)))
    assert load_config().imap.host == "imap.example.org"
    monkeypatch.delenv("MAILBOT_CONFIG")
    with pytest.raises(ConfigError, match="MAILBOT_CONFIG"):
        load_config()


def test_unreadable_toml_names_the_file(tmp_path: Path) -> None:
    assert "not valid TOML" in error_for(tmp_path, "[imap\nhost=")
    with pytest.raises(ConfigError, match="configuration file not found"):
        load_config(tmp_path / "nope.toml")


def test_loopback_may_go_without_tls(tmp_path: Path) -> None:
    text = MINIMAL.replace('host = "imap.example.org"', 'host = "127.0.0.1"\nsecurity = "none"')
    assert load_config(write(tmp_path, text)).imap.port == 143


# --- mistakes an operator makes, each named by its key at load time ----------------------------------------


@pytest.mark.parametrize(
    ("change", "names"),
    [
        (("[smtp]", "[smpt]"), "unknown section 'smpt'; is it a misspelling of 'smtp'?"),
        (
            ('password_env = "TEST_IMAP_PW"', 'pasword_env = "TEST_IMAP_PW"'),
            "imap.password_env: missing; name the environment variable or password_file that holds the password; "
            "is imap.pasword_env a misspelling of it?",
        ),
        (
            ('host = "imap.example.org"', 'host = "imap.example.org"\ntimeout = "60"'),
            "imap.timeout: expected a number, got '60'",
        ),
        (
            ('host = "imap.example.org"', 'host = "imap.example.org"\nport = 0'),
            "imap.port: must be a port number from 1 to 65535, got 0",
        ),
        (
            ('host = "smtp.example.org"', 'host = "smtp.example.org"\nport = 99999'),
            "smtp.port: must be a port number from 1 to 65535, got 99999",
        ),
        (('host = "imap.example.org"', 'host = "imap.example.org"\nport = -5'), "imap.port: must be a port number"),
        (
            ('host = "imap.example.org"', 'host = "imap.example.org"\nca_file = "/nonexistent/ca.pem"'),
            "imap.ca_file: /nonexistent/ca.pem: no such file",
        ),
        (
            ('host = "smtp.example.org"', 'host = "smtp.example.org"\nca_file = "certs/ca.pem"'),
            "smtp.ca_file: {dir}/certs/ca.pem: no such file",
        ),  # relative to the config file, and shown in full
        (
            ('host = "imap.example.org"', 'host = "imap.example.org"\nca_file = "."'),
            "imap.ca_file: {dir}: a folder, not a file",
        ),
        (
            ("[roster]", '[mailbot]\ntemplates_dir = "my-templates"\n[roster]'),
            "mailbot.templates_dir: {dir}/my-templates: no such folder",
        ),
        (
            ('password_env = "TEST_IMAP_PW"', 'token_command = "get-token"'),
            'imap.token_command: only used with auth = "xoauth2"',
        ),
        (("[roster]", 'database = "x.db"\n[roster]'), "database: unknown key outside any section"),
    ],
)
def test_an_operator_mistake_is_named_at_load_time(tmp_path: Path, change: tuple[str, str], names: str) -> None:
    assert change[0] in MINIMAL
    message = error_for(tmp_path, MINIMAL.replace(change[0], change[1], 1))
    assert message.startswith(f"{tmp_path / 'config.toml'}: {names.format(dir=tmp_path)}"), message


def test_a_whole_number_port_at_the_edges_is_accepted(tmp_path: Path) -> None:
    text = MINIMAL.replace('host = "imap.example.org"', 'host = "imap.example.org"\nport = 65535')
    text = text.replace('host = "smtp.example.org"', 'host = "smtp.example.org"\nport = 1')
    config = load_config(write(tmp_path, text))
    assert (config.imap.port, config.smtp.port) == (65535, 1)


def test_existing_ca_file_and_templates_dir_load(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    (tmp_path / "templates").mkdir()
    text = MINIMAL.replace('host = "imap.example.org"', 'host = "imap.example.org"\nca_file = "ca.pem"')
    text = text.replace("[roster]", '[mailbot]\ntemplates_dir = "templates"\n[roster]')
    config = load_config(write(tmp_path, text))
    assert config.imap.ca_file == tmp_path / "ca.pem" and config.templates_dir == tmp_path / "templates"


def test_a_relative_password_file_is_found_beside_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    (folder / "imap.pw").write_text("from-the-config-folder\n", encoding="utf-8")
    elsewhere = tmp_path / "var"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the daemon's working folder is not the config's
    config = load_config(write(folder, MINIMAL.replace('password_env = "TEST_IMAP_PW"', 'password_file = "imap.pw"')))
    assert config.imap.secret.file == folder / "imap.pw"
    assert config.imap.secret.reveal() == "from-the-config-folder"


def test_checking_a_secret_names_the_key_and_does_not_run_a_token_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEST_IMAP_PW", raising=False)
    with pytest.raises(ConfigError, match=r"^imap.password_env: environment variable TEST_IMAP_PW is not set"):
        Secret("imap.password_env", env="TEST_IMAP_PW").check()
    monkeypatch.setenv("TEST_IMAP_PW", "pw")
    Secret("imap.password_env", env="TEST_IMAP_PW").check()
    with pytest.raises(ConfigError, match=r"^smtp.password_file: cannot read secret file .*nope.pw"):
        Secret("smtp.password_file", file=tmp_path / "nope.pw").check()
    with pytest.raises(ConfigError, match=r"^imap.token_command: token command 'no-such-token-tool' not found"):
        Secret("imap.token_command", command=("no-such-token-tool", "--json")).check()
    ran = tmp_path / "ran"
    Secret("imap.token_command", command=(sys.executable, "-c", f"open({str(ran)!r}, 'w')")).check()
    assert not ran.exists()  # looked up, not run

"""What the benchmarks share: a mailbot config file for a private Dovecot (and SMTP sink), written one way."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from conftest import to_toml  # noqa: E402


def write_config(
    folder: Path,
    roster: Path,
    imap: Mapping[str, Any],
    smtp: Mapping[str, Any] | None = None,
    **sections: Mapping[str, Any],
) -> Path:
    """``folder/mailbot.toml``: the database and archive in ``folder``, CEG and the operator at ceg.example, the
    given [imap] and [smtp] keys over a local default, and any other sections as given."""
    config: dict[str, Mapping[str, Any]] = {
        "mailbot": {"database": str(folder / "mailbot.db"), "archive_dir": str(folder / "archive")},
        "roster": {"path": str(roster)},
        "imap": {"host": "127.0.0.1", **imap},
        "smtp": {"host": "127.0.0.1", "from_address": "mailbot@ceg.example", **(smtp or {})},
        "ceg": {"addresses": ["jsk@ceg.example"], "operator": "operator@ceg.example"},
        **sections,
    }
    path = folder / "mailbot.toml"
    path.write_text(to_toml(config), encoding="utf-8")
    return path


def dovecot_imap(port: int, ca_file: Path, user: str, password_env: str) -> dict[str, Any]:
    """The [imap] keys for an account on the suite's private Dovecot (implicit TLS, its own CA)."""
    return {"port": port, "security": "ssl", "username": user, "password_env": password_env, "ca_file": str(ca_file)}


def verdict(label: str, took: float, floor: float, target: float, floor_label: str, unit: str = "s") -> bool:
    """Print one measure beside its floor and the ratio's target ("ok" or "FAIL"); True when the target is met."""
    ratio = took / floor if floor else float("inf")
    ok = ratio <= target
    print(
        f"{'ok  ' if ok else 'FAIL'} {label:<36} {took:8.2f} {unit:<5} vs {floor_label:<40} {floor:7.2f} {unit:<5} "
        f"= {ratio:5.2f}x (target <= {target}x)",
        flush=True,
    )
    return ok

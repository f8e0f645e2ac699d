"""Email bytes for tests: the builder, the committed quirk fixtures, and the shapes too big to commit.

    from emails import FilePart, body_text, build_email, fixture_email, make_emails

    raw = build_email(sender="reports@cms.example", attachments=[("report.xlsx", xlsx_bytes)])
    raw = fixture_email("rfc2231_hindi_filename")        # fixtures/emails/rfc2231_hindi_filename.eml
    raw = make_emails.many_parts(100_000)                  # built on demand
    text = body_text(sent_message)                         # its text/plain body, or the test fails

``build_email`` is :func:`mailbot.mailbuilder.build_email` (see its docstring for every option).
"""

from __future__ import annotations

import importlib.util
import sys
from email.message import EmailMessage
from pathlib import Path
from types import ModuleType

from mailbot.mailbuilder import DEFAULT_DATE, FilePart, attachment_entity, build_email, multipart

ROOT = Path(__file__).resolve().parent.parent
EMAILS = ROOT / "fixtures" / "emails"

__all__ = [
    "DEFAULT_DATE",
    "EMAILS",
    "FilePart",
    "attachment_entity",
    "body_text",
    "build_email",
    "fixture_email",
    "fixture_generator",
    "fixture_names",
    "make_emails",
    "multipart",
]


def fixture_generator(name: str) -> ModuleType:
    """``fixtures/<name>.py``, loaded once: fixtures/ is a folder of scripts, not a package."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "fixtures" / f"{name}.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"fixtures/{name}.py not found")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


make_emails = fixture_generator("make_emails")


def fixture_email(name: str) -> bytes:
    """The committed fixture ``fixtures/emails/<name>.eml`` (name without the extension)."""
    return (EMAILS / f"{name}.eml").read_bytes()


def fixture_names() -> list[str]:
    """Every committed fixture, sorted."""
    return sorted(p.stem for p in EMAILS.glob("*.eml"))


def body_text(message: EmailMessage, subtype: str = "plain") -> str:
    """The text/<subtype> body of a parsed email (``policy=email.policy.default``); fails the test if it has none."""
    part = message.get_body((subtype,))
    assert part is not None, f"no text/{subtype} part in {message['Subject']!r}"
    text = part.get_content()
    assert isinstance(text, str)
    return text

"""The ledger's outcome and reason code: what CEG's Quarantine sheet and `mailbot import` decide by, on SQLite and an
in-memory mailbox (no server). The English reason is for people; rewording it must change nothing they decide."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from fakes import FakeMailbox
from sqlmodel import col
from test_end_to_end import EMAILS, NOW, ROSTER, WEEK
from test_intake_budget import good_report

from mailbot import intake
from mailbot.config import Config
from mailbot.mailbuilder import build_email
from mailbot.outcomes import Outcome, ReasonCode, automation_code, earlier_reason_code
from mailbot.queries import rejected_messages
from mailbot.service import Mailbot
from mailbot.store import Dsp, Ledger, LedgerKey, select
from mailbot.summary import quarantine_reason

STRANGER = "someone@elsewhere.example"


@pytest.fixture
def config(config_without_servers: Callable[..., Config]) -> Config:
    return config_without_servers(ROSTER, imap={"max_message_bytes": 2_000_000})


def quarantine_sheet(bot: Mailbot) -> list[tuple[str, str]]:
    """(Subject, Reason) in the summary workbook's Quarantine sheet, as CEG reads them."""
    _, xlsx = bot.summary_workbook(WEEK, NOW)
    ws = openpyxl.load_workbook(io.BytesIO(xlsx))["Quarantine"]
    return [(str(row[1] or ""), str(row[3])) for row in ws.iter_rows(min_row=3, values_only=True)]


def test_the_quarantine_sheet_says_why_each_message_went_unanswered(config: Config, tmp_path: Path) -> None:
    box = FakeMailbox()
    mail = {
        "out of office": build_email(
            sender=STRANGER, subject="out of office", headers=[("Auto-Submitted", "auto-replied")]
        ),
        "autoreply header": build_email(sender=STRANGER, subject="autoreply header", headers=[("X-Autoreply", "yes")]),
        "list": build_email(sender=STRANGER, subject="list", headers=[("List-Id", "<news.example>")]),
        "bulk": build_email(sender=STRANGER, subject="bulk", headers=[("Precedence", "bulk")]),
        "bounce": build_email(sender="mailer-daemon@elsewhere.example", subject="bounce"),
        "generated": build_email(sender=STRANGER, subject="generated", headers=[("Auto-Submitted", "auto-generated")]),
        "suppress": build_email(sender=STRANGER, subject="suppress", headers=[("X-Auto-Response-Suppress", "All")]),
        "stranger": build_email(sender=STRANGER, subject="stranger"),
        "huge": build_email(sender=STRANGER, subject="huge", body="x" * 3_000_000),
    }
    for raw in mail.values():
        box.deliver(raw)
    box.deliver((EMAILS / "missing_from.eml").read_bytes())
    box.deliver((EMAILS / "auto_reply_out_of_office.eml").read_bytes())
    bot = Mailbot(config, clock=lambda: NOW, mailbox_factory=box.connect)
    bot.poll()
    not_an_email = tmp_path / "notes.eml"
    not_an_email.write_bytes(b"just some notes, no headers at all\r\n")
    assert bot.import_file(not_an_email).code() == ReasonCode.NOT_AN_EMAIL

    rows = quarantine_sheet(bot)
    sheet = dict(rows)
    assert {k: sheet[k] for k in mail} == {
        "out of office": "Automatic reply (out of office)",
        "autoreply header": "Automatic reply (out of office)",
        "list": "Mailing list or newsletter",
        "bulk": "Bulk or mailing-list mail",
        "bounce": "Delivery failure notice (bounce)",
        "generated": "Automatic message (not answered)",
        "suppress": "Automatic message (not answered)",
        "stranger": "Address not in roster",
        "huge": "Too large to open: 3.0 MB (limit 2.0 MB)",
    }
    others = sorted(reason for subject, reason in rows if subject not in mail)
    assert others == ["Automatic reply (out of office)", "No sender address", "Not a readable email"]
    with bot.store.session() as session:
        ledger = session.exec(select(Ledger)).all()
    # Every message's code was stored as it was decided, none left to be read from the English.
    assert all(r.reason_code is not None for r in ledger)
    assert {r.reason_code for r in ledger if r.subject == "huge"} == {ReasonCode.TOO_LARGE}
    assert {r.outcome for r in ledger} == {Outcome.IGNORED, Outcome.QUARANTINED}
    bot.close()


def test_each_decision_stores_its_outcome_and_code(
    config_without_servers: Callable[..., Config], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = config_without_servers(ROSTER, mailbot={"max_attempts": 1})
    box = FakeMailbox()
    good = good_report()
    poison = build_email(sender=STRANGER, subject="poison")
    for raw in (good, good, build_email(sender="reports@cms.example", subject="nothing attached"), poison):
        box.deliver(raw)
    real = intake.record_message  # type: ignore[attr-defined]  # the name intake calls, patched below

    def explode(session: object, **kwargs: object) -> Ledger:
        if kwargs["raw"] == poison:
            raise RuntimeError("a message that breaks the pipeline")
        return real(session, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(intake, "record_message", explode)
    bot = Mailbot(config, clock=lambda: NOW, mailbox_factory=box.connect)
    bot.poll()
    with bot.store.session() as session:
        rows = session.exec(select(Ledger).order_by(col(Ledger.uid))).all()
    assert [(r.outcome, r.reason_code) for r in rows] == [
        (Outcome.ACCEPTED, ReasonCode.ROWS_ACCEPTED),
        (Outcome.DUPLICATE, ReasonCode.SAME_CONTENT),  # the same bytes under another UID
        (Outcome.REJECTED, ReasonCode.NO_ATTACHMENT),
        (Outcome.QUARANTINED, ReasonCode.FAILED_REPEATEDLY),
    ]
    # Unread (no sender or subject is known): the one message CEG must hear of.
    assert quarantine_sheet(bot) == [("", "Could not be processed (see the mailbot log)")]
    bot.close()


def test_mail_left_in_a_shared_mailbox_has_its_code(config_without_servers: Callable[..., Config]) -> None:
    config = config_without_servers(ROSTER, imap={"unrelated": "leave"})
    box = FakeMailbox()
    box.deliver(build_email(sender=STRANGER, subject="lunch?"))
    bot = Mailbot(config, clock=lambda: NOW, mailbox_factory=box.connect)
    assert bot.poll().left == 1
    with bot.store.session() as session:
        [row] = session.exec(select(Ledger)).all()
    assert (row.outcome, row.reason_code) == (Outcome.LEFT, ReasonCode.NOT_FROM_ROSTER)
    bot.close()


def test_rewording_a_reason_changes_neither_the_quarantine_sheet_nor_the_import_status() -> None:
    reworded = "Absender nicht im Verzeichnis: x@y.example"
    assert quarantine_reason(reworded, ReasonCode.UNKNOWN_SENDER) == "Address not in roster"
    assert quarantine_reason(reworded, ReasonCode.AUTO_REPLY) == "Automatic reply (out of office)"
    row = Ledger(
        account="import",
        folder="file",
        uidvalidity=0,
        uid=1,
        outcome=Outcome.IGNORED,
        reason_code=ReasonCode.NOT_AN_EMAIL,
        reason="kein Brief",
    )
    assert row.code() == ReasonCode.NOT_AN_EMAIL  # what `mailbot import` exits 1 on
    # A reason no code gives words for is shown as written, capitalised (as before codes).
    assert quarantine_reason("not read after 5 attempts; see last_error", ReasonCode.NOT_READ) == (
        "Not read after 5 attempts; see last_error"
    )


def test_the_outcome_and_code_are_stored_as_the_strings_earlier_versions_wrote(config: Config) -> None:
    box = FakeMailbox()
    box.deliver(build_email(sender=STRANGER, subject="stranger"))
    bot = Mailbot(config, clock=lambda: NOW, mailbox_factory=box.connect)
    bot.poll()
    with bot.store.session() as session:
        raw = session.connection().exec_driver_sql("select outcome, reason_code, reason from ledger").all()
    assert [tuple(r) for r in raw] == [("ignored", "unknown_sender", f"unknown sender {STRANGER}")]
    bot.close()


# Reasons exactly as earlier versions wrote them (ledger rows with no reason_code) -> the code they mean.
EARLIER = {
    "automated message: Auto-Submitted: auto-replied": ReasonCode.AUTO_REPLY,
    "automated message: X-Autoreply header": ReasonCode.AUTO_REPLY,
    "automated message: X-Autorespond header": ReasonCode.AUTO_REPLY,
    "automated message: Precedence: auto_reply": ReasonCode.AUTO_REPLY,
    "automated message: automatic reply subject: Out of office: back Monday": ReasonCode.AUTO_REPLY,
    "automated message: List-Id header": ReasonCode.MAILING_LIST,
    "automated message: List-Unsubscribe header": ReasonCode.MAILING_LIST,
    "automated message: Precedence: bulk": ReasonCode.BULK_MAIL,
    "automated message: empty Return-Path (a bounce)": ReasonCode.BOUNCE,
    "automated message: sent by mailer-daemon": ReasonCode.BOUNCE,
    "automated message: delivery or read report (multipart/report)": ReasonCode.DELIVERY_REPORT,
    "automated message: Auto-Submitted: auto-generated": ReasonCode.AUTOMATED,
    "automated message: X-Auto-Response-Suppress header": ReasonCode.AUTOMATED,
    "no sender address": ReasonCode.NO_SENDER,
    "unknown sender someone@elsewhere.example": ReasonCode.UNKNOWN_SENDER,
    "not an email: no email headers found": ReasonCode.NOT_AN_EMAIL,
    "too large: 30.0 MB (limit 25.0 MB); left unread": ReasonCode.TOO_LARGE,
    (
        "too large: 3.0 MB (limit 2.0 MB); left unread; not answered: a@b.example already had 5 replies in 24 hours"
    ): ReasonCode.TOO_LARGE,
    "failed repeatedly; see last_error": ReasonCode.FAILED_REPEATEDLY,
    "not read after 5 attempts (each failed or stopped mailbot); see last_error": ReasonCode.NOT_READ,
    'not from a roster address: left unread in the mailbox (imap.unrelated = "leave")': ReasonCode.NOT_FROM_ROSTER,
    "12 district row(s) accepted for 2026-W47": ReasonCode.ROWS_ACCEPTED,
    "nothing accepted: Row 5: the district is missing": ReasonCode.NOTHING_ACCEPTED,
    "no spreadsheet attached": ReasonCode.NO_ATTACHMENT,
    "no readable spreadsheet": ReasonCode.NO_READABLE_SPREADSHEET,
    "sender not authenticated: spf=fail": ReasonCode.SENDER_NOT_AUTHENTICATED,
    "reply from the district office (DEGS) of Agra": ReasonCode.DEGS_REPLY,
    "same content as message #4 (UID 17); already handled": ReasonCode.SAME_CONTENT,
    "same report as message #4; already in force": ReasonCode.SAME_REPORT,
}


@pytest.mark.parametrize(("reason", "code"), EARLIER.items())
def test_a_reason_stored_before_codes_still_means_its_code(reason: str, code: ReasonCode) -> None:
    assert earlier_reason_code(reason) == code
    row = Ledger(account="a", folder="INBOX", uidvalidity=1, uid=1, outcome=Outcome.IGNORED, reason=reason)
    assert row.reason_code is None and row.code() == code


def test_a_reason_no_version_wrote_has_no_code() -> None:
    assert earlier_reason_code("") is None  # a failed row, not yet decided
    assert earlier_reason_code("something new") is None
    assert automation_code("X-Something-Else header") == ReasonCode.AUTOMATED


def test_the_ledger_key_has_names() -> None:
    key = LedgerKey("ceg", "INBOX", 1000, 17)
    assert (key.account, key.folder, key.uidvalidity, key.uid) == ("ceg", "INBOX", 1000, 17)
    assert key == ("ceg", "INBOX", 1000, 17)


def test_a_report_that_may_be_forged_counts_for_no_district_old_row_or_new(config: Config) -> None:
    # Rows a DSP's address was stored on although the server did not vouch for it: with the code (this version's
    # reasons can be reworded) and without it (written before codes). Neither may make a district "invalid";
    # the DSP's genuinely refused report still does.
    bot = Mailbot(config, clock=lambda: NOW, mailbox_factory=FakeMailbox().connect)
    bot.roster()  # writes the roster's DSPs into the database
    with bot.store.session() as session:
        dsp = session.exec(select(Dsp)).first()
        assert dsp is not None and dsp.id is not None
        rows = {
            "coded forgery": (ReasonCode.SENDER_NOT_AUTHENTICATED, "the server did not vouch for this sender"),
            "old forgery": (None, "sender not authenticated: spf=fail, dkim=none, dmarc=fail"),
            "genuine": (ReasonCode.NO_READABLE_SPREADSHEET, "no readable spreadsheet attached"),
        }
        for uid, (subject, (code, reason)) in enumerate(rows.items(), start=1):
            session.add(
                Ledger(
                    account="a",
                    folder="INBOX",
                    uidvalidity=1,
                    uid=uid,
                    subject=subject,
                    dsp_id=dsp.id,
                    outcome=Outcome.REJECTED,
                    reason_code=code,
                    reason=reason,
                    received_at=NOW,
                    first_seen=NOW,
                    updated=NOW,
                )
            )
        session.commit()
        found = rejected_messages(session, ZoneInfo("Asia/Kolkata"))
    assert [ledger.subject for ledger, _ in found] == ["genuine"]
    bot.close()

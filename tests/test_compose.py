"""Every email kind renders, with the right headers, Hindi, a plain-text part, and its attachments."""

from __future__ import annotations

import email
import io
from datetime import timedelta
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import openpyxl
import pytest
from compliance_quarter import AGRA, CALENDAR, CEG, CMS, FARRUKHABAD, SREI, facts, ist, roster

from mailbot.compliance import Notification, due_notifications
from mailbot.compose import Composer, IngestReply
from mailbot.summary import build_workbook
from mailbot.weeks import Week
from mailbot.workbook import Problem

W47 = Week(2026, 47)
SUN, MON, TUE, WED = (W47.monday + timedelta(days=d) for d in (6, 7, 8, 9))
NOW = ist(MON, 10, 5)
FROM = "jsk.reports@ceg.up.gov.in"
MSGID = "<20261123100500.1@ceg.up.gov.in>"
ORIGINAL_ID = "<CAF=abc123@mail.gmail.com>"
WARNING = Problem(
    "warning",
    "opened_exceeds_target",
    "Rural JSKs opened (130) exceed the target (120).",
    "स्थापित ग्रामीण जन सेवा केन्द्र (130) लक्ष्य (120) से अधिक हैं।",
    "report.xlsx",
    "Sheet1",
    "E7",
)
ERROR = Problem(
    "error",
    "negative_count",
    "Urban JSKs opened is negative (-4).",
    "स्थापित शहरी जन सेवा केन्द्र की संख्या ऋणात्मक (-4) है।",
    "report.xlsx",
    "Sheet1",
    "G9",
)


def reparse(msg: EmailMessage) -> EmailMessage:
    parsed = email.message_from_bytes(msg.as_bytes(), policy=default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def text_of(msg: EmailMessage, subtype: str = "plain") -> str:
    part = msg.get_body(preferencelist=(subtype,))
    assert part is not None, f"no text/{subtype} part"
    content = part.get_content()
    assert isinstance(content, str)
    return content


def attachments(msg: EmailMessage) -> dict[str, bytes]:
    out = {}
    for part in msg.iter_attachments():
        assert isinstance(part, EmailMessage)
        name = part.get_filename()
        payload = part.get_payload(decode=True)
        assert name is not None and isinstance(payload, bytes)
        out[name] = payload
    return out


@pytest.fixture
def composer() -> Composer:
    return Composer(None, FROM, "CEG JSK mailbot")


def notes_at(now_day: object, hour: int, kind: str) -> list[Notification]:
    notes = due_notifications(roster(), facts(), CALENDAR, ist(now_day, hour), CEG)  # type: ignore[arg-type]
    return [n for n in notes if n.kind == kind and n.week == W47]


def reply(problems: list[Problem], accepted: tuple[int, ...], subject: str = "JSK report W47") -> IngestReply:
    return IngestReply(("reports@cms.example",), CMS, subject, ORIGINAL_ID, W47, accepted, problems)


def test_acknowledgement(composer: Composer) -> None:
    msg = reparse(composer.ingest_reply(reply([WARNING], (AGRA, 119)), now=NOW, message_id=MSGID))
    assert msg["From"] == "CEG JSK mailbot <jsk.reports@ceg.up.gov.in>"
    assert msg["To"] == "reports@cms.example"
    assert msg["Subject"].startswith("Received: JSK weekly report, week 2026-W47 (CMS Computers) / प्राप्त:")
    assert "जन सेवा केन्द्र साप्ताहिक रिपोर्ट" in msg["Subject"]  # spaces between Hindi words survive
    assert "JSK report W47" in msg["Subject"]
    assert msg["Date"] == "Mon, 23 Nov 2026 10:05:00 +0530"
    assert msg["Message-ID"] == MSGID
    assert msg["In-Reply-To"] == ORIGINAL_ID
    assert msg["References"] == ORIGINAL_ID
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["X-Auto-Response-Suppress"] == "All"
    text = text_of(msg)
    assert "Agra / आगरा" in text
    assert "Aligarh / अलीगढ़" in text
    assert "[file report.xlsx, sheet Sheet1, cell E7] Rural JSKs opened (130) exceed the target (120)." in text
    assert "[फ़ाइल report.xlsx, शीट Sheet1, सेल E7]" in text
    assert '"JSK report W47"' in text
    assert "आगरा" in text_of(msg, "html")


def test_rejection_lists_every_problem_in_both_languages(composer: Composer) -> None:
    msg = reparse(composer.ingest_reply(reply([ERROR, WARNING], ()), now=NOW, message_id=MSGID))
    assert msg["Subject"].startswith("Not accepted: JSK weekly report, week 2026-W47 (CMS Computers)")
    text = text_of(msg)
    assert "1. [file report.xlsx, sheet Sheet1, cell G9] Urban JSKs opened is negative (-4)." in text
    assert "ऋणात्मक" in text
    assert "cell E7" in text
    assert "What to do" in text and "क्या करें" in text
    assert msg["In-Reply-To"] == ORIGINAL_ID


def test_rejection_can_attach_the_template(composer: Composer) -> None:
    rejected = IngestReply(("jsk@srei.example",), SREI, "report", "", W47, (), [ERROR], (FARRUKHABAD, 142))
    msg = reparse(composer.ingest_reply(rejected, now=NOW, message_id=MSGID))
    assert "In-Reply-To" not in msg  # the original had no Message-ID
    assert list(attachments(msg)) == ["JSK-weekly-report-2026-W47-Srei-Sahaj.xlsx"]


def test_partial(composer: Composer) -> None:
    msg = reparse(composer.ingest_reply(reply([ERROR, WARNING], (AGRA,)), now=NOW, message_id=MSGID))
    assert msg["Subject"].startswith("Partly accepted:")
    text = text_of(msg)
    assert "Agra / आगरा" in text
    assert "could NOT be accepted" in text
    assert "cell G9" in text and "cell E7" in text


def test_html_autoescapes_a_malicious_subject(composer: Composer) -> None:
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    msg = reparse(composer.ingest_reply(reply([], (AGRA,), subject=evil), now=NOW, message_id=MSGID))
    html = text_of(msg, "html")
    assert "<script>" not in html
    assert "<img" not in html
    assert "&lt;script&gt;" in html
    assert evil in text_of(msg)  # the plain text quotes it as it was


def test_reminder_attaches_the_prefilled_template(composer: Composer) -> None:
    srei = next(n for n in notes_at(SUN, 12, "reminder") if n.dsp == SREI)
    msg = reparse(composer.notification(srei, now=ist(SUN, 12), message_id=MSGID))
    assert msg["To"] == "jsk@srei.example"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert "Reminder: JSK weekly report for week 2026-W47" in msg["Subject"]
    assert "अनुस्मारक" in msg["Subject"]
    text = text_of(msg)
    assert "Farrukhabad / फर्रुखाबाद" in text
    assert "Monday 23 November 2026, 12:00 IST" in text
    assert "सोमवार, 23.11.2026, 12:00 बजे" in text
    files = attachments(msg)
    assert list(files) == ["JSK-weekly-report-2026-W47-Srei-Sahaj.xlsx"]
    book = openpyxl.load_workbook(io.BytesIO(files["JSK-weekly-report-2026-W47-Srei-Sahaj.xlsx"]))
    cells = [str(c.value) for row in book.active.iter_rows() for c in row if c.value is not None]
    assert any("Farrukhabad" in c for c in cells)
    assert not any("Fatehpur" in c for c in cells)  # already reported: not pending


def test_overdue(composer: Composer) -> None:
    note = next(n for n in notes_at(MON, 13, "overdue") if n.dsp == SREI)
    msg = reparse(composer.notification(note, now=ist(MON, 13), message_id=MSGID))
    assert msg["Subject"].startswith("Overdue: JSK weekly report for week 2026-W47 not received (Srei Sahaj)")
    text = text_of(msg)
    assert "Farrukhabad" in text
    assert "2026-W40, 2026-W41" in text  # every week missing
    assert "विलम्बित" in msg["Subject"]


def test_escalation_to_degs_cc_ceg(composer: Composer) -> None:
    note = next(n for n in notes_at(WED, 12, "escalation") if n.lgd_codes == (AGRA,))
    msg = reparse(composer.notification(note, now=ist(WED, 12), message_id=MSGID))
    assert msg["To"] == "degs118@up.gov.in"
    assert msg["Cc"] == "jsk@ceg.up.gov.in, monitor@ceg.up.gov.in"
    assert (
        msg["Subject"]
        == "Not reported: Agra, JSK weekly report week 2026-W47 / रिपोर्ट अप्राप्त: जनपद आगरा, सप्ताह 2026-W47"
    )
    text = text_of(msg)
    assert "Shreetron" in text
    assert "2026-W44, 2026-W45, 2026-W46, 2026-W47" in text
    assert "Shreetron" in text_of(msg, "html")


def test_escalation_without_a_degs_address_tells_ceg(composer: Composer) -> None:
    note = next(n for n in notes_at(WED, 12, "escalation") if n.lgd_codes == (FARRUKHABAD,))
    msg = reparse(composer.notification(note, now=ist(WED, 12), message_id=MSGID))
    assert msg["To"] == "jsk@ceg.up.gov.in, monitor@ceg.up.gov.in"
    assert "Cc" not in msg
    assert "no DEGS address" in text_of(msg)


def test_action_alert(composer: Composer) -> None:
    alerts = {n.lgd_codes[0]: n for n in notes_at(WED, 12, "action_alert")}
    missing = reparse(composer.notification(alerts[AGRA], now=ist(WED, 12), message_id=MSGID))
    assert missing["Subject"].startswith("Action needed: Agra, JSK reports missing (week 2026-W47)")
    text = text_of(missing)
    assert "Shreetron: 4 weeks in a row" in text
    assert "terms of the contract" in text and "अनुबन्ध" in text
    lagging = reparse(composer.notification(alerts[121], now=ist(WED, 12), message_id=MSGID))
    assert "progress lagging" in lagging["Subject"]
    assert "centres opened: 57 of a target of 120 (47.5%); gap 63" in text_of(lagging)


def test_summary_html_and_workbook(composer: Composer) -> None:
    note = notes_at(TUE, 10, "summary")[0]
    xlsx = build_workbook(note.context["report"])
    msg = reparse(composer.notification(note, now=ist(TUE, 10), message_id=MSGID, summary_xlsx=xlsx, quarantined=3))
    assert msg["Subject"].startswith("JSK weekly compliance, week 2026-W47: 97.4% reported, 97.4% on time")
    assert msg["To"] == "jsk@ceg.up.gov.in, monitor@ceg.up.gov.in"
    html = text_of(msg, "html")
    assert 'name="viewport"' in html
    assert "#ffc7ce" in html  # missing in red
    assert "Farrukhabad" in html and "फर्रुखाबाद" in html
    text = text_of(msg)
    assert "74 of 76 reports received (97.4%)" in text
    assert "Unanswered messages (unknown senders, quarantined) / अज्ञात प्रेषक: 3" in text
    assert attachments(msg) == {"JSK-weekly-summary-2026-W47.xlsx": xlsx}


def test_summary_needs_its_workbook(composer: Composer) -> None:
    note = notes_at(TUE, 10, "summary")[0]
    with pytest.raises(ValueError, match="workbook"):
        composer.notification(note, now=ist(TUE, 10), message_id=MSGID)


def test_auth_failure(composer: Composer) -> None:
    msg = reparse(
        composer.auth_failure(
            ["ops@ceg.up.gov.in"], "IMAP login refused for jsk@nic.in at imap.mgovcloud.in", now=NOW, message_id=MSGID
        )
    )
    assert msg["Auto-Submitted"] == "auto-generated"
    assert "IMAP login refused for jsk@nic.in" in text_of(msg)
    assert msg.get_body(preferencelist=("html",)) is None  # no HTML template for this kind: text only


def test_a_message_id_is_made_on_the_sender_domain(composer: Composer) -> None:
    msg = composer.ingest_reply(reply([], (AGRA,)), now=NOW)
    assert msg["Message-ID"].endswith("@ceg.up.gov.in>")


def test_ceg_override_replaces_one_template_and_keeps_the_rest(tmp_path: Path) -> None:
    (tmp_path / "reminder.subject.txt").write_text(
        "JSK report due, {{ week }}: {{ districts|length }} district(s)\n", encoding="utf-8"
    )
    composer = Composer(tmp_path, FROM, "CEG")
    srei = next(n for n in notes_at(SUN, 12, "reminder") if n.dsp == SREI)
    msg = reparse(composer.notification(srei, now=ist(SUN, 12), message_id=MSGID))
    assert msg["Subject"] == "JSK report due, 2026-W47: 1 district(s)"
    assert "Farrukhabad / फर्रुखाबाद" in text_of(msg)  # built-in body
    assert msg["From"] == "CEG <jsk.reports@ceg.up.gov.in>"


def test_naive_now_is_refused(composer: Composer) -> None:
    with pytest.raises(ValueError, match="aware"):
        composer.ingest_reply(reply([], (AGRA,)), now=NOW.replace(tzinfo=None), message_id=MSGID)

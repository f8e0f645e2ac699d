"""Every email kind renders, with the right headers, Hindi, a plain-text part, and its attachments."""

from __future__ import annotations

import email
import io
import re
from dataclasses import replace
from datetime import date, timedelta
from email.message import EmailMessage
from email.policy import default
from html import unescape
from pathlib import Path

import openpyxl
import pytest
from compliance_quarter import (
    AGRA,
    ALIGARH,
    CALENDAR,
    CEG,
    CMS,
    FARRUKHABAD,
    SHREE,
    SREI,
    context_of,
    facts,
    ist,
    roster,
)
from PIL import Image as PILImage

from mailbot.compliance import Notification, ReportFact, due_notifications, evaluate
from mailbot.compose import Composer, InForce, IngestReply
from mailbot.districts import by_code
from mailbot.ladder import (
    ActionContext,
    EscalationContext,
    Outstanding,
    OverdueContext,
    ReminderContext,
    SummaryContext,
    merge_moment,
)
from mailbot.summary import DistrictReply, QuarantineItem, build_workbook
from mailbot.weeks import Week
from mailbot.wording import plural, week_dates, weeks_dates, when_text
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


def notes_at(now_day: date, hour: int, kind: str) -> list[Notification]:
    notes = due_notifications(roster(), facts(), CALENDAR, ist(now_day, hour), CEG)
    return [n for n in notes if n.kind == kind and n.week == W47]


def reply(problems: list[Problem], accepted: tuple[int, ...], subject: str = "JSK report W47") -> IngestReply:
    return IngestReply(("reports@cms.example",), CMS, subject, ORIGINAL_ID, W47, accepted, problems)


def test_acknowledgement(composer: Composer) -> None:
    msg = reparse(composer.ingest_reply(reply([WARNING], (AGRA, 119)), now=NOW, message_id=MSGID))
    assert msg["From"] == "CEG JSK mailbot <jsk.reports@ceg.up.gov.in>"
    assert msg["To"] == "reports@cms.example"
    assert msg["Subject"] == (
        "Received: JSK weekly report, week 16–22 Nov 2026 (2026-W47) / "
        "प्राप्त: जन सेवा केन्द्र साप्ताहिक रिपोर्ट, सप्ताह 16–22 नवम्बर 2026 — CMS Computers"
    )  # spaces between Hindi words survive; the original subject is not repeated (In-Reply-To threads it)
    assert msg["Date"] == "Mon, 23 Nov 2026 10:05:00 +0530"
    assert msg["Message-ID"] == MSGID
    assert msg["In-Reply-To"] == ORIGINAL_ID
    assert msg["References"] == ORIGINAL_ID
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["X-Auto-Response-Suppress"] == "All"
    text = text_of(msg)
    assert "Agra / आगरा" in text
    assert "Aligarh / अलीगढ़" in text
    # The file and sheet said once; each problem names its cell, English then Hindi on the next line.
    assert (
        "In file report.xlsx, sheet Sheet1 (फ़ाइल/शीट):\n"
        "1. Cell E7: Rural JSKs opened (130) exceed the target (120).\n"
        "   स्थापित ग्रामीण जन सेवा केन्द्र (130) लक्ष्य (120) से अधिक हैं।\n"
    ) in text
    assert text.count("report.xlsx") == 1
    assert '"JSK report W47"' in text
    assert "recorded for 2 districts:" in text and "उपरोक्त 2 जनपदों के लिए" in text
    assert "still due" not in text  # nothing outstanding: no section
    html = text_of(msg, "html")
    assert "आगरा" in html
    assert "16–22 Nov 2026" in html and "16–22 नवम्बर 2026" in html
    assert ">E7</b>: Rural JSKs opened" in html and html.count("Sheet1") == 1


def test_a_message_id_that_is_not_one_well_formed_id_is_not_copied(composer: Composer) -> None:
    for hostile in ("=?utf-8?q?x=0D=0AReply-To:_v@evil.example?=", "<a b@x.example>", "<a@x.example> <b@y.example>"):
        bad = IngestReply(("reports@cms.example",), CMS, "s", hostile, W47, (AGRA,), [])
        msg = reparse(composer.ingest_reply(bad, now=NOW, message_id=MSGID))
        assert msg["In-Reply-To"] is None and msg["References"] is None and msg["Reply-To"] is None


def test_a_receipt_says_which_figures_are_in_force(composer: Composer) -> None:
    figures = {"rural_target": 120, "rural_opened": 77, "urban_target": 20, "urban_opened": 5}
    later = IngestReply(
        ("reports@cms.example",),
        CMS,
        "s",
        ORIGINAL_ID,
        W47,
        (AGRA,),
        [],
        in_force=(InForce(AGRA, figures, False, NOW + timedelta(hours=1)),),
    )
    text = text_of(reparse(composer.ingest_reply(later, now=NOW, message_id=MSGID)))
    assert "Figures now in force for week 16–22 Nov 2026" in text
    assert "Agra / आगरा: rural opened 77 of 120, urban opened 5 of 20" in text
    assert "from a report received later (Mon 23 Nov 2026, 11:05 IST), which stays in force" in text


def test_rejection_lists_every_problem_in_both_languages(composer: Composer) -> None:
    msg = reparse(composer.ingest_reply(reply([ERROR, WARNING], ()), now=NOW, message_id=MSGID))
    assert msg["Subject"].startswith("Not accepted: JSK weekly report, week 16–22 Nov 2026 (2026-W47) / अस्वीकृत:")
    assert "सप्ताह 16–22 नवम्बर 2026" in msg["Subject"]
    text = text_of(msg)
    assert "1. Cell G9: Urban JSKs opened is negative (-4).\n   स्थापित शहरी" in text
    assert text.count("In file report.xlsx, sheet Sheet1") == 1  # both problems under one heading
    assert "correct each point above in the Excel file (each point names its cell)" in text
    assert "is attached" not in text  # no template in this reply
    assert "ऋणात्मक" in text
    assert "2. Cell E7: " in text
    assert "What to do" in text and "क्या करें" in text
    assert msg["In-Reply-To"] == ORIGINAL_ID


def test_rejection_can_attach_the_template(composer: Composer) -> None:
    rejected = IngestReply(("jsk@srei.example",), SREI, "report", "", W47, (), [ERROR], (FARRUKHABAD, 142))
    msg = reparse(composer.ingest_reply(rejected, now=NOW, message_id=MSGID))
    assert "In-Reply-To" not in msg  # the original had no Message-ID
    assert list(attachments(msg)) == ["JSK-weekly-report-2026-W47-Srei-Sahaj.xlsx"]
    assert "A copy pre-filled with your districts for week 16–22 Nov 2026 is attached." in text_of(msg)
    assert "भरी हुई प्रति संलग्न है" in text_of(msg)
    assert "pre-filled with your districts for week 16–22 Nov 2026 is attached" in text_of(msg, "html")


def test_rejection_without_a_file_says_attach_it_not_correct_cells(composer: Composer) -> None:
    nothing = Problem("error", "no_attachment", "No Excel workbook was attached.", "कोई एक्सेल फ़ाइल संलग्न नहीं थी।")
    rejected = IngestReply(("jsk@srei.example",), SREI, "report", "", W47, (), [nothing], (FARRUKHABAD,))
    msg = reparse(composer.ingest_reply(rejected, now=NOW, message_id=MSGID))
    for text in (text_of(msg), text_of(msg, "html")):
        assert "attach the report (.xlsx) and reply to this email" in text
        assert "रिपोर्ट (.xlsx) संलग्न कर इसी ई-मेल का उत्तर दें" in text
        assert "names its cell" not in text and "दिए गए सेल" not in text


def test_partial(composer: Composer) -> None:
    msg = reparse(composer.ingest_reply(reply([ERROR, WARNING], (AGRA,)), now=NOW, message_id=MSGID))
    assert msg["Subject"].startswith("Partly accepted: JSK weekly report, week 16–22 Nov 2026 (2026-W47) / ")
    assert "आंशिक रूप से स्वीकृत: जन सेवा केन्द्र साप्ताहिक रिपोर्ट, सप्ताह 16–22 नवम्बर 2026" in msg["Subject"]
    text = text_of(msg)
    assert "Agra / आगरा" in text
    assert "recorded for 1 district:" in text and "1 जनपद के लिए" in text
    assert "could NOT be accepted" in text
    assert "Cell G9: " in text and "Cell E7: " in text
    html = text_of(msg, "html")
    assert "16–22 Nov 2026" in html
    assert "सप्ताह <b>16–22 नवम्बर 2026</b> की साप्ताहिक रिपोर्ट 1 जनपद के लिए दर्ज कर ली गई है" in html


def test_receipt_names_the_districts_still_due_for_the_week(composer: Composer) -> None:
    due = IngestReply(("reports@cms.example",), CMS, "JSK", ORIGINAL_ID, W47, (AGRA,), [ERROR], still_due=(119, 121))
    msg = reparse(composer.ingest_reply(due, now=NOW, message_id=MSGID))
    text = text_of(msg)
    assert "Not in this file, still due for week 16–22 Nov 2026: Aligarh, Ambedkar Nagar." in text
    assert "इस फ़ाइल में नहीं, अभी भी अपेक्षित (सप्ताह 16–22 नवम्बर 2026): अलीगढ़, अम्बेडकर नगर।" in text
    html = text_of(msg, "html")
    assert "Aligarh, Ambedkar Nagar" in html and "अलीगढ़, अम्बेडकर नगर" in html


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
    assert msg["Subject"] == (
        "Reminder: JSK weekly report, week 16–22 Nov 2026 (2026-W47), due Mon 23 Nov, 12:00 IST / "
        "अनुस्मारक: जन सेवा केन्द्र साप्ताहिक रिपोर्ट, सप्ताह 16–22 नवम्बर 2026, "
        "अन्तिम तिथि सोमवार, 23 नवम्बर, दोपहर 12:00 बजे — Srei Sahaj"
    )
    text = text_of(msg)
    assert "Farrukhabad / फर्रुखाबाद" in text
    assert "Monday 23 November 2026, 12:00 IST" in text
    assert "सोमवार, 23 नवम्बर 2026, दोपहर 12:00 बजे" in text
    assert "for 1 district:" in text and "1 जनपद की रिपोर्ट" in text
    files = attachments(msg)
    assert list(files) == ["JSK-weekly-report-2026-W47-Srei-Sahaj.xlsx"]
    book = openpyxl.load_workbook(io.BytesIO(files["JSK-weekly-report-2026-W47-Srei-Sahaj.xlsx"]))
    cells = [str(c.value) for row in book.active.iter_rows() for c in row if c.value is not None]
    assert any("Farrukhabad" in c for c in cells)
    assert not any("Fatehpur" in c for c in cells)  # already reported: not pending


def visible(html: str) -> str:
    """What a reader sees of an HTML part: tags dropped, entities read, whitespace collapsed."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def test_reminder_html_holds_what_the_dsp_must_act_on(composer: Composer) -> None:
    cms = next(n for n in notes_at(SUN, 12, "reminder") if n.dsp == CMS)
    msg = reparse(composer.notification(cms, now=ist(SUN, 12), message_id=MSGID))
    seen = visible(text_of(msg, "html"))
    assert "week 16–22 Nov 2026 is due by Monday 23 November 2026, 12:00 IST" in seen
    assert "सप्ताह 16–22 नवम्बर 2026 की जन सेवा केन्द्र साप्ताहिक रिपोर्ट सोमवार, 23 नवम्बर 2026, दोपहर 12:00 बजे" in seen
    assert "not yet been received for 25 districts" in seen and "25 जनपदों की रिपोर्ट अभी तक प्राप्त नहीं" in seen
    due = [by_code(o.lgd_code) for o in context_of(cms, ReminderContext).districts]
    assert len(due) == 25
    for d in due:  # every district still due, in both scripts, with its code (as the text part lists them)
        assert f"{d.name_en} / {d.name_hi} LGD {d.lgd_code}" in seen, d.name_en
    assert "pre-filled with these districts is attached" in seen
    assert "इन जनपदों के नाम से भरी हुई एक्सेल फ़ाइल संलग्न है" in seen
    assert list(attachments(msg)) == ["JSK-weekly-report-2026-W47-CMS-Computers.xlsx"]
    # A district missing earlier weeks too says which, in both languages.
    srei = next(n for n in notes_at(SUN, 12, "reminder") if n.dsp == SREI)
    seen = visible(text_of(reparse(composer.notification(srei, now=ist(SUN, 12), message_id=MSGID)), "html"))
    assert "Farrukhabad / फर्रुखाबाद" in seen and "LGD 141" in seen
    assert "Weeks missing (7): 28 Sep – 4 Oct; 5–11 Oct;" in seen
    assert "अप्राप्त सप्ताह (7): 28 सितम्बर – 4 अक्टूबर;" in seen
    assert "Fatehpur" not in seen  # already reported: not due


def test_overdue(composer: Composer) -> None:
    note = next(n for n in notes_at(MON, 13, "overdue") if n.dsp == SREI)
    msg = reparse(composer.notification(note, now=ist(MON, 13), message_id=MSGID))
    assert msg["Subject"] == (
        "Overdue: JSK weekly report for week 16–22 Nov 2026 (2026-W47) not received / "
        "अन्तिम तिथि निकल गई: सप्ताह 16–22 नवम्बर 2026 की जन सेवा केन्द्र साप्ताहिक रिपोर्ट अप्राप्त — Srei Sahaj"
    )
    text = text_of(msg)
    assert "- not received: 1 district (Farrukhabad)" in text
    assert "weeks missing (8): 28 Sep – 4 Oct; 5–11 Oct;" in text  # every week missing, the year said once
    assert "अप्राप्त सप्ताह (8): 28 सितम्बर – 4 अक्टूबर; 5–11 अक्टूबर;" in text
    assert list(attachments(msg)) == ["JSK-weekly-report-2026-W47-Srei-Sahaj.xlsx"]  # pre-filled, to send now


def test_overdue_has_one_line_per_cause_with_the_refusal_reason(composer: Composer) -> None:
    note = next(n for n in notes_at(MON, 13, "overdue") if n.dsp == SREI)
    lgds = (150, 141, 152, 160, 148)
    out = tuple(Outstanding(SREI, lgd, "invalid" if lgd in (152, 160) else "missing", (W47,), 1) for lgd in lgds)
    note = replace(note, lgd_codes=lgds, context=replace(context_of(note, OverdueContext), districts=out))
    msg = reparse(
        composer.notification(
            note, now=ist(MON, 13), message_id=MSGID, rejections={SREI: "Sheet 'Report' has no 'District' column"}
        )
    )
    text = text_of(msg)
    lines = [line for line in text.splitlines() if line.startswith("- ")]
    names = {lgd: by_code(lgd).name_en for lgd in lgds}
    missing = ", ".join(sorted(names[c] for c in (150, 141, 148)))
    refused = ", ".join(sorted(names[c] for c in (152, 160)))
    assert lines[:2] == [
        f"- not received: 3 districts ({missing})",
        f"- refused: 2 districts, because: Sheet 'Report' has no 'District' column ({refused})",
    ]
    assert len(lines) == 4  # and the same two in Hindi
    assert "अस्वीकृत: 2 जनपद, कारण: Sheet 'Report' has no 'District' column" in text
    assert "weeks missing" not in text  # one week only: the first sentence says which
    book = openpyxl.load_workbook(io.BytesIO(attachments(msg)["JSK-weekly-report-2026-W47-Srei-Sahaj.xlsx"]))
    filled = {row[0] for row in book.active.iter_rows(min_row=6, values_only=True) if row[0]}
    assert filled == set(names.values())


def test_escalation_to_degs_answers_go_to_ceg(composer: Composer) -> None:
    note = next(n for n in notes_at(WED, 12, "escalation") if n.lgd_codes == (AGRA,))
    msg = reparse(composer.notification(note, now=ist(WED, 12), message_id=MSGID))
    assert msg["To"] == "degs118@up.gov.in"
    assert "Cc" not in msg  # CEG's weekly summary lists the district: no copy per district
    assert msg["Reply-To"] == "jsk@ceg.up.gov.in, monitor@ceg.up.gov.in"
    assert "reply to this email with what was done: your reply goes to CEG" in text_of(msg)
    assert "की गई कार्यवाही की सूचना इसी ई-मेल का उत्तर देकर दें" in text_of(msg)
    assert "copy" not in text_of(msg) and "प्रति" not in text_of(msg)
    assert msg["Subject"] == (
        "Not reported: Agra, JSK weekly report, week 16–22 Nov 2026 (2026-W47) / "
        "रिपोर्ट अप्राप्त: जनपद आगरा, जन सेवा केन्द्र साप्ताहिक रिपोर्ट, सप्ताह 16–22 नवम्बर 2026"
    )
    for text in (text_of(msg), text_of(msg, "html")):
        assert "Shreetron</b> has not sent the report." in text or "- Shreetron has not sent the report." in text
        assert "Weeks missing (4): 26 Oct – 1 Nov; 2–8 Nov; 9–15 Nov; 16–22 Nov 2026" in text
        assert "Missing" not in text  # no status words
        assert "जिला ई-गवर्नेंस सोसाइटी (डी.ई.जी.एस.), आगरा" in text
        assert "कृपया डी.एस.पी. से रिपोर्ट भिजवाने हेतु अनुवर्ती कार्यवाही करें।" in text
        assert "अनुसरण" not in text and "जनपद ई-गवर्नेंस" not in text


def test_escalation_for_a_rejected_report_says_so_in_a_sentence(composer: Composer) -> None:
    note = next(n for n in notes_at(WED, 12, "escalation") if n.lgd_codes == (AGRA,))
    rejected = Outstanding(CMS, AGRA, "invalid", (W47,), 1)
    note = replace(note, context=replace(context_of(note, EscalationContext), dsps=(rejected,)))
    msg = reparse(composer.notification(note, now=ist(WED, 12), message_id=MSGID))
    text = text_of(msg)
    assert "- CMS Computers sent a report but it was not accepted" in text
    assert "- CMS Computers ने रिपोर्ट भेजी, परन्तु वह स्वीकार नहीं की जा सकी" in text
    assert "Invalid" not in text and "अमान्य" not in text
    assert "Weeks missing" not in text and "अप्राप्त सप्ताह" not in text  # one week only: the intro says which
    # The DEGS follows up with the DSP: it gets the DSP's contact addresses.
    assert "Contact: reports@cms.example, ops@cms.example" in text
    assert "सम्पर्क: reports@cms.example, ops@cms.example" in text
    assert '<a href="mailto:ops@cms.example">ops@cms.example</a>' in text_of(msg, "html")


def test_escalation_without_a_degs_address_tells_ceg(composer: Composer) -> None:
    note = next(n for n in notes_at(WED, 12, "escalation") if n.lgd_codes == (FARRUKHABAD,))
    msg = reparse(composer.notification(note, now=ist(WED, 12), message_id=MSGID))
    assert msg["To"] == "jsk@ceg.up.gov.in, monitor@ceg.up.gov.in"
    assert "Cc" not in msg
    assert "no DEGS address" in text_of(msg)


def test_action_alert(composer: Composer) -> None:
    alerts = {n.lgd_codes[0]: n for n in notes_at(WED, 12, "action_alert")}
    missing = reparse(composer.notification(alerts[AGRA], now=ist(WED, 12), message_id=MSGID))
    assert missing["Subject"] == (
        "Action needed: Agra, JSK reports missing, week 16–22 Nov 2026 (2026-W47) / "
        "कार्यवाही अपेक्षित: जनपद आगरा, जन सेवा केन्द्र रिपोर्ट अप्राप्त, सप्ताह 16–22 नवम्बर 2026"
    )
    text = text_of(missing)
    assert "Shreetron: 4 weeks in a row" in text
    assert "please take action against the DSP Shreetron as per the terms of the contract" in text
    assert "डी.एस.पी. Shreetron के विरुद्ध कार्यवाही करें" in text
    assert "<b>Shreetron</b> as per the terms of the contract" in text_of(missing, "html")
    lagging = reparse(composer.notification(alerts[121], now=ist(WED, 12), message_id=MSGID))
    assert "JSK progress lagging, week 16–22 Nov 2026" in lagging["Subject"]
    assert "जन सेवा केन्द्र प्रगति लक्ष्य से पीछे, सप्ताह 16–22 नवम्बर 2026" in lagging["Subject"]
    text = text_of(lagging)
    assert "centres opened: 57 of a target of 120 (47.5%); gap 63" in text
    assert "against the DSP CMS Computers" in text
    hindi = text[text.index("सेवा में") :]  # the Hindi half says all the English half does
    assert "इस सप्ताह वृद्धि: +1" in hindi
    assert "बी2सी सेवाएँ देने वाले क्रियाशील केन्द्रों का अनुपात: 20.0%" in hindi
    assert "की गई कार्यवाही की सूचना इसी ई-मेल का उत्तर देकर दें: आपका उत्तर सी.ई.जी. को जाएगा" in hindi
    assert "reply to this email with the action taken: your reply goes to CEG" in text
    assert lagging["Reply-To"] == "jsk@ceg.up.gov.in, monitor@ceg.up.gov.in"
    assert "डी.एस.पी. CMS Computers के विरुद्ध" in hindi


def test_escalation_carrying_the_action_alert_has_both_sections(composer: Composer) -> None:
    both = merge_moment(notes_at(WED, 12, "escalation") + notes_at(WED, 12, "action_alert"))
    note = next(n for n in both if n.lgd_codes == (AGRA,) and n.recipient == "degs118@up.gov.in")
    msg = reparse(composer.notification(note, now=ist(WED, 12), message_id=MSGID))
    assert msg["X-Mailbot-Kind"] == "escalation"
    assert msg["Subject"].startswith("Action needed: Agra, JSK reports missing, week 16–22 Nov 2026")
    assert msg["Reply-To"] == "jsk@ceg.up.gov.in, monitor@ceg.up.gov.in"
    for text in (text_of(msg), text_of(msg, "html")):
        # The escalation's part, then the alert's, in English and in Hindi.
        assert text.index("Weeks missing (4)") < text.index("4 weeks in a row")
        assert "take action against the DSP" in text and "Shreetron" in text
        assert text.index("अप्राप्त सप्ताह (4)") < text.index("लगातार 4 सप्ताह")
        assert "Shreetron</b> as per the terms" in text or "the DSP Shreetron as per the terms" in text
    assert text_of(msg).index("4 weeks in a row") < text_of(msg).index("सेवा में")  # English, then Hindi
    assert text_of(msg).count("reply to this email") == 1  # asked once, in the action section


def test_action_alert_acts_only_against_the_dsp_that_stalled(composer: Composer) -> None:
    note = next(n for n in notes_at(WED, 12, "action_alert") if n.lgd_codes == (AGRA,))
    alert = context_of(note, ActionContext)
    stalled = replace(
        alert.progress, lag_reasons=("no_progress",), stalled_weeks=3, dsps=(CMS, "Shreetron"), stalled_dsps=(CMS,)
    )
    note = replace(note, context=replace(alert, progress=stalled, dsps=()))
    text = text_of(reparse(composer.notification(note, now=ist(WED, 12), message_id=MSGID)))
    assert "please take action against the DSP CMS Computers as per the terms of the contract" in text
    assert "Shreetron" not in text[text.index("take action") : text.index("सेवा में")]


def test_action_alert_says_when_the_increase_is_not_known(composer: Composer) -> None:
    note = next(n for n in notes_at(WED, 12, "action_alert") if n.lgd_codes == (121,))
    alert = context_of(note, ActionContext)
    first_report = replace(alert.progress, increase=None, functional=None)
    note = replace(note, context=replace(alert, progress=first_report))
    msg = reparse(composer.notification(note, now=ist(WED, 12), message_id=MSGID))
    for text in (text_of(msg), text_of(msg, "html")):
        assert "ncrease this week: not known (no report for the previous week)" in text
        assert "इस सप्ताह वृद्धि: ज्ञात नहीं (पिछले सप्ताह की रिपोर्ट नहीं)" in text
        assert ": -" not in text and ": None" not in text
        assert "last report received" not in text


def test_action_alert_labels_figures_carried_from_an_earlier_report(composer: Composer) -> None:
    note = next(n for n in notes_at(WED, 12, "action_alert") if n.lgd_codes == (121,))
    alert = context_of(note, ActionContext)
    stale = replace(alert.progress, increase=None, figures_week=Week(2026, 45))
    note = replace(note, context=replace(alert, progress=stale))
    msg = reparse(composer.notification(note, now=ist(WED, 12), message_id=MSGID))
    text, html = text_of(msg), text_of(msg, "html")
    assert "these figures are from the last report received, for week 2–8 Nov 2026" in text
    assert "From the last report received, for week 2–8 Nov 2026" in html
    for part in (text, html):
        assert "ncrease this week: not known (no report this week)" in part
        assert "सप्ताह 2–8 नवम्बर 2026 की अन्तिम प्राप्त रिपोर्ट से" in part


def summary_email(composer: Composer, **kwargs: object) -> EmailMessage:
    note = notes_at(TUE, 10, "summary")[0]
    xlsx = build_workbook(context_of(note, SummaryContext).report, (), 0.5)
    return reparse(composer.notification(note, now=ist(TUE, 10), message_id=MSGID, summary_xlsx=xlsx, **kwargs))  # type: ignore[arg-type]  # each test passes the keyword it varies


def test_summary_subject_leads_with_the_figures(composer: Composer) -> None:
    subject = summary_email(composer)["Subject"]
    # A phone's inbox line shows about 40 characters: the figures are inside them.
    assert subject.startswith("JSK 16–22 Nov: 74/76 reported (97%), 74 on time")
    assert subject.index("(97%)") < 40
    assert subject.endswith("(2026-W47) / 74/76 प्राप्त, 74 समय पर")


def test_summary_first_screen_has_the_figures_change_trouble_and_map(composer: Composer) -> None:
    unanswered = [
        QuarantineItem(
            "district.coordinator@gmail.example",
            "Weekly JSK report Agra",
            ist(MON, 10, 30),
            "unknown sender district.coordinator@gmail.example",
        )
    ]
    msg = summary_email(composer, unanswered=unanswered)
    text, html = text_of(msg), text_of(msg, "html")
    assert text.startswith(
        "JSK weekly reports, week 16–22 Nov 2026 / सप्ताह 16–22 नवम्बर 2026\n\n"
        "Reported / प्राप्त: 74 of 76 (97%), ±0 pts vs 9–15 Nov\n"
        "On time / समय पर: 74 (97%), ±0 pts vs 9–15 Nov\n"
    )
    # The DSPs in trouble, grouped by what went wrong, each with its districts.
    assert (
        "Missing / अप्राप्त: 2 districts\n- Shreetron: Agra (4 weeks in a row)\n"
        "- Srei Sahaj: Farrukhabad (8 weeks in a row)\n"
    ) in text
    assert "Districts on the map / मानचित्र में जनपद: 73 on time (समय पर), 0 late (विलम्ब से), 2 missing" in text
    for label in ("73</b> On time", "समय पर", "2</b> Missing", "अप्राप्त", "(diagonal stripes)"):
        assert label in html, label  # the legend: colour, words in both languages, the count
    # Phone order: figures, trouble, map; the unanswered mail and the per-district list only after the map.
    order = [
        html.index(s)
        for s in ("74/76", "Missing</b> / ", "cid:", "By DSP", "Not received, by district", "Unanswered messages: 1")
    ]
    assert order == sorted(order)
    assert "district.coordinator@gmail.example" in text and "Address not in roster" in html
    # Lagging districts name their DSP.
    assert "- Aligarh / अलीगढ़ (CMS Computers): 76 of 120 (63.3%), gap 44" in text
    # Per DSP, the weeks so far (8 here, 12 at most), oldest first; Shreetron owed nothing before W44.
    assert "- Shreetron: 0/1 this week (0%); weeks: · · · · 0 0 0 0\n" in text
    assert html.count('title="16–22 Nov: ') == 4  # the newest week's cell for each of the 4 DSPs


def test_summary_map_is_an_inline_png_the_html_shows(composer: Composer) -> None:
    msg = summary_email(composer)
    html_part = msg.get_body(preferencelist=("html",))
    assert html_part is not None
    related = next(p for p in msg.walk() if p.get_content_type() == "multipart/related")
    parts = list(related.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/html", "image/png"]
    image = parts[1]
    cid = image["Content-ID"].strip("<>")
    assert cid == "statemap.202647@ceg.up.gov.in"
    assert f'src="cid:{cid}"' in text_of(msg, "html")
    png = image.get_payload(decode=True)
    assert isinstance(png, bytes) and png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) < 60_000
    with PILImage.open(io.BytesIO(png)) as picture:
        picture.verify()
        assert picture.size == (640, 623)
    assert 'width="380" height="370"' in text_of(msg, "html")  # the size Outlook draws it at (it ignores CSS)
    # The map is not an attachment: only the workbook is.
    assert list(attachments(msg)) == ["JSK-weekly-summary-2026-W47.xlsx"]


def test_summary_says_why_a_report_was_refused(composer: Composer) -> None:
    note = notes_at(TUE, 10, "summary")[0]
    refused = [*facts(), ReportFact(SHREE, AGRA, W47, ist(MON, 9), False, {})]
    report = evaluate(roster(), refused, CALENDAR, ist(TUE, 10), W47)
    note = replace(note, context=replace(context_of(note, SummaryContext), build=lambda: report))
    msg = reparse(
        composer.notification(
            note,
            now=ist(TUE, 10),
            message_id=MSGID,
            summary_xlsx=b"x",
            rejections={SHREE: "The file could not be read (damaged or incomplete)"},
        )
    )
    text = text_of(msg)
    assert (
        "Invalid / अमान्य: 1 district\n- Shreetron: Agra — the file could not be read (damaged or incomplete)"
    ) in text
    assert "Missing / अप्राप्त: 1 district\n- Srei Sahaj: Farrukhabad" in text


def test_summary_html_and_workbook(composer: Composer) -> None:
    note = notes_at(TUE, 10, "summary")[0]
    xlsx = build_workbook(context_of(note, SummaryContext).report, (), 0.5)
    unanswered = [
        QuarantineItem(
            "district.coordinator@gmail.example",
            "Weekly JSK report Agra",
            ist(MON, 10, 30),
            "unknown sender district.coordinator@gmail.example",
        ),
        *(
            QuarantineItem(
                f"robot{i}@vendor.example",
                "Out of office",
                ist(MON, 11),
                "automated message: Auto-Submitted: auto-replied",
            )
            for i in range(11)
        ),
    ]
    msg = reparse(
        composer.notification(note, now=ist(TUE, 10), message_id=MSGID, summary_xlsx=xlsx, unanswered=unanswered)
    )
    assert msg["To"] == "jsk@ceg.up.gov.in, monitor@ceg.up.gov.in"
    html = text_of(msg, "html")
    assert 'name="viewport"' in html
    assert "#ffc7ce" in html  # missing in red
    assert "Farrukhabad" in html and "फर्रुखाबाद" in html
    text = text_of(msg)
    assert "Unanswered messages (unknown senders, quarantined) / अनुत्तरित संदेश (अज्ञात प्रेषक, अलग रखे गए संदेश): 12" in text
    # The first ten, in words, so CEG sees a DSP writing from a new address without opening the workbook.
    assert (
        '- district.coordinator@gmail.example: "Weekly JSK report Agra", Mon 23 Nov 2026, 10:30 IST: '
        "Address not in roster"
    ) in text
    assert text.count("Automatic reply (out of office)") == 9 and "... and 2 more" in text
    assert "district.coordinator@gmail.example" in html and "and 2 more" in html
    assert "- 16–22 Nov 2026: 97.4%" in text  # the trend by week, as dates
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


def test_weeks_and_moments_read_as_dates_in_english_and_hindi() -> None:
    assert week_dates(W47) == "16–22 Nov 2026"
    assert week_dates("2026-W47", "hi") == "16–22 नवम्बर 2026"
    assert week_dates(Week(2026, 49)) == "30 Nov – 6 Dec 2026"
    assert week_dates(Week(2026, 53), "hi") == "28 दिसम्बर 2026 – 3 जनवरी 2027"
    assert weeks_dates(["2026-W51", "2026-W52", "2026-W53", "2027-W01"]) == (
        "14–20 Dec; 21–27 Dec 2026; 28 Dec 2026 – 3 Jan 2027; 4–10 Jan 2027"
    )
    deadline = ist(MON, 12)
    assert when_text(deadline) == "Monday 23 November 2026, 12:00 IST"
    assert when_text(deadline, short=True) == "Mon 23 Nov 2026, 12:00 IST"
    assert when_text(deadline, "hi") == "सोमवार, 23 नवम्बर 2026, दोपहर 12:00 बजे"
    assert when_text(ist(MON, 17, 30), "hi") == "सोमवार, 23 नवम्बर 2026, शाम 5:30 बजे"
    assert when_text(ist(MON, 9), "hi", year=False) == "सोमवार, 23 नवम्बर, सुबह 9:00 बजे"
    assert (plural(1, "district", "districts"), plural(14, "जनपद", "जनपदों")) == ("1 district", "14 जनपदों")


def every_email(composer: Composer) -> list[EmailMessage]:
    replies = [
        reply([WARNING], (AGRA, 119)),
        reply([ERROR], (AGRA,)),
        IngestReply(("jsk@srei.example",), SREI, "report", "", W47, (), [ERROR], (FARRUKHABAD,)),
    ]
    out = [composer.ingest_reply(r, now=NOW, message_id=MSGID) for r in replies]
    for day, hour, kind in (
        (SUN, 12, "reminder"),
        (MON, 13, "overdue"),
        (WED, 12, "escalation"),
        (WED, 12, "action_alert"),
    ):
        out.extend(composer.notification(n, now=ist(day, hour), message_id=MSGID) for n in notes_at(day, hour, kind))
    note = notes_at(TUE, 10, "summary")[0]
    stranger = QuarantineItem("a@b.example", "hello", None, "unknown sender a@b.example")
    out.append(
        composer.notification(note, now=ist(TUE, 10), message_id=MSGID, summary_xlsx=b"x", unanswered=[stranger])
    )
    return [reparse(m) for m in out]


def test_no_email_shows_codes_placeholders_or_half_translated_words(composer: Composer) -> None:
    for msg in every_email(composer):
        subject = msg["Subject"]
        assert "Re:" not in subject
        assert subject.count("2026-W47") == 1, subject  # the ISO week once, in brackets, beside its dates
        html = msg.get_body(preferencelist=("html",))
        for text in (text_of(msg), *([text_of(msg, "html")] if html is not None else [])):
            assert "2026-W" not in text, subject  # bodies give dates only
            for wrong in ("None", "वर्कबुक", "फाइल", "(दों)", "district(s)", "जनपद ई-गवर्नेंस", "CEG mailbot द्वारा"):
                assert wrong not in text, (wrong, subject)
            assert "जन सेवा केन्द्र रिपोर्ट प्रणाली द्वारा भेजा गया स्वचालित संदेश है।" in text


def test_summary_gives_the_change_against_last_week(composer: Composer) -> None:
    # In W42 CMS sent its 25 reports late: on time fell from 74 to 49 of 75 (98.7% -> 65.3%).
    note = notes_at(TUE, 10, "summary")[0]
    w42 = Week(2026, 42)
    report = evaluate(roster(), facts(), CALENDAR, ist(TUE, 10), w42)
    note = replace(note, week=w42, context=replace(context_of(note, SummaryContext), build=lambda: report))
    msg = reparse(composer.notification(note, now=ist(TUE, 10), message_id=MSGID, summary_xlsx=b"x"))
    text, html = text_of(msg), text_of(msg, "html")
    assert "Reported / प्राप्त: 74 of 75 (99%), ±0 pts vs 5–11 Oct\n" in text
    assert "On time / समय पर: 49 (65%), -33 pts vs 5–11 Oct\n" in text
    assert "-33 pts vs 5–11 Oct" in html
    assert "Late / विलम्ब से: 25 districts\n- CMS Computers: all 25 of its districts\n" in text
    assert msg["Subject"].startswith("JSK 12–18 Oct: 74/75 reported (99%), 49 on time")


def test_summary_counts_withheld_replies_only_when_there_are_some(composer: Composer) -> None:
    quiet = summary_email(composer)
    assert "withheld" not in text_of(quiet) and "withheld" not in text_of(quiet, "html")
    msg = summary_email(composer, withheld=3)
    for part in (text_of(msg), text_of(msg, "html")):
        assert "3 rejections were not sent because the address had its daily limit of replies already" in part


def test_summary_lists_district_office_replies_before_the_strangers(composer: Composer) -> None:
    reply = DistrictReply(
        (AGRA,),
        "degs.agra@up.example",
        "Re: Agra: report not received",
        ist(WED, 11),
        "escalation about Agra, week 2026-W47: Agra: report not received",
    )
    msg = summary_email(composer, district_replies=[reply])
    text = text_of(msg)
    assert "Replies from district offices / जनपद कार्यालयों (DEGS) के उत्तर: 1 (read them: mailbot does not answer" in text
    assert (
        '- Agra / आगरा — degs.agra@up.example: "Re: Agra: report not received"' in text
        and "; answers the escalation about Agra, week 2026-W47" in text
    )
    assert text.index("Replies from district offices") < text.index("Unanswered messages")


def test_receipt_tells_refused_districts_from_absent_ones(composer: Composer) -> None:
    refused = replace(ERROR, lgd_code=119)  # Aligarh's row is in the file, with a bad figure
    due = IngestReply(("reports@cms.example",), CMS, "JSK", ORIGINAL_ID, W47, (AGRA,), [refused], still_due=(119, 121))
    text = text_of(reparse(composer.ingest_reply(due, now=NOW, message_id=MSGID)))
    assert "In this file but refused (see the problems), still due for week 16–22 Nov 2026: Aligarh." in text
    assert "Not in this file, still due for week 16–22 Nov 2026: Ambedkar Nagar." in text
    assert "इस फ़ाइल में हैं परन्तु अस्वीकृत (त्रुटियाँ देखें), अभी भी अपेक्षित (सप्ताह 16–22 नवम्बर 2026): अलीगढ़।" in text


def test_a_late_receipt_says_it_counts_as_late(composer: Composer) -> None:
    due = ist(MON, 12)
    on_time = IngestReply(("reports@cms.example",), CMS, "JSK", ORIGINAL_ID, W47, (AGRA,), [], deadline=due)
    assert "late" not in text_of(reparse(composer.ingest_reply(on_time, now=NOW, message_id=MSGID)))
    late = replace(on_time, late=True, cc=("md@cms.example",))
    msg = reparse(composer.ingest_reply(late, now=NOW, message_id=MSGID))
    for part in (text_of(msg), text_of(msg, "html")):
        assert "Received after the deadline" in part and "(Monday 23 November 2026, 12:00 IST)" in part
        assert "counts as late" in part
        assert "विलम्ब से प्राप्त मानी जाएगी" in part
    assert msg["Cc"] == "md@cms.example"


def test_a_dsp_is_warned_when_its_district_offices_are_asked_to_act(composer: Composer) -> None:
    warnings = {n.dsp: n for n in notes_at(WED, 12, "dsp_warning")}
    cms = reparse(composer.notification(warnings[CMS], now=ist(WED, 12), message_id=MSGID))
    assert cms["To"] == "reports@cms.example, ops@cms.example"
    assert cms["Subject"].startswith("Warning: the DEGS of 2 districts asked to act against CMS Computers, week 16–22")
    text = text_of(cms)
    assert "- Aligarh: no increase in centres opened for 3 weeks" in text
    assert "- Ambedkar Nagar: centres opened 57 of a target of 120 (47.5%)" in text
    assert "- अम्बेडकर नगर: स्थापित केन्द्र 57, लक्ष्य 120 (47.5%)" in text
    shree = text_of(reparse(composer.notification(warnings[SHREE], now=ist(WED, 12), message_id=MSGID)))
    assert "- Agra: no valid report for 4 weeks in a row" in shree
    assert "- आगरा: लगातार 4 सप्ताह से वैध रिपोर्ट अप्राप्त" in shree


def test_ceg_gets_one_email_listing_every_district_without_a_degs_address(composer: Composer) -> None:
    # Agra and Aligarh lose their DEGS address too: three districts due to CEG at Wednesday's check.
    r = roster()
    degs = {lgd: a for lgd, a in r.degs.items() if lgd not in (AGRA, ALIGARH)}
    due = due_notifications(replace(r, degs=degs), facts(), CALENDAR, ist(WED, 12), CEG)
    pending = merge_moment(due)
    to_ceg = [n for n in pending if n.recipient == CEG[0] and n.kind != "summary" and n.week == W47]
    assert [(n.kind, n.key) for n in to_ceg] == [("escalation", f"escalation/2026-W47/{AGRA}/{CEG[0]}")]
    [note] = to_ceg
    assert note.lgd_codes == (AGRA, ALIGARH, FARRUKHABAD)
    # Nothing dropped: the other districts' keys are carried, so none is ever sent on its own.
    assert set(note.carries) == {
        f"{kind}/2026-W47/{lgd}/{CEG[0]}"
        for kind, lgd in (
            ("action_alert", AGRA),
            ("escalation", FARRUKHABAD),
            ("action_alert", FARRUKHABAD),
            ("action_alert", ALIGARH),
        )
    }
    assert {n.key for n in pending} | {k for n in pending for k in n.carries} == {n.key for n in due}
    msg = reparse(composer.notification(note, now=ist(WED, 12), message_id=MSGID))
    assert msg["X-Mailbot-Kind"] == "escalation" and msg["To"] == ", ".join(CEG)
    assert msg["Subject"] == (
        "No DEGS address: 3 districts not reported or needing action, week 16–22 Nov 2026 (2026-W47) / "
        "डी.ई.जी.एस. का पता नहीं: 3 जनपद रिपोर्ट अप्राप्त अथवा कार्यवाही अपेक्षित, सप्ताह 16–22 नवम्बर 2026"
    )
    text, html = text_of(msg), text_of(msg, "html")
    assert "The roster has no DEGS address for 3 districts: Agra, Aligarh and Farrukhabad." in text
    assert (
        text.index("== Agra (LGD 118) ==")
        < text.index("== Aligarh (LGD 119) ==")
        < text.index("== Farrukhabad (LGD 141) ==")
        < text.index("सेवा में, सी.ई.जी.")
        < text.index("== आगरा (एल.जी.डी. 118) ==")
    )
    assert "- Srei Sahaj has not sent the report." in text and "- Shreetron ने रिपोर्ट नहीं भेजी है।" in text
    assert "JSK progress in the district lags the target" in text  # Aligarh: an action alert alone
    assert text.count("ACTION NEEDED") == 3
    assert "Agra, Aligarh and Farrukhabad" in html and html.count("Action needed / ") == 3
    # One district alone keeps its own email, as before (addressed as to its DEGS, with the note to CEG).
    single = [
        n
        for n in merge_moment(due_notifications(r, facts(), CALENDAR, ist(WED, 12), CEG))
        if n.recipient == CEG[0] and n.kind == "escalation" and n.week == W47
    ]
    assert [n.lgd_codes for n in single] == [(FARRUKHABAD,)]


def test_overdue_notice_and_warning_have_an_html_part_english_then_hindi(composer: Composer) -> None:
    srei = next(n for n in notes_at(MON, 13, "overdue") if n.dsp == SREI)
    html = text_of(reparse(composer.notification(srei, now=ist(MON, 13), message_id=MSGID)), "html")
    assert "<b>Not received: 1 district</b><br>\nFarrukhabad<br>" in html
    assert html.index("Weeks missing (8): 28 Sep – 4 Oct; 5–11 Oct;") < html.index("अप्राप्त सप्ताह (8): 28 सितम्बर")
    assert "<b>An Excel file pre-filled with this district is attached</b>" in html
    assert html.index("No valid report has been received") < html.index("की वैध रिपोर्ट प्राप्त नहीं हुई है")
    # The refusal's reason, with its own colour, as in the plain text.
    shree = next(n for n in notes_at(MON, 13, "overdue") if n.dsp == SHREE)
    refused = (Outstanding(SHREE, AGRA, "invalid", (W47,), 1),)
    shree = replace(shree, context=replace(context_of(shree, OverdueContext), districts=refused))
    html = text_of(
        reparse(
            composer.notification(
                shree, now=ist(MON, 13), message_id=MSGID, rejections={SHREE: "The file could not be read"}
            )
        ),
        "html",
    )
    assert "<b>Refused: 1 district</b>, because: The file could not be read<br>" in html
    assert "The full reasons for a refused report were emailed in reply to it." in html

    warnings = {n.dsp: n for n in notes_at(WED, 12, "dsp_warning")}
    html = text_of(reparse(composer.notification(warnings[CMS], now=ist(WED, 12), message_id=MSGID)), "html")
    assert "<b>take action against CMS Computers</b>" in html
    assert (
        '<b>Aligarh</b> / <span lang="hi"><b>अलीगढ़</b></span><br>\nNo increase in centres opened for 3 weeks<br>'
    ) in html
    assert (
        'Centres opened 57 of a target of 120 (47.5%)<br>\n<span lang="hi">स्थापित केन्द्र 57, लक्ष्य 120 (47.5%)'
    ) in html
    html = text_of(reparse(composer.notification(warnings[SHREE], now=ist(WED, 12), message_id=MSGID)), "html")
    assert 'No valid report for 4 weeks in a row<br>\n<span lang="hi">लगातार 4 सप्ताह से वैध रिपोर्ट अप्राप्त' in html

"""parse_message on every quirk a report mailbox meets: what a CEG operator would check for each."""

from __future__ import annotations

import functools
import hashlib
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from emails import FilePart, build_email, fixture_email, fixture_names, make_emails

from mailbot.message import (
    MAX_DEPTH,
    MAX_HEADER_FIELD,
    MAX_PARTS,
    MessageError,
    msg_id,
    parse_message,
    spreadsheet_kind,
)

IST = timezone(timedelta(hours=5, minutes=30))
SENT = datetime(2026, 11, 23, 10, 30, tzinfo=IST)
REPORT = "JSK_weekly_report_2026-W47.xlsx"
XLSX = make_emails.report_xlsx()

# name -> (sender, [(filename, kind)], automated reason contains, defect contains)
EXPECTED: dict[str, tuple[str, list[tuple[str, str]], str | None, str | None]] = {
    "plain_report_xlsx": ("reports@cms.example", [(REPORT, "xlsx")], None, None),
    "rfc2047_hindi_filename": (
        "reports@cms.example",
        [("साप्ताहिक रिपोर्ट जनपद आगरा.xlsx", "xlsx")],
        None,
        None,
    ),
    "rfc2231_hindi_filename": (
        "reports@cms.example",
        [("जन सेवा केन्द्र साप्ताहिक प्रगति रिपोर्ट जनपद आगरा अलीगढ़ अम्बेडकर नगर.xlsx", "xlsx")],
        None,
        None,
    ),
    "rfc2231_unknown_charset": ("reports@cms.example", [("रिपोर्ट.xlsx", "xlsx")], None, None),
    "attachment_without_filename": ("reports@cms.example", [("attachment-1.xlsx", "xlsx")], None, None),
    "xlsx_without_name_or_disposition": ("reports@cms.example", [("attachment-1.xlsx", "xlsx")], None, None),
    "apple_mail_inline_attachment": ("reports@cms.example", [(REPORT, "xlsx")], None, None),
    "forwarded_report_rfc822": ("reports@cms.example", [(REPORT, "xlsx")], None, None),
    "forwarded_with_spoofed_inner_from": ("ramesh.k@gmail.example", [(REPORT, "xlsx")], None, None),
    "outlook_winmail_dat": ("reports@cms.example", [(REPORT, "xlsx")], None, None),
    "multipart_without_boundary": ("reports@cms.example", [], None, "no boundary"),
    "missing_closing_boundary": ("reports@cms.example", [(REPORT, "xlsx")], None, "closing MIME boundary"),
    "corrupt_base64": ("reports@cms.example", [], None, f"'{REPORT}' is damaged"),
    "missing_message_id": ("reports@cms.example", [(REPORT, "xlsx")], None, None),
    "missing_from": ("", [(REPORT, "xlsx")], None, None),
    "two_from_headers": ("reports@cms.example", [(REPORT, "xlsx")], None, "more than one From header"),
    "display_name_spoofing": ("x@evil.example", [(REPORT, "xlsx")], None, None),
    "forged_authentication_results": ("reports@cms.example", [(REPORT, "xlsx")], None, None),
    "authenticated_report": ("reports@cms.example", [(REPORT, "xlsx")], None, None),
    "reply_to_other_domain": ("reports@cms.example", [(REPORT, "xlsx")], None, None),
    "reply_to_same_domain": ("reports@cms.example", [(REPORT, "xlsx")], None, None),
    "malformed_date": ("reports@cms.example", [(REPORT, "xlsx")], None, None),
    "auto_reply_out_of_office": ("reports@cms.example", [], "Auto-Submitted", None),
    "bounce_dsn": ("mailer-daemon@mx.ceg.example", [(REPORT, "xlsx")], "Return-Path", None),
    "mailing_list_bulk": ("news@vendor.example", [], "List-Id", None),
    "no_attachment": ("reports@cms.example", [], None, None),
    "xls_legacy_attachment": ("reports@cms.example", [("JSK_weekly_report_2026-W47.xls", "xls")], None, None),
    "password_protected_xlsx": ("reports@cms.example", [(REPORT, "encrypted")], None, None),
    "csv_named_xlsx": ("reports@cms.example", [(REPORT, "not_spreadsheet")], None, None),
    "two_workbooks": (
        "reports@cms.example",
        [("report_agra.xlsx", "xlsx"), ("report_aligarh.xlsx", "xlsx")],
        None,
        None,
    ),
    "deep_nesting_60": ("reports@cms.example", [(REPORT, "xlsx")], None, f"more than {MAX_DEPTH} levels"),
    "deep_nesting_2000": ("reports@cms.example", [], None, "nested too deeply"),
}


def test_every_committed_fixture_is_covered_and_up_to_date() -> None:
    assert sorted(EXPECTED) == fixture_names() == sorted(make_emails.FIXTURES)
    stale = [n for n in fixture_names() if make_emails.fixture(n) != fixture_email(n)]
    assert not stale, f"run `.venv/bin/python fixtures/make_emails.py` to regenerate: {stale}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture(name: str) -> None:
    sender, attachments, automated, defect = EXPECTED[name]
    parsed = parse_message(fixture_email(name))

    assert parsed.sender == sender
    assert [(a.filename, a.kind) for a in parsed.attachments] == attachments
    for attachment in parsed.attachments:
        assert attachment.sha256 == hashlib.sha256(attachment.content).hexdigest()
    if automated is None:
        assert parsed.automated is None
    else:
        assert parsed.automated is not None
        assert automated in parsed.automated
    if defect is None:
        assert parsed.defects == ()
    else:
        assert any(defect in d for d in parsed.defects), parsed.defects


def test_plain_report_reads_like_the_email_client_shows_it() -> None:
    parsed = parse_message(fixture_email("plain_report_xlsx"))
    assert parsed.message_id == "<plain_report_xlsx@fixtures.invalid>"
    assert parsed.sender_name == "CMS Computers"
    assert parsed.reply_to == "reports@cms.example"
    assert parsed.subject == "Weekly JSK report, week ending 22/11/2026"
    assert parsed.date == SENT
    assert parsed.attachments[0].content == XLSX


def test_hindi_subject_is_decoded() -> None:
    parsed = parse_message(fixture_email("rfc2047_hindi_filename"))
    assert parsed.subject == "साप्ताहिक जन सेवा केन्द्र रिपोर्ट, सप्ताह समाप्ति 22/11/2026"


def test_missing_or_malformed_headers_read_as_empty() -> None:
    assert parse_message(fixture_email("missing_message_id")).message_id == ""
    assert parse_message(fixture_email("malformed_date")).date is None
    no_from = parse_message(fixture_email("missing_from"))
    assert (no_from.sender, no_from.sender_name, no_from.reply_to) == ("", "", "")


def test_display_name_is_never_the_sender() -> None:
    parsed = parse_message(fixture_email("display_name_spoofing"))
    assert parsed.sender == "x@evil.example"
    assert parsed.sender_name == "reports@cms.example"
    assert parsed.reply_to == "x@evil.example"


@pytest.mark.parametrize(
    ("name", "reply_to"),
    [("reply_to_same_domain", "mis@cms.example"), ("reply_to_other_domain", "reports@cms.example")],
)
def test_reply_to_is_used_only_within_the_senders_domain(name: str, reply_to: str) -> None:
    assert parse_message(fixture_email(name)).reply_to == reply_to


def test_forwarded_report_is_authorised_on_the_outer_sender() -> None:
    parsed = parse_message(fixture_email("forwarded_with_spoofed_inner_from"))
    assert parsed.sender == "ramesh.k@gmail.example"
    assert parsed.subject.startswith("Fwd: ")
    assert parsed.attachments[0].content == XLSX


def test_two_workbooks_keep_their_own_bytes() -> None:
    first, second = parse_message(fixture_email("two_workbooks")).attachments
    assert first.sha256 != second.sha256
    assert first.content == make_emails.report_xlsx(lgd_codes=[118])


def test_100000_parts_keep_the_first_workbook() -> None:
    # How long this takes is measured in benchmarks/bench.py, not asserted here.
    parsed = parse_message(make_emails.many_parts(100_000))
    assert [(a.filename, a.kind) for a in parsed.attachments] == [(REPORT, "xlsx")]
    assert parsed.defects == (f"the message has more than {MAX_PARTS} parts; the rest were not read",)


def test_600_parts_stop_the_walk_at_the_limit() -> None:
    parsed = parse_message(make_emails.many_parts(600))
    assert [a.kind for a in parsed.attachments] == ["xlsx"]
    assert any(f"more than {MAX_PARTS} parts" in d for d in parsed.defects)


def test_2000_deep_nesting_keeps_its_headers() -> None:
    parsed = parse_message(fixture_email("deep_nesting_2000"))
    assert parsed.subject == "2000 levels deep"
    assert parsed.date == SENT


@pytest.mark.parametrize(
    "raw",
    [b"", b"   \r\n", bytes(range(256)) * 4, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"],
    ids=["empty", "blank", "binary", "png"],
)
def test_not_an_email_at_all(raw: bytes) -> None:
    with pytest.raises(MessageError):
        parse_message(raw)


# --- automated messages -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "sender", "subject"),
    [
        ({"Auto-Submitted": "auto-generated"}, "reports@cms.example", "Weekly JSK report"),
        ({"X-Auto-Response-Suppress": "All"}, "reports@cms.example", "Weekly JSK report"),
        ({"Precedence": "junk"}, "reports@cms.example", "Weekly JSK report"),
        ({"X-Autoreply": "yes"}, "reports@cms.example", "Weekly JSK report"),
        ({"List-Unsubscribe": "<mailto:u@list.example>"}, "reports@cms.example", "Weekly JSK report"),
        ({"Return-Path": "<>"}, "reports@cms.example", "Weekly JSK report"),
        ({}, "postmaster@cms.example", "Weekly JSK report"),
        ({}, "MAILER-DAEMON@cms.example", "Weekly JSK report"),
        ({}, "reports@cms.example", "Out of Office: Weekly JSK report"),
        ({}, "reports@cms.example", "Undeliverable: Weekly JSK report"),
        ({}, "reports@cms.example", "Delivery Status Notification (Failure)"),
    ],
)
def test_automated_messages_are_never_answered(headers: dict[str, str], sender: str, subject: str) -> None:
    raw = build_email(sender=sender, subject=subject, headers=headers, attachments=[(REPORT, XLSX)])
    assert parse_message(raw).automated


def test_auto_submitted_no_is_a_person() -> None:
    raw = build_email(headers={"Auto-Submitted": "no"}, subject="Re: out of office plans")
    assert parse_message(raw).automated is None


# --- attachments by bytes -----------------------------------------------------------------------------------


def test_workbook_labelled_as_text_is_still_found() -> None:
    part = FilePart(None, XLSX, disposition=None, content_type="text/plain")
    parsed = parse_message(build_email(attachments=[part]))
    assert [(a.filename, a.kind) for a in parsed.attachments] == [("attachment-1.xlsx", "xlsx")]


def test_pdf_and_images_are_ignored_but_a_misnamed_one_is_reported() -> None:
    raw = build_email(attachments=[("scan.pdf", b"%PDF-1.4"), ("photo.jpg", b"\xff\xd8"), ("r.ods", b"x")])
    assert [(a.filename, a.kind) for a in parse_message(raw).attachments] == [("r.ods", "not_spreadsheet")]


def test_path_in_filename_is_dropped() -> None:
    raw = build_email(attachments=[("..\\..\\Windows\\report.xlsx", XLSX)])
    assert parse_message(raw).attachments[0].filename == "report.xlsx"


def test_corrupt_base64_in_an_unnamed_part_names_the_part() -> None:
    raw = build_email(attachments=[FilePart(None, XLSX)]).replace(b"UEsDB", b"UE$$B", 1)
    parsed = parse_message(raw)
    assert parsed.attachments == ()
    assert any("part 3 (application/octet-stream)" in d and "base64" in d for d in parsed.defects)


def test_unreadable_winmail_dat_asks_for_a_normal_attachment() -> None:
    tnef = FilePart("winmail.dat", b"\x78\x9f\x3e\x22\x01\x00\x02", content_type="application/ms-tnef")
    parsed = parse_message(build_email(attachments=[tnef]))
    assert parsed.attachments == ()
    assert "Outlook winmail.dat: please send the file as a normal attachment" in parsed.defects


def test_winmail_dat_with_hindi_free_title_and_two_files() -> None:
    tnef = make_emails.winmail_dat([("notes.txt", b"hello"), ("Agra.xls", make_emails.legacy_xls())])
    parsed = parse_message(build_email(attachments=[FilePart("winmail.dat", tnef)]))
    assert [(a.filename, a.kind) for a in parsed.attachments] == [("Agra.xls", "xls")]


def test_spreadsheet_kind() -> None:
    assert spreadsheet_kind(XLSX) == "xlsx"
    assert spreadsheet_kind(XLSX[: len(XLSX) // 2]) == "xlsx"  # truncated: the workbook reader says so
    assert spreadsheet_kind(make_emails.legacy_xls()) == "xls"
    assert spreadsheet_kind(make_emails.encrypted_xlsx("secret")) == "encrypted"
    assert spreadsheet_kind(b"District,Target\r\nAgra,1\r\n") is None
    assert spreadsheet_kind(b"PK\x03\x04not a zip") is None
    assert spreadsheet_kind(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600) is None
    assert spreadsheet_kind(b"") is None


def test_unknown_zone_date_is_read_as_utc() -> None:
    parsed = parse_message(build_email(date="Mon, 23 Nov 2026 05:00:00 -0000"))
    assert parsed.date == datetime(2026, 11, 23, 5, 0, tzinfo=UTC)


# --- the builder ----------------------------------------------------------------------------------------


def test_builder_is_deterministic_and_round_trips_hindi_in_both_encodings() -> None:
    names = ["रिपोर्ट आगरा.xlsx", "साप्ताहिक प्रगति रिपोर्ट जनपद आगरा अलीगढ़ अम्बेडकर नगर.xlsx"]
    parts = [FilePart(n, XLSX, filename_encoding=e) for n in names for e in ("rfc2047", "rfc2231")]
    build = functools.partial(build_email, sender="सीएमएस <reports@cms.example>", subject="रिपोर्ट", attachments=parts)
    raw = build()
    assert raw == build()
    parsed = parse_message(raw)
    assert [a.filename for a in parsed.attachments] == [n for n in names for _ in range(2)]
    assert (parsed.sender_name, parsed.subject) == ("सीएमएस", "रिपोर्ट")


def test_builder_omits_date_and_message_id_on_request() -> None:
    raw = build_email(date=None, message_id="")
    assert b"\r\nDate:" not in raw
    assert b"Message-ID" not in raw
    assert parse_message(raw).date is None


def test_builder_inline_and_forwarded_parts() -> None:
    inner = build_email(sender="jsk.agra@cms.example", attachments=[FilePart(REPORT, XLSX, disposition="inline")])
    raw = build_email(sender="reports@cms.example", forwarded=[inner])
    assert b"Content-Disposition: inline" in raw
    assert b"Content-Type: message/rfc822" in raw
    assert parse_message(raw).attachments[0].content == XLSX


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("<CA+x=y_z@mail.gmail.com>", "<CA+x=y_z@mail.gmail.com>"),
        (" <a.b@[10.0.0.1]> ", "<a.b@[10.0.0.1]>"),
        ("=?utf-8?q?x=0D=0AReply-To:_v@evil.example?=", ""),
        ("<=?utf-8?q?x=0D=0A?=@evil.example>", ""),
        ("<a b@x.example>", ""),
        ("<a\rb@x.example>", ""),
        ("<a@b@x.example>", ""),
        ("a@x.example", ""),
        ("<" + "a" * 300 + "@x.example>", ""),
    ],
)
def test_only_a_well_formed_message_id_is_kept_for_our_in_reply_to(value: str, kept: str) -> None:
    assert msg_id(value) == kept


def test_a_huge_encoded_word_subject_is_cut_before_decoding() -> None:
    word = "=?utf-8?q?a?= "
    raw = (
        b"From: reports@cms.example\r\nSubject: "
        + (word * (2_200_000 // len(word))).encode()
        + b"\r\nMessage-ID: <a@cms.example>\r\n\r\nbody\r\n"
    )
    started = time.process_time()
    parsed = parse_message(raw)
    assert time.process_time() - started < 2  # 50 s of CPU before the cap
    assert parsed.sender == "reports@cms.example" and parsed.message_id == "<a@cms.example>"
    assert len(parsed.subject) < MAX_HEADER_FIELD
    assert any("Subject header is over 16 KB" in d for d in parsed.defects)


def test_a_bare_cr_in_a_header_does_not_lose_the_attachment() -> None:
    raw = fixture_email("reply_to_same_domain").replace(b"\r\nSubject:", b"\r\nX-Note: a\rb\r\nSubject:", 1)
    parsed = parse_message(raw)
    assert len(parsed.attachments) == 1


def test_a_header_broken_by_a_stray_line_break_keeps_the_reports_attachment() -> None:
    # Dovecot stores a bare CR in a header as CR LF: the piece after it must not end the header block.
    raw = (Path(__file__).resolve().parent.parent / "fixtures" / "hostile" / "bare_cr_message_id.eml").read_bytes()
    stored = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")
    parsed = parse_message(stored)
    assert [a.kind for a in parsed.attachments] == ["xlsx"]
    assert parsed.message_id == ""  # "<bare" + line break + "cr@...>" is no msg-id: left out of our headers
    assert "a header line was broken by a stray line break" in parsed.defects[0]

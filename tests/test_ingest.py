"""The pure decision for one email: who sent it, which week, which rows are accepted, what to answer."""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from mailbot.ingest import decide, report_week, week_in_subject
from mailbot.mailbuilder import build_email
from mailbot.message import parse_message
from mailbot.outcomes import Outcome
from mailbot.roster import Roster, load_roster
from mailbot.weeks import Week
from mailbot.workbook.template import report_workbook

IST = ZoneInfo("Asia/Kolkata")
ROSTER = Path(__file__).resolve().parent.parent / "fixtures" / "roster" / "roster.xlsx"
W47 = Week(2026, 47)
RECEIVED = datetime(2026, 11, 23, 9, 0, tzinfo=IST)  # Monday after W47, before the deadline


@pytest.fixture(scope="module")
def roster() -> Roster:
    return load_roster(ROSTER)


def nothing_before(dsp: str, lgd: int, week: Week) -> Mapping[str, int | None] | None:
    return None


def email_from(
    sender: str,
    week: Week,
    lgd_codes: tuple[int, ...],
    *,
    subject: str = "report",
    opened: int = 10,
    headers: Mapping[str, str] | None = None,
) -> bytes:
    figures = {
        c: {"rural_target": 100, "rural_opened": opened, "urban_target": 10, "urban_opened": 1} for c in lgd_codes
    }
    book = report_workbook("DSP", week, lgd_codes, figures)
    return build_email(sender=sender, subject=subject, attachments=[("r.xlsx", book)], headers=headers or {})


def test_a_report_from_a_roster_sender_is_accepted_for_its_sheet_week(roster: Roster) -> None:
    mine = roster.districts_of("CMS Computers", W47)
    decision = decide(
        parse_message(email_from("reports@cms.example", W47, mine)), roster, RECEIVED, IST, nothing_before
    )
    assert decision.outcome == Outcome.ACCEPTED and decision.answer and decision.dsp is not None
    assert decision.dsp.name == "CMS Computers"
    [sheet] = decision.sheets
    assert sheet.week == W47 and sheet.week_source == "sheet"
    assert sorted(r.lgd_code for r in sheet.rows) == sorted(mine)
    assert not [p for p in decision.all_problems if p.severity == "error"]


def test_another_dsps_district_is_refused_with_its_cell(roster: Roster) -> None:
    theirs = roster.districts_of("SRMES", W47)[0]
    mine = roster.districts_of("CMS Computers", W47)[0]
    decision = decide(
        parse_message(email_from("reports@cms.example", W47, (mine, theirs))), roster, RECEIVED, IST, nothing_before
    )
    assert decision.outcome == Outcome.ACCEPTED
    [sheet] = decision.sheets
    assert [r.lgd_code for r in sheet.rows] == [mine] and sheet.status == "partial"
    [refused] = [p for p in sheet.problems if p.code == "district_not_assigned"]
    assert refused.cell.startswith("A") and "not assigned to CMS Computers" in refused.message
    assert refused.message_hi


def test_unknown_senders_and_robots_are_never_answered(roster: Roster) -> None:
    lgd = roster.districts_of("CMS Computers", W47)
    spoof = email_from('"reports@cms.example" <x@evil.example>', W47, lgd)
    auto = email_from("reports@cms.example", W47, lgd, headers={"Auto-Submitted": "auto-replied"})
    for raw, reason in ((spoof, "unknown sender x@evil.example"), (auto, "automated")):
        decision = decide(parse_message(raw), roster, RECEIVED, IST, nothing_before)
        assert decision.outcome == Outcome.IGNORED and not decision.answer and reason in decision.reason


def test_a_week_in_the_future_is_a_typo_not_a_report(roster: Roster) -> None:
    lgd = roster.districts_of("CMS Computers", W47)
    decision = decide(
        parse_message(email_from("reports@cms.example", Week(2027, 47), lgd)), roster, RECEIVED, IST, nothing_before
    )
    assert decision.outcome == Outcome.REJECTED
    assert [p.code for p in decision.all_problems] == ["week_in_future"]
    assert "week ending 28/11/2027" in decision.all_problems[0].message


def test_a_report_sent_on_the_weeks_own_saturday_counts(roster: Roster) -> None:
    lgd = roster.districts_of("CMS Computers", W47)
    saturday = datetime(2026, 11, 21, 10, 0, tzinfo=IST)
    decision = decide(parse_message(email_from("reports@cms.example", W47, lgd)), roster, saturday, IST, nothing_before)
    assert decision.outcome == Outcome.ACCEPTED


def test_an_old_week_is_stored_with_a_warning(roster: Roster) -> None:
    old = W47 - 20
    lgd = roster.districts_of("CMS Computers", old)
    decision = decide(parse_message(email_from("reports@cms.example", old, lgd)), roster, RECEIVED, IST, nothing_before)
    assert decision.outcome == Outcome.ACCEPTED
    assert "old_week" in [p.code for p in decision.all_problems]


def test_a_cumulative_count_that_fell_is_a_warning(roster: Roster) -> None:
    lgd = roster.districts_of("CMS Computers", W47)[:1]

    def before(dsp: str, code: int, week: Week) -> Mapping[str, int | None] | None:
        return {"rural_opened": 50, "urban_opened": 1}

    decision = decide(
        parse_message(email_from("reports@cms.example", W47, lgd, opened=40)), roster, RECEIVED, IST, before
    )
    assert decision.outcome == Outcome.ACCEPTED
    [fell] = [p for p in decision.all_problems if p.code == "cumulative_decreased"]
    assert fell.severity == "warning" and "from 50 to 40" in fell.message
    # It points at the cell that holds the figure, not at the district's name.
    sheet = openpyxl.load_workbook(io.BytesIO(decision.sheets[0].attachment.content)).active
    assert sheet is not None and sheet[fell.cell].value == 40


def test_a_district_office_writing_is_a_degs_reply_never_answered(roster: Roster) -> None:
    agra = roster.degs[118][0]
    decision = decide(
        parse_message(build_email(sender=f"DM Office <{agra.upper()}>", subject="Re: Agra")),
        roster,
        RECEIVED,
        IST,
        nothing_before,
    )
    assert decision.outcome == Outcome.DEGS_REPLY and decision.degs_districts == (118,) and not decision.answer
    assert "Agra" in decision.reason


def test_the_same_district_in_two_attachments_is_taken_once(roster: Roster) -> None:
    lgd = roster.districts_of("CMS Computers", W47)[:1]
    book = report_workbook(
        "CMS", W47, lgd, {lgd[0]: {"rural_target": 1, "rural_opened": 1, "urban_target": 1, "urban_opened": 1}}
    )
    raw = build_email(sender="reports@cms.example", attachments=[("a.xlsx", book), ("b.xlsx", book)])
    decision = decide(parse_message(raw), roster, RECEIVED, IST, nothing_before)
    assert sum(len(s.rows) for s in decision.sheets) == 1
    assert "duplicate_district" in [p.code for p in decision.all_problems]


@pytest.mark.parametrize(
    ("subject", "week"),
    [
        ("JSK report 2026-W47", W47),
        ("Weekly report w/e 22/11/2026", W47),
        ("report for week ending 22-11-2026", W47),
        ("report 2026-11-22", W47),
        ("साप्ताहिक रिपोर्ट 22.11.2026", W47),
        ("weekly report", None),
        ("report 31/02/2026", None),
    ],
)
def test_week_named_in_the_subject(subject: str, week: Week | None) -> None:
    assert week_in_subject(subject) == week


def test_week_falls_back_to_the_last_completed_week_at_receipt() -> None:
    received = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday 07:30 IST
    assert report_week(None, "weekly report", received, IST) == (W47, "received")
    assert report_week(date(2026, 11, 15), "2026-W47", received, IST) == (Week(2026, 46), "sheet")


def test_with_authserv_id_set_only_a_from_our_server_vouches_for_counts(roster: Roster) -> None:
    emails = Path(__file__).resolve().parent.parent / "fixtures" / "emails"
    forged = parse_message((emails / "forged_authentication_results.eml").read_bytes())
    genuine = parse_message((emails / "authenticated_report.eml").read_bytes())

    refused = decide(forged, roster, RECEIVED, IST, nothing_before, "mx.ceg.example")
    assert refused.outcome == Outcome.REJECTED and refused.answer and not refused.sheets
    [problem] = refused.problems
    assert problem.code == "sender_not_authenticated" and "dmarc=fail" in problem.message
    assert decide(genuine, roster, RECEIVED, IST, nothing_before, "mx.ceg.example").outcome == Outcome.ACCEPTED
    # Unset (the default): the From address is trusted as written, as before.
    assert decide(forged, roster, RECEIVED, IST, nothing_before).outcome == Outcome.ACCEPTED


def test_without_authserv_id_an_email_naming_two_senders_is_no_report_either(roster: Roster) -> None:
    emails = Path(__file__).resolve().parent.parent / "fixtures" / "emails"
    genuine = (emails / "authenticated_report.eml").read_bytes()
    message = parse_message(re.sub(rb"(?m)^(From: [^\r\n]*\r\n)", rb"\1From: other@evil.example\r\n", genuine, count=1))
    decision = decide(message, roster, RECEIVED, IST, nothing_before)
    assert decision.outcome == Outcome.REJECTED and not decision.sheets
    assert decision.dsp is not None and not decision.from_dsp  # answered at the roster address, but no report
    assert decide(parse_message(genuine), roster, RECEIVED, IST, nothing_before).from_dsp


def test_with_authserv_id_set_an_email_naming_two_senders_does_not_count(roster: Roster) -> None:
    # The server may have judged DMARC on another From than the first, which mailbot reads.
    emails = Path(__file__).resolve().parent.parent / "fixtures" / "emails"
    genuine = (emails / "authenticated_report.eml").read_bytes()
    for extra in (b"From: other@evil.example\r\n", b"Sender: x@cms.example\r\n"):
        message = parse_message(re.sub(rb"(?m)^(From: [^\r\n]*\r\n)", rb"\1" + extra, genuine, count=1))
        decision = decide(message, roster, RECEIVED, IST, nothing_before, "mx.ceg.example")
        if extra.startswith(b"From"):
            assert message.several_senders and message.sender == "reports@cms.example"
            assert decision.reason == "sender not authenticated: the email names more than one sender (From)"
        else:  # a Sender header is no second From: the report counts
            assert not message.several_senders and decision.outcome == Outcome.ACCEPTED
    both = parse_message(
        re.sub(rb"(?m)^From: [^\r\n]*", b"From: reports@cms.example, other@evil.example", genuine, count=1)
    )
    assert both.several_senders
    assert decide(both, roster, RECEIVED, IST, nothing_before, "mx.ceg.example").outcome == Outcome.REJECTED
    # One mailbox, however clumsily written, is one sender: the genuine report counts.
    for one in (
        b"Sharma, Rakesh <reports@cms.example>",
        b"reports@cms.example, ",
        b"=?utf-8?q?CMS,_Agra?= <reports@cms.example>",
        b"REPORTS@cms.example, reports@cms.example",
    ):
        message = parse_message(re.sub(rb"(?m)^From: [^\r\n]*", b"From: " + one, genuine, count=1))
        assert not message.several_senders and message.sender == "reports@cms.example", one
        assert decide(message, roster, RECEIVED, IST, nothing_before, "mx.ceg.example").outcome == Outcome.ACCEPTED


def test_an_attachment_that_cannot_be_taken_apart_is_named_not_called_missing(roster: Roster) -> None:
    emails = Path(__file__).resolve().parent.parent / "fixtures" / "emails"
    decision = decide(
        parse_message((emails / "multipart_without_boundary.eml").read_bytes()), roster, RECEIVED, IST, nothing_before
    )
    assert decision.outcome == Outcome.REJECTED and decision.answer
    [problem] = decision.problems
    assert problem.code == "unreadable_message" and "no boundary" in problem.message  # not "nothing attached"


def test_a_broken_attachment_beside_a_good_one_costs_only_itself(roster: Roster) -> None:
    mine = roster.districts_of("CMS Computers", W47)
    figures = {c: {"rural_target": 100, "rural_opened": 10, "urban_target": 10, "urban_opened": 1} for c in mine}
    good = report_workbook("DSP", W47, mine, figures)
    raw = build_email(
        sender="reports@cms.example",
        subject="report",
        attachments=[("broken.xlsx", good[: len(good) // 2]), ("good.xlsx", good)],
    )
    decision = decide(parse_message(raw), roster, RECEIVED, IST, nothing_before)
    assert decision.outcome == Outcome.ACCEPTED
    broken, fine = decision.sheets
    assert broken.status == "rejected" and [p.file for p in broken.problems] == ["broken.xlsx"]
    assert sorted(r.lgd_code for r in fine.rows) == sorted(mine)

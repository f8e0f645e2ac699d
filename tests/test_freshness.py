"""No email says "not received" without a fresh read of the mailbox (issue 7).

The rule itself (``ladder.held_because``) on plain values, then the journey on the real servers: a week of good
polls, the IMAP password withdrawn, the deadline passes, and nobody but the operator hears anything until the
mailbox is read again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from emails import body_text
from servers import DovecotServer, ImapAccount, SmtpSink
from test_end_to_end import query

from mailbot import health as health_module
from mailbot.config import Config, ScheduleSettings
from mailbot.districts import by_code
from mailbot.ladder import NEEDS_FRESH_READ, Notification, OverdueContext, held_because
from mailbot.mailbox import MailboxAuthError
from mailbot.mailbuilder import build_email
from mailbot.service import MAILBOX_READ, Mailbot
from mailbot.weeks import Week
from mailbot.workbook.template import report_workbook

IST = ZoneInfo("Asia/Kolkata")
WEEK = Week(2026, 47)
DEADLINE = datetime(2026, 11, 23, 12, 0, tzinfo=IST)  # Monday after W47, 12:00
MAX_AGE = timedelta(minutes=15)


def step(kind: Any, week: Week = WEEK) -> Notification:
    return Notification(
        kind,
        f"{kind}/{week}/x/a@b.example",
        week,
        "a@b.example",
        ("a@b.example",),
        (),
        None,
        (),
        DEADLINE,
        OverdueContext(DEADLINE, ()),
    )


# --- the rule --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(NEEDS_FRESH_READ))
def test_a_step_saying_missing_waits_for_a_read_after_the_deadline_and_a_recent_one(kind: str) -> None:
    check = DEADLINE + timedelta(days=2)
    assert "never been read" in str(held_because(step(kind), None, check, MAX_AGE))
    # Read recently, but not since the deadline: a report sent just before the deadline may be unread.
    before = held_because(step(kind), DEADLINE - timedelta(minutes=1), DEADLINE + timedelta(minutes=5), MAX_AGE)
    assert before is not None and "not since week 2026-W47's deadline" in before
    # Read after the deadline, but long before this check: a late report may be unread.
    stale = held_because(step(kind), check - timedelta(hours=2), check, MAX_AGE)
    assert stale is not None and "120 min before this check (allowed 15 min)" in stale
    assert held_because(step(kind), check - timedelta(minutes=14), check, MAX_AGE) is None
    assert held_because(step(kind), DEADLINE + timedelta(seconds=1), DEADLINE + timedelta(minutes=1), MAX_AGE) is None


def test_the_deadline_moment_itself_is_not_a_read_after_it() -> None:
    # A report sent at the deadline is on time; a pass that started at that moment may not have seen it.
    assert held_because(step("overdue"), DEADLINE, DEADLINE + timedelta(minutes=1), MAX_AGE) is not None


def test_reminders_say_due_not_missing_and_are_never_held() -> None:
    assert held_because(step("reminder"), None, DEADLINE - timedelta(hours=3), MAX_AGE) is None


def test_the_allowed_age_is_a_few_poll_intervals_in_one_place() -> None:
    assert ScheduleSettings().mailbox_max_age == timedelta(minutes=15)  # 3 x 5 min
    assert replace(ScheduleSettings(), poll_minutes=10, stale_after_polls=2).mailbox_max_age == timedelta(minutes=20)


# --- the journey on the real servers ----------------------------------------------------------------------------

REPORTED, UNREAD, MISSING = 118, 119, 120  # read during the good week; in the mailbox all along; never sent
DSPS = {
    REPORTED: ("CMS Computers", "reports@cms.example"),
    UNREAD: ("Shreetron", "mis@shreetron.example"),
    MISSING: ("UPDESCO", "jsk@updesco.example"),
}
CEG = "jsk@ceg.example"
OPERATOR = "operator@ceg.example"


def write_roster(folder: Path) -> Path:
    """One district per DSP, each with its DEGS: every email says by its recipient whom it is about."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dsps.csv").write_text(
        "DSP,Sender addresses,Contact addresses\n"
        + "".join(f"{name},{sender},{sender}\n" for name, sender in DSPS.values())
    )
    start = WEEK.monday.strftime("%d/%m/%Y")
    (folder / "assignments.csv").write_text(
        "DSP,District,Start date,End date\n" + "".join(f"{name},{code},{start},\n" for code, (name, _) in DSPS.items())
    )
    (folder / "degs.csv").write_text(
        "District,Addresses\n" + "".join(f"{by_code(code).name_en},degs{code}@degs.example\n" for code in DSPS)
    )
    return folder


def arrive(dovecot: DovecotServer, account: ImapAccount, code: int, at: datetime) -> None:
    """The DSP's report for ``code`` lands in the mailbox at ``at`` (its IMAP INTERNALDATE)."""
    name, sender = DSPS[code]
    # Opened well above target: progress does not lag, so no action alert is due for a district that reported.
    figures: dict[int, dict[str, int | str]] = {
        code: {
            "rural_target": 100,
            "rural_opened": 90,
            "urban_target": 20,
            "urban_opened": 18,
            "functional": 100,
            "b2c_enabled": 50,
        }
    }
    raw = build_email(
        sender=f"{name} <{sender}>",
        subject=f"Weekly JSK report {WEEK}",
        date=at,
        attachments=[(f"JSK-{WEEK}.xlsx", report_workbook(name, WEEK, (code,), figures))],
    )
    with dovecot.client(account.username) as client:
        client.append("INBOX", raw, msg_time=at)


def ladder_mail(sink: SmtpSink) -> Counter[tuple[str, str]]:
    """(kind, envelope recipient) of every email that says a report is missing."""
    return Counter(
        (str(m.message["X-Mailbot-Kind"]), r)
        for m in sink.messages
        for r in m.rcpt_tos
        if m.message["X-Mailbot-Kind"] in NEEDS_FRESH_READ
    )


def test_a_refused_imap_login_holds_every_missing_notice_until_the_mailbox_is_read_again(
    dovecot: DovecotServer,
    imap_account: ImapAccount,
    smtp_sink: SmtpSink,
    make_config: Callable[..., Config],
    tmp_path: Path,
) -> None:
    config = make_config(
        write_roster(tmp_path / "roster"), calendar={"first_week": str(WEEK)}, ceg={"addresses": [CEG]}
    )
    clock = [datetime(2026, 11, 17, 10, 0, tzinfo=IST)]
    bot = Mailbot(config, clock=lambda: clock[0])
    try:
        # A week of good polls; one DSP reports on Thursday and gets its receipt.
        arrive(dovecot, imap_account, REPORTED, datetime(2026, 11, 19, 9, 0, tzinfo=IST))
        for day in range(17, 22):
            clock[0] = datetime(2026, 11, day, 10, 0, tzinfo=IST)
            bot.poll()
            bot.check()
            bot.send()
        assert smtp_sink.wait_for(1)[0].rcpt_tos == (DSPS[REPORTED][1],)

        # The app password is withdrawn on Saturday; a second DSP's report arrives on Sunday and sits unread.
        dovecot.set_password(imap_account.username, "withdrawn-app-password")
        arrive(dovecot, imap_account, UNREAD, datetime(2026, 11, 22, 15, 0, tzinfo=IST))
        clock[0] = datetime(2026, 11, 22, 13, 0, tzinfo=IST)  # the reminder says "due": it still goes out
        bot.check()
        for moment in (datetime(2026, 11, 25, 12, 30, tzinfo=IST), datetime(2026, 11, 25, 13, 0, tzinfo=IST)):
            clock[0] = moment
            with pytest.raises(MailboxAuthError):
                bot.poll()
            preview = bot.check(dry_run=tmp_path / "preview")
            held = bot.check()
            bot.check()  # the hourly check again: still held, and the operator is not told twice
            bot.send()
        assert not list((tmp_path / "preview").glob("*.eml"))
        assert {h.key for h in preview.held} == {h.key for h in held.held}
        assert {h.kind for h in held.held} == {"overdue", "escalation", "summary"}
        assert "the IMAP server refused the login" in held.hold_reason
        assert "not since week 2026-W47's deadline" in held.hold_reason

        # Nobody was told that a report is missing; the DSPs not yet read were reminded; the operator told once.
        assert ladder_mail(smtp_sink) == Counter()
        kinds = Counter((str(m.message["X-Mailbot-Kind"]), m.rcpt_tos) for m in smtp_sink.messages)
        assert kinds[("reminder", (DSPS[UNREAD][1],))] == kinds[("reminder", (DSPS[MISSING][1],))] == 1
        alerts = [m.message for m in smtp_sink.messages if m.rcpt_tos == (OPERATOR,)]
        subjects = Counter(str(m["Subject"]) for m in alerts)
        held_alerts = [s for s in subjects if "held" in s]
        assert len(held_alerts) == 1 and subjects[held_alerts[0]] == 1, subjects
        body = body_text(next(m for m in alerts if m["Subject"] == held_alerts[0]))
        assert "the IMAP server refused the login" in " ".join(body.split())
        ok, line = health_module.health(config, clock[0])
        assert not ok and "held back" in line and "refused the login" in line, line

        # The password is fixed: the next pass reads Sunday's report, and the next check sends what is still
        # due, once, only about the district nobody reported for.
        dovecot.set_password(imap_account.username, imap_account.password)
        clock[0] = datetime(2026, 11, 25, 14, 0, tzinfo=IST)
        bot.poll()
        assert health_module.health(config, clock[0])[0]  # the hold is over: the next check sends
        clock[0] += timedelta(minutes=5)
        after = bot.check()
        assert not after.held
        bot.check()
        bot.send()
    finally:
        bot.close()
    missing_degs, degs_told = f"degs{MISSING}@degs.example", {f"degs{c}@degs.example" for c in (REPORTED, UNREAD)}
    assert ladder_mail(smtp_sink) == Counter(
        {("overdue", DSPS[MISSING][1]): 1, ("escalation", missing_degs): 1, ("summary", CEG): 1}
    )  # CEG: no copy per district
    everyone = {r for m in smtp_sink.messages for r in m.rcpt_tos}
    assert not degs_told & everyone  # the districts that reported: their DEGS never heard a thing
    receipts = Counter(
        m.rcpt_tos for m in smtp_sink.messages if m.message["X-Mailbot-Kind"] in ("acknowledgement", "partial")
    )
    assert receipts == Counter({(DSPS[REPORTED][1],): 1, (DSPS[UNREAD][1],): 1})
    assert health_module.health(config, clock[0])[0]


def test_a_check_just_after_the_deadline_waits_for_the_next_poll_without_alarming_anyone(
    smtp_sink: SmtpSink, make_config: Callable[..., Config], tmp_path: Path
) -> None:
    # The hourly check may fall between the deadline and the next 5-minute poll: a routine wait, not an outage.
    config = make_config(
        write_roster(tmp_path / "roster"), calendar={"first_week": str(WEEK)}, ceg={"addresses": [CEG]}
    )
    clock = [DEADLINE + timedelta(minutes=1)]
    bot = Mailbot(config, clock=lambda: clock[0])
    try:
        bot.values.set(MAILBOX_READ, (DEADLINE - timedelta(minutes=2)).isoformat())
        held = bot.check()
        assert {h.kind for h in held.held} == {"overdue"} and held.queued == 0
        assert bot.holding() and bot.held_steps() is None  # the daemon re-checks after its next poll; health green
        assert query(config, "select count(*) from outbox where kind = 'operator_alert'") == [(0,)]
        bot.values.set(MAILBOX_READ, (DEADLINE + timedelta(minutes=3)).isoformat())  # the next poll
        clock[0] = DEADLINE + timedelta(minutes=4)
        assert bot.check().kinds == {"overdue": 3}
        assert not bot.holding()
    finally:
        bot.close()

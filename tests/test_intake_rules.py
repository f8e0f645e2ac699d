"""The intake's rules, on SQLite and an in-memory mailbox (``tests/fakes.py``): filing, a refused or broken MOVE,
a connection lost mid-fetch, exactly-once. The same journeys against real Dovecot are in test_end_to_end.py and
test_intake_budget.py; these need no server, so they can inject a fault at exactly the step they test."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fakes import FakeMailbox
from test_end_to_end import NOW, ROSTER, query
from test_intake_budget import good_report, mh

from mailbot.config import Config
from mailbot.mailbox import MailboxUnavailable
from mailbot.service import Mailbot


@pytest.fixture
def config(config_without_servers: Callable[..., Config]) -> Config:
    return config_without_servers(ROSTER)


@pytest.fixture
def box() -> FakeMailbox:
    return FakeMailbox()


JUNK = (
    b"From: Someone <someone@elsewhere.example>\r\nTo: jsk@ceg.example\r\nSubject: lunch?\r\n"
    b"Message-ID: <lunch@elsewhere.example>\r\nDate: Mon, 23 Nov 2026 08:00:00 +0000\r\n\r\nhello\r\n"
)


def bot_for(config: Config, box: FakeMailbox) -> Mailbot:
    return Mailbot(config, clock=lambda: NOW, mailbox_factory=box.connect)


def test_a_pass_files_each_message_by_its_decision(config: Config, box: FakeMailbox) -> None:
    good = good_report()
    box.deliver(good)
    box.deliver(JUNK)
    bot = bot_for(config, box)
    report = bot.poll()
    assert (report.seen, report.accepted, report.moved) == (2, 1, 2)
    assert box.messages("INBOX") == []
    assert box.messages("Processed") == [good]
    assert box.messages("Rejected") == [JUNK]
    assert query(config, "select count(*) from ledger where filed_to = ''") == [(0,)]
    bot.close()


def test_refused_move_does_not_block_later_mail_and_is_retried_next_pass(config: Config, box: FakeMailbox) -> None:
    first = box.deliver(good_report(subject="first"))
    box.deliver(mh.fixture("bare_cr_message_id"))
    box.deliver(mh.fixture("newline_in_cell"))
    box.refuse_move(first, times=2)  # the batch's UID MOVE, then the one-at-a-time retry of that message
    bot = bot_for(config, box)
    report = bot.poll()
    assert report.moved == 2
    assert box.uids_in() == [first]  # the refused one waits in the inbox; the others were filed
    assert query(config, "select count(*) from ledger where filed_to = ''") == [(1,)]
    decided = query(config, "select id, outcome, attempts from ledger order by id")
    replies = query(config, "select count(*) from outbox")
    fetched = list(box.fetched)
    report = bot.poll()  # filed now; nothing is read or decided twice
    assert (report.moved, report.seen) == (1, 0)
    assert box.messages("INBOX") == []
    assert box.fetched == fetched
    assert query(config, "select id, outcome, attempts from ledger order by id") == decided
    assert query(config, "select count(*) from outbox") == replies
    bot.close()


def test_crash_between_commit_and_move_is_finished_by_the_next_pass_exactly_once(
    config: Config, box: FakeMailbox
) -> None:
    raw = good_report()
    box.deliver(raw)
    box.drop_on_move()
    bot = bot_for(config, box)
    with pytest.raises(MailboxUnavailable):
        bot.poll()
    assert box.messages("INBOX") == [raw]  # committed, not moved
    assert query(config, "select count(*) from submission") == [(1,)]
    assert query(config, "select count(*) from outbox") == [(1,)]
    bot.poll()
    assert box.messages("INBOX") == [] and box.messages("Processed") == [raw]
    assert box.fetched == [1]  # read once: the second pass only filed it
    assert query(config, "select count(*) from submission") == [(1,)]
    assert query(config, "select count(*) from outbox") == [(1,)]  # one receipt, not two
    assert box.opened == 2
    bot.close()


def test_connection_lost_mid_fetch_keeps_what_was_decided_and_reads_the_rest_next_pass(
    config: Config, box: FakeMailbox
) -> None:
    first = box.deliver(good_report(subject="first"))
    second = box.deliver(mh.fixture("newline_in_cell"))
    box.drop_after(1)
    bot = bot_for(config, box)
    with pytest.raises(MailboxUnavailable):
        bot.poll()
    # The first was decided and committed; messages are moved in sets after the batch, so it waits in the inbox.
    assert box.uids_in() == [first, second]
    assert query(config, "select uid, outcome, filed_to from ledger") == [(first, "accepted", "")]
    report = bot.poll()
    assert report.seen == 1 and box.messages("INBOX") == []
    assert box.fetched == [first, second]  # each read once
    assert [u for (u,) in query(config, "select uid from ledger order by uid")] == [first, second]
    bot.close()


def test_a_broken_pass_is_not_a_fresh_read_of_the_mailbox(config: Config, box: FakeMailbox) -> None:
    """Ladder steps that say "missing" wait for a complete read: a pass that died must not count as one."""
    box.deliver(good_report())
    box.drop_after(0)
    bot = bot_for(config, box)
    with pytest.raises(MailboxUnavailable):
        bot.poll()
    assert query(config, "select value from kv where key = 'mailbox_read_at'") == []
    assert "could not be read" in str(query(config, "select value from kv where key = 'mailbox_problem'"))
    bot.poll()
    assert query(config, "select value from kv where key = 'mailbox_problem'") == [("",)]
    assert query(config, "select value from kv where key = 'mailbox_read_at'") == [(NOW.isoformat(),)]
    bot.close()

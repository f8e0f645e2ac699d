"""Districts with no DEGS address on the roster: CEG gets one email per check listing them all, through the real
service and SMTP server; the other districts' notices are carried by it and never sent on their own."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from compliance_quarter import AGRA, ALIGARH, CEG, FARRUKHABAD, ist
from emails import body_text
from servers import SmtpSink
from test_quarter_e2e import write_roster

from mailbot.config import Config
from mailbot.service import MAILBOX_READ, Mailbot
from mailbot.weeks import Week

pytestmark = pytest.mark.servers

W47 = Week(2026, 47)
WED = W47.sunday + timedelta(days=3)


def test_ceg_gets_one_email_per_check_for_every_district_without_a_degs_address(
    smtp_sink: SmtpSink, make_config: Callable[..., Config], tmp_path: Path
) -> None:
    folder = write_roster(tmp_path / "roster")
    with (folder / "degs.csv").open(encoding="utf-8") as f:
        rows = list(csv.reader(f))
    with (folder / "degs.csv").open("w", newline="", encoding="utf-8") as f:  # Agra and Aligarh lose theirs too
        csv.writer(f).writerows(r for r in rows if r[0] not in (str(AGRA), str(ALIGARH)))
    config = make_config(folder, ceg={"addresses": list(CEG)}, calendar={"first_week": "2026-W46"})
    bot = Mailbot(config, clock=lambda: ist(WED, 12))
    for moment in (ist(WED, 12), ist(WED, 12), ist(WED, 18), ist(WED + timedelta(days=1), 9)):
        bot.values.set(MAILBOX_READ, moment.isoformat())  # as if the mailbox was just read
        bot.check(moment)
        bot.send()
    bot.close()
    to_ceg = [m for m in smtp_sink.messages if m.rcpt_tos[0] in CEG and m.message["X-Mailbot-Kind"] != "summary"]
    # Nothing reported (no mail was imported): every district is out. Still one email per CEG address, once.
    assert Counter(m.rcpt_tos[0] for m in to_ceg) == {CEG[0]: 1, CEG[1]: 1}
    subject = to_ceg[0].message["Subject"]
    assert subject.startswith("No DEGS address: 3 districts not reported or needing action, week 16–22 Nov 2026")
    text = body_text(to_ceg[0].message)
    assert "The roster has no DEGS address for 3 districts: Agra, Aligarh and Farrukhabad." in text
    assert f"== Farrukhabad (LGD {FARRUKHABAD}) ==" in text
    # The DEGS with an address still get their own, one each.
    degs = Counter(m.rcpt_tos[0] for m in smtp_sink.messages if m.rcpt_tos[0].startswith("degs"))
    assert len(degs) == 72 and set(degs.values()) == {1}

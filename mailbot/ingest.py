"""What to do with one email: pure decisions, no I/O.

``decide`` takes a parsed message, the roster and a lookup of earlier figures, and says which DSP sent it, which week
each workbook reports, which district rows are accepted, every problem (with its file, sheet and cell) and whether
to answer. The service stores the decision and queues the reply.

The report's week, in order of preference:
1. the workbook's "Week ending" date (the week that contains it);
2. a week named in the subject: ``2026-W47``, or a date such as ``22/11/2026`` (day first) or ``2026-11-22``;
3. the last week completed when the message arrived (in the reporting time zone).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from mailbot.districts import by_code
from mailbot.message import Attachment, ParsedMessage
from mailbot.outcomes import AUTOMATED_PREFIX, Outcome, ReasonCode, automation_code
from mailbot.roster import Dsp, Roster
from mailbot.sandbox import parse_workbook_budgeted
from mailbot.sender_auth import SenderCheck, check_sender
from mailbot.weeks import Week, last_completed_week
from mailbot.workbook import Problem, ReportRow

DecisionOutcome = Literal[Outcome.ACCEPTED, Outcome.REJECTED, Outcome.IGNORED, Outcome.DEGS_REPLY]
WeekSource = Literal["sheet", "subject", "received"]

# Earlier figures for (DSP, district) before a week: {figure: value}, or None when nothing earlier was stored.
PreviousFigures = Callable[[str, int, Week], Mapping[str, int | None] | None]

_ISO_WEEK = re.compile(r"\b(\d{4})\s*-?\s*W\s*(\d{1,2})\b", re.IGNORECASE)
_DAY_FIRST = re.compile(r"\b(\d{1,2})[./-](\d{1,2})[./-](\d{4})\b")
_YEAR_FIRST = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
_CUMULATIVE = ("rural_opened", "urban_opened")
NOT_FROM_DSP = "sender not authenticated"  # starts the ledger reason of a message that may not be the DSP's
STALE_WEEKS = 8  # a report older than this is stored, with a warning: probably a typo in the year


@dataclass(frozen=True)
class SheetDecision:
    """One workbook attachment: the rows accepted for its week and what was wrong."""

    attachment: Attachment
    sheet: str
    week: Week | None  # None when the attachment could not be read at all
    week_source: WeekSource
    rows: tuple[ReportRow, ...]
    rejected_rows: int
    problems: tuple[Problem, ...]

    @property
    def status(self) -> Literal["accepted", "partial", "rejected"]:
        if not self.rows:
            return "rejected"
        return "partial" if self.rejected_rows else "accepted"


@dataclass(frozen=True)
class Decision:
    outcome: DecisionOutcome
    code: ReasonCode  # what the reason means, for code to decide by (the ledger's reason_code)
    reason: str  # one line for the ledger and logs, for people
    dsp: Dsp | None
    sheets: tuple[SheetDecision, ...] = ()
    problems: tuple[Problem, ...] = ()  # about the message itself (no attachment, unreadable file...)
    answer: bool = False  # send the DSP a receipt or rejection
    # False when the message may not be the DSP's (forged or ambiguous From): it is answered at the roster address
    # it names, but it is no report, so it must leave no trace in compliance (the district stays "missing").
    from_dsp: bool = True
    degs_districts: tuple[int, ...] = ()  # outcome "degs_reply": the districts whose office wrote

    @property
    def all_problems(self) -> tuple[Problem, ...]:
        return self.problems + tuple(p for s in self.sheets for p in s.problems)


def decide(
    message: ParsedMessage,
    roster: Roster,
    received_at: datetime,
    tz: ZoneInfo,
    previous: PreviousFigures,
    authserv_id: str = "",
) -> Decision:
    """What to do with one message. ``authserv_id``: when set, the From address must be vouched for by
    that server's Authentication-Results header (see sender_auth)."""
    if message.automated:
        return Decision(Outcome.IGNORED, automation_code(message.automated), AUTOMATED_PREFIX + message.automated, None)
    if not message.sender:
        return Decision(Outcome.IGNORED, ReasonCode.NO_SENDER, "no sender address", None)
    dsp = roster.dsp_for_sender(message.sender)
    if dsp is None:
        return _not_a_dsp(message.sender, roster)
    refused = _unauthenticated(message, dsp, authserv_id)
    if refused:
        return refused

    if not message.attachments:
        return _nothing_attached(message, dsp)

    sheets: list[SheetDecision] = []
    taken: set[tuple[Week, int]] = set()  # (week, district) already accepted from an earlier attachment
    for attachment in message.attachments:
        sheets.append(_decide_attachment(attachment, message, dsp, roster, received_at, tz, previous, taken))
    accepted = sum(len(s.rows) for s in sheets)
    weeks = sorted({str(s.week) for s in sheets if s.week and s.rows})
    outcome: DecisionOutcome
    if accepted:
        outcome, code = Outcome.ACCEPTED, ReasonCode.ROWS_ACCEPTED
        reason = f"{accepted} district row(s) accepted for {', '.join(weeks)}"
    else:
        outcome, code = Outcome.REJECTED, ReasonCode.NOTHING_ACCEPTED
        reason = f"nothing accepted: {_first_error(sheets)}"
    return Decision(outcome, code, reason, dsp, sheets=tuple(sheets), answer=True)


def _not_a_dsp(sender: str, roster: Roster) -> Decision:
    districts = roster.degs_districts_of(sender)
    if districts:
        # A district office answering an escalation: kept and listed for CEG, never answered by mailbot.
        names = ", ".join(by_code(code).name_en for code in districts)
        return Decision(
            Outcome.DEGS_REPLY,
            ReasonCode.DEGS_REPLY,
            f"reply from the district office (DEGS) of {names}",
            None,
            degs_districts=districts,
        )
    return Decision(Outcome.IGNORED, ReasonCode.UNKNOWN_SENDER, f"unknown sender {sender}", None)


def _nothing_attached(message: ParsedMessage, dsp: Dsp) -> Decision:
    if message.defects:
        # Something was attached but could not be taken apart: say what, not "nothing attached".
        problem = _problem(
            "unreadable_message",
            f"No readable Excel workbook was found: {'; '.join(message.defects)}. "
            "Attach the weekly report (.xlsx) to a new email and send it again.",
            f"कोई पढ़ने योग्य एक्सेल फ़ाइल नहीं मिली ({'; '.join(message.defects)})। "
            "साप्ताहिक रिपोर्ट (.xlsx) नई ईमेल में संलग्न करके दोबारा भेजें।",
        )
        return Decision(
            Outcome.REJECTED,
            ReasonCode.NO_READABLE_SPREADSHEET,
            "no readable spreadsheet",
            dsp,
            problems=(problem,),
            answer=True,
        )
    problem = _problem(
        "no_attachment",
        "No Excel workbook was attached. Attach the weekly report (.xlsx) and send it again.",
        "कोई एक्सेल फ़ाइल संलग्न नहीं थी। साप्ताहिक रिपोर्ट (.xlsx) संलग्न करके दोबारा भेजें।",
    )
    return Decision(
        Outcome.REJECTED, ReasonCode.NO_ATTACHMENT, "no spreadsheet attached", dsp, problems=(problem,), answer=True
    )


def _unauthenticated(message: ParsedMessage, dsp: Dsp, authserv_id: str) -> Decision | None:
    """A rejection when the email names several senders, or when our mail server does not vouch for the From
    address (see sender_auth; only with ``authserv_id`` set), else None."""
    if message.several_senders:
        # Whose report would it be? And the server may have judged another From address than the one we read.
        check = SenderCheck(False, "the email names more than one sender (From)")
    elif authserv_id:
        check = check_sender(message.authentication_results, authserv_id, message.sender)
    else:
        return None
    if check.passed:
        return None
    # Answered, because the address is one on the roster: a forger never reads the reply, and a DSP whose
    # own mail setup fails the check learns why its report did not count.
    problem = _problem(
        "sender_not_authenticated",
        f"CEG's mail server could not confirm that this email came from {message.sender} "
        f"({check.detail}), so the report was not counted. If you sent it, send it again from "
        "your registered address directly (not through a forwarding service), or ask your email "
        "administrator to set up SPF and DKIM for your domain. Contact CEG if this continues.",
        f"CEG का मेल सर्वर यह पुष्टि नहीं कर सका कि यह ईमेल {message.sender} से आई है "
        f"({check.detail}), इसलिए रिपोर्ट नहीं गिनी गई। यदि आपने इसे भेजा है, तो अपने पंजीकृत पते से "
        "सीधे दोबारा भेजें (किसी फ़ॉरवर्डिंग सेवा से नहीं), या अपने ईमेल व्यवस्थापक से अपने डोमेन के लिए "
        "SPF और DKIM सेट करने को कहें। समस्या बनी रहे तो CEG से संपर्क करें।",
    )
    return Decision(
        Outcome.REJECTED,
        ReasonCode.SENDER_NOT_AUTHENTICATED,
        f"{NOT_FROM_DSP}: {check.detail}",
        dsp,
        problems=(problem,),
        answer=True,
        from_dsp=False,
    )


def _decide_attachment(
    attachment: Attachment,
    message: ParsedMessage,
    dsp: Dsp,
    roster: Roster,
    received_at: datetime,
    tz: ZoneInfo,
    previous: PreviousFigures,
    taken: set[tuple[Week, int]],
) -> SheetDecision:
    name = attachment.filename
    unreadable = _unreadable(attachment)
    if unreadable is not None:
        return SheetDecision(attachment, "", None, "received", (), 0, (unreadable,))

    parsed = parse_workbook_budgeted(attachment.content, name)  # in a child process, within a CPU/memory budget
    week, source = report_week(parsed.week_ending, message.subject, received_at, tz)
    problems = list(parsed.problems)
    arrived = Week.containing(received_at.astimezone(tz).date())
    if week > arrived:
        # A report may be sent in the last days of its own week (offices close on Sunday), never for a later one:
        # that is a typo in the date (or the wrong year).
        when = f"week ending {parsed.week_ending:%d/%m/%Y}" if parsed.week_ending else f"week {week}"
        problems.append(
            _problem(
                "week_in_future",
                f"The report is for {when}, a week that has not started yet. Check the 'Week ending' date (the Sunday "
                "of the week reported) and send the file again.",
                f"रिपोर्ट {when} की है, जो सप्ताह अभी शुरू नहीं हुआ है। 'सप्ताह समाप्ति तिथि' (रिपोर्ट वाले सप्ताह का रविवार) "
                "जाँचकर फ़ाइल दोबारा भेजें।",
                name,
                parsed.sheet,
            )
        )
        return SheetDecision(attachment, parsed.sheet, week, source, (), len(parsed.rows), tuple(problems))
    if arrived.weeks_until(week) < -STALE_WEEKS:
        problems.append(
            Problem(
                "warning",
                "old_week",
                f"The report is for week {week}, more than {STALE_WEEKS} weeks ago; it was stored for that week. "
                "If the 'Week ending' date is wrong, correct it and send the file again.",
                f"रिपोर्ट सप्ताह {week} की है, जो {STALE_WEEKS} सप्ताह से अधिक पुराना है; इसे उसी सप्ताह के लिए दर्ज किया गया।",
                name,
                parsed.sheet,
            )
        )
    rejected = {p.cell for p in parsed.errors if p.cell}  # rows the parser already refused, by cell
    accepted: list[ReportRow] = []
    assigned = set(roster.districts_of(dsp.name, week))
    for row in parsed.rows:
        district = by_code(row.lgd_code)
        cell = _row_cell(row)
        if row.lgd_code not in assigned:
            problems.append(
                _problem(
                    "district_not_assigned",
                    f"Row {row.row}: {district.name_en} is not assigned to {dsp.name} for week {week}; "
                    "the row was not stored. If the assignment changed, ask CEG to update the roster.",
                    f"पंक्ति {row.row}: जनपद {district.name_hi} सप्ताह {week} के लिए {dsp.name} को आवंटित नहीं है; "
                    "यह पंक्ति दर्ज नहीं की गई।",
                    name,
                    row.sheet,
                    cell,
                )
            )
            rejected.add(cell)
            continue
        if (week, row.lgd_code) in taken:
            problems.append(
                _problem(
                    "duplicate_district",
                    f"Row {row.row}: {district.name_en} was already reported for week {week} in another "
                    "attachment of this email; this row was not stored.",
                    f"पंक्ति {row.row}: जनपद {district.name_hi} इसी ईमेल की दूसरी फ़ाइल में पहले ही है; यह पंक्ति दर्ज नहीं की गई।",
                    name,
                    row.sheet,
                    cell,
                )
            )
            rejected.add(cell)
            continue
        taken.add((week, row.lgd_code))
        accepted.append(row)
        problems.extend(
            _fell_since(row, previous(dsp.name, row.lgd_code, week), name, district.name_en, district.name_hi)
        )
    return SheetDecision(
        attachment,
        parsed.sheet,
        week,
        source,
        tuple(accepted),
        _count_rejected_rows(parsed.problems, rejected),
        tuple(problems),
    )


def report_week(week_ending: date | None, subject: str, received_at: datetime, tz: ZoneInfo) -> tuple[Week, WeekSource]:
    """The week a report is for; see the module docstring for the rule."""
    if week_ending is not None:
        return Week.containing(week_ending), "sheet"
    from_subject = week_in_subject(subject)
    if from_subject is not None:
        return from_subject, "subject"
    return last_completed_week(received_at, tz), "received"


def week_in_subject(subject: str) -> Week | None:
    match = _ISO_WEEK.search(subject)
    if match:
        try:
            return Week(int(match.group(1)), int(match.group(2)))
        except ValueError:
            pass
    for pattern, order in ((_DAY_FIRST, (3, 2, 1)), (_YEAR_FIRST, (1, 2, 3))):
        for found in pattern.finditer(subject):
            year, month, day = (int(found.group(i)) for i in order)
            try:
                return Week.containing(date(year, month, day))
            except ValueError:
                continue
    return None


def _unreadable(attachment: Attachment) -> Problem | None:
    name = attachment.filename
    if attachment.kind == "encrypted":
        return _problem(
            "password_protected",
            f"{name} is password-protected, so it cannot be read. Remove the password "
            "(File > Info > Protect Workbook) and send it again.",
            f"{name} पासवर्ड से सुरक्षित है, इसलिए पढ़ी नहीं जा सकी। पासवर्ड हटाकर दोबारा भेजें।",
            name,
        )
    if attachment.kind == "not_spreadsheet":
        return _problem(
            "not_a_workbook",
            f"{name} is named like a spreadsheet but is not an Excel workbook (perhaps CSV, ODS or a damaged "
            "file). Save it from Excel as .xlsx and send it again.",
            f"{name} एक्सेल फ़ाइल नहीं है। इसे एक्सेल में .xlsx के रूप में सेव करके दोबारा भेजें।",
            name,
        )
    return None


def _fell_since(
    row: ReportRow, earlier: Mapping[str, int | None] | None, file: str, name_en: str, name_hi: str
) -> list[Problem]:
    if not earlier:
        return []
    found = []
    labels = {
        "rural_opened": ("rural JSKs opened", "स्थापित ग्रामीण केन्द्र"),
        "urban_opened": ("urban JSKs opened", "स्थापित शहरी केन्द्र"),
    }
    for key in _CUMULATIVE:
        before, now = earlier.get(key), getattr(row, key)
        if before is not None and now < before:
            en, hi = labels[key]
            found.append(
                Problem(
                    "warning",
                    "cumulative_decreased",
                    f"Row {row.row} ({name_en}): {en} fell from {before} to {now}; it is a cumulative count and "
                    "should not go down. Please check.",
                    f"पंक्ति {row.row} ({name_hi}): {hi} {before} से घटकर {now} हो गए; यह संचयी संख्या है, घटनी नहीं चाहिए।",
                    file,
                    row.sheet,
                    dict(row.cells).get(key) or _row_cell(row),  # the cell holding the figure
                )
            )
    return found


def _row_cell(row: ReportRow) -> str:
    return row.district_cell or f"A{row.row}"


def _count_rejected_rows(problems: tuple[Problem, ...], extra: set[str]) -> int:
    rows = {re.sub(r"^[A-Z]+", "", p.cell) for p in problems if p.severity == "error" and p.cell}
    rows |= {re.sub(r"^[A-Z]+", "", c) for c in extra}
    return len(rows)


def _first_error(sheets: list[SheetDecision]) -> str:
    for sheet in sheets:
        for problem in sheet.problems:
            if problem.severity == "error":
                return problem.message
    return "no district rows found"


def _problem(code: str, message: str, message_hi: str, file: str = "", sheet: str = "", cell: str = "") -> Problem:
    return Problem("error", code, message, message_hi, file, sheet, cell)

"""Decisions -> ``email.message.EmailMessage``: replies to DSPs, the escalation ladder, CEG's summary.

Pure: the caller passes ``now`` and the pre-generated Message-ID (it stores both with the outbox row). Bodies
come from Jinja2 templates: ``<kind>.subject.txt``, ``<kind>.txt`` (always) and ``<kind>.html`` (when present,
sent as the HTML alternative). A folder CEG edits (``templates_dir``) is searched first; any template it lacks
falls back to the built-in one in ``mailbot/templates``. Template variables are the view dataclasses below
(``*Line``, ``RateLine``), plus in every email ``from_name``, ``week`` (the ISO name, ``2026-W47``), ``week_en`` /
``week_hi`` (its dates: ``16–22 Nov 2026`` / ``16–22 नवम्बर 2026``), ``week_start``, ``week_end``, and the
deadline as ``deadline`` / ``deadline_hi`` (``deadline_short`` / ``deadline_hi_short`` without the year, for
subjects). Filters (from ``wording``): ``week_dates``, ``weeks_dates``, ``when`` (dates in English or Hindi,
``"hi"`` as argument), ``plural`` (``14|plural("district", "districts")``), ``names`` (``A, B and C``); and ``pct``.

Every message says it is automatic (RFC 3834 ``Auto-Submitted``; ``X-Auto-Response-Suppress`` for Exchange) so
that other robots do not answer it, and carries Hindi and English in the same body.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from jinja2 import ChoiceLoader, FileSystemLoader, PackageLoader, StrictUndefined, TemplateNotFound
from jinja2.sandbox import SandboxedEnvironment

from mailbot.compliance import Rate, WeeklyReport
from mailbot.districts import by_code
from mailbot.ladder import Notification, Outstanding
from mailbot.message import msg_id
from mailbot.summary import STATUS_COLOURS, STATUS_LABELS, QuarantineItem, quarantine_reason
from mailbot.template import report_workbook
from mailbot.weeks import Week
from mailbot.wording import day_text, names, plural, week_dates, weeks_dates, when_text

if TYPE_CHECKING:
    from mailbot.progress import Progress
    from mailbot.workbook import Problem

XLSX = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
ReplyKind = Literal["acknowledgement", "rejection", "partial"]
Fix = Literal["cells", "file", "resend", "attach"]

UNANSWERED_LISTED = 10  # unanswered messages listed in CEG's summary email; the workbook lists them all


@dataclass(frozen=True)
class InForce:
    """The figures in force for one district and week after an email was stored: the latest report received."""

    lgd_code: int
    figures: Mapping[str, int | None]  # workbook.FIGURES keys
    this_email: bool  # False when a report received later (processed earlier) stays in force
    received_at: datetime | None


@dataclass(frozen=True)
class InForceLine:
    name_en: str
    name_hi: str
    rural_target: int | None
    rural_opened: int | None
    urban_target: int | None
    urban_opened: int | None
    this_email: bool
    received: str  # when the report in force arrived, e.g. "Tue 24 Nov 2026 10:30 UTC"


def _in_force_line(f: InForce) -> InForceLine:
    d = by_code(f.lgd_code)
    return InForceLine(d.name_en, d.name_hi, f.figures.get("rural_target"), f.figures.get("rural_opened"),
                       f.figures.get("urban_target"), f.figures.get("urban_opened"), f.this_email,
                       f"{f.received_at:%a %d %b %Y %H:%M %Z}" if f.received_at else "")


@dataclass(frozen=True)
class IngestReply:
    """What ingestion decided about one DSP email; the service fills it from its transaction."""

    to: tuple[str, ...]  # ParsedMessage.reply_to
    dsp_name: str
    original_subject: str
    original_message_id: str  # '' when the original had none: no In-Reply-To then
    week: Week | None  # None when the week could not be told
    accepted: tuple[int, ...]  # LGD codes stored
    problems: Sequence[Problem]  # errors and warnings, as parsed
    template_lgd_codes: tuple[int, ...] = ()  # attach a pre-filled template for these districts (e.g. a rejection)
    still_due: tuple[int, ...] = ()  # the DSP's districts with no accepted row for the week yet (receipts)
    in_force: tuple[InForce, ...] = ()  # the figures in force after this email, for the districts it reported

    @property
    def kind(self) -> ReplyKind:
        if not self.accepted:
            return "rejection"
        return "partial" if any(p.severity == "error" for p in self.problems) else "acknowledgement"


# --- what templates see -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DistrictLine:
    lgd_code: int
    name_en: str
    name_hi: str
    division: str
    dsp: str = ""
    status: str = ""  # a compliance status key; "" when not about a status
    status_en: str = ""
    status_hi: str = ""
    colour: str = ""  # background for the status, e.g. "#ffc7ce"
    weeks: tuple[str, ...] = ()  # weeks still outstanding, oldest first
    streak: int = 0


@dataclass(frozen=True)
class ProblemLine:
    severity: str
    where_en: str  # "file report.xlsx, sheet Sheet1, cell B7"
    where_hi: str
    message_en: str
    message_hi: str


@dataclass(frozen=True)
class ProgressLine:
    district: DistrictLine
    opened: int
    target: int
    achievement: str  # "42.0%" or "-"
    gap: int
    increase: str  # "+12", "0", or "" when not known (no figures for the week before)
    b2c_uptake: str  # "20.0%", or "" when not known (no functional / B2C figures)
    stalled_weeks: int
    below_threshold: bool
    no_progress: bool
    dsps: tuple[str, ...] = ()  # the DSPs assigned to the district
    figures_week: Week | None = None  # set when the figures are a DSP's last report, from before this week
    stalled_dsps: tuple[str, ...] = ()  # the DSPs whose own count has not risen (with no_progress)


@dataclass(frozen=True)
class RateLine:
    name: str
    expected: int
    reported: int
    on_time: int
    outstanding: int
    reporting: str  # "93.3%"
    on_time_rate: str
    colour: str  # green when everything arrived, amber when some is late or pending, red when any is missing


def district_line(lgd_code: int, **fields: Any) -> DistrictLine:
    d = by_code(lgd_code)
    return DistrictLine(lgd_code, d.name_en, d.name_hi, d.division, **fields)


def _status_fields(status: str) -> dict[str, str]:
    en, hi = STATUS_LABELS[status]
    return {"status": status, "status_en": en, "status_hi": hi, "colour": STATUS_COLOURS[status]}


def _outstanding_line(o: Outstanding) -> DistrictLine:
    weeks = tuple(str(w) for w in o.missing_weeks)
    return district_line(o.lgd_code, dsp=o.dsp, weeks=weeks, streak=o.streak, **_status_fields(o.status))


def _problem_line(p: Problem) -> ProblemLine:
    en = [
        f"file {p.file}" if p.file else "",
        f"sheet {p.sheet}" if p.sheet else "",
        f"cell {p.cell}" if p.cell else "",
    ]
    hi = [
        f"फ़ाइल {p.file}" if p.file else "",
        f"शीट {p.sheet}" if p.sheet else "",
        f"सेल {p.cell}" if p.cell else "",
    ]
    return ProblemLine(
        p.severity, ", ".join(x for x in en if x), ", ".join(x for x in hi if x), p.message, p.message_hi
    )


def _district_lines(lgd_codes: Sequence[int]) -> list[DistrictLine]:
    return [district_line(code) for code in sorted(lgd_codes, key=lambda c: by_code(c).name_en)]


def _what_to_fix(problems: Sequence[Problem]) -> Fix:
    """What a rejected DSP must do: mend named cells, mend the file, or send again (with a file attached)."""
    if any(p.cell for p in problems):
        return "cells"
    if any(p.sheet for p in problems):
        return "file"  # the file was read; its problems are not in one cell (no week-ending date, no table)
    if any(p.code == "sender_not_authenticated" for p in problems):
        return "resend"
    return "attach"  # nothing attached, or nothing that could be opened


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _progress_line(p: Progress) -> ProgressLine:
    inc = "" if p.increase is None else f"{p.increase:+d}" if p.increase else "0"
    return ProgressLine(
        district_line(p.lgd_code),
        p.opened,
        p.target,
        pct(p.achievement),
        p.gap,
        inc,
        "" if p.b2c_uptake is None else pct(p.b2c_uptake),
        p.stalled_weeks,
        "below_threshold" in p.lag_reasons,
        "no_progress" in p.lag_reasons,
        tuple(p.dsps),
        p.figures_week if p.carried_forward else None,
        tuple(p.stalled_dsps),
    )


def _rate_line(name: str, r: Rate) -> RateLine:
    outstanding = r.missing + r.invalid
    colour = STATUS_COLOURS["on_time" if r.on_time == r.expected else "missing" if outstanding else "late"]
    return RateLine(
        name,
        r.expected,
        r.reported,
        r.on_time,
        outstanding,
        pct(r.reporting_rate),
        pct(r.on_time_rate),
        colour,
    )


def _set_subject(msg: EmailMessage, subject: str) -> None:
    """Python's header folder (3.11) puts each Hindi word in its own encoded-word, and readers drop the spaces
    between encoded-words (RFC 2047 6.2): "जन सेवा" arrives as "जनसेवा". ``Header`` keeps the spaces inside."""
    if subject.isascii():
        msg["Subject"] = subject
    else:
        msg.set_raw("Subject", Header(subject, "utf-8", header_name="Subject").encode())


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-") or "DSP"


# --- the composer -------------------------------------------------------------------------------------------


class Composer:
    def __init__(self, templates_dir: Path | None, from_address: str, from_name: str = "CEG mailbot") -> None:
        loaders: list[Any] = [PackageLoader("mailbot", "templates")]
        if templates_dir is not None:
            loaders.insert(0, FileSystemLoader(str(templates_dir)))
        # Sandboxed: the templates are files CEG staff edit, not code we review.
        self.env = SandboxedEnvironment(
            loader=ChoiceLoader(loaders),
            autoescape=lambda name: bool(name and name.endswith(".html")),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self.env.filters["pct"] = pct
        self.env.filters["week_dates"] = week_dates  # {{ "2026-W47"|week_dates("hi") }}
        self.env.filters["weeks_dates"] = weeks_dates  # {{ d.weeks|weeks_dates }}
        self.env.filters["when"] = when_text
        self.env.filters["plural"] = plural  # {{ n|plural("district", "districts") }}
        self.env.filters["names"] = names  # {{ ["A", "B"]|names("hi") }}
        self.from_address = from_address
        self.from_name = from_name

    def new_message_id(self) -> str:
        """A fresh Message-ID on the sender's domain; the caller stores it with the outbox row."""
        return make_msgid(domain=self.from_address.rpartition("@")[2] or None)

    # --- replies to a DSP's report --------------------------------------------------------------------------

    def ingest_reply(self, reply: IngestReply, *, now: datetime, message_id: str | None = None) -> EmailMessage:
        kind = reply.kind
        lines = [_problem_line(p) for p in reply.problems]
        context = {
            "dsp": reply.dsp_name,
            "original_subject": reply.original_subject,
            "accepted": _district_lines(reply.accepted),
            "still_due": _district_lines(reply.still_due),
            "in_force": [_in_force_line(f) for f in sorted(reply.in_force, key=lambda f: by_code(f.lgd_code).name_en)],
            "errors": [line for line in lines if line.severity == "error"],
            "warnings": [line for line in lines if line.severity != "error"],
            "fix": _what_to_fix(reply.problems),
            "template_attached": bool(reply.template_lgd_codes and reply.week is not None),
            **self._week_vars(reply.week),
        }
        msg = self._message(
            kind, context=context, to=reply.to, cc=(), now=now, message_id=message_id, auto="auto-replied"
        )
        original = msg_id(reply.original_message_id)  # a stranger's value: only a well-formed <id@host> is copied
        if original:
            msg["In-Reply-To"] = original
            msg["References"] = original
        if reply.template_lgd_codes and reply.week is not None:
            self._attach_template(msg, reply.dsp_name, reply.week, reply.template_lgd_codes)
        return msg

    # --- the escalation ladder ------------------------------------------------------------------------------

    def notification(
        self,
        n: Notification,
        *,
        now: datetime,
        message_id: str | None = None,
        summary_xlsx: bytes | None = None,
        unanswered: Sequence[QuarantineItem] = (),
    ) -> EmailMessage:
        """The email for one ladder step. A summary needs ``summary_xlsx`` (summary.build_workbook) and the
        week's unanswered messages (the first few are listed); a reminder gets its pre-filled template here."""
        context: dict[str, Any] = {"dsp": n.dsp or "", **self._week_vars(n.week, n.context.get("deadline"))}
        if n.kind in ("reminder", "overdue"):
            context["districts"] = [_outstanding_line(o) for o in n.context["districts"]]
        elif n.kind in ("escalation", "action_alert"):
            context["district"] = district_line(n.context["lgd_code"])
            context["dsps"] = [_outstanding_line(o) for o in n.context["dsps"]]
            context["no_degs_address"] = n.context["no_degs_address"]
            context["contacts"] = n.context.get("contacts", {})
            if n.kind == "action_alert":
                progress = _progress_line(n.context["progress"])
                context["threshold"] = n.context["threshold"]
                context["progress"] = progress
                # Whom the DEGS acts against: the DSPs long out, every DSP of a district far below its target, and
                # the DSPs whose own count has stalled (not one that is growing or has met its target).
                against = {d.dsp for d in context["dsps"]} | set(progress.stalled_dsps)
                if progress.below_threshold:
                    against |= set(progress.dsps)
                context["against"] = sorted(against)
        elif n.kind == "summary":
            if summary_xlsx is None:
                raise ValueError("a summary email needs its workbook (summary_xlsx)")
            context.update(self._summary_vars(n.context["report"], unanswered))
        else:
            raise ValueError(f"not a ladder notification: {n.kind}")
        msg = self._message(
            n.kind, context=context, to=n.to, cc=n.cc, now=now, message_id=message_id, auto="auto-generated"
        )
        if n.kind == "reminder" and n.dsp is not None:
            self._attach_template(msg, n.dsp, n.week, n.lgd_codes)
        if summary_xlsx is not None and n.kind == "summary":
            msg.add_attachment(summary_xlsx, *XLSX, filename=f"JSK-weekly-summary-{n.week}.xlsx")
        return msg

    def auth_failure(
        self, to: Sequence[str], text: str, *, now: datetime, message_id: str | None = None
    ) -> EmailMessage:
        """Tell the operator that mailbot cannot log in. ``text`` comes from the caller: no secrets in it."""
        return self._message(
            "auth_failure",
            context={"text": text},
            to=tuple(to),
            cc=(),
            now=now,
            message_id=message_id,
            auto="auto-generated",
        )

    def operator_alert(
        self, to: Sequence[str], title: str, text: str, *, now: datetime, message_id: str | None = None
    ) -> EmailMessage:
        """Anything else the operator must fix (a broken roster, a server down for hours). No secrets in ``text``."""
        return self._message(
            "operator_alert",
            context={"title": title, "text": text},
            to=tuple(to),
            cc=(),
            now=now,
            message_id=message_id,
            auto="auto-generated",
        )

    # --- helpers --------------------------------------------------------------------------------------------

    def _week_vars(self, week: Week | None, due: datetime | None = None) -> dict[str, Any]:
        """``week`` stays the ISO name (for brackets in subjects, and CEG's own templates); readers get
        ``week_en`` / ``week_hi``, the week's dates."""
        return {
            "week": str(week) if week else "",
            "week_en": week_dates(week) if week else "",
            "week_hi": week_dates(week, "hi") if week else "",
            "week_start": day_text(week.monday) if week else "",
            "week_end": day_text(week.sunday) if week else "",
            "deadline": when_text(due) if due else "",
            "deadline_short": when_text(due, short=True, year=False) if due else "",
            "deadline_hi": when_text(due, "hi") if due else "",
            "deadline_hi_short": when_text(due, "hi", year=False) if due else "",
        }

    def _summary_vars(self, report: WeeklyReport, unanswered: Sequence[QuarantineItem]) -> dict[str, Any]:
        rates = report.week_rates
        outstanding = [
            district_line(
                c.lgd_code,
                dsp=c.dsp,
                streak=report.missing_streaks.get((c.dsp, c.lgd_code), 0),
                **_status_fields(c.status),
            )
            for c in report.cells
            if c.status not in ("on_time", "late")
        ]
        outstanding.sort(key=lambda d: (d.name_en, d.dsp))
        lagging = sorted((_progress_line(p) for p in report.progress if p.lagging), key=lambda p: p.district.name_en)
        return {
            "as_of": when_text(report.as_of.astimezone(report.deadline.tzinfo)),
            "as_of_hi": when_text(report.as_of.astimezone(report.deadline.tzinfo), "hi"),
            "statewide": _rate_line("Uttar Pradesh", rates.statewide),
            "dsp_rates": [_rate_line(name, r) for name, r in rates.by_dsp.items()],
            "division_rates": [_rate_line(name, r) for name, r in rates.by_division.items()],
            "trend": [(w.week, pct(w.statewide.reporting_rate)) for w in report.rates],
            "outstanding": outstanding,
            "lagging": lagging,
            "quarantined": len(unanswered),
            # The first few, so CEG sees at a glance whether a DSP wrote from an address not in the roster.
            "unanswered": [
                {"sender": q.sender or "(no sender)", "subject": q.subject or "(no subject)",
                 "received": when_text(q.received.astimezone(report.deadline.tzinfo), short=True) if q.received else "",
                 "reason": quarantine_reason(q.reason)}
                for q in unanswered[:UNANSWERED_LISTED]
            ],
        }

    def _render(self, name: str, context: Mapping[str, Any]) -> str | None:
        try:
            template = self.env.get_template(name)
        except TemplateNotFound:
            return None
        return template.render(context)

    def _message(
        self,
        kind: str,
        *,
        context: Mapping[str, Any],
        to: tuple[str, ...],
        cc: tuple[str, ...],
        now: datetime,
        message_id: str | None,
        auto: str,
    ) -> EmailMessage:
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        context = {"from_name": self.from_name, **context}
        subject = self._render(f"{kind}.subject.txt", context)
        text = self._render(f"{kind}.txt", context)
        if subject is None or text is None:
            raise TemplateNotFound(f"{kind}.subject.txt / {kind}.txt")
        html = self._render(f"{kind}.html", context)
        msg = EmailMessage()
        msg["From"] = formataddr((self.from_name, self.from_address))
        msg["To"] = ", ".join(to)
        if cc:
            msg["Cc"] = ", ".join(cc)
        _set_subject(msg, " ".join(subject.split()))  # one line, whatever the template's whitespace
        msg["Date"] = format_datetime(now)
        msg["Message-ID"] = message_id or self.new_message_id()
        msg["Auto-Submitted"] = auto
        msg["X-Auto-Response-Suppress"] = "All"
        msg["X-Mailbot-Kind"] = kind  # lets CEG's mail rules sort receipts, reminders and summaries
        # base64: Hindi text survives any relay, with or without 8BITMIME.
        msg.set_content(text, charset="utf-8", cte="base64")
        if html is not None:
            msg.add_alternative(html, subtype="html", charset="utf-8", cte="base64")
        return msg

    def _attach_template(self, msg: EmailMessage, dsp: str, week: Week, lgd_codes: Sequence[int]) -> None:
        content = report_workbook(dsp, week, sorted(lgd_codes, key=lambda c: by_code(c).name_en))
        msg.add_attachment(content, *XLSX, filename=f"JSK-weekly-report-{week}-{_slug(dsp)}.xlsx")

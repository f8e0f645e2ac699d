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
from collections import Counter
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

from mailbot.compliance import Rate, Status, WeeklyReport
from mailbot.districts import by_code
from mailbot.ladder import Notification, Outstanding
from mailbot.statemap import MAP_COLOURS, PATTERNS, district_statuses, map_size, status_map, worst
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
DSP_WEEKS = 12  # weeks of per-DSP reporting in CEG's summary email
MAP_DISPLAY_WIDTH = 380  # px: the map's cell beside the legend in a 640 px email; phones shrink it to fit


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


_PATTERN_WORDS = {"": "plain", "lines": "striped", "diagonal": "diagonal stripes", "crosshatch": "cross-hatched"}
_TROUBLE_ORDER = ("missing", "invalid", "late", "pending")


def _display_size(size: tuple[int, int], width: int = MAP_DISPLAY_WIDTH) -> tuple[int, int]:
    """The <img> tag's width and height: clients that ignore CSS (Outlook) draw the picture at this size."""
    return width, round(size[1] * width / size[0])


def _lower_first(text: str) -> str:
    """A reason continuing a sentence: ``Shreetron: all 16 — the file could not be read``."""
    return text[:1].lower() + text[1:]


def _whole_pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def _previous_rates(report: WeeklyReport) -> tuple[Week, Rate] | None:
    """Last week's statewide rate, when anything was expected then (none in the first week)."""
    if len(report.rates) < 2 or not report.rates[-2].statewide.expected:
        return None
    return report.rates[-2].week, report.rates[-2].statewide


def _points(now: float | None, before: float | None) -> str:
    if now is None or before is None:
        return ""
    diff = round((now - before) * 100)
    return f"{diff:+d}" if diff else "±0"


def _change(now: Rate, before: Rate | None) -> dict[str, str]:
    """Percentage points against last week, signed (``+5``, ``-3``, ``±0``); empty strings in the first week."""
    if before is None:
        return {"reporting": "", "on_time": ""}
    return {"reporting": _points(now.reporting_rate, before.reporting_rate),
            "on_time": _points(now.on_time_rate, before.on_time_rate)}


def _trouble(report: WeeklyReport, rejections: Mapping[str, str]) -> list[dict[str, Any]]:
    """The DSPs with a district not on time, grouped by what went wrong (missing, invalid, late, pending), each
    with its districts and, for invalid ones, why the report was refused."""
    groups: dict[str, dict[str, list[int]]] = {s: {} for s in _TROUBLE_ORDER}
    for c in report.cells:
        if c.status in groups:
            groups[c.status].setdefault(c.dsp, []).append(c.lgd_code)
    owed = Counter(c.dsp for c in report.cells)
    out: list[dict[str, Any]] = []
    for status in _TROUBLE_ORDER:
        if not groups[status]:
            continue
        en, hi = STATUS_LABELS[status]
        dsps: list[dict[str, Any]] = []
        for dsp, codes in sorted(groups[status].items(), key=lambda item: (-len(item[1]), item[0])):
            lines = _district_lines(codes)
            streak = max(report.missing_streaks.get((dsp, code), 0) for code in codes)
            dsps.append({
                "dsp": dsp, "count": len(codes), "all": len(codes) == owed[dsp], "owed": owed[dsp],
                "districts_en": names([d.name_en for d in lines]),
                "districts_hi": names([d.name_hi for d in lines], "hi"),
                "streak": streak if status in ("missing", "invalid") else 0,
                "reason": _lower_first(rejections.get(dsp, "")) if status == "invalid" else "",
            })
        out.append({"status": status, "en": en, "hi": hi, "colour": STATUS_COLOURS[status],
                    "map_colour": MAP_COLOURS[status], "count": sum(d["count"] for d in dsps), "dsps": dsps})
    return out


def _dsp_weeks(report: WeeklyReport) -> list[dict[str, Any]]:
    """Per DSP, its last weeks (oldest first): the share of its districts reported, coloured by the worst status
    of the week; a blank cell where nothing was owed."""
    weeks = report.weeks[-DSP_WEEKS:]
    offset = len(report.weeks) - len(weeks)
    by_dsp: dict[str, list[list[Status]]] = {}
    for (dsp, _), history in report.history.items():
        per_week = by_dsp.setdefault(dsp, [[] for _ in weeks])
        for i, owed in enumerate(history[offset:]):
            if owed is not None:
                per_week[i].append(owed)
    rows = []
    for dsp in sorted(by_dsp):
        cells = []
        for week, statuses in zip(weeks, by_dsp[dsp], strict=True):
            if not statuses:
                cells.append({"week": week_dates(week, year=False), "text": "", "colour": "#ffffff", "status": ""})
                continue
            rate = Rate.of(statuses)
            status = worst(statuses)
            cells.append({"week": week_dates(week, year=False), "text": _whole_pct(rate.reporting_rate).rstrip("%"),
                          "colour": STATUS_COLOURS[status], "status": STATUS_LABELS[status][0]})
        rate_now = report.week_rates.by_dsp.get(dsp, Rate())
        rows.append({"dsp": dsp, "reported": rate_now.reported, "expected": rate_now.expected,
                     "reporting": _whole_pct(rate_now.reporting_rate), "cells": cells})
    return rows


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
            "errors": [line for line in lines if line.severity == "error"],
            "warnings": [line for line in lines if line.severity != "error"],
            "fix": _what_to_fix(reply.problems),
            "template_attached": bool(reply.template_lgd_codes and reply.week is not None),
            **self._week_vars(reply.week),
        }
        msg = self._message(
            kind, context=context, to=reply.to, cc=(), now=now, message_id=message_id, auto="auto-replied"
        )
        if reply.original_message_id:
            msg["In-Reply-To"] = reply.original_message_id
            msg["References"] = reply.original_message_id
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
        rejections: Mapping[str, str] | None = None,
    ) -> EmailMessage:
        """The email for one ladder step. A summary needs ``summary_xlsx`` (summary.build_workbook) and the
        week's unanswered messages (the first few are listed), and may name why each DSP's report was refused
        (``rejections``: DSP -> reason); a reminder gets its pre-filled template here."""
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
            context.update(self._summary_vars(n.context["report"], unanswered, rejections or {}))
            # The map goes inside the HTML (multipart/related): every mail client shows a CID image, few show
            # data: URIs and none should fetch a remote one.
            domain = self.from_address.rpartition("@")[2] or "mailbot"
            context["map_cid"] = f"statemap.{n.week.year}{n.week.number:02d}@{domain}"  # bodies never show "2026-W"
        else:
            raise ValueError(f"not a ladder notification: {n.kind}")
        msg = self._message(
            n.kind, context=context, to=n.to, cc=n.cc, now=now, message_id=message_id, auto="auto-generated"
        )
        if n.kind == "reminder" and n.dsp is not None:
            self._attach_template(msg, n.dsp, n.week, n.lgd_codes)
        if n.kind == "summary":
            self._attach_map(msg, context["map_cid"], context["map_statuses"], str(n.week))
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

    def _summary_vars(
        self, report: WeeklyReport, unanswered: Sequence[QuarantineItem], rejections: Mapping[str, str]
    ) -> dict[str, Any]:
        """The week at a glance first (figures with the change, who is in trouble and why, the map), details after."""
        rates = report.week_rates
        tz = report.deadline.tzinfo
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
        map_statuses = district_statuses((c.lgd_code, c.status) for c in report.cells)
        counts = Counter(map_statuses.values())
        previous = _previous_rates(report)
        return {
            "as_of": when_text(report.as_of.astimezone(tz)),
            "as_of_hi": when_text(report.as_of.astimezone(tz), "hi"),
            "week_short": week_dates(report.week, year=False),
            "statewide": _rate_line("Uttar Pradesh", rates.statewide),
            "reporting_whole": _whole_pct(rates.statewide.reporting_rate),
            "on_time_whole": _whole_pct(rates.statewide.on_time_rate),
            "change": _change(rates.statewide, previous[1] if previous else None),
            "previous_week_en": week_dates(previous[0], year=False) if previous else "",
            "previous_week_hi": week_dates(previous[0], "hi", year=False) if previous else "",
            "trouble": _trouble(report, rejections),
            "map_statuses": map_statuses,
            "map_cid": "",  # set by notification(), which attaches the picture
            "map_size": _display_size(map_size()),
            "legend": [
                {"status": s, "en": STATUS_LABELS[s][0], "hi": STATUS_LABELS[s][1], "colour": MAP_COLOURS[s],
                 "pattern": _PATTERN_WORDS[PATTERNS[s]], "count": counts.get(s, 0)}
                for s in MAP_COLOURS
                if counts.get(s, 0) or s != "pending"
            ],
            "dsp_weeks": _dsp_weeks(report),
            "dsp_rates": [_rate_line(name, r) for name, r in rates.by_dsp.items()],
            "division_rates": [_rate_line(name, r) for name, r in rates.by_division.items()],
            "trend": [(w.week, pct(w.statewide.reporting_rate)) for w in report.rates],
            "outstanding": outstanding,
            "lagging": lagging,
            "quarantined": len(unanswered),
            # The first few, so CEG sees at a glance whether a DSP wrote from an address not in the roster.
            "unanswered": [
                {"sender": q.sender or "(no sender)", "subject": q.subject or "(no subject)",
                 "received": when_text(q.received.astimezone(tz), short=True) if q.received else "",
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

    def _attach_map(self, msg: EmailMessage, cid: str, statuses: Mapping[int, str], week: str) -> None:
        html = msg.get_body(preferencelist=("html",))
        png = status_map(statuses)
        if html is None:  # CEG's own templates may have dropped the HTML part: attach the picture instead
            msg.add_attachment(png, "image", "png", filename=f"JSK-map-{week}.png")
            return
        html.add_related(png, "image", "png", cid=f"<{cid}>", filename=f"JSK-map-{week}.png", disposition="inline")

    def _attach_template(self, msg: EmailMessage, dsp: str, week: Week, lgd_codes: Sequence[int]) -> None:
        content = report_workbook(dsp, week, sorted(lgd_codes, key=lambda c: by_code(c).name_en))
        msg.add_attachment(content, *XLSX, filename=f"JSK-weekly-report-{week}-{_slug(dsp)}.xlsx")

"""What a DSP reads: the receipt, partial acceptance or rejection of its email (``IngestReply``), and the overdue
notice's lines. ``compose.Composer`` renders them; the names are importable from ``compose`` too. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from mailbot.compose_views import DistrictLine
from mailbot.districts import by_code
from mailbot.weeks import Week

if TYPE_CHECKING:
    from mailbot.workbook import Problem


ReplyKind = Literal["acknowledgement", "rejection", "partial"]
Fix = Literal["cells", "file", "resend", "attach"]


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
    received_at: datetime | None  # when the report in force arrived (``when`` filter: ``f.received_at|when``)


def in_force_line(f: InForce) -> InForceLine:
    d = by_code(f.lgd_code)
    return InForceLine(
        d.name_en,
        d.name_hi,
        f.figures.get("rural_target"),
        f.figures.get("rural_opened"),
        f.figures.get("urban_target"),
        f.figures.get("urban_opened"),
        f.this_email,
        f.received_at,
    )


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
    cc: tuple[str, ...] = ()  # the DSP's other roster contacts: a (partial) rejection's reasons reach them too
    deadline: datetime | None = None  # the week's report deadline (local time), when known
    late: bool = False  # received after ``deadline``: the report counts as late
    targets: Mapping[int, Mapping[str, int | str]] | None = None  # last reported targets, for the template

    @property
    def kind(self) -> ReplyKind:
        if not self.accepted:
            return "rejection"
        return "partial" if any(p.severity == "error" for p in self.problems) else "acknowledgement"


@dataclass(frozen=True)
class ProblemLine:
    severity: str
    where_en: str  # "file report.xlsx, sheet Sheet1, cell B7"
    where_hi: str
    message_en: str
    message_hi: str
    place_en: str = ""  # "file report.xlsx, sheet Sheet1": said once above the problems found there
    place_hi: str = ""
    cell: str = ""  # "B7"


def problem_line(p: Problem) -> ProblemLine:
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
        p.severity,
        ", ".join(x for x in en if x),
        ", ".join(x for x in hi if x),
        p.message,
        p.message_hi,
        ", ".join(x for x in en[:2] if x),
        ", ".join(x for x in hi[:2] if x),
        p.cell,
    )


def what_to_fix(problems: Sequence[Problem]) -> Fix:
    """What a rejected DSP must do: mend named cells, mend the file, or send again (with a file attached)."""
    if any(p.cell for p in problems):
        return "cells"
    if any(p.sheet for p in problems):
        return "file"  # the file was read; its problems are not in one cell (no week-ending date, no table)
    if any(p.code == "sender_not_authenticated" for p in problems):
        return "resend"
    return "attach"  # nothing attached, or nothing that could be opened


def overdue_causes(districts: Sequence[DistrictLine], reason: str) -> list[dict[str, Any]]:
    """The overdue notice's lines: one per cause (not received, refused) and run of weeks missing, not one per
    district (a DSP with 16 districts out read 16 identical lines). Not received first; names in name order."""
    groups: dict[tuple[str, tuple[str, ...]], list[DistrictLine]] = {}
    for d in sorted(districts, key=lambda d: (d.status != "missing", d.name_en)):
        groups.setdefault((d.status, d.weeks), []).append(d)
    return [
        {
            "status": status,
            "weeks": weeks,
            "districts": ds,
            "reason": reason if status == "invalid" else "",
            "names_en": ", ".join(d.name_en for d in ds),
            "names_hi": ", ".join(d.name_hi for d in ds),
        }
        for (status, weeks), ds in groups.items()
    ]

"""What templates see, for every audience: a district, its progress, a rate, as view dataclasses (``*Line``) with
their words and colours (``compose`` and its ``compose_dsp`` / ``compose_summary`` parts build them). Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mailbot.compliance import Rate
from mailbot.districts import by_code
from mailbot.ladder import Outstanding
from mailbot.summary import STATUS_COLOURS, STATUS_LABELS
from mailbot.weeks import Week

if TYPE_CHECKING:
    from mailbot.progress import Progress


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


def status_fields(status: str) -> dict[str, str]:
    en, hi = STATUS_LABELS[status]
    return {"status": status, "status_en": en, "status_hi": hi, "colour": STATUS_COLOURS[status]}


def outstanding_line(o: Outstanding) -> DistrictLine:
    weeks = tuple(str(w) for w in o.missing_weeks)
    return district_line(o.lgd_code, dsp=o.dsp, weeks=weeks, streak=o.streak, **status_fields(o.status))


def district_lines(lgd_codes: Sequence[int]) -> list[DistrictLine]:
    return [district_line(code) for code in sorted(lgd_codes, key=lambda c: by_code(c).name_en)]


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def whole_pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def progress_line(p: Progress) -> ProgressLine:
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


def rate_line(name: str, r: Rate) -> RateLine:
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

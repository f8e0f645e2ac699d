"""The world ``mailbot demo`` simulates: five DSPs covering all 75 districts, and one reporting week of mail.

Deterministic (a fixed seed): every run tells the same story, so the README and the tests can rely on it.

The week is 2026-W47 (Monday 16 to Sunday 22 November 2026); reports are due Monday 23 November 12:00 IST.

    CMS Computers   on time, Sunday evening
    Srei Sahaj      on time, Monday morning, and the same email again ten minutes later (counted once)
    SRMES           late: Monday 17:30, after the reminder and the overdue notice
    UPDESCO         on time but flawed: one district misspelt beyond recognition, one left out
    Shreetron       a damaged workbook, never corrected: rejected, then escalated to the DEGS
    plus            a report from an address nobody knows, and an out-of-office auto-reply
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl

from mailbot.districts import District, all_districts, divisions
from mailbot.mailbuilder import FilePart, build_email
from mailbot.weeks import Week
from mailbot.workbook.template import report_workbook

IST = ZoneInfo("Asia/Kolkata")
WEEK = Week(2026, 47)
CEG_MAILBOX = "jsk-reports@ceg-up.example"
CEG_STAFF = ("jsk-monitoring@ceg-up.example",)
OPERATOR = "mailbot-admin@ceg-up.example"
UNKNOWN_DISTRICT = "Gotham Nagar"  # matches no district: a typo no fuzzy match should rescue


@dataclass(frozen=True)
class DemoDsp:
    name: str
    sender: str
    contact: str
    domain: str


DSPS: tuple[DemoDsp, ...] = (
    DemoDsp(
        "CMS Computers", "jsk.reports@cms-computers.example", "up.jsk@cms-computers.example", "cms-computers.example"
    ),
    DemoDsp("Srei Sahaj", "mis@sreisahaj.example", "ops.up@sreisahaj.example", "sreisahaj.example"),
    DemoDsp("SRMES", "srmes.upjsk@gmail.example", "srmes.upjsk@gmail.example", "gmail.example"),
    DemoDsp("UPDESCO", "jsk@updesco.example", "md.office@updesco.example", "updesco.example"),
    DemoDsp("Shreetron", "reports@shreetron.example", "jsk.cell@shreetron.example", "shreetron.example"),
)


@dataclass(frozen=True)
class Arrival:
    """One message the simulation delivers to the inbox at ``at``."""

    at: datetime
    raw: bytes
    label: str  # what it is, for the demo's narration


def assignments() -> dict[str, tuple[District, ...]]:
    """DSP name -> districts: whole divisions dealt out in turn, so every district has exactly one DSP."""
    by_division: dict[str, list[District]] = {d: [] for d in divisions()}
    for district in all_districts():
        by_division[district.division].append(district)
    shares: dict[str, list[District]] = {dsp.name: [] for dsp in DSPS}
    # Largest divisions first, each to the DSP with the fewest districts so far: shares come out even.
    for division in sorted(by_division, key=lambda d: (-len(by_division[d]), d)):
        lightest = min(shares, key=lambda name: (len(shares[name]), name))
        shares[lightest].extend(by_division[division])
    return {name: tuple(sorted(ds, key=lambda d: d.name_en)) for name, ds in shares.items()}


def degs_address(district: District) -> str:
    slug = "".join(c for c in district.name_en.lower() if c.isalnum())
    return f"edm.{slug}@degs-up.example"


def write_roster(folder: Path) -> Path:
    """The roster as the CSV folder ``roster.load_roster`` reads (dsps.csv, assignments.csv, degs.csv)."""
    folder.mkdir(parents=True, exist_ok=True)
    start = WEEK.monday  # contracts begin with WEEK: it is the only week reported on
    _write_csv(
        folder / "dsps.csv",
        ["DSP", "Sender addresses", "Contact addresses"],
        [[d.name, d.sender, d.contact] for d in DSPS],
    )
    _write_csv(
        folder / "assignments.csv",
        ["DSP", "District", "Start date", "End date"],
        [[dsp, d.name_en, start.strftime("%d/%m/%Y"), ""] for dsp, ds in assignments().items() for d in ds],
    )
    _write_csv(folder / "degs.csv", ["District", "Addresses"], [[d.name_en, degs_address(d)] for d in all_districts()])
    return folder


def _write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")


def figures(districts: Sequence[District], rng: random.Random) -> dict[int, dict[str, int | str]]:
    """Plausible cumulative figures: targets near the district's gram panchayat count, 45-95% opened."""
    out: dict[int, dict[str, int | str]] = {}
    for district in districts:
        rural_target = rng.randrange(500, 1400, 10)
        urban_target = rng.randrange(40, 240, 5)
        rural_opened = int(rural_target * rng.uniform(0.45, 0.95))
        urban_opened = int(urban_target * rng.uniform(0.4, 0.9))
        functional = int((rural_opened + urban_opened) * rng.uniform(0.8, 0.97))
        out[district.lgd_code] = {
            "rural_target": rural_target,
            "rural_opened": rural_opened,
            "urban_target": urban_target,
            "urban_opened": urban_opened,
            "opened_this_week": rng.randrange(0, 25),
            "functional": functional,
            "transacting": int(functional * rng.uniform(0.6, 0.9)),
            "b2c_enabled": int(functional * rng.uniform(0.1, 0.5)),
        }
    return out


def _at(day_offset: int, hh: int, mm: int) -> datetime:
    """A moment counted from the Monday of WEEK, in IST."""
    return datetime.combine(WEEK.monday + timedelta(days=day_offset), time(hh, mm), tzinfo=IST)


def _report(dsp: DemoDsp, districts: Sequence[District], rng: random.Random) -> bytes:
    return report_workbook(dsp.name, WEEK, [d.lgd_code for d in districts], figures(districts, rng))


def _rename_district(workbook: bytes, old: District, new_text: str) -> bytes:
    """The same workbook with one district retyped and its LGD code deleted, as a hurried clerk might."""
    book = openpyxl.load_workbook(io.BytesIO(workbook))
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if isinstance(cell.value, str) and cell.value.strip() in (old.name_en, old.name_hi):
                    cell.value = new_text
                    for other in row:  # the code would identify the district despite the name
                        if other.value == old.lgd_code:
                            other.value = None
                    out = io.BytesIO()
                    book.save(out)
                    return out.getvalue()
    raise ValueError(f"district {old.name_en} not found in the workbook")


def _mail(
    dsp: DemoDsp,
    when: datetime,
    attachments: Sequence[FilePart | tuple[str, bytes]],
    subject: str | None = None,
    body: str | None = None,
) -> bytes:
    return build_email(
        sender=f"{dsp.name} <{dsp.sender}>",
        to=CEG_MAILBOX,
        subject=subject or f"Weekly JSK progress report {WEEK} - {dsp.name}",
        body=body
        or f"Respected Sir/Madam,\n\nPlease find attached the district-wise weekly JSK progress "
        f"report for the week ending {WEEK.sunday:%d/%m/%Y}.\n\nRegards,\n{dsp.name}\n",
        attachments=attachments,
        date=when,
        message_id=f"<{WEEK}.{when:%d%H%M}.{dsp.domain.split('.')[0]}@{dsp.domain}>",
    )


def week_of_mail(seed: int = 2016) -> list[Arrival]:
    """Every message of the simulated week, in arrival order."""
    rng = random.Random(seed)  # noqa: S311 - made-up figures, not secrets
    shares = assignments()
    cms, srei, srmes, updesco, shreetron = DSPS
    arrivals: list[Arrival] = []

    when = _at(6, 19, 5)
    hindi_name = f"साप्ताहिक रिपोर्ट {WEEK}.xlsx"
    arrivals.append(
        Arrival(
            when,
            _mail(cms, when, [FilePart(hindi_name, _report(cms, shares[cms.name], rng))]),
            "CMS Computers: on time (Hindi file name)",
        )
    )

    when = _at(7, 9, 40)
    srei_book = _report(srei, shares[srei.name], rng)
    arrivals.append(Arrival(when, _mail(srei, when, [(f"Srei_Sahaj_{WEEK}.xlsx", srei_book)]), "Srei Sahaj: on time"))
    again = _at(7, 9, 50)
    arrivals.append(
        Arrival(
            again,
            _mail(
                srei,
                again,
                [(f"Srei_Sahaj_{WEEK}.xlsx", srei_book)],
                subject=f"Fwd: Weekly JSK progress report {WEEK} - Srei Sahaj",
            ),
            "Srei Sahaj: the same report sent again",
        )
    )

    when = _at(7, 10, 15)
    flawed, left_out = shares[updesco.name][:-1], shares[updesco.name][-1]
    book = _rename_district(_report(updesco, flawed, rng), flawed[0], UNKNOWN_DISTRICT)
    arrivals.append(
        Arrival(
            when,
            _mail(updesco, when, [(f"UPDESCO JSK report {WEEK}.xlsx", book)]),
            f"UPDESCO: on time, but '{UNKNOWN_DISTRICT}' for {flawed[0].name_en} and {left_out.name_en} left out",
        )
    )

    when = _at(7, 10, 30)
    stranger = DemoDsp("A stranger", "district.coordinator@gmail.example", "", "gmail.example")
    some = shares[cms.name][:3]
    arrivals.append(
        Arrival(when, _mail(stranger, when, [("report.xlsx", _report(stranger, some, rng))]), "an unknown sender")
    )

    when = _at(7, 11, 20)
    whole = _report(shreetron, shares[shreetron.name], rng)
    damaged = whole[: len(whole) // 2]  # cut off in transit, as a failed upload leaves it
    arrivals.append(
        Arrival(when, _mail(shreetron, when, [(f"Shreetron_{WEEK}.xlsx", damaged)]), "Shreetron: a damaged workbook")
    )

    when = _at(7, 13, 5)
    arrivals.append(
        Arrival(
            when,
            build_email(
                sender=f"SRMES Lucknow <{srmes.sender}>",
                to=CEG_MAILBOX,
                subject="Automatic reply: Weekly JSK report overdue",
                body="I am on leave till 25/11/2026. For urgent matters please call the office.\n",
                date=when,
                message_id=f"<ooo.{when:%d%H%M}@{srmes.domain}>",
                headers=[("Auto-Submitted", "auto-replied"), ("X-Auto-Response-Suppress", "All")],
            ),
            "SRMES: an out-of-office auto-reply",
        )
    )

    when = _at(7, 17, 30)
    arrivals.append(
        Arrival(
            when,
            _mail(
                srmes,
                when,
                [(f"SRMES-{WEEK}.xlsx", _report(srmes, shares[srmes.name], rng))],
                body="Sir, sorry for the delay. Report attached.\n",
            ),
            "SRMES: late",
        )
    )
    return sorted(arrivals, key=lambda a: a.at)


def expected_story() -> Mapping[str, str]:
    """How each DSP's districts should end up for WEEK, for the narration: DSP -> summary."""
    shares = assignments()
    updesco = shares["UPDESCO"]
    return {
        "CMS Computers": f"all {len(shares['CMS Computers'])} on time",
        "Srei Sahaj": f"all {len(shares['Srei Sahaj'])} on time (sent twice, counted once)",
        "SRMES": f"all {len(shares['SRMES'])} late",
        "UPDESCO": f"{len(updesco) - 2} on time; {updesco[0].name_en} and {updesco[-1].name_en} missing",
        "Shreetron": f"all {len(shares['Shreetron'])} rejected (damaged file), never corrected",
    }


def simulation_start() -> datetime:
    """Saturday 00:00 of WEEK: before the reminder (Sunday noon, a day before the deadline)."""
    return _at(5, 0, 0)


def simulation_end() -> datetime:
    """Wednesday 18:00 after WEEK: past the escalation (deadline + 2 days) and the Tuesday summary."""
    return _at(9, 18, 0)

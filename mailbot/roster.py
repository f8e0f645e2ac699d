"""The roster CEG keeps: which DSP reports for which districts, from which addresses, and who hears about it.

Pure: a path in, a ``Roster`` out. CEG staff edit it in Excel, either one workbook with the sheets
``DSPs`` (DSP, Sender addresses, Contact addresses), ``Assignments`` (DSP, District, Start date, End date)
and ``DEGS`` (District, Addresses), or a folder with ``dsps.csv``, ``assignments.csv`` and ``degs.csv``
holding the same columns. Everything wrong with it is collected and raised together as one RosterError,
each problem naming the file, sheet and row, so one round of corrections fixes the lot.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
import warnings
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any

import openpyxl
from openpyxl.styles import Font

from mailbot.address import plain_address
from mailbot.districts import DistrictMatchError, all_districts, match_district, normalise
from mailbot.errors import FixNeeded
from mailbot.weeks import Week
from mailbot.workbook.cells import parse_date


@dataclass(frozen=True)
class Dsp:
    name: str
    sender_addresses: frozenset[str]  # case-folded; a report from one of these is this DSP's
    contact_addresses: tuple[str, ...]  # where replies and reminders go; the senders when none given


@dataclass(frozen=True)
class Assignment:
    dsp: str
    lgd_code: int
    start: date
    end: date | None  # inclusive; None while the contract runs

    def active_in(self, week: Week) -> bool:
        """True when the assignment covers at least one day of the week (Monday to Sunday)."""
        return self.start <= week.sunday and (self.end is None or self.end >= week.monday)


@dataclass(frozen=True)
class Roster:
    dsps: tuple[Dsp, ...]
    assignments: tuple[Assignment, ...]
    degs: Mapping[int, tuple[str, ...]]  # LGD code -> the DEGS addresses of that district

    @cached_property
    def _by_sender(self) -> Mapping[str, Dsp]:
        # Reminders go to the contact addresses, and people answer them with the report: a contact address
        # counts as a sender too, unless it is another DSP's sender, the contact of several DSPs or a DEGS's.
        owners: dict[str, dict[str, Dsp]] = {}  # contact address -> the DSPs (by name) that list it
        for dsp in self.dsps:
            for address in dsp.contact_addresses:
                owners.setdefault(address.casefold(), {})[dsp.name] = dsp
        found = {address: next(iter(dsps.values())) for address, dsps in owners.items() if len(dsps) == 1}
        found.update({address: dsp for dsp in self.dsps for address in dsp.sender_addresses})
        # A DEGS address listed for a DSP (to keep an EDM informed) must not make its replies DSP reports.
        return {address: dsp for address, dsp in found.items() if address not in self._degs_addresses}

    @cached_property
    def _degs_addresses(self) -> frozenset[str]:
        return frozenset(address.casefold() for addresses in self.degs.values() for address in addresses)

    def degs_addresses_of_dsps(self) -> tuple[tuple[str, str], ...]:
        """(address, DSP) for each DEGS address also given as a DSP's sender or contact: it never counts as one."""
        both = {(a.casefold(), d.name) for d in self.dsps for a in (*d.sender_addresses, *d.contact_addresses)}
        return tuple(sorted((a, dsp) for a, dsp in both if a in self._degs_addresses))

    @cached_property
    def _by_name(self) -> Mapping[str, Dsp]:
        return {_name_key(dsp.name): dsp for dsp in self.dsps}

    def districts_without_degs(self) -> tuple[int, ...]:
        """LGD codes some DSP reports for but no DEGS address is given for: their escalations reach CEG only."""
        return tuple(sorted({a.lgd_code for a in self.assignments} - {c for c, addrs in self.degs.items() if addrs}))

    def degs_districts_of(self, address: str) -> tuple[int, ...]:
        """The districts (LGD codes) whose DEGS uses ``address``; () for any other address."""
        plain = plain_address(address)
        if plain is None:
            return ()
        wanted = plain.casefold()
        return tuple(code for code, addresses in self.degs.items() if wanted in {a.casefold() for a in addresses})

    def dsp_for_sender(self, address: str) -> Dsp | None:
        """The DSP whose reports come from ``address`` (a sender or contact address of its roster row), or
        None: an unknown sender is not authorised."""
        plain = plain_address(address)
        return None if plain is None else self._by_sender.get(plain)

    def dsp(self, name: str) -> Dsp:
        """The DSP named so (case and spacing ignored); KeyError if there is none."""
        try:
            return self._by_name[_name_key(name)]
        except KeyError:
            raise KeyError(name) from None

    def assignments_for(self, dsp: str) -> tuple[Assignment, ...]:
        key = _name_key(dsp)
        return tuple(a for a in self.assignments if _name_key(a.dsp) == key)

    def districts_of(self, dsp: str, week: Week) -> tuple[int, ...]:
        """LGD codes the DSP must report for in ``week``, sorted."""
        return tuple(sorted({a.lgd_code for a in self.assignments_for(dsp) if a.active_in(week)}))

    def expected(self, week: Week) -> tuple[tuple[str, int], ...]:
        """Every (DSP, LGD code) pair that owes a report for ``week``, sorted."""
        return tuple(sorted({(a.dsp, a.lgd_code) for a in self.assignments if a.active_in(week)}))


class RosterError(FixNeeded, ValueError):
    """Raised when the roster cannot be used; ``problems`` lists each one, naming file, sheet and row."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


# Sheet -> (field, header as CEG sees it, other spellings accepted, required).
_COLUMNS: dict[str, tuple[tuple[str, str, tuple[str, ...], bool], ...]] = {
    "DSPs": (
        ("dsp", "DSP", ("dspname", "name"), True),
        ("senders", "Sender addresses", ("senderaddress", "senders", "sender", "senderemails"), True),
        ("contacts", "Contact addresses", ("contactaddress", "contacts", "contact", "contactemails"), False),
    ),
    "Assignments": (
        ("dsp", "DSP", ("dspname",), True),
        ("district", "District", ("districtname", "lgdcode", "janpad", "जनपद"), True),
        ("start", "Start date", ("start", "from", "fromdate"), True),
        ("end", "End date", ("end", "to", "todate", "till"), False),
    ),
    "DEGS": (
        ("district", "District", ("districtname", "lgdcode", "janpad", "जनपद"), True),
        ("addresses", "Addresses", ("address", "degsaddresses", "email", "emails", "degsemail"), True),
    ),
}
_CSV_FILES = {"DSPs": "dsps.csv", "Assignments": "assignments.csv", "DEGS": "degs.csv"}
_HEADER_SEARCH_ROWS = 20  # a title or note may sit above the header row
_MAX_ROWS = 10_000  # a roster has a few hundred rows; a million-row sheet is a mistake, not data


def _name_key(name: str) -> str:
    return " ".join(name.split()).casefold()


def _header_key(text: str) -> str:
    """ "Sender  Addresses" -> "senderaddresses"; Hindi vowel signs (marks, not letters) are kept."""
    return "".join(c for c in normalise(text) if c.isalnum() or unicodedata.category(c).startswith("M"))


@dataclass(frozen=True)
class _Table:
    label: str  # "roster.xlsx, sheet DSPs" or "roster_csv/dsps.csv"
    rows: tuple[tuple[int, tuple[Any, ...]], ...]  # (row number as Excel shows it, cells); no blank rows


def load_roster(path: Path) -> Roster:
    """Read and check the roster; RosterError lists every problem found."""
    path = Path(path)
    if path.is_dir():
        tables, problems = _read_csv_folder(path)
    elif path.suffix.casefold() in (".xlsx", ".xlsm"):
        tables, problems = _read_xlsx(path)
    elif not path.exists():
        raise RosterError([f"{path}: no such file or folder"])
    else:
        raise RosterError([f"{path.name}: not a roster (expected an .xlsx workbook or a folder of CSVs)"])
    sheets = {name: _records(table, name, problems) for name, table in tables.items()}
    dsp_records = sheets.get("DSPs")
    dsps = _parse_dsps(dsp_records or [], problems)
    # Without a readable DSPs sheet, every assignment would be "unknown DSP": that one problem is enough.
    assignments = _parse_assignments(sheets.get("Assignments") or [], dsps, dsp_records is not None, problems)
    degs = _parse_degs(sheets.get("DEGS") or [], problems)
    if problems:
        raise RosterError(problems)
    return Roster(
        dsps=tuple(sorted(dsps.values(), key=lambda d: d.name)),
        assignments=tuple(sorted(assignments, key=lambda a: (a.dsp, a.lgd_code, a.start))),
        degs=MappingProxyType(dict(sorted(degs.items()))),
    )


# --- reading ---------------------------------------------------------------------------------------------


def _read_xlsx(path: Path) -> tuple[dict[str, _Table], list[str]]:
    try:
        with warnings.catch_warnings():
            # openpyxl warns about Excel features it drops (data validation, conditional formats);
            # the roster does not depend on them.
            warnings.filterwarnings("ignore", category=UserWarning, module="openpyxl")
            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
            try:
                return _read_sheets(book, path.name)
            finally:
                book.close()
    except FileNotFoundError:
        raise RosterError([f"{path}: no such file or folder"]) from None
    # A damaged or mislabelled file fails in many ways: zip, XML (ParseError is a SyntaxError), missing parts.
    except (OSError, zipfile.BadZipFile, KeyError, ValueError, SyntaxError) as exc:
        problem = f"{path.name}: cannot be read as an Excel workbook ({type(exc).__name__})"
        raise RosterError([problem]) from None


def _read_sheets(book: Any, filename: str) -> tuple[dict[str, _Table], list[str]]:
    problems: list[str] = []
    by_key = {_header_key(ws.title): ws for ws in book.worksheets}
    tables: dict[str, _Table] = {}
    for name in _COLUMNS:
        ws = by_key.get(_header_key(name))
        if ws is None:
            found = ", ".join(w.title for w in book.worksheets)
            problems.append(f"{filename}: missing sheet '{name}' (sheets found: {found})")
            continue
        label = f"{filename}, sheet {ws.title}"
        tables[name] = _Table(label, _numbered(ws.iter_rows(values_only=True), label, problems))
    return tables, problems


def _read_csv_folder(folder: Path) -> tuple[dict[str, _Table], list[str]]:
    problems: list[str] = []
    tables: dict[str, _Table] = {}
    for name, filename in _CSV_FILES.items():
        file = folder / filename
        label = f"{folder.name}/{filename}"
        try:
            raw = file.read_bytes()
        except FileNotFoundError:
            problems.append(f"{folder.name}: missing {filename} (the {name} sheet as CSV)")
            continue
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            # Excel's plain "CSV" on Windows is the ANSI code page; "CSV UTF-8" is the one that keeps Hindi.
            text = raw.decode("cp1252", errors="replace")
        tables[name] = _Table(label, _numbered(csv.reader(io.StringIO(text, newline="")), label, problems))
    return tables, problems


_Rows = tuple[tuple[int, tuple[Any, ...]], ...]


def _numbered(rows: Iterable[Sequence[Any]], label: str, problems: list[str]) -> _Rows:
    out = []
    for number, row in enumerate(rows, 1):
        if number > _MAX_ROWS:
            problems.append(f"{label}: more than {_MAX_ROWS} rows; is this the right sheet?")
            break
        cells = tuple(_clean(v) for v in row)
        if any(c is not None for c in cells):
            out.append((number, cells))
    return tuple(out)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


_Records = list[tuple[str, dict[str, Any]]]


def _records(table: _Table, sheet: str, problems: list[str]) -> _Records | None:
    """Rows below the header as (where, {field: value}); None when the header row is not there.

    The header is the row (among the first few) naming the most known columns: a title may sit above it.
    """
    columns = _COLUMNS[sheet]
    found: dict[str, int] = {}
    header_row = 0
    for number, cells in table.rows[:_HEADER_SEARCH_ROWS]:
        keys = [_header_key(str(c)) if c is not None else "" for c in cells]
        here: dict[str, int] = {}
        for field, header, spellings, _required in columns:
            wanted = {_header_key(s) for s in (header, *spellings)}
            index = next((i for i, k in enumerate(keys) if k in wanted), None)
            if index is not None:
                here[field] = index
        if len(here) > len(found):
            found, header_row = here, number
    missing = [header for field, header, _s, required in columns if required and field not in found]
    if missing:
        expected = ", ".join(header for _f, header, _s, _r in columns)
        problems.extend(f"{table.label}: missing column '{m}' (header row: {expected})" for m in missing)
        return None
    return [
        (f"{table.label}, row {number}", {f: cells[i] if i < len(cells) else None for f, i in found.items()})
        for number, cells in table.rows
        if number > header_row
    ]


# --- checking --------------------------------------------------------------------------------------------


def _row_of(where: str) -> str:
    """ "row 3" from "roster.xlsx, sheet DSPs, row 3": enough to point at another row of the same sheet."""
    return where.rpartition(", ")[2]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return " ".join(str(value).split())


def _addresses(value: Any, where: str, what: str, problems: list[str]) -> tuple[str, ...]:
    """The valid, case-folded addresses in a cell (separated by ';', ',' or line breaks), in order."""
    found: list[str] = []
    for part in re.split(r"[;,\s]+", _text(value) if not isinstance(value, str) else value):
        address = part.strip("<>\"'").casefold()
        if not address:
            continue
        if plain_address(address) is None:
            problems.append(f"{where}: {what} '{part}' is not a valid email address")
        elif address not in found:
            found.append(address)
    return tuple(found)


def _date(value: Any) -> date:
    """A date as the report parser reads one (``workbook.cells.parse_date``: a date cell, an Excel serial, day-first
    or named-month text in English or Hindi); ValueError otherwise."""
    found = parse_date(value)
    if found is None:
        raise ValueError(_text(value))
    return found


def _cell_date(rec: Mapping[str, Any], field: str, where: str, problems: list[str]) -> date | None:
    if rec.get(field) is None:
        return None
    try:
        return _date(rec[field])
    except ValueError:
        problems.append(f"{where}: {field} date '{_text(rec[field])}' is not a date (day first: 05/12/2026)")
        return None


def _district(value: Any, where: str, problems: list[str]) -> int | None:
    if value is None:
        problems.append(f"{where}: district is empty")
        return None
    try:
        # Exact names only: a typo in the roster is worth a question, not a guess.
        return match_district(value if isinstance(value, int | float) else _text(value), fuzzy=False).lgd_code
    except DistrictMatchError as exc:
        problems.append(f"{where}: {exc}")
        return None


def _parse_dsps(records: _Records, problems: list[str]) -> dict[str, Dsp]:
    dsps: dict[str, Dsp] = {}
    rows: dict[str, str] = {}
    owner: dict[str, tuple[str, str]] = {}  # sender address -> (DSP, where)
    for where, rec in records:
        name = _text(rec["dsp"])
        if not name:
            problems.append(f"{where}: DSP name is empty")
            continue
        key = _name_key(name)
        if key in dsps:
            problems.append(f"{where}: DSP '{name}' is listed twice (also {rows[key]})")
            continue
        senders = _addresses(rec["senders"], where, "sender address", problems)
        if not senders and rec["senders"] is None:
            problems.append(f"{where}: DSP '{name}' has no sender address, so no report of its is accepted")
        for address in senders:
            if address in owner:
                other, other_where = owner[address]
                problems.append(
                    f"{where}: sender address {address} is also given for DSP '{other}' "
                    f"({_row_of(other_where)}); a report from it could belong to either"
                )
            owner.setdefault(address, (name, where))
        contacts = _addresses(rec.get("contacts"), where, "contact address", problems)
        dsps[key] = Dsp(name, frozenset(senders), contacts or senders)
        rows[key] = where
    return dsps


def _parse_assignments(
    records: _Records, dsps: Mapping[str, Dsp], check_dsps: bool, problems: list[str]
) -> list[Assignment]:
    placed: list[tuple[Assignment, str]] = []
    for where, rec in records:
        name = _text(rec["dsp"])
        dsp = dsps.get(_name_key(name))
        if not name:
            problems.append(f"{where}: DSP name is empty")
        elif dsp is None and check_dsps:
            problems.append(f"{where}: DSP '{name}' is not in the DSPs sheet")
        lgd = _district(rec["district"], where, problems)
        if rec["start"] is None:
            problems.append(f"{where}: start date is empty")
        start = _cell_date(rec, "start", where, problems)
        end = _cell_date(rec, "end", where, problems)
        if start and end and end < start:
            problems.append(f"{where}: end date {end:%d/%m/%Y} is before start date {start:%d/%m/%Y}")
            continue
        if dsp is not None and lgd is not None and start is not None:
            placed.append((Assignment(dsp.name, lgd, start, end), where))
    _check_overlaps(placed, problems)
    return [a for a, _ in placed]


def _check_overlaps(placed: list[tuple[Assignment, str]], problems: list[str]) -> None:
    latest: dict[tuple[str, int], tuple[Assignment, str]] = {}  # the one reaching furthest so far
    for b, b_where in sorted(placed, key=lambda p: (p[0].dsp, p[0].lgd_code, p[0].start)):
        pair = (b.dsp, b.lgd_code)
        if pair in latest:
            a, a_where = latest[pair]
            if a.end is None or b.start <= a.end:
                problems.append(
                    f"{b_where}: DSP '{b.dsp}' is already assigned to this district from {a.start:%d/%m/%Y} "
                    f"({_row_of(a_where)}); the periods overlap"
                )
            if a.end is None or (b.end is not None and b.end <= a.end):
                continue
        latest[pair] = (b, b_where)


def _parse_degs(records: _Records, problems: list[str]) -> dict[int, tuple[str, ...]]:
    degs: dict[int, tuple[str, ...]] = {}
    for where, rec in records:
        lgd = _district(rec["district"], where, problems)
        addresses = _addresses(rec["addresses"], where, "DEGS address", problems)
        if lgd is not None and addresses:
            # Two rows for one district (DM and EDM, say) add up.
            degs[lgd] = tuple(dict.fromkeys((*degs.get(lgd, ()), *addresses)))
    return degs


# --- template --------------------------------------------------------------------------------------------


def roster_template(path: Path) -> None:
    """Write an empty roster workbook for CEG to fill in: headers, notes, and every district in DEGS."""
    book = openpyxl.Workbook()
    notes = {
        "DSPs": "One row per DSP. Several addresses in a cell: separate them with ; or a new line. "
        "Contact addresses get replies and reminders (and a report from them counts too); left empty, the "
        "sender addresses do.",
        "Assignments": "One row per DSP and district. Dates day first (05/12/2026). Leave End date empty "
        "while the contract runs. A district may have several DSPs.",
        "DEGS": "The District e-Governance Society addresses that hear about their district's reports.",
    }
    for index, (sheet, columns) in enumerate(_COLUMNS.items()):
        ws = book.active if index == 0 else book.create_sheet()
        assert ws is not None  # noqa: S101 - a new Workbook always has an active sheet
        ws.title = sheet
        ws.append([f"mailbot roster: {sheet}"])
        ws.append([notes[sheet]])
        ws.append([header for _f, header, _s, _r in columns])
        ws["A1"].font = Font(bold=True, size=14)
        for cell in ws[3]:
            cell.font = Font(bold=True)
        for letter in "ABCD"[: len(columns)]:
            ws.column_dimensions[letter].width = 32
    degs = book["DEGS"]
    for district in all_districts():
        degs.append([district.name_en, None])
    book.save(path)

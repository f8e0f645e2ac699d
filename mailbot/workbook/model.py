"""The values ``parse_workbook`` returns (re-exported by ``mailbot.workbook``, where other modules import them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal, Protocol

from mailbot.workbook.cells import MAX_COUNT
from mailbot.workbook.headers import FIGURE_KEYS

Severity = Literal["error", "warning"]

FIGURES = (
    "rural_target",
    "rural_opened",
    "urban_target",
    "urban_opened",
    "opened_this_week",
    "functional",
    "transacting",
    "b2c_enabled",
)
if FIGURES != FIGURE_KEYS:  # pragma: no cover - the contract's names and the column table must agree
    raise ImportError("mailbot.workbook.headers columns disagree with workbook FIGURES")


@dataclass(frozen=True)
class Problem:
    severity: Severity
    code: str  # stable key, e.g. "missing_column", "unknown_district"
    message: str
    message_hi: str
    file: str = ""
    sheet: str = ""
    cell: str = ""  # A1 address, e.g. "B7"
    lgd_code: int | None = None  # the district a row problem is about, when the row named one


@dataclass(frozen=True)
class ReportRow:
    lgd_code: int
    sheet: str
    row: int  # sheet row number (1-based) for messages
    rural_target: int
    rural_opened: int
    urban_target: int
    urban_opened: int
    opened_this_week: int | None
    functional: int | None
    transacting: int | None
    b2c_enabled: int | None
    remarks: str
    district_cell: str = ""  # A1 address of the district cell, for problems found later (e.g. not assigned)
    cells: tuple[tuple[str, str], ...] = ()  # (figure, A1 address) of the figures read, for problems found later

    def __post_init__(self) -> None:
        # The reader refuses every count outside 0..MAX_COUNT with a problem naming the cell; this makes sure no
        # path around it hands the store a number SQLite cannot hold (1E+19 once lost a whole report).
        for key, value in self.figures().items():
            if value is not None and not (isinstance(value, int) and 0 <= value <= MAX_COUNT):
                raise ValueError(f"{key} = {value!r} is outside 0..{MAX_COUNT}")

    def figures(self) -> dict[str, int | None]:
        return {key: getattr(self, key) for key in FIGURES}


@dataclass(frozen=True)
class ParsedWorkbook:
    filename: str
    sheet: str
    dsp_name: str
    week_ending: date | None
    rows: tuple[ReportRow, ...]
    problems: tuple[Problem, ...]

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")


@dataclass(frozen=True)
class Header:
    row: int  # 1-based sheet row
    columns: dict[str, int]  # column key -> 1-based column (the first, when several name it)
    repeated: dict[str, tuple[int, ...]] = field(default_factory=dict)  # key -> every column naming it, if > 1


class AddProblem(Protocol):
    def __call__(
        self, severity: Severity, code: str, message: str, message_hi: str, cell: str = "", lgd_code: int | None = None
    ) -> None: ...

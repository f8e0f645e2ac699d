"""The rows under a report's header -> ReportRows, with a problem for every bad cell.

Pure. Skipped without a word: blank rows, total rows (योग / कुल / Total), and notes (text in the district column
that names no district, with no figures and no LGD code: "Signature of DSP", "Figures are provisional").
"""

from __future__ import annotations

import math
from typing import Any

from mailbot.districts import AmbiguousDistrict, District, DistrictMatchError, by_code, match_district
from mailbot.workbook.cells import MAX_COUNT, address, is_empty, parse_count, placeholder, readings
from mailbot.workbook.headers import COLUMN_BY_KEY, REQUIRED, is_total
from mailbot.workbook.io import Kind, Sheet, formula_cells
from mailbot.workbook.model import FIGURES, AddProblem, Header, ReportRow, Severity

_CELL_ERRORS = {
    "not_a_number": ("'{v}' is not a number", "'{v}' संख्या नहीं है"),
    "negative_value": ("{v} is negative; a count cannot be below 0", "{v} ऋणात्मक है; संख्या 0 से कम नहीं हो सकती"),
    "fractional_value": ("{v} is not a whole number", "{v} पूर्ण संख्या नहीं है"),
    "missing_value": ("empty, but this column is required", "खाली है, जबकि यह कॉलम अनिवार्य है"),
    # A dash, "NA" or "nil" is not empty, and not 0 either ("nil" is zero to some clerks, "not known" to others).
    "placeholder_value": (
        "the cell holds '{v}', not a number; this column is required: write the number, 0 if none",
        "सेल में '{v}' लिखा है, संख्या नहीं; यह कॉलम अनिवार्य है: संख्या लिखें, कोई न हो तो 0",
    ),
    "ambiguous_number": (
        "'{v}': is this {a} or {b}? A space, dot or comma between digits is read only as thousands grouping "
        "(1,234,567 or 12,34,567): write the digits only, e.g. {a}",
        "'{v}': क्या यह {a} है या {b}? अंकों के बीच रिक्त स्थान, बिंदु या अल्पविराम केवल हज़ार के विभाजक के रूप में "
        "पढ़ा जाता है (1,234,567 या 12,34,567): केवल अंक लिखें, जैसे {a}",
    ),
    "count_above_bound": (
        f"'{{v}}' is more than {MAX_COUNT:,}, more than any district can have: check the number",
        f"'{{v}}' {MAX_COUNT:,} से अधिक है, जो किसी जनपद में संभव नहीं: संख्या जाँचें",
    ),
    "formula_without_value": (
        "formula without a saved value: open and save the file in Excel",
        "सूत्र (फॉर्मूला) का परिणाम सहेजा नहीं गया है: फ़ाइल को एक्सेल में खोलकर सहेजें",
    ),
}

# (figure, ceiling, code, English, Hindi): a warning when the figure exceeds the ceiling.
_CONSISTENCY = (
    (
        "rural_opened",
        ("rural_target",),
        "opened_exceeds_target",
        "rural JSKs opened ({a}) exceed the rural target ({b})",
        "स्थापित ग्रामीण केन्द्र ({a}) ग्रामीण लक्ष्य ({b}) से अधिक हैं",
    ),
    (
        "urban_opened",
        ("urban_target",),
        "opened_exceeds_target",
        "urban JSKs opened ({a}) exceed the urban target ({b})",
        "स्थापित शहरी केन्द्र ({a}) शहरी लक्ष्य ({b}) से अधिक हैं",
    ),
    (
        "functional",
        ("rural_opened", "urban_opened"),
        "functional_exceeds_opened",
        "functional JSKs ({a}) exceed the JSKs opened ({b})",
        "क्रियाशील केन्द्र ({a}) स्थापित केन्द्रों ({b}) से अधिक हैं",
    ),
    (
        "transacting",
        ("functional",),
        "transacting_exceeds_functional",
        "JSKs transacting ({a}) exceed the functional JSKs ({b})",
        "लेन-देन करने वाले केन्द्र ({a}) क्रियाशील केन्द्रों ({b}) से अधिक हैं",
    ),
    (
        "b2c_enabled",
        ("functional",),
        "b2c_exceeds_functional",
        "JSKs offering B2C ({a}) exceed the functional JSKs ({b})",
        "बी2सी सेवायें देने वाले केन्द्र ({a}) क्रियाशील केन्द्रों ({b}) से अधिक हैं",
    ),
)


def read_rows(content: bytes, kind: Kind, sheet: Sheet, header: Header, add: AddProblem) -> tuple[ReportRow, ...]:
    """Every valid district row under the header; problems go to ``add``."""
    return _Rows(content, kind, sheet, header, add).read()


class _Rows:
    def __init__(self, content: bytes, kind: Kind, sheet: Sheet, header: Header, add: AddProblem) -> None:
        self.content, self.kind, self.sheet, self.header, self._add = content, kind, sheet, header, add
        self.current: int | None = None  # the LGD code of the row being read, once known
        self.seen: dict[int, int] = {}  # lgd -> first row
        self.taken: set[int] = set()  # lgd codes whose row was accepted
        self.formulas: frozenset[tuple[int, int]] = frozenset()

    def add(self, severity: Severity, code: str, message: str, message_hi: str, cell: str = "") -> None:
        # Row problems carry their district, so compliance can tell "sent but invalid" from "missing".
        self._add(severity, code, message, message_hi, cell, lgd_code=self.current)

    def value(self, row: int, key: str) -> Any:
        column = self.header.columns.get(key)
        values = self.sheet.rows[row - 1]
        return values[column - 1] if column is not None and column <= len(values) else None

    def cell(self, row: int, key: str) -> str:
        return address(row, self.header.columns[key])

    def read(self) -> tuple[ReportRow, ...]:
        first, last = self.header.row + 1, len(self.sheet.rows)
        checked = [k for k in self.header.columns if k != "remarks"]
        while last >= first and all(is_empty(self.value(last, k)) for k in checked):
            last -= 1
        if self.kind == "xlsx" and any(is_empty(self.value(r, k)) for r in range(first, last + 1) for k in checked):
            # Only now is the second, formula-preserving pass worth its cost.
            self.formulas = formula_cells(self.content, self.sheet.name, last)
        rows = []
        for row in range(first, last + 1):
            parsed = self.row(row)
            if parsed is not None:
                rows.append(parsed)
                self.taken.add(parsed.lgd_code)
        return tuple(rows)

    def row(self, row: int) -> ReportRow | None:
        self.current = None
        formula_keys = {
            k for k, c in self.header.columns.items() if (row, c) in self.formulas and self.value(row, k) is None
        }
        name, code = self.value(row, "district"), self.value(row, "lgd_code")
        figures_given = any(not is_empty(self.value(row, k)) or k in formula_keys for k in FIGURES)
        if is_empty(name) and is_empty(code) and not figures_given and not formula_keys:
            return None
        if self._is_total(row, name):
            return None
        if not figures_given and not formula_keys and is_empty(code) and _names_no_district(name):
            return None  # a note under the table
        district = self.district(row, name, code, formula_keys)
        self.current = district.lgd_code if district else None
        label = (
            (f"Row {row} ({district.name_en})", f"पंक्ति {row} ({district.name_hi})")
            if district
            else (f"Row {row}", f"पंक्ति {row}")
        )
        ok = district is not None
        figures: dict[str, int | None] = {}
        for key in FIGURES:
            figures[key] = None
            if key not in self.header.columns:
                continue
            if key in formula_keys:
                self.cell_error(row, key, "formula_without_value", label)
                ok = False
                continue
            raw = self.value(row, key)
            parsed = parse_count(raw)
            if isinstance(parsed, str):
                self.cell_error(row, key, parsed, label, raw)
                ok = False
            else:
                figures[key] = parsed
        empty_required = [
            k
            for k in REQUIRED
            if k != "district"
            and figures[k] is None
            and k not in formula_keys
            and parse_count(self.value(row, k)) is None
        ]
        blank = [k for k in empty_required if is_empty(self.value(row, k))]
        if ok and len(blank) == len(REQUIRED) - 1:
            self.add(
                "error",
                "row_not_filled",
                f"{label[0]}: no figures filled in.",
                f"{label[1]}: कोई आंकड़ा नहीं भरा गया।",
                self.cell(row, blank[0]),
            )
            return None
        self.not_given(row, empty_required, label)
        if empty_required or not ok or district is None:
            return None
        self.consistency(row, figures, label)
        remarks = self.value(row, "remarks")
        return ReportRow(
            lgd_code=district.lgd_code,
            sheet=self.sheet.name,
            row=row,
            rural_target=_int(figures["rural_target"]),
            rural_opened=_int(figures["rural_opened"]),
            urban_target=_int(figures["urban_target"]),
            urban_opened=_int(figures["urban_opened"]),
            opened_this_week=figures["opened_this_week"],
            functional=figures["functional"],
            transacting=figures["transacting"],
            b2c_enabled=figures["b2c_enabled"],
            remarks="" if is_empty(remarks) else " ".join(str(remarks).split()),
            district_cell=self.cell(row, "district"),
            cells=tuple((k, self.cell(row, k)) for k in figures if k in self.header.columns),
        )

    def not_given(self, row: int, keys: list[str], label: tuple[str, str]) -> None:
        """A problem for each required figure left empty or holding a "nothing" mark, which it quotes."""
        for key in keys:
            mark = placeholder(self.value(row, key))
            if mark is None:
                self.cell_error(row, key, "missing_value", label)
            else:
                self.cell_error(row, key, "placeholder_value", label, mark)

    def _is_total(self, row: int, name: Any) -> bool:
        if not is_empty(name):
            return is_total(str(name))
        # With the district cell empty, the label often sits in the serial-number column.
        left = self.sheet.rows[row - 1][: self.header.columns["district"] - 1]
        return any(isinstance(value, str) and is_total(value) for value in left)

    def cell_error(self, row: int, key: str, code: str, label: tuple[str, str], raw: Any = None) -> None:
        column = COLUMN_BY_KEY[key]
        shown = "" if raw is None else _shown(raw)
        a, b = readings(shown) if code == "ambiguous_number" else ("", "")
        en, hi = _CELL_ERRORS[code]
        self.add(
            "error",
            code,
            f"{label[0]}, {column.en}: {en.format(v=shown, a=a, b=b)}.",
            f"{label[1]}, {column.hi}: {hi.format(v=shown, a=a, b=b)}।",
            self.cell(row, key),
        )

    def district(self, row: int, name: Any, code: Any, formula_keys: set[str]) -> District | None:
        """The row's district, or None after reporting why there is none."""
        for key in ("district", "lgd_code"):
            if key in formula_keys:
                self.cell_error(row, key, "formula_without_value", (f"Row {row}", f"पंक्ति {row}"))
                return None
        by_name: District | None = None
        failure: DistrictMatchError | None = None
        if not is_empty(name):
            try:
                by_name = match_district(name.strip() if isinstance(name, str) else name)
            except DistrictMatchError as exc:
                failure = exc
        by_lgd = self._by_lgd(code)
        if by_name and by_lgd and by_name != by_lgd:
            self.add(
                "error",
                "district_mismatch",
                f"Row {row}: district '{name}' ({by_name.name_en}) does not match LGD code {code} "
                f"({by_lgd.name_en}); please correct one of them.",
                f"पंक्ति {row}: जनपद '{name}' ({by_name.name_hi}) एलजीडी कोड {code} ({by_lgd.name_hi}) से मेल नहीं "
                "खाता; कृपया इनमें से एक को ठीक करें।",
                self.cell(row, "district"),
            )
            return None
        district = by_name or by_lgd
        if district is None:
            self.district_error(row, name, code, failure)
            return None
        first = self.seen.setdefault(district.lgd_code, row)
        if first != row:
            if district.lgd_code in self.taken:
                en = f"only row {first} was taken"
                hi = f"केवल पंक्ति {first} ली गई"
            else:  # the first row had errors of its own: nothing was recorded for the district
                en = f"row {first} had errors, so nothing was recorded for {district.name_en}. Keep one correct row"
                hi = f"पंक्ति {first} में त्रुटियाँ थीं, इसलिए {district.name_hi} का कुछ भी दर्ज नहीं हुआ। केवल एक सही पंक्ति रखें"
            self.add(
                "error",
                "duplicate_district",
                f"Row {row}: {district.name_en} appears again (first in row {first}); {en}.",
                f"पंक्ति {row}: {district.name_hi} दोबारा आया है (पहली बार पंक्ति {first} में); {hi}।",
                self.cell(row, "district"),
            )
            return None
        return district

    def _by_lgd(self, code: Any) -> District | None:
        number = parse_count(code) if "lgd_code" in self.header.columns and not is_empty(code) else None
        if not isinstance(number, int):
            return None
        try:
            return by_code(number)
        except KeyError:
            return None

    def district_error(self, row: int, name: Any, code: Any, failure: DistrictMatchError | None) -> None:
        if is_empty(name) and is_empty(code):
            self.add(
                "error",
                "missing_district",
                f"Row {row}: figures are given but the district is empty.",
                f"पंक्ति {row}: आंकड़े दिए गए हैं, परंतु जनपद खाली है।",
                self.cell(row, "district"),
            )
        elif is_empty(name):
            self.add(
                "error",
                "unknown_district",
                f"Row {row}: LGD code '{code}' is not a district of Uttar Pradesh.",
                f"पंक्ति {row}: एलजीडी कोड '{code}' उत्तर प्रदेश का कोई जनपद नहीं है।",
                self.cell(row, "lgd_code"),
            )
        elif isinstance(failure, AmbiguousDistrict):
            names = " or ".join(d.name_en for d in failure.candidates)
            names_hi = " या ".join(d.name_hi for d in failure.candidates)
            self.add(
                "error",
                "ambiguous_district",
                f"Row {row}: '{name}' could be {names}; write the district's full name or LGD code.",
                f"पंक्ति {row}: '{name}' से {names_hi} दोनों समझे जा सकते हैं; जनपद का पूरा नाम या एलजीडी कोड लिखें।",
                self.cell(row, "district"),
            )
        else:
            hint = hint_hi = ""
            if failure is not None and failure.candidates:
                hint = f" (did you mean {' or '.join(d.name_en for d in failure.candidates[:3])}?)"
                hint_hi = f" (क्या आपका आशय {' या '.join(d.name_hi for d in failure.candidates[:3])} से है?)"
            self.add(
                "error",
                "unknown_district",
                f"Row {row}: district '{name}' was not recognised{hint}.",
                f"पंक्ति {row}: जनपद '{name}' पहचाना नहीं गया{hint_hi}।",
                self.cell(row, "district"),
            )

    def consistency(self, row: int, figures: dict[str, int | None], label: tuple[str, str]) -> None:
        for key, ceilings, code, en, hi in _CONSISTENCY:
            value = figures[key]
            limits = [figures[c] for c in ceilings]
            if value is None or any(limit is None for limit in limits):
                continue
            ceiling = sum(limit for limit in limits if limit is not None)
            if value > ceiling:
                self.add(
                    "warning",
                    code,
                    f"{label[0]}: {en.format(a=value, b=ceiling)}.",
                    f"{label[1]}: {hi.format(a=value, b=ceiling)}।",
                    self.cell(row, key),
                )


def _names_no_district(name: Any) -> bool:
    if is_empty(name):
        return False
    try:
        match_district(name.strip() if isinstance(name, str) else name)
    except DistrictMatchError:
        return True
    return False


_SHOWN = 60  # characters of a cell quoted in a problem: enough to recognise it, short enough for a phone


def _shown(raw: Any) -> str:
    """A cell's value as the DSP sees it in Excel: 12.5, 1E+19, 1000001; text on one line, cut short."""
    if isinstance(raw, float) and math.isfinite(raw) and (abs(raw) >= 1e15 or raw.is_integer()):
        return f"{raw:G}" if abs(raw) >= 1e15 else str(int(raw))
    text = " ".join(str(raw).split())
    return text if len(text) <= _SHOWN else f"{text[: _SHOWN - 1]}…"


def _int(value: int | None) -> int:
    if value is None:  # pragma: no cover - required figures were checked above
        raise ValueError("required figure missing")
    return value

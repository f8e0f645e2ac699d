"""python-calamine against openpyxl on the real workbooks (issue 11): read time per workbook, and what each reads
differently. Not part of `make bench` (python-calamine is not a dependency): install it into the venv and run
`.venv/bin/python benchmarks/workbook_readers.py`.

Workbooks: every fixture in fixtures/workbooks/ that mailbot opens (the rest are refused before any reader sees
them: not a ZIP, a bomb, encrypted, damaged), the roster fixture, report workbooks as `mailbot template` writes
them (6, 30 and 75 districts: what throughput.py sends), the 200,000-row sheet bench.py parses (capped at
5,000 rows by both) and two hostile files of fixtures/make_hostile.py (a file mailbot refuses before reading is
listed as such; calamine would need the same check in front of it).

Columns: the time to read every sheet's first 5,000 x 60 values (best of several runs) with
  openpyxl   mailbot's reader as it is (workbook_io: openpyxl read-only, data_only; xlrd for .xls)
  calamine   python_calamine.CalamineWorkbook, every sheet's to_python(skip_empty_area=False)
and ``parse`` (the whole of workbook.parse_workbook, for scale: the reader is only part of it); then every cell
whose value differs between the two readers after the differences of form are evened out (an empty cell: None
vs ''; a date: datetime vs date at midnight; 118 vs 118.0; a grid's trailing empty cells), and those differences
of form, counted (mailbot's cell rules would have to take them).
"""

from __future__ import annotations

import importlib.util
import io
import sys
import time
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import python_calamine
from mailbot.template import report_workbook
from mailbot.workbook_io import MAX_COLS, MAX_ROWS, Refused, Sheet, load

from mailbot.districts import all_districts
from mailbot.weeks import Week
from mailbot.workbook import parse_workbook

ROOT = Path(__file__).resolve().parent.parent


def calamine_grids(content: bytes) -> list[tuple[str, bool, list[list[Any]]]]:
    book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(content))
    try:
        out = []
        for meta in book.sheets_metadata[:30]:
            sheet = book.get_sheet_by_name(meta.name)
            rows = [row[:MAX_COLS] for row in sheet.to_python(skip_empty_area=False, nrows=MAX_ROWS + 1)]
            out.append((meta.name, meta.visible == python_calamine.SheetVisibleEnum.Visible, rows))
        return out
    finally:
        book.close()


def _even(value: Any) -> Any:
    if value == "":
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day)  # noqa: DTZ001 - naive, as openpyxl reads a cell
    return value


def _trimmed(rows: Any) -> list[list[Any]]:
    out = [[_even(v) for v in row] for row in rows]
    for row in out:
        while row and row[-1] is None:
            row.pop()
    while out and not out[-1]:
        out.pop()
    return out


def differences(content: bytes, mine: tuple[Sheet, ...]) -> list[str]:
    """Each cell the two readers disagree on (after evening out form), as ``sheet!A1: openpyxl vs calamine``."""
    theirs = calamine_grids(content)
    found = []
    if [s.name for s in mine] != [name for name, _, _ in theirs]:
        found.append(f"sheets: {[s.name for s in mine]} vs {[n for n, _, _ in theirs]}")
    for sheet, (name, visible, rows) in zip(mine, theirs, strict=False):
        if sheet.visible != visible:
            found.append(f"{name}: visible {sheet.visible} vs {visible}")
        a, b = _trimmed(sheet.rows), _trimmed(rows[:MAX_ROWS])  # mailbot keeps MAX_ROWS; calamine gave one more
        for r in range(max(len(a), len(b))):
            ra = a[r] if r < len(a) else []
            rb = b[r] if r < len(b) else []
            for c in range(max(len(ra), len(rb))):
                va = ra[c] if c < len(ra) else None
                vb = rb[c] if c < len(rb) else None
                if va != vb or (
                    type(va) is not type(vb)
                    and not (isinstance(va, int | float) and isinstance(vb, int | float) and va == vb)
                ):
                    found.append(f"{name}!{_column(c)}{r + 1}: {va!r} vs {vb!r}")
    return found


def form_differences(content: bytes, mine: tuple[Sheet, ...]) -> str:
    """What differs only in form, counted: what mailbot's cell rules would have to accept from calamine."""
    counts: dict[str, int] = {}
    for sheet, (_, _, rows) in zip(mine, calamine_grids(content), strict=False):
        for ra, rb in zip(sheet.rows, rows, strict=False):
            for va, vb in zip(ra, rb, strict=False):
                if va is not None and type(va) is not type(vb):
                    kind = f"{type(va).__name__}->{type(vb).__name__}"
                    counts[kind] = counts.get(kind, 0) + 1
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))


def _column(index: int) -> str:
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


def best(fn: Callable[[], Any], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.process_time()
        fn()
        times.append(time.process_time() - started)
    return min(times)


def workbooks() -> list[tuple[str, bytes]]:
    found = [
        (p.name, p.read_bytes())
        for p in sorted((ROOT / "fixtures" / "workbooks").iterdir())
        if p.suffix in (".xlsx", ".xlsm", ".xls")
    ]
    found.append(("roster.xlsx (roster fixture)", (ROOT / "fixtures" / "roster" / "roster.xlsx").read_bytes()))
    codes = [d.lgd_code for d in all_districts()]
    for n in (6, 30, 75):
        figures = {
            c: {
                "rural_target": 900,
                "rural_opened": 700,
                "urban_target": 100,
                "urban_opened": 60,
                "functional": 650,
                "b2c_enabled": 200,
            }
            for c in codes[:n]
        }
        found.append((f"template, {n} districts", report_workbook("CMS Computers", Week(2026, 47), codes[:n], figures)))
    spec = importlib.util.spec_from_file_location("make_workbooks", ROOT / "fixtures" / "make_workbooks.py")
    assert spec is not None and spec.loader is not None  # noqa: S101 - our own file
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_workbooks"] = module
    spec.loader.exec_module(module)
    found.append(("200,000-row sheet (bench.py)", module.huge_sheet(200_000)))
    spec = importlib.util.spec_from_file_location("make_hostile", ROOT / "fixtures" / "make_hostile.py")
    assert spec is not None and spec.loader is not None  # noqa: S101 - our own file
    hostile = importlib.util.module_from_spec(spec)
    sys.modules["make_hostile"] = hostile
    spec.loader.exec_module(hostile)
    found.append(("xlsx, 2,000-cell rows (hostile, CPU heavy)", hostile.xlsx_cpu_heavy()))
    found.append(("xls, 30 sheets padded (hostile)", hostile.xls_padded(30)))
    return found


def main() -> int:
    print(f"{'workbook':<44} {'openpyxl':>9} {'calamine':>9} {'ratio':>6} {'parse':>8}  differences")
    totals = [0.0, 0.0]
    for name, content in workbooks():
        try:
            started = time.process_time()
            sheets = load(content).sheets
            first = time.process_time() - started
        except Refused as exc:
            print(f"{name:<44} {'refused before reading: ' + exc.code:>36}")
            continue
        runs = 1 if len(content) > 1_000_000 or "hostile" in name else 5
        mine = best(lambda c=content: load(c), runs) if runs > 1 else first
        try:
            theirs = best(lambda c=content: calamine_grids(c), runs)
            diff = differences(content, sheets)
        except Exception as exc:
            print(f"{name:<44} {mine * 1000:7.1f}ms {'fails':>9}        {'':>8}  calamine: {type(exc).__name__}: {exc}")
            continue
        # A hostile file's whole parse is the sandbox's to stop (bench.py): not repeated here.
        parse = (
            best(lambda c=content, n=name: parse_workbook(c, n if "." in n else "r.xlsx"), runs)
            if "hostile" not in name
            else float("nan")
        )
        totals[0] += mine
        totals[1] += theirs
        shown = "; ".join(diff[:3]) + (f"; ... {len(diff)} in all" if len(diff) > 3 else "")
        print(
            f"{name:<44} {mine * 1000:7.1f}ms {theirs * 1000:7.1f}ms {mine / theirs:5.1f}x {parse * 1000:6.1f}ms"
            f"  {shown or 'none'}  (form: {form_differences(content, sheets) or 'same'})"
        )
    print(f"{'all read by both':<44} {totals[0] * 1000:7.1f}ms {totals[1] * 1000:7.1f}ms {totals[0] / totals[1]:5.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Speed and memory of the paths a hostile or huge input takes, and of the demo. Run: `make bench`.

Targets (this 2-core machine); a result over its target prints FAIL and the script exits 1:
  message with 100,000 parts      < 2 s     (mail-parser needs ~4 s on the same input)
  message nested 2,000 deep       < 2 s
  workbook with 200,000 rows      < 5 s,  < 200 MB peak
  zip bomb (30 KB -> 24 MB)       < 1 s,  < 50 MB peak (refused before it is opened)
  billion laughs                  < 1 s,  < 50 MB peak (defusedxml refuses it)
  `mailbot demo` (a whole week)   < 45 s
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mailbot.demo import run_demo
from mailbot.message import parse_message
from mailbot.workbook import parse_workbook

ROOT = Path(__file__).resolve().parent.parent


def _load(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def measure(label: str, fn: Callable[[], object], seconds: float, megabytes: float | None = None) -> bool:
    started = time.perf_counter()
    fn()
    took = time.perf_counter() - started
    peak = 0.0
    if megabytes is not None:  # a second run: tracing slows the first one down many times over
        tracemalloc.start()
        fn()
        peak = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
    ok = took < seconds and (megabytes is None or peak < megabytes)
    limit = f"< {seconds} s" + (f", < {megabytes} MB" if megabytes else "")
    memory = f"{peak:8.1f} MB peak" if megabytes is not None else " " * 16
    print(f"{'ok  ' if ok else 'FAIL'} {label:<34} {took:7.2f} s  {memory}   (target {limit})")
    return ok


def main() -> int:
    emails = _load("make_emails", ROOT / "fixtures" / "make_emails.py")
    workbooks = _load("make_workbooks", ROOT / "fixtures" / "make_workbooks.py")
    many = emails.many_parts(100_000)
    deep = (ROOT / "fixtures" / "emails" / "deep_nesting_2000.eml").read_bytes()
    bomb = (ROOT / "fixtures" / "workbooks" / "zip_bomb.xlsx").read_bytes()
    laughs = (ROOT / "fixtures" / "workbooks" / "billion_laughs.xlsx").read_bytes()
    huge = workbooks.huge_sheet(200_000)

    results = [
        measure("message, 100,000 parts", lambda: parse_message(many), 2),
        measure("message, nested 2,000 deep", lambda: parse_message(deep), 2),
        measure("workbook, 200,000 rows", lambda: parse_workbook(huge, "huge.xlsx"), 5, 200),
        measure("zip bomb", lambda: parse_workbook(bomb, "bomb.xlsx"), 1, 50),
        measure("billion laughs", lambda: parse_workbook(laughs, "laughs.xlsx"), 1, 50),
    ]
    if "--no-demo" not in sys.argv:
        with tempfile.TemporaryDirectory() as workdir:
            results.append(measure("mailbot demo", lambda: run_demo(Path(workdir), lambda _: None), 45))
    return 0 if all(results) else 1



if __name__ == "__main__":
    sys.exit(main())

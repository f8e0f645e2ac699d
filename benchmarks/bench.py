"""Speed and memory of the paths a hostile or huge input takes, and of the demo. Run: `make bench`.

Targets (this 2-core machine); a result over its target prints FAIL and the script exits 1:
  message with 100,000 parts      < 2 s     (mail-parser needs ~4 s on the same input)
  message nested 2,000 deep       < 2 s
  workbook with 200,000 rows      < 5 s,  < 200 MB peak
  zip bomb (30 KB -> 24 MB)       < 1 s,  < 50 MB peak (refused before it is opened)
  billion laughs                  < 1 s,  < 50 MB peak (defusedxml refuses it)
  `mailbot demo` (a whole week)   < 45 s
  each hostile file (fixtures/make_hostile.py), parsed in the sandbox: within its budget, 10 s CPU and 512 MB
  peak resident memory of the child (mailbot.sandbox); the sandbox's overhead per attachment < 20 ms
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mailbot.demo import run_demo
from mailbot.message import parse_message
from mailbot.sandbox import CPU_SECONDS, MEMORY_BYTES, Sandbox
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


def budgeted(label: str, content: bytes, filename: str) -> bool:
    """One file in a fresh sandbox: the child's CPU seconds and peak RSS for it, beside the budget."""
    sandbox = Sandbox()
    try:
        before = sandbox.usage()  # the worker's start-up is not the file's cost
        started = time.perf_counter()
        parsed = sandbox.parse(content, filename)
        took = time.perf_counter() - started
        after = sandbox.last_usage
    finally:
        sandbox.close()
    cpu = (after.cpu_seconds - before.cpu_seconds) if after else float("nan")
    rss = after.peak_rss_mb if after else float("nan")
    budget_mb = MEMORY_BYTES / 2**20  # MiB, as ru_maxrss / 1024
    ok = after is not None and cpu <= CPU_SECONDS + 1.5 and rss <= budget_mb
    outcome = ",".join(p.code for p in parsed.problems if p.severity == "error") or "read"
    print(
        f"{'ok  ' if ok else 'FAIL'} {label:<38} {took:7.2f} s  {cpu:6.2f} s CPU {rss:7.1f} MB peak  "
        f"(budget {CPU_SECONDS} s, {budget_mb:.0f} MB) -> {outcome}"
    )
    return ok


def sandbox_overhead(content: bytes, files: int = 100) -> bool:
    """Per attachment, what the sandbox adds to parsing in-process (ingest-speed targets, issue 11)."""
    sandbox = Sandbox()
    try:
        sandbox.parse(content, "warm.xlsx")
        started = time.perf_counter()
        for _ in range(files):
            sandbox.parse(content, "r.xlsx")
        boxed = (time.perf_counter() - started) / files
    finally:
        sandbox.close()
    started = time.perf_counter()
    for _ in range(files):
        parse_workbook(content, "r.xlsx")
    inline = (time.perf_counter() - started) / files
    extra = (boxed - inline) * 1000
    ok = extra < 20
    print(
        f"{'ok  ' if ok else 'FAIL'} {'sandbox overhead per attachment':<34} {extra:7.1f} ms  "
        f"({boxed * 1000:.1f} ms boxed, {inline * 1000:.1f} ms in-process; target < 20 ms)"
    )
    return ok


def header_cost(label: str, raw: bytes, seconds: float) -> bool:
    """Parse a hostile message's headers in a child (a run-away parse is killed at ``seconds``)."""
    code = (
        "import sys; from mailbot.message import parse_message\ntry: parse_message(sys.stdin.buffer.read())\n"
        "except Exception: pass"
    )
    started = time.perf_counter()
    try:
        subprocess.run([sys.executable, "-c", code], input=raw, timeout=seconds, check=False, capture_output=True)
    except subprocess.TimeoutExpired:
        print(f"FAIL {label:<34} > {seconds} s (stopped)   (target < {seconds} s)")
        return False
    took = time.perf_counter() - started
    ok = took < seconds
    print(f"{'ok  ' if ok else 'FAIL'} {label:<34} {took:7.2f} s                    (target < {seconds} s)")
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
    hostile = _load("make_hostile", ROOT / "fixtures" / "make_hostile.py")
    results += [
        budgeted("xls, 30 sheets padded to 65,536 rows", hostile.xls_padded(30), "padded.xls"),
        budgeted("xls, the same lying about its size", hostile.xls_padded(30, declared=(1, 1)), "lying.xls"),
        budgeted("xlsx, 2,000-cell rows (CPU heavy)", hostile.xlsx_cpu_heavy(), "heavy.xlsx"),
        budgeted("workbook, 200,000 rows (sandboxed)", huge, "huge.xlsx"),
        sandbox_overhead(hostile.report_xlsx()),
        header_cost("message, From with 1,000 comments", hostile.nested_comments_from(), 2),
        header_cost("message, 2.2 MB encoded Subject", hostile.huge_encoded_subject(), 10),
    ]
    if "--no-demo" not in sys.argv:
        with tempfile.TemporaryDirectory() as workdir:
            results.append(measure("mailbot demo", lambda: run_demo(Path(workdir), lambda _: None), 45))
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())

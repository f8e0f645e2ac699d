#!/usr/bin/env python3
"""Render what people receive, to look at it: every email `mailbot demo` sent, at phone and desktop width, and
CEG's summary workbook as printed.

    .venv/bin/mailbot demo && .venv/bin/python scripts/render_emails.py [demo-output] [--out demo-output/render]

Each .eml in demo-output/outgoing/<recipient>/ -> its HTML part (CID images inlined as data: URIs, so the
browser needs no mail client) -> headless Chromium screenshots at 412 px (a phone) and 1280 px (a desktop), named
``<eml>-412.png`` / ``<eml>-1280.png``; an email without HTML is shown as its plain text. The workbooks
(demo-output/*.xlsx) -> LibreOffice PDF -> one PNG per printed page (pdftoppm). Needs ``chromium``,
``libreoffice-calc`` and ``poppler-utils`` (Debian packages); a missing one is named and skipped.
"""

from __future__ import annotations

import argparse
import base64
import email
import email.policy
import html
import shutil
import subprocess
import sys
import tempfile
from email.message import EmailMessage
from pathlib import Path

WIDTHS = (412, 1280)
PAGE_HEIGHT = 2400  # tall enough for the longest email; the first phone screen is the top ~800 px


def html_of(msg: EmailMessage) -> str:
    """The HTML body with every ``cid:`` reference replaced by the image itself; plain text wrapped if no HTML."""
    body = msg.get_body(preferencelist=("html", "plain"))
    if body is None:
        return "<p>(no body)</p>"
    text = str(body.get_content())
    if body.get_content_type() == "text/plain":
        return f'<meta charset="utf-8"><pre style="white-space:pre-wrap;font:14px sans-serif">{html.escape(text)}</pre>'
    for part in msg.walk():
        cid = part.get("Content-ID")
        if cid and part.get_content_maintype() == "image":
            data = base64.b64encode(part.get_payload(decode=True)).decode()
            text = text.replace(f"cid:{cid.strip('<>')}", f"data:{part.get_content_type()};base64,{data}")
    return text


def screenshot(chromium: str, page: Path, out: Path, width: int) -> None:
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--screenshot={out}",
            f"--window-size={width},{PAGE_HEIGHT}",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )


def render_emails(sent: Path, out: Path) -> int:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("chromium not found (apt-get install -y chromium): emails not rendered", file=sys.stderr)
        return 0
    count = 0
    with tempfile.TemporaryDirectory() as tmp:
        for eml in sorted(sent.glob("*/*.eml")):  # outgoing/<recipient>/NNN-<kind>.eml
            msg = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
            if not isinstance(msg, EmailMessage):  # always one with policy.default; for the type checker
                continue
            name = f"{eml.parent.name}-{eml.stem}"
            page = Path(tmp) / f"{name}.html"
            page.write_text(html_of(msg), encoding="utf-8")
            for width in WIDTHS:
                screenshot(chromium, page, out / f"{name}-{width}.png", width)
                count += 1
    return count


def render_workbooks(books: list[Path], out: Path) -> int:
    soffice, pdftoppm = shutil.which("soffice"), shutil.which("pdftoppm")
    if soffice is None or pdftoppm is None:
        print(
            "soffice or pdftoppm not found (apt-get install -y libreoffice-calc poppler-utils): workbooks not rendered",
            file=sys.stderr,
        )
        return 0
    count = 0
    with tempfile.TemporaryDirectory() as tmp:
        for book in books:
            # A private profile: a LibreOffice the user has open would otherwise swallow the conversion.
            subprocess.run(
                [
                    soffice,
                    f"-env:UserInstallation=file://{tmp}/profile",
                    "--headless",
                    "--convert-to",
                    "pdf",
                    "--outdir",
                    tmp,
                    str(book),
                ],
                check=True,
                capture_output=True,
                timeout=300,
            )
            pdf = Path(tmp) / f"{book.stem}.pdf"
            subprocess.run([pdftoppm, "-png", "-r", "80", str(pdf), str(out / book.stem)], check=True, timeout=300)
            count += len(list(out.glob(f"{book.stem}-*.png")))
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("demo_output", nargs="?", type=Path, default=Path("demo-output"))
    parser.add_argument("--out", type=Path, help="folder for the PNGs (default: DEMO_OUTPUT/render)")
    args = parser.parse_args()
    out: Path = args.out or args.demo_output / "render"
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.png"):
        old.unlink()
    emails = render_emails(args.demo_output / "outgoing", out)
    pages = render_workbooks(sorted(args.demo_output.glob("*.xlsx")), out)
    print(f"{emails} email screenshots and {pages} workbook pages in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

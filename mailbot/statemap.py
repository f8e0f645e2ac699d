"""The picture in CEG's summary: U.P.'s 75 districts coloured by the week's status. Data in, PNG bytes out.

Pure (no clock, no I/O but the packaged boundaries). Pillow draws them: it imports in a few tens of milliseconds
and writes small palette PNGs; matplotlib would take a second to import for one flat picture. The picture
carries no words (a mail client shows them without fonts we cannot promise for Hindi): the email's legend names
each colour in English and Hindi with its count. Colour is never the only cue: late, missing and invalid
districts also carry a hatch of their own.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from importlib import resources

from PIL import Image, ImageDraw

# Stronger than the workbook's pale cell fills: a map needs contrast between neighbours. Order = legend order.
MAP_COLOURS = {
    "on_time": "#3a9a4a",  # green
    "late": "#f2a93b",  # amber, horizontal lines
    "missing": "#d7301f",  # red, diagonal lines
    "invalid": "#7b4fa0",  # purple, cross-hatch
    "pending": "#bdbdbd",  # grey
}
PATTERNS = {"on_time": "", "late": "lines", "missing": "diagonal", "invalid": "crosshatch", "pending": ""}
# The worse status decides a district's colour when several DSPs serve it.
SEVERITY = ("missing", "invalid", "late", "pending", "on_time")
MAP_WIDTH = 640
_NO_DATA = "#ffffff"
_BORDER = "#ffffff"
_OUTLINE = "#555555"


@cache
def _boundaries() -> tuple[tuple[int, tuple[tuple[float, float], ...]], ...]:
    text = resources.files("mailbot").joinpath("data/up_districts.geojson").read_text(encoding="utf-8")
    rings = []
    for feature in json.loads(text)["features"]:
        geometry = feature["geometry"]
        polygons = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
        for polygon in polygons:
            rings.append((int(feature["properties"]["lgd_code"]), tuple((x, y) for x, y in polygon[0])))
    return tuple(rings)


def district_codes() -> frozenset[int]:
    """The LGD codes the map can draw (all 75 districts)."""
    return frozenset(code for code, _ in _boundaries())


def worst(statuses: Sequence[str]) -> str:
    """The status a district shows when its DSPs differ: the most urgent one."""
    return min(statuses, key=SEVERITY.index)


def district_statuses(pairs: Iterable[tuple[int, str]]) -> dict[int, str]:
    """(LGD code, status) per expected (DSP, district) pair -> one status per district (the worst)."""
    by_district: dict[int, list[str]] = {}
    for lgd_code, status in pairs:
        by_district.setdefault(lgd_code, []).append(status)
    return {lgd: worst(statuses) for lgd, statuses in by_district.items()}


def _pattern(kind: str, size: tuple[int, int], colour: str) -> Image.Image:
    """A tile of the status colour with its hatch drawn in white."""
    img = Image.new("RGB", size, colour)
    draw = ImageDraw.Draw(img)
    w, h = size
    # Thin, sparse white lines: the hatch must show without washing out the colour the legend names.
    step = 6 if kind == "lines" else 8
    if kind == "lines":
        for y in range(0, h, step):
            draw.line([(0, y), (w, y)], fill="#ffffff", width=1)
    if kind in ("diagonal", "crosshatch"):
        for x in range(-h, w, step):
            draw.line([(x, 0), (x + h, h)], fill="#ffffff", width=1)
    if kind == "crosshatch":
        for x in range(0, w + h, step + 4):
            draw.line([(x, 0), (x - h, h)], fill="#ffffff", width=1)
    return img


def _png(img: Image.Image) -> bytes:
    out = io.BytesIO()
    # A palette of a few colours: a fraction of the bytes of RGB, and every mail client shows it.
    img.convert("P", palette=Image.Palette.ADAPTIVE, colors=16).save(out, "PNG", optimize=True)
    return out.getvalue()


def _frame(width: int) -> tuple[float, float, float, float, int, tuple[int, int]]:
    """West, north, the longitude squeeze, pixels per degree, the margin and the image size for ``width``."""
    rings = _boundaries()
    lons = [x for _, ring in rings for x, _ in ring]
    lats = [y for _, ring in rings for _, y in ring]
    west, east, south, north = min(lons), max(lons), min(lats), max(lats)
    squeeze = math.cos(math.radians((south + north) / 2))  # degrees of longitude are shorter than of latitude
    margin = 6
    scale = (width - 2 * margin) / ((east - west) * squeeze)
    return west, north, squeeze, scale, margin, (width, round((north - south) * scale) + 2 * margin)


def status_map(statuses: Mapping[int, str], width: int = MAP_WIDTH) -> bytes:
    """The 75 districts, each filled with its status colour and hatch (``statuses``: LGD code -> status key;
    a district not in it is white: nothing was expected there)."""
    rings = _boundaries()
    west, north, squeeze, scale, margin, size = _frame(width)

    def xy(ring: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
        return [(margin + (x - west) * squeeze * scale, margin + (north - y) * scale) for x, y in ring]

    img = Image.new("RGB", size, "#ffffff")
    draw = ImageDraw.Draw(img)
    masks: dict[str, Image.Image] = {}  # one mask per hatched status: a paste per status, not per district
    for code, ring in rings:
        status = statuses.get(code, "")
        if PATTERNS.get(status):
            if status not in masks:
                masks[status] = Image.new("1", size, 0)
            ImageDraw.Draw(masks[status]).polygon(xy(ring), fill=1)
        else:
            draw.polygon(xy(ring), fill=MAP_COLOURS.get(status, _NO_DATA))
    for status, mask in masks.items():
        img.paste(_pattern(PATTERNS[status], size, MAP_COLOURS[status]), (0, 0), mask)
    for _, ring in rings:  # borders last, so no fill covers a neighbour's edge
        draw.line([*xy(ring), xy(ring)[0]], fill=_OUTLINE, width=2)
    return _png(img)


def map_size(width: int = MAP_WIDTH) -> tuple[int, int]:
    """The pixel size ``status_map`` draws at ``width`` (for the <img> tag's width and height)."""
    return _frame(width)[-1]

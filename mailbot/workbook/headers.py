"""The report's columns and labels: one definition shared by the template writer and the workbook parser.

Pure. ``COLUMNS`` is the canonical template (domain.md); each column also lists wordings seen in real files.
``match_header`` maps a header cell to a column key by comparing *keys*: text normalised (NFC, case-folded,
nukta dropped, punctuation gone), JSK/CSC/kendra wordings unified, filler words dropped and the words sorted,
so "No. of Rural CSC established" and "स्थापित ग्रामीण जन सेवा केंद्र" find their column without a synonym each.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz, process

from mailbot.districts import normalise


@dataclass(frozen=True)
class Column:
    key: str
    en: str
    hi: str
    required: bool
    synonyms: tuple[str, ...] = ()

    @property
    def both(self) -> str:
        return f"{self.en} / {self.hi}"


COLUMNS: tuple[Column, ...] = (
    Column(
        "district",
        "District",
        "जनपद",
        True,
        (
            "District Name",
            "Name of District",
            "Name of the District",
            "Districts",
            "Distt",
            "Dist",
            "जनपद का नाम",
            "जिला",
            "जिले का नाम",
            "जिला का नाम",
            "जनपद/जिला",
        ),
    ),
    Column(
        "lgd_code",
        "LGD code",
        "एलजीडी कोड",
        False,
        (
            "LGD",
            "LGD district code",
            "District code",
            "District LGD code",
            "एल.जी.डी. कोड",
            "जनपद कोड",
            "एलजीडी",
        ),
    ),
    Column(
        "rural_target",
        "Rural JSK target",
        "ग्रामीण जन सेवा केन्द्र लक्ष्य",
        True,
        (
            "Rural target",
            "Target (Rural)",
            "Target of rural JSK",
            "Rural CSC target",
            "Rural JSK tgt",
            "ग्रामीण लक्ष्य",
            "लक्ष्य (ग्रामीण)",
            "ग्रामीण क्षेत्र लक्ष्य",
        ),
    ),
    Column(
        "rural_opened",
        "Rural JSKs opened (cumulative)",
        "स्थापित ग्रामीण जन सेवा केन्द्र (संचयी)",
        True,
        (
            "Rural JSKs opened",
            "No. of Rural JSK opened",
            "Total Rural CSC established",
            "Rural opened",
            "Rural achievement",
            "Achievement (Rural)",
            "Opened (Rural)",
            "Rural JSKs opened till date",
            "ग्रामीण स्थापित",
            "स्थापित (ग्रामीण)",
            "ग्रामीण उपलब्धि",
            "खोले गये ग्रामीण केन्द्र",
        ),
    ),
    Column(
        "urban_target",
        "Urban JSK target",
        "शहरी जन सेवा केन्द्र लक्ष्य",
        True,
        (
            "Urban target",
            "Target (Urban)",
            "Target of urban JSK",
            "Urban CSC target",
            "Urban JSK tgt",
            "शहरी लक्ष्य",
            "लक्ष्य (शहरी)",
            "नगरीय लक्ष्य",
        ),
    ),
    Column(
        "urban_opened",
        "Urban JSKs opened (cumulative)",
        "स्थापित शहरी जन सेवा केन्द्र (संचयी)",
        True,
        (
            "Urban JSKs opened",
            "No. of Urban JSK opened",
            "Total Urban CSC established",
            "Urban opened",
            "Urban achievement",
            "Achievement (Urban)",
            "Opened (Urban)",
            "Urban JSKs opened till date",
            "शहरी स्थापित",
            "स्थापित (शहरी)",
            "शहरी उपलब्धि",
            "नगरीय स्थापित",
            "खोले गये शहरी केन्द्र",
        ),
    ),
    Column(
        "opened_this_week",
        "Opened this week",
        "इस सप्ताह स्थापित",
        False,
        (
            "JSKs opened this week",
            "New JSKs opened this week",
            "Opened during the week",
            "Weekly progress",
            "सप्ताह में स्थापित",
            "इस सप्ताह खोले गये",
            "साप्ताहिक प्रगति",
        ),
    ),
    Column(
        "functional",
        "Functional JSKs",
        "क्रियाशील जन सेवा केन्द्र",
        False,
        (
            "Functional",
            "Operational JSKs",
            "Active JSKs",
            "Working JSKs",
            "क्रियाशील",
            "कार्यरत केन्द्र",
            "कार्यरत",
        ),
    ),
    Column(
        "transacting",
        "JSKs transacting in the last 7 days",
        "विगत 7 दिवस में लेन-देन करने वाले केन्द्र",
        False,
        (
            "Transacting JSKs",
            "Transacting in last 7 days",
            "Transacting",
            "Transacting CSCs (last 7 days)",
            "JSKs with transactions in last 7 days",
            "लेन-देन करने वाले केन्द्र",
            "लेनदेन करने वाले केन्द्र",
            "पिछले 7 दिन में लेन-देन करने वाले केन्द्र",
        ),
    ),
    Column(
        "b2c_enabled",
        "JSKs offering B2C services",
        "बी2सी सेवायें देने वाले केन्द्र",
        False,
        (
            "B2C enabled",
            "B2C enabled JSKs",
            "B2C",
            "JSKs with B2C services",
            "B2C services",
            "बी2सी सेवाएं देने वाले केन्द्र",
            "बी2सी",
            "बी2सी सेवायें",
        ),
    ),
    Column(
        "remarks",
        "Remarks",
        "टिप्पणी",
        False,
        (
            "Remark",
            "Comments",
            "Comment",
            "अभ्युक्ति",
            "रिमार्क",
            "टिप्पणी/अभ्युक्ति",
        ),
    ),
)

COLUMN_BY_KEY: dict[str, Column] = {c.key: c for c in COLUMNS}
REQUIRED: tuple[str, ...] = tuple(c.key for c in COLUMNS if c.required)
FIGURE_KEYS: tuple[str, ...] = tuple(c.key for c in COLUMNS if c.key not in ("district", "lgd_code", "remarks"))
OPTIONAL_FIGURES: tuple[str, ...] = tuple(k for k in FIGURE_KEYS if k not in REQUIRED)

# A serial-number column is recognised so that it is ignored, not fuzzily taken for another column.
SERIAL = "serial"
_SERIAL_WORDINGS = (
    "S.No.",
    "S. No.",
    "Sr. No.",
    "Sl. No.",
    "Serial",
    "Serial No.",
    "S.N.",
    "क्रमांक",
    "क्र.सं.",
    "क्रम संख्या",
    "क्र0सं0",
    "क्र.",
)

TITLE = "Weekly Jan Seva Kendra progress report / साप्ताहिक जन सेवा केन्द्र प्रगति रिपोर्ट"
DSP_LABEL = "DSP / सेवा प्रदाता:"
WEEK_ENDING_LABEL = "Week ending / सप्ताह समाप्ति तिथि:"

# Label cells above the table, compared with plain() of each '/'-separated part of the text before ':'.
WEEK_ENDING_LABELS = frozenset(
    {
        "week ending",
        "week ending on",
        "for the week ending",
        "week ending date",
        "week ended",
        "week end",
        "सप्ताह समाप्ति तिथि",
        "सप्ताह समाप्ति",
        "सप्ताह समाप्ति दिनांक",
        "सप्ताहांत",
        "सप्ताह की समाप्ति",
    }
)
DSP_LABELS = frozenset(
    {
        "dsp",
        "dsp name",
        "name of dsp",
        "name of the dsp",
        "district service provider",
        "service provider",
        "सेवा प्रदाता",
        "सेवा प्रदाता का नाम",
        "डीएसपी",
        "डीएसपी का नाम",
    }
)
TOTAL_WORDS = frozenset({"योग", "कुल", "कुल योग", "महायोग", "सकल योग", "total", "grand total", "sum", "totals"})

_DEVANAGARI_DIGITS = str.maketrans("०१२३४५६७८९", "0123456789")

# Wordings of "Jan Seva Kendra" and of other filler: they distinguish no column, so they are dropped.
_JSK_PHRASES = (
    "common service centres",
    "common service centers",
    "common service centre",
    "common service center",
    "jan seva kendras",
    "jan seva kendra",
    "जन सेवा केंद्रों",
    "जन सेवा केंद्र",
    "जनसेवा केंद्रों",
    "जनसेवा केंद्र",
)
_DROPPED = frozenset(
    (
        "jsk",
        "jsks",
        "csc",
        "cscs",
        "kendra",
        "kendras",
        "centre",
        "centres",
        "center",
        "centers",
        "सीएससी",
        "केंद्र",
        "केंद्रों",
        "no",
        "nos",
        "number",
        "of",
        "the",
        "total",
        "count",
        "cumulative",
        "till",
        "date",
        "so",
        "far",
        "upto",
        "up",
        "to",
        "की",
        "का",
        "के",
        "में",
        "संख्या",
        "कुल",
        "संचयी",
        "अद्यतन",
        "तक",
    )
)
_SAME_WORD = {
    "established": "opened",
    "estd": "opened",
    "open": "opened",
    "achievement": "opened",
    "नगरीय": "शहरी",
    "सेवाएं": "सेवायें",
    "सेवाये": "सेवायें",
    "लेनदेन": "लेन देन",
    "पिछले": "विगत",
    "दिन": "दिवस",
    "operational": "functional",
    "active": "functional",
    "working": "functional",
    "कार्यरत": "क्रियाशील",
    "remark": "remarks",
    "comments": "remarks",
    "comment": "remarks",
}

_FUZZY_CUTOFF = 86.0
_FUZZY_MARGIN = 6.0  # the best column must beat every other column by this much
_FUZZY_MIN_LEN = 5


def plain(text: str) -> str:
    """``districts.normalise`` (case, nukta, chandrabindu, nasal conjuncts, zero-width characters), Devanagari
    digits as ASCII, punctuation as spaces, spaces collapsed. Devanagari vowel signs are combining marks, so
    punctuation is found by Unicode category rather than with ``\\w`` (which would drop them)."""
    text = normalise(text.translate(_DEVANAGARI_DIGITS))
    kept = "".join(ch if unicodedata.category(ch)[0] in "LMN" else " " for ch in text)
    return " ".join(kept.split())


def header_key(text: str) -> str:
    """The comparison key of a header: plain(), JSK wordings and filler dropped, synonyms unified, words sorted."""
    padded = f" {plain(text)} "
    for phrase in _JSK_PHRASES:
        padded = padded.replace(f" {phrase} ", " jsk ")
    words = (_SAME_WORD.get(w, w) for w in padded.split())
    return " ".join(sorted(w for w in " ".join(words).split() if w not in _DROPPED))


@lru_cache(maxsize=1)
def _synonym_keys() -> dict[str, str]:
    keys: dict[str, str] = {}
    for column in COLUMNS:
        for wording in (column.en, column.hi, *column.synonyms):
            keys.setdefault(header_key(wording), column.key)
    for wording in _SERIAL_WORDINGS:
        keys.setdefault(header_key(wording), SERIAL)
    keys.pop("", None)
    return keys


@lru_cache(maxsize=4096)
def match_header(text: str) -> str | None:
    """The column key a header cell names, ``SERIAL`` for a serial-number column, or None.

    "District / जनपद" and "District\\nजनपद" match through either half.
    """
    parts = [text, *re.split(r"[/\n|]", text)] if re.search(r"[/\n|]", text) else [text]
    keys = _synonym_keys()
    for part in parts:
        found = keys.get(header_key(part))
        if found:
            return found
    for part in parts:
        found = _fuzzy(header_key(part), keys)
        if found:
            return found
    return None


def _fuzzy(key: str, keys: dict[str, str]) -> str | None:
    if len(key) < _FUZZY_MIN_LEN:
        return None
    best: dict[str, float] = {}
    for choice, score, _ in process.extract(key, list(keys), scorer=fuzz.ratio, limit=20, score_cutoff=60.0):
        column = keys[choice]
        best[column] = max(best.get(column, 0.0), score)
    ranked = sorted(best.items(), key=lambda item: item[1], reverse=True)
    if not ranked or ranked[0][1] < _FUZZY_CUTOFF:
        return None
    if len(ranked) > 1 and ranked[0][1] - ranked[1][1] < _FUZZY_MARGIN:
        return None
    return ranked[0][0]


def label_and_value(text: str) -> tuple[str, str]:
    """Split "Week ending / सप्ताह समाप्ति तिथि: 07/12/2026" into the label and what follows the colon."""
    match = re.match(r"([^:：]*)[:：](.*)", text, re.DOTALL)
    if match is None:
        return text, ""
    return match.group(1), match.group(2).strip()


def is_label(label: str, labels: frozenset[str]) -> bool:
    """Whether the label text (or one of its '/'-separated halves) is one of ``labels``."""
    return any(plain(part) in labels for part in (label, *label.split("/")))


def is_total(text: str) -> bool:
    """A total row's label: योग, कुल, Total, Grand Total, "Total (5 districts)"."""
    words = plain(text)
    return words in TOTAL_WORDS or words.startswith(("total ", "grand total", "कुल योग", "महायोग"))

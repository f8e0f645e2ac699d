"""The 75 districts of Uttar Pradesh and how to recognise them in what people type.

Pure. The LGD code is the stable key (renames did not change it). ``match_district`` tries, in order:
the LGD code; an exact name (English, Hindi, old name, alias) after normalisation; a fuzzy match that
must be clearly better than the runner-up; and last, text typed in the legacy Kruti Dev font.
It never guesses: a tie raises ``AmbiguousDistrict``, a weak match ``UnknownDistrict``.
"""

from __future__ import annotations

import csv
import io
import math
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from rapidfuzz import fuzz, process


@dataclass(frozen=True)
class District:
    lgd_code: int
    name_en: str
    name_hi: str
    division: str
    aliases: tuple[str, ...]


class DistrictMatchError(ValueError):
    """Raised when a text names no single district; ``candidates``: the near misses, or the tie."""

    def __init__(self, message: str, text: str, candidates: tuple[District, ...] = ()) -> None:
        super().__init__(message)
        self.text = text
        self.candidates = candidates


class UnknownDistrict(DistrictMatchError):
    """Raised when nothing is close enough to a district name."""


class AmbiguousDistrict(DistrictMatchError):
    """Raised when the text fits two districts equally well (e.g. "Akbarpur")."""


# Names the CSV cannot hold because they belong to two districts: headquarters towns shared by both.
_SHARED_NAMES = {"Akbarpur": (121, 156), "अकबरपुर": (121, 156)}

# Words around a name that say nothing about which district: "District Agra", "जनपद आगरा", "Agra (U.P.)".
_NOISE_WORDS = frozenset(
    (
        "district",
        "districts",
        "distt",
        "dist",
        "zila",
        "zilla",
        "jila",
        "janpad",
        "up",
        "uttar",
        "pradesh",
        "जनपद",
        "जिला",
        "जिल्ला",
        "उत्तर",
        "प्रदेश",
        "उ",
        "प्र",
    )
)

# Fuzzy scores are rapidfuzz ratios (0-100) on the compact key. Below MIN_FUZZY_LEN characters a key is
# too short to guess from ("योग", "कुल", "Mau" typos): only exact matches count.
_THRESHOLD = 85.0
_MARGIN = 6.0  # the best district must beat the runner-up by this much, else ambiguous
_MIN_FUZZY_LEN = 5
_SUGGEST = 70.0  # near misses worth naming in an UnknownDistrict
# Parts of many names: a near miss sharing only these is no hint ("Gotham Nagar" is not "Bhim Nagar").
_GENERIC_WORDS = frozenset(("nagar", "ngr", "nagr", "नगर", "dehat", "देहात", "kheri", "खीरी"))


@lru_cache(maxsize=1)
def all_districts() -> tuple[District, ...]:
    """The 75 districts, sorted by English name."""
    text = resources.files("mailbot").joinpath("data/up_districts.csv").read_text(encoding="utf-8")
    rows = csv.DictReader(io.StringIO(text))
    found = [
        District(
            lgd_code=int(row["lgd_code"]),
            name_en=row["name_en"].strip(),
            name_hi=unicodedata.normalize("NFC", row["name_hi"].strip()),
            division=row["division"].strip(),
            aliases=tuple(a.strip() for a in row["aliases"].split(";") if a.strip()),
        )
        for row in rows
    ]
    return tuple(sorted(found, key=lambda d: d.name_en))


@lru_cache(maxsize=1)
def _by_code() -> dict[int, District]:
    return {d.lgd_code: d for d in all_districts()}


def by_code(lgd_code: int) -> District:
    """The district with this LGD code; KeyError if there is none."""
    return _by_code()[lgd_code]


def divisions() -> tuple[str, ...]:
    """The 18 divisions, sorted."""
    return tuple(sorted({d.division for d in all_districts()}))


# A nasal consonant + virama before another consonant is written either way: गोण्डा = गोंडा, सम्भल = संभल.
_NASAL_CONJUNCT = re.compile("[ङञणनम]\u094d(?=[क-ह])")
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\ufeff"))


def normalise(text: str) -> str:
    """The one form Hindi and English text is compared in (district names here, report headers in
    ``workbook.headers.plain``, roster headers): NFC, case-folded, no nukta, chandrabindu as anusvara, a nasal
    conjunct as anusvara (गोण्डा = गोंडा, केन्द्र = केंद्र), no zero-width characters, spaces folded."""
    # NFD splits every nukta letter (NFC composes न + nukta into ऩ U+0929, ऱ, ऴ), so one removal covers all.
    text = unicodedata.normalize("NFD", text).translate(_ZERO_WIDTH).casefold()
    text = unicodedata.normalize("NFC", text.replace("\u093c", "").replace("\u0901", "\u0902"))
    return " ".join(_NASAL_CONJUNCT.sub("\u0902", text).split())


def _key(text: str) -> str:
    """The compact form names are compared in: normalised, no punctuation, no noise words, no spaces."""
    return "".join(_words(text))


def _words(text: str) -> list[str]:
    """The normalised words of a name, noise words ("District", "जनपद") dropped."""
    text = normalise(text)
    # Punctuation and symbols become spaces so "G.B. Nagar", "GB Nagar" and "Lakhimpur-Kheri" line up.
    text = "".join(" " if unicodedata.category(c)[0] in "PS" else c for c in text)
    return [w for w in text.split() if w not in _NOISE_WORDS]


@dataclass(frozen=True)
class _Index:
    exact: dict[str, frozenset[int]]
    keys: tuple[str, ...]
    codes: tuple[frozenset[int], ...]


@lru_cache(maxsize=1)
def _index() -> _Index:
    exact: defaultdict[str, set[int]] = defaultdict(set)
    for d in all_districts():
        for name in (d.name_en, d.name_hi, *d.aliases):
            if key := _key(name):
                exact[key].add(d.lgd_code)
    for name, codes in _SHARED_NAMES.items():
        exact[_key(name)].update(codes)
    frozen = {k: frozenset(v) for k, v in exact.items()}
    return _Index(frozen, tuple(frozen), tuple(frozen.values()))


def _districts(codes: frozenset[int]) -> tuple[District, ...]:
    return tuple(sorted((by_code(c) for c in codes), key=lambda d: d.name_en))


def _from_code(value: int | float | str) -> District | str | None:
    """District for an LGD code; None when the value is not a code at all; a message when no such code."""
    if isinstance(value, str):
        # \d takes Devanagari digits too, and int() reads them: '११८' == 118. "118.0" comes from CSV exports.
        m = re.fullmatch(r"(\d+)(?:\.0*)?", value.strip())
        if not m:
            return None
        if len(m.group(1)) > 9:  # no LGD code is this long; int() refuses over 4,300 digits with a ValueError
            return "too many digits for an LGD code"
        code = int(m.group(1))
    elif isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            return "not a whole number"
        code = int(value)
    else:
        code = value
    found = _by_code().get(code)
    return found if found is not None else f"no district has LGD code {code}"


def _fuzzy(key: str) -> list[tuple[float, int]]:
    """(best ratio, LGD code) per district scoring at least the suggestion cut-off, best first."""
    index = _index()
    best: dict[int, float] = {}
    for _choice, score, i in process.extract(key, index.keys, scorer=fuzz.ratio, score_cutoff=_SUGGEST, limit=None):
        for code in index.codes[i]:
            best[code] = max(best.get(code, 0.0), float(score))
    return sorted(((s, c) for c, s in best.items()), key=lambda t: -t[0])


def _resolve_key(key: str, fuzzy: bool, text: str) -> tuple[str, frozenset[int]]:
    """('ok'|'ambiguous'|'unknown', codes) for a compact key: exact first, then fuzzy."""
    index = _index()
    codes = index.exact.get(key)
    if codes is not None:
        return ("ok" if len(codes) == 1 else "ambiguous", codes)
    if len(key) < _MIN_FUZZY_LEN:
        return ("unknown", frozenset())
    ranked = _fuzzy(key)
    if not ranked or ranked[0][0] < _THRESHOLD:
        return ("unknown", frozenset(c for _, c in ranked[:3] if _alike_beyond_generic_words(text, c)))
    top = ranked[0][0]
    close = frozenset(c for s, c in ranked if s >= _THRESHOLD and top - s < _MARGIN)
    if not fuzzy:
        return ("unknown", close)
    return ("ok" if len(close) == 1 else "ambiguous", close)


def _alike_beyond_generic_words(text: str, lgd_code: int) -> bool:
    """Whether ``text`` still resembles one of the district's names once words such as "Nagar" are gone."""
    stem = _key_without_generic_words(text)
    district = by_code(lgd_code)
    names = (_key_without_generic_words(n) for n in (district.name_en, district.name_hi, *district.aliases))
    return bool(stem) and any(name and fuzz.ratio(stem, name) >= _SUGGEST for name in names)


def _key_without_generic_words(text: str) -> str:
    # Whole words only: "Rampoor" must keep its likeness to "Rampur".
    return "".join(w for w in _words(text) if w not in _GENERIC_WORDS)


def _resolve_parts(text: str) -> tuple[str, frozenset[int]] | None:
    """ "Akbarpur (Ambedkar Nagar)", "Bhadohi / Sant Ravidas Nagar": the named parts must agree on one."""
    parts = [_key(p) for p in re.split(r"[()\[\]/]", text)]
    if len([p for p in parts if p]) < 2:
        return None
    # Parts that name no district ("Kanpur Nagar (Urban)") are remarks, not a second opinion.
    known = [codes for p in parts if p and (codes := _index().exact.get(p)) is not None]
    common = frozenset.intersection(*known) if known else frozenset()
    return ("ok", common) if len(common) == 1 else None


_DEVANAGARI = re.compile("[\u0900-\u097f]")


@lru_cache(maxsize=4096)
def _resolve(text: str, fuzzy: bool) -> tuple[str, frozenset[int]]:
    key = _key(text)
    if not key:
        return ("unknown", frozenset())
    exact = _index().exact.get(key)
    if exact is None and (parts := _resolve_parts(text)) is not None:
        return parts
    verdict = _resolve_key(key, fuzzy, text)
    if verdict[0] == "unknown" and not _DEVANAGARI.search(text) and re.search("[a-zA-Z]", text):
        # Last attempt: Hindi typed in Kruti Dev arrives as Latin text ("vkxjk" = आगरा). Exact matches only:
        # transliterated English words are gibberish that fuzzy matching would happily pair with something.
        hindi = _index().exact.get(_key(kruti_dev_to_unicode(text)))
        if hindi is not None:
            return ("ok" if len(hindi) == 1 else "ambiguous", hindi)
    return verdict


def match_district(text: str | int | float, *, fuzzy: bool = True) -> District:
    """The one district ``text`` names (name, Hindi name, old name, alias, LGD code, or a close misspelling).

    Raises UnknownDistrict when nothing is close enough (totals, serial numbers, junk) and AmbiguousDistrict
    when two districts fit (e.g. "Akbarpur"), never guessing between them. ``fuzzy=False`` accepts only
    exact names and codes (the roster, where a typo should be fixed, not guessed), and names the near miss.
    """
    if isinstance(text, bool) or text is None:
        raise UnknownDistrict(f"not a district: {text!r}", str(text))
    shown = str(text).strip() if isinstance(text, str) else str(text)
    coded = _from_code(text)
    if isinstance(coded, District):
        return coded
    if isinstance(coded, str):
        raise UnknownDistrict(f"unknown district {shown!r}: {coded}", shown)
    assert isinstance(text, str)  # noqa: S101 - _from_code returns None only for strings
    verdict, codes = _resolve(text, fuzzy)
    if verdict == "ok":
        return by_code(next(iter(codes)))
    candidates = _districts(codes)
    names = " or ".join(d.name_en for d in candidates)
    if verdict == "ambiguous":
        raise AmbiguousDistrict(f"ambiguous district {shown!r}: could be {names}", shown, candidates)
    hint = f" (did you mean {names}?)" if candidates else ""
    raise UnknownDistrict(f"unknown district {shown!r}{hint}", shown, candidates)


# --- Kruti Dev 010 -----------------------------------------------------------------------------------------
# Kruti Dev maps Devanagari glyphs onto ASCII/Latin-1 keys. The table (key, then its Devanagari) covers
# letters, matras and the common conjuncts, enough for place names; rare ligatures and punctuation are left
# out. Two keys are typed out of logical order and fixed afterwards: 'f' (the i-matra, typed before its
# consonant) and 'Z' (reph, typed after its syllable).
_KRUTI = """
vks ओ vkS औ vk आ v‚ ऑ v अ bZ ई Ã ई b इ m उ Å ऊ ,s ऐ , ए _ ऋ
Dk क d क D क् [k ख [ ख् Xk ग x ग X ग् ?k घ Ä घ ? घ् ³ ङ
Pk च p च P च् N छ Tk ज t ज T ज् > झ ÷ झ् ¥ ञ
V ट B ठ M ड < ढ .k ण . ण्
Rk त r त R त् Fk थ F थ् n द /k ध èk ध / ध् è ध् Uk न u न U न्
Ik प i प I प् Q फ ¶ फ् Ck ब c ब C ब् Hk भ H भ् Ek म e म E म्
; य ¸ य् j र Yk ल y ल Y ल् G ळ Ok व o व O व्
'k श ' श् Þk श Þ श् "k ष " ष् Lk स l स L स् g ह
{k क्ष { क्ष् =k त्र = त्र « त्र् K ज्ञ J श्र Ø क्र ç प्र Á प्र æ द्र xz ग्र Ùk त्त Ù त्त् Dr क्त
) द्ध | द्य } द्व í द्द é न्न ô क्क ê ट्ट ë ट्ठ ì ड्ड ï ड्ढ Vª ट्र Mª ड्र º ह् ã ह्म á ह्य â हृ
# रु : रू — कृ – दृ z ्र ~ ् + ़
ks ो kS ौ k ा h ी q ु w ू ` ृ s े S ै ‚ ॉ a ं ¡ ँ % ः È ीं A ।
å ० ƒ १ „ २ … ३ † ४ ‡ ५ ˆ ६ ‰ ७ Š ८ ‹ ९
"""
_KRUTI_TOKENS = _KRUTI.split()
_KRUTI_MAP = dict(zip(_KRUTI_TOKENS[::2], _KRUTI_TOKENS[1::2], strict=True))
_KRUTI_MAP["f"] = "\ue000"  # placeholder for ि, moved after its consonant below
_KRUTI_MAP["Z"] = "\ue001"  # placeholder for reph र्, moved before its syllable below
_KRUTI_RE = re.compile("|".join(re.escape(k) for k in sorted(_KRUTI_MAP, key=len, reverse=True)))
_CLUSTER = "(?:[क-ह]\u093c?\u094d)*[क-ह]\u093c?"
_I_MATRA = re.compile(f"\ue000({_CLUSTER})")
_REPH = re.compile(f"({_CLUSTER})([\u093e-\u094c\u0901\u0902]*)\ue001")


def kruti_dev_to_unicode(text: str) -> str:
    """Best-effort conversion of Kruti Dev 010 text (``vkxjk``) to Unicode Devanagari (``आगरा``)."""
    out = _KRUTI_RE.sub(lambda m: _KRUTI_MAP[m.group(0)], text)
    out = _I_MATRA.sub("\\1\u093f", out)
    out = _REPH.sub("र\u094d\\1\\2", out)
    return unicodedata.normalize("NFC", out.replace("\ue000", "\u093f").replace("\ue001", ""))

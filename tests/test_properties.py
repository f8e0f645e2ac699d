"""Properties of the two readers a DSP's typing goes through: counts (workbook.cells.parse_count) and district
names (districts.match_district). Each property is what a clerk relies on: a number is read exactly or refused,
never read as another number; a name finds its district or none, never another one."""

from __future__ import annotations

import itertools
import os
import re
import unicodedata
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from rapidfuzz import fuzz

from mailbot.districts import District, DistrictMatchError, all_districts, match_district, normalise
from mailbot.workbook.cells import MAX_COUNT, parse_count

# Modest example counts: the suite runs on a shared 2-core machine; these still cover each shape many times.
# MAILBOT_PROPERTY_EXAMPLES=5000 searches harder (minutes).
FEW = settings(max_examples=int(os.environ.get("MAILBOT_PROPERTY_EXAMPLES", "150")), deadline=None)

SPACES = (" ", "\u00a0", "\u202f", "\u2009")  # space, no-break, narrow no-break, thin
DEVANAGARI = str.maketrans("0123456789", "०१२३४५६७८९")
ERRORS = {"not_a_number", "negative_value", "fractional_value", "ambiguous_number", "count_above_bound"}


def western(n: int, sep: str) -> str:
    return f"{n:,}".replace(",", sep)


def indian(n: int) -> str:
    """12,34,567: the last three digits, then pairs."""
    digits = str(n)
    head, tail = digits[:-3], digits[-3:]
    pairs: list[str] = []
    while len(head) > 2:
        head, pair = head[:-2], head[-2:]
        pairs.insert(0, pair)
    return ",".join([p for p in (head, *pairs) if p] + [tail])


@st.composite
def grouped(draw: Any) -> tuple[int, str]:
    n = draw(st.integers(0, MAX_COUNT))
    text = draw(st.sampled_from([str(n), indian(n), *(western(n, sep) for sep in (",", *SPACES))]))
    if draw(st.booleans()):
        text = text.translate(DEVANAGARI)
    around = st.text(alphabet=" \u00a0\u202f\t", max_size=3)
    return n, draw(around) + text + draw(around)


# --- (a) the number reader ----------------------------------------------------------------------------------


@FEW
@given(grouped())
@example((1234567 // 2, "6,17,283"))
@example((1000, "१,०००"))
def test_correctly_grouped_counts_round_trip_exactly(case: tuple[int, str]) -> None:
    n, text = case
    assert parse_count(text) == n


def is_grouping(groups: list[str], seps: list[str]) -> bool:
    """The oracle, written independently of the reader's regexes: one separator throughout, and either Western
    (first group 1-3 digits, then threes; comma or a space) or Indian (commas; first 1-2, then pairs, last three)."""
    if not seps:
        return True
    if len(set(seps)) != 1:
        return False
    first, middle, last = groups[0], groups[1:-1], groups[-1]
    if 1 <= len(first) <= 3 and all(len(g) == 3 for g in groups[1:]):
        return True
    return seps[0] == "," and 1 <= len(first) <= 2 and all(len(g) == 2 for g in middle) and len(last) == 3


@st.composite
def separated(draw: Any) -> tuple[str, list[str], list[str]]:
    """Digits cut at random places, each cut a comma or one of the spaces: the text, its groups, the separators."""
    digits = draw(st.text(alphabet="0123456789", min_size=2, max_size=9))
    cuts = sorted(draw(st.sets(st.integers(1, len(digits) - 1), min_size=1, max_size=4)))
    seps = [draw(st.sampled_from((",", *SPACES))) for _ in cuts]
    bounds = [0, *cuts, len(digits)]
    groups = [digits[a:b] for a, b in itertools.pairwise(bounds)]
    text = groups[0] + "".join(sep + group for sep, group in zip(seps, groups[1:], strict=True))
    return text, groups, seps


@FEW
@given(separated())
@example(("3 1", ["3", "1"], [" "]))
@example(("12 34", ["12", "34"], [" "]))
@example(("1,23", ["1", "23"], [","]))
@example(("1,2345", ["1", "2345"], [","]))
def test_a_separator_is_read_only_where_grouping_puts_it(case: tuple[str, list[str], list[str]]) -> None:
    text, groups, seps = case
    value = int("".join(groups))
    got = parse_count(text)
    if is_grouping(groups, seps):
        assert got == (value if value <= MAX_COUNT else "count_above_bound")
    else:
        assert got == "ambiguous_number", text  # never 31 for "3 1", nor 3


@FEW
@given(st.text(alphabet="0123456789", min_size=1, max_size=6), st.text(alphabet="0123456789", min_size=1, max_size=4))
@example("1", "000")
@example("12", "500")
def test_a_dot_is_a_decimal_point_or_a_question_never_a_thousands_separator(whole: str, decimals: str) -> None:
    got = parse_count(f"{whole}.{decimals}")
    if len(decimals) == 3:
        assert got == "ambiguous_number"  # "1.000": one, or a thousand?
    elif decimals.strip("0"):
        assert got == "fractional_value"
    else:
        assert got == (int(whole) if int(whole) <= MAX_COUNT else "count_above_bound")


@FEW
@given(
    st.one_of(
        st.integers(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=30),
        st.from_regex(r"\A[+-]?\d{1,25}(?:[.,]\d{1,25})?(?:[eE][+-]?\d{1,3})?\Z"),
    )
)
@example("9" * 5000)  # int() refuses more than 4,300 digits: the reader must not ask it to
@example("-" + "1" * 5000)
@example("1," * 2000 + "000")
def test_whatever_a_cell_holds_the_reader_returns_a_storable_count_or_a_problem(value: Any) -> None:
    # The store never sees a number SQLite cannot hold: every int that comes out is a plausible count.
    got = parse_count(value)
    assert got is None or got in ERRORS or (isinstance(got, int) and 0 <= got <= MAX_COUNT)


# --- (b) the district matcher --------------------------------------------------------------------------------

DISTRICTS = all_districts()


def names_of(district: District) -> list[str | int]:
    return [district.name_en, district.name_hi, district.lgd_code, str(district.lgd_code), *district.aliases]


@pytest.mark.parametrize("district", DISTRICTS, ids=lambda d: d.name_en)
def test_every_name_code_and_alias_finds_its_district(district: District) -> None:
    for name in names_of(district):
        assert match_district(name) == district, name
        assert match_district(name, fuzzy=False) == district, name


def test_the_table_is_what_the_properties_assume() -> None:
    assert len(DISTRICTS) == 75 and len({d.lgd_code for d in DISTRICTS}) == 75


NUKTA, CHANDRABINDU, ANUSVARA = "\u093c", "\u0901", "\u0902"


@st.composite
def respelled(draw: Any) -> tuple[District, str]:
    """A district's name as people type it: any case, extra or odd spaces, nukta dropped or added after a
    consonant, chandrabindu for anusvara and back. None of these makes it another name."""
    district = draw(st.sampled_from(DISTRICTS))
    name = unicodedata.normalize("NFD", draw(st.sampled_from([district.name_en, district.name_hi, *district.aliases])))
    out = []
    for letter in name:
        if letter == NUKTA and draw(st.booleans()):
            continue
        ch = letter
        if ch in (CHANDRABINDU, ANUSVARA) and draw(st.booleans()):
            ch = CHANDRABINDU if ch == ANUSVARA else ANUSVARA
        if ch.isalpha() and ch.isascii():
            ch = ch.upper() if draw(st.booleans()) else ch.lower()
        if ch == " ":
            ch = draw(st.sampled_from([" ", "  ", "\u00a0", " \t"]))
        out.append(ch)
        if "\u0915" <= ch <= "\u0939" and draw(st.integers(0, 9)) == 0:
            out.append(NUKTA)
    pad = st.sampled_from(["", " ", "  ", "\u00a0", "\n"])
    return district, draw(pad) + "".join(out) + draw(pad)


VARANASI = next(d for d in DISTRICTS if d.lgd_code == 187)


@FEW
@given(respelled())
@example((VARANASI, "बऩारस"))  # न + nukta composes to ऩ (U+0929) under NFC: once missed by the nukta removal
def test_case_space_nukta_and_chandrabindu_never_change_the_district(case: tuple[District, str]) -> None:
    district, text = case
    assert match_district(text) == district, text


def plain(text: str) -> str:
    """An independent comparison form: normalise() (case, nukta, chandrabindu, spaces), letters and marks only."""
    return "".join(ch for ch in normalise(text) if unicodedata.category(ch)[0] in "LM")


def closeness(text: str, district: District) -> float:
    return max(fuzz.ratio(plain(text), plain(name)) for name in (district.name_en, district.name_hi, *district.aliases))


@st.composite
def mistyped(draw: Any) -> tuple[District, str]:
    """A name with one to three letters dropped, doubled or replaced."""
    district = draw(st.sampled_from(DISTRICTS))
    text = list(draw(st.sampled_from([district.name_en, district.name_hi])))
    letters = "abcdefghijklmnopqrstuvwxyz" if text[0].isascii() else "कखगघचछजझटठडढतथदधनपफबभमयरलवशसहािीुूेैोौं"
    for _ in range(draw(st.integers(1, 3))):
        if len(text) < 3:
            break
        at = draw(st.integers(0, len(text) - 1))
        action = draw(st.sampled_from(["drop", "double", "replace"]))
        if action == "drop":
            del text[at]
        elif action == "double":
            text.insert(at, text[at])
        else:
            text[at] = draw(st.sampled_from(letters))
    return district, "".join(text)


@FEW
@given(mistyped())
def test_a_misspelling_finds_its_district_or_one_at_least_as_close_or_none(case: tuple[District, str]) -> None:
    district, text = case
    try:
        found = match_district(text)
    except DistrictMatchError:
        return
    # Another district only when the typing really is as close to it: the matcher ranks, it does not guess.
    assert found == district or closeness(text, found) >= closeness(text, district), (text, found.name_en)


junk = st.text(
    alphabet=st.characters(categories=["Lu", "Ll", "Lo", "Mn", "Mc", "Zs", "Po"], include_characters="()/-."),
    max_size=25,
)


@FEW
@given(st.one_of(junk, st.text(max_size=25)))
@example("Mumbai")
@example("Gotham Nagar")
@example("Signature of DSP")
@example("1" * 5000)
def test_junk_finds_no_district_unless_it_is_close_to_one(text: str) -> None:
    try:
        found = match_district(text)
    except DistrictMatchError:
        return
    numeric = re.fullmatch(r"\s*\d+(?:\.0*)?\s*", text)
    assert numeric or closeness(text, found) >= 70, (text, found.name_en)

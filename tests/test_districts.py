"""District matching as a report row or roster cell meets it: names, Hindi, codes, old names, typos, junk."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from mailbot.districts import (
    AmbiguousDistrict,
    District,
    DistrictMatchError,
    UnknownDistrict,
    all_districts,
    by_code,
    divisions,
    kruti_dev_to_unicode,
    match_district,
    normalise,
)
from mailbot.roster import _header_key  # the roster's private comparison form
from mailbot.workbook.headers import plain

SHARED_CSV = Path("/work/shared/data/up_districts.csv")
DISTRICTS = all_districts()


def _name(text: str | int | float) -> str:
    return match_district(text).name_en


def test_seventy_five_districts_in_eighteen_divisions() -> None:
    assert len(DISTRICTS) == 75
    assert len({d.lgd_code for d in DISTRICTS}) == 75
    assert [d.name_en for d in DISTRICTS] == sorted(d.name_en for d in DISTRICTS)
    assert len(divisions()) == 18
    assert "Devipatan" in divisions()


@pytest.mark.skipif(not SHARED_CSV.exists(), reason="shared reference data not on this machine")
def test_packaged_csv_is_the_reference_copy() -> None:
    packaged = Path(__file__).parent.parent / "mailbot" / "data" / "up_districts.csv"
    assert packaged.read_bytes() == SHARED_CSV.read_bytes()


def test_by_code() -> None:
    assert by_code(118).name_en == "Agra"
    assert by_code(120).aliases[0] == "Allahabad"
    with pytest.raises(KeyError):
        by_code(1)


@pytest.mark.parametrize("district", DISTRICTS, ids=lambda d: d.name_en)
def test_every_district_by_english_hindi_code_and_each_alias(district: District) -> None:
    assert match_district(district.name_en) == district
    assert match_district(district.name_en.upper()) == district
    assert match_district(district.name_hi) == district
    assert match_district(district.lgd_code) == district
    assert match_district(str(district.lgd_code)) == district
    assert match_district(float(district.lgd_code)) == district
    for alias in district.aliases:
        assert match_district(alias) == district, alias


def test_aliases_in_the_csv_are_read() -> None:
    # The test above walks District.aliases; make sure that is really the CSV's column, not an empty tuple.
    packaged = Path(__file__).parent.parent / "mailbot" / "data" / "up_districts.csv"
    with packaged.open(encoding="utf-8") as f:
        expected = sum(len([a for a in row["aliases"].split(";") if a]) for row in csv.DictReader(f))
    assert sum(len(d.aliases) for d in DISTRICTS) == expected > 200


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("118.0", "Agra"),
        ("११८", "Agra"),  # Devanagari digits
        (" 157 ", "Kanpur Nagar"),
        (187.0, "Varanasi"),
    ],
)
def test_lgd_code_forms(text: str | float, expected: str) -> None:
    assert _name(text) == expected


@pytest.mark.parametrize("value", [1, 999, 118.5, "12345", True, float("nan")])
def test_numbers_that_are_not_lgd_codes(value: int | float | str) -> None:
    # Serial numbers (क्रमांक 1, 2, 3...) sit next to district names; they must not become districts.
    with pytest.raises(UnknownDistrict):
        match_district(value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ग़ाज़ियाबाद", "Ghaziabad"),  # nukta
        ("गाजियाबाद", "Ghaziabad"),
        ("बांदा", "Banda"),  # anusvara where the CSV has chandrabindu
        ("बाँदा", "Banda"),
        ("झांसी", "Jhansi"),
        ("अलीगढ", "Aligarh"),  # no nukta under ढ
        ("गोंडा", "Gonda"),
        ("गोण्डा", "Gonda"),  # half nasal instead of anusvara
        ("संभल", "Sambhal"),
        ("लखीमपुर खीरी", "Lakhimpur Kheri"),
        ("जनपद आगरा", "Agra"),
        ("आगरा जिला", "Agra"),
    ],
)
def test_hindi_spelling_variants(text: str, expected: str) -> None:
    assert _name(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Allahabad", "Prayagraj"),
        ("Faizabad", "Ayodhya"),
        ("Sant Ravidas Nagar", "Bhadohi"),
        ("Jyotiba Phule Nagar", "Amroha"),
        ("Kanshiram Nagar", "Kasganj"),
        ("Mahamaya Nagar", "Hathras"),
        ("Panchsheel Nagar", "Hapur"),
        ("Bhim Nagar", "Sambhal"),
        ("Prabuddh Nagar", "Shamli"),
        ("Chhatrapati Shahuji Maharaj Nagar", "Amethi"),
        ("Ramabai Nagar", "Kanpur Dehat"),
        ("इलाहाबाद", "Prayagraj"),
    ],
)
def test_old_names(text: str, expected: str) -> None:
    assert _name(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Kanpur", "Kanpur Nagar"),
        ("Kheri", "Lakhimpur Kheri"),
        ("Lakhimpur", "Lakhimpur Kheri"),
        ("Gorakpur", "Gorakhpur"),
        ("Barabanki", "Barabanki"),
        ("Bara Banki", "Barabanki"),
        ("BARA-BANKI", "Barabanki"),
        ("Siddharth Nagar", "Siddharthnagar"),
        ("Siddharthnagar", "Siddharthnagar"),
        ("Allahabd", "Prayagraj"),
        ("Bareily", "Bareilly"),
        ("Gaziabd", "Ghaziabad"),
        ("Muzaffar nagar", "Muzaffarnagar"),
        ("  Agra   District ", "Agra"),
        ("Fatehpur (U.P.)", "Fatehpur"),
        ("G.B. Nagar", "Gautam Buddha Nagar"),
        ("Kanpur Nagar (Urban)", "Kanpur Nagar"),
        ("Akbarpur (Ambedkar Nagar)", "Ambedkar Nagar"),
    ],
)
def test_common_ways_of_writing_a_district(text: str, expected: str) -> None:
    assert _name(text) == expected


@pytest.mark.parametrize("text", ["Akbarpur", "akbarpur", "अकबरपुर", "Akbarpur."])
def test_akbarpur_is_ambiguous(text: str) -> None:
    with pytest.raises(AmbiguousDistrict) as caught:
        match_district(text)
    assert {d.name_en for d in caught.value.candidates} == {"Ambedkar Nagar", "Kanpur Dehat"}
    assert caught.value.text == text
    assert "Ambedkar Nagar or Kanpur Dehat" in str(caught.value)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    "text",
    [
        "Total",
        "TOTAL",
        "Grand Total",
        "Sub-total",
        "योग",
        "कुल",
        "कुल योग",
        "महायोग",
        "S.No.",
        "Sr. No.",
        "क्रमांक",
        "District",
        "जनपद",
        "Remarks",
        "टिप्पणी",
        "Uttar Pradesh",
        "",
        "   ",
        "-",
        "N/A",
        "Nagar",
        "नगर",
        "Rural",
        "Urban",
        "Raipur",
        "Bastar",
        "Patna",
        "Dehradun",
        "Lucknow Division",
    ],
)
def test_totals_headers_and_junk_are_unknown(text: str) -> None:
    with pytest.raises(UnknownDistrict):
        match_district(text)


def test_unknown_names_near_misses_as_candidates() -> None:
    with pytest.raises(UnknownDistrict) as caught:
        match_district("Bastar")
    assert [d.name_en for d in caught.value.candidates] == ["Basti"]
    assert "did you mean Basti?" in str(caught.value)


@pytest.mark.parametrize("text", ["Gotham Nagar", "Azad Nagar", "Gotham Ngr"])
def test_a_near_miss_on_a_generic_part_alone_is_no_hint(text: str) -> None:
    # "Gotham Nagar" scores 70 against Bhim Nagar (Sambhal's old name) only through "Nagar": suggesting Sambhal
    # would invite a DSP to send another district's figures under Sambhal's name.
    with pytest.raises(UnknownDistrict) as caught:
        match_district(text)
    assert caught.value.candidates == ()
    assert "did you mean" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("Rampoor", "Rampur"),
        ("Hapoor", "Hapur"),
        ("Sitapoor", "Sitapur"),
        ("Jaunpoor", "Jaunpur"),
        ("Haupr", "Hapur"),
        ("GB Ngr", "Gautam Buddha Nagar"),
        ("SK Ngr", "Sant Kabir Nagar"),
    ],
)
def test_a_near_miss_in_the_name_itself_is_still_hinted(text: str, hint: str) -> None:
    # Only whole generic words ("Nagar") are set aside: "-pur" inside a name is the name.
    with pytest.raises(UnknownDistrict, match=rf"did you mean {hint}\?"):
        match_district(text)


def test_exact_only_names_the_near_miss() -> None:
    assert match_district("Allahabad", fuzzy=False).name_en == "Prayagraj"
    assert match_district("118", fuzzy=False).name_en == "Agra"
    with pytest.raises(UnknownDistrict, match=r"unknown district 'Allahabd' \(did you mean Prayagraj\?\)"):
        match_district("Allahabd", fuzzy=False)


def test_a_typo_never_lands_on_another_district() -> None:
    # Every one-character deletion or swap of every known name either finds the same district or fails;
    # a fuzzy threshold that is too low would send "Etah"-like typos to Etawah, "Hapur" to Hamirpur.
    wrong = []
    for district in DISTRICTS:
        for name in (district.name_en, district.name_hi, *district.aliases):
            variants = {name[:i] + name[i + 1 :] for i in range(len(name))}
            variants |= {name[:i] + name[i + 1] + name[i] + name[i + 2 :] for i in range(len(name) - 1)}
            for variant in variants:
                try:
                    found = match_district(variant)
                except DistrictMatchError:
                    continue
                if found != district:
                    wrong.append((name, variant, found.name_en))
    assert wrong == []


def test_no_real_district_name_matches_another_district_by_fuzz() -> None:
    # Near neighbours among the real names stay apart.
    for a, b in [
        ("Etah", "Etawah"),
        ("Hapur", "Hamirpur"),
        ("Mau", "Mahoba"),
        ("Bareilly", "Rae Bareli"),
        ("Rampur", "Hamirpur"),
        ("Ghazipur", "Ghaziabad"),
        ("Kanpur Dehat", "Kanpur Nagar"),
    ]:
        assert _name(a) == a
        assert _name(b) == b


@pytest.mark.parametrize(
    ("kruti", "expected"),
    [
        ("vkxjk", "Agra"),
        ("y[kuÅ", "Lucknow"),
        ("dkuiqj uxj", "Kanpur Nagar"),
        ("okjk.klh", "Varanasi"),
        ("vyhx<+", "Aligarh"),
        ("fl)kFkZuxj", "Siddharthnagar"),
        ("iz;kxjkt", "Prayagraj"),
        ("fp=dwV", "Chitrakoot"),
        (">k¡lh", "Jhansi"),
    ],
)
def test_kruti_dev_text(kruti: str, expected: str) -> None:
    assert _name(kruti) == expected


def test_kruti_dev_conversion_reorders_i_matra_and_reph() -> None:
    assert kruti_dev_to_unicode("vkxjk") == "आगरा"
    assert kruti_dev_to_unicode("fl)kFkZuxj") == "सिद्धार्थनगर"


def test_normalise() -> None:
    assert normalise("  ग़ाज़ियाबाद  ") == "गाजियाबाद"
    assert normalise("बाँदा") == "बांदा"
    assert normalise("Kanpur\t  NAGAR") == "kanpur nagar"
    # The header parser uses normalise too: it must not strip words like "जनपद" the way matching does.
    assert normalise("District / जनपद") == "district / जनपद"


@pytest.mark.parametrize(
    ("written", "same_as"),
    [
        ("गोण्डा", "गोंडा"),  # nasal conjunct or anusvara
        ("सम्भल", "संभल"),
        ("केन्द्र", "केंद्र"),
        ("बाँदा", "बांदा"),  # chandrabindu or anusvara
        ("ग़ाज़ियाबाद", "गाजियाबाद"),  # nukta
        ("\ufeffजन\u200bपद", "जनपद"),  # a CSV's byte-order mark, a zero-width space
    ],
)
def test_district_names_report_headers_and_roster_headers_fold_hindi_alike(written: str, same_as: str) -> None:
    # One normalisation serves all three comparisons: a spelling one accepts, the others accept too.
    assert normalise(written) == normalise(same_as)
    assert plain(written) == plain(same_as)
    assert _header_key(written) == _header_key(same_as)

"""The roster as CEG edits it: both formats, every mistake named by file, sheet and row, dates honoured."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, replace
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest
from emails import fixture_generator

from mailbot.districts import all_districts, match_district
from mailbot.roster import Assignment, Dsp, Roster, RosterError, load_roster, roster_template
from mailbot.weeks import Week

FIXTURES = Path(__file__).parent.parent / "fixtures"
ROSTERS = FIXTURES / "roster"
AGRA, LUCKNOW, ETAH = 118, 162, 138


make_roster = fixture_generator("make_roster")


@pytest.fixture(scope="module")
def roster() -> Roster:
    return load_roster(ROSTERS / "roster.xlsx")


def _problems(path: Path) -> tuple[str, ...]:
    with pytest.raises(RosterError) as caught:
        load_roster(path)
    assert str(caught.value) == "\n".join(caught.value.problems)
    return caught.value.problems


def _csv_roster(tmp_path: Path, **tables: list[list[object]]) -> Path:
    """A CSV roster folder: the example's sheets, with any replaced by the tables given."""
    example = make_roster.example_roster_rows()
    example.update(tables)
    folder = tmp_path / "roster"
    make_roster.write_csv_folder(folder, example)
    return folder


# --- the example roster -------------------------------------------------------------------------------------


def test_xlsx_and_csv_folder_load_the_same(roster: Roster) -> None:
    assert load_roster(ROSTERS / "roster_csv") == roster


def test_fixtures_are_what_the_generator_writes(tmp_path: Path) -> None:
    make_roster.main([str(tmp_path)])
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert written == sorted(p.relative_to(ROSTERS) for p in ROSTERS.rglob("*") if p.is_file())
    for relative in written:
        assert (tmp_path / relative).read_bytes() == (ROSTERS / relative).read_bytes(), relative


def test_example_covers_every_district(roster: Roster) -> None:
    week = Week(2026, 20)
    assert {lgd for _dsp, lgd in roster.expected(week)} == {d.lgd_code for d in all_districts()}
    assert set(roster.degs) == {d.lgd_code for d in all_districts()}
    assert roster.degs[AGRA] == ("degs.agra@up.example",)
    assert roster.degs[LUCKNOW] == ("degs.lucknow@up.example", f"edm{LUCKNOW}@up.example")
    assert [d.name for d in roster.dsps] == sorted(
        ["CMS Computers", "Srei Sahaj", "SRMES", "CSC e-Governance Services India Ltd", "UPDESCO"]
    )


def test_a_district_with_two_dsps(roster: Roster) -> None:
    week = Week(2026, 20)
    assert sorted(dsp for dsp, lgd in roster.expected(week) if lgd == LUCKNOW) == [
        "CSC e-Governance Services India Ltd",
        "Srei Sahaj",
    ]
    assert LUCKNOW in roster.districts_of("CSC e-Governance Services India Ltd", week)


def test_expected_honours_start_and_end_dates(roster: Roster) -> None:
    # Agra: Srei Sahaj until Tuesday 31/03/2026, CMS Computers from Wednesday 01/04/2026 (2026-W14).
    def agra(week: Week) -> list[str]:
        return sorted(dsp for dsp, lgd in roster.expected(week) if lgd == AGRA)

    assert agra(Week(2026, 13)) == ["Srei Sahaj"]
    assert agra(Week(2026, 14)) == ["CMS Computers", "Srei Sahaj"]  # both served part of that week
    assert agra(Week(2026, 15)) == ["CMS Computers"]
    assert AGRA not in roster.districts_of("Srei Sahaj", Week(2026, 15))
    assert AGRA in roster.districts_of("Srei Sahaj", Week(2026, 13))
    # Contracts start on Thursday 01/01/2026: its week owes reports, the week before owes none.
    assert len(roster.expected(Week(2026, 1))) == 76
    assert roster.expected(Week(2025, 52)) == ()


def test_expected_is_sorted_and_distinct(roster: Roster) -> None:
    expected = roster.expected(Week(2026, 20))
    assert list(expected) == sorted(set(expected))
    assert len(expected) == 76  # 75 districts, Lucknow twice


def test_dsp_for_sender_ignores_case(roster: Roster) -> None:
    dsp = roster.dsp_for_sender("Reports@CMS.example")
    assert dsp is not None and dsp.name == "CMS Computers"
    assert roster.dsp_for_sender("jsk.up@cms.example") == dsp
    assert roster.dsp_for_sender("SREI.SAHAJ.UP@gmail.example") == roster.dsp("Srei Sahaj")
    assert roster.dsp_for_sender("reports@cms.example.evil.example") is None
    assert roster.dsp_for_sender("") is None


def test_a_report_from_a_contact_address_counts_for_its_dsp() -> None:
    # Reminders go to contact addresses; the DSP answers one with its report.
    cms = Dsp("CMS", frozenset({"reports@cms.example"}), ("jsk@cms.example", "shared@agency.example"))
    srei = Dsp("Srei", frozenset({"mis@srei.example"}), ("shared@agency.example", "JSK@cms.example"))
    roster = Roster((cms, srei), (), {})
    assert roster.dsp_for_sender("reports@cms.example") is cms
    assert roster.dsp_for_sender("Jsk@Cms.Example ") is None  # the contact of two DSPs: whose report is it?
    assert roster.dsp_for_sender("shared@agency.example") is None
    srei_alone = replace(srei, contact_addresses=("mis@srei.example",))
    only = Roster((cms, srei_alone), (), {})
    assert only.dsp_for_sender("jsk@cms.example") is cms
    assert only.dsp_for_sender("shared@agency.example") is cms
    assert only.dsp_for_sender("mis@srei.example") is srei_alone
    # An EDM kept informed as a DSP's contact: an EDM's reply is no DSP report.
    edm = Roster((replace(cms, contact_addresses=("edm.agra@up.gov.in",)),), (), {118: ("EDM.Agra@up.gov.in",)})
    assert edm.dsp_for_sender("edm.agra@up.gov.in") is None
    as_sender = Roster(
        (replace(cms, sender_addresses=frozenset({"edm.agra@up.gov.in"})),), (), {118: ("edm.agra@up.gov.in",)}
    )
    assert as_sender.dsp_for_sender("edm.agra@up.gov.in") is None
    assert as_sender.degs_addresses_of_dsps() == (("edm.agra@up.gov.in", "CMS"),)


def test_districts_without_a_degs_address_are_named() -> None:
    assignments = (Assignment("CMS", 118, date(2026, 1, 1), None), Assignment("CMS", 119, date(2026, 1, 1), None))
    assert Roster((), assignments, {118: ("degs118@up.gov.in",)}).districts_without_degs() == (119,)
    assert Roster((), assignments, {118: ("a@x.example",), 119: ()}).districts_without_degs() == (119,)


def test_contact_addresses_default_to_senders(roster: Roster) -> None:
    assert roster.dsp("CMS Computers").contact_addresses == ("jsk.up@cms.example", "pm.up@cms.example")
    assert roster.dsp("UPDESCO").contact_addresses == ("jsk@updesco.example",)
    assert roster.dsp("CMS Computers").sender_addresses == {"reports@cms.example", "jsk.up@cms.example"}


def test_dsp_lookup(roster: Roster) -> None:
    assert roster.dsp("cms  computers").name == "CMS Computers"
    with pytest.raises(KeyError):
        roster.dsp("Shreetron")


def test_assignments_for(roster: Roster) -> None:
    srei = roster.assignments_for("Srei Sahaj")
    assert Assignment("Srei Sahaj", AGRA, date(2026, 1, 1), date(2026, 3, 31)) in srei
    assert all(a.dsp == "Srei Sahaj" for a in srei)
    assert roster.assignments_for("Shreetron") == ()


def test_roster_is_immutable(roster: Roster) -> None:
    with pytest.raises(FrozenInstanceError):
        roster.dsps = ()  # type: ignore[misc]  # the point: a frozen field refuses assignment
    with pytest.raises(TypeError):
        roster.degs[AGRA] = ()  # type: ignore[index]  # the point: a read-only mapping refuses it
    assert isinstance(roster.assignments, tuple)


@pytest.mark.parametrize(
    ("start", "end", "active"),
    [
        (date(2026, 3, 1), date(2026, 3, 9), True),  # ends on the Monday
        (date(2026, 3, 15), None, True),  # starts on the Sunday
        (date(2026, 3, 1), date(2026, 3, 8), False),  # ended the Sunday before
        (date(2026, 3, 16), None, False),  # starts the Monday after
    ],
)
def test_active_in_week_boundaries(start: date, end: date | None, active: bool) -> None:
    assert Assignment("X", AGRA, start, end).active_in(Week(2026, 11)) is active  # 09/03 to 15/03/2026


# --- mistakes -----------------------------------------------------------------------------------------------


def test_every_mistake_is_reported_at_once_with_file_sheet_and_row() -> None:
    problems = _problems(ROSTERS / "bad_roster.xlsx")
    wanted = [
        "bad_roster.xlsx, sheet DSPs, row 4: sender address reports@cms.example is also given for DSP "
        "'CMS Computers' (row 3)",
        "bad_roster.xlsx, sheet DSPs, row 4: contact address 'not-an-address' is not a valid email address",
        "bad_roster.xlsx, sheet DSPs, row 5: sender address 'mis@srmes' is not a valid email address",
        "bad_roster.xlsx, sheet Assignments, row 4: unknown district 'Allahabd' (did you mean Prayagraj?)",
        "bad_roster.xlsx, sheet Assignments, row 5: ambiguous district 'Akbarpur': could be Ambedkar Nagar "
        "or Kanpur Dehat",
        "bad_roster.xlsx, sheet Assignments, row 6: DSP 'Shreetron' is not in the DSPs sheet",
        "bad_roster.xlsx, sheet Assignments, row 7: end date 31/05/2026 is before start date 01/06/2026",
        "bad_roster.xlsx, sheet Assignments, row 8: DSP 'CMS Computers' is already assigned to this district "
        "from 01/01/2026 (row 3); the periods overlap",
        "bad_roster.xlsx, sheet Assignments, row 9: start date '31/02/2026' is not a date",
        "bad_roster.xlsx, sheet DEGS, row 4: DEGS address 'degs.lucknow@@up.example' is not a valid email",
    ]
    for text in wanted:
        assert any(p.startswith(text) for p in problems), text
    assert len(problems) == len(wanted)


def test_missing_sheet_and_missing_column() -> None:
    assert _problems(ROSTERS / "missing_parts.xlsx") == (
        "missing_parts.xlsx: missing sheet 'DEGS' (sheets found: DSPs, Assignments)",
        "missing_parts.xlsx, sheet Assignments: missing column 'Start date' "
        "(header row: DSP, District, Start date, End date)",
    )


def test_csv_folder_problems_name_the_file_and_row() -> None:
    problems = _problems(ROSTERS / "bad_csv")
    assert problems[0] == "bad_csv: missing degs.csv (the DEGS sheet as CSV)"
    # No title row in a CSV: the header is row 1, so each row is one less than in the workbook.
    assert "bad_csv/assignments.csv, row 3: unknown district 'Allahabd' (did you mean Prayagraj?)" in problems
    assert any(p.startswith("bad_csv/dsps.csv, row 4: sender address 'mis@srmes'") for p in problems)


def test_dsps_sheet_mistakes(tmp_path: Path) -> None:
    folder = _csv_roster(
        tmp_path,
        DSPs=[
            ["DSP", "Sender addresses", "Contact addresses"],
            ["CMS Computers", "reports@cms.example", ""],
            ["cms computers", "other@cms.example", ""],
            ["", "x@y.example", ""],
            ["Srei Sahaj", "", ""],
            ["SRMES", "mis@srmes.example", ""],
            ["CSC e-Governance Services India Ltd", "up.reports@csc.example", ""],
            ["UPDESCO", "jsk@updesco.example", ""],
        ],
    )
    assert _problems(folder) == (
        "roster/dsps.csv, row 3: DSP 'cms computers' is listed twice (also roster/dsps.csv, row 2)",
        "roster/dsps.csv, row 4: DSP name is empty",
        "roster/dsps.csv, row 5: DSP 'Srei Sahaj' has no sender address, so no report of its is accepted",
    )


def test_overlap_found_behind_a_non_overlapping_row(tmp_path: Path) -> None:
    # An open-ended first row overlaps the third even though the second (inside it) ended earlier.
    folder = _csv_roster(
        tmp_path,
        Assignments=[
            ["DSP", "District", "Start date", "End date"],
            ["UPDESCO", "Etah", "01/01/2026", ""],
            ["UPDESCO", "Etah", "01/02/2026", "28/02/2026"],
            ["UPDESCO", "Etah", "01/06/2026", ""],
        ],
    )
    problems = _problems(folder)
    where = [p.split(":")[0] for p in problems]
    assert where == ["roster/assignments.csv, row 3", "roster/assignments.csv, row 4"]
    assert all("(row 2); the periods overlap" in p for p in problems)


def test_successive_assignments_do_not_overlap(tmp_path: Path) -> None:
    folder = _csv_roster(
        tmp_path,
        Assignments=[
            ["DSP", "District", "Start date", "End date"],
            ["UPDESCO", "Etah", "01/01/2026", "31/03/2026"],
            ["UPDESCO", "Etah", "01/04/2026", ""],
        ],
    )
    starts = [a.start for a in load_roster(folder).assignments_for("UPDESCO")]
    assert starts == [date(2026, 1, 1), date(2026, 4, 1)]


@pytest.mark.parametrize(
    "path_name",
    ["roster.txt", "roster.xlsx"],
)
def test_not_a_workbook(tmp_path: Path, path_name: str) -> None:
    path = tmp_path / path_name
    path.write_bytes(b"DSP,District\n")
    (problem,) = _problems(path)
    assert problem.startswith(path_name)


def test_missing_path(tmp_path: Path) -> None:
    assert _problems(tmp_path / "nowhere.xlsx") == (f"{tmp_path / 'nowhere.xlsx'}: no such file or folder",)


# --- what CEG types -----------------------------------------------------------------------------------------


def test_headers_any_case_and_spacing_and_extra_columns(tmp_path: Path) -> None:
    folder = _csv_roster(
        tmp_path,
        DSPs=[
            ["S.No.", " dsp ", "SENDER  ADDRESSES", "contactaddresses"],
            [1, "UPDESCO", "JSK@UPDESCO.example", ""],
        ],
        Assignments=[
            ["startdate", "DISTRICT", "Dsp", "End Date", "Remarks"],
            ["2026-01-01", "Etah", "updesco", "", "new contract"],
        ],
        DEGS=[["district", "ADDRESSES"], ["Etah", "DEGS.Etah@UP.example"]],
    )
    roster = load_roster(folder)
    assert roster.assignments == (Assignment("UPDESCO", ETAH, date(2026, 1, 1), None),)
    assert roster.dsp("UPDESCO").sender_addresses == {"jsk@updesco.example"}
    assert roster.degs == {ETAH: ("degs.etah@up.example",)}


@pytest.mark.parametrize("text", ["05/12/2026", "05-12-2026", "2026-12-05", "05.12.2026", "०५/१२/२०२६"])
def test_text_dates_are_day_first(tmp_path: Path, text: str) -> None:
    folder = _csv_roster(
        tmp_path, Assignments=[["DSP", "District", "Start date", "End date"], ["UPDESCO", "Etah", text, ""]]
    )
    assert load_roster(folder).assignments[0].start == date(2026, 12, 5)


def test_district_by_hindi_name_code_and_old_name(tmp_path: Path) -> None:
    folder = _csv_roster(
        tmp_path,
        Assignments=[
            ["DSP", "District", "Start date", "End date"],
            ["UPDESCO", "एटा", "01/01/2026", ""],
            ["UPDESCO", "120", "01/01/2026", ""],
            ["UPDESCO", "Faizabad", "01/01/2026", ""],
        ],
    )
    assert load_roster(folder).districts_of("UPDESCO", Week(2026, 2)) == (120, ETAH, 140)


def test_several_addresses_in_one_cell(tmp_path: Path) -> None:
    folder = _csv_roster(
        tmp_path,
        DEGS=[
            ["District", "Addresses"],
            ["Etah", "a@up.example; B@up.example,\nc@up.example\n\na@up.example"],
        ],
    )
    assert load_roster(folder).degs[ETAH] == ("a@up.example", "b@up.example", "c@up.example")


def test_real_excel_dates_and_a_header_below_a_title(tmp_path: Path) -> None:
    path = tmp_path / "roster.xlsx"
    make_roster.write_xlsx(
        path,
        {
            "DSPs": [["DSP", "Sender addresses"], ["UPDESCO", "jsk@updesco.example"]],
            "Assignments": [
                ["DSP", "District", "Start date", "End date"],
                # A date cell, and a date left in General format (a serial number): both dates.
                ["UPDESCO", ETAH, datetime(2026, 1, 1), 46387],  # noqa: DTZ001 - Excel dates are naive
            ],
            "DEGS": [["District", "Addresses"]],
        },
        title="Roster\n(as of January)",
    )
    expected = Assignment("UPDESCO", ETAH, date(2026, 1, 1), date(2026, 12, 31))
    assert load_roster(path).assignments == (expected,)


def test_implausible_dates_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "roster.xlsx"
    make_roster.write_xlsx(
        path,
        {
            "DSPs": [["DSP", "Sender addresses"], ["UPDESCO", "jsk@updesco.example"]],
            "Assignments": [["DSP", "District", "Start date", "End date"], ["UPDESCO", "Etah", 5, "soon"]],
            "DEGS": [["District", "Addresses"]],
        },
    )
    assert _problems(path) == (
        "roster.xlsx, sheet Assignments, row 3: start date '5' is not a date (day first: 05/12/2026)",
        "roster.xlsx, sheet Assignments, row 3: end date 'soon' is not a date (day first: 05/12/2026)",
    )


def test_hindi_headers(tmp_path: Path) -> None:
    folder = _csv_roster(tmp_path, DEGS=[["जनपद", "Addresses"], ["एटा", "degs.etah@up.example"]])
    assert load_roster(folder).degs == {ETAH: ("degs.etah@up.example",)}


# --- template -----------------------------------------------------------------------------------------------


def test_template_loads_empty_and_lists_every_district(tmp_path: Path) -> None:
    path = tmp_path / "roster.xlsx"
    roster_template(path)
    empty = load_roster(path)
    assert (empty.dsps, empty.assignments, dict(empty.degs)) == ((), (), {})
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["DSPs", "Assignments", "DEGS"]
    districts = [row[0] for row in book["DEGS"].iter_rows(min_row=4, values_only=True)]
    assert [match_district(d).lgd_code for d in districts] == [d.lgd_code for d in all_districts()]


def test_filled_in_template_loads(tmp_path: Path) -> None:
    path = tmp_path / "roster.xlsx"
    roster_template(path)
    book = openpyxl.load_workbook(path)
    book["DSPs"].append(["UPDESCO", "jsk@updesco.example", None])
    book["Assignments"].append(["UPDESCO", "Etah", "01/01/2026", None])
    book["DEGS"]["B4"] = "degs.agra@up.example"  # Agra is the first district row
    book.save(path)
    roster = load_roster(path)
    assert roster.expected(Week(2026, 2)) == (("UPDESCO", ETAH),)
    assert roster.degs == {AGRA: ("degs.agra@up.example",)}

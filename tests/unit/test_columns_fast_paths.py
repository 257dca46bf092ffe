"""map_columns' column checks at C speed (issue 17): each check that rules a search out may
only say "nothing here" when the search would find nothing, and a block of addresses accepted
in one search is exactly a block whose every address the fast path of _is_email accepts."""

import pytest
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from importer.pipeline import columns
from importer.pipeline.columns import map_columns
from importer.pipeline.types import Row, Table

from .test_columns_properties import tables

# Values that reach each slow path: controls, decomposed accents, spreadsheet errors, formula
# apostrophes, IDs as numbers, case that lower() changes (final sigma, dotted I, titlecase),
# addresses with a name or mailto:, spaces inside, and plain addresses that repeat.
TRICKY = st.sampled_from(
    [
        "",
        "ana@example.com",
        "ben@example.com",
        "ana@example.com ben@example.com",
        "ANA@example.com",
        "ΟΔΥΣΣΕΥΣ@example.com",
        "İlkay@example.com",
        "ǅemal@example.com",
        "jane roe <jane@example.com>",
        "Jane Roe <jane@example.com>",
        "mailto:ana@example.com",
        "mailto:ana@example.com?subject=hi",
        "zoë@example.com",
        "zoe\u0308@example.com",
        "Zoe\u0308",
        "Ana\tMaria",
        "Ana\nMaria",
        "Ana\x07",
        "\x85x",
        "\xa0x\xa0",
        "#N/A",
        "Err:502",
        "'=1+1",
        "'-Lead-",
        "O'Brien",
        "1001.0",
        "1.2E+5",
        "E100000",
        "00042",
        "a@b",
        "a" * 250 + "@example.com",
        "ana@exam_ple.com",
        "ana\ue000ben@example.com",
        "x" * 300,
    ]
)
HEADERS = (
    "Email",
    "First name",
    "Last name",
    "Employee ID",
    "Manager email",
    "Manager ID",
    "Notes",
)


def always_maybe(patch: pytest.MonkeyPatch) -> None:
    """Make every check that rules a search out say "maybe", so that every search runs."""
    patch.setattr(columns, "_may_hold_controls", lambda joined: True)
    patch.setattr(columns, "_may_be_decomposed", lambda joined: True)
    patch.setattr(columns, "_may_lower", lambda values: True)
    patch.setattr(columns, "_all_plain_emails", lambda values: False)


def mapped(table: Table, synonyms=None):
    records, issues = map_columns(table, extra_synonyms=synonyms)
    return records, [(issue, issue.subject, issue.subject_id) for issue in issues]


def same_with_every_search(table: Table, synonyms=None) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(columns, "PROGRESS_EVERY", 3)  # blocks of three rows: checks remembered
        fast = mapped(table, synonyms)
        always_maybe(patch)
        slow = mapped(table, synonyms)
    assert fast == slow


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables())
def test_any_table_maps_as_with_every_search(drawn):
    table, synonyms = drawn
    try:
        same_with_every_search(table, synonyms)
    except Exception as error:  # a FileError, with every search as without
        with pytest.MonkeyPatch.context() as patch, pytest.raises(type(error)):
            always_maybe(patch)
            map_columns(table, extra_synonyms=synonyms)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.lists(st.one_of(TRICKY, st.emails()), min_size=len(HEADERS), max_size=len(HEADERS)),
        max_size=10,
    )
)
def test_tricky_values_map_as_with_every_search(rows):
    same_with_every_search(
        Table(
            header_row=1,
            headers=HEADERS,
            rows=tuple(Row(number, tuple(cells)) for number, cells in enumerate(rows, start=2)),
        )
    )


def plain(value: str) -> bool:
    return len(value) <= 254 and columns._PLAIN_EMAIL.fullmatch(value) is not None


def django_accepts(value: str) -> bool:
    try:
        validate_email(value)
    except ValidationError:
        return False
    return True


ADDRESS_TEXT = st.text(alphabet=st.sampled_from(list("ab9_.-+'%@ A\ue000é")), max_size=14)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.one_of(ADDRESS_TEXT, st.emails(), TRICKY), max_size=8))
def test_a_block_is_accepted_at_once_exactly_when_each_address_is_plain(values):
    assert columns._all_plain_emails(values) == all(not value or plain(value) for value in values)


@settings(max_examples=500, deadline=None)
@given(st.one_of(ADDRESS_TEXT, st.emails(), TRICKY))
def test_what_the_fast_path_accepts_django_accepts_too(value):
    if plain(value):
        assert django_accepts(value)
    assert columns._is_email(value) == django_accepts(value)


def test_two_addresses_in_one_cell_are_not_read_as_two_plain_ones():
    values = ["ana@example.com", "ben@example.com cy@example.com", ""]

    assert not columns._all_plain_emails(values)
    assert columns._all_plain_emails(["ana@example.com", "", "ben@example.com"])
    table = Table(1, ("Email",), tuple(Row(n, (v,)) for n, v in enumerate(values, start=2)))
    _records, issues = map_columns(table)
    assert [(issue.code, issue.row) for issue in issues] == [
        ("invalid_email", 3),
        ("missing_email", 4),
    ]


def test_a_name_around_a_lower_case_address_is_shown_as_written():
    table = Table(1, ("Email",), (Row(2, ("jane roe <jane@example.com>",)),))

    records, issues = map_columns(table)

    assert records[0].email == "jane@example.com"
    assert [(issue.code, issue.value) for issue in issues] == [
        ("address_extracted", "jane roe <jane@example.com>")
    ]

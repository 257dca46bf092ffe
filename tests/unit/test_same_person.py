"""Same person with a new address: the pairs a preview asks about, and a confirmed pair matched."""

import datetime as dt

from importer.pipeline.diff import iter_changes, match_records
from importer.pipeline.same_person import evidence_text, name_key, same_person_pairs
from importer.pipeline.types import Action, ImportOptions, Record, Snapshot, SnapshotUser


def record(row, email, **values):
    return Record(row=row, values={"email": email, **values})


def user(id, email, **fields):
    return SnapshotUser(id=id, email=email, **fields)


def pairs(records, users, **kwargs):
    options = ImportOptions()
    matching = match_records(records, Snapshot(users=tuple(users)), options)
    return same_person_pairs(matching, **kwargs)


MARIA_SALES = user(
    1, "maria.garcia@acme.com", first_name="María", last_name="García", department="Sales"
)
MARIA_LEGAL = user(
    2, "m.garcia@acme.com", first_name="María", last_name="García", department="Legal"
)


def test_a_person_leaving_and_a_new_row_with_the_same_name_and_department_are_a_pair():
    [pair] = pairs(
        [
            record(
                2,
                "maria.garcia@acme.example",
                first_name="María",
                last_name="García",
                department="Sales",
            )
        ],
        [MARIA_SALES],
    )
    assert (pair.user_id, pair.old_email, pair.new_email, pair.row) == (
        1,
        "maria.garcia@acme.com",
        "maria.garcia@acme.example",
        2,
    )
    assert pair.evidence == {"department": "Sales"}
    assert evidence_text(pair.evidence) == "the same name, department Sales"


def test_two_maria_garcia_in_different_departments_only_the_matching_one_is_offered():
    # María of Legal stays (her row keeps her address); María of Sales leaves, and the new
    # row is in Sales: only that pair. Were the new row in Marketing, no pair at all.
    legal_row = record(
        2, "m.garcia@acme.com", first_name="María", last_name="García", department="Legal"
    )
    new_sales = record(
        3, "maria.g@acme.com", first_name="Maria", last_name="Garcia", department="Sales"
    )
    [pair] = pairs([legal_row, new_sales], [MARIA_SALES, MARIA_LEGAL])
    assert (pair.user_id, pair.row) == (1, 3)
    new_marketing = record(
        3, "maria.g@acme.com", first_name="María", last_name="García", department="Marketing"
    )
    assert pairs([legal_row, new_marketing], [MARIA_SALES, MARIA_LEGAL]) == []


def test_two_people_leaving_with_the_same_name_are_not_offered_as_one_pair():
    # Both Marías leave, the new row has no department to tell them apart: ambiguous.
    new = record(3, "maria@acme.com", first_name="María", last_name="García")
    assert pairs([new], [MARIA_SALES, MARIA_LEGAL]) == []


def test_two_new_rows_with_the_name_of_one_person_leaving_are_no_pair():
    rows = [
        record(2, "maria1@acme.com", first_name="María", last_name="García", department="Sales"),
        record(3, "maria2@acme.com", first_name="María", last_name="García", department="Sales"),
    ]
    assert pairs(rows, [MARIA_SALES]) == []


def test_a_different_hire_date_or_employee_id_contradicts_the_name():
    leaving = user(
        1,
        "jan.novak@acme.com",
        first_name="Jan",
        last_name="Novák",
        hire_date=dt.date(2019, 4, 1),
        employee_id="E-17",
    )
    other_date = record(
        2, "jan@acme.com", first_name="Jan", last_name="Novák", hire_date=dt.date(2024, 1, 8)
    )
    other_id = record(2, "jan@acme.com", first_name="Jan", last_name="Novák", employee_id="E-99")
    same_date = record(
        2, "jan@acme.com", first_name="JAN", last_name="novak", hire_date=dt.date(2019, 4, 1)
    )
    assert pairs([other_date], [leaving]) == []
    assert pairs([other_id], [leaving]) == []
    [pair] = pairs([same_date], [leaving])
    assert pair.evidence == {"hire_date": "2019-04-01"}


def test_names_compare_without_accents_case_or_extra_spaces_and_a_blank_name_never_pairs():
    assert name_key(" José  Luis ", "Pérez") == name_key("jose luis", "PEREZ")
    assert name_key("", "Pérez") is None
    nameless = user(1, "x@acme.com", first_name="", last_name="Pérez")
    assert pairs([record(2, "y@acme.com", first_name="", last_name="Pérez")], [nameless]) == []


def test_inactive_protected_or_support_staff_are_not_leaving():
    inactive = user(1, "old@acme.com", first_name="Ana", last_name="Lima", is_active=False)
    staff = user(2, "staff@acme.com", first_name="Ana", last_name="Lima", is_staff=True)
    protected = user(4, "kept@acme.com", first_name="Ana", last_name="Lima", is_protected=True)
    new = record(3, "ana@acme.com", first_name="Ana", last_name="Lima")
    assert pairs([new], [inactive, staff, protected]) == []
    assert (
        pairs(
            [new],
            [user(1, "old@acme.com", first_name="Ana", last_name="Lima")],
            excluding=frozenset({1}),
        )
        == []
    )


def test_unconfirmed_the_pair_is_a_deactivation_and_a_new_account():
    options = ImportOptions()
    new = record(2, "maria.g@acme.com", first_name="María", last_name="García")
    matching = match_records([new], Snapshot(users=(MARIA_SALES,)), options)
    actions = sorted(change.action for change in iter_changes(matching, options))
    assert actions == [Action.CREATE, Action.DEACTIVATE]


def test_a_confirmed_pair_is_an_email_change_of_the_same_user():
    options = ImportOptions()
    boss = user(9, "boss@acme.com", first_name="Bo", last_name="Ss")
    maria = user(
        1,
        "maria.garcia@acme.com",
        first_name="María",
        last_name="García",
        department="Sales",
        manager_id=9,
    )
    new = record(
        2,
        "maria.g@acme.com",
        first_name="María",
        last_name="García",
        department="Sales",
        manager_email="boss@acme.com",
    )
    keep_boss = record(3, "boss@acme.com", first_name="Bo", last_name="Ss")
    matching = match_records(
        [new, keep_boss],
        Snapshot(users=(maria, boss)),
        options,
        same_person={1: "maria.g@acme.com"},
    )
    [change] = list(iter_changes(matching, options))
    assert change.action == Action.UPDATE
    assert change.user_id == 1
    assert change.fields == {"email": ("maria.garcia@acme.com", "maria.g@acme.com")}
    assert same_person_pairs(matching) == []


def test_a_confirmed_pair_whose_user_a_row_of_its_own_describes_matches_nothing():
    options = ImportOptions()
    still_there = record(2, "maria.garcia@acme.com", first_name="María", last_name="García")
    new = record(3, "maria.g@acme.com", first_name="María", last_name="García")
    matching = match_records(
        [still_there, new],
        Snapshot(users=(MARIA_SALES,)),
        options,
        same_person={1: "maria.g@acme.com"},
    )
    assert matching.issues == ()
    assert matching.matches == {2: MARIA_SALES}  # Row 3 is a new person.

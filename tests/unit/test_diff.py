"""The diff: what an import would change, computed from plain data."""

import datetime as dt
import time
from dataclasses import replace

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from importer.pipeline import diff
from importer.pipeline.diff import apply_to_snapshot, compute_changeset, iter_changes, match_records
from importer.pipeline.types import (
    FIELDS,
    Action,
    ImportOptions,
    Record,
    Snapshot,
    SnapshotUser,
)


def record(row, email, **values):
    return Record(row=row, values={"email": email, **values})


def snapshot_of(*users, elsewhere=()):
    return Snapshot(users=tuple(users), emails_in_other_orgs=frozenset(elsewhere))


def user(id, email, **fields):
    return SnapshotUser(id=id, email=email, **fields)


def codes(changeset):
    return [issue.code for issue in changeset.issues]


def test_it_creates_people_who_are_new_in_the_file():
    changeset = compute_changeset(
        [record(2, "ana@x.com", first_name="Ana", hire_date=dt.date(2024, 3, 1))],
        snapshot_of(),
        ImportOptions(),
    )
    [change] = changeset.changes
    assert change.action == Action.CREATE
    assert change.user_id is None
    assert change.fields == {
        "email": ("", "ana@x.com"),
        "first_name": ("", "Ana"),
        "hire_date": ("", "2024-03-01"),
    }


def test_it_reports_field_level_changes_with_old_and_new_values():
    snapshot = snapshot_of(
        user(1, "ana@x.com", first_name="Ana", title="Engineer", department="R&D")
    )
    changeset = compute_changeset(
        [record(2, "ana@x.com", first_name="Ana", title="Lead", department="R&D")],
        snapshot,
        ImportOptions(),
    )
    [change] = changeset.changes
    assert (change.action, change.user_id, change.row) == (Action.UPDATE, 1, 2)
    assert change.fields == {"title": ("Engineer", "Lead")}


def test_it_deactivates_users_missing_from_the_file():
    snapshot = snapshot_of(user(7, "gone@x.com"), user(8, "ana@x.com"))
    changeset = compute_changeset(
        [record(2, "ana@x.com")], snapshot, ImportOptions(deactivate_missing=True)
    )
    assert [(c.action, c.user_id) for c in changeset.changes] == [(Action.DEACTIVATE, 7)]
    assert changeset.unchanged == 1


def test_it_never_deactivates_the_admin_running_the_import_nor_protected_or_staff_users():
    snapshot = snapshot_of(
        user(1, "admin@x.com"),
        user(2, "kept@x.com", is_protected=True),
        user(3, "support@x.com", is_staff=True),
        user(4, "gone@x.com"),
    )
    changeset = compute_changeset([], snapshot, ImportOptions(acting_user_id=1))
    assert [c.user_id for c in changeset.of(Action.DEACTIVATE)] == [4]


def test_it_keeps_users_missing_from_the_file_when_deactivation_is_off():
    snapshot = snapshot_of(user(7, "gone@x.com"))
    changeset = compute_changeset([], snapshot, ImportOptions(deactivate_missing=False))
    assert changeset.changes == ()


def test_it_reactivates_inactive_users_present_in_the_file():
    snapshot = snapshot_of(user(5, "back@x.com", is_active=False, title="Old"))
    changeset = compute_changeset([record(3, "back@x.com", title="New")], snapshot, ImportOptions())
    [change] = changeset.changes
    assert change.action == Action.REACTIVATE
    assert change.fields == {"title": ("Old", "New")}


def test_it_matches_on_employee_id_so_a_new_email_is_a_change_not_a_new_user():
    snapshot = snapshot_of(user(1, "ana.old@x.com", employee_id="1001"))
    changeset = compute_changeset(
        [record(2, "ana.new@x.com", employee_id="1001")], snapshot, ImportOptions()
    )
    [change] = changeset.changes
    assert change.action == Action.UPDATE
    assert change.fields == {"email": ("ana.old@x.com", "ana.new@x.com")}


def test_it_matches_on_email_when_the_user_has_no_employee_id_yet():
    snapshot = snapshot_of(user(1, "ana@x.com"))
    changeset = compute_changeset(
        [record(2, "ana@x.com", employee_id="1001")], snapshot, ImportOptions()
    )
    [change] = changeset.changes
    assert change.fields == {"employee_id": ("", "1001")}


def test_a_blank_cell_keeps_the_stored_value():
    snapshot = snapshot_of(user(1, "ana@x.com", title="Lead", hire_date=dt.date(2020, 1, 1)))
    changeset = compute_changeset(
        [record(2, "ana@x.com", title="", hire_date=None)], snapshot, ImportOptions()
    )
    assert changeset.changes == ()
    assert changeset.unchanged == 1


def test_a_blank_cell_clears_the_value_when_the_policy_says_so():
    snapshot = snapshot_of(user(1, "ana@x.com", title="Lead"))
    changeset = compute_changeset(
        [record(2, "ana@x.com", title="")],
        snapshot,
        ImportOptions(clear_blank_fields=frozenset({"title"})),
    )
    assert changeset.changes[0].fields == {"title": ("Lead", "")}


def test_it_sets_managers_by_email_including_people_new_in_the_same_file():
    snapshot = snapshot_of(user(1, "ana@x.com"))
    changeset = compute_changeset(
        [record(2, "ana@x.com", manager_email="boss@x.com"), record(3, "boss@x.com")],
        snapshot,
        ImportOptions(),
    )
    update, create = changeset.changes
    assert update.fields == {"manager_email": ("", "boss@x.com")}
    assert create.action == Action.CREATE
    assert not changeset.issues


def test_a_manager_whose_email_changes_in_the_same_file_is_not_a_manager_change():
    snapshot = snapshot_of(
        user(1, "boss.old@x.com", employee_id="1"),
        user(2, "ana@x.com", employee_id="2", manager_id=1),
    )
    changeset = compute_changeset(
        [
            record(2, "boss.new@x.com", employee_id="1"),
            record(3, "ana@x.com", employee_id="2", manager_email="boss.new@x.com"),
        ],
        snapshot,
        ImportOptions(),
    )
    assert [(c.user_id, c.fields) for c in changeset.changes] == [
        (1, {"email": ("boss.old@x.com", "boss.new@x.com")})
    ]


def test_it_reports_a_manager_who_is_not_in_the_file():
    changeset = compute_changeset(
        [record(2, "ana@x.com", manager_email="nobody@x.com")], snapshot_of(), ImportOptions()
    )
    [issue] = changeset.issues
    assert (issue.code, issue.row, issue.value) == ("manager_not_found", 2, "nobody@x.com")


def test_an_existing_active_user_counts_as_manager_when_missing_users_are_kept():
    snapshot = snapshot_of(user(1, "boss@x.com"))
    records = [record(2, "ana@x.com", manager_email="boss@x.com")]
    kept = compute_changeset(records, snapshot, ImportOptions(deactivate_missing=False))
    deactivated = compute_changeset(records, snapshot, ImportOptions(deactivate_missing=True))
    assert codes(kept) == []
    assert codes(deactivated) == ["manager_not_found"]


def test_it_reports_a_manager_cycle_once_naming_everyone_in_it_and_their_rows():
    changeset = compute_changeset(
        [
            record(2, "a@x.com", manager_email="b@x.com"),
            record(3, "b@x.com", manager_email="c@x.com"),
            record(4, "c@x.com", manager_email="a@x.com"),
            record(5, "d@x.com", manager_email="a@x.com"),
        ],
        snapshot_of(),
        ImportOptions(),
    )
    assert codes(changeset) == ["manager_cycle"]
    assert changeset.issues[0].row == 2
    assert (
        "3 people would report to each other in a circle: a@x.com (row 2) → b@x.com (row 3) → "
        "c@x.com (row 4) → a@x.com." in changeset.issues[0].message
    )


def test_a_manager_column_sorted_on_its_own_makes_one_short_error_per_circle_quickly():
    people = 5000
    records = [
        record(row, f"p{row}@x.com", manager_email=f"p{row + 1 if row < people + 1 else 2}@x.com")
        for row in range(2, people + 2)
    ]
    started = time.perf_counter()

    changeset = compute_changeset(records, snapshot_of(), ImportOptions())

    assert time.perf_counter() - started < 5
    [issue] = changeset.issues
    assert issue.code == "manager_cycle"
    assert issue.row == 2
    assert issue.message.startswith("5,000 people would report to each other in a circle: ")
    assert "p11@x.com (row 11) → … 4,990 more → p2@x.com." in issue.message
    assert len(issue.message) < 500


def test_it_reports_a_cycle_closed_through_an_existing_users_manager():
    snapshot = snapshot_of(user(1, "boss@x.com", manager_id=2), user(2, "ana@x.com"))
    changeset = compute_changeset(
        [record(2, "ana@x.com", manager_email="boss@x.com")],
        snapshot,
        ImportOptions(deactivate_missing=False),
    )
    assert codes(changeset) == ["manager_cycle"]


def test_it_refuses_an_email_used_in_another_organization():
    changeset = compute_changeset(
        [record(2, "taken@x.com")], snapshot_of(elsewhere={"taken@x.com"}), ImportOptions()
    )
    assert codes(changeset) == ["email_unavailable"]
    assert changeset.changes == ()


def test_it_refuses_an_email_change_onto_another_users_address():
    snapshot = snapshot_of(
        user(1, "ana@x.com", employee_id="1"), user(2, "ben@x.com", employee_id="2")
    )
    changeset = compute_changeset(
        [record(2, "ben@x.com", employee_id="1")], snapshot, ImportOptions(deactivate_missing=False)
    )
    assert codes(changeset) == ["email_taken"]


def test_two_rows_describing_one_user_are_reported():
    snapshot = snapshot_of(user(1, "ana@x.com", employee_id="1"))
    changeset = compute_changeset(
        [record(2, "ana.new@x.com", employee_id="1"), record(3, "ana@x.com")],
        snapshot,
        ImportOptions(),
    )
    assert codes(changeset) == ["conflicting_match"]
    assert changeset.issues[0].row == 3


def test_protected_users_are_neither_changed_nor_deactivated():
    snapshot = snapshot_of(
        user(1, "ana@x.com", title="CEO", is_protected=True),
        user(2, "ben@x.com", is_protected=True),
    )
    changeset = compute_changeset(
        [record(2, "ana@x.com", title="Intern")], snapshot, ImportOptions()
    )
    assert changeset.changes == ()


def test_an_email_differing_only_in_case_is_no_change():
    # Records carry normalised emails (columns.py lower-cases them).
    snapshot = snapshot_of(user(1, "ana@x.com"))
    assert compute_changeset([record(2, "ana@x.com")], snapshot, ImportOptions()).changes == ()


def test_the_same_inputs_give_the_same_changeset():
    snapshot = snapshot_of(user(1, "a@x.com"), user(2, "b@x.com", title="T"))
    records = [record(2, "b@x.com", title="U"), record(3, "c@x.com")]
    assert compute_changeset(records, snapshot, ImportOptions()) == compute_changeset(
        records, snapshot, ImportOptions()
    )


# Importing the same file twice changes nothing the second time --------------------------------

emails = st.sampled_from([f"p{n}@x.com" for n in range(12)])
texts = st.sampled_from(["", "Ana", "Lead", "R&D", "Berlin"])
ids = st.sampled_from(["", "1", "2", "3", "4", "5", "6", "7"])
dates = st.sampled_from([None, dt.date(2020, 1, 1), dt.date(2024, 3, 1)])


@st.composite
def files(draw):
    chosen = draw(st.lists(emails, unique=True, max_size=10))
    employee_ids = draw(st.lists(ids, min_size=len(chosen), max_size=len(chosen)))
    seen_ids = set()
    records = []
    for row, (email, employee_id) in enumerate(zip(chosen, employee_ids, strict=True), start=2):
        if employee_id in seen_ids:
            employee_id = ""
        seen_ids.add(employee_id)
        manager = draw(st.sampled_from(["", *chosen[: row - 2]]))  # earlier rows: no cycles
        records.append(
            record(
                row,
                email,
                first_name=draw(texts),
                title=draw(texts),
                employee_id=employee_id,
                hire_date=draw(dates),
                manager_email=manager,
            )
        )
    return records


@st.composite
def snapshots(draw):
    chosen = draw(st.lists(emails, unique=True, max_size=8))
    users = []
    used_ids = set()
    for number, email in enumerate(chosen, start=1):
        employee_id = draw(ids)
        if employee_id in used_ids:
            employee_id = ""
        used_ids.add(employee_id)
        users.append(
            user(
                number,
                email,
                title=draw(texts),
                employee_id=employee_id,
                is_active=draw(st.booleans()),
                manager_id=draw(st.sampled_from([None, *range(1, number)])),
            )
        )
    return snapshot_of(*users)


@settings(max_examples=300, deadline=None)
@given(records=files(), snapshot=snapshots(), deactivate=st.booleans())
def test_importing_the_result_again_gives_no_changes(records, snapshot, deactivate):
    policy = ImportOptions(deactivate_missing=deactivate)
    first = compute_changeset(records, snapshot, policy)
    assume(not first.errors)  # A file with errors is never applied.
    after = apply_to_snapshot(snapshot, first)
    second = compute_changeset(records, after, policy)
    assert second.changes == ()
    assert not second.errors


@settings(max_examples=300, deadline=None)
@given(
    records=files(),
    snapshot=snapshots(),
    update_fields=st.frozensets(st.sampled_from(FIELDS)),
    clear_blank_fields=st.frozensets(st.sampled_from(FIELDS)),
    update_managers=st.booleans(),
    reactivate=st.booleans(),
    protected=st.frozensets(st.integers(1, 8)),
)
def test_every_matched_record_yields_the_changes_worked_out_for_it(
    records, snapshot, update_fields, clear_blank_fields, update_managers, reactivate, protected
):
    """iter_changes passes over a record equal to its user without working out its changes:
    never over one that has any, made or skipped, whatever the options."""
    snapshot = Snapshot(
        users=tuple(replace(user, is_protected=user.id in protected) for user in snapshot.users)
    )
    policy = ImportOptions(
        update_fields=update_fields,
        clear_blank_fields=clear_blank_fields,
        update_managers=update_managers,
        reactivate=reactivate,
    )
    matching = match_records(records, snapshot, policy)

    expected = [
        change
        for record in matching.records
        if record.row in matching.matches
        for change in diff._changes_for(record, matching.matches[record.row], matching, policy)
    ]
    made = [change for change in iter_changes(matching, policy) if change.row in matching.matches]
    assert made == expected


def test_people_by_email_gives_new_people_their_reserved_ids_and_users_theirs_by_either_address():
    snapshot = snapshot_of(
        user(1, "ana@x.com", employee_id="1"),
        user(2, "ben@x.com"),
        user(3, "gone@x.com"),
    )
    records = [
        record(2, "ana.new@x.com", employee_id="1"),  # ana, with a new address
        record(3, "ben@x.com"),
        record(4, "cy@x.com", manager_email="ana.new@x.com"),  # new
    ]
    matching = match_records(records, snapshot, ImportOptions(deactivate_missing=False))

    people = diff.PeopleByEmail(matching, {4: 104})

    assert [people[email] for email in ("ana.new@x.com", "ana@x.com", "ben@x.com")] == [1, 1, 2]
    assert people["cy@x.com"] == 104
    assert people["gone@x.com"] == 3  # kept out of the file: by their current address

"""Each import option's effect on the ChangeSet, and the changes it skips (with the reason)."""

import datetime as dt

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from importer.pipeline.diff import (
    PROFILE_FIELDS,
    PROTECTED_CHANGE,
    PROTECTED_DEACTIVATE,
    SKIPPED_CREATE,
    SKIPPED_DEACTIVATE,
    SKIPPED_MANAGER,
    SKIPPED_REACTIVATE,
    apply_to_snapshot,
    compute_changeset,
)
from importer.pipeline.types import Action, ImportOptions, Record, Snapshot, SnapshotUser
from tests.unit.test_diff import files, snapshots


def record(row, email, **values):
    return Record(row=row, values={"email": email, **values})


def snapshot_of(*users):
    return Snapshot(users=tuple(users))


def user(id, email, **fields):
    return SnapshotUser(id=id, email=email, **fields)


def summary(changes):
    return [(c.action, c.email, c.fields, c.skipped_reason) for c in changes]


# Create new users -----------------------------------------------------------------------------


def test_it_skips_new_people_when_creating_users_is_off():
    changeset = compute_changeset(
        [record(2, "ana@x.com", first_name="Ana")], snapshot_of(), ImportOptions(create_users=False)
    )
    assert changeset.changes == ()
    assert summary(changeset.skipped) == [
        (
            Action.CREATE,
            "ana@x.com",
            {"email": ("", "ana@x.com"), "first_name": ("", "Ana")},
            SKIPPED_CREATE,
        )
    ]
    assert "'Create new users' is off" in SKIPPED_CREATE
    assert changeset.unchanged == 0


def test_a_skipped_new_person_cannot_be_named_as_a_manager():
    changeset = compute_changeset(
        [record(2, "boss@x.com"), record(3, "ana@x.com", manager_email="boss@x.com")],
        snapshot_of(user(1, "ana@x.com")),
        ImportOptions(create_users=False),
    )
    assert [issue.code for issue in changeset.errors] == ["manager_not_found"]


# Profile fields imports may change ------------------------------------------------------------


def test_it_changes_only_the_fields_the_policy_lets_imports_change():
    snapshot = snapshot_of(user(1, "ana@x.com", title="Engineer", department="R&D"))
    changeset = compute_changeset(
        [record(2, "ana@x.com", title="Lead", department="Sales")],
        snapshot,
        ImportOptions(update_fields=frozenset({"department"})),
    )
    assert summary(changeset.changes) == [
        (Action.UPDATE, "ana@x.com", {"department": ("R&D", "Sales")}, "")
    ]
    assert summary(changeset.skipped) == [
        (
            Action.UPDATE,
            "ana@x.com",
            {"title": ("Engineer", "Lead")},
            "Title is not among the 'Profile fields imports may change'.",
        )
    ]


def test_it_names_every_left_out_field_in_one_skipped_change():
    snapshot = snapshot_of(
        user(1, "ana@x.com", title="Engineer", location="Paris", first_name="Ana")
    )
    changeset = compute_changeset(
        [record(2, "ana@x.com", title="Lead", location="Berlin", first_name="Anna")],
        snapshot,
        ImportOptions(update_fields=frozenset()),
    )
    assert changeset.changes == ()
    [skipped] = changeset.skipped
    assert skipped.fields == {
        "first_name": ("Ana", "Anna"),
        "title": ("Engineer", "Lead"),
        "location": ("Paris", "Berlin"),
    }
    assert skipped.skipped_reason == (
        "First name, Title and Location are not among the 'Profile fields imports may change'."
    )


def test_an_email_left_out_of_the_fields_keeps_the_old_address_under_the_same_employee_id():
    snapshot = snapshot_of(user(1, "ana.old@x.com", employee_id="7"))
    changeset = compute_changeset(
        [record(2, "ana.new@x.com", employee_id="7")],
        snapshot,
        ImportOptions(update_fields=frozenset(PROFILE_FIELDS) - {"email"}),
    )
    assert changeset.changes == ()
    assert changeset.skipped[0].fields == {"email": ("ana.old@x.com", "ana.new@x.com")}


def test_a_manager_named_by_an_address_the_import_does_not_store_is_set_by_the_stored_one():
    snapshot = snapshot_of(user(1, "boss.old@x.com", employee_id="1"), user(2, "ana@x.com"))
    changeset = compute_changeset(
        [
            record(2, "boss.new@x.com", employee_id="1"),
            record(3, "ana@x.com", manager_email="boss.new@x.com"),
            record(4, "ben@x.com", manager_email="boss.new@x.com"),
        ],
        snapshot,
        ImportOptions(update_fields=frozenset(PROFILE_FIELDS) - {"email"}),
    )
    assert [(c.email, c.fields.get("manager_email")) for c in changeset.changes] == [
        ("ana@x.com", ("", "boss.old@x.com")),
        ("ben@x.com", ("", "boss.old@x.com")),
    ]


def test_new_users_get_every_field_whatever_the_fields_option_says():
    changeset = compute_changeset(
        [record(2, "ana@x.com", title="Lead")],
        snapshot_of(),
        ImportOptions(update_fields=frozenset()),
    )
    assert changeset.changes[0].fields == {"email": ("", "ana@x.com"), "title": ("", "Lead")}


# Update manager relationships -----------------------------------------------------------------


def test_it_keeps_managers_and_still_updates_profiles_when_manager_updates_are_off():
    snapshot = snapshot_of(
        user(1, "boss@x.com"), user(2, "other@x.com"), user(3, "ana@x.com", manager_id=1, title="A")
    )
    records = [
        record(2, "boss@x.com"),
        record(3, "other@x.com"),
        record(4, "ana@x.com", manager_email="other@x.com", title="B"),
    ]
    changeset = compute_changeset(records, snapshot, ImportOptions(update_managers=False))
    assert summary(changeset.changes) == [(Action.UPDATE, "ana@x.com", {"title": ("A", "B")}, "")]
    assert summary(changeset.skipped) == [
        (
            Action.UPDATE,
            "ana@x.com",
            {"manager_email": ("boss@x.com", "other@x.com")},
            SKIPPED_MANAGER,
        )
    ]


def test_an_unknown_manager_blocks_nothing_when_manager_updates_are_off():
    snapshot = snapshot_of(user(1, "ana@x.com"))
    changeset = compute_changeset(
        [record(2, "ana@x.com", manager_email="nobody@x.com")],
        snapshot,
        ImportOptions(update_managers=False),
    )
    assert changeset.issues == ()
    assert changeset.changes == changeset.skipped == ()


def test_new_users_still_get_their_manager_when_manager_updates_are_off():
    snapshot = snapshot_of(user(1, "boss@x.com"))
    changeset = compute_changeset(
        [record(2, "boss@x.com"), record(3, "ana@x.com", manager_email="boss@x.com")],
        snapshot,
        ImportOptions(update_managers=False),
    )
    [create] = changeset.changes
    assert create.fields["manager_email"] == ("", "boss@x.com")


# Users missing from the file ------------------------------------------------------------------


def test_it_lists_missing_users_as_skipped_when_deactivation_is_off():
    snapshot = snapshot_of(
        user(1, "ana@x.com"), user(2, "gone@x.com"), user(3, "old@x.com", is_active=False)
    )
    changeset = compute_changeset(
        [record(2, "ana@x.com")], snapshot, ImportOptions(deactivate_missing=False)
    )
    assert changeset.changes == ()
    assert summary(changeset.skipped) == [(Action.DEACTIVATE, "gone@x.com", {}, SKIPPED_DEACTIVATE)]
    assert "'Deactivate users missing from the file' is off" in SKIPPED_DEACTIVATE


def test_the_acting_admin_and_support_staff_are_not_listed_as_skipped_deactivations():
    snapshot = snapshot_of(user(1, "admin@x.com"), user(2, "support@x.com", is_staff=True))
    changeset = compute_changeset([], snapshot, ImportOptions(acting_user_id=1))
    assert changeset.changes == changeset.skipped == ()


# Reactivate inactive users present in the file ------------------------------------------------


def test_it_leaves_returning_people_inactive_when_reactivation_is_off():
    snapshot = snapshot_of(user(5, "back@x.com", is_active=False))
    changeset = compute_changeset(
        [record(3, "back@x.com")], snapshot, ImportOptions(reactivate=False)
    )
    assert changeset.changes == ()
    assert summary(changeset.skipped) == [(Action.REACTIVATE, "back@x.com", {}, SKIPPED_REACTIVATE)]
    assert "stays inactive" in SKIPPED_REACTIVATE


def test_a_returning_person_left_inactive_still_gets_profile_updates():
    snapshot = snapshot_of(user(5, "back@x.com", is_active=False, title="Old"))
    changeset = compute_changeset(
        [record(3, "back@x.com", title="New")], snapshot, ImportOptions(reactivate=False)
    )
    assert summary(changeset.changes) == [
        (Action.UPDATE, "back@x.com", {"title": ("Old", "New")}, "")
    ]
    assert [c.action for c in changeset.skipped] == [Action.REACTIVATE]


# Blank cells ----------------------------------------------------------------------------------


def test_a_blank_manager_cell_clears_the_manager_only_when_the_policy_says_so():
    snapshot = snapshot_of(user(1, "boss@x.com"), user(2, "ana@x.com", manager_id=1))
    records = [record(2, "boss@x.com"), record(3, "ana@x.com", manager_email="")]
    kept = compute_changeset(records, snapshot, ImportOptions())
    cleared = compute_changeset(
        records, snapshot, ImportOptions(clear_blank_fields=frozenset({"manager_email"}))
    )
    assert kept.changes == ()
    assert summary(cleared.changes) == [
        (Action.UPDATE, "ana@x.com", {"manager_email": ("boss@x.com", "")}, "")
    ]


def test_a_blank_date_clears_the_hire_date_only_when_the_policy_says_so():
    snapshot = snapshot_of(user(1, "ana@x.com", hire_date=dt.date(2020, 1, 1)))
    records = [record(2, "ana@x.com", hire_date=None)]
    assert compute_changeset(records, snapshot, ImportOptions()).changes == ()
    cleared = compute_changeset(
        records, snapshot, ImportOptions(clear_blank_fields=frozenset({"hire_date"}))
    )
    assert cleared.changes[0].fields == {"hire_date": ("2020-01-01", "")}


def test_a_blank_cell_clears_nothing_in_a_field_imports_may_not_change():
    snapshot = snapshot_of(user(1, "ana@x.com", title="Lead"))
    changeset = compute_changeset(
        [record(2, "ana@x.com", title="")],
        snapshot,
        ImportOptions(
            update_fields=frozenset({"department"}), clear_blank_fields=frozenset({"title"})
        ),
    )
    assert changeset.changes == ()
    assert changeset.skipped[0].fields == {"title": ("Lead", "")}


# Users kept out of sync -----------------------------------------------------------------------


def test_a_protected_user_in_the_file_is_listed_with_what_the_file_would_change():
    snapshot = snapshot_of(
        user(1, "boss@x.com"), user(2, "ana@x.com", title="CEO", is_protected=True)
    )
    changeset = compute_changeset(
        [
            record(2, "boss@x.com"),
            record(3, "ana@x.com", title="Intern", manager_email="boss@x.com"),
        ],
        snapshot,
        ImportOptions(),
    )
    assert changeset.changes == ()
    assert summary(changeset.skipped) == [
        (
            Action.UPDATE,
            "ana@x.com",
            {"title": ("CEO", "Intern"), "manager_email": ("", "boss@x.com")},
            PROTECTED_CHANGE,
        )
    ]


def test_a_protected_inactive_user_is_not_reactivated():
    snapshot = snapshot_of(user(1, "ana@x.com", is_active=False, is_protected=True))
    changeset = compute_changeset([record(2, "ana@x.com")], snapshot, ImportOptions())
    assert changeset.changes == ()
    assert summary(changeset.skipped) == [(Action.REACTIVATE, "ana@x.com", {}, PROTECTED_CHANGE)]


def test_a_protected_user_missing_from_the_file_is_listed_as_not_deactivated():
    snapshot = snapshot_of(user(1, "ana@x.com", is_protected=True), user(2, "gone@x.com"))
    changeset = compute_changeset([], snapshot, ImportOptions())
    assert summary(changeset.changes) == [(Action.DEACTIVATE, "gone@x.com", {}, "")]
    assert summary(changeset.skipped) == [
        (Action.DEACTIVATE, "ana@x.com", {}, PROTECTED_DEACTIVATE)
    ]


def test_a_protected_user_who_matches_the_file_is_unchanged_not_skipped():
    snapshot = snapshot_of(user(1, "ana@x.com", title="CEO", is_protected=True))
    changeset = compute_changeset([record(2, "ana@x.com", title="CEO")], snapshot, ImportOptions())
    assert changeset.skipped == ()
    assert changeset.unchanged == 1


def test_an_unknown_manager_of_a_protected_user_blocks_nothing():
    snapshot = snapshot_of(user(1, "ana@x.com", is_protected=True))
    changeset = compute_changeset(
        [record(2, "ana@x.com", manager_email="nobody@x.com")], snapshot, ImportOptions()
    )
    assert changeset.issues == ()


# Whatever the options, importing the result again changes nothing ----------------------------

policies = st.builds(
    ImportOptions,
    create_users=st.booleans(),
    update_fields=st.frozensets(st.sampled_from(PROFILE_FIELDS)),
    update_managers=st.booleans(),
    deactivate_missing=st.booleans(),
    reactivate=st.booleans(),
    clear_blank_fields=st.frozensets(st.sampled_from([*PROFILE_FIELDS, "manager_email"])),
)


@settings(max_examples=300, deadline=None)
@given(records=files(), snapshot=snapshots(), policy=policies)
def test_importing_the_result_again_gives_no_changes_under_any_options(records, snapshot, policy):
    first = compute_changeset(records, snapshot, policy)
    assume(not first.errors)  # A file with errors is never applied.
    after = apply_to_snapshot(snapshot, first)
    second = compute_changeset(records, after, policy)
    assert second.changes == ()
    assert not second.errors


@settings(max_examples=200, deadline=None)
@given(records=files(), snapshot=snapshots(), policy=policies)
def test_skipped_changes_never_change_the_snapshot(records, snapshot, policy):
    changeset = compute_changeset(records, snapshot, policy)
    assume(not changeset.errors)  # A file with errors is never applied.
    assert all(change.skipped_reason for change in changeset.skipped)
    assert not any(change.skipped_reason for change in changeset.changes)
    mixed = type(changeset)(changes=changeset.skipped, issues=())
    assert apply_to_snapshot(snapshot, mixed) == snapshot

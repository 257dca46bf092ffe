"""plan_revert: the changes that undo a run, worked out from plain data."""

from importer.pipeline.revert_plan import Conflict, plan_revert
from importer.pipeline.types import Action, Change, Snapshot, SnapshotUser


def snapshot_of(*users):
    return Snapshot(users=tuple(users))


def user(id, email, **fields):
    return SnapshotUser(id=id, email=email, **fields)


def test_it_swaps_old_and_new_values_and_turns_actions_around():
    original = [
        Change(Action.CREATE, "new@acme.example", 5, 2, {"email": ("", "new@acme.example")}),
        Change(Action.UPDATE, "ben@acme.example", 2, 3, {"title": ("Engineer", "Lead")}),
        Change(Action.DEACTIVATE, "dan@acme.example", 3),
        Change(Action.REACTIVATE, "eve@acme.example", 4, 4, {"title": ("", "Back")}),
    ]
    after = snapshot_of(
        user(2, "ben@acme.example", title="Lead"),
        user(3, "dan@acme.example", is_active=False),
        user(4, "eve@acme.example", title="Back"),
        user(5, "new@acme.example"),
    )

    plan = plan_revert(original, after, touched_later={})

    assert plan.conflicts == ()
    assert plan.changes == (
        Change(Action.DEACTIVATE, "new@acme.example", 5),
        Change(Action.UPDATE, "ben@acme.example", 2, None, {"title": ("Lead", "Engineer")}),
        Change(Action.REACTIVATE, "dan@acme.example", 3, None, {}),
        Change(Action.DEACTIVATE, "eve@acme.example", 4, None, {"title": ("Back", "")}),
    )


def test_it_names_the_email_a_user_gets_back_so_that_apply_finds_them():
    original = [
        Change(
            Action.UPDATE,
            "mia.new@acme.example",
            6,
            2,
            {"email": ("mia@acme.example", "mia.new@acme.example")},
        ),
        Change(
            Action.UPDATE,
            "ben@acme.example",
            2,
            3,
            {"manager_email": ("mia@acme.example", "ana@acme.example")},
        ),
    ]
    after = snapshot_of(
        user(1, "ana@acme.example"),
        user(2, "ben@acme.example", manager_id=1),
        user(6, "mia.new@acme.example"),
    )

    plan = plan_revert(original, after, touched_later={})

    assert [(c.email, c.fields) for c in plan.changes] == [
        ("mia@acme.example", {"email": ("mia.new@acme.example", "mia@acme.example")}),
        ("ben@acme.example", {"manager_email": ("ana@acme.example", "mia@acme.example")}),
    ]


def test_a_user_changed_by_a_later_run_blocks_the_revert_and_is_named():
    original = [
        Change(Action.UPDATE, "ben@acme.example", 2, 3, {"title": ("Engineer", "Lead")}),
        Change(Action.UPDATE, "cara@acme.example", 3, 4, {"title": ("A", "B")}),
    ]
    after = snapshot_of(
        user(2, "ben@acme.example", title="CTO"), user(3, "cara@acme.example", title="B")
    )

    plan = plan_revert(original, after, touched_later={2: 41})

    assert not plan.is_possible
    assert plan.changes == ()
    assert plan.conflicts == (
        Conflict("ben@acme.example", "Changed since this import, by import #41."),
    )


def test_a_value_edited_outside_imports_since_is_a_conflict():
    original = [Change(Action.UPDATE, "ben@acme.example", 2, 3, {"title": ("Engineer", "Lead")})]
    after = snapshot_of(user(2, "ben@acme.example", title="Edited in admin"))

    plan = plan_revert(original, after, touched_later={})

    (conflict,) = plan.conflicts
    assert conflict.email == "ben@acme.example"
    assert "Edited in admin" in conflict.reason and "outside imports" in conflict.reason


def test_a_deleted_user_and_a_protected_user_are_conflicts():
    original = [
        Change(Action.UPDATE, "gone@acme.example", 9, 2, {"title": ("A", "B")}),
        Change(Action.UPDATE, "kept@acme.example", 3, 3, {"title": ("A", "B")}),
    ]
    after = snapshot_of(user(3, "kept@acme.example", title="B", is_protected=True))

    plan = plan_revert(original, after, touched_later={})

    assert [c.email for c in plan.conflicts] == ["gone@acme.example", "kept@acme.example"]


def test_a_previous_manager_who_no_longer_has_that_address_is_a_conflict():
    original = [
        Change(Action.UPDATE, "ben@acme.example", 2, 3, {"manager_email": ("old@acme.example", "")})
    ]
    after = snapshot_of(user(2, "ben@acme.example"), user(7, "renamed@acme.example"))

    plan = plan_revert(original, after, touched_later={})

    assert [c.email for c in plan.conflicts] == ["ben@acme.example"]
    assert "old@acme.example" in plan.conflicts[0].reason


def test_a_created_user_deactivated_since_needs_nothing():
    original = [Change(Action.CREATE, "new@acme.example", 5, 2, {})]

    plan = plan_revert(original, snapshot_of(user(5, "new@acme.example", is_active=False)), {})

    assert plan.changes == () and plan.conflicts == ()
    assert not plan.is_possible

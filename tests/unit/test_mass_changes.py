"""Limits on every kind of mass change: which changes pass which limit, in the diff's order."""

from importer.pipeline.mass_changes import (
    ADMINS,
    DEACTIVATIONS,
    ROWS,
    LimitCheck,
    allowed_counts,
    held_reason,
    rows_limit_passed,
)
from importer.pipeline.types import Action, Change, Limits


def update(n: int, **fields) -> Change:
    return Change(Action.UPDATE, f"p{n}@acme.example", n, n + 2, fields)


def deactivation(n: int) -> Change:
    return Change(Action.DEACTIVATE, f"p{n}@acme.example", n)


def test_the_changes_past_the_share_pass_the_limit_in_their_order():
    check = LimitCheck(Limits(max_field_change_percent=20), active_users=50)  # 10 allowed

    passed = [check.passed(update(n, manager_email=("a@x", "b@x"))) for n in range(13)]

    assert passed == [()] * 10 + [("manager_email",)] * 3
    assert check.limits_passed == ["manager_email"]
    assert "change the manager of 13 of 50 active users (26 %); the limit is 20 %" in (
        check.message()
    )


def test_each_field_is_counted_on_its_own():
    check = LimitCheck(Limits(max_field_change_count=1), active_users=50)

    first = check.passed(update(1, title=("A", "B"), department=("X", "Y")))
    second = check.passed(update(2, title=("A", "B")))
    third = check.passed(update(3, location=("P", "Q")))

    assert (first, second, third) == ((), ("title",), ())
    assert check.limits_passed == ["title"]


def test_reaching_a_limit_exactly_passes_nothing_and_small_companies_have_a_floor():
    check = LimitCheck(Limits(), active_users=10)  # 20 % of 10 is 2, but 3 are always allowed

    passed = [check.passed(update(n, email=(f"p{n}@a", f"q{n}@a"))) for n in range(3)]

    assert passed == [()] * 3 and check.message() == ""


def test_deactivations_past_the_share_and_all_of_them_when_rows_are_lost():
    check = LimitCheck(Limits(max_deactivation_percent=10), active_users=40, rows_short=True)

    passed = [check.passed(deactivation(n)) for n in range(6)]

    assert passed == [(ROWS,)] * 4 + [(DEACTIVATIONS, ROWS)] * 2
    assert check.limits_passed == [DEACTIVATIONS, ROWS]


def test_an_admins_email_change_or_deactivation_always_passes_the_admin_limit():
    check = LimitCheck(Limits(), active_users=100, admin_ids={7, 8})

    assert check.passed(update(7, email=("a@x", "b@x"))) == (ADMINS,)
    assert check.passed(update(7, title=("A", "B"))) == ()
    assert check.passed(deactivation(8)) == (ADMINS,)
    assert check.passed(deactivation(9)) == ()
    assert "or deactivate, 2 organization admins" in check.message()
    off = LimitCheck(Limits(hold_admin_changes=False), active_users=100, admin_ids={7})
    assert off.passed(deactivation(7)) == ()


def test_skipped_changes_pass_no_limit_and_are_not_counted():
    check = LimitCheck(Limits(max_field_change_count=0), active_users=10)
    skipped = Change(Action.UPDATE, "p@x", 1, 2, {"title": ("A", "B")}, "kept out of sync")

    assert check.passed(skipped) == ()
    assert check.seen["title"] == 0


def test_allowed_counts_100_percent_turns_a_share_off_and_a_count_replaces_it():
    assert allowed_counts(Limits(max_field_change_percent=100), active_users=10)["email"] is None
    assert allowed_counts(Limits(max_deactivation_count=0), active_users=1000)[DEACTIVATIONS] == 0
    assert allowed_counts(Limits(), active_users=1000)["title"] == 200


def test_rows_limit_and_held_reason():
    assert rows_limit_passed(row_count=50, last_row_count=100, limits=Limits())
    assert not rows_limit_passed(row_count=97, last_row_count=100, limits=Limits())
    assert held_reason(["email", ADMINS]) == "Email changes; Changes to admins"

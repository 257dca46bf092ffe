"""A preview stores its changes while the diff makes them; errors the diff finds take them back."""

import pytest

from importer.models import ImportChange, ImportRun
from tests.conftest import preview_text
from users.models import User

# More rows than one batch of the diff's progress, so that changes are stored before the error.
MANY = 2_500


def people(count: int, manager: str = "alice@acme.example") -> list[str]:
    return [f"p{number}@acme.example,P{number},{manager}" for number in range(count)]


def test_changes_are_stored_in_file_order_with_their_counts(acme, alice, bob):
    rows = [
        "Email,First name,Manager email",
        *people(MANY),
        "bob@acme.example,Bobby,alice@acme.example",
    ]

    run = preview_text(acme, alice, "\n".join(rows) + "\n")

    assert run.status == ImportRun.Status.READY, run.issues
    stored = list(run.changes.order_by("id").values_list("row", "action"))
    assert [row for row, _action in stored[: MANY + 1]] == list(range(2, MANY + 3))
    assert (run.new_count, run.changed_count) == (MANY, 1)
    assert run.changes.filter(action=ImportChange.Action.CREATE).count() == MANY


@pytest.mark.parametrize(
    "last_rows, code",
    [
        (["zed@acme.example,Zed,nobody@acme.example"], "manager_not_found"),
        (  # A circle, found only once every change has been made.
            [
                "ying@acme.example,Ying,yang@acme.example",
                "yang@acme.example,Yang,ying@acme.example",
            ],
            "manager_cycle",
        ),
    ],
    ids=["unknown manager in the last row", "managers in a circle"],
)
def test_an_error_the_diff_finds_late_leaves_no_change_stored(acme, alice, bob, last_rows, code):
    users_before = list(User.objects.order_by("pk").values())
    rows = ["Email,First name,Manager email", *people(MANY), *last_rows]

    run = preview_text(acme, alice, "\n".join(rows) + "\n")

    assert run.status == ImportRun.Status.INVALID
    assert code in {issue["code"] for issue in run.errors}
    assert not ImportChange.objects.filter(run=run).exists()
    assert (run.new_count, run.changed_count, run.deactivated_count, run.unchanged_count) == (
        0,
        0,
        0,
        0,
    )
    assert run.safeguard_message == ""
    assert list(User.objects.order_by("pk").values()) == users_before

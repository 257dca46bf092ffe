"""The snapshot a preview compares the file with: the organization's users, and which of the
file's addresses other organizations hold, read in batches."""

import datetime as dt

import pytest

from importer.store import snapshot as snapshots
from tests.factories import UserFactory


@pytest.mark.parametrize(
    "batch, read_others_below",
    [(2, 100), (100_000, 100), (100_000, 1)],
    ids=["looked for, batches of 2", "looked for, one batch", "the others' addresses read"],
)
def test_addresses_held_elsewhere_are_found_in_every_batch(
    acme, globex, monkeypatch, batch, read_others_below
):
    monkeypatch.setattr(snapshots, "EMAILS_BATCH", batch)
    # 1: the five users outside acme are fewer than the fifteen addresses looked for, so their
    # addresses are read (and kept where the file has them); 100: the fifteen are looked for.
    monkeypatch.setattr(snapshots, "READ_OTHERS_BELOW", read_others_below)
    for name in ("b", "d", "e", "z"):
        UserFactory(organization=globex, email=f"{name}@example.com")
    UserFactory(organization=None, email="staff@example.com", is_staff=True)
    UserFactory(organization=acme, email="a@example.com")
    wanted = ["a@example.com", "b@example.com", "c@example.com", "d@example.com"]

    found = snapshots.load_snapshot(
        acme.pk,
        today=dt.date(2026, 1, 1),
        emails=[
            *wanted,
            "e@example.com",
            "staff@example.com",
            *(f"new{n}@example.com" for n in range(10)),
        ],
    )

    assert found.emails_in_other_orgs == {
        "b@example.com",
        "d@example.com",
        "e@example.com",
        "staff@example.com",
    }
    assert [user.email for user in found.users] == ["a@example.com"]


def test_repeated_text_of_the_users_is_one_object(acme):
    for n in range(3):
        UserFactory(organization=acme, email=f"p{n}@example.com", department="Sales " + "x" * 40)

    users = snapshots.load_snapshot(acme.pk, today=dt.date(2026, 1, 1)).users

    departments = [user.department for user in users if user.department.startswith("Sales")]
    assert len(departments) == 3 and len({id(text) for text in departments}) == 1


def test_the_users_come_in_id_order_whether_the_organization_is_most_of_the_table_or_not(
    acme, globex
):
    # Active and inactive users alternate: read by the organization index, (is_active, id),
    # they would come inactive first. acme holds most users (read as the whole table), globex
    # few (read by the index).
    made = {acme.pk: [], globex.pk: []}
    for n in range(12):
        organization = globex if n % 4 == 0 else acme
        user = UserFactory(
            organization=organization, email=f"p{n}@example.com", is_active=n // 4 % 2
        )
        made[organization.pk].append(user.pk)

    for organization in (acme, globex):
        users = snapshots.load_snapshot(organization.pk, today=dt.date(2026, 1, 1)).users

        assert [user.id for user in users] == made[organization.pk]
        assert {user.is_active for user in users} == {False, True}

"""A preview reserves the ids of the users it would create; apply gives them exactly those."""

import pytest

from importer import runs
from importer.models import ImportChange, ImportRun
from tests.conftest import preview_text
from tests.factories import UserFactory
from users.models import User

CSV = (
    "Email,First name,Manager email\n"
    "zoe@acme.example,Zoe,alice@acme.example\n"
    "yan@acme.example,Yan,zoe@acme.example\n"  # Managed by someone this import creates.
    "xia@acme.example,Xia,yan@acme.example\n"
    "alice@acme.example,Alice,\n"
)


def previewed(organization, admin) -> ImportRun:
    run = preview_text(organization, admin, CSV)
    assert run.status == ImportRun.Status.READY, run.issues
    return run


# The preview builds its large dictionaries (reserved ids, shared texts) a batch at a time.
@pytest.mark.parametrize("batch", [50_000, 2], ids=["one batch", "batches of two"])
def test_apply_gives_new_users_the_ids_their_preview_reserved(
    acme, alice, globex, monkeypatch, batch
):
    monkeypatch.setattr("importer.runs.services.DICT_BATCH", batch)
    run = previewed(acme, alice)
    reserved = dict(
        run.changes.filter(action=ImportChange.Action.CREATE).values_list("email", "user_id")
    )
    managers = dict(run.changes.values_list("email", "manager_id"))
    assert sorted(reserved) == ["xia@acme.example", "yan@acme.example", "zoe@acme.example"]
    assert not User.objects.filter(pk__in=reserved.values()).exists()  # Reserved, not yet used.
    assert managers["yan@acme.example"] == reserved["zoe@acme.example"]
    assert managers["zoe@acme.example"] == alice.pk

    # A user created meanwhile (in another organization: Acme's preview stays current) never
    # gets one of the reserved ids.
    meanwhile = UserFactory(organization=globex, email="meanwhile@globex.example")
    assert meanwhile.pk not in reserved.values()

    runs.request_apply(run, acting_user=alice)
    runs.apply_run(run.pk)

    run.refresh_from_db()
    assert run.status == ImportRun.Status.APPLIED
    created = {user.email: user for user in User.objects.filter(pk__in=reserved.values())}
    assert {email: user.pk for email, user in created.items()} == reserved
    assert created["yan@acme.example"].manager == created["zoe@acme.example"]
    assert created["xia@acme.example"].manager == created["yan@acme.example"]
    assert created["zoe@acme.example"].manager == alice
    assert all(user.organization == acme and user.is_active for user in created.values())


def test_a_discarded_preview_leaves_only_a_gap_in_the_ids(acme, alice):
    run = previewed(acme, alice)
    reserved = set(
        run.changes.exclude(user=None).exclude(user=alice).values_list("user_id", flat=True)
    )
    run.delete()

    later = UserFactory(organization=acme, email="later@acme.example")

    assert later.pk > max(reserved)
    assert not ImportChange.objects.filter(user_id__in=reserved).exists()

"""Apply's one `UPDATE … FROM` the run's changes: each user changes in exactly the columns
their change names, whatever the other changes of the run name."""

import datetime as dt

import pytest
from django.conf import settings

from importer.models import ImportConfig, ImportRun
from tests.conftest import preview_text
from tests.factories import UserFactory
from users.models import User


def apply(run: ImportRun, admin) -> ImportRun:
    from importer import runs

    runs.request_apply(run, acting_user=admin, confirm_safeguard=True)
    runs.apply_run(run.pk)
    run.refresh_from_db()
    return run


@pytest.mark.parametrize("batch", [2, 10_000], ids=["batches of 2 changes", "one batch"])
def test_each_user_changes_only_in_the_fields_their_change_names(acme, alice, settings, batch):
    settings.IMPORT_APPLY_BATCH = batch
    ImportConfig.objects.update_or_create(
        organization=acme, defaults={"clear_blank_fields": ["hire_date", "manager_email"]}
    )
    boss = UserFactory(organization=acme, email="boss@acme.example", first_name="Bo")
    ana = UserFactory(
        organization=acme,
        email="ana@acme.example",
        first_name="Ana",
        title="Engineer",
        department="R&D",
        hire_date=dt.date(2020, 1, 2),
        manager=boss,
    )
    ben = UserFactory(
        organization=acme, email="ben@acme.example", first_name="Ben", title="Designer"
    )
    gone = UserFactory(organization=acme, email="gone@acme.example", is_active=False)
    leaving = UserFactory(organization=acme, email="leaving@acme.example", title="Intern")
    before = dict(User.objects.values_list("email", "version"))
    csv = (
        "Email,First name,Title,Department,Hire date,Manager email\n"
        "alice@acme.example,Alice,,,,\n"
        "boss@acme.example,Bo,,,,\n"
        # Ana: a new title, her hire date and manager cleared, her department kept.
        "ana@acme.example,Ana,Lead Engineer,R&D,,\n"
        # Ben: a new department and a manager; his blank title is kept.
        "ben@acme.example,Ben,,Design,,boss@acme.example\n"
        # Back, with a title.
        "gone@acme.example,,Returning,,,\n"
    )

    run = preview_text(acme, alice, csv)
    assert run.status == ImportRun.Status.READY, run.issues
    run = apply(run, alice)

    assert run.status == ImportRun.Status.APPLIED, run.message
    ana.refresh_from_db()
    assert (ana.title, ana.department, ana.hire_date, ana.manager_id, ana.first_name) == (
        "Lead Engineer",
        "R&D",
        None,
        None,
        "Ana",
    )
    ben.refresh_from_db()
    assert (ben.title, ben.department, ben.manager_id) == ("Designer", "Design", boss.pk)
    gone.refresh_from_db()
    assert gone.is_active and gone.title == "Returning"
    leaving.refresh_from_db()
    assert not leaving.is_active and leaving.title == "Intern"
    after = dict(User.objects.values_list("email", "version"))
    # One version up for each user the run changed, none for the others.
    assert {email for email in after if after[email] != before[email]} == {
        "ana@acme.example",
        "ben@acme.example",
        "gone@acme.example",
        "leaving@acme.example",
    }
    assert all(after[email] - before[email] in (0, 1) for email in after)


@pytest.mark.skipif(
    "sqlite" in settings.DATABASES["default"]["ENGINE"], reason="heap-only updates are PostgreSQL's"
)
def test_a_change_of_titles_rewrites_no_index_on_postgresql(acme, alice):
    """Users' pages keep room (fillfactor 50, migration users 0006): changing columns that no
    index holds is a heap-only update, which writes no entry in any of the table's indexes."""
    from django.db import connection

    people = [
        UserFactory(organization=acme, email=f"p{number}@acme.example", title="Engineer")
        for number in range(60)
    ]
    csv = "Email,Title\nalice@acme.example,\n" + "".join(
        f"{person.email},Lead Engineer\n" for person in people
    )
    run = preview_text(acme, alice, csv)
    assert run.changed_count == 60, run.issues

    def hot_updates() -> tuple[int, int]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_stat_get_xact_tuples_updated('users_user'::regclass), "
                "pg_stat_get_xact_tuples_hot_updated('users_user'::regclass)"
            )
            return cursor.fetchone()

    updated_before, hot_before = hot_updates()
    assert apply(run, alice).status == ImportRun.Status.APPLIED
    updated, hot = hot_updates()
    assert set(
        User.objects.filter(email__in=[p.email for p in people]).values_list("title", flat=True)
    ) == {"Lead Engineer"}
    assert updated - updated_before >= 60
    assert hot - hot_before == updated - updated_before


@pytest.mark.skipif(
    "sqlite" not in settings.DATABASES["default"]["ENGINE"], reason="SQLite's page cache"
)
def test_apply_gives_the_connection_its_page_cache_back(acme, alice):
    """Apply writes with a larger SQLite page cache (store.apply.SQLITE_APPLY_CACHE_KIB), and
    leaves the connection with the size it had: a web process's or worker's next queries do not
    keep 32 MB of pages."""
    from django.db import connection

    from importer.store import apply as store_apply

    def cache_size() -> int:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA cache_size")
            return cursor.fetchone()[0]

    sizes = []
    insert_users = store_apply._insert_users

    def noting_the_cache(run):
        sizes.append(cache_size())
        return insert_users(run)

    before = cache_size()
    run = preview_text(acme, alice, "Email,Title\nalice@acme.example,\nnew@acme.example,Chef\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(store_apply, "_insert_users", noting_the_cache)
        assert apply(run, alice).status == ImportRun.Status.APPLIED
    assert sizes == [-store_apply.SQLITE_APPLY_CACHE_KIB]
    assert cache_size() == before
    assert User.objects.get(email="new@acme.example").title == "Chef"

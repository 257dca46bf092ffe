"""What a new user hit (issue 18, section 4), driven through the pages with Django's client.

Runs are previewed and applied in this process by the services a worker calls.
"""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from importer import progress, runs
from importer.models import ImportRun, RemoteSource
from importer.views.imports import SEND_AGAIN_AFTER_SECONDS
from tests.conftest import PASSWORD
from tests.factories import UserFactory

HEADER = "Email,First Name,Last Name,Title\n"


def previewed(organization, admin, text: str, source=ImportRun.Source.PASTE) -> ImportRun:
    run = runs.create_run(
        organization=organization,
        data=text.encode(),
        name="Pasted CSV" if source == ImportRun.Source.PASTE else "people.csv",
        source=source,
        acting_user=admin,
    )
    runs.preview_run(run.pk)
    run.refresh_from_db()
    return run


def applied(run: ImportRun, admin) -> ImportRun:
    runs.request_apply(run, acting_user=admin)
    runs.apply_run(run.pk)
    run.refresh_from_db()
    assert run.status == ImportRun.Status.APPLIED, run.message
    return run


def page(client, run) -> str:
    response = client.get(reverse("importer:run-detail", args=[run.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_previews_are_outdated_as_soon_as_another_import_applies(alice_client, alice, acme):
    older = previewed(acme, alice, HEADER + "ana@acme.example,Ana,Silva,CEO\n")
    newer = previewed(acme, alice, HEADER + "ben@acme.example,Ben,Okafor,Engineer\n")
    assert older.status == newer.status == ImportRun.Status.READY

    applied(newer, alice)

    older.refresh_from_db()
    assert older.status == ImportRun.Status.STALE
    assert f"Import #{newer.pk} was applied after this preview" in older.message
    html = page(alice_client, older)
    assert "Outdated" in html
    assert "Ready to import" not in html
    assert 'id="import-button"' not in html
    assert "Preview this file again" in html
    history = alice_client.get(reverse("importer:history")).content.decode()
    assert 'status-stale">Outdated' in history


def test_preview_this_file_again_makes_a_fresh_preview_from_the_stored_input(
    alice_client, alice, acme
):
    text = HEADER + "ana@acme.example,Ana,Silva,CEO\n"
    older = previewed(acme, alice, text)
    applied(previewed(acme, alice, HEADER + "ben@acme.example,Ben,Okafor,Engineer\n"), alice)
    older.refresh_from_db()
    # The other import made Ben; the file still describes only Ana: Ben is now deactivated.

    response = alice_client.post(reverse("importer:run-preview-again", args=[older.pk]))

    again = ImportRun.objects.exclude(pk__in=[older.pk]).latest("created_at")
    assert response.status_code == 302
    assert response.url == reverse("importer:run-detail", args=[again.pk])
    assert again.status == ImportRun.Status.QUEUED
    assert again.input_sha256 == older.input_sha256
    assert again.source == older.source and again.created_by == alice
    runs.preview_run(again.pk)  # What the worker does with the enqueued task.
    again.refresh_from_db()
    assert again.status == ImportRun.Status.READY
    assert (again.new_count, again.deactivated_count) == (1, 1)
    older.refresh_from_db()
    assert older.status == ImportRun.Status.STALE  # The old one stays as it was.


def test_preview_again_of_another_companys_run_is_a_404(client, charlie, alice, acme):
    older = previewed(acme, alice, HEADER + "ana@acme.example,Ana,Silva,CEO\n")
    client.force_login(charlie)

    response = client.post(reverse("importer:run-preview-again", args=[older.pk]))

    assert response.status_code == 404
    assert ImportRun.objects.count() == 1


def test_a_preview_with_no_changes_says_no_changes(alice_client, alice, acme):
    UserFactory(
        organization=acme,
        email="ana@acme.example",
        first_name="Ana",
        last_name="Silva",
        title="CEO",
    )
    run = previewed(acme, alice, HEADER + "ana@acme.example,Ana,Silva,CEO\n")
    assert run.status == ImportRun.Status.READY and run.change_count == 0

    html = page(alice_client, run)
    history = alice_client.get(reverse("importer:history")).content.decode()

    assert "No changes" in html and "Ready to import" not in html
    assert 'status-nochanges">No changes</span>' in history
    assert 'status-ready">' not in history


def test_correcting_pasted_csv_keeps_the_pasted_text(alice_client, alice, acme):
    text = HEADER + "ana@acme.example,Ana,Silva,CEO\nnot-an-email,Ben,Okafor,Engineer\n"
    run = previewed(acme, alice, text)
    assert run.status == ImportRun.Status.INVALID

    html = page(alice_client, run)
    link = f"{reverse('importer:import')}?from_run={run.pk}"
    assert f'href="{link}"' in html
    assert "Correct the pasted text" in html

    form = alice_client.get(link).content.decode()
    assert "not-an-email,Ben,Okafor,Engineer" in form
    assert '<details class="paste" open>' in form


def test_another_companys_pasted_text_is_never_shown(client, charlie, alice, acme):
    run = previewed(acme, alice, HEADER + "secret@acme.example,Ana,Silva,CEO\n")
    client.force_login(charlie)

    form = client.get(f"{reverse('importer:import')}?from_run={run.pk}").content.decode()

    assert "secret@acme.example" not in form


def test_the_import_tab_says_the_automatic_import_is_failing_and_a_run_is_held(
    alice_client, alice, acme
):
    plain = alice_client.get(reverse("importer:import")).content.decode()
    assert "automatic import is failing" not in plain
    RemoteSource.objects.create(
        organization=acme,
        enabled=True,
        url="https://hr.acme.example/people.csv",
        consecutive_failures=3,
        last_error="The server answered 401 Unauthorized: check the token.",
    )
    held = previewed(acme, alice, HEADER + "ana@acme.example,Ana,Silva,CEO\n")
    assert runs.hold_run(held.pk)

    html = alice_client.get(reverse("importer:import")).content.decode()

    assert "The automatic import is failing" in html
    assert "401 Unauthorized: check the token." in html
    assert f'href="{reverse("importer:remote")}"' in html
    assert f"Scheduled import #{held.pk} is held by a safeguard" in html
    assert f'href="{reverse("importer:run-detail", args=[held.pk])}"' in html


def test_a_failed_fetch_says_what_happened_instead_of_zero_counts(alice_client, alice, acme):
    run = runs.create_fetch_run(organization=acme, acting_user=alice)
    runs.fail_fetch(run.pk, "The server did not answer within 10 seconds. Nothing was changed.")

    html = page(alice_client, run)

    assert "The server did not answer within 10 seconds" in html
    assert "Nothing was downloaded from your HR server" in html
    assert "(no name)" not in html
    assert "0 bytes" not in html
    assert "no longer stored" not in html
    assert 'class="counts"' not in html


def test_history_lists_what_changed_with_one_query_per_page(alice_client, alice, acme):
    boss = UserFactory(organization=acme, email="boss@acme.example")
    for name in ("ana", "ben", "cy"):
        UserFactory(organization=acme, email=f"{name}@acme.example", title="Intern")
    text = (
        "Email,Title,Manager Email\n"
        "ana@acme.example,Engineer,boss@acme.example\n"
        "ben@acme.example,Engineer,\n"
        "cy@acme.example,Designer,\n"
        f"{boss.email},,\n"
    )
    applied(previewed(acme, alice, text), alice)

    with CaptureQueriesContext(connection) as one_run:
        html = alice_client.get(reverse("importer:history")).content.decode()
    assert "Title ×3 · Manager ×1" in html

    for _ in range(3):
        applied(previewed(acme, alice, "Email,Title\nana@acme.example,CTO\n"), alice)
        applied(previewed(acme, alice, "Email,Title\nana@acme.example,Engineer\n"), alice)
    with CaptureQueriesContext(connection) as seven_runs:
        html = alice_client.get(reverse("importer:history")).content.decode()
    assert html.count("Title ×1") == 6
    assert len(seven_runs.captured_queries) == len(one_run.captured_queries)


def test_error_rows_name_the_files_own_column(alice_client, alice, acme):
    text = "Email,Reports To\nana@acme.example,nobody@acme.example\n"
    run = previewed(acme, alice, text)

    columns = {issue["column"] for issue in run.issues}

    assert "Reports To" in columns
    assert "Manager email" not in columns
    assert "Reports To" in page(alice_client, run)


@pytest.mark.parametrize("count", [5000])
def test_the_import_button_counts_with_separators(alice_client, alice, acme, count):
    rows = "".join(f"p{index}@acme.example,P,{index},T\n" for index in range(count))
    run = previewed(acme, alice, HEADER + rows)

    assert "Import 5,000 changes" in page(alice_client, run)


def test_the_apply_progress_says_what_is_happening_instead_of_zero_percent(
    alice_client, alice, acme
):
    rows = "".join(f"p{index}@acme.example,P,{index},T\n" for index in range(9))
    run = previewed(acme, alice, HEADER + rows)
    runs.request_apply(run, acting_user=alice)
    panel = reverse("importer:run-panel", args=[run.pk])

    def shown() -> str:
        return alice_client.get(panel, HTTP_HX_REQUEST="true").content.decode()

    waiting = shown()
    assert "Importing 9 changes" in waiting
    assert "Waiting for a worker to start the import" in waiting
    assert 'role="progressbar"' in waiting and "0%" not in waiting and "Starting" not in waiting

    report = progress.Reporter(run.pk, interval=0)
    report("verifying", 0, 9)
    assert "Checking that your users have not changed" in shown()
    report("inserting", 0, 9)
    assert "Adding the 9 new users in one step" in shown()
    report("applying", 6, 9)
    counted = shown()
    assert "6 of 9 changes written" in counted
    assert 'value="66"' in counted
    progress.clear(run.pk)


def test_the_login_error_says_only_the_password_is_case_sensitive(client, alice):
    response = client.post(
        reverse("login"), {"username": alice.email, "password": "not the password"}
    )
    html = response.content.decode()
    assert "do not match an account" in html
    assert "case-sensitive (the email is not)" in html
    assert "both fields may be case-sensitive" not in html

    upper = client.post(reverse("login"), {"username": alice.email.upper(), "password": PASSWORD})
    assert upper.status_code == 302  # The email is indeed not case-sensitive.


def test_send_again_is_offered_only_once_a_worker_is_overdue(alice_client, alice, acme):
    run = runs.create_run(
        organization=acme,
        data=(HEADER + "ana@acme.example,Ana,Silva,CEO\n").encode(),
        name="people.csv",
        source=ImportRun.Source.UPLOAD,
        acting_user=alice,
    )
    panel = reverse("importer:run-panel", args=[run.pk])

    just_sent = alice_client.get(panel, HTTP_HX_REQUEST="true").content.decode()
    assert "Waiting for a worker" in just_sent
    assert "Send again" not in just_sent

    ImportRun.objects.filter(pk=run.pk).update(
        updated_at=timezone.now() - dt.timedelta(seconds=SEND_AGAIN_AFTER_SECONDS + 1)
    )
    overdue = alice_client.get(panel, HTTP_HX_REQUEST="true").content.decode()
    assert 'id="send-again"' in overdue


def test_the_unknown_column_warning_links_to_where_the_column_is_matched(alice_client, alice, acme):
    run = previewed(acme, alice, "Email,Kostenstelle\nana@acme.example,4711\n")
    assert run.status == ImportRun.Status.NEEDS_COLUMNS
    runs.skip_column_matching(run)  # Previewed as read: the column is left out, with a warning.
    run.refresh_from_db()
    assert any(issue["code"] == "unknown_column" for issue in run.issues)

    html = page(alice_client, run)

    target = reverse("importer:configuration") + "#group-columns"
    assert f'href="{target}" class="match-column"' in html

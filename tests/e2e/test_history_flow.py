"""History in a real browser: find a person and read their timeline, revert an import, and
approve a scheduled import that a safeguard held."""

import pytest

from importer import runs
from importer.models import ImportRun
from tests.e2e.conftest import log_in, wait_for_finished_run
from tests.factories import UserFactory
from users.models import User

pytestmark = [pytest.mark.e2e, pytest.mark.worker]


def import_in_process(organization, admin, text: str, *, name: str = "people.csv") -> ImportRun:
    """Preview and apply a CSV here with the worker's functions: test data, not the test."""
    run = runs.create_run(
        organization=organization,
        data=text.encode(),
        name=name,
        source=ImportRun.Source.UPLOAD,
        acting_user=admin,
    )
    runs.preview_run(run.pk)
    run.refresh_from_db()
    runs.request_apply(run, acting_user=admin, confirm_safeguard=True)
    runs.apply_run(run.pk)
    run.refresh_from_db()
    assert run.status == ImportRun.Status.APPLIED, run.message
    return run


def test_an_admin_reads_a_persons_timeline_and_reverts_the_import_that_changed_them(
    worker, page, screen, alice, acme
):
    header = "email,first_name,last_name,title\n"
    me = f"{alice.email},{alice.first_name},{alice.last_name},\n"
    import_in_process(
        acme, alice, header + me + "ana@acme.example,Ana,Silva,Engineer\n", name="january.csv"
    )
    promotion = import_in_process(
        acme, alice, header + me + "ana@acme.example,Ana,Silva,Lead Engineer\n", name="march.csv"
    )
    log_in(page, alice.email)

    page.click(".tabs >> text=History")
    page.wait_for_selector(".history-table")
    assert page.locator(".history-table tbody tr").count() == 2
    page.fill("#history-person-q", "ana")
    page.click(".person-search button")
    page.wait_for_url("**/import/history/people/?q=ana")
    screen("people-search")

    page.click("text=Ana Silva")
    page.wait_for_selector(".timeline")
    entries = page.locator(".timeline-entry")
    assert entries.count() == 2  # Oldest first: created, then promoted.
    assert "New" in entries.nth(0).inner_text()
    promoted = entries.nth(1)
    assert promoted.locator("del.old").inner_text() == "Engineer"
    assert promoted.locator("ins.new").inner_text() == "Lead Engineer"
    screen("timeline")

    promoted.locator(f"a:has-text('Import #{promotion.pk}')").click()
    page.wait_for_url(f"**/import/runs/{promotion.pk}/")
    page.click("#revert-button")
    page.wait_for_selector(f"text=This is what reverting import #{promotion.pk} changes")
    row = page.locator(".change-table tbody tr", has_text="ana@acme.example")
    assert row.locator("del.old").inner_text() == "Lead Engineer"
    assert row.locator("ins.new").inner_text() == "Engineer"
    screen("revert-preview")

    page.click("#import-button")
    wait_for_finished_run(page)
    assert "Imported 1 change" in page.inner_text("#run-panel")
    assert User.objects.get(email="ana@acme.example").title == "Engineer"
    page.goto(f"/import/runs/{promotion.pk}/")
    assert "This import was reverted by" in page.inner_text(".revert-box")


def test_an_admin_approves_a_scheduled_import_held_by_the_safeguard(
    worker, page, screen, alice, acme
):
    people = User.objects.bulk_create(
        User(organization=acme, email=f"p{number:02}@acme.example", password="!")
        for number in range(19)
    )
    kept = [alice, *people[:9]]  # Half the company is missing from the file.
    run = runs.create_run(
        organization=acme,
        data=("email\n" + "".join(f"{u.email}\n" for u in kept)).encode(),
        name="hr.example.com",
        source=ImportRun.Source.REMOTE,
        trigger=ImportRun.Trigger.SCHEDULED,
    )
    runs.preview_run(run.pk)  # A scheduled preview that trips the safeguard holds its run.
    run.refresh_from_db()
    assert run.status == ImportRun.Status.HELD
    log_in(page, alice.email)

    page.click(".tabs >> text=History")
    row = page.locator(".history-table tbody tr", has_text=f"#{run.pk}")
    assert "Held by a safeguard" in row.inner_text()
    row.locator(f"a:has-text('#{run.pk}')").click()
    page.wait_for_selector("#approve-button")
    assert "Held by a safeguard." in page.inner_text("#run-panel")
    assert "Deactivated\n10" in page.inner_text(".counts")
    screen("held-run")

    page.click("#approve-button")
    wait_for_finished_run(page)
    assert "Imported 10 changes" in page.inner_text("#run-panel")
    assert User.objects.filter(organization=acme, is_active=True).count() == 10


def test_history_without_runs_says_how_to_start(page, screen, alice):
    UserFactory(organization=alice.organization, email="bob@acme.example")
    log_in(page, alice.email)
    page.click(".tabs >> text=History")
    empty = page.locator(".empty")
    assert "No imports yet" in empty.inner_text()
    screen("history-empty")
    empty.locator("a:has-text('Import your first file')").click()
    page.wait_for_url("**/import/")

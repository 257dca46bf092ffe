"""What a new user hit (issue 18, section 4), tried in a real browser as they would: every
screen at 1280 px and at 390 px, checked with axe-core, and never scrolling sideways."""

import pytest

from importer import runs
from importer.models import ImportRun, RemoteSource
from tests.e2e.conftest import PHONE, VIEWPORT, assert_fits_a_phone, log_in, wait_for_finished_run
from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e]

HEADER = "email,first_name,last_name,title,department\n"


def previewed(organization, admin, text: str, *, source=ImportRun.Source.UPLOAD) -> ImportRun:
    """Preview a CSV here with the worker's functions: test data, not the test."""
    run = runs.create_run(
        organization=organization,
        data=text.encode(),
        name="people.csv" if source == ImportRun.Source.UPLOAD else "Pasted CSV",
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


def stacked_labels(page, selector: str) -> list[str]:
    """The column names a stacked table shows before each cell of its first row (::before)."""
    return page.evaluate(
        """selector => [...document.querySelector(selector)
                .querySelectorAll("tbody tr:first-child td")]
            .map(td => getComputedStyle(td, "::before").content.replace(/^"|"$/g, ""))""",
        selector,
    )


def test_the_run_page_errors_history_and_people_are_cards_on_a_phone(
    page, screen_at_both_widths, alice, acme
):
    for number in range(60):
        UserFactory(
            organization=acme,
            email=f"person{number:02d}.with.a.long.address@subsidiary.acme.example",
            first_name="Person",
            last_name=f"Number {number}",
            title="Engineer",
            department="Research and Development",
        )
    changes = previewed(
        acme,
        alice,
        HEADER
        + f"{alice.email},{alice.first_name},{alice.last_name},,\n"
        + "person00.with.a.long.address@subsidiary.acme.example,Person,Number 0,"
        "Senior Engineer with a rather long job title,Research and Development\n"
        + "new.person@acme.example,Nadia,Long-Surname-Example,,\n",
    )
    errors = previewed(
        acme, alice, HEADER + "not-an-email,Ana,Silva,,\nana@acme.example,Ana,Silva,,\n"
    )
    log_in(page, alice.email)

    page.goto(f"/import/runs/{changes.pk}/")
    screen_at_both_widths("run-changes")
    page.set_viewport_size(PHONE)
    # The header row is left to screen readers; each cell names its column instead.
    assert page.locator(".change-table thead").bounding_box()["height"] <= 1
    assert stacked_labels(page, ".change-table") == ["Row", "Person", "Action", "What changes"]
    assert page.locator(".changes .table-wrap").evaluate(
        "box => getComputedStyle(box).overflowX"
    ) == ("visible")

    page.goto(f"/import/runs/{errors.pk}/")
    screen_at_both_widths("run-errors")
    page.set_viewport_size(PHONE)
    assert stacked_labels(page, ".error-table") == ["Row", "Column", "Value", "Problem"]

    page.goto("/import/history/")
    screen_at_both_widths("history-list")
    page.set_viewport_size(PHONE)
    labels = stacked_labels(page, ".history-table")
    assert labels[0] == "Run" and labels[-1] == "What changed"

    page.goto("/import/configuration/people/")
    screen_at_both_widths("people")
    # At 1280 px the page ends where its content does: no blank scrolling below it.
    page.set_viewport_size(VIEWPORT)
    blank = page.evaluate(
        """() => document.documentElement.scrollHeight
            - (document.querySelector("main").getBoundingClientRect().bottom + window.scrollY)"""
    )
    assert blank < 100, f"{blank}px of blank page below the content"
    page.set_viewport_size(PHONE)
    assert stacked_labels(page, ".people-table")[-1] == "Change"
    # One scroll per page: no table box scrolls inside it.
    for path in ("/import/configuration/people/", f"/import/runs/{changes.pk}/"):
        page.goto(path)
        page.set_viewport_size(VIEWPORT)
        inner = page.evaluate(
            """() => [...document.querySelectorAll(".table-wrap")]
                .filter(box => box.scrollHeight > box.clientHeight + 1).length"""
        )
        assert inner == 0, f"{path} has {inner} box(es) that scroll inside the page"


@pytest.mark.worker
def test_an_outdated_preview_is_previewed_again_from_its_stored_file(
    worker, page, screen_at_both_widths, alice, acme
):
    UserFactory(organization=acme, email="ben@acme.example", first_name="Ben", title="Intern")
    UserFactory(organization=acme, email="cy@acme.example", first_name="Cy", title="Intern")
    me = f"{alice.email},{alice.first_name},{alice.last_name},,\n"
    older = previewed(acme, alice, HEADER + me + "ben@acme.example,Ben,,Engineer,\n")
    log_in(page, alice.email)

    # A second file, previewed and imported in the browser, supersedes the first preview.
    page.goto("/import/")
    page.click(".paste summary")
    page.fill(
        "#id_text",
        HEADER + me + "ben@acme.example,Ben,,Designer,\ncy@acme.example,Cy,,Designer,\n",
    )
    page.click("#preview-button")
    page.wait_for_url("**/import/runs/*/")
    wait_for_finished_run(page)
    page.click("#import-button")
    wait_for_finished_run(page)
    assert "Imported 2 changes" in page.inner_text("#run-panel")

    page.goto("/import/history/")
    row = page.locator(".history-table tbody tr", has_text=f"#{older.pk}")
    assert "Outdated" in row.inner_text()
    newest = page.locator(".history-table tbody tr").first
    assert "Title ×2" in newest.inner_text()
    screen_at_both_widths("history-outdated")

    row.locator(f"a:has-text('#{older.pk}')").click()
    page.wait_for_url(f"**/import/runs/{older.pk}/")
    assert "Outdated" in page.inner_text(".run-header")
    assert page.locator("#import-button").count() == 0
    screen_at_both_widths("run-outdated")

    page.click("#preview-again-button")
    page.wait_for_url("**/import/runs/*/")
    assert f"/runs/{older.pk}/" not in page.url
    wait_for_finished_run(page)
    assert "Ready to import" in page.inner_text(".run-header")
    assert "Changed\n1" in page.inner_text(".counts")  # Ben's title, against today's users.
    screen_at_both_widths("run-previewed-again")


def test_a_file_that_changes_nothing_says_no_changes(page, screen_at_both_widths, alice, acme):
    run = previewed(acme, alice, f"email,first_name\n{alice.email},{alice.first_name}\n")
    log_in(page, alice.email)

    page.goto(f"/import/runs/{run.pk}/")

    assert "No changes" in page.inner_text(".run-header")
    assert "Ready to import" not in page.inner_text("#run-panel")
    screen_at_both_widths("run-no-changes")


def test_the_import_tab_says_the_automatic_import_fails_and_a_run_is_held(
    page, screen_at_both_widths, alice, acme
):
    RemoteSource.objects.create(
        organization=acme,
        enabled=True,
        url="https://hr.acme.example/people.csv",
        consecutive_failures=2,
        last_error="The server answered 401 Unauthorized: check the token.",
    )
    held = previewed(acme, alice, f"email\n{alice.email}\nnew@acme.example\n")
    assert runs.hold_run(held.pk)
    failed = runs.create_fetch_run(organization=acme, acting_user=alice)
    runs.fail_fetch(failed.pk, "The server did not answer within 10 seconds. Nothing was changed.")
    log_in(page, alice.email)

    assert "The automatic import is failing" in page.inner_text("main")
    assert f"Scheduled import #{held.pk} is held" in page.inner_text("main")
    screen_at_both_widths("import-banners")

    page.click("a:has-text('Check it, then approve or discard it')")
    page.wait_for_url(f"**/import/runs/{held.pk}/")
    screen_at_both_widths("run-held")

    page.goto(f"/import/runs/{failed.pk}/")
    panel = page.inner_text("#run-panel")
    assert "Nothing was downloaded from your HR server" in panel
    assert "0 bytes" not in panel and "(no name)" not in panel
    assert page.locator(".counts").count() == 0
    screen_at_both_widths("run-fetch-failed")

    page.goto("/import/")
    page.click("a:has-text('Check the automatic import settings')")
    page.wait_for_url("**/configuration/remote/")
    screen_at_both_widths("remote-settings")


def test_the_login_and_import_screens_fit_a_phone(page, screen_at_both_widths, alice):
    page.goto("/login/")
    screen_at_both_widths("login")
    log_in(page, alice.email)
    screen_at_both_widths("import")
    page.goto("/import/configuration/")
    screen_at_both_widths("configuration")
    page.set_viewport_size(PHONE)
    assert_fits_a_phone(page, "configuration")


def test_a_submitted_file_does_not_offer_send_again_at_once(page, screen_at_both_widths, alice):
    log_in(page, alice.email)
    page.click(".paste summary")
    page.fill("#id_text", f"email\n{alice.email}\n")
    page.click("#preview-button")
    page.wait_for_url("**/import/runs/*/")

    # Right after the submit, whether a worker took the run up yet or not: nothing to resend.
    assert page.locator("#send-again").count() == 0
    screen_at_both_widths("run-just-submitted")


def test_history_timelines_and_activity_fit_a_phone(page, screen_at_both_widths, alice, acme):
    ana = UserFactory(organization=acme, email="ana@acme.example", first_name="Ana")
    for title in ("Engineer", "Senior Engineer"):
        applied(
            previewed(acme, alice, f"email,title\n{alice.email},\n{ana.email},{title}\n"), alice
        )
    log_in(page, alice.email)

    page.goto(f"/import/history/people/{ana.pk}/")
    screen_at_both_widths("person-timeline")
    page.goto("/import/history/activity/")
    screen_at_both_widths("activity")

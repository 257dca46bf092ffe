"""Limits on mass changes in a real browser: the manual confirmation names the limits passed,
the preview filters by limit, and "import what is within the limits, hold the rest"."""

import pytest

from importer import runs
from importer.models import ImportRun
from tests.e2e.conftest import log_in, wait_for_finished_run
from users.models import User

pytestmark = [pytest.mark.e2e, pytest.mark.worker]


def retitling(acme, alice) -> str:
    """A file that retitles 10 of 21 people: 20 % of 21 allows 4 title changes, so 6 pass."""
    User.objects.filter(pk=alice.pk).update(title="Admin")
    people = User.objects.bulk_create(
        User(organization=acme, email=f"p{number:02}@acme.example", password="!")
        for number in range(20)
    )
    lines = ["email,title", f"{alice.email},Admin"]
    lines += [f"{p.email},{'Engineer' if n < 10 else ''}" for n, p in enumerate(people)]
    return "\n".join(lines) + "\n"


def previewed_retitling(acme, alice) -> ImportRun:
    """The retitling's preview, made here as the worker makes it."""
    run = runs.create_run(
        organization=acme,
        data=retitling(acme, alice).encode(),
        name="titles.csv",
        source=ImportRun.Source.UPLOAD,
        acting_user=alice,
    )
    runs.preview_run(run.pk)
    run.refresh_from_db()
    assert run.limits_passed == {"title": 6}
    return run


def test_the_confirmation_names_the_limits_passed_and_the_filter_shows_those_changes(
    worker, page, screen_at_both_widths, alice, acme
):
    text = retitling(acme, alice)
    log_in(page, alice.email)
    page.goto("/import/")  # Pasted in the browser, previewed by the worker.
    page.click(".paste summary")
    page.fill("#id_text", text)
    page.click("#preview-button")
    page.wait_for_url("**/import/runs/*/")
    wait_for_finished_run(page)
    run = ImportRun.objects.get()
    assert run.limits_passed == {"title": 6}

    label = page.inner_text(".confirm-safeguard")
    assert "this import passes these limits: Title changes (6 past the limit)" in label
    assert "change the title of 10 of 21 active users" in page.inner_text("#run-panel")
    page.click(".limit-filters >> text=Title changes")
    page.wait_for_url("**?limit=title*")
    assert page.locator(".change-table tbody tr").count() == 6
    screen_at_both_widths("mass-change-confirmation")

    # Without the tick, Import does nothing: the browser asks for the confirmation first.
    page.click("#import-button")
    assert page.eval_on_selector("#confirm-safeguard", "box => box.validity.valueMissing")
    run.refresh_from_db()
    assert run.status == ImportRun.Status.READY
    assert User.objects.filter(organization=acme, title="Engineer").count() == 0

    page.click("#confirm-safeguard")
    page.click("#import-button")
    wait_for_finished_run(page)
    assert "Imported 10 changes" in page.inner_text("#run-panel")
    assert User.objects.filter(organization=acme, title="Engineer").count() == 10


def test_import_within_the_limits_then_approve_the_held_part(
    worker, page, screen_at_both_widths, alice, acme
):
    run = previewed_retitling(acme, alice)
    log_in(page, alice.email)
    page.goto(f"/import/runs/{run.pk}/")

    page.click("#hold-rest-button")  # No confirmation needed: only safe changes are made.
    wait_for_finished_run(page)
    held = ImportRun.objects.get(held_part_of=run)
    assert "Imported 4 changes" in page.inner_text("#run-panel")
    # The first 4 in the file's order are made; the 6 after them wait, unchanged.
    engineers = User.objects.filter(organization=acme, title="Engineer").order_by("email")
    assert list(engineers.values_list("email", flat=True)) == [
        f"p{n:02}@acme.example" for n in range(4)
    ]
    page.click(f".held-parts >> text=Import #{held.pk}")
    page.wait_for_selector("#approve-button")
    assert "Held by a limit." in page.inner_text("#run-panel")
    assert page.locator(".limit-passed").count() == 6
    table = page.inner_text(".change-table")
    assert all(f"p{n:02}@acme.example" in table for n in range(4, 10))
    assert "p03@acme.example" not in table
    assert "every one after them passes it" in page.inner_text("main")
    screen_at_both_widths("held-part")

    page.click("#approve-button")
    wait_for_finished_run(page)
    assert "Imported 6 changes" in page.inner_text("#run-panel")
    assert User.objects.filter(organization=acme, title="Engineer").count() == 10

"""Pasted CSV in a real browser: row errors named by row number, and an option on the
Configuration tab changing what the next preview shows."""

import pytest

from importer.models import ImportConfig, ImportRun
from tests.e2e.conftest import log_in, wait_for_finished_run
from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.worker]


def paste_and_preview(page, text: str) -> None:
    page.goto("/import/")
    page.click(".paste summary")
    page.fill("#id_text", text)
    page.click("#preview-button")
    page.wait_for_url("**/import/runs/*/")
    wait_for_finished_run(page)


def test_pasted_csv_with_a_bad_email_shows_the_error_with_its_row_number(
    worker, page, screen, alice, acme
):
    log_in(page, alice.email)
    paste_and_preview(
        page,
        "email,first_name,last_name\n"
        f"{alice.email},{alice.first_name},{alice.last_name}\n"
        "jane.roe(at)acme.example,Jane,Roe\n"
        "ben@acme.example,Ben,Okafor\n",
    )

    assert "Has errors" in page.inner_text(".run-header")
    assert "Errors\n1" in page.inner_text(".counts")
    error = page.locator(".issues.errors tbody tr")
    assert error.count() == 1
    cells = error.locator("td").all_inner_texts()
    assert cells[0] == "3"  # The header is row 1: Jane is on row 3.
    assert "jane.roe(at)acme.example" in cells[2].lower()
    assert "email" in cells[3].lower()
    # Nothing can be imported from a file with errors; the page says what to do instead.
    assert page.locator("#import-button").count() == 0
    assert ImportRun.objects.get().source == ImportRun.Source.PASTE
    screen("preview-errors")
    # Correcting it starts from the text pasted, not from an empty box.
    page.click("a:has-text('Correct the pasted text')")
    page.wait_for_url("**/import/?from_run=*")
    assert page.is_visible("#id_text")
    assert "jane.roe(at)acme.example,Jane,Roe" in page.input_value("#id_text")
    page.fill("#id_text", page.input_value("#id_text").replace("(at)", "@"))
    page.click("#preview-button")
    page.wait_for_url("**/import/runs/*/")
    wait_for_finished_run(page)
    assert "Ready to import" in page.inner_text(".run-header")


def test_turning_off_deactivation_makes_the_next_preview_skip_the_deactivation(
    worker, page, screen, alice, acme
):
    bob = UserFactory(organization=acme, email="bob@acme.example", first_name="Bob")
    UserFactory(organization=acme, email="carol@acme.example", first_name="Carol", last_name="Diaz")
    csv = f"email\n{alice.email}\n{bob.email}\n"  # Carol left the company.
    log_in(page, alice.email)

    paste_and_preview(page, csv)
    assert "Deactivated\n1" in page.inner_text(".counts")
    assert "carol@acme.example" in page.inner_text(".change-table")

    page.click(".tabs >> text=Configuration")
    page.wait_for_url("**/import/configuration/")
    assert page.get_attribute(".tabs a:has-text('Configuration')", "aria-current") == "page"
    screen("configuration")
    page.locator("fieldset", has_text="Deactivate users missing from the file").get_by_label(
        "Leave them as they are"
    ).check()
    page.click("#save-configuration")
    page.wait_for_selector("text=Saved. The new options apply from the next preview on.")
    assert ImportConfig.objects.get(organization=acme).deactivate_missing is False
    # The change is logged with who made it.
    assert "Deactivate users missing from the file: On → Off" in page.inner_text(".config-log")
    screen("configuration-saved")

    paste_and_preview(page, csv)
    counts = page.inner_text(".counts")
    assert "Deactivated\n0" in counts
    assert "Skipped\n1" in counts
    page.click(".filters a:has-text('Skipped')")
    row = page.locator(".change-table tbody tr", has_text="carol@acme.example")
    assert "skipped" in row.inner_text().lower()
    assert "Deactivate users missing from the file" in row.inner_text()
    screen("preview-skipped")


def test_an_admin_keeps_a_person_out_of_sync_from_the_people_list(page, screen, alice, acme):
    UserFactory(organization=acme, email="bob@acme.example", first_name="Bob", last_name="Stone")
    log_in(page, alice.email)
    page.click(".tabs >> text=Configuration")
    page.click(".subnav >> text=People kept out of sync")
    page.wait_for_url("**/import/configuration/people/")
    screen("people")

    row = page.locator(".people-table tbody tr", has_text="bob@acme.example")
    row.locator("button:has-text('Keep out of sync')").click()
    page.wait_for_selector("text=bob@acme.example is kept out of sync")
    row = page.locator(".people-table tbody tr", has_text="bob@acme.example")
    assert row.locator(".badge-protected").is_visible()
    assert page.inner_text(".subnav .pill") == "1"
    screen("people-protected")

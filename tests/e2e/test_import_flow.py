"""The core path in a real browser: log in, drop a spreadsheet, watch the preview being computed,
read it, import it with a progress bar, and find the run in History."""

import re

import pytest
from openpyxl import Workbook

from importer.models import ImportRun
from tests.e2e.conftest import XLSX, drop_file, log_in, wait_for_finished_run
from tests.factories import UserFactory
from users.models import User

pytestmark = [pytest.mark.e2e, pytest.mark.worker]
NEW_HIRES = 4000  # Enough rows that the preview and the import take a visible moment.
PERCENT = re.compile(r"^\d{1,3}\s?%$")


def write_hr_export(path, alice, ana, *, new_hires: int) -> None:
    """Write an HR export: the admin, Ana promoted, and `new_hires` people new to Acme."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Employees")
    sheet.append(
        ["Employee ID", "First Name", "Last Name", "Work Email", "Job Title", "Department"]
    )
    sheet.append([None, alice.first_name, alice.last_name, alice.email, None, None])
    sheet.append([1001, "Ana", "Silva", ana.email, "Senior Engineer", "Engineering"])
    for number in range(new_hires):
        sheet.append(
            [
                2000 + number,
                f"Person{number:04}",
                "Example",
                f"person{number:04}@acme.example",
                "Specialist",
                "Sales",
            ]
        )
    workbook.save(path)


def test_an_admin_drops_a_large_spreadsheet_watches_progress_previews_and_imports_it(
    worker, page, screen, screenshot, alice, acme, tmp_path
):
    ana = UserFactory(
        organization=acme,
        email="ana.silva@acme.example",
        first_name="Ana",
        last_name="Silva",
        employee_id="1001",
        title="Engineer",
        department="Engineering",
    )
    export = tmp_path / "HR export.xlsx"
    write_hr_export(export, alice, ana, new_hires=NEW_HIRES)

    page.goto("/import/")
    page.wait_for_url("**/login/?next=/import/")
    screen("login")
    log_in(page, alice.email)
    assert page.get_attribute(".tabs a[href='/import/']", "aria-current") == "page"
    screen("import")

    # Dragging over the drop zone highlights it; dropping shows the file's name and size.
    page.dispatch_event("#dropzone", "dragenter")
    assert "dragover" in page.get_attribute("#dropzone", "class")
    screenshot("import-dragover")
    page.dispatch_event("#dropzone", "dragleave")
    assert "dragover" not in page.get_attribute("#dropzone", "class")
    drop_file(page, "#dropzone", export, XLSX)
    dropped = page.inner_text("#dropzone-file")
    assert "HR export.xlsx" in dropped
    assert re.search(r"\d+(\.\d)? KB", dropped), dropped
    assert "has-file" in page.get_attribute("#dropzone", "class")
    screen("import-file-chosen")
    page.click("#preview-button")

    # While the worker computes the preview, a progress bar shows a percentage.
    page.wait_for_selector(".progress-block progress")
    assert PERCENT.match(page.inner_text(".progress-block .percent").strip())
    screenshot("preview-progress")
    wait_for_finished_run(page)

    counts = page.inner_text(".counts")
    assert f"New\n{NEW_HIRES:,}" in counts  # Large numbers are grouped for reading.
    assert "Changed\n1" in counts
    assert "Deactivated\n0" in counts
    # New people are listed with the name the file gives them.
    first_new = page.locator(".change-table tbody tr", has_text="person0000@acme.example")
    assert "Person0000 Example" in first_new.inner_text()
    screen("preview")

    # One scroll for the page: the changes grow it (and page), no box scrolls inside it.
    table_box = page.locator(".changes .table-wrap")
    assert table_box.evaluate("box => box.scrollHeight <= box.clientHeight + 1")
    assert page.evaluate("() => document.documentElement.scrollHeight > window.innerHeight")

    # The Changed filter shows Ana's promotion, field by field: old → new.
    page.click(".filters a:has-text('Changed')")
    row = page.locator(".change-table tbody tr", has_text="ana.silva@acme.example")
    assert "Ana Silva" in row.inner_text()
    title = row.locator(".field-changes li", has_text="Title")
    assert title.locator("del.old").inner_text() == "Engineer"
    assert title.locator("ins.new").inner_text() == "Senior Engineer"
    screen("preview-changed")

    page.click("#import-button")
    # The import runs in the worker; the page says what it does (a busy bar until rows are
    # counted, then rows written: never a "0%" that stands still), then the result.
    page.wait_for_selector(".progress-block .progress-busy, .progress-block progress")
    progress_text = page.inner_text(".progress-block")
    assert f"Importing {NEW_HIRES + 1:,} changes" in progress_text
    assert "Starting" not in progress_text
    if page.locator(".progress-block .progress-busy").count():
        assert "0%" not in progress_text
    screenshot("import-progress")
    wait_for_finished_run(page)
    assert f"Imported {NEW_HIRES + 1:,} changes" in page.inner_text("#run-panel")
    assert User.objects.filter(organization=acme).count() == NEW_HIRES + 2
    ana.refresh_from_db()
    assert ana.title == "Senior Engineer"
    screen("applied-run")

    page.click("text=See History")
    page.wait_for_selector(".history-table")
    run = ImportRun.objects.get()
    row = page.locator(".history-table tbody tr", has_text=f"#{run.pk}")
    assert "HR export.xlsx" in row.inner_text()
    assert "Imported" in row.inner_text()
    screen("history")

    row.locator(f"a:has-text('#{run.pk}')").click()
    page.wait_for_url(f"**/import/runs/{run.pk}/")
    assert "Imported" in page.inner_text(".run-header")


def test_a_wrong_file_type_is_refused_before_upload(page, alice, fixture_path):
    log_in(page, alice.email)
    drop_file(page, "#dropzone", fixture_path("legacy.xls"), "application/vnd.ms-excel")
    message = page.inner_text("#dropzone-file")
    assert "not an .xlsx or .csv file" in message
    assert "save it as .xlsx" in message
    assert "invalid" in page.get_attribute("#dropzone", "class")
    assert page.eval_on_selector("#id_file", "input => input.files.length") == 0
    assert not ImportRun.objects.exists()


def test_the_file_chooser_opens_from_the_keyboard(page, alice, fixture_path):
    # Listening from the start makes Playwright intercept file choosers before the key press
    # (expect_file_chooser alone races with the dialog).
    page.on("filechooser", lambda chooser: None)
    log_in(page, alice.email)
    # Tab from the page's first control until the file input (behind "Choose a file") has focus.
    for _ in range(15):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.id") == "id_file":
            break
    assert page.evaluate("() => document.activeElement.id") == "id_file"
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Space")
    chooser.value.set_files(fixture_path("two_employees.xlsx"))
    assert "two_employees.xlsx" in page.inner_text("#dropzone-file")

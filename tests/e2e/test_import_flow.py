"""The core path in a real browser: log in, drop a spreadsheet, preview, import, History."""

import pytest

from tests.e2e.conftest import drop_file, log_in
from users.models import User

pytestmark = [pytest.mark.e2e, pytest.mark.worker]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_an_admin_drops_a_spreadsheet_previews_it_and_imports_it(
    worker, page, screenshot, alice, acme, fixture_path
):
    log_in(page, "alice@acme.example", "correct-horse-battery")
    screenshot("import-tab")

    drop_file(page, "#dropzone", fixture_path("two_employees.xlsx"), XLSX)
    assert "two_employees.xlsx" in page.inner_text("#dropzone-file")
    page.click("#preview-button")

    page.wait_for_selector("#import-button")
    counts = page.inner_text(".counts")
    assert "New\n2" in counts
    screenshot("preview")

    page.click("#import-button")
    page.wait_for_selector("text=Imported 2 changes")
    assert User.objects.filter(organization=acme).count() == 3
    screenshot("imported")

    page.click("text=See History")
    page.wait_for_selector(".history-table")
    assert "two_employees.xlsx" in page.inner_text(".history-table")
    screenshot("history")


def test_a_wrong_file_type_is_refused_before_upload(page, alice, fixture_path):
    log_in(page, "alice@acme.example", "correct-horse-battery")
    drop_file(page, "#dropzone", fixture_path("legacy.xls"), "application/vnd.ms-excel")
    message = page.inner_text("#dropzone-file")
    assert "not an .xlsx or .csv file" in message
    assert "save it as .xlsx" in message
    assert page.eval_on_selector("#id_file", "input => input.files.length") == 0

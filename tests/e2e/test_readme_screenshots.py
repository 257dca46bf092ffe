"""The demo company's first import in a real browser: the screens the README shows.

Each screen is checked like any other (accessibility, browser errors) and kept under
test-artifacts/screenshots/readme/. With ROSTERSYNC_README_SCREENSHOTS=1 the same pictures
are written to docs/screenshots/ for the README:

    ROSTERSYNC_README_SCREENSHOTS=1 make test PYTEST_ARGS=tests/e2e/test_readme_screenshots.py
"""

import io
import os
from pathlib import Path

import pytest
from django.core.management import call_command

from importer.management.commands.setup_demo import (
    ADMIN_EMAIL,
    DEMO_PASSWORD,
    write_sample_workbook,
)
from importer.models import ImportRun
from tests.e2e.conftest import ARTIFACTS, XLSX, drop_file, log_in, wait_for_finished_run

pytestmark = [pytest.mark.e2e, pytest.mark.worker]
DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def keep(page, screen):
    """Return keep(name): check the screen, and save what a laptop window shows of it."""
    folders = [ARTIFACTS / "readme"]
    if os.environ.get("ROSTERSYNC_README_SCREENSHOTS") == "1":
        folders.append(DOCS)
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)

    def take(name: str) -> None:
        screen(f"readme-{name}")
        page.evaluate("() => window.scrollTo(0, 0)")
        for folder in folders:
            page.screenshot(path=str(folder / f"{name}.png"))

    return take


def test_the_demo_admin_previews_and_imports_the_sample_file(worker, page, keep, tmp_path):
    call_command("setup_demo", stdout=io.StringIO())
    sample = tmp_path / "acme-employees.xlsx"
    write_sample_workbook(sample)
    log_in(page, ADMIN_EMAIL, DEMO_PASSWORD)
    keep("import")

    drop_file(page, "#dropzone", sample, XLSX)
    page.click("#preview-button")
    wait_for_finished_run(page)
    counts = page.inner_text(".counts")
    for count in ("New\n3", "Changed\n4", "Deactivated\n1", "Reactivated\n1", "Errors\n0"):
        assert count in counts
    page.click(".filters a:has-text('Changed')")
    assert page.locator(".change-table tbody tr").count() == 4
    page.click(".filters a:has-text('All')")
    keep("preview")

    page.click("#import-button")
    wait_for_finished_run(page)
    assert "Imported 9 changes" in page.inner_text("#run-panel")

    # A second file, pasted with mistakes, so that History shows a run with errors too.
    page.goto("/import/")
    page.click(".paste summary")
    page.fill("#id_text", (tmp_path / "acme-with-errors.csv").read_text())
    page.click("#preview-button")
    wait_for_finished_run(page)
    assert ImportRun.objects.filter(status=ImportRun.Status.INVALID).count() == 1

    page.click(".tabs >> text=History")
    page.wait_for_selector(".history-table")
    keep("history")
    page.click(".tabs >> text=Configuration")
    page.wait_for_selector(".options-form")
    keep("configuration")

    # The pasted file's errors, fixed in place: the editing screen, one cell already corrected.
    invalid = ImportRun.objects.get(status=ImportRun.Status.INVALID)
    page.goto(f"/import/runs/{invalid.pk}/")
    page.click("#fix-in-browser")
    page.wait_for_selector("#fix-form")
    page.fill("#cell-4-3", "ana.silva@acme.example")
    page.check("input[name=drop-5]")
    keep("fix-in-browser")


def test_the_demo_admin_matches_the_columns_of_a_directory_export(worker, page, keep, tmp_path):
    call_command("setup_demo", stdout=io.StringIO())
    log_in(page, ADMIN_EMAIL, DEMO_PASSWORD)
    page.goto("/import/")
    page.click(".paste summary")
    page.fill(
        "#id_text",
        "Work Mail,Given Name,Surname,Cost Centre,Deparment\n"
        "dana.lee@acme.example,Dana,Lee,CC-100,Sales\n"
        "omar.haddad@acme.example,Omar,Haddad,CC-200,Engineering\n",
    )
    page.click("#preview-button")
    wait_for_finished_run(page)
    assert page.locator("#column-matching").is_visible()
    keep("column-matching")

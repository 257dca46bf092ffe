"""A rejected file fixed in place in a real browser: one cell edited, one row dropped, the
corrected file previewed and imported, the correction told on the run page and in History,
and both files downloadable."""

import pytest

from importer.models import ImportRun
from tests.e2e.conftest import (
    accessibility_problems,
    drop_file,
    log_in,
    wait_for_finished_run,
)
from users.models import User

pytestmark = [pytest.mark.e2e, pytest.mark.worker]
PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1280, "height": 800}


def write_rejected_file(path, alice) -> bytes:
    """Write an export with an address that is not one (row 4) and a repeated ID (row 5)."""
    data = (
        "Email,First Name,Last Name,Employee ID,Department\n"
        f"{alice.email},{alice.first_name},{alice.last_name},,People\n"
        "ana@acme.example,Ana,Silva,1001,Engineering\n"
        "bo.acme.example,Bo,Berg,1002,Sales\n"
        "cy@acme.example,Cy,Costa,1001,Sales\n"
    ).encode()
    path.write_bytes(data)
    return data


def sideways_scroll(page) -> int:
    return page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )


def test_an_admin_fixes_a_rejected_file_in_place_and_imports_it(
    worker, page, screen, alice, acme, tmp_path
):
    export = tmp_path / "HR export.csv"
    original = write_rejected_file(export, alice)
    log_in(page, alice.email)
    drop_file(page, "#dropzone", export, "text/csv")
    page.click("#preview-button")
    wait_for_finished_run(page)
    assert "Has errors" in page.inner_text(".run-header")
    rejected = ImportRun.objects.get()

    page.click("#fix-in-browser")
    page.wait_for_selector("#fix-form")
    assert page.locator(".fix-row").count() == 2
    assert page.input_value("#cell-4-0") == "bo.acme.example"
    screen("fix-errors")
    page.set_viewport_size(PHONE)
    assert sideways_scroll(page) <= 0, "the editing screen scrolls sideways at 390 px"
    problems = accessibility_problems(page)
    assert not problems, "\n".join(problems)
    screen("fix-errors-390")
    page.set_viewport_size(LAPTOP)

    page.fill("#cell-4-0", "bo@acme.example")
    page.check("input[name=drop-5]")
    page.click("#preview-corrected-button")
    page.wait_for_url(f"**/import/runs/{rejected.pk + 1}/")
    wait_for_finished_run(page)
    assert "Ready to import" in page.inner_text(".run-header")
    note = page.inner_text("#correction-note")
    assert f"1 cell corrected and 1 row dropped in the browser by {alice.get_full_name()}" in note
    assert f"import #{rejected.pk}" in note
    screen("fix-corrected-preview")

    with page.expect_download() as corrected_download:
        page.click("#download-corrected")
    corrected_text = corrected_download.value.path().read_text(encoding="utf-8-sig")
    assert "bo@acme.example,Bo,Berg,1002,Sales" in corrected_text
    assert "cy@acme.example" not in corrected_text
    with page.expect_download() as original_download:
        page.click("#download-original")
    assert original_download.value.path().read_bytes() == original

    page.click("#import-button")
    wait_for_finished_run(page)
    assert "Imported 3 changes" in page.inner_text("#run-panel")  # Ana, Bo, Alice's department.
    assert ImportRun.objects.get(corrects=rejected).status == ImportRun.Status.APPLIED
    emails = set(User.objects.filter(organization=acme).values_list("email", flat=True))
    assert {"ana@acme.example", "bo@acme.example"} <= emails
    assert "cy@acme.example" not in emails

    page.click(".tabs >> text=History")
    page.wait_for_selector(".history-table")
    assert "1 cell corrected and 1 row dropped in the browser" in page.inner_text(
        ".history-correction"
    )
    screen("fix-history")

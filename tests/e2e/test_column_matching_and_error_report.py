"""The column matching step and the error report, in a real browser as an admin uses them."""

import io
from pathlib import Path

import pytest
from openpyxl import load_workbook

from importer.models import ImportConfig, ImportConfigChange, ImportRun
from importer.pipeline.headers import IGNORED
from tests.e2e.conftest import drop_file, log_in, wait_for_finished_run

pytestmark = [pytest.mark.e2e, pytest.mark.worker]

UNKNOWN_HEADERS = (
    "Mail Addr,Vorname,Deparment,Cost center\n"
    "ana@acme.example,Ana,Sales,K1\n"
    "ben@acme.example,Ben,IT,K2\n"
)


def no_sideways_scroll(page) -> int:
    return page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )


def look_at_both_widths(page, screen, name: str) -> None:
    """Check a screen at 1280 px and at 390 px: accessible, and nothing scrolls sideways."""
    screen(name)
    assert no_sideways_scroll(page) <= 0
    page.set_viewport_size({"width": 390, "height": 844})
    screen(f"{name}-390")
    assert no_sideways_scroll(page) <= 0, f"{name} scrolls sideways at 390px"
    page.set_viewport_size({"width": 1280, "height": 800})


def upload(page, path) -> None:
    page.goto("/import/")
    drop_file(page, "#dropzone", path, "text/csv")
    page.click("#preview-button")
    page.wait_for_url("**/import/runs/*/")
    wait_for_finished_run(page)


def test_a_file_with_unknown_headers_is_matched_saved_and_the_next_upload_skips_the_step(
    worker, page, screen, browser_errors, alice, acme, tmp_path
):
    path = tmp_path / "hr export.csv"
    path.write_text(UNKNOWN_HEADERS, encoding="utf-8")
    log_in(page, alice.email)
    upload(page, path)

    step = page.locator("#column-matching")
    assert "Match the columns of your file" in step.inner_text()
    assert page.locator("#import-button").count() == 0  # The step comes before the preview.
    assert "ana@acme.example" in step.inner_text()  # Sample values of each column.
    assert "Required: Email" in step.inner_text()
    # Each select is named by its column's header, as a screen reader announces it.
    assert page.get_by_label("Mail Addr").input_value() == "email"  # Its values are addresses.
    assert page.get_by_label("Deparment").input_value() == "department"  # A close spelling.
    assert page.get_by_label("Cost center").input_value() == IGNORED
    look_at_both_widths(page, screen, "column-matching")

    # By keyboard: the first column to "Ignore", which leaves no email: refused, with why.
    page.get_by_label("Mail Addr").focus()
    page.keyboard.press("Home")
    page.locator("#confirm-columns").focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("#columns-errors")
    assert "it is required" in page.inner_text("#columns-errors")
    # The refusal is answered 400, which the browser reports; nothing else went wrong.
    assert [error for error in browser_errors if "400 (Bad Request)" not in error] == []
    browser_errors.clear()
    screen("column-matching-refused")

    page.get_by_label("Mail Addr").select_option("email")
    page.locator("#confirm-columns").focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/import/runs/*/")
    wait_for_finished_run(page)
    assert "Ready to import" in page.inner_text(".run-header")
    assert "New\n2" in page.inner_text(".counts")
    assert ImportConfig.objects.get(organization=acme).column_mapping == {
        "Mail Addr": "email",
        "Deparment": "department",
        "Cost center": IGNORED,
    }
    assert ImportConfigChange.objects.filter(organization=acme).count() == 1

    page.goto("/import/configuration/")
    assert "“Mail Addr” → Email" in page.inner_text(".config-log")

    upload(page, path)  # The same headers again: straight to the preview.
    assert page.locator("#column-matching").count() == 0
    assert page.locator("#import-button").is_visible()
    assert ImportRun.objects.order_by("-pk").first().status == ImportRun.Status.READY


def test_the_error_report_is_downloaded_with_the_offending_cells_marked(
    worker, page, screen, alice, acme
):
    log_in(page, alice.email)
    page.goto("/import/")
    page.click(".paste summary")
    page.fill(
        "#id_text",
        "Email,First name,Hire date\n"
        "ana@acme.example,Ana,2024-01-02\n"
        "jane.roe(at)acme.example,Jane,2024-01-03\n"
        "ben@acme.example,=cmd,31.02.2024\n",
    )
    page.click("#preview-button")
    page.wait_for_url("**/import/runs/*/")
    wait_for_finished_run(page)
    assert "Has errors" in page.inner_text(".run-header")
    look_at_both_widths(page, screen, "error-report-links")

    with page.expect_download() as download_info:
        page.click("#error-report-xlsx")
    download = download_info.value
    assert download.suggested_filename.endswith("-errors.xlsx")
    workbook = load_workbook(io.BytesIO(Path(download.path()).read_bytes()))
    sheet = workbook["Your file"]
    email, date = sheet["A3"], sheet["C4"]
    assert email.value == "jane.roe(at)acme.example"
    assert email.fill.fgColor.rgb == "FFFFC7CE"
    assert "not an email address" in email.comment.text
    assert date.fill.fgColor.rgb == "FFFFC7CE"
    assert "not a real date" in date.comment.text
    assert sheet["B2"].comment is None
    assert sheet["B4"].data_type == "s"  # "=cmd" stays text: no formula runs.
    listing = [[cell.value for cell in row] for row in workbook["Errors"].iter_rows()]
    assert listing[0] == ["Row", "Column", "Value", "Problem", "Code"]
    assert [(row[0], row[1], row[4]) for row in listing[1:]] == [
        (3, "Email", "invalid_email"),
        (4, "Hire date", "invalid_date"),
    ]

    with page.expect_download() as download_info:
        page.click("#error-report-csv")
    text = Path(download_info.value.path()).read_text(encoding="utf-8-sig")
    assert text.splitlines()[0] == "Row,Column,Value,Problem,Code"
    assert "jane.roe(at)acme.example" in text

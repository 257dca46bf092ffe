"""Custom attributes in a real browser: define them on Configuration, import a file that fills
them, read their changes by name in the preview, History and a person's timeline, delete one."""

import pytest

from importer.models import ImportRun
from tests.e2e.conftest import drop_file, log_in, wait_for_finished_run
from tests.factories import UserFactory
from users.models import CustomAttribute, User

pytestmark = [pytest.mark.e2e, pytest.mark.worker]


def add_attribute(page, name, type_label, *, choices="", column_names=""):
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label(type_label, exact=True).check()
    page.get_by_label("Choices (for “One of a list”)").fill(choices)
    page.get_by_label("Other column names (optional)").fill(column_names)
    page.click("#add-attribute")


def define_attributes(page, screen_at_both_widths, browser_errors):
    page.goto("/import/configuration/")
    page.get_by_role("link", name="Custom attributes").click()
    page.wait_for_url("**/configuration/attributes/")
    assert "No custom attributes yet." in page.inner_text("main")
    screen_at_both_widths("custom-attributes-empty")

    add_attribute(page, "Cost centre", "Text", column_names="KST")
    assert "“Cost centre” is added." in page.inner_text("main")
    # A second "cost centre" is refused, saying why, and the form keeps what was typed.
    add_attribute(page, "cost centre", "Number")
    error = page.locator(".field-error").first
    assert "“cost centre” is already the attribute “Cost centre”." in error.inner_text()
    assert page.get_by_label("Name", exact=True).input_value() == "cost centre"
    # The refusal is a 400, which the browser reports; nothing else may be.
    assert [error for error in browser_errors if "400 (Bad Request)" not in error] == []
    browser_errors.clear()
    screen_at_both_widths("custom-attributes-refused")

    add_attribute(page, "FTE", "Number")
    add_attribute(
        page, "Employment type", "One of a list", choices="Full-time\nPart-time\nContractor"
    )
    table = page.inner_text(".attributes-table")
    assert "Cost centre" in table and "“KST”" in table
    assert "FTE" in table and "Number" in table
    assert "One of a list: Full-time, Part-time, Contractor" in table
    # The change log on the same page records each of them.
    assert page.locator(".config-log tbody tr").count() == 3
    screen_at_both_widths("custom-attributes")


def test_an_admin_defines_attributes_imports_them_and_reads_them_by_name(
    worker, page, screen_at_both_widths, browser_errors, alice, acme, tmp_path
):
    ben = UserFactory(
        organization=acme,
        email="ben@acme.example",
        first_name="Ben",
        last_name="Okafor",
        attributes={"cost_centre": "4000"},
    )
    log_in(page, alice.email)
    define_attributes(page, screen_at_both_widths, browser_errors)
    assert list(CustomAttribute.objects.filter(organization=acme).values_list("key", "type")) == [
        ("cost_centre", "text"),
        ("fte", "number"),
        ("employment_type", "choice"),
    ]

    # The file names the cost centre by its other column name, "KST".
    path = tmp_path / "hr.csv"
    path.write_text(
        "Email,First name,Last name,KST,FTE,Employment type\n"
        f"{alice.email},Alice,Admin,,,\n"
        "ben@acme.example,Ben,Okafor,4100,0.80,part-time\n"
        "nia@acme.example,Nia,Ito,4200,1,Full-time\n",
        encoding="utf-8",
    )
    page.goto("/import/")
    drop_file(page, "#dropzone", path, "text/csv")
    page.click("#preview-button")
    page.wait_for_url("**/import/runs/*/")
    wait_for_finished_run(page)

    changes = page.inner_text(".change-table")
    assert "Cost centre" in changes and "4000" in changes and "4100" in changes
    assert "FTE" in changes and "0.8" in changes
    assert "Employment type" in changes and "Part-time" in changes
    assert "attr_" not in page.content()
    screen_at_both_widths("custom-attributes-preview")

    page.click("#import-button")
    wait_for_finished_run(page)
    run = ImportRun.objects.get()
    assert run.status == ImportRun.Status.APPLIED
    ben.refresh_from_db()
    assert ben.attributes == {
        "cost_centre": "4100",
        "fte": "0.8",
        "employment_type": "Part-time",
    }
    assert User.objects.get(email="nia@acme.example").attributes == {
        "cost_centre": "4200",
        "fte": "1",
        "employment_type": "Full-time",
    }

    page.goto("/import/history/")
    summary = page.inner_text("main")
    assert "Cost centre ×1" in summary and "Employment type ×1" in summary
    screen_at_both_widths("custom-attributes-history")

    page.goto(f"/import/history/people/{ben.pk}/")
    timeline = page.inner_text("main")
    assert "Cost centre" in timeline and "4100" in timeline
    assert "Employment type" in timeline and "Part-time" in timeline
    values = page.inner_text(".person-attributes")
    assert "Cost centre\n4100" in values and "FTE\n0.8" in values
    screen_at_both_widths("custom-attributes-timeline")

    # Deleting FTE: the confirmation counts the people who have a value, then removes them.
    page.goto("/import/configuration/attributes/")
    page.get_by_role("link", name="Delete FTE").click()
    warning = page.inner_text("#delete-attribute-warning")
    assert "2 people have a value" in warning
    screen_at_both_widths("custom-attributes-delete")
    page.click("#confirm-delete-attribute")
    page.wait_for_url("**/configuration/attributes/")
    assert "“FTE” is deleted, with the values of 2 people." in page.inner_text("main")
    ben.refresh_from_db()
    assert ben.attributes == {"cost_centre": "4100", "employment_type": "Part-time"}
    # The run still shows its FTE changes, by the name it had.
    page.goto(f"/import/runs/{run.pk}/")
    assert "FTE" in page.inner_text(".change-table")

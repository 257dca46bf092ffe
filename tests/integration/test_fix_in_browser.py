"""Fixing a file's errors in the browser: cells edited and rows dropped, the corrected file kept
beside the original, previewed and imported like any file."""

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from openpyxl import Workbook

from importer import runs
from importer.models import AuditEvent, ImportRun
from tests.acting import act_for
from tests.conftest import preview_text
from tests.factories import SupportFactory
from users.models import User

# Row 3 has an address that is not one; row 4 repeats Ana's employee ID.
WITH_ERRORS = (
    "Email,First Name,Last Name,Employee ID\n"
    "ana@acme.example,Ana,Silva,1001\n"
    "bo.acme.example,Bo,Berg,1002\n"
    "cy@acme.example,Cy,Costa,1001\n"
    "dee@acme.example,Dee,Dias,1004\n"
)


@pytest.fixture
def invalid_run(acme, alice):
    run = preview_text(acme, alice, WITH_ERRORS)
    assert run.status == ImportRun.Status.INVALID
    assert {error["row"] for error in run.errors} >= {3, 4}
    return run


def fix_url(run, page=None):
    url = reverse("importer:run-fix", args=[run.pk])
    return f"{url}?page={page}" if page else url


def post_fix(client, run, data, page=None):
    return client.post(fix_url(run, page), data)


def corrected_run_of(run) -> ImportRun:
    return ImportRun.objects.get(corrects=run)


def read_input(run) -> bytes:
    with run.input_file.open("rb") as handle:
        return handle.read()


def test_the_fix_screen_shows_each_row_with_errors_and_its_cells(alice_client, invalid_run):
    html = alice_client.get(fix_url(invalid_run)).content.decode()

    assert 'id="fix-row-3"' in html and 'id="fix-row-4"' in html
    assert 'id="fix-row-2"' not in html  # A row without errors is not shown.
    assert 'name="cell-3-0" value="bo.acme.example"' in html
    assert 'name="drop-4"' in html


def test_a_corrected_file_is_a_new_run_and_the_original_is_kept(alice_client, alice, invalid_run):
    original_bytes = read_input(invalid_run)
    original_name = invalid_run.input_file.name

    response = post_fix(alice_client, invalid_run, {"cell-3-0": "bo@acme.example", "drop-4": "1"})

    corrected = corrected_run_of(invalid_run)
    assert response.status_code == 302
    assert response.url == reverse("importer:run-detail", args=[corrected.pk])
    invalid_run.refresh_from_db()
    assert invalid_run.status == ImportRun.Status.INVALID
    assert invalid_run.input_file.name == original_name
    assert read_input(invalid_run) == original_bytes
    assert corrected.input_file.name != original_name
    assert (corrected.corrected_cells, corrected.dropped_rows) == (1, 1)
    assert corrected.created_by == alice
    assert corrected.input_name == "people (corrected).csv"
    text = read_input(corrected).decode("utf-8-sig")
    assert "bo@acme.example,Bo,Berg,1002" in text
    assert "cy@acme.example" not in text
    assert text.splitlines()[4] == "dee@acme.example,Dee,Dias,1004"  # Dee is still row 5.
    event = AuditEvent.objects.get(kind=AuditEvent.Kind.INPUT_CORRECTED)
    assert (event.run, event.acting_user) == (corrected, alice)
    assert event.data == {"corrects": invalid_run.pk, "cells": 1, "rows_dropped": 1}


def test_the_preview_and_the_import_read_the_corrected_file(alice_client, acme, invalid_run):
    post_fix(alice_client, invalid_run, {"cell-3-0": "bo@acme.example", "drop-4": "1"})
    corrected = corrected_run_of(invalid_run)
    assert corrected.status == ImportRun.Status.QUEUED

    runs.preview_run(corrected.pk)
    corrected.refresh_from_db()
    assert corrected.status == ImportRun.Status.READY, corrected.issues
    assert (corrected.row_count, corrected.new_count, corrected.error_count) == (3, 3, 0)

    runs.request_apply(corrected, acting_user=acme.users.get(email="alice@acme.example"))
    runs.apply_run(corrected.pk)
    corrected.refresh_from_db()
    assert corrected.status == ImportRun.Status.APPLIED
    emails = set(User.objects.filter(organization=acme).values_list("email", flat=True))
    assert {"ana@acme.example", "bo@acme.example", "dee@acme.example"} <= emails
    assert "cy@acme.example" not in emails


def test_the_run_page_and_history_say_who_corrected_how_many_cells(alice_client, invalid_run):
    post_fix(
        alice_client,
        invalid_run,
        {"cell-3-0": "bo@acme.example", "cell-4-3": "1003", "cell-4-1": "Cyd"},
    )
    corrected = corrected_run_of(invalid_run)
    runs.preview_run(corrected.pk)

    page = alice_client.get(reverse("importer:run-detail", args=[corrected.pk])).content.decode()
    assert "3 cells corrected in the browser by Alice" in page
    assert reverse("importer:run-input", args=[corrected.pk]) in page
    assert reverse("importer:run-input", args=[invalid_run.pk]) in page
    history = alice_client.get(reverse("importer:history")).content.decode()
    assert "3 cells corrected in the browser by Alice" in history

    original = alice_client.get(reverse("importer:run-input", args=[invalid_run.pk]))
    assert b"".join(original.streaming_content) == WITH_ERRORS.encode()
    fixed = alice_client.get(reverse("importer:run-input", args=[corrected.pk]))
    assert b"bo@acme.example" in b"".join(fixed.streaming_content)


def test_a_value_typed_as_it_was_is_no_correction(alice_client, invalid_run):
    response = post_fix(alice_client, invalid_run, {"cell-3-0": "bo.acme.example"})

    assert response.status_code == 200
    assert "Nothing was changed" in response.content.decode()
    assert not ImportRun.objects.filter(corrects=invalid_run).exists()


def test_a_corrected_file_still_with_errors_is_invalid_with_the_same_checks(
    alice_client, invalid_run
):
    post_fix(alice_client, invalid_run, {"cell-3-0": "bo@acme.example"})
    corrected = corrected_run_of(invalid_run)
    runs.preview_run(corrected.pk)
    corrected.refresh_from_db()

    assert corrected.status == ImportRun.Status.INVALID
    assert [(error["row"], error["code"]) for error in corrected.errors] == [
        (row, code) for row, code in ((e["row"], e["code"]) for e in invalid_run.errors) if row == 4
    ]


def test_a_run_is_corrected_once(alice_client, invalid_run):
    post_fix(alice_client, invalid_run, {"drop-3": "1", "drop-4": "1"})
    response = post_fix(alice_client, invalid_run, {"drop-3": "1"})

    assert ImportRun.objects.filter(corrects=invalid_run).count() == 1
    assert response.status_code == 302  # Back to the run page, which links the corrected one.
    page = alice_client.get(reverse("importer:run-detail", args=[invalid_run.pk])).content.decode()
    assert f"See the corrected file (import #{corrected_run_of(invalid_run).pk})" in page


@pytest.mark.parametrize(
    "status", [ImportRun.Status.STALE, ImportRun.Status.APPLIED, ImportRun.Status.READY]
)
def test_a_run_without_errors_to_fix_cannot_be_corrected(alice_client, alice, invalid_run, status):
    ImportRun.objects.filter(pk=invalid_run.pk).update(status=status)
    invalid_run.refresh_from_db()

    response = post_fix(alice_client, invalid_run, {"cell-3-0": "bo@acme.example"})

    assert response.status_code == 302
    assert response.url == reverse("importer:run-detail", args=[invalid_run.pk])
    assert not ImportRun.objects.filter(corrects=invalid_run).exists()
    with pytest.raises(runs.CorrectionRefused):
        runs.create_corrected_run(invalid_run, acting_user=alice, cells=[], dropped=[3])
    page = alice_client.get(reverse("importer:run-detail", args=[invalid_run.pk])).content.decode()
    assert 'id="fix-in-browser"' not in page


def test_an_invalid_run_offers_the_fix_screen(alice_client, invalid_run):
    page = alice_client.get(reverse("importer:run-detail", args=[invalid_run.pk])).content.decode()
    assert fix_url(invalid_run) in page
    assert "fix them in the browser, or in the file, then upload it again" in page


def test_another_company_can_neither_see_nor_correct_the_run(client, charlie, invalid_run):
    client.force_login(charlie)

    assert client.get(fix_url(invalid_run)).status_code == 404
    assert post_fix(client, invalid_run, {"drop-3": "1"}).status_code == 404
    assert not ImportRun.objects.filter(corrects=invalid_run).exists()


def test_the_correction_needs_a_csrf_token(alice, invalid_run):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)

    response = post_fix(client, invalid_run, {"drop-3": "1"})

    assert response.status_code == 403
    assert not ImportRun.objects.filter(corrects=invalid_run).exists()


def test_thousands_of_errors_are_fixed_a_page_at_a_time(alice_client, acme, alice):
    rows = "".join(f"person{number}.acme.example,P{number}\n" for number in range(3000))
    run = preview_text(acme, alice, "Email,First Name\n" + rows)
    assert run.error_count == 3000

    html = alice_client.get(fix_url(run, page=40)).content.decode()
    # 25 rows a page: page 40 holds rows 977 to 1001 (the data starts on row 2).
    assert 'id="fix-row-977"' in html and 'id="fix-row-1001"' in html
    assert 'id="fix-row-976"' not in html and 'id="fix-row-1002"' not in html
    # A preview lists the first 1,000 errors: the screen pages through their rows, and says so.
    assert "Rows 976–1000 of 1,000 rows with errors" in html
    assert "more errors than a preview lists (3,000 in all)" in html

    # A row of another page in the form is not this page's to change.
    post_fix(
        alice_client, run, {"cell-977-0": "person975@acme.example", "cell-2-0": "x@a.b"}, page=40
    )
    corrected = corrected_run_of(run)
    assert corrected.corrected_cells == 1
    runs.preview_run(corrected.pk)
    corrected.refresh_from_db()
    assert corrected.error_count == 2999
    assert 977 not in {error["row"] for error in corrected.errors}


def write_workbook_with_an_error(path):
    """Write a workbook with a title row, a date cell and a bad address on row 4."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Acme staff, December"])
    sheet.append(["Email", "First Name", "Hire Date", "Employee ID"])
    sheet.append(["ana@acme.example", "Ana", dt.date(2021, 4, 1), 1001])
    sheet.append(["bo(at)acme.example", "Bo", dt.date(2022, 5, 2), 1002])
    sheet.cell(row=3, column=3).number_format = "yyyy-mm-dd"
    sheet.cell(row=4, column=3).number_format = "yyyy-mm-dd"
    workbook.save(path)
    return path.read_bytes()


def test_a_workbook_is_corrected_as_text_with_its_row_numbers(alice_client, acme, alice, tmp_path):
    data = write_workbook_with_an_error(tmp_path / "staff.xlsx")
    run = runs.create_run(
        organization=acme,
        data=data,
        name="staff.xlsx",
        source=ImportRun.Source.UPLOAD,
        acting_user=alice,
    )
    runs.preview_run(run.pk)
    run.refresh_from_db()
    assert [error["row"] for error in run.errors] == [4]

    html = alice_client.get(fix_url(run)).content.decode()
    assert 'name="cell-4-2" value="2022-05-02"' in html
    # The next page view and the submission read the workbook's CSV copy, to the same effect.
    assert (
        'name="cell-4-0" value="bo(at)acme.example"'
        in alice_client.get(fix_url(run)).content.decode()
    )
    post_fix(alice_client, run, {"cell-4-0": "bo@acme.example"})
    corrected = corrected_run_of(run)
    assert corrected.input_name == "staff (corrected).csv"
    runs.preview_run(corrected.pk)
    corrected.refresh_from_db()

    assert corrected.status == ImportRun.Status.READY, corrected.issues
    assert [change.row for change in corrected.changes.order_by("row")] == [3, 4]
    bo = corrected.changes.get(row=4)
    assert bo.fields["hire_date"][1] == "2022-05-02"
    assert bo.fields["employee_id"][1] == "1002"
    assert read_input(run) == data  # The workbook itself is kept as it was.


def test_a_run_whose_file_is_no_longer_stored_cannot_be_corrected(alice_client, invalid_run):
    invalid_run.input_file.storage.delete(invalid_run.input_file.name)

    response = alice_client.get(fix_url(invalid_run), follow=True)

    assert response.redirect_chain[-1][0] == reverse("importer:run-detail", args=[invalid_run.pk])
    assert "no longer stored" in response.content.decode()
    assert not ImportRun.objects.filter(corrects=invalid_run).exists()


def test_markup_in_a_cell_is_shown_as_text_on_the_fix_screen(alice_client, acme, alice):
    run = preview_text(acme, alice, 'Email,First Name\n"<script>x()</script>",<b>Bo</b>\n')

    html = alice_client.get(fix_url(run)).content.decode()

    assert 'value="&lt;script&gt;x()&lt;/script&gt;"' in html
    assert "<b>Bo</b>" not in html and "<script>x()" not in html


def test_support_staff_correcting_for_the_company_are_named_as_support(client, invalid_run):
    sam = SupportFactory(email="sam@rostersync.example", first_name="Sam", last_name="Support")
    client.force_login(sam)
    act_for(client, invalid_run.organization)

    post_fix(client, invalid_run, {"drop-3": "1"})

    corrected = corrected_run_of(invalid_run)
    assert corrected.created_by == sam
    page = client.get(reverse("importer:run-detail", args=[corrected.pk])).content.decode()
    assert "1 row dropped in the browser" in page
    assert "by support: Sam Support" in page
    event = AuditEvent.objects.get(kind=AuditEvent.Kind.INPUT_CORRECTED)
    assert event.acting_user == sam

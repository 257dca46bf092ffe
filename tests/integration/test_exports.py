"""Downloads: users in the import format (the round trip changes nothing), a run's changes, a
template."""

import csv
import datetime as dt
import io
import zipfile

import openpyxl
import pytest
from django.urls import reverse

from importer import runs
from importer.models import ImportRun
from importer.pipeline.parse import read_table
from tests.factories import UserFactory


def download(client, url) -> bytes:
    response = client.get(url)
    assert response.status_code == 200, response
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


def preview(organization, admin, data: bytes, name: str) -> ImportRun:
    run = runs.create_run(
        organization=organization,
        data=data,
        name=name,
        source=ImportRun.Source.UPLOAD,
        acting_user=admin,
    )
    runs.preview_run(run.pk)
    run.refresh_from_db()
    return run


@pytest.fixture
def people(acme, alice):
    """Acme with values a spreadsheet would run as formulas, zero-padded IDs, dates and managers."""
    alice.last_name = "Admin"
    alice.save()
    boss = UserFactory(
        organization=acme,
        email="boss@acme.example",
        title="-Lead-",
        employee_id="00042",
        hire_date=dt.date(2019, 4, 1),
    )
    UserFactory(
        organization=acme,
        email="-dash@acme.example",
        first_name="=1+1",
        last_name="@Home",
        department="+Sales",
        location="'-quoted",
        employee_id="-7",
        manager=boss,
    )
    UserFactory(
        organization=acme,
        email="plain@acme.example",
        first_name="O'Brien",
        manager=boss,
        hire_date=dt.date(2024, 2, 29),
    )
    gone = UserFactory(organization=acme, email="gone@acme.example", is_active=False)
    UserFactory(organization=acme, email="reports.to.gone@acme.example", manager=gone)
    return acme


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_importing_the_unedited_users_download_changes_nothing(people, alice, alice_client, fmt):
    data = download(alice_client, reverse("importer:users-export", args=[fmt]))

    run = preview(people, alice, data, f"users.{fmt}")

    assert run.status == ImportRun.Status.READY, run.issues
    assert run.error_count == 0 and run.warning_count == 0
    assert run.change_count == 0
    assert not run.changes.exists()  # Not even a skipped change.
    assert run.unchanged_count == 5  # Every active user; the inactive one is not in the file.


def test_the_users_download_is_in_the_import_format(people, alice_client):
    data = download(alice_client, reverse("importer:users-export", args=["csv"]))

    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))

    assert rows[0] == [
        "Email",
        "First name",
        "Last name",
        "Title",
        "Department",
        "Location",
        "Employee ID",
        "Hire date",
        "Manager email",
    ]
    by_email = {row[0]: row for row in rows[1:]}
    assert "gone@acme.example" not in by_email
    assert by_email["boss@acme.example"][3:8] == ["'-Lead-", "", "", "00042", "2019-04-01"]
    assert by_email["'-dash@acme.example"][1:9] == [
        "'=1+1",
        "'@Home",
        "",
        "'+Sales",
        "''-quoted",
        "'-7",
        "",
        "boss@acme.example",
    ]
    assert by_email["reports.to.gone@acme.example"][8] == ""  # An inactive manager is left out.


def test_the_xlsx_download_holds_no_formula_and_typed_cells(people, alice_client):
    data = download(alice_client, reverse("importer:users-export", args=["xlsx"]))

    assert b"<f>" not in zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml")
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    rows = {row[0].value: row for row in sheet.iter_rows(min_row=2)}
    assert rows["-dash@acme.example"][1].value == "=1+1"
    assert rows["-dash@acme.example"][1].data_type == "s"
    assert rows["boss@acme.example"][6].value == "00042"
    assert rows["boss@acme.example"][7].value == dt.datetime(2019, 4, 1)


def test_the_download_holds_only_the_admins_own_organization(people, client, charlie):
    client.force_login(charlie)

    data = download(client, reverse("importer:users-export", args=["csv"]))

    assert b"acme.example" not in data
    assert b"charlie@globex.example" in data


def test_the_template_has_the_headers_and_one_example_row(alice_client):
    for fmt in ("xlsx", "csv"):
        response = alice_client.get(reverse("importer:template-export", args=[fmt]))
        data = b"".join(response.streaming_content) if response.streaming else response.content
        assert f'filename="rostersync-import-template.{fmt}"' in response["Content-Disposition"]

        table = read_table(data)

        assert table.headers[:3] == ("Email", "First name", "Last name")
        assert len(table.rows) == 1
        assert table.rows[0].cells[0] == "jane.roe@example.com"


def test_an_unknown_download_format_is_not_found(alice_client):
    assert alice_client.get(reverse("importer:users-export", args=["pdf"])).status_code == 404


def test_a_runs_changes_download_lists_every_field_change(acme, alice, alice_client):
    UserFactory(
        organization=acme,
        email="ben@acme.example",
        first_name="Ben",
        last_name="Okafor",
        title="Engineer",
    )
    run = preview(
        acme,
        alice,
        b"Email,First name,Title\n"
        b"ben@acme.example,Ben,=cmd|' /C calc'!A0\n"
        b"new@acme.example,Nia,Intern\n",
        "people.csv",
    )

    data = download(alice_client, reverse("importer:run-changes-export", args=[run.pk, "csv"]))
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))

    assert rows[0] == [
        "Run",
        "Row",
        "Email",
        "Name",
        "Action",
        "Field",
        "Old value",
        "New value",
        "Note",
    ]
    run_id = str(run.pk)
    assert [
        run_id,
        "2",
        "ben@acme.example",
        "Ben Okafor",
        "Changed",
        "Title",
        "Engineer",
        "'=cmd|' /C calc'!A0",
        "",
    ] in rows
    assert [run_id, "3", "new@acme.example", "", "New", "First name", "", "Nia", ""] in rows
    workbook = download(alice_client, reverse("importer:run-changes-export", args=[run.pk, "xlsx"]))
    sheet = openpyxl.load_workbook(io.BytesIO(workbook)).active
    values = [[cell.value for cell in row] for row in sheet.iter_rows(min_row=2)]
    assert [
        run.pk,
        2,
        "ben@acme.example",
        "Ben Okafor",
        "Changed",
        "Title",
        "Engineer",
        "=cmd|' /C calc'!A0",
        None,
    ] in values


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_personal_data_downloads_are_kept_by_no_cache(acme, alice, alice_client, fmt):
    run = preview(acme, alice, b"Email,First name\nnia@acme.example,Nia\n", "people.csv")
    urls = [
        reverse("importer:users-export", args=[fmt]),
        reverse("importer:run-changes-export", args=[run.pk, fmt]),
        reverse("importer:run-input", args=[run.pk]),
        reverse("importer:run-errors-export", args=[run.pk, fmt]),
    ]
    for url in urls:
        response = alice_client.get(url)
        assert response.status_code == 200, url
        directives = {part.strip() for part in response["Cache-Control"].split(",")}
        assert {"no-store", "private"} <= directives, url

"""Stored text never runs: markup from a file is escaped on every page, formulas are neutralised
in every download.

The hostile values go through the real pipeline (upload, preview by a worker, Import, apply by a
worker), then every screen that shows them is read back, Django admin included.
"""

import csv
import io
import zipfile

import openpyxl
import pytest
from django.contrib import admin
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils.html import escape

from importer import tokens
from importer.history.exports import FORMULA_PREFIXES
from importer.models import ImportConfig, ImportConfigChange, ImportRun, RemoteCheck, RemoteSource
from importer.runs import events
from tests.conftest import wait_for_run
from tests.factories import OrganizationFactory, UserFactory
from tests.integration.test_tenant_isolation import all_routes
from users.models import User

MARKUP = {
    "first_name": "<script>alert(1)</script>",
    "last_name": '"><img src=x onerror=alert(1)>',
    "title": "<svg/onload=alert(1)>",
    "department": "</textarea><script>alert(3)</script>",
    "location": "<iframe src=javascript:alert(4)>",
}
FILE_NAME = "<img src=x onerror=alert(2)>.csv"
# The start of each hostile element: found raw in a page, the markup would run.
RAW_MARKUP = ("<script>alert", "<img src=x", "<svg/onload", "<iframe src=javascript")

FORMULAS = {
    "email": "=cmd@acme.example",
    "first_name": "=1+1",
    "last_name": "+SUM(A1:A2)",
    "title": "=cmd|' /C calc'!A0",
    "department": "@SUM(1,2)",
    "location": '=HYPERLINK("https://evil.example","click")',
    "employee_id": "-42",
    "manager_email": "-boss@acme.example",
}
HEADERS = {
    "email": "Email",
    "first_name": "First name",
    "last_name": "Last name",
    "title": "Title",
    "department": "Department",
    "location": "Location",
    "employee_id": "Employee ID",
    "manager_email": "Manager email",
}
EXPORT_ROUTES = [route.name for route in all_routes() if "fmt" in route.kwargs]
# The routes whose download is of a run (the others: of the organization, or a template).
RUN_EXPORT_ROUTES = {route.name for route in all_routes() if {"fmt", "pk"} <= set(route.kwargs)}


def csv_file(rows: list[dict]) -> bytes:
    fields = list(dict.fromkeys(name for row in rows for name in row))
    output = io.StringIO()
    writer = csv.writer(output, lineterminator="\n")
    writer.writerow([HEADERS[name] for name in fields])
    for row in rows:
        writer.writerow([row.get(name, "") for name in fields])
    return output.getvalue().encode()


def upload_and_preview(client, name: str, data: bytes) -> ImportRun:
    response = client.post(
        reverse("importer:create-preview"), {"file": SimpleUploadedFile(name, data)}
    )
    assert response.status_code == 302, response.content[:500]
    return wait_for_run(ImportRun.objects.latest("id"))


def import_run(client, run) -> ImportRun:
    client.post(reverse("importer:run-apply", args=[run.pk]))
    run = wait_for_run(run)
    assert run.status == ImportRun.Status.APPLIED, run.message
    return run


def page(client, url: str, **headers) -> str:
    response = client.get(url, headers=headers)
    assert response.status_code == 200, f"{url}: {response.status_code}"
    return response.content.decode()


def assert_escaped(html: str, where: str, shows=()) -> None:
    """Check that no hostile markup is in the page as markup, and that `shows` is, as text."""
    for raw in RAW_MARKUP:
        assert raw not in html, f"{where} holds {raw!r} unescaped"
    for value in shows:
        assert escape(value) in html, f"{where} does not show {value!r}"


def download(client, url: str, **headers) -> bytes:
    response = client.get(url, **headers)
    assert response.status_code == 200, url
    return b"".join(response.streaming_content) if response.streaming else response.content


def csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def xlsx_cells(data: bytes) -> list:
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    return [cell for row in sheet.iter_rows() for cell in row if cell.value is not None]


def export_urls(run) -> list[str]:
    """Return the URL of every download, in every format, found by walking the URLs."""
    urls = []
    for name in EXPORT_ROUTES:
        for fmt in ("csv", "xlsx"):
            kwargs = {
                "fmt": fmt,
                **({"pk": run.pk} if name in RUN_EXPORT_ROUTES else {}),
            }
            urls.append(reverse(name, kwargs=kwargs))
    return urls


# --- markup from a file -----------------------------------------------------------------------


@pytest.mark.worker
def test_markup_imported_from_a_file_is_shown_as_text_everywhere(worker, alice_client, acme, bob):
    data = csv_file(
        [
            {"email": "xss@acme.example", **MARKUP},
            {"email": "bob@acme.example", "title": MARKUP["title"]},
            {"email": "alice@acme.example"},
        ]
    )
    run = upload_and_preview(alice_client, FILE_NAME, data)
    assert run.status == ImportRun.Status.READY, run.issues
    values = [*MARKUP.values(), FILE_NAME]

    preview = page(alice_client, reverse("importer:run-detail", args=[run.pk]))
    assert_escaped(preview, "the preview", shows=values)
    panel = page(alice_client, reverse("importer:run-panel", args=[run.pk]), HX_Request="true")
    assert_escaped(panel, "the preview panel", shows=values)

    run = import_run(alice_client, run)
    person = User.objects.get(email="xss@acme.example")
    assert {name: getattr(person, name) for name in MARKUP} == MARKUP  # Stored exactly.

    pages = {
        "the run page": (reverse("importer:run-detail", args=[run.pk]), values),
        "History": (reverse("importer:history"), [FILE_NAME]),
        "the person search": (
            reverse("importer:history-people") + "?q=xss",
            [MARKUP["first_name"]],
        ),
        "the timeline": (reverse("importer:person-timeline", args=[person.pk]), MARKUP.values()),
        "the people list": (reverse("importer:people") + "?q=xss", [MARKUP["department"]]),
    }
    for where, (url, shows) in pages.items():
        assert_escaped(page(alice_client, url), where, shows=shows)

    changes = csv_rows(
        download(alice_client, reverse("importer:run-changes-export", args=[run.pk, "csv"]))
    )
    assert {row[7] for row in changes} >= set(MARKUP.values())  # Exactly the text, not escaped.
    users = csv_rows(download(alice_client, reverse("importer:users-export", args=["csv"])))
    assert users[0][:6] == ["Email", "First name", "Last name", "Title", "Department", "Location"]
    xss_row = next(row for row in users if row[0] == "xss@acme.example")
    assert xss_row[1:6] == list(MARKUP.values())
    workbook = xlsx_cells(download(alice_client, reverse("importer:users-export", args=["xlsx"])))
    assert {cell.value for cell in workbook} >= set(MARKUP.values())


@pytest.mark.worker
def test_markup_in_a_rows_error_is_shown_as_text(worker, alice_client):
    bad_email = "<script>alert(1)</script>@acme.example"
    run = upload_and_preview(alice_client, "people.csv", csv_file([{"email": bad_email, **MARKUP}]))

    assert run.status == ImportRun.Status.INVALID
    assert [error["code"] for error in run.errors] == ["invalid_email"]
    html = page(alice_client, reverse("importer:run-detail", args=[run.pk]))
    assert_escaped(html, "the errors", shows=[bad_email])


@pytest.mark.worker
def test_markup_imported_from_a_file_is_escaped_in_django_admin(worker, client, alice, acme):
    alice_client = client
    alice_client.force_login(alice)
    run = import_run(
        alice_client,
        upload_and_preview(
            alice_client,
            FILE_NAME,
            csv_file([{"email": "xss@acme.example", **MARKUP}, {"email": "alice@acme.example"}]),
        ),
    )
    invalid = upload_and_preview(
        alice_client, FILE_NAME, csv_file([{"email": MARKUP["first_name"]}])
    )
    person = User.objects.get(email="xss@acme.example")
    staff = UserFactory(
        email="sam@rostersync.example", organization=None, is_staff=True, is_superuser=True
    )
    client.force_login(staff)

    pages = {
        "the user list": (
            reverse("admin:users_user_changelist") + "?q=xss",
            [MARKUP["first_name"]],
        ),
        "the user form": (reverse("admin:users_user_change", args=[person.pk]), MARKUP.values()),
        "the run list": (reverse("admin:importer_importrun_changelist"), []),
        "the applied run": (reverse("admin:importer_importrun_change", args=[run.pk]), [FILE_NAME]),
        "the invalid run": (
            reverse("admin:importer_importrun_change", args=[invalid.pk]),
            [FILE_NAME],
        ),
    }
    for where, (url, shows) in pages.items():
        assert_escaped(page(client, url), where, shows=shows)


# --- every admin page of the app's models -----------------------------------------------------


@pytest.fixture
def hostile_objects(db):
    """One object of every model in Django admin, each holding markup where it holds text."""
    organization = OrganizationFactory(name=MARKUP["first_name"], slug="hostile")
    admin_user = UserFactory(organization=organization, is_org_admin=True, **MARKUP)
    run = ImportRun.objects.create(
        organization=organization,
        source=ImportRun.Source.UPLOAD,
        created_by=admin_user,
        input_name=FILE_NAME,
        status=ImportRun.Status.INVALID,
        error_count=1,
        message=MARKUP["title"],
        safeguard_message=MARKUP["location"],
        issues=[
            {
                "row": 2,
                "column": "Email",
                "value": MARKUP["first_name"],
                "code": "invalid_email",
                "message": MARKUP["last_name"],
                "severity": "error",
            }
        ],
        policy={"column_mapping": {MARKUP["department"]: "department"}},
    )
    ImportConfig.objects.create(
        organization=organization, column_mapping={MARKUP["title"]: "title"}
    )
    ImportConfigChange.objects.create(
        organization=organization,
        changed_by=admin_user,
        changes={MARKUP["department"]: [MARKUP["title"], MARKUP["location"]]},
    )
    source = RemoteSource.objects.create(
        organization=organization,
        enabled=True,
        url="https://hr.example.com/<script>alert(1)</script>",
        username=MARKUP["last_name"],
        last_error=MARKUP["title"],
    )
    RemoteCheck.objects.create(source=source, message=MARKUP["location"])
    token, _secret = tokens.create_token(
        organization=organization,
        name=MARKUP["title"][:100],
        scopes=["imports:write"],
        expires_at=None,
        acting_user=admin_user,
    )
    ImportRun.objects.create(
        organization=organization, source=ImportRun.Source.API, api_token=token
    )
    events.options_changed_event(
        organization=organization,
        acting_user=admin_user,
        changes={MARKUP["department"]: [MARKUP["title"], MARKUP["location"]]},
    )
    return run


def admin_models():
    return [
        model for model in admin.site._registry if model._meta.app_label in ("importer", "users")
    ]


@pytest.mark.parametrize("model", admin_models(), ids=lambda model: model._meta.label)
def test_every_admin_page_of_the_apps_models_renders_and_escapes(client, hostile_objects, model):
    staff = UserFactory(
        email="sam@rostersync.example", organization=None, is_staff=True, is_superuser=True
    )
    client.force_login(staff)
    opts = model._meta
    prefix = f"admin:{opts.app_label}_{opts.model_name}"
    obj = model.objects.exclude(pk=staff.pk).first() if model is User else model.objects.first()
    assert obj is not None, f"hostile_objects makes no {opts.label}"
    model_admin = admin.site._registry[model]

    urls = [
        reverse(f"{prefix}_changelist"),
        reverse(f"{prefix}_changelist") + "?q=alert",
        reverse(f"{prefix}_add"),
        reverse(f"{prefix}_change", args=[obj.pk]),
        reverse(f"{prefix}_history", args=[obj.pk]),
        reverse(f"{prefix}_delete", args=[obj.pk]),
    ]
    for url in urls:
        response = client.get(url)
        # A read-only model refuses the add page (403); a model without search ignores ?q=.
        assert response.status_code in (200, 403), f"{url}: {response.status_code}"
        if url.endswith("/add/") and not model_admin.has_add_permission(response.wsgi_request):
            assert response.status_code == 403
            continue
        # The audit trail cannot be deleted, not even by a superuser.
        if url.endswith("/delete/") and not model_admin.has_delete_permission(
            response.wsgi_request
        ):
            assert response.status_code == 403
            continue
        assert response.status_code == 200, url
        html = response.content.decode()
        assert_escaped(html, url)
        if "/change/" in url:  # The object's text is on its page, as text.
            assert any(escape(value) in html for value in MARKUP.values()), url


# --- formulas ---------------------------------------------------------------------------------


def assert_no_cell_runs_as_a_formula(data: bytes, fmt: str, where: str) -> None:
    if fmt == "csv":
        for row in csv_rows(data):
            for cell in row:
                assert not cell.startswith(FORMULA_PREFIXES), f"{where}: {cell!r}"
        return
    archive = zipfile.ZipFile(io.BytesIO(data))
    for member in archive.namelist():
        if member.startswith("xl/worksheets/"):
            assert b"<f>" not in archive.read(member) and b"<f " not in archive.read(member), where
    for cell in xlsx_cells(data):
        if isinstance(cell.value, str) and cell.value.startswith(FORMULA_PREFIXES):
            assert cell.data_type == "s" and cell.quotePrefix, f"{where}: {cell.value!r}"


@pytest.mark.worker
def test_formula_values_are_stored_as_text_and_neutralised_in_every_download(
    worker, alice_client, acme
):
    boss = {"email": "-boss@acme.example", "first_name": "@Boss"}
    run = upload_and_preview(
        alice_client, "formulas.csv", csv_file([boss, FORMULAS, {"email": "alice@acme.example"}])
    )
    assert run.status == ImportRun.Status.READY, run.issues
    run = import_run(alice_client, run)

    person = User.objects.get(email=FORMULAS["email"])
    stored = {name: getattr(person, name) for name in FORMULAS if name != "manager_email"}
    assert stored == {name: value for name, value in FORMULAS.items() if name != "manager_email"}
    assert person.manager.email == "-boss@acme.example"

    assert {
        "importer:run-changes-export",
        "importer:users-export",
        "importer:template-export",
        "api:run-changes-export",
        "api:users-export",
    } <= set(EXPORT_ROUTES)
    _token, secret = tokens.create_token(
        organization=acme,
        name="Exports",
        scopes=["history:read", "users:read"],
        expires_at=None,
        acting_user=None,
    )
    for url in export_urls(run):
        fmt = url.rsplit(".", 1)[1]
        token = {"HTTP_AUTHORIZATION": f"Bearer {secret}"} if url.startswith("/api/") else {}
        data = download(alice_client, url, **token)
        assert_no_cell_runs_as_a_formula(data, fmt, url)
        if "template" in url or url.endswith("/errors.csv"):
            continue  # No values: an empty template, and the list of errors of a clean run.
        # The values are all there, as text: with an apostrophe in CSV, marked as text in .xlsx.
        if fmt == "csv":
            cells = {cell for row in csv_rows(data) for cell in row}
            assert {"'" + value for value in FORMULAS.values()} <= cells, url
        else:
            assert set(FORMULAS.values()) <= {cell.value for cell in xlsx_cells(data)}, url

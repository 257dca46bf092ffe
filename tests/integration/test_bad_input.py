"""Bad input, end to end: uploaded on the Import tab, previewed by a real worker.

Every quirk ends in a run with errors and the right code, nothing changes in the database, and
the run page says what is wrong and what to do.
"""

import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils.html import escape

from importer import runs
from importer.models import ImportChange, ImportRun
from importer.tasks import enqueue, preview_run_task
from tests.conftest import FIXTURES, wait_for_run
from users.models import User

pytestmark = pytest.mark.worker

# Seconds a worker may take to refuse any of these files: none is read in full.
REFUSAL_SECONDS = 20


def fixture(name: str):
    return lambda: (FIXTURES / name).read_bytes()


MILLION_COMMAS = b"," * 1_000_000

# (file name as uploaded, its bytes, the error code, the row of the error: None for the whole file)
BAD_FILES = {
    "zip bomb": ("zip_bomb.xlsx", fixture("zip_bomb.xlsx"), "file_too_large", None),
    "compression ratio bomb": (
        "ratio_bomb.xlsx",
        fixture("ratio_bomb.xlsx"),
        "file_too_large",
        None,
    ),
    "external entity (XXE)": ("xxe.xlsx", fixture("xxe.xlsx"), "unsafe_xml", None),
    "DOCTYPE after 100 KB": (
        "xxe_late_doctype.xlsx",
        fixture("xxe_late_doctype.xlsx"),
        "unsafe_xml",
        None,
    ),
    "billion laughs": ("billion_laughs.xlsx", fixture("billion_laughs.xlsx"), "unsafe_xml", None),
    "external DTD": ("external_dtd.xlsx", fixture("external_dtd.xlsx"), "unsafe_xml", None),
    "binary renamed .xlsx": (
        "binary_renamed.xlsx",
        fixture("binary_renamed.xlsx"),
        "unreadable_file",
        None,
    ),
    "legacy .xls": ("legacy.xls", fixture("legacy.xls"), "unsupported_format", None),
    "password-protected": ("password.xlsx", fixture("password.xlsx"), "unreadable_file", None),
    "HTML page saved as .xlsx": (
        "html_page.xlsx",
        fixture("html_page.xlsx"),
        "unsupported_format",
        None,
    ),
    "truncated workbook": ("corrupt.xlsx", fixture("corrupt.xlsx"), "unreadable_file", None),
    "zipped CSV": ("zipped_csv.xlsx", fixture("zipped_csv.xlsx"), "unreadable_file", None),
    "OpenDocument": ("calc.ods", fixture("calc.ods"), "unsupported_format", None),
    "workbook with a header only": (
        "header_only.xlsx",
        fixture("header_only.xlsx"),
        "empty_file",
        None,
    ),
    "workbook with an empty sheet": (
        "empty_sheet.xlsx",
        fixture("empty_sheet.xlsx"),
        "empty_file",
        None,
    ),
    "header of 1,000,000 columns": (
        "wide.csv",
        lambda: b"email,first_name" + MILLION_COMMAS + b"x\nana@acme.example,Ana\n",
        "file_too_large",
        None,
    ),
    "row of 1,000,000 columns": (
        "wide-row.csv",
        lambda: b"email,first_name\nana@acme.example,Ana" + MILLION_COMMAS + b"x\n",
        "ragged_row",
        2,
    ),
    "1 MB cell": (
        "big-cell.csv",
        lambda: b"email,first_name\nana@acme.example," + b"A" * 1024 * 1024 + b"\n",
        "value_too_long",
        2,
    ),
    "NUL bytes": (
        "nul.csv",
        lambda: b"email,first_name\nana@acme.example,An\x00a\n",
        "unreadable_file",
        None,
    ),
    "CSV with a header only": ("header.csv", lambda: b"email,first_name\r\n", "empty_file", None),
    "CSV of blank lines": ("blank.csv", lambda: b"\r\n \r\n\t\r\n", "empty_file", None),
    "no email column": (
        "names.csv",
        lambda: b"first_name,last_name\nAna,Silva\n",
        "missing_column",
        None,
    ),
}


def database_state(organization) -> list:
    return list(User.objects.filter(organization=organization).order_by("pk").values())


@pytest.mark.parametrize("quirk", BAD_FILES, ids=str)
def test_a_bad_file_is_refused_and_changes_nothing(worker, alice_client, acme, bob, quirk):
    name, read, code, row = BAD_FILES[quirk]
    before = database_state(acme)
    started = time.monotonic()

    response = alice_client.post(
        reverse("importer:create-preview"), {"file": SimpleUploadedFile(name, read())}
    )
    assert response.status_code == 302
    run = wait_for_run(ImportRun.objects.get(), timeout=REFUSAL_SECONDS)

    assert time.monotonic() - started < REFUSAL_SECONDS
    # A header without the email column stops at the column matching step, with the error.
    matched = code == "missing_column"
    status = ImportRun.Status.NEEDS_COLUMNS if matched else ImportRun.Status.INVALID
    assert run.status == status, run.issues[:3]
    assert [(error["code"], error["row"]) for error in run.errors][:1] == [(code, row)]
    assert not ImportChange.objects.filter(run=run).exists()
    assert database_state(acme) == before
    html = alice_client.get(reverse("importer:run-detail", args=[run.pk])).content.decode()
    assert escape(run.errors[0]["message"]) in html
    if matched:
        assert "Match the columns of your file" in html
    elif row is None:  # The file as a whole: only a new file can mend it.
        assert "Correct the errors in the file and upload it again. Nothing was imported." in html
    else:
        assert "Correct the errors below in the browser, or in the file and upload it" in html
    assert 'id="import-button"' not in html
    with pytest.raises(runs.ApplyRefused):
        runs.request_apply(run, acting_user=acme.users.get(is_org_admin=True))


def test_an_external_entity_never_reaches_the_page(worker, alice_client):
    alice_client.post(
        reverse("importer:create-preview"),
        {"file": SimpleUploadedFile("xxe.xlsx", (FIXTURES / "xxe.xlsx").read_bytes())},
    )
    run = wait_for_run(ImportRun.objects.get())

    html = alice_client.get(reverse("importer:run-detail", args=[run.pk])).content.decode()
    assert "root:" not in html  # /etc/passwd, had the entity been expanded.
    assert "root:" not in str(run.issues)


def test_an_empty_upload_is_refused_on_the_form(alice_client, acme, bob):
    before = database_state(acme)

    response = alice_client.post(
        reverse("importer:create-preview"), {"file": SimpleUploadedFile("empty.csv", b"")}
    )

    assert response.status_code == 400
    assert "The file is empty." in response.content.decode()
    assert not ImportRun.objects.exists()
    assert database_state(acme) == before


def test_an_empty_input_from_elsewhere_is_an_invalid_run(worker, acme, alice):
    """An empty file can also come from a remote server or the command line."""
    run = runs.create_run(
        organization=acme,
        data=b"",
        name="empty.csv",
        source=ImportRun.Source.CLI,
        acting_user=alice,
    )
    assert enqueue(preview_run_task, run.pk)

    run = wait_for_run(run)

    assert run.status == ImportRun.Status.INVALID
    assert [(error["code"], error["row"]) for error in run.errors] == [("empty_file", None)]


def test_a_row_padded_with_a_million_empty_cells_still_imports(worker, alice_client, acme):
    """Trailing empty cells are what spreadsheet programs write: they are not an error."""
    data = b"email,first_name\r\nana@acme.example,Ana" + MILLION_COMMAS + b"\r\n"
    alice_client.post(
        reverse("importer:create-preview"), {"file": SimpleUploadedFile("padded.csv", data)}
    )

    run = wait_for_run(ImportRun.objects.get(), timeout=REFUSAL_SECONDS)

    assert run.status == ImportRun.Status.READY, run.issues[:3]
    assert run.new_count == 1

"""Uploads: stored under generated names, never public, refused early when too large."""

import io
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import Resolver404, resolve, reverse

from importer import runs
from importer.models import ImportRun
from tests.acting import act_for
from tests.factories import SupportFactory

CSV = b"email,first_name\nana@acme.example,Ana\n"
BOUNDARY = "----rostersync-test-boundary"


def text_of(response) -> str:
    """Return the page as text, with the non-breaking spaces of file sizes as plain spaces."""
    return response.content.decode().replace("\xa0", " ")


def upload(client, name: str, data: bytes = CSV):
    return client.post(reverse("importer:create-preview"), {"file": SimpleUploadedFile(name, data)})


# --- stored under generated names -----------------------------------------------------------


@pytest.mark.parametrize(
    "client_name",
    [
        "../../etc/passwd",
        "..\\..\\windows\\win.ini",
        "x.php",
        "shell.php.csv",
        "<img src=x onerror=alert(1)>.csv",
        "report; rm -rf ~.csv",
        "%2e%2e%2fsecret.csv",
    ],
)
def test_an_upload_is_stored_under_a_generated_name_whatever_the_client_calls_it(
    alice_client, acme, client_name
):
    response = upload(alice_client, client_name)

    assert response.status_code == 302
    run = ImportRun.objects.get()
    stored = run.input_file.name
    assert re.fullmatch(rf"imports/{acme.pk}/[0-9a-f]{{32}}\.bin", stored), stored
    for part in re.split(r"[/\\.;<> %]+", client_name):
        if len(part) > 2:
            assert part not in stored
    path = Path(run.input_file.path).resolve()
    assert path.is_relative_to(Path(settings.MEDIA_ROOT).resolve())
    assert path.read_bytes() == CSV


def test_two_uploads_with_the_same_name_never_share_a_stored_file(alice_client):
    upload(alice_client, "people.csv", CSV)
    upload(alice_client, "people.csv", CSV + b"ben@acme.example,Ben\n")

    first, second = ImportRun.objects.order_by("id")
    assert first.input_file.name != second.input_file.name
    assert first.input_file.read() == CSV


# --- never served from a public URL ---------------------------------------------------------


def test_no_url_serves_the_stored_files(alice_client, acme, alice):
    run = runs.create_run(
        organization=acme,
        data=CSV,
        name="people.csv",
        source=ImportRun.Source.UPLOAD,
        acting_user=alice,
    )
    name = run.input_file.name

    for url in (f"/media/{name}", f"/{name}", f"/static/../media/{name}", f"/import/{name}"):
        response = alice_client.get(url)
        assert response.status_code == 404, url
        with pytest.raises(Resolver404):
            resolve(url)
    media_root = Path(settings.MEDIA_ROOT).resolve()
    static_dirs = [Path(settings.STATIC_ROOT), *map(Path, settings.STATICFILES_DIRS)]
    for static_dir in static_dirs:
        static_dir = static_dir.resolve()
        assert not media_root.is_relative_to(static_dir)
        assert not static_dir.is_relative_to(media_root)


# --- downloadable only by the organization's admins -----------------------------------------


@pytest.fixture
def stored_run(acme, alice):
    return runs.create_run(
        organization=acme,
        data=CSV,
        name="people.csv",
        source=ImportRun.Source.UPLOAD,
        acting_user=alice,
    )


def download_url(run) -> str:
    return reverse("importer:run-input", args=[run.pk])


def test_the_organizations_admin_downloads_the_stored_input_byte_for_byte(alice_client, stored_run):
    response = alice_client.get(download_url(stored_run))

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == CSV
    assert response["Content-Disposition"] == 'attachment; filename="people.csv"'


def test_an_admin_of_another_organization_gets_not_found(client, charlie, stored_run):
    client.force_login(charlie)

    assert client.get(download_url(stored_run)).status_code == 404


def test_a_user_of_the_organization_who_is_not_admin_is_refused(client, bob, stored_run):
    client.force_login(bob)

    assert client.get(download_url(stored_run)).status_code == 403


def test_an_anonymous_visitor_is_sent_to_log_in(client, stored_run):
    response = client.get(download_url(stored_run))

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_support_staff_download_only_for_the_company_they_act_for(client, stored_run, acme, globex):
    staff = SupportFactory(email="sam@rostersync.example")
    client.force_login(staff)
    assert client.get(download_url(stored_run)).status_code == 302  # No company chosen yet.

    act_for(client, globex)
    assert client.get(download_url(stored_run)).status_code == 404

    act_for(client, acme)
    assert client.get(download_url(stored_run)).status_code == 200


def test_a_hostile_file_name_cannot_add_a_header_to_the_download(alice_client, acme, alice):
    run = runs.create_run(
        organization=acme,
        data=CSV,
        name='a"b.csv\r\nX-Evil: 1',
        source=ImportRun.Source.UPLOAD,
        acting_user=alice,
    )

    response = alice_client.get(download_url(run))

    assert response.status_code == 200
    assert "X-Evil" not in response.headers
    assert "\n" not in response["Content-Disposition"]
    assert response["Content-Disposition"].startswith("attachment; filename")


# --- refused before it is read whole --------------------------------------------------------


class GeneratedBody(io.RawIOBase):
    """A request body of `head`, `size` filler bytes and `tail`, made as it is read.

    Lets a test send a body of gigabytes without holding it, and tells how much was read.
    """

    def __init__(self, head: bytes, size: int, tail: bytes):
        self.parts = [(head, len(head)), (None, size), (tail, len(tail))]
        self.length = len(head) + size + len(tail)
        self.bytes_read = 0

    def readable(self):
        return True

    def readinto(self, buffer):
        wanted = min(len(buffer), self.length - self.bytes_read)
        out = bytearray()
        offset = self.bytes_read
        for data, size in self.parts:
            if offset >= size:
                offset -= size
                continue
            take = min(size - offset, wanted - len(out))
            out += data[offset : offset + take] if data is not None else b"x" * take
            offset = 0
            if len(out) == wanted:
                break
        buffer[: len(out)] = out
        self.bytes_read += len(out)
        return len(out)


def multipart_upload(client, *, token: str, size: int, filename="big.csv") -> tuple:
    """POST a multipart body with a file of `size` bytes as a browser does.

    Return (response, body).
    """
    head = (
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="csrfmiddlewaretoken"\r\n\r\n'
        f"{token}\r\n"
        f"--{BOUNDARY}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: text/csv\r\n\r\n"
        "email,first_name\n"
    ).encode()
    tail = (
        f"\r\n--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="text"\r\n\r\n\r\n'
        f"--{BOUNDARY}--\r\n"
    )
    body = GeneratedBody(head, size, tail.encode())
    response = client.generic(
        "POST",
        reverse("importer:create-preview"),
        CONTENT_TYPE=f"multipart/form-data; boundary={BOUNDARY}",
        CONTENT_LENGTH=str(body.length),
        **{"wsgi.input": body},
    )
    return response, body


@pytest.fixture
def csrf_client(alice):
    """A client that, like a browser, must send the CSRF token of the page it got."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    client.get(reverse("importer:import"))
    return client


def test_a_five_gigabyte_upload_is_refused_after_its_first_kilobytes(csrf_client, settings):
    token = csrf_client.cookies[settings.CSRF_COOKIE_NAME].value

    response, body = multipart_upload(csrf_client, token=token, size=5 * 1024**3)

    assert response.status_code == 400
    html = text_of(response)
    assert "The file is 5.0 GB; the limit is 20.0 MB." in html
    assert body.bytes_read < 256 * 1024  # The rest of the body is never read.
    assert not ImportRun.objects.exists()


FILE_HEAD = len(b"email,first_name\n")  # The start of the file multipart_upload sends.


def test_a_file_one_byte_over_the_limit_is_refused(csrf_client, settings):
    settings.IMPORT_MAX_UPLOAD_BYTES = 200_000
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 10_000  # Past this, Django writes a temporary file.
    token = csrf_client.cookies[settings.CSRF_COOKIE_NAME].value

    response, _ = multipart_upload(csrf_client, token=token, size=200_001 - FILE_HEAD)

    assert response.status_code == 400
    assert "the limit is 195.3 KB" in text_of(response)
    assert not ImportRun.objects.exists()


def test_a_file_of_exactly_the_limit_is_stored_whole(csrf_client, settings):
    settings.IMPORT_MAX_UPLOAD_BYTES = 200_000
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 10_000
    token = csrf_client.cookies[settings.CSRF_COOKIE_NAME].value

    response, body = multipart_upload(csrf_client, token=token, size=200_000 - FILE_HEAD)

    assert response.status_code == 302
    assert body.bytes_read == body.length
    run = ImportRun.objects.get()
    data = run.input_file.read()
    assert data == b"email,first_name\n" + b"x" * (200_000 - FILE_HEAD)
    assert run.input_size == 200_000


def test_pasted_text_over_the_limit_is_refused_with_the_limit(alice_client, settings):
    settings.IMPORT_MAX_UPLOAD_BYTES = 1000
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 5000

    response = alice_client.post(
        reverse("importer:create-preview"), {"text": "email\n" + "a" * 2000}
    )

    assert response.status_code == 400
    assert "The pasted text is larger than 1000 bytes" in text_of(response)
    assert not ImportRun.objects.exists()


@pytest.mark.parametrize("encoding", ["multipart", "urlencoded"])
def test_pasted_text_over_djangos_body_limit_gets_a_page_that_names_the_limit(
    alice_client, settings, encoding
):
    settings.IMPORT_MAX_UPLOAD_BYTES = 1000
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 5000
    text = "email\n" + "a" * 20_000
    url = reverse("importer:create-preview")

    if encoding == "multipart":
        response = alice_client.post(url, {"text": text})
    else:
        response = alice_client.post(
            url, f"text={text}", content_type="application/x-www-form-urlencoded"
        )

    assert response.status_code == 400
    html = text_of(response)
    assert "What you sent is too large: the limit is 1000 bytes" in html
    assert "Back to Import users" in html
    assert not ImportRun.objects.exists()

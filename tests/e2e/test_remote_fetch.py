"""Automatic import in a real browser: the settings page, Test connection, and Fetch from the
local HTTPS server into an ordinary preview."""

import pytest

from importer.models import ImportRun, RemoteSource
from tests.e2e.conftest import log_in, wait_for_finished_run
from tests.integration.https_server import Reply

pytestmark = [pytest.mark.e2e, pytest.mark.worker]
CSV = (
    b"Employee ID,First Name,Last Name,E-Mail,Reports To\n"
    b"1001,Ana,Silva,ana@acme.example,\n"
    b"1002,Ben,Okafor,ben@acme.example,ana@acme.example\n"
)


def test_an_admin_tests_the_connection_then_fetches_the_file_and_sees_its_preview(
    worker, https_server, page, screen, alice, acme
):
    https_server.routes["/export.csv"] = Reply(body=CSV, headers={"Content-Type": "text/csv"})
    # Support staff enabled automatic import for Acme and the address is set.
    RemoteSource.objects.create(
        organization=acme, enabled=True, url=https_server.url("/export.csv")
    )
    log_in(page, alice.email)

    page.click(".tabs >> text=Configuration")
    page.click("#remote-settings-link")
    page.wait_for_url("**/import/configuration/remote/")
    assert "127.0.0.1" in page.inner_text(".remote-status")
    page.click("#remote-test-button")
    page.wait_for_selector(".remote-test-ok")
    assert "2 rows of people" in page.inner_text("#remote-test-result")
    screen("remote-settings")
    assert not ImportRun.objects.exists()  # Testing imports nothing.

    page.click(".tabs >> text=Import")
    page.click("#fetch-button")
    page.wait_for_url("**/import/runs/*/")
    wait_for_finished_run(page)
    run = ImportRun.objects.get()
    assert (run.source, run.status) == (ImportRun.Source.REMOTE, ImportRun.Status.READY)
    assert "New\n2" in page.inner_text(".counts")
    assert "Remote server" in page.inner_text(".run-header")
    assert page.locator("#import-button").is_visible()
    screen("fetched-preview")
    assert len(https_server.requests_to("/export.csv")) == 2  # The test, then the fetch.

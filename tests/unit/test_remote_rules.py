"""What remote.py accepts before sending anything, and what it makes of a body."""

import pytest

from importer.remote.http import (
    XLSX_CONTENT_TYPE,
    Download,
    FetchError,
    auth_headers,
    check_spreadsheet,
    check_url,
)


def test_an_https_url_is_accepted_and_its_host_returned():
    assert check_url("https://HR.Example.com:8443/export.csv?x=1") == "hr.example.com"


@pytest.mark.parametrize(
    "url, says",
    [
        ("http://hr.example.com/export.csv", "Only https://"),
        ("ftp://hr.example.com/export.csv", "Only https://"),
        ("https:///export.csv", "no host name"),
        ("https://ana:pw@hr.example.com/export.csv", "not in the URL"),
        ("https://hr.example.com:99999/", "not a valid address"),
    ],
)
def test_a_url_that_is_not_plain_https_is_refused_with_a_reason(url, says):
    with pytest.raises(FetchError) as raised:
        check_url(url)

    assert raised.value.code == "bad_url"
    assert says in raised.value.message


def test_credentials_become_the_matching_header():
    assert auth_headers("none", secret="x") == {}
    assert auth_headers("basic", username="ana", secret="pw") == {"Authorization": "Basic YW5hOnB3"}
    assert auth_headers("bearer", secret="t0k") == {"Authorization": "Bearer t0k"}
    assert auth_headers("header", header_name="X-API-Key", secret="k") == {"X-API-Key": "k"}


def body(data: bytes, content_type: str = "") -> Download:
    return Download(status=200, content_type=content_type, data=data)


@pytest.mark.parametrize(
    "download",
    [
        body(b"<!DOCTYPE html><html><form>Sign in</form></html>", "text/html; charset=utf-8"),
        body(b"\n  <html><body>Sign in</body></html>", "application/octet-stream"),
        body(b"email,name\n", "text/html"),  # The server says so: believe it.
    ],
)
def test_a_web_page_is_refused_as_probably_a_login_page(download):
    with pytest.raises(FetchError) as raised:
        check_spreadsheet(download, "auto")

    assert raised.value.code == "html_page"
    assert "login page" in raised.value.message


def test_csv_and_workbooks_pass_in_automatic_format(fixture_file):
    workbook, _name = fixture_file("two_employees.xlsx")

    check_spreadsheet(body(b"email\nana@example.com\n", "text/csv"), "auto")
    check_spreadsheet(body(workbook, "application/octet-stream"), "auto")
    check_spreadsheet(body(workbook, XLSX_CONTENT_TYPE), "xlsx")


def test_a_workbook_when_csv_is_chosen_says_which_format_to_choose(fixture_file):
    workbook, _name = fixture_file("two_employees.xlsx")

    with pytest.raises(FetchError) as raised:
        check_spreadsheet(body(workbook), "csv")

    assert raised.value.code == "format_mismatch"
    assert "Choose Automatic or Excel" in raised.value.message


def test_text_when_xlsx_is_chosen_says_which_format_to_choose():
    with pytest.raises(FetchError) as raised:
        check_spreadsheet(body(b"email\nana@example.com\n", "text/csv"), "xlsx")

    assert raised.value.code == "format_mismatch"
    assert "Choose Automatic or CSV" in raised.value.message


def test_text_declared_as_a_workbook_is_refused_in_automatic_format():
    with pytest.raises(FetchError) as raised:
        check_spreadsheet(body(b"Export failed: quota exceeded", XLSX_CONTENT_TYPE), "auto")

    assert raised.value.code == "format_mismatch"
    assert "not one" in raised.value.message

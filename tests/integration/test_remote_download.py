"""remote.download against a real HTTPS server on 127.0.0.1, started by the tests.

The address guard is shown refusing private targets before connecting: those tests assert that
the local server received nothing, and no test sends traffic anywhere but loopback.
"""

import time

import pytest
import trustme

from importer.remote.http import FetchError, download
from tests.integration.https_server import HTTPSServer, Reply

CSV = b"email,first_name\nana@acme.example,Ana\n"


def fetch_error(url, **kwargs) -> FetchError:
    with pytest.raises(FetchError) as raised:
        download(url, **kwargs)
    return raised.value


def test_it_downloads_the_file_with_its_type_and_validators(https_server):
    https_server.routes["/export.csv"] = Reply(
        body=CSV,
        headers={
            "Content-Type": "text/csv",
            "ETag": '"v1"',
            "Last-Modified": "Mon, 02 Mar 2026 10:00:00 GMT",
        },
    )

    got = download(https_server.url("/export.csv"))

    assert (got.status, got.data, got.content_type) == (200, CSV, "text/csv")
    assert (got.etag, got.last_modified) == ('"v1"', "Mon, 02 Mar 2026 10:00:00 GMT")


def test_it_sends_basic_credentials(https_server):
    def needs_basic(seen):
        if seen.headers.get("Authorization") != "Basic YW5hOnMzY3JldA==":  # ana:s3cret
            return Reply(401, b"", {"WWW-Authenticate": 'Basic realm="hr"'})
        return Reply(body=CSV)

    https_server.routes["/export.csv"] = needs_basic

    got = download(
        https_server.url("/export.csv"), headers={"Authorization": "Basic YW5hOnMzY3JldA=="}
    )

    assert got.data == CSV


def test_it_sends_a_bearer_token(https_server):
    https_server.routes["/export.csv"] = Reply(body=CSV)

    download(https_server.url("/export.csv"), headers={"Authorization": "Bearer t0ken"})

    assert https_server.requests_to("/export.csv")[0].headers["Authorization"] == "Bearer t0ken"


def test_refused_credentials_say_so(https_server):
    https_server.routes["/export.csv"] = Reply(401, b"Unauthorized")
    https_server.routes["/forbidden.csv"] = Reply(403, b"Forbidden")

    for path in ("/export.csv", "/forbidden.csv"):
        error = fetch_error(https_server.url(path), headers={"Authorization": "Bearer wrong"})
        assert error.code == "credentials"
        assert "refused the credentials" in error.message
        assert "wrong" not in error.message


def test_a_missing_file_and_a_server_error_each_say_what_to_do(https_server):
    https_server.routes["/broken.csv"] = Reply(500, b"Traceback (most recent call last): ...")

    missing = fetch_error(https_server.url("/nothing-here.csv"))
    broken = fetch_error(https_server.url("/broken.csv"))

    assert (missing.code, missing.http_status) == ("not_found", 404)
    assert "Check the URL" in missing.message
    assert (broken.code, broken.http_status) == ("http_status", 500)
    assert "internal error (HTTP 500)" in broken.message
    assert "Traceback" not in broken.message


def test_an_unchanged_file_is_a_304_without_a_body(https_server):
    def conditional(seen):
        if seen.headers.get("If-None-Match") == '"v1"':
            return Reply(304, headers={"ETag": '"v1"'})
        return Reply(body=CSV, headers={"ETag": '"v1"'})

    https_server.routes["/export.csv"] = conditional

    first = download(https_server.url("/export.csv"))
    again = download(
        https_server.url("/export.csv"),
        etag=first.etag,
        last_modified="Mon, 02 Mar 2026 10:00:00 GMT",
    )

    assert not first.not_modified
    assert again.not_modified and again.data == b""
    assert https_server.requests_to("/export.csv")[1].headers["If-Modified-Since"] == (
        "Mon, 02 Mar 2026 10:00:00 GMT"
    )


def test_a_slow_server_times_out_with_a_message(https_server, settings):
    settings.REMOTE_READ_TIMEOUT = 0.5
    https_server.routes["/slow.csv"] = Reply(body=CSV, delay=3)

    error = fetch_error(https_server.url("/slow.csv"))

    assert error.code == "timeout"
    assert "took too long" in error.message or "stopped sending" in error.message


@pytest.mark.parametrize("drip_head", [False, True], ids=["body", "headers"])
def test_a_server_dripping_bytes_is_cut_off_at_the_total_time_limit(
    https_server, settings, drip_head
):
    # One byte every 0.2 s never trips the 5 s read timeout; the whole would take 12 s or more.
    settings.REMOTE_READ_TIMEOUT = 5
    settings.REMOTE_TOTAL_TIMEOUT = 1
    https_server.routes["/drip.csv"] = Reply(body=CSV + b"x" * 60, drip=0.2, drip_head=drip_head)

    started = time.monotonic()
    error = fetch_error(https_server.url("/drip.csv"))

    assert time.monotonic() - started < 3
    assert error.code == "timeout"
    assert "took too long" in error.message


def test_a_body_over_the_size_limit_is_refused_by_its_declared_length(https_server, settings):
    settings.REMOTE_MAX_BYTES = 1000
    https_server.routes["/big.csv"] = Reply(body=b"email\n" + b"x@example.com\n" * 200)

    error = fetch_error(https_server.url("/big.csv"))

    assert error.code == "too_large"
    assert "larger than the limit of 1000" in error.message


def test_a_streamed_body_over_the_size_limit_is_refused_while_reading(https_server, settings):
    settings.REMOTE_MAX_BYTES = 1000
    https_server.routes["/big.csv"] = Reply(
        body=b"email\n" + b"x@example.com\n" * 2000, chunk_size=256
    )

    error = fetch_error(https_server.url("/big.csv"))

    assert error.code == "too_large"


def test_a_streamed_body_within_the_limit_is_read_whole(https_server):
    body = b"email\n" + b"x@example.com\n" * 2000
    https_server.routes["/chunked.csv"] = Reply(body=body, chunk_size=256)

    assert download(https_server.url("/chunked.csv")).data == body


def test_a_certificate_from_an_untrusted_authority_is_a_tls_error(remote_settings):
    untrusted = HTTPSServer(ca=trustme.CA()).start()  # As good as self-signed: not in the bundle.
    untrusted.routes["/export.csv"] = Reply(body=CSV)
    try:
        error = fetch_error(untrusted.url("/export.csv"))
    finally:
        untrusted.stop()

    assert error.code == "tls"
    assert "certificate is not trusted" in error.message
    assert untrusted.requests_to("/export.csv") == []


def test_an_unknown_host_name_is_a_dns_error(remote_settings):
    error = fetch_error("https://hr-export.invalid/export.csv")  # .invalid never resolves.

    assert error.code == "dns"
    assert "hr-export.invalid could not be found" in error.message


def test_an_http_url_is_refused_before_connecting(https_server):
    error = fetch_error(f"http://127.0.0.1:{https_server.port}/export.csv")

    assert error.code == "bad_url"
    assert https_server.seen == []


def test_a_redirect_is_followed_to_another_https_url(https_server):
    https_server.routes["/old.csv"] = Reply(302, headers={"Location": "/new.csv"})
    https_server.routes["/new.csv"] = Reply(body=CSV)

    assert download(https_server.url("/old.csv")).data == CSV


def test_a_redirect_to_http_is_refused_without_following_it(https_server):
    https_server.routes["/export.csv"] = Reply(
        301, headers={"Location": f"http://127.0.0.1:{https_server.port}/plain.csv"}
    )

    error = fetch_error(https_server.url("/export.csv"))

    assert error.code == "redirect"
    assert "not https" in error.message
    assert https_server.requests_to("/plain.csv") == []


def test_credentials_are_not_sent_to_another_host_after_a_redirect(https_server):
    https_server.routes["/export.csv"] = Reply(
        302, headers={"Location": https_server.url("/moved.csv", host="localhost")}
    )
    https_server.routes["/moved.csv"] = Reply(body=CSV)

    download(https_server.url("/export.csv"), headers={"Authorization": "Bearer t0ken"})

    assert https_server.requests_to("/export.csv")[0].headers["Authorization"] == "Bearer t0ken"
    assert "Authorization" not in https_server.requests_to("/moved.csv")[0].headers


def test_endless_redirects_stop(https_server):
    https_server.routes["/loop.csv"] = Reply(302, headers={"Location": "/loop.csv"})

    error = fetch_error(https_server.url("/loop.csv"))

    assert error.code == "redirect"
    assert len(https_server.requests_to("/loop.csv")) == 6


# --- the address guard --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://10.0.0.1/export.csv",
        "https://172.16.5.4/export.csv",
        "https://192.168.1.10/export.csv",
        "https://169.254.169.254/latest/meta-data/",  # Cloud metadata.
        "https://100.64.0.1/export.csv",  # CGNAT.
        "https://[::1]/export.csv",
        "https://[fd00::1]/export.csv",
        "https://0.0.0.0/export.csv",
    ],
)
def test_literal_private_addresses_are_refused_before_connecting(remote_settings, url):
    error = fetch_error(url)

    assert error.code == "forbidden_address"
    assert "private or internal network address" in error.message


def test_loopback_is_refused_unless_allow_listed(https_server, settings):
    https_server.routes["/export.csv"] = Reply(body=CSV)
    settings.REMOTE_ALLOWED_HOSTS = []

    error = fetch_error(https_server.url("/export.csv"))

    assert error.code == "forbidden_address"
    assert https_server.seen == []  # Refused before connecting: the server saw nothing.


def test_a_host_name_resolving_to_loopback_is_refused_unless_allow_listed(https_server, settings):
    https_server.routes["/export.csv"] = Reply(body=CSV)
    settings.REMOTE_ALLOWED_HOSTS = ["127.0.0.1"]  # The address is allowed, the name is not.

    error = fetch_error(https_server.url("/export.csv", host="localhost"))

    assert error.code == "forbidden_address"
    assert "localhost" in error.message
    assert https_server.seen == []


@pytest.mark.parametrize(
    "target",
    ["https://10.0.0.1/export.csv", "https://169.254.169.254/latest/meta-data/", "LOCALHOST"],
)
def test_a_redirect_to_a_private_address_is_refused_before_following_it(
    https_server, settings, target
):
    settings.REMOTE_ALLOWED_HOSTS = ["127.0.0.1"]
    if target == "LOCALHOST":
        target = https_server.url("/internal.csv", host="localhost")
    https_server.routes["/export.csv"] = Reply(302, headers={"Location": target})
    https_server.routes["/internal.csv"] = Reply(body=CSV)

    error = fetch_error(https_server.url("/export.csv"))

    assert error.code == "forbidden_address"
    assert "redirected to" in error.message
    assert [seen.path for seen in https_server.seen] == ["/export.csv"]

"""Download a user file from a company's HR server: the one way Rostersync makes outbound HTTP.

    >>> download("https://hr.example.com/export.csv", headers=auth_headers("bearer", secret="t0k"))
    Download(status=200, content_type='text/csv', data=b'email,...', etag='"v7"', ...)
    >>> download(url, etag='"v7"').not_modified   # the server answered 304
    True

Every request is https with the certificate verified; connect, read and whole-download times are
bounded; the body is read as a stream and refused past a size limit. The whole-download limit
holds whatever the server sends: a watchdog shuts the connection's socket at the deadline, so a
server dripping a byte a second (which no read timeout catches) is cut off on time.

Addresses are guarded by requests-hardened: the host name is resolved once, the address is refused
if it is loopback, private, link-local (cloud metadata), CGNAT or otherwise non-public, and the
connection is made to that very address (a DNS answer that changes between the check and the connect
cannot slip through). Redirects are followed here, hop by hop, so each new URL is checked the same
way before anything is sent to it; credentials go only to the server they were entered for.

Hosts in settings.REMOTE_ALLOWED_HOSTS skip the address guard (on-premise servers; loopback in
tests). A FetchError carries a message a company admin can act on; it never contains the secret,
the URL's path or query (which may hold a token), nor the server's response.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import logging
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests
import urllib3.connection
import urllib3.connectionpool
import urllib3.exceptions
from django.conf import settings
from django.template.defaultfilters import filesizeformat
from requests_hardened import Config, Manager
from requests_hardened.ip_filter import EXTRA_BLOCKED_NET_RANGES, InvalidIPAddress

from importer.pipeline.parse import OLE2_MAGIC, ZIP_MAGIC

logger = logging.getLogger(__name__)

MAX_REDIRECTS = 5
QUERY_MASK = "••••••"
CHUNK_BYTES = 64 * 1024
USER_AGENT = "Rostersync user import"
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HTML_PAGE_MESSAGE = (
    "The server sent a web page instead of a spreadsheet: usually a login page or an error page. "
    "Check that the URL is the file export's own address (not the page you open in a browser) "
    "and that the authentication settings are right."
)

_guarded = Manager(
    Config(
        ip_filter_enable=True,
        ip_filter_allow_loopback_ips=False,
        never_redirect=True,  # Redirects are followed by download(), which checks each hop.
        default_timeout=(10, 30),
        user_agent_override=USER_AGENT,
    )
)
_allow_listed = Manager(
    Config(
        ip_filter_enable=False,
        ip_filter_allow_loopback_ips=True,
        never_redirect=True,
        default_timeout=(10, 30),
        user_agent_override=USER_AGENT,
    )
)


class FetchError(Exception):
    """The file could not be downloaded; `message` says what to do, `code` is stable.

    Codes: bad_url, forbidden_address, dns, connect, timeout, tls, redirect, credentials,
    not_found, http_status, too_large, connection_broken, html_page, format_mismatch.
    """

    def __init__(self, code: str, message: str, *, http_status: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status


@dataclass(frozen=True)
class Limits:
    """How far a download may go: seconds, and bytes of body."""

    connect_timeout: float = 10
    read_timeout: float = 30
    total_timeout: float = 120
    max_bytes: int = 20 * 1024 * 1024
    allowed_hosts: frozenset[str] = frozenset()
    ca_bundle: str = ""  # "" = the system's trusted certificates

    @classmethod
    def from_settings(cls, **overrides) -> Limits:
        """Return the limits configured in settings, with `overrides` applied."""
        values = {
            "connect_timeout": settings.REMOTE_CONNECT_TIMEOUT,
            "read_timeout": settings.REMOTE_READ_TIMEOUT,
            "total_timeout": settings.REMOTE_TOTAL_TIMEOUT,
            "max_bytes": settings.REMOTE_MAX_BYTES,
            "allowed_hosts": frozenset(host.lower() for host in settings.REMOTE_ALLOWED_HOSTS),
            "ca_bundle": settings.REMOTE_CA_BUNDLE,
        }
        return cls(**{**values, **overrides})


@dataclass(frozen=True)
class Download:
    """A server's answer: the body of a 200, or nothing for a 304 (not modified)."""

    status: int
    content_type: str = ""
    data: bytes = field(default=b"", repr=False)
    etag: str = ""
    last_modified: str = ""

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def size(self) -> int:
        return len(self.data)


def auth_headers(auth: str, *, username: str = "", header_name: str = "", secret: str = "") -> dict:
    """Return the request headers that carry a source's credentials.

    `auth` is one of RemoteSource.Auth: none, basic, bearer, header.
    """
    if auth == "basic":
        pair = f"{username}:{secret}".encode()
        return {"Authorization": f"Basic {base64.b64encode(pair).decode()}"}
    if auth == "bearer":
        return {"Authorization": f"Bearer {secret}"}
    if auth == "header" and header_name:
        return {header_name: secret}
    return {}


def host_of(url: str, *, default: str = "remote server") -> str:
    """Return the host name of a URL as pages and run names show it, or `default`.

    Enough to recognise a server without its path or query (which may carry a token).
    """
    try:
        return urlsplit(url).hostname or default
    except ValueError:  # An unclosed "[" of an IPv6 address, say.
        return default


def check_url(url: str) -> str:
    """Return the URL's host name; raise FetchError unless it is an https URL Rostersync may use.

    Only the form is checked here; the address the host name resolves to is checked when
    connecting.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise FetchError("bad_url", "The server URL is not a valid address.") from None
    if parts.scheme.lower() != "https":
        raise FetchError(
            "bad_url",
            "Only https:// addresses are accepted: the file holds personal data, so it must be "
            "encrypted on the way. Ask your HR system's administrator for its https export URL.",
        )
    if not parts.hostname:
        raise FetchError("bad_url", "The server URL has no host name.")
    if parts.username is not None or parts.password is not None:
        raise FetchError(
            "bad_url",
            "Put the username and password in the authentication fields, not in the URL.",
        )
    if port is not None and not 0 < port < 65536:
        raise FetchError("bad_url", "The server URL's port is not valid.")
    return parts.hostname.lower()


def check_address(url: str, *, allowed_hosts=None) -> None:
    """Raise FetchError when the URL's host is, or resolves to, an address the fetch refuses.

    The rule of the fetch (loopback, private, link-local, CGNAT, multicast…), applied when the
    settings are saved so that such a URL is refused at once; hosts in `allowed_hosts`
    (settings.REMOTE_ALLOWED_HOSTS by default) pass. A name that does not resolve now passes:
    the fetch reports it, and checks the address again when it connects.
    """
    host = check_url(url)
    allowed = settings.REMOTE_ALLOWED_HOSTS if allowed_hosts is None else allowed_hosts
    if host in {name.lower() for name in allowed}:
        return
    try:
        port = urlsplit(url).port or 443
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return
    for *_rest, address in found:
        ip = ipaddress.ip_address(address[0].split("%", 1)[0])
        if ip.version == 6 and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if (
            ip.is_private
            or ip.is_loopback
            or ip.is_link_local
            or ip.is_multicast
            or ip.is_reserved
            or ip.is_unspecified
            or any(ip in network for network in EXTRA_BLOCKED_NET_RANGES)
        ):
            raise FetchError(
                "forbidden_address",
                f"The server {host} is on a private or internal network address, which "
                "Rostersync does not connect to. Use the server's public https address, or ask "
                "support to allow this server.",
            )


def masked_url(url: str) -> str:
    """Return the URL with the values of its query string hidden (they may hold a token)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if not parts.query:
        return url
    query = "&".join(
        f"{item.split('=', 1)[0]}={QUERY_MASK}" if "=" in item else item
        for item in parts.query.split("&")
    )
    return urlunsplit(parts._replace(query=query))


def download(
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    etag: str = "",
    last_modified: str = "",
    limits: Limits | None = None,
) -> Download:
    """Return the file at `url`, or a 304 answer when `etag` / `last_modified` still match.

    `headers` (credentials) are sent to the URL's own origin only, never after a redirect to
    another host. Raise FetchError for anything but a 200 or 304 with an acceptable body.
    """
    limits = limits or Limits.from_settings()
    _check_headers(headers or {})
    with _Deadline(limits.total_timeout) as deadline:
        return _download(url, headers, etag, last_modified, limits, deadline)


def _download(url, headers, etag, last_modified, limits, deadline: _Deadline) -> Download:
    conditional = {}
    if etag:
        conditional["If-None-Match"] = etag
    if last_modified:
        conditional["If-Modified-Since"] = last_modified
    origin = _origin(url)
    for _hop in range(MAX_REDIRECTS + 1):
        host = check_url(url)
        if deadline.expired:
            raise _timeout(host, limits)
        request_headers = {"Accept": f"text/csv, {XLSX_CONTENT_TYPE};q=0.9, */*;q=0.1"}
        request_headers.update(conditional)
        if _origin(url) == origin:
            request_headers.update(headers or {})
        try:
            response = _send(url, host, request_headers, limits, deadline)
        except FetchError as error:
            if deadline.expired:
                raise _timeout(host, limits) from None
            if error.code == "forbidden_address" and _hop:
                error.message = (
                    f"The server {origin[1]} redirected to {host}, a private or internal network "
                    "address, which Rostersync does not connect to. Use the export's public "
                    "https address as the server URL."
                )
            raise
        if response.is_redirect:
            location = response.headers.get("Location", "")
            response.close()
            url = urljoin(url, location)
            if urlsplit(url).scheme.lower() != "https":
                raise FetchError(
                    "redirect",
                    f"The server {host} redirected to an address that is not https. Use the "
                    "final https address of the export as the server URL.",
                )
            continue
        with response:
            return _read(response, host, limits, deadline)
    raise FetchError("redirect", f"The server {host} redirected more than {MAX_REDIRECTS} times.")


def sendable(value: str) -> bool:
    """Return whether `value` can go in an HTTP header: printable ISO-8859-1, no line breaks."""
    return all(" " <= ch <= "~" or "\xa0" <= ch <= "\xff" or ch == "\t" for ch in value)


def _check_headers(headers: Mapping[str, str]) -> None:
    # Checked before anything is sent: the HTTP library would otherwise fail with the header's
    # value (a secret) in its error message, which ends up in logs.
    if all(sendable(name) and sendable(value) for name, value in headers.items()):
        return
    raise FetchError(
        "credentials",
        "The saved password, token or header value contains a character that cannot be sent to "
        "a server (such as “€”, a line break, or a letter outside Western European alphabets). "
        "Enter the secret again on the automatic import settings.",
    )


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port


def same_origin(url: str, other: str) -> bool:
    """Return whether two URLs name the same server: scheme, host and port (443 if unsaid)."""
    try:
        (scheme, host, port), (other_scheme, other_host, other_port) = _origin(url), _origin(other)
    except ValueError:  # A port that is not a number.
        return False
    default = {"https": 443, "http": 80}
    return (scheme, host, port or default.get(scheme)) == (
        other_scheme,
        other_host,
        other_port or default.get(other_scheme),
    )


class _Deadline:
    """The end of a download's total time: past it, every socket it watches is shut down.

    A read timeout bounds each wait for data, not the whole: a server sending one byte every
    few seconds never trips it. So a timer thread shuts the connection down at the deadline,
    which makes the blocked read return at once; `expired` then tells a timeout from a break.
    """

    def __init__(self, seconds: float):
        self.at = time.monotonic() + seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._timer.cancel()

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            expired = self.expired
        if expired:
            _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # Already closed.
        sock.shutdown(socket.SHUT_RDWR)


def _watched_pools(deadline: _Deadline) -> dict:
    """Return connection pool classes whose connections are watched by `deadline`."""

    class Connection(urllib3.connection.HTTPSConnection):
        def connect(self):
            super().connect()
            deadline.watch(self.sock)

    class Pool(urllib3.connectionpool.HTTPSConnectionPool):
        ConnectionCls = Connection

    return {"http": urllib3.connectionpool.HTTPConnectionPool, "https": Pool}


@dataclass(frozen=True)
class Posted:
    """A server's answer to a POST: its status and how long it took (the body is not kept)."""

    status: int
    elapsed_ms: int


def post(
    url: str,
    *,
    body: bytes,
    headers: Mapping[str, str] | None = None,
    limits: Limits | None = None,
) -> Posted:
    """Send `body` to `url` with the download's guard; return the answer, whatever its status.

        >>> post("https://hooks.example.com/x", body=b'{"type": "run.held"}',
        ...      headers={"Content-Type": "application/json"}).status
        204

    The same rules as download(): https only, the certificate verified, the address checked (the
    connection made to the very address checked), time bounded as a whole. A redirect is not
    followed: the body would go to an address its owner never entered. At most
    `limits.max_bytes` of the answer are read, then dropped. Raise FetchError when no answer
    came (refused address, DNS, TLS, timeout).
    """
    limits = limits or Limits.from_settings()
    _check_headers(headers or {})
    host = check_url(url)
    started = time.monotonic()
    with _Deadline(limits.total_timeout) as deadline:
        try:
            response = _send(url, host, dict(headers or {}), limits, deadline, body=body)
        except FetchError:
            if deadline.expired:
                raise _timeout(host, limits) from None
            raise
        with response:
            try:
                read = 0
                for chunk in response.iter_content(CHUNK_BYTES):
                    read += len(chunk)
                    if read > limits.max_bytes or deadline.expired:
                        break
            except (requests.RequestException, urllib3.exceptions.HTTPError, OSError):
                if deadline.expired:
                    raise _timeout(host, limits) from None
        if deadline.expired:
            raise _timeout(host, limits)
    return Posted(
        status=response.status_code, elapsed_ms=round((time.monotonic() - started) * 1000)
    )


def _send(
    url, host, headers, limits, deadline: _Deadline, *, body: bytes | None = None
) -> requests.Response:
    manager = _allow_listed if host in limits.allowed_hosts else _guarded
    remaining = max(deadline.remaining(), 0.1)
    connect = min(limits.connect_timeout, remaining)
    with manager.get_session() as session:
        # No proxy, .netrc or CA bundle from the environment: what is sent where is decided here.
        session.trust_env = False
        session.get_adapter(url).poolmanager.pool_classes_by_scheme = _watched_pools(deadline)
        try:
            return session.request(
                "GET" if body is None else "POST",
                url,
                data=body,
                headers=headers,
                stream=True,
                allow_redirects=False,
                timeout=(connect, min(limits.read_timeout, remaining)),
                verify=limits.ca_bundle or True,
            )
        except InvalidIPAddress:
            raise FetchError(
                "forbidden_address",
                f"The server {host} is on a private or internal network address, which "
                "Rostersync does not connect to. Use the server's public https address, or ask "
                "support to allow this server.",
            ) from None
        except requests.RequestException as error:
            raise _error_for(error, host) from None
        except (UnicodeError, ValueError):
            # A header value the HTTP library refused: its message holds the value (a secret),
            # so the error raised carries neither it nor a link to it.
            failure = FetchError(
                "bad_url", "The server URL or a header value is not valid. Check the settings."
            )
    raise failure


def _read(response: requests.Response, host: str, limits: Limits, deadline: _Deadline) -> Download:
    status = response.status_code
    if status == 304:
        return Download(
            status=304,
            etag=response.headers.get("ETag", ""),
            last_modified=response.headers.get("Last-Modified", ""),
        )
    if status != 200:
        raise _status_error(status, host)
    too_large = FetchError(
        "too_large",
        f"The file on {host} is larger than the limit of {filesizeformat(limits.max_bytes)}. "
        "Export fewer columns, or ask support to raise the limit.",
        http_status=status,
    )
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limits.max_bytes:
        raise too_large
    chunks, size = [], 0
    try:
        for chunk in response.iter_content(CHUNK_BYTES):
            size += len(chunk)
            if size > limits.max_bytes:
                raise too_large
            if deadline.expired:
                raise _timeout(host, limits)
            chunks.append(chunk)
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as error:
        if deadline.expired:
            raise _timeout(host, limits) from None
        if not isinstance(error, requests.RequestException):
            raise _error_for(requests.ConnectionError(error), host) from None
        raise _error_for(error, host) from None
    if deadline.expired:  # The shut connection may look like the end of the body.
        raise _timeout(host, limits)
    return Download(
        status=status,
        content_type=response.headers.get("Content-Type", ""),
        data=b"".join(chunks),
        etag=response.headers.get("ETag", ""),
        last_modified=response.headers.get("Last-Modified", ""),
    )


def _status_error(status: int, host: str) -> FetchError:
    if status in (401, 403):
        return FetchError(
            "credentials",
            f"The server {host} refused the credentials (HTTP {status}). Check the "
            "authentication type, username and password or token, and enter the secret again.",
            http_status=status,
        )
    if status in (404, 410):
        return FetchError(
            "not_found",
            f"The server {host} has no file at this address (HTTP {status}). Check the URL.",
            http_status=status,
        )
    if 300 <= status < 400:
        return FetchError(
            "redirect",
            f"The server {host} answered with a redirect without a new address (HTTP {status}).",
            http_status=status,
        )
    if status >= 500:
        return FetchError(
            "http_status",
            f"The server {host} had an internal error (HTTP {status}). This is usually "
            "temporary: the next attempt may work; if it keeps failing, contact the HR system's "
            "administrator.",
            http_status=status,
        )
    return FetchError(
        "http_status",
        f"The server {host} did not send the file (HTTP {status}). Check the URL and the "
        "authentication settings.",
        http_status=status,
    )


def _timeout(host: str, limits: Limits) -> FetchError:
    return FetchError(
        "timeout",
        f"The server {host} took too long to send the file (over {limits.total_timeout:g} s "
        f"in all, or {limits.read_timeout:g} s without sending anything). Try again later; if "
        "it keeps happening, ask the HR system's administrator why the export is slow.",
    )


def _error_for(error: BaseException, host: str) -> FetchError:
    """Return the FetchError for an exception raised by requests, by what caused it."""
    if _caused_by(error, socket.gaierror, urllib3.exceptions.NameResolutionError):
        return FetchError(
            "dns",
            f"The server name {host} could not be found (DNS). Check the URL for typing mistakes.",
        )
    if isinstance(error, requests.exceptions.SSLError) or _caused_by(error, ssl.SSLError):
        return FetchError(
            "tls",
            f"The secure connection to {host} failed: its certificate is not trusted (for "
            "example self-signed, expired, or issued for another name). Ask the HR system's "
            "administrator to install a certificate from a public authority.",
        )
    if isinstance(error, requests.exceptions.ConnectTimeout) or _caused_by(
        error, urllib3.exceptions.ConnectTimeoutError
    ):
        return FetchError(
            "connect",
            f"The server {host} did not answer (connection timed out). Check the URL, and "
            "that the server accepts connections from the internet.",
        )
    if isinstance(error, requests.exceptions.Timeout) or _caused_by(
        error, urllib3.exceptions.ReadTimeoutError, TimeoutError
    ):
        return FetchError(
            "timeout",
            f"The server {host} stopped sending for too long (read timed out). Try again "
            "later; if it keeps happening, ask the HR system's administrator why the export "
            "is slow.",
        )
    if isinstance(
        error, requests.exceptions.ChunkedEncodingError | requests.exceptions.ContentDecodingError
    ):
        return FetchError(
            "connection_broken",
            f"The connection to {host} broke off during the download. Try again.",
        )
    if isinstance(error, requests.exceptions.InvalidURL | requests.exceptions.InvalidHeader):
        return FetchError(
            "bad_url", "The server URL or a header value is not valid. Check the settings."
        )
    logger.info("Fetch from %s failed: %s", host, type(error).__name__)
    return FetchError(
        "connect",
        f"Rostersync could not connect to {host}. Check the URL, and that the server accepts "
        "connections from the internet.",
    )


def _caused_by(error: BaseException, *kinds: type[BaseException]) -> bool:
    seen = set()
    pending = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, kinds):
            return True
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        linked.extend(getattr(current, "args", ()))
        pending.extend(item for item in linked if isinstance(item, BaseException))
    return False


# --- what the body is ---------------------------------------------------------------------------


def check_spreadsheet(download: Download, file_format: str) -> None:
    """Raise FetchError when the body is a web page, or not in the format it should be.

    `file_format` is RemoteSource.Format: auto (the content decides), csv or xlsx. Whether a CSV
    or workbook can be read at all is for importer.pipeline.parse to say.
    """
    data = download.data
    media_type = download.content_type.split(";")[0].strip().lower()
    is_workbook = data.startswith(ZIP_MAGIC) or data.startswith(OLE2_MAGIC)
    if not is_workbook and (
        media_type in ("text/html", "application/xhtml+xml") or _looks_like_html(data)
    ):
        raise FetchError("html_page", HTML_PAGE_MESSAGE, http_status=download.status)
    if file_format == "csv" and is_workbook:
        raise FetchError(
            "format_mismatch",
            "The server sent an Excel workbook, but the file format is set to CSV. Choose "
            "Automatic or Excel (.xlsx) as the file format.",
            http_status=download.status,
        )
    if file_format == "xlsx" and not is_workbook:
        raise FetchError(
            "format_mismatch",
            "The server sent text (such as CSV), not an Excel workbook, but the file format is "
            "set to Excel (.xlsx). Choose Automatic or CSV as the file format.",
            http_status=download.status,
        )
    if file_format == "auto" and media_type == XLSX_CONTENT_TYPE and not is_workbook:
        raise FetchError(
            "format_mismatch",
            "The server said it sent an Excel workbook, but the file is not one (it may be an "
            "error message or a damaged export). Open the URL in a browser to see what it sends.",
            http_status=download.status,
        )


def _looks_like_html(data: bytes) -> bool:
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or (
        head.startswith(b"<") and b"<html" in head
    )

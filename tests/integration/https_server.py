"""A real HTTPS server on 127.0.0.1 for the remote-import tests, run in a thread.

Its certificate (for 127.0.0.1 and localhost) comes from a test CA made with trustme; the tests
point Rostersync at that CA through settings.REMOTE_CA_BUNDLE (and the worker process through
ROSTERSYNC_REMOTE_CA_BUNDLE). Routes map a path to a Reply, or to a function of the request that
returns one; every request is recorded, so a test can also show that nothing was sent.
"""

from __future__ import annotations

import ssl
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import trustme


@cache
def test_ca() -> trustme.CA:
    """Return the CA trusted by the tests (one per test process)."""
    return trustme.CA()


@cache
def test_ca_bundle() -> str:
    """Return the path of a PEM file holding the test CA's certificate."""
    folder = Path(tempfile.mkdtemp(prefix="rostersync-test-ca-"))
    path = folder / "ca.pem"
    test_ca().cert_pem.write_to_path(str(path))
    return str(path)


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    # Seconds to wait before answering at all (a slow server).
    delay: float = 0
    # Claim this Content-Length instead of the body's (None: the real length).
    content_length: int | None = None
    # Send the body in chunks of this many bytes with no Content-Length (0: all at once).
    chunk_size: int = 0
    # Seconds between bytes: the body is sent one byte at a time, its length declared (a server
    # dripping its answer; 0: at once). With drip_head, the status line and headers too.
    drip: float = 0
    drip_head: bool = False


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""  # What a POST sent (a webhook delivery).


class HTTPSServer:
    """Serve `routes` over TLS on 127.0.0.1 until stop(); see the module docstring."""

    def __init__(self, *, ca: trustme.CA | None = None):
        self.routes: dict[str, Reply | Callable[[Seen], Reply]] = {}
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        ca = ca or test_ca()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        # A client refusing the certificate or hanging up early is part of the tests: no traceback.
        self._httpd.handle_error = lambda request, client_address: None
        self._httpd.socket = context.wrap_socket(
            self._httpd.socket, server_side=True, do_handshake_on_connect=False
        )
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def url(self, path: str = "/", *, host: str = "127.0.0.1") -> str:
        return f"https://{host}:{self.port}{path}"

    def start(self) -> HTTPSServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def requests_to(self, path: str) -> list[Seen]:
        with self._lock:
            return [seen for seen in self.seen if seen.path == path]

    def _record(self, seen: Seen) -> Reply:
        with self._lock:
            self.seen.append(seen)
        route = self.routes.get(seen.path.split("?", 1)[0])
        if route is None:
            return Reply(404, b"not found", {"Content-Type": "text/plain"})
        return route(seen) if callable(route) else route

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                # The handshake happens in this connection's own thread, so a client that
                # rejects the certificate does not stall the accepting loop.
                try:
                    self.request.do_handshake()
                except (ssl.SSLError, OSError):
                    self.request.close()
                    raise
                super().setup()

            def do_GET(self):
                self._answer(server._record(Seen("GET", self.path, dict(self.headers.items()))))

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                seen = Seen("POST", self.path, dict(self.headers.items()), body)
                self._answer(server._record(seen))

            def _answer(self, reply):
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.drip:
                    self._drip(reply)
                    return
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    if reply.chunk_size:
                        self._send_chunked(reply)
                        return
                    length = (
                        len(reply.body) if reply.content_length is None else reply.content_length
                    )
                    self.send_header("Content-Length", str(length))
                    self.end_headers()
                    if reply.status != 304:
                        self.wfile.write(reply.body)
                except (ssl.SSLError, OSError):
                    pass  # The client gave up first (a timeout test, a refused size).

            def _drip(self, reply):
                head = (
                    f"HTTP/1.1 {reply.status} OK\r\nContent-Length: {len(reply.body)}\r\n"
                    + "".join(f"{name}: {value}\r\n" for name, value in reply.headers.items())
                    + "\r\n"
                ).encode()
                start = 0 if reply.drip_head else len(head)
                data = head + reply.body
                try:
                    self.wfile.write(data[:start])
                    for index in range(start, len(data)):  # Bounded by the reply's length.
                        self.wfile.write(data[index : index + 1])
                        self.wfile.flush()
                        time.sleep(reply.drip)
                except (ssl.SSLError, OSError):
                    pass  # The client hung up: what a deadline should make it do.
                self.close_connection = True

            def _send_chunked(self, reply):
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for start in range(0, len(reply.body), reply.chunk_size):
                    chunk = reply.body[start : start + reply.chunk_size]
                    self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")

            def log_message(self, format, *args):
                pass

        return Handler

"""The HTTP server: /metrics, /healthz, /readyz and /, hardened for an untrusted network.

It serves fixed, pre-rendered bytes and nothing else: no files, no directory listing, GET and
HEAD only. Every request is bounded (request line, header count and size, body) and every
connection has deadlines enforced by one reaper thread, so a slow or idle client holds a thread
for at most `timeout` per request. Connections beyond `max_connections` are refused at once
instead of queueing threads. TLS, basic auth and extra headers come from a Prometheus
web-config file (collector.webconfig); /healthz and /readyz stay open without basic auth so
kubelet probes, which cannot send credentials, keep working.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import gzip
import logging
import re
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from email.utils import formatdate
from http import HTTPStatus
from http.server import ThreadingHTTPServer
from typing import IO, Any, NoReturn, Protocol

from collector import exporter
from collector.webconfig import Watcher, WebConfig, peer_allowed

log = logging.getLogger(__name__)

MAX_REQUEST_LINE = 8192
MAX_HEADER_BYTES = 8192  # the whole header section
MAX_HEADERS = 100
MAX_BODY = 1024  # a scrape has no body; a small one is read and dropped, a larger one refused
TIMEOUT = 10.0  # per request: TLS handshake and head, then body and response, then idle time
MAX_CONNECTIONS = 100

# Basic auth guards what the collector measures; the probes reveal nothing and kubelet cannot
# authenticate, so they stay open.
OPEN_PATHS = frozenset({"/healthz", "/readyz"})
ALLOW = "GET, HEAD"
TEXT = "text/plain; charset=utf-8"
INDEX = b'<html><body><h1>adoption-collector</h1><a href="/metrics">metrics</a></body></html>\n'

_TOKEN = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_VERSION = re.compile(r"^HTTP/\d\.\d$")
_TARGET = re.compile(rb"^[!-~]+$")  # visible ASCII, no spaces or controls (RFC 9112 3.2)
LINGER_SECONDS = 1.0
LINGER_BYTES = 256 * 1024
_REFUSED = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: 21\r\nRetry-After: 1\r\nConnection: close\r\n\r\ntoo many connections\n"
)


class Source(Protocol):
    """What the server reads: the pipeline, or anything holding an exposition."""

    @property
    def exposition(self) -> exporter.Exposition: ...

    @property
    def ready(self) -> bool: ...


class _Gzipped:
    """The gzip body of the latest exposition, compressed once per published body, by the
    first scrape that asks for it; every other scrape of that body reuses it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._plain: bytes | None = None
        self._compressed = b""

    def of(self, body: bytes) -> bytes:
        with self._lock:
            if self._plain is not body:
                self._compressed = gzip.compress(body, compresslevel=6, mtime=0)
                self._plain = body
            return self._compressed


class _Deadlines:
    """Shuts down the socket of any connection past its deadline.

    A socket timeout bounds each read, not a request: a client sending one byte every few
    seconds would never time out. The reaper bounds the whole. It holds the lock while it shuts
    a socket down and a connection forgets its socket under the same lock before closing it, so
    a file descriptor reused by a new connection is never shut down by mistake.
    """

    def __init__(self, timeout: float) -> None:
        self.lock = threading.Lock()
        self._due: dict[socket.socket, float] = {}
        self._stop = threading.Event()
        self._period = min(1.0, max(0.05, timeout / 10))
        self._thread = threading.Thread(target=self._run, name="http-deadlines", daemon=True)
        self._thread.start()

    def set(self, sock: socket.socket, seconds: float) -> None:
        with self.lock:
            self._due[sock] = time.monotonic() + seconds

    def swap(self, old: socket.socket, new: Callable[[], socket.socket]) -> socket.socket:
        with self.lock:
            replacement = new()
            self._due[replacement] = self._due.pop(old, time.monotonic())
            return replacement

    def forget(self, sock: socket.socket) -> None:
        with self.lock:
            self._due.pop(sock, None)

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self._period):
            now = time.monotonic()
            with self.lock:
                for sock in [s for s, due in self._due.items() if due <= now]:
                    del self._due[sock]
                    # The plain socket's shutdown, also for an SSLSocket: it only wakes the
                    # connection's thread, which then closes the socket itself.
                    with contextlib.suppress(OSError):
                        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Stop(Exception):
    """The connection ends here (closed by the client, or answered with an error)."""


class _Request:
    def __init__(self, method: str, target: str, version: str, headers: list[tuple[str, str]]):
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers

    def get(self, name: str) -> list[str]:
        return [v for n, v in self.headers if n == name]


class _Connection(socketserver.BaseRequestHandler):
    server: MetricsServer
    request: socket.socket

    def setup(self) -> None:
        self.web = self.server.web_config()
        self.rfile: IO[bytes] = self.request.makefile("rb")

    def handle(self) -> None:
        try:
            while self._serve_one():
                self.server.deadlines.set(self.request, self.server.connection_timeout)
        except _Stop:
            pass
        except OSError:
            # Timeouts, resets and sockets the reaper shut down: the client is gone.
            pass

    def finish(self) -> None:
        self.rfile.close()

    # -- one request ------------------------------------------------------------------------

    def _serve_one(self) -> bool:
        """Answers one request; True if the connection stays open for another."""
        request = self._read_head()
        self.server.deadlines.set(self.request, self.server.connection_timeout)
        close = self._wants_close(request)
        if request.method not in ("GET", "HEAD"):
            # The body is never read: the connection closes after the answer.
            self._error(request, HTTPStatus.METHOD_NOT_ALLOWED, "method not allowed", ALLOW)
        path = _path(request.target)
        if path is None:
            self._error(request, HTTPStatus.BAD_REQUEST, "bad request target")
        self._drop_body(request)
        if path not in OPEN_PATHS and not self._authorized(request):
            self._respond(
                request,
                HTTPStatus.UNAUTHORIZED,
                b"unauthorized\n",
                close=close,
                extra=[("WWW-Authenticate", 'Basic realm="adoption-collector"')],
            )
        else:
            self._route(request, path, close)
        return not close

    def _route(self, request: _Request, path: str, close: bool) -> None:
        source = self.server.source
        status, content_type, extra = HTTPStatus.OK, TEXT, []
        if path == "/metrics":
            body = source.exposition.latest
            content_type = exporter.CONTENT_TYPE
            extra.append(("Vary", "Accept-Encoding"))
            if _accepts_gzip(request.get("accept-encoding")):
                body = self.server.gzipped.of(body)
                extra.append(("Content-Encoding", "gzip"))
        elif path == "/healthz":
            body = b"ok\n"
        elif path == "/readyz":
            ready = source.ready
            body = b"ready\n" if ready else b"first poll not done\n"
            status = HTTPStatus.OK if ready else HTTPStatus.SERVICE_UNAVAILABLE
        elif path == "/":
            body, content_type = INDEX, "text/html; charset=utf-8"
        else:
            status, body = HTTPStatus.NOT_FOUND, b"not found\n"
        self._respond(request, status, body, content_type, close=close, extra=extra)

    def _authorized(self, request: _Request) -> bool:
        if not self.web or not self.web.users:
            return True
        values = request.get("authorization")
        if len(values) != 1:
            return False
        scheme, _, credentials = values[0].partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        user, sep, password = decoded.partition(":")
        return bool(sep) and self.web.authorized(user, password)

    # -- reading ------------------------------------------------------------------------------

    def _read_head(self) -> _Request:
        line = self.rfile.readline(MAX_REQUEST_LINE + 1)
        if line in (b"\r\n", b"\n"):  # RFC 9112 2.2: tolerate an empty line before a request
            line = self.rfile.readline(MAX_REQUEST_LINE + 1)
        if not line:
            raise _Stop
        if len(line) > MAX_REQUEST_LINE:
            self._error(None, HTTPStatus.REQUEST_URI_TOO_LONG, "request line too long")
        if not line.endswith(b"\n"):
            raise _Stop  # the client closed mid-line
        parts = line.rstrip(b"\r\n").split(b" ")
        if len(parts) != 3 or not _TOKEN.match(parts[0]) or not _TARGET.match(parts[1]):
            self._error(None, HTTPStatus.BAD_REQUEST, "bad request line")
        method, target, version = (p.decode("latin-1") for p in parts)
        if version not in ("HTTP/1.1", "HTTP/1.0"):
            if _VERSION.match(version):
                self._error(None, HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, "HTTP/1.1 only")
            self._error(None, HTTPStatus.BAD_REQUEST, "bad request line")
        return _Request(method, target, version, self._read_headers(method))

    def _read_headers(self, method: str) -> list[tuple[str, str]]:
        headers: list[tuple[str, str]] = []
        size = 0
        while True:
            line = self.rfile.readline(MAX_HEADER_BYTES - size + 1)
            if not line:
                raise _Stop
            size += len(line)
            if size > MAX_HEADER_BYTES:
                self._error(
                    None, HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "request headers too large"
                )
            if line in (b"\r\n", b"\n"):
                return headers
            if not line.endswith(b"\n"):
                raise _Stop
            if len(headers) == MAX_HEADERS:
                self._error(
                    None, HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "too many request headers"
                )
            name, sep, value = line.partition(b":")
            # No obsolete line folding, no space before the colon (RFC 9112 5.1, 5.2).
            if not sep or not _TOKEN.match(name):
                self._error(None, HTTPStatus.BAD_REQUEST, "bad request header")
            headers.append((name.decode("latin-1").lower(), value.strip().decode("latin-1")))

    def _drop_body(self, request: _Request) -> None:
        if request.get("transfer-encoding"):
            self._error(request, HTTPStatus.LENGTH_REQUIRED, "request bodies need Content-Length")
        lengths = {v.strip() for value in request.get("content-length") for v in value.split(",")}
        if not lengths:
            return
        if len(lengths) > 1 or not all(v.isdigit() for v in lengths):
            self._error(request, HTTPStatus.BAD_REQUEST, "bad Content-Length")
        length = int(lengths.pop())
        if length > MAX_BODY:
            self._error(request, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "request body too large")
        if len(self.rfile.read(length)) < length:
            raise _Stop

    @staticmethod
    def _wants_close(request: _Request) -> bool:
        tokens = {t.strip().lower() for v in request.get("connection") for t in v.split(",")}
        return request.version == "HTTP/1.0" or "close" in tokens

    # -- writing ------------------------------------------------------------------------------

    def _error(
        self, request: _Request | None, status: HTTPStatus, message: str, allow: str = ""
    ) -> NoReturn:
        """Answers with an error and ends the connection (what follows cannot be trusted)."""
        extra = [("Allow", allow)] if allow else []
        self._respond(request, status, f"{message}\n".encode(), close=True, extra=extra)
        raise _Stop

    def _respond(
        self,
        request: _Request | None,
        status: HTTPStatus,
        body: bytes,
        content_type: str = TEXT,
        *,
        close: bool,
        extra: list[tuple[str, str]] | None = None,
    ) -> None:
        headers = [
            ("Server", "adoption-collector"),
            ("Date", formatdate(usegmt=True)),
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            *(extra or []),
            *(self.web.headers if self.web else ()),
        ]
        if close:
            headers.append(("Connection", "close"))
        head = f"HTTP/1.1 {status.value} {status.phrase}\r\n" + "".join(
            f"{name}: {value}\r\n" for name, value in headers
        )
        self.request.sendall(head.encode("latin-1") + b"\r\n")
        if request is None or request.method != "HEAD":
            self.request.sendall(body)


def _path(target: str) -> str | None:
    """The path of an origin-form or absolute-form target (RFC 9112 3.2), never decoded:
    only the exact paths served match, so there is nothing to traverse."""
    if target.startswith("/"):
        return target.split("?", 1)[0]
    scheme, sep, rest = target.partition("://")
    if sep and scheme.lower() in ("http", "https"):
        authority_end = min((i for i in (rest.find(c) for c in "/?") if i >= 0), default=-1)
        if authority_end < 0:
            return "/"
        return _path(rest[authority_end:]) if rest[authority_end] == "/" else "/"
    return None


def _accepts_gzip(values: list[str]) -> bool:
    for value in values:
        for item in value.split(","):
            coding, _, params = item.strip().partition(";")
            if coding.strip().lower() != "gzip":
                continue
            q = params.strip().lower().replace(" ", "")
            return not re.fullmatch(r"q=0(\.0*)?", q)
    return False


class MetricsServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer by type, for callers that hold one; none of http.server's request
    handling is used."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # a burst of scrapes queues in the kernel, not as SYN retries

    def __init__(
        self,
        host: str,
        port: int,
        source: Source,
        web: WebConfig | None = None,
        *,
        timeout: float = TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
        web_check_every: float = 1.0,
    ) -> None:
        self.source = source
        self.connection_timeout = timeout
        self.gzipped = _Gzipped()
        self._watcher = Watcher(web, web_check_every) if web else None
        # Fixed for the server's life: the listening socket is plain or TLS (see Watcher).
        self.tls = web is not None and web.tls is not None
        self._slots = threading.BoundedSemaphore(max_connections)
        self._max_connections = max_connections
        self._refusing_since = 0.0
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, port), _Connection)
        self.deadlines = _Deadlines(timeout)

    def web_config(self) -> WebConfig | None:
        return self._watcher.config if self._watcher else None

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self._refuse(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def _refuse(self, sock: socket.socket) -> None:
        now = time.monotonic()
        if now - self._refusing_since > 60:  # at most one line a minute under overload
            log.warning(
                "%d connections open, the most allowed: refusing new ones", self._max_connections
            )
            self._refusing_since = now
        # Best effort and never blocking: this runs on the thread accepting connections.
        sock.setblocking(False)
        try:
            if not self.tls:
                sock.send(_REFUSED)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        sock.close()

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        sock: socket.socket = request
        try:  # the slot is given back however the connection ends
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.settimeout(self.connection_timeout)
                self.deadlines.set(sock, self.connection_timeout)
                secure = self._secure(sock, client_address)
            except OSError:
                self.shutdown_request(sock)
                return
            if secure is not None:
                super().process_request_thread(secure, client_address)
        finally:
            self._slots.release()

    def _secure(self, sock: socket.socket, client_address: Any) -> socket.socket | None:
        """The TLS handshake, on the connection's own thread and under its deadline."""
        web = self.web_config()
        if web is None or web.tls is None or web.context is None:
            return sock
        context, tls = web.context, web.tls
        secure = self.deadlines.swap(
            sock,
            lambda: context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False),
        )
        try:
            secure.do_handshake()  # type: ignore[attr-defined]
        except (OSError, ValueError) as exc:
            log.debug("TLS handshake with %s failed: %s", client_address[0], exc)
            self.shutdown_request(secure)
            return None
        if not peer_allowed(tls, secure.getpeercert()):  # type: ignore[attr-defined]
            log.warning(
                "client certificate of %s has none of client_allowed_sans; connection closed",
                client_address[0],
            )
            self.shutdown_request(secure)
            return None
        return secure

    def server_bind(self) -> None:
        # HTTPServer's own looks the host name up in DNS, which can stall a start for seconds.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def shutdown_request(self, request: Any) -> None:
        """Closes a connection after a lingering read: closing with unread request bytes (say
        the body of a refused POST) makes the kernel send a reset, which can destroy the error
        response before the client reads it."""
        sock: socket.socket = request
        try:
            socket.socket.shutdown(sock, socket.SHUT_WR)
            sock.settimeout(LINGER_SECONDS)
            end = time.monotonic() + LINGER_SECONDS
            drained = 0
            while drained < LINGER_BYTES and time.monotonic() < end:
                chunk = socket.socket.recv(sock, 65536)
                if not chunk:
                    break
                drained += len(chunk)
        except OSError:
            pass
        self.deadlines.forget(sock)
        sock.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.exception("unexpected error serving %s", client_address[0])

    def server_close(self) -> None:
        super().server_close()
        self.deadlines.stop()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        if isinstance(host, bytes):
            host = host.decode()
        if ":" in host:
            host = f"[{host}]"
        return f"{'https' if self.tls else 'http'}://{host}:{port}"

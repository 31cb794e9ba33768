"""The HTTP plumbing the simulators share: a threaded server on 127.0.0.1 that a test can
start, stop for real (keep-alive connections cut too), start again at the same address
and use as a context manager, over plain HTTP or TLS; it counts the connections clients
open; and the injected faults, slow and cut answers included."""

from __future__ import annotations

import contextlib
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self


@dataclass(slots=True)
class Fault:
    pattern: re.Pattern[str]
    status: int
    times: int | None  # None: every matching request, forever
    retry_after: int | None
    body: bytes | None
    delay: float
    method: str | None = None  # None: any method
    # Seconds between TRICKLE_CHUNK-byte pieces of the body; the headers still announce
    # the whole length, so only a client that bounds the whole read notices.
    trickle: float = 0.0
    # Hang up: `send_body` stops half way through the body (a simulator may also hang up
    # before answering at all; KubeSimulator does unless `trickle` is set too).
    drop: bool = False


TRICKLE_CHUNK = 64  # bytes


class Faults:
    """Injected answers, matched against `path?query` in the order they were added."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending(self) -> int:
        """Faults not used up yet; a test can tell its fault was actually hit."""
        with self._lock:
            return len(self._faults)

    def take(self, method: str, target: str) -> Fault | None:
        """The first fault for this request, used up once its `times` run out."""
        with self._lock:
            for fault in self._faults:
                if fault.method not in (None, method) or not fault.pattern.search(target):
                    continue
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                return fault
        return None


def send_body(h: BaseHTTPRequestHandler, body: bytes, fault: Fault | None) -> None:
    """Write `body` (headers already sent) as `fault` says: at once, trickling, or cut off."""
    if fault is None or (not fault.trickle and not fault.drop):
        h.wfile.write(body)
        return
    end = len(body) // 2 if fault.drop else len(body)
    for start in range(0, end, TRICKLE_CHUNK):
        if start:
            time.sleep(fault.trickle)
        h.wfile.write(body[start : min(start + TRICKLE_CHUNK, end)])
    if fault.drop:
        hang_up(h)


def hang_up(h: BaseHTTPRequestHandler) -> None:
    """Close the connection at once, whatever the client still expects on it."""
    h.close_connection = True
    with contextlib.suppress(OSError):
        h.connection.shutdown(socket.SHUT_RDWR)


class Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keep-alive like the real servers, so client connection pooling is exercised.
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, every response on a
    # kept-alive connection would wait ~40 ms for a delayed ACK.
    disable_nagle_algorithm = True
    timeout = 60
    server: _Server
    # The subject of a verified client certificate: (CN, the Os), as the API server reads it.
    client_subject: tuple[str, tuple[str, ...]] | None = None

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            # The handshake happens here, in the connection's own thread, so one slow or
            # failing client never holds up the accept loop; a failure (the client does not
            # trust the CA, or its certificate does not verify) just ends the connection.
            self.request.settimeout(self.timeout)
            self.request.do_handshake()
            self.client_subject = _subject(self.request.getpeercert())
        super().setup()

    def do_GET(self) -> None:
        self.server.simulator.handle(self)

    # Every method reaches the simulator: faults and auth apply first, as on a real server.
    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _subject(cert: Any) -> tuple[str, tuple[str, ...]] | None:
    if not cert:  # none offered (a verified one is the only kind getpeercert returns)
        return None
    names = [pair for rdn in cert.get("subject", ()) for pair in rdn]
    common = [value for key, value in names if key == "commonName"]
    groups = tuple(value for key, value in names if key == "organizationName")
    return (common[0], groups) if common else None


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, simulator: Loopback, port: int, tls: ssl.SSLContext | None) -> None:
        self.simulator = simulator
        self.tls = tls
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.add(request)
        self.simulator.connections += 1  # only this thread accepts: no lock needed
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that time out and hang up are part of what is being simulated


class Loopback:
    """Base of a simulator: subclasses answer each request in `handle`."""

    thread_name = "simulator"
    _server: _Server | None = None
    _thread: threading.Thread | None = None
    _port = 0  # once started, a restart binds the same port: a server back at its address
    # Connections clients opened so far (a client that keeps its connections alive opens few).
    connections = 0

    def tls_context(self) -> ssl.SSLContext | None:
        """The server's TLS context; None serves plain HTTP."""
        return None

    def handle(self, h: Handler) -> None:
        raise NotImplementedError

    def start(self) -> Self:
        if self._server is not None:
            return self
        self._server = _Server(self, self._port, self.tls_context())
        self._port = int(self._server.server_address[1])
        # A short poll interval keeps stop() (and so every test's teardown) quick.
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), name=self.thread_name, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        # Cut keep-alive connections too, so clients see a server that is really gone.
        with server.sockets_lock:
            for sock in list(server.open_sockets):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("simulator is not running")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The server root."""
        scheme = "https" if self._server is not None and self._server.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

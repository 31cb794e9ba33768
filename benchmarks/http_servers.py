"""Which HTTP server replaces collector.http: the candidates side by side, in one run.

`python -m benchmarks.http_servers [--scale S] [--repeat N]` measures, for each candidate:

1. Scrapes. The collector process runs the real pipeline against the simulated big cluster
   (50,000 workloads times the scale) and every candidate at once, each on its own port,
   each serving the same pre-rendered `pipeline.exposition.latest` (gzipped once per body).
   Twenty scrapers (benchmarks.scrape's, gzip, kept alive, every 100 ms) scrape one
   candidate for the whole of one poll; the candidates take turns, poll after poll, in an
   order rotated every round. p50 and p99 are per window, then the median over windows.
2. Hostile clients. The candidates serve a fixed body in a process of their own; small
   probes (loopback only, bounded in time) play a slow client, idle connections, oversized
   requests, a connection flood and a large POST.
3. TLS with client certificates (RequireAndVerifyClientCert against a CA): what is refused,
   whether the app can see the client's SANs, whether a hung handshake stalls other
   clients, and whether a rotated certificate is served without a restart (for servers on
   Python's ssl: an SNI callback that swaps the connection's context, which must fire for
   a client that sends no SNI, as one connecting by IP address does).

Every server gets the limits of collector.http where it has a setting for them: a
100-connection cap, 10 s timeouts, 8 KiB of request head, a backlog of 128.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import json
import select
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import types
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http import HTTPStatus
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Protocol

from benchmarks.context import BIG, Context
from benchmarks.cycle import start_pipeline, timed_cycle
from benchmarks.measure import BenchError, Child, median, percentile
from collector import exporter

HOST = "127.0.0.1"
# As collector.service sets it: a scrape's I/O waits less for the GIL during a poll.
SWITCH_INTERVAL = 0.001
# "current" is the hand-written server (collector/http.py and its web config) as of this
# commit, loaded from git: the migration replaces it in the work tree.
BASELINE_COMMIT = "da2ffbb"
MAX_CONNECTIONS = 100
TIMEOUT = 10  # seconds: keep-alive idle, request head
MAX_HEAD = 8192
MAX_BODY = 1024
BACKLOG = 128
SLOW_LIMIT = 45.0  # how long the slow and idle probes wait for the server to give up
ALLOWED_SANS = frozenset({"prometheus"})

CANDIDATES = (
    "current",
    "cheroot",
    "uvicorn-httptools",
    "uvicorn-httptools-uvloop",
    "uvicorn-h11",
    "hypercorn",
    "granian",
)
# One instance per server family is enough for TLS; "uvicorn-live" reloads the chain into
# the live context instead of swapping contexts in an SNI callback.
TLS_CANDIDATES = ("current", "cheroot", "uvicorn-httptools", "uvicorn-live", "hypercorn", "granian")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class Source(Protocol):
    @property
    def exposition(self) -> exporter.Exposition: ...

    @property
    def ready(self) -> bool: ...


class Fixed:
    """A Source with a fixed body, for the probes."""

    def __init__(self, body: bytes) -> None:
        self.exposition = exporter.Exposition()
        self.exposition.publish(body)
        self.ready = True


# -- the application every candidate serves -------------------------------------------------


class App:
    """/metrics (gzipped once per published body), /healthz, /peer (what the app can learn
    of the client certificate); GET and HEAD only, 405 for anything else (body unread)."""

    def __init__(self, source: Source, allowed_sans: frozenset[str] = frozenset()) -> None:
        self.source = source
        self.allowed_sans = allowed_sans
        self._lock = threading.Lock()
        self._plain: bytes | None = None
        self._gzipped = b""

    def gzipped(self, body: bytes) -> bytes:
        with self._lock:
            if self._plain is not body:
                self._gzipped = gzip.compress(body, compresslevel=6, mtime=0)
                self._plain = body
            return self._gzipped

    def answer(
        self, method: str, path: str, accept_encoding: str, peer: str | None, sans: set[str] | None
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """peer: what the server told the app of the client certificate (None: nothing);
        sans: the client certificate's SANs if the app could learn them."""
        if method not in ("GET", "HEAD"):
            return 405, [("Allow", "GET, HEAD"), ("Content-Type", "text/plain")], b"no\n"
        if self.allowed_sans and sans is not None and sans.isdisjoint(self.allowed_sans):
            return 403, [("Content-Type", "text/plain")], b"client certificate not allowed\n"
        headers = [("Content-Type", "text/plain; charset=utf-8")]
        if path == "/metrics":
            body = self.source.exposition.latest
            headers = [("Content-Type", exporter.CONTENT_TYPE), ("Vary", "Accept-Encoding")]
            if "gzip" in accept_encoding:
                body = self.gzipped(body)
                headers.append(("Content-Encoding", "gzip"))
        elif path == "/healthz":
            body = b"ok\n"
        elif path == "/peer":
            body = f"{peer}\n".encode()
        else:
            return 404, headers, b"not found\n"
        return 200, headers, body

    # ASGI (uvicorn, hypercorn, granian)
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        accept = b""
        for name, value in scope["headers"]:
            if name.lower() == b"accept-encoding":
                accept = value
        tls = (scope.get("extensions") or {}).get("tls")
        sans = None
        if tls and tls.get("client_cert_chain"):
            sans = _pem_sans(tls["client_cert_chain"][0])
        peer = f"extensions={sorted(scope.get('extensions') or {})} tls={tls!r:.200}"
        status, headers, body = self.answer(
            scope["method"], scope["path"], accept.decode("latin-1"), peer, sans
        )
        headers.append(("Content-Length", str(len(body))))
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(n.encode(), v.encode()) for n, v in headers],
            }
        )
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
        )

    # WSGI (cheroot)
    def wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        found = {k: v for k, v in environ.items() if k.startswith("SSL_CLIENT_SAN_")}
        sans = set(found.values()) if environ.get("wsgi.url_scheme") == "https" else None
        status, headers, body = self.answer(
            environ["REQUEST_METHOD"],
            environ["PATH_INFO"],
            environ.get("HTTP_ACCEPT_ENCODING", ""),
            f"{sorted(found.items())}",
            sans,
        )
        headers.append(("Content-Length", str(len(body))))
        start_response(f"{status} {HTTPStatus(status).phrase}", headers)
        return [b"" if environ["REQUEST_METHOD"] == "HEAD" else body]


def _pem_sans(pem: str) -> set[str]:
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(pem.encode())
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return set()
    return {str(v) for v in ext.value.get_values_for_type(x509.DNSName)}


# -- TLS: a context that can be swapped under a running server ------------------------------


@dataclass
class Tls:
    cert: Path
    key: Path
    ca: Path
    fired: list[str | None] = field(default_factory=list)  # server names the callback saw
    current: ssl.SSLContext | None = None

    def context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cafile=self.ca)
        return context

    def swapping(self, context: ssl.SSLContext) -> ssl.SSLContext:
        """`context`, its connections moved onto `current` as their handshake starts."""
        self.current = self.context()
        context.sni_callback = self._swap
        return context

    def _swap(self, conn: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        self.fired.append(name)
        if self.current is not None:
            conn.context = self.current

    def rotate(self) -> None:
        self.current = self.context()


# -- the candidates, each started in this process on a thread of its own -------------------


@dataclass
class Running:
    name: str
    port: int
    stop: Callable[[], None]
    rotate: Callable[[], None] = lambda: None
    tls: Tls | None = None


def _nothing() -> None:
    pass


def _listening(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise BenchError(f"nothing listens on port {port}")


def _socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, 0))
    sock.listen(BACKLOG)
    return sock


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _baseline() -> tuple[Any, Any]:
    """collector.http and collector.webconfig as of BASELINE_COMMIT, as private modules."""
    root = Path(__file__).resolve().parents[1]
    modules = []
    for name in ("webconfig", "http"):
        module_name = f"_baseline_{name}"
        if module_name not in sys.modules:
            source = subprocess.run(
                ["git", "-C", str(root), "show", f"{BASELINE_COMMIT}:collector/{name}.py"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            source = source.replace("from collector.webconfig ", "from _baseline_webconfig ")
            module = types.ModuleType(module_name)
            sys.modules[module_name] = module
            exec(compile(source, f"{BASELINE_COMMIT}:collector/{name}.py", "exec"), vars(module))
        modules.append(sys.modules[module_name])
    return modules[0], modules[1]


def start_current(source: Source, tls: Tls | None, web: Path | None) -> Running:
    webconfig, http = _baseline()
    config = webconfig.load(web) if web else None
    server = http.MetricsServer(HOST, 0, source, config, web_check_every=1.0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()

    # The web-config watcher re-reads changed files at the first connection a second on.
    return Running("current", server.server_address[1], stop, lambda: time.sleep(1.2), tls)


def start_cheroot(source: Source, tls: Tls | None) -> Running:
    from cheroot import wsgi

    app = App(source, ALLOWED_SANS if tls else frozenset())
    server = wsgi.Server((HOST, 0), app.wsgi, numthreads=10)
    server.timeout = TIMEOUT
    server.keep_alive_conn_limit = MAX_CONNECTIONS  # default 10: scrapers past it reconnect
    server.max_request_header_size = MAX_HEAD
    server.max_request_body_size = MAX_BODY
    server.request_queue_size = BACKLOG
    if tls:
        from cheroot.ssl.builtin import BuiltinSSLAdapter

        adapter = BuiltinSSLAdapter(str(tls.cert), str(tls.key))
        adapter.context = tls.swapping(tls.context())
        server.ssl_adapter = adapter
    server.prepare()
    port = int(server.bind_addr[1])
    threading.Thread(target=server.serve, daemon=True).start()
    _listening(port)
    return Running("cheroot", port, server.stop, tls.rotate if tls else lambda: None, tls)


def _san_checking(base: type[asyncio.Protocol]) -> type[asyncio.Protocol]:
    """A uvicorn protocol that closes TLS connections whose client certificate has none of
    ALLOWED_SANS: the only place uvicorn lets code see the peer certificate."""

    class Checked(base):  # type: ignore[valid-type,misc]
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            peer = transport.get_extra_info("peercert")
            if peer is not None:
                names = {str(v) for _k, v in peer.get("subjectAltName", ())}
                if names.isdisjoint(ALLOWED_SANS):
                    transport.close()

    return Checked


def start_uvicorn(
    name: str, source: Source, tls: Tls | None, http: str, loop: str, *, live: bool = False
) -> Running:
    import uvicorn

    options: dict[str, Any] = {}
    if http == "h11":
        options["h11_max_incomplete_event_size"] = MAX_HEAD
    if tls:
        options |= {
            "ssl_certfile": str(tls.cert),
            "ssl_keyfile": str(tls.key),
            "ssl_ca_certs": str(tls.ca),
            "ssl_cert_reqs": ssl.CERT_REQUIRED,
        }
    config = uvicorn.Config(
        App(source),
        http=http,
        loop=loop,
        lifespan="off",
        log_level="error",
        access_log=False,
        limit_concurrency=MAX_CONNECTIONS,
        timeout_keep_alive=TIMEOUT,
        backlog=BACKLOG,
        **options,
    )
    config.load()
    rotate = _nothing
    if tls:
        from uvicorn.protocols.http.h11_impl import H11Protocol
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        config.http_protocol_class = _san_checking(
            H11Protocol if http == "h11" else HttpToolsProtocol
        )
        live_context = config.ssl
        assert live_context is not None
        if live:

            def rotate() -> None:  # the same context, its chain loaded again
                live_context.load_cert_chain(tls.cert, tls.key)

        else:
            tls.swapping(live_context)
            rotate = tls.rotate
    server = uvicorn.Server(config)
    sock = _socket()
    port = sock.getsockname()[1]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    _listening(port)

    def stop() -> None:
        server.should_exit = True
        thread.join(10)

    return Running(name, port, stop, rotate, tls)


def start_hypercorn(source: Source, tls: Tls | None) -> Running:
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    class Swapping(Config):
        def create_ssl_context(self) -> ssl.SSLContext | None:
            context = super().create_ssl_context()
            if context is not None and tls is not None:
                tls.swapping(context)
            return context

    config = Swapping()
    sock = _socket()
    port = sock.getsockname()[1]
    config.bind = [f"fd://{sock.fileno()}"]
    config.keep_alive_timeout = TIMEOUT
    config.h11_max_incomplete_size = MAX_HEAD
    config.backlog = BACKLOG
    config.accesslog = None
    config.errorlog = None
    if tls:
        config.certfile = str(tls.cert)
        config.keyfile = str(tls.key)
        config.ca_certs = str(tls.ca)
        config.verify_mode = ssl.CERT_REQUIRED
    stopping = threading.Event()

    async def shutdown_trigger() -> None:
        while not stopping.is_set():
            await asyncio.sleep(0.2)

    app = App(source, ALLOWED_SANS if tls else frozenset())
    thread = threading.Thread(
        target=asyncio.run,
        args=(serve(app, config, shutdown_trigger=shutdown_trigger, mode="asgi"),),  # type: ignore[arg-type]
        daemon=True,
    )
    thread.start()
    _listening(port)

    def stop() -> None:
        stopping.set()
        thread.join(10)
        sock.close()

    return Running("hypercorn", port, stop, tls.rotate if tls else lambda: None, tls)


def start_granian(source: Source, tls: Tls | None) -> Running:
    """Embedded (granian.server.embed, "experimental"): the Rust server on this process's
    asyncio loop, calling the ASGI app on that loop. WSGI is not available embedded."""
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings
    from granian.server.embed import Server

    port = _free_port()
    loop = asyncio.new_event_loop()
    holder: list[Any] = []
    app = App(source, ALLOWED_SANS if tls else frozenset())

    def run() -> None:
        asyncio.set_event_loop(loop)
        options: dict[str, Any] = {}
        if tls:
            options = {
                "ssl_cert": tls.cert,
                "ssl_key": tls.key,
                "ssl_ca": tls.ca,
                "ssl_client_verify": True,
            }
        server: Any = Server(
            app,
            address=HOST,
            port=port,
            interface=Interfaces.ASGINL,
            http=HTTPModes.http1,
            websockets=False,
            runtime_threads=1,
            backlog=BACKLOG,
            backpressure=MAX_CONNECTIONS,
            http1_settings=HTTP1Settings(
                header_read_timeout=TIMEOUT * 1000, max_buffer_size=MAX_HEAD
            ),
            log_enabled=False,
            **options,
        )
        holder.append(server)
        loop.run_until_complete(server.serve())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    _listening(port)

    def stop() -> None:
        loop.call_soon_threadsafe(holder[0].stop)
        thread.join(10)

    def rotate() -> None:  # respawns the worker, which reads the certificate files again
        loop.call_soon_threadsafe(holder[0].reload)
        time.sleep(2)

    return Running("granian", port, stop, rotate, tls)


def start(name: str, source: Source, tls: Tls | None = None, web: Path | None = None) -> Running:
    if name == "current":
        return start_current(source, tls, web)
    if name == "cheroot":
        return start_cheroot(source, tls)
    if name == "uvicorn-httptools":
        return start_uvicorn(name, source, tls, "httptools", "asyncio")
    if name == "uvicorn-live":
        return start_uvicorn(name, source, tls, "httptools", "asyncio", live=True)
    if name == "uvicorn-httptools-uvloop":
        return start_uvicorn(name, source, tls, "httptools", "uvloop")
    if name == "uvicorn-h11":
        return start_uvicorn(name, source, tls, "h11", "asyncio")
    if name == "hypercorn":
        return start_hypercorn(source, tls)
    if name == "granian":
        return start_granian(source, tls)
    raise ValueError(name)


# -- 1. scrapes during polls --------------------------------------------------------------


def serve_polling(conn: Connection, kubeconfig: str, state_path: str, names: list[str]) -> None:
    """The collector process: the pipeline past its first poll, every candidate serving its
    exposition, then one poll per "poll" until "stop"."""
    sys.setswitchinterval(SWITCH_INTERVAL)
    pipeline = start_pipeline({BIG: kubeconfig}, Path(state_path))
    running = [start(name, pipeline) for name in names]
    snapshot = pipeline.snapshot
    try:
        conn.send(
            {
                "ports": {r.name: r.port for r in running},
                "bytes": len(pipeline.exposition.latest),
                "gzipped": len(gzip.compress(pipeline.exposition.latest)),
                "teams": snapshot.active_teams if snapshot is not None else 0,
            }
        )
        while conn.recv() == "poll":
            conn.send(timed_cycle(pipeline))
    finally:
        for r in running:
            with contextlib.suppress(Exception):
                r.stop()


@dataclass
class Windows:
    p50: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)
    polls: list[float] = field(default_factory=list)
    scrapes: int = 0
    failures: int = 0


def scrape_windows(ctx: Context, names: Sequence[str]) -> tuple[dict[str, Windows], dict[str, Any]]:
    # benchmarks.scrape imports the service, and so the server being migrated: only here.
    from benchmarks.scrape import _Scrapers

    big = ctx.big()
    results = {name: Windows() for name in names}
    with Child(
        serve_polling, big.kubeconfigs[BIG], str(ctx.workdir / "servers.db"), list(names)
    ) as collector:
        ready = collector.recv()
        for round_ in range(ctx.repeat):
            order = list(names[round_ % len(names) :]) + list(names[: round_ % len(names)])
            for name in order:
                with _Scrapers(ready["ports"][name]) as scrapers:
                    collector.send("poll")
                    took = float(collector.recv())
                w = results[name]
                w.polls.append(took)
                w.scrapes += len(scrapers.latencies)
                w.failures += scrapers.failures
                if scrapers.latencies:
                    ms = [t * 1000 for t in scrapers.latencies]
                    w.p50.append(median(ms))
                    w.p99.append(percentile(ms, 0.99))
                _progress(
                    f"   round {round_ + 1} {name}: poll {took:.1f}s, "
                    f"p99 {w.p99[-1] if w.p99 else float('nan'):.1f} ms, "
                    f"{len(scrapers.latencies)} scrapes, {scrapers.failures} failed"
                )
        collector.send("stop")
        collector.result()
    return results, ready


# -- 2. hostile clients -------------------------------------------------------------------


def _connect(port: int, timeout: float = 5.0) -> socket.socket:
    return socket.create_connection((HOST, port), timeout=timeout)


def _status(data: bytes) -> str:
    line = data.split(b"\r\n", 1)[0].decode("latin-1")
    parts = line.split(" ", 2)
    return parts[1] if len(parts) >= 2 and parts[0].startswith("HTTP/") else f"{line[:30]!r}"


def _wait_closed(sock: socket.socket, limit: float) -> tuple[float | None, bytes]:
    """Seconds until the server closed the connection (None: still open at `limit`), and
    what it sent meanwhile."""
    started = time.monotonic()
    received = b""
    while (elapsed := time.monotonic() - started) < limit:
        ready, _, _ = select.select([sock], [], [], 0.5)
        if not ready:
            continue
        try:
            chunk = sock.recv(65536)
        except OSError:
            return elapsed, received
        if not chunk:
            return elapsed, received
        received += chunk
    return None, received


def _closed_after(seconds: float | None, received: bytes, limit: float) -> str:
    sent = f", sent {_status(received)}" if received else ""
    if seconds is None:
        return f"open at {limit:.0f} s{sent}"
    return f"closed after {seconds:.1f} s{sent}"


def probe_slow_headers(port: int, limit: float = SLOW_LIMIT) -> str:
    """A client sending its head one byte a second: when is it cut off?"""
    with _connect(port) as sock:
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < limit:
            ready, _, _ = select.select([sock], [], [], 1.0)
            try:
                if ready:
                    data = sock.recv(65536)
                    return (
                        _closed_after(elapsed, data, limit)
                        if not data
                        else (f"answered {_status(data)} after {elapsed:.1f} s")
                    )
                sock.sendall(b"a")
            except OSError:
                return f"reset after {elapsed:.1f} s"
        return f"open at {limit:.0f} s (no head deadline)"


def probe_idle_keepalive(port: int, limit: float = SLOW_LIMIT) -> str:
    """A kept-alive connection left idle after one request: closed after?"""
    with _connect(port) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        head = sock.recv(65536)
        seconds, _ = _wait_closed(sock, limit)
        return f"{_status(head)}, then " + _closed_after(seconds, b"", limit)


def probe_idle_new(port: int, limit: float = SLOW_LIMIT) -> str:
    """A connection that never sends a byte: closed after?"""
    with _connect(port) as sock:
        seconds, received = _wait_closed(sock, limit)
        return _closed_after(seconds, received, limit)


def _one_shot(port: int, data: bytes, wait: float = 5.0) -> str:
    """Sends `data`, then reports the status (or how the connection ended)."""
    with _connect(port, timeout=wait) as sock:
        try:
            sock.sendall(data)
        except TimeoutError:
            pass  # the server stopped reading: see what it answered
        except OSError as exc:
            return f"{type(exc).__name__} while sending"
        try:
            seconds, received = _wait_closed(sock, wait)
        except OSError as exc:
            return type(exc).__name__
        if received:
            return _status(received) + (" (then closed)" if seconds is not None else "")
        return "closed, no response" if seconds is not None else f"no answer in {wait:.0f} s"


def probe_long_line(port: int, size: int) -> str:
    return _one_shot(port, b"GET /" + b"a" * size + b" HTTP/1.1\r\nHost: localhost\r\n\r\n")


def probe_big_header(port: int, size: int) -> str:
    return _one_shot(
        port, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"a" * size + b"\r\n\r\n"
    )


def probe_many_headers(port: int, count: int) -> str:
    headers = b"".join(b"X-H%d: v\r\n" % i for i in range(count))
    return _one_shot(port, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n" + headers + b"\r\n")


def probe_flood(port: int, count: int = 200, wait: float = 10.0) -> str:
    """`count` connections at once, each sending one request: what answers?"""
    outcomes: Counter[str] = Counter()
    socks: list[socket.socket] = []
    for _ in range(count):
        try:
            socks.append(_connect(port, timeout=3))
        except OSError as exc:
            outcomes[f"connect {type(exc).__name__}"] += 1
    pending: dict[socket.socket, bytes] = {}
    for sock in socks:
        try:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            pending[sock] = b""
        except OSError:
            outcomes["send failed"] += 1
    deadline = time.monotonic() + wait
    while pending and time.monotonic() < deadline:
        ready, _, _ = select.select(list(pending), [], [], 0.5)
        for sock in ready:
            try:
                chunk = sock.recv(65536)
            except OSError:
                outcomes["reset"] += 1
                del pending[sock]
                continue
            if not chunk:
                outcomes["closed"] += 1
                del pending[sock]
                continue
            pending[sock] += chunk
            if b"\r\n" in pending[sock]:
                outcomes[_status(pending.pop(sock))] += 1
    if pending:
        outcomes[f"no answer in {wait:.0f} s"] += len(pending)
    for sock in socks:
        sock.close()
    return ", ".join(f"{n}x {k}" for k, n in outcomes.most_common())


def probe_post(port: int, length: int = 100 * 2**20, seconds: float = 5.0) -> str:
    """A POST announcing a 100 MiB body: the status, and how much of the body the server
    takes in `seconds` (a few MiB fit in the kernel's buffers)."""
    with _connect(port) as sock:
        sock.sendall(
            b"POST /metrics HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream"
            b"\r\nContent-Length: %d\r\n\r\n" % length
        )
        sock.setblocking(False)
        chunk = b"x" * 65536
        sent, received, ended = 0, b"", ""
        started = time.monotonic()
        while time.monotonic() - started < seconds and sent < length:
            readable, writable, _ = select.select([sock], [sock], [], 0.2)
            try:
                if readable:
                    data = sock.recv(65536)
                    if not data:
                        ended = "closed"
                        break
                    received += data
                if writable:
                    sent += sock.send(chunk)
            except BlockingIOError:
                pass
            except OSError as exc:
                ended = type(exc).__name__
                break
        status = _status(received) if received else "no response"
        took = "whole body read" if sent >= length else f"{sent / 2**20:.0f} MiB taken"
        after = f"then {ended}" if ended else "connection left open"
        return f"{status}; {took}; {after}"


PROBES: dict[str, Callable[[int], str]] = {
    "slow head (1 byte/s)": probe_slow_headers,
    "idle after a request": probe_idle_keepalive,
    "idle, no request": probe_idle_new,
    "request line 10 KiB": lambda port: probe_long_line(port, 10 * 1024),
    "request line 1 MiB": lambda port: probe_long_line(port, 2**20),
    "one header 64 KiB": lambda port: probe_big_header(port, 64 * 1024),
    "500 small headers": lambda port: probe_many_headers(port, 500),
    "flood 200 connections": probe_flood,
    "POST, 100 MiB body": probe_post,
}
SLOW_PROBES = ("slow head (1 byte/s)", "idle after a request", "idle, no request")


def serve_fixed(conn: Connection, names: list[str]) -> None:
    sys.setswitchinterval(SWITCH_INTERVAL)
    source = Fixed(b"# TYPE x gauge\n" + b"x 1\n" * 20000)
    running = [start(name, source) for name in names]
    try:
        conn.send({r.name: r.port for r in running})
        conn.recv()
    finally:
        for r in running:
            with contextlib.suppress(Exception):
                r.stop()


def hostile(names: Sequence[str]) -> dict[str, dict[str, str]]:
    answers: dict[str, dict[str, str]] = {name: {} for name in names}
    with Child(serve_fixed, list(names)) as servers:
        ports = servers.recv()

        def run(name: str, probe: str) -> None:
            try:
                answers[name][probe] = PROBES[probe](ports[name])
            except Exception as exc:
                answers[name][probe] = f"probe failed: {type(exc).__name__}: {exc}"

        # The long waits side by side, then the quick probes one server at a time.
        with ThreadPoolExecutor(len(names) * len(SLOW_PROBES)) as pool:
            list(pool.map(lambda a: run(*a), [(n, p) for n in names for p in SLOW_PROBES]))
        for name in names:
            for probe in PROBES:
                if probe not in SLOW_PROBES:
                    run(name, probe)
                    time.sleep(0.5)
            _progress(f"   probed {name}")
        servers.send("stop")
        servers.result()
    return answers


# -- 3. TLS -------------------------------------------------------------------------------


def _make_pki(directory: Path) -> dict[str, Any]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from cryptography import x509

    from tests.http.pki import authority

    ca = authority(directory, "ca")
    rogue = authority(directory, "rogue-ca")
    first = ca.server(directory, "server-1")
    second = ca.server(directory, "server-2")
    files: dict[str, Any] = {
        "ca": str(ca.cert),
        "serials": [first.serial, second.serial],
        "second": [str(second.cert), str(second.key)],
    }
    clients = {
        "client": ca.issue(directory, "client", server=False, sans=[x509.DNSName("prometheus")]),
        "other": ca.issue(directory, "other", server=False, sans=[x509.DNSName("someone-else")]),
        "stranger": rogue.issue(directory, "stranger", server=False),
    }
    files["clients"] = {k: [str(v.cert), str(v.key)] for k, v in clients.items()}
    files["first"] = [str(first.cert), str(first.key)]
    return files


def serve_tls(conn: Connection, names: list[str], pki: dict[str, Any], workdir: str) -> None:
    sys.setswitchinterval(SWITCH_INTERVAL)
    source = Fixed(b"x 1\n")
    root = Path(workdir)
    running: list[Running] = []
    try:
        for name in names:  # each its own copy of the files, rotated in place later
            directory = root / name
            directory.mkdir()
            cert = Path(shutil.copy(pki["first"][0], directory / "server.crt"))
            key = Path(shutil.copy(pki["first"][1], directory / "server.key"))
            tls = Tls(cert, key, Path(pki["ca"]))
            web = directory / "web.yml"
            web.write_text(
                json.dumps(
                    {
                        "tls_server_config": {
                            "cert_file": str(cert),
                            "key_file": str(key),
                            "client_auth_type": "RequireAndVerifyClientCert",
                            "client_ca_file": pki["ca"],
                            "client_allowed_sans": sorted(ALLOWED_SANS),
                        }
                    }
                )
            )
            running.append(start(name, source, tls, web))
        conn.send({r.name: r.port for r in running})
        while (message := conn.recv()) != "stop":
            if message == "rotate":
                for r in running:
                    assert r.tls is not None
                    shutil.copy(pki["second"][0], r.tls.cert)
                    shutil.copy(pki["second"][1], r.tls.key)
                for r in running:
                    r.rotate()
            conn.send({r.name: list(r.tls.fired) if r.tls else [] for r in running})
    finally:
        for r in running:
            with contextlib.suppress(Exception):
                r.stop()


def _tls_get(
    port: int, ca: str, client: list[str] | None, path: str = "/metrics"
) -> tuple[str, int | None, bytes]:
    """(outcome, the server certificate's serial, body) of one request by IP address (so
    no SNI is sent)."""
    context = ssl.create_default_context(cafile=ca)
    if client:
        context.load_cert_chain(client[0], client[1])
    try:
        with (
            socket.create_connection((HOST, port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname=HOST) as sock,
        ):
            serial = int(str((sock.getpeercert() or {})["serialNumber"]), 16)
            sock.sendall(
                f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode()
            )
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
    except ssl.SSLError as exc:
        return f"TLS error {exc.reason or exc}", None, b""
    except OSError as exc:
        return f"{type(exc).__name__}", None, b""
    if not data:
        return "closed after handshake", serial, b""
    return _status(data), serial, data.split(b"\r\n\r\n", 1)[-1]


def _stall(port: int, ca: str, client: list[str]) -> str:
    """A good request while another connection sits without a handshake."""
    with _connect(port):
        time.sleep(0.3)
        started = time.monotonic()
        outcome, _, _ = _tls_get(port, ca, client, "/healthz")
        return f"{outcome} in {(time.monotonic() - started) * 1000:.0f} ms"


def tls_checks(names: Sequence[str], workdir: Path) -> dict[str, dict[str, str]]:
    directory = workdir / "pki"
    directory.mkdir()
    pki = _make_pki(directory)
    ca, clients = pki["ca"], pki["clients"]
    first, second = pki["serials"]
    found: dict[str, dict[str, str]] = {name: {} for name in names}
    served = workdir / "tls-served"
    served.mkdir()
    with Child(serve_tls, list(names), pki, str(served)) as servers:
        ports = servers.recv()
        for name in names:
            port, row = ports[name], found[name]
            outcome, serial, _ = _tls_get(port, ca, clients["client"])
            row["good client"] = outcome + ("" if serial == first else " (unexpected cert)")
            row["no client cert"] = _tls_get(port, ca, None)[0]
            row["cert of another CA"] = _tls_get(port, ca, clients["stranger"])[0]
            row["SAN not allowed"] = _tls_get(port, ca, clients["other"])[0]
            peer = _tls_get(port, ca, clients["client"], "/peer")[2].decode().strip()
            row["app sees"] = peer[:160] or "(nothing)"
            row["hung handshake beside"] = _stall(port, ca, clients["client"])
        servers.send("rotate")
        fired = servers.recv()
        for name in names:
            outcome, serial, _ = _tls_get(ports[name], ca, clients["client"])
            new = {first: "old cert", second: "new cert"}.get(serial or 0, "no cert")
            found[name]["after rotating the files"] = f"{outcome}, {new}"
            calls = fired[name]
            found[name]["SNI callback"] = (
                f"fired {len(calls)}x, server names {sorted(set(map(str, calls)))}"
                if calls
                else ("not fired" if name not in ("current", "granian", "uvicorn-live") else "n/a")
            )
        servers.send("stop")
        servers.result()
    return found


# -- report -------------------------------------------------------------------------------


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _transpose(answers: dict[str, dict[str, str]]) -> str:
    names = list(answers)
    checks = list(dict.fromkeys(k for row in answers.values() for k in row))
    return _table(["", *names], [[c, *(answers[n].get(c, "") for n in names)] for c in checks])


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for package in ("cheroot", "uvicorn", "httptools", "uvloop", "h11", "hypercorn", "granian"):
        try:
            found.append(f"{package}=={version(package)}")
        except PackageNotFoundError:
            found.append(f"{package} (missing)")
    return " ".join(found)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.http_servers")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3, help="windows per candidate")
    parser.add_argument("--only", action="append", choices=CANDIDATES)
    parser.add_argument("--skip", action="append", choices=("scrape", "hostile", "tls"), default=[])
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    names = args.only or list(CANDIDATES)
    results: dict[str, Any] = {"versions": _versions(), "scale": args.scale}
    _progress(f"{results['versions']}; scale {args.scale}, {args.repeat} windows each")
    with tempfile.TemporaryDirectory(prefix="http-servers-") as tmp:
        ctx = Context(args.scale, args.repeat, Path(tmp))
        try:
            if "scrape" not in args.skip:
                windows, ready = scrape_windows(ctx, names)
                results["scrape"] = {n: vars(w) for n, w in windows.items()}
                from benchmarks.scrape import PERIOD, SCRAPERS

                print(
                    f"\nScrapes: {ready['teams']} teams, {ready['bytes'] / 1024:.0f} KiB "
                    f"({ready['gzipped'] / 1024:.0f} KiB gzipped), {SCRAPERS} scrapers every "
                    f"{PERIOD * 1000:.0f} ms, one poll per window, {args.repeat} windows each\n"
                )
                print(
                    _table(
                        ["server", "p50 ms", "p99 ms", "p99 range", "poll s", "scrapes", "failed"],
                        [
                            [
                                n,
                                f"{median(w.p50):.1f}",
                                f"{median(w.p99):.1f}",
                                f"{min(w.p99):.0f}-{max(w.p99):.0f}",
                                f"{median(w.polls):.1f}",
                                w.scrapes,
                                w.failures,
                            ]
                            for n, w in windows.items()
                            if w.p99
                        ],
                    )
                )
        finally:
            ctx.close()
        if "hostile" not in args.skip:
            results["hostile"] = hostile(names)
            print("\nHostile clients\n\n" + _transpose(results["hostile"]))
        if "tls" not in args.skip:
            tls_names = [n for n in TLS_CANDIDATES if args.only is None or n in args.only]
            results["tls"] = tls_checks(tls_names, Path(tmp))
            print("\nTLS\n\n" + _transpose(results["tls"]))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

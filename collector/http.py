"""The HTTP surface: a small ASGI application on uvicorn (h11 parses requests, uvloop runs them).

Routes are declared once (`MetricsServer.routes`) and answered from what the last poll
published. Around uvicorn, only what it lacks: a deadline per request (a client that trickles
or never finishes its request is cut off), the client certificate's `client_allowed_sans`, and
certificates rotated without a restart (an SNI callback, called for every handshake, hands it
the web config's current context). GET and HEAD only; TLS, basic auth and headers come from the
web-config file; /healthz and /readyz stay open for kubelet.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import re
import socket
import ssl
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from collector import api, exporter, page
from collector.webconfig import Watcher, WebConfig, peer_allowed

if TYPE_CHECKING:
    from collector.explain import Drilldown

log = logging.getLogger(__name__)

MAX_HEAD_BYTES = 16384  # request line and headers not ended by then: 400 (h11)
TIMEOUT = 10.0  # each request, from its first byte (or the last response) to our last byte
MAX_CONNECTIONS = 100  # beyond: 503 (uvicorn's limit_concurrency)
TEXT, HTML = "text/plain; charset=utf-8", "text/html; charset=utf-8"
NO_STORE = ("Cache-Control", "no-store")
# The pages' own inline style and script, by hash, and nothing else.
PAGE_HEADERS = (NO_STORE, ("Content-Security-Policy", page.CONTENT_SECURITY_POLICY))
_CHALLENGE = (("WWW-Authenticate", 'Basic realm="adoption-collector"'),)
_BODY = frozenset({b"content-length", b"transfer-encoding"})


class Source(Protocol):
    """What the server reads: the pipeline, or anything holding what a poll published."""

    @property
    def exposition(self) -> exporter.Exposition: ...
    @property
    def ready(self) -> bool: ...
    @property
    def drilldown(self) -> Drilldown | None: ...


class Request(NamedTuple):
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    params: dict[str, str]  # the route's {placeholders}, decoded


class Reply(NamedTuple):
    status: int
    body: bytes
    content_type: str = TEXT
    headers: tuple[tuple[str, str], ...] = ()


class Route(NamedTuple):
    pattern: re.Pattern[str]
    handler: Callable[[Request], Reply]
    open: bool  # served without basic auth
    # Answered on a worker thread, not the event loop: a page or a 5,000-workload JSON answer
    # takes milliseconds that every scrape on the loop would otherwise wait out.
    offload: bool


def route(
    template: str, handler: Callable[[Request], Reply], *, open: bool = False, offload: bool = False
) -> Route:
    """An exact path, or one with {placeholders}, each a single path segment."""
    regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
    return Route(re.compile(regex), handler, open, offload)


class MetricsServer:
    """Binds at once (a taken port fails the start, not a thread), then serves on the thread
    that calls serve_forever() until shutdown()."""

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
        self.source, self.timeout = source, timeout
        self._watcher = Watcher(web, web_check_every) if web else None
        context = web.context if web else None  # plain or TLS for the server's life
        self.tls = context is not None
        self._socket = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        try:
            self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._socket.bind((host, port))
            self._socket.listen(128)  # a burst of scrapes queues in the kernel
        except OSError:
            self._socket.close()
            raise
        self.server_address = self._socket.getsockname()
        self.routes = [
            route("/metrics", self._metrics),
            route("/healthz", lambda _: Reply(200, b"ok\n"), open=True),
            route("/readyz", self._readyz, open=True),
            route("/", self._page(lambda d, _: (200, page.index_of(d))), offload=True),
            route("/teams/{team}", self._page(self._team), offload=True),
            route("/api/v1/summary", self._json(api.summary), offload=True),
            route("/api/v1/teams", self._json(api.teams), offload=True),
            route("/api/v1/teams/{team}", self._json(api.team), offload=True),
            route("/api/v1/workloads", self._json(api.workloads), offload=True),
            route("/api/v1/repositories", self._json(api.repositories), offload=True),
            route("/api/v1/history", self._json(api.history), offload=True),
        ]
        self._server = uvicorn.Server(
            uvicorn.Config(
                self,
                http=type("Connection", (_Connection,), {"owner": self}),
                loop="uvloop",
                lifespan="off",
                log_config=None,
                access_log=False,
                proxy_headers=False,
                server_header=False,
                limit_concurrency=max_connections + 1,  # it counts the asking connection too
                timeout_keep_alive=max(1, round(timeout)),
                timeout_graceful_shutdown=2,
                h11_max_incomplete_event_size=MAX_HEAD_BYTES,
                ssl_context_factory=(lambda *_: self._rotating(context)) if context else None,
            )
        )
        self._stopped = threading.Event()

    def web_config(self) -> WebConfig | None:
        return self._watcher.config if self._watcher else None

    def _metrics(self, request: Request) -> Reply:
        exposition = self.source.exposition  # pre-rendered and pre-gzipped per poll
        if _accepts_gzip(request.headers.get("accept-encoding", "")):
            headers = (("Vary", "Accept-Encoding"), ("Content-Encoding", "gzip"))
            return Reply(200, exposition.scrape(gzipped=True), exporter.CONTENT_TYPE, headers)
        body = exposition.scrape(gzipped=False)
        return Reply(200, body, exporter.CONTENT_TYPE, (("Vary", "Accept-Encoding"),))

    def _readyz(self, _request: Request) -> Reply:
        return Reply(200, b"ready\n") if self.source.ready else Reply(503, b"first poll not done\n")

    def _json(self, view: api.View) -> Callable[[Request], Reply]:
        def handler(request: Request) -> Reply:
            status, body = view(self.source.drilldown, request.query, request.params)
            return Reply(status, body, api.CONTENT_TYPE, (NO_STORE,))

        return handler

    def _page(
        self, render: Callable[[Drilldown, Request], tuple[int, bytes]]
    ) -> Callable[[Request], Reply]:
        def handler(request: Request) -> Reply:
            drilldown = self.source.drilldown
            status, body = (
                (503, page.not_ready()) if drilldown is None else render(drilldown, request)
            )
            return Reply(status, body, HTML, PAGE_HEADERS)

        return handler

    def _team(self, drilldown: Drilldown, request: Request) -> tuple[int, bytes]:
        name = request.params["team"]
        team = drilldown.team(name)
        return (200, page.team(team)) if team is not None else (404, page.not_found(name))

    async def __call__(self, scope: dict[str, Any], _receive: Any, send: Any) -> None:
        """The ASGI application."""
        web = self.web_config()
        reply = await self._answer(scope, web)
        headers = [
            ("Server", "adoption-collector"),
            ("Content-Type", reply.content_type),
            ("Content-Length", str(len(reply.body))),
            *reply.headers,
            *(web.headers if web else ()),
        ]
        if reply.status == 405 or any(k in _BODY for k, _ in scope["headers"]):
            headers.append(("Connection", "close"))  # nothing here reads a body: never read it
        start = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        await send({"type": "http.response.start", "status": reply.status, "headers": start})
        await send({"type": "http.response.body", "body": reply.body})  # uvicorn drops it for HEAD

    async def _answer(self, scope: dict[str, Any], web: WebConfig | None) -> Reply:
        if scope["method"] not in ("GET", "HEAD"):
            return Reply(405, b"method not allowed\n", headers=(("Allow", "GET, HEAD"),))
        # The path as sent, never decoded or normalised: only exact routes match, so there is
        # nothing to traverse. An absolute-form target (RFC 9112 3.2.2) is reduced to its path.
        path = scope["raw_path"].decode("latin-1")
        path = path if path.startswith("/") else urlsplit(path).path or "/"
        found = next(((r, m) for r in self.routes if (m := r.pattern.fullmatch(path))), None)
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:  # so two Authorization headers authorize no one
            key, text = name.decode("latin-1").lower(), value.decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        # Unknown paths need credentials too: they reveal nothing to a stranger.
        if not (found and found[0].open) and not await _authorized(
            web, headers.get("authorization")
        ):
            return Reply(401, b"unauthorized\n", headers=_CHALLENGE)
        if found is None:
            return Reply(404, b"not found\n")
        query = parse_qs(scope["query_string"].decode("latin-1"), keep_blank_values=True)
        params = {k: unquote(v) for k, v in found[1].groupdict().items()}
        request = Request(query, headers, params)
        if found[0].offload:
            return await asyncio.to_thread(found[0].handler, request)
        return found[0].handler(request)

    def _rotating(self, listening: ssl.SSLContext) -> ssl.SSLContext:
        def current(ssl_object: ssl.SSLObject, _name: str | None, _ctx: ssl.SSLContext) -> None:
            now = self.web_config()  # re-read when its files changed
            if now is not None and now.context is not None and now.context is not listening:
                ssl_object.context = now.context  # a rotated certificate, key or client CA

        listening.sni_callback = current
        return listening

    def serve_forever(self, poll_interval: float = 0.1) -> None:
        """socketserver's signature, for its callers; uvicorn looks for shutdown every 0.1 s."""
        try:
            self._server.run(sockets=[self._socket])
        finally:
            self._stopped.set()

    def shutdown(self) -> None:
        self._server.should_exit = True
        if self._server.started:
            self._stopped.wait(10)

    def server_close(self) -> None:
        self._socket.close()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"{'https' if self.tls else 'http'}://{f'[{host}]' if ':' in host else host}:{port}"


async def _authorized(web: WebConfig | None, authorization: str | None) -> bool:
    if web is None or not web.users:
        return True
    scheme, _, credentials = (authorization or "").partition(" ")
    try:
        user, sep, password = base64.b64decode(credentials, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    if scheme.lower() != "basic" or not sep:
        return False
    # bcrypt takes tens of milliseconds by design: never on the thread serving every scrape.
    return web.remembered(user, password) or await asyncio.to_thread(web.authorized, user, password)


def _accepts_gzip(value: str) -> bool:
    for item in value.split(","):
        coding, _, params = item.strip().partition(";")
        if coding.strip().lower() == "gzip":
            return not re.fullmatch(r"q=0(\.0*)?", params.strip().lower().replace(" ", ""))
    return False


class _Connection(H11Protocol):
    """uvicorn's h11 connection, with a deadline per request and `client_allowed_sans`."""

    owner: MetricsServer  # set on the subclass each server makes

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline = self.loop.call_later(self.owner.timeout, transport.abort)
        web, ssl_object = self.owner.web_config(), transport.get_extra_info("ssl_object")
        if web and web.tls and ssl_object and not peer_allowed(web.tls, ssl_object.getpeercert()):
            client = self.client[0] if self.client else "?"
            log.warning("client certificate of %s has none of client_allowed_sans", client)
            transport.abort()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._deadline.cancel()  # the next request, or idleness, gets a deadline of its own
        self._deadline = self.loop.call_later(self.owner.timeout, self.transport.abort)

    def connection_lost(self, exc: Exception | None) -> None:
        self._deadline.cancel()
        super().connection_lost(exc)

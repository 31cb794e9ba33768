"""What the server answers, byte for byte: paths, methods, malformed and oversized requests.

uvicorn (h11) parses requests; where its answer differs from the hand-written server's before
it (one 400 for every unparsable or oversized head, where that server had 414 and 431), the
expectation below states uvicorn's.
"""

from __future__ import annotations

import contextlib
import gzip
import time

import pytest

from collector import exporter
from collector.http import MAX_HEAD_BYTES
from tests.http.conftest import BODY, INVALID, Published, Raw, exchange, serving, text_response

NOT_FOUND = text_response("404 Not Found", b"not found\n")
METRICS = (
    "HTTP/1.1 200 OK",
    [
        ("server", "adoption-collector"),
        ("content-type", exporter.CONTENT_TYPE),
        ("content-length", str(len(BODY))),
        ("vary", "Accept-Encoding"),
    ],
    BODY,
)
NOT_ALLOWED = text_response(
    "405 Method Not Allowed", b"method not allowed\n", ("Allow", "GET, HEAD"), close=True
)


def get(path: str, method: str = "GET", extra: bytes = b"") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: collector\r\n".encode() + extra + b"\r\n"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/metrics", METRICS),
        ("/metrics?name[]=up", METRICS),
        ("http://collector:9853/metrics", METRICS),
        ("/healthz", text_response("200 OK", b"ok\n")),
        ("/readyz", text_response("200 OK", b"ready\n")),
        # Nothing but the routes' exact paths: no files, no listing, no decoding, no normalising.
        ("/nope", NOT_FOUND),
        ("/metrics/", NOT_FOUND),
        ("/Metrics", NOT_FOUND),
        ("//metrics", NOT_FOUND),
        ("/metrics/../metrics", NOT_FOUND),
        ("/%6detrics", NOT_FOUND),
        ("/../../../../etc/passwd", NOT_FOUND),
        ("/..%2f..%2fetc%2fpasswd", NOT_FOUND),
        ("/collector/", NOT_FOUND),
        ("/index.html", NOT_FOUND),
        ("/favicon.ico", NOT_FOUND),
        ("metrics", NOT_FOUND),  # neither origin- nor absolute-form
        ("/teams/", NOT_FOUND),
        ("/teams/a/b", NOT_FOUND),
        ("/api/v1/teams/", NOT_FOUND),
    ],
)
def test_paths_get_and_head(path: str, expected: tuple[str, list[tuple[str, str]], bytes]) -> None:
    with serving() as server, Raw(server.server_address) as raw:
        # One keep-alive connection: GET, then HEAD, then GET again.
        raw.send(get(path) + get(path, "HEAD") + get(path))
        assert raw.response() == expected
        status, headers, body = raw.response(head=True)
        assert (status, headers, body) == (expected[0], expected[1], b"")
        assert raw.response() == expected


def test_readyz_before_the_first_poll() -> None:
    with serving(Published(ready=False)) as server:
        assert exchange(server.server_address, get("/readyz")) == text_response(
            "503 Service Unavailable", b"first poll not done\n"
        )


@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("POST", "/metrics"),
        ("PUT", "/metrics"),
        ("DELETE", "/metrics"),
        ("PATCH", "/metrics"),
        ("OPTIONS", "*"),
        ("OPTIONS", "/metrics"),
        ("TRACE", "/"),
        ("CONNECT", "collector:9853"),
        ("PROPFIND", "/"),
        ("BREW", "/pot"),
        ("get", "/metrics"),  # methods are case-sensitive
    ],
)
def test_other_methods_are_not_allowed(method: str, target: str) -> None:
    with serving() as server, Raw(server.server_address) as raw:
        raw.send(get(target, method) + get("/metrics"))
        assert raw.response() == NOT_ALLOWED
        assert raw.closed()  # the request after it is never read


def test_a_refused_post_body_is_never_read_yet_the_answer_arrives() -> None:
    body = b"x" * (4 * 1024 * 1024)
    with serving() as server, Raw(server.server_address) as raw:
        raw.send(get("/metrics", "POST", f"Content-Length: {len(body)}\r\n".encode()))
        # The answer comes before the body is even sent: the server does not wait for it.
        assert raw.response() == NOT_ALLOWED
        assert raw.closed()


def test_the_request_head_is_bounded() -> None:
    with serving() as server:
        address = server.server_address
        # Well below the bound, a long target and many headers are served.
        target = "/" + "a" * (MAX_HEAD_BYTES // 2)
        assert exchange(address, f"GET {target} HTTP/1.1\r\nHost: c\r\n\r\n".encode()) == (
            NOT_FOUND
        )
        headers = b"".join(f"X-H{i}: v\r\n".encode() for i in range(100))
        assert exchange(address, get("/metrics", extra=headers)) == METRICS
        # A head that has not ended by the bound is refused, however it is made too long.
        for too_long in (
            f"GET /{'a' * MAX_HEAD_BYTES} HTTP/1.1\r\n".encode(),
            get("/metrics", extra=b"X: " + b"v" * MAX_HEAD_BYTES)[:-2],
            get("/metrics", extra=b"".join(f"X-H{i}: v\r\n".encode() for i in range(2000)))[:-2],
        ):
            with Raw(address) as raw:
                raw.send(too_long)
                assert raw.response() == INVALID
                assert raw.closed()
        # Nor is it buffered whole: a header line of a MiB is cut off long before its end (the
        # connection closes with most of it unread, so the kernel may reset it before the 400
        # is read).
        with Raw(address) as raw:
            with contextlib.suppress(ConnectionResetError):
                raw.send(get("/metrics", extra=b"X: " + b"v" * (1024 * 1024) + b"\r\n"))
            try:
                assert raw.response() == INVALID
                assert raw.closed()
            except ConnectionResetError:
                pass  # closed as well


def test_a_request_body_is_never_read_and_ends_the_connection() -> None:
    closing = (METRICS[0], [*METRICS[1], ("connection", "close")], BODY)
    with serving() as server:
        address = server.server_address
        for request in (
            get("/metrics", extra=b"Content-Length: 4\r\n") + b"body" + get("/healthz"),
            get("/metrics", extra=b"Transfer-Encoding: chunked\r\n") + b"0\r\n\r\n",
        ):
            with Raw(address) as raw:
                raw.send(request)
                assert raw.response() == closing
                assert raw.closed()
        with Raw(address) as raw:
            started = time.monotonic()
            # The body is never sent: the answer must not wait for it.
            raw.send(get("/metrics", extra=b"Content-Length: 5000000\r\n"))
            assert raw.response() == closing
            assert time.monotonic() - started < 1.0
            assert raw.closed()
        for lengths in (b"Content-Length: ten\r\n", b"Content-Length: 1\r\nContent-Length: 2\r\n"):
            assert exchange(address, get("/metrics", extra=lengths)) == INVALID


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /metrics\r\n\r\n",
        b"GET  /metrics HTTP/1.1\r\n\r\n",
        b"GET /metrics FOO\r\n\r\n",
        b"G(T /metrics HTTP/1.1\r\n\r\n",
        b"GET /m\x00etrics HTTP/1.1\r\nHost: c\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\nNo colon here\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\nX-A: 1\r\n folded\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\nHost : collector\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\n\r\n",  # HTTP/1.1 without Host
        b"\r\nGET /metrics HTTP/1.1\r\nHost: c\r\n\r\n",  # h11 allows no blank line first
    ],
)
def test_malformed_requests(request_bytes: bytes) -> None:
    with serving() as server, Raw(server.server_address) as raw:
        raw.send(request_bytes)
        assert raw.response() == INVALID
        assert raw.closed()


def test_connection_close_and_http_1_0() -> None:
    closing = ("HTTP/1.1 200 OK", [*METRICS[1], ("connection", "close")], BODY)
    with serving() as server:
        for request in (
            get("/metrics", extra=b"Connection: close\r\n"),
            get("/metrics", extra=b"Connection: keep-alive, Close\r\n"),
            b"GET /metrics HTTP/1.0\r\n\r\n",
        ):
            with Raw(server.server_address) as raw:
                raw.send(request)
                assert raw.response() == closing
                assert raw.closed()


def test_gzip_when_asked_compressed_once_when_published() -> None:
    source = Published(BODY * 100)
    with serving(source) as server, Raw(server.server_address) as raw:
        accept = b"Accept-Encoding: gzip\r\n"
        raw.send(get("/metrics", extra=accept) + get("/metrics", "HEAD", accept))
        status, headers, body = raw.response()
        assert status == "HTTP/1.1 200 OK"
        assert headers == [
            ("server", "adoption-collector"),
            ("content-type", exporter.CONTENT_TYPE),
            ("content-length", str(len(body))),
            ("vary", "Accept-Encoding"),
            ("content-encoding", "gzip"),
        ]
        assert gzip.decompress(body) == BODY * 100
        assert len(body) < len(BODY * 100) / 10
        assert raw.response(head=True) == (status, headers, b"")
        # Compressed once per published body, when published, not per scrape.
        assert body == source.exposition.both[1]
        source.exposition.publish(b"test_value 43.0\n")
        raw.send(get("/metrics", extra=b"Accept-Encoding: br, gzip;q=0.5, deflate\r\n"))
        assert gzip.decompress(raw.response()[2]) == b"test_value 43.0\n"
        # Not asked, or refused with q=0: plain.
        for refused in (b"", b"Accept-Encoding: identity\r\n", b"Accept-Encoding: gzip;q=0\r\n"):
            raw.send(get("/metrics", extra=refused))
            assert raw.response()[2] == b"test_value 43.0\n"

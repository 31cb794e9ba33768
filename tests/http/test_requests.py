"""What the server answers, byte for byte: paths, methods, malformed and oversized requests."""

from __future__ import annotations

import gzip
import time

import pytest

from collector import exporter
from collector.http import MAX_BODY, MAX_HEADER_BYTES, MAX_HEADERS, MAX_REQUEST_LINE
from tests.http.conftest import BODY, Published, Raw, exchange, serving, text_response

INDEX = b'<html><body><h1>adoption-collector</h1><a href="/metrics">metrics</a></body></html>\n'
NOT_FOUND = text_response("404 Not Found", b"not found\n")
METRICS = (
    "HTTP/1.1 200 OK",
    [
        ("Server", "adoption-collector"),
        ("Content-Type", exporter.CONTENT_TYPE),
        ("Content-Length", str(len(BODY))),
        ("Vary", "Accept-Encoding"),
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
        (
            "/",
            (
                "HTTP/1.1 200 OK",
                [
                    ("Server", "adoption-collector"),
                    ("Content-Type", "text/html; charset=utf-8"),
                    ("Content-Length", str(len(INDEX))),
                ],
                INDEX,
            ),
        ),
        # Nothing but the four exact paths: no files, no listing, no decoding, no normalising.
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


def test_request_line_limit() -> None:
    with serving() as server:
        # "GET " + target + " HTTP/1.1\r\n" is exactly the limit: served (404, unknown path).
        target = "/" + "a" * (MAX_REQUEST_LINE - len("GET / HTTP/1.1\r\n"))
        line = f"GET {target} HTTP/1.1\r\n".encode()
        assert len(line) == MAX_REQUEST_LINE
        assert exchange(server.server_address, line + b"\r\n") == NOT_FOUND
        with Raw(server.server_address) as raw:
            raw.send(f"GET {target}a HTTP/1.1\r\n\r\n".encode())
            assert raw.response() == text_response(
                "414 Request-URI Too Long", b"request line too long\n", close=True
            )
            assert raw.closed()


def test_header_count_and_size_limits() -> None:
    too_many = text_response(
        "431 Request Header Fields Too Large", b"too many request headers\n", close=True
    )
    too_large = text_response(
        "431 Request Header Fields Too Large", b"request headers too large\n", close=True
    )
    with serving() as server:
        address = server.server_address
        headers = b"".join(f"X-H{i}: v\r\n".encode() for i in range(MAX_HEADERS - 1))
        assert exchange(address, get("/metrics", extra=headers)) == METRICS
        more = headers + b"X-One-More: v\r\n"
        assert exchange(address, get("/metrics", extra=more)) == too_many
        # "Host: collector\r\n" + the filler + the blank line: exactly the limit, then one over.
        filler = MAX_HEADER_BYTES - len(b"Host: collector\r\n") - len(b"X: \r\n") - len(b"\r\n")
        exact = f"X: {'v' * filler}\r\n".encode()
        assert exchange(address, get("/metrics", extra=exact)) == METRICS
        over = f"X: {'v' * (filler + 1)}\r\n".encode()
        assert exchange(address, get("/metrics", extra=over)) == too_large
        # One line far above the limit is cut off at the limit, never buffered whole.
        huge = b"X: " + b"v" * (1024 * 1024) + b"\r\n"
        assert exchange(address, get("/metrics", extra=huge)) == too_large


def test_request_bodies_are_bounded() -> None:
    with serving() as server:
        address = server.server_address
        with Raw(address) as raw:
            # A small body is read and dropped: the next request on the connection is intact.
            small = f"Content-Length: {MAX_BODY}\r\n".encode()
            raw.send(get("/metrics", extra=small) + b"b" * MAX_BODY + get("/healthz"))
            assert raw.response() == METRICS
            assert raw.response() == text_response("200 OK", b"ok\n")
        with Raw(address) as raw:
            started = time.monotonic()
            # The body is never sent: the answer must not wait for it.
            raw.send(get("/metrics", extra=f"Content-Length: {MAX_BODY + 1}\r\n".encode()))
            assert raw.response() == text_response(
                "413 Request Entity Too Large", b"request body too large\n", close=True
            )
            assert time.monotonic() - started < 1.0
            assert raw.closed()
        chunked = get("/metrics", extra=b"Transfer-Encoding: chunked\r\n") + b"0\r\n\r\n"
        assert exchange(address, chunked) == text_response(
            "411 Length Required", b"request bodies need Content-Length\n", close=True
        )
        bad_length = text_response("400 Bad Request", b"bad Content-Length\n", close=True)
        for lengths in (b"Content-Length: ten\r\n", b"Content-Length: 1\r\nContent-Length: 2\r\n"):
            assert exchange(address, get("/metrics", extra=lengths)) == bad_length


@pytest.mark.parametrize(
    ("request_bytes", "expected"),
    [
        (b"GET /metrics\r\n\r\n", text_response("400 Bad Request", b"bad request line\n")),
        (
            b"GET  /metrics HTTP/1.1\r\n\r\n",
            text_response("400 Bad Request", b"bad request line\n"),
        ),
        (b"GET /metrics FOO\r\n\r\n", text_response("400 Bad Request", b"bad request line\n")),
        (b"G(T /metrics HTTP/1.1\r\n\r\n", text_response("400 Bad Request", b"bad request line\n")),
        (
            b"GET /m\x00etrics HTTP/1.1\r\n\r\n",
            text_response("400 Bad Request", b"bad request line\n"),
        ),
        (
            b"GET /metrics HTTP/2.0\r\n\r\n",
            text_response("505 HTTP Version Not Supported", b"HTTP/1.1 only\n"),
        ),
        (
            b"GET metrics HTTP/1.1\r\n\r\n",
            text_response("400 Bad Request", b"bad request target\n"),
        ),
        (
            b"GET /metrics HTTP/1.1\r\nNo colon here\r\n\r\n",
            text_response("400 Bad Request", b"bad request header\n"),
        ),
        (
            b"GET /metrics HTTP/1.1\r\nX-A: 1\r\n folded\r\n\r\n",
            text_response("400 Bad Request", b"bad request header\n"),
        ),
        (
            b"GET /metrics HTTP/1.1\r\nHost : collector\r\n\r\n",
            text_response("400 Bad Request", b"bad request header\n"),
        ),
    ],
)
def test_malformed_requests(
    request_bytes: bytes, expected: tuple[str, list[tuple[str, str]], bytes]
) -> None:
    status, headers, body = expected
    with serving() as server, Raw(server.server_address) as raw:
        raw.send(request_bytes)
        assert raw.response() == (status, [*headers, ("Connection", "close")], body)
        assert raw.closed()


def test_connection_close_and_http_1_0() -> None:
    closing = ("HTTP/1.1 200 OK", [*METRICS[1], ("Connection", "close")], BODY)
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
        with Raw(server.server_address) as raw:
            # A blank line before a request is tolerated (RFC 9112 2.2).
            raw.send(b"\r\n" + get("/healthz"))
            assert raw.response() == text_response("200 OK", b"ok\n")


def test_gzip_when_asked_compressed_once_per_published_body() -> None:
    source = Published(BODY * 100)
    with serving(source) as server, Raw(server.server_address) as raw:
        accept = b"Accept-Encoding: gzip\r\n"
        raw.send(get("/metrics", extra=accept) + get("/metrics", "HEAD", accept))
        status, headers, body = raw.response()
        assert status == "HTTP/1.1 200 OK"
        assert headers == [
            ("Server", "adoption-collector"),
            ("Content-Type", exporter.CONTENT_TYPE),
            ("Content-Length", str(len(body))),
            ("Vary", "Accept-Encoding"),
            ("Content-Encoding", "gzip"),
        ]
        assert gzip.decompress(body) == BODY * 100
        assert len(body) < len(BODY * 100) / 10
        assert raw.response(head=True) == (status, headers, b"")
        # The compressed bytes are the same object for every scrape of one published body.
        assert server.gzipped.of(source.exposition.latest) is server.gzipped.of(
            source.exposition.latest
        )
        source.exposition.publish(b"test_value 43.0\n")
        raw.send(get("/metrics", extra=b"Accept-Encoding: br, gzip;q=0.5, deflate\r\n"))
        assert gzip.decompress(raw.response()[2]) == b"test_value 43.0\n"
        # Not asked, or refused with q=0: plain.
        for refused in (b"", b"Accept-Encoding: identity\r\n", b"Accept-Encoding: gzip;q=0\r\n"):
            raw.send(get("/metrics", extra=refused))
            assert raw.response()[2] == b"test_value 43.0\n"

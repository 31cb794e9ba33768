"""Fixtures of the HTTP server tests: a server on loopback, a raw-socket client, certificates."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import bcrypt
import pytest

from collector import exporter
from collector.http import MetricsServer
from collector.webconfig import WebConfig
from tests.http.pki import Authority, Issued, authority

BODY = b"# HELP test_value A value.\n# TYPE test_value gauge\ntest_value 42.0\n"


class Published:
    """What the server reads (collector.http.Source), holding a real Exposition."""

    def __init__(self, body: bytes = BODY, ready: bool = True) -> None:
        self.exposition = exporter.Exposition()
        self.exposition.publish(body)
        self.ready = ready
        self.drilldown = None


@contextmanager
def serving(
    source: Any = None, web: WebConfig | None = None, **options: Any
) -> Iterator[MetricsServer]:
    server = MetricsServer("127.0.0.1", 0, source or Published(), web, **options)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


Headers = list[tuple[str, str]]


class Raw:
    """A client on a plain socket, to send exactly the bytes a test needs and read exactly
    what comes back."""

    def __init__(self, address: tuple[str, int], timeout: float = 5.0) -> None:
        self.sock = socket.create_connection(address, timeout=timeout)
        self.buffer = b""

    def __enter__(self) -> Raw:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        self.buffer += chunk
        return bool(chunk)

    def response(self, head: bool = False) -> tuple[str, Headers, bytes]:
        """One response: status line, headers (names lower-cased; Date checked, then left
        out) and body (to the connection's end when it has no Content-Length)."""
        while b"\r\n\r\n" not in self.buffer:
            if not self._fill():
                raise ConnectionError(f"closed before a whole response: {self.buffer!r}")
        raw_head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status, *lines = raw_head.decode("latin-1").split("\r\n")
        headers = [(n.lower(), v) for n, _, v in (line.partition(": ") for line in lines)]
        dates = [v for n, v in headers if n == "date"]
        assert len(dates) <= 1, headers
        if dates:
            assert parsedate_to_datetime(dates[0]).tzinfo is not None
        headers = [(n, v) for n, v in headers if n != "date"]
        if "content-length" not in dict(headers):
            while self._fill():
                pass
            length = len(self.buffer)
        else:
            length = int(dict(headers)["content-length"]) if not head else 0
        while len(self.buffer) < length:
            if not self._fill():
                raise ConnectionError("closed before the whole body")
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return status, headers, body

    def closed(self) -> bool:
        """True once the server has closed the connection (nothing more is sent)."""
        try:
            return not self._fill() and not self.buffer
        except ConnectionResetError:
            return True


Response = tuple[str, Headers, bytes]


def exchange(address: tuple[str, int], data: bytes, head: bool = False) -> Response:
    with Raw(address) as raw:
        raw.send(data)
        return raw.response(head)


def text_response(
    status: str, body: bytes, *extra: tuple[str, str], close: bool = False
) -> tuple[str, Headers, bytes]:
    headers = [
        ("server", "adoption-collector"),
        ("content-type", "text/plain; charset=utf-8"),
        ("content-length", str(len(body))),
        *((name.lower(), value) for name, value in extra),
    ]
    if close:
        headers.append(("connection", "close"))
    return f"HTTP/1.1 {status}", headers, body


# What uvicorn (h11) answers to a request it cannot parse, a head over MAX_HEAD_BYTES included;
# the connection closes after it.
INVALID = (
    "HTTP/1.1 400 Bad Request",
    [("content-type", "text/plain; charset=utf-8"), ("connection", "close")],
    b"Invalid HTTP request received.",
)


def bcrypt_hash(password: str, cost: int = 4) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(cost)).decode()


@dataclass(frozen=True)
class PKI:
    ca: Authority
    server: Issued
    client: Issued  # issued by ca, SAN DNS:prometheus
    other: Issued  # issued by ca, SAN DNS:someone-else
    stranger: Issued  # issued by another CA nobody trusts


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    from cryptography import x509

    directory = tmp_path_factory.mktemp("pki")
    ca = authority(directory, "ca")
    rogue = authority(directory, "rogue-ca")
    return PKI(
        ca=ca,
        server=ca.server(directory),
        client=ca.issue(directory, "client", server=False, sans=[x509.DNSName("prometheus")]),
        other=ca.issue(directory, "other", server=False, sans=[x509.DNSName("someone-else")]),
        stranger=rogue.issue(directory, "stranger", server=False),
    )

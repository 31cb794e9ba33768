"""The scrape benchmark's render-on-scrape server is the simulators' loopback server."""

from __future__ import annotations

import gzip
import http.client
from types import SimpleNamespace
from typing import Any

import pytest

from benchmarks.scrape import FreshServer
from collector import exporter


def scrape(connection: http.client.HTTPConnection, **headers: str) -> http.client.HTTPResponse:
    connection.request("GET", "/metrics", headers=headers)
    response = connection.getresponse()
    response.read()
    return response


def test_it_renders_on_every_scrape_and_its_stop_cuts_kept_alive_connections() -> None:
    pipeline: Any = SimpleNamespace(snapshot=None)
    server = FreshServer(pipeline).start()
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        connection.request("GET", "/metrics", headers={"Accept-Encoding": "gzip"})
        response = connection.getresponse()
        body = gzip.decompress(response.read())
        assert scrape(connection).status == 200  # the same connection, kept alive
        assert (response.status, response.getheader("Content-Type")) == (
            200,
            exporter.CONTENT_TYPE,
        )
        assert body == exporter.render(None, ())
        server.stop()
        # A server that is stopped serves nothing more, not even on a connection it kept.
        with pytest.raises((ConnectionError, http.client.RemoteDisconnected)):
            scrape(connection)
    finally:
        connection.close()
        server.stop()

"""Slow, idle and many connections, and scrapes racing polls: every scrape gets a whole body."""

from __future__ import annotations

import gzip
import select
import socket
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from collector import config
from collector.pipeline import Pipeline
from collector.simulator.kube import KubeSimulator
from collector.state import StateStore
from tests.cluster import TOKEN, seed_small, write_config
from tests.http.conftest import BODY, Published, Raw, serving
from tests.records import parse_samples

# uvicorn's answer past limit_concurrency.
REFUSED = (
    "HTTP/1.1 503 Service Unavailable",
    [
        ("content-type", "text/plain; charset=utf-8"),
        ("content-length", "19"),
        ("connection", "close"),
    ],
    b"Service Unavailable",
)


def scrape(url: str, gzipped: bool = False) -> tuple[int, bytes]:
    headers = {"Accept-Encoding": "gzip"} if gzipped else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
        body = r.read()
        if r.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        return r.status, body


def read_all(sock: socket.socket) -> bytes:
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def test_a_slow_client_is_cut_off_and_never_delays_a_scrape() -> None:
    with serving(timeout=1.0) as server, Raw(server.server_address) as slow:
        started = time.monotonic()
        # One byte every 0.1 s: each read succeeds in time, the request never completes.
        for byte in b"GET /metrics HTTP/1.1\r\nX-Slow: " + b"z" * 1000:
            try:
                slow.send(bytes([byte]))
            except OSError:
                break
            if byte == ord("z"):
                assert scrape(f"{server.url}/metrics") == (200, BODY)
            if select.select([slow.sock], [], [], 0.1)[0]:
                break  # readable: the server closed the connection
        cut_off = time.monotonic() - started
        assert slow.closed()
        # Cut at the 1 s deadline, which runs from the connection, made just before `started`
        # (so a hair under 1 s can pass here, never much less); the slack above is for a
        # loaded machine (each step of the loop above scrapes too), not for the server.
        assert 0.95 <= cut_off < 3.0


def test_an_idle_keep_alive_connection_is_closed_after_the_timeout() -> None:
    with serving(timeout=0.5) as server, Raw(server.server_address) as raw:
        raw.send(b"GET /healthz HTTP/1.1\r\nHost: c\r\n\r\n")
        assert raw.response()[0] == "HTTP/1.1 200 OK"
        started = time.monotonic()
        assert raw.closed()
        assert 0.4 <= time.monotonic() - started < 1.5


def test_connections_beyond_the_limit_are_refused_at_once() -> None:
    with serving(max_connections=3, timeout=30.0) as server:
        idle = [socket.create_connection(server.server_address) for _ in range(3)]
        try:
            for sock in idle:
                sock.sendall(b"GET /metrics HTTP/1.1\r\n")  # and never finishes
            time.sleep(0.2)  # accepted
            with Raw(server.server_address) as extra:
                started = time.monotonic()
                extra.send(b"GET /metrics HTTP/1.1\r\nHost: c\r\n\r\n")
                assert extra.response() == REFUSED
                assert extra.closed()
                assert time.monotonic() - started < 0.5
        finally:
            idle.pop().close()
        # A slot is free again.
        deadline = time.monotonic() + 5
        while True:
            try:
                assert scrape(f"{server.url}/metrics") == (200, BODY)
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        for sock in idle:
            sock.close()


def test_hundreds_of_idle_connections_hold_no_threads() -> None:
    threads_before = threading.active_count()
    with serving(max_connections=20, timeout=1.0) as server:
        sockets = []
        try:
            for _ in range(300):
                sockets.append(socket.create_connection(server.server_address))
            time.sleep(0.3)
            # The server's one thread (serve_forever) serves every connection.
            assert threading.active_count() <= threads_before + 1
        finally:
            for sock in sockets:
                sock.close()
        # The idle connections time out; scrapes are served again.
        deadline = time.monotonic() + 5
        while True:
            try:
                assert scrape(f"{server.url}/metrics") == (200, BODY)
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.1)


def test_scrapes_racing_publishes_always_get_one_whole_published_body() -> None:
    bodies = [f"test_value {i}.0\n".encode() * (2000 + 37 * i) for i in range(40)]
    source = Published(bodies[0])
    stop = threading.Event()

    def publish() -> None:
        i = 0
        while not stop.is_set():
            i = (i + 1) % len(bodies)
            source.exposition.publish(bodies[i])
            time.sleep(0.001)

    with serving(source) as server, ThreadPoolExecutor(50) as pool:
        publisher = threading.Thread(target=publish)
        publisher.start()
        try:
            urls = [(f"{server.url}/metrics", n % 2 == 0) for n in range(500)]
            results = list(pool.map(lambda args: scrape(*args), urls))
        finally:
            stop.set()
            publisher.join()
    assert {status for status, _ in results} == {200}
    published = set(bodies)
    assert [body for _, body in results if body not in published] == []
    assert len({body for _, body in results}) > 1  # the publisher really raced the scrapes


def test_fifty_concurrent_scrapes_during_polls_all_succeed(tmp_path: Path) -> None:
    with KubeSimulator(token=TOKEN) as sim:
        seed_small(sim)
        settings = config.load(write_config(tmp_path, {"prod-eu": sim}))
        pipeline = Pipeline(settings, StateStore(settings.state.path))
        try:
            pipeline.poll_kubernetes()
            series = set(parse_samples(pipeline.exposition.scrape(gzipped=False).decode()))
            # Each poll takes a while, so scrapes land before, during and after publishes.
            sim.add_fault("/api/v1/namespaces", 200, delay=0.05, times=None)
            stop = threading.Event()

            def poll() -> None:
                while not stop.is_set():
                    pipeline.poll_kubernetes()

            with serving(pipeline) as server, ThreadPoolExecutor(50) as pool:
                poller = threading.Thread(target=poll)
                poller.start()
                try:
                    urls = [(f"{server.url}/metrics", n % 2 == 0) for n in range(300)]
                    results = list(pool.map(lambda args: scrape(*args), urls))
                finally:
                    stop.set()
                    poller.join()
        finally:
            pipeline.close()
    assert {status for status, _ in results} == {200}
    # Every body is a whole exposition: exactly the series of a complete one.
    assert [set(parse_samples(body.decode())) == series for _, body in results] == [True] * 300
    # Durations and timestamps move with each poll: the scrapes saw several publishes.
    assert len({body for _, body in results}) > 1

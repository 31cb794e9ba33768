"""The long-running service: scheduled polls, the HTTP endpoints, and a clean stop on signals."""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler

from collector import exporter
from collector.pipeline import Pipeline

log = logging.getLogger(__name__)

# The whole stop must fit in Kubernetes' default 30 s grace period and our 10 s promise.
STOP_WAIT_SECONDS = 8.0


class _Handler(BaseHTTPRequestHandler):
    server: MetricsServer
    server_version = "adoption-collector"
    sys_version = ""
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        pipeline = self.server.pipeline
        if path == "/metrics":
            self._send(HTTPStatus.OK, pipeline.exposition.latest, exporter.CONTENT_TYPE)
        elif path == "/healthz":
            self._send(HTTPStatus.OK, b"ok\n")
        elif path == "/readyz":
            if pipeline.ready:
                self._send(HTTPStatus.OK, b"ready\n")
            else:
                self._send(HTTPStatus.SERVICE_UNAVAILABLE, b"first poll not done\n")
        elif path == "/":
            self._send(
                HTTPStatus.OK,
                b'<html><body><h1>adoption-collector</h1><a href="/metrics">metrics</a>'
                b"</body></html>\n",
                "text/html; charset=utf-8",
            )
        else:
            self._send(HTTPStatus.NOT_FOUND, b"not found\n")

    def do_HEAD(self) -> None:
        self.do_GET()

    def _send(
        self, status: HTTPStatus, body: bytes, content_type: str = "text/plain; charset=utf-8"
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        # Scrapes every 15-60 s would drown the log; only errors are worth a line.
        pass


class MetricsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, port: int, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        super().__init__((host, port), _Handler)


class Service:
    def __init__(self, pipeline: Pipeline, host: str, port: int) -> None:
        self.pipeline = pipeline
        self.server = MetricsServer(host, port, pipeline)
        self.stopping = threading.Event()
        self._running = 0  # polls in flight, guarded by _idle_lock
        self._idle_lock = threading.Condition()
        self.scheduler = BackgroundScheduler(timezone="UTC")
        if pipeline.sources:
            self._add_job(
                "kubernetes", self._poll_kubernetes, pipeline.settings.kubernetes.interval
            )
        if pipeline.github is not None and pipeline.settings.github is not None:
            self._add_job("github", self._poll_github, pipeline.settings.github.interval)

    def _add_job(self, job_id: str, func: Callable[[], None], seconds: float) -> None:
        self.scheduler.add_job(
            func,
            "interval",
            seconds=seconds,
            id=job_id,
            max_instances=1,
            coalesce=True,
            next_run_time=dt.datetime.now(dt.UTC),
            misfire_grace_time=None,
        )

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        if isinstance(host, bytes):
            host = host.decode()
        return f"http://{host}:{port}"

    @contextmanager
    def _polling(self) -> Iterator[bool]:
        """Counts the poll in flight so stop() can wait for it; yields False when stopping."""
        with self._idle_lock:
            go = not self.stopping.is_set()
            if go:
                self._running += 1
        if not go:
            yield False
            return
        try:
            yield True
        finally:
            with self._idle_lock:
                self._running -= 1
                self._idle_lock.notify_all()

    def _poll_kubernetes(self) -> None:
        with self._polling() as go:
            if go:
                self.pipeline.poll_kubernetes()

    def _poll_github(self) -> None:
        with self._polling() as go:
            if not go:
                return
            generation = self.pipeline.links_generation
            self.pipeline.poll_github()
            if self.pipeline.links_generation != generation and self.pipeline.sources:
                # New catalog links change workloads' teams and paths: apply them now,
                # not a whole Kubernetes interval later. Runs on this thread, so it
                # waits its turn if a scheduled Kubernetes poll is running.
                log.info("catalog links changed; polling the clusters again")
                self.pipeline.poll_kubernetes()

    def start(self) -> None:
        threading.Thread(target=self.server.serve_forever, name="http", daemon=True).start()
        self.scheduler.start()
        log.info("serving metrics on %s/metrics", self.url)

    def stop(self) -> None:
        """Stop polling and serving; wait briefly for a poll in flight so state stays consistent."""
        self.stopping.set()
        self.scheduler.shutdown(wait=False)
        self.server.shutdown()
        self.server.server_close()
        with self._idle_lock:
            idle = self._idle_lock.wait_for(lambda: self._running == 0, STOP_WAIT_SECONDS)
        if not idle:
            # SQLite commits atomically, so leaving mid-poll loses at most this poll's evidence.
            log.warning(
                "a poll is still running after %.0fs; exiting without it", STOP_WAIT_SECONDS
            )
            logging.shutdown()
            os._exit(0)
        self.pipeline.close()
        log.info("stopped")

    def run_until_signalled(self) -> None:
        def on_signal(signum: int, _frame: FrameType | None) -> None:
            log.info("received %s, stopping", signal.Signals(signum).name)
            self.stopping.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        self.start()
        while not self.stopping.wait(1.0):
            pass
        self.stop()

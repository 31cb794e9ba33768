"""The long-running service: scheduled polls, the HTTP server (collector.http), and a clean stop
on signals."""

from __future__ import annotations

import datetime as dt
import gc
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler

from collector.http import MetricsServer
from collector.pipeline import Pipeline
from collector.webconfig import WebConfig

log = logging.getLogger(__name__)

# The whole stop must fit in Kubernetes' default 30 s grace period and our 10 s promise.
STOP_WAIT_SECONDS = 8.0
# A scrape needs the GIL for a moment at each of its I/O calls while a poll keeps it busy;
# at Python's default 5 ms each such moment may wait 5 ms (benchmarks, 20 scrapers during
# polls of 50,000 workloads, side by side: /metrics p99 11.6 ms at 5 ms, 8.4 ms at 1 ms;
# /api/v1/workloads?team= p99 38 ms at 5 ms, 11 ms at 1 ms).
SWITCH_INTERVAL = 0.001


def settle_process() -> None:
    """What the service does to its process before the first poll (the benchmarks too, so
    that they measure the process as it runs)."""
    sys.setswitchinterval(SWITCH_INTERVAL)
    # Everything built so far (modules, classes, functions: some 80,000 objects) lives as
    # long as the process. Frozen, the garbage collector stops scanning it in every full
    # collection, a GIL pause of ~25 ms that scrapes would otherwise wait out.
    gc.freeze()


def listen_error(listen: str, exc: OSError, hint: str) -> str:
    """One line for a port that is taken or a host that does not resolve, `hint` saying
    where the address comes from."""
    reason = exc.strerror or str(exc)
    return f"error: cannot listen on {listen}: {reason[:1].lower()}{reason[1:]} ({hint})"


def stop_on_signals(stopping: threading.Event) -> None:
    """SIGTERM and SIGINT set `stopping`. Installed before the state is opened, so a
    signal during start-up still ends in a clean stop (exit 0), not Python's default."""

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


class Service:
    def __init__(
        self,
        pipeline: Pipeline,
        host: str,
        port: int,
        web: WebConfig | None = None,
        *,
        stopping: threading.Event | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.server = MetricsServer(host, port, pipeline, web)
        self.stopping = stopping if stopping is not None else threading.Event()
        self._running = 0  # polls in flight, guarded by _idle_lock
        self._idle_lock = threading.Condition()
        self.scheduler = BackgroundScheduler(timezone="UTC")
        if pipeline.sources:
            self._add_job(
                "kubernetes", self._poll_kubernetes, pipeline.settings.kubernetes.interval
            )
        if pipeline.github is not None and pipeline.settings.github is not None:
            self._add_job("github", self._poll_github, pipeline.settings.github.interval)
        if pipeline.backstage is not None and pipeline.settings.backstage is not None:
            self._add_job("backstage", self._poll_backstage, pipeline.settings.backstage.interval)

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
        return self.server.url

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
        self._poll_catalog(self.pipeline.poll_github)

    def _poll_backstage(self) -> None:
        self._poll_catalog(self.pipeline.poll_backstage)

    def _poll_catalog(self, poll: Callable[[], bool]) -> None:
        with self._polling() as go:
            if not go:
                return
            generation = self.pipeline.links_generation
            poll()
            if self.pipeline.links_generation != generation and self.pipeline.sources:
                # New catalog links change workloads' teams and paths: apply them now,
                # not a whole Kubernetes interval later. Runs on this thread, so it
                # waits its turn if a scheduled Kubernetes poll is running.
                log.info("catalog links changed; polling the clusters again")
                self.pipeline.poll_kubernetes()

    def start(self) -> None:
        settle_process()
        threading.Thread(target=self.server.serve_forever, name="http", daemon=True).start()
        self.scheduler.start()
        web = self.server.web_config()
        log.info(
            "serving metrics on %s/metrics (%s)",
            self.url,
            web.summary() if web else "no web config: plain HTTP, no auth",
        )

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
        stop_on_signals(self.stopping)
        if self.stopping.is_set():  # signalled while starting up: nothing to wait for
            self.server.server_close()
            self.pipeline.close()
            log.info("stopped")
            return
        self.start()
        while not self.stopping.wait(1.0):
            pass
        self.stop()

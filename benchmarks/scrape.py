"""Figure 3: serving /metrics at 1,000 teams to 20 concurrent scrapers while a poll runs.

The collector process runs the real pipeline and the real service's HTTP server,
and next to it a server that renders the exposition afresh on every scrape, as an
exporter computing on scrape does (prometheus_client's handler: render, then gzip
when asked). The scrapers live in this process: twenty threads on kept-alive
connections with the headers Prometheus sends (gzip accepted), each scrape timed
from request to last byte.

The service is started the way `adoption-collector run` starts it; its first poll
runs at once and the next is an interval away, so the polls measured are the ones
this benchmark asks for. A window of the pre-rendered server lasts one poll of the
big cluster. A window of the fresh server lasts as long as that poll took (its
scrapers would otherwise starve the poll for minutes); the poll then finishes
unobserved. The modes take turns, window after window.
"""

from __future__ import annotations

import gzip
import http.client
import random
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from multiprocessing.connection import Connection
from pathlib import Path
from urllib.parse import quote

from benchmarks.context import BIG, Context
from benchmarks.cycle import make_pipeline, timed_cycle
from benchmarks.measure import BenchError, Child, median, percentile
from benchmarks.report import Figure
from collector import exporter
from collector.pipeline import Pipeline
from collector.service import Service
from collector.simulator.loopback import Handler, Loopback

SCRAPERS = 20
# Each scraper scrapes ten times a second: 200 scrapes a second in all, 150 times what
# twenty Prometheus servers at a 15 s interval send, with scrapes still overlapping.
PERIOD = 0.1
# What Prometheus sends with every scrape.
SCRAPE_HEADERS = {
    "Accept": "application/openmetrics-text;version=1.0.0;q=0.5,"
    "text/plain;version=0.0.4;q=0.4,*/*;q=0.1",
    "Accept-Encoding": "gzip",
    "User-Agent": "Prometheus/2.53.0",
    "X-Prometheus-Scrape-Timeout-Seconds": "10",
}


class FreshServer(Loopback):
    """Renders the exposition on every scrape, as an exporter computing on scrape does, on
    the simulators' loopback server: kept-alive connections without Nagle's delay (the
    headers and body are two writes), and a stop that cuts them."""

    thread_name = "fresh-metrics"

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    def handle(self, h: Handler) -> None:
        # The collector's own status series (a few dozen of ~10,000 lines) are left out:
        # the pipeline keeps them to itself.
        body = exporter.render(self.pipeline.snapshot, ())
        h.send_response(HTTPStatus.OK)
        h.send_header("Content-Type", exporter.CONTENT_TYPE)
        if "gzip" in h.headers.get("Accept-Encoding", ""):
            body = gzip.compress(body)
            h.send_header("Content-Encoding", "gzip")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)


def _first_poll(pipeline: Pipeline, timeout: float = 1800.0) -> None:
    """Waits for the first exposition with workload figures (the snapshot is set just
    before it is rendered)."""
    deadline = time.monotonic() + timeout
    while b"\nadoption_active_teams " not in pipeline.exposition.latest:
        if time.monotonic() > deadline:
            raise BenchError("the service's first poll did not succeed; see the log above")
        time.sleep(0.05)


def _largest_team(pipeline: Pipeline) -> tuple[str, int]:
    """The team with the most workloads, and how many: the drill-down API's largest answer."""
    drilldown = pipeline.drilldown
    assert drilldown is not None
    counts = {t["team"]: sum(t["workload_counts"].values()) for t in drilldown.teams()}
    team = max(counts, key=lambda name: (counts[name], name))
    return team, counts[team]


def serve(conn: Connection, kubeconfig: str, state_path: str) -> None:
    """The collector process: the service (started as `run` starts it, so its first poll
    runs at once; the next is an interval away) and the fresh server; then one poll per
    "poll" until "stop"."""
    pipeline = make_pipeline({BIG: kubeconfig}, Path(state_path))
    service = Service(pipeline, "127.0.0.1", 0)
    fresh = FreshServer(pipeline).start()
    service.start()
    try:
        _first_poll(pipeline)
        snapshot = pipeline.snapshot
        conn.send(
            {
                "prerendered": service.server.server_address[1],
                "fresh": fresh.port,
                "bytes": len(pipeline.exposition.latest),
                "gzipped": len(gzip.compress(pipeline.exposition.latest)),
                "teams": snapshot.active_teams if snapshot is not None else 0,
                "api_team": _largest_team(pipeline),
            }
        )
        while conn.recv() == "poll":
            conn.send(timed_cycle(pipeline))
    finally:
        fresh.stop()
        service.stop()


class _Scrapers:
    """Threads scraping /metrics until stopped: each every `period` seconds (from a random
    phase), or back to back with `period` 0."""

    def __init__(
        self, port: int, period: float = PERIOD, count: int = SCRAPERS, path: str = "/metrics"
    ) -> None:
        self.port = port
        self.period = period
        self.path = path
        self.latencies: list[float] = []
        self.failures = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._scrape, daemon=True) for _ in range(count)]

    def _connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def _scrape(self) -> None:
        conn = self._connect()
        times: list[float] = []
        failures = 0
        last = b""
        due = time.perf_counter() + random.uniform(0, self.period)
        while not self._stop.wait(max(0.0, due - time.perf_counter())):
            started = time.perf_counter()
            due = max(due + self.period, started)
            try:
                conn.request("GET", self.path, headers=SCRAPE_HEADERS)
                response = conn.getresponse()
                body = response.read()
                # /metrics must come gzipped; the API's JSON is not compressed.
                gzipped = response.getheader("Content-Encoding") == "gzip"
                good = response.status == 200 and gzipped == (self.path == "/metrics")
            except (OSError, http.client.HTTPException):
                good = False
                conn.close()
                conn = self._connect()
            if good:
                times.append(time.perf_counter() - started)
                last = body
            else:
                failures += 1
        conn.close()
        # Once per scraper, outside the timing: the body was a whole exposition.
        whole = (
            last.endswith(b"}") if self.path != "/metrics" else gzip.decompress(last)[-1:] == b"\n"
        )
        if times and not whole:
            failures += 1
        with self._lock:
            self.latencies += times
            self.failures += failures

    def __enter__(self) -> _Scrapers:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)


@dataclass
class _Mode:
    port: int
    period: float
    path: str = "/metrics"
    latencies: list[float] = field(default_factory=list)
    failures: int = 0

    def window(self, collector: Child, seconds: float | None) -> float | None:
        """Scrape during one poll, or for `seconds` of it; the poll's duration if observed.
        A window lasts at least one period, so every scraper starts a scrape in it: the
        smoke run's polls take a few milliseconds."""
        started = time.perf_counter()
        with _Scrapers(self.port, self.period, path=self.path) as scrapers:
            collector.send("poll")
            if seconds is None:
                took: float | None = float(collector.recv())
            else:
                collector.waiting(seconds)
                took = None
            time.sleep(max(0.0, started + self.period - time.perf_counter()))
        if took is None:
            collector.recv()
        self.latencies += [t * 1000 for t in scrapers.latencies]
        self.failures += scrapers.failures
        return took

    @property
    def p99(self) -> float:
        return percentile(self.latencies, 0.99)


def run(ctx: Context) -> list[Figure]:
    big = ctx.big()
    state = ctx.workdir / "scrape-state.db"
    polls: list[float] = []
    with Child(serve, big.kubeconfigs[BIG], str(state)) as collector:
        ready = collector.recv()
        paced = _Mode(ready["prerendered"], PERIOD)
        fresh = _Mode(ready["fresh"], PERIOD)
        saturated = _Mode(ready["prerendered"], 0.0)
        team, team_workloads = ready["api_team"]
        api = _Mode(ready["prerendered"], PERIOD, f"/api/v1/workloads?team={quote(team)}")
        for _ in range(ctx.repeat):
            took = paced.window(collector, None)
            assert took is not None
            polls.append(took)
            fresh.window(collector, took)
            saturated.window(collector, None)
            api.window(collector, None)
        collector.send("stop")
        collector.result()
    if not (paced.latencies and fresh.latencies and saturated.latencies and api.latencies):
        raise BenchError("no scrape completed")
    seconds = len(polls) * median(polls)
    note = (
        f"{ready['teams']} teams, {ready['bytes'] / 1024:.0f} KiB "
        f"({ready['gzipped'] / 1024:.0f} KiB gzipped), {SCRAPERS} scrapers every "
        f"{PERIOD * 1000:.0f} ms, {len(paced.latencies)} scrapes during {len(polls)} polls"
    )
    return [
        Figure("scrape_p99_ms", paced.p99, "ms", "< 20", note),
        Figure("scrape_failed", paced.failures + saturated.failures, "scrapes", "== 0"),
        Figure(
            "api_workloads_team_p99_ms",
            api.p99,
            "ms",
            "< 50",
            f"/api/v1/workloads?team={team} ({team_workloads} workloads, first page of "
            f"{min(team_workloads, 500)}), {SCRAPERS} clients every {PERIOD * 1000:.0f} ms during "
            "polls",
        ),
        Figure("api_failed", api.failures, "requests", "== 0"),
        Figure(
            "scrape_fresh_over_prerendered_p99",
            fresh.p99 / paced.p99,
            "x",
            note="rendering afresh per scrape / pre-rendered, same load",
        ),
        Figure("scrape_p50_ms", median(paced.latencies), "ms"),
        Figure("scrape_fresh_p99_ms", fresh.p99, "ms", note=f"{len(fresh.latencies)} scrapes"),
        Figure("scrape_fresh_p50_ms", median(fresh.latencies), "ms"),
        Figure("scrape_fresh_failed", fresh.failures, "scrapes"),
        Figure(
            "scrape_saturated_p99_ms",
            saturated.p99,
            "ms",
            note=f"{SCRAPERS} scrapers back to back during a poll",
        ),
        Figure(
            "scrape_saturated_per_second",
            len(saturated.latencies) / seconds,
            "scrapes/s",
            note="throughput while polling",
        ),
    ]

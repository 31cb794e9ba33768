"""Figures 2 and 6: whole poll cycles of the real pipeline.

Figure 2 sets a full cycle (poll, classify, aggregate, persist, render) against
the bare cost of `json.loads` of the very pages the poll reads, fetched once up
front and held in memory. The bare parse runs with the garbage collector off,
its cheapest form, so the ratio is not flattered by a slow baseline. The cost of
the cycle is the collector process' CPU time: its wall time also holds the waits
for the simulated API server (another process, Python, about 0.3 s a poll), which
are the server's cost, not the collector's; the wall-time ratio is shown too.

Figure 6 sets ten clusters of 5,000 workloads, polled in one cycle, against one
cluster of 50,000. Each configuration has a long-lived process of its own (a
service polls the same clusters again and again), and cycles alternate between
the two so the ratio is side by side.

Cycles after the first are measured: the first creates connections and writes
every team's history, which a running service does once.
"""

from __future__ import annotations

import gc
import json
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.measure import BenchError, Child, median, peak_rss_mb
from benchmarks.report import Figure
from benchmarks.scale import BIG, settings
from collector.pipeline import Pipeline
from collector.service import settle_process
from collector.state import StateStore

if TYPE_CHECKING:
    from benchmarks.context import Context


def make_pipeline(kubeconfigs: dict[str, str], state_path: Path) -> Pipeline:
    bench = settings(kubeconfigs, str(state_path))
    return Pipeline(bench, StateStore(bench.state.path))


def start_pipeline(kubeconfigs: dict[str, str], state_path: Path) -> Pipeline:
    """A pipeline past its first poll, in a process settled as the service settles its own."""
    pipeline = make_pipeline(kubeconfigs, state_path)
    settle_process()
    if not pipeline.poll_kubernetes():
        raise BenchError("the first poll failed; see the log above")
    return pipeline


def timed_cycle(pipeline: Pipeline) -> float:
    return cycle_times(pipeline)[0]


def cycle_times(pipeline: Pipeline) -> tuple[float, float]:
    """(wall, CPU) seconds of one poll cycle; CPU is this process' own, every thread."""
    started, cpu = time.perf_counter(), time.process_time()
    if not pipeline.poll_kubernetes():
        raise BenchError("a poll failed; see the log above")
    return time.perf_counter() - started, time.process_time() - cpu


def bare_parse(pages: list[bytes], *, collect: bool = False) -> float:
    """CPU seconds to `json.loads` every page and drop it, the garbage collector off unless
    `collect`. CPU, not wall, time: the cycle's cost is its CPU time, and on a shared
    machine wall time would count other processes' turns against the parse."""
    enabled = gc.isenabled()
    if collect:
        gc.enable()
    else:
        gc.disable()
    try:
        started = time.process_time()
        for page in pages:
            json.loads(page)
        return time.process_time() - started
    finally:
        if enabled:
            gc.enable()
        else:
            gc.disable()


def cycles(conn: Connection, kubeconfigs: dict[str, str], state_path: str) -> float:
    """A long-lived collector: answers each "cycle" with the (wall, CPU) seconds of one
    cycle, until "stop". Returns the process' peak RSS."""
    pipeline = start_pipeline(kubeconfigs, Path(state_path))
    try:
        conn.send("ready")
        while conn.recv() == "cycle":
            conn.send(cycle_times(pipeline))
    finally:
        pipeline.close()
    return peak_rss_mb()


def cycle_against_parse(
    conn: Connection, kubeconfig: str, url: str, state_path: str, *, repeat: int, page_size: int
) -> dict[str, object]:
    from benchmarks.servers import metadata_pages  # the simulators: kept out of other children

    del conn
    pages = metadata_pages(url, page_size)
    pipeline = start_pipeline({BIG: kubeconfig}, Path(state_path))
    try:
        walls, cpus, parses, collected = [], [], [], []
        for _ in range(repeat):
            wall, cpu = cycle_times(pipeline)
            walls.append(wall)
            cpus.append(cpu)
            parses.append(bare_parse(pages))
            collected.append(bare_parse(pages, collect=True))
    finally:
        pipeline.close()
    return {
        "walls": walls,
        "cpus": cpus,
        "parses": parses,
        "collected": collected,
        "pages": len(pages),
        "megabytes": sum(map(len, pages)) / 2**20,
    }


def run_full_cycle(ctx: Context) -> list[Figure]:
    big = ctx.big()
    state = ctx.workdir / "cycle-state.db"
    with Child(
        cycle_against_parse,
        big.kubeconfigs[BIG],
        big.urls[BIG],
        str(state),
        # Cheap pairs, and the ratio of two phases run seconds apart drifts with the load
        # of a shared machine: more of them than elsewhere.
        repeat=max(ctx.repeat, 5),
        page_size=ctx.page_size,
    ) as child:
        found = child.result()
    walls, cpus, parses = found["walls"], found["cpus"], found["parses"]
    note = f"{found['pages']} pages, {found['megabytes']:.0f} MB of metadata JSON"
    return [
        Figure(
            "full_cycle_vs_parse",
            median([c / p for c, p in zip(cpus, parses, strict=True)]),
            "x",
            "<= 0.8",
            f"CPU of the collector process; {note}",
        ),
        Figure(
            "full_cycle_vs_default_parse",
            median([c / p for c, p in zip(cpus, found["collected"], strict=True)]),
            "x",
            note="the same against json.loads with the garbage collector on, as by default",
        ),
        Figure(
            "full_cycle_wall_vs_parse",
            median([w / p for w, p in zip(walls, parses, strict=True)]),
            "x",
            note="wall time, waits for the simulated API server included",
        ),
        Figure("full_cycle_seconds", median(walls), "s", note="poll to rendered exposition"),
        Figure("full_cycle_cpu_seconds", median(cpus), "s"),
        Figure("bare_parse_seconds", median(parses), "s", note="json.loads, gc off"),
        Figure(
            "bare_parse_gc_on_seconds",
            median(found["collected"]),
            "s",
            note="json.loads as called by default",
        ),
    ]


def run_multicluster(ctx: Context) -> list[Figure]:
    one, ten = ctx.big(), ctx.small()
    with (
        Child(cycles, one.kubeconfigs, str(ctx.workdir / "one-state.db")) as single,
        Child(cycles, ten.kubeconfigs, str(ctx.workdir / "ten-state.db")) as multi,
    ):
        for child in (single, multi):
            if child.recv() != "ready":
                raise BenchError("a collector process did not start")
        singles: list[float] = []
        multis: list[float] = []
        for _ in range(max(ctx.repeat, 3)):
            for child, times in ((single, singles), (multi, multis)):
                child.send("cycle")
                wall, _ = child.recv()
                times.append(float(wall))
        peaks = []
        for child in (single, multi):
            child.send("stop")
            peaks.append(float(child.result()))
    ratio = median([m / s for m, s in zip(multis, singles, strict=True)])
    return [
        Figure(
            "multicluster_ratio",
            ratio,
            "x",
            "<= 1.5",
            f"{len(ten.kubeconfigs)} clusters in one cycle / one cluster of the same total",
        ),
        Figure("multicluster_ten_seconds", median(multis), "s"),
        Figure("multicluster_one_seconds", median(singles), "s"),
        Figure("multicluster_ten_peak_rss", peaks[1], "MB", note="the ten-cluster process"),
        Figure("multicluster_one_peak_rss", peaks[0], "MB", note="the one-cluster process"),
    ]

"""Figure 4: memory stability over 50 poll cycles of the big cluster, 2% churn in between.

Between cycles 2% of the workloads are deleted and as many new ones created (new
names every time, as rollouts of new services would), so anything kept per
workload, per name or per string beyond a poll would show as growth. RSS is read
after each cycle, as the service's process would have it between polls; the
growth is taken from cycle 5, once allocator pools and caches have settled.
"""

from __future__ import annotations

from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.cycle import start_pipeline, timed_cycle
from benchmarks.measure import Child, peak_rss_mb, rss_mb
from benchmarks.report import Figure
from benchmarks.scale import BIG

if TYPE_CHECKING:
    from benchmarks.context import Context

CYCLES = 50
FROM_CYCLE = 5
CHURN = 0.02


def cycles(conn: Connection, kubeconfig: str, state_path: str) -> float:
    """The collector process: a cycle, its RSS, then wait for the churn; CYCLES times.
    Returns the process' peak RSS."""
    pipeline = start_pipeline({BIG: kubeconfig}, Path(state_path))
    try:
        conn.send(rss_mb())
        for _ in range(CYCLES - 1):
            conn.recv()
            timed_cycle(pipeline)
            conn.send(rss_mb())
    finally:
        pipeline.close()
    return peak_rss_mb()


def run(ctx: Context) -> list[Figure]:
    big = ctx.big()
    rss: list[float] = []
    with Child(cycles, big.kubeconfigs[BIG], str(ctx.workdir / "memory-state.db")) as child:
        for cycle in range(1, CYCLES + 1):
            rss.append(float(child.recv()))
            if cycle < CYCLES:
                big.churn(BIG, cycle, CHURN)
                child.send("next")
        peak = float(child.result())
    start, end = rss[FROM_CYCLE - 1], rss[-1]
    return [
        Figure(
            "memory_growth",
            (end - start) / start * 100,
            "%",
            "< 5",
            f"RSS after cycle {FROM_CYCLE} to after cycle {CYCLES}, {CHURN:.0%} churn per cycle",
        ),
        Figure(f"memory_rss_cycle_{FROM_CYCLE}", start, "MB"),
        Figure(f"memory_rss_cycle_{CYCLES}", end, "MB"),
        Figure("memory_rss_max", max(rss), "MB", note="largest RSS after any cycle"),
        Figure("memory_peak_rss", peak, "MB", note="high-water mark, during a poll"),
    ]

"""Figure 1: one poll of the big cluster, the collector's source against the naive path.

Each run is a fresh process reading the same simulated server; the two paths
alternate (naive, collector, naive, collector, ...) and the figure is the median
of the per-pair ratios, so drift on a shared machine hits both sides of a pair.
Both paths must read exactly the same records, or the comparison is void.
"""

from __future__ import annotations

from benchmarks.collector_poll import PollRun, collector_poll
from benchmarks.context import BIG, Context
from benchmarks.measure import BenchError, call, median
from benchmarks.naive import naive_poll
from benchmarks.report import Figure


def run(ctx: Context) -> list[Figure]:
    kubeconfig = ctx.big().kubeconfigs[BIG]
    naive_runs: list[PollRun] = []
    runs: list[PollRun] = []
    for _ in range(ctx.repeat):
        naive_runs.append(call(naive_poll, kubeconfig, ctx.page_size))
        runs.append(call(collector_poll, kubeconfig, ctx.page_size))
    digests = {r.digest for r in naive_runs + runs}
    if len(digests) != 1:
        raise BenchError("the naive path and the collector read different records")
    workloads = runs[0].workloads
    pairs = list(zip(naive_runs, runs, strict=True))
    note = f"{workloads} objects, median of {len(pairs)} side-by-side pairs"
    peak = max(r.peak_mb for r in runs)
    return [
        Figure(
            "kube_poll_speedup",
            median([n.seconds / c.seconds for n, c in pairs]),
            "x",
            ">= 30",
            note,
        ),
        Figure(
            "kube_poll_cpu_speedup",
            median([n.cpu_seconds / c.cpu_seconds for n, c in pairs]),
            "x",
            note="the same pairs in CPU time of each process",
        ),
        Figure(
            "kube_poll_memory_ratio",
            median([n.peak_mb / c.peak_mb for n, c in pairs]),
            "x",
            ">= 5",
            "peak RSS naive / collector, whole processes",
        ),
        Figure("kube_poll_collector_peak_rss", peak, "MB", "< 110", "whole collector process"),
        Figure("kube_poll_collector_seconds", median([r.seconds for r in runs]), "s"),
        Figure("kube_poll_naive_seconds", median([r.seconds for r in naive_runs]), "s"),
        Figure("kube_poll_naive_peak_rss", max(r.peak_mb for r in naive_runs), "MB"),
        Figure(
            "kube_poll_baseline_rss",
            median([r.baseline_mb for r in runs]),
            "MB",
            note="interpreter and imports, before polling",
        ),
    ]

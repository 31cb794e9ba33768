"""Figure 1: one poll of the big cluster, the collector's source against the naive path.

Each run is a fresh process reading the same simulated server; the two paths
alternate (naive, collector, naive, collector, ...) and the figure is the median
of the per-pair ratios, so drift on a shared machine hits both sides of a pair.
Both paths must read exactly the same records, or the comparison is void.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks import naive
from benchmarks.context import BIG, Context, settings
from benchmarks.measure import BenchError, call, median, peak_rss_mb
from benchmarks.report import Figure
from collector import config, rules
from collector.model import ClusterObservation
from collector.sources.kubernetes import KubernetesSource


@dataclass(frozen=True, slots=True)
class PollRun:
    seconds: float
    cpu_seconds: float  # this process' CPU time, every thread: the poll's own cost
    peak_mb: float  # the whole process' high-water mark, imports included
    baseline_mb: float  # the high-water mark before polling: interpreter and imports
    workloads: int
    digest: str  # of every record read, to prove both paths read the same


def _digest(observation: ClusterObservation) -> str:
    h = hashlib.sha256()
    for ns in sorted(observation.namespaces, key=lambda n: n.name):
        h.update(repr((ns.name, sorted(ns.labels.items()), ns.created)).encode())
    for w in sorted(observation.workloads, key=lambda w: (w.kind, w.namespace, w.name)):
        record = (
            w.kind,
            w.namespace,
            w.name,
            w.created,
            sorted(w.labels.items()),
            sorted(w.annotations.items()),
            w.managers,
            w.controller_kind,
        )
        h.update(repr(record).encode())
    return h.hexdigest()


def _annotation_keys() -> frozenset[str]:
    """What the benchmark config's golden paths read, so both paths keep the same."""
    paths = settings({}, Path("unused.db")).golden_paths
    return rules.GoldenPathMatcher(paths).annotation_keys


def collector_poll(kubeconfig: str, page_size: int) -> PollRun:
    """In a fresh process: one poll by the collector's Kubernetes source."""
    baseline = peak_rss_mb()
    source = KubernetesSource(
        config.Cluster(name=BIG, kubeconfig=kubeconfig),
        kinds=config.DEFAULT_KINDS,
        annotation_keys=_annotation_keys(),
        timeout=120.0,
        page_size=page_size,
    )
    started, cpu = time.perf_counter(), time.process_time()
    observation = source.poll()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak = peak_rss_mb()
    source.close()
    return PollRun(seconds, cpu, peak, baseline, len(observation.workloads), _digest(observation))


def naive_poll(kubeconfig: str, page_size: int) -> PollRun:
    """In a fresh process: the same poll through the official client's typed lists."""
    baseline = peak_rss_mb()
    started, cpu = time.perf_counter(), time.process_time()
    observation = naive.poll(BIG, kubeconfig, config.DEFAULT_KINDS, _annotation_keys(), page_size)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak = peak_rss_mb()
    return PollRun(seconds, cpu, peak, baseline, len(observation.workloads), _digest(observation))


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

"""One poll by the collector's Kubernetes source, in a process of its own (figure 1).

The poll is measured as the service makes it: records go page by page to the cluster's
summary (`tally.ClusterStream`), which keeps one compact record per workload for the
drill-down. So the figure counts more work than the naive path does (it only reads), and
the peak is what a service holds after a poll, not a list of every decoded record, which
the service never holds. The digest that proves both paths read the same comes from a
second, unmeasured poll.

Kept apart from the rest of the benchmarks, which import the simulators (and with them
graphql-core and the GitHub schema): the measured process imports only what the collector's
poll does, so its peak is the collector's, not the harness's.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from benchmarks import scale
from benchmarks.measure import peak_rss_mb
from benchmarks.scale import BIG
from collector import config, deploys, rules, tally
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


def digest(observation: ClusterObservation) -> str:
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
            tuple((m.manager, m.time, m.owns_spec) for m in w.managers if m.manager),
            w.controller_kind,
        )
        h.update(repr(record).encode())
    return h.hexdigest()


def annotation_keys() -> frozenset[str]:
    """What the benchmark config's golden paths read, so both paths keep the same."""
    settings = scale.settings({}, "unused.db")
    return rules.GoldenPathMatcher(settings.golden_paths).annotation_keys


def collector_poll(kubeconfig: str, page_size: int) -> PollRun:
    """In a fresh process: one poll by the collector's Kubernetes source, summarised as
    it is read."""
    baseline = peak_rss_mb()
    settings = scale.settings({BIG: kubeconfig}, "unused.db")
    matcher = rules.GoldenPathMatcher(settings.golden_paths)
    source = KubernetesSource(
        config.Cluster(name=BIG, kubeconfig=kubeconfig),
        kinds=config.DEFAULT_KINDS,
        annotation_keys=matcher.annotation_keys,
        timeout=120.0,
        page_size=page_size,
    )
    try:
        started, cpu = time.perf_counter(), time.process_time()
        counting = deploys.Tally(BIG, deploys.NEVER_POLLED, time.time())
        stream = tally.ClusterStream(BIG, settings, matcher, counting=counting)
        observation = source.poll(stream)
        summary = stream.summary()
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        peak = peak_rss_mb()
        del summary, stream
        read = sum(n for kind, n in observation.objects.items() if kind != "Namespace")
        return PollRun(seconds, cpu, peak, baseline, read, digest(source.poll()))
    finally:
        source.close()

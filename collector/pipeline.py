"""One poll cycle: sources -> summaries -> durable history -> snapshot -> exposition.

The pipeline keeps the last good summary of every cluster. A failed poll marks
its cluster down and counts the error but leaves that summary in place, so a
failure never moves the adoption figures; the next success replaces it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from collector import adoption, exporter, rules
from collector.config import Settings
from collector.model import ClusterObservation, SourceStatus
from collector.sources.kubernetes import KubernetesSource, PollError
from collector.state import StateError, StateStore

log = logging.getLogger(__name__)

KUBERNETES = "kubernetes"
MAX_CONCURRENT_CLUSTERS = 8


class ClusterSource(Protocol):
    def poll(self) -> ClusterObservation: ...
    def close(self) -> None: ...


def kubernetes_sources(
    settings: Settings, matcher: rules.GoldenPathMatcher
) -> dict[str, ClusterSource]:
    k8s = settings.kubernetes
    return {
        cluster.name: KubernetesSource(
            cluster,
            kinds=k8s.kinds,
            annotation_keys=matcher.annotation_keys,
            timeout=k8s.timeout,
            page_size=k8s.page_size,
        )
        for cluster in k8s.clusters
    }


class Pipeline:
    def __init__(
        self,
        settings: Settings,
        state: StateStore,
        *,
        sources: Mapping[str, ClusterSource] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.state = state
        self.clock = clock
        self.matcher = rules.GoldenPathMatcher(settings.golden_paths)
        self.sources = dict(
            sources if sources is not None else kubernetes_sources(settings, self.matcher)
        )
        self.exposition = exporter.Exposition()
        self.snapshot: adoption.Snapshot | None = None
        self._summaries: dict[str, adoption.ClusterSummary] = {}
        self._statuses: dict[str, SourceStatus] = {}
        self._lock = threading.Lock()

    @property
    def ready(self) -> bool:
        """Every source has been polled once (successfully or not)."""
        return self._statuses.keys() >= self.sources.keys()

    def poll_kubernetes(self) -> bool:
        """Poll every cluster (concurrently, bounded), then publish. True if all succeeded."""
        names = sorted(self.sources)
        workers = max(1, min(MAX_CONCURRENT_CLUSTERS, len(names)))
        with ThreadPoolExecutor(workers, thread_name_prefix="poll") as pool:
            results = list(pool.map(self._poll_cluster, names))
        self.publish()
        return all(results)

    def _poll_cluster(self, name: str) -> bool:
        started = self.clock()
        previous = self._statuses.get(name)
        errors = previous.errors_total if previous else 0
        try:
            observation = self.sources[name].poll()
            summary = adoption.summarise(observation, self.settings, self.matcher)
        except Exception as exc:
            if isinstance(exc, PollError):
                log.error("poll of kubernetes cluster %s failed: %s", name, exc)
            else:  # a bug of ours; the service must keep serving what it knows
                log.exception("poll of kubernetes cluster %s failed unexpectedly", name)
            status = SourceStatus(
                source=KUBERNETES,
                kube_cluster=name,
                up=False,
                last_success=previous.last_success if previous else None,
                poll_duration=self.clock() - started,
                errors_total=errors + 1,
                objects=previous.objects if previous else {},
                skipped=previous.skipped if previous else 0,
            )
            with self._lock:
                self._statuses[name] = status
            return False
        finished = self.clock()
        log.info(
            "polled kubernetes cluster %s in %.2fs: %d namespaces, %d workloads, %d skipped",
            name,
            finished - started,
            len(observation.namespaces),
            len(observation.workloads),
            observation.skipped,
        )
        with self._lock:
            self._summaries[name] = summary
            self._statuses[name] = SourceStatus(
                source=KUBERNETES,
                kube_cluster=name,
                up=True,
                last_success=finished,
                poll_duration=finished - started,
                errors_total=errors,
                objects=observation.objects,
                skipped=observation.skipped,
            )
        return True

    def publish(self) -> None:
        """Merge what every cluster last showed into the history and render the exposition."""
        with self._lock:
            summaries = list(self._summaries.values())
            statuses = list(self._statuses.values())
            first_seen, first_deploy = adoption.merge_evidence(summaries)
            try:
                history = self.state.record(first_seen, first_deploy)
            except StateError as exc:
                # Figures are still right from memory; the write is retried next poll.
                log.error("%s", exc)
                history = self.state.history
            snapshot = (
                adoption.compute(summaries, history, self.settings, self.clock())
                if summaries
                else None
            )
            self.snapshot = snapshot
            self.exposition.publish(exporter.render(snapshot, statuses))

    def close(self) -> None:
        """Close the sources and the state store; the pipeline owns both once built."""
        for source in self.sources.values():
            source.close()
        self.state.close()

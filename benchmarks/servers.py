"""The simulated API servers and GitHub organisation, each in a process of their own.

Out of the measured processes so that neither their memory nor their CPU (the
other core, on a two-core machine) is counted against the collector. A server
process builds its objects, serves them once to fill the simulator's caches of
serialised objects (so no measured run pays for serialisation the first one
would), then answers commands: churn, statistics, stop.
"""

from __future__ import annotations

import http.client
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlencode, urlsplit

from benchmarks import scale
from benchmarks.measure import BenchError, Child, rss_mb
from collector.simulator.github import GitHubSimulator
from collector.simulator.kube import METADATA_ACCEPT, KubeSimulator
from collector.simulator.org import build_organisation

KUBE_TOKEN = "bench-kube-token"
GITHUB_TOKEN = "bench-github-token"
FULL_ACCEPT = "application/json"

# Every list the collector (and the naive path) reads, in the order the collector reads them.
LIST_PATHS = {
    "Namespace": "/api/v1/namespaces",
    "Deployment": "/apis/apps/v1/deployments",
    "StatefulSet": "/apis/apps/v1/statefulsets",
    "DaemonSet": "/apis/apps/v1/daemonsets",
    "CronJob": "/apis/batch/v1/cronjobs",
    "Job": "/apis/batch/v1/jobs",
}


def fetch_pages(url: str, path: str, accept: str, page_size: int) -> Iterator[bytes]:
    """Every page of one list, as raw bytes, over one kept-alive connection."""
    split = urlsplit(url)
    conn = http.client.HTTPConnection(split.hostname or "127.0.0.1", split.port, timeout=120)
    headers = {"Accept": accept, "Authorization": f"Bearer {KUBE_TOKEN}"}
    token = ""
    try:
        while True:
            query = {"limit": str(page_size)} | ({"continue": token} if token else {})
            conn.request("GET", f"{path}?{urlencode(query)}", headers=headers)
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                raise BenchError(f"GET {path}: HTTP {response.status}: {body[:200]!r}")
            yield body
            token = json.loads(body).get("metadata", {}).get("continue") or ""
            if not token:
                return
    finally:
        conn.close()


def metadata_pages(url: str, page_size: int) -> list[bytes]:
    """The pages the collector reads in a poll: every list, metadata only."""
    return [
        page
        for path in LIST_PATHS.values()
        for page in fetch_pages(url, path, METADATA_ACCEPT, page_size)
    ]


@dataclass(slots=True)
class _Cluster:
    shape: scale.ClusterShape
    sim: KubeSimulator
    alive: list[scale.Workload]


def _load(sim: KubeSimulator, shape: scale.ClusterShape) -> list[scale.Workload]:
    for namespace in scale.namespaces(shape):
        sim.put_raw("namespaces", namespace)
    alive = []
    for w in scale.workloads(shape):
        sim.put_raw(scale.RESOURCES[w.kind], scale.workload_object(w))
        alive.append(w)
    return alive


def _warm(url: str) -> None:
    for path in LIST_PATHS.values():
        for accept in (METADATA_ACCEPT, FULL_ACCEPT):
            for _ in fetch_pages(url, path, accept, 5000):
                pass


def _churn(cluster: _Cluster, cycle: int, fraction: float) -> int:
    """Delete `fraction` of the workloads and create as many new ones.

    Only tracked workloads are deleted, as the new ones (Deployments) are tracked: had a
    CronJob's runs been deleted too, the tracked population would grow by a tenth of the
    churn each cycle, and with it the memory the figure reads as growth."""
    count = max(1, round(len(cluster.alive) * fraction))
    rng = random.Random(cycle)
    tracked = [i for i, w in enumerate(cluster.alive) if w.owner is None]
    doomed = set(rng.sample(tracked, count))
    for i in doomed:
        w = cluster.alive[i]
        cluster.sim.delete(scale.RESOURCES[w.kind], w.namespace, w.name)
    cluster.alive = [w for i, w in enumerate(cluster.alive) if i not in doomed]
    for w in scale.churned(cluster.shape, cycle, count):
        cluster.sim.put_raw(scale.RESOURCES[w.kind], scale.workload_object(w))
        cluster.alive.append(w)
    return count


def _serve_kube(conn: Connection, shapes: dict[str, scale.ClusterShape], workdir: str) -> None:
    clusters: dict[str, _Cluster] = {}
    try:
        kubeconfigs, urls = {}, {}
        for name, shape in shapes.items():
            # Plain HTTP: the recorded figures (docs/benchmarks.md) were measured without TLS,
            # whose cost on loopback would be the simulator's as much as the collector's.
            sim = KubeSimulator(token=KUBE_TOKEN, tls=False).start()
            clusters[name] = _Cluster(shape, sim, _load(sim, shape))
            path = sim.write_kubeconfig(Path(workdir) / f"{name}.kubeconfig", context=name)
            kubeconfigs[name], urls[name] = str(path), sim.url
        for url in urls.values():
            _warm(url)
        conn.send({"kubeconfigs": kubeconfigs, "urls": urls, "rss_mb": rss_mb()})
        while True:
            command, *args = conn.recv()
            if command == "stop":
                return
            if command == "churn":
                name, cycle, fraction = args
                conn.send(_churn(clusters[name], cycle, fraction))
            else:
                raise BenchError(f"unknown command {command!r}")
    finally:
        for cluster in clusters.values():
            cluster.sim.stop()


class _Server:
    def __init__(self, child: Child) -> None:
        self._child = child

    def close(self) -> None:
        try:
            self._child.send(("stop",))
            self._child.result(60)
        finally:
            self._child.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class KubeServers(_Server):
    """One simulated API server per cluster, all in one process of their own."""

    def __init__(self, shapes: dict[str, scale.ClusterShape], workdir: Path) -> None:
        super().__init__(Child(_serve_kube, shapes, str(workdir)))
        try:
            ready = self._child.recv()
        except BaseException:
            self._child.close()
            raise
        self.kubeconfigs: dict[str, str] = ready["kubeconfigs"]
        self.urls: dict[str, str] = ready["urls"]
        self.rss_mb: float = ready["rss_mb"]

    def churn(self, cluster: str, cycle: int, fraction: float) -> int:
        """Delete `fraction` of the cluster's workloads and create as many; the count."""
        self._child.send(("churn", cluster, cycle, fraction))
        return int(self._child.recv())


def _serve_github(conn: Connection, teams: int, per_team: int) -> None:
    # The demo's organisation generator: catalog files, reusable workflows, archived
    # and broken repositories; no workloads (the Kubernetes side is not read here).
    org = build_organisation(
        scale.NOW, teams=teams, workloads_per_team=0, repositories_per_team=per_team
    )
    with GitHubSimulator(org="acme", token=GITHUB_TOKEN) as sim:
        org.load_github(sim)
        conn.send({"base_url": sim.base_url, "repositories": sim.repo_count})
        while True:
            command, *_ = conn.recv()
            if command == "stop":
                return
            if command == "stats":
                conn.send(
                    {
                        "core": sim.points_used("core"),
                        "graphql": sim.points_used("graphql"),
                        "requests": sim.request_count,
                    }
                )
            else:
                raise BenchError(f"unknown command {command!r}")


class GitHubServer(_Server):
    """A simulated organisation of about `teams * per_team` repositories."""

    def __init__(self, teams: int, per_team: int) -> None:
        super().__init__(Child(_serve_github, teams, per_team))
        try:
            ready = self._child.recv()
        except BaseException:
            self._child.close()
            raise
        self.base_url: str = ready["base_url"]
        self.repositories: int = ready["repositories"]

    def stats(self) -> dict[str, Any]:
        """Points charged per budget and requests answered since the server started."""
        self._child.send(("stats",))
        stats: dict[str, Any] = self._child.recv()
        return stats

"""What the Kubernetes source's tests share: the source under test, made against the
simulated cluster, and a few objects to list."""

from __future__ import annotations

from collections.abc import Callable

from collector.simulator.kube import KubeSimulator
from collector.sources.kubernetes import KubernetesSource

ANNOTATION = "platform.example.com/golden"

# make_source(**overrides): a source of the simulated cluster (tests/sources/conftest.py).
MakeSource = Callable[..., KubernetesSource]


def deployments(sim: KubeSimulator, count: int, namespace: str = "pay") -> None:
    for i in range(count):
        sim.add_workload("Deployment", namespace, f"d{i}", created="2026-01-02T00:00:00Z")

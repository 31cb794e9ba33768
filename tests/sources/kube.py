"""What the Kubernetes source's tests share: the source under test, made against the
simulated cluster, and a few objects to list."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from collector.simulator.kube import KubeSimulator
from collector.sources.kubernetes import KubernetesSource

ANNOTATION = "platform.example.com/golden"

# make_source(**overrides): a source of the simulated cluster (tests/sources/conftest.py).
MakeSource = Callable[..., KubernetesSource]


def deployments(sim: KubeSimulator, count: int, namespace: str = "pay") -> None:
    for i in range(count):
        sim.add_workload("Deployment", namespace, f"d{i}", created="2026-01-02T00:00:00Z")


def expire_tokens_at_the_second_page(sim: KubeSimulator) -> threading.Thread:
    """Holds the second page of every deployments list back, and expires every continue
    token while it waits: the list must start over. Join the thread after the poll."""
    sim.add_fault(r"deployments\?.*continue=", 200, delay=0.3)

    def expire() -> None:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if any("continue" in r.query for r in list(sim.requests)):
                sim.expire_continue_tokens()
                return
            time.sleep(0.01)

    expirer = threading.Thread(target=expire)
    expirer.start()
    return expirer

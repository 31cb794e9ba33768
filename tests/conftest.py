"""Shared fixtures. The simulator ones start a real HTTP server on loopback per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.simulator.kube import KubeSimulator

SIM_TOKEN = "sim-token-5ecr3t-do-not-log"


@pytest.fixture
def kube_sim() -> Iterator[KubeSimulator]:
    with KubeSimulator(token=SIM_TOKEN) as sim:
        yield sim


@pytest.fixture
def kubeconfig(kube_sim: KubeSimulator, tmp_path: Path) -> Path:
    return kube_sim.write_kubeconfig(tmp_path / "kubeconfig", context="sim", cluster_name="sim")

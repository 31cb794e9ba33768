"""kubectl (client-go) against a demo cluster: the simulated API server answers a real client
as a real API server would, over TLS with the kubeconfig the demo writes, and kubectl sees
exactly what the collector read."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from collector import config
from collector.model import ClusterObservation
from collector.simulator.kube import KubeSimulator
from collector.simulator.org import build_organisation
from collector.sources.kubernetes import KubernetesSource
from tests.conftest import CANARY

CLUSTER = "prod-eu"


@pytest.fixture(scope="module")
def demo_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[KubeSimulator, Path]]:
    workdir = tmp_path_factory.mktemp("demo")
    with KubeSimulator(token=CANARY) as sim:
        build_organisation(dt.datetime.now(dt.UTC)).load_into(sim, CLUSTER)
        # As `demo --workdir` writes it.
        kubeconfig = sim.write_kubeconfig(
            workdir / f"{CLUSTER}.kubeconfig", context=CLUSTER, cluster_name=CLUSTER
        )
        yield sim, kubeconfig


@pytest.fixture(scope="module")
def collector_read(demo_cluster: tuple[KubeSimulator, Path]) -> ClusterObservation:
    _, kubeconfig = demo_cluster
    source = KubernetesSource(
        config.Cluster(name=CLUSTER, kubeconfig=str(kubeconfig), context=CLUSTER),
        kinds=["Deployment"],
        annotation_keys=frozenset(),
        timeout=10.0,
    )
    try:
        return source.poll()
    finally:
        source.close()


def kubectl(kubeconfig: Path, home: Path, *args: str) -> str:
    binary = shutil.which("kubectl")
    assert binary, "kubectl is missing: `make test` installs Debian's kubernetes-client"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
    env["HOME"] = str(home)  # its discovery cache goes there, not into the user's
    done = subprocess.run(
        [binary, "--kubeconfig", str(kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert CANARY not in done.stdout + done.stderr
    return done.stdout


def rows(table: str) -> tuple[list[str], list[list[str]]]:
    header, *lines = table.splitlines()
    return header.split(), [line.split() for line in lines]


def labels_column(labels: dict[str, str] | object) -> str:
    """As kubectl prints them: key=value, sorted by key, comma-separated."""
    assert isinstance(labels, dict)
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels)) or "<none>"


def test_get_namespaces(
    demo_cluster: tuple[KubeSimulator, Path], collector_read: ClusterObservation, tmp_path: Path
) -> None:
    header, table = rows(kubectl(demo_cluster[1], tmp_path, "get", "ns"))
    assert header == ["NAME", "STATUS", "AGE"]
    assert [row[:2] for row in table] == [
        [ns.name, "Active"] for ns in sorted(collector_read.namespaces, key=lambda n: n.name)
    ]
    assert len(table) > 10


def test_get_deployments_with_labels(
    demo_cluster: tuple[KubeSimulator, Path], collector_read: ClusterObservation, tmp_path: Path
) -> None:
    output = kubectl(demo_cluster[1], tmp_path, "get", "deploy", "-A", "--show-labels")
    header, table = rows(output)
    assert header == [
        "NAMESPACE",
        "NAME",
        "READY",
        "UP-TO-DATE",
        "AVAILABLE",
        "AGE",
        "LABELS",
    ]
    expected = sorted(
        [w.namespace, w.name, labels_column(dict(w.labels))] for w in collector_read.workloads
    )
    assert [[row[0], row[1], row[-1]] for row in table] == expected
    assert {tuple(row[2:5]) for row in table} == {("2/2", "2", "2")}
    assert len(table) > 10


def test_get_deployments_as_yaml(
    demo_cluster: tuple[KubeSimulator, Path], collector_read: ClusterObservation, tmp_path: Path
) -> None:
    output = yaml.safe_load(kubectl(demo_cluster[1], tmp_path, "get", "deploy", "-A", "-o", "yaml"))
    assert (output["apiVersion"], output["kind"]) == ("v1", "List")
    seen = {
        (item["metadata"]["namespace"], item["metadata"]["name"]): (
            item["kind"],
            item["metadata"].get("labels", {}),
            dt.datetime.fromisoformat(item["metadata"]["creationTimestamp"]).timestamp(),
        )
        for item in output["items"]
    }
    assert seen == {
        (w.namespace, w.name): ("Deployment", dict(w.labels), w.created)
        for w in collector_read.workloads
    }

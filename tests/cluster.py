"""A small, fully known organisation on simulated clusters, shared by the end-to-end tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from collector.simulator.kube import KubeSimulator
from tests.conftest import CANARY

TOKEN = CANARY  # must never show up in any output


def managed(manager: str, time: str) -> list[dict[str, Any]]:
    return [
        {
            "manager": manager,
            "operation": "Update",
            "apiVersion": "apps/v1",
            "time": time,
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:spec": {"f:replicas": {}}},
        },
        {
            "manager": "kube-controller-manager",
            "operation": "Update",
            "apiVersion": "apps/v1",
            "time": "2026-09-01T00:00:00Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:status": {}},
            "subresource": "status",
        },
    ]


GOLDEN_LABELS = {"app.kubernetes.io/managed-by": "Helm", "helm.sh/chart": "golden-service-1.4.2"}


def seed_small(sim: KubeSimulator) -> None:
    """payments: one golden, one shadow and a CronJob with its Job; billing (mandated): shadow;
    search: a namespace only; one unowned workload; kube-system is excluded."""
    sim.add_namespace("pay", {"team": "payments"}, "2026-03-10T00:00:00Z")
    sim.add_namespace("bill", {"owner": "group:default/Billing"}, "2026-02-01T00:00:00Z")
    sim.add_namespace("search", {"team": "search"}, "2026-06-01T00:00:00Z")
    sim.add_namespace("misc", None, "2026-01-01T00:00:00Z")
    sim.add_namespace("kube-system", {"team": "platform"}, "2025-01-01T00:00:00Z")
    sim.add_workload(
        "Deployment",
        "pay",
        "api",
        labels=GOLDEN_LABELS,
        created="2026-04-01T00:00:00Z",
        managed_fields=managed("helm", "2026-04-01T00:00:00Z"),
    )
    sim.add_workload(
        "Deployment",
        "pay",
        "worker",
        created="2026-03-20T00:00:00Z",
        managed_fields=managed("kubectl-client-side-apply", "2026-03-20T00:00:00Z"),
    )
    sim.add_workload("CronJob", "pay", "nightly", created="2026-03-21T00:00:00Z")
    sim.add_workload(
        "Job",
        "pay",
        "nightly-29001",
        created="2026-03-22T00:00:00Z",
        owner_references=[
            {
                "apiVersion": "batch/v1",
                "kind": "CronJob",
                "name": "nightly",
                "uid": "u-1",
                "controller": True,
            }
        ],
    )
    sim.add_workload(
        "StatefulSet",
        "bill",
        "ledger",
        created="2026-02-15T00:00:00Z",
        managed_fields=managed("Terraform-Provider-Kubernetes", "2026-02-15T00:00:00Z"),
    )
    sim.add_workload("DaemonSet", "misc", "agent", created="2026-01-02T00:00:00Z")
    sim.add_workload("Deployment", "kube-system", "coredns", created="2025-01-01T00:00:00Z")


def write_config(
    tmp_path: Path,
    clusters: dict[str, KubeSimulator],
    interval: str = "5m",
    timeout: str = "5s",
    **overrides: object,
) -> Path:
    cluster_entries = []
    for name, sim in clusters.items():
        kubeconfig = sim.write_kubeconfig(tmp_path / f"{name}.kubeconfig", context=name)
        cluster_entries.append({"name": name, "kubeconfig": str(kubeconfig), "context": name})
    raw: dict[str, object] = {
        "platform": {"launch_date": "2026-03-01"},
        "teams": {"mandated": ["billing"]},
        "kubernetes": {"clusters": cluster_entries, "timeout": timeout, "interval": interval},
        "golden_paths": [
            {
                "name": "service-chart",
                "match": {
                    "labels": {
                        "matchLabels": {"app.kubernetes.io/managed-by": "Helm"},
                        "matchExpressions": [
                            {"key": "helm.sh/chart", "operator": "Matches", "values": ["^golden-"]}
                        ],
                    }
                },
            },
            {"name": "gitops", "match": {"field_managers": ["argocd-controller"]}},
        ],
        "state": {"path": str(tmp_path / "state.db")},
        "server": {"listen": "127.0.0.1:0"},
    }
    raw.update(overrides)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path

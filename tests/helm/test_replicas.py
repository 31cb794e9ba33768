"""Two or more replicas: a StatefulSet with the Deployment's pod, a state volume per replica, a
PodDisruptionBudget and anti-affinity. (Strict kubernetes-validate, lint and the pod lock-down
run on this topology too, as the `replicas` case of tests/helm/chart.py.)"""

from __future__ import annotations

import copy

import pytest
from helm_python import HelmRenderError

from tests.helm.chart import (
    FULLNAME,
    LAUNCH,
    SELECTOR,
    Doc,
    Rendered,
    case_values,
    merged,
    render,
)

SPREAD = {
    "topologyKey": "kubernetes.io/hostname",
    "labelSelector": {"matchLabels": SELECTOR},
}


@pytest.fixture(scope="module")
def replicas() -> Rendered:
    return render(case_values("replicas"))


def _without_state(pod: Doc) -> Doc:
    pod = copy.deepcopy(pod)
    pod["volumes"] = [v for v in pod["volumes"] if v["name"] != "state"]
    return pod


def test_two_replicas_render_a_stateful_set_and_no_deployment_or_shared_claim(
    replicas: Rendered,
) -> None:
    assert replicas.kinds() == [
        "ClusterRole",
        "ClusterRoleBinding",
        "ConfigMap",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "Secret",
        "Service",
        "ServiceAccount",
        "ServiceMonitor",
        "StatefulSet",
    ]


def test_the_stateful_set_runs_the_deployments_pod_with_a_volume_per_replica(
    replicas: Rendered,
) -> None:
    one = render(case_values("everything"))
    statefulset = replicas.one("StatefulSet")
    spec = statefulset["spec"]
    template = spec.pop("template")
    claims = spec.pop("volumeClaimTemplates")
    assert spec == {
        "replicas": 2,
        "serviceName": FULLNAME,
        "podManagementPolicy": "Parallel",
        "updateStrategy": {"type": "RollingUpdate"},
        "selector": {"matchLabels": SELECTOR},
    }
    # The same pod, labels, annotations (config checksum) and all; only the state volume is
    # each replica's own claim rather than the one PersistentVolumeClaim.
    deployment_template = one.deployment["spec"]["template"]
    assert template["metadata"] == deployment_template["metadata"]
    assert template["spec"] == _without_state(deployment_template["spec"])
    assert "state" in {m["name"] for m in template["spec"]["containers"][0]["volumeMounts"]}
    assert claims == [
        {
            "metadata": {
                "name": "state",
                "labels": SELECTOR,
                "annotations": {"example.com/backup": "daily"},
            },
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "fast-ssd",
                "resources": {"requests": {"storage": "2Gi"}},
            },
        }
    ]
    # Its own affinity is kept as given: no anti-affinity added to it.
    assert template["spec"]["affinity"] == one.pod["affinity"]


@pytest.mark.parametrize("case", ["default", "github-app", "namespaced", "deployments-only"])
def test_every_case_runs_the_same_pod_in_either_topology(case: str) -> None:
    one = render(case_values(case))
    two = render(merged(case_values(case), {"replicaCount": 2, "podAntiAffinity": "none"}))
    (statefulset,) = two.all("StatefulSet")
    assert statefulset["spec"]["template"] == {
        "metadata": one.deployment["spec"]["template"]["metadata"],
        "spec": _without_state(one.pod),
    }
    # The App key keeps its mode (0440) through the StatefulSet's re-rendering.
    modes = [
        item.get("mode")
        for v in two.pod["volumes"]
        for source in v.get("projected", {}).get("sources", [])
        for item in source.get("secret", {}).get("items", [])
    ]
    assert modes == ([0o440] if case == "github-app" else [])


def test_replicas_are_spread_over_nodes_by_default() -> None:
    rendered = render(merged(LAUNCH, {"replicaCount": 2}))
    assert rendered.pod["affinity"] == {
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 100, "podAffinityTerm": SPREAD}
            ]
        }
    }
    required = render(merged(LAUNCH, {"replicaCount": 3, "podAntiAffinity": "required"}))
    assert required.pod["affinity"] == {
        "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [SPREAD]}
    }
    assert (
        "affinity" not in render(merged(LAUNCH, {"replicaCount": 2, "podAntiAffinity": "none"})).pod
    )
    # One replica: the Deployment, with no affinity unless given.
    assert "affinity" not in render(merged(LAUNCH, {"podAntiAffinity": "required"})).pod


def test_a_disruption_budget_keeps_all_but_one_replica_through_a_drain() -> None:
    rendered = render(merged(LAUNCH, {"replicaCount": 3}))
    assert rendered.one("PodDisruptionBudget")["spec"] == {
        "maxUnavailable": 1,
        "selector": {"matchLabels": SELECTOR},
    }
    assert render(case_values("default")).all("PodDisruptionBudget") == []


def test_without_persistence_each_replica_has_an_empty_dir() -> None:
    rendered = render(merged(LAUNCH, {"replicaCount": 2, "persistence": {"enabled": False}}))
    assert rendered.all("PersistentVolumeClaim") == []
    statefulset = rendered.one("StatefulSet")
    assert "volumeClaimTemplates" not in statefulset["spec"]
    volumes = {v["name"]: v for v in rendered.pod["volumes"]}
    assert volumes["state"] == {"name": "state", "emptyDir": {}}


def test_one_existing_claim_cannot_serve_several_replicas() -> None:
    values = merged(LAUNCH, {"replicaCount": 2, "persistence": {"existingClaim": "history"}})
    with pytest.raises(HelmRenderError) as info:
        render(values)
    assert "persistence.existingClaim is one volume" in str(info.value)


def test_one_and_zero_replicas_stay_a_deployment() -> None:
    for count in (0, 1):
        rendered = render(merged(LAUNCH, {"replicaCount": count}))
        assert rendered.all("StatefulSet") == []
        assert rendered.deployment["spec"]["replicas"] == count
        assert rendered.deployment["spec"]["strategy"] == {"type": "Recreate"}


def test_notes_name_the_stateful_set(replicas: Rendered) -> None:
    assert f"logs statefulset/{FULLNAME}" in replicas.notes

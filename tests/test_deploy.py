"""The shipped example config and manifests are valid and ask for no more than read access."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from collector import config
from tests.security import privilege

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


def manifests() -> list[dict[str, object]]:
    docs: list[dict[str, object]] = []
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


def test_example_config_is_valid() -> None:
    settings = config.load(DEPLOY / "config.example.yaml")
    assert [p.name for p in settings.golden_paths] == [
        "service-chart",
        "gitops",
        "service-template",
    ]
    assert settings.github is not None
    assert settings.github.token_env == "GITHUB_TOKEN"


def test_configmap_config_is_valid() -> None:
    (cm,) = [d for d in manifests() if d["kind"] == "ConfigMap"]
    data = cm["data"]
    assert isinstance(data, dict)
    settings = config.parse(yaml.safe_load(data["config.yaml"]))
    assert settings.server.port == 9853


def test_cluster_role_is_read_only_on_exactly_the_workload_resources() -> None:
    (role,) = [d for d in manifests() if d["kind"] == "ClusterRole"]
    rules = role["rules"]
    assert isinstance(rules, list)
    granted = {
        (group, resource, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    expected_resources = {
        ("", "namespaces"),
        ("apps", "deployments"),
        ("apps", "statefulsets"),
        ("apps", "daemonsets"),
        ("batch", "cronjobs"),
        ("batch", "jobs"),
    }
    assert granted == {(g, r, v) for g, r in expected_resources for v in ("get", "list", "watch")}


def test_manifests_grant_nothing_beyond_read_and_bind_only_their_own_account() -> None:
    docs = manifests()
    assert privilege.problems(docs) == []
    (binding,) = [d for d in docs if d["kind"] == "ClusterRoleBinding"]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "adoption-collector",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "adoption-collector", "namespace": "adoption-collector"}
    ]
    assert [d for d in docs if d["kind"] in ("Secret", "Role", "RoleBinding")] == []


def _pod() -> dict[str, Any]:
    (deployment,) = [d for d in manifests() if d["kind"] == "Deployment"]
    pod: dict[str, Any] = deployment["spec"]["template"]["spec"]  # type: ignore[index]
    return pod


def test_pod_is_locked_down_like_the_charts() -> None:
    pod = _pod()
    assert pod["serviceAccountName"] == "adoption-collector"
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "runAsGroup": 65532,
        "fsGroup": 65532,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    (container,) = pod["containers"]
    assert container["securityContext"] == {
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }
    for key in ("initContainers", "hostNetwork", "hostPID", "hostIPC"):
        assert key not in pod, key
    assert "env" not in container
    assert "envFrom" not in container


def test_only_the_state_volume_and_tmp_are_writable() -> None:
    pod = _pod()
    (container,) = pod["containers"]
    writable = {
        m["name"]: m["mountPath"] for m in container["volumeMounts"] if not m.get("readOnly")
    }
    assert writable == {"state": "/var/lib/adoption-collector", "tmp": "/tmp"}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["tmp"] == {"name": "tmp", "emptyDir": {}}
    assert volumes["state"] == {
        "name": "state",
        "persistentVolumeClaim": {"claimName": "adoption-collector-state"},
    }
    (cm,) = [d for d in manifests() if d["kind"] == "ConfigMap"]
    settings = config.parse(yaml.safe_load(cm["data"]["config.yaml"]))  # type: ignore[index]
    assert settings.state.path == "/var/lib/adoption-collector/state.db"

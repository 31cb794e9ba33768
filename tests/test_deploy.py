"""The shipped example config and manifests are valid and ask for no more than read access."""

from __future__ import annotations

from pathlib import Path

import yaml

from collector import config

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

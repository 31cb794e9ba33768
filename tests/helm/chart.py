"""Render the chart with the real Helm engine (helm-python-sdk) and pick objects out of it.

Renders are cached per values, so every test module can ask for the same case cheaply.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from helm_python import Chart, values_from_yaml

ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = ROOT / "helm" / "adoption-collector"
EVERYTHING_FILE = Path(__file__).resolve().parent / "values-everything.yaml"

RELEASE = "prod"
NAMESPACE = "platform"
FULLNAME = "prod-adoption-collector"
SELECTOR = {"app.kubernetes.io/name": "adoption-collector", "app.kubernetes.io/instance": "prod"}

# Templates another engineer owns (alert rules, dashboards); the tests here check only that what
# they render is valid, not what it says.
FOREIGN_TEMPLATES = ("templates/prometheusrule.yaml", "templates/dashboards.yaml")
CRD_KINDS = ("ServiceMonitor", "PrometheusRule")

LAUNCH: dict[str, Any] = {"config": {"platform": {"launch_date": "2026-03-01"}}}

Doc = dict[str, Any]


def merged(base: Mapping[str, Any], *overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge of values dicts, later wins; lists are replaced, as Helm does."""
    result = copy.deepcopy(dict(base))
    for override in overrides:
        for key, value in override.items():
            if isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
                result[key] = merged(result[key], value)
            else:
                result[key] = copy.deepcopy(value)
    return result


def everything_values() -> dict[str, Any]:
    # Parsed by Helm's own YAML loader, as `helm install -f` would.
    return values_from_yaml(EVERYTHING_FILE.read_text())


@functools.cache
def chart() -> Chart:
    return Chart.load(CHART_DIR)


@dataclass(frozen=True)
class Rendered:
    files: dict[str, str]  # template path -> rendered text
    docs: list[Doc]  # every object, in template order
    foreign: list[Doc]  # objects of FOREIGN_TEMPLATES

    def all(self, kind: str) -> list[Doc]:
        return [d for d in self.docs if d["kind"] == kind]

    def one(self, kind: str, name: str = FULLNAME) -> Doc:
        (doc,) = [d for d in self.docs if d["kind"] == kind and d["metadata"]["name"] == name]
        return doc

    def kinds(self) -> list[str]:
        return sorted(d["kind"] for d in self.docs)

    @property
    def deployment(self) -> Doc:
        return self.one("Deployment")

    @property
    def pod(self) -> Doc:
        # The Deployment's, or with two or more replicas the StatefulSet's.
        (workload,) = self.all("Deployment") + self.all("StatefulSet")
        spec: Doc = workload["spec"]["template"]["spec"]
        return spec

    @property
    def container(self) -> Doc:
        (container,) = self.pod["containers"]
        return dict(container)

    @property
    def config_text(self) -> str:
        text: str = self.one("ConfigMap")["data"]["config.yaml"]
        return text

    @property
    def config(self) -> Doc:
        loaded: Doc = yaml.safe_load(self.config_text)
        return loaded

    @property
    def notes(self) -> str:
        return self.files[f"{chart().name}/templates/NOTES.txt"]


@functools.cache
def _render(values_json: str) -> Rendered:
    files = chart().render(json.loads(values_json), name=RELEASE, namespace=NAMESPACE)
    docs: list[Doc] = []
    foreign: list[Doc] = []
    for path, text in sorted(files.items()):
        if path.endswith("NOTES.txt"):
            continue
        objects = [d for d in yaml.safe_load_all(text) if d]
        target = foreign if path.endswith(FOREIGN_TEMPLATES) else docs
        target.extend(objects)
    return Rendered(files, docs, foreign)


def render(values: Mapping[str, Any]) -> Rendered:
    return _render(json.dumps(values, sort_keys=True))


def rules(role: Doc) -> list[tuple[str, str, str]]:
    """Every (apiGroup, resource, verb) a Role or ClusterRole grants, sorted."""
    return sorted(
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    )


GITHUB_APP: dict[str, Any] = {
    "config": {"github": {"org": "acme"}},
    "github": {
        "app": {"appId": 123456, "installationId": 78901234, "privateKey": "fake-pem-for-tests"}
    },
}
NAMESPACED: dict[str, Any] = {"rbac": {"namespaces": ["team-a", "team-b"]}}
DEPLOYMENTS_ONLY: dict[str, Any] = {"config": {"kubernetes": {"kinds": ["Deployment"]}}}


def case_values(case: str) -> dict[str, Any]:
    """The values of the named cases every test module shares."""
    if case == "default":
        return merged(LAUNCH)
    if case == "everything":
        return everything_values()
    if case == "github-app":
        return merged(LAUNCH, GITHUB_APP)
    if case == "namespaced":
        return merged(LAUNCH, NAMESPACED)
    if case == "deployments-only":
        return merged(LAUNCH, DEPLOYMENTS_ONLY)
    if case == "replicas":
        return merged(everything_values(), REPLICAS)
    raise KeyError(case)


# Two replicas with every option on (its own affinity too): the StatefulSet topology.
REPLICAS: dict[str, Any] = {"replicaCount": 2}
CASES = ("default", "everything", "github-app", "namespaced", "deployments-only", "replicas")

"""values.schema.json: wrong types and unknown keys fail install and lint, naming the key."""

from __future__ import annotations

import json
from typing import Any

import pytest
from helm_python import HelmValuesError, lint
from pydantic import BaseModel

from collector import config
from tests.helm.chart import CHART_DIR, LAUNCH, chart, merged, render

SCHEMA: dict[str, Any] = json.loads((CHART_DIR / "values.schema.json").read_text())


@pytest.mark.parametrize(
    ("override", "problem"),
    [
        ({"replicaCount": "two"}, "at '/replicaCount': got string, want integer"),
        ({"replicaCount": -1}, "at '/replicaCount': minimum: got -1, want 0"),
        ({"podAntiAffinity": "soft"}, "at '/podAntiAffinity': value must be one of 'preferred'"),
        ({"foo": 1}, "at '': additional properties 'foo' not allowed"),
        ({"service": {"port": "x"}}, "at '/service/port': got string, want integer"),
        ({"service": {"prot": 1}}, "at '/service': additional properties 'prot' not allowed"),
        ({"logLevel": "verbose"}, "at '/logLevel': value must be one of 'debug', 'info'"),
        (
            {"persistence": {"enabled": "yes"}},
            "at '/persistence/enabled': got string, want boolean",
        ),
        ({"rbac": {"namespaces": "team-a"}}, "at '/rbac/namespaces': got string, want array"),
        (
            {"persistence": {"onUnreadable": "delete"}},
            "at '/persistence/onUnreadable': value must be one of 'fail', 'keep_aside'",
        ),
        (
            {"config": {"kubernetes": {"kinds": ["Deployment", "Pod"]}}},
            "at '/config/kubernetes/kinds/1': value must be one of 'Deployment', 'StatefulSet'",
        ),
        (
            {"config": {"platform": {"launch_date": "March 2026"}}},
            "at '/config/platform/launch_date': 'March 2026' does not match pattern",
        ),
        (
            {"config": {"kubernetes": {"intervall": "5m"}}},
            "at '/config/kubernetes': additional properties 'intervall' not allowed",
        ),
        ({"config": {"state": {"path": "/x"}}}, "at '/config': additional properties 'state'"),
        (
            {"prometheusRule": {"adoptionBelowTarget": {"threshold": "30%"}}},
            "at '/prometheusRule/adoptionBelowTarget/threshold': got string, want number",
        ),
        (
            {"prometheusRule": {"listForbidden": {"for": "30 minutes"}}},
            "at '/prometheusRule/listForbidden/for': '30 minutes' does not match pattern",
        ),
        (
            {"prometheusRule": {"teamsDropped": {"severity": "page"}}},
            "at '/prometheusRule/teamsDropped/severity': value must be one of",
        ),
        ({"dashboards": {"enabled": 1}}, "at '/dashboards/enabled': got number, want boolean"),
    ],
)
def test_schema_rejects_wrong_values_naming_the_key(override: dict[str, Any], problem: str) -> None:
    values = merged(LAUNCH, override)
    with pytest.raises(HelmValuesError) as info:
        render(values)
    assert problem in str(info.value)
    report = lint(CHART_DIR, values, strict=True)
    assert any(problem in error for error in report["errors"]), report["errors"]


def test_chart_defaults_and_every_case_pass_the_schema() -> None:
    chart().validate_schema(chart().values)
    chart().validate_schema(merged(chart().values, LAUNCH))


def test_schema_forbids_unknown_keys_at_the_top_and_in_chart_sections() -> None:
    assert SCHEMA["additionalProperties"] is False
    # Every key of values.yaml is in the schema, and the other way round.
    assert set(SCHEMA["properties"]) == set(chart().values) | {"global"}
    for key, section in SCHEMA["properties"].items():
        if key in (
            "global",
            "securityContext",
            "containerSecurityContext",
            "resources",
            "affinity",
        ):
            continue  # Kubernetes objects or Helm's own, passed through verbatim
        if section.get("type") == "object" and "properties" in section:
            assert section["additionalProperties"] is False, key


def _model_keys(model: type[BaseModel]) -> set[str]:
    return {field.alias or name for name, field in model.model_fields.items()}


def _schema_keys(node: dict[str, Any]) -> set[str]:
    if "$ref" in node:
        node = SCHEMA["definitions"][node["$ref"].rsplit("/", 1)[1]]
    return set(node["properties"])


def _items(node: dict[str, Any]) -> dict[str, Any]:
    items: dict[str, Any] = node["items"]
    return items


def test_config_schema_has_exactly_the_collectors_keys() -> None:
    """Fails when config.py gains or loses a key the schema does not follow."""
    cfg = SCHEMA["properties"]["config"]
    props = cfg["properties"]
    # state and server are the chart's: rejected under config.
    assert _schema_keys(cfg) == _model_keys(config.Settings) - {"state", "server"}
    kube = props["kubernetes"]
    github = props["github"]
    golden = _items(props["golden_paths"])
    pairs: list[tuple[dict[str, Any], type[BaseModel]]] = [
        (props["platform"], config.Platform),
        (_items(props["platform"]["properties"]["adoption_targets"]), config.AdoptionTarget),
        (props["teams"], config.Teams),
        (props["ownership"], config.Ownership),
        (props["limits"], config.Limits),
        (props["exporter"], config.Exporter),
        (props["collector"], config.CollectorIdentity),
        (kube, config.Kubernetes),
        (_items(kube["properties"]["clusters"]), config.Cluster),
        (github, config.GitHub),
        (github["properties"]["app"], config.GitHubApp),
        (golden, config.GoldenPath),
        (golden["properties"]["match"], config.Match),
        (golden["properties"]["github"], config.GitHubMatch),
        (golden["properties"]["match"]["properties"]["labels"], config.Selector),
        (
            _items(SCHEMA["definitions"]["selector"]["properties"]["matchExpressions"]),
            config.Requirement,
        ),
    ]
    for node, model in pairs:
        assert _schema_keys(node) == _model_keys(model), model.__name__
        target = SCHEMA["definitions"]["selector"] if "$ref" in node else node
        assert target["additionalProperties"] is False, model.__name__
    assert kube["properties"]["kinds"]["items"]["enum"] == list(config.DEFAULT_KINDS)

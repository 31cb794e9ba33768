"""The chart lints clean (strict) and renders objects a current Kubernetes API server accepts."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest
from helm_python import HelmRenderError, lint

from tests.helm.chart import (
    CASES,
    CHART_DIR,
    CRD_KINDS,
    FULLNAME,
    LAUNCH,
    NAMESPACE,
    RELEASE,
    SELECTOR,
    Rendered,
    case_values,
    chart,
    merged,
    render,
)

# The newest Kubernetes kubernetes-validate 1.37 knows (strict schemas: unknown fields are
# errors, as with the API server's strict field validation).
KUBE_VERSION = "1.37"


@pytest.mark.parametrize("case", CASES)
def test_lint_strict_reports_no_warning_or_error(case: str) -> None:
    report = lint(CHART_DIR, case_values(case), strict=True, kube_version=f"v{KUBE_VERSION}.0")
    assert report["errors"] == []
    # Severity 1 is informational (e.g. "icon is recommended"); 2 warning, 3 error.
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_without_launch_date_install_fails_naming_the_key() -> None:
    with pytest.raises(HelmRenderError) as info:
        chart().render({}, name=RELEASE, namespace=NAMESPACE)
    assert "config.platform.launch_date is required" in str(info.value)
    # Helm's lint mode relaxes `required` to a logged warning by design, so the chart's own
    # defaults still lint; install and template fail as above.
    assert lint(CHART_DIR, {}, strict=True)["errors"] == []


def test_chart_metadata() -> None:
    meta = chart().metadata
    assert (meta["apiVersion"], meta["name"], meta["version"], meta["appVersion"]) == (
        "v2",
        "adoption-collector",
        "0.1.0",
        "0.1.0",
    )


def test_kubernetes_validate_has_schemas_for_the_pinned_version() -> None:
    versions = kubernetes_validate.utils.all_versions()
    assert f"{KUBE_VERSION}.0" in versions


def validation_problem(doc: dict[str, Any]) -> str | None:
    """None if valid, else where and what (the exception itself prints the whole schema)."""
    try:
        version = kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path)
        return f"{doc['kind']} {doc['metadata']['name']}: {where}: {exc.message}"
    assert version == KUBE_VERSION
    return None


def test_every_core_object_passes_strict_kubernetes_validation(any_case: Rendered) -> None:
    checked = 0
    for doc in any_case.docs + any_case.foreign:
        if doc["kind"] in CRD_KINDS:
            continue
        assert validation_problem(doc) is None
        checked += 1
    assert checked >= 7


def test_default_renders_exactly_these_objects(default: Rendered) -> None:
    assert default.kinds() == [
        "ClusterRole",
        "ClusterRoleBinding",
        "ConfigMap",
        "Deployment",
        "PersistentVolumeClaim",
        "Service",
        "ServiceAccount",
    ]
    assert default.foreign == []
    names = {
        (d["kind"], d["metadata"]["name"], d["metadata"].get("namespace")) for d in default.docs
    }
    assert names == {
        ("ClusterRole", FULLNAME, None),
        ("ClusterRoleBinding", FULLNAME, None),
        ("ConfigMap", FULLNAME, NAMESPACE),
        ("Deployment", FULLNAME, NAMESPACE),
        ("PersistentVolumeClaim", FULLNAME, NAMESPACE),
        ("Service", FULLNAME, NAMESPACE),
        ("ServiceAccount", FULLNAME, NAMESPACE),
    }


def test_everything_renders_every_optional_object(everything: Rendered) -> None:
    assert everything.kinds() == [
        "ClusterRole",
        "ClusterRoleBinding",
        "ConfigMap",
        "Deployment",
        "NetworkPolicy",
        "PersistentVolumeClaim",
        "PodDisruptionBudget",
        "Secret",
        "Service",
        "ServiceAccount",
        "ServiceMonitor",
    ]


def test_every_object_carries_the_common_labels(any_case: Rendered) -> None:
    for doc in any_case.docs:
        labels = doc["metadata"]["labels"]
        assert labels["helm.sh/chart"] == "adoption-collector-0.1.0"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["app.kubernetes.io/version"] == "0.1.0"
        assert {k: labels[k] for k in SELECTOR} == SELECTOR


def test_everything_adds_common_labels_everywhere(everything: Rendered) -> None:
    # commonLabels, and customLabels (the former name) over them.
    labels = {
        (d["metadata"]["labels"]["cost-center"], d["metadata"]["labels"]["example.com/owner"])
        for d in everything.docs + everything.foreign
    }
    assert labels == {("platform", "platform-observability")}


def test_scrape_annotations_on_the_service(default: Rendered, everything: Rendered) -> None:
    assert "annotations" not in default.one("Service")["metadata"]
    assert everything.one("Service")["metadata"]["annotations"] == {
        "example.com/scrape": "false",
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "9853",
        "prometheus.io/path": "/metrics",
        "prometheus.io/scheme": "http",
    }
    tls = render(
        merged(
            LAUNCH,
            {
                "service": {"scrapeAnnotations": True, "port": 9443},
                "webConfig": {"existingSecret": "collector-web", "tls": True},
            },
        )
    )
    annotations = tls.one("Service")["metadata"]["annotations"]
    assert (annotations["prometheus.io/scheme"], annotations["prometheus.io/port"]) == (
        "https",
        "9443",
    )


def test_service_monitor_selects_the_service_port(everything: Rendered) -> None:
    monitor = everything.one("ServiceMonitor")
    service = everything.one("Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["namespace"] == "monitoring"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["metadata"]["annotations"] == {"example.com/owner": "platform"}
    # The operator's required fields, and that they point at what the chart renders.
    selected = monitor["spec"]["selector"]["matchLabels"]
    assert selected.items() <= service["metadata"]["labels"].items()
    assert [p["name"] for p in service["spec"]["ports"]] == ["http-metrics"]
    assert monitor["spec"] == {
        "jobLabel": "app.kubernetes.io/name",
        "selector": {"matchLabels": SELECTOR},
        "namespaceSelector": {"matchNames": [NAMESPACE]},
        "endpoints": [
            {
                "port": "http-metrics",
                "path": "/metrics",
                "interval": "2m",
                "scrapeTimeout": "20s",
                "honorLabels": False,
                "relabelings": [
                    {"action": "replace", "targetLabel": "environment", "replacement": "production"}
                ],
                "metricRelabelings": [
                    {
                        "action": "drop",
                        "sourceLabels": ["__name__"],
                        "regex": "adoption_collector_poll_duration_seconds",
                    }
                ],
            }
        ],
    }


def test_service_monitor_defaults_to_the_release_namespace() -> None:
    rendered = render(merged(LAUNCH, {"serviceMonitor": {"enabled": True}}))
    monitor = rendered.one("ServiceMonitor")
    assert monitor["metadata"]["namespace"] == NAMESPACE
    assert monitor["spec"]["endpoints"] == [
        {
            "port": "http-metrics",
            "path": "/metrics",
            "interval": "1m",
            "scrapeTimeout": "10s",
            "honorLabels": False,
        }
    ]


def _rule_groups(doc: dict[str, Any]) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = doc["spec"]["groups"]
    return groups


def test_prometheus_rule_has_the_operators_required_fields(everything: Rendered) -> None:
    (rule,) = [d for d in everything.foreign if d["kind"] == "PrometheusRule"]
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["namespace"] == NAMESPACE
    groups = _rule_groups(rule)
    assert groups
    for group in groups:
        assert isinstance(group["name"], str)
        assert group["name"]
        assert group["rules"]
        for r in group["rules"]:
            assert isinstance(r["expr"], str | int | float)
            assert ("alert" in r) != ("record" in r)


def test_crds_are_gated_on_the_values_flags_alone(default: Rendered) -> None:
    # Offline rendering knows no monitoring.coreos.com API; the flags alone decide.
    assert [d for d in default.docs + default.foreign if d["kind"] in CRD_KINDS] == []
    rendered = render(
        merged(LAUNCH, {"serviceMonitor": {"enabled": True}, "prometheusRule": {"enabled": True}})
    )
    kinds = [d["kind"] for d in rendered.docs + rendered.foreign if d["kind"] in CRD_KINDS]
    expected = ["ServiceMonitor"]
    if (CHART_DIR / "templates" / "prometheusrule.yaml").exists():
        expected.append("PrometheusRule")
    assert sorted(kinds) == sorted(expected)


def test_network_policy_opens_only_metrics_ingress_and_the_needed_egress(
    everything: Rendered,
) -> None:
    policy = everything.one("NetworkPolicy")
    assert policy["spec"] == {
        "podSelector": {"matchLabels": SELECTOR},
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [
            {
                "ports": [{"port": "http-metrics", "protocol": "TCP"}],
                "from": [
                    {
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": "monitoring"}
                        },
                        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
                    }
                ],
            }
        ],
        "egress": [
            {
                "ports": [{"port": 443, "protocol": "TCP"}, {"port": 6443, "protocol": "TCP"}],
                "to": [{"ipBlock": {"cidr": "10.0.0.1/32"}}],
            },
            {
                "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
                "to": [
                    {
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                        },
                        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                    }
                ],
            },
            {
                "ports": [{"port": 443, "protocol": "TCP"}],
                "to": [{"ipBlock": {"cidr": "192.0.2.0/24"}}],
            },
            {
                "to": [{"ipBlock": {"cidr": "198.51.100.10/32"}}],
                "ports": [{"port": 6443, "protocol": "TCP"}],
            },
        ],
    }


def test_network_policy_defaults_without_github() -> None:
    rendered = render(merged(LAUNCH, {"networkPolicy": {"enabled": True}}))
    assert rendered.one("NetworkPolicy")["spec"] == {
        "podSelector": {"matchLabels": SELECTOR},
        "policyTypes": ["Ingress", "Egress"],
        # No peers configured: any peer, but on the metrics port only.
        "ingress": [{"ports": [{"port": "http-metrics", "protocol": "TCP"}]}],
        "egress": [
            {"ports": [{"port": 443, "protocol": "TCP"}, {"port": 6443, "protocol": "TCP"}]},
            {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]},
        ],
    }


def test_pod_disruption_budget_never_blocks_a_drain(everything: Rendered) -> None:
    assert everything.one("PodDisruptionBudget")["spec"] == {
        "maxUnavailable": 1,
        "selector": {"matchLabels": SELECTOR},
    }


def test_long_release_names_are_truncated_to_63_characters() -> None:
    name = "a" * 50
    long = chart().render(case_values("default"), name=name, namespace=NAMESPACE)
    deployment = next(t for p, t in long.items() if p.endswith("deployment.yaml"))
    expected = f"{name}-adoption-collector"[:63].rstrip("-")
    assert f"  name: {expected}\n" in deployment
    assert len(expected) == 63


def test_notes_say_how_to_reach_metrics_and_what_to_check(default: Rendered) -> None:
    notes = default.notes
    assert f"kubectl -n {NAMESPACE} port-forward svc/{FULLNAME} 9853" in notes
    assert "adoption_collector_up" in notes
    assert "/readyz" in notes
    assert "403" in notes
    assert "persistence is disabled" not in notes


def test_notes_warn_when_persistence_is_off() -> None:
    rendered = render(merged(LAUNCH, {"persistence": {"enabled": False}}))
    assert "WARNING: persistence is disabled" in rendered.notes
    assert "resets whenever the pod is replaced" in rendered.notes


def test_notes_say_where_alerts_and_dashboards_are(default: Rendered) -> None:
    section = default.notes.split("3. Alerts and dashboards:\n", 1)[1]
    assert section == (
        "\n"
        "  Alert rules are off (prometheusRule.enabled=false). With the Prometheus Operator, set\n"
        "  prometheusRule.enabled=true (needs its PrometheusRule CRD). Without it, add the same rules\n"
        "  to your Prometheus' rule_files: deploy/prometheus/adoption-collector.rules.yaml in the\n"
        "  project's repository.\n"
        "\n"
        "  Dashboards are off (dashboards.enabled=false): set it to ship them as ConfigMaps for\n"
        "  Grafana's dashboard sidecar, or import the JSON files of deploy/grafana (in the project's\n"
        "  repository) into Grafana by hand.\n"
    )
    values = {
        "prometheusRule": {"enabled": True, "namespace": "monitoring"},
        "dashboards": {"enabled": True, "annotations": {"grafana_folder": "Platform"}},
    }
    enabled = render(merged(LAUNCH, values))
    section = enabled.notes.split("3. Alerts and dashboards:\n", 1)[1]
    # Rendered offline, so the CRD is never found here.
    assert section == (
        "\n"
        f"  Alert rules: PrometheusRule {FULLNAME} in namespace monitoring.\n"
        "  The Prometheus Operator loads it only if its ruleSelector matches the rule's labels\n"
        "  (prometheusRule.labels, e.g. release: kube-prometheus-stack) and its namespace is watched.\n"
        "  Every alert's runbook_url points at "
        "https://github.com/adoption-collector/adoption-collector/blob/main/docs/runbook.md.\n"
        "  NOTE: the monitoring.coreos.com/v1 PrometheusRule CRD was not found (or the chart was rendered\n"
        "  offline): install the Prometheus Operator's CRDs first, or the install fails on this object.\n"
        "\n"
        f'  Dashboards: ConfigMaps labelled grafana_dashboard="1" in namespace {NAMESPACE},\n'
        "  for Grafana's dashboard sidecar (kube-prometheus-stack: grafana.sidecar.dashboards.label and\n"
        "  labelValue must match; searchNamespace must include that namespace).\n"
    )

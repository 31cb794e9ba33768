"""The alert rules: one source (the chart's PrometheusRule template), tested with promtool.

deploy/prometheus/adoption-collector.rules.yaml is the template rendered by the real Helm engine
with the chart's default values (deploy/prometheus/generate.py); the promtool unit tests
(*.test.yaml here) run against that file, so they test what the chart installs too.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from helm_python import Chart

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "adoption-collector"
RULES = ROOT / "deploy" / "prometheus" / "adoption-collector.rules.yaml"
HERE = Path(__file__).resolve().parent
UNIT_TESTS = sorted(HERE.glob("*.test.yaml"))
LAUNCH = {"config": {"platform": {"launch_date": "2026-03-01"}}}
RUNBOOK = ROOT / "docs" / "runbook.md"
RUNBOOK_URL = "https://github.com/adoption-collector/adoption-collector/blob/main/docs/runbook.md"

ALERTS = {
    "PlatformAdoptionBelowTarget",
    "PlatformAdoptionBehindCurve",
    "PlatformTimeToFirstValueSlow",
    "AdoptionCollectorDown",
    "AdoptionCollectorDataStale",
    "AdoptionCollectorAbsent",
    "AdoptionGitHubRateLimitLow",
    "AdoptionCollectorListForbidden",
    "AdoptionCollectorTeamsDropped",
}
RECORDS = [
    "adoption:active_teams:org",
    "adoption:adopted_teams:org",
    "adoption:ratio:org",
    "adoption:voluntary_ratio:org",
    "adoption:team_onboarded_timestamp_seconds:org",
    "adoption:team_first_deploy_timestamp_seconds:org",
    "adoption:team_time_to_first_deploy_seconds:org",
]


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "generate_rules", ROOT / "deploy" / "prometheus" / "generate.py"
    )
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generate = load_generator()


def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, "promtool is missing: `make tools` installs Debian's prometheus"
    return subprocess.run(
        [binary, *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )


def rules_by_alert(groups: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        rule["alert"]: rule
        for group in groups["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }


def test_org_wide_figures_are_recorded_before_the_alerts_read_them() -> None:
    # One group evaluates its rules in order; separate groups run on their own (promtool's
    # order among them is not fixed either), which would let an alert read the last figures.
    groups = yaml.safe_load(RULES.read_text())["groups"]
    assert groups[0]["name"] == "adoption-collector.adoption"
    assert [rule.get("record") or rule["alert"] for rule in groups[0]["rules"]] == [
        *RECORDS,
        "PlatformAdoptionBelowTarget",
        "PlatformAdoptionBehindCurve",
        "PlatformTimeToFirstValueSlow",
    ]
    assert all("record" not in rule for group in groups[1:] for rule in group["rules"])


def test_rule_file_is_the_chart_rendered_with_default_values() -> None:
    # On failure: `.venv/bin/python deploy/prometheus/generate.py` (the lead's `make rules`).
    assert generate.rule_file() == RULES.read_text()


def test_promtool_checks_the_rule_file() -> None:
    result = promtool("check", "rules", RULES)
    assert (result.returncode, result.stdout) == (
        0,
        f"Checking {RULES}\n  SUCCESS: 16 rules found\n\n",
    ), result.stderr


@pytest.mark.parametrize("unit_test", UNIT_TESTS, ids=lambda p: p.name)
def test_promtool_unit_tests_pass(unit_test: Path) -> None:
    result = promtool("test", "rules", unit_test)
    assert (result.returncode, result.stdout) == (
        0,
        f"Unit Testing:  {unit_test}\n  SUCCESS\n\n",
    ), result.stdout + result.stderr


def test_unit_tests_found() -> None:
    assert [p.name for p in UNIT_TESTS] == [
        "adoption.test.yaml",
        "behind-curve.test.yaml",
        "collector.test.yaml",
        "org.test.yaml",
        "time-to-first-value.test.yaml",
    ]


def _broken_description(doc: dict[str, Any]) -> str:
    (expected,) = doc["tests"][0]["alert_rule_test"][1]["exp_alerts"]
    expected["exp_annotations"]["description"] = expected["exp_annotations"]["description"].replace(
        "is 25%", "is 24%"
    )
    return str(doc["tests"][0]["name"])


def _firing_where_none_expected(doc: dict[str, Any]) -> str:
    # "exactly 30% ... never fires", with t7 no longer adopted: 2 of 10.
    case = doc["tests"][1]
    (t7,) = [
        s
        for s in case["input_series"]
        if s["series"].startswith("adoption_team_adopted{") and 'team="t7"' in s["series"]
    ]
    t7["values"] = "0x300"
    return str(case["name"])


@pytest.mark.parametrize("breakage", [_broken_description, _firing_where_none_expected])
def test_a_wrong_expectation_fails_the_harness(tmp_path: Path, breakage: Any) -> None:
    doc = yaml.safe_load((HERE / "adoption.test.yaml").read_text())
    doc["rule_files"] = [str(RULES)]
    name = breakage(doc)
    broken = tmp_path / "broken.test.yaml"
    broken.write_text(yaml.safe_dump(doc, sort_keys=False))
    result = promtool("test", "rules", broken)
    assert result.returncode == 1
    assert result.stderr.startswith("  FAILED:\n"), result.stderr
    assert f"    name: {name},\n" in result.stderr
    assert "    alertname: PlatformAdoptionBelowTarget, time: 1d5m, \n" in result.stderr


def test_every_alert_has_severity_summary_and_description() -> None:
    rules = rules_by_alert(yaml.safe_load(RULES.read_text()))
    assert set(rules) == ALERTS
    assert {name: rule["labels"] for name, rule in rules.items()} == {
        "PlatformAdoptionBelowTarget": {"severity": "warning"},
        "PlatformAdoptionBehindCurve": {"severity": "info"},
        "PlatformTimeToFirstValueSlow": {"severity": "warning"},
        "AdoptionCollectorDown": {"severity": "warning"},
        "AdoptionCollectorDataStale": {"severity": "warning"},
        "AdoptionCollectorAbsent": {"severity": "warning"},
        "AdoptionGitHubRateLimitLow": {"severity": "warning"},
        "AdoptionCollectorListForbidden": {"severity": "warning"},
        "AdoptionCollectorTeamsDropped": {"severity": "info"},
    }
    for rule in rules.values():
        assert sorted(rule["annotations"]) == ["description", "runbook_url", "summary"]
        assert rule["annotations"]["runbook_url"] == f"{RUNBOOK_URL}#{rule['alert'].lower()}"
    with_value = {name for name, r in rules.items() if "$value" in r["annotations"]["description"]}
    assert with_value == ALERTS - {
        "AdoptionCollectorDown",
        "AdoptionCollectorAbsent",
        "AdoptionCollectorListForbidden",  # always 1: its labels say it all
    }
    with_for = {name: rule.get("for") for name, rule in rules.items()}
    assert with_for == {
        "PlatformAdoptionBelowTarget": "1d",
        "PlatformAdoptionBehindCurve": "7d",
        "PlatformTimeToFirstValueSlow": "1d",
        "AdoptionCollectorDown": "30m",
        "AdoptionCollectorDataStale": None,  # its condition is a duration already
        "AdoptionCollectorAbsent": "30m",
        "AdoptionGitHubRateLimitLow": "15m",
        "AdoptionCollectorListForbidden": "30m",
        "AdoptionCollectorTeamsDropped": "1h",
    }


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    firing: set[str] = set()
    silent: set[str] = set()
    for path in UNIT_TESTS:
        doc = yaml.safe_load(path.read_text())
        assert doc["rule_files"] == ["../../deploy/prometheus/adoption-collector.rules.yaml"]
        for case in doc["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check["exp_alerts"] else silent).add(check["alertname"])
    assert firing == ALERTS
    assert silent == ALERTS


def render_rule(values: dict[str, Any]) -> dict[str, Any]:
    with Chart.load(CHART) as chart:
        files = chart.render(values, name="prod", namespace="platform")
    docs = [d for d in yaml.safe_load_all(files[generate.TEMPLATE]) if d]
    (doc,) = docs
    return dict(doc)


def test_disabled_by_default() -> None:
    with Chart.load(CHART) as chart:
        files = chart.render(LAUNCH, name="prod", namespace="platform")
    assert files.get(generate.TEMPLATE, "").strip() == ""


def test_metadata_namespace_labels_and_annotations() -> None:
    doc = render_rule({**LAUNCH, "prometheusRule": {"enabled": True}})
    assert doc["apiVersion"] == "monitoring.coreos.com/v1"
    assert doc["kind"] == "PrometheusRule"
    assert doc["metadata"]["name"] == "prod-adoption-collector"
    assert doc["metadata"]["namespace"] == "platform"
    assert "annotations" not in doc["metadata"]
    assert doc["metadata"]["labels"]["app.kubernetes.io/instance"] == "prod"

    doc = render_rule(
        {
            **LAUNCH,
            "prometheusRule": {
                "enabled": True,
                "namespace": "monitoring",
                "labels": {"release": "kube-prometheus-stack"},
                "annotations": {"team": "platform"},
            },
        }
    )
    assert doc["metadata"]["namespace"] == "monitoring"
    assert doc["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert doc["metadata"]["labels"]["app.kubernetes.io/name"] == "adoption-collector"
    assert doc["metadata"]["annotations"] == {"team": "platform"}


CUSTOM = {
    "prometheusRule": {
        "enabled": True,
        "adoptionBelowTarget": {
            "threshold": 0.5,
            "minimumAgeDays": 365,
            "for": "2d",
            "severity": "critical",
        },
        "behindCurve": {"for": "14d", "severity": "warning"},
        "timeToFirstValueSlow": {
            "thresholdDays": 45,
            "windowDays": 180,
            "for": "3d",
            "severity": "info",
        },
        "collectorDown": {"for": "1h", "staleIntervals": 5, "severity": "critical"},
        "githubRateLimitLow": {"threshold": 0.2, "for": "5m", "severity": "info"},
        "listForbidden": {"for": "2h", "severity": "critical"},
        "teamsDropped": {"for": "1d", "severity": "warning"},
    }
}

STALE_5 = """\
(
  (
    time() - adoption_collector_last_success_timestamp_seconds
      > 5 * adoption_collector_poll_interval_seconds
  )
  or
  (adoption_collector_up == 0 unless adoption_collector_last_success_timestamp_seconds)
)"""


def test_values_reach_the_rules() -> None:
    rules = rules_by_alert(render_rule({**LAUNCH, **CUSTOM})["spec"])
    assert rules["PlatformAdoptionBelowTarget"]["expr"] == (
        "(\n"
        "  adoption:voluntary_ratio:org < 0.5\n"
        "  and on ()\n"
        "  time() - min(adoption_platform_launch_timestamp_seconds) > 365 * 86400\n"
        ")\n"
        "unless on ()\n" + STALE_5
    )
    assert rules["PlatformAdoptionBehindCurve"]["expr"] == (
        "adoption:voluntary_ratio:org < on () max(adoption_target_ratio)\nunless on ()\n" + STALE_5
    )
    assert rules["PlatformTimeToFirstValueSlow"]["expr"] == (
        "quantile(0.5,\n"
        "  (\n"
        "    adoption:team_time_to_first_deploy_seconds:org\n"
        "    or\n"
        "    time() - adoption:team_onboarded_timestamp_seconds:org\n"
        "  )\n"
        "  and\n"
        "  time() - adoption:team_onboarded_timestamp_seconds:org < 180 * 86400\n"
        ") > 45 * 86400\n"
        "unless on ()\n" + STALE_5
    )
    assert rules["AdoptionCollectorDataStale"]["expr"] == (
        "time() - adoption_collector_last_success_timestamp_seconds\n"
        "  > 5 * adoption_collector_poll_interval_seconds"
    )
    assert rules["AdoptionGitHubRateLimitLow"]["expr"] == (
        "adoption_collector_github_rate_limit_remaining\n"
        "  / adoption_collector_github_rate_limit_limit\n"
        "  < 0.2"
    )
    assert {name: (r.get("for"), r["labels"]["severity"]) for name, r in rules.items()} == {
        "PlatformAdoptionBelowTarget": ("2d", "critical"),
        "PlatformAdoptionBehindCurve": ("14d", "warning"),
        "PlatformTimeToFirstValueSlow": ("3d", "info"),
        "AdoptionCollectorDown": ("1h", "critical"),
        "AdoptionCollectorDataStale": (None, "critical"),
        "AdoptionCollectorAbsent": ("1h", "critical"),
        "AdoptionGitHubRateLimitLow": ("5m", "info"),
        "AdoptionCollectorListForbidden": ("2h", "critical"),
        "AdoptionCollectorTeamsDropped": ("1d", "warning"),
    }
    assert rules["PlatformAdoptionBelowTarget"]["annotations"]["summary"] == (
        "Voluntary platform adoption is below 50%."
    )
    assert rules["AdoptionCollectorListForbidden"]["expr"] == (
        "adoption_collector_list_forbidden == 1"
    )
    assert (
        "(for 2h, as of its last successful poll)"
        in (rules["AdoptionCollectorListForbidden"]["annotations"]["description"])
    )
    assert rules["AdoptionCollectorTeamsDropped"]["expr"] == "adoption_collector_dropped_teams > 0"


def test_custom_threshold_fires_in_promtool(tmp_path: Path) -> None:
    """45% voluntary adoption (9 of 20 teams) a year and a half after launch: below a 50%
    threshold."""
    (tmp_path / "rules.yaml").write_text(generate.rule_file(values=CUSTOM))
    assert promtool("check", "rules", tmp_path / "rules.yaml").returncode == 0
    labels = 'job="adoption", instance="collector:9853"'
    teams = [
        {"series": f'adoption_team_{name}{{{labels}, team="t{i}"}}', "values": f"{value}x600"}
        for i in range(20)
        for name, value in (("adopted", int(i < 9)), ("mandated", 0))
    ]
    unit = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "5m",
        "tests": [
            {
                "interval": "5m",
                "input_series": [
                    *teams,
                    {
                        "series": f"adoption_platform_launch_timestamp_seconds{{{labels}}}",
                        "values": "-47304000x600",
                    },
                ],
                "alert_rule_test": [
                    {"eval_time": "47h55m", "alertname": "PlatformAdoptionBelowTarget"},
                    {
                        "eval_time": "48h",
                        "alertname": "PlatformAdoptionBelowTarget",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "critical"},
                                "exp_annotations": {
                                    "runbook_url": f"{RUNBOOK_URL}#platformadoptionbelowtarget",
                                    "summary": "Voluntary platform adoption is below 50%.",
                                    "description": "Voluntary adoption (adopted / active teams,"
                                    " mandated teams left out) is 45%, below 50%, and the"
                                    " platform went live more than 365 days ago.",
                                },
                            }
                        ],
                    },
                ],
            }
        ],
    }
    (tmp_path / "unit.test.yaml").write_text(yaml.safe_dump(unit))
    result = promtool("test", "rules", tmp_path / "unit.test.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_switch_and_a_runbook_section() -> None:
    """values.yaml lists every alert under prometheusRule.rules, and docs/runbook.md has a
    section per alert whose anchor (GitHub's: the heading in lower case) runbook_url names."""
    with Chart.load(CHART) as chart:
        switches = chart.values["prometheusRule"]["rules"]
    assert switches == {name: {"enabled": True} for name in ALERTS}
    headings = [line[4:] for line in RUNBOOK.read_text().splitlines() if line.startswith("### ")]
    assert sorted(headings) == sorted(ALERTS)


def test_rules_switch_alerts_off_and_override_for_and_severity() -> None:
    values = {
        **LAUNCH,
        "prometheusRule": {
            "enabled": True,
            "rules": {
                "PlatformAdoptionBelowTarget": {"enabled": False},
                "PlatformAdoptionBehindCurve": {"enabled": False},
                "PlatformTimeToFirstValueSlow": {"enabled": False},
                "AdoptionCollectorDataStale": {"for": "10m", "severity": "critical"},
                "AdoptionCollectorAbsent": {"severity": "info"},
            },
        },
    }
    spec = render_rule(values)["spec"]
    # Every adoption alert off: their group keeps only the org-wide recording rules.
    assert [g["name"] for g in spec["groups"]] == [
        "adoption-collector.adoption",
        "adoption-collector.collector",
    ]
    assert [r.get("alert") for r in spec["groups"][0]["rules"]] == [None] * 7
    rules = rules_by_alert(spec)
    assert set(rules) == ALERTS - {
        "PlatformAdoptionBelowTarget",
        "PlatformAdoptionBehindCurve",
        "PlatformTimeToFirstValueSlow",
    }
    stale, absent, down = (
        rules["AdoptionCollectorDataStale"],
        rules["AdoptionCollectorAbsent"],
        rules["AdoptionCollectorDown"],
    )
    assert (stale["for"], stale["labels"]) == ("10m", {"severity": "critical"})
    assert (absent["for"], absent["labels"]) == ("30m", {"severity": "info"})
    assert (down["for"], down["labels"]) == ("30m", {"severity": "warning"})


def test_additional_rules_join_in_their_own_group(tmp_path: Path) -> None:
    extra = {
        "alert": "PaymentsShadowWorkloads",
        "expr": 'adoption_team_workloads{team="payments",path="shadow"} > 10',
        "for": "1h",
        "labels": {"severity": "info"},
        "annotations": {"summary": "{{ $value }} shadow workloads in payments."},
    }
    values = {**LAUNCH, "prometheusRule": {"enabled": True, "additionalRules": [extra]}}
    spec = render_rule(values)["spec"]
    assert [g["name"] for g in spec["groups"]] == [
        "adoption-collector.adoption",
        "adoption-collector.collector",
        "adoption-collector.additional",
    ]
    assert spec["groups"][2]["rules"] == [extra]
    rule_file = tmp_path / "rules.yaml"
    rule_file.write_text(yaml.safe_dump(spec))
    result = promtool("check", "rules", rule_file)
    assert (result.returncode, result.stdout) == (
        0,
        f"Checking {rule_file}\n  SUCCESS: 17 rules found\n\n",
    ), result.stderr

"""The Grafana dashboards: generated, copied into the chart, PromQL that parses and names only
metrics a running collector exports (read from a real `adoption-collector demo --once`)."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from helm_python import Chart
from prometheus_client.parser import text_string_to_metric_families

from collector.exporter import render
from collector.model import SourceStatus
from tests.dashboards.queries import (
    DS,
    GRAFANA,
    SUBSTITUTES,
    VARIABLE,
    dashboards,
    metric_names,
    queries,
    substitute,
)
from tests.test_explain import drilldown as scenario_drilldown

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "adoption-collector"
TEMPLATE = "adoption-collector/templates/dashboards.yaml"
RULES = ROOT / "deploy" / "prometheus" / "adoption-collector.rules.yaml"
NAMES = ["collector-health.json", "platform-adoption.json"]
LAUNCH = {"config": {"platform": {"launch_date": "2026-03-01"}}}


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_dashboards", GRAFANA / "generate.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    """Sample name -> its label names, from a real collector's exposition."""
    cli = Path(sys.executable).parent / "adoption-collector"
    result = subprocess.run(
        [str(cli), "demo", "--once"], capture_output=True, text=True, timeout=60, check=True
    )
    # Series that exist only while something is wrong, so never in the demo: the collector's
    # own exporter renders them for a poll RBAC refused a kind in.
    refused = SourceStatus(
        source="kubernetes",
        kube_cluster="prod-eu",
        up=True,
        last_success=0.0,
        poll_duration=1.0,
        errors_total=0,
        complete=False,
        forbidden=("CronJob",),
    )
    problems = render(None, [refused]).decode()
    assert "adoption_collector_list_forbidden{" in problems
    # Series only exported when opted in (exporter.workload_info): rendered from a drill-down.
    drilldown = scenario_drilldown(tmp_path_factory.mktemp("opt-in"))
    opted_in = render(drilldown.snapshot, (), workload_info=drilldown).decode()
    assert "adoption_workload_info{" in opted_in
    labels: dict[str, set[str]] = {}
    for text in (result.stdout, problems, opted_in):
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels.setdefault(sample.name, set()).update(sample.labels)
    return labels


def promtool_check(tmp_path: Path, exprs: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`promtool check rules` on a rule file holding every expression as a recording rule."""
    binary = shutil.which("promtool")
    assert binary, "promtool is missing: `make tools` installs Debian's prometheus"
    rules = [{"record": record, "expr": expr} for record, expr in exprs.items()]
    path = tmp_path / "dashboard-queries.rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    return subprocess.run(
        [binary, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )


def test_files_are_generated_and_the_chart_has_copies() -> None:
    files = load_generator().render()
    assert sorted(files) == NAMES
    assert sorted(p.name for p in GRAFANA.glob("*.json")) == NAMES
    assert sorted(p.name for p in (CHART / "dashboards").glob("*")) == NAMES
    for name, text in files.items():
        # On failure: `.venv/bin/python deploy/grafana/generate.py`.
        assert (GRAFANA / name).read_text() == text, name
        assert (CHART / "dashboards" / name).read_text() == text, name


def test_dashboards_are_importable() -> None:
    found = dashboards()
    assert {name: (d["uid"], d["title"]) for name, d in found.items()} == {
        "collector-health.json": ("adoption-collector-health", "Adoption collector health"),
        "platform-adoption.json": ("adoption-platform", "Platform adoption"),
    }
    for file, dashboard in found.items():
        assert dashboard["schemaVersion"] == 39
        assert dashboard["id"] is None
        assert "__inputs" not in dashboard  # the sidecar would not substitute them
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        if file == "platform-adoption.json":
            assert list(variables) == ["datasource", "job", "cluster", "team"]
            assert variables["team"]["definition"] == (
                'label_values(adoption_team_workloads{job="$job"}, team)'
            )
            assert (variables["team"]["multi"], variables["team"]["allValue"]) == (True, ".*")
            assert variables["team"]["datasource"] == DS
        else:
            assert list(variables) == ["datasource", "job", "cluster"]
        assert (variables["datasource"]["type"], variables["datasource"]["query"]) == (
            "datasource",
            "prometheus",
        )
        assert variables["job"]["definition"] == "label_values(adoption_collector_build_info, job)"
        assert variables["cluster"]["definition"] == (
            'label_values(adoption_collector_up{job="$job", source="kubernetes"}, kube_cluster)'
        )
        assert (variables["cluster"]["multi"], variables["cluster"]["allValue"]) == (True, ".*")
        for name in ("job", "cluster"):
            assert variables[name]["datasource"] == DS


def test_panels_use_the_datasource_variable_and_a_sound_grid() -> None:
    for name, dashboard in dashboards().items():
        panels = dashboard["panels"]
        assert [p["id"] for p in panels] == list(range(1, len(panels) + 1)), name
        cells: set[tuple[int, int]] = set()
        for panel in panels:
            assert panel["datasource"] == DS, panel["title"]
            assert panel["description"], panel["title"]
            assert panel["targets"], panel["title"]
            refs = [t["refId"] for t in panel["targets"]]
            assert len(set(refs)) == len(refs), panel["title"]
            for target in panel["targets"]:
                assert target["datasource"] == DS, panel["title"]
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24, panel["title"]
            mine = {
                (x, y)
                for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])
            }
            assert not cells & mine, f"{panel['title']} overlaps another panel"
            cells |= mine
        titles = [p["title"] for p in panels]
        assert len(set(titles)) == len(titles), name


def test_panels_of_platform_adoption() -> None:
    titles = [p["title"] for p in dashboards()["platform-adoption.json"]["panels"]]
    assert titles == [
        "Voluntary adoption",
        "Target",
        "Adoption (all teams)",
        "Active teams",
        "Adopted teams",
        "Golden workloads",
        "Platform age",
        "Median time to first deploy",
        "Five predictors met",
        "Product manager",
        "Pre-platform baseline",
        "Developer NPS",
        "Voluntary adoption on track",
        "Time to first value",
        "Voluntary adoption against the target curve",
        "Adopted vs active teams",
        "Golden vs shadow workloads by cluster",
        "Unowned workloads by cluster",
        "Unowned repositories",
        "Time to first deploy across teams",
        "Time to first deploy by team",
        "Deploys per week, golden vs shadow",
        "Deploys per week by team, golden vs shadow",
        "Deploys per team-week before and after adopting",
        "Shadow workloads by team",
        "Deploy tool mix",
        "Golden path usage",
        "Teams without a golden deploy 30 days after onboarding",
        "Repositories by path",
        "Shadow workloads",
    ]
    exprs = {t["expr"] for _, t in queries(dashboards()["platform-adoption.json"])}
    # The adoption figures are the org-wide ones: every collector, replicas counted once.
    ttfd = "adoption:team_time_to_first_deploy_seconds:org"
    assert f"quantile(0.5, {ttfd})" in exprs
    assert f"quantile(0.9, {ttfd})" in exprs
    assert "adoption:voluntary_ratio:org" in exprs
    assert "max(adoption_target_ratio)" in exprs
    assert not {e for e in exprs if re.search(r"adoption_(voluntary_)?ratio\b", e)}
    assert (
        'sum by (path) (increase(adoption_deploys_total{job="$job", kube_cluster=~"$cluster"}[1w]))'
        in exprs
    )
    # Before adopting: the days a team's first golden deploy was still ahead; only teams
    # whose first golden deploy lies inside the range.
    first = 'adoption_team_first_deploy_timestamp_seconds{job="$job", team=~"$team"}'
    weekly = 'sum by (team) (increase(adoption_team_deploys_total{job="$job", team=~"$team"}[1w]))'
    assert (
        f"avg_over_time(({weekly} and on (team) (time() <= {first}))[$__range:1d])"
        f" and on (team) ({first} > time() - $__range_s)"
    ) in exprs
    assert (
        'sum by (kube_cluster, path) (adoption_workloads{job="$job", kube_cluster=~"$cluster"})'
        in exprs
    )
    assert (
        'adoption_workload_info{job="$job", kube_cluster=~"$cluster", path="shadow", '
        'team=~"$team"}' in exprs
    )


def test_panels_of_collector_health() -> None:
    titles = [p["title"] for p in dashboards()["collector-health.json"]["panels"]]
    assert titles == [
        "Sources failing",
        "Incomplete polls",
        "Oldest data",
        "Poll errors",
        "Skipped objects",
        "Teams dropped",
        "GitHub rate limit left",
        "Version",
        "Source up",
        "Poll complete",
        "Last success age in poll intervals",
        "Kinds refused by RBAC",
        "Poll duration",
        "Errors",
        "Objects read",
        "Skipped objects by source",
        "GitHub rate limit remaining",
        "GitHub rate limit left (share)",
    ]


def test_every_query_parses(tmp_path: Path) -> None:
    exprs = {
        f"{name.removesuffix('.json').replace('-', '_')}:panel{panel['id']}_{target['refId']}": (
            substitute(target["expr"])
        )
        for name, dashboard in dashboards().items()
        for panel in dashboard["panels"]
        for target in panel["targets"]
    }
    assert len(exprs) == 58
    for expr in exprs.values():
        assert "$" not in expr, expr
    result = promtool_check(tmp_path, exprs)
    assert (result.returncode, result.stdout.splitlines()[-2:]) == (
        0,
        ["  SUCCESS: 58 rules found", ""],
    ), result.stderr


def test_the_parse_check_can_fail(tmp_path: Path) -> None:
    result = promtool_check(
        tmp_path, {"ok": "sum by (team) (adoption_team_adopted)", "bad": "sum by (team (x)"}
    )
    assert result.returncode == 1
    assert 'rule 2, "bad": could not parse expression: 1:14: parse error:' in result.stderr


def test_variables_are_defined() -> None:
    for dashboard in dashboards().values():
        defined = {v["name"] for v in dashboard["templating"]["list"]} | set(SUBSTITUTES)
        for title, target in queries(dashboard):
            used = {a or b for a, b in VARIABLE.findall(target["expr"])}
            assert used <= defined, title


def test_metric_names_reads_promql() -> None:
    assert metric_names(
        'sum by (team) (rate(foo_total{a="b", c=~"x|y"}[5m] offset 1h)) / on (team) bar'
        " > bool 1e3 unless ignoring (x) baz:recorded or time() - inf"
    ) == {"foo_total", "bar", "baz:recorded"}
    assert metric_names('quantile(0.5, x{job="$job"}) and count(y == 0) or vector(0)') == {
        "x",
        "y",
    }


def test_queries_name_only_exported_metrics(exported: dict[str, set[str]]) -> None:
    referenced: dict[str, set[str]] = {}
    for name, dashboard in dashboards().items():
        for title, target in queries(dashboard):
            for metric in metric_names(substitute(target["expr"])):
                referenced.setdefault(metric, set()).add(f"{name}: {title}")
        for variable in dashboard["templating"]["list"]:
            if variable["type"] == "query":
                found = re.fullmatch(
                    r"label_values\((\w+)(?:\{[^}]*\})?, (\w+)\)", variable["definition"]
                )
                assert found, variable["definition"]
                metric, label = found.groups()
                referenced.setdefault(metric, set()).add(f"{name}: ${variable['name']}")
                if metric in exported and label != "job":
                    assert label in exported[metric], variable["definition"]
    assert sorted(referenced) == [
        "adoption:active_teams:org",
        "adoption:adopted_teams:org",
        "adoption:ratio:org",
        "adoption:team_first_deploy_timestamp_seconds:org",
        "adoption:team_onboarded_timestamp_seconds:org",
        "adoption:team_time_to_first_deploy_seconds:org",
        "adoption:voluntary_ratio:org",
        "adoption_collector_build_info",
        "adoption_collector_dropped_teams",
        "adoption_collector_github_rate_limit_limit",
        "adoption_collector_github_rate_limit_remaining",
        "adoption_collector_last_success_timestamp_seconds",
        "adoption_collector_list_forbidden",
        "adoption_collector_objects",
        "adoption_collector_parse_errors_total",
        "adoption_collector_poll_complete",
        "adoption_collector_poll_duration_seconds",
        "adoption_collector_poll_errors_total",
        "adoption_collector_poll_interval_seconds",
        "adoption_collector_skipped_objects",
        "adoption_collector_up",
        "adoption_deploy_tool_workloads",
        "adoption_deploys_total",
        "adoption_developer_nps",
        "adoption_golden_path_workloads",
        "adoption_platform_launch_timestamp_seconds",
        "adoption_predictor_met",
        "adoption_target_ratio",
        "adoption_team_deploys_total",
        "adoption_team_first_deploy_timestamp_seconds",
        "adoption_team_mandated",
        "adoption_team_repos",
        "adoption_team_workloads",
        "adoption_unowned_repos",
        "adoption_unowned_workloads",
        "adoption_workload_info",
        "adoption_workload_ratio",
        "adoption_workloads",
    ]
    # The exposition and the recording rules are the authority: a name neither has is a panel
    # that would stay empty.
    rules = yaml.safe_load(RULES.read_text())["groups"]
    recorded = {r["record"] for group in rules for r in group["rules"] if "record" in r}
    missing = {
        metric: sorted(where)
        for metric, where in referenced.items()
        if metric not in exported and metric not in recorded
    }
    assert missing == {}


def test_legends_name_labels_the_series_have(exported: dict[str, set[str]]) -> None:
    for dashboard in dashboards().values():
        for title, target in queries(dashboard):
            metrics = metric_names(substitute(target["expr"]))
            if not metrics <= set(exported):
                continue  # test_queries_name_only_exported_metrics reports it
            labels = set().union(*(exported[m] for m in metrics)) | {"job", "instance"}
            for label in re.findall(r"\{\{\s*(\w+)\s*\}\}", target["legendFormat"]):
                assert label in labels, f"{title}: {label}"


def render_configmaps(values: dict[str, Any]) -> list[dict[str, Any]]:
    with Chart.load(CHART) as chart:
        files = chart.render({**LAUNCH, **values}, name="prod", namespace="platform")
    return [d for d in yaml.safe_load_all(files.get(TEMPLATE, "")) if d]


def test_chart_dashboards_are_off_by_default() -> None:
    assert render_configmaps({}) == []


def test_chart_wraps_each_dashboard_in_a_labelled_configmap() -> None:
    docs = render_configmaps({"dashboards": {"enabled": True}})
    assert [(d["kind"], d["metadata"]["name"], d["metadata"]["namespace"]) for d in docs] == [
        ("ConfigMap", "prod-adoption-collector-collector-health", "platform"),
        ("ConfigMap", "prod-adoption-collector-platform-adoption", "platform"),
    ]
    for doc, name in zip(docs, NAMES, strict=True):
        assert doc["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert doc["metadata"]["labels"]["app.kubernetes.io/instance"] == "prod"
        assert "annotations" not in doc["metadata"]
        assert doc["data"] == {name: (GRAFANA / name).read_text().removesuffix("\n")}

    docs = render_configmaps(
        {
            "dashboards": {
                "enabled": True,
                "namespace": "monitoring",
                "labelKey": "grafana.example.com/dashboard",
                "labelValue": "adoption",
                "annotations": {"grafana_folder": "Platform"},
            }
        }
    )
    for doc in docs:
        assert doc["metadata"]["namespace"] == "monitoring"
        assert doc["metadata"]["labels"]["grafana.example.com/dashboard"] == "adoption"
        assert "grafana_dashboard" not in doc["metadata"]["labels"]
        assert doc["metadata"]["annotations"] == {"grafana_folder": "Platform"}


def test_deploys_before_and_after_adopting_evaluated_by_promtool(tmp_path: Path) -> None:
    """The before/after panel's two queries on known series, in Prometheus' own engine: a
    team deploying once a day until its first golden deploy on day 20, then three times a
    day; one that adopted before the range (day 2), one that never adopted."""
    (panel,) = [
        p
        for p in dashboards()["platform-adoption.json"]["panels"]
        if p["title"] == "Deploys per team-week before and after adopting"
    ]
    # The range: the 30 days before day 40, averaged at daily steps (days 11 to 40).
    before, after = (
        substitute(t["expr"], __range="30d", __range_s=str(30 * 86400)) for t in panel["targets"]
    )
    job = 'job="adoption-collector"'
    first = "adoption_team_first_deploy_timestamp_seconds"
    test = {
        "rule_files": [],
        "evaluation_interval": "1d",
        "tests": [
            {
                "interval": "1d",
                "input_series": [
                    {
                        "series": f'adoption_team_deploys_total{{{job}, team="t"}}',
                        "values": "100+1x20 123+3x19",
                    },
                    {
                        "series": f'{first}{{{job}, team="t"}}',
                        "values": f"{20 * 86400}x40",
                    },
                    {
                        "series": f'adoption_team_deploys_total{{{job}, team="early"}}',
                        "values": "0+5x40",
                    },
                    {
                        "series": f'{first}{{{job}, team="early"}}',
                        "values": f"{2 * 86400}x40",
                    },
                    {
                        "series": f'adoption_team_deploys_total{{{job}, team="never"}}',
                        "values": "0+2x40",
                    },
                ],
                "promql_expr_test": [
                    # Days 11 to 20, each week wholly before: 7 a week.
                    {
                        "expr": before,
                        "eval_time": "40d",
                        "exp_samples": [{"labels": '{team="t"}', "value": 7}],
                    },
                    # Days 21 to 40: the first six weeks straddle the adoption (9, 11, ... 19
                    # deploys; Prometheus 2's ranges include their start), then 21 a week:
                    # (84 + 14 * 21) / 20.
                    {
                        "expr": after,
                        "eval_time": "40d",
                        "exp_samples": [{"labels": '{team="t"}', "value": 18.9}],
                    },
                ],
            }
        ],
    }
    path = tmp_path / "before-after.test.yaml"
    path.write_text(yaml.safe_dump(test))
    binary = shutil.which("promtool")
    assert binary, "promtool is missing: `make tools` installs Debian's prometheus"
    result = subprocess.run(
        [binary, "test", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert (result.returncode, result.stdout.split()[-1]) == (0, "SUCCESS"), (
        result.stdout + result.stderr
    )

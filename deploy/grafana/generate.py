"""Writes the Grafana dashboards (JSON next to this script, and the Helm chart's copies).

    .venv/bin/python deploy/grafana/generate.py           # rewrite both sets of files
    .venv/bin/python deploy/grafana/generate.py --check   # exit 1 if any file is out of date

The dashboards select their data source with a `datasource` template variable (no `__inputs`),
so the same JSON works imported by hand and provisioned by the Grafana sidecar from the chart's
ConfigMaps. Every query names the collector's `job` (a variable, for Prometheus servers that
scrape more than one collector), except the adoption figures themselves: those are the
org-wide `:org` recording rules (deploy/prometheus), the same for one collector, for replicas
and for one collector per region. tests/dashboards checks the PromQL and drift.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CHART_COPIES = HERE.parents[1] / "helm" / "adoption-collector" / "dashboards"
DS = {"type": "prometheus", "uid": "${datasource}"}
J = 'job="$job"'
# Collector sources: a cluster's, or GitHub's, which has no kube_cluster label.
SOURCE = 'job="$job", kube_cluster=~"$cluster|"'
CLUSTER = 'job="$job", kube_cluster=~"$cluster"'
THIRTY_DAYS = 30 * 86400
# The org-wide figures every collector contributes to (recording rules).
TTFD_ORG = "adoption:team_time_to_first_deploy_seconds:org"
ONBOARDED_ORG = "adoption:team_onboarded_timestamp_seconds:org"
FIRST_DEPLOY_ORG = "adoption:team_first_deploy_timestamp_seconds:org"

Panel = dict[str, Any]


def target(
    expr: str, legend: str = "__auto", *, instant: bool = False, table: bool = False
) -> dict[str, Any]:
    t: dict[str, Any] = {"datasource": DS, "expr": expr, "legendFormat": legend}
    if instant or table:
        t.update(instant=True, range=False, format="table" if table else "time_series")
    return t


def thresholds(*steps: tuple[float | None, str]) -> dict[str, Any]:
    return {"mode": "absolute", "steps": [{"value": v, "color": c} for v, c in steps]}


def panel(
    kind: str,
    title: str,
    description: str,
    targets: list[dict[str, Any]],
    *,
    unit: str = "short",
    w: int = 12,
    h: int = 8,
    steps: tuple[tuple[float | None, str], ...] = ((None, "green"),),
    custom: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
    mappings: list[dict[str, Any]] | None = None,
    no_value: str | None = None,
    **extra: Any,
) -> Panel:
    defaults: dict[str, Any] = {"unit": unit, "thresholds": thresholds(*steps)}
    if mappings:
        defaults["mappings"] = mappings
    if no_value is not None:
        defaults["noValue"] = no_value
    if unit == "percentunit":
        defaults.update(min=0, max=1)
    if custom:
        defaults["custom"] = custom
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "gridPos": {"w": w, "h": h},
        "targets": [{**t, "refId": chr(ord("A") + i)} for i, t in enumerate(targets)],
        "fieldConfig": {"defaults": defaults, "overrides": extra.pop("overrides", [])},
        "options": options or {},
        **extra,
    }


def stat(title: str, description: str, expr: str, legend: str = "__auto", **kw: Any) -> Panel:
    options = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}
    options.update(kw.pop("options", {}))
    kw.setdefault("w", 3)
    return panel("stat", title, description, [target(expr, legend)], h=4, options=options, **kw)


def timeseries(title: str, description: str, targets: list[dict[str, Any]], **kw: Any) -> Panel:
    custom = {"fillOpacity": 10, "showPoints": "never", "spanNulls": False}
    custom.update(kw.pop("custom", {}))
    options = {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}}
    return panel("timeseries", title, description, targets, custom=custom, options=options, **kw)


def threshold_line(value: float, color: str = "red") -> dict[str, Any]:
    """custom + steps for a timeseries drawing `value` as a dashed line."""
    return {
        "custom": {"thresholdsStyle": {"mode": "dashed"}},
        "steps": ((None, "transparent"), (value, color)),
    }


def table(
    title: str,
    description: str,
    targets: list[dict[str, Any]],
    *,
    rename: dict[str, str],
    units: dict[str, str],
    sort_by: str,
    desc: bool = True,
    hide_columns: tuple[str, ...] = (),
    **kw: Any,
) -> Panel:
    """Instant queries as one table: one row per label set (e.g. team), one column per query;
    `hide_columns` more columns to leave out."""
    hide = dict.fromkeys(("Time", "__name__", "job", "instance", *hide_columns), True)
    transformations = [
        {"id": "merge", "options": {}},
        {"id": "organize", "options": {"excludeByName": hide, "renameByName": rename}},
    ]
    overrides = [
        {"matcher": {"id": "byName", "options": column}, "properties": [{"id": "unit", "value": u}]}
        for column, u in units.items()
    ]
    return panel(
        "table",
        title,
        description,
        targets,
        transformations=transformations,
        overrides=overrides,
        options={"showHeader": True, "sortBy": [{"displayName": sort_by, "desc": desc}]},
        **kw,
    )


def bars(title: str, description: str, expr: str, legend: str, **kw: Any) -> Panel:
    options = {
        "orientation": "horizontal",
        "displayMode": "basic",
        "showUnfilled": True,
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
    }
    return panel(
        "bargauge", title, description, [target(expr, legend, instant=True)], options=options, **kw
    )


def layout(rows: list[list[Panel]]) -> list[Panel]:
    """Rows of panels, left to right; ids in reading order."""
    out: list[Panel] = []
    y = 0
    for row in rows:
        x = 0
        for p in row:
            p["gridPos"].update(x=x, y=y)
            p["id"] = len(out) + 1
            x += p["gridPos"]["w"]
            out.append(p)
        y += max(p["gridPos"]["h"] for p in row)
    return out


def variables(*, cluster: bool, team: bool = False) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {
            "type": "datasource",
            "name": "datasource",
            "label": "Data source",
            "query": "prometheus",
            "current": {},
            "hide": 0,
            "refresh": 1,
            "regex": "",
        },
        query_variable("job", "Job", "label_values(adoption_collector_build_info, job)"),
    ]
    if cluster:
        out.append(
            query_variable(
                "cluster",
                "Cluster",
                "label_values(adoption_collector_up"
                '{job="$job", source="kubernetes"}, kube_cluster)',
                multi=True,
            )
        )
    if team:
        out.append(
            query_variable(
                "team",
                "Team",
                'label_values(adoption_team_workloads{job="$job"}, team)',
                multi=True,
            )
        )
    return out


def query_variable(name: str, label: str, query: str, *, multi: bool = False) -> dict[str, Any]:
    variable: dict[str, Any] = {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": DS,
        "definition": query,
        "query": {"query": query, "refId": f"{name}-variable"},
        "current": {},
        "hide": 0,
        "refresh": 2,
        "sort": 1,
        "regex": "",
        "multi": multi,
        "includeAll": multi,
    }
    if multi:
        variable["allValue"] = ".*"
    return variable


def dashboard(uid: str, title: str, description: str, time_from: str, **kw: Any) -> dict[str, Any]:
    return {
        "__requires": [
            {"type": "grafana", "id": "grafana", "name": "Grafana", "version": "10.0.0"},
            {"type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0"},
        ],
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["adoption-collector", "platform"],
        "editable": True,
        "graphTooltip": 1,
        "id": None,
        "links": [
            {
                "type": "dashboards",
                "title": "Adoption dashboards",
                "tags": ["adoption-collector"],
                "asDropdown": False,
                "includeVars": True,
                "keepTime": True,
            }
        ],
        "refresh": "5m",
        "schemaVersion": 39,
        "time": {"from": time_from, "to": "now"},
        "timepicker": {},
        "timezone": "",
        "version": 1,
        "weekStart": "",
        "annotations": {"list": []},
        **kw,
    }


def _predictor(title: str, name: str, description: str) -> Panel:
    """One predictor of platform success: met, not met, or unknown (no sample)."""
    return stat(
        title,
        description,
        f'adoption_predictor_met{{{J}, predictor="{name}"}}',
        w=4,
        steps=((None, "red"), (1, "green")),
        mappings=[
            {
                "type": "value",
                "options": {
                    "0": {"text": "not met", "color": "red", "index": 0},
                    "1": {"text": "met", "color": "green", "index": 1},
                },
            }
        ],
        no_value="unknown",
        options={"graphMode": "none"},
    )


def _per_week_around_adoption(before: str) -> str:
    """A team's deploys per week, averaged over the range at daily steps, counting the steps
    where `time() {before} first golden deploy` ("<=": before adopting, ">": after); only
    teams whose first golden deploy lies inside the range."""
    first = f'adoption_team_first_deploy_timestamp_seconds{{{J}, team=~"$team"}}'
    weekly = f'sum by (team) (increase(adoption_team_deploys_total{{{J}, team=~"$team"}}[1w]))'
    return (
        f"avg_over_time(({weekly} and on (team) (time() {before} {first}))[$__range:1d])"
        f" and on (team) ({first} > time() - $__range_s)"
    )


def platform_adoption() -> dict[str, Any]:
    ttfd = TTFD_ORG
    percent: dict[str, Any] = {"unit": "percentunit", "options": {"graphMode": "none"}}
    rows = [
        [
            stat(
                "Voluntary adoption",
                "Adopted / active teams, mandated teams left out. Red below 30% (the alert "
                "threshold six months after launch), amber below 50%.",
                "adoption:voluntary_ratio:org",
                steps=((None, "red"), (0.3, "orange"), (0.5, "green")),
                **percent,
            ),
            stat(
                "Target",
                "The adoption the platform should have at its age (platform.adoption_targets).",
                "max(adoption_target_ratio)",
                steps=((None, "blue"),),
                **percent,
            ),
            stat(
                "Adoption (all teams)",
                "Adopted / active teams, mandated teams included.",
                "adoption:ratio:org",
                steps=((None, "blue"),),
                **percent,
            ),
            stat(
                "Active teams",
                "Teams with at least one tracked workload.",
                "adoption:active_teams:org",
            ),
            stat(
                "Adopted teams",
                "Teams with at least one golden workload.",
                "adoption:adopted_teams:org",
            ),
            stat(
                "Golden workloads",
                "Golden workloads / all tracked workloads (owned and unowned).",
                f"adoption_workload_ratio{{{J}}}",
                steps=((None, "blue"),),
                **percent,
            ),
            stat(
                "Platform age",
                "Time since platform.launch_date.",
                "time() - min(adoption_platform_launch_timestamp_seconds)",
                unit="dtdurations",
                steps=((None, "blue"),),
            ),
            stat(
                "Median time to first deploy",
                "Median across teams of the time from onboarding to the first golden "
                "workload. Red above 30 days.",
                f"quantile(0.5, {ttfd})",
                unit="dtdurations",
                steps=((None, "green"), (THIRTY_DAYS, "red")),
            ),
        ],
        [
            stat(
                "Five predictors met",
                "How many of the five predictors of platform success are met: a product "
                "manager, a pre-platform baseline, developer NPS above 20, voluntary adoption "
                "of at least 50% at 12 months (the adoption curve before), time to first value "
                "under 30 days. One that cannot be known yet counts as not met.",
                f"count(adoption_predictor_met{{{J}}} == 1) or vector(0)",
                w=4,
                steps=((None, "red"), (3, "orange"), (5, "green")),
                options={"graphMode": "none"},
            ),
            _predictor(
                "Product manager",
                "product_manager",
                "The platform has a product manager (platform.product_manager).",
            ),
            _predictor(
                "Pre-platform baseline",
                "baseline",
                "Deploy frequency (and lead time) were measured before the launch "
                "(platform.baseline, measured on or before platform.launch_date).",
            ),
            stat(
                "Developer NPS",
                "Developer NPS over platform.nps_window from the survey file platform.nps "
                "(promoters 9-10 minus detractors 0-6); the predictor is met above 20. Empty "
                "without a survey answer in the window.",
                f"adoption_developer_nps{{{J}}}",
                w=4,
                steps=((None, "red"), (0, "orange"), (20.000001, "green")),
                options={"graphMode": "none"},
                no_value="no answers",
            ),
            _predictor(
                "Voluntary adoption on track",
                "voluntary_adoption",
                "Voluntary adoption of at least 50% once the platform is 12 months old; before, "
                "at least the adoption curve's target for its age.",
            ),
            _predictor(
                "Time to first value",
                "time_to_first_value",
                "The median time to first golden deploy of the teams onboarded in the last 90 "
                "days is under 30 days (teams still waiting count as waiting). Unknown while "
                "it depends on teams still waiting, or when no team onboarded in 90 days.",
            ),
        ],
        [
            timeseries(
                "Voluntary adoption against the target curve",
                "Voluntary adoption, adoption over all teams, and the target for the "
                "platform's age. The dashed line is the 30% alert threshold.",
                [
                    target("adoption:voluntary_ratio:org", "voluntary"),
                    target("adoption:ratio:org", "all teams"),
                    target("max(adoption_target_ratio)", "target"),
                ],
                unit="percentunit",
                **threshold_line(0.3),
                overrides=[
                    {
                        "matcher": {"id": "byName", "options": "target"},
                        "properties": [
                            {"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}},
                            {"id": "custom.fillOpacity", "value": 0},
                        ],
                    }
                ],
            ),
            timeseries(
                "Adopted vs active teams",
                "Active teams run at least one tracked workload; adopted teams at least one "
                "golden workload; mandated teams were told to use the platform.",
                [
                    target("adoption:active_teams:org", "active"),
                    target("adoption:adopted_teams:org", "adopted"),
                    # Mandated by any collector, each team once (replicas and regions).
                    target("sum(max by (team) (adoption_team_mandated))", "mandated"),
                ],
            ),
        ],
        [
            timeseries(
                "Golden vs shadow workloads by cluster",
                "Tracked workloads that came through a golden path, and shadow ones, per "
                "cluster (owned and unowned).",
                [
                    target(
                        f"sum by (kube_cluster, path) (adoption_workloads{{{CLUSTER}}})",
                        "{{kube_cluster}} {{path}}",
                    )
                ],
                custom={"stacking": {"mode": "normal", "group": "A"}, "fillOpacity": 40},
                w=8,
            ),
            timeseries(
                "Unowned workloads by cluster",
                "Tracked workloads no label or namespace mapping attributes to a team "
                "(ownership.labels, ownership.namespaces): left out of every team figure.",
                [target(f"adoption_unowned_workloads{{{CLUSTER}}}", "{{kube_cluster}}")],
                w=8,
            ),
            timeseries(
                "Unowned repositories",
                "GitHub repositories neither a catalog-info.yaml owner nor the "
                "ownership.github_property custom property attributes to a team: left out of "
                "every team's repository figures. Empty without the GitHub source.",
                [target(f"adoption_unowned_repos{{{J}}}", "unowned")],
                w=8,
            ),
        ],
        [
            timeseries(
                "Time to first deploy across teams",
                "Median and 90th percentile across teams of the time from onboarding to the "
                "first golden workload. The dashed line is 30 days.",
                [
                    target(f"quantile(0.5, {ttfd})", "median"),
                    target(f"quantile(0.9, {ttfd})", "90th percentile"),
                ],
                unit="s",
                **threshold_line(THIRTY_DAYS),
            ),
            table(
                "Time to first deploy by team",
                "Every team ever seen: when it onboarded, its first golden workload and the "
                "time between. Teams without a first deploy have not used a golden path yet.",
                [
                    # One label (team) per query, so the merge joins the rows on it.
                    target(ttfd, table=True),
                    target(f"{ONBOARDED_ORG} * 1000", table=True),
                    target(f"{FIRST_DEPLOY_ORG} * 1000", table=True),
                ],
                rename={
                    "team": "Team",
                    "Value #A": "Time to first deploy",
                    "Value #B": "Onboarded",
                    "Value #C": "First golden deploy",
                },
                units={
                    "Time to first deploy": "dtdurations",
                    "Onboarded": "dateTimeAsIso",
                    "First golden deploy": "dateTimeAsIso",
                },
                sort_by="Time to first deploy",
            ),
        ],
        [
            timeseries(
                "Deploys per week, golden vs shadow",
                "Deploys (spec changes and new workloads) of the selected clusters' tracked "
                "workloads over the week before each point, by the workload's path when "
                "deployed.",
                [
                    target(
                        f"sum by (path) (increase(adoption_deploys_total{{{CLUSTER}}}[1w]))",
                        "{{path}}",
                    )
                ],
                custom={"stacking": {"mode": "normal", "group": "A"}, "fillOpacity": 40},
                w=8,
            ),
            timeseries(
                "Deploys per week by team, golden vs shadow",
                "Each selected team's deploys over the week before each point, by path.",
                [
                    target(
                        "sum by (team, path) (increase(adoption_team_deploys_total"
                        f'{{{J}, team=~"$team"}}[1w]))',
                        "{{team}} {{path}}",
                    )
                ],
                w=8,
            ),
            table(
                "Deploys per team-week before and after adopting",
                "Teams whose first golden deploy lies inside the time range: their average "
                "deploys per week before it and after it (golden and shadow together). Does "
                "adopting the platform make a team ship more often?",
                [
                    target(_per_week_around_adoption("<="), table=True),
                    target(_per_week_around_adoption(">"), table=True),
                ],
                rename={
                    "team": "Team",
                    "Value #A": "Deploys/week before",
                    "Value #B": "Deploys/week after",
                },
                units={"Deploys/week before": "short", "Deploys/week after": "short"},
                sort_by="Team",
                desc=False,
                w=8,
            ),
        ],
        [
            bars(
                "Shadow workloads by team",
                "The 15 teams with the most workloads outside every golden path.",
                "sort_desc(topk(15, adoption_team_workloads"
                f'{{{J}, path="shadow", team=~"$team"}} > 0))',
                "{{team}}",
                w=8,
                steps=((None, "orange"),),
            ),
            panel(
                "piechart",
                "Deploy tool mix",
                "Tracked workloads by the tool that last applied their spec (from managedFields).",
                [target(f"adoption_deploy_tool_workloads{{{J}}}", "{{tool}}", instant=True)],
                w=8,
                options={
                    "pieType": "donut",
                    "legend": {"displayMode": "table", "placement": "right", "values": ["value"]},
                    "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                },
            ),
            bars(
                "Golden path usage",
                "Workloads per golden path (the first path they match); 0 for a path nobody uses.",
                f"sort_desc(adoption_golden_path_workloads{{{J}}})",
                "{{golden_path}}",
                w=8,
            ),
        ],
        [
            table(
                "Teams without a golden deploy 30 days after onboarding",
                "Teams that onboarded more than 30 days ago and have never run a golden "
                "workload: the ones to talk to.",
                [
                    target(
                        f"time() - {ONBOARDED_ORG} > {THIRTY_DAYS}"
                        f" unless on (team) {FIRST_DEPLOY_ORG}",
                        table=True,
                    )
                ],
                rename={"team": "Team", "Value": "Since onboarding"},
                units={"Since onboarding": "dtdurations"},
                sort_by="Since onboarding",
            ),
            timeseries(
                "Repositories by path",
                "GitHub repositories of teams: golden (a golden-path signal), shadow (their "
                "own workflows) or other (no workflow).",
                [target(f"sum by (path) (adoption_team_repos{{{J}}})", "{{path}}")],
                custom={"stacking": {"mode": "normal", "group": "A"}, "fillOpacity": 40},
            ),
        ],
        [
            table(
                "Shadow workloads",
                "Every shadow workload of the selected teams and clusters, with the tool that "
                "deployed it, from adoption_workload_info: empty unless the collector runs with "
                "exporter.workload_info: true. Why each one is shadow (the golden path it missed "
                "least, and how): the collector's /api/v1/workloads?path=shadow.",
                [
                    target(
                        f'adoption_workload_info{{{CLUSTER}, path="shadow", team=~"$team"}}',
                        table=True,
                    )
                ],
                rename={
                    "kube_cluster": "Cluster",
                    "namespace": "Namespace",
                    "kind": "Kind",
                    "workload": "Workload",
                    "team": "Team",
                    "tool": "Deploy tool",
                },
                units={},
                sort_by="Team",
                desc=False,
                hide_columns=("Value", "path", "golden_path"),
                w=24,
                h=10,
            ),
        ],
    ]
    return dashboard(
        "adoption-platform",
        "Platform adoption",
        "Golden-path adoption of the internal developer platform, from adoption-collector.",
        "now-90d",
        panels=layout(rows),
        templating={"list": variables(cluster=True, team=True)},
    )


def collector_health() -> dict[str, Any]:
    by_source = "{{source}} {{kube_cluster}}"
    rate_ratio = (
        f"adoption_collector_github_rate_limit_remaining{{{J}}}"
        f" / adoption_collector_github_rate_limit_limit{{{J}}}"
    )
    rows = [
        [
            stat(
                "Sources failing",
                "Sources (clusters, GitHub) whose last poll failed.",
                f"count(adoption_collector_up{{{J}}} == 0) or vector(0)",
                steps=((None, "green"), (1, "red")),
            ),
            stat(
                "Incomplete polls",
                "Sources whose last poll failed or read only part: a kind RBAC refused, or a "
                "GitHub scan that stopped early (rate-limit reserve, deadline, repositories GitHub "
                "could not return).",
                f"count(adoption_collector_poll_complete{{{J}}} == 0) or vector(0)",
                steps=((None, "green"), (1, "orange")),
            ),
            stat(
                "Oldest data",
                "Age of the oldest last successful poll across sources.",
                f"max(time() - adoption_collector_last_success_timestamp_seconds{{{J}}})",
                unit="s",
            ),
            stat(
                "Poll errors",
                "Failed polls in the selected time range.",
                f"sum(increase(adoption_collector_poll_errors_total{{{J}}}[$__range]))",
                steps=((None, "green"), (1, "orange")),
            ),
            stat(
                "Skipped objects",
                "Objects in the last polls too malformed to use.",
                f"sum(adoption_collector_skipped_objects{{{J}}})",
                steps=((None, "green"), (1, "orange")),
            ),
            stat(
                "Teams dropped",
                'Teams beyond limits.max_teams, whose series are folded into team="_other" '
                "in the last computation; 0 normally. Above 0 for an hour the alert fires: "
                "raise limits.max_teams.",
                f"max(adoption_collector_dropped_teams{{{J}}})",
                steps=((None, "green"), (1, "orange")),
            ),
            stat(
                "GitHub rate limit left",
                "The lowest share of a GitHub rate-limit budget left (core, graphql). The "
                "alert fires below 10%.",
                f"min({rate_ratio})",
                unit="percentunit",
                steps=((None, "red"), (0.1, "orange"), (0.25, "green")),
            ),
            stat(
                "Version",
                "The collector's version.",
                f"adoption_collector_build_info{{{J}}}",
                "{{version}}",
                options={"textMode": "name", "graphMode": "none"},
                steps=((None, "blue"),),
            ),
        ],
        [
            panel(
                "state-timeline",
                "Source up",
                "Whether the last poll of each source succeeded.",
                [target(f"adoption_collector_up{{{SOURCE}}}", by_source)],
                options={"showValue": "never", "mergeValues": True},
                mappings=[
                    {
                        "type": "value",
                        "options": {
                            "0": {"text": "down", "color": "red", "index": 0},
                            "1": {"text": "up", "color": "green", "index": 1},
                        },
                    }
                ],
                steps=((None, "red"), (1, "green")),
            ),
            panel(
                "state-timeline",
                "Poll complete",
                "Whether the last poll of each source read everything. Incomplete: it failed, "
                "or read only part (a kind RBAC refused; a GitHub scan stopped at the rate-limit "
                "reserve or its deadline, or had repositories GitHub could not return).",
                [target(f"adoption_collector_poll_complete{{{SOURCE}}}", by_source)],
                options={"showValue": "never", "mergeValues": True},
                mappings=[
                    {
                        "type": "value",
                        "options": {
                            "0": {"text": "incomplete", "color": "orange", "index": 0},
                            "1": {"text": "complete", "color": "green", "index": 1},
                        },
                    }
                ],
                steps=((None, "orange"), (1, "green")),
            ),
        ],
        [
            timeseries(
                "Last success age in poll intervals",
                "Time since the last successful poll, in poll intervals. Above 3 (the dashed "
                "line) the data is stale and the adoption alerts hold off.",
                [
                    target(
                        f"(time() - adoption_collector_last_success_timestamp_seconds{{{SOURCE}}})"
                        f" / adoption_collector_poll_interval_seconds{{{SOURCE}}}",
                        by_source,
                    )
                ],
                **threshold_line(3),
            ),
            table(
                "Kinds refused by RBAC",
                "Workload kinds RBAC refused to list in the last successful poll of each "
                "cluster: their workloads are left out of the adoption figures. Grant "
                "get/list/watch on them (the collector's log names the resource); the alert "
                "fires after 30 minutes.",
                [target(f"adoption_collector_list_forbidden{{{CLUSTER}}}", table=True)],
                rename={"kube_cluster": "Cluster", "kind": "Kind"},
                units={},
                sort_by="Cluster",
                desc=False,
                hide_columns=("source", "Value"),
                no_value="None: every kind is listed",
            ),
        ],
        [
            timeseries(
                "Poll duration",
                "How long the last poll of each source took.",
                [target(f"adoption_collector_poll_duration_seconds{{{SOURCE}}}", by_source)],
                unit="s",
            ),
            timeseries(
                "Errors",
                "Failed polls per source, and files (catalog-info.yaml, workflows) that could "
                "not be parsed.",
                [
                    target(
                        "sum by (source, kube_cluster) (increase("
                        f"adoption_collector_poll_errors_total{{{SOURCE}}}[$__rate_interval]))",
                        f"{by_source} poll errors",
                    ),
                    target(
                        "sum by (source) (increase("
                        f"adoption_collector_parse_errors_total{{{J}}}[$__rate_interval]))",
                        "{{source}} parse errors",
                    ),
                ],
                custom={"drawStyle": "bars", "fillOpacity": 60},
            ),
        ],
        [
            timeseries(
                "Objects read",
                "Objects read in the last successful poll, by source and kind.",
                [
                    target(
                        f"adoption_collector_objects{{{SOURCE}}}",
                        "{{source}} {{kube_cluster}} {{kind}}",
                    )
                ],
            ),
            timeseries(
                "Skipped objects by source",
                "Objects in the last successful poll too malformed to use.",
                [target(f"adoption_collector_skipped_objects{{{SOURCE}}}", by_source)],
            ),
        ],
        [
            timeseries(
                "GitHub rate limit remaining",
                "Points left in GitHub's current rate-limit window, by budget.",
                [
                    target(
                        f"adoption_collector_github_rate_limit_remaining{{{J}}}",
                        "{{resource}} remaining",
                    ),
                    target(
                        f"adoption_collector_github_rate_limit_limit{{{J}}}", "{{resource}} limit"
                    ),
                ],
            ),
            timeseries(
                "GitHub rate limit left (share)",
                "Remaining / limit per budget. The alert fires below 10% (the dashed line).",
                [target(rate_ratio, "{{resource}}")],
                unit="percentunit",
                **threshold_line(0.1),
            ),
        ],
    ]
    return dashboard(
        "adoption-collector-health",
        "Adoption collector health",
        "Is adoption-collector polling its sources, and how fresh are its figures.",
        "now-24h",
        panels=layout(rows),
        templating={"list": variables(cluster=True)},
    )


DASHBOARDS = {
    "platform-adoption.json": platform_adoption,
    "collector-health.json": collector_health,
}


def render() -> dict[str, str]:
    """File name -> JSON text."""
    return {name: json.dumps(build(), indent=2) + "\n" for name, build in DASHBOARDS.items()}


def main(argv: list[str]) -> int:
    files = render()
    if argv == ["--check"]:
        stale = [
            str(d / name)
            for d in (HERE, CHART_COPIES)
            for name, text in files.items()
            if not (d / name).is_file() or (d / name).read_text() != text
        ]
        for path in stale:
            print(f"{path} is out of date: run {Path(__file__).name}", file=sys.stderr)
        return 1 if stale else 0
    if argv:
        print(__doc__, file=sys.stderr)
        return 2
    CHART_COPIES.mkdir(parents=True, exist_ok=True)
    for d in (HERE, CHART_COPIES):
        for name, text in files.items():
            (d / name).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

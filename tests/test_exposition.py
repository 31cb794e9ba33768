"""Exact exposition output, compared line by line, as prometheus/client_python tests its own."""

from __future__ import annotations

import functools
import gzip
import os
import platform
import re
import zlib
from dataclasses import replace
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from collector import __version__, adoption, exporter, rules
from collector.model import GitHubObservation, RateLimit, SourceStatus
from collector.model import Path as WorkloadPath
from collector.state import TeamTimes
from tests.records import GOLDEN, ns, parse_samples, repo, settings, ts, wl
from tests.test_adoption import compute
from tests.test_explain import config as scenario_config
from tests.test_explain import drilldown

# Checked by hand: billing's namespace predates the launch (2026-03-01 = 1772323200),
# payments onboarded 2026-03-10 (1773100800) and first deployed golden 2026-04-01
# (1775001600), 22 days = 1900800 s later; misc/x is unowned.
EXPECTED = """\
# HELP adoption_team_workloads Tracked workloads of an active team, by path (golden or shadow).
# TYPE adoption_team_workloads gauge
adoption_team_workloads{path="golden",team="billing"} 0.0
adoption_team_workloads{path="shadow",team="billing"} 1.0
adoption_team_workloads{path="golden",team="payments"} 1.0
adoption_team_workloads{path="shadow",team="payments"} 1.0
# HELP adoption_team_adopted 1 if the team runs at least one golden workload now.
# TYPE adoption_team_adopted gauge
adoption_team_adopted{team="billing"} 0.0
adoption_team_adopted{team="payments"} 1.0
# HELP adoption_team_mandated 1 if the team is mandated to use the platform (left out of the voluntary ratio).
# TYPE adoption_team_mandated gauge
adoption_team_mandated{team="billing"} 1.0
adoption_team_mandated{team="payments"} 0.0
# HELP adoption_team_deploy_tool_workloads Tracked workloads of an active team by path and by the tool that last applied their spec (from managedFields); only combinations with a workload.
# TYPE adoption_team_deploy_tool_workloads gauge
adoption_team_deploy_tool_workloads{path="shadow",team="billing",tool="unknown"} 1.0
adoption_team_deploy_tool_workloads{path="golden",team="payments",tool="helm"} 1.0
adoption_team_deploy_tool_workloads{path="shadow",team="payments",tool="kubectl"} 1.0
# HELP adoption_team_onboarded_timestamp_seconds When the team onboarded: the later of the platform launch and the team's earliest namespace or workload, unless overridden in teams.onboarded.
# TYPE adoption_team_onboarded_timestamp_seconds gauge
adoption_team_onboarded_timestamp_seconds{team="billing"} 1.7723232e+09
adoption_team_onboarded_timestamp_seconds{team="payments"} 1.7731008e+09
# HELP adoption_team_first_deploy_timestamp_seconds Creation time of the team's first golden workload ever seen.
# TYPE adoption_team_first_deploy_timestamp_seconds gauge
adoption_team_first_deploy_timestamp_seconds{team="payments"} 1.7750016e+09
# HELP adoption_team_time_to_first_deploy_seconds Seconds from the team's onboarding to its first golden workload (0 if it came first).
# TYPE adoption_team_time_to_first_deploy_seconds gauge
adoption_team_time_to_first_deploy_seconds{team="payments"} 1.9008e+06
# HELP adoption_active_teams Teams with at least one tracked workload.
# TYPE adoption_active_teams gauge
adoption_active_teams 2.0
# HELP adoption_adopted_teams Teams with at least one golden workload.
# TYPE adoption_adopted_teams gauge
adoption_adopted_teams 1.0
# HELP adoption_ratio Adopted teams / active teams.
# TYPE adoption_ratio gauge
adoption_ratio 0.5
# HELP adoption_voluntary_ratio Adopted non-mandated teams / active non-mandated teams.
# TYPE adoption_voluntary_ratio gauge
adoption_voluntary_ratio 1.0
# HELP adoption_workloads Tracked workloads by cluster and path.
# TYPE adoption_workloads gauge
adoption_workloads{kube_cluster="c1",path="golden"} 1.0
adoption_workloads{kube_cluster="c1",path="shadow"} 3.0
# HELP adoption_workload_ratio Golden workloads / all tracked workloads, owned and unowned.
# TYPE adoption_workload_ratio gauge
adoption_workload_ratio 0.25
# HELP adoption_unowned_workloads Tracked workloads no label or namespace mapping attributes to a team.
# TYPE adoption_unowned_workloads gauge
adoption_unowned_workloads{kube_cluster="c1"} 1.0
# HELP adoption_golden_path_workloads Tracked workloads by the golden path they matched first.
# TYPE adoption_golden_path_workloads gauge
adoption_golden_path_workloads{golden_path="service-chart"} 1.0
# HELP adoption_deploy_tool_workloads Tracked workloads by the tool that last applied their spec (from managedFields).
# TYPE adoption_deploy_tool_workloads gauge
adoption_deploy_tool_workloads{tool="argocd"} 0.0
adoption_deploy_tool_workloads{tool="flux"} 0.0
adoption_deploy_tool_workloads{tool="helm"} 1.0
adoption_deploy_tool_workloads{tool="kubectl"} 1.0
adoption_deploy_tool_workloads{tool="other"} 0.0
adoption_deploy_tool_workloads{tool="pulumi"} 0.0
adoption_deploy_tool_workloads{tool="terraform"} 0.0
adoption_deploy_tool_workloads{tool="unknown"} 2.0
# HELP adoption_team_deploys_total Deploys (spec changes: metadata.generation rising, or a new workload) of the team's workloads since the collector first polled their cluster, by the workload's path then.
# TYPE adoption_team_deploys_total counter
adoption_team_deploys_total{path="golden",team="billing"} 0.0
adoption_team_deploys_total{path="shadow",team="billing"} 0.0
adoption_team_deploys_total{path="golden",team="gone"} 0.0
adoption_team_deploys_total{path="shadow",team="gone"} 1.0
adoption_team_deploys_total{path="golden",team="payments"} 3.0
adoption_team_deploys_total{path="shadow",team="payments"} 0.0
# HELP adoption_deploys_total Deploys of tracked workloads, owned or not, since the collector first polled the cluster, by the workload's path then.
# TYPE adoption_deploys_total counter
adoption_deploys_total{kube_cluster="c1",path="golden"} 3.0
adoption_deploys_total{kube_cluster="c1",path="shadow"} 1.0
# HELP adoption_platform_launch_timestamp_seconds When the platform went live (platform.launch_date, midnight UTC).
# TYPE adoption_platform_launch_timestamp_seconds gauge
adoption_platform_launch_timestamp_seconds 1.7723232e+09
# HELP adoption_target_ratio Adoption the platform should have reached at its current age (platform.adoption_targets).
# TYPE adoption_target_ratio gauge
adoption_target_ratio 0.5
# HELP adoption_collector_up 1 if the last poll of the source succeeded.
# TYPE adoption_collector_up gauge
adoption_collector_up{kube_cluster="prod-eu",source="kubernetes"} 1.0
adoption_collector_up{kube_cluster="prod-us",source="kubernetes"} 0.0
# HELP adoption_collector_last_success_timestamp_seconds When the last successful poll of the source finished.
# TYPE adoption_collector_last_success_timestamp_seconds gauge
adoption_collector_last_success_timestamp_seconds{kube_cluster="prod-eu",source="kubernetes"} 1.7894664e+09
# HELP adoption_collector_poll_duration_seconds How long the last poll took.
# TYPE adoption_collector_poll_duration_seconds gauge
adoption_collector_poll_duration_seconds{kube_cluster="prod-eu",source="kubernetes"} 1.25
adoption_collector_poll_duration_seconds{kube_cluster="prod-us",source="kubernetes"} 30.0
# HELP adoption_collector_poll_errors_total Polls of the source that failed.
# TYPE adoption_collector_poll_errors_total counter
adoption_collector_poll_errors_total{kube_cluster="prod-eu",source="kubernetes"} 2.0
adoption_collector_poll_errors_total{kube_cluster="prod-us",source="kubernetes"} 1.0
# HELP adoption_collector_objects Objects read in the last successful poll, by kind.
# TYPE adoption_collector_objects gauge
adoption_collector_objects{kind="Deployment",kube_cluster="prod-eu",source="kubernetes"} 4.0
adoption_collector_objects{kind="Namespace",kube_cluster="prod-eu",source="kubernetes"} 3.0
# HELP adoption_collector_skipped_objects Objects in the last successful poll too malformed to use, skipped.
# TYPE adoption_collector_skipped_objects gauge
adoption_collector_skipped_objects{kube_cluster="prod-eu",source="kubernetes"} 0.0
adoption_collector_skipped_objects{kube_cluster="prod-us",source="kubernetes"} 0.0
# HELP adoption_collector_poll_interval_seconds How often the source is polled (kubernetes.interval, github.interval).
# TYPE adoption_collector_poll_interval_seconds gauge
adoption_collector_poll_interval_seconds{kube_cluster="prod-eu",source="kubernetes"} 300.0
# HELP adoption_collector_poll_complete 1 if the last poll read everything; 0 if it failed or read only part (a kind RBAC refused; a GitHub scan stopped at the rate-limit reserve, its deadline or repositories GitHub could not return).
# TYPE adoption_collector_poll_complete gauge
adoption_collector_poll_complete{kube_cluster="prod-eu",source="kubernetes"} 1.0
adoption_collector_poll_complete{kube_cluster="prod-us",source="kubernetes"} 0.0
# HELP adoption_collector_dropped_teams Teams beyond limits.max_teams, whose series were folded into team="_other" in the last computation; 0 normally.
# TYPE adoption_collector_dropped_teams gauge
adoption_collector_dropped_teams 0.0
"""


def scenario() -> bytes:
    cfg = settings(teams={"mandated": ["billing"]})
    snap = compute(
        cfg,
        [ns("pay", created="2026-03-10", team="payments"), ns("bill", team="billing"), ns("misc")],
        [
            wl("pay", "api", labels=GOLDEN, manager="helm", created="2026-04-01"),
            wl("pay", "w", manager="kubectl-client-side-apply"),
            wl("bill", "l"),
            wl("misc", "x"),
        ],
    )
    statuses = [
        SourceStatus(
            "kubernetes",
            "prod-eu",
            up=True,
            last_success=ts("2026-09-15T10:00:00"),
            poll_duration=1.25,
            errors_total=2,
            objects={"Deployment": 4, "Namespace": 3},
            interval=300.0,
        ),
        SourceStatus(
            "kubernetes", "prod-us", up=False, last_success=None, poll_duration=30.0, errors_total=1
        ),
    ]
    # Deploy totals as the state store keeps them: "gone" deployed once and has no workload
    # left; every active team and polled cluster shows both paths, from 0.
    snap = replace(
        snap,
        team_deploys={("payments", WorkloadPath.GOLDEN): 3, ("gone", WorkloadPath.SHADOW): 1},
        cluster_deploys={("c1", WorkloadPath.GOLDEN): 3, ("c1", WorkloadPath.SHADOW): 1},
    )
    return exporter.render(snap, statuses)


def test_full_exposition() -> None:
    assert scenario().decode().splitlines() == EXPECTED.splitlines()


def test_nothing_polled_yet_renders_no_adoption_figures() -> None:
    assert exporter.render(None, ()).decode().splitlines() == [
        "# HELP adoption_collector_up 1 if the last poll of the source succeeded.",
        "# TYPE adoption_collector_up gauge",
        "# HELP adoption_collector_last_success_timestamp_seconds "
        "When the last successful poll of the source finished.",
        "# TYPE adoption_collector_last_success_timestamp_seconds gauge",
        "# HELP adoption_collector_poll_duration_seconds How long the last poll took.",
        "# TYPE adoption_collector_poll_duration_seconds gauge",
        "# HELP adoption_collector_poll_errors_total Polls of the source that failed.",
        "# TYPE adoption_collector_poll_errors_total counter",
        "# HELP adoption_collector_objects Objects read in the last successful poll, by kind.",
        "# TYPE adoption_collector_objects gauge",
        "# HELP adoption_collector_skipped_objects "
        "Objects in the last successful poll too malformed to use, skipped.",
        "# TYPE adoption_collector_skipped_objects gauge",
        "# HELP adoption_collector_poll_interval_seconds "
        "How often the source is polled (kubernetes.interval, github.interval).",
        "# TYPE adoption_collector_poll_interval_seconds gauge",
        "# HELP adoption_collector_poll_complete 1 if the last poll read everything; "
        "0 if it failed or read only part (a kind RBAC refused; a GitHub scan stopped at the "
        "rate-limit reserve, its deadline or repositories GitHub could not return).",
        "# TYPE adoption_collector_poll_complete gauge",
        "# HELP adoption_collector_dropped_teams Teams beyond limits.max_teams, whose series "
        'were folded into team="_other" in the last computation; 0 normally.',
        "# TYPE adoption_collector_dropped_teams gauge",
        "adoption_collector_dropped_teams 0.0",
    ]


def test_scope_labels_build_info_and_nothing_else() -> None:
    """collector.scope: a label of build_info, from before the first poll on, and of no
    other series /metrics serves."""
    exposition = exporter.Exposition(runtime=functools.partial(exporter.runtime_text, "eu-west"))
    scoped = [line for line in exposition.scrape(False).decode().splitlines() if "eu-west" in line]
    revision = exporter.revision(os.environ)
    assert scoped == [
        f'adoption_collector_build_info{{python_version="{platform.python_version()}",'
        f'revision="{revision}",scope="eu-west",version="{__version__}"}} 1.0'
    ]
    plain = exporter.Exposition(runtime=exporter.runtime_text).scrape(False).decode()
    assert "scope=" not in plain


def test_every_metric_has_help_and_parses_back() -> None:
    families = list(text_string_to_metric_families(scenario().decode()))
    assert all(f.documentation for f in families)
    values = parse_samples(scenario().decode())
    assert values[("adoption_voluntary_ratio", ())] == 1.0
    assert values[("adoption_team_time_to_first_deploy_seconds", (("team", "payments"),))] == (
        ts("2026-04-01") - ts("2026-03-10")
    )


def test_label_values_are_escaped() -> None:
    odd = 'Zürich "core"\\ops\nteam'
    cfg = settings()
    snap = compute(cfg, [ns("x", team="placeholder")], [wl("x", "a", labels={"team": odd})])
    text = exporter.render(snap, ()).decode()
    assert 'adoption_team_adopted{team="zürich \\"core\\"\\\\ops\\nteam"} 0.0' in text
    (sample,) = [
        s
        for f in text_string_to_metric_families(text)
        if f.name == "adoption_team_adopted"
        for s in f.samples
    ]
    assert sample.labels == {"team": odd.lower()}


# Checked by hand: payments has one repository on each path and search one golden, both
# onboarded at their first repository (after the 2026-03-01 launch); one repository has no
# owner. No cluster has been polled, so no workload figure appears at all.
GITHUB_EXPECTED = """\
# HELP adoption_team_onboarded_timestamp_seconds When the team onboarded: the later of the platform launch and the team's earliest namespace or workload, unless overridden in teams.onboarded.
# TYPE adoption_team_onboarded_timestamp_seconds gauge
adoption_team_onboarded_timestamp_seconds{team="payments"} 1.7731008e+09
adoption_team_onboarded_timestamp_seconds{team="search"} 1.7750016e+09
# HELP adoption_team_first_deploy_timestamp_seconds Creation time of the team's first golden workload ever seen.
# TYPE adoption_team_first_deploy_timestamp_seconds gauge
# HELP adoption_team_time_to_first_deploy_seconds Seconds from the team's onboarding to its first golden workload (0 if it came first).
# TYPE adoption_team_time_to_first_deploy_seconds gauge
# HELP adoption_platform_launch_timestamp_seconds When the platform went live (platform.launch_date, midnight UTC).
# TYPE adoption_platform_launch_timestamp_seconds gauge
adoption_platform_launch_timestamp_seconds 1.7723232e+09
# HELP adoption_target_ratio Adoption the platform should have reached at its current age (platform.adoption_targets).
# TYPE adoption_target_ratio gauge
adoption_target_ratio 0.5
# HELP adoption_team_repos Repositories of a team by path: golden (a golden-path signal), shadow (own workflows) or other (no workflow).
# TYPE adoption_team_repos gauge
adoption_team_repos{path="golden",team="payments"} 1.0
adoption_team_repos{path="shadow",team="payments"} 1.0
adoption_team_repos{path="other",team="payments"} 1.0
adoption_team_repos{path="golden",team="search"} 1.0
adoption_team_repos{path="shadow",team="search"} 0.0
adoption_team_repos{path="other",team="search"} 0.0
# HELP adoption_unowned_repos Repositories neither a catalog-info.yaml owner nor the ownership property attributes to a team.
# TYPE adoption_unowned_repos gauge
adoption_unowned_repos 1.0
# HELP adoption_collector_up 1 if the last poll of the source succeeded.
# TYPE adoption_collector_up gauge
adoption_collector_up{kube_cluster="",source="github"} 1.0
# HELP adoption_collector_last_success_timestamp_seconds When the last successful poll of the source finished.
# TYPE adoption_collector_last_success_timestamp_seconds gauge
adoption_collector_last_success_timestamp_seconds{kube_cluster="",source="github"} 1.7894664e+09
# HELP adoption_collector_poll_duration_seconds How long the last poll took.
# TYPE adoption_collector_poll_duration_seconds gauge
adoption_collector_poll_duration_seconds{kube_cluster="",source="github"} 3.5
# HELP adoption_collector_poll_errors_total Polls of the source that failed.
# TYPE adoption_collector_poll_errors_total counter
adoption_collector_poll_errors_total{kube_cluster="",source="github"} 0.0
# HELP adoption_collector_objects Objects read in the last successful poll, by kind.
# TYPE adoption_collector_objects gauge
adoption_collector_objects{kind="repositories",kube_cluster="",source="github"} 4.0
# HELP adoption_collector_skipped_objects Objects in the last successful poll too malformed to use, skipped.
# TYPE adoption_collector_skipped_objects gauge
adoption_collector_skipped_objects{kube_cluster="",source="github"} 0.0
# HELP adoption_collector_poll_interval_seconds How often the source is polled (kubernetes.interval, github.interval).
# TYPE adoption_collector_poll_interval_seconds gauge
adoption_collector_poll_interval_seconds{kube_cluster="",source="github"} 1800.0
# HELP adoption_collector_poll_complete 1 if the last poll read everything; 0 if it failed or read only part (a kind RBAC refused; a GitHub scan stopped at the rate-limit reserve, its deadline or repositories GitHub could not return).
# TYPE adoption_collector_poll_complete gauge
adoption_collector_poll_complete{kube_cluster="",source="github"} 0.0
# HELP adoption_collector_parse_errors_total Files (catalog-info.yaml, workflows) that could not be parsed, since the start.
# TYPE adoption_collector_parse_errors_total counter
adoption_collector_parse_errors_total{source="github"} 2.0
# HELP adoption_collector_github_rate_limit_remaining Rate-limit points left in GitHub's current window, by budget (core: REST, graphql).
# TYPE adoption_collector_github_rate_limit_remaining gauge
adoption_collector_github_rate_limit_remaining{resource="core"} 4980.0
adoption_collector_github_rate_limit_remaining{resource="graphql"} 12.0
# HELP adoption_collector_github_rate_limit_limit Rate-limit points GitHub grants per window, by budget (core: REST, graphql).
# TYPE adoption_collector_github_rate_limit_limit gauge
adoption_collector_github_rate_limit_limit{resource="core"} 5000.0
adoption_collector_github_rate_limit_limit{resource="graphql"} 5000.0
# HELP adoption_collector_dropped_teams Teams beyond limits.max_teams, whose series were folded into team="_other" in the last computation; 0 normally.
# TYPE adoption_collector_dropped_teams gauge
adoption_collector_dropped_teams 0.0
"""


def test_github_only_exposition() -> None:
    template = "acme/service-template"
    cfg = settings(golden_paths=[{"name": "svc", "github": {"template_repositories": [template]}}])
    observation = GitHubObservation(
        "acme",
        (
            repo("acme/a", created="2026-03-10", template=template, property_team="payments"),
            repo("acme/b", created="2026-03-11", workflows=(), property_team="payments"),
            repo("acme/c", created="2026-03-12", property_team="payments"),
            repo("acme/d", created="2026-04-01", template=template, property_team="search"),
            repo("acme/e", created="2026-01-01"),
        ),
    )
    repos = adoption.summarise_repositories(observation, rules.RepositoryMatcher(cfg.golden_paths))
    seen, _ = adoption.merge_evidence([], repos)
    history = {team: TeamTimes(when, None) for team, (when, _) in seen.items()}
    snap = adoption.compute([], history, cfg, ts("2026-09-15"), repos)
    status = SourceStatus(
        "github",
        "",
        up=True,
        last_success=ts("2026-09-15T10:00:00"),
        poll_duration=3.5,
        errors_total=0,
        objects={"repositories": 4},
        parse_errors_total=2,
        complete=False,
        rate_limits=(
            RateLimit("core", 4980, 5000, ts("2026-09-15T11:00:00")),
            RateLimit("graphql", 12, 5000, ts("2026-09-15T11:00:00")),
        ),
        interval=1800.0,
    )
    text = exporter.render(snap, [status]).decode()
    assert text.splitlines() == GITHUB_EXPECTED.splitlines()


# Checked by hand against tests/test_explain.py's scenario: its eight workloads in (cluster,
# namespace, kind, name) order, the first six exported; unowned misc/stray has team "".
WORKLOAD_INFO_EXPECTED = """\
# HELP adoption_workload_info One series per tracked workload, always 1, naming its team (folded like the team series; "" when unowned), path, golden path and deploy tool (exporter.workload_info; at most limits.max_workload_series).
# TYPE adoption_workload_info gauge
adoption_workload_info{golden_path="",kind="StatefulSet",kube_cluster="prod-eu",namespace="legacy",path="shadow",team="ledger",tool="unknown",workload="ledger"} 1.0
adoption_workload_info{golden_path="service-template",kind="Deployment",kube_cluster="prod-eu",namespace="misc",path="golden",team="payments",tool="unknown",workload="checkout"} 1.0
adoption_workload_info{golden_path="",kind="Deployment",kube_cluster="prod-eu",namespace="misc",path="shadow",team="",tool="unknown",workload="stray"} 1.0
adoption_workload_info{golden_path="service-chart",kind="Deployment",kube_cluster="prod-eu",namespace="pay",path="golden",team="payments",tool="helm",workload="api"} 1.0
adoption_workload_info{golden_path="",kind="Deployment",kube_cluster="prod-eu",namespace="pay",path="shadow",team="payments",tool="kubectl",workload="nginx"} 1.0
adoption_workload_info{golden_path="",kind="Deployment",kube_cluster="prod-eu",namespace="pay",path="shadow",team="search",tool="unknown",workload="worker"} 1.0
"""
DROPPED_EXPECTED = """\
# HELP adoption_collector_dropped_workload_series Workloads beyond limits.max_workload_series left without an adoption_workload_info series in the last computation; 0 normally.
# TYPE adoption_collector_dropped_workload_series gauge
adoption_collector_dropped_workload_series 2.0
"""


def test_workload_info_is_capped_and_counts_what_it_drops(tmp_path: Path) -> None:
    d = drilldown(tmp_path)
    text = exporter.render(d.snapshot, (), workload_info=d, max_workload_series=6).decode()
    lines = text.splitlines()
    start = lines.index(WORKLOAD_INFO_EXPECTED.splitlines()[0])
    assert lines[start : start + 8] == WORKLOAD_INFO_EXPECTED.splitlines()
    assert lines[start + 8].startswith("# HELP adoption_collector_up ")
    start = lines.index(DROPPED_EXPECTED.splitlines()[0])
    assert lines[start : start + 3] == DROPPED_EXPECTED.splitlines()
    # Under the cap nothing is dropped; without the opt-in neither family exists.
    full = exporter.render(d.snapshot, (), workload_info=d).decode()
    assert "adoption_collector_dropped_workload_series 0.0" in full
    assert full.count("adoption_workload_info{") == 8
    plain = exporter.render(d.snapshot, ()).decode()
    assert "workload_info" not in plain
    assert "dropped_workload_series" not in plain


def test_workload_info_teams_fold_like_the_team_series(tmp_path: Path) -> None:
    d = drilldown(tmp_path, scenario_config(limits={"max_teams": 1}))
    text = exporter.render(d.snapshot, (), workload_info=d).decode()
    teams = {
        s.labels["team"]
        for f in text_string_to_metric_families(text)
        if f.name == "adoption_workload_info"
        for s in f.samples
    }
    assert teams == {"_other", "search", ""}


def test_build_info_names_version_python_and_revision() -> None:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(exporter._Fixed([exporter.build_info("0.1.0", "3.12.1", "0123abc")]))
    assert generate_latest(registry).decode() == (
        "# HELP adoption_collector_build_info The collector's version, the Python version it "
        "runs on, the source revision it was built from, and its collector.scope when set; "
        "always 1.\n"
        "# TYPE adoption_collector_build_info gauge\n"
        'adoption_collector_build_info{python_version="3.12.1",revision="0123abc",version="0.1.0"}'
        " 1.0\n"
    )


def test_runtime_metrics_are_the_standard_collectors_and_build_info() -> None:
    text = generate_latest(
        exporter.runtime_registry({"ADOPTION_COLLECTOR_REVISION": "0123abc"})
    ).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert sorted(families) == [
        "adoption_collector_build_info",
        "process_cpu_seconds",
        "process_max_fds",
        "process_open_fds",
        "process_resident_memory_bytes",
        "process_start_time_seconds",
        "process_virtual_memory_bytes",
        "python_gc_collections",
        "python_gc_objects_collected",
        "python_gc_objects_uncollectable",
        "python_info",
    ]
    (info,) = families["adoption_collector_build_info"].samples
    assert info.labels == {
        "version": __version__,
        "python_version": platform.python_version(),
        "revision": "0123abc",
    }


def test_the_revision_of_a_checkout_without_the_variable() -> None:
    found = exporter.revision({})
    assert found == "unknown" or re.fullmatch("[0-9a-f]{40}", found)


def test_a_scrape_appends_runtime_metrics_to_the_published_exposition() -> None:
    calls = iter(range(1, 100))
    now = [0.0]

    def runtime() -> bytes:  # a value that changes at every reading, as process_* do
        return f"runtime_value {next(calls)}\n".encode()

    exposition = exporter.Exposition(runtime=runtime, clock=lambda: now[0])
    body = b"".join(f'poll_value{{n="{i}"}} {i}\n'.encode() for i in range(2000))
    exposition.publish(body)
    assert exposition.latest == body
    assert exposition.scrape(gzipped=False) == body + b"runtime_value 1\n"
    # Read again at most every RUNTIME_REFRESH seconds; the scrapes in between share it.
    now[0] = exporter.RUNTIME_REFRESH - 0.001
    first = exposition.scrape(gzipped=True)
    assert gzip.decompress(first) == body + b"runtime_value 1\n"
    now[0] = exporter.RUNTIME_REFRESH
    second = exposition.scrape(gzipped=True)
    assert gzip.decompress(second) == body + b"runtime_value 2\n"
    assert exposition.scrape(gzipped=False) == body + b"runtime_value 2\n"
    # The poll's part is compressed once, when published: every scrape starts with it.
    head = exposition.both[1]
    assert first.startswith(head)
    assert second.startswith(head)
    assert len(first) - len(head) < 100
    # One gzip member, as any client reads it (not two concatenated).
    assert zlib.decompressobj(31).decompress(second) == body + b"runtime_value 2\n"
    # A new poll's exposition is served at once, with the runtime metrics read again.
    exposition.publish(b"poll_value 7\n")
    assert gzip.decompress(exposition.scrape(gzipped=True)) == b"poll_value 7\nruntime_value 3\n"

"""The whole pipeline over real HTTP: simulated API server -> source -> core -> exposition."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import pytest

from collector import adoption, config
from collector.pipeline import Pipeline
from collector.simulator.kube import KubeSimulator
from collector.state import StateStore
from tests.cluster import TOKEN, seed_small, write_config

NOW = 1789466400.0  # 2026-09-15T10:00:00Z

# Checked by hand against seed_small: payments has api (golden), worker and the CronJob
# (shadow; its Job is not counted); billing is mandated and shadow; search has only a
# namespace (onboarded 2026-06-01, not active); misc/agent is unowned; kube-system is excluded.
# Predictors: no product manager and no baseline configured; voluntary adoption 100% is on the
# curve (50% at month 6); no team onboarded in the 90 days before 2026-09-15, no survey.
EXPECTED = """\
# HELP adoption_team_workloads Tracked workloads of an active team, by path (golden or shadow).
# TYPE adoption_team_workloads gauge
adoption_team_workloads{path="golden",team="billing"} 0.0
adoption_team_workloads{path="shadow",team="billing"} 1.0
adoption_team_workloads{path="golden",team="payments"} 1.0
adoption_team_workloads{path="shadow",team="payments"} 2.0
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
adoption_team_deploy_tool_workloads{path="shadow",team="billing",tool="terraform"} 1.0
adoption_team_deploy_tool_workloads{path="golden",team="payments",tool="helm"} 1.0
adoption_team_deploy_tool_workloads{path="shadow",team="payments",tool="kubectl"} 1.0
adoption_team_deploy_tool_workloads{path="shadow",team="payments",tool="unknown"} 1.0
# HELP adoption_team_onboarded_timestamp_seconds When the team onboarded: the later of the platform launch and the team's earliest namespace or workload, unless overridden in teams.onboarded.
# TYPE adoption_team_onboarded_timestamp_seconds gauge
adoption_team_onboarded_timestamp_seconds{team="billing"} 1.7723232e+09
adoption_team_onboarded_timestamp_seconds{team="payments"} 1.7731008e+09
adoption_team_onboarded_timestamp_seconds{team="search"} 1.780272e+09
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
adoption_workloads{kube_cluster="prod-eu",path="golden"} 1.0
adoption_workloads{kube_cluster="prod-eu",path="shadow"} 4.0
# HELP adoption_workload_ratio Golden workloads / all tracked workloads, owned and unowned.
# TYPE adoption_workload_ratio gauge
adoption_workload_ratio 0.2
# HELP adoption_unowned_workloads Tracked workloads no label or namespace mapping attributes to a team.
# TYPE adoption_unowned_workloads gauge
adoption_unowned_workloads{kube_cluster="prod-eu"} 1.0
# HELP adoption_golden_path_workloads Tracked workloads by the golden path they matched first.
# TYPE adoption_golden_path_workloads gauge
adoption_golden_path_workloads{golden_path="gitops"} 0.0
adoption_golden_path_workloads{golden_path="service-chart"} 1.0
# HELP adoption_deploy_tool_workloads Tracked workloads by the tool that last applied their spec (from managedFields).
# TYPE adoption_deploy_tool_workloads gauge
adoption_deploy_tool_workloads{tool="argocd"} 0.0
adoption_deploy_tool_workloads{tool="flux"} 0.0
adoption_deploy_tool_workloads{tool="helm"} 1.0
adoption_deploy_tool_workloads{tool="kubectl"} 1.0
adoption_deploy_tool_workloads{tool="other"} 0.0
adoption_deploy_tool_workloads{tool="pulumi"} 0.0
adoption_deploy_tool_workloads{tool="terraform"} 1.0
adoption_deploy_tool_workloads{tool="unknown"} 2.0
# HELP adoption_team_deploys_total Deploys (spec changes: metadata.generation rising, or a new workload) of the team's workloads since the collector first polled their cluster, by the workload's path then.
# TYPE adoption_team_deploys_total counter
adoption_team_deploys_total{path="golden",team="billing"} 0.0
adoption_team_deploys_total{path="shadow",team="billing"} 0.0
adoption_team_deploys_total{path="golden",team="payments"} 0.0
adoption_team_deploys_total{path="shadow",team="payments"} 0.0
# HELP adoption_deploys_total Deploys of tracked workloads, owned or not, since the collector first polled the cluster, by the workload's path then.
# TYPE adoption_deploys_total counter
adoption_deploys_total{kube_cluster="prod-eu",path="golden"} 0.0
adoption_deploys_total{kube_cluster="prod-eu",path="shadow"} 0.0
# HELP adoption_platform_launch_timestamp_seconds When the platform went live (platform.launch_date, midnight UTC).
# TYPE adoption_platform_launch_timestamp_seconds gauge
adoption_platform_launch_timestamp_seconds 1.7723232e+09
# HELP adoption_target_ratio Adoption the platform should have reached at its current age (platform.adoption_targets).
# TYPE adoption_target_ratio gauge
adoption_target_ratio 0.5
# HELP adoption_predictor_met 1 if the predictor of platform success is met, 0 if not; no sample when it cannot be known (product_manager, baseline, nps, voluntary_adoption, time_to_first_value).
# TYPE adoption_predictor_met gauge
adoption_predictor_met{predictor="product_manager"} 0.0
adoption_predictor_met{predictor="baseline"} 0.0
adoption_predictor_met{predictor="voluntary_adoption"} 1.0
# HELP adoption_collector_up 1 if the last poll of the source succeeded.
# TYPE adoption_collector_up gauge
adoption_collector_up{kube_cluster="prod-eu",source="kubernetes"} 1.0
# HELP adoption_collector_last_success_timestamp_seconds When the last successful poll of the source finished.
# TYPE adoption_collector_last_success_timestamp_seconds gauge
adoption_collector_last_success_timestamp_seconds{kube_cluster="prod-eu",source="kubernetes"} 1.7894664e+09
# HELP adoption_collector_poll_duration_seconds How long the last poll took.
# TYPE adoption_collector_poll_duration_seconds gauge
adoption_collector_poll_duration_seconds{kube_cluster="prod-eu",source="kubernetes"} 0.0
# HELP adoption_collector_poll_errors_total Polls of the source that failed.
# TYPE adoption_collector_poll_errors_total counter
adoption_collector_poll_errors_total{kube_cluster="prod-eu",source="kubernetes"} 0.0
# HELP adoption_collector_objects Objects read in the last successful poll, by kind.
# TYPE adoption_collector_objects gauge
adoption_collector_objects{kind="CronJob",kube_cluster="prod-eu",source="kubernetes"} 1.0
adoption_collector_objects{kind="DaemonSet",kube_cluster="prod-eu",source="kubernetes"} 1.0
adoption_collector_objects{kind="Deployment",kube_cluster="prod-eu",source="kubernetes"} 3.0
adoption_collector_objects{kind="Job",kube_cluster="prod-eu",source="kubernetes"} 1.0
adoption_collector_objects{kind="Namespace",kube_cluster="prod-eu",source="kubernetes"} 5.0
adoption_collector_objects{kind="StatefulSet",kube_cluster="prod-eu",source="kubernetes"} 1.0
# HELP adoption_collector_skipped_objects Objects in the last successful poll too malformed to use, skipped.
# TYPE adoption_collector_skipped_objects gauge
adoption_collector_skipped_objects{kube_cluster="prod-eu",source="kubernetes"} 0.0
# HELP adoption_collector_poll_interval_seconds How often the source is polled (kubernetes.interval, github.interval).
# TYPE adoption_collector_poll_interval_seconds gauge
adoption_collector_poll_interval_seconds{kube_cluster="prod-eu",source="kubernetes"} 300.0
# HELP adoption_collector_poll_complete 1 if the last poll read everything; 0 if it failed or read only part (a kind RBAC refused; a GitHub scan stopped at the rate-limit reserve, its deadline or repositories GitHub could not return).
# TYPE adoption_collector_poll_complete gauge
adoption_collector_poll_complete{kube_cluster="prod-eu",source="kubernetes"} 1.0
# HELP adoption_collector_dropped_teams Teams beyond limits.max_teams, whose series were folded into team="_other" in the last computation; 0 normally.
# TYPE adoption_collector_dropped_teams gauge
adoption_collector_dropped_teams 0.0
"""


@pytest.fixture
def sim() -> Iterator[KubeSimulator]:
    with KubeSimulator(token=TOKEN) as simulator:
        seed_small(simulator)
        yield simulator


def pipeline_for(tmp_path: Path, clusters: dict[str, KubeSimulator]) -> Pipeline:
    settings = config.load(write_config(tmp_path, clusters))
    return Pipeline(settings, StateStore(settings.state.path), clock=lambda: NOW)


def figures(exposition: bytes) -> list[str]:
    """The adoption figures, without the collector's own status lines."""
    return [
        line
        for line in exposition.decode().splitlines()
        if not line.startswith(
            ("adoption_collector_", "# HELP adoption_collector_", "# TYPE adoption_collector_")
        )
    ]


def sample(exposition: bytes, prefix: str) -> str:
    (line,) = [line for line in exposition.decode().splitlines() if line.startswith(prefix)]
    return line


def test_full_exposition_of_a_real_poll(tmp_path: Path, sim: KubeSimulator) -> None:
    pipeline = pipeline_for(tmp_path, {"prod-eu": sim})
    assert pipeline.poll_kubernetes() is True
    assert pipeline.exposition.latest.decode().splitlines() == EXPECTED.splitlines()


def test_failed_poll_keeps_the_figures_and_recovers(tmp_path: Path, sim: KubeSimulator) -> None:
    pipeline = pipeline_for(tmp_path, {"prod-eu": sim})
    assert pipeline.poll_kubernetes() is True
    before = pipeline.exposition.latest

    sim.add_fault(".*", 503, times=None)
    sim.delete("Deployment", "pay", "api")  # must not be noticed while the poll fails
    assert pipeline.poll_kubernetes() is False
    after = pipeline.exposition.latest
    assert figures(after) == figures(before)
    up = 'adoption_collector_up{kube_cluster="prod-eu",source="kubernetes"}'
    errors = 'adoption_collector_poll_errors_total{kube_cluster="prod-eu",source="kubernetes"}'
    last = 'adoption_collector_last_success_timestamp_seconds{kube_cluster="prod-eu",source="kubernetes"}'
    assert sample(after, up) == f"{up} 0.0"
    assert sample(after, errors) == f"{errors} 1.0"
    assert sample(after, last) == sample(before, last)

    sim.clear_faults()
    assert pipeline.poll_kubernetes() is True
    recovered = pipeline.exposition.latest
    assert sample(recovered, up) == f"{up} 1.0"
    assert sample(recovered, errors) == f"{errors} 1.0"
    # Now the deletion counts, but the first deploy it evidenced is kept.
    assert sample(recovered, 'adoption_team_adopted{team="payments"}').endswith(" 0.0")
    assert sample(recovered, 'adoption_team_first_deploy_timestamp_seconds{team="payments"}') == (
        'adoption_team_first_deploy_timestamp_seconds{team="payments"} 1.7750016e+09'
    )


def test_one_cluster_down_keeps_the_others(tmp_path: Path, sim: KubeSimulator) -> None:
    down = KubeSimulator(token=TOKEN).start()
    pipeline = pipeline_for(tmp_path, {"prod-eu": sim, "prod-us": down})
    down.stop()
    assert pipeline.poll_kubernetes() is False
    text = pipeline.exposition.latest
    assert sample(text, 'adoption_collector_up{kube_cluster="prod-us"') == (
        'adoption_collector_up{kube_cluster="prod-us",source="kubernetes"} 0.0'
    )
    assert sample(text, "adoption_active_teams ") == "adoption_active_teams 2.0"
    # Only prod-eu has figures; prod-us never answered, so it contributes none (not zeros).
    assert [
        line for line in text.decode().splitlines() if line.startswith("adoption_workloads{")
    ] == [
        'adoption_workloads{kube_cluster="prod-eu",path="golden"} 1.0',
        'adoption_workloads{kube_cluster="prod-eu",path="shadow"} 4.0',
    ]
    assert pipeline.ready is True


def test_no_figures_until_a_cluster_was_polled(tmp_path: Path) -> None:
    down = KubeSimulator(token=TOKEN).start()
    pipeline = pipeline_for(tmp_path, {"prod-eu": down})
    down.stop()
    assert pipeline.ready is False
    assert pipeline.poll_kubernetes() is False
    assert figures(pipeline.exposition.latest) == []
    assert pipeline.snapshot is None
    assert pipeline.ready is True


def test_ready_only_once_the_first_figures_are_published(tmp_path: Path) -> None:
    # /readyz must not send a scrape to a collector whose poll is done but not yet published.
    with KubeSimulator(token=TOKEN) as sim:
        seed_small(sim)
        settings = config.load(write_config(tmp_path, {"prod-eu": sim}))
        pipeline = Pipeline(settings, StateStore(settings.state.path))
        ready_while_publishing = []
        publish = pipeline.exposition.publish

        def observed(body: bytes) -> None:
            ready_while_publishing.append(pipeline.ready)
            publish(body)

        pipeline.exposition.publish = observed  # type: ignore[method-assign]
        try:
            assert pipeline.poll_kubernetes()
        finally:
            pipeline.close()
        assert ready_while_publishing == [False]
        assert pipeline.ready


def test_the_max_teams_ranking_runs_once_per_publish(
    tmp_path: Path, sim: KubeSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Three teams (payments, billing, search) over a limit of two: every publish ranks
    # them, and ranking a flood of teams is the costly part of a publish. The write to
    # the history and the figures use the one ranking.
    settings = config.load(write_config(tmp_path, {"prod-eu": sim}, limits={"max_teams": 2}))
    pipeline = Pipeline(settings, StateStore(settings.state.path), clock=lambda: NOW)
    rankings: list[frozenset[str]] = []
    rank = adoption.kept_teams

    def counted(teams: Collection[str], *args: Any) -> Collection[str]:
        kept = rank(teams, *args)
        rankings.append(frozenset(teams))
        return kept

    monkeypatch.setattr(adoption, "kept_teams", counted)
    assert pipeline.poll_kubernetes() is True
    assert rankings == [frozenset({"billing", "payments", "search"})]
    pipeline.publish()
    assert len(rankings) == 2
    # billing is configured (mandated) and so kept; payments was seen before search.
    assert sorted(pipeline.state.history) == ["billing", "payments"]
    onboarded = [
        line.partition("{")[2].partition("}")[0]
        for line in pipeline.exposition.latest.decode().splitlines()
        if line.startswith("adoption_team_onboarded_timestamp_seconds{")
    ]
    assert onboarded == ['team="billing"', 'team="payments"']

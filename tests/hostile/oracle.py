"""What the exposition must say about a snapshot, written out independently of the exporter."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from collector.adoption import Snapshot
from collector.model import Path, RepoPath

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def expected_samples(s: Snapshot) -> Samples:
    """Every adoption sample the snapshot implies, plus adoption_collector_dropped_teams."""
    out: Samples = {}

    def put(name: str, value: float | None, **labels: str) -> None:
        if value is not None:
            out[name, tuple(sorted(labels.items()))] = float(value)

    if s.has_workloads:
        for t in s.teams:
            put("adoption_team_workloads", t.golden, team=t.team, path="golden")
            put("adoption_team_workloads", t.shadow, team=t.team, path="shadow")
            put("adoption_team_adopted", t.golden > 0, team=t.team)
            put("adoption_team_mandated", t.mandated, team=t.team)
        for (team, path, tool), n in s.team_tools.items():
            if n:
                put("adoption_team_deploy_tool_workloads", n, team=team, path=path, tool=tool)
        put("adoption_active_teams", s.active_teams)
        put("adoption_adopted_teams", s.adopted_teams)
        put("adoption_ratio", s.ratio)
        put("adoption_voluntary_ratio", s.voluntary_ratio)
        for (cluster, path), n in s.workloads.items():
            put("adoption_workloads", n, kube_cluster=cluster, path=path.value)
        put("adoption_workload_ratio", s.workload_ratio)
        for cluster, n in s.unowned.items():
            put("adoption_unowned_workloads", n, kube_cluster=cluster)
        for name, n in s.golden_paths.items():
            put("adoption_golden_path_workloads", n, golden_path=name)
        for tool, n in s.tools.items():
            put("adoption_deploy_tool_workloads", n, tool=tool.value)
        # Deploy counters: both paths of every active team and polled cluster, from 0.
        for team in {t.team for t in s.teams} | {team for team, _ in s.team_deploys}:
            for path in Path:
                n = s.team_deploys.get((team, path), 0)
                put("adoption_team_deploys_total", n, team=team, path=path.value)
        for cluster in {c for c, _ in s.workloads} | {c for c, _ in s.cluster_deploys}:
            for path in Path:
                n = s.cluster_deploys.get((cluster, path), 0)
                put("adoption_deploys_total", n, kube_cluster=cluster, path=path.value)
    for h in s.history:
        put("adoption_team_onboarded_timestamp_seconds", h.onboarded, team=h.team)
        put("adoption_team_first_deploy_timestamp_seconds", h.first_deploy, team=h.team)
        put("adoption_team_time_to_first_deploy_seconds", h.time_to_first_deploy, team=h.team)
    put("adoption_platform_launch_timestamp_seconds", s.launch)
    put("adoption_target_ratio", s.target_ratio)
    if s.repos is not None:
        for team in {team for team, _ in s.repos}:
            for repo_path in RepoPath:
                put(
                    "adoption_team_repos",
                    s.repos.get((team, repo_path), 0),
                    team=team,
                    path=repo_path.value,
                )
        put("adoption_unowned_repos", s.unowned_repos or 0)
    if s.predictors is not None:
        for name, met in s.predictors.met.items():
            put("adoption_predictor_met", None if met is None else int(met), predictor=name)
        if s.predictors.nps_responses is not None:
            put("adoption_developer_nps", s.predictors.nps)
            put("adoption_developer_nps_responses", s.predictors.nps_responses)
            put("adoption_developer_nps_skipped_answers", s.predictors.nps_skipped or 0)
        put("adoption_baseline_deploys_per_team_week", s.predictors.baseline_deploys_per_team_week)
    put("adoption_collector_dropped_teams", s.dropped_teams)
    return out


def exposed_samples(exposition: bytes) -> Samples:
    """The exposition parsed back by prometheus_client, without the collector's own status
    (but with dropped_teams); a sample exposed twice is an error, not a silent overwrite."""
    out: Samples = {}
    for family in text_string_to_metric_families(exposition.decode("utf-8")):
        for sample in family.samples:
            name = sample.name
            if (
                name.startswith("adoption_collector_")
                and name != "adoption_collector_dropped_teams"
            ):
                continue
            key = (name, tuple(sorted(sample.labels.items())))
            assert key not in out, f"sample exposed twice: {key}"
            out[key] = sample.value
    return out


def team_values(samples: Samples, metric: str) -> set[str]:
    return {dict(labels)["team"] for name, labels in samples if name == metric}


def owned_workloads(s: Snapshot) -> int:
    return sum(t.golden + t.shadow for t in s.teams)

"""PURE: from observations and the durable history to the figures the exporter publishes.

Two steps. `summarise()` reduces one cluster's observation to counts and
evidence (so a cluster whose poll failed keeps its last good summary and costs
nothing to recompute); `summarise_repositories()` does the same for GitHub and
`build_links()` turns its catalog into the index that attributes workloads.
`compute()` merges the summaries with the durable history into a `Snapshot`.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from collector import catalog, ownership, rules
from collector.config import Settings
from collector.model import ClusterObservation, DeployTool, GitHubObservation, Path, RepoPath
from collector.state import TeamTimes


@dataclass(frozen=True, slots=True)
class ClusterSummary:
    """What one cluster contributes to the figures; no per-object data is kept."""

    cluster: str
    team_workloads: Mapping[tuple[str, Path], int]
    workloads: Mapping[Path, int]  # every tracked workload, owned or not
    unowned: int
    golden_paths: Mapping[str, int]
    tools: Mapping[DeployTool, int]
    first_seen: Mapping[str, float]  # team -> earliest creation of its namespaces or workloads
    first_deploy: Mapping[str, float]  # team -> earliest creation of a golden workload


@dataclass(frozen=True, slots=True)
class RepositorySummary:
    """What the organisation's repositories contribute to the figures."""

    team_repos: Mapping[tuple[str, RepoPath], int]
    unowned: int
    first_seen: Mapping[str, float]  # team -> creation of its first repository


@dataclass(frozen=True, slots=True)
class TeamFigures:
    team: str
    golden: int
    shadow: int
    mandated: bool

    @property
    def adopted(self) -> bool:
        return self.golden > 0


@dataclass(frozen=True, slots=True)
class TeamHistory:
    team: str
    onboarded: float | None  # None: no dated evidence and no override
    first_deploy: float | None

    @property
    def time_to_first_deploy(self) -> float | None:
        if self.first_deploy is None or self.onboarded is None:
            return None
        return max(0.0, self.first_deploy - self.onboarded)


@dataclass(frozen=True, slots=True)
class Snapshot:
    teams: tuple[TeamFigures, ...]  # active teams, sorted by name
    history: tuple[TeamHistory, ...]  # every team ever seen, sorted by name
    active_teams: int
    adopted_teams: int
    ratio: float | None  # None: no active team, so no sample
    voluntary_ratio: float | None
    workloads: Mapping[tuple[str, Path], int]  # (kube_cluster, path)
    unowned: Mapping[str, int]  # kube_cluster -> unowned workloads
    workload_ratio: float | None
    golden_paths: Mapping[str, int]
    tools: Mapping[DeployTool, int]
    launch: float
    target_ratio: float | None  # None before launch
    # False until a cluster has been polled: then no workload figure is published at
    # all (no zeros), though GitHub may already supply history and repositories.
    has_workloads: bool = True
    # Repositories by (team, path), and those no one owns; None without GitHub.
    repos: Mapping[tuple[str, RepoPath], int] | None = None
    unowned_repos: int | None = None


class _Earliest(dict[str, float]):
    def offer(self, team: str, when: float | None) -> None:
        if when is not None and (team not in self or when < self[team]):
            self[team] = when


def summarise(
    observation: ClusterObservation,
    settings: Settings,
    matcher: rules.GoldenPathMatcher,
    links: catalog.Links | None = None,
) -> ClusterSummary:
    """`links`: the catalog Components of the last GitHub scan. A workload a Component
    selects takes that Component's team when it has no team label of its own, and
    is golden if the Component's repository is (its own golden path wins)."""
    label_keys = settings.ownership.labels
    static_map = settings.ownership.namespaces
    scope = rules.NamespaceScope(
        settings.kubernetes.include_namespaces, settings.kubernetes.exclude_namespaces
    )
    namespaces = {ns.name: ns for ns in observation.namespaces if ns.name in scope}
    first_seen = _Earliest()
    # A namespace's team is worked out once here, not again for each of its workloads.
    namespace_teams: dict[str, str | None] = {}
    for namespace in namespaces.values():
        team = ownership.namespace_team(namespace.name, namespace.labels, label_keys, static_map)
        namespace_teams[namespace.name] = team
        if team is not None:
            first_seen.offer(team, namespace.created)

    team_workloads: Counter[tuple[str, Path]] = Counter()
    workloads: Counter[Path] = Counter()
    golden_paths: Counter[str] = Counter()
    tools: Counter[DeployTool] = Counter()
    first_deploy = _Earliest()
    unowned = 0
    no_labels: Mapping[str, str] = {}
    for w in observation.workloads:
        # A CronJob's Jobs are that CronJob's runs, not workloads of their own.
        if w.kind == "Job" and w.controller_kind == "CronJob":
            continue
        host = namespaces.get(w.namespace)
        if host is not None:
            ns_labels, host_team = host.labels, namespace_teams[w.namespace]
        elif w.namespace in scope:
            # A namespace created after the namespace list was read: no labels known yet.
            ns_labels = no_labels
            host_team = ownership.namespace_team(w.namespace, no_labels, label_keys, static_map)
        else:
            continue
        path_name = matcher.match(w, ns_labels)
        link = links.find(w.labels) if links else None
        if path_name is None and link is not None:
            path_name = link.golden_path
        path = Path.GOLDEN if path_name is not None else Path.SHADOW
        workloads[path] += 1
        tools[rules.deploy_tool(w.managers)] += 1
        if path_name is not None:
            golden_paths[path_name] += 1
        team = ownership.workload_team(
            w.labels, label_keys, host_team, link.team if link is not None else None
        )
        if team is None:
            unowned += 1
            continue
        team_workloads[team, path] += 1
        first_seen.offer(team, w.created)
        if path is Path.GOLDEN:
            first_deploy.offer(team, w.created)
    return ClusterSummary(
        cluster=observation.cluster,
        team_workloads=dict(team_workloads),
        workloads=dict(workloads),
        unowned=unowned,
        golden_paths=dict(golden_paths),
        tools=dict(tools),
        first_seen=dict(first_seen),
        first_deploy=dict(first_deploy),
    )


def summarise_repositories(
    observation: GitHubObservation, matcher: rules.RepositoryMatcher
) -> RepositorySummary:
    team_repos: Counter[tuple[str, RepoPath]] = Counter()
    first_seen = _Earliest()
    unowned = 0
    for repo in observation.repositories:
        path, _ = matcher.path(repo)
        team = ownership.repository_team(repo)
        if team is None:
            unowned += 1
            continue
        team_repos[team, path] += 1
        first_seen.offer(team, repo.created)
    return RepositorySummary(dict(team_repos), unowned, dict(first_seen))


def build_links(observation: GitHubObservation, matcher: rules.RepositoryMatcher) -> catalog.Links:
    """The index from workload labels to catalog Components, in a stable order
    (repository, then Component name), so the first match is always the same."""
    entries = []
    for repo in sorted(observation.repositories, key=lambda r: r.full_name.lower()):
        if not repo.components:
            continue
        _, golden_path = matcher.path(repo)
        team = ownership.repository_team(repo)
        for component in sorted(repo.components, key=lambda c: c.name):
            target = catalog.LinkTarget(repo.full_name, component.name, team, golden_path)
            entries.append((component, target))
    return catalog.Links(entries)


def merge_evidence(
    summaries: Iterable[ClusterSummary], repos: RepositorySummary | None = None
) -> tuple[dict[str, float], dict[str, float]]:
    """Earliest first-seen and first-deploy times per team across clusters and
    repositories, for the state store."""
    first_seen, first_deploy = _Earliest(), _Earliest()
    if repos is not None:
        for team, when in repos.first_seen.items():
            first_seen.offer(team, when)
    for summary in summaries:
        for team, when in summary.first_seen.items():
            first_seen.offer(team, when)
        for team, when in summary.first_deploy.items():
            first_deploy.offer(team, when)
    return dict(first_seen), dict(first_deploy)


def _midnight_utc(day: dt.date) -> float:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC).timestamp()


def whole_months(since: dt.date, now: float) -> int:
    """Calendar months completed from `since` to `now` (negative before `since`)."""
    today = dt.datetime.fromtimestamp(now, dt.UTC).date()
    months = (today.year - since.year) * 12 + today.month - since.month
    return months - 1 if today.day < since.day else months


def target_ratio(settings: Settings, now: float) -> float | None:
    age = whole_months(settings.platform.launch_date, now)
    reached = [t for t in settings.platform.adoption_targets if t.months <= age]
    return max(reached, key=lambda t: t.months).ratio if reached else None


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def compute(
    summaries: Iterable[ClusterSummary],
    history: Mapping[str, TeamTimes],
    settings: Settings,
    now: float,
    repos: RepositorySummary | None = None,
) -> Snapshot:
    summaries = list(summaries)
    normalise = ownership.normalise_team
    mandated = {t for t in map(normalise, settings.teams.mandated) if t}
    overrides = {
        team: _midnight_utc(day)
        for name, day in settings.teams.onboarded.items()
        if (team := normalise(name))
    }
    launch = _midnight_utc(settings.platform.launch_date)

    per_team: Counter[tuple[str, Path]] = Counter()
    workloads: dict[tuple[str, Path], int] = {}
    unowned: dict[str, int] = {}
    golden_paths: Counter[str] = Counter({p.name: 0 for p in settings.golden_paths})
    tools: Counter[DeployTool] = Counter(dict.fromkeys(DeployTool, 0))
    for s in summaries:
        per_team.update(s.team_workloads)
        for path in Path:
            workloads[s.cluster, path] = s.workloads.get(path, 0)
        unowned[s.cluster] = s.unowned
        golden_paths.update(s.golden_paths)
        tools.update(s.tools)

    teams = tuple(
        TeamFigures(t, per_team[t, Path.GOLDEN], per_team[t, Path.SHADOW], t in mandated)
        for t in sorted({team for team, _ in per_team})
    )
    adopted = [t for t in teams if t.adopted]
    voluntary = [t for t in teams if not t.mandated]

    team_history = []
    for team in sorted(history.keys() | {t.team for t in teams}):
        times = history.get(team, TeamTimes(None, None))
        onboarded = overrides.get(team)
        if onboarded is None and times.first_seen is not None:
            onboarded = max(launch, times.first_seen)
        team_history.append(TeamHistory(team, onboarded, times.first_deploy))

    all_workloads = sum(workloads.values())
    return Snapshot(
        teams=teams,
        history=tuple(team_history),
        active_teams=len(teams),
        adopted_teams=len(adopted),
        ratio=_ratio(len(adopted), len(teams)),
        voluntary_ratio=_ratio(sum(1 for t in voluntary if t.adopted), len(voluntary)),
        workloads=workloads,
        unowned=unowned,
        workload_ratio=_ratio(
            sum(n for (_, path), n in workloads.items() if path is Path.GOLDEN), all_workloads
        ),
        golden_paths=dict(golden_paths),
        tools=dict(tools),
        launch=launch,
        target_ratio=target_ratio(settings, now),
        has_workloads=bool(summaries),
        repos=dict(repos.team_repos) if repos is not None else None,
        unowned_repos=repos.unowned if repos is not None else None,
    )

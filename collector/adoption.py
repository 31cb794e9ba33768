"""PURE: from observations and the durable history to the figures the exporter publishes.

Two steps. `summarise()` reduces one cluster's observation to counts and
evidence (so a cluster whose poll failed keeps its last good summary and costs
nothing to recompute); `summarise_repositories()` does the same for GitHub and
`build_links()` turns its catalog into the index that attributes workloads.
`compute()` merges the summaries with the durable history into a `Snapshot`.

Cardinality: at most `limits.max_teams` teams keep their own `team` label
(`kept_teams()`); the others are folded into `team="_other"`, and only the kept
teams' evidence reaches the durable history. The adoption figures themselves
(active, adopted, the ratios) always count every real team: folding is a matter
of series, not of what is measured.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass

from collector import catalog, ownership, rules
from collector.config import Settings
from collector.model import ClusterObservation, DeployTool, GitHubObservation, Path, RepoPath
from collector.state import TeamTimes

# The one team label value no real team can take: every folded team's series go here.
OTHER_TEAM = "_other"


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
    # Active teams by name; beyond limits.max_teams, OTHER_TEAM sums the folded ones.
    teams: tuple[TeamFigures, ...]
    history: tuple[TeamHistory, ...]  # every team ever seen and kept, sorted by name
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
    # Teams folded into OTHER_TEAM because there were more than limits.max_teams.
    dropped_teams: int = 0


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
        # The counters themselves, not copies: with a flood of teams a copy doubles the peak.
        team_workloads=team_workloads,
        workloads=dict(workloads),
        unowned=unowned,
        golden_paths=dict(golden_paths),
        tools=dict(tools),
        first_seen=first_seen,
        first_deploy=first_deploy,
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
    summaries: Iterable[ClusterSummary],
    repos: RepositorySummary | None = None,
    history: Mapping[str, TeamTimes] | None = None,
    settings: Settings | None = None,
) -> tuple[dict[str, float], dict[str, float]]:
    """Earliest first-seen and first-deploy times per team across clusters and
    repositories, for the state store.

    With `settings` (and the `history` before this poll), only the teams that keep
    their own label (`kept_teams()`) are returned: a flood of teams never reaches the
    state file, and the teams that do are exactly those `compute()` keeps after the
    write, since being in the history only ever moves a team up the ranking."""
    summaries = list(summaries)
    keep: Collection[str] | None = None
    if settings is not None:
        # Chosen before merging, so a flood of teams is never copied into merged maps.
        history = history or {}
        teams = set(history)
        for summary in summaries:
            teams.update(summary.first_seen, summary.first_deploy)
        if repos is not None:
            teams.update(repos.first_seen)
        keep = kept_teams(
            teams, history, lambda team: _first_seen(team, summaries, repos), settings
        )
    first_seen, first_deploy = _Earliest(), _Earliest()
    if repos is not None:
        for team, when in repos.first_seen.items():
            if keep is None or team in keep:
                first_seen.offer(team, when)
    for summary in summaries:
        for team, when in summary.first_seen.items():
            if keep is None or team in keep:
                first_seen.offer(team, when)
        for team, when in summary.first_deploy.items():
            if keep is None or team in keep:
                first_deploy.offer(team, when)
    return first_seen, first_deploy


def _configured_teams(settings: Settings) -> frozenset[str]:
    names = (*settings.teams.mandated, *settings.teams.onboarded)
    return frozenset(team for team in map(ownership.normalise_team, names) if team)


def kept_teams(
    teams: Collection[str],
    history: Mapping[str, TeamTimes],
    first_seen: Callable[[str], float | None],
    settings: Settings,
) -> Collection[str]:
    """Which of `teams` keep their own `team` label: all of them up to `limits.max_teams`.

    Beyond it the ranking is stable from poll to poll, so a sudden flood of new teams
    never evicts established ones: teams the config names (`teams.mandated`,
    `teams.onboarded`) first, then teams already in the durable history, then new
    ones; within each group the earliest evidence first (the history's, or this
    poll's `first_seen(team)` when earlier; teams without any last), then by name.
    A team literally named `_other` is never kept, so that label value means one
    thing only. `first_seen` is only called on an overflow.
    """
    limit = settings.limits.max_teams
    if len(teams) <= limit and OTHER_TEAM not in teams:
        return teams
    configured = _configured_teams(settings)
    no_times = TeamTimes(None, None)

    def rank(team: str) -> tuple[int, bool, float, str]:
        known = history.get(team, no_times)
        seen = first_seen(team)
        if known.first_seen is not None and (seen is None or known.first_seen < seen):
            seen = known.first_seen
        group = 0 if team in configured else 1 if team in history else 2
        return group, seen is None, seen or 0.0, team

    real = (team for team in teams if team != OTHER_TEAM)
    return frozenset(heapq.nsmallest(limit, real, key=rank))


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

    golden: Counter[str] = Counter()  # team -> golden workloads, only teams with some
    shadow: Counter[str] = Counter()
    workloads: dict[tuple[str, Path], int] = {}
    unowned: dict[str, int] = {}
    golden_paths: Counter[str] = Counter({p.name: 0 for p in settings.golden_paths})
    tools: Counter[DeployTool] = Counter(dict.fromkeys(DeployTool, 0))
    for s in summaries:
        for (team, path), n in s.team_workloads.items():
            if n:
                (golden if path is Path.GOLDEN else shadow)[team] += n
        for path in Path:
            workloads[s.cluster, path] = s.workloads.get(path, 0)
        unowned[s.cluster] = s.unowned
        golden_paths.update(s.golden_paths)
        tools.update(s.tools)

    # The figures count every real team; only the per-team series are folded below.
    # Counts rather than sets of names: a cluster may report 100,000 teams.
    candidates = golden.keys() | shadow.keys()
    active = len(candidates)
    voluntary = active - len(mandated & candidates)
    adopted_voluntary = len(golden) - len(mandated & golden.keys())
    team_repos = repos.team_repos if repos is not None else {}
    candidates.update(team for team, _ in team_repos)
    candidates.update(history)
    keep = kept_teams(
        candidates, history, lambda team: _first_seen(team, summaries, repos), settings
    )

    figures = [
        TeamFigures(t, golden[t], shadow[t], t in mandated)
        for t in keep
        if t in golden or t in shadow
    ]
    if len(figures) < active:  # some active team was folded
        figures.append(
            TeamFigures(
                OTHER_TEAM,
                golden.total() - sum(f.golden for f in figures),
                shadow.total() - sum(f.shadow for f in figures),
                mandated=False,
            )
        )
    figures.sort(key=lambda f: f.team)

    # Folded teams get no history series: the onboarding or first deploy of a bucket
    # of unrelated teams would mean nothing, and would make the alerts on them lie.
    team_history = []
    for team in sorted(t for t in keep if t in history or t in golden or t in shadow):
        times = history.get(team, TeamTimes(None, None))
        onboarded = overrides.get(team)
        if onboarded is None and times.first_seen is not None:
            onboarded = max(launch, times.first_seen)
        team_history.append(TeamHistory(team, onboarded, times.first_deploy))

    all_workloads = sum(workloads.values())
    return Snapshot(
        teams=tuple(figures),
        history=tuple(team_history),
        active_teams=active,
        adopted_teams=len(golden),
        ratio=_ratio(len(golden), active),
        voluntary_ratio=_ratio(adopted_voluntary, voluntary),
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
        repos=_fold(team_repos, keep) if repos is not None else None,
        unowned_repos=repos.unowned if repos is not None else None,
        dropped_teams=len(candidates) - len(keep),
    )


def _first_seen(
    team: str, summaries: Iterable[ClusterSummary], repos: RepositorySummary | None
) -> float | None:
    found = [when for s in summaries if (when := s.first_seen.get(team)) is not None]
    if repos is not None and (when := repos.first_seen.get(team)) is not None:
        found.append(when)
    return min(found, default=None)


def _fold(
    team_repos: Mapping[tuple[str, RepoPath], int], keep: Collection[str]
) -> dict[tuple[str, RepoPath], int]:
    folded: Counter[tuple[str, RepoPath]] = Counter()
    for (team, path), n in team_repos.items():
        folded[team if team in keep else OTHER_TEAM, path] += n
    return dict(folded)

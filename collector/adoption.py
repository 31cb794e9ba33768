"""PURE: from observations and the durable history to the figures the exporter publishes.

Two steps. `tally` reduces one cluster's poll to a `ClusterSummary` of counts and
evidence (so a cluster whose poll failed keeps its last good summary and costs
nothing to recompute); `summarise_repositories()` does the same for GitHub and
`build_links()` turns its catalog into the index that attributes workloads.
`compute()` merges the summaries with the durable history into a `Snapshot`.

Cardinality: at most `limits.max_teams` teams keep their own `team` label
(`kept_teams()`, ranked once per publish by `choose_kept_teams()`); the others are
folded into `team="_other"`, and only the kept teams' evidence reaches the durable
history. The adoption figures themselves
(active, adopted, the ratios) always count every real team: folding is a matter
of series, not of what is measured.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from collector import catalog, explain, ownership, rules, tally
from collector.config import Settings
from collector.model import (
    CatalogObservation,
    Component,
    DeployTool,
    GitHubObservation,
    Path,
    RepoPath,
    Repository,
)
from collector.state import Evidence, TeamTimes

if TYPE_CHECKING:
    from collector import predictors

# The one team label value no real team can take: every folded team's series go here.
OTHER_TEAM = "_other"


@dataclass(frozen=True, slots=True)
class RepositorySummary:
    """What the organisation's repositories contribute to the figures."""

    team_repos: Mapping[tuple[str, RepoPath], int]
    unowned: int
    first_seen: Mapping[str, Evidence]  # team -> creation of its first repository, and which
    records: tuple[explain.RepositoryRecord, ...] = ()  # sorted by repository


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
    # (team, path, tool) -> workloads, folded like `teams`; only non-zero entries.
    team_tools: Mapping[tuple[str, Path, DeployTool], int]
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
    mandated_teams: int = 0  # active teams in teams.mandated
    # The five predictors of platform success (collector/predictors.py); None: not evaluated.
    predictors: predictors.Figures | None = None
    # Deploys counted so far (collector/deploys.py): by (team label, path), by (cluster, path).
    team_deploys: Mapping[tuple[str, Path], int] = field(default_factory=dict)
    cluster_deploys: Mapping[tuple[str, Path], int] = field(default_factory=dict)

    def team_labeller(self) -> Callable[[str], str]:
        """The `team` label /metrics gives a real team: its own name, or OTHER_TEAM if folded."""
        if not self.dropped_teams:
            return lambda team: team
        kept = {t.team for t in self.teams} | {h.team for h in self.history}
        kept.discard(OTHER_TEAM)
        return lambda team: team if team in kept else OTHER_TEAM


class _Earliest(dict[str, Evidence]):
    def offer(self, team: str, when: float | None, by: str | None) -> None:
        if when is not None:
            known = self.get(team)
            if known is None or when < known.time:
                self[team] = Evidence(when, by)


def summarise_repositories(
    observation: GitHubObservation, matcher: rules.RepositoryMatcher
) -> RepositorySummary:
    team_repos: Counter[tuple[str, RepoPath]] = Counter()
    first_seen = _Earliest()
    unowned = 0
    records = []
    for repo in observation.repositories:
        path, golden_path, reason = matcher.explain(repo)
        team = ownership.repository_team(repo)
        records.append(
            explain.RepositoryRecord(repo.full_name, team, path, golden_path, reason, repo.created)
        )
        if team is None:
            unowned += 1
            continue
        team_repos[team, path] += 1
        first_seen.offer(team, repo.created, explain.repository_ref(repo.full_name))
    records.sort(key=explain.REPOSITORY_ORDER)
    return RepositorySummary(dict(team_repos), unowned, dict(first_seen), tuple(records))


def with_catalog(
    observation: GitHubObservation, backstage: CatalogObservation | None
) -> GitHubObservation:
    """The GitHub scan as the figures read it once the Backstage catalog is known: a
    Component Backstage has (the same metadata.name, case-insensitively) is Backstage's
    entity, not the catalog-info.yaml one (the catalog is the resolved answer), and a
    Backstage Component whose linked repository was scanned is one of its Components."""
    if backstage is None or not backstage.components:
        return observation
    known = {c.name.lower() for c in backstage.components}
    linked: dict[str, list[Component]] = {}
    for component in backstage.components:
        if component.repository is not None:
            linked.setdefault(component.repository.lower(), []).append(component)
    repositories = []
    for repo in observation.repositories:
        own = [c for c in repo.components if c.name.lower() not in known]
        joined = linked.get(repo.full_name.lower(), [])
        changed = joined or len(own) != len(repo.components)
        repositories.append(replace(repo, components=(*joined, *own)) if changed else repo)
    return replace(observation, repositories=tuple(repositories))


def build_links(
    observation: GitHubObservation | None,
    matcher: rules.RepositoryMatcher,
    backstage: CatalogObservation | None = None,
) -> catalog.Links:
    """The index from workload labels to catalog Components, in a stable order
    (repository, then Component name; Components without a repository last), so the
    first match is always the same.

    A Component from catalog-info.yaml gives its workloads its repository's team and
    golden path. A Backstage Component gives its own owner (else its repository's team);
    its golden path is its repository's when GitHub scanned that repository, else the
    one its own source template names."""
    from_backstage = {id(c) for c in backstage.components} if backstage else set()
    scanned = with_catalog(observation, backstage).repositories if observation else ()
    placed: set[int] = set()
    entries = []
    for repo in scanned:
        if not repo.components:
            continue
        _, golden_path = matcher.path(repo)
        team = ownership.repository_team(repo)
        for component in repo.components:
            own_team = team
            if id(component) in from_backstage:
                placed.add(id(component))
                own_team = ownership.normalise_team(component.owner) or team
            target = catalog.LinkTarget(repo.full_name, component.name, own_team, golden_path)
            entries.append((component, target))
    for component in backstage.components if backstage else ():
        if id(component) in placed:
            continue
        # Judged as a repository holding only it: its source template is its one signal.
        alone = Repository(component.repository or "", None, None, False, None, (component,), 0, ())
        target = catalog.LinkTarget(
            component.repository or "",
            component.name,
            ownership.normalise_team(component.owner),
            matcher.path(alone)[1],
        )
        entries.append((component, target))
    entries.sort(key=lambda e: (not e[1].repository, e[1].repository.lower(), e[1].component))
    return catalog.Links(entries)


def choose_kept_teams(
    summaries: Sequence[tally.ClusterSummary],
    repos: RepositorySummary | None,
    history: Mapping[str, TeamTimes],
    settings: Settings,
) -> Collection[str]:
    """The teams of one publish that keep their own label (`kept_teams()` over every team
    it knows: by evidence, by workloads, by repositories, by the history before the
    write). Ranked once per publish, before the write, and handed to both
    `merge_evidence()` and `compute()`: the write only adds kept teams to the history,
    which moves none of them down, so the ranking after it would choose the same."""
    teams = set(history)
    for summary in summaries:
        teams.update(summary.first_seen, summary.first_deploy)
        teams.update(team for team, _, _ in summary.team_tools)
    if repos is not None:
        teams.update(repos.first_seen)
        teams.update(team for team, _ in repos.team_repos)
    return kept_teams(teams, history, lambda team: _first_seen(team, summaries, repos), settings)


def merge_evidence(
    summaries: Iterable[tally.ClusterSummary],
    repos: RepositorySummary | None = None,
    history: Mapping[str, TeamTimes] | None = None,
    settings: Settings | None = None,
    *,
    keep: Collection[str] | None = None,
) -> tuple[dict[str, Evidence], dict[str, Evidence]]:
    """Earliest first-seen and first-deploy times per team across clusters and
    repositories, each with the object that showed it, for the state store.

    Only the teams in `keep` are returned (with `settings` and the `history` before
    this poll instead, `choose_kept_teams()`'s; with neither, every team): a flood
    of teams never reaches the state file."""
    summaries = list(summaries)
    if keep is None and settings is not None:
        # Chosen before merging, so a flood of teams is never copied into merged maps.
        keep = choose_kept_teams(summaries, repos, history or {}, settings)
    first_seen, first_deploy = _Earliest(), _Earliest()
    if repos is not None:
        for team, (when, by) in repos.first_seen.items():
            if keep is None or team in keep:
                first_seen.offer(team, when, by)
    for summary in summaries:
        for team, found in summary.first_seen.items():
            if keep is None or team in keep:
                first_seen.offer(team, *explain.evidence(found))
        for team, record in summary.first_deploy.items():
            if keep is None or team in keep:
                first_deploy.offer(team, *explain.evidence(record))
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


def midnight_utc(day: dt.date) -> float:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC).timestamp()


def team_settings(settings: Settings) -> tuple[set[str], dict[str, float]]:
    """The mandated teams and the onboarding dates set by hand (as unix seconds), by
    normalised team name: what `compute` and the reconstructed curve both read."""
    normalise = ownership.normalise_team
    mandated = {t for t in map(normalise, settings.teams.mandated) if t}
    overrides = {
        team: midnight_utc(day)
        for name, day in settings.teams.onboarded.items()
        if (team := normalise(name))
    }
    return mandated, overrides


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
    summaries: Iterable[tally.ClusterSummary],
    history: Mapping[str, TeamTimes],
    settings: Settings,
    now: float,
    repos: RepositorySummary | None = None,
    *,
    keep: Collection[str] | None = None,
) -> Snapshot:
    """The figures of one publish. `keep`: the teams that keep their own label, as
    `choose_kept_teams()` chose them for this publish; ranked here when not given."""
    summaries = list(summaries)
    mandated, overrides = team_settings(settings)
    launch = midnight_utc(settings.platform.launch_date)

    golden: Counter[str] = Counter()  # team -> golden workloads, only teams with some
    shadow: Counter[str] = Counter()
    workloads: dict[tuple[str, Path], int] = {}
    unowned: dict[str, int] = {}
    golden_paths: Counter[str] = Counter({p.name: 0 for p in settings.golden_paths})
    tools: Counter[DeployTool] = Counter(dict.fromkeys(DeployTool, 0))
    for s in summaries:
        for (team, path, _), n in s.team_tools.items():
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
    active_mandated = len(mandated & candidates)
    voluntary = active - active_mandated
    adopted_voluntary = len(golden) - len(mandated & golden.keys())
    team_repos = repos.team_repos if repos is not None else {}
    candidates.update(team for team, _ in team_repos)
    candidates.update(history)
    if keep is None:
        keep = choose_kept_teams(summaries, repos, history, settings)

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
    team_tools: Counter[tuple[str, Path, DeployTool]] = Counter()
    for s in summaries:
        for (team, path, tool), n in s.team_tools.items():
            if n:
                team_tools[team if team in keep else OTHER_TEAM, path, tool] += n

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
        team_tools=dict(team_tools),
        launch=launch,
        target_ratio=target_ratio(settings, now),
        has_workloads=bool(summaries),
        repos=_fold(team_repos, keep) if repos is not None else None,
        unowned_repos=repos.unowned if repos is not None else None,
        # `keep` may name teams with no series (a namespace's evidence, say).
        dropped_teams=sum(1 for team in candidates if team not in keep),
        mandated_teams=active_mandated,
    )


def _first_seen(
    team: str, summaries: Iterable[tally.ClusterSummary], repos: RepositorySummary | None
) -> float | None:
    found = [
        tally.evidence_time(seen) for s in summaries if (seen := s.first_seen.get(team)) is not None
    ]
    if repos is not None and (known := repos.first_seen.get(team)) is not None:
        found.append(known.time)
    return min(found, default=None)


def _fold(
    team_repos: Mapping[tuple[str, RepoPath], int], keep: Collection[str]
) -> dict[tuple[str, RepoPath], int]:
    folded: Counter[tuple[str, RepoPath]] = Counter()
    for (team, path), n in team_repos.items():
        folded[team if team in keep else OTHER_TEAM, path] += n
    return dict(folded)

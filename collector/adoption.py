"""PURE: from observations and the durable history to the figures the exporter publishes.

Two steps. `summarise()` reduces one cluster's observation to counts and
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
import sys
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING, cast

from collector import catalog, deploys, explain, ownership, rules
from collector.config import Settings
from collector.model import (
    CatalogObservation,
    ClusterObservation,
    Component,
    DeployTool,
    GitHubObservation,
    Namespace,
    Path,
    RepoPath,
    Repository,
    Workload,
)
from collector.state import Evidence, TeamTimes

if TYPE_CHECKING:
    from collector import predictors

# The one team label value no real team can take: every folded team's series go here.
OTHER_TEAM = "_other"
# Records hold the enums' plain values (explain.WorkloadRecord says why), looked up here
# rather than through `.value`, which is slow 50,000 times a poll.
_VALUE: dict[StrEnum, str] = {
    member: member.value for enum in (Path, DeployTool, ownership.TeamSource) for member in enum
}


@dataclass(frozen=True, slots=True)
class ClusterSummary:
    """What one cluster contributes to the figures, and the explanation of every workload
    behind them (kept with the figures, so a failed poll keeps both)."""

    cluster: str
    # (team, path, tool) -> workloads; the one count per team, so a flood of teams costs
    # one entry each (team_workloads is derived from it).
    team_tools: Mapping[tuple[str, Path, DeployTool], int]
    workloads: Mapping[Path, int]  # every tracked workload, owned or not
    unowned: int
    golden_paths: Mapping[str, int]
    tools: Mapping[DeployTool, int]
    # team -> its earliest dated evidence: a namespace's, or the earliest workload's own
    # record (see explain.evidence), as the state file needs it only for kept teams.
    first_seen: Mapping[str, Evidence | explain.WorkloadRecord]
    first_deploy: Mapping[str, explain.WorkloadRecord]  # the earliest golden workload
    # Every tracked workload, owned or not, sorted by (namespace, kind, name); never modified.
    records: Sequence[explain.WorkloadRecord] = ()
    read: int = 0  # workloads the poll read, tracked or not
    cronjob_runs: int = 0  # of those, Jobs a CronJob started: its runs, not workloads

    @property
    def team_workloads(self) -> Counter[tuple[str, Path]]:
        counts: Counter[tuple[str, Path]] = Counter()
        for (team, path, _), n in self.team_tools.items():
            counts[team, path] += n
        return counts


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


def _time(found: Evidence | explain.WorkloadRecord) -> float:
    # A record is only kept as evidence when it has a creation time.
    if isinstance(found, Evidence):
        return found.time
    return cast(float, found.created)


class _Earliest(dict[str, Evidence]):
    def offer(self, team: str, when: float | None, by: str | None) -> None:
        if when is not None:
            known = self.get(team)
            if known is None or when < known.time:
                self[team] = Evidence(when, by)


def summarise(
    observation: ClusterObservation,
    settings: Settings,
    matcher: rules.GoldenPathMatcher,
    links: catalog.Links | None = None,
    counting: deploys.Tally | None = None,
) -> ClusterSummary:
    """The summary of a poll that holds its workloads; `ClusterStream` takes them as they
    are read. `links`: the catalog Components of the last GitHub scan. A workload a
    Component selects takes that Component's team when it has no team label of its own,
    and is golden if the Component's repository is (its own golden path wins).
    `counting`: sees every tracked workload, with its team and path, to count deploys."""
    stream = ClusterStream(observation.cluster, settings, matcher, links, counting)
    stream.namespaces(observation.namespaces)
    stream.begin("", "")
    stream.add(observation.workloads)
    return stream.summary()


class _Memos:
    """What every list of one poll shares: answers worked out once, not once per list."""

    __slots__ = ("catalog", "managers", "reasons")

    def __init__(self, matcher: rules.GoldenPathMatcher) -> None:
        self.reasons = matcher.reasons()
        self.catalog = explain.CatalogExplanations()
        self.managers: dict[str, str] = {}  # one string per manager name, not per workload


class ClusterStream:
    """Summarises one cluster's poll as the source reads it (a `model.WorkloadSink`): a
    page of records at a time, each dropped once tallied, so no poll holds them all.

    Each list (a kind, in a scope) is tallied apart and the tallies merged by
    `summary()`: a list that starts over replaces its tally, and a kind RBAC refused
    drops its own, as if never read."""

    def __init__(
        self,
        cluster: str,
        settings: Settings,
        matcher: rules.GoldenPathMatcher,
        links: catalog.Links | None = None,
        counting: deploys.Tally | None = None,
    ) -> None:
        self.cluster = cluster
        self._label_keys = settings.ownership.labels
        self._static_map = settings.ownership.namespaces
        self._scope = rules.NamespaceScope(
            settings.kubernetes.include_namespaces, settings.kubernetes.excluded_namespaces
        )
        self._matcher = matcher
        self._links = links
        self._counting = counting
        self._memos = _Memos(matcher)
        self._namespaces: dict[str, Namespace] = {}
        # A namespace's owner is worked out once, not again for each of its workloads.
        self._owners: dict[str, ownership.Owner] = {}
        self._namespace_seen: dict[str, Evidence] = {}
        self._lists: dict[tuple[str, str], _Tally] = {}
        self._current: _Tally | None = None

    def namespaces(self, found: Sequence[Namespace]) -> None:
        label_keys, static_map = self._label_keys, self._static_map
        for namespace in found:
            if namespace.name not in self._scope:
                continue
            self._namespaces[namespace.name] = namespace
            owner = ownership.namespace_owner(
                namespace.name, namespace.labels, label_keys, static_map
            )
            self._owners[namespace.name] = owner
            when = namespace.created
            if owner[0] is not None and when is not None:
                known = self._namespace_seen.get(owner[0])
                if known is None or when < known.time:
                    ref = explain.namespace_ref(self.cluster, namespace.name)
                    self._namespace_seen[owner[0]] = Evidence(when, ref)

    def begin(self, kind: str, scope: str) -> None:
        counting = None if self._counting is None else self._counting.fork()
        self._current = self._lists[kind, scope] = _Tally(
            self.cluster,
            self._label_keys,
            self._matcher,
            self._memos,
            self._links,
            counting=counting,
        )

    def discard(self, kind: str) -> None:
        for key in [key for key in self._lists if key[0] == kind]:
            del self._lists[key]

    def add(self, records: Sequence[Workload]) -> None:
        tally = self._current
        if tally is None:
            raise RuntimeError("records before any list began")
        tally.read += len(records)
        namespaces, owners, scope = self._namespaces, self._owners, self._scope
        no_labels: Mapping[str, str] = {}
        add = tally.add
        for w in records:
            # A CronJob's Jobs are that CronJob's runs, not workloads of their own.
            if w.kind == "Job" and w.controller_kind == "CronJob":
                tally.cronjob_runs += 1
                continue
            host = namespaces.get(w.namespace)
            if host is not None:
                # The namespace's own string: records share it, not one each.
                add(w, host.name, host.labels, owners[host.name])
            elif w.namespace in scope:
                # A namespace created after the namespace list was read: no labels known yet.
                owner = ownership.namespace_owner(
                    w.namespace, no_labels, self._label_keys, self._static_map
                )
                add(w, sys.intern(w.namespace), no_labels, owner)

    def uids(self) -> Iterator[str | None]:
        """The uid of every workload tallied, for `deploys.Tally.delta`."""
        for tally in self._lists.values():
            yield from tally.uids

    def summary(self) -> ClusterSummary:
        merged = _Tally(self.cluster, self._label_keys, self._matcher, self._memos, self._links)
        for tally in self._lists.values():
            merged.absorb(tally)
            if self._counting is not None and tally.counting is not None:
                self._counting.absorb(tally.counting)
        merged.namespace_seen = self._namespace_seen
        return merged.summary()


class _Tally:
    """The counts, evidence and records of one list of a cluster's poll, a workload at a
    time; or, merged, of the whole poll."""

    def __init__(
        self,
        cluster: str,
        label_keys: Sequence[str],
        matcher: rules.GoldenPathMatcher,
        memos: _Memos,
        links: catalog.Links | None,
        *,
        counting: deploys.Tally | None = None,
    ) -> None:
        self.cluster = cluster
        self.counting = counting
        self.label_keys = label_keys
        self.matcher = matcher
        self.links = links
        # Namespaces' evidence apart from workloads', so the per-workload comparison
        # reads one type; merged in `summary()`.
        self.namespace_seen: dict[str, Evidence] = {}
        self.first_seen: dict[str, explain.WorkloadRecord] = {}
        self.first_deploy: dict[str, explain.WorkloadRecord] = {}
        self._managers = memos.managers
        self.team_tools: Counter[tuple[str, Path, DeployTool]] = Counter()
        self.workloads: Counter[Path] = Counter()
        self.golden_paths: Counter[str] = Counter()
        self.tools: Counter[DeployTool] = Counter()
        self.unowned = 0
        self.read = 0
        self.cronjob_runs = 0
        self.reasons = memos.reasons
        self.catalog = memos.catalog
        self._team: str | None = None  # the last team seen, whose string records share
        self.records: list[explain.WorkloadRecord] = []
        # Deploy counting asks for them only when some workload it knew is gone; the
        # records themselves are dropped page by page.
        self.uids: list[str | None] = []

    def add(
        self, w: Workload, namespace: str, ns_labels: Mapping[str, str], host: ownership.Owner
    ) -> None:
        labels, managers = w.labels, w.managers
        path_name = self.matcher.match(w, ns_labels)
        link = self.links.find(labels, namespace) if self.links else None
        link_owner = None if link is None else self.catalog.owner(link)
        if path_name is not None:
            reason = self.reasons.golden(path_name, w)
        elif link is not None and link.golden_path is not None:
            path_name = link.golden_path
            reason = self.catalog.reason(link)
        else:
            # Only shadow workloads pay for working out the closest miss.
            reason = self.reasons.closest_miss(w, ns_labels)
        path = Path.SHADOW if path_name is None else Path.GOLDEN
        self.workloads[path] += 1
        tool, entry = rules.deploy_tool(managers)
        # The name and time, not the entry: the entry would keep its whole record alive.
        if entry is None:
            manager = manager_time = None
        else:
            manager = self._managers.setdefault(entry.manager, entry.manager)
            manager_time = entry.time
        self.tools[tool] += 1
        if path_name is not None:
            self.golden_paths[path_name] += 1
        team, source, detail = ownership.workload_owner(labels, self.label_keys, host, link_owner)
        # Labels give each workload its own copy of the team's name; neighbours (the
        # same namespace, mostly) share one instead.
        if team == self._team:
            team = self._team
        else:
            self._team = team
        when = w.created
        record = explain.WorkloadRecord(
            self.cluster, namespace, w.kind, w.name, when, team, _VALUE[source], detail,
            _VALUE[path], path_name, reason, _VALUE[tool], manager, manager_time,
        )  # fmt: skip
        self.records.append(record)
        counting = self.counting
        if counting is not None:
            uid = w.uid
            self.uids.append(uid)
            # Tally.changed() inlined: an unchanged workload costs a look-up, no call.
            if uid is None or counting.lookup(uid) != (w.generation or 0):
                counting.see(uid, w.generation, when, team, path)
        if team is None:
            self.unowned += 1
            return
        self.team_tools[team, path, tool] += 1
        if when is not None:
            # The record itself is the evidence: no string per team (explain.evidence).
            known = self.first_seen.get(team)
            if known is None or when < cast(float, known.created):
                self.first_seen[team] = record
            if path_name is not None:
                first = self.first_deploy.get(team)
                if first is None or when < cast(float, first.created):
                    self.first_deploy[team] = record

    def absorb(self, other: _Tally) -> None:
        """Adds another list's tally to this one."""
        self.team_tools.update(other.team_tools)
        self.workloads.update(other.workloads)
        self.golden_paths.update(other.golden_paths)
        self.tools.update(other.tools)
        self.unowned += other.unowned
        self.read += other.read
        self.cronjob_runs += other.cronjob_runs
        self.records.extend(other.records)
        for mine, theirs in (
            (self.first_seen, other.first_seen),
            (self.first_deploy, other.first_deploy),
        ):
            for team, record in theirs.items():
                known = mine.get(team)
                if known is None or cast(float, record.created) < cast(float, known.created):
                    mine[team] = record

    def _first_seen(self) -> dict[str, Evidence | explain.WorkloadRecord]:
        merged: dict[str, Evidence | explain.WorkloadRecord] = dict(self.first_seen)
        for team, seen in self.namespace_seen.items():
            known = merged.get(team)
            if known is None or seen.time < _time(known):
                merged[team] = seen
        return merged

    def summary(self) -> ClusterSummary:
        # One sort in C, holding the GIL ~3 ms at 45,000 records. Merged in Python in steps,
        # to give the GIL up, it cost eight times the CPU.
        explain.sort_cluster(self.records)
        return ClusterSummary(
            cluster=self.cluster,
            # The counters themselves, not copies: with a flood of teams a copy doubles
            # the peak.
            team_tools=self.team_tools,
            workloads=dict(self.workloads),
            unowned=self.unowned,
            golden_paths=dict(self.golden_paths),
            tools=dict(self.tools),
            first_seen=self._first_seen(),
            first_deploy=self.first_deploy,
            records=self.records,
            read=self.read,
            cronjob_runs=self.cronjob_runs,
        )


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
    summaries: Sequence[ClusterSummary],
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
    summaries: Iterable[ClusterSummary],
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
    summaries: Iterable[ClusterSummary],
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
    team: str, summaries: Iterable[ClusterSummary], repos: RepositorySummary | None
) -> float | None:
    found = [_time(seen) for s in summaries if (seen := s.first_seen.get(team)) is not None]
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

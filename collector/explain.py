"""PURE: why each workload, repository and team counts as it does, for the drill-down API.

Workload and repository records are built in the same pass that counts them
(`tally.summarise`, `adoption.summarise_repositories`), from the same matchers,
so an explanation can never disagree with the figure it explains. `Drilldown` puts
one poll's records, its `Snapshot` and the durable history together once per
publish, with the indexes the API needs; a request only looks up and formats.

The JSON shapes are a contract shared with the HTTP API: /work/notes/api-contract.md.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import attrgetter
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec

from collector import adoption, catalog, ownership, predictors
from collector.config import Settings
from collector.model import Path, RepoPath
from collector.state import Evidence, TeamTimes

if TYPE_CHECKING:
    from collector import tally
    from collector.history import Day

JSON = dict[str, Any]


class WorkloadRecord(msgspec.Struct, frozen=True, gc=False, order=True):
    """One tracked workload of one poll and why it counts as it does: cheap to build 50,000
    times a poll, and immutable, so it is shared with the API as is. Untracked by the garbage
    collector (gc=False: it can hold no cycle, every field is a str, a float or None, enum
    members as the enums' values): records kept between polls would otherwise make each full
    collection scan 50,000 more objects, a GIL pause of tens of milliseconds that every
    scrape waits out."""

    cluster: str
    namespace: str
    kind: str
    name: str
    created: float | None
    team: str | None
    team_source: str  # an ownership.TeamSource value
    team_detail: str | None  # the label key, the catalog Component, ...: see ownership.Owner
    path: str  # a model.Path value
    golden_path: str | None
    reason: str  # memoised per poll: workloads with the same reason share the string
    tool: str  # a model.DeployTool value
    manager: str | None  # the managedFields entry the tool was read from: its manager
    manager_time: float | None  # and its time


class RepositoryRecord(NamedTuple):
    repository: str  # owner/name
    team: str | None
    path: RepoPath
    golden_path: str | None
    reason: str
    created: float | None


# Records of one cluster are sorted by this; clusters then follow in name order.
CLUSTER_ORDER: Callable[[WorkloadRecord], tuple[str, str, str]] = attrgetter(
    "namespace", "kind", "name"
)
REPOSITORY_ORDER: Callable[[RepositoryRecord], str] = attrgetter("repository")


def sort_cluster(records: list[WorkloadRecord]) -> None:
    """Sorts one cluster's records in CLUSTER_ORDER, in place.

    By the records' own order (their first fields are the cluster, the same for all, then
    namespace, kind and name), so no key is built per record: at 45,000 records a third of
    the CPU of a keyed sort and 3 MB less at its peak. Each list arrives ordered by
    namespace and name (the API server lists in key order), so the sort merges runs. Two
    records of one object (nothing a real server sends) would be compared on their later
    fields, where a None and a number cannot be: those take the keyed sort."""
    try:
        records.sort()
    except TypeError:
        records.sort(key=CLUSTER_ORDER)


# --- evidence: which object set a time, as the state file keeps it ("SOURCE:OBJECT") ---


def namespace_ref(cluster: str, namespace: str) -> str:
    return f"namespace:{cluster}/{namespace}"


def workload_ref(record: WorkloadRecord) -> str:
    return f"workload:{record.cluster}/{record.namespace}/{record.kind}/{record.name}"


def repository_ref(full_name: str) -> str:
    return f"repository:{full_name}"


def evidence(found: Evidence | WorkloadRecord) -> Evidence:
    """A summary's earliest evidence as the state file keeps it. Summaries hold the
    workload record itself (its `created` is the time) rather than a string per team:
    only the teams that reach the state file need one."""
    if isinstance(found, Evidence):
        return found
    assert found.created is not None  # only dated workloads are evidence
    return Evidence(found.created, workload_ref(found))


def split_ref(by: str | None) -> tuple[str | None, str | None]:
    """(source, object) of a stored reference; (None, None) when it was not kept."""
    if by is None:
        return None, None
    source, _, obj = by.partition(":")  # sources never hold a colon; objects may
    return source, obj


class CatalogExplanations:
    """The owner and the golden reason a catalog Component gives the workloads it
    selects, worked out once per Component per poll rather than once per workload."""

    __slots__ = ("_owners", "_reasons")

    def __init__(self) -> None:
        # Keyed by identity: a poll's links outlive it, and hashing the dataclass
        # for each workload would cost more than the lookup saves.
        self._owners: dict[int, tuple[catalog.LinkTarget, ownership.Owner]] = {}
        self._reasons: dict[int, tuple[catalog.LinkTarget, str]] = {}

    def owner(self, link: catalog.LinkTarget) -> ownership.Owner:
        found = self._owners.get(id(link))
        if found is None:
            detail = f"Component {link.component} in {link.repository or 'the Backstage catalog'}"
            found = self._owners[id(link)] = (
                link,
                (link.team, ownership.TeamSource.CATALOG, detail),
            )
        return found[1]

    def reason(self, link: catalog.LinkTarget) -> str:
        found = self._reasons.get(id(link))
        if found is None:
            text = (
                f"catalog Component {link.component} in golden repository {link.repository} "
                f"({link.golden_path})"
                if link.repository
                else f"catalog Component {link.component} from a golden source template "
                f"({link.golden_path})"
            )
            found = self._reasons[id(link)] = (link, text)
        return found[1]


# --- JSON ------------------------------------------------------------------------------


def iso(when: float | None) -> str | None:
    """RFC 3339 UTC with seconds precision, as the contract writes every time."""
    if when is None:
        return None
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))
    except (OverflowError, OSError, ValueError):  # a timestamp no calendar can show
        return None


def workload_json(record: WorkloadRecord) -> JSON:
    return {
        "cluster": record.cluster,
        "namespace": record.namespace,
        "kind": record.kind,
        "name": record.name,
        "created": iso(record.created),
        "team": record.team,
        "team_source": record.team_source,
        "team_source_detail": record.team_detail,
        "path": record.path,
        "golden_path": record.golden_path,
        "reason": record.reason,
        "tool": record.tool,
        "manager": record.manager,
        "manager_time": iso(record.manager_time),
    }


def repository_json(record: RepositoryRecord) -> JSON:
    return {
        "repository": record.repository,
        "team": record.team,
        "path": record.path.value,
        "golden_path": record.golden_path,
        "reason": record.reason,
        "created": iso(record.created),
    }


def _evidence(source: str | None, obj: str | None, when: float) -> JSON:
    return {"source": source, "object": obj, "time": iso(when)}


# --- the drill-down of one publish ----------------------------------------------------


class Drilldown:
    """Everything the drill-down API serves, for one publish: built once, read by any
    number of requests at once (nothing changes after construction but the secondary
    indexes, each built once, under a lock, on first use).

    `workloads()` and `repositories()` return records, in the contract's order, so
    the API can page them and format only the page (`workload_json`). Teams are those
    with a figure in /metrics, named as /metrics names them: beyond
    `limits.max_teams`, folded teams are `_other`, and `workloads(team="_other")`
    are theirs.
    """

    workload_json = staticmethod(workload_json)
    repository_json = staticmethod(repository_json)
    # The `team` label /metrics gives a real team: its own name, or `_other` if folded.
    team_label: Callable[[str], str]

    def __init__(
        self,
        snapshot: adoption.Snapshot,
        *,
        clusters: Iterable[tally.ClusterSummary],
        repos: adoption.RepositorySummary | None,
        history: Mapping[str, TeamTimes],
        settings: Settings,
        polled_at: float,
        curve: Sequence[Day] = (),
    ) -> None:
        self.snapshot = snapshot
        self.polled_at = polled_at
        # The adoption curve since launch (collector.history), computed with the figures.
        self.curve: tuple[Day, ...] = tuple(curve)
        self._settings = settings
        clusters = sorted(clusters, key=attrgetter("cluster"))
        self.records: tuple[WorkloadRecord, ...] = tuple(r for c in clusters for r in c.records)
        self._repos = repos
        self._team_objects = self._build_teams(history)
        kept = self._team_objects.keys()
        folded = snapshot.dropped_teams > 0

        def label(team: str) -> str:
            return team if not folded or team in kept else adoption.OTHER_TEAM

        self._label = label
        self.team_label = label
        # Each index lists records in the global order, so a lookup needs no sort. The
        # team index is built now; the namespace, path and tool ones on first use (see
        # `_index`), since a publish that nobody queries should not pay for them.
        by_team: defaultdict[str, list[WorkloadRecord]] = defaultdict(list)
        for r in self.records:
            team = r.team
            if team is not None:
                by_team[label(team) if folded else team].append(r)
        self._by: dict[str, Mapping[str, Sequence[WorkloadRecord]]] = {
            "team": by_team,
            "cluster": {c.cluster: c.records for c in clusters},
        }
        self._lock = threading.Lock()
        self._repos_by_team: defaultdict[str, list[RepositoryRecord]] = defaultdict(list)
        for repo in repos.records if repos is not None else ():
            if repo.team is not None:
                self._repos_by_team[label(repo.team)].append(repo)

    # --- queries -------------------------------------------------------------------

    def history(self) -> JSON:
        """/api/v1/history: every day from the launch, oldest first (collector.history)."""
        launch = time.strftime("%Y-%m-%d", time.gmtime(self.snapshot.launch))
        return {"launch_date": launch, "days": [d.json() for d in self.curve]}

    def summary(self) -> JSON:
        s = self.snapshot
        by_path = {path.value: 0 for path in Path}
        for (_, path), n in s.workloads.items():
            by_path[path.value] += n
        return {
            # No cluster polled yet: /metrics has none of these, so neither has this.
            "active_teams": s.active_teams if s.has_workloads else None,
            "adopted_teams": s.adopted_teams if s.has_workloads else None,
            "adoption_ratio": s.ratio,
            "voluntary_ratio": s.voluntary_ratio,
            "target_ratio": s.target_ratio,
            "platform_age_months": adoption.whole_months(
                self._settings.platform.launch_date, self.polled_at
            ),
            "workloads": by_path if s.has_workloads else None,
            "polled_at": iso(self.polled_at),
            "predictors": None
            if s.predictors is None
            else predictors.document(s.predictors, self._settings, s, self.polled_at),
        }

    def teams(self) -> list[JSON]:
        """Every team object, sorted by team."""
        return list(self._team_objects.values())

    def team(self, name: str) -> JSON | None:
        """The team object with its workloads and repositories; None for an unknown team."""
        found = self._team_objects.get(name)
        if found is None:
            return None
        repos = self.repositories(team=name)
        return {
            **found,
            "workloads": [workload_json(r) for r in self.workloads(team=name)],
            "repositories": None if repos is None else [repository_json(r) for r in repos],
        }

    def workloads(
        self,
        team: str | None = None,
        path: str | None = None,
        cluster: str | None = None,
        namespace: str | None = None,
        tool: str | None = None,
    ) -> Sequence[WorkloadRecord]:
        """The records matching every filter given, in (cluster, namespace, kind, name)
        order. Unknown values match nothing (the API validates them first). The result
        may be shared: do not modify it."""
        wanted = {
            k: v
            for k, v in (
                ("team", team),
                ("cluster", cluster),
                ("namespace", namespace),
                ("path", path),
                ("tool", tool),
            )
            if v is not None
        }
        if not wanted:
            return self.records
        # The smallest index list, then the other filters over it: never a full scan
        # unless the one filter given is as large.
        lists = {k: self._index(k).get(v, ()) for k, v in wanted.items()}
        first = min(lists, key=lambda k: len(lists[k]))
        candidates = lists.pop(first)
        if not lists:
            return candidates
        label = self._label
        checks: list[Callable[[WorkloadRecord], bool]] = []
        if "team" in lists:
            checks.append(lambda r: r.team is not None and label(r.team) == team)
        if "cluster" in lists:
            checks.append(lambda r: r.cluster == cluster)
        if "namespace" in lists:
            checks.append(lambda r: r.namespace == namespace)
        if "path" in lists:
            checks.append(lambda r: r.path == path)
        if "tool" in lists:
            checks.append(lambda r: r.tool == tool)
        return [r for r in candidates if all(check(r) for check in checks)]

    def _index(self, field: str) -> Mapping[str, Sequence[WorkloadRecord]]:
        index = self._by.get(field)
        if index is None:
            with self._lock:  # requests run concurrently; one of them builds it
                index = self._by.get(field)
                if index is None:
                    built: defaultdict[str, list[WorkloadRecord]] = defaultdict(list)
                    key = attrgetter(field)
                    for r in self.records:
                        built[key(r)].append(r)
                    index = self._by[field] = dict(built)
        return index

    def repositories(
        self, team: str | None = None, path: str | None = None
    ) -> Sequence[RepositoryRecord] | None:
        """Repositories sorted by name; None when no GitHub scan has been summarised
        (GitHub not configured, or never scanned)."""
        if self._repos is None:
            return None
        found: Sequence[RepositoryRecord] = (
            self._repos.records if team is None else self._repos_by_team.get(team, ())
        )
        if path is not None:
            found = [r for r in found if r.path == path]
        return found

    # --- building ------------------------------------------------------------------

    def _build_teams(self, history: Mapping[str, TeamTimes]) -> dict[str, JSON]:
        s = self.snapshot
        normalise = ownership.normalise_team
        mandated = {t for t in map(normalise, self._settings.teams.mandated) if t}
        overrides = {t for t in map(normalise, self._settings.teams.onboarded) if t}
        figures = {f.team: f for f in s.teams} if s.has_workloads else {}
        histories = {h.team: h for h in s.history}
        tools: defaultdict[str, dict[str, int]] = defaultdict(dict)
        for (team, _, tool), n in sorted(s.team_tools.items()):
            counts = tools[team]
            counts[tool.value] = counts.get(tool.value, 0) + n
        names = figures.keys() | histories.keys()
        if s.repos is not None:
            names |= {team for team, _ in s.repos}
        teams: dict[str, JSON] = {}
        no_times = TeamTimes(None, None)
        for name in sorted(names):
            f = figures.get(name)
            golden, shadow = (f.golden, f.shadow) if f is not None else (0, 0)
            h = histories.get(name)
            times = history.get(name, no_times)
            onboarded = h.onboarded if h is not None else None
            first_deploy = h.first_deploy if h is not None else None
            if onboarded is None:
                onboarded_by = None
            elif name in overrides:
                onboarded_by = _evidence("override", "teams.onboarded", onboarded)
            else:
                assert times.first_seen is not None  # onboarded comes from it
                source, obj = split_ref(times.first_seen_by)
                if times.first_seen < s.launch:
                    source = "launch_date"
                onboarded_by = _evidence(source, obj, times.first_seen)
            deploy_by = None
            if first_deploy is not None:
                _, obj = split_ref(times.first_deploy_by)
                deploy_by = _evidence("workload", obj, first_deploy)
            teams[name] = {
                "team": name,
                "active": f is not None,
                "adopted": golden > 0,
                "mandated": f.mandated if f is not None else name in mandated,
                "workload_counts": {"golden": golden, "shadow": shadow},
                "tools": tools.get(name, {}),
                "golden_share": golden / (golden + shadow) if golden + shadow else None,
                "repository_counts": None
                if s.repos is None
                else {p.value: s.repos.get((name, p), 0) for p in RepoPath},
                "onboarded": iso(onboarded),
                "onboarded_evidence": onboarded_by,
                "first_deploy": iso(first_deploy),
                "first_deploy_evidence": deploy_by,
                "time_to_first_deploy_seconds": h.time_to_first_deploy if h is not None else None,
            }
        return teams

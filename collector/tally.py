"""PURE: one cluster's poll, tallied workload by workload into a `ClusterSummary`.

`ClusterStream` takes the records as the source reads them, a page at a time
(`model.WorkloadSink`), and keeps of each workload only its explanation for the
drill-down (`explain.WorkloadRecord`) and its share of the counts and evidence;
`summarise()` does the same for an observation that holds its workloads.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import cast

from collector import catalog, deploys, explain, ownership, rules
from collector.config import Settings
from collector.model import ClusterObservation, DeployTool, Namespace, Path, Workload
from collector.state import Evidence

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


def evidence_time(found: Evidence | explain.WorkloadRecord) -> float:
    """When the evidence of a team's first sighting happened: a record is only kept as
    evidence when it has a creation time."""
    if isinstance(found, Evidence):
        return found.time
    return cast(float, found.created)


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
            if known is None or seen.time < evidence_time(known):
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

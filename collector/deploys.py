"""PURE: deploys, from the generations of the workloads two polls of a cluster saw.

A deploy is a change of a tracked workload's spec. The API server raises
`metadata.generation` by one with each, so a rise between two polls counts the
difference; a workload new since the last poll counts its generation (1 when just
created, one more per change since). Workloads are told apart by `uid`, so one
deleted and created again under its name is new. Nothing is counted on the first
poll of a cluster (`Known.baseline` None): it only establishes what exists.

A workload first seen later but created before that first poll was there all along,
out of sight (a kind RBAC refused until now, a namespace or kind newly configured):
its generation becomes its baseline and counts nothing.

The generations of the last good poll live in the state store, read here as `Known`
and changed only by what `Tally.delta()` returns, so a failed poll counts nothing
and the next good one catches up, and a restart loses or repeats nothing.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from collector.model import Path


@dataclass(frozen=True, slots=True)
class Known:
    """What a cluster's last good poll left: read, never changed, by a poll's tally."""

    # When the cluster's first good poll started (unix seconds); None: never polled.
    baseline: float | None
    generations: Mapping[str, int]  # uid -> generation (0: the object had none)


NEVER_POLLED = Known(None, {})


@dataclass(frozen=True, slots=True)
class Delta:
    """What one good poll of a cluster changes: deploys counted, generations to keep."""

    cluster: str
    team: Mapping[tuple[str, Path], int]  # (team, path) -> deploys; owned workloads only
    path: Mapping[Path, int]  # path -> deploys, owned and unowned
    changed: Mapping[str, int]  # uid -> generation, new or risen since the last poll
    gone: tuple[str, ...] = ()  # uids no longer there
    baseline: float | None = None  # set by the cluster's first good poll only

    @property
    def empty(self) -> bool:
        return not (self.changed or self.gone or self.baseline is not None)


class Tally:
    """Counts one poll's deploys, a workload at a time, inside the poll's one pass.

    On the path of every workload: `changed(uid, generation)` is a dict look-up and a
    comparison, and only a workload it says changed (or has no uid) costs a `see()`;
    no per-workload object is kept."""

    __slots__ = (
        "_counted",
        "baseline",
        "cluster",
        "known",
        "lookup",
        "new",
        "path",
        "started",
        "team",
        "without_uid",
    )

    def __init__(self, cluster: str, known: Known, started: float) -> None:
        self.cluster = cluster
        self.known = known
        self.started = started  # when this poll started: the baseline, if it is the first
        self.baseline = known.baseline
        self.lookup = known.generations.get
        self.team: Counter[tuple[str, Path]] = Counter()
        self.path: Counter[Path] = Counter()
        self._counted: dict[str, int] = {}  # uid -> generation, new or risen since the last poll
        self.new = 0  # uids not in `known`
        self.without_uid = 0

    def fork(self) -> Tally:
        """An empty tally against the same generations: one list's, for `absorb()` later."""
        return Tally(self.cluster, self.known, self.started)

    def absorb(self, other: Tally) -> None:
        """Adds what a fork counted; the two saw different workloads."""
        self.team.update(other.team)
        self.path.update(other.path)
        self._counted.update(other._counted)
        self.new += other.new
        self.without_uid += other.without_uid

    def changed(self, uid: str | None, generation: int | None) -> bool:
        """Whether `see()` has anything to do for this workload (inline it in a hot loop)."""
        return uid is None or self.lookup(uid) != (generation or 0)

    def see(
        self, uid: str | None, generation: int | None, created: float | None,
        team: str | None, path: Path,
    ) -> None:  # fmt: skip
        if uid is None:
            self.without_uid += 1  # no way to tell it from another: never counted
            return
        generation = generation or 0
        old = self.lookup(uid)
        if old == generation:
            return
        baseline = self.baseline
        if old is None:
            self.new += 1
            self._counted[uid] = generation
            # Created before counting began: there all along, only out of sight.
            if baseline is None or (created is not None and created < math.floor(baseline)):
                return
            count = max(generation, 1)
        else:
            self._counted[uid] = generation
            if generation < old:  # not something a real server does; start over from it
                return
            count = generation - old
        self.path[path] += count
        if team is not None:
            self.team[team, path] += count

    def delta(
        self, tracked: int, uids: Callable[[], Iterable[str | None]], *, complete: bool
    ) -> Delta:
        """The poll's delta. `tracked`: the workloads offered to `see()` or found unchanged;
        `uids` yields the uid of every workload seen (asked only when some known one is
        missing); `complete` False (a kind was not listed) keeps the generations of the
        missing ones, which may come back."""
        gone: tuple[str, ...] = ()
        known = self.known.generations
        if complete and tracked - self.without_uid - self.new < len(known):
            present = {uid for uid in uids() if uid is not None}
            gone = tuple(sorted(uid for uid in known if uid not in present))
        return Delta(
            cluster=self.cluster,
            team=dict(self.team),
            path=dict(self.path),
            changed=self._counted,
            gone=gone,
            baseline=self.started if self.baseline is None else None,
        )


def fold(
    team: Mapping[tuple[str, Path], int], label: Callable[[str], str]
) -> dict[tuple[str, Path], int]:
    """Deploys by (team, path), with each team named as /metrics names it (`label`)."""
    folded: Counter[tuple[str, Path]] = Counter()
    for (name, path), n in team.items():
        folded[label(name), path] += n
    return dict(folded)

"""One poll cycle: sources -> summaries -> durable history -> snapshot -> exposition.

The pipeline keeps the last good summary of every cluster and of the GitHub
organisation. A failed poll marks its source down and counts the error but
leaves that summary in place, so a failure never moves the adoption figures;
the next success replaces it. The catalog links of the last good GitHub scan and
Backstage catalog attribute workloads in every Kubernetes poll that follows.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Protocol

from collector import (
    adoption,
    catalog,
    deploys,
    explain,
    exporter,
    history,
    predictors,
    rules,
    tally,
)
from collector.config import Settings
from collector.model import (
    CatalogObservation,
    ClusterObservation,
    GitHubObservation,
    Path,
    RateLimit,
    SourceStatus,
    WorkloadSink,
)
from collector.sources import PollError
from collector.sources.backstage import BackstageSource
from collector.sources.github import GitHubSource
from collector.sources.kubernetes import KubernetesSource, gc_paused
from collector.sources.nps import SurveyFile
from collector.state import StateError, StateStore, TeamTimes

log = logging.getLogger(__name__)

KUBERNETES = "kubernetes"
GITHUB = "github"
BACKSTAGE = "backstage"
MAX_CONCURRENT_CLUSTERS = 8


class ClusterSource(Protocol):
    def poll(self, sink: WorkloadSink | None = None) -> ClusterObservation: ...
    def close(self) -> None: ...


class RepositorySource(Protocol):
    @property
    def rate_limits(self) -> tuple[RateLimit, ...]: ...
    def poll(self) -> GitHubObservation: ...
    def close(self) -> None: ...


class CatalogSource(Protocol):
    def poll(self) -> CatalogObservation: ...
    def close(self) -> None: ...


def kubernetes_sources(
    settings: Settings, matcher: rules.GoldenPathMatcher
) -> dict[str, ClusterSource]:
    k8s = settings.kubernetes
    return {
        cluster.name: KubernetesSource(
            cluster,
            kinds=k8s.kinds,
            annotation_keys=matcher.annotation_keys,
            timeout=k8s.timeout,
            poll_timeout=k8s.poll_timeout,
            page_size=k8s.page_size,
            namespaces=k8s.namespaces,
        )
        for cluster in k8s.clusters
    }


class Pipeline:
    def __init__(
        self,
        settings: Settings,
        state: StateStore,
        *,
        sources: Mapping[str, ClusterSource] | None = None,
        github: RepositorySource | None = None,
        backstage: CatalogSource | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Without `sources`, every source is built from `settings` (GitHub and Backstage
        included); with them (tests), `github` and `backstage` are those sources or None."""
        self.settings = settings
        self.state = state
        self.clock = clock
        self.matcher = rules.GoldenPathMatcher(settings.golden_paths)
        self.repo_matcher = rules.RepositoryMatcher(settings.golden_paths)
        if sources is None:
            sources = kubernetes_sources(settings, self.matcher)
            if settings.github is not None:
                github = GitHubSource(
                    settings.github, property_name=settings.ownership.github_property
                )
            if settings.backstage is not None:
                backstage = BackstageSource(settings.backstage)
        self.sources = dict(sources)
        self.github = github
        self.backstage = backstage
        self.exposition = exporter.Exposition(
            runtime=functools.partial(exporter.runtime_text, settings.collector.scope)
        )
        self.snapshot: adoption.Snapshot | None = None
        # What the drill-down API serves, from the same publish as `snapshot`; None before
        # the first poll. Replaced whole (one reference assignment), never modified.
        self.drilldown: explain.Drilldown | None = None
        self._summaries: dict[str, tally.ClusterSummary] = {}
        self._repos: adoption.RepositorySummary | None = None
        self._links: catalog.Links | None = None
        # The last good answers of the two catalog sources: either's next success rebuilds
        # the repositories' figures and the links from both.
        self._scan: GitHubObservation | None = None
        self._catalog: CatalogObservation | None = None
        self._held: int | None = None  # entities of a Backstage answer held back (a drop)
        self.links_generation = 0  # moves on whenever a catalog poll changes the links
        self._statuses: dict[str, SourceStatus] = {}  # cluster name or GITHUB -> status
        # Deploys by (team, path) of good polls since the last publish, which names each
        # team as /metrics does (folding) and writes them with the generations they moved.
        self._team_deploys: list[Mapping[tuple[str, Path], int]] = []
        self._polled_well = False  # a cluster poll succeeded since the last publish
        self._survey = SurveyFile(settings.platform.nps) if settings.platform.nps else None
        self._published: frozenset[str] = frozenset()  # sources the exposition includes
        self._lock = threading.Lock()
        self._kubernetes_turn = threading.Lock()
        self._catalog_turn = threading.Lock()

    @property
    def ready(self) -> bool:
        """Every source has been polled once (successfully or not) and what that poll found is
        published: a poll's status is recorded before the figures are computed, and a scrape
        in between would find none."""
        expected = set(self.sources)
        expected |= {GITHUB} if self.github is not None else set()
        expected |= {BACKSTAGE} if self.backstage is not None else set()
        return self._published >= expected

    def poll_kubernetes(self) -> bool:
        """Poll every cluster (concurrently, bounded), then publish. True if all succeeded."""
        names = sorted(self.sources)
        workers = max(1, min(MAX_CONCURRENT_CLUSTERS, len(names)))
        # A scheduled poll and one the GitHub scan asked for take turns, never overlap.
        with (
            self._kubernetes_turn,
            # Nothing a poll builds forms a cycle, so collections during it find nothing: at
            # 50,000 workloads a cycle without the pause runs ~165 of them, one a full
            # collection holding the GIL 5.5 ms, which scrapes then wait out
            # (sources.kubernetes._GcPause has the figures).
            gc_paused(),
            ThreadPoolExecutor(workers, thread_name_prefix="poll") as pool,
        ):
            results = list(pool.map(self._poll_cluster, names))
        self.publish()
        return all(results)

    def _poll_cluster(self, name: str) -> bool:
        started = self.clock()
        previous = self._statuses.get(name)
        errors = previous.errors_total if previous else 0
        try:
            counting = deploys.Tally(name, self.state.known(name), started)
            # The records go to the stream page by page as they are read: none is held
            # past its page.
            stream = tally.ClusterStream(name, self.settings, self.matcher, self._links, counting)
            observation = self.sources[name].poll(stream)
            summary = stream.summary()
            delta = counting.delta(
                len(summary.records), stream.uids, complete=not observation.forbidden
            )
        except Exception as exc:
            self._failed(
                f"kubernetes cluster {name}", exc, name, previous,
                SourceStatus(
                    source=KUBERNETES, kube_cluster=name, up=False, last_success=None,
                    poll_duration=self.clock() - started, errors_total=0, complete=False,
                    interval=self.settings.kubernetes.interval,
                ),
            )  # fmt: skip
            return False
        finished = self.clock()
        log.info(
            "polled kubernetes cluster %s in %.2fs: %s; %d namespaces, %d skipped%s",
            name,
            finished - started,
            _tracked_words(summary),
            len(observation.namespaces),
            observation.skipped,
            f"; partial, not allowed to list {', '.join(observation.forbidden)}"
            if observation.forbidden
            else "",
        )
        with self._lock:
            self._summaries[name] = summary
            # The next poll of this cluster counts from these generations, whatever happens
            # to the write; the write comes with the next publish.
            self.state.advance(delta)
            if delta.team:
                self._team_deploys.append(delta.team)
            self._polled_well = True
            self._statuses[name] = SourceStatus(
                source=KUBERNETES,
                kube_cluster=name,
                up=True,
                last_success=finished,
                poll_duration=finished - started,
                errors_total=errors,
                objects=observation.objects,
                skipped=observation.skipped,
                # A kind RBAC refused is left out: the poll counts, but did not read everything.
                complete=not observation.forbidden,
                interval=self.settings.kubernetes.interval,
                forbidden=observation.forbidden,
            )
        return True

    def poll_once(self) -> bool:
        """Every source once: the catalogs (GitHub, Backstage) first, so their links
        attribute the workloads of this very poll. True if every poll succeeded."""
        github_ok = self.poll_github()
        backstage_ok = self.poll_backstage()
        return self.poll_kubernetes() and github_ok and backstage_ok

    def poll_github(self) -> bool:
        """Scan the organisation, then publish. True if the scan succeeded. When the
        catalog links changed, `links_generation` moves on: the caller can re-poll the
        clusters rather than wait a whole interval for workloads to be re-attributed."""
        # The two catalog polls take turns: each derives the links from both.
        with self._catalog_turn:
            return self._poll_github()

    def _poll_github(self) -> bool:
        source = self.github
        if source is None:
            return True
        started = self.clock()
        previous = self._statuses.get(GITHUB)
        errors = previous.errors_total if previous else 0
        parse_errors = (previous.parse_errors_total or 0) if previous else 0
        interval = self.settings.github.interval if self.settings.github else 0.0
        try:
            observation = source.poll()
            repos, links = self._catalogs(observation, self._catalog)
        except Exception as exc:
            self._failed(
                GITHUB, exc, GITHUB, previous,
                SourceStatus(
                    source=GITHUB, kube_cluster="", up=False, last_success=None,
                    poll_duration=self.clock() - started, errors_total=0, parse_errors_total=0,
                    complete=False, rate_limits=source.rate_limits, interval=interval,
                ),
            )  # fmt: skip
            self.publish()
            return False
        finished = self.clock()
        log.info(
            "polled github organisation %s in %.2fs: %d repositories%s, %d files unparsable",
            observation.org,
            finished - started,
            len(observation.repositories),
            "" if observation.complete else " (incomplete: see the warning above)",
            observation.parse_errors,
        )
        with self._lock:
            self._scan = observation
            self._relink(repos, links)
            self._statuses[GITHUB] = SourceStatus(
                source=GITHUB,
                kube_cluster="",
                up=True,
                last_success=finished,
                poll_duration=finished - started,
                errors_total=errors,
                objects=observation.objects,
                skipped=observation.skipped,
                parse_errors_total=parse_errors + observation.parse_errors,
                complete=observation.complete,
                rate_limits=observation.rate_limits,
                interval=interval,
            )
        self.publish()
        return True

    def _catalogs(
        self, scan: GitHubObservation | None, backstage: CatalogObservation | None
    ) -> tuple[adoption.RepositorySummary | None, catalog.Links]:
        """The repositories' figures and the links, from the last good answer of each catalog."""
        repos = (
            None
            if scan is None
            else adoption.summarise_repositories(
                adoption.with_catalog(scan, backstage), self.repo_matcher
            )
        )
        return repos, adoption.build_links(scan, self.repo_matcher, backstage)

    def _relink(self, repos: adoption.RepositorySummary | None, links: catalog.Links) -> None:
        """Apply what `_catalogs` computed; holds `_lock`."""
        if self._links is None or links.entries != self._links.entries:
            self.links_generation += 1
        self._repos = repos
        self._links = links

    def poll_backstage(self) -> bool:
        """Read the Backstage catalog, then publish. True if the poll succeeded (a held-back
        answer too: it is no failure). Like `poll_github`, moves `links_generation` on when
        the links changed."""
        with self._catalog_turn:
            return self._poll_backstage()

    def _poll_backstage(self) -> bool:
        source = self.backstage
        settings = self.settings.backstage
        if source is None:
            return True
        interval = settings.interval if settings else 0.0
        started = self.clock()
        previous = self._statuses.get(BACKSTAGE)
        try:
            observation = source.poll()
            held = self._hold_back(observation)
            if not held:
                repos, links = self._catalogs(self._scan, observation)
        except Exception as exc:
            self._failed(
                BACKSTAGE, exc, BACKSTAGE, previous,
                SourceStatus(
                    source=BACKSTAGE, kube_cluster="", up=False, last_success=None,
                    poll_duration=self.clock() - started, errors_total=0, complete=False,
                    interval=interval,
                ),
            )  # fmt: skip
            self.publish()
            return False
        finished = self.clock()
        status = SourceStatus(
            source=BACKSTAGE,
            kube_cluster="",
            up=True,
            last_success=finished,
            poll_duration=finished - started,
            errors_total=previous.errors_total if previous else 0,
            objects=observation.objects,
            skipped=observation.skipped,
            interval=interval,
        )
        with self._lock:
            if held:
                # Answered, but not applied: the figures and what they were read from stay.
                self._statuses[BACKSTAGE] = replace(
                    status,
                    complete=False,
                    last_success=previous.last_success if previous else None,
                    objects=previous.objects if previous else {},
                    skipped=previous.skipped if previous else 0,
                )
            else:
                log.info(
                    "polled backstage in %.2fs: %d components, %d groups, %d skipped",
                    finished - started,
                    len(observation.components),
                    len(observation.groups),
                    observation.skipped,
                )
                self._catalog = observation
                self._relink(repos, links)
                self._statuses[BACKSTAGE] = status
        self.publish()
        return True

    def _hold_back(self, observation: CatalogObservation) -> bool:
        """True when the answer holds less than half the entities of the last good one: a
        Backstage that just started answers 200 with few entities until its ingestion
        finishes. The next answer with the same (non-zero) count is applied: a catalog
        that really shrank stops shrinking, an ingesting one does not."""
        count = len(observation.components) + len(observation.groups)
        last = self._catalog
        before = 0 if last is None else len(last.components) + len(last.groups)
        if count * 2 >= before or (count and count == self._held):
            self._held = None
            return False
        log.warning(
            "backstage: the catalog answered %d entities, %d in the last good poll: not "
            "applied (still ingesting after a restart?); the figures stay as they were",
            count,
            before,
        )
        self._held = count
        return True

    def publish(self) -> None:
        """Merge what every cluster last showed into the history and render the exposition."""
        with self._lock:
            summaries = list(self._summaries.values())
            statuses = list(self._statuses.values())
            published = frozenset(self._statuses)
            # Ranked once: the write and the figures fold the same teams.
            keep = adoption.choose_kept_teams(
                summaries, self._repos, self.state.history, self.settings
            )
            first_seen, first_deploy = adoption.merge_evidence(summaries, self._repos, keep=keep)
            try:
                history = self.state.record(first_seen, first_deploy)
            except StateError as exc:
                # Figures are still right from memory; the write is retried next poll.
                log.error("%s", exc)
                history = self.state.history
            now = self.clock()
            snapshot = (
                adoption.compute(summaries, history, self.settings, now, self._repos, keep=keep)
                if summaries or self._repos is not None
                else None
            )
            snapshot = self._count_deploys(snapshot)
            if snapshot is not None:
                snapshot = replace(snapshot, predictors=self._predictors(snapshot, now))
            curve = self._record_day(snapshot, history, now)
            drilldown = (
                None
                if snapshot is None
                else explain.Drilldown(
                    snapshot,
                    clusters=summaries,
                    repos=self._repos,
                    history=history,
                    settings=self.settings,
                    polled_at=now,
                    curve=curve,
                )
            )
            self.snapshot = snapshot
            self.drilldown = drilldown
            self.exposition.publish(
                exporter.render(
                    snapshot,
                    statuses,
                    workload_info=drilldown if self.settings.exporter.workload_info else None,
                    max_workload_series=self.settings.limits.max_workload_series,
                    groups=None if self._catalog is None else self._catalog.groups,
                    max_teams=self.settings.limits.max_teams,
                )
            )
            self._published = published

    def _predictors(self, snapshot: adoption.Snapshot, now: float) -> predictors.Figures:
        if self._survey is None:
            return predictors.evaluate(self.settings, snapshot, now)
        survey = self._survey.read()  # the file is read again only when it changed
        return predictors.evaluate(
            self.settings,
            snapshot,
            now,
            survey.answers if survey.readable else None,
            survey.skipped,
        )

    def _record_day(
        self, snapshot: adoption.Snapshot | None, times: Mapping[str, TeamTimes], now: float
    ) -> tuple[history.Day, ...]:
        """Keep today's figures if a cluster poll succeeded since the last publish (a day
        has only good polls' figures), and return the curve since launch. Called with the
        lock held."""
        if self._polled_well and snapshot is not None and snapshot.has_workloads:
            self._polled_well = False
            try:
                self.state.record_day(history.today(snapshot, now))
            except StateError as exc:
                log.error("%s", exc)  # kept in memory, retried with the next good poll
        return history.curve(self.state.days(), times, self.settings)

    def _count_deploys(self, snapshot: adoption.Snapshot | None) -> adoption.Snapshot | None:
        """Add the deploys of the polls since the last publish, teams named as `snapshot`
        names them, write them (nothing, when nothing was deployed), and return `snapshot`
        with the totals. Called with the lock held."""
        counted: dict[tuple[str, Path], int] = {}
        if snapshot is not None:
            label = snapshot.team_labeller()
            for team_deploys in self._team_deploys:
                for key, n in deploys.fold(team_deploys, label).items():
                    counted[key] = counted.get(key, 0) + n
            self._team_deploys.clear()
        try:
            self.state.record_deploys(counted)
        except StateError as exc:
            # The counts stand in memory; the write is retried next publish.
            log.error("%s", exc)
        if snapshot is None:
            return None
        return replace(
            snapshot,
            team_deploys=self.state.deploys("team"),
            cluster_deploys=self.state.deploys("cluster"),
        )

    def _failed(
        self,
        what: str,
        exc: Exception,
        key: str,
        previous: SourceStatus | None,
        failed: SourceStatus,
    ) -> None:
        """A poll of `what` failed with `exc`: logged once, and its status (`key`) becomes
        `failed` with the last good poll's figures carried over; nothing else moves."""
        _log_failure(what, exc)
        with self._lock:
            self._statuses[key] = _carry_over(previous, failed)

    def close(self) -> None:
        """Close the sources and the state store; the pipeline owns both once built."""
        for source in self.sources.values():
            source.close()
        if self.github is not None:
            self.github.close()
        if self.backstage is not None:
            self.backstage.close()
        self.state.close()


def _log_failure(what: str, exc: Exception) -> None:
    if isinstance(exc, PollError):
        log.error("poll of %s failed: %s", what, exc)
    else:  # a bug of ours; the service must keep serving what it knows
        log.exception("poll of %s failed unexpectedly", what)


def _carry_over(previous: SourceStatus | None, failed: SourceStatus) -> SourceStatus:
    """The status of a failed poll: one more error, and what the last good poll read kept."""
    if previous is None:
        return replace(failed, errors_total=1)
    return replace(
        failed,
        last_success=previous.last_success,
        errors_total=previous.errors_total + 1,
        objects=previous.objects,
        skipped=previous.skipped,
        parse_errors_total=previous.parse_errors_total,
        forbidden=previous.forbidden,
    )


def _tracked_words(summary: tally.ClusterSummary) -> str:
    """`195 workloads read, 162 tracked (not tracked: 21 CronJob runs, 12 in excluded
    namespaces)`: the log names what `adoption_workloads` leaves out of what was read."""
    read, runs = summary.read, summary.cronjob_runs
    tracked = sum(summary.workloads.values())
    words = f"{read} workloads read, {tracked} tracked"
    if read == tracked:
        return words
    excluded = read - tracked - runs
    return f"{words} (not tracked: {runs} CronJob runs, {excluded} in excluded namespaces)"

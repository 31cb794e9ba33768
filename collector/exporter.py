"""Renders a snapshot and the collector's own status into the exposition text, once per poll.

A scrape never computes anything: `Exposition.latest` is the bytes rendered
after the last poll, replaced by a single reference assignment (atomic in
CPython), so a scrape sees either the old or the new snapshot, never half of each.
The metric names below are a contract with dashboards and alerts: do not rename.
"""

from __future__ import annotations

import functools
import gzip
import os
import platform
import subprocess
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import TYPE_CHECKING, Any

from prometheus_client import GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

from collector import __version__, exposition
from collector.adoption import Snapshot
from collector.exposition import Family, gauge
from collector.model import Group, Path, RepoPath, SourceStatus
from collector.predictors import NAMES as PREDICTORS
from collector.predictors import Figures

if TYPE_CHECKING:
    from collector.explain import Drilldown

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
REVISION_ENV = "ADOPTION_COLLECTOR_REVISION"


def _gauge(name: str, doc: str, labels: Sequence[str] = ()) -> Family:
    return Family(name, doc, "gauge", tuple(labels))


def _counter(name: str, doc: str, labels: Sequence[str]) -> Family:
    return Family(name, doc, "counter", tuple(labels))


def adoption_metrics(s: Snapshot) -> Iterator[Family]:
    if s.has_workloads:
        yield from team_metrics(s)
    yield from history_metrics(s)
    if s.has_workloads:
        yield from workload_metrics(s)
        yield from deploy_metrics(s)
    yield gauge(
        "adoption_platform_launch_timestamp_seconds",
        "When the platform went live (platform.launch_date, midnight UTC).",
        s.launch,
    )
    yield _optional(
        "adoption_target_ratio",
        "Adoption the platform should have reached at its current age (platform.adoption_targets).",
        s.target_ratio,
    )
    if s.repos is not None:
        yield from repository_metrics(s.repos, s.unowned_repos or 0)
    if s.predictors is not None:
        yield from predictor_metrics(s.predictors)


def team_metrics(s: Snapshot) -> Iterator[Family]:
    workloads = _gauge(
        "adoption_team_workloads",
        "Tracked workloads of an active team, by path (golden or shadow).",
        ["team", "path"],
    )
    adopted = _gauge(
        "adoption_team_adopted", "1 if the team runs at least one golden workload now.", ["team"]
    )
    mandated = _gauge(
        "adoption_team_mandated",
        "1 if the team is mandated to use the platform (left out of the voluntary ratio).",
        ["team"],
    )
    tools = _gauge(
        "adoption_team_deploy_tool_workloads",
        "Tracked workloads of an active team by path and by the tool that last applied their "
        "spec (from managedFields); only combinations with a workload.",
        ["team", "path", "tool"],
    )
    golden, shadow = Path.GOLDEN.value, Path.SHADOW.value  # an enum's .value is a slow lookup
    for t in s.teams:
        workloads.add_metric([t.team, golden], t.golden)
        workloads.add_metric([t.team, shadow], t.shadow)
        adopted.add_metric([t.team], int(t.adopted))
        mandated.add_metric([t.team], int(t.mandated))
    for (team, path, tool), n in sorted(s.team_tools.items()):
        tools.add_metric([team, path.value, tool.value], n)
    yield from (workloads, adopted, mandated, tools)


WORKLOAD_INFO_LABELS = (
    "kube_cluster",
    "namespace",
    "workload",
    "kind",
    "team",
    "path",
    "golden_path",
    "tool",
)


def workload_info_metrics(drilldown: Drilldown, limit: int) -> tuple[Family, int]:
    """adoption_workload_info for the first `limit` workloads in (cluster, namespace, kind,
    name) order, and how many were left out."""
    info = _gauge(
        "adoption_workload_info",
        "One series per tracked workload, always 1, naming its team (folded like the team "
        'series; "" when unowned), path, golden path and deploy tool (exporter.workload_info; '
        "at most limits.max_workload_series).",
        WORKLOAD_INFO_LABELS,
    )
    records = drilldown.records
    label = drilldown.team_label
    # Up to 10,000 series: built in one comprehension, the cheapest loop Python has.
    info.samples = [
        (
            (
                r.cluster,
                r.namespace,
                r.name,
                r.kind,
                "" if r.team is None else label(r.team),
                r.path,
                r.golden_path or "",
                r.tool,
            ),
            1,
        )
        for r in records[:limit]
    ]
    return info, max(0, len(records) - limit)


def history_metrics(s: Snapshot) -> Iterator[Family]:
    onboarded = _gauge(
        "adoption_team_onboarded_timestamp_seconds",
        "When the team onboarded: the later of the platform launch and the team's earliest "
        "namespace or workload, unless overridden in teams.onboarded.",
        ["team"],
    )
    first_deploy = _gauge(
        "adoption_team_first_deploy_timestamp_seconds",
        "Creation time of the team's first golden workload ever seen.",
        ["team"],
    )
    time_to_first = _gauge(
        "adoption_team_time_to_first_deploy_seconds",
        "Seconds from the team's onboarding to its first golden workload (0 if it came first).",
        ["team"],
    )
    for h in s.history:
        if h.onboarded is not None:
            onboarded.add_metric([h.team], h.onboarded)
        if h.first_deploy is not None:
            first_deploy.add_metric([h.team], h.first_deploy)
        if (ttfd := h.time_to_first_deploy) is not None:
            time_to_first.add_metric([h.team], ttfd)
    yield from (onboarded, first_deploy, time_to_first)


def workload_metrics(s: Snapshot) -> Iterator[Family]:

    yield gauge(
        "adoption_active_teams", "Teams with at least one tracked workload.", s.active_teams
    )
    yield gauge(
        "adoption_adopted_teams", "Teams with at least one golden workload.", s.adopted_teams
    )
    yield _optional("adoption_ratio", "Adopted teams / active teams.", s.ratio)
    yield _optional(
        "adoption_voluntary_ratio",
        "Adopted non-mandated teams / active non-mandated teams.",
        s.voluntary_ratio,
    )

    per_cluster = _gauge(
        "adoption_workloads", "Tracked workloads by cluster and path.", ["kube_cluster", "path"]
    )
    for (cluster, path), n in sorted(s.workloads.items()):
        per_cluster.add_metric([cluster, path.value], n)
    yield per_cluster
    yield _optional(
        "adoption_workload_ratio",
        "Golden workloads / all tracked workloads, owned and unowned.",
        s.workload_ratio,
    )
    unowned = _gauge(
        "adoption_unowned_workloads",
        "Tracked workloads no label or namespace mapping attributes to a team.",
        ["kube_cluster"],
    )
    for cluster, n in sorted(s.unowned.items()):
        unowned.add_metric([cluster], n)
    yield unowned

    per_path = _gauge(
        "adoption_golden_path_workloads",
        "Tracked workloads by the golden path they matched first.",
        ["golden_path"],
    )
    for name, n in sorted(s.golden_paths.items()):
        per_path.add_metric([name], n)
    yield per_path
    per_tool = _gauge(
        "adoption_deploy_tool_workloads",
        "Tracked workloads by the tool that last applied their spec (from managedFields).",
        ["tool"],
    )
    for tool, n in sorted(s.tools.items()):
        per_tool.add_metric([tool.value], n)
    yield per_tool


def deploy_metrics(s: Snapshot) -> Iterator[Family]:
    """Both paths of every active team and polled cluster, from 0, so a first deploy is an
    increase rate() sees, not a series appearing."""
    per_team = _counter(
        "adoption_team_deploys",
        "Deploys (spec changes: metadata.generation rising, or a new workload) of the team's "
        "workloads since the collector first polled their cluster, by the workload's path then.",
        ["team", "path"],
    )
    team_counts = dict.fromkeys(((t.team, p) for t in s.teams for p in Path), 0)
    team_counts.update(s.team_deploys)
    for team in sorted({team for team, _ in team_counts}):
        for path in Path:
            per_team.add_metric([team, path.value], team_counts.get((team, path), 0))
    per_cluster = _counter(
        "adoption_deploys",
        "Deploys of tracked workloads, owned or not, since the collector first polled the "
        "cluster, by the workload's path then.",
        ["kube_cluster", "path"],
    )
    clusters = {cluster for cluster, _ in s.workloads} | {c for c, _ in s.cluster_deploys}
    for cluster in sorted(clusters):
        for path in Path:
            per_cluster.add_metric([cluster, path.value], s.cluster_deploys.get((cluster, path), 0))
    yield from (per_team, per_cluster)


def predictor_metrics(p: Figures) -> Iterator[Family]:
    met = _gauge(
        "adoption_predictor_met",
        "1 if the predictor of platform success is met, 0 if not; no sample when it cannot be "
        "known (product_manager, baseline, nps, voluntary_adoption, time_to_first_value).",
        ["predictor"],
    )
    for name in PREDICTORS:
        value = p.met[name]
        if value is not None:
            met.add_metric([name], int(value))
    yield met
    if p.nps_responses is not None:
        yield _optional(
            "adoption_developer_nps",
            "Developer NPS (promoters 9-10 minus detractors 0-6, in % of answers) over "
            "platform.nps_window; no sample without an answer in it.",
            p.nps,
        )
        yield gauge(
            "adoption_developer_nps_responses",
            "Survey answers in platform.nps_window.",
            p.nps_responses,
        )
        yield gauge(
            "adoption_developer_nps_skipped_answers",
            "Lines of the platform.nps file skipped: a bad date, or a score outside 0-10.",
            p.nps_skipped or 0,
        )
    if p.baseline_deploys_per_team_week is not None:
        yield gauge(
            "adoption_baseline_deploys_per_team_week",
            "Deploys per team and week measured before the platform (platform.baseline).",
            p.baseline_deploys_per_team_week,
        )


def repository_metrics(repos: Mapping[tuple[str, RepoPath], int], unowned: int) -> Iterator[Family]:
    per_team = _gauge(
        "adoption_team_repos",
        "Repositories of a team by path: golden (a golden-path signal), shadow (own "
        "workflows) or other (no workflow).",
        ["team", "path"],
    )
    for team in sorted({team for team, _ in repos}):
        for path in RepoPath:
            per_team.add_metric([team, path.value], repos.get((team, path), 0))
    yield per_team
    yield gauge(
        "adoption_unowned_repos",
        "Repositories neither a catalog-info.yaml owner nor the ownership property attributes to "
        "a team.",
        unowned,
    )


def _optional(name: str, doc: str, value: float | None) -> Family:
    # A ratio over nothing has no value: no sample at all, never 0 and never NaN.
    return _gauge(name, doc) if value is None else gauge(name, doc, value)


def collector_metrics(
    statuses: Iterable[SourceStatus],
    dropped_teams: int = 0,
    dropped_workload_series: int | None = None,
) -> Iterator[Family]:
    """`dropped_workload_series`: None when exporter.workload_info is off (no gauge)."""
    labels = ["source", "kube_cluster"]
    up = _gauge("adoption_collector_up", "1 if the last poll of the source succeeded.", labels)
    last_success = _gauge(
        "adoption_collector_last_success_timestamp_seconds",
        "When the last successful poll of the source finished.",
        labels,
    )
    duration = _gauge(
        "adoption_collector_poll_duration_seconds", "How long the last poll took.", labels
    )
    errors = _counter("adoption_collector_poll_errors", "Polls of the source that failed.", labels)
    objects = _gauge(
        "adoption_collector_objects",
        "Objects read in the last successful poll, by kind.",
        [*labels, "kind"],
    )
    skipped = _gauge(
        "adoption_collector_skipped_objects",
        "Objects in the last successful poll too malformed to use, skipped.",
        labels,
    )
    interval = _gauge(
        "adoption_collector_poll_interval_seconds",
        "How often the source is polled (kubernetes.interval, github.interval).",
        labels,
    )
    complete = _gauge(
        "adoption_collector_poll_complete",
        "1 if the last poll read everything; 0 if it failed or read only part (a kind RBAC "
        "refused; a GitHub scan stopped at the rate-limit reserve, its deadline or "
        "repositories GitHub could not return).",
        labels,
    )
    forbidden = _gauge(
        "adoption_collector_list_forbidden",
        "1 for each kind RBAC refused to list in the last successful poll of the cluster; "
        "its workloads are left out of the figures.",
        [*labels, "kind"],
    )
    parse_errors = _counter(
        "adoption_collector_parse_errors",
        "Files (catalog-info.yaml, workflows) that could not be parsed, since the start.",
        ["source"],
    )
    remaining = _gauge(
        "adoption_collector_github_rate_limit_remaining",
        "Rate-limit points left in GitHub's current window, by budget (core: REST, graphql).",
        ["resource"],
    )
    limit = _gauge(
        "adoption_collector_github_rate_limit_limit",
        "Rate-limit points GitHub grants per window, by budget (core: REST, graphql).",
        ["resource"],
    )
    parse_errors_by_source: dict[str, int] = {}
    for st in sorted(statuses, key=lambda st: (st.source, st.kube_cluster)):
        key = [st.source, st.kube_cluster]
        up.add_metric(key, int(st.up))
        if st.last_success is not None:
            last_success.add_metric(key, st.last_success)
        duration.add_metric(key, st.poll_duration)
        errors.add_metric(key, st.errors_total)
        for kind, n in sorted(st.objects.items()):
            objects.add_metric([*key, kind], n)
        skipped.add_metric(key, st.skipped)
        if st.interval:
            interval.add_metric(key, st.interval)
        complete.add_metric(key, int(st.up and st.complete))
        for kind in sorted(st.forbidden):
            forbidden.add_metric([*key, kind], 1)
        if st.parse_errors_total is not None:
            parse_errors_by_source[st.source] = (
                parse_errors_by_source.get(st.source, 0) + st.parse_errors_total
            )
        for rate in st.rate_limits:
            remaining.add_metric([rate.resource], rate.remaining)
            limit.add_metric([rate.resource], rate.limit)
    for source, n in sorted(parse_errors_by_source.items()):
        parse_errors.add_metric([source], n)
    yield from (up, last_success, duration, errors, objects, skipped, interval, complete)
    if forbidden.samples:  # only while something is refused: no empty family otherwise
        yield forbidden
    # Only sources that read files, and only GitHub has rate limits: no empty families
    # for a collector that does not poll GitHub.
    if parse_errors.samples:
        yield parse_errors
    if remaining.samples:
        yield from (remaining, limit)
    yield gauge(
        "adoption_collector_dropped_teams",
        'Teams beyond limits.max_teams, whose series were folded into team="_other" in the '
        "last computation; 0 normally.",
        dropped_teams,
    )
    if dropped_workload_series is not None:
        yield gauge(
            "adoption_collector_dropped_workload_series",
            "Workloads beyond limits.max_workload_series left without an adoption_workload_info "
            "series in the last computation; 0 normally.",
            dropped_workload_series,
        )


def team_info_metrics(groups: Sequence[Group], limit: int) -> Family:
    """One series per Backstage Group, so dashboards can roll teams up to departments;
    at most `limit` (limits.max_teams), by name, the first of a name winning."""
    info = _gauge(
        "adoption_team_info",
        'Always 1: a team (a Backstage Group) with its parent Group ("" for a top-level '
        "one) and display name.",
        ["team", "parent", "display_name"],
    )
    seen: set[str] = set()
    for group in sorted(groups, key=lambda g: g.name):
        if group.name in seen:
            continue
        if len(seen) == limit:
            break
        seen.add(group.name)
        info.add_metric([group.name, group.parent or "", group.display_name or ""], 1)
    return info


class _Fixed(Collector):
    def __init__(self, metrics: list[Metric]) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return self._metrics


def families(
    snapshot: Snapshot | None,
    statuses: Iterable[SourceStatus],
    *,
    workload_info: Drilldown | None = None,
    max_workload_series: int = 10000,
    groups: Sequence[Group] | None = None,
    max_teams: int = 2000,
) -> list[Family]:
    """Every family of the poll's exposition, in order: see `render`."""
    adoption: list[Family] = []
    dropped = None
    if snapshot is not None:
        adoption.extend(adoption_metrics(snapshot))
        if groups is not None:  # Backstage is configured and has answered
            adoption.append(team_info_metrics(groups, max_teams))
        if workload_info is not None and snapshot.has_workloads:
            info, dropped = workload_info_metrics(workload_info, max_workload_series)
            adoption.append(info)
    own = collector_metrics(statuses, snapshot.dropped_teams if snapshot else 0, dropped)
    return [*adoption, *own]


def render(
    snapshot: Snapshot | None,
    statuses: Iterable[SourceStatus],
    *,
    workload_info: Drilldown | None = None,
    max_workload_series: int = 10000,
    groups: Sequence[Group] | None = None,
    max_teams: int = 2000,
) -> bytes:
    """The full exposition text. Without a snapshot (nothing polled yet) only the collector's
    own metrics are rendered, so an empty start never reports 0% adoption. With
    `workload_info` (the same publish's drill-down; exporter.workload_info on), one
    adoption_workload_info series per workload, up to `max_workload_series`."""
    found = families(
        snapshot,
        statuses,
        workload_info=workload_info,
        max_workload_series=max_workload_series,
        groups=groups,
        max_teams=max_teams,
    )
    return exposition.render(found)


# The runtime part of a scrape (process and Python metrics) is read at most once a second and
# shared by the scrapes in between. Reading /proc gives the GIL up a few times, and while a
# poll runs each give-up costs a switch interval before the event loop runs again: 20 scrapers
# reading it on every scrape queued behind one another, p99 258 ms against 14 ms without it.
RUNTIME_REFRESH = 1.0


@dataclass(frozen=True, slots=True)
class _Published:
    body: bytes
    head: bytes  # body compressed, the deflate stream flushed and left open
    stream: Any  # zlib's compressor at the end of `head`, copied per answer


class _Answers:
    """The answers of one poll's exposition and one reading of the runtime metrics."""

    __slots__ = ("_gzipped", "_plain", "expires", "published", "runtime")

    def __init__(self, published: _Published, runtime: bytes, expires: float) -> None:
        self.published = published
        self.runtime = runtime
        self.expires = expires
        self._plain: bytes | None = None
        self._gzipped: bytes | None = None

    def plain(self) -> bytes:
        if self._plain is None:
            self._plain = self.published.body + self.runtime
        return self._plain

    def gzipped(self) -> bytes:
        if self._gzipped is None:
            tail = self.published.stream.copy()
            self._gzipped = self.published.head + tail.compress(self.runtime) + tail.flush()
        return self._gzipped


class Exposition:
    """Holds the last rendered exposition, plain and gzipped: written by the poller (which pays
    for the compression, once per poll), read by every scrape. Both forms are swapped as one
    reference, so a scrape never pairs one poll's text with another's compression.

    With `runtime` (the process's own metrics, which change between polls), `scrape()` adds
    its text after the poll's, read again at most every RUNTIME_REFRESH seconds: the gzipped
    form is the poll's deflate stream, flushed and kept open when published, so an answer
    compresses only the few runtime lines onto a copy."""

    def __init__(
        self,
        runtime: Callable[[], bytes] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._runtime = runtime
        self._clock = clock
        self._answers: _Answers | None = None
        self.publish(render(None, ()))

    def publish(self, body: bytes) -> None:
        if self._runtime is None:
            self.both = (body, gzip.compress(body, compresslevel=6, mtime=0))
            return
        stream = zlib.compressobj(6, zlib.DEFLATED, 31)  # 31: the gzip format
        head = stream.compress(body) + stream.flush(zlib.Z_SYNC_FLUSH)
        self._published = _Published(body, head, stream)
        # Not a whole gzip file here: the poll's part of every scrape's, which scrape() ends.
        self.both = (body, head)

    @property
    def latest(self) -> bytes:
        return self.both[0]

    def scrape(self, gzipped: bool) -> bytes:
        """What /metrics answers: the poll's exposition, then the runtime metrics."""
        if self._runtime is None:
            return self.both[1] if gzipped else self.both[0]
        published, answers, now = self._published, self._answers, self._clock()
        if answers is None or answers.published is not published or now >= answers.expires:
            answers = self._answers = _Answers(published, self._runtime(), now + RUNTIME_REFRESH)
        return answers.gzipped() if gzipped else answers.plain()


def build_info(
    version: str, python_version: str, revision: str, scope: str | None = None
) -> Metric:
    """`scope`: collector.scope, a label only when configured (the one series that carries it)."""
    labels = ["version", "python_version", "revision"]
    values = [version, python_version, revision]
    if scope is not None:
        labels.append("scope")
        values.append(scope)
    # A prometheus_client family: it is served with the runtime registry's, not the poll's.
    info = GaugeMetricFamily(
        "adoption_collector_build_info",
        "The collector's version, the Python version it runs on, the source revision it "
        "was built from, and its collector.scope when set; always 1.",
        labels=labels,
    )
    info.add_metric(values, 1)
    return info


def revision(environ: Mapping[str, str]) -> str:
    """$ADOPTION_COLLECTOR_REVISION (an image sets it at build time), else the git commit of
    a source checkout, else `unknown`."""
    if found := environ.get(REVISION_ENV, "").strip():
        return found
    source = FilePath(__file__).resolve().parent.parent
    if not (source / ".git").exists():
        return "unknown"
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=source,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip() or "unknown"


def runtime_registry(environ: Mapping[str, str], scope: str | None = None) -> CollectorRegistry:
    """The standard process_* and python_* collectors, and the build info: read live at every
    scrape, kept apart from the poll's figures."""
    registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    built = build_info(__version__, platform.python_version(), revision(environ), scope)
    registry.register(_Fixed([built]))
    return registry


@functools.cache
def _process_registry(scope: str | None) -> CollectorRegistry:
    return runtime_registry(os.environ, scope)


def runtime_text(scope: str | None = None) -> bytes:
    """This process's runtime metrics and build info, as of now."""
    return generate_latest(_process_registry(scope))

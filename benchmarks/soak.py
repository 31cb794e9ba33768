"""The soak test: `python -m benchmarks.soak [--cycles 1000] [--seed 0]` (`make soak`).

One long-lived pipeline, with a real state file, polls a simulated cluster that churns every
cycle: about 1% of the workloads go and as many come, teams take up the golden path over
time, namespaces (and with them new teams) appear, and now and then a workload made long
ago turns up. Every few cycles a fault is injected: 5xx answers, 429s and 503s with a
Retry-After of 0 or 1 s, a continue token expiring mid-list (410), malformed JSON, a body
trickling in (within and past the request timeout), a connection cut mid-answer, a kind RBAC
refuses, and the API server gone for a few cycles. Every tenth cycle the GitHub organisation
is scanned too, now and then through a fault of its own.

The driver keeps its own ground truth of what the simulator holds and has held (which team,
golden or not, created when), written down as it makes each change and never read back from
the collector. A workload is deleted or relabelled only once a fault-free poll has seen it,
so "ever seen" has one meaning on both sides. At the end, after a fault-free poll and scan:

- no crash: no exception out of a poll, no "failed unexpectedly" in the log, every
  fault-free poll succeeded;
- the exported figures equal the truth: active, adopted and mandated teams, both ratios,
  workloads per team and path, per cluster and unowned, repositories per team, onboarding
  and first-deploy times (the earliest golden workload ever seen, deleted ones included);
- no lost state: the state file, reopened, holds exactly the truth's history, and a new
  pipeline on it (a restart) exports the same figures;
- memory is flat: resident memory at the last cycle within 5% of cycle 100.

Prints a summary table and one `SOAK {json}` line; exits 1 on any violation.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import gc
import json
import logging
import math
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from collector import config, rules
from collector.pipeline import Pipeline, kubernetes_sources
from collector.simulator.github import GitHubSimulator
from collector.simulator.kube import KubeSimulator
from collector.sources.github import GitHubSource
from collector.state import StateStore

CLUSTER = "soak"
ORG = "acme"
TOKEN_ENV = "ADOPTION_SOAK_GITHUB_TOKEN"
LAUNCH = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
START = dt.datetime(2026, 3, 15, tzinfo=dt.UTC)  # the simulated clock at cycle 0
CYCLE_SECONDS = 3600.0  # each cycle moves the simulated clock on an hour
GOLDEN_LABEL = "platform.example.com/path"
GOLDEN = {GOLDEN_LABEL: "golden"}
TEMPLATE = f"{ORG}/service-template"
KINDS = ("Deployment", "StatefulSet", "CronJob")
LIST_PATHS = {
    "Namespace": "^/api/v1/namespaces",
    "Deployment": "^/apis/apps/v1/deployments",
    "StatefulSet": "^/apis/apps/v1/statefulsets",
    "CronJob": "^/apis/batch/v1/cronjobs",
}
PAGE_SIZE = 25  # small, so every list has several pages and a continue token to expire
REQUEST_TIMEOUT = 1.0  # kubernetes.timeout: a trickle past it costs a second, not thirty
INITIAL_TEAMS = 12
MANDATED = ("team-00", "team-01")
WORKLOADS_PER_TEAM = 12
CHURN = 0.01  # of the live workloads deleted, and as many created, each cycle
GITHUB_EVERY = 10  # cycles between GitHub scans
MEMORY_FROM = 100  # the cycle whose resident memory the last cycle is held to
MEMORY_TOLERANCE = 0.05

log = logging.getLogger("benchmarks.soak")

Key = tuple[str, str, str]  # (kind, namespace, name)


# --- the ground truth ----------------------------------------------------------------------


@dataclass(slots=True)
class Version:
    """One state of a workload as the simulator holds it; a relabel is a new version."""

    team: str | None  # None: in a namespace no team owns
    golden: bool
    created: float
    seen: bool = False  # a fault-free poll happened while this version was live


@dataclass(slots=True)
class Truth:
    """What the simulator holds and has held, written down by the driver as it changes it."""

    namespaces: dict[str, tuple[str | None, float]] = field(default_factory=dict)
    live: dict[Key, Version] = field(default_factory=dict)
    first_seen: dict[str, float] = field(default_factory=dict)  # team -> earliest evidence
    first_deploy: dict[str, float] = field(default_factory=dict)
    repos: dict[str, tuple[str | None, str, float]] = field(default_factory=dict)

    def _offer(self, table: dict[str, float], team: str, when: float) -> None:
        table[team] = min(when, table.get(team, math.inf))

    def all_seen(self) -> None:
        """A fault-free poll succeeded: everything live now was seen."""
        for team, created in self.namespaces.values():
            if team is not None:
                self._offer(self.first_seen, team, created)
        for version in self.live.values():
            if version.seen or version.team is None:
                version.seen = True
                continue
            version.seen = True
            self._offer(self.first_seen, version.team, version.created)
            if version.golden:
                self._offer(self.first_deploy, version.team, version.created)

    def repositories_seen(self) -> None:
        for team, _, created in self.repos.values():
            if team is not None:
                self._offer(self.first_seen, team, created)

    def expected(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """The samples the collector must export, for every family `checked_families` names."""
        launch = LAUNCH.timestamp()
        out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        counts: Counter[tuple[str, bool]] = Counter()
        paths: Counter[str] = Counter()
        unowned = 0
        for version in self.live.values():
            paths["golden" if version.golden else "shadow"] += 1
            if version.team is None:
                unowned += 1
            else:
                counts[version.team, version.golden] += 1
        active = sorted({team for team, _ in counts})
        adopted = [t for t in active if counts[t, True] > 0]
        for team in active:
            out["adoption_team_workloads", (("path", "golden"), ("team", team))] = counts[
                team, True
            ]
            out["adoption_team_workloads", (("path", "shadow"), ("team", team))] = counts[
                team, False
            ]
            out["adoption_team_adopted", (("team", team),)] = float(team in adopted)
            out["adoption_team_mandated", (("team", team),)] = float(team in MANDATED)
        for team, seen in self.first_seen.items():
            onboarded = max(launch, seen)
            out["adoption_team_onboarded_timestamp_seconds", (("team", team),)] = onboarded
            if team in self.first_deploy:
                deploy = self.first_deploy[team]
                out["adoption_team_first_deploy_timestamp_seconds", (("team", team),)] = deploy
                out["adoption_team_time_to_first_deploy_seconds", (("team", team),)] = max(
                    0.0, deploy - onboarded
                )
        out["adoption_active_teams", ()] = len(active)
        out["adoption_adopted_teams", ()] = len(adopted)
        if active:
            out["adoption_ratio", ()] = len(adopted) / len(active)
        voluntary = [t for t in active if t not in MANDATED]
        if voluntary:
            voluntary_adopted = [t for t in voluntary if t in adopted]
            out["adoption_voluntary_ratio", ()] = len(voluntary_adopted) / len(voluntary)
        for path in ("golden", "shadow"):
            out["adoption_workloads", (("kube_cluster", CLUSTER), ("path", path))] = paths[path]
        out["adoption_unowned_workloads", (("kube_cluster", CLUSTER),)] = unowned
        repo_counts: Counter[tuple[str, str]] = Counter()
        for owner, path, _ in self.repos.values():
            repo_counts[owner or "", path] += 1
        for owner in sorted({t for t, _ in repo_counts if t}):
            for path in ("golden", "shadow", "other"):
                key = (("path", path), ("team", owner))
                out["adoption_team_repos", key] = repo_counts[owner, path]
        out["adoption_unowned_repos", ()] = sum(n for (t, _), n in repo_counts.items() if not t)
        return out


def checked_families() -> set[str]:
    return {
        "adoption_team_workloads",
        "adoption_team_adopted",
        "adoption_team_mandated",
        "adoption_team_onboarded_timestamp_seconds",
        "adoption_team_first_deploy_timestamp_seconds",
        "adoption_team_time_to_first_deploy_seconds",
        "adoption_active_teams",
        "adoption_adopted_teams",
        "adoption_ratio",
        "adoption_voluntary_ratio",
        "adoption_workloads",
        "adoption_unowned_workloads",
        "adoption_team_repos",
        "adoption_unowned_repos",
    }


def exported(exposition: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    families = checked_families()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(exposition.decode())
        for s in family.samples
        if s.name in families
    }


def differences(
    expected: dict[tuple[str, tuple[tuple[str, str], ...]], float],
    actual: dict[tuple[str, tuple[tuple[str, str], ...]], float],
) -> list[str]:
    found = []
    for key in sorted(expected.keys() | actual.keys()):
        want, got = expected.get(key), actual.get(key)
        if want is None or got is None or not math.isclose(want, got, rel_tol=1e-12):
            labels = ",".join(f'{k}="{v}"' for k, v in key[1])
            found.append(f"{key[0]}{{{labels}}}: expected {want}, exported {got}")
    return found


# --- the churning world ----------------------------------------------------------------------


class World:
    """The simulated cluster and organisation, and every change made to them."""

    def __init__(self, kube: KubeSimulator, org: GitHubSimulator, rng: random.Random) -> None:
        self.kube = kube
        self.org = org
        self.rng = rng
        self.truth = Truth()
        self.teams: list[str] = []
        self.team_namespaces: dict[str, list[str]] = {}
        self.adopts_at: dict[str, int] = {}  # team -> cycle it takes up the golden path
        self.counter = 0
        self.population = 0  # live workloads after `populate`, which churn stays around
        self.changes: Counter[str] = Counter()

    def now(self, cycle: int) -> float:
        return START.timestamp() + cycle * CYCLE_SECONDS

    def populate(self) -> None:
        for _ in range(INITIAL_TEAMS):
            team = self.new_team(0)
            # The first namespaces predate the platform: onboarding is then its launch.
            created = LAUNCH.timestamp() - self.rng.uniform(0, 30) * 86400
            self.add_namespace(team, created)
            for _ in range(WORKLOADS_PER_TEAM):
                self.create(team, cycle=0, created=created + self.rng.uniform(0, 40) * 86400)
        self.add_namespace(None, LAUNCH.timestamp())  # shared: its workloads have no team
        for _ in range(6):
            self.create(None, cycle=0, created=LAUNCH.timestamp())
        # Never tracked: excluded by default.
        self.kube.add_namespace("kube-system", {"team": "platform"}, "2025-01-01T00:00:00Z")
        self.kube.add_workload("Deployment", "kube-system", "coredns", created=_iso(0.0))
        for team in self.teams[:8]:
            self.add_repo(team, self.now(0) - self.rng.uniform(0, 60) * 86400)
        self.add_repo(None, self.now(0))
        self.population = len(self.truth.live)

    def new_team(self, cycle: int) -> str:
        team = f"team-{len(self.teams):02d}"
        self.teams.append(team)
        self.team_namespaces[team] = []
        # Some teams take up the platform early, some late, some never during the run.
        self.adopts_at[team] = cycle + int(self.rng.expovariate(1 / 300))
        return team

    def add_namespace(self, team: str | None, created: float) -> str:
        created = float(int(created))  # the API server's timestamps have whole seconds
        name = f"ns-{team}-{len(self.team_namespaces.get(team or '', []))}" if team else "shared"
        labels = {"team": team} if team else {}
        self.kube.add_namespace(name, labels, _iso(created))
        self.truth.namespaces[name] = (team, created)
        if team is not None:
            self.team_namespaces[team].append(name)
        self.changes["namespaces created"] += 1
        return name

    def create(
        self, team: str | None, cycle: int, created: float, golden: bool | None = None
    ) -> None:
        created = float(int(created))
        if golden is None:
            adopted = team is not None and cycle >= self.adopts_at[team]
            golden = self.rng.random() < (0.7 if adopted else 0.03)
        namespace = self.rng.choice(self.team_namespaces[team]) if team else "shared"
        kind = self.rng.choice(KINDS)
        self.counter += 1
        name = f"w{self.counter:06d}"
        labels = {GOLDEN_LABEL: "golden" if golden else "own"}
        self.kube.add_workload(kind, namespace, name, labels=labels, created=_iso(created))
        self.truth.live[kind, namespace, name] = Version(team, golden, created)
        self.changes["workloads created"] += 1

    def churn(self, cycle: int) -> None:
        live = self.truth.live
        now = self.now(cycle)
        seen = [key for key, version in live.items() if version.seen]
        # New namespaces bring workloads too: deleting a little more keeps the population
        # (and with it what memory may hold) about where it started.
        excess = max(0, len(live) - self.population) * 0.05
        deletions = min(len(seen), self._about(CHURN * len(live) + excess))
        # Deleted or relabelled only once seen: then "ever seen" means the same to both sides.
        for key in self.rng.sample(seen, k=deletions):
            self.kube.delete(key[0], key[1], key[2])
            del live[key]
            self.changes["workloads deleted"] += 1
        for _ in range(self._about(CHURN * len(live))):
            self.create(self.rng.choice(self.teams), cycle, now)
        for key in seen:
            version = live.get(key)
            if version is None or version.golden or version.team is None:
                continue
            if cycle >= self.adopts_at[version.team] and self.rng.random() < 0.002:
                # Redeployed through the platform: same object, same creation time.
                labels = {GOLDEN_LABEL: "golden"}
                self.kube.add_workload(*key, labels=labels, created=_iso(version.created))
                live[key] = Version(version.team, True, version.created)
                self.changes["workloads moved to the golden path"] += 1
        if self.rng.random() < 0.04:
            if self.rng.random() < 0.6:
                team = self.new_team(cycle)
                self.changes["teams appeared"] += 1
            else:
                team = self.rng.choice(self.teams)
            self.add_namespace(team, now)
            for _ in range(self.rng.randint(1, 4)):
                self.create(team, cycle, now)
        if self.rng.random() < 0.01:
            # A golden workload made long ago shows up (a cluster that came back, say):
            # first deploy and onboarding may only move earlier.
            team = self.rng.choice(self.teams[:INITIAL_TEAMS])
            self.create(team, cycle, now - self.rng.uniform(10, 60) * 86400, golden=True)
            self.changes["old golden workloads turned up"] += 1
        if cycle % 25 == 0:
            self.add_repo(self.rng.choice(self.teams), now)

    def add_repo(self, team: str | None, created: float) -> None:
        created = float(int(created))
        name = f"repo-{len(self.truth.repos):04d}"
        files: dict[str, str | bytes] = {}
        if team is not None:
            files["catalog-info.yaml"] = (
                "apiVersion: backstage.io/v1alpha1\nkind: Component\n"
                f"metadata:\n  name: {name}\nspec:\n  owner: group:default/{team}\n"
            )
        kind = self.rng.choice(["golden", "shadow", "other"])
        if kind == "shadow":
            files[".github/workflows/ci.yml"] = "on: push\njobs: {}\n"
        moment = dt.datetime.fromtimestamp(created, dt.UTC)
        template = TEMPLATE if kind == "golden" else None
        self.org.add_repo(name, created=moment, pushed=moment, template=template, files=files)
        self.truth.repos[name] = (team, kind, created)
        self.changes["repositories created"] += 1

    def _about(self, expected: float) -> int:
        """A whole number of changes averaging `expected`."""
        whole = int(expected)
        return whole + (1 if self.rng.random() < expected - whole else 0)


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- faults ------------------------------------------------------------------------------------


class Faults:
    """Injects one fault every few cycles; the simulator's own fault queue does the rest."""

    def __init__(self, world: World, rng: random.Random) -> None:
        self.world = world
        self.rng = rng
        self.next_at = 3
        self.down_until = 0  # while the cycle is below this, the API server is gone
        self.injected: Counter[str] = Counter()

    def before(self, cycle: int) -> str | None:
        """Arm this cycle's fault, if any; returns its name (None: a fault-free cycle)."""
        kube = self.world.kube
        kube.clear_faults()  # a fault its cycle never reached must not leak into the next
        if self.down_until and cycle >= self.down_until:
            kube.start()  # back at the same address
            self.down_until = 0
        if self.down_until:
            return "API server down"
        if cycle < self.next_at:
            return None
        self.next_at = cycle + self.rng.randint(2, 6)
        name, inject = self.rng.choice(list(self._kinds().items()))
        inject(cycle)
        self.injected[name] += 1
        return name

    def _kinds(self) -> dict[str, Callable[[int], None]]:
        kube, rng = self.world.kube, self.rng

        def path() -> str:
            return rng.choice(list(LIST_PATHS.values()))

        def down(cycle: int) -> None:
            kube.stop()
            self.down_until = cycle + rng.randint(2, 4)

        return {
            "500": lambda _: kube.add_fault(path(), 500),
            "503 Retry-After 0-1 s": lambda _: kube.add_fault(
                path(), 503, retry_after=rng.choice((0, 0, 1))
            ),
            "429 Retry-After 0-1 s": lambda _: kube.add_fault(
                path(), 429, retry_after=rng.choice((0, 0, 1)), times=rng.randint(1, 3)
            ),
            "410 mid-list": lambda _: kube.add_fault("continue=", 410, times=rng.randint(1, 2)),
            "malformed JSON": lambda _: kube.add_fault(
                path(), 200, body=b'{"kind":"List","items":[{"metadata":'
            ),
            "trickle within the timeout": lambda _: kube.add_fault(path(), 200, trickle=0.001),
            "trickle past the timeout": lambda _: kube.add_fault(path(), 200, trickle=0.05),
            "connection cut mid-answer": lambda _: kube.add_fault(
                path(), 200, trickle=0.0005, drop=True
            ),
            "403 on one kind": lambda _: kube.add_fault(
                LIST_PATHS[rng.choice(KINDS)], 403, times=None
            ),
            "API server down": down,
        }

    def github(self, scan: int) -> str | None:
        org = self.world.org
        org.clear_faults()
        if scan % 3 != 1:
            return None
        name, status, body, retry_after = self.rng.choice(
            [
                ("github 502, retried", 502, None, None),
                ("github secondary limit, Retry-After 0", 403, None, 0),
                ("github malformed JSON", 200, b'[{"id": 1,', None),
                ("github 500 on GraphQL", 500, None, None),
            ]
        )
        where = "/graphql" if "GraphQL" in name else "/orgs/"
        org.add_fault(where, status, body=body, retry_after=retry_after)
        self.injected[name] += 1
        return name


# --- the run -----------------------------------------------------------------------------------


class LogTally(logging.Handler):
    """Counts the collector's log records; keeps the few that mean a bug of ours."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.levels: Counter[str] = Counter()
        self.unexpected: list[str] = []
        self.last_errors: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.levels[record.levelname] += 1
        message = record.getMessage()
        if "unexpectedly" in message or record.exc_info:
            self.unexpected.append(self.format(record))
        if record.levelno >= logging.ERROR:
            self.last_errors = [*self.last_errors[-4:], message]


@dataclass
class Result:
    cycles: int
    seed: int
    violations: list[str] = field(default_factory=list)
    faults: dict[str, int] = field(default_factory=dict)
    changes: dict[str, int] = field(default_factory=dict)
    polls_failed: int = 0
    scans_failed: int = 0
    crashes: int = 0
    teams: int = 0
    live_workloads: int = 0
    figures: dict[str, float | None] = field(default_factory=dict)
    rss_mib: dict[str, float] = field(default_factory=dict)
    cycle_ms: dict[str, float] = field(default_factory=dict)
    elapsed_s: float = 0.0
    log_records: dict[str, int] = field(default_factory=dict)


def rss_mib() -> float:
    """Resident memory now, after a full collection so garbage is not counted as growth."""
    gc.collect()
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("/proc/self/status has no VmRSS")


def soak_settings(kubeconfig: Path, org: GitHubSimulator, state: Path) -> config.Settings:
    return config.parse(
        {
            "platform": {"launch_date": LAUNCH.date().isoformat()},
            "teams": {"mandated": list(MANDATED)},
            "kubernetes": {
                "clusters": [{"name": CLUSTER, "kubeconfig": str(kubeconfig)}],
                "timeout": REQUEST_TIMEOUT,
                "poll_timeout": 30,
                "page_size": PAGE_SIZE,
                "kinds": list(KINDS),
            },
            "github": {"org": ORG, "base_url": org.base_url, "token_env": TOKEN_ENV},
            "golden_paths": [
                {"name": "platform", "match": {"labels": {"matchLabels": GOLDEN}}},
                {"name": "template", "github": {"template_repositories": [TEMPLATE]}},
            ],
            "state": {"path": str(state)},
        }
    )


def build_pipeline(settings: config.Settings) -> Pipeline:
    assert settings.github is not None
    matcher = rules.GoldenPathMatcher(settings.golden_paths)
    # GitHub's backoff between retries is real time the soak has no use for.
    github = GitHubSource(settings.github, sleep=lambda _: None)
    return Pipeline(
        settings,
        StateStore(settings.state.path),
        sources=kubernetes_sources(settings, matcher),
        github=github,
    )


@contextmanager
def simulators() -> Iterator[tuple[KubeSimulator, GitHubSimulator, Path]]:
    token = secrets.token_hex(16)
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="soak-")))
        kube = stack.enter_context(KubeSimulator(token=token))
        org = stack.enter_context(GitHubSimulator(org=ORG, token=token))
        os.environ[TOKEN_ENV] = token
        stack.callback(os.environ.pop, TOKEN_ENV, None)
        yield kube, org, workdir


def run(cycles: int = 1000, seed: int = 0, progress: Callable[[str], None] | None = None) -> Result:
    result = Result(cycles=cycles, seed=seed)
    rng = random.Random(seed)
    tally = LogTally()
    collector_log = logging.getLogger("collector")
    collector_log.addHandler(tally)
    level = collector_log.level
    collector_log.setLevel(logging.INFO)
    # As the command line has it: urllib3 would warn of every retried connection.
    urllib3_log = logging.getLogger("urllib3")
    urllib3_level = urllib3_log.level
    urllib3_log.setLevel(logging.ERROR)
    started = time.perf_counter()
    try:
        with simulators() as (kube, org, workdir):
            world = World(kube, org, rng)
            world.populate()
            kubeconfig = kube.write_kubeconfig(workdir / "kubeconfig", context=CLUSTER)
            settings = soak_settings(kubeconfig, org, workdir / "state.db")
            faults = Faults(world, rng)
            pipeline = build_pipeline(settings)
            try:
                _cycles(result, world, faults, pipeline, cycles, progress=progress)
                _final(result, world, faults, pipeline)
            finally:
                pipeline.close()
            _restart(result, world, settings)
            result.faults = dict(sorted(faults.injected.items()))
            result.changes = dict(sorted(world.changes.items()))
            result.teams = len(world.teams)
            result.live_workloads = len(world.truth.live)
    finally:
        collector_log.removeHandler(tally)
        collector_log.setLevel(level)
        urllib3_log.setLevel(urllib3_level)
    result.elapsed_s = round(time.perf_counter() - started, 1)
    result.log_records = dict(sorted(tally.levels.items()))
    result.crashes += len(tally.unexpected)
    for line in tally.unexpected[:5]:
        result.violations.append(f"a bug of ours was caught and logged: {line}")
    if result.crashes:
        result.violations.insert(0, f"{result.crashes} crash(es)")
    return result


def _cycles(
    result: Result,
    world: World,
    faults: Faults,
    pipeline: Pipeline,
    cycles: int,
    *,
    progress: Callable[[str], None] | None,
) -> None:
    durations: list[float] = []
    scans = 0
    for cycle in range(1, cycles + 1):
        world.churn(cycle)
        fault = faults.before(cycle)
        began = time.perf_counter()
        try:
            ok = pipeline.poll_kubernetes()
        except Exception as exc:  # the soak exists to find these
            result.crashes += 1
            result.violations.append(f"cycle {cycle}: poll raised {type(exc).__name__}: {exc}")
            ok = False
        durations.append(time.perf_counter() - began)
        if not ok:
            result.polls_failed += 1
        if fault is None:
            if ok:
                world.truth.all_seen()
            else:
                result.violations.append(f"cycle {cycle}: a fault-free poll failed")
        if cycle % GITHUB_EVERY == 0:
            scans += 1
            github_fault = faults.github(scans)
            try:
                scanned = pipeline.poll_github()
            except Exception as exc:
                result.crashes += 1
                result.violations.append(f"cycle {cycle}: scan raised {type(exc).__name__}")
                scanned = False
            if not scanned:
                result.scans_failed += 1
                if github_fault is None:
                    result.violations.append(f"cycle {cycle}: a fault-free GitHub scan failed")
        # The simulators' request logs are test aids that would grow with the run.
        world.kube.clear_requests()
        world.org.clear_requests()
        if cycle == MEMORY_FROM:
            result.rss_mib[f"cycle {cycle}"] = round(rss_mib(), 1)
        if progress and cycle % 100 == 0:
            progress(f"cycle {cycle}: {result.polls_failed} failed polls so far")
    if cycles > MEMORY_FROM:
        result.rss_mib[f"cycle {cycles}"] = round(rss_mib(), 1)
        first, last = result.rss_mib.values()
        if last > first * (1 + MEMORY_TOLERANCE):
            result.violations.append(
                f"memory grew from {first} MiB at cycle {MEMORY_FROM} to {last} MiB"
            )
    ordered = sorted(durations)
    result.cycle_ms = {
        "p50": round(statistics.median(ordered) * 1000, 1),
        "p99": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 1),
        "max": round(ordered[-1] * 1000, 1),
    }


def _final(result: Result, world: World, faults: Faults, pipeline: Pipeline) -> None:
    """A fault-free poll and scan, then the figures against the truth."""
    world.kube.clear_faults()
    world.org.clear_faults()
    if faults.down_until:
        world.kube.start()
        faults.down_until = 0
    if not pipeline.poll_github():
        result.violations.append("the final, fault-free GitHub scan failed")
    if not pipeline.poll_kubernetes():
        result.violations.append("the final, fault-free poll failed")
    world.truth.all_seen()
    world.truth.repositories_seen()
    expected = world.truth.expected()
    actual = exported(pipeline.exposition.latest)
    for line in differences(expected, actual):
        result.violations.append(f"figure: {line}")
    for name in (
        "adoption_active_teams",
        "adoption_adopted_teams",
        "adoption_ratio",
        "adoption_voluntary_ratio",
    ):
        result.figures[name] = actual.get((name, ()))
    result.figures["teams with a first deploy"] = len(world.truth.first_deploy)
    result.figures["samples compared"] = len(expected)


def _restart(result: Result, world: World, settings: config.Settings) -> None:
    """The state file, reopened, holds the history; a new pipeline on it agrees."""
    truth = world.truth
    store = StateStore(settings.state.path)
    try:
        history = {t: (v.first_seen, v.first_deploy) for t, v in store.history.items()}
    finally:
        store.close()
    wanted = {t: (seen, truth.first_deploy.get(t)) for t, seen in truth.first_seen.items()}
    for team in sorted(wanted.keys() | history.keys()):
        if wanted.get(team) != history.get(team):
            result.violations.append(
                f"state: {team}: stored {history.get(team)}, expected {wanted.get(team)}"
            )
    pipeline = build_pipeline(settings)
    try:
        if not (pipeline.poll_github() and pipeline.poll_kubernetes()):
            result.violations.append("after a restart the first poll failed")
        for line in differences(truth.expected(), exported(pipeline.exposition.latest)):
            result.violations.append(f"after a restart: {line}")
    finally:
        pipeline.close()


# --- the report --------------------------------------------------------------------------------


def summary(result: Result) -> str:
    rows: list[tuple[str, Any]] = [
        ("cycles", result.cycles),
        ("seed", result.seed),
        ("elapsed", f"{result.elapsed_s} s"),
        ("cycle time p50 / p99 / max", " / ".join(f"{v} ms" for v in result.cycle_ms.values())),
        ("faults injected", sum(result.faults.values())),
        *((f"  {name}", n) for name, n in result.faults.items()),
        ("polls failed", result.polls_failed),
        ("GitHub scans failed", result.scans_failed),
        *((f"  {name}", n) for name, n in result.changes.items()),
        ("teams at the end", result.teams),
        ("live workloads at the end", result.live_workloads),
        *((name, value) for name, value in result.figures.items()),
        *((f"resident memory, {at}", f"{mib} MiB") for at, mib in result.rss_mib.items()),
        ("crashes", result.crashes),
        ("violations", len(result.violations)),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"{name:<{width}}  {value}" for name, value in rows]
    lines += [f"VIOLATION {v}" for v in result.violations[:50]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__)
    parser.add_argument("--cycles", type=int, default=1000, help="poll cycles (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the churn and the faults")
    args = parser.parse_args(argv)
    if args.cycles < 1:
        parser.error("--cycles must be at least 1")
    result = run(args.cycles, args.seed, progress=lambda line: print(line, file=sys.stderr))
    print(summary(result))
    print("SOAK " + json.dumps(dataclasses.asdict(result), sort_keys=True))
    return 1 if result.violations else 0


if __name__ == "__main__":
    sys.exit(main())

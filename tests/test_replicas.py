"""Replicas need no coordination: two collectors with their own state files agree.

Collector A starts with the simulated organisation and polls it daily for a simulated week
while teams deploy and delete; collector B, a replica with an empty state file, starts at the
end of that week. Both poll the same clusters and GitHub organisation over real sockets at the
same (simulated) moment. Every figure must be equal, except the evidence A saw and B never
could: onboarding and first-deploy times dated by objects deleted before B started, which stay
earlier in A (history only moves earlier) and are later or absent in B.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.explain import Drilldown
from collector.pipeline import Pipeline
from collector.simulator.org import GOLDEN_CHART
from collector.simulator.resources import managed_field
from collector.state import StateStore
from tests.fleet import Fleet, fleet
from tests.records import Samples, parse_samples

DAY = 86400.0
HISTORY = (
    "adoption_team_onboarded_timestamp_seconds",
    "adoption_team_first_deploy_timestamp_seconds",
    "adoption_team_time_to_first_deploy_seconds",
)
# Counted from each collector's own first poll of a cluster: a later replica's totals start
# later (their increases agree while both run).
COUNTERS = ("adoption_deploys_total", "adoption_team_deploys_total")


class Clock:
    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def _figures(exposition: bytes) -> Samples:
    """Adoption figures only: the collector's own metrics (poll durations, timestamps) differ."""
    samples = parse_samples(exposition.decode())
    return {k: v for k, v in samples.items() if not k[0].startswith("adoption_collector_")}


def _teams(samples: Samples, name: str) -> dict[str, float]:
    return {dict(labels)["team"]: v for (n, labels), v in samples.items() if n == name}


def _object(drilldown: Drilldown, team: str, key: str) -> str | None:
    found = drilldown.team(team)
    assert found is not None
    evidence = found[key]
    return None if evidence is None else evidence["object"]


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Pipeline, Pipeline, set[str]]]:
    workdir = tmp_path_factory.mktemp("replicas")
    with fleet(workdir) as f:
        yield _run_week(f)


def _run_week(f: Fleet) -> tuple[Pipeline, Pipeline, set[str]]:
    start = f.org.now.timestamp()
    clock = Clock(start)
    both = ["prod-eu", "prod-us"]
    settings_a = f.settings("a", both, github=True)
    a = Pipeline(settings_a, StateStore(settings_a.state.path), clock=clock)
    assert a.poll_once()
    d = a.drilldown
    assert d is not None
    # Over the week: a golden team deletes the workload that dated its first deploy, another
    # team deletes the namespace that dated its onboarding (and everything in it), and a
    # shadow-only team makes its first golden deploy.
    deleted: set[str] = set()
    first_deploy = _object(d, "payments", "first_deploy_evidence")
    assert first_deploy is not None
    cluster, namespace, kind, name = first_deploy.split("/")
    assert f.clusters[cluster].delete(kind, namespace, name)
    deleted.add(first_deploy)
    onboarded = next(
        found["onboarded_evidence"]["object"]
        for found in d.teams()
        if found["onboarded_evidence"] is not None
        and found["onboarded_evidence"]["source"] == "namespace"
        and found["team"] != "payments"
    )
    cluster, namespace = onboarded.split("/")
    sim = f.clusters[cluster]
    for w in f.org.clusters[cluster].workloads:
        if w.namespace == namespace:
            sim.delete(w.kind, namespace, w.name)
            deleted.add(f"{cluster}/{namespace}/{w.kind}/{w.name}")
    assert sim.delete("namespaces", None, namespace)
    deleted.add(onboarded)
    search_ns = next(
        c for c, data in f.org.clusters.items() if any(n.name == "search" for n in data.namespaces)
    )
    created = dt.datetime.fromtimestamp(start + 3 * DAY, dt.UTC)
    f.clusters[search_ns].add_workload(
        "Deployment",
        "search",
        "search-golden-api",
        labels={"app.kubernetes.io/managed-by": "Helm", "helm.sh/chart": GOLDEN_CHART},
        created=created,
        managed_fields=[managed_field("helm", created)],
    )
    for _ in range(7):
        clock.now += DAY
        assert a.poll_once()
    settings_b = f.settings("b", both, github=True)
    b = Pipeline(settings_b, StateStore(settings_b.state.path), clock=clock)
    assert b.poll_once()
    return a, b, deleted


def test_a_replica_started_a_week_later_agrees_on_every_figure_but_deleted_evidence(
    week: tuple[Pipeline, Pipeline, set[str]],
) -> None:
    a, b, deleted = week
    fa, fb = _figures(a.exposition.latest), _figures(b.exposition.latest)
    current_a = {k: v for k, v in fa.items() if k[0] not in HISTORY + COUNTERS}
    current_b = {k: v for k, v in fb.items() if k[0] not in HISTORY + COUNTERS}
    assert current_a == current_b
    # The later replica started counting after the week's only deploy.
    golden_search = ("adoption_team_deploys_total", (("path", "golden"), ("team", "search")))
    assert (fa[golden_search], fb[golden_search]) == (1.0, 0.0)
    assert ("adoption_team_adopted", (("team", "search"),)) in current_a
    assert current_a["adoption_team_adopted", (("team", "search"),)] == 1

    assert a.drilldown is not None
    assert b.drilldown is not None
    differ: set[tuple[str, str]] = set()
    for name, key in (
        ("adoption_team_onboarded_timestamp_seconds", "onboarded_evidence"),
        ("adoption_team_first_deploy_timestamp_seconds", "first_deploy_evidence"),
    ):
        ta, tb = _teams(fa, name), _teams(fb, name)
        assert tb.keys() <= ta.keys()
        for team, value in ta.items():
            if tb.get(team) == value:
                continue
            differ.add((name, team))
            # Only A saw the object that dated it, and it is gone now: B dates it later.
            assert _object(a.drilldown, team, key) in deleted, (name, team)
            assert team not in tb or tb[team] > value, (name, team)
    # The week really deleted evidence: both kinds differ, for the teams it was deleted from.
    assert ("adoption_team_first_deploy_timestamp_seconds", "payments") in differ
    assert any(name == "adoption_team_onboarded_timestamp_seconds" for name, _ in differ)
    # Time to first deploy follows from the two: equal wherever both times are.
    ttfd = "adoption_team_time_to_first_deploy_seconds"
    for team, value in _teams(fa, ttfd).items():
        if not any(t == team for _, t in differ):
            assert _teams(fb, ttfd)[team] == value, team


def test_replicas_polling_together_publish_identical_figures(tmp_path: Path) -> None:
    """From the same moment on, two replicas are indistinguishable but for their own
    metrics, scope label included (one config)."""
    with fleet(tmp_path) as f:
        both = ["prod-eu", "prod-us"]
        one, two = (f.settings(name, both, github=True, scope="eu") for name in ("r0", "r1"))
        assert _figures(f.poll(one).encode()) == _figures(f.poll(two).encode())

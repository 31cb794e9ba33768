"""Hostile object metadata through the real parse path: never a crash, and the exposition
parses back to exactly what the snapshot holds, every team label value included.

Most examples go straight through the source's own `_Parser` (the code that turns API list
items into records) and the real pipeline; a handful go the whole way over loopback HTTP
through the simulated API server and the official client.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from collector import adoption, config, rules, tally
from collector.adoption import OTHER_TEAM, Snapshot
from collector.model import ClusterObservation, WorkloadSink
from collector.pipeline import Pipeline
from collector.simulator.kube import KubeSimulator
from collector.sources.kubernetes import _Parser
from collector.state import StateStore
from tests.cluster import TOKEN
from tests.hostile import strategies as hs
from tests.hostile.oracle import expected_samples, exposed_samples, owned_workloads, team_values
from tests.records import handed

NOW = 1789466400.0  # 2026-09-15T10:00:00Z
CLUSTER = "hostile"


def hostile_settings(
    mandated: Sequence[str] = (), max_teams: int = 2000, clusters: Sequence[Any] = ()
) -> config.Settings:
    return config.parse(
        {
            "platform": {"launch_date": "2026-03-01"},
            "teams": {"mandated": list(mandated)},
            "ownership": {"namespaces": {"misc": "group:default/Misc"}},
            "kubernetes": {"clusters": list(clusters), "timeout": "5s"},
            "golden_paths": [
                {"name": "labelled", "match": {"labels": {"matchLabels": {"golden": "yes"}}}},
                {
                    "name": "annotated",
                    "match": {
                        "annotations": {
                            "matchExpressions": [
                                {"key": "platform.example.com/template", "operator": "Exists"}
                            ]
                        }
                    },
                },
                {
                    "name": "named",
                    "match": {
                        "labels": {
                            "matchExpressions": [
                                {"key": "app", "operator": "Matches", "values": ["^svc-", "\\d"]}
                            ]
                        }
                    },
                },
                {"name": "gitops", "match": {"field_managers": ["argocd-controller"]}},
            ],
            "limits": {"max_teams": max_teams},
        }
    )


class ParsedSource:
    """A cluster whose every poll hands these raw list items to the source's own parser."""

    def __init__(self, namespaces: list[Any], workloads: list[Any], cfg: config.Settings) -> None:
        self.namespaces = namespaces
        self.workloads = workloads
        self.annotation_keys = tuple(
            sorted(rules.GoldenPathMatcher(cfg.golden_paths).annotation_keys)
        )

    def poll(self, sink: WorkloadSink | None = None) -> ClusterObservation:
        parser = _Parser(self.annotation_keys)
        namespaces = [n for item in self.namespaces if (n := parser.namespace("Namespace", item))]
        workloads = [w for kind, item in self.workloads if (w := parser.workload(kind, item))]
        found = ClusterObservation(CLUSTER, tuple(namespaces), workloads, {}, parser.skipped)
        return handed(found, sink)

    def close(self) -> None:
        pass


def check_exposition(pipeline: Pipeline, observation: ClusterObservation) -> None:
    """The exposition is exactly the snapshot; folding moved series, never the figures."""
    snap = pipeline.snapshot
    assert snap is not None
    exposed = exposed_samples(pipeline.exposition.latest)
    assert exposed == expected_samples(snap)
    cfg = pipeline.settings
    assert len(team_values(exposed, "adoption_team_adopted")) <= cfg.limits.max_teams + 1
    assert owned_workloads(snap) + sum(snap.unowned.values()) == sum(snap.workloads.values())

    # The same observation with no limit: the same figures, and `_other` is exactly the sum
    # of the teams that lost their own label.
    unlimited = cfg.model_copy(update={"limits": config.Limits(max_teams=10**9)})
    summary = tally.summarise(observation, unlimited, rules.GoldenPathMatcher(cfg.golden_paths))
    wide = adoption.compute([summary], pipeline.state.history, unlimited, NOW)
    assert_same_figures(snap, wide)


def assert_same_figures(snap: Snapshot, wide: Snapshot) -> None:
    figures = ("active_teams", "adopted_teams", "ratio", "voluntary_ratio", "workloads", "unowned")
    assert [getattr(snap, f) for f in figures] == [getattr(wide, f) for f in figures]
    kept = {t.team: t for t in snap.teams if t.team != OTHER_TEAM}
    folded = [t for t in wide.teams if t.team not in kept]
    assert [t for t in wide.teams if t.team in kept] == sorted(kept.values(), key=lambda t: t.team)
    other = [(t.golden, t.shadow) for t in snap.teams if t.team == OTHER_TEAM]
    expected_other = [(sum(t.golden for t in folded), sum(t.shadow for t in folded))]
    assert other == (expected_other if folded else [])
    assert len(folded) <= snap.dropped_teams  # inactive teams of the history fold too
    assert snap.dropped_teams > 0 or not folded


@settings(hs.HOSTILE, max_examples=120)
@given(
    namespaces=st.lists(hs.namespace_item, max_size=6),
    workloads=st.lists(st.tuples(hs.kind, hs.workload_item), max_size=10),
    mandated=st.lists(st.sampled_from(["payments", "Payments", "_other"]) | hs.text, max_size=3),
    max_teams=st.sampled_from([1, 2000, 3, 2]),
)
def test_parsed_metadata_never_crashes_and_exposes_exactly_the_snapshot(
    namespaces: list[Any],
    workloads: list[Any],
    mandated: list[str],
    max_teams: int,
    new_state: Callable[[], StateStore],
) -> None:
    # Only what JSON can carry reaches the parser: no tuples, string keys, NaN as NaN.
    namespaces, workloads = json.loads(json.dumps([namespaces, workloads]))
    cfg = hostile_settings(mandated, max_teams)
    source = ParsedSource(namespaces, workloads, cfg)
    observation = source.poll()
    read = len(observation.namespaces) + len(observation.workloads) + observation.skipped
    assert read == len(namespaces) + len(workloads)
    sources = {CLUSTER: source}
    with closing(Pipeline(cfg, new_state(), sources=sources, clock=lambda: NOW)) as p:
        assert p.poll_kubernetes() is True
        first = p.exposition.latest
        check_exposition(p, observation)
        # The history the first poll wrote changes nothing: the same teams keep their labels.
        assert p.poll_kubernetes() is True
        assert p.exposition.latest == first


def test_lone_surrogates_in_json_do_not_break_the_exposition(
    new_state: Callable[[], StateStore],
) -> None:
    # Valid JSON, but not valid UTF-8 once decoded: no real API server sends it, a proxy might.
    raw = (
        b'[{"metadata": {"name": "a\\udc80", "namespace": "pay",'
        b' "labels": {"team": "pay\\ud800ments", "golden": "yes"}}},'
        b' {"metadata": {"name": "b", "namespace": "pay", "labels": {"owner": "\\udfff"}}}]'
    )
    items = json.loads(raw)
    cfg = hostile_settings()
    source = ParsedSource([], [["Deployment", item] for item in items], cfg)
    with closing(Pipeline(cfg, new_state(), sources={CLUSTER: source}, clock=lambda: NOW)) as p:
        assert p.poll_kubernetes() is True
        check_exposition(p, source.poll())
        assert 'adoption_team_adopted{team="pay\ufffdments"} 1.0' in p.exposition.latest.decode()
        assert 'adoption_team_adopted{team="\ufffd"} 0.0' in p.exposition.latest.decode()


@settings(hs.HOSTILE, max_examples=8)
@given(
    namespaces=st.lists(hs.namespace_item, max_size=4),
    workloads=st.lists(st.tuples(hs.kind, hs.workload_item), max_size=6),
    max_teams=st.sampled_from([1, 2000]),
)
def test_hostile_metadata_over_loopback(
    namespaces: list[Any],
    workloads: list[Any],
    max_teams: int,
    new_state: Callable[[], StateStore],
) -> None:
    with KubeSimulator(token=TOKEN) as sim, tempfile.TemporaryDirectory() as tmp:
        for item in namespaces:
            sim.put_raw("Namespace", item)
        for kind, item in workloads:
            sim.put_raw(kind, item)
        kubeconfig = sim.write_kubeconfig(Path(tmp) / "kubeconfig", context=CLUSTER)
        cluster = {"name": CLUSTER, "kubeconfig": str(kubeconfig)}
        cfg = hostile_settings(max_teams=max_teams, clusters=[cluster])
        with closing(Pipeline(cfg, new_state(), clock=lambda: NOW)) as p:
            assert p.poll_kubernetes() is True
            observation = p.sources[CLUSTER].poll()
            check_exposition(p, observation)
            assert TOKEN not in p.exposition.latest.decode()

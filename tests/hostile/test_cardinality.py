"""The cardinality guard: beyond limits.max_teams, teams fold into team="_other".

A cluster that suddenly reports 100,000 teams must not exhaust memory, must not grow the
exposition or the state file beyond max_teams, and must not take the labels of the teams
the history already knows.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector import adoption, config, exporter, model, rules, tally
from collector.model import ClusterObservation, Workload, workload
from collector.model import Path as WorkloadPath
from collector.pipeline import Pipeline
from collector.simulator.kube import KubeSimulator
from collector.state import StateStore, TeamTimes
from tests.cluster import GOLDEN_LABELS, TOKEN, seed_small, write_config
from tests.hostile.oracle import expected_samples, exposed_samples, team_values
from tests.records import GOLDEN, settings, ts

NOW = 1789466400.0  # 2026-09-15T10:00:00Z
FLOOD = 100_000
ESTABLISHED = 10
# Measured at about 48 MiB on CPython 3.11: 21 MiB of it the cluster summary's count per
# team, and 17 MiB its drill-down record per workload (one tuple of about 176 bytes, which
# explains the figures until the next poll); the 100,000 records of the poll itself take
# 46 MiB.
PEAK_LIMIT = 56 * 2**20


def flood(teams: int, first: float, prefix: str) -> tuple[Workload, ...]:
    """One workload per team, every other one golden, created a second apart."""
    return tuple(
        workload(
            "Deployment",
            "flood",
            f"w{i}",
            first + i,
            {"team": f"{prefix}{i:06d}", **(GOLDEN if i % 2 else {})},
            {},
            (),
        )
        for i in range(teams)
    )


def test_100000_teams_keep_the_exposition_the_history_and_memory_bounded() -> None:
    cfg = settings()  # limits.max_teams: the default, 2,000
    limit = cfg.limits.max_teams
    established = [f"team-{i}" for i in range(ESTABLISHED)]
    history = {team: TeamTimes(ts("2026-03-02") + i, None) for i, team in enumerate(established)}
    workloads = flood(FLOOD, ts("2026-09-01"), "t") + tuple(
        workload("Deployment", "old", team, ts("2026-03-02"), {"team": team}, {}, ())
        for team in established
    )
    observation = ClusterObservation("c1", (model.namespace("flood", {}, None),), workloads)
    matcher = rules.GoldenPathMatcher(cfg.golden_paths)

    tracemalloc.start()
    try:
        summary = tally.summarise(observation, cfg, matcher)
        seen, deploy = adoption.merge_evidence([summary], None, history, cfg)
        # What the state store holds after recording them (min-only; nothing here is earlier).
        recorded = history | {
            t: TeamTimes(seen[t].time, deploy[t].time if t in deploy else None)
            for t in seen.keys() - history.keys()
        }
        snap = adoption.compute([summary], recorded, cfg, NOW)
        body = exporter.render(snap, ())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < PEAK_LIMIT, f"peak {peak / 2**20:.1f} MiB"

    # The established teams and the 1,990 flood teams with the oldest evidence keep labels.
    kept = {*established, *(f"t{i:06d}" for i in range(limit - ESTABLISHED))}
    exposed = exposed_samples(body)
    assert exposed == expected_samples(snap)
    assert team_values(exposed, "adoption_team_adopted") == {*kept, "_other"}
    assert team_values(exposed, "adoption_team_onboarded_timestamp_seconds") == kept
    folded = range(limit - ESTABLISHED, FLOOD)
    golden_folded = sum(1 for i in folded if i % 2)
    assert exposed["adoption_team_workloads", (("path", "golden"), ("team", "_other"))] == (
        golden_folded
    )
    assert exposed["adoption_team_workloads", (("path", "shadow"), ("team", "_other"))] == (
        len(folded) - golden_folded
    )
    assert exposed["adoption_collector_dropped_teams", ()] == FLOOD + ESTABLISHED - limit
    # Every real team still counts: 50,000 flood teams run a golden workload.
    assert exposed["adoption_active_teams", ()] == FLOOD + ESTABLISHED
    assert exposed["adoption_adopted_teams", ()] == FLOOD // 2
    assert exposed["adoption_ratio", ()] == (FLOOD // 2) / (FLOOD + ESTABLISHED)
    # Only the kept teams reach the state store.
    assert seen.keys() == kept
    assert deploy.keys() == {f"t{i:06d}" for i in range(limit - ESTABLISHED) if i % 2}


def test_a_second_older_flood_cannot_evict_teams_the_history_knows(tmp_path: Path) -> None:
    cfg = settings(limits={"max_teams": 50})
    matcher = rules.GoldenPathMatcher(cfg.golden_paths)
    state = StateStore(tmp_path / "state.db")
    try:

        def poll(workloads: tuple[Workload, ...]) -> adoption.Snapshot:
            summary = tally.summarise(ClusterObservation("c1", (), workloads), cfg, matcher)
            seen, deploy = adoption.merge_evidence([summary], None, state.history, cfg)
            return adoption.compute([summary], state.record(seen, deploy), cfg, NOW)

        first = poll(flood(1000, ts("2026-09-01"), "a"))
        # Older evidence than any team kept so far, but new to the history: it waits.
        second = poll(flood(1000, ts("2026-01-01"), "a") + flood(5000, ts("2025-01-01"), "b"))
    finally:
        state.close()
    kept = [f"a{i:06d}" for i in range(50)]
    assert [t.team for t in first.teams] == ["_other", *kept]
    assert [t.team for t in second.teams] == ["_other", *kept]
    assert (first.dropped_teams, second.dropped_teams) == (950, 5950)
    rows = StateStore(tmp_path / "state.db")
    try:
        assert sorted(rows.history) == kept
        # Min-only as ever: the kept teams' evidence moved earlier with the second flood.
        assert rows.history["a000000"] == TeamTimes(
            ts("2026-01-01"), None, "workload:c1/flood/Deployment/w0"
        )
    finally:
        rows.close()


@pytest.fixture
def sim() -> Iterator[KubeSimulator]:
    with KubeSimulator(token=TOKEN) as simulator:
        seed_small(simulator)
        yield simulator


# Checked by hand: seed_small's payments, billing and search take the three labels on the
# first poll; the 50 flood teams come later and fold into _other (25 of them golden).
# Every team counts in the figures: 52 active, 26 adopted; billing is mandated. The flood's
# workloads are new since the first poll: 50 deploys, all _other's.
EXPECTED_AFTER_FLOOD = """\
adoption_team_workloads{path="golden",team="_other"} 25.0
adoption_team_workloads{path="shadow",team="_other"} 25.0
adoption_team_workloads{path="golden",team="billing"} 0.0
adoption_team_workloads{path="shadow",team="billing"} 1.0
adoption_team_workloads{path="golden",team="payments"} 1.0
adoption_team_workloads{path="shadow",team="payments"} 2.0
adoption_team_adopted{team="_other"} 1.0
adoption_team_adopted{team="billing"} 0.0
adoption_team_adopted{team="payments"} 1.0
adoption_team_mandated{team="_other"} 0.0
adoption_team_mandated{team="billing"} 1.0
adoption_team_mandated{team="payments"} 0.0
adoption_team_deploy_tool_workloads{path="golden",team="_other",tool="unknown"} 25.0
adoption_team_deploy_tool_workloads{path="shadow",team="_other",tool="unknown"} 25.0
adoption_team_deploy_tool_workloads{path="shadow",team="billing",tool="terraform"} 1.0
adoption_team_deploy_tool_workloads{path="golden",team="payments",tool="helm"} 1.0
adoption_team_deploy_tool_workloads{path="shadow",team="payments",tool="kubectl"} 1.0
adoption_team_deploy_tool_workloads{path="shadow",team="payments",tool="unknown"} 1.0
adoption_team_onboarded_timestamp_seconds{team="billing"} 1.7723232e+09
adoption_team_onboarded_timestamp_seconds{team="payments"} 1.7731008e+09
adoption_team_onboarded_timestamp_seconds{team="search"} 1.780272e+09
adoption_team_first_deploy_timestamp_seconds{team="payments"} 1.7750016e+09
adoption_team_time_to_first_deploy_seconds{team="payments"} 1.9008e+06
adoption_active_teams 52.0
adoption_adopted_teams 26.0
adoption_ratio 0.5
adoption_voluntary_ratio 0.5098039215686274
adoption_team_deploys_total{path="golden",team="_other"} 25.0
adoption_team_deploys_total{path="shadow",team="_other"} 25.0
adoption_team_deploys_total{path="golden",team="billing"} 0.0
adoption_team_deploys_total{path="shadow",team="billing"} 0.0
adoption_team_deploys_total{path="golden",team="payments"} 0.0
adoption_team_deploys_total{path="shadow",team="payments"} 0.0
adoption_collector_dropped_teams 50.0
"""


def team_lines(exposition: bytes) -> list[str]:
    wanted = (
        "adoption_team_",
        "adoption_active_",
        "adoption_adopted_",
        "adoption_ratio",
        "adoption_voluntary_ratio",
        "adoption_collector_dropped_teams",
    )
    return [line for line in exposition.decode().splitlines() if line.startswith(wanted)]


def test_a_flood_over_loopback_folds_and_stays_folded(tmp_path: Path, sim: KubeSimulator) -> None:
    path = write_config(tmp_path, {"prod-eu": sim}, limits={"max_teams": 3})
    cfg = config.load(path)
    pipeline = Pipeline(cfg, StateStore(cfg.state.path), clock=lambda: NOW)
    try:
        assert pipeline.poll_kubernetes() is True
        assert "adoption_collector_dropped_teams 0.0" in team_lines(pipeline.exposition.latest)
        for i in range(50):
            labels = {"team": f"f-{i:02d}", **(GOLDEN_LABELS if i % 2 == 0 else {})}
            sim.add_workload(
                "Deployment", "flood", f"w{i}", labels=labels, created="2026-09-15T11:00:00Z"
            )
        assert pipeline.poll_kubernetes() is True
        after = pipeline.exposition.latest
        assert team_lines(after) == EXPECTED_AFTER_FLOOD.splitlines()
        assert pipeline.poll_kubernetes() is True
        assert pipeline.exposition.latest == after
        assert sorted(pipeline.state.load()) == ["billing", "payments", "search"]
        assert pipeline.state.deploys("team") == {
            ("_other", WorkloadPath.GOLDEN): 25,
            ("_other", WorkloadPath.SHADOW): 25,
        }
    finally:
        pipeline.close()

"""Deploys: the counting rules (pure), then a scenario over real HTTP against the simulated
API server, with spec changes, recreations, a restart and a failed poll, whose counters must
equal the scenario's own count exactly."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import pytest

from collector import config, deploys
from collector.model import Path as WorkloadPath
from collector.pipeline import Pipeline
from collector.simulator.kube import KubeSimulator
from collector.state import StateStore
from tests.cluster import TOKEN, seed_small, write_config
from tests.records import parse_samples

GOLDEN, SHADOW = WorkloadPath.GOLDEN, WorkloadPath.SHADOW
BASELINE = 1_789_000_000.0  # when the first poll of the cluster started


def tally(known: deploys.Known, started: float = BASELINE + 600) -> deploys.Tally:
    return deploys.Tally("c1", known, started)


# --- the rules ------------------------------------------------------------------------


def test_the_first_poll_is_the_baseline_and_counts_nothing() -> None:
    t = tally(deploys.NEVER_POLLED, started=BASELINE)
    t.see("u1", 7, BASELINE - 100, "payments", GOLDEN)
    t.see("u2", None, BASELINE - 100, None, SHADOW)
    delta = t.delta(2, lambda: ["u1", "u2"], complete=True)
    assert delta == deploys.Delta("c1", {}, {}, {"u1": 7, "u2": 0}, (), BASELINE)


def test_a_rising_generation_counts_the_difference() -> None:
    t = tally(deploys.Known(BASELINE, {"u1": 2, "u2": 5, "u3": 1}))
    # What the summary's loop asks of every workload before calling see().
    assert [t.changed("u1", 5), t.changed("u2", 5), t.changed(None, 1), t.changed("u4", 1)] == [
        True,
        False,
        True,
        True,
    ]
    t.see("u1", 5, BASELINE - 100, "payments", GOLDEN)  # three spec changes: three deploys
    t.see("u2", 5, BASELINE - 100, "payments", SHADOW)  # unchanged
    t.see("u3", 2, BASELINE - 100, None, SHADOW)  # unowned: the cluster counts it, no team
    delta = t.delta(
        3, lambda: pytest.fail("nothing is missing: no need for the uids"), complete=True
    )
    assert delta == deploys.Delta(
        "c1", {("payments", GOLDEN): 3}, {GOLDEN: 3, SHADOW: 1}, {"u1": 5, "u3": 2}
    )
    assert not delta.empty


def test_a_new_workload_counts_its_generation_and_a_recreated_one_is_new() -> None:
    t = tally(deploys.Known(BASELINE, {"old-uid": 4}))
    # Deleted and created again under its name: a new uid, generation 1, one deploy.
    t.see("new-uid", 1, BASELINE + 300, "payments", GOLDEN)
    # Created, then its spec changed twice before the poll: three deploys.
    t.see("fresh", 3, BASELINE + 400, "search", SHADOW)
    # No creation time known: new all the same.
    t.see("undated", 1, None, "search", SHADOW)
    delta = t.delta(3, lambda: ["new-uid", "fresh", "undated"], complete=True)
    assert delta.team == {("payments", GOLDEN): 1, ("search", SHADOW): 4}
    assert delta.path == {GOLDEN: 1, SHADOW: 4}
    assert delta.gone == ("old-uid",)
    assert delta.changed == {"new-uid": 1, "fresh": 3, "undated": 1}


def test_a_workload_there_before_the_baseline_and_seen_late_counts_nothing() -> None:
    # A kind RBAC refused, or a namespace newly configured: there all along, not deployed.
    t = tally(deploys.Known(BASELINE + 0.7, {}))
    t.see("late", 9, BASELINE - 1, "payments", GOLDEN)
    # Creation times have whole seconds: one in the first poll's second may have come after it.
    t.see("same-second", 1, BASELINE, "payments", GOLDEN)
    delta = t.delta(2, lambda: ["late", "same-second"], complete=True)
    assert delta.team == {("payments", GOLDEN): 1}
    assert delta.changed == {"late": 9, "same-second": 1}


def test_an_incomplete_poll_forgets_no_generation() -> None:
    t = tally(deploys.Known(BASELINE, {"u1": 1, "job": 3}))
    t.see("u1", 1, BASELINE - 100, "payments", GOLDEN)
    # Jobs were refused this time: their generations must wait for them to come back.
    assert t.delta(1, lambda: ["u1"], complete=False).gone == ()
    assert t.delta(1, lambda: ["u1"], complete=True).gone == ("job",)


def test_a_workload_without_uid_is_never_counted() -> None:
    t = tally(deploys.Known(BASELINE, {}))
    t.see(None, 5, BASELINE + 1, "payments", GOLDEN)
    assert t.delta(1, lambda: [None], complete=True) == deploys.Delta("c1", {}, {}, {})


def test_a_generation_going_back_counts_nothing_and_is_the_new_baseline() -> None:
    t = tally(deploys.Known(BASELINE, {"u1": 5}))
    t.see("u1", 2, BASELINE - 100, "payments", GOLDEN)
    delta = t.delta(1, lambda: ["u1"], complete=True)
    assert (delta.team, delta.changed) == ({}, {"u1": 2})


def test_fold_names_teams_as_the_metrics_do() -> None:
    counts = {("a", GOLDEN): 1, ("b", GOLDEN): 2, ("c", SHADOW): 4}
    folded = deploys.fold(counts, lambda team: team if team == "a" else "_other")
    assert folded == {("a", GOLDEN): 1, ("_other", GOLDEN): 2, ("_other", SHADOW): 4}


# --- the scenario, over real HTTP -------------------------------------------------------


# (kind, namespace, name) -> (team, path), as seed_small's comment says
SEEDED: dict[tuple[str, str, str], tuple[str | None, WorkloadPath]] = {
    ("Deployment", "pay", "api"): ("payments", GOLDEN),
    ("Deployment", "pay", "worker"): ("payments", SHADOW),
    ("CronJob", "pay", "nightly"): ("payments", SHADOW),
    ("StatefulSet", "bill", "ledger"): ("billing", SHADOW),
    ("DaemonSet", "misc", "agent"): (None, SHADOW),
}


class Scenario:
    """The simulated cluster of tests.cluster.seed_small, changed step by step, with the
    deploys each step makes counted here, independently of the collector."""

    def __init__(self, sim: KubeSimulator) -> None:
        self.sim = sim
        self.team: Counter[tuple[str, str]] = Counter()
        self.cluster: Counter[str] = Counter()

    def count(self, key: tuple[str, str, str], n: int) -> None:
        team, path = SEEDED[key]
        self.cluster[path.value] += n
        if team is not None:
            self.team[team, path.value] += n

    def change(self, kind: str, namespace: str, name: str, times: int = 1) -> None:
        self.sim.change_spec(kind, namespace, name, times)
        self.count((kind, namespace, name), times)

    def recreate(self, kind: str, namespace: str, name: str, times: int = 0) -> None:
        """Delete and create again under the same name, then change its spec `times` times."""
        self.sim.delete(kind, namespace, name)
        self.sim.add_workload(kind, namespace, name, created="2026-09-15T11:00:00Z")
        if times:
            self.sim.change_spec(kind, namespace, name, times)
        self.count((kind, namespace, name), 1 + times)

    def expected(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        samples = {
            ("adoption_team_deploys_total", (("path", p.value), ("team", t))): 0.0
            for t in ("billing", "payments")
            for p in WorkloadPath
        }
        for (team, path), n in self.team.items():
            samples["adoption_team_deploys_total", (("path", path), ("team", team))] = float(n)
        for p in WorkloadPath:
            key = (("kube_cluster", "prod-eu"), ("path", p.value))
            samples["adoption_deploys_total", key] = float(self.cluster[p.value])
        return samples


def deploy_samples(pipeline: Pipeline) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    samples = parse_samples(pipeline.exposition.latest.decode())
    return {
        key: value
        for key, value in samples.items()
        if key[0] in ("adoption_team_deploys_total", "adoption_deploys_total")
    }


def fingerprint(state: Path) -> dict[str, str]:
    """The bytes of the state file and its journals: whatever a write would change."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(state.parent.glob(state.name + "*"))
    }


# Poll times: the clock the pipeline reads (the baseline is the first poll's start).
T0 = 1_789_466_400.0  # 2026-09-15T10:00:00Z, later than every seed_small creation time


def test_counters_equal_the_scenario_through_restarts_recreations_and_failures(
    tmp_path: Path,
) -> None:
    with KubeSimulator(token=TOKEN) as sim:
        seed_small(sim)
        settings = config.load(write_config(tmp_path, {"prod-eu": sim}))
        scenario = Scenario(sim)

        def start() -> Pipeline:
            return Pipeline(settings, StateStore(settings.state.path), clock=lambda: T0)

        pipeline = start()
        # Changes before the first poll are history, not deploys: the first poll is the baseline.
        sim.change_spec("Deployment", "pay", "api", 4)
        assert pipeline.poll_kubernetes()
        assert deploy_samples(pipeline) == scenario.expected()
        assert sum(scenario.team.values()) == 0

        # Spec changes of every kind of tracked workload, several between two polls.
        scenario.change("Deployment", "pay", "api", 3)
        scenario.change("Deployment", "pay", "worker")
        scenario.change("CronJob", "pay", "nightly", 2)  # the CronJob's own spec: deploys
        scenario.change("StatefulSet", "bill", "ledger")
        scenario.change("DaemonSet", "misc", "agent")  # unowned: the cluster counts it
        sim.change_spec("Job", "pay", "nightly-29001", 5)  # a CronJob's run: never a deploy
        sim.change_spec("Deployment", "kube-system", "coredns")  # excluded namespace
        assert pipeline.poll_kubernetes()
        assert deploy_samples(pipeline) == scenario.expected()
        assert scenario.team == {
            ("payments", "golden"): 3,
            ("payments", "shadow"): 3,
            ("billing", "shadow"): 1,
        }

        # The collector stops; the cluster moves on without it.
        pipeline.close()
        scenario.change("Deployment", "pay", "api")
        scenario.recreate("Deployment", "pay", "worker")  # a new uid: counts as new
        scenario.recreate("StatefulSet", "bill", "ledger", times=2)
        pipeline = start()
        assert pipeline.poll_kubernetes()  # catches up on what happened while it was down
        assert deploy_samples(pipeline) == scenario.expected()

        # A failed poll counts nothing; the next good one catches up.
        sim.add_fault(".*", 503, times=None)
        before_failure = scenario.expected()
        scenario.change("Deployment", "pay", "api", 2)
        assert not pipeline.poll_kubernetes()
        assert deploy_samples(pipeline) == before_failure
        sim.clear_faults()
        written = fingerprint(Path(settings.state.path))
        assert pipeline.poll_kubernetes()
        assert deploy_samples(pipeline) == scenario.expected()
        assert fingerprint(Path(settings.state.path)) != written  # deploys are written

        # Steady state: nothing changed, nothing written.
        before = fingerprint(Path(settings.state.path))
        assert pipeline.poll_kubernetes()
        assert fingerprint(Path(settings.state.path)) == before
        assert deploy_samples(pipeline) == scenario.expected()

        # A restart with nothing changed counts nothing twice.
        pipeline.close()
        pipeline = start()
        assert pipeline.poll_kubernetes()
        assert deploy_samples(pipeline) == scenario.expected()
        assert scenario.team == {
            ("payments", "golden"): 6,
            ("payments", "shadow"): 4,
            ("billing", "shadow"): 4,
        }
        assert scenario.cluster == {"golden": 6, "shadow": 9}
        pipeline.close()

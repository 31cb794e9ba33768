"""The drill-down agrees EXACTLY with /metrics of the same poll.

Every team figure /metrics exports is derived here from `Drilldown.teams()` and
`Drilldown.summary()` alone (times parsed back from their RFC 3339 strings), and must be
what the exposition says: against the demo organisation through the real pipeline, and
against the small scenario of tests/test_explain.py.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from collector import config, explain, exporter
from collector.model import ClusterObservation, WorkloadSink
from collector.pipeline import Pipeline
from collector.simulator.github import GitHubSimulator
from collector.simulator.kube import KubeSimulator
from collector.simulator.org import GITHUB_ORG, GITHUB_TOKEN_ENV, build_organisation
from collector.sources import PollError
from collector.state import StateStore
from tests.records import Samples, handed, parse_samples
from tests.test_explain import CLUSTER, NOW
from tests.test_explain import config as scenario_config
from tests.test_explain import drilldown as scenario_drilldown

TEAM_METRICS = (
    "adoption_team_workloads",
    "adoption_team_adopted",
    "adoption_team_mandated",
    "adoption_team_onboarded_timestamp_seconds",
    "adoption_team_first_deploy_timestamp_seconds",
    "adoption_team_time_to_first_deploy_seconds",
    "adoption_team_repos",
    "adoption_team_deploy_tool_workloads",
)
SUMMARY_METRICS = (
    "adoption_active_teams",
    "adoption_adopted_teams",
    "adoption_ratio",
    "adoption_voluntary_ratio",
    "adoption_target_ratio",
    "adoption_workloads",
)


def seconds(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def derived(d: explain.Drilldown) -> Samples:
    """What /metrics must say, from the drill-down's JSON alone. The deploy-tool series are
    summed over path here (the team object counts tools over both paths); the split by
    path is checked against `workloads()` in `agree`."""
    out: Samples = {}

    def put(name: str, value: float, **labels: str) -> None:
        out[name, tuple(sorted(labels.items()))] = float(value)

    for t in d.teams():
        team = t["team"]
        if t["active"]:
            for path, n in t["workload_counts"].items():
                put("adoption_team_workloads", n, team=team, path=path)
            put("adoption_team_adopted", t["adopted"], team=team)
            put("adoption_team_mandated", t["mandated"], team=team)
            for tool, n in t["tools"].items():
                put("adoption_team_deploy_tool_workloads", n, team=team, tool=tool)
        if t["onboarded"] is not None:
            put("adoption_team_onboarded_timestamp_seconds", seconds(t["onboarded"]), team=team)
        if t["first_deploy"] is not None:
            put(
                "adoption_team_first_deploy_timestamp_seconds",
                seconds(t["first_deploy"]),
                team=team,
            )
        if t["time_to_first_deploy_seconds"] is not None:
            put(
                "adoption_team_time_to_first_deploy_seconds",
                t["time_to_first_deploy_seconds"],
                team=team,
            )
        if t["repository_counts"] is not None and any(t["repository_counts"].values()):
            for path, n in t["repository_counts"].items():
                put("adoption_team_repos", n, team=team, path=path)
    s = d.summary()
    put("adoption_active_teams", s["active_teams"])
    put("adoption_adopted_teams", s["adopted_teams"])
    for name, key in (
        ("adoption_ratio", "adoption_ratio"),
        ("adoption_voluntary_ratio", "voluntary_ratio"),
        ("adoption_target_ratio", "target_ratio"),
    ):
        if s[key] is not None:
            put(name, s[key])
    for path, n in s["workloads"].items():
        put("adoption_workloads", n, path=path)
    return out  # fmt: skip


def exposed(exposition: bytes) -> Samples:
    """The same figures from the exposition: tool series summed over path, workloads over
    clusters (the summary's are organisation-wide)."""
    out: Samples = {}
    for (name, labels), value in parse_samples(exposition.decode()).items():
        if name not in TEAM_METRICS + SUMMARY_METRICS:
            continue
        keep = dict(labels)
        if name == "adoption_team_deploy_tool_workloads":
            del keep["path"]
        if name == "adoption_workloads":
            del keep["kube_cluster"]
        key = (name, tuple(sorted(keep.items())))
        summed = name in ("adoption_team_deploy_tool_workloads", "adoption_workloads")
        out[key] = out.get(key, 0.0) + value if summed else value
    return out


def agree(d: explain.Drilldown, exposition: bytes) -> None:
    assert derived(d) == exposed(exposition)
    # The deploy-tool series by path, from the indexed records.
    for (name, labels), value in parse_samples(exposition.decode()).items():
        if name == "adoption_team_deploy_tool_workloads":
            filters = dict(labels)
            assert len(d.workloads(**filters)) == value, filters
    # Every team /metrics names, and no other, has a team object.
    teams = {
        dict(labels)["team"]
        for name, labels in parse_samples(exposition.decode())
        if name.startswith("adoption_team_")
    }
    assert teams == {t["team"] for t in d.teams()}


def test_the_small_scenario_agrees_with_its_exposition(tmp_path: Path) -> None:
    d = scenario_drilldown(tmp_path)
    agree(d, exporter.render(d.snapshot, ()))


def test_folded_teams_agree_as_team_other(tmp_path: Path) -> None:
    d = scenario_drilldown(tmp_path, scenario_config(limits={"max_teams": 1}))
    # search and ledger are both named in the config; search has the earlier evidence.
    assert [t["team"] for t in d.teams()] == ["_other", "search"]
    agree(d, exporter.render(d.snapshot, ()))
    # _other's workloads are the folded teams' own, under their real names.
    assert {r.team for r in d.workloads(team="_other")} == {"ledger", "payments"}
    assert d.team("payments") is None  # /metrics has no payments either


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    """The demo organisation through the real pipeline, as `demo --once` runs it."""
    tmp = tmp_path_factory.mktemp("demo")
    now = dt.datetime.now(dt.UTC)
    org = build_organisation(now)
    with ExitStack() as stack:
        kubeconfigs = {}
        for cluster in org.cluster_names:
            sim = stack.enter_context(KubeSimulator(token="demo-drilldown"))
            org.load_into(sim, cluster)
            path = tmp / f"{cluster}.kubeconfig"
            sim.write_kubeconfig(path, context=cluster, cluster_name=cluster)
            kubeconfigs[cluster] = str(path)
        github = stack.enter_context(GitHubSimulator(GITHUB_ORG, "demo-drilldown-github"))
        org.load_github(github)
        os.environ[GITHUB_TOKEN_ENV] = github.token
        raw = org.demo_config(
            kubeconfigs,
            state_path=str(tmp / "state.db"),
            listen="127.0.0.1:0",
            launch_date=(now - dt.timedelta(days=240)).date(),
            github_base_url=github.base_url,
        )
        settings = config.parse(raw, "demo")
        pipeline = Pipeline(settings, StateStore(settings.state.path))
        assert pipeline.drilldown is None  # before the first poll
        try:
            assert pipeline.poll_once()
            yield pipeline
        finally:
            pipeline.close()
            os.environ.pop(GITHUB_TOKEN_ENV, None)


def test_the_demo_drilldown_agrees_with_its_metrics(demo: Pipeline) -> None:
    d = demo.drilldown
    assert d is not None
    assert d.snapshot is demo.snapshot
    agree(d, demo.exposition.latest)
    # A plausible organisation: some of every kind of evidence and explanation.
    teams = d.teams()
    assert 25 <= len(teams) <= 40
    sources = {t["onboarded_evidence"]["source"] for t in teams if t["onboarded_evidence"]}
    assert sources <= {"namespace", "workload", "repository", "launch_date", "override"}
    assert all(t["first_deploy_evidence"]["object"] for t in teams if t["first_deploy_evidence"])


def test_every_demo_workload_reason_names_the_rule_that_decided_it(demo: Pipeline) -> None:
    d = demo.drilldown
    assert d is not None
    names = [p.name for p in demo.settings.golden_paths]
    shadow = d.workloads(path="shadow")
    golden = d.workloads(path="golden")
    assert len(shadow) + len(golden) == len(d.workloads()) > 200
    for r in golden:
        assert r.golden_path is not None
        assert r.reason.startswith((f"{r.golden_path}: ", "catalog Component ")), r
        if r.reason.startswith("catalog"):
            assert r.reason.endswith(f" ({r.golden_path})")
    for r in shadow:
        assert r.golden_path is None
        assert r.reason.split(": ", 1)[0] in names, r
    # Unowned workloads are listed too, with no team.
    assert {r.team_source for r in d.workloads() if r.team is None} == {"none"}


class FlakyCluster:
    """The scenario's cluster, then a failure on every poll after the first."""

    def __init__(self) -> None:
        self.polls = 0

    def poll(self, sink: WorkloadSink | None = None) -> ClusterObservation:
        self.polls += 1
        if self.polls > 1:
            raise PollError("connection refused")
        return handed(CLUSTER, sink)

    def close(self) -> None:
        pass


def test_a_failed_poll_keeps_the_last_good_explanations(tmp_path: Path) -> None:
    cfg = scenario_config()
    pipeline = Pipeline(
        cfg, StateStore(tmp_path / "s.db"), sources={"prod-eu": FlakyCluster()}, clock=lambda: NOW
    )
    try:
        assert pipeline.poll_kubernetes()
        first = pipeline.drilldown
        assert first is not None
        assert not pipeline.poll_kubernetes()
        second = pipeline.drilldown
        # A new publish (the status changed), the same explanations of the same figures.
        assert second is not None
        assert second is not first
        assert second.records == first.records
        assert second.teams() == first.teams()
        agree(second, pipeline.exposition.latest)
    finally:
        pipeline.close()


def test_the_pipeline_exports_workload_info_only_when_asked(tmp_path: Path) -> None:
    for enabled, expected in ((False, 0), (True, 7)):
        cfg = scenario_config(
            exporter={"workload_info": enabled}, limits={"max_workload_series": 7}
        )
        state = StateStore(tmp_path / f"{enabled}.db")
        pipeline = Pipeline(cfg, state, sources={"prod-eu": FlakyCluster()}, clock=lambda: NOW)
        try:
            assert pipeline.poll_kubernetes()
            text = pipeline.exposition.latest.decode()
        finally:
            pipeline.close()
        assert text.count("\nadoption_workload_info{") == expected
        assert ("adoption_collector_dropped_workload_series 1.0" in text) is enabled

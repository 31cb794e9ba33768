"""The product's semantics: active, adopted, mandated; ratios; onboarding and first deploy."""

from __future__ import annotations

import pytest

from collector import adoption, explain, rules, tally
from collector.config import Settings
from collector.model import (
    ClusterObservation,
    DeployTool,
    GitHubObservation,
    Namespace,
    Path,
    RepoPath,
    Workload,
)
from collector.state import Evidence, TeamTimes
from tests.records import GOLDEN, ns, repo, settings, ts, wl

NOW = ts("2026-09-15")


def summarise(
    cfg: Settings, namespaces: list[Namespace], workloads: list[Workload], cluster: str = "c1"
) -> tally.ClusterSummary:
    observation = ClusterObservation(cluster, tuple(namespaces), tuple(workloads))
    return tally.summarise(observation, cfg, rules.GoldenPathMatcher(cfg.golden_paths))


def compute(
    cfg: Settings,
    namespaces: list[Namespace],
    workloads: list[Workload],
    history: dict[str, TeamTimes] | None = None,
) -> adoption.Snapshot:
    summary = summarise(cfg, namespaces, workloads)
    if history is None:
        seen, deploy = adoption.merge_evidence([summary])
        history = {
            t: TeamTimes(
                e.time if (e := seen.get(t)) else None, e.time if (e := deploy.get(t)) else None
            )
            for t in seen.keys() | deploy.keys()
        }
    return adoption.compute([summary], history, cfg, NOW)


def test_active_adopted_and_ratios() -> None:
    cfg = settings(teams={"mandated": ["Billing"]})
    snap = compute(
        cfg,
        [ns("pay", team="payments"), ns("bill", team="billing"), ns("srch", team="search")],
        [
            wl("pay", "api", labels=GOLDEN),
            wl("pay", "worker"),
            wl("bill", "ledger", labels=GOLDEN),
            wl("srch", "indexer"),
        ],
    )
    assert [(t.team, t.golden, t.shadow, t.adopted, t.mandated) for t in snap.teams] == [
        ("billing", 1, 0, True, True),
        ("payments", 1, 1, True, False),
        ("search", 0, 1, False, False),
    ]
    assert (snap.active_teams, snap.adopted_teams) == (3, 2)
    assert snap.ratio == pytest.approx(2 / 3)
    # billing is mandated: 1 adopted (payments) of 2 voluntary teams (payments, search)
    assert snap.voluntary_ratio == pytest.approx(1 / 2)
    assert snap.workloads == {("c1", Path.GOLDEN): 2, ("c1", Path.SHADOW): 2}
    assert snap.workload_ratio == pytest.approx(0.5)
    assert snap.golden_paths == {"service-chart": 2}


def test_no_ratio_when_no_active_team() -> None:
    snap = compute(settings(), [ns("free")], [wl("free", "orphan")])
    assert (snap.active_teams, snap.ratio, snap.voluntary_ratio) == (0, None, None)
    assert snap.unowned == {"c1": 1}
    assert snap.workload_ratio == 0.0


def test_no_voluntary_ratio_when_every_active_team_is_mandated() -> None:
    cfg = settings(teams={"mandated": ["billing"]})
    snap = compute(cfg, [ns("bill", team="billing")], [wl("bill", "ledger")])
    assert (snap.ratio, snap.voluntary_ratio) == (0.0, None)


def test_cronjob_jobs_are_not_workloads_of_their_own() -> None:
    snap = compute(
        settings(),
        [ns("pay", team="payments")],
        [
            wl("pay", "nightly", kind="CronJob"),
            wl("pay", "nightly-29001", kind="Job", controller_kind="CronJob"),
            wl("pay", "migrate", kind="Job"),
        ],
    )
    assert snap.teams[0].shadow == 2


def test_excluded_namespaces_are_not_tracked() -> None:
    snap = compute(
        settings(),
        [ns("kube-system", team="platform"), ns("pay", team="payments")],
        [
            wl("kube-system", "coredns", manager="kubectl"),
            wl("kube-system", "proxy", labels=GOLDEN),
            wl("pay", "api", manager="helm"),
        ],
    )
    assert [t.team for t in snap.teams] == ["payments"]
    assert [h.team for h in snap.history] == ["payments"]
    # Not as unowned workloads either, nor in any other count.
    assert snap.workloads == {("c1", Path.GOLDEN): 0, ("c1", Path.SHADOW): 1}
    assert snap.unowned == {"c1": 0}
    assert snap.golden_paths == {"service-chart": 0}
    assert {tool.value: n for tool, n in snap.tools.items() if n} == {"helm": 1}


def test_include_namespaces_glob() -> None:
    cfg = settings(kubernetes={"include_namespaces": ["team-*"]})
    snap = compute(
        cfg,
        [ns("team-pay", team="payments"), ns("sandbox", team="search")],
        [wl("team-pay", "api"), wl("sandbox", "toy")],
    )
    assert [t.team for t in snap.teams] == ["payments"]


@pytest.mark.parametrize(
    ("kubernetes", "teams"),
    [
        # Listing one more exclusion keeps the system namespaces excluded.
        ({"exclude_namespaces": ["legacy-tools"]}, ["payments"]),
        ({"track_system_namespaces": True}, ["legacy", "payments", "platform"]),
        (
            {"track_system_namespaces": True, "exclude_namespaces": ["legacy-*"]},
            ["payments", "platform"],
        ),
    ],
)
def test_system_namespaces_stay_excluded_unless_tracked(
    kubernetes: dict[str, object], teams: list[str]
) -> None:
    snap = compute(
        settings(kubernetes=kubernetes),
        [
            ns("kube-system", team="platform"),
            ns("kube-public", team="platform"),
            ns("kube-node-lease", team="platform"),
            ns("legacy-tools", team="legacy"),
            ns("pay", team="payments"),
        ],
        [
            wl("kube-system", "coredns"),
            wl("kube-public", "a"),
            wl("kube-node-lease", "b"),
            wl("legacy-tools", "cron"),
            wl("pay", "api"),
        ],
    )
    assert [t.team for t in snap.teams] == teams
    tracked = {"payments": 1, "legacy": 1, "platform": 3}
    assert sum(snap.workloads.values()) == sum(tracked[t] for t in teams)


def test_workload_in_unlisted_namespace_still_counts_by_its_own_label() -> None:
    # The namespace list can miss a namespace created after it was read.
    snap = compute(settings(), [], [wl("late", "api", labels={"team": "payments"})])
    assert [(t.team, t.shadow) for t in snap.teams] == [("payments", 1)]


def test_unowned_workloads_are_left_out_of_team_figures() -> None:
    snap = compute(
        settings(), [ns("pay", team="payments"), ns("misc")], [wl("pay", "a"), wl("misc", "b")]
    )
    assert [t.team for t in snap.teams] == ["payments"]
    assert snap.unowned == {"c1": 1}
    assert sum(snap.workloads.values()) == 2


def test_onboarded_is_the_later_of_launch_and_earliest_evidence() -> None:
    snap = compute(
        settings(),
        [
            ns("old", created="2025-06-01", team="legacy"),  # before launch 2026-03-01
            ns("pay", created="2026-05-01", team="payments"),
        ],
        [wl("old", "a", created="2025-07-01"), wl("pay", "api", created="2026-04-20")],
    )
    assert {h.team: h.onboarded for h in snap.history} == {
        "legacy": ts("2026-03-01"),
        "payments": ts("2026-04-20"),  # the workload predates its namespace label's namespace
    }


def test_onboarded_override_wins_and_is_normalised() -> None:
    cfg = settings(teams={"onboarded": {"group:default/Payments": "2026-06-01"}})
    snap = compute(
        cfg, [ns("pay", created="2026-04-01", team="payments")], [wl("pay", "api", labels=GOLDEN)]
    )
    (history,) = snap.history
    assert (history.onboarded, history.first_deploy) == (ts("2026-06-01"), ts("2026-04-01"))
    assert history.time_to_first_deploy == 0.0  # never negative


def test_namespace_hosting_another_teams_workload_is_not_evidence_for_it() -> None:
    summary = summarise(
        settings(),
        [ns("shared", created="2026-03-05", team="platform")],
        [wl("shared", "pay-proxy", created="2026-07-01", labels={"team": "payments"})],
    )
    assert {team: explain.evidence(found) for team, found in summary.first_seen.items()} == {
        "platform": Evidence(ts("2026-03-05"), "namespace:c1/shared"),
        "payments": Evidence(ts("2026-07-01"), "workload:c1/shared/Deployment/pay-proxy"),
    }


def test_static_namespace_map_is_evidence() -> None:
    cfg = settings(ownership={"namespaces": {"legacy-ns": "Payments"}})
    summary = summarise(cfg, [ns("legacy-ns", created="2026-03-10")], [])
    assert summary.first_seen == {"payments": Evidence(ts("2026-03-10"), "namespace:c1/legacy-ns")}


def test_first_deploy_is_earliest_golden_workload_and_time_to_first_deploy() -> None:
    snap = compute(
        settings(),
        [ns("pay", created="2026-04-01", team="payments")],
        [
            wl("pay", "old-shadow", created="2026-04-02"),
            wl("pay", "api", created="2026-05-01", labels=GOLDEN),
            wl("pay", "api2", created="2026-04-11", labels=GOLDEN),
        ],
    )
    (history,) = snap.history
    assert history.first_deploy == ts("2026-04-11")
    assert history.time_to_first_deploy == 10 * 86400


def test_history_from_state_outlives_the_workloads() -> None:
    # No workload now: the team is no longer active but its history is still reported.
    history = {"payments": TeamTimes(ts("2026-03-20"), ts("2026-04-01"))}
    snap = compute(settings(), [], [], history)
    assert snap.teams == ()
    assert snap.history == (adoption.TeamHistory("payments", ts("2026-03-20"), ts("2026-04-01")),)


def test_team_without_dated_evidence_has_no_onboarding() -> None:
    snap = compute(settings(), [ns("pay", created=None, team="payments")], [])
    assert snap.history == ()  # nothing to date it by, nothing stored
    snap = compute(
        settings(),
        [ns("pay", created=None, team="payments")],
        [wl("pay", "api", created=None)],
        history={},
    )
    assert snap.history == (adoption.TeamHistory("payments", None, None),)


def test_clusters_add_up() -> None:
    cfg = settings()
    one = summarise(cfg, [ns("pay", team="payments")], [wl("pay", "a", labels=GOLDEN)], "eu")
    two = summarise(cfg, [ns("pay", team="payments")], [wl("pay", "b"), wl("pay", "c")], "us")
    snap = adoption.compute([one, two], {}, cfg, NOW)
    assert [(t.team, t.golden, t.shadow) for t in snap.teams] == [("payments", 1, 2)]
    assert snap.workloads == {
        ("eu", Path.GOLDEN): 1,
        ("eu", Path.SHADOW): 0,
        ("us", Path.GOLDEN): 0,
        ("us", Path.SHADOW): 2,
    }


def test_deploy_tools_are_all_present() -> None:
    snap = compute(settings(), [ns("pay", team="payments")], [wl("pay", "a", manager="helm")])
    assert {tool.value: n for tool, n in snap.tools.items()} == {
        "helm": 1,
        "argocd": 0,
        "flux": 0,
        "kubectl": 0,
        "terraform": 0,
        "pulumi": 0,
        "other": 0,
        "unknown": 0,
    }


def test_deploy_tools_count_unowned_workloads_too() -> None:
    # The tool metric counts every tracked workload; team_tools only owned ones.
    snap = compute(
        settings(),
        [ns("pay", team="payments"), ns("misc")],
        [
            wl("pay", "a", manager="helm"),
            wl("pay", "b", manager="kubectl", labels=GOLDEN),
            wl("misc", "c", manager="helm"),
            wl("misc", "d", manager="terraform"),
            wl("misc", "e"),
        ],
    )
    assert {tool.value: n for tool, n in snap.tools.items() if n} == {
        "helm": 2,
        "kubectl": 1,
        "terraform": 1,
        "unknown": 1,
    }
    assert snap.team_tools == {
        ("payments", Path.SHADOW, DeployTool.HELM): 1,
        ("payments", Path.GOLDEN, DeployTool.KUBECTL): 1,
    }
    assert snap.unowned == {"c1": 3}


@pytest.mark.parametrize("eu_first", [True, False], ids=["eu-first", "us-first"])
@pytest.mark.parametrize("with_settings", [False, True], ids=["all-teams", "kept-teams"])
def test_merge_evidence_keeps_the_earliest_across_clusters(
    eu_first: bool, with_settings: bool
) -> None:
    # The state store only ever moves times earlier: a later time written here on the
    # first poll would never be corrected.
    cfg = settings()
    eu = summarise(
        cfg,
        [ns("pay", created="2026-03-10", team="payments")],
        [wl("pay", "a", created="2026-05-01", labels=GOLDEN)],
        "eu",
    )
    us = summarise(
        cfg,
        [ns("pay", created="2026-03-20", team="payments")],
        [wl("pay", "b", created="2026-04-10", labels=GOLDEN)],
        "us",
    )
    summaries = [eu, us] if eu_first else [us, eu]
    seen, deploy = adoption.merge_evidence(summaries, settings=cfg if with_settings else None)
    assert seen == {"payments": Evidence(ts("2026-03-10"), "namespace:eu/pay")}
    assert deploy == {"payments": Evidence(ts("2026-04-10"), "workload:us/pay/Deployment/b")}


def test_merge_evidence_takes_a_repository_older_than_every_cluster() -> None:
    cfg = settings()
    cluster = summarise(cfg, [ns("pay", created="2026-03-10", team="payments")], [])
    observation = GitHubObservation(
        "acme",
        (
            repo("acme/new", created="2026-04-05", property_team="payments"),
            repo("acme/old", created="2026-01-05", property_team="payments"),
        ),
    )
    repos = adoption.summarise_repositories(observation, rules.RepositoryMatcher(()))
    seen, _ = adoption.merge_evidence([cluster], repos)
    assert seen == {"payments": Evidence(ts("2026-01-05"), "repository:acme/old")}


@pytest.mark.parametrize(
    ("now", "months", "target"),
    [
        ("2026-02-28", -1, None),  # before launch: no target
        ("2026-03-01", 0, 0.10),
        ("2026-05-31", 2, 0.10),
        ("2026-06-01", 3, 0.30),
        ("2026-08-31", 5, 0.30),
        ("2026-09-01", 6, 0.50),
        ("2027-02-28", 11, 0.50),
        ("2027-03-01", 12, 0.70),
        ("2030-01-01", 46, 0.70),
    ],
)
def test_target_ratio_by_whole_months(now: str, months: int, target: float | None) -> None:
    cfg = settings()
    assert adoption.whole_months(cfg.platform.launch_date, ts(now)) == months
    assert adoption.target_ratio(cfg, ts(now)) == target


def test_custom_targets() -> None:
    cfg = settings(
        platform={
            "launch_date": "2026-03-01",
            "adoption_targets": [{"months": 6, "ratio": 0.4}, {"months": 1, "ratio": 0.05}],
        }
    )
    assert adoption.target_ratio(cfg, ts("2026-03-15")) is None
    assert adoption.target_ratio(cfg, ts("2026-04-01")) == 0.05
    assert adoption.target_ratio(cfg, ts("2026-09-01")) == 0.4


def test_teams_beyond_max_teams_are_folded_but_every_team_counts_in_the_ratios() -> None:
    cfg = settings(teams={"mandated": ["billing"]}, limits={"max_teams": 2})
    history = {
        "payments": TeamTimes(ts("2026-03-05"), None),
        "search": TeamTimes(ts("2026-03-10"), None),
    }
    snap = compute(
        cfg,
        [ns("n")],
        [
            wl("n", "pay", labels={"team": "payments", **GOLDEN}),
            wl("n", "idx", labels={"team": "search"}),
            # Older than every other workload, yet new to the history: it ranks after it.
            wl("n", "old", labels={"team": "aaa", **GOLDEN}, created="2025-01-01"),
            wl("n", "ledger", labels={"team": "billing"}),  # configured: kept first
            wl("n", "odd", labels={"team": "_Other"}),  # the reserved name is always folded
        ],
        history,
    )
    assert [(t.team, t.golden, t.shadow, t.adopted, t.mandated) for t in snap.teams] == [
        ("_other", 1, 2, True, False),
        ("billing", 0, 1, False, True),
        ("payments", 1, 0, True, False),
    ]
    assert snap.dropped_teams == 3
    assert (snap.active_teams, snap.adopted_teams, snap.ratio) == (5, 2, 2 / 5)
    assert snap.voluntary_ratio == 2 / 4
    # Folded teams have no history series: a bucket of teams has no onboarding date.
    assert snap.history == (
        adoption.TeamHistory("billing", None, None),
        adoption.TeamHistory("payments", ts("2026-03-05"), None),
    )


@pytest.mark.parametrize(
    ("max_teams", "kept"),
    [
        (1, {"configured"}),
        (2, {"configured", "h-early"}),
        (4, {"configured", "h-early", "h-late", "h-undated"}),
        (5, {"configured", "h-early", "h-late", "h-undated", "n-old"}),
        (6, {"configured", "h-early", "h-late", "h-undated", "n-old", "n-new-a"}),
        (7, {"configured", "h-early", "h-late", "h-undated", "n-old", "n-new-a", "n-new-b"}),
        (8, {"configured", "h-early", "h-late", "h-undated", "n-old", "n-new-a", "n-new-b", "n-x"}),
        (
            100,
            {"configured", "h-early", "h-late", "h-undated", "n-old", "n-new-a", "n-new-b", "n-x"},
        ),
    ],
)
def test_which_teams_keep_their_label(max_teams: int, kept: set[str]) -> None:
    cfg = settings(
        teams={"onboarded": {"Configured": "2026-06-01"}}, limits={"max_teams": max_teams}
    )
    history = {
        "h-late": TeamTimes(ts("2026-05-01"), None),
        # This poll's evidence is earlier than the stored one, and counts.
        "h-early": TeamTimes(ts("2026-06-01"), None),
        "h-undated": TeamTimes(None, ts("2026-07-01")),
    }
    evidence = {
        "h-early": ts("2026-04-01"),
        "n-old": ts("2024-01-01"),
        "n-new-b": ts("2026-08-01"),
        "n-new-a": ts("2026-08-01"),
        "configured": ts("2026-09-01"),
    }
    teams = {*history, *evidence, "n-x", "_other"}
    assert set(adoption.kept_teams(teams, history, evidence.get, cfg)) == kept


def test_repositories_of_folded_teams_are_folded() -> None:
    cfg = settings(limits={"max_teams": 1})
    observation = GitHubObservation(
        "acme",
        (
            repo("acme/a", created="2026-03-10", workflows=(), property_team="payments"),
            repo("acme/b", created="2026-04-10", property_team="search"),
            repo("acme/c", created="2026-04-11", workflows=(), property_team="web"),
        ),
    )
    repos = adoption.summarise_repositories(observation, rules.RepositoryMatcher(()))
    seen, deploy = adoption.merge_evidence([], repos, {}, cfg)
    assert (seen, deploy) == ({"payments": Evidence(ts("2026-03-10"), "repository:acme/a")}, {})
    history = {"payments": TeamTimes(seen["payments"].time, None)}
    snap = adoption.compute([], history, cfg, NOW, repos)
    assert snap.repos == {
        ("payments", RepoPath.SHADOW): 1,
        ("_other", RepoPath.OTHER): 1,
        ("_other", RepoPath.SHADOW): 1,
    }
    assert snap.dropped_teams == 2


def test_only_kept_teams_reach_the_history_and_the_choice_survives_the_write() -> None:
    cfg = settings(limits={"max_teams": 2})
    summary = summarise(
        cfg,
        [ns("n")],
        [
            wl("n", "a", labels={"team": "zeta"}, created="2026-03-02"),
            wl("n", "b", labels={"team": "alpha"}, created="2026-03-03"),
            wl("n", "c", labels={"team": "beta"}, created="2026-03-03"),
            wl("n", "d", labels={"team": "gamma"}, created=None),
        ],
    )
    history = {"old": TeamTimes(ts("2026-03-01"), None)}
    seen, deploy = adoption.merge_evidence([summary], None, history, cfg)
    assert (seen, deploy) == (
        {"zeta": Evidence(ts("2026-03-02"), "workload:c1/n/Deployment/a")},
        {},
    )
    history["zeta"] = TeamTimes(seen["zeta"].time, None)
    snap = adoption.compute([summary], history, cfg, NOW)
    assert [t.team for t in snap.teams] == ["_other", "zeta"]
    assert [h.team for h in snap.history] == ["old", "zeta"]
    assert snap.dropped_teams == 3

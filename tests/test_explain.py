"""Why each workload and repository counts as it does: exact reasons, team sources and tools.

Every expected reason below is written out by hand from the scenario's golden paths.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import pytest

from collector import adoption, explain, rules, tally
from collector.config import Settings
from collector.model import ClusterObservation, GitHubObservation, Workload, field_manager, workload
from collector.state import StateStore
from tests.records import component, ns, repo, settings, ts, wl

NOW = ts("2026-09-15")
HELM = {"app.kubernetes.io/managed-by": "Helm"}
PROVISIONED = {"platform.example.com/provisioned": "true"}

GOLDEN_PATHS: list[dict[str, Any]] = [
    {
        "name": "service-chart",
        "match": {
            "labels": {
                "matchLabels": HELM,
                "matchExpressions": [
                    {"key": "helm.sh/chart", "operator": "Matches", "values": ["^golden-service-"]}
                ],
            }
        },
    },
    {
        "name": "gitops",
        "match": {
            "namespace_labels": {"matchLabels": PROVISIONED},
            "field_managers": ["argocd-controller"],
        },
    },
    {
        "name": "service-template",
        "github": {
            "template_repositories": ["acme/service-template"],
            "source_templates": ["template:default/service"],
            "workflows": ["acme/ci/.github/workflows/deploy.yml"],
        },
    },
]


def config(**sections: object) -> Settings:
    return settings(
        golden_paths=GOLDEN_PATHS,
        ownership={"namespaces": {"legacy": "Ledger"}},
        teams={"mandated": ["search"], "onboarded": {"ledger": "2026-05-01"}},
        **sections,
    )


def managed(record: Workload, manager: str, when: str) -> Workload:
    entry = field_manager(manager, ts(when), True)
    return workload(
        record.kind,
        record.namespace,
        record.name,
        record.created,
        record.labels,
        record.annotations,
        (entry,),
    )


GITHUB = GitHubObservation(
    "acme",
    (
        repo(
            "acme/checkout",
            created="2026-02-10",
            template="acme/service-template",
            components=(component("checkout", "group:default/payments"),),
        ),
        repo(
            "acme/svc",
            created="2026-03-05",
            components=(component("svc", "search", source_template="template:default/service"),),
        ),
        repo(
            "acme/web",
            created="2026-03-06",
            workflows=("acme/ci/.github/workflows/deploy.yml@v2",),
            property_team="search",
        ),
        repo("acme/tools", created="2026-03-07", workflows=(), property_team="search"),
        repo("acme/docs", created="2026-03-08"),
    ),
)

CLUSTER = ClusterObservation(
    "prod-eu",
    (
        ns("pay", created="2026-03-10", team="payments"),
        ns("srch", created="2026-02-14", team="search", **PROVISIONED),
        ns("misc", created="2026-01-01"),
        ns("legacy", created="2026-03-20"),
    ),
    (
        managed(
            wl("pay", "api", created="2026-04-01", labels={**HELM, "helm.sh/chart": "golden-service-1.4"}),
            "helm", "2026-04-01",
        ),
        managed(
            wl("pay", "nginx", created="2026-03-12", labels={**HELM, "helm.sh/chart": "nginx-1.2.0"}),
            "kubectl-client-side-apply", "2026-03-12T10:00:00",
        ),
        wl("pay", "worker", created="2026-03-11", labels={"team": "Search"}),
        managed(
            wl("srch", "indexer", created="2026-02-20T10:00:00"),
            "kubectl-client-side-apply", "2026-02-20T10:00:00",
        ),
        managed(wl("srch", "deployer", created="2026-05-01"), "argocd-controller", "2026-05-02"),
        wl("misc", "stray", created="2026-03-01"),
        wl("misc", "checkout", created="2026-03-15", labels={"backstage.io/kubernetes-id": "checkout"}),
        wl("legacy", "ledger", kind="StatefulSet", created="2026-03-25"),
    ),
)  # fmt: skip


def drilldown(tmp_path: Path, cfg: Settings | None = None) -> explain.Drilldown:
    cfg = cfg or config()
    repo_matcher = rules.RepositoryMatcher(cfg.golden_paths)
    repos = adoption.summarise_repositories(GITHUB, repo_matcher)
    links = adoption.build_links(GITHUB, repo_matcher)
    summary = tally.summarise(CLUSTER, cfg, rules.GoldenPathMatcher(cfg.golden_paths), links)
    state = StateStore(tmp_path / "state.db")
    try:
        seen, deploy = adoption.merge_evidence([summary], repos, state.history, cfg)
        history = state.record(seen, deploy)
    finally:
        state.close()
    snapshot = adoption.compute([summary], history, cfg, NOW, repos)
    return explain.Drilldown(
        snapshot, clusters=[summary], repos=repos, history=history, settings=cfg, polled_at=NOW
    )


def test_every_workload_reason_names_the_rule_that_decided_it(tmp_path: Path) -> None:
    d = drilldown(tmp_path)
    assert [
        (r.namespace, r.name, r.path, r.golden_path, r.reason) for r in d.workloads()
    ] == [
        ("legacy", "ledger", "shadow", None,
         "service-chart: label app.kubernetes.io/managed-by is absent"),
        ("misc", "checkout", "golden", "service-template",
         "catalog Component checkout in golden repository acme/checkout (service-template)"),
        ("misc", "stray", "shadow", None,
         "service-chart: label app.kubernetes.io/managed-by is absent"),
        ("pay", "api", "golden", "service-chart",
         "service-chart: labels app.kubernetes.io/managed-by=Helm, "
         "helm.sh/chart Matches ^golden-service-"),
        ("pay", "nginx", "shadow", None,
         'service-chart: label helm.sh/chart is "nginx-1.2.0", not matching ^golden-service-'),
        ("pay", "worker", "shadow", None,
         "service-chart: label app.kubernetes.io/managed-by is absent"),
        ("srch", "deployer", "golden", "gitops",
         "gitops: namespace labels platform.example.com/provisioned=true; "
         "field managers include argocd-controller"),
        # gitops held its namespace label (one requirement), service-chart none
        ("srch", "indexer", "shadow", None,
         "gitops: field managers are kubectl-client-side-apply, none of argocd-controller"),
    ]  # fmt: skip


def test_team_source_tool_and_manager_of_each_workload(tmp_path: Path) -> None:
    d = drilldown(tmp_path)
    assert [(r.name, r.team, r.team_source, r.team_detail, r.tool) for r in d.workloads()] == [
        ("ledger", "ledger", "static_map", "ownership.namespaces", "unknown"),
        ("checkout", "payments", "catalog", "Component checkout in acme/checkout", "unknown"),
        ("stray", None, "none", None, "unknown"),
        ("api", "payments", "namespace_label", "team", "helm"),
        ("nginx", "payments", "namespace_label", "team", "kubectl"),
        ("worker", "search", "workload_label", "team", "unknown"),
        ("deployer", "search", "namespace_label", "team", "argocd"),
        ("indexer", "search", "namespace_label", "team", "kubectl"),
    ]
    (indexer,) = d.workloads(namespace="srch", tool="kubectl")
    assert d.workload_json(indexer) == {
        "cluster": "prod-eu",
        "namespace": "srch",
        "kind": "Deployment",
        "name": "indexer",
        "created": "2026-02-20T10:00:00Z",
        "team": "search",
        "team_source": "namespace_label",
        "team_source_detail": "team",
        "path": "shadow",
        "golden_path": None,
        "reason": "gitops: field managers are kubectl-client-side-apply, none of argocd-controller",
        "tool": "kubectl",
        "manager": "kubectl-client-side-apply",
        "manager_time": "2026-02-20T10:00:00Z",
    }
    (stray,) = d.workloads(namespace="misc", path="shadow")
    assert (d.workload_json(stray)["manager"], d.workload_json(stray)["manager_time"]) == (
        None,
        None,
    )


def test_every_repository_reason_names_the_signal(tmp_path: Path) -> None:
    d = drilldown(tmp_path)
    repos = d.repositories()
    assert repos is not None
    assert [d.repository_json(r) for r in repos] == [
        {"repository": "acme/checkout", "team": "payments", "path": "golden",
         "golden_path": "service-template",
         "reason": "generated from template acme/service-template",
         "created": "2026-02-10T00:00:00Z"},
        {"repository": "acme/docs", "team": None, "path": "other", "golden_path": None,
         "reason": "no workflows", "created": "2026-03-08T00:00:00Z"},
        {"repository": "acme/svc", "team": "search", "path": "golden",
         "golden_path": "service-template",
         "reason": "catalog source template template:default/service",
         "created": "2026-03-05T00:00:00Z"},
        {"repository": "acme/tools", "team": "search", "path": "shadow", "golden_path": None,
         "reason": "has 1 workflow, none golden", "created": "2026-03-07T00:00:00Z"},
        {"repository": "acme/web", "team": "search", "path": "golden",
         "golden_path": "service-template",
         "reason": "calls reusable workflow acme/ci/.github/workflows/deploy.yml",
         "created": "2026-03-06T00:00:00Z"},
    ]  # fmt: skip
    assert [r.repository for r in d.repositories(team="search", path="golden") or ()] == [
        "acme/svc",
        "acme/web",
    ]


def test_team_objects_with_their_evidence(tmp_path: Path) -> None:
    d = drilldown(tmp_path)
    assert d.teams() == [
        {
            "team": "ledger",
            "active": True,
            "adopted": False,
            "mandated": False,
            "workload_counts": {"golden": 0, "shadow": 1},
            "tools": {"unknown": 1},
            "golden_share": 0.0,
            "repository_counts": {"golden": 0, "shadow": 0, "other": 0},
            "onboarded": "2026-05-01T00:00:00Z",
            "onboarded_evidence": {
                "source": "override",
                "object": "teams.onboarded",
                "time": "2026-05-01T00:00:00Z",
            },
            "first_deploy": None,
            "first_deploy_evidence": None,
            "time_to_first_deploy_seconds": None,
        },
        {
            "team": "payments",
            "active": True,
            "adopted": True,
            "mandated": False,
            "workload_counts": {"golden": 2, "shadow": 1},
            "tools": {"helm": 1, "kubectl": 1, "unknown": 1},
            "golden_share": 2 / 3,
            "repository_counts": {"golden": 1, "shadow": 0, "other": 0},
            # acme/checkout (2026-02-10) is its earliest evidence, before the launch.
            "onboarded": "2026-03-01T00:00:00Z",
            "onboarded_evidence": {
                "source": "launch_date",
                "object": "acme/checkout",
                "time": "2026-02-10T00:00:00Z",
            },
            "first_deploy": "2026-03-15T00:00:00Z",
            "first_deploy_evidence": {
                "source": "workload",
                "object": "prod-eu/misc/Deployment/checkout",
                "time": "2026-03-15T00:00:00Z",
            },
            "time_to_first_deploy_seconds": 14 * 86400.0,
        },
        {
            "team": "search",
            "active": True,
            "adopted": True,
            "mandated": True,
            "workload_counts": {"golden": 1, "shadow": 2},
            "tools": {"argocd": 1, "kubectl": 1, "unknown": 1},
            "golden_share": 1 / 3,
            "repository_counts": {"golden": 2, "shadow": 1, "other": 0},
            "onboarded": "2026-03-01T00:00:00Z",
            "onboarded_evidence": {
                "source": "launch_date",
                "object": "prod-eu/srch",
                "time": "2026-02-14T00:00:00Z",
            },
            "first_deploy": "2026-05-01T00:00:00Z",
            "first_deploy_evidence": {
                "source": "workload",
                "object": "prod-eu/srch/Deployment/deployer",
                "time": "2026-05-01T00:00:00Z",
            },
            "time_to_first_deploy_seconds": ts("2026-05-01") - ts("2026-03-01"),
        },
    ]
    team = d.team("search")
    assert team is not None
    assert [w["name"] for w in team["workloads"]] == ["worker", "deployer", "indexer"]
    assert [r["repository"] for r in team["repositories"]] == ["acme/svc", "acme/tools", "acme/web"]
    assert d.team("nobody") is None


def test_onboarding_evidence_after_the_launch_names_the_object(tmp_path: Path) -> None:
    d = drilldown(tmp_path, config(platform={"launch_date": "2026-01-01"}))
    evidence = {t["team"]: t["onboarded_evidence"] for t in d.teams()}
    assert evidence["payments"] == {
        "source": "repository",
        "object": "acme/checkout",
        "time": "2026-02-10T00:00:00Z",
    }
    assert evidence["search"] == {
        "source": "namespace",
        "object": "prod-eu/srch",
        "time": "2026-02-14T00:00:00Z",
    }


def test_summary(tmp_path: Path) -> None:
    assert drilldown(tmp_path).summary() == {
        "active_teams": 3,
        "adopted_teams": 2,
        "adoption_ratio": 2 / 3,
        "voluntary_ratio": 1 / 2,
        "target_ratio": 0.5,
        "platform_age_months": 6,
        "workloads": {"golden": 3, "shadow": 5},
        "polled_at": "2026-09-15T00:00:00Z",
        "predictors": None,  # a snapshot of adoption.compute alone: not evaluated
    }


@pytest.mark.parametrize(
    ("filters", "names"),
    [
        ({}, ["ledger", "checkout", "stray", "api", "nginx", "worker", "deployer", "indexer"]),
        ({"team": "search"}, ["worker", "deployer", "indexer"]),
        ({"team": "search", "path": "shadow"}, ["worker", "indexer"]),
        ({"team": "payments", "namespace": "misc"}, ["checkout"]),
        ({"cluster": "prod-eu", "tool": "kubectl"}, ["nginx", "indexer"]),
        ({"cluster": "prod-us"}, []),
        ({"path": "purple"}, []),
        ({"team": "nobody", "path": "golden"}, []),
    ],
)
def test_workload_filters(tmp_path: Path, filters: dict[str, str], names: list[str]) -> None:
    assert [r.name for r in drilldown(tmp_path).workloads(**filters)] == names


def test_records_are_not_scanned_by_the_garbage_collector(tmp_path: Path) -> None:
    # Kept between polls, 50,000 tracked records would lengthen every full collection (a GIL
    # pause every scrape waits out); plain values let them go untracked.
    records = drilldown(tmp_path).workloads()
    assert records
    assert not any(gc.is_tracked(r) for r in records)


def record(namespace: str, kind: str, name: str, created: float | None) -> explain.WorkloadRecord:
    return explain.WorkloadRecord(
        "prod", namespace, kind, name, created, None, "none", None, "shadow", None, "r", "unknown",
        None, None,
    )  # fmt: skip


def test_a_clusters_records_sort_by_namespace_kind_and_name() -> None:
    records = [
        record("pay", "Job", "a", 3.0),
        record("ops", "Deployment", "z", None),
        record("pay", "Deployment", "b", 1.0),
        record("pay", "Deployment", "a", 2.0),
    ]
    explain.sort_cluster(records)
    assert [(r.namespace, r.kind, r.name) for r in records] == [
        ("ops", "Deployment", "z"),
        ("pay", "Deployment", "a"),
        ("pay", "Deployment", "b"),
        ("pay", "Job", "a"),
    ]


def test_two_records_of_one_object_still_sort() -> None:
    # Told apart only by a time that is None in one: not comparable, so sorted by key,
    # keeping their order.
    records = [record("pay", "Job", "a", 3.0), record("b", "Job", "x", 1.0)]
    records += [record("b", "Job", "x", None)]
    explain.sort_cluster(records)
    assert [(r.namespace, r.created) for r in records] == [("b", 1.0), ("b", None), ("pay", 3.0)]

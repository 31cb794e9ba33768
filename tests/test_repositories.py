"""Repositories: golden-path signals, owners, and the catalog links that attribute workloads."""

from __future__ import annotations

import pytest

from collector import adoption, explain, rules, tally
from collector.config import Settings
from collector.model import (
    ClusterObservation,
    GitHubObservation,
    Namespace,
    Path,
    RepoPath,
    Repository,
    Workload,
)
from collector.ownership import repository_team
from collector.state import Evidence, TeamTimes
from tests.records import GOLDEN, component, ns, repo, settings, ts, wl

DEPLOY = "acme/platform-workflows/.github/workflows/deploy.yml"

GITHUB_PATHS = [
    {"name": "service-chart", "match": {"labels": {"matchLabels": GOLDEN}}},
    {
        "name": "service-template",
        "github": {
            "template_repositories": ["Acme/Service-Template"],
            "source_templates": ["template:default/service"],
            "workflows": [DEPLOY],
        },
    },
    {"name": "batch-template", "github": {"template_repositories": ["acme/batch-template"]}},
]


def cfg(**sections: object) -> Settings:
    return settings(golden_paths=GITHUB_PATHS, **sections)


def matcher() -> rules.RepositoryMatcher:
    return rules.RepositoryMatcher(cfg().golden_paths)


@pytest.mark.parametrize(
    ("repository", "expected"),
    [
        (repo("acme/a", template="acme/service-template"), (RepoPath.GOLDEN, "service-template")),
        (repo("acme/a", template="ACME/SERVICE-TEMPLATE"), (RepoPath.GOLDEN, "service-template")),
        (repo("acme/a", template="acme/batch-template"), (RepoPath.GOLDEN, "batch-template")),
        (repo("acme/a", template="acme/other-template"), (RepoPath.OTHER, None)),
        (
            repo("acme/a", components=(component("a", source_template="Template:default/Service"),)),
            (RepoPath.GOLDEN, "service-template"),
        ),
        (
            repo("acme/a", components=(component("a", source_template="template:default/batch"),)),
            (RepoPath.OTHER, None),
        ),
        (repo("acme/a", workflows=(f"{DEPLOY}@v2",)), (RepoPath.GOLDEN, "service-template")),
        (repo("acme/a", workflows=(f"{DEPLOY}@refs/heads/main",)), (RepoPath.GOLDEN, "service-template")),
        (repo("acme/a", workflows=("ACME/Platform-Workflows/.github/workflows/deploy.yml@0a1b2c",)), (RepoPath.GOLDEN, "service-template")),
        # Git paths are case-sensitive: a different file is not the golden workflow.
        (repo("acme/a", workflows=("acme/platform-workflows/.github/workflows/Deploy.yml@v2",)), (RepoPath.SHADOW, None)),
        (repo("acme/a", workflows=("./.github/workflows/deploy.yml",)), (RepoPath.SHADOW, None)),
        (repo("acme/a", workflows=()), (RepoPath.SHADOW, None)),  # steps only, no reusable call
        (repo("acme/a"), (RepoPath.OTHER, None)),
    ],
)  # fmt: skip
def test_repository_path(repository: Repository, expected: tuple[RepoPath, str | None]) -> None:
    assert matcher().path(repository) == expected


def test_first_golden_path_in_config_order_wins() -> None:
    paths = [
        {"name": "first", "github": {"workflows": [DEPLOY]}},
        {"name": "second", "github": {"template_repositories": ["acme/service-template"]}},
    ]
    both = repo("acme/a", template="acme/service-template", workflows=(f"{DEPLOY}@v1",))
    assert rules.RepositoryMatcher(settings(golden_paths=paths).golden_paths).match(both) == "first"
    # Paths with workload criteria only never match a repository.
    only_k8s = settings().golden_paths
    assert rules.RepositoryMatcher(only_k8s).match(both) is None


@pytest.mark.parametrize(
    ("repository", "team"),
    [
        (repo("acme/a", components=(component("a", "group:default/Payments"),)), "payments"),
        (repo("acme/a", components=(component("a", "payments"),), property_team="search"), "payments"),
        (repo("acme/a", components=(component("a"), component("b", "user:default/jo"))), "jo"),
        (repo("acme/a", components=(component("a", "  "),), property_team="Search"), "search"),
        (repo("acme/a", property_team="search"), "search"),
        (repo("acme/a"), None),
    ],
)  # fmt: skip
def test_repository_team(repository: Repository, team: str | None) -> None:
    assert repository_team(repository) == team


def observe(*repos: Repository) -> GitHubObservation:
    return GitHubObservation("acme", tuple(repos))


def test_summarise_repositories() -> None:
    summary = adoption.summarise_repositories(
        observe(
            repo("acme/a", created="2026-01-05", template="acme/service-template", property_team="payments"),
            repo("acme/b", created="2025-11-01", workflows=(), property_team="payments"),
            repo("acme/c", created="2026-02-01", property_team="payments"),
            repo("acme/d", created="2026-03-01", components=(component("d", "search"),)),
            repo("acme/e", created="2024-01-01"),
        ),
        matcher(),
    )  # fmt: skip
    assert summary == adoption.RepositorySummary(
        team_repos={
            ("payments", RepoPath.GOLDEN): 1,
            ("payments", RepoPath.SHADOW): 1,
            ("payments", RepoPath.OTHER): 1,
            ("search", RepoPath.OTHER): 1,
        },
        unowned=1,
        first_seen={
            "payments": Evidence(ts("2025-11-01"), "repository:acme/b"),
            "search": Evidence(ts("2026-03-01"), "repository:acme/d"),
        },
        records=summary.records,
    )
    assert [(r.repository, r.team, r.path, r.golden_path, r.reason) for r in summary.records] == [
        (
            "acme/a",
            "payments",
            RepoPath.GOLDEN,
            "service-template",
            "generated from template acme/service-template",
        ),
        ("acme/b", "payments", RepoPath.SHADOW, None, "has 1 workflow, none golden"),
        ("acme/c", "payments", RepoPath.OTHER, None, "no workflows"),
        ("acme/d", "search", RepoPath.OTHER, None, "no workflows"),
        ("acme/e", None, RepoPath.OTHER, None, "no workflows"),
    ]


CATALOG = observe(
    # golden, owned by payments; selects workloads labelled backstage.io/kubernetes-id=checkout
    repo(
        "acme/checkout",
        template="acme/service-template",
        components=(component("checkout", "group:default/payments"),),
    ),
    # shadow, owned by search; selects by its label-selector annotation
    repo(
        "acme/indexer",
        workflows=(),
        components=(component("indexer", "search", label_selector="app=indexer,tier!=test"),),
    ),
)


def summarise_linked(
    namespaces: list[Namespace], workloads: list[Workload], **sections: object
) -> tally.ClusterSummary:
    c = cfg(**sections)
    links = adoption.build_links(CATALOG, rules.RepositoryMatcher(c.golden_paths))
    observation = ClusterObservation("c1", tuple(namespaces), tuple(workloads))
    return tally.summarise(observation, c, rules.GoldenPathMatcher(c.golden_paths), links)


def test_catalog_link_gives_team_and_golden_path() -> None:
    summary = summarise_linked(
        [ns("shared"), ns("pay", team="payments")],
        [
            wl("shared", "checkout", labels={"backstage.io/kubernetes-id": "checkout"}),
            wl("shared", "indexer", labels={"app": "indexer"}),
            wl("shared", "indexer-test", labels={"app": "indexer", "tier": "test"}),
            wl("shared", "stray"),
        ],
    )
    assert summary.team_workloads == {("payments", Path.GOLDEN): 1, ("search", Path.SHADOW): 1}
    assert summary.unowned == 2
    assert summary.golden_paths == {"service-template": 1}
    assert {team: explain.evidence(r) for team, r in summary.first_deploy.items()} == {
        "payments": Evidence(ts("2026-04-01"), "workload:c1/shared/Deployment/checkout")
    }


def test_team_precedence_label_then_catalog_then_namespace_then_static_map() -> None:
    linked = {"backstage.io/kubernetes-id": "checkout"}
    summary = summarise_linked(
        [ns("srch", team="search"), ns("mapped")],
        [
            wl("srch", "own-label", labels={**linked, "team": "ledger"}),
            wl("srch", "catalog-over-namespace", labels=linked),
            wl("mapped", "catalog-over-static-map", labels=linked),
            wl("mapped", "static-map"),
            wl("srch", "namespace"),
        ],
        ownership={"namespaces": {"mapped": "reviews"}},
    )
    # Every linked workload is golden: its Component's repository is.
    assert summary.team_workloads == {
        ("ledger", Path.GOLDEN): 1,
        ("payments", Path.GOLDEN): 2,
        ("reviews", Path.SHADOW): 1,
        ("search", Path.SHADOW): 1,
    }


def test_own_golden_path_wins_over_the_repository_one() -> None:
    summary = summarise_linked(
        [ns("pay", team="payments")],
        [wl("pay", "api", labels={**GOLDEN, "backstage.io/kubernetes-id": "checkout"})],
    )
    assert summary.golden_paths == {"service-chart": 1}


def test_repository_creation_is_onboarding_evidence() -> None:
    c = cfg()
    repos = adoption.summarise_repositories(
        observe(repo("acme/x", created="2026-01-10", property_team="search")), matcher()
    )
    cluster = tally.summarise(
        ClusterObservation("c1", (ns("srch", "2026-05-01", team="search"),), ()),
        c,
        rules.GoldenPathMatcher(c.golden_paths),
    )
    seen, deploy = adoption.merge_evidence([cluster], repos)
    assert (seen, deploy) == ({"search": Evidence(ts("2026-01-10"), "repository:acme/x")}, {})


def test_snapshot_without_clusters_has_repositories_but_no_workload_figures() -> None:
    c = cfg()
    repos = adoption.summarise_repositories(
        observe(repo("acme/x", created="2026-04-10", property_team="search")), matcher()
    )
    history = {"search": TeamTimes(ts("2026-04-10"), None)}
    snap = adoption.compute([], history, c, ts("2026-09-15"), repos)
    assert not snap.has_workloads
    assert snap.repos == {("search", RepoPath.OTHER): 1}
    assert snap.unowned_repos == 0
    assert [(h.team, h.onboarded) for h in snap.history] == [("search", ts("2026-04-10"))]

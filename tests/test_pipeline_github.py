"""Kubernetes and GitHub together through the real pipeline: repositories, catalog links, failures."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector import config
from collector.pipeline import Pipeline
from collector.simulator.github import GitHubSimulator
from collector.simulator.kube import KubeSimulator
from collector.state import StateStore
from tests.cluster import TOKEN, seed_small, write_config
from tests.conftest import CANARY

NOW = 1789466400.0  # 2026-09-15T10:00:00Z
GITHUB_TOKEN = CANARY
TEMPLATE = "acme/service-template"


def catalog(name: str, owner: str) -> str:
    return (
        "apiVersion: backstage.io/v1alpha1\nkind: Component\n"
        f"metadata:\n  name: {name}\nspec:\n  owner: {owner}\n"
    )


@pytest.fixture
def kube() -> Iterator[KubeSimulator]:
    with KubeSimulator(token=TOKEN) as sim:
        seed_small(sim)
        # Unowned by labels and namespace: only the catalog says it is search's.
        sim.add_workload(
            "Deployment",
            "misc",
            "search-api",
            labels={"backstage.io/kubernetes-id": "search-api"},
            created="2026-07-01T00:00:00Z",
        )
        yield sim


@pytest.fixture
def org() -> Iterator[GitHubSimulator]:
    with GitHubSimulator(org="acme", token=GITHUB_TOKEN) as sim:
        day = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
        sim.add_repo(
            "search-api",
            created=day,
            pushed=day,
            template=TEMPLATE,
            files={"catalog-info.yaml": catalog("search-api", "group:default/search")},
        )
        sim.add_repo(
            "pay-scripts",
            created=day + dt.timedelta(days=1),
            pushed=day,
            files={".github/workflows/ci.yml": "on: push\njobs: {}\n"},
            properties={"team": "payments"},
        )
        sim.add_repo("wiki", created=day + dt.timedelta(days=2), pushed=day)
        yield sim


@pytest.fixture
def pipeline(
    tmp_path: Path, kube: KubeSimulator, org: GitHubSimulator, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Pipeline]:
    monkeypatch.setenv("PIPELINE_GITHUB_TOKEN", GITHUB_TOKEN)
    path = write_config(tmp_path, {"prod-eu": kube})
    raw = config.load(path).model_dump(by_alias=True, mode="json")
    raw["github"] = {"org": "acme", "base_url": org.base_url, "token_env": "PIPELINE_GITHUB_TOKEN"}
    raw["ownership"]["github_property"] = "team"
    raw["golden_paths"].append(
        {"name": "service-template", "github": {"template_repositories": [TEMPLATE]}}
    )
    settings = config.parse(raw)
    built = Pipeline(settings, StateStore(settings.state.path), clock=lambda: NOW)
    yield built
    built.close()


def lines(pipeline: Pipeline, *prefixes: str) -> list[str]:
    text = pipeline.exposition.latest.decode()
    return [line for line in text.splitlines() if line.startswith(prefixes)]


def test_repositories_and_catalog_links_in_the_figures(pipeline: Pipeline) -> None:
    assert pipeline.poll_github() is True
    assert pipeline.links_generation == 1  # new links: the service re-polls the clusters
    assert pipeline.ready is False  # the cluster has not been polled yet
    # No cluster polled yet: repositories and history, but no workload figure at all.
    assert lines(pipeline, "adoption_active_teams", "adoption_workloads{") == []
    assert lines(pipeline, "adoption_team_repos{", "adoption_unowned_repos ") == [
        'adoption_team_repos{path="golden",team="payments"} 0.0',
        'adoption_team_repos{path="shadow",team="payments"} 1.0',
        'adoption_team_repos{path="other",team="payments"} 0.0',
        'adoption_team_repos{path="golden",team="search"} 1.0',
        'adoption_team_repos{path="shadow",team="search"} 0.0',
        'adoption_team_repos{path="other",team="search"} 0.0',
        "adoption_unowned_repos 1.0",
    ]

    assert pipeline.poll_kubernetes() is True
    assert pipeline.ready is True
    # search-api is search's through the catalog, and golden through its repository.
    assert lines(pipeline, 'adoption_team_workloads{path="golden",team="search"}') == [
        'adoption_team_workloads{path="golden",team="search"} 1.0'
    ]
    assert lines(pipeline, "adoption_unowned_workloads", "adoption_golden_path_workloads{") == [
        'adoption_unowned_workloads{kube_cluster="prod-eu"} 1.0',
        'adoption_golden_path_workloads{golden_path="gitops"} 0.0',
        'adoption_golden_path_workloads{golden_path="service-chart"} 1.0',
        'adoption_golden_path_workloads{golden_path="service-template"} 1.0',
    ]
    # The repositories are the earliest evidence: both teams onboarded at launch (2026-03-01).
    assert lines(pipeline, "adoption_team_onboarded_timestamp_seconds{") == [
        'adoption_team_onboarded_timestamp_seconds{team="billing"} 1.7723232e+09',
        'adoption_team_onboarded_timestamp_seconds{team="payments"} 1.7723232e+09',
        'adoption_team_onboarded_timestamp_seconds{team="search"} 1.7723232e+09',
    ]
    assert lines(pipeline, 'adoption_collector_up{kube_cluster="",source="github"}') == [
        'adoption_collector_up{kube_cluster="",source="github"} 1.0'
    ]
    assert lines(pipeline, "adoption_collector_objects{kind=", "adoption_collector_poll_inter") == [
        'adoption_collector_objects{kind="catalog-info.yaml",kube_cluster="",source="github"} 1.0',
        'adoption_collector_objects{kind="repositories",kube_cluster="",source="github"} 3.0',
        'adoption_collector_objects{kind="workflows",kube_cluster="",source="github"} 1.0',
        'adoption_collector_objects{kind="CronJob",kube_cluster="prod-eu",source="kubernetes"} 1.0',
        'adoption_collector_objects{kind="DaemonSet",kube_cluster="prod-eu",source="kubernetes"} 1.0',
        'adoption_collector_objects{kind="Deployment",kube_cluster="prod-eu",source="kubernetes"} 4.0',
        'adoption_collector_objects{kind="Job",kube_cluster="prod-eu",source="kubernetes"} 1.0',
        'adoption_collector_objects{kind="Namespace",kube_cluster="prod-eu",source="kubernetes"} 5.0',
        'adoption_collector_objects{kind="StatefulSet",kube_cluster="prod-eu",source="kubernetes"} 1.0',
        'adoption_collector_poll_interval_seconds{kube_cluster="",source="github"} 1800.0',
        'adoption_collector_poll_interval_seconds{kube_cluster="prod-eu",source="kubernetes"} 300.0',
    ]  # fmt: skip
    assert pipeline.poll_github() is True
    assert pipeline.links_generation == 1  # nothing changed: no need to re-poll the clusters


def test_failed_github_poll_keeps_repositories_and_links(
    pipeline: Pipeline, org: GitHubSimulator
) -> None:
    assert pipeline.poll_github() is True
    assert pipeline.poll_kubernetes() is True
    figures = lines(pipeline, "adoption_team_", "adoption_unowned_")

    org.add_fault(".*", 502, times=None)
    org.delete_repo("search-api")  # must not be noticed while the polls fail
    assert pipeline.poll_github() is False
    assert pipeline.poll_kubernetes() is True  # the last good links still attribute search-api
    assert lines(pipeline, "adoption_team_", "adoption_unowned_") == figures
    assert lines(pipeline, "adoption_collector_up{", "adoption_collector_poll_errors_total{") == [
        'adoption_collector_up{kube_cluster="",source="github"} 0.0',
        'adoption_collector_up{kube_cluster="prod-eu",source="kubernetes"} 1.0',
        'adoption_collector_poll_errors_total{kube_cluster="",source="github"} 1.0',
        'adoption_collector_poll_errors_total{kube_cluster="prod-eu",source="kubernetes"} 0.0',
    ]

    org.clear_faults()
    assert pipeline.poll_github() is True
    assert pipeline.links_generation == 2  # search-api's Component is gone
    assert pipeline.poll_kubernetes() is True
    assert lines(
        pipeline, "adoption_unowned_workloads", 'adoption_collector_up{kube_cluster=""'
    ) == [
        'adoption_unowned_workloads{kube_cluster="prod-eu"} 2.0',
        'adoption_collector_up{kube_cluster="",source="github"} 1.0',
    ]


def test_parse_errors_and_rate_limits_are_exported(
    pipeline: Pipeline, org: GitHubSimulator
) -> None:
    org.add_repo(
        "broken",
        created=dt.datetime(2026, 5, 1, tzinfo=dt.UTC),
        pushed=dt.datetime(2026, 5, 1, tzinfo=dt.UTC),
        files={"catalog-info.yaml": "- not\n- a mapping\n"},
    )
    pipeline.poll_github()
    pipeline.poll_github()  # unchanged: the file is not read, nor counted, again
    assert lines(
        pipeline, "adoption_collector_parse_errors_total", "adoption_collector_github_"
    ) == [
        'adoption_collector_parse_errors_total{source="github"} 1.0',
        'adoption_collector_github_rate_limit_remaining{resource="core"} 4999.0',
        'adoption_collector_github_rate_limit_remaining{resource="graphql"} 4999.0',
        'adoption_collector_github_rate_limit_limit{resource="core"} 5000.0',
        'adoption_collector_github_rate_limit_limit{resource="graphql"} 5000.0',
    ]
    assert GITHUB_TOKEN not in pipeline.exposition.latest.decode()

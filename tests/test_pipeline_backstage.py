"""Kubernetes and the Backstage catalog (no GitHub) through the real pipeline, over real sockets
to the simulators: ownership, golden paths, the team hierarchy, failures and ingestion."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from collector import config
from collector.pipeline import Pipeline
from collector.simulator.backstage import BackstageSimulator
from collector.simulator.github import GitHubSimulator
from collector.simulator.kube import KubeSimulator
from collector.state import StateStore
from tests.backstage import scenario
from tests.cluster import TOKEN
from tests.conftest import CANARY
from tests.test_service import free_port, wait_for_line

NOW = 1789466400.0  # 2026-09-15T10:00:00Z
BACKSTAGE_TOKEN = CANARY


@pytest.fixture
def kube() -> Iterator[KubeSimulator]:
    with KubeSimulator(token=TOKEN) as sim:
        scenario.seed(sim)
        yield sim


@pytest.fixture
def catalog() -> Iterator[BackstageSimulator]:
    with BackstageSimulator(BACKSTAGE_TOKEN, scenario.ENTITIES) as sim:
        yield sim


@pytest.fixture
def pipeline(
    tmp_path: Path,
    kube: KubeSimulator,
    catalog: BackstageSimulator,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Pipeline]:
    monkeypatch.setenv(scenario.TOKEN_ENV, BACKSTAGE_TOKEN)
    settings = scenario.settings(tmp_path, kube, catalog.base_url, page_size=2)
    built = Pipeline(settings, StateStore(settings.state.path), clock=lambda: NOW)
    yield built
    built.close()


def lines(pipeline: Pipeline, *prefixes: str) -> list[str]:
    text = pipeline.exposition.latest.decode()
    return [line for line in text.splitlines() if line.startswith(prefixes)]


def status(pipeline: Pipeline) -> list[str]:
    return lines(
        pipeline,
        'adoption_collector_up{kube_cluster="",source="backstage"}',
        'adoption_collector_poll_complete{kube_cluster="",source="backstage"}',
        'adoption_collector_poll_errors_total{kube_cluster="",source="backstage"}',
        'adoption_collector_objects{kind="components",kube_cluster="",source="backstage"}',
    )


def test_the_catalog_alone_attributes_workloads_and_finds_golden_paths(
    pipeline: Pipeline, catalog: BackstageSimulator
) -> None:
    assert pipeline.poll_once() is True
    assert pipeline.ready is True
    assert lines(pipeline, *scenario.EXPECTED_PREFIXES) == scenario.EXPECTED
    # The drill-down names the Component and its repository.
    assert pipeline.drilldown is not None
    records = {f"{r.namespace}/{r.name}": r for r in pipeline.drilldown.records}
    search = records["misc/search-api"]
    assert (search.team, search.team_source, search.team_detail, search.reason) == (
        "search",
        "catalog",
        "Component search-api in acme/search-api",
        "catalog Component search-api in golden repository acme/search-api (service-template)",
    )
    assert status(pipeline) == [
        'adoption_collector_up{kube_cluster="",source="backstage"} 1.0',
        'adoption_collector_poll_errors_total{kube_cluster="",source="backstage"} 0.0',
        'adoption_collector_objects{kind="components",kube_cluster="",source="backstage"} 2.0',
        'adoption_collector_poll_complete{kube_cluster="",source="backstage"} 1.0',
    ]
    # page_size 2: every kind read in pages, none in one unpaginated request.
    assert all(dict(r.params).get("limit") == "2" for r in catalog.requests)
    assert len(catalog.requests) == 3  # Components: 1 page (the System filtered out); Groups: 2


def test_a_failed_poll_keeps_the_last_good_catalog(
    pipeline: Pipeline, catalog: BackstageSimulator
) -> None:
    assert pipeline.poll_once() is True
    catalog.add_fault(500, times=None)
    assert pipeline.poll_backstage() is False
    assert pipeline.poll_kubernetes() is True
    assert lines(pipeline, *scenario.EXPECTED_PREFIXES) == scenario.EXPECTED
    assert status(pipeline) == [
        'adoption_collector_up{kube_cluster="",source="backstage"} 0.0',
        'adoption_collector_poll_errors_total{kube_cluster="",source="backstage"} 1.0',
        'adoption_collector_objects{kind="components",kube_cluster="",source="backstage"} 2.0',
        'adoption_collector_poll_complete{kube_cluster="",source="backstage"} 0.0',
    ]


def test_an_ingesting_catalog_is_held_back_until_it_is_whole(
    pipeline: Pipeline, catalog: BackstageSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    assert pipeline.poll_once() is True
    generation = pipeline.links_generation
    catalog.start_ingesting()  # restarted: 200 with no entity at all
    assert pipeline.poll_backstage() is True
    assert pipeline.poll_kubernetes() is True
    assert pipeline.links_generation == generation
    assert lines(pipeline, *scenario.EXPECTED_PREFIXES) == scenario.EXPECTED
    assert status(pipeline) == [
        'adoption_collector_up{kube_cluster="",source="backstage"} 1.0',
        'adoption_collector_poll_errors_total{kube_cluster="",source="backstage"} 0.0',
        'adoption_collector_objects{kind="components",kube_cluster="",source="backstage"} 2.0',
        'adoption_collector_poll_complete{kube_cluster="",source="backstage"} 0.0',
    ]
    assert [r.message for r in caplog.records if r.levelname == "WARNING"] == [
        "backstage: the catalog answered 0 entities, 6 in the last good poll: not applied "
        "(still ingesting after a restart?); the figures stay as they were"
    ]
    catalog.ingest()
    assert pipeline.poll_backstage() is True
    assert status(pipeline)[-1].endswith(" 1.0")


def test_a_shrinking_catalog_is_applied_once_it_stops_shrinking(
    pipeline: Pipeline, catalog: BackstageSimulator
) -> None:
    assert pipeline.poll_once() is True
    catalog.set_entities(scenario.ENTITIES[:1])  # search-api alone: 1 of 6 entities
    assert pipeline.poll_backstage() is True
    assert status(pipeline)[-1].endswith(" 0.0")  # held back once
    assert pipeline.poll_backstage() is True  # the same count again: applied
    assert pipeline.poll_kubernetes() is True
    assert status(pipeline)[-1].endswith(" 1.0")
    assert lines(pipeline, "adoption_team_info{") == []
    assert lines(pipeline, 'adoption_unowned_workloads{kube_cluster="prod-eu"}') == [
        'adoption_unowned_workloads{kube_cluster="prod-eu"} 3.0'  # misc/checkout-web now too
    ]
    assert lines(pipeline, 'adoption_team_workloads{path="shadow",team="payments"}') == [
        'adoption_team_workloads{path="shadow",team="payments"} 2.0'
    ]


def test_backstage_wins_over_catalog_info_for_the_same_component(
    tmp_path: Path,
    kube: KubeSimulator,
    catalog: BackstageSimulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(scenario.TOKEN_ENV, BACKSTAGE_TOKEN)
    monkeypatch.setenv("TEST_GITHUB_TOKEN", BACKSTAGE_TOKEN)
    day = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
    stale = (
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: search-api\n"
        "  annotations:\n    backstage.io/kubernetes-id: search-api\nspec:\n  owner: billing\n"
    )
    with GitHubSimulator(org="acme", token=BACKSTAGE_TOKEN) as github:
        github.add_repo("search-api", created=day, pushed=day, files={"catalog-info.yaml": stale})
        raw = scenario.settings(tmp_path, kube, catalog.base_url).model_dump(
            by_alias=True, mode="json"
        )
        raw["github"] = {
            "org": "acme",
            "base_url": github.base_url,
            "token_env": "TEST_GITHUB_TOKEN",
        }
        settings = config.parse(raw)
        pipeline = Pipeline(settings, StateStore(settings.state.path), clock=lambda: NOW)
        try:
            assert pipeline.poll_github() is True
            assert pipeline.poll_kubernetes() is True
            # catalog-info.yaml alone: billing's, shadow.
            assert lines(pipeline, 'adoption_team_workloads{path="shadow",team="billing"}') == [
                'adoption_team_workloads{path="shadow",team="billing"} 2.0'
            ]
            assert pipeline.poll_backstage() is True
            assert pipeline.poll_kubernetes() is True
            # The Backstage entity: search's, golden; the repository agrees.
            assert lines(pipeline, *scenario.EXPECTED_PREFIXES) == scenario.EXPECTED
            assert lines(pipeline, "adoption_team_repos{") == [
                'adoption_team_repos{path="golden",team="search"} 1.0',
                'adoption_team_repos{path="shadow",team="search"} 0.0',
                'adoption_team_repos{path="other",team="search"} 0.0',
            ]
        finally:
            pipeline.close()


def test_the_service_polls_backstage_and_repolls_the_clusters_with_new_links(
    tmp_path: Path, kube: KubeSimulator, catalog: BackstageSimulator
) -> None:
    # The first catalog answer comes after the clusters' first poll: only a re-poll applies it.
    catalog.add_fault(200, delay=1.5)
    port = free_port()
    settings = scenario.settings(tmp_path, kube, catalog.base_url)
    raw = settings.model_dump(by_alias=True, mode="json")
    raw["server"]["listen"] = f"127.0.0.1:{port}"
    config_path = tmp_path / "service.yaml"
    config_path.write_text(yaml.safe_dump(raw))
    process = subprocess.Popen(
        [sys.executable, "-m", "collector", "run", "--config", str(config_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, scenario.TOKEN_ENV: BACKSTAGE_TOKEN},
    )
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        unowned = 'adoption_unowned_workloads{kube_cluster="prod-eu"}'
        wait_for_line(url, f"{unowned} 4.0")  # nothing linked yet
        wait_for_line(url, f"{unowned} 2.0")  # search-api and misc/checkout-web linked
        wait_for_line(url, 'adoption_collector_up{kube_cluster="",source="backstage"} 1.0')
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)
    stderr = process.stderr.read().decode() if process.stderr else ""
    assert "catalog links changed; polling the clusters again" in stderr
    assert BACKSTAGE_TOKEN not in stderr

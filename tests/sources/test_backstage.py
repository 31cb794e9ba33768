"""The Backstage source against the simulated catalog over a real socket: what each query
sends, what the records hold, and every way a poll fails."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from collector import config
from collector.model import CatalogObservation, Component, Group
from collector.simulator.backstage import BackstageSimulator
from collector.sources import PollError
from collector.sources.backstage import COMPONENT_FIELDS, GROUP_FIELDS, BackstageSource
from tests.backstage.scenario import component, group
from tests.conftest import CANARY

TOKEN = CANARY


ENTITIES = [
    component(
        "checkout",
        "group:default/Payments",
        **{
            "backstage.io/kubernetes-id": "checkout",
            "backstage.io/source-template": "template:default/service",
            "github.com/project-slug": "acme/checkout",
        },
    ),
    component(
        "search",
        "search",
        **{
            "backstage.io/kubernetes-label-selector": "app=search",
            "backstage.io/kubernetes-namespace": "search-prod",
            "backstage.io/source-location": "url:https://github.com/acme/search-svc/tree/main/",
        },
    ),
    component("docs", None),
    {"kind": "Component", "metadata": {"name": ["not", "a", "name"]}},  # skipped and counted
    {"kind": "API", "metadata": {"name": "checkout-api"}, "spec": {"owner": "payments"}},
    group("payments", "group:default/finance", "Payments Team"),
    group("finance"),
    {"kind": "Group", "metadata": {}},  # skipped and counted
]


@pytest.fixture
def sim() -> Iterator[BackstageSimulator]:
    with BackstageSimulator(TOKEN, ENTITIES) as s:
        yield s


def settings(sim: BackstageSimulator, **overrides: Any) -> config.Backstage:
    raw: dict[str, Any] = {"base_url": sim.base_url, "token_env": "TEST_BACKSTAGE_TOKEN"}
    raw.update(overrides)
    return config.Backstage.model_validate(raw)


@pytest.fixture(autouse=True)
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_BACKSTAGE_TOKEN", TOKEN)


def poll(sim: BackstageSimulator, **overrides: Any) -> CatalogObservation:
    source = BackstageSource(settings(sim, **overrides))
    try:
        return source.poll()
    finally:
        source.close()


def test_components_and_groups_as_records(sim: BackstageSimulator) -> None:
    observation = poll(sim)
    assert observation == CatalogObservation(
        components=(
            Component(
                "checkout", "group:default/Payments", "template:default/service", "checkout",
                None, None, "acme/checkout",
            ),
            Component("docs", None, None, None, None, None, None),
            Component(
                "search", "search", None, None, "app=search", "search-prod", "acme/search-svc",
            ),
        ),
        groups=(Group("finance", None, None), Group("payments", "finance", "Payments Team")),
        objects={"components": 3, "groups": 2},
        skipped=2,
    )  # fmt: skip


def test_pages_send_the_cursor_and_never_the_filter_again(sim: BackstageSimulator) -> None:
    poll(sim, page_size=2)
    sent = [dict(r.params) for r in sim.requests]
    cursors = [r.pop("cursor", None) for r in sent]
    assert [c is None for c in cursors] == [True, False, True, False]
    first_components = {
        "filter": "kind=component",
        "fields": COMPONENT_FIELDS,
        "orderField": "metadata.name,asc",
        "limit": "2",
    }
    first_groups = {**first_components, "filter": "kind=group", "fields": GROUP_FIELDS}
    later_components = {"limit": "2", "fields": COMPONENT_FIELDS}
    later_groups = {"limit": "2", "fields": GROUP_FIELDS}
    # 4 Components (one unusable) in 2 pages, 3 Groups (one unusable) in 2.
    assert sent == [first_components, later_components, first_groups, later_groups]
    assert [r.items for r in sim.requests] == [2, 2, 2, 1]


def test_a_refused_token_names_where_it_came_from_never_itself(sim: BackstageSimulator) -> None:
    sim.token = "another-token"
    with pytest.raises(PollError) as refused:
        poll(sim)
    assert str(refused.value) == (
        f"backstage: {sim.base_url} refused the token from environment variable "
        "TEST_BACKSTAGE_TOKEN (401): it must be a static token listed under "
        "backend.auth.externalAccess in Backstage's app-config, allowed catalog.entity.read "
        "if the permission framework is on"
    )
    assert TOKEN not in str(refused.value)


def test_the_token_file_is_read_on_every_poll(sim: BackstageSimulator, tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("stale-token\n")
    source = BackstageSource(settings(sim, token_env=None, token_file=str(path)))
    with pytest.raises(PollError, match=f"refused the token from token_file {path} \\(401\\)"):
        source.poll()
    path.write_text(f"{TOKEN}\n")  # rotated: no restart needed
    assert len(source.poll().components) == 3
    path.write_text("")
    with pytest.raises(PollError, match=f"^backstage: token_file {path} is empty$"):
        source.poll()
    source.close()


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (403, "refused the token from environment variable TEST_BACKSTAGE_TOKEN (403)"),
        (500, "backstage: /api/catalog/entities/by-query answered 500"),
    ],
)
def test_an_error_answer_fails_the_poll(sim: BackstageSimulator, status: int, message: str) -> None:
    sim.add_fault(status)
    with pytest.raises(PollError) as failed:
        poll(sim)
    assert message in str(failed.value)


def test_a_slow_answer_is_cut_off_at_the_timeout(sim: BackstageSimulator) -> None:
    sim.add_fault(200, delay=2.0)
    with pytest.raises(PollError) as failed:
        poll(sim, timeout="1s", poll_timeout="5s")
    assert str(failed.value) == (
        f"backstage: {sim.base_url}/api/catalog/entities/by-query: no complete answer within "
        "1s (backstage.timeout)"
    )


def test_an_unreachable_backend_fails_the_poll(sim: BackstageSimulator) -> None:
    source = BackstageSource(settings(sim))
    url = sim.base_url
    sim.stop()
    with pytest.raises(PollError) as failed:
        source.poll()
    assert str(failed.value) == f"backstage: cannot reach {url}: ConnectionError"
    source.close()


def test_an_unset_variable_fails_before_any_request(
    sim: BackstageSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEST_BACKSTAGE_TOKEN")
    with pytest.raises(PollError, match=r"^backstage: environment variable TEST_BACKSTAGE_TOKEN"):
        poll(sim)
    assert sim.requests == []


@pytest.mark.parametrize(
    ("section", "problems"),
    [
        (
            {"base_url": "https://b.example.com/api/catalog/", "token_env": "ghp_abc def"},
            [
                "backstage.base_url: must be the backend's base URL, without /api/catalog",
                "backstage.token_env: must be the NAME of an environment variable, such as "
                "BACKSTAGE_TOKEN, not the token itself",
            ],
        ),
        (
            {"base_url": "https://b.example.com", "token_env": "T", "token_file": "/t"},
            ["backstage: set exactly one of token_env or token_file"],
        ),
        (
            {"base_url": "b.example.com", "token_file": "/t", "page_size": 0},
            [
                "backstage.base_url: must be an http(s) URL such as https://backstage.example.com",
                "backstage.page_size: must be greater than or equal to 1",
            ],
        ),
        (
            {"base_url": "https://b", "token_env": "T", "timeout": "1m", "poll_timeout": "30s"},
            ["backstage: poll_timeout must be at least timeout"],
        ),
    ],
)
def test_config_mistakes_name_the_key(section: dict[str, Any], problems: list[str]) -> None:
    raw = {"platform": {"launch_date": "2026-01-01"}, "backstage": section}
    with pytest.raises(config.ConfigError) as invalid:
        config.parse(raw, "test")
    assert invalid.value.problems == problems

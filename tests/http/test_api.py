"""The JSON API over real HTTP: fields, filters, paging by continue token, and errors that name
the parameter. The figures behind it are tested in tests/test_explain.py; here, what the HTTP
surface does with them."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from collector import config
from collector.pipeline import Pipeline
from collector.simulator.kube import KubeSimulator
from collector.state import StateStore
from tests.cluster import TOKEN, seed_small, write_config
from tests.http.conftest import Published, serving

WORKLOAD_FIELDS = [
    "cluster",
    "namespace",
    "kind",
    "name",
    "created",
    "team",
    "team_source",
    "team_source_detail",
    "path",
    "golden_path",
    "reason",
    "tool",
    "manager",
    "manager_time",
]
# seed_small, in the API's order: (cluster, namespace, kind, name); the CronJob's Job is not a
# workload of its own, kube-system is excluded.
ALL = [
    "prod-eu/bill/StatefulSet/ledger",
    "prod-eu/misc/DaemonSet/agent",
    "prod-eu/pay/CronJob/nightly",
    "prod-eu/pay/Deployment/api",
    "prod-eu/pay/Deployment/worker",
]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    tmp_path = tmp_path_factory.mktemp("api")
    with KubeSimulator(token=TOKEN) as sim:
        seed_small(sim)
        settings = config.load(write_config(tmp_path, {"prod-eu": sim}))
        polled = Pipeline(settings, StateStore(settings.state.path))
        assert polled.poll_once()
    yield polled
    polled.close()


@pytest.fixture(scope="module")
def base(pipeline: Pipeline) -> Iterator[str]:
    with serving(pipeline) as server:
        yield server.url


def get(url: str) -> tuple[int, dict[str, str], Any]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            status, headers, body = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        status, headers, body = exc.code, dict(exc.headers), exc.read()
    assert headers["Content-Type"] == "application/json"
    assert headers["Cache-Control"] == "no-store"
    return status, headers, json.loads(body)


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [f"{w['cluster']}/{w['namespace']}/{w['kind']}/{w['name']}" for w in items]


def test_workloads_filters_and_fields(base: str) -> None:
    status, _, body = get(f"{base}/api/v1/workloads")
    assert status == 200
    assert ids(body["items"]) == ALL
    assert body["continue"] is None
    assert all(list(item) == WORKLOAD_FIELDS for item in body["items"])
    for query, expected in (
        ("team=payments", ALL[2:]),
        ("team=payments&path=golden", ALL[3:4]),
        ("path=shadow", [w for w in ALL if not w.endswith("/api")]),
        ("tool=terraform", ALL[:1]),
        ("namespace=pay&tool=helm", ALL[3:4]),
        ("cluster=prod-eu&namespace=misc", ALL[1:2]),
        ("cluster=elsewhere", []),
        ("team=nobody", []),
        ("team=&path=", ALL),  # blank means not given
    ):
        assert ids(get(f"{base}/api/v1/workloads?{query}")[2]["items"]) == expected, query
    (api,) = get(f"{base}/api/v1/workloads?team=payments&path=golden")[2]["items"]
    assert {k: api[k] for k in ("team", "team_source", "team_source_detail", "path")} == {
        "team": "payments",
        "team_source": "namespace_label",
        "team_source_detail": "team",
        "path": "golden",
    }
    assert (api["golden_path"], api["tool"], api["manager"]) == ("service-chart", "helm", "helm")
    assert (api["created"], api["manager_time"]) == ("2026-04-01T00:00:00Z", "2026-04-01T00:00:00Z")


def test_paging_by_continue_token_visits_every_workload_once(base: str) -> None:
    seen: list[str] = []
    url = f"{base}/api/v1/workloads?limit=2"
    pages = 0
    while True:
        status, _, body = get(url)
        assert status == 200
        assert len(body["items"]) <= 2
        seen += ids(body["items"])
        pages += 1
        if body["continue"] is None:
            break
        url = f"{base}/api/v1/workloads?limit=2&continue={body['continue']}"
    assert (seen, pages) == (ALL, 3)
    # Exactly full pages end without a token to an empty page.
    assert get(f"{base}/api/v1/workloads?limit=5")[2]["continue"] is None


@pytest.mark.parametrize(
    ("query", "parameter", "message"),
    [
        ("path=purple", "path", "path must be one of golden, shadow, not 'purple'"),
        (
            "tool=kustomize",
            "tool",
            "tool must be one of helm, argocd, flux, kubectl, terraform, pulumi, other, "
            "unknown, not 'kustomize'",
        ),
        ("limit=abc", "limit", "limit must be a whole number from 1 to 5000"),
        ("limit=0", "limit", "limit must be a whole number from 1 to 5000"),
        ("limit=5001", "limit", "limit must be a whole number from 1 to 5000"),
        ("limit=-1", "limit", "limit must be a whole number from 1 to 5000"),
        ("continue=x", "continue", "continue is not a token this API gave out"),
        ("continue=W10", "continue", "continue is not a token this API gave out"),
        (
            "colour=blue",
            "colour",
            "unknown parameter 'colour'; known: team, path, cluster, namespace, tool, limit, "
            "continue",
        ),
        ("team=a&team=b", "team", "parameter 'team' given more than once"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter(
    base: str, query: str, parameter: str, message: str
) -> None:
    assert get(f"{base}/api/v1/workloads?{query}") == (
        400,
        get(f"{base}/api/v1/workloads?{query}")[1],
        {"error": message, "parameter": parameter},
    )


def test_summary_teams_and_one_team(base: str) -> None:
    status, _, summary = get(f"{base}/api/v1/summary")
    assert status == 200
    assert list(summary) == [
        "active_teams",
        "adopted_teams",
        "adoption_ratio",
        "voluntary_ratio",
        "target_ratio",
        "platform_age_months",
        "workloads",
        "polled_at",
        "predictors",
    ]
    assert (summary["active_teams"], summary["adopted_teams"]) == (2, 1)
    # No product manager, baseline or survey configured; seed_small's voluntary adoption is
    # 100% (50% needed from month 6 on); its teams all onboarded over 90 days ago.
    assert summary["predictors"] == {
        "product_manager": {"met": False, "name": None},
        "baseline": {
            "met": False,
            "deploys_per_team_week": None,
            "lead_time_days": None,
            "measured_on": None,
        },
        "nps": {"met": None, "nps": None, "responses": None},
        "voluntary_adoption": {"met": True, "voluntary_ratio": 1.0, "required_ratio": 0.5},
        "time_to_first_value": {"met": None, "median_seconds": None, "teams": 0},
    }
    assert summary["workloads"] == {"golden": 1, "shadow": 4}
    teams = get(f"{base}/api/v1/teams")[2]["teams"]
    assert [t["team"] for t in teams] == ["billing", "payments", "search"]
    assert [t["active"] for t in teams] == [True, True, False]
    status, _, payments = get(f"{base}/api/v1/teams/payments")
    assert status == 200
    assert ids(payments["workloads"]) == ALL[2:]
    assert payments["repositories"] is None  # no GitHub configured
    assert {k: payments[k] for k in teams[1]} == teams[1]
    assert payments["workload_counts"] == {"golden": 1, "shadow": 2}
    assert get(f"{base}/api/v1/teams/nobody")[::2] == (
        404,
        {"error": "no team 'nobody'", "parameter": None},
    )
    assert get(f"{base}/api/v1/repositories")[::2] == (
        404,
        {"error": "GitHub is not configured: no repositories", "parameter": None},
    )
    assert get(f"{base}/api/v1/teams?x=1")[::2] == (
        400,
        {"error": "unknown parameter 'x'; known: none", "parameter": "x"},
    )


def test_before_the_first_poll_the_api_answers_503() -> None:
    with serving(Published(ready=False)) as server:
        for path in ("summary", "teams", "teams/payments", "workloads", "repositories"):
            assert get(f"{server.url}/api/v1/{path}")[::2] == (
                503,
                {"error": "no poll has completed yet", "parameter": None},
            )


def test_the_pages_come_from_the_same_drilldown(base: str, tmp_path: Path) -> None:
    with urllib.request.urlopen(f"{base}/", timeout=5) as response:
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"
        index = response.read().decode()
    assert 'href="/teams/payments"' in index
    with urllib.request.urlopen(f"{base}/teams/payments", timeout=5) as response:
        assert "prod-eu/pay/Deployment/worker" in response.read().decode()
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{base}/teams/nobody", timeout=5)
    assert info.value.code == 404

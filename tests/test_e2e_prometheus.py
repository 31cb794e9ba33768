"""A real Prometheus server scrapes the running collector; its query API must see our figures,
and it evaluates the alert rules (deploy/prometheus/adoption-collector.rules.yaml) on them."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from collector import __version__
from collector.simulator.kube import KubeSimulator
from tests.cluster import TOKEN, seed_small, write_config
from tests.dashboards.queries import dashboards, queries, substitute
from tests.prometheus import query, scraped, scraping
from tests.test_service import free_port, get

RULES = (
    Path(__file__).resolve().parents[1] / "deploy" / "prometheus" / "adoption-collector.rules.yaml"
)
NEVER = "0001-01-01T00:00:00Z"
ORG_FIGURES = {
    "adoption_active_teams": "adoption:active_teams:org",
    "adoption_adopted_teams": "adoption:adopted_teams:org",
    "adoption_ratio": "adoption:ratio:org",
    "adoption_voluntary_ratio": "adoption:voluntary_ratio:org",
}
ORG_TEAM_FIGURES = {
    "adoption_team_onboarded_timestamp_seconds": "adoption:team_onboarded_timestamp_seconds:org",
    "adoption_team_first_deploy_timestamp_seconds": (
        "adoption:team_first_deploy_timestamp_seconds:org"
    ),
    "adoption_team_time_to_first_deploy_seconds": "adoption:team_time_to_first_deploy_seconds:org",
}  # Prometheus' lastEvaluation before the first evaluation
T = TypeVar("T")


def api(prometheus: str, path: str) -> Any:
    status, body = get(f"{prometheus}/api/v1/{path}")
    assert status == 200, body
    return json.loads(body)["data"]


def eventually(probe: Callable[[], T], done: Callable[[T], bool], deadline: float = 15) -> T:
    end = time.monotonic() + deadline
    value = probe()
    while not done(value) and time.monotonic() < end:
        time.sleep(0.2)
        value = probe()
    return value


def evaluated(groups: list[dict[str, Any]]) -> bool:
    return all(
        g["lastEvaluation"] != NEVER and all(r["lastEvaluation"] != NEVER for r in g["rules"])
        for g in groups
    )


def test_prometheus_scrapes_the_collector(tmp_path: Path) -> None:
    with KubeSimulator(token=TOKEN) as sim:
        seed_small(sim)
        port = free_port()
        # Polls every second, so the data goes stale (3 poll intervals) within the test.
        # With adoption_workload_info, so the dashboard's shadow-workload table has rows.
        config_path = write_config(
            tmp_path,
            {"prod-eu": sim},
            "1s",
            server={"listen": f"127.0.0.1:{port}"},
            exporter={"workload_info": True},
        )
        collector = subprocess.Popen(
            [sys.executable, "-m", "collector", "run", "--config", str(config_path)],
            stderr=subprocess.DEVNULL,
        )
        try:
            with scraping(tmp_path, f"127.0.0.1:{port}", RULES) as url:
                check_scraped(url, port, sim)
        finally:
            collector.terminate()
            collector.wait(20)


def check_scraped(url: str, port: int, sim: KubeSimulator) -> None:
    """What Prometheus scraped: the figures, the runtime metrics, the dashboards' queries
    and the rules evaluated on them."""
    (ratio,) = scraped(url, "adoption_voluntary_ratio", deadline=30)
    assert ratio["metric"] == {
        "__name__": "adoption_voluntary_ratio",
        "instance": f"127.0.0.1:{port}",
        "job": "adoption",
    }
    assert ratio["value"][1] == "1"  # type: ignore[index]
    (up,) = query(url, 'up{job="adoption"}')
    assert up["value"][1] == "1"  # type: ignore[index]
    teams = query(url, "sum by (team) (adoption_team_workloads)")
    assert sorted((t["metric"]["team"], t["value"][1]) for t in teams) == [  # type: ignore[index]
        ("billing", "1"),
        ("payments", "3"),
    ]
    # The runtime metrics come after the poll's in the same gzipped answer.
    (info,) = query(url, "adoption_collector_build_info")
    assert info["metric"]["version"] == __version__  # type: ignore[index]
    assert query(url, 'process_cpu_seconds_total{job="adoption"}')
    assert query(url, 'python_info{job="adoption"}')
    check_dashboard_queries(url)
    check_rules(url, port, sim)


def check_rules(url: str, port: int, sim: KubeSimulator) -> None:
    """Every rule is evaluated without error on the real series; none fires on a healthy
    collector; a kind RBAC refuses makes AdoptionCollectorListForbidden pending; a cluster whose
    polls fail makes its data stale and AdoptionCollectorDataStale fire (the rule's join of last
    success and poll interval matches the real label sets)."""
    groups = eventually(lambda: api(url, "rules")["groups"], evaluated)
    assert [(g["name"], g["file"]) for g in groups] == [
        ("adoption-collector.adoption", str(RULES)),
        ("adoption-collector.collector", str(RULES)),
    ]
    assert evaluated(groups)
    rules = [r for g in groups for r in g["rules"]]
    assert [(r["type"], r["name"], r["health"], r.get("lastError", "")) for r in rules] == [
        *[("recording", name, "ok", "") for name in ORG_FIGURES.values()],
        *[("recording", name, "ok", "") for name in ORG_TEAM_FIGURES.values()],
        ("alerting", "PlatformAdoptionBelowTarget", "ok", ""),
        ("alerting", "PlatformAdoptionBehindCurve", "ok", ""),
        ("alerting", "PlatformTimeToFirstValueSlow", "ok", ""),
        ("alerting", "AdoptionCollectorDown", "ok", ""),
        ("alerting", "AdoptionCollectorDataStale", "ok", ""),
        ("alerting", "AdoptionCollectorAbsent", "ok", ""),
        ("alerting", "AdoptionGitHubRateLimitLow", "ok", ""),
        ("alerting", "AdoptionCollectorListForbidden", "ok", ""),
        ("alerting", "AdoptionCollectorTeamsDropped", "ok", ""),
    ]
    # One collector: every org-wide figure is its own, recorded by the real Prometheus.
    for plain, org in ORG_FIGURES.items():
        (mine,) = query(url, plain)
        (recorded,) = query(url, org)
        assert recorded["metric"] == {"__name__": org}
        assert recorded["value"][1] == mine["value"][1], org  # type: ignore[index]
    for plain, org in ORG_TEAM_FIGURES.items():
        mine = {r["metric"]["team"]: r["value"][1] for r in query(url, plain)}  # type: ignore[index]
        recorded = {r["metric"]["team"]: r["value"][1] for r in query(url, org)}  # type: ignore[index]
        assert recorded == mine != {}, org
    # The scraped collector is healthy and adoption is 100%: once the rules have seen a scrape
    # (AdoptionCollectorAbsent is pending before the first one), no alert is even pending.
    (fresh,) = query(url, "time() - adoption_collector_last_success_timestamp_seconds")
    assert float(fresh["value"][1]) < 3  # type: ignore[index]
    assert eventually(lambda: api(url, "alerts")["alerts"], lambda alerts: not alerts) == []
    (dropped,) = query(url, "adoption_collector_dropped_teams")
    assert dropped["value"][1] == "0"  # type: ignore[index]

    # RBAC refuses StatefulSets: the poll still succeeds, without them; the alert is pending
    # (it fires after 30 minutes) and the dashboard's table lists the kind.
    sim.add_fault("/apis/apps/v1/statefulsets", 403, times=None)

    def alerts_named(name: str) -> Callable[[], list[dict[str, Any]]]:
        def found() -> list[dict[str, Any]]:
            alerts: list[dict[str, Any]] = api(url, "alerts")["alerts"]
            return [a for a in alerts if a["labels"]["alertname"] == name]

        return found

    (refused,) = eventually(alerts_named("AdoptionCollectorListForbidden"), bool)
    assert refused["state"] == "pending"
    assert refused["labels"] == {
        "alertname": "AdoptionCollectorListForbidden",
        "instance": f"127.0.0.1:{port}",
        "job": "adoption",
        "kind": "StatefulSet",
        "kube_cluster": "prod-eu",
        "severity": "warning",
        "source": "kubernetes",
    }
    assert refused["annotations"]["description"] == (
        f"RBAC refuses 127.0.0.1:{port} the list of StatefulSet in cluster prod-eu (for 30m, as "
        "of its last successful poll): those workloads are left out of the adoption figures. "
        "Grant the collector's identity in that cluster get/list/watch on StatefulSet objects; "
        "its log names the resource."
    )
    (table,) = [
        t
        for title, t in queries(dashboards()["collector-health.json"])
        if title == "Kinds refused by RBAC"
    ]
    (row,) = query(url, substitute(table["expr"], job="adoption"))
    metric: dict[str, str] = row["metric"]  # type: ignore[assignment]
    assert (metric["kube_cluster"], metric["kind"]) == ("prod-eu", "StatefulSet")

    sim.add_fault("/api/v1/namespaces", 403, times=None)

    (alert,) = eventually(
        alerts_named("AdoptionCollectorDataStale"),
        lambda alerts: any(a["state"] == "firing" for a in alerts),
    )
    assert alert["state"] == "firing"
    assert alert["labels"] == {
        "alertname": "AdoptionCollectorDataStale",
        "instance": f"127.0.0.1:{port}",
        "job": "adoption",
        "kube_cluster": "prod-eu",
        "severity": "warning",
        "source": "kubernetes",
    }
    assert alert["annotations"]["summary"] == "The adoption collector's data is stale."
    assert alert["annotations"]["description"].startswith(
        f"The last successful poll of source kubernetes (cluster prod-eu) of 127.0.0.1:{port} was "
    )
    # Polls failing for less than 30 minutes: AdoptionCollectorDown is pending, not firing.
    # The refused kind of the last good poll stays refused (and its alert pending).
    states = {a["labels"]["alertname"]: a["state"] for a in api(url, "alerts")["alerts"]}
    assert states == {
        "AdoptionCollectorDataStale": "firing",
        "AdoptionCollectorDown": "pending",
        "AdoptionCollectorListForbidden": "pending",
    }


# Dashboard queries that find nothing here: the collector under test has no GitHub source
# (parse errors and rate limits are GitHub's; repositories too).
EMPTY_WITHOUT_GITHUB = [
    ("collector-health.json", "Errors", "B"),
    ("collector-health.json", "GitHub rate limit left", "A"),
    ("collector-health.json", "GitHub rate limit left (share)", "A"),
    ("collector-health.json", "GitHub rate limit remaining", "A"),
    ("collector-health.json", "GitHub rate limit remaining", "B"),
    ("platform-adoption.json", "Repositories by path", "A"),
    ("platform-adoption.json", "Unowned repositories", "A"),
]
# And the ones a healthy collector leaves empty: RBAC refuses no kind.
EMPTY_WHEN_HEALTHY = [
    ("collector-health.json", "Kinds refused by RBAC", "A"),
]
# And the one that needs a team whose first golden deploy lies inside the dashboard's range:
# seed_small's payments deployed months before this test's range.
EMPTY_WITHOUT_ADOPTION_IN_RANGE = [
    ("platform-adoption.json", "Deploys per team-week before and after adopting", "A"),
    ("platform-adoption.json", "Deploys per team-week before and after adopting", "B"),
]
# And the predictors this collector cannot know: it has no survey, and no team onboarded in
# the last 90 days.
EMPTY_UNKNOWN_PREDICTORS = [
    ("platform-adoption.json", "Developer NPS", "A"),
    ("platform-adoption.json", "Time to first value", "A"),
]
EMPTY = sorted(
    EMPTY_WITHOUT_GITHUB
    + EMPTY_WHEN_HEALTHY
    + EMPTY_WITHOUT_ADOPTION_IN_RANGE
    + EMPTY_UNKNOWN_PREDICTORS
)


def check_dashboard_queries(url: str) -> None:
    """Every dashboard query runs on the real series without an error (e.g. no many-to-many
    match), and all but the GitHub ones and the ones of problems absent here return data."""

    def empty() -> list[tuple[str, str, str]]:
        found = []
        for name, dashboard in dashboards().items():
            for title, target in queries(dashboard):
                if not query(url, substitute(target["expr"], job="adoption")):
                    found.append((name, title, target["refId"]))
        return sorted(found)

    # Rates and increases need two scrapes: wait for them.
    assert eventually(empty, lambda found: found == EMPTY) == EMPTY

"""`report` and `explain`: exact output for the hand-built sample set (tests/test_page.py),
read from a fake collector API (--from) and checked against the demo organisation."""

from __future__ import annotations

import csv
import io
import json
import re
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from collector import page, report
from collector.cli import main
from collector.simulator.demo import DEMO_GITHUB_TOKEN
from collector.simulator.org import GITHUB_TOKEN_ENV
from tests.test_page import CHART_MISS, ES_MISS, SHADOW, SUMMARY, TEAMS, search_team
from tests.test_service import get

TABLE = f"""\
Adoption 67% (2 of 3 active teams adopted), voluntary 50%; target 50% at month 7 of the \
platform. 5 of 12 workloads on a golden path. Polled at 2026-12-05 04:00 UTC.

Active teams (3):
TEAM      ADOPTED  MANDATED  GOLDEN  SHADOW  GOLDEN SHARE  ONBOARDED   DAYS TO FIRST DEPLOY
billing   yes      yes       2       1       67%           2026-05-01  10.5
payments  yes      no        3       2       60%           2026-06-02  7.0
search    no       no        0       3       0%            2026-06-14  -

Migrate first (6 shadow workloads of active teams):
TEAM      WORKLOAD                           TOOL       WHY
search    prod-eu/search/Deployment/indexer  kubectl    {CHART_MISS}
search    prod-eu/search/StatefulSet/es      helm       {ES_MISS}
search    prod-us/search/Deployment/api      unknown    {CHART_MISS}
payments  prod-eu/pay/Deployment/worker      kubectl    service-chart: label \
app.kubernetes.io/managed-by is missing
payments  prod-us/pay/Job/migrate            terraform  {CHART_MISS}
billing   prod-eu/billing/CronJob/report     kubectl    {CHART_MISS}
"""

CSV = """\
team,adopted,mandated,golden_workloads,shadow_workloads,golden_share,onboarded,first_deploy,\
time_to_first_deploy_days
billing,true,true,2,1,0.6667,2026-05-01T00:00:00Z,2026-05-11T12:00:00Z,10.50
payments,true,false,3,2,0.6000,2026-06-02T09:30:00Z,2026-06-09T09:30:00Z,7.00
search,false,false,0,3,0.0000,2026-06-14T09:30:00Z,,
"""

EXPLAIN_SEARCH = f"""\
Team search is active and not adopted (not mandated): 0 of 3 workloads on a golden path \
(golden share 0%).
Deploy tools: helm 1, kubectl 1, unknown 1.
Repositories: 0 golden, 2 shadow, 0 other.
Onboarded 2026-06-14 09:30 UTC: a namespace, created 2026-06-14 09:30 UTC (recorded before \
the state kept its name).
First golden deploy: not yet.
Workloads (3):
  prod-eu/search/Deployment/indexer is shadow: {CHART_MISS}. Team search, from namespace label \
team. Deployed with kubectl (manager kubectl-client-side-apply, 2026-02-20 10:00 UTC).
  prod-eu/search/StatefulSet/es is shadow: {ES_MISS}. Team search, from namespace label team. \
Deployed with helm (manager helm, 2026-06-22 10:00 UTC).
  prod-us/search/Deployment/api is shadow: {CHART_MISS}. Team search, from namespace label \
owner. Deploy tool unknown: no managedFields entry owns its spec.
"""

EXPLAIN_INDEXER = (
    f"prod-eu/search/Deployment/indexer is shadow: {CHART_MISS}. Team search, from namespace "
    "label team. Deployed with kubectl (manager kubectl-client-side-apply, 2026-02-20 10:00 UTC).\n"
)


def migrate() -> list[dict[str, Any]]:
    return page.migrate_first(TEAMS, SHADOW)


def test_table() -> None:
    assert report.format_table(SUMMARY, TEAMS, migrate()) == TABLE
    assert report.format_table(SUMMARY, TEAMS, []).endswith(
        "\nMigrate first: no active team has a shadow workload.\n"
    )


def test_csv_is_the_team_table() -> None:
    assert report.format_csv(TEAMS) == CSV
    rows = list(csv.DictReader(io.StringIO(CSV)))
    assert [r["team"] for r in rows] == ["billing", "payments", "search"]


def test_json_is_one_document_of_the_api_objects() -> None:
    document = json.loads(report.format_json(SUMMARY, TEAMS, migrate()))
    assert document == {"summary": SUMMARY, "teams": TEAMS, "migrate_first": migrate()}


def test_explain_team_text() -> None:
    assert report.explain_team(search_team()) == EXPLAIN_SEARCH


# -- a fake collector API, in the contract's shape ------------------------------------------


class FakeApi(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), ApiHandler)
        self.requests: list[str] = []
        self.ready = True
        self.page_size = 2  # small pages: the client must follow `continue` tokens

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class ApiHandler(BaseHTTPRequestHandler):
    server: FakeApi

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def reply(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        if not self.server.ready:
            self.reply(503, {"error": "no poll has completed yet", "parameter": None})
        elif url.path == "/api/v1/summary":
            self.reply(200, SUMMARY)
        elif url.path == "/api/v1/teams":
            self.reply(200, {"teams": TEAMS})
        elif url.path == "/api/v1/teams/search":
            self.reply(200, search_team())
        elif url.path == "/api/v1/workloads":
            chosen = [
                w
                for w in SHADOW
                if all(w[k] == query[k] for k in ("path", "cluster", "namespace") if k in query)
            ]
            start = int(query.get("continue", "0"))
            end = start + self.server.page_size
            more = str(end) if end < len(chosen) else None
            self.reply(200, {"items": chosen[start:end], "continue": more})
        else:
            self.reply(404, {"error": f"no team {url.path[14:]}", "parameter": None})


@pytest.fixture
def api() -> Iterator[FakeApi]:
    server = FakeApi()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_report_from_a_running_collector(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "report", "--from", api.url + "/") == (0, TABLE, "")
    assert api.requests == [
        "/api/v1/summary",
        "/api/v1/teams",
        "/api/v1/workloads?path=shadow&limit=5000",
        "/api/v1/workloads?path=shadow&limit=5000&continue=2",
        "/api/v1/workloads?path=shadow&limit=5000&continue=4",
        "/api/v1/workloads?path=shadow&limit=5000&continue=6",
    ]
    assert run(capsys, "report", "--from", api.url, "--format", "csv") == (0, CSV, "")
    code, out, _ = run(capsys, "report", "--from", api.url, "--format", "json")
    assert code == 0
    assert json.loads(out) == {"summary": SUMMARY, "teams": TEAMS, "migrate_first": migrate()}


def test_explain_from_a_running_collector(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "explain", "--team", "Search", "--from", api.url) == (
        0,
        EXPLAIN_SEARCH,
        "",
    )
    api.requests.clear()
    workload = "prod-eu/search/Deployment/indexer"
    assert run(capsys, "explain", workload, "--from", api.url) == (0, EXPLAIN_INDEXER, "")
    assert api.requests == ["/api/v1/workloads?cluster=prod-eu&namespace=search&limit=5000"]


def test_explain_unknown_team_or_workload_exits_1(
    api: FakeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "explain", "--team", "nobody", "--from", api.url) == (
        1,
        "",
        "explain: no team named 'nobody' is known\n",
    )
    assert run(capsys, "explain", "prod-eu/search/deployment/indexer", "--from", api.url) == (
        1,
        "",
        "explain: no tracked workload prod-eu/search/deployment/indexer "
        "(kinds are case-sensitive, e.g. Deployment)\n",
    )


def test_unreadable_collector_exits_1(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    api.ready = False
    assert run(capsys, "report", "--from", api.url) == (
        1,
        "",
        f"error: GET {api.url}/api/v1/summary: 503 no poll has completed yet\n",
    )
    api.server_close()  # nothing listens there any more
    code, out, err = run(capsys, "explain", "--team", "search", "--from", api.url)
    assert (code, out) == (1, "")
    assert err.startswith(f"error: GET {api.url}/api/v1/teams/search: ")
    assert run(capsys, "report", "--from", "file:///etc/passwd") == (
        1,
        "",
        "error: file:///etc/passwd: not an http:// or https:// URL of a collector\n",
    )


def test_usage_and_config_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "report") == (2, "", "report: --config FILE or --from URL is required\n")
    assert run(capsys, "explain", "--team", "a", "x/y/Deployment/z") == (
        2,
        "",
        "explain: give either --team TEAM or CLUSTER/NAMESPACE/KIND/NAME\n",
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text("platform: {}\nsurprise: 1\n")
    code, out, err = run(capsys, "report", "--config", str(bad))
    assert (code, out) == (2, "")
    assert err.startswith(f"{bad}: invalid configuration\n")
    with pytest.raises(SystemExit) as exited:
        main(["explain", "prod-eu/search/indexer", "--config", str(bad)])
    assert exited.value.code == 2
    assert "invalid parse_workload value: 'prod-eu/search/indexer'" in capsys.readouterr().err


# -- the real thing: the demo organisation, polled here and read from a running collector ----


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A running demo's URL, and a config polling its simulated clusters and organisation
    with a state file of its own."""
    from tests.e2e.test_status_page_chromium import running_demo

    workdir = tmp_path_factory.mktemp("demo")
    with running_demo(workdir) as url:
        raw = yaml.safe_load((workdir / "config.yaml").read_text())
        raw["state"]["path"] = str(workdir / "report-state.db")
        config = workdir / "report.yaml"
        config.write_text(yaml.safe_dump(raw))
        yield url, config


@pytest.fixture
def demo_token(monkeypatch: pytest.MonkeyPatch) -> None:
    # The demo's config names the variable; the token lives in the demo process only.
    monkeypatch.setenv(GITHUB_TOKEN_ENV, DEMO_GITHUB_TOKEN)


def without_poll_time(text: str) -> str:
    return re.sub(r"Polled at \d{4}-\d\d-\d\d \d\d:\d\d UTC", "Polled at T", text)


@pytest.mark.usefixtures("demo_token")
def test_report_of_the_demo_polled_here_or_read_from_the_collector(
    demo: tuple[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    url, config = demo
    remote = run(capsys, "report", "--from", url)
    local = run(capsys, "report", "--config", str(config))
    assert remote[0] == local[0] == 0
    assert without_poll_time(local[1]) == without_poll_time(remote[1])
    teams = json.loads(get(f"{url}/api/v1/teams")[1])["teams"]
    active = [t["team"] for t in teams if t["active"]]
    assert f"\nActive teams ({len(active)}):\n" in local[1]
    blocks = local[1].split("\n\n")
    # The demo has a product manager, a baseline and a survey: its predictors are all known.
    assert blocks[1].splitlines()[:4] == [
        "Five predictors (5 of 5 met):",
        "  met      Product manager: Dana Reyes.",
        "  met      Pre-platform baseline: 1.5 deploys per team-week, lead time 9 days, measured "
        + blocks[1].split("measured ")[1].split(".")[0]
        + ".",
        "  met      Developer NPS above 20: NPS 30 from 30 answers.",
    ]
    table = blocks[2].splitlines()[2:]
    assert [line.split()[0] for line in table] == sorted(active)
    shadow = sum(t["workload_counts"]["shadow"] for t in teams if t["active"])
    assert f"\nMigrate first ({shadow} shadow workloads of active teams):\n" in local[1]

    code, out, _ = run(capsys, "report", "--config", str(config), "--format", "json")
    document = json.loads(out)
    assert code == 0
    assert sorted(document) == ["migrate_first", "summary", "teams"]
    # The same objects as the running collector's API: only the poll time differs.
    assert document["teams"] == teams
    summary = json.loads(get(f"{url}/api/v1/summary")[1])
    assert {**document["summary"], "polled_at": None} == {**summary, "polled_at": None}
    assert len(document["migrate_first"]) == shadow
    code, out, _ = run(capsys, "report", "--from", url, "--format", "csv")
    assert code == 0
    assert [r["team"] for r in csv.DictReader(io.StringIO(out))] == sorted(active)


@pytest.mark.usefixtures("demo_token")
def test_explain_the_demo_polled_here_or_read_from_the_collector(
    demo: tuple[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    url, config = demo
    teams = json.loads(get(f"{url}/api/v1/teams")[1])["teams"]
    name = next(t["team"] for t in teams if t["active"] and t["workload_counts"]["shadow"])
    remote = run(capsys, "explain", "--team", name, "--from", url)
    local = run(capsys, "explain", "--team", name, "--config", str(config))
    assert remote == local
    assert remote[1].startswith(f"Team {name} is active and ")
    body = json.loads(get(f"{url}/api/v1/teams/{name}")[1])
    w = body["workloads"][0]
    ref = f"{w['cluster']}/{w['namespace']}/{w['kind']}/{w['name']}"
    assert f"\n  {ref} is {w['path']}: {w['reason']}. " in remote[1]
    remote = run(capsys, "explain", ref, "--from", url)
    local = run(capsys, "explain", ref, "--config", str(config))
    assert remote == local == (0, page.explain_workload(w) + "\n", "")
    assert run(capsys, "explain", "--team", "no-such-team", "--config", str(config)) == (
        1,
        "",
        "explain: no team named 'no-such-team' is known\n",
    )

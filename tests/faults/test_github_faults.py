"""GitHub faults through the real pipeline: PyGithub over loopback to the simulated organisation.

Every test runs a good scan, the faulty one and a recovery scan, and pins what the exposition
says after each: the repository figures of the last good scan stay while a scan fails or stops
early, `adoption_collector_up`, the error counter, `poll_complete` and the rate-limit gauges
say what happened, and the next good scan recovers without a restart.

What `up` means: 0 when the scan failed (5xx after its retries, 401, 404, a request past
`github.timeout`, nothing read at all). Throttling is not a failure: a rate limit at its
reserve or exhausted, a secondary limit asking for too long a wait, or `github.poll_timeout`
reached end the scan early with what it read, `up` 1 and `poll_complete` 0; the rate-limit
gauges and a WARNING naming the cause say why, and the next scan carries on by itself.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from collector import config
from collector.pipeline import Pipeline
from collector.simulator.github import GitHubSimulator, RequestRecord
from collector.sources.github import GitHubSource
from collector.state import StateStore
from tests.conftest import CANARY

NOW = 1789466400.0  # 2026-09-15T10:00:00Z, the pipeline's clock
T0 = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
TEMPLATE = "acme/service-template"
ROTATED = CANARY + "-rotated"  # holds the canary: the conftest fails any test that logs it


def catalog(owner: str) -> str:
    return (
        "apiVersion: backstage.io/v1alpha1\nkind: Component\n"
        f"metadata:\n  name: c\nspec:\n  owner: {owner}\n"
    )


class Sleeps(list[float]):
    """Retry-After and backoff waits, recorded rather than slept: the tests stay fast."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@dataclass
class World:
    sim: GitHubSimulator
    pipeline: Pipeline
    source: GitHubSource
    sleeps: Sleeps
    token_file: Path
    clock: list[float]  # the source's wall clock, which decides when a rate limit resets

    def scan(self) -> bool:
        return self.pipeline.poll_github()

    def lines(self, *prefixes: str) -> list[str]:
        text = self.pipeline.exposition.latest.decode()
        return [line for line in text.splitlines() if line.startswith(prefixes)]

    def wait_for_requests(self, which: Callable[[RequestRecord], bool], count: int) -> None:
        deadline = time.monotonic() + 5
        while sum(map(which, self.sim.requests)) < count:
            assert time.monotonic() < deadline, "the simulator never answered"
            time.sleep(0.01)

    def figures(self) -> list[str]:
        return self.lines("adoption_team_repos{", "adoption_unowned_repos ")

    def status(self) -> list[str]:
        return self.lines(
            "adoption_collector_up{",
            "adoption_collector_poll_errors_total{",
            "adoption_collector_poll_complete{",
            "adoption_collector_skipped_objects{",
            'adoption_collector_objects{kind="repositories"',
            "adoption_collector_github_rate_limit_remaining{",
        )


def status(
    *, up: int, errors: int, complete: int, repos: int, core: int, graphql: int, skipped: int = 0
) -> list[str]:
    source = 'kube_cluster="",source="github"'
    return [
        f"adoption_collector_up{{{source}}} {up}.0",
        f"adoption_collector_poll_errors_total{{{source}}} {errors}.0",
        f'adoption_collector_objects{{kind="repositories",{source}}} {repos}.0',
        f"adoption_collector_skipped_objects{{{source}}} {skipped}.0",
        f"adoption_collector_poll_complete{{{source}}} {complete}.0",
        f'adoption_collector_github_rate_limit_remaining{{resource="core"}} {core}.0',
        f'adoption_collector_github_rate_limit_remaining{{resource="graphql"}} {graphql}.0',
    ]


# svc: golden, payments'; tools: shadow, search's (custom property); wiki: other, nobody's.
GOOD = [
    'adoption_team_repos{path="golden",team="payments"} 1.0',
    'adoption_team_repos{path="shadow",team="payments"} 0.0',
    'adoption_team_repos{path="other",team="payments"} 0.0',
    'adoption_team_repos{path="golden",team="search"} 0.0',
    'adoption_team_repos{path="shadow",team="search"} 1.0',
    'adoption_team_repos{path="other",team="search"} 0.0',
    "adoption_unowned_repos 1.0",
]
# After `push_wiki`: wiki's catalog-info.yaml names docs.
CHANGED = [
    'adoption_team_repos{path="golden",team="docs"} 0.0',
    'adoption_team_repos{path="shadow",team="docs"} 0.0',
    'adoption_team_repos{path="other",team="docs"} 1.0',
    *GOOD[:-1],
    "adoption_unowned_repos 0.0",
]


def seed(sim: GitHubSimulator) -> None:
    sim.add_repo(
        "svc",
        created=T0,
        pushed=T0,
        template=TEMPLATE,
        files={"catalog-info.yaml": catalog("group:default/payments")},
    )
    sim.add_repo(
        "tools",
        created=T0 + DAY,
        pushed=T0,
        files={".github/workflows/ci.yml": "on: push\njobs: {}\n"},
        properties={"team": "search"},
    )
    sim.add_repo("wiki", created=T0 + 2 * DAY, pushed=T0)


def push_wiki(sim: GitHubSimulator) -> None:
    """A change the faulty scan must not show and the recovery scan must."""
    sim.push("wiki", files={"catalog-info.yaml": catalog("docs")}, when=T0 + 30 * DAY)


MakeWorld = Callable[..., World]


@pytest.fixture
def make_world(tmp_path: Path) -> Iterator[MakeWorld]:
    built: list[World] = []

    def make(**github: object) -> World:
        sim = GitHubSimulator(org="acme", token=CANARY).start()
        seed(sim)
        token_file = tmp_path / "github-token"
        token_file.write_text(CANARY + "\n")
        raw = {
            "platform": {"launch_date": "2026-03-01"},
            "ownership": {"github_property": "team"},
            "golden_paths": [
                {"name": "service-template", "github": {"template_repositories": [TEMPLATE]}}
            ],
            "github": {
                "org": "acme",
                "base_url": sim.base_url,
                "token_file": str(token_file),
                **github,
            },
            "state": {"path": str(tmp_path / "state.db")},
        }
        settings = config.parse(raw)
        assert settings.github is not None
        clock = [time.time()]
        sleeps = Sleeps()
        source = GitHubSource(
            settings.github, property_name="team", clock=lambda: clock[0], sleep=sleeps
        )
        pipeline = Pipeline(
            settings, StateStore(settings.state.path), sources={}, github=source, clock=lambda: NOW
        )
        world = World(sim, pipeline, source, sleeps, token_file, clock)
        built.append(world)
        return world

    yield make
    for world in built:
        world.pipeline.close()
        world.sim.stop()


def after_a_good_scan(make_world: MakeWorld, **github: object) -> World:
    world = make_world(**github)
    assert world.scan() is True
    assert world.figures() == GOOD
    # One listing page and one GraphQL query, a point each.
    assert world.status() == status(up=1, errors=0, complete=1, repos=3, core=4999, graphql=4999)
    return world


@pytest.fixture
def world(make_world: MakeWorld) -> World:
    return after_a_good_scan(make_world)


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_primary_limit_exhausted_keeps_the_figures_and_waits_for_the_reset(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    push_wiki(world.sim)
    reset = world.clock[0] + 3600
    world.sim.set_rate_limit("core", remaining=0, reset=reset)
    world.sim.clear_requests()

    assert world.scan() is True  # a budget spent (by us or a tool sharing the token) is no failure
    assert world.figures() == GOOD  # the listing as last read: wiki's push is not seen
    assert world.status() == status(up=1, errors=0, complete=0, repos=3, core=0, graphql=4999)
    assert [(r.path, r.status) for r in world.sim.requests] == [("/orgs/acme/repos", 403)]
    assert warnings(caplog) == [
        "github: scan of acme stopped early: the core rate limit is exhausted until "
        f"{_utc(math.ceil(reset))}; keeping what it read (3 repositories), the next scan carries on"
    ]

    world.sim.clear_requests()
    assert world.scan() is True
    assert world.sim.requests == []  # no request at all before the reset
    assert world.status() == status(up=1, errors=0, complete=0, repos=3, core=0, graphql=4999)

    world.sim.set_rate_limit("core", remaining=5000, reset=reset + 3600)
    world.clock[0] = reset + 1
    assert world.scan() is True
    assert world.figures() == CHANGED
    assert world.status() == status(up=1, errors=0, complete=1, repos=3, core=4999, graphql=4998)
    assert world.sleeps == []  # it never sleeps for a reset


def test_graphql_budget_spent_mid_scan_whatever_the_error_type(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    # GitHub answers 200, x-ratelimit-remaining: 0 and an error not always typed
    # RATE_LIMITED: the scan stops with what it read, as at the reserve, never fails.
    push_wiki(world.sim)
    world.sim.graphql_limit_error = {"type": "RATE_LIMIT", "code": "graphql_rate_limit"}
    reset = world.clock[0] + 3600
    world.sim.set_rate_limit("graphql", remaining=0, reset=reset)
    world.sim.clear_requests()

    assert world.scan() is True
    assert world.figures() == GOOD  # wiki as last read: its push needs the query refused
    assert world.status() == status(up=1, errors=0, complete=0, repos=3, core=4998, graphql=0)
    assert [(r.path, r.status) for r in world.sim.requests] == [
        ("/orgs/acme/repos", 200),
        ("/graphql", 200),
    ]
    assert warnings(caplog) == [
        "github: scan of acme stopped early: GraphQL refused the query: API rate limit "
        "exceeded for installation ID 1.; keeping what it read (3 repositories), the next "
        "scan carries on"
    ]

    # The next scan after the reset carries on.
    world.sim.set_rate_limit("graphql", remaining=5000, reset=reset + 3600)
    world.clock[0] = reset + 1
    assert world.scan() is True
    assert world.figures() == CHANGED
    # The listing unchanged since the stopped scan: a 304, which costs nothing.
    assert world.status() == status(up=1, errors=0, complete=1, repos=3, core=4998, graphql=4999)


def test_a_scan_that_stops_before_reading_anything_fails(
    make_world: MakeWorld, caplog: pytest.LogCaptureFixture
) -> None:
    world = make_world()
    reset = time.time() + 3600
    world.sim.set_rate_limit("core", remaining=0, reset=reset)
    # Zero repositories would read as an empty organisation: no figure rather than a wrong one.
    assert world.scan() is False
    assert world.figures() == []
    assert warnings(caplog) == [
        "poll of github failed: github: the core rate limit is exhausted until "
        f"{_utc(math.ceil(reset))}; no repository of acme read yet"
    ]
    # No objects were ever read, and GraphQL was never asked: no samples for them.
    assert world.status() == [
        'adoption_collector_up{kube_cluster="",source="github"} 0.0',
        'adoption_collector_poll_errors_total{kube_cluster="",source="github"} 1.0',
        'adoption_collector_skipped_objects{kube_cluster="",source="github"} 0.0',
        'adoption_collector_poll_complete{kube_cluster="",source="github"} 0.0',
        'adoption_collector_github_rate_limit_remaining{resource="core"} 0.0',
    ]


def test_secondary_limit_is_waited_out_within_its_bound(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    push_wiki(world.sim)
    world.sim.add_fault("/graphql", 403, retry_after=30, times=None)

    assert world.scan() is True
    assert world.sleeps == [30.0, 30.0]  # and the third attempt's 403 ends the scan
    assert world.figures() == GOOD  # wiki's new details could not be read: kept as they were
    # The listing page changed (1 point); each refused query costs GraphQL a point.
    assert world.status() == status(up=1, errors=0, complete=0, repos=3, core=4998, graphql=4996)
    assert warnings(caplog) == [
        "github: scan of acme stopped early: a secondary rate limit was still in force after 3 "
        "attempts; keeping what it read (3 repositories), the next scan carries on"
    ]

    world.sim.clear_faults()
    world.sim.add_fault("/graphql", 429, retry_after=5)
    world.sleeps.clear()
    assert world.scan() is True
    assert world.sleeps == [5.0]
    assert world.figures() == CHANGED
    # The listing answers 304 now, which costs nothing.
    assert world.status() == status(up=1, errors=0, complete=1, repos=3, core=4998, graphql=4994)


def test_server_errors_fail_the_scan_after_two_retries(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    push_wiki(world.sim)
    world.sim.add_fault(".*", 502, times=None)

    assert world.scan() is False
    assert world.sleeps == [1.0, 2.0]
    assert world.figures() == GOOD
    assert world.status() == status(up=0, errors=1, complete=0, repos=3, core=4996, graphql=4999)
    assert warnings(caplog) == ["poll of github failed: github: /orgs/acme/repos: 502 Server Error"]

    world.sim.clear_faults()
    assert world.scan() is True
    assert world.figures() == CHANGED
    assert world.status() == status(up=1, errors=1, complete=1, repos=3, core=4995, graphql=4998)


def test_graphql_partial_errors_keep_what_was_read_and_retry_the_rest(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    sim = world.sim
    push_wiki(sim)
    sim.add_repo(
        "api",
        created=T0 + 3 * DAY,
        pushed=T0,
        template=TEMPLATE,
        files={"catalog-info.yaml": catalog("search")},
    )
    sim.push("svc", files={"README.md": "now with docs"}, when=T0 + 31 * DAY)
    sim.push("tools", files={"catalog-info.yaml": catalog("payments")}, when=T0 + 31 * DAY)
    sim.add_graphql_error("wiki", "Something went wrong while executing your query.")
    saml = "Resource protected by organization SAML enforcement."
    sim.add_graphql_error("api", saml, type="FORBIDDEN")
    sim.add_graphql_error("svc", "Could not resolve to a node", type="NOT_FOUND")

    assert world.scan() is True
    # tools was read and moves to payments; wiki keeps its last read (nobody's), api is not
    # counted until it is read, svc is gone as far as GitHub told us.
    assert world.figures() == [
        'adoption_team_repos{path="golden",team="payments"} 0.0',
        'adoption_team_repos{path="shadow",team="payments"} 1.0',
        'adoption_team_repos{path="other",team="payments"} 0.0',
        "adoption_unowned_repos 1.0",
    ]
    assert world.status() == status(
        up=1, errors=0, complete=0, repos=2, core=4998, graphql=4998, skipped=1
    )
    assert warnings(caplog) == [
        "github: acme/wiki: GraphQL could not read it: "
        "Something went wrong while executing your query.",
        f"github: acme/api: GraphQL could not read it: {saml}",
        "github: scan of acme stopped early: GraphQL could not read 2 repositories; "
        "keeping what it read (2 repositories), the next scan carries on",
    ]

    sim.clear_requests()
    assert world.scan() is True  # the errors were one-off: all three are asked for again
    assert [r.nodes for r in sim.requests if r.path == "/graphql"] == [3]
    assert world.figures() == [
        'adoption_team_repos{path="golden",team="docs"} 0.0',
        'adoption_team_repos{path="shadow",team="docs"} 0.0',
        'adoption_team_repos{path="other",team="docs"} 1.0',
        'adoption_team_repos{path="golden",team="payments"} 1.0',
        'adoption_team_repos{path="shadow",team="payments"} 1.0',
        'adoption_team_repos{path="other",team="payments"} 0.0',
        'adoption_team_repos{path="golden",team="search"} 1.0',
        'adoption_team_repos{path="shadow",team="search"} 0.0',
        'adoption_team_repos{path="other",team="search"} 0.0',
        "adoption_unowned_repos 0.0",
    ]
    assert world.status() == status(up=1, errors=0, complete=1, repos=4, core=4998, graphql=4997)


def test_organisation_not_found(world: World, caplog: pytest.LogCaptureFixture) -> None:
    push_wiki(world.sim)
    # Renamed, or the token lost sight of it: GitHub answers 404 for both.
    world.sim.add_fault("/orgs/acme/", 404, times=None)

    assert world.scan() is False
    assert world.sleeps == []  # not retried: it will not come back by itself
    assert world.figures() == GOOD
    assert world.status() == status(up=0, errors=1, complete=0, repos=3, core=4998, graphql=4999)
    assert warnings(caplog) == [
        "poll of github failed: github: organisation 'acme' not found (404) at "
        f"{world.sim.base_url}: check github.org, and that the token's owner is a member "
        "(or the app is installed there)"
    ]

    world.sim.clear_faults()
    assert world.scan() is True
    assert world.figures() == CHANGED
    assert world.status() == status(up=1, errors=1, complete=1, repos=3, core=4997, graphql=4998)


def test_revoked_token_recovers_when_the_token_file_is_rotated(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    push_wiki(world.sim)
    world.sim.token = ROTATED  # the collector's token is revoked

    assert world.scan() is False
    assert world.scan() is False
    assert world.sleeps == []
    assert world.figures() == GOOD
    assert world.status() == status(up=0, errors=2, complete=0, repos=3, core=4997, graphql=4999)
    message = (
        "poll of github failed: github: the credentials were rejected (401 Bad credentials): "
        "the token or app key is revoked, expired or wrong; "
        f"write a valid token to {world.token_file} (read again on every scan)"
    )
    assert warnings(caplog) == [message, message]

    world.token_file.write_text(ROTATED + "\n")  # no restart: the file is read every scan
    assert world.scan() is True
    assert world.figures() == CHANGED
    assert world.status() == status(up=1, errors=2, complete=1, repos=3, core=4996, graphql=4998)
    assert CANARY not in world.pipeline.exposition.latest.decode()


def test_a_slow_github_stops_the_scan_at_poll_timeout(
    make_world: MakeWorld, caplog: pytest.LogCaptureFixture
) -> None:
    world = make_world(timeout=0.5, poll_timeout=1.0)
    for i in range(100):  # a second listing page, so the scan needs three requests
        world.sim.add_repo(f"filler{i:03}", created=T0 + (10 + i) * DAY, pushed=T0)
    assert world.scan() is True
    good = [*GOOD[:-1], "adoption_unowned_repos 101.0"]
    assert world.figures() == good

    push_wiki(world.sim)
    # Every answer takes 0.4 s, within the request timeout: two pages fit, the query does not.
    world.sim.add_fault(".*", 200, delay=0.4, times=None)
    started = time.monotonic()
    assert world.scan() is True
    elapsed = time.monotonic() - started
    assert 1.0 <= elapsed < 1.5  # the slack covers a loaded machine, not a wait
    assert world.figures() == good
    assert world.status() == status(up=1, errors=0, complete=0, repos=103, core=4997, graphql=4998)
    assert warnings(caplog) == [
        "github: scan of acme stopped early: github.poll_timeout (1s) reached; keeping what it "
        "read (103 repositories), the next scan carries on"
    ]

    world.sim.clear_faults()
    # The simulator charges the query it was still delaying when the collector hung up.
    world.wait_for_requests(lambda r: r.path == "/graphql", 3)
    assert world.scan() is True
    assert world.figures() == [*CHANGED[:-1], "adoption_unowned_repos 100.0"]
    assert world.status() == status(up=1, errors=0, complete=1, repos=103, core=4997, graphql=4996)


def test_a_wait_that_would_pass_poll_timeout_is_not_taken(
    make_world: MakeWorld, caplog: pytest.LogCaptureFixture
) -> None:
    world = after_a_good_scan(make_world, timeout=1.0, poll_timeout=2.0)
    world.source.api.sleep = time.sleep  # a wait taken would really be slept
    push_wiki(world.sim)
    world.sim.add_fault("/graphql", 403, retry_after=5)  # within the 60 s allowance

    started = time.monotonic()
    assert world.scan() is True
    assert time.monotonic() - started < 0.5
    assert world.figures() == GOOD
    assert world.status() == status(up=1, errors=0, complete=0, repos=3, core=4998, graphql=4998)
    assert warnings(caplog) == [
        "github: scan of acme stopped early: GitHub asks to wait 5s (Retry-After), which would "
        "pass github.poll_timeout (2s); keeping what it read (3 repositories), the next scan "
        "carries on"
    ]

    assert world.scan() is True
    assert world.figures() == CHANGED


def test_a_trickling_answer_ends_at_the_request_timeout(
    make_world: MakeWorld, caplog: pytest.LogCaptureFixture
) -> None:
    world = after_a_good_scan(make_world, timeout=0.5)
    push_wiki(world.sim)
    # 64 bytes every 0.2 s: each socket read returns well within any read timeout, so only a
    # limit on the whole request ends it (the whole page would take about 3 s).
    world.sim.add_fault("/orgs/acme/repos", 200, trickle=0.2)
    started = time.monotonic()
    assert world.scan() is False
    assert time.monotonic() - started < 1.0
    assert world.figures() == GOOD
    # The answer's headers (and its rate-limit figures) were never taken in.
    assert world.status() == status(up=0, errors=1, complete=0, repos=3, core=4999, graphql=4999)
    assert warnings(caplog) == [
        "poll of github failed: github: GET /orgs/acme/repos: no complete answer within 0.5s "
        "(github.timeout)"
    ]

    assert world.scan() is True
    assert world.figures() == CHANGED
    assert world.status() == status(up=1, errors=1, complete=1, repos=3, core=4997, graphql=4998)


def _utc(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

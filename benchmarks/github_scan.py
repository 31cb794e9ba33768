"""Figure 5: what scanning an organisation costs in rate-limit points, requests and time.

A full scan (nothing known) and an unchanged rescan (the same source again, no
push in between), at 2,000 and 10,000 repositories. The simulated organisation
charges as GitHub does: REST a point per request but nothing for a 304, GraphQL
a point per query of up to 100 nodes. Points and requests are what the
simulator counted; they do not depend on the machine.
"""

from __future__ import annotations

import os
import time
from typing import Any

from benchmarks import scale
from benchmarks.context import Context
from benchmarks.measure import BenchError
from benchmarks.report import Figure
from benchmarks.servers import GITHUB_TOKEN, GitHubServer
from collector import config
from collector.sources.github import GitHubSource

SIZES = {"2k": 2_000, "10k": 10_000}
REPOS_PER_TEAM = 5
TOKEN_ENV = "BENCH_GITHUB_TOKEN"


def _points(stats: dict[str, Any]) -> int:
    return int(stats["core"]) + int(stats["graphql"])


def _scan(server: GitHubServer, source: GitHubSource) -> tuple[int, int, float]:
    """(points, requests, seconds) of one scan."""
    before = server.stats()
    started = time.perf_counter()
    observation = source.poll()
    seconds = time.perf_counter() - started
    after = server.stats()
    if not observation.complete:
        raise BenchError("the scan stopped early at the rate-limit reserve")
    return _points(after) - _points(before), after["requests"] - before["requests"], seconds


def _size(label: str, repositories: int) -> list[Figure]:
    teams = max(1, round(repositories / REPOS_PER_TEAM))
    with GitHubServer(teams, REPOS_PER_TEAM) as server:
        os.environ[TOKEN_ENV] = GITHUB_TOKEN
        settings = config.GitHub(
            org="acme", base_url=server.base_url, token_env=TOKEN_ENV, timeout=60.0
        )
        source = GitHubSource(settings, property_name="team")
        try:
            full_points, full_requests, full_seconds = _scan(server, source)
            re_points, re_requests, re_seconds = _scan(server, source)
        finally:
            source.close()
        held = server.repositories
    prefix = f"github_{label}"
    return [
        Figure(
            f"{prefix}_full_scan_points_per_100_repos",
            full_points / held * 100,
            "points",
            "<= 5",
            f"{held} repositories",
        ),
        Figure(
            f"{prefix}_rescan_requests_per_2000_repos",
            re_requests / held * 2000,
            "requests",
            "<= 25",
            "unchanged organisation",
        ),
        Figure(f"{prefix}_full_scan_points", full_points, "points"),
        Figure(f"{prefix}_full_scan_requests", full_requests, "requests"),
        Figure(f"{prefix}_full_scan_seconds", full_seconds, "s"),
        Figure(f"{prefix}_rescan_points", re_points, "points"),
        Figure(f"{prefix}_rescan_requests", re_requests, "requests"),
        Figure(f"{prefix}_rescan_seconds", re_seconds, "s"),
    ]


def run(ctx: Context) -> list[Figure]:
    figures = []
    for label, repositories in SIZES.items():
        figures += _size(label, scale.scaled(repositories, ctx.scale, REPOS_PER_TEAM))
    return figures

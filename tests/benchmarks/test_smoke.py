"""The benchmark at a hundredth of its size, so it never rots: every figure is measured and
printed as a well-formed BENCH line. Targets are not enforced here (timings at this size
mean nothing); what does not depend on the machine is checked exactly."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.report import Figure
from benchmarks.servers import GITHUB_TOKEN, KUBE_TOKEN

ROOT = Path(__file__).resolve().parents[2]

# name -> (unit, target), in the order `make bench` prints them.
EXPECTED = {
    "kube_poll_speedup": ("x", ">= 30"),
    "kube_poll_cpu_speedup": ("x", None),
    "kube_poll_memory_ratio": ("x", ">= 5"),
    "kube_poll_collector_peak_rss": ("MB", "< 110"),
    "kube_poll_collector_seconds": ("s", None),
    "kube_poll_naive_seconds": ("s", None),
    "kube_poll_naive_peak_rss": ("MB", None),
    "kube_poll_baseline_rss": ("MB", None),
    "full_cycle_vs_parse": ("x", "<= 0.8"),
    "full_cycle_vs_default_parse": ("x", None),
    "full_cycle_wall_vs_parse": ("x", None),
    "full_cycle_seconds": ("s", None),
    "full_cycle_cpu_seconds": ("s", None),
    "bare_parse_seconds": ("s", None),
    "bare_parse_gc_on_seconds": ("s", None),
    "scrape_p99_ms": ("ms", "< 20"),
    "scrape_failed": ("scrapes", "== 0"),
    "api_workloads_team_p99_ms": ("ms", "< 50"),
    "api_failed": ("requests", "== 0"),
    "scrape_fresh_over_prerendered_p99": ("x", None),
    "scrape_p50_ms": ("ms", None),
    "scrape_fresh_p99_ms": ("ms", None),
    "scrape_fresh_p50_ms": ("ms", None),
    "scrape_fresh_failed": ("scrapes", None),
    "scrape_saturated_p99_ms": ("ms", None),
    "scrape_saturated_per_second": ("scrapes/s", None),
    "multicluster_ratio": ("x", "<= 1.5"),
    "multicluster_ten_seconds": ("s", None),
    "multicluster_one_seconds": ("s", None),
    "multicluster_ten_peak_rss": ("MB", None),
    "multicluster_one_peak_rss": ("MB", None),
    "scale_cpu_growth": ("x", "<= 1.2"),
    "scale_cpu_per_10k_10k": ("s", None),
    "scale_peak_rss_10k": ("MB", None),
    "scale_cpu_per_10k_50k": ("s", None),
    "scale_peak_rss_50k": ("MB", None),
    "memory_growth": ("%", "< 5"),
    "memory_rss_cycle_5": ("MB", None),
    "memory_rss_cycle_50": ("MB", None),
    "memory_rss_max": ("MB", None),
    "memory_peak_rss": ("MB", None),
    **{
        f"github_{size}_{name}": (unit, target)
        for size in ("2k", "10k")
        for name, unit, target in (
            ("full_scan_points_per_100_repos", "points", "<= 5"),
            ("rescan_requests_per_2000_repos", "requests", "<= 25"),
            ("full_scan_points", "points", None),
            ("full_scan_requests", "requests", None),
            ("full_scan_seconds", "s", None),
            ("rescan_points", "points", None),
            ("rescan_requests", "requests", None),
            ("rescan_seconds", "s", None),
        )
    },
}

# Counted by the simulated organisation, so exact at any speed: 23 and 103 repositories
# (20 and 100 of the teams', the platform's two, one never pushed to) fit in one and two
# REST pages; details are one GraphQL query per 100; a rescan is all 304s, free.
GITHUB_COUNTS = {
    "github_2k_full_scan_points": 2,
    "github_2k_full_scan_requests": 2,
    "github_2k_rescan_points": 0,
    "github_2k_rescan_requests": 1,
    "github_10k_full_scan_points": 4,
    "github_10k_full_scan_requests": 4,
    "github_10k_rescan_points": 0,
    "github_10k_rescan_requests": 2,
}


@pytest.fixture(scope="module")
def run() -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "benchmarks", "--scale", "0.01", "--repeat", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _bench_lines(stdout: str) -> list[dict[str, object]]:
    prefix = "BENCH "
    return [
        json.loads(line[len(prefix) :]) for line in stdout.splitlines() if line.startswith(prefix)
    ]


def test_every_figure_is_measured(run: subprocess.CompletedProcess[str]) -> None:
    assert run.returncode == 0, run.stderr[-5000:]
    assert "NOT MEASURED" not in run.stdout


def test_one_well_formed_bench_line_per_figure(run: subprocess.CompletedProcess[str]) -> None:
    lines = _bench_lines(run.stdout)
    assert [line["name"] for line in lines] == list(EXPECTED)
    for line in lines:
        assert list(line) == ["name", "value", "unit", "target", "ok"]
        name, value = str(line["name"]), line["value"]
        assert (line["unit"], line["target"]) == EXPECTED[name], name
        assert isinstance(value, int | float), name
        assert math.isfinite(value), name
        if name != "memory_growth":  # memory may well shrink
            assert value >= 0, name
        target = line["target"]
        expected_ok = Figure(name, float(value), str(line["unit"]), target and str(target)).ok
        assert line["ok"] is expected_ok, name


def test_the_table_shows_every_figure_with_its_target(
    run: subprocess.CompletedProcess[str],
) -> None:
    table = run.stdout.splitlines()
    header = table.index(next(line for line in table if line.startswith("figure ")))
    rows = table[header + 1 : header + 1 + len(EXPECTED)]
    assert [row.split()[0] for row in rows] == list(EXPECTED)
    assert rows[0].split()[3:6] == [">=", "30", "x"]


def test_github_costs_are_exact(run: subprocess.CompletedProcess[str]) -> None:
    values = {line["name"]: line["value"] for line in _bench_lines(run.stdout)}
    assert {name: values[name] for name in GITHUB_COUNTS} == GITHUB_COUNTS


def test_the_paths_compared_read_the_same_and_nothing_failed(
    run: subprocess.CompletedProcess[str],
) -> None:
    values = {line["name"]: line["value"] for line in _bench_lines(run.stdout)}
    # The naive path and the collector read identical records, or kube_poll is not
    # measured at all (checked above); no scrape may fail at any size.
    assert values["scrape_failed"] == 0
    assert values["api_failed"] == 0
    assert values["scrape_fresh_failed"] == 0


def test_no_token_in_the_output(run: subprocess.CompletedProcess[str]) -> None:
    for token in (KUBE_TOKEN, GITHUB_TOKEN):
        assert token not in run.stdout
        assert token not in run.stderr


def test_bench_large_adds_the_200k_point_of_the_scale_curve() -> None:
    command = ["-m", "benchmarks", "--scale", "0.01", "--repeat", "1", "--only", "scale_curve"]
    found = subprocess.run(
        [sys.executable, *command, "--large"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert found.returncode == 0, found.stderr[-5000:]
    lines = {str(line["name"]): line for line in _bench_lines(found.stdout)}
    assert list(lines) == [
        "scale_cpu_growth",
        "scale_cpu_per_10k_10k",
        "scale_peak_rss_10k",
        "scale_cpu_per_10k_50k",
        "scale_peak_rss_50k",
        "scale_cpu_per_10k_200k",
        "scale_peak_rss_200k",
    ]
    assert lines["scale_peak_rss_200k"]["target"] == "< 400"
    assert "at 2000 workloads / at 100" in found.stdout

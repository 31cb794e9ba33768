"""The org-wide recording rules, in promtool, against collectors that really polled.

The simulated organisation (prod-eu, prod-us and a GitHub organisation) is polled four ways,
each by the real pipeline with its own state file: one collector polling everything (the
reference), and the split a regional deployment would run: scope `eu` (prod-eu and GitHub)
as a replica pair, and scope `us` (prod-us only; GitHub is scanned by one scope). Their
expositions become promtool input series, scraped as Prometheus would (job and instance
labels, plus the replica label for a pair nobody deduplicated); every `:org` figure must
equal the reference collector's own figure, with the pair deduplicated and without.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fleet import Fleet, fleet
from tests.records import Samples, parse_samples

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "adoption-collector.rules.yaml"

# The collector's team-level figures and the recording rule that computes each org-wide.
TEAM_FIGURES = {
    "adoption_team_onboarded_timestamp_seconds": "adoption:team_onboarded_timestamp_seconds:org",
    "adoption_team_first_deploy_timestamp_seconds": (
        "adoption:team_first_deploy_timestamp_seconds:org"
    ),
    "adoption_team_time_to_first_deploy_seconds": "adoption:team_time_to_first_deploy_seconds:org",
}
FIGURES = {
    "adoption_active_teams": "adoption:active_teams:org",
    "adoption_adopted_teams": "adoption:adopted_teams:org",
    "adoption_ratio": "adoption:ratio:org",
    "adoption_voluntary_ratio": "adoption:voluntary_ratio:org",
}


@pytest.fixture(scope="module")
def polled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Samples]]:
    workdir = tmp_path_factory.mktemp("org")
    with fleet(workdir) as f:
        yield {
            "all": _poll(f, "all", ["prod-eu", "prod-us"], github=True),
            "eu-0": _poll(f, "eu-0", ["prod-eu"], github=True, scope="eu"),
            "eu-1": _poll(f, "eu-1", ["prod-eu"], github=True, scope="eu"),
            "us": _poll(f, "us", ["prod-us"], github=False, scope="us"),
        }


def _poll(
    f: Fleet, name: str, clusters: list[str], *, github: bool, scope: str | None = None
) -> Samples:
    return parse_samples(f.poll(f.settings(name, clusters, github=github, scope=scope)))


def _values(samples: Samples, name: str) -> dict[str, float]:
    """team (or "" for an unlabelled figure) -> value."""
    return {dict(labels).get("team", ""): v for (n, labels), v in samples.items() if n == name}


def _series(samples: Samples, target: Mapping[str, str]) -> list[dict[str, str]]:
    """Every sample of one collector as a promtool input series, held for an hour."""
    out = []
    for (name, labels), value in sorted(samples.items()):
        if not name.startswith("adoption_") or name.endswith("_created"):
            continue
        text = ", ".join(f'{k}="{v}"' for k, v in (*sorted(target.items()), *labels))
        out.append({"series": f"{name}{{{text}}}", "values": f"{value!r}x12"})
    return out


def _expected(reference: Samples) -> list[dict[str, Any]]:
    """One promql_expr_test per :org rule, its samples the reference collector's figures."""
    tests = []
    for name, record in FIGURES.items():
        ((_, value),) = _values(reference, name).items()
        tests.append(_expr_test(record, [({}, value)]))
    for name, record in TEAM_FIGURES.items():
        samples = [({"team": team}, v) for team, v in sorted(_values(reference, name).items())]
        tests.append(_expr_test(record, samples))
    return tests


def _expr_test(record: str, samples: list[tuple[dict[str, str], float]]) -> dict[str, Any]:
    def labels(extra: dict[str, str]) -> str:
        inner = ", ".join(f'{k}="{v}"' for k, v in extra.items())
        return f"{record}{{{inner}}}" if inner else record

    return {
        "expr": record,
        "eval_time": "30m",
        "exp_samples": [{"labels": labels(extra), "value": value} for extra, value in samples],
    }


def _promtool(unit: dict[str, Any], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, "promtool is missing: `make tools` installs Debian's prometheus"
    path = tmp_path / "org.test.yaml"
    path.write_text(yaml.safe_dump(unit, sort_keys=False))
    return subprocess.run(
        [binary, "test", "rules", str(path)], capture_output=True, text=True, check=False
    )


def _unit(polled: dict[str, Samples], collectors: list[tuple[str, dict[str, str]]]) -> Any:
    series = [s for name, target in collectors for s in _series(polled[name], target)]
    return {
        "rule_files": [str(RULES)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "5m",
                "input_series": series,
                "promql_expr_test": _expected(polled["all"]),
            }
        ],
    }


EU_0 = {"job": "adoption", "instance": "10.0.1.7:9853", "replica": "0"}
EU_1 = {"job": "adoption", "instance": "10.0.1.8:9853", "replica": "1"}
US = {"job": "adoption", "instance": "10.1.4.2:9853", "replica": "0"}


@pytest.mark.parametrize(
    "collectors",
    [
        # Thanos' --query.replica-label or Mimir's HA tracker kept one replica of the pair.
        [("eu-0", EU_0), ("us", US)],
        # Nobody deduplicated: both replicas' series side by side.
        [("eu-0", EU_0), ("eu-1", EU_1), ("us", US)],
        # The other replica survived the deduplication.
        [("eu-1", {**EU_1, "replica": ""}), ("us", {**US, "replica": ""})],
    ],
    ids=["deduplicated", "not-deduplicated", "other-replica"],
)
def test_two_regions_and_a_replica_pair_equal_one_collector(
    polled: dict[str, Samples], collectors: list[tuple[str, dict[str, str]]], tmp_path: Path
) -> None:
    result = _promtool(_unit(polled, collectors), tmp_path)
    assert (result.returncode, result.stderr) == (0, ""), result.stdout


def test_one_collector_alone_equals_its_own_figures(
    polled: dict[str, Samples], tmp_path: Path
) -> None:
    result = _promtool(_unit(polled, [("all", EU_0)]), tmp_path)
    assert (result.returncode, result.stderr) == (0, ""), result.stdout


def test_the_split_is_not_trivial(polled: dict[str, Samples]) -> None:
    """What the rules must get right really happens in the simulated organisation."""
    everything, eu, us = polled["all"], polled["eu-0"], polled["us"]
    # Neither region alone has the organisation's figures.
    for name in FIGURES:
        assert _values(eu, name) != _values(everything, name), name
    # Some teams run in both regions, some in one only.
    active = {r: set(_values(polled[r], "adoption_team_adopted")) for r in ("eu-0", "us")}
    assert active["eu-0"] & active["us"]
    assert active["eu-0"] ^ active["us"]
    # A team adopted in one region only, so "adopted anywhere" is tested.
    adopted = {r: _values(polled[r], "adoption_team_adopted") for r in ("eu-0", "us")}
    assert any(adopted["eu-0"][t] != adopted["us"][t] for t in active["eu-0"] & active["us"]), (
        "no team is adopted in one region and not the other"
    )
    # A team whose onboarding or first deploy the later region dates: the min matters.
    for name in ("adoption_team_onboarded_timestamp_seconds",):
        a, b = _values(eu, name), _values(us, name)
        assert any(a[t] < b[t] for t in a.keys() & b.keys())
        assert any(b[t] < a[t] for t in a.keys() & b.keys())
    # The mandated team counts in the voluntary ratio of neither.
    assert _values(everything, "adoption_team_mandated")["billing"] == 1
    # Replicas of one scope agree exactly on every adoption figure.
    figures = {k: v for k, v in eu.items() if not k[0].startswith("adoption_collector_")}
    assert figures == {
        k: v for k, v in polled["eu-1"].items() if not k[0].startswith("adoption_collector_")
    }
    # The scope is on build_info only (a runtime series: tests/test_exposition.py), never
    # on the figures.
    assert not [k for k in eu if ("scope", "eu") in k[1]]


def test_a_wrong_org_figure_fails_the_harness(polled: dict[str, Samples], tmp_path: Path) -> None:
    """The comparison can fail: a region's own figures are not the organisation's."""
    unit = _unit(polled, [("eu-0", EU_0), ("us", US)])
    unit["tests"][0]["promql_expr_test"] = _expected(polled["eu-0"])
    result = _promtool(unit, tmp_path)
    assert result.returncode == 1
    assert 'expr: "adoption:active_teams:org"' in result.stderr, result.stderr

"""`demo --once`: the real pipeline over real HTTP against the synthetic organisation."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from collector.cli import main


def test_demo_once_prints_a_plausible_organisation(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--once"]) == 0
    out, err = capsys.readouterr()
    families = {f.name: f for f in text_string_to_metric_families(out)}

    def value(name: str) -> float:
        (s,) = families[name].samples
        return s.value

    up = {
        (s.labels["source"], s.labels["kube_cluster"]): s.value
        for s in families["adoption_collector_up"].samples
    }
    assert up == {
        ("github", ""): 1.0,
        ("kubernetes", "prod-eu"): 1.0,
        ("kubernetes", "prod-us"): 1.0,
    }
    assert 25 <= value("adoption_active_teams") <= 35
    assert 0 < value("adoption_adopted_teams") < value("adoption_active_teams")
    assert 0.0 < value("adoption_voluntary_ratio") < 1.0
    mandated = [s.labels["team"] for s in families["adoption_team_mandated"].samples if s.value]
    assert mandated == ["billing"]
    # a mix: fully golden, mixed and shadow-only teams
    per_team: dict[str, dict[str, float]] = {}
    for s in families["adoption_team_workloads"].samples:
        per_team.setdefault(s.labels["team"], {})[s.labels["path"]] = s.value
    kinds = {
        "golden" if t["shadow"] == 0 else "shadow" if t["golden"] == 0 else "mixed"
        for t in per_team.values()
    }
    assert kinds == {"golden", "mixed", "shadow"}
    assert sum(s.value for s in families["adoption_workloads"].samples) > 200
    assert families["adoption_unowned_workloads"].samples
    # Repositories on every path, a few unowned, and the demo's two broken catalog files.
    repo_paths = {s.labels["path"] for s in families["adoption_team_repos"].samples if s.value}
    assert repo_paths == {"golden", "shadow", "other"}
    assert value("adoption_unowned_repos") > 0
    assert value("adoption_collector_parse_errors") == 2
    # shared-apps workloads carry no team label: only catalog links attribute them.
    unowned = {
        s.labels["kube_cluster"]: s.value for s in families["adoption_unowned_workloads"].samples
    }
    assert unowned == {"prod-eu": 3.0, "prod-us": 2.0}
    active, adopted = int(value("adoption_active_teams")), int(value("adoption_adopted_teams"))
    assert f"# demo: {active} active teams, {adopted} adopted (adoption " in err


def test_demo_workdir_keeps_a_config_a_user_can_start_from(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--once", "--workdir", str(tmp_path)]) == 0
    capsys.readouterr()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "adoption-state.db",
        "config.yaml",
        "developer-survey.csv",
        "prod-eu.kubeconfig",
        "prod-us.kubeconfig",
    ]
    assert main(["check-config", str(tmp_path / "config.yaml")]) == 0
    assert (
        capsys.readouterr().out
        == f"{tmp_path / 'config.yaml'}: ok (2 cluster(s), 2 golden path(s))\n"
    )

"""`once` end to end: exit codes, durable history across runs, and no token in any output."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.cli import main
from collector.simulator.kube import KubeSimulator
from tests.cluster import TOKEN, seed_small, write_config
from tests.records import Samples, parse_samples


@pytest.fixture
def sim() -> Iterator[KubeSimulator]:
    with KubeSimulator(token=TOKEN) as simulator:
        seed_small(simulator)
        yield simulator


def once(config_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, Samples, str]:
    code = main(["once", "--config", str(config_path)])
    out, err = capsys.readouterr()
    return code, parse_samples(out), out + err


PAYMENTS = (("team", "payments"),)


def test_first_deploy_survives_deletion_and_restart(
    tmp_path: Path, sim: KubeSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    config_path = write_config(tmp_path, {"prod-eu": sim})
    code, first, _ = once(config_path, capsys)
    assert code == 0
    assert first["adoption_team_first_deploy_timestamp_seconds", PAYMENTS] == 1775001600.0
    assert first["adoption_team_onboarded_timestamp_seconds", PAYMENTS] == 1773100800.0

    # The golden workload goes away: payments is still active but no longer adopted.
    sim.delete("Deployment", "pay", "api")
    code, second, _ = once(config_path, capsys)  # a new process in all but name: same state file
    assert code == 0
    assert second["adoption_team_adopted", PAYMENTS] == 0.0
    assert second["adoption_team_first_deploy_timestamp_seconds", PAYMENTS] == 1775001600.0

    # Then the namespace that dated the team goes too: its workloads are unowned now, the team
    # is not active, and its history is still reported, unchanged.
    sim.delete("Namespace", None, "pay")
    code, second, _ = once(config_path, capsys)
    assert code == 0
    assert ("adoption_team_adopted", PAYMENTS) not in second
    assert second["adoption_team_first_deploy_timestamp_seconds", PAYMENTS] == 1775001600.0
    assert second["adoption_team_onboarded_timestamp_seconds", PAYMENTS] == 1773100800.0
    assert second["adoption_team_time_to_first_deploy_seconds", PAYMENTS] == 22 * 86400.0

    # An earlier golden workload appears (e.g. a cluster came back): the time moves earlier.
    sim.add_workload(
        "Deployment",
        "misc",
        "legacy",
        labels={
            "app.kubernetes.io/managed-by": "Helm",
            "helm.sh/chart": "golden-x",
            "team": "payments",
        },
        created="2026-03-15T00:00:00Z",
    )
    _, third, _ = once(config_path, capsys)
    assert third["adoption_team_first_deploy_timestamp_seconds", PAYMENTS] == 1773532800.0


def test_once_exits_1_when_a_source_fails_and_still_prints(
    tmp_path: Path,
    sim: KubeSimulator,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    config_path = write_config(tmp_path, {"prod-eu": sim})
    # Refused namespaces fail the poll (a refused workload kind would only leave it partial).
    sim.add_fault("/api/v1/namespaces", 403, times=None)
    code, samples, output = once(config_path, capsys)
    assert code == 1
    assert (
        samples["adoption_collector_up", (("kube_cluster", "prod-eu"), ("source", "kubernetes"))]
        == 0.0
    )
    assert "adoption_active_teams" not in {name for name, _ in samples}
    (error,) = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert "cluster prod-eu: list namespaces: forbidden" in error
    assert TOKEN not in output + caplog.text


def test_no_token_in_any_output(
    tmp_path: Path,
    sim: KubeSimulator,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    config_path = write_config(tmp_path, {"prod-eu": sim})
    sim.add_fault(".*", 401, times=1)
    code, _, output = once(config_path, capsys)
    assert code == 1
    assert "prod-eu" in caplog.text
    assert TOKEN not in output + caplog.text


def test_once_with_unusable_state_file_exits_2(
    tmp_path: Path, sim: KubeSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    config_path = write_config(tmp_path, {"prod-eu": sim})
    (tmp_path / "state.db").write_bytes(b"garbage" * 1000)
    assert main(["once", "--config", str(config_path)]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'state.db'} is not a readable adoption-collector state" in err
    assert (tmp_path / "state.db").read_bytes() == b"garbage" * 1000

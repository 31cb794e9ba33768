"""The soak (`make soak`, 1,000 cycles) in small: 30 cycles of churn and faults, then the same
checks against the driver's own ground truth. The full run is not part of `make test`."""

from __future__ import annotations

import json

import pytest

from benchmarks import soak


def test_thirty_faulty_cycles_end_with_the_truth(capsys: pytest.CaptureFixture[str]) -> None:
    result = soak.run(cycles=30, seed=7)
    assert result.violations == []
    assert result.crashes == 0
    # The run was not a quiet one: faults of several kinds, failed polls, real churn.
    assert sum(result.faults.values()) >= 5
    assert len(result.faults) >= 3
    assert result.polls_failed >= 1
    assert result.changes["workloads created"] > result.changes["workloads deleted"] > 0
    # Team figures, histories and repositories of a dozen teams were compared, not a few.
    assert (result.figures["samples compared"] or 0) > 80
    assert soak.main(["--cycles", "3", "--seed", "1"]) == 0
    line = capsys.readouterr().out.splitlines()[-1]
    assert line.startswith("SOAK ")
    assert json.loads(line.removeprefix("SOAK "))["violations"] == []


def test_a_wrong_figure_is_a_violation() -> None:
    truth = soak.Truth()
    truth.namespaces["ns-a"] = ("team-a", soak.LAUNCH.timestamp())
    truth.live["Deployment", "ns-a", "w1"] = soak.Version("team-a", True, 1775001600.0)
    truth.all_seen()
    expected = truth.expected()
    assert expected["adoption_team_first_deploy_timestamp_seconds", (("team", "team-a"),)] == (
        1775001600.0
    )
    exported = dict(expected)
    exported["adoption_active_teams", ()] = 2.0
    del exported["adoption_ratio", ()]
    assert soak.differences(expected, exported) == [
        "adoption_active_teams{}: expected 1, exported 2.0",
        "adoption_ratio{}: expected 1.0, exported None",
    ]

"""`demo --once`: the real pipeline over real HTTP against the synthetic organisation."""

from __future__ import annotations

import logging
import re
import shlex
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from collector.cli import main
from tests.records import parse_samples
from tests.test_service import free_port

UP_GITHUB = (("kube_cluster", ""), ("source", "github"))
UP_BACKSTAGE = (("kube_cluster", ""), ("source", "backstage"))


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
        ("backstage", ""): 1.0,
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
    # The Backstage catalog's team hierarchy: every team under a department.
    parents = {s.labels["team"]: s.labels["parent"] for s in families["adoption_team_info"].samples}
    assert {parents[team] for team in per_team} == {"commerce", "core", "customer", "data"}
    assert {parents[d] for d in ("commerce", "core", "customer", "data")} == {""}
    active, adopted = int(value("adoption_active_teams")), int(value("adoption_adopted_teams"))
    assert f"# demo: {active} active teams, {adopted} adopted (adoption " in err


def test_banner_logs_and_metrics_count_the_same_workloads(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """What is read, what is tracked and why the two differ, alike in each place."""
    caplog.set_level(logging.INFO, "collector")
    assert main(["demo", "--once"]) == 0
    out, err = capsys.readouterr()
    samples = parse_samples(out)
    polls = [
        re.search(
            r"polled kubernetes cluster (\S+) in [0-9.]+s: (\d+) workloads read, (\d+) tracked "
            r"\(not tracked: (\d+) CronJob runs, (\d+) in excluded namespaces\); "
            r"(\d+) namespaces, 0 skipped$",
            r.getMessage(),
        )
        for r in caplog.records
        if r.getMessage().startswith("polled kubernetes")
    ]
    assert len(polls) == 2
    for poll in polls:
        assert poll is not None
        cluster, read, tracked, runs, excluded, namespaces = poll.groups()
        objects = {
            dict(labels)["kind"]: value
            for (name, labels), value in samples.items()
            if name == "adoption_collector_objects" and ("kube_cluster", cluster) in labels
        }
        assert int(read) == sum(v for kind, v in objects.items() if kind != "Namespace")
        assert int(namespaces) == objects["Namespace"]
        assert int(runs) == objects["Job"]  # every demo Job is a CronJob's run
        assert int(excluded) > 0  # the demo has workloads in kube-system
        workloads = sum(
            value
            for (name, labels), value in samples.items()
            if name == "adoption_workloads" and ("kube_cluster", cluster) in labels
        )
        assert int(tracked) == workloads == int(read) - int(runs) - int(excluded)
    tracked_total = sum(int(poll.group(3)) for poll in polls if poll)
    golden = sum(v for (n, labels), v in samples.items()
                 if n == "adoption_workloads" and ("path", "golden") in labels)  # fmt: skip
    assert f"; {int(golden)} of {tracked_total} tracked workloads on a golden path\n" in err


def test_demo_workdir_keeps_a_config_a_user_can_start_from(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--once", "--workdir", str(tmp_path)]) == 0
    capsys.readouterr()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "adoption-state.db",
        "backstage-token",
        "config.yaml",
        "developer-survey.csv",
        "github-token",
        "prod-eu.kubeconfig",
        "prod-us.kubeconfig",
    ]
    for kubeconfig in ("prod-eu.kubeconfig", "prod-us.kubeconfig"):
        assert stat.S_IMODE((tmp_path / kubeconfig).stat().st_mode) == 0o600
    raw = yaml.safe_load((tmp_path / "config.yaml").read_text())
    for section in ("github", "backstage"):
        token = tmp_path / f"{section}-token"
        assert stat.S_IMODE(token.stat().st_mode) == 0o600
        found = raw[section]
        assert (found["token_file"], "token_env" in found) == (str(token), False)
    assert main(["check-config", str(tmp_path / "config.yaml")]) == 0
    assert (
        capsys.readouterr().out
        == f"{tmp_path / 'config.yaml'}: ok (2 cluster(s), 2 golden path(s))\n"
    )


def test_the_demo_hint_works_as_printed_from_another_shell(tmp_path: Path) -> None:
    """The printed command, run as printed in an environment without the demo's own
    variables, polls the simulated clusters and GitHub organisation."""
    program = Path(sys.executable).with_name("adoption-collector")
    demo = subprocess.Popen(
        [program, "demo", "--workdir", str(tmp_path), "--listen", f"127.0.0.1:{free_port()}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert demo.stdout is not None
        lines = []
        for line in demo.stdout:
            lines.append(line)
            if line.startswith("  "):
                break
        assert lines[-2].endswith("try, while this runs:\n"), lines
        assert lines[-1] == f"  {program} once --config {tmp_path / 'config.yaml'}\n"
        copied = subprocess.run(
            shlex.split(lines[-1]),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={"PATH": "/usr/bin:/bin"},
            cwd="/",
        )
        assert copied.returncode == 0, copied.stderr
        samples = parse_samples(copied.stdout)
        assert samples["adoption_collector_up", UP_GITHUB] == 1.0
        assert samples["adoption_collector_up", UP_BACKSTAGE] == 1.0
        demo.send_signal(signal.SIGTERM)
        assert demo.wait(15) == 0
    finally:
        if demo.poll() is None:
            demo.kill()
        demo.wait(10)

"""`check-config`: warnings about valid settings that will not measure what was meant,
`--strict`, `--online`, and a listen host that cannot be resolved."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from collector.cli import main
from collector.simulator.kube import KubeSimulator
from tests.cluster import TOKEN, seed_small, write_config

LAUNCH = {"platform": {"launch_date": "2026-03-01"}}


def check(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["check-config", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def write(tmp_path: Path, raw: dict[str, object]) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture
def sim() -> Iterator[KubeSimulator]:
    with KubeSimulator(token=TOKEN) as simulator:
        seed_small(simulator)
        yield simulator


def test_warnings_name_the_key_and_strict_refuses_them(
    tmp_path: Path,
    sim: KubeSimulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kubeconfig = sim.write_kubeconfig(tmp_path / "prod.kubeconfig", context="prod-eu")
    (tmp_path / "token").write_text(TOKEN)
    monkeypatch.delenv("NO_SUCH_TOKEN_VARIABLE", raising=False)
    raw = {
        **LAUNCH,
        "kubernetes": {
            "clusters": [
                {"name": "a", "kubeconfig": str(tmp_path / "missing.kubeconfig")},
                {"name": "b", "kubeconfig": str(kubeconfig), "context": "prod-us"},
                {"name": "c", "kubeconfig": str(kubeconfig), "context": "prod-eu"},
            ]
        },
        "github": {"org": "acme", "token_env": "NO_SUCH_TOKEN_VARIABLE"},
    }
    path = write(tmp_path, raw)
    code, out, err = check(capsys, str(path))
    assert (code, out) == (0, f"{path}: ok (3 cluster(s), 0 golden path(s))\n")
    assert err == (
        f"warning: kubernetes.clusters[0].kubeconfig: {tmp_path / 'missing.kubeconfig'}: "
        "no such file\n"
        f"warning: kubernetes.clusters[1].context: no context 'prod-us' in {kubeconfig} "
        "(it has: prod-eu)\n"
        "warning: github.token_env: the environment variable NO_SUCH_TOKEN_VARIABLE is not set "
        "(or empty): every GitHub scan will fail\n"
        "warning: golden_paths: none configured: every workload and repository counts as shadow\n"
    )
    code, out, err = check(capsys, "--strict", str(path))
    assert code == 2
    assert err.endswith(f"{path}: 4 warning(s), refused with --strict\n")

    # A token file that exists is fine; its contents are never read into a message.
    raw["github"] = {"org": "acme", "token_file": str(tmp_path / "token")}
    raw["golden_paths"] = [{"name": "svc", "match": {"field_managers": ["helm"]}}]
    raw["kubernetes"] = {"clusters": [{"name": "c", "kubeconfig": str(kubeconfig)}]}
    code, _, err = check(capsys, "--strict", str(write(tmp_path, raw)))
    assert (code, err) == (0, "")


def test_settings_without_effect_are_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = {
        **LAUNCH,
        "ownership": {"github_property": "team"},
        "golden_paths": [
            {"name": "svc", "github": {"template_repositories": ["acme/template"]}},
            {"name": "chart", "match": {"field_managers": ["helm"]}},
        ],
    }
    code, _, err = check(capsys, str(write(tmp_path, raw)))
    assert code == 0
    assert err == (
        "warning: ownership.github_property is set, but there is no github: section: "
        "it is never used\n"
        "warning: golden_paths[0].github is set, but there is no github: section: "
        "it is never used\n"
        "warning: kubernetes.clusters: no clusters and no github: section: "
        "nothing will be polled\n"
    )
    raw = {
        **LAUNCH,
        "github": {"org": "acme", "app": {"app_id": 1, "installation_id": 2,
                                          "private_key_file": str(tmp_path / "app.pem")}},
        "golden_paths": [{"name": "svc", "github": {"template_repositories": ["acme/t"]}}],
    }  # fmt: skip
    code, _, err = check(capsys, str(write(tmp_path, raw)))
    assert (code, err) == (
        0,
        f"warning: github.app.private_key_file: {tmp_path / 'app.pem'}: no such file\n",
    )


def test_online_names_configured_teams_nothing_belongs_to(
    tmp_path: Path, sim: KubeSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    # "billing" runs a workload, "search" owns only a namespace, "bilingg" is a typo.
    path = write_config(
        tmp_path,
        {"prod-eu": sim},
        teams={"mandated": ["Billing", "bilingg"], "onboarded": {"search": "2026-05-01"}},
    )
    code, out, err = check(capsys, "--online", str(path))
    assert (code, out) == (0, f"{path}: ok (1 cluster(s), 2 golden path(s))\n")
    assert err == (
        "warning: teams.mandated: no workload or repository belongs to team 'bilingg'\n"
        "warning: teams.onboarded.search: no workload or repository belongs to team 'search'\n"
    )
    assert not (tmp_path / "state.db").exists()  # the check writes no history
    assert check(capsys, "--online", "--strict", str(path))[0] == 2
    # Without --online nothing is polled, so nothing is said about teams.
    assert check(capsys, str(path))[2] == ""


def test_online_says_when_a_source_could_not_be_polled(
    tmp_path: Path, sim: KubeSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, {"prod-eu": sim}, teams={})
    sim.add_fault("/api/v1/namespaces", 403, times=None)
    code, _, err = check(capsys, "--online", str(path))
    assert (code, err) == (0, "warning: a source could not be polled (see the errors above)\n")


def test_a_listen_host_that_cannot_be_resolved_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo("nonsense.invalid", 9853)
    path = write(tmp_path, {**LAUNCH, "server": {"listen": "nonsense.invalid:9853"}})
    assert check(capsys, str(path)) == (
        2,
        "",
        f"{path}: invalid configuration\n"
        "  server.listen: host nonsense.invalid cannot be resolved\n",
    )


def test_config_comes_from_option_or_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, {**LAUNCH, "golden_paths": [{"name": "a", "match": {"labels": {}}}]})
    ok = (0, f"{path}: ok (0 cluster(s), 1 golden path(s))\n")
    assert check(capsys, "--config", str(path))[:2] == ok
    monkeypatch.setenv("ADOPTION_COLLECTOR_CONFIG", str(path))
    assert check(capsys)[:2] == ok
    monkeypatch.delenv("ADOPTION_COLLECTOR_CONFIG")
    assert check(capsys) == (
        2,
        "",
        "check-config: give FILE, --config FILE or set ADOPTION_COLLECTOR_CONFIG\n",
    )


def test_the_backstage_token_and_the_survey_file_are_checked_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_SUCH_BACKSTAGE_TOKEN", raising=False)
    raw = {
        "platform": {"launch_date": "2026-03-01", "nps": str(tmp_path / "survey.csv")},
        "backstage": {"base_url": "https://b.example.com", "token_env": "NO_SUCH_BACKSTAGE_TOKEN"},
        "golden_paths": [{"name": "svc", "match": {"field_managers": ["helm"]}}],
        "kubernetes": {"clusters": [{"name": "here", "in_cluster": True}]},
    }  # fmt: skip
    code, _, err = check(capsys, str(write(tmp_path, raw)))
    assert (code, err) == (
        0,
        "warning: backstage.token_env: the environment variable NO_SUCH_BACKSTAGE_TOKEN is not "
        "set (or empty): every Backstage poll will fail\n"
        f"warning: platform.nps: {tmp_path / 'survey.csv'}: no such file: the developer NPS is "
        "not known\n",
    )
    raw["backstage"] = {"base_url": "https://b.example.com", "token_file": str(tmp_path / "t")}
    code, _, err = check(capsys, str(write(tmp_path, raw)))
    assert err.startswith(f"warning: backstage.token_file: {tmp_path / 't'}: no such file\n")
    (tmp_path / "t").write_text("a token, never printed")
    (tmp_path / "survey.csv").write_text("date,score\n")
    code, _, err = check(capsys, "--strict", str(write(tmp_path, raw)))
    assert (code, err) == (0, "")

"""The rendered collector config: valid for the real CLI, with the chart-managed keys set."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helm_python import Chart, HelmRenderError

from collector import checks, config
from tests.helm.chart import (
    CASES,
    CHART_DIR,
    GITHUB_APP,
    LAUNCH,
    NAMESPACE,
    RELEASE,
    Rendered,
    case_values,
    merged,
    render,
)

CLI = Path(sys.executable).with_name("adoption-collector")


@pytest.mark.parametrize("case", CASES)
def test_rendered_config_passes_check_config(case: str, tmp_path: Path) -> None:
    rendered = render(case_values(case))
    path = tmp_path / "config.yaml"
    path.write_text(rendered.config_text)
    result = subprocess.run(
        [CLI, "check-config", str(path)], capture_output=True, text=True, timeout=30, check=False
    )
    # Valid; what it warns about (files only the pod mounts, no golden paths) is its own test's.
    warnings = checks.offline(config.load(path), os.environ)
    assert (result.returncode, result.stderr) == (0, "".join(f"warning: {w}\n" for w in warnings))
    clusters = len(rendered.config["kubernetes"]["clusters"])
    paths = len(rendered.config["golden_paths"])
    assert result.stdout == f"{path}: ok ({clusters} cluster(s), {paths} golden path(s))\n"


def test_default_config_is_exactly_values_config_plus_the_managed_keys(default: Rendered) -> None:
    assert default.config == {
        "platform": {"launch_date": "2026-03-01"},
        "teams": {"mandated": [], "onboarded": {}},
        "ownership": {"labels": ["team", "owner"], "namespaces": {}},
        "kubernetes": {
            "interval": "5m",
            "timeout": "30s",
            "poll_timeout": "2m",
            "page_size": 500,
            "clusters": [{"name": "in-cluster", "in_cluster": True}],
            "include_namespaces": ["*"],
            "exclude_namespaces": [],
            "track_system_namespaces": False,
            "kinds": ["Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job"],
        },
        "limits": {"max_teams": 2000, "max_workload_series": 10000},
        "exporter": {"workload_info": False},
        "golden_paths": [],
        "state": {"path": "/var/lib/adoption-collector/state.db", "on_unreadable": "fail"},
        "server": {"listen": "0.0.0.0:9853"},
    }
    # The values' defaults are the collector's own: the chart changes nothing by restating them.
    chart_settings = config.parse(default.config)
    plain = config.parse(
        {
            "platform": {"launch_date": "2026-03-01"},
            "kubernetes": {"clusters": [{"name": "in-cluster", "in_cluster": True}]},
            "state": {"path": "/var/lib/adoption-collector/state.db"},
        }
    )
    assert chart_settings == plain


def test_cluster_name_names_the_default_cluster() -> None:
    rendered = render(merged(LAUNCH, {"clusterName": "prod-eu"}))
    assert rendered.config["kubernetes"]["clusters"] == [{"name": "prod-eu", "in_cluster": True}]


def test_persistence_on_unreadable_sets_the_state_policy() -> None:
    rendered = render(merged(LAUNCH, {"persistence": {"onUnreadable": "keep_aside"}}))
    assert rendered.config["state"] == {
        "path": "/var/lib/adoption-collector/state.db",
        "on_unreadable": "keep_aside",
    }
    assert config.parse(rendered.config).state.on_unreadable == "keep_aside"


def test_everything_config_keeps_every_user_key(everything: Rendered) -> None:
    settings = config.parse(everything.config)
    assert [c.name for c in settings.kubernetes.clusters] == ["prod-eu", "prod-us"]
    assert settings.kubernetes.interval == 600.0
    assert settings.kubernetes.page_size == 250
    assert settings.kubernetes.poll_timeout == 180.0
    assert settings.limits.max_teams == 500
    assert settings.teams.mandated == ("billing",)
    assert settings.ownership.github_property == "team"
    assert [p.name for p in settings.golden_paths] == ["service-chart", "gitops"]
    assert settings.github is not None
    assert settings.github.model_dump() == {
        "org": "acme",
        "base_url": "https://github.example.com/api/v3",
        "token_env": None,
        "token_file": "/etc/adoption-collector/github-token",
        "app": None,
        "interval": 3600.0,
        "timeout": 15.0,
        "poll_timeout": 1200.0,
        "include_archived": True,
        "rate_limit_reserve": 0.2,
    }
    assert settings.state.path == "/var/lib/adoption-collector/state.db"
    assert settings.server.listen == "0.0.0.0:9853"


def test_github_section_is_left_out_until_org_is_set(default: Rendered) -> None:
    assert "github" not in default.config


def test_github_app_config(github_app: Rendered) -> None:
    assert github_app.config["github"] == {
        "org": "acme",
        "base_url": "https://api.github.com",
        "interval": "30m",
        "timeout": "30s",
        "poll_timeout": "10m",
        "include_archived": False,
        "rate_limit_reserve": 0.1,
        "app": {
            "app_id": 123456,
            "installation_id": 78901234,
            "private_key_file": "/etc/adoption-collector/github-app-private-key.pem",
        },
    }


def test_user_managed_github_credential_is_kept() -> None:
    # The whole config schema is reachable: a token file the user mounts with extraVolumes.
    values = merged(LAUNCH, {"config": {"github": {"org": "acme", "token_file": "/etc/gh/token"}}})
    rendered = render(values)
    assert rendered.config["github"]["token_file"] == "/etc/gh/token"
    assert "token_env" not in rendered.config["github"]
    assert rendered.all("Secret") == []


def _render_error(values: dict[str, Any]) -> str:
    with pytest.raises(HelmRenderError) as info:
        render(values)
    return str(info.value)


TOKEN = {"github": {"token": {"value": "ghp_x"}}}
ORG = {"config": {"github": {"org": "acme"}}}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            merged(LAUNCH, TOKEN),
            "github.token is set but config.github.org is not",
        ),
        (
            merged(LAUNCH, ORG),
            "config.github.org is set but no GitHub credential",
        ),
        (
            merged(LAUNCH, GITHUB_APP, TOKEN),
            "set either github.token or github.app, not both",
        ),
        (
            merged(LAUNCH, ORG, TOKEN, {"github": {"token": {"existingSecret": "gh"}}}),
            "github.token: set either existingSecret or value, not both",
        ),
        (
            merged(LAUNCH, ORG, TOKEN, {"config": {"github": {"token_env": "MY_TOKEN"}}}),
            "config.github.token_env conflicts with the credential set under github.token",
        ),
        (
            merged(LAUNCH, GITHUB_APP, {"github": {"app": {"installationId": 0}}}),
            "github.app.appId and github.app.installationId are required",
        ),
    ],
    ids=[
        "token-without-org",
        "org-without-credential",
        "two-credentials",
        "two-token-sources",
        "config-and-chart-credential",
        "app-without-ids",
    ],
)
def test_github_credential_mistakes_fail_clearly(values: dict[str, Any], message: str) -> None:
    assert message in _render_error(values)


def test_launch_date_is_required() -> None:
    assert "config.platform.launch_date is required" in _render_error({})


@pytest.fixture(scope="module")
def schemaless_chart(tmp_path_factory: pytest.TempPathFactory) -> Chart:
    """The chart without values.schema.json, as with `helm install --skip-schema-validation`."""
    directory = tmp_path_factory.mktemp("chart") / "adoption-collector"
    shutil.copytree(CHART_DIR, directory)
    (directory / "values.schema.json").unlink()
    return Chart.load(directory)


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("state", "config.state is managed by the chart (the state lives on the persistence"),
        ("server", "config.server is managed by the chart (use service.port)"),
    ],
)
def test_managed_keys_cannot_be_overridden_even_without_the_schema(
    schemaless_chart: Chart, key: str, message: str
) -> None:
    values = merged(LAUNCH, {"config": {key: {"path": "/x", "listen": "0.0.0.0:1"}}})
    with pytest.raises(HelmRenderError) as info:
        schemaless_chart.render(values, name=RELEASE, namespace=NAMESPACE)
    assert message in str(info.value)
    # And the schemaless chart renders the normal case exactly like the real one.
    files = schemaless_chart.render(LAUNCH, name=RELEASE, namespace=NAMESPACE)
    assert files == render(LAUNCH).files

"""Config validation: defaults, durations, and every problem reported with its key path."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from collector import config
from collector.cli import main


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def problems(raw: object) -> list[str]:
    with pytest.raises(config.ConfigError) as info:
        config.parse(raw)
    return info.value.problems


def test_minimal_config_gets_the_documented_defaults() -> None:
    s = config.parse({"platform": {"launch_date": "2026-03-01"}})
    assert [(t.months, t.ratio) for t in s.platform.adoption_targets] == [
        (0, 0.10),
        (3, 0.30),
        (6, 0.50),
        (12, 0.70),
    ]
    assert s.ownership.labels == ("team", "owner")
    assert s.kubernetes.interval == 300.0
    assert s.kubernetes.include_namespaces == ("*",)
    assert s.kubernetes.exclude_namespaces == ()
    assert s.kubernetes.excluded_namespaces == ("kube-system", "kube-public", "kube-node-lease")
    assert s.kubernetes.kinds == ("Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job")
    assert s.state.path == "./adoption-state.db"
    assert (s.server.host, s.server.port) == ("0.0.0.0", 9853)


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30.0), ("5m", 300.0), ("1h", 3600.0), ("1d", 86400.0), (90, 90.0)]
)
def test_durations(text: object, seconds: float) -> None:
    assert config.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["5", "5 minutes", "-1m", "0s", "1w", True, None])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        config.parse_duration(text)


def test_every_problem_is_reported_with_its_key_path() -> None:
    raw = {
        "platform": {"launch_date": "March", "adoption_targets": [{"months": 3, "ratio": 1.5}]},
        "teams": {"mandatd": ["billing"]},
        "kubernetes": {
            "interval": "5 minutes",
            "clusters": [{"name": "a", "kubeconfig": "/k", "in_cluster": True}],
            "kinds": ["Deployment", "Pod"],
        },
        "golden_paths": [
            {"name": "ok", "match": {"field_managers": ["argocd-controller"]}},
            {
                "name": "bad",
                "match": {
                    "labels": {
                        "matchExpressions": [{"key": "a", "operator": "Equals", "values": ["x"]}]
                    }
                },
            },
            {
                "name": "regex",
                "match": {
                    "annotations": {
                        "matchExpressions": [{"key": "a", "operator": "Matches", "values": ["("]}]
                    }
                },
            },
            {"name": "empty", "match": {}},
        ],
        "server": {"listen": "9853"},
    }
    assert problems(raw) == [
        "platform.launch_date: must be a date in the form YYYY-MM-DD, not 'March'",
        "platform.adoption_targets[0].ratio: must be less than or equal to 1",
        "teams.mandatd: unknown key: did you mean mandated?",
        "kubernetes.interval: must be a duration such as 30s, 5m, 1h or 1d, not '5 minutes'",
        "kubernetes.clusters[0]: set exactly one of kubeconfig or in_cluster: true",
        "kubernetes.kinds[1]: must be one of Deployment, StatefulSet, DaemonSet, CronJob, Job, "
        "not 'Pod'",
        "golden_paths[1].match.labels.matchExpressions[0].operator: "
        "must be one of In, NotIn, Exists, DoesNotExist, Matches, not 'Equals'",
        "golden_paths[2].match.annotations.matchExpressions[0]: "
        "values: '(' is not a regular expression: missing ), unterminated subpattern at position 0",
        "golden_paths[3].match: "
        "give at least one of labels, annotations, namespace_labels, field_managers",
        "server.listen: must be HOST:PORT, e.g. 0.0.0.0:9853",
    ]


def test_missing_required_key() -> None:
    assert problems({"kubernetes": {}}) == ["platform: required key is missing"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, ["(top level): the file is empty"]),
        ([1, 2], ["(top level): must be a mapping of sections"]),
        (
            {
                "platform": {"launch_date": "2026-03-01"},
                "golden_paths": [
                    {"name": "a", "match": {"field_managers": ["x"]}},
                    {"name": "a", "match": {"field_managers": ["y"]}},
                ],
            },
            ["golden_paths: golden path names must be unique"],
        ),
        (
            {
                "platform": {"launch_date": "2026-03-01"},
                "golden_paths": [
                    {
                        "name": "a",
                        "match": {
                            "labels": {
                                "matchExpressions": [
                                    {"key": "k", "operator": "Exists", "values": ["v"]}
                                ]
                            }
                        },
                    }
                ],
            },
            [
                "golden_paths[0].match.labels.matchExpressions[0]: "
                "values must be empty for operator Exists"
            ],
        ),
    ],
)
def test_structural_problems(raw: object, expected: list[str]) -> None:
    assert problems(raw) == expected


def test_a_token_pasted_as_token_env_is_refused_without_being_echoed() -> None:
    token = "ghp_" + "a1B2" * 9
    raw = {"platform": {"launch_date": "2026-03-01"}, "github": {"org": "acme", "token_env": token}}
    expected = [
        "github.token_env: must be the NAME of an environment variable, such as GITHUB_TOKEN, "
        "not the token itself"
    ]
    assert problems(raw) == expected
    raw["github"]["token_env"] = "not a name"
    assert problems(raw) == expected
    raw["github"]["token_env"] = "gh_token"  # lower case is a legal name
    assert config.parse(raw).github is not None


def test_check_config_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(
        tmp_path,
        """
        platform: {launch_date: "2026-03-01"}
        kubernetes:
          clusters: [{name: prod-eu, kubeconfig: /etc/kube/config, context: prod-eu}]
        golden_paths:
          - name: service-chart
            match:
              labels:
                matchLabels: {app.kubernetes.io/managed-by: Helm}
                matchExpressions:
                  - {key: helm.sh/chart, operator: Matches, values: ["^golden-service-"]}
        """,
    )
    assert main(["check-config", str(path)]) == 0
    assert capsys.readouterr().out == f"{path}: ok (1 cluster(s), 1 golden path(s))\n"


def test_check_config_mistake_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(
        tmp_path,
        """
        platform: {launch_date: "2026-03-01"}
        golden_paths:
          - name: a
            match: {field_managers: [helm]}
          - name: b
            match:
              labels:
                matchExpressions: [{key: k, operator: Like, values: [x]}]
        """,
    )
    assert main(["check-config", str(path)]) == 2
    assert capsys.readouterr().err == (
        f"{path}: invalid configuration\n"
        "  golden_paths[1].match.labels.matchExpressions[0].operator: "
        "must be one of In, NotIn, Exists, DoesNotExist, Matches, not 'Like'\n"
    )


def test_check_config_bad_yaml_and_missing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "platform: [unclosed\n")
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{path}: invalid configuration\n  line 2, column 1: not valid YAML")
    assert main(["check-config", str(tmp_path / "nope.yaml")]) == 2
    assert capsys.readouterr().err == (
        f"{tmp_path / 'nope.yaml'}: invalid configuration\n"
        "  (file): cannot read: No such file or directory\n"
    )


@pytest.mark.parametrize("command", ["once", "run"])
def test_run_and_once_validate_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    path = write(tmp_path, "platform: {}\nstate: {path: never-created.db}\n")
    assert main([command, "--config", str(path)]) == 2
    assert "platform.launch_date: required key is missing" in capsys.readouterr().err
    assert not (tmp_path / "never-created.db").exists()


def test_problems_are_in_the_words_of_yaml_and_echo_plain_values() -> None:
    regex = {"key": "k", "operator": "Regex", "values": ["x"]}
    raw = {
        "platform": {"launch_date": "2026-03-01"},
        "teams": {"mandated": "billing", "onboraded": {}},
        "kubernetes": {"interval": "5min", "page_size": "lots", "clustres": []},
        "github": {"org": "acme", "token_env": "GITHUB_TOKEN", "include_archived": "maybe"},
        "golden_paths": [
            {"name": "a", "match": {"labels": {"matchExpresions": []}, "field_managers": ["x"]}},
            {"name": "b", "match": {"labels": {"matchExpressions": [regex]}}},
        ],
        "server": 9853,
        "limits": {"max_teams": 1.5},
    }  # fmt: skip
    assert problems(raw) == [
        "teams.mandated: must be a list",
        "teams.onboraded: unknown key: did you mean onboarded?",
        "kubernetes.interval: must be a duration such as 30s, 5m, 1h or 1d, not '5min'",
        "kubernetes.page_size: must be a whole number, not 'lots'",
        "kubernetes.clustres: unknown key: did you mean clusters?",
        "github.include_archived: must be true or false, not 'maybe'",
        "golden_paths[0].match.labels.matchExpresions: unknown key: did you mean matchExpressions?",
        "golden_paths[1].match.labels.matchExpressions[0].operator: "
        "must be one of In, NotIn, Exists, DoesNotExist, Matches, not 'Regex'",
        "server: must be a mapping",
        "limits.max_teams: must be a whole number, not 1.5",
    ]


@pytest.mark.parametrize(
    "value",
    [
        "ghp_0123456789abcdefghijklmnopqrstuvwxyz",  # a token: long
        "s3cr3t pass!",  # not a plain word
        "a" * 17,
    ],
)
def test_values_that_may_be_secrets_are_never_echoed(value: str) -> None:
    raw = {"platform": {"launch_date": "2026-03-01"}, "kubernetes": {"kinds": [value]}}
    assert problems(raw) == [
        "kubernetes.kinds[0]: must be one of Deployment, StatefulSet, DaemonSet, CronJob, Job"
    ]


def test_collector_scope_is_optional_and_named_when_wrong() -> None:
    base = {"platform": {"launch_date": "2026-03-01"}}
    assert config.parse(base).collector.scope is None
    assert config.parse({**base, "collector": {"scope": "eu"}}).collector.scope == "eu"
    assert problems({**base, "collector": {"scope": ""}}) == ["collector.scope: must not be empty"]
    assert problems({**base, "collector": {"scope": ["eu"]}}) == [
        "collector.scope: must be a string"
    ]


def test_service_account_paths_apply_only_in_cluster() -> None:
    in_cluster = {
        "name": "here",
        "in_cluster": True,
        "token_file": "/sa/token",
        "ca_file": "/sa/ca",
    }
    s = config.parse(
        {"platform": {"launch_date": "2026-03-01"}, "kubernetes": {"clusters": [in_cluster]}}
    )
    assert (s.kubernetes.clusters[0].token_file, s.kubernetes.clusters[0].ca_file) == (
        "/sa/token",
        "/sa/ca",
    )
    remote = {"name": "eu", "kubeconfig": "/k", "token_file": "/sa/token"}
    raw = {"platform": {"launch_date": "2026-03-01"}, "kubernetes": {"clusters": [remote]}}
    assert problems(raw) == [
        "kubernetes.clusters[0]: token_file and ca_file apply only with in_cluster: true"
    ]

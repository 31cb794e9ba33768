"""deploy/Dockerfile agrees with the chart: entrypoint, config path, state dir, port and UID.

The Dockerfile is parsed and checked against the rendered Deployment and pyproject.toml here;
tests/image builds the image and runs it (make test-image).
"""

from __future__ import annotations

import json
import posixpath
import re
import tomllib
from dataclasses import dataclass, field

import pytest

from collector.cli import build_parser
from tests.helm.chart import ROOT, Rendered

DOCKERFILE = ROOT / "deploy" / "Dockerfile"


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, instruction: str) -> list[str]:
        return [arg for ins, arg in self.instructions if ins == instruction]


def parse_dockerfile(text: str) -> list[Stage]:
    """Stages with their (INSTRUCTION, arguments) in order; continuations joined. ARGs before
    the first FROM form a stage of their own, with the base "" and no name."""
    stages: list[Stage] = [Stage("", None)]
    logical = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not logical and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        logical += line
        instruction, _, args = logical.partition(" ")
        instruction, args = instruction.upper(), " ".join(args.split())
        logical = ""
        if instruction == "FROM":
            match = re.fullmatch(r"(\S+)(?: AS (\S+))?", args, re.IGNORECASE)
            assert match, args
            stages.append(Stage(match.group(1), match.group(2)))
        else:
            stages[-1].instructions.append((instruction, args))
    return stages


GLOBAL, *STAGES = parse_dockerfile(DOCKERFILE.read_text())
FINAL = STAGES[-1]


def exec_form(args: str) -> list[str]:
    """ENTRYPOINT/CMD must be JSON (exec form): signals reach the collector, no shell."""
    parsed = json.loads(args)
    assert isinstance(parsed, list)
    return [str(a) for a in parsed]


def test_two_stages_on_one_base_slim_python_by_default() -> None:
    assert GLOBAL.instructions == [("ARG", "BASE_IMAGE=python:3.12-slim")]
    assert [(s.base, s.name) for s in STAGES] == [
        ("${BASE_IMAGE}", "build"),
        ("${BASE_IMAGE}", None),
    ]


def test_final_stage_copies_only_the_venv() -> None:
    assert FINAL.all("COPY") == ["--from=build /opt/venv /opt/venv"]
    (build_lock, *_) = STAGES[0].all("COPY")
    assert build_lock == "requirements.lock /tmp/requirements.lock"
    assert any("--require-hashes -r /tmp/requirements.lock" in run for run in STAGES[0].all("RUN"))


def test_version_label_defaults_to_the_package_version() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert FINAL.all("ARG") == [f"VERSION={version}", "REVISION=unknown"]


def test_the_revision_reaches_build_info() -> None:
    assert FINAL.all("ENV")[0] == "ADOPTION_COLLECTOR_REVISION=${REVISION}"


def test_read_only_root_filesystem_settings() -> None:
    env = FINAL.all("ENV")[1]
    assert "PYTHONDONTWRITEBYTECODE=1" in env.split()
    assert env.split()[0].startswith("PATH=/opt/venv/bin:")


def test_entrypoint_is_the_projects_console_script() -> None:
    (entrypoint,) = FINAL.all("ENTRYPOINT")
    assert exec_form(entrypoint) == ["adoption-collector"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"adoption-collector": "collector.cli:main"}


def test_cmd_runs_with_the_config_the_chart_mounts(default: Rendered) -> None:
    (cmd,) = FINAL.all("CMD")
    image_args = exec_form(cmd)
    assert image_args == ["run", "--config", "/etc/adoption-collector/config.yaml"]
    # The chart passes --log-level first, then exactly the image's default command.
    chart_args = default.container["args"]
    assert chart_args[2:] == image_args
    parsed = build_parser().parse_args(chart_args)
    assert (parsed.command, parsed.config, parsed.log_level) == (
        "run",
        "/etc/adoption-collector/config.yaml",
        "info",
    )
    (mount,) = [m for m in default.container["volumeMounts"] if m["name"] == "config"]
    assert posixpath.dirname(parsed.config) == mount["mountPath"]
    assert "command" not in default.container


def test_user_matches_the_charts_uid_and_gid(default: Rendered) -> None:
    (user,) = FINAL.all("USER")
    assert user == "65532:65532"
    uid, gid = (int(part) for part in user.split(":"))
    pod = default.pod["securityContext"]
    assert (pod["runAsUser"], pod["runAsGroup"], pod["fsGroup"]) == (uid, gid, gid)
    (run,) = FINAL.all("RUN")
    assert f"useradd --system --uid {uid} --gid {gid}" in run
    assert f"groupadd --system --gid {gid}" in run
    kinds = [ins for ins, _ in FINAL.instructions]
    assert kinds[-4:] == ["USER", "EXPOSE", "ENTRYPOINT", "CMD"]  # nothing runs as root after


def test_state_dir_is_created_for_the_user_where_the_chart_mounts_it(default: Rendered) -> None:
    state_dir = posixpath.dirname(default.config["state"]["path"])
    (mount,) = [m for m in default.container["volumeMounts"] if m["name"] == "state"]
    assert mount["mountPath"] == state_dir == "/var/lib/adoption-collector"
    (run,) = FINAL.all("RUN")
    assert f"install -d -o 65532 -g 65532 -m 0750 {state_dir}" in run
    assert FINAL.all("WORKDIR") == [state_dir]
    assert FINAL.all("VOLUME") == [json.dumps([state_dir])]


def test_exposed_port_is_the_charts_metrics_port(default: Rendered) -> None:
    assert FINAL.all("EXPOSE") == ["9853"]
    assert default.container["ports"][0]["containerPort"] == 9853
    assert default.config["server"]["listen"] == "0.0.0.0:9853"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("FROM a AS b\nRUN x \\\n  # note\n  y\n", [("", None, []), ("a", "b", [("RUN", "x y")])]),
        (
            "# c\nARG A=1\nFROM a\nUSER 1:1\n",
            [("", None, [("ARG", "A=1")]), ("a", None, [("USER", "1:1")])],
        ),
    ],
)
def test_dockerfile_parser(text: str, expected: list[tuple[str, str | None, list[object]]]) -> None:
    assert [(s.base, s.name, s.instructions) for s in parse_dockerfile(text)] == expected

"""deploy/Dockerfile agrees with the chart: entrypoint, config path, state dir, port and UID.

No container engine runs here, so the Dockerfile is parsed and checked against the rendered
Deployment and pyproject.toml.
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
    """Stages with their (INSTRUCTION, arguments) in order; continuations joined."""
    stages: list[Stage] = []
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


STAGES = parse_dockerfile(DOCKERFILE.read_text())
FINAL = STAGES[-1]


def exec_form(args: str) -> list[str]:
    """ENTRYPOINT/CMD must be JSON (exec form): signals reach the collector, no shell."""
    parsed = json.loads(args)
    assert isinstance(parsed, list)
    return [str(a) for a in parsed]


def test_two_stages_on_slim_python() -> None:
    assert [(s.base, s.name) for s in STAGES] == [
        ("python:3.12-slim", "build"),
        ("python:3.12-slim", None),
    ]


def test_final_stage_installs_the_wheel_and_holds_no_source_tree() -> None:
    assert FINAL.all("COPY") == []  # nothing copied from the build context
    (run,) = FINAL.all("RUN")
    assert "--mount=type=bind,from=build,source=/wheels,target=/wheels" in run
    assert "pip install --no-cache-dir --root-user-action=ignore --no-index" in run
    assert "--find-links=/wheels adoption-collector" in run
    (build_run,) = STAGES[0].all("RUN")
    assert build_run == "pip wheel --no-cache-dir --wheel-dir /wheels ."


def test_read_only_root_filesystem_settings() -> None:
    (env,) = FINAL.all("ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env.split()
    # ENV comes after the install, so pip still precompiles the bytecode at build time.
    kinds = [ins for ins, _ in FINAL.instructions]
    assert kinds.index("RUN") < kinds.index("ENV")


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
        ("FROM a AS b\nRUN x \\\n  # note\n  y\n", [("a", "b", [("RUN", "x y")])]),
        ("# c\nFROM a\nUSER 1:1\n", [("a", None, [("USER", "1:1")])]),
    ],
)
def test_dockerfile_parser(text: str, expected: list[tuple[str, str | None, list[object]]]) -> None:
    assert [(s.base, s.name, s.instructions) for s in parse_dockerfile(text)] == expected

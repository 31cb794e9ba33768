"""One wording of a YAML problem, whichever file it is in: the config or a catalog file."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector import config
from collector.catalog import parse_catalog_info, parse_workflow
from collector.yamlproblem import yaml_problem


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        # A password pasted where its hash belongs, a quote missing: never quoted back.
        (
            'users:\n  p: "hunter2\n',
            "line 3, column 1: not valid YAML: while scanning a quoted scalar, "
            "found unexpected end of stream",
        ),
        (
            "? [a, b]\n: c\n",
            "line 1, column 3: not valid YAML: while constructing a mapping, found unhashable key",
        ),
        (
            "a: !!python/object:os.system x\n",
            "line 1, column 4: not valid YAML: could not determine a constructor for the tag "
            "'tag:yaml.org,2002:python/object:os.system'",
        ),
        ("spec: {owner: 2024-13-45}\n", "(file): not valid YAML: month must be in 1..12"),
    ],
    ids=["quoted-scalar", "unhashable-key", "unsafe-tag", "impossible-date"],
)
def test_config_and_catalog_files_say_the_same(text: str, problem: str, tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(config.ConfigError) as info:
        config.read_yaml(path)
    assert info.value.problems == [problem]
    # A catalog file's problem is logged after the file's name: no "(file)" of its own.
    in_a_file = problem.removeprefix("(file): ")
    assert parse_catalog_info(text) == ((), [in_a_file])
    assert parse_workflow(text) == ((), [in_a_file])


def test_a_long_problem_is_clipped_and_stays_on_one_line() -> None:
    problem = yaml_problem(ValueError("x" * 500 + "\nsecond line"), whole="")
    assert problem == "not valid YAML: " + "x" * 157 + "..."


def test_nesting_too_deep_says_so() -> None:
    assert yaml_problem(RecursionError("maximum recursion depth exceeded")) == (
        "(file): nested too deeply to read"
    )

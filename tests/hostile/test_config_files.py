"""Hostile config files: random structure, mutations of the documented example, random text.

Whatever the file holds, loading it gives Settings or a ConfigError whose every problem
starts with a key path; never another exception. A config that loads survives its own
dump, and `check-config` exits 0 or 2 saying exactly that.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from collector import checks, config
from collector.cli import main
from tests.hostile import strategies as hs

EXAMPLE = Path(__file__).parents[2] / "deploy" / "config.example.yaml"
SECTIONS = tuple(config.Settings.model_fields)


def _field_names(model: type[Any], seen: set[str]) -> None:
    for name, field in model.model_fields.items():
        seen.update({name, field.alias or name})
        for arg in (*getattr(field.annotation, "__args__", ()), field.annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel) and arg is not model:
                _field_names(arg, seen)


KEYS: set[str] = set()
_field_names(config.Settings, KEYS)
for section in (config.Match, config.Selector, config.Requirement, config.GitHubMatch):
    _field_names(section, KEYS)

yaml_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.dates(),
    hs.text,
    st.sampled_from(
        ["5m", "30s", "0s", "2026-03-01", "In", "Matches", "Exists", "[", "*", "a/b", "http://x"]
    ),
)
yaml_value: st.SearchStrategy[Any] = st.recursive(
    yaml_scalar,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(sorted(KEYS)) | hs.text | st.integers(), children, max_size=4
        )
    ),
    max_leaves=12,
)
document = st.one_of(
    st.dictionaries(st.sampled_from(SECTIONS) | hs.text | st.integers(), yaml_value, max_size=5),
    yaml_value,
)


def assert_outcome(outcome: config.Settings | config.ConfigError, raw: object) -> None:
    """A ConfigError names a key path (from the document's own top-level keys, or a section
    that is missing) before every problem; Settings survive their own dump."""
    if isinstance(outcome, config.Settings):
        dumped = outcome.model_dump(by_alias=True, mode="json")
        assert config.parse(dumped) == outcome
        return
    assert outcome.problems
    # An integer key reads as an index, `[1]`, unless too big for pydantic's 64 bits.
    named = [h for k in raw for h in (str(k), f"[{k}]")] if isinstance(raw, dict) else []
    heads = (*SECTIONS, *named)
    for problem in outcome.problems:
        if problem.startswith(("(top level): ", "(file): ")):
            continue
        if re.match(r"line \d+, column \d+: not valid YAML: ", problem):
            continue
        assert any(
            problem.startswith(head) and problem[len(head) : len(head) + 1] in (":", ".", "[")
            for head in heads
        ), problem
        assert ": " in problem
        assert problem.rstrip() == problem


def outcome_of(load: Any, *args: Any) -> config.Settings | config.ConfigError:
    try:
        settings_: config.Settings = load(*args)
    except config.ConfigError as exc:
        return exc
    return settings_


@settings(hs.HOSTILE, max_examples=120)
@given(raw=document)
def test_any_structure_is_settings_or_key_path_errors(raw: Any, scratch: Path) -> None:
    parsed = outcome_of(config.parse, raw)
    assert_outcome(parsed, raw)
    # The same document as a file: the same answer, whenever PyYAML reads back what it wrote
    # (it does not for NaN, nor for line breaks such as U+0085 in a plain key).
    text = yaml.safe_dump(raw, allow_unicode=True, sort_keys=False)
    scratch.write_text(text, encoding="utf-8")
    loaded = outcome_of(config.load, scratch)
    if yaml.safe_load(text) != raw:
        return
    if isinstance(parsed, config.Settings):
        assert loaded == parsed
    else:
        assert isinstance(loaded, config.ConfigError)
        assert loaded.problems == parsed.problems


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, (*prefix, index))


BASE = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
BASE_PATHS = list(_paths(BASE))
mutation = st.tuples(
    st.sampled_from(BASE_PATHS),
    st.sampled_from(["delete", "replace", "add", "listify", "stringify"]),
    st.sampled_from(sorted(KEYS)) | hs.text,
    yaml_value,
)


def _has(container: Any, step: Any) -> bool:
    if isinstance(container, dict):
        return step in container
    return isinstance(container, list) and isinstance(step, int) and 0 <= step < len(container)


def _container(doc: Any, path: tuple[Any, ...]) -> dict[Any, Any] | list[Any] | None:
    """The mapping or list at `path`, or None when an earlier mutation removed the way there
    or turned it into something else (a string, say, which indexes but cannot be changed)."""
    for step in path:
        if not _has(doc, step):
            return None
        doc = doc[step]
    return doc if isinstance(doc, dict | list) else None


def mutate(doc: Any, mutations: list[tuple[tuple[Any, ...], str, str, Any]]) -> Any:
    for path, op, key, value in mutations:
        if not path:
            doc = value if op == "replace" else doc
            continue
        parent, last = _container(doc, path[:-1]), path[-1]
        if not _has(parent, last):
            continue
        current = parent[last]
        if op == "delete":
            del parent[last]
        elif op == "replace":
            parent[last] = value
        elif op == "add" and isinstance(current, dict):
            current[key] = value
        elif op == "listify":
            parent[last] = [current]
        elif op == "stringify":
            parent[last] = str(current)
    return doc


@pytest.mark.parametrize(
    "mutations",
    [
        # The list turned into a string, then an index into it: "[..."[0] reads, del fails.
        [(("golden_paths",), "stringify", "", None), (("golden_paths", 0), "delete", "", None)],
        [(("golden_paths",), "stringify", "", None), (("golden_paths", 0), "replace", "", 1)],
        [(("golden_paths",), "delete", "", None), (("golden_paths", 0), "listify", "", None)],
        [(("golden_paths", 0), "delete", "", None)] * 9,
    ],
)
def test_mutate_skips_a_path_an_earlier_mutation_reshaped(
    mutations: list[tuple[tuple[Any, ...], str, str, Any]],
) -> None:
    doc = mutate(yaml.safe_load(EXAMPLE.read_text(encoding="utf-8")), mutations)
    assert isinstance(doc, dict)


@settings(hs.HOSTILE, max_examples=120)
@given(mutations=st.lists(mutation, min_size=1, max_size=3))
def test_mutated_example_is_settings_or_key_path_errors(
    mutations: list[tuple[tuple[Any, ...], str, str, Any]],
) -> None:
    raw = mutate(yaml.safe_load(EXAMPLE.read_text(encoding="utf-8")), mutations)
    assert_outcome(outcome_of(config.parse, raw), raw)


@settings(hs.HOSTILE, max_examples=100)
@given(text=st.text(max_size=200) | st.sampled_from(["{", "[a, b", "a: [", ": :", "- - -", "\t"]))
def test_any_text_is_settings_or_key_path_errors(text: str, scratch: Path) -> None:
    scratch.write_text(text, encoding="utf-8")
    outcome = outcome_of(config.load, scratch)
    assert isinstance(outcome, config.ConfigError)  # random text is never a valid config
    raw = None
    with contextlib.suppress(yaml.YAMLError):
        raw = yaml.safe_load(text)
    assert_outcome(outcome, raw)


@settings(hs.HOSTILE, max_examples=12)
@given(mutations=st.lists(mutation, min_size=0, max_size=2))
def test_check_config_exits_0_or_2_saying_why(
    mutations: list[tuple[tuple[Any, ...], str, str, Any]], scratch: Path
) -> None:
    raw = mutate(yaml.safe_load(EXAMPLE.read_text(encoding="utf-8")), mutations)
    scratch.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    expected = outcome_of(config.load, scratch)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["check-config", str(scratch)])
    if isinstance(expected, config.Settings):
        clusters, paths = len(expected.kubernetes.clusters), len(expected.golden_paths)
        warnings = "".join(f"warning: {w}\n" for w in checks.offline(expected, os.environ))
        assert (code, out.getvalue(), err.getvalue()) == (
            0,
            f"{scratch}: ok ({clusters} cluster(s), {paths} golden path(s))\n",
            warnings,
        )
    else:
        lines = [f"{scratch}: invalid configuration", *(f"  {p}" for p in expected.problems)]
        assert (code, out.getvalue(), err.getvalue()) == (2, "", "\n".join(lines) + "\n")


# Both were crashes (a traceback from check-config) that the generated files found.
def test_a_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(b'platform: {launch_date: "2026-03-01"}\n# caf\xe9\n')
    with pytest.raises(config.ConfigError) as info:
        config.load(path)
    assert info.value.problems == ["(file): not UTF-8 text (byte 43)"]


def test_absurdly_nested_yaml_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("platform: " + "[" * 5000, encoding="utf-8")
    with pytest.raises(config.ConfigError) as info:
        config.load(path)
    assert info.value.problems == ["(file): nested too deeply to read"]

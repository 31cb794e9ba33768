"""CI replays the same Hypothesis examples on every run: a flaky landing is no landing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]

# Imports the conftest first, as pytest does, then every test module that uses Hypothesis,
# and prints each Hypothesis test with its deadline and whether its settings derandomise.
_SETTINGS_OF_EVERY_TEST = """
import importlib
import sys
from pathlib import Path

import tests.conftest

for path in sorted(Path("tests").rglob("test_*.py")):
    if "@given" not in path.read_text(encoding="utf-8"):
        continue
    module = importlib.import_module(".".join(path.with_suffix("").parts))
    for name, test in sorted(vars(module).items()):
        chosen = getattr(test, "_hypothesis_internal_use_settings", None)
        if name.startswith("test_") and chosen is not None:
            print(module.__name__, name, chosen.deadline, chosen.derandomize)
"""


def _settings(**env: str) -> list[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("CI", "HYPOTHESIS_PROFILE")}
    done = subprocess.run(
        [sys.executable, "-c", _SETTINGS_OF_EVERY_TEST],
        cwd=ROOT,
        env=clean | env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout.splitlines()


def test_every_hypothesis_test_is_derandomised_in_ci() -> None:
    in_ci = _settings(CI="true")
    assert len(in_ci) >= 5  # the hostile-input tests, all found
    assert [line for line in in_ci if not line.endswith(" None True")] == []


def test_a_developer_run_explores() -> None:
    assert [line for line in _settings() if not line.endswith(" False")] == []
    assert all(line.endswith(" True") for line in _settings(HYPOTHESIS_PROFILE="ci"))

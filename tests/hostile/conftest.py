"""Fixtures for property tests: Hypothesis runs many examples per test function, so these
are module-scoped, and each example takes a fresh file of its own from them."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import pytest

from collector.state import StateStore


@pytest.fixture(scope="module")
def new_state(tmp_path_factory: pytest.TempPathFactory) -> Callable[[], StateStore]:
    """A fresh state file per call: an example must not inherit the history of another."""
    directory = tmp_path_factory.mktemp("hostile-state")
    numbers = itertools.count()
    return lambda: StateStore(directory / f"state-{next(numbers)}.db")


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One config file path, rewritten by every example."""
    return tmp_path_factory.mktemp("hostile-config") / "config.yaml"

"""Shared fixtures. The simulator ones start a real HTTP server on loopback per test.

Every credential the tests hand to the collector is one canary secret, fresh for each test
run, and every test fails if the canary shows up in any log record: a token that leaks
through a new error path is caught by whichever test happens to take that path.
"""

from __future__ import annotations

import logging
import os
import secrets
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from collector.simulator.kube import KubeSimulator

# Hypothesis explores new input on every run of a developer's, but CI (CI=true, as it runs
# .ci/run) replays the same examples each time, so a landing never fails on an input no one
# saw before; HYPOTHESIS_PROFILE picks either. Loaded here, before any test module makes
# its settings, so every Hypothesis test inherits it. No example database: it would be
# written into the checkout.
settings.register_profile("explore", database=None, print_blob=True)
# No deadline in CI either: a shared 2-core machine makes timings noise, not failures.
settings.register_profile("ci", derandomize=True, deadline=None, database=None, print_blob=True)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "explore")
)

# A fixed prefix keeps a leak recognisable in any output; the random part makes sure no
# fixture or expected text can contain it by accident.
CANARY_PREFIX = "canary-"
CANARY = CANARY_PREFIX + secrets.token_hex(12)
SIM_TOKEN = CANARY

# In-process runs of inner pytest sessions (the detector's own test) need pytester.
pytest_plugins = ["pytester"]


class CanaryWatch(logging.Handler):
    """Collects every log record whose text (message, exception, stack) holds the canary."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.leaks: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            parts = [record.getMessage()]
        except Exception:  # a broken format string still carries its raw parts
            parts = [str(record.msg), repr(record.args)]
        if record.exc_info and record.exc_info[1] is not None:
            parts.extend(traceback.format_exception(*record.exc_info))
        if record.exc_text:
            parts.append(record.exc_text)
        if record.stack_info:
            parts.append(record.stack_info)
        text = "\n".join(parts)
        if CANARY in text:
            shown = text.replace(CANARY, "<CANARY>")
            self.leaks.append(f"{record.name} {record.levelname}: {shown}")

    def take(self) -> list[str]:
        """The leaks so far, forgotten: a test that provokes one on purpose claims it."""
        taken, self.leaks = self.leaks, []
        return taken


@pytest.fixture(autouse=True)
def canary_watch() -> Iterator[CanaryWatch]:
    """Every record at DEBUG and up, from every logger and thread, during the whole test."""
    root = logging.getLogger()
    watch = CanaryWatch()
    level = root.level
    root.addHandler(watch)
    root.setLevel(logging.DEBUG)
    try:
        yield watch
    finally:
        root.setLevel(level)
        root.removeHandler(watch)
    if watch.leaks:
        pytest.fail(
            "the canary token appeared in the log:\n" + "\n".join(watch.leaks), pytrace=False
        )


@pytest.fixture
def kube_sim() -> Iterator[KubeSimulator]:
    with KubeSimulator(token=SIM_TOKEN) as sim:
        yield sim


@pytest.fixture
def kubeconfig(kube_sim: KubeSimulator, tmp_path: Path) -> Path:
    return kube_sim.write_kubeconfig(tmp_path / "kubeconfig", context="sim", cluster_name="sim")

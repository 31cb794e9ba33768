"""The simulated organisation served on loopback, for tests that run several collectors on it.

Each collector is the real pipeline with its own config and its own state file, polling the
clusters it is given over real sockets, as `once` does.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from collector import config
from collector.pipeline import Pipeline
from collector.simulator.github import GitHubSimulator
from collector.simulator.kube import KubeSimulator
from collector.simulator.org import (
    GITHUB_ORG,
    GITHUB_TOKEN_ENV,
    Organisation,
    build_organisation,
)
from collector.state import StateStore
from tests.conftest import CANARY

LAUNCH_AGE = dt.timedelta(days=240)
# A fixed moment, so the organisation (and which evidence the launch date clamps) is the same
# on every run, whatever the time of day.
NOW = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC)


@dataclass
class Fleet:
    org: Organisation
    clusters: dict[str, KubeSimulator]
    kubeconfigs: dict[str, str]
    github: GitHubSimulator
    workdir: Path

    def settings(
        self, name: str, clusters: Sequence[str], *, github: bool, scope: str | None = None
    ) -> config.Settings:
        """The demo config for these clusters (and GitHub or not), its state file `name`.db."""
        raw: dict[str, Any] = self.org.demo_config(
            {c: self.kubeconfigs[c] for c in clusters},
            state_path=str(self.workdir / f"{name}.db"),
            listen="127.0.0.1:0",
            launch_date=(self.org.now - LAUNCH_AGE).date(),
            github_base_url=self.github.base_url if github else None,
        )
        if scope is not None:
            raw["collector"] = {"scope": scope}
        return config.parse(raw, name)

    def poll(self, settings: config.Settings, clock: Callable[[], float] | None = None) -> str:
        """One poll of every source by a collector with these settings; its exposition."""
        kwargs = {} if clock is None else {"clock": clock}
        pipeline = Pipeline(settings, StateStore(settings.state.path), **kwargs)
        try:
            assert pipeline.poll_once()
            return pipeline.exposition.latest.decode()
        finally:
            pipeline.close()


@contextmanager
def fleet(workdir: Path, now: dt.datetime | None = None) -> Iterator[Fleet]:
    """The demo organisation (two clusters, prod-eu and prod-us, and GitHub) on loopback."""
    org = build_organisation(now or NOW)
    with ExitStack() as stack:
        clusters: dict[str, KubeSimulator] = {}
        kubeconfigs: dict[str, str] = {}
        for name in org.cluster_names:
            sim = stack.enter_context(KubeSimulator(token=CANARY))
            org.load_into(sim, name)
            path = workdir / f"{name}.kubeconfig"
            sim.write_kubeconfig(path, context=name, cluster_name=name)
            clusters[name] = sim
            kubeconfigs[name] = str(path)
        github = stack.enter_context(GitHubSimulator(GITHUB_ORG, CANARY))
        org.load_github(github)
        os.environ[GITHUB_TOKEN_ENV] = github.token
        try:
            yield Fleet(org, clusters, kubeconfigs, github, workdir)
        finally:
            os.environ.pop(GITHUB_TOKEN_ENV, None)

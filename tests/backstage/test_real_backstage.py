"""The collector against a REAL Backstage backend: the catalog plugin from the package registry
(package.json and its lock beside this file; `make test` runs `npm ci`), on Node, with an
in-memory SQLite database, the scenario's catalog file and a static external-access token.
A collector with only `kubernetes:` and `backstage:` must attribute the simulated cluster's
workloads and find golden paths exactly as against the simulated catalog."""

from __future__ import annotations

import json
import logging
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from collector.pipeline import Pipeline
from collector.simulator.kube import KubeSimulator
from collector.state import StateStore
from tests.backstage import scenario
from tests.cluster import TOKEN as KUBE_TOKEN
from tests.conftest import CANARY

HERE = Path(__file__).parent
BACKSTAGE_TOKEN = CANARY  # a static token must never show up in any output
STARTUP = 90.0  # seconds: Node loads some thousand modules on a shared 2-core machine
NOW = 1789466400.0
ENTITIES = {"component": 2, "group": 4}  # what the scenario's catalog file ingests to


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Backend:
    """One real Backstage backend process; `start` again after `stop` at the same port."""

    directory: Path
    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        node = shutil.which("node")
        assert node, "node is missing: `make test` installs Debian's nodejs and npm"
        config = self.directory / "app-config.yaml"
        with self.log.open("ab") as log:
            # Node itself, no shell in between: its PID is the backend's, to stop it by.
            self.process = subprocess.Popen(
                [node, str(HERE / "index.js"), "--config", str(config)],
                cwd=HERE,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def query(self, kind: str) -> dict[str, object] | None:
        """The first page of `kind` with the right token, None while nothing answers."""
        url = f"{self.url}/api/catalog/entities/by-query?filter=kind={kind}&limit=1"
        request = urllib.request.Request(
            url, headers={"Authorization": f"Bearer {BACKSTAGE_TOKEN}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                data = json.loads(answer.read())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def wait_until_answering(self) -> None:
        end = time.monotonic() + STARTUP
        while self.query("component") is None:
            assert self.process is not None
            assert self.process.poll() is None, self.tail()
            assert time.monotonic() < end, (
                f"Backstage did not answer in {STARTUP:g}s\n{self.tail()}"
            )
            time.sleep(0.2)

    def wait_until_ingested(self) -> None:
        """Backstage answers 200 with no entity until its processing loop has run."""
        end = time.monotonic() + STARTUP
        while True:
            totals = {kind: (self.query(kind) or {}).get("totalItems") for kind in ENTITIES}
            if totals == ENTITIES:
                return
            assert time.monotonic() < end, f"not ingested: {totals}\n{self.tail()}"
            time.sleep(0.5)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def requests(self) -> list[str]:
        """The by-query requests Backstage logged (its root HTTP router logs each one)."""
        found = []
        for line in self.log.read_text(errors="replace").splitlines():
            start = line.find('"GET /api/catalog/entities/by-query?')
            if start != -1:
                found.append(line[start + 5 : line.index(" ", start + 5)])
        return found


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    assert (HERE / "node_modules" / "@backstage" / "backend-defaults").is_dir(), (
        "Backstage's packages are missing: `make test` runs `npm ci` in tests/backstage"
    )
    directory = tmp_path_factory.mktemp("backstage")
    port = free_port()
    catalog = scenario.catalog_file(directory / "catalog.yaml")
    app_config = {
        "backend": {
            "baseUrl": f"http://127.0.0.1:{port}",
            "listen": {"host": "127.0.0.1", "port": port},
            "database": {"client": "better-sqlite3", "connection": ":memory:"},
            "auth": {
                "externalAccess": [
                    {
                        "type": "static",
                        "options": {"token": BACKSTAGE_TOKEN, "subject": "adoption-collector"},
                    }
                ]
            },
        },
        "catalog": {
            "processingInterval": {"seconds": 1},
            "rules": [{"allow": ["Component", "Group", "System", "Location"]}],
            "locations": [{"type": "file", "target": str(catalog)}],
        },
    }
    (directory / "app-config.yaml").write_text(yaml.safe_dump(app_config), encoding="utf-8")
    started = Backend(directory, port, directory / "backstage.log")
    started.start()
    try:
        started.wait_until_answering()
        started.wait_until_ingested()
        yield started
    finally:
        started.stop()


@pytest.fixture
def kube() -> Iterator[KubeSimulator]:
    with KubeSimulator(token=KUBE_TOKEN) as sim:
        scenario.seed(sim)
        yield sim


def pipeline_for(
    tmp_path: Path, kube: KubeSimulator, backend: Backend, **backstage: object
) -> Pipeline:
    settings = scenario.settings(
        tmp_path, kube, backend.url, timeout="10s", poll_timeout="30s", **backstage
    )
    return Pipeline(settings, StateStore(settings.state.path), clock=lambda: NOW)


def lines(pipeline: Pipeline, *prefixes: str) -> list[str]:
    text = pipeline.exposition.latest.decode()
    return [line for line in text.splitlines() if line.startswith(prefixes)]


def complete(pipeline: Pipeline) -> list[str]:
    return lines(
        pipeline,
        'adoption_collector_up{kube_cluster="",source="backstage"}',
        'adoption_collector_poll_complete{kube_cluster="",source="backstage"}',
    )


def test_the_real_catalog_attributes_workloads_and_finds_golden_paths(
    tmp_path: Path, kube: KubeSimulator, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(scenario.TOKEN_ENV, BACKSTAGE_TOKEN)
    before = len(backend.requests())
    pipeline = pipeline_for(tmp_path, kube, backend, page_size=1)
    try:
        assert pipeline.poll_once() is True
        # Ownership by kubernetes-id and by label selector narrowed to a namespace, golden
        # through the source template, the team hierarchy from Groups: as the simulated
        # catalog gives them.
        assert lines(pipeline, *scenario.EXPECTED_PREFIXES) == scenario.EXPECTED
        assert complete(pipeline) == [
            'adoption_collector_up{kube_cluster="",source="backstage"} 1.0',
            'adoption_collector_poll_complete{kube_cluster="",source="backstage"} 1.0',
        ]
        # page_size 1: one entity a request, later pages by Backstage's own cursors.
        # (The fixture's own readiness queries send no `fields`.)
        sent = [r for r in backend.requests()[before:] if "fields=" in r]
        first = [r for r in sent if "filter=" in r]
        later = [r for r in sent if "cursor=" in r]
        assert len(first) == 2  # Components, Groups
        assert len(later) >= sum(ENTITIES.values()) - 2
        assert all("limit=1" in r for r in sent)
        assert not [r for r in later if "filter=" in r or "orderField=" in r]
    finally:
        pipeline.close()


def test_a_wrong_token_is_one_clear_line_without_the_token(
    tmp_path: Path,
    kube: KubeSimulator,
    backend: Backend,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv(scenario.TOKEN_ENV, "not-the-configured-token")
    pipeline = pipeline_for(tmp_path, kube, backend)
    try:
        with caplog.at_level(logging.ERROR, logger="collector.pipeline"):
            assert pipeline.poll_backstage() is False
        assert [r.getMessage() for r in caplog.records if r.name == "collector.pipeline"] == [
            f"poll of backstage failed: backstage: {backend.url} refused the token from "
            f"environment variable {scenario.TOKEN_ENV} (401): it must be a static token listed "
            "under backend.auth.externalAccess in Backstage's app-config, allowed "
            "catalog.entity.read if the permission framework is on"
        ]
        assert complete(pipeline) == [
            'adoption_collector_up{kube_cluster="",source="backstage"} 0.0',
            'adoption_collector_poll_complete{kube_cluster="",source="backstage"} 0.0',
        ]
    finally:
        pipeline.close()


def test_the_backend_stopped_mid_run_changes_no_figure(
    tmp_path: Path, kube: KubeSimulator, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(scenario.TOKEN_ENV, BACKSTAGE_TOKEN)
    pipeline = pipeline_for(tmp_path, kube, backend, page_size=2)
    try:
        assert pipeline.poll_once() is True
        backend.stop()
        assert pipeline.poll_backstage() is False
        assert pipeline.poll_kubernetes() is True
        assert lines(pipeline, *scenario.EXPECTED_PREFIXES) == scenario.EXPECTED
        assert lines(pipeline, 'adoption_collector_poll_errors_total{kube_cluster=""') == [
            'adoption_collector_poll_errors_total{kube_cluster="",source="backstage"} 1.0'
        ]
        # Restarted, its catalog file not there yet: it answers 200 with no entity, as while
        # ingesting. Held back, twice: the figures stay, the poll is not complete.
        catalog = backend.directory / "catalog.yaml"
        aside = catalog.rename(backend.directory / "catalog.yaml.aside")
        backend.start()
        backend.wait_until_answering()
        for _ in range(2):
            assert pipeline.poll_backstage() is True
            assert pipeline.poll_kubernetes() is True
            assert lines(pipeline, *scenario.EXPECTED_PREFIXES) == scenario.EXPECTED
            assert complete(pipeline) == [
                'adoption_collector_up{kube_cluster="",source="backstage"} 1.0',
                'adoption_collector_poll_complete{kube_cluster="",source="backstage"} 0.0',
            ]
        aside.rename(catalog)
        backend.wait_until_ingested()
        assert pipeline.poll_backstage() is True
        assert complete(pipeline) == [
            'adoption_collector_up{kube_cluster="",source="backstage"} 1.0',
            'adoption_collector_poll_complete{kube_cluster="",source="backstage"} 1.0',
        ]
        assert lines(pipeline, *scenario.EXPECTED_PREFIXES) == scenario.EXPECTED
    finally:
        pipeline.close()

"""`run` as a real process: endpoints over HTTP, readiness, and a clean stop on SIGTERM."""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from collector.simulator.github import GitHubSimulator
from collector.simulator.kube import KubeSimulator
from tests.cluster import TOKEN, seed_small, write_config
from tests.conftest import CANARY
from tests.records import parse_samples


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str, method: str = "GET") -> tuple[int, bytes]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_for(url: str, status: int, deadline: float = 20.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            if get(url)[0] == status:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{url} never answered {status}")


Service = tuple[str, "subprocess.Popen[bytes]", KubeSimulator]


@contextmanager
def running(tmp_path: Path, interval: str, timeout: str = "5s") -> Iterator[Service]:
    with KubeSimulator(token=TOKEN) as sim:
        seed_small(sim)
        port = free_port()
        config_path = write_config(
            tmp_path, {"prod-eu": sim}, interval, timeout, server={"listen": f"127.0.0.1:{port}"}
        )
        # The first poll waits a moment so the test can see the not-ready state.
        sim.add_fault("/api/v1/namespaces", 200, delay=2.0)
        process = subprocess.Popen(
            [sys.executable, "-m", "collector", "run", "--config", str(config_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            yield f"http://127.0.0.1:{port}", process, sim
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(10)


def test_endpoints_readiness_and_sigterm(tmp_path: Path) -> None:
    with running(tmp_path, "5m") as (url, process, _):
        check_endpoints_and_sigterm(url, process)


def check_endpoints_and_sigterm(url: str, process: subprocess.Popen[bytes]) -> None:
    wait_for(f"{url}/healthz", 200)
    assert get(f"{url}/readyz") == (503, b"first poll not done\n")
    wait_for(f"{url}/readyz", 200)

    status, body = get(f"{url}/metrics")
    assert status == 200
    values = parse_samples(body.decode())
    assert values["adoption_voluntary_ratio", ()] == 1.0
    assert (
        values["adoption_collector_up", (("kube_cluster", "prod-eu"), ("source", "kubernetes"))]
        == 1.0
    )
    assert get(f"{url}/nope")[0] == 404

    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.wait(10) == 0
    assert time.monotonic() - started < 10
    stderr = process.stderr.read().decode() if process.stderr else ""
    assert "received SIGTERM, stopping" in stderr
    assert "stopped" in stderr
    assert TOKEN not in stderr


def test_sigterm_during_a_slow_poll_still_exits_within_10s(tmp_path: Path) -> None:
    # The request timeout is longer than the stop may take, so the poll is really stuck.
    with running(tmp_path, "1s", timeout="60s") as (url, process, sim):
        wait_for(f"{url}/readyz", 200)
        # Every later request hangs far longer than the stop may take.
        sim.add_fault(".*", 200, delay=30.0, times=None)
        seen = len(sim.requests)
        end = time.monotonic() + 10
        while len(sim.requests) == seen and time.monotonic() < end:
            time.sleep(0.05)
        assert len(sim.requests) > seen, "no poll started"
        process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        assert process.wait(10) == 0
        assert time.monotonic() - started < 10
        stderr = process.stderr.read().decode() if process.stderr else ""
        assert "a poll is still running" in stderr


def test_github_scan_with_new_links_repolls_the_clusters(tmp_path: Path) -> None:
    github_token = CANARY
    with KubeSimulator(token=TOKEN) as sim, GitHubSimulator(token=github_token) as org:
        seed_small(sim)
        sim.add_workload(
            "Deployment", "misc", "search-api", labels={"backstage.io/kubernetes-id": "search-api"}
        )
        catalog = "kind: Component\nmetadata: {name: search-api}\nspec: {owner: search}\n"
        day = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
        org.add_repo("search-api", created=day, pushed=day, files={"catalog-info.yaml": catalog})
        # The scan ends after the clusters' first poll, so only a re-poll can apply its links.
        org.add_fault("/graphql", 200, delay=1.5)
        port = free_port()
        config_path = write_config(
            tmp_path,
            {"prod-eu": sim},
            server={"listen": f"127.0.0.1:{port}"},
            github={"org": "acme", "base_url": org.base_url, "token_env": "SERVICE_GH_TOKEN"},
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "collector", "run", "--config", str(config_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "SERVICE_GH_TOKEN": github_token},
        )
        try:
            url = f"http://127.0.0.1:{port}"
            unowned = 'adoption_unowned_workloads{kube_cluster="prod-eu"}'
            wait_for_line(f"{url}/metrics", f"{unowned} 2.0")  # search-api not yet linked
            wait_for_line(f"{url}/metrics", f"{unowned} 1.0")  # linked by the re-poll
            assert get(f"{url}/readyz")[0] == 200
            process.send_signal(signal.SIGTERM)
            assert process.wait(10) == 0
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(10)
        stderr = process.stderr.read().decode() if process.stderr else ""
        assert "catalog links changed; polling the clusters again" in stderr
        assert github_token not in stderr
        assert TOKEN not in stderr


def wait_for_line(url: str, line: str, deadline: float = 20.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            if line in get(url)[1].decode().splitlines():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{url} never showed {line!r}")

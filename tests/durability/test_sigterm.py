"""SIGTERM at random moments of a real `adoption-collector run`: out within 10 s, state intact.

tests/test_service.py covers the stop itself (endpoints, a poll stuck past the deadline);
this is about the state file: one file through five runs, each run finding a golden
workload created earlier than any before, each stopped at a random moment (one during
startup, the rest during or between slow polls), and the file opened after every stop.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from collector.simulator.kube import KubeSimulator
from collector.state import SCHEMA_VERSION, StateStore, TeamTimes
from tests.cluster import GOLDEN_LABELS, TOKEN, seed_small, write_config

SEED = int(os.environ.get("DURABILITY_SEED", "20260601"))
RUNS = 5
DAY = 86400.0
# The golden workload of run i is created this many days before 2026-03-09.
MARCH_9 = dt.datetime(2026, 3, 9, tzinfo=dt.UTC).timestamp()
# seed_small's history, payments aside.
OTHERS = {
    "billing": TeamTimes(1769904000.0, None, "namespace:prod-eu/bill"),
    "search": TeamTimes(1780272000.0, None, "namespace:prod-eu/search"),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def wait(condition: Callable[[], bool], what: str, deadline: float = 20.0) -> None:
    end = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < end, f"never {what}"
        time.sleep(0.02)


def poll_starts(sim: KubeSimulator) -> Callable[[], bool]:
    """True once the simulator sees a request it had not seen yet: a poll is in flight."""
    seen = len(sim.requests)
    return lambda: len(sim.requests) > seen


def expected(run: int) -> dict[str, TeamTimes]:
    created = MARCH_9 - run * DAY
    early = f"workload:prod-eu/pay/Deployment/early-{run}"
    return {**OTHERS, "payments": TeamTimes(created, created, early, early)}


def history(path: Path) -> dict[str, TeamTimes]:
    store = StateStore(path)
    try:
        assert store.schema_version == SCHEMA_VERSION
        return store.history
    finally:
        store.close()


def test_sigterm_at_random_moments_ends_within_10s_with_the_state_intact(
    tmp_path: Path,
) -> None:
    rng = random.Random(SEED)
    state_path = tmp_path / "state.db"
    with KubeSimulator(token=TOKEN) as sim:
        seed_small(sim)
        # Every request answers late: a poll takes over half a second, so with a 1 s interval
        # the collector is nearly always mid-poll, i.e. about to write.
        sim.add_fault(".*", 200, delay=0.1, times=None)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        config_path = write_config(
            tmp_path, {"prod-eu": sim}, "1s", server={"listen": f"127.0.0.1:{port}"}
        )
        previous: dict[str, TeamTimes] = {}
        for run in range(RUNS):
            created = dt.datetime.fromtimestamp(MARCH_9 - run * DAY, dt.UTC)
            sim.add_workload(
                "Deployment",
                "pay",
                f"early-{run}",
                labels=GOLDEN_LABELS,
                created=created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            )
            process = subprocess.Popen(
                [sys.executable, "-m", "collector", "run", "--config", str(config_path)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            try:
                if run == 0:
                    # Anywhere in the start: imports, opening the file, the first poll.
                    delay = rng.uniform(0.0, 1.0)
                else:
                    wait(lambda: answers(f"{url}/healthz"), "served /healthz")
                    wait(poll_starts(sim), "polled")
                    # Run 1 in the poll that just started, the others anywhere after.
                    delay = 0.0 if run == 1 else rng.uniform(0.0, 1.0)
                time.sleep(delay)
                started = time.monotonic()
                process.send_signal(signal.SIGTERM)
                _, err = process.communicate(timeout=10)
                took = time.monotonic() - started
            finally:
                if process.poll() is None:
                    process.kill()
                    process.communicate(timeout=10)
            stderr = err.decode()
            code = process.returncode
            where = f"seed {SEED}, run {run}, SIGTERM {delay:.3f}s in"
            assert took < 10, where
            if run == 0 and "received SIGTERM" not in stderr:
                # Before the handler is installed Python's default action ends the process.
                assert code in (0, -signal.SIGTERM), f"{where}: {code}\n{stderr}"
            else:
                assert code == 0, f"{where}: {code}\n{stderr}"
                assert stderr.rstrip().endswith("INFO collector.service: stopped"), where
            if run == 1:
                # The poll in flight finished after the signal, and was waited for.
                after = stderr.split("received SIGTERM, stopping", 1)[1]
                assert "polled kubernetes cluster prod-eu" in after, stderr
            assert TOKEN not in stderr

            got = history(state_path)
            if run == 0:
                # Stopped before or after its first poll wrote: nothing in between.
                assert got in ({}, expected(0)), f"{where}: {got}"
            else:
                # A poll had started: the stop waits for it, so its evidence is written.
                assert got == expected(run), f"{where}: {got} (was {previous})"
            previous = got

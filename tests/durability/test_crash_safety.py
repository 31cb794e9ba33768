"""SIGKILL during polls, state writes, the schema upgrade and the file's creation.

A forked child runs the real Pipeline and StateStore against a simulated cluster (in a
process of its own) whose evidence keeps moving earlier, so nearly every poll writes. The
child reports every history `record` returned, i.e. committed. Half the kills fall at a
random time; the other half just before the n-th SQL statement SQLite starts (BEGIN, an
INSERT of a transaction, its COMMIT...), where the child waits to be killed, so every
boundary inside a write is hit, not only the likely ones. After each kill the parent opens
the file itself: it must open at the current schema, pass SQLite's integrity check, and
hold, for every team, every time ever reported committed or seen in an earlier check, or an
earlier one. DURABILITY_SEED replays another sequence of kills.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import multiprocessing
import os
import random
import select
import shutil
import signal
import sqlite3
import time
from collections import Counter
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import pytest
import yaml

from collector import config
from collector.pipeline import Pipeline
from collector.simulator.kube import KubeSimulator
from collector.state import SCHEMA_VERSION, StateStore, TeamTimes
from tests.cluster import GOLDEN_LABELS, TOKEN
from tests.durability.schema import V3_COLUMNS, V4_COLUMNS
from tests.durability.v1 import Row, read_rows, write_v1
from tests.durability.v2 import read_rows as read_v2_rows
from tests.durability.v2 import write_v2

SEED = int(os.environ.get("DURABILITY_SEED", "20260601"))
KILLS = 60
TEAMS = [f"team-{i:02}" for i in range(30)]
# Evidence starts here and moves a minute earlier with every change the simulator makes.
START = dt.datetime(2026, 5, 1, tzinfo=dt.UTC).timestamp()

FORK = multiprocessing.get_context("fork")
History = dict[str, TeamTimes]


def iso(when: float) -> str:
    return dt.datetime.fromtimestamp(when, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- the simulated cluster, in a process of its own ---------------------------------


def simulate(control: Connection, kubeconfig: Path, seed: int) -> None:
    """Serve a cluster whose teams keep gaining workloads created ever earlier."""
    logging.getLogger().setLevel(logging.WARNING)
    rng = random.Random(seed)
    with KubeSimulator(token=TOKEN) as sim:
        for team in TEAMS:
            sim.add_namespace(f"ns-{team}", {"team": team}, iso(START + 86400))
        sim.write_kubeconfig(kubeconfig, context="crash")
        control.send("ready")
        step = 0
        while not control.poll(0.002):
            step += 1
            team = rng.choice(TEAMS)
            golden = rng.random() < 0.5
            # Replaced in place, so the cluster stays small however long the test runs.
            sim.add_workload(
                "Deployment",
                f"ns-{team}",
                "golden" if golden else "shadow",
                labels=GOLDEN_LABELS if golden else None,
                created=iso(START - 60 * step),
            )


# --- children, and what they say -------------------------------------------------------


Pause = tuple[str | None, int]  # the n-th statement starting with this word (None: any)


class Statements:
    """In a child: counts the SQL statements SQLite starts; at the one `pause_at` names,
    says which on `fd` and hangs there to be killed. Instruments the sqlite3 module (every
    connection made from now on), not the collector."""

    def __init__(self, fd: int, pause_at: Pause | None) -> None:
        self.fd = fd
        self.pause_at = pause_at
        self.started: Counter[str | None] = Counter()
        connect = sqlite3.connect

        def traced(*args: Any, **kwargs: Any) -> sqlite3.Connection:
            db: sqlite3.Connection = connect(*args, **kwargs)
            db.set_trace_callback(self._trace)
            return db

        sqlite3.connect = traced  # type: ignore[assignment]

    def _trace(self, sql: str) -> None:
        word = sql.split(None, 1)[0].upper()
        self.started.update([word, None])
        if self.pause_at is not None and self.started[self.pause_at[0]] == self.pause_at[1]:
            self.pause_at = None
            os.write(self.fd, f"P {word}\n".encode())
            time.sleep(60)


def collect(config_path: Path, fd: int, pause_at: Pause | None) -> None:
    """Poll without pause until killed, reporting every committed history."""
    logging.getLogger().setLevel(logging.WARNING)
    Statements(fd, pause_at)
    settings = config.load(str(config_path))
    state = StateStore(settings.state.path)
    pipeline = Pipeline(settings, state)
    while True:
        pipeline.poll_kubernetes()
        # Raises if anything is still unwritten: what it returns is on disk.
        committed = state.record({}, {})
        report = {t: [v.first_seen, v.first_deploy] for t, v in committed.items()}
        os.write(fd, b"C " + json.dumps(report).encode() + b"\n")


def start_store(path: Path, fd: int, pause_at: Pause | None) -> None:
    """Open the store as the collector starts it, then say how many statements it took."""
    statements = Statements(fd, pause_at)
    StateStore(path).close()
    os.write(fd, f"N {statements.started[None]}\n".encode())


class Child:
    """A forked child and the lines it writes on its pipe."""

    def __init__(self, target: Any, *args: Any) -> None:
        read_fd, write_fd = os.pipe()
        self.process: BaseProcess = FORK.Process(
            target=target, args=(*args[:-1], write_fd, args[-1]), daemon=True
        )
        self.process.start()
        os.close(write_fd)
        self.fd = read_fd
        self.buffer = b""
        self.closed = False
        self.paused_at: str | None = None  # the statement the child waits to be killed at
        self.statements: int | None = None
        self.committed: list[History] = []

    def read(self, timeout: float) -> None:
        if self.closed or not select.select([self.fd], [], [], max(timeout, 0.0))[0]:
            return
        chunk = os.read(self.fd, 1 << 16)
        if not chunk:
            self.closed = True
            os.close(self.fd)
            return
        self.buffer += chunk
        *lines, self.buffer = self.buffer.split(b"\n")  # a line cut by the kill stays out
        for line in lines:
            kind, _, rest = line.partition(b" ")
            if kind == b"P":
                self.paused_at = rest.decode()
            elif kind == b"N":
                self.statements = int(rest)
            else:
                report = json.loads(rest)
                self.committed.append({t: TeamTimes(*v) for t, v in report.items()})

    def until(self, deadline: float) -> None:
        while not self.closed and time.monotonic() < deadline:
            self.read(deadline - time.monotonic())

    def wait_for_pause(self, where: str) -> str:
        deadline = time.monotonic() + 10
        while self.paused_at is None:
            assert not self.closed, f"{where}: ended without pausing"
            assert time.monotonic() < deadline, f"{where}: never paused"
            self.read(deadline - time.monotonic())
        return self.paused_at

    def kill(self, where: str) -> None:
        assert self.process.is_alive(), f"{where}: stopped on its own"
        assert self.process.pid is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.join(10)
        assert self.process.exitcode == -signal.SIGKILL, where
        self.drain()

    def drain(self) -> None:
        while not self.closed:
            self.read(5.0)
        self.process.join(10)


# --- checks ----------------------------------------------------------------------------


def not_later(got: float | None, bound: float | None) -> bool:
    return bound is None or (got is not None and got <= bound)


def lost_or_later(history: History, bound: History) -> list[str]:
    """Every team time in `bound` that `history` lost or holds later."""
    problems = []
    for team, times in sorted(bound.items()):
        got = history.get(team, TeamTimes(None, None))
        if not not_later(got.first_seen, times.first_seen):
            problems.append(f"{team} first_seen {got.first_seen} > {times.first_seen}")
        if not not_later(got.first_deploy, times.first_deploy):
            problems.append(f"{team} first_deploy {got.first_deploy} > {times.first_deploy}")
    return problems


def earliest(a: History, b: History) -> History:
    def low(x: float | None, y: float | None) -> float | None:
        return y if x is None else x if y is None else min(x, y)

    empty = TeamTimes(None, None)
    return {
        t: TeamTimes(
            low(a.get(t, empty).first_seen, b.get(t, empty).first_seen),
            low(a.get(t, empty).first_deploy, b.get(t, empty).first_deploy),
        )
        for t in a.keys() | b.keys()
    }


def open_and_check(path: Path) -> History:
    """Start as the collector would: it must open, at the current schema, intact."""
    store = StateStore(path)
    try:
        assert store.schema_version == SCHEMA_VERSION
        history = store.history
    finally:
        store.close()
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        db.close()
    return history


def write_config(tmp_path: Path, kubeconfig: Path) -> Path:
    raw = {
        "platform": {"launch_date": "2026-03-01"},
        "kubernetes": {
            "clusters": [{"name": "crash", "kubeconfig": str(kubeconfig)}],
            "timeout": "5s",
        },
        "golden_paths": [
            {
                "name": "service-chart",
                "match": {"labels": {"matchLabels": {"app.kubernetes.io/managed-by": "Helm"}}},
            }
        ],
        "state": {"path": str(tmp_path / "state.db")},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


# --- the tests -------------------------------------------------------------------------


def test_sigkill_during_polls_and_writes_loses_nothing(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    kubeconfig = tmp_path / "kubeconfig"
    # What release 0.1.0 left: the first child upgrades it, and may be killed doing so.
    old_rows = [("team-00", START - 10**8, START - 10**8), ("retired", START - 10**9, None)]
    write_v1(tmp_path / "state.db", old_rows)
    promised: History = {team: TeamTimes(seen, deploy) for team, seen, deploy in old_rows}
    checked: History = dict(promised)
    paused: Counter[str] = Counter()
    commits = moves = 0

    control, remote = FORK.Pipe()
    cluster = FORK.Process(target=simulate, args=(remote, kubeconfig, SEED), daemon=True)
    cluster.start()
    try:
        assert control.poll(10), "the simulated cluster did not start"
        assert control.recv() == "ready"
        config_path = write_config(tmp_path, kubeconfig)
        for number in range(KILLS):
            # Every other kill is aimed, in turn, at a write's BEGIN, one of its INSERTs
            # (one per team that moved) and its COMMIT, in one of the first polls.
            aimed = number % 2 == 1
            target = ("BEGIN", "INSERT", "COMMIT")[number // 2 % 3]
            pause_at = (target, rng.randint(1, 25 if target == "INSERT" else 5)) if aimed else None
            delay = 0.0 if aimed else rng.uniform(0.0, 0.25)
            where = f"seed {SEED}, kill {number} (pause at {pause_at}, delay {delay:.3f}s)"
            child = Child(collect, config_path, pause_at)
            if aimed:
                paused[child.wait_for_pause(where)] += 1
            else:
                child.until(time.monotonic() + delay)
            child.kill(where)
            commits += len(child.committed)
            for history in child.committed:
                promised = earliest(promised, history)

            history = open_and_check(tmp_path / "state.db")
            problems = lost_or_later(history, promised) + lost_or_later(history, checked)
            assert not problems, f"{where}: " + "; ".join(problems[:6])
            moves += history != checked
            checked = history
    finally:
        control.send("stop")
        cluster.join(10)
        if cluster.is_alive():
            cluster.kill()

    # The kills fell inside writes, at their commit and between commits, again and again.
    assert paused == {"BEGIN": 10, "INSERT": 10, "COMMIT": 10}, paused
    assert commits >= KILLS, commits
    assert moves >= KILLS // 2, moves
    assert checked.keys() == {*TEAMS, "retired"}
    assert checked["retired"] == TeamTimes(START - 10**9, None)


# One statement of the version-3 schema for the durability tests.
V3_TEAMS, MIGRATIONS = V3_COLUMNS["teams"], V3_COLUMNS["migrations"]


def migrations(db: sqlite3.Connection) -> list[tuple[int, int | None]]:
    return [(v, f) for v, f, *_ in db.execute("SELECT * FROM migrations ORDER BY version")]


def version_and_shape(path: Path, rows: list[Row], old: int = 1) -> int:
    """The schema version the file is at, after checking it is wholly that version: the
    version `old` it was written at (with `rows`, updated_at NULL), or the current one."""
    db = sqlite3.connect(path)
    try:
        version: int = db.execute("PRAGMA user_version").fetchone()[0]
        tables = {
            name: [r[1] for r in db.execute(f"PRAGMA table_info({name})")]
            for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        teams = db.execute("SELECT * FROM teams ORDER BY team").fetchall()
        if version == 1:
            assert tables == {"teams": ["team", "first_seen", "first_deploy"]}
            assert teams == rows
        elif version == 2:
            assert old == 2
            assert tables == {"teams": V3_TEAMS[:4], "migrations": MIGRATIONS}
            assert teams == [(*row, None) for row in rows]
            assert migrations(db) == [(2, None)]
        else:
            assert version == SCHEMA_VERSION == 4
            assert tables == V4_COLUMNS
            assert teams == [(*row, None, None, None) for row in rows]
            assert migrations(db) == ([(4, 1)] if old == 1 else [(2, None), (4, 2)])
        return version
    finally:
        db.close()


def kill_while_starting(
    template: Path, work: Path, pause_at: Pause | None, delay: float, where: str
) -> Path | None:
    """Copy `template` to work/state.db and kill a store starting on it: at the pause, or
    after `delay`. The path, or None when the start finished before the kill."""
    work.mkdir()
    path = work / "state.db"
    if template.exists():
        shutil.copy(template, path)
    child = Child(start_store, path, pause_at)
    if pause_at is not None:
        child.wait_for_pause(where)
    else:
        child.until(time.monotonic() + delay)
        if child.statements is not None:
            child.drain()
            return None
    child.kill(where)
    return path


@pytest.mark.parametrize("old", [1, 2])
def test_sigkill_during_the_upgrade_leaves_the_old_version_or_the_current_one(
    tmp_path: Path, old: int
) -> None:
    rng = random.Random(SEED)
    rows: list[Row] = [
        (f"team-{i:04}", START - i, None if i % 3 else START - 2 * i) for i in range(1000)
    ]
    template = tmp_path / "template.db"
    if old == 1:
        write_v1(template, rows)
    else:
        write_v2(template, [(*row, None) for row in rows], START)
    expected = {team: TeamTimes(seen, deploy) for team, seen, deploy in rows}

    # A whole start, to count its statements and time it.
    (tmp_path / "dry").mkdir()
    shutil.copy(template, tmp_path / "dry" / "state.db")
    started = time.monotonic()
    dry = Child(start_store, tmp_path / "dry" / "state.db", None)
    dry.drain()
    span = time.monotonic() - started
    assert dry.statements is not None
    assert dry.statements > 10

    # Before every statement, then at random times (the copy and the renames run no SQL).
    kills: list[tuple[Pause | None, float]] = [
        ((None, n), 0.0) for n in range(1, dry.statements + 1)
    ]
    kills += [(None, rng.uniform(0.0, span)) for _ in range(15)]
    outcomes: Counter[int] = Counter()
    for attempt, (pause_at, delay) in enumerate(kills):
        where = f"seed {SEED}, attempt {attempt} (pause at {pause_at}, delay {delay:.3f}s)"
        work = tmp_path / f"attempt-{attempt}"
        path = kill_while_starting(template, work, pause_at, delay, where)
        if path is None:
            continue
        outcomes[version_and_shape(path, rows, old)] += 1
        # The next start finishes the job, every time intact.
        assert open_and_check(path) == expected, where
        # A copy kept for a rollback is a whole file of the old version.
        for backup in work.glob(f"state.db.schema-v{old}-*"):
            kept = read_rows(backup) if old == 1 else [r[:3] for r in read_v2_rows(backup)]
            assert kept == rows, f"{where}: {backup.name}"
        assert sorted(p.name for p in work.iterdir() if f"schema-v{old}" not in p.name) == [
            "state.db"
        ], where
        shutil.rmtree(work)
    # Killed both before and after the commit, never in between.
    assert set(outcomes) == {old, SCHEMA_VERSION}, f"seed {SEED}: {outcomes}"


def test_sigkill_while_creating_the_file_leaves_none_or_a_whole_one(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    (tmp_path / "dry").mkdir()
    started = time.monotonic()
    dry = Child(start_store, tmp_path / "dry" / "state.db", None)
    dry.drain()
    span = time.monotonic() - started
    assert dry.statements is not None

    kills: list[tuple[Pause | None, float]] = [
        ((None, n), 0.0) for n in range(1, dry.statements + 1)
    ]
    kills += [(None, rng.uniform(0.0, span)) for _ in range(10)]
    for attempt, (pause_at, delay) in enumerate(kills):
        where = f"seed {SEED}, attempt {attempt} (pause at {pause_at}, delay {delay:.3f}s)"
        path = kill_while_starting(
            tmp_path / "none", tmp_path / f"a{attempt}", pause_at, delay, where
        )
        if path is None:
            continue
        # No half-built file at the state path: nothing, or a whole file at the current schema.
        if path.exists():
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,), where
            db.close()
        assert open_and_check(path) == {}, where
        assert sorted(p.name for p in path.parent.iterdir()) == ["state.db"], where

"""The state store: times only move earlier, survive a restart, and a foreign file is refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from collector.state import SCHEMA_VERSION, StateError, StateStore, TeamTimes


def test_times_only_move_earlier(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.db")
    assert store.record({"pay": 200.0}, {"pay": 300.0}) == {"pay": TeamTimes(200.0, 300.0)}
    # Later evidence (the early workload was deleted) changes nothing; earlier evidence wins.
    assert store.record({"pay": 250.0}, {"pay": 400.0}) == {"pay": TeamTimes(200.0, 300.0)}
    assert store.record({"pay": 100.0}, {}) == {"pay": TeamTimes(100.0, 300.0)}
    assert store.record({}, {"pay": 150.0, "search": 500.0}) == {
        "pay": TeamTimes(100.0, 150.0),
        "search": TeamTimes(None, 500.0),
    }


def test_history_survives_a_restart(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.db")
    store.record({"pay": 200.0, "search": 50.0}, {"pay": 300.0})
    store.close()
    reopened = StateStore(tmp_path / "s.db")
    assert reopened.history == {
        "pay": TeamTimes(200.0, 300.0),
        "search": TeamTimes(50.0, None),
    }
    assert reopened.record({"pay": 999.0}, {}) == reopened.history


def test_unchanged_evidence_does_not_write(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.db")
    store.record({"pay": 200.0}, {})
    before = (tmp_path / "s.db-wal").stat().st_size
    store.record({"pay": 200.0}, {})
    store.record({"pay": 201.0}, {})
    assert (tmp_path / "s.db-wal").stat().st_size == before


def test_a_foreign_sqlite_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE mine (x)")
        db.execute("INSERT INTO mine VALUES (42)")
    with pytest.raises(StateError, match=r"other\.db.*another application.*move it aside"):
        StateStore(path)
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT x FROM mine").fetchall() == [(42,)]


def test_a_corrupt_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StateError, match=r"s\.db is not a readable adoption-collector state"):
        StateStore(path)
    assert path.read_bytes() == b"this is not a database" * 100


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    StateStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StateError, match=f"schema version {SCHEMA_VERSION + 1}"):
        StateStore(path)


def test_a_failed_write_keeps_evidence_and_retries(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = StateStore(path)
    blocker = sqlite3.connect(path, timeout=0)
    blocker.execute("BEGIN EXCLUSIVE")
    store._db.execute("PRAGMA busy_timeout = 0")
    with pytest.raises(StateError, match="cannot write state file"):
        store.record({"pay": 100.0}, {})
    assert store.history == {"pay": TeamTimes(100.0, None)}
    blocker.rollback()
    blocker.close()
    store.record({}, {})  # the pending row is written now
    store.close()
    assert StateStore(path).history == {"pay": TeamTimes(100.0, None)}

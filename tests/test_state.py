"""The state store: times only move earlier, survive a restart, and a foreign file is refused.

The refusals as the command line shows them, keep_aside, the upgrade and crashes are in
tests/durability/.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from collector.state import SCHEMA_VERSION, Evidence, StateError, StateStore, TeamTimes

T0 = 1_780_000_000.0  # 2026-05-28T20:26:40Z


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
    with pytest.raises(StateError, match=r"other\.db.*another application.*keep_aside to move"):
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
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StateError, match=f"schema version {SCHEMA_VERSION + 1}, newer"):
        StateStore(path)
    # Even when told to keep unreadable files aside: this one is good, the collector is old.
    with pytest.raises(StateError, match="upgrade the collector"):
        StateStore(path, on_unreadable="keep_aside")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.db"]


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


def test_updated_at_moves_only_with_a_time(tmp_path: Path) -> None:
    now = [T0]
    store = StateStore(tmp_path / "s.db", clock=lambda: now[0])
    store.record({"pay": 200.0, "search": 50.0}, {})
    now[0] = T0 + 60
    store.record({"pay": 150.0, "search": 60.0}, {})  # pay moves earlier, search does not
    now[0] = T0 + 120
    store.record({}, {"search": 70.0})
    store.close()
    with sqlite3.connect(tmp_path / "s.db") as db:
        rows = db.execute("SELECT * FROM teams ORDER BY team").fetchall()
    db.close()
    assert rows == [
        ("pay", 150.0, None, T0 + 60, None, None),
        ("search", 50.0, 70.0, T0 + 120, None, None),
    ]


def test_keep_aside_moves_the_file_and_its_journals(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "s.db"
    path.write_bytes(b"not ours" * 10)
    (tmp_path / "s.db-wal").write_bytes(b"wal")
    (tmp_path / "s.db.unreadable-20260528T202640Z").write_bytes(b"an earlier one")
    with caplog.at_level(logging.WARNING, logger="collector.state"):
        store = StateStore(path, on_unreadable="keep_aside", clock=lambda: T0)
    assert store.history == {}
    store.record({"pay": 1.0}, {})
    store.close()
    # The name is taken by an earlier one, which is never overwritten.
    aside = tmp_path / "s.db.unreadable-20260528T202640Z.2"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "s.db",
        "s.db.unreadable-20260528T202640Z",
        "s.db.unreadable-20260528T202640Z.2",
        "s.db.unreadable-20260528T202640Z.2-wal",
    ]
    assert aside.read_bytes() == b"not ours" * 10
    assert (tmp_path / "s.db.unreadable-20260528T202640Z.2-wal").read_bytes() == b"wal"
    assert (tmp_path / "s.db.unreadable-20260528T202640Z").read_bytes() == b"an earlier one"
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        (
            "WARNING",
            f"state file {path} is not a readable adoption-collector state: it is not an "
            f"SQLite database; moved it to {aside} and started a new history",
        )
    ]


def test_a_journal_without_its_database_is_not_replayed_into_a_new_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The database deleted by hand, its WAL (full of its pages) left behind.
    old = StateStore(tmp_path / "s.db")
    old.record({"gone": 1.0}, {})
    (tmp_path / "s.db").unlink()
    wal = (tmp_path / "s.db-wal").read_bytes()
    old.close()  # its checkpoint on close has no file left to write into
    (tmp_path / "s.db-shm").unlink(missing_ok=True)
    (tmp_path / "s.db-wal").write_bytes(wal)
    with caplog.at_level(logging.WARNING, logger="collector.state"):
        store = StateStore(tmp_path / "s.db", clock=lambda: T0)
    assert store.history == {}
    store.close()
    assert (tmp_path / "s.db.orphaned-20260528T202640Z-wal").read_bytes() == wal
    assert [r.getMessage() for r in caplog.records] == [
        f"state file {tmp_path / 's.db'} is missing but not its journal files (s.db-wal); "
        f"moved them aside as {tmp_path / 's.db.orphaned-20260528T202640Z'}-* "
        "and started a new history"
    ]


def test_a_file_half_built_by_a_killed_start_is_rebuilt(tmp_path: Path) -> None:
    (tmp_path / "s.db.creating").write_bytes(b"SQLite format 3\x00half")
    (tmp_path / "s.db.creating-journal").write_bytes(b"hot journal of the half-built file")
    store = StateStore(tmp_path / "s.db")
    assert store.schema_version == SCHEMA_VERSION
    store.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.db"]


def test_a_file_another_process_holds_is_not_called_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    StateStore(path).close()
    # In WAL mode only an exclusive locking mode keeps readers out.
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("PRAGMA locking_mode = EXCLUSIVE")
    blocker.execute("INSERT INTO teams VALUES ('pay', 1.0, NULL, NULL, NULL, NULL)")
    with pytest.raises(StateError) as raised:
        StateStore(path, on_unreadable="keep_aside", busy_timeout=0.1)
    blocker.close()
    # A busy file is somebody's live history: never moved aside.
    assert str(raised.value) == (
        f"state file {path} is locked by another process (is another collector using it?)"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.db"]
    assert StateStore(path).history == {"pay": TeamTimes(1.0, None)}


def test_each_time_keeps_the_object_that_set_it(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.db", clock=lambda: T0)
    ns = "namespace:prod-eu/pay"
    api = "workload:prod-eu/pay/Deployment/api"
    store.record({"pay": Evidence(200.0, ns)}, {"pay": Evidence(300.0, api)})
    # Later evidence leaves both alone; earlier evidence moves one time with its object.
    store.record({"pay": Evidence(250.0, "repository:acme/pay")}, {"pay": Evidence(300.0, "x")})
    assert store.record({"pay": Evidence(100.0, "repository:acme/pay")}, {}) == {
        "pay": TeamTimes(100.0, 300.0, "repository:acme/pay", api)
    }
    store.close()
    reopened = StateStore(tmp_path / "s.db")
    assert reopened.history == {"pay": TeamTimes(100.0, 300.0, "repository:acme/pay", api)}
    reopened.close()


def test_an_unknown_object_is_filled_in_once_and_then_nothing_is_written(tmp_path: Path) -> None:
    # A time recorded without its object (a file upgraded from version 2) gets the object
    # of evidence with that very time; after that the steady state writes nothing.
    store = StateStore(tmp_path / "s.db", clock=lambda: T0)
    store.record({"pay": 200.0}, {"pay": 300.0})
    ns = "namespace:prod-eu/pay"
    assert store.record({"pay": Evidence(200.0, ns)}, {}) == {"pay": TeamTimes(200.0, 300.0, ns)}
    before = (tmp_path / "s.db-wal").stat().st_size
    store.record({"pay": Evidence(200.0, "namespace:other/pay")}, {"pay": Evidence(300.0)})
    store.record({"pay": Evidence(200.0, ns)}, {})
    assert (tmp_path / "s.db-wal").stat().st_size == before
    assert store.history == {"pay": TeamTimes(200.0, 300.0, ns)}
    store.close()

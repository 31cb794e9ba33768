"""Schema version 4 and the upgrades from version 1 (what release 0.1.0 wrote), 2 and 3."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from collector import __version__
from collector.deploys import NEVER_POLLED
from collector.state import SCHEMA_VERSION, Evidence, StateStore, TeamTimes
from tests.durability.schema import V3_COLUMNS, V4_COLUMNS
from tests.durability.v1 import read_rows, write_v1
from tests.durability.v2 import Row as V2Row
from tests.durability.v2 import read_rows as read_v2_rows
from tests.durability.v2 import write_v2
from tests.durability.v3 import Row as V3Row
from tests.durability.v3 import write_v3

T_UPGRADE = 1_780_000_000.0  # 2026-05-28T20:26:40Z
V1_ROWS = [
    ("billing", 1_769_904_000.0, None),
    ("payments", 1_773_100_800.0, 1_775_001_600.0),
    ("search", None, 1_780_272_000.0),
]


def columns(path: Path) -> dict[str, list[str]]:
    with sqlite3.connect(path) as db:
        tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        result = {t: [r[1] for r in db.execute(f"PRAGMA table_info({t})")] for t in tables}
    db.close()
    return result


def query(path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as db:
        rows = db.execute(sql).fetchall()
    db.close()
    return rows


def test_a_new_file_is_created_at_the_current_version(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    StateStore(path, clock=lambda: T_UPGRADE).close()
    assert SCHEMA_VERSION == 4
    assert query(path, "PRAGMA user_version") == [(4,)]
    assert query(path, "PRAGMA application_id") == [(0x41444F50,)]
    assert query(path, "PRAGMA journal_mode") == [("wal",)]
    assert columns(path) == V4_COLUMNS
    # from_version NULL: created at version 4, not upgraded to it.
    assert query(path, "SELECT * FROM migrations") == [(4, None, T_UPGRADE, __version__)]
    # Built under a temporary name and linked into place: nothing else is left.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.db"]


def test_a_v1_file_upgrades_with_every_time_intact(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    write_v1(path, V1_ROWS)

    store = StateStore(path, clock=lambda: T_UPGRADE)
    assert store.schema_version == 4
    assert store.history == {
        "billing": TeamTimes(1_769_904_000.0, None),
        "payments": TeamTimes(1_773_100_800.0, 1_775_001_600.0),
        "search": TeamTimes(None, 1_780_272_000.0),
    }
    store.close()

    assert columns(path) == V4_COLUMNS
    # Straight to version 4, in one transaction: one row.
    assert query(path, "SELECT * FROM migrations") == [(4, 1, T_UPGRADE, __version__)]
    # When these times last moved is unknown: they predate the column.
    assert query(path, "SELECT team, updated_at FROM teams ORDER BY team") == [
        ("billing", None),
        ("payments", None),
        ("search", None),
    ]
    # A copy of the version 1 file stays next to it: what a rollback to 0.1.0 needs.
    backup = tmp_path / "state.db.schema-v1-20260528T202640Z"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.db", backup.name]
    assert query(backup, "PRAGMA user_version") == [(1,)]
    assert columns(backup) == {"teams": ["team", "first_seen", "first_deploy"]}
    assert read_rows(backup) == V1_ROWS


def test_the_upgrade_runs_once(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    write_v1(path, V1_ROWS)
    StateStore(path, clock=lambda: T_UPGRADE).close()
    reopened = StateStore(path, clock=lambda: T_UPGRADE + 60)
    assert reopened.history["payments"] == TeamTimes(1_773_100_800.0, 1_775_001_600.0)
    reopened.close()
    assert query(path, "SELECT * FROM migrations") == [(4, 1, T_UPGRADE, __version__)]
    assert len(list(tmp_path.glob("state.db.schema-v1-*"))) == 1


def test_an_upgraded_file_records_like_a_new_one(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    write_v1(path, V1_ROWS)
    store = StateStore(path, clock=lambda: T_UPGRADE)
    store.record({"payments": 1_773_000_000.0, "billing": 1_769_999_999.0}, {"new": 1.0})
    store.close()
    assert query(path, "SELECT * FROM teams ORDER BY team") == [
        ("billing", 1_769_904_000.0, None, None, None, None),  # later evidence: not a change
        ("new", None, 1.0, T_UPGRADE, None, None),
        ("payments", 1_773_000_000.0, 1_775_001_600.0, T_UPGRADE, None, None),
        ("search", None, 1_780_272_000.0, None, None, None),
    ]


def test_a_v1_file_left_by_a_killed_upgrade_copy_is_upgraded(tmp_path: Path) -> None:
    # A start killed while copying the version 1 file leaves a partial copy: the next
    # start replaces it with a whole one and upgrades.
    path = tmp_path / "state.db"
    write_v1(path, V1_ROWS)
    (tmp_path / "state.db.backup-partial").write_bytes(b"SQLite format 3\x00" + b"\x00" * 50)
    StateStore(path, clock=lambda: T_UPGRADE).close()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "state.db",
        "state.db.schema-v1-20260528T202640Z",
    ]
    assert read_rows(tmp_path / "state.db.schema-v1-20260528T202640Z") == V1_ROWS


# --- from version 2, the version before the evidence objects were kept -------------------

T_CREATED = 1_775_000_000.0
V2_ROWS: list[V2Row] = [
    ("billing", 1_769_904_000.0, None, None),  # from a version 1 file, upgraded
    ("payments", 1_773_100_800.0, 1_775_001_600.0, 1_776_000_000.0),
    ("search", None, 1_780_272_000.0, 1_780_272_100.0),
]


def test_a_v2_file_upgrades_to_v4_with_every_time_intact(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    write_v2(path, V2_ROWS, T_CREATED)

    store = StateStore(path, clock=lambda: T_UPGRADE)
    assert store.schema_version == 4
    # The objects behind the times were not kept before version 3: unknown, not made up.
    assert store.history == {
        "billing": TeamTimes(1_769_904_000.0, None, None, None),
        "payments": TeamTimes(1_773_100_800.0, 1_775_001_600.0, None, None),
        "search": TeamTimes(None, 1_780_272_000.0, None, None),
    }
    store.close()

    assert columns(path) == V4_COLUMNS
    assert query(path, "SELECT * FROM migrations ORDER BY version") == [
        (2, None, T_CREATED, "0.1.0"),
        (4, 2, T_UPGRADE, __version__),
    ]
    assert query(path, "SELECT * FROM teams ORDER BY team") == [
        (*row, None, None) for row in V2_ROWS
    ]
    backup = tmp_path / "state.db.schema-v2-20260528T202640Z"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.db", backup.name]
    assert query(backup, "PRAGMA user_version") == [(2,)]
    assert read_v2_rows(backup) == V2_ROWS


def test_a_v2_file_upgrades_once(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    write_v2(path, V2_ROWS, T_CREATED)
    StateStore(path, clock=lambda: T_UPGRADE).close()
    StateStore(path, clock=lambda: T_UPGRADE + 60).close()
    assert query(path, "SELECT version, from_version FROM migrations ORDER BY version") == [
        (2, None),
        (4, 2),
    ]
    assert len(list(tmp_path.glob("state.db.schema-v2-*"))) == 1


def test_an_upgraded_v2_file_records_times_with_their_objects(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    write_v2(path, V2_ROWS, T_CREATED)
    store = StateStore(path, clock=lambda: T_UPGRADE)
    ns = "namespace:prod-eu/billing"
    api = "workload:prod-eu/pay/Deployment/api"
    store.record(
        # billing: its known time, now with its object; payments: an earlier first seen.
        {"billing": Evidence(1_769_904_000.0, ns), "payments": Evidence(1_773_000_000.0, ns)},
        {"payments": Evidence(1_775_001_600.0, api), "search": Evidence(1_790_000_000.0, api)},
    )
    store.close()
    assert query(path, "SELECT * FROM teams ORDER BY team") == [
        ("billing", 1_769_904_000.0, None, T_UPGRADE, ns, None),
        ("payments", 1_773_000_000.0, 1_775_001_600.0, T_UPGRADE, ns, api),
        # later evidence: not a change, and its object is not taken for the known time
        ("search", None, 1_780_272_000.0, 1_780_272_100.0, None, None),
    ]


# --- from version 3, the version before deploys and the daily history ------------------

V3_ROWS: list[V3Row] = [
    ("payments", 1_773_100_800.0, 1_775_001_600.0, 1_776_000_000.0, "namespace:c/pay", None),
]


def test_a_v3_file_upgrades_to_v4_and_its_clusters_start_from_a_baseline(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    write_v3(path, V3_ROWS, T_CREATED)
    store = StateStore(path, clock=lambda: T_UPGRADE)
    assert store.schema_version == 4
    assert store.history == {
        "payments": TeamTimes(1_773_100_800.0, 1_775_001_600.0, "namespace:c/pay", None)
    }
    # No generation was kept before: the next poll of every cluster counts nothing.
    assert store.known("prod-eu") == NEVER_POLLED
    assert store.deploys("team") == store.deploys("cluster") == {}
    store.close()
    assert columns(path) == V4_COLUMNS
    assert query(path, "SELECT * FROM teams") == V3_ROWS
    assert query(path, "SELECT version, from_version FROM migrations ORDER BY version") == [
        (3, None),
        (4, 3),
    ]
    assert columns(tmp_path / "state.db.schema-v3-20260528T202640Z") == V3_COLUMNS

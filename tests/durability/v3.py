"""The state file exactly as schema version 3 wrote it (the release before deploys and the
daily history were kept). Frozen: never edit."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

APPLICATION_ID = 0x41444F50

V3_SCHEMA = """
CREATE TABLE teams (
    team TEXT PRIMARY KEY,
    first_seen REAL,
    first_deploy REAL,
    updated_at REAL,
    first_seen_by TEXT,
    first_deploy_by TEXT
) WITHOUT ROWID;
CREATE TABLE migrations (
    version INTEGER PRIMARY KEY,
    from_version INTEGER,
    applied_at REAL NOT NULL,
    collector_version TEXT NOT NULL
);
"""

# team, first_seen, first_deploy, updated_at, first_seen_by, first_deploy_by
Row = tuple[str, float | None, float | None, float | None, str | None, str | None]


def write_v3(path: Path, rows: Iterable[Row], created: float, version: str = "0.1.0") -> None:
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript(f"""
        BEGIN IMMEDIATE;
        {V3_SCHEMA}
        INSERT INTO migrations VALUES (3, NULL, {created!r}, '{version}');
        PRAGMA application_id = {APPLICATION_ID};
        PRAGMA user_version = 3;
        COMMIT;
    """)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("BEGIN IMMEDIATE")
    db.executemany("INSERT INTO teams VALUES (?, ?, ?, ?, ?, ?)", sorted(rows))
    db.execute("COMMIT")
    db.close()

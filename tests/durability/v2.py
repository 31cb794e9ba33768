"""The state file exactly as schema version 2 wrote it (the release before the evidence
objects were kept). Frozen: never edit.

The upgrade tests build real version 2 files with this, so they keep testing the path
from what is deployed even after collector/state.py has moved on.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

APPLICATION_ID = 0x41444F50

V2_SCHEMA = """
CREATE TABLE teams (
    team TEXT PRIMARY KEY,
    first_seen REAL,      -- earliest creation time of the team's namespaces or workloads
    first_deploy REAL,    -- earliest creation time of a golden workload of the team
    updated_at REAL       -- when either time last moved earlier; NULL: not since version 2
) WITHOUT ROWID;
CREATE TABLE migrations (
    version INTEGER PRIMARY KEY,   -- the schema version reached
    from_version INTEGER,          -- the version upgraded from; NULL: the file was created
    applied_at REAL NOT NULL,
    collector_version TEXT NOT NULL
);
"""

V2_UPSERT = """
INSERT INTO teams (team, first_seen, first_deploy, updated_at) VALUES (?, ?, ?, ?)
ON CONFLICT (team) DO UPDATE SET
    first_seen = min(coalesce(teams.first_seen, excluded.first_seen),
                     coalesce(excluded.first_seen, teams.first_seen)),
    first_deploy = min(coalesce(teams.first_deploy, excluded.first_deploy),
                       coalesce(excluded.first_deploy, teams.first_deploy)),
    updated_at = excluded.updated_at
WHERE excluded.first_seen < coalesce(teams.first_seen, 9e999)
   OR excluded.first_deploy < coalesce(teams.first_deploy, 9e999)
"""

Row = tuple[str, float | None, float | None, float | None]  # team, seen, deploy, updated_at


def write_v2(path: Path, rows: Iterable[Row], created: float, version: str = "0.1.0") -> None:
    """Create the file and record `rows` the way a version 2 collector did, step for step."""
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript(f"""
        BEGIN IMMEDIATE;
        {V2_SCHEMA}
        INSERT INTO migrations VALUES (2, NULL, {created!r}, '{version}');
        PRAGMA application_id = {APPLICATION_ID};
        PRAGMA user_version = 2;
        COMMIT;
    """)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    db.execute("BEGIN IMMEDIATE")
    db.executemany(V2_UPSERT, sorted(rows))
    db.execute("COMMIT")
    db.close()


def read_rows(path: Path) -> list[Row]:
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT team, first_seen, first_deploy, updated_at FROM teams ORDER BY team"
        )
        result = [(str(t), s, d, u) for t, s, d, u in rows]
    db.close()
    return result

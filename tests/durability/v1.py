"""The state file exactly as release 0.1.0 (schema version 1) wrote it. Frozen: never edit.

The upgrade tests build real version 1 files with this, so they keep testing the path
from what is deployed even after collector/state.py has moved on.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

APPLICATION_ID = 0x41444F50

V1_SCHEMA = """
CREATE TABLE teams (
    team TEXT PRIMARY KEY,
    first_seen REAL,      -- earliest creation time of the team's namespaces or workloads
    first_deploy REAL     -- earliest creation time of a golden workload of the team
) WITHOUT ROWID;
"""

V1_UPSERT = """
INSERT INTO teams (team, first_seen, first_deploy) VALUES (?, ?, ?)
ON CONFLICT (team) DO UPDATE SET
    first_seen = min(coalesce(teams.first_seen, excluded.first_seen),
                     coalesce(excluded.first_seen, teams.first_seen)),
    first_deploy = min(coalesce(teams.first_deploy, excluded.first_deploy),
                       coalesce(excluded.first_deploy, teams.first_deploy))
"""

Row = tuple[str, float | None, float | None]


def write_v1(path: Path, rows: Iterable[Row]) -> None:
    """Create the file and record `rows` the way release 0.1.0 did, step for step."""
    db = sqlite3.connect(path, timeout=10.0, check_same_thread=False)
    with db:
        db.executescript(V1_SCHEMA)
        db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        db.execute("PRAGMA user_version = 1")
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    with db:
        db.executemany(V1_UPSERT, sorted(rows))
    db.close()


def read_rows(path: Path) -> list[Row]:
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT team, first_seen, first_deploy FROM teams ORDER BY team")
        result = [(str(t), s, d) for t, s, d in rows]
    db.close()
    return result

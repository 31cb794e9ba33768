"""The durable history: per team, the earliest onboarding evidence and the first golden deploy.

One SQLite file. Times only ever move earlier: every write is a MIN against what
is stored, in one transaction, so a deleted workload, a restart or a cluster that
is down for a while can never erase or delay the evidence behind
time-to-first-deploy.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# 'ADOP': marks the file as ours, so a foreign SQLite file is refused, not overwritten.
APPLICATION_ID = 0x41444F50
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE teams (
    team TEXT PRIMARY KEY,
    first_seen REAL,      -- earliest creation time of the team's namespaces or workloads
    first_deploy REAL     -- earliest creation time of a golden workload of the team
) WITHOUT ROWID;
"""

# SQLite's min() returns NULL if either side is NULL; coalesce keeps the known one.
_UPSERT = """
INSERT INTO teams (team, first_seen, first_deploy) VALUES (?, ?, ?)
ON CONFLICT (team) DO UPDATE SET
    first_seen = min(coalesce(teams.first_seen, excluded.first_seen),
                     coalesce(excluded.first_seen, teams.first_seen)),
    first_deploy = min(coalesce(teams.first_deploy, excluded.first_deploy),
                       coalesce(excluded.first_deploy, teams.first_deploy))
"""


@dataclass(frozen=True, slots=True)
class TeamTimes:
    first_seen: float | None
    first_deploy: float | None


def _earlier(new: float | None, old: float | None) -> bool:
    return new is not None and (old is None or new < old)


class StateError(Exception):
    """The state file cannot be used; the message names the file and the way out."""


class StateStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=10.0, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise StateError(f"cannot open state file {self.path}: {exc}") from None
        try:
            self._prepare()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise StateError(
                f"state file {self.path} is not a readable adoption-collector state ({exc}); "
                "move it aside to start a new history, or restore it from a backup"
            ) from None

    def _prepare(self) -> None:
        db = self._db
        application_id = db.execute("PRAGMA application_id").fetchone()[0]
        version = db.execute("PRAGMA user_version").fetchone()[0]
        tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if tables == 0 and application_id == 0:
            with db:
                db.executescript(_SCHEMA)
                db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        elif application_id != APPLICATION_ID:
            raise sqlite3.DatabaseError("it belongs to another application")
        elif version != SCHEMA_VERSION:
            raise sqlite3.DatabaseError(
                f"schema version {version}, this collector reads version {SCHEMA_VERSION}"
            )
        # WAL keeps readers off the writer's back; FULL makes a committed write survive power loss.
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = FULL")
        self._history = self.load()
        self._pending: dict[str, TeamTimes] = {}

    def load(self) -> dict[str, TeamTimes]:
        rows = self._db.execute("SELECT team, first_seen, first_deploy FROM teams")
        return {team: TeamTimes(seen, deploy) for team, seen, deploy in rows}

    @property
    def history(self) -> dict[str, TeamTimes]:
        return dict(self._history)

    def record(
        self, first_seen: Mapping[str, float], first_deploy: Mapping[str, float]
    ) -> dict[str, TeamTimes]:
        """Merge new evidence (min-only) and return the whole history.

        Only evidence earlier than what is known is written, so a steady state
        costs no disk write. If the write fails, the evidence stays in memory and
        pending, is retried on the next call, and StateError is raised.
        """
        for team in first_seen.keys() | first_deploy.keys():
            seen, deploy = first_seen.get(team), first_deploy.get(team)
            old = self._history.get(team, TeamTimes(None, None))
            if _earlier(seen, old.first_seen) or _earlier(deploy, old.first_deploy):
                merged = TeamTimes(
                    seen if _earlier(seen, old.first_seen) else old.first_seen,
                    deploy if _earlier(deploy, old.first_deploy) else old.first_deploy,
                )
                self._history[team] = merged
                self._pending[team] = merged
        if self._pending:
            rows = [(t, v.first_seen, v.first_deploy) for t, v in sorted(self._pending.items())]
            try:
                with self._db:
                    self._db.executemany(_UPSERT, rows)
            except sqlite3.Error as exc:
                raise StateError(f"cannot write state file {self.path}: {exc}") from None
            self._pending.clear()
        return dict(self._history)

    def close(self) -> None:
        self._db.close()

"""The durable history: per team, the earliest onboarding evidence and the first golden deploy;
the deploys counted so far and the workload generations they were counted from; a row a day.

One SQLite file. Times only ever move earlier: every write is a MIN against what
is stored, in one transaction, so a deleted workload, a restart or a cluster that
is down for a while can never erase or delay the evidence behind
time-to-first-deploy.

Crash safety: a new file is built under a temporary name and linked into place
complete, so the state path never holds half a file; a schema upgrade is one
transaction, after a copy of the old file is kept for a rollback. A file that
cannot be read is refused (or, when configured, moved aside), never overwritten.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

from collector import __version__
from collector.deploys import Delta, Known
from collector.model import Path as WorkloadPath

log = logging.getLogger(__name__)

# 'ADOP': marks the file as ours, so a foreign SQLite file is refused, not overwritten.
APPLICATION_ID = 0x41444F50
SCHEMA_VERSION = 4

OnUnreadable = Literal["fail", "keep_aside"]

_SQLITE_MAGIC = b"SQLite format 3\x00"
# SQLite finds a database's journal by name: they must move with it, or never be replayed
# into another file of the same name.
COMPANIONS = ("-wal", "-shm", "-journal")

_TEAMS = """
CREATE TABLE teams (
    team TEXT PRIMARY KEY,
    first_seen REAL,      -- earliest creation time of the team's namespaces or workloads
    first_deploy REAL,    -- earliest creation time of a golden workload of the team
    updated_at REAL,      -- when the row last changed; NULL: not since version 2
    -- The object that set each time, "SOURCE:OBJECT" (e.g. namespace:prod-eu/search,
    -- workload:prod-eu/search/Deployment/api, repository:acme/x), kept because the
    -- object itself may be deleted; NULL: set before version 3, or not known.
    first_seen_by TEXT,
    first_deploy_by TEXT
) WITHOUT ROWID
"""

# Which collector brought the file to which version, and when: the trail behind a
# time-to-first-deploy that changed across an upgrade.
_MIGRATIONS = """
CREATE TABLE migrations (
    version INTEGER PRIMARY KEY,   -- the schema version reached
    from_version INTEGER,          -- the version upgraded from; NULL: the file was created
    applied_at REAL NOT NULL,
    collector_version TEXT NOT NULL
)
"""

# Deploy counting (collector/deploys.py): the generation of every tracked workload at the last
# good poll of its cluster, by uid. Rows change only when a workload does (a deploy, a new
# or deleted workload), so a steady state writes nothing.
_GENERATIONS = """
CREATE TABLE generations (
    cluster TEXT NOT NULL,
    uid TEXT NOT NULL,
    generation INTEGER NOT NULL,   -- 0: the object had none
    PRIMARY KEY (cluster, uid)
) WITHOUT ROWID
"""

# When each cluster's first good poll started: deploys count from then on.
_BASELINES = """
CREATE TABLE baselines (
    cluster TEXT PRIMARY KEY,
    started REAL NOT NULL
) WITHOUT ROWID
"""

# The deploy counters' totals, written in the transaction that moves the generations they
# were counted from: a restart neither loses a deploy nor counts one twice.
_DEPLOYS = """
CREATE TABLE deploys (
    scope TEXT NOT NULL,   -- 'team' or 'cluster'
    name TEXT NOT NULL,    -- the team label or the cluster
    path TEXT NOT NULL,    -- golden or shadow
    total INTEGER NOT NULL,
    PRIMARY KEY (scope, name, path)
) WITHOUT ROWID
"""

# One row per UTC day: the figures of the day's last good poll.
_DAYS = """
CREATE TABLE days (
    day TEXT PRIMARY KEY,  -- YYYY-MM-DD, UTC
    active INTEGER NOT NULL,
    adopted INTEGER NOT NULL,
    mandated INTEGER NOT NULL,  -- active mandated teams
    ratio REAL,
    voluntary_ratio REAL,
    target REAL,
    polled_at REAL NOT NULL
) WITHOUT ROWID
"""

_V4_TABLES = {
    "generations": ("cluster", "uid", "generation"),
    "baselines": ("cluster", "started"),
    "deploys": ("scope", "name", "path", "total"),
    "days": (
        "day",
        "active",
        "adopted",
        "mandated",
        "ratio",
        "voluntary_ratio",
        "target",
        "polled_at",
    ),
}

# The columns of every schema version this collector reads, table by table.
_COLUMNS: dict[int, dict[str, tuple[str, ...]]] = {
    1: {"teams": ("team", "first_seen", "first_deploy")},
    2: {
        "teams": ("team", "first_seen", "first_deploy", "updated_at"),
        "migrations": ("version", "from_version", "applied_at", "collector_version"),
    },
    3: {
        "teams": (
            "team",
            "first_seen",
            "first_deploy",
            "updated_at",
            "first_seen_by",
            "first_deploy_by",
        ),
        "migrations": ("version", "from_version", "applied_at", "collector_version"),
    },
}
_COLUMNS[4] = {**_COLUMNS[3], **_V4_TABLES}

# SQLite's min() returns NULL if either side is NULL; coalesce keeps the known one. The
# WHERE leaves a row (and its updated_at) alone unless one of its times really moves earlier
# (9e999 is SQLite's infinity; a NULL newcomer compares as NULL, which is false), or the
# object behind an unchanged time becomes known (a file upgraded from version 2). Every SET
# expression reads the row as it was, so each object moves with its time.
_UPSERT = """
INSERT INTO teams (team, first_seen, first_deploy, updated_at, first_seen_by, first_deploy_by)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (team) DO UPDATE SET
    first_seen = min(coalesce(teams.first_seen, excluded.first_seen),
                     coalesce(excluded.first_seen, teams.first_seen)),
    first_deploy = min(coalesce(teams.first_deploy, excluded.first_deploy),
                       coalesce(excluded.first_deploy, teams.first_deploy)),
    updated_at = excluded.updated_at,
    first_seen_by = CASE
        WHEN excluded.first_seen < coalesce(teams.first_seen, 9e999)
          OR (excluded.first_seen = teams.first_seen AND teams.first_seen_by IS NULL)
        THEN excluded.first_seen_by ELSE teams.first_seen_by END,
    first_deploy_by = CASE
        WHEN excluded.first_deploy < coalesce(teams.first_deploy, 9e999)
          OR (excluded.first_deploy = teams.first_deploy AND teams.first_deploy_by IS NULL)
        THEN excluded.first_deploy_by ELSE teams.first_deploy_by END
WHERE excluded.first_seen < coalesce(teams.first_seen, 9e999)
   OR excluded.first_deploy < coalesce(teams.first_deploy, 9e999)
   OR (excluded.first_seen = teams.first_seen AND teams.first_seen_by IS NULL
       AND excluded.first_seen_by IS NOT NULL)
   OR (excluded.first_deploy = teams.first_deploy AND teams.first_deploy_by IS NULL
       AND excluded.first_deploy_by IS NOT NULL)
"""


@dataclass(frozen=True, slots=True)
class TeamTimes:
    first_seen: float | None
    first_deploy: float | None
    # The object that set each time, "SOURCE:OBJECT" (see the teams table); None: unknown.
    first_seen_by: str | None = None
    first_deploy_by: str | None = None


class DayRow(NamedTuple):
    """One UTC day's figures, as the day's last good poll left them (the days table)."""

    day: str  # YYYY-MM-DD
    active: int
    adopted: int
    mandated: int  # active mandated teams
    ratio: float | None
    voluntary_ratio: float | None
    target: float | None
    polled_at: float  # the poll that set these figures


class Evidence(NamedTuple):
    """A time and the object that showed it, as "SOURCE:OBJECT" (None: not known)."""

    time: float
    by: str | None = None


def _evidence(value: float | Evidence | None) -> Evidence | None:
    if value is None or isinstance(value, Evidence):
        return value
    return Evidence(value)


def _merge(new: Evidence | None, old: float | None, old_by: str | None) -> Evidence | None:
    """`new` if it is earlier than `old`, or the same time with the object `old_by` lacks;
    else None (nothing to write)."""
    if new is None:
        return None
    if old is None or new.time < old:
        return new
    return new if new.time == old and old_by is None and new.by is not None else None


class StateError(Exception):
    """The state file cannot be used; the message names the file and the way out."""


class _Unreadable(Exception):
    """The file's content is not a state this collector can read (`reason` says why)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class StateStore:
    def __init__(
        self,
        path: str | Path,
        *,
        on_unreadable: OnUnreadable = "fail",
        clock: Callable[[], float] = time.time,
        busy_timeout: float = 10.0,
    ) -> None:
        self.path = Path(path)
        self._clock = clock
        self._busy_timeout = busy_timeout  # how long to wait for another process's lock
        try:
            self._db = self._open()
        except _Unreadable as exc:
            if on_unreadable != "keep_aside":
                raise StateError(
                    f"state file {self.path} is not a readable adoption-collector state: "
                    f"{exc.reason}. Restore it from a backup, or set state.on_unreadable: "
                    "keep_aside to move it aside and start a new history"
                ) from None
            try:
                aside = _move_aside(self.path, "unreadable", clock())
            except OSError as move:
                raise StateError(
                    f"state file {self.path} is not a readable adoption-collector state "
                    f"({exc.reason}) and cannot be moved aside: {move.strerror or move}"
                ) from None
            log.warning(
                "state file %s is not a readable adoption-collector state: %s; "
                "moved it to %s and started a new history",
                self.path,
                exc.reason,
                aside,
            )
            try:
                self._db = self._open()
            except _Unreadable as again:  # the file just built: not a problem of the old one
                raise StateError(f"cannot create state file {self.path}: {again}") from None
        try:
            self._history = self.load()
        except sqlite3.Error as exc:  # e.g. locked between the checks and this read
            self._db.close()
            raise self._sqlite_error(exc) from None
        self._pending: dict[str, TeamTimes] = {}
        try:
            self._load_deploys()
        except sqlite3.Error as exc:
            self._db.close()
            raise self._sqlite_error(exc) from None
        self._days: dict[str, DayRow] = {}
        self._pending_days: dict[str, DayRow] = {}
        try:
            for row in self._db.execute("SELECT * FROM days ORDER BY day"):
                self._days[row[0]] = DayRow(*row)
        except sqlite3.Error as exc:
            self._db.close()
            raise self._sqlite_error(exc) from None
        # Deploy bookkeeping not yet written: (cluster, uid) -> generation, None to delete;
        # cluster -> baseline; the totals (scope, name, path) to write as they are in memory.
        self._pending_generations: dict[tuple[str, str], int | None] = {}
        self._pending_baselines: dict[str, float] = {}
        self._pending_totals: set[tuple[str, str, WorkloadPath]] = set()

    # --- opening -----------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        """A connection to a checked state file at the current schema version."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self.path.exists():
                self._create()
            _check_header(self.path)
            version = self._check()
            db = sqlite3.connect(
                self.path.resolve().as_uri() + "?mode=rw",
                uri=True,
                timeout=self._busy_timeout,
                check_same_thread=False,
                isolation_level=None,  # transactions are explicit: see _transaction
            )
        except OSError as exc:
            raise StateError(f"cannot open state file {self.path}: {exc.strerror or exc}") from None
        except sqlite3.Error as exc:
            raise self._sqlite_error(exc) from None
        try:
            # WAL keeps readers off the writer's back; FULL makes a commit survive power loss.
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = FULL")
            if version < SCHEMA_VERSION:
                self._upgrade(db, version)
        except sqlite3.Error as exc:
            db.close()
            raise self._sqlite_error(exc) from None
        except OSError as exc:
            db.close()
            raise StateError(
                f"cannot upgrade state file {self.path}: {exc.strerror or exc}"
            ) from None
        except BaseException:
            db.close()
            raise
        return db

    def _check(self) -> int:
        """The schema version of the file, checked read-only: a file that is refused is
        left exactly as it was (a read-write connection would checkpoint its WAL)."""
        absent = [p for p in _companions(self.path) if not p.exists()]
        db = sqlite3.connect(
            self.path.resolve().as_uri() + "?mode=ro", uri=True, timeout=self._busy_timeout
        )
        try:
            problems = [row[0] for row in db.execute("PRAGMA quick_check")]
            if problems != ["ok"]:
                raise _Unreadable(f"it is corrupt ({problems[0].splitlines()[-1]})")
            application_id = db.execute("PRAGMA application_id").fetchone()[0]
            if application_id != APPLICATION_ID:
                raise _Unreadable(
                    "it is an SQLite database of another application "
                    f"(application_id {application_id:#010x}, ours is {APPLICATION_ID:#010x})"
                )
            version: int = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                # Never kept aside: the history in it is good, only this collector is too old.
                raise StateError(
                    f"state file {self.path} has schema version {version}, newer than the "
                    f"version {SCHEMA_VERSION} this collector reads: this collector is older "
                    "than the file; upgrade the collector. The file is left as it is, whatever "
                    "state.on_unreadable says"
                )
            expected = _COLUMNS.get(version)
            if expected is None:
                raise _Unreadable(f"it has schema version {version}, which no release wrote")
            if _tables(db) != expected:
                raise _Unreadable(f"its tables are not those of schema version {version}")
            return version
        except sqlite3.DatabaseError as exc:
            if _primary_code(exc) in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
                raise _Unreadable(f"it is corrupt ({exc})") from None
            raise
        finally:
            db.close()
            # A read-only connection to a WAL file creates an empty -wal and -shm it cannot
            # remove: remove them, so a refused file is left exactly as it was found.
            # (A -wal with content is another process's, live: then nothing is ours.)
            wal = self.path.with_name(self.path.name + "-wal")
            if wal not in absent or not wal.exists() or wal.stat().st_size == 0:
                for made in absent:
                    made.unlink(missing_ok=True)

    def _sqlite_error(self, exc: sqlite3.Error) -> StateError:
        if _primary_code(exc) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            return StateError(
                f"state file {self.path} is locked by another process "
                "(is another collector using it?)"
            )
        return StateError(f"cannot open state file {self.path}: {exc}")

    def _create(self) -> None:
        """Build a new file under a temporary name and link it into place complete."""
        building = self.path.with_name(self.path.name + ".creating")
        for leftover in (building, *_companions(building)):
            leftover.unlink(missing_ok=True)  # a start killed while building; never history
        orphans = [p.name for p in _companions(self.path) if p.exists()]
        if orphans:
            # A journal without its database (the file was deleted by hand) would be
            # replayed into the new one: keep it, but out of the way.
            aside = _move_aside(self.path, "orphaned", self._clock())
            log.warning(
                "state file %s is missing but not its journal files (%s); moved them aside "
                "as %s-* and started a new history",
                self.path,
                ", ".join(orphans),
                aside,
            )
        db = sqlite3.connect(building, isolation_level=None)
        try:
            with _transaction(db):
                db.execute(_TEAMS)
                db.execute(_MIGRATIONS)
                _create_v4_tables(db)
                db.execute(
                    "INSERT INTO migrations VALUES (?, NULL, ?, ?)",
                    (SCHEMA_VERSION, self._clock(), __version__),
                )
                db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.execute("PRAGMA journal_mode = WAL")
        finally:
            db.close()
        _fsync(building)
        try:
            os.link(building, self.path)
        except FileExistsError:
            pass  # another process got there first: its file is checked like any other
        except OSError:
            os.replace(building, self.path)  # a filesystem without hard links
        building.unlink(missing_ok=True)
        _fsync(self.path.parent)

    def _upgrade(self, db: sqlite3.Connection, version: int) -> None:
        """Bring a file of an older schema to the current one, in one transaction, after
        keeping a copy an older collector can still read."""
        backup = _backup(db, self.path, version, self._clock())
        with _transaction(db):
            # Checked again under the write lock: an upgrade never runs twice.
            if db.execute("PRAGMA user_version").fetchone()[0] != version:
                return
            for step in range(version, SCHEMA_VERSION):
                _UPGRADES[step](db)
            db.execute(
                "INSERT INTO migrations VALUES (?, ?, ?, ?)",
                (SCHEMA_VERSION, version, self._clock(), __version__),
            )
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        log.info(
            "upgraded state file %s from schema version %d to %d; the version %d file is "
            "kept as %s for a rollback to an older collector",
            self.path,
            version,
            SCHEMA_VERSION,
            version,
            backup,
        )

    # --- history -------------------------------------------------------------------

    @property
    def schema_version(self) -> int:
        version: int = self._db.execute("PRAGMA user_version").fetchone()[0]
        return version

    def load(self) -> dict[str, TeamTimes]:
        rows = self._db.execute(
            "SELECT team, first_seen, first_deploy, first_seen_by, first_deploy_by FROM teams"
        )
        return {team: TeamTimes(*times) for team, *times in rows}

    @property
    def history(self) -> dict[str, TeamTimes]:
        return dict(self._history)

    def record(
        self,
        first_seen: Mapping[str, float | Evidence],
        first_deploy: Mapping[str, float | Evidence],
    ) -> dict[str, TeamTimes]:
        """Merge new evidence (min-only) and return the whole history.

        Only evidence earlier than what is known is written (or the object behind a
        known time, when the file did not keep it), so a steady state costs no disk
        write. A time is written with its object, in the same row and transaction.
        If the write fails, the evidence stays in memory and pending, is retried on
        the next call, and StateError is raised. When this returns, everything it
        returns is committed.
        """
        for team in first_seen.keys() | first_deploy.keys():
            old = self._history.get(team, TeamTimes(None, None))
            seen = _merge(_evidence(first_seen.get(team)), old.first_seen, old.first_seen_by)
            deploy = _merge(
                _evidence(first_deploy.get(team)), old.first_deploy, old.first_deploy_by
            )
            if seen is not None or deploy is not None:
                merged = TeamTimes(
                    old.first_seen if seen is None else seen.time,
                    old.first_deploy if deploy is None else deploy.time,
                    old.first_seen_by if seen is None else seen.by,
                    old.first_deploy_by if deploy is None else deploy.by,
                )
                self._history[team] = merged
                self._pending[team] = merged
        if self._pending:
            now = self._clock()
            rows = [
                (t, v.first_seen, v.first_deploy, now, v.first_seen_by, v.first_deploy_by)
                for t, v in sorted(self._pending.items())
            ]
            try:
                with _transaction(self._db):
                    self._db.executemany(_UPSERT, rows)
            except sqlite3.Error as exc:
                raise StateError(f"cannot write state file {self.path}: {exc}") from None
            self._pending.clear()
        return dict(self._history)

    # --- daily history ---------------------------------------------------------------

    def days(self) -> list[DayRow]:
        """Every day recorded, oldest first."""
        return sorted(self._days.values())

    def record_day(self, row: DayRow) -> None:
        """Keep `row` as its day's figures. Written only when they differ from what the day
        has (a steady state writes nothing); a later poll of the same day replaces its row.
        On failure the row stays pending, is retried on the next call, and StateError is
        raised."""
        old = self._days.get(row.day)
        if old is None or old[1:7] != row[1:7]:
            self._days[row.day] = row
            self._pending_days[row.day] = row
        if not self._pending_days:
            return
        try:
            with _transaction(self._db):
                self._db.executemany(
                    "INSERT OR REPLACE INTO days VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    sorted(self._pending_days.values()),
                )
        except sqlite3.Error as exc:
            raise StateError(f"cannot write state file {self.path}: {exc}") from None
        self._pending_days.clear()

    # --- deploys ------------------------------------------------------------------------

    def _load_deploys(self) -> None:
        self._generations: dict[str, dict[str, int]] = {}
        for cluster, uid, generation in self._db.execute(
            "SELECT cluster, uid, generation FROM generations"
        ):
            self._generations.setdefault(cluster, {})[uid] = generation
        self._baselines: dict[str, float] = dict(
            self._db.execute("SELECT cluster, started FROM baselines").fetchall()
        )
        self._totals: dict[tuple[str, str, WorkloadPath], int] = {
            (scope, name, WorkloadPath(path)): total
            for scope, name, path, total in self._db.execute(
                "SELECT scope, name, path, total FROM deploys"
            )
            if path in WorkloadPath.__members__.values()
        }

    def known(self, cluster: str) -> Known:
        """The generations the cluster's last good poll left, for the next poll to count
        against. The mapping is the store's own: read it, never change it; it changes only
        through `advance()`, which the next poll of the same cluster follows."""
        return Known(self._baselines.get(cluster), self._generations.get(cluster, {}))

    def advance(self, delta: Delta) -> None:
        """Take a good poll's generations and cluster deploy counts, in memory at once (the
        next poll of the cluster counts from them); written by the next `record_deploys()`."""
        cluster = delta.cluster
        generations = self._generations.setdefault(cluster, {})
        pending = self._pending_generations
        for uid, generation in delta.changed.items():
            generations[uid] = generation
            pending[cluster, uid] = generation
        for uid in delta.gone:
            generations.pop(uid, None)
            pending[cluster, uid] = None
        if delta.baseline is not None:
            self._baselines[cluster] = delta.baseline
            self._pending_baselines[cluster] = delta.baseline
        self._add_totals("cluster", ((cluster, path, n) for path, n in delta.path.items()))

    def _add_totals(self, scope: str, counts: Iterable[tuple[str, WorkloadPath, int]]) -> None:
        for name, path, n in counts:
            if n:
                key = (scope, name, path)
                self._totals[key] = self._totals.get(key, 0) + n
                self._pending_totals.add(key)

    def record_deploys(self, team: Mapping[tuple[str, WorkloadPath], int]) -> None:
        """Add deploys by (team label, path), then write everything `advance()` took since
        the last write, in one transaction. Nothing to write, nothing written. On failure
        it all stays pending, is retried on the next call, and StateError is raised."""
        self._add_totals("team", ((name, path, n) for (name, path), n in team.items()))
        if not (self._pending_generations or self._pending_baselines or self._pending_totals):
            return
        generations = self._pending_generations
        upserts = [(c, u, g) for (c, u), g in generations.items() if g is not None]
        deletes = [(c, u) for (c, u), g in generations.items() if g is None]
        totals = [(*key[:2], key[2].value, self._totals[key]) for key in self._pending_totals]
        try:
            with _transaction(self._db):
                self._db.executemany(
                    "INSERT INTO generations VALUES (?, ?, ?) ON CONFLICT (cluster, uid) "
                    "DO UPDATE SET generation = excluded.generation",
                    upserts,
                )
                self._db.executemany(
                    "DELETE FROM generations WHERE cluster = ? AND uid = ?", deletes
                )
                self._db.executemany(
                    "INSERT OR REPLACE INTO baselines VALUES (?, ?)",
                    self._pending_baselines.items(),
                )
                self._db.executemany("INSERT OR REPLACE INTO deploys VALUES (?, ?, ?, ?)", totals)
        except sqlite3.Error as exc:
            raise StateError(f"cannot write state file {self.path}: {exc}") from None
        generations.clear()
        self._pending_baselines.clear()
        self._pending_totals.clear()

    def deploys(self, scope: str) -> dict[tuple[str, WorkloadPath], int]:
        """Deploys counted so far by (name, path); `scope` is "team" or "cluster"."""
        return {(name, path): n for (s, name, path), n in self._totals.items() if s == scope}

    def close(self) -> None:
        self._db.close()


def _upgrade_1_to_2(db: sqlite3.Connection) -> None:
    db.execute("ALTER TABLE teams ADD COLUMN updated_at REAL")
    db.execute(_MIGRATIONS)


def _upgrade_2_to_3(db: sqlite3.Connection) -> None:
    # NULL objects: the times were set before the objects were kept.
    db.execute("ALTER TABLE teams ADD COLUMN first_seen_by TEXT")
    db.execute("ALTER TABLE teams ADD COLUMN first_deploy_by TEXT")


def _create_v4_tables(db: sqlite3.Connection) -> None:
    for table in (_GENERATIONS, _BASELINES, _DEPLOYS, _DAYS):
        db.execute(table)


# Step n brings a file from version n to n + 1, inside the upgrade's one transaction. From
# version 3, no generation is known: each cluster's next poll is its baseline.
_UPGRADES: dict[int, Callable[[sqlite3.Connection], None]] = {
    1: _upgrade_1_to_2,
    2: _upgrade_2_to_3,
    3: _create_v4_tables,
}


@contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    # IMMEDIATE takes the write lock up front, so a busy file fails here, not mid-way.
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _primary_code(exc: sqlite3.Error) -> int:
    return (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF


def _check_header(path: Path) -> None:
    with path.open("rb") as f:
        header = f.read(len(_SQLITE_MAGIC))
    if not header:
        raise _Unreadable("it is empty (0 bytes)")
    if header != _SQLITE_MAGIC:
        raise _Unreadable("it is not an SQLite database")


def _tables(db: sqlite3.Connection) -> dict[str, tuple[str, ...]]:
    names = db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    ).fetchall()
    return {
        name: tuple(row[1] for row in db.execute("SELECT * FROM pragma_table_info(?)", (name,)))
        for (name,) in names
    }


def _companions(path: Path) -> list[Path]:
    return [path.with_name(path.name + suffix) for suffix in COMPANIONS]


def _free_name(path: Path, tag: str) -> Path:
    """`<name>.<tag>`, numbered if that name (or one of its journals) is taken: never overwrite."""
    candidate, n = path.with_name(f"{path.name}.{tag}"), 1
    while any(p.exists() for p in (candidate, *_companions(candidate))):
        n += 1
        candidate = path.with_name(f"{path.name}.{tag}.{n}")
    return candidate


def _stamp(when: float) -> str:
    return dt.datetime.fromtimestamp(when, dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def _move_aside(path: Path, label: str, when: float) -> Path:
    """Rename the file and its journals to `<name>.<label>-<UTC time>`; returns the new name."""
    target = _free_name(path, f"{label}-{_stamp(when)}")
    # Journals first: a crash in between leaves the database where it was, not a journal
    # that the next start would replay into a new file.
    for source, moved in zip(_companions(path), _companions(target), strict=True):
        if source.exists():
            os.rename(source, moved)
    if path.exists():
        os.rename(path, target)
    _fsync(path.parent)
    return target


def _backup(db: sqlite3.Connection, path: Path, version: int, when: float) -> Path:
    """A consistent copy of the file as it is, as `<name>.schema-v<version>-<UTC time>`."""
    partial = path.with_name(path.name + ".backup-partial")
    for leftover in (partial, *_companions(partial)):
        leftover.unlink(missing_ok=True)  # a start killed while copying
    db.execute("VACUUM INTO ?", (str(partial),))
    _fsync(partial)
    target = _free_name(path, f"schema-v{version}-{_stamp(when)}")
    os.rename(partial, target)
    _fsync(path.parent)
    return target


def _fsync(path: Path) -> None:
    """Flush a file, or a directory's entries (a rename or link is durable only then)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:
        # Some filesystems cannot flush a directory; a file they can, and must.
        if not path.is_dir():
            raise
    finally:
        os.close(fd)

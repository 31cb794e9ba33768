"""A state file the collector cannot read, at start, through the command line.

`fail` (the default): exit 2, one message naming the file, what is wrong and the way out,
and the file exactly as it was. `keep_aside`: the file (with its journals) renamed next to
itself, a WARNING naming both paths, and a new history. A newer schema is always refused.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from collector.cli import main
from collector.simulator.kube import KubeSimulator
from collector.state import StateStore, TeamTimes
from tests.cluster import TOKEN, seed_small, write_config

# A real state file cut short, as a full disk or a bad copy leaves it.
CORRUPT = "it is corrupt (database disk image is malformed)"
FOREIGN = (
    "it is an SQLite database of another application "
    "(application_id 0x00000000, ours is 0x41444f50)"
)
WAY_OUT = (
    ". Restore it from a backup, or set state.on_unreadable: keep_aside to move it aside "
    "and start a new history\n"
)
# The history `seed_small` gives, in the new file after keep_aside.
NEW_HISTORY = {
    "billing": TeamTimes(1769904000.0, None, "namespace:prod-eu/bill"),
    "payments": TeamTimes(
        1773100800.0, 1775001600.0, "namespace:prod-eu/pay", "workload:prod-eu/pay/Deployment/api"
    ),
    "search": TeamTimes(1780272000.0, None, "namespace:prod-eu/search"),
}


def real_state(path: Path) -> bytes:
    store = StateStore(path)
    store.record({f"team-{i:04}": float(i) for i in range(500)}, {})
    store.close()
    return path.read_bytes()


def truncated(path: Path) -> None:
    path.write_bytes(real_state(path)[:8192])


def foreign(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE mine (x)")
    db.execute("INSERT INTO mine VALUES (42)")
    db.commit()
    db.close()


def foreign_with_wal(path: Path) -> None:
    """Another application's WAL database whose last commit is only in its -wal file."""
    script = (
        "import os, sqlite3, sys\n"
        "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "db.execute('PRAGMA journal_mode = WAL')\n"
        "db.execute('PRAGMA wal_autocheckpoint = 0')\n"
        "db.execute('CREATE TABLE mine (x)')\n"
        "db.execute('INSERT INTO mine VALUES (42)')\n"
        "os._exit(0)\n"  # no checkpoint on close: the row stays in the -wal
    )
    subprocess.run([sys.executable, "-c", script, str(path)], check=True)
    assert path.with_name(path.name + "-wal").stat().st_size > 0


def ours_at_version_0(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE teams (team TEXT PRIMARY KEY)")
    db.execute(f"PRAGMA application_id = {0x41444F50}")
    db.commit()
    db.close()


UNREADABLE: dict[str, tuple[Callable[[Path], object], str]] = {
    "not-sqlite": (lambda p: p.write_bytes(b"garbage" * 1000), "it is not an SQLite database"),
    "empty": (lambda p: p.write_bytes(b""), "it is empty (0 bytes)"),
    "truncated": (truncated, CORRUPT),
    "foreign": (foreign, FOREIGN),
    "foreign-with-wal": (foreign_with_wal, FOREIGN),
    "version-0": (ours_at_version_0, "it has schema version 0, which no release wrote"),
}


@pytest.fixture
def sim() -> Iterator[KubeSimulator]:
    with KubeSimulator(token=TOKEN) as simulator:
        seed_small(simulator)
        yield simulator


def files(directory: Path) -> dict[str, bytes]:
    # -shm is SQLite's shared-memory index, rebuilt by every reader: not content.
    return {p.name: p.read_bytes() for p in directory.iterdir() if not p.name.endswith("-shm")}


def configure(tmp_path: Path, sim: KubeSimulator | None, on_unreadable: str) -> Path:
    (tmp_path / "state").mkdir()
    clusters = {"prod-eu": sim} if sim is not None else {}
    state = {"path": str(tmp_path / "state" / "state.db"), "on_unreadable": on_unreadable}
    return write_config(tmp_path, clusters, state=state)


@pytest.mark.parametrize("case", UNREADABLE)
def test_fail_refuses_to_start_and_leaves_the_file_alone(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_path = configure(tmp_path, None, "fail")
    path = tmp_path / "state" / "state.db"
    make, reason = UNREADABLE[case]
    make(path)
    before = files(path.parent)
    assert main(["once", "--config", str(config_path)]) == 2
    out, err = capsys.readouterr()
    assert (out, err) == (
        "",
        f"error: state file {path} is not a readable adoption-collector state: {reason}" + WAY_OUT,
    )
    assert files(path.parent) == before


@pytest.mark.parametrize("case", UNREADABLE)
def test_keep_aside_renames_the_file_and_starts_a_new_history(
    case: str,
    tmp_path: Path,
    sim: KubeSimulator,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    config_path = configure(tmp_path, sim, "keep_aside")
    path = tmp_path / "state" / "state.db"
    make, reason = UNREADABLE[case]
    make(path)
    before = files(path.parent)
    with caplog.at_level(logging.WARNING, logger="collector.state"):
        assert main(["once", "--config", str(config_path)]) == 0
    assert (
        'adoption_team_first_deploy_timestamp_seconds{team="payments"} 1.7750016e+09'
        in capsys.readouterr().out.splitlines()
    )

    (aside,) = path.parent.glob("state.db.unreadable-*[0-9]Z")
    assert re.fullmatch(r"state\.db\.unreadable-\d{8}T\d{6}Z", aside.name)
    # Every file is still there, byte for byte, the journals renamed along with it.
    after = files(path.parent)
    assert {
        name.replace(aside.name, "state.db"): data
        for name, data in after.items()
        if name.startswith(aside.name)
    } == before
    assert sorted(after.keys() - {n for n in after if n.startswith(aside.name)}) == ["state.db"]
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        (
            "WARNING",
            f"state file {path} is not a readable adoption-collector state: {reason}; "
            f"moved it to {aside} and started a new history",
        )
    ]
    store = StateStore(path)
    assert store.history == NEW_HISTORY
    store.close()
    if case == "foreign-with-wal":
        # Moved as a set: the renamed file still holds the row only its -wal had.
        db = sqlite3.connect(aside)
        assert db.execute("SELECT x FROM mine").fetchall() == [(42,)]
        db.close()


def test_deep_corruption_is_found_at_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A damaged leaf page that opening the file never reads: only the check at start sees it.
    config_path = configure(tmp_path, None, "fail")
    path = tmp_path / "state" / "state.db"
    data = bytearray(real_state(path))
    data[-4096 + 8 :] = bytes(4096 - 8)
    path.write_bytes(data)
    assert main(["once", "--config", str(config_path)]) == 2
    err = capsys.readouterr().err
    assert re.fullmatch(
        re.escape(f"error: state file {path} is not a readable adoption-collector state: ")
        + r"it is corrupt \([^\n]+\)"
        + re.escape(WAY_OUT),
        err,
    ), err
    assert path.read_bytes() == data


@pytest.mark.parametrize("on_unreadable", ["fail", "keep_aside"])
def test_a_newer_schema_always_fails(
    on_unreadable: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_path = configure(tmp_path, None, on_unreadable)
    path = tmp_path / "state" / "state.db"
    real_state(path)
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 5")
    db.close()
    before = files(path.parent)
    assert main(["once", "--config", str(config_path)]) == 2
    assert capsys.readouterr() == (
        "",
        f"error: state file {path} has schema version 5, newer than the version 4 this "
        "collector reads: this collector is older than the file; upgrade the collector. "
        "The file is left as it is, whatever state.on_unreadable says\n",
    )
    assert files(path.parent) == before
    assert sorted(before) == ["state.db"]


def test_the_real_command_line(tmp_path: Path, sim: KubeSimulator) -> None:
    """What an operator sees on stderr, from a real process, both ways."""
    config_path = configure(tmp_path, sim, "fail")
    path = tmp_path / "state" / "state.db"
    path.write_bytes(b"garbage" * 1000)
    command = [sys.executable, "-m", "collector", "once", "--config", str(config_path)]
    failed = subprocess.run(command, check=False, capture_output=True, text=True, timeout=30)
    assert (failed.returncode, failed.stdout, failed.stderr) == (
        2,
        "",
        f"error: state file {path} is not a readable adoption-collector state: "
        "it is not an SQLite database" + WAY_OUT,
    )

    raw = yaml.safe_load(config_path.read_text())
    raw["state"]["on_unreadable"] = "keep_aside"
    config_path.write_text(yaml.safe_dump(raw))
    kept = subprocess.run(command, check=False, capture_output=True, text=True, timeout=30)
    assert kept.returncode == 0, kept.stderr
    (aside,) = path.parent.glob("state.db.unreadable-*")
    assert aside.read_bytes() == b"garbage" * 1000
    warnings = [line for line in kept.stderr.splitlines() if " WARNING " in line]
    assert [line.split(" ", 1)[1] for line in warnings] == [
        f"WARNING collector.state: state file {path} is not a readable adoption-collector "
        f"state: it is not an SQLite database; moved it to {aside} and started a new history"
    ]
    assert TOKEN not in failed.stderr + kept.stderr

"""The collector writes only to its state directory and its temporary directory.

The image runs with a read-only root filesystem, the state volume and an emptyDir on /tmp;
this is the same promise checked on a real process: `once` and then `run` start in a
read-only working directory with a read-only HOME, and every directory they could write to
is compared before and after.

As an ordinary user, the read-only directories bind the collector as in the pod. As root,
it runs as the image's UID when that UID can execute this interpreter: permissions bind it
again, and what it created is recognisable by its owner. Otherwise (root, and an interpreter
private to root) nothing tells the collector's writes from those of other root processes,
so only the directories made for this test are compared; the checkout and the shared
temporary directories are compared whenever the collector's writes can be told apart.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from collector.simulator.github import GitHubSimulator
from collector.simulator.kube import KubeSimulator
from tests.conftest import CANARY

REPO = Path(__file__).resolve().parents[2]
IMAGE_UID = 65532  # deploy/Dockerfile's USER
AS_ROOT = os.geteuid() == 0
TOKEN_ENV = "WRITES_GITHUB_TOKEN"
STATE_FILES = {"state.db", "state.db-wal", "state.db-shm"}
# Any-user-writable places outside the dirs handed to the collector; only their top level
# is compared (other processes of other users keep their own things in there).
SHARED_TMP = tuple(Path(p) for p in ("/tmp", "/var/tmp", "/dev/shm") if Path(p).is_dir())


@functools.cache
def drop_to_image_uid() -> bool:
    """Whether the collector runs as the image's UID: as root, if that UID can run Python."""
    if not AS_ROOT:
        return False
    try:
        subprocess.run(
            [sys.executable, "-c", ""], user=IMAGE_UID, group=IMAGE_UID, check=True, timeout=30
        )
    except (OSError, subprocess.CalledProcessError):
        return False
    return True


@dataclass(frozen=True)
class Dirs:
    base: Path
    cwd: Path  # read-only
    home: Path  # read-only
    config: Path  # read-only: config and kubeconfig
    state: Path  # writable by the collector
    tmp: Path  # writable by the collector: TMPDIR


@pytest.fixture
def dirs() -> Iterator[Dirs]:
    # Not under pytest's tmp_path: as root that is private (0700) to root.
    base = Path(tempfile.mkdtemp(prefix="adoption-writes-"))
    base.chmod(0o755)
    made = Dirs(base, *(base / n for n in ("cwd", "home", "config", "state", "tmp")))
    for path in (made.cwd, made.home, made.config, made.state, made.tmp):
        path.mkdir()
    for path in (made.state, made.tmp):
        path.chmod(0o700)
        if drop_to_image_uid():
            os.chown(path, IMAGE_UID, IMAGE_UID)
    try:
        yield made
    finally:
        for path in (made.cwd, made.home, made.config):
            path.chmod(0o755)
        shutil.rmtree(base)


def freeze(*paths: Path) -> None:
    for path in paths:
        path.chmod(0o555)


Entry = tuple[int, int, int]  # (uid, size, mtime_ns)


def snapshot(dirs: Dirs) -> dict[str, Entry]:
    """Every file and directory the collector could have touched outside its own two."""
    found: dict[str, Entry] = {}

    def note(path: Path) -> None:
        try:
            info = path.lstat()
        except FileNotFoundError:
            return  # gone while walking: someone else's
        found[str(path)] = (info.st_uid, info.st_size, info.st_mtime_ns)

    attributable = not AS_ROOT or drop_to_image_uid()
    for root in (dirs.base, REPO) if attributable else (dirs.base,):
        for top, names, files in os.walk(root):
            if Path(top) in (dirs.state, dirs.tmp):
                names.clear()
                continue
            names[:] = [n for n in names if n != ".git"]
            for name in names + files:
                if Path(top, name) not in (dirs.state, dirs.tmp):
                    note(Path(top, name))
        note(root)
    for shared in SHARED_TMP if attributable else ():
        for path in shared.iterdir():
            note(path)
    return found


def written(before: dict[str, Entry], after: dict[str, Entry]) -> list[str]:
    """Paths created or changed between the snapshots, by the collector as far as can be told."""
    changed = [p for p, entry in after.items() if before.get(p) != entry]
    if drop_to_image_uid():
        # Only what its UID owns: other processes may be editing this checkout meanwhile.
        changed = [p for p in changed if after[p][0] == IMAGE_UID]
    return sorted(changed)


def confined(args: list[str], dirs: Dirs) -> dict[str, object]:
    """Popen keyword arguments for the collector in its confined environment."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(dirs.home),
        "TMPDIR": str(dirs.tmp),
        "PYTHONDONTWRITEBYTECODE": "1",  # as the image: bytecode is compiled at build time
        TOKEN_ENV: CANARY,
    }
    options: dict[str, object] = {"args": args, "cwd": dirs.cwd, "env": env}
    if drop_to_image_uid():
        options.update(user=IMAGE_UID, group=IMAGE_UID, extra_groups=[])
    return options


def write_config(dirs: Dirs, kube: KubeSimulator, org: GitHubSimulator, port: int) -> Path:
    # The API server's CA is embedded (certificate-authority-data), which the client writes to
    # a temporary file: into TMPDIR, then.
    kubeconfig = kube.write_kubeconfig(dirs.config / "kubeconfig", context="prod")
    assert "certificate-authority-data" in kubeconfig.read_text()
    config = {
        "platform": {"launch_date": "2026-03-01"},
        "kubernetes": {
            "clusters": [{"name": "prod", "kubeconfig": str(kubeconfig)}],
            "interval": "1s",
        },
        "github": {"org": "acme", "base_url": org.base_url, "token_env": TOKEN_ENV},
        "golden_paths": [{"name": "chart", "match": {"labels": {"matchLabels": {"g": "y"}}}}],
        "state": {"path": str(dirs.state / "state.db")},
        "server": {"listen": f"127.0.0.1:{port}"},
    }
    path = dirs.config / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    for file in dirs.config.iterdir():
        file.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_once_and_run_write_only_to_the_state_and_temporary_directories(dirs: Dirs) -> None:
    with KubeSimulator(token=CANARY) as kube, GitHubSimulator(org="acme", token=CANARY) as org:
        kube.add_namespace("pay", {"team": "payments"}, "2026-03-10T00:00:00Z")
        kube.add_workload(
            "Deployment", "pay", "api", labels={"g": "y"}, created="2026-04-01T00:00:00Z"
        )
        port = free_port()
        config = write_config(dirs, kube, org, port)
        freeze(dirs.cwd, dirs.home, dirs.config)
        collector = [sys.executable, "-m", "collector"]
        before = snapshot(dirs)

        once = subprocess.run(
            **confined([*collector, "once", "--config", str(config)], dirs),  # type: ignore[call-overload]
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert once.returncode == 0, once.stderr.decode()
        assert b'adoption_team_adopted{team="payments"} 1.0' in once.stdout

        process = subprocess.Popen(
            **confined([*collector, "run", "--config", str(config)], dirs),  # type: ignore[call-overload]
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            end = time.monotonic() + 20
            # A scheduled poll after the first, so the steady state is covered too.
            while sum(1 for r in kube.requests if r.path == "/api/v1/namespaces") < 3:
                assert time.monotonic() < end, "the service did not poll"
                assert process.poll() is None, process.communicate()[1].decode()
                time.sleep(0.05)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                assert b"adoption_collector_up" in r.read()
        finally:
            process.send_signal(signal.SIGTERM)
            _, err = process.communicate(timeout=15)
        assert process.returncode == 0, err.decode()
        after = snapshot(dirs)

    assert written(before, after) == []
    assert {p.name for p in dirs.state.iterdir()} <= STATE_FILES
    assert (dirs.state / "state.db").is_file()
    assert list(dirs.cwd.iterdir()) == []
    assert list(dirs.home.iterdir()) == []


def test_a_stray_write_is_caught(dirs: Dirs) -> None:
    """The check itself: a process writing next to itself is refused or seen."""
    freeze(dirs.cwd, dirs.home, dirs.config)
    before = snapshot(dirs)
    script = "import pathlib; pathlib.Path('stray').write_text('x')"
    done = subprocess.run(
        **confined([sys.executable, "-c", script], dirs),  # type: ignore[call-overload]
        capture_output=True,
        timeout=30,
        check=False,
    )
    if done.returncode != 0:  # the read-only directory bound it, as in the pod
        assert b"PermissionError" in done.stderr
        assert written(before, snapshot(dirs)) == []
    else:
        assert written(before, snapshot(dirs)) == [str(dirs.cwd), str(dirs.cwd / "stray")]

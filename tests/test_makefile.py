"""`make demo` installs what the collector runs with, from the image's hashed lock, never the
development toolchain."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_make_demo_installs_only_the_runtime(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    result = subprocess.run(
        ["make", "--dry-run", "--no-print-directory", "-C", str(ROOT), "demo", f"VENV={venv}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert result.stdout.splitlines() == [
        f"python3 -m venv {venv}",
        f"{venv}/bin/pip install --quiet --upgrade pip",
        f"{venv}/bin/pip install --quiet --require-hashes -r requirements.lock",
        f"{venv}/bin/pip install --quiet --no-deps --no-build-isolation -e .",
        f"touch {venv}/.runtime-installed",
        f"{venv}/bin/adoption-collector demo",
    ]

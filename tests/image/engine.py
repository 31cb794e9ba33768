"""Podman, set up for this machine, and the image built from deploy/Dockerfile on a base made
locally (deploy/image/debian-base.sh), since no registry can be reached here.

Both images are cached in podman's storage: the base under a tag naming a hash of the script
that made it, the collector image by podman's layer cache (and pip's cache mount), so only a
fresh machine pays for the whole build.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BASE_SCRIPT = ROOT / "deploy" / "image" / "debian-base.sh"
CONTAINERS_CONF = ROOT / "deploy" / "image" / "containers.conf"
IMAGE = "localhost/adoption-collector:test"
# The flags the chart's securityContext amounts to: read-only root, UID 65532, no capability.
LOCKED_DOWN = ("--read-only", "--user", "65532", "--cap-drop", "ALL")


@dataclass(frozen=True)
class Podman:
    binary: str
    env: dict[str, str]

    def run(
        self, *args: str, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [self.binary, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} failed:\n{result.stderr}")
        return result

    def image_exists(self, tag: str) -> bool:
        return self.run("image", "exists", tag, check=False).returncode == 0


def podman() -> Podman | None:
    binary = shutil.which("podman")
    if binary is None:
        return None
    return Podman(binary, {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)})


def base_tag() -> str:
    digest = hashlib.sha256(BASE_SCRIPT.read_bytes()).hexdigest()[:12]
    return f"localhost/adoption-collector-base:trixie-{digest}"


def build(engine: Podman) -> str:
    """The collector image, built from deploy/Dockerfile on the local base."""
    base = base_tag()
    if not engine.image_exists(base):
        made = subprocess.run(
            [str(BASE_SCRIPT), base],
            env=engine.env,
            check=False,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert made.returncode == 0, f"{BASE_SCRIPT.name} failed:\n{made.stderr}"
    # `make image`, as a user runs it. The build stage's pip reaches PyPI through this machine's
    # proxy, whose CA only the host's certificate store trusts: the store is lent to the build,
    # read-only.
    made = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "image",
            f"ENGINE={engine.binary}",
            f"IMAGE={IMAGE}",
            f"BASE_IMAGE={base}",
            "BUILD_FLAGS=--quiet --pull=never --volume /etc/ssl/certs:/etc/ssl/certs:ro",
        ],
        cwd=ROOT,
        env=engine.env,
        check=False,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert made.returncode == 0, f"make image failed:\n{made.stdout}{made.stderr}"
    return IMAGE

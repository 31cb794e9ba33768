"""The image the chart deploys, built from deploy/Dockerfile and run by podman the way the chart
runs it: read-only root filesystem, UID 65532, every capability dropped.

Marked `image` (make test-image, which .ci/run calls): the first build on a fresh machine takes
a few minutes.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from collector.simulator.kube import KubeSimulator
from tests.cluster import TOKEN, seed_small, write_config
from tests.image.engine import LOCKED_DOWN, ROOT, Podman, build, podman
from tests.prometheus import query, scraped, scraping
from tests.test_service import free_port

pytestmark = pytest.mark.image

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
STATE_DIR = "/var/lib/adoption-collector"
CONFIG_DIR = "/etc/adoption-collector"


@pytest.fixture(scope="module")
def engine() -> Podman:
    found = podman()
    if found is None:
        pytest.skip("no container engine: podman is not installed (make test-image installs it)")
    return found


@pytest.fixture(scope="module")
def image(engine: Podman) -> str:
    return build(engine)


def run(engine: Podman, image: str, *args: str, flags: tuple[str, ...] = ()) -> str:
    result = engine.run("run", "--rm", *LOCKED_DOWN, *flags, image, *args)
    return result.stdout


def test_image_is_under_200_mb(engine: Podman, image: str) -> None:
    size = int(engine.run("image", "inspect", "--format", "{{.Size}}", image).stdout)
    print(f"image size: {size / 1e6:.1f} MB")
    assert size < 200e6


def test_oci_labels(engine: Podman, image: str) -> None:
    labels = json.loads(
        engine.run("image", "inspect", "--format", "{{json .Labels}}", image).stdout
    )
    oci = {k: v for k, v in labels.items() if k.startswith("org.opencontainers.image.")}
    revision = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert oci == {
        "org.opencontainers.image.title": PROJECT["name"],
        "org.opencontainers.image.description": PROJECT["description"],
        "org.opencontainers.image.source": "https://github.com/adoption-collector/adoption-collector",
        "org.opencontainers.image.version": PROJECT["version"],
        "org.opencontainers.image.licenses": PROJECT["license"],
        "org.opencontainers.image.revision": revision,
    }
    # adoption_collector_build_info's revision label reads this.
    env = json.loads(
        engine.run("image", "inspect", "--format", "{{json .Config.Env}}", image).stdout
    )
    assert [e for e in env if e.startswith("ADOPTION_COLLECTOR_REVISION=")] == [
        f"ADOPTION_COLLECTOR_REVISION={revision}"
    ]


def test_version(engine: Podman, image: str) -> None:
    assert run(engine, image, "--version") == f"adoption-collector {PROJECT['version']}\n"


# The process's own metrics and build info: another interpreter, another process.
_RUNTIME = re.compile(r"(?m)^(# (HELP|TYPE) )?(process_|python_|adoption_collector_build_info).*\n")


def without_clock(exposition: str) -> str:
    """The demo dates its organisation relative to now: times and durations move between two
    runs, every other figure and every series stays. The runtime metrics (process, Python,
    build) describe the process, not the figures, and are left out."""
    figures = _RUNTIME.sub("", exposition)
    return re.sub(r"(?m)^(\w*_seconds\w*(?:\{[^}]*\})?) \S+$", r"\1 <t>", figures)


def test_demo_once_prints_what_the_package_prints(engine: Podman, image: str) -> None:
    # With a tmpfs /tmp, as the chart's emptyDir: the demo keeps its simulated clusters there.
    in_image = run(engine, image, "demo", "--once")
    here = subprocess.run(
        [sys.executable, "-m", "collector", "demo", "--once"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert in_image.startswith("# HELP adoption_")
    assert "\nprocess_resident_memory_bytes " in in_image
    assert without_clock(in_image) == without_clock(here)


def test_no_pip_no_compiler_and_every_module_precompiled(engine: Podman, image: str) -> None:
    probe = r"""
import importlib.util, pathlib, shutil
tools = ["pip", "pip3", "gcc", "cc", "c++", "ld", "as", "strip", "make"]
print("on PATH:", [t for t in tools if shutil.which(t)])
print("pip module:", importlib.util.find_spec("pip") is not None)
print("ensurepip:", importlib.util.find_spec("ensurepip") is not None)
venv = pathlib.Path("/opt/venv/lib")
missing = [str(p) for p in venv.rglob("*.py")
           if not pathlib.Path(importlib.util.cache_from_source(str(p))).exists()]
print("without bytecode:", missing)
"""
    out = run(engine, image, "-c", probe, flags=("--entrypoint", "python3"))
    assert out.splitlines() == [
        "on PATH: []",
        "pip module: False",
        "ensurepip: False",
        "without bytecode: []",
    ]


def test_nothing_is_writable_but_the_state_dir(engine: Podman, image: str, tmp_path: Path) -> None:
    state = state_dir(tmp_path)
    probe = r"""
import os
for d in ["/", "/tmp", "/var/tmp", "/etc", "/opt/venv", "/opt/venv/lib", os.getcwd()]:
    try:
        with open(os.path.join(d, ".probe"), "w") as f:
            f.write("x")
        print(d, "written")
    except OSError as exc:
        print(d, os.strerror(exc.errno))
"""
    out = run(
        engine,
        image,
        "-c",
        probe,
        flags=("--read-only-tmpfs=false", "-v", f"{state}:{STATE_DIR}", "--entrypoint", "python3"),
    )
    assert out.splitlines() == [
        "/ Read-only file system",
        "/tmp Read-only file system",
        "/var/tmp Read-only file system",
        "/etc Read-only file system",
        "/opt/venv Read-only file system",
        "/opt/venv/lib Read-only file system",
        f"{STATE_DIR} written",
    ]
    assert sorted(p.name for p in state.iterdir()) == [".probe"]


def state_dir(tmp_path: Path) -> Path:
    """A host directory for the state volume, owned by the image's user, as fsGroup makes it."""
    state = tmp_path / "state"
    state.mkdir()
    shutil.chown(state, 65532, 65532)
    return state


@pytest.fixture
def simulated_cluster() -> Iterator[KubeSimulator]:
    with KubeSimulator(token=TOKEN) as sim:
        seed_small(sim)
        yield sim


def test_prometheus_scrapes_run_in_the_container(
    engine: Podman, image: str, tmp_path: Path, simulated_cluster: KubeSimulator
) -> None:
    """The image's default command, with the config where the chart mounts it; no /tmp either.

    Host networking: the container polls the simulated API server on the host's loopback and
    Prometheus scrapes the container there."""
    port = free_port()
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    write_config(config_dir, {"prod-eu": simulated_cluster}, "1s")
    config = yaml.safe_load((config_dir / "config.yaml").read_text())
    for cluster in config["kubernetes"]["clusters"]:
        cluster["kubeconfig"] = f"{CONFIG_DIR}/{Path(cluster['kubeconfig']).name}"
    config["state"] = {"path": f"{STATE_DIR}/state.db"}
    config["server"] = {"listen": f"127.0.0.1:{port}"}
    (config_dir / "config.yaml").write_text(yaml.safe_dump(config))
    for path in [config_dir, *config_dir.iterdir()]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    state = state_dir(tmp_path)
    name = f"adoption-collector-test-{port}"
    engine.run(
        "run", "--detach", "--name", name, "--network", "host",
        *LOCKED_DOWN, "--read-only-tmpfs=false",
        "-v", f"{config_dir}:{CONFIG_DIR}:ro", "-v", f"{state}:{STATE_DIR}",
        image,
    )  # fmt: skip
    try:
        with scraping(tmp_path, f"127.0.0.1:{port}") as url:
            (ratio,) = scraped(url, "adoption_voluntary_ratio", deadline=60)
            assert ratio["metric"] == {
                "__name__": "adoption_voluntary_ratio",
                "instance": f"127.0.0.1:{port}",
                "job": "adoption",
            }
            assert ratio["value"][1] == "1"  # type: ignore[index]
            (info,) = query(url, "adoption_collector_build_info")
            assert info["metric"]["version"] == PROJECT["version"]  # type: ignore[index]
    finally:
        logs = engine.run("logs", name, check=False).stderr
        engine.run("stop", "--time", "20", name, check=False)
    # Nothing changed in the container's own filesystem but what podman itself changes in any
    # container (/etc/hosts, /etc/resolv.conf), not even a mount point (the image has the
    # config dir the chart mounts); the state is in the volume.
    changed = engine.run("diff", name).stdout.split()
    exit_code = engine.run("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip()
    engine.run("rm", name)
    engine.run(
        "run", "--name", f"{name}-idle", "--network", "host", *LOCKED_DOWN, image, "--version"
    )
    idle = engine.run("diff", f"{name}-idle").stdout.split()
    engine.run("rm", f"{name}-idle")
    assert changed == idle
    assert exit_code == "0", logs
    assert sorted(p.name for p in state.iterdir()) == ["state.db"]

"""The canary through the commands an operator runs: `check-config` on a config or web config
holding it where it does not belong, and `once`/`run` as real processes at --log-level debug
against simulators that fail in every way that could make them repeat a credential."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from collector.cli import main
from collector.simulator.github import GitHubSimulator, iso
from collector.simulator.kube import KubeSimulator
from tests.conftest import CANARY

ECHO = f"invalid header: Authorization: Bearer {CANARY}"
TOKEN_ENV = "CANARY_CLI_GITHUB_TOKEN"
DAY = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
LAUNCH = {"platform": {"launch_date": "2026-03-01"}}


def kube_status(code: int) -> bytes:
    return json.dumps({"kind": "Status", "message": ECHO, "code": code}).encode()


def check_config(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["check-config", str(path)])
    out, err = capsys.readouterr()
    return code, out + err


def write_yaml(path: Path, raw: object) -> Path:
    path.write_text(yaml.safe_dump(raw))
    return path


# --- check-config --------------------------------------------------------------------------

# A token pasted where it does not belong: check-config names the key and what it wants there,
# never the value, so its output can go into a ticket or a CI log.
MISPLACED: dict[str, dict[str, Any]] = {
    "as a key of its own": {"github": {"org": "acme", "token_env": "GH", "token": CANARY}},
    "as a duration": {"kubernetes": {"interval": CANARY}},
    "as a date": {"platform": {"launch_date": CANARY}},
    "as the listen address": {"server": {"listen": CANARY}},
    "as the GitHub App": {"github": {"org": "acme", "app": CANARY}},
    "as a page size": {"kubernetes": {"page_size": CANARY}},
    "as a cluster": {"kubernetes": {"clusters": [CANARY]}},
    "as a kind": {"kubernetes": {"kinds": [CANARY]}},
    "as the state policy": {"state": {"on_unreadable": CANARY}},
}


@pytest.mark.parametrize("section", MISPLACED.values(), ids=MISPLACED.keys())
def test_check_config_names_the_key_never_the_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], section: dict[str, Any]
) -> None:
    raw = {**LAUNCH, **section} if "platform" not in section else section
    code, output = check_config(write_yaml(tmp_path / "config.yaml", raw), capsys)
    assert code == 2
    assert "invalid configuration" in output
    assert CANARY not in output


def test_check_config_never_echoes_a_plaintext_password_in_the_web_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The classic mistake: the password itself where its bcrypt hash belongs.
    web = write_yaml(tmp_path / "web.yaml", {"basic_auth_users": {"prometheus": CANARY}})
    raw = {**LAUNCH, "server": {"web_config_file": str(web)}}
    code, output = check_config(write_yaml(tmp_path / "config.yaml", raw), capsys)
    assert code == 2
    assert "basic_auth_users.prometheus: must be a bcrypt hash" in output
    assert CANARY not in output


@pytest.mark.parametrize(
    "which",
    [
        "config",
        "web config",
    ],
)
def test_check_config_never_quotes_the_line_of_a_yaml_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], which: str
) -> None:
    broken = f'platform:\n  launch_date: "2026-03-01"\nx: "{CANARY}\n'
    if which == "config":
        path = tmp_path / "config.yaml"
        path.write_text(broken)
    else:
        web = tmp_path / "web.yaml"
        web.write_text(f'basic_auth_users:\n  prometheus: "{CANARY}\n')
        raw = {**LAUNCH, "server": {"web_config_file": str(web)}}
        path = write_yaml(tmp_path / "config.yaml", raw)
    code, output = check_config(path, capsys)
    assert code == 2
    assert "not valid YAML" in output
    assert CANARY not in output


# --- once and run, as processes --------------------------------------------------------------


def seed(kube: KubeSimulator, org: GitHubSimulator) -> None:
    kube.add_namespace("pay", {"team": "payments"}, "2026-03-10T00:00:00Z")
    kube.add_workload("Deployment", "pay", "api", created="2026-04-01T00:00:00Z")
    org.add_repo("svc", created=DAY, pushed=DAY)


def config_for(
    tmp_path: Path,
    clusters: dict[str, KubeSimulator],
    org: GitHubSimulator,
    credential: dict[str, Any] | None = None,
    **extra: Any,
) -> Path:
    entries = []
    for name, sim in clusters.items():
        kubeconfig = sim.write_kubeconfig(tmp_path / f"{name}.kubeconfig", context=name)
        entries.append({"name": name, "kubeconfig": str(kubeconfig)})
    github = {"org": "acme", "base_url": org.base_url, **(credential or {"token_env": TOKEN_ENV})}
    raw = {
        **LAUNCH,
        "kubernetes": {"clusters": entries, "timeout": "2s", "page_size": 1, **extra},
        "github": github,
        "golden_paths": [{"name": "chart", "match": {"labels": {"matchLabels": {"g": "y"}}}}],
        "state": {"path": str(tmp_path / "state" / "state.db")},
        "server": {"listen": "127.0.0.1:0"},
    }
    return write_yaml(tmp_path / "config.yaml", raw)


def collector(*args: str) -> list[str]:
    return [sys.executable, "-m", "collector", "--log-level", "debug", *args]


ENV = {**os.environ, TOKEN_ENV: CANARY}


@pytest.fixture
def failing(tmp_path: Path) -> Iterator[Path]:
    """A config of three clusters (one echoing the token in its errors, one rejecting it,
    one gone) and an organisation that echoes it too."""
    with ExitStack() as stack:
        echoing = stack.enter_context(KubeSimulator(token=CANARY))
        rejecting = stack.enter_context(KubeSimulator(token=CANARY))
        gone = stack.enter_context(KubeSimulator(token=CANARY))
        org = stack.enter_context(GitHubSimulator(org="acme", token=CANARY))
        seed(echoing, org)
        path = config_for(tmp_path, {"echo": echoing, "reject": rejecting, "gone": gone}, org)
        echoing.add_fault("/apis/apps/", 403, body=kube_status(403), times=None)
        echoing.add_fault("/apis/batch/", 500, body=ECHO.encode(), times=None)
        rejecting.token = "rotated-elsewhere"
        gone.stop()
        org.add_fault("/orgs/", 403, body={"message": ECHO}, times=None)
        yield path


def test_once_against_failing_sources_never_prints_the_token(failing: Path) -> None:
    done = subprocess.run(
        collector("once", "--config", str(failing)),
        env=ENV,
        capture_output=True,
        timeout=60,
        check=False,
    )
    stdout, stderr = done.stdout.decode(), done.stderr.decode()
    assert done.returncode == 1, stderr
    for cluster in ("echo", "reject", "gone"):
        assert f"poll of kubernetes cluster {cluster} failed" in stderr
    assert "poll of github failed" in stderr
    assert "adoption_collector_up" in stdout
    assert CANARY not in stdout, stdout
    assert CANARY not in stderr, stderr.replace(CANARY, "<CANARY>")


def test_run_against_failing_sources_never_logs_or_serves_the_token(
    failing: Path, tmp_path: Path
) -> None:
    config_path = tmp_path / "config.yaml"
    raw = yaml.safe_load(config_path.read_text())
    with KubeSimulator(token=CANARY) as healthy:
        healthy.add_namespace("ok", {"team": "ok"}, "2026-03-10T00:00:00Z")
        kubeconfig = healthy.write_kubeconfig(tmp_path / "healthy.kubeconfig", context="ok")
        raw["kubernetes"]["clusters"].append({"name": "healthy", "kubeconfig": str(kubeconfig)})
        raw["kubernetes"]["interval"] = "1s"
        raw["github"]["interval"] = "1s"
        raw["server"]["listen"] = f"127.0.0.1:{free_port()}"
        config_path.write_text(yaml.safe_dump(raw))
        process = subprocess.Popen(
            collector("run", "--config", str(config_path)),
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            url = f"http://{raw['server']['listen']}"
            # The first poll is done and a scheduled one has begun.
            wait_until(lambda: [r.path for r in healthy.requests].count("/api/v1/namespaces") > 1)
            with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
                metrics = response.read().decode()
        finally:
            process.send_signal(signal.SIGTERM)
            _, err = process.communicate(timeout=15)
    stderr = err.decode()
    assert process.returncode == 0, stderr
    assert 'adoption_collector_up{kube_cluster="healthy",source="kubernetes"} 1.0' in metrics
    assert "poll of kubernetes cluster echo failed" in stderr
    assert CANARY not in metrics
    assert CANARY not in stderr, stderr.replace(CANARY, "<CANARY>")


def test_once_with_a_github_app_never_logs_the_installation_token(tmp_path: Path) -> None:
    """The token exchange answers with the installation token in its body; at --log-level
    debug nothing may print it."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = tmp_path / "app.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    app = {"app_id": 123, "installation_id": 456, "private_key_file": str(key_file)}
    with (
        KubeSimulator(token=CANARY) as kube,
        GitHubSimulator(org="acme", token=CANARY, app=(123, 456, public.decode())) as org,
    ):
        seed(kube, org)
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        # The exchange hands out the canary, which this simulator also accepts as a token.
        exchange = {"token": CANARY, "expires_at": iso(expires), "permissions": {}}
        org.add_fault("/access_tokens$", 201, body=exchange, method="POST")
        path = config_for(tmp_path, {"prod": kube}, org, {"app": app})
        done = subprocess.run(
            collector("once", "--config", str(path)),
            env=ENV,
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert [r.status for r in org.requests] == [201, 200, 200]
    stdout, stderr = done.stdout.decode(), done.stderr.decode()
    assert done.returncode == 0, stderr
    assert CANARY not in stdout
    assert CANARY not in stderr, stderr.replace(CANARY, "<CANARY>")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(condition: Any, deadline: float = 20.0) -> None:
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)

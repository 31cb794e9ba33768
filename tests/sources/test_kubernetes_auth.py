"""How the Kubernetes source reaches a real cluster: TLS, client certificates, exec credential
plugins, the in-cluster service-account token, throttling and kept-alive connections, each
through the source's real code path against the simulated API server over HTTPS."""

from __future__ import annotations

import base64
import itertools
import logging
import os
import signal
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from collector import config
from collector.simulator.kube import KubeSimulator
from collector.simulator.tls import CertificateAuthority, shared_ca
from collector.sources.kubernetes import KubernetesSource, PollError
from tests.cluster import seed_small
from tests.conftest import CANARY

KINDS = ("Deployment", "CronJob")


def source(cluster: config.Cluster, **options: float) -> KubernetesSource:
    settings: dict[str, float] = {"timeout": 5.0, "poll_timeout": 10.0, **options}
    return KubernetesSource(cluster, kinds=KINDS, annotation_keys=frozenset(), **settings)


def from_kubeconfig(path: Path, **options: float) -> KubernetesSource:
    return source(config.Cluster(name="sim", kubeconfig=str(path), context="sim"), **options)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("collector") and r.levelno >= logging.WARNING
    ]


@pytest.fixture
def foreign_sim() -> Iterator[KubeSimulator]:
    """An API server whose certificate comes from a CA nobody was told about."""
    with KubeSimulator(token=CANARY, ca=CertificateAuthority("someone-elses-ca")) as sim:
        seed_small(sim)
        yield sim


# --- TLS ---------------------------------------------------------------------------------


def test_a_certificate_from_an_unknown_ca_fails_the_poll(
    foreign_sim: KubeSimulator, tmp_path: Path
) -> None:
    # The kubeconfig trusts this run's CA, not the one that signed the server's certificate.
    kubeconfig = foreign_sim.write_kubeconfig(
        tmp_path / "kubeconfig", cluster={"certificate-authority-data": b64(shared_ca().cert_pem)}
    )
    # And one that names no CA at all: the system's CAs do not know it either.
    bare = foreign_sim.write_kubeconfig(
        tmp_path / "bare", cluster={"certificate-authority-data": None}
    )
    for path in (kubeconfig, bare):
        with pytest.raises(PollError) as raised:
            from_kubeconfig(path).poll()
        message = str(raised.value)
        assert "\n" not in message
        assert message.startswith(
            "cluster sim: list namespaces: cannot reach the API server: "
            "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
        ), message
    # Never a request sent without verification: the server saw no request at all.
    assert foreign_sim.requests == []


def test_insecure_skip_tls_verify_is_honoured_and_warned_about_once(
    foreign_sim: KubeSimulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    kubeconfig = foreign_sim.write_kubeconfig(
        tmp_path / "kubeconfig",
        cluster={"certificate-authority-data": None, "insecure-skip-tls-verify": True},
    )
    polling = from_kubeconfig(kubeconfig)
    try:
        first, second = polling.poll(), polling.poll()
    finally:
        polling.close()
    assert [w.name for w in first.workloads] == [w.name for w in second.workloads]
    assert len(first.workloads) == 4
    assert warnings(caplog) == [
        f"cluster sim: insecure-skip-tls-verify is set in {kubeconfig}: the API server's "
        "certificate is not checked, so anyone on the network path can pose as it"
    ]


# --- client certificates -----------------------------------------------------------------


def test_client_certificates_inline_and_from_files(tmp_path: Path) -> None:
    # The static token is not handed out: only the certificate can authenticate.
    with KubeSimulator(token=CANARY) as sim:
        seed_small(sim)
        alice = shared_ca().issue_client("alice", ("platform-readers",))
        inline = sim.write_kubeconfig(
            tmp_path / "inline",
            user={
                "client-certificate-data": b64(alice.cert_pem),
                "client-key-data": b64(alice.key_pem),
            },
        )
        (tmp_path / "certs").mkdir()
        (tmp_path / "certs" / "alice.crt").write_bytes(alice.cert_pem)
        (tmp_path / "certs" / "alice.key").write_bytes(alice.key_pem)
        # Relative paths are relative to the kubeconfig, as kubectl reads them.
        files = sim.write_kubeconfig(
            tmp_path / "files",
            user={"client-certificate": "certs/alice.crt", "client-key": "certs/alice.key"},
        )
        for path in (inline, files):
            sim.clear_requests()
            observation = from_kubeconfig(path).poll()
            assert len(observation.workloads) == 4
            assert {r.user for r in sim.requests} == {"alice"}

        # A certificate the cluster's CA did not sign ends the handshake: nothing is listed.
        mallory = CertificateAuthority("not-the-cluster-ca").issue_client("mallory")
        forged = sim.write_kubeconfig(
            tmp_path / "forged",
            user={
                "client-certificate-data": b64(mallory.cert_pem),
                "client-key-data": b64(mallory.key_pem),
            },
        )
        sim.clear_requests()
        with pytest.raises(PollError) as raised:
            from_kubeconfig(forged).poll()
        assert str(raised.value).startswith(
            "cluster sim: list namespaces: cannot reach the API server: "
        )
        assert "\n" not in str(raised.value)
        assert sim.requests == []


# --- exec credential plugins ---------------------------------------------------------------

PLUGIN = """\
#!{python}
# A credential plugin as client-go runs them: reads KUBERNETES_EXEC_INFO, prints an
# ExecCredential whose token expires TTL seconds from now, notes each call in CALLS.
import datetime, json, os, sys, time

info = json.loads(os.environ["KUBERNETES_EXEC_INFO"])
assert info["kind"] == "ExecCredential" and info["spec"]["interactive"] is False
with open(os.environ["CALLS"], "a") as calls:
    calls.write(f"{{time.time()}}\\n")
if os.environ.get("SLEEP"):
    time.sleep(float(os.environ["SLEEP"]))
if os.environ.get("FAIL"):
    print("could not get token: AccessDenied: the role cannot be assumed", file=sys.stderr)
    sys.exit(1)
expires = time.time() + float(os.environ["TTL"])
print(json.dumps({{
    "apiVersion": info["apiVersion"],
    "kind": "ExecCredential",
    "status": {{
        "token": f"{{os.environ['PREFIX']}}:{{expires}}",
        "expirationTimestamp": datetime.datetime.fromtimestamp(expires, datetime.UTC)
            .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }},
}}))
"""

EXEC_USER = "arn:aws:iam::111122223333:role/adoption-collector"


def expiring_tokens(token: str) -> str | None:
    """As a webhook token authenticator: a plugin token is good until it expires."""
    prefix, _, expires = token.rpartition(":")
    try:
        good = prefix == f"{CANARY}.exec" and time.time() < float(expires)
    except ValueError:
        good = False
    return EXEC_USER if good else None


@pytest.fixture
def exec_sim() -> Iterator[KubeSimulator]:
    with KubeSimulator(token=None, authenticate_token=expiring_tokens) as sim:
        seed_small(sim)
        yield sim


def plugin_kubeconfig(
    sim: KubeSimulator, tmp_path: Path, command: str = "./bin/get-token", **env: str
) -> Path:
    script = tmp_path / "bin" / "get-token"
    script.parent.mkdir(exist_ok=True)
    script.write_text(PLUGIN.format(python=sys.executable))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    settings = {"CALLS": str(tmp_path / "calls"), "PREFIX": f"{CANARY}.exec", "TTL": "3", **env}
    return sim.write_kubeconfig(
        tmp_path / "kubeconfig",
        user={
            "exec": {
                "apiVersion": "client.authentication.k8s.io/v1",
                "command": command,
                "args": ["--cluster", "sim"],
                "env": [{"name": k, "value": v} for k, v in settings.items()],
                "interactiveMode": "Never",
            }
        },
    )


def plugin_calls(tmp_path: Path) -> list[float]:
    calls = tmp_path / "calls"
    return [float(t) for t in calls.read_text().split()] if calls.exists() else []


def test_an_exec_plugin_is_called_again_only_when_its_token_expires(
    exec_sim: KubeSimulator, tmp_path: Path
) -> None:
    """`run`, polling every second, across several expiries of a 3 s token: every poll
    succeeds, and the plugin runs once per token, not once per poll or per request."""
    kubeconfig = plugin_kubeconfig(exec_sim, tmp_path, TTL="3")
    settings = {
        "platform": {"launch_date": "2026-03-01"},
        "kubernetes": {
            "clusters": [{"name": "sim", "kubeconfig": str(kubeconfig), "context": "sim"}],
            "interval": "1s",
            "timeout": "5s",
        },
        "state": {"path": str(tmp_path / "state.db")},
        "server": {"listen": "127.0.0.1:0"},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(settings))
    process = subprocess.Popen(
        [sys.executable, "-m", "collector", "run", "--config", str(tmp_path / "config.yaml")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        end = time.monotonic() + 20
        while not plugin_calls(tmp_path) and time.monotonic() < end:
            time.sleep(0.05)
        assert plugin_calls(tmp_path), "the collector never ran the plugin"
        time.sleep(7.0)
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    stderr = process.stderr.read().decode() if process.stderr else ""
    polls = [r for r in exec_sim.requests if r.path == "/api/v1/namespaces"]
    calls = plugin_calls(tmp_path)
    assert len(polls) >= 6, stderr
    assert len(calls) == 3, stderr  # at 0 s, ~2.7 s, ~5.4 s: renewed a tenth of its life early
    assert all(later - earlier >= 2.5 for earlier, later in itertools.pairwise(calls))
    assert {r.user for r in exec_sim.requests} == {EXEC_USER}  # never refused
    assert "failed" not in stderr
    assert CANARY not in stderr


def test_a_refused_plugin_token_is_renewed_once(exec_sim: KubeSimulator, tmp_path: Path) -> None:
    # The server stops taking the token long before it says it expires (revoked, say).
    polling = from_kubeconfig(plugin_kubeconfig(exec_sim, tmp_path, TTL="600"))
    try:
        polling.poll()
        exec_sim.authenticate_token = lambda token: (
            EXEC_USER if float(token.rpartition(":")[2]) > time.time() + 600 - 0.5 else None
        )
        time.sleep(1.0)
        polling.poll()
    finally:
        polling.close()
    assert len(plugin_calls(tmp_path)) == 2
    assert [r.user for r in exec_sim.requests].count(None) == 1


def test_a_failing_or_missing_plugin_is_one_line_naming_it(
    exec_sim: KubeSimulator, tmp_path: Path
) -> None:
    with pytest.raises(PollError) as raised:
        from_kubeconfig(plugin_kubeconfig(exec_sim, tmp_path, FAIL="1")).poll()
    assert str(raised.value) == (
        "cluster sim: credential plugin ./bin/get-token failed with exit status 1: "
        "could not get token: AccessDenied: the role cannot be assumed"
    )
    missing = plugin_kubeconfig(exec_sim, tmp_path, command="aws-iam-authenticator-not-here")
    with pytest.raises(PollError) as raised:
        from_kubeconfig(missing).poll()
    assert str(raised.value) == (
        "cluster sim: credential plugin aws-iam-authenticator-not-here not found: it must be "
        "installed where the collector runs (on PATH, or named by an absolute path in the "
        "kubeconfig)"
    )
    assert exec_sim.requests == []  # no request goes out without its credential


def test_a_slow_plugin_is_bounded_by_the_poll_timeout(
    exec_sim: KubeSimulator, tmp_path: Path
) -> None:
    polling = from_kubeconfig(
        plugin_kubeconfig(exec_sim, tmp_path, SLEEP="30"), timeout=0.5, poll_timeout=1.0
    )
    started = time.monotonic()
    with pytest.raises(PollError) as raised:
        polling.poll()
    assert time.monotonic() - started < 2.0
    assert str(raised.value) == (
        "cluster sim: credential plugin ./bin/get-token did not answer in time: "
        "the poll took longer than kubernetes.poll_timeout (1s)"
    )


# --- in the cluster --------------------------------------------------------------------------


def test_in_cluster_token_rotation(
    kube_sim: KubeSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kubelet replaces the projected token file; the API server then refuses the old
    token. The collector reads the file again and carries on."""
    seed_small(kube_sim)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(kube_sim.port))
    mount = tmp_path / "serviceaccount"
    mount.mkdir()
    assert kube_sim.ca is not None
    (mount / "ca.crt").write_bytes(kube_sim.ca.cert_pem)

    def project(token: str) -> None:  # as the kubelet does: a new file swapped in
        (mount / "token.new").write_text(token)
        os.replace(mount / "token.new", mount / "token")

    project(CANARY)
    cluster = config.Cluster(
        name="here",
        in_cluster=True,
        token_file=str(mount / "token"),
        ca_file=str(mount / "ca.crt"),
    )
    polling = source(cluster)
    try:
        assert len(polling.poll().workloads) == 4
        rotated = f"{CANARY}-rotated"
        project(rotated)
        kube_sim.token = rotated
        kube_sim.clear_requests()
        assert len(polling.poll().workloads) == 4
        assert None not in {r.user for r in kube_sim.requests}
        # The old token is refused from now on.
        request = urllib.request.Request(
            f"{kube_sim.url}/api/v1/namespaces", headers={"Authorization": f"Bearer {CANARY}"}
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5, context=kube_sim.client_context())
        assert refused.value.code == 401
        # A token the file does not hold is not used: the server's rotation alone fails.
        kube_sim.token = f"{CANARY}-next"
        with pytest.raises(PollError, match=r"^cluster here: list namespaces: unauthorized"):
            polling.poll()
    finally:
        polling.close()


def test_a_kubeconfig_token_file_is_read_again_when_replaced(
    kube_sim: KubeSimulator, tmp_path: Path
) -> None:
    seed_small(kube_sim)
    (tmp_path / "token").write_text(CANARY)
    kubeconfig = kube_sim.write_kubeconfig(tmp_path / "kubeconfig", user={"tokenFile": "token"})
    polling = from_kubeconfig(kubeconfig)
    try:
        assert len(polling.poll().workloads) == 4
        (tmp_path / "token.new").write_text(f"{CANARY}-rotated")
        os.replace(tmp_path / "token.new", tmp_path / "token")
        kube_sim.token = f"{CANARY}-rotated"
        assert len(polling.poll().workloads) == 4
    finally:
        polling.close()
    assert None not in {r.user for r in kube_sim.requests}


def test_in_cluster_missing_mounts_are_named(
    kube_sim: KubeSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(kube_sim.port))
    assert kube_sim.ca is not None
    (tmp_path / "ca.crt").write_bytes(kube_sim.ca.cert_pem)
    token = tmp_path / "token"
    cluster = config.Cluster(
        name="here", in_cluster=True, token_file=str(token), ca_file=str(tmp_path / "ca.crt")
    )
    with pytest.raises(PollError) as raised:
        source(cluster).poll()
    assert str(raised.value) == (
        f"cluster here: cannot read the service account token file {token}: "
        "No such file or directory"
    )
    elsewhere = config.Cluster(
        name="here", in_cluster=True, token_file=str(token), ca_file=str(tmp_path / "nope.crt")
    )
    with pytest.raises(PollError) as raised:
        source(elsewhere).poll()
    assert str(raised.value) == (
        "cluster here: cannot load credentials from in-cluster service account: "
        f"ValueError: cannot read the CA file {tmp_path / 'nope.crt'}"
    )


# --- throttling and connections ----------------------------------------------------------------


def test_priority_and_fairness_throttling_is_waited_out(
    kube_sim: KubeSimulator, kubeconfig: Path
) -> None:
    seed_small(kube_sim)
    kube_sim.add_fault("/apis/apps/v1/deployments", 429, retry_after=1, times=2)
    started = time.monotonic()
    observation = from_kubeconfig(kubeconfig).poll()
    assert time.monotonic() - started >= 2.0
    assert len(observation.workloads) == 4
    deployments = [r for r in kube_sim.requests if r.path == "/apis/apps/v1/deployments"]
    assert len(deployments) == 3
    # What the collector was told: a real APF rejection's status, Retry-After and headers.
    kube_sim.add_fault("/apis/apps/v1/deployments", 429, retry_after=1)
    request = urllib.request.Request(
        f"{kube_sim.url}/apis/apps/v1/deployments", headers={"Authorization": f"Bearer {CANARY}"}
    )
    with pytest.raises(urllib.error.HTTPError) as throttled:
        urllib.request.urlopen(request, timeout=5, context=kube_sim.client_context())
    headers = throttled.value.headers
    assert (throttled.value.code, headers["Retry-After"]) == (429, "1")
    assert headers["X-Kubernetes-Pf-Flowschema-Uid"]
    assert headers["X-Kubernetes-Pf-Prioritylevel-Uid"]


def test_one_kept_alive_connection_serves_every_page(
    kube_sim: KubeSimulator, kubeconfig: Path
) -> None:
    seed_small(kube_sim)
    for i in range(20):
        kube_sim.add_workload("Deployment", "pay", f"extra-{i:02d}")
    polling = from_kubeconfig(kubeconfig, page_size=2)
    try:
        before = kube_sim.connections
        assert len(polling.poll().workloads) == 24
        first = kube_sim.connections - before
        pages = len(kube_sim.requests)
        second_before = kube_sim.connections
        polling.poll()
        second = kube_sim.connections - second_before
    finally:
        polling.close()
    assert pages > 15
    assert (first, second) == (1, 0)  # one TLS connection, kept across pages and polls

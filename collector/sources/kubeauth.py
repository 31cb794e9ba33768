"""How the Kubernetes source reaches a cluster: its address and TLS settings, and the
credential each request carries.

The official client's loaders do most of it (kubeconfig clusters, CA data, client
certificates, static tokens). Two credentials are kept here instead, because the loaders
get them wrong for a long-running service:

- an exec credential plugin (EKS `aws eks get-token`, GKE `gke-gcloud-auth-plugin`, AKS
  `kubelogin`): the client runs it unbounded, and again before every request once the
  token is within five minutes of expiry; a failing plugin is logged by the root logger
  and the request goes out without credentials. Here it runs within what is left of the
  poll's deadline, only when its token is about to expire (or was refused), and a failure
  fails the poll with one line naming the command;
- in the cluster, the projected service-account token, which the kubelet replaces on disk
  long before it expires: the file is read again whenever it changes, at paths the
  configuration can move.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import kubernetes
import urllib3
import yaml
from kubernetes.config.kube_config import KubeConfigLoader

from collector import config
from collector.sources import PollError

log = logging.getLogger(__name__)

TOKEN_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/token"
CA_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
# An exec token is renewed this long before it expires (a tenth of its lifetime when that
# is shorter), so a request never leaves with a token that expires on the way.
MAX_RENEW_MARGIN = 60.0
_STDERR_SHOWN = 300  # characters of a failing plugin's last stderr line kept in the error


class CredentialError(PollError):
    """The credential could not be had; the message names the cluster and the cause."""


class BearerToken:
    """Where a token that changes comes from: `get` is called before every request."""

    def get(self, end: float, limit: str) -> str:
        """The token to send, by time.monotonic() `end`; `limit` names that deadline."""
        raise NotImplementedError

    def refused(self) -> bool:
        """The API server refused the last token (401): whether a new one may be had."""
        return False


class ExecPlugin(BearerToken):
    """A client-go exec credential plugin, as a kubeconfig's `users[].user.exec` sets it."""

    def __init__(self, cluster: str, exec_config: Mapping[str, Any], cwd: Path, info: Any):
        command = exec_config.get("command")
        if not isinstance(command, str) or not command:
            raise ValueError("exec: command is missing")
        self.api_version = str(exec_config.get("apiVersion") or "")
        if not self.api_version:
            raise ValueError("exec: apiVersion is missing")
        self.cluster = cluster
        self.command = command
        # As client-go: a command with a slash is relative to the kubeconfig's directory;
        # a bare name is looked up on PATH.
        if "/" in command and not os.path.isabs(command):
            command = str(cwd / command)
        self.argv = [command, *(str(a) for a in exec_config.get("args") or ())]
        self.env = {str(e["name"]): str(e["value"]) for e in exec_config.get("env") or ()}
        self.cwd = cwd
        self.info = info  # the ExecCredential spec.cluster, for provideClusterInfo
        self.calls = 0
        self._token: str | None = None
        self._renew_at = 0.0  # time.monotonic()

    def get(self, end: float, limit: str) -> str:
        if self._token is None or time.monotonic() >= self._renew_at:
            self._token = None
            self._run(end, limit)
        assert self._token is not None
        return self._token

    def refused(self) -> bool:
        self._token = None  # the next request runs the plugin again
        return True

    def _fail(self, cause: str) -> CredentialError:
        return CredentialError(f"cluster {self.cluster}: credential plugin {self.command} {cause}")

    def _run(self, end: float, limit: str) -> None:
        left = end - time.monotonic()
        if left <= 0:
            raise self._fail(f"was not run: {limit}")
        spec: dict[str, Any] = {"interactive": False}
        if self.info is not None:
            spec["cluster"] = self.info
        request = {"apiVersion": self.api_version, "kind": "ExecCredential", "spec": spec}
        env = {**os.environ, **self.env, "KUBERNETES_EXEC_INFO": json.dumps(request)}
        self.calls += 1
        try:
            process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=self.cwd,
                env=env,
                start_new_session=True,  # so a timeout kills whatever it started too
            )
        except FileNotFoundError:
            raise self._fail(
                "not found: it must be installed where the collector runs (on PATH, or "
                "named by an absolute path in the kubeconfig)"
            ) from None
        except OSError as exc:
            raise self._fail(f"cannot be run: {exc.strerror or exc}") from None
        try:
            stdout, stderr = process.communicate(timeout=left)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise self._fail(f"did not answer in time: {limit}") from None
        if process.returncode != 0:
            lines = stderr.decode("utf-8", "replace").strip().splitlines()
            detail = f": {lines[-1][:_STDERR_SHOWN]}" if lines else ""
            raise self._fail(f"failed with exit status {process.returncode}{detail}")
        self._take(stdout)

    def _take(self, stdout: bytes) -> None:
        try:
            answer = json.loads(stdout)
        except ValueError:
            raise self._fail("printed no ExecCredential (not JSON)") from None
        status = answer.get("status") if isinstance(answer, dict) else None
        if not isinstance(answer, dict) or answer.get("kind") != "ExecCredential":
            raise self._fail("printed no ExecCredential")
        if answer.get("apiVersion") != self.api_version:
            raise self._fail(
                f"answered apiVersion {answer.get('apiVersion')}, not {self.api_version}"
            )
        token = status.get("token") if isinstance(status, dict) else None
        if not isinstance(token, str) or not token:
            raise self._fail(
                "printed no status.token (client certificates from a plugin are not supported)"
            )
        self._token = token
        expiry = status.get("expirationTimestamp") if isinstance(status, dict) else None
        if expiry is None:
            self._renew_at = float("inf")  # until the API server refuses it
            return
        try:
            expires = dt.datetime.fromisoformat(str(expiry)).timestamp()
        except ValueError:
            raise self._fail(f"printed an unreadable expirationTimestamp {expiry!r}") from None
        lifetime = expires - time.time()
        margin = min(MAX_RENEW_MARGIN, max(lifetime, 0.0) / 10)
        self._renew_at = time.monotonic() + lifetime - margin


class TokenFile(BearerToken):
    """A token file that is replaced while the collector runs (a projected service-account
    token, a kubeconfig's `tokenFile`): read again whenever it is a different file or has
    changed."""

    def __init__(self, cluster: str, path: str, what: str = "service account token file") -> None:
        self.cluster = cluster
        self.path = path
        self.what = what
        self._seen: tuple[int, int, int] | None = None
        self._token = ""

    def get(self, end: float, limit: str) -> str:
        try:
            stat = os.stat(self.path)
            seen = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            if seen != self._seen:
                token = Path(self.path).read_text(encoding="utf-8").strip()
                if not token:
                    raise CredentialError(
                        f"cluster {self.cluster}: the {self.what} {self.path} is empty"
                    )
                self._token, self._seen = token, seen
        except OSError as exc:
            raise CredentialError(
                f"cluster {self.cluster}: cannot read the {self.what} {self.path}: "
                f"{exc.strerror or exc}"
            ) from None
        return self._token

    def refused(self) -> bool:
        self._seen = None  # read it again: the kubelet may have just replaced it
        return False


def _select(raw: Any, context: str | None) -> tuple[Any, Any]:
    """The (cluster, user) entries `context` (or the current one) names; None where the
    kubeconfig does not say (the official loader then reports what is wrong)."""
    if not isinstance(raw, dict):
        return None, None
    name = context or raw.get("current-context")

    def entry(section: str, key: str, wanted: object) -> Any:
        for item in raw.get(section) or ():
            if isinstance(item, dict) and item.get("name") == wanted:
                return item.get(key)
        return None

    ctx = entry("contexts", "context", name)
    if not isinstance(ctx, dict):
        return None, None
    return entry("clusters", "cluster", ctx.get("cluster")), entry("users", "user", ctx.get("user"))


def _cluster_info(entry: Mapping[str, Any], base: Path) -> dict[str, Any]:
    """The ExecCredential spec.cluster of a plugin with provideClusterInfo."""
    info: dict[str, Any] = {"server": entry.get("server")}
    ca_data = entry.get("certificate-authority-data")
    if ca_data is None and entry.get("certificate-authority"):
        ca_path = base / str(entry["certificate-authority"])
        ca_data = base64.b64encode(ca_path.read_bytes()).decode()
    if ca_data is not None:
        info["certificate-authority-data"] = ca_data
    for key in ("tls-server-name", "insecure-skip-tls-verify", "proxy-url"):
        if key in entry:
            info[key] = entry[key]
    for extension in entry.get("extensions") or ():
        if isinstance(extension, dict) and extension.get("name") == (
            "client.authentication.k8s.io/exec"
        ):
            info["config"] = extension.get("extension")
    return info


# The client writes a kubeconfig's inline certificates and keys to temporary files, shared
# process-wide by content, and names a file in that cache before it writes it: two clusters
# with the same CA connecting at once (their first polls run concurrently) could load an
# empty file ("no certificate or crl found"). One kubeconfig is loaded at a time.
_LOADING = threading.Lock()


def _from_kubeconfig(cluster: config.Cluster, configuration: Any) -> tuple[BearerToken | None, str]:
    assert cluster.kubeconfig is not None
    path = Path(cluster.kubeconfig)
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    base = path.resolve().parent
    cluster_entry, user = _select(raw, cluster.context)
    token: BearerToken | None = None
    if isinstance(user, dict) and not user.get("token") and isinstance(user.get("tokenFile"), str):
        # The loader reads it once; client-go, as here, reads it again while running.
        raw = copy.deepcopy(raw)
        _, user = _select(raw, cluster.context)
        token = TokenFile(cluster.name, str(base / user.pop("tokenFile")), "token file")
    elif isinstance(user, dict) and isinstance(user.get("exec"), dict):
        # The loader would run the plugin now, unbounded: take it out and run it here.
        raw = copy.deepcopy(raw)
        _, user = _select(raw, cluster.context)
        exec_config = user.pop("exec")
        info = None
        if exec_config.get("provideClusterInfo") and isinstance(cluster_entry, dict):
            info = _cluster_info(cluster_entry, base)
        token = ExecPlugin(cluster.name, exec_config, base, info)
    with _LOADING:
        loader = KubeConfigLoader(  # type: ignore[no-untyped-call]
            config_dict=raw, active_context=cluster.context, config_base_path=str(base)
        )
        loader.load_and_set(configuration)  # type: ignore[no-untyped-call]
    if token is not None:
        configuration.refresh_api_key_hook = None
    return token, str(path)


def _in_cluster(cluster: config.Cluster, configuration: Any) -> tuple[BearerToken, str]:
    host = os.environ.get("KUBERNETES_SERVICE_HOST")
    port = os.environ.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        raise ValueError(
            "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set (not in a pod?)"
        )
    ca_file = cluster.ca_file or CA_FILE
    if not os.access(ca_file, os.R_OK):
        raise ValueError(f"cannot read the CA file {ca_file}")
    if ":" in host:
        host = f"[{host}]"  # an IPv6 address
    configuration.host = f"https://{host}:{port}"
    configuration.ssl_ca_cert = ca_file
    return TokenFile(cluster.name, cluster.token_file or TOKEN_FILE), "in-cluster service account"


def connect(cluster: config.Cluster) -> tuple[Any, BearerToken | None]:
    """A client for `cluster` (errors are not retried: the source handles them) and the
    token that changes, if any; neither runs a plugin nor reads a token yet."""
    configuration = kubernetes.client.Configuration()
    # Errors come straight to the source: urllib3 would retry with a fresh timeout each
    # time, stretching both deadlines. Throttling and the one retry of a dropped
    # connection are handled there, inside them.
    configuration.retries = False
    token: BearerToken | None
    try:
        if cluster.in_cluster:
            token, where = _in_cluster(cluster, configuration)
        else:
            token, where = _from_kubeconfig(cluster, configuration)
    except Exception as exc:  # the loaders raise anything from OSError to yaml errors
        where = "in-cluster service account" if cluster.in_cluster else str(cluster.kubeconfig)
        context = f" (context {cluster.context})" if cluster.context else ""
        # The loader says "Invalid kube-config file. No configuration found." for a file
        # that is not there; the operator needs to hear that it is not there.
        missing = cluster.kubeconfig is not None and not os.path.exists(cluster.kubeconfig)
        cause = "no such file" if missing else f"{type(exc).__name__}: {exc}"
        raise CredentialError(
            f"cluster {cluster.name}: cannot load credentials from {where}{context}: {cause}"
        ) from None
    if not configuration.verify_ssl:
        log.warning(
            "cluster %s: insecure-skip-tls-verify is set in %s: the API server's certificate "
            "is not checked, so anyone on the network path can pose as it",
            cluster.name,
            where,
        )
        # That warning says it once; urllib3 would say it again on every request.
        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    return kubernetes.client.ApiClient(configuration), token

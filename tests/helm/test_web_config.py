"""webConfig: a Prometheus web-config Secret mounted read-only, the collector pointed at it, the
probes and the ServiceMonitor switched to HTTPS, and probes that still work."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from helm_python import HelmRenderError, HelmValuesError, lint

from collector import config
from tests.helm.chart import CHART_DIR, LAUNCH, Rendered, merged, render
from tests.helm.test_manifests import KUBE_VERSION, validation_problem
from tests.http.pki import authority

WEB_DIR = "/etc/adoption-collector-web"
SECRET = "collector-web"
TLS: dict[str, Any] = {"webConfig": {"existingSecret": SECRET, "tls": True}}
AUTH_ONLY: dict[str, Any] = {"webConfig": {"existingSecret": SECRET}}
CLIENT_CERTS: dict[str, Any] = {
    "webConfig": {"existingSecret": SECRET, "tls": True, "requireClientCertificates": True}
}
MONITOR: dict[str, Any] = {
    "serviceMonitor": {
        "enabled": True,
        "tlsConfig": {
            "ca": {"secret": {"name": "collector-tls", "key": "ca.crt"}},
            "serverName": "adoption-collector",
        },
        "basicAuth": {
            "username": {"name": "scrape-auth", "key": "username"},
            "password": {"name": "scrape-auth", "key": "password"},
        },
    }
}
TIMING = {"failureThreshold": 3, "initialDelaySeconds": 5, "periodSeconds": 10, "timeoutSeconds": 5}


def probes(rendered: Rendered) -> tuple[dict[str, Any], dict[str, Any]]:
    return rendered.container["livenessProbe"], rendered.container["readinessProbe"]


def web_volume(rendered: Rendered) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    mounts = [m for m in rendered.container["volumeMounts"] if m["name"] == "web-config"]
    volumes = [v for v in rendered.pod["volumes"] if v["name"] == "web-config"]
    return mounts, volumes


def test_off_by_default(default: Rendered) -> None:
    assert web_volume(default) == ([], [])
    assert default.config["server"] == {"listen": "0.0.0.0:9853"}
    monitor = render(merged(LAUNCH, {"serviceMonitor": {"enabled": True}})).one("ServiceMonitor")
    assert "scheme" not in monitor["spec"]["endpoints"][0]


def test_tls_mounts_the_secret_points_the_collector_at_it_and_probes_over_https() -> None:
    rendered = render(merged(LAUNCH, TLS))
    assert web_volume(rendered) == (
        [{"name": "web-config", "mountPath": WEB_DIR, "readOnly": True}],
        [{"name": "web-config", "secret": {"secretName": SECRET, "defaultMode": 0o440}}],
    )
    assert rendered.config["server"] == {
        "listen": "0.0.0.0:9853",
        "web_config_file": f"{WEB_DIR}/web-config.yml",
    }
    # The kubelet does not verify the certificate; /healthz and /readyz never ask for a password.
    assert probes(rendered) == (
        {"httpGet": {"path": "/healthz", "port": "http-metrics", "scheme": "HTTPS"}, **TIMING},
        {"httpGet": {"path": "/readyz", "port": "http-metrics", "scheme": "HTTPS"}, **TIMING},
    )
    assert validation_problem(rendered.deployment) is None
    # A changed web-config location rolls the pod like any config change.
    default = render(merged(LAUNCH))
    annotations = rendered.deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations != default.deployment["spec"]["template"]["metadata"]["annotations"]


def test_basic_auth_without_tls_keeps_plain_probes() -> None:
    rendered = render(merged(LAUNCH, AUTH_ONLY, {"webConfig": {"existingSecretKey": "web.yml"}}))
    assert rendered.config["server"]["web_config_file"] == f"{WEB_DIR}/web.yml"
    assert probes(rendered) == (
        {"httpGet": {"path": "/healthz", "port": "http-metrics"}, **TIMING},
        {"httpGet": {"path": "/readyz", "port": "http-metrics"}, **TIMING},
    )


def test_required_client_certificates_make_the_probes_tcp_checks() -> None:
    rendered = render(merged(LAUNCH, CLIENT_CERTS))
    tcp = {"tcpSocket": {"port": "http-metrics"}, **TIMING}
    assert probes(rendered) == (tcp, tcp)
    assert validation_problem(rendered.deployment) is None


def test_service_monitor_scrapes_over_https_with_the_given_tls_config_and_basic_auth() -> None:
    monitor = render(merged(LAUNCH, TLS, MONITOR)).one("ServiceMonitor")
    assert monitor["spec"]["endpoints"] == [
        {
            "port": "http-metrics",
            "path": "/metrics",
            "scheme": "https",
            "tlsConfig": MONITOR["serviceMonitor"]["tlsConfig"],
            "basicAuth": MONITOR["serviceMonitor"]["basicAuth"],
            "interval": "1m",
            "scrapeTimeout": "10s",
            "honorLabels": False,
        }
    ]
    plain = render(merged(LAUNCH, AUTH_ONLY, MONITOR)).one("ServiceMonitor")
    endpoint = plain["spec"]["endpoints"][0]
    assert "scheme" not in endpoint
    assert endpoint["basicAuth"] == MONITOR["serviceMonitor"]["basicAuth"]


@pytest.mark.parametrize("values", [TLS, AUTH_ONLY, CLIENT_CERTS])
def test_lint_strict_passes(values: dict[str, Any]) -> None:
    report = lint(
        CHART_DIR, merged(LAUNCH, values, MONITOR), strict=True, kube_version=f"v{KUBE_VERSION}.0"
    )
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


@pytest.mark.parametrize(
    ("web", "message"),
    [
        (
            {"tls": True},
            "webConfig.tls and webConfig.requireClientCertificates describe the web-config file "
            "in webConfig.existingSecret; set it too",
        ),
        (
            {"existingSecret": SECRET, "requireClientCertificates": True},
            "webConfig.requireClientCertificates needs webConfig.tls: client certificates are "
            "part of the TLS handshake",
        ),
    ],
)
def test_inconsistent_values_fail_naming_the_key(web: dict[str, Any], message: str) -> None:
    with pytest.raises(HelmRenderError) as info:
        render(merged(LAUNCH, {"webConfig": web}))
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("override", "problem"),
    [
        ({"webConfig": {"tls": "yes"}}, "at '/webConfig/tls': got string, want boolean"),
        (
            {"webConfig": {"existingSecret": SECRET, "secret": "x"}},
            "at '/webConfig': additional properties 'secret' not allowed",
        ),
        (
            {"webConfig": {"existingSecretKey": "../web.yml"}},
            "at '/webConfig/existingSecretKey': '../web.yml' does not match pattern",
        ),
        (
            {"serviceMonitor": {"basicAuth": "user:password"}},
            "at '/serviceMonitor/basicAuth': got string, want object",
        ),
    ],
)
def test_schema_rejects_wrong_values(override: dict[str, Any], problem: str) -> None:
    with pytest.raises(HelmValuesError) as info:
        render(merged(LAUNCH, override))
    assert problem in str(info.value)


def test_notes_say_https_and_which_paths_ask_for_credentials() -> None:
    notes = render(merged(LAUNCH, CLIENT_CERTS)).notes
    assert "curl -sk https://127.0.0.1:9853/metrics | grep adoption_collector_up" in notes
    assert "curl -sk https://127.0.0.1:9853/readyz" in notes
    assert f"The web config in Secret {SECRET} (key web-config.yml) applies" in notes
    assert "/healthz and /readyz never do" in notes
    assert "the probes are TCP checks" in notes
    plain = render(merged(LAUNCH, AUTH_ONLY)).notes
    assert "curl -s http://127.0.0.1:9853/metrics | grep adoption_collector_up" in plain
    assert "TCP checks" not in plain


def test_the_rendered_config_and_a_web_config_in_the_mounted_layout_pass_check_config(
    tmp_path: Path,
) -> None:
    """The Secret's files side by side, as mounted: the relative cert paths resolve there."""
    rendered = render(merged(LAUNCH, TLS))
    secret_dir = tmp_path / "secret"
    ca = authority(secret_dir, "ca")
    issued = ca.server(secret_dir, "tls")
    assert (issued.cert.name, issued.key.name) == ("tls.crt", "tls.key")
    (secret_dir / "web-config.yml").write_text(
        "tls_server_config: {cert_file: tls.crt, key_file: tls.key}\n"
    )
    raw = rendered.config
    assert raw["server"]["web_config_file"] == f"{WEB_DIR}/web-config.yml"
    raw["server"]["web_config_file"] = str(secret_dir / "web-config.yml")
    config.parse(raw)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    cli = Path(sys.executable).with_name("adoption-collector")
    result = subprocess.run(
        [cli, "check-config", str(path)], capture_output=True, text=True, timeout=30, check=False
    )
    # The chart's default config has no golden paths: valid, and warned about.
    assert (result.returncode, result.stderr) == (
        0,
        "warning: golden_paths: none configured: every workload and repository counts as shadow\n",
    )
    assert result.stdout.splitlines()[1] == (
        f"{secret_dir / 'web-config.yml'}: web config ok (TLS, no basic auth)"
    )

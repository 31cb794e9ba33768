"""The Deployment: one replica, locked-down pod, writable only where the collector writes."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest

from tests.helm.chart import (
    FULLNAME,
    GITHUB_APP,
    LAUNCH,
    SELECTOR,
    Rendered,
    merged,
    render,
)

POD_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": 65532,
    "runAsGroup": 65532,
    "fsGroup": 65532,
    "seccompProfile": {"type": "RuntimeDefault"},
}
CONTAINER_SECURITY = {
    "readOnlyRootFilesystem": True,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
}
DIGEST = "sha256:" + "ab" * 32
WRITABLE = {"state": "/var/lib/adoption-collector", "tmp": "/tmp"}


def test_security_context_is_exactly_the_locked_down_one(any_case: Rendered) -> None:
    assert any_case.pod["securityContext"] == POD_SECURITY
    assert any_case.container["securityContext"] == CONTAINER_SECURITY
    assert any_case.pod["automountServiceAccountToken"] is True
    assert any_case.pod["enableServiceLinks"] is False
    assert "hostNetwork" not in any_case.pod
    assert "hostPID" not in any_case.pod


def test_only_state_and_tmp_are_writable(any_case: Rendered) -> None:
    mounts = any_case.container["volumeMounts"]
    writable = {m["name"]: m["mountPath"] for m in mounts if not m.get("readOnly", False)}
    assert writable == WRITABLE
    volumes = {v["name"]: v for v in any_case.pod["volumes"]}
    assert volumes["tmp"] == {"name": "tmp", "emptyDir": {}}
    # No hostPath anywhere.
    assert [v for v in volumes.values() if "hostPath" in v] == []


def test_no_container_escapes_the_lock_down(any_case: Rendered) -> None:
    pod = any_case.pod
    # One container: no init container or sidecar with a context of its own.
    assert [c["name"] for c in pod["containers"]] == ["collector"]
    assert "initContainers" not in pod
    assert "ephemeralContainers" not in pod
    for key in ("hostNetwork", "hostPID", "hostIPC", "shareProcessNamespace"):
        assert key not in pod, key
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["runAsGroup"] != 0
    assert "privileged" not in any_case.container["securityContext"]
    assert "ports" not in any_case.container or all(
        "hostPort" not in port for port in any_case.container["ports"]
    )


def test_the_state_file_lives_on_the_writable_state_volume(any_case: Rendered) -> None:
    state = any_case.config["state"]["path"]
    assert state == f"{WRITABLE['state']}/state.db"
    # Every other path the collector is given is only read (config, kubeconfigs, App key).
    mounts = {m["mountPath"]: m for m in any_case.container["volumeMounts"]}
    read_only = [path for path, mount in mounts.items() if mount.get("readOnly")]
    assert all(not state.startswith(f"{path}/") for path in read_only)


def test_the_only_secrets_the_pod_can_read_are_its_github_credential(any_case: Rendered) -> None:
    container, pod = any_case.container, any_case.pod
    env_secrets = [
        (e["name"], e["valueFrom"]["secretKeyRef"]["name"])
        for e in container.get("env", [])
        if "secretKeyRef" in e.get("valueFrom", {})
    ]
    assert "envFrom" not in container  # never a whole Secret as environment
    volume_secrets = [v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v]
    projected = [
        source["secret"]["name"]
        for v in pod["volumes"]
        if "projected" in v
        for source in v["projected"]["sources"]
        if "secret" in source
    ]
    github = f"{FULLNAME}-github"
    # Secrets are files (the token too, so a rotated one needs no restart), never environment.
    assert env_secrets == []
    assert projected in ([], [github])
    # A user's extraVolumes (the kubeconfigs of remote clusters) are the only other ones.
    assert volume_secrets in ([], ["adoption-collector-kubeconfigs"])
    # No service account token is projected by hand; the automounted one is the only one.
    assert not any(
        "serviceAccountToken" in source
        for v in pod["volumes"]
        if "projected" in v
        for source in v["projected"]["sources"]
    )


def test_the_service_account_token_is_mounted_only_when_wanted() -> None:
    # Only remote clusters (kubeconfigs): the in-cluster token is not needed and not mounted.
    values = merged(LAUNCH, {"serviceAccount": {"automountServiceAccountToken": False}})
    rendered = render(values)
    assert rendered.pod["automountServiceAccountToken"] is False
    assert rendered.one("ServiceAccount")["automountServiceAccountToken"] is False


def test_default_deployment(default: Rendered) -> None:
    deployment = default.deployment
    assert deployment["spec"]["replicas"] == 1
    # One SQLite writer: the old pod stops before the new one starts.
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert deployment["spec"]["selector"] == {"matchLabels": SELECTOR}
    container = default.container
    assert container["image"] == "ghcr.io/adoption-collector/adoption-collector:0.1.0"
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["args"] == [
        "--log-level",
        "info",
        "run",
        "--config",
        "/etc/adoption-collector/config.yaml",
    ]
    assert "command" not in container  # the image's ENTRYPOINT runs
    assert container["ports"] == [
        {"name": "http-metrics", "containerPort": 9853, "protocol": "TCP"}
    ]
    probe = {"failureThreshold": 3, "initialDelaySeconds": 5, "periodSeconds": 10}
    assert container["livenessProbe"] == {
        "httpGet": {"path": "/healthz", "port": "http-metrics"},
        "timeoutSeconds": 5,
        **probe,
    }
    assert container["readinessProbe"] == {
        "httpGet": {"path": "/readyz", "port": "http-metrics"},
        "timeoutSeconds": 5,
        **probe,
    }
    assert container["resources"] == {
        "requests": {"cpu": "50m", "memory": "128Mi"},
        "limits": {"memory": "256Mi"},
    }
    assert "env" not in container
    assert container["volumeMounts"] == [
        {"name": "config", "mountPath": "/etc/adoption-collector", "readOnly": True},
        {"name": "state", "mountPath": "/var/lib/adoption-collector"},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    assert default.pod["volumes"] == [
        {
            "name": "config",
            "projected": {
                "sources": [
                    {
                        "configMap": {
                            "name": FULLNAME,
                            "items": [{"key": "config.yaml", "path": "config.yaml"}],
                        }
                    }
                ]
            },
        },
        {"name": "state", "persistentVolumeClaim": {"claimName": FULLNAME}},
        {"name": "tmp", "emptyDir": {}},
    ]


def test_service_exposes_the_metrics_port(default: Rendered) -> None:
    assert default.one("Service")["spec"] == {
        "type": "ClusterIP",
        "ports": [
            {"name": "http-metrics", "port": 9853, "targetPort": "http-metrics", "protocol": "TCP"}
        ],
        "selector": SELECTOR,
    }


def test_a_different_port_moves_service_container_and_listen_address() -> None:
    rendered = render(merged(LAUNCH, {"service": {"port": 9100}}))
    assert rendered.container["ports"][0]["containerPort"] == 9100
    assert rendered.one("Service")["spec"]["ports"][0]["port"] == 9100
    assert rendered.config["server"] == {"listen": "0.0.0.0:9100"}


def test_persistence_claim(default: Rendered, everything: Rendered) -> None:
    assert default.one("PersistentVolumeClaim")["spec"] == {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "1Gi"}},
    }
    claim = everything.one("PersistentVolumeClaim")
    assert claim["spec"] == {
        "accessModes": ["ReadWriteOnce"],
        "storageClassName": "fast-ssd",
        "resources": {"requests": {"storage": "2Gi"}},
    }
    assert claim["metadata"]["annotations"] == {"example.com/backup": "daily"}


def test_storage_class_dash_means_none() -> None:
    rendered = render(merged(LAUNCH, {"persistence": {"storageClass": "-"}}))
    assert rendered.one("PersistentVolumeClaim")["spec"]["storageClassName"] == ""


def test_existing_claim_is_used_and_none_created() -> None:
    rendered = render(merged(LAUNCH, {"persistence": {"existingClaim": "collector-history"}}))
    assert rendered.all("PersistentVolumeClaim") == []
    volumes = {v["name"]: v for v in rendered.pod["volumes"]}
    assert volumes["state"] == {
        "name": "state",
        "persistentVolumeClaim": {"claimName": "collector-history"},
    }
    assert rendered.deployment["spec"]["strategy"] == {"type": "Recreate"}


def test_without_persistence_the_state_is_an_empty_dir() -> None:
    rendered = render(merged(LAUNCH, {"persistence": {"enabled": False}}))
    assert rendered.all("PersistentVolumeClaim") == []
    volumes = {v["name"]: v for v in rendered.pod["volumes"]}
    assert volumes["state"] == {"name": "state", "emptyDir": {}}
    assert rendered.deployment["spec"]["strategy"] == {"type": "RollingUpdate"}


def test_replica_count_zero_stops_the_collector() -> None:
    rendered = render(merged(LAUNCH, {"replicaCount": 0}))
    assert rendered.deployment["spec"]["replicas"] == 0


def test_everything_pod_options(everything: Rendered) -> None:
    pod = everything.pod
    container = everything.container
    assert container["image"] == "registry.example.com/platform/adoption-collector:0.1.0-rc1"
    assert container["imagePullPolicy"] == "Always"
    assert container["args"][:2] == ["--log-level", "debug"]
    assert pod["imagePullSecrets"] == [{"name": "registry-credentials"}]
    assert pod["priorityClassName"] == "platform-observability"
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert pod["tolerations"] == [
        {"key": "dedicated", "operator": "Equal", "value": "platform", "effect": "NoSchedule"}
    ]
    assert list(pod["affinity"]) == ["nodeAffinity"]
    template = everything.deployment["spec"]["template"]["metadata"]
    assert template["annotations"]["example.com/team"] == "platform"
    assert template["labels"]["example.com/tier"] == "observability"
    assert container["env"] == [{"name": "TZ", "value": "UTC"}]
    assert container["volumeMounts"][-1] == {
        "name": "kubeconfigs",
        "mountPath": "/etc/kubeconfigs",
        "readOnly": True,
    }
    assert pod["volumes"][-1] == {
        "name": "kubeconfigs",
        "secret": {"secretName": "adoption-collector-kubeconfigs"},
    }


@pytest.mark.parametrize(
    ("values", "image"),
    [
        ({}, "ghcr.io/adoption-collector/adoption-collector:0.1.0"),
        ({"image": {"digest": DIGEST}}, f"ghcr.io/adoption-collector/adoption-collector@{DIGEST}"),
        ({"image": {"registry": ""}}, "adoption-collector/adoption-collector:0.1.0"),
        (
            {"image": {"registry": "", "repository": "acme/collector", "tag": "1.2"}},
            "acme/collector:1.2",
        ),
        # An umbrella chart's mirror wins over the chart's registry.
        (
            {"global": {"imageRegistry": "mirror.example.com"}, "image": {"tag": "1.2"}},
            "mirror.example.com/adoption-collector/adoption-collector:1.2",
        ),
        (
            {"global": {"imageRegistry": "mirror.example.com"}, "image": {"digest": DIGEST}},
            f"mirror.example.com/adoption-collector/adoption-collector@{DIGEST}",
        ),
    ],
)
def test_image_reference(values: dict[str, Any], image: str) -> None:
    assert render(merged(LAUNCH, values)).container["image"] == image


def test_config_checksum_is_the_rendered_config_and_rolls_the_pod(default: Rendered) -> None:
    annotations = default.deployment["spec"]["template"]["metadata"]["annotations"]
    assert set(annotations) == {"checksum/config"}  # no chart-created Secret, no checksum of one
    # The ConfigMap holds the config text plus the block scalar's final newline.
    expected = hashlib.sha256(default.config_text.removesuffix("\n").encode()).hexdigest()
    assert annotations["checksum/config"] == expected
    changed = render(merged(LAUNCH, {"config": {"teams": {"mandated": ["billing"]}}}))
    changed_annotations = changed.deployment["spec"]["template"]["metadata"]["annotations"]
    assert changed_annotations["checksum/config"] != expected


def _token_case(token: str) -> Rendered:
    return render(
        merged(
            LAUNCH, {"config": {"github": {"org": "acme"}}, "github": {"token": {"value": token}}}
        )
    )


def test_token_secret_holds_the_token_and_its_checksum_rolls_the_pod() -> None:
    first, second = _token_case("ghp_first"), _token_case("ghp_second")
    secret = first.one("Secret", f"{FULLNAME}-github")
    assert secret["type"] == "Opaque"
    assert secret["data"] == {"token": base64.b64encode(b"ghp_first").decode()}
    annotations = first.deployment["spec"]["template"]["metadata"]["annotations"]
    assert set(annotations) == {"checksum/config", "checksum/secret"}
    other = second.deployment["spec"]["template"]["metadata"]["annotations"]
    assert other["checksum/config"] == annotations["checksum/config"]
    assert other["checksum/secret"] != annotations["checksum/secret"]


def test_existing_token_secret_is_referenced_and_none_created() -> None:
    rendered = render(
        merged(
            LAUNCH,
            {
                "config": {"github": {"org": "acme"}},
                "github": {"token": {"existingSecret": "gh-token", "existingSecretKey": "pat"}},
            },
        )
    )
    assert rendered.all("Secret") == []
    assert "env" not in rendered.container
    # A file beside the config, which the collector reads on every scan: the kubelet updates
    # it when the Secret is rotated, so no restart (and no checksum annotation) is needed.
    assert _key_source(rendered) == {
        "secret": {
            "name": "gh-token",
            "items": [{"key": "pat", "path": "github-token", "mode": 0o440}],
        }
    }
    annotations = rendered.deployment["spec"]["template"]["metadata"]["annotations"]
    assert set(annotations) == {"checksum/config"}
    assert rendered.config["github"]["token_file"] == "/etc/adoption-collector/github-token"
    assert "token_env" not in rendered.config["github"]


def _key_source(rendered: Rendered) -> dict[str, object]:
    (config_volume,) = [v for v in rendered.pod["volumes"] if v["name"] == "config"]
    sources: list[dict[str, object]] = config_volume["projected"]["sources"]
    assert len(sources) == 2
    return sources[1]


def test_github_app_key_is_mounted_read_only_where_the_config_points(
    github_app: Rendered,
) -> None:
    key_file = github_app.config["github"]["app"]["private_key_file"]
    assert key_file == "/etc/adoption-collector/github-app-private-key.pem"
    (mount,) = [m for m in github_app.container["volumeMounts"] if m["name"] == "config"]
    assert mount == {"name": "config", "mountPath": "/etc/adoption-collector", "readOnly": True}
    assert _key_source(github_app) == {
        "secret": {
            "name": f"{FULLNAME}-github",
            "items": [
                {"key": "private-key.pem", "path": "github-app-private-key.pem", "mode": 0o440}
            ],
        }
    }
    secret = github_app.one("Secret", f"{FULLNAME}-github")
    assert secret["data"] == {"private-key.pem": base64.b64encode(b"fake-pem-for-tests").decode()}
    assert "env" not in github_app.container


def test_existing_app_secret_is_mounted_and_none_created() -> None:
    values = merged(
        LAUNCH,
        GITHUB_APP,
        {
            "github": {
                "app": {"privateKey": "", "existingSecret": "gh-app", "existingSecretKey": "k"}
            }
        },
    )
    rendered = render(values)
    assert rendered.all("Secret") == []
    assert _key_source(rendered) == {
        "secret": {
            "name": "gh-app",
            "items": [{"key": "k", "path": "github-app-private-key.pem", "mode": 0o440}],
        }
    }

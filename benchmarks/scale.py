"""Scale generators: clusters of realistic workloads and the config that classifies them.

Objects look like what a real API server returns for an application team's workloads:
about 8 labels and 5 annotations, managedFields from the deploy tool and from the
controllers, a pod template with 1-2 containers (ports, env, probes, resources), and a
status with conditions. The full object matters for the naive path, which builds
model classes for all of it; the collector asks for metadata only.

Everything is deterministic for a given shape, so two processes generating the same
shape (the simulator and a check) agree. Sub-structures that would be identical from
object to object are built once and shared: the simulator serialises each object
once and keeps the bytes, so sharing only saves the generating process memory.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from collector.config import Settings, parse

JsonDict = dict[str, Any]

BIG = "prod"  # the name of the single big cluster

# The full size; `--scale` multiplies every count.
FULL_WORKLOADS = 50_000
FULL_NAMESPACES = 5_000
FULL_TEAMS = 1_000
MULTI_CLUSTERS = 10

NOW = dt.datetime(2026, 9, 15, 10, 0, tzinfo=dt.UTC)
LAUNCH_DATE = "2026-03-01"
PROVISIONED_LABEL = "platform.example.com/provisioned"
GOLDEN_CHART = "golden-service-1.4.2"

_WORDS = (
    "payments", "search", "billing", "checkout", "catalog", "identity", "notifications",
    "shipping", "inventory", "pricing", "recommendations", "reviews", "fraud", "ledger",
    "onboarding", "support", "analytics", "messaging", "media", "maps", "loyalty",
    "promotions", "returns", "subscriptions", "tax", "invoicing", "reporting", "growth",
    "accounts", "orders", "risk", "trust", "ads", "partners", "content", "video",
)  # fmt: skip
_COMPONENTS = (
    "api", "web", "worker", "gateway", "consumer", "scheduler", "db", "cache", "sync",
    "admin", "indexer", "exporter", "proxy", "events", "jobs", "reconciler",
)  # fmt: skip
_ENVIRONMENTS = ("prod", "prod", "prod", "staging", "canary")
_SHADOW_TOOLS = ("kubectl", "kubectl", "terraform", "team-chart", "pulumi", "flux")
# Per namespace of ten workloads; every third namespace swaps a Deployment for a DaemonSet.
_KINDS = (
    "Deployment", "Deployment", "Deployment", "Deployment", "Deployment", "Deployment",
    "Deployment", "StatefulSet", "CronJob", "Job",
)  # fmt: skip
RESOURCES = {
    "Deployment": "deployments",
    "StatefulSet": "statefulsets",
    "DaemonSet": "daemonsets",
    "CronJob": "cronjobs",
    "Job": "jobs",
}


@dataclass(frozen=True, slots=True)
class ClusterShape:
    """`workloads` objects over `namespaces` namespaces owned by `teams` teams.

    `first_team` shifts the team numbers, so the clusters of a multi-cluster
    benchmark hold different teams."""

    workloads: int
    namespaces: int
    teams: int
    first_team: int = 0
    seed: int = 1

    @property
    def per_namespace(self) -> int:
        return max(1, -(-self.workloads // self.namespaces))


def scaled(count: int, scale: float, least: int = 1) -> int:
    return max(least, round(count * scale))


def big_cluster(scale: float) -> ClusterShape:
    """The issue's single cluster: 50,000 workloads, 5,000 namespaces, 1,000 teams."""
    return ClusterShape(
        scaled(FULL_WORKLOADS, scale, 10),
        scaled(FULL_NAMESPACES, scale),
        scaled(FULL_TEAMS, scale),
    )


def small_clusters(scale: float) -> list[ClusterShape]:
    """Ten clusters holding a tenth of `big_cluster` each, each with its own teams."""
    big = big_cluster(scale)
    teams = max(1, big.teams // MULTI_CLUSTERS)
    return [
        ClusterShape(
            max(1, big.workloads // MULTI_CLUSTERS),
            max(1, big.namespaces // MULTI_CLUSTERS),
            teams,
            first_team=i * teams,
            seed=100 + i,
        )
        for i in range(MULTI_CLUSTERS)
    ]


def team_name(index: int) -> str:
    word = _WORDS[index % len(_WORDS)]
    return word if index < len(_WORDS) else f"{word}-{index // len(_WORDS) + 1}"


def _rfc3339(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class _Team:
    name: str
    style: str  # golden, mixed, shadow
    path: str  # service-chart or gitops: the golden path its golden workloads take


def _teams(shape: ClusterShape) -> list[_Team]:
    rng = random.Random(f"teams:{shape.seed}")
    teams = []
    for i in range(shape.first_team, shape.first_team + shape.teams):
        style = rng.choices(("golden", "mixed", "shadow"), (0.3, 0.45, 0.25))[0]
        teams.append(_Team(team_name(i), style, rng.choice(("service-chart", "gitops"))))
    return teams


def _namespace_name(team: _Team, index: int) -> str:
    env = _ENVIRONMENTS[index % len(_ENVIRONMENTS)]
    return f"{team.name}-{env}-{index}"


def _namespace_labels(team: _Team, name: str, index: int) -> dict[str, str]:
    labels = {"kubernetes.io/metadata.name": name, "environment": name.split("-")[-2]}
    # Most namespaces name their team plainly; some through a Backstage reference.
    if index % 10 == 3:
        labels["owner"] = f"group:default/{team.name.title()}"
    else:
        labels["team"] = team.name
    if team.path == "gitops" and team.style != "shadow":
        labels[PROVISIONED_LABEL] = "true"
    return labels


def namespaces(shape: ClusterShape) -> Iterator[JsonDict]:
    """Namespace objects, team after team."""
    teams = _teams(shape)
    created = NOW - dt.timedelta(days=300)
    for i in range(shape.namespaces):
        team = teams[i % len(teams)]
        name = _namespace_name(team, i)
        yield {
            "kind": "Namespace",
            "apiVersion": "v1",
            "metadata": {
                "name": name,
                "uid": _uid("namespaces", "", name),
                "resourceVersion": str(1000 + i),
                "creationTimestamp": _rfc3339(created + dt.timedelta(minutes=i)),
                "labels": _namespace_labels(team, name, i),
                "managedFields": [_namespace_fields()],
            },
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        }


def _uid(resource: str, namespace: str, name: str) -> str:
    # Deterministic across processes (unlike hash()), cheaper than uuid5 per object.
    digest = zlib.crc32(f"{resource}/{namespace}/{name}".encode())
    return f"5e1f0000-0000-4000-8000-{len(name):04x}{digest:08x}"


@lru_cache(maxsize=1)
def _namespace_fields() -> JsonDict:
    return {
        "manager": "kubectl-create",
        "operation": "Update",
        "apiVersion": "v1",
        "time": _rfc3339(NOW - dt.timedelta(days=300)),
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:team": {}}}},
    }


@dataclass(frozen=True, slots=True)
class Workload:
    """Where one generated workload lives; `workload_object` builds its body."""

    kind: str
    namespace: str
    name: str
    team: _Team
    serial: int  # position in the cluster, drives every choice about the object
    namespace_index: int
    owner: str | None = None  # the CronJob that started this Job


def workloads(shape: ClusterShape) -> Iterator[Workload]:
    """Every workload of the cluster, namespace after namespace."""
    teams = _teams(shape)
    made = 0
    for ns_index in range(shape.namespaces):
        team = teams[ns_index % len(teams)]
        namespace = _namespace_name(team, ns_index)
        cronjob: str | None = None
        for j in range(shape.per_namespace):
            if made >= shape.workloads:
                return
            kind = _KINDS[j % len(_KINDS)]
            if kind == "Deployment" and j == 1 and ns_index % 3 == 0:
                kind = "DaemonSet"
            component = _COMPONENTS[(ns_index + j) % len(_COMPONENTS)]
            name = f"{team.name}-{component}-{j}"
            if kind == "CronJob":
                cronjob = name
            elif kind == "Job" and cronjob is not None:
                name = f"{cronjob}-{29_000_000 + made}"
            owner = cronjob if kind == "Job" else None
            yield Workload(kind, namespace, name, team, made, ns_index, owner)
            made += 1


def churned(shape: ClusterShape, cycle: int, count: int) -> Iterator[Workload]:
    """`count` new Deployments for churn cycle `cycle`, spread over the namespaces."""
    teams = _teams(shape)
    for i in range(count):
        ns_index = (cycle * 7919 + i * 104729) % shape.namespaces
        team = teams[ns_index % len(teams)]
        namespace = _namespace_name(team, ns_index)
        name = f"{team.name}-rollout-{cycle}-{i}"
        yield Workload("Deployment", namespace, name, team, shape.workloads + i, ns_index)


def _golden(w: Workload) -> bool:
    if w.team.style == "golden":
        return True
    return w.team.style == "mixed" and w.serial % 2 == 0


def _tool(w: Workload) -> str:
    """The deploy tool: helm or argocd-controller for golden workloads, else a shadow tool."""
    if _golden(w):
        return "helm" if w.team.path == "service-chart" else "argocd-controller"
    return _SHADOW_TOOLS[(w.serial * 31 + w.namespace_index) % len(_SHADOW_TOOLS)]


def _labels(w: Workload, tool: str, version: str) -> dict[str, str]:
    component = _COMPONENTS[w.serial % len(_COMPONENTS)]
    labels = {
        "app.kubernetes.io/name": w.name,
        "app.kubernetes.io/instance": w.name,
        "app.kubernetes.io/version": version,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": w.team.name,
    }
    if tool == "helm" and _golden(w):
        labels["app.kubernetes.io/managed-by"] = "Helm"
        labels["helm.sh/chart"] = GOLDEN_CHART
    elif tool == "team-chart":
        labels["app.kubernetes.io/managed-by"] = "Helm"
        labels["helm.sh/chart"] = f"{w.team.name}-app-0.3.1"
    elif tool == "flux":
        labels["kustomize.toolkit.fluxcd.io/name"] = w.team.name
        labels["kustomize.toolkit.fluxcd.io/namespace"] = "flux-system"
    else:
        labels["app.kubernetes.io/managed-by"] = tool.split("-", maxsplit=1)[0]
        labels["tier"] = "backend" if w.serial % 3 else "frontend"
    # Half the workloads name their team themselves; the rest inherit the namespace's.
    if w.serial % 2:
        labels["team"] = w.team.name
    else:
        labels["environment"] = w.namespace.split("-")[-2]
    return labels


def _annotations(w: Workload, tool: str, labels: dict[str, str]) -> dict[str, str]:
    annotations = {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "9090",
        "platform.example.com/cost-center": f"cc-{1000 + w.namespace_index % 900}",
    }
    if tool in ("helm", "team-chart"):
        annotations["meta.helm.sh/release-name"] = w.name
        annotations["meta.helm.sh/release-namespace"] = w.namespace
    elif tool == "argocd-controller":
        group = "batch" if w.kind in ("CronJob", "Job") else "apps"
        annotations["argocd.argoproj.io/tracking-id"] = (
            f"{w.name}:{group}/{w.kind}:{w.namespace}/{w.name}"
        )
        annotations["argocd.argoproj.io/sync-wave"] = "1"
    elif tool == "kubectl":
        # What `kubectl apply` leaves behind: the whole applied manifest, the heaviest
        # metadata a real cluster carries.
        applied = {
            "apiVersion": "apps/v1",
            "kind": w.kind,
            "metadata": {"labels": labels, "name": w.name, "namespace": w.namespace},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "app"}]}}},
        }
        annotations["kubectl.kubernetes.io/last-applied-configuration"] = (
            json.dumps(applied, separators=(",", ":")) + "\n"
        )
        annotations["change-cause"] = f"deploy {w.name} build {w.serial % 977}"
    else:
        annotations["platform.example.com/repository"] = f"acme/{w.name}"
        annotations["platform.example.com/on-call"] = f"{w.team.name}-oncall"
    if w.kind == "Deployment":
        annotations["deployment.kubernetes.io/revision"] = str(1 + w.serial % 40)
    return annotations


@lru_cache(maxsize=64)
def _spec_fields(kind: str, containers: int) -> JsonDict:
    container_fields: JsonDict = {
        f'k:{{"name":"{name}"}}': {
            ".": {},
            "f:env": {".": {}, 'k:{"name":"LOG_LEVEL"}': {".": {}, "f:name": {}, "f:value": {}}},
            "f:image": {},
            "f:imagePullPolicy": {},
            "f:livenessProbe": {".": {}, "f:httpGet": {".": {}, "f:path": {}, "f:port": {}}},
            "f:name": {},
            "f:ports": {".": {}, 'k:{"containerPort":8080,"protocol":"TCP"}': {".": {}}},
            "f:resources": {".": {}, "f:limits": {".": {}, "f:memory": {}}, "f:requests": {}},
        }
        for name in ("app", "proxy")[:containers]
    }
    pod = {"f:containers": container_fields, "f:serviceAccountName": {}, "f:volumes": {}}
    template = {
        "f:metadata": {"f:labels": {".": {}, "f:app.kubernetes.io/name": {}}},
        "f:spec": pod,
    }
    if kind == "CronJob":
        return {
            "f:schedule": {},
            "f:concurrencyPolicy": {},
            "f:jobTemplate": {"f:spec": {"f:template": template}},
        }
    if kind == "Job":
        return {"f:backoffLimit": {}, "f:template": template}
    spec: JsonDict = {"f:selector": {}, "f:template": template}
    if kind in ("Deployment", "StatefulSet"):
        spec["f:replicas"] = {}
    return spec


def _deploy_fields(
    kind: str, containers: int, labels: dict[str, str], annotations: dict[str, str]
) -> JsonDict:
    return {
        "f:metadata": {
            "f:annotations": {".": {}, **{f"f:{k}": {} for k in annotations}},
            "f:labels": {".": {}, **{f"f:{k}": {} for k in labels}},
        },
        "f:spec": _spec_fields(kind, containers),
    }


@lru_cache(maxsize=8)
def _status_fields(kind: str) -> JsonDict:
    if kind in ("CronJob", "Job"):
        return {"f:status": {"f:active": {}, "f:lastScheduleTime": {}, "f:succeeded": {}}}
    return {
        "f:status": {
            "f:availableReplicas": {},
            "f:conditions": {
                ".": {},
                'k:{"type":"Available"}': {".": {}, "f:lastTransitionTime": {}, "f:status": {}},
                'k:{"type":"Progressing"}': {".": {}, "f:lastTransitionTime": {}, "f:status": {}},
            },
            "f:observedGeneration": {},
            "f:readyReplicas": {},
            "f:replicas": {},
        }
    }


def _managed_fields(
    w: Workload,
    tool: str,
    created: dt.datetime,
    *,
    containers: int,
    labels: dict[str, str],
    annotations: dict[str, str],
) -> list[JsonDict]:
    group = "batch/v1" if w.kind in ("CronJob", "Job") else "apps/v1"
    manager = {
        "kubectl": "kubectl-client-side-apply",
        "terraform": "terraform-provider-kubernetes",
        "team-chart": "helm",
        "pulumi": f"pulumi-kubernetes-{w.serial % 4096:03x}",
        "flux": "kustomize-controller",
    }.get(tool, tool)
    if w.kind == "Job":
        manager = "kube-controller-manager"  # the CronJob controller made it
    entries: list[JsonDict] = [
        {
            "manager": manager,
            "operation": "Apply" if tool in ("argocd-controller", "flux") else "Update",
            "apiVersion": group,
            "time": _rfc3339(created),
            "fieldsType": "FieldsV1",
            "fieldsV1": _deploy_fields(w.kind, containers, labels, annotations),
        },
        {
            "manager": "kube-controller-manager",
            "operation": "Update",
            "apiVersion": group,
            "time": _rfc3339(created + dt.timedelta(minutes=3)),
            "fieldsType": "FieldsV1",
            "fieldsV1": _status_fields(w.kind),
            "subresource": "status",
        },
    ]
    if w.kind == "Deployment" and w.serial % 5 == 0:
        entries.append(
            {
                "manager": "kube-controller-manager",
                "operation": "Update",
                "apiVersion": group,
                "time": _rfc3339(created + dt.timedelta(hours=5)),
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:spec": {"f:replicas": {}}},
                "subresource": "scale",
            }
        )
    return entries


@lru_cache(maxsize=4096)
def _container(name: str, image: str, version: str, memory: str) -> JsonDict:
    return {
        "name": name,
        "image": f"registry.example.com/{image}:{version}",
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
        "env": [
            {"name": "LOG_LEVEL", "value": "info"},
            {"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": "http://otel-collector:4317"},
            {"name": "SERVICE_NAME", "value": image},
            {"name": "GOMAXPROCS", "value": "2"},
        ],
        "resources": {
            "limits": {"memory": memory},
            "requests": {"cpu": "100m", "memory": memory},
        },
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"},
            "initialDelaySeconds": 10,
            "periodSeconds": 10,
            "timeoutSeconds": 1,
            "successThreshold": 1,
            "failureThreshold": 3,
        },
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": 8080, "scheme": "HTTP"},
            "periodSeconds": 5,
            "timeoutSeconds": 1,
            "successThreshold": 1,
            "failureThreshold": 3,
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
        },
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    }


def _pod_template(w: Workload, version: str, containers: int, restart: str) -> JsonDict:
    memory = ("128Mi", "256Mi", "512Mi")[w.serial % 3]
    pod = [_container("app", w.name, version, memory)]
    if containers > 1:
        pod.append(_container("proxy", "envoy", "1.31.2", "64Mi"))
    return {
        "metadata": {
            "labels": {"app.kubernetes.io/name": w.name, "app.kubernetes.io/instance": w.name},
            "annotations": {"prometheus.io/scrape": "true"},
        },
        "spec": {
            "containers": pod,
            "restartPolicy": restart,
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "serviceAccountName": w.name,
            "securityContext": {"runAsUser": 65532, "fsGroup": 65532},
            "schedulerName": "default-scheduler",
            "volumes": [{"name": "tmp", "emptyDir": {}}],
        },
    }


def _conditions(created: dt.datetime) -> list[JsonDict]:
    when = _rfc3339(created + dt.timedelta(minutes=3))
    return [
        {
            "type": "Available",
            "status": "True",
            "lastUpdateTime": when,
            "lastTransitionTime": when,
            "reason": "MinimumReplicasAvailable",
            "message": "Deployment has minimum availability.",
        },
        {
            "type": "Progressing",
            "status": "True",
            "lastUpdateTime": when,
            "lastTransitionTime": when,
            "reason": "NewReplicaSetAvailable",
            "message": "ReplicaSet has successfully progressed.",
        },
    ]


def _spec_status(
    w: Workload, version: str, containers: int, created: dt.datetime
) -> tuple[JsonDict, JsonDict]:
    selector = {"matchLabels": {"app.kubernetes.io/name": w.name}}
    if w.kind == "CronJob":
        template = _pod_template(w, version, containers, "OnFailure")
        spec = {
            "schedule": f"{w.serial % 60} * * * *",
            "concurrencyPolicy": "Forbid",
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 1,
            "suspend": False,
            "jobTemplate": {"spec": {"backoffLimit": 2, "template": template}},
        }
        return spec, {"lastScheduleTime": _rfc3339(NOW - dt.timedelta(minutes=30))}
    if w.kind == "Job":
        spec = {
            "backoffLimit": 2,
            "completions": 1,
            "parallelism": 1,
            "template": _pod_template(w, version, containers, "Never"),
        }
        done = _rfc3339(created + dt.timedelta(minutes=2))
        status = {
            "succeeded": 1,
            "startTime": _rfc3339(created),
            "completionTime": done,
            "conditions": [{"type": "Complete", "status": "True", "lastTransitionTime": done}],
        }
        return spec, status
    template = _pod_template(w, version, containers, "Always")
    if w.kind == "DaemonSet":
        spec = {"selector": selector, "template": template, "revisionHistoryLimit": 10}
        status = {
            "currentNumberScheduled": 12,
            "desiredNumberScheduled": 12,
            "numberAvailable": 12,
            "numberMisscheduled": 0,
            "numberReady": 12,
            "observedGeneration": 3,
            "updatedNumberScheduled": 12,
        }
        return spec, status
    spec = {"replicas": 2, "selector": selector, "template": template, "revisionHistoryLimit": 10}
    if w.kind == "StatefulSet":
        spec["serviceName"] = w.name
        spec["podManagementPolicy"] = "OrderedReady"
    else:
        spec["strategy"] = {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
        }
    status = {
        "observedGeneration": 3,
        "replicas": 2,
        "updatedReplicas": 2,
        "readyReplicas": 2,
        "availableReplicas": 2,
        "conditions": _conditions(created),
    }
    return spec, status


def workload_object(w: Workload) -> JsonDict:
    """The full object, as `GET` of the workload on a real API server returns it."""
    created = NOW - dt.timedelta(days=1 + (w.serial * 7) % 280, seconds=w.serial % 86400)
    if w.kind == "Job":
        created = NOW - dt.timedelta(minutes=30 + w.serial % 30)
    tool = _tool(w)
    version = f"1.{w.serial % 30}.{w.serial % 7}"
    containers = 2 if w.serial % 4 == 0 else 1
    labels = _labels(w, tool, version)
    annotations = _annotations(w, tool, labels)
    group = "batch/v1" if w.kind in ("CronJob", "Job") else "apps/v1"
    metadata: JsonDict = {
        "name": w.name,
        "namespace": w.namespace,
        "uid": _uid(RESOURCES[w.kind], w.namespace, w.name),
        "resourceVersion": str(100_000 + w.serial),
        "generation": 3,
        "creationTimestamp": _rfc3339(created),
        "labels": labels,
        "annotations": annotations,
    }
    if w.owner is not None:
        # A run of its namespace's CronJob, which the collector does not count on its own.
        metadata["ownerReferences"] = [
            {
                "apiVersion": "batch/v1",
                "kind": "CronJob",
                "name": w.owner,
                "uid": _uid("cronjobs", w.namespace, w.owner),
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    metadata["managedFields"] = _managed_fields(
        w, tool, created, containers=containers, labels=labels, annotations=annotations
    )
    spec, status = _spec_status(w, version, containers, created)
    return {
        "kind": w.kind,
        "apiVersion": group,
        "metadata": metadata,
        "spec": spec,
        "status": status,
    }


def config(
    kubeconfigs: dict[str, str], state_path: str, *, listen: str = "127.0.0.1:0"
) -> JsonDict:
    """The raw collector config (as YAML would load it) for generated clusters."""
    return {
        "platform": {"launch_date": LAUNCH_DATE},
        "teams": {"mandated": [team_name(i) for i in range(0, 40, 7)]},
        "ownership": {"labels": ["team", "owner"]},
        "kubernetes": {
            "interval": "5m",
            "timeout": "60s",
            "poll_timeout": "10m",
            "clusters": [{"name": name, "kubeconfig": path} for name, path in kubeconfigs.items()],
        },
        "golden_paths": [
            {
                "name": "service-chart",
                "match": {
                    "labels": {
                        "matchLabels": {"app.kubernetes.io/managed-by": "Helm"},
                        "matchExpressions": [
                            {
                                "key": "helm.sh/chart",
                                "operator": "Matches",
                                "values": ["^golden-service-"],
                            }
                        ],
                    },
                    "field_managers": ["helm"],
                },
            },
            {
                "name": "gitops",
                "match": {
                    "namespace_labels": {"matchLabels": {PROVISIONED_LABEL: "true"}},
                    "field_managers": ["argocd-controller"],
                },
            },
        ],
        "state": {"path": state_path},
        "server": {"listen": listen},
    }


def settings(kubeconfigs: dict[str, str], state_path: str) -> Settings:
    """The benchmark config, parsed as the collector would."""
    return parse(config(kubeconfigs, state_path), "benchmark config")

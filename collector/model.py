"""The compact records every layer shares.

Sources turn API objects into these as early as possible and drop everything
else, so a poll of tens of thousands of objects holds only what the pipeline
reads. Records are immutable and slotted: cheap to keep, safe to share between
the poll thread and the snapshot being rendered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class Path(StrEnum):
    GOLDEN = "golden"
    SHADOW = "shadow"


class DeployTool(StrEnum):
    HELM = "helm"
    ARGOCD = "argocd"
    FLUX = "flux"
    KUBECTL = "kubectl"
    TERRAFORM = "terraform"
    PULUMI = "pulumi"
    OTHER = "other"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class FieldManager:
    """One `metadata.managedFields` entry, reduced to what deploy-tool detection reads."""

    manager: str
    time: float | None  # unix seconds; None when absent or unparsable
    owns_spec: bool  # the entry owns fields under f:spec


@dataclass(frozen=True, slots=True)
class Namespace:
    name: str
    labels: Mapping[str, str]
    created: float | None  # unix seconds; None when absent or unparsable


@dataclass(frozen=True, slots=True)
class Workload:
    kind: str  # Deployment, StatefulSet, DaemonSet, CronJob, Job
    namespace: str
    name: str
    created: float | None  # unix seconds; None when absent or unparsable
    labels: Mapping[str, str]
    # Only the annotation keys some golden path reads are kept: annotations can
    # be hundreds of KiB each and nothing else looks at them.
    annotations: Mapping[str, str]
    managers: tuple[FieldManager, ...]
    # Kind of the controlling ownerReference (e.g. "CronJob" for a Job a CronJob
    # spawned); None for objects nobody controls.
    controller_kind: str | None = None


@dataclass(frozen=True, slots=True)
class ClusterObservation:
    """Everything one successful poll of one cluster saw."""

    cluster: str
    namespaces: tuple[Namespace, ...]
    workloads: tuple[Workload, ...]
    objects: Mapping[str, int] = field(default_factory=dict)  # kind -> objects read
    skipped: int = 0  # objects too malformed to use, skipped and counted


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """How the last poll of one source (and cluster) went; drives adoption_collector_*."""

    source: str  # "kubernetes" (later "github")
    kube_cluster: str  # cluster name; "" for sources that are not clusters
    up: bool
    last_success: float | None
    poll_duration: float
    errors_total: int
    objects: Mapping[str, int] = field(default_factory=dict)
    skipped: int = 0

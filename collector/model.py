"""The compact records every layer shares.

Sources turn API objects into these as early as possible and drop everything
else, so a poll of tens of thousands of objects holds only what the pipeline
reads. Records are immutable and slotted: cheap to keep, safe to share between
the poll thread and the snapshot being rendered.

The records a cluster poll builds by the tens of thousands (`FieldManager`,
`Namespace`, `Workload`) are msgspec Structs untracked by the garbage collector
(gc=False: they hold only strings, floats, str->str mappings and tuples of each
other, so they can form no cycle): a tenth of the cost of a frozen dataclass to
build, and never scanned by a collection while a poll holds them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import msgspec


class Path(StrEnum):
    GOLDEN = "golden"
    SHADOW = "shadow"


class RepoPath(StrEnum):
    GOLDEN = "golden"
    SHADOW = "shadow"  # builds or deploys its own way: has workflows, none golden
    OTHER = "other"  # no golden signal and no workflow at all


class DeployTool(StrEnum):
    HELM = "helm"
    ARGOCD = "argocd"
    FLUX = "flux"
    KUBECTL = "kubectl"
    TERRAFORM = "terraform"
    PULUMI = "pulumi"
    OTHER = "other"
    UNKNOWN = "unknown"


class FieldManager(msgspec.Struct, frozen=True, gc=False):
    """One `metadata.managedFields` entry, reduced to what deploy-tool detection reads."""

    manager: str
    time: float | None  # unix seconds; None when absent or unparsable
    owns_spec: bool  # the entry owns fields under f:spec


class Namespace(msgspec.Struct, frozen=True, gc=False):
    name: str
    labels: Mapping[str, str]
    created: float | None  # unix seconds; None when absent or unparsable


class Workload(msgspec.Struct, frozen=True, gc=False):
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
    # metadata.generation: rises by one with every change of the spec, which is what a
    # deploy is (collector/deploys.py); None when absent.
    generation: int | None = None
    uid: str | None = None  # metadata.uid: tells a recreated workload from the one it replaces


@dataclass(frozen=True, slots=True)
class ClusterObservation:
    """Everything one successful poll of one cluster saw."""

    cluster: str
    namespaces: tuple[Namespace, ...]
    # A list from the source, so that whoever is done with it can free it a step at a time
    # (pipeline.release); nothing else changes it.
    workloads: Sequence[Workload]
    objects: Mapping[str, int] = field(default_factory=dict)  # kind -> objects read
    skipped: int = 0  # objects too malformed to use, skipped and counted
    forbidden: tuple[str, ...] = ()  # kinds RBAC refused to list, left out of the workloads


@dataclass(frozen=True, slots=True)
class Component:
    """A Backstage `Component` entity: from a repository's catalog-info.yaml or the catalog API."""

    name: str  # metadata.name
    owner: str | None  # spec.owner, an entity reference as written
    source_template: str | None  # annotation backstage.io/source-template
    kubernetes_id: str | None  # annotation backstage.io/kubernetes-id
    label_selector: str | None  # annotation backstage.io/kubernetes-label-selector
    # annotation backstage.io/kubernetes-namespace: only workloads in it are selected
    kubernetes_namespace: str | None = None
    # owner/name from github.com/project-slug (or a GitHub source-location), as written
    repository: str | None = None


@dataclass(frozen=True, slots=True)
class Group:
    """A Backstage `Group` entity: one node of the team hierarchy."""

    name: str  # normalised like every team
    parent: str | None  # spec.parent, normalised; None for a top-level Group
    display_name: str | None  # spec.profile.displayName


@dataclass(frozen=True, slots=True)
class CatalogObservation:
    """What one poll of the Backstage catalog read: every Component and Group."""

    components: tuple[Component, ...]
    groups: tuple[Group, ...]
    objects: Mapping[str, int] = field(default_factory=dict)  # kind -> entities read
    skipped: int = 0  # entities too malformed to use


@dataclass(frozen=True, slots=True)
class Repository:
    """One repository of the organisation, read from its default branch."""

    full_name: str  # owner/name
    created: float | None  # unix seconds
    pushed: float | None  # unix seconds; None for a repository never pushed to
    archived: bool
    template: str | None  # owner/name of the template it was generated from
    components: tuple[Component, ...]
    workflow_files: int  # .github/workflows/*.yml|*.yaml files present
    workflow_uses: tuple[str, ...]  # every job's `uses:`, e.g. o/r/.github/workflows/f.yml@v1
    property_team: str | None = None  # the ownership.github_property custom property


@dataclass(frozen=True, slots=True)
class RateLimit:
    resource: str  # "core" (REST) or "graphql": GitHub budgets them separately
    remaining: int
    limit: int
    reset: float  # unix seconds


@dataclass(frozen=True, slots=True)
class GitHubObservation:
    """What one scan of the organisation knows; details of unchanged repositories
    come from the previous scan, so this is always the whole organisation so far."""

    org: str
    repositories: tuple[Repository, ...]
    # False when the scan stopped early (rate-limit reserve, deadline) or GitHub could not
    # return some repositories: those not read are missing or stale until a later scan.
    complete: bool = True
    objects: Mapping[str, int] = field(default_factory=dict)  # kind -> held: repositories, files
    parse_errors: int = 0  # files that failed to parse in this scan
    skipped: int = 0  # listed items too malformed to use
    rate_limits: tuple[RateLimit, ...] = ()


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """How the last poll of one source (and cluster) went; drives adoption_collector_*."""

    source: str  # "kubernetes", "github" or "backstage"
    kube_cluster: str  # cluster name; "" for sources that are not clusters
    up: bool
    last_success: float | None
    poll_duration: float
    errors_total: int
    objects: Mapping[str, int] = field(default_factory=dict)
    skipped: int = 0
    parse_errors_total: int | None = None  # files not parsed, since start; None: reads no files
    complete: bool = True  # False: the last poll stopped early (GitHub rate-limit reserve)
    interval: float = 0.0  # seconds between polls, as configured
    rate_limits: tuple[RateLimit, ...] = ()
    forbidden: tuple[str, ...] = ()  # kinds the last good poll was refused (RBAC), left out

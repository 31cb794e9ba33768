"""The compact records every layer shares.

Sources turn API objects into these as early as possible and drop everything
else, so a poll of tens of thousands of objects holds only what the pipeline
reads. Records are immutable and slotted: cheap to keep, safe to share between
the poll thread and the snapshot being rendered.

The records a cluster poll reads by the tens of thousands (`Namespace`,
`Workload` and the `FieldManager`s in it) are what msgspec decodes the API's
list pages into, fields named as the API names them: no pass converts them, and
properties (`created`, `labels`, `managers`, ...) give them the shape the rest of
the collector reads. They are untracked by the garbage collector (gc=False: they
hold only strings, times, str->str mappings and tuples of each other, so they can
form no cycle), and a poll hands them on a page at a time (`WorkloadSink`).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Protocol, cast

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


class _Present(msgspec.Struct, frozen=True, gc=False):
    """Any JSON object, its content skipped: decoding it builds nothing but this."""


PRESENT = _Present()


class FieldsV1(msgspec.Struct, frozen=True, gc=False):
    spec: _Present | None = msgspec.field(name="f:spec", default=None)


class FieldManager(msgspec.Struct, frozen=True, gc=False):
    """One `metadata.managedFields` entry, as decoded: what deploy-tool detection reads."""

    manager: str = ""  # "" when the entry names none: such an entry is never read
    timestamp: dt.datetime | None = msgspec.field(name="time", default=None)
    fields: FieldsV1 | None = msgspec.field(name="fieldsV1", default=None)

    @property
    def time(self) -> float | None:
        """Unix seconds; None when absent or unparsable."""
        return epoch(self.timestamp)

    @property
    def owns_spec(self) -> bool:
        """The entry owns fields under f:spec."""
        return self.fields is not None and self.fields.spec is not None


class OwnerReference(msgspec.Struct, frozen=True, gc=False):
    kind: str | None = None
    controller: bool | None = None


class Annotations(msgspec.Struct, frozen=True, gc=False):
    """The annotations some golden path reads, and no others: a read-only mapping.

    Each source decodes a subclass of its own whose fields are those keys
    (`annotations_type`), so msgspec skips every other annotation, 256 KiB of
    last-applied configuration included, without building it."""

    # key -> field, of each subclass (annotations_type); a class attribute, not a field.
    by_key: ClassVar[dict[str, str]] = {}

    def get(self, key: str, default: str | None = None) -> str | None:
        name = self.by_key.get(key)
        value = None if name is None else getattr(self, name)
        return default if value is None else cast(str, value)

    def __getitem__(self, key: str) -> str:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def __iter__(self) -> Iterator[str]:
        return (key for key, value in self._pairs() if value is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def keys(self) -> list[str]:
        return list(self)

    def items(self) -> list[tuple[str, str]]:
        return [(key, value) for key, value in self._pairs() if value is not None]

    def values(self) -> list[str]:
        return [value for _, value in self.items()]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Annotations | Mapping):
            return dict(self.items()) == dict(other.items())
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self.items()))

    def __repr__(self) -> str:
        return repr(dict(self.items()))

    def _pairs(self) -> Iterator[tuple[str, str | None]]:
        for key, name in self.by_key.items():
            yield key, getattr(self, name)


Mapping.register(Annotations)  # a Struct cannot also subclass Mapping (metaclasses)
NO_ANNOTATIONS = Annotations()
# A plain dict, not a MappingProxyType: JSON-serialisable; `Mapping` keeps it unchanged.
_NO_LABELS: Mapping[str, str] = {}


@functools.lru_cache(maxsize=64)
def annotations_type(keys: tuple[str, ...]) -> type[Annotations]:
    """The annotations struct of exactly `keys`: field `a<i>` is `keys[i]`."""
    if not keys:
        return Annotations
    fields = [
        (f"a{i}", str | None, msgspec.field(name=key, default=None)) for i, key in enumerate(keys)
    ]
    made = cast(
        type[Annotations],
        msgspec.defstruct("Annotations", fields, bases=(Annotations,), frozen=True, gc=False),
    )
    made.by_key = {key: f"a{i}" for i, key in enumerate(keys)}
    return made


class ObjectMeta(msgspec.Struct, frozen=True, gc=False):
    """What a namespace's and a workload's `metadata` have in common, as decoded."""

    name: str = ""  # an object without a name is skipped by the source
    creation: dt.datetime | None = msgspec.field(name="creationTimestamp", default=None)
    label_map: dict[str, str] | None = msgspec.field(name="labels", default=None)

    @property
    def created(self) -> float | None:
        """Unix seconds; None when absent or unparsable."""
        return epoch(self.creation)

    @property
    def labels(self) -> Mapping[str, str]:
        return self.label_map or _NO_LABELS


class Workload(ObjectMeta, frozen=True, gc=False):
    """A workload's metadata, decoded straight from a list page: the record itself.

    Only the fields the collector reads are declared; msgspec skips the rest without
    building them. Each kind decodes into a subclass of its own (`workload_type`),
    whose `kind` default names it, so a record carries its kind for free. The raw
    JSON shapes stay as decoded; the properties below read them."""

    kind: str = ""  # Deployment, StatefulSet, DaemonSet, CronJob, Job
    namespace: str = ""  # a workload without one is skipped by the source, as without a name
    # metadata.uid: tells a recreated workload from the one it replaces
    uid: str | None = None
    # metadata.generation: rises by one with every change of the spec, which is what a
    # deploy is (collector/deploys.py); None when absent.
    generation: int | None = None
    # Only the annotation keys some golden path reads are kept.
    annotation_map: Annotations | None = msgspec.field(name="annotations", default=None)
    managed_fields: tuple[FieldManager, ...] | None = msgspec.field(
        name="managedFields", default=None
    )
    owner_references: tuple[OwnerReference, ...] | None = msgspec.field(
        name="ownerReferences", default=None
    )

    @property
    def annotations(self) -> Mapping[str, str]:
        # `is None`, not `or`: the truth of an Annotations struct counts its keys.
        found = self.annotation_map
        return cast(Mapping[str, str], NO_ANNOTATIONS if found is None else found)

    @property
    def managers(self) -> tuple[FieldManager, ...]:
        return self.managed_fields or ()

    @property
    def controller_kind(self) -> str | None:
        """Kind of the controlling ownerReference (e.g. "CronJob" for a Job a CronJob
        spawned); None for objects nobody controls."""
        for ref in self.owner_references or ():
            if ref.controller is True:
                return ref.kind
        return None

    def _value(self) -> tuple[object, ...]:
        managers = tuple((m.manager, m.time, m.owns_spec) for m in self.managers if m.manager)
        return (
            self.kind, self.namespace, self.name, self.created, dict(self.labels),
            dict(self.annotations.items()), managers, self.controller_kind, self.generation,
            self.uid,
        )  # fmt: skip

    def __eq__(self, other: object) -> bool:
        # By value: records of one workload are equal whichever struct decoded them.
        if isinstance(other, Workload):
            return self._value() == other._value()
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.kind, self.namespace, self.name, self.uid))


@functools.lru_cache(maxsize=256)
def workload_type(kind: str, annotation_keys: tuple[str, ...] = ()) -> type[Workload]:
    """The record type a list page of `kind` decodes into, reading `annotation_keys`."""
    fields: list[tuple[str, Any, Any]] = [("kind", str, kind)]
    if annotation_keys:
        annotations = annotations_type(annotation_keys)
        fields.append(
            ("annotation_map", annotations | None, msgspec.field(name="annotations", default=None))
        )
    made = msgspec.defstruct(kind, fields, bases=(Workload,), frozen=True, gc=False)
    return cast(type[Workload], made)


def epoch(value: dt.datetime | None) -> float | None:
    """Unix seconds of a decoded timestamp; one without a zone is UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    try:
        return value.timestamp()
    except (OverflowError, OSError, ValueError):
        return None


def moment(seconds: float | None) -> dt.datetime | None:
    """The timestamp of unix `seconds`, as a decoded one would be."""
    return None if seconds is None else dt.datetime.fromtimestamp(seconds, dt.UTC)


def field_manager(manager: str, time: float | None, owns_spec: bool) -> FieldManager:
    """An entry as a list page would decode it (tests, simulators, other sources)."""
    return FieldManager(manager, moment(time), FieldsV1(PRESENT if owns_spec else None))


def workload(  # noqa: PLR0917 (the record's own field order, as tests write records)
    kind: str,
    namespace: str,
    name: str,
    created: float | None,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    managers: tuple[FieldManager, ...],
    controller_kind: str | None = None,
    generation: int | None = None,
    uid: str | None = None,
) -> Workload:
    """A record as a list page would decode it (tests, simulators, other sources)."""
    keys = tuple(sorted(annotations))
    owners = None if controller_kind is None else (OwnerReference(controller_kind, True),)
    return workload_type(kind, keys)(
        name=name,
        namespace=namespace,
        uid=uid,
        generation=generation,
        creation=moment(created),
        label_map=dict(labels) or None,
        annotation_map=annotations_type(keys)(*(annotations[k] for k in keys)) if keys else None,
        managed_fields=managers or None,
        owner_references=owners,
    )


class Namespace(ObjectMeta, frozen=True, gc=False):
    """A namespace's metadata, decoded straight from a list page: the record itself."""

    def __eq__(self, other: object) -> bool:
        # By value, as Workload: a missing time or labels equal unparsable or empty ones.
        if isinstance(other, Namespace):
            mine = (self.name, self.created, dict(self.labels))
            return mine == (other.name, other.created, dict(other.labels))
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.name)


def namespace(name: str, labels: Mapping[str, str], created: float | None) -> Namespace:
    """A record as a list page would decode it (tests, simulators, other sources)."""
    return Namespace(name, moment(created), dict(labels) or None)


class WorkloadSink(Protocol):
    """Takes a cluster poll's records as they are read, a page at a time, so that no poll
    holds every record at once (`KubernetesSource.poll`). One list at a time: `begin`, then
    its pages; a list may begin again (its continue token expired), and what it gave
    before then no longer counts."""

    def namespaces(self, found: Sequence[Namespace]) -> None:
        """The poll's namespaces, before any workload."""

    def begin(self, kind: str, scope: str) -> None:
        """A list of `kind` in `scope` starts, or starts over."""

    def add(self, records: list[Workload]) -> None:
        """One page of the current list."""

    def discard(self, kind: str) -> None:
        """RBAC refused some list of `kind`: none of it counts."""


@dataclass(frozen=True, slots=True)
class ClusterObservation:
    """Everything one successful poll of one cluster saw."""

    cluster: str
    namespaces: tuple[Namespace, ...]
    # Empty when the poll handed its workloads to a sink (`WorkloadSink`) as it read them.
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

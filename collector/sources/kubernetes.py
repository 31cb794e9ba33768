"""The Kubernetes source: lists namespaces and workloads of one cluster, as compact records.

This is the I/O edge and the hot path. Lists are requested metadata-only
(PartialObjectMetadataList): the collector reads nothing from spec or status,
and it keeps pages several times smaller. Raw bytes are decoded by msgspec
straight into typed structs that declare only the fields the collector reads
(everything else is skipped unparsed), then reduced to `model` records; the
client's model classes are never built for lists (they cost more than the whole
rest of a poll).

A page msgspec cannot take whole (an object of the wrong shape, a lone surrogate,
NaN, bytes that are not UTF-8: nothing a real API server sends) is decoded again
the old way, `json.loads` and checks on every value, so odd objects are skipped
and counted, and malformed pages rejected, exactly as they always were.
"""

from __future__ import annotations

import datetime as dt
import functools
import gc
import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Generic, TypeVar

import kubernetes
import msgspec
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)

from collector import __version__, config
from collector.model import ClusterObservation, FieldManager, Namespace, Workload
from collector.sources import PollDeadline, PollError, RequestLimit, kubeauth

__all__ = ["KubernetesSource", "PollError"]

log = logging.getLogger(__name__)

METADATA_ACCEPT = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
OBJECT_METADATA_ACCEPT = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
MAX_RESTARTS = 3  # a list whose continue token expires this many times in a row fails
MAX_THROTTLE_RETRIES = 3
MAX_RETRY_AFTER = 10.0  # seconds; a longer Retry-After is cut to this
DEFAULT_RETRY_AFTER = 1.0
BODY_CHUNK = 256 * 1024  # bytes read at a time, each read bounded by what is left of the time


@dataclass(frozen=True, slots=True)
class _Endpoint:
    path: str  # cluster-wide list
    resource: str  # as RBAC and error messages name it, e.g. deployments.apps
    scope: str = "at cluster scope"

    def in_namespace(self, namespace: str) -> _Endpoint:
        """The same list restricted to one namespace, which a namespaced Role can grant."""
        group, _, plural = self.path.rpartition("/")
        return _Endpoint(
            f"{group}/namespaces/{namespace}/{plural}", self.resource, f"in namespace {namespace}"
        )


_ENDPOINTS: dict[str, _Endpoint] = {
    "Namespace": _Endpoint("/api/v1/namespaces", "namespaces"),
    "Deployment": _Endpoint("/apis/apps/v1/deployments", "deployments.apps"),
    "StatefulSet": _Endpoint("/apis/apps/v1/statefulsets", "statefulsets.apps"),
    "DaemonSet": _Endpoint("/apis/apps/v1/daemonsets", "daemonsets.apps"),
    "CronJob": _Endpoint("/apis/batch/v1/cronjobs", "cronjobs.batch"),
    "Job": _Endpoint("/apis/batch/v1/jobs", "jobs.batch"),
}

# Shared by every record without labels or annotations. A plain dict, not a
# MappingProxyType, so records stay picklable and JSON-serialisable; `Mapping` in
# the model is what keeps it unmutated.
_EMPTY: Mapping[str, str] = {}


class _Expired(Exception):
    """The continue token of a list expired (410): the list must start over."""


class _OutOfTime(Exception):
    """A request's budget ran out while its body was still coming in."""


class _Forbidden(PollError):
    """RBAC refused one list (403). `permission` names the missing grant, for the log."""

    def __init__(self, message: str, permission: str) -> None:
        super().__init__(message)
        self.permission = permission


def _seconds(value: float) -> str:
    return f"{value:g}s"


# --- what a list page is decoded into ------------------------------------------------
#
# Only the fields the collector reads, each typed as a real API server sends it; msgspec
# skips every other field without building it. A value of any other type fails the page
# (msgspec.ValidationError), which then takes the old path (`_Parser.namespace`,
# `_Parser.workload` on `json.loads` output) and its per-value checks. gc=False: a decoded
# page is a tree, it can form no cycle.

# Both ways of decoding a page say the same of one without items.
_NOT_A_LIST = "the response is not a list (no items)"
_NO_SPEC = msgspec.Raw()  # fieldsV1 without "f:spec"; a present one is never empty


class _FieldsV1(msgspec.Struct, frozen=True, gc=False):
    # Raw: only whether the key is there counts, so its value is skipped, not built.
    spec: msgspec.Raw = msgspec.field(name="f:spec", default=_NO_SPEC)


class _ManagedField(msgspec.Struct, frozen=True, gc=False):
    manager: str | None = None
    time: dt.datetime | None = None
    fieldsV1: _FieldsV1 | None = None


class _OwnerReference(msgspec.Struct, frozen=True, gc=False):
    kind: str | None = None
    controller: bool | None = None


# Timestamps are parsed by msgspec, in C, as it decodes. One it cannot parse fails the
# page's typed decoding, and the page is decoded the old way, where such a time is None.
class _NamespaceMeta(msgspec.Struct, frozen=True, gc=False):
    name: str | None = None
    creationTimestamp: dt.datetime | None = None
    labels: dict[str, str] | None = None


class _WorkloadMeta(msgspec.Struct, frozen=True, gc=False):
    name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    generation: int | None = None
    creationTimestamp: dt.datetime | None = None
    labels: dict[str, str] | None = None
    # Each source decodes a subclass whose `annotations` is a struct of just the keys its
    # golden paths read (`_annotations_struct`): the rest, 256 KiB of last-applied
    # configuration included, is skipped. None here: no key is read.
    annotations: msgspec.Struct | None = None
    managedFields: list[_ManagedField] | None = None
    ownerReferences: list[_OwnerReference] | None = None


_M = TypeVar("_M")


class _Item(msgspec.Struct, Generic[_M], frozen=True, gc=False):
    metadata: _M | None = None


class _ListMeta(msgspec.Struct, frozen=True, gc=False):
    continue_: str | None = msgspec.field(name="continue", default=None)


class _Page(msgspec.Struct, Generic[_M], frozen=True, gc=False):
    # UNSET: no "items" at all, not a list; None: the real server's "items": null.
    items: list[_Item[_M]] | msgspec.UnsetType | None = msgspec.UNSET
    metadata: _ListMeta | None = None


def _annotations_struct(keys: tuple[str, ...]) -> type[msgspec.Struct]:
    """A struct of the annotation `keys`, in order: field `a<i>` is `keys[i]`."""
    fields = [
        (f"a{i}", str | None, msgspec.field(name=key, default=None)) for i, key in enumerate(keys)
    ]
    return msgspec.defstruct("_Annotations", fields, frozen=True, gc=False)


@functools.lru_cache(maxsize=32)
def _decoders(
    annotation_keys: tuple[str, ...],
) -> tuple[msgspec.json.Decoder[_Page[_NamespaceMeta]], msgspec.json.Decoder[_Page[_WorkloadMeta]]]:
    """Decoders of namespace and workload pages; reusable, shared by every source and
    thread (decoding keeps no state between calls)."""
    meta: Any = _WorkloadMeta
    if annotation_keys:
        annotations = _annotations_struct(annotation_keys)
        meta = msgspec.defstruct(
            "_WorkloadMeta",
            [("annotations", annotations | None, None)],
            bases=(_WorkloadMeta,),
            frozen=True,
            gc=False,
        )
    return (
        msgspec.json.Decoder(_Page[_NamespaceMeta]),
        msgspec.json.Decoder(_Page[meta]),
    )


def _utf8(body: bytes) -> bool:
    """Whether `json.loads` can decode `body` as UTF-8: msgspec checks only the strings it
    builds, not those it skips."""
    if body.isascii():  # the usual page; no copy
        return True
    try:
        body.decode("utf-8", "surrogatepass")  # as json.loads does
    except UnicodeDecodeError:
        return False
    return True


class _GcPause:
    """Pauses the cyclic garbage collector while pages are parsed.

    Decoded structs and records are untracked, but a page still allocates a list or
    two per object (managedFields, ownerReferences, the records' tuples), which
    triggers collections that find nothing: nothing parsed forms cycles. Measured
    with the typed decoder at 50,000 workloads: a poll takes 8% longer without the
    pause (0.54 s against 0.50 s), and a whole cycle without this and the pipeline's
    pause spends 50 ms in ~600 collections, five of them full ones holding the GIL
    ~9 ms each (with `json.loads` dicts it was 1.7 s and 70-90 ms each). gc is
    process-wide and several clusters are polled concurrently, so pauses are counted
    and gc comes back only when the last one ends, and only if it was on to begin
    with. This is the module's one piece of shared state, because gc is the process's.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._was_enabled = False

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._depth == 0:
                self._was_enabled = gc.isenabled()
                gc.disable()
            self._depth += 1
        try:
            yield
        finally:
            with self._lock:
                self._depth -= 1
                if self._depth == 0 and self._was_enabled:
                    gc.enable()


gc_paused = _GcPause()


_T = TypeVar("_T")


class _Parser:
    """Turns list items into records: decoded metadata structs (`namespace_meta`,
    `workload_meta`), or, for a page msgspec could not take, `json.loads` items checked
    value by value (`namespace`, `workload`). Both make the same record of the same
    object, timestamps included: both parse them with msgspec. One per poll: it counts
    the objects skipped."""

    def __init__(self, annotation_keys: tuple[str, ...]) -> None:
        self.annotation_keys = annotation_keys
        self.skipped = 0
        # The fields of the decoded annotations struct, in the order of annotation_keys.
        self._annotation_fields = tuple((key, f"a{i}") for i, key in enumerate(annotation_keys))

    @staticmethod
    def time(value: object) -> float | None:
        """RFC 3339, as Kubernetes writes times, parsed by the same code as typed pages."""
        if not isinstance(value, str):
            return None
        try:
            return _epoch(msgspec.convert(value, dt.datetime))
        except msgspec.ValidationError:
            return None

    @staticmethod
    def labels(value: object) -> Mapping[str, str]:
        if not isinstance(value, dict) or not value:
            return _EMPTY
        intern = sys.intern
        out: dict[str, str] = {}
        for key, item in value.items():
            if isinstance(item, str):
                out[intern(key)] = intern(item)
            elif isinstance(
                item, bool
            ):  # not from a real API server; keep it the way YAML wrote it
                out[intern(key)] = "true" if item else "false"
            elif isinstance(item, int | float):
                out[intern(key)] = str(item)
        return out or _EMPTY

    def annotations(self, value: object) -> Mapping[str, str]:
        # Look up the few wanted keys rather than walk annotations, which may be huge.
        if not self.annotation_keys or not isinstance(value, dict):
            return _EMPTY
        out = {k: v for k in self.annotation_keys if isinstance(v := value.get(k), str)}
        return out or _EMPTY

    def managers(self, value: object) -> tuple[FieldManager, ...]:
        if not isinstance(value, list):
            return ()
        found = []
        for entry in value:
            if not isinstance(entry, dict) or not isinstance(name := entry.get("manager"), str):
                continue
            fields = entry.get("fieldsV1")
            owns_spec = isinstance(fields, dict) and "f:spec" in fields
            found.append(FieldManager(sys.intern(name), self.time(entry.get("time")), owns_spec))
        return tuple(found)

    @staticmethod
    def controller_kind(value: object) -> str | None:
        if isinstance(value, list):
            for ref in value:
                if isinstance(ref, dict) and ref.get("controller") is True:
                    kind = ref.get("kind")
                    return sys.intern(kind) if isinstance(kind, str) else None
        return None

    @staticmethod
    def generation(value: object) -> int | None:
        # bool is an int to Python, not to the API; and msgspec's typed path takes no bool.
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def namespace(self, _kind: str, item: object) -> Namespace | None:
        meta = item.get("metadata") if isinstance(item, dict) else None
        name = meta.get("name") if isinstance(meta, dict) else None
        if not isinstance(meta, dict) or not isinstance(name, str) or not name:
            self.skipped += 1
            return None
        created = self.time(meta.get("creationTimestamp"))
        return Namespace(sys.intern(name), self.labels(meta.get("labels")), created)

    def workload(self, kind: str, item: object) -> Workload | None:
        meta = item.get("metadata") if isinstance(item, dict) else None
        if not isinstance(meta, dict):
            self.skipped += 1
            return None
        name, namespace = meta.get("name"), meta.get("namespace")
        if not isinstance(name, str) or not name or not isinstance(namespace, str) or not namespace:
            self.skipped += 1
            return None
        return Workload(
            kind=kind,
            namespace=sys.intern(namespace),
            name=name,
            created=self.time(meta.get("creationTimestamp")),
            labels=self.labels(meta.get("labels")),
            annotations=self.annotations(meta.get("annotations")),
            managers=self.managers(meta.get("managedFields")),
            controller_kind=self.controller_kind(meta.get("ownerReferences")),
            generation=self.generation(meta.get("generation")),
            uid=uid if isinstance(uid := meta.get("uid"), str) and uid else None,
        )

    # --- decoded structs: every value already has the type the API gives it ----------

    def namespace_meta(self, _kind: str, meta: _NamespaceMeta | None) -> Namespace | None:
        if meta is None or not meta.name:
            self.skipped += 1
            return None
        return Namespace(
            sys.intern(meta.name), self.str_labels(meta.labels), _epoch(meta.creationTimestamp)
        )

    def workload_meta(self, kind: str, meta: _WorkloadMeta | None) -> Workload | None:
        if meta is None or not meta.name or not meta.namespace:
            self.skipped += 1
            return None
        annotations: Mapping[str, str] = _EMPTY
        if meta.annotations is not None:
            found = {
                key: value
                for key, field in self._annotation_fields
                if (value := getattr(meta.annotations, field)) is not None
            }
            annotations = found or _EMPTY
        managers: tuple[FieldManager, ...] = ()
        if meta.managedFields:
            managers = self.decoded_managers(meta.managedFields)
        controller_kind = None
        for ref in meta.ownerReferences or ():
            if ref.controller is True:
                controller_kind = None if ref.kind is None else sys.intern(ref.kind)
                break
        return Workload(
            kind,
            sys.intern(meta.namespace),
            meta.name,
            _epoch(meta.creationTimestamp),
            self.str_labels(meta.labels),
            annotations,
            managers,
            controller_kind,
            meta.generation,
            meta.uid or None,
        )

    @staticmethod
    def str_labels(value: dict[str, str] | None) -> Mapping[str, str]:
        """The decoded dict itself, its values interned: the keys are already shared
        (msgspec caches the keys it decodes), and a copy would cost time and memory."""
        if not value:
            return _EMPTY
        intern = sys.intern
        for key, item in value.items():
            value[key] = intern(item)  # same keys: the dict's size never changes
        return value

    @staticmethod
    def decoded_managers(entries: list[_ManagedField]) -> tuple[FieldManager, ...]:
        # No cache of equal entries, unlike the old path: their times are nearly all
        # distinct, so a cache held more memory at the poll's peak than it saved.
        intern = sys.intern
        return tuple(
            FieldManager(
                intern(entry.manager),
                _epoch(entry.time),
                entry.fieldsV1 is not None and len(entry.fieldsV1.spec) > 0,
            )
            for entry in entries
            if entry.manager is not None
        )


def _epoch(value: dt.datetime | None) -> float | None:
    """Unix seconds of a decoded timestamp; one without a zone is UTC, as on the old path."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    try:
        return value.timestamp()
    except (OverflowError, OSError, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class _Reader(Generic[_M, _T]):
    """How one kind's list pages become records: the typed decoder and what turns its
    metadata into a record, and the old path for a page the decoder cannot take."""

    decoder: msgspec.json.Decoder[_Page[_M]]
    decoded: Callable[[str, _M | None], _T | None]
    loose: Callable[[str, object], _T | None]


def _retry_after(value: str | None) -> float:
    if not value:
        return DEFAULT_RETRY_AFTER
    try:
        seconds = float(value)
    except ValueError:
        try:  # the HTTP-date form
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return DEFAULT_RETRY_AFTER
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _redact(client: Any, text: str) -> str:
    """Servers and proxies sometimes echo request headers in errors: never repeat a token."""
    token = str(client.configuration.api_key.get("BearerToken") or "")
    secret = token.removeprefix("Bearer ").strip()
    return text.replace(secret, "[redacted]") if len(secret) >= 4 else text


def _server_message(body: bytes) -> str:
    try:
        status = json.loads(body)
    except ValueError:
        status = None
    if isinstance(status, dict) and isinstance(status.get("message"), str):
        return str(status["message"])
    text = body[:200].decode("utf-8", "replace").strip()
    return text or "(empty body)"


class KubernetesSource:
    """Polls one cluster. Safe to share between threads: polls of one source run one at a time."""

    def __init__(
        self,
        cluster: config.Cluster,
        *,
        kinds: Sequence[str],
        annotation_keys: frozenset[str],
        timeout: float,
        poll_timeout: float = 120.0,
        page_size: int = 500,
        namespaces: Sequence[str] = (),
    ) -> None:
        """`timeout`: seconds per HTTP request, reading its body included; `poll_timeout`:
        seconds for a whole poll, waits for Retry-After included. `namespaces`: empty to
        list cluster-wide; else list only in these and get each of them (the permissions
        namespaced Roles can grant)."""
        unknown = [k for k in kinds if k not in _ENDPOINTS or k == "Namespace"]
        if unknown:
            raise ValueError(f"unsupported kinds: {', '.join(unknown)}")
        if not 0 < timeout <= poll_timeout:
            raise ValueError("timeout must be positive and at most poll_timeout")
        self.cluster = cluster
        self.kinds = tuple(dict.fromkeys(kinds))
        self.timeout = timeout
        self.poll_timeout = poll_timeout
        self.page_size = page_size
        self.namespaces = tuple(dict.fromkeys(namespaces))
        self._annotation_keys = tuple(sorted(annotation_keys))
        self._decoders = _decoders(self._annotation_keys)
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._client: Any = None
        self._deadline = PollDeadline("kubernetes", timeout, poll_timeout)
        self._token: kubeauth.BearerToken | None = None  # a token that changes, if any

    # --- public --------------------------------------------------------------------

    def poll(self) -> ClusterObservation:
        with self._lock:
            if self._closed.is_set():
                raise PollError(f"cluster {self.cluster.name}: the source is closed")
            self._deadline.start()
            client = self._client if self._client is not None else self._connect()
            parser = _Parser(self._annotation_keys)
            namespace_reader = _Reader(self._decoders[0], parser.namespace_meta, parser.namespace)
            workload_reader = _Reader(self._decoders[1], parser.workload_meta, parser.workload)
            objects: dict[str, int] = {}
            workloads: list[Workload] = []
            refused: list[_Forbidden] = []
            forbidden: list[str] = []
            if self.namespaces:
                namespaces = self._get_namespaces(client, parser, objects)
            else:
                namespaces = self._list(client, "Namespace", namespace_reader, objects)
            for kind in self.kinds:
                found = self._list_kind(client, kind, workload_reader, objects, refused)
                if found is None:
                    forbidden.append(kind)
                else:
                    workloads.extend(found)
            for exc in refused:
                log.warning("cluster %s: %s", self.cluster.name, exc.permission)
            if len(forbidden) == len(self.kinds):
                granted = ", ".join(_ENDPOINTS[kind].resource for kind in forbidden)
                raise PollError(
                    f"cluster {self.cluster.name}: forbidden: cannot list any configured kind "
                    f"(grant get/list/watch on {granted})"
                )
            return ClusterObservation(
                cluster=self.cluster.name,
                namespaces=tuple(namespaces),
                workloads=workloads,
                objects=objects,
                skipped=parser.skipped,
                forbidden=tuple(forbidden),
            )

    def close(self) -> None:
        self._closed.set()  # also cuts short a Retry-After wait
        client, self._client = self._client, None
        if client is not None:
            client.close()

    # --- connection ----------------------------------------------------------------

    def _connect(self) -> Any:
        """The client, made at the first poll; a token that changes is fetched per request
        (`_authorize`), inside the poll's deadline."""
        client, self._token = kubeauth.connect(self.cluster)
        client.user_agent = f"adoption-collector/{__version__}"
        self._client = client
        return client

    def _authorize(self, client: Any) -> None:
        if self._token is not None:
            # A credential plugin gets what is left of the poll, not one request's timeout:
            # signing in (a browser-less SSO refresh) may well take longer than a list.
            limit = (
                f"the poll took longer than kubernetes.poll_timeout ({_seconds(self.poll_timeout)})"
            )
            token = self._token.get(self._deadline.end, limit)
            client.configuration.api_key["BearerToken"] = f"Bearer {token}"

    def _fail(self, client: Any, endpoint: _Endpoint, cause: str) -> PollError:
        return PollError(
            f"cluster {self.cluster.name}: list {endpoint.resource}: {_redact(client, cause)}"
        )

    def _forbidden(self, client: Any, endpoint: _Endpoint, body: bytes) -> _Forbidden:
        permission = _redact(client, self._describe(403, body, endpoint))
        message = f"cluster {self.cluster.name}: list {endpoint.resource}: {permission}"
        return _Forbidden(message, permission)

    # --- listing -------------------------------------------------------------------

    def _list_kind(
        self,
        client: Any,
        kind: str,
        reader: _Reader[_WorkloadMeta, Workload],
        objects: dict[str, int],
        refused: list[_Forbidden],
    ) -> list[Workload] | None:
        """Every workload of `kind`, or None when RBAC refused any list of it: then the
        kind is left out whole (the other kinds still count) and each refusal is added
        to `refused`."""
        endpoints = [_ENDPOINTS[kind].in_namespace(n) for n in self.namespaces]
        found: list[Workload] = []
        counted: dict[str, int] = {}
        denied = False
        for endpoint in endpoints or [_ENDPOINTS[kind]]:
            try:
                found.extend(self._list(client, kind, reader, counted, endpoint))
            except _Forbidden as exc:
                refused.append(exc)
                denied = True  # go on, so the log names every namespace refused
        if denied:
            return None
        if kind in counted:
            objects[kind] = counted[kind]
        return found

    def _list(
        self,
        client: Any,
        kind: str,
        reader: _Reader[Any, _T],
        objects: dict[str, int],
        endpoint: _Endpoint | None = None,
    ) -> list[_T]:
        endpoint = endpoint or _ENDPOINTS[kind]
        for _ in range(MAX_RESTARTS + 1):
            records: list[_T] = []
            read = 0
            token: str | None = None
            try:
                while True:
                    body = self._fetch(client, endpoint, token)
                    # One pause per page, covering both decoding and conversion.
                    with gc_paused():
                        count, token = self._read(
                            client, endpoint, body, kind=kind, reader=reader, records=records
                        )
                    read += count
                    if not token:
                        objects[kind] = objects.get(kind, 0) + read
                        return records
            except _Expired:
                continue  # the snapshot is gone: a consistent list must start over
        raise self._fail(
            client, endpoint, f"continue token expired {MAX_RESTARTS + 1} times in a row (410)"
        )

    def _get_namespaces(
        self, client: Any, parser: _Parser, objects: dict[str, int]
    ) -> list[Namespace]:
        found: list[Namespace] = []
        for name in self.namespaces:
            endpoint = _Endpoint(f"/api/v1/namespaces/{name}", "namespaces", f"named {name}")
            status, body = self._get(client, endpoint, [], OBJECT_METADATA_ACCEPT)
            if status == 404:
                log.warning("cluster %s: namespace %s does not exist", self.cluster.name, name)
                continue
            if status != 200:
                raise self._fail(client, endpoint, self._describe(status, body, endpoint))
            try:
                item = json.loads(body)
            except ValueError as exc:
                raise self._fail(
                    client, endpoint, f"malformed JSON in the response: {exc}"
                ) from None
            objects["Namespace"] = objects.get("Namespace", 0) + 1
            record = parser.namespace("Namespace", item)
            if record is not None:
                found.append(record)
        return found

    def _fetch(self, client: Any, endpoint: _Endpoint, token: str | None) -> bytes:
        params: list[tuple[str, str | int]] = [("limit", self.page_size)]
        if token:
            params.append(("continue", token))
        status, body = self._get(client, endpoint, params)
        if status == 410 and token:
            raise _Expired
        if status == 403:
            raise self._forbidden(client, endpoint, body)
        if status != 200:
            raise self._fail(client, endpoint, self._describe(status, body, endpoint))
        return body

    def _read(
        self,
        client: Any,
        endpoint: _Endpoint,
        body: bytes,
        *,
        kind: str,
        reader: _Reader[Any, _T],
        records: list[_T],
    ) -> tuple[int, str | None]:
        """Adds the records of one list page to `records`: (objects read, continue token
        or None)."""
        page: _Page[Any] | None = None
        if _utf8(body):
            try:
                page = reader.decoder.decode(body)
            except (msgspec.DecodeError, RecursionError) as exc:  # ValidationError included
                log.debug(
                    "cluster %s: list %s: a page decoded the slow way: %s",
                    self.cluster.name,
                    endpoint.resource,
                    exc,
                )
        if page is None:
            loose, token = self._decode(client, endpoint, body)
            for item in loose:
                record = reader.loose(kind, item)
                if record is not None:
                    records.append(record)
            return len(loose), token
        items = page.items
        if isinstance(items, msgspec.UnsetType):
            raise self._fail(client, endpoint, _NOT_A_LIST)
        items = items or []  # the real server sends "items": null for an empty list
        convert = reader.decoded
        for item in items:
            record = convert(kind, item.metadata)
            if record is not None:
                records.append(record)
        token = None if page.metadata is None else page.metadata.continue_
        return len(items), token or None

    def _decode(
        self, client: Any, endpoint: _Endpoint, body: bytes
    ) -> tuple[list[object], str | None]:
        """A list page -> (items, continue token or None)."""
        try:
            page = json.loads(body)
        except ValueError as exc:
            raise self._fail(client, endpoint, f"malformed JSON in the response: {exc}") from None
        items = page.get("items") if isinstance(page, dict) else None
        if items is None and isinstance(page, dict) and "items" in page:
            items = []  # the real server sends "items": null for an empty list
        if not isinstance(items, list):
            raise self._fail(client, endpoint, _NOT_A_LIST)
        metadata = page.get("metadata")
        next_token = metadata.get("continue") if isinstance(metadata, dict) else None
        return items, next_token if isinstance(next_token, str) and next_token else None

    def _get(
        self,
        client: Any,
        endpoint: _Endpoint,
        params: list[tuple[str, str | int]],
        accept: str = METADATA_ACCEPT,
    ) -> tuple[int, bytes]:
        renewed = False
        for attempt in range(MAX_THROTTLE_RETRIES + 1):
            status, headers, body = self._request(client, endpoint, params, accept)
            if status == 401 and not renewed and self._token is not None and self._token.refused():
                # As client-go: a refused token that can be renewed is, once per request.
                renewed = True
                status, headers, body = self._request(client, endpoint, params, accept)
            retry_after = headers.get("Retry-After")
            # As client-go: 429, and 5xx that say when to come back, are worth a wait.
            throttled = status == 429 or (status >= 500 and retry_after is not None)
            if not throttled or attempt == MAX_THROTTLE_RETRIES:
                return status, body
            wait = _retry_after(retry_after)
            if not self._deadline.fits(wait):
                # Waiting would only run into the deadline: fail now, and say why.
                raise self._fail(
                    client,
                    endpoint,
                    f"throttled ({status}): the server asked to wait {_seconds(wait)} "
                    "(Retry-After), more than is left of kubernetes.poll_timeout "
                    f"({_seconds(self.poll_timeout)}): {_server_message(body)}",
                )
            if self._closed.wait(wait):
                raise self._fail(client, endpoint, "the source was closed while waiting to retry")
        raise AssertionError("unreachable")

    def _request(
        self, client: Any, endpoint: _Endpoint, params: list[tuple[str, str | int]], accept: str
    ) -> tuple[int, Mapping[str, str], bytes]:
        self._authorize(client)
        method, url, headers, _, _ = client.param_serialize(
            "GET",
            endpoint.path,
            query_params=params,
            header_params={"Accept": accept},
            auth_settings=["BearerToken"],
        )
        budget = self._deadline.request()
        for attempt in range(2):
            left = budget.left()
            if left <= 0:
                raise self._fail(client, endpoint, f"timed out: {budget.limit}")
            try:
                response = client.call_api(
                    method, url, header_params=headers, _request_timeout=left
                )
                break
            except ProtocolError as exc:
                # A kept-alive connection the server or a load balancer dropped: once more.
                if attempt == 0:
                    continue
                cause = f"cannot reach the API server: the connection was dropped: {exc}"
            except NewConnectionError as exc:  # before the timeouts: it is one of them
                cause = f"cannot reach the API server: {exc}"
            except (ConnectTimeoutError, ReadTimeoutError):
                cause = f"timed out waiting for the response: {budget.limit}"
            except (HTTPError, OSError) as exc:
                cause = f"cannot reach the API server: {exc}"
            except kubernetes.client.ApiException as exc:  # TLS problems arrive as status 0
                # "SSLError\n[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: ..."
                reason = " ".join(str(exc.reason).split("\n")[1:]) or str(exc.reason)
                cause = f"cannot reach the API server: {reason}"
                if "CERTIFICATE_VERIFY_FAILED" in reason:
                    cause += " (check the cluster's certificate-authority in the kubeconfig)"
            raise self._fail(client, endpoint, cause) from None
        raw = response.response
        try:
            body = self._read_body(raw, budget)
        except (_OutOfTime, ReadTimeoutError):
            raw.close()
            raise self._fail(
                client, endpoint, f"timed out reading the response: {budget.limit}"
            ) from None
        except (HTTPError, OSError) as exc:
            raw.close()  # never hand a half-read connection back to the pool
            raise self._fail(client, endpoint, f"reading the response failed: {exc}") from None
        raw.release_conn()
        return int(response.status), raw.headers, body

    @staticmethod
    def _read_body(raw: Any, budget: RequestLimit) -> bytes:
        """The whole body, by the budget's end. urllib3's read timeout bounds each socket
        read only, so a body that trickles in would never trip it: every read here
        gets just what is left of the budget."""
        chunks: list[bytes] = []
        sock = getattr(raw.connection, "sock", None)
        while True:
            left = budget.left()
            if left <= 0:
                raise _OutOfTime
            if sock is not None:
                sock.settimeout(left)
            chunk = raw.read1(BODY_CHUNK)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)

    def _describe(self, status: int, body: bytes, endpoint: _Endpoint) -> str:
        message = _server_message(body)
        if status == 401:
            return (
                "unauthorized (401): the API server rejected the credentials; "
                f"check the token or certificate of cluster {self.cluster.name}"
            )
        if status == 403:
            return (
                f"forbidden: cannot list {endpoint.resource} {endpoint.scope} "
                f"(grant get/list/watch on {endpoint.resource}): {message}"
            )
        if status == 429:
            return f"throttled (429) {MAX_THROTTLE_RETRIES + 1} times in a row: {message}"
        if status == 404:
            return f"not found (404): is {endpoint.path} served by this cluster? {message}"
        if status >= 500:
            return f"server error ({status}): {message}"
        return f"unexpected HTTP status {status}: {message}"

"""The Kubernetes source: lists namespaces and workloads of one cluster, as compact records.

This is the I/O edge and the hot path. Lists are requested metadata-only
(PartialObjectMetadataList): the collector reads nothing from spec or status,
and it keeps pages several times smaller. Raw bytes are decoded by msgspec
straight into the `model` records, which declare only the fields the collector
reads (everything else is skipped unparsed), and handed on a page at a time; the
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
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Generic, TypeVar, cast

import kubernetes
import msgspec
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)

from collector import __version__, config, model
from collector.model import ClusterObservation, Namespace, Workload, WorkloadSink
from collector.sources import PollDeadline, PollError, RequestLimit, kubeauth

__all__ = ["KubernetesSource", "PollError"]

log = logging.getLogger(__name__)

METADATA_ACCEPT = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
OBJECT_METADATA_ACCEPT = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
MAX_RESTARTS = 3  # a list whose continue token expires this many times in a row fails
MAX_THROTTLE_RETRIES = 3
MAX_RETRY_AFTER = 10.0  # seconds; a longer Retry-After is cut to this
DEFAULT_RETRY_AFTER = 1.0
# Bytes read at a time, each read bounded by what is left of the time; under malloc's
# default mmap threshold (128 KiB), see `_read_body`.
BODY_CHUNK = 64 * 1024


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
# Workloads decode straight into their records (`model.workload_type`): only the fields
# the collector reads, each typed as a real API server sends it; msgspec skips every
# other field without building it. A value of any other type fails the page
# (msgspec.ValidationError), which then takes the old path (`_Parser.namespace`,
# `_Parser.workload` on `json.loads` output) and its per-value checks. gc=False: a decoded
# page is a tree, it can form no cycle.

# Both ways of decoding a page say the same of one without items.
_NOT_A_LIST = "the response is not a list (no items)"


_M = TypeVar("_M")


class _Item(msgspec.Struct, Generic[_M], frozen=True, gc=False):
    metadata: _M | None = None


class _ListMeta(msgspec.Struct, frozen=True, gc=False):
    continue_: str | None = msgspec.field(name="continue", default=None)


class _Page(msgspec.Struct, Generic[_M], frozen=True, gc=False):
    # UNSET: no "items" at all, not a list; None: the real server's "items": null.
    items: list[_Item[_M]] | msgspec.UnsetType | None = msgspec.UNSET
    metadata: _ListMeta | None = None


@functools.lru_cache(maxsize=256)
def _decoder(record: type[_M]) -> msgspec.json.Decoder[_Page[_M]]:
    """A decoder of list pages of `record`s; reusable, shared by every source and thread
    (decoding keeps no state between calls)."""
    return msgspec.json.Decoder(_Page[record])  # type: ignore[valid-type]


@dataclass(frozen=True, slots=True)
class _Taker(Generic[_M]):
    """Where one list's pages go: `begin()` as the list starts (again, when its continue
    token expired), then `decoded(items)` for each page, or `loose(items)` for a page
    msgspec could not take."""

    decoder: msgspec.json.Decoder[_Page[_M]]
    begin: Callable[[], None]
    decoded: Callable[[list[_Item[_M]]], None]
    loose: Callable[[list[object]], None]


def _utf8(body: bytes | bytearray) -> bool:
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

    Decoded records are untracked, but a page still allocates a list or tuple or two
    per object, which triggers collections that find nothing: nothing parsed forms
    cycles. Measured with records decoded straight from the pages and summarised page
    by page, at 50,000 workloads, in a process settled as the service's is
    (`service.settle_process`): without this and the pipeline's pause, a cycle costs
    3% more CPU (0.48 s against 0.47 s) and runs ~165 collections, 14 ms in all, one
    of them a full collection holding the GIL 5.5 ms, which scrapes wait out (30 ms
    without the start-up freeze; with `json.loads` dicts it was 1.7 s, and 70-90 ms
    per full collection).
    gc is process-wide and several clusters are polled concurrently, so pauses are
    counted and gc comes back only when the last one ends, and only if it was on to
    begin with. This is the module's one piece of shared state, because gc is the
    process's.
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


class _Parser:
    """Checks list items: decoded records (`decoded`, `decoded_namespaces`), or, for a
    page msgspec could not take, `json.loads` items checked value by value and built
    into records (`namespace`, `workload`). Both make the same record of the same
    object, timestamps included: both parse them with msgspec. One per poll: it
    counts the objects skipped."""

    def __init__(self, annotation_keys: tuple[str, ...]) -> None:
        self.annotation_keys = annotation_keys
        self.skipped = 0
        self._annotations = model.annotations_type(annotation_keys)

    @staticmethod
    def time(value: object) -> dt.datetime | None:
        """RFC 3339, as Kubernetes writes times, parsed by the same code as typed pages."""
        if not isinstance(value, str):
            return None
        try:
            moment = msgspec.convert(value, dt.datetime)
        except msgspec.ValidationError:
            return None
        # As model.epoch reads it: a time it cannot place is no time.
        return moment if model.epoch(moment) is not None else None

    @staticmethod
    def labels(value: object) -> dict[str, str] | None:
        if not isinstance(value, dict) or not value:
            return None
        out: dict[str, str] = {}
        for key, item in value.items():
            if isinstance(item, str):
                out[key] = item
            elif isinstance(item, bool):  # not from a real API server; as YAML wrote it
                out[key] = "true" if item else "false"
            elif isinstance(item, int | float):
                out[key] = str(item)
        return out or None

    def annotations(self, value: object) -> model.Annotations | None:
        # Look up the few wanted keys rather than walk annotations, which may be huge.
        if not self.annotation_keys or not isinstance(value, dict):
            return None
        found = [v if isinstance(v := value.get(k), str) else None for k in self.annotation_keys]
        return self._annotations(*found)

    def managers(self, value: object) -> tuple[model.FieldManager, ...] | None:
        if not isinstance(value, list):
            return None
        found = []
        for entry in value:
            if not isinstance(entry, dict) or not isinstance(name := entry.get("manager"), str):
                continue
            fields = entry.get("fieldsV1")
            owns_spec = isinstance(fields, dict) and "f:spec" in fields
            found.append(
                model.FieldManager(
                    name,
                    self.time(entry.get("time")),
                    model.FieldsV1(model.PRESENT if owns_spec else None),
                )
            )
        return tuple(found) or None

    @staticmethod
    def owners(value: object) -> tuple[model.OwnerReference, ...] | None:
        if isinstance(value, list):
            for ref in value:
                if isinstance(ref, dict) and ref.get("controller") is True:
                    kind = ref.get("kind")
                    return (model.OwnerReference(kind if isinstance(kind, str) else None, True),)
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
        return Namespace(
            name, self.time(meta.get("creationTimestamp")), self.labels(meta.get("labels"))
        )

    def workload(self, kind: str, item: object) -> Workload | None:
        meta = item.get("metadata") if isinstance(item, dict) else None
        if not isinstance(meta, dict):
            self.skipped += 1
            return None
        name, namespace = meta.get("name"), meta.get("namespace")
        if not isinstance(name, str) or not name or not isinstance(namespace, str) or not namespace:
            self.skipped += 1
            return None
        return model.workload_type(kind, self.annotation_keys)(
            name=name,
            namespace=namespace,
            uid=uid if isinstance(uid := meta.get("uid"), str) and uid else None,
            generation=self.generation(meta.get("generation")),
            creation=self.time(meta.get("creationTimestamp")),
            label_map=self.labels(meta.get("labels")),
            annotation_map=self.annotations(meta.get("annotations")),
            managed_fields=self.managers(meta.get("managedFields")),
            owner_references=self.owners(meta.get("ownerReferences")),
        )

    # --- decoded: every value already has the type the API gives it -----------------

    def decoded(self, items: list[_Item[Workload]], records: list[Workload]) -> None:
        """Adds the page's records to `records`: the decoded metadata themselves, those
        without a name or namespace skipped and counted."""
        before = len(records)
        records.extend(
            meta
            for item in items
            if (meta := item.metadata) is not None and meta.name and meta.namespace
        )
        self.skipped += len(items) - (len(records) - before)

    def decoded_namespaces(self, items: list[_Item[Namespace]], records: list[Namespace]) -> None:
        """As `decoded`, for namespaces."""
        before = len(records)
        records.extend(meta for item in items if (meta := item.metadata) is not None and meta.name)
        self.skipped += len(items) - (len(records) - before)


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


def _server_message(body: bytes | bytearray) -> str:
    try:
        status = json.loads(body)
    except ValueError:
        status = None
    if isinstance(status, dict) and isinstance(status.get("message"), str):
        return str(status["message"])
    text = body[:200].decode("utf-8", "replace").strip()
    return text or "(empty body)"


class _Collected:
    """The sink of a poll without one: holds every record, each list's latest start only."""

    def __init__(self) -> None:
        self._lists: dict[tuple[str, str], list[Workload]] = {}
        self._current: list[Workload] = []

    def namespaces(self, found: Sequence[Namespace]) -> None:
        pass

    def begin(self, kind: str, scope: str) -> None:
        self._current = self._lists[kind, scope] = []

    def add(self, records: list[Workload]) -> None:
        self._current.extend(records)

    def discard(self, kind: str) -> None:
        for key in [key for key in self._lists if key[0] == kind]:
            del self._lists[key]

    def workloads(self) -> list[Workload]:
        return [record for records in self._lists.values() for record in records]


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
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._client: Any = None
        self._deadline = PollDeadline("kubernetes", timeout, poll_timeout)
        self._token: kubeauth.BearerToken | None = None  # a token that changes, if any
        self._body = bytearray()  # every response's body in turn (`_read_body`)

    # --- public --------------------------------------------------------------------

    def poll(self, sink: WorkloadSink | None = None) -> ClusterObservation:
        """One poll. With a `sink`, workloads go to it a page at a time as they are read, and
        the observation holds none: so no poll holds every record of a cluster at once.
        Without, the observation holds them all."""
        with self._lock:
            if self._closed.is_set():
                raise PollError(f"cluster {self.cluster.name}: the source is closed")
            self._deadline.start()
            client = self._client if self._client is not None else self._connect()
            parser = _Parser(self._annotation_keys)
            collected = _Collected() if sink is None else None
            out: WorkloadSink = sink or cast(WorkloadSink, collected)
            objects: dict[str, int] = {}
            refused: list[_Forbidden] = []
            forbidden: list[str] = []
            if self.namespaces:
                namespaces = self._get_namespaces(client, parser, objects)
            else:
                namespaces = self._list_namespaces(client, parser, objects)
            out.namespaces(namespaces)
            for kind in self.kinds:
                if not self._list_kind(client, kind, parser, out, objects=objects, refused=refused):
                    forbidden.append(kind)
                    out.discard(kind)
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
                workloads=[] if collected is None else collected.workloads(),
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

    def _forbidden(self, client: Any, endpoint: _Endpoint, body: bytearray) -> _Forbidden:
        permission = _redact(client, self._describe(403, body, endpoint))
        message = f"cluster {self.cluster.name}: list {endpoint.resource}: {permission}"
        return _Forbidden(message, permission)

    # --- listing -------------------------------------------------------------------

    def _list_kind(
        self,
        client: Any,
        kind: str,
        parser: _Parser,
        sink: WorkloadSink,
        *,
        objects: dict[str, int],
        refused: list[_Forbidden],
    ) -> bool:
        """Hands every workload of `kind` to `sink`. False when RBAC refused any list of
        it: then the kind is to be left out whole (the other kinds still count), and each
        refusal is added to `refused`."""
        endpoints = [_ENDPOINTS[kind].in_namespace(n) for n in self.namespaces]
        decoder = _decoder(model.workload_type(kind, self._annotation_keys))
        counted: dict[str, int] = {}
        denied = False
        for endpoint in endpoints or [_ENDPOINTS[kind]]:

            def begin(endpoint: _Endpoint = endpoint) -> None:
                sink.begin(kind, endpoint.scope)

            def decoded(items: list[_Item[Workload]]) -> None:
                records: list[Workload] = []
                parser.decoded(items, records)
                sink.add(records)

            def loose(items: list[object]) -> None:
                records = [r for item in items if (r := parser.workload(kind, item)) is not None]
                sink.add(records)

            try:
                self._list(client, kind, endpoint, counted, _Taker(decoder, begin, decoded, loose))
            except _Forbidden as exc:
                refused.append(exc)
                denied = True  # go on, so the log names every namespace refused
        if denied:
            return False
        if kind in counted:
            objects[kind] = counted[kind]
        return True

    def _list_namespaces(
        self, client: Any, parser: _Parser, objects: dict[str, int]
    ) -> list[Namespace]:
        found: list[Namespace] = []

        def decoded(items: list[_Item[Namespace]]) -> None:
            parser.decoded_namespaces(items, found)

        def loose(items: list[object]) -> None:
            found.extend(r for item in items if (r := parser.namespace("", item)) is not None)

        taker = _Taker(_decoder(Namespace), found.clear, decoded, loose)
        self._list(client, "Namespace", _ENDPOINTS["Namespace"], objects, taker)
        return found

    def _list(
        self,
        client: Any,
        kind: str,
        endpoint: _Endpoint,
        objects: dict[str, int],
        taker: _Taker[_M],
    ) -> None:
        """Reads every page of one list, handing each to `taker`."""
        for _ in range(MAX_RESTARTS + 1):
            taker.begin()
            read = 0
            token: str | None = None
            try:
                while True:
                    body = self._fetch(client, endpoint, token)
                    # One pause per page, covering decoding and whoever takes the records.
                    with gc_paused():
                        count, token = self._read(client, endpoint, body, taker)
                    read += count
                    if not token:
                        objects[kind] = objects.get(kind, 0) + read
                        return
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

    def _fetch(self, client: Any, endpoint: _Endpoint, token: str | None) -> bytearray:
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
        body: bytearray,
        taker: _Taker[_M],
    ) -> tuple[int, str | None]:
        """Hands one list page's items on: (objects read, continue token or None)."""
        page: _Page[_M] | None = None
        if _utf8(body):
            try:
                page = taker.decoder.decode(body)
            except (msgspec.DecodeError, RecursionError) as exc:  # ValidationError included
                log.debug(
                    "cluster %s: list %s: a page decoded the slow way: %s",
                    self.cluster.name,
                    endpoint.resource,
                    exc,
                )
        if page is None:
            items, token = self._decode(client, endpoint, body)
            taker.loose(items)
            return len(items), token
        found = page.items
        if isinstance(found, msgspec.UnsetType):
            raise self._fail(client, endpoint, _NOT_A_LIST)
        found = found or []  # the real server sends "items": null for an empty list
        taker.decoded(found)
        token = None if page.metadata is None else page.metadata.continue_
        return len(found), token or None

    def _decode(
        self, client: Any, endpoint: _Endpoint, body: bytearray
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
    ) -> tuple[int, bytearray]:
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
    ) -> tuple[int, Mapping[str, str], bytearray]:
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

    def _read_body(self, raw: Any, budget: RequestLimit) -> bytearray:
        """The whole body, by the budget's end, in the source's one buffer: good until the
        next request. urllib3's read timeout bounds each socket read only, so a body that
        trickles in would never trip it: every read here gets just what is left of the
        budget.

        One buffer, written over, not a body allocated per response: a page is a
        megabyte or so, and once glibc's malloc has freed one such block it serves all
        the rest from the heap, where freeing them leaves the process' RSS drifting ~10 MB
        from poll to poll (at 50,000 workloads: 125-140 MB after each poll, against a
        steady 129-130 MB with the buffer). Chunks stay under malloc's first threshold
        for the same reason."""
        body = self._body
        filled = 0
        sock = getattr(raw.connection, "sock", None)
        while True:
            left = budget.left()
            if left <= 0:
                raise _OutOfTime
            if sock is not None:
                sock.settimeout(left)
            chunk = raw.read1(BODY_CHUNK)
            if not chunk:
                # Shrinking resizes in place (or mremaps): the buffer is never freed.
                del body[filled:]
                return body
            body[filled : filled + len(chunk)] = chunk
            filled += len(chunk)

    def _describe(self, status: int, body: bytearray, endpoint: _Endpoint) -> str:
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

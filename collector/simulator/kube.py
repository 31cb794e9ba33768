"""A simulated Kubernetes API server for tests, the demo and benchmarks.

kube-apiserver cannot run where the collector is developed and tested, so this
serves the part of its HTTP API the collector and the official client use:
discovery, cluster-wide and per-namespace lists of namespaces and workloads
(full objects or metadata-only PartialObjectMetadataList), label selectors,
limit/continue pagination with expiring tokens, and injected faults. Like a real one it
speaks HTTPS, with a certificate from a CA made per run (`tls.shared_ca`), and
authenticates a request by its client certificate (signed by that CA) or its bearer token
(the static one, or any `authenticate_token` accepts, as a webhook token authenticator
would). `tls=False` serves plain HTTP, for the benchmarks, whose figures were measured so.

Lists are served from the current store rather than from a snapshot at the
token's resourceVersion; tests that need "the list changed mid-pagination"
mutate the store between pages.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import datetime as dt
import json
import re
import secrets
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from collector.simulator import resources as res
from collector.simulator.loopback import Fault, Faults, Handler, Loopback, hang_up, send_body
from collector.simulator.resources import JsonDict, Resource
from collector.simulator.tls import (
    CertificateAuthority,
    client_context,
    server_context,
    shared_ca,
)

METADATA_ACCEPT = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
MAX_LOGGED_REQUESTS = 100_000
DEFAULT_USER = "system:serviceaccount:adoption-collector:adoption-collector"

_OBJECT_PATH = re.compile(
    r"^/(?:api/(?P<core>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))"
    r"(?:/namespaces/(?P<ns>[^/]+))?/(?P<resource>[^/]+)(?:/(?P<name>[^/]+))?$"
)

# What a real server's default flow schema "service-accounts" and its priority level
# "workload-low" would answer with.
_FLOW_SCHEMA_UID = "4d3f2c1b-0a9e-4b8c-9d7e-6f5a4b3c2d1e"
_PRIORITY_LEVEL_UID = "8e7d6c5b-4a39-4281-b0c9-d8e7f6a5b4c3"

Key = tuple[str, str]  # (namespace, name); namespace "" for cluster-scoped objects


@dataclass(frozen=True, slots=True)
class RequestRecord:
    method: str
    path: str
    query: dict[str, str]
    accept: str
    user: str | None = None  # who the request authenticated as; None: it was refused (401)


@dataclass(slots=True)
class _Entry:
    obj: Any  # normally a dict; `put_raw` may store anything JSON can carry
    labels: Mapping[str, str]
    full: bytes | None = None  # serialised lazily, then reused by every list
    meta: bytes | None = None


@dataclass(slots=True)
class _Table:
    entries: dict[Key, _Entry] = field(default_factory=dict)
    sorted_keys: list[Key] | None = None  # None after a change; rebuilt on the next list

    def keys(self) -> list[Key]:
        if self.sorted_keys is None:
            self.sorted_keys = sorted(self.entries)
        return self.sorted_keys


def _dumps(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _labels_of(obj: object) -> Mapping[str, str]:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    labels = meta.get("labels") if isinstance(meta, dict) else None
    if not isinstance(labels, dict):
        return {}
    return {k: v for k, v in labels.items() if isinstance(v, str)}


def _meta_bytes(entry: _Entry) -> bytes:
    if entry.meta is None:
        obj = entry.obj
        if isinstance(obj, dict):
            item: JsonDict = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1"}
            if "metadata" in obj:
                item["metadata"] = obj["metadata"]
            entry.meta = _dumps(item)
        else:
            entry.meta = _dumps(obj)
    return entry.meta


def _representation(accept: str) -> str:
    """ "meta", "table" or "full": the first form in `accept` this server can print."""
    for part in accept.split(","):
        if "as=PartialObjectMetadata" in part:
            return "meta"
        if res.TABLE_ACCEPT in part:
            return "table"
        if part.strip().startswith(("application/json", "*/*")):
            return "full"
    return "full"


def _full_bytes(entry: _Entry) -> bytes:
    if entry.full is None:
        entry.full = _dumps(entry.obj)
    return entry.full


class KubeSimulator(Loopback):
    thread_name = "kube-simulator"

    def __init__(
        self,
        token: str | None = "sim-token",
        *,
        user: str = DEFAULT_USER,
        tls: bool = True,
        ca: CertificateAuthority | None = None,
        authenticate_token: Callable[[str], str | None] | None = None,
    ) -> None:
        """`token`: the bearer token accepted as `user` (assign a new one to rotate it: the
        old one is refused from then on); None, with no `authenticate_token`, lets every
        request in. `authenticate_token`: the user another token belongs to, or None."""
        self.token = token
        self.user = user
        self.authenticate_token = authenticate_token
        self.ca = (ca or shared_ca()) if tls else None
        self._tls = server_context(self.ca, self.ca.issue_server()) if self.ca else None
        self.requests: list[RequestRecord] = []
        self._lock = threading.Lock()
        self._tables: dict[str, _Table] = {name: _Table() for name in res.RESOURCES}
        self._faults = Faults()
        self._rv = 1000
        self._expired_through = 0  # continue tokens issued at or below this rv are expired
        self._nonce = secrets.token_hex(4)  # tokens from another simulator are unknown here
        self._raw_count = 0
        # (resource, namespace, name) -> objects of that name deleted so far: the next one
        # created under it is a new object, with a new uid, as on a real server.
        self._deleted: dict[tuple[str, str, str], int] = {}

    # --- lifecycle ---------------------------------------------------------------

    def tls_context(self) -> ssl.SSLContext | None:
        return self._tls

    def client_context(self) -> ssl.SSLContext | None:
        """A client context trusting this server's CA (None over plain HTTP), for tests
        that read the server directly."""
        return client_context(self.ca) if self.ca is not None else None

    def write_kubeconfig(
        self,
        path: str | Path,
        context: str = "sim",
        cluster_name: str | None = None,
        *,
        user: Mapping[str, Any] | None = None,
        cluster: Mapping[str, Any] | None = None,
    ) -> Path:
        """A kubeconfig as a real cluster hands out: the server, its CA (inline), and the
        static token; `user` replaces the user entry, `cluster` adds to the cluster entry
        (keys of either as a kubeconfig spells them; a None value removes the key)."""
        cluster_name = cluster_name or context
        if user is None:
            user = {"token": self.token} if self.token is not None else {}
        entry: JsonDict = {"server": self.url}
        if self.ca is not None:
            entry["certificate-authority-data"] = base64.b64encode(self.ca.cert_pem).decode()
        entry.update(cluster or {})
        entry = {key: value for key, value in entry.items() if value is not None}
        kubeconfig = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": cluster_name, "cluster": entry}],
            "users": [{"name": f"{context}-user", "user": dict(user)}],
            "contexts": [
                {"name": context, "context": {"cluster": cluster_name, "user": f"{context}-user"}}
            ],
            "current-context": context,
        }
        path = Path(path)
        # JSON is YAML, and keeps this module free of third-party imports.
        path.write_text(json.dumps(kubeconfig, indent=2), encoding="utf-8")
        path.chmod(0o600)  # it holds the token (or key) the server accepts, as kubectl's would
        return path

    # --- object store ------------------------------------------------------------

    def add_namespace(
        self,
        name: str,
        labels: Mapping[str, str] | None = None,
        created: dt.datetime | str | None = None,
        annotations: Mapping[str, str] | None = None,
    ) -> JsonDict:
        return self._add(
            res.RESOURCES["namespaces"],
            None,
            name,
            labels=labels,
            annotations=annotations,
            created=created,
        )

    def add_workload(
        self,
        kind: str,
        namespace: str,
        name: str,
        *,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
        created: dt.datetime | str | None = None,
        managed_fields: Sequence[Mapping[str, Any]] | None = None,
        owner_references: Sequence[Mapping[str, Any]] | None = None,
    ) -> JsonDict:
        """Store a workload with a valid minimal spec; returns the stored object."""
        resource = res.resource_for(kind)
        if not resource.namespaced:
            raise ValueError(f"{kind} is not a namespaced workload kind")
        return self._add(
            resource,
            namespace,
            name,
            labels=labels,
            annotations=annotations,
            created=created,
            managed_fields=managed_fields,
            owner_references=owner_references,
        )

    def _add(self, resource: Resource, namespace: str | None, name: str, **fields: Any) -> JsonDict:
        with self._lock:
            self._rv += 1
            incarnation = self._deleted.get((resource.name, namespace or "", name), 0)
            obj = res.build_object(
                resource,
                namespace,
                name,
                resource_version=self._rv,
                incarnation=incarnation,
                **fields,
            )
            self._store(resource.name, (namespace or "", name), obj)
        return obj

    def change_spec(self, kind: str, namespace: str | None, name: str, times: int = 1) -> JsonDict:
        """Change a stored object's spec `times` times, as `kubectl apply` of a new image
        would: each change raises metadata.generation by one, as the real server does (a
        change of metadata or status alone leaves it). Returns the object."""
        resource = res.resource_for(kind)
        with self._lock:
            table = self._tables[resource.name]
            entry = table.entries[(namespace or "", name)]
            obj = entry.obj
            metadata = obj["metadata"]
            for _ in range(times):
                self._rv += 1
                metadata["generation"] = int(metadata.get("generation", 0)) + 1
                res.new_image(obj, f"1.0.{metadata['generation']}")
            metadata["resourceVersion"] = str(self._rv)
            table.entries[(namespace or "", name)] = _Entry(obj, entry.labels)
        return dict(obj)

    def put_raw(self, resource: str, obj: object) -> None:
        """Store `obj` exactly as given, however malformed, to be served as a list item.

        Objects without a usable name still get a slot (sorted after the named ones).
        """
        table_name = res.resource_for(resource).name
        meta = obj.get("metadata") if isinstance(obj, dict) else None
        meta = meta if isinstance(meta, dict) else {}
        namespace, name = meta.get("namespace"), meta.get("name")
        with self._lock:
            self._rv += 1
            if not isinstance(name, str):
                self._raw_count += 1
                name = f"\uffff-raw-{self._raw_count:06d}"
            self._store(table_name, (namespace if isinstance(namespace, str) else "", name), obj)

    def _store(self, table_name: str, key: Key, obj: object) -> None:
        table = self._tables[table_name]
        if key not in table.entries:
            table.sorted_keys = None
        table.entries[key] = _Entry(obj, _labels_of(obj))

    def delete(self, kind_or_resource: str, namespace: str | None, name: str) -> bool:
        table_name = res.resource_for(kind_or_resource).name
        table = self._tables[table_name]
        with self._lock:
            if table.entries.pop((namespace or "", name), None) is None:
                return False
            key = (table_name, namespace or "", name)
            self._deleted[key] = self._deleted.get(key, 0) + 1
            self._rv += 1
            table.sorted_keys = None
            return True

    def count(self, kind_or_resource: str) -> int:
        with self._lock:
            return len(self._tables[res.resource_for(kind_or_resource).name].entries)

    # --- test controls -------------------------------------------------------------

    def add_fault(
        self,
        path_regex: str,
        status: int,
        *,
        times: int | None = 1,
        retry_after: int | None = None,
        body: bytes | None = None,
        delay: float = 0.0,
        trickle: float = 0.0,
        drop: bool = False,
    ) -> None:
        """Answer the next `times` requests whose `path?query` matches with `status`.

        `status` 200 without `body` only delays the real answer by `delay` seconds.
        `trickle`: send the body in small pieces this many seconds apart, the headers
        announcing its whole length (a slow answer that never trips a per-read timeout).
        `drop`: hang up instead of answering (a reset connection); with `trickle`, after
        the headers and half of the body.
        """
        self._faults.add(
            Fault(
                re.compile(path_regex),
                status,
                times,
                retry_after,
                body,
                delay,
                trickle=trickle,
                drop=drop,
            )
        )

    def clear_faults(self) -> None:
        self._faults.clear()

    @property
    def pending_faults(self) -> int:
        return self._faults.pending()

    def expire_continue_tokens(self) -> None:
        """Act as if etcd compacted: every continue token handed out so far now gets 410."""
        with self._lock:
            self._expired_through = self._rv
            self._rv += 1

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    # --- HTTP ----------------------------------------------------------------------

    def handle(self, h: Handler) -> None:
        split = urlsplit(h.path)
        path = split.path.rstrip("/") or "/"
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        accept = h.headers.get("Accept", "")
        user = self._authenticate(h)
        with self._lock:
            self.requests.append(RequestRecord(h.command, path, query, accept, user))
            if len(self.requests) > MAX_LOGGED_REQUESTS:  # a demo may run for days
                del self.requests[: MAX_LOGGED_REQUESTS // 2]
        if user is None:
            self._send_status(h, res.status(401, "Unauthorized"))
            return
        fault = self._faults.take(h.command, f"{path}?{split.query}" if split.query else path)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.drop and not fault.trickle:
                hang_up(h)
                return
            if fault.body is not None:
                self._send(h, fault.status, fault.body, fault.retry_after, fault)
                return
            if fault.status != 200:
                status = res.fault_message(fault.status, path, self.user, fault.retry_after)
                self._send(h, fault.status, _dumps(status), fault.retry_after, fault)
                return
        if h.command != "GET":
            self._send_status(h, res.status(405, f"the server does not allow {h.command} here"))
            return
        code, payload = self._route(path, query, _representation(accept))
        body = payload if isinstance(payload, bytes) else _dumps(payload)
        self._send(h, code, body, fault=fault)

    def _authenticate(self, h: Handler) -> str | None:
        """The user a request is from, as the API server's authenticators decide: a verified
        client certificate's CN, else a bearer token; None: 401."""
        if h.client_subject is not None:
            return h.client_subject[0]
        if self.token is None and self.authenticate_token is None:
            return self.user
        scheme, _, presented = h.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or not presented:
            return None
        token = self.token
        if token is not None and secrets.compare_digest(presented.encode(), token.encode()):
            return self.user
        return self.authenticate_token(presented) if self.authenticate_token else None

    def _route(self, path: str, query: dict[str, str], form: str) -> tuple[int, JsonDict | bytes]:
        meta_only = form == "meta"
        if path == "/version":
            return 200, res.VERSION_INFO
        if path == "/api":
            return 200, res.api_versions(f"127.0.0.1:{self.port}")
        if path == "/apis":
            return 200, res.api_group_list()
        if path == "/api/v1":
            return 200, res.api_resource_list("v1")
        parts = path.strip("/").split("/")
        if parts[0] == "apis" and len(parts) in (2, 3):
            group_version = "/".join(parts[1:3])
            if len(parts) == 2 and any(g.startswith(f"{parts[1]}/") for g in res.GROUP_VERSIONS):
                return 200, res.api_group(parts[1])
            if group_version in res.GROUP_VERSIONS:
                return 200, res.api_resource_list(group_version)
        m = _OBJECT_PATH.match(path)
        group_version = "v1" if m and m["core"] else f"{m['group']}/{m['version']}" if m else ""
        resource = res.RESOURCES.get(m["resource"]) if m else None
        if m is None or resource is None or resource.api_version != group_version:
            return 404, res.status(404, "the server could not find the requested resource")
        if m["ns"] is not None and not resource.namespaced:
            return 404, res.status(404, "the server could not find the requested resource")
        if m["name"] is not None:
            return self._get(resource, m["ns"] or "", m["name"], meta_only)
        if form == "table" and resource.name in res.TABLE_COLUMNS:
            return self._table(resource, m["ns"], query)
        return self._list(resource, m["ns"], query, meta_only)

    def _get(
        self, resource: Resource, namespace: str, name: str, meta_only: bool
    ) -> tuple[int, JsonDict | bytes]:
        with self._lock:
            entry = self._tables[resource.name].entries.get((namespace, name))
            if entry is not None:
                return 200, _meta_bytes(entry) if meta_only else _full_bytes(entry)
        details = {"name": name, "group": resource.group, "kind": resource.name}
        return 404, res.status(404, f'{resource.name} "{name}" not found', details=details)

    def _list(
        self, resource: Resource, namespace: str | None, query: dict[str, str], meta_only: bool
    ) -> tuple[int, JsonDict | bytes]:
        try:
            selector = res.parse_selector(query.get("labelSelector", ""))
            limit = int(query.get("limit") or 0)
        except (res.SelectorError, ValueError) as exc:
            return 400, res.status(400, f"invalid list options: {exc}")
        scope = f"{resource.name}/{namespace or ''}"
        with self._lock:
            keys = self._tables[resource.name].keys()
            lo, hi = 0, len(keys)
            if namespace is not None:
                lo = bisect.bisect_left(keys, (namespace, ""))
                hi = bisect.bisect_left(keys, (namespace + "\0", ""))
            list_rv = self._rv
            if token := query.get("continue"):
                decoded = self._decode_token(token, scope)
                if isinstance(decoded, dict):
                    return int(decoded["code"]), decoded
                list_rv, start = decoded
                lo = max(lo, bisect.bisect_right(keys, start))
            entries = self._tables[resource.name].entries
            items: list[bytes] = []
            index = lo
            while index < hi and (limit <= 0 or len(items) < limit):
                entry = entries[keys[index]]
                index += 1
                if selector is None or selector(entry.labels):
                    items.append(_meta_bytes(entry) if meta_only else _full_bytes(entry))
            metadata: JsonDict = {"resourceVersion": str(list_rv)}
            if index < hi:
                metadata["continue"] = self._encode_token(list_rv, keys[index - 1], scope)
                if selector is None:
                    metadata["remainingItemCount"] = hi - index
        if meta_only:
            head = {"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1"}
        else:
            head = {"kind": f"{resource.kind}List", "apiVersion": resource.api_version}
        prefix = _dumps({**head, "metadata": metadata})[:-1]
        return 200, prefix + b',"items":[' + b",".join(items) + b"]}"

    def _table(
        self, resource: Resource, namespace: str | None, query: dict[str, str]
    ) -> tuple[int, JsonDict | bytes]:
        """A list printed as `kubectl get` shows it (a meta.k8s.io/v1 Table), paginated as
        the list itself."""
        code, listed = self._list(resource, namespace, query, meta_only=False)
        if code != 200 or not isinstance(listed, bytes):
            return code, listed
        page = json.loads(listed)
        now = time.time()
        return 200, {
            "kind": "Table",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": page["metadata"],
            "columnDefinitions": res.TABLE_COLUMNS[resource.name],
            "rows": [
                res.table_row(resource, item, now)
                for item in page["items"]
                if isinstance(item, dict)
            ],
        }

    def _encode_token(self, rv: int, last: Key, scope: str) -> str:
        raw = {
            "v": "meta.k8s.io/v1",
            "rv": rv,
            "start": list(last),
            "scope": scope,
            "srv": self._nonce,
        }
        return base64.urlsafe_b64encode(_dumps(raw)).decode().rstrip("=")

    def _decode_token(self, token: str, scope: str) -> tuple[int, Key] | JsonDict:
        """(rv, last key served) for a live token, else the Status to answer with."""
        try:
            raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            rv, (namespace, name), token_scope = int(raw["rv"]), raw["start"], raw["scope"]
        except (ValueError, KeyError, TypeError, binascii.Error):
            return res.status(400, "continue key is not valid: malformed token")
        if token_scope != scope:
            return res.status(400, "continue key is not valid: issued for another list")
        # A token this server never issued (or issued before a restart) is as gone as
        # one whose snapshot was compacted: the real server answers both with 410.
        if raw.get("srv") != self._nonce or not self._expired_through < rv <= self._rv:
            return res.status(410, res.EXPIRED_MESSAGE)
        return rv, (str(namespace), str(name))

    def _send_status(self, h: Handler, body: JsonDict, retry_after: int | None = None) -> None:
        self._send(h, int(body["code"]), _dumps(body), retry_after=retry_after)

    @staticmethod
    def _send(
        h: Handler,
        code: int,
        body: bytes,
        retry_after: int | None = None,
        fault: Fault | None = None,
    ) -> None:
        try:
            h.send_response(code)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(body)))
            h.send_header("Cache-Control", "no-cache, private")
            # API Priority and Fairness names the flow schema and priority level that
            # admitted (or, with a 429, rejected) every request.
            h.send_header("X-Kubernetes-Pf-Flowschema-Uid", _FLOW_SCHEMA_UID)
            h.send_header("X-Kubernetes-Pf-Prioritylevel-Uid", _PRIORITY_LEVEL_UID)
            if retry_after is not None:
                h.send_header("Retry-After", str(retry_after))
            h.end_headers()
            send_body(h, body, fault)
        except (BrokenPipeError, ConnectionResetError):
            h.close_connection = True

"""What the simulated API server serves: resource types, object bodies, selectors, Status errors.

Kept apart from the HTTP plumbing in `kube.py` so the shapes the real API server
produces are in one place and readable side by side.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

JsonDict = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Resource:
    name: str  # plural, as in the URL
    kind: str
    group: str  # "" for the core group
    version: str
    namespaced: bool
    short_names: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()


RESOURCES: dict[str, Resource] = {
    r.name: r
    for r in (
        Resource("namespaces", "Namespace", "", "v1", namespaced=False, short_names=("ns",)),
        Resource(
            "deployments", "Deployment", "apps", "v1", namespaced=True, short_names=("deploy",)
        ),
        Resource(
            "statefulsets", "StatefulSet", "apps", "v1", namespaced=True, short_names=("sts",)
        ),
        Resource("daemonsets", "DaemonSet", "apps", "v1", namespaced=True, short_names=("ds",)),
        Resource("cronjobs", "CronJob", "batch", "v1", namespaced=True, short_names=("cj",)),
        Resource("jobs", "Job", "batch", "v1", namespaced=True),
    )
}
BY_KIND: dict[str, Resource] = {r.kind: r for r in RESOURCES.values()}
GROUP_VERSIONS: dict[str, tuple[Resource, ...]] = {}
for _r in RESOURCES.values():
    GROUP_VERSIONS[_r.api_version] = (*GROUP_VERSIONS.get(_r.api_version, ()), _r)

_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


def resource_for(kind_or_resource: str) -> Resource:
    """`Deployment`, `deployments` or `deployments.apps` -> the Resource; KeyError otherwise."""
    if kind_or_resource in BY_KIND:
        return BY_KIND[kind_or_resource]
    return RESOURCES[kind_or_resource.split(".", 1)[0]]


def rfc3339(value: dt.datetime | str | None) -> str:
    if value is None:
        value = dt.datetime.now(dt.UTC)
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def managed_field(
    manager: str,
    time: dt.datetime | str,
    *,
    operation: str = "Update",
    api_version: str = "apps/v1",
    spec: bool = True,
    subresource: str | None = None,
) -> JsonDict:
    """One `metadata.managedFields` entry in the shape the API server records.

    `spec=True` makes the entry own fields under `f:spec` (what a deploy tool does);
    `spec=False` gives a status-only entry like the one controllers write.
    """
    fields: JsonDict
    if subresource == "scale":
        fields = {"f:spec": {"f:replicas": {}}}
    elif spec:
        fields = {
            "f:metadata": {"f:labels": {".": {}, "f:app.kubernetes.io/name": {}}},
            "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {}}}},
        }
    else:
        fields = {"f:status": {"f:conditions": {}, "f:observedGeneration": {}, "f:replicas": {}}}
    entry: JsonDict = {
        "manager": manager,
        "operation": operation,
        "apiVersion": api_version,
        "time": rfc3339(time),
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
    }
    if subresource is not None:
        entry["subresource"] = subresource
    return entry


def owner_reference(owner: Mapping[str, Any], *, controller: bool = True) -> JsonDict:
    """An ownerReference pointing at a stored object (as `add_workload` returns it)."""
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": controller,
        "blockOwnerDeletion": True,
    }


def object_uid(resource: str, namespace: str, name: str, incarnation: int = 0) -> str:
    # Deterministic, so repeated runs of a scenario produce byte-identical lists; an object
    # deleted and created again under its name is another object, with another uid.
    again = f"#{incarnation}" if incarnation else ""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"sim://{resource}/{namespace}/{name}{again}"))


def _pod_template(name: str, restart_policy: str | None = None) -> JsonDict:
    spec: JsonDict = {
        "containers": [{"name": "app", "image": f"registry.example.com/{name}:1.0.0"}]
    }
    if restart_policy is not None:
        spec["restartPolicy"] = restart_policy
    return {"metadata": {"labels": {"app": name}}, "spec": spec}


def _apps_spec(name: str) -> JsonDict:
    return {
        "replicas": 2,
        "selector": {"matchLabels": {"app": name}},
        "template": _pod_template(name),
    }


def _spec_status(kind: str, name: str) -> tuple[JsonDict, JsonDict]:
    if kind == "Namespace":
        return {"finalizers": ["kubernetes"]}, {"phase": "Active"}
    if kind == "Deployment":
        status = {
            "replicas": 2,
            "readyReplicas": 2,
            "updatedReplicas": 2,
            "availableReplicas": 2,
            "observedGeneration": 1,
        }
        return _apps_spec(name), status
    if kind == "StatefulSet":
        return {**_apps_spec(name), "serviceName": name}, {"replicas": 2, "readyReplicas": 2}
    if kind == "DaemonSet":
        spec = {"selector": {"matchLabels": {"app": name}}, "template": _pod_template(name)}
        status = {
            "currentNumberScheduled": 3,
            "desiredNumberScheduled": 3,
            "numberMisscheduled": 0,
            "numberReady": 3,
        }
        return spec, status
    if kind == "CronJob":
        job_template = {"spec": {"template": _pod_template(name, "OnFailure")}}
        return {"schedule": "*/30 * * * *", "jobTemplate": job_template}, {}
    if kind == "Job":
        return {"template": _pod_template(name, "Never"), "backoffLimit": 2}, {"succeeded": 1}
    raise KeyError(kind)


def new_image(obj: JsonDict, tag: str) -> None:
    """Point the first container of a workload's pod template at image tag `tag`."""
    spec = obj.get("spec") or {}
    template = spec.get("template") or spec.get("jobTemplate", {}).get("spec", {}).get("template")
    if template:
        container = template["spec"]["containers"][0]
        container["image"] = container["image"].rpartition(":")[0] + ":" + tag


def build_object(
    resource: Resource,
    namespace: str | None,
    name: str,
    *,
    resource_version: int,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    created: dt.datetime | str | None = None,
    managed_fields: Sequence[Mapping[str, Any]] | None = None,
    owner_references: Sequence[Mapping[str, Any]] | None = None,
    incarnation: int = 0,
) -> JsonDict:
    metadata: JsonDict = {"name": name}
    if resource.namespaced:
        metadata["namespace"] = namespace or "default"
    metadata["uid"] = object_uid(resource.name, namespace or "", name, incarnation)
    metadata["resourceVersion"] = str(resource_version)
    metadata["generation"] = 1
    metadata["creationTimestamp"] = rfc3339(created)
    # The real server omits empty maps and lists rather than sending nulls.
    if labels:
        metadata["labels"] = dict(labels)
    if annotations:
        metadata["annotations"] = dict(annotations)
    if owner_references:
        metadata["ownerReferences"] = [dict(o) for o in owner_references]
    if managed_fields:
        metadata["managedFields"] = [dict(m) for m in managed_fields]
    spec, status = _spec_status(resource.kind, name)
    return {
        "kind": resource.kind,
        "apiVersion": resource.api_version,
        "metadata": metadata,
        "spec": spec,
        "status": status,
    }


# --- discovery -----------------------------------------------------------------


def api_versions(server_address: str) -> JsonDict:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _group(group: str) -> JsonDict:
    gv = {"groupVersion": f"{group}/v1", "version": "v1"}
    return {"name": group, "versions": [gv], "preferredVersion": gv}


def api_group(group: str) -> JsonDict:
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(group)}


def api_group_list() -> JsonDict:
    groups = sorted({r.group for r in RESOURCES.values() if r.group})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_group(g) for g in groups]}


def api_resource_list(group_version: str) -> JsonDict:
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": [
            {
                "name": r.name,
                "singularName": r.singular,
                "namespaced": r.namespaced,
                "kind": r.kind,
                "verbs": _VERBS,
                **({"shortNames": list(r.short_names)} if r.short_names else {}),
            }
            for r in GROUP_VERSIONS[group_version]
        ],
    }


VERSION_INFO: JsonDict = {
    "major": "1",
    "minor": "31",
    "gitVersion": "v1.31.0-adoption-sim",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.22.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}


# --- label selectors -------------------------------------------------------------

_TERM = re.compile(
    r"^\s*(?P<neg>!)?\s*(?P<key>[A-Za-z0-9][-A-Za-z0-9_./]*)\s*"
    r"(?:(?P<op>==|=|!=)\s*(?P<value>[-A-Za-z0-9_.]*)"
    r"|\s(?P<setop>in|notin)\s*\((?P<values>[^()]*)\))?\s*$"
)

Selector = Callable[[Mapping[str, str]], bool]


class SelectorError(ValueError):
    pass


def _split_terms(text: str) -> list[str]:
    # Commas separate requirements except inside `in (a,b)` value sets.
    terms, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


def _term(text: str) -> Selector:
    m = _TERM.match(text)
    if m is None or (m["neg"] and (m["op"] or m["setop"])):
        raise SelectorError(f"unable to parse requirement: {text.strip()!r}")
    key = m["key"]
    if m["neg"]:
        return lambda labels: key not in labels
    if m["op"] in ("=", "=="):
        value = m["value"]
        return lambda labels: labels.get(key) == value
    if m["op"] == "!=":
        value = m["value"]
        return lambda labels: labels.get(key) != value
    if m["setop"]:
        values = frozenset(v.strip() for v in m["values"].split(",") if v.strip())
        if m["setop"] == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    return lambda labels: key in labels


def parse_selector(text: str) -> Selector | None:
    """Kubernetes label selector string -> predicate; None for the empty selector."""
    if not text.strip():
        return None
    terms = [_term(t) for t in _split_terms(text)]
    return lambda labels: all(t(labels) for t in terms)


# --- errors ------------------------------------------------------------------------

_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}

EXPIRED_MESSAGE = (
    "The provided continue parameter is too old to display a consistent list result. "
    "You can start a new list without the continue parameter, or use the continue token "
    "in this response to retrieve the remainder of the results. Continuing with the "
    "provided token results in an inconsistent list - objects that were created, modified, "
    "or deleted between the time the first chunk was returned and now may show up in the list."
)


def status(code: int, message: str, *, details: JsonDict | None = None) -> JsonDict:
    body: JsonDict = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": _REASONS.get(code, "Unknown" if code >= 400 else ""),
        "code": code,
    }
    if details:
        body["details"] = details
    return body


def fault_message(code: int, path: str, user: str, retry_after: int | None) -> JsonDict:
    """The Status the real server would send with `code` for a list of `path`."""
    parts = path.strip("/").split("/")
    resource_name = parts[-1] if parts else ""
    resource = RESOURCES.get(resource_name)
    group = resource.group if resource else ""
    qualified = f"{resource_name}.{group}" if group else resource_name
    if code == 403:
        scope = "at the cluster scope"
        if "namespaces" in parts[:-1]:
            scope = f'in the namespace "{parts[parts.index("namespaces") + 1]}"'
        message = (
            f'{qualified} is forbidden: User "{user}" cannot list resource "{resource_name}" '
            f'in API group "{group}" {scope}'
        )
        return status(403, message, details={"group": group, "kind": resource_name})
    if code == 429:
        details = {"retryAfterSeconds": retry_after} if retry_after is not None else None
        return status(429, "Too many requests, please try again later.", details=details)
    if code == 410:
        return status(410, EXPIRED_MESSAGE)
    if code == 401:
        return status(401, "Unauthorized")
    if code == 504:
        return status(504, "Timeout: request did not complete within requested timeout")
    if code == 503:
        return status(503, "the server is currently unable to handle the request")
    if code >= 500:
        return status(code, "Internal error occurred: simulated failure")
    return status(code, f"simulated {code} for {path}")


# --- server-side printing (what `kubectl get` shows) -------------------------------

TABLE_ACCEPT = "as=Table"


def human_duration(seconds: float) -> str:
    """An age as the API server prints it (k8s.io/apimachinery duration.HumanDuration)."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m" if s % 60 == 0 else f"{minutes}m{s % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if days == 0 else f"{hours // 24 // 365}y{days}d"
    return f"{hours // 24 // 365}y"


def _column(name: str, kind: str, description: str) -> JsonDict:
    column: JsonDict = {"name": name, "type": kind, "format": "", "description": description}
    column["priority"] = 0
    if name == "Name":
        column["format"] = "name"
    return column


_AGE = _column("Age", "string", "CreationTimestamp is when this object was created.")
TABLE_COLUMNS: dict[str, list[JsonDict]] = {
    "namespaces": [
        _column("Name", "string", "Name must be unique within a namespace."),
        _column("Status", "string", "The status of the namespace"),
        _AGE,
    ],
    "deployments": [
        _column("Name", "string", "Name must be unique within a namespace."),
        _column("Ready", "string", "Number of the pod with ready state"),
        _column("Up-to-date", "string", "Total number of non-terminated pods updated."),
        _column("Available", "string", "Number of available replicas."),
        _AGE,
    ],
}


def table_row(resource: Resource, obj: JsonDict, now: float) -> JsonDict:
    """One row of `kubectl get`: the printed cells and, as `includeObject=Metadata` (the
    default) has it, the object's metadata."""
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    try:
        created = dt.datetime.fromisoformat(meta.get("creationTimestamp", "")).timestamp()
        age = human_duration(now - created)
    except (TypeError, ValueError):
        age = "<unknown>"
    cells: list[Any]
    if resource.name == "namespaces":
        cells = [meta.get("name"), status.get("phase", ""), age]
    else:
        replicas = (obj.get("spec") or {}).get("replicas", 1)
        ready = f"{status.get('readyReplicas', 0)}/{replicas}"
        cells = [
            meta.get("name"),
            ready,
            status.get("updatedReplicas", 0),
            status.get("availableReplicas", 0),
            age,
        ]
    item = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta}
    return {"cells": cells, "object": item}

"""Least privilege, checked the same way on the chart's rendered objects and on the plain
manifests: what any Role or ClusterRole may grant, and whom any binding may bind it to."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

READ_VERBS = frozenset({"get", "list", "watch"})

# (API group, resource) each configured kind needs; namespaces are always needed.
KIND_RESOURCES: dict[str, tuple[str, str]] = {
    "Deployment": ("apps", "deployments"),
    "StatefulSet": ("apps", "statefulsets"),
    "DaemonSet": ("apps", "daemonsets"),
    "CronJob": ("batch", "cronjobs"),
    "Job": ("batch", "jobs"),
}
NAMESPACES = ("", "namespaces")
READABLE = frozenset({NAMESPACES, *KIND_RESOURCES.values()})

ROLE_KINDS = ("ClusterRole", "Role")
BINDING_KINDS = ("ClusterRoleBinding", "RoleBinding")
RULE_KEYS = frozenset({"apiGroups", "resources", "verbs", "resourceNames"})

Doc = Mapping[str, Any]


def grants(docs: Iterable[Doc]) -> set[tuple[str, str, str]]:
    """Every (API group, resource, verb) any Role or ClusterRole among `docs` grants."""
    return {
        (group, resource, verb)
        for doc in docs
        if doc["kind"] in ROLE_KINDS
        for rule in doc.get("rules") or []
        for group in rule.get("apiGroups", [])
        for resource in rule.get("resources", [])
        for verb in rule.get("verbs", [])
    }


def problems(docs: Iterable[Doc]) -> list[str]:
    """Every way `docs` grant more than reading the workload kinds and namespaces; [] if none."""
    docs = list(docs)
    found: list[str] = []
    roles = {(d["kind"], d["metadata"]["name"]) for d in docs if d["kind"] in ROLE_KINDS}
    accounts = {d["metadata"]["name"] for d in docs if d["kind"] == "ServiceAccount"}
    for doc in docs:
        where = f"{doc['kind']} {doc['metadata']['name']}"
        if doc["kind"] in ROLE_KINDS:
            if "aggregationRule" in doc:
                found.append(f"{where}: aggregationRule pulls in other roles' rules")
            for i, rule in enumerate(doc.get("rules") or []):
                found += _rule_problems(f"{where} rule {i}", rule)
        elif doc["kind"] in BINDING_KINDS:
            found += _binding_problems(where, doc, roles, accounts)
    return found


def _rule_problems(where: str, rule: Mapping[str, Any]) -> list[str]:
    found = []
    if set(rule) - RULE_KEYS:
        found.append(f"{where}: unexpected keys {sorted(set(rule) - RULE_KEYS)}")
    groups, resources = rule.get("apiGroups", []), rule.get("resources", [])
    verbs, names = rule.get("verbs", []), rule.get("resourceNames", [])
    for field, values in (("apiGroups", groups), ("resources", resources), ("verbs", verbs)):
        if not values:
            found.append(f"{where}: no {field}")
        if "*" in values:
            found.append(f"{where}: wildcard in {field}")
    if "*" in names:
        found.append(f"{where}: wildcard in resourceNames")
    if set(verbs) - READ_VERBS:
        found.append(f"{where}: verbs beyond get/list/watch: {sorted(set(verbs) - READ_VERBS)}")
    if "secrets" in resources:
        found.append(f"{where}: grants secrets")
    for group in groups:
        for resource in resources:
            if (group, resource) not in READABLE:
                found.append(f"{where}: grants {resource!r} in API group {group!r}")
    return found


def _binding_problems(
    where: str, doc: Doc, roles: set[tuple[str, str]], accounts: set[str]
) -> list[str]:
    found = []
    ref = doc["roleRef"]
    # A ClusterRoleBinding can only reference a ClusterRole; built-in ones (view, edit,
    # cluster-admin) would grant far more than listed here.
    if (ref["kind"], ref["name"]) not in roles:
        found.append(f"{where}: binds {ref['kind']} {ref['name']}, not one of ours")
    if doc["kind"] == "ClusterRoleBinding" and ref["kind"] != "ClusterRole":
        found.append(f"{where}: a ClusterRoleBinding of a {ref['kind']}")
    for subject in doc.get("subjects") or []:
        if subject.get("kind") != "ServiceAccount" or subject.get("name") not in accounts:
            found.append(f"{where}: binds {subject.get('kind')} {subject.get('name')}")
    return found

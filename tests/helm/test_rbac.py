"""RBAC: read-only, exactly the resources of the configured kinds, never secrets or wildcards."""

from __future__ import annotations

import pytest
from helm_python import HelmRenderError

from tests.helm.chart import (
    FULLNAME,
    LAUNCH,
    NAMESPACE,
    NAMESPACED,
    ROOT,
    Doc,
    Rendered,
    merged,
    render,
    rules,
)
from tests.security import privilege

READ = ("get", "list", "watch")
RBAC_KINDS = ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")


def grants(
    resources: list[tuple[str, str]], verbs: tuple[str, ...] = READ
) -> list[tuple[str, ...]]:
    return sorted((group, resource, verb) for group, resource in resources for verb in verbs)


def test_default_cluster_role_is_exactly_read_on_the_five_kinds_and_namespaces(
    default: Rendered,
) -> None:
    role = default.one("ClusterRole")
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list", "watch"]},
        {
            "apiGroups": ["apps"],
            "resources": ["deployments", "statefulsets", "daemonsets"],
            "verbs": ["get", "list", "watch"],
        },
        {
            "apiGroups": ["batch"],
            "resources": ["cronjobs", "jobs"],
            "verbs": ["get", "list", "watch"],
        },
    ]
    assert default.all("Role") == []
    assert default.all("RoleBinding") == []


@pytest.mark.parametrize(
    ("kinds", "expected"),
    [
        (["Deployment"], [("", "namespaces"), ("apps", "deployments")]),
        (["Job"], [("", "namespaces"), ("batch", "jobs")]),
        (
            ["Job", "DaemonSet", "CronJob"],
            [("", "namespaces"), ("apps", "daemonsets"), ("batch", "cronjobs"), ("batch", "jobs")],
        ),
    ],
)
def test_cluster_role_follows_the_configured_kinds(
    kinds: list[str], expected: list[tuple[str, str]]
) -> None:
    rendered = render(merged(LAUNCH, {"config": {"kubernetes": {"kinds": kinds}}}))
    assert rules(rendered.one("ClusterRole")) == grants(expected)
    assert rendered.config["kubernetes"]["kinds"] == kinds


def test_deployments_only_has_no_batch_rule() -> None:
    rendered = render(merged(LAUNCH, {"config": {"kubernetes": {"kinds": ["Deployment"]}}}))
    assert rendered.one("ClusterRole")["rules"] == [
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list", "watch"]},
    ]


def test_cluster_role_binding_binds_the_service_account(default: Rendered) -> None:
    binding = default.one("ClusterRoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": FULLNAME,
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": FULLNAME, "namespace": NAMESPACE}
    ]
    account = default.one("ServiceAccount")
    assert account["automountServiceAccountToken"] is True
    assert default.pod["serviceAccountName"] == FULLNAME


def test_namespaced_rbac_grants_per_namespace_and_only_gets_those_namespaces(
    namespaced: Rendered,
) -> None:
    assert namespaced.one("ClusterRole")["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["namespaces"],
            "resourceNames": ["team-a", "team-b"],
            "verbs": ["get"],
        }
    ]
    workload_rules = [
        {
            "apiGroups": ["apps"],
            "resources": ["deployments", "statefulsets", "daemonsets"],
            "verbs": ["get", "list", "watch"],
        },
        {
            "apiGroups": ["batch"],
            "resources": ["cronjobs", "jobs"],
            "verbs": ["get", "list", "watch"],
        },
    ]
    roles = {r["metadata"]["namespace"]: r for r in namespaced.all("Role")}
    assert sorted(roles) == ["team-a", "team-b"]
    for namespace, role in roles.items():
        assert role["metadata"]["name"] == FULLNAME
        assert role["rules"] == workload_rules, namespace
    bindings = {b["metadata"]["namespace"]: b for b in namespaced.all("RoleBinding")}
    assert sorted(bindings) == ["team-a", "team-b"]
    for binding in bindings.values():
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": FULLNAME,
        }
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": FULLNAME, "namespace": NAMESPACE}
        ]
    # The collector is told to stay inside the namespaces it may read.
    assert namespaced.config["kubernetes"]["namespaces"] == ["team-a", "team-b"]


def test_namespaced_rbac_follows_the_kinds_too() -> None:
    rendered = render(
        merged(LAUNCH, NAMESPACED, {"config": {"kubernetes": {"kinds": ["StatefulSet"]}}})
    )
    for role in rendered.all("Role"):
        assert role["rules"] == [
            {
                "apiGroups": ["apps"],
                "resources": ["statefulsets"],
                "verbs": ["get", "list", "watch"],
            }
        ]


def _all_rbac(rendered: Rendered) -> list[Doc]:
    return [d for d in rendered.docs if d["kind"] in RBAC_KINDS]


def test_no_object_grants_more_than_read(any_case: Rendered) -> None:
    assert any_case.all("ClusterRole")
    assert privilege.problems(any_case.docs) == []


@pytest.mark.parametrize("kind", privilege.KIND_RESOURCES)
@pytest.mark.parametrize("namespaced", [False, True], ids=["cluster-wide", "namespaced"])
def test_each_kind_alone_grants_read_on_its_resource_and_nothing_else(
    kind: str, namespaced: bool
) -> None:
    values = merged(LAUNCH, {"config": {"kubernetes": {"kinds": [kind]}}})
    rendered = render(merged(values, NAMESPACED) if namespaced else values)
    group, resource = privilege.KIND_RESOURCES[kind]
    assert privilege.problems(rendered.docs) == []
    if not namespaced:
        assert privilege.grants(rendered.docs) == set(
            grants([("", "namespaces"), (group, resource)])
        )
        return
    # Cluster-wide, only `get` on the named namespace objects; the kind's read only per namespace.
    assert rendered.one("ClusterRole")["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["namespaces"],
            "resourceNames": ["team-a", "team-b"],
            "verbs": ["get"],
        }
    ]
    roles = rendered.all("Role")
    assert [r["metadata"]["namespace"] for r in roles] == ["team-a", "team-b"]
    for role in roles:
        assert privilege.grants([role]) == set(grants([(group, resource)]))


def test_the_readme_lists_exactly_what_the_chart_grants(default: Rendered) -> None:
    """The README's RBAC table is what operators approve: it must not drift from the chart."""
    section = (ROOT / "README.md").read_text().split("\n### RBAC\n", 1)[1].split("\n#", 1)[0]
    table = [line for line in section.splitlines() if line.startswith("|")]
    header = [cell.strip().lower() for cell in table[0].strip("|").split("|")]
    listed: set[tuple[str, str, str]] = set()
    per_kind: dict[str, set[tuple[str, str, str]]] = {}
    for line in table[2:]:
        row = dict(zip(header, (cell.strip() for cell in line.strip("|").split("|")), strict=True))
        kind = row["kind"]
        if kind != "(always)" and kind not in privilege.KIND_RESOURCES:
            continue  # a note row, e.g. the namespaced mode
        group = row["api group"].strip("`").strip('"')
        resource = row["resource"].strip("`")
        # Without a verbs column the section says get, list and watch for every row.
        verbs = [v.strip(" `") for v in row.get("verbs", "get, list, watch").split(",")]
        found = {(group, resource, verb) for verb in verbs}
        listed |= found
        if kind != "(always)":
            per_kind[kind] = found
    assert listed == privilege.grants(default.docs)
    assert {kind: {(g, r) for g, r, _ in found} for kind, found in per_kind.items()} == {
        kind: {resource} for kind, resource in privilege.KIND_RESOURCES.items()
    }


def test_rbac_create_false_renders_no_rbac() -> None:
    rendered = render(merged(LAUNCH, {"rbac": {"create": False}}))
    assert _all_rbac(rendered) == []
    rendered = render(merged(LAUNCH, NAMESPACED, {"rbac": {"create": False}}))
    assert _all_rbac(rendered) == []
    # The collector is still told to stay inside those namespaces.
    assert rendered.config["kubernetes"]["namespaces"] == ["team-a", "team-b"]


def test_conflicting_namespaces_in_config_and_rbac_fail_clearly() -> None:
    values = merged(LAUNCH, NAMESPACED, {"config": {"kubernetes": {"namespaces": ["team-c"]}}})
    with pytest.raises(HelmRenderError) as info:
        render(values)
    assert "config.kubernetes.namespaces differs from rbac.namespaces" in str(info.value)
    # The same list in both places is fine.
    same = merged(values, {"config": {"kubernetes": {"namespaces": ["team-a", "team-b"]}}})
    assert render(same).config["kubernetes"]["namespaces"] == ["team-a", "team-b"]

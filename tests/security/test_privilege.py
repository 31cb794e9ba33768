"""The least-privilege checker the chart and manifest tests rely on finds what it must."""

from __future__ import annotations

from typing import Any

from tests.security import privilege


def meta(kind: str, name: str, **fields: Any) -> dict[str, Any]:
    return {"kind": kind, "metadata": {"name": name}, **fields}


ACCOUNT = meta("ServiceAccount", "collector")
READ = ["get", "list", "watch"]


def test_read_only_on_the_workloads_is_fine() -> None:
    docs = [
        ACCOUNT,
        meta(
            "ClusterRole",
            "collector",
            rules=[
                {"apiGroups": [""], "resources": ["namespaces"], "verbs": READ},
                {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": READ},
                {
                    "apiGroups": [""],
                    "resources": ["namespaces"],
                    "resourceNames": ["team-a"],
                    "verbs": ["get"],
                },
            ],
        ),
        meta(
            "ClusterRoleBinding",
            "collector",
            roleRef={"kind": "ClusterRole", "name": "collector"},
            subjects=[{"kind": "ServiceAccount", "name": "collector"}],
        ),
    ]
    assert privilege.problems(docs) == []
    assert privilege.grants(docs) == {
        ("", "namespaces", "get"),
        ("", "namespaces", "list"),
        ("", "namespaces", "watch"),
        ("apps", "deployments", "get"),
        ("apps", "deployments", "list"),
        ("apps", "deployments", "watch"),
    }


def test_every_kind_of_excess_is_reported() -> None:
    docs = [
        ACCOUNT,
        meta(
            "ClusterRole",
            "greedy",
            aggregationRule={"clusterRoleSelectors": []},
            rules=[
                {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]},
                {"apiGroups": ["*"], "resources": ["deployments"], "verbs": READ},
                {"apiGroups": ["apps"], "resources": ["*"], "verbs": ["*"]},
                {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["patch"]},
                {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["get"]},
                {"nonResourceURLs": ["/metrics"], "verbs": ["get"]},
                {"apiGroups": [""], "resources": ["namespaces"], "resourceNames": ["*"]},
            ],
        ),
        meta(
            "ClusterRoleBinding",
            "admin",
            roleRef={"kind": "ClusterRole", "name": "cluster-admin"},
            subjects=[{"kind": "Group", "name": "system:authenticated"}],
        ),
        meta(
            "RoleBinding",
            "foreign-account",
            roleRef={"kind": "ClusterRole", "name": "greedy"},
            subjects=[{"kind": "ServiceAccount", "name": "someone-else"}],
        ),
    ]
    assert privilege.problems(docs) == [
        "ClusterRole greedy: aggregationRule pulls in other roles' rules",
        "ClusterRole greedy rule 0: grants secrets",
        "ClusterRole greedy rule 0: grants 'secrets' in API group ''",
        "ClusterRole greedy rule 1: wildcard in apiGroups",
        "ClusterRole greedy rule 1: grants 'deployments' in API group '*'",
        "ClusterRole greedy rule 2: wildcard in resources",
        "ClusterRole greedy rule 2: wildcard in verbs",
        "ClusterRole greedy rule 2: verbs beyond get/list/watch: ['*']",
        "ClusterRole greedy rule 2: grants '*' in API group 'apps'",
        "ClusterRole greedy rule 3: verbs beyond get/list/watch: ['patch']",
        "ClusterRole greedy rule 4: grants 'pods/exec' in API group ''",
        "ClusterRole greedy rule 5: unexpected keys ['nonResourceURLs']",
        "ClusterRole greedy rule 5: no apiGroups",
        "ClusterRole greedy rule 5: no resources",
        "ClusterRole greedy rule 6: no verbs",
        "ClusterRole greedy rule 6: wildcard in resourceNames",
        "ClusterRoleBinding admin: binds ClusterRole cluster-admin, not one of ours",
        "ClusterRoleBinding admin: binds Group system:authenticated",
        "RoleBinding foreign-account: binds ServiceAccount someone-else",
    ]

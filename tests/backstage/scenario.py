"""One small Backstage catalog and the cluster it describes, shared by the test against the
simulated catalog and the one against the real Backstage backend: both must see the same."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from collector import config
from collector.simulator.kube import KubeSimulator
from tests.cluster import seed_small, write_config

SOURCE_TEMPLATE = "template:default/service"
TOKEN_ENV = "TEST_BACKSTAGE_TOKEN"


def component(name: str, owner: str | None = None, **annotations: str) -> dict[str, Any]:
    """A Component entity as the catalog API returns it."""
    entity: dict[str, Any] = {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Component",
        "metadata": {"name": name, "namespace": "default", "annotations": annotations},
        "spec": {"type": "service", "lifecycle": "production"},
    }
    if owner is not None:
        entity["spec"]["owner"] = owner
    return entity


def group(name: str, parent: str | None = None, display: str | None = None) -> dict[str, Any]:
    """A Group entity: a department at the top, a team under a parent."""
    spec: dict[str, Any] = {"type": "team" if parent else "department", "children": []}
    if parent is not None:
        spec["parent"] = parent
    if display is not None:
        spec["profile"] = {"displayName": display}
    return {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Group",
        "metadata": {"name": name},
        "spec": spec,
    }


ENTITIES: list[dict[str, Any]] = [
    # Only its kubernetes-id links misc/search-api; made from the golden template.
    component(
        "search-api",
        "group:default/search",
        **{
            "backstage.io/kubernetes-id": "search-api",
            "backstage.io/source-template": SOURCE_TEMPLATE,
            "github.com/project-slug": "acme/search-api",
        },
    ),
    # Its selector matches two workloads; its namespace annotation keeps it to the one in misc.
    component(
        "checkout-web",
        "payments",
        **{
            "backstage.io/kubernetes-label-selector": "app=checkout-web",
            "backstage.io/kubernetes-namespace": "misc",
            "github.com/project-slug": "acme/checkout",
        },
    ),
    # Not a Component: its kubernetes-id attributes nothing.
    {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "System",
        "metadata": {"name": "sidecar", "annotations": {"backstage.io/kubernetes-id": "sidecar"}},
        "spec": {"owner": "payments"},
    },
    group("engineering", display="Engineering"),
    group("payments", "group:default/engineering", "Payments Team"),
    group("search", "engineering"),
    group("billing", "engineering", "Billing"),
]


def seed(sim: KubeSimulator) -> None:
    """`seed_small` and the workloads only the catalog attributes."""
    seed_small(sim)
    for namespace, name, labels in (
        ("misc", "search-api", {"backstage.io/kubernetes-id": "search-api"}),
        ("misc", "checkout-web", {"app": "checkout-web"}),
        ("search", "checkout-web", {"app": "checkout-web"}),
        ("misc", "sidecar", {"backstage.io/kubernetes-id": "sidecar"}),
    ):
        sim.add_workload(
            "Deployment", namespace, name, labels=labels, created="2026-07-01T00:00:00Z"
        )


def settings(
    tmp_path: Path, kube: KubeSimulator, base_url: str, **backstage: Any
) -> config.Settings:
    """Only kubernetes and backstage: no GitHub."""
    path = write_config(tmp_path, {"prod-eu": kube})
    raw = config.load(path).model_dump(by_alias=True, mode="json")
    raw["backstage"] = {"base_url": base_url, "token_env": TOKEN_ENV, **backstage}
    raw["golden_paths"].append(
        {"name": "service-template", "github": {"source_templates": [SOURCE_TEMPLATE]}}
    )
    return config.parse(raw)


def catalog_file(path: Path) -> Path:
    path.write_text(yaml.safe_dump_all(ENTITIES, sort_keys=False), encoding="utf-8")
    return path


# What both catalogs give: search-api is search's and golden through its source template,
# misc/checkout-web payments', search/checkout-web stays search's (its namespace's), and
# misc/sidecar stays unowned next to misc/agent.
EXPECTED = [
    'adoption_team_workloads{path="golden",team="billing"} 0.0',
    'adoption_team_workloads{path="shadow",team="billing"} 1.0',
    'adoption_team_workloads{path="golden",team="payments"} 1.0',
    'adoption_team_workloads{path="shadow",team="payments"} 3.0',
    'adoption_team_workloads{path="golden",team="search"} 1.0',
    'adoption_team_workloads{path="shadow",team="search"} 1.0',
    'adoption_unowned_workloads{kube_cluster="prod-eu"} 2.0',
    'adoption_golden_path_workloads{golden_path="gitops"} 0.0',
    'adoption_golden_path_workloads{golden_path="service-chart"} 1.0',
    'adoption_golden_path_workloads{golden_path="service-template"} 1.0',
    'adoption_team_info{display_name="Billing",parent="engineering",team="billing"} 1.0',
    'adoption_team_info{display_name="Engineering",parent="",team="engineering"} 1.0',
    'adoption_team_info{display_name="Payments Team",parent="engineering",team="payments"} 1.0',
    'adoption_team_info{display_name="",parent="engineering",team="search"} 1.0',
]
EXPECTED_PREFIXES = (
    "adoption_team_workloads{",
    "adoption_unowned_workloads{",
    "adoption_golden_path_workloads{",
    "adoption_team_info{",
)

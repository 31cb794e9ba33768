"""A synthetic engineering organisation: teams, namespaces and workloads in a few clusters.

Feeds `adoption-collector demo`, tests and benchmarks. Deterministic for a given
`now` and `seed`. The default is a realistic mix at demo scale (about 30 teams,
a few hundred workloads in prod-eu and prod-us); `teams`, `workloads_per_team`
and `clusters` scale it up for benchmarks.

Golden paths, as `demo_config` declares them:
  service-chart  labels app.kubernetes.io/managed-by=Helm and helm.sh/chart
                 matching ^golden-service-, field manager helm
  gitops         namespace label platform.example.com/provisioned=true,
                 field manager argocd-controller
Everything else (kubectl, terraform, pulumi, flux, a team's own Helm chart) is shadow.

GitHub (organisation `acme`): each team has 2-6 repositories. Golden ones were
generated from acme/service-template, name template:default/service as their
catalog source template, and/or deploy with acme/platform-workflows' reusable
deploy.yml; shadow ones have only their own workflows; `other` ones none. Owners
come from catalog-info.yaml (`group:default/<team>` or bare) or the `team` custom
property. The repositories use a random generator of their own, so the
Kubernetes side is the same with or without them; the few workloads in the
`shared-apps` namespace carry no team and belong to one only through the
catalog's `backstage.io/kubernetes-id`.

Backstage: the catalog holds a Group per team under one of a few departments (the
team hierarchy) and the Components of every repository's catalog-info.yaml as
Backstage ingested them, those whose file has since broken included.
"""

from __future__ import annotations

import datetime as dt
import random
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import yaml

from collector.simulator.github import CATALOG_PATH, GitHubSimulator
from collector.simulator.kube import KubeSimulator
from collector.simulator.resources import managed_field, object_uid

TEAM_NAMES = (
    "payments", "search", "billing", "checkout", "catalog", "identity", "notifications",
    "shipping", "inventory", "pricing", "recommendations", "reviews", "fraud", "ledger",
    "onboarding", "support", "analytics", "messaging", "media", "maps", "loyalty",
    "promotions", "returns", "subscriptions", "tax", "invoicing", "reporting", "growth",
    "accounts", "orders",
)  # fmt: skip
CLUSTER_NAMES = ("prod-eu", "prod-us", "prod-ap", "staging-eu")
MANDATED = ("billing",)
PROVISIONED_LABEL = "platform.example.com/provisioned"
GOLDEN_CHART = "golden-service-1.4.2"
_SUFFIXES = (
    "api", "web", "worker", "gateway", "consumer", "scheduler", "db", "cache", "sync",
    "admin", "indexer", "exporter", "proxy", "events", "jobs", "reconciler",
)  # fmt: skip
_SHADOW_TOOLS = ("kubectl", "kubectl", "terraform", "team-chart", "pulumi", "flux")

GITHUB_ORG = "acme"
GITHUB_TOKEN_ENV = "ADOPTION_DEMO_GITHUB_TOKEN"
BACKSTAGE_TOKEN_ENV = "ADOPTION_DEMO_BACKSTAGE_TOKEN"
DEPARTMENTS = ("commerce", "core", "customer", "data")
SERVICE_TEMPLATE = f"{GITHUB_ORG}/service-template"
SOURCE_TEMPLATE = "template:default/service"
DEPLOY_WORKFLOW = f"{GITHUB_ORG}/platform-workflows/.github/workflows/deploy.yml"
TEAM_PROPERTY = "team"
KUBERNETES_ID = "backstage.io/kubernetes-id"
LABEL_SELECTOR = "backstage.io/kubernetes-label-selector"
SHARED_APPS = "shared-apps"
_OTHER_SUFFIXES = ("docs", "scripts", "notebooks", "runbooks", "dashboards", "infra")
_SHARED_SUFFIXES = ("storefront", "partner-portal", "status-page", "edge-router", "webhooks")

Style = Literal["golden", "mixed", "shadow"]
GoldenPathName = Literal["service-chart", "gitops"]


@dataclass(frozen=True, slots=True)
class Team:
    name: str
    style: Style  # golden: every workload golden; shadow: none; mixed: some
    golden_path: GoldenPathName  # the one this team's golden workloads use
    onboarded: dt.datetime  # creation of its first namespace


@dataclass(frozen=True, slots=True)
class SimNamespace:
    name: str
    labels: dict[str, str]
    created: dt.datetime


@dataclass(frozen=True, slots=True)
class SimWorkload:
    kind: str
    namespace: str
    name: str
    created: dt.datetime
    labels: dict[str, str]
    annotations: dict[str, str] = field(default_factory=dict)
    managed_fields: list[dict[str, Any]] = field(default_factory=list)
    owner_references: list[dict[str, Any]] = field(default_factory=list)
    golden: bool = False  # what the generator intended; tests compare it with the rules


RepoKind = Literal["golden", "shadow", "other"]
PropertyValue = str | list[str] | None


@dataclass(frozen=True, slots=True)
class SimRepository:
    name: str
    created: dt.datetime
    pushed: dt.datetime | None  # None: an empty repository
    kind: RepoKind  # what the generator intended; tests compare it with the rules
    team: str | None  # the intended owner, through the catalog or the custom property
    archived: bool = False
    template: str | None = None  # owner/name
    files: dict[str, str | bytes] = field(default_factory=dict)
    properties: dict[str, PropertyValue] = field(default_factory=dict)
    # Workloads in shared-apps this repository's Component claims by kubernetes-id.
    linked_workload: str | None = None


@dataclass(slots=True)
class ClusterData:
    name: str
    namespaces: list[SimNamespace] = field(default_factory=list)
    workloads: list[SimWorkload] = field(default_factory=list)


@dataclass(slots=True)
class Organisation:
    now: dt.datetime
    teams: tuple[Team, ...]
    clusters: dict[str, ClusterData]
    repositories: tuple[SimRepository, ...] = ()  # oldest first

    @property
    def cluster_names(self) -> tuple[str, ...]:
        return tuple(self.clusters)

    @property
    def workload_count(self) -> int:
        return sum(len(c.workloads) for c in self.clusters.values())

    def load_into(self, sim: KubeSimulator, cluster: str) -> None:
        data = self.clusters[cluster]
        for ns in data.namespaces:
            sim.add_namespace(ns.name, ns.labels, ns.created)
        for w in data.workloads:
            sim.add_workload(
                w.kind,
                w.namespace,
                w.name,
                labels=w.labels,
                annotations=w.annotations,
                created=w.created,
                managed_fields=w.managed_fields,
                owner_references=w.owner_references,
            )

    def backstage_entities(self) -> list[dict[str, Any]]:
        """The Backstage catalog: Groups (each team under a department) and Components."""
        entities: list[dict[str, Any]] = [
            _entity("Group", name, {"type": "department", "children": []}) for name in DEPARTMENTS
        ]
        for team in self.teams:
            department = DEPARTMENTS[zlib.crc32(team.name.encode()) % len(DEPARTMENTS)]
            spec = {
                "type": "team",
                "parent": department,
                "children": [],
                "profile": {"displayName": f"{team.name.capitalize()} Team"},
            }
            entities.append(_entity("Group", team.name, spec))
        for repo in self.repositories:
            text = repo.files.get(CATALOG_PATH)
            try:
                docs = list(yaml.safe_load_all(text)) if isinstance(text, str) else []
            except yaml.YAMLError:
                docs = []
            found = [d for d in docs if isinstance(d, dict) and d.get("kind") == "Component"]
            if not found and text is not None and repo.team is not None and not repo.archived:
                # The file broke after Backstage ingested it: the catalog still knows it.
                found = [yaml.safe_load(_component(repo.name.rpartition("/")[2], repo.team))]
            entities.extend(d for d in found if isinstance(d.get("metadata"), dict))
        return entities

    def load_github(self, sim: GitHubSimulator) -> None:
        """Add the repositories, oldest first, so GitHub ids increase with creation."""
        for repo in self.repositories:
            sim.add_repo(
                repo.name,
                created=repo.created,
                pushed=repo.pushed,
                archived=repo.archived,
                template=repo.template,
                files=repo.files,
                properties=repo.properties,
            )

    def demo_config(
        self,
        kubeconfigs: Mapping[str, str],
        state_path: str,
        listen: str,
        launch_date: dt.date,
        github_base_url: str | None = None,
        *,
        backstage_base_url: str | None = None,
    ) -> dict[str, Any]:
        """The raw config (as YAML would load it) whose golden paths match this organisation.

        With `github_base_url`, GitHub too: the token comes from $ADOPTION_DEMO_GITHUB_TOKEN;
        with `backstage_base_url`, Backstage: from $ADOPTION_DEMO_BACKSTAGE_TOKEN.
        """
        service_chart = {
            "labels": {
                "matchLabels": {"app.kubernetes.io/managed-by": "Helm"},
                "matchExpressions": [
                    {"key": "helm.sh/chart", "operator": "Matches", "values": ["^golden-service-"]}
                ],
            },
            "field_managers": ["helm"],
        }
        gitops = {
            "namespace_labels": {"matchLabels": {PROVISIONED_LABEL: "true"}},
            "field_managers": ["argocd-controller"],
        }
        raw: dict[str, Any] = {
            "platform": {"launch_date": launch_date.isoformat()},
            "teams": {"mandated": list(MANDATED)},
            "ownership": {"labels": ["team", "owner"]},
            "kubernetes": {
                "interval": "30s",
                "clusters": [
                    {"name": name, "kubeconfig": path} for name, path in kubeconfigs.items()
                ],
            },
            "golden_paths": [
                {"name": "service-chart", "match": service_chart},
                {"name": "gitops", "match": gitops},
            ],
            "state": {"path": state_path},
            "server": {"listen": listen},
        }
        if github_base_url is None:
            return raw
        raw["ownership"]["github_property"] = TEAM_PROPERTY
        raw["golden_paths"][0]["github"] = {
            "template_repositories": [SERVICE_TEMPLATE],
            "source_templates": [SOURCE_TEMPLATE],
            "workflows": [DEPLOY_WORKFLOW],
        }
        github = {
            "org": GITHUB_ORG,
            "base_url": github_base_url,
            "token_env": GITHUB_TOKEN_ENV,
            "interval": "1m",
        }
        # Rebuilt so the section sits after kubernetes in the YAML the demo writes out.
        ordered: dict[str, Any] = {}
        for key, value in raw.items():
            ordered[key] = value
            if key == "kubernetes":
                ordered["github"] = github
                if backstage_base_url is not None:
                    ordered["backstage"] = {
                        "base_url": backstage_base_url,
                        "token_env": BACKSTAGE_TOKEN_ENV,
                        "interval": "1m",
                        "page_size": 50,
                    }
        return ordered


class _Builder:
    def __init__(self, now: dt.datetime, rng: random.Random, clusters: dict[str, ClusterData]):
        self.now = now
        self.rng = rng
        self.clusters = clusters

    def _after(self, start: dt.datetime, latest: dt.datetime | None = None) -> dt.datetime:
        """A whole-second moment between `start` (+1h) and `latest` (default: an hour ago)."""
        latest = latest or self.now - dt.timedelta(hours=1)
        span = max((latest - start).total_seconds() - 3600, 60.0)
        moment = start + dt.timedelta(seconds=3600 + self.rng.uniform(0, span))
        return moment.replace(microsecond=0)

    def workload(
        self,
        cluster: str,
        team: Team,
        ns: SimNamespace,
        name: str,
        *,
        golden: bool,
        kind: str,
        own_team: str | None = None,
    ) -> None:
        rng = self.rng
        created = self._after(ns.created)
        labels = {"app.kubernetes.io/name": name}
        if team.name:
            labels["app.kubernetes.io/part-of"] = team.name
        annotations: dict[str, str] = {}
        if own_team is not None:
            labels["team"] = own_team
        group = "batch" if kind in ("CronJob", "Job") else "apps"
        api = f"{group}/v1"
        if golden and team.golden_path == "service-chart":
            labels |= {"app.kubernetes.io/managed-by": "Helm", "helm.sh/chart": GOLDEN_CHART}
            annotations = {
                "meta.helm.sh/release-name": name,
                "meta.helm.sh/release-namespace": ns.name,
            }
            managers = [managed_field("helm", created, api_version=api)]
        elif golden:
            annotations = {
                "argocd.argoproj.io/tracking-id": f"{name}:{group}/{kind}:{ns.name}/{name}"
            }
            managers = [
                managed_field("argocd-controller", created, operation="Apply", api_version=api)
            ]
        else:
            tool = rng.choice(_SHADOW_TOOLS)
            if tool == "kubectl":
                managers = [managed_field("kubectl-client-side-apply", created, api_version=api)]
                if rng.random() < 0.3:
                    managers.append(
                        managed_field("kubectl-edit", self._after(created), api_version=api)
                    )
            elif tool == "terraform":
                managers = [
                    managed_field("terraform-provider-kubernetes", created, api_version=api)
                ]
            elif tool == "team-chart":
                labels |= {
                    "app.kubernetes.io/managed-by": "Helm",
                    "helm.sh/chart": f"{team.name}-app-0.3.1",
                }
                managers = [managed_field("helm", created, api_version=api)]
            elif tool == "pulumi":
                managers = [
                    managed_field(
                        f"pulumi-kubernetes-{rng.getrandbits(24):06x}", created, api_version=api
                    )
                ]
            else:
                labels["kustomize.toolkit.fluxcd.io/name"] = team.name
                managers = [
                    managed_field(
                        "kustomize-controller", created, operation="Apply", api_version=api
                    )
                ]
        if kind in ("Deployment", "StatefulSet", "DaemonSet"):
            # In-cluster controllers write too; deploy-tool detection must look past them.
            status_time = self._after(created)
            managers.append(
                managed_field(
                    "kube-controller-manager",
                    status_time,
                    api_version=api,
                    spec=False,
                    subresource="status",
                )
            )
            if kind == "Deployment" and rng.random() < 0.2:
                managers.append(
                    managed_field(
                        "kube-controller-manager", status_time, api_version=api, subresource="scale"
                    )
                )
        self.clusters[cluster].workloads.append(
            SimWorkload(kind, ns.name, name, created, labels, annotations, managers, golden=golden)
        )
        if kind == "CronJob":
            self.jobs(cluster, ns, name, labels, golden)

    def jobs(
        self, cluster: str, ns: SimNamespace, cronjob: str, labels: dict[str, str], golden: bool
    ) -> None:
        owner = {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "name": cronjob,
            "uid": object_uid("cronjobs", ns.name, cronjob),
            "controller": True,
            "blockOwnerDeletion": True,
        }
        for runs_ago in (2, 1):
            started = (self.now - dt.timedelta(minutes=30 * runs_ago)).replace(
                second=0, microsecond=0
            )
            name = f"{cronjob}-{int(started.timestamp()) // 60}"
            job_labels = {**labels, "batch.kubernetes.io/job-name": name}
            managers = [
                managed_field("kube-controller-manager", started, api_version="batch/v1"),
                managed_field(
                    "kube-controller-manager",
                    started + dt.timedelta(minutes=2),
                    api_version="batch/v1",
                    spec=False,
                    subresource="status",
                ),
            ]
            self.clusters[cluster].workloads.append(
                SimWorkload(
                    "Job", ns.name, name, started, job_labels, {}, managers, [owner], golden=golden
                )
            )


def _team_names(count: int) -> list[str]:
    return [
        TEAM_NAMES[i % len(TEAM_NAMES)]
        + (f"-{i // len(TEAM_NAMES) + 1}" if i >= len(TEAM_NAMES) else "")
        for i in range(count)
    ]


def _kind(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.74:
        return "Deployment"
    if roll < 0.87:
        return "StatefulSet"
    if roll < 0.90:
        return "DaemonSet"
    return "CronJob"


def build_organisation(
    now: dt.datetime,
    *,
    teams: int = 30,
    seed: int = 7,
    workloads_per_team: int | None = None,
    clusters: int = 2,
    repositories_per_team: int | None = None,
) -> Organisation:
    """A deterministic organisation. `workloads_per_team` fixes each team's count
    (Jobs of CronJobs included) for benchmarks; by default it varies from 5 to 14.
    `repositories_per_team` likewise fixes its GitHub repositories (default 2 to 6)."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)
    rng = random.Random(seed)
    cluster_names = [
        CLUSTER_NAMES[i] if i < len(CLUSTER_NAMES) else f"cluster-{i + 1}" for i in range(clusters)
    ]
    data = {name: ClusterData(name) for name in cluster_names}
    b = _Builder(now, rng, data)
    fixed: dict[str, tuple[Style, GoldenPathName]] = {
        "payments": ("golden", "service-chart"),
        "checkout": ("golden", "gitops"),
        "billing": ("mixed", "service-chart"),
        "search": ("shadow", "service-chart"),
        "fraud": ("shadow", "gitops"),
    }
    names = _team_names(teams)
    team_list: list[Team] = []
    for name in names:
        style, path = fixed.get(name) or (
            rng.choices(("golden", "mixed", "shadow"), (0.3, 0.45, 0.25))[0],
            rng.choice(("service-chart", "gitops")),
        )
        onboarded = (now - dt.timedelta(days=rng.uniform(14, 300))).replace(microsecond=0)
        team = Team(name, style, path, onboarded)
        team_list.append(team)
        home = (
            cluster_names
            if len(cluster_names) == 1 or rng.random() < 0.6
            else rng.sample(cluster_names, 1)
        )
        ns_labels = (
            {"owner": f"group:default/{name.title()}"}
            if name == "checkout" or rng.random() < 0.2
            else {"team": name}
        )
        if path == "gitops" and style != "shadow":
            ns_labels[PROVISIONED_LABEL] = "true"
        namespaces = []
        for i, cluster in enumerate(home):
            created = onboarded + dt.timedelta(days=3 * i)
            namespaces.append((cluster, SimNamespace(name, ns_labels, created)))
            if rng.random() < 0.25:
                namespaces.append(
                    (cluster, SimNamespace(f"{name}-jobs", ns_labels, b._after(created)))
                )
        for cluster, ns in namespaces:
            data[cluster].namespaces.append(ns)
        count = workloads_per_team if workloads_per_team is not None else rng.randint(5, 14)
        made, serial = 0, 0
        while made < count:
            cluster, ns = namespaces[serial % len(namespaces)]
            kind = _kind(rng)
            if kind == "CronJob" and count - made < 3:
                kind = "Deployment"
            golden = style == "golden" or (style == "mixed" and (serial % 2 == 0))
            suffix = _SUFFIXES[serial % len(_SUFFIXES)] + (
                f"-{serial // len(_SUFFIXES)}" if serial >= len(_SUFFIXES) else ""
            )
            other = rng.choice(names) if rng.random() < 0.04 else None
            b.workload(
                cluster, team, ns, f"{name}-{suffix}", golden=golden, kind=kind, own_team=other
            )
            made += 3 if kind == "CronJob" else 1
            serial += 1
    _add_shared(b, cluster_names, names)
    # A generator of its own: the Kubernetes side must not change because GitHub exists.
    github_rng = random.Random(f"{seed}:github")
    repositories = _RepoBuilder(now, github_rng).organisation(team_list, repositories_per_team)
    _add_shared_apps(_Builder(now, github_rng, data), cluster_names[0], repositories)
    for cluster_data in data.values():
        cluster_data.namespaces.sort(key=lambda n: n.name)
    return Organisation(now, tuple(team_list), data, tuple(repositories))


def _add_shared(b: _Builder, cluster_names: list[str], team_names: list[str]) -> None:
    """Namespaces no team owns: the control plane, monitoring, and legacy leftovers."""
    long_ago = (b.now - dt.timedelta(days=420)).replace(microsecond=0)
    for cluster in cluster_names:
        system = SimNamespace(
            "kube-system", {"kubernetes.io/metadata.name": "kube-system"}, long_ago
        )
        b.clusters[cluster].namespaces += [
            system,
            SimNamespace("kube-public", {}, long_ago),
            SimNamespace("kube-node-lease", {}, long_ago),
        ]
        for kind, name in (
            ("Deployment", "coredns"),
            ("DaemonSet", "kube-proxy"),
            ("Deployment", "metrics-server"),
        ):
            created = long_ago + dt.timedelta(minutes=5)
            managers = [
                managed_field("kubeadm", created),
                managed_field(
                    "kube-controller-manager", b._after(created), spec=False, subresource="status"
                ),
            ]
            b.clusters[cluster].workloads.append(
                SimWorkload(kind, "kube-system", name, created, {"k8s-app": name}, {}, managers)
            )
    legacy = SimNamespace(
        "legacy-tools", {}, (b.now - dt.timedelta(days=380)).replace(microsecond=0)
    )
    unowned = Team("", "shadow", "service-chart", legacy.created)
    first = cluster_names[0]
    b.clusters[first].namespaces.append(legacy)
    for name in ("cron-runner", "report-mailer", "ftp-bridge"):
        b.workload(first, unowned, legacy, name, golden=False, kind="Deployment")
    # One workload in the unowned namespace names its team itself.
    if "search" in team_names:
        b.workload(
            first,
            unowned,
            legacy,
            "search-reindexer",
            golden=False,
            kind="CronJob",
            own_team="search",
        )
    last = cluster_names[-1]
    sandbox = SimNamespace("sandbox", {}, (b.now - dt.timedelta(days=90)).replace(microsecond=0))
    b.clusters[last].namespaces.append(sandbox)
    for name in ("demo-app", "load-test"):
        b.workload(last, unowned, sandbox, name, golden=False, kind="Deployment")


# --- GitHub ------------------------------------------------------------------------------

_GOLDEN_SIGNALS: tuple[tuple[str, ...], ...] = (
    ("template", "source", "workflow"),
    ("template", "source", "workflow"),
    ("template", "source", "workflow"),
    ("source", "workflow"),
    ("template", "workflow"),
    ("template",),
    ("workflow",),
    ("source",),
)
_KIND_WEIGHTS: dict[Style, tuple[float, float, float]] = {  # golden, shadow, other
    "golden": (0.8, 0.1, 0.1),
    "mixed": (0.45, 0.4, 0.15),
    "shadow": (0.0, 0.75, 0.25),
}
_CI_WORKFLOW = """\
name: ci
on: [push, pull_request]
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-go@v5
        with:
          go-version: "1.23"
      - run: make test
"""


def _golden_deploy(name: str) -> str:
    return f"""\
name: deploy
on:
  push:
    branches: [main]
  workflow_dispatch: {{}}
jobs:
  deploy:
    uses: {DEPLOY_WORKFLOW}@v2
    with:
      service: {name}
    secrets: inherit
"""


def _kubectl_deploy(name: str) -> str:
    return f"""\
name: deploy
on:
  push:
    branches: [main]
jobs:
  deploy:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: kubectl apply -f deploy/{name}.yaml
"""


def _own_reusable(caller: str) -> dict[str, str]:
    """A release workflow whose job calls the repository's own reusable build workflow."""
    return {
        ".github/workflows/release.yml": f"""\
name: release
on:
  push:
    tags: ["v*"]
jobs:
  build:
    uses: {caller}
  publish:
    needs: build
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: helm upgrade --install app ./chart
""",
        ".github/workflows/build.yml": """\
name: build
on:
  workflow_call: {}
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: docker build -t app .
""",
    }


def _component(
    name: str,
    owner: str,
    *,
    component_type: str = "service",
    source_template: bool = False,
    label_selector: str | None = None,
) -> str:
    annotations = [f"github.com/project-slug: {GITHUB_ORG}/{name}"]
    if component_type == "service":
        annotations.append(f"{KUBERNETES_ID}: {name}")
    if label_selector is not None:
        annotations.append(f"{LABEL_SELECTOR}: '{label_selector}'")
    if source_template:
        annotations.append(f"backstage.io/source-template: {SOURCE_TEMPLATE}")
    lines = "".join(f"    {a}\n" for a in annotations)
    return f"""\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: {name}
  annotations:
{lines}spec:
  type: {component_type}
  lifecycle: production
  owner: {owner}
"""


def _entity(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }


def _second_entity(kind: str, name: str, owner: str) -> str:
    if kind == "API":
        return f"""\
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata:
  name: {name}-api
spec:
  type: openapi
  lifecycle: production
  owner: {owner}
  definition:
    $text: ./openapi.yaml
"""
    return f"""\
---
apiVersion: backstage.io/v1alpha1
kind: System
metadata:
  name: {name}-system
spec:
  owner: {owner}
"""


_INVALID_CATALOG = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: {name}
  annotations: {{github.com/project-slug: {org}/{name}
spec:
  owner: {team}
"""
_LIST_CATALOG = """\
- apiVersion: backstage.io/v1alpha1
  kind: Component
  metadata:
    name: {name}
  spec:
    owner: group:default/{team}
"""


class _RepoBuilder:
    """The organisation's repositories, from a random generator of their own."""

    def __init__(self, now: dt.datetime, rng: random.Random) -> None:
        self.now = now
        self.rng = rng
        self.names: set[str] = set()

    def organisation(self, teams: list[Team], per_team: int | None) -> list[SimRepository]:
        rng = self.rng
        shared = {t.name for t in rng.sample(teams, min(len(_SHARED_SUFFIXES), len(teams)))}
        repos = self.platform()
        for team in teams:
            count = per_team if per_team is not None else rng.randint(2, 6)
            repos += self.team(team, count, linked=team.name in shared)
        repos = self.spoil(repos)
        repos.append(self.empty(rng.choice(teams)))
        return sorted(repos, key=lambda r: (r.created, r.name))

    def _moment(self, start: dt.datetime) -> dt.datetime:
        """A whole-second moment between `start` and two hours ago."""
        span = max((self.now - start).total_seconds() - 7200, 60.0)
        return (start + dt.timedelta(seconds=self.rng.uniform(0, span))).replace(microsecond=0)

    def _name(self, wanted: str) -> str:
        name, n = wanted, 1
        while name in self.names:
            n += 1
            name = f"{wanted}-{n}"
        self.names.add(name)
        return name

    def platform(self) -> list[SimRepository]:
        """The platform team's own repositories; nobody is named as their owner."""
        created = (self.now - dt.timedelta(days=420)).replace(microsecond=0)
        template = f"""\
apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata:
  name: {SOURCE_TEMPLATE.rpartition("/")[2]}
spec:
  owner: group:default/platform
  type: service
"""
        reusable = """\
name: deploy
on:
  workflow_call:
    inputs:
      service: {required: true, type: string}
jobs:
  deploy:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: helm upgrade --install ${{ inputs.service }} oci://charts/golden-service
"""
        files: list[tuple[str, dict[str, str | bytes], RepoKind]] = [
            (
                SERVICE_TEMPLATE.partition("/")[2],
                {
                    "README.md": "# Service template\n",
                    CATALOG_PATH: template,
                    "skeleton/catalog-info.yaml": "metadata:\n  name: ${{ values.name }}\n",
                },
                "other",
            ),
            (
                DEPLOY_WORKFLOW.split("/")[1],
                {
                    ".github/workflows/deploy.yml": reusable,
                    ".github/workflows/lint.yml": _CI_WORKFLOW,
                },
                "shadow",
            ),
        ]
        return [
            SimRepository(
                self._name(name),
                created,
                self._moment(created),
                kind,
                None,
                files=repo_files,
            )
            for name, repo_files, kind in files
        ]

    def team(self, team: Team, count: int, *, linked: bool) -> list[SimRepository]:
        rng = self.rng
        # Some teams kept code on GitHub long before their first namespace.
        start = team.onboarded
        if rng.random() < 0.3:
            start -= dt.timedelta(days=rng.uniform(30, 400))
        repos = []
        for index in range(count):
            is_linked = linked and index == count - 1
            if is_linked:
                kind: RepoKind = "shadow" if team.style == "shadow" else "golden"
            else:
                kind = rng.choices(("golden", "shadow", "other"), _KIND_WEIGHTS[team.style])[0]
            # The workload a linked repository deploys (in shared-apps, made 400 days
            # ago) must not predate it.
            first = self.now - dt.timedelta(days=rng.uniform(410, 460)) if is_linked else start
            repos.append(self.repository(team, index, kind, first, linked=is_linked))
        return repos

    def repository(
        self, team: Team, index: int, kind: RepoKind, start: dt.datetime, *, linked: bool
    ) -> SimRepository:
        rng = self.rng
        if linked:
            suffix = _SHARED_SUFFIXES[rng.randrange(len(_SHARED_SUFFIXES))]
        elif kind == "other":
            suffix = rng.choice(_OTHER_SUFFIXES)
        else:
            suffix = _SUFFIXES[index % len(_SUFFIXES)]
        name = self._name(f"{team.name}-{suffix}")
        created = start.replace(microsecond=0) if linked else self._moment(start)
        mode = (
            "qualified"
            if linked
            else rng.choices(("qualified", "bare", "property", "none"), (0.62, 0.18, 0.14, 0.06))[0]
        )
        signals = set(rng.choice(_GOLDEN_SIGNALS)) if kind == "golden" else set()
        if mode not in ("qualified", "bare"):
            # Without a catalog file there is no source-template annotation to carry.
            signals.discard("source")
            if kind == "golden" and not signals:
                signals.add("workflow")
        files = self.workflows(name, kind, signals)
        if mode in ("qualified", "bare") and (kind != "other" or rng.random() < 0.5):
            owner = f"group:default/{team.name}" if mode == "qualified" else team.name
            files[CATALOG_PATH] = self.catalog(name, owner, kind, "source" in signals, index)
        properties: dict[str, PropertyValue] = {}
        if mode == "property" or (mode != "none" and rng.random() < 0.2):
            # Multi-select properties arrive as lists.
            properties[TEAM_PROPERTY] = [team.name] if rng.random() < 0.2 else team.name
        if rng.random() < 0.3:
            properties["cost-center"] = f"cc-{rng.randint(1000, 9999)}"
        if kind == "other" and not files:
            files["README.md"] = f"# {name}\n"
        template = SERVICE_TEMPLATE if "template" in signals else None
        if kind == "shadow" and rng.random() < 0.1:
            template = f"{GITHUB_ORG}/node-starter"  # a template, just not the golden one
        return SimRepository(
            name,
            created,
            self._moment(created),
            kind,
            None if mode == "none" else team.name,
            template=template,
            files=files,
            properties=properties,
            linked_workload=name if linked else None,
        )

    def empty(self, team: Team) -> SimRepository:
        """A repository created and never pushed to; only its custom property names a team."""
        created = self._moment(team.onboarded)
        name = self._name(f"{team.name}-playground")
        return SimRepository(
            name, created, None, "other", team.name, properties={TEAM_PROPERTY: team.name}
        )

    def workflows(self, name: str, kind: RepoKind, signals: set[str]) -> dict[str, str | bytes]:
        rng = self.rng
        if kind == "other":
            return {}
        files: dict[str, str | bytes] = {".github/workflows/ci.yml": _CI_WORKFLOW}
        if "workflow" in signals:
            files[".github/workflows/deploy.yml"] = _golden_deploy(name)
        elif kind == "shadow" and rng.random() < 0.5:
            caller = rng.choice(
                (
                    "./.github/workflows/build.yml",
                    f"{GITHUB_ORG}/{name}/.github/workflows/build.yml@main",
                )
            )
            files |= _own_reusable(caller)
        elif kind == "shadow":
            extension = rng.choice((".yml", ".yaml"))
            files[f".github/workflows/deploy{extension}"] = _kubectl_deploy(name)
        # Directories hold more than workflows; the collector must skip the rest.
        if rng.random() < 0.15:
            files[".github/workflows/README.md"] = "Workflows of this repository.\n"
        if rng.random() < 0.1:
            files[".github/workflows/scripts/check.sh"] = "#!/bin/sh\nexit 0\n"
        return files

    def catalog(
        self, name: str, owner: str, kind: RepoKind, source_template: bool, index: int
    ) -> str:
        rng = self.rng
        selector = None
        if index == 0 and kind != "other" and rng.random() < 0.3:
            # The team's first workload is always <team>-api, the name of its first repository.
            selector = f"app.kubernetes.io/name={name}"
        text = _component(
            name,
            owner,
            component_type="documentation" if kind == "other" else "service",
            source_template=source_template,
            label_selector=selector,
        )
        if kind != "other" and rng.random() < 0.2:
            text += _second_entity(rng.choice(("API", "System")), name, owner)
        return text

    def spoil(self, repos: list[SimRepository]) -> list[SimRepository]:
        """Archive a couple of repositories and break a couple of catalog files."""
        rng = self.rng
        candidates = [
            i
            for i, r in enumerate(repos)
            if r.linked_workload is None and r.team is not None and r.kind != "golden"
        ]
        chosen = rng.sample(candidates, min(4, len(candidates)))
        for i in chosen[:2]:
            repos[i] = replace(repos[i], archived=True)
        for i, template in zip(chosen[2:], (_INVALID_CATALOG, _LIST_CATALOG), strict=False):
            repo = repos[i]
            team = repo.team or ""
            text = template.format(name=repo.name, org=GITHUB_ORG, team=team)
            # With the catalog unreadable, only the custom property can still name the team.
            repos[i] = replace(
                repo,
                files={**repo.files, CATALOG_PATH: text},
                properties={**repo.properties, TEAM_PROPERTY: team},
            )
        return repos


def _add_shared_apps(b: _Builder, cluster: str, repositories: list[SimRepository]) -> None:
    """Workloads no label or namespace attributes: only their Component's kubernetes-id does."""
    linked = [(r.linked_workload, r.kind == "golden") for r in repositories if r.linked_workload]
    if not linked:
        return
    ns = SimNamespace(SHARED_APPS, {}, (b.now - dt.timedelta(days=400)).replace(microsecond=0))
    b.clusters[cluster].namespaces.append(ns)
    for name, golden in linked:
        nobody = Team("", "golden" if golden else "shadow", "service-chart", ns.created)
        b.workload(cluster, nobody, ns, name, golden=golden, kind="Deployment")
        # `workload()` stays as the Kubernetes side uses it; the label is added afterwards.
        workloads = b.clusters[cluster].workloads
        workloads[-1] = replace(workloads[-1], labels={**workloads[-1].labels, KUBERNETES_ID: name})

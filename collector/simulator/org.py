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
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

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

    def demo_config(
        self,
        kubeconfigs: Mapping[str, str],
        state_path: str,
        listen: str,
        launch_date: dt.date,
    ) -> dict[str, Any]:
        """The raw config (as YAML would load it) whose golden paths match this organisation."""
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
        return {
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
) -> Organisation:
    """A deterministic organisation. `workloads_per_team` fixes each team's count
    (Jobs of CronJobs included) for benchmarks; by default it varies from 5 to 14."""
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
    for cluster_data in data.values():
        cluster_data.namespaces.sort(key=lambda n: n.name)
    return Organisation(now, tuple(team_list), data)


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

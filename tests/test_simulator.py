"""The simulated API server, driven by the official client's typed APIs and by raw HTTP."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from collector import config as collector_config
from collector.simulator.kube import METADATA_ACCEPT, KubeSimulator
from collector.simulator.loopback import TRICKLE_CHUNK
from collector.simulator.org import PROVISIONED_LABEL, build_organisation
from collector.simulator.resources import managed_field, owner_reference

NOW = dt.datetime(2026, 5, 1, 12, tzinfo=dt.UTC)


@pytest.fixture
def api(kube_sim: KubeSimulator, kubeconfig: Path) -> Iterator[client.ApiClient]:
    api_client = config.new_client_from_config(config_file=str(kubeconfig), context="sim")
    yield api_client
    api_client.close()


def seed(sim: KubeSimulator) -> None:
    sim.add_namespace("pay", {"team": "payments"}, "2026-01-01T00:00:00Z")
    sim.add_namespace("shop", {"team": "checkout"}, dt.datetime(2026, 2, 1, tzinfo=dt.UTC))
    for ns, name, labels in [
        ("pay", "api", {"tier": "web", "env": "prod"}),
        ("pay", "worker", {"tier": "backend", "env": "prod"}),
        ("shop", "cart", {"tier": "web"}),
        ("shop", "db", {"tier": "data", "env": "prod"}),
        ("shop", "web", {"env": "staging"}),
    ]:
        sim.add_workload(
            "Deployment",
            ns,
            name,
            labels=labels,
            created="2026-03-01T00:00:00Z",
            managed_fields=[managed_field("helm", "2026-03-01T00:00:00Z")],
        )


def get(
    sim: KubeSimulator, path: str, accept: str = "application/json", token: str | None = None
) -> tuple[int, dict[str, str], Any]:
    request = urllib.request.Request(sim.url + path, headers={"Accept": accept})
    request.add_header("Authorization", f"Bearer {token or sim.token}")
    try:
        with urllib.request.urlopen(request, timeout=5, context=sim.client_context()) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), json.loads(err.read())


def https(sim: KubeSimulator) -> http.client.HTTPSConnection:
    return http.client.HTTPSConnection(
        "127.0.0.1", sim.port, timeout=5, context=sim.client_context()
    )


def test_typed_lists_deserialise(kube_sim: KubeSimulator, api: client.ApiClient) -> None:
    seed(kube_sim)
    cj = kube_sim.add_workload("CronJob", "pay", "nightly")
    kube_sim.add_workload("Job", "pay", "nightly-1", owner_references=[owner_reference(cj)])
    kube_sim.add_workload("StatefulSet", "shop", "cache")
    kube_sim.add_workload("DaemonSet", "pay", "agent")

    namespaces = client.CoreV1Api(api).list_namespace()
    assert [n.metadata.name for n in namespaces.items] == ["pay", "shop"]
    assert namespaces.items[1].metadata.creation_timestamp == dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
    assert namespaces.items[0].metadata.labels == {"team": "payments"}

    apps = client.AppsV1Api(api)
    deployments = apps.list_deployment_for_all_namespaces()
    assert [(d.metadata.namespace, d.metadata.name) for d in deployments.items] == [
        ("pay", "api"),
        ("pay", "worker"),
        ("shop", "cart"),
        ("shop", "db"),
        ("shop", "web"),
    ]
    first = deployments.items[0]
    assert first.kind == "Deployment"
    assert first.metadata.managed_fields[0].manager == "helm"
    assert first.spec.template.spec.containers[0].name == "app"
    assert apps.list_stateful_set_for_all_namespaces().items[0].spec.service_name == "cache"
    assert apps.list_daemon_set_for_all_namespaces().items[0].status.number_ready == 3
    assert [d.metadata.name for d in apps.list_namespaced_deployment("shop").items] == [
        "cart",
        "db",
        "web",
    ]

    batch = client.BatchV1Api(api)
    assert batch.list_cron_job_for_all_namespaces().items[0].spec.schedule
    job = batch.list_job_for_all_namespaces().items[0]
    assert job.metadata.owner_references[0].kind == "CronJob"
    assert job.metadata.owner_references[0].uid == cj["metadata"]["uid"]


def test_pagination_with_the_typed_client(kube_sim: KubeSimulator, api: client.ApiClient) -> None:
    seed(kube_sim)
    apps = client.AppsV1Api(api)
    names, token, remaining = [], None, []
    for _ in range(10):
        page = apps.list_deployment_for_all_namespaces(limit=2, _continue=token)
        names += [d.metadata.name for d in page.items]
        remaining.append(page.metadata.remaining_item_count)
        token = page.metadata._continue
        if not token:
            break
    assert names == ["api", "worker", "cart", "db", "web"]
    assert remaining == [3, 1, None]
    assert page.metadata.resource_version


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("tier=web", ["api", "cart"]),
        ("tier==web,env=prod", ["api"]),
        ("tier!=web", ["worker", "db", "web"]),  # != also matches objects without the label
        ("tier", ["api", "worker", "cart", "db"]),
        ("!tier", ["web"]),
        ("tier in (web, data)", ["api", "cart", "db"]),
        ("tier notin (web),env", ["worker", "db", "web"]),
        ("env in (prod),tier in (backend,data)", ["worker", "db"]),
    ],
)
def test_label_selectors(
    kube_sim: KubeSimulator, api: client.ApiClient, selector: str, expected: list[str]
) -> None:
    seed(kube_sim)
    page = client.AppsV1Api(api).list_deployment_for_all_namespaces(label_selector=selector)
    assert [d.metadata.name for d in page.items] == expected


def test_selector_with_limit_pages_over_matches(
    kube_sim: KubeSimulator, api: client.ApiClient
) -> None:
    seed(kube_sim)
    apps = client.AppsV1Api(api)
    first = apps.list_deployment_for_all_namespaces(label_selector="env=prod", limit=1)
    second = apps.list_deployment_for_all_namespaces(
        label_selector="env=prod", limit=5, _continue=first.metadata._continue
    )
    assert [d.metadata.name for d in first.items + second.items] == ["api", "worker", "db"]
    assert (
        first.metadata.remaining_item_count is None
    )  # as the real server: unknown with a selector


def test_bad_selector_is_400(kube_sim: KubeSimulator) -> None:
    status, _, body = get(kube_sim, "/apis/apps/v1/deployments?labelSelector=a%20in%20b")
    assert (status, body["reason"]) == (400, "BadRequest")


def test_expired_continue_token_is_410(kube_sim: KubeSimulator, api: client.ApiClient) -> None:
    seed(kube_sim)
    apps = client.AppsV1Api(api)
    token = apps.list_deployment_for_all_namespaces(limit=2).metadata._continue
    kube_sim.expire_continue_tokens()
    with pytest.raises(client.ApiException) as raised:
        apps.list_deployment_for_all_namespaces(limit=2, _continue=token)
    assert raised.value.status == 410
    body = json.loads(raised.value.body)
    assert body | {"message": ""} == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "",
        "reason": "Expired",
        "code": 410,
    }
    # A fresh list works and hands out tokens that are live again.
    fresh = apps.list_deployment_for_all_namespaces(limit=2)
    assert apps.list_deployment_for_all_namespaces(
        limit=2, _continue=fresh.metadata._continue
    ).items


def test_foreign_or_garbage_continue_tokens(kube_sim: KubeSimulator) -> None:
    seed(kube_sim)
    with KubeSimulator(token=kube_sim.token) as other:
        seed(other)
        _, _, page = get(other, "/apis/apps/v1/deployments?limit=1")
        foreign = page["metadata"]["continue"]
    status, _, body = get(kube_sim, f"/apis/apps/v1/deployments?limit=1&continue={foreign}")
    assert (status, body["reason"]) == (410, "Expired")
    status, _, body = get(kube_sim, "/apis/apps/v1/deployments?limit=1&continue=garbage!")
    assert (status, body["reason"]) == (400, "BadRequest")


def test_auth_required(kube_sim: KubeSimulator, tmp_path: Path) -> None:
    assert kube_sim.ca is not None
    configuration = client.Configuration(host=kube_sim.url)
    configuration.ssl_ca_cert = str(tmp_path / "ca.crt")
    (tmp_path / "ca.crt").write_bytes(kube_sim.ca.cert_pem)
    with client.ApiClient(configuration) as anonymous, pytest.raises(client.ApiException) as raised:
        client.CoreV1Api(anonymous).list_namespace()
    assert raised.value.status == 401
    assert json.loads(raised.value.body)["reason"] == "Unauthorized"
    status, _, _ = get(kube_sim, "/api/v1/namespaces", token="wrong")
    assert status == 401


def test_metadata_only_lists(kube_sim: KubeSimulator) -> None:
    seed(kube_sim)
    status, headers, body = get(kube_sim, "/apis/apps/v1/deployments?limit=2", METADATA_ACCEPT)
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert body["kind"] == "PartialObjectMetadataList"
    assert body["apiVersion"] == "meta.k8s.io/v1"
    assert set(body["metadata"]) == {"resourceVersion", "continue", "remainingItemCount"}
    item = body["items"][0]
    assert set(item) == {"kind", "apiVersion", "metadata"}
    assert item["kind"] == "PartialObjectMetadata"
    assert item["metadata"]["name"] == "api"
    assert item["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]
    _, _, full = get(kube_sim, "/apis/apps/v1/deployments?limit=2")
    assert full["kind"] == "DeploymentList"
    assert "spec" in full["items"][0]


def test_discovery_and_single_gets(kube_sim: KubeSimulator, api: client.ApiClient) -> None:
    kube_sim.add_namespace("pay", {"team": "payments"})
    assert client.CoreApi(api).get_api_versions().versions == ["v1"]
    groups = client.ApisApi(api).get_api_versions().groups
    assert [g.name for g in groups] == ["apps", "batch"]
    apps = {r.name: r for r in client.AppsV1Api(api).get_api_resources().resources}
    assert set(apps) == {"deployments", "statefulsets", "daemonsets"}
    assert apps["deployments"].namespaced
    assert "list" in apps["deployments"].verbs
    batch = {r.kind for r in client.BatchV1Api(api).get_api_resources().resources}
    assert batch == {"CronJob", "Job"}
    assert client.CoreV1Api(api).get_api_resources().resources[0].name == "namespaces"
    assert client.CoreV1Api(api).read_namespace("pay").metadata.labels == {"team": "payments"}
    with pytest.raises(client.ApiException) as raised:
        client.CoreV1Api(api).read_namespace("nope")
    assert raised.value.status == 404
    assert get(kube_sim, "/apis/apps/v1/replicasets")[0] == 404


def test_faults(kube_sim: KubeSimulator) -> None:
    seed(kube_sim)
    kube_sim.add_fault("/apis/apps/v1/deployments", 403)
    kube_sim.add_fault("/api/v1/namespaces", 429, retry_after=7, times=2)
    kube_sim.add_fault("statefulsets", 200, body=b'{"kind": "StatefulSetList", "items": [')

    status, _, body = get(kube_sim, "/apis/apps/v1/deployments")
    assert (status, body["reason"]) == (403, "Forbidden")
    assert body["message"] == (
        f'deployments.apps is forbidden: User "{kube_sim.user}" cannot list resource '
        '"deployments" in API group "apps" at the cluster scope'
    )
    assert get(kube_sim, "/apis/apps/v1/deployments")[0] == 200  # times=1 is used up

    for _ in range(2):
        status, headers, body = get(kube_sim, "/api/v1/namespaces")
        assert (status, headers["Retry-After"], body["reason"]) == (429, "7", "TooManyRequests")
    assert get(kube_sim, "/api/v1/namespaces")[0] == 200

    with urllib.request.urlopen(
        urllib.request.Request(
            kube_sim.url + "/apis/apps/v1/statefulsets",
            headers={"Authorization": f"Bearer {kube_sim.token}"},
        ),
        timeout=5,
        context=kube_sim.client_context(),
    ) as response:
        assert response.read() == b'{"kind": "StatefulSetList", "items": ['

    kube_sim.add_fault(".*", 500, times=None)
    assert get(kube_sim, "/api/v1/namespaces")[0] == 500
    assert get(kube_sim, "/apis/batch/v1/jobs")[0] == 500
    kube_sim.clear_faults()
    assert get(kube_sim, "/apis/batch/v1/jobs")[0] == 200


def test_slow_and_dropped_answers(kube_sim: KubeSimulator) -> None:
    seed(kube_sim)
    headers = {"Authorization": f"Bearer {kube_sim.token}", "Accept": METADATA_ACCEPT}
    kube_sim.add_fault("/apis/apps/v1/deployments", 200, trickle=0.01)
    conn = https(kube_sim)
    conn.request("GET", "/apis/apps/v1/deployments", headers=headers)
    started = time.monotonic()
    response = conn.getresponse()
    length = int(response.headers["Content-Length"])  # the whole body, announced up front
    body = response.read()
    pieces = -(-length // TRICKLE_CHUNK)
    assert time.monotonic() - started >= (pieces - 1) * 0.01
    assert len(body) == length
    assert [i["metadata"]["name"] for i in json.loads(body)["items"]] == [
        "api",
        "worker",
        "cart",
        "db",
        "web",
    ]
    conn.close()

    kube_sim.add_fault("/apis/apps/v1/deployments", 200, drop=True)
    conn = https(kube_sim)
    conn.request("GET", "/apis/apps/v1/deployments", headers=headers)
    with pytest.raises(http.client.RemoteDisconnected):
        conn.getresponse()  # not a byte of an answer
    conn.close()

    kube_sim.add_fault("/apis/apps/v1/deployments", 503, drop=True, trickle=0.001)
    conn = https(kube_sim)
    conn.request("GET", "/apis/apps/v1/deployments", headers=headers)
    response = conn.getresponse()
    assert response.status == 503
    with pytest.raises(http.client.IncompleteRead) as raised:
        response.read()
    assert len(raised.value.partial) == int(response.headers["Content-Length"]) // 2
    conn.close()
    assert get(kube_sim, "/apis/apps/v1/deployments")[0] == 200  # every fault used up


def test_a_stopped_simulator_comes_back_at_the_same_address(kube_sim: KubeSimulator) -> None:
    seed(kube_sim)
    url = kube_sim.url
    kube_sim.stop()
    with pytest.raises(urllib.error.URLError, match="refused"):
        urllib.request.urlopen(url + "/version", timeout=2)
    kube_sim.start()
    assert kube_sim.url == url
    assert get(kube_sim, "/apis/apps/v1/deployments")[0] == 200  # its objects kept too


def test_request_log(kube_sim: KubeSimulator) -> None:
    get(kube_sim, "/apis/apps/v1/deployments?limit=3&labelSelector=a%3Db", METADATA_ACCEPT)
    record = kube_sim.requests[-1]
    assert (record.method, record.path, record.accept) == (
        "GET",
        "/apis/apps/v1/deployments",
        METADATA_ACCEPT,
    )
    assert record.query == {"limit": "3", "labelSelector": "a=b"}


def test_raw_objects_and_delete(kube_sim: KubeSimulator) -> None:
    odd = {
        "metadata": {"name": "odd", "namespace": "pay", "labels": None, "creationTimestamp": "soon"}
    }
    kube_sim.put_raw("deployments", odd)
    kube_sim.put_raw("Deployment", {"metadata": {"namespace": "pay"}})  # no name
    kube_sim.put_raw("deployments", "not an object")
    kube_sim.add_workload("Deployment", "pay", "api")
    _, _, body = get(kube_sim, "/apis/apps/v1/deployments", METADATA_ACCEPT)
    items = body["items"]
    assert len(items) == 4
    by_name = {i["metadata"].get("name"): i for i in items if isinstance(i, dict)}
    assert by_name["odd"]["metadata"] == odd["metadata"]  # as stored, not repaired
    assert None in by_name
    assert "not an object" in items
    assert kube_sim.delete("Deployment", "pay", "api")
    assert not kube_sim.delete("Deployment", "pay", "api")
    assert kube_sim.count("deployments") == 3


def test_stop_refuses_even_kept_alive_connections(
    kube_sim: KubeSimulator, api: client.ApiClient
) -> None:
    core = client.CoreV1Api(api)
    core.list_namespace()  # leaves a pooled keep-alive connection behind
    kube_sim.stop()
    with pytest.raises(Exception) as raised:  # noqa: PT011 - urllib3 wraps it differently by version
        core.list_namespace(_request_timeout=2)
    assert "refused" in str(raised.value).lower() or "reset" in str(raised.value).lower()


# --- the synthetic organisation --------------------------------------------------------


def test_organisation_is_deterministic_and_shaped_for_the_demo() -> None:
    org = build_organisation(NOW)
    assert org == build_organisation(NOW)
    assert org != build_organisation(NOW, seed=8)
    assert org.cluster_names == ("prod-eu", "prod-us")
    assert 25 <= len(org.teams) <= 35
    assert 200 <= org.workload_count <= 600
    styles = Counter(t.style for t in org.teams)
    assert min(styles[s] for s in ("golden", "mixed", "shadow")) >= 3
    assert {"payments", "search", "billing", "checkout"} <= {t.name for t in org.teams}

    onboarded = sorted(t.onboarded for t in org.teams)
    assert NOW - onboarded[0] > dt.timedelta(days=200)  # staggered over months
    assert NOW - onboarded[-1] < dt.timedelta(days=60)

    for data in org.clusters.values():
        namespaces = {n.name: n for n in data.namespaces}
        assert "kube-system" in namespaces
        assert any(w.namespace == "kube-system" for w in data.workloads)
        for w in data.workloads:
            assert w.created > namespaces[w.namespace].created, w
        cronjobs = {(w.namespace, w.name) for w in data.workloads if w.kind == "CronJob"}
        jobs = [w for w in data.workloads if w.kind == "Job"]
        assert jobs
        assert all((j.namespace, j.owner_references[0]["name"]) in cronjobs for j in jobs)
    everything = [w for d in org.clusters.values() for w in d.workloads]
    labels = [n.labels for d in org.clusters.values() for n in d.namespaces]
    assert any("owner" in lab and lab["owner"].startswith("group:default/") for lab in labels)
    assert any(lab.get(PROVISIONED_LABEL) == "true" for lab in labels)
    assert any("team" in w.labels for w in everything)  # workload-level team overrides
    managers = {m["manager"] for w in everything for m in w.managed_fields}
    assert {
        "helm",
        "argocd-controller",
        "kubectl-client-side-apply",
        "kube-controller-manager",
    } <= managers
    assert any(m.startswith("pulumi-kubernetes-") for m in managers)


def test_demo_config_validates() -> None:
    org = build_organisation(NOW)
    raw = org.demo_config(
        {"prod-eu": "/tmp/eu", "prod-us": "/tmp/us"}, "/tmp/state.db", "127.0.0.1:9999", NOW.date()
    )
    settings = collector_config.parse(raw)
    assert settings.teams.mandated == ("billing",)
    assert [p.name for p in settings.golden_paths] == ["service-chart", "gitops"]
    assert [c.name for c in settings.kubernetes.clusters] == ["prod-eu", "prod-us"]
    assert settings.kubernetes.interval == 30.0


def test_organisation_scales_for_benchmarks() -> None:
    org = build_organisation(NOW, teams=120, workloads_per_team=20, clusters=1)
    assert org.cluster_names == ("prod-eu",)
    team_workloads = [
        w
        for w in org.clusters["prod-eu"].workloads
        if w.namespace not in ("kube-system", "legacy-tools", "sandbox", "shared-apps")
    ]
    assert len(team_workloads) == 120 * 20
    assert len({t.name for t in org.teams}) == 120


def test_organisation_loads_into_the_simulator(
    kube_sim: KubeSimulator, api: client.ApiClient
) -> None:
    org = build_organisation(NOW)
    org.load_into(kube_sim, "prod-us")
    data = org.clusters["prod-us"]
    namespaces = client.CoreV1Api(api).list_namespace().items
    assert sorted(n.metadata.name for n in namespaces) == sorted(n.name for n in data.namespaces)
    deployments = client.AppsV1Api(api).list_deployment_for_all_namespaces().items
    assert len(deployments) == sum(w.kind == "Deployment" for w in data.workloads)
    jobs = client.BatchV1Api(api).list_job_for_all_namespaces().items
    cronjob_uids = {
        c.metadata.uid for c in client.BatchV1Api(api).list_cron_job_for_all_namespaces().items
    }
    assert jobs
    assert all(j.metadata.owner_references[0].uid in cronjob_uids for j in jobs)

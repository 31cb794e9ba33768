"""The Kubernetes source over real HTTP against the simulated API server (no mocks)."""

from __future__ import annotations

import gc
import logging
import re
import threading
import time
from pathlib import Path

import pytest

from collector import config
from collector.model import field_manager, namespace, workload
from collector.simulator.kube import METADATA_ACCEPT, KubeSimulator
from collector.simulator.resources import managed_field, object_uid, owner_reference
from collector.sources.kubernetes import KubernetesSource, PollError
from tests.conftest import CANARY
from tests.sources.kube import (
    ANNOTATION,
    MakeSource,
    deployments,
    expire_tokens_at_the_second_page,
)

T0 = 1767225600.0  # 2026-01-01T00:00:00Z
DAY = 86400.0


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("collector") and r.levelno == logging.WARNING
    ]


def test_records_of_a_small_cluster(kube_sim: KubeSimulator, make_source: MakeSource) -> None:
    kube_sim.add_namespace("pay", {"team": "payments"}, "2026-01-01T00:00:00Z")
    kube_sim.add_namespace("misc", None, "2026-01-01T00:00:00Z")
    kube_sim.add_workload(
        "Deployment",
        "pay",
        "api",
        labels={"app.kubernetes.io/managed-by": "Helm", "team": "payments"},
        annotations={ANNOTATION: "yes", "other": "dropped"},
        created="2026-01-02T00:00:00Z",
        managed_fields=[
            managed_field("helm", "2026-01-02T00:00:00Z"),
            managed_field("kube-controller-manager", "2026-01-03T00:00:00Z", spec=False),
        ],
    )
    kube_sim.add_workload("StatefulSet", "pay", "db", created="2026-01-04T00:00:00.5Z")
    kube_sim.add_workload("DaemonSet", "misc", "agent", created="2026-01-05T00:00:00Z")
    cron = kube_sim.add_workload("CronJob", "pay", "nightly", created="2026-01-06T00:00:00Z")
    kube_sim.add_workload(
        "Job",
        "pay",
        "nightly-1",
        created="2026-01-07T00:00:00Z",
        owner_references=[owner_reference(cron)],
        managed_fields=[managed_field("kube-controller-manager", "2026-01-07T00:00:00Z")],
    )

    observation = make_source().poll()

    assert observation.cluster == "sim"
    assert observation.namespaces == (
        namespace("misc", {}, T0),
        namespace("pay", {"team": "payments"}, T0),
    )
    assert tuple(observation.workloads) == (
        workload(
            kind="Deployment",
            namespace="pay",
            name="api",
            created=T0 + DAY,
            labels={"app.kubernetes.io/managed-by": "Helm", "team": "payments"},
            annotations={ANNOTATION: "yes"},
            managers=(
                field_manager("helm", T0 + DAY, owns_spec=True),
                field_manager("kube-controller-manager", T0 + 2 * DAY, owns_spec=False),
            ),
            generation=1,
            uid=object_uid("deployments", "pay", "api"),
        ),
        workload(
            "StatefulSet",
            "pay",
            "db",
            T0 + 3 * DAY + 0.5,
            {},
            {},
            (),
            generation=1,
            uid=object_uid("statefulsets", "pay", "db"),
        ),
        workload(
            "DaemonSet",
            "misc",
            "agent",
            T0 + 4 * DAY,
            {},
            {},
            (),
            generation=1,
            uid=object_uid("daemonsets", "misc", "agent"),
        ),
        workload(
            "CronJob",
            "pay",
            "nightly",
            T0 + 5 * DAY,
            {},
            {},
            (),
            generation=1,
            uid=object_uid("cronjobs", "pay", "nightly"),
        ),
        workload(
            "Job",
            "pay",
            "nightly-1",
            T0 + 6 * DAY,
            {},
            {},
            (field_manager("kube-controller-manager", T0 + 6 * DAY, owns_spec=True),),
            controller_kind="CronJob",
            generation=1,
            uid=object_uid("jobs", "pay", "nightly-1"),
        ),
    )
    assert observation.objects == {
        "Namespace": 2,
        "Deployment": 1,
        "StatefulSet": 1,
        "DaemonSet": 1,
        "CronJob": 1,
        "Job": 1,
    }
    assert observation.skipped == 0


def test_only_configured_kinds_are_listed(kube_sim: KubeSimulator, make_source: MakeSource) -> None:
    deployments(kube_sim, 1)
    kube_sim.add_workload("Job", "pay", "j")
    observation = make_source(kinds=["Job"]).poll()
    assert [w.kind for w in observation.workloads] == ["Job"]
    assert {r.path for r in kube_sim.requests} == {"/api/v1/namespaces", "/apis/batch/v1/jobs"}
    with pytest.raises(ValueError, match="ReplicaSet"):
        make_source(kinds=["Deployment", "ReplicaSet"])


def test_pagination(kube_sim: KubeSimulator, make_source: MakeSource) -> None:
    deployments(kube_sim, 5)
    observation = make_source(page_size=2, kinds=["Deployment"]).poll()
    assert [w.name for w in observation.workloads] == ["d0", "d1", "d2", "d3", "d4"]
    assert observation.objects["Deployment"] == 5
    pages = [r for r in kube_sim.requests if r.path == "/apis/apps/v1/deployments"]
    assert len(pages) == 3
    assert all(r.accept == METADATA_ACCEPT for r in kube_sim.requests)
    assert all(r.query["limit"] == "2" for r in pages)
    assert "continue" not in pages[0].query
    assert pages[1].query["continue"]
    assert pages[2].query["continue"] != pages[1].query["continue"]


def test_expired_token_restarts_the_list(kube_sim: KubeSimulator, make_source: MakeSource) -> None:
    deployments(kube_sim, 5)
    expirer = expire_tokens_at_the_second_page(kube_sim)
    observation = make_source(page_size=2, kinds=["Deployment"]).poll()
    expirer.join()
    assert [w.name for w in observation.workloads] == ["d0", "d1", "d2", "d3", "d4"]
    assert observation.objects["Deployment"] == 5
    first_pages = [
        r for r in kube_sim.requests if r.path.endswith("deployments") and "continue" not in r.query
    ]
    assert len(first_pages) == 2  # listed from the start again


def test_expiring_forever_fails(kube_sim: KubeSimulator, make_source: MakeSource) -> None:
    deployments(kube_sim, 3)
    kube_sim.add_fault(r"deployments\?.*continue=", 410, times=None)
    with pytest.raises(PollError, match=r"deployments\.apps.*expired 4 times"):
        make_source(page_size=2).poll()


def test_throttling_waits_for_retry_after(kube_sim: KubeSimulator, make_source: MakeSource) -> None:
    deployments(kube_sim, 2)
    kube_sim.add_fault("/apis/apps/v1/deployments", 429, retry_after=1)
    started = time.monotonic()
    observation = make_source(kinds=["Deployment"]).poll()
    elapsed = time.monotonic() - started
    assert [w.name for w in observation.workloads] == ["d0", "d1"]
    assert 1.0 <= elapsed < 3.0
    assert sum(r.path == "/apis/apps/v1/deployments" for r in kube_sim.requests) == 2


def test_throttling_without_end_fails(kube_sim: KubeSimulator, make_source: MakeSource) -> None:
    kube_sim.add_fault("/apis/apps/v1/deployments", 429, retry_after=0, times=None)
    with pytest.raises(PollError, match=r"throttled \(429\)"):
        make_source().poll()
    assert sum(r.path == "/apis/apps/v1/deployments" for r in kube_sim.requests) == 4


def test_a_forbidden_kind_is_left_out_and_named(
    kube_sim: KubeSimulator, make_source: MakeSource, caplog: pytest.LogCaptureFixture
) -> None:
    deployments(kube_sim, 2)
    kube_sim.add_workload("CronJob", "pay", "nightly")
    kube_sim.add_fault("/apis/batch/v1/cronjobs", 403)
    observation = make_source().poll()
    assert observation.forbidden == ("CronJob",)
    assert [(w.kind, w.name) for w in observation.workloads] == [
        ("Deployment", "d0"),
        ("Deployment", "d1"),
    ]
    assert observation.objects == {
        "Namespace": 0,
        "Deployment": 2,
        "StatefulSet": 0,
        "DaemonSet": 0,
        "Job": 0,
    }
    # The server's own words after the grant say which account was refused.
    assert warnings(caplog) == [
        "cluster sim: forbidden: cannot list cronjobs.batch at cluster scope "
        "(grant get/list/watch on cronjobs.batch): cronjobs.batch is forbidden: "
        f'User "{kube_sim.user}" cannot list resource "cronjobs" in API group "batch" '
        "at the cluster scope"
    ]
    assert make_source().poll().forbidden == ()  # the grant is back: nothing left out


def test_forbidden_namespaces_or_every_kind_fails(
    kube_sim: KubeSimulator, make_source: MakeSource
) -> None:
    kube_sim.add_fault("/api/v1/namespaces", 403)
    with pytest.raises(PollError) as raised:
        make_source().poll()
    assert str(raised.value).startswith(
        "cluster sim: list namespaces: forbidden: cannot list namespaces at cluster scope "
        "(grant get/list/watch on namespaces): namespaces is forbidden: "
    )
    kube_sim.add_fault("/apis/", 403, times=None)
    with pytest.raises(PollError) as raised:
        make_source().poll()
    assert str(raised.value) == (
        "cluster sim: forbidden: cannot list any configured kind (grant get/list/watch on "
        "deployments.apps, statefulsets.apps, daemonsets.apps, cronjobs.batch, jobs.batch)"
    )


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (500, None, r"server error \(500\): Internal error occurred"),
        (503, None, r"server error \(503\)"),
        (200, b'{"kind": "PartialObjectMetadataList", "items": [', "malformed JSON"),
        (200, b"<html>proxy login</html>", "malformed JSON"),
        (200, b'{"kind": "Status"}', "not a list"),
        (404, None, r"not found \(404\)"),
        (401, None, r"unauthorized \(401\)"),
    ],
)
def test_failures_become_poll_errors(
    kube_sim: KubeSimulator, make_source: MakeSource, status: int, body: bytes | None, expected: str
) -> None:
    kube_sim.add_fault("/apis/batch/v1/jobs", status, body=body)
    with pytest.raises(PollError, match=rf"^cluster sim: list jobs\.batch: .*{expected}"):
        make_source().poll()


def test_unreachable_server_fails_fast(kube_sim: KubeSimulator, make_source: MakeSource) -> None:
    source = make_source()
    source.poll()  # leaves a kept-alive connection in the pool
    kube_sim.stop()
    started = time.monotonic()
    with pytest.raises(
        PollError, match="cluster sim: list namespaces: cannot reach the API server"
    ):
        source.poll()
    assert time.monotonic() - started < 2.0


def test_every_request_has_a_timeout(kube_sim: KubeSimulator, make_source: MakeSource) -> None:
    kube_sim.add_fault("/api/v1/namespaces", 200, delay=3.0)
    started = time.monotonic()
    with pytest.raises(PollError) as raised:
        make_source(timeout=0.3).poll()
    assert time.monotonic() - started < 0.7
    assert str(raised.value) == (
        "cluster sim: list namespaces: timed out waiting for the response: "
        "it took longer than kubernetes.timeout (0.3s)"
    )
    assert len(kube_sim.requests) == 1  # a read timeout is not retried


def test_a_trickling_body_is_cut_at_the_timeout(
    kube_sim: KubeSimulator, make_source: MakeSource
) -> None:
    deployments(kube_sim, 40)  # about 5 KB: 80 pieces, 4 s at the pace below
    source = make_source(kinds=["Deployment"], timeout=0.4, poll_timeout=2.0)
    kube_sim.add_fault("/apis/apps/v1/deployments", 200, trickle=0.05)
    started = time.monotonic()
    with pytest.raises(PollError) as raised:
        source.poll()
    # Each piece comes well within urllib3's per-read timeout; only the whole read is bounded.
    assert 0.4 <= time.monotonic() - started < 0.8
    assert str(raised.value) == (
        "cluster sim: list deployments.apps: timed out reading the response: "
        "it took longer than kubernetes.timeout (0.4s)"
    )
    assert len(source.poll().workloads) == 40  # the half-read connection was not reused


def test_a_slow_trickle_within_the_timeout_is_read_whole(
    kube_sim: KubeSimulator, make_source: MakeSource
) -> None:
    deployments(kube_sim, 3)
    kube_sim.add_fault("/apis/apps/v1/deployments", 200, trickle=0.01)
    observation = make_source(kinds=["Deployment"], timeout=2.0).poll()
    assert [w.name for w in observation.workloads] == ["d0", "d1", "d2"]


def test_the_whole_poll_ends_by_poll_timeout(
    kube_sim: KubeSimulator, make_source: MakeSource
) -> None:
    # Every request is within its own timeout; six of them are not within the poll's.
    kube_sim.add_fault("/", 200, delay=0.3, times=None)
    started = time.monotonic()
    with pytest.raises(PollError) as raised:
        make_source(timeout=0.5, poll_timeout=1.0).poll()
    assert 1.0 <= time.monotonic() - started < 1.4
    # Which list meets the deadline depends on the machine's speed; the cause does not.
    assert re.fullmatch(
        r"cluster sim: list \S+: timed out waiting for the response: "
        r"the poll took longer than kubernetes\.poll_timeout \(1s\)",
        str(raised.value),
    )


def test_retry_after_past_the_deadline_fails_at_once(
    kube_sim: KubeSimulator, make_source: MakeSource
) -> None:
    kube_sim.add_fault("/apis/apps/v1/deployments", 429, retry_after=5)
    started = time.monotonic()
    with pytest.raises(PollError) as raised:
        make_source(timeout=0.5, poll_timeout=2.0).poll()
    assert time.monotonic() - started < 0.5  # waiting would only end in the same failure
    assert str(raised.value) == (
        "cluster sim: list deployments.apps: throttled (429): the server asked to wait 5s "
        "(Retry-After), more than is left of kubernetes.poll_timeout (2s): "
        "Too many requests, please try again later."
    )
    with pytest.raises(ValueError, match="at most poll_timeout"):
        make_source(timeout=3.0, poll_timeout=2.0)


def test_a_dropped_connection_is_retried_once(
    kube_sim: KubeSimulator, make_source: MakeSource
) -> None:
    deployments(kube_sim, 2)
    source = make_source(kinds=["Deployment"])
    kube_sim.add_fault("/apis/apps/v1/deployments", 200, drop=True)
    assert [w.name for w in source.poll().workloads] == ["d0", "d1"]

    kube_sim.add_fault("/apis/apps/v1/deployments", 200, drop=True, times=2)
    with pytest.raises(PollError) as raised:
        source.poll()
    assert str(raised.value) == (
        "cluster sim: list deployments.apps: cannot reach the API server: the connection was "
        "dropped: ('Connection aborted.', "
        "RemoteDisconnected('Remote end closed connection without response'))"
    )

    kube_sim.add_fault("/apis/apps/v1/deployments", 200, drop=True, trickle=0.001)
    with pytest.raises(
        PollError,
        match=r"deployments\.apps: reading the response failed: .*"
        r"IncompleteRead",
    ):
        source.poll()  # a body cut short is not retried: the request was answered


def test_odd_objects(kube_sim: KubeSimulator, make_source: MakeSource) -> None:
    huge = "x" * 256 * 1024
    kube_sim.put_raw("deployments", {"metadata": {"name": "bare", "namespace": "pay"}})
    kube_sim.put_raw(
        "deployments",
        {
            "metadata": {
                "name": "nulls",
                "namespace": "pay",
                "labels": None,
                "annotations": None,
                "managedFields": None,
                "ownerReferences": None,
                "creationTimestamp": None,
            }
        },
    )
    kube_sim.put_raw(
        "deployments",
        {
            "metadata": {
                "name": "weird",
                "namespace": "pay",
                "creationTimestamp": "yesterday-ish",
                "labels": {
                    "team": "zahlungsverkehr-ß",
                    "emoji": "🚀",
                    "n": 3,
                    "ok": True,
                    "x": None,
                },
                "annotations": {
                    "kubectl.kubernetes.io/last-applied-configuration": huge,
                    ANNOTATION: "y",
                },
                "managedFields": [
                    "junk",
                    {"operation": "Update"},
                    {"manager": "kubectl-edit", "time": "garbage", "fieldsV1": {"f:spec": {}}},
                ],
                "ownerReferences": [{"kind": "ReplicaSet", "controller": False}, "junk"],
            }
        },
    )
    kube_sim.put_raw("deployments", {"metadata": {"namespace": "pay"}})  # no name
    kube_sim.put_raw("deployments", {"kind": "PartialObjectMetadata"})  # no metadata
    kube_sim.put_raw("deployments", {"metadata": {"name": "lost"}})  # no namespace
    kube_sim.put_raw("deployments", ["not", "an", "object"])
    kube_sim.put_raw("namespaces", {"metadata": {"labels": {"team": "x"}}})  # no name

    observation = make_source(kinds=["Deployment"], page_size=3).poll()

    assert observation.skipped == 5
    assert observation.objects == {"Namespace": 1, "Deployment": 7}
    by_name = {w.name: w for w in observation.workloads}
    assert set(by_name) == {"bare", "nulls", "weird"}
    assert by_name["bare"] == workload("Deployment", "pay", "bare", None, {}, {}, ())
    assert by_name["nulls"] == workload("Deployment", "pay", "nulls", None, {}, {}, ())
    assert by_name["weird"] == workload(
        "Deployment",
        "pay",
        "weird",
        None,
        {"team": "zahlungsverkehr-ß", "emoji": "🚀", "n": "3", "ok": "true"},
        {ANNOTATION: "y"},  # the 256 KiB annotation nobody asked for is gone
        (field_manager("kubectl-edit", None, owns_spec=True),),
        controller_kind=None,
    )


def test_token_never_appears_in_errors(kube_sim: KubeSimulator, make_source: MakeSource) -> None:
    assert kube_sim.token
    echo = f'{{"kind":"Status","message":"bad header Authorization: Bearer {kube_sim.token}"}}'
    kube_sim.add_fault("/api/v1/namespaces", 500, body=echo.encode())
    with pytest.raises(PollError) as raised:
        make_source().poll()
    assert "Bearer [redacted]" in str(raised.value)
    assert kube_sim.token not in str(raised.value)

    original = kube_sim.token
    kube_sim.token = "rotated-token-xyz"  # the collector's token is now rejected: 401
    with pytest.raises(PollError) as raised:
        make_source().poll()
    assert "401" in str(raised.value)
    assert original not in str(raised.value)
    assert "rotated-token" not in str(raised.value)


def test_bad_credentials_config(tmp_path: Path) -> None:
    missing = tmp_path / "nope.kubeconfig"
    source = KubernetesSource(
        config.Cluster(name="eu", kubeconfig=str(missing)),
        kinds=["Deployment"],
        annotation_keys=frozenset(),
        timeout=1.0,
    )
    with pytest.raises(PollError) as raised:
        source.poll()
    assert str(raised.value) == f"cluster eu: cannot load credentials from {missing}: no such file"
    in_cluster = KubernetesSource(
        config.Cluster(name="here", in_cluster=True),
        kinds=["Deployment"],
        annotation_keys=frozenset(),
        timeout=1.0,
    )
    with pytest.raises(PollError, match=r"^cluster here: cannot load credentials from in-cluster"):
        in_cluster.poll()


def test_closed_source_refuses_to_poll(kube_sim: KubeSimulator, make_source: MakeSource) -> None:
    source = make_source()
    source.poll()
    source.close()
    with pytest.raises(PollError, match="closed"):
        source.poll()


def test_concurrent_polls_of_several_clusters(make_source: MakeSource, tmp_path: Path) -> None:
    sims = [KubeSimulator(token=f"{CANARY}-{i}").start() for i in range(3)]
    try:
        sources = []
        for i, sim in enumerate(sims):
            for n in range(40 * (i + 1)):
                sim.add_workload("Deployment", f"ns{i}", f"w{n:03d}", labels={"i": str(i)})
            path = sim.write_kubeconfig(tmp_path / f"k{i}", context=f"c{i}")
            cluster = config.Cluster(name=f"c{i}", kubeconfig=str(path))
            sources.append(
                KubernetesSource(
                    cluster,
                    kinds=["Deployment"],
                    annotation_keys=frozenset(),
                    timeout=5,
                    page_size=7,
                )
            )
        results: dict[str, int] = {}

        def poll(source: KubernetesSource) -> None:
            for _ in range(3):
                observation = source.poll()
                assert {w.labels["i"] for w in observation.workloads} == {source.cluster.name[1:]}
            results[source.cluster.name] = len(observation.workloads)

        threads = [threading.Thread(target=poll, args=(s,)) for s in sources]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert results == {"c0": 40, "c1": 80, "c2": 120}
        assert gc.isenabled()  # the parse-time pause always ends
        for source in sources:
            source.close()
    finally:
        for sim in sims:
            sim.stop()


def test_namespaced_listing_uses_only_what_namespaced_roles_grant(
    kube_sim: KubeSimulator, make_source: MakeSource, caplog: pytest.LogCaptureFixture
) -> None:
    kube_sim.add_namespace("pay", {"team": "payments"}, "2026-01-01T00:00:00Z")
    kube_sim.add_namespace("shop", {"team": "checkout"}, "2026-02-01T00:00:00Z")
    kube_sim.add_namespace("other", {"team": "search"}, "2026-03-01T00:00:00Z")
    deployments(kube_sim, 2, "pay")
    deployments(kube_sim, 1, "shop")
    deployments(kube_sim, 3, "other")
    kube_sim.add_workload("Job", "shop", "j")
    source = make_source(kinds=["Deployment", "Job"], namespaces=["pay", "shop", "gone"])
    observation = source.poll()
    assert [(n.name, n.labels) for n in observation.namespaces] == [
        ("pay", {"team": "payments"}),
        ("shop", {"team": "checkout"}),
    ]
    assert [(w.kind, w.namespace, w.name) for w in observation.workloads] == [
        ("Deployment", "pay", "d0"),
        ("Deployment", "pay", "d1"),
        ("Deployment", "shop", "d0"),
        ("Job", "shop", "j"),
    ]
    assert observation.objects == {"Namespace": 2, "Deployment": 3, "Job": 1}
    # Never a cluster-wide list: a namespaced Role could not grant one.
    assert [r.path for r in kube_sim.requests] == [
        "/api/v1/namespaces/pay",
        "/api/v1/namespaces/shop",
        "/api/v1/namespaces/gone",
        "/apis/apps/v1/namespaces/pay/deployments",
        "/apis/apps/v1/namespaces/shop/deployments",
        "/apis/apps/v1/namespaces/gone/deployments",
        "/apis/batch/v1/namespaces/pay/jobs",
        "/apis/batch/v1/namespaces/shop/jobs",
        "/apis/batch/v1/namespaces/gone/jobs",
    ]
    # Refused in one namespace: the kind is left out whole, as with a ClusterRole.
    kube_sim.add_fault("/apis/apps/v1/namespaces/shop/deployments", 403)
    caplog.clear()
    partial = source.poll()
    assert warnings(caplog) == [
        "cluster sim: namespace gone does not exist",
        "cluster sim: forbidden: cannot list deployments.apps in namespace shop "
        "(grant get/list/watch on deployments.apps): deployments.apps is forbidden: "
        f'User "{kube_sim.user}" cannot list resource "deployments" in API group "apps" '
        'in the namespace "shop"',
    ]
    assert partial.forbidden == ("Deployment",)
    assert [(w.kind, w.namespace, w.name) for w in partial.workloads] == [("Job", "shop", "j")]
    assert partial.objects == {"Namespace": 2, "Job": 1}

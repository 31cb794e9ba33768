"""The naive path the collector is measured against: the official client's typed lists.

What an exporter written the obvious way does: `list_*_for_all_namespaces` of the
official `kubernetes` client, which asks for full objects and builds the client's
model classes for every field of every object, kept until the kind's list is
complete (as the client hands it over), then reduced to the same records the
collector makes. Same server, same page size; only the way of reading differs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import kubernetes

from benchmarks.collector_poll import PollRun, annotation_keys, digest
from benchmarks.measure import peak_rss_mb
from benchmarks.scale import BIG
from collector import config
from collector.model import (
    ClusterObservation,
    FieldManager,
    Workload,
    field_manager,
    namespace,
    workload,
)


def _list_all(list_page: Callable[..., Any], page_size: int) -> list[Any]:
    items: list[Any] = []
    token = None
    while True:
        page = list_page(limit=page_size, _continue=token)
        items.extend(page.items)
        token = page.metadata.var_continue
        if not token:
            return items


def _seconds(moment: Any) -> float | None:
    return None if moment is None else float(moment.timestamp())


def _managers(entries: Iterable[Any] | None) -> tuple[FieldManager, ...]:
    return tuple(
        field_manager(e.manager, _seconds(e.time), bool(e.fields_v1) and "f:spec" in e.fields_v1)
        for e in entries or ()
        if e.manager
    )


def _controller_kind(refs: Iterable[Any] | None) -> str | None:
    for ref in refs or ():
        if ref.controller is True:
            return str(ref.kind)
    return None


def _workload(kind: str, item: Any, annotation_keys: frozenset[str]) -> Workload:
    meta = item.metadata
    annotations = meta.annotations or {}
    return workload(
        kind=kind,
        namespace=meta.namespace,
        name=meta.name,
        created=_seconds(meta.creation_timestamp),
        labels=dict(meta.labels or {}),
        annotations={k: annotations[k] for k in annotation_keys if k in annotations},
        managers=_managers(meta.managed_fields),
        controller_kind=_controller_kind(meta.owner_references),
    )


def poll(
    cluster: str,
    kubeconfig: str,
    kinds: Iterable[str],
    annotation_keys: frozenset[str],
    page_size: int,
) -> ClusterObservation:
    client = kubernetes.config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=kubeconfig, persist_config=False
    )
    try:
        core = kubernetes.client.CoreV1Api(client)
        apps = kubernetes.client.AppsV1Api(client)
        batch = kubernetes.client.BatchV1Api(client)
        listers: dict[str, Callable[..., Any]] = {
            "Deployment": apps.list_deployment_for_all_namespaces,
            "StatefulSet": apps.list_stateful_set_for_all_namespaces,
            "DaemonSet": apps.list_daemon_set_for_all_namespaces,
            "CronJob": batch.list_cron_job_for_all_namespaces,
            "Job": batch.list_job_for_all_namespaces,
        }
        namespaces = tuple(
            namespace(
                n.metadata.name,
                dict(n.metadata.labels or {}),
                _seconds(n.metadata.creation_timestamp),
            )
            for n in _list_all(core.list_namespace, page_size)
        )
        objects = {"Namespace": len(namespaces)}
        workloads: list[Workload] = []
        for kind in kinds:
            items = _list_all(listers[kind], page_size)
            objects[kind] = len(items)
            workloads.extend(_workload(kind, item, annotation_keys) for item in items)
            del items
        return ClusterObservation(cluster, namespaces, tuple(workloads), objects)
    finally:
        client.close()


def naive_poll(kubeconfig: str, page_size: int) -> PollRun:
    """In a fresh process: the same poll through the official client's typed lists."""
    baseline = peak_rss_mb()
    started, cpu = time.perf_counter(), time.process_time()
    observation = poll(BIG, kubeconfig, config.DEFAULT_KINDS, annotation_keys(), page_size)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak = peak_rss_mb()
    read = sum(n for kind, n in observation.objects.items() if kind != "Namespace")
    return PollRun(seconds, cpu, peak, baseline, read, digest(observation))

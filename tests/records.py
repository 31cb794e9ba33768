"""Small builders for the compact records, so each test states only what it is about."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping

from prometheus_client.parser import text_string_to_metric_families

from collector import config, model
from collector.model import (
    ClusterObservation,
    Component,
    Namespace,
    Repository,
    Workload,
    WorkloadSink,
    field_manager,
    workload,
)


def ts(day: str) -> float:
    """'2026-04-01' or '2026-04-01T10:00:00' (UTC) -> unix seconds."""
    parsed = dt.datetime.fromisoformat(day)
    return parsed.replace(tzinfo=dt.UTC).timestamp()


def ns(name: str, created: str | None = "2026-01-01", **labels: str) -> Namespace:
    return model.namespace(name, labels, ts(created) if created else None)


def wl(
    namespace: str,
    name: str,
    *,
    kind: str = "Deployment",
    created: str | None = "2026-04-01",
    labels: Mapping[str, str] | None = None,
    manager: str | None = None,
    controller_kind: str | None = None,
) -> Workload:
    managers = (field_manager(manager, ts(created) if created else None, True),) if manager else ()
    return workload(
        kind=kind,
        namespace=namespace,
        name=name,
        created=ts(created) if created else None,
        labels=dict(labels or {}),
        annotations={},
        managers=managers,
        controller_kind=controller_kind,
    )


def component(
    name: str,
    owner: str | None = None,
    *,
    source_template: str | None = None,
    kubernetes_id: str | None = None,
    label_selector: str | None = None,
) -> Component:
    return Component(name, owner, source_template, kubernetes_id, label_selector)


def repo(
    full_name: str,
    *,
    created: str | None = "2026-02-01",
    template: str | None = None,
    components: tuple[Component, ...] = (),
    workflows: tuple[str, ...] | None = None,
    property_team: str | None = None,
    archived: bool = False,
) -> Repository:
    """`workflows`: the job-level `uses:` of one workflow file; None for no workflow file."""
    return Repository(
        full_name=full_name,
        created=ts(created) if created else None,
        pushed=ts(created) if created else None,
        archived=archived,
        template=template,
        components=components,
        workflow_files=0 if workflows is None else 1,
        workflow_uses=workflows or (),
        property_team=property_team,
    )


GOLDEN = {"golden": "yes"}

BASE_CONFIG: dict[str, object] = {
    "platform": {"launch_date": "2026-03-01"},
    "golden_paths": [{"name": "service-chart", "match": {"labels": {"matchLabels": GOLDEN}}}],
}


def settings(**sections: object) -> config.Settings:
    raw = dict(BASE_CONFIG)
    raw.update(sections)
    return config.parse(raw)


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse_samples(exposition: str) -> Samples:
    """Exposition text parsed back by prometheus_client: (name, sorted labels) -> value."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(exposition)
        for s in family.samples
    }


def handed(observation: ClusterObservation, sink: WorkloadSink | None) -> ClusterObservation:
    """What a source that read `observation` returns from `poll(sink)`: with a sink, the
    workloads go to it, as one list, and the observation keeps none."""
    if sink is None:
        return observation
    sink.namespaces(observation.namespaces)
    sink.begin("", "")
    sink.add(list(observation.workloads))
    return dataclasses.replace(observation, workloads=[])

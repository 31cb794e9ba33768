"""Small builders for the compact records, so each test states only what it is about."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from prometheus_client.parser import text_string_to_metric_families

from collector import config
from collector.model import FieldManager, Namespace, Workload


def ts(day: str) -> float:
    """'2026-04-01' or '2026-04-01T10:00:00' (UTC) -> unix seconds."""
    parsed = dt.datetime.fromisoformat(day)
    return parsed.replace(tzinfo=dt.UTC).timestamp()


def ns(name: str, created: str | None = "2026-01-01", **labels: str) -> Namespace:
    return Namespace(name, dict(labels), ts(created) if created else None)


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
    managers = (FieldManager(manager, ts(created) if created else None, True),) if manager else ()
    return Workload(
        kind=kind,
        namespace=namespace,
        name=name,
        created=ts(created) if created else None,
        labels=dict(labels or {}),
        annotations={},
        managers=managers,
        controller_kind=controller_kind,
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

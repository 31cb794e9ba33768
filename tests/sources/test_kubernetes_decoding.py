"""The typed decoding of list pages (msgspec) against the old path (`json.loads` and checks on
every value): whenever msgspec takes a page, it must make exactly the records, and count
exactly the skipped objects, the old path makes of it; whenever it cannot, the page takes
the old path."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector import config, model
from collector.simulator.kube import KubeSimulator
from collector.simulator.resources import managed_field, owner_reference
from collector.sources.kubernetes import (
    KubernetesSource,
    _decoder,
    _Parser,
    _utf8,
)
from tests.hostile import strategies as hs

KEYS = ("kubectl.kubernetes.io/last-applied", "platform.example.com/template")


def typed(kind: str, body: bytes, keys: tuple[str, ...] = KEYS) -> tuple[list[Any], int] | None:
    """(records, skipped) by the typed decoder; None if it cannot take the page."""
    parser = _Parser(keys)
    records: list[Any] = []
    try:
        if kind == "Namespace":
            page: Any = _decoder(model.Namespace).decode(body)
            parser.decoded_namespaces(page.items or [], records)
        else:
            page = _decoder(model.workload_type(kind, keys)).decode(body)
            parser.decoded(page.items or [], records)
    except (msgspec.DecodeError, RecursionError):  # as the source: the page goes the old way
        return None
    return [r for r in records if r is not None], parser.skipped


def loose(kind: str, body: bytes, keys: tuple[str, ...] = KEYS) -> tuple[list[Any], int]:
    parser = _Parser(keys)
    convert = parser.namespace if kind == "Namespace" else parser.workload
    records = [convert(kind, item) for item in json.loads(body)["items"] or ()]
    return [r for r in records if r is not None], parser.skipped


@settings(hs.HOSTILE, max_examples=400)
@given(
    kind=st.sampled_from(["Namespace", "Deployment", "Job"]),
    items=st.lists(hs.namespace_item | hs.workload_item, max_size=4),
)
def test_typed_decoding_makes_what_the_old_path_makes(kind: str, items: list[Any]) -> None:
    body = json.dumps({"items": items, "metadata": {"continue": ""}}).encode()
    found = typed(kind, body)
    if found is not None:
        assert found == loose(kind, body)


def test_ordinary_objects_take_the_typed_path() -> None:
    item = {
        "metadata": {
            "name": "api",
            "namespace": "pay",
            "creationTimestamp": "2026-01-02T00:00:00Z",
            "labels": {"team": "payments"},
            "annotations": {KEYS[0]: "x" * 256 * 1024, KEYS[1]: "svc", "other": "y"},
            "managedFields": [
                {"manager": "helm", "time": "2026-01-02T00:00:00Z", "fieldsV1": {"f:spec": {}}},
                {"manager": "kube-controller-manager", "fieldsV1": {"f:status": {}}},
            ],
            "ownerReferences": [{"kind": "CronJob", "controller": True}],
            "resourceVersion": "1",
        }
    }
    body = json.dumps({"items": [item, {"metadata": {"name": "lost"}}, {}]}).encode()
    found = typed("Job", body)
    assert found is not None
    assert found == loose("Job", body)
    assert found[1] == 2
    assert found[0][0].annotations == {KEYS[0]: "x" * 256 * 1024, KEYS[1]: "svc"}
    assert typed("Job", body, ()) == loose("Job", body, ())


@pytest.mark.parametrize(
    "body",
    [
        b'{"items": [["not", "an", "object"]]}',
        b'{"items": [{"metadata": {"name": "a", "namespace": "b", "labels": {"n": 3}}}]}',
        b'{"items": [{"metadata": {"name": "a\\udc80", "namespace": "b"}}]}',
        b'{"items": [{"metadata": {"name": "a", "namespace": "b", "x": NaN}}]}',
        b'{"items": [], "metadata": {"continue": 5}}',
    ],
)
def test_what_msgspec_cannot_take_takes_the_old_path(body: bytes) -> None:
    assert typed("Deployment", body) is None
    loose("Deployment", body)  # and the old path does


def test_bytes_json_loads_cannot_decode_never_reach_msgspec() -> None:
    # msgspec checks only the strings it builds: invalid UTF-8 in a skipped one passes it.
    bad = b'{"items": [], "metadata": {"resourceVersion": "\xff"}}'
    assert typed("Deployment", bad) is not None
    assert not _utf8(bad)
    with pytest.raises(ValueError, match="utf-8"):
        json.loads(bad)
    assert _utf8(b'{"items": []}')
    assert _utf8('{"items": [], "x": "ß🚀"}'.encode())
    assert _utf8(b'{"x": "\xed\xa0\x80"}')  # an encoded surrogate: json.loads takes it too


def test_a_poll_decodes_the_slow_way_only_pages_with_odd_objects(
    kube_sim: KubeSimulator, kubeconfig: Path, caplog: pytest.LogCaptureFixture
) -> None:
    kube_sim.add_namespace("pay", {"team": "payments"}, "2026-01-01T00:00:00Z")
    cron = kube_sim.add_workload("CronJob", "pay", "nightly", labels={"team": "payments"})
    kube_sim.add_workload(
        "Job",
        "pay",
        "nightly-1",
        annotations={KEYS[1]: "svc"},
        managed_fields=[managed_field("helm", "2026-01-02T00:00:00Z")],
        owner_references=[owner_reference(cron)],
    )
    kube_sim.put_raw("deployments", {"metadata": {"name": "n", "namespace": "pay", "labels": 7}})
    source = KubernetesSource(
        config.Cluster(name="sim", kubeconfig=str(kubeconfig), context="sim"),
        kinds=config.DEFAULT_KINDS,
        annotation_keys=frozenset(KEYS),
        timeout=5.0,
    )
    caplog.set_level(logging.DEBUG, logger="collector.sources.kubernetes")
    try:
        observation = source.poll()
    finally:
        source.close()
    assert [(w.kind, w.name) for w in observation.workloads] == [
        ("Deployment", "n"),
        ("CronJob", "nightly"),
        ("Job", "nightly-1"),
    ]
    slow = [r.getMessage() for r in caplog.records if "slow way" in r.getMessage()]
    assert len(slow) == 1
    assert slow[0].startswith("cluster sim: list deployments.apps: a page decoded the slow way")

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from collector import config
from collector.sources.kubernetes import KubernetesSource
from tests.sources.kube import ANNOTATION, MakeSource


@pytest.fixture
def make_source(kubeconfig: Path) -> Iterator[MakeSource]:
    sources: list[KubernetesSource] = []

    def make(**overrides: object) -> KubernetesSource:
        options: dict[str, object] = {
            "kinds": config.DEFAULT_KINDS,
            "annotation_keys": frozenset({ANNOTATION}),
            "timeout": 5.0,
            "page_size": 500,
        }
        options.update(overrides)
        cluster = config.Cluster(name="sim", kubeconfig=str(kubeconfig), context="sim")
        source = KubernetesSource(cluster, **options)  # type: ignore[arg-type]
        sources.append(source)
        return source

    yield make
    for source in sources:
        source.close()

"""`helm package` makes the archive a user installs; `helm lint --strict` on that archive."""

from __future__ import annotations

import tarfile
from pathlib import Path

from helm_python import Chart, lint, package

from tests.helm.chart import CHART_DIR, LAUNCH, NAMESPACE, RELEASE


def test_package_lints_strict_and_renders(tmp_path: Path) -> None:
    archive = Path(package(CHART_DIR, destination=tmp_path))
    assert archive == tmp_path / "adoption-collector-0.1.0.tgz"
    with tarfile.open(archive) as tar:
        names = sorted(tar.getnames())
    # Everything the chart needs, the schema and the dashboards included; nothing else.
    chart_files = sorted(
        f"adoption-collector/{p.relative_to(CHART_DIR)}"
        for p in CHART_DIR.rglob("*")
        if p.is_file()
    )
    assert names == chart_files
    assert "adoption-collector/values.schema.json" in names
    report = lint(archive, LAUNCH, strict=True)
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []
    # The archive installs as the directory does.
    with Chart.load(archive) as packed, Chart.load(CHART_DIR) as unpacked:
        assert packed.render(LAUNCH, name=RELEASE, namespace=NAMESPACE) == unpacked.render(
            LAUNCH, name=RELEASE, namespace=NAMESPACE
        )

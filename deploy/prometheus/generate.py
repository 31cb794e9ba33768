"""Writes adoption-collector.rules.yaml (next to this script) from the Helm chart.

The chart's PrometheusRule template (helm/adoption-collector/templates/prometheusrule.yaml) is
the one source of the alert rules, thresholds from values.yaml. The plain rule file, for a
Prometheus without the Operator, is that PrometheusRule's `spec` rendered by the real Helm
engine (helm-python-sdk) with the chart's default values. tests/alerts fails when they drift.

    .venv/bin/python deploy/prometheus/generate.py           # rewrite the rule file
    .venv/bin/python deploy/prometheus/generate.py --check   # exit 1 if it is out of date
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any

import yaml
from helm_python import Chart

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "adoption-collector"
RULES = Path(__file__).resolve().parent / "adoption-collector.rules.yaml"
TEMPLATE = "adoption-collector/templates/prometheusrule.yaml"
# The rest of the chart must render too; it needs a launch date, which the rules never read.
BASE_VALUES: dict[str, Any] = {
    "config": {"platform": {"launch_date": "2026-01-01"}},
    "prometheusRule": {"enabled": True},
}
HEADER = """\
# Prometheus alert rules for adoption-collector, for `rule_files` of a Prometheus without the
# Prometheus Operator (the Helm chart installs the same rules as a PrometheusRule).
# GENERATED from helm/adoption-collector/templates/prometheusrule.yaml with the chart's default
# values by deploy/prometheus/generate.py; do not edit, edit the template and regenerate.
"""


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def render_manifest(chart_dir: Path = CHART, values: dict[str, Any] | None = None) -> str:
    """The PrometheusRule manifest, as the Helm engine renders it."""
    with Chart.load(chart_dir) as chart:
        rendered = chart.render(
            merge(BASE_VALUES, values or {}), name="adoption-collector", namespace="monitoring"
        )
    return rendered[TEMPLATE]


def rule_file(chart_dir: Path = CHART, values: dict[str, Any] | None = None) -> str:
    """The plain rule file: the manifest's `spec` block, verbatim (comments and layout kept)."""
    manifest = render_manifest(chart_dir, values)
    doc = yaml.safe_load(manifest)
    if doc["kind"] != "PrometheusRule":
        raise ValueError(f"{TEMPLATE} rendered a {doc['kind']}, not a PrometheusRule")
    lines = manifest.splitlines()
    start = lines.index("spec:") + 1
    spec = textwrap.dedent("\n".join(lines[start:]))
    text = HEADER + spec.rstrip("\n") + "\n"
    if yaml.safe_load(text) != doc["spec"]:
        raise ValueError("the spec block of the PrometheusRule is not its last top-level key")
    return text


def main(argv: list[str]) -> int:
    text = rule_file()
    if argv == ["--check"]:
        if RULES.read_text() != text:
            print(f"{RULES} is out of date: run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    if argv:
        print(__doc__, file=sys.stderr)
        return 2
    RULES.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Reading the dashboards' queries: shared by the dashboard tests and the end-to-end test."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

GRAFANA = Path(__file__).resolve().parents[2] / "deploy" / "grafana"
DS = {"type": "prometheus", "uid": "${datasource}"}

# What the template variables stand for when a query is checked outside Grafana.
SUBSTITUTES = {
    "job": "adoption-collector",
    "cluster": ".*",
    "team": ".*",
    "__rate_interval": "1m",
    "__range": "1h",
    "__range_s": "3600",
    "__interval": "30s",
}
VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")

Dashboard = dict[str, Any]


def dashboards() -> dict[str, Dashboard]:
    return {p.name: json.loads(p.read_text()) for p in sorted(GRAFANA.glob("*.json"))}


def queries(dashboard: Dashboard) -> Iterator[tuple[str, dict[str, Any]]]:
    """(panel title, target) for every query of every panel."""
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield panel["title"], target


def substitute(expr: str, **values: str) -> str:
    """The expression with its template variables replaced (`values` override SUBSTITUTES)."""
    table = {**SUBSTITUTES, **values}
    return VARIABLE.sub(lambda m: table[m.group(1) or m.group(2)], expr)


KEYWORDS = {
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "inf",
    "nan",
    "atan2",
}


def metric_names(expr: str) -> set[str]:
    """The metric names a (valid) PromQL expression selects: identifiers that are not
    functions, keywords, label names or parts of numbers and durations."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges and subqueries
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.])[a-zA-Z_:][\w:]*", text):
        if text[match.end() :].lstrip().startswith("(") or match.group().lower() in KEYWORDS:
            continue
        names.add(match.group())
    return names

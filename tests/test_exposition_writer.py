"""collector/exposition.py writes exactly the bytes prometheus_client's generate_latest writes.

Each case renders the same families twice, through our writer and through generate_latest
over the GaugeMetricFamily/CounterMetricFamily objects they stand for, and compares bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from collector import exporter, exposition
from collector.exposition import Family, gauge
from collector.model import Group, RateLimit, SourceStatus
from collector.predictors import Figures
from tests.records import ts
from tests.test_explain import drilldown


def as_metric(family: Family) -> Metric:
    kind = GaugeMetricFamily if family.type == "gauge" else CounterMetricFamily
    metric = kind(family.name, family.documentation, labels=list(family.labels))
    for values, value in family.samples:
        metric.add_metric(list(values), value)
    return metric


def reference(families: list[Family]) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(exporter._Fixed([as_metric(f) for f in families]))
    return generate_latest(registry)


NUMBERS = [
    0,
    0.0,
    -0.0,
    1,
    True,
    False,
    1.5,
    -1.5,
    0.1,
    1e-7,
    -1e-7,
    5e-324,
    123456.0,
    1234567.0,  # seven digits before the point: exponent form
    -1234567.0,  # but never for a negative number
    1000000,
    1772323200.0,
    1e21,
    -1e21,
    1.7976931348623157e308,
    2**53 + 1,
    10**30,
    12345678901234567890,
    float("nan"),
    float("inf"),
    float("-inf"),
    -0.0,  # again, after 0 and 0.0 were seen: a render keeps no zero it could confuse
]
ODD_VALUES = [
    "",
    "plain",
    "back\\slash",
    "new\nline",
    'double "quote"',
    'all \\ of\n"them"\\n',
    "Zürich ✓ 日本",
    "%s %d %(x)s %%",  # the writer formats lines with %: values must not be read as formats
    "{braces}",
    "trailing\\",
]


def test_every_case_renders_as_generate_latest() -> None:
    labelled = Family("odd_gauge", "Labels out of order.", "gauge", ("zone", "app", "middle"))
    for i, value in enumerate(ODD_VALUES):
        labelled.add_metric((value, ODD_VALUES[-1 - i], "m"), i)
    one_label = Family("one_label", "One label.", labels=("team",))
    for value in ODD_VALUES:
        one_label.add_metric([value], 1)
    numbers = Family("numbers", "Every kind of number.", labels=("n",))
    for i, value in enumerate(NUMBERS):
        numbers.add_metric([str(i)], value)
    counter = Family("deploys", "A counter.", "counter", ("team", "path"))
    counter.add_metric(("a", "golden"), 3)
    counter.add_metric(("a", "shadow"), 0)
    families = [
        gauge("plain", 'Help with a back\\slash, a new\nline, "quotes" and 100% {x}.', 1),
        *(gauge(f"single_{i}", "An unlabelled sample.", value) for i, value in enumerate(NUMBERS)),
        labelled,
        one_label,
        numbers,
        counter,
        gauge("unlabelled_counter_value", "", 2**63),
        Family("unlabelled_counter", "No labels.", "counter", samples=[((), 7)]),
        Family("suffixed_total", "Named with its suffix.", "counter", samples=[((), 7)]),
        Family("empty_gauge", "No sample at all."),
        Family("empty_labelled_gauge", "No sample.", labels=("team",)),
        Family("empty_counter", "No sample.", "counter", ("source",)),
        Family("colon:name_", "A name with a colon.", labels=("_under",), samples=[(("x",), 1)]),
    ]
    assert exposition.render(families) == reference(families)


def test_nothing_renders_as_nothing() -> None:
    assert exposition.render([]) == reference([]) == b""


def outcome(render: Callable[[list[Family]], bytes], families: list[Family]) -> object:
    """The text, or the kind of error: a lone surrogate is no UTF-8 text, an integer beyond
    any float no number, whoever renders them."""
    try:
        return render(families)
    except (UnicodeEncodeError, OverflowError) as error:
        return type(error)


@given(
    st.lists(st.tuples(st.text(), st.text(), st.one_of(st.integers(), st.floats())), max_size=20),
    st.text(),
)
def test_any_values_render_as_generate_latest(
    samples: list[tuple[str, str, float]], documentation: str
) -> None:
    labelled = Family("any", documentation, "counter", ("b", "a"))
    single = Family("single", documentation, labels=("team",))
    for b, a, value in samples:
        labelled.add_metric((b, a), value)
        single.add_metric((a,), value)
    unlabelled = [gauge(f"unlabelled_{i}", documentation, v) for i, (*_, v) in enumerate(samples)]
    families = [labelled, single, *unlabelled]
    assert outcome(exposition.render, families) == outcome(reference, families)


@pytest.mark.parametrize(
    "family", [Family("dotted.name", ""), Family("ok", "", labels=("dotted.label",))]
)
def test_a_name_generate_latest_would_rewrite_is_refused(family: Family) -> None:
    with pytest.raises(ValueError, match="outside the legacy character set"):
        exposition.render([family])


def test_every_family_of_the_exporter_renders_as_generate_latest(tmp_path: Path) -> None:
    """The exporter's own families, every kind it publishes, with a drill-down, Backstage
    Groups, the predictors and every optional collector family present."""
    d = drilldown(tmp_path)
    figures = Figures(
        met={"product_manager": True, "baseline": False, "nps": None,
             "voluntary_adoption": True, "time_to_first_value": None},
        nps=-12.5,
        nps_responses=8,
        nps_skipped=1,
        baseline_deploys_per_team_week=1.25,
        time_to_first_value=None,
        recent_teams=2,
    )  # fmt: skip
    # No ratio and no tool figure: an unlabelled and a labelled family without a sample.
    snapshot = replace(d.snapshot, predictors=figures, voluntary_ratio=None, team_tools={})
    statuses = [
        SourceStatus(
            "kubernetes",
            "prod-eu",
            up=True,
            last_success=ts("2026-09-15T10:00:00"),
            poll_duration=0.125,
            errors_total=3,
            objects={"Deployment": 8, "Namespace": 4},
            skipped=2,
            interval=300.0,
            forbidden=("CronJob", "StatefulSet"),
        ),
        SourceStatus(
            "github",
            "",
            up=True,
            last_success=ts("2026-09-15T09:00:00"),
            poll_duration=12.0,
            errors_total=0,
            parse_errors_total=4,
            complete=False,
            rate_limits=(RateLimit("core", 4980, 5000, ts("2026-09-15T11:00:00")),),
            interval=1800.0,
        ),
    ]
    groups = [Group("payments", "engineering", 'Payments "core"'), Group("engineering", None, None)]
    found = exporter.families(
        snapshot, statuses, workload_info=d, max_workload_series=5, groups=groups, max_teams=10
    )
    types = {(f.type, bool(f.labels), bool(f.samples)) for f in found}
    assert types == {
        ("gauge", True, True),
        ("gauge", True, False),
        ("gauge", False, True),
        ("gauge", False, False),
        ("counter", True, True),
    }
    rendered = exporter.render(
        snapshot, statuses, workload_info=d, max_workload_series=5, groups=groups, max_teams=10
    )
    assert rendered == exposition.render(found) == reference(found)
    names = {f.name for f in found}
    assert {
        "adoption_workload_info",
        "adoption_team_info",
        "adoption_predictor_met",
        "adoption_developer_nps",
        "adoption_team_repos",
        "adoption_collector_list_forbidden",
        "adoption_collector_parse_errors",
        "adoption_collector_github_rate_limit_limit",
        "adoption_collector_dropped_workload_series",
    } <= names

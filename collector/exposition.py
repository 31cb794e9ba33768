"""The Prometheus text format (0.0.4) of a poll's figures, written straight from light families.

prometheus_client's `generate_latest` is general, and pays for it on every sample: a label
dict built, sorted, each name validated and escaped, each value escaped, each number
formatted through `float()` and `repr()`. At 1,000 teams and 10,000 adoption_workload_info
series that was most of what publishing a poll cost. Here, what is the same for every sample
of a family (the sorted label order, the line around the values) is worked out once per
family, and what repeats across samples (team, cluster and path values, counts) is escaped
or formatted once per render.

The bytes are `generate_latest`'s own, for the two types the exporter uses, gauge and
counter (tests/test_exposition_writer.py renders both ways and compares). The collector's
runtime metrics (process_*, python_*) stay with prometheus_client's collectors: they are read
at most once a second, not once per poll of 50,000 workloads.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Literal

# generate_latest rewrites names outside the legacy character set; ours are constants inside
# it, so they are checked rather than rewritten.
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


@dataclass(slots=True)
class Family:
    """A metric family: `samples` are (label values in `labels` order, value). A counter's
    samples are named `<name>_total`, with or without the suffix in `name`, as
    CounterMetricFamily names them."""

    name: str
    documentation: str
    type: Literal["gauge", "counter"] = "gauge"
    labels: tuple[str, ...] = ()
    samples: list[tuple[Sequence[str], float]] = field(default_factory=list)

    def add_metric(self, values: Sequence[str], value: float) -> None:
        self.samples.append((values, value))


def gauge(name: str, documentation: str, value: float) -> Family:
    """A family of one unlabelled sample."""
    return Family(name, documentation, samples=[((), value)])


def go_float(value: float) -> str:
    """A number as prometheus_client's `floatToGoString` writes it: `repr` of the float,
    `+Inf`/`-Inf`/`NaN`, and positive numbers of 7 digits or more before the point in
    exponent form (Go switches to exponents sooner than Python)."""
    d = float(value)
    if d == math.inf:
        return "+Inf"
    if d == -math.inf:
        return "-Inf"
    if math.isnan(d):
        return "NaN"
    text = repr(d)
    dot = text.find(".")
    if d > 0 and dot > 6:
        mantissa = f"{text[0]}.{text[1:dot]}{text[dot + 1 :]}".rstrip("0.")
        return f"{mantissa}e+{dot - 1:02d}"
    return text


class _Numbers(dict[float, str]):
    """go_float of each value, kept for the render: most samples are small counts and 1."""

    def __missing__(self, value: float) -> str:
        text = go_float(value)
        # Never keep a zero: as dict keys 0 and -0.0 are one, but their texts differ.
        if value:
            self[value] = text
        return text


class _Escaped(dict[str, str]):
    """Label values escaped (backslash, newline, double quote), kept for the render: teams,
    clusters, paths and tools recur in every family."""

    def __missing__(self, value: str) -> str:
        text = value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
        self[value] = text
        return text


def render(families: Iterable[Family]) -> bytes:
    """The exposition text of `families`, in order, as `generate_latest` writes it."""
    numbers, escaped = _Numbers(), _Escaped()
    out: list[str] = []
    for family in families:
        out.extend(_family(family, numbers, escaped))
    return "".join(out).encode()


def _family(family: Family, numbers: _Numbers, escaped: _Escaped) -> list[str]:
    name = family.name
    if not _METRIC_NAME.fullmatch(name) or not all(map(_LABEL_NAME.fullmatch, family.labels)):
        raise ValueError(f"{name}: a metric or label name outside the legacy character set")
    if family.type == "counter":
        name = name.removesuffix("_total") + "_total"
    documentation = family.documentation.replace("\\", r"\\").replace("\n", r"\n")
    head = [f"# HELP {name} {documentation}\n# TYPE {name} {family.type}\n"]
    samples = family.samples
    if not family.labels:
        return head + [f"{name} {numbers[value]}\n" for _, value in samples]
    # generate_latest writes labels sorted by name: the order is the family's, not the sample's.
    order = sorted(range(len(family.labels)), key=family.labels.__getitem__)
    pairs = ",".join(f'{family.labels[i]}="%s"' for i in order)
    line = f"{name}{{{pairs}}} %s\n"
    escape = escaped.__getitem__
    if len(order) == 1:
        return head + [line % (escape(values[0]), numbers[value]) for values, value in samples]
    pick = itemgetter(*order)
    return head + [line % (*map(escape, pick(values)), numbers[value]) for values, value in samples]

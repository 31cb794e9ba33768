"""Figures, their targets, and how they are printed: a table for people, BENCH lines for tools."""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass

_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "<": operator.lt,
    ">": operator.gt,
    "==": operator.eq,
}


@dataclass(frozen=True, slots=True)
class Figure:
    name: str
    value: float
    unit: str
    target: str | None = None  # e.g. ">= 15"; None for a figure reported without a target
    note: str = ""  # shown in the table only: what was compared, sizes

    @property
    def ok(self) -> bool:
        if self.target is None:
            return True
        op, _, bound = self.target.partition(" ")
        return _OPERATORS[op](self.value, float(bound))

    def bench_line(self) -> str:
        payload = {
            "name": self.name,
            "value": round(self.value, 4),
            "unit": self.unit,
            "target": self.target,
            "ok": self.ok,
        }
        return "BENCH " + json.dumps(payload)


def _number(value: float) -> str:
    if value == int(value) and abs(value) < 1e9:
        return f"{int(value)}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    # Three decimals: 2.004 against a target of 2 must not read "2.00 ... NO".
    return f"{value:.3f}"


def table(figures: Iterable[Figure]) -> str:
    rows = [("figure", "value", "target", "ok", "")]
    for f in figures:
        target = f"{f.target} {f.unit}" if f.target is not None else "-"
        verdict = ("yes" if f.ok else "NO") if f.target is not None else ""
        rows.append((f.name, f"{_number(f.value)} {f.unit}", target, verdict, f.note))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = []
    for row in rows:
        cells = [row[i].ljust(widths[i]) for i in range(4)]
        lines.append("  ".join([*cells, row[4]]).rstrip())
    return "\n".join(lines)

"""`python -m benchmarks` (`make bench`): every scale figure, measured against its target.

Prints progress to stderr, then a table and one `BENCH {json}` line per figure to
stdout. A missed target is reported, not an error: the exit code is 0 unless a
figure could not be measured at all.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import platform
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.report import Figure, table

if TYPE_CHECKING:
    from benchmarks.context import Context

# Figure -> "module:function", imported only when run. Every measured process is started
# with `spawn`, which imports this module again in the child: importing the figures here
# would load the simulators (graphql-core, the GitHub schema) into every measured process
# and count them against the collector's memory.
FIGURES: dict[str, str] = {
    "kube_poll": "benchmarks.kube_poll:run",
    "full_cycle": "benchmarks.cycle:run_full_cycle",
    "scrape": "benchmarks.scrape:run",
    "multicluster": "benchmarks.cycle:run_multicluster",
    "scale_curve": "benchmarks.curve:run",
    # Churns the big cluster, so it runs after every other figure that reads it.
    "memory": "benchmarks.memory:run",
    "github": "benchmarks.github_scan:run",
}


def _figure(name: str) -> Callable[[Context], list[Figure]]:
    module, function = FIGURES[name].split(":")
    found: Callable[[Context], list[Figure]] = getattr(importlib.import_module(module), function)
    return found


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description="Scale benchmarks of adoption-collector."
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="multiply every size (workloads, namespaces, teams, repositories); "
        "1.0 is the issue's full size, 0.01 the CI smoke run",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=list(FIGURES),
        help="run only this figure (repeatable)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="side-by-side pairs (or rounds) per comparison; the median is reported",
    )
    parser.add_argument(
        "--large",
        action="store_true",
        help="the scale curve also measures 200,000 workloads (times the scale); slow",
    )
    args = parser.parse_args(argv)
    if not 0 < args.scale <= 10:
        parser.error("--scale must be above 0 and at most 10")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # The generated organisation breaks a few catalog files on purpose; the source warns.
    logging.getLogger("collector.sources.github").setLevel(logging.ERROR)
    selected = args.only or list(FIGURES)
    load = ", ".join(f"{n:.2f}" for n in os.getloadavg())
    header = (
        f"adoption-collector benchmarks: scale {args.scale:g}{', large' if args.large else ''}, "
        f"{args.repeat} repeats, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, load average {load}"
    )
    _progress(header)
    figures: list[Figure] = []
    broken: list[str] = []
    from benchmarks.context import Context

    with tempfile.TemporaryDirectory(prefix="adoption-bench-") as workdir:
        ctx = Context(args.scale, args.repeat, Path(workdir), large=args.large)
        try:
            for name in selected:
                _progress(f"-- {name} ...")
                started = time.perf_counter()
                try:
                    found = _figure(name)(ctx)
                except Exception:
                    broken.append(name)
                    _progress(f"-- {name} could not be measured:\n{traceback.format_exc()}")
                    continue
                figures += found
                _progress(f"-- {name} done in {time.perf_counter() - started:.0f}s")
        finally:
            ctx.close()
    print(header)
    print(table(figures))
    for figure in figures:
        print(figure.bench_line())
    missed = [f.name for f in figures if not f.ok]
    if missed:
        print(f"TARGETS MISSED: {', '.join(missed)}")
    elif figures:
        print("every target met")
    if broken:
        print(f"NOT MEASURED: {', '.join(broken)}")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())

"""Figure 7: the cost of a whole cycle as a cluster grows, 10,000 to 200,000 workloads.

The collector must stay linear: CPU per 10,000 workloads at the largest size within
1.2x of that at 10,000, and the whole process under 400 MB at 200,000. One simulated
cluster per size, all up at once, and one long-lived collector process per size; cycles
alternate between the sizes, so the per-size figures are side by side. `make bench`
measures 10,000 and 50,000 workloads; `make bench-large` adds 200,000 (building and
serving that cluster takes minutes).
"""

from __future__ import annotations

from benchmarks import scale
from benchmarks.context import BIG, Context
from benchmarks.cycle import cycles
from benchmarks.measure import BenchError, Child, median
from benchmarks.report import Figure
from benchmarks.servers import KubeServers

# Label -> multiple of the full-size cluster (50,000 workloads); labels name the full
# size at any --scale, like the GitHub figures.
SIZES = {"10k": 0.2, "50k": 1.0}
LARGE = {"200k": 4.0}
PEAK_TARGET = {"200k": "< 400"}


def run(ctx: Context) -> list[Figure]:
    sizes = SIZES | (LARGE if ctx.large else {})
    workloads = {label: scale.big_cluster(ctx.scale * f).workloads for label, f in sizes.items()}
    servers: dict[str, KubeServers] = {}
    try:
        for label, factor in sizes.items():
            if factor == 1.0:
                continue  # the run's big cluster, shared with the other figures
            shape = scale.big_cluster(ctx.scale * factor)
            workdir = ctx.workdir / f"curve-{label}"
            workdir.mkdir()
            servers[label] = KubeServers({BIG: shape}, workdir)
        kubeconfigs = {
            label: (servers[label] if label in servers else ctx.big()).kubeconfigs[BIG]
            for label in sizes
        }
        cpus, peaks = _alternate(ctx, kubeconfigs)
    finally:
        for server in servers.values():
            server.close()
    per_10k = {label: [cpu * 10_000 / workloads[label] for cpu in cpus[label]] for label in sizes}
    smallest, largest = next(iter(sizes)), list(sizes)[-1]
    growth = median([b / s for s, b in zip(per_10k[smallest], per_10k[largest], strict=True)])
    figures = [
        Figure(
            "scale_cpu_growth",
            growth,
            "x",
            "<= 1.2",
            f"CPU per 10,000 workloads of a full cycle at {workloads[largest]} workloads "
            f"/ at {workloads[smallest]}",
        )
    ]
    for label in sizes:
        figures += [
            Figure(
                f"scale_cpu_per_10k_{label}",
                median(per_10k[label]),
                "s",
                note=f"{workloads[label]} workloads, a full cycle",
            ),
            Figure(
                f"scale_peak_rss_{label}",
                peaks[label],
                "MB",
                PEAK_TARGET.get(label),
                "the whole collector process, cycles included",
            ),
        ]
    return figures


def _alternate(
    ctx: Context, kubeconfigs: dict[str, str]
) -> tuple[dict[str, list[float]], dict[str, float]]:
    """(CPU seconds of each cycle, peak RSS) per size, cycles taken in turn."""
    children = {
        label: Child(cycles, {BIG: kubeconfig}, str(ctx.workdir / f"curve-{label}.db"))
        for label, kubeconfig in kubeconfigs.items()
    }
    try:
        for child in children.values():
            if child.recv() != "ready":
                raise BenchError("a collector process did not start")
        cpus: dict[str, list[float]] = {label: [] for label in children}
        for _ in range(max(ctx.repeat, 3)):
            for label, child in children.items():
                child.send("cycle")
                _, cpu = child.recv()
                cpus[label].append(float(cpu))
        peaks = {}
        for label, child in children.items():
            child.send("stop")
            peaks[label] = float(child.result())
        return cpus, peaks
    finally:
        for child in children.values():
            child.close()

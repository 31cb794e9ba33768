"""What every figure shares: the size, the repetitions, and the simulated clusters.

The clusters are started on first use and kept for the whole run, since
generating and serialising 50,000 objects takes longer than most figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import scale
from benchmarks.scale import BIG
from benchmarks.servers import KubeServers


@dataclass
class Context:
    scale: float
    repeat: int  # side-by-side pairs (or rounds) per comparison
    workdir: Path
    large: bool = False  # the scale curve also measures 200,000 workloads
    page_size: int = 500
    _big: KubeServers | None = field(default=None, repr=False)
    _small: KubeServers | None = field(default=None, repr=False)

    def big(self) -> KubeServers:
        """One cluster of 50,000 workloads (times the scale)."""
        if self._big is None:
            self._big = KubeServers({BIG: scale.big_cluster(self.scale)}, self.workdir)
        return self._big

    def small(self) -> KubeServers:
        """Ten clusters of 5,000 workloads each (times the scale)."""
        if self._small is None:
            shapes = {f"c{i + 1:02d}": s for i, s in enumerate(scale.small_clusters(self.scale))}
            self._small = KubeServers(shapes, self.workdir)
        return self._small

    def close(self) -> None:
        servers = [s for s in (self._big, self._small) if s is not None]
        self._big = self._small = None
        for server in servers:
            server.close()


__all__ = ["BIG", "Context"]

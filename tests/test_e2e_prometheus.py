"""A real Prometheus server scrapes the running collector; its query API must see our figures."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

from collector.simulator.kube import KubeSimulator
from tests.cluster import TOKEN, seed_small, write_config
from tests.test_service import free_port, get, wait_for


def query(prometheus: str, promql: str) -> list[dict[str, object]]:
    status, body = get(f"{prometheus}/api/v1/query?query={urllib.parse.quote(promql)}")
    assert status == 200, body
    result: list[dict[str, object]] = json.loads(body)["data"]["result"]
    return result


def test_prometheus_scrapes_the_collector(tmp_path: Path) -> None:
    binary = shutil.which("prometheus")
    assert binary, "the prometheus server is missing: `make test` installs Debian's prometheus"
    with KubeSimulator(token=TOKEN) as sim:
        seed_small(sim)
        port, prom_port = free_port(), free_port()
        config_path = write_config(
            tmp_path, {"prod-eu": sim}, server={"listen": f"127.0.0.1:{port}"}
        )
        (tmp_path / "prometheus.yml").write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            "scrape_configs:\n"
            "  - job_name: adoption\n"
            f"    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
        )
        collector = subprocess.Popen(
            [sys.executable, "-m", "collector", "run", "--config", str(config_path)],
            stderr=subprocess.DEVNULL,
        )
        prometheus = subprocess.Popen(
            [
                binary,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            url = f"http://127.0.0.1:{prom_port}"
            wait_for(f"{url}/-/ready", 200, deadline=30)
            end = time.monotonic() + 30
            while time.monotonic() < end and not query(url, "adoption_voluntary_ratio"):
                time.sleep(0.2)
            (ratio,) = query(url, "adoption_voluntary_ratio")
            assert ratio["metric"] == {
                "__name__": "adoption_voluntary_ratio",
                "instance": f"127.0.0.1:{port}",
                "job": "adoption",
            }
            assert ratio["value"][1] == "1"  # type: ignore[index]
            (up,) = query(url, 'up{job="adoption"}')
            assert up["value"][1] == "1"  # type: ignore[index]
            teams = query(url, "sum by (team) (adoption_team_workloads)")
            assert sorted((t["metric"]["team"], t["value"][1]) for t in teams) == [  # type: ignore[index]
                ("billing", "1"),
                ("payments", "3"),
            ]
        finally:
            prometheus.terminate()
            collector.terminate()
            prometheus.wait(20)
            collector.wait(20)

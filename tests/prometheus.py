"""A real Prometheus server, scraping one collector, for the end-to-end tests."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.test_service import free_port, get, wait_for


@contextmanager
def scraping(workdir: Path, target: str, rule_file: Path | None = None) -> Iterator[str]:
    """Debian's `prometheus` scraping `target` (host:port) every second, evaluating
    `rule_file` every second; yields its URL once it is ready, and stops it after."""
    binary = shutil.which("prometheus")
    assert binary, "the prometheus server is missing: `make test` installs Debian's prometheus"
    rules = f"rule_files: ['{rule_file}']\n" if rule_file is not None else ""
    (workdir / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"{rules}"
        "scrape_configs:\n"
        "  - job_name: adoption\n"
        f"    static_configs: [{{targets: ['{target}']}}]\n"
    )
    port = free_port()
    prometheus = subprocess.Popen(
        [
            binary,
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(f"{url}/-/ready", 200, deadline=30)
        yield url
    finally:
        prometheus.terminate()
        prometheus.wait(20)


def query(prometheus: str, promql: str) -> list[dict[str, object]]:
    status, body = get(f"{prometheus}/api/v1/query?query={urllib.parse.quote(promql)}")
    assert status == 200, body
    result: list[dict[str, object]] = json.loads(body)["data"]["result"]
    return result


def scraped(prometheus: str, promql: str, deadline: float) -> list[dict[str, object]]:
    """`query`, once it has an answer (the first scrapes), or its empty one at `deadline`."""
    end = time.monotonic() + deadline
    found = query(prometheus, promql)
    while not found and time.monotonic() < end:
        time.sleep(0.2)
        found = query(prometheus, promql)
    return found

"""The status page in a real browser: Debian's Chromium, headless, driven over the DevTools
protocol, against `adoption-collector demo` running as a process of its own.

It checks what a unit test cannot: that Chromium renders `/` and a team page without a single
console error (CSP violations, script errors, failed loads included), that the team table
has one row per active team of /api/v1/teams with JavaScript on and off, and that the inline
script sorts a column. Screenshots of both pages are left in the test's tmp_path.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import websocket

from tests.test_service import free_port, get, wait_for

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",  # Chromium picks one, written to DevToolsActivePort
    "--remote-allow-origins=*",
]
LAPTOP = {"width": 1366, "height": 900, "deviceScaleFactor": 1, "mobile": False}
DEADLINE = 30.0


def stop(process: subprocess.Popen[bytes]) -> None:
    """End a process we started, and its children (it leads its own process group)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


class DevTools:
    """A minimal DevTools protocol client over one page target."""

    def __init__(self, url: str) -> None:
        self.ws = websocket.create_connection(url, timeout=DEADLINE, suppress_origin=True)
        self.ids = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.ids += 1
        self.ws.send(json.dumps({"id": self.ids, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.ids:
                assert "error" not in message, (method, message["error"])
                result: dict[str, Any] = message.get("result", {})
                return result
            self.events.append(message)

    def wait_for(self, event: str) -> dict[str, Any]:
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end:
            for message in self.events:
                if message.get("method") == event:
                    self.events.remove(message)
                    return message
            self.events.append(json.loads(self.ws.recv()))
        raise AssertionError(f"no {event} within {DEADLINE}s")

    def settle(self, seconds: float = 0.5) -> None:
        """Collect whatever the page still reports for a moment."""
        self.ws.settimeout(seconds)
        try:
            while True:
                self.events.append(json.loads(self.ws.recv()))
        except websocket.WebSocketTimeoutException:
            pass
        finally:
            self.ws.settimeout(DEADLINE)

    def load(self, url: str) -> None:
        self.events.clear()
        self.call("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")
        self.settle()

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def problems(self) -> list[str]:
        """Console errors and warnings, uncaught exceptions, and browser log errors."""
        found = []
        for message in self.events:
            method, params = message.get("method"), message.get("params", {})
            if method == "Runtime.consoleAPICalled" and params["type"] in {"error", "warning"}:
                found.append(f"console.{params['type']}: {params['args']}")
            elif method == "Runtime.exceptionThrown":
                found.append(f"exception: {params['exceptionDetails']}")
            elif method == "Log.entryAdded" and params["entry"]["level"] in {"error", "warning"}:
                entry = params["entry"]
                found.append(
                    f"{entry['source']} {entry['level']}: {entry['text']} {entry.get('url')}"
                )
        return found

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        self.ws.close()


@contextmanager
def running_demo(workdir: Path) -> Iterator[str]:
    """`adoption-collector demo` as a real process; yields its base URL once it has polled."""
    url = f"http://127.0.0.1:{free_port()}"
    process = subprocess.Popen(
        [sys.executable, "-m", "collector", "demo", "--listen", url[7:], "--workdir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(f"{url}/api/v1/summary", 200, deadline=60)
        yield url
    finally:
        stop(process)


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_demo(tmp_path_factory.mktemp("demo")) as url:
        yield url


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevTools]:
    binary = shutil.which("chromium")
    assert binary, "chromium is missing: `make test` installs Debian's chromium"
    profile = tmp_path_factory.mktemp("chromium-profile")  # new and empty
    process = subprocess.Popen(
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        end = time.monotonic() + DEADLINE
        while not (port_file.exists() and port_file.read_text().count("\n") >= 1):
            assert process.poll() is None, f"chromium exited with {process.returncode}"
            assert time.monotonic() < end, "chromium never opened its DevTools port"
            time.sleep(0.1)
        port = port_file.read_text().split("\n")[0]
        status, body = get(f"http://127.0.0.1:{port}/json/list")
        assert status == 200, body
        (target,) = [t for t in json.loads(body) if t["type"] == "page"]
        devtools = DevTools(target["webSocketDebuggerUrl"])
        for domain in ("Page", "Runtime", "Log"):
            devtools.call(f"{domain}.enable")
        devtools.call("Emulation.setDeviceMetricsOverride", **LAPTOP)
        yield devtools
        devtools.close()
    finally:
        stop(process)


def api(url: str) -> Any:
    status, body = get(url)
    assert status == 200, body
    return json.loads(body)


TEAM_ROWS = """
(() => {
  const table = [...document.querySelectorAll("table")]
    .find((t) => t.caption && t.caption.textContent.startsWith("Active teams"));
  return [...table.tBodies[0].rows].map((row) => row.cells[0].textContent.trim());
})()
"""


def column(caption: str, index: int) -> str:
    return f"""
(() => {{
  const table = [...document.querySelectorAll("table")]
    .find((t) => t.caption && t.caption.textContent.startsWith({json.dumps(caption)}));
  return [...table.tBodies[0].rows].map((row) => row.cells[{index}].textContent.trim());
}})()
"""


def test_status_page_in_chromium(collector: str, browser: DevTools, tmp_path: Path) -> None:
    teams = api(f"{collector}/api/v1/teams")["teams"]
    active = sorted(t["team"] for t in teams if t["active"])
    assert len(active) >= 25  # the demo organisation

    browser.load(f"{collector}/")
    assert browser.problems() == []
    assert browser.evaluate("document.documentElement.lang") == "en"
    rows = browser.evaluate(TEAM_ROWS)
    assert [row.removesuffix(" mandated").strip() for row in rows] == active
    browser.screenshot(tmp_path / "index.png")

    # The inline script sorts: shadow workloads, most first on the second click.
    shadow = {t["team"]: t["workload_counts"]["shadow"] for t in teams if t["active"]}
    browser.evaluate(
        """[...document.querySelectorAll("th button")]
             .find((b) => b.textContent === "Shadow workloads").click()"""
    )
    ascending = [int(n) for n in browser.evaluate(column("Active teams", 3))]
    assert ascending == sorted(shadow.values())
    browser.evaluate(
        """[...document.querySelectorAll("th button")]
             .find((b) => b.textContent === "Shadow workloads").click()"""
    )
    assert [int(n) for n in browser.evaluate(column("Active teams", 3))] == sorted(
        shadow.values(), reverse=True
    )
    assert browser.problems() == []

    # A team with shadow workloads; its name is escaped into the URL as the page links it.
    name = next(t["team"] for t in teams if t["active"] and t["workload_counts"]["shadow"])
    link = f"/teams/{urllib.parse.quote(name, safe='')}"
    assert link in browser.evaluate(
        "[...document.querySelectorAll('a')].map((a) => a.getAttribute('href'))"
    )
    body = api(f"{collector}/api/v1{link}")
    browser.load(f"{collector}{link}")
    assert browser.problems() == []
    assert browser.evaluate("document.querySelector('h1').textContent") == f"Team {name}"
    workloads = browser.evaluate(column(f"Workloads of {name}", 0))
    assert workloads == [
        f"{w['cluster']}/{w['namespace']}/{w['kind']}/{w['name']}" for w in body["workloads"]
    ]
    browser.screenshot(tmp_path / "team.png")

    # JavaScript off: the same rows, in the server's order.
    browser.call("Emulation.setScriptExecutionDisabled", value=True)
    try:
        browser.load(f"{collector}/")
        assert browser.problems() == []
        rows = browser.evaluate(TEAM_ROWS)
        assert [row.removesuffix(" mandated").strip() for row in rows] == active
    finally:
        browser.call("Emulation.setScriptExecutionDisabled", value=False)
    for png in ("index.png", "team.png"):
        assert (tmp_path / png).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")

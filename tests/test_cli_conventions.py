"""The exporter conventions of the command line: --version, --log-level and --log-format
anywhere, UTC RFC 3339 log times, the config from the environment, --listen, exit codes in
every help, and one line (exit 2) for an address that cannot be listened on."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector import __version__
from collector.cli import LogFormatter, build_parser, main
from collector.simulator.kube import KubeSimulator
from tests.cluster import TOKEN, seed_small, write_config

CLI = Path(sys.executable).with_name("adoption-collector")


@pytest.fixture
def sim() -> Iterator[KubeSimulator]:
    with KubeSimulator(token=TOKEN) as simulator:
        seed_small(simulator)
        yield simulator


@pytest.fixture
def taken() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        yield int(holder.getsockname()[1])


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert (exited.value.code, capsys.readouterr().out) == (
        0,
        f"adoption-collector {__version__}\n",
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["--log-level", "DEBUG", "--log-format", "JSON", "once", "--config", "c.yaml"],
        ["once", "--config", "c.yaml", "--log-level", "Debug", "--log-format", "json"],
        [
            "--log-level",
            "error",
            "once",
            "--config=c.yaml",
            "--log-level",
            "debug",
            "--log-format=json",
        ],
    ],
)
def test_logging_options_anywhere_in_any_case(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert (args.log_level, args.log_format) == ("debug", "json")


def test_logging_defaults() -> None:
    args = build_parser().parse_args(["once", "--config", "c.yaml"])
    assert (args.log_level, args.log_format) == ("info", "text")


def record(message: str, *args: object) -> logging.LogRecord:
    entry = logging.LogRecord(
        "collector.pipeline", logging.WARNING, __file__, 1, message, args, None
    )
    entry.created, entry.msecs = 1780000000.25, 250.0  # 2026-05-28T20:26:40.250Z
    return entry


@pytest.mark.parametrize(
    ("kind", "line"),
    [
        ("text", "2026-05-28T20:26:40.250Z WARNING collector.pipeline: cluster a: 3 skipped"),
        (
            "logfmt",
            "ts=2026-05-28T20:26:40.250Z level=warning logger=collector.pipeline "
            'msg="cluster a: 3 skipped"',
        ),
        (
            "json",
            '{"ts": "2026-05-28T20:26:40.250Z", "level": "warning", '
            '"logger": "collector.pipeline", "msg": "cluster a: 3 skipped"}',
        ),
    ],
)
def test_log_lines_are_stamped_in_utc_rfc3339(kind: str, line: str) -> None:
    assert LogFormatter(kind).format(record("cluster %s: %d skipped", "a", 3)) == line


def test_logfmt_quotes_only_what_needs_it() -> None:
    formatter = LogFormatter("logfmt")
    assert formatter.format(record("stopped")).endswith(" msg=stopped")
    assert formatter.format(record('say "hi"\nthere')).endswith(r' msg="say \"hi\"\nthere"')


def test_a_real_process_logs_json_in_utc(tmp_path: Path, sim: KubeSimulator) -> None:
    config_path = write_config(tmp_path, {"prod-eu": sim})
    result = subprocess.run(
        [CLI, "once", "--config", str(config_path), "--log-format", "json", "--log-level", "INFO"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"TZ": "America/New_York", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    (line,) = [json.loads(x) for x in result.stderr.splitlines()]
    assert sorted(line) == ["level", "logger", "msg", "ts"]
    assert line["ts"].endswith("Z")
    assert line["msg"].startswith("polled kubernetes cluster prod-eu in ")
    assert line["msg"].endswith(
        ": 7 workloads read, 5 tracked (not tracked: 1 CronJob runs, 1 in excluded namespaces); "
        "5 namespaces, 0 skipped"
    )


def test_config_from_the_environment(
    tmp_path: Path,
    sim: KubeSimulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ADOPTION_COLLECTOR_CONFIG", str(write_config(tmp_path, {"prod-eu": sim})))
    assert main(["once"]) == 0
    assert "adoption_active_teams 2.0\n" in capsys.readouterr().out
    monkeypatch.delenv("ADOPTION_COLLECTOR_CONFIG")
    with pytest.raises(SystemExit) as exited:
        main(["once"])
    assert exited.value.code == 2
    assert capsys.readouterr().err.endswith(
        "adoption-collector once: error: the following arguments are required: --config\n"
    )


@pytest.mark.parametrize(
    ("command", "codes"),
    [
        ("run", "0 stopped by SIGTERM or SIGINT; 2 the config, web config or state is unusable"),
        ("once", "0 every source polled; 1 a source failed"),
        ("check-config", "0 valid (warnings, if any, on stderr); 2 invalid, or warnings with"),
        ("demo", "0 stopped by Ctrl-C (or --once polled everything); 1 a simulated source"),
        ("report", "0 ok; 1 a source failed (still printed) or --from unreadable; 2 the"),
        ("explain", "0 ok; 1 a source failed, --from unreadable, or an unknown team or workload;"),
    ],
)
def test_each_command_help_states_its_exit_codes(
    command: str, codes: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert f"exit codes: {codes}" in help_text


def test_run_says_in_one_line_that_the_port_is_taken(
    tmp_path: Path, sim: KubeSimulator, taken: int, capsys: pytest.CaptureFixture[str]
) -> None:
    config_path = write_config(tmp_path, {"prod-eu": sim}, server={"listen": f"127.0.0.1:{taken}"})
    assert main(["run", "--config", str(config_path)]) == 2
    assert capsys.readouterr() == (
        "",
        f"error: cannot listen on 127.0.0.1:{taken}: address already in use "
        "(set server.listen or --listen)\n",
    )


def test_run_listen_overrides_the_config(
    tmp_path: Path, sim: KubeSimulator, taken: int, capsys: pytest.CaptureFixture[str]
) -> None:
    config_path = write_config(tmp_path, {"prod-eu": sim}, server={"listen": "127.0.0.1:0"})
    assert main(["run", "--config", str(config_path), "--listen", f"127.0.0.1:{taken}"]) == 2
    assert capsys.readouterr().err == (
        f"error: cannot listen on 127.0.0.1:{taken}: address already in use "
        "(set server.listen or --listen)\n"
    )


def test_run_with_a_host_that_does_not_resolve(
    tmp_path: Path, sim: KubeSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(socket.gaierror) as failed:
        socket.getaddrinfo("nonsense.invalid", 9853)
    reason = str(failed.value.strerror)
    config_path = write_config(tmp_path, {"prod-eu": sim})
    assert main(["run", "--config", str(config_path), "--listen", "nonsense.invalid:9853"]) == 2
    assert capsys.readouterr().err == (
        f"error: cannot listen on nonsense.invalid:9853: {reason[0].lower()}{reason[1:]} "
        "(set server.listen or --listen)\n"
    )


def test_demo_says_in_one_line_that_the_port_is_taken(
    taken: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--listen", f"127.0.0.1:{taken}"]) == 2
    assert capsys.readouterr() == (
        "",
        f"error: cannot listen on 127.0.0.1:{taken}: address already in use (set --listen)\n",
    )


@pytest.mark.parametrize("command", ["run", "demo"])
def test_listen_that_is_not_host_port_is_a_usage_error(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = [] if command == "demo" else ["--config", "c.yaml"]
    with pytest.raises(SystemExit) as exited:
        main([command, *config, "--listen", "nonsense"])
    assert exited.value.code == 2
    assert capsys.readouterr().err.endswith(
        f"adoption-collector {command}: error: argument --listen: "
        "'nonsense' is not HOST:PORT, e.g. 127.0.0.1:9853\n"
    )
